//! The HTTP transport, in one place: how large a request body may be on each route, the Origin
//! check of cookie-authenticated writes, the security headers of every answer, TLS served by the
//! platform itself, and the connection timeouts. `crate::serve` accepts connections here; the
//! router (`crate::router`) wears the origin and header layers, the route table (`routes.rs`) puts
//! a body limit on every route from its kind ([`BodyKind::of`]). docs/security.md ("HTTP transport")
//! documents every limit below.

use crate::access::Perm;
use crate::error::ApiError;
use crate::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Anonymous routes (login, logout, health) and routes that take no body: nothing large.
pub const SMALL_BODY_BYTES: u64 = 16 * 1024;
/// Credentials ([`CREDENTIAL_ROUTES`]: login, password change, user creation): a name and a
/// password, read before any hash.
pub const CREDENTIALS_BODY_BYTES: u64 = 8 * 1024;
/// JSON requests (filings, scenarios with their baseline, targets, set points, ...).
pub const JSON_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// JSON requests that carry a file as text ([`FILE_IN_JSON_ROUTES`]: weather or traffic CSV, a
/// factor set's TOML); read into memory whole.
pub const FILE_IN_JSON_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Batches parsed in memory whole ([`BATCH_ROUTES`]: meter readings, indicator data).
pub const BATCH_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Files streamed to a spool file (activity uploads and import jobs, orgs.csv, facilities.csv):
/// the default of `--max-upload-bytes`.
pub const DEFAULT_UPLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// A connection must send a request's head (request line and headers) within this time of opening
/// (or, with TLS, of the handshake) and of its previous answer; an idle keep-alive connection is
/// closed after it too. A TLS handshake must finish within it as well.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// JSON routes whose body carries a file as text.
pub const FILE_IN_JSON_ROUTES: &[&str] = &[
    "/api/v1/site/simulate",
    "/api/v1/site/size",
    "/api/v1/site/bs-saving",
    "/api/v1/orgs/{code}/sites/bs-saving",
    "/api/v1/factor-sets",
];
/// Routes whose body carries credentials.
pub const CREDENTIAL_ROUTES: &[&str] = &["/api/v1/auth/login", "/api/v1/auth/password", "/api/v1/users"];
/// Routes whose body is a batch parsed in memory whole.
pub const BATCH_ROUTES: &[&str] =
    &["/api/v1/telemetry/readings", "/api/v1/indicator-data", "/api/v1/facility-attributes"];

/// What a route's body is, which decides its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Small,
    Credentials,
    Json,
    FileInJson,
    Batch,
    Upload,
}

impl BodyKind {
    /// The kind of a route of the table from its permission, path and body ("json", "csv",
    /// "csv_or_xlsx" or "").
    pub fn of(perm: Perm, path: &str, body: &str) -> BodyKind {
        if body.is_empty() {
            BodyKind::Small
        } else if CREDENTIAL_ROUTES.contains(&path) {
            BodyKind::Credentials
        } else if perm == Perm::Public {
            BodyKind::Small
        } else if BATCH_ROUTES.contains(&path) {
            BodyKind::Batch
        } else if FILE_IN_JSON_ROUTES.contains(&path) {
            BodyKind::FileInJson
        } else if body == "json" {
            BodyKind::Json
        } else {
            BodyKind::Upload
        }
    }
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How the platform is reached: set once before serving ([`App::configure_transport`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// The cap on streamed uploads ([`BodyKind::Upload`]).
    pub max_upload_bytes: u64,
    /// Served over TLS by the platform itself.
    pub tls: Option<TlsFiles>,
    /// The origin browsers use (`https://carbon.example.com`) when a proxy stands in front: the
    /// Origin check compares with it instead of the Host header, and an `https` origin makes the
    /// session cookie `Secure` and sends HSTS.
    pub public_origin: Option<String>,
    pub header_read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_upload_bytes: DEFAULT_UPLOAD_BYTES,
            tls: None,
            public_origin: None,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

impl Config {
    /// Browsers reach the platform over HTTPS (its own TLS, or a TLS proxy's public origin).
    pub fn secure(&self) -> bool {
        self.tls.is_some() || self.public_origin.as_deref().is_some_and(|o| o.starts_with("https://"))
    }
    pub fn limit(&self, kind: BodyKind) -> u64 {
        match kind {
            BodyKind::Small => SMALL_BODY_BYTES,
            BodyKind::Credentials => CREDENTIALS_BODY_BYTES,
            BodyKind::Json => JSON_BODY_BYTES,
            BodyKind::FileInJson => FILE_IN_JSON_BODY_BYTES,
            BodyKind::Batch => BATCH_BODY_BYTES,
            BodyKind::Upload => self.max_upload_bytes,
        }
    }
}

/// `--public-origin`: `scheme://host[:port]`, scheme http or https, nothing after the authority.
pub fn parse_public_origin(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} is not an origin: give https://HOST[:PORT]"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("{s:?} is not an origin: give https://HOST[:PORT] without a path"));
    }
    Ok(s.to_ascii_lowercase())
}

fn too_large(limit: u64) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than this route's limit of {limit} bytes"),
    )
    .into_response()
}

