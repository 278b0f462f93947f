//! Monitoring and indicators over the API (issue 2): telemetry batches in, live PUE and power out
//! (JSON and an SSE stream), roll-ups, alerts, indicators, targets and the scoreboard. The domain
//! work is in the `monitor`, `telemetry`, `indicators` and `alerts` crates; here are the HTTP faces
//! and the scope checks for what a path does not name (meters in a batch, alert subjects, stream
//! events), all through `Caller::within`. Monitoring is attached at start when the data directory
//! has a `meters.csv` (see `attach`); until then these routes answer `monitoring_off`.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use indicators::{Observations, Override, TargetSet};
use monitor::{LiveEvent, Monitor};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use store::reference::Org;

pub struct Monitoring {
    pub monitor: Arc<Monitor>,
    /// Org code → path (for `Caller::within`), from the store at start.
    org_paths: HashMap<String, String>,
    /// Every facility of the store → org id in `monitor.orgs` (indicator data names any facility).
    facility_org: HashMap<String, u32>,
    observations: RwLock<Observations>,
    /// Data centres (facility type `data_center`) → org id: their meters feed dc_total_kwh/dc_it_kwh.
    data_centres: HashMap<String, u32>,
    targets: RwLock<TargetSet>,
    /// Held while targets or indicator data change: one change at a time, each audited.
    edits: Mutex<()>,
    /// Held while the alert state is read from the monitor and stored, so that the newest state is
    /// the one stored last.
    alert_state: Arc<Mutex<()>>,
    /// Set (under `edits`) when a reload replaced this state: a change that waited for the reload
    /// is refused rather than applied to a state no longer served.
    retired: std::sync::atomic::AtomicBool,
    pub webhooks: Option<Arc<Mutex<Vec<monitor::webhook::Delivery>>>>,
    pub mqtt: Option<Arc<monitor::mqtt::Subscription>>,
}

/// The receiver's clock, epoch milliseconds (what readings' timestamps are checked against).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What monitoring derives from the store: the org tree, the facilities and the meter registry
/// (the `meters.csv` document, checked against the store's facilities), the alert rules, indicator
/// data and targets.
struct Setup {
    org_paths: HashMap<String, String>,
    tree: model::OrgTree,
    facility_org: HashMap<String, u32>,
    data_centres: HashMap<String, u32>,
    registry: telemetry::MeterRegistry,
    rules: Vec<alerts::Rule>,
    indicator_data: Option<String>,
    targets: Option<String>,
}

