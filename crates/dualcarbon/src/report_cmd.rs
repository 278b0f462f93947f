//! `dualcarbon report TEMPLATE`: a disclosure report as PDF, XLSX or CSV, from an approved
//! snapshot of the platform's database (`--snapshot`), or from a data directory and year without
//! the platform (`--data --year`). See docs/reports.md.

use crate::platform_cmd::{self, DatabaseArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReportArgs {
    /// inventory (the GHG inventory report with every table), capital-market (HKEX, IFRS S2,
    /// A-share) or government (key energy-using unit report).
    pub template: String,
    /// An approved snapshot of the platform (with --data-dir or --database-url).
    #[arg(long, conflicts_with_all = ["data", "year"])]
    pub snapshot: Option<i64>,
    /// A data directory (orgs.csv, facilities.csv, activity.csv or activity-YYYY.csv, factors/),
    /// without the platform.
    #[arg(long, requires = "year")]
    pub data: Option<PathBuf>,
    #[arg(long, requires = "data")]
    pub year: Option<i32>,
    /// The org whose subtree is reported (a data directory; default: the group).
    #[arg(long)]
    pub org: Option<String>,
    #[arg(long, default_value = "pdf", value_parser = ["pdf", "xlsx", "csv"])]
    pub format: String,
    #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
    pub lang: String,
    /// Where to write (default: the report's own file name in the current directory; `-` for
    /// standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The font of a PDF: PATH or PATH:INDEX (a face of a collection); default
    /// DUALCARBON_REPORT_FONT, else the first installed of /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc:2,
    /// /usr/share/fonts/truetype/wqy/wqy-microhei.ttc, /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc.
    #[arg(long)]
    pub font: Option<String>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

fn write_out(out: Option<&PathBuf>, name: &str, bytes: &[u8], hash: &str) -> Result<()> {
    match out {
        Some(p) if p.as_os_str() == "-" => {
            use std::io::Write;
            std::io::stdout().write_all(bytes)?;
        }
        _ => {
            let path = out.cloned().unwrap_or_else(|| PathBuf::from(name));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} ({} bytes; report hash {hash})", path.display(), bytes.len());
        }
    }
    Ok(())
}

pub fn run(a: ReportArgs) -> Result<ExitCode> {
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let Some(template) = report::Template::parse(&a.template) else {
        bail!("unknown template {:?}: expected inventory, capital-market or government", a.template)
    };
    let lang = report::Lang::parse(&a.lang).expect("checked by clap");
    let format = report::Format::parse(&a.format).expect("checked by clap");
    let font = if format == report::Format::Pdf {
        Some(platform::reports::font(a.font.as_deref()).map_err(|e| anyhow::anyhow!("{}", e.message))?)
    } else {
        None
    };
    let font_ref = font.as_ref().map(|(d, i)| (d.as_slice(), *i));
    if let Some(id) = a.snapshot {
        let store = platform_cmd::open(&a.db)?;
        let actor = platform::Actor { username: "cli".into(), org_code: String::new(), org_path: String::new() };
        let req = platform::reports::Request {
            snapshot: id,
            template: a.template.clone(),
            lang: a.lang.clone(),
            format: a.format.clone(),
        };
        let fail = |e: platform::Error| anyhow::anyhow!("{} ({})", e.message, e.code);
        let checked = platform::reports::check(&store, &actor, &req).map_err(fail)?;
        // What the platform holds besides the snapshot: the copy the snapshot's first report on
        // the platform kept, else from the store (no monitoring here: the indicator data as
        // stored, no targets, nothing kept).
        let spool = std::env::temp_dir().join(format!("dualcarbon-report-{}", std::process::id()));
        let p = platform::Platform::new(store, spool);
        let data = platform::reports::platform_data(&p, &actor, &checked.snapshot, checked.lang).map_err(fail)?;
        let store = &p.store;
        let g =
            platform::reports::generate(store, &checked, Some(data), font_ref, threads, &|_, _| {}).map_err(fail)?;
        write_out(a.out.as_ref(), &g.file_name, &g.bytes, &g.hash)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(dir), Some(year)) = (a.data.as_ref(), a.year) else {
        bail!("give --snapshot ID (the platform's database) or --data DIR --year YEAR")
    };
    let lib = ingest::load_library(Some(dir), None).map_err(|r| anyhow::anyhow!("factor sets are invalid:\n{r}"))?;
    let compute = |year: i32| -> Result<(model::Dataset, accounting::Inventory)> {
        let (ds, _) = ingest::load_dir(dir, year, threads).map_err(|r| anyhow::anyhow!("{r}"))?;
        let mut o = accounting::InventoryOptions::new(year);
        o.threads = threads;
        let inv = accounting::compute(&ds, &lib, &o)
            .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
        Ok((ds, inv))
    };
    let started = std::time::Instant::now();
    // The reporting year: the inventory's pass also keeps the report's cells (by carrier,
    // province and facility type) of the org's facilities, so the report reads cells, not records.
    let (ds, _) = ingest::load_dir(dir, year, threads).map_err(|r| anyhow::anyhow!("{r}"))?;
    let org = match &a.org {
        Some(code) => ds.orgs.get(code).with_context(|| format!("--org {code:?} is not an org code in orgs.csv"))?,
        None => ds.orgs.root(),
    };
    let (within, meter) = report::breakdown_masks(&ds, org);
    let mut o = accounting::InventoryOptions::new(year);
    o.threads = threads;
    let req = accounting::BreakdownRequest { within: &within, meter_documents: &meter };
    let (inv, breakdown) = accounting::compute_with_breakdown(&ds, &lib, &o, Some(req))
        .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
    let previous = if dir.join(format!("activity-{}.csv", year - 1)).exists() {
        let (pds, pinv) = compute(year - 1)?;
        let code = &ds.orgs.orgs[org as usize].code;
        let porg = pds.orgs.get(code);
        porg.map(|o| report::Previous {
            year: year - 1,
            totals: pinv.report(&pds, &lib, Some(o), None).totals,
            snapshot: None,
            lmdi: None,
        })
    } else {
        None
    };
    let input = report::Input {
        ds: &ds,
        lib: &lib,
        inventory: &inv,
        org,
        lang,
        template,
        source: report::Source { snapshot: None, approved_by: None, approved_at: None, inputs: ds.files.len() },
        restatements: Vec::new(),
        base_year: None,
        previous,
        quality_score: None,
        projects: Vec::new(),
        plan: None,
        platform: None,
        transition: None,
        breakdown: breakdown.as_ref(),
        procurement: None,
    };
    let computed = started.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let r = match report::build(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e} ({})", e.code());
            return Ok(ExitCode::from(1));
        }
    };
    let built = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let bytes = report::render(&r, format, font_ref).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rendered = t.elapsed().as_secs_f64();
    write_out(a.out.as_ref(), &r.file_name(format), &bytes, &r.hash)?;
    eprintln!(
        "timings: load and inventory {computed:.3} s (both years when the previous one is there); report {:.3} s (build {built:.3} s, {} {rendered:.3} s)",
        built + rendered,
        format.code()
    );
    // Freeing tens of millions of records one by one costs more than the OS reclaiming them.
    std::mem::forget(input);
    std::mem::forget(inv);
    std::mem::forget(ds);
    Ok(ExitCode::SUCCESS)
}
