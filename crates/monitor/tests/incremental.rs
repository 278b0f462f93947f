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
        ("counter", _) => 1000.0 + k * (1.5 + m as f64),
        ("gauge", _) => ((q * 7 + m as i64) % 10) as f64 / 10.0,
        ("power", "unserved") => ((q + minute) % 3) as f64 * 0.5,
        _ => 50.0 + ((q * 13 + minute) % 17) as f64 * (1.0 + m as f64),
    };
    if conflict {
        value += 0.25;
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
