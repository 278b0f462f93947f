//! Platform data lives in the database (issue 12): a data directory of an earlier release is
//! migrated on first start (each file imported once with a `platform.import` audit entry, then
//! set aside as `NAME.imported`); alert state (acknowledged by whom) and indicator data survive a
//! restart; an acknowledgement is audited with the state it stores. SQLite and PostgreSQL.

use crate::harness::{attach_monitoring, fac, org, reopenable, runtime, App, Harness, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

const T0: i64 = 1_714_492_800_000; // 2024-05-01T00:00:00+08:00
const Q: i64 = 900_000;

fn seed() -> Seed {
    Seed {
        orgs: vec![org("CT", None), org("CT-GD", Some("CT")), org("CT-BJ", Some("CT"))],
        facilities: vec![fac("GDDC", "data_center", "CT-GD", "广东"), fac("BJDC", "data_center", "CT-BJ", "北京")],
        users: vec![
            ("admin", "group_admin", "CT"),
            ("gd-admin", "org_admin", "CT-GD"),
            ("gd-filer", "data_filer", "CT-GD"),
        ],
    }
}

async fn audited(h: &Harness, token: &str, action: &str) -> Vec<Value> {
    let r = h.get("/api/v1/audit", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["entries"].as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
}

#[test]
fn a_data_directory_is_imported_once_and_alert_state_survives_a_restart() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    for (backend, open) in reopenable("platform_data", dir.path()) {
        let data = dir.path().join(format!("data-{backend}"));
        std::fs::create_dir_all(&data).unwrap();
        // The files of the current release's data directory.
        std::fs::write(
            data.join("meters.csv"),
            "meter_code,facility_code,role,kind\nGD-TOT,GDDC,total_facility,counter\nGD-IT,GDDC,it_load,counter\n",
        )
        .unwrap();
        std::fs::write(data.join("indicator-data.csv"), "org_code,period,component,value\nCT-GD,2024,dc_water_l,260\n")
            .unwrap();
        let store = open();
        seed().apply(&store);
        let app = App::new(store, dir.path().join(format!("spool-{backend}")));
        assert!(attach_monitoring(&app, &data).unwrap().is_some(), "{backend}");
        for name in ["meters.csv", "indicator-data.csv"] {
            assert!(!data.join(name).exists(), "{backend}: {name} set aside");
            assert!(data.join(format!("{name}.imported")).exists(), "{backend}: {name}.imported kept");
        }
        assert!(app.store.document("meters.csv").unwrap().unwrap().contains("GD-IT"), "{backend}");
        let id = rt.block_on(async {
            let h = Harness::on(app.clone(), &backend);
            let admin = h.login("admin").await;
            let imports = audited(&h, &admin, "platform.import").await;
            let files: Vec<&str> = imports.iter().map(|e| e["entity"].as_str().unwrap()).collect();
            assert_eq!(files, vec!["document:meters.csv", "document:indicator-data.csv"], "{backend}: {imports:?}");
            // PUE 1.6 for an hour and a quarter: one open alert.
            let mut csv = String::from("meter,ts,value\n");
            for q in 0..=5i64 {
                csv.push_str(&format!("GD-TOT,{},{}\nGD-IT,{},{}\n", T0 + q * Q, 160 * q, T0 + q * Q, 100 * q));
            }
            let filer = h.login("gd-filer").await;
            let r = h.request("POST", "/api/v1/telemetry/readings", Some(&filer), csv, "text/csv").await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
            let r = h.get("/api/v1/alerts?state=open", &admin).await;
            let alerts = r.json["alerts"].as_array().unwrap().clone();
            assert_eq!(alerts.len(), 1, "{backend}: {}", r.text);
            let id = alerts[0]["id"].as_u64().unwrap();
            let gd_admin = h.login("gd-admin").await;
            let r = h.post("/api/v1/alerts/acknowledge", &gd_admin, json!({"id": id})).await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
            // Meters over the API: checked, scoped, audited, and monitoring follows at once.
            let post_meters = |token: String, body: &'static str| {
                let h = &h;
                async move { h.request("POST", "/api/v1/meters", Some(&token), body.to_string(), "text/csv").await }
            };
            let r = post_meters(gd_admin.clone(), "meter_code,facility_code,role,kind\nBJ-TOT,BJDC,total_facility,counter\n").await;
            assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{backend}: reference data is the group admin's: {}", r.text);
            let r = post_meters(admin.clone(), "meter_code,facility_code,role,kind\nBJ-TOT,NOWHERE,total_facility,counter\nBJ-X,BJDC,sideways,counter\n").await;
            assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_meters")), "{backend}: {}", r.text);
            assert_eq!(r.json["error"]["detail"].as_array().map(Vec::len), Some(2), "{backend}: every problem: {}", r.text);
            let body = "meter_code,facility_code,role,kind\nBJ-TOT,BJDC,total_facility,counter\nGD-IT,GDDC,it_load,counter\n";
            let r = post_meters(admin.clone(), body).await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
            assert_eq!((r.json["added"].clone(), r.json["unchanged"].as_u64(), r.json["meters"].as_u64()), (json!(["BJ-TOT"]), Some(1), Some(3)), "{backend}: {}", r.text);
            let again = post_meters(admin.clone(), body).await;
            assert_eq!((again.json["added"].clone(), again.json["audit_seq"].clone()), (json!([]), Value::Null), "{backend}: idempotent: {}", again.text);
            assert_eq!(audited(&h, &admin, "reference.meters").await.len(), 1, "{backend}");
            let r = h.request("POST", "/api/v1/telemetry/readings", Some(&admin), format!("meter,ts,value\nBJ-TOT,{T0},5\nBJ-TOT,{},6\n", T0 + Q), "text/csv").await;
            assert_eq!((r.status, r.json["stored"].as_u64()), (StatusCode::OK, Some(2)), "{backend}: the new meter without a restart: {}", r.text);
            let r = h.get("/api/v1/orgs/CT-BJ/realtime", &admin).await;
            assert_eq!(r.json["facilities"][0]["facility"], "BJDC", "{backend}: {}", r.text);
            let r = h.get("/api/v1/orgs/CT-GD/realtime", &admin).await;
            let pue = r.json["live"]["pue_1h"].as_f64().unwrap_or(0.0);
            assert!((pue - 1.6).abs() < 1e-9, "{backend}: GD's readings applied again under the new registry: {}", r.text);
            // GD's alert (acknowledged) went over to the new state.
            let r = h.get("/api/v1/alerts?state=acknowledged", &admin).await;
            assert_eq!(r.json["alerts"].as_array().map(Vec::len), Some(1), "{backend}: {}", r.text);
            // A new org reaches monitoring without a restart: its indicator data is accepted.
            let orgs = "org_code,name,parent_code\nCT,CT,\nCT-GD,CT-GD,CT\nCT-BJ,CT-BJ,CT\nCT-SH,CT-SH,CT\n";
            let r = h.request("POST", "/api/v1/reference/orgs", Some(&admin), orgs.to_string(), "text/csv").await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
            let r = h.request("POST", "/api/v1/indicator-data", Some(&admin), "org_code,period,component,value\nCT-SH,2024,dc_water_l,10\n", "text/csv").await;
            assert_eq!((r.status, r.json["added"].as_u64()), (StatusCode::OK, Some(1)), "{backend}: {}", r.text);
            let acks = audited(&h, &admin, "alerts.acknowledge").await;
            assert_eq!(acks.len(), 1, "{backend}: {acks:?}");
            assert_eq!(
                (acks[0]["actor"].as_str(), acks[0]["entity"].as_str()),
                (Some("gd-admin"), Some(format!("alert:{id}").as_str()))
            );
            id
        });
        drop(app);

        // A restart: a new store on the same database, the same data directory.
        let app = App::new(open(), dir.path().join(format!("spool-{backend}")));
        assert!(attach_monitoring(&app, &data).unwrap().is_some(), "{backend}: meters from the database");
        rt.block_on(async {
            let h = Harness::on(app.clone(), &backend);
            let admin = h.login("admin").await;
            let r = h.get("/api/v1/alerts", &admin).await;
            let alerts = r.json["alerts"].as_array().unwrap();
            assert_eq!(alerts.len(), 1, "{backend}: {}", r.text);
            assert_eq!(alerts[0]["id"].as_u64(), Some(id));
            assert_eq!(alerts[0]["state"], "acknowledged", "{backend}: {}", r.text);
            assert_eq!(alerts[0]["acknowledged_by"], "gd-admin", "{backend}");
            // Meters added over the API are registered after the restart.
            let r = h.get("/api/v1/meters", &admin).await;
            let codes: Vec<&str> =
                r.json["meters"].as_array().unwrap().iter().map(|m| m["code"].as_str().unwrap()).collect();
            assert_eq!(codes, vec!["GD-TOT", "GD-IT", "BJ-TOT"], "{backend}: {}", r.text);
            // Indicator data imported once is still there, and nothing was imported again.
            let r = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &admin).await;
            let wue = r.json["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == "wue").unwrap()
                ["value"]
                .as_f64();
            assert_eq!(wue, Some(0.52), "{backend}: 260 L of imported water over 500 kWh of IT load: {}", r.text);
            assert_eq!(audited(&h, &admin, "platform.import").await.len(), 2, "{backend}");
            // The acknowledged alert resolves by hand, audited, and stays resolved in the store.
            let r = h.post("/api/v1/alerts/resolve", &admin, json!({"id": id})).await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
            assert_eq!(audited(&h, &admin, "alerts.resolve").await.len(), 1, "{backend}");
            let store = app.store.clone();
            let kept = tokio::task::spawn_blocking(move || store.document("alert-state.json").unwrap().unwrap())
                .await
                .unwrap();
            assert!(kept.contains("\"resolved\""), "{backend}: {kept}");
        });
        // A file put back under its old name is not imported over the database's document.
        std::fs::write(data.join("meters.csv"), "meter_code,facility_code,role,kind\n").unwrap();
        let app: Arc<App> = App::new(open(), dir.path().join(format!("spool-{backend}")));
        assert!(attach_monitoring(&app, &data).unwrap().is_some(), "{backend}");
        assert!(app.store.document("meters.csv").unwrap().unwrap().contains("GD-IT"), "{backend}");
        assert!(
            data.join("meters.csv.not-imported").exists() && data.join("meters.csv.imported").exists(),
            "{backend}"
        );
        let v = app.store.verify_audit().unwrap();
        assert!(v.ok, "{backend}: {:?}", v.problems);
    }
}
