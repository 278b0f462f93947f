//! Indicator components from what the platform already knows (issue 15), so that a carbon office
//! types nothing twice:
//!
//! - **Snapshots**: for each year and org, the newest inventory snapshot of that year covering the
//!   org (its own or an org's above it) that keeps its cells gives the org's own energy (tce),
//!   Scope 1, Scope 2 (location, market), Scope 1 + 2 (location), electricity, green electricity
//!   (certified + own PV), own PV and 5G base-station electricity per month, source
//!   `snapshot:ID`. Snapshots are computed only from approved filings, so the newest one is the
//!   approved figure; a newer version (a recomputation, or a run after a restatement) replaces it
//!   and the old one stays readable (`GET /api/v1/snapshots/{id}/indicator-components`). Each
//!   org's own cells come from exactly one snapshot, so nothing is counted twice.
//! - **Business data**: approved business-data filings (newest version), source `filing:ID`.
//! - **Facility attributes**: counts of data centres (and large ones), base stations (and those
//!   with AI saving), vehicles (and electric ones) per year, source `attributes`; and which data
//!   centres are new and large, which stations new and 5G, for the meter and saving-run values.
//!
//! - **碳普惠**: the reductions credited to the personal carbon accounts of each org's people per
//!   month (claimable, claimed or expired credits), source `inclusive`.
//!
//! A fed component replaces hand entries of the same org, year and component
//! (`indicators::Observations::feed`): they are shown as overridden, never summed.

use crate::error::{Error, Result};
use accounting::metrics::{self as mx, Metrics};
use indicators::{Component, Observation, PeriodKey};
use model::{FacilityType, OrgTree};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use store::Store;

/// Everything the feeds derived from the store, at one state of it (see [`fingerprint`]).
#[derive(Debug, Default)]
pub struct Fed {
    pub rows: Vec<Observation>,
    /// (org id, year) → the snapshot its own figures come from.
    pub snapshot_of: BTreeMap<(u32, i32), i64>,
    /// Facility → its type and attribute versions (valid_from, changes), in order.
    pub attributes: HashMap<String, (FacilityType, indicators::attributes::Versions)>,
}

impl Fed {
    fn state(&self, facility: &str, year: i32) -> Option<(FacilityType, Map<String, Value>)> {
        let (kind, versions) = self.attributes.get(facility)?;
        let end = format!("{year:04}-12-31");
        Some((*kind, indicators::attributes::state_at(versions.iter().map(|(d, a)| (d.as_str(), a)), &end)))
    }
    /// A new (commissioned from 2021) large or hyperscale data centre in `year`.
    pub fn new_large_dc(&self, facility: &str, year: i32) -> bool {
        self.state(facility, year).is_some_and(|(k, s)| {
            k == FacilityType::DataCenter && indicators::attributes::is_new(&s) && indicators::attributes::is_large(&s)
        })
    }
    /// A new (commissioned from 2021) 5G base station in `year`.
    pub fn new_5g(&self, facility: &str, year: i32) -> bool {
        self.state(facility, year)
            .is_some_and(|(k, s)| indicators::attributes::is_5g(k, &s) && indicators::attributes::is_new(&s))
    }
}

/// What the feeds read, as a text that changes whenever any of it changes.
pub fn fingerprint(store: &Store) -> Result<String> {
    Ok(format!(
        "{}|{}|{}|{}|{}|{}",
        store.snapshots_fingerprint()?,
        store.business_fingerprint()?,
        store.attributes_fingerprint()?,
        store.facility_count()?,
        store.inclusive_fingerprint()?,
        store.supply_logistics_fingerprint()?
    ))
}

/// Millionths of a tonne from millionths of a kilogram, rounded half away from zero.
fn kg_to_t(v: i128) -> i128 {
    let q = v / 1000;
    let r = v % 1000;
    if r.abs() >= 500 {
        q + v.signum()
    } else {
        q
    }
}

/// The components one org's own cells of one month give (`electricity_5g`: the month's 5G station
/// electricity).
pub fn cell_components(m: &Metrics, electricity_5g: i128) -> [(Component, i128); 9] {
    [
        (Component::EnergyTce, kg_to_t(m.0[mx::ENERGY_KGCE])),
        (Component::EmissionsTco2e, kg_to_t(m.scope1() + m.0[mx::S2_LOCATION])),
        (Component::Scope1Tco2e, kg_to_t(m.scope1())),
        (Component::Scope2LocationTco2e, kg_to_t(m.0[mx::S2_LOCATION])),
        (Component::Scope2MarketTco2e, kg_to_t(m.0[mx::S2_MARKET])),
        (Component::ElectricityKwh, m.0[mx::ELECTRICITY_KWH]),
        (Component::GreenElectricityKwh, m.0[mx::GREEN_CERTIFIED_KWH] + m.0[mx::PV_SELF_KWH]),
        (Component::PvSelfKwh, m.0[mx::PV_SELF_KWH]),
        (Component::Bs5gKwh, electricity_5g),
    ]
}

