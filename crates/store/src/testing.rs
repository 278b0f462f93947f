//! Helpers for the integration suites of `store` and `server`, which run the same tests against
//! both backends. PostgreSQL comes from `DUALCARBON_TEST_POSTGRES_URL` (`.ci/run` starts a
//! throwaway cluster on 127.0.0.1 and sets it); each test gets a fresh database of its own.

use crate::Store;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const POSTGRES_URL_VAR: &str = "DUALCARBON_TEST_POSTGRES_URL";

/// A new empty PostgreSQL database for one test, as a URL; `None` (the test is skipped, with a
/// note) when no server is configured. Under CI (`CI=true`) a missing server fails the test:
/// the PostgreSQL half of the suite must not silently disappear.
pub fn fresh_postgres(test: &str) -> Option<String> {
    let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{POSTGRES_URL_VAR} is not set under CI: the PostgreSQL suite must run (see .ci/run)");
        }
        eprintln!("note: {test}: PostgreSQL half skipped, {POSTGRES_URL_VAR} is not set");
        return None;
    };
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "dc_{}_{}_{}",
        test.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).expect("connect to the test PostgreSQL server");
    // Databases of test processes that have ended are dropped once per process, so a long-lived
    // development server does not fill its disk (one database per test, never dropped by the test).
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| drop_ended_test_databases(&mut admin));
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).expect("drop old test database");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
    // Replace the database name (the last path segment, before any query string).
    let (head, query) = base.split_once('?').map_or((base.as_str(), ""), |(h, q)| (h, q));
    let root = head.rsplit_once('/').map_or(head, |(r, _)| r);
    Some(if query.is_empty() { format!("{root}/{name}") } else { format!("{root}/{name}?{query}") })
}

/// The stores a shared test runs against: a fresh SQLite in `dir`, and a fresh PostgreSQL
/// database when one is configured.
pub fn stores(test: &str, dir: &std::path::Path) -> Vec<(String, Store)> {
    let mut out = vec![("sqlite".to_string(), Store::open_sqlite_dir(dir).expect("open sqlite"))];
    if let Some(url) = fresh_postgres(test) {
        out.push(("postgres".to_string(), Store::open_postgres(&url).expect("open postgres")));
    }
    out
}

/// Drops `dc_<test>_<pid>_<n>` databases whose process is gone (Linux: no `/proc/<pid>`).
fn drop_ended_test_databases(admin: &mut postgres::Client) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(rows) = admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'dc\\_%'", &[]) else { return };
    for row in rows {
        let name: String = row.get(0);
        let mut parts = name.rsplit('_');
        let (_, pid) = (parts.next(), parts.next().and_then(|p| p.parse::<u32>().ok()));
        if let Some(pid) = pid.filter(|p| *p != std::process::id()) {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
            }
        }
    }
}