fn lines<E: std::fmt::Display>(errs: &[E]) -> String {
    errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

/// Reads what monitoring needs from the store; `None` without a meter registry. Blocking.
fn setup(store: &store::Store) -> Result<Option<Setup>, String> {
    let Some(meters) = store.document(store::documents::METERS).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let doc = |name| store.document(name).map_err(|e| format!("reading {name}: {e}"));
    let orgs = store.orgs().map_err(|e| e.to_string())?;
    let facilities = store.facilities_within("/").map_err(|e| e.to_string())?;
    let rows = orgs
        .iter()
        .map(|o| model::OrgRow {
            code: o.code.clone(),
            name: o.name.clone(),
            parent_code: o.parent_code.clone(),
            equity_share: None,
            operational_control: None,
        })
        .collect();
    let tree = model::OrgTree::build(rows).map_err(|e| format!("org tree: {e:?}"))?;
    let facility_org: HashMap<String, u32> =
        facilities.iter().filter_map(|f| tree.get(&f.org_code).map(|o| (f.code.clone(), o))).collect();
    let data_centres: HashMap<String, u32> = facilities
        .iter()
        .filter(|f| f.kind == "data_center")
        .filter_map(|f| tree.get(&f.org_code).map(|o| (f.code.clone(), o)))
        .collect();
    let registry =
        telemetry::MeterRegistry::read(meters.as_bytes(), |f| facility_org.contains_key(f)).map_err(|e| lines(&e))?;
    let rules = match doc(store::documents::ALERT_RULES)? {
        Some(text) => alerts::parse_rules(&text).map_err(|e| e.join("\n"))?,
        None => alerts::parse_rules(alerts::DEFAULT_RULES).expect("default rules are valid (tested)"),
    };
    Ok(Some(Setup {
        org_paths: orgs.into_iter().map(|o: Org| (o.code, o.path)).collect(),
        tree,
        facility_org,
        data_centres,
        registry,
        rules,
        indicator_data: doc(store::documents::INDICATOR_DATA)?,
        targets: doc(store::documents::TARGETS)?,
    }))
}

/// The monitoring state over `monitor` from `s`: indicator data read against the monitor's org
/// tree, targets parsed.
fn assemble(
    s: Setup,
    monitor: Arc<Monitor>,
    alert_state: Arc<Mutex<()>>,
    webhooks: Option<Arc<Mutex<Vec<monitor::webhook::Delivery>>>>,
    mqtt: Option<Arc<monitor::mqtt::Subscription>>,
) -> Result<Arc<Monitoring>, String> {
    let facility_org = s.facility_org;
    let mut observations = Observations::default();
    if let Some(text) = s.indicator_data {
        observations = Observations::read_csv(text.as_bytes(), &monitor.orgs, |c| facility_org.get(c).copied())
            .map_err(|errs| lines(&errs))?;
    }
    let targets = match s.targets {
        Some(text) => TargetSet::parse(&text).map_err(|e| e.join("\n"))?,
        None => TargetSet::default_set(),
    };
    Ok(Arc::new(Monitoring {
        monitor,
        org_paths: s.org_paths,
        facility_org,
        observations: RwLock::new(observations),
        data_centres: s.data_centres,
        targets: RwLock::new(targets),
        edits: Mutex::new(()),
        alert_state,
        retired: Default::default(),
        webhooks,
        mqtt,
    }))
}

/// Builds the monitoring state from the store's orgs and facilities and its platform documents
/// (meter registry, alert rules, indicator data, targets, alert state; a data directory of an
/// earlier release has its files imported first, see [`document`]), replays `DATA_DIR/readings/`
/// (the reading log), and starts webhook delivery (`DUALCARBON_WEBHOOKS`, comma-separated `http://`
/// URLs) and the silence check, and the MQTT subscription (`DUALCARBON_MQTT=HOST:PORT/TOPIC-FILTER`,
/// e.g. `127.0.0.1:1883/dualcarbon/readings/#`). Returns `Ok(None)` without a meter registry; the
/// first meters posted over the API then attach it ([`reload`]).
pub fn attach(app: &Arc<App>, data_dir: &std::path::Path) -> Result<Option<Arc<Monitoring>>, String> {
    let store = &app.store;
    let _ = app.monitoring_dir.set(data_dir.to_path_buf());
    for name in [
        store::documents::METERS,
        store::documents::ALERT_RULES,
        store::documents::INDICATOR_DATA,
        store::documents::TARGETS,
    ] {
        document(store, data_dir, name)?;
    }
    let Some(s) = setup(store)? else {
        return Ok(None);
    };
    let metered: HashMap<String, u32> = s.facility_org.clone();
    let (monitor, recovered) =
        Monitor::open(s.registry.clone(), s.tree.clone(), metered, s.rules.clone(), &data_dir.join("readings"))
            .map_err(|e| format!("reading log: {e}"))?;
    tracing::info!(readings = recovered.readings, truncated = recovered.truncated_bytes, "reading log replayed");
    let monitor = Arc::new(monitor);
    // The alerts of the last run (open, acknowledged, resolved), kept in the database.
    if let Some(text) = store.document(store::documents::ALERT_STATE).map_err(|e| format!("alert state: {e}"))? {
        let kept: Vec<alerts::Alert> = serde_json::from_str(&text).map_err(|e| format!("alert state: {e}"))?;
        monitor.restore_alerts(kept);
    }
    monitor.watch_all_meters(now_ms());
    let alert_state = Arc::new(Mutex::new(()));
    {
        // Alerts the data opens or resolves (readings, the silence check) are kept as they change.
        // The channel is shared with the monitors that take over (`Monitor::successor`).
        let (monitor, store, lock) = (monitor.clone(), app.store.clone(), alert_state.clone());
        let mut events = monitor.subscribe();
        std::thread::spawn(move || loop {
            match events.blocking_recv() {
                Ok(LiveEvent::Alert { .. }) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(e) = save_alert_state(&store, &monitor, &lock, None) {
                        tracing::error!(error = %e.message, "keeping the alert state failed");
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        });
    }
    let urls: Vec<monitor::webhook::WebhookUrl> = std::env::var("DUALCARBON_WEBHOOKS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|u| monitor::webhook::WebhookUrl::parse(u.trim()))
        .collect::<Result<_, _>>()?;
    let webhooks = (!urls.is_empty()).then(|| monitor::webhook::spawn(&monitor, urls));
    let tick = monitor.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(30));
        tick.tick(now_ms());
    });
    let mqtt = match std::env::var("DUALCARBON_MQTT") {
        Ok(spec) if !spec.trim().is_empty() => {
            let (addr, topic) = spec.trim().split_once('/').ok_or("DUALCARBON_MQTT: expected HOST:PORT/TOPIC")?;
            let (host, port) = addr.rsplit_once(':').ok_or("DUALCARBON_MQTT: expected HOST:PORT/TOPIC")?;
            let port: u16 = port.parse().map_err(|_| format!("DUALCARBON_MQTT: bad port {port:?}"))?;
            Some(Arc::new(monitor::mqtt::subscribe(
                monitor.clone(),
                monitor::mqtt::MqttConfig {
                    host: host.to_string(),
                    port,
                    topic: topic.to_string(),
                    client_id: format!("dualcarbon-{}", std::process::id()),
                },
            )))
        }
        _ => None,
    };
    let m = assemble(s, monitor, alert_state, webhooks, mqtt)?;
    *app.monitoring.write().unwrap() = Some(m.clone());
    Ok(Some(m))
}

/// Makes monitoring follow the store after a change of meters or reference data, without a
/// restart: a new monitoring state over a successor of the running monitor (the same reading log,
/// event stream, alerts, webhooks and MQTT subscription; `Monitor::successor`), with the org tree,
/// facilities and meter registry read again, and indicator data and targets read against them.
/// Attaches monitoring when the first meters arrive. A change of targets or indicator data waits
/// for the reload (and the reload for it). Blocking.
pub fn reload(app: &Arc<App>) -> Result<(), String> {
    let _one = app.monitoring_reload.lock().unwrap_or_else(|e| e.into_inner());
    let current = app.monitoring.read().unwrap().clone();
    let Some(old) = current else {
        return match app.monitoring_dir.get() {
            Some(dir) => attach(app, &dir.clone()).map(|_| ()),
            None => Ok(()),
        };
    };
    let _edits = old.edits.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = setup(&app.store)? else { return Ok(()) };
    let monitor = old.monitor.successor(s.registry.clone(), s.tree.clone(), s.facility_org.clone(), now_ms());
    let m = assemble(s, monitor, old.alert_state.clone(), old.webhooks.clone(), old.mqtt.clone())?;
    *app.monitoring.write().unwrap() = Some(m);
    old.retired.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// [`reload`] after a committed change: a failure is logged (the change stands; the next reload or
/// a restart applies it).
pub(crate) fn reload_after_change(app: &Arc<App>) {
    if let Err(e) = reload(app) {
        tracing::error!(error = %e, "monitoring could not follow a change of meters or reference data");
    }
}

/// GET /api/v1/meters: the registered meters of facilities within the caller's subtree.
pub async fn list_meters(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let path = caller.org_path.clone();
    let (text, mine) = app
        .db(move |s| {
            let mine: std::collections::HashSet<String> =
                s.facilities_within(&path)?.into_iter().map(|f| f.code).collect();
            Ok((s.document(store::documents::METERS)?, mine))
        })
        .await?;
    let registry = match text {
        Some(t) => telemetry::MeterRegistry::read(t.as_bytes(), |_| true)
            .map_err(|_| ApiError::internal("the stored meter registry does not read"))?,
        None => telemetry::MeterRegistry::default(),
    };
    let meters: Vec<&telemetry::Meter> = registry.meters.iter().filter(|m| mine.contains(&m.facility)).collect();
    Ok(Json(json!({"meters": meters, "monitoring": app.monitoring.read().unwrap().is_some()})))
}

/// The audit action of a change of the meter registry.
pub const METERS_ACTION: &str = "reference.meters";

/// POST /api/v1/meters: meters.csv rows (header and columns as docs/monitoring.md) added to the
/// registry or replacing the meter of the same code; every row checked by the registry's rules
/// (`telemetry::MeterRegistry`: 422 `invalid_meters`, every problem) against the platform's
/// facilities, each facility within the caller's subtree (403 `out_of_scope`). The registry and
/// its audit entry (`reference.meters`: codes added and changed, the body's SHA-256) are stored in
/// one transaction, then monitoring follows without a restart ([`reload`]). Rows equal to the
/// registered meter change nothing (`unchanged`).
pub async fn add_meters(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    app.blocking(move || {
        let store = &app2.store;
        let invalid = |errs: Vec<telemetry::meter::RegistryError>| {
            ApiError::problems("invalid_meters", "the meters", errs.iter().map(|e| e.to_string()).collect())
        };
        let all: std::collections::HashSet<String> =
            store.facilities_within("/")?.into_iter().map(|f| f.code).collect();
        let sent = telemetry::MeterRegistry::read(body.as_bytes(), |f| all.contains(f)).map_err(invalid)?;
        let mine: std::collections::HashSet<String> =
            store.facilities_within(&caller.org_path)?.into_iter().map(|f| f.code).collect();
        if let Some(m) = sent.meters.iter().find(|m| !mine.contains(&m.facility)) {
            return Err(ApiError::out_of_scope(&format!("facility {} of meter {}", m.facility, m.code)));
        }
        // One registry change at a time, and none while monitoring reloads.
        let _one = app2.monitoring_reload.lock().unwrap_or_else(|e| e.into_inner());
        let current = store.document(store::documents::METERS)?;
        let (text, added, changed) = merge_meters(current.as_deref(), &body).map_err(ApiError::bad_request)?;
        let merged = telemetry::MeterRegistry::read(text.as_bytes(), |f| all.contains(f)).map_err(invalid)?;
        let unchanged = sent.len() - added.len() - changed.len();
        let mut seq = None;
        if !added.is_empty() || !changed.is_empty() {
            let sha = store::sha256_hex(body.as_bytes());
            let kind = store.kind();
            seq = Some(store.tx(|c| {
                let seq = store::audit::append(
                    c,
                    kind,
                    store::audit::Change {
                        actor: &caller.user.username,
                        action: METERS_ACTION,
                        entity: format!("meters:{}", &sha[..16]),
                        org_code: &caller.user.org_code,
                        before: Value::Null,
                        after: json!({"added": added, "changed": changed, "body_sha256": sha}),
                    },
                )?;
                store::documents::put(c, store::documents::METERS, &text)?;
                Ok(seq)
            })?);
        }
        drop(_one);
        if seq.is_some() {
            reload(&app2).map_err(|e| {
                tracing::error!(error = %e, "monitoring could not follow the meter registry");
                ApiError::internal("the meters are stored; monitoring could not follow them (see the log)")
            })?;
        }
        Ok(Json(json!({
            "received": sent.len(),
            "added": added,
            "changed": changed,
            "unchanged": unchanged,
            "meters": merged.len(),
            "audit_seq": seq,
        })))
    })
    .await
}

/// The registry text with `body`'s rows added or replacing the rows of the same `meter_code`
/// (columns: the union of both headers, in the registry's order then the body's new ones), and
/// the codes added and changed.
fn merge_meters(current: Option<&str>, body: &str) -> Result<(String, Vec<String>, Vec<String>), String> {
    type Rows = (Vec<String>, Vec<std::collections::BTreeMap<String, String>>);
    let read = |text: &str| -> Result<Rows, String> {
        let mut r = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
        let header: Vec<String> = r
            .headers()
            .map_err(|e| format!("meters: {e}"))?
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').to_string())
            .collect();
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| format!("meters: {e}"))?;
            rows.push(
                header.iter().cloned().zip(rec.iter().map(str::to_string)).filter(|(_, v)| !v.is_empty()).collect(),
            );
        }
        Ok((header, rows))
    };
    let (mut header, mut rows) = match current {
        Some(t) => read(t)?,
        None => (Vec::new(), Vec::new()),
    };
    let (sent_header, sent) = read(body)?;
    for h in sent_header {
        if !header.contains(&h) {
            header.push(h);
        }
    }
    let (mut added, mut changed) = (Vec::new(), Vec::new());
    for row in sent {
        let code = row.get("meter_code").cloned().unwrap_or_default();
        match rows.iter_mut().find(|r| r.get("meter_code") == Some(&code)) {
            Some(r) if *r == row => {}
            Some(r) => {
                *r = row;
                changed.push(code);
            }
            None => {
                rows.push(row);
                added.push(code);
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).map_err(|e| e.to_string())?;
    for r in &rows {
        w.write_record(header.iter().map(|h| r.get(h).map_or("", String::as_str))).map_err(|e| e.to_string())?;
    }
    let text = String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    Ok((text, added, changed))
}

impl Monitoring {
    /// Refuses a change that waited for a reload (503 `reconfigured`: send it again).
    fn still_current(&self) -> ApiResult<()> {
        if self.retired.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "reconfigured",
                "monitoring was reconfigured while the change waited: send it again",
            ));
        }
        Ok(())
    }
}

