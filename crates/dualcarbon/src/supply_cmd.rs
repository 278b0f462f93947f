//! `dualcarbon supply ...`: Scope 3 categories 1, 2 and 4 of a data directory, a synthetic data
//! directory for the benchmark, and PACT footprint checks (docs/supply.md).

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use supply::scope3::{self, Factors, SupplierFootprint};

#[derive(Subcommand)]
pub enum SupplyCommand {
    /// Scope 3 (categories 1, 2, 4) of DATA_DIR: procurement.csv, and optionally transport.csv,
    /// footprints/*.json (PACT ProductFootprints), secondary.toml (average product data and mode
    /// factors with sources) and eeio.toml (an EEIO set replacing the shipped one).
    Scope3 {
        data_dir: PathBuf,
        /// Only lines dated in this year.
        #[arg(long)]
        year: Option<i32>,
        /// Every line with its method, data quality and arithmetic.
        #[arg(long)]
        lines: bool,
        /// The result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic data directory (suppliers' footprints, secondary data, N procurement lines
    /// and N/10 transport legs), deterministic, for the benchmark.
    Demo {
        out: PathBuf,
        #[arg(long, default_value_t = 1000)]
        lines: usize,
    },
    /// Check PACT ProductFootprint JSON files (one footprint, a list, or {"data": [...]}) against
    /// the PACT 3.0 schema and rules: every problem with its field.
    CheckPact { files: Vec<PathBuf> },
    /// Check an EEIO set or a transport factor set (TOML) before uploading it: every problem with
    /// its key; exit code 1 if any.
    CheckFactors {
        /// `eeio` or `transport`.
        #[arg(long)]
        kind: String,
        file: PathBuf,
    },
    /// Add a version of an EEIO or transport factor set to the platform's database (as
    /// `POST /api/v1/supply/factor-sets` does): checked whole, a version above the stored ones;
    /// Scope 3 runs from then on use it, stored runs keep theirs.
    AddFactors {
        #[command(flatten)]
        db: crate::platform_cmd::DatabaseArgs,
        /// `eeio` or `transport`.
        #[arg(long)]
        kind: String,
        /// Why the factors change (kept with the version and in the audit log).
        #[arg(long)]
        reason: String,
        file: PathBuf,
    },
}

/// The problems of a factor set file of `kind`, each as `key: reason`.
fn factor_problems(kind: &str, text: &str) -> Result<Vec<String>> {
    let pr = match kind {
        "eeio" => supply::eeio::EeioSet::parse(text).err(),
        "transport" => scope3::parse_transport(text).err(),
        other => anyhow::bail!("--kind {other:?}: eeio or transport"),
    };
    Ok(pr.unwrap_or_default().iter().map(ToString::to_string).collect())
}

fn add_factors(db: &crate::platform_cmd::DatabaseArgs, kind: &str, reason: &str, file: &Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = crate::platform_cmd::prepare(crate::platform_cmd::open(db)?, &db.data.data_dir, &db.key_file())?;
    let root = store.orgs()?.into_iter().find(|o| o.parent_code.is_none()).context("the database has no org tree")?;
    let p = platform::Platform::new(store, db.data.data_dir.join("spool"));
    let actor = platform::Actor { username: "cli".into(), org_code: root.code.clone(), org_path: root.path.clone() };
    let req = platform::supply::NewFactorSet { kind: kind.to_string(), toml: text, reason: reason.to_string() };
    match platform::supply::add_factor_set(&p, &actor, req) {
        Ok(v) => {
            let s = &v["factor_set"];
            println!(
                "stored {} set {}@{} (id {})",
                s["kind"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or(""),
                s["version"],
                s["id"]
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: {}", e.code, e.message);
            if let Some(d) = e.detail.as_ref().and_then(|d| d.as_array()) {
                for x in d {
                    eprintln!("  {}: {}", x["field"].as_str().unwrap_or(""), x["reason"].as_str().unwrap_or(""));
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn footprints_of(v: serde_json::Value) -> Vec<serde_json::Value> {
    match v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(ref o) if o.contains_key("data") => footprints_of(o["data"].clone()),
        other => vec![other],
    }
}

fn read_json_files(dir: &Path) -> Result<Vec<(PathBuf, serde_json::Value)>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", f.display()))?;
        for x in footprints_of(v) {
            out.push((f.clone(), x));
        }
    }
    Ok(out)
}

pub fn run(cmd: SupplyCommand) -> Result<ExitCode> {
    match cmd {
        SupplyCommand::Scope3 { data_dir, year, lines, json } => scope3_cmd(&data_dir, year, lines, json),
        SupplyCommand::Demo { out, lines } => demo(&out, lines).map(|()| ExitCode::SUCCESS),
        SupplyCommand::CheckFactors { kind, file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let problems = factor_problems(&kind, &text)?;
            for p in &problems {
                println!("{}: {p}", file.display());
            }
            if problems.is_empty() {
                println!("{}: ok", file.display());
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(1))
            }
        }
        SupplyCommand::AddFactors { db, kind, reason, file } => add_factors(&db, &kind, &reason, &file),
        SupplyCommand::CheckPact { files } => {
            let mut bad = 0;
            for f in files {
                let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", f.display()))?;
                for (i, x) in footprints_of(v).into_iter().enumerate() {
                    match supply::pact::parse(&x) {
                        Ok(pf) => println!(
                            "{} #{i}: valid ({}, {} kg CO2e per {})",
                            f.display(),
                            pf.id,
                            pf.kg_per_unit(),
                            pf.pcf.declared_unit_of_measurement
                        ),
                        Err(p) => {
                            bad += 1;
                            eprintln!("{} #{i}: {} problem(s)", f.display(), p.len());
                            for e in p {
                                eprintln!("  {e}");
                            }
                        }
                    }
                }
            }
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn scope3_cmd(dir: &Path, year: Option<i32>, show_lines: bool, as_json: bool) -> Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let eeio = match std::fs::read_to_string(dir.join("eeio.toml")) {
        Ok(t) => match supply::eeio::EeioSet::parse(&t) {
            Ok(s) => s,
            Err(p) => {
                problems.extend(p.iter().map(|e| format!("eeio.toml: {e}")));
                supply::eeio::EeioSet::shipped()
            }
        },
        Err(_) => supply::eeio::EeioSet::shipped(),
    };
    let mut f = Factors::new(Some(eeio));
    for (file, v) in read_json_files(&dir.join("footprints"))? {
        match supply::pact::parse(&v) {
            Ok(pf) => {
                let supplier =
                    pf.company_ids.first().map(|c| c.rsplit(':').next().unwrap_or(c).to_string()).unwrap_or_default();
                let item =
                    pf.product_ids.first().map(|c| c.rsplit(':').next().unwrap_or(c).to_string()).unwrap_or_default();
                f.add_supplier(SupplierFootprint {
                    supplier,
                    item,
                    unit: pf.pcf.declared_unit_of_measurement.clone(),
                    kg_per_unit: pf.kg_per_unit(),
                    dqr: pf.mean_dqr(),
                    reference: format!("footprint {} ({})", pf.id, file.display()),
                });
            }
            Err(p) => problems.extend(p.iter().map(|e| format!("{}: {}: {e}", file.display(), v["id"]))),
        }
    }
    if let Ok(t) = std::fs::read_to_string(dir.join("secondary.toml")) {
        match scope3::parse_secondary(&t) {
            Ok((avg, modes)) => {
                avg.into_iter().for_each(|a| f.add_average(a));
                modes.into_iter().for_each(|m| f.add_mode(m));
            }
            Err(p) => problems.extend(p.iter().map(|e| format!("secondary.toml: {e}"))),
        }
    }
    let read_start = std::time::Instant::now();
    let proc_path = dir.join("procurement.csv");
    let data = std::fs::read(&proc_path).with_context(|| format!("cannot read {}", proc_path.display()))?;
    let mut lines = match scope3::read_procurement(&data, "procurement.csv") {
        Ok(l) => l,
        Err(p) => {
            problems.extend(p.iter().map(ToString::to_string));
            vec![]
        }
    };
    let mut legs = match std::fs::read(dir.join("transport.csv")) {
        Ok(d) => scope3::read_transport(&d, "transport.csv").unwrap_or_else(|p| {
            problems.extend(p.iter().map(ToString::to_string));
            vec![]
        }),
        Err(_) => vec![],
    };
    let read_ms = read_start.elapsed().as_secs_f64() * 1000.0;
    if !problems.is_empty() {
        eprintln!("{} problem(s):", problems.len());
        for p in &problems {
            eprintln!("  {p}");
        }
        return Ok(ExitCode::from(1));
    }
    if let Some(y) = year {
        let prefix = format!("{y:04}-");
        lines.retain(|l| l.date.starts_with(&prefix));
        legs.retain(|l| l.date.starts_with(&prefix));
    }
    let t = std::time::Instant::now();
    let result = scope3::compute(&f, &lines, &legs, show_lines || as_json);
    let compute_ms = t.elapsed().as_secs_f64() * 1000.0;
    eprintln!("read: {read_ms:.0} ms; compute: {compute_ms:.1} ms for {} lines and {} legs", lines.len(), legs.len());
    let s = match result {
        Ok(s) => s,
        Err(p) => {
            eprintln!("{} problem(s):", p.len());
            for e in p {
                eprintln!("  {e}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    if as_json {
        let inputs = serde_json::json!({"eeio": f.eeio().map(|e| e.key())});
        println!("{}", serde_json::to_string_pretty(&platform::supply::scope3_json(&s, inputs))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Scope 3 (categories 1, 2, 4): {:.3} t CO2e", s.total_grams as f64 / 1e6);
    println!("{:<10} {:<18} {:>10} {:>16}", "category", "method", "lines", "t CO2e");
    for (cat, methods) in &s.by_category {
        for (m, c) in methods {
            println!("{:<10} {:<18} {:>10} {:>16.3}", cat, m.code(), c.lines, c.grams as f64 / 1e6);
        }
        println!(
            "{:<10} {:<18} {:>10} {:>16.3}  (data quality {:.2})",
            cat,
            "all",
            "",
            s.category_grams(*cat) as f64 / 1e6,
            s.category_dqr(*cat).unwrap_or(0.0)
        );
    }
    println!("covered by supplier-specific data: {:.2} %", s.supplier_specific_share() * 100.0);
    if show_lines {
        for l in &s.lines {
            println!("{} {} cat {} {} dqr {:.1}: {}", l.line, l.org, l.category, l.method.code(), l.dqr, l.explain);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A deterministic synthetic data directory: 200 suppliers' footprints (PACT JSON), secondary
/// data with test figures, `n` procurement lines (about a third each supplier-specific, average
/// and spend-based) and n/10 transport legs.
fn demo(out: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(out.join("footprints"))?;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let uscc = |i: usize| {
        let first = format!("91440300{:09}", 100_000_000 + i);
        let c = supply::uscc::check_char(first.as_bytes()).unwrap() as char;
        format!("{first}{c}")
    };
    let classes = ["aau", "bbu", "server", "switch", "optical_module", "battery", "cabinet", "cable"];
    let mut pfs = Vec::new();
    for i in 0..200 {
        let form = supply::pact::FootprintForm {
            product_id: format!("P{i}"),
            product_name: format!("product {i}"),
            class: classes[i % classes.len()].into(),
            declared_unit: "piece".into(),
            pcf_kg: format!("{}", 50 + next() % 900),
            period_start: "2024-01-01".into(),
            period_end: "2024-12-31".into(),
            geography: "CN".into(),
            standard: "PACT-3.0".into(),
            dqr: Some(["2".into(), "2".into(), "2".into()]),
            ..Default::default()
        };
        let id = format!("00000000-0000-4000-8000-{i:012}");
        pfs.push(serde_json::to_value(form.to_pact(&id, "2025-01-01T00:00:00Z", &format!("supplier {i}"), &uscc(i)))?);
    }
    std::fs::write(out.join("footprints/suppliers.json"), serde_json::to_string(&pfs)?)?;
    let mut sec =
        String::from("# Test figures for the benchmark only, not sourced data.\n[set]\nid = \"bench\"\nversion = 1\n");
    for c in classes {
        sec.push_str(&format!("[[product]]\nclass = \"{c}\"\nunit = \"piece\"\nkg_per_unit = \"500\"\nsource = \"benchmark test figure\"\n"));
    }
    for m in supply::scope3::MODES {
        sec.push_str(&format!("[[mode]]\nmode = \"{m}\"\nkg_per_tkm = \"0.1\"\nsource = \"benchmark test figure\"\n"));
    }
    std::fs::write(out.join("secondary.toml"), sec)?;
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(out.join("procurement.csv"))?);
    writeln!(w, "{}", scope3::PROCUREMENT_COLUMNS.join(","))?;
    for i in 0..n {
        let r = next();
        let s = (r % 200) as usize;
        let (sup, item, class) = match r % 3 {
            0 => (uscc(s), format!("P{s}"), classes[s % classes.len()]),
            1 => (uscc(1000 + s), "X".to_string(), classes[s % classes.len()]),
            _ => (String::new(), String::new(), ""),
        };
        let cat = 1 + (r >> 8) % 2;
        let qty = 1 + (r >> 16) % 20;
        let spend = 1000 + (r >> 24) % 1_000_000;
        let month = 1 + (r >> 40) % 12;
        writeln!(
            w,
            "L{i},CT-{:02},{cat},{sup},{item},{class},{qty},piece,{spend},CNY,2024-{month:02}-15,334111",
            (r >> 48) % 31
        )?;
    }
    w.flush()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(out.join("transport.csv"))?);
    writeln!(w, "{}", scope3::TRANSPORT_COLUMNS.join(","))?;
    for i in 0..n / 10 {
        let r = next();
        writeln!(
            w,
            "T{i},CT-{:02},{}.5,{},{},2024-06-01",
            r % 31,
            1 + r % 30,
            10 + (r >> 8) % 2000,
            supply::scope3::MODES[((r >> 20) % 5) as usize]
        )?;
    }
    w.flush()?;
    println!("wrote {} ({n} procurement lines, {} transport legs, 200 footprints)", out.display(), n / 10);
    Ok(())
}

#[derive(clap::Args)]
pub struct PactSetupArgs {
    #[command(flatten)]
    pub db: crate::platform_cmd::DatabaseArgs,
    /// Footprints to store.
    #[arg(long, default_value_t = 100_000)]
    pub footprints: usize,
    /// Where the PACT access token is written.
    #[arg(long)]
    pub token_file: PathBuf,
}

/// `dualcarbon bench supply-pact`: a fresh database with org BENCH, one supplier, `footprints`
/// product footprints stored through the library (each with its disclosure and audit entry), a
/// PACT partner of BENCH and an access token for it (bench/supply.sh pages /3/footprints with it).
pub fn pact_setup(args: PactSetupArgs) -> Result<ExitCode> {
    let store = crate::platform_cmd::prepare(
        crate::platform_cmd::open(&args.db)?,
        &args.db.data.data_dir,
        &args.db.key_file(),
    )?;
    if !store.orgs()?.is_empty() {
        anyhow::bail!("the database is not empty: supply-pact prepares a fresh one");
    }
    let org = store::reference::OrgRecord {
        code: "BENCH".into(),
        name: "BENCH".into(),
        parent_code: None,
        equity_share: String::new(),
        operational_control: String::new(),
    };
    store.upsert_reference("bench", &[org], &[])?;
    let p = platform::Platform::new(store, args.db.data.data_dir.join("spool"));
    let admin = platform::Actor { username: "bench".into(), org_code: "BENCH".into(), org_path: String::new() };
    let err = |e: platform::Error| anyhow::anyhow!("{}: {}", e.code, e.message);
    let uscc = "914403001922038216";
    let s = p.store.supply_add_supplier(
        "bench",
        "BENCH",
        uscc,
        "bench supplier",
        &serde_json::json!(["network_equipment"]),
        &serde_json::json!([]),
    )?;
    let classes = supply::library::CLASSES;
    let t = std::time::Instant::now();
    for i in 0..args.footprints {
        let form = supply::pact::FootprintForm {
            product_id: format!("P{i}"),
            product_name: format!("product {i}"),
            class: classes[i % classes.len()].into(),
            declared_unit: "piece".into(),
            pcf_kg: format!("{}", 50 + (i * 7919) % 900),
            period_start: "2024-01-01".into(),
            period_end: "2024-12-31".into(),
            geography: "CN".into(),
            standard: "PACT-3.0".into(),
            dqr: Some(["2".into(), "2".into(), "2".into()]),
            ..Default::default()
        };
        let pf = form.to_pact(&platform::supply::uuid_v4(), "2025-01-01T00:00:00Z", "bench supplier", uscc);
        let new = store::supply::NewFootprint {
            pf_id: pf.id.clone(),
            supplier_id: Some(s.id),
            org_code: "BENCH".into(),
            company_uscc: uscc.into(),
            product_id: form.product_id.clone(),
            class: form.class.clone(),
            unit: "piece".into(),
            kg_per_unit: form.pcf_kg.clone(),
            dqr: Some("2.00".into()),
            source: "supplier".into(),
            created: pf.created.clone(),
            ref_end: pf.pcf.reference_period_end.clone(),
            body: serde_json::to_value(&pf)?,
            disclosure: ("footprint".into(), 2024, serde_json::to_value(&form)?),
        };
        p.store.supply_add_footprint("bench", new)?;
        if (i + 1) % 10_000 == 0 {
            eprintln!("{} footprints stored ({:.0} s)", i + 1, t.elapsed().as_secs_f64());
        }
    }
    let c = platform::supply::create_pact_client(
        &p,
        &admin,
        platform::supply::NewPactClient { name: "bench".into(), org_code: "BENCH".into(), callback: String::new() },
    )
    .map_err(err)?;
    let id = c["client"]["client_id"].as_str().unwrap_or_default().to_string();
    let secret = c["secret"].as_str().unwrap_or_default().to_string();
    let token = platform::supply::pact_token(&p, &id, &secret).map_err(err)?.context("no token")?;
    std::fs::write(&args.token_file, token)?;
    println!("{{\"footprints\": {}, \"client_id\": \"{id}\"}}", args.footprints);
    Ok(ExitCode::SUCCESS)
}
