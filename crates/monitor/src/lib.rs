//! The live monitoring service (监): one place that takes reading batches (from the HTTP endpoint or
//! the MQTT subscription), makes them durable in the reading log before acknowledging, applies them
//! to the in-memory series, recomputes real-time power and trailing-hour PUE of the facilities they
//! touch and of the orgs above them, runs the alert rules, and publishes live events (for the
//! console's stream and for webhooks). No HTTP server here: front ends call `ingest`.

pub mod mqtt;
pub mod webhook;

use alerts::{Engine, Event as AlertEvent, Rule};
use model::{OrgId, OrgTree};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Mutex, RwLock};
use telemetry::log::ReadingLog;
use telemetry::time::{DAY_MS, HOUR_MS, QUARTER_MS};
use telemetry::{IngestReport, MeterRegistry, Period, RawReading, Role, Telemetry};

/// Real-time state of one facility (or the sum over an org's facilities).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gauges: BTreeMap<Role, Gauge>,
}

/// The newest sample of a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gauge {
    pub at_ms: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A batch was stored (counts only).
    Batch {
        source: String,
        stored: usize,
        duplicates: usize,
        rejected: usize,
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
    /// The org codes an event concerns (for access scoping of the stream); `None` = everyone may see it.
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
    telemetry: RwLock<Telemetry>,
    log: ReadingLog,
    alerts: Mutex<Engine>,
    live: RwLock<HashMap<String, Live>>,
    events: tokio::sync::broadcast::Sender<LiveEvent>,
    /// Orgs whose live state changed since their last event, and when org events were last sent:
    /// an org's sum runs over all its facilities, so org events go out at most once a second
    /// (facility events go out with every batch; `org_live` is always current).
    pending_orgs: Mutex<(BTreeSet<OrgId>, Option<std::time::Instant>)>,
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
        for (i, m) in tel.registry.meters.iter().enumerate() {
            if let Some((last, _)) = tel.series[i].last() {
                engine.watch(&format!("meter:{}", m.code), last);
            }
        }
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let monitor = Monitor {
            orgs,
            facility_org,
            telemetry: RwLock::new(tel),
            log,
            alerts: Mutex::new(engine),
            live: RwLock::new(HashMap::new()),
            events,
            pending_orgs: Mutex::new((BTreeSet::new(), None)),
        };
        let facilities: Vec<String> = monitor.telemetry.read().unwrap().by_facility.keys().cloned().collect();
        monitor.refresh(&facilities, false);
        Ok((
            monitor,
            Recovered {
                readings: recovery.readings,
                truncated_bytes: recovery.truncated_bytes,
                unknown_meters: unknown,
            },
        ))
    }

    /// Watches every registered meter for silence from `since_ms` (e.g. server start).
    pub fn watch_all_meters(&self, since_ms: i64) {
        let tel = self.telemetry.read().unwrap();
        let mut engine = self.alerts.lock().unwrap();
        for m in &tel.registry.meters {
            engine.watch(&format!("meter:{}", m.code), since_ms);
        }
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
        let touched: Vec<String> = {
            let mut tel = self.telemetry.write().unwrap();
            tel.apply(&valid, Some(&positions), &mut report);
            let set: BTreeSet<String> = valid.iter().map(|r| tel.registry.meter(r.meter).facility.clone()).collect();
            let mut engine = self.alerts.lock().unwrap();
            let mut alert_events = Vec::new();
            let mut seen: BTreeMap<u32, i64> = BTreeMap::new();
            for r in &valid {
                let e = seen.entry(r.meter).or_insert(r.ts_ms);
                *e = (*e).max(r.ts_ms);
            }
            for (m, ts) in seen {
                alert_events.extend(engine.seen(&format!("meter:{}", tel.registry.meter(m).code), ts));
            }
            drop(engine);
            for e in alert_events {
                self.publish(LiveEvent::Alert { event: e });
            }
            set.into_iter().collect()
        };
        self.publish(LiveEvent::Batch {
            source: source.to_string(),
            stored: report.stored(),
            duplicates: report.duplicates,
            rejected: report.rejected,
        });
        self.refresh(&touched, true);
        Ok(report)
    }

    /// Recomputes live state of `facilities` and their orgs; with `publish`, sends events and runs
    /// the PUE and power rules.
    fn refresh(&self, facilities: &[String], publish: bool) {
        let mut updates = Vec::new();
        {
            let tel = self.telemetry.read().unwrap();
            for f in facilities {
                updates.push((f.clone(), facility_live(&tel, f)));
            }
        }
        let mut orgs_touched: BTreeSet<OrgId> = BTreeSet::new();
        let previous_at: Vec<Option<i64>> = {
            let live = self.live.read().unwrap();
            updates.iter().map(|(f, _)| live.get(f).map(|l| l.at_ms).filter(|&t| t > 0)).collect()
        };
        {
            let mut live = self.live.write().unwrap();
            for (f, l) in &updates {
                if let Some(&org) = self.facility_org.get(f) {
                    orgs_touched.extend(self.orgs.path_to_root(org));
                }
                live.insert(f.clone(), l.clone());
            }
        }
        if !publish {
            return;
        }
        // The PUE rule sees the trailing-hour PUE at every quarter-hour the batch covered (a batch of
        // a day's readings is a day of PUE values, not one), at most a day back.
        let mut pue_points: Vec<(String, i64, f64)> = Vec::new();
        {
            let tel = self.telemetry.read().unwrap();
            for ((f, l), prev) in updates.iter().zip(&previous_at) {
                if !(l.energy_1h_kwh.contains_key(&Role::TotalFacility) && l.energy_1h_kwh.contains_key(&Role::ItLoad))
                {
                    continue;
                }
                let first = prev.map_or(l.at_ms - DAY_MS, |p| p + QUARTER_MS).max(l.at_ms - DAY_MS);
                let mut t = first.div_euclid(QUARTER_MS) * QUARTER_MS;
                while t < l.at_ms {
                    if let Some(p) = pue_at(&tel, f, t) {
                        pue_points.push((f.clone(), t, p));
                    }
                    t += QUARTER_MS;
                }
                if let Some(p) = l.pue_1h {
                    pue_points.push((f.clone(), l.at_ms, p));
                }
            }
        }
        let mut alert_events = Vec::new();
        {
            let mut engine = self.alerts.lock().unwrap();
            for (f, t, p) in &pue_points {
                alert_events.extend(engine.observe(&subject_facility(f), "pue", *t, *p));
            }
            for (f, l) in &updates {
                if let Some(p) = l.power_kw.get(&Role::TotalFacility).or(l.power_kw.get(&Role::GridImport)) {
                    alert_events.extend(engine.observe(&subject_facility(f), "power_kw", l.at_ms, *p));
                }
                // Off-grid sites: the battery's state of charge and load not served (default rules
                // site_soc_below_0_2_for_1h and site_load_unserved).
                if let Some(g) = l.gauges.get(&Role::Soc) {
                    alert_events.extend(engine.observe(&subject_facility(f), "soc", g.at_ms, g.value));
                }
                if let Some(p) = l.power_kw.get(&Role::Unserved) {
                    alert_events.extend(engine.observe(&subject_facility(f), "unserved_kw", l.at_ms, *p));
                }
            }
        }
        for (f, l) in updates {
            let org = self.facility_org.get(&f).map(|&o| self.orgs.org(o).code.clone());
            self.publish(LiveEvent::Facility { facility: f, org, live: l });
        }
        self.publish_orgs(orgs_touched, false);
        for e in alert_events {
            self.publish(LiveEvent::Alert { event: e });
        }
    }

    /// Live state of a facility.
    pub fn facility_live(&self, facility: &str) -> Option<Live> {
        self.live.read().unwrap().get(facility).cloned()
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
    /// requested org on its path to the root).
    fn orgs_live(&self, orgs: &BTreeSet<OrgId>) -> Vec<(OrgId, Live)> {
        let live = self.live.read().unwrap();
        let mut acc: BTreeMap<OrgId, (Live, f64, f64)> = BTreeMap::new();
        for (f, l) in live.iter() {
            let Some(&fo) = self.facility_org.get(f) else { continue };
            for o in self.orgs.path_to_root(fo).filter(|o| orgs.contains(o)) {
                let (sum, total, it) = acc.entry(o).or_default();
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
    /// subtree; PUE as Σ total / Σ IT over those with both (never an average of PUEs).
    pub fn org_live(&self, org_code: &str) -> Option<Live> {
        let org = self.orgs.get(org_code)?;
        let live = self.live.read().unwrap();
        let mut sum = Live::default();
        let (mut pue_total, mut pue_it) = (0.0, 0.0);
        let mut any = false;
        for (f, l) in live.iter() {
            let Some(&fo) = self.facility_org.get(f) else { continue };
            if !self.orgs.is_within(fo, org) {
                continue;
            }
            any = true;
            add_live(&mut sum, &mut pue_total, &mut pue_it, l);
        }
        sum.pue_1h = (pue_it > 0.0).then(|| pue_total / pue_it);
        any.then_some(sum)
    }

    /// Runs the silence rules at `now_ms` and publishes what opens; sends pending org events.
    pub fn tick(&self, now_ms: i64) -> Vec<AlertEvent> {
        self.publish_orgs(BTreeSet::new(), true);
        let events = self.alerts.lock().unwrap().tick(now_ms);
        for e in &events {
            self.publish(LiveEvent::Alert { event: e.clone() });
        }
        events
    }

    pub fn acknowledge(&self, id: u64, by: &str, at_ms: i64) -> Result<AlertEvent, String> {
        let e = self.alerts.lock().unwrap().acknowledge(id, by, at_ms)?;
        self.publish(LiveEvent::Alert { event: e.clone() });
        Ok(e)
    }

    pub fn resolve(&self, id: u64, by: &str, at_ms: i64) -> Result<AlertEvent, String> {
        let e = self.alerts.lock().unwrap().resolve_by_hand(id, by, at_ms)?;
        self.publish(LiveEvent::Alert { event: e.clone() });
        Ok(e)
    }

    pub fn alerts(&self, state: Option<alerts::State>) -> Vec<alerts::Alert> {
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
        let tel = self.telemetry.read().unwrap();
        tel.facility_energy(facility, role, period, from, to).map(|c| telemetry::rollup::rows(&c, period))
    }

    /// The org of a metered facility.
    pub fn facility_org(&self, facility: &str) -> Option<OrgId> {
        self.facility_org.get(facility).copied()
    }

    /// Read access to the telemetry state (roll-ups, meter-derived activity).
    pub fn with_telemetry<T>(&self, f: impl FnOnce(&Telemetry) -> T) -> T {
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

/// Trailing-hour PUE of a facility ending at `t`.
fn pue_at(tel: &Telemetry, facility: &str, t: i64) -> Option<f64> {
    let energy = |role| {
        tel.facility_energy(facility, role, Period::Quarter, t - HOUR_MS, t)
            .map(|c| c.values().map(|c| c.energy_kwh()).sum::<f64>())
    };
    let (total, it) = (energy(Role::TotalFacility)?, energy(Role::ItLoad)?);
    (it > 0.0).then(|| total / it)
}

fn facility_live(tel: &Telemetry, facility: &str) -> Live {
    let mut live = Live::default();
    let Some(meters) = tel.meters_of(facility) else { return live };
    let at = meters.iter().filter_map(|&m| tel.series[m as usize].last().map(|p| p.0)).max().unwrap_or(0);
    live.at_ms = at;
    let mut roles: Vec<Role> = meters.iter().map(|&m| tel.registry.meter(m).role).collect();
    roles.sort_unstable();
    roles.dedup();
    for role in roles {
        if role.is_gauge() {
            if let Some((at_ms, value)) = tel.latest(facility, role) {
                live.gauges.insert(role, Gauge { at_ms, value });
            }
            continue;
        }
        if let Some((p, _)) = tel.current_power(facility, role) {
            live.power_kw.insert(role, p);
        }
        if let Some(cells) = tel.facility_energy(facility, role, Period::Quarter, at - HOUR_MS, at) {
            live.energy_1h_kwh.insert(role, cells.values().map(|c| c.energy_kwh()).sum());
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
