//! What several platform instances on one PostgreSQL database share beyond the tables (cluster
//! mode, docs/cluster.md): change notifications (PostgreSQL `LISTEN`/`NOTIFY`, so a logout, a role
//! change, a disabled user, a changed org or a new snapshot reaches every instance's caches at once)
//! and durable jobs (`cluster_jobs`: claimed with `FOR UPDATE SKIP LOCKED`, kept alive by their
//! instance's heartbeats, taken over when an instance stops beating).
//!
//! The job table exists on SQLite too (the migration is shared) and stays empty there: the embedded
//! platform keeps its jobs in memory.

use crate::{Row, Store, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use std::time::Duration;

/// The notification channel: its payload is the name of the table that changed.
pub const CHANNEL: &str = "dualcarbon_changes";

/// The tables whose changes are announced, with the statements that announce them.
const WATCHED: &[(&str, &str)] = &[
    ("tokens", "UPDATE OR DELETE"),
    ("users", "UPDATE OR DELETE"),
    ("orgs", "INSERT OR UPDATE OR DELETE"),
    ("snapshots", "INSERT OR UPDATE OR DELETE"),
    ("facilities", "INSERT OR UPDATE OR DELETE"),
];

impl Store {
    /// PostgreSQL: makes every change of the [`WATCHED`] tables notify [`CHANNEL`] with the table's
    /// name when its transaction commits (statement triggers, so whoever writes: an instance, the
    /// command line or an operator's SQL). Idempotent; instances starting together take turns (an
    /// advisory lock). Nothing on SQLite (one process, nothing to tell).
    pub fn install_change_notifications(&self) -> Result<(), StoreError> {
        if self.postgres_url().is_none() {
            return Ok(());
        }
        let mut sql = format!(
            "SELECT pg_advisory_xact_lock(7320160420);
CREATE OR REPLACE FUNCTION dualcarbon_notify_change() RETURNS trigger AS $fn$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END;
$fn$ LANGUAGE plpgsql;
"
        );
        for (table, events) in WATCHED {
            sql.push_str(&format!(
                "DROP TRIGGER IF EXISTS dualcarbon_notify_{table} ON {table};
CREATE TRIGGER dualcarbon_notify_{table} AFTER {events} ON {table} FOR EACH STATEMENT EXECUTE FUNCTION dualcarbon_notify_change();
"
            ));
        }
        // Platform documents (meters, rules, targets, indicator data) but the alert state, which
        // the leader stores as alerts change and every instance computes itself.
        sql.push_str(&format!(
            "CREATE OR REPLACE FUNCTION dualcarbon_notify_document() RETURNS trigger AS $fn$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'platform_documents');
    RETURN NULL;
END;
$fn$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS dualcarbon_notify_platform_documents ON platform_documents;
CREATE TRIGGER dualcarbon_notify_platform_documents AFTER INSERT OR UPDATE ON platform_documents FOR EACH ROW WHEN (NEW.name <> 'alert-state.json') EXECUTE FUNCTION dualcarbon_notify_document();
"
        ));
        self.tx(|c| c.batch(&sql))
    }
}

/// Listens on [`CHANNEL`] on a connection of its own (a thread), calling `on(Some(table))` for each
/// change, and `on(None)` after every (re)connection: whatever was missed while the connection was
/// down, the caller forgets everything it caches. A broken connection is retried every second.
pub fn listen(url: &str, on: impl Fn(Option<&str>) + Send + 'static) -> std::thread::JoinHandle<()> {
    let url = url.to_string();
    std::thread::Builder::new()
        .name("pg-listen".into())
        .spawn(move || loop {
            match postgres::Client::connect(&url, postgres::NoTls) {
                Ok(mut client) => {
                    if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok() {
                        on(None);
                        loop {
                            let mut n = client.notifications();
                            let mut it = n.timeout_iter(Duration::from_millis(500));
                            let mut broken = false;
                            loop {
                                match it.next() {
                                    Ok(Some(msg)) => on(Some(msg.payload())),
                                    Ok(None) => break,
                                    Err(_) => {
                                        broken = true;
                                        break;
                                    }
                                }
                            }
                            drop(it);
                            drop(n);
                            // An idle connection is checked now and then (a restarted server closes it).
                            if broken || client.is_closed() || client.simple_query("SELECT 1").is_err() {
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing_free_warn(&format!("change notifications: cannot connect to PostgreSQL: {e}")),
            }
            std::thread::sleep(Duration::from_secs(1));
        })
        .expect("start the notification listener")
}

fn tracing_free_warn(m: &str) {
    eprintln!("{m}");
}

/// A durable job's row.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub title: String,
    /// JSON: the job's parts for the console and for running it again.
    pub params: serde_json::Value,
    pub owner: String,
    pub org_code: String,
    pub org_path: String,
    pub target: String,
    pub status: String,
    pub stage: String,
    pub stage_code: String,
    pub steps_done: i64,
    pub steps_total: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub result: serde_json::Value,
    pub summary: serde_json::Value,
    pub error: Option<serde_json::Value>,
    /// The instance running it now.
    pub instance: String,
    /// Its instance's last heartbeat (Unix ms).
    pub heartbeat_ms: i64,
    /// How many instances have run it (1 unless taken over).
    pub attempts: i64,
}

const JOB_COLS: &str = "id, kind, title, params, owner, org_code, org_path, target, status, stage, stage_code, steps_done, steps_total, started_at, finished_at, result, summary, error, instance, heartbeat_ms, attempts";

fn json_of(t: Option<String>) -> serde_json::Value {
    t.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(serde_json::Value::Null)
}

fn job(r: &Row) -> JobRow {
    JobRow {
        id: r.int(0),
        kind: r.text(1),
        title: r.text(2),
        params: json_of(r.opt_text(3)),
        owner: r.text(4),
        org_code: r.text(5),
        org_path: r.text(6),
        target: r.text(7),
        status: r.text(8),
        stage: r.text(9),
        stage_code: r.text(10),
        steps_done: r.int(11),
        steps_total: r.int(12),
        started_at: r.text(13),
        finished_at: r.opt_text(14),
        result: json_of(r.opt_text(15)),
        summary: json_of(r.opt_text(16)),
        error: r.opt_text(17).and_then(|t| serde_json::from_str(&t).ok()),
        instance: r.text(18),
        heartbeat_ms: r.int(19),
        attempts: r.int(20),
    }
}

/// A new job as its instance starts it.
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub title: &'a str,
    pub params: &'a serde_json::Value,
    pub owner: &'a str,
    pub org_code: &'a str,
    pub org_path: &'a str,
    pub target: &'a str,
    pub steps_total: i64,
    pub instance: &'a str,
    pub now_ms: i64,
}

impl Store {
    /// Records a job that `instance` runs from now (status `running`, stage `queued`); its id.
    pub fn insert_job(&self, j: &NewJob<'_>) -> Result<i64, StoreError> {
        self.tx(|c| {
            Ok(c.query(
                "INSERT INTO cluster_jobs (kind, title, params, owner, org_code, org_path, target, status, stage, stage_code, steps_done, steps_total, started_at, instance, heartbeat_ms, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', 'queued', 'queued', 0, $8, $9, $10, $11, 1) RETURNING id",
                &[
                    j.kind.into(),
                    j.title.into(),
                    j.params.to_string().into(),
                    j.owner.into(),
                    j.org_code.into(),
                    j.org_path.into(),
                    j.target.into(),
                    j.steps_total.into(),
                    crate::now().into(),
                    j.instance.into(),
                    j.now_ms.into(),
                ],
            )?[0]
                .int(0))
        })
    }

    /// Sets a running job's stage and steps done.
    pub fn job_stage(&self, id: i64, code: &str, stage: &str, steps_done: i64) -> Result<(), StoreError> {
        self.tx(|c| {
            c.exec(
                "UPDATE cluster_jobs SET stage = $1, stage_code = $2, steps_done = $3 WHERE id = $4 AND status = 'running'",
                &[stage.into(), code.into(), steps_done.into(), id.into()],
            )
            .map(|_| ())
        })
    }

    /// Ends a running job: `done` with its result and summary, or `failed` with its error. A job
    /// already ended (by an instance that took it over) stays as it ended: `false`.
    pub fn job_finish(
        &self,
        id: i64,
        outcome: Result<(&serde_json::Value, &serde_json::Value), &serde_json::Value>,
    ) -> Result<bool, StoreError> {
        let (status, result, summary, error) = match outcome {
            Ok((r, s)) => ("done", Some(r.to_string()), Some(s.to_string()), None),
            Err(e) => ("failed", None, None, Some(e.to_string())),
        };
        self.tx(|c| {
            Ok(c.exec(
                "UPDATE cluster_jobs SET status = $1, stage = $1, stage_code = $1, steps_done = steps_total, result = $2, summary = $3, error = $4, finished_at = $5 WHERE id = $6 AND status = 'running'",
                &[status.into(), result.into(), summary.into(), error.into(), crate::now().into(), id.into()],
            )? == 1)
        })
    }

    pub fn job_row(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {JOB_COLS} FROM cluster_jobs WHERE id = $1"), &[id.into()]))?
            .first()
            .map(job))
    }

    /// The newest `limit` jobs that `owner` started or that are `aggregate` jobs (newest first).
    pub fn job_rows(&self, owner: &str, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {JOB_COLS} FROM cluster_jobs WHERE owner = $1 OR kind = 'aggregate' ORDER BY id DESC LIMIT $2"),
                    &[owner.into(), limit.into()],
                )
            })?
            .iter()
            .map(job)
            .collect())
    }

    /// Forgets jobs that finished before `before` (RFC 3339), as the embedded platform forgets its
    /// finished jobs after an hour; the number forgotten.
    pub fn forget_finished_jobs(&self, before: &str) -> Result<u64, StoreError> {
        self.tx(|c| c.exec("DELETE FROM cluster_jobs WHERE status <> 'running' AND finished_at < $1", &[before.into()]))
    }

    /// `instance` is alive: the heartbeat of every job it runs is now.
    pub fn job_heartbeat(&self, instance: &str, now_ms: i64) -> Result<u64, StoreError> {
        self.tx(|c| {
            c.exec(
                "UPDATE cluster_jobs SET heartbeat_ms = $1 WHERE instance = $2 AND status = 'running'",
                &[now_ms.into(), instance.into()],
            )
        })
    }

    /// PostgreSQL: claims for `instance` the oldest running job whose instance has not beaten since
    /// `stale_before_ms` (it died), locked so that two instances never take the same job
    /// (`FOR UPDATE SKIP LOCKED`); the job as it was left, its `attempts` counted.
    pub fn claim_stale_job(
        &self,
        instance: &str,
        stale_before_ms: i64,
        now_ms: i64,
    ) -> Result<Option<JobRow>, StoreError> {
        if self.postgres_url().is_none() {
            return Ok(None);
        }
        self.tx(|c| {
            let rows = c.query(
                &format!("SELECT {JOB_COLS} FROM cluster_jobs WHERE status = 'running' AND heartbeat_ms < $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"),
                &[stale_before_ms.into()],
            )?;
            let Some(mut j) = rows.first().map(job) else { return Ok(None) };
            c.exec(
                "UPDATE cluster_jobs SET instance = $1, heartbeat_ms = $2, attempts = attempts + 1 WHERE id = $3",
                &[instance.into(), now_ms.into(), j.id.into()],
            )?;
            j.instance = instance.to_string();
            j.attempts += 1;
            Ok(Some(j))
        })
    }
}

