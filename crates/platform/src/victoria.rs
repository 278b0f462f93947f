//! Optional forwarding of raw readings to VictoriaMetrics (cluster mode, `--victoria-metrics URL`;
//! docs/cluster.md): long-term raw storage beyond the telemetry stream's window. Readings are
//! queued (a bounded queue: a full queue drops readings and counts them, it never blocks the
//! acknowledgement of a batch), sent in batches of up to [`BATCH`] lines or every second to
//! `URL/api/v1/import` (VictoriaMetrics' JSON line format: one series per line, metric
//! `dualcarbon_reading` with labels `meter` and `facility`), and a failed send is retried with
//! backoff (0.5, 1, 2, 4, 8 s) before its batch is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines per request at most.
pub const BATCH: usize = 5_000;
/// Readings waiting at most (beyond: dropped and counted).
pub const QUEUE: usize = 200_000;

/// What the forwarder did so far.
#[derive(Debug, Default)]
pub struct Counts {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub retries: AtomicU64,
}

/// The queue to the forwarding thread.
pub struct Forwarder {
    tx: SyncSender<String>,
    pub counts: Arc<Counts>,
}

impl Forwarder {
    /// Starts the thread that sends to the VictoriaMetrics server at `url` (`http://host:8428`).
    pub fn start(url: &str) -> Forwarder {
        let (tx, rx) = sync_channel(QUEUE);
        let counts = Arc::new(Counts::default());
        let (endpoint, c) = (format!("{}/api/v1/import", url.trim_end_matches('/')), counts.clone());
        let _ = std::thread::Builder::new().name("victoria-metrics".into()).spawn(move || run(&endpoint, &rx, &c));
        Forwarder { tx, counts }
    }

    /// Queues one reading (never waits).
    pub fn send(&self, meter: &str, facility: &str, ts_ms: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let line = serde_json::json!({
            "metric": {"__name__": "dualcarbon_reading", "meter": meter, "facility": facility},
            "values": [value],
            "timestamps": [ts_ms],
        })
        .to_string();
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn run(endpoint: &str, rx: &Receiver<String>, counts: &Counts) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut lines: Vec<String> = Vec::with_capacity(BATCH);
    loop {
        let started = Instant::now();
        // A batch: up to BATCH lines, or what came within a second of the first.
        match rx.recv() {
            Ok(l) => lines.push(l),
            Err(_) => return,
        }
        while lines.len() < BATCH {
            let left = Duration::from_secs(1).saturating_sub(started.elapsed());
            match rx.recv_timeout(left) {
                Ok(l) => lines.push(l),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let body = lines.join("\n");
        let mut sent = false;
        for (attempt, wait_ms) in [0u64, 500, 1_000, 2_000, 4_000, 8_000].into_iter().enumerate() {
            if attempt > 0 {
                counts.retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(wait_ms));
            }
            match agent.post(endpoint).content_type("application/json").send(body.as_bytes()) {
                Ok(r) if r.status().is_success() => {
                    sent = true;
                    break;
                }
                Ok(r) => tracing::warn!(status = r.status().as_u16(), "victoria-metrics: import refused"),
                Err(e) => tracing::warn!(error = %e, "victoria-metrics: import failed"),
            }
        }
        let n = lines.len() as u64;
        if sent {
            counts.sent.fetch_add(n, Ordering::Relaxed);
        } else {
            counts.dropped.fetch_add(n, Ordering::Relaxed);
            tracing::error!(readings = n, "victoria-metrics: readings dropped after retries");
        }
        lines.clear();
    }
}