/// The components snapshot `id` gives for the orgs in `orgs` (all of its orgs when `None`): per
/// org and month, from the cells it keeps. `None` when it keeps no cells.
pub fn snapshot_rows(
    store: &Store,
    tree: &OrgTree,
    id: i64,
    year: i32,
    orgs: Option<&std::collections::HashSet<u32>>,
) -> Result<Option<Vec<Observation>>> {
    let Some(cells) = store.snapshot_cells(id)? else { return Ok(None) };
    let mut by: BTreeMap<(u32, u8), (Metrics, i128)> = BTreeMap::new();
    for c in &cells {
        let Some(org) = tree.get(&c.org_code) else { continue };
        if orgs.is_some_and(|o| !o.contains(&org)) {
            continue;
        }
        let bad = || Error::internal(format!("snapshot {id}: a kept cell does not read"));
        let m = Metrics::decode(&c.metrics).ok_or_else(bad)?;
        let month = u8::try_from(c.month).ok().filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
        let e = by.entry((org, month)).or_default();
        e.0.add(&m);
        if c.facility_type == FacilityType::BaseStation5g.code() {
            e.1 += m.0[mx::ELECTRICITY_KWH];
        }
    }
    let source = format!("snapshot:{id}");
    let mut out = Vec::with_capacity(by.len() * 9);
    for ((org, month), (m, e5g)) in by {
        for (component, value) in cell_components(&m, e5g) {
            out.push(Observation {
                org,
                facility: None,
                period: PeriodKey { year, month },
                component,
                value,
                source: source.clone(),
            });
        }
    }
    Ok(Some(out))
}

/// Reads every feed (see the module documentation). Blocking.
pub fn read(store: &Store, tree: &OrgTree) -> Result<Fed> {
    let mut fed = Fed::default();
    // Snapshots: per (org, year) the newest one covering the org that keeps its cells.
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    let snaps = store.snapshots_with_cells()?;
    for id in 0..tree.orgs.len() as u32 {
        let Some(path) = paths.get(&tree.org(id).code) else { continue };
        for (sid, root, year) in &snaps {
            if paths.get(root).is_some_and(|p| path.starts_with(p.as_str())) {
                // Ids grow: the last one seen is the newest.
                fed.snapshot_of.insert((id, *year as i32), *sid);
            }
        }
    }
    let mut per_snapshot: BTreeMap<(i64, i32), std::collections::HashSet<u32>> = BTreeMap::new();
    for (&(org, year), &sid) in &fed.snapshot_of {
        per_snapshot.entry((sid, year)).or_default().insert(org);
    }
    for ((sid, year), orgs) in per_snapshot {
        if let Some(rows) = snapshot_rows(store, tree, sid, year, Some(&orgs))? {
            fed.rows.extend(rows);
        }
    }
    // Business data: the newest approved version of each filing.
    let filings = store.current_business_filings("/")?;
    let ids: Vec<i64> = filings.iter().map(|f| f.id).collect();
    let mut bad = None;
    store.for_each_activity(&ids, &mut |filing, r| {
        let org = tree.get(&r.facility_code);
        let period = PeriodKey::parse(&r.period);
        let component = indicators::business::metric(&r.carrier).map(|m| m.component);
        let value = indicators::parse_micro(&r.quantity).ok();
        match (org, period, component, value) {
            (Some(org), Some(period), Some(component), Some(value)) => fed.rows.push(Observation {
                org,
                facility: None,
                period,
                component,
                value,
                source: format!("filing:{filing}"),
            }),
            _ => bad = Some(filing),
        }
        Ok(())
    })?;
    if let Some(f) = bad {
        return Err(Error::internal(format!("approved business filing {f} holds a row that does not read")));
    }
    // 碳普惠: the reductions credited to the personal accounts of each org's people, per month.
    for (org_code, month, grams) in store.inclusive_grams_by_org_month()? {
        let (Some(org), Some(period)) = (tree.get(&org_code), PeriodKey::parse(&month)) else { continue };
        fed.rows.push(Observation {
            org,
            facility: None,
            period,
            component: Component::InclusiveReductionKg,
            // Millionths of a kilogram from grams.
            value: i128::from(grams) * 1000,
            source: "inclusive".into(),
        });
    }
    fed.rows.extend(logistics_rows(store, tree)?);
    // Facility attributes.
    let facilities = store.facilities_within("/")?;
    let kind: HashMap<&str, (FacilityType, &str)> = facilities
        .iter()
        .filter_map(|f| FacilityType::parse(&f.kind).map(|k| (f.code.as_str(), (k, f.org_code.as_str()))))
        .collect();
    for v in store.facility_attributes_within("/")? {
        let Some(&(k, _)) = kind.get(v.facility_code.as_str()) else { continue };
        let Value::Object(map) = v.attributes else { continue };
        let e = fed.attributes.entry(v.facility_code.clone()).or_insert_with(|| (k, Vec::new()));
        // A newer version of the same date replaces the older (rows come by date, then version).
        if e.1.last().is_some_and(|(d, _)| *d == v.valid_from) {
            e.1.pop();
        }
        e.1.push((v.valid_from, map));
    }
    // Counts for every year from the first with data (or the targets' base year 2020) to the
    // current year in China: a count is a state at the year's end, not a flow that needs a filing.
    let now: i32 = store::filings::latest_period()[..4].parse().unwrap_or(2100);
    let known = fed.snapshot_of.keys().map(|k| k.1).chain(fed.rows.iter().map(|o| o.period.year));
    let (first, last) = known.fold((2020, now), |(a, b), y| (a.min(y), b.max(y)));
    let years: Vec<i32> = (first.max(1990)..=last.min(2100)).collect();
    let mut counts: BTreeMap<(u32, i32, Component), i128> = BTreeMap::new();
    for (code, (k, versions)) in &fed.attributes {
        let Some(org) = kind.get(code.as_str()).and_then(|(_, o)| tree.get(o)) else { continue };
        for &year in &years {
            let end = format!("{year:04}-12-31");
            let s = indicators::attributes::state_at(versions.iter().map(|(d, a)| (d.as_str(), a)), &end);
            for (c, v) in indicators::attributes::counts(*k, &s, year) {
                *counts.entry((org, year, c)).or_default() += v;
            }
        }
    }
    for ((org, year, component), value) in counts {
        fed.rows.push(Observation {
            org,
            facility: None,
            period: PeriodKey { year, month: 0 },
            component,
            value,
            source: "attributes".into(),
        });
    }
    Ok(fed)
}

