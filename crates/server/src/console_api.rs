//! What the web console needs beyond the platform's API: the group overview pre-aggregated per
//! snapshot, a facility's filed activity, the shipped and user factor library, long jobs (imports
//! and inventory runs) that run on the server so that a user can leave the page and come back, and
//! the console's own files at `/` with the single-page-app fallback.
//!
//! Everything here reads through the store and the accounting core like the rest of the server;
//! access goes through `access::guard` (route table) and `Caller::require_org`.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::inventory::{self, Inputs};
use crate::App;
use accounting::GroupBy;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use store::snapshots::Snapshot;
use store::Store;

/// The console's server-side state: long jobs and the per-snapshot aggregates.
#[derive(Default)]
pub struct ConsoleState {
    next_job: AtomicI64,
    jobs: Mutex<Vec<Job>>,
    /// Per snapshot id: the monthly and facility-type figures of every org of its subtree. A
    /// snapshot never changes, so once computed they stay valid.
    aggregates: Mutex<HashMap<i64, Aggregate>>,
}

#[derive(Clone)]
enum Aggregate {
    Computing { job: i64 },
    Ready(Arc<Value>),
    Failed(String),
}

/// A long-running piece of work started from the console.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    /// "inventory", "import" or "aggregate".
    pub kind: &'static str,
    pub title: String,
    pub owner: String,
    pub org_code: String,
    #[serde(skip)]
    pub org_path: String,
    /// What it works on, for pages that show their own jobs: "filing/12", "org/CT-GD", "snapshot/3".
    pub target: String,
    /// "running", "done" or "failed".
    pub status: &'static str,
    /// What it is doing now, for the progress display.
    pub stage: String,
    /// Steps done of `steps_total` (a determinate progress bar), when the job knows them.
    pub steps_done: u32,
    pub steps_total: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The whole result (bounded: [`MAX_JOB_RESULT_BYTES`]); only in the answer for one job (`?id=`).
    pub result: Value,
    /// The result's scalar fields (snapshot id, accepted and rejected rows, ...): what the list shows.
    pub summary: Value,
    pub error: Option<Value>,
    #[serde(skip)]
    finished: Option<std::time::Instant>,
}

/// Finished jobs are forgotten this long after they end ...
pub const JOB_KEEP_SECONDS: u64 = 3600;
/// ... and beyond this many (oldest first); running jobs are always kept.
pub const JOB_KEEP_FINISHED: usize = 100;
/// A job's kept result is at most this large (serialized); a larger one keeps its summary only.
pub const MAX_JOB_RESULT_BYTES: usize = 1 << 20;

