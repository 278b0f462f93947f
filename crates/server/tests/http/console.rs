//! The web console's API (crates/server/src/console_api.rs) on SQLite and PostgreSQL: the
//! pre-aggregated overview and its monthly figures, facility activity, the factor library, import
//! and inventory jobs, the org-subtree scope of each, and the console's files at `/`.

use crate::harness::{electricity_csv, fac, group_orgs, Harness, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Polls a job until it ends.
async fn wait_job(h: &Harness, id: i64, token: &str) -> Value {
    for _ in 0..600 {
        let r = h.get(&format!("/api/v1/console/jobs?id={id}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let j = r.json["jobs"][0].clone();
        if j["status"] != json!("running") {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end in 60 s");
}

/// Group CT with provinces CT-GD (city CT-GD-GZ) and CT-BJ, two sites each.
fn platform(name: &str) -> Platform {
    let facilities = vec![
        fac("GD1", "base_station_5g", "CT-GD-GZ", "广东"),
        fac("GD2", "base_station_5g", "CT-GD", "广东"),
        fac("BJ1", "base_station_5g", "CT-BJ", "北京"),
        fac("BJ2", "base_station_5g", "CT-BJ", "北京"),
    ];
    let orgs = group_orgs("CT-BJ");
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("auditor", "auditor", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("bj-filer", "data_filer", "CT-BJ"),
        ("bj-admin", "org_admin", "CT-BJ"),
    ];
    Platform::new(name, Seed { orgs, facilities, users })
}

/// Files and approves months of electricity for an org: `rows` are (facility, period, kWh).
async fn file(h: &Harness, filer: &str, approver: &str, org: &str, period: &str, rows: &[(&str, &str)]) -> i64 {
    let rows: Vec<_> = rows.iter().map(|(f, q)| (f, period, q)).collect();
    h.file_approved(filer, approver, org, period, &electricity_csv(&rows)).await
}

async fn filed_group(h: &Harness) -> (String, i64) {
    let (gd, bj, gd_admin, bj_admin) =
        (h.login("gd-filer").await, h.login("bj-filer").await, h.login("gd-admin").await, h.login("bj-admin").await);
    file(h, &gd, &gd_admin, "CT-GD", "2024-01", &[("GD1", "1000"), ("GD2", "500")]).await;
    file(h, &gd, &gd_admin, "CT-GD", "2024-03", &[("GD1", "2000")]).await;
    file(h, &bj, &bj_admin, "CT-BJ", "2024-01", &[("BJ1", "4000"), ("BJ2", "100")]).await;
    let admin = h.login("admin").await;
    let snap = h.post("/api/v1/inventories", &admin, json!({"org_code": "CT", "year": 2024})).await;
    assert_eq!(snap.status, StatusCode::CREATED, "{}", snap.text);
    (admin, snap.json["snapshot"]["id"].as_i64().unwrap())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn overview_ranks_children_and_its_months_add_up_to_the_snapshot() {
    platform("console_overview").run(|h| async move {
        let backend = h.backend.clone();
        let (admin, snap) = filed_group(&h).await;
        let first = h.get("/api/v1/console/orgs/CT/overview?year=2024", &admin).await;
        assert_eq!(first.status, StatusCode::OK, "{backend}: {}", first.text);
        assert_eq!(first.json["snapshot"]["id"], json!(snap));
        // Children ranked by market-based total: Beijing filed more electricity than Guangdong.
        let kids: Vec<&str> =
            first.json["children"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
        assert_eq!(kids, ["CT-BJ", "CT-GD"], "{backend}");
        let ready = match first.json["monthly"]["status"].as_str() {
            Some("computing") => {
                let job = wait_job(&h, first.json["monthly"]["job"].as_i64().unwrap(), &admin).await;
                assert_eq!(job["status"], json!("done"), "{backend}: {job}");
                h.get("/api/v1/console/orgs/CT/overview?year=2024", &admin).await
            }
            _ => first.clone(),
        };
        assert_eq!(ready.json["monthly"]["status"], json!("ready"), "{backend}: {}", ready.text);
        for code in ["CT", "CT-GD", "CT-GD-GZ", "CT-BJ"] {
            let r = h.get(&format!("/api/v1/console/orgs/{code}/overview?year=2024"), &admin).await;
            let months = r.json["monthly"]["months"].as_array().unwrap();
            assert_eq!(months.len(), 12, "{backend} {code}");
            for fig in ["scope2_location", "scope2_market", "energy_tce", "total_market"] {
                let sum: f64 = months.iter().map(|m| m["totals"][fig].as_f64().unwrap()).sum();
                let total = r.json["figures"]["totals"][fig].as_f64().unwrap();
                assert!(close(sum, total), "{backend} {code} {fig}: months sum {sum}, total {total}");
                assert!(total > 0.0, "{backend} {code} {fig}");
            }
            // Guangdong filed January and March only.
            if code == "CT-GD" {
                let feb = months[1]["totals"]["total_market"].as_f64().unwrap();
                assert_eq!(feb, 0.0, "{backend}");
                assert!(months[2]["totals"]["total_market"].as_f64().unwrap() > 0.0);
            }
        }
        // The figures by month are kept in the database with the snapshot (its cells by org ×
        // facility type × month), so a restarted server does not recompute.
        let store = h.app.store.clone();
        let kept = tokio::task::spawn_blocking(move || store.snapshot_cells(snap).unwrap()).await.unwrap();
        assert!(kept.is_some_and(|cells| cells.iter().any(|c| c.month == 3)), "{backend}: snapshot {snap}");
    });
}

#[test]
fn console_routes_keep_a_province_within_its_subtree() {
    platform("console_scope").run(|h| async move {
        let backend = h.backend.clone();
        let (_admin, _) = filed_group(&h).await;
        let gd = h.login("gd-admin").await;
        let own = h.get("/api/v1/console/orgs/CT-GD/overview?year=2024", &gd).await;
        assert_eq!(own.status, StatusCode::OK, "{backend}: {}", own.text);
        assert_eq!(own.json["figures"]["key"], json!("CT-GD"), "{backend}: the group snapshot's row for CT-GD");
        assert!(!own.text.contains("CT-BJ"), "{backend}: {}", own.text);
        for path in [
            "/api/v1/console/orgs/CT-BJ/overview?year=2024",
            "/api/v1/console/orgs/CT/overview?year=2024",
            "/api/v1/console/orgs/CT-BJ/facilities/BJ1?year=2024",
        ] {
            let r = h.get(path, &gd).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend} {path}: {}", r.text);
            assert_eq!(r.json["error"]["code"], json!("out_of_scope"));
        }
        // A facility of another province named under one's own org is not found there.
        let r = h.get("/api/v1/console/orgs/CT-GD/facilities/BJ1?year=2024", &gd).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}: {}", r.text);
        let bj_filer = h.login("bj-filer").await;
        let gd_filer = h.login("gd-filer").await;
        let draft = h.post("/api/v1/filings", &gd_filer, json!({"org_code": "CT-GD", "period": "2024-05"})).await;
        let id = draft.json["filing"]["id"].as_i64().unwrap();
        let csv = "facility_code,period,carrier,quantity,unit\nGD1,2024-05,electricity,1,kWh\n".to_string();
        let r = h.request("POST", &format!("/api/v1/filings/{id}/import-job"), Some(&bj_filer), csv, "text/csv").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend}: {}", r.text);
        let r = h.post("/api/v1/console/inventory-jobs", &gd, json!({"org_code": "CT", "year": 2024})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend}: {}", r.text);
        let auditor = h.login("auditor").await;
        let r = h.post("/api/v1/console/inventory-jobs", &auditor, json!({"org_code": "CT", "year": 2024})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend}: an auditor cannot run inventories: {}", r.text);
    });
}

#[test]
fn facility_page_lists_every_filed_record_with_its_filing_and_line() {
    platform("console_facility").run(|h| async move {
        let backend = h.backend.clone();
        let (admin, _) = filed_group(&h).await;
        let gd = h.login("gd-admin").await;
        let r = h.get("/api/v1/console/orgs/CT-GD/facilities/GD1?year=2024", &gd).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        let recs = r.json["records"].as_array().unwrap();
        let got: Vec<(&str, &str, i64)> = recs
            .iter()
            .map(|x| (x["period"].as_str().unwrap(), x["quantity"].as_str().unwrap(), x["line"].as_i64().unwrap()))
            .collect();
        assert_eq!(got, [("2024-01", "1000", 2), ("2024-03", "2000", 2)], "{backend}");
        assert!(recs.iter().all(|x| x["filing_id"].as_i64().is_some()));
        assert_eq!(r.json["facility"]["org_code"], json!("CT-GD-GZ"));
        let none = h.get("/api/v1/console/orgs/CT/facilities/GD1?year=2023", &admin).await;
        assert_eq!(none.json["records"], json!([]), "{backend}");
        let no_year = h.get("/api/v1/console/orgs/CT/facilities/GD1", &admin).await;
        assert_eq!(no_year.status, StatusCode::BAD_REQUEST, "{backend}");
    });
}

#[test]
fn import_and_inventory_jobs_report_their_outcome_to_their_owner() {
    platform("console_jobs").run(|h| async move {
        let backend = h.backend.clone();
        let gd = h.login("gd-filer").await;
        let draft = h.post("/api/v1/filings", &gd, json!({"org_code": "CT-GD", "period": "2024-02"})).await;
        let id = draft.json["filing"]["id"].as_i64().unwrap();
        let csv = "facility_code,period,carrier,quantity,unit\nGD1,2024-02,electricity,12.5,kWh\nGD2,2024-02,electricity,-3,kWh\n";
        let r =
            h.request("POST", &format!("/api/v1/filings/{id}/import-job"), Some(&gd), csv, "text/csv").await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{backend}: {}", r.text);
        assert_eq!(r.json["job"]["target"], json!(format!("filing/{id}")));
        let job = wait_job(&h, r.json["job"]["id"].as_i64().unwrap(), &gd).await;
        assert_eq!(job["status"], json!("done"), "{backend}: {job}");
        assert_eq!((job["result"]["accepted"].as_i64(), job["result"]["rejected"].as_i64()), (Some(1), Some(1)));
        let rejected = &job["result"]["rejected_rows"][0];
        assert_eq!(rejected["row"]["line"], json!(3), "{backend}: {job}");
        assert!(rejected["reasons"].as_str().unwrap().contains("negative quantity"), "{backend}: {job}");
        // The same rows through the job and through the upload route are one upload (idempotent).
        let again =
            h.request("POST", &format!("/api/v1/filings/{id}/upload"), Some(&gd), csv, "text/csv").await;
        assert_eq!(again.json["new"], json!(false), "{backend}: {}", again.text);
        // Another user does not see the job.
        let other = h.login("gd-admin").await;
        let r = h.get(&format!("/api/v1/console/jobs?id={}", job["id"]), &other).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}: {}", r.text);

        // An inventory run as a job makes a snapshot; a bad option is refused before it starts.
        let gd_admin = h.login("gd-admin").await;
        h.post(&format!("/api/v1/filings/{id}/submit"), &gd, json!({})).await;
        h.post(&format!("/api/v1/filings/{id}/approve"), &gd_admin, json!({})).await;
        let bad = h
            .post(
                "/api/v1/console/inventory-jobs",
                &gd_admin,
                json!({"org_code": "CT-GD", "year": 2024, "options": {"gwp": "AR9"}}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{backend}: {}", bad.text);
        let r = h.post("/api/v1/console/inventory-jobs", &gd_admin, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{backend}: {}", r.text);
        let job = wait_job(&h, r.json["job"]["id"].as_i64().unwrap(), &gd_admin).await;
        assert_eq!(job["status"], json!("done"), "{backend}: {job}");
        let snap = job["result"]["snapshot"].as_i64().unwrap();
        let s = h.get(&format!("/api/v1/snapshots/{snap}"), &gd_admin).await;
        assert_eq!(s.json["snapshot"]["org_code"], json!("CT-GD"), "{backend}");
        let list = h.get("/api/v1/console/jobs", &gd_admin).await;
        assert_eq!(list.json["jobs"][0]["id"], job["id"], "{backend}: newest first");
    });
}

#[test]
fn factor_library_lists_every_factor_with_its_source() {
    platform("console_factors").run(|h| async move {
        let backend = h.backend.clone();
        let auditor = h.login("auditor").await;
        let r = h.get("/api/v1/console/factors", &auditor).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        let shipped = factors::Library::shipped();
        assert_eq!(r.json["factors"].as_array().unwrap().len(), shipped.factors.len(), "{backend}");
        assert_eq!(r.json["version"], json!(shipped.version()));
        assert!(r.json["factors"].as_array().unwrap().iter().all(|f| !f["source"].as_str().unwrap_or("").is_empty()));
    });
}

#[test]
fn the_console_is_served_at_the_root_with_a_single_page_fallback() {
    platform("console_files").run(|h| async move {
        let backend = h.backend.clone();
        for path in ["/", "/overview/CT", "/filings/12"] {
            let r = h.request("GET", path, None, "", "").await;
            assert_eq!(r.status, StatusCode::OK, "{backend} {path}");
            assert!(r.content_type.starts_with("text/html"), "{backend} {path}: {}", r.content_type);
            if console::is_built() {
                assert!(r.text.contains("<div id=\"app\">"), "{backend} {path}");
            } else {
                assert!(r.text.contains("npm run build"), "{backend} {path}");
            }
        }
        let api = h.request("GET", "/api/v1/no/such/route", None, "", "").await;
        assert_eq!((api.status, api.json["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_route")));
        let missing = h.request("GET", "/assets/missing-0000.js", None, "", "").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{backend}");
    });
}

#[test]
fn an_import_job_reads_an_xlsx_workbook_like_the_upload_route() {
    platform("console_xlsx").run(|h| async move {
        let backend = h.backend.clone();
        let gd = h.login("gd-filer").await;
        let draft = h.post("/api/v1/filings", &gd, json!({"org_code": "CT-GD", "period": "2024-06"})).await;
        let id = draft.json["filing"]["id"].as_i64().unwrap();
        let rows: Vec<Vec<String>> = [
            ["facility_code", "period", "carrier", "quantity", "unit"],
            ["GD1", "2024-06", "electricity", "3100.5", "kWh"],
            ["GD2", "2024-06", "electricity", "lots", "kWh"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        let book = platform::xlsx::workbook("activity", &rows).unwrap();
        let path = format!("/api/v1/filings/{id}/import-job");
        let r = h.request("POST", &path, Some(&gd), book, server::openapi::XLSX_MEDIA).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{backend}: {}", r.text);
        let job = wait_job(&h, r.json["job"]["id"].as_i64().unwrap(), &gd).await;
        assert_eq!(job["status"], json!("done"), "{backend}: {job}");
        assert_eq!((job["result"]["accepted"].as_i64(), job["result"]["rejected"].as_i64()), (Some(1), Some(1)));
        assert_eq!(job["result"]["rejected_rows"][0]["row"]["line"], json!(3), "{backend}: {job}");
        let rows = h.get(&format!("/api/v1/filings/{id}/rows"), &gd).await;
        assert_eq!(rows.json["rows"][0]["quantity"], json!("3100.5"), "{backend}: {}", rows.text);
    });
}

#[test]
fn overview_shows_an_orgs_own_facilities_beside_its_children_and_they_add_up() {
    platform("console_own").run(|h| async move {
        let backend = h.backend.clone();
        let (admin, _) = filed_group(&h).await;
        for (code, has_own) in [("CT", false), ("CT-GD", true)] {
            let r = h.get(&format!("/api/v1/console/orgs/{code}/overview?year=2024"), &admin).await;
            assert_eq!(r.json["monthly"]["status"], json!("ready"), "{backend}: kept with the snapshot: {}", r.text);
            let own = r.json["monthly"]["own"]["total_market"].as_f64().unwrap();
            // GD2 is attached to the province itself (本级); the group has no facility of its own.
            assert_eq!(own > 0.0, has_own, "{backend} {code}: own {own}");
            for fig in ["total_market", "total_location", "energy_tce"] {
                let children: f64 =
                    r.json["children"].as_array().unwrap().iter().map(|c| c["totals"][fig].as_f64().unwrap()).sum();
                let own = r.json["monthly"]["own"][fig].as_f64().unwrap();
                let total = r.json["figures"]["totals"][fig].as_f64().unwrap();
                assert!(
                    close(children + own, total),
                    "{backend} {code} {fig}: children {children} + own {own} ≠ {total}"
                );
            }
        }
    });
}
