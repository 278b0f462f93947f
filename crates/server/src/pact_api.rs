//! The PACT host (WBCSD PACT Technical Specifications 3.0): `POST /auth/token` (OAuth2 client
//! credentials, HTTP Basic), `GET /3/footprints` (filters, pagination by `Link: <…>; rel="next"`),
//! `GET /3/footprints/{id}`, `POST /3/events` (CloudEvents, structured mode) and OpenID Connect
//! discovery (`/.well-known/openid-configuration`). Partners' credentials are made in the supply
//! API (`/api/v1/supply/pact/clients`); a partner sees the footprints of its org's subtree.
//!
//! Its own router (merged in `crate::router`): PACT's paths, error shape (`{code, message}`) and
//! authentication are not the platform API's. Bodies are limited to [`PACT_BODY_BYTES`]. HTTPS
//! only: over plain HTTP (no TLS served and no `https` public origin) every route answers 403
//! `AccessDenied` (conformance tests 9–11 and 17).

use crate::App;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use platform::supply as svc;
use serde_json::{json, Value};
use std::sync::Arc;

/// The largest body of a PACT request (token requests and events).
pub const PACT_BODY_BYTES: usize = 256 * 1024;
/// The most footprints of one page.
pub const MAX_LIMIT: usize = 1000;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/auth/token", axum::routing::post(token))
        .route("/.well-known/openid-configuration", axum::routing::get(discovery))
        .route("/3/footprints", axum::routing::get(list))
        .route("/3/footprints/{id}", axum::routing::get(get))
        .route("/3/events", axum::routing::post(events))
        .layer(axum::extract::DefaultBodyLimit::max(PACT_BODY_BYTES))
        .with_state(app)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message}))).into_response()
}

/// Served over HTTPS: the platform's own TLS, or a proxy's `https` public origin.
fn https(app: &App) -> bool {
    let t = app.transport();
    t.tls.is_some() || t.public_origin.as_deref().is_some_and(|o| o.starts_with("https://"))
}

/// `https://host` of the request (the public origin when one is configured).
fn base(app: &App, h: &HeaderMap) -> String {
    if let Some(o) = &app.transport().public_origin {
        return o.trim_end_matches('/').to_string();
    }
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("https://{host}")
}

fn refuse_http() -> Response {
    error(StatusCode::FORBIDDEN, "AccessDenied", "the PACT API is served over HTTPS only")
}

fn basic(h: &HeaderMap) -> Option<(String, String)> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let enc = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic "))?;
    let text = String::from_utf8(crate::access::decode_base64(enc.trim())?).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

/// The throttle key of a partner's client id (the logins' throttle, `store::users`): wrong
/// secrets for one client id, or from one address, lock further token requests for a while.
fn throttle_name(client_id: &str) -> String {
    format!("pact-client:{client_id}")
}

async fn token(
    State(app): State<Arc<App>>,
    conn: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !https(&app) {
        return refuse_http();
    }
    let address = conn.map(|c| c.0 .0.ip().to_string());
    let body = axum::body::to_bytes(body, PACT_BODY_BYTES).await.unwrap_or_default();
    let form = String::from_utf8_lossy(&body).to_string();
    let grant = form
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "grant_type")
        .map(|(_, v)| v.to_string());
    let invalid_client = || {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "unknown client or wrong secret"})),
        )
            .into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, "Basic realm=\"pact\"".parse().unwrap());
        r
    };
    let Some((id, secret)) = basic(&headers) else { return invalid_client() };
    if grant.as_deref() != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": "unsupported_grant_type", "error_description": "grant_type=client_credentials"}),
            ),
        )
            .into_response();
    }
    if id.len() > 64 || secret.len() > 256 {
        return invalid_client();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (name, addr) = (throttle_name(&id), address.clone());
    match app.db(move |s| s.login_locked(&name, addr.as_deref(), now)).await {
        Ok(Some(wait)) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"error": "invalid_client", "error_description": format!("too many wrong credentials: token requests of this client or address are locked for {wait} s")})),
            )
                .into_response();
            if let Ok(v) = wait.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Ok(None) => {}
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "could not check the client"),
    }
    let p = app.platform.clone();
    let client = id.clone();
    match app.blocking(move || Ok(svc::pact_token(&p, &client, &secret)?)).await {
        Ok(Some(t)) => {
            axum::Json(json!({"access_token": t, "token_type": "bearer", "expires_in": svc::PACT_TOKEN_SECONDS}))
                .into_response()
        }
        Ok(None) => {
            let (policy, name) = (app.login_policy, throttle_name(&id));
            let _ = app.db(move |s| s.login_failed(&policy, &name, address.as_deref(), now)).await;
            invalid_client()
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "could not issue a token"),
    }
}

