//! Scenario baselines from stored inventories: the `scenario` crate's calibration on a snapshot's
//! recorded inputs (its org subtree only), the reconciliation from the snapshot's stored total to
//! the scenario base, LMDI between two snapshots and the monthly trend of an org's snapshots.
//! Everything else of the scenarios is the crate's JSON-in/JSON-out API, which reads nothing stored.

use crate::error::{Error, Kind, Result};
use crate::snapshot::{self, Inputs};
use crate::Platform;
use scenario::{Baseline, Class, Drivers};
use serde_json::{json, Value};

/// The inputs recorded with a snapshot ([`snapshot::recorded_inputs`]), with market-based Scope 2
/// on the location residual: the scenario model values grey electricity at the grid factor (see
/// docs/scenarios.md).
fn calibration_inputs(store: &store::Store, id: i64) -> Result<(store::snapshots::Snapshot, Inputs)> {
    let s = store.snapshot(id)?;
    let mut inputs = snapshot::recorded_inputs(store, &s)?;
    if !inputs.options.is_object() {
        inputs.options = json!({});
    }
    inputs.options["residual"] = json!("location");
    Ok((s, inputs))
}

/// Calibrates the scenario baseline on a snapshot's recorded inputs, limited to the snapshot's org
/// subtree: facilities of other orgs (which file nothing into this snapshot) are not counted.
pub fn baseline_of_snapshot(store: &store::Store, id: i64, threads: usize) -> Result<Baseline> {
    Ok(calibrated_snapshot(store, id, threads)?.1)
}

/// The snapshot and the baseline calibrated on it.
pub fn calibrated_snapshot(
    store: &store::Store,
    id: i64,
    threads: usize,
) -> Result<(store::snapshots::Snapshot, Baseline)> {
    let (s, inputs) = calibration_inputs(store, id)?;
    let c = snapshot::compute(store, &inputs, threads)?;
    let source = format!(
        "snapshot {id} of {} for {} (library {}), market-based Scope 2 on the location residual",
        s.org_code, s.year, s.library_fingerprint
    );
    let mut b = scenario::calibrate(&c.ds, &c.inventory, &source).map_err(|e| Error::internal(e.to_string()))?;
    let mut counts = vec![vec![0u64; Class::ALL.len()]; b.provinces.len()];
    for f in &c.ds.facilities {
        if !c.ds.orgs.is_within(f.org, c.org_id) {
            continue;
        }
        let anchor = c.ds.orgs.ancestor_at_depth(f.org, 1).unwrap_or(c.ds.orgs.root());
        let code = &c.ds.orgs.orgs[anchor as usize].code;
        if let Some(row) = b.provinces.iter().position(|p| &p.code == code) {
            counts[row][Class::of_facility(f.kind) as usize] += 1;
        }
    }
    for (p, n) in b.provinces.iter_mut().zip(counts) {
        for (cb, n) in p.classes.iter_mut().zip(n) {
            cb.facilities = n;
        }
    }
    b.provinces.retain(|p| p.classes.iter().any(|c| *c != scenario::ClassBase::default()));
    if b.provinces.is_empty() {
        return Err(Error::new(
            Kind::Invalid,
            "empty_baseline",
            format!("snapshot {id} has no emissions, electricity or facilities to calibrate on"),
        ));
    }
    Ok((s, b))
}

/// From the snapshot's stored total (what the overview shows: Scope 1 + market-based Scope 2 on
/// the snapshot's residual + Scope 3) to the scenario base, each difference with its code and
/// amount (`scenario::reconcile`); the console words the codes.
pub fn reconciliation(s: &store::snapshots::Snapshot, b: &Baseline) -> Result<scenario::Reconciliation> {
    let residual = snapshot::parse_options(s.year as i32, &s.options)?.residual;
    let totals = &s.result["totals"];
    let figure =
        |k: &str| totals[k].as_f64().ok_or_else(|| Error::internal(format!("snapshot {}: no stored totals.{k}", s.id)));
    let inv = scenario::InventoryTotals {
        total_market_tco2e: figure("total_market")?,
        scope3_tco2e: figure("scope3")?,
        scope2_market_tco2e: figure("scope2_market")?,
        residual: scenario::baseline::residual_code(residual).into(),
    };
    Ok(scenario::reconcile(&inv, b))
}

