//! The live monitoring service (监): one place that takes reading batches (from the HTTP endpoint or
//! the MQTT subscription), makes them durable in the reading log before acknowledging, applies them
//! to the in-memory series, recomputes real-time power and trailing-hour PUE of the facilities they
//! touch and of the orgs above them, runs the alert rules, and publishes live events (for the
//! console's stream and for webhooks). No HTTP server here: front ends call `ingest`.

pub mod mqtt;
pub mod webhook;

use alerts::{Engine, Event as AlertEvent, Rule, SubjectId};
use model::{OrgId, OrgTree};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use telemetry::log::ReadingLog;
use telemetry::time::{DAY_MS, QUARTER_MS};
use telemetry::{IngestReport, MeterId, MeterRegistry, Period, RawReading, Role, Telemetry};

/// Real-time state of one facility (or the sum over an org's facilities).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// Newest reading time considered (ms).
    pub at_ms: i64,
    /// Current power by role (kW), for the roles the facility meters.
    pub power_kw: BTreeMap<Role, f64>,
    /// Energy of the trailing hour ending at `at_ms`, by role (kWh).
    pub energy_1h_kwh: BTreeMap<Role, f64>,
    /// Σ total facility / Σ IT energy over the trailing hour; `None` without both.
    pub pue_1h: Option<f64>,
    /// Newest value of each gauge role the facility meters (an off-grid site's state of charge,
    /// tank level, mode codes), with its time (ms). Never summed over orgs: a state does not add up.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gauges: BTreeMap<Role, Gauge>,
}

/// The newest sample of a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub at_ms: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A batch was stored (counts only), with the orgs of the facilities whose readings it held:
    /// a subscriber sees it only when every one of them lies within its subtree (none: nobody's).
    Batch {
        source: String,
        orgs: Vec<String>,
        stored: usize,
        duplicates: usize,
        rejected: usize,
        /// The first facility whose readings it stored (in a cluster, the owner of its partition
        /// relays the event); not sent to clients.
        #[serde(skip)]
        facility: Option<String>,
    },
    Facility {
        facility: String,
        org: Option<String>,
        live: Live,
    },
    Org {
        org: String,
        live: Live,
    },
    Alert {
        event: AlertEvent,
    },
}

impl LiveEvent {
    /// The org an event concerns (for access scoping of the stream); `None` for batches (scoped by
    /// their `orgs`) and alerts (scoped by their subject).
    pub fn org(&self) -> Option<&str> {
        match self {
            LiveEvent::Batch { .. } => None,
            LiveEvent::Facility { org, .. } => org.as_deref(),
            LiveEvent::Org { org, .. } => Some(org),
            LiveEvent::Alert { .. } => None,
        }
    }
}

pub struct Monitor {
    pub orgs: OrgTree,
    /// Facility code → org, for the facilities the registry meters.
    facility_org: HashMap<String, OrgId>,
    /// The registry's facilities by integer id (fixed at open: the registry does not change).
    fac: Facilities,
    telemetry: RwLock<Telemetry>,
    log: Arc<ReadingLog>,
    /// Held (shared) by every ingest from its checks to its state update, and (exclusive) while a
    /// successor takes over ([`Monitor::successor`]), so no batch falls between the two.
    gate: RwLock<()>,
    /// The monitor that took over (a new registry or org tree): every ingest, tick and alert
    /// action sent here after that goes to it.
    next: OnceLock<Arc<Monitor>>,
    alerts: Mutex<Engine>,
    /// Live state by facility id.
    live: RwLock<Vec<Live>>,
    events: tokio::sync::broadcast::Sender<LiveEvent>,
    /// Orgs whose live state changed since their last event, and when org events were last sent:
    /// an org's sum runs over all its facilities, so org events go out at most once a second
    /// (facility events go out with every batch; `org_live` is always current).
    pending_orgs: Mutex<(BTreeSet<OrgId>, Option<std::time::Instant>)>,
    /// Whether this monitor acts outside (webhooks, the stored alert state): always in one process;
    /// in a cluster only on the leader, while every instance computes the same state.
    effects: Arc<std::sync::atomic::AtomicBool>,
    /// In a cluster with partitions of facilities: whether this instance acts for an alert subject
    /// (`facility:CODE`, `meter:CODE`), i.e. owns the partition of its facility; shared with the
    /// successors. Unset: `effects` decides for every subject.
    owner: Arc<RwLock<Option<Owner>>>,
    /// In a cluster: claims the delivery of an alert event (true: deliver it here; false: it was
    /// delivered); shared with the successors. Unset: every event is delivered.
    claim: Arc<RwLock<Option<Claim>>>,
    /// In a cluster: records a delivery in the ledger; shared with the successors.
    delivered: Arc<RwLock<Option<Delivered>>>,
}

