//! `dualcarbon monitor ...` (telemetry roll-ups, meter-derived activity, indicators, targets,
//! scoreboard) and `dualcarbon bench telemetry` (ingestion into the reading log against
//! VictoriaMetrics). A thin shell over the `telemetry`, `indicators` and `alerts` crates.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicators::{Observations, TargetSet, INDICATORS};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use telemetry::log::ReadingLog;
use telemetry::{MeterRegistry, Period, Role, Telemetry};

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Energy per meter role of one facility (or every facility) per 15min/hour/day/month, with coverage and flags.
    Rollup {
        #[command(flatten)]
        input: TelemetryInput,
        #[arg(long, default_value = "hour")]
        period: String,
        /// Only this facility.
        #[arg(long)]
        facility: Option<String>,
        #[arg(long, value_enum, default_value_t = OutFormat::Csv)]
        format: OutFormat,
    },
    /// Monthly electricity from meters as activity.csv rows for months without a bill.
    Activity {
        #[command(flatten)]
        input: TelemetryInput,
        #[arg(long)]
        year: i32,
        /// A data directory whose activity.csv holds the bills; meter rows are produced only where no bill exists.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the rows (activity.csv format); standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The indicator registry: code, names, formula, unit, aggregation.
    Indicators {
        #[arg(long, value_enum, default_value_t = OutFormat::Csv)]
        format: OutFormat,
    },
    /// Indicator values of an org (its whole subtree) for a year.
    Values {
        #[command(flatten)]
        input: IndicatorInput,
        #[arg(long)]
        org: Option<String>,
    },
    /// Progress of an org towards its targets (default: the white paper's 2025 set).
    Progress {
        #[command(flatten)]
        input: IndicatorInput,
        #[arg(long)]
        org: Option<String>,
    },
    /// The 考核 scoreboard: the children of an org ranked by progress towards their targets.
    Scoreboard {
        #[command(flatten)]
        input: IndicatorInput,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    Csv,
    Json,
}

#[derive(Args)]
pub struct TelemetryInput {
    /// meters.csv (docs/monitoring.md).
    #[arg(long)]
    meters: PathBuf,
    /// Readings as CSV lines `meter,timestamp,value` (may be given several times).
    #[arg(long, required = true)]
    readings: Vec<PathBuf>,
}

#[derive(Args)]
pub struct IndicatorInput {
    /// Data directory with orgs.csv and facilities.csv.
    #[arg(long)]
    data: PathBuf,
    /// indicator-data.csv (docs/monitoring.md).
    #[arg(long)]
    values: PathBuf,
    #[arg(long)]
    year: i32,
    /// A target file replacing the shipped 2025 set (same format, with [[override]] entries per org).
    #[arg(long)]
    targets: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutFormat::Json)]
    format: OutFormat,
    /// With --readings: data-centre energy (dc_total_kwh, dc_it_kwh) per month from the meters,
    /// for data centres that do not report it in --values.
    #[arg(long, requires = "readings")]
    meters: Option<PathBuf>,
    #[arg(long, requires = "meters")]
    readings: Vec<PathBuf>,
}

