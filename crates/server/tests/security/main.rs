//! The security sweep of issue 11 as a suite: every probe that once failed, re-run against the
//! real router on SQLite and on PostgreSQL (see store::testing). Each area keeps its probes in a
//! module of its own; this file holds what they share: the seeded platform, raw requests with any
//! headers and body, and logins.

#![allow(dead_code)] // Each module uses part of the harness.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::App;
use std::sync::Arc;
use store::Store;
use tower::ServiceExt;

mod audit;
mod auth;
mod bounds;
mod filing;
mod web;
mod xlsx;

// The server tests' shared reference rows and password.
#[path = "../common/mod.rs"]
mod common;
pub use common::PASSWORD;
use common::{fac, org};

pub struct Harness {
    pub app: Arc<App>,
    pub backend: String,
    pub spool: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Harness {
    /// Any request: extra headers as given, the body as raw bytes.
    pub async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = server::router(self.app.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        Reply { status, headers, json: serde_json::from_str(&text).unwrap_or(Value::Null), text }
    }
    /// A JSON request (or none) with a bearer token.
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {token}");
        let body = body.map(|b| b.to_string()).unwrap_or_default().into_bytes();
        self.raw(method, path, &[("authorization", &auth), ("content-type", "application/json")], body).await
    }
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, token, None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, token, Some(body)).await
    }
    /// An upload of raw bytes into a filing.
    pub async fn upload(&self, filing: i64, token: &str, body: &[u8]) -> Reply {
        let auth = format!("Bearer {token}");
        self.raw(
            "POST",
            &format!("/api/v1/filings/{filing}/upload"),
            &[("authorization", &auth), ("content-type", "text/csv")],
            body.to_vec(),
        )
        .await
    }
    /// Logs `user` in with the tests' password; the bearer token.
    pub async fn login(&self, user: &str) -> String {
        let body = json!({"username": user, "password": PASSWORD}).to_string().into_bytes();
        let r = self.raw("POST", "/api/v1/auth/login", &[("content-type", "application/json")], body).await;
        assert_eq!(r.status, StatusCode::OK, "login {user}: {}", r.text);
        r.json["token"].as_str().unwrap_or_else(|| panic!("login {user}: {}", r.text)).to_string()
    }
    /// Opens a draft filing for `org` and `period` as `token`'s user; its id.
    pub async fn open_filing(&self, token: &str, org: &str, period: &str) -> i64 {
        let r = self.post("/api/v1/filings", token, json!({"org_code": org, "period": period})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["filing"]["id"].as_i64().unwrap()
    }
}

/// Group CT with provinces CT-GD (city CT-GD-GZ) and CT-ZJ, six 5G sites each, and one user of
/// every role (province roles for GD, a filer and an admin for ZJ).
pub fn seed(store: &Store) {
    let mut facs = Vec::new();
    for i in 1..=6 {
        facs.push(fac(&format!("GD{i}"), "base_station_5g", if i <= 3 { "CT-GD-GZ" } else { "CT-GD" }, "广东"));
        facs.push(fac(&format!("ZJ{i}"), "base_station_5g", "CT-ZJ", "浙江"));
    }
    store
        .upsert_reference(
            "test",
            &[org("CT", None), org("CT-GD", Some("CT")), org("CT-GD-GZ", Some("CT-GD")), org("CT-ZJ", Some("CT"))],
            &facs,
        )
        .unwrap();
    let hash = server::auth::hash_password(PASSWORD).unwrap();
    for (u, role, o) in [
        ("admin", "group_admin", "CT"),
        ("auditor", "auditor", "CT"),
        ("employee", "employee", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("gd-reviewer", "reviewer", "CT-GD"),
        ("gz-admin", "org_admin", "CT-GD-GZ"),
        ("zj-filer", "data_filer", "CT-ZJ"),
        ("zj-admin", "org_admin", "CT-ZJ"),
    ] {
        store.create_user("test", u, &hash, role, o).unwrap();
    }
}

/// Runs `test` against a fresh seeded SQLite store and, when configured, a fresh PostgreSQL
/// database.
pub fn both<F, Fut>(name: &str, test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    both_prepared(name, |store| store, test)
}

/// [`both`] on stores that `prepare` makes ready first (e.g. keyed with an audit key), before
/// they are seeded.
pub fn both_prepared<F, Fut>(name: &str, prepare: impl Fn(Store) -> Store, test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores(name, &dir.path().join("db")) {
        let store = prepare(store);
        seed(&store);
        let spool = tempfile::tempdir().unwrap();
        let app = App::new(store, spool.path().join("spool"));
        rt.block_on(test(Harness { app: app.clone(), backend, spool }));
        // The PostgreSQL client must be dropped outside the runtime.
        drop(app);
    }
}

/// Attaches monitoring to the harness's platform with `meters_csv` as its meter registry; the
/// data directory it used.
pub fn attach_meters(h: &Harness, meters_csv: &str) -> std::path::PathBuf {
    let data = h.spool.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("meters.csv"), meters_csv).unwrap();
    // attach reads the store synchronously (the PostgreSQL client blocks): off the async worker.
    assert!(tokio::task::block_in_place(|| platform::monitoring::attach(&h.app.platform, &data)).unwrap().is_some());
    data
}
