//! Server: the DualCarbon platform's HTTP API (axum, JSON, `/api/v1/...`). Subsidiaries file
//! their monthly activity here; the platform validates it with `ingest`, keeps it versioned in the
//! `store`, computes inventories with `accounting` into immutable snapshots, scores data quality,
//! and logs every change in a hash-chained audit log. The server itself does no accounting.
//!
//! Route registration lives in `routes.rs` (one table that also produces the OpenAPI document);
//! access control in `access.rs`.

pub mod access;
pub mod auth;
pub mod bounds;
pub mod cluster;
pub mod console_api;
pub mod error;
pub mod filing;
pub mod inclusive_api;
pub mod indicators_api;
pub mod inventory;
pub mod market_api;
pub mod metrics;
pub mod monitoring;
pub mod openapi;
pub mod pact_api;
pub mod quality;
pub mod reference;
pub mod reports_api;
pub mod routes;
pub mod scenario_api;
pub mod site_api;
pub mod site_saving;
pub mod supply_api;
pub mod transport;

use error::{ApiError, ApiResult};
use platform::Platform;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use store::{Store, StoreError};

/// The HTTP server's state: the platform (its services and state, reached through `Deref`), and
/// what only HTTP needs: request metrics, checked logins, password hashing for the login routes,
/// the login policy and the transport.
pub struct App {
    pub platform: Arc<Platform>,
    pub metrics: metrics::Metrics,
    /// Logins already checked: token → (checked at, caller). Logout removes its token here; other
    /// instances on the same PostgreSQL see a revocation within [`CACHE_SECONDS`], or at once in
    /// cluster mode ([`cluster`]: dropped when the database announces a change).
    pub(crate) sessions: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, access::Caller)>>,
    /// Counts the times every checked login was dropped: a check that read the database before a
    /// drop does not fill the cache after it.
    pub(crate) sessions_dropped: std::sync::atomic::AtomicU64,
    /// Password hashing: one hash per core at a time with reused memory, and a bounded queue.
    pub hashing: auth::Hashing,
    /// When wrong passwords lock a username or a client address (docs/security.md).
    pub login_policy: store::users::LoginPolicy,
    /// How the platform is reached (limits, TLS, public origin), set once before serving.
    transport: std::sync::OnceLock<transport::Config>,
}

impl std::ops::Deref for App {
    type Target = Platform;
    fn deref(&self) -> &Platform {
        &self.platform
    }
}

pub use platform::{clean_spool, CACHE_SECONDS};

impl App {
    /// The HTTP server over a platform on `store`, spooling uploads in `spool_dir` (emptied of what
    /// a previous process left there, see [`clean_spool`]).
    pub fn new(store: Store, spool_dir: PathBuf) -> Arc<App> {
        App::over(Arc::new(Platform::new(store, spool_dir)))
    }

    /// The HTTP server over `platform`.
    pub fn over(platform: Arc<Platform>) -> Arc<App> {
        let threads = platform.threads;
        Arc::new(App {
            platform,
            metrics: metrics::Metrics::default(),
            sessions: Default::default(),
            sessions_dropped: Default::default(),
            hashing: auth::Hashing::new(threads),
            login_policy: Default::default(),
            transport: Default::default(),
        })
    }

    /// Sets how the platform is reached (before serving; once).
    pub fn configure_transport(&self, config: transport::Config) -> Result<(), String> {
        self.transport.set(config).map_err(|_| "the transport is already configured".to_string())
    }

    /// How the platform is reached: as configured, else the defaults (plain HTTP, default limits).
    pub fn transport(&self) -> &transport::Config {
        self.transport.get_or_init(transport::Config::default)
    }

    /// The org with `code` (from the platform's short-lived cache of the org table).
    pub async fn org(&self, code: &str) -> ApiResult<Option<store::reference::Org>> {
        Ok(self.platform.org(code).await?)
    }

    /// Runs a store call on a blocking worker thread (the store's clients are synchronous).
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> ApiResult<T> {
        Ok(self.platform.db(f).await?)
    }

    /// Runs CPU or IO work that returns an API result on a blocking worker thread.
    pub async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
        tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(e.to_string()))?
    }
}