/// The scalar fields of a result (strings cut to 200 characters): small whatever the result.
fn summary_of(v: &Value) -> Value {
    let Some(o) = v.as_object() else { return Value::Null };
    let mut out = serde_json::Map::new();
    for (k, x) in o {
        match x {
            Value::String(t) => {
                out.insert(k.clone(), json!(t.chars().take(200).collect::<String>()));
            }
            Value::Number(_) | Value::Bool(_) => {
                out.insert(k.clone(), x.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

impl Job {
    /// The job as the list shows it: stage, progress and summary, no result, the error's code and
    /// message only.
    fn listed(&self) -> Job {
        let mut j = self.clone_without_result();
        j.error = self.error.as_ref().map(|e| json!({"code": e["code"], "message": e["message"]}));
        j
    }
    fn clone_without_result(&self) -> Job {
        Job {
            id: self.id,
            kind: self.kind,
            title: self.title.clone(),
            owner: self.owner.clone(),
            org_code: self.org_code.clone(),
            org_path: self.org_path.clone(),
            target: self.target.clone(),
            status: self.status,
            stage: self.stage.clone(),
            steps_done: self.steps_done,
            steps_total: self.steps_total,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            result: Value::Null,
            summary: self.summary.clone(),
            error: None,
            finished: self.finished,
        }
    }
}

/// Drops finished jobs older than [`JOB_KEEP_SECONDS`] at `now` and the oldest finished beyond
/// [`JOB_KEEP_FINISHED`].
fn evict(jobs: &mut Vec<Job>, now: std::time::Instant) {
    jobs.retain(|j| j.finished.is_none_or(|t| now.saturating_duration_since(t).as_secs() < JOB_KEEP_SECONDS));
    let finished = jobs.iter().filter(|j| j.finished.is_some()).count();
    let mut drop = finished.saturating_sub(JOB_KEEP_FINISHED);
    if drop > 0 {
        // Jobs are in start order; the oldest started finished ones go first.
        jobs.retain(|j| {
            if drop > 0 && j.finished.is_some() {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

impl ConsoleState {
    fn start(
        &self,
        kind: &'static str,
        title: String,
        owner: &str,
        // The org's code and path.
        org: (&str, &str),
        target: String,
        steps_total: u32,
    ) -> i64 {
        let id = self.next_job.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Job {
            id,
            kind,
            title,
            owner: owner.to_string(),
            org_code: org.0.to_string(),
            org_path: org.1.to_string(),
            target,
            status: "running",
            stage: "queued".into(),
            steps_done: 0,
            steps_total,
            started_at: store::now(),
            finished_at: None,
            result: Value::Null,
            summary: Value::Null,
            error: None,
            finished: None,
        };
        let mut jobs = self.jobs.lock().expect("jobs lock");
        evict(&mut jobs, std::time::Instant::now());
        jobs.push(job);
        id
    }
    fn update(&self, id: i64, f: impl FnOnce(&mut Job)) {
        if let Some(j) = self.jobs.lock().expect("jobs lock").iter_mut().find(|j| j.id == id) {
            f(j);
        }
    }
    fn stage(&self, id: i64, stage: &str, steps_done: u32) {
        self.update(id, |j| {
            j.stage = stage.to_string();
            j.steps_done = steps_done;
        });
    }
    fn finish(&self, id: i64, outcome: ApiResult<Value>) {
        // Sized and worded for a client outside the lock: an internal error is logged here and
        // the job keeps its reference only.
        let outcome = outcome.map(|v| {
            let summary = summary_of(&v);
            let size = serde_json::to_string(&v).map_or(usize::MAX, |t| t.len());
            let result = if size > MAX_JOB_RESULT_BYTES {
                let mut s = summary.clone();
                s["result_truncated"] = json!(true);
                s
            } else {
                v
            };
            (result, summary)
        });
        let outcome = outcome.map_err(|e| {
            let (e, reference) = e.public();
            let mut detail = e.detail;
            if detail
                .as_ref()
                .is_some_and(|d| serde_json::to_string(d).map_or(usize::MAX, |t| t.len()) > MAX_JOB_RESULT_BYTES)
            {
                detail = Some(json!("(too large to keep; run the work again through the API to see it)"));
            }
            json!({"code": e.code, "message": e.message, "detail": detail, "reference": reference})
        });
        self.update(id, |j| {
            j.finished_at = Some(store::now());
            j.finished = Some(std::time::Instant::now());
            j.steps_done = j.steps_total;
            match outcome {
                Ok((result, summary)) => {
                    j.status = "done";
                    j.stage = "done".into();
                    j.result = result;
                    j.summary = summary;
                }
                Err(e) => {
                    j.status = "failed";
                    j.stage = "failed".into();
                    j.error = Some(e);
                }
            }
        });
    }
    pub fn job(&self, id: i64) -> Option<Job> {
        self.jobs.lock().expect("jobs lock").iter().find(|j| j.id == id).cloned()
    }
}

fn snapshot_inputs(store: &Store, s: &Snapshot) -> ApiResult<Inputs> {
    let ids: Vec<i64> =
        s.filings.as_array().map(|a| a.iter().filter_map(|f| f["id"].as_i64()).collect()).unwrap_or_default();
    let filings = ids.iter().map(|&id| store.filing(id)).collect::<Result<Vec<_>, _>>()?;
    Ok(Inputs {
        org_code: s.org_code.clone(),
        year: s.year as i32,
        options: s.options.clone(),
        filings,
        factor_sets: s.factor_sets.clone(),
    })
}

/// Computes a snapshot again from its recorded inputs and derives, for every org of its subtree,
/// the figures per month and per facility type. The recomputation must reproduce the stored
/// result exactly; otherwise the aggregates would not belong to the snapshot and none are made.
pub fn aggregate_snapshot(store: &Store, id: i64, threads: usize) -> ApiResult<Value> {
    let s = store.snapshot(id)?;
    let c = inventory::compute(store, &snapshot_inputs(store, &s)?, threads)?;
    if c.result() != s.result {
        return Err(ApiError::internal(format!(
            "snapshot {id} does not recompute to its stored result; run POST /api/v1/snapshots/{id}/rerun to see the differences"
        )));
    }
    let mut orgs = serde_json::Map::new();
    for (o, org) in c.ds.orgs.orgs.iter().enumerate() {
        if !c.ds.orgs.is_within(o as u32, c.org_id) {
            continue;
        }
        let rows = |by| -> Vec<Value> {
            c.inventory
                .report(&c.ds, &c.lib, Some(o as u32), Some(by))
                .rows
                .iter()
                .map(|r| json!({"key": r.key, "totals": r.figures.totals}))
                .collect()
        };
        orgs.insert(
            org.code.clone(),
            json!({"months": rows(GroupBy::Month), "facility_types": rows(GroupBy::FacilityType)}),
        );
    }
    Ok(json!({"snapshot": id, "library_fingerprint": s.library_fingerprint, "key": aggregate_key(&s), "orgs": orgs}))
}

/// What kept aggregates must match to belong to a snapshot: not the id alone (ids repeat after a
/// restore of an older backup, or between two platforms sharing a folder) but the snapshot's
/// identity and stored result.
fn aggregate_key(s: &Snapshot) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [&s.id.to_string(), &s.org_code, &s.year.to_string(), &s.created_at, &s.library_fingerprint] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(s.result.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn kept_aggregates_match(v: &Value, snap: &Snapshot) -> bool {
    v["snapshot"] == json!(snap.id) && v["key"] == json!(aggregate_key(snap))
}

/// The aggregates kept in the store for `snap`, if they belong to it.
fn kept_aggregates(store: &Store, snap: &Snapshot) -> Option<Value> {
    let (key, body) = match store.snapshot_aggregates(snap.id) {
        Ok(kept) => kept?,
        Err(e) => {
            tracing::warn!(snapshot = snap.id, error = %e, "could not read the kept console aggregates");
            return None;
        }
    };
    let v = serde_json::from_str::<Value>(&body).ok()?;
    (key == aggregate_key(snap) && kept_aggregates_match(&v, snap)).then_some(v)
}

/// Keeps the aggregates of a snapshot in the store (table `snapshot_aggregates`), for the next
/// request and the next start.
fn keep_aggregates(app: &App, v: &Value) {
    let (Some(id), Some(key)) = (v["snapshot"].as_i64(), v["key"].as_str()) else { return };
    if let Err(e) = app.store.keep_snapshot_aggregates(id, key, &v.to_string()) {
        tracing::warn!(snapshot = id, error = %e, "could not keep the console aggregates");
    }
}

/// The aggregates of a snapshot now, on the calling (blocking) thread: from memory, else kept in
/// the store, else computed here and kept in both, as the console's job keeps them. For routes
/// that read several snapshots at once (the trend), so a repeated call recomputes nothing.
pub fn snapshot_aggregates(app: &App, id: i64) -> ApiResult<Arc<Value>> {
    if let Some(Aggregate::Ready(v)) = app.console.aggregates.lock().expect("aggregates lock").get(&id) {
        return Ok(v.clone());
    }
    let snap = app.store.snapshot(id)?;
    let v = match kept_aggregates(&app.store, &snap) {
        Some(v) => v,
        None => {
            let v = aggregate_snapshot(&app.store, id, app.threads)?;
            keep_aggregates(app, &v);
            v
        }
    };
    let v = Arc::new(v);
    app.console.aggregates.lock().expect("aggregates lock").insert(id, Aggregate::Ready(v.clone()));
    Ok(v)
}

/// The aggregates of a snapshot: ready (from memory, or `kept` in the store: read by the caller on
/// a blocking thread), or a job computing them (started here if none runs).
fn aggregates(app: &Arc<App>, snap: &Snapshot, snap_org_path: &str, actor: &str, kept: Option<Value>) -> Aggregate {
    let id = snap.id;
    let mut map = app.console.aggregates.lock().expect("aggregates lock");
    if let Some(a) = map.get(&id) {
        return a.clone();
    }
    if let Some(v) = kept {
        let a = Aggregate::Ready(Arc::new(v));
        map.insert(id, a.clone());
        return a;
    }
    let job = app.console.start(
        "aggregate",
        format!("monthly figures of snapshot {id} ({} {})", snap.org_code, snap.year),
        actor,
        (&snap.org_code, snap_org_path),
        format!("snapshot/{id}"),
        2,
    );
    map.insert(id, Aggregate::Computing { job });
    drop(map);
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || {
        app2.console.stage(job, "recomputing the snapshot", 0);
        let outcome = aggregate_snapshot(&app2.store, id, app2.threads);
        let entry = match &outcome {
            Ok(v) => {
                app2.console.stage(job, "saving", 1);
                keep_aggregates(&app2, v);
                Aggregate::Ready(Arc::new(v.clone()))
            }
            Err(e) => Aggregate::Failed(e.message.clone()),
        };
        app2.console.aggregates.lock().expect("aggregates lock").insert(id, entry);
        app2.console.finish(job, outcome.map(|_| json!({"snapshot": id})));
    });
    Aggregate::Computing { job }
}

#[derive(Deserialize)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// The newest current snapshot covering the org (of the org itself or of an org above it).
fn covering_snapshot(store: &Store, path: &str, year: i32) -> ApiResult<Option<Snapshot>> {
    let superseded = store.superseded_snapshots()?;
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    let best = store
        .snapshot_list()?
        .into_iter()
        .filter(|s| !superseded.contains(&s.id) && (year == 0 || s.year == year as i64))
        .filter(|s| paths.get(&s.org_code).is_some_and(|p| path.starts_with(p.as_str())))
        .max_by_key(|s| (s.year, s.id));
    match best {
        Some(b) => Ok(Some(store.snapshot(b.id)?)),
        None => Ok(None),
    }
}

/// The overview of an org: its figures, its direct children ranked, the months and facility types
/// (once the snapshot's aggregates are ready), from the newest snapshot covering it. Everything is
/// read from stored results; nothing is computed per request.
pub async fn overview(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    let year = crate::bounds::opt_year("year", q.year)?.unwrap_or(0);
    let store = app.store.clone();
    let c3 = code.clone();
    let app2 = app.clone();
    let (org, kids, snap, kept) = app
        .blocking(move || {
            let org = store.org(&c3)?.ok_or_else(|| ApiError::not_found(format!("org {c3}")))?;
            let kids: Vec<store::reference::Org> =
                store.orgs_within(&org.path)?.into_iter().filter(|o| o.parent_code.as_deref() == Some(&c3)).collect();
            let snap = match covering_snapshot(&store, &org.path, year)? {
                Some(s) => {
                    let path = store.org(&s.org_code)?.map(|o| o.path).unwrap_or_default();
                    Some((s, path))
                }
                None => None,
            };
            // The kept aggregates, unless they are in memory already.
            let kept = snap.as_ref().and_then(|(s, _)| {
                let in_memory = app2.console.aggregates.lock().expect("aggregates lock").contains_key(&s.id);
                if in_memory {
                    None
                } else {
                    kept_aggregates(&store, s)
                }
            });
            Ok((org, kids, snap, kept))
        })
        .await?;
    let Some((snap, snap_org_path)) = snap else {
        return Ok(Json(json!({"org": org, "snapshot": null})));
    };
    let rows: HashMap<String, &Value> = snap.result["rows"]
        .as_array()
        .map(|a| a.iter().map(|r| (r["key"].as_str().unwrap_or("").to_string(), r)).collect())
        .unwrap_or_default();
    let figures = rows.get(&code).map(|r| (*r).clone()).unwrap_or(Value::Null);
    let mut ranked: Vec<Value> = kids
        .iter()
        .filter_map(|k| {
            rows.get(&k.code).map(|r| json!({"code": k.code, "name": k.name, "totals": r["totals"], "memo": r["memo"]}))
        })
        .collect();
    ranked.sort_by(|a, b| {
        let t = |v: &Value| v["totals"]["total_market"].as_f64().unwrap_or(0.0);
        t(b).total_cmp(&t(a))
    });
    let monthly = match aggregates(&app, &snap, &snap_org_path, &caller.user.username, kept) {
        Aggregate::Ready(v) => {
            json!({"status": "ready", "months": v["orgs"][&code]["months"], "facility_types": v["orgs"][&code]["facility_types"]})
        }
        Aggregate::Computing { job } => json!({"status": "computing", "job": job}),
        Aggregate::Failed(m) => json!({"status": "failed", "message": m}),
    };
    Ok(Json(json!({
        "org": org,
        "snapshot": {"id": snap.id, "org_code": snap.org_code, "year": snap.year, "version": snap.version,
                      "created_at": snap.created_at, "library_version": snap.library_version, "options": snap.options},
        "figures": figures,
        // The unit of every number of `figures` and `children` (by field name).
        "units": accounting::figure_units(),
        "children": ranked,
        "monthly": monthly,
        // Indicators against targets arrive with the monitoring issue (extension point); until then
        // the console shows what the snapshot itself holds (energy, electricity, green power share).
        "indicators": [],
    })))
}

/// A facility of an org's subtree (the guard checked the org) and its filed activity for a year
/// (newest approved version of each filing that can hold it: its org's, or an org's above it), one
/// line per record with the filing and line it came from.
pub async fn facility(
    State(app): State<Arc<App>>,
    Path((code, facility)): Path<(String, String)>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    let (f2, c2) = (facility.clone(), code.clone());
    let (fac, org, scope) = app
        .db(move |s| {
            Ok((s.facility(&f2)?, s.org(&s.facility(&f2)?.map(|f| f.org_code).unwrap_or_default())?, s.org(&c2)?))
        })
        .await?;
    let (Some(fac), Some(org), Some(scope)) = (fac, org, scope) else {
        return Err(ApiError::not_found(format!("facility {facility}")));
    };
    if !org.path.starts_with(&scope.path) {
        return Err(ApiError::not_found(format!("facility {facility} in the subtree of org {code}")));
    }
    let code = facility;
    let year = q.year.ok_or_else(|| ApiError::bad_request("give the year: ?year=YYYY"))?;
    crate::bounds::year("year", year)?;
    let store = app.store.clone();
    let path = org.path.clone();
    let code2 = code.clone();
    let records = app
        .blocking(move || {
            // Filings of orgs above the facility's org (or the org itself) can hold its records.
            let filings: Vec<i64> = store
                .current_filings(year, &path)?
                .into_iter()
                .filter(|f| path.starts_with(f.org_path.as_str()))
                .map(|f| f.id)
                .collect();
            let mut out = Vec::new();
            store.for_each_activity(&filings, &mut |filing, r| {
                if r.facility_code == code2 {
                    out.push(json!({"filing_id": filing, "line": r.line, "period": r.period, "carrier": r.carrier,
                                    "quantity": r.quantity, "unit": r.unit, "source_document": r.source_document,
                                    "evidence_ref": r.evidence_ref}));
                }
                Ok(())
            })?;
            Ok(out)
        })
        .await?;
    Ok(Json(json!({"facility": fac, "org": org, "year": year, "records": records,
                   // Live power and PUE from telemetry arrive with the monitoring issue.
                   "telemetry": null})))
}

/// The factor library the platform computes with: shipped sets and the current user sets.
pub async fn factor_library(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    app.blocking(move || {
        let ids: Vec<i64> = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
        let lib = inventory::library(&store, &ids)?;
        let sets: Vec<Value> = lib
            .sets
            .iter()
            .map(|s| json!({"id": s.header.id, "version": s.header.version, "title": s.header.title, "user": s.user}))
            .collect();
        let factors: Vec<Value> = lib
            .factors
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(f).unwrap_or_default();
                v["set_id"] = json!(lib.sets[f.set].header.id);
                v
            })
            .collect();
        Ok(Json(json!({"version": lib.version(), "fingerprint": lib.fingerprint(), "sets": sets, "factors": factors})))
    })
    .await
}

/// Starts an inventory run (the same work as POST /api/v1/inventories) as a job.
pub async fn start_inventory_job(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<inventory::RunRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::bounds::year("year", body.year)?;
    let org = caller.require_org(&app, &body.org_code).await?;
    let options = if body.options.is_null() { json!({}) } else { body.options };
    inventory::parse_options(body.year, &options)?;
    let actor = caller.user.username.clone();
    let id = app.console.start(
        "inventory",
        format!("inventory {} {}", org.code, body.year),
        &actor,
        (&org.code, &org.path),
        format!("org/{}", org.code),
        1,
    );
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || {
        app2.console.stage(id, "reading approved filings and computing", 0);
        let out = inventory::run_blocking(&app2.store, &actor, &org.code, body.year, options, app2.threads);
        if out.is_ok() {
            app2.metrics.snapshots_created.fetch_add(1, Ordering::Relaxed);
            app2.dashboards.invalidate();
        }
        app2.console.finish(id, out.map(|s| json!({"snapshot": s.id, "org_code": s.org_code, "year": s.year})));
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"job": app.console.job(id)}))))
}

/// Starts importing a CSV file into a filing (the same validation and recording as
/// POST /api/v1/filings/{id}/upload) as a job: the file is received first, then checked.
pub async fn start_import_job(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let file_name = headers.get("x-file-name").and_then(|v| v.to_str().ok()).unwrap_or("upload.csv").to_string();
    let (spool, sha, size) = crate::filing::spool_upload(&app, body).await?;
    let filing = app.db(move |s| s.filing(id)).await?;
    let actor = caller.user.username.clone();
    let job = app.console.start(
        "import",
        format!("{file_name} → filing {id} ({} {})", filing.org_code, filing.period),
        &actor,
        (&filing.org_code, &filing.org_path),
        format!("filing/{id}"),
        1,
    );
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || {
        app2.console.stage(job, &format!("validating {size} bytes and recording rows"), 0);
        let r = import_spooled(&app2, &actor, id, spool.path(), size, &sha, &file_name);
        drop(spool);
        let out = r.map(|report| {
            if report.new {
                app2.metrics.rows_accepted.fetch_add(report.upload.accepted as u64, Ordering::Relaxed);
                app2.metrics.rows_rejected.fetch_add(report.upload.rejected as u64, Ordering::Relaxed);
            }
            json!({"filing_id": id, "upload": report.upload, "new": report.new, "accepted": report.upload.accepted,
                   "rejected": report.upload.rejected, "rejected_rows": report.rejected.iter().take(1000).collect::<Vec<_>>(),
                   "rejected_rows_truncated": report.rejected.len() > 1000,
                   "quarantine": format!("/api/v1/filings/{id}/quarantine.csv")})
        });
        app2.console.finish(job, out);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"job": app.console.job(job)}))))
}

