//! The overview's comparisons on SQLite and PostgreSQL: the same org's figures in the year
//! before's snapshot and their change, and intensities per site (issue 14).

use crate::harness::{electricity_csv, fac, group_orgs, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

#[test]
fn the_overview_compares_with_the_year_before_and_gives_intensities_per_site() {
    let facilities = vec![
        fac("GD1", "base_station_5g", "CT-GD-GZ", "广东"),
        fac("GD2", "base_station_5g", "CT-GD", "广东"),
        fac("BJ1", "base_station_5g", "CT-BJ", "北京"),
    ];
    let users =
        vec![("admin", "group_admin", "CT"), ("gd-admin", "org_admin", "CT-GD"), ("gd-filer", "data_filer", "CT-GD")];
    Platform::new("overview_yoy", Seed { orgs: group_orgs("CT-BJ"), facilities, users }).run(|h| async move {
        let backend = h.backend.clone();
        let (filer, gd_admin) = (h.login("gd-filer").await, h.login("gd-admin").await);
        for (period, kwh) in [("2023-05", "1000"), ("2024-05", "1500")] {
            h.file_approved(&filer, &gd_admin, "CT-GD", period, &electricity_csv(&[("GD2", period, kwh)])).await;
            let year: i32 = period[..4].parse().unwrap();
            let s = h.post("/api/v1/inventories", &gd_admin, json!({"org_code": "CT-GD", "year": year})).await;
            assert_eq!(s.status, StatusCode::CREATED, "{backend}: {}", s.text);
        }
        let o = h.get("/api/v1/console/orgs/CT-GD/overview?year=2024", &gd_admin).await;
        assert_eq!(o.status, StatusCode::OK, "{backend}: {}", o.text);
        let c = &o.json["comparisons"];
        assert_eq!(c["previous"]["year"], json!(2023), "{backend}: {c}");
        let f = |v: &Value| v.as_f64().unwrap();
        let now = f(&o.json["figures"]["totals"]["total_market"]);
        let before = f(&c["previous"]["figures"]["total_market"]["previous"]);
        assert!(now > before && before > 0.0, "{backend}: {now} {before}");
        assert_eq!(f(&c["previous"]["figures"]["total_market"]["change"]), now - before, "{backend}");
        assert_eq!(f(&c["previous"]["figures"]["total_market"]["change_ratio"]), (now - before) / before, "{backend}");
        // Electricity went from 1 MWh to 1.5 MWh: +50 %.
        let mwh = &c["previous"]["figures"]["electricity_mwh"];
        if !mwh.is_null() {
            assert!((f(&mwh["change_ratio"]) - 0.5).abs() < 1e-9, "{backend}: {mwh}");
        }
        // Per site: the subtree's two facilities.
        assert_eq!(c["intensity"]["sites"], json!(2), "{backend}");
        assert_eq!(f(&c["intensity"]["per_site"]["total_market"]), now / 2.0, "{backend}");
        assert_eq!(c["intensity"]["per_business"], Value::Null, "{backend}");
        // The first year has nothing to compare with.
        let first = h.get("/api/v1/console/orgs/CT-GD/overview?year=2023", &gd_admin).await;
        assert_eq!(first.json["comparisons"]["previous"], Value::Null, "{backend}: {}", first.text);
    });
}
