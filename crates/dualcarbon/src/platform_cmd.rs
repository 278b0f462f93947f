//! The platform's commands: `serve`, `demo` (without a subcommand: the platform pre-loaded with the
//! demo operator), `audit verify`, `backup`, `restore`. A thin shell over `server` and `store`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::Store;

#[derive(Subcommand)]
pub enum PlatformCommand {
    /// Run the platform (HTTP API) on the embedded SQLite database, or on PostgreSQL.
    Serve(ServeArgs),
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the embedded database to a file (safe while the platform runs).
    Backup {
        #[command(flatten)]
        data: DataDirArg,
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the embedded database with a backup (stop the platform first).
    Restore {
        #[command(flatten)]
        data: DataDirArg,
        /// The backup file written by `dualcarbon backup`.
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain; exit code 1 if history was edited.
    Verify {
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
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
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
    /// Inventory year of the demo data.
    #[arg(long, default_value_t = 2024)]
    pub year: i32,
}

fn open(db: &DatabaseArgs) -> Result<Store> {
    match &db.database_url {
        Some(url) => Store::open_url(url).with_context(|| "opening the PostgreSQL database"),
        None => Store::open_sqlite_dir(&db.data.data_dir)
            .with_context(|| format!("opening the embedded database in {}", db.data.data_dir.display())),
    }
}

pub fn run(cmd: PlatformCommand) -> Result<ExitCode> {
    match cmd {
        PlatformCommand::Serve(args) => serve(args),
        PlatformCommand::Audit { command: AuditCommand::Verify { db } } => {
            let store = open(&db)?;
            let v = store.verify_audit()?;
            if v.ok {
                println!("audit log intact: {} entries, every hash and link verified", v.entries);
                Ok(ExitCode::SUCCESS)
            } else {
                println!("AUDIT LOG BROKEN: {} problem(s) in {} entries", v.problems.len(), v.entries);
                for p in &v.problems {
                    println!("- {p}");
                }
                Ok(ExitCode::from(1))
            }
        }
        PlatformCommand::Backup { data, out } => {
            if !data.data_dir.join(store::SQLITE_FILE).exists() {
                bail!("no database in {} (give --data-dir)", data.data_dir.display());
            }
            let store = Store::open_sqlite_dir(&data.data_dir)?;
            store.backup_sqlite(&out)?;
            println!("backed up {} to {}", data.data_dir.join(store::SQLITE_FILE).display(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        PlatformCommand::Restore { data, from } => {
            let v = store::restore_sqlite(&from, &data.data_dir)?;
            println!(
                "restored {} into {} ({} audit entries, chain {}); the previous database is kept as {}.before-restore",
                from.display(),
                data.data_dir.display(),
                v.entries,
                if v.ok { "intact" } else { "BROKEN: run `dualcarbon audit verify`" },
                store::SQLITE_FILE
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// On a database without users: the group org (if there is no org yet) and an `admin` user with
/// a random password, printed once.
fn bootstrap(store: &Store) -> Result<()> {
    if has_users(store)? {
        return Ok(());
    }
    if store.orgs()?.is_empty() {
        store.upsert_reference(
            "system",
            &[store::reference::OrgRecord {
                code: "GROUP".into(),
                name: "Group".into(),
                parent_code: None,
                equity_share: String::new(),
                operational_control: String::new(),
            }],
            &[],
        )?;
    }
    let root = store.orgs()?.into_iter().find(|o| o.depth == 0).context("no root org")?;
    let password = random_password();
    let hash = server::auth::hash_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
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
    let store = open(&args.db)?;
    bootstrap(&store)?;
    let app = server::App::new(store, args.db.data.data_dir.join("spool"));
    let rt = runtime()?;
    let served = rt.block_on(server::serve(app.clone(), args.listen, |addr| {
        println!("DualCarbon platform on http://{addr}/  (API: http://{addr}/api/v1/openapi.json, metrics: /metrics)")
    }));
    // The PostgreSQL client closes its connections with blocking calls: drop it outside the runtime.
    drop(rt);
    drop(app);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Demo logins: every role, all with this password.
pub const DEMO_PASSWORD: &str = "dualcarbon-demo";

/// `dualcarbon demo`: generate the demo operator into the data dir (first start), load it, run the
/// group's inventory, create one user per role, and serve.
pub fn demo(args: DemoRunArgs) -> Result<ExitCode> {
    server::init_logging();
    let data_dir = args.data_dir.clone();
    let source = data_dir.join("demo-data");
    if !source.join("activity.csv").exists() {
        println!("generating the demo operator ({} sites, {}) into {} ...", args.sites, args.year, source.display());
        demo::generate(&demo::DemoOptions { sites: args.sites, year: args.year, seed: 20_211_229 }, &source)?;
    }
    let store = Store::open_sqlite_dir(&data_dir)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if store.user_by_name("admin")?.is_none() {
        load_demo(&store, &source, args.year, &data_dir.join("spool"), threads)?;
    }
    let app = server::App::new(store, data_dir.join("spool"));
    let year = args.year;
    runtime()?.block_on(server::serve(app, args.listen, move |addr| {
        println!();
        println!("DualCarbon demo platform: http://{addr}/");
        println!("  log in:  curl -s -X POST http://{addr}/api/v1/auth/login -H 'content-type: application/json' \\");
        println!("             -d '{{\"username\":\"admin\",\"password\":\"{DEMO_PASSWORD}\"}}'");
        println!("  users:   admin (group admin), gd-filer, gd-reviewer, gd-admin (广东), auditor, employee; password {DEMO_PASSWORD}");
        println!("  then:    curl -s -H 'authorization: Bearer TOKEN' http://{addr}/api/v1/orgs/CT-GD/dashboard?year={year}");
        println!("  API:     http://{addr}/api/v1/openapi.json   metrics: http://{addr}/metrics   (Ctrl-C stops)");
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn load_demo(store: &Store, source: &Path, year: i32, spool: &Path, threads: usize) -> Result<()> {
    let t = std::time::Instant::now();
    println!("loading the demo operator into the platform (validated and filed per province and month) ...");
    let s = server::load::load_dir(store, source, year, "demo-loader", spool, threads)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    println!(
        "  {} orgs, {} facilities, {} filings approved, {} activity rows in {:.1} s",
        s.orgs,
        s.facilities,
        s.filings,
        s.rows,
        t.elapsed().as_secs_f64()
    );
    let hash = server::auth::hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!(e.message))?;
    let root = demo::GROUP_CODE;
    for (user, role, org) in [
        ("admin", "group_admin", root),
        ("auditor", "auditor", root),
        ("employee", "employee", root),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("gd-reviewer", "reviewer", "CT-GD"),
    ] {
        store.create_user("demo-loader", user, &hash, role, org)?;
    }
    let snap = server::inventory::run_blocking(store, "demo-loader", root, year, serde_json::json!({}), threads)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    println!("  inventory snapshot {} of {root} for {year} stored", snap.id);
    Ok(())
}
