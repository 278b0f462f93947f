//! `dualcarbon inclusive ...`: 碳普惠 methodology files (docs/inclusive.md).

use anyhow::{Context, Result};
use clap::Subcommand;
use inclusive::methodology::{self, milli_text, Methodology};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum InclusiveCommand {
    /// Carbon inclusive methodologies (TOML, versioned, every number with its source).
    Methodology {
        #[command(subcommand)]
        command: MethodologyCommand,
    },
}

#[derive(Subcommand)]
pub enum MethodologyCommand {
    /// Check a methodology file: every problem at once (exit code 1), or what it credits.
    Check { file: PathBuf },
    /// The shipped methodologies: what each credits per action and mode, caps and sources.
    List,
}

pub fn run(cmd: InclusiveCommand) -> Result<ExitCode> {
    match cmd {
        InclusiveCommand::Methodology { command: MethodologyCommand::Check { file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match methodology::parse(&text, false) {
                Ok(m) => {
                    print!("{}", describe(&m));
                    println!("{}: valid", file.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{}: {} problem(s)", file.display(), errors.len());
                    for e in errors {
                        eprintln!("  {e}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        InclusiveCommand::Methodology { command: MethodologyCommand::List } => {
            for m in &inclusive::Library::shipped().methodologies {
                print!("{}", describe(m));
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What a methodology credits, one line per action and mode.
pub fn describe(m: &Methodology) -> String {
    let mut s = format!(
        "{} v{} — {} (region {}, from {}{}; claim within {} days; {} point(s) per g)\n  {}\n",
        m.id,
        m.version,
        m.title,
        m.region,
        inclusive::time::day_text(m.effective_from),
        m.effective_to.map(|t| format!(" to {}", inclusive::time::day_text(t))).unwrap_or_default(),
        m.claim_days,
        m.points_per_g,
        m.structure
    );
    for a in &m.actions {
        let caps: Vec<String> = [
            a.daily_cap_g.map(|v| format!("{v} g/day")),
            a.monthly_cap_g.map(|v| format!("{v} g/month")),
            a.daily_count.map(|v| format!("{v}/day")),
            a.monthly_count.map(|v| format!("{v}/month")),
            a.max_speed_milli_kmh.map(|v| format!("≤ {} km/h", milli_text(v))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let net = a.factors.iter().any(|f| f.name.ends_with(".reduction"));
        let er = if let Some(series) = &a.project_grid_series {
            format!("BE {} (− metered kWh × {series} grid factor)", milli_text(a.baseline_mg))
        } else if net {
            format!("ER {} (published as BE − PE)", milli_text(a.reduction_mg()))
        } else {
            format!(
                "BE {} − PE {} = {}",
                milli_text(a.baseline_mg),
                milli_text(a.project_mg),
                milli_text(a.reduction_mg())
            )
        };
        s.push_str(&format!(
            "  {:<20} {:<8} {} g per {}; {} {}; dedup {:?}\n",
            a.action,
            a.mode,
            er,
            a.unit.code(),
            if caps.is_empty() { "no caps".to_string() } else { caps.join(", ") },
            a.max_quantity_milli
                .map(|q| format!("(≤ {} {} an event)", milli_text(q), a.unit.code()))
                .unwrap_or_default(),
            a.dedup
        ));
    }
    s
}

/// `dualcarbon bench inclusive`: prepares a database for the events benchmark (bench/inclusive.sh)
/// and times the peer, plain inserts of the same events into the same database; `--report` counts
/// what the API made of them afterwards.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Work directory: `data/` (the platform's data directory), `batches.jsonl`, `auth.txt`.
    #[arg(long)]
    pub work: PathBuf,
    /// PostgreSQL instead of the embedded SQLite in `WORK/data`.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Events to generate.
    #[arg(long, default_value_t = 600_000)]
    pub events: usize,
    /// Events per request (and per transaction of the peer).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Employees enrolled.
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Count the stored events by verdict instead of preparing.
    #[arg(long)]
    pub report: bool,
}

fn open_store(a: &BenchArgs) -> Result<store::Store> {
    Ok(match &a.database_url {
        Some(url) => store::Store::open_url(url)?,
        None => store::Store::open_sqlite_dir(&a.work.join("data"))?,
    })
}

/// The benchmark's events: mostly bike trips (no count cap), every tenth-but-one a metro ride
/// (5 a day: some hit the cap) and every tenth a paperless approval; unique ids and references.
fn bench_events(n: usize, accounts: usize, now: i64) -> Vec<serde_json::Value> {
    use serde_json::json;
    (0..n)
        .map(|i| {
            let account = format!("u{}", i % accounts);
            let end = now - 7200 - (i % 3600) as i64;
            let fmt = inclusive::time::format;
            match i % 10 {
                8 => json!({"id": format!("e{i}"), "account": account, "action": "commute", "mode": "metro", "start": fmt(end - 1200), "end": fmt(end), "distance_m": 8000, "reference": format!("r{i}")}),
                9 => json!({"id": format!("e{i}"), "account": account, "action": "paperless_approval", "at": fmt(end), "items": 1, "reference": format!("r{i}")}),
                _ => json!({"id": format!("e{i}"), "account": account, "action": "commute", "mode": "bike", "start": fmt(end - 900), "end": fmt(end), "distance_m": 3000, "reference": format!("r{i}")}),
            }
        })
        .collect()
}

pub fn bench(a: BenchArgs) -> Result<ExitCode> {
    use serde_json::json;
    let s = open_store(&a)?;
    if a.report {
        let rows = s.read(|c| {
            c.query(
                "SELECT status, reason, COUNT(*) FROM inclusive_events GROUP BY status, reason ORDER BY COUNT(*) DESC",
                &[],
            )
        })?;
        let by: Vec<serde_json::Value> =
            rows.iter().map(|r| json!({"status": r.text(0), "reason": r.text(1), "events": r.int(2)})).collect();
        let check = s.inclusive_journal_check()?;
        println!("{}", json!({"events_by_verdict": by, "journal_ok": check.ok()}));
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&a.work)?;
    let root = "BENCH";
    s.upsert_reference(
        "bench",
        &[store::reference::OrgRecord {
            code: root.into(),
            name: "Bench".into(),
            parent_code: None,
            equity_share: String::new(),
            operational_control: String::new(),
        }],
        &[],
    )?;
    for i in 0..a.accounts {
        s.inclusive_enrol("bench", &format!("u{i}"), root, None, false)?;
    }
    let secret = "bench-secret-0123456789abcdef";
    let client = s.inclusive_create_client(
        "bench",
        "ci_bench",
        &store::sha256_hex(secret.as_bytes()),
        root,
        "bench app",
        "employee",
        inclusive::Trust::Authoritative,
        0,
    )?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let events = bench_events(a.events, a.accounts, now);
    // The request bodies for wrk, one per line.
    let mut out = std::io::BufWriter::new(std::fs::File::create(a.work.join("batches.jsonl"))?);
    for chunk in events.chunks(a.batch) {
        use std::io::Write;
        writeln!(out, "{}", json!({"events": chunk}))?;
    }
    drop(out);
    std::fs::write(a.work.join("auth.txt"), format!("{}:{secret}", client.client_id))?;
    // The peer: the same events as plain inserts into the same database, a transaction per batch.
    s.tx(|c| c.batch("CREATE TABLE IF NOT EXISTS bench_plain_events (id BIGINT PRIMARY KEY, client_id TEXT NOT NULL, event_id TEXT NOT NULL, account TEXT NOT NULL, action TEXT NOT NULL, body TEXT NOT NULL)"))?;
    let t = std::time::Instant::now();
    let cpu0 = thread_cpu();
    let mut n = 0i64;
    for chunk in events.chunks(a.batch) {
        s.tx(|c| {
            for e in chunk {
                n += 1;
                c.exec(
                    "INSERT INTO bench_plain_events (id, client_id, event_id, account, action, body) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[n.into(), client.client_id.as_str().into(), e["id"].as_str().unwrap_or("").into(), e["account"].as_str().unwrap_or("").into(), e["action"].as_str().unwrap_or("").into(), e.to_string().into()],
                )?;
            }
            Ok(())
        })?;
    }
    let secs = t.elapsed().as_secs_f64();
    let plain_cpu = thread_cpu() - cpu0;
    // The rules without HTTP: the same events through the store's batch call, on a fresh SQLite
    // database of their own (where they are new), so the API's HTTP and JSON cost shows apart.
    let inproc = store::Store::open_sqlite_dir(&a.work.join("in-process"))?;
    inproc.upsert_reference(
        "bench",
        &[store::reference::OrgRecord {
            code: root.into(),
            name: "Bench".into(),
            parent_code: None,
            equity_share: String::new(),
            operational_control: String::new(),
        }],
        &[],
    )?;
    for i in 0..a.accounts {
        inproc.inclusive_enrol("bench", &format!("u{i}"), root, None, false)?;
    }
    let c2 = inproc.inclusive_create_client(
        "bench",
        "ci_bench",
        "x",
        root,
        "bench app",
        "employee",
        inclusive::Trust::Authoritative,
        0,
    )?;
    let lib = inclusive::Library::shipped();
    let path = inproc.org(root)?.map(|o| o.path).unwrap_or_default();
    let t = std::time::Instant::now();
    let cpu1 = thread_cpu();
    let mut accepted = 0;
    for chunk in events.chunks(a.batch) {
        let batch = chunk
            .iter()
            .map(|e| store::inclusive::Incoming::Event(serde_json::from_value(e.clone()).expect("bench event")))
            .collect();
        accepted += inproc.inclusive_record_events(&c2, &path, &lib, batch, now)?.1.accepted;
    }
    let rules_secs = t.elapsed().as_secs_f64();
    let rules_cpu = thread_cpu() - cpu1;
    println!(
        "{}",
        json!({"backend": s.kind(), "events": a.events, "batch": a.batch, "accounts": a.accounts,
               "plain_inserts_seconds": secs, "plain_inserts_per_second": (a.events as f64 / secs).round(),
               "rules_in_process_sqlite_seconds": rules_secs, "rules_in_process_sqlite_per_second": (a.events as f64 / rules_secs).round(),
               "rules_in_process_accepted": accepted,
               "plain_inserts_cpu_us_per_event": (plain_cpu * 1e6 / a.events as f64 * 10.0).round() / 10.0,
               "rules_in_process_cpu_us_per_event": (rules_cpu * 1e6 / a.events as f64 * 10.0).round() / 10.0})
    );
    Ok(ExitCode::SUCCESS)
}

/// CPU seconds of the calling thread (the store's SQLite calls run on it), so a figure taken on a
/// busy machine still says what the work costs.
fn thread_cpu() -> f64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes the timespec it is given.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
        }
    }
    0.0
}
