//! 碳普惠 over the real router, on SQLite and PostgreSQL: machine credentials in the access guard,
//! event batches with a verdict per event, the employee's account, claim, redemption and its
//! settlement, history explained, leaderboards with opt-in names, totals, methodology versions,
//! export and erasure.

use crate::harness::{basic_auth, group_orgs, Harness, Platform, Seed};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn platform(name: &str) -> Platform {
    let users = vec![
        ("admin", "group_admin", "CT"),
        ("employee", "employee", "CT-GD"),
        ("emp2", "employee", "CT-GD-GZ"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("zj-admin", "org_admin", "CT-ZJ"),
        ("auditor", "auditor", "CT"),
    ];
    // Monitoring with no meters: the indicators (fed by the programme's credits) are served by it.
    Platform::new(name, Seed { orgs: group_orgs("CT-ZJ"), facilities: vec![], users })
        .meters("meter_code,facility_code,role,kind\n")
}

fn iso(secs_ago: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    inclusive::time::format(now - secs_ago)
}

fn trip(id: &str, account: &str, mode: &str, metres: i64, minutes: i64) -> Value {
    json!({"id": id, "account": account, "action": "commute", "mode": mode, "start": iso(3600 + minutes * 60), "end": iso(3600), "distance_m": metres, "reference": id})
}

async fn post_events(h: &Harness, auth: &str, events: Value) -> crate::harness::Reply {
    h.raw(
        "POST",
        "/api/v1/inclusive/events",
        &[("content-type", "application/json"), ("authorization", auth)],
        json!({"events": events}).to_string(),
    )
    .await
}

/// An app credential made by `admin` for CT-GD: its Basic header.
async fn app(h: &Harness, admin: &str, audience: &str, trust: &str, delay: i64) -> String {
    let r = h
        .post(
            "/api/v1/inclusive/clients",
            admin,
            json!({"name": "app", "org_code": "CT-GD", "audience": audience, "trust": trust, "delay_days": delay}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    basic_auth(r.json["client"]["client_id"].as_str().unwrap(), r.json["secret"].as_str().unwrap())
}

#[test]
fn machine_credentials_are_their_own_door_in_the_access_guard() {
    platform("inclusive_machine").run(|h| async move {
        let admin = h.login("admin").await;
        let employee = h.login("employee").await;
        let zj = h.login("zj-admin").await;
        // Only inclusive admins create credentials, within their subtree.
        let r = h
            .post(
                "/api/v1/inclusive/clients",
                &employee,
                json!({"name": "x", "org_code": "CT-GD", "audience": "employee", "trust": "verified"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = h
            .post(
                "/api/v1/inclusive/clients",
                &zj,
                json!({"name": "x", "org_code": "CT-GD", "audience": "employee", "trust": "verified"}),
            )
            .await;
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
        let auth = app(&h, &admin, "employee", "authoritative", 0).await;
        let listed = h.get("/api/v1/inclusive/clients", &admin).await;
        assert!(!listed.text.contains("secret"), "{}", listed.text);
        // A person's token is not a machine credential, nor is a wrong secret.
        let r = h
            .raw(
                "POST",
                "/api/v1/inclusive/events",
                &[("content-type", "application/json"), ("authorization", &format!("Bearer {admin}"))],
                r#"{"events":[]}"#,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        let id = listed.json["clients"][0]["client_id"].as_str().unwrap().to_string();
        let r = post_events(&h, &basic_auth(&id, "wrong"), json!([])).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad_client_credentials"))
        );
        let r = post_events(&h, &auth, json!([])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Machine credentials open no other route.
        let r = h.raw("GET", "/api/v1/inclusive/me", &[("authorization", &auth)], "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // Revoked: refused.
        let r = h.post(&format!("/api/v1/inclusive/clients/{id}/revoke"), &admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(post_events(&h, &auth, json!([])).await.status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn a_batch_answers_each_event_and_bad_ones_never_block_good_ones() {
    platform("inclusive_batch").run(|h| async move {
        let admin = h.login("admin").await;
        let r = h.post("/api/v1/inclusive/accounts", &admin, json!({"username": "employee", "org_code": "CT-GD", "display_name": "小王", "opt_in": true})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let auth = app(&h, &admin, "employee", "authoritative", 0).await;
        let events = json!([
            trip("t1", "employee", "metro", 12_300, 30),
            trip("t2", "employee", "rocket", 1_000, 10),
            trip("t3", "employee", "metro", -5, 10),
            {"id": "t4", "account": "employee", "action": "commute", "mode": "metro", "start": iso(-7200), "end": iso(-7800), "distance_m": 1000, "reference": "t4"},
            trip("t1", "employee", "metro", 12_300, 30),
            trip("t6", "employee", "walking", 10_000, 30),
            {"id": "t7", "distance_m": "far"},
            trip("t8", "stranger", "bus", 5_000, 20),
            {"id": "t9", "account": "employee", "action": "e_invoice", "at": iso(60), "items": 1, "reference": "INV-1"},
            {"id": "t10", "account": "employee", "action": "e_invoice", "at": iso(60), "items": 1, "reference": "INV-1"},
        ]);
        let r = post_events(&h, &auth, events).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let v = r.json["verdicts"].as_array().unwrap();
        let got: Vec<(&str, &str)> = v.iter().map(|v| (v["status"].as_str().unwrap(), v["reason"].as_str().unwrap_or(""))).collect();
        assert_eq!(
            got,
            vec![
                ("accepted", ""),
                ("rejected", "unknown_mode"),
                ("rejected", "bad_quantity"),
                ("rejected", "future_time"),
                ("accepted", ""),
                ("rejected", "implausible_speed"),
                ("rejected", "bad_event"),
                ("rejected", "unknown_account"),
                ("accepted", ""),
                ("rejected", "duplicate"),
            ],
            "{}: {}",
            h.backend,
            r.text
        );
        assert_eq!(v[4]["replay"], true, "the same event id again is the first answer");
        assert_eq!(v[0]["grams"], 574);
        assert_eq!(r.json["counts"], json!({"accepted": 3, "pending": 0, "rejected": 7}));
        // An oversized batch: the first 1,000 examined, the rest answered batch_too_large.
        let many: Vec<Value> = (0..1001).map(|i| json!({"id": format!("p{i}"), "account": "employee", "action": "paperless_approval", "at": iso(60), "items": 1, "reference": format!("A{i}")})).collect();
        let r = post_events(&h, &auth, json!(many)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", &r.text[..200.min(r.text.len())]);
        let v = r.json["verdicts"].as_array().unwrap();
        assert_eq!(v.len(), 1001);
        assert_eq!(v[1000]["reason"], "batch_too_large");
        assert_eq!(v[0]["status"], "accepted");
        assert_eq!(v[20]["reason"], "cap_reached", "20 approvals a day");
        // Every rejected event is kept with its reason.
        let kept = h.get("/api/v1/inclusive/events?status=rejected&limit=2000", &admin).await;
        assert!(kept.json["events"].as_array().unwrap().iter().any(|e| e["reason"] == "implausible_speed"), "{}", kept.text);
    });
}

#[test]
fn an_employee_claims_redeems_and_sees_every_credit_explained() {
    platform("inclusive_employee").run(|h| async move {
        let admin = h.login("admin").await;
        let gd = h.login("gd-admin").await;
        let employee = h.login("employee").await;
        assert_eq!(h.get("/api/v1/inclusive/me", &employee).await.json["error"]["code"], "no_account");
        for (u, org, opt) in [("employee", "CT-GD", true), ("emp2", "CT-GD-GZ", false)] {
            let r = h
                .post(
                    "/api/v1/inclusive/accounts",
                    &gd,
                    json!({"username": u, "org_code": org, "display_name": format!("{u} name"), "opt_in": opt}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let auth = app(&h, &gd, "employee", "authoritative", 0).await;
        let r = post_events(
            &h,
            &auth,
            json!([
                trip("a1", "employee", "bike", 5_000, 20),
                trip("a2", "emp2", "bus", 8_000, 30),
                trip("a3", "employee", "carpool", 20_000, 30)
            ]),
        )
        .await;
        assert_eq!(r.json["counts"]["accepted"], 3, "{}", r.text);
        // The credited reductions feed the indicators: 139 + 2,718 g (employee, CT-GD) and 215 g
        // (emp2, CT-GD-GZ), rolled up the org tree, source `inclusive`.
        let year = &inclusive::time::cst_month(inclusive::time::parse(&iso(3600)).unwrap())[..4];
        for (org, grams) in [("CT", 139 + 2718 + 215), ("CT-GD-GZ", 215), ("CT-ZJ", 0)] {
            let d = h.get(&format!("/api/v1/orgs/{org}/indicators/inclusive_reduction?year={year}"), &admin).await;
            assert_eq!(d.status, StatusCode::OK, "{}", d.text);
            let c = d.json["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["component"] == "inclusive_reduction_kg")
                .unwrap();
            assert_eq!(c["feed"], "inclusive", "{}", d.text);
            if grams == 0 {
                assert!(c["value"].is_null() || c["value"].as_f64() == Some(0.0), "{org}: {}", d.text);
                continue;
            }
            assert_eq!(c["value"].as_f64(), Some(grams as f64 / 1000.0), "{org}: {}", d.text);
            assert_eq!(c["sources"][0]["kind"], "inclusive", "{}", d.text);
            let t = d.json["value"].as_f64().unwrap();
            assert!((t - grams as f64 / 1e6).abs() < 1e-12, "{org}: {t} t");
        }
        let me = h.get("/api/v1/inclusive/me", &employee).await;
        assert_eq!(me.json["claimable"], json!({"credits": 2, "points": 139 + 2718}), "{}", me.text);
        let c = h.post("/api/v1/inclusive/me/claim", &employee, json!({})).await;
        assert_eq!(
            (c.json["points"].as_i64(), c.json["balance"]["available"].as_i64()),
            (Some(2857), Some(2857)),
            "{}",
            c.text
        );
        // History: each credit with its methodology version, factors and caps.
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await;
        let credit = &hist.json["credits"][0];
        assert_eq!(credit["methodology"], "commute");
        assert_eq!(credit["methodology_version"], 1);
        assert_eq!(credit["explanation"]["baseline_g_per_unit"], "271.8");
        assert!(credit["explanation"]["factors"][0]["source"].as_str().unwrap().contains("Beijing"));
        // Catalogue, redeem (idempotent), confirm; a second redemption beyond the points is refused.
        let item = h
            .post(
                "/api/v1/inclusive/catalogue",
                &admin,
                json!({"org_code": "CT", "name": "公交卡充值", "points": 2000, "stock": 10}),
            )
            .await;
        let item_id = item.json["item"]["id"].as_i64().unwrap();
        assert_eq!(h.get("/api/v1/inclusive/me/catalogue", &employee).await.json["items"][0]["id"], item_id);
        let r1 =
            h.post("/api/v1/inclusive/me/redeem", &employee, json!({"item_id": item_id, "request_id": "k1"})).await;
        assert_eq!((r1.status, r1.json["balance"]["available"].as_i64()), (StatusCode::OK, Some(857)), "{}", r1.text);
        let again =
            h.post("/api/v1/inclusive/me/redeem", &employee, json!({"item_id": item_id, "request_id": "k1"})).await;
        assert_eq!(
            (again.json["new"].as_bool(), again.json["order"]["id"].clone()),
            (Some(false), r1.json["order"]["id"].clone())
        );
        let r2 =
            h.post("/api/v1/inclusive/me/redeem", &employee, json!({"item_id": item_id, "request_id": "k2"})).await;
        assert_eq!((r2.status, r2.json["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_points")));
        let order = r1.json["order"]["id"].as_i64().unwrap();
        let zj = h.login("zj-admin").await;
        assert_eq!(
            h.post(&format!("/api/v1/inclusive/orders/{order}/confirm"), &zj, json!({})).await.status,
            StatusCode::FORBIDDEN
        );
        let ok = h.post(&format!("/api/v1/inclusive/orders/{order}/confirm"), &gd, json!({})).await;
        assert_eq!(ok.json["order"]["status"], "confirmed", "{}", ok.text);
        assert_eq!(
            h.post(&format!("/api/v1/inclusive/orders/{order}/void"), &gd, json!({})).await.json["error"]["code"],
            "not_reserved"
        );
        // Leaderboard: the opted-in name, the other anonymous; by department.
        let month = inclusive::time::cst_month(inclusive::time::parse(&iso(3600)).unwrap());
        let board = h.get(&format!("/api/v1/inclusive/leaderboard?month={month}"), &employee).await;
        let rows = board.json["rows"].as_array().unwrap();
        assert_eq!(
            (rows[0]["name"].as_str(), rows[1]["name"].is_null()),
            (Some("employee name"), true),
            "{}",
            board.text
        );
        let dept = h.get(&format!("/api/v1/inclusive/leaderboard?month={month}&by=department"), &employee).await;
        assert_eq!(dept.json["rows"].as_array().unwrap().len(), 2);
        // Totals by action and month; the journal balances.
        let t = h.get("/api/v1/inclusive/totals", &admin).await;
        assert_eq!(
            (t.json["grams"].as_i64(), t.json["journal"]["sum"].as_i64()),
            (Some(139 + 2718 + 215), Some(0)),
            "{}",
            t.text
        );
        // Points expire by age, first in, first out, within the caller's subtree: the day is checked,
        // another org's administrator expires nothing here, points issued today are not older than
        // yesterday, and today's cutoff takes the 857 unspent (2,857 issued − 2,000 redeemed), once.
        let now = inclusive::time::parse(&iso(0)).unwrap();
        let today = inclusive::time::day_text(inclusive::time::cst_day(now));
        let yesterday = inclusive::time::day_text(inclusive::time::cst_day(now) - 1);
        for bad in ["2999-01-01", "2026-13-01", "today"] {
            let r = h.post(&format!("/api/v1/inclusive/expire?points_issued_through={bad}"), &gd, json!({})).await;
            assert_eq!(
                (r.status, r.json["error"]["code"].as_str(), r.json["error"]["detail"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"), Some("points_issued_through")),
                "{bad}: {}",
                r.text
            );
        }
        let zj_run = h.post(&format!("/api/v1/inclusive/expire?points_issued_through={today}"), &zj, json!({})).await;
        assert_eq!(zj_run.json["points"]["points"], 0, "{}", zj_run.text);
        let old = h.post(&format!("/api/v1/inclusive/expire?points_issued_through={yesterday}"), &gd, json!({})).await;
        assert_eq!(old.json["points"]["points"], 0, "{}", old.text);
        let run = h.post(&format!("/api/v1/inclusive/expire?points_issued_through={today}"), &gd, json!({})).await;
        assert_eq!(
            (run.json["points"]["accounts"].as_i64(), run.json["points"]["points"].as_i64()),
            (Some(1), Some(857)),
            "{}",
            run.text
        );
        assert_eq!(h.get("/api/v1/inclusive/me", &employee).await.json["points"]["available"], 0);
        let again = h.post(&format!("/api/v1/inclusive/expire?points_issued_through={today}"), &gd, json!({})).await;
        assert_eq!(again.json["points"]["points"], 0, "{}", again.text);
        assert_eq!(h.get("/api/v1/inclusive/totals", &admin).await.json["journal"]["sum"], 0);
        // Export and erasure: the name goes, the amounts stay.
        let exp = h.get("/api/v1/inclusive/me/export", &employee).await;
        assert_eq!(exp.json["account"]["subject"], "employee");
        let id = exp.json["account"]["id"].as_i64().unwrap();
        let e = h.post(&format!("/api/v1/inclusive/accounts/{id}/erase"), &gd, json!({})).await;
        assert_eq!(e.json["points_expired"], 0, "{}", e.text);
        assert_eq!(h.get("/api/v1/inclusive/me", &employee).await.json["error"]["code"], "no_account");
        let t2 = h.get("/api/v1/inclusive/totals", &admin).await;
        assert_eq!((t2.json["grams"].clone(), t2.json["journal"]["sum"].clone()), (t.json["grams"].clone(), json!(0)));
        let board = h.get(&format!("/api/v1/inclusive/leaderboard?month={month}"), &admin).await;
        assert!(!board.text.contains("employee name"), "{}", board.text);
    });
}

#[test]
fn methodology_versions_are_added_checked_and_never_rewrite_credits() {
    platform("inclusive_methodology").run(|h| async move {
        let admin = h.login("admin").await;
        let list = h.get("/api/v1/inclusive/methodologies", &admin).await;
        assert_eq!(list.json["methodologies"].as_array().unwrap().len(), 3);
        let bad = h.post("/api/v1/inclusive/methodologies", &admin, json!({"toml": "[methodology]\nid = \"x\""})).await;
        assert_eq!(
            (bad.status, bad.json["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_methodology"))
        );
        let shipped = include_str!("../../../inclusive/data/commute.toml");
        let dup = h.post("/api/v1/inclusive/methodologies", &admin, json!({"toml": shipped})).await;
        assert_eq!(dup.json["error"]["code"], "methodology_exists");
        h.post("/api/v1/inclusive/accounts", &admin, json!({"username": "employee", "org_code": "CT-GD"})).await;
        let auth = app(&h, &admin, "employee", "authoritative", 0).await;
        let first = post_events(&h, &auth, json!([trip("m1", "employee", "metro", 10_000, 20)])).await;
        assert_eq!(first.json["verdicts"][0]["grams"], 467);
        let v2 = shipped.replace("version = 1", "version = 2").replace("value = 46.7", "value = 40");
        let r = h.post("/api/v1/inclusive/methodologies", &admin, json!({"toml": v2})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let employee = h.login("employee").await;
        let second = post_events(&h, &auth, json!([trip("m2", "employee", "metro", 10_000, 20)])).await;
        assert_eq!(second.json["verdicts"][0]["grams"], 400);
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await;
        let versions: Vec<i64> = hist.json["credits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["methodology_version"].as_i64().unwrap())
            .collect();
        let grams: Vec<i64> =
            hist.json["credits"].as_array().unwrap().iter().map(|c| c["grams"].as_i64().unwrap()).collect();
        assert_eq!((versions, grams), (vec![2, 1], vec![400, 467]), "the old credit keeps its version");
    });
}

#[test]
fn another_orgs_programme_data_is_out_of_scope() {
    platform("inclusive_scope").run(|h| async move {
        let admin = h.login("admin").await;
        let gd = h.login("gd-admin").await;
        let zj = h.login("zj-admin").await;
        let employee = h.login("employee").await;
        h.post("/api/v1/inclusive/accounts", &gd, json!({"username": "employee", "org_code": "CT-GD"})).await;
        // Self-reported and near the speed limit: held (risk 60 at any hour); an authoritative trip: claimable.
        let selfrep = app(&h, &gd, "employee", "self_reported", 0).await;
        let v = post_events(&h, &selfrep, json!([trip("x1", "employee", "bike", 14_000, 30)])).await;
        let held = v.json["verdicts"][0]["credit_id"].as_i64().unwrap();
        let trusted = app(&h, &gd, "employee", "authoritative", 0).await;
        let v = post_events(&h, &trusted, json!([trip("x2", "employee", "bike", 3_000, 15)])).await;
        let claimable = v.json["verdicts"][0]["credit_id"].as_i64().unwrap();
        h.post("/api/v1/inclusive/me/claim", &employee, json!({})).await;
        let item = h
            .post(
                "/api/v1/inclusive/catalogue",
                &admin,
                json!({"org_code": "CT", "name": "x", "points": 10, "stock": 5}),
            )
            .await;
        let o = h
            .post(
                "/api/v1/inclusive/me/redeem",
                &employee,
                json!({"item_id": item.json["item"]["id"], "request_id": "o1"}),
            )
            .await;
        let order = o.json["order"]["id"].as_i64().unwrap_or_else(|| panic!("{}", o.text));
        let account = o.json["order"]["account_id"].as_i64().unwrap();
        let client =
            h.get("/api/v1/inclusive/clients", &gd).await.json["clients"][0]["client_id"].as_str().unwrap().to_string();
        // Zhejiang's admin touches none of Guangdong's programme data.
        let tries = [
            (format!("/api/v1/inclusive/credits/{held}/decide"), json!({"decision": "approve"})),
            (format!("/api/v1/inclusive/credits/{claimable}/offset"), json!({"programme": "x"})),
            (format!("/api/v1/inclusive/credits/{claimable}/reverse"), json!({"decision": "reject"})),
            (format!("/api/v1/inclusive/orders/{order}/confirm"), json!({})),
            (format!("/api/v1/inclusive/orders/{order}/void"), json!({})),
            (format!("/api/v1/inclusive/accounts/{account}/erase"), json!({})),
            (format!("/api/v1/inclusive/clients/{client}/revoke"), json!({})),
        ];
        for (path, body) in tries {
            let r = h.post(&path, &zj, body).await;
            assert_eq!(
                (r.status, r.json["error"]["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("out_of_scope")),
                "{}: {path}: {}",
                h.backend,
                r.text
            );
        }
        let r = h.get(&format!("/api/v1/inclusive/accounts/{account}/export"), &zj).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let lists = [
            h.get("/api/v1/inclusive/accounts", &zj).await.text,
            h.get("/api/v1/inclusive/review", &zj).await.text,
            h.get("/api/v1/inclusive/orders", &zj).await.text,
            h.get("/api/v1/inclusive/clients", &zj).await.text,
            h.get("/api/v1/inclusive/events", &zj).await.text,
        ]
        .join("\n");
        assert!(!lists.contains("CT-GD") && !lists.contains(&client), "{}: {lists}", h.backend);
        // Nothing changed: the held credit still waits, the order is still reserved.
        assert_eq!(h.get("/api/v1/inclusive/review", &gd).await.json["credits"][0]["id"], held);
        assert_eq!(h.get("/api/v1/inclusive/orders", &gd).await.json["orders"][0]["status"], "reserved");
    });
}

/// The employee's account in CT-GD (opted out of rankings), an authoritative app of the GD admin,
/// and `events` through it: their credit ids, every event accepted.
async fn employee_credits(h: &Harness, gd: &str, events: Value) -> Vec<i64> {
    let r = h
        .post("/api/v1/inclusive/accounts", gd, json!({"username": "employee", "org_code": "CT-GD", "opt_in": false}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let auth = app(h, gd, "employee", "authoritative", 0).await;
    let n = events.as_array().map_or(0, Vec::len);
    let r = post_events(h, &auth, events).await;
    assert_eq!(r.json["counts"]["accepted"], n, "{}", r.text);
    r.json["verdicts"].as_array().unwrap().iter().map(|v| v["credit_id"].as_i64().unwrap()).collect()
}

/// The year of the credits of trips ending an hour ago (China Standard Time).
fn credit_year() -> i32 {
    inclusive::time::cst_month(inclusive::time::parse(&iso(3600)).unwrap())[..4].parse().unwrap()
}

/// One claim status per reduction across the programme and the internal market: 碳普惠 credits
/// entered as a market offset (kind internal_project) are claimed as that offset, all or none, and
/// are then never points; credits claimed as points are refused as an offset. On both backends.
#[test]
fn market_offsets_claim_inclusive_reductions_once() {
    platform("inclusive_market_offset").run(|h| async move {
        let admin = h.login("admin").await;
        let gd = h.login("gd-admin").await;
        let employee = h.login("employee").await;
        // Two 20 km carpools (135.9 g/km × 20 = 2,718 g each) and a 5 km bike ride (139 g).
        let credits = employee_credits(
            &h,
            &gd,
            json!([
                trip("m1", "employee", "carpool", 20_000, 30),
                trip("m2", "employee", "carpool", 20_000, 30),
                trip("m3", "employee", "bike", 5_000, 20)
            ]),
        )
        .await;
        let (c1, c2, c3) = (credits[0], credits[1], credits[2]);
        let year = credit_year();
        let offset = |rid: &str, kind: &str, kg: i64, credits: Vec<i64>| {
            json!({"request_id": rid, "org": "CT-GD", "kind": kind, "vintage": year, "kg": kg,
                   "reference": "碳普惠 commute 2026", "inclusive_credits": credits})
        };
        let claims = |hist: &Value| -> Vec<(i64, String, String)> {
            let mut v: Vec<_> = hist["credits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["id"].as_i64().unwrap(),
                        c["claim"].as_str().unwrap().to_string(),
                        c["claim_ref"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let none = |c: i64| (c, "none".to_string(), String::new());
        // Refused, nothing claimed: the wrong kind, the wrong kilograms (2,718 × 2 = 5,436 g → 5 kg).
        for (body, code, field) in [
            (offset("o0", "ccer", 5, vec![c1, c2]), "invalid_kind", "kind"),
            (offset("o0", "internal_project", 6, vec![c1, c2]), "invalid_field", "inclusive_credits"),
            (offset("o0", "internal_project", 5, vec![c1, c1]), "invalid_field", "inclusive_credits"),
        ] {
            let r = h.post("/api/v1/market/offsets", &admin, body).await;
            assert_eq!(
                (r.status, r.json["error"]["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
                "{}: {}",
                h.backend,
                r.text
            );
            assert_eq!(r.json["error"]["detail"]["field"], field, "{}", r.text);
        }
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await;
        assert_eq!(claims(&hist.json), vec![none(c1), none(c2), none(c3)], "{}", hist.text);
        // The offset of the two carpools: both claimed as this market offset, 5 kg in the account.
        let r = h.post("/api/v1/market/offsets", &admin, offset("o1", "internal_project", 5, vec![c1, c2])).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        let programme = "market:admin:o1".to_string();
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await;
        assert_eq!(
            claims(&hist.json),
            vec![(c1, "offset".into(), programme.clone()), (c2, "offset".into(), programme.clone()), none(c3)],
            "{}",
            hist.text
        );
        let acct = h.get("/api/v1/market/account?org=CT-GD", &admin).await;
        let asset = json!({"asset": "offset", "kind": "internal_project", "vintage": year});
        let held = |a: &Value| {
            a["balances"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["asset"] == asset)
                .map_or(0, |b| b["available"].as_i64().unwrap())
        };
        assert_eq!(held(&acct.json), 5, "{}", acct.text);
        // The same request again: its first answer, nothing claimed or issued twice.
        let r = h.post("/api/v1/market/offsets", &admin, offset("o1", "internal_project", 5, vec![c1, c2])).await;
        assert_eq!((r.status, r.json["repeated"].as_bool()), (StatusCode::OK, Some(true)), "{}", r.text);
        assert_eq!(held(&h.get("/api/v1/market/account?org=CT-GD", &admin).await.json), 5);
        // The person claims points: only the bike ride (139); the offset reductions are not points.
        let c = h.post("/api/v1/inclusive/me/claim", &employee, json!({})).await;
        assert_eq!(c.json["points"].as_i64(), Some(139), "{}", c.text);
        // A reduction redeemed as points is refused as an offset (by the market and by the programme's
        // own offset route), and nothing is issued.
        let r = h.post("/api/v1/market/offsets", &admin, offset("o3", "internal_project", 2, vec![c1, c3])).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_claimed")),
            "{}",
            r.text
        );
        let r = h.post(&format!("/api/v1/inclusive/credits/{c1}/offset"), &admin, json!({"programme": "CCER-X"})).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_claimed")),
            "{}",
            r.text
        );
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await;
        assert_eq!(
            claims(&hist.json),
            vec![
                (c1, "offset".into(), programme.clone()),
                (c2, "offset".into(), programme),
                (c3, "points".into(), claims(&hist.json)[2].2.clone())
            ],
            "{}",
            hist.text
        );
        assert_eq!(held(&h.get("/api/v1/market/account?org=CT-GD", &admin).await.json), 5, "nothing more issued");
    });
}

/// A process that dies between claiming 碳普惠 credits for a market offset and the market's issue
/// leaves the credits claimed for nothing: once the claim is older than the grace period they are
/// given back (audited), an offset that entered the market never is, and the request sent again
/// claims and issues them. On both backends.
#[test]
fn an_offset_claim_that_never_entered_the_market_is_given_back() {
    platform("inclusive_offset_reconcile").run(|h| async move {
        let admin = h.login("admin").await;
        let gd = h.login("gd-admin").await;
        let employee = h.login("employee").await;
        // Two 20 km carpools, 2,718 g each: an offset of 5 kg.
        let credits = employee_credits(
            &h,
            &gd,
            json!([trip("k1", "employee", "carpool", 20_000, 30), trip("k2", "employee", "carpool", 20_000, 30)]),
        )
        .await;
        let (c1, c2) = (credits[0], credits[1]);
        let year = credit_year();
        let offset = |rid: &str, credits: Vec<i64>| {
            json!({"request_id": rid, "org": "CT-GD", "kind": "internal_project", "vintage": year, "kg": 5,
                   "reference": "碳普惠 commute", "inclusive_credits": credits})
        };
        // A claim whose process died before the market's issue (made so through the store).
        let p = h.app.platform.clone();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        tokio::task::block_in_place(|| {
            let path = p.store.org("CT-GD").unwrap().unwrap().path;
            p.store
                .inclusive_claim_market_offset("admin", &path, &[c1, c2], "market:admin:crash1", year, 5, now)
                .unwrap();
        });
        let claim_of = |hist: &Value, c: i64| -> (String, String) {
            let x = hist["credits"].as_array().unwrap().iter().find(|x| x["id"] == json!(c)).unwrap().clone();
            (x["claim"].as_str().unwrap().to_string(), x["claim_ref"].as_str().unwrap().to_string())
        };
        let offset_of = |rid: &str| ("offset".to_string(), format!("market:admin:{rid}"));
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await.json;
        assert_eq!(claim_of(&hist, c1), offset_of("crash1"));
        // Within the grace period nothing is given back (the request may be in flight).
        let grace = platform::market::OFFSET_CLAIM_GRACE_S;
        let released =
            tokio::task::block_in_place(|| platform::market::reconcile_offset_claims(&p, grace, now)).unwrap();
        assert!(released.is_empty(), "{}: {released:?}", h.backend);
        // After it, the unmatched claim is given back.
        let released =
            tokio::task::block_in_place(|| platform::market::reconcile_offset_claims(&p, grace, now + grace + 1))
                .unwrap();
        assert_eq!(
            released,
            vec![json!({"programme": "market:admin:crash1", "credits": [c1, c2], "released": 2})],
            "{}",
            h.backend
        );
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await.json;
        assert_eq!(claim_of(&hist, c1), ("none".to_string(), String::new()));
        assert_eq!(claim_of(&hist, c2), ("none".to_string(), String::new()));
        let audit = h.get("/api/v1/audit?action=inclusive.offset_release", &admin).await;
        assert!(audit.text.contains("system:reconcile"), "{}", audit.text);
        // The request sent again claims and issues them; an offset that entered the market is never
        // given back.
        let r = h.post("/api/v1/market/offsets", &admin, offset("crash1", vec![c1, c2])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let hist = h.get("/api/v1/inclusive/me/history", &employee).await.json;
        assert_eq!(claim_of(&hist, c1), offset_of("crash1"));
        let released =
            tokio::task::block_in_place(|| platform::market::reconcile_offset_claims(&p, grace, now + 10 * grace))
                .unwrap();
        assert!(released.is_empty(), "{}: {released:?}", h.backend);
    });
}
