//! Monitoring and indicators as a platform service: the monitoring state over the `monitor` crate
//! (built from the store's orgs, facilities and platform documents: meter registry, alert rules,
//! indicator data, targets, alert state), rebuilt without a restart when meters or reference data
//! change; telemetry batches, alerts, indicators, targets and the scoreboard, each change with its
//! audit entry in the same transaction. Scope checks for what a request does not name (meters in a
//! batch, alert subjects, stream events) go through [`Actor::within`].

use crate::error::{Error, Kind, Result};
use crate::{Actor, Platform};
use indicators::{Observations, Override, TargetSet};
use monitor::{LiveEvent, Monitor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use store::reference::Org;

pub struct Monitoring {
    pub monitor: Arc<Monitor>,
    /// Org code → path (for `Actor::within`), from the store at start.
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
    /// The store the feeds read (snapshots, business filings, attributes: `feeds`).
    store: Arc<store::Store>,
    /// The feeds as last read, with the fingerprint of the store they were read at.
    fed: Mutex<Option<(String, Arc<crate::feeds::Fed>)>>,
}

/// What a disclosure report reads of an org's subtree: its targets with their progress, and the
/// year's observations ([`Monitoring::report_inputs`]).
pub type ReportInputs = (Vec<(indicators::Target, indicators::Progress)>, Vec<indicators::Observation>);

/// The webhook targets (`DUALCARBON_WEBHOOKS`, comma-separated `http://` URLs): alert events and
/// filing reminders are posted to them.
/// The reading log's folder in the data directory: `readings`; in a cluster, where the stream is
/// the reading log, `readings-cluster` (a copy of this instance's, emptied at start:
/// [`cluster_readings`]).
fn readings_dir() -> &'static str {
    if CLUSTER_READINGS.get().is_some() {
        "readings-cluster"
    } else {
        "readings"
    }
}

static CLUSTER_READINGS: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// Cluster mode: the telemetry stream is the reading log; the local one (`readings-cluster`) is
/// emptied now, before monitoring attaches, so the state comes from the stream alone.
pub fn cluster_readings(data_dir: &std::path::Path) {
    let _ = CLUSTER_READINGS.set(());
    let _ = std::fs::remove_dir_all(data_dir.join("readings-cluster"));
}

pub fn webhook_urls() -> std::result::Result<Vec<monitor::webhook::WebhookUrl>, String> {
    std::env::var("DUALCARBON_WEBHOOKS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|u| monitor::webhook::WebhookUrl::parse(u.trim()))
        .collect()
}

/// The receiver's clock, epoch milliseconds (what readings' timestamps are checked against).
pub fn now_ms() -> i64 {
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
fn setup(store: &store::Store) -> std::result::Result<Option<Setup>, String> {
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
    store: Arc<store::Store>,
    s: Setup,
    monitor: Arc<Monitor>,
    alert_state: Arc<Mutex<()>>,
    webhooks: Option<Arc<Mutex<Vec<monitor::webhook::Delivery>>>>,
    mqtt: Option<Arc<monitor::mqtt::Subscription>>,
) -> std::result::Result<Arc<Monitoring>, String> {
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
        store,
        fed: Mutex::new(None),
    }))
}

