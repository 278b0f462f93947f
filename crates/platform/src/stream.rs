//! Telemetry through NATS JetStream (cluster mode, docs/cluster.md). The JetStream stream
//! [`STREAM`] is the reading log of the cluster: a batch received by any instance is published to
//! it and acknowledged to its sender only once JetStream has stored it (its publish
//! acknowledgement); a batch that cannot be stored (NATS unavailable) is refused with 503
//! `telemetry_unavailable`, nothing acknowledged.
//!
//! Partitions of facilities: a facility belongs to one of [`PARTITIONS`] partitions (a hash of its
//! code); a batch is split by partition and each share published on the partition's subject
//! (`dualcarbon.telemetry.p<N>`). Each partition is owned by one instance at a time (a PostgreSQL
//! advisory lock, `store::cluster::hold_partitions`: a fair share per live instance, moved when an
//! instance dies or joins), and only its owner applies its entries, in stream order (`Applier`):
//! a facility's live state and alert rules run in one place. An instance that takes a partition
//! over first catches it up from the stream (its entries since it last applied them here). The
//! owner sends each entry's outcome (a batch's report, an alert action's event) back to the
//! instance that published it, delivers and records its alerts (claimed once in
//! `alert_deliveries`), keeps its quarter-hours in PostgreSQL, forwards its raw readings to
//! VictoriaMetrics and publishes its live events on [`LIVE_SUBJECT`] (while some instance has SSE
//! clients: [`DEMAND_SUBJECT`]), which every instance relays to its SSE clients
//! ([`Stream::relayed`]). Reads of live state ask every instance ([`Stream::gather`]; each answers
//! for the partitions it applies). The silence check is an entry on each partition's subject
//! ([`Entry::Tick`], published by the leader, the holder of another advisory lock), so it is
//! applied in the same place of each partition's order, also when replayed. See docs/cluster.md.
//!
//! Devices may publish straight into the stream on `dualcarbon.devices.<anything>` (the NATS
//! server's MQTT listener maps the MQTT topic `dualcarbon/devices/<anything>` to it), with the
//! payloads of the MQTT subscription (CSV lines or JSON readings); the leader splits them into
//! partition entries (`route_devices`).
//!
//! One stream per process (a `static`): cluster mode runs one platform per process.

use crate::{Error, Kind, Result};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The JetStream stream of telemetry entries and the stem of its partition subjects (`SUBJECT.p<N>`).
pub const STREAM: &str = "DUALCARBON_TELEMETRY";
pub const SUBJECT: &str = "dualcarbon.telemetry";
/// Devices publish here (`dualcarbon.devices.<anything>`; MQTT `dualcarbon/devices/<anything>`).
pub const DEVICE_SUBJECTS: &str = "dualcarbon.devices.>";
/// Live events, published by the instance that acts for them, relayed by every instance.
pub const LIVE_SUBJECT: &str = "dualcarbon.live";
/// An instance with SSE clients says so here (every second, and when its first client comes):
/// live events are published only while some instance wants them.
pub const DEMAND_SUBJECT: &str = "dualcarbon.live-demand";
/// A demand holds this long.
const DEMAND_MS: i64 = 3_000;
/// Partitions of facilities (the same on every instance: it decides the subjects and locks).
pub const PARTITIONS: usize = 16;
/// The PostgreSQL advisory lock whose holder is the leader.
pub const LEADER_LOCK: i64 = 7_320_160_421;
/// Partition `i` is owned by the holder of the advisory lock `PARTITION_LOCKS + i`.
pub const PARTITION_LOCKS: i64 = 7_320_160_500;

/// The partition of a facility: FNV-1a of its code, modulo [`PARTITIONS`] (stable across builds).
pub fn partition_of(facility: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in facility.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % PARTITIONS as u32) as usize
}

/// The subject of partition `p`'s readings.
pub fn partition_subject(p: usize) -> String {
    format!("{SUBJECT}.p{p}")
}
/// How long a publisher waits for its own instance to apply its batch (the answer's report).
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// One entry of the stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A batch of readings (meter, time in ms, value) received at `now_ms` from `source` by the
    /// instance `origin`.
    Batch { origin: String, source: String, now_ms: i64, readings: Vec<(String, i64, f64)> },
    /// The silence check at `now_ms` of one partition's subjects (published on its subject).
    Tick {
        now_ms: i64,
        #[serde(default)]
        partition: Option<usize>,
    },
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
    /// Forward the raw readings of the partitions owned here to this VictoriaMetrics server.
    pub victoria_metrics: Option<String>,
}

/// This process's connection to the stream.
pub struct Stream {
    js: async_nats::jetstream::Context,
    instance: String,
    /// Bumped whenever a report or an action's outcome arrives (from this instance's own apply or
    /// from the instance that applied it), for the publishers waiting on them.
    arrived: tokio::sync::watch::Sender<u64>,
    /// Reports of batches this instance published, by sequence, until their publisher takes them.
    reports: Mutex<HashMap<u64, std::result::Result<telemetry::IngestReport, String>>>,
    /// The same for alert actions.
    actions: Mutex<HashMap<u64, std::result::Result<alerts::Event, String>>>,
    /// The partitions whose entries are applied here now: owned, and caught up with the stream
    /// (each facility's live state and alert rules run in exactly one place at a time).
    pub applying: Arc<Vec<AtomicBool>>,
    /// While a partition taken over is being caught up: its replayed events are not live news.
    catching_up: AtomicBool,
    /// The runtime the stream's tasks run on (blocking callers wait on it).
    runtime: tokio::runtime::Handle,
    /// Whether this instance is the leader now.
    pub leader: Arc<AtomicBool>,
    /// The partitions this instance owns now.
    pub owned: Arc<Vec<AtomicBool>>,
    /// Live events of every instance (published on [`LIVE_SUBJECT`] by the one that acts for them),
    /// for this instance's SSE clients.
    pub relayed: tokio::sync::broadcast::Sender<monitor::LiveEvent>,
    /// Raw readings forwarded to VictoriaMetrics (`victoria`), when configured.
    forward: Option<crate::victoria::Forwarder>,
    /// Live events published on [`LIVE_SUBJECT`] by this instance (health, tests).
    pub relays: AtomicU64,
    /// Until when (ms) some instance wants live events (`DEMAND_SUBJECT`).
    demand_until: std::sync::atomic::AtomicI64,
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