/// The whole HTTP application: the API routes, `/metrics`, request metrics and logs, the Origin
/// check of cookie writes and the security headers (`transport`).
pub fn router(app: Arc<App>) -> axum::Router {
    routes::api_router(app.clone())
        .route("/metrics", axum::routing::get(metrics::render).with_state(app.clone()))
        .merge(pact_api::router(app.clone()))
        .fallback(console_api::console_file)
        .layer(axum::middleware::from_fn_with_state(app.clone(), transport::check_origin))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(app.clone(), transport::security_headers))
        .layer(axum::middleware::from_fn_with_state(app, metrics::track))
}

/// Starts logging to stderr as JSON lines (`DUALCARBON_LOG=json`) or text, filtered by `RUST_LOG`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("DUALCARBON_LOG").is_ok_and(|v| v == "json");
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = if json { b.json().try_init() } else { b.try_init() };
}

/// Serves until Ctrl-C or SIGTERM, then stops taking connections and lets running requests finish.
/// Over TLS when the transport is configured with a certificate ([`App::configure_transport`]).
pub async fn serve(app: Arc<App>, listen: SocketAddr, on_ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    // The signals are taken before the platform says it is ready: a SIGTERM sent as soon as the
    // address is printed stops it cleanly instead of killing it.
    let shutdown = shutdown_signal()?;
    // Every serving process (serve, demo) looks for 碳普惠 offset claims a crash left unmatched.
    platform::market::watch_offset_claims(&app.platform);
    serve_until(app, listen, on_ready, shutdown).await
}

/// [`serve`] until `shutdown` completes (tests stop a server this way).
pub async fn serve_until(
    app: Arc<App>,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let cfg = app.transport().clone();
    let tls = match &cfg.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(transport::tls_config(files)?))),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?app.store.kind(), tls = tls.is_some(), "DualCarbon platform listening");
    on_ready(addr);
    transport::accept_loop(listener, router(app), &cfg, tls, shutdown).await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Ctrl-C or SIGTERM, registered now (not when first awaited).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing running requests");
    })
}

#[cfg(test)]
mod layering {
    /// The server's modules import each other without a circle: handlers depend on the access
    /// guard, errors and bounds; the route table on the handlers; nothing on the route table but
    /// the root. A new module that closes a circle fails here (tests excluded).
    #[test]
    fn server_modules_import_each_other_without_a_circle() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut modules: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().strip_suffix(".rs")?.to_string();
                let text = std::fs::read_to_string(e.path()).ok()?;
                let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
                (name != "lib").then_some((name, code))
            })
            .collect();
        modules.sort();
        let names: Vec<&str> = modules.iter().map(|(n, _)| n.as_str()).collect();
        let uses = |code: &str, other: &str| {
            code.contains(&format!("crate::{other}::"))
                || code.contains(&format!("crate::{other};"))
                || code.split("use crate::{").skip(1).any(|g| {
                    g.split('}').next().unwrap_or("").split(',').any(|x| x.trim().split("::").next() == Some(other))
                })
        };
        let edges: Vec<Vec<usize>> = modules
            .iter()
            .map(|(n, code)| (0..names.len()).filter(|&j| names[j] != n && uses(code, names[j])).collect())
            .collect();
        assert!(edges.iter().flatten().count() > 10, "the import scan found the modules' imports: {edges:?}");
        // Depth-first search for a back edge.
        fn visit(v: usize, edges: &[Vec<usize>], state: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
            state[v] = 1;
            path.push(v);
            for &w in &edges[v] {
                if state[w] == 1 {
                    let at = path.iter().position(|&x| x == w).unwrap_or(0);
                    return Some(path[at..].to_vec());
                }
                if state[w] == 0 {
                    if let Some(c) = visit(w, edges, state, path) {
                        return Some(c);
                    }
                }
            }
            path.pop();
            state[v] = 2;
            None
        }
        let mut state = vec![0u8; names.len()];
        for v in 0..names.len() {
            if state[v] == 0 {
                if let Some(circle) = visit(v, &edges, &mut state, &mut Vec::new()) {
                    let circle: Vec<&str> = circle.iter().map(|&i| names[i]).collect();
                    panic!("server modules import each other in a circle: {}", circle.join(" -> "));
                }
            }
        }
    }
}