/// Builds the monitoring state from the store's orgs and facilities and its platform documents
/// (meter registry, alert rules, indicator data, targets, alert state; a data directory of an
/// earlier release has its files imported first, see [`document`]), replays `DATA_DIR/readings/`
/// (the reading log), and starts webhook delivery (`DUALCARBON_WEBHOOKS`, comma-separated `http://`
/// URLs) and the silence check, and the MQTT subscription (`DUALCARBON_MQTT=HOST:PORT/TOPIC-FILTER`,
/// e.g. `127.0.0.1:1883/dualcarbon/readings/#`). Returns `Ok(None)` without a meter registry; the
/// first meters posted over the API then attach it ([`reload`]).
pub fn attach(
    platform: &Arc<Platform>,
    data_dir: &std::path::Path,
) -> std::result::Result<Option<Arc<Monitoring>>, String> {
    let store = &platform.store;
    let _ = platform.monitoring_dir.set(data_dir.to_path_buf());
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
        Monitor::open(s.registry.clone(), s.tree.clone(), metered, s.rules.clone(), &data_dir.join(readings_dir()))
            .map_err(|e| format!("reading log: {e}"))?;
    tracing::info!(readings = recovered.readings, truncated = recovered.truncated_bytes, "reading log replayed");
    let monitor = Arc::new(monitor);
    // In a cluster this instance acts outside only once it leads (`stream`): not while it replays.
    if CLUSTER_READINGS.get().is_some() {
        monitor.set_effects(false);
        // The local log is a copy emptied at start; JetStream is the durable log: no sync per entry.
        monitor.set_log_sync(false);
        // A partition's alerts are evaluated wherever it is applied: the same alert, the same id.
        monitor.set_ids_by_identity(true);
    }
    // The alerts of the last run (open, acknowledged, resolved), kept in the database.
    // (In a cluster the alerts come from the telemetry stream, the same on every instance.)
    if let Some(text) = store
        .document(store::documents::ALERT_STATE)
        .map_err(|e| format!("alert state: {e}"))?
        .filter(|_| CLUSTER_READINGS.get().is_none())
    {
        let kept: Vec<alerts::Alert> = serde_json::from_str(&text).map_err(|e| format!("alert state: {e}"))?;
        monitor.restore_alerts(kept);
    }
    monitor.watch_all_meters(now_ms());
    let alert_state = Arc::new(Mutex::new(()));
    {
        // Alerts the data opens or resolves (readings, the silence check) are kept as they change.
        // The channel is shared with the monitors that take over (`Monitor::successor`).
        // The thread holds the monitor weakly: when the last monitor goes, the channel closes and
        // the thread ends, releasing the store (a strong hold kept both, and a PostgreSQL pool,
        // alive for ever).
        let (weak, store, lock) = (Arc::downgrade(&monitor), platform.store.clone(), alert_state.clone());
        let mut events = monitor.subscribe();
        let acting = monitor.acting();
        std::thread::spawn(move || loop {
            let event = events.blocking_recv();
            match event {
                Ok(LiveEvent::Alert { .. }) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let Some(monitor) = weak.upgrade() else { break };
                    // In a cluster, only the owner of the alert's facility (else the leader) stores
                    // the alert state (every instance has the same).
                    let acts = match &event {
                        Ok(LiveEvent::Alert { event }) => acting.acts_on(&event.alert.subject),
                        _ => monitor.effects(),
                    };
                    // In a cluster no instance holds every alert: the stream keeps them.
                    if !acts || CLUSTER_READINGS.get().is_some() {
                        continue;
                    }
                    if let Err(e) = save_alert_state(&store, &monitor, &lock, None) {
                        tracing::error!(error = %e.message, "keeping the alert state failed");
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        });
    }
    let urls = webhook_urls()?;
    let webhooks = (!urls.is_empty()).then(|| monitor::webhook::spawn(&monitor, urls));
    let tick = Arc::downgrade(&monitor);
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let Some(monitor) = tick.upgrade() else { break };
        // In a cluster the silence check is an entry of the telemetry stream (`stream`).
        if crate::stream::current().is_none() {
            monitor.tick(now_ms());
        }
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
    let m = assemble(platform.store.clone(), s, monitor, alert_state, webhooks, mqtt)?;
    *platform.monitoring.write().unwrap() = Some(m.clone());
    Ok(Some(m))
}

/// Makes monitoring follow the store after a change of meters or reference data, without a
/// restart: a new monitoring state over a successor of the running monitor (the same reading log,
/// event stream, alerts, webhooks and MQTT subscription; `Monitor::successor`), with the org tree,
/// facilities and meter registry read again, and indicator data and targets read against them.
/// Attaches monitoring when the first meters arrive. A change of targets or indicator data waits
/// for the reload (and the reload for it). Blocking.
pub fn reload(platform: &Arc<Platform>) -> std::result::Result<(), String> {
    let _one = platform.monitoring_reload.lock().unwrap_or_else(|e| e.into_inner());
    let current = platform.monitoring.read().unwrap().clone();
    let Some(old) = current else {
        return match platform.monitoring_dir.get() {
            Some(dir) => attach(platform, &dir.clone()).map(|_| ()),
            None => Ok(()),
        };
    };
    let _edits = old.edits.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = setup(&platform.store)? else { return Ok(()) };
    let monitor = old.monitor.successor(s.registry.clone(), s.tree.clone(), s.facility_org.clone(), now_ms());
    let m =
        assemble(platform.store.clone(), s, monitor, old.alert_state.clone(), old.webhooks.clone(), old.mqtt.clone())?;
    *platform.monitoring.write().unwrap() = Some(m);
    old.retired.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// [`reload`] after a committed change: a failure is logged (the change stands; the next reload or
/// a restart applies it).
pub fn reload_after_change(platform: &Arc<Platform>) {
    if let Err(e) = reload(platform) {
        tracing::error!(error = %e, "monitoring could not follow a change of meters or reference data");
    }
}

/// The registry text with `body`'s rows added or replacing the rows of the same `meter_code`
/// (columns: the union of both headers, in the registry's order then the body's new ones), and
/// the codes added and changed.
fn merge_meters(current: Option<&str>, body: &str) -> std::result::Result<(String, Vec<String>, Vec<String>), String> {
    type Rows = (Vec<String>, Vec<std::collections::BTreeMap<String, String>>);
    let read = |text: &str| -> std::result::Result<Rows, String> {
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
    fn still_current(&self) -> Result<()> {
        if self.retired.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::new(
                Kind::Unavailable,
                "reconfigured",
                "monitoring was reconfigured while the change waited: send it again",
            ));
        }
        Ok(())
    }
}

pub fn mon(platform: &Platform) -> Result<Arc<Monitoring>> {
    platform.monitoring.read().unwrap().clone().ok_or_else(|| {
        Error::new(
            Kind::Unavailable,
            "monitoring_off",
            "monitoring is not configured: put meters.csv in the data directory and restart",
        )
    })
}

impl Monitoring {
    /// The feeds (`crate::feeds`), read again when the store changed since they were read.
    pub fn fed(&self) -> Result<Arc<crate::feeds::Fed>> {
        let now = crate::feeds::fingerprint(&self.store)?;
        let mut cached = self.fed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, fed)) = cached.as_ref() {
            if *key == now {
                return Ok(fed.clone());
            }
        }
        let fed = Arc::new(crate::feeds::read(&self.store, &self.monitor.orgs)?);
        *cached = Some((now, fed.clone()));
        Ok(fed)
    }

    /// The values indicators are computed from for `years`: stored indicator data (hand entries,
    /// saving runs), the data centres' metered energy (a reported value wins), the "new" subsets
    /// of those by facility attributes, and the feeds (snapshots, business data, attribute
    /// counts), which override hand entries of the same org, year and component (returned).
    fn observations_with_overridden(
        &self,
        years: std::ops::RangeInclusive<i32>,
    ) -> Result<(Observations, Vec<indicators::Observation>)> {
        let mut obs = self.observations.read().unwrap().clone();
        match crate::stream::current() {
            // In a cluster each partition's metered energy is with the instance that applies it.
            Some(s) => {
                let q = crate::stream::Query::MeterComponents { from_year: *years.start(), to_year: *years.end() };
                for part in s.gather(&q, &all_partitions())? {
                    let rows: Vec<MeterRow> =
                        serde_json::from_value(part).map_err(|e| Error::internal(e.to_string()))?;
                    for r in rows {
                        let component = indicators::Component::parse(&r.component)
                            .ok_or_else(|| Error::internal(format!("component {:?}", r.component)))?;
                        let value = r.value.parse().map_err(|_| Error::internal(format!("value {:?}", r.value)))?;
                        let o = indicators::Observation {
                            org: r.org,
                            facility: Some(r.facility),
                            period: indicators::PeriodKey { year: r.year, month: r.month },
                            component,
                            value,
                            source: r.source,
                        };
                        // A reported value of the same facility and year wins, as in one process.
                        let _ = obs.add_derived(o);
                    }
                }
            }
            None => self.monitor.with_telemetry(|t| {
                for year in years.clone() {
                    monitor::add_meter_components(t, year, |f| self.data_centres.get(f).copied(), &mut obs);
                }
            }),
        }
        let fed = self.fed()?;
        let mut rows: Vec<indicators::Observation> =
            fed.rows.iter().filter(|o| years.contains(&o.period.year)).cloned().collect();
        rows.extend(crate::feeds::new_subsets(&fed, &obs.rows));
        let overridden = obs.feed(rows);
        Ok((obs, overridden))
    }

    fn observations(&self, years: std::ops::RangeInclusive<i32>) -> Result<Observations> {
        Ok(self.observations_with_overridden(years)?.0)
    }

    pub fn org_within(&self, actor: &Actor, org_code: &str) -> bool {
        self.org_paths.get(org_code).is_some_and(|p| actor.within(p))
    }
    pub fn facility_within(&self, actor: &Actor, facility: &str) -> bool {
        self.facility_org.get(facility).is_some_and(|&o| self.org_within(actor, &self.monitor.orgs.org(o).code))
    }
    pub fn subject_within(&self, actor: &Actor, subject: &str) -> bool {
        if let Some(f) = subject.strip_prefix("facility:") {
            return self.facility_within(actor, f);
        }
        if let Some(m) = subject.strip_prefix("meter:") {
            let fac =
                self.monitor.with_telemetry(|t| t.registry.get(m).map(|id| t.registry.meter(id).facility.clone()));
            return fac.is_some_and(|f| self.facility_within(actor, &f));
        }
        subject.strip_prefix("org:").is_some_and(|o| self.org_within(actor, o))
    }
    /// Where an alert's subject is: its facility (a facility, or a meter's facility) and the org
    /// it belongs to (`None` where unknown), so a console can link an alert to its facility page.
    pub fn subject_place(&self, subject: &str) -> (Option<String>, Option<String>) {
        let facility = if let Some(f) = subject.strip_prefix("facility:") {
            Some(f.to_string())
        } else if let Some(m) = subject.strip_prefix("meter:") {
            self.monitor.with_telemetry(|t| t.registry.get(m).map(|id| t.registry.meter(id).facility.clone()))
        } else {
            None
        };
        let org = match &facility {
            Some(f) => self.facility_org.get(f.as_str()).map(|&o| self.monitor.orgs.org(o).code.clone()),
            None => subject.strip_prefix("org:").map(str::to_string),
        };
        (facility, org)
    }
    pub fn event_within(&self, actor: &Actor, e: &LiveEvent) -> bool {
        match e {
            // A batch names its source (who sent it) and counts: only for those who may see every
            // org it touched.
            LiveEvent::Batch { orgs, .. } => !orgs.is_empty() && orgs.iter().all(|o| self.org_within(actor, o)),
            LiveEvent::Facility { facility, .. } => self.facility_within(actor, facility),
            LiveEvent::Org { org, .. } => self.org_within(actor, org),
            LiveEvent::Alert { event } => self.subject_within(actor, &event.alert.subject),
        }
    }
}

