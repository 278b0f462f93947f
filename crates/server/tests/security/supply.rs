//! Supply chain (issue 18): supplier users and the PACT host as doors. A supplier's session opens
//! its own portal only (never a buyer route, never another supplier's data); PACT access tokens
//! and platform sessions do not open each other's API; an expired, unknown or malformed PACT token
//! is refused; a partner reads its org's subtree only; oversized bodies are refused before they
//! are read whole; wrong client secrets lock token requests like wrong passwords lock logins.

use super::*;
use axum::extract::ConnectInfo;
use std::net::SocketAddr;

const HUAWEI: &str = "914403001922038216";
const OTHER: &str = "91310000MA1FL4XX5M";

/// The PACT host over HTTPS behind a proxy (the public origin), so its routes answer.
fn https(h: &Harness) {
    h.app
        .configure_transport(server::transport::Config {
            public_origin: Some("https://pact.test".into()),
            ..Default::default()
        })
        .expect("the transport is configured once, before any request");
}

async fn footprint(h: &Harness, token: &str, product: &str) -> i64 {
    let form = json!({"product_id": product, "product_name": product, "class": "aau", "declared_unit": "piece",
        "pcf_kg": "812.5", "period_start": "2024-01-01", "period_end": "2024-12-31", "geography": "CN",
        "standard": "ISO14067"});
    let r = h.post("/api/v1/supply/portal/footprints", token, json!({"form": form})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["footprint"]["id"].as_i64().unwrap()
}

/// A token request with the client's id and secret, from `from` (a client address).
async fn token_request(h: &Harness, id: &str, secret: &str, from: &str) -> Reply {
    let mut req = Request::builder()
        .method("POST")
        .uri("/auth/token")
        .header("authorization", basic_auth(id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(from.parse::<SocketAddr>().unwrap()));
    reply(&h.app, req).await
}

/// Partner credentials for `org`: (client id, secret).
async fn partner(h: &Harness, admin: &str, org: &str) -> (String, String) {
    let c = h
        .post("/api/v1/supply/pact/clients", admin, json!({"name": format!("partner of {org}"), "org_code": org}))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    (c.json["client"]["client_id"].as_str().unwrap().into(), c.json["secret"].as_str().unwrap().into())
}

#[test]
fn a_suppliers_session_opens_its_own_portal_only() {
    both("sec_supply_supplier_door", |h| async move {
        https(&h);
        let admin = h.login("admin").await;
        let (_, a) = h.supplier(&admin, "CT-GD", HUAWEI, "supplier sup-a", "sup-a").await;
        let (_, b) = h.supplier(&admin, "CT-ZJ", OTHER, "supplier sup-b", "sup-b").await;
        let fa = footprint(&h, &a, "AAU-A").await;
        let fb = footprint(&h, &b, "AAU-B").await;
        // Another supplier's footprint looks like one that does not exist.
        let r = h.get(&format!("/api/v1/supply/portal/footprints/{fb}"), &a).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}: {}", h.backend, r.text);
        assert!(!r.text.contains("AAU-B"));
        assert_eq!(h.get(&format!("/api/v1/supply/portal/footprints/{fa}"), &a).await.status, StatusCode::OK);
        // Buyer routes, the platform's data and other doors are closed to a supplier's session.
        for path in [
            "/api/v1/supply/suppliers",
            &format!("/api/v1/supply/footprints/{fb}"),
            "/api/v1/supply/footprints",
            "/api/v1/supply/factor-sets",
            "/api/v1/snapshots",
            "/api/v1/orgs",
            "/api/v1/supply/pact/clients",
        ] {
            let r = h.get(path, &a).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}: {path}: {}", h.backend, r.text);
        }
        let r = h.post("/api/v1/supply/scope3", &a, json!({"org_code": "CT-GD", "year": 2024})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        let r = h
            .request(
                "POST",
                "/api/v1/supply/packaging",
                Some(&a),
                "line,org,period,packages,green_packages\nP1,CT-GD,2025,1,1\n",
                "text/csv",
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        // A supplier's session is not a PACT access token.
        let r = h.raw("GET", "/3/footprints", &[("authorization", &format!("Bearer {a}"))], "").await;
        assert_eq!((r.status, r.json["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("TokenExpired")), "{}", r.text);
        // Without a session, or with a made-up one: 401.
        let r = h.raw("GET", "/api/v1/supply/portal", &[], "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = h.get("/api/v1/supply/portal", "not-a-token").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // A buyer is not a supplier: the portal is closed to it.
        let r = h.get("/api/v1/supply/portal", &admin).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    });
}

#[test]
fn pact_tokens_are_scoped_expire_and_open_no_other_door() {
    both("sec_supply_pact_tokens", |h| async move {
        https(&h);
        let admin = h.login("admin").await;
        let (_, a) = h.supplier(&admin, "CT-GD", HUAWEI, "supplier sup-a", "sup-a").await;
        footprint(&h, &a, "AAU-A").await;
        let (gd_id, gd_secret) = partner(&h, &admin, "CT-GD").await;
        let (zj_id, zj_secret) = partner(&h, &admin, "CT-ZJ").await;
        let token = |r: &Reply| r.json["access_token"].as_str().unwrap().to_string();
        let gd = token(&token_request(&h, &gd_id, &gd_secret, "192.0.2.1:1000").await);
        let zj = token(&token_request(&h, &zj_id, &zj_secret, "192.0.2.1:1000").await);
        let list = |t: String| {
            let h = &h;
            async move { h.raw("GET", "/3/footprints", &[("authorization", &format!("Bearer {t}"))], "").await }
        };
        let all = list(gd.clone()).await;
        assert_eq!(all.json["data"].as_array().map(Vec::len), Some(1), "{}", all.text);
        let pf = all.json["data"][0]["id"].as_str().unwrap().to_string();
        // Another org's partner sees none of it, not even by id.
        assert_eq!(list(zj.clone()).await.json["data"].as_array().map(Vec::len), Some(0));
        let r = h.raw("GET", &format!("/3/footprints/{pf}"), &[("authorization", &format!("Bearer {zj}"))], "").await;
        assert_eq!((r.status, r.json["code"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")), "{}", r.text);
        // A PACT access token opens no platform route.
        for path in ["/api/v1/me", "/api/v1/supply/footprints", "/api/v1/supply/portal"] {
            let r = h.get(path, &gd).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}: {path}: {}", h.backend, r.text);
        }
        // An expired token, an unknown one, an oversized one, Basic instead of Bearer, none.
        let expired = "0123456789abcdef0123456789abcdef";
        let (store, id) = (h.app.store.clone(), gd_id.clone());
        tokio::task::spawn_blocking(move || {
            let past =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 60;
            store.supply_add_pact_token(&id, expired, &store::format_time(past, 0)).unwrap()
        })
        .await
        .unwrap();
        let long = "x".repeat(10_000);
        for auth in [
            format!("Bearer {expired}"),
            "Bearer nope".to_string(),
            format!("Bearer {long}"),
            basic_auth(&gd_id, &gd_secret),
            "Bearer ".into(),
        ] {
            for path in ["/3/footprints", &format!("/3/footprints/{pf}")] {
                let r = h.raw("GET", path, &[("authorization", &auth)], "").await;
                assert_eq!(
                    (r.status, r.json["code"].as_str()),
                    (StatusCode::UNAUTHORIZED, Some("TokenExpired")),
                    "{}: {path}: {}",
                    h.backend,
                    &auth[..auth.len().min(20)]
                );
            }
        }
        let r = h.raw("GET", "/3/footprints", &[], "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // One partner's secret does not give another's token.
        let r = token_request(&h, &gd_id, &zj_secret, "192.0.2.2:1000").await;
        assert_eq!((r.status, r.json["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    });
}

#[test]
fn oversized_pact_and_supply_bodies_are_refused() {
    both("sec_supply_bodies", |h| async move {
        https(&h);
        let admin = h.login("admin").await;
        let (id, secret) = partner(&h, &admin, "CT-GD").await;
        let t =
            token_request(&h, &id, &secret, "192.0.2.3:1000").await.json["access_token"].as_str().unwrap().to_string();
        // An event above the PACT host's 256 KiB.
        let big = json!({"type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3", "specversion": "1.0", "id": "e1",
            "source": "https://x.example/3/events", "time": "2025-01-01T00:00:00Z", "data": {"pfIds": ["a".repeat(300 * 1024)]}});
        let r = h
            .raw(
                "POST",
                "/3/events",
                &[("authorization", &format!("Bearer {t}")), ("content-type", "application/cloudevents+json")],
                big.to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}: {}", h.backend, &r.text[..r.text.len().min(200)]);
        // A JSON body above the JSON routes' 8 MiB, on a supply route.
        let (_, a) = h.supplier(&admin, "CT-GD", HUAWEI, "supplier sup-a", "sup-a").await;
        let huge = json!({"form": {"product_id": "x".repeat(9 * 1024 * 1024)}}).to_string();
        let r = h.request("POST", "/api/v1/supply/portal/footprints", Some(&a), huge, "application/json").await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}: {}", h.backend, &r.text[..r.text.len().min(200)]);
        // A tender of more bids than the platform ranks.
        let bid = json!({"supplier": "A", "values": {"price": 1.0}});
        let bids: Vec<Value> = (0..1001).map(|_| bid.clone()).collect();
        let r = h.post("/api/v1/supply/tender", &admin, json!({"bids": bids})).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
        // Nothing of it was stored: the partner has no event.
        let store = h.app.store.clone();
        let events = tokio::task::spawn_blocking(move || store.supply_pact_events(&id).unwrap()).await.unwrap();
        assert!(events.is_empty(), "{events:?}");
    });
}

#[test]
fn wrong_client_secrets_lock_token_requests_with_an_audit_entry() {
    both("sec_supply_pact_throttle", |h| async move {
        https(&h);
        let admin = h.login("admin").await;
        let (id, secret) = partner(&h, &admin, "CT-GD").await;
        let (other, other_secret) = partner(&h, &admin, "CT-ZJ").await;
        // Five wrong secrets for one client id (the logins' policy) lock its token requests...
        for i in 0..5 {
            let r = token_request(&h, &id, "wrong", &format!("192.0.2.{}:1000", 10 + i)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}: {i}: {}", h.backend, r.text);
        }
        let r = token_request(&h, &id, &secret, "192.0.2.99:1000").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}: {}", h.backend, r.text);
        assert!(r.headers.contains_key("retry-after"));
        // ... but not another client's.
        let r = token_request(&h, &other, &other_secret, "192.0.2.99:1000").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Twenty wrong secrets from one address, over many client ids, lock that address.
        for i in 0..20 {
            let r = token_request(&h, &format!("pact_guess{i}"), "wrong", "198.51.100.7:1000").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}: {i}", h.backend);
        }
        let r = token_request(&h, &other, &other_secret, "198.51.100.7:2000").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}: {}", h.backend, r.text);
        let entries = h.app.db(|s| s.audit_entries(0, 100_000)).await.unwrap();
        assert!(
            entries.iter().any(|e| e.action == "auth.lockout" && e.after.contains(&format!("pact-client:{id}"))),
            "{}",
            h.backend
        );
        assert!(
            entries.iter().any(|e| e.action == "auth.lockout" && e.after.contains("198.51.100.7")),
            "{}",
            h.backend
        );
    });
}