pub(crate) fn mon(app: &App) -> ApiResult<Arc<Monitoring>> {
    app.monitoring.read().unwrap().clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "monitoring_off",
            "monitoring is not configured: put meters.csv in the data directory and restart",
        )
    })
}

impl Monitoring {
    /// Stored indicator data plus the data centres' metered energy for `years` (a reported value wins).
    fn observations(&self, years: std::ops::RangeInclusive<i32>) -> Observations {
        let mut obs = self.observations.read().unwrap().clone();
        self.monitor.with_telemetry(|t| {
            for year in years {
                monitor::add_meter_components(t, year, |f| self.data_centres.get(f).copied(), &mut obs);
            }
        });
        obs
    }

    fn org_within(&self, caller: &Caller, org_code: &str) -> bool {
        self.org_paths.get(org_code).is_some_and(|p| caller.within(p))
    }
    fn facility_within(&self, caller: &Caller, facility: &str) -> bool {
        self.facility_org.get(facility).is_some_and(|&o| self.org_within(caller, &self.monitor.orgs.org(o).code))
    }
    fn subject_within(&self, caller: &Caller, subject: &str) -> bool {
        if let Some(f) = subject.strip_prefix("facility:") {
            return self.facility_within(caller, f);
        }
        if let Some(m) = subject.strip_prefix("meter:") {
            let fac =
                self.monitor.with_telemetry(|t| t.registry.get(m).map(|id| t.registry.meter(id).facility.clone()));
            return fac.is_some_and(|f| self.facility_within(caller, &f));
        }
        subject.strip_prefix("org:").is_some_and(|o| self.org_within(caller, o))
    }
    fn event_within(&self, caller: &Caller, e: &LiveEvent) -> bool {
        match e {
            // A batch names its source (who sent it) and counts: only for those who may see every
            // org it touched.
            LiveEvent::Batch { orgs, .. } => !orgs.is_empty() && orgs.iter().all(|o| self.org_within(caller, o)),
            LiveEvent::Facility { facility, .. } => self.facility_within(caller, facility),
            LiveEvent::Org { org, .. } => self.org_within(caller, org),
            LiveEvent::Alert { event } => self.subject_within(caller, &event.alert.subject),
        }
    }
}

