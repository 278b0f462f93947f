//! What the server's HTTP tests share: the real router called in process (no socket), logins, and
//! reference rows. Each test file keeps its own seed data and backends loop.

#![allow(dead_code)] // Each test binary uses part of it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::App;
use std::sync::Arc;
use store::reference::{FacilityRecord, OrgRecord};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct Harness {
    pub app: Arc<App>,
}

pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
}

impl Harness {
    /// Any request: `token` as a bearer token when given, the body as is with its content type.
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: String, ctype: &str) -> Reply {
        let mut req = Request::builder().method(method).uri(path).header("content-type", ctype);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = server::router(self.app.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        Reply { status, json: serde_json::from_str(&text).unwrap_or(Value::Null), text }
    }
    /// A JSON request (or none) with a token.
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
    /// Logs `user` in with the tests' password; the bearer token.
    pub async fn login(&self, user: &str) -> String {
        let body = json!({"username": user, "password": PASSWORD}).to_string();
        let r = self.request("POST", "/api/v1/auth/login", None, body, "application/json").await;
        assert_eq!(r.status, StatusCode::OK, "login {user}: {}", r.text);
        r.json["token"].as_str().unwrap_or_else(|| panic!("login {user}: {}", r.text)).to_string()
    }
}

pub fn org(code: &str, parent: Option<&str>) -> OrgRecord {
    OrgRecord {
        code: code.into(),
        name: format!("{code} 分公司"),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

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
