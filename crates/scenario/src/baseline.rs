//! The calibrated base year: per province (org at depth 1) and facility class, the electricity,
//! Scope 1 and Scope 2 of the org's own inventory. Serialisable, so a platform can store it and a
//! console can re-run scenarios on it without reading activity data again.

use crate::drivers::{Class, N_CLASSES};
use accounting::metrics::*;
use accounting::{Inventory, ResidualBasis};
use model::Dataset;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClassBase {
    /// Electricity consumed at the facilities, all sources (grid, green, own PV), MWh.
    pub electricity_mwh: f64,
    /// Of which certified green power and own PV (zero in market-based Scope 2), MWh.
    pub green_mwh: f64,
    pub scope1_tco2e: f64,
    /// Market-based Scope 2 (electricity without a certificate at the location factor, heat), tCO2e.
    pub scope2_tco2e: f64,
    /// Number of facilities of the class (sites, data centres, rooms, offices, fleets).
    pub facilities: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvinceBase {
    pub code: String,
    pub name: String,
    /// One entry per [`Class`], in [`Class::ALL`] order.
    pub classes: Vec<ClassBase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub base_year: i32,
    /// Where the figures come from (data directory, library version), for traceability.
    pub source: String,
    pub provinces: Vec<ProvinceBase>,
}

/// Derived per (province, class) coefficients of the identity, computed once per run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coefficients {
    pub electricity_mwh: f64,
    /// Effective grid factor on electricity without a green attribute, tCO2/MWh.
    pub grid_factor: f64,
    pub green_share: f64,
    pub scope1_tco2e: f64,
    /// Scope 2 not carried by the electricity identity (purchased heat, or heat of a fully green
    /// class), held constant.
    pub scope2_other_tco2e: f64,
}

impl ClassBase {
    pub fn coefficients(&self) -> Coefficients {
        let e = self.electricity_mwh;
        let grey = (e - self.green_mwh).max(0.0);
        let green_share = if e > 0.0 { (self.green_mwh / e).clamp(0.0, 1.0) } else { 0.0 };
        // The whole market-based Scope 2 rides on grey electricity, so that the base year is
        // reproduced exactly; with no grey electricity it is a constant remainder.
        let (grid_factor, other) = if grey > 0.0 { (self.scope2_tco2e / grey, 0.0) } else { (0.0, self.scope2_tco2e) };
        Coefficients {
            electricity_mwh: e,
            grid_factor,
            green_share,
            scope1_tco2e: self.scope1_tco2e,
            scope2_other_tco2e: other,
        }
    }
}

impl Baseline {
    pub fn total_tco2e(&self) -> f64 {
        self.provinces.iter().flat_map(|p| &p.classes).map(|c| c.scope1_tco2e + c.scope2_tco2e).sum()
    }

    pub fn class_total(&self, class: Class) -> ClassBase {
        let mut t = ClassBase::default();
        for p in &self.provinces {
            let c = &p.classes[class as usize];
            t.electricity_mwh += c.electricity_mwh;
            t.green_mwh += c.green_mwh;
            t.scope1_tco2e += c.scope1_tco2e;
            t.scope2_tco2e += c.scope2_tco2e;
            t.facilities += c.facilities;
        }
        t
    }