/// Whether this instance acts for an alert subject (see `Monitor::set_owner`).
pub type Owner = Arc<dyn Fn(&str) -> bool + Send + Sync>;
/// Claims the delivery of an alert event (see `Monitor::set_claim`).
pub type Claim = Arc<dyn Fn(&AlertEvent) -> bool + Send + Sync>;
/// Records that an alert event claimed here was delivered (see `Monitor::set_delivered`).
pub type Delivered = Arc<dyn Fn(&AlertEvent) + Send + Sync>;

/// What decides whether a monitor acts for an alert (webhooks, the stored alert state); held by the
/// threads that act, shared with the monitor and its successors.
#[derive(Clone)]
pub struct Acting {
    effects: Arc<std::sync::atomic::AtomicBool>,
    owner: Arc<RwLock<Option<Owner>>>,
    claim: Arc<RwLock<Option<Claim>>>,
    delivered: Arc<RwLock<Option<Delivered>>>,
}

impl Acting {
    /// An event this instance delivered (attempted to every webhook): recorded, in a cluster, so
    /// that it is not delivered again.
    pub fn done(&self, event: &AlertEvent) {
        if let Some(d) = self.delivered.read().unwrap().as_ref() {
            d(event);
        }
    }

    /// Acts for alerts of `subject`: its owner's answer when an owner is set, else the effects flag.
    pub fn acts_on(&self, subject: &str) -> bool {
        match self.owner.read().unwrap().as_ref() {
            Some(f) => f(subject),
            None => self.effects.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Whether this instance delivers `event`: it acts for its subject and, in a cluster, claimed
    /// it first.
    pub fn delivers(&self, event: &AlertEvent) -> bool {
        self.acts_on(&event.alert.subject) && self.claim.read().unwrap().as_ref().is_none_or(|c| c(event))
    }
}

/// Index of a facility in `Facilities` (facilities numbered in code order, so id order is code order).
type FacId = u32;

/// What the live path needs of each facility, by integer id, computed once: no code strings are
/// hashed, formatted or cloned per reading.
struct Facilities {
    codes: Vec<String>,
    index: FxHashMap<String, FacId>,
    meters: Vec<Vec<MeterId>>,
    /// The facility of each meter.
    of_meter: Vec<FacId>,
    /// The org of each facility and the orgs above it (empty without an org).
    org_path: Vec<Vec<OrgId>>,
    org_code: Vec<Option<String>>,
    /// Alert subjects `facility:CODE` and `meter:CODE`, interned in the engine.
    subject: Vec<SubjectId>,
    meter_subject: Vec<SubjectId>,
}

impl Facilities {
    fn new(tel: &Telemetry, orgs: &OrgTree, facility_org: &HashMap<String, OrgId>, engine: &mut Engine) -> Self {
        let codes: Vec<String> = tel.by_facility.keys().cloned().collect();
        let index = codes.iter().enumerate().map(|(i, c)| (c.clone(), i as FacId)).collect();
        let meters: Vec<Vec<MeterId>> = tel.by_facility.values().cloned().collect();
        let mut of_meter = vec![0; tel.registry.len()];
        for (f, ms) in meters.iter().enumerate() {
            for &m in ms {
                of_meter[m as usize] = f as FacId;
            }
        }
        let org_path =
            codes.iter().map(|c| facility_org.get(c).map_or(Vec::new(), |&o| orgs.path_to_root(o).collect())).collect();
        let org_code = codes.iter().map(|c| facility_org.get(c).map(|&o| orgs.org(o).code.clone())).collect();
        let subject = codes.iter().map(|c| engine.subject(&subject_facility(c))).collect();
        let meter_subject = tel.registry.meters.iter().map(|m| engine.subject(&format!("meter:{}", m.code))).collect();
        Facilities { codes, index, meters, of_meter, org_path, org_code, subject, meter_subject }
    }
}

fn subject_facility(f: &str) -> String {
    format!("facility:{f}")
}

impl Monitor {
    /// Opens the reading log in `log_dir` and replays it into memory. Readings of meters no longer
    /// in the registry are counted and reported, never dropped from the log.
    pub fn open(
        registry: MeterRegistry,
        orgs: OrgTree,
        facility_org: HashMap<String, OrgId>,
        rules: Vec<Rule>,
        log_dir: &Path,
    ) -> std::io::Result<(Monitor, Recovered)> {
        let mut tel = Telemetry::new(registry);
        let mut unknown: BTreeMap<String, u64> = BTreeMap::new();
        let mut replayed = Vec::new();
        let (log, recovery) = ReadingLog::open(log_dir, |code, ts, value| match tel.registry.get(code) {
            Some(meter) => replayed.push(telemetry::Reading { meter, ts_ms: ts, value }),
            None => *unknown.entry(code.to_string()).or_default() += 1,
        })?;
        let mut report = IngestReport::default();
        tel.apply(&replayed, None, &mut report);
        let mut engine = Engine::new(rules);
        let fac = Facilities::new(&tel, &orgs, &facility_org, &mut engine);
        for (i, s) in tel.series.iter().enumerate() {
            if let Some((last, _)) = s.last() {
                engine.watch_id(fac.meter_subject[i], last);
            }
        }
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let all: Vec<FacId> = (0..fac.codes.len() as FacId).collect();
        let monitor = Monitor {
            orgs,
            facility_org,
            live: RwLock::new(vec![Live::default(); fac.codes.len()]),
            fac,
            telemetry: RwLock::new(tel),
            log: Arc::new(log),
            gate: RwLock::new(()),
            next: OnceLock::new(),
            alerts: Mutex::new(engine),
            events,
            pending_orgs: Mutex::new((BTreeSet::new(), None)),
            effects: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            owner: Arc::new(RwLock::new(None)),
            claim: Arc::new(RwLock::new(None)),
            delivered: Arc::new(RwLock::new(None)),
        };
        monitor.refresh(&all, false);
        Ok((
            monitor,
            Recovered {
                readings: recovery.readings,
                truncated_bytes: recovery.truncated_bytes,
                unknown_meters: unknown,
            },
        ))
    }

    /// A monitor for a changed meter registry or org tree that takes over from this one without a
    /// restart: the same reading log (not opened again), the same event channel (subscribers and
    /// webhooks go on), the same alert engine (alerts, their states and rule clocks go on; the new
    /// meters and facilities are interned and watched for silence from `since_ms`). The readings in
    /// memory are applied again under the new registry (those of meters no longer registered stay
    /// in the log only, as at open). From now on this monitor hands every ingest, tick and alert
    /// action to the successor; a batch in flight finishes here first.
    pub fn successor(
        &self,
        registry: MeterRegistry,
        orgs: OrgTree,
        facility_org: HashMap<String, OrgId>,
        since_ms: i64,
    ) -> Arc<Monitor> {
        let _gate = self.gate.write().unwrap();
        if let Some(next) = self.next.get() {
            return next.successor(registry, orgs, facility_org, since_ms);
        }
        let mut old = self.telemetry.write().unwrap();
        let old = std::mem::replace(&mut *old, Telemetry::new(MeterRegistry::default()));
        let mut tel = Telemetry::new(registry);
        let mut readings = Vec::new();
        for (i, meter) in old.registry.meters.iter().enumerate() {
            if let Some(id) = tel.registry.get(&meter.code) {
                readings.extend(old.series[i].points().map(|(ts_ms, value)| telemetry::Reading {
                    meter: id,
                    ts_ms,
                    value,
                }));
            }
        }
        drop(old);
        let mut report = IngestReport::default();
        tel.apply(&readings, None, &mut report);
        drop(readings);
        let mut engine = std::mem::take(&mut *self.alerts.lock().unwrap());
        let fac = Facilities::new(&tel, &orgs, &facility_org, &mut engine);
        for (i, s) in tel.series.iter().enumerate() {
            engine.watch_id(fac.meter_subject[i], s.last().map_or(since_ms, |(last, _)| last));
        }
        let all: Vec<FacId> = (0..fac.codes.len() as FacId).collect();
        let next = Arc::new(Monitor {
            orgs,
            facility_org,
            live: RwLock::new(vec![Live::default(); fac.codes.len()]),
            fac,
            telemetry: RwLock::new(tel),
            log: self.log.clone(),
            gate: RwLock::new(()),
            next: OnceLock::new(),
            alerts: Mutex::new(engine),
            events: self.events.clone(),
            pending_orgs: Mutex::new((BTreeSet::new(), None)),
            effects: self.effects.clone(),
            owner: self.owner.clone(),
            claim: self.claim.clone(),
            delivered: self.delivered.clone(),
        });
        next.refresh(&all, false);
        let _ = self.next.set(next.clone());
        next
    }

    /// Watches every registered meter for silence from `since_ms` (e.g. server start).
    pub fn watch_all_meters(&self, since_ms: i64) {
        let mut engine = self.alerts.lock().unwrap();
        for &s in &self.fac.meter_subject {
            engine.watch_id(s, since_ms);
        }
    }

    /// Whether this monitor acts outside (see the field); shared with its successors.
    pub fn effects(&self) -> bool {
        self.effects.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn set_effects(&self, on: bool) {
        self.effects.store(on, std::sync::atomic::Ordering::SeqCst);
    }
    /// Whether the reading log syncs each write (off when it is a disposable copy: cluster mode,
    /// where the telemetry stream is the durable log); shared with the successors (one log).
    pub fn set_log_sync(&self, on: bool) {
        self.log.set_sync(on);
    }
    /// Sets who acts for each alert subject (a cluster's partitions of facilities); shared with the
    /// successors.
    pub fn set_owner(&self, owner: Owner) {
        *self.owner.write().unwrap() = Some(owner);
    }
    /// Sets how a delivery is claimed (a cluster's ledger of deliveries); shared with the successors.
    pub fn set_claim(&self, claim: Claim) {
        *self.claim.write().unwrap() = Some(claim);
    }
    /// Sets how a delivery is recorded (a cluster's ledger of deliveries); shared with the successors.
    pub fn set_delivered(&self, delivered: Delivered) {
        *self.delivered.write().unwrap() = Some(delivered);
    }
    /// The handle the acting threads hold (webhooks, the stored alert state).
    pub fn acting(&self) -> Acting {
        Acting {
            effects: self.effects.clone(),
            owner: self.owner.clone(),
            claim: self.claim.clone(),
            delivered: self.delivered.clone(),
        }
    }
    /// Publishes an alert event again (a cluster instance that took over a partition: the events
    /// its last owner may not have delivered).
    pub fn republish_alert(&self, event: AlertEvent) {
        self.publish(LiveEvent::Alert { event });
    }
    /// The facility of a meter (code), under this monitor's registry.
    pub fn facility_of_meter(&self, meter: &str) -> Option<String> {
        let tel = self.telemetry.read().unwrap();
        let id = tel.registry.get(meter)?;
        Some(self.fac.codes[self.fac.of_meter[id as usize] as usize].clone())
    }
    /// The facility an alert subject concerns (`facility:CODE`, `meter:CODE`), if any.
    pub fn facility_of_subject(&self, subject: &str) -> Option<String> {
        if let Some(next) = self.next.get() {
            return next.facility_of_subject(subject);
        }
        if let Some(f) = subject.strip_prefix("facility:") {
            return Some(f.to_string());
        }
        self.facility_of_meter(subject.strip_prefix("meter:")?)
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    fn publish(&self, e: LiveEvent) {
        // No subscriber is not an error: events are for whoever listens now.
        let _ = self.events.send(e);
    }

    /// Validates a batch, makes the valid readings durable (the acknowledgement), then applies them,
    /// updates real-time state and alerts, and publishes events. `source` names the front end.
    pub fn ingest(&self, raw: &[RawReading], now_ms: i64, source: &str) -> std::io::Result<IngestReport> {
        let gate = self.gate.read().unwrap();
        if let Some(next) = self.next.get() {
            drop(gate);
            return next.ingest(raw, now_ms, source);
        }
        let mut report = IngestReport::default();
        let mut positions = Vec::with_capacity(raw.len());
        let valid = {
            let tel = self.telemetry.read().unwrap();
            tel.validate(raw, Some(now_ms + 60_000), &mut report, &mut positions)
        };
        if !valid.is_empty() {
            let tel = self.telemetry.read().unwrap();
            self.log.append(&valid, |m| tel.registry.meter(m).code.clone())?;
        }
        // Newest time per meter (meter order), and the facilities touched (code order).
        let mut seen: Vec<(MeterId, i64)> = valid.iter().map(|r| (r.meter, r.ts_ms)).collect();
        seen.sort_unstable();
        seen.reverse();
        seen.dedup_by_key(|p| p.0);
        seen.reverse();
        let mut touched: Vec<FacId> = seen.iter().map(|&(m, _)| self.fac.of_meter[m as usize]).collect();
        touched.sort_unstable();
        touched.dedup();
        let mut alert_events = Vec::new();
        {
            let mut tel = self.telemetry.write().unwrap();
            tel.apply(&valid, Some(&positions), &mut report);
            let mut engine = self.alerts.lock().unwrap();
            for &(m, ts) in &seen {
                engine.seen_id(self.fac.meter_subject[m as usize], ts, &mut alert_events);
            }
        }
        for e in alert_events {
            self.publish(LiveEvent::Alert { event: e });
        }
        let mut batch_orgs: Vec<String> =
            touched.iter().filter_map(|&f| self.fac.org_code[f as usize].clone()).collect();
        batch_orgs.sort_unstable();
        batch_orgs.dedup();
        self.publish(LiveEvent::Batch {
            source: source.to_string(),
            orgs: batch_orgs,
            stored: report.stored(),
            duplicates: report.duplicates,
            rejected: report.rejected,
            facility: touched.first().map(|&f| self.fac.codes[f as usize].clone()),
        });
        self.refresh(&touched, true);
        drop(gate);
        Ok(report)
    }

    /// Recomputes live state of `facilities` and their orgs; with `publish`, sends events and runs
    /// the PUE and power rules.
    fn refresh(&self, facilities: &[FacId], publish: bool) {
        let tel = self.telemetry.read().unwrap();
        let updates: Vec<(FacId, Live)> =
            facilities.iter().map(|&f| (f, facility_live(&tel, &self.fac.meters[f as usize]))).collect();
        let mut orgs_touched: BTreeSet<OrgId> = BTreeSet::new();
        let previous_at: Vec<Option<i64>> = {
            let mut live = self.live.write().unwrap();
            updates
                .iter()
                .map(|(f, l)| {
                    let slot = &mut live[*f as usize];
                    let prev = Some(slot.at_ms).filter(|&t| t > 0);
                    *slot = l.clone();
                    orgs_touched.extend(self.fac.org_path[*f as usize].iter().copied());
                    prev
                })
                .collect()
        };
        if !publish {
            return;
        }
        // The PUE rule sees the trailing-hour PUE at every quarter-hour the batch covered (a batch of
        // a day's readings is a day of PUE values, not one), at most a day back.
        let mut pue_points: Vec<(FacId, i64, f64)> = Vec::new();
        for ((f, l), prev) in updates.iter().zip(&previous_at) {
            if !(l.energy_1h_kwh.contains_key(&Role::TotalFacility) && l.energy_1h_kwh.contains_key(&Role::ItLoad)) {
                continue;
            }
            let first = prev.map_or(l.at_ms - DAY_MS, |p| p + QUARTER_MS).max(l.at_ms - DAY_MS);
            let mut t = first.div_euclid(QUARTER_MS) * QUARTER_MS;
            while t < l.at_ms {
                if let Some(p) = pue_at(&tel, &self.fac.meters[*f as usize], t) {
                    pue_points.push((*f, t, p));
                }
                t += QUARTER_MS;
            }
            if let Some(p) = l.pue_1h {
                pue_points.push((*f, l.at_ms, p));
            }
        }
        drop(tel);
        let mut alert_events = Vec::new();
        {
            let mut engine = self.alerts.lock().unwrap();
            let subject = |f: &FacId| self.fac.subject[*f as usize];
            for (f, t, p) in &pue_points {
                engine.observe_id(subject(f), "pue", *t, *p, &mut alert_events);
            }
            for (f, l) in &updates {
                if let Some(p) = l.power_kw.get(&Role::TotalFacility).or(l.power_kw.get(&Role::GridImport)) {
                    engine.observe_id(subject(f), "power_kw", l.at_ms, *p, &mut alert_events);
                }
                // Off-grid sites: the battery's state of charge and load not served (default rules
                // site_soc_below_0_2_for_1h and site_load_unserved).
                if let Some(g) = l.gauges.get(&Role::Soc) {
                    engine.observe_id(subject(f), "soc", g.at_ms, g.value, &mut alert_events);
                }
                if let Some(p) = l.power_kw.get(&Role::Unserved) {
                    engine.observe_id(subject(f), "unserved_kw", l.at_ms, *p, &mut alert_events);
                }
            }
        }
        for (f, l) in updates {
            let facility = self.fac.codes[f as usize].clone();
            let org = self.fac.org_code[f as usize].clone();
            self.publish(LiveEvent::Facility { facility, org, live: l });
        }
        self.publish_orgs(orgs_touched, false);
        for e in alert_events {
            self.publish(LiveEvent::Alert { event: e });
        }
    }

    /// Live state of a facility.
    pub fn facility_live(&self, facility: &str) -> Option<Live> {
        let &f = self.fac.index.get(facility)?;
        Some(self.live.read().unwrap()[f as usize].clone())
    }

    /// Sends org events for `touched` (and orgs pending from earlier batches) when a second has
    /// passed since the last ones, or when `force`d.
    fn publish_orgs(&self, touched: BTreeSet<OrgId>, force: bool) {
        let due = {
            let mut p = self.pending_orgs.lock().unwrap();
            p.0.extend(touched);
            let due = force || p.1.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
            if !due || p.0.is_empty() {
                return;
            }
            p.1 = Some(std::time::Instant::now());
            std::mem::take(&mut p.0)
        };
        for (o, l) in self.orgs_live(&due) {
            self.publish(LiveEvent::Org { org: self.orgs.org(o).code.clone(), live: l });
        }
    }

    /// Live state of several orgs in one pass over the facilities (each facility adds to every
    /// requested org on its path to the root), in facility code order.
    fn orgs_live(&self, orgs: &BTreeSet<OrgId>) -> Vec<(OrgId, Live)> {
        let live = self.live.read().unwrap();
        let mut acc: BTreeMap<OrgId, (Live, f64, f64)> = BTreeMap::new();
        for (l, path) in live.iter().zip(&self.fac.org_path) {
            for o in path.iter().filter(|o| orgs.contains(o)) {
                let (sum, total, it) = acc.entry(*o).or_default();
                add_live(sum, total, it, l);
            }
        }
        acc.into_iter()
            .map(|(o, (mut sum, total, it))| {
                sum.pue_1h = (it > 0.0).then(|| total / it);
                (o, sum)
            })
            .collect()
    }

    /// Live state of an org: power and trailing-hour energies summed over the facilities of its
    /// subtree (in facility code order); PUE as Σ total / Σ IT over those with both (never an
    /// average of PUEs).
    pub fn org_live(&self, org_code: &str) -> Option<Live> {
        let org = self.orgs.get(org_code)?;
        let live = self.live.read().unwrap();
        let mut sum = Live::default();
        let (mut pue_total, mut pue_it) = (0.0, 0.0);
        let mut any = false;
        for (l, path) in live.iter().zip(&self.fac.org_path) {
            if !path.contains(&org) {
                continue;
            }
            any = true;
            add_live(&mut sum, &mut pue_total, &mut pue_it, l);
        }
        sum.pue_1h = (pue_it > 0.0).then(|| pue_total / pue_it);
        any.then_some(sum)
    }

    /// Live state of a facility recomputed from the series now, whatever the stored state says
    /// (what the state kept up to date batch by batch must equal; for tests and checks).
    pub fn recompute_live(&self, facility: &str) -> Option<Live> {
        let _gate = self.gate.read().unwrap();
        if let Some(next) = self.next.get() {
            return next.recompute_live(facility);
        }
        let &f = self.fac.index.get(facility)?;
        Some(facility_live(&self.telemetry.read().unwrap(), &self.fac.meters[f as usize]))
    }

    /// Runs the silence rules at `now_ms` and publishes what opens; sends pending org events.
    pub fn tick(&self, now_ms: i64) -> Vec<AlertEvent> {
        self.tick_where(now_ms, &|_| true)
    }

    /// `tick` for the alert subjects `applies` to (cluster mode: one partition's).
    pub fn tick_where(&self, now_ms: i64, applies: &dyn Fn(&str) -> bool) -> Vec<AlertEvent> {
        let _gate = self.gate.read().unwrap();
        if let Some(next) = self.next.get() {
            return next.tick_where(now_ms, applies);
        }
        self.publish_orgs(BTreeSet::new(), true);
        let events = self.alerts.lock().unwrap().tick_where(now_ms, applies);
        for e in &events {
            self.publish(LiveEvent::Alert { event: e.clone() });
        }
        events
    }

    pub fn acknowledge(&self, id: u64, by: &str, at_ms: i64) -> Result<AlertEvent, String> {
        if let Some(next) = self.next.get() {
            return next.acknowledge(id, by, at_ms);
        }
        let e = self.alerts.lock().unwrap().acknowledge(id, by, at_ms)?;
        self.publish(LiveEvent::Alert { event: e.clone() });
        Ok(e)
    }

    pub fn resolve(&self, id: u64, by: &str, at_ms: i64) -> Result<AlertEvent, String> {
        if let Some(next) = self.next.get() {
            return next.resolve(id, by, at_ms);
        }
        let e = self.alerts.lock().unwrap().resolve_by_hand(id, by, at_ms)?;
        self.publish(LiveEvent::Alert { event: e.clone() });
        Ok(e)
    }

    /// Numbers alerts by what identifies them from now on ([`alerts::Engine::set_ids_by_identity`]:
    /// cluster mode, where each partition's alerts are evaluated wherever it is owned).
    pub fn set_ids_by_identity(&self, on: bool) {
        if let Some(next) = self.next.get() {
            return next.set_ids_by_identity(on);
        }
        self.alerts.lock().unwrap().set_ids_by_identity(on);
    }

    /// Takes back the alerts kept from an earlier run ([`alerts::Engine::restore`]).
    pub fn restore_alerts(&self, kept: Vec<alerts::Alert>) {
        self.alerts.lock().unwrap().restore(kept);
    }

    pub fn alerts(&self, state: Option<alerts::State>) -> Vec<alerts::Alert> {
        if let Some(next) = self.next.get() {
            return next.alerts(state);
        }
        self.alerts.lock().unwrap().alerts(state).into_iter().cloned().collect()
    }

    /// Energy roll-up of a facility's meters with `role`.
    pub fn rollup(
        &self,
        facility: &str,
        role: Role,
        period: Period,
        from: i64,
        to: i64,
    ) -> Option<Vec<telemetry::RollupRow>> {
        let _gate = self.gate.read().unwrap();
        if let Some(next) = self.next.get() {
            return next.rollup(facility, role, period, from, to);
        }
        let tel = self.telemetry.read().unwrap();
        tel.facility_energy(facility, role, period, from, to).map(|c| telemetry::rollup::rows(&c, period))
    }

    /// The org of a metered facility.
    pub fn facility_org(&self, facility: &str) -> Option<OrgId> {
        self.facility_org.get(facility).copied()
    }

    /// Read access to the telemetry state (roll-ups, meter-derived activity).
    pub fn with_telemetry<T>(&self, f: impl FnOnce(&Telemetry) -> T) -> T {
        let _gate = self.gate.read().unwrap();
        if let Some(next) = self.next.get() {
            return next.with_telemetry(f);
        }
        f(&self.telemetry.read().unwrap())
    }
}

/// What `Monitor::open` recovered from the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Recovered {
    pub readings: u64,
    pub truncated_bytes: u64,
    /// Meters in the log but not in the registry: readings kept in the log, not loaded.
    pub unknown_meters: BTreeMap<String, u64>,
}

/// Adds a facility's live state to an org's sum; PUE parts only from facilities metering both.
/// The live state of a set of facilities (`org_live`'s sum, for lives gathered elsewhere: a
/// cluster's partitions), given in facility code order; `None` for none.
pub fn sum_live<'a>(lives: impl IntoIterator<Item = &'a Live>) -> Option<Live> {
    let (mut sum, mut pue_total, mut pue_it, mut any) = (Live::default(), 0.0, 0.0, false);
    for l in lives {
        any = true;
        add_live(&mut sum, &mut pue_total, &mut pue_it, l);
    }
    sum.pue_1h = (pue_it > 0.0).then(|| pue_total / pue_it);
    any.then_some(sum)
}

fn add_live(sum: &mut Live, pue_total: &mut f64, pue_it: &mut f64, l: &Live) {
    sum.at_ms = sum.at_ms.max(l.at_ms);
    for (r, p) in &l.power_kw {
        *sum.power_kw.entry(*r).or_default() += p;
    }
    for (r, e) in &l.energy_1h_kwh {
        *sum.energy_1h_kwh.entry(*r).or_default() += e;
    }
    if let (Some(t), Some(i)) = (l.energy_1h_kwh.get(&Role::TotalFacility), l.energy_1h_kwh.get(&Role::ItLoad)) {
        *pue_total += t;
        *pue_it += i;
    }
}

/// Trailing-hour PUE of a facility (its meters) ending at `t`.
fn pue_at(tel: &Telemetry, meters: &[MeterId], t: i64) -> Option<f64> {
    let (total, it) =
        (trailing_energy(tel, meters, Role::TotalFacility, t)?, trailing_energy(tel, meters, Role::ItLoad, t)?);
    (it > 0.0).then(|| total / it)
}

/// Energy (kWh) of the meters with `role` over the quarters starting in `[t − 1 h, t)`, summed
/// quarter by quarter in time order; `None` when no meter has the role.
fn trailing_energy(tel: &Telemetry, meters: &[MeterId], role: Role, t: i64) -> Option<f64> {
    tel.meters_trailing_hour_kwh(meters, role, t)
}

/// Live state of a facility from its meters' series.
fn facility_live(tel: &Telemetry, meters: &[MeterId]) -> Live {
    let mut live = Live::default();
    if meters.is_empty() {
        return live;
    }
    let at = meters.iter().filter_map(|&m| tel.series[m as usize].last().map(|p| p.0)).max().unwrap_or(0);
    live.at_ms = at;
    let mut roles: Vec<Role> = meters.iter().map(|&m| tel.registry.meter(m).role).collect();
    roles.sort_unstable();
    roles.dedup();
    for role in roles {
        if role.is_gauge() {
            if let Some((at_ms, value)) = tel.meters_latest(meters, role) {
                live.gauges.insert(role, Gauge { at_ms, value });
            }
            continue;
        }
        if let Some((p, _)) = tel.meters_power(meters, role) {
            live.power_kw.insert(role, p);
        }
        if let Some(e) = trailing_energy(tel, meters, role, at) {
            live.energy_1h_kwh.insert(role, e);
        }
    }
    if let (Some(t), Some(i)) = (live.energy_1h_kwh.get(&Role::TotalFacility), live.energy_1h_kwh.get(&Role::ItLoad)) {
        live.pue_1h = (*i > 0.0).then(|| t / i);
    }
    live
}

/// Monthly data-centre energy from meters as indicator components: `dc_total_kwh` from
/// `total_facility` meters and `dc_it_kwh` from `it_load` meters of every facility for which
/// `data_centre(facility)` gives its org, for `year`. Added with `Observations::add_derived`, so a
/// value the facility reports itself wins; the refusals are returned.
pub fn add_meter_components(
    tel: &Telemetry,
    year: i32,
    data_centre: impl Fn(&str) -> Option<OrgId>,
    obs: &mut indicators::Observations,
) -> Vec<String> {
    use indicators::{Component, Observation, PeriodKey};
    let (from, to) = (telemetry::time::month_start_of(year, 1), telemetry::time::month_start_of(year + 1, 1));
    let mut refused = Vec::new();
    for (fac, meters) in &tel.by_facility {
        let Some(org) = data_centre(fac) else { continue };
        for (role, component) in [(Role::TotalFacility, Component::DcTotalKwh), (Role::ItLoad, Component::DcItKwh)] {
            let Some(months) = tel.facility_energy(fac, role, Period::Month, from, to) else { continue };
            let codes: Vec<&str> = meters
                .iter()
                .map(|&m| tel.registry.meter(m))
                .filter(|m| m.role == role)
                .map(|m| m.code.as_str())
                .collect();
            for (start, cell) in months {
                let (_, month) = telemetry::time::year_month(start);
                let o = Observation {
                    org,
                    facility: Some(fac.clone()),
                    period: PeriodKey { year, month: month as u8 },
                    component,
                    value: indicators::values::micro_from_f64(cell.energy_kwh()),
                    source: format!("METER:{}", codes.join("+")),
                };
                if let Err(reason) = obs.add_derived(o) {
                    refused.push(reason);
                }
            }
        }
    }
    refused
}
