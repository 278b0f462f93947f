//! The one harness of the server's integration tests (the `http` and `security` binaries):
//! a platform on a fresh SQLite store and, when configured, a fresh PostgreSQL database (see
//! store::testing), seeded with each test's orgs, facilities and users; logins; and requests to
//! the real router in process (no socket): JSON, raw bytes with any headers, uploads, filings.
//!
//! The application-layer entry points the tests call directly are re-exported here, so that a
//! move of that code to another crate changes these lines only.

#![allow(dead_code)] // Each test binary uses part of it.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use store::reference::{FacilityRecord, OrgRecord};
use store::Store;
use tower::ServiceExt;

pub use platform::demo::load_dir;
pub use platform::snapshot::run_blocking as run_inventory;
pub use server::App;

/// Attaches monitoring to `app`'s platform with the meter registry of `data` (platform::monitoring).
pub fn attach_monitoring(
    app: &App,
    data: &std::path::Path,
) -> Result<Option<Arc<platform::monitoring::Monitoring>>, String> {
    platform::monitoring::attach(&app.platform, data)
}

/// Every seeded user's password.
pub const PASSWORD: &str = "correct horse battery";

/// A seeded platform on one backend.
pub struct Harness {
    pub app: Arc<App>,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Holds the platform's spool (`spool/`) and monitoring data directory (`data/`).
    pub dir: tempfile::TempDir,
}

/// An answer: status, headers, the body as text and (when it is JSON) parsed.
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
    /// The content-type header, empty when there is none.
    pub content_type: String,
}

impl Reply {
    /// Status, JSON and text as a tuple.
    pub fn parts(self) -> (StatusCode, Value, String) {
        (self.status, self.json, self.text)
    }
}

