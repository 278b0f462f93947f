//! The live state kept batch by batch (only the facilities a batch touches are recomputed, by
//! integer facility id) must equal a full recomputation from the series, after every batch, for
//! random batches: out of order, late, duplicated, conflicting, several roles and kinds per
//! facility; and the final state must not depend on the order the batches came in.

use monitor::{LiveEvent, Monitor};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use telemetry::{MeterRegistry, RawReading};

const T0: i64 = 1_714_492_800_000; // 2024-05-01T00:00:00+08:00
const Q: i64 = 15 * 60_000;

/// (meter code, facility, role, kind)
const METERS: [(&str, &str, &str, &str); 9] = [
    ("A-TOT", "DCA", "total_facility", "counter"),
    ("A-IT", "DCA", "it_load", "counter"),
    ("A-IT2", "DCA", "it_load", "power"),
    ("B-TOT", "DCB", "total_facility", "counter"),
    ("B-IT", "DCB", "it_load", "power"),
    ("S-SOC", "SITE", "soc", "gauge"),
    ("S-UNS", "SITE", "unserved", "power"),
    ("S-LOAD", "SITE", "site_load", "power"),
    ("X-GRID", "XNOORG", "grid_import", "counter"),
];

fn open(dir: &std::path::Path) -> Monitor {
    let tree = model::OrgTree::build(
        [("G", None), ("GD", Some("G")), ("BJ", Some("G"))]
            .iter()
            .map(|(c, p)| model::OrgRow {
                code: c.to_string(),
                name: c.to_string(),
                parent_code: p.map(|p| p.to_string()),
                equity_share: None,
                operational_control: None,
            })
            .collect(),
    )
    .unwrap();
    let mut csv = String::from("meter_code,facility_code,role,kind\n");
    for (m, f, r, k) in METERS {
        csv.push_str(&format!("{m},{f},{r},{k}\n"));
    }
    let registry = MeterRegistry::read(csv.as_bytes(), |_| true).unwrap();
    let gd = tree.get("GD").unwrap();
    let fo: HashMap<String, u32> =
        [("DCA".into(), gd), ("DCB".into(), gd), ("SITE".into(), tree.get("BJ").unwrap())].into();
    Monitor::open(registry, tree, fo, alerts::parse_rules(alerts::DEFAULT_RULES).unwrap(), dir).unwrap().0
}

/// A reading of meter `m` at quarter `q` (plus `minute` minutes); counters grow with time so any
/// subset is consistent; `conflict` gives another value for the same time.
fn reading(m: usize, q: i64, minute: i64, conflict: bool) -> RawReading {
    let (code, _, role, kind) = METERS[m];
    let ts = T0 + q * Q + minute * 60_000;
    let k = (ts - T0) as f64 / 60_000.0;
    let mut value = match (kind, role) {
        // A step every 5 hours: the interval across it is a power spike.
        ("counter", _) => 1000.0 + k * (1.5 + m as f64) + 400.0 * (k / 300.0).floor(),
        ("gauge", _) => ((q * 7 + m as i64) % 10) as f64 / 10.0,
        ("power", "unserved") => ((q + minute) % 3) as f64 * 0.5,
        _ => 50.0 + ((q * 13 + minute) % 17) as f64 * (1.0 + m as f64),
    };
    if conflict {
        // Another value for the same time (a state of charge stays a fraction, so it is not rejected).
        value = if kind == "gauge" { (value + 0.3) % 1.0 } else { value + 0.25 };
    }
    RawReading { meter: code.to_string(), ts_ms: ts, value }
}

fn facilities() -> BTreeSet<&'static str> {
    METERS.iter().map(|m| m.1).collect()
}

fn assert_live_equals_recompute(m: &Monitor) {
    for f in facilities() {
        assert_eq!(m.facility_live(f), m.recompute_live(f), "facility {f}");
    }
}

