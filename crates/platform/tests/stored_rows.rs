//! A snapshot's dataset is built from the store's rows as they are read (issue 12: no CSV round
//! trip). It is the dataset the same rows give when written out as files and loaded from them, as
//! snapshots were computed before, so the stored results of earlier snapshots still recompute to
//! themselves; and a stored row that no longer passes is named by its filing and line.

use platform::snapshot::{compute, parse_options, Inputs};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use store::Store;

const YEAR: i32 = 2024;

/// The stored orgs, facilities and rows of `filings` written as a data directory (what a snapshot
/// computation did before).
fn write_as_files(store: &Store, filings: &[i64], dir: &Path) {
    let mut orgs = csv::Writer::from_path(dir.join("orgs.csv")).unwrap();
    orgs.write_record(["org_code", "name", "parent_code", "equity_share", "operational_control"]).unwrap();
    for o in store.orgs().unwrap() {
        let parent = o.parent_code.clone().unwrap_or_default();
        orgs.write_record([&o.code, &o.name, &parent, &o.equity_share, &o.operational_control]).unwrap();
    }
    orgs.flush().unwrap();
    let mut facs = csv::Writer::from_path(dir.join("facilities.csv")).unwrap();
    facs.write_record(["facility_code", "name", "type", "org_code", "province", "allocation_share", "shared_with"])
        .unwrap();
    for f in store.facilities_within("/").unwrap() {
        facs.write_record([&f.code, &f.name, &f.kind, &f.org_code, &f.province, &f.allocation_share, &f.shared_with])
            .unwrap();
    }
    facs.flush().unwrap();
    let mut act =
        csv::Writer::from_writer(std::io::BufWriter::new(std::fs::File::create(dir.join("activity.csv")).unwrap()));
    act.write_record(["facility_code", "period", "carrier", "quantity", "unit", "source_document", "evidence_ref"])
        .unwrap();
    store
        .for_each_activity(filings, &mut |_, r| {
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
}

#[test]
fn the_dataset_of_stored_rows_is_the_dataset_of_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("demo");
    demo::generate(&demo::DemoOptions::one_year(300, YEAR, 7), &source).unwrap();
    for (backend, store) in store::testing::stores("stored_rows", &dir.path().join("db")) {
        platform::demo::load_dir(&store, &source, YEAR, "test", &dir.path().join("spool"), 2).unwrap();
        let root = store.org(demo::GROUP_CODE).unwrap().unwrap();
        let filings = store.current_filings(YEAR, &root.path).unwrap();
        assert!(filings.len() > 10, "{backend}");
        let ids: Vec<i64> = filings.iter().map(|f| f.id).collect();
        let inputs =
            Inputs { org_code: root.code.clone(), year: YEAR, options: json!({}), filings, factor_sets: Vec::new() };
        let c = compute(&store, &inputs, 2).unwrap();

        let files = tempfile::tempdir().unwrap();
        write_as_files(&store, &ids, files.path());
        let (old, _) = ingest::load_dir(files.path(), YEAR, 2).unwrap();
        let (a, b) = (&old.activity, &c.ds.activity);
        assert_eq!(a.len(), b.len(), "{backend}");
        assert!(a.len() > 1000, "{backend}: {} rows", a.len());
        assert_eq!(a.facility, b.facility, "{backend}");
        assert_eq!(a.month, b.month, "{backend}");
        assert_eq!(a.carrier, b.carrier, "{backend}");
        assert_eq!(a.unit, b.unit, "{backend}");
        let bits = |q: &[f64]| q.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.quantity), bits(&b.quantity), "{backend}");
        assert_eq!(old.carriers, c.ds.carriers, "{backend}");
        let doc =
            |ds: &model::Dataset, col: &[u32]| col.iter().map(|&s| ds.strings.get(s).to_string()).collect::<Vec<_>>();
        assert_eq!(doc(&old, &a.source_document), doc(&c.ds, &b.source_document), "{backend}");
        // Lineage: each row's filing and its line in that filing's upload.
        let mut stored = Vec::new();
        store
            .for_each_activity(&ids, &mut |filing, r| {
                stored.push((filing, r.line));
                Ok(())
            })
            .unwrap();
        let lineage: Vec<(i64, i64)> =
            (0..b.len()).map(|r| (c.filings[b.file[r] as usize], b.line[r] as i64)).collect();
        assert_eq!(lineage, stored, "{backend}");

        // The same inventory, figure for figure.
        let mut opts = parse_options(YEAR, &json!({})).unwrap();
        opts.threads = 2;
        let before = accounting::compute(&old, &c.lib, &opts).unwrap();
        let org = old.orgs.get(&root.code).unwrap();
        let report = |ds, inv: &accounting::Inventory| {
            serde_json::to_value(inv.report(ds, &c.lib, Some(org), Some(accounting::GroupBy::Org))).unwrap()
        };
        assert_eq!(report(&old, &before), report(&c.ds, &c.inventory), "{backend}");

        // A row that no longer passes (stored by an older release, a restored backup) is named by
        // its filing and its line, not by a working file.
        let (filing, line) = stored[5];
        store
            .tx(|t| {
                t.query(
                    "UPDATE activity SET quantity = 'lots' WHERE filing_id = $1 AND line = $2",
                    &[filing.into(), line.into()],
                )
                .map(|_| ())
            })
            .unwrap();
        let e = compute(&store, &inputs, 2).err().expect("a bad stored row");
        assert_eq!(e.code, "invalid_data", "{backend}");
        let detail = e.detail.unwrap();
        assert_eq!(
            detail,
            json!([{"filing": filing, "line": line, "column": "quantity", "reason": "not a number"}]),
            "{backend}"
        );
    }
}
