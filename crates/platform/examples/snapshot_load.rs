//! Times a snapshot's computation from a platform's database two ways in the same process: from
//! the store's rows as they are read (what `snapshot::compute` does) and through the CSV round trip
//! it replaced (the rows written out as a data directory and parsed back with `ingest::load_dir`).
//! Used for BENCHMARKS.md ("Platform: inventory run without a CSV round trip"):
//!
//!   dualcarbon demo --data-dir bench-data/demo-platform --sites 50000 --years 2024   (Ctrl-C once served)
//!   cargo run --release -p platform --example snapshot_load -- bench-data/demo-platform 2024 5

use platform::snapshot::{compute, parse_options, Inputs};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use store::Store;

fn round_trip(store: &Store, inputs: &Inputs, threads: usize) -> (usize, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut orgs = csv::Writer::from_path(p.join("orgs.csv")).unwrap();
    orgs.write_record(["org_code", "name", "parent_code", "equity_share", "operational_control"]).unwrap();
    for o in store.orgs().unwrap() {
        let parent = o.parent_code.clone().unwrap_or_default();
        orgs.write_record([&o.code, &o.name, &parent, &o.equity_share, &o.operational_control]).unwrap();
    }
    orgs.flush().unwrap();
    let mut facs = csv::Writer::from_path(p.join("facilities.csv")).unwrap();
    facs.write_record(["facility_code", "name", "type", "org_code", "province", "allocation_share", "shared_with"])
        .unwrap();
    for f in store.facilities_within("/").unwrap() {
        facs.write_record([&f.code, &f.name, &f.kind, &f.org_code, &f.province, &f.allocation_share, &f.shared_with])
            .unwrap();
    }
    facs.flush().unwrap();
    let file = std::fs::File::create(p.join("activity.csv")).unwrap();
    let mut act = csv::Writer::from_writer(std::io::BufWriter::new(file));
    act.write_record(["facility_code", "period", "carrier", "quantity", "unit", "source_document", "evidence_ref"])
        .unwrap();
    let ids: Vec<i64> = inputs.filings.iter().map(|f| f.id).collect();
    let mut lines = Vec::new();
    store
        .for_each_activity(&ids, &mut |filing, r| {
            lines.push((filing, r.line));
            act.write_record([
                &r.facility_code,
                &r.period,
                &r.carrier,
                &r.quantity,
                &r.unit,
                &r.source_document,
                &r.evidence_ref,
            ])
            .unwrap();
            Ok(())
        })
        .unwrap();
    act.into_inner().unwrap().flush().unwrap();
    let (ds, _) = ingest::load_dir(p, inputs.year, threads).unwrap();
    let lib = platform::snapshot::library(store, &inputs.factor_sets).unwrap();
    let mut opts = parse_options(inputs.year, &inputs.options).unwrap();
    opts.threads = threads;
    let inv = accounting::compute(&ds, &lib, &opts).unwrap();
    let org = ds.orgs.get(&inputs.org_code).unwrap();
    let report = inv.report(&ds, &lib, Some(org), Some(accounting::GroupBy::Org));
    (ds.activity.len(), serde_json::to_value(report).unwrap())
}

/// CPU seconds this process has used (Linux; 0 elsewhere).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or("", |(_, r)| r).split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).expect("data directory"));
    let year: i32 = args.get(2).map_or(2024, |y| y.parse().unwrap());
    let repeat: usize = args.get(3).map_or(3, |r| r.parse().unwrap());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let store = Store::open_sqlite_dir(dir).unwrap();
    let root = store.orgs().unwrap().into_iter().find(|o| o.parent_code.is_none()).unwrap();
    let filings = store.current_filings(year, &root.path).unwrap();
    let factor_sets = store.current_factor_sets().unwrap().into_iter().map(|f| f.id).collect();
    let inputs = Inputs { org_code: root.code.clone(), year, options: json!({}), filings, factor_sets };
    let (mut best_rows, mut best_csv) = (f64::MAX, f64::MAX);
    let ids: Vec<i64> = inputs.filings.iter().map(|f| f.id).collect();
    for _ in 0..repeat {
        let t = Instant::now();
        let mut n = 0usize;
        store
            .for_each_activity(&ids, &mut |_, _| {
                n += 1;
                Ok(())
            })
            .unwrap();
        eprintln!("reading the rows alone {:.3} s", t.elapsed().as_secs_f64());
        let (t, c0) = (Instant::now(), cpu());
        let c = compute(&store, &inputs, threads).unwrap();
        let (rows, rows_cpu) = (t.elapsed().as_secs_f64(), cpu() - c0);
        let (t, c0) = (Instant::now(), cpu());
        let (n, report) = round_trip(&store, &inputs, threads);
        let (csv, csv_cpu) = (t.elapsed().as_secs_f64(), cpu() - c0);
        assert_eq!(n, c.ds.activity.len());
        let ours = c.inventory.report(&c.ds, &c.lib, Some(c.org_id), Some(accounting::GroupBy::Org));
        assert!(report == serde_json::to_value(ours).unwrap(), "the same figures both ways");
        println!(
            "from rows {rows:.3} s ({rows_cpu:.2} CPU-s), CSV round trip {csv:.3} s ({csv_cpu:.2} CPU-s) ({n} rows)"
        );
        best_rows = best_rows.min(rows);
        best_csv = best_csv.min(csv);
    }
    println!(
        "{}",
        json!({"filings": inputs.filings.len(), "from_rows_best_seconds": best_rows, "csv_round_trip_best_seconds": best_csv,
               "ratio": best_csv / best_rows})
    );
    std::io::stdout().flush().unwrap();
}