/// Imports a received file like the upload route does: CSV as it is, an XLSX workbook's first
/// sheet converted to CSV first (within the same size limit).
fn import_spooled(
    app: &App,
    actor: &str,
    filing: i64,
    path: &std::path::Path,
    size: u64,
    sha: &str,
    file_name: &str,
) -> ApiResult<crate::filing::ImportReport> {
    let mut head = [0u8; 4];
    let is_xlsx = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok()
        && crate::xlsx::is_xlsx(&head);
    if !is_xlsx {
        return crate::filing::import_file(&app.store, actor, filing, path, sha, file_name, app.threads);
    }
    if size > crate::filing::MAX_XLSX_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "XLSX uploads are limited to {} MB; send large filings as CSV",
                crate::filing::MAX_XLSX_BYTES >> 20
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| ApiError::internal(e.to_string()))?;
    let csv = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(std::path::Path::new(".")))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    crate::xlsx::first_sheet_to_csv(bytes, csv.path())
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", e))?;
    crate::filing::import_file(&app.store, actor, filing, csv.path(), sha, file_name, app.threads)
}

#[derive(Deserialize)]
pub struct JobsQuery {
    pub id: Option<i64>,
}

/// The caller's jobs, newest first, and the pre-aggregation jobs of snapshots that cover the
/// caller's org (they hold progress only, no figures): stage, progress and summary, no results;
/// `?id=` for one of them with its result. Finished jobs are forgotten after [`JOB_KEEP_SECONDS`]
/// or beyond [`JOB_KEEP_FINISHED`].
pub async fn jobs(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Json<Value>> {
    let mut all = app.console.jobs.lock().expect("jobs lock");
    evict(&mut all, std::time::Instant::now());
    let list: Vec<Job> = all
        .iter()
        .rev()
        .filter(|j| q.id.is_none_or(|id| j.id == id))
        .filter(|j| {
            j.owner == caller.user.username
                || (j.kind == "aggregate" && (caller.within(&j.org_path) || caller.org_path.starts_with(&j.org_path)))
        })
        .map(|j| if q.id.is_some() { j.clone() } else { j.listed() })
        .collect();
    drop(all);
    if let (Some(id), true) = (q.id, list.is_empty()) {
        return Err(ApiError::not_found(format!("job {id}")));
    }
    Ok(Json(json!({"jobs": list})))
}

/// `/` and every console route: the embedded console, or a page saying how to build it. Unknown
/// `/api/` paths stay JSON errors.
pub async fn console_file(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") {
        return ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route: see /api/v1/openapi.json")
            .into_response();
    }
    match console::lookup(path) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, a.cache_control)], a.bytes)
            .into_response(),
        None if !console::is_built() && (path == "/" || !path.contains('.')) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], console::NOT_BUILT_PAGE).into_response()
        }
        None => {
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found").into_response()
        }
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;

    #[test]
    fn finished_jobs_are_forgotten_after_a_time_and_beyond_a_count() {
        let c = ConsoleState::default();
        for i in 0..(JOB_KEEP_FINISHED + 30) {
            let id = c.start("inventory", format!("job {i}"), "u", ("CT", "/CT/"), "org/CT".into(), 1);
            if i % 10 != 0 {
                c.finish(id, Ok(json!({"snapshot": i, "rows": vec![1; 1000]})));
            }
        }
        let now = std::time::Instant::now();
        let mut jobs = c.jobs.lock().unwrap();
        evict(&mut jobs, now);
        let running = jobs.iter().filter(|j| j.finished.is_none()).count();
        assert_eq!(running, (JOB_KEEP_FINISHED + 30).div_ceil(10), "running jobs are kept");
        assert_eq!(jobs.len() - running, JOB_KEEP_FINISHED);
        assert_eq!(
            jobs.iter().find(|j| j.finished.is_some()).unwrap().summary,
            json!({"snapshot": 19}),
            "oldest go first"
        );
        evict(&mut jobs, now + std::time::Duration::from_secs(JOB_KEEP_SECONDS + 1));
        assert_eq!(jobs.len(), running, "finished jobs are forgotten after JOB_KEEP_SECONDS");
    }
}

