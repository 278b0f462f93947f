//! The platform's HTTP integration suite. Every test runs the real router against SQLite and
//! against PostgreSQL (see store::testing), with real users, argon2 logins and tokens.

use crate::harness::{
    electricity_csv, every_role, group_orgs, six_sites_each, Harness, Platform, Reply, Seed, PASSWORD,
};
use axum::http::StatusCode;
use serde_json::json;
use server::routes::ROUTES;

/// Group CT with provinces CT-GD (city CT-GD-GZ) and CT-BJ, six 5G sites each, and one user of
/// every role (province roles for GD, plus a BJ filer).
fn platform(name: &str) -> Platform {
    let (orgs, facilities) = (group_orgs("CT-BJ"), six_sites_each("CT-BJ", "BJ", "北京"));
    let mut users = every_role();
    users.extend([
        ("gd-auditor", "auditor", "CT-GD"),
        ("bj-filer", "data_filer", "CT-BJ"),
        ("bj-admin", "org_admin", "CT-BJ"),
    ]);
    Platform::new(name, Seed { orgs, facilities, users })
}

/// Files, submits and approves one month for a province (as its filer and its admin).
async fn file_month(
    h: &Harness,
    filer: &str,
    approver: &str,
    org: &str,
    period: &str,
    rows: &[(&str, &str, &str)],
) -> i64 {
    h.file_approved(filer, approver, org, period, &electricity_csv(rows)).await
}

#[test]
fn openapi_lists_exactly_the_real_routes_and_every_route_is_guarded() {
    platform("openapi").run(|h| async move {
        let backend = h.backend.clone();
        let doc = h.request("GET", "/api/v1/openapi.json", None, "", "application/json").await;
        assert_eq!(doc.status, StatusCode::OK);
        assert_eq!(doc.json["openapi"], json!("3.0.3"));
        let paths = doc.json["paths"].as_object().unwrap();
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, ROUTES.len(), "{backend}");
        let admin = h.login("admin").await;
        for (path, ops) in paths {
            for method in ops.as_object().unwrap().keys() {
                let concrete = path.replace("{code}", "CT-GD").replace("{id}", "999999");
                let m = method.to_uppercase();
                // Routed: an unknown route or method answers no_route / method_not_allowed.
                let r = h.request(&m, &concrete, Some(&admin), "{}", "application/json").await;
                assert!(
                    !matches!(r.json["error"]["code"].as_str(), Some("no_route" | "method_not_allowed")),
                    "{backend}: {m} {concrete} is documented but not routed ({})",
                    r.status
                );
                if r.status.is_client_error() || r.status.is_server_error() {
                    assert!(
                        r.json["error"]["code"].is_string(),
                        "{backend}: {m} {concrete}: error is not JSON: {}",
                        r.text
                    );
                }
                // Without a token every non-public route refuses.
                let public = ops[method].get("security").is_some();
                let anon = h.request(&m, &concrete, None, "{}", "application/json").await;
                if !public {
                    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{backend}: {m} {concrete} without login");
                    assert_eq!(anon.json["error"]["code"], json!("unauthenticated"));
                }
            }
        }
        // (The loop above logged the admin out through /auth/logout.)
        assert_eq!(h.get("/api/v1/me", &admin).await.status, StatusCode::UNAUTHORIZED);
        let admin = h.login("admin").await;
        let unknown = h.get("/api/v1/nothing-here", &admin).await;
        assert_eq!((unknown.status, unknown.json["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_route")));
        let wrong = h.request("DELETE", "/api/v1/filings", Some(&admin), "", "application/json").await;
        assert_eq!(wrong.json["error"]["code"].as_str(), Some("method_not_allowed"));
        let garbled = h.request("POST", "/api/v1/filings", Some(&admin), "{not json", "application/json").await;
        assert_eq!(
            (garbled.status, garbled.json["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request"))
        );
        let m = h.request("GET", "/metrics", None, "", "text/plain").await;
        assert!(
            m.text.contains(
                "dualcarbon_http_requests_total{method=\"GET\",route=\"/api/v1/openapi.json\",status=\"200\"}"
            ),
            "{}",
            m.text
        );
        assert!(m.text.contains("dualcarbon_audit_entries"));
    });
}

