//! Indicators on the platform's own numbers (issue 15), over the real router on SQLite and
//! PostgreSQL: a snapshot's totals equal the indicator components it gives, for the group and every
//! org, and a restated filing gives a new snapshot whose components replace the old (which stays
//! readable); hand entries of a fed component are overridden, never summed; business data through
//! the filing flow (template, upload with quarantine and codes, approval, restatement); facility
//! attributes (counts, "new" subsets of meters and saving runs) and their bad input.

use crate::harness::{fac, group_orgs, Harness, Platform, Reply, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn platform(name: &str) -> Platform {
    let facilities = vec![
        fac("GD1", "base_station_5g", "CT-GD-GZ", "广东"),
        fac("GD2", "base_station_5g", "CT-GD", "广东"),
        fac("DC-GD", "data_center", "CT-GD", "广东"),
        fac("FL-GD", "fleet", "CT-GD", "广东"),
        fac("BJ1", "base_station_5g", "CT-BJ", "北京"),
    ];
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("gd-reviewer", "reviewer", "CT-GD"),
        ("bj-filer", "data_filer", "CT-BJ"),
    ];
    Platform::new(name, Seed { orgs: group_orgs("CT-BJ"), facilities, users }).meters(
        "meter_code,facility_code,role,kind\nDC-TOT,DC-GD,total_facility,counter\nDC-IT,DC-GD,it_load,counter\n",
    )
}

const ACTIVITY: &str = "facility_code,period,carrier,quantity,unit,source_document\n";

/// GD: January electricity (GD1 in the city, GD2 with certified green power), March diesel of the
/// fleet; BJ: February electricity. Returns GD's January filing.
async fn file_2024(h: &Harness) -> i64 {
    let (filer, reviewer, bj, admin) =
        (h.login("gd-filer").await, h.login("gd-reviewer").await, h.login("bj-filer").await, h.login("admin").await);
    let jan = format!(
        "{ACTIVITY}GD1,2024-01,electricity,1000,kWh,b1\nGD2,2024-01,electricity,2000,kWh,b2\nGD2,2024-01,electricity_green_certified,300,kWh,g2\n"
    );
    let gd_jan = h.file_approved(&filer, &reviewer, "CT-GD", "2024-01", &jan).await;
    h.file_approved(&filer, &reviewer, "CT-GD", "2024-03", &format!("{ACTIVITY}FL-GD,2024-03,diesel,100,L,d1\n")).await;
    h.file_approved(&bj, &admin, "CT-BJ", "2024-02", &format!("{ACTIVITY}BJ1,2024-02,electricity,500,kWh,b3\n")).await;
    gd_jan
}

