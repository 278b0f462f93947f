//! Ranges and who may change targets: bounded years and counts on every route (one rule, 400
//! `out_of_range`), targets set only by a parent org and audited, indicator data audited and
//! counted once, readings within a physical range, the event stream within the caller's subtree.

use super::*;

/// Attaches monitoring to the harness's platform: one grid-import power meter at GD1 (CT-GD-GZ)
/// and one at ZJ1 (CT-ZJ).
fn monitored(h: &Harness) -> std::path::PathBuf {
    h.attach_meters("meter_code,facility_code,role,kind\nGD1-P,GD1,grid_import,power\nZJ1-P,ZJ1,grid_import,power\n")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn put(h: &Harness, path: &str, token: &str, body: Value) -> Reply {
    h.call("PUT", path, token, Some(body)).await
}

async fn csv(h: &Harness, path: &str, token: &str, body: &str) -> Reply {
    let auth = format!("Bearer {token}");
    h.raw("POST", path, &[("authorization", &auth), ("content-type", "text/csv")], body.as_bytes().to_vec()).await
}

/// Audit entries with `action`, as the group admin reads them.
async fn audited(h: &Harness, action: &str) -> Vec<Value> {
    let admin = h.login("admin").await;
    let r = h.get("/api/v1/audit?limit=10000", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["entries"].as_array().unwrap().iter().filter(|e| e["action"] == action).cloned().collect()
}

fn assert_out_of_range(r: &Reply, parameter: &str, what: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
    assert_eq!(r.json["error"]["code"], "out_of_range", "{what}: {}", r.text);
    assert_eq!(r.json["error"]["detail"]["parameter"], parameter, "{what}: {}", r.text);
    let message = r.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(parameter) && message.contains("expected"), "{what}: {message}");
}

#[test]
fn far_years_and_unbounded_counts_are_refused_before_any_work() {
    both("sec_bounds_years", |h| async move {
        monitored(&h);
        let employee = h.login("employee").await;
        let admin = h.login("admin").await;
        let gd_filer = h.login("gd-filer").await;
        // Issue 11 item 5: this one GET grew to 24 GB and was OOM-killed.
        for path in [
            "/api/v1/orgs/CT-GD/targets?year=2147483647",
            "/api/v1/orgs/CT/scoreboard?year=2147483647",
            "/api/v1/orgs/CT-GD/indicators?year=-2147483648",
            "/api/v1/orgs/CT-GD/dashboard?year=99999",
            "/api/v1/console/orgs/CT-GD/overview?year=-5",
        ] {
            let r = h.get(path, &employee).await;
            assert_out_of_range(&r, "year", &format!("{} {path}", h.backend));
        }
        for (path, parameter) in [
            ("/api/v1/orgs/CT-GD/quality?year=-5", "year"),
            ("/api/v1/console/orgs/CT-GD/facilities/GD1?year=3000", "year"),
            ("/api/v1/orgs/CT-GD/scenario/trend?horizon=1000000", "horizon"),
            ("/api/v1/orgs/CT-GD-GZ/sites/GD1/state?hours=4000000000", "hours"),
            ("/api/v1/audit?limit=0", "limit"),
            ("/api/v1/audit?limit=99999999", "limit"),
            ("/api/v1/telemetry/rollup?facility=GD1&role=grid_import&period=hour&from=0&to=253402300799000", "from"),
            ("/api/v1/telemetry/rollup?facility=GD1&role=grid_import&period=hour&from=1714492800000&to=253402300799000", "to"),
        ] {
            let r = h.get(path, &admin).await;
            assert_out_of_range(&r, parameter, &format!("{} {path}", h.backend));
        }
        let id = h.open_filing(&gd_filer, "CT-GD", "2025-07").await;
        let r = h.get(&format!("/api/v1/filings/{id}/rows?limit=100000000"), &gd_filer).await;
        assert_out_of_range(&r, "limit", "rows");
        let r = h.get(&format!("/api/v1/filings/{id}/rows?offset=-1"), &gd_filer).await;
        assert_out_of_range(&r, "offset", "rows");
        // An inventory for year −5 was accepted.
        let r = h.post("/api/v1/inventories", &admin, json!({"org_code": "CT", "year": -5})).await;
        assert_out_of_range(&r, "year", "inventory");
        let r = h.post("/api/v1/console/inventory-jobs", &admin, json!({"org_code": "CT", "year": 2147483647})).await;
        assert_out_of_range(&r, "year", "inventory job");
        // A target change's years.
        let edit = json!({"target": "new_bs5g_saving", "year": 2147483647, "reason": "x"});
        assert_out_of_range(&put(&h, "/api/v1/orgs/CT-GD/targets", &admin, edit).await, "year", "target year");
        let edit = json!({"target": "new_bs5g_saving", "base_year": -2147483648i64, "reason": "x"});
        assert_out_of_range(&put(&h, "/api/v1/orgs/CT-GD/targets", &admin, edit).await, "base_year", "target base");
        // A year inside the range still answers.
        let r = h.get("/api/v1/orgs/CT-GD/targets?year=2024", &employee).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    });
}

#[test]
fn a_scenario_baseline_year_is_bounded() {
    both("sec_bounds_scenario", |h| async move {
        let admin = h.login("admin").await;
        // The model runs year by year from the baseline's year, which the client sends back.
        let baseline = json!({"base_year": -2147483648i64, "provinces": [], "source": "probe"});
        let r = h.post("/api/v1/scenario/run", &admin, json!({"baseline": baseline, "scenario": {}})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", h.backend, r.text);
        assert!(r.text.contains("base_year"), "{}", r.text);
        let baseline = json!({"base_year": 2024, "provinces": [], "source": "probe"});
        let r = h
            .post("/api/v1/scenario/macc", &admin, json!({"baseline": baseline, "scenario": {}, "start": 2147483647}))
            .await;
        assert_out_of_range(&r, "start", "macc start");
    });
}

#[test]
fn targets_are_set_only_from_a_parent_org_validated_and_audited() {
    both("sec_bounds_targets", |h| async move {
        monitored(&h);
        let path = "/api/v1/orgs/CT-GD/targets";
        let edit = json!({"target": "new_bs5g_saving", "value": 0.5, "weight": 0, "reason": "own target"});
        // Issue 11 item 10: the province's reviewer set its own target (goal 20 → 0.5, weight 1 → 0).
        for user in ["gd-reviewer", "gd-admin"] {
            let t = h.login(user).await;
            let r = put(&h, path, &t, edit.clone()).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{} {user}: {}", h.backend, r.text);
        }
        let gz = h.login("gz-admin").await;
        assert_eq!(put(&h, "/api/v1/orgs/CT-GD-GZ/targets", &gz, edit.clone()).await.status, StatusCode::FORBIDDEN);
        let gd_admin = h.login("gd-admin").await;
        assert_eq!(put(&h, "/api/v1/orgs/CT/targets", &gd_admin, edit.clone()).await.status, StatusCode::FORBIDDEN);
        let zj = h.login("zj-admin").await;
        assert_eq!(put(&h, path, &zj, edit.clone()).await.status, StatusCode::FORBIDDEN);
        let employee = h.login("employee").await;
        let r = h.get("/api/v1/orgs/CT-GD/targets?year=2024", &employee).await;
        let goal =
            |v: &Value| v["targets"].as_array().unwrap().iter().find(|t| t["id"] == "new_bs5g_saving").unwrap().clone();
        assert_eq!((goal(&r.json)["value"].as_f64(), goal(&r.json)["weight"].as_f64()), (Some(20.0), Some(1.0)));
        assert!(audited(&h, "indicators.target").await.is_empty());

        // Values and weights are checked: every problem, nothing changed.
        let admin = h.login("admin").await;
        for bad in [
            json!({"target": "new_bs5g_saving", "weight": -100, "reason": "x"}),
            json!({"target": "new_bs5g_saving", "value": 1e308, "reason": "x"}),
            json!({"target": "new_bs5g_saving", "value": 500, "reason": "x"}),
            json!({"target": "energy_per_business_down", "value": -7, "reason": "x"}),
            json!({"target": "new_bs5g_saving", "base_year": 2026, "reason": "x"}),
        ] {
            let r = put(&h, path, &admin, bad.clone()).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{} {bad}: {}", h.backend, r.text);
            assert_eq!(r.json["error"]["code"], "invalid_target", "{}", r.text);
        }
        assert!(audited(&h, "indicators.target").await.is_empty());

        // The parent sets it: changed, and one audit entry with the old and new value and the reason.
        let r = put(
            &h,
            path,
            &admin,
            json!({"target": "new_bs5g_saving", "value": 25, "weight": 2, "reason": "2026 plan"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        let r = h.get("/api/v1/orgs/CT-GD-GZ/targets?year=2024", &employee).await;
        assert_eq!((goal(&r.json)["value"].as_f64(), goal(&r.json)["weight"].as_f64()), (Some(25.0), Some(2.0)));
        let entries = audited(&h, "indicators.target").await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        let (before, after): (Value, Value) = (
            serde_json::from_str(entries[0]["before"].as_str().unwrap()).unwrap(),
            serde_json::from_str(entries[0]["after"].as_str().unwrap()).unwrap(),
        );
        assert_eq!((before["target"]["value"].as_f64(), after["target"]["value"].as_f64()), (Some(20.0), Some(25.0)));
        assert!(after["reason"].as_str().unwrap().contains("2026 plan"), "{after}");
        assert_eq!((entries[0]["actor"].as_str(), entries[0]["org_code"].as_str()), (Some("admin"), Some("CT-GD")));
        assert!({
            let store = h.app.store.clone();
            tokio::task::spawn_blocking(move || store.document(store::documents::TARGETS).unwrap().unwrap())
                .await
                .unwrap()
        }
        .contains("2026 plan"));
        // A province sets its city's; the group admin the group's own.
        let r = put(
            &h,
            "/api/v1/orgs/CT-GD-GZ/targets",
            &gd_admin,
            json!({"target": "new_bs5g_saving", "value": 30, "reason": "city"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = put(
            &h,
            "/api/v1/orgs/CT/targets",
            &admin,
            json!({"target": "new_bs5g_saving", "value": 22, "reason": "group"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(audited(&h, "indicators.target").await.len(), 3);
        let v = h.get("/api/v1/audit/verify", &admin).await;
        assert_eq!(v.json["verification"]["ok"], json!(true), "{}", v.text);
    });
}

#[test]
fn indicator_data_is_audited_and_counted_once() {
    both("sec_bounds_indicator_data", |h| async move {
        monitored(&h);
        let admin = h.login("admin").await;
        let body = "org_code,facility_code,period,component,value,source\n\
                    CT-GD,,2024,energy_tce,80,bill-1\nCT-GD,,2024,business_volume_10k_yuan,1000,bill-1\n\
                    ,GD1,2024,energy_tce,5,\n";
        let r = csv(&h, "/api/v1/indicator-data", &admin, body).await;
        assert_eq!((r.status, r.json["added"].as_u64()), (StatusCode::OK, Some(3)), "{}: {}", h.backend, r.text);
        // Issue 11 item 10: the same body posted twice was stored twice.
        let r = csv(&h, "/api/v1/indicator-data", &admin, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!((r.json["added"].as_u64(), r.json["unchanged"].as_u64()), (Some(0), Some(3)), "{}", r.text);
        let v = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &admin).await;
        let epb =
            v.json["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == "energy_per_business").unwrap()
                ["value"]
                .as_f64();
        assert_eq!(epb, Some(85.0 / 1000.0), "{}", v.text);
        // Another value under the same key is a conflict, not a second count.
        let r = csv(
            &h,
            "/api/v1/indicator-data",
            &admin,
            "org_code,period,component,value,source\nCT-GD,2024,energy_tce,81,bill-1\n",
        )
        .await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict")),
            "{}",
            r.text
        );
        // Years outside 1990–2100 are not periods.
        for period in ["0000", "9999-12", "2101-01"] {
            let r = csv(
                &h,
                "/api/v1/indicator-data",
                &admin,
                &format!("org_code,period,component,value\nCT-GD,{period},energy_tce,1\n"),
            )
            .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{period}: {}", r.text);
        }
        // A value with its own source adds.
        let r = csv(
            &h,
            "/api/v1/indicator-data",
            &admin,
            "org_code,period,component,value,source\nCT-GD,2024,energy_tce,10,bill-2\n",
        )
        .await;
        assert_eq!(r.json["added"].as_u64(), Some(1), "{}", r.text);
        let entries = audited(&h, "indicators.data").await;
        assert_eq!(entries.len(), 2, "one entry per batch that added rows: {entries:?}");
        assert!(entries[0]["after"].as_str().unwrap().contains("bill-1"), "{}", entries[0]);
        assert_eq!(entries[0]["actor"], "admin");
    });
}

#[test]
fn implausible_readings_are_rejected_with_a_reason() {
    both("sec_bounds_readings", |h| async move {
        monitored(&h);
        let gd = h.login("gd-filer").await;
        let ts = now_ms() - 60_000;
        let body = format!("GD1-P,{ts},1e308\nGD1-P,{},3000000\nGD1-P,{},4.5\n", ts + 1000, ts + 2000);
        let r = csv(&h, "/api/v1/telemetry/readings", &gd, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        assert_eq!(
            (r.json["stored"].as_u64(), r.json["report"]["rejected"].as_u64()),
            (Some(1), Some(2)),
            "{}",
            r.text
        );
        let problems = r.json["report"]["problems"].as_array().unwrap();
        assert!(
            problems
                .iter()
                .all(|p| p["field"] == "value"
                    && p["reason"].as_str().unwrap().contains("largest plausible grid_import")),
            "{}",
            r.text
        );
    });
}

#[test]
fn the_event_stream_shows_only_batches_of_the_callers_subtree() {
    both("sec_bounds_stream", |h| async move {
        monitored(&h);
        tokio::task::block_in_place(|| {
            let hash = server::auth::hash_password(PASSWORD).unwrap();
            h.app.store.create_user("test", "gd-employee", &hash, "employee", "CT-GD").unwrap();
        });
        let employee = h.login("gd-employee").await;
        let res = h.open_stream("/api/v1/telemetry/stream", &employee).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        let (zj, gd) = (h.login("zj-filer").await, h.login("gd-filer").await);
        let ts = now_ms() - 60_000;
        let r = csv(&h, "/api/v1/telemetry/readings", &zj, &format!("ZJ1-P,{ts},7\n")).await;
        assert_eq!(r.json["stored"].as_u64(), Some(1), "{}", r.text);
        let r = csv(&h, "/api/v1/telemetry/readings", &gd, &format!("GD1-P,{ts},3\n")).await;
        assert_eq!(r.json["stored"].as_u64(), Some(1), "{}", r.text);
        let seen = read_events(&mut body, |seen| seen.contains("http:gd-filer")).await;
        assert!(
            !seen.contains("zj-filer") && !seen.contains("ZJ1") && !seen.contains("CT-ZJ"),
            "{}: Zhejiang leaked: {seen}",
            h.backend
        );
    });
}

#[test]
fn a_saving_policy_is_bounded_before_it_becomes_indicator_data() {
    both("sec_bounds_bs_policy", |h| async move {
        monitored(&h);
        let filer = h.login("gd-filer").await;
        let mut cells = String::from("Time,BS,CellName,load\n");
        for hour in 0..24 {
            cells.push_str(&format!("3/1/2024 {hour}:00,GD4,Cell0,0.3\n3/1/2024 {hour}:00,GD4,Cell1,0.05\n"));
        }
        // A power unit of 1e308 W made every station's saving astronomically large, and the recorded
        // run stored it as indicator data.
        let policy = json!({"power_unit_w": 1e308, "alpha": 0, "band_k": -1});
        let r = h.post("/api/v1/site/bs-saving", &filer, json!({"cells_csv": cells, "policy": policy})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", h.backend, r.text);
        assert_eq!(r.json["error"]["detail"].as_array().unwrap().len(), 3, "{}", r.text);
        let url = "/api/v1/orgs/CT-GD/sites/bs-saving";
        let r = h.post(url, &filer, json!({"cells_csv": cells, "policy": policy, "period": "2024-03"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("power_unit_w"), "{}", r.text);
        let r = h.post(url, &filer, json!({"cells_csv": cells, "period": "2024-03"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    });
}
