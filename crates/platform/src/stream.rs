//! Telemetry through NATS JetStream (cluster mode, docs/cluster.md). The JetStream stream
//! [`STREAM`] is the reading log of the cluster: a batch received by any instance is published to
//! it and acknowledged to its sender only once JetStream has stored it (its publish
//! acknowledgement); a batch that cannot be stored (NATS unavailable) is refused with 503
//! `telemetry_unavailable`, nothing acknowledged.
//!
//! Every instance applies the stream's entries in the stream's order to its monitor (an ordered
//! consumer from the first entry kept): the same entries in the same order give every instance the
//! same live state and the same alerts, so an SSE client on any instance sees the readings posted
//! to any other, and an instance that dies loses nothing (the next one replays the stream). The
//! silence check is an entry too ([`Entry::Tick`], published by the leader), so it is applied in
//! the same place of the order everywhere. What goes outside happens once: only the leader (the
//! holder of a PostgreSQL advisory lock, which moves when its holder's connection dies) delivers
//! alert webhooks and stores the alert state; an instance takes the lock only once it has applied
//! every entry that was in the stream when it started, so a replay does not fire alerts again.
//!
//! One stream per process (a `static`): cluster mode runs one platform per process.

use crate::{Error, Kind, Result};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The JetStream stream of telemetry entries and its subject.
pub const STREAM: &str = "DUALCARBON_TELEMETRY";
pub const SUBJECT: &str = "dualcarbon.telemetry";
/// The PostgreSQL advisory lock whose holder is the leader.
pub const LEADER_LOCK: i64 = 7_320_160_421;
/// How long a publisher waits for its own instance to apply its batch (the answer's report).
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// One entry of the stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A batch of readings (meter, time in ms, value) received at `now_ms` from `source` by the
    /// instance `origin`.
    Batch { origin: String, source: String, now_ms: i64, readings: Vec<(String, i64, f64)> },
    /// The silence check at `now_ms`.
    Tick { now_ms: i64 },
    /// A user acknowledged (or resolved by hand) alert `id` through the instance `origin`.
    Alert { origin: String, id: u64, by: String, at_ms: i64, resolve: bool },
}

/// What applying an entry gave, for the instance that published it.
enum Applied {
    Batch(std::result::Result<telemetry::IngestReport, String>),
    Alert(Box<std::result::Result<alerts::Event, String>>),
    Other,
}

/// How the stream is set up (`dualcarbon serve --cluster`).
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    /// Raw readings are kept this long in the stream (and replayed from it by a starting instance).
    pub keep: Duration,
    /// Replicas of the stream (1 on one NATS server; 3 on a 3-node JetStream cluster).
    pub replicas: usize,
}

/// This process's connection to the stream.
pub struct Stream {
    js: async_nats::jetstream::Context,
    instance: String,
    /// The stream sequence applied last here.
    applied: tokio::sync::watch::Sender<u64>,
    /// Reports of batches this instance published, by sequence, until their publisher takes them.
    reports: Mutex<HashMap<u64, std::result::Result<telemetry::IngestReport, String>>>,
    /// The same for alert actions.
    actions: Mutex<HashMap<u64, std::result::Result<alerts::Event, String>>>,
    /// Whether this instance is the leader now.
    pub leader: Arc<AtomicBool>,
    /// The NATS client (its connection state for health).
    client: async_nats::Client,
}

static STREAM_OF_PROCESS: OnceLock<Arc<Stream>> = OnceLock::new();

/// The stream of this process, in cluster mode.
pub fn current() -> Option<&'static Arc<Stream>> {
    STREAM_OF_PROCESS.get()
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Unavailable,
        "telemetry_unavailable",
        format!("the telemetry stream (NATS JetStream) is unavailable: {e}"),
    )
}

impl Stream {
    /// Connected to NATS now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Publishes `entry` and waits for JetStream's acknowledgement: its stream sequence.
    pub async fn publish(&self, entry: &Entry) -> Result<u64> {
        if !self.connected() {
            return Err(unavailable("not connected to NATS"));
        }
        let payload = serde_json::to_vec(entry).map_err(|e| Error::internal(e.to_string()))?;
        let ack = tokio::time::timeout(Duration::from_secs(5), async {
            self.js.publish(SUBJECT, payload.into()).await.map_err(unavailable)?.await.map_err(unavailable)
        })
        .await
        .map_err(|_| unavailable("no acknowledgement within 5 s"))??;
        Ok(ack.sequence)
    }