/// POST /api/v1/telemetry/readings: a batch as JSON or CSV lines (by Content-Type; `text/csv` or
/// `text/plain` = CSV). Readings of meters outside the caller's subtree are rejected with that reason.
pub async fn ingest(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: String,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let ctype = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (raw, parse_errors) = if ctype.starts_with("text/") {
        telemetry::parse_csv_lines(&body)
    } else {
        let (r, e) = telemetry::parse_json(&body);
        if r.is_empty() && e.iter().any(|e| e.field == "body" || e.field == "readings") {
            return Err(ApiError::bad_request(e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")));
        }
        (r, e)
    };
    let mut allowed = Vec::with_capacity(raw.len());
    let mut positions = Vec::with_capacity(raw.len());
    let mut out_of_scope = Vec::new();
    m.monitor.with_telemetry(|t| {
        for (i, r) in raw.iter().enumerate() {
            let fac = t.registry.get(&r.meter).map(|id| t.registry.meter(id).facility.clone());
            match fac {
                Some(f) if !m.facility_within(&caller, &f) => out_of_scope.push(telemetry::BatchError {
                    line: i + 1,
                    field: "meter".into(),
                    value: r.meter.clone(),
                    reason: format!("meter of facility {f}, outside your organisation's subtree"),
                }),
                _ => {
                    allowed.push(r.clone());
                    positions.push(i);
                }
            }
        }
    });
    let source = format!("http:{}", caller.user.username);
    let mon2 = m.clone();
    let mut report = app
        .blocking(move || {
            mon2.monitor
                .ingest(&allowed, now_ms(), &source)
                .map_err(|e| ApiError::internal(format!("reading log: {e}")))
        })
        .await?;
    for p in &mut report.problems {
        p.line = positions.get(p.line - 1).map_or(p.line, |&i| i + 1);
    }
    report.received += out_of_scope.len() + parse_errors.len();
    report.rejected += out_of_scope.len() + parse_errors.len();
    report.problems.extend(out_of_scope);
    report.problems.extend(parse_errors);
    report.problems.sort_by_key(|p| p.line);
    Ok(Json(json!({"stored": report.stored(), "report": report})))
}

/// GET /api/v1/telemetry/stream: live events (SSE) within the caller's subtree.
pub async fn stream(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let m = mon(&app)?;
    let rx = m.monitor.subscribe();
    let s = futures_util::stream::unfold((rx, m, caller), |(mut rx, m, caller)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if m.event_within(&caller, &e) => {
                    let kind = match &e {
                        LiveEvent::Batch { .. } => "batch",
                        LiveEvent::Facility { .. } => "facility",
                        LiveEvent::Org { .. } => "org",
                        LiveEvent::Alert { .. } => "alert",
                    };
                    let ev = Event::default().event(kind).json_data(&e).unwrap_or_default();
                    return Some((Ok(ev), (rx, m, caller)));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), (rx, m, caller)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}

/// GET /api/v1/orgs/{code}/realtime: live power and PUE of the org and of each metered facility below it.
pub async fn realtime(State(app): State<Arc<App>>, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let org = m.monitor.orgs.get(&code).ok_or_else(|| ApiError::not_found(format!("no org {code:?}")))?;
    let facilities: Vec<Value> = m
        .monitor
        .with_telemetry(|t| t.by_facility.keys().cloned().collect::<Vec<_>>())
        .into_iter()
        .filter(|f| m.monitor.facility_org(f).is_some_and(|o| m.monitor.orgs.is_within(o, org)))
        .map(|f| json!({"facility": f, "live": m.monitor.facility_live(&f)}))
        .collect();
    Ok(Json(json!({"org": code, "live": m.monitor.org_live(&code), "facilities": facilities})))
}

#[derive(Deserialize)]
pub struct RollupQuery {
    facility: String,
    role: String,
    #[serde(default = "hour")]
    period: String,
    from: String,
    to: String,
}

fn hour() -> String {
    "hour".into()
}

/// GET /api/v1/telemetry/rollup?facility=&role=&period=15min|hour|day|month&from=&to=
pub async fn rollup(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RollupQuery>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    if !m.facility_within(&caller, &q.facility) {
        return Err(ApiError::out_of_scope(&format!("facility {}", q.facility)));
    }
    let role = telemetry::Role::parse(&q.role)
        .ok_or_else(|| ApiError::bad_request(format!("role: one of {}", telemetry::Role::codes())))?;
    if role.is_gauge() {
        return Err(ApiError::bad_request(format!(
            "role: {} is a state value (gauge) and has no energy roll-up; see the site state route",
            role.code()
        )));
    }
    let period = telemetry::Period::parse(&q.period)
        .ok_or_else(|| ApiError::bad_request("period: 15min, hour, day or month"))?;
    let from = telemetry::time::parse_timestamp(&q.from).map_err(|e| ApiError::bad_request(format!("from: {e}")))?;
    let to = telemetry::time::parse_timestamp(&q.to).map_err(|e| ApiError::bad_request(format!("to: {e}")))?;
    let from = crate::bounds::timestamp("from", from, &q.from)?;
    let to = crate::bounds::timestamp("to", to, &q.to)?;
    if from > to {
        return Err(ApiError::bad_request(format!("from {} is after to {}", q.from, q.to)));
    }
    let (from, to) = (period.start(from), to);
    let rows = m
        .monitor
        .rollup(&q.facility, role, period, from, to)
        .ok_or_else(|| ApiError::not_found(format!("facility {} has no {} meter", q.facility, role.code())))?;
    Ok(Json(json!({"facility": q.facility, "role": role, "period": period.code(), "rows": rows})))
}

#[derive(Deserialize)]
pub struct AlertQuery {
    state: Option<String>,
}

/// GET /api/v1/alerts?state=open|acknowledged|resolved
pub async fn list_alerts(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let state = match q.state.as_deref() {
        None => None,
        Some("open") => Some(alerts::State::Open),
        Some("acknowledged") => Some(alerts::State::Acknowledged),
        Some("resolved") => Some(alerts::State::Resolved),
        Some(s) => return Err(ApiError::bad_request(format!("state {s:?}: open, acknowledged or resolved"))),
    };
    let list: Vec<alerts::Alert> =
        m.monitor.alerts(state).into_iter().filter(|a| m.subject_within(&caller, &a.subject)).collect();
    let deliveries = m.webhooks.as_ref().map(|w| w.lock().map(|d| d.clone()).unwrap_or_default());
    let mqtt = m.mqtt.as_ref().map(|s| s.stats.lock().map(|x| x.clone()).unwrap_or_default());
    Ok(Json(json!({"alerts": list, "webhook_deliveries": deliveries, "mqtt": mqtt})))
}

#[derive(Deserialize)]
pub struct AckBody {
    id: u64,
}

/// POST /api/v1/alerts/acknowledge: acknowledge an open alert (audited `alerts.acknowledge`).
pub async fn acknowledge(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(b): Json<AckBody>,
) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    app.blocking(move || alert_action(&app2, &caller, b.id, Monitor::acknowledge, "alerts.acknowledge")).await
}

/// POST /api/v1/alerts/resolve: resolve an open or acknowledged alert by hand (audited
/// `alerts.resolve`).
pub async fn resolve(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(b): Json<AckBody>,
) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    app.blocking(move || alert_action(&app2, &caller, b.id, Monitor::resolve, "alerts.resolve")).await
}

/// One alert of the caller's subtree changed by `action` (who, when); an alert outside the subtree
/// is not found, a change its state does not allow is a conflict. The alert state is stored with
/// the change's audit entry in one transaction. Blocking.
fn alert_action(
    app: &App,
    caller: &Caller,
    id: u64,
    action: fn(&Monitor, u64, &str, i64) -> Result<alerts::Event, String>,
    audit_action: &str,
) -> ApiResult<Json<Value>> {
    let m = mon(app)?;
    let alert = m
        .monitor
        .alerts(None)
        .into_iter()
        .find(|a| a.id == id && m.subject_within(caller, &a.subject))
        .ok_or_else(|| ApiError::not_found(format!("no alert {id} in your subtree")))?;
    let e = action(&m.monitor, alert.id, &caller.user.username, now_ms())
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "conflict", e))?;
    let change = store::audit::Change {
        actor: &caller.user.username,
        action: audit_action,
        entity: format!("alert:{}", e.alert.id),
        org_code: &caller.user.org_code,
        before: json!({"state": alert.state}),
        after: json!({"state": e.alert.state, "rule": e.alert.rule, "subject": e.alert.subject}),
    };
    save_alert_state(&app.store, &m.monitor, &m.alert_state, Some(change))?;
    Ok(Json(json!({"alert": e.alert})))
}