/// Holds the PostgreSQL advisory lock `key` on a connection of its own (a thread): tried every half
/// second while `may_try()` says so, `held` set while it is held. The lock goes with the connection:
/// when this process dies or loses the database, the server releases it and another instance takes
/// it; a connection found broken clears `held` at once.
pub fn hold_lock(
    url: &str,
    key: i64,
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
    may_try: impl Fn() -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    let url = url.to_string();
    std::thread::Builder::new()
        .name("pg-lock".into())
        .spawn(move || loop {
            if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
                loop {
                    let ok = if held.load(Ordering::SeqCst) {
                        client.simple_query("SELECT 1").is_ok()
                    } else if may_try() {
                        match client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]) {
                            Ok(row) => {
                                if row.get::<_, bool>(0) {
                                    held.store(true, Ordering::SeqCst);
                                }
                                true
                            }
                            Err(_) => false,
                        }
                    } else {
                        client.simple_query("SELECT 1").is_ok()
                    };
                    if !ok {
                        held.store(false, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            held.store(false, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(1));
        })
        .expect("start the lock holder")
}

/// The `application_name` of the connections that hold partitions (`hold_partitions`): counting
/// them counts the live instances.
pub const PARTITION_HOLDERS: &str = "dualcarbon-partitions";

/// Holds a fair share of `owned.len()` partitions, partition `i` being the PostgreSQL advisory lock
/// `base_key + i`, on a connection of its own (a thread) named [`PARTITION_HOLDERS`]. Every half
/// second it counts the live instances (the connections of that name on the database) and holds
/// ⌈partitions ÷ instances⌉: more are released (the highest first), fewer are taken among the free
/// ones (tried from `offset` on, so instances start at different places). It joins (and is counted)
/// once `may_try()` says so. A lock goes with its connection: when an instance dies or loses the
/// database, the server releases its partitions and the others take them within a second.
pub fn hold_partitions(
    url: &str,
    base_key: i64,
    offset: usize,
    owned: std::sync::Arc<Vec<std::sync::atomic::AtomicBool>>,
    may_try: impl Fn() -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    let url = url.to_string();
    let n = owned.len();
    std::thread::Builder::new()
        .name("pg-partitions".into())
        .spawn(move || loop {
            // Counted as an instance (so others release partitions to it) only once it may take them.
            while !may_try() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let connected = url
                .parse::<postgres::Config>()
                .map(|mut c| {
                    c.application_name(PARTITION_HOLDERS);
                    c
                })
                .ok()
                .and_then(|c| c.connect(postgres::NoTls).ok());
            if let Some(mut client) = connected {
                loop {
                    let step = (|| -> Result<(), postgres::Error> {
                        let row = client.query_one(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
                            &[&PARTITION_HOLDERS],
                        )?;
                        let instances = row.get::<_, i64>(0).max(1) as usize;
                        let target = n.div_ceil(instances);
                        let mut held: Vec<usize> = (0..n).filter(|&i| owned[i].load(Ordering::SeqCst)).collect();
                        while held.len() > target {
                            let i = held.pop().expect("more held than the target");
                            owned[i].store(false, Ordering::SeqCst);
                            client.query_one("SELECT pg_advisory_unlock($1)", &[&(base_key + i as i64)])?;
                        }
                        if held.len() < target {
                            for k in 0..n {
                                let i = (offset + k) % n;
                                if owned[i].load(Ordering::SeqCst) {
                                    continue;
                                }
                                let got: bool = client
                                    .query_one("SELECT pg_try_advisory_lock($1)", &[&(base_key + i as i64)])?
                                    .get(0);
                                if got {
                                    owned[i].store(true, Ordering::SeqCst);
                                    held.push(i);
                                    if held.len() >= target {
                                        break;
                                    }
                                }
                            }
                        }
                        Ok(())
                    })();
                    if step.is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            for o in owned.iter() {
                o.store(false, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_secs(1));
        })
        .expect("start the partition holder")
}

impl Store {
    /// The database answers (health checks).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query("SELECT 1", &[])).map(|_| ())
    }
}

/// A facility's quarter-hour energy of one role, as cluster mode keeps it (the live series hold the
/// raw readings of the stream's window; these stay).
#[derive(Debug, Clone, PartialEq)]
pub struct Quarter {
    pub facility_code: String,
    pub role: String,
    pub start_ms: i64,
    /// kWh, and the share of the quarter whose energy is known, as decimal text.
    pub energy_kwh: String,
    pub coverage: String,
    /// Comma-separated (`split`, `reset`, ...).
    pub flags: String,
}

impl Store {
    /// Claims the delivery of an alert event (the alert's subject, rule and opening time, and the
    /// event's kind: what identifies it on every instance and after a replay) for `instance`: true
    /// when nobody claimed it before (this instance delivers it), false when it was delivered.
    pub fn claim_alert_delivery(
        &self,
        subject: &str,
        rule: &str,
        opened_ms: i64,
        kind: &str,
        instance: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.tx(|c| {
            Ok(c.exec(
                "INSERT INTO alert_deliveries (subject, rule, opened_ms, kind, instance, at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (subject, rule, opened_ms, kind) DO NOTHING",
                &[subject.into(), rule.into(), opened_ms.into(), kind.into(), instance.into(), now_ms.into()],
            )? == 1)
        })
    }

    /// Records that a claimed alert event was delivered (attempted to every webhook).
    pub fn alert_delivery_done(
        &self,
        subject: &str,
        rule: &str,
        opened_ms: i64,
        kind: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.tx(|c| {
            c.exec(
                "UPDATE alert_deliveries SET delivered_ms = $5 WHERE subject = $1 AND rule = $2 AND opened_ms = $3 AND kind = $4",
                &[subject.into(), rule.into(), opened_ms.into(), kind.into(), now_ms.into()],
            )?;
            Ok(())
        })
    }

    /// Claims again, for `instance`, an alert event (subject, rule, opening time, kind) claimed before `stale_before_ms` and never
    /// delivered (its instance died between the claim and the delivery): true when this call took
    /// it (of several instances trying, one does).
    pub fn reclaim_alert_delivery(
        &self,
        (subject, rule, opened_ms, kind): (&str, &str, i64, &str),
        instance: &str,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<bool, StoreError> {
        self.tx(|c| {
            Ok(c.exec(
                "UPDATE alert_deliveries SET instance = $5, at_ms = $6 \
                 WHERE subject = $1 AND rule = $2 AND opened_ms = $3 AND kind = $4 AND delivered_ms IS NULL AND at_ms < $7",
                &[
                    subject.into(),
                    rule.into(),
                    opened_ms.into(),
                    kind.into(),
                    instance.into(),
                    now_ms.into(),
                    stale_before_ms.into(),
                ],
            )? == 1)
        })
    }

    /// The alert events claimed before `stale_before_ms` and never delivered: (subject, rule,
    /// opened_ms, kind), oldest claim first.
    pub fn undelivered_alert_events(
        &self,
        stale_before_ms: i64,
    ) -> Result<Vec<(String, String, i64, String)>, StoreError> {
        let rows = self.read(|c| {
            c.query(
                "SELECT subject, rule, opened_ms, kind FROM alert_deliveries WHERE delivered_ms IS NULL AND at_ms < $1 \
                 ORDER BY at_ms, subject, rule, opened_ms, kind LIMIT 1000",
                &[stale_before_ms.into()],
            )
        })?;
        Ok(rows.iter().map(|r| (r.text(0), r.text(1), r.int(2), r.text(3))).collect())
    }

    /// Whether an alert event was claimed (delivered) already.
    pub fn alert_delivered(&self, subject: &str, rule: &str, opened_ms: i64, kind: &str) -> Result<bool, StoreError> {
        Ok(!self
            .read(|c| {
                c.query(
                    "SELECT 1 FROM alert_deliveries WHERE subject = $1 AND rule = $2 AND opened_ms = $3 AND kind = $4",
                    &[subject.into(), rule.into(), opened_ms.into(), kind.into()],
                )
            })?
            .is_empty())
    }

    /// Forgets the deliveries claimed before `before_ms`.
    pub fn forget_alert_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.tx(|c| c.exec("DELETE FROM alert_deliveries WHERE at_ms < $1", &[before_ms.into()]))
    }

    /// Stores quarter-hour rows, replacing those of the same facility, role and quarter.
    pub fn put_quarters(&self, rows: &[Quarter]) -> Result<(), StoreError> {
        self.tx(|c| {
            for q in rows {
                c.exec(
                    "INSERT INTO telemetry_quarters (facility_code, role, start_ms, energy_kwh, coverage, flags) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (facility_code, role, start_ms) DO UPDATE SET energy_kwh = excluded.energy_kwh, coverage = excluded.coverage, flags = excluded.flags",
                    &[
                        q.facility_code.as_str().into(),
                        q.role.as_str().into(),
                        q.start_ms.into(),
                        q.energy_kwh.as_str().into(),
                        q.coverage.as_str().into(),
                        q.flags.as_str().into(),
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The kept quarter-hour rows of a facility's role, oldest first.
    pub fn quarters(&self, facility: &str, role: &str) -> Result<Vec<Quarter>, StoreError> {
        self.quarters_between(facility, role, i64::MIN, i64::MAX)
    }

    /// The kept quarter-hours of a facility and role starting in `[from, to)`, in time order.
    pub fn quarters_between(&self, facility: &str, role: &str, from: i64, to: i64) -> Result<Vec<Quarter>, StoreError> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT facility_code, role, start_ms, energy_kwh, coverage, flags FROM telemetry_quarters \
                     WHERE facility_code = $1 AND role = $2 AND start_ms >= $3 AND start_ms < $4 ORDER BY start_ms",
                    &[facility.into(), role.into(), from.into(), to.into()],
                )
            })?
            .iter()
            .map(|r| Quarter {
                facility_code: r.text(0),
                role: r.text(1),
                start_ms: r.int(2),
                energy_kwh: r.text(3),
                coverage: r.text(4),
                flags: r.text(5),
            })
            .collect())
    }
}