fn org_of(f: &str) -> Option<&'static str> {
    match f {
        "DCA" | "DCB" => Some("GD"),
        "SITE" => Some("BJ"),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn live_state_equals_full_recompute_after_every_batch(
        readings in prop::collection::vec((0..METERS.len(), 0i64..16, 0i64..3, prop::bool::weighted(0.1)), 1..120),
        cuts in prop::collection::vec(1usize..25, 1..12),
    ) {
        let raw: Vec<RawReading> = readings.iter().map(|&(m, q, min, c)| reading(m, q, min, c)).collect();
        let mut batches: Vec<Vec<RawReading>> = Vec::new();
        let mut rest = &raw[..];
        for c in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (b, r) = rest.split_at((*c).min(rest.len()));
            batches.push(b.to_vec());
            rest = r;
        }
        let now = T0 + 30 * Q;
        let dir = tempfile::tempdir().unwrap();
        let m = open(dir.path());
        let mut rx = m.subscribe();
        for b in &batches {
            m.ingest(b, now, "test").unwrap();
            assert_live_equals_recompute(&m);
            // Facility events: exactly the facilities of the batch, each with its state now.
            let fac_of: HashMap<&str, &str> = METERS.iter().map(|m| (m.0, m.1)).collect();
            let expected: BTreeSet<String> = b.iter().map(|r| fac_of[r.meter.as_str()].to_string()).collect();
            let mut got = Vec::new();
            while let Ok(e) = rx.try_recv() {
                if let LiveEvent::Facility { facility, org, live } = e {
                    prop_assert_eq!(org.as_deref(), org_of(&facility));
                    prop_assert_eq!(Some(live), m.facility_live(&facility));
                    got.push(facility);
                }
            }
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "facility events in code order: {:?}", got);
            prop_assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
        }
        // Org state: ratio of sums over the facilities' recomputed states.
        for org in ["GD", "BJ", "G"] {
            let members: Vec<&str> = facilities().into_iter()
                .filter(|f| org_of(f).is_some_and(|o| o == org || org == "G"))
                .collect();
            let live = m.org_live(org).unwrap();
            let (mut total, mut it) = (0.0, 0.0);
            let mut power: std::collections::BTreeMap<telemetry::Role, f64> = Default::default();
            for f in &members {
                let l = m.recompute_live(f).unwrap();
                for (r, p) in &l.power_kw {
                    *power.entry(*r).or_default() += p;
                }
                if let (Some(t), Some(i)) = (l.energy_1h_kwh.get(&telemetry::Role::TotalFacility), l.energy_1h_kwh.get(&telemetry::Role::ItLoad)) {
                    total += t;
                    it += i;
                }
            }
            prop_assert_eq!(&live.power_kw, &power, "org {}", org);
            prop_assert_eq!(live.pue_1h, (it > 0.0).then(|| total / it), "org {}", org);
            prop_assert!(live.gauges.is_empty());
        }
        prop_assert!(m.org_live("NOPE").is_none());

        // The same batches in reverse order end in the same live state (readings are kept by time;
        // conflicts keep the first value, so only conflict-free inputs must agree).
        if !readings.iter().any(|r| r.3) {
            let dir2 = tempfile::tempdir().unwrap();
            let m2 = open(dir2.path());
            for b in batches.iter().rev() {
                m2.ingest(b, now, "test").unwrap();
            }
            for f in facilities() {
                prop_assert_eq!(m.facility_live(f), m2.facility_live(f), "facility {}", f);
            }
            for org in ["GD", "BJ", "G"] {
                prop_assert_eq!(m.org_live(org), m2.org_live(org), "org {}", org);
            }
        }
    }
}

/// The alert rules as the live service ran them before facilities and subjects became integer ids:
/// string subjects, every facility's state from the string-keyed `Telemetry` queries. The monitor
/// must open and resolve exactly the same alerts, in the same order, with the same ids and texts.
struct Reference {
    tel: telemetry::Telemetry,
    engine: alerts::Engine,
    previous_at: HashMap<String, i64>,
}

impl Reference {
    fn new() -> Reference {
        let mut csv = String::from("meter_code,facility_code,role,kind\n");
        for (m, f, r, k) in METERS {
            csv.push_str(&format!("{m},{f},{r},{k}\n"));
        }
        Reference {
            tel: telemetry::Telemetry::new(MeterRegistry::read(csv.as_bytes(), |_| true).unwrap()),
            engine: alerts::Engine::new(alerts::parse_rules(alerts::DEFAULT_RULES).unwrap()),
            previous_at: HashMap::new(),
        }
    }

    fn trailing(&self, f: &str, role: telemetry::Role, t: i64) -> Option<f64> {
        self.tel
            .facility_energy(f, role, telemetry::Period::Quarter, t - 4 * Q, t)
            .map(|c| c.values().map(|c| c.energy_kwh()).sum())
    }

