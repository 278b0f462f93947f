//! The inventory computation: plans resolved once per key, then one pass over the records.

use crate::metrics::*;
use crate::options::{Boundary, InventoryOptions};
use crate::plan::{province_chains, Plan, PlanKey, Planner};
use factors::Library;
use model::{Dataset, Dimension, FacilityType, RecordRef, UNITS};
use serde::Serialize;

pub const N_TYPES: usize = FacilityType::ALL.len();
const N_DIMS: usize = 8;
const N_PROVINCES: usize = 31;

/// Why the inventory could not be computed, with how many records it affects and where the first is.
#[derive(Debug, Clone, Serialize)]
pub struct PlanError {
    pub message: String,
    pub records: usize,
    pub first_record: RecordRef,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} ({} record{} affected)",
            self.first_record.file,
            self.first_record.line,
            self.message,
            self.records,
            if self.records == 1 { "" } else { "s" }
        )
    }
}

/// How much of a facility's activity the inventory books, and what it leaves out and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shares {
    /// Booked: allocation share × boundary share.
    pub booked: f64,
    /// Allocated to the other party of a shared site: (1 − allocation share) × boundary share.
    pub allocated_away: f64,
    /// Outside the organisational boundary: allocation share × (1 − boundary share).
    pub excluded: f64,
}

pub(crate) fn dim_index(d: Dimension) -> usize {
    d as usize
}

fn key_index(carrier: u16, province: u8, mobile: bool, dim: usize) -> usize {
    ((carrier as usize * N_PROVINCES + province as usize) * 2 + mobile as usize) * N_DIMS + dim
}

/// A computed inventory: figures per (org, facility type, month) cell, the plans that produced them,
/// and the identity of the factor library used.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub options: InventoryOptions,
    pub library_version: String,
    pub library_fingerprint: String,
    pub plans: Vec<Plan>,
    plan_index: Vec<u32>,
    pub shares: Vec<Shares>,
    pub cells: Vec<Metrics>,
    pub n_orgs: usize,
    pub records: usize,
    pub warnings: Vec<String>,
}

impl Inventory {
    pub fn cell_index(org: usize, kind: FacilityType, month: u8) -> usize {
        (org * N_TYPES + kind as usize) * 12 + (month as usize - 1)
    }

    /// The plan used for record `row` of `ds`.
    pub fn plan_for(&self, ds: &Dataset, row: usize) -> &Plan {
        let a = &ds.activity;
        let fac = &ds.facilities[a.facility[row] as usize];
        let k = key_index(
            a.carrier[row],
            fac.province,
            fac.kind.is_mobile(),
            dim_index(UNITS[a.unit[row] as usize].dimension),
        );
        &self.plans[self.plan_index[k] as usize]
    }

    /// The figures one record contributes, exactly as they were accumulated.
    pub fn record_metrics(&self, ds: &Dataset, row: usize) -> Metrics {
        let mut m = Metrics::default();
        self.add_record(ds, row, &mut m);
        m
    }

    /// Adds the figures of record `row` to `cell`, exactly as the inventory accumulated them (the
    /// same roundings), without building a cell for the record.
    pub fn add_record(&self, ds: &Dataset, row: usize, cell: &mut Metrics) {
        let plan = self.plan_for(ds, row);
        let shares = &self.shares[ds.activity.facility[row] as usize];
        contribute(cell, plan, ds.activity.quantity[row], shares);
    }
}

#[inline]
fn contribute(cell: &mut Metrics, plan: &Plan, q: f64, s: &Shares) {
    let mut s12 = 0.0;
    let mut kwh = 0.0;
    for &(m, c) in &plan.coef {
        let v = q * c;
        cell.0[m] += fixed(v * s.booked);
        match m {
            S1_STATIONARY | S1_MOBILE | S1_FUGITIVE | S2_LOCATION => s12 += v,
            ELECTRICITY_KWH => kwh += v,
            _ => {}
        }
    }
    if s.allocated_away != 0.0 {
        cell.0[ALLOCATED_AWAY_CO2E] += fixed(s12 * s.allocated_away);
        cell.0[ALLOCATED_AWAY_KWH] += fixed(kwh * s.allocated_away);
    }
    if s.excluded != 0.0 {
        cell.0[EXCLUDED_CO2E] += fixed(s12 * s.excluded);
    }
}