/// Stores the monitor's alerts (every state) as the `alert-state.json` document, with `change`'s
/// audit entry in the same transaction when a user made the change. Blocking.
fn save_alert_state(
    store: &store::Store,
    monitor: &Monitor,
    lock: &Mutex<()>,
    change: Option<store::audit::Change<'_>>,
) -> ApiResult<()> {
    let _one = lock.lock().unwrap_or_else(|e| e.into_inner());
    let text = serde_json::to_string(&monitor.alerts(None)).map_err(|e| ApiError::internal(e.to_string()))?;
    let kind = store.kind();
    Ok(store.tx(|c| {
        if let Some(change) = change {
            store::audit::append(c, kind, change)?;
        }
        store::documents::put(c, store::documents::ALERT_STATE, &text)
    })?)
}

/// GET /api/v1/indicators: the registry.
pub async fn list_indicators() -> Json<Value> {
    Json(
        json!({"indicators": indicators::INDICATORS, "components": indicators::Component::ALL.iter().map(|c| c.code()).collect::<Vec<_>>()}),
    )
}

#[derive(Deserialize)]
pub struct YearQuery {
    year: i32,
}

fn org_id(m: &Monitoring, code: &str) -> ApiResult<u32> {
    m.monitor.orgs.get(code).ok_or_else(|| ApiError::not_found(format!("no org {code:?}")))
}

