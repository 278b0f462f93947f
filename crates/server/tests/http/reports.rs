//! Disclosure reports through the API on SQLite and PostgreSQL (issue 19): refused for an unknown
//! template, an unapproved snapshot and a period with months without records; made by a job whose
//! CSV carries the snapshot's figures exactly, and whose PDF is the same bytes made twice.

use crate::harness::{electricity_csv, fac, group_orgs, Harness, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A figure as a report prints it: two decimals, thousands separated by commas (written out here,
/// not taken from the report crate).
fn report_number(v: f64) -> String {
    let s = format!("{v:.2}");
    let (int, frac) = s.split_once('.').unwrap();
    let digits: Vec<char> = int.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{out}.{frac}")
}

async fn finished(h: &Harness, token: &str, job: i64) -> Value {
    for _ in 0..1200 {
        let r = h.get(&format!("/api/v1/console/jobs?id={job}"), token).await;
        let j = r.json["jobs"][0].clone();
        if j["status"] != json!("running") {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("report job {job} did not finish");
}

pub(crate) async fn make(h: &Harness, token: &str, body: Value) -> (Value, Option<Vec<u8>>) {
    let r = h.post("/api/v1/reports", token, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.json["job"]["id"].as_i64().unwrap();
    let j = finished(h, token, id).await;
    if j["status"] != json!("done") {
        return (j, None);
    }
    let f = h.get(&format!("/api/v1/reports/jobs/{id}/file"), token).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.headers["x-report-hash"].to_str().unwrap(), j["result"]["hash"].as_str().unwrap());
    (j, Some(f.bytes))
}

#[test]
fn reports_from_approved_snapshots_only_with_the_snapshots_figures() {
    let facilities =
        vec![fac("GD1", "base_station_5g", "CT-GD-GZ", "广东"), fac("GD2", "data_center", "CT-GD", "广东")];
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("bj-admin", "org_admin", "CT-BJ"),
    ];
    let platform = Platform::new("reports", Seed { orgs: group_orgs("CT-BJ"), facilities, users });
    platform.meters("meter_code,facility_code,role,kind\n").run(|h| async move {
        let backend = h.backend.clone();
        let (filer, gd_admin) = (h.login("gd-filer").await, h.login("gd-admin").await);
        for m in 1..=12 {
            let period = format!("2024-{m:02}");
            let rows = [("GD1", period.clone(), 1000 + m * 10), ("GD2", period.clone(), 50_000 + m)];
            h.file_approved(&filer, &gd_admin, "CT-GD", &period, &electricity_csv(&rows)).await;
        }
        h.file_approved(&filer, &gd_admin, "CT-GD", "2023-06", &electricity_csv(&[("GD1", "2023-06", 900)])).await;
        let run = |year: i32| {
            let h = &h;
            let t = gd_admin.clone();
            async move {
                let s = h.post("/api/v1/inventories", &t, json!({"org_code": "CT-GD", "year": year})).await;
                assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
                s.json["snapshot"]["id"].as_i64().unwrap()
            }
        };
        let (s2024, s2023) = (run(2024).await, run(2023).await);
        let unknown = h.post("/api/v1/reports", &gd_admin, json!({"snapshot": s2024, "template": "esg-glossy"})).await;
        assert_eq!(
            (unknown.status, &unknown.json["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("unknown_template")),
            "{backend}: {}",
            unknown.text
        );
        let bad = h.post("/api/v1/reports", &gd_admin, json!({"snapshot": s2024, "format": "docx"})).await;
        assert_eq!(
            (bad.status, &bad.json["error"]["code"]),
            (StatusCode::BAD_REQUEST, &json!("unknown_format")),
            "{backend}"
        );
        let unapproved = h.post("/api/v1/reports", &gd_admin, json!({"snapshot": s2024})).await;
        assert_eq!(
            (unapproved.status, &unapproved.json["error"]["code"]),
            (StatusCode::CONFLICT, &json!("snapshot_not_approved")),
            "{backend}: {}",
            unapproved.text
        );
        for s in [s2024, s2023] {
            let a = h.post(&format!("/api/v1/snapshots/{s}/approve"), &gd_admin, json!({"note": "checked"})).await;
            assert_eq!(a.status, StatusCode::OK, "{backend}: {}", a.text);
        }
        // 2023 has one month only: refused with the missing months.
        let (j, file) = make(&h, &gd_admin, json!({"snapshot": s2023, "format": "csv"})).await;
        assert!(file.is_none(), "{backend}");
        assert_eq!(j["error"]["code"], json!("missing_months"), "{backend}: {j}");
        assert_eq!(j["error"]["detail"]["months"], json!([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]), "{backend}");
        // Water and waste entered as indicator data are the HKEX KPIs' figures (A1.4 not entered).
        let data = "org_code,period,component,value,source\nCT-GD,2024,water_m3,200.25,meter book\nCT-GD-GZ,2024,water_m3,60.25,meter book\nCT-GD-GZ,2024,waste_hazardous_t,1.5,manifest 7\n";
        let added = h.request("POST", "/api/v1/indicator-data", Some(&gd_admin), data, "text/csv").await;
        assert_eq!(added.status, StatusCode::OK, "{backend}: {}", added.text);
        // A base-station saving run recorded for March: table 10's project, in kWh and tce.
        let run = h.post("/api/v1/orgs/CT-GD/sites/bs-saving", &filer, json!({"cells_csv": cells_csv("GD1"), "period": "2024-03"})).await;
        assert_eq!(run.status, StatusCode::OK, "{backend}: {}", run.text);
        let station = &run.json["saving"]["by_station"][0];
        let (saved, reference) = (station["saved_kwh"].as_f64().unwrap(), station["baseline_kwh"].as_f64().unwrap());
        let source = run.json["recorded"][0]["source"].as_str().unwrap().to_string();
        // The CSV's figures are the snapshot's stored ones, exactly.
        let snap = h.get(&format!("/api/v1/snapshots/{s2024}"), &gd_admin).await;
        let totals = snap.json["snapshot"]["result"]["totals"].clone();
        assert!(totals["scope2_location"].as_f64().unwrap() > 0.0, "{backend}: {}", snap.text);
        let (j, file) =
            make(&h, &gd_admin, json!({"snapshot": s2024, "template": "inventory", "lang": "en", "format": "csv"}))
                .await;
        assert_eq!(j["result"]["snapshot"], json!(s2024), "{backend}: {j}");
        let csv_hash = j["result"]["hash"].clone();
        let csv = String::from_utf8(file.unwrap()).unwrap();
        for (row, key) in [(1, "scope1"), (2, "scope2_location"), (3, "scope2_market"), (7, "energy_tce")] {
            let v = totals[key].as_f64().unwrap();
            let want = format!("summary,{row},");
            let line = csv.lines().find(|l| l.starts_with(&want) && l.contains(",value,")).unwrap();
            assert!(line.contains(&format!(",{v},")), "{backend}: {key} = {v} in {line}");
        }
        assert!(csv.contains(&format!("report,,,snapshot,snapshot,{s2024},")), "{backend}");
        // 200.25 + 60.25 = 260.5 m³ over CT-GD's subtree, reference [17].
        assert!(csv.contains("hkex_kpi,10,A2.2,value,Value,260.5,,260.50,17"), "{backend}: {csv}");
        assert!(csv.contains("hkex_kpi,5,A1.3,value,Value,1.5,,1.50,17"), "{backend}");
        assert!(csv.contains("hkex_kpi,6,A1.4,value,Value,not recorded on the platform,,not recorded on the platform,"), "{backend}");
        assert!(csv.contains("inclusive,1,no carbon-inclusive reduction recorded,"), "{backend}");
        assert!(csv.contains("targets_progress,1,"), "{backend}");
        // Table 10 (the inventory template holds the government tables): the run, its station,
        // kWh saved and reference (stored as millionths), tce = kWh × 0.1229 / 1000.
        let micro = |v: f64| (v * 1e6).round() / 1e6;
        let line = csv.lines().find(|l| l.starts_with("saving_projects,1,") && l.contains(",saved_kwh,")).unwrap();
        assert!(line.contains(&source) && line.contains(&format!(",{},", micro(saved))), "{backend}: {line} ({saved})");
        let line = csv.lines().find(|l| l.starts_with("saving_projects,1,") && l.contains(",reference_kwh,")).unwrap();
        assert!(line.contains(&format!(",{},", micro(reference))), "{backend}: {line}");
        let tce = micro(saved) * 0.1229 / 1000.0;
        let line = csv.lines().find(|l| l.starts_with("saving_projects,1,") && l.contains(",saved_tce,")).unwrap();
        assert!(line.contains(&format!(",{tce},")), "{backend}: {line} ({tce})");
        assert!(csv.lines().any(|l| l.starts_with("saving_projects,1,") && l.contains(",periods,") && l.contains(",2024-03,")), "{backend}");
        // The platform's data-quality score over the snapshot's filing versions: both facilities
        // report every month, no finding, no refused row: 100 each month.
        assert!(csv.contains("data_quality,7,Platform data-quality score,value,Value,100,,100.0,12"), "{backend}");
        // A PDF in Chinese, the same bytes twice; another user cannot download it.
        let (j1, a) = make(&h, &gd_admin, json!({"snapshot": s2024, "lang": "zh", "format": "pdf"})).await;
        let (_, b) = make(&h, &gd_admin, json!({"snapshot": s2024, "lang": "zh", "format": "pdf"})).await;
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.starts_with(b"%PDF-1.7"), "{backend}");
        assert!(a == b, "{backend}: the same snapshot gives the same bytes");
        // Waste entered after the snapshot's first report: its reports keep carrying what that
        // report kept (the same hash and bytes, A1.4 still not recorded); a newer snapshot would
        // carry it.
        let later = "org_code,period,component,value,source\nCT-GD,2024,waste_non_hazardous_t,3,manifest 9\n";
        let added = h.request("POST", "/api/v1/indicator-data", Some(&gd_admin), later, "text/csv").await;
        assert_eq!(added.status, StatusCode::OK, "{backend}: {}", added.text);
        let (j2, again) =
            make(&h, &gd_admin, json!({"snapshot": s2024, "template": "inventory", "lang": "en", "format": "csv"}))
                .await;
        assert_eq!(j2["result"]["hash"], csv_hash, "{backend}: {j2}");
        assert!(again.unwrap() == csv.as_bytes(), "{backend}: the kept platform data gives the same bytes");
        let (_, c) = make(&h, &gd_admin, json!({"snapshot": s2024, "lang": "zh", "format": "pdf"})).await;
        assert!(c.unwrap() == a, "{backend}: the same PDF after the later waste entry");
        // Its text (pdftotext) prints the snapshot's stored figures.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.pdf");
        std::fs::write(&path, &a).unwrap();
        let out =
            std::process::Command::new("pdftotext").arg(&path).arg("-").output().expect("pdftotext (poppler-utils)");
        let text = String::from_utf8(out.stdout).unwrap();
        for key in ["scope1", "scope2_location", "scope2_market", "energy_tce"] {
            let printed = report_number(totals[key].as_f64().unwrap());
            assert!(text.contains(&printed), "{backend}: {key} {printed} in the PDF's text");
        }
        assert!(text.contains("温室气体排放报告"), "{backend}");
        let admin = h.login("admin").await;
        let job = j1["id"].as_i64().unwrap();
        let other = h.get(&format!("/api/v1/reports/jobs/{job}/file"), &admin).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{backend}");
        let t = h.get("/api/v1/reports/templates", &gd_admin).await;
        assert_eq!(t.json["templates"], json!(["inventory", "capital-market", "government"]), "{backend}");
        stored_reports_survive_a_restart(&h, &j1, &a).await;
    });
}

/// A report made is stored (migration 12): listed within the caller's subtree with its SHA-256,
/// downloaded by its id from another instance over the same database (as after a restart, or
/// from any instance of a cluster), the same bytes; refused outside the caller's subtree.
async fn stored_reports_survive_a_restart(h: &Harness, job: &Value, pdf: &[u8]) {
    let backend = &h.backend;
    let id = job["result"]["report_id"].as_i64().unwrap_or_else(|| panic!("{backend}: {job}"));
    assert_eq!(job["result"]["download"], json!(format!("/api/v1/reports/{id}/file")), "{backend}");
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(pdf).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(job["result"]["sha256"], json!(sha), "{backend}");
    // Another instance over the same database: nothing of the first one's memory.
    let (url, copy) = (h.app.store.postgres_url().map(str::to_string), h.dir.path().join("copy.db"));
    if url.is_none() {
        h.app.store.backup_sqlite(&copy).unwrap();
    }
    let spool = h.dir.path().join("spool-2");
    // Opened off the runtime's threads (the PostgreSQL client blocks).
    let app = tokio::task::spawn_blocking(move || {
        let second = match url {
            Some(url) => store::Store::open_postgres(&url).unwrap(),
            None => store::Store::open_sqlite(&copy).unwrap(),
        };
        crate::harness::App::new(second, spool)
    })
    .await
    .unwrap();
    let h2 = Harness::on(app.clone(), backend);
    let gd_admin = h2.login("gd-admin").await;
    let list = h2.get("/api/v1/reports", &gd_admin).await;
    assert_eq!(list.status, StatusCode::OK, "{backend}: {}", list.text);
    let row = list.json["reports"].as_array().unwrap().iter().find(|r| r["id"] == json!(id)).cloned().unwrap();
    assert_eq!(
        (&row["kind"], &row["lang"], &row["format"], &row["org_code"], &row["created_by"]),
        (&json!("inventory"), &json!("zh"), &json!("pdf"), &json!("CT-GD"), &json!("gd-admin")),
        "{backend}: {row}"
    );
    assert_eq!((&row["sha256"], &row["size"]), (&json!(sha), &json!(pdf.len())), "{backend}");
    // Five reports were made (a CSV, the PDF twice, the CSV and the PDF again after a later
    // waste entry); the refused one was not stored.
    assert_eq!(list.json["reports"].as_array().unwrap().len(), 5, "{backend}: {}", list.text);
    let f = h2.get(&format!("/api/v1/reports/{id}/file"), &gd_admin).await;
    assert_eq!(f.status, StatusCode::OK, "{backend}: {}", f.text);
    assert!(f.bytes == pdf, "{backend}: the stored file is the file made");
    assert_eq!(f.headers["x-content-sha256"].to_str().unwrap(), sha, "{backend}");
    assert_eq!(f.headers["x-report-hash"].to_str().unwrap(), job["result"]["hash"].as_str().unwrap(), "{backend}");
    // A user of another subsidiary neither lists nor downloads it; the group admin does.
    let bj = h2.login("bj-admin").await;
    assert_eq!(h2.get("/api/v1/reports", &bj).await.json["reports"], json!([]), "{backend}");
    let refused = h2.get(&format!("/api/v1/reports/{id}/file"), &bj).await;
    assert_eq!(
        (refused.status, &refused.json["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("out_of_scope")),
        "{backend}"
    );
    let admin = h2.login("admin").await;
    assert_eq!(h2.get(&format!("/api/v1/reports/{id}/file"), &admin).await.status, StatusCode::OK, "{backend}");
    assert_eq!(h2.get("/api/v1/reports/999999/file", &admin).await.status, StatusCode::NOT_FOUND, "{backend}");
    // The PostgreSQL client is dropped off the runtime's threads.
    tokio::task::spawn_blocking(move || drop((h2, app))).await.unwrap();
}

/// A day of hourly load for two cells of `station` (ITU 2023 layout), as the savings test has.
fn cells_csv(station: &str) -> String {
    let mut s = String::from("Time,BS,CellName,load\n");
    for h in 0..24 {
        let sun = ((h as f64 - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
        let (l0, l1) = (0.15 + 0.25 * sun, 0.02 + 0.4 * sun);
        s.push_str(&format!("3/1/2024 {h}:00,{station},Cell0,{l0:.4}\n3/1/2024 {h}:00,{station},Cell1,{l1:.4}\n"));
    }
    s
}
