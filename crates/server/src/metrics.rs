//! Prometheus metrics at `/metrics` (text exposition format 0.0.4): requests by route, method and
//! status, a latency histogram per route, rows imported and rejected, and the audit length.
//! Each request is also logged (method, route, status, milliseconds) as a structured event.

use crate::App;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub rows_accepted: AtomicU64,
    pub rows_rejected: AtomicU64,
    pub snapshots_created: AtomicU64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_string(), route.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_string()).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP dualcarbon_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE dualcarbon_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                out.push_str(&format!(
                    "dualcarbon_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
                ));
            }
        }
        out.push_str("# HELP dualcarbon_http_request_duration_seconds Time to answer a request, by route.\n");
        out.push_str("# TYPE dualcarbon_http_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    out.push_str(&format!(
                        "dualcarbon_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}\n",
                        h.counts[i]
                    ));
                }
                out.push_str(&format!(
                    "dualcarbon_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n",
                    h.count
                ));
                out.push_str(&format!("dualcarbon_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n", h.sum));
                out.push_str(&format!(
                    "dualcarbon_http_request_duration_seconds_count{{route=\"{route}\"}} {}\n",
                    h.count
                ));
            }
        }
        for (name, help, v) in [
            ("dualcarbon_rows_accepted_total", "Filed activity rows accepted.", &self.rows_accepted),
            ("dualcarbon_rows_rejected_total", "Filed activity rows rejected into quarantine.", &self.rows_rejected),
            ("dualcarbon_snapshots_created_total", "Inventory snapshots created.", &self.snapshots_created),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// Middleware: times and counts every request, and logs it.
pub async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("(unmatched)".to_string(), |p| p.as_str().to_string());
    let res = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    app.metrics.observe(&method, &route, status, secs);
    tracing::info!(method, route, status, ms = secs * 1000.0, "request");
    res
}

pub async fn render(State(app): State<Arc<App>>) -> impl IntoResponse {
    let mut text = app.metrics.render_text();
    let store = app.store.clone();
    if let Ok(Ok(head)) =
        tokio::task::spawn_blocking(move || store.read(|c| c.query("SELECT seq FROM audit_head WHERE id = 1", &[])))
            .await
    {
        let n = head.first().map_or(0, |r| r.int(0));
        text.push_str(&format!(
            "# HELP dualcarbon_audit_entries Entries in the audit log.\n# TYPE dualcarbon_audit_entries gauge\ndualcarbon_audit_entries {n}\n"
        ));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