async fn inventory(h: &Harness, token: &str, org: &str, year: i32) -> i64 {
    let r = h.post("/api/v1/inventories", token, json!({"org_code": org, "year": year})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json["snapshot"]["id"].as_i64().unwrap()
}

fn component<'a>(detail: &'a Value, code: &str) -> &'a Value {
    detail["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == json!(code))
        .unwrap_or_else(|| panic!("{code}: {detail}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * b.abs().max(1.0)
}

#[test]
fn a_snapshots_totals_equal_its_indicator_components_and_a_restatement_replaces_them() {
    platform("indicators_snapshot").run(|h| async move {
        let admin = h.login("admin").await;
        let gd_jan = file_2024(&h).await;
        let s1 = inventory(&h, &admin, "CT", 2024).await;
        let snap = h.get(&format!("/api/v1/snapshots/{s1}"), &admin).await;
        let comps = h.get(&format!("/api/v1/snapshots/{s1}/indicator-components"), &admin).await;
        assert_eq!(comps.status, StatusCode::OK, "{}", comps.text);
        // The group and every org: the snapshot's totals are the components' subtree sums.
        let rows = snap.json["snapshot"]["result"]["rows"].as_array().unwrap_or_else(|| panic!("{}", snap.text));
        let mut seen = 0;
        for org in ["CT", "CT-GD", "CT-GD-GZ", "CT-BJ"] {
            let totals =
                &rows.iter().find(|r| r["key"] == json!(org)).unwrap_or_else(|| panic!("{org}: {}", snap.text))
                    ["totals"];
            let mine = comps.json["orgs"].as_array().unwrap().iter().find(|o| o["org"] == json!(org));
            let subtree = match mine {
                Some(o) => o["subtree"].clone(),
                // An org without own facilities (the group) has its subtree in `total` or below.
                None => comps.json["total"].clone(),
            };
            for (fig, comp) in [
                ("energy_tce", "energy_tce"),
                ("scope1", "scope1_tco2e"),
                ("scope2_location", "scope2_location_tco2e"),
                ("scope2_market", "scope2_market_tco2e"),
            ] {
                let (t, c) = (totals[fig].as_f64().unwrap(), subtree[comp].as_f64().unwrap_or(0.0));
                assert!(close(t, c), "{org} {fig}: snapshot {t}, components {c}");
            }
            // The indicators read the same numbers.
            let d = h.get(&format!("/api/v1/orgs/{org}/indicators/electricity_share?year=2024"), &admin).await;
            assert_eq!(d.status, StatusCode::OK, "{}", d.text);
            let e = component(&d.json, "energy_tce")["value"].as_f64().unwrap();
            assert!(close(e, totals["energy_tce"].as_f64().unwrap()), "{org}: {e} {}", d.text);
            seen += 1;
        }
        assert_eq!(seen, 4);
        let total = &comps.json["total"];
        assert_eq!(total["electricity_kwh"].as_f64(), Some(3800.0), "{}", comps.text);
        assert_eq!(total["green_electricity_kwh"].as_f64(), Some(300.0));
        assert_eq!(total["bs5g_kwh"].as_f64(), Some(3800.0));
        let d = h.get("/api/v1/orgs/CT/indicators/green_power_share?year=2024", &admin).await;
        let el = component(&d.json, "electricity_kwh");
        assert_eq!(el["value"].as_f64(), Some(3800.0), "{}", d.text);
        assert_eq!(
            (el["feed"].as_str(), el["sources"][0]["kind"].as_str(), el["sources"][0]["id"].as_i64()),
            (Some("snapshot"), Some("snapshot"), Some(s1))
        );
        assert!(close(d.json["value"].as_f64().unwrap(), 300.0 / 3800.0 * 100.0), "{}", d.text);

        // A restatement of GD's January (GD1 1500 kWh), approved, and a new snapshot.
        let r = h
            .post(
                &format!("/api/v1/filings/{gd_jan}/restate"),
                &h.login("gd-filer").await,
                json!({"reason": "meter read again"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let v2 = r.json["filing"]["id"].as_i64().unwrap();
        let filer = h.login("gd-filer").await;
        let up = h.upload(v2, &filer, format!("{ACTIVITY}GD1,2024-01,electricity,1500,kWh,b1\n")).await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text);
        assert_eq!(h.post(&format!("/api/v1/filings/{v2}/submit"), &filer, json!({})).await.status, StatusCode::OK);
        assert_eq!(
            h.post(&format!("/api/v1/filings/{v2}/approve"), &h.login("gd-reviewer").await, json!({})).await.status,
            StatusCode::OK
        );
        let s2 = inventory(&h, &admin, "CT", 2024).await;
        let d = h.get("/api/v1/orgs/CT/indicators/green_power_share?year=2024", &admin).await;
        let el = component(&d.json, "electricity_kwh");
        assert_eq!((el["value"].as_f64(), el["sources"][0]["id"].as_i64()), (Some(4300.0), Some(s2)), "{}", d.text);
        assert_eq!(el["sources"].as_array().unwrap().len(), 1, "the old snapshot no longer counts: {}", d.text);
        // The old version stays readable, no longer current; the new one is.
        let old = h.get(&format!("/api/v1/snapshots/{s1}/indicator-components"), &admin).await;
        assert_eq!(old.json["total"]["electricity_kwh"].as_f64(), Some(3800.0));
        assert!(old.json["orgs"].as_array().unwrap().iter().all(|o| o["current"] == json!(false)), "{}", old.text);
        let new = h.get(&format!("/api/v1/snapshots/{s2}/indicator-components"), &admin).await;
        assert_eq!(new.json["total"]["electricity_kwh"].as_f64(), Some(4300.0));
        assert!(new.json["orgs"].as_array().unwrap().iter().all(|o| o["current"] == json!(true)), "{}", new.text);
        // A province's own snapshot, newer, feeds that province only: still no double counting.
        let bj = inventory(&h, &admin, "CT-BJ", 2024).await;
        let d = h.get("/api/v1/orgs/CT/indicators/green_power_share?year=2024", &admin).await;
        let el = component(&d.json, "electricity_kwh");
        assert_eq!(el["value"].as_f64(), Some(4300.0), "{}", d.text);
        let ids: Vec<i64> = el["sources"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![s2, bj], "{}", d.text);
        // A GD user may not read the group's snapshot.
        assert_eq!(
            h.get(&format!("/api/v1/snapshots/{s2}/indicator-components"), &filer).await.status,
            StatusCode::FORBIDDEN
        );
    });
}

#[test]
fn hand_entries_of_a_fed_component_are_overridden_never_summed() {
    platform("indicators_no_double").run(|h| async move {
        let admin = h.login("admin").await;
        file_2024(&h).await;
        let s = inventory(&h, &admin, "CT", 2024).await;
        let before = h.get("/api/v1/orgs/CT-GD/indicators/electricity_share?year=2024", &admin).await;
        let energy = component(&before.json, "energy_tce")["value"].as_f64().unwrap();
        let body = "org_code,period,component,value,source\nCT-GD,2024,energy_tce,999,typed\nCT-GD,2023,energy_tce,7,typed\nCT-GD,2024,sharing_saved_kwh,5,typed\n";
        let r = h.request("POST", "/api/v1/indicator-data", Some(&h.login("gd-admin").await), body, "text/csv").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let after = h.get("/api/v1/orgs/CT-GD/indicators/electricity_share?year=2024", &admin).await;
        let e = component(&after.json, "energy_tce");
        assert_eq!(e["value"].as_f64(), Some(energy), "the snapshot's value, not + 999: {}", after.text);
        assert_eq!(e["sources"].as_array().unwrap().len(), 1);
        assert_eq!(e["sources"][0]["id"].as_i64(), Some(s));
        let over = after.json["overridden"].as_array().unwrap();
        assert_eq!(over.len(), 1, "{}", after.text);
        assert_eq!((over[0]["value"].as_str(), over[0]["source"].as_str()), (Some("999.000000"), Some("typed")));
        // The group sees it once too.
        let g = h.get("/api/v1/orgs/CT/indicators/electricity_share?year=2024", &admin).await;
        let group_energy = component(&g.json, "energy_tce")["value"].as_f64().unwrap();
        let bj = h.get("/api/v1/orgs/CT-BJ/indicators/electricity_share?year=2024", &admin).await;
        let bj_energy = component(&bj.json, "energy_tce")["value"].as_f64().unwrap();
        assert!(close(group_energy, energy + bj_energy), "{group_energy} {energy} {bj_energy}");
        // A year no snapshot covers keeps the hand entry; a manual component counts as entered.
        let y23 = h.get("/api/v1/orgs/CT-GD/indicators/electricity_share?year=2023", &admin).await;
        assert_eq!(component(&y23.json, "energy_tce")["value"].as_f64(), Some(7.0), "{}", y23.text);
        let list = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &admin).await;
        let sharing = list.json["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == json!("sharing_savings")).unwrap();
        assert_eq!(sharing["value"].as_f64(), Some(5.0));
        // The registry says where each component comes from.
        let reg = h.get("/api/v1/indicators", &admin).await;
        assert_eq!((reg.json["feeds"]["energy_tce"].as_str(), reg.json["feeds"]["sharing_saved_kwh"].as_str()), (Some("snapshot"), Some("manual")));
        assert_eq!(reg.json["feeds"]["traffic_tb"].as_str(), Some("business_data"));
    });
}

fn reasons(r: &Reply) -> Vec<String> {
    r.json["rejected_rows"].as_array().unwrap().iter().map(|x| x["reasons"].as_str().unwrap().to_string()).collect()
}

#[test]
fn business_data_is_filed_reviewed_and_restated_like_activity_and_feeds_indicators() {
    platform("indicators_business").run(|h| async move {
        let filer = h.login("gd-filer").await;
        let reviewer = h.login("gd-reviewer").await;
        // Bad kinds and periods.
        let bad = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024-01", "kind": "business"})).await;
        assert_eq!((bad.status, bad.json["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{}", bad.text);
        let bad = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024", "kind": "telepathy"})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let r = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024", "kind": "business"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!((r.json["filing"]["kind"].as_str(), r.json["filing"]["period"].as_str()), (Some("business"), Some("2024")));
        let id = r.json["filing"]["id"].as_i64().unwrap();
        let dup = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024", "kind": "business"})).await;
        assert_eq!(dup.status, StatusCode::CONFLICT);
        // The template: one line per org of the subtree and metric.
        let t = h.get(&format!("/api/v1/filings/{id}/template.csv"), &filer).await;
        assert!(t.text.contains("org_code,period,metric,value,unit,source_document,evidence_ref,org_name"), "{}", t.text);
        assert!(t.text.contains("CT-GD-GZ,2024,traffic_tb,,TB"), "{}", t.text);
        let x = h.get(&format!("/api/v1/filings/{id}/template.xlsx"), &filer).await;
        assert_eq!(x.status, StatusCode::OK);
        // Good rows and each bad input with its code; the bad ones go to quarantine only.
        let csv = "org_code,period,metric,value,unit,source_document\n\
                   CT-GD,2024,traffic_tb,1000,TB,r1\nCT-GD-GZ,2024,traffic_tb,500.5,TB,r1\nCT-GD,2024,business_volume_10k_yuan,20000,10^4 yuan@2020,r2\n\
                   CT-XX,2024,traffic_tb,1,TB,r1\nCT-GD,2024,bs5g_traffic_gb,-5,GB,r1\nCT-GD,2023-12,revenue_10k_yuan,1,10^4 yuan,r1\nCT-BJ,2024,traffic_tb,1,TB,r1\n";
        let up = h.upload(id, &filer, csv).await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text);
        assert_eq!((up.json["accepted"].as_i64(), up.json["rejected"].as_i64()), (Some(3), Some(4)), "{}", up.text);
        let codes: Vec<String> = reasons(&up).iter().map(|r| r.split(':').next().unwrap().to_string()).collect();
        assert_eq!(codes, ["unknown_org", "negative_value", "period_outside_filing", "org_outside_filing"], "{}", up.text);
        let rows = h.get(&format!("/api/v1/filings/{id}/rows"), &filer).await;
        assert_eq!(rows.json["rows"].as_array().map(Vec::len), Some(3), "nothing half-stored: {}", rows.text);
        assert!(h.get(&format!("/api/v1/filings/{id}/quarantine.csv"), &filer).await.text.contains("negative_value"));
        // Not approved yet: nothing fed.
        let d = h.get("/api/v1/orgs/CT-GD/indicators/energy_per_traffic?year=2024", &filer).await;
        assert_eq!(component(&d.json, "traffic_tb")["value"], Value::Null, "{}", d.text);
        assert_eq!(h.post(&format!("/api/v1/filings/{id}/submit"), &filer, json!({})).await.status, StatusCode::OK);
        let a = h.post(&format!("/api/v1/filings/{id}/approve"), &reviewer, json!({})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let d = h.get("/api/v1/orgs/CT-GD/indicators/energy_per_traffic?year=2024", &filer).await;
        let tr = component(&d.json, "traffic_tb");
        assert_eq!((tr["value"].as_f64(), tr["feed"].as_str()), (Some(1500.5), Some("business_data")), "{}", d.text);
        assert_eq!((tr["sources"][0]["kind"].as_str(), tr["sources"][0]["id"].as_i64()), (Some("filing"), Some(id)));
        // A restatement replaces the values; the approved version stays readable.
        let r = h.post(&format!("/api/v1/filings/{id}/restate"), &filer, json!({"reason": "traffic recounted"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let v2 = r.json["filing"]["id"].as_i64().unwrap();
        assert_eq!(r.json["filing"]["kind"].as_str(), Some("business"));
        let up = h.upload(v2, &filer, "org_code,period,metric,value,unit,source_document\nCT-GD,2024,traffic_tb,1200,TB,r1\n").await;
        assert_eq!((up.status, up.json["rejected"].as_i64()), (StatusCode::OK, Some(0)), "{}", up.text);
        h.post(&format!("/api/v1/filings/{v2}/submit"), &filer, json!({})).await;
        assert_eq!(h.post(&format!("/api/v1/filings/{v2}/approve"), &reviewer, json!({})).await.status, StatusCode::OK);
        let d = h.get("/api/v1/orgs/CT-GD/indicators/energy_per_traffic?year=2024", &filer).await;
        let tr = component(&d.json, "traffic_tb");
        assert_eq!((tr["value"].as_f64(), tr["sources"][0]["id"].as_i64()), (Some(1700.5), Some(v2)), "{}", d.text);
        assert_eq!(h.get(&format!("/api/v1/filings/{id}/rows"), &filer).await.json["rows"][0]["quantity"].as_str(), Some("1000"));
        // Business data is not activity: the inventory never reads it.
        let admin = h.login("admin").await;
        let s = inventory(&h, &admin, "CT", 2024).await;
        let snap = h.get(&format!("/api/v1/snapshots/{s}"), &admin).await;
        assert!(!snap.text.contains(&format!("\"id\":{v2},")), "{}", snap.text);
    });
}

/// Hourly load of two cells per station over three days (ITU 2023 layout; stations by facility code).
fn cells_csv(stations: &[&str]) -> String {
    let mut s = String::from("Time,BS,CellName,load\n");
    for st in stations {
        for day in 1..=3 {
            for hour in 0..24 {
                let sun = ((hour as f64 - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
                s.push_str(&format!(
                    "3/{day}/2024 {hour}:00,{st},Cell0,{:.4}\n3/{day}/2024 {hour}:00,{st},Cell1,{:.4}\n",
                    0.15 + 0.25 * sun,
                    0.02 + 0.4 * sun
                ));
            }
        }
    }
    s
}

fn indicator(r: &Reply, code: &str) -> Option<f64> {
    r.json["indicators"].as_array().unwrap().iter().find(|i| i["indicator"] == json!(code)).unwrap()["value"].as_f64()
}

#[test]
fn facility_attributes_give_counts_and_new_subsets_and_refuse_bad_changes() {
    platform("indicators_attributes").run(|h| async move {
        let gd = h.login("gd-admin").await;
        let post = |body: &'static str| {
            let (h, gd) = (&h, gd.clone());
            async move { h.request("POST", "/api/v1/facility-attributes", Some(&gd), body, "text/csv").await }
        };
        let ok = post(
            "facility_code,valid_from,size_class,commissioning_year,ai_saving,vehicles,electric_vehicles\n\
             DC-GD,2022-03-01,大型,2022,,,\nGD1,2022-01-01,,2022,true,,\nGD2,2019-01-01,,2019,false,,\nFL-GD,2020-01-01,,,,10,1\nFL-GD,2024-01-01,,,,10,3\n",
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
        assert_eq!((ok.json["added"].as_i64(), ok.json["unchanged"].as_i64()), (Some(5), Some(0)));
        let list = h.get("/api/v1/orgs/CT-GD/facility-attributes", &gd).await;
        assert_eq!(list.json["versions"].as_array().map(Vec::len), Some(5), "{}", list.text);
        let i24 = h.get("/api/v1/orgs/CT-GD/indicators?year=2024", &gd).await;
        assert_eq!((indicator(&i24, "large_dc_share"), indicator(&i24, "bs_ai_coverage"), indicator(&i24, "ev_share")), (Some(100.0), Some(50.0), Some(30.0)), "{}", i24.text);
        let i21 = h.get("/api/v1/orgs/CT-GD/indicators?year=2021", &gd).await;
        assert_eq!((indicator(&i21, "large_dc_share"), indicator(&i21, "ev_share")), (None, Some(10.0)), "the DC did not exist in 2021: {}", i21.text);
        // Bad input: each with its code, nothing stored.
        for (body, code, status) in [
            ("facility_code,valid_from,racks\nDC-GD,2020-06-01,100\n", "before_commissioning", StatusCode::UNPROCESSABLE_ENTITY),
            ("facility_code,valid_from,racks\nDC-XX,2023-06-01,100\n", "unknown_facility", StatusCode::UNPROCESSABLE_ENTITY),
            ("facility_code,valid_from,racks\nGD1,2023-06-01,100\n", "not_applicable", StatusCode::UNPROCESSABLE_ENTITY),
            ("facility_code,valid_from,racks\nDC-GD,2023-02-30,100\n", "bad_date", StatusCode::UNPROCESSABLE_ENTITY),
            ("facility_code,valid_from,vehicles,electric_vehicles\nFL-GD,2024-06-01,2,\n", "more_evs_than_vehicles", StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let r = post(body).await;
            assert_eq!((r.status, r.json["error"]["code"].as_str()), (status, Some("invalid_attributes")), "{body}: {}", r.text);
            assert!(r.text.contains(code), "{code}: {}", r.text);
        }
        let r = post("facility_code,valid_from,generation\nBJ1,2023-06-01,5G\n").await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")), "{}", r.text);
        assert_eq!(h.get("/api/v1/orgs/CT-GD/facility-attributes", &gd).await.json["versions"].as_array().map(Vec::len), Some(5));
        // The same rows again change nothing.
        let again = post("facility_code,valid_from,size_class,commissioning_year\nDC-GD,2022-03-01,大型,2022\n").await;
        assert_eq!((again.json["added"].as_i64(), again.json["unchanged"].as_i64()), (Some(0), Some(1)), "{}", again.text);

        // A saving run on both stations: only GD1 (5G, commissioned 2022) is a new 5G station.
        let run = h
            .post("/api/v1/orgs/CT-GD/sites/bs-saving", &gd, json!({"cells_csv": cells_csv(&["GD1", "GD2"]), "period": "2024"}))
            .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.text);
        let value = |f: &str, c: &str| {
            run.json["recorded"].as_array().unwrap().iter().find(|r| r["facility"] == json!(f) && r["component"] == json!(c)).unwrap()["value"].as_f64().unwrap()
        };
        let expected = value("GD1", "bs_ai_saved_kwh") / value("GD1", "bs_ai_reference_kwh") * 100.0;
        let d = h.get("/api/v1/orgs/CT-GD/indicators/new_bs5g_saving_share?year=2024", &gd).await;
        assert!(close(d.json["value"].as_f64().unwrap(), expected), "{expected}: {}", d.text);
        let saved = component(&d.json, "new_bs5g_saved_kwh");
        assert_eq!(saved["feed"].as_str(), Some("saving_runs"));
        assert!(saved["sources"][0]["source"].as_str().unwrap().starts_with("bs-saving") && saved["sources"][0]["source"].as_str().unwrap().ends_with("+ attributes"), "{}", d.text);
        // The scoreboard scores CT-GD on it, with the sources of each figure.
        let admin = h.login("admin").await;
        let board = h.get("/api/v1/orgs/CT/scoreboard?year=2024", &admin).await;
        let gd_row = board.json["rows"].as_array().unwrap().iter().find(|r| r["org"] == json!("CT-GD")).unwrap();
        let p = gd_row["progress"].as_array().unwrap().iter().find(|p| p["target"] == json!("new_bs5g_saving")).unwrap();
        assert!(p["current"].as_f64().is_some(), "{}", board.text);
        assert_eq!(p["sources"][0]["component"].as_str(), Some("new_bs5g_saved_kwh"), "{}", board.text);
        assert_eq!(p["sources"][0]["sources"][0]["kind"].as_str(), Some("saving_run"));
    });
}

#[test]
fn green_logistics_records_feed_the_packaging_share_and_new_energy_cities_with_their_2025_targets() {
    platform("indicators_green_logistics").run(|h| async move {
        let (gd, bj, admin) = (h.login("gd-filer").await, h.login("bj-filer").await, h.login("admin").await);
        let csv = |token: &str, path: &str, body: &str| {
            let (h, token, path, body) = (&h, token.to_string(), path.to_string(), body.to_string());
            async move { h.request("POST", &path, Some(&token), body, "text/csv").await }
        };
        // Bad rows: each named by file line and field, nothing stored.
        let bad = csv(&gd, "/api/v1/supply/packaging", "line,org,period,packages,green_packages\nP1,CT-GD,2025,10,11\nP2,CT-GD,25,1,1\n").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert!(bad.text.contains("packaging.csv:2: green_packages") && bad.text.contains("packaging.csv:3: period"), "{}", bad.text);
        let bad = csv(&gd, "/api/v1/supply/deliveries", "line,org,city,period,vehicle,deliveries\nD1,CT-BJ,北京,2025,new_energy,1\n").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "another province's org: {}", bad.text);
        // Guangdong: 950 + 850 of 2,000 packages green (90 %); Beijing 10 of 100.
        let r = csv(&gd, "/api/v1/supply/packaging", "line,org,period,packages,green_packages\nP1,CT-GD,2025,1000,950\nP2,CT-GD-GZ,2025-03,1000,850\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = csv(&bj, "/api/v1/supply/packaging", "line,org,period,packages,green_packages\nP1,CT-BJ,2025,100,10\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // New-energy deliveries: 广州 (5 at CT-GD, 3 at its city, 1 in Beijing: counted at CT-GD), 深圳
        // (the city), 北京; 佛山 only by conventional vehicles, 珠海 with none.
        let r = csv(&gd, "/api/v1/supply/deliveries", "line,org,city,period,vehicle,deliveries\nD1,CT-GD,广州,2025,new_energy,5\nD2,CT-GD-GZ,广州,2025-02,new_energy,3\nD3,CT-GD-GZ,深圳,2025,new_energy,2\nD4,CT-GD,佛山,2025,conventional,9\nD5,CT-GD,珠海,2025,new_energy,0\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = csv(&bj, "/api/v1/supply/deliveries", "line,org,city,period,vehicle,deliveries\nB1,CT-BJ,北京,2025,new_energy,1\nB2,CT-BJ,广州,2025,new_energy,1\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // The group: (950 + 850 + 10) / 2,100 = 86.190476 %; three distinct cities.
        let group = h.get("/api/v1/orgs/CT/indicators?year=2025", &admin).await;
        assert!(close(indicator(&group, "green_packaging_share").unwrap(), 1810.0 / 2100.0 * 100.0), "{}", group.text);
        assert_eq!(indicator(&group, "nev_delivery_cities"), Some(3.0), "{}", group.text);
        // Guangdong: 90 %, two cities (广州 counted once, at CT-GD); its city: 85 %, one (深圳).
        let g = h.get("/api/v1/orgs/CT-GD/indicators?year=2025", &admin).await;
        assert_eq!((indicator(&g, "green_packaging_share"), indicator(&g, "nev_delivery_cities")), (Some(90.0), Some(2.0)), "{}", g.text);
        let gz = h.get("/api/v1/orgs/CT-GD-GZ/indicators?year=2025", &admin).await;
        assert_eq!((indicator(&gz, "green_packaging_share"), indicator(&gz, "nev_delivery_cities")), (Some(85.0), Some(1.0)));
        let bjv = h.get("/api/v1/orgs/CT-BJ/indicators?year=2025", &admin).await;
        assert_eq!((indicator(&bjv, "green_packaging_share"), indicator(&bjv, "nev_delivery_cities")), (Some(10.0), Some(1.0)));
        let d = h.get("/api/v1/orgs/CT-GD/indicators/green_packaging_share?year=2025", &admin).await;
        assert_eq!(component(&d.json, "green_packages")["feed"], json!("supply"), "{}", d.text);
        // The scoreboard scores both provinces on the 2025 targets (≥ 90 %, more than 100 cities).
        let board = h.get("/api/v1/orgs/CT/scoreboard?year=2025", &admin).await;
        assert_eq!(board.status, StatusCode::OK, "{}", board.text);
        let progress = |org: &str, target: &str| {
            let row = board.json["rows"].as_array().unwrap().iter().find(|r| r["org"] == json!(org)).unwrap_or_else(|| panic!("{org}: {}", board.text));
            row["progress"].as_array().unwrap().iter().find(|p| p["target"] == json!(target)).unwrap_or_else(|| panic!("{target}: {row}")).clone()
        };
        let p = progress("CT-GD", "green_packaging_90");
        assert_eq!((p["current"].as_f64(), p["goal"].as_f64(), p["met"].as_bool()), (Some(90.0), Some(90.0), Some(true)), "{p}");
        assert_eq!(p["sources"][0]["sources"][0]["kind"], json!("supply"), "{p}");
        let b = progress("CT-BJ", "green_packaging_90");
        assert_eq!((b["current"].as_f64(), b["met"].as_bool()), (Some(10.0), Some(false)));
        let c = progress("CT-GD", "nev_delivery_cities_100");
        assert_eq!((c["current"].as_f64(), c["goal"].as_f64(), c["met"].as_bool()), (Some(2.0), Some(100.0), Some(false)), "{c}");
    });
}