#[derive(Args)]
pub struct BenchTelemetryArgs {
    /// Readings to ingest.
    #[arg(long, default_value_t = 10_000_000)]
    readings: usize,
    /// Distinct meters (readings are 15-minute counter values, meter after meter, quarter after quarter).
    #[arg(long, default_value_t = 100_000)]
    meters: usize,
    /// Readings per acknowledged batch (one HTTP request for the peer).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Concurrent writers (connections for the peer).
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// The reading log's directory (emptied first).
    #[arg(long)]
    dir: PathBuf,
    /// VictoriaMetrics base URL on loopback (e.g. http://127.0.0.1:18428); the peer is skipped without it.
    #[arg(long)]
    vm_url: Option<String>,
    /// `log`: parse, validate, append durably (the store's write path); `service`: the whole live
    /// service (`monitor::Monitor::ingest`: also applied to the in-memory series, live power/PUE and
    /// alert rules updated, events published).
    #[arg(long, value_enum, default_value_t = BenchPath::Log)]
    path: BenchPath,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum BenchPath {
    Log,
    Service,
    /// Both, one after the other, on the same batches.
    Both,
}

pub fn run(cmd: MonitorCommand) -> Result<()> {
    match cmd {
        MonitorCommand::Rollup { input, period, facility, format } => rollup(input, &period, facility, format),
        MonitorCommand::Activity { input, year, data, out } => activity(input, year, data, out),
        MonitorCommand::Indicators { format } => list_indicators(format),
        MonitorCommand::Values { input, org } => values(input, org),
        MonitorCommand::Progress { input, org } => progress(input, org),
        MonitorCommand::Scoreboard { input, org } => scoreboard(input, org),
    }
}

fn load_telemetry(input: &TelemetryInput) -> Result<Telemetry> {
    let registry = MeterRegistry::load(&input.meters, |_| true)
        .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
    let mut tel = Telemetry::new(registry);
    let mut problems = Vec::new();
    for path in &input.readings {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (raw, errs) = telemetry::parse_csv_lines(&text);
        problems.extend(errs.iter().map(|e| format!("{}:{e}", path.display())));
        let report = tel.ingest(&raw, None);
        problems.extend(report.problems.iter().map(|e| format!("{}: reading {e}", path.display())));
        eprintln!(
            "{}: {} readings: {} stored ({} late), {} duplicates, {} conflicts, {} rejected",
            path.display(),
            report.received,
            report.stored(),
            report.late,
            report.duplicates,
            report.conflicts,
            report.rejected
        );
    }
    if !problems.is_empty() {
        bail!("{} problem(s) in the readings:\n{}", problems.len(), problems.join("\n"));
    }
    Ok(tel)
}

fn rollup(input: TelemetryInput, period: &str, facility: Option<String>, format: OutFormat) -> Result<()> {
    let period = Period::parse(period).context("--period must be 15min, hour, day or month")?;
    let tel = load_telemetry(&input)?;
    let (from, to) = (i64::MIN / 4, i64::MAX / 4);
    let mut out: Vec<serde_json::Value> = Vec::new();
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    if format == OutFormat::Csv {
        writeln!(w, "facility_code,role,period,energy_kwh,coverage,flags")?;
    }
    for fac in tel.by_facility.keys() {
        if facility.as_ref().is_some_and(|f| f != fac) {
            continue;
        }
        for role in Role::ALL {
            let Some(cells) = tel.facility_energy(fac, role, period, from, to) else { continue };
            for row in telemetry::rollup::rows(&cells, period) {
                match format {
                    OutFormat::Csv => writeln!(
                        w,
                        "{fac},{},{},{},{:.6},{}",
                        role.code(),
                        row.period,
                        row.energy_kwh,
                        row.coverage,
                        row.flags.join("+")
                    )?,
                    OutFormat::Json => out.push(serde_json::json!({"facility_code": fac, "role": role, "row": row})),
                }
            }
        }
    }
    if format == OutFormat::Json {
        serde_json::to_writer_pretty(&mut w, &out)?;
        writeln!(w)?;
    }
    Ok(())
}

fn activity(input: TelemetryInput, year: i32, data: Option<PathBuf>, out: Option<PathBuf>) -> Result<()> {
    let tel = load_telemetry(&input)?;
    let mut bills = std::collections::HashSet::new();
    if let Some(dir) = &data {
        let (ds, _) = ingest::load_dir(dir, year, 2).map_err(|r| {
            anyhow::anyhow!("{} has errors; run `dualcarbon validate` ({} problems)", dir.display(), r.errors.len())
        })?;
        for row in 0..ds.activity.len() {
            let fac = &ds.facilities[ds.activity.facility[row] as usize].code;
            let carrier = ds.carriers[ds.activity.carrier[row] as usize].to_string();
            bills.insert((fac.clone(), format!("{year:04}-{:02}", ds.activity.month[row]), carrier));
        }
    }
    let (rows, skipped) = telemetry::activity::monthly_activity(&tel, year, |f, p, c| {
        bills.contains(&(f.to_string(), p.to_string(), c.to_string()))
    });
    for s in &skipped {
        eprintln!("skipped {} {} {} from {}: {}", s.facility_code, s.period, s.carrier, s.meter, s.reason);
    }
    match out {
        Some(path) => {
            let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            telemetry::activity::write_activity_csv(&rows, f)?;
            eprintln!("{} meter-derived rows written to {}", rows.len(), path.display());
        }
        None => telemetry::activity::write_activity_csv(&rows, std::io::stdout().lock())?,
    }
    Ok(())
}

fn list_indicators(format: OutFormat) -> Result<()> {
    match format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(INDICATORS)?),
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "code",
                "name_zh",
                "name_en",
                "numerator",
                "denominator",
                "unit",
                "aggregation",
                "better",
                "formula",
            ])?;
            for i in INDICATORS {
                w.write_record([
                    i.code,
                    i.name_zh,
                    i.name_en,
                    i.numerator.code(),
                    i.denominator.map(|d| d.code()).unwrap_or(""),
                    i.unit,
                    serde_json::to_value(i.aggregation)?.as_str().unwrap_or(""),
                    serde_json::to_value(i.better)?.as_str().unwrap_or(""),
                    i.formula,
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

struct IndicatorContext {
    ds: model::Dataset,
    obs: Observations,
    set: TargetSet,
}

fn load_indicator_input(input: &IndicatorInput) -> Result<IndicatorContext> {
    let (ds, _) = ingest::load_dir(&input.data, input.year, 2).map_err(|r| {
        anyhow::anyhow!("{} has errors; run `dualcarbon validate` ({} problems)", input.data.display(), r.errors.len())
    })?;
    let file = std::fs::File::open(&input.values).with_context(|| format!("opening {}", input.values.display()))?;
    let mut obs =
        Observations::read_csv(file, &ds.orgs, |f| ds.facility_index.get(f).map(|&i| ds.facilities[i as usize].org))
            .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
    if let Some(meters) = &input.meters {
        let tel = load_telemetry(&TelemetryInput { meters: meters.clone(), readings: input.readings.clone() })?;
        let data_centre = |f: &str| {
            let fac = &ds.facilities[*ds.facility_index.get(f)? as usize];
            (fac.kind == model::FacilityType::DataCenter).then_some(fac.org)
        };
        for reason in monitor::add_meter_components(&tel, input.year, data_centre, &mut obs) {
            eprintln!("{reason}");
        }
    }
    let set = match &input.targets {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            TargetSet::parse(&text).map_err(|e| anyhow::anyhow!("{}: {}", p.display(), e.join("\n")))?
        }
        None => TargetSet::default_set(),
    };
    let unknown = set.unknown_override_orgs(&ds.orgs);
    if !unknown.is_empty() {
        bail!("target overrides name orgs not in orgs.csv: {}", unknown.join(", "));
    }
    Ok(IndicatorContext { ds, obs, set })
}

fn org_id(ds: &model::Dataset, org: &Option<String>) -> Result<model::OrgId> {
    match org {
        Some(code) => ds.orgs.get(code).with_context(|| format!("--org {code:?} is not in orgs.csv")),
        None => Ok(ds.orgs.root()),
    }
}

fn values(input: IndicatorInput, org: Option<String>) -> Result<()> {
    let ctx = load_indicator_input(&input)?;
    let id = org_id(&ctx.ds, &org)?;
    let sums = ctx.obs.rollup(&ctx.ds.orgs, input.year, 0)[id as usize];
    let rows: Vec<serde_json::Value> = INDICATORS
        .iter()
        .map(|i| serde_json::json!({"indicator": i.code, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit, "value": sums.indicator(i)}))
        .collect();
    print_rows(input.format, &rows, &["indicator", "name_en", "unit", "value"])
}

fn progress(input: IndicatorInput, org: Option<String>) -> Result<()> {
    let ctx = load_indicator_input(&input)?;
    let id = org_id(&ctx.ds, &org)?;
    let mut series = indicators::OrgSeries::new(&ctx.obs, &ctx.ds.orgs);
    let rows: Vec<serde_json::Value> = ctx
        .set
        .resolve(&ctx.ds.orgs, id)
        .iter()
        .map(|t| serde_json::to_value(indicators::evaluate(t, id, input.year, &mut series)))
        .collect::<Result<_, _>>()?;
    print_rows(
        input.format,
        &rows,
        &[
            "target",
            "indicator",
            "unit",
            "baseline",
            "current",
            "goal",
            "progress",
            "expected_progress",
            "on_track",
            "met",
        ],
    )
}

fn scoreboard(input: IndicatorInput, org: Option<String>) -> Result<()> {
    let ctx = load_indicator_input(&input)?;
    let id = org_id(&ctx.ds, &org)?;
    let board = indicators::scoreboard(&ctx.set, &ctx.ds.orgs, &ctx.obs, id, input.year);
    let rows: Vec<serde_json::Value> = board.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
    print_rows(input.format, &rows, &["rank", "org", "name", "score", "targets_with_data", "targets_met"])
}

fn print_rows(format: OutFormat, rows: &[serde_json::Value], columns: &[&str]) -> Result<()> {
    match format {
        OutFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(columns)?;
            for r in rows {
                w.write_record(columns.iter().map(|c| match &r[*c] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                }))?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Benchmark: sustained ingestion into the reading log, and the same batches into VictoriaMetrics.

/// The same text batches for both stores: CSV lines `meter,epoch_ms,kWh`.
fn bench_batches(args: &BenchTelemetryArgs, end_ms: i64) -> (MeterRegistry, Vec<String>) {
    let mut registry = MeterRegistry::default();
    for m in 0..args.meters {
        registry
            .add(telemetry::Meter {
                code: format!("BS{m:07}-G"),
                facility: format!("BS{m:07}"),
                role: Role::GridImport,
                kind: telemetry::MeterKind::Counter,
                counter_max_kwh: None,
                max_power_kw: None,
                max_gap_ms: telemetry::meter::DEFAULT_MAX_GAP_MS,
            })
            .expect("generated codes are unique");
    }
    let quarters = args.readings.div_ceil(args.meters) as i64;
    let start = end_ms - quarters * telemetry::time::QUARTER_MS;
    let mut batches = Vec::with_capacity(args.readings / args.batch + 1);
    let mut cur = String::with_capacity(args.batch * 36);
    let mut in_batch = 0;
    for i in 0..args.readings {
        let (q, m) = ((i / args.meters) as i64, i % args.meters);
        let ts = start + q * telemetry::time::QUARTER_MS;
        // A counter that grows 0.5 to 3 kWh a quarter, different per meter.
        let value = 1000.0 + (q as f64) * (0.5 + (m % 11) as f64 * 0.25);
        cur.push_str(&format!("BS{m:07}-G,{ts},{value}\n"));
        in_batch += 1;
        if in_batch == args.batch {
            batches.push(std::mem::take(&mut cur));
            in_batch = 0;
        }
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    (registry, batches)
}

fn run_writers(writers: usize, batches: &[String], work: impl Fn(usize, &str) -> Result<()> + Sync) -> Result<f64> {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (next, work) = (&next, &work);
                s.spawn(move || -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= batches.len() {
                            return Ok(());
                        }
                        work(w, &batches[i])?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("writer thread panicked")?;
        }
        Ok(())
    })?;
    Ok(start.elapsed().as_secs_f64())
}

/// One DualCarbon run over the batches along `path`; the log is emptied first and verified after.
fn bench_ours(
    args: &BenchTelemetryArgs,
    path: BenchPath,
    registry: &MeterRegistry,
    batches: &[String],
    now_ms: i64,
) -> Result<(f64, serde_json::Value)> {
    // DualCarbon: parse, check against the registry, append to the log; a batch counts once its
    // append returned, i.e. after fdatasync.
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir).with_context(|| format!("emptying {}", args.dir.display()))?;
    }
    let acked = AtomicUsize::new(0);
    let secs = match path {
        BenchPath::Log => {
            let tel = Telemetry::new(registry.clone());
            let (log, _) = ReadingLog::open(&args.dir, |_, _, _| {})?;
            run_writers(args.writers, batches, |_, text| {
                let (raw, errs) = telemetry::parse_csv_lines(text);
                if !errs.is_empty() {
                    bail!("bench batch does not parse: {}", errs[0]);
                }
                let mut report = telemetry::IngestReport::default();
                let mut positions = Vec::new();
                let ok = tel.validate(&raw, Some(now_ms + 60_000), &mut report, &mut positions);
                if report.rejected > 0 {
                    bail!("bench batch rejected: {}", report.problems[0]);
                }
                log.append(&ok, |m| tel.registry.meter(m).code.clone())?;
                acked.fetch_add(ok.len(), Ordering::Relaxed);
                Ok(())
            })?
        }
        BenchPath::Both => unreachable!("split by the caller"),
        BenchPath::Service => {
            let tree = model::OrgTree::build(vec![model::OrgRow {
                code: "G".into(),
                name: "G".into(),
                parent_code: None,
                equity_share: None,
                operational_control: None,
            }])
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let facility_org = registry.meters.iter().map(|m| (m.facility.clone(), tree.root())).collect();
            let rules = alerts::parse_rules(alerts::DEFAULT_RULES).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
            let (monitor, _) = monitor::Monitor::open(registry.clone(), tree, facility_org, rules, &args.dir)?;
            let secs = run_writers(args.writers, batches, |_, text| {
                let (raw, errs) = telemetry::parse_csv_lines(text);
                if !errs.is_empty() {
                    bail!("bench batch does not parse: {}", errs[0]);
                }
                let report = monitor.ingest(&raw, now_ms, "bench")?;
                if report.rejected > 0 {
                    bail!("bench batch rejected: {}", report.problems[0]);
                }
                acked.fetch_add(report.stored(), Ordering::Relaxed);
                Ok(())
            })?;
            drop(monitor);
            secs
        }
    };
    let ours = acked.load(Ordering::Relaxed) as f64 / secs;
    let t = Instant::now();
    let (_, rec) = ReadingLog::open(&args.dir, |_, _, _| {})?;
    if rec.readings != args.readings as u64 {
        bail!("the log holds {} readings after reopening, expected {}", rec.readings, args.readings);
    }
    let log_bytes: u64 = std::fs::read_dir(&args.dir)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    eprintln!("reopened and verified {} readings in {:.2} s", rec.readings, t.elapsed().as_secs_f64());

    let what = match path {
        BenchPath::Log => "reading log",
        BenchPath::Service => "live service (log + series + live PUE + alerts)",
        BenchPath::Both => unreachable!("split by the caller"),
    };
    println!(
        "dualcarbon {what}: {} readings in {:.2} s = {:.0} readings/s ({} writers, batches of {})",
        args.readings, secs, ours, args.writers, args.batch
    );
    Ok((
        ours,
        serde_json::json!({"path": format!("{path:?}").to_lowercase(), "seconds": secs, "readings_per_s": ours, "log_bytes": log_bytes, "durability": "fdatasync before acknowledgement"}),
    ))
}

pub fn bench_telemetry(args: BenchTelemetryArgs) -> Result<()> {
    if args.meters == 0 || args.batch == 0 || args.writers == 0 || args.readings == 0 {
        bail!("--readings, --meters, --batch and --writers must be positive");
    }
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let end_ms = now_ms.div_euclid(telemetry::time::QUARTER_MS) * telemetry::time::QUARTER_MS;
    let t = Instant::now();
    let (registry, batches) = bench_batches(&args, end_ms);
    let bytes: usize = batches.iter().map(|b| b.len()).sum();
    eprintln!(
        "generated {} readings in {} batches ({} MB of CSV) in {:.1} s",
        args.readings,
        batches.len(),
        bytes >> 20,
        t.elapsed().as_secs_f64()
    );

    let paths = match args.path {
        BenchPath::Both => vec![BenchPath::Log, BenchPath::Service],
        p => vec![p],
    };
    let mut ours_runs = Vec::new();
    for p in paths {
        ours_runs.push(bench_ours(&args, p, &registry, &batches, now_ms)?);
    }
    let mut result = serde_json::json!({
        "readings": args.readings, "meters": args.meters, "batch": args.batch, "writers": args.writers,
        "dualcarbon": ours_runs.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
    });

    if let Some(url) = &args.vm_url {
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        if !(addr.starts_with("127.0.0.1:") || addr.starts_with("localhost:") || addr.starts_with("[::1]:")) {
            bail!("--vm-url must be on loopback (http://127.0.0.1:PORT)");
        }
        let path = "/api/v1/import/csv?format=1:label:meter,2:time:unix_ms,3:metric:dc_bench_kwh";
        let conns: Vec<std::sync::Mutex<Option<TcpStream>>> =
            (0..args.writers).map(|_| std::sync::Mutex::new(None)).collect();
        let vm_secs = run_writers(args.writers, &batches, |w, text| {
            let mut slot = conns[w].lock().unwrap();
            if slot.is_none() {
                *slot = Some(TcpStream::connect(&addr)?);
            }
            let stream = slot.as_mut().unwrap();
            let status = http_post(stream, &addr, path, text.as_bytes())?;
            if !(200..300).contains(&status) {
                bail!("VictoriaMetrics answered HTTP {status} to an import");
            }
            Ok(())
        })?;
        let vm = args.readings as f64 / vm_secs;
        // Acknowledged is not yet searchable: flush and count until every reading is visible (or a
        // minute passes), and report how long that took apart from the ingestion rate.
        let window_h = (args.readings.div_ceil(args.meters) as i64 * 15) / 60 + 2;
        let q = format!(
            "/api/v1/query?query=sum(count_over_time(dc_bench_kwh%5B{window_h}h%5D))&time={}",
            end_ms / 1000 + 1
        );
        let visible_start = Instant::now();
        let mut counted = None;
        let mut body = String::new();
        while visible_start.elapsed().as_secs() < 60 {
            http_get(&addr, "/internal/force_flush")?;
            body = http_get(&addr, &q)?;
            counted = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse::<f64>().ok()));
            if counted.is_some_and(|c| c >= args.readings as f64) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let visible_s = vm_secs + visible_start.elapsed().as_secs_f64();
        println!(
            "VictoriaMetrics (CSV import, loopback): {} readings in {:.2} s = {:.0} readings/s; {} samples searchable {:.2} s after the first request",
            args.readings,
            vm_secs,
            vm,
            counted.map(|c| format!("{c:.0}")).unwrap_or_else(|| format!("? ({body})")),
            visible_s
        );
        for (rate, r) in &ours_runs {
            println!("ratio dualcarbon {} / VictoriaMetrics = {:.2}", r["path"].as_str().unwrap_or(""), rate / vm);
        }
        result["victoria_metrics"] = serde_json::json!({"seconds": vm_secs, "readings_per_s": vm, "samples_counted": counted, "all_searchable_after_s": visible_s, "durability": "acknowledged when buffered in memory (flushed to disk about every second)"});
        result["ratio"] = serde_json::json!(ours_runs.iter().map(|(rate, _)| rate / vm).collect::<Vec<_>>());
    }
    eprintln!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// One HTTP/1.1 POST on a kept-alive connection; returns the status after reading the whole response.
fn http_post(stream: &mut TcpStream, host: &str, path: &str, body: &[u8]) -> Result<u16> {
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let (status, len) = read_head(&mut reader)?;
    let mut rest = vec![0u8; len];
    reader.read_exact(&mut rest)?;
    Ok(status)
}

fn read_head(reader: &mut impl BufRead) -> Result<(u16, usize)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad HTTP status line")?;
    let mut len = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    Ok((status, len))
}

fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (_, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
    Ok(body.to_string())
}
