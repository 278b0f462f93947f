//! The platform's commands end to end: serve (first start, login, graceful stop), audit verify
//! detecting an edit of history, backup and restore.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use store::Store;

mod common;
use common::{http, serve, stop};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon"))
}

/// Starts `dualcarbon serve ARGS --listen 127.0.0.1:0`; returns the process, the first-start admin
/// password and the URL it listens on.
fn start(args: &[&str]) -> (std::process::Child, String, String) {
    let served = serve(args, Stdio::piped());
    let password = served.password();
    (served.child, password, served.base)
}

fn login(base: &str, password: &str) -> String {
    common::login(base, "admin", password)
}

#[test]
fn serve_starts_on_a_new_data_dir_answers_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform");
    let (child, password, addr) = start(&["--data-dir", data.to_str().unwrap()]);
    assert!(data.join("dualcarbon.sqlite3").exists(), "the data directory and database are created");
    let (status, body) = http(&addr, "GET", "/api/v1/health", None, "application/json", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sqlite\""), "{body}");
    let token = login(&addr, &password);
    let (status, body) = http(&addr, "GET", "/api/v1/orgs", Some(&token), "application/json", "");
    assert_eq!(status, 200);
    assert!(body.contains("\"GROUP\""), "{body}");
    let (_, metrics) = http(&addr, "GET", "/metrics", None, "application/json", "");
    assert!(
        metrics
            .contains("dualcarbon_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"200\"} 1"),
        "{metrics}"
    );
    // SIGTERM: the server finishes and exits cleanly.
    let log = stop(child);
    assert!(log.contains("stopped cleanly"), "{log}");
    let out = bin().args(["audit", "verify", "--data-dir", data.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn serve_runs_the_same_platform_on_postgresql() {
    let Some(url) = store::testing::fresh_postgres("cli_serve") else { return };
    // The data directory holds the audit key and the spool, also on PostgreSQL.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (child, password, addr) = start(&["--database-url", &url, "--data-dir", data]);
    let (status, body) = http(&addr, "GET", "/api/v1/health", None, "application/json", "");
    assert_eq!(status, 200);
    assert!(body.contains("\"postgres\""), "{body}");
    let token = login(&addr, &password);
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/filings",
        Some(&token),
        "application/json",
        "{\"org_code\":\"GROUP\",\"period\":\"2024-01\"}",
    );
    assert_eq!(status, 201, "{body}");
    stop(child);
    let out = bin().args(["audit", "verify", "--database-url", &url, "--data-dir", data]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The audit.keyed entry (first start), the group org, the admin user, the filing.
    assert!(out.status.success() && text.contains("intact: 4 entries") && text.contains("MACs verified"), "{text}");
}

fn audited_store(dir: &std::path::Path) {
    let s = Store::open_sqlite_dir(dir).unwrap();
    s.upsert_reference(
        "alice",
        &[store::reference::OrgRecord {
            code: "G".into(),
            name: "G".into(),
            parent_code: None,
            equity_share: String::new(),
            operational_control: String::new(),
        }],
        &[],
    )
    .unwrap();
    s.create_filing("alice", "G", "2024-01").unwrap();
    s.create_filing("bob", "G", "2024-02").unwrap();
}

#[test]
fn audit_verify_detects_an_edit_of_history() {
    let dir = tempfile::tempdir().unwrap();
    audited_store(dir.path());
    let verify = || bin().args(["audit", "verify", "--data-dir", dir.path().to_str().unwrap()]).output().unwrap();
    let ok = verify();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 3 entries"));
    // Someone with database access rewrites who created filing 2.
    let s = Store::open_sqlite_dir(dir.path()).unwrap();
    s.tx(|c| c.exec("UPDATE audit SET actor = 'alice' WHERE seq = 3", &[])).unwrap();
    drop(s);
    let bad = verify();
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("AUDIT LOG BROKEN") && text.contains("entry 3"), "{text}");
}

#[test]
fn backup_and_restore_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    audited_store(&data);
    let file = dir.path().join("backup.sqlite3");
    let d = data.to_str().unwrap();
    let b = bin().args(["backup", "--data-dir", d, "--out", file.to_str().unwrap()]).output().unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let again = bin().args(["backup", "--data-dir", d, "--out", file.to_str().unwrap()]).output().unwrap();
    assert!(!again.status.success(), "never overwrites a backup");
    let s = Store::open_sqlite_dir(&data).unwrap();
    s.create_filing("carol", "G", "2024-03").unwrap();
    drop(s);
    let r = bin().args(["restore", "--data-dir", d, "--from", file.to_str().unwrap()]).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("chain intact"));
    let s = Store::open_sqlite_dir(&data).unwrap();
    let periods: Vec<String> = s.filings_within("/", None).unwrap().into_iter().map(|f| f.period).collect();
    assert_eq!(periods, vec!["2024-02", "2024-01"], "the filing made after the backup is gone");
    let missing =
        bin().args(["backup", "--data-dir", dir.path().join("nope").to_str().unwrap(), "--out", "x"]).output().unwrap();
    assert!(!missing.status.success());
}