    fn ingest(&mut self, raw: &[RawReading], now: i64) -> Vec<alerts::Event> {
        use telemetry::Role;
        let mut report = telemetry::IngestReport::default();
        let valid = self.tel.validate(raw, Some(now + 60_000), &mut report, &mut Vec::new());
        self.tel.apply(&valid, None, &mut report);
        let mut events = Vec::new();
        let mut seen: std::collections::BTreeMap<u32, i64> = Default::default();
        for r in &valid {
            let e = seen.entry(r.meter).or_insert(r.ts_ms);
            *e = (*e).max(r.ts_ms);
        }
        for (m, ts) in seen {
            events.extend(self.engine.seen(&format!("meter:{}", self.tel.registry.meter(m).code), ts));
        }
        let touched: BTreeSet<String> =
            valid.iter().map(|r| self.tel.registry.meter(r.meter).facility.clone()).collect();
        let mut observations: Vec<(String, &str, i64, f64)> = Vec::new();
        let mut later = Vec::new();
        for f in &touched {
            let meters = self.tel.meters_of(f).unwrap();
            let at = meters.iter().filter_map(|&m| self.tel.series[m as usize].last().map(|p| p.0)).max().unwrap();
            let subject = format!("facility:{f}");
            let (total, it) = (self.trailing(f, Role::TotalFacility, at), self.trailing(f, Role::ItLoad, at));
            let prev = self.previous_at.insert(f.clone(), at);
            if let (Some(total), Some(it)) = (total, it) {
                let first = prev.map_or(at - 96 * Q, |p| p + Q).max(at - 96 * Q);
                let mut t = first.div_euclid(Q) * Q;
                while t < at {
                    let (tt, ti) = (self.trailing(f, Role::TotalFacility, t), self.trailing(f, Role::ItLoad, t));
                    if let (Some(tt), Some(ti)) = (tt, ti) {
                        if ti > 0.0 {
                            observations.push((subject.clone(), "pue", t, tt / ti));
                        }
                    }
                    t += Q;
                }
                if it > 0.0 {
                    observations.push((subject.clone(), "pue", at, total / it));
                }
            }
            let power = |role| self.tel.current_power(f, role).map(|p| p.0);
            if let Some(p) = power(Role::TotalFacility).or(power(Role::GridImport)) {
                later.push((subject.clone(), "power_kw", at, p));
            }
            if let Some((t, v)) = self.tel.latest(f, Role::Soc) {
                later.push((subject.clone(), "soc", t, v));
            }
            if let Some(p) = power(Role::Unserved) {
                later.push((subject.clone(), "unserved_kw", at, p));
            }
        }
        observations.extend(later);
        for (s, metric, t, v) in observations {
            events.extend(self.engine.observe(&s, metric, t, v));
        }
        events
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn alerts_are_those_of_the_string_keyed_rules(
        readings in prop::collection::vec((0..METERS.len(), 0i64..40, 0i64..3, prop::bool::weighted(0.05)), 1..300),
        cuts in prop::collection::vec(1usize..15, 1..12),
        in_time_order in prop::bool::ANY,
    ) {
        let mut raw: Vec<RawReading> = readings.iter().map(|&(m, q, min, c)| reading(m, q, min, c)).collect();
        if in_time_order {
            // Mostly in order, as meters report: enough values per facility for the spike rule.
            raw.sort_by_key(|r| r.ts_ms);
        }
        let now = T0 + 60 * Q;
        let dir = tempfile::tempdir().unwrap();
        let m = open(dir.path());
        m.watch_all_meters(T0);
        let mut reference = Reference::new();
        for meter in METERS {
            reference.engine.watch(&format!("meter:{}", meter.0), T0);
        }
        let mut rx = m.subscribe();
        let mut rest = &raw[..];
        for c in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (b, r) = rest.split_at((*c).min(rest.len()));
            rest = r;
            m.ingest(b, now, "test").unwrap();
            let expected = reference.ingest(b, now);
            let mut got = Vec::new();
            while let Ok(e) = rx.try_recv() {
                if let LiveEvent::Alert { event } = e {
                    got.push(event);
                }
            }
            prop_assert_eq!(got, expected);
        }
        prop_assert_eq!(m.tick(now + 45 * 60_000), reference.engine.tick(now + 45 * 60_000));
    }
}

/// Four writers at once (as the HTTP endpoint and MQTT run them): whatever the interleaving, when
/// the last `ingest` has returned the live state of every facility is the one computed from all
/// readings; a state computed from older series never overwrites a newer one.
#[test]
fn concurrent_writers_leave_the_state_of_all_readings() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let mut raw = Vec::new();
    for q in 0..150 {
        for (i, _) in METERS.iter().enumerate() {
            raw.push(reading(i, q, (q + i as i64) % 3, false));
        }
    }
    // Interleave the meters' streams so consecutive batches touch the same facilities.
    let batches: Vec<&[RawReading]> = raw.chunks(5).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(b) = batches.get(i) else { return };
                let rep = m.ingest(b, T0 + 200 * Q, "test").unwrap();
                assert_eq!(rep.rejected, 0, "{:?}", rep.problems);
            });
        }
    });
    assert_live_equals_recompute(&m);
    let last = m.facility_live("DCA").unwrap();
    let newest_minute = (0..3).map(|i| (149 + i) % 3).max().unwrap();
    assert_eq!(last.at_ms, T0 + 149 * Q + newest_minute * 60_000, "newest reading of DCA's meters");
    assert!(last.pue_1h.is_some());
}