    pub fn validate(&self) -> Result<(), String> {
        // The model runs year by year from the base year: a base year outside the platform's
        // years (1990–2100) would make that loop as long as the number sent.
        if !model::calendar::YEARS.contains(&self.base_year) {
            let (a, b) = (model::calendar::YEARS.start(), model::calendar::YEARS.end());
            return Err(format!("base_year {}: expected a year from {a} to {b}", self.base_year));
        }
        for p in &self.provinces {
            if p.classes.len() != N_CLASSES {
                return Err(format!("province {}: {} classes, expected {N_CLASSES}", p.code, p.classes.len()));
            }
            for (c, b) in Class::ALL.iter().zip(&p.classes) {
                let vals = [b.electricity_mwh, b.green_mwh, b.scope1_tco2e, b.scope2_tco2e];
                if vals.iter().any(|v| !v.is_finite() || *v < 0.0) {
                    return Err(format!(
                        "province {} class {}: figures must be finite and non-negative",
                        p.code,
                        c.code()
                    ));
                }
                if b.green_mwh > b.electricity_mwh * (1.0 + 1e-12) {
                    return Err(format!("province {} class {}: green power above total electricity", p.code, c.code()));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("calibrate with market-based Scope 2 on the location residual (`--residual location`): the model values grey electricity at the grid factor")]
    WrongResidual,
}

/// The base year from an inventory computed on `ds`. Provinces are the orgs at depth 1;
/// facilities attached to the group itself form a row of their own, so nothing is dropped.
pub fn calibrate(ds: &Dataset, inv: &Inventory, source: &str) -> Result<Baseline, CalibrationError> {
    if inv.options.residual != ResidualBasis::Location {
        return Err(CalibrationError::WrongResidual);
    }
    let root = ds.orgs.root();
    // Row of each org: its depth-1 ancestor, or the group row for the root.
    let mut rows: Vec<u32> = Vec::new();
    let mut row_of = vec![usize::MAX; ds.orgs.orgs.len()];
    let mut provinces: Vec<ProvinceBase> = Vec::new();
    for (o, slot) in row_of.iter_mut().enumerate() {
        let anchor = ds.orgs.ancestor_at_depth(o as u32, 1).unwrap_or(root);
        if let Some(i) = rows.iter().position(|r| *r == anchor) {
            *slot = i;
        } else {
            rows.push(anchor);
            *slot = rows.len() - 1;
            let a = &ds.orgs.orgs[anchor as usize];
            provinces.push(ProvinceBase {
                code: a.code.clone(),
                name: if anchor == root { format!("{} (group level)", a.name) } else { a.name.clone() },
                classes: vec![ClassBase::default(); N_CLASSES],
            });
        }
    }
    let per = |v: i128| v as f64 / SCALE / 1000.0; // millionths of kg or kWh -> t or MWh
    for (o, row) in row_of.iter().enumerate() {
        for t in model::FacilityType::ALL {
            let class = Class::of_facility(t) as usize;
            let cb = &mut provinces[*row].classes[class];
            for m in 1..=12u8 {
                let c = &inv.cells[Inventory::cell_index(o, t, m)];
                cb.electricity_mwh += per(c.0[ELECTRICITY_KWH]);
                cb.green_mwh += per(c.0[GREEN_CERTIFIED_KWH] + c.0[PV_SELF_KWH]);
                cb.scope1_tco2e += per(c.0[S1_STATIONARY] + c.0[S1_MOBILE] + c.0[S1_FUGITIVE]);
                cb.scope2_tco2e += per(c.0[S2_MARKET]);
            }
        }
    }
    for f in &ds.facilities {
        provinces[row_of[f.org as usize]].classes[Class::of_facility(f.kind) as usize].facilities += 1;
    }
    provinces.retain(|p| p.classes.iter().any(|c| *c != ClassBase::default()));
    Ok(Baseline { base_year: ds.year, source: source.to_string(), provinces })
}

/// The inventory figures a scenario base is reconciled to, tCO2e: what the inventory report (and
/// the platform's overview) shows for the same org and year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryTotals {
    /// Scope 1 + market-based Scope 2 + Scope 3 (the report's `total_market`).
    pub total_market_tco2e: f64,
    pub scope3_tco2e: f64,
    /// Market-based Scope 2 on the inventory's residual basis.
    pub scope2_market_tco2e: f64,
    /// The inventory's residual basis: `nbs_residual` or `location`.
    pub residual: String,
}

impl InventoryTotals {
    pub fn of(totals: &accounting::report::Totals, residual: ResidualBasis) -> InventoryTotals {
        InventoryTotals {
            total_market_tco2e: totals.total_market,
            scope3_tco2e: totals.scope3,
            scope2_market_tco2e: totals.scope2_market,
            residual: residual_code(residual).into(),
        }
    }
}

pub fn residual_code(r: ResidualBasis) -> &'static str {
    match r {
        ResidualBasis::NbsResidual => "nbs_residual",
        ResidualBasis::Location => "location",
    }
}

/// One difference between the inventory's total and the scenario base, tCO2e (signed: added to
/// the running figure). Codes (stable, worded by the console and the CLI):
/// - `scope3_left_out`: the model holds Scope 1 and Scope 2 only;
/// - `scope2_market_on_location_residual`: market-based Scope 2 recomputed with the location
///   factor for electricity without a certificate (the model values grey electricity at the grid
///   factor), minus the inventory's market-based Scope 2 on its residual basis (0 when that basis
///   is already `location`);
/// - `rounding`: what is left (floating-point sums; 0 up to a gram).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciliationStep {
    pub code: String,
    pub tco2e: f64,
}

/// From the inventory's total to the scenario base, step by step: `inventory_total_tco2e` plus the
/// steps' amounts is `scenario_base_tco2e`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub inventory_total_tco2e: f64,
    /// The inventory's residual basis of market-based Scope 2: `nbs_residual` or `location`.
    pub inventory_residual: String,
    pub steps: Vec<ReconciliationStep>,
    /// Scope 1 + market-based Scope 2 on the location residual: the model's base year.
    pub scenario_base_tco2e: f64,
}

/// Reconciles an inventory's total with the scenario base calibrated on the same data.
pub fn reconcile(inv: &InventoryTotals, b: &Baseline) -> Reconciliation {
    let scope2: f64 = b.provinces.iter().flat_map(|p| &p.classes).map(|c| c.scope2_tco2e).sum();
    let base = b.total_tco2e();
    let mut steps = vec![
        ReconciliationStep { code: "scope3_left_out".into(), tco2e: -inv.scope3_tco2e },
        ReconciliationStep {
            code: "scope2_market_on_location_residual".into(),
            tco2e: scope2 - inv.scope2_market_tco2e,
        },
    ];
    let sum: f64 = inv.total_market_tco2e + steps.iter().map(|s| s.tco2e).sum::<f64>();
    steps.push(ReconciliationStep { code: "rounding".into(), tco2e: base - sum });
    Reconciliation {
        inventory_total_tco2e: inv.total_market_tco2e,
        inventory_residual: inv.residual.clone(),
        steps,
        scenario_base_tco2e: base,
    }
}
