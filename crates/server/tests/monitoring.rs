//! Monitoring and indicators over the real router (issue 2): batches in JSON and CSV with scope
//! checks, live PUE per data centre and org, the SSE stream, roll-ups, alerts with acknowledgement,
//! indicator data, targets edited per org, progress and the scoreboard.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::App;
use std::sync::Arc;
use store::reference::{FacilityRecord, OrgRecord};
use store::Store;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

struct H {
    app: Arc<App>,
}

impl H {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: String,
        ctype: &str,
    ) -> (StatusCode, Value, String) {
        let mut req = Request::builder().method(method).uri(path).header("content-type", ctype);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = server::router(self.app.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
    }
    async fn get(&self, path: &str, t: &str) -> (StatusCode, Value, String) {
        self.call("GET", path, Some(t), String::new(), "application/json").await
    }
    async fn login(&self, user: &str) -> String {
        let (s, v, text) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                json!({"username": user, "password": PASSWORD}).to_string(),
                "application/json",
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{text}");
        v["token"].as_str().unwrap().to_string()
    }
}

fn org(code: &str, parent: Option<&str>) -> OrgRecord {
    OrgRecord {
        code: code.into(),
        name: code.into(),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

fn fac(code: &str, org: &str, province: &str) -> FacilityRecord {
    FacilityRecord {
        code: code.into(),
        name: code.into(),
        kind: "data_center".into(),
        org_code: org.into(),
        province: province.into(),
        allocation_share: String::new(),
        shared_with: String::new(),
    }
}

fn setup(dir: &std::path::Path) -> Arc<App> {
    let store = Store::open_sqlite_dir(&dir.join("db")).unwrap();
    store
        .upsert_reference(
            "test",
            &[org("CT", None), org("CT-GD", Some("CT")), org("CT-GD-GZ", Some("CT-GD")), org("CT-BJ", Some("CT"))],
            &[fac("DC-GZ", "CT-GD-GZ", "广东"), fac("DC-GD", "CT-GD", "广东"), fac("DC-BJ", "CT-BJ", "北京")],
        )
        .unwrap();
    let hash = server::auth::hash_password(PASSWORD).unwrap();
    for (u, role, o) in [
        ("admin", "group_admin", "CT"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("bj-admin", "org_admin", "CT-BJ"),
    ] {
        store.create_user("test", u, &hash, role, o).unwrap();
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("meters.csv"),
        "meter_code,facility_code,role,kind\nGZ-TOT,DC-GZ,total_facility,counter\nGZ-IT,DC-GZ,it_load,counter\n\
         GD-TOT,DC-GD,total_facility,counter\nGD-IT,DC-GD,it_load,counter\nBJ-TOT,DC-BJ,total_facility,counter\n",
    )
    .unwrap();
    let app = App::new(store, dir.join("spool"));
    assert!(platform::monitoring::attach(&app.platform, &data).unwrap().is_some());
    app
}

const T0: i64 = 1_714_492_800_000; // 2024-05-01T00:00:00+08:00
const Q: i64 = 900_000;

#[test]
fn telemetry_realtime_alerts_and_scope() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = setup(dir.path());
    rt.block_on(async {
        let h = H { app };
        let gd = h.login("gd-filer").await;
        // Monitoring routes refuse without a login.
        assert_eq!(h.call("GET", "/api/v1/orgs/CT-GD/realtime", None, String::new(), "application/json").await.0, StatusCode::UNAUTHORIZED);
        // GZ: PUE 1.6 (160/100 per quarter); GD: PUE 1.2 on 10× the IT load. Five quarters, CSV.
        let mut csv = String::from("meter,ts,value\n");
        for q in 0..=5i64 {
            let ts = T0 + q * Q;
            csv.push_str(&format!("GZ-TOT,{ts},{}\nGZ-IT,{ts},{}\nGD-TOT,{ts},{}\nGD-IT,{ts},{}\n", 160 * q, 100 * q, 1200 * q, 1000 * q));
        }
        csv.push_str(&format!("BJ-TOT,{T0},5\nGZ-TOT,{T0},0\nGZ-IT,later,1\n"));
        let (s, v, text) = h.call("POST", "/api/v1/telemetry/readings", Some(&gd), csv, "text/csv").await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let r = &v["report"];
        assert_eq!((v["stored"].as_u64(), r["duplicates"].as_u64(), r["rejected"].as_u64()), (Some(24), Some(1), Some(2)), "{text}");
        assert!(text.contains("outside your organisation's subtree"), "{text}");
        // JSON batch: one more quarter of GZ.
        let ts = T0 + 6 * Q;
        let body = json!({"readings": [{"meter": "GZ-TOT", "ts": ts, "value": 960}, {"meter": "GZ-IT", "ts": ts, "value": 600}]});
        let (s, v, _) = h.call("POST", "/api/v1/telemetry/readings", Some(&gd), body.to_string(), "application/json").await;
        assert_eq!((s, v["stored"].as_u64()), (StatusCode::OK, Some(2)));

        // The data centres' metered energy feeds the year's indicators: PUE as Σ total / Σ IT.
        let (_, v, text) = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &gd).await;
        let pue = v["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == "pue").unwrap()["value"].as_f64();
        assert!((pue.unwrap() - (960.0 + 6000.0) / (600.0 + 5000.0)).abs() < 1e-9, "{text}");

        let (s, v, text) = h.get("/api/v1/orgs/CT-GD/realtime", &gd).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let pue = v["live"]["pue_1h"].as_f64().unwrap();
        let expected = (4.0 * 160.0 + 4.0 * 1200.0) / (4.0 * 100.0 + 4.0 * 1000.0);
        assert!((pue - expected).abs() < 1e-9, "{pue} vs {expected}: {text}");
        assert_eq!(v["facilities"].as_array().unwrap().len(), 2);
        // Beijing is out of scope for a GD user, through the path and through the roll-up query.
        assert_eq!(h.get("/api/v1/orgs/CT-BJ/realtime", &gd).await.0, StatusCode::FORBIDDEN);
        let (s, v, text) = h.get("/api/v1/telemetry/rollup?facility=DC-GZ&role=it_load&period=hour&from=2024-05-01T00:00:00%2B08:00&to=2024-05-01T02:00:00%2B08:00", &gd).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        assert_eq!(v["rows"][0]["energy_kwh"].as_f64(), Some(400.0), "{text}");
        assert_eq!(h.get("/api/v1/telemetry/rollup?facility=DC-BJ&role=total_facility&from=0&to=1", &gd).await.0, StatusCode::FORBIDDEN);

        // GZ's PUE 1.6 has been above 1.5 for an hour: one open alert, visible to GD, not to BJ.
        let (_, v, text) = h.get("/api/v1/alerts?state=open", &gd).await;
        let alerts = v["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{text}");
        assert_eq!((alerts[0]["rule"].as_str(), alerts[0]["subject"].as_str()), (Some("pue_above_1_5_for_1h"), Some("facility:DC-GZ")));
        let id = alerts[0]["id"].as_u64().unwrap();
        let bj = h.login("bj-admin").await;
        assert!(h.get("/api/v1/alerts", &bj).await.1["alerts"].as_array().unwrap().is_empty());
        let ack = |t: String| {
            let h = &h;
            async move { h.call("POST", "/api/v1/alerts/acknowledge", Some(&t), json!({"id": id}).to_string(), "application/json").await }
        };
        assert_eq!(ack(bj.clone()).await.0, StatusCode::NOT_FOUND);
        assert_eq!(ack(gd.clone()).await.0, StatusCode::FORBIDDEN, "a data filer may not acknowledge");
        let gd_admin = h.login("gd-admin").await;
        let (s, v, text) = ack(gd_admin.clone()).await;
        assert_eq!((s, v["alert"]["state"].as_str()), (StatusCode::OK, Some("acknowledged")), "{text}");
        assert_eq!(ack(gd_admin.clone()).await.0, StatusCode::CONFLICT);
        let resolve = |t: String| {
            let h = &h;
            async move { h.call("POST", "/api/v1/alerts/resolve", Some(&t), json!({"id": id}).to_string(), "application/json").await }
        };
        assert_eq!(resolve(bj.clone()).await.0, StatusCode::NOT_FOUND, "outside the subtree");
        assert_eq!(resolve(gd.clone()).await.0, StatusCode::FORBIDDEN, "a data filer may not resolve");
        let (s, v, text) = resolve(gd_admin.clone()).await;
        assert_eq!((s, v["alert"]["state"].as_str()), (StatusCode::OK, Some("resolved")), "{text}");
        assert_eq!(v["alert"]["resolved_by"].as_str(), Some("gd-admin"));
        assert_eq!(resolve(gd_admin).await.0, StatusCode::CONFLICT, "already resolved");
    });
}

#[test]
fn sse_stream_carries_live_updates_within_scope() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = setup(dir.path());
    rt.block_on(async {
        let h = H { app: app.clone() };
        let gd = h.login("gd-filer").await;
        let req = Request::builder()
            .uri("/api/v1/telemetry/stream")
            .header("authorization", format!("Bearer {gd}"))
            .body(Body::empty())
            .unwrap();
        let res = server::router(app.clone()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let mut body = res.into_body();
        let admin = h.login("admin").await;
        let csv = format!(
            "GZ-TOT,{T0},0\nGZ-IT,{T0},0\nGZ-TOT,{},130\nGZ-IT,{},100\nBJ-TOT,{T0},1\nBJ-TOT,{},9\n",
            T0 + Q,
            T0 + Q,
            T0 + Q
        );
        let (s, _, text) = h.call("POST", "/api/v1/telemetry/readings", Some(&admin), csv, "text/csv").await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let mut seen = String::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !seen.contains("event: org") || !seen.contains("\"pue_1h\":1.3") {
            let frame =
                tokio::time::timeout_at(deadline, body.frame()).await.expect("stream events in time").unwrap().unwrap();
            if let Ok(d) = frame.into_data() {
                seen.push_str(&String::from_utf8_lossy(&d));
            }
        }
        assert!(seen.contains("event: facility") && seen.contains("DC-GZ"), "{seen}");
        assert!(!seen.contains("DC-BJ") && !seen.contains("CT-BJ"), "Beijing leaked into GD's stream: {seen}");
    });
}

#[test]
fn indicators_targets_and_scoreboard_over_the_api() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = setup(dir.path());
    rt.block_on(async {
        let h = H { app };
        let admin = h.login("admin").await;
        let gd_admin = h.login("gd-admin").await;
        let data = "org_code,facility_code,period,component,value\n\
                    CT-GD,,2020,energy_tce,100\nCT-GD,,2020,business_volume_10k_yuan,1000\nCT-GD,,2024,energy_tce,80\nCT-GD,,2024,business_volume_10k_yuan,1000\n\
                    CT-BJ,,2020,energy_tce,100\nCT-BJ,,2020,business_volume_10k_yuan,1000\nCT-BJ,,2024,energy_tce,90\nCT-BJ,,2024,business_volume_10k_yuan,1000\n";
        // GD may not file Beijing's numbers; the group may.
        let (s, _, _) = h.call("POST", "/api/v1/indicator-data", Some(&gd_admin), data.into(), "text/csv").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, v, text) = h.call("POST", "/api/v1/indicator-data", Some(&admin), data.into(), "text/csv").await;
        assert_eq!((s, v["added"].as_u64()), (StatusCode::OK, Some(8)), "{text}");
        let (s, v, _) = h.call("POST", "/api/v1/indicator-data", Some(&admin), "org_code,period,component,value\nCT-GD,2024-03,energy_tce,1\n".into(), "text/csv").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "year and month of one component must not both count: {v}");

        let (_, v, text) = h.get("/api/v1/orgs/CT/indicators?year=2024", &admin).await;
        let epb = v["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == "energy_per_business").unwrap().clone();
        assert!((epb["value"].as_f64().unwrap() - 170.0 / 2000.0).abs() < 1e-12, "{text}");
        let (_, v, text) = h.get("/api/v1/indicators", &gd_admin).await;
        assert!(v["indicators"].as_array().unwrap().len() >= 14, "{text}");

        let (_, v, text) = h.get("/api/v1/orgs/CT-GD/targets?year=2024", &gd_admin).await;
        let p = v["progress"].as_array().unwrap().iter().find(|p| p["target"] == "energy_per_business_down").unwrap().clone();
        assert!((p["progress"].as_f64().unwrap() - 0.20 / 0.23).abs() < 1e-9, "{text}");
        // The group sets GD −20 %: now met. A reason is required; Beijing cannot edit GD, and GD
        // cannot set its own targets (issue 11: only a parent org sets them).
        let edit = json!({"target": "energy_per_business_down", "value": -0.20, "reason": "provincial plan"});
        assert_eq!(h.call("PUT", "/api/v1/orgs/CT-GD/targets", Some(&admin), json!({"target": "energy_per_business_down", "value": -0.2}).to_string(), "application/json").await.0, StatusCode::BAD_REQUEST);
        let bj = h.login("bj-admin").await;
        assert_eq!(h.call("PUT", "/api/v1/orgs/CT-GD/targets", Some(&bj), edit.to_string(), "application/json").await.0, StatusCode::FORBIDDEN);
        assert_eq!(h.call("PUT", "/api/v1/orgs/CT-GD/targets", Some(&gd_admin), edit.to_string(), "application/json").await.0, StatusCode::FORBIDDEN);
        let (s, _, text) = h.call("PUT", "/api/v1/orgs/CT-GD/targets", Some(&admin), edit.to_string(), "application/json").await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let (_, v, _) = h.get("/api/v1/orgs/CT-GD/targets?year=2024", &gd_admin).await;
        let p = v["progress"].as_array().unwrap().iter().find(|p| p["target"] == "energy_per_business_down").unwrap().clone();
        assert_eq!((p["met"].as_bool(), p["progress"].as_f64()), (Some(true), Some(1.0)));
        assert!(h.app.store.document(store::documents::TARGETS).unwrap().unwrap().contains("provincial plan"));

        let (_, v, text) = h.get("/api/v1/orgs/CT/scoreboard?year=2024", &admin).await;
        let rows = v["rows"].as_array().unwrap();
        assert_eq!((rows[0]["org"].as_str(), rows[0]["rank"].as_u64()), (Some("CT-GD"), Some(1)), "{text}");
        assert_eq!(rows[1]["org"].as_str(), Some("CT-BJ"));
        assert_eq!(h.get("/api/v1/orgs/CT/scoreboard?year=2024", &gd_admin).await.0, StatusCode::FORBIDDEN);
    });
}
