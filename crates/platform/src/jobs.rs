//! Long jobs (imports and inventory runs) that run on the platform so that a user can leave the
//! page and come back, and the per-snapshot figures by month and facility type they keep.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// The console's server-side state: long jobs and the per-snapshot aggregates.
#[derive(Default)]
pub struct ConsoleState {
    next_job: AtomicI64,
    pub jobs: Mutex<Vec<Job>>,
    /// Per snapshot id: the monthly and facility-type figures of every org of its subtree. A
    /// snapshot never changes, so once computed they stay valid.
    pub aggregates: Mutex<HashMap<i64, Aggregate>>,
    /// Cluster mode: jobs are rows of the database every instance reads (`store::cluster`), run by
    /// this instance and taken over by another when it stops (`crate::cluster`).
    durable: std::sync::OnceLock<(Arc<store::Store>, String)>,
}

/// A snapshot's figures by month and facility type, as the overview finds them.
#[derive(Clone)]
pub enum Aggregate {
    /// A job is keeping the cells of a snapshot stored before they were kept.
    Computing {
        job: i64,
    },
    Ready(Arc<crate::snapshot::KeptFigures>),
    Failed(String),
}

/// A long-running piece of work started from the console.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    /// "inventory", "import" or "aggregate".
    pub kind: &'static str,
    /// In English; `params` has its parts (org, year, file, filing, period, snapshot) for the
    /// console, which words a job by its `kind` and `params`.
    pub title: String,
    pub params: Value,
    pub owner: String,
    pub org_code: String,
    #[serde(skip)]
    pub org_path: String,
    /// What it works on, for pages that show their own jobs: "filing/12", "org/CT-GD", "snapshot/3".
    pub target: String,
    /// "running", "done" or "failed".
    pub status: &'static str,
    /// What it is doing now, for the progress display (English), and as a code: `queued`,
    /// `computing`, `importing`, `recomputing`.
    pub stage: String,
    pub stage_code: &'static str,
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
    /// Cluster mode: the instance running it, and how many instances have run it (more than one
    /// when an instance stopped and another took the job over).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    #[serde(skip)]
    finished: Option<std::time::Instant>,
}

