//! Cluster mode (docs/cluster.md): several instances of the platform on one PostgreSQL database.
//! What one process kept to itself is shared or announced here:
//!
//! - caches (logins, orgs, the dashboards' current snapshots) are dropped on every instance when
//!   the database announces a change (`store::cluster::listen`, PostgreSQL `LISTEN`/`NOTIFY`
//!   triggers): within a second, not after a timer;
//! - long jobs are rows of the database (`store::cluster`), so their progress is seen from every
//!   instance; each instance beats for the jobs it runs, and claims (`FOR UPDATE SKIP LOCKED`)
//!   a job whose instance stopped beating, and finishes it: again when running it again gives
//!   the same result (an aggregation), from what was stored when the work was stored before its
//!   instance stopped (an inventory's snapshot, an upload recognised by its hash), else failed
//!   with a code that says what to do (an upload whose file was on the instance that stopped).

use crate::{Error, Kind, Platform, Result};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// An instance beats this often for the jobs it runs ...
pub const HEARTBEAT_MS: i64 = 1_000;
/// ... and a job whose instance has not beaten for this long is taken over.
pub const STALE_MS: i64 = 6_000;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A name for this instance: host, process and a random part (unique across restarts).
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let mut b = [0u8; 4];
    let _ = getrandom_bytes(&mut b);
    format!(
        "{}-{}-{}",
        if host.is_empty() { "dualcarbon" } else { &host },
        std::process::id(),
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn getrandom_bytes(b: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(b)
}

/// Starts cluster mode on `platform` (its store must be PostgreSQL): change notifications are
/// installed and followed (`on_change` also gets each changed table: the server drops its logins),
/// jobs go to the database, and a thread beats for this instance's jobs and takes over stale ones.
pub fn start(
    platform: &Arc<Platform>,
    instance: &str,
    on_change: impl Fn(Option<&str>) + Send + 'static,
) -> Result<()> {
    let url = platform
        .store
        .postgres_url()
        .ok_or_else(|| {
            Error::new(Kind::Invalid, "cluster_needs_postgres", "cluster mode needs --database-url postgres://…")
        })?
        .to_string();
    platform.store.install_change_notifications()?;
    let p = Arc::downgrade(platform);
    store::cluster::listen(&url, move |table| {
        if let Some(p) = p.upgrade() {
            p.changed(table);
            // Monitoring follows meters, rules, targets, indicator data, orgs and facilities changed
            // through any instance (its own changes it has followed already; once more is harmless).
            if matches!(table, Some("platform_documents") | Some("orgs") | Some("facilities")) {
                std::thread::spawn(move || crate::monitoring::reload_after_change(&p));
            }
        }
        on_change(table);
    });
    platform.console.make_durable(platform.store.clone(), instance.to_string());
    let p = Arc::downgrade(platform);
    let me = instance.to_string();
    std::thread::Builder::new()
        .name("jobs-heartbeat".into())
        .spawn(move || for beat in 0u64.. {
            std::thread::sleep(Duration::from_millis(HEARTBEAT_MS as u64));
            let Some(p) = p.upgrade() else { return };
            let now = now_ms();
            if beat % 60 == 0 {
                let before = store::format_time(now / 1000 - crate::jobs::JOB_KEEP_SECONDS as i64, 0);
                if let Err(e) = p.store.forget_finished_jobs(&before) {
                    tracing::warn!(error = %e, "jobs: cannot forget finished jobs");
                }
            }
            if let Err(e) = p.store.job_heartbeat(&me, now) {
                tracing::warn!(error = %e, "jobs: heartbeat failed");
                continue;
            }
            match p.store.claim_stale_job(&me, now - STALE_MS, now) {
                Ok(Some(job)) => {
                    tracing::info!(job = job.id, from = %job.instance, attempts = job.attempts, "jobs: taking over a job of a stopped instance");
                    let p2 = p.clone();
                    std::thread::spawn(move || resume(&p2, job));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "jobs: cannot claim stale jobs"),
            }
        })
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(())
}

impl Platform {
    /// The database announced a change of `table` (`None`: the announcements were interrupted, so
    /// anything may have changed): the caches that hold it are dropped.
    pub fn changed(&self, table: Option<&str>) {
        if matches!(table, None | Some("orgs")) {
            self.forget_orgs();
        }
        if matches!(table, None | Some("snapshots") | Some("orgs")) {
            self.dashboards.invalidate();
        }
    }
}

/// Finishes a job taken over from a stopped instance (see the module's text).
pub fn resume(platform: &Arc<Platform>, job: store::cluster::JobRow) {
    let c = &platform.console;
    c.stage(job.id, ("resumed", &format!("taken over from instance {} that stopped", job.instance)), 0);
    let p = &job.params;
    let out: Result<Value> = match job.kind.as_str() {
        "inventory" => resume_inventory(platform, &job),
        "aggregate" => {
            let id = p["snapshot"].as_i64().unwrap_or(0);
            crate::snapshot::keep_cells_of(&platform.store, id, platform.threads).map(|_| json!({"snapshot": id}))
        }
        "import" => {
            let filing = p["filing"].as_i64().unwrap_or(0);
            let sha = p["sha256"].as_str().unwrap_or("");
            match platform.store.find_upload(filing, sha) {
                Ok(Some(u)) => Ok(json!({"filing_id": filing, "upload": u, "new": true, "accepted": u.accepted,
                                         "rejected": u.rejected, "quarantine": format!("/api/v1/filings/{filing}/quarantine.csv")})),
                Ok(None) => Err(Error::new(
                    Kind::Unavailable,
                    "upload_interrupted",
                    "the instance receiving this file stopped before the file was stored; nothing of it was stored: upload the same file again",
                )),
                Err(e) => Err(e.into()),
            }
        }
        other => Err(Error::internal(format!("unknown job kind {other:?}"))),
    };
    c.finish(job.id, out);
}

/// An inventory run again, unless its instance stored the snapshot before it stopped (a snapshot
/// of the same org, year and options by the same user since the job started): then that one.
fn resume_inventory(platform: &Arc<Platform>, job: &store::cluster::JobRow) -> Result<Value> {
    let p = &job.params;
    let org = p["org"].as_str().unwrap_or("").to_string();
    let year = p["year"].as_i64().unwrap_or(0);
    let options = if p["options"].is_null() { json!({}) } else { p["options"].clone() };
    let stored = platform.store.snapshot_list()?.into_iter().find(|s| {
        s.org_code == org
            && s.year == year
            && s.created_by == job.owner
            && s.created_at >= job.started_at
            && s.options == options
    });
    let s = match stored {
        Some(s) => s,
        None => {
            let s = crate::snapshot::run_blocking(
                &platform.store,
                &job.owner,
                &org,
                year as i32,
                options,
                platform.threads,
            )?;
            platform.dashboards.invalidate();
            s
        }
    };
    Ok(json!({"snapshot": s.id, "org_code": s.org_code, "year": s.year, "resumed": true}))
}