/// GET /api/v1/orgs/{code}/indicators?year=
pub async fn org_indicators(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    let id = org_id(&m, &code)?;
    let sums = m.observations(q.year..=q.year).rollup(&m.monitor.orgs, q.year, 0)[id as usize];
    let values: Vec<Value> = indicators::INDICATORS
        .iter()
        .map(|i| json!({"indicator": i.code, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit, "value": sums.indicator(i)}))
        .collect();
    Ok(Json(json!({"org": code, "year": q.year, "indicators": values})))
}

/// GET /api/v1/orgs/{code}/targets?year=: the org's resolved targets and progress.
pub async fn org_targets(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    let id = org_id(&m, &code)?;
    let obs = m.observations(q.year - 10..=q.year);
    let set = m.targets.read().unwrap();
    let mut series = indicators::OrgSeries::new(&obs, &m.monitor.orgs);
    let resolved = set.resolve(&m.monitor.orgs, id);
    let progress: Vec<indicators::Progress> =
        resolved.iter().map(|t| indicators::evaluate(t, id, q.year, &mut series)).collect();
    Ok(Json(json!({"org": code, "year": q.year, "set": set.set, "targets": resolved, "progress": progress})))
}

#[derive(Deserialize)]
pub struct TargetEdit {
    target: String,
    value: Option<f64>,
    base_year: Option<i32>,
    year: Option<i32>,
    weight: Option<f64>,
    #[serde(default)]
    reason: String,
}

/// The audit action of a target change.
pub const TARGET_ACTION: &str = "indicators.target";
/// The audit action of an accepted batch of indicator data.
pub const INDICATOR_DATA_ACTION: &str = "indicators.data";

/// Whether `caller` may set the targets of `org`: a user of an org above it (a group admin for
/// the provinces, a province for its cities), with the Analyze permission (the route's); the
/// group's own targets only a group admin. Nobody sets their own org's targets: a target is what
/// the parent holds its child to.
pub fn may_set_targets(caller: &Caller, org: &Org) -> bool {
    let below = org.path != caller.org_path && caller.within(&org.path);
    let root_by_group_admin =
        org.parent_code.is_none() && caller.role == crate::access::Role::GroupAdmin && caller.within(&org.path);
    below || root_by_group_admin
}

/// PUT /api/v1/orgs/{code}/targets {"target", "value"?, "base_year"?, "year"?, "weight"?, "reason"}:
/// only by a parent org (see [`may_set_targets`]); years bounded (400 `out_of_range`), the target it
/// makes checked by `indicators` (422 `invalid_target`, every problem); the targets file and the
/// audit entry (`indicators.target`, old and new values, reason) change together or not at all.
pub async fn edit_target(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Extension(org): Extension<Org>,
    Path(code): Path<String>,
    Json(b): Json<TargetEdit>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let org_id = org_id(&m, &code)?;
    if !may_set_targets(&caller, &org) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the targets of org {code} are set by a user of an org above it (the group's own by a group admin), not from within {code}"
            ),
        ));
    }
    crate::bounds::opt_year("base_year", b.base_year)?;
    crate::bounds::opt_year("year", b.year)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::bad_request("a target change needs a reason"));
    }
    let o = Override {
        org: code.clone(),
        target: b.target,
        value: b.value,
        base_year: b.base_year,
        year: b.year,
        weight: b.weight,
        reason: format!("{} ({})", b.reason.trim(), caller.user.username),
    };
    let (store, m2, o2) = (app.store.clone(), m.clone(), o.clone());
    let seq = app
        .blocking(move || {
            // One change at a time: each edit starts from the set the previous one left.
            let _one = m2.edits.lock().unwrap_or_else(|e| e.into_inner());
            m2.still_current()?;
            let mut set = m2.targets.read().unwrap().clone();
            let resolved =
                |set: &TargetSet| set.resolve(&m2.monitor.orgs, org_id).into_iter().find(|t| t.id == o2.target);
            let before = resolved(&set);
            let replaced = set
                .set_override(o2.clone())
                .map_err(|errors| ApiError::problems("invalid_target", "the target change", errors))?;
            let after = resolved(&set);
            let text = toml::to_string(&set).map_err(|e| ApiError::internal(e.to_string()))?;
            let change = |c: &mut dyn store::Conn| {
                store::audit::append(
                    c,
                    store.kind(),
                    store::audit::Change {
                        actor: &caller.user.username,
                        action: TARGET_ACTION,
                        entity: format!("target:{}:{}", o2.org, o2.target),
                        org_code: &o2.org,
                        before: json!({"override": replaced, "target": before}),
                        after: json!({"override": o2, "target": after, "reason": o2.reason}),
                    },
                )
            };
            let seq = write_document(&store, store::documents::TARGETS, &text, change)?;
            *m2.targets.write().unwrap() = set;
            Ok(seq)
        })
        .await?;
    Ok(Json(json!({"override": o, "audit_seq": seq})))
}

