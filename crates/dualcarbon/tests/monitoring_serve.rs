//! `dualcarbon serve` with monitoring, as an operator runs it: reference data loaded over the API,
//! meters.csv in the data directory, readings posted as CSV, real-time PUE read back, and the
//! reading log replayed after a restart.

use std::process::{Child, Stdio};

mod common;
use common::{http, stop};

/// Starts `dualcarbon serve` on `data`; returns the process, its stdout lines up to the URL, and
/// the URL.
fn start(data: &std::path::Path) -> (Child, Vec<String>, String) {
    let served = common::serve(&["--data-dir", data.to_str().unwrap()], Stdio::null());
    (served.child, served.lines, served.base)
}

fn login(base: &str, password: &str) -> String {
    common::login(base, "admin", password)
}

#[test]
fn serve_with_meters_takes_readings_and_replays_them_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform");
    let (child, lines, addr) = start(&data);
    let password = lines
        .iter()
        .find_map(|l| l.split("with password ").nth(1).map(|p| p.trim().to_string()))
        .expect("first start prints the admin password");
    let token = login(&addr, &password);
    let (s, b) = http(
        &addr,
        "POST",
        "/api/v1/reference/orgs",
        Some(&token),
        "text/csv",
        "org_code,name,parent_code\nGROUP,集团,\nGD,广东分公司,GROUP\n",
    );
    assert_eq!(s, 200, "{b}");
    let facilities = "facility_code,name,type,org_code,province\nDC1,数据中心,data_center,GD,广东\n";
    let (s, b) = http(&addr, "POST", "/api/v1/reference/facilities", Some(&token), "text/csv", facilities);
    assert_eq!(s, 200, "{b}");
    // Without meters.csv the monitoring routes say so.
    let (s, b) = http(&addr, "GET", "/api/v1/orgs/GD/realtime", Some(&token), "application/json", "");
    assert_eq!(s, 503, "{b}");
    assert!(b.contains("monitoring_off"), "{b}");
    stop(child);

    std::fs::write(
        data.join("meters.csv"),
        "meter_code,facility_code,role,kind\nDC1-TOT,DC1,total_facility,counter\nDC1-IT,DC1,it_load,counter\n",
    )
    .unwrap();
    let (child, lines, addr) = start(&data);
    assert!(lines.iter().any(|l| l.starts_with("monitoring: meters.csv loaded")), "{lines:?}");
    let token = login(&addr, &password);
    let t0 = 1_714_492_800_000i64;
    let mut csv = String::from("meter,ts,value\n");
    for q in 0..=4i64 {
        let ts = t0 + q * 900_000;
        csv.push_str(&format!("DC1-TOT,{ts},{}\nDC1-IT,{ts},{}\n", 125 * q, 100 * q));
    }
    let (s, b) = http(&addr, "POST", "/api/v1/telemetry/readings", Some(&token), "text/csv", &csv);
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("\"stored\":10"), "{b}");
    let (s, b) = http(&addr, "GET", "/api/v1/orgs/GD/realtime", Some(&token), "application/json", "");
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("\"pue_1h\":1.25"), "{b}");
    stop(child);

    // The reading log is replayed at start: the live state is back without new readings.
    let (child, _, addr) = start(&data);
    let token = login(&addr, &password);
    let (_, b) = http(&addr, "GET", "/api/v1/orgs/GROUP/realtime", Some(&token), "application/json", "");
    assert!(b.contains("\"pue_1h\":1.25"), "{b}");
    stop(child);
    assert!(data.join("readings").join("00000001.seg").exists());
}
