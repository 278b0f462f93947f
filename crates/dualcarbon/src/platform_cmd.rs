//! The platform's commands: `serve`, `demo` (without a subcommand: the platform pre-loaded with the
//! demo operator), `audit verify`, `audit head`, `market verify`, `market check-plan`, `backup`, `restore`. A thin shell over `server`
//! and `store`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::Store;

// The serve flags make one variant large; the enum is parsed once at start, so its size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum PlatformCommand {
    /// Run the platform (HTTP API) on the embedded SQLite database, or on PostgreSQL.
    Serve(ServeArgs),
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The internal carbon market: check a plan file, verify the journal.
    Market {
        #[command(subcommand)]
        command: MarketCommand,
    },
    /// Back up the platform (safe while it runs): the embedded database and every file of the data
    /// directory (reading log, meters, targets, indicator data, alert rules, ...) into a new
    /// directory with a manifest of SHA-256 hashes. The audit key is not included.
    Backup {
        #[command(flatten)]
        data: DataDirArg,
        /// The backup directory to create (must not exist; outside the data directory).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the embedded database and the data directory's files with a backup (stop the
    /// platform first). Refuses (exit code 2, nothing changed) a backup whose audit log is broken.
    Restore {
        #[command(flatten)]
        data: DataDirArg,
        /// The backup directory written by `dualcarbon backup` (or a database file of an older backup).
        #[arg(long)]
        from: PathBuf,
        /// The audit key the backup's log is checked with (default: DATA_DIR/audit.key, when it exists).
        #[arg(long)]
        audit_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum MarketCommand {
    /// Replay the market's command log from the start and check that it writes exactly the stored
    /// journal, that allowances are conserved and no account is below zero; exit code 1 and the
    /// first discrepancy if not.
    Verify {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Check a period's plan file (TOML): every problem with its field; exit code 1 if any.
    CheckPlan {
        /// The plan file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and, with the audit key, every entry's MAC; exit code 1 if
    /// history was edited or an anchor is not in the log any more.
    Verify {
        #[command(flatten)]
        db: DatabaseArgs,
        /// A head recorded earlier (`dualcarbon audit head`), as SEQ:HASH; the log must still hold
        /// it unchanged. Repeatable.
        #[arg(long)]
        anchor: Vec<store::audit::Anchor>,
    },
    /// Print the audit log's head (sequence number, hash, MAC) for an auditor to record elsewhere.
    Head {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Args, Clone)]
pub struct DataDirArg {
    /// The platform's data directory (holds dualcarbon.sqlite3).
    #[arg(long, default_value = "dualcarbon-data")]
    pub data_dir: PathBuf,
}

#[derive(Args, Clone)]
pub struct DatabaseArgs {
    #[command(flatten)]
    pub data: DataDirArg,
    /// Use PostgreSQL instead of the embedded database, e.g. postgres://user:pass@host/db.
    #[arg(long, env = "DUALCARBON_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The audit key file (default: DATA_DIR/audit.key; created 0600 on the first start). Every
    /// instance on one PostgreSQL database needs the same key.
    #[arg(long, env = "DUALCARBON_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

impl DatabaseArgs {
    pub(crate) fn key_file(&self) -> PathBuf {
        key_file(&self.data.data_dir, self.audit_key_file.as_deref())
    }
}

fn key_file(data_dir: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| data_dir.join(store::datadir::AUDIT_KEY_FILE), Path::to_path_buf)
}

/// The audit key at `path` when the file exists (commands that only check never create one).
fn existing_key(path: &Path) -> Result<Option<store::audit::AuditKey>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(store::audit::AuditKey::read(path)?))
}

/// Before a platform starts: files it creates are private (umask 077), the data directory and
/// everything in it is tightened to 0700/0600, the audit key is loaded or created, and the log
/// keyed with it (the `audit.keyed` entry on an older log).
pub(crate) fn prepare(store: Store, data_dir: &Path, key_path: &Path) -> Result<Store> {
    private_umask();
    store::datadir::create_dir(data_dir)?;
    store::datadir::secure_tree(data_dir);
    let (key, created) = store::audit::AuditKey::load_or_create(key_path)?;
    if created {
        println!("audit key created: {} (id {}); keep a copy apart from the backups", key_path.display(), key.id());
    }
    let store = store.with_audit_key(key);
    if let Some(seq) = store.seal_audit()? {
        println!("audit log keyed from entry {seq}: every entry from it on carries an HMAC under the audit key");
    }
    Ok(store)
}

#[cfg(unix)]
fn private_umask() {
    // SAFETY: umask only sets the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

#[cfg(not(unix))]
fn private_umask() {}

#[derive(Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// First start only: the code of the root org (the group) created with the admin user; use
    /// the root of the orgs.csv you will load.
    #[arg(long, default_value = "GROUP")]
    pub group_code: String,
    #[command(flatten)]
    pub transport: TransportArgs,
    /// Cluster mode (docs/cluster.md): this instance is one of several on the PostgreSQL database of
    /// --database-url behind a load balancer, with the NATS server at this URL (nats://HOST:4222,
    /// JetStream enabled) carrying telemetry and live events. Logins, jobs and caches are shared
    /// through PostgreSQL; every instance needs the same --audit-key-file.
    #[arg(long, value_name = "NATS_URL", requires = "database_url", env = "DUALCARBON_CLUSTER")]
    pub cluster: Option<String>,
    /// This instance's name in cluster mode (default: host, process id and a random part).
    #[arg(long, requires = "cluster", env = "DUALCARBON_INSTANCE")]
    pub instance_name: Option<String>,
    /// Cluster mode: raw readings are kept this many days in the telemetry stream (JetStream).
    #[arg(long, requires = "cluster", default_value_t = 30)]
    pub readings_keep_days: u64,
    /// Cluster mode: replicas of the telemetry stream (3 on a 3-node JetStream cluster).
    #[arg(long, requires = "cluster", default_value_t = 1)]
    pub stream_replicas: usize,
    /// Cluster mode: forward raw readings to this VictoriaMetrics server (http://HOST:8428), each
    /// by the owner of its facility's partition; batched and retried, never delaying a batch's
    /// acknowledgement.
    #[arg(long, value_name = "URL", requires = "cluster", env = "DUALCARBON_VICTORIA_METRICS")]
    pub victoria_metrics: Option<String>,
}

/// How browsers and clients reach the platform (docs/security.md).
#[derive(Args, Clone)]
pub struct TransportArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Behind a TLS-terminating proxy: the origin browsers use, e.g. https://carbon.example.com.
    /// Cookie writes must come from it; with https the session cookie is Secure and HSTS is sent.
    #[arg(long, value_name = "URL", value_parser = server::transport::parse_public_origin)]
    pub public_origin: Option<String>,
    /// The largest file upload (activity CSV/XLSX, import jobs, orgs.csv, facilities.csv), in bytes;
    /// streamed to disk, so the cap is about disk space.
    #[arg(long, value_name = "BYTES", default_value_t = server::transport::DEFAULT_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,
    /// Certificate authorities (PEM) trusted, instead of the WebPKI roots, when the PACT host
    /// delivers event answers to requesters (docs/supply.md).
    #[arg(long, value_name = "FILE")]
    pub pact_ca: Option<PathBuf>,
}

impl TransportArgs {
    /// The transport configuration; TLS files are read here, so that a bad one stops the start
    /// before anything is created.
    fn config(&self) -> Result<server::transport::Config> {
        let config = server::transport::Config {
            max_upload_bytes: self.max_upload_bytes,
            tls: self
                .tls_cert
                .clone()
                .zip(self.tls_key.clone())
                .map(|(cert, key)| server::transport::TlsFiles { cert, key }),
            public_origin: self.public_origin.clone(),
            ..Default::default()
        };
        if let Some(files) = &config.tls {
            server::transport::tls_config(files)?;
        }
        Ok(config)
    }
    /// The scheme the platform's own address is printed with.
    fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

#[derive(Args, Clone)]
pub struct DemoRunArgs {
    /// Data directory of the demo platform (created on first start).
    #[arg(long, default_value = "dualcarbon-demo")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Sites of the generated demo operator (first start only).
    #[arg(long, default_value_t = 2_000)]
    pub sites: usize,
    /// Last inventory year of the demo data.
    #[arg(long, default_value_t = 2024, conflicts_with = "years")]
    pub year: i32,
    /// Years of the demo data, FIRST-LAST (first start only; default: the five years ending at
    /// --year, from 2020, the base year of the 2025 targets, for --year 2024): every year is filed
    /// and gets a group inventory snapshot, so trends, LMDI and the targets' progress have history.
    #[arg(long, value_parser = crate::demo_years)]
    pub years: Option<(i32, i32)>,
    #[command(flatten)]
    pub transport: TransportArgs,
}

pub(crate) fn open(db: &DatabaseArgs) -> Result<Store> {
    match &db.database_url {
        Some(url) => Store::open_url(url).with_context(|| "opening the PostgreSQL database"),
        None => Store::open_sqlite_dir(&db.data.data_dir)
            .with_context(|| format!("opening the embedded database in {}", db.data.data_dir.display())),
    }
}

pub fn run(cmd: PlatformCommand) -> Result<ExitCode> {
    match cmd {
        PlatformCommand::Serve(args) => serve(args),
        PlatformCommand::Audit { command: AuditCommand::Verify { db, anchor } } => {
            let key_path = db.key_file();
            let key = existing_key(&key_path)?;
            let mut store = open(&db)?;
            if let Some(k) = key.clone() {
                store = store.with_audit_key(k);
            }
            let v = store.verify_audit_with(&store::audit::VerifyOptions { anchors: anchor })?;
            let keyed = match (v.keyed_from, &key) {
                (Some(k), _) if v.macs_checked => {
                    format!("; MACs verified from entry {k} (key id {})", v.key_id.as_deref().unwrap_or(""))
                }
                (Some(k), None) => format!(
                    "; keyed from entry {k}, MACs NOT checked: no audit key at {} (give --audit-key-file)",
                    key_path.display()
                ),
                (None, None) => "; not keyed (no audit key)".to_string(),
                _ => String::new(),
            };
            let anchors = if v.anchors_checked > 0 {
                format!("; {} anchor(s) found unchanged", v.anchors_checked)
            } else {
                String::new()
            };
            if v.ok {
                println!("audit log intact: {} entries, every hash and link verified{keyed}{anchors}", v.entries);
                println!("head: {}", v.head.anchor());
                Ok(ExitCode::SUCCESS)
            } else {
                println!("AUDIT LOG BROKEN: {} problem(s) in {} entries", v.problems.len(), v.entries);
                for p in &v.problems {
                    println!("- {p}");
                }
                Ok(ExitCode::from(1))
            }
        }
        PlatformCommand::Market { command: MarketCommand::Verify { db } } => {
            let store = open(&db)?;
            let v = platform::market::verify(&store).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            if v["ok"] == serde_json::json!(true) {
                println!("market journal intact: {} commands replay to the {} stored journal entries; allowances conserved, no account below zero", v["commands"], v["entries"]);
                Ok(ExitCode::SUCCESS)
            } else {
                println!("MARKET JOURNAL DOES NOT REPLAY: {}", v["first_discrepancy"].as_str().unwrap_or("unknown"));
                Ok(ExitCode::from(1))
            }
        }
        PlatformCommand::Market { command: MarketCommand::CheckPlan { file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            match market::plan::Plan::parse(&text) {
                Ok(plan) => {
                    println!(
                        "{}: plan of period {} with {} allocation(s): no problem",
                        file.display(),
                        plan.period.year,
                        plan.allocation.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(problems) => {
                    println!("{}: {} problem(s)", file.display(), problems.len());
                    for p in problems {
                        println!("- {}: {} ({})", p.field, p.message, p.code);
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        PlatformCommand::Audit { command: AuditCommand::Head { db } } => {
            let store = open(&db)?;
            let h = store.audit_head()?;
            println!("seq: {}", h.seq);
            println!("hash: {}", h.hash);
            println!("mac: {}", if h.mac.is_empty() { "(none: the log is not keyed)" } else { &h.mac });
            println!("anchor: {}", h.anchor());
            Ok(ExitCode::SUCCESS)
        }
        PlatformCommand::Backup { data, out } => {
            if !data.data_dir.join(store::SQLITE_FILE).exists() {
                bail!(
                    "no database in {} (give --data-dir; a platform on PostgreSQL is backed up with pg_dump)",
                    data.data_dir.display()
                );
            }
            private_umask();
            let store = Store::open_sqlite_dir(&data.data_dir)?;
            let m = store::datadir::backup(&store, &data.data_dir, &out)?;
            println!(
                "backed up {} (database, {} audit entries, head {}) and {} file(s) of {} to {}",
                store::SQLITE_FILE,
                m.audit_head.seq,
                m.audit_head.anchor(),
                m.files.len(),
                data.data_dir.display(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PlatformCommand::Restore { data, from, audit_key_file } => {
            private_umask();
            let key = existing_key(&key_file(&data.data_dir, audit_key_file.as_deref()))?;
            let r = store::datadir::restore(&from, &data.data_dir, key.as_ref())?;
            let v = &r.verification;
            println!(
                "restored {} into {} ({} audit entries, chain intact{}; {} file(s)); the previous database is kept as {}.before-restore{}",
                from.display(),
                data.data_dir.display(),
                v.entries,
                if v.macs_checked { ", MACs verified" } else { "" },
                r.files,
                store::SQLITE_FILE,
                r.set_aside.as_ref().map(|p| format!(", the previous files in {}", p.display())).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// On a database without users: the group org (if there is no org yet) and an `admin` user with
/// a random password, printed once.
fn bootstrap(store: &Store, group_code: &str) -> Result<()> {
    if has_users(store)? {
        return Ok(());
    }
    if store.orgs()?.is_empty() {
        store.upsert_reference(
            "system",
            &[store::reference::OrgRecord {
                code: group_code.into(),
                name: group_code.into(),
                parent_code: None,
                equity_share: String::new(),
                operational_control: String::new(),
            }],
            &[],
        )?;
    }
    let root = store.orgs()?.into_iter().find(|o| o.depth == 0).context("no root org")?;
    let password = random_password();
    let hash = platform::passwords::hash_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
    store.create_user("system", "admin", &hash, "group_admin", &root.code)?;
    println!("first start: created user admin (group admin of {}) with password {password}", root.code);
    println!("(shown once; create more users with POST /api/v1/users)");
    Ok(())
}

fn has_users(store: &Store) -> Result<bool> {
    Ok(!store.users_within("/")?.is_empty())
}

fn random_password() -> String {
    let mut b = [0u8; 12];
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    server::init_logging();
    let transport = args.transport.config()?;
    let store = prepare(open(&args.db)?, &args.db.data.data_dir, &args.db.key_file())?;
    bootstrap(&store, &args.group_code)?;
    let app = server::App::new(store, args.db.data.data_dir.join("spool"));
    app.configure_transport(transport).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(f) = &args.transport.pact_ca {
        let pem = std::fs::read_to_string(f).with_context(|| format!("cannot read --pact-ca {}", f.display()))?;
        if let Ok(mut ca) = app.platform.pact_ca.write() {
            *ca = Some(pem);
        }
    }
    let name = args.instance_name.clone().unwrap_or_else(platform::cluster::instance_name);
    if args.cluster.is_some() {
        server::cluster::start(&app, &name).map_err(|e| anyhow::anyhow!("cluster: {}: {}", e.code, e.message))?;
        platform::monitoring::cluster_readings(&args.db.data.data_dir);
        println!("cluster mode: instance {name}");
    }
    if platform::monitoring::attach(&app.platform, &args.db.data.data_dir)
        .map_err(|e| anyhow::anyhow!("monitoring: {e}"))?
        .is_some()
        && args.cluster.is_none()
    {
        println!(
            "monitoring: meters.csv loaded; readings logged in {}",
            args.db.data.data_dir.join("readings").display()
        );
    }
    let rt = runtime()?;
    if let Some(url) = &args.cluster {
        let cfg = platform::stream::Config {
            url: url.clone(),
            keep: std::time::Duration::from_secs(args.readings_keep_days * 86_400),
            replicas: args.stream_replicas,
            victoria_metrics: args.victoria_metrics.clone(),
        };
        rt.block_on(platform::stream::start(&app.platform, &name, &cfg))
            .map_err(|e| anyhow::anyhow!("cluster: {}: {}", e.code, e.message))?;
        println!("telemetry stream: {} on {url}", platform::stream::STREAM);
    }
    let scheme = args.transport.scheme();
    let served = rt.block_on(server::serve(app.clone(), args.listen, |addr| {
        println!(
            "DualCarbon platform on {scheme}://{addr}/  (API: {scheme}://{addr}/api/v1/openapi.json, metrics: /metrics)"
        )
    }));
    // The PostgreSQL client closes its connections with blocking calls: drop it outside the runtime.
    drop(rt);
    drop(app);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Demo logins: every role, all with this password.
pub const DEMO_PASSWORD: &str = "dualcarbon-demo";

/// `dualcarbon demo`: generate the demo operator into the data dir (first start), load every year of
/// it, run the group's inventory of each year, create one user per role, and serve.
pub fn demo(args: DemoRunArgs) -> Result<ExitCode> {
    let transport = args.transport.config()?;
    let data_dir = args.data_dir.clone();
    let source = data_dir.join("demo-data");
    let (first, year) = args.years.unwrap_or((args.year - 4, args.year));
    let store = prepare(Store::open_sqlite_dir(&data_dir)?, &data_dir, &data_dir.join(store::datadir::AUDIT_KEY_FILE))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fresh = store.user_by_name("admin")?.is_none();
    if fresh {
        if !store.orgs()?.is_empty() {
            bail!(
                "{} holds a partly loaded demo (was the first start interrupted?): remove the directory and start again",
                data_dir.display()
            );
        }
        let complete = source.join("facilities.csv").exists()
            && source.join("saving-runs.csv").exists()
            && (first..=year).all(|y| demo::activity_file(&source, first, year, y).exists());
        if !complete {
            // Generated files only: a span of other years would leave activity files that do not belong.
            if source.exists() {
                std::fs::remove_dir_all(&source).with_context(|| format!("removing {}", source.display()))?;
            }
            let span = if first == year { year.to_string() } else { format!("{first}-{year}") };
            println!("generating the demo operator ({} sites, {span}) into {} ...", args.sites, source.display());
            let opts = demo::DemoOptions { sites: args.sites, first_year: first, year, seed: 20_211_229 };
            demo::generate(&opts, &source)?;
            // Business data, facility attributes and saving runs (docs/demo.md).
            demo::inputs::write(&source, first, year, opts.seed)?;
        }
        load_demo(&store, &source, first, year, &data_dir.join("spool"), threads)?;
    }
    // Logging starts with serving: the load above reports in a few lines of its own.
    server::init_logging();
    if let Some(n) = crate::demo_meters::write_if_absent(&store, &data_dir)? {
        println!(
            "  meters.csv: {n} meters for the monitoring API (data centres: total facility and IT load; one \
             off-grid site per province: `dualcarbon site meters` rows)"
        );
    }
    let app = server::App::new(store, data_dir.join("spool"));
    app.configure_transport(transport).map_err(|e| anyhow::anyhow!(e))?;
    platform::monitoring::attach(&app.platform, &data_dir).map_err(|e| anyhow::anyhow!("monitoring: {e}"))?;
    if fresh {
        record_saving_runs(&app.platform, &source)?;
        record_water_waste(&app.platform, &source)?;
    }
    // The internal carbon market of the demo's last year (once: nothing when a plan exists).
    let seeded = platform::market::seed_demo(&app.platform, first, year)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    if seeded["seeded"] == serde_json::json!(true) {
        println!(
            "  internal carbon market {year}: {} provinces allocated from the approved snapshot of {}, {} orders, {} surrendered",
            seeded["allocated"], year - 1, seeded["orders"], seeded["surrendered"]
        );
    }
    let scheme = args.transport.scheme();
    runtime()?.block_on(server::serve(app, args.listen, move |addr| {
        println!();
        println!("DualCarbon demo platform: {scheme}://{addr}/");
        println!("  log in:  curl -s -X POST {scheme}://{addr}/api/v1/auth/login -H 'content-type: application/json' \\");
        println!("             -d '{{\"username\":\"admin\",\"password\":\"{DEMO_PASSWORD}\"}}'");
        println!("  users:   admin (group admin), gd-filer, gd-reviewer, gd-admin (广东), auditor, employee; password {DEMO_PASSWORD}");
        println!("  then:    curl -s -H 'authorization: Bearer TOKEN' {scheme}://{addr}/api/v1/orgs/CT-GD/dashboard?year={year}");
        println!("  API:     {scheme}://{addr}/api/v1/openapi.json   metrics: {scheme}://{addr}/metrics   (Ctrl-C stops)");
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// Files the demo's water and waste (water-waste.csv, marked as demo values by their source) as
/// indicator data, as `POST /api/v1/indicator-data` does (`platform::monitoring::add_indicator_data`).
fn record_water_waste(platform: &std::sync::Arc<platform::Platform>, source: &Path) -> Result<()> {
    let Ok(body) = std::fs::read_to_string(source.join("water-waste.csv")) else { return Ok(()) };
    let root = platform.store.org(demo::GROUP_CODE)?.context("the demo's group org")?;
    let actor =
        platform::Actor { username: "demo-loader".into(), org_code: root.code.clone(), org_path: root.path.clone() };
    let m = platform::monitoring::mon(platform).map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    platform::monitoring::add_indicator_data(&platform.store, &m, &actor, &body)
        .map_err(|e| anyhow::anyhow!("water-waste.csv: {}: {}", e.code, e.message))?;
    Ok(())
}

/// Records the demo's base-station saving runs (saving-runs.csv: one run per province and year on
/// its new 5G stations) as the platform records any run (`platform::saving::record`).
fn record_saving_runs(platform: &std::sync::Arc<platform::Platform>, source: &Path) -> Result<()> {
    let t = std::time::Instant::now();
    let runs = demo::inputs::read_saving_runs(source)?;
    let root = platform.store.org(demo::GROUP_CODE)?.context("the demo's group org")?;
    let actor =
        platform::Actor { username: "demo-loader".into(), org_code: root.code.clone(), org_path: root.path.clone() };
    for r in &runs {
        let org = platform.store.org(&r.org)?.with_context(|| format!("org {}", r.org))?;
        let req = platform::saving::RecordRequest {
            cells_csv: demo::inputs::cells_csv(r),
            policy: None,
            grid_factor: None,
            period: r.year.to_string(),
        };
        platform::saving::record(platform, &org, &actor, req)
            .map_err(|e| anyhow::anyhow!("saving run {} {}: {}: {}", r.org, r.year, e.code, e.message))?;
    }
    println!("  {} base-station saving runs recorded in {:.1} s", runs.len(), t.elapsed().as_secs_f64());
    Ok(())
}

/// Files every year of the demo (`first..=last`), its business data and facility attributes,
/// creates the users and stores one group inventory snapshot per year (oldest first).
fn load_demo(store: &Store, source: &Path, first: i32, last: i32, spool: &Path, threads: usize) -> Result<()> {
    println!("loading the demo operator into the platform (validated and filed per province and month) ...");
    for year in first..=last {
        let t = std::time::Instant::now();
        let s = platform::demo::load_dir(store, source, year, "demo-loader", spool, threads)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        println!(
            "  {year}: {} orgs, {} facilities, {} filings approved, {} activity rows in {:.1} s",
            s.orgs,
            s.facilities,
            s.filings,
            s.rows,
            t.elapsed().as_secs_f64()
        );
    }
    let t = std::time::Instant::now();
    let inputs = platform::demo::load_indicator_inputs(store, source, "demo-loader", spool)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    println!(
        "  business data: {} filings approved ({} rows); facility attributes: {} versions, in {:.1} s",
        inputs.business_filings,
        inputs.business_rows,
        inputs.attribute_versions,
        t.elapsed().as_secs_f64()
    );
    let root = demo::GROUP_CODE;
    let users = [
        ("admin", "group_admin", root),
        ("auditor", "auditor", root),
        ("employee", "employee", root),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("gd-reviewer", "reviewer", "CT-GD"),
    ];
    // Every user gets a hash with a salt of its own (one password, but no shared hash), hashed in parallel.
    let hashes =
        platform::passwords::hash_passwords(&[DEMO_PASSWORD; 6], threads).map_err(|e| anyhow::anyhow!(e.message))?;
    for ((user, role, org), hash) in users.into_iter().zip(hashes) {
        store.create_user("demo-loader", user, &hash, role, org)?;
    }
    for year in first..=last {
        let t = std::time::Instant::now();
        let snap = platform::snapshot::run_blocking(store, "demo-loader", root, year, serde_json::json!({}), threads)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        println!("  inventory snapshot {} of {root} for {year} stored in {:.1} s", snap.id, t.elapsed().as_secs_f64());
    }
    Ok(())
}

#[derive(Args, Clone)]
pub struct ImportBenchArgs {
    /// Rows in the filing file.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Sites of the demo operator whose facilities the rows refer to.
    #[arg(long, default_value_t = 50_000)]
    pub sites: usize,
    /// Working directory (reference data, the filing file, the SQLite database).
    #[arg(long, default_value = "bench-data/import")]
    pub work: PathBuf,
    /// Import into this (empty) PostgreSQL database instead of a new embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Then upload a correction of every row into the same draft (each row replaces one).
    #[arg(long)]
    pub correct: bool,
}

/// Uploads `file` into `filing` over HTTP as one streamed request while another thread writes a
/// login token every 100 ms: (seconds, the answer, the longest of those writes, how many). The
/// longest write shows whether the import holds the database's writer (issue 11 item 11).
fn timed_upload(
    app: &std::sync::Arc<server::App>,
    addr: std::net::SocketAddr,
    filing: i64,
    user: i64,
    file: &std::path::Path,
) -> Result<(f64, serde_json::Value, f64, u64)> {
    use std::io::{BufRead, Read, Write};
    let size = std::fs::metadata(file)?.len();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (store, stop) = (app.store.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut worst, mut writes) = (0f64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = std::time::Instant::now();
                static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if store.add_token(user, &format!("probe-{n}"), "2999-01-01T00:00:00.000Z").is_ok() {
                    writes += 1;
                }
                worst = f64::max(worst, t.elapsed().as_secs_f64());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            (worst, writes)
        })
    };
    let t = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "POST /api/v1/filings/{filing}/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer bench-token\r\nContent-Type: text/csv\r\nX-File-Name: {}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n",
        file.display()
    )?;
    std::io::copy(&mut std::fs::File::open(file)?, &mut s)?;
    let mut reader = std::io::BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let mut answer = String::new();
    reader.read_to_string(&mut answer)?;
    let seconds = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (worst, writes) = prober.join().map_err(|_| anyhow::anyhow!("the write prober panicked"))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if !status.contains(" 200 ") {
        bail!("upload failed: {status} {body}");
    }
    Ok((seconds, serde_json::from_str(body).unwrap_or_default(), worst, writes))
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// `dualcarbon bench import`: one filing of `rows` rows uploaded over HTTP (loopback) into a
/// running platform, timed from the first byte sent to the answer listing accepted and rejected
/// rows; the peak memory of the whole process during the import is reported beside it.
pub fn bench_import(args: ImportBenchArgs) -> Result<ExitCode> {
    use std::io::Write;
    std::fs::create_dir_all(&args.work)?;
    let reference = args.work.join(format!("demo-{}", args.sites));
    if !reference.join("facilities.csv").exists() {
        demo::generate(&demo::DemoOptions::one_year(args.sites, 2024, 20_211_229), &reference)?;
    }
    let store = match &args.database_url {
        Some(url) => Store::open_url(url)?,
        None => {
            let db = args.work.join("db");
            let _ = std::fs::remove_dir_all(&db);
            Store::open_sqlite_dir(&db)?
        }
    };
    if store.facility_count()? > 0 {
        bail!("the database is not empty: the benchmark needs a fresh one");
    }
    let (orgs, facilities) = platform::demo::load_reference(&store, &reference, "bench")
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    let root = orgs.iter().find(|o| o.parent_code.is_none()).context("no root org")?.code.clone();
    // The filing: every facility of the group, round-robin, each row its own meter reading.
    let file = args.work.join(format!("filing-{}.csv", args.rows));
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file)?);
        writeln!(w, "facility_code,period,carrier,quantity,unit,source_document,evidence_ref")?;
        for i in 0..args.rows {
            let f = &facilities[i % facilities.len()];
            let reading = i / facilities.len();
            writeln!(
                w,
                "{},2025-01,electricity,{}.{},kWh,READING-{reading:06},meter-export-2025-01",
                f.code,
                800 + i % 400,
                i % 10
            )?;
        }
        w.flush()?;
    }
    let size = std::fs::metadata(&file)?.len();
    let hash = platform::passwords::hash_password("bench-password").map_err(|e| anyhow::anyhow!(e.message))?;
    let user = store.create_user("bench", "bench", &hash, "group_admin", &root)?;
    store.add_token(user.id, "bench-token", "2999-01-01T00:00:00.000Z")?;
    let filing = store.create_filing("bench", &root, "2025-01")?;
    let backend = store.kind();
    let app = server::App::new(store, args.work.join("spool"));
    let rt = runtime()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let router = server::router(app.clone());
    rt.spawn(async move { axum::serve(listener, router).await });
    // Reset the peak-memory mark (Linux: writing 5 to clear_refs), so the peak is the import's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let first = timed_upload(&app, addr, filing.id, user.id, &file)?;
    let peak = peak_rss_mb();
    // A correction: the same keys with every quantity changed, into the same draft (each row
    // replaces one stored row, which is kept as replaced).
    let correction = if args.correct {
        let fixed = args.work.join(format!("filing-{}-corrected.csv", args.rows));
        let text = std::fs::read_to_string(&file)?;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&fixed)?);
        for (i, line) in text.lines().enumerate() {
            if i == 0 {
                writeln!(w, "{line}")?;
                continue;
            }
            let f: Vec<&str> = line.split(',').collect();
            writeln!(w, "{},{},{},1{},{},{},{}", f[0], f[1], f[2], f[3], f[4], f[5], f[6])?;
        }
        w.flush()?;
        drop(w);
        Some(timed_upload(&app, addr, filing.id, user.id, &fixed)?)
    } else {
        None
    };
    let (seconds, json, worst_write, other_writes) = first;
    let stored = app.store.activity_count(filing.id)?;
    drop(rt);
    drop(app);
    let out = serde_json::json!({
        "backend": backend,
        "rows": args.rows,
        "file_mb": size as f64 / 1e6,
        "accepted": json["accepted"],
        "rejected": json["rejected"],
        "rows_stored": stored,
        "seconds": seconds,
        "rows_per_second": args.rows as f64 / seconds,
        "peak_rss_mb": peak,
        "other_writes": other_writes,
        "longest_other_write_seconds": worst_write,
        "target_seconds": 20,
        "ratio_to_target": seconds / 20.0,
        "correction": correction.map(|(s, j, w, n)| serde_json::json!({
            "seconds": s, "accepted": j["accepted"],
            "other_writes": n, "longest_other_write_seconds": w,
        })),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if stored != args.rows as i64 {
        bail!("{stored} rows stored, expected {}", args.rows);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Clone)]
pub struct MarketSetupArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The password of the two traders (users `trader-a` of BENCH-A and `trader-b` of BENCH-B).
    #[arg(long)]
    pub password: String,
    /// Allowances of vintage 2025 each subsidiary holds, tonnes.
    #[arg(long, default_value_t = 1_000_000)]
    pub tonnes: i64,
}

/// `dualcarbon bench market-setup`: a fresh database with group BENCH, subsidiaries BENCH-A and
/// BENCH-B, their traders (org admins), and for each `tonnes` of 2025 allowances and budget to
/// buy them all at 100 yuan a tonne, issued through the market's own commands (so the journal
/// replays).
pub fn market_setup(args: MarketSetupArgs) -> Result<ExitCode> {
    use market::exchange::Command;
    use market::ledger::{Account, Asset, Reason};
    let store = prepare(open(&args.db)?, &args.db.data.data_dir, &args.db.key_file())?;
    if !store.orgs()?.is_empty() {
        bail!("the database is not empty: market-setup prepares a fresh one");
    }
    let org = |code: &str, parent: Option<&str>| store::reference::OrgRecord {
        code: code.into(),
        name: code.into(),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    };
    store.upsert_reference(
        "bench",
        &[org("BENCH", None), org("BENCH-A", Some("BENCH")), org("BENCH-B", Some("BENCH"))],
        &[],
    )?;
    let hashes =
        platform::passwords::hash_passwords(&[args.password.as_str(); 2], 2).map_err(|e| anyhow::anyhow!(e.message))?;
    store.create_user("bench", "trader-a", &hashes[0], "org_admin", "BENCH-A")?;
    store.create_user("bench", "trader-b", &hashes[1], "org_admin", "BENCH-B")?;
    let p = platform::Platform::new(store, args.db.data.data_dir.join("spool"));
    let admin = platform::Actor { username: "bench".into(), org_code: "BENCH".into(), org_path: String::new() };
    let audit = |org: &'static str| platform::market::Audit {
        action: "market.bench",
        entity: "market/bench".into(),
        org_code: org,
    };
    let err = |e: platform::Error| anyhow::anyhow!("{}: {}", e.code, e.message);
    platform::market::run(&p, &admin, "bench:open", Command::OpenVintage { vintage: 2025 }, audit("BENCH"), None)
        .map_err(err)?;
    for sub in ["BENCH-A", "BENCH-B"] {
        let issue = Command::Issue {
            to: Account::org(sub),
            asset: Asset::Allowance { vintage: 2025 },
            amount: args.tonnes * 1000,
            reason: Reason::Allocation { period: 2025 },
        };
        platform::market::run(&p, &admin, &format!("bench:alloc:{sub}"), issue, audit("BENCH"), None).map_err(err)?;
        platform::market::fund(&p, &admin, &format!("fund-{sub}"), sub, args.tonnes * 10_000).map_err(err)?;
    }
    println!(
        "market ready: BENCH-A and BENCH-B hold {} t of 2025 allowances each; traders trader-a, trader-b",
        args.tonnes
    );
    Ok(ExitCode::SUCCESS)
}
