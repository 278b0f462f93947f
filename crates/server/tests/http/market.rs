//! The internal carbon market over the real router, on SQLite and PostgreSQL: allocation from
//! approved snapshots only, with explanations that match the snapshot; trading that cannot
//! double-spend under concurrent clients; retries that apply once; bad input answered with the
//! field named; the journal replaying to the stored state.

use crate::harness::{electricity_csv, fac, group_orgs, Harness, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn platform(name: &str) -> Platform {
    let mut facilities = Vec::new();
    for i in 1..=3 {
        facilities.push(fac(&format!("GD{i}"), "base_station_5g", "CT-GD", "广东"));
        facilities.push(fac(&format!("BJ{i}"), "base_station_5g", "CT-BJ", "北京"));
    }
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("reviewer", "reviewer", "CT"),
        ("auditor", "auditor", "CT"),
        ("employee", "employee", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-reviewer", "reviewer", "CT-GD"),
        ("bj-admin", "org_admin", "CT-BJ"),
    ];
    Platform::new(name, Seed { orgs: group_orgs("CT-BJ"), facilities, users })
}

fn plan(year: i32, deadline: &str) -> String {
    format!(
        r#"[period]
year = {year}
cap_t = "1000000"
reserve_t = "100"
surrender_deadline = "{deadline}"
offset_cap = "0.05"
penalty_multiple = "5"
borrowing = {{ threshold = "0.10", max_share = "0.5" }}

[[allocation]]
org = "CT-GD"
method = "grandfathering"
base_year = {base}
coefficient = "0.98"

[[allocation]]
org = "CT-BJ"
method = "grandfathering"
base_year = {base}
coefficient = "0.9"
"#,
        base = year - 1
    )
}

/// Files January of `year` for both provinces (approved), runs the group's inventory and, when
/// `approve`, approves it; the snapshot's id.
async fn year_of_data(h: &Harness, admin: &str, reviewer: &str, year: i32, kwh: u32, approve: bool) -> i64 {
    year_of(h, admin, reviewer, year, (kwh, kwh), approve).await
}

/// The same with other electricity for Guangdong and Beijing.
async fn year_of(
    h: &Harness,
    admin: &str,
    reviewer: &str,
    year: i32,
    (gd_kwh, bj_kwh): (u32, u32),
    approve: bool,
) -> i64 {
    let period = format!("{year}-01");
    let gd: Vec<(String, String, u32)> = (1..=3).map(|i| (format!("GD{i}"), period.clone(), gd_kwh * i)).collect();
    let bj: Vec<(String, String, u32)> = (1..=3).map(|i| (format!("BJ{i}"), period.clone(), bj_kwh * i)).collect();
    h.file_approved(admin, reviewer, "CT-GD", &period, &electricity_csv(&gd)).await;
    h.file_approved(admin, reviewer, "CT-BJ", &period, &electricity_csv(&bj)).await;
    let r = h.post("/api/v1/inventories", admin, json!({"org_code": "CT", "year": year})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json["snapshot"]["id"].as_i64().unwrap_or_else(|| panic!("{}", r.text));
    if approve {
        let a = h.post(&format!("/api/v1/snapshots/{id}/approve"), reviewer, json!({"note": "verified"})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    id
}

/// A market with the 2025 period allocated from the approved 2024 snapshot; the tokens.
async fn allocated(h: &Harness) -> (String, String, String) {
    let admin = h.login("admin").await;
    let reviewer = h.login("reviewer").await;
    year_of_data(h, &admin, &reviewer, 2024, 100_000, true).await;
    let r = h.post("/api/v1/market/plans", &admin, json!({"year": 2025, "toml": plan(2025, "2099-06-30")})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = h.post("/api/v1/market/periods/2025/allocate", &admin, json!({"basis": "final"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["refused"], json!([]), "{}", r.text);
    (admin, h.login("gd-admin").await, h.login("bj-admin").await)
}

/// `dualcarbon market verify` on the test's store (the PostgreSQL client blocks: off the async worker).
fn verified(h: &Harness) -> Value {
    tokio::task::block_in_place(|| platform::market::verify(&h.app.platform.store).unwrap())
}

fn available(account: &Value, asset: Value) -> i64 {
    account["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == asset)
        .map_or(0, |b| b["available"].as_i64().unwrap())
}

fn posted(account: &Value, asset: Value) -> i64 {
    account["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == asset)
        .map_or(0, |b| b["posted"].as_i64().unwrap())
}

fn vintage(v: i32) -> Value {
    json!({"asset": "allowance", "vintage": v})
}

#[test]
fn allocations_read_approved_snapshots_only_and_explain_themselves() {
    platform("market_allocation").run(|h| async move {
        let admin = h.login("admin").await;
        let reviewer = h.login("reviewer").await;
        let unapproved = year_of_data(&h, &admin, &reviewer, 2024, 100_000, false).await;
        // The same year for CT-GD alone, for its figures (never approved).
        let r = h.post("/api/v1/inventories", &admin, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let gd_snapshot = r.json["snapshot"]["id"].as_i64().unwrap();
        let gd = h.get(&format!("/api/v1/snapshots/{gd_snapshot}"), &admin).await;
        let unit = gd.json["units"]["total_market"].as_str().unwrap_or("").to_string();
        let scale = if unit.starts_with('t') { 1000.0 } else { 1.0 };
        let gd_kg = gd.json["snapshot"]["result"]["totals"]["total_market"].as_f64().unwrap() * scale;
        assert!(gd_kg > 1000.0, "{unit} {gd_kg}: {}", gd.text);

        // A plan with an unknown method or org is refused with the field named.
        let bad = plan(2025, "2099-06-30")
            .replace("method = \"grandfathering\"\nbase_year = 2024\ncoefficient = \"0.9\"", "method = \"auction\"");
        let r = h.post("/api/v1/market/plans", &admin, json!({"year": 2025, "toml": bad})).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("plan_invalid")),
            "{}",
            r.text
        );
        assert!(r.json["error"]["detail"][0]["field"].as_str().unwrap().starts_with("allocation[1]"), "{}", r.text);
        let r = h
            .post(
                "/api/v1/market/plans",
                &admin,
                json!({"year": 2025, "toml": plan(2025, "2099-06-30").replace("CT-BJ", "CT-XX")}),
            )
            .await;
        assert_eq!(r.json["error"]["detail"][0]["field"], json!("allocation[1].org"), "{}", r.text);
        // Only the group's carbon office administers the market; employees do not read it.
        let gd_admin = h.login("gd-admin").await;
        let r =
            h.post("/api/v1/market/plans", &gd_admin, json!({"year": 2025, "toml": plan(2025, "2099-06-30")})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(h.get("/api/v1/market", &h.login("employee").await).await.status, StatusCode::FORBIDDEN);

        let r = h.post("/api/v1/market/plans", &admin, json!({"year": 2025, "toml": plan(2025, "2099-06-30")})).await;
        assert_eq!((r.status, &r.json["version"]), (StatusCode::OK, &json!(1)), "{}", r.text);
        // No approved snapshot yet: nothing can be allocated, every missing input named.
        let r = h.post("/api/v1/market/periods/2025/allocate", &admin, json!({"basis": "final"})).await;
        assert_eq!(r.json["error"]["code"], json!("allocation_inputs_missing"), "{}", r.text);
        assert_eq!(r.json["error"]["detail"].as_array().unwrap().len(), 2, "{}", r.text);
        // Naming an unapproved snapshot is refused.
        let r = h
            .post("/api/v1/market/periods/2025/allocate", &admin, json!({"basis": "final", "snapshots": [unapproved]}))
            .await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("snapshot_not_approved")),
            "{}",
            r.text
        );
        // A reviewer of a province cannot approve the group's snapshot; the group's reviewer can, once.
        let r =
            h.post(&format!("/api/v1/snapshots/{unapproved}/approve"), &h.login("gd-reviewer").await, json!({})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r =
            h.post(&format!("/api/v1/snapshots/{unapproved}/approve"), &reviewer, json!({"note": "verified"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = h.post(&format!("/api/v1/snapshots/{unapproved}/approve"), &reviewer, json!({})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

        let r = h.post("/api/v1/market/periods/2025/allocate", &admin, json!({"basis": "final"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let list = h.get("/api/v1/market/periods/2025/allocations", &admin).await;
        let gd_alloc = list.json["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["org_code"] == json!("CT-GD"))
            .unwrap()
            .clone();
        let input = gd_alloc["explanation"]["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == json!("emissions_kg[2024]"))
            .unwrap()
            .clone();
        let e: i64 = input["value"].as_str().unwrap().parse().unwrap();
        assert!(input["source"].as_str().unwrap().contains(&format!("snapshot {unapproved}")), "{input}");
        // The input is the approved snapshot's CT-GD figure (Scope 1 + market Scope 2), to the kilogram.
        assert!((e as f64 - gd_kg).abs() <= 1.0, "{e} vs {gd_kg}");
        // Grandfathering: ⌊E × 0.98⌋.
        assert_eq!(gd_alloc["kg"], json!(e * 98 / 100), "{gd_alloc}");
        let acct = h.get("/api/v1/market/account?org=CT-GD", &admin).await;
        assert_eq!(posted(&acct.json, vintage(2025)), e * 98 / 100, "{}", acct.text);
        // Allocating again issues nothing more.
        let again = h.post("/api/v1/market/periods/2025/allocate", &admin, json!({"basis": "final"})).await;
        assert_eq!(again.json["allocated"], json!([]), "{}", again.text);
        let acct = h.get("/api/v1/market/account?org=CT-GD", &admin).await;
        assert_eq!(posted(&acct.json, vintage(2025)), e * 98 / 100);
        // Every change is in the audit log.
        let audit = h.get("/api/v1/audit?order=desc&action=market.allocation", &admin).await;
        assert!(audit.json["entries"].as_array().unwrap().len() >= 2, "{}", audit.text);
        let verify = verified(&h);
        assert_eq!(verify["ok"], json!(true), "{verify}");
    });
}

#[test]
fn concurrent_clients_cannot_double_spend_and_retries_apply_once() {
    platform("market_concurrency").run(|h| async move {
        let (admin, gd, bj) = allocated(&h).await;
        let start = h.get("/api/v1/market/account", &gd).await;
        let held = posted(&start.json, vintage(2025));
        assert!(held >= 20_000, "{}", start.text);
        // Ten lots' worth each: at most held / each orders can be accepted.
        let each = (held / 7) / 1000 * 1000;
        let mut tasks = Vec::new();
        for i in 0..12 {
            for _retry in 0..2 {
                let app = h.app.clone();
                let token = gd.clone();
                tasks.push(tokio::spawn(async move {
                    let h = Harness { app, backend: String::new(), dir: tempfile::tempdir().unwrap() };
                    let body = json!({"request_id": format!("sell-{i}"), "vintage": 2025, "side": "sell", "type": "limit", "quantity_kg": each, "price_fen": 8000 + i});
                    h.post("/api/v1/market/orders", &token, body).await
                }));
            }
        }
        let mut accepted = std::collections::BTreeMap::new();
        let mut refused = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                StatusCode::OK => {
                    let order = r.json["order"].as_u64().unwrap();
                    // A retried request answers the same order.
                    if let Some(prev) = accepted.insert(order, r.json["repeated"].as_bool().unwrap()) {
                        assert!(prev || r.json["repeated"] == json!(true), "order {order} applied twice");
                    }
                }
                StatusCode::CONFLICT => {
                    assert_eq!(r.json["error"]["code"], json!("insufficient_balance"), "{}", r.text);
                    refused += 1;
                }
                s => panic!("{s}: {}", r.text),
            }
        }
        assert_eq!(accepted.len() as i64, held / each, "exactly as many orders as the allowances cover");
        assert!(refused > 0);
        let acct = h.get("/api/v1/market/account", &gd).await;
        assert!(available(&acct.json, vintage(2025)) >= 0);
        assert_eq!(acct.json["orders"].as_array().unwrap().len(), accepted.len());

        // The buyer pays: delivery versus payment, the money moves between budgets.
        let r = h.post("/api/v1/market/budget", &admin, json!({"request_id": "fund-bj", "org": "CT-BJ", "fen": 10_000_000})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let bj_own = posted(&h.get("/api/v1/market/account", &bj).await.json, vintage(2025));
        let buy = json!({"request_id": "buy-1", "vintage": 2025, "side": "buy", "type": "limit", "quantity_kg": each, "price_fen": 9000});
        let r = h.post("/api/v1/market/orders", &bj, buy.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let trade = r.json["trades"][0].clone();
        assert_eq!(trade["price"], json!(8000), "the best ask, the oldest at 80.00: {}", r.text);
        let paid = each / 1000 * 8000;
        let gd_after = h.get("/api/v1/market/account", &gd).await;
        let bj_after = h.get("/api/v1/market/account", &bj).await;
        assert_eq!(posted(&gd_after.json, json!({"asset": "cash"})), paid);
        assert_eq!(posted(&bj_after.json, json!({"asset": "cash"})), 10_000_000 - paid, "the price improvement came back");
        assert_eq!(posted(&bj_after.json, vintage(2025)), bj_own + each);
        assert_eq!(posted(&gd_after.json, vintage(2025)), held - each);
        // The same request again applies nothing.
        let again = h.post("/api/v1/market/orders", &bj, buy.clone()).await;
        assert_eq!(again.json["repeated"], json!(true), "{}", again.text);
        assert_eq!(posted(&h.get("/api/v1/market/account", &bj).await.json, json!({"asset": "cash"})), 10_000_000 - paid);
        // The same id for another command is refused, naming the field.
        let mut other = buy.clone();
        other["price_fen"] = json!(9100);
        let r = h.post("/api/v1/market/orders", &bj, other).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str(), r.json["error"]["detail"]["field"].as_str()), (StatusCode::CONFLICT, Some("request_id_reused"), Some("request_id")), "{}", r.text);
        // A subsidiary reads its own account, not another's, and cannot confirm a transfer
        // addressed to another or cancel another's order.
        let r = h.get("/api/v1/market/account?org=CT-BJ", &gd).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")), "{}", r.text);
        let p = h.post("/api/v1/market/transfers", &gd, json!({"request_id": "p1", "buyer": "CT-BJ", "vintage": 2025, "quantity_kg": 1000, "price_fen": 5000})).await;
        let proposal = p.json["proposal"].as_u64().unwrap_or_else(|| panic!("{}", p.text));
        let r = h.post(&format!("/api/v1/market/transfers/{proposal}/confirm"), &gd, json!({"request_id": "p2"})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_your_proposal")), "{}", r.text);
        let r = h.post(&format!("/api/v1/market/transfers/{proposal}/withdraw"), &gd, json!({"request_id": "p3"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // A subsidiary cannot cancel another's order.
        let gd_order = gd_after.json["orders"][0]["id"].as_u64().unwrap();
        let r = h.post(&format!("/api/v1/market/orders/{gd_order}/cancel"), &bj, json!({"request_id": "c1"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = h.post(&format!("/api/v1/market/orders/{gd_order}/cancel"), &gd, json!({"request_id": "c1"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);

        let verify = verified(&h);
        assert_eq!(verify["ok"], json!(true), "{verify}");
        // The audit entries of the batches (written many per statement) chain and verify.
        let audit = h.get("/api/v1/audit/verify", &admin).await;
        assert_eq!(audit.json["verification"]["ok"], json!(true), "{}", audit.text);
        // The journal as stored is what a replay writes: a tampered entry is found.
        tokio::task::block_in_place(|| h.app.platform.store.tx(|c| c.exec("UPDATE market_entries SET body = replace(body, '\"amount\":', '\"amount\": ') WHERE seq = 2", &[]))).unwrap();
        let verify = verified(&h);
        assert_eq!(verify["ok"], json!(false), "{verify}");
        assert!(verify["first_discrepancy"].as_str().unwrap().contains("journal entry 2"), "{verify}");
    });
}

#[test]
fn bad_input_is_answered_with_the_field_named_and_nothing_applied() {
    platform("market_bad_input").run(|h| async move {
        let (admin, gd, _bj) = allocated(&h).await;
        let before = h.get("/api/v1/market/account", &gd).await.json;
        let order = |q: i64, p: i64, v: i32, id: &str| json!({"request_id": id, "vintage": v, "side": "sell", "type": "limit", "quantity_kg": q, "price_fen": p});
        let cases = [
            (order(1500, 8000, 2025, "b1"), StatusCode::UNPROCESSABLE_ENTITY, "quantity_not_whole_lots", "quantity_kg"),
            (order(1000, 8000, 2031, "b2"), StatusCode::UNPROCESSABLE_ENTITY, "unknown_vintage", "vintage"),
            (order(999_999_000, 8000, 2025, "b3"), StatusCode::CONFLICT, "insufficient_balance", "quantity_kg"),
            (order(1000, 8000, 2025, "bad id!"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_id", "request_id"),
        ];
        for (body, status, code, field) in cases {
            let r = h.post("/api/v1/market/orders", &gd, body).await;
            assert_eq!((r.status, r.json["error"]["code"].as_str(), r.json["error"]["detail"]["field"].as_str()), (status, Some(code), Some(field)), "{}", r.text);
        }
        let r = h.post("/api/v1/market/orders", &gd, order(1000, 0, 2025, "b5")).await;
        assert_eq!((r.status, r.json["error"]["detail"]["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("price_fen")), "{}", r.text);
        // A band: a price outside it is refused.
        let r = h.post("/api/v1/market/vintages/2025/band", &admin, json!({"request_id": "band", "low_fen": 5000, "high_fen": 9000})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = h.post("/api/v1/market/orders", &gd, order(1000, 9500, 2025, "b6")).await;
        assert_eq!((r.json["error"]["code"].as_str(), r.json["error"]["detail"]["field"].as_str()), (Some("price_outside_band"), Some("price_fen")), "{}", r.text);
        assert_eq!(h.get("/api/v1/market/account", &gd).await.json["balances"], before["balances"], "nothing was applied");
        // A surrender after the deadline.
        let reviewer = h.login("reviewer").await;
        year_of_data(&h, &admin, &reviewer, 2023, 90_000, true).await;
        let r = h.post("/api/v1/market/plans", &admin, json!({"year": 2024, "toml": plan(2024, "2025-01-31")})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = h.post("/api/v1/market/periods/2024/surrender", &gd, json!({"request_id": "s1"})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("surrender_after_deadline")), "{}", r.text);
        // A province cannot surrender for another.
        let r = h.post("/api/v1/market/periods/2025/surrender", &gd, json!({"request_id": "s2", "org": "CT-BJ"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        // The obligation needs the period's approved snapshot.
        let r = h.post("/api/v1/market/periods/2025/surrender", &gd, json!({"request_id": "s3"})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("no_verified_emissions")), "{}", r.text);
    });
}

#[test]
fn surrender_and_the_compliance_report() {
    platform("market_compliance").run(|h| async move {
        let (admin, gd, bj) = allocated(&h).await;
        let reviewer = h.login("reviewer").await;
        // 2025's verified emissions: more than 2024's for both (1.5×), so both fall short.
        year_of_data(&h, &admin, &reviewer, 2025, 150_000, true).await;
        // CCER credits: more than the 5 % cap; only the group's office enters them.
        let offset = json!({"request_id": "o1", "org": "CT-GD", "kind": "ccer", "vintage": 2025, "kg": 10_000_000, "reference": "CCER-2025-0001"});
        assert_eq!(h.post("/api/v1/market/offsets", &gd, offset.clone()).await.status, StatusCode::FORBIDDEN);
        let r = h.post("/api/v1/market/offsets", &admin, offset).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = h.post("/api/v1/market/periods/2025/surrender", &gd, json!({"request_id": "s1"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let owed = r.json["obligation_kg"].as_i64().unwrap();
        let s = &r.json["surrender"];
        let gd_held = {
            let list = h.get("/api/v1/market/periods/2025/allocations", &admin).await;
            list.json["allocations"].as_array().unwrap().iter().find(|a| a["org_code"] == json!("CT-GD")).unwrap()["kg"]
                .as_i64()
                .unwrap()
        };
        assert_eq!(s["allowances_kg"], json!(gd_held), "{}", r.text);
        // Offsets up to 5 % of the obligation, not more.
        let cap = owed * 5 / 100;
        assert_eq!((s["offsets_kg"].as_i64(), s["offset_cap_kg"].as_i64()), (Some(cap), Some(cap)), "{}", r.text);
        assert_eq!(s["shortfall_kg"], json!(owed - gd_held - cap), "{}", r.text);
        // Retired allowances never move: the account is empty of 2025 allowances now.
        let acct = h.get("/api/v1/market/account", &gd).await;
        assert_eq!(posted(&acct.json, vintage(2025)), 0, "{}", acct.text);
        // The shortfall is about 1 − 0.98/1.5 − 5 % ≈ 30 % ≥ 10 %: borrowing up to half of it is allowed, not more.
        let short = owed - gd_held - cap;
        let r =
            h.post("/api/v1/market/periods/2025/borrow", &gd, json!({"request_id": "b1", "kg": short / 2 + 1})).await;
        assert_eq!(r.json["error"]["code"], json!("borrowing_above_cap"), "{}", r.text);
        let r = h.post("/api/v1/market/periods/2025/borrow", &gd, json!({"request_id": "b2", "kg": short / 2})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Borrowed allowances cannot be sold or transferred: no order can reserve them.
        let r = h
            .post(
                "/api/v1/market/transfers",
                &gd,
                json!({"request_id": "t1", "buyer": "CT-BJ", "vintage": 2026, "quantity_kg": 1000, "price_fen": 100}),
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.text);
        let r = h.post("/api/v1/market/periods/2025/surrender", &gd, json!({"request_id": "s2"})).await;
        assert_eq!(r.json["surrender"]["borrowed_kg"], json!(short / 2), "{}", r.text);
        let report = h.get("/api/v1/market/periods/2025/compliance", &bj).await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.text);
        let line =
            report.json["lines"].as_array().unwrap().iter().find(|l| l["org"] == json!("CT-GD")).unwrap().clone();
        assert_eq!(line["obligation_kg"], json!(owed));
        assert_eq!(line["surrendered_kg"], json!(gd_held + short / 2));
        assert_eq!(line["offsets_kg"], json!(cap));
        assert_eq!(line["shortfall_kg"], json!(short - short / 2));
        assert_eq!(
            line["make_good_kg"],
            json!(short - short / 2 + short / 2),
            "the shortfall and the borrowed come off the next period"
        );
        assert_eq!(line["status"], json!("open"), "the deadline has not passed");
        assert_eq!(report.json["non_compliant"], json!([]));
        // Auditors read the journal; provinces do not.
        let auditor = h.login("auditor").await;
        let j = h.get("/api/v1/market/journal?limit=5", &auditor).await;
        assert_eq!(j.json["entries"].as_array().unwrap().len(), 5, "{}", j.text);
        assert_eq!(h.get("/api/v1/market/journal", &bj).await.status, StatusCode::FORBIDDEN);
    });
}

#[test]
fn settling_a_period_after_its_deadline_moves_penalties_and_rewards() {
    platform("market_settle").run(|h| async move {
        let admin = h.login("admin").await;
        let reviewer = h.login("reviewer").await;
        let (gd, bj) = (h.login("gd-admin").await, h.login("bj-admin").await);
        let at = |t: i64| platform::market::set_time(&h.app.platform, Some(t));
        year_of_data(&h, &admin, &reviewer, 2024, 100_000, true).await;
        let plan = plan(2025, "2026-01-31").replace("borrowing =", "reward_share = \"0.5\"\nborrowing =");
        let r = h.post("/api/v1/market/plans", &admin, json!({"year": 2025, "toml": plan})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        at(1_748_736_000); // 2025-06-01
        let r = h.post("/api/v1/market/periods/2025/allocate", &admin, json!({"basis": "final"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // 2025: Guangdong emits 1.5 times its base year, Beijing half.
        year_of(&h, &admin, &reviewer, 2025, (150_000, 50_000), true).await;
        // December 2025, the month before the deadline: one trade at 80.00 yuan a tonne.
        at(1_765_771_200); // 2025-12-15 12:00 Beijing
        for org in ["CT-GD", "CT-BJ"] {
            let r = h.post("/api/v1/market/budget", &admin, json!({"request_id": format!("f-{org}"), "org": org, "fen": 100_000_000})).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let sell = json!({"request_id": "s", "vintage": 2025, "side": "sell", "type": "limit", "quantity_kg": 1000, "price_fen": 8000});
        assert_eq!(h.post("/api/v1/market/orders", &bj, sell).await.status, StatusCode::OK);
        let buy = json!({"request_id": "b", "vintage": 2025, "side": "buy", "type": "limit", "quantity_kg": 1000, "price_fen": 8000});
        assert_eq!(h.post("/api/v1/market/orders", &gd, buy).await.json["trades"].as_array().unwrap().len(), 1);
        at(1_768_017_600); // 2026-01-10: both surrender before the deadline
        for (token, rid) in [(&gd, "sg"), (&bj, "sb")] {
            let r = h.post("/api/v1/market/periods/2025/surrender", token, json!({"request_id": rid})).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let r = h.post("/api/v1/market/periods/2025/settle", &admin, json!({})).await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("deadline_not_passed")), "{}", r.text);
        at(1_769_918_400); // 2026-02-01, after the deadline
        let report = h.get("/api/v1/market/periods/2025/compliance", &admin).await.json;
        assert_eq!(report["average_price_fen"], json!(8000), "{report}");
        assert_eq!(report["non_compliant"], json!(["CT-GD"]), "{report}");
        let line = |org: &str| report["lines"].as_array().unwrap().iter().find(|l| l["org"] == json!(org)).unwrap().clone();
        let (gd_line, bj_line) = (line("CT-GD"), line("CT-BJ"));
        let shortfall = gd_line["shortfall_kg"].as_i64().unwrap();
        // Penalty: shortfall (t) × 8,000 fen/t × 5; reward: what Beijing has left (t) × 8,000 × 0.5.
        assert_eq!(gd_line["penalty_fen"], json!(shortfall * 8000 * 5 / 1000), "{gd_line}");
        let surplus = bj_line["surplus_kg"].as_i64().unwrap();
        assert!(surplus > 0, "{bj_line}");
        assert_eq!(bj_line["reward_fen"], json!(surplus * 8000 / 2 / 1000), "{bj_line}");
        async fn cash(h: &Harness, token: String) -> i64 {
            let a = h.get("/api/v1/market/account", &token).await.json;
            posted(&a, json!({"asset": "cash"}))
        }
        let (gd_before, bj_before) = (cash(&h, gd.clone()).await, cash(&h, bj.clone()).await);
        let r = h.post("/api/v1/market/periods/2025/settle", &admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(cash(&h, gd.clone()).await, gd_before - gd_line["penalty_fen"].as_i64().unwrap(), "the penalty left Guangdong's budget");
        assert_eq!(cash(&h, bj.clone()).await, bj_before + bj_line["reward_fen"].as_i64().unwrap(), "the reward reached Beijing");
        // Settling again pays nothing more.
        let again = h.post("/api/v1/market/periods/2025/settle", &admin, json!({})).await;
        assert!(again.json["settled"].as_array().unwrap().iter().all(|l| l["penalty_paid_fen"] == json!(0) && l["reward_paid_fen"] == json!(0)), "{}", again.text);
        assert_eq!(cash(&h, gd.clone()).await, gd_before - gd_line["penalty_fen"].as_i64().unwrap());
        let after = h.get("/api/v1/market/periods/2025/compliance", &admin).await.json;
        assert_eq!(after["lines"].as_array().unwrap().iter().find(|l| l["org"] == json!("CT-GD")).unwrap()["penalty_paid_fen"], gd_line["penalty_fen"]);
        assert_eq!(verified(&h)["ok"], json!(true));
        platform::market::set_time(&h.app.platform, None);
    });
}
