//! The HTTP transport (issue 11 items 6 and 14, and the Low header-read timeout): a body limit on
//! every route, the Origin check of cookie writes, security headers, Secure cookies, TLS served by
//! the platform, and connections that do not send their request head in time. Router-level probes
//! run on both backends; the ones that need a real socket start `server::serve_until` on
//! 127.0.0.1:0 over SQLite.

use super::*;
use server::transport::{self, BodyKind, Config};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running server on 127.0.0.1 and the switch that stops it.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(app: Arc<App>, cfg: Config) -> Running {
        app.configure_transport(cfg).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, addr) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(server::serve_until(
            app,
            "127.0.0.1:0".parse().unwrap(),
            move |a| {
                let _ = ready.send(a);
            },
            async move {
                let _ = stopped.await;
            },
        ));
        Running { addr: addr.await.unwrap(), stop: Some(stop), task }
    }
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("stops").unwrap().unwrap();
    }
}

/// Runs `test` on a seeded SQLite platform (transport probes do not depend on the backend).
fn sqlite<F, Fut>(name: &str, test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    platform(name).sqlite_only().run(test)
}

/// An answer read off a socket: status, header block (lower case) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` and reads the answer until the server closes the connection.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, request: &[u8]) -> Answer {
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await.expect("an answer in time");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Answer { status, head: head.to_ascii_lowercase(), body: body.to_string() }
}

fn login_request(host: &str) -> Vec<u8> {
    let body = json!({"username": "admin", "password": PASSWORD}).to_string();
    format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Whether the server closed the connection within `within` (reads nothing more, or an error).
async fn closed_within<S: AsyncRead + Unpin>(s: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an answer (e.g. 408) before the close
        }
    }
}

// ---- item 6: a limit on every body ----

#[test]
fn an_anonymous_body_above_16_kib_is_refused() {
    both("sec_web_anon_body", |h| async move {
        // A 1 MB "login": refused with a code instead of being read and parsed.
        let mut body = br#"{"username":"admin","password":""#.to_vec();
        body.resize(1 << 20, b'a');
        let r = h.raw("POST", "/api/v1/auth/login", &[("content-type", "application/json")], body).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}: {}", h.backend, r.text);
        assert_eq!(r.json["error"]["code"], "body_too_large", "{}", r.text);
        // A declared length above the limit is refused before anything is read.
        let r = h
            .raw(
                "POST",
                "/api/v1/auth/login",
                &[("content-type", "application/json"), ("content-length", "1000000000")],
                Vec::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
        // A real login still works.
        h.login("admin").await;
    });
}

#[test]
fn every_route_has_a_body_limit_from_its_kind() {
    both("sec_web_every_route", |h| async move {
        h.app.configure_transport(Config { max_upload_bytes: 1 << 20, ..Default::default() }).unwrap();
        let token = h.login("admin").await;
        let auth = format!("Bearer {token}");
        for r in server::routes::ROUTES {
            let kind = BodyKind::of(r.perm, r.path, r.body);
            let limit = h.app.transport().limit(kind);
            let path = r.path.replace("{code}", "CT").replace("{id}", "1").replace("{facility}", "GD1");
            let over = (limit + 1).to_string();
            let res = h
                .raw(
                    &r.method.to_uppercase(),
                    &path,
                    &[("authorization", &auth), ("content-type", "application/json"), ("content-length", &over)],
                    Vec::new(),
                )
                .await;
            assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{} {} ({kind:?}): {}", r.method, r.path, res.text);
            assert_eq!(res.json["error"]["code"], "body_too_large", "{}", res.text);
        }
        // The API document states the limits.
        let doc = h.get("/api/v1/openapi.json", &token).await.json;
        // The login reads credentials only: the document states the 8 KiB it is held to.
        assert_eq!(doc["paths"]["/api/v1/auth/login"]["post"]["x-max-body-bytes"], json!(8 * 1024));
        assert_eq!(
            doc["paths"]["/api/v1/filings/{id}/upload"]["post"]["x-max-body-bytes"],
            json!(transport::DEFAULT_UPLOAD_BYTES)
        );
        // The kinds: nothing large anonymous, JSON a few MiB, files in JSON and batches more.
        let t = h.app.transport();
        assert_eq!(t.limit(BodyKind::Small), 16 * 1024);
        assert_eq!(t.limit(BodyKind::Credentials), 8 * 1024);
        assert!(t.limit(BodyKind::Json) <= 16 << 20);
        assert!(t.limit(BodyKind::FileInJson) > t.limit(BodyKind::Json));
        assert_eq!(transport::DEFAULT_UPLOAD_BYTES, 4 << 30);
    });
}