/// [`contribute`] into two cells at once (the inventory's and the breakdown's): the same
/// roundings, each rounded contribution added to both.
#[inline]
fn contribute2(cell: &mut Metrics, other: &mut Metrics, plan: &Plan, q: f64, s: &Shares) {
    let mut s12 = 0.0;
    let mut kwh = 0.0;
    for &(m, c) in &plan.coef {
        let v = q * c;
        let x = fixed(v * s.booked);
        cell.0[m] += x;
        other.0[m] += x;
        match m {
            S1_STATIONARY | S1_MOBILE | S1_FUGITIVE | S2_LOCATION => s12 += v,
            ELECTRICITY_KWH => kwh += v,
            _ => {}
        }
    }
    if s.allocated_away != 0.0 {
        let (x, y) = (fixed(s12 * s.allocated_away), fixed(kwh * s.allocated_away));
        cell.0[ALLOCATED_AWAY_CO2E] += x;
        other.0[ALLOCATED_AWAY_CO2E] += x;
        cell.0[ALLOCATED_AWAY_KWH] += y;
        other.0[ALLOCATED_AWAY_KWH] += y;
    }
    if s.excluded != 0.0 {
        let x = fixed(s12 * s.excluded);
        cell.0[EXCLUDED_CO2E] += x;
        other.0[EXCLUDED_CO2E] += x;
    }
}

pub fn facility_shares(ds: &Dataset, boundary: Boundary) -> Vec<Shares> {
    ds.facilities
        .iter()
        .map(|f| {
            let b = match boundary {
                Boundary::OperationalControl => {
                    if ds.orgs.under_operational_control(f.org) {
                        1.0
                    } else {
                        0.0
                    }
                }
                Boundary::EquityShare => ds.orgs.equity_factor(f.org),
            };
            Shares {
                booked: f.allocation_share * b,
                allocated_away: (1.0 - f.allocation_share) * b,
                excluded: f.allocation_share * (1.0 - b),
            }
        })
        .collect()
}

/// Computes the inventory of `ds` with `lib`. Fails, listing every problem, rather than leave out
/// any record it cannot compute.
pub fn compute(ds: &Dataset, lib: &Library, opts: &InventoryOptions) -> Result<Inventory, Vec<PlanError>> {
    compute_with_breakdown(ds, lib, opts, None).map(|(inv, _)| inv)
}

/// What a caller (the disclosure report) asks the inventory's single pass to keep besides its
/// cells, for the records of the facilities marked in `within` (an org's subtree).
#[derive(Debug, Clone, Copy)]
pub struct BreakdownRequest<'a> {
    /// Per facility: whether its records are kept.
    pub within: &'a [bool],
    /// Per string of `ds.strings`: whether a source document of that name is a meter reading.
    pub meter_documents: &'a [bool],
}

/// The figures of the requested facilities' records by plan (carrier, province, mobile,
/// dimension) × facility type, added in the same pass and with the same roundings as the
/// inventory's cells (so they sum to its totals to the milligram), and counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breakdown {
    /// Plan `p`, facility type `t` at `p * N_TYPES + t` ([`Inventory::plans`]).
    pub cells: Vec<Metrics>,
    /// Per plan: the booked physical quantity in millionths of the base unit.
    pub quantity: Vec<i128>,
    /// Per plan: records.
    pub records: Vec<usize>,
    pub month_records: [usize; 12],
    /// Records without a source document (estimates), and with a meter reading as their document.
    pub without_document: usize,
    pub meter_derived: usize,
    /// Per facility: months with data (bit m − 1).
    pub facility_months: Vec<u16>,
}

impl Breakdown {
    fn new(plans: usize, facilities: usize) -> Breakdown {
        Breakdown {
            cells: vec![Metrics::default(); plans * N_TYPES],
            quantity: vec![0; plans],
            records: vec![0; plans],
            facility_months: vec![0; facilities],
            ..Default::default()
        }
    }
    fn merge(&mut self, o: &Breakdown) {
        for (c, p) in self.cells.iter_mut().zip(&o.cells) {
            c.add(p);
        }
        for (q, p) in self.quantity.iter_mut().zip(&o.quantity) {
            *q += p;
        }
        for (q, p) in self.records.iter_mut().zip(&o.records) {
            *q += p;
        }
        for m in 0..12 {
            self.month_records[m] += o.month_records[m];
        }
        self.without_document += o.without_document;
        self.meter_derived += o.meter_derived;
        for (q, p) in self.facility_months.iter_mut().zip(&o.facility_months) {
            *q |= p;
        }
    }
}