/// One alert of the caller's subtree changed by `action` (who, when); an alert outside the subtree
/// is not found, a change its state does not allow is a conflict. The alert state is stored with
/// the change's audit entry in one transaction. Blocking.
pub fn alert_action(
    platform: &Platform,
    actor: &Actor,
    id: u64,
    action: fn(&Monitor, u64, &str, i64) -> std::result::Result<alerts::Event, String>,
    audit_action: &str,
) -> Result<Value> {
    let m = mon(platform)?;
    let alert = m
        .all_alerts(None)?
        .into_iter()
        .find(|a| a.id == id && m.subject_within(actor, &a.subject))
        .ok_or_else(|| Error::not_found(format!("no alert {id} in your subtree")))?;
    // In a cluster the change is an entry of its subject's partition, applied where the partition
    // is (now and by whoever takes it over).
    let e = match crate::stream::current() {
        Some(s) => {
            let partition = crate::stream::alert_partition(&m.monitor, &alert.subject);
            s.alert_action(alert.id, partition, &actor.username, now_ms(), audit_action.ends_with("resolve"))?
        }
        None => action(&m.monitor, alert.id, &actor.username, now_ms()),
    }
    .map_err(|e| Error::new(Kind::Conflict, "conflict", e))?;
    let change = store::audit::Change {
        actor: &actor.username,
        action: audit_action,
        entity: format!("alert:{}", e.alert.id),
        org_code: &actor.org_code,
        before: json!({"state": alert.state}),
        after: json!({"state": e.alert.state, "rule": e.alert.rule, "subject": e.alert.subject}),
    };
    if crate::stream::current().is_some() {
        // In a cluster the alerts' state is the telemetry stream's (no instance holds them all).
        let kind = platform.store.kind();
        platform.store.tx(|c| store::audit::append(c, kind, change).map(|_| ()))?;
    } else {
        save_alert_state(&platform.store, &m.monitor, &m.alert_state, Some(change))?;
    }
    Ok(json!({"alert": e.alert}))
}

/// Stores the monitor's alerts (every state) as the `alert-state.json` document, with `change`'s
/// audit entry in the same transaction when a user made the change. Blocking.
fn save_alert_state(
    store: &store::Store,
    monitor: &Monitor,
    lock: &Mutex<()>,
    change: Option<store::audit::Change<'_>>,
) -> Result<()> {
    let _one = lock.lock().unwrap_or_else(|e| e.into_inner());
    let text = serde_json::to_string(&monitor.alerts(None)).map_err(|e| Error::internal(e.to_string()))?;
    let kind = store.kind();
    Ok(store.tx(|c| {
        if let Some(change) = change {
            store::audit::append(c, kind, change)?;
        }
        store::documents::put(c, store::documents::ALERT_STATE, &text)
    })?)
}

/// A data centre's metered energy of a month as it travels between cluster instances.
#[derive(Serialize, Deserialize)]
struct MeterRow {
    org: u32,
    facility: String,
    year: i32,
    month: u8,
    component: String,
    /// Micro-units as decimal text (an `i128`).
    value: String,
    source: String,
}