/// Replaces the platform document `name` (a `store::documents` name, e.g. `targets.toml`) by
/// `text` in the store transaction that appends its audit entry (`change`): the document and the
/// audit log change together or not at all. Blocking. Returns what `change` returns (the entry's
/// sequence number).
pub(crate) fn write_document<T>(
    store: &store::Store,
    name: &str,
    text: &str,
    change: impl FnOnce(&mut dyn store::Conn) -> store::Result<T>,
) -> ApiResult<T> {
    Ok(store.tx(|c| {
        let out = change(c)?;
        store::documents::put(c, name, text)?;
        Ok(out)
    })?)
}

/// A platform document from the store. A data directory of an earlier release kept it as the file
/// `DATA_DIR/NAME`: on first start that file is imported once (audited `platform.import`) and
/// renamed `NAME.imported`, so it is never imported again and nothing reads it after. A file
/// found when the database has the document already is not read: it is renamed
/// `NAME.not-imported` (and a warning logged).
pub(crate) fn document(store: &store::Store, data_dir: &std::path::Path, name: &str) -> Result<Option<String>, String> {
    let file = data_dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&file) {
        let imported = store.import_document(name, &text).map_err(|e| format!("importing {name}: {e}"))?;
        let aside = data_dir.join(format!("{name}.{}", if imported { "imported" } else { "not-imported" }));
        if imported {
            tracing::info!(file = name, "imported into the database; the file is kept as {name}.imported");
        } else {
            tracing::warn!(
                file = name,
                "the database has this document already: the file is set aside unread as {name}.not-imported"
            );
        }
        std::fs::rename(&file, &aside).map_err(|e| format!("setting {name} aside: {e}"))?;
    }
    store.document(name).map_err(|e| format!("reading {name}: {e}"))
}

/// GET /api/v1/orgs/{code}/scoreboard?year=: its children ranked (考核).
pub async fn scoreboard(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    let id = org_id(&m, &code)?;
    let obs = m.observations(q.year - 10..=q.year);
    let set = m.targets.read().unwrap();
    let rows = indicators::scoreboard(&set, &m.monitor.orgs, &obs, id, q.year);
    Ok(Json(json!({"org": code, "year": q.year, "rows": rows})))
}

/// POST /api/v1/indicator-data: indicator-data.csv rows (all valid and within the caller's subtree,
/// or nothing is added); kept in DATA_DIR/indicator-data.csv. Idempotent: a value is identified by
/// its org or facility, period, component and source, and a value already stored is not added
/// again (`unchanged`); the same key with another value is a conflict (409, every key in
/// `detail`). Each batch that adds anything is one audit entry (`indicators.data`) with its rows,
/// in the same step as the file.
pub async fn add_indicator_data(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let parsed = Observations::read_csv(body.as_bytes(), &m.monitor.orgs, |c| m.facility_org.get(c).copied())
        .map_err(|errs| invalid_rows(&errs))?;
    let sent = parsed.rows.len();
    let (store, actor, org_code) = (app.store.clone(), caller.user.username.clone(), caller.user.org_code.clone());
    let sha = store::sha256_hex(body.as_bytes());
    let m2 = m.clone();
    let out = app
        .blocking(move || {
            add_observations(&store, &m2, &caller, parsed.rows, Merge::Add, |c, added| {
                let rows: Vec<Value> = added.iter().map(|o| m2.describe(o)).collect();
                store::audit::append(
                    c,
                    store.kind(),
                    store::audit::Change {
                        actor: &actor,
                        action: INDICATOR_DATA_ACTION,
                        entity: format!("indicator-data:{}", &sha[..16]),
                        org_code: &org_code,
                        before: Value::Null,
                        after: json!({"body_sha256": sha, "rows": rows}),
                    },
                )
            })
        })
        .await?;
    Ok(Json(json!({
        "received": sent,
        "added": out.added,
        "unchanged": out.unchanged,
        "total_rows": out.total,
        "audit_seq": out.done,
    })))
}

fn invalid_rows(errs: &[indicators::values::DataError]) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
    )
}

/// How new indicator rows meet the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// Rows add to what is stored (several bills of a period add up); a component given for a whole
    /// year and for months of it by the same org or facility is refused (it would count twice).
    Add,
    /// Also refused: a row for a component that its org or facility already has for the same or an
    /// overlapping period (a measured result is recorded once, never added to a previous one).
    Once,
}

impl Monitoring {
    /// The org id (in the monitoring org tree) of a facility of the store, as of start.
    pub(crate) fn facility_org_id(&self, facility: &str) -> Option<u32> {
        self.facility_org.get(facility).copied()
    }
    /// The measured results of scenario measures in the subtree of `org` (an org code), from the
    /// stored indicator data; `None` for an org the monitoring tree does not know.
    pub(crate) fn measured(&self, org: &str) -> Option<Vec<indicators::MeasuredResult>> {
        let id = self.monitor.orgs.get(org)?;
        Some(indicators::measured(&self.observations.read().unwrap(), &self.monitor.orgs, id))
    }
}

/// What [`add_observations`] did.
pub(crate) struct Added<T> {
    /// Rows stored now, in all.
    pub total: usize,
    /// Rows of the request stored by it.
    pub added: usize,
    /// Rows of the request whose value was stored already (not added again).
    pub unchanged: usize,
    /// What `commit` returned; `None` when there was nothing to add (and nothing was written).
    pub done: Option<T>,
}

/// The identity of a stored indicator value: org, facility, period, component and source.
type ValueKey = (u32, Option<String>, indicators::PeriodKey, indicators::Component, String);

fn value_key(o: &indicators::Observation) -> ValueKey {
    (o.org, o.facility.clone(), o.period, o.component, o.source.clone())
}

/// A source as the stored file keeps it (one CSV field, trimmed).
fn stored_source(s: &str) -> String {
    s.replace([',', '"', '\n', '\r'], " ").trim().to_string()
}