async fn discovery(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !https(&app) {
        return refuse_http();
    }
    let b = base(&app, &headers);
    axum::Json(json!({
        "issuer": b,
        "token_endpoint": format!("{b}/auth/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["none"],
        "jwks_uri": format!("{b}/.well-known/jwks.json"),
    }))
    .into_response()
}

/// The partner of the request's bearer token, or the 401 answer.
async fn partner(app: &Arc<App>, h: &HeaderMap) -> Result<(store::supply::PactClient, String), Response> {
    let bad =
        || error(StatusCode::UNAUTHORIZED, "TokenExpired", "the access token is invalid or expired: POST /auth/token");
    let t = crate::access::bearer_token(h).filter(|t| !t.is_empty() && t.len() <= 128).ok_or_else(bad)?;
    let p = app.platform.clone();
    match app.blocking(move || Ok(svc::pact_client(&p, &t)?)).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(bad()),
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "could not check the token")),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if !https(&app) {
        return refuse_http();
    }
    let (client, path) = match partner(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let _ = client;
    let mut f = svc::PactFilter::default();
    let mut limit = 100usize;
    let mut after = 0i64;
    let query = q.unwrap_or_default();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = percent_decode(v);
        let time = |v: &str| supply::parse_datetime(v);
        match k {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => return error(StatusCode::BAD_REQUEST, "BadRequest", &format!("limit is 1 to {MAX_LIMIT}")),
            },
            "x-dualcarbon-after" => match v.parse::<i64>() {
                Ok(n) if n >= 0 => after = n,
                _ => return error(StatusCode::BAD_REQUEST, "BadRequest", "bad page cursor"),
            },
            "productId" => f.product_id.push(v),
            "companyId" => f.company_id.push(v),
            "geography" => f.geography.push(v),
            "classification" => f.classification.push(v),
            "status" => f.status.push(v),
            "validOn" | "validAfter" | "validBefore" => {
                let Some(t) = time(&v) else {
                    return error(StatusCode::BAD_REQUEST, "BadRequest", &format!("{k} is not an RFC 3339 date-time"));
                };
                match k {
                    "validOn" => f.valid_on.push(t),
                    "validAfter" => f.valid_after.push(t),
                    _ => f.valid_before.push(t),
                }
            }
            _ => {}
        }
    }
    let p = app.platform.clone();
    let ff = f.clone();
    let page = app.blocking(move || Ok(svc::pact_list(&p, &path, &ff, after, limit)?)).await;
    let (data, next) = match page {
        Ok(x) => x,
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "could not list footprints"),
    };
    // The stored PACT texts spliced into the answer (not parsed and written again).
    let mut text = String::with_capacity(data.iter().map(|d| d.len() + 1).sum::<usize>() + 12);
    text.push_str("{\"data\":[");
    for (i, d) in data.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(d);
    }
    text.push_str("]}");
    let mut res = ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    if let Some(n) = next {
        // The same query with the cursor replaced: absolute, on the host of the request.
        let kept: Vec<&str> =
            query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("x-dualcarbon-after=")).collect();
        let mut qs = kept.join("&");
        if !qs.is_empty() {
            qs.push('&');
        }
        let link = format!("<{}/3/footprints?{qs}x-dualcarbon-after={n}>; rel=\"next\"", base(&app, &headers));
        if let Ok(v) = link.parse() {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    res
}

async fn get(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !https(&app) {
        return refuse_http();
    }
    let (_, path) = match partner(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = app.platform.clone();
    match app.blocking(move || Ok(svc::pact_get(&p, &path, &id)?)).await {
        Ok(Some(pf)) => axum::Json(json!({"data": pf})).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "NotFound", "no such footprint"),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "could not read the footprint"),
    }
}

async fn events(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    if !https(&app) {
        return refuse_http();
    }
    let bytes = match axum::body::to_bytes(body, PACT_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "BadRequest", "the event is too large"),
    };
    // A malformed event is refused first (conformance test 40 sends one without a token: 400).
    let event: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BadRequest", &format!("the event is not JSON: {e}")),
    };
    let problems = svc::check_event(&event);
    if !problems.is_empty() {
        return error(StatusCode::BAD_REQUEST, "BadRequest", &problems.join("; "));
    }
    let (client, path) = match partner(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = app.platform.clone();
    let source = format!("{}/3/events", base(&app, &headers));
    let c = client.clone();
    let requester = svc::answer_destination(event["source"].as_str().unwrap_or_default(), &client.callback);
    let answer = app.blocking(move || Ok(svc::pact_event(&p, &c, &path, &event, &source)?)).await;
    match answer {
        Ok(Some(ev)) if requester.is_some() => {
            // Answered asynchronously: the request is acknowledged now, the answer delivered to the
            // requester given by the event's `source` (else the partner's registered callback;
            // platform::supply::deliver retries with back-off).
            let p = app.platform.clone();
            let url = requester.unwrap_or_default();
            tokio::task::spawn_blocking(move || svc::deliver(&p, &url, &ev));
            StatusCode::OK.into_response()
        }
        Ok(_) => StatusCode::OK.into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "could not record the event"),
    }
}