    /// A batch through the stream: stored by JetStream (else an error, nothing acknowledged), then
    /// applied here; the report of its application. Blocking (call from a blocking thread).
    pub fn ingest(&self, raw: &[telemetry::RawReading], now_ms: i64, source: &str) -> Result<telemetry::IngestReport> {
        let entry = Entry::Batch {
            origin: self.instance.clone(),
            source: source.to_string(),
            now_ms,
            readings: raw.iter().map(|r| (r.meter.clone(), r.ts_ms, r.value)).collect(),
        };
        let handle = tokio::runtime::Handle::try_current().map_err(|e| Error::internal(e.to_string()))?;
        let seq = handle.block_on(self.publish(&entry))?;
        let mut applied = self.applied.subscribe();
        let waited = handle.block_on(async {
            tokio::time::timeout(APPLY_WAIT, applied.wait_for(|a| *a >= seq)).await.map(|r| r.is_ok())
        });
        if let Some(r) = self.reports.lock().unwrap_or_else(|e| e.into_inner()).remove(&seq) {
            return r.map_err(|e| Error::internal(format!("applying the batch: {e}")));
        }
        // Stored (acknowledged by JetStream) but not applied here in time: every reading counted
        // as received and appended; the live state follows when the entry is applied.
        let _ = waited;
        Ok(telemetry::IngestReport { received: raw.len(), appended: raw.len(), ..Default::default() })
    }
}

impl Stream {
    /// A user's alert acknowledgement or resolution through the stream, so every instance applies
    /// it at the same place of the order; its event (or why the alert's state refuses it), as
    /// applied here. Blocking.
    pub fn alert_action(
        &self,
        id: u64,
        by: &str,
        at_ms: i64,
        resolve: bool,
    ) -> Result<std::result::Result<alerts::Event, String>> {
        let entry = Entry::Alert { origin: self.instance.clone(), id, by: by.to_string(), at_ms, resolve };
        let handle = tokio::runtime::Handle::try_current().map_err(|e| Error::internal(e.to_string()))?;
        let seq = handle.block_on(self.publish(&entry))?;
        let mut applied = self.applied.subscribe();
        let _ = handle.block_on(async { tokio::time::timeout(APPLY_WAIT, applied.wait_for(|a| *a >= seq)).await });
        self.actions.lock().unwrap_or_else(|e| e.into_inner()).remove(&seq).ok_or_else(|| {
            Error::new(
                Kind::Unavailable,
                "telemetry_unavailable",
                "the alert change was stored but not applied in time: look at the alert again",
            )
        })
    }
}