impl Monitoring {
    fn entity(&self, o: &indicators::Observation) -> String {
        match &o.facility {
            Some(f) => f.clone(),
            None => format!("org {}", self.monitor.orgs.org(o.org).code),
        }
    }
    /// One stored value as JSON (audit entries, conflicts).
    fn describe(&self, o: &indicators::Observation) -> Value {
        json!({
            "org": o.facility.is_none().then(|| self.monitor.orgs.org(o.org).code.clone()),
            "facility": o.facility,
            "period": period_text(o.period),
            "component": o.component.code(),
            "value": micro_text(o.value),
            "source": o.source,
        })
    }
}

fn period_text(p: indicators::PeriodKey) -> String {
    if p.month == 0 {
        p.year.to_string()
    } else {
        format!("{}-{:02}", p.year, p.month)
    }
}

fn micro_text(v: i128) -> String {
    format!("{}{}.{:06}", if v < 0 { "-" } else { "" }, v.abs() / 1_000_000, v.abs() % 1_000_000)
}

/// Adds `rows` to the stored indicator data, all or nothing: every row within the caller's subtree,
/// the merged data valid (see [`Merge`]), DATA_DIR/indicator-data.csv rewritten whole (one format,
/// read back, so a clash between uploads is refused like one inside a file). With [`Merge::Add`], a
/// value (see [`ValueKey`]; rows of one request with the same key add up to one value) that is
/// stored already is not added again, and one stored with another value is a conflict. `commit`
/// (e.g. the audit entry of the change) runs in the store transaction in which the file is put in
/// place, with the rows added (see [`write_document`]); when nothing is new it does not run and
/// nothing is written. Blocking: call from a blocking task.
pub(crate) fn add_observations<T>(
    store: &store::Store,
    m: &Monitoring,
    caller: &Caller,
    mut rows: Vec<indicators::Observation>,
    merge: Merge,
    commit: impl FnOnce(&mut dyn store::Conn, &[indicators::Observation]) -> store::Result<T>,
) -> ApiResult<Added<T>> {
    if let Some(o) = rows.iter().find(|o| !m.org_within(caller, &m.monitor.orgs.org(o.org).code)) {
        return Err(ApiError::out_of_scope(&format!("org {}", m.monitor.orgs.org(o.org).code)));
    }
    for r in &mut rows {
        r.source = stored_source(&r.source);
    }
    let _one = m.edits.lock().unwrap_or_else(|e| e.into_inner());
    m.still_current()?;
    let mut all = m.observations.write().unwrap();
    let entity = |o: &indicators::Observation| m.entity(o);
    let period = period_text;
    let conflict = |clashes: Vec<String>, what: &str| {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "{} value(s) {what}: {}",
                clashes.len(),
                clashes.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ),
        );
        e.detail = Some(json!(clashes));
        e
    };
    if merge == Merge::Once {
        let clashes: Vec<String> = rows
            .iter()
            .filter_map(|n| {
                let old = all.rows.iter().find(|o| {
                    o.org == n.org
                        && o.facility == n.facility
                        && o.component == n.component
                        && o.period.year == n.period.year
                        && (o.period.month == n.period.month || o.period.month == 0 || n.period.month == 0)
                })?;
                Some(format!(
                    "{} {} {}: already recorded for {} (source {:?}); it is not added twice",
                    entity(n),
                    n.component.code(),
                    period(n.period),
                    period(old.period),
                    old.source
                ))
            })
            .collect();
        if !clashes.is_empty() {
            return Err(conflict(clashes, "already recorded"));
        }
    }
    // Values by key: stored, and sent (rows of one request with one key add up).
    let mut stored: HashMap<ValueKey, i128> = HashMap::new();
    for o in all.rows.iter() {
        *stored.entry(value_key(o)).or_default() += o.value;
    }
    let mut sent: std::collections::BTreeMap<ValueKey, i128> = Default::default();
    for o in &rows {
        *sent.entry(value_key(o)).or_default() += o.value;
    }
    let clashes: Vec<String> = sent
        .iter()
        .filter_map(|(k, v)| {
            let old = stored.get(k).filter(|old| *old != v)?;
            let o = rows.iter().find(|o| &value_key(o) == k)?;
            Some(format!(
                "{} {} {} (source {:?}): stored {}, sent {}; a stored value is neither added to nor replaced (an additional value needs its own source)",
                entity(o),
                o.component.code(),
                period(o.period),
                o.source,
                micro_text(*old),
                micro_text(*v)
            ))
        })
        .collect();
    if !clashes.is_empty() {
        return Err(conflict(clashes, "already stored with another value"));
    }
    let received = rows.len();
    rows.retain(|o| !stored.contains_key(&value_key(o)));
    let unchanged = received - rows.len();
    if rows.is_empty() {
        return Ok(Added { total: all.rows.len(), added: 0, unchanged, done: None });
    }
    let serialise = |o: &indicators::Observation| {
        let (org, fac) = match &o.facility {
            Some(f) => (String::new(), f.clone()),
            None => (m.monitor.orgs.org(o.org).code.clone(), String::new()),
        };
        format!(
            "{org},{fac},{},{},{},{}\n",
            period(o.period),
            o.component.code(),
            micro_text(o.value),
            stored_source(&o.source)
        )
    };
    let mut text = String::from("org_code,facility_code,period,component,value,source\n");
    for o in all.rows.iter().chain(rows.iter()) {
        text.push_str(&serialise(o));
    }
    let merged = Observations::read_csv(text.as_bytes(), &m.monitor.orgs, |c| m.facility_org.get(c).copied())
        .map_err(|errs| invalid_rows(&errs))?;
    let done = Some(write_document(store, store::documents::INDICATOR_DATA, &text, |c| commit(c, &rows))?);
    *all = merged;
    Ok(Added { total: all.rows.len(), added: rows.len(), unchanged, done })
}
