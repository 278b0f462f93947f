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