/// A quarter-hour kept in PostgreSQL as a cell (its energy in mWh, its known share in ms, its
/// flags), as the live series gives it.
fn kept_cell(k: &store::cluster::Quarter) -> telemetry::series::Cell {
    use telemetry::series::flag;
    let kwh: f64 = k.energy_kwh.parse().unwrap_or(0.0);
    let coverage: f64 = k.coverage.parse().unwrap_or(0.0);
    let flags = k.flags.split(',').fold(0u8, |f, name| {
        f | match name {
            "split" => flag::SPLIT,
            "gap" => flag::GAP,
            "rollover" => flag::ROLLOVER,
            "reset" => flag::RESET,
            "missing" => flag::MISSING,
            _ => 0,
        }
    });
    telemetry::series::Cell {
        energy_mwh: (kwh * telemetry::series::MWH_PER_KWH).round() as i64,
        covered_ms: (coverage * telemetry::time::QUARTER_MS as f64).round() as i64,
        missing_ms: 0,
        flags,
    }
}

/// Every partition of facilities.
fn all_partitions() -> Vec<usize> {
    (0..crate::stream::PARTITIONS).collect()
}

/// A batch into monitoring: through the reading log of this process, or in a cluster through the
/// telemetry stream (`stream`: acknowledged once JetStream stored it). Blocking.
pub fn ingest_readings(
    monitor: &Monitor,
    raw: &[telemetry::RawReading],
    now_ms: i64,
    source: &str,
) -> Result<telemetry::IngestReport> {
    match crate::stream::current() {
        Some(s) => s.ingest(monitor, raw, now_ms, source),
        None => monitor.ingest(raw, now_ms, source).map_err(|e| Error::internal(format!("reading log: {e}"))),
    }
}

pub fn org_id(m: &Monitoring, code: &str) -> Result<u32> {
    m.monitor.orgs.get(code).ok_or_else(|| Error::not_found(format!("no org {code:?}")))
}

/// Replaces the platform document `name` (a `store::documents` name, e.g. `targets.toml`) by
/// `text` in the store transaction that appends its audit entry (`change`): the document and the
/// audit log change together or not at all. Blocking. Returns what `change` returns (the entry's
/// sequence number).
pub fn write_document<T>(
    store: &store::Store,
    name: &str,
    text: &str,
    change: impl FnOnce(&mut dyn store::Conn) -> store::Result<T>,
) -> Result<T> {
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
pub fn document(
    store: &store::Store,
    data_dir: &std::path::Path,
    name: &str,
) -> std::result::Result<Option<String>, String> {
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

fn invalid_rows(errs: &[indicators::values::DataError]) -> Error {
    Error::new(Kind::Invalid, "invalid", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))
}

/// How new indicator rows meet the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Rows add to what is stored (several bills of a period add up); a component given for a whole
    /// year and for months of it by the same org or facility is refused (it would count twice).
    Add,
    /// Also refused: a row for a component that its org or facility already has for the same or an
    /// overlapping period (a measured result is recorded once, never added to a previous one).
    Once,
}

impl Monitoring {
    /// The org id (in the monitoring org tree) of a facility of the store, as of start.
    pub fn facility_org_id(&self, facility: &str) -> Option<u32> {
        self.facility_org.get(facility).copied()
    }
    /// The measured results of scenario measures in the subtree of `org` (an org code), from the
    /// stored indicator data; `None` for an org the monitoring tree does not know.
    pub fn measured(&self, org: &str) -> Option<Vec<indicators::MeasuredResult>> {
        let id = self.monitor.orgs.get(org)?;
        Some(indicators::measured(&self.observations.read().unwrap(), &self.monitor.orgs, id))
    }
}

/// What [`add_observations`] did.
pub struct Added<T> {
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
pub fn add_observations<T>(
    store: &store::Store,
    m: &Monitoring,
    actor: &Actor,
    mut rows: Vec<indicators::Observation>,
    merge: Merge,
    commit: impl FnOnce(&mut dyn store::Conn, &[indicators::Observation]) -> store::Result<T>,
) -> Result<Added<T>> {
    if let Some(o) = rows.iter().find(|o| !m.org_within(actor, &m.monitor.orgs.org(o.org).code)) {
        return Err(Error::out_of_scope(&format!("org {}", m.monitor.orgs.org(o.org).code)));
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
        let mut e = Error::new(
            Kind::Conflict,
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

/// The registered meters of the facilities within `org_path`.
pub fn meters_within(store: &store::Store, org_path: &str) -> Result<Vec<telemetry::Meter>> {
    let mine: std::collections::HashSet<String> =
        store.facilities_within(org_path)?.into_iter().map(|f| f.code).collect();
    let registry = match store.document(store::documents::METERS)? {
        Some(t) => telemetry::MeterRegistry::read(t.as_bytes(), |_| true)
            .map_err(|_| Error::internal("the stored meter registry does not read"))?,
        None => telemetry::MeterRegistry::default(),
    };
    Ok(registry.meters.into_iter().filter(|m| mine.contains(&m.facility)).collect())
}

/// The audit action of a change of the meter registry.
pub const METERS_ACTION: &str = "reference.meters";

/// meters.csv rows (header and columns as docs/monitoring.md) added to the registry or replacing
/// the meter of the same code; every row checked by the registry's rules
/// (`telemetry::MeterRegistry`: 422 `invalid_meters`, every problem) against the platform's
/// facilities, each facility within the actor's subtree (403 `out_of_scope`). The registry and
/// its audit entry (`reference.meters`: codes added and changed, the body's SHA-256) are stored in
/// one transaction, then monitoring follows without a restart ([`reload`]). Rows equal to the
/// registered meter change nothing (`unchanged`). Blocking.
pub fn add_meters(platform: &Arc<Platform>, actor: &Actor, body: &str) -> Result<Value> {
    let store = &platform.store;
    let invalid = |errs: Vec<telemetry::meter::RegistryError>| {
        Error::problems("invalid_meters", "the meters", errs.iter().map(|e| e.to_string()).collect())
    };
    let all: std::collections::HashSet<String> = store.facilities_within("/")?.into_iter().map(|f| f.code).collect();
    let sent = telemetry::MeterRegistry::read(body.as_bytes(), |f| all.contains(f)).map_err(invalid)?;
    let mine: std::collections::HashSet<String> =
        store.facilities_within(&actor.org_path)?.into_iter().map(|f| f.code).collect();
    if let Some(m) = sent.meters.iter().find(|m| !mine.contains(&m.facility)) {
        return Err(Error::out_of_scope(&format!("facility {} of meter {}", m.facility, m.code)));
    }
    // One registry change at a time, and none while monitoring reloads.
    let one = platform.monitoring_reload.lock().unwrap_or_else(|e| e.into_inner());
    let current = store.document(store::documents::METERS)?;
    let (text, added, changed) = merge_meters(current.as_deref(), body).map_err(Error::bad_request)?;
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
                    actor: &actor.username,
                    action: METERS_ACTION,
                    entity: format!("meters:{}", &sha[..16]),
                    org_code: &actor.org_code,
                    before: Value::Null,
                    after: json!({"added": added, "changed": changed, "body_sha256": sha}),
                },
            )?;
            store::documents::put(c, store::documents::METERS, &text)?;
            Ok(seq)
        })?);
    }
    drop(one);
    if seq.is_some() {
        reload(platform).map_err(|e| {
            tracing::error!(error = %e, "monitoring could not follow the meter registry");
            Error::internal("the meters are stored; monitoring could not follow them (see the log)")
        })?;
    }
    Ok(json!({
        "received": sent.len(),
        "added": added,
        "changed": changed,
        "unchanged": unchanged,
        "meters": merged.len(),
        "audit_seq": seq,
    }))
}