/// Green logistics from the supply module's packaging and delivery records (source `supply`): per
/// org and year the packages and green packages it shipped, and the cities with new-energy
/// deliveries. A city is counted once a year, at the org with the most new-energy deliveries there
/// (a tie: the first in the tree's order), so the group's count is the number of distinct cities
/// and no subtree counts a city twice.
pub fn logistics_rows(store: &Store, tree: &OrgTree) -> Result<Vec<Observation>> {
    let mut sums: BTreeMap<(u32, i32, Component), i128> = BTreeMap::new();
    for (org_code, _, body) in store.supply_lines_of_kind("packaging")? {
        let Ok(r) = serde_json::from_value::<supply::logistics::PackagingRecord>(body) else { continue };
        let (Some(org), Some(year)) = (tree.get(&org_code), supply::logistics::period_year(&r.period)) else {
            continue;
        };
        // Counts in millionths, like every component value.
        *sums.entry((org, year, Component::Packages)).or_default() += i128::from(r.packages) * 1_000_000;
        *sums.entry((org, year, Component::GreenPackages)).or_default() +=
            i128::from(r.green_packages.min(r.packages)) * 1_000_000;
    }
    // (year, city) → org → new-energy deliveries.
    let mut by_city: BTreeMap<(i32, String), BTreeMap<u32, u64>> = BTreeMap::new();
    for (org_code, _, body) in store.supply_lines_of_kind("delivery")? {
        let Ok(r) = serde_json::from_value::<supply::logistics::DeliveryRecord>(body) else { continue };
        let (Some(org), Some(year)) = (tree.get(&org_code), supply::logistics::period_year(&r.period)) else {
            continue;
        };
        if r.vehicle != "new_energy" || r.deliveries == 0 {
            continue;
        }
        *by_city.entry((year, r.city.clone())).or_default().entry(org).or_default() += r.deliveries;
    }
    for ((year, _), orgs) in by_city {
        // The org with the most new-energy deliveries in the city; a tie goes to the first org.
        let Some((&org, _)) = orgs.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else { continue };
        *sums.entry((org, year, Component::NevDeliveryCities)).or_default() += 1_000_000;
    }
    Ok(sums
        .into_iter()
        .map(|((org, year, component), value)| Observation {
            org,
            facility: None,
            period: PeriodKey { year, month: 0 },
            component,
            value,
            source: "supply".into(),
        })
        .collect())
}