#[test]
fn a_province_cannot_read_or_write_another_provinces_data_through_any_route() {
    platform("scope").run(|h| async move {
        let backend = h.backend.clone();
        let admin = h.login("admin").await;
        let bj = h.login("bj-filer").await;
        let bj_admin = h.login("bj-admin").await;
        let bj_filing = file_month(&h, &bj, &bj_admin, "CT-BJ", "2024-01", &[("BJ1", "2024-01", "100")]).await;
        let snap = h.post("/api/v1/inventories", &bj_admin, json!({"org_code": "CT-BJ", "year": 2024})).await;
        assert_eq!(snap.status, StatusCode::CREATED, "{}", snap.text);
        let bj_snapshot = snap.json["snapshot"]["id"].as_i64().unwrap();
        let group = h.post("/api/v1/inventories", &admin, json!({"org_code": "CT", "year": 2024})).await;
        let group_snapshot = group.json["snapshot"]["id"].as_i64().unwrap();
        // The GD org admin has every permission but factor management; each GD role is tried.
        for user in ["gd-admin", "gd-filer", "gd-reviewer", "gd-auditor"] {
            let gd = h.login(user).await;
            // The market's routes name no org resource in their path: an account is always the
            // caller's own org (or one of its subtree), checked by ownership in http::market. The
            // 碳普惠 routes name credits, orders, accounts and apps, not filings or snapshots: their
            // own scope test is inclusive::another_orgs_programme_data_is_out_of_scope. A report
            // job's file is its owner's only (http::reports), its id no org's resource. The supply
            // routes name suppliers and footprints: supply::a_supplier_sees_only_its_own_company_on_every_supply_route.
            for r in ROUTES.iter().filter(|r| {
                r.path.contains('{')
                    && !r.path.starts_with("/api/v1/market/")
                    && !r.path.starts_with("/api/v1/inclusive/")
                    && !r.path.starts_with("/api/v1/reports/")
                    && !r.path.starts_with("/api/v1/supply/")
            }) {
                for target in [
                    bj_filing.to_string(),
                    bj_snapshot.to_string(),
                    group_snapshot.to_string(),
                    "CT-BJ".into(),
                    "CT".into(),
                ] {
                    let is_id = target.parse::<i64>().is_ok();
                    if r.path.contains("{id}") != is_id {
                        continue;
                    }
                    if r.path.starts_with("/api/v1/filings/") && target != bj_filing.to_string() {
                        continue;
                    }
                    let path = r.path.replace("{code}", &target).replace("{id}", &target);
                    let path = if path.contains("dashboard") || path.contains("quality") {
                        format!("{path}?year=2024")
                    } else {
                        path
                    };
                    let body = json!({"comment": "x", "reason": "x"}).to_string();
                    let res = h.request(&r.method.to_uppercase(), &path, Some(&gd), body, "application/json").await;
                    assert_eq!(
                        res.status,
                        StatusCode::FORBIDDEN,
                        "{backend}: {user} {} {path}: {}",
                        r.method,
                        res.text
                    );
                    assert!(
                        matches!(res.json["error"]["code"].as_str(), Some("out_of_scope" | "forbidden")),
                        "{}",
                        res.text
                    );
                }
            }
            // Org codes in request bodies are checked too.
            let f = h.post("/api/v1/filings", &gd, json!({"org_code": "CT-BJ", "period": "2024-02"})).await;
            assert_eq!(f.status, StatusCode::FORBIDDEN, "{backend}: {user}");
            let i = h.post("/api/v1/inventories", &gd, json!({"org_code": "CT", "year": 2024})).await;
            assert_eq!(i.status, StatusCode::FORBIDDEN, "{backend}: {user}");
            let u = h
                .post(
                    "/api/v1/users",
                    &gd,
                    json!({"username": "x", "password": "long enough pw", "role": "employee", "org_code": "CT-BJ"}),
                )
                .await;
            assert_eq!(u.status, StatusCode::FORBIDDEN, "{backend}: {user}");
            // Lists show the own subtree only.
            let text = [
                h.get("/api/v1/filings", &gd).await.text,
                h.get("/api/v1/snapshots", &gd).await.text,
                h.get("/api/v1/orgs", &gd).await.text,
                h.get("/api/v1/audit", &gd).await.text,
                h.get("/api/v1/users", &gd).await.text,
                h.get("/api/v1/snapshots/affected", &gd).await.text,
            ]
            .join("\n");
            assert!(!text.contains("CT-BJ") && !text.contains("BJ1"), "{backend}: {user} sees Beijing: {text}");
            // A GD facility's rows cannot be filed into Beijing's filing either (and vice versa).
        }
        let gd_filer = h.login("gd-filer").await;
        let mine = h.post("/api/v1/filings", &gd_filer, json!({"org_code": "CT-GD", "period": "2024-01"})).await;
        let id = mine.json["filing"]["id"].as_i64().unwrap();
        let up = h.upload(id, &gd_filer, &electricity_csv(&[("BJ2", "2024-01", "5"), ("GD1", "2024-01", "5")])).await;
        assert_eq!((up.json["accepted"].as_i64(), up.json["rejected"].as_i64()), (Some(1), Some(1)), "{}", up.text);
        assert!(up.text.contains("outside this filing's org CT-GD"), "{}", up.text);
    });
}

