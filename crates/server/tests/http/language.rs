//! The console's language throughout (issue 14) on SQLite and PostgreSQL: beside its English prose
//! the server sends codes, numbers and ids the console words in zh and en — a rejected row's
//! problems, an explanation's steps (what each step is, why its factor was chosen, its primary
//! document), a job's kind, params and stage, the quality formula's code — and the factor library
//! names each shipped factor's primary document.

use crate::harness::{electricity_csv, fac, group_orgs, Harness, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn platform(name: &str) -> Platform {
    let facilities =
        vec![fac("GD1", "base_station_5g", "CT-GD-GZ", "广东"), fac("BJ1", "base_station_5g", "CT-BJ", "北京")];
    let users =
        vec![("admin", "group_admin", "CT"), ("gd-admin", "org_admin", "CT-GD"), ("gd-filer", "data_filer", "CT-GD")];
    Platform::new(name, Seed { orgs: group_orgs("CT-BJ"), facilities, users })
}

async fn wait_job(h: &Harness, id: i64, token: &str) -> Value {
    for _ in 0..600 {
        let r = h.get(&format!("/api/v1/console/jobs?id={id}"), token).await;
        let j = r.json["jobs"][0].clone();
        if j["status"] != json!("running") {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end");
}

#[test]
fn rejected_rows_carry_a_code_and_parameters_for_each_reason() {
    platform("language_problems").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        let id = h.open_filing(&filer, "CT-GD", "2024-02").await;
        let csv = "facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n\
                   GD1,2024-02,electricity,10,kWh,E1,\n\
                   GD1,2024-02,diesel,-40,L,F1,\n\
                   NOPE,2024-02,electricity,10,kWh,E2,\n\
                   BJ1,2024-02,electricity,10,kWh,E3,\n\
                   GD1,2024-02,unobtainium,10,kg,X1,\n\
                   GD1,2024-02,electricity,10,furlong,E4,\n\
                   GD1,2019-02,electricity,10,kWh,E5,\n\
                   GD1,2024-03,electricity,10,kWh,E6,\n\
                   GD1,2024-02,electricity,abc,kWh,E7,\n\
                   GD1,2024-02,electricity,10,kWh,E1,\n";
        let r = h.upload(id, &filer, csv).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        let rows = r.json["rejected_rows"].as_array().unwrap();
        let codes: Vec<(i64, &str, &str, &str)> = rows
            .iter()
            .flat_map(|r| {
                let line = r["row"]["line"].as_i64().unwrap();
                r["problems"].as_array().unwrap().iter().map(move |p| {
                    (line, p["column"].as_str().unwrap(), p["code"].as_str().unwrap(), p["value"].as_str().unwrap())
                })
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                (3, "quantity", "negative_quantity", "-40"),
                (4, "facility_code", "unknown_facility", "NOPE"),
                (5, "facility_code", "facility_outside_org", "BJ1"),
                (6, "carrier", "unknown_carrier", "unobtainium"),
                (7, "unit", "unknown_unit", "furlong"),
                (8, "period", "period_outside_year", "2019-02"),
                (9, "period", "wrong_month", "2024-03"),
                (10, "quantity", "quantity_not_a_number", "abc"),
                (11, "facility_code,period,carrier,source_document", "duplicate_key", "GD1,2024-02,electricity,E1"),
            ],
            "{backend}"
        );
        // Parameters the console words them with; the English reasons stay for API users.
        let by_line = |l: i64| rows.iter().find(|r| r["row"]["line"] == json!(l)).unwrap();
        assert_eq!(by_line(5)["problems"][0]["params"], json!({"org": "CT-GD"}), "{backend}");
        assert_eq!(by_line(8)["problems"][0]["params"], json!({"year": 2024}), "{backend}");
        assert_eq!(by_line(9)["problems"][0]["params"], json!({"filing_period": "2024-02"}), "{backend}");
        assert_eq!(by_line(11)["problems"][0]["params"], json!({"first_line": "2"}), "{backend}");
        assert!(by_line(3)["reasons"].as_str().unwrap().contains("negative quantity"), "{backend}");
        assert!(by_line(4)["reasons"].as_str().unwrap().contains("GET /api/v1/orgs/{code}/facilities"), "{backend}");

        // Another file through an import job: its title's parts and its stage as codes.
        let again = format!("{csv}GD1,2024-02,diesel,-5,L,F9,\n");
        let r = h
            .request("POST", &format!("/api/v1/filings/{id}/import-job"), Some(&filer), again.as_bytes(), "text/csv")
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{backend}: {}", r.text);
        let job = r.json["job"].clone();
        assert_eq!(job["kind"], json!("import"), "{backend}");
        assert_eq!(job["params"]["filing"], json!(id), "{backend}");
        assert_eq!(job["params"]["org"], json!("CT-GD"), "{backend}");
        assert_eq!(job["params"]["period"], json!("2024-02"), "{backend}");
        let done = wait_job(&h, job["id"].as_i64().unwrap(), &filer).await;
        assert_eq!(done["status"], json!("done"), "{backend}: {done}");
        assert_eq!(done["stage_code"], json!("importing"), "{backend}");
        assert_eq!(done["result"]["rejected_rows"][0]["problems"][0]["code"], json!("negative_quantity"), "{backend}");
    });
}

#[test]
fn an_explanation_says_what_each_step_is_and_why_as_codes_and_cites_the_primary_document() {
    platform("language_explain").run(|h| async move {
        let backend = h.backend.clone();
        let (filer, gd_admin) = (h.login("gd-filer").await, h.login("gd-admin").await);
        h.file_approved(&filer, &gd_admin, "CT-GD", "2024-01", &electricity_csv(&[("GD1", "2024-01", "1000")])).await;
        let snap = h.post("/api/v1/inventories", &gd_admin, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(snap.status, StatusCode::CREATED, "{backend}: {}", snap.text);
        let id = snap.json["snapshot"]["id"].as_i64().unwrap();
        let ex = h.get(&format!("/api/v1/snapshots/{id}/explain?org=CT-GD&scope=2&limit=10"), &gd_admin).await;
        assert_eq!(ex.status, StatusCode::OK, "{backend}: {}", ex.text);
        let plan = &ex.json["explanation"]["plans"][0];
        assert_eq!(plan["carrier"], json!("electricity"), "{backend}");
        assert_eq!(plan["province_code"], json!("CN-GD"), "{backend}");
        assert_eq!(plan["combustion"], json!("stationary"), "{backend}");
        let steps = plan["steps"].as_array().unwrap();
        let grid = steps.iter().find(|s| s["code"] == json!("location_grid_factor")).expect("a location-based step");
        // Chosen for Guangdong itself, its newest year at or before 2024, from the cn-grid set.
        assert_eq!(grid["why"]["code"], json!("most_specific_region"), "{backend}: {grid}");
        assert_eq!(grid["why"]["region"], json!("CN-GD"), "{backend}");
        assert_eq!(grid["why"]["inventory_year"], json!(2024), "{backend}");
        assert_eq!(grid["why"]["year"], grid["factor_year"], "{backend}");
        assert_eq!(grid["why"]["set"], json!("cn-grid"), "{backend}");
        assert!(grid["reason"].as_str().unwrap().starts_with("most specific region CN-GD"), "{backend}");
        // Its primary document: the MEE/NBS announcement of that year's factors, in zh and en.
        let doc = &grid["primary"]["document"];
        assert_eq!(doc["issuer_zh"], json!("生态环境部 国家统计局"), "{backend}: {grid}");
        assert_eq!(grid["primary"]["locator_en"], json!("provincial table"), "{backend}");
        let coal = steps.iter().find(|s| s["code"] == json!("standard_coal_coefficient")).expect("a tce step");
        assert_eq!(coal["primary"]["document"]["number_zh"], json!("GB/T 2589-2020"), "{backend}");

        // The factor library: every factor's primary document (or null: the project's densities).
        let lib = h.get("/api/v1/console/factors", &gd_admin).await;
        assert_eq!(lib.status, StatusCode::OK, "{backend}: {}", lib.text);
        let f =
            |id: &str| lib.json["factors"].as_array().unwrap().iter().find(|f| f["id"] == json!(id)).unwrap().clone();
        assert_eq!(
            f("elec.nbs_average.CN-GD.2021")["primary"]["document"]["number_zh"],
            json!("公告 2024年第12号"),
            "{backend}"
        );
        assert_eq!(
            f("elec.nbs_average.CN-GD.2021")["primary"]["document"]["number_en"],
            json!("Announcement No. 12 of 2024"),
            "{backend}"
        );
        assert_eq!(
            f("gwp.AR6.CH4")["primary"]["document"]["url"],
            json!("https://www.ipcc.ch/report/ar6/wg1/"),
            "{backend}"
        );
        assert_eq!(f("fuel.density.diesel")["primary"], Value::Null, "{backend}");

        // The quality formula has a code beside its English text.
        let q = h.get("/api/v1/orgs/CT-GD/quality?year=2024", &gd_admin).await;
        assert_eq!(q.json["method"]["code"], json!("completeness_clean_accepted"), "{backend}: {}", q.text);
    });
}

#[test]
fn templates_come_in_the_users_language_and_an_upload_reads_either_header() {
    platform("language_templates").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        let id = h.open_filing(&filer, "CT-GD", "2024-04").await;
        let zh = h.get(&format!("/api/v1/filings/{id}/template.csv?lang=zh"), &filer).await;
        assert_eq!(zh.status, StatusCode::OK, "{backend}: {}", zh.text);
        let text = zh.text.trim_start_matches('\u{feff}');
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("设施编码,期间,能源品种,数量,单位,凭证号,证明材料,设施名称"), "{backend}");
        assert!(lines.next().unwrap().starts_with("GD1,2024-04,电力,,千瓦时,"), "{backend}: {text}");
        let en = h.get(&format!("/api/v1/filings/{id}/template.csv?lang=en"), &filer).await;
        assert!(
            en.text.trim_start_matches('\u{feff}').starts_with("facility_code,period,carrier,quantity,unit,"),
            "{backend}"
        );
        let plain = h.get(&format!("/api/v1/filings/{id}/template.csv"), &filer).await;
        assert_eq!(plain.text, en.text, "{backend}: no lang is the canonical header");
        let bad = h.get(&format!("/api/v1/filings/{id}/template.xlsx?lang=fr"), &filer).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{backend}: {}", bad.text);
        assert_eq!(bad.json["error"]["code"], json!("invalid_lang"), "{backend}");
        let book = h.get(&format!("/api/v1/filings/{id}/template.xlsx?lang=zh"), &filer).await;
        assert_eq!(book.status, StatusCode::OK, "{backend}");

        // The zh template filled in as a spreadsheet saves it: accepted as the canonical one is.
        let filled = text.replacen(",电力,,千瓦时,,,", ",电力,\"1,234\",千瓦时,EB-04,,", 1);
        let r = h.upload(id, &filer, format!("\u{feff}{filled}")).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text);
        assert_eq!(
            (r.json["accepted"].as_i64(), r.json["rejected"].as_i64()),
            (Some(1), Some(0)),
            "{backend}: {}",
            r.text
        );
        let rows = h.get(&format!("/api/v1/filings/{id}/rows"), &filer).await;
        assert!(rows.text.contains("1234") || rows.text.contains("1,234"), "{backend}: {}", rows.text);
    });
}