/// Route layer: refuses a body above the route's limit. A declared Content-Length above it is
/// refused before any of the body is read; a chunked body is cut at the limit (the handler's read
/// fails and the answer is the same 413). Either way the connection is then closed rather than the
/// rest of the body read.
pub async fn limit_body(State((app, kind)): State<(Arc<App>, BodyKind)>, req: Request, next: Next) -> Response {
    let limit = app.transport().limit(kind);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(limit);
    }
    let req = req.map(|b| Body::new(http_body_util::Limited::new(b, usize::try_from(limit).unwrap_or(usize::MAX))));
    let res = next.run(req).await;
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(res.headers()) {
        // axum's extractors stopped at the limit: the same answer as above.
        return too_large(limit);
    }
    res
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// The origin of a request as the browser states it: `Origin`, else the origin of `Referer`.
fn stated_origin(h: &HeaderMap) -> Option<String> {
    if let Some(o) = h.get(header::ORIGIN) {
        return Some(o.to_str().unwrap_or("").trim().to_ascii_lowercase());
    }
    let r = h.get(header::REFERER)?.to_str().ok()?.trim();
    let (scheme, rest) = r.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// The platform's own origin for this request: `--public-origin`, else the scheme it serves and
/// the Host header.
fn own_origin(cfg: &Config, h: &HeaderMap) -> Option<String> {
    if let Some(o) = &cfg.public_origin {
        return Some(o.clone());
    }
    let host = h.get(header::HOST)?.to_str().ok()?.trim();
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    Some(format!("{scheme}://{host}").to_ascii_lowercase())
}

fn refuse(code: &'static str, message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, code, message).into_response()
}

/// Router layer against cross-site request forgery. A write (any method but GET, HEAD, OPTIONS)
/// that would be authenticated by the session cookie (no `Authorization` header) must state an
/// origin (`Origin`, or `Referer`) equal to the platform's own; a write without the cookie that
/// states a foreign origin (a login from another site) is refused too. Bearer-token requests are
/// not affected: a foreign page cannot send that header without the token.
pub async fn check_origin(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    if h.contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let cookie = crate::access::session_cookie(h).is_some();
    match (stated_origin(h), cookie) {
        (None, false) => {}
        (None, true) => {
            return refuse(
                "origin_required",
                "a write with the session cookie must carry an Origin header (browsers send it); \
                 API clients use Authorization: Bearer TOKEN"
                    .into(),
            )
        }
        (Some(o), _) => {
            let own = own_origin(app.transport(), h);
            if own.as_deref() != Some(o.as_str()) {
                return refuse(
                    "cross_origin",
                    format!(
                        "a write from origin {o:?} is refused: only the platform's own pages may write with its cookie"
                    ),
                );
            }
        }
    }
    next.run(req).await
}

/// What the console needs and nothing more: its own scripts and styles (inline style attributes,
/// which the charts' tooltips use), images from data: and blob: URLs (chart downloads), fetches and
/// the event stream to itself; no frames, plugins or foreign form targets.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// HSTS under TLS: one year.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Router layer: the security headers of every answer (see docs/security.md); `no-store` on the
/// API's answers (they hold an org's figures) unless a route set its own caching; `Secure` on every
/// cookie and HSTS when browsers reach the platform over HTTPS.
pub async fn security_headers(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/") || req.uri().path() == "/metrics";
    let mut res = next.run(req).await;
    let cfg = app.transport();
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if cfg.secure() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
        let cookies: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
        if !cookies.is_empty() {
            h.remove(header::SET_COOKIE);
            for c in cookies {
                let secure = c
                    .to_str()
                    .ok()
                    .filter(|s| !s.split(';').any(|p| p.trim().eq_ignore_ascii_case("secure")))
                    .and_then(|s| HeaderValue::from_str(&format!("{s}; Secure")).ok());
                h.append(header::SET_COOKIE, secure.unwrap_or(c));
            }
        }
    }
    res
}

/// The rustls server configuration from PEM files: the certificate chain (leaf first) and the
/// private key (PKCS#8, PKCS#1 or SEC1). HTTP/1.1 only.
pub fn tls_config(files: &TlsFiles) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &PathBuf, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what} {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("reading the certificate", &files.cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("reading the certificate", &files.cert, &e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", &files.cert, &"expected PEM \"CERTIFICATE\" blocks"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("reading the private key", &files.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", &files.cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("the certificate and key", &files.cert, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts connections until `shutdown` completes, then stops accepting and waits for the open
/// connections' running requests. Every connection has the header-read timeout (which also ends
/// idle keep-alive connections); with `tls`, the handshake must finish within it too.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    cfg: &Config,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let timeout = cfg.header_read_timeout;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request knows its peer (login throttling per address).
        let service = hyper_util::service::TowerToHyperService::new(
            router.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(timeout);
            let served = match tls {
                None => watcher.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)).await,
                Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => watcher.watch(http.serve_connection(hyper_util::rt::TokioIo::new(s), service)).await,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_table() {
        // The login's credentials are read under the smallest limit (as its handler read them before).
        assert_eq!(BodyKind::of(Perm::Public, "/api/v1/auth/login", "json"), BodyKind::Credentials);
        assert_eq!(BodyKind::of(Perm::Public, "/api/v1/health", ""), BodyKind::Small);
        assert_eq!(BodyKind::of(Perm::ManageUsers, "/api/v1/users", "json"), BodyKind::Credentials);
        assert_eq!(BodyKind::of(Perm::File, "/api/v1/filings/{id}/upload", "csv_or_xlsx"), BodyKind::Upload);
        assert_eq!(BodyKind::of(Perm::File, "/api/v1/filings", "json"), BodyKind::Json);
        assert_eq!(BodyKind::of(Perm::Read, "/api/v1/site/simulate", "json"), BodyKind::FileInJson);
        assert_eq!(BodyKind::of(Perm::File, "/api/v1/telemetry/readings", "json"), BodyKind::Batch);
        assert_eq!(BodyKind::of(Perm::Review, "/api/v1/filings/{id}/approve", ""), BodyKind::Small);
    }

    #[test]
    fn public_origins() {
        assert_eq!(parse_public_origin("https://Carbon.example.com/").unwrap(), "https://carbon.example.com");
        assert!(parse_public_origin("carbon.example.com").is_err());
        assert!(parse_public_origin("https://carbon.example.com/console").is_err());
    }
}