#[test]
fn filing_upload_quarantine_idempotence_workflow_and_restatement() {
    platform("filing").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        let reviewer = h.login("gd-reviewer").await;
        let auditor = h.login("auditor").await;
        let employee = h.login("employee").await;
        let r = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024-03"})).await;
        let id = r.json["filing"]["id"].as_i64().unwrap();
        assert_eq!(r.json["filing"]["status"], json!("draft"));
        let again = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "2024-03"})).await;
        assert_eq!((again.status, again.json["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
        let bad_period = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD", "period": "March"})).await;
        assert_eq!(bad_period.status, StatusCode::UNPROCESSABLE_ENTITY);

        let template = h.get(&format!("/api/v1/filings/{id}/template.csv"), &filer).await;
        let lines: Vec<&str> = template.text.lines().collect();
        // With a byte order mark, so that Excel opens the Chinese names as UTF-8.
        assert_eq!(
            lines[0],
            "\u{feff}facility_code,period,carrier,quantity,unit,source_document,evidence_ref,facility_name"
        );
        assert_eq!(lines.len(), 7, "{backend}: one line per GD facility (6)");
        assert!(lines[1..].iter().all(|l| l.contains(",2024-03,electricity,,kWh,")));

        let file = "facility_code,period,carrier,quantity,unit,source_document\n\
                    GD1,2024-03,electricity,1000,kWh,b1\n\
                    GD2,2024-03,electricity,abc,kWh,b2\n\
                    GD3,2024-03,electricity,5,kg,b3\n\
                    GD4,2024-04,electricity,5,kWh,b4\n\
                    GD1,2024-03,electricity,1000,kWh,b1\n\
                    GD5,2024-03,diesel,20,L,b5\n";
        let up = h.upload(id, &filer, file).await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.text);
        assert_eq!(
            (up.json["accepted"].as_i64(), up.json["rejected"].as_i64()),
            (Some(2), Some(4)),
            "{backend}: {}",
            up.text
        );
        let reasons: Vec<(i64, String)> = up.json["rejected_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["row"]["line"].as_i64().unwrap(), r["reasons"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(reasons.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
        assert!(reasons[0].1.contains("quantity") && reasons[1].1.contains("unit") && reasons[2].1.contains("2024-03"));
        assert!(reasons[3].1.contains("duplicated record key") && reasons[3].1.contains("line 2"), "{}", reasons[3].1);

        // The same file again: same answer, nothing counted twice.
        let twice = h.upload(id, &filer, file).await;
        assert_eq!(
            (twice.json["new"].as_bool(), twice.json["upload"]["id"].clone()),
            (Some(false), up.json["upload"]["id"].clone())
        );
        let detail = h.get(&format!("/api/v1/filings/{id}"), &filer).await;
        assert_eq!(
            (detail.json["rows"].as_i64(), detail.json["quarantined"].as_i64()),
            (Some(2), Some(4)),
            "{backend}"
        );

        // Quarantine: download, fix, upload again.
        let q = h.get(&format!("/api/v1/filings/{id}/quarantine.csv"), &filer).await;
        assert_eq!(q.text.lines().count(), 5, "{}", q.text);
        let fixed = q.text.replace(",abc,", ",2000,").replace(",5,kg,", ",5,kWh,");
        let fixed: String = fixed
            .lines()
            .filter(|l| !l.contains("2024-04") && !l.contains("duplicated"))
            .collect::<Vec<_>>()
            .join("\n");
        let up2 = h.upload(id, &filer, &fixed).await;
        assert_eq!(
            (up2.json["accepted"].as_i64(), up2.json["rejected"].as_i64()),
            (Some(2), Some(0)),
            "{backend}: {}",
            up2.text
        );
        let detail = h.get(&format!("/api/v1/filings/{id}"), &filer).await;
        assert_eq!(detail.json["rows"].as_i64(), Some(4));
        assert_eq!(detail.json["quarantined"].as_i64(), Some(2), "{backend}: the April row and the duplicate stay");

        // A corrected value for a row already filed replaces it; the old value stays readable.
        let corr = h
            .upload(
                id,
                &filer,
                "facility_code,period,carrier,quantity,unit,source_document\nGD5,2024-03,diesel,25,L,b5\n",
            )
            .await;
        assert_eq!(corr.json["accepted"].as_i64(), Some(1), "{}", corr.text);
        let replaced = h.get(&format!("/api/v1/filings/{id}/replaced"), &filer).await;
        assert_eq!(replaced.json["replaced"].as_array().unwrap().len(), 1, "{backend}: {}", replaced.text);
        assert_eq!(replaced.json["replaced"][0]["row"]["quantity"], json!("20"));
        assert_eq!(replaced.json["replaced"][0]["replaced_by_upload"], corr.json["upload"]["id"]);
        assert_eq!(h.get(&format!("/api/v1/filings/{id}"), &filer).await.json["rows"].as_i64(), Some(4));

        // Roles: the filer cannot approve, the auditor and employees cannot write.
        assert_eq!(
            h.post(&format!("/api/v1/filings/{id}/submit"), &auditor, json!({})).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(h.upload(id, &employee, file).await.status, StatusCode::FORBIDDEN);
        assert_eq!(h.get("/api/v1/filings", &employee).await.status, StatusCode::FORBIDDEN);
        assert_eq!(h.post(&format!("/api/v1/filings/{id}/submit"), &filer, json!({})).await.status, StatusCode::OK);
        let f = h.post(&format!("/api/v1/filings/{id}/approve"), &filer, json!({})).await;
        assert_eq!((f.status, f.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let ret = h
            .post(&format!("/api/v1/filings/{id}/return"), &reviewer, json!({"comment": "GD2 is twice last month"}))
            .await;
        assert_eq!(ret.json["filing"]["status"], json!("returned"));
        assert_eq!(ret.json["filing"]["comment"], json!("GD2 is twice last month"));
        h.post(&format!("/api/v1/filings/{id}/submit"), &filer, json!({})).await;
        let ok = h.post(&format!("/api/v1/filings/{id}/approve"), &reviewer, json!({})).await;
        assert_eq!(ok.json["filing"]["status"], json!("approved"), "{}", ok.text);
        // Locked.
        let late = h.upload(id, &filer, &electricity_csv(&[("GD6", "2024-03", "1")])).await;
        assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);

        // Restatement: a new version with a reason; the approved one stays readable.
        let no_reason = h.post(&format!("/api/v1/filings/{id}/restate"), &filer, json!({})).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
        let v2 = h.post(&format!("/api/v1/filings/{id}/restate"), &filer, json!({"reason": "GD1 meter misread"})).await;
        assert_eq!(v2.status, StatusCode::CREATED, "{}", v2.text);
        let v2id = v2.json["filing"]["id"].as_i64().unwrap();
        assert_eq!(
            (v2.json["filing"]["version"].as_i64(), v2.json["filing"]["supersedes"].as_i64()),
            (Some(2), Some(id))
        );
        h.upload(v2id, &filer, &electricity_csv(&[("GD1", "2024-03", "1500")])).await;
        let old_rows = h.get(&format!("/api/v1/filings/{id}/rows"), &filer).await;
        let new_rows = h.get(&format!("/api/v1/filings/{v2id}/rows"), &filer).await;
        let qty = |r: &Reply, f: &str| {
            r.json["rows"].as_array().unwrap().iter().find(|x| x["facility_code"] == json!(f)).unwrap()["quantity"]
                .clone()
        };
        assert_eq!(qty(&old_rows, "GD1"), json!("1000"));
        assert_eq!(
            new_rows.json["rows"].as_array().unwrap().len(),
            5,
            "{backend}: 4 copied + 1 new key (bill differs)"
        );

        // The auditor sees who did what, with before and after.
        let log = h.get("/api/v1/audit", &auditor).await;
        let entries = log.json["entries"].as_array().unwrap();
        let ret_entry = entries.iter().find(|e| e["action"] == json!("filing.return")).expect("return is audited");
        assert_eq!(ret_entry["actor"], json!("gd-reviewer"));
        assert!(
            ret_entry["before"].as_str().unwrap().contains("submitted")
                && ret_entry["after"].as_str().unwrap().contains("returned")
        );
        let v = h.get("/api/v1/audit/verify", &auditor).await;
        assert_eq!(v.json["verification"]["ok"], json!(true), "{}", v.text);
    });
}

#[test]
fn snapshots_rerun_to_the_same_numbers_explain_and_recompute_after_a_factor_update() {
    platform("snapshots").run(|h| async move {
        let backend = h.backend.clone();
        let admin = h.login("admin").await;
        let filer = h.login("gd-filer").await;
        let gd_admin = h.login("gd-admin").await;
        for (m, q) in [("2024-01", "3000"), ("2024-02", "2800")] {
            let rows: Vec<(String, String, String)> =
                (1..=6).map(|i| (format!("GD{i}"), m.to_string(), q.to_string())).collect();
            let rows: Vec<(&str, &str, &str)> =
                rows.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
            file_month(&h, &filer, &gd_admin, "CT-GD", m, &rows).await;
        }
        let s = h
            .post(
                "/api/v1/inventories",
                &gd_admin,
                json!({"org_code": "CT-GD", "year": 2024, "options": {"gwp": "AR5"}}),
            )
            .await;
        assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
        let snap = &s.json["snapshot"];
        let id = snap["id"].as_i64().unwrap();
        assert_eq!(snap["filings"].as_array().unwrap().len(), 2);
        assert!(snap["library_version"].as_str().unwrap().contains("cn-grid@"));
        let s2 = snap["result"]["totals"]["scope2_location"].as_f64().unwrap();
        assert!(s2 > 0.0);
        let rows = snap["result"]["rows"].as_array().unwrap();
        let city =
            rows.iter().find(|r| r["key"] == json!("CT-GD-GZ")).unwrap()["totals"]["scope2_location"].as_f64().unwrap();
        assert!((city - s2 / 2.0).abs() < 1e-9, "{backend}: GZ holds half the sites");
        let bad = h
            .post(
                "/api/v1/inventories",
                &gd_admin,
                json!({"org_code": "CT-GD", "year": 2024, "options": {"gwp": "AR9"}}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);

        let rerun = h.post(&format!("/api/v1/snapshots/{id}/rerun"), &gd_admin, json!({})).await;
        assert_eq!(rerun.json["identical"], json!(true), "{backend}: {}", rerun.text);

        let ex = h.get(&format!("/api/v1/snapshots/{id}/explain?org=CT-GD-GZ&scope=2&limit=100"), &gd_admin).await;
        assert_eq!(ex.status, StatusCode::OK, "{}", ex.text);
        let e = &ex.json["explanation"];
        assert_eq!(e["record_count"].as_u64(), Some(6), "{backend}: 3 sites × 2 months");
        assert!((e["totals"][0].as_f64().unwrap() - city).abs() < 1e-9, "explanation sums to the figure");
        let line = &e["lines"][0]["record"];
        assert!(line["filing_id"].as_i64().is_some() && line["line"].as_i64() == Some(2), "{backend}: {line}");

        // Dashboard for the org and its city.
        let d = h.get("/api/v1/orgs/CT-GD-GZ/dashboard?year=2024", &h.login("employee").await).await;
        assert_eq!(d.json["figures"]["totals"]["scope2_location"].as_f64(), Some(city), "{}", d.text);

        // A corrected grid factor for Guangdong 2024: the snapshot is affected and recomputed.
        let toml = r#"
[set]
id = "corrections"
version = "1"
title = "Our corrections"

[[factor]]
id = "elec.nbs_average.CN-GD.2022"
parameter = "emission_factor"
carrier = "electricity"
series = "nbs_average"
region = "CN-GD"
year = 2022
gas = "CO2"
value = 0.5
unit = "kgCO2/kWh"
source = "Test correction"
url = "https://example.org/test"
edition = "2026"
licence = "test"
status = "official"
"#;
        let gd_try = h.post("/api/v1/factor-sets", &gd_admin, json!({"toml": toml, "reason": "x"})).await;
        assert_eq!(gd_try.status, StatusCode::FORBIDDEN);
        let broken = h.post("/api/v1/factor-sets", &admin, json!({"toml": "[set]\nid = 1", "reason": "typo"})).await;
        assert_eq!(
            (broken.status, broken.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_factors")),
            "{}",
            broken.text
        );
        let fs = h.post("/api/v1/factor-sets", &admin, json!({"toml": toml, "reason": "official correction"})).await;
        assert_eq!(fs.status, StatusCode::CREATED, "{backend}: {}", fs.text);
        let affected = fs.json["affected_snapshots"].as_array().unwrap();
        assert_eq!(
            affected.iter().map(|a| a["snapshot"].as_i64().unwrap()).collect::<Vec<_>>(),
            vec![id],
            "{}",
            fs.text
        );
        let rc = h
            .post(&format!("/api/v1/snapshots/{id}/recompute"), &gd_admin, json!({"reason": "grid factor corrected"}))
            .await;
        assert_eq!(rc.status, StatusCode::CREATED, "{}", rc.text);
        let new = &rc.json["snapshot"];
        assert_eq!((new["version"].as_i64(), new["supersedes"].as_i64()), (Some(2), Some(id)));
        let diffs = rc.json["differences"].as_array().unwrap();
        let total = diffs
            .iter()
            .find(|d| d["org"] == json!("TOTAL") && d["figure"] == json!("scope2_location"))
            .expect("scope 2 changed");
        assert_eq!(total["before"].as_f64(), Some(s2));
        let kwh = 6.0 * 3000.0 + 6.0 * 2800.0;
        assert!((total["after"].as_f64().unwrap() - kwh * 0.5 / 1000.0).abs() < 1e-6, "{backend}: {total}");
        // The old snapshot is unchanged, and the new one is not affected any more.
        let old = h.get(&format!("/api/v1/snapshots/{id}"), &gd_admin).await;
        assert_eq!(old.json["snapshot"]["result"]["totals"]["scope2_location"].as_f64(), Some(s2));
        let again = h.get("/api/v1/snapshots/affected", &admin).await;
        assert_eq!(again.json["affected_snapshots"], json!([]), "{}", again.text);
        let twice = h.post(&format!("/api/v1/snapshots/{id}/recompute"), &gd_admin, json!({"reason": "again"})).await;
        assert_eq!(twice.status, StatusCode::CONFLICT);
    });
}

#[test]
fn quality_shows_missing_facilities_outliers_and_a_score() {
    platform("quality").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        let gd_admin = h.login("gd-admin").await;
        for m in 1..=4 {
            let period = format!("2024-{m:02}");
            // GD6 never reports; GD1 reports 50× its usual in April.
            let mut rows = vec![];
            for i in 1..=5 {
                let q = if i == 1 && m == 4 { "150000" } else { "3000" };
                rows.push((format!("GD{i}"), period.clone(), q.to_string()));
            }
            let rows: Vec<(&str, &str, &str)> =
                rows.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
            file_month(&h, &filer, &gd_admin, "CT-GD", &period, &rows).await;
        }
        let q = h.get("/api/v1/orgs/CT-GD/quality?year=2024", &filer).await;
        assert_eq!(q.status, StatusCode::OK, "{}", q.text);
        let gd = q.json["orgs"].as_array().unwrap().iter().find(|o| o["org"] == json!("CT-GD")).unwrap();
        let jan = &gd["months"][0];
        assert_eq!((jan["facilities"].as_u64(), jan["reported"].as_u64()), (Some(6), Some(5)), "{backend}");
        assert_eq!(jan["missing"], json!(["GD6"]));
        assert_eq!(jan["findings_count"].as_u64(), Some(0));
        let apr = &gd["months"][3];
        let checks: Vec<&str> =
            apr["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
        assert!(
            checks.contains(&"own_history") && checks.contains(&"range") && checks.contains(&"peers"),
            "{backend}: {checks:?}"
        );
        assert!(apr["score"].as_f64().unwrap() < jan["score"].as_f64().unwrap());
        assert_eq!(jan["score"].as_f64(), Some((100.0f64 * 5.0 / 6.0).round()));
        let may = &gd["months"][4];
        assert_eq!((may["reported"].as_u64(), may["score"].as_f64()), (Some(0), Some(0.0)));
        let city = q.json["orgs"].as_array().unwrap().iter().find(|o| o["org"] == json!("CT-GD-GZ")).unwrap();
        assert_eq!(city["months"][0]["facilities"].as_u64(), Some(3));
    });
}

#[test]
fn logins_tokens_cookies_and_user_management() {
    platform("auth").run(|h| async move {
        let backend = h.backend.clone();
        let wrong = h
            .request(
                "POST",
                "/api/v1/auth/login",
                None,
                json!({"username": "admin", "password": "nope"}).to_string(),
                "application/json",
            )
            .await;
        assert_eq!(
            (wrong.status, wrong.json["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
        );
        let body = json!({"username": "gd-admin", "password": PASSWORD}).to_string();
        let res = h.raw("POST", "/api/v1/auth/login", &[("content-type", "application/json")], body).await;
        let cookie = res.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.starts_with("dualcarbon_session="), "{cookie}");
        let session = cookie.split(';').next().unwrap().to_string();
        // The console's cookie works like the bearer token.
        let res = h.raw("GET", "/api/v1/me", &[("cookie", &session)], "").await;
        assert_eq!(res.status, StatusCode::OK, "{backend}");
        let gd_admin = h.login("gd-admin").await;
        let me = h.get("/api/v1/me", &gd_admin).await;
        assert_eq!(
            (me.json["role"].as_str(), me.json["user"]["org_code"].as_str()),
            (Some("org_admin"), Some("CT-GD"))
        );
        assert!(me.json["user"].get("password_hash").is_none());
        // An org admin creates users below, but no group admins.
        let u = h
            .post(
                "/api/v1/users",
                &gd_admin,
                json!({"username": "gz-filer", "password": PASSWORD, "role": "data_filer", "org_code": "CT-GD-GZ"}),
            )
            .await;
        assert_eq!(u.status, StatusCode::OK, "{}", u.text);
        let ga = h
            .post(
                "/api/v1/users",
                &gd_admin,
                json!({"username": "boss", "password": PASSWORD, "role": "group_admin", "org_code": "CT-GD"}),
            )
            .await;
        assert_eq!(ga.status, StatusCode::FORBIDDEN);
        let short = h
            .post(
                "/api/v1/users",
                &gd_admin,
                json!({"username": "s", "password": "short", "role": "employee", "org_code": "CT-GD"}),
            )
            .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST);
        let gz = h.login("gz-filer").await;
        let f = h.post("/api/v1/filings", &gz, json!({"org_code": "CT-GD", "period": "2024-01"})).await;
        assert_eq!(f.status, StatusCode::FORBIDDEN, "{backend}: a city user cannot file for its province");
        // Logout revokes the token.
        let out = h.request("POST", "/api/v1/auth/logout", Some(&gz), "", "application/json").await;
        assert_eq!(out.status, StatusCode::OK);
        assert_eq!(h.get("/api/v1/me", &gz).await.status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn docs_platform_md_lists_every_route() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/platform.md")).unwrap();
    for r in ROUTES {
        let row = format!("| {} | `{}` |", r.method.to_uppercase(), r.path);
        assert!(doc.contains(&row), "docs/platform.md does not document {row}");
    }
}

#[test]
fn xlsx_template_and_upload() {
    platform("xlsx").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        let r = h.post("/api/v1/filings", &filer, json!({"org_code": "CT-GD-GZ", "period": "2024-05"})).await;
        let id = r.json["filing"]["id"].as_i64().unwrap();
        // The workbook template holds what the CSV template holds.
        let auth = format!("Bearer {filer}");
        let res = h.raw("GET", &format!("/api/v1/filings/{id}/template.xlsx"), &[("authorization", &auth)], "").await;
        assert_eq!(res.status, StatusCode::OK);
        let bytes = res.bytes;
        let dir = tempfile::tempdir().unwrap();
        platform::xlsx::first_sheet_to_csv(bytes, &dir.path().join("t.csv")).unwrap();
        let from_xlsx = std::fs::read_to_string(dir.path().join("t.csv")).unwrap();
        let csv = h.get(&format!("/api/v1/filings/{id}/template.csv"), &filer).await.text;
        assert_eq!(Some(from_xlsx.as_str()), csv.strip_prefix('\u{feff}'), "{backend}: the CSV's rows after its BOM");
        // A filled-in workbook: two good rows, one bad quantity on sheet row 4.
        let rows: Vec<Vec<String>> = [
            vec!["facility_code", "period", "carrier", "quantity", "unit", "source_document"],
            vec!["GD1", "2024-05", "electricity", "3100.5", "kWh", "bill-1"],
            vec!["GD2", "2024-05", "electricity", "2900", "kWh", "bill-2"],
            vec!["GD3", "2024-05", "electricity", "lots", "kWh", "bill-3"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        let book = platform::xlsx::workbook("activity", &rows).unwrap();
        let up = h
            .request("POST", &format!("/api/v1/filings/{id}/upload"), Some(&filer), book, server::openapi::XLSX_MEDIA)
            .await;
        assert_eq!(
            (up.json["accepted"].as_i64(), up.json["rejected"].as_i64()),
            (Some(2), Some(1)),
            "{backend}: {}",
            up.text
        );
        assert_eq!(up.json["rejected_rows"][0]["row"]["line"].as_i64(), Some(4));
        let stored = h.get(&format!("/api/v1/filings/{id}/rows"), &filer).await;
        assert_eq!(stored.json["rows"][0]["quantity"], json!("3100.5"));
        let junk = h.upload(id, &filer, "PK\u{3}\u{4} this is no workbook").await;
        assert_eq!(
            (junk.status, junk.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_file")),
            "{}",
            junk.text
        );
    });
}

#[test]
fn reference_data_over_the_api_is_validated_and_for_group_admins_only() {
    platform("reference").run(|h| async move {
        let backend = h.backend.clone();
        let admin = h.login("admin").await;
        let gd_admin = h.login("gd-admin").await;
        let post = |path: &'static str, token: String, body: &'static str| {
            let h = &h;
            async move { h.request("POST", path, Some(&token), body, "text/csv").await }
        };
        let orgs = "org_code,name,parent_code\nCT,集团,\nCT-GD,广东,CT\nCT-GD-GZ,广州,CT-GD\nCT-BJ,北京,CT\nCT-SH,上海分公司,CT\n";
        assert_eq!(
            post("/api/v1/reference/orgs", gd_admin.clone(), orgs).await.status,
            StatusCode::FORBIDDEN,
            "{backend}"
        );
        let ok = post("/api/v1/reference/orgs", admin.clone(), orgs).await;
        assert_eq!((ok.status, ok.json["orgs"].as_i64()), (StatusCode::OK, Some(5)), "{}", ok.text);
        let other_root = post("/api/v1/reference/orgs", admin.clone(), "org_code,name,parent_code\nX,Other,\n").await;
        assert_eq!(other_root.json["error"]["code"], json!("invalid_file"), "{}", other_root.text);
        let cycle =
            post("/api/v1/reference/orgs", admin.clone(), "org_code,name,parent_code\nCT,G,\nA,a,B\nB,b,A\n").await;
        assert_eq!(cycle.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(cycle.json["error"]["detail"].as_array().map(Vec::len), Some(2), "{}", cycle.text);
        let facs = "facility_code,name,type,org_code,province\nSH1,站,base_station_5g,CT-SH,上海\nSH2,站,rocket,CT-SH,上海\nSH3,站,office,CT-NOPE,上海\n";
        let bad = post("/api/v1/reference/facilities", admin.clone(), facs).await;
        assert_eq!(
            (bad.status, bad.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_file"))
        );
        let lines: Vec<i64> =
            bad.json["error"]["detail"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, vec![3, 4], "{backend}: every bad row named: {}", bad.text);
        let good = post(
            "/api/v1/reference/facilities",
            admin.clone(),
            "facility_code,name,type,org_code,province\nSH1,站,base_station_5g,CT-SH,上海\n",
        )
        .await;
        assert_eq!(good.json["facilities"].as_i64(), Some(1), "{}", good.text);
        let listed = h.get("/api/v1/orgs/CT-SH/facilities", &admin).await;
        assert_eq!(listed.json["facilities"][0]["code"], json!("SH1"));
        // The new org is usable at once (the org cache notices a code it does not know).
        let f = h.post("/api/v1/filings", &admin, json!({"org_code": "CT-SH", "period": "2024-01"})).await;
        assert_eq!(f.status, StatusCode::CREATED, "{}", f.text);
    });
}

#[test]
fn a_filing_as_excel_writes_it_is_accepted_grouped_thousands_chinese_names_and_unfilled_template_lines() {
    platform("excel_spellings").run(|h| async move {
        let backend = h.backend.clone();
        let filer = h.login("gd-filer").await;
        // As a spreadsheet saves it: "1,234" quoted, Chinese carrier and unit names; the same
        // quantities in canonical spellings are filed for the other month.
        let excel = "facility_code,period,carrier,quantity,unit,source_document\n\
                     GD1,2024-05,电力,\"1,234\",千瓦时,b1\n\
                     GD2,2024-05,柴油,\"12,000.5\",升,b2\n\
                     GD3,2024-05,electricity,\"1,2\",kWh,b3\n\
                     GD4,2024-05,electricity,,kWh,\n\
                     GD5,2024-05,electricity,,kWh,b5\n";
        let plain = "facility_code,period,carrier,quantity,unit,source_document\n\
                     GD1,2024-06,electricity,1234,kWh,b1\n\
                     GD2,2024-06,diesel,12000.5,L,b2\n";
        let may = h.open_filing(&filer, "CT-GD", "2024-05").await;
        let up = h.upload(may, &filer, excel).await;
        assert_eq!(up.status, StatusCode::OK, "{backend}: {}", up.text);
        // A template line left unfilled (GD4) is read and not stored; a bill without its quantity
        // (GD5) is rejected.
        let counts = ["accepted", "rejected", "skipped_blank"].map(|k| up.json[k].as_i64());
        assert_eq!(counts, [Some(2), Some(2), Some(1)], "{}", up.text);
        assert_eq!(up.json["upload"]["rows_read"].as_i64(), Some(5), "{}", up.text);
        let lines: Vec<i64> =
            up.json["rejected_rows"].as_array().unwrap().iter().map(|r| r["row"]["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, [4, 6], "{}", up.text);
        // A comma that is not a thousands separator is never guessed to be a decimal comma.
        let reason = up.json["rejected_rows"][0]["reasons"].as_str().unwrap_or_default();
        assert!(reason.starts_with("quantity: not a number") && reason.contains("\"1,2\""), "{reason}");
        // The same file again gives the same answer, the blank line counted the same way.
        let again = h.upload(may, &filer, excel).await;
        assert_eq!((again.json["new"].as_bool(), again.json["skipped_blank"].as_i64()), (Some(false), Some(1)));
        // A template with no line filled in is nothing to file.
        let empty = h.open_filing(&filer, "CT-GD", "2024-07").await;
        let blank = "facility_code,period,carrier,quantity,unit,source_document\nGD1,2024-07,electricity,,kWh,\n";
        let refused = h.upload(empty, &filer, blank).await;
        assert_eq!(refused.json["error"]["code"].as_str(), Some("no_rows"), "{}", refused.text);
        let june = h.open_filing(&filer, "CT-GD", "2024-06").await;
        assert_eq!(h.upload(june, &filer, plain).await.json["accepted"].as_i64(), Some(2));
        let admin = h.login("gd-admin").await;
        for id in [may, june] {
            let s = h.post(&format!("/api/v1/filings/{id}/submit"), &filer, json!({})).await;
            assert_eq!(s.status, StatusCode::OK, "{}", s.text);
            let a = h.post(&format!("/api/v1/filings/{id}/approve"), &admin, json!({})).await;
            assert_eq!(a.status, StatusCode::OK, "{backend}: the stored rows validate again: {}", a.text);
        }
        let run = h.post("/api/v1/inventories", &admin, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(run.status, StatusCode::CREATED, "{}", run.text);
        let snap = run.json["snapshot"]["id"].as_i64().unwrap();
        // The two months' figures are the same: the spellings mean the same quantities.
        let ov = h.get("/api/v1/console/orgs/CT-GD/overview?year=2024", &admin).await;
        let months = ov.json["monthly"]["months"].as_array().cloned().unwrap_or_default();
        assert_eq!(months.len(), 12, "{backend} snapshot {snap}: {}", ov.text);
        let (may_t, june_t) = (&months[4]["totals"], &months[5]["totals"]);
        assert!(may_t["total_market"].as_f64().unwrap() > 0.0, "{may_t}");
        assert_eq!(may_t, june_t, "{backend}");
    });
}