/// Runs a database call of the job table: on a runtime's worker (a handler) through
/// `block_in_place` (the PostgreSQL client is synchronous), elsewhere as it is.
fn db<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The `&'static str` of a stored code among `known` (the first, when unknown).
fn known(code: &str, known: &[&'static str]) -> &'static str {
    known.iter().find(|k| **k == code).copied().unwrap_or(known[0])
}

/// The codes a job's kind, status and stage take.
pub const KINDS: [&str; 3] = ["inventory", "import", "aggregate"];
pub const STATUSES: [&str; 3] = ["running", "done", "failed"];
pub const STAGES: [&str; 7] = ["queued", "computing", "importing", "recomputing", "resumed", "done", "failed"];

impl From<store::cluster::JobRow> for Job {
    fn from(r: store::cluster::JobRow) -> Job {
        Job {
            id: r.id,
            kind: known(&r.kind, &KINDS),
            title: r.title,
            params: r.params,
            owner: r.owner,
            org_code: r.org_code,
            org_path: r.org_path,
            target: r.target,
            status: known(&r.status, &STATUSES),
            stage: r.stage,
            stage_code: known(&r.stage_code, &STAGES),
            steps_done: r.steps_done as u32,
            steps_total: r.steps_total as u32,
            started_at: r.started_at,
            finished_at: r.finished_at,
            result: r.result,
            summary: r.summary,
            error: r.error,
            instance: Some(r.instance),
            attempts: Some(r.attempts),
            finished: None,
        }
    }
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
    pub fn listed(&self) -> Job {
        let mut j = self.clone_without_result();
        j.error = self.error.as_ref().map(|e| json!({"code": e["code"], "message": e["message"]}));
        j
    }
    fn clone_without_result(&self) -> Job {
        Job {
            id: self.id,
            kind: self.kind,
            title: self.title.clone(),
            params: self.params.clone(),
            owner: self.owner.clone(),
            org_code: self.org_code.clone(),
            org_path: self.org_path.clone(),
            target: self.target.clone(),
            status: self.status,
            stage: self.stage.clone(),
            stage_code: self.stage_code,
            steps_done: self.steps_done,
            steps_total: self.steps_total,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            result: Value::Null,
            summary: self.summary.clone(),
            error: None,
            instance: self.instance.clone(),
            attempts: self.attempts,
            finished: self.finished,
        }
    }
}

/// Drops finished jobs older than [`JOB_KEEP_SECONDS`] at `now` and the oldest finished beyond
/// [`JOB_KEEP_FINISHED`].
pub fn evict(jobs: &mut Vec<Job>, now: std::time::Instant) {
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
    pub fn start(
        &self,
        kind: &'static str,
        (title, params): (String, Value),
        owner: &str,
        // The org's code and path.
        org: (&str, &str),
        target: String,
        steps_total: u32,
    ) -> i64 {
        if let Some((store, instance)) = self.durable.get() {
            let j = store::cluster::NewJob {
                kind,
                title: &title,
                params: &params,
                owner,
                org_code: org.0,
                org_path: org.1,
                target: &target,
                steps_total: steps_total.into(),
                instance,
                now_ms: crate::cluster::now_ms(),
            };
            match db(|| store.insert_job(&j)) {
                Ok(id) => return id,
                // Kept in memory (visible on this instance only) rather than lost.
                Err(e) => tracing::warn!(error = %e, "jobs: cannot record a job in the database"),
            }
        }
        let id = self.next_job.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Job {
            id,
            kind,
            title,
            params,
            owner: owner.to_string(),
            org_code: org.0.to_string(),
            org_path: org.1.to_string(),
            target,
            status: "running",
            stage: "queued".into(),
            stage_code: "queued",
            steps_done: 0,
            steps_total,
            started_at: store::now(),
            finished_at: None,
            result: Value::Null,
            summary: Value::Null,
            error: None,
            instance: None,
            attempts: None,
            finished: None,
        };
        let mut jobs = self.jobs.lock().expect("jobs lock");
        evict(&mut jobs, std::time::Instant::now());
        jobs.push(job);
        id
    }
    pub fn update(&self, id: i64, f: impl FnOnce(&mut Job)) {
        if let Some(j) = self.jobs.lock().expect("jobs lock").iter_mut().find(|j| j.id == id) {
            f(j);
        }
    }
    pub fn stage(&self, id: i64, (code, stage): (&'static str, &str), steps_done: u32) {
        if let Some((store, _)) = self.durable.get() {
            if let Err(e) = db(|| store.job_stage(id, code, stage, steps_done.into())) {
                tracing::warn!(job = id, error = %e, "jobs: cannot record a job's stage");
            }
        }
        self.update(id, |j| {
            j.stage = stage.to_string();
            j.stage_code = code;
            j.steps_done = steps_done;
        });
    }
    pub fn finish(&self, id: i64, outcome: crate::Result<Value>) {
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
        if let Some((store, _)) = self.durable.get() {
            let r = db(|| match &outcome {
                Ok((result, summary)) => store.job_finish(id, Ok((result, summary))),
                Err(e) => store.job_finish(id, Err(e)),
            });
            if let Err(e) = r {
                tracing::warn!(job = id, error = %e, "jobs: cannot record a job's end");
            }
        }
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
        if let Some((store, _)) = self.durable.get() {
            if let Ok(Some(r)) = db(|| store.job_row(id)) {
                return Some(r.into());
            }
        }
        self.jobs.lock().expect("jobs lock").iter().find(|j| j.id == id).cloned()
    }

    /// Cluster mode from now on: jobs are rows of `store` run by `instance`.
    pub fn make_durable(&self, store: Arc<store::Store>, instance: String) {
        let _ = self.durable.set((store, instance));
    }

    /// The instance's name in cluster mode.
    pub fn instance(&self) -> Option<&str> {
        self.durable.get().map(|(_, i)| i.as_str())
    }

    /// The jobs `keep` keeps, newest first, as the list shows them (with results when `whole`):
    /// from the database in cluster mode (every instance's; the newest [`JOB_KEEP_FINISHED`] plus
    /// running ones of the owner or of aggregates), else this process's.
    pub fn list(&self, owner: &str, whole: bool, keep: impl Fn(&Job) -> bool) -> crate::Result<Vec<Job>> {
        let shown = |j: Job| if whole { j } else { j.listed() };
        if let Some((store, _)) = self.durable.get() {
            let rows = db(|| store.job_rows(owner, (JOB_KEEP_FINISHED * 2) as i64))?;
            return Ok(rows.into_iter().map(Job::from).filter(|j| keep(j)).map(shown).collect());
        }
        let mut all = self.jobs.lock().expect("jobs lock");
        evict(&mut all, std::time::Instant::now());
        Ok(all.iter().rev().filter(|j| keep(j)).cloned().map(shown).collect())
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;

    #[test]
    fn finished_jobs_are_forgotten_after_a_time_and_beyond_a_count() {
        let c = ConsoleState::default();
        for i in 0..(JOB_KEEP_FINISHED + 30) {
            let id = c.start("inventory", (format!("job {i}"), Value::Null), "u", ("CT", "/CT/"), "org/CT".into(), 1);
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
