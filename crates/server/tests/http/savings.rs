//! Measured base-station savings over the real router, against SQLite and, when configured,
//! PostgreSQL (store::testing): a saving run recorded for an org and a period becomes indicator
//! data of its stations (org indicators as ratios of sums), is refused a second time, refuses
//! stations outside the org, is audited, and becomes the measured result of the scenario measure.

use crate::harness::{fac, group_orgs, Platform, Reply, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A seeded platform with monitoring attached (one data-centre meter).
fn platform(name: &str) -> Platform {
    let orgs = group_orgs("CT-BJ");
    let facilities = vec![
        fac("GD1", "base_station_5g", "CT-GD", "广东"),
        fac("GD2", "base_station_5g", "CT-GD", "广东"),
        fac("GZ1", "base_station_5g", "CT-GD-GZ", "广东"),
        fac("BJ1", "base_station_5g", "CT-BJ", "北京"),
        fac("GDDC", "data_center", "CT-GD", "广东"),
    ];
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("employee", "employee", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("bj-filer", "data_filer", "CT-BJ"),
    ];
    Platform::new(name, Seed { orgs, facilities, users })
        .meters("meter_code,facility_code,role,kind\nDC-TOT,GDDC,total_facility,counter\n")
}

/// Three days of hourly load for two cells per station (a coverage cell and a capacity cell that
/// is nearly idle at night), in the ITU 2023 layout, stations named by facility code.
fn cells_csv(stations: &[&str]) -> String {
    let mut s = String::from("Time,BS,CellName,load\n");
    for (k, st) in stations.iter().enumerate() {
        for day in 1..=3 {
            for h in 0..24 {
                let sun = ((h as f64 - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
                let (l0, l1) = (0.15 + 0.25 * sun + 0.02 * k as f64, 0.02 + 0.4 * sun);
                s.push_str(&format!(
                    "3/{day}/2024 {h}:00,{st},Cell0,{l0:.4}\n3/{day}/2024 {h}:00,{st},Cell1,{l1:.4}\n"
                ));
            }
        }
    }
    s
}

fn indicator(r: &Reply, code: &str) -> Option<f64> {
    r.json["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == json!(code)).unwrap()["value"].as_f64()
}

/// What the platform stores: kWh rounded to a millionth (indicator values are exact millionths).
fn micro(v: f64) -> i128 {
    (v * 1e6).round() as i128
}

#[test]
fn a_recorded_saving_run_becomes_indicators_and_the_measured_result_once() {
    platform("savings_record").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        let url = "/api/v1/orgs/CT-GD/sites/bs-saving";
        let cells = cells_csv(&["GD1", "GZ1"]);
        let r = h.post(url, &filer, json!({"cells_csv": cells, "period": "2024-03"})).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        // The same computation as the stateless route.
        let plain = h.post("/api/v1/site/bs-saving", &filer, json!({"cells_csv": cells})).await;
        assert_eq!(r.json["saving"], plain.json["saving"], "{backend}");
        let stations = r.json["saving"]["by_station"].as_array().unwrap();
        assert_eq!(stations.len(), 2);
        let (mut saved, mut reference) = (0i128, 0i128);
        for s in stations {
            saved += micro(s["saved_kwh"].as_f64().unwrap());
            reference += micro(s["baseline_kwh"].as_f64().unwrap());
        }
        assert!(saved > 0 && saved < reference, "{backend}: a real saving: {saved} of {reference}");
        let share = saved as f64 / reference as f64;
        // Recorded: two components per station, named after the run.
        let recorded = r.json["recorded"].as_array().unwrap();
        assert_eq!(recorded.len(), 4, "{}", r.text);
        let hash = server_hash(&cells);
        for row in recorded {
            let src = row["source"].as_str().unwrap();
            assert!(src.starts_with(&format!("bs-saving sha256:{} model=tr38864-cat1-set1", &hash[..16])), "{src}");
            assert!(src.ends_with("grid=elec.nbs_average.CN.2022"), "{src}");
            assert_eq!(row["period"], json!("2024-03"));
        }
        let seq = r.json["audit_seq"].as_i64().unwrap();
        assert!(seq > 0);

        // Org indicators: a ratio of sums over the subtree (GZ1 belongs to a city of GD).
        let admin = h.login("admin").await;
        for org in ["CT-GD", "CT"] {
            let v = h.get(&format!("/api/v1/orgs/{org}/indicators?year=2024"), &admin).await;
            assert_eq!(v.status, StatusCode::OK, "{}", v.text);
            let got = indicator(&v, "bs_ai_saving_share").unwrap();
            assert!((got - 100.0 * share).abs() < 1e-9, "{backend} {org}: {got} vs {}", 100.0 * share);
            let kwh = indicator(&v, "bs_ai_saved_kwh").unwrap();
            assert!((kwh - saved as f64 / 1e6).abs() < 1e-6, "{kwh}");
        }
        let gz = h.get("/api/v1/orgs/CT-GD-GZ/indicators?year=2024", &admin).await;
        let gz1 = stations.iter().find(|s| s["station"] == json!("GZ1")).unwrap();
        let gz_share =
            micro(gz1["saved_kwh"].as_f64().unwrap()) as f64 / micro(gz1["baseline_kwh"].as_f64().unwrap()) as f64;
        assert!((indicator(&gz, "bs_ai_saving_share").unwrap() - 100.0 * gz_share).abs() < 1e-9);
        let bj = h.get("/api/v1/orgs/CT-BJ/indicators?year=2024", &admin).await;
        assert_eq!(indicator(&bj, "bs_ai_saving_share"), None);

        // The same period again, or the whole year over it: refused, nothing counted twice.
        for period in ["2024-03", "2024"] {
            let again = h.post(url, &filer, json!({"cells_csv": cells, "period": period})).await;
            assert_eq!(again.status, StatusCode::CONFLICT, "{backend} {period}: {}", again.text);
            assert_eq!(again.json["error"]["code"], json!("conflict"));
            let detail = again.json["error"]["detail"].to_string();
            assert!(detail.contains("GD1") && detail.contains("GZ1") && detail.contains("bs_ai_saved_kwh"), "{detail}");
        }
        let v = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &admin).await;
        assert!((indicator(&v, "bs_ai_saved_kwh").unwrap() - saved as f64 / 1e6).abs() < 1e-6, "not doubled");

        // Stations outside the org's subtree, or no facility at all: every one named, nothing recorded.
        let bad =
            h.post(url, &filer, json!({"cells_csv": cells_csv(&["GD2", "NOPE-7", "BJ1"]), "period": "2024-04"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        let detail: Vec<String> = serde_json::from_value(bad.json["error"]["detail"].clone()).unwrap();
        assert_eq!(detail.len(), 2, "{detail:?}");
        assert!(detail.iter().any(|d| d.contains("NOPE-7") && d.contains("not a facility")), "{detail:?}");
        assert!(detail.iter().any(|d| d.contains("BJ1") && d.contains("CT-BJ")), "{detail:?}");
        // A bad period and bad traffic are listed together.
        let bad = h.post(url, &filer, json!({"cells_csv": "Time,BS\n", "period": "2024-13"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", bad.text);
        let v = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &admin).await;
        assert!((indicator(&v, "bs_ai_saved_kwh").unwrap() - saved as f64 / 1e6).abs() < 1e-6, "nothing added");
        let file = {
            let store = h.app.store.clone();
            tokio::task::spawn_blocking(move || store.document(store::documents::INDICATOR_DATA).unwrap().unwrap())
                .await
                .unwrap()
        };
        assert_eq!(file.lines().count(), 1 + 4, "{file}");

        // Scope and role: Beijing cannot record for GD; an employee records nothing.
        let bjf = h.login("bj-filer").await;
        let r = h.post(url, &bjf, json!({"cells_csv": cells, "period": "2024-05"})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
        let emp = h.login("employee").await;
        let r = h.post("/api/v1/orgs/CT/sites/bs-saving", &emp, json!({"cells_csv": cells, "period": "2024-05"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // One audit entry, with every value recorded, in an intact chain.
        let audit = h.get("/api/v1/audit", &admin).await;
        let entries: Vec<&Value> = audit.json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == json!("site.bs_saving"))
            .collect();
        assert_eq!(entries.len(), 1, "{backend}: {}", audit.text);
        assert_eq!(entries[0]["seq"], json!(seq));
        assert_eq!(entries[0]["actor"], json!("gd-filer"));
        assert_eq!(entries[0]["org_code"], json!("CT-GD"));
        let after: Value = serde_json::from_str(entries[0]["after"].as_str().unwrap()).unwrap();
        assert_eq!(entries[0]["entity"], json!("bs-saving:CT-GD:2024-03"));
        assert_eq!(after["recorded"].as_array().map(|a| a.len()), Some(4), "{}", entries[0]);
        assert_eq!(after["cells_sha256"], json!(hash));
        let ok = h.get("/api/v1/audit/verify", &admin).await;
        assert_eq!(ok.json["verification"]["ok"], json!(true), "{}", ok.text);

        // The measured result of the scenario measure: Σ saved / Σ reference of the subtree.
        let m = h.get("/api/v1/orgs/CT-GD/scenario/measured", &filer).await;
        assert_eq!(m.status, StatusCode::OK, "{}", m.text);
        let list = m.json["measured"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", m.text);
        let x = &list[0];
        assert_eq!(x["measure_id"], json!("ai_bs_energy_saving"));
        assert!((x["value"].as_f64().unwrap() - share).abs() < 1e-12, "{x}");
        assert!((x["saved_kwh"].as_f64().unwrap() - saved as f64 / 1e6).abs() < 1e-6);
        assert!((x["reference_kwh"].as_f64().unwrap() - reference as f64 / 1e6).abs() < 1e-6);
        assert_eq!((x["facilities"].as_u64(), &x["periods"]), (Some(2), &json!(["2024-03"])));
        assert_eq!(x["sources"].as_array().unwrap().len(), 1);
        let none = h.get("/api/v1/orgs/CT-BJ/scenario/measured", &admin).await;
        assert_eq!(none.json["measured"], json!([]));
        assert_eq!(h.get("/api/v1/orgs/CT-BJ/scenario/measured", &filer).await.status, StatusCode::FORBIDDEN);

        // The scenario baseline of a GD snapshot carries the same measured list.
        let gd_admin = h.login("gd-admin").await;
        let f = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024-03"})).await;
        assert_eq!(f.status, StatusCode::CREATED, "{}", f.text);
        let id = f.json["filing"]["id"].as_i64().unwrap();
        let csv =
            "facility_code,period,carrier,quantity,unit,source_document\nGD1,2024-03,electricity,1200,kWh,bill-1\n\
                   GZ1,2024-03,electricity,900,kWh,bill-2\n";
        let up = h.request("POST", &format!("/api/v1/filings/{id}/upload"), Some(&filer), csv, "text/csv").await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text);
        assert_eq!(h.post(&format!("/api/v1/filings/{id}/submit"), &filer, json!({})).await.status, StatusCode::OK);
        assert_eq!(h.post(&format!("/api/v1/filings/{id}/approve"), &gd_admin, json!({})).await.status, StatusCode::OK);
        let s = h.post("/api/v1/inventories", &gd_admin, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
        let snap = s.json["snapshot"]["id"].as_i64().unwrap();
        let b = h.get(&format!("/api/v1/snapshots/{snap}/scenario/baseline"), &gd_admin).await;
        assert_eq!(b.status, StatusCode::OK, "{}", b.text);
        assert_eq!(b.json["measured"], m.json["measured"], "{backend}");
    });
}

fn server_hash(text: &str) -> String {
    store::sha256_hex(text.as_bytes())
}