#[test]
fn demo_starts_the_platform_with_the_demo_operator_and_prints_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut child = bin()
        .args(["demo", "--data-dir", data.to_str().unwrap(), "--sites", "200", "--listen", "127.0.0.1:0"])
        // Request logs go to stderr, which this test only reads at the end: keep them few.
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut printed) = (None, String::new());
    for _ in 0..20 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
        if let Some(a) = line.split("demo platform: http://").nth(1) {
            addr = Some(format!("http://{}", a.trim().trim_end_matches('/')));
        }
        if line.contains("password dualcarbon-demo") {
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no URL printed:\n{printed}"));
    assert!(printed.contains("filings approved") && printed.contains("inventory snapshot"), "{printed}");
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/auth/login",
        None,
        "application/json",
        "{\"username\":\"gd-filer\",\"password\":\"dualcarbon-demo\"}",
    );
    assert_eq!(status, 200, "{body}");
    let token = body.split("\"token\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let (status, body) =
        http(&addr, "GET", "/api/v1/orgs/CT-GD/dashboard?year=2024", Some(&token), "application/json", "");
    assert_eq!(status, 200);
    assert!(body.contains("\"scope2_location\""), "the demo's snapshot is there: {body}");
    let (status, _) =
        http(&addr, "GET", "/api/v1/orgs/CT-BJ/dashboard?year=2024", Some(&token), "application/json", "");
    assert_eq!(status, 403, "a Guangdong filer does not see Beijing");
    child.stdout = Some(out.into_inner());
    stop(child);
    // Issue 11: the demo users shared one hash and salt. Each has its own now.
    let store = Store::open_sqlite_dir(&data).unwrap();
    let users = store.users_within("/").unwrap();
    assert_eq!(users.len(), 6, "{users:?}");
    let hashes: std::collections::HashSet<&str> = users.iter().map(|u| u.password_hash.as_str()).collect();
    let salts: std::collections::HashSet<&str> =
        users.iter().map(|u| u.password_hash.split('$').nth(4).unwrap_or_default()).collect();
    assert_eq!((hashes.len(), salts.len()), (6, 6), "every demo user has a hash and salt of its own");
    assert!(users.iter().all(|u| server::auth::verify_password("dualcarbon-demo", &u.password_hash)));
    // Issue 19: the demo files water and waste as indicator data, marked as demo values.
    let data = store.document(store::documents::INDICATOR_DATA).unwrap().unwrap_or_default();
    for component in ["water_m3", "waste_hazardous_t", "waste_non_hazardous_t"] {
        let line =
            data.lines().find(|l| l.contains(&format!(",2024,{component},"))).unwrap_or_else(|| panic!("{component}"));
        assert!(line.ends_with(",demo: illustrative values (not measured)"), "{line}");
    }
}

#[test]
fn serve_transport_flags_are_checked_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform");
    let data_arg = data.to_str().unwrap();
    // A certificate without its key, or a public origin that is not an origin: refused by the parser.
    let out = bin().args(["serve", "--data-dir", data_arg, "--tls-cert", "cert.pem"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let out = bin().args(["serve", "--data-dir", data_arg, "--public-origin", "carbon.example.com"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Unreadable TLS files stop the start with the file named, before anything is created.
    let missing = dir.path().join("missing.pem");
    let out = bin()
        .args(["serve", "--data-dir", data_arg, "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pem"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!data.exists(), "no data directory for a start that cannot serve");
    // --max-upload-bytes caps streamed uploads: 413 with its code.
    let (child, _, addr) = start(&["--data-dir", data_arg, "--max-upload-bytes", "1000"]);
    let (status, body) = http(&addr, "POST", "/api/v1/reference/orgs", None, "application/json", &"x".repeat(2000));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("body_too_large"), "{body}");
    stop(child);
}
