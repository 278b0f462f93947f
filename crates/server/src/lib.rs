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
pub mod console_api;
pub mod error;
pub mod filing;
pub mod inventory;
pub mod load;
pub mod metrics;
pub mod monitoring;
pub mod openapi;
pub mod quality;
pub mod reference;
pub mod routes;
pub mod scenario_api;
pub mod site_api;
pub mod site_saving;
pub mod transport;
pub mod xlsx;

use error::{ApiError, ApiResult};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use store::{Store, StoreError};

/// Shared state of the running platform.
pub struct App {
    pub store: Arc<Store>,
    pub metrics: metrics::Metrics,
    /// Where uploads are spooled before validation (never held in memory whole).
    pub spool_dir: PathBuf,
    pub dashboards: inventory::DashboardCache,
    /// Worker threads for ingest validation and accounting.
    pub threads: usize,
    /// The web console's jobs and pre-aggregated overviews.
    pub console: console_api::ConsoleState,
    /// Orgs by code, reloaded when older than [`CACHE_SECONDS`] or when a code is not in it.
    orgs: std::sync::RwLock<(std::time::Instant, Arc<std::collections::HashMap<String, store::reference::Org>>)>,
    /// Logins already checked: token → (checked at, caller). Logout removes its token here; other
    /// instances on the same PostgreSQL see a revocation within [`CACHE_SECONDS`].
    pub(crate) sessions: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, access::Caller)>>,
    /// Password hashing: one hash per core at a time with reused memory, and a bounded queue.
    pub hashing: auth::Hashing,
    /// When wrong passwords lock a username or a client address (docs/security.md).
    pub login_policy: store::users::LoginPolicy,
    /// Monitoring and indicators (issue 2), when attached at start (`monitoring::attach`).
    /// Replaced without a restart when meters or reference data change (`monitoring::reload`).
    pub monitoring: std::sync::RwLock<Option<Arc<monitoring::Monitoring>>>,
    /// The data directory monitoring was attached from (its reading log), and one reload at a time.
    pub(crate) monitoring_dir: std::sync::OnceLock<std::path::PathBuf>,
    pub(crate) monitoring_reload: std::sync::Mutex<()>,
    /// The last snapshot recomputed for an explanation: exploring one snapshot's figures org by
    /// org then costs one recomputation (snapshots never change, so it cannot go stale).
    explained: std::sync::Mutex<Option<(i64, Arc<inventory::Computed>)>>,
    /// How the platform is reached (limits, TLS, public origin), set once before serving.
    transport: std::sync::OnceLock<transport::Config>,
}

/// How long org and login lookups are reused before the database is asked again.
pub const CACHE_SECONDS: u64 = 30;

/// Empties the spool directory of files a previous process left (an upload cut short by a crash
/// or a kill), creating it (0700) when missing. Run once when a platform starts, before any upload.
pub fn clean_spool(spool_dir: &std::path::Path) -> std::io::Result<usize> {
    let _ = store::datadir::create_dir(spool_dir);
    let mut removed = 0;
    for e in std::fs::read_dir(spool_dir)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

impl App {
    /// The platform on `store`, spooling uploads in `spool_dir` (emptied of what a previous
    /// process left there, see [`clean_spool`]).
    pub fn new(store: Store, spool_dir: PathBuf) -> Arc<App> {
        match clean_spool(&spool_dir) {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "spool: removed files left by a previous process"),
            Err(e) => tracing::warn!(error = %e, "spool: could not clean"),
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(App {
            store: Arc::new(store),
            metrics: metrics::Metrics::default(),
            spool_dir,
            dashboards: Default::default(),
            threads,
            console: Default::default(),
            orgs: std::sync::RwLock::new((std::time::Instant::now(), Arc::new(Default::default()))),
            sessions: Default::default(),
            hashing: auth::Hashing::new(threads),
            login_policy: Default::default(),
            monitoring: Default::default(),
            monitoring_dir: Default::default(),
            monitoring_reload: Default::default(),
            explained: Default::default(),
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

    /// The recomputation of snapshot `id`, from the cache or made by `make`.
    pub fn computed_snapshot(
        &self,
        id: i64,
        make: impl FnOnce() -> ApiResult<inventory::Computed>,
    ) -> ApiResult<Arc<inventory::Computed>> {
        if let Some((cached, c)) = self.explained.lock().ok().and_then(|g| g.clone()) {
            if cached == id {
                return Ok(c);
            }
        }
        let c = Arc::new(make()?);
        if let Ok(mut g) = self.explained.lock() {
            *g = Some((id, c.clone()));
        }
        Ok(c)
    }

    /// The org with `code` (from a short-lived cache of the org table).
    pub async fn org(&self, code: &str) -> ApiResult<Option<store::reference::Org>> {
        if let Ok(c) = self.orgs.read() {
            if c.0.elapsed().as_secs() < CACHE_SECONDS {
                if let Some(o) = c.1.get(code) {
                    return Ok(Some(o.clone()));
                }
            }
        }
        let all = self.db(|s| s.orgs()).await?;
        let map: std::collections::HashMap<String, store::reference::Org> =
            all.into_iter().map(|o| (o.code.clone(), o)).collect();
        let found = map.get(code).cloned();
        if let Ok(mut c) = self.orgs.write() {
            *c = (std::time::Instant::now(), Arc::new(map));
        }
        Ok(found)
    }

    /// Runs a store call on a blocking worker thread (the store's clients are synchronous).
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> ApiResult<T> {
        let s = self.store.clone();
        tokio::task::spawn_blocking(move || f(&s))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(Into::into)
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
    serve_until(app, listen, on_ready, shutdown_signal()).await
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: finishing running requests");
}