/// Rows of `obs` (meter and saving-run values of facilities) copied to the components of their
/// "new" subsets where the facility's attributes make it one: a new large data centre's metered
/// energy, a new 5G station's measured saving and reference.
pub fn new_subsets(fed: &Fed, obs: &[Observation]) -> Vec<Observation> {
    let mut out = Vec::new();
    for o in obs {
        let Some(f) = &o.facility else { continue };
        let to = match o.component {
            Component::DcTotalKwh if fed.new_large_dc(f, o.period.year) => Component::NewLargeDcTotalKwh,
            Component::DcItKwh if fed.new_large_dc(f, o.period.year) => Component::NewLargeDcItKwh,
            Component::BsAiSavedKwh if fed.new_5g(f, o.period.year) => Component::NewBs5gSavedKwh,
            Component::BsAiReferenceKwh if fed.new_5g(f, o.period.year) => Component::NewBs5gReferenceKwh,
            _ => continue,
        };
        out.push(Observation { component: to, source: format!("{} + attributes", o.source), ..o.clone() });
    }
    out
}

/// The org tree of the store (the monitoring tree is the same, read at its start).
pub(crate) fn org_tree(store: &Store) -> Result<OrgTree> {
    let rows = store
        .orgs()?
        .into_iter()
        .map(|o| model::OrgRow {
            code: o.code,
            name: o.name,
            parent_code: o.parent_code,
            equity_share: None,
            operational_control: None,
        })
        .collect();
    OrgTree::build(rows).map_err(|e| Error::internal(format!("org tree: {e:?}")))
}

/// The indicator components snapshot `id` gives (any snapshot, current or replaced: an old
/// version stays readable): per org of its subtree, its own components over the year and per
/// month, and the subtree's totals; and whether it is the snapshot indicators read now for each
/// org (`current_for`). Blocking.
pub fn snapshot_components(store: &Store, id: i64) -> Result<Value> {
    let s = store.snapshot(id)?;
    let tree = org_tree(store)?;
    let Some(rows) = snapshot_rows(store, &tree, id, s.year as i32, None)? else {
        return Err(Error::new(
            crate::error::Kind::Conflict,
            "no_cells",
            format!(
                "snapshot {id} keeps no cells (stored before they were kept): open it in the console once to keep them"
            ),
        ));
    };
    let mut own: BTreeMap<String, BTreeMap<&'static str, i128>> = BTreeMap::new();
    let mut months: BTreeMap<String, BTreeMap<u8, BTreeMap<&'static str, i128>>> = BTreeMap::new();
    let mut obs = indicators::Observations::default();
    for o in &rows {
        let code = tree.org(o.org).code.clone();
        *own.entry(code.clone()).or_default().entry(o.component.code()).or_default() += o.value;
        *months.entry(code).or_default().entry(o.period.month).or_default().entry(o.component.code()).or_default() +=
            o.value;
    }
    obs.rows = rows;
    let sums = obs.rollup(&tree, s.year as i32, 0);
    let fed = read(store, &tree)?;
    let f = |v: &i128| indicators::micro_to_f64(*v);
    let orgs: Vec<Value> = own
        .iter()
        .map(|(code, comps)| {
            let oid = tree.get(code).expect("an org of the tree");
            let subtree: BTreeMap<&str, f64> = Component::ALL
                .iter()
                .filter_map(|c| sums[oid as usize].get(*c).map(|v| (c.code(), f(&v))))
                .collect();
            serde_json::json!({
                "org": code,
                "own": comps.iter().map(|(k, v)| (*k, f(v))).collect::<BTreeMap<_, _>>(),
                "subtree": subtree,
                "months": months[code].iter().map(|(m, c)| serde_json::json!({"month": m, "components": c.iter().map(|(k, v)| (*k, f(v))).collect::<BTreeMap<_, _>>()})).collect::<Vec<_>>(),
                "current": fed.snapshot_of.get(&(oid, s.year as i32)) == Some(&id),
            })
        })
        .collect();
    let root = tree.get(&s.org_code);
    let total: BTreeMap<&str, f64> = root
        .map(|r| Component::ALL.iter().filter_map(|c| sums[r as usize].get(*c).map(|v| (c.code(), f(&v)))).collect())
        .unwrap_or_default();
    Ok(serde_json::json!({
        "snapshot": id, "org_code": s.org_code, "year": s.year, "version": s.version, "supersedes": s.supersedes,
        "source": format!("snapshot:{id}"), "total": total, "orgs": orgs,
        "units": Component::ALL.iter().map(|c| (c.code(), c.unit())).collect::<BTreeMap<_, _>>(),
    }))
}
