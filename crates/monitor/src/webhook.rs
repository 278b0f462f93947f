//! Webhook delivery of alert events: each event is POSTed as JSON to every configured URL, retried
//! with back-off, and every attempt is recorded for the API. Plain `http://` only (a relay or the
//! operator's gateway terminates TLS); the URL is checked when configured.

use crate::LiveEvent;
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub host_port: String,
    pub path: String,
    pub raw: String,
}

impl WebhookUrl {
    pub fn parse(url: &str) -> Result<WebhookUrl, String> {
        let rest =
            url.strip_prefix("http://").ok_or_else(|| format!("{url:?}: only http:// webhooks are supported"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let host_port = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
        Ok(WebhookUrl { host_port, path: path.to_string(), raw: url.to_string() })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Delivery {
    pub url: String,
    pub alert_id: u64,
    pub kind: alerts::EventKind,
    pub attempts: u32,
    /// HTTP status of the last attempt, or `None` when no answer came.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Attempts and their delays; a 2xx answer ends them.
pub const BACKOFF: [Duration; 3] = [Duration::ZERO, Duration::from_millis(500), Duration::from_secs(2)];

fn post(url: &WebhookUrl, body: &[u8]) -> Result<u16, String> {
    let mut s = TcpStream::connect(&url.host_port).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: dualcarbon-alerts\r\n\r\n",
        url.path,
        url.host_port,
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|_| s.write_all(body)).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).map_err(|e| e.to_string())?;
    line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("bad HTTP answer {line:?}"))
}

/// Posts one JSON body to one URL with the retries of [`BACKOFF`] until a 2xx answer: the
/// attempts made, the last HTTP status and the last error. Alert events and other notices (the
/// platform's filing reminders) go out the same way.
pub fn post_with_retries(url: &WebhookUrl, body: &[u8]) -> (u32, Option<u16>, Option<String>) {
    let (mut attempts, mut status, mut error) = (0, None, None);
    for delay in BACKOFF {
        std::thread::sleep(delay);
        attempts += 1;
        match post(url, body) {
            Ok(code) => {
                status = Some(code);
                error = None;
                if (200..300).contains(&code) {
                    break;
                }
            }
            Err(e) => error = Some(e),
        }
    }
    (attempts, status, error)
}

/// Delivers one alert event to one URL with retries.
pub fn deliver(url: &WebhookUrl, event: &alerts::Event) -> Delivery {
    let body = serde_json::to_vec(event).expect("alert events serialise");
    let (attempts, status, error) = post_with_retries(url, &body);
    Delivery { url: url.raw.clone(), alert_id: event.alert.id, kind: event.kind, attempts, status, error }
}

/// Starts a thread that delivers every alert event published by `monitor` to `urls`; returns the
/// record of deliveries (newest last, the last 1,000 kept).
pub fn spawn(monitor: &crate::Monitor, urls: Vec<WebhookUrl>) -> Arc<Mutex<Vec<Delivery>>> {
    let record = Arc::new(Mutex::new(Vec::new()));
    let mut rx = monitor.subscribe();
    let rec = record.clone();
    let acting = monitor.acting();
    std::thread::spawn(move || loop {
        match rx.blocking_recv() {
            // In a cluster, only the owner of the alert's facility (else the leader) delivers, once
            // it claimed the event: every instance sees the same alerts.
            Ok(LiveEvent::Alert { event }) if !acting.delivers(&event) => {}
            Ok(LiveEvent::Alert { event }) => {
                for url in &urls {
                    let d = deliver(url, &event);
                    let mut r = rec.lock().unwrap();
                    r.push(d);
                    if r.len() > 1000 {
                        r.remove(0);
                    }
                }
                acting.done(&event);
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                rec.lock().unwrap().push(Delivery {
                    url: String::new(),
                    alert_id: 0,
                    kind: alerts::EventKind::Opened,
                    attempts: 0,
                    status: None,
                    error: Some(format!("{n} events were not delivered: the webhook thread fell behind")),
                });
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    });
    record
}