/// The change from snapshot `id`'s year to snapshot `to`'s decomposed (LMDI) into activity,
/// intensity, PUE, grid factor, green power and Scope 1. Blocking.
pub fn lmdi(store: &store::Store, id: i64, to: i64, threads: usize) -> Result<scenario::lmdi::Decomposition> {
    let a = baseline_of_snapshot(store, id, threads)?;
    let b = baseline_of_snapshot(store, to, threads)?;
    if a.base_year == b.base_year {
        return Err(Error::bad_request(format!(
            "snapshots {id} and {to} are both of {}: choose two years",
            a.base_year
        )));
    }
    let (a, b) = if a.base_year < b.base_year { (a, b) } else { (b, a) };
    let drivers = Drivers::shipped();
    let from = scenario::lmdi::observations_from_baseline(&a, &drivers);
    let until = scenario::lmdi::observations_from_baseline(&b, &drivers);
    scenario::lmdi::decompose(a.base_year, &from, b.base_year, &until)
        .map_err(|e| Error::new(Kind::Invalid, "invalid_history", e.to_string()))
}

/// Monthly emissions (market-based) and energy of org `code` from its current snapshots, year after
/// year (the snapshots' kept monthly figures), with seasonal decomposition, an ETS forecast of
/// `horizon` months with 80 % prediction intervals and a backtest (MAPE, sMAPE). Blocking.
pub fn trend(platform: &Platform, code: &str, horizon: usize) -> Result<Value> {
    let store = &platform.store;
    let h = horizon;
    let superseded = store.superseded_snapshots()?;
    let mut snaps: Vec<_> =
        store.snapshot_list()?.into_iter().filter(|s| s.org_code == code && !superseded.contains(&s.id)).collect();
    // The newest snapshot of each year.
    snaps.sort_by_key(|s| (s.year, s.id));
    let mut by_year: std::collections::BTreeMap<i64, i64> = Default::default();
    for s in &snaps {
        by_year.insert(s.year, s.id);
    }
    if by_year.is_empty() {
        return Err(Error::not_found(format!("org {code} has no inventory snapshot: run one first")));
    }
    let mut periods: Vec<String> = Vec::new();
    let (mut emissions, mut energy) = (Vec::new(), Vec::new());
    let mut used = Vec::new();
    for (year, id) in &by_year {
        if let Some(last) = periods.last() {
            if scenario::trend::add_months(last, 1) != Some(format!("{year}-01")) {
                return Err(Error::new(
                    Kind::Invalid,
                    "gap",
                    format!("org {code} has no snapshot for the year before {year}: the series must be monthly without gaps"),
                ));
            }
        }
        // The console's kept monthly figures of the snapshot (computed once, then read).
        let agg = crate::snapshot::snapshot_aggregates(platform, *id)?;
        for m in agg.orgs.get(code).map_or(&[][..], |o| &o.months) {
            periods.push(m.key.clone());
            emissions.push(m.totals.total_market);
            energy.push(m.totals.energy_tce);
        }
        used.push(json!({"year": year, "snapshot": id}));
    }
    let bad = |e: String| Error::new(Kind::Invalid, "too_short", e);
    let e = scenario::trend::analyse("emissions_tco2e", &periods, &emissions, h, 0.8).map_err(bad)?;
    let n = scenario::trend::analyse("energy_tce", &periods, &energy, h, 0.8).map_err(bad)?;
    Ok(json!({"org": code, "snapshots": used, "series": [e, n]}))
}
