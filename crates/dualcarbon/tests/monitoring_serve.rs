//! `dualcarbon serve` with monitoring, as an operator runs it: reference data loaded over the API,
//! meters.csv in the data directory, readings posted as CSV, real-time PUE read back, and the
//! reading log replayed after a restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// One HTTP/1.1 exchange (Connection: close): status and body (chunked framing removed).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, ctype: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {ctype}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return (status, body.to_string());
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    (status, out)
}

/// Starts `dualcarbon serve`; returns the process, its stdout lines up to the URL, and the address.
fn start(data: &std::path::Path) -> (Child, Vec<String>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualcarbon"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..20 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        lines.push(line.clone());
        if let Some(a) = line.split("platform on http://").nth(1) {
            let addr = a.split('/').next().unwrap().to_string();
            return (child, lines, addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not print its URL: {lines:?}");
}

fn stop(mut child: Child) {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
}

fn login(addr: &str, password: &str) -> String {
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        "application/json",
        &format!("{{\"username\":\"admin\",\"password\":\"{password}\"}}"),
    );
    assert_eq!(status, 200, "{body}");
    body.split("\"token\":\"").nth(1).unwrap().split('"').next().unwrap().to_string()
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