impl Monitoring {
    /// A telemetry batch of `actor` (`source` names the sender): readings of meters outside the
    /// actor's subtree are rejected with that reason, the others go through the monitor (reading
    /// log, then memory); `parse_errors` are the lines that did not parse. Problems keep the
    /// batch's line numbers. Blocking.
    pub fn ingest_batch(
        &self,
        actor: &Actor,
        source: &str,
        raw: Vec<telemetry::RawReading>,
        parse_errors: Vec<telemetry::BatchError>,
    ) -> Result<telemetry::IngestReport> {
        let mut allowed = Vec::with_capacity(raw.len());
        let mut positions = Vec::with_capacity(raw.len());
        let mut out_of_scope = Vec::new();
        self.monitor.with_telemetry(|t| {
            for (i, r) in raw.iter().enumerate() {
                let fac = t.registry.get(&r.meter).map(|id| t.registry.meter(id).facility.clone());
                match fac {
                    Some(f) if !self.facility_within(actor, &f) => out_of_scope.push(telemetry::BatchError {
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
        let mut report = ingest_readings(&self.monitor, &allowed, now_ms(), source)?;
        for p in &mut report.problems {
            p.line = positions.get(p.line - 1).map_or(p.line, |&i| i + 1);
        }
        report.received += out_of_scope.len() + parse_errors.len();
        report.rejected += out_of_scope.len() + parse_errors.len();
        report.problems.extend(out_of_scope);
        report.problems.extend(parse_errors);
        report.problems.sort_by_key(|p| p.line);
        Ok(report)
    }

    /// Live power and PUE of org `code` and of each metered facility below it. Blocking.
    pub fn realtime(&self, code: &str) -> Result<Value> {
        let org = self.monitor.orgs.get(code).ok_or_else(|| Error::not_found(format!("no org {code:?}")))?;
        if let Some(s) = crate::stream::current() {
            // Each facility's live state is with the instance that applies its partition; the org's
            // sum is taken here, over the facilities in code order (as `Monitor::org_live`).
            let mut facilities: Vec<(String, monitor::Live)> = Vec::new();
            for part in s.gather(&crate::stream::Query::Live { org: code.to_string() }, &all_partitions())? {
                let lives: Vec<(String, monitor::Live)> =
                    serde_json::from_value(part).map_err(|e| Error::internal(e.to_string()))?;
                facilities.extend(lives);
            }
            facilities.sort_by(|a, b| a.0.cmp(&b.0));
            let live = monitor::sum_live(facilities.iter().map(|(_, l)| l));
            let facilities: Vec<Value> = facilities.iter().map(|(f, l)| json!({"facility": f, "live": l})).collect();
            return Ok(json!({"org": code, "live": live, "facilities": facilities}));
        }
        let facilities: Vec<Value> = self
            .monitor
            .with_telemetry(|t| t.by_facility.keys().cloned().collect::<Vec<_>>())
            .into_iter()
            .filter(|f| self.monitor.facility_org(f).is_some_and(|o| self.monitor.orgs.is_within(o, org)))
            .map(|f| json!({"facility": f, "live": self.monitor.facility_live(&f)}))
            .collect();
        Ok(json!({"org": code, "live": self.monitor.org_live(code), "facilities": facilities}))
    }

    /// The alerts (in `state`, or all) whose subject is within the actor's subtree, with the
    /// webhook deliveries and the MQTT subscription's counters.
    pub fn alerts_within(&self, actor: &Actor, state: Option<alerts::State>) -> Result<Value> {
        let list: Vec<Value> = self
            .all_alerts(state)?
            .into_iter()
            .filter(|a| self.subject_within(actor, &a.subject))
            .map(|a| {
                let (facility, org) = self.subject_place(&a.subject);
                let mut v = json!(a);
                v["facility"] = json!(facility);
                v["org_code"] = json!(org);
                v
            })
            .collect();
        let deliveries = self.webhooks.as_ref().map(|w| w.lock().map(|d| d.clone()).unwrap_or_default());
        let mqtt = self.mqtt.as_ref().map(|s| s.stats.lock().map(|x| x.clone()).unwrap_or_default());
        Ok(json!({"alerts": list, "webhook_deliveries": deliveries, "mqtt": mqtt}))
    }

    /// Every alert (in `state`), newest first: in a cluster gathered from the instances that
    /// apply the partitions of their subjects. Blocking.
    pub fn all_alerts(&self, state: Option<alerts::State>) -> Result<Vec<alerts::Alert>> {
        let Some(s) = crate::stream::current() else { return Ok(self.monitor.alerts(state)) };
        let mut all: Vec<alerts::Alert> = Vec::new();
        for part in s.gather(&crate::stream::Query::Alerts, &all_partitions())? {
            let list: Vec<alerts::Alert> = serde_json::from_value(part).map_err(|e| Error::internal(e.to_string()))?;
            all.extend(list.into_iter().filter(|a| state.is_none_or(|st| a.state == st)));
        }
        all.sort_by(|a, b| b.opened_ms.cmp(&a.opened_ms).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// Energy roll-up of a facility's meters with `role` (rows as the API shows them), `None`
    /// when it meters no such role; in a cluster from the instance that applies its partition.
    /// Blocking.
    pub fn rollup(
        &self,
        facility: &str,
        role: telemetry::Role,
        period: telemetry::Period,
        from: i64,
        to: i64,
    ) -> Result<Option<Value>> {
        match crate::stream::current() {
            Some(s) => {
                let q = crate::stream::Query::Rollup {
                    facility: facility.to_string(),
                    role: role.code().to_string(),
                    period: period.code().to_string(),
                    from,
                    to,
                };
                let part = s.gather(&q, &[crate::stream::partition_of(facility)])?;
                let Some(live) = part.into_iter().next().filter(|v| !v.is_null()) else { return Ok(None) };
                let live: Vec<(i64, i64, i64, i64, u8)> =
                    serde_json::from_value(live).map_err(|e| Error::internal(e.to_string()))?;
                let mut quarters: std::collections::BTreeMap<i64, telemetry::series::Cell> = live
                    .into_iter()
                    .map(|(start, energy_mwh, covered_ms, missing_ms, flags)| {
                        (start, telemetry::series::Cell { energy_mwh, covered_ms, missing_ms, flags })
                    })
                    .collect();
                // Before the owner's raw readings begin (older than the stream's window), the
                // quarter-hours kept in PostgreSQL.
                let first_live = quarters.keys().next().copied().unwrap_or(i64::MAX);
                for k in self.store.quarters_between(facility, role.code(), from, first_live.min(to))? {
                    quarters.insert(k.start_ms, kept_cell(&k));
                }
                let cells = telemetry::rollup::roll(&quarters, period);
                Ok(Some(json!(telemetry::rollup::rows(&cells, period))))
            }
            None => Ok(self.monitor.rollup(facility, role, period, from, to).map(|rows| json!(rows))),
        }
    }

    /// The answers to a cluster's question (`stream::Query`) for the partitions `parts` applied
    /// here, one per partition (empty or null where it has nothing), computed in one pass.
    pub(crate) fn answer(&self, q: &crate::stream::Query, parts: &[usize]) -> Vec<(usize, Value)> {
        use crate::stream::{alert_partition, partition_of, Query};
        let ours = |f: &str| parts.contains(&partition_of(f));
        // Items of one partition each, grouped: every partition asked answers, empty when it has none.
        let grouped = |items: Vec<(usize, Value)>| -> Vec<(usize, Value)> {
            let mut by: std::collections::BTreeMap<usize, Vec<Value>> =
                parts.iter().map(|&p| (p, Vec::new())).collect();
            for (p, v) in items {
                if let Some(list) = by.get_mut(&p) {
                    list.push(v);
                }
            }
            by.into_iter().map(|(p, list)| (p, Value::Array(list))).collect()
        };
        // One facility's answer, from its partition; the others answer null.
        let single = |facility: &str, value: Value| -> Vec<(usize, Value)> {
            let own = partition_of(facility);
            parts.iter().map(|&p| (p, if p == own { value.clone() } else { Value::Null })).collect()
        };
        match q {
            Query::Live { org } => {
                let Some(org) = self.monitor.orgs.get(org) else { return grouped(Vec::new()) };
                let lives = self
                    .monitor
                    .with_telemetry(|t| t.by_facility.keys().filter(|f| ours(f)).cloned().collect::<Vec<_>>())
                    .into_iter()
                    .filter(|f| self.monitor.facility_org(f).is_some_and(|o| self.monitor.orgs.is_within(o, org)))
                    .filter_map(|f| self.monitor.facility_live(&f).map(|l| (partition_of(&f), json!((f, l)))))
                    .collect();
                grouped(lives)
            }
            // The facility's quarter cells (the asker adds the kept ones and rolls them up).
            Query::Rollup { facility, role, from, to, .. } => {
                let cells = telemetry::Role::parse(role).filter(|_| ours(facility)).and_then(|role| {
                    self.monitor
                        .with_telemetry(|t| t.facility_energy(facility, role, telemetry::Period::Quarter, *from, *to))
                });
                let value = cells.map_or(Value::Null, |cells| {
                    json!(cells
                        .iter()
                        .map(|(s, c)| (s, c.energy_mwh, c.covered_ms, c.missing_ms, c.flags))
                        .collect::<Vec<_>>())
                });
                single(facility, value)
            }
            Query::Alerts => grouped(
                self.monitor
                    .alerts(None)
                    .into_iter()
                    .map(|a| (alert_partition(&self.monitor, &a.subject), json!(a)))
                    .collect(),
            ),
            Query::Site { facility, hours } => {
                let value = if ours(facility) { crate::site::state_here(self, facility, *hours) } else { Value::Null };
                single(facility, value)
            }
            Query::Sites { org } => grouped(
                crate::site::sites_here(self, org, &ours)
                    .into_iter()
                    .map(|v| (partition_of(v["facility"].as_str().unwrap_or_default()), v))
                    .collect(),
            ),
            Query::MeterComponents { from_year, to_year } => {
                let mut obs = indicators::Observations::default();
                self.monitor.with_telemetry(|t| {
                    for year in *from_year..=*to_year {
                        monitor::add_meter_components(
                            t,
                            year,
                            |f| self.data_centres.get(f).copied().filter(|_| ours(f)),
                            &mut obs,
                        );
                    }
                });
                let rows = obs
                    .rows
                    .into_iter()
                    .filter_map(|o| {
                        let facility = o.facility?;
                        let part = partition_of(&facility);
                        let row = MeterRow {
                            org: o.org,
                            facility,
                            year: o.period.year,
                            month: o.period.month,
                            component: o.component.code().to_string(),
                            value: o.value.to_string(),
                            source: o.source,
                        };
                        Some((part, json!(row)))
                    })
                    .collect();
                grouped(rows)
            }
        }
    }

    /// Every indicator of org `code`'s subtree in `year` (ratios of sums).
    pub fn indicators_of(&self, code: &str, year: i32) -> Result<Value> {
        let id = org_id(self, code)?;
        let sums = self.observations(year..=year)?.rollup(&self.monitor.orgs, year, 0)[id as usize];
        let values: Vec<Value> = indicators::INDICATORS
            .iter()
            .map(|i| json!({"indicator": i.code, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit, "value": sums.indicator(i)}))
            .collect();
        Ok(json!({"org": code, "year": year, "indicators": values}))
    }

    /// The indicator components of org `code`'s subtree in `year` (sums over its orgs), each with
    /// whether any value was received; `None` for an org monitoring does not know.
    pub fn component_sums(&self, code: &str, year: i32) -> Option<indicators::Sums> {
        let id = self.monitor.orgs.get(code)?;
        Some(self.observations(year..=year).ok()?.rollup(&self.monitor.orgs, year, 0)[id as usize])
    }

    /// Org `code`'s resolved targets and its progress against them in `year`.
    pub fn targets_of(&self, code: &str, year: i32) -> Result<Value> {
        let id = org_id(self, code)?;
        let obs = self.observations(year - 10..=year)?;
        let set = self.targets.read().unwrap();
        let mut series = indicators::OrgSeries::new(&obs, &self.monitor.orgs);
        let resolved = set.resolve(&self.monitor.orgs, id);
        let progress: Vec<indicators::Progress> =
            resolved.iter().map(|t| indicators::evaluate(t, id, year, &mut series)).collect();
        let mut progress = serde_json::to_value(progress).map_err(|e| Error::internal(e.to_string()))?;
        add_sources(&mut progress, &SourceIndex::of(&obs, year), &self.monitor.orgs, id);
        Ok(json!({"org": code, "year": year, "set": set.set, "targets": resolved, "progress": progress}))
    }

    /// What a disclosure report reads of org `code`'s subtree in `year`: its resolved targets with
    /// their progress, and the year's observations of the org's subtree (hand entries, feeds).
    pub fn report_inputs(&self, code: &str, year: i32) -> Result<ReportInputs> {
        let id = org_id(self, code)?;
        let obs = self.observations(year - 10..=year)?;
        let set = self.targets.read().unwrap();
        let mut series = indicators::OrgSeries::new(&obs, &self.monitor.orgs);
        let targets: Vec<(indicators::Target, indicators::Progress)> = set
            .resolve(&self.monitor.orgs, id)
            .into_iter()
            .map(|t| {
                let p = indicators::evaluate(&t, id, year, &mut series);
                (t, p)
            })
            .collect();
        let tree = &self.monitor.orgs;
        let rows = obs.rows.iter().filter(|o| o.period.year == year && tree.is_within(o.org, id)).cloned().collect();
        Ok((targets, rows))
    }

    /// Org `code`'s children ranked against their targets in `year` (考核).
    pub fn scoreboard(&self, code: &str, year: i32) -> Result<Value> {
        let id = org_id(self, code)?;
        let obs = self.observations(year - 10..=year)?;
        let set = self.targets.read().unwrap();
        let rows = indicators::scoreboard(&set, &self.monitor.orgs, &obs, id, year);
        // Where each figure comes from: per child and target, the sources of its components.
        let index = SourceIndex::of(&obs, year);
        let tree = &self.monitor.orgs;
        let mut rows = serde_json::to_value(rows).map_err(|e| Error::internal(e.to_string()))?;
        for row in rows.as_array_mut().into_iter().flatten() {
            let Some(child) = row["org"].as_str().and_then(|c| tree.get(c)) else { continue };
            add_sources(&mut row["progress"], &index, tree, child);
        }
        Ok(json!({"org": code, "year": year, "rows": rows}))
    }

    /// One indicator of org `code`'s subtree in `year`: its definition, value, each component with
    /// its value and the sources it sums (a snapshot, a filing, meters, saving runs, attributes,
    /// hand entries), the hand entries a feed overrode, and its value by year (the ten years up to
    /// `year` with data).
    pub fn indicator_detail(&self, code: &str, indicator: &str, year: i32) -> Result<Value> {
        let id = org_id(self, code)?;
        let ind = indicators::indicator(indicator).ok_or_else(|| {
            Error::not_found(format!("no indicator {indicator:?} (GET /api/v1/indicators lists them)"))
        })?;
        let tree = &self.monitor.orgs;
        let (obs, overridden) = self.observations_with_overridden(year - 10..=year)?;
        let sums = obs.rollup(tree, year, 0)[id as usize];
        let index = SourceIndex::of(&obs, year);
        let comps: Vec<indicators::Component> = std::iter::once(ind.numerator).chain(ind.denominator).collect();
        let components: Vec<Value> = comps
            .iter()
            .map(|&c| {
                let list = index.sources(tree, id, c);
                json!({
                    "component": c.code(),
                    "unit": c.unit(),
                    "feed": c.feed(),
                    "value": sums.get(c).map(indicators::micro_to_f64),
                    "sources": list.iter().take(50).map(source_json).collect::<Vec<_>>(),
                    "more_sources": list.len().saturating_sub(50),
                })
            })
            .collect();
        let overridden: Vec<Value> = overridden
            .iter()
            .filter(|o| o.period.year == year && comps.contains(&o.component) && tree.is_within(o.org, id))
            .take(100)
            .map(|o| self.describe(o))
            .collect();
        let trend: Vec<Value> = obs
            .years()
            .into_iter()
            .filter(|y| (year - 10..=year).contains(y))
            .filter_map(|y| obs.rollup(tree, y, 0)[id as usize].indicator(ind).map(|v| json!({"year": y, "value": v})))
            .collect();
        Ok(json!({
            "org": code, "year": year, "indicator": ind, "value": sums.indicator(ind),
            "components": components, "overridden": overridden, "trend": trend,
        }))
    }
}

/// Adds to each progress entry (`progress`: a JSON array of `indicators::Progress`) the sources of
/// its indicator's components within `org`'s subtree (at most five each, and how many more).
fn add_sources(progress: &mut Value, index: &SourceIndex, tree: &model::OrgTree, org: u32) {
    for p in progress.as_array_mut().into_iter().flatten() {
        let Some(ind) = p["indicator"].as_str().and_then(indicators::indicator) else { continue };
        let comps = std::iter::once(ind.numerator).chain(ind.denominator);
        let sources: Vec<Value> = comps
            .map(|c| {
                let list = index.sources(tree, org, c);
                json!({"component": c.code(), "unit": c.unit(), "feed": c.feed(), "sources": list.iter().take(5).map(source_json).collect::<Vec<_>>(), "more": list.len().saturating_sub(5)})
            })
            .collect();
        p["sources"] = json!(sources);
    }
}

/// A source of indicator values, with what a console links it to: `snapshot` (id), `filing` (id),
/// `meters`, `saving_run`, `attributes` or `manual` (a hand entry; its text as given).
fn source_json(s: &(String, i128, usize)) -> Value {
    let (text, value, rows) = s;
    let (kind, id) = if let Some(id) = text.strip_prefix("snapshot:").and_then(|i| i.parse::<i64>().ok()) {
        ("snapshot", Some(id))
    } else if let Some(id) = text.strip_prefix("filing:").and_then(|i| i.parse::<i64>().ok()) {
        ("filing", Some(id))
    } else if text.starts_with("METER:") {
        ("meters", None)
    } else if text.starts_with("bs-saving") {
        ("saving_run", None)
    } else if text == "attributes" {
        ("attributes", None)
    } else if text == "inclusive" {
        ("inclusive", None)
    } else if text == "supply" {
        ("supply", None)
    } else {
        ("manual", None)
    };
    json!({"source": text, "kind": kind, "id": id, "value": indicators::micro_to_f64(*value), "rows": rows})
}

/// Per source: the sum of its values and how many there are.
type BySource = std::collections::BTreeMap<String, (i128, usize)>;

/// The values of one year by component, org and source.
struct SourceIndex {
    by: HashMap<indicators::Component, HashMap<u32, BySource>>,
}

impl SourceIndex {
    fn of(obs: &Observations, year: i32) -> SourceIndex {
        let mut by: HashMap<indicators::Component, HashMap<u32, BySource>> = HashMap::new();
        for o in obs.rows.iter().filter(|o| o.period.year == year) {
            let e = by.entry(o.component).or_default().entry(o.org).or_default().entry(o.source.clone()).or_default();
            e.0 += o.value;
            e.1 += 1;
        }
        SourceIndex { by }
    }
    /// The sources of `c` within `org`'s subtree: (source, value, rows), largest value first.
    fn sources(&self, tree: &model::OrgTree, org: u32, c: indicators::Component) -> Vec<(String, i128, usize)> {
        let mut sum: std::collections::BTreeMap<&str, (i128, usize)> = Default::default();
        for (o, m) in self.by.get(&c).into_iter().flatten() {
            if tree.is_within(*o, org) {
                for (s, (v, n)) in m {
                    let e = sum.entry(s.as_str()).or_default();
                    e.0 += v;
                    e.1 += n;
                }
            }
        }
        let mut out: Vec<(String, i128, usize)> = sum.into_iter().map(|(s, (v, n))| (s.to_string(), v, n)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// The audit action of a target change.
pub const TARGET_ACTION: &str = "indicators.target";
/// The audit action of an accepted batch of indicator data.
pub const INDICATOR_DATA_ACTION: &str = "indicators.data";

/// Sets target override `o` (its org checked by the caller: only a parent org sets it); the target
/// it makes is checked by `indicators` (422 `invalid_target`, every problem); the targets
/// document and the audit entry (`indicators.target`, old and new values, reason) change together
/// or not at all. Returns the entry's sequence number. Blocking.
pub fn edit_target(store: &store::Store, m: &Monitoring, actor: &Actor, o: &Override) -> Result<i64> {
    if o.reason.trim().is_empty() {
        return Err(Error::bad_request("a target change needs a reason"));
    }
    let org_id = org_id(m, &o.org)?;
    // One change at a time: each edit starts from the set the previous one left.
    let _one = m.edits.lock().unwrap_or_else(|e| e.into_inner());
    m.still_current()?;
    let mut set = m.targets.read().unwrap().clone();
    let resolved = |set: &TargetSet| set.resolve(&m.monitor.orgs, org_id).into_iter().find(|t| t.id == o.target);
    let before = resolved(&set);
    let replaced =
        set.set_override(o.clone()).map_err(|errors| Error::problems("invalid_target", "the target change", errors))?;
    let after = resolved(&set);
    let text = toml::to_string(&set).map_err(|e| Error::internal(e.to_string()))?;
    let change = |c: &mut dyn store::Conn| {
        store::audit::append(
            c,
            store.kind(),
            store::audit::Change {
                actor: &actor.username,
                action: TARGET_ACTION,
                entity: format!("target:{}:{}", o.org, o.target),
                org_code: &o.org,
                before: json!({"override": replaced, "target": before}),
                after: json!({"override": o, "target": after, "reason": o.reason}),
            },
        )
    };
    let seq = write_document(store, store::documents::TARGETS, &text, change)?;
    *m.targets.write().unwrap() = set;
    Ok(seq)
}

/// indicator-data.csv rows (all valid and within the actor's subtree, or nothing is added).
/// Idempotent: a value is identified by its org or facility, period, component and source, and a
/// value already stored is not added again (`unchanged`); the same key with another value is a
/// conflict (409, every key in `detail`). Each batch that adds anything is one audit entry
/// (`indicators.data`) with its rows, in the same transaction as the document. Blocking.
pub fn add_indicator_data(store: &store::Store, m: &Monitoring, actor: &Actor, body: &str) -> Result<Value> {
    let parsed = Observations::read_csv(body.as_bytes(), &m.monitor.orgs, |c| m.facility_org.get(c).copied())
        .map_err(|errs| invalid_rows(&errs))?;
    let sent = parsed.rows.len();
    let sha = store::sha256_hex(body.as_bytes());
    let out = add_observations(store, m, actor, parsed.rows, Merge::Add, |c, added| {
        let rows: Vec<Value> = added.iter().map(|o| m.describe(o)).collect();
        store::audit::append(
            c,
            store.kind(),
            store::audit::Change {
                actor: &actor.username,
                action: INDICATOR_DATA_ACTION,
                entity: format!("indicator-data:{}", &sha[..16]),
                org_code: &actor.org_code,
                before: Value::Null,
                after: json!({"body_sha256": sha, "rows": rows}),
            },
        )
    })?;
    Ok(json!({
        "received": sent,
        "added": out.added,
        "unchanged": out.unchanged,
        "total_rows": out.total,
        "audit_seq": out.done,
    }))
}
