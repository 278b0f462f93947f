//! HTTP tests of the scenario and site routes (issues 4 and 5), against SQLite and, when
//! configured, PostgreSQL (store::testing), with real users, logins and filed data.

use crate::harness::{electricity_csv, fac, org, Harness, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Group CT with CT-GD (three 5G sites and a data centre) and CT-BJ (three sites), and monitoring
/// with the meters of one off-grid site (GD1) registered, as an operator would.
fn platform(name: &str) -> Platform {
    let mut facilities = Vec::new();
    for i in 1..=3 {
        facilities.push(fac(&format!("GD{i}"), "base_station_5g", "CT-GD", "广东"));
        facilities.push(fac(&format!("BJ{i}"), "base_station_5g", "CT-BJ", "北京"));
    }
    facilities.push(fac("GDDC", "data_center", "CT-GD", "广东"));
    let orgs = vec![org("CT", None), org("CT-GD", Some("CT")), org("CT-BJ", Some("CT"))];
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("employee", "employee", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("bj-admin", "org_admin", "CT-BJ"),
        ("bj-filer", "data_filer", "CT-BJ"),
    ];
    let meters = format!(
        "meter_code,facility_code,role,kind,counter_max_kwh,max_power_kw,max_gap_minutes\n{}",
        site::meters::registry_rows("GD1", 60)
    );
    Platform::new(name, Seed { orgs, facilities, users }).meters(meters)
}

/// Files and approves a whole year of monthly electricity for an org's facilities, growing by
/// `growth` a year (so two years differ), and runs its inventory: the snapshot id.
async fn year_of_data(h: &Harness, filer: &str, admin: &str, org: &str, facs: &[&str], year: i32, scale: f64) -> i64 {
    for m in 1..=12 {
        let period = format!("{year}-{m:02}");
        let rows: Vec<_> = facs
            .iter()
            .enumerate()
            .map(|(i, f)| {
                // A seasonal load: more in summer (cooling), different per facility.
                let season = 1.0 + 0.3 * ((m as f64 - 7.0) / 12.0 * std::f64::consts::TAU).cos();
                (f, &period, ((1000.0 + 400.0 * i as f64) * season * scale).round())
            })
            .collect();
        h.file_approved(filer, admin, org, &period, &electricity_csv(&rows)).await;
    }
    let s = h.post("/api/v1/inventories", admin, json!({"org_code": org, "year": year})).await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
    s.json["snapshot"]["id"].as_i64().unwrap()
}

fn gross(run: &Value, year: i64) -> f64 {
    run["years"].as_array().unwrap().iter().find(|y| y["year"] == json!(year)).unwrap()["gross_tco2e"].as_f64().unwrap()
}

#[test]
fn scenario_routes_calibrate_run_compare_bands_macc_plan_lmdi_trend_and_scope() {
    platform("decide_scenario").run(|h| async move {
        let backend = h.backend.clone();
        let (gd_filer, gd_admin) = (h.login("gd-filer").await, h.login("gd-admin").await);
        let gd = ["GD1", "GD2", "GD3", "GDDC"];
        let s23 = year_of_data(&h, &gd_filer, &gd_admin, "CT-GD", &gd, 2023, 1.0).await;
        let s24 = year_of_data(&h, &gd_filer, &gd_admin, "CT-GD", &gd, 2024, 1.1).await;
        let (bj_filer, bj_admin) = (h.login("bj-filer").await, h.login("bj-admin").await);
        let bj24 = year_of_data(&h, &bj_filer, &bj_admin, "CT-BJ", &["BJ1"], 2024, 1.0).await;

        // Calibration: the base year is the snapshot's year, only GD's row, all four GD facilities.
        let b = h.get(&format!("/api/v1/snapshots/{s24}/scenario/baseline"), &gd_admin).await;
        assert_eq!(b.status, StatusCode::OK, "{backend}: {}", b.text);
        let baseline = b.json["baseline"].clone();
        assert_eq!(baseline["base_year"], json!(2024));
        let provinces = baseline["provinces"].as_array().unwrap();
        assert_eq!(provinces.len(), 1, "{backend}: only the snapshot's subtree: {baseline}");
        assert_eq!(provinces[0]["code"], json!("CT-GD"));
        let facilities: u64 =
            provinces[0]["classes"].as_array().unwrap().iter().map(|c| c["facilities"].as_u64().unwrap()).sum();
        assert_eq!(facilities, 4);
        let total = b.json["total_tco2e"].as_f64().unwrap();
        assert!(total > 0.0);

        // Run: no measures = baseline; the base year reproduces the calibrated total.
        let bau =
            h.post("/api/v1/scenario/run", &gd_admin, json!({"baseline": baseline, "scenario": {"name": "bau"}})).await;
        assert_eq!(bau.status, StatusCode::OK, "{}", bau.text);
        assert!((gross(&bau.json["run"], 2024) - total).abs() < 1e-6 * total.max(1.0), "{}", bau.text);
        // A slider: faster traffic growth raises 2030; a measure lowers it.
        let fast = h
            .post(
                "/api/v1/scenario/run",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {"name": "fast", "drivers": {"traffic_growth": 0.25}}}),
            )
            .await;
        assert!(gross(&fast.json["run"], 2030) > gross(&bau.json["run"], 2030));
        let pv = h
            .post(
                "/api/v1/scenario/run",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {"name": "green", "measures": [{"id": "green_power_purchase", "start": 2026}]}}),
            )
            .await;
        assert_eq!(pv.status, StatusCode::OK, "{}", pv.text);
        assert!(gross(&pv.json["run"], 2030) < gross(&bau.json["run"], 2030));
        // Every problem at once; and no file paths read from a request.
        let bad = h
            .post(
                "/api/v1/scenario/run",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {"history": "/etc/passwd", "drivers": {"nope": 1.0}, "monte_carlo": {"paths": 10000000}}}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert_eq!(bad.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", bad.text);
        let unknown = h
            .post(
                "/api/v1/scenario/run",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {"drivers": {"nope": 1.0, "pue_data_center": 0.2}}}),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", unknown.text);

        // Monte Carlo bands are ordered and bounded in size.
        let mc = h
            .post(
                "/api/v1/scenario/montecarlo",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {"targets": {"peak_by": 2030}}, "paths": 300, "seed": 7}),
            )
            .await;
        assert_eq!(mc.status, StatusCode::OK, "{}", mc.text);
        let bands = &mc.json["bands"];
        assert_eq!(bands["paths"], json!(300));
        for i in 0..bands["years"].as_array().unwrap().len() {
            let (a, m, z) = (
                bands["p10"][i].as_f64().unwrap(),
                bands["p50"][i].as_f64().unwrap(),
                bands["p90"][i].as_f64().unwrap(),
            );
            assert!(a <= m && m <= z, "year {i}: {a} {m} {z}");
        }
        let p = bands["probability_peak_by_target"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
        let too_many = h
            .post(
                "/api/v1/scenario/montecarlo",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {}, "paths": 20001}),
            )
            .await;
        assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Comparison: each run equals the same scenario run alone.
        let cmp = h
            .post(
                "/api/v1/scenario/compare",
                &gd_admin,
                json!({"baseline": baseline, "scenarios": [{"name": "bau"}, {"name": "green", "measures": [{"id": "green_power_purchase", "start": 2026}]}]}),
            )
            .await;
        assert_eq!(cmp.status, StatusCode::OK, "{}", cmp.text);
        assert_eq!(cmp.json["runs"][0]["years"], bau.json["run"]["years"]);
        assert_eq!(cmp.json["runs"][1]["years"], pv.json["run"]["years"]);

        // MACC: sorted by cost per tonne; the plan is feasible when found.
        let macc = h.post("/api/v1/scenario/macc", &gd_admin, json!({"baseline": baseline, "scenario": {}})).await;
        assert_eq!(macc.status, StatusCode::OK, "{}", macc.text);
        let costs: Vec<i64> =
            macc.json["macc"].as_array().unwrap().iter().filter_map(|r| r["yuan_per_tco2e"].as_i64()).collect();
        assert!(!costs.is_empty() && costs.windows(2).all(|w| w[0] <= w[1]), "{costs:?}");
        let plan = h
            .post(
                "/api/v1/scenario/plan",
                &gd_admin,
                json!({"baseline": baseline, "scenario": {"targets": {"peak_by": 2030}}}),
            )
            .await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
        assert!(plan.json["plan"]["explanation"].as_str().unwrap().len() > 20);
        if plan.json["plan"]["found"] == json!(true) {
            let checks = plan.json["plan"]["run"]["targets"].as_array().unwrap();
            assert!(checks.iter().all(|c| c["met"] == json!(true)), "{}", plan.text);
        }

        // LMDI between the two years: the effects sum to the change exactly.
        let l = h.get(&format!("/api/v1/snapshots/{s23}/scenario/lmdi?to={s24}"), &gd_admin).await;
        assert_eq!(l.status, StatusCode::OK, "{}", l.text);
        let d = &l.json["decomposition"];
        let change = d["to_tco2e"].as_f64().unwrap() - d["from_tco2e"].as_f64().unwrap();
        assert!(change > 0.0, "10 % more electricity in 2024");
        assert!(l.json["residual_tco2e"].as_f64().unwrap().abs() < 1e-6 * change, "{}", l.text);
        // Trend: 24 months, a 12-month forecast with intervals around the mean, and a backtest.
        let t = h.get("/api/v1/orgs/CT-GD/scenario/trend?horizon=12", &gd_admin).await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.text);
        let e = &t.json["series"][0];
        assert_eq!(e["values"].as_array().unwrap().len(), 24);
        assert_eq!(e["forecast_periods"][0], json!("2025-01"));
        let (lo, mean, hi) = (
            e["forecast"]["lower"][0].as_f64().unwrap(),
            e["forecast"]["mean"][0].as_f64().unwrap(),
            e["forecast"]["upper"][0].as_f64().unwrap(),
        );
        assert!(lo <= mean && mean <= hi);
        // A rolling-origin backtest needs 2 seasons + 2 months of training plus 3 months to test.
        assert!(e["backtest"].is_null(), "24 months are too few for a backtest: {}", e["backtest"]);

        // Scope: GD reaches neither Beijing's snapshot (path or query) nor Beijing's trend.
        for path in [
            format!("/api/v1/snapshots/{bj24}/scenario/baseline"),
            format!("/api/v1/snapshots/{s24}/scenario/lmdi?to={bj24}"),
            format!("/api/v1/snapshots/{bj24}/scenario/lmdi?to={s24}"),
            "/api/v1/orgs/CT-BJ/scenario/trend".into(),
        ] {
            let r = h.get(&path, &gd_admin).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend}: {path}: {}", r.text);
            assert_eq!(r.json["error"]["code"], json!("out_of_scope"));
        }
        // Employees read no platform data.
        let emp = h.login("employee").await;
        assert_eq!(
            h.post("/api/v1/scenario/run", &emp, json!({"baseline": baseline, "scenario": {}})).await.status,
            StatusCode::FORBIDDEN
        );
    });
}

