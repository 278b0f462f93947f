//! `dualcarbon report TEMPLATE --data DIR --year Y` (issue 19): the CSV's figures are the
//! inventory's, the change from the previous year is there when its activity file is, and an
//! unknown template or a year with a month missing is refused.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().unwrap()
}

#[test]
fn report_from_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let ds = d.to_str().unwrap();
    let g = run(&["demo", "generate", "--sites", "300", "--years", "2023-2024", "--out", ds]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let inv = run(&["inventory", "--data", ds, "--year", "2024", "--format", "json"]);
    let inv: serde_json::Value = serde_json::from_slice(&inv.stdout).unwrap();
    let o =
        run(&["report", "inventory", "--data", ds, "--year", "2024", "--format", "csv", "--lang", "en", "--out", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).unwrap();
    let value = |row: &str| -> f64 {
        let line = csv.lines().find(|l| l.starts_with(&format!("summary,{row},")) && l.contains(",value,")).unwrap();
        line.split(',').nth(5).unwrap().parse().unwrap()
    };
    assert_eq!(value("1"), inv["totals"]["scope1"].as_f64().unwrap());
    assert_eq!(value("2"), inv["totals"]["scope2_location"].as_f64().unwrap());
    assert_eq!(value("7"), inv["totals"]["energy_tce"].as_f64().unwrap());
    assert!(csv.contains("year_on_year,1,Scope 1,previous,"), "the change from 2023 is reported");
    // A PDF to a file, in Chinese.
    let pdf = dir.path().join("r.pdf");
    let o = run(&["report", "government", "--data", ds, "--year", "2024", "--out", pdf.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-1.7"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("report hash"));

    let o = run(&["report", "esg-glossy", "--data", ds, "--year", "2024"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown template \"esg-glossy\""));
    // December missing: refused with the month named.
    let text = std::fs::read_to_string(d.join("activity-2024.csv")).unwrap();
    let kept: String = text.lines().filter(|l| !l.contains(",2024-12,")).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("activity-2024.csv"), kept).unwrap();
    let o = run(&["report", "inventory", "--data", ds, "--year", "2024", "--format", "csv", "--out", "-"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("months without any activity record: 12 (missing_months)"), "{err}");
}

/// `dualcarbon report inventory --snapshot ID` against the platform's database (the demo's, whose
/// group snapshots are approved): the CSV carries the snapshot's stored figures; an unknown
/// snapshot is refused.
#[test]
fn report_from_an_approved_snapshot_of_the_platform() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let ds = data.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualcarbon"))
        .args(["demo", "--data-dir", ds, "--sites", "200", "--years", "2023-2024", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..40 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 || line.contains("password dualcarbon-demo") {
            break;
        }
    }
    // Stop the platform (SIGTERM), then read its database as a command does.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let store = store::Store::open_sqlite_dir(&data).unwrap();
    let approved: Vec<i64> = store.snapshot_approvals().unwrap().into_iter().map(|a| a.snapshot_id).collect();
    let s =
        store.snapshot_list().unwrap().into_iter().rev().find(|s| s.year == 2024 && approved.contains(&s.id)).unwrap();
    let stored = store.snapshot(s.id).unwrap().result;
    drop(store);
    let id = s.id.to_string();
    let o = run(&[
        "report",
        "inventory",
        "--snapshot",
        &id,
        "--data-dir",
        ds,
        "--format",
        "csv",
        "--lang",
        "en",
        "--out",
        "-",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).unwrap();
    for (row, key) in [("1", "scope1"), ("2", "scope2_location"), ("3", "scope2_market"), ("7", "energy_tce")] {
        let line = csv.lines().find(|l| l.starts_with(&format!("summary,{row},")) && l.contains(",value,")).unwrap();
        let v: f64 = line.split(',').nth(5).unwrap().parse().unwrap();
        assert_eq!(v, stored["totals"][key].as_f64().unwrap(), "{key}");
    }
    assert!(csv.contains(&format!("report,,,snapshot,snapshot,{id},")));
    // What the platform holds besides the snapshot, read from the store: the demo's water and
    // waste (indicator data, reference [17]); the targets need the running platform's indicators.
    for kpi in ["10,A2.2", "5,A1.3", "6,A1.4"] {
        let line = csv.lines().find(|l| l.starts_with(&format!("hkex_kpi,{kpi},value,"))).unwrap();
        let v: f64 = line.split(',').nth(5).unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(v > 0.0 && line.ends_with(",17"), "{line}");
    }
    assert!(csv.contains("targets_progress,1,not available: the platform's indicators are not loaded,"), "{csv}");
    let o = run(&["report", "inventory", "--snapshot", "999999", "--data-dir", ds, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("999999"), "{}", String::from_utf8_lossy(&o.stderr));
}