/// Connects to NATS, creates the stream when missing, and starts applying it to the platform's
/// monitor (replaying what it keeps first), the leader's lock and ticks. Blocking (waits for the
/// connection): call before serving, inside the runtime that will serve.
pub async fn start(platform: &Arc<crate::Platform>, instance: &str, cfg: &Config) -> Result<Arc<Stream>> {
    use async_nats::jetstream::{consumer, stream};
    let client = async_nats::ConnectOptions::new()
        .name(format!("dualcarbon {instance}"))
        .retry_on_initial_connect()
        .connect(&cfg.url)
        .await
        .map_err(unavailable)?;
    let js = async_nats::jetstream::new(client.clone());
    let mut s = tokio::time::timeout(
        Duration::from_secs(30),
        js.get_or_create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECT.into()],
            max_age: cfg.keep,
            storage: stream::StorageType::File,
            num_replicas: cfg.replicas,
            ..Default::default()
        }),
    )
    .await
    .map_err(|_| unavailable("JetStream did not answer within 30 s"))?
    .map_err(unavailable)?;
    let last_at_start = s.info().await.map_err(unavailable)?.state.last_sequence;
    let (applied, _) = tokio::sync::watch::channel(0u64);
    let me = Arc::new(Stream {
        js,
        instance: instance.to_string(),
        applied,
        reports: Mutex::new(HashMap::new()),
        actions: Mutex::new(HashMap::new()),
        leader: Arc::new(AtomicBool::new(false)),
        client,
    });
    let _ = STREAM_OF_PROCESS.set(me.clone());
    // Entries go to the applying thread in stream order. The consumer is made again (from the
    // entry after the last one passed on) whenever it fails: NATS restarted, connection lost.
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Vec<u8>)>();
    let js = me.js.clone();
    tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let run = async {
                let s = js.get_stream(STREAM).await.map_err(|e| e.to_string())?;
                let deliver_policy = if sent == 0 {
                    consumer::DeliverPolicy::All
                } else {
                    consumer::DeliverPolicy::ByStartSequence { start_sequence: sent + 1 }
                };
                let c = s
                    .create_consumer(consumer::pull::OrderedConfig { deliver_policy, ..Default::default() })
                    .await
                    .map_err(|e| e.to_string())?;
                let mut messages = c.messages().await.map_err(|e| e.to_string())?;
                loop {
                    // Idle for 2 s while the stream holds entries not passed on: the consumer is
                    // stalled (NATS restarted under it), made again.
                    let m = match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                        Ok(Some(m)) => m,
                        Ok(None) => break,
                        Err(_) => {
                            let mut s = js.get_stream(STREAM).await.map_err(|e| e.to_string())?;
                            if s.info().await.map_err(|e| e.to_string())?.state.last_sequence > sent {
                                return Err("stalled".to_string());
                            }
                            continue;
                        }
                    };
                    let m = m.map_err(|e| e.to_string())?;
                    let seq = m.info().map_err(|e| e.to_string())?.stream_sequence;
                    if seq <= sent {
                        continue;
                    }
                    sent = seq;
                    if tx.send((seq, m.payload.to_vec())).is_err() {
                        return Ok(true);
                    }
                }
                Ok::<bool, String>(false)
            };
            match run.await {
                Ok(true) => return,
                Ok(false) => tracing::warn!("telemetry stream: the consumer ended; making it again"),
                Err(e) => tracing::warn!(error = %e, "telemetry stream: consumer failed; making it again"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let (p, me2) = (Arc::downgrade(platform), me.clone());
    std::thread::Builder::new()
        .name("telemetry-apply".into())
        .spawn(move || {
            while let Ok((seq, payload)) = rx.recv() {
                let Some(p) = p.upgrade() else { return };
                let (origin, outcome) = apply(&p, &payload);
                if origin.as_deref() == Some(me2.instance.as_str()) {
                    match outcome {
                        Applied::Batch(r) => {
                            me2.reports.lock().unwrap_or_else(|e| e.into_inner()).insert(seq, r);
                        }
                        Applied::Alert(r) => {
                            me2.actions.lock().unwrap_or_else(|e| e.into_inner()).insert(seq, *r);
                        }
                        Applied::Other => {}
                    }
                }
                me2.applied.send_replace(seq);
            }
        })
        .map_err(|e| Error::internal(e.to_string()))?;
    // The leader: once caught up with the stream as it was at start.
    if let Some(url) = platform.store.postgres_url() {
        let (leader, mut caught_up) = (me.leader.clone(), me.applied.subscribe());
        let ready = Arc::new(AtomicBool::new(last_at_start == 0));
        let r2 = ready.clone();
        tokio::spawn(async move {
            let _ = caught_up.wait_for(|a| *a >= last_at_start).await;
            r2.store(true, Ordering::SeqCst);
        });
        store::cluster::hold_lock(url, LEADER_LOCK, leader.clone(), move || ready.load(Ordering::SeqCst));
        let (p, me3) = (Arc::downgrade(platform), me.clone());
        // The monitor's effects follow leadership; the leader publishes the silence check.
        tokio::spawn(async move {
            let mut last_tick = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Some(p) = p.upgrade() else { return };
                let lead = me3.leader.load(Ordering::SeqCst);
                if let Some(m) = p.monitoring.read().ok().and_then(|m| m.clone()) {
                    m.monitor.set_effects(lead);
                }
                if lead && last_tick.elapsed() >= Duration::from_secs(30) {
                    last_tick = std::time::Instant::now();
                    if let Err(e) = me3.publish(&Entry::Tick { now_ms: crate::monitoring::now_ms() }).await {
                        tracing::warn!(error = %e.message, "telemetry stream: the silence check could not be published");
                    }
                }
            }
        });
    }
    keep_quarters(platform, &me);
    Ok(me)
}