    /// Publishes `entry` on `subject` (a partition's) and waits for JetStream's acknowledgement:
    /// its stream sequence.
    async fn publish_on(&self, subject: &str, entry: &Entry) -> Result<u64> {
        if !self.connected() {
            return Err(unavailable("not connected to NATS"));
        }
        let payload = serde_json::to_vec(entry).map_err(|e| Error::internal(e.to_string()))?;
        let ack = tokio::time::timeout(Duration::from_secs(5), async {
            self.js.publish(subject.to_string(), payload.into()).await.map_err(unavailable)?.await.map_err(unavailable)
        })
        .await
        .map_err(|_| unavailable("no acknowledgement within 5 s"))??;
        Ok(ack.sequence)
    }

    /// Publishes each `(partition, entry)` on its partition's subject, all sent before the
    /// acknowledgements are awaited; their stream sequences.
    async fn publish_shares(&self, entries: &[(usize, Entry)]) -> Result<Vec<u64>> {
        if !self.connected() {
            return Err(unavailable("not connected to NATS"));
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            let mut acks = Vec::with_capacity(entries.len());
            for (p, e) in entries {
                let payload = serde_json::to_vec(e).map_err(|e| Error::internal(e.to_string()))?;
                acks.push(self.js.publish(partition_subject(*p), payload.into()).await.map_err(unavailable)?);
            }
            let mut seqs = Vec::with_capacity(acks.len());
            for a in acks {
                seqs.push(a.await.map_err(unavailable)?.sequence);
            }
            Ok(seqs)
        })
        .await
        .map_err(|_| unavailable("no acknowledgement within 5 s"))?
    }

    /// Readings forwarded to VictoriaMetrics and dropped (queue full or refused after retries).
    pub fn forwarded(&self) -> Option<(u64, u64)> {
        self.forward.as_ref().map(|f| (f.counts.sent.load(Ordering::Relaxed), f.counts.dropped.load(Ordering::Relaxed)))
    }

    /// An SSE client subscribed here: every instance is told at once that live events are wanted
    /// (and again every second while this instance has clients).
    pub fn want_live(self: &Arc<Self>) {
        self.demand_until.store(crate::monitoring::now_ms() + DEMAND_MS, Ordering::SeqCst);
        let me = self.clone();
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move {
                let _ = me.client.publish(DEMAND_SUBJECT, me.instance.clone().into()).await;
                let _ = me.client.flush().await;
            });
        }
    }

    /// Whether this instance owns partition `p` now.
    pub fn owns(&self, p: usize) -> bool {
        self.owned.get(p).is_some_and(|o| o.load(Ordering::SeqCst))
    }

    /// The partitions this instance owns now.
    pub fn owned_partitions(&self) -> Vec<usize> {
        (0..PARTITIONS).filter(|&p| self.owns(p)).collect()
    }

    /// A batch through the stream, split by partition of the readings' facilities (`monitor`
    /// knows the meters; an unknown meter goes by its own code and is rejected when applied): each
    /// share stored by JetStream on its partition's subject (else an error; the shares stored
    /// before it are acknowledged to nobody, and sending the batch again counts them as
    /// duplicates), then applied here; the merged report, positions those of the whole batch.
    /// Blocking (call from a blocking thread).
    pub fn ingest(
        &self,
        monitor: &monitor::Monitor,
        raw: &[telemetry::RawReading],
        now_ms: i64,
        source: &str,
    ) -> Result<telemetry::IngestReport> {
        let mut shares: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
        let mut facility_of: HashMap<&str, usize> = HashMap::new();
        for (i, r) in raw.iter().enumerate() {
            let p = *facility_of.entry(r.meter.as_str()).or_insert_with(|| {
                partition_of(monitor.facility_of_meter(&r.meter).as_deref().unwrap_or(r.meter.as_str()))
            });
            shares.entry(p).or_default().push(i);
        }
        let handle = self.runtime.clone();
        let entries: Vec<(usize, Entry)> = shares
            .iter()
            .map(|(&p, idx)| {
                let readings = idx.iter().map(|&i| (raw[i].meter.clone(), raw[i].ts_ms, raw[i].value)).collect();
                (p, Entry::Batch { origin: self.instance.clone(), source: source.to_string(), now_ms, readings })
            })
            .collect();
        let seqs: Vec<u64> = handle.block_on(self.publish_shares(&entries))?;
        // Each share's report comes from the instance that applies its partition (this one or
        // another, over NATS).
        let mut arrived = self.arrived.subscribe();
        let _ = handle.block_on(async {
            tokio::time::timeout(
                APPLY_WAIT,
                arrived.wait_for(|_| {
                    let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
                    seqs.iter().all(|s| reports.contains_key(s))
                }),
            )
            .await
        });
        let mut report = telemetry::IngestReport::default();
        for (seq, idx) in seqs.iter().zip(shares.values()) {
            match self.reports.lock().unwrap_or_else(|e| e.into_inner()).remove(seq) {
                Some(Ok(mut r)) => {
                    // Positions in the share → positions in the batch.
                    for e in &mut r.problems {
                        if let Some(&i) = e.line.checked_sub(1).and_then(|k| idx.get(k)) {
                            e.line = i + 1;
                        }
                    }
                    report.merge(&r);
                }
                Some(Err(e)) => return Err(Error::internal(format!("applying the batch: {e}"))),
                // Stored (acknowledged by JetStream) but no report in time (its partition is
                // moving between instances): every reading counted as received and appended; the
                // live state follows when the partition's new owner has applied it.
                None => report.merge(&telemetry::IngestReport {
                    received: idx.len(),
                    appended: idx.len(),
                    ..Default::default()
                }),
            }
        }
        report.problems.sort_by_key(|e| e.line);
        Ok(report)
    }
}

