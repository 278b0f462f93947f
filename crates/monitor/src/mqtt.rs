//! MQTT subscription for meter readings (动环 / DCIM gateways publish to a broker). Each message is a
//! batch in the HTTP formats: CSV lines `meter,timestamp,value` or JSON (an array, or
//! `{"readings": [...]}`). Subscribed with QoS 1 and manual acknowledgement: a message is acknowledged
//! to the broker only after its readings are durable in the reading log, so a crash before that
//! makes the broker redeliver it (and redelivered readings count as duplicates, not twice).
//! Readings that fail validation are counted and reported in the stats; their message is still
//! acknowledged, since redelivering it cannot fix it.

use crate::Monitor;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Topic filter, e.g. `dualcarbon/readings/#`.
    pub topic: String,
    pub client_id: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MqttStats {
    pub connected: bool,
    pub messages: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// The latest problems (bad lines, rejected readings, connection errors), newest last, at most 100.
    pub problems: Vec<String>,
}

impl MqttStats {
    fn problem(&mut self, p: String) {
        self.problems.push(p);
        if self.problems.len() > 100 {
            self.problems.remove(0);
        }
    }
}

pub struct Subscription {
    pub stats: Arc<Mutex<MqttStats>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    client: Client,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscription {
    /// Disconnects and waits for the subscriber thread to end.
    pub fn stop(mut self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.client.disconnect();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Parses one message payload into readings (JSON when it starts with `[` or `{`, CSV lines otherwise).
pub fn parse_payload(payload: &[u8]) -> (Vec<telemetry::RawReading>, Vec<telemetry::BatchError>) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return (
            Vec::new(),
            vec![telemetry::BatchError {
                line: 0,
                field: "payload".into(),
                value: String::new(),
                reason: "not UTF-8".into(),
            }],
        );
    };
    let t = text.trim_start();
    if t.starts_with('[') || t.starts_with('{') {
        telemetry::parse_json(text)
    } else {
        telemetry::parse_csv_lines(text)
    }
}

/// Connects to the broker and feeds every message on `cfg.topic` into `monitor`, on its own thread
/// (reconnecting after errors). Must not be called from inside an async runtime's worker.
pub fn subscribe(monitor: Arc<Monitor>, cfg: MqttConfig) -> Subscription {
    let mut opts = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    opts.set_manual_acks(true);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut connection) = Client::new(opts, 64);
    let stats = Arc::new(Mutex::new(MqttStats::default()));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (st, cl, stop) = (stats.clone(), client.clone(), stopping.clone());
    let thread = std::thread::spawn(move || {
        for event in connection.iter() {
            if stop.load(std::sync::atomic::Ordering::SeqCst)
                && !matches!(event, Ok(Event::Incoming(Packet::Publish(_))))
            {
                st.lock().unwrap().connected = false;
                return;
            }
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    st.lock().unwrap().connected = true;
                    // A clean session forgets subscriptions: subscribe on every (re)connection.
                    if let Err(e) = cl.subscribe(cfg.topic.clone(), QoS::AtLeastOnce) {
                        st.lock().unwrap().problem(format!("subscribe {}: {e}", cfg.topic));
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let (raw, errs) = parse_payload(&p.payload);
                    let result = monitor.ingest(&raw, now_ms(), &format!("mqtt:{}", p.topic));
                    let mut s = st.lock().unwrap();
                    s.messages += 1;
                    for e in &errs {
                        s.rejected += 1;
                        s.problem(format!("{}: {e}", p.topic));
                    }
                    match result {
                        Ok(report) => {
                            s.stored += report.stored() as u64;
                            s.duplicates += report.duplicates as u64;
                            s.rejected += report.rejected as u64;
                            for e in &report.problems {
                                s.problem(format!("{}: reading {e}", p.topic));
                            }
                            drop(s);
                            // Durable now: the broker may forget the message.
                            let _ = cl.ack(&p);
                        }
                        Err(e) => s.problem(format!("{}: not stored, will be redelivered: {e}", p.topic)),
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                    st.lock().unwrap().connected = false;
                }
                Ok(_) => {}
                Err(rumqttc::ConnectionError::RequestsDone) => return,
                Err(e) => {
                    let mut s = st.lock().unwrap();
                    s.connected = false;
                    s.problem(format!("connection: {e}"));
                    drop(s);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    });
    Subscription { stats, stopping, client, thread: Some(thread) }
}