/// The leader keeps, every 5 s, the quarter-hour energy of the facilities whose live state changed
/// (the last day before each one's newest reading) in the database (`store::cluster::Quarter`).
fn keep_quarters(platform: &Arc<crate::Platform>, me: &Arc<Stream>) {
    let (p, me) = (Arc::downgrade(platform), me.clone());
    let _ = std::thread::Builder::new().name("telemetry-quarters".into()).spawn(move || {
        let mut events: Option<tokio::sync::broadcast::Receiver<monitor::LiveEvent>> = None;
        loop {
            std::thread::sleep(Duration::from_secs(5));
            let Some(p) = p.upgrade() else { return };
            let Some(m) = p.monitoring.read().ok().and_then(|m| m.clone()) else { continue };
            if !me.leader.load(Ordering::SeqCst) {
                events = None;
                continue;
            }
            let mut touched: HashMap<String, (i64, Vec<telemetry::Role>)> = HashMap::new();
            if events.is_none() {
                // Newly the leader: every metered facility once (what the last leader may not have kept).
                let codes: Vec<String> = m.monitor.with_telemetry(|t| t.by_facility.keys().cloned().collect());
                for code in codes {
                    if let Some(live) = m.monitor.facility_live(&code).filter(|l| l.at_ms > 0) {
                        touched.insert(code, (live.at_ms, live.energy_1h_kwh.keys().copied().collect()));
                    }
                }
            }
            let rx = events.get_or_insert_with(|| m.monitor.subscribe());
            loop {
                match rx.try_recv() {
                    Ok(monitor::LiveEvent::Facility { facility, live, .. }) => {
                        let roles = live.energy_1h_kwh.keys().copied().collect();
                        touched.insert(facility, (live.at_ms, roles));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            let mut rows = Vec::new();
            for (facility, (at_ms, roles)) in touched {
                for role in roles {
                    let from = telemetry::Period::Quarter.start(at_ms - telemetry::time::DAY_MS);
                    for r in
                        m.monitor.rollup(&facility, role, telemetry::Period::Quarter, from, at_ms).unwrap_or_default()
                    {
                        rows.push(store::cluster::Quarter {
                            facility_code: facility.clone(),
                            role: role.code().to_string(),
                            start_ms: r.start_ms,
                            energy_kwh: r.energy_kwh.to_string(),
                            coverage: r.coverage.to_string(),
                            flags: r.flags.join(","),
                        });
                    }
                }
            }
            if !rows.is_empty() {
                if let Err(e) = p.store.put_quarters(&rows) {
                    tracing::warn!(error = %e, "telemetry: the quarter-hour energy could not be kept");
                }
            }
        }
    });
}

/// Applies one entry to the platform's monitor (none attached: nothing to apply to); the entry's
/// origin and what applying it gave.
fn apply(p: &crate::Platform, payload: &[u8]) -> (Option<String>, Applied) {
    let entry: Entry = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "telemetry stream: an unreadable entry was skipped");
            return (None, Applied::Other);
        }
    };
    let m = p.monitoring.read().ok().and_then(|m| m.clone());
    const OFF: &str = "monitoring is not set up on this instance (no meters)";
    match entry {
        Entry::Batch { origin, source, now_ms, readings } => {
            let raw: Vec<telemetry::RawReading> = readings
                .into_iter()
                .map(|(meter, ts_ms, value)| telemetry::RawReading { meter, ts_ms, value })
                .collect();
            let r = match m {
                Some(m) => m.monitor.ingest(&raw, now_ms, &source).map_err(|e| format!("reading log: {e}")),
                None => Err(OFF.into()),
            };
            (Some(origin), Applied::Batch(r))
        }
        Entry::Tick { now_ms } => {
            if let Some(m) = m {
                m.monitor.tick(now_ms);
            }
            (None, Applied::Other)
        }
        Entry::Alert { origin, id, by, at_ms, resolve } => {
            let r = match m {
                Some(m) if resolve => m.monitor.resolve(id, &by, at_ms),
                Some(m) => m.monitor.acknowledge(id, &by, at_ms),
                None => Err(OFF.into()),
            };
            (Some(origin), Applied::Alert(Box::new(r)))
        }
    }
}