#[cfg(test)]
mod aggregate_key_tests {
    use super::*;

    fn snap(result: Value) -> Snapshot {
        Snapshot {
            id: 1,
            org_code: "CT".into(),
            year: 2024,
            version: 1,
            supersedes: None,
            reason: String::new(),
            options: json!({}),
            filings: json!([]),
            factor_sets: vec![],
            library_version: "v".into(),
            library_fingerprint: "f".into(),
            result,
            created_by: "t".into(),
            created_at: "2026-11-25T12:00:00Z".into(),
        }
    }

    #[test]
    fn kept_aggregates_belong_to_one_snapshot_not_to_an_id() {
        let a = snap(json!({"total": 1}));
        let kept = json!({"snapshot": 1, "library_fingerprint": "f", "key": aggregate_key(&a)});
        assert!(kept_aggregates_match(&kept, &a));
        // Same id and library, another result (a restored older database, another platform's folder).
        assert!(!kept_aggregates_match(&kept, &snap(json!({"total": 2}))));
        assert!(!kept_aggregates_match(&kept, &Snapshot { created_at: "2026-11-26T00:00:00Z".into(), ..a.clone() }));
        assert!(!kept_aggregates_match(&json!({"snapshot": 1, "library_fingerprint": "f"}), &a), "files without a key");
    }
}