const SITE: &str = include_str!("../../../site/data/island-site.toml");

/// A plain weather CSV: `days` of hourly clear days (sunny ones) or overcast ones.
/// Issue 13 through the API: level drivers given as a number move the path (regression), an
/// untouched scenario is the baseline bit for bit (run and compare, and the model itself), and the
/// baseline route reconciles the snapshot's total with the scenario base.
#[test]
fn scenario_drivers_untouched_scenario_and_reconciliation() {
    platform("decide_issue13").run(|h| async move {
        let backend = h.backend.clone();
        let (gd_filer, gd_admin) = (h.login("gd-filer").await, h.login("gd-admin").await);
        let s24 = year_of_data(&h, &gd_filer, &gd_admin, "CT-GD", &["GD1", "GD2", "GD3", "GDDC"], 2024, 1.0).await;
        let b = h.get(&format!("/api/v1/snapshots/{s24}/scenario/baseline"), &gd_admin).await;
        assert_eq!(b.status, StatusCode::OK, "{backend}: {}", b.text);
        let baseline = b.json["baseline"].clone();

        // Reconciliation: from the snapshot's stored total (the overview's figure) to the base.
        let snap = h.get(&format!("/api/v1/snapshots/{s24}"), &gd_admin).await;
        let totals = &snap.json["snapshot"]["result"]["totals"];
        let r = &b.json["reconciliation"];
        assert_eq!(r["inventory_total_tco2e"], totals["total_market"], "{backend}: {r}");
        assert_eq!(r["inventory_residual"], json!("nbs_residual"));
        let steps = r["steps"].as_array().unwrap();
        let codes: Vec<&str> = steps.iter().map(|s| s["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["scope3_left_out", "scope2_market_on_location_residual", "rounding"]);
        assert_eq!(steps[0]["tco2e"].as_f64().unwrap(), -totals["scope3"].as_f64().unwrap());
        let base = b.json["total_tco2e"].as_f64().unwrap();
        assert_eq!(r["scenario_base_tco2e"].as_f64().unwrap(), base);
        let end = r["inventory_total_tco2e"].as_f64().unwrap()
            + steps.iter().map(|s| s["tco2e"].as_f64().unwrap()).sum::<f64>();
        assert!((end - base).abs() <= 1e-9 * base, "{end} vs {base}");
        assert!(steps[2]["tco2e"].as_f64().unwrap().abs() < 1e-3);
        // The calibration note as fields, not prose.
        assert_eq!(b.json["calibration"]["snapshot"], json!(s24));
        assert_eq!(b.json["calibration"]["scope2"], json!("market_on_location_residual"));

        // Untouched: run and compare give the baseline bit for bit, and so does the model.
        let run = |scenario: Value| {
            let (h, baseline, admin) = (&h, baseline.clone(), gd_admin.clone());
            async move {
                let r =
                    h.post("/api/v1/scenario/run", &admin, json!({"baseline": baseline, "scenario": scenario})).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
                r.json["run"].clone()
            }
        };
        let bau = run(json!({"name": "bau"})).await;
        let untouched = run(json!({"name": "bau", "drivers": {}, "measures": []})).await;
        assert_eq!(bau["years"], untouched["years"]);
        let model_baseline: scenario::Baseline = serde_json::from_value(baseline.clone()).unwrap();
        let cat = scenario::Catalogue::shipped();
        let model =
            scenario::Model::new(&model_baseline, &cat).unwrap().run(&scenario::Scenario::baseline("bau")).unwrap();
        assert_eq!(bau["years"], serde_json::to_value(&model.years).unwrap(), "{backend}");
        let cmp = h
            .post(
                "/api/v1/scenario/compare",
                &gd_admin,
                json!({"baseline": baseline, "scenarios": [{"name": "a", "targets": {"peak_by": 2030}}, {"name": "b", "targets": {"peak_by": 2030}, "drivers": {}, "measures": []}]}),
            )
            .await;
        assert_eq!(cmp.status, StatusCode::OK, "{}", cmp.text);
        assert_eq!(cmp.json["runs"][0]["years"], cmp.json["runs"][1]["years"]);
        assert_eq!(cmp.json["runs"][0]["targets"], cmp.json["runs"][1]["targets"]);

        // Regression: a level driver given as a number moves every projected year, never the base.
        for (drivers, lower) in [
            (json!({"pue_data_center": 1.2}), true),
            (json!({"pue_data_center": 2.0}), false),
            (json!({"green_share_extra": 0.6}), true),
        ] {
            let e = run(json!({"name": "edited", "drivers": drivers})).await;
            assert_eq!(e["years"][0], bau["years"][0], "{drivers}");
            for y in 2025..=2060 {
                let (a, z) = (gross(&bau, y), gross(&e, y));
                assert!(if lower { z < a } else { z > a }, "{drivers} {y}: {a} → {z}");
            }
        }
    });
}

fn weather(days: usize, sunny: impl Fn(usize) -> bool) -> String {
    let mut s = String::from("time,ghi,dni,dhi,temp_air,wind_speed\n");
    for d in 0..days {
        for h in 1..=24 {
            let (mm, dd) = (1 + d / 28, 1 + d % 28);
            let hour = h as f64 - 0.5;
            let sun = ((hour - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
            let (ghi, dni, dhi) =
                if sunny(d) { (900.0 * sun, 700.0 * sun, 150.0 * sun) } else { (120.0 * sun, 0.0, 120.0 * sun) };
            let (day, hh) = if h == 24 { (dd + 1, 0) } else { (dd, h) };
            // Midnight ends the day: write it as the next day's 00:00 (months here have 28 days).
            let (mm2, day2) = if day > 28 { (mm + 1, 1) } else { (mm, day) };
            s.push_str(&format!("2023-{mm2:02}-{day2:02}T{hh:02}:00,{ghi:.1},{dni:.1},{dhi:.1},25,2\n"));
        }
    }
    s
}

#[test]
fn site_routes_simulate_size_bs_saving_and_audited_setpoints() {
    platform("decide_site").run(|h| async move {
        let backend = h.backend.clone();
        let gd_admin = h.login("gd-admin").await;
        // Simulation: a fortnight of sun and a week of rain; the balance closes and the fuel cell runs.
        let w = weather(21, |d| d < 14);
        let r = h.post("/api/v1/site/simulate", &gd_admin, json!({"site_toml": SITE, "weather_csv": w})).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        let rep = &r.json["report"];
        assert_eq!(rep["steps"], json!(21 * 24));
        assert!(rep["balance_residual_kwh"].as_f64().unwrap().abs() < 1e-6, "{rep}");
        assert_eq!(r.json["daily"].as_array().unwrap().len(), 21);
        let served: f64 = r.json["daily"].as_array().unwrap().iter().map(|d| d["served_kwh"].as_f64().unwrap()).sum();
        assert!(
            (served - rep["energy_kwh"]["served"].as_f64().unwrap()).abs() < 1e-6,
            "daily series add up to the report"
        );
        let days = r.json["daily"].as_array().unwrap();
        assert!(days.iter().all(|d| d["soc_min"].as_f64().unwrap() >= 0.15 - 1e-9), "SoC stays in its window");
        // Every problem of the weather at once, with its line.
        let broken = w.replacen(",25,2\n", ",25,-3\n", 1).replacen(",25,2\n", ",999,2\n", 1);
        let bad = h.post("/api/v1/site/simulate", &gd_admin, json!({"site_toml": SITE, "weather_csv": broken})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert_eq!(bad.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", bad.text);
        // Sizing needs [sizing] in the site file.
        let s = h.post("/api/v1/site/size", &gd_admin, json!({"site_toml": SITE, "weather_csv": w})).await;
        if SITE.contains("[sizing]") {
            assert_eq!(s.status, StatusCode::OK, "{}", s.text);
            assert!(s.json["sizing"]["evaluated"].as_u64().unwrap() > 0);
            if let Some(best) = s.json["sizing"]["best"].as_object() {
                assert_eq!(best["unserved_kwh"], json!(0.0));
            }
        } else {
            assert_eq!(s.status, StatusCode::UNPROCESSABLE_ENTITY);
        }

        // Base-station saving on a day of real ITU traffic.
        let itu = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/itu-5g-energy-2023/CLdata.csv");
        if let Ok(text) = std::fs::read_to_string(itu) {
            let head: Vec<&str> = text.lines().take(3000).collect();
            let r = h.post("/api/v1/site/bs-saving", &gd_admin, json!({"cells_csv": head.join("\n")})).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let s = &r.json["saving"];
            let saved = s["saved_kwh"].as_f64().unwrap();
            assert!(saved > 0.0 && saved < s["baseline_kwh"].as_f64().unwrap(), "{s}");
            let t = saved * s["grid_factor_kg_per_kwh"].as_f64().unwrap() / 1000.0;
            assert!((s["saved_tco2"].as_f64().unwrap() - t).abs() < 1e-9);
        }
        let bad =
            h.post("/api/v1/site/bs-saving", &gd_admin, json!({"cells_csv": "a,b\n", "grid_factor": "nope"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", bad.text);

        // Set points: defaults first; an invalid change lists every broken rule and changes nothing.
        let url = "/api/v1/orgs/CT-GD/sites/GD1/setpoints";
        let g = h.get(url, &gd_admin).await;
        assert_eq!(g.status, StatusCode::OK, "{}", g.text);
        assert_eq!(g.json["setpoints"]["soc_min"], json!(0.15));
        assert_eq!(g.json["changes"], json!([]));
        let mut sp = g.json["setpoints"].clone();
        sp["soc_min"] = json!(0.9);
        sp["soc_max"] = json!(0.5);
        let bad = h.call("PUT", url, &gd_admin, Some(json!({"setpoints": sp, "reason": ""}))).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        let fields: Vec<&str> =
            bad.json["error"]["detail"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&"reason") && fields.len() >= 3, "{fields:?}");
        assert_eq!(h.get(url, &gd_admin).await.json["changes"], json!([]));
        // A valid change is applied and audited with before and after.
        let mut sp = g.json["setpoints"].clone();
        sp["soc_alarm"] = json!(0.35);
        sp["soc_alarm_clear"] = json!(0.45);
        let ok = h.call("PUT", url, &gd_admin, Some(json!({"setpoints": sp, "reason": "rainy season"}))).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
        let g = h.get(url, &gd_admin).await;
        assert_eq!(g.json["setpoints"]["soc_alarm"], json!(0.35));
        let changes = g.json["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["by"], json!("gd-admin"));
        assert_eq!(changes[0]["before"]["setpoints"]["soc_alarm"], json!(0.3));
        assert_eq!(changes[0]["after"]["reason"], json!("rainy season"));
        let admin = h.login("admin").await;
        let v = h.get("/api/v1/audit/verify", &admin).await;
        assert_eq!(v.json["verification"]["ok"], json!(true), "{}", v.text);
        let audit = h.get("/api/v1/audit", &admin).await;
        assert!(audit.text.contains("site.setpoints") && audit.text.contains("site:GD1"));

        // Scope: Beijing cannot read or set GD's site; a GD site is not reachable under Beijing.
        let bj = h.login("bj-admin").await;
        let r = h.get(url, &bj).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
        let r = h.call("PUT", url, &bj, Some(json!({"setpoints": sp, "reason": "x"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(h.get("/api/v1/orgs/CT-BJ/sites/GD1/setpoints", &bj).await.status, StatusCode::NOT_FOUND);
        assert_eq!(h.get("/api/v1/orgs/CT-GD/sites/BJ1/setpoints", &gd_admin).await.status, StatusCode::NOT_FOUND);
        // A gateway (here a filer's token) reports the site's state and gets the set points back. The
        // report goes through the monitoring ingestion as readings of the site's registered meters.
        let state_url = "/api/v1/orgs/CT-GD/sites/GD1/state";
        let g = h.get(state_url, &gd_admin).await;
        assert_eq!((g.json["state"].clone(), g.json["registered"].clone()), (Value::Null, json!(true)), "{}", g.text);
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 7200;
        let telemetry = json!({"site": "GD1", "unix": unix, "mode": "fuel_cell", "fuel_cell": "running",
            "soc": 0.31, "pv_w": 0.0, "load_w": 900.0, "fc_w": 1500.0, "battery_w": 600.0, "unserved_w": 0.0,
            "fuel_l": 80.0, "battery_low_alarm": true, "fuel_low_alarm": false, "invalid_input": false});
        let gd_filer = h.login("gd-filer").await;
        let r = h.post(state_url, &gd_filer, telemetry.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["setpoints"]["soc_alarm"], json!(0.35), "the changed set points travel back");
        assert!(r.json["setpoints_audit_seq"].as_i64().is_some(), "with the audit entry of the change: {}", r.text);
        let n = site::meters::SITE_METERS.len() as u64;
        assert_eq!((r.json["ingest"]["appended"].as_u64(), r.json["accepted"].clone()), (Some(n), json!(true)));
        // A retried report is counted as duplicates, never twice.
        let again = h.post(state_url, &gd_filer, telemetry.clone()).await;
        assert_eq!(
            (again.json["ingest"]["appended"].as_u64(), again.json["ingest"]["duplicates"].as_u64()),
            (Some(0), Some(n))
        );
        let g = h.get(state_url, &gd_admin).await;
        let same = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-9,
            _ => a == b,
        };
        for (k, v) in telemetry.as_object().unwrap() {
            assert!(same(&g.json["state"][k], v), "{k}: {} vs {v}", g.json["state"][k]);
        }
        assert_eq!(g.json["history"]["soc"]["points"][0][1], json!(0.31), "{}", g.text);
        // The same state is what the monitoring API shows: gauges in the facility's live state.
        let live = h.get("/api/v1/orgs/CT-GD/realtime", &gd_admin).await;
        let gd1 = live.json["facilities"].as_array().unwrap().iter().find(|f| f["facility"] == "GD1").cloned();
        assert_eq!(gd1.unwrap()["live"]["gauges"]["soc"]["value"], json!(0.31), "{}", live.text);
        assert_eq!(live.json["live"]["power_kw"]["site_load"], json!(0.9), "{}", live.text);
        // The org's site list shows the registered site with its newest state; Beijing has none.
        let sites = h.get("/api/v1/orgs/CT-GD/sites", &gd_admin).await;
        assert_eq!(sites.json["sites"].as_array().map(|a| a.len()), Some(1), "{}", sites.text);
        assert_eq!(
            (sites.json["sites"][0]["facility"].as_str(), sites.json["sites"][0]["mode"].as_str()),
            (Some("GD1"), Some("fuel_cell"))
        );
        assert_eq!(sites.json["sites"][0]["soc"], json!(0.31));
        let bj_sites = h.get("/api/v1/orgs/CT-BJ/sites", &h.login("bj-admin").await).await;
        assert_eq!(bj_sites.json["sites"], json!([]), "{}", bj_sites.text);
        // Load not served an hour later opens the site alert.
        let mut short = telemetry.clone();
        short["unix"] = json!(unix + 3600);
        short["mode"] = json!("unserved");
        short["unserved_w"] = json!(250.0);
        assert_eq!(h.post(state_url, &gd_filer, short).await.status, StatusCode::OK);
        let alerts = h.get("/api/v1/alerts", &gd_admin).await;
        assert!(alerts.text.contains("site_load_unserved") && alerts.text.contains("facility:GD1"), "{}", alerts.text);
        // Every problem at once, and nothing stored.
        let mut wrong = telemetry.clone();
        wrong["site"] = json!("GD2");
        wrong["soc"] = json!(1.5);
        let r = h.post(state_url, &gd_filer, wrong).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", r.text);
        // A site whose meters are not registered is told which rows meters.csv needs.
        let mut gd2 = telemetry.clone();
        gd2["site"] = json!("GD2");
        let r = h.post("/api/v1/orgs/CT-GD/sites/GD2/state", &gd_filer, gd2).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text.contains("GD2.soc,GD2,soc,gauge"), "{}", r.text);
        assert_eq!(h.post(state_url, &h.login("bj-filer").await, telemetry).await.status, StatusCode::FORBIDDEN);

        // A filer reads but may not change set points.
        assert_eq!(h.get(url, &gd_filer).await.status, StatusCode::OK);
        let r = h.call("PUT", url, &gd_filer, Some(json!({"setpoints": sp, "reason": "x"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    });
}