#[test]
fn json_routes_are_capped_but_files_in_json_have_room() {
    both("sec_web_json_cap", |h| async move {
        let t = h.login("gd-filer").await;
        let mut big =
            format!(r#"{{"org_code":"CT-GD","period":"2025-07","pad":"{}"}}"#, "x".repeat(9 << 20)).into_bytes();
        let auth = format!("Bearer {t}");
        let r = h
            .raw(
                "POST",
                "/api/v1/filings",
                &[("authorization", &auth), ("content-type", "application/json")],
                big.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}: {}", h.backend, r.text);
        assert_eq!(r.json["error"]["code"], "body_too_large");
        // The same size of weather CSV inside a site simulation is read (and judged on its content).
        big.truncate(0);
        let weather = "x".repeat(9 << 20);
        big.extend(json!({"site_toml": "", "weather_csv": weather}).to_string().into_bytes());
        let r = h
            .raw(
                "POST",
                "/api/v1/site/simulate",
                &[("authorization", &auth), ("content-type", "application/json")],
                big,
            )
            .await;
        assert_ne!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    });
}

#[test]
fn an_upload_above_the_cap_is_refused_and_leaves_no_spool_file() {
    both("sec_web_upload_cap", |h| async move {
        h.app.configure_transport(Config { max_upload_bytes: 1 << 20, ..Default::default() }).unwrap();
        let t = h.login("gd-filer").await;
        let id = h.open_filing(&t, "CT-GD", "2025-07").await;
        let mut csv = b"facility_code,period,carrier,quantity,unit\n".to_vec();
        while csv.len() <= 2 << 20 {
            csv.extend_from_slice(b"GD1,2025-07,electricity,5,kWh\n");
        }
        // Streamed without a declared length (chunked): cut at the cap.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = csv.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        let req = Request::builder()
            .method("POST")
            .uri(format!("/api/v1/filings/{id}/upload"))
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", "text/csv")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
        let res = reply(&h.app, req).await;
        assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", h.backend);
        let text = res.text;
        assert!(text.contains("body_too_large"), "{text}");
        let left: Vec<_> = std::fs::read_dir(&h.app.spool_dir).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(left.is_empty(), "spool files left: {left:?}");
        // The same file as an import job, with its length declared.
        let r = h
            .raw(
                "POST",
                &format!("/api/v1/filings/{id}/import-job"),
                &[("authorization", &format!("Bearer {t}")), ("content-type", "text/csv")],
                csv.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
        // Below the cap the upload goes through.
        let r = h.upload(id, &t, b"facility_code,period,carrier,quantity,unit\nGD1,2025-07,electricity,5,kWh\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    });
}

#[test]
fn a_declared_oversized_body_is_answered_without_being_read() {
    sqlite("sec_web_declared_body", |h| async move {
        let server = Running::start(h.app.clone(), Config::default()).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // 1 GB announced, 100 bytes sent: the 413 comes at once and the connection closes.
        let started = Instant::now();
        let a = exchange(
            &mut s,
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
                 content-length: 1000000000\r\n\r\n{}",
                server.addr,
                "a".repeat(100)
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(a.status, 413, "{}{}", a.head, a.body);
        assert!(a.body.contains("body_too_large"), "{}", a.body);
        assert!(started.elapsed() < Duration::from_secs(5));
        server.stop().await;
    });
}

// ---- item 14: Origin check of cookie writes, security headers, Secure cookies ----

/// Logs in like the console does; the session cookie (`name=value`).
async fn cookie_of(h: &Harness, user: &str) -> String {
    let body = json!({"username": user, "password": PASSWORD}).to_string().into_bytes();
    let r =
        h.raw("POST", "/api/v1/auth/login", &[("content-type", "application/json"), ("host", "dc.test")], body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let set = r.headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[test]
fn cookie_writes_from_a_foreign_origin_are_refused() {
    both("sec_web_origin", |h| async move {
        let cookie = cookie_of(&h, "gd-filer").await;
        let csv = b"facility_code,period,carrier,quantity,unit\nGD1,2025-07,electricity,5,kWh\n".to_vec();
        let t = h.login("gd-filer").await;
        let id = h.open_filing(&t, "CT-GD", "2025-07").await;
        let upload = format!("/api/v1/filings/{id}/upload");
        // The issue's probe: a text/plain upload with the cookie from another site.
        let r = h
            .raw(
                "POST",
                &upload,
                &[
                    ("cookie", &cookie),
                    ("host", "dc.test"),
                    ("origin", "https://evil.example"),
                    ("content-type", "text/plain"),
                ],
                csv.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}: {}", h.backend, r.text);
        assert_eq!(r.json["error"]["code"], "cross_origin", "{}", r.text);
        // A foreign Referer and no Origin: refused too; neither: refused (browsers always send one).
        let r = h
            .raw(
                "POST",
                "/api/v1/indicator-data",
                &[("cookie", &cookie), ("host", "dc.test"), ("referer", "https://evil.example/page")],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(r.json["error"]["code"], "cross_origin", "{}", r.text);
        let r = h
            .raw("POST", "/api/v1/telemetry/readings", &[("cookie", &cookie), ("host", "dc.test")], b"{}".to_vec())
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.json["error"]["code"], "origin_required", "{}", r.text);
        let r = h
            .raw(
                "PUT",
                "/api/v1/orgs/CT-GD/targets",
                &[("cookie", &cookie), ("host", "dc.test"), ("origin", "null"), ("content-type", "application/json")],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(r.json["error"]["code"], "cross_origin", "{}", r.text);
        // A login from another site (login CSRF) is refused.
        let body = json!({"username": "gd-filer", "password": PASSWORD}).to_string().into_bytes();
        let r = h
            .raw(
                "POST",
                "/api/v1/auth/login",
                &[("content-type", "application/json"), ("host", "dc.test"), ("origin", "http://evil.example")],
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        // The console's own writes (same origin, from Origin or Referer) pass, and reads need no Origin.
        let r = h
            .raw(
                "POST",
                &upload,
                &[("cookie", &cookie), ("host", "dc.test"), ("origin", "http://dc.test"), ("content-type", "text/csv")],
                csv.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = h
            .raw(
                "POST",
                "/api/v1/filings",
                &[
                    ("cookie", &cookie),
                    ("host", "dc.test"),
                    ("referer", "http://dc.test/filings"),
                    ("content-type", "application/json"),
                ],
                json!({"org_code": "CT-GD", "period": "2025-08"}).to_string().into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = h.raw("GET", "/api/v1/me", &[("cookie", &cookie), ("host", "dc.test")], Vec::new()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Bearer requests are not affected, whatever Origin they state.
        let r = h
            .raw(
                "POST",
                &upload,
                &[
                    ("authorization", &format!("Bearer {t}")),
                    ("origin", "https://tool.example"),
                    ("content-type", "text/csv"),
                ],
                csv,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    });
}

#[test]
fn behind_a_proxy_the_public_origin_is_the_one_accepted() {
    both("sec_web_public_origin", |h| async move {
        h.app
            .configure_transport(Config { public_origin: Some("https://carbon.example".into()), ..Default::default() })
            .unwrap();
        let cookie = cookie_of(&h, "gd-filer").await;
        let post = |origin: &'static str| {
            let cookie = cookie.clone();
            let h = &h;
            async move {
                h.raw(
                    "POST",
                    "/api/v1/filings",
                    &[
                        ("cookie", &cookie),
                        ("host", "127.0.0.1:8080"),
                        ("origin", origin),
                        ("content-type", "application/json"),
                    ],
                    json!({"org_code": "CT-GD", "period": "2025-09"}).to_string().into_bytes(),
                )
                .await
            }
        };
        assert_eq!(post("http://127.0.0.1:8080").await.status, StatusCode::FORBIDDEN);
        let r = post("https://carbon.example").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        // An https public origin: Secure cookie and HSTS.
        let body = json!({"username": "gd-filer", "password": PASSWORD}).to_string().into_bytes();
        let r = h.raw("POST", "/api/v1/auth/login", &[("content-type", "application/json")], body).await;
        assert!(r.headers["set-cookie"].to_str().unwrap().contains("; Secure"), "{:?}", r.headers);
        assert!(r.headers.contains_key("strict-transport-security"));
    });
}

#[test]
fn every_answer_carries_the_security_headers() {
    both("sec_web_headers", |h| async move {
        let t = h.login("admin").await;
        for (path, api) in [("/api/v1/health", true), ("/api/v1/me", true), ("/api/v1/nope", true), ("/", false)] {
            let r = h.get(path, &t).await;
            let hv = |k: &str| r.headers.get(k).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            assert_eq!(hv("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(hv("x-frame-options"), "DENY", "{path}");
            assert!(hv("content-security-policy").contains("frame-ancestors 'none'"), "{path}");
            assert!(hv("content-security-policy").contains("script-src 'self'"), "{path}");
            assert!(!hv("referrer-policy").is_empty(), "{path}");
            if api {
                assert_eq!(hv("cache-control"), "no-store", "{path}");
            }
            // Plain HTTP: no HSTS.
            assert!(hv("strict-transport-security").is_empty(), "{path}");
        }
        // Plain HTTP: the session cookie is not Secure (the browser would drop it).
        let body = json!({"username": "admin", "password": PASSWORD}).to_string().into_bytes();
        let r = h.raw("POST", "/api/v1/auth/login", &[("content-type", "application/json")], body).await;
        let c = r.headers["set-cookie"].to_str().unwrap();
        assert!(c.contains("HttpOnly") && !c.contains("Secure"), "{c}");
    });
}

#[test]
fn the_console_keeps_no_token_in_web_storage() {
    // The console authenticates with the HttpOnly cookie only: no script-readable token.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src");
    let mut files = vec![src.clone()];
    let mut seen = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        seen += 1;
        assert!(!text.contains("sessionStorage"), "{} uses sessionStorage", p.display());
        assert!(!text.contains("Bearer "), "{} sends a bearer token", p.display());
    }
    assert!(seen > 10, "read the console's sources in {}", src.display());
}

// ---- TLS served by the platform ----

fn certificate(dir: &std::path::Path) -> (transport::TlsFiles, rustls::pki_types::CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let files = transport::TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    std::fs::write(&files.cert, ck.cert.pem()).unwrap();
    std::fs::write(&files.key, ck.signing_key.serialize_pem()).unwrap();
    (files, ck.cert.der().clone())
}

async fn tls_connect(
    addr: SocketAddr,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.expect("TLS handshake")
}

#[test]
fn the_platform_serves_https_with_secure_cookies() {
    sqlite("sec_web_tls", |h| async move {
        let dir = tempfile::tempdir().unwrap();
        let (files, root) = certificate(dir.path());
        let server = Running::start(h.app.clone(), Config { tls: Some(files), ..Default::default() }).await;
        let host = format!("localhost:{}", server.addr.port());
        let mut s = tls_connect(server.addr, &root).await;
        let a = exchange(
            &mut s,
            format!("GET /api/v1/health HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(a.status, 200, "{}{}", a.head, a.body);
        assert!(a.head.contains("strict-transport-security: max-age="), "{}", a.head);
        let mut s = tls_connect(server.addr, &root).await;
        let a = exchange(&mut s, &login_request(&host)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let cookie = a.head.lines().find(|l| l.starts_with("set-cookie:")).unwrap_or_default().to_string();
        assert!(cookie.contains("httponly") && cookie.contains("; secure"), "{cookie}");
        // The console's write over HTTPS: its Origin is https://host.
        let sid = cookie.trim_start_matches("set-cookie:").trim().split(';').next().unwrap().to_string();
        let body = json!({"org_code": "CT-GD", "period": "2025-07"}).to_string();
        let mut s = tls_connect(server.addr, &root).await;
        let a = exchange(
            &mut s,
            format!(
                "POST /api/v1/filings HTTP/1.1\r\nhost: {host}\r\norigin: https://{host}\r\ncookie: {sid}\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.body);
        // Plain HTTP on the TLS port gets no answer.
        let mut plain = TcpStream::connect(server.addr).await.unwrap();
        let a = exchange(&mut plain, b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert_ne!(a.status, 200);
        server.stop().await;
    });
}

#[test]
fn bad_tls_files_are_refused_at_start() {
    sqlite("sec_web_tls_files", |h| async move {
        let dir = tempfile::tempdir().unwrap();
        let files = transport::TlsFiles { cert: dir.path().join("none.pem"), key: dir.path().join("none.key") };
        h.app.configure_transport(Config { tls: Some(files), ..Default::default() }).unwrap();
        let e = server::serve_until(h.app.clone(), "127.0.0.1:0".parse().unwrap(), |_| {}, async {}).await;
        assert!(e.is_err());
        std::fs::write(dir.path().join("none.pem"), "not a certificate").unwrap();
        let e = transport::tls_config(&transport::TlsFiles {
            cert: dir.path().join("none.pem"),
            key: dir.path().join("none.pem"),
        });
        assert!(e.is_err());
    });
}

// ---- Low: header-read timeout, idle keep-alive, streaming unaffected ----

#[test]
fn half_open_connections_are_closed_after_the_header_timeout() {
    sqlite("sec_web_half_open", |h| async move {
        let timeout = Duration::from_secs(1);
        let server = Running::start(h.app.clone(), Config { header_read_timeout: timeout, ..Default::default() }).await;
        // Half a request head, then nothing: closed within the timeout (with some slack).
        let mut half = TcpStream::connect(server.addr).await.unwrap();
        half.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        // A connection that sends nothing at all.
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        let started = Instant::now();
        assert!(closed_within(&mut half, Duration::from_secs(5)).await, "a half-sent head keeps its connection");
        assert!(closed_within(&mut silent, Duration::from_secs(5)).await, "a silent connection stays open");
        assert!(started.elapsed() >= Duration::from_millis(800), "closed before the timeout");
        // An idle keep-alive connection after a complete exchange is closed too.
        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        idle.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 4096];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle keep-alive connection stays open");
        // A whole request still works.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let a = exchange(&mut s, b"GET /api/v1/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert_eq!(a.status, 200);
        server.stop().await;
    });
}

#[test]
fn the_event_stream_outlives_the_header_timeout() {
    sqlite("sec_web_stream", |h| async move {
        h.attach_meters("meter_code,facility_code,role,kind\nGD1-TOT,GD1,total_facility,counter\n");
        let server =
            Running::start(h.app.clone(), Config { header_read_timeout: Duration::from_secs(1), ..Default::default() })
                .await;
        let token = h.login("admin").await;
        let mut sse = TcpStream::connect(server.addr).await.unwrap();
        sse.write_all(
            format!("GET /api/v1/telemetry/stream HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 8192];
        while !seen.contains("\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(5), sse.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.starts_with("HTTP/1.1 200") && seen.contains("text/event-stream"), "{seen}");
        // Longer than the header timeout with nothing sent, then a batch: its event arrives.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let batch = "GD1-TOT,1714492800000,0\nGD1-TOT,1714493700000,10\n";
        let mut post = TcpStream::connect(server.addr).await.unwrap();
        let a = exchange(
            &mut post,
            format!(
                "POST /api/v1/telemetry/readings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
                 content-type: text/csv\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{batch}",
                batch.len()
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.contains("event: batch") {
            let n = tokio::time::timeout_at(deadline, sse.read(&mut buf)).await.expect("an event in time").unwrap();
            assert!(n > 0, "stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        drop(sse);
        server.stop().await;
    });
}