/// [`compute`], also keeping the [`Breakdown`] of the requested facilities in the same pass over
/// the records (no second pass for the report's tables).
pub fn compute_with_breakdown(
    ds: &Dataset,
    lib: &Library,
    opts: &InventoryOptions,
    request: Option<BreakdownRequest<'_>>,
) -> Result<(Inventory, Option<Breakdown>), Vec<PlanError>> {
    let a = &ds.activity;
    let n_keys = ds.carriers.len().max(1) * N_PROVINCES * 2 * N_DIMS;
    // Pass 1: which plan keys occur, how often, and their first record.
    let mut used: Vec<(usize, usize)> = vec![(0, usize::MAX); n_keys];
    let fac_key: Vec<(u8, bool)> = ds.facilities.iter().map(|f| (f.province, f.kind.is_mobile())).collect();
    for r in 0..a.len() {
        let (p, m) = fac_key[a.facility[r] as usize];
        let k = key_index(a.carrier[r], p, m, dim_index(UNITS[a.unit[r] as usize].dimension));
        let u = &mut used[k];
        if u.0 == 0 {
            u.1 = r;
        }
        u.0 += 1;
    }
    // Pass 2: a plan for every key in use.
    let planner = Planner { lib, opts, chains: province_chains() };
    let mut plans = Vec::new();
    let mut plan_index = vec![u32::MAX; n_keys];
    let mut errors: Vec<PlanError> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for (k, &(count, first)) in used.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let carrier = a.carrier[first];
        let fac = &ds.facilities[a.facility[first] as usize];
        let key = PlanKey {
            carrier,
            province: fac.province,
            mobile: fac.kind.is_mobile(),
            dimension: UNITS[a.unit[first] as usize].dimension,
        };
        match planner.plan(key, &ds.carriers[carrier as usize]) {
            Ok(plan) => {
                for w in &plan.warnings {
                    if !warnings.contains(w) {
                        warnings.push(w.clone());
                    }
                }
                plan_index[k] = plans.len() as u32;
                plans.push(plan);
            }
            Err(e) => {
                let message = e.to_string();
                if let Some(pe) = errors.iter_mut().find(|pe| pe.message == message) {
                    pe.records += count;
                } else {
                    errors.push(PlanError { message, records: count, first_record: ds.record_ref(first) });
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let shares = facility_shares(ds, opts.boundary);
    let n_orgs = ds.orgs.orgs.len();
    let n_cells = n_orgs * N_TYPES * 12;
    let cell_base: Vec<usize> =
        ds.facilities.iter().map(|f| Inventory::cell_index(f.org as usize, f.kind, 1)).collect();
    // Pass 3: accumulate, in parallel over row ranges. Integer accumulation makes the merge exact.
    let accumulate = |range: std::ops::Range<usize>| {
        let mut cells = vec![Metrics::default(); n_cells];
        let Some(req) = request else {
            for r in range {
                let f = a.facility[r] as usize;
                let (p, m) = fac_key[f];
                let k = key_index(a.carrier[r], p, m, dim_index(UNITS[a.unit[r] as usize].dimension));
                let plan = &plans[plan_index[k] as usize];
                let cell = &mut cells[cell_base[f] + a.month[r] as usize - 1];
                contribute(cell, plan, a.quantity[r], &shares[f]);
            }
            return (cells, None);
        };
        let mut b = Breakdown::new(plans.len(), ds.facilities.len());
        for r in range {
            let f = a.facility[r] as usize;
            let (p, m) = fac_key[f];
            let k = key_index(a.carrier[r], p, m, dim_index(UNITS[a.unit[r] as usize].dimension));
            let pi = plan_index[k] as usize;
            let plan = &plans[pi];
            let base = cell_base[f];
            let month = a.month[r] as usize;
            let cell = &mut cells[base + month - 1];
            if !req.within[f] {
                contribute(cell, plan, a.quantity[r], &shares[f]);
                continue;
            }
            // The facility type from the cell's index: (org × N_TYPES + type) × 12.
            let kind = (base / 12) % N_TYPES;
            contribute2(cell, &mut b.cells[pi * N_TYPES + kind], plan, a.quantity[r], &shares[f]);
            b.quantity[pi] += fixed(a.quantity[r] * shares[f].booked);
            b.records[pi] += 1;
            b.month_records[month - 1] += 1;
            b.facility_months[f] |= 1 << (month - 1);
            let doc = a.source_document[r] as usize;
            if doc == 0 {
                b.without_document += 1;
            } else if req.meter_documents.get(doc).copied().unwrap_or(false) {
                b.meter_derived += 1;
            }
        }
        (cells, Some(b))
    };
    let threads = opts.threads.max(1).min(a.len().max(1));
    let chunk = a.len().div_ceil(threads).max(1);
    let partials: Vec<(Vec<Metrics>, Option<Breakdown>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(a.len())..((t + 1) * chunk).min(a.len());
                s.spawn(move || accumulate(range))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("accumulator thread")).collect()
    });
    let mut cells = vec![Metrics::default(); n_cells];
    let mut breakdown: Option<Breakdown> = None;
    for (part, b) in partials {
        for (c, p) in cells.iter_mut().zip(part.iter()) {
            c.add(p);
        }
        match (&mut breakdown, b) {
            (Some(acc), Some(b)) => acc.merge(&b),
            (None, Some(b)) => breakdown = Some(b),
            _ => {}
        }
    }
    if request.is_some() && breakdown.is_none() {
        breakdown = Some(Breakdown::new(plans.len(), ds.facilities.len()));
    }
    let inventory = Inventory {
        options: opts.clone(),
        library_version: lib.version(),
        library_fingerprint: lib.fingerprint(),
        plans,
        plan_index,
        shares,
        cells,
        n_orgs,
        records: a.len(),
        warnings,
    };
    Ok((inventory, breakdown))
}