impl Harness {
    /// A harness over an app made by the test itself (e.g. one reopened on the same database).
    pub fn on(app: Arc<App>, backend: &str) -> Harness {
        Harness { app, backend: backend.into(), dir: tempfile::tempdir().unwrap() }
    }
    /// The monitoring data directory ([`Platform::meters`], [`Harness::attach_meters`]).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    /// Any request: extra headers as given, the body as raw bytes.
    pub async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(&self.app, req.body(Body::from(body.into())).unwrap()).await
    }
    /// A request with `token` as a bearer token when given, the body as is with its content type.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: impl Into<Vec<u8>>,
        ctype: &str,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", ctype)];
        headers.extend(auth.as_deref().map(|a| ("authorization", a)));
        self.raw(method, path, &headers, body).await
    }
    /// A JSON request (or none) with a bearer token.
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.request(method, path, Some(token), body, "application/json").await
    }
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, token, None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, token, Some(body)).await
    }
    /// An upload of a file's bytes (CSV) into a filing.
    pub async fn upload(&self, filing: i64, token: &str, body: impl AsRef<[u8]>) -> Reply {
        let path = format!("/api/v1/filings/{filing}/upload");
        self.request("POST", &path, Some(token), body.as_ref(), "text/csv").await
    }
    /// Logs `user` in with the tests' password; the bearer token.
    pub async fn login(&self, user: &str) -> String {
        let body = json!({"username": user, "password": PASSWORD}).to_string();
        let r = self.request("POST", "/api/v1/auth/login", None, body, "application/json").await;
        assert_eq!(r.status, StatusCode::OK, "login {user}: {}", r.text);
        r.json["token"].as_str().unwrap_or_else(|| panic!("login {user}: {}", r.text)).to_string()
    }
    /// Registers a supplier `name` (code `uscc`) for `org` as `admin`, with a login `user` (role
    /// `supplier`); (supplier id, the login's token).
    pub async fn supplier(&self, admin: &str, org: &str, uscc: &str, name: &str, user: &str) -> (i64, String) {
        let r = self
            .post(
                "/api/v1/supply/suppliers",
                admin,
                json!({"org_code": org, "uscc": uscc, "name": name, "categories": ["network_equipment"],
                       "contacts": [{"name": "王工", "email": "wang@example.com", "phone": "+86 755 0000"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let id = r.json["supplier"]["id"].as_i64().unwrap();
        let u = self
            .post(
                &format!("/api/v1/supply/suppliers/{id}/users"),
                admin,
                json!({"username": user, "password": PASSWORD}),
            )
            .await;
        assert_eq!(u.status, StatusCode::OK, "{}", u.text);
        assert_eq!(u.json["user"]["role"], json!("supplier"));
        (id, self.login(user).await)
    }
    /// Opens a draft filing for `org` and `period` as `token`'s user; its id.
    pub async fn open_filing(&self, token: &str, org: &str, period: &str) -> i64 {
        let r = self.post("/api/v1/filings", token, json!({"org_code": org, "period": period})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["filing"]["id"].as_i64().unwrap()
    }
    /// Opens an event stream as `token`'s user: the response, its body unread.
    pub async fn open_stream(&self, path: &str, token: &str) -> axum::response::Response {
        let req = Request::builder().uri(path).header("authorization", format!("Bearer {token}"));
        server::router(self.app.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }
    /// Files `csv` for `org` and `period` as `filer` (every line accepted), submits it and has
    /// `approver` approve it; the filing's id.
    pub async fn file_approved(&self, filer: &str, approver: &str, org: &str, period: &str, csv: &str) -> i64 {
        let id = self.open_filing(filer, org, period).await;
        let up = self.upload(id, filer, csv).await;
        assert_eq!((up.status, &up.json["rejected"]), (StatusCode::OK, &json!(0)), "{}", up.text);
        let s = self.post(&format!("/api/v1/filings/{id}/submit"), filer, json!({})).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.text);
        let a = self.post(&format!("/api/v1/filings/{id}/approve"), approver, json!({})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        id
    }
    /// Attaches monitoring from within a test with `meters_csv` as its meter registry; the data
    /// directory it used.
    pub fn attach_meters(&self, meters_csv: &str) -> PathBuf {
        let data = write_meters(&self.data_dir(), meters_csv);
        // attach reads the store synchronously (the PostgreSQL client blocks): off the async worker.
        assert!(tokio::task::block_in_place(|| attach_monitoring(&self.app, &data)).unwrap().is_some());
        data
    }
}

/// A request the test built (e.g. with a streamed body or a client address), answered by a fresh
/// router over `app`.
pub async fn reply(app: &Arc<App>, req: Request<Body>) -> Reply {
    let res = server::router(app.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let content_type = headers.get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, headers, json, text, bytes, content_type }
}

/// Reads an event stream's frames until `done` holds of what was read (within 10 s); what was read.
pub async fn read_events(body: &mut Body, done: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(&seen) {
        let frame =
            tokio::time::timeout_at(deadline, body.frame()).await.expect("stream events in time").unwrap().unwrap();
        if let Ok(d) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&d));
        }
    }
    seen
}

fn write_meters(data: &std::path::Path, meters_csv: &str) -> PathBuf {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("meters.csv"), meters_csv).unwrap();
    data.to_path_buf()
}

/// An HTTP Basic authorization header value for a machine client (RFC 7617: base64 of
/// `id:secret`), as apps and PACT partners send it.
pub fn basic_auth(id: &str, secret: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = format!("{id}:{secret}").into_bytes();
    let mut s = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() { T[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    format!("Basic {s}")
}

/// An activity file of electricity rows `(facility, period, kWh)`, each with its bill as source.
pub fn electricity_csv<F: std::fmt::Display, P: std::fmt::Display, Q: std::fmt::Display>(rows: &[(F, P, Q)]) -> String {
    let mut s = String::from("facility_code,period,carrier,quantity,unit,source_document\n");
    for (f, p, q) in rows {
        s.push_str(&format!("{f},{p},electricity,{q},kWh,bill-{f}-{p}\n"));
    }
    s
}

/// An org named `<code> 分公司`.
pub fn org(code: &str, parent: Option<&str>) -> OrgRecord {
    OrgRecord {
        code: code.into(),
        name: format!("{code} 分公司"),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

/// A facility of `kind` named by its code.
pub fn fac(code: &str, kind: &str, org: &str, province: &str) -> FacilityRecord {
    FacilityRecord {
        code: code.into(),
        name: code.into(),
        kind: kind.into(),
        org_code: org.into(),
        province: province.into(),
        allocation_share: String::new(),
        shared_with: String::new(),
    }
}

/// Group CT with its province CT-GD (with the city CT-GD-GZ) and a second province `other`.
pub fn group_orgs(other: &str) -> Vec<OrgRecord> {
    vec![org("CT", None), org("CT-GD", Some("CT")), org("CT-GD-GZ", Some("CT-GD")), org(other, Some("CT"))]
}

/// Six 5G sites each in Guangdong (GD1–GD3 in the city CT-GD-GZ, GD4–GD6 in CT-GD) and in the
/// province `other` (`{prefix}1`–`{prefix}6`, in `province`).
pub fn six_sites_each(other: &str, prefix: &str, province: &str) -> Vec<FacilityRecord> {
    let mut facilities = Vec::new();
    for i in 1..=6 {
        facilities.push(fac(&format!("GD{i}"), "base_station_5g", if i <= 3 { "CT-GD-GZ" } else { "CT-GD" }, "广东"));
        facilities.push(fac(&format!("{prefix}{i}"), "base_station_5g", other, province));
    }
    facilities
}

/// One user of every role: the group's admin, auditor and employee at CT, and CT-GD's admin,
/// filer and reviewer (`(username, role, org)`; more are added per test).
pub fn every_role() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("admin", "group_admin", "CT"),
        ("auditor", "auditor", "CT"),
        ("employee", "employee", "CT"),
        ("gd-admin", "org_admin", "CT-GD"),
        ("gd-filer", "data_filer", "CT-GD"),
        ("gd-reviewer", "reviewer", "CT-GD"),
    ]
}

/// What a test seeds: reference rows and users `(username, role, org)` with [`PASSWORD`].
pub struct Seed {
    pub orgs: Vec<OrgRecord>,
    pub facilities: Vec<FacilityRecord>,
    pub users: Vec<(&'static str, &'static str, &'static str)>,
}

impl Seed {
    pub fn apply(&self, store: &Store) {
        store.upsert_reference("test", &self.orgs, &self.facilities).unwrap();
        // One argon2 hash per process: the seeded users share the password.
        static HASH: OnceLock<String> = OnceLock::new();
        let hash = HASH.get_or_init(|| server::auth::hash_password(PASSWORD).unwrap());
        for (u, role, o) in &self.users {
            store.create_user("test", u, hash, role, o).unwrap();
        }
    }
}

/// The backends a test runs on, each as a way to open (and reopen) the same database: a fresh
/// SQLite in `dir` and, when configured, a fresh PostgreSQL database.
pub fn reopenable(name: &str, dir: &std::path::Path) -> Vec<(String, Box<dyn Fn() -> Store>)> {
    let mut out: Vec<(String, Box<dyn Fn() -> Store>)> = Vec::new();
    let sqlite = dir.join("db");
    out.push(("sqlite".into(), Box::new(move || Store::open_sqlite_dir(&sqlite).unwrap())));
    if let Some(url) = store::testing::fresh_postgres(name) {
        out.push(("postgres".into(), Box::new(move || Store::open_postgres(&url).unwrap())));
    }
    out
}

/// A multi-threaded runtime of two workers, as the tests use.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A test platform: `Platform::new(name, seed).run(|h| async move { ... })` runs the test against
/// a fresh seeded SQLite store and, when configured, a fresh PostgreSQL database.
pub struct Platform {
    name: String,
    seed: Seed,
    prepare: Box<dyn Fn(Store) -> Store>,
    meters: Option<String>,
    postgres: bool,
}

impl Platform {
    pub fn new(name: &str, seed: Seed) -> Platform {
        Platform { name: name.into(), seed, prepare: Box::new(|s| s), meters: None, postgres: true }
    }
    /// Makes each store ready (e.g. keyed with an audit key) before it is seeded.
    pub fn prepare(mut self, prepare: impl Fn(Store) -> Store + 'static) -> Platform {
        self.prepare = Box::new(prepare);
        self
    }
    /// Attaches monitoring with `meters_csv` as its meter registry before the test starts.
    pub fn meters(mut self, meters_csv: impl Into<String>) -> Platform {
        self.meters = Some(meters_csv.into());
        self
    }
    /// SQLite only (probes that do not depend on the backend, e.g. of the transport).
    pub fn sqlite_only(mut self) -> Platform {
        self.postgres = false;
        self
    }
    pub fn run<F, Fut>(self, test: F)
    where
        F: Fn(Harness) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let rt = runtime();
        let db = tempfile::tempdir().unwrap();
        let stores = match self.postgres {
            true => store::testing::stores(&self.name, &db.path().join("db")),
            false => vec![("sqlite".to_string(), Store::open_sqlite_dir(&db.path().join("db")).unwrap())],
        };
        for (backend, store) in stores {
            let store = (self.prepare)(store);
            self.seed.apply(&store);
            let dir = tempfile::tempdir().unwrap();
            let app = App::new(store, dir.path().join("spool"));
            if let Some(meters) = &self.meters {
                let data = write_meters(&dir.path().join("data"), meters);
                assert!(attach_monitoring(&app, &data).unwrap().is_some(), "{backend}");
            }
            rt.block_on(test(Harness { app: app.clone(), backend, dir }));
            // The PostgreSQL client must be dropped outside the runtime.
            drop(app);
        }
    }
}