impl Stream {
    /// A user's alert acknowledgement or resolution through the stream, so every instance applies
    /// it at the same place of the order; its event (or why the alert's state refuses it), as
    /// applied here. Blocking.
    pub fn alert_action(
        &self,
        id: u64,
        partition: usize,
        by: &str,
        at_ms: i64,
        resolve: bool,
    ) -> Result<std::result::Result<alerts::Event, String>> {
        let entry = Entry::Alert { origin: self.instance.clone(), id, by: by.to_string(), at_ms, resolve };
        let handle = self.runtime.clone();
        let seq = handle.block_on(self.publish_on(&partition_subject(partition), &entry))?;
        let mut arrived = self.arrived.subscribe();
        let _ = handle.block_on(async {
            tokio::time::timeout(
                APPLY_WAIT,
                arrived.wait_for(|_| self.actions.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&seq)),
            )
            .await
        });
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
    let s = tokio::time::timeout(
        Duration::from_secs(30),
        js.create_or_update_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECT.into(), format!("{SUBJECT}.>"), DEVICE_SUBJECTS.into()],
            max_age: cfg.keep,
            storage: stream::StorageType::File,
            num_replicas: cfg.replicas,
            ..Default::default()
        }),
    )
    .await
    .map_err(|_| unavailable("JetStream did not answer within 30 s"))?
    .map_err(unavailable)?;
    let last_at_start = s.state.last_sequence;
    let me = Arc::new(Stream {
        js,
        instance: instance.to_string(),
        arrived: tokio::sync::watch::channel(0u64).0,
        reports: Mutex::new(HashMap::new()),
        actions: Mutex::new(HashMap::new()),
        leader: Arc::new(AtomicBool::new(false)),
        owned: Arc::new((0..PARTITIONS).map(|_| AtomicBool::new(false)).collect()),
        applying: Arc::new((0..PARTITIONS).map(|_| AtomicBool::new(false)).collect()),
        catching_up: AtomicBool::new(false),
        runtime: tokio::runtime::Handle::current(),
        relayed: tokio::sync::broadcast::channel(4096).0,
        forward: cfg.victoria_metrics.as_deref().map(crate::victoria::Forwarder::start),
        relays: AtomicU64::new(0),
        demand_until: std::sync::atomic::AtomicI64::new(0),
        client,
    });
    let _ = STREAM_OF_PROCESS.set(me.clone());
    // Entries go to the applying thread in stream order, from the first one stored after this
    // instance started (what was stored before is replayed partition by partition when this
    // instance takes a partition over). The consumer is made again (from the entry after the last
    // one passed on) whenever it fails: NATS restarted, connection lost.
    let (tx, rx) = std::sync::mpsc::channel::<Message>();
    let js = me.js.clone();
    tokio::spawn(async move {
        let mut sent = last_at_start;
        loop {
            let run = async {
                let s = js.get_stream(STREAM).await.map_err(|e| e.to_string())?;
                let c = s
                    .create_consumer(consumer::pull::OrderedConfig {
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: sent + 1 },
                        ..Default::default()
                    })
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
                    let Some(message) = Message::of(&m) else { continue };
                    if message.seq <= sent {
                        continue;
                    }
                    sent = message.seq;
                    if tx.send(message).is_err() {
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
            let mut applier = Applier { last_seq: last_at_start, applied: [0; PARTITIONS] };
            loop {
                let next = rx.recv_timeout(Duration::from_millis(100));
                let Some(p) = p.upgrade() else { return };
                // Partitions taken over are caught up before the next entry; partitions given up
                // are no longer applied here.
                applier.follow_ownership(&p, &me2);
                match next {
                    Ok(message) => {
                        applier.last_seq = message.seq;
                        applier.apply(&p, &me2, &message, false);
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .map_err(|e| Error::internal(e.to_string()))?;
    // Results of entries this instance published, applied by the owners of their partitions.
    let me2 = me.clone();
    tokio::spawn(async move {
        loop {
            match me2.client.subscribe(result_subject(&me2.instance)).await {
                Ok(mut sub) => {
                    while let Some(m) = sub.next().await {
                        if let Ok(r) = serde_json::from_slice::<Outcome>(&m.payload) {
                            me2.take_outcome(r);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "telemetry stream: cannot subscribe to results"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    answer_queries(platform, &me);
    if let Some(url) = platform.store.postgres_url() {
        store::cluster::hold_lock(url, LEADER_LOCK, me.leader.clone(), || true);
        let offset = partition_of(instance);
        store::cluster::hold_partitions(url, PARTITION_LOCKS, offset, me.owned.clone(), || true);
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
                    m.monitor.set_owner(owner(&p, &me3));
                    m.monitor.set_claim(claim(&p, &me3));
                    m.monitor.set_delivered(delivered(&p));
                }
                if lead && last_tick.elapsed() >= Duration::from_secs(30) {
                    last_tick = std::time::Instant::now();
                    let now_ms = crate::monitoring::now_ms();
                    for partition in 0..PARTITIONS {
                        let tick = Entry::Tick { now_ms, partition: Some(partition) };
                        if let Err(e) = me3.publish_on(&partition_subject(partition), &tick).await {
                            tracing::warn!(error = %e.message, "telemetry stream: the silence check could not be published");
                        }
                    }
                }
            }
        });
        route_devices(platform, &me);
        redeliver_stale_claims(platform, &me);
    }
    keep_quarters(platform, &me);
    relay(platform, &me);
    Ok(me)
}

/// One entry as the consumer passes it on: its stream sequence, subject, time stored (ms), payload.
struct Message {
    seq: u64,
    subject: String,
    at_ms: i64,
    payload: Vec<u8>,
}

impl Message {
    fn of(m: &async_nats::jetstream::Message) -> Option<Message> {
        let info = m.info().ok()?;
        Some(Message {
            seq: info.stream_sequence,
            subject: m.subject.to_string(),
            at_ms: (info.published.unix_timestamp_nanos() / 1_000_000) as i64,
            payload: m.payload.to_vec(),
        })
    }
}

/// The partition of a partition subject (`dualcarbon.telemetry.p<N>`).
fn partition_of_subject(subject: &str) -> Option<usize> {
    subject.strip_prefix(SUBJECT)?.strip_prefix(".p")?.parse().ok().filter(|&p| p < PARTITIONS)
}

/// The partition an alert subject (`facility:CODE`, `meter:CODE`) belongs to: its facility's.
pub(crate) fn alert_partition(monitor: &monitor::Monitor, subject: &str) -> usize {
    match monitor.facility_of_subject(subject) {
        Some(f) => partition_of(&f),
        None => partition_of(subject.split_once(':').map_or(subject, |(_, code)| code)),
    }
}

/// What the applying thread keeps: the last stream sequence it was passed, and for each partition
/// the last sequence of that partition applied here (a partition's state is the fold of its
/// entries up to there; taking it over again continues from there).
struct Applier {
    last_seq: u64,
    applied: [u64; PARTITIONS],
}

/// How long a partition taken over waits for its next replayed entry (known to be in the stream).
const REPLAY_WAIT: Duration = Duration::from_secs(5);

impl Applier {
    /// Partitions this instance now owns but does not apply yet are caught up (their entries
    /// since they were last applied here, replayed from the stream) and then applied; partitions it
    /// no longer owns are no longer applied.
    fn follow_ownership(&mut self, p: &Arc<crate::Platform>, me: &Arc<Stream>) {
        for part in 0..PARTITIONS {
            let (owned, applying) = (me.owns(part), me.applies(part));
            if owned && !applying {
                match self.catch_up(p, me, part) {
                    Ok(n) => {
                        me.applying[part].store(true, Ordering::SeqCst);
                        tracing::info!(partition = part, replayed = n, "telemetry stream: partition taken over");
                        if let Some(m) = p.monitoring.read().ok().and_then(|m| m.clone()) {
                            let p2 = p.clone();
                            let mut gained = vec![false; PARTITIONS];
                            gained[part] = true;
                            std::thread::spawn(move || take_over_alerts(&p2, &m.monitor, &gained));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(partition = part, error = %e, "telemetry stream: catching up failed; trying again")
                    }
                }
            } else if !owned && applying {
                me.applying[part].store(false, Ordering::SeqCst);
                tracing::info!(partition = part, "telemetry stream: partition given up");
            }
        }
    }

    /// Replays partition `part`'s entries after the last one applied here, up to the last entry
    /// this thread was passed (the later ones come through the consumer); how many.
    fn catch_up(
        &mut self,
        p: &Arc<crate::Platform>,
        me: &Arc<Stream>,
        part: usize,
    ) -> std::result::Result<u64, String> {
        use async_nats::jetstream::consumer;
        let (from, upto) = (self.applied[part] + 1, self.last_seq);
        if from > upto {
            return Ok(0);
        }
        me.catching_up.store(true, Ordering::SeqCst);
        // The replay runs on this thread inside the runtime (its consumer is made, read and
        // dropped there).
        let outcome = me.runtime.block_on(async {
            let s = me.js.get_stream(STREAM).await.map_err(|e| e.to_string())?;
            // The partition's last entry: the replay stops there (or at `upto`), without waiting
            // for entries that will not come.
            let last = match s.get_last_raw_message_by_subject(&partition_subject(part)).await {
                Ok(m) => m.sequence,
                Err(e)
                    if matches!(e.kind(), async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound) =>
                {
                    return Ok(0);
                }
                Err(e) => return Err(e.to_string()),
            };
            let target = last.min(upto);
            if target < from {
                return Ok(0);
            }
            let c = s
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: partition_subject(part),
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            let mut messages = c.messages().await.map_err(|e| e.to_string())?;
            let mut n = 0;
            loop {
                let m = match tokio::time::timeout(REPLAY_WAIT, messages.next()).await {
                    Ok(Some(Ok(m))) => m,
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(None) => return Err("the replay ended early".into()),
                    // Entries older than the stream's window were removed meanwhile: what is
                    // left was replayed.
                    Err(_) => return Ok(n),
                };
                let Some(message) = Message::of(&m) else { continue };
                if message.seq > upto {
                    return Ok(n);
                }
                self.apply(p, me, &message, true);
                n += 1;
                if message.seq >= target {
                    return Ok(n);
                }
            }
        });
        me.catching_up.store(false, Ordering::SeqCst);
        outcome
    }

    /// Applies one entry if its partition is applied here (or is being caught up), once.
    fn apply(&mut self, p: &crate::Platform, me: &Stream, message: &Message, replay: bool) {
        // Devices' messages are split into partition entries by the leader (`route_devices`).
        let Some(part) = partition_of_subject(&message.subject) else { return };
        if !(replay || me.applies(part)) || message.seq <= self.applied[part] {
            return;
        }
        self.applied[part] = message.seq;
        let (origin, applied) = apply(p, me, part, &message.payload, replay);
        // The outcome goes to the instance that published the entry, if it may still be waiting.
        let fresh = message.at_ms >= crate::monitoring::now_ms() - APPLY_WAIT.as_millis() as i64;
        if let (Some(origin), true) = (origin, fresh) {
            let outcome = match applied {
                Applied::Batch(r) => Outcome { seq: message.seq, report: Some(r), action: None },
                Applied::Alert(r) => Outcome { seq: message.seq, report: None, action: Some(*r) },
                Applied::Other => return,
            };
            me.send_outcome(&origin, outcome);
        }
    }
}

/// What applying an entry gave, for the instance that published it (over NATS unless it is this one).
#[derive(Serialize, Deserialize)]
struct Outcome {
    seq: u64,
    report: Option<std::result::Result<telemetry::IngestReport, String>>,
    action: Option<std::result::Result<alerts::Event, String>>,
}

/// Where the outcomes of `instance`'s entries are sent.
fn result_subject(instance: &str) -> String {
    let token: String =
        instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("dualcarbon.result.{token}")
}

impl Stream {
    /// Whether this instance applies partition `p`'s entries now.
    pub fn applies(&self, p: usize) -> bool {
        self.applying.get(p).is_some_and(|o| o.load(Ordering::SeqCst))
    }

    /// The partitions applied here now.
    pub fn applied_partitions(&self) -> Vec<usize> {
        (0..PARTITIONS).filter(|&p| self.applies(p)).collect()
    }

    /// Whether the live state and alert rules of facility `code` run here now.
    pub fn applies_facility(&self, code: &str) -> bool {
        self.applies(partition_of(code))
    }

    fn take_outcome(&self, o: Outcome) {
        // Outcomes that came after their publisher stopped waiting are never taken: dropped once
        // far behind the newest (a waiting publisher's entries are among the newest).
        fn keep<T>(map: &mut HashMap<u64, T>, seq: u64, value: T) {
            if map.len() >= ORPHANS {
                map.retain(|&k, _| k + ORPHAN_DISTANCE > seq);
            }
            map.insert(seq, value);
        }
        const ORPHANS: usize = 4096;
        const ORPHAN_DISTANCE: u64 = 100_000;
        if let Some(r) = o.report {
            keep(&mut self.reports.lock().unwrap_or_else(|e| e.into_inner()), o.seq, r);
        }
        if let Some(a) = o.action {
            keep(&mut self.actions.lock().unwrap_or_else(|e| e.into_inner()), o.seq, a);
        }
        self.arrived.send_modify(|n| *n += 1);
    }

    fn send_outcome(&self, origin: &str, o: Outcome) {
        if origin == self.instance {
            return self.take_outcome(o);
        }
        let Ok(payload) = serde_json::to_vec(&o) else { return };
        let (client, subject) = (self.client.clone(), result_subject(origin));
        self.runtime.spawn(async move {
            let _ = client.publish(subject, payload.into()).await;
        });
    }
}

/// Questions about live state, asked of every instance: each answers for the partitions it
/// applies (`Stream::gather`).
pub const QUERY_SUBJECT: &str = "dualcarbon.query";
/// How long a question waits for every partition's answer.
const GATHER_WAIT: Duration = Duration::from_secs(3);

/// A question about the live state of facilities (cluster mode: it lives with the owners of their
/// partitions).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Query {
    /// The live state of the metered facilities within an org.
    Live { org: String },
    /// A facility's energy roll-up.
    Rollup { facility: String, role: String, period: String, from: i64, to: i64 },
    /// Every alert.
    Alerts,
    /// An off-grid site's newest state and history.
    Site { facility: String, hours: i64 },
    /// The off-grid sites within an org.
    Sites { org: String },
    /// The data centres' metered energy by month of these years.
    MeterComponents { from_year: i32, to_year: i32 },
}

/// One instance's answer: a value for each partition it applies.
#[derive(Serialize, Deserialize)]
struct Answer {
    parts: Vec<(usize, serde_json::Value)>,
}

impl Stream {
    /// Asks every instance `q` and returns the answer for each partition in `wanted` (in
    /// partition order), each from the one instance that applies it; 503 when some partition
    /// has no answer within [`GATHER_WAIT`] (it is moving between instances: ask again). Blocking.
    pub fn gather(&self, q: &Query, wanted: &[usize]) -> Result<Vec<serde_json::Value>> {
        let payload = serde_json::to_vec(q).map_err(|e| Error::internal(e.to_string()))?;
        let client = self.client.clone();
        let got = self.runtime.block_on(async move {
            let inbox = client.new_inbox();
            let mut sub = client.subscribe(inbox.clone()).await.map_err(unavailable)?;
            client.publish_with_reply(QUERY_SUBJECT, inbox, payload.into()).await.map_err(unavailable)?;
            let mut got: std::collections::BTreeMap<usize, serde_json::Value> = std::collections::BTreeMap::new();
            let deadline = tokio::time::Instant::now() + GATHER_WAIT;
            while !wanted.iter().all(|p| got.contains_key(p)) {
                match tokio::time::timeout_at(deadline, sub.next()).await {
                    Ok(Some(m)) => {
                        if let Ok(a) = serde_json::from_slice::<Answer>(&m.payload) {
                            for (p, v) in a.parts {
                                got.entry(p).or_insert(v);
                            }
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            Ok::<_, Error>(got)
        })?;
        let missing: Vec<String> = wanted.iter().filter(|p| !got.contains_key(p)).map(|p| p.to_string()).collect();
        if !missing.is_empty() {
            return Err(unavailable(format!(
                "partitions {} of the facilities did not answer (taken over just now?); ask again",
                missing.join(", ")
            )));
        }
        Ok(wanted.iter().filter_map(|p| got.get(p).cloned()).collect())
    }
}

/// Answers the questions of every instance (`Stream::gather`) for the partitions applied here.
fn answer_queries(platform: &Arc<crate::Platform>, me: &Arc<Stream>) {
    let (p, me) = (Arc::downgrade(platform), me.clone());
    tokio::spawn(async move {
        loop {
            match me.client.subscribe(QUERY_SUBJECT).await {
                Ok(mut sub) => {
                    while let Some(m) = sub.next().await {
                        let (Some(reply), Ok(q)) = (m.reply.clone(), serde_json::from_slice::<Query>(&m.payload))
                        else {
                            continue;
                        };
                        let Some(p) = p.upgrade() else { return };
                        let me2 = me.clone();
                        // Questions are answered side by side (a slow one does not hold the others).
                        tokio::spawn(async move {
                            let client = me2.client.clone();
                            let answered = tokio::task::spawn_blocking(move || {
                                let m = p.monitoring.read().ok().and_then(|m| m.clone())?;
                                let parts = m.answer(&q, &me2.applied_partitions());
                                serde_json::to_vec(&Answer { parts }).ok()
                            })
                            .await;
                            if let Ok(Some(payload)) = answered {
                                let _ = client.publish(reply, payload.into()).await;
                            }
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "telemetry stream: cannot subscribe to questions"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// The durable consumer of devices' messages.
const DEVICES_CONSUMER: &str = "dualcarbon-devices";

/// The leader splits each device message (MQTT through the NATS server) into partition entries,
/// published with a message id (JetStream drops a repeat within its duplicate window, so a
/// message routed again after the leader died half-way is not applied twice), and acknowledges
/// the device message once every share is stored.
fn route_devices(platform: &Arc<crate::Platform>, me: &Arc<Stream>) {
    use async_nats::jetstream::consumer;
    let (p, me) = (Arc::downgrade(platform), me.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if !me.leader.load(Ordering::SeqCst) {
                continue;
            }
            let run = async {
                let s = me.js.get_stream(STREAM).await.map_err(|e| e.to_string())?;
                let c: consumer::PullConsumer = s
                    .get_or_create_consumer(
                        DEVICES_CONSUMER,
                        consumer::pull::Config {
                            durable_name: Some(DEVICES_CONSUMER.into()),
                            filter_subject: DEVICE_SUBJECTS.into(),
                            ack_policy: consumer::AckPolicy::Explicit,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                while me.leader.load(Ordering::SeqCst) {
                    let mut batch = c
                        .fetch()
                        .max_messages(100)
                        .expires(Duration::from_secs(1))
                        .messages()
                        .await
                        .map_err(|e| e.to_string())?;
                    while let Some(m) = batch.next().await {
                        let m = m.map_err(|e| e.to_string())?;
                        let Some(message) = Message::of(&m) else { continue };
                        let Some(platform) = p.upgrade() else { return Ok(()) };
                        let monitoring = platform.monitoring.read().ok().and_then(|m| m.clone());
                        drop(platform);
                        let (raw, errors) = monitor::mqtt::parse_payload(&message.payload);
                        if !errors.is_empty() {
                            tracing::warn!(subject = %message.subject, problems = errors.len(), "telemetry stream: a device message had bad lines");
                        }
                        let source = format!(
                            "mqtt:{}",
                            message.subject.trim_start_matches("dualcarbon.devices.").replace('.', "/")
                        );
                        let mut shares: std::collections::BTreeMap<usize, Vec<(String, i64, f64)>> = Default::default();
                        for r in raw {
                            let facility = monitoring.as_ref().and_then(|m| m.monitor.facility_of_meter(&r.meter));
                            let part = partition_of(facility.as_deref().unwrap_or(&r.meter));
                            shares.entry(part).or_default().push((r.meter, r.ts_ms, r.value));
                        }
                        for (part, readings) in shares {
                            let entry = Entry::Batch {
                                origin: "devices".into(),
                                source: source.clone(),
                                now_ms: message.at_ms,
                                readings,
                            };
                            let payload = serde_json::to_vec(&entry).map_err(|e| e.to_string())?;
                            let mut headers = async_nats::HeaderMap::new();
                            headers.insert("Nats-Msg-Id", format!("device-{}-p{part}", message.seq).as_str());
                            me.js
                                .publish_with_headers(partition_subject(part), headers, payload.into())
                                .await
                                .map_err(|e| e.to_string())?
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        m.ack().await.map_err(|e| e.to_string())?;
                    }
                }
                Ok::<(), String>(())
            };
            if let Err(e) = run.await {
                tracing::warn!(error = %e, "telemetry stream: routing devices' messages failed; again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

/// Who acts for an alert subject: the owner of its facility's partition; a subject of no facility,
/// the leader.
fn owner(p: &Arc<crate::Platform>, me: &Arc<Stream>) -> monitor::Owner {
    let (p, me) = (Arc::downgrade(p), me.clone());
    Arc::new(move |subject: &str| {
        let facility = p
            .upgrade()
            .and_then(|p| p.monitoring.read().ok().and_then(|m| m.clone()))
            .and_then(|m| m.monitor.facility_of_subject(subject));
        match facility {
            Some(f) => me.applies_facility(&f),
            None => me.leader.load(Ordering::SeqCst),
        }
    })
}

/// Claims an alert event in the database's ledger of deliveries (`alert_deliveries`), so it is
/// delivered once whatever instance owned its partition when it opened. A database that does not
/// answer: not claimed, not delivered (logged).
fn claim(p: &Arc<crate::Platform>, me: &Arc<Stream>) -> monitor::Claim {
    let (p, instance) = (Arc::downgrade(p), me.instance.clone());
    Arc::new(move |e: &alerts::Event| {
        let Some(p) = p.upgrade() else { return false };
        let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let (a, now) = (&e.alert, crate::monitoring::now_ms());
        // Claimed by nobody yet, or claimed long ago by an instance that never delivered it (it
        // died in between): delivered here.
        let claimed =
            p.store.claim_alert_delivery(&a.subject, &a.rule, a.opened_ms, &kind, &instance, now).and_then(|fresh| {
                Ok(fresh
                    || p.store.reclaim_alert_delivery(
                        (&a.subject, &a.rule, a.opened_ms, &kind),
                        &instance,
                        now,
                        now - STALE_CLAIM_MS,
                    )?)
            });
        match claimed {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::error!(error = %err, alert = e.alert.id, "alerts: the delivery could not be claimed; not delivered");
                false
            }
        }
    })
}

/// A claim of an alert event older than this and not delivered is taken again (its instance died
/// between claiming and delivering); longer than a delivery's retries take.
const STALE_CLAIM_MS: i64 = 60_000;

/// Records a delivery made here in the ledger.
fn delivered(p: &Arc<crate::Platform>) -> monitor::Delivered {
    let p = Arc::downgrade(p);
    Arc::new(move |e: &alerts::Event| {
        let Some(p) = p.upgrade() else { return };
        let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let a = &e.alert;
        if let Err(err) =
            p.store.alert_delivery_done(&a.subject, &a.rule, a.opened_ms, &kind, crate::monitoring::now_ms())
        {
            tracing::warn!(error = %err, alert = a.id, "alerts: the delivery could not be recorded; it may be delivered again");
        }
    })
}

/// Every 5 s, the alert events of the partitions applied here that were claimed over a minute ago
/// and never delivered (the claiming instance died in between) are published again: the webhook
/// thread takes the stale claim over and delivers them.
fn redeliver_stale_claims(platform: &Arc<crate::Platform>, me: &Arc<Stream>) {
    let (p, me) = (Arc::downgrade(platform), me.clone());
    let _ = std::thread::Builder::new().name("alert-redelivery".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(5));
        let Some(p) = p.upgrade() else { return };
        let Some(m) = p.monitoring.read().ok().and_then(|m| m.clone()) else { continue };
        let stale = match p.store.undelivered_alert_events(crate::monitoring::now_ms() - STALE_CLAIM_MS) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "alerts: cannot read the undelivered claims");
                continue;
            }
        };
        for (subject, rule, opened_ms, kind) in stale {
            if !me.applies(alert_partition(&m.monitor, &subject)) {
                continue;
            }
            let alert = m
                .monitor
                .alerts(None)
                .into_iter()
                .find(|a| a.subject == subject && a.rule == rule && a.opened_ms == opened_ms);
            let kind: Option<alerts::EventKind> = serde_json::from_value(serde_json::json!(kind)).ok();
            if let (Some(alert), Some(kind)) = (alert, kind) {
                tracing::info!(alert = alert.id, ?kind, "alerts: delivering an event whose claimer never delivered it");
                m.monitor.republish_alert(alerts::Event { kind, alert });
            }
        }
    });
}

/// An instance that took partitions over publishes again the alert events of their facilities
/// that nobody delivered (their last owner died before, or no instance owned the partition when
/// they happened): its webhook thread claims and delivers them, its relay shows them.
fn take_over_alerts(p: &crate::Platform, monitor: &monitor::Monitor, gained: &[bool]) {
    for alert in monitor.alerts(None) {
        let Some(f) = monitor.facility_of_subject(&alert.subject) else { continue };
        if !gained[partition_of(&f)] {
            continue;
        }
        let mut kinds = vec![alerts::EventKind::Opened];
        if alert.acknowledged_ms.is_some() {
            kinds.push(alerts::EventKind::Acknowledged);
        }
        if alert.resolved_ms.is_some() {
            kinds.push(alerts::EventKind::Resolved);
        }
        for kind in kinds {
            let code = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            match p.store.alert_delivered(&alert.subject, &alert.rule, alert.opened_ms, &code) {
                Ok(false) => {
                    tracing::info!(alert = alert.id, kind = %code, "alerts: delivering an event of a partition taken over");
                    monitor.republish_alert(alerts::Event { kind, alert: alert.clone() });
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, "alerts: cannot read the deliveries"),
            }
        }
    }
}

/// Whether this instance publishes `e` to every instance's SSE clients: the owner of the
/// facility's partition for a facility's events, a batch's (by its first facility) and an alert's;
/// the leader for an org's (a sum over partitions) and for what concerns no facility.
fn relays(p: &crate::Platform, me: &Stream, e: &monitor::LiveEvent) -> bool {
    use monitor::LiveEvent as E;
    if me.catching_up.load(Ordering::SeqCst) {
        // Replayed state of a partition taken over: not news.
        return false;
    }
    let facility = match e {
        E::Batch { facility, .. } => facility.clone(),
        E::Facility { facility, .. } => Some(facility.clone()),
        // An org's sum spans partitions applied in different places: `/orgs/{org}/realtime`
        // gathers it; no instance has it to publish.
        E::Org { .. } => return false,
        E::Alert { event } => p
            .monitoring
            .read()
            .ok()
            .and_then(|m| m.clone())
            .and_then(|m| m.monitor.facility_of_subject(&event.alert.subject)),
    };
    match facility {
        Some(f) => me.applies_facility(&f),
        None => me.leader.load(Ordering::SeqCst),
    }
}

/// Live events: this instance publishes on [`LIVE_SUBJECT`] those it acts for (`relays`), and
/// passes every event published there (by any instance) to its SSE clients (`Stream::relayed`).
fn relay(platform: &Arc<crate::Platform>, me: &Arc<Stream>) {
    // Demand: heard from any instance (this one included), and said every second while this
    // instance has SSE clients.
    let me2 = me.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(mut sub) = me2.client.subscribe(DEMAND_SUBJECT).await {
                while sub.next().await.is_some() {
                    me2.demand_until.store(crate::monitoring::now_ms() + DEMAND_MS, Ordering::SeqCst);
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let me2 = me.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if me2.relayed.receiver_count() > 0 {
                let _ = me2.client.publish(DEMAND_SUBJECT, me2.instance.clone().into()).await;
            }
        }
    });
    let me2 = me.clone();
    tokio::spawn(async move {
        loop {
            match me2.client.subscribe(LIVE_SUBJECT).await {
                Ok(mut sub) => {
                    while let Some(m) = sub.next().await {
                        if let Ok(e) = serde_json::from_slice::<monitor::LiveEvent>(&m.payload) {
                            let _ = me2.relayed.send(e);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "live events: cannot subscribe"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let (p, me) = (Arc::downgrade(platform), me.clone());
    tokio::spawn(async move {
        // Subscribed to the monitor attached now; again when another one is attached.
        let mut current: Option<(usize, tokio::sync::broadcast::Receiver<monitor::LiveEvent>)> = None;
        loop {
            let Some(p) = p.upgrade() else { return };
            let m = p.monitoring.read().ok().and_then(|m| m.clone());
            let Some(m) = m else {
                drop(p);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            let id = Arc::as_ptr(&m.monitor) as usize;
            if current.as_ref().is_none_or(|(i, _)| *i != id) {
                current = Some((id, m.monitor.subscribe()));
            }
            drop(m);
            let rx = &mut current.as_mut().expect("subscribed above").1;
            match tokio::time::timeout(Duration::from_millis(250), rx.recv()).await {
                Ok(Ok(e)) => {
                    let wanted = me.demand_until.load(Ordering::SeqCst) >= crate::monitoring::now_ms();
                    if wanted && relays(&p, &me, &e) {
                        if let Ok(payload) = serde_json::to_vec(&e) {
                            if me.client.publish(LIVE_SUBJECT, payload.into()).await.is_ok() {
                                me.relays.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(events = n, "live events: the relay fell behind; events were not relayed");
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => current = None,
                Err(_) => {}
            }
        }
    });
}

/// The owner of each partition keeps, every 5 s, the quarter-hour energy of its facilities whose
/// live state changed (the last day before each one's newest reading) in the database
/// (`store::cluster::Quarter`).
fn keep_quarters(platform: &Arc<crate::Platform>, me: &Arc<Stream>) {
    let (p, me) = (Arc::downgrade(platform), me.clone());
    let _ = std::thread::Builder::new().name("telemetry-quarters".into()).spawn(move || {
        let mut events: Option<tokio::sync::broadcast::Receiver<monitor::LiveEvent>> = None;
        let mut had = vec![false; PARTITIONS];
        loop {
            std::thread::sleep(Duration::from_secs(5));
            let Some(p) = p.upgrade() else { return };
            let Some(m) = p.monitoring.read().ok().and_then(|m| m.clone()) else { continue };
            let now: Vec<bool> = (0..PARTITIONS).map(|i| me.applies(i)).collect();
            let gained: Vec<bool> = (0..PARTITIONS).map(|i| now[i] && !had[i]).collect();
            had = now;
            if !had.iter().any(|&o| o) {
                events = None;
                continue;
            }
            let mut touched: HashMap<String, (i64, Vec<telemetry::Role>)> = HashMap::new();
            if gained.iter().any(|&g| g) {
                // Newly owned partitions: each of their metered facilities once (what the last
                // owner may not have kept).
                let codes: Vec<String> = m.monitor.with_telemetry(|t| t.by_facility.keys().cloned().collect());
                for code in codes.into_iter().filter(|c| gained[partition_of(c)]) {
                    if let Some(live) = m.monitor.facility_live(&code).filter(|l| l.at_ms > 0) {
                        touched.insert(code, (live.at_ms, live.energy_1h_kwh.keys().copied().collect()));
                    }
                }
            }
            let rx = events.get_or_insert_with(|| m.monitor.subscribe());
            loop {
                match rx.try_recv() {
                    Ok(monitor::LiveEvent::Facility { facility, live, .. }) if me.applies_facility(&facility) => {
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

/// Applies one entry of partition `part` to the platform's monitor (none attached: nothing to
/// apply to); the entry's origin and what applying it gave. `replay`: a partition being caught up.
fn apply(p: &crate::Platform, me: &Stream, part: usize, payload: &[u8], replay: bool) -> (Option<String>, Applied) {
    let m = p.monitoring.read().ok().and_then(|m| m.clone());
    const OFF: &str = "monitoring is not set up on this instance (no meters)";
    let entry: Entry = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "telemetry stream: an unreadable entry was skipped");
            return (None, Applied::Other);
        }
    };
    match entry {
        Entry::Batch { origin, source, now_ms, readings } => {
            let raw: Vec<telemetry::RawReading> = readings
                .into_iter()
                .map(|(meter, ts_ms, value)| telemetry::RawReading { meter, ts_ms, value })
                .collect();
            let r = match m {
                Some(m) => {
                    let r = m.monitor.ingest(&raw, now_ms, &source).map_err(|e| format!("reading log: {e}"));
                    if !replay {
                        forward(me, &m.monitor, &raw);
                    }
                    r
                }
                None => Err(OFF.into()),
            };
            (Some(origin), Applied::Batch(r))
        }
        Entry::Tick { now_ms, partition } => {
            if let Some(m) = m {
                let part = partition.unwrap_or(part);
                m.monitor.tick_where(now_ms, &|subject| alert_partition(&m.monitor, subject) == part);
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

/// The readings of known meters whose facility's partition is owned here, to VictoriaMetrics
/// (when configured): queued, never waited for.
fn forward(me: &Stream, monitor: &monitor::Monitor, raw: &[telemetry::RawReading]) {
    let Some(f) = &me.forward else { return };
    let mut facility_of: HashMap<&str, Option<String>> = HashMap::new();
    for r in raw {
        let facility = facility_of.entry(r.meter.as_str()).or_insert_with(|| monitor.facility_of_meter(&r.meter));
        if let Some(fac) = facility.as_deref().filter(|f| me.applies_facility(f)) {
            f.send(&r.meter, fac, r.ts_ms, r.value);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_facility_s_partition_is_fnv_1a_of_its_code_modulo_16() {
        // FNV-1a 32-bit worked out by hand (offset 0x811c9dc5, prime 0x01000193):
        // "DC1" → 0x750038d3 → 3; "DC2" → 6; "DC6" → 2; "DC4" → 12.
        assert_eq!(super::partition_of("DC1"), 3);
        assert_eq!(super::partition_of("DC2"), 6);
        assert_eq!(super::partition_of("DC6"), 2);
        assert_eq!(super::partition_of("DC4"), 12);
        assert_eq!(super::partition_subject(3), "dualcarbon.telemetry.p3");
        assert_eq!(super::partition_of_subject("dualcarbon.telemetry.p3"), Some(3));
        assert_eq!(super::partition_of_subject("dualcarbon.telemetry.p16"), None);
        assert_eq!(super::partition_of_subject("dualcarbon.telemetry"), None);
        assert_eq!(super::partition_of_subject("dualcarbon.devices.gw1"), None);
        // Instance names become one subject token.
        assert_eq!(super::result_subject("host.a b*"), "dualcarbon.result.host_a_b_");
    }
}
