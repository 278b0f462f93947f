//! Platform: DualCarbon's application layer, between the HTTP server and the store. Everything
//! the platform does for a user, without HTTP: filing import (`filing`, XLSX in `xlsx`), inventory
//! snapshots (`snapshot`: one way to gather a snapshot's inputs, compute, keep its figures),
//! long jobs (`jobs`), data quality (`quality`), loading a data directory such as the demo
//! (`demo`), reference data (`reference`), monitoring setup, targets and indicator data
//! (`monitoring`), base-station saving runs (`saving`), the internal carbon market (`market`), site set points (`site`), scenario
//! baselines (`scenario`) and password hashing (`passwords`).
//!
//! Every service returns [`Error`] (a stable code, a message, a [`Kind`]); the server maps the
//! kind to an HTTP status and the command line prints the message. The server keeps the routes,
//! the access guard, JSON shapes and the transport; the CLI's platform commands call this crate.

pub mod attributes;
pub mod business;
pub mod cluster;
pub mod cockpit;
pub mod demo;
pub mod error;
pub mod feeds;
pub mod filing;
pub mod inclusive;
pub mod jobs;
pub mod market;
pub mod monitoring;
pub mod passwords;
pub mod quality;
pub mod reference;
pub mod reports;
pub mod saving;
pub mod scenario;
pub mod site;
pub mod snapshot;
pub mod stream;
pub mod supply;
pub mod victoria;
pub mod xlsx;

pub use error::{Error, Kind, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use store::{Store, StoreError};

/// Who asks: the user's name (audit entries), their org and its path (everything they may see
/// lies at or below it). The server makes one from its authenticated caller.
#[derive(Debug, Clone)]
pub struct Actor {
    pub username: String,
    pub org_code: String,
    pub org_path: String,
}

impl Actor {
    /// Whether `path` (an org path) lies within the actor's subtree.
    pub fn within(&self, path: &str) -> bool {
        path.starts_with(&self.org_path)
    }
}

/// How long org lookups are reused before the database is asked again.
pub const CACHE_SECONDS: u64 = 30;

/// The running platform's state, shared by every front end (HTTP routes, jobs, the CLI).
pub struct Platform {
    pub store: Arc<Store>,
    /// Where uploads are spooled before validation (never held in memory whole).
    pub spool_dir: PathBuf,
    pub dashboards: snapshot::DashboardCache,
    /// Worker threads for ingest validation and accounting.
    pub threads: usize,
    /// Long jobs (imports, inventory runs) and the snapshots' kept figures by month and type.
    pub console: jobs::ConsoleState,
    /// Orgs by code, reloaded when older than [`CACHE_SECONDS`] or when a code is not in it.
    orgs: std::sync::RwLock<(std::time::Instant, Arc<HashMap<String, store::reference::Org>>)>,
    /// Monitoring and indicators, when attached at start (`monitoring::attach`). Replaced without a
    /// restart when meters or reference data change (`monitoring::reload`).
    pub monitoring: std::sync::RwLock<Option<Arc<monitoring::Monitoring>>>,
    /// The data directory monitoring was attached from (its reading log), and one reload at a time.
    pub(crate) monitoring_dir: std::sync::OnceLock<PathBuf>,
    pub(crate) monitoring_reload: std::sync::Mutex<()>,
    /// The last snapshot recomputed for an explanation: exploring one snapshot's figures org by
    /// org then costs one recomputation (snapshots never change, so it cannot go stale).
    explained: std::sync::Mutex<Option<(i64, Arc<snapshot::Computed>)>>,
    /// The internal carbon market's state (rebuilt from the store's command log on first use).
    pub market: market::MarketState,
    /// 碳普惠: the methodologies in force and recently checked machine credentials.
    pub inclusive: inclusive::State,
    /// Disclosure reports made by jobs, kept for their download.
    pub reports: reports::Kept,
    /// Certificate authorities (PEM) trusted, beside the WebPKI roots' replacement, for delivering
    /// PACT event answers to requesters (`serve --pact-ca`; a test's self-signed certificate).
    pub pact_ca: std::sync::RwLock<Option<String>>,
}

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

impl Platform {
    /// The platform on `store`, spooling uploads in `spool_dir` (emptied of what a previous
    /// process left there, see [`clean_spool`]).
    pub fn new(store: Store, spool_dir: PathBuf) -> Platform {
        match clean_spool(&spool_dir) {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "spool: removed files left by a previous process"),
            Err(e) => tracing::warn!(error = %e, "spool: could not clean"),
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Platform {
            store: Arc::new(store),
            spool_dir,
            dashboards: Default::default(),
            threads,
            console: Default::default(),
            orgs: std::sync::RwLock::new((std::time::Instant::now(), Arc::new(Default::default()))),
            monitoring: Default::default(),
            monitoring_dir: Default::default(),
            monitoring_reload: Default::default(),
            explained: Default::default(),
            market: Default::default(),
            inclusive: Default::default(),
            reports: Default::default(),
            pact_ca: Default::default(),
        }
    }

    /// The recomputation of snapshot `id`, from the cache or made by `make`.
    pub fn computed_snapshot(
        &self,
        id: i64,
        make: impl FnOnce() -> Result<snapshot::Computed>,
    ) -> Result<Arc<snapshot::Computed>> {
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
    pub async fn org(&self, code: &str) -> Result<Option<store::reference::Org>> {
        if let Ok(c) = self.orgs.read() {
            if c.0.elapsed().as_secs() < CACHE_SECONDS {
                if let Some(o) = c.1.get(code) {
                    return Ok(Some(o.clone()));
                }
            }
        }
        let all = self.db(|s| s.orgs()).await?;
        let map: HashMap<String, store::reference::Org> = all.into_iter().map(|o| (o.code.clone(), o)).collect();
        let found = map.get(code).cloned();
        if let Ok(mut c) = self.orgs.write() {
            *c = (std::time::Instant::now(), Arc::new(map));
        }
        Ok(found)
    }

    /// Forgets the cached org table (cluster mode: another instance changed it).
    pub fn forget_orgs(&self) {
        if let Ok(mut c) = self.orgs.write() {
            *c = (std::time::Instant::now(), Arc::new(Default::default()));
        }
    }

    /// Runs a store call on a blocking worker thread (the store's clients are synchronous).
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> std::result::Result<T, StoreError> + Send + 'static,
    ) -> Result<T> {
        let s = self.store.clone();
        tokio::task::spawn_blocking(move || f(&s))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(Into::into)
    }

    /// Runs CPU or IO work on a blocking worker thread.
    pub async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        tokio::task::spawn_blocking(f).await.map_err(|e| Error::internal(e.to_string()))?
    }
}

#[cfg(test)]
mod layering {
    /// The application layer knows nothing of HTTP: no web framework or HTTP crate among its
    /// dependencies (the server maps its errors to statuses).
    #[test]
    fn the_platform_depends_on_no_http_crate() {
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let deps: Vec<&str> = manifest
            .split("[dependencies]")
            .nth(1)
            .unwrap()
            .lines()
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split(['=', '.']).next().map(str::trim))
            .filter(|d| !d.is_empty() && !d.starts_with('#'))
            .collect();
        assert!(deps.contains(&"store") && deps.contains(&"ingest"), "{deps:?}");
        for http in ["axum", "hyper", "hyper-util", "http", "http-body-util", "tower", "rustls", "tokio-rustls"] {
            assert!(!deps.contains(&http), "platform depends on {http}");
        }
    }
}
