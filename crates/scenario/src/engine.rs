//! The deterministic driver model (telecom Kaya identity), year by year to the horizon:
//!
//! emissions(p, y) = Σ_c A_c(y) × I_c(y) × PUE_c(y) × GF_p(y) × (1 − green_p,c(y)) + Scope 1_p,c(y)
//!
//! A = activity (index, base year = 1), I = electricity per unit of activity, PUE = facility energy
//! over IT energy (1 where it does not apply), GF = effective grid factor of the province, green =
//! share of certified green power and own PV. Scope 1 of a class moves with its activity; the
//! fleet's fuel also with its intensity and electrification, the electrified part moving to
//! electricity. Measures change these drivers from their start year over their ramp-up.

use crate::baseline::{Baseline, Coefficients};
use crate::drivers::{Class, Drivers, N_CLASSES};
use crate::measures::{Catalogue, CostBasis, EffectKind, Measure};
use serde::{Deserialize, Serialize};

/// A measure chosen for a scenario, with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selected {
    pub id: String,
    /// First year with an effect.
    pub start: i32,
    /// Overrides the catalogue's ramp-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_years: Option<u32>,
    /// Share of the measure's full potential (and cost), 0..1.
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Emissions must not rise above their level of this year afterwards (碳达峰).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_by: Option<i32>,
    /// Gross emissions per unit of telecom business volume in `intensity_year` at most
    /// (1 − `intensity_reduction`) × the base year's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity_year: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity_reduction: Option<f64>,
    /// Net emissions (after offsets) zero by this year (碳中和).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutral_by: Option<i32>,
}

impl Default for Targets {
    /// Peak by 2030 (national goal, white paper); intensity −26.9% from the base year by 2030: the
    /// pace of China Telecom's 14th Five-Year Plan target (−23% over five years, reference D3),
    /// (1 − 0.23)^(6/5) − 1 for 2024 → 2030; neutrality by 2060.
    fn default() -> Self {
        Targets {
            peak_by: Some(2030),
            intensity_year: Some(2030),
            intensity_reduction: Some(0.269),
            neutral_by: Some(2060),
        }
    }
}

/// Everything a deterministic run needs besides the baseline. Serialisable: the console sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub horizon: i32,
    pub drivers: Drivers,
    pub measures: Vec<Selected>,
    pub targets: Targets,
}

impl Scenario {
    pub fn baseline(name: &str) -> Scenario {
        Scenario {
            name: name.into(),
            horizon: 2060,
            drivers: Drivers::shipped(),
            measures: Vec::new(),
            targets: Targets::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RunError {
    #[error("unknown measure `{0}` (see `dualcarbon scenario measures`)")]
    UnknownMeasure(String),
    #[error(
        "measure `{id}` starts in {start}: measures start after the base year {base} and by the horizon {horizon}"
    )]
    BadStart { id: String, start: i32, base: i32, horizon: i32 },
    #[error("measure `{0}`: scale must lie between 0 and 1")]
    BadScale(String),
    #[error("horizon {horizon} must be after the base year {base}")]
    BadHorizon { horizon: i32, base: i32 },
    #[error("baseline: {0}")]
    Baseline(String),
    #[error("measure catalogue: {0}")]
    Catalogue(String),
}

/// Year series of the drivers after measures, index k = year − base year.
#[derive(Debug, Clone)]
pub struct Series {
    pub base_year: i32,
    /// Activity index per class (base = 1).
    pub activity: [Vec<f64>; N_CLASSES],
    /// Electricity per activity, index per class (base = 1), after measures.
    pub intensity: [Vec<f64>; N_CLASSES],
    /// PUE per class (1 where PUE does not apply).
    pub pue: [Vec<f64>; N_CLASSES],
    /// Own PV share per class.
    pub pv: [Vec<f64>; N_CLASSES],
    /// Share of green power bought or added by the baseline path (all classes).
    pub green_bought: Vec<f64>,
    pub grid_index: Vec<f64>,
    pub ev_share: Vec<f64>,
    pub ev_mwh_per_t: Vec<f64>,
    pub offset_share: Vec<f64>,
    pub business_volume: Vec<f64>,
}

/// Shifts added to the rate or level of drivers, by driver key (Monte Carlo).
pub type Shifts<'a> = &'a dyn Fn(&str) -> f64;

fn no_shift(_: &str) -> f64 {
    0.0
}

fn compound(d: &Drivers, key: &str, base: i32, n: usize, shift: f64) -> Vec<f64> {
    let mut v = Vec::with_capacity(n);
    let mut x = 1.0;
    v.push(x);
    for k in 1..n {
        x *= 1.0 + d.value(key, base + k as i32) + shift;
        v.push(x);
    }
    v
}

/// Levels per year. The base year is observed: index 0 is the driver's calibrated base value
/// (never the edit, see [`crate::drivers::Driver::base_at`]) and the Monte Carlo shift starts the
/// year after. A projected year takes the (edited) path's value, so an edit given as one number is
/// that value in every projected year.
fn level(d: &Drivers, key: &str, base: i32, n: usize, shift: f64) -> Vec<f64> {
    (0..n).map(|k| if k == 0 { d.base_value(key, base) } else { d.value(key, base + k as i32) + shift }).collect()
}

/// Levels relative to the calibrated base value (shares added to the base year's): 0 in the base
/// year, the path's value minus the calibrated base value after.
fn added(d: &Drivers, key: &str, base: i32, n: usize, shift: f64) -> Vec<f64> {
    let v0 = d.base_value(key, base);
    level(d, key, base, n, shift).into_iter().map(|x| x - v0).collect()
}

/// Share of the effect reached in `year` for a measure starting in `start` with `ramp` years.
pub fn ramp(year: i32, start: i32, ramp: u32) -> f64 {
    (f64::from(year - start + 1) / f64::from(ramp.max(1))).clamp(0.0, 1.0)
}

pub fn resolve<'a>(
    cat: &'a Catalogue,
    sel: &[Selected],
    base: i32,
    horizon: i32,
) -> Result<Vec<(&'a Measure, Selected)>, RunError> {
    sel.iter()
        .map(|s| {
            let m = cat.get(&s.id).ok_or_else(|| RunError::UnknownMeasure(s.id.clone()))?;
            if s.start <= base || s.start > horizon {
                return Err(RunError::BadStart { id: s.id.clone(), start: s.start, base, horizon });
            }
            if !(0.0..=1.0).contains(&s.scale) {
                return Err(RunError::BadScale(s.id.clone()));
            }
            Ok((m, s.clone()))
        })
        .collect()
}

impl Series {
    pub fn build(d: &Drivers, measures: &[(&Measure, Selected)], base: i32, horizon: i32, shift: Shifts) -> Series {
        let n = (horizon - base + 1) as usize;
        let per_class = |f: &dyn Fn(Class) -> Vec<f64>| -> [Vec<f64>; N_CLASSES] { Class::ALL.map(f) };
        let activity = per_class(&|c| {
            let k = c.driver_keys().0;
            compound(d, k, base, n, shift(k))
        });
        let mut intensity = per_class(&|c| {
            let k = c.driver_keys().1;
            compound(d, k, base, n, shift(k))
        });
        let mut pue = per_class(&|c| match c.driver_keys().2 {
            Some(k) => level(d, k, base, n, shift(k)).into_iter().map(|x| x.max(1.0)).collect(),
            None => vec![1.0; n],
        });
        let mut pv = per_class(&|_| vec![0.0; n]);
        let mut green_bought: Vec<f64> = added(d, "green_share_extra", base, n, shift("green_share_extra"))
            .into_iter()
            .map(|x| x.clamp(0.0, 1.0))
            .collect();
        let mut ev_share = added(d, "fleet_ev_share", base, n, shift("fleet_ev_share"));
        let mut offset_share = vec![0.0; n];
        for (m, s) in measures {
            let r = s.ramp_years.unwrap_or(m.ramp_years);
            for k in 1..n {
                let y = base + k as i32;
                let w = ramp(y, s.start, r) * s.scale;
                if w == 0.0 {
                    continue;
                }
                for e in &m.effects {
                    // A class-bound effect without a class is refused by `Catalogue::validate`.
                    match (e.kind, e.class.map(|c| c as usize)) {
                        (EffectKind::Intensity, Some(c)) => intensity[c][k] *= 1.0 - e.value * w,
                        (EffectKind::Pue, Some(c)) => {
                            let p0 = pue[c][0];
                            let target = p0 - (p0 - e.value).max(0.0) * w;
                            pue[c][k] = pue[c][k].min(target);
                        }
                        (EffectKind::Pv, Some(c)) => pv[c][k] += e.value * w,
                        (EffectKind::GreenPurchase, _) => green_bought[k] += e.value * w,
                        (EffectKind::Ev, _) => ev_share[k] += e.value * w,
                        (EffectKind::Offset, _) => offset_share[k] += e.value * w,
                        (EffectKind::Intensity | EffectKind::Pue | EffectKind::Pv, None) => {}
                    }
                }
            }
        }
        for v in ev_share.iter_mut().chain(offset_share.iter_mut()).chain(green_bought.iter_mut()) {
            *v = v.clamp(0.0, 1.0);
        }
        Series {
            base_year: base,
            activity,
            intensity,
            pue,
            pv,
            green_bought,
            grid_index: compound(d, "grid_factor_change", base, n, shift("grid_factor_change")),
            ev_share,
            ev_mwh_per_t: level(d, "ev_mwh_per_tco2_displaced", base, n, shift("ev_mwh_per_tco2_displaced")),
            offset_share,
            business_volume: compound(d, "business_volume_growth", base, n, shift("business_volume_growth")),
        }
    }

    pub fn len(&self) -> usize {
        self.grid_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grid_index.is_empty()
    }
}

/// One (province, class, year) cell of the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cell {
    pub electricity_mwh: f64,
    /// Electricity bought from the grid (all but own PV), MWh.
    pub purchased_mwh: f64,
    pub pv_mwh: f64,
    pub green_bought_mwh: f64,
    pub scope1: f64,
    pub scope2: f64,
    /// Fuel CO2 of the fleet avoided by electrification, t.
    pub fuel_avoided_t: f64,
}

/// Evaluates the identity for one province and class in year index `k`; `grid_index` may carry a
/// province-specific shock.
#[inline]
pub fn cell(co: &Coefficients, c: usize, s: &Series, k: usize, grid_index: f64) -> Cell {
    let a = s.activity[c][k];
    let pue_ratio = s.pue[c][k] / s.pue[c][0];
    let mut elec = co.electricity_mwh * a * s.intensity[c][k] * pue_ratio;
    let mut scope1 = co.scope1_tco2e * a;
    let mut fuel_avoided = 0.0;
    if c == Class::Fleet as usize {
        let fuel = co.scope1_tco2e * a * s.intensity[c][k];
        scope1 = fuel * (1.0 - s.ev_share[k]);
        fuel_avoided = fuel * s.ev_share[k];
        elec += co.scope1_tco2e * a * s.ev_share[k] * s.ev_mwh_per_t[k];
    }
    let pv = s.pv[c][k].min(1.0);
    let green = (co.green_share + pv + s.green_bought[k]).min(1.0);
    let bought = (green - co.green_share - pv).max(0.0);
    let scope2 = elec * co.grid_factor * grid_index * (1.0 - green) + co.scope2_other_tco2e;
    Cell {
        electricity_mwh: elec,
        purchased_mwh: elec * (1.0 - pv),
        pv_mwh: elec * pv,
        green_bought_mwh: elec * bought,
        scope1,
        scope2,
        fuel_avoided_t: fuel_avoided,
    }
}

/// Per-province coefficients, computed once per baseline.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub coefficients: Vec<[Coefficients; N_CLASSES]>,
}

impl Prepared {
    pub fn new(b: &Baseline) -> Prepared {
        Prepared {
            coefficients: b
                .provinces
                .iter()
                .map(|p| std::array::from_fn(|c| p.classes.get(c).map(|x| x.coefficients()).unwrap_or_default()))
                .collect(),
        }
    }

    /// Gross emissions per year (Scope 1 + 2) into `out`, with per-province grid shocks
    /// `grid_shift[p]` added to the grid-factor rate. The Monte Carlo hot loop.
    pub fn gross_path(&self, s: &Series, grid_shift: Option<&[f64]>, out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        for (p, co) in self.coefficients.iter().enumerate() {
            let mut extra = 1.0;
            let shift = grid_shift.map_or(0.0, |g| g[p]);
            for (k, o) in out.iter_mut().enumerate().take(s.len()) {
                if k > 0 {
                    extra *= 1.0 + shift;
                }
                let gi = s.grid_index[k] * extra;
                for (c, cc) in co.iter().enumerate() {
                    let x = cell(cc, c, s, k, gi);
                    *o += x.scope1 + x.scope2;
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearRow {
    pub year: i32,
    pub scope1_tco2e: f64,
    pub scope2_tco2e: f64,
    pub gross_tco2e: f64,
    pub offsets_tco2e: f64,
    pub net_tco2e: f64,
    pub electricity_mwh: f64,
    pub green_share: f64,
    /// Gross emissions per business-volume index, relative to the base year (base = 1).
    pub intensity_index: f64,
    pub business_volume_index: f64,
    pub grid_factor_index: f64,
    /// Gross emissions per class, in [`Class::ALL`] order.
    pub by_class_tco2e: [f64; N_CLASSES],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Year of the highest gross emissions (the earliest if several are equal).
    pub year: i32,
    pub tco2e: f64,
    /// Whether the peak year is the last year of the horizon: then it is not a peak but a trend.
    pub at_horizon: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// `peak`, `intensity` or `net_zero`: with `year` and `figures`, what a translated label and
    /// detail are built from (`target` and `detail` are the English text).
    pub kind: &'static str,
    pub year: i32,
    /// The numbers `detail` names, under stable keys.
    pub figures: std::collections::BTreeMap<&'static str, f64>,
    pub target: String,
    pub met: bool,
    /// Tonnes still to abate in the binding year (0 when met).
    pub gap_tco2e: f64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureOutcome {
    pub id: String,
    pub zh: String,
    pub en: String,
    pub start: i32,
    pub scale: f64,
    /// Abatement when applied alone on the baseline, summed over the horizon, t.
    pub abatement_tco2e: f64,
    /// Abatement in the peak-target year when applied alone, t.
    pub abatement_in_target_year_tco2e: f64,
    pub capex_yuan: i64,
    pub opex_yuan: i64,
    /// Green power or offsets bought, yuan.
    pub purchases_yuan: i64,
    /// Electricity and fuel bills saved (negative when the measure uses more), yuan.
    pub savings_yuan: i64,
    /// capex + opex + purchases − savings, undiscounted, constant prices.
    pub net_cost_yuan: i64,
    /// The yearly net costs discounted to the base year at `discount_rate`, each year rounded to
    /// whole yuan (equal to `net_cost_yuan` at rate 0).
    pub present_value_yuan: i64,
    /// Present value per tonne abated (whole yuan, rounded toward zero); none without abatement.
    pub yuan_per_tco2e: Option<i64>,
    /// Year-by-year abatement when applied alone (index = year − base year).
    #[serde(skip)]
    pub abatement_by_year: Vec<f64>,
    #[serde(skip)]
    pub cost_by_year: Vec<i64>,
    #[serde(skip)]
    pub savings_by_year: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvincePath {
    pub code: String,
    pub name: String,
    pub gross_tco2e: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub name: String,
    pub base_year: i32,
    pub horizon: i32,
    pub baseline_source: String,
    pub years: Vec<YearRow>,
    pub peak: Peak,
    pub cumulative_gross_tco2e: f64,
    pub cumulative_net_tco2e: f64,
    pub targets: Vec<TargetCheck>,
    pub measures: Vec<MeasureOutcome>,
    /// Bill savings counted by more than one measure (two savings on the same energy), whole yuan:
    /// the sum of the measures' stand-alone savings minus the savings of all measures together.
    pub overlapping_savings_yuan: i64,
    /// The measures' net costs with the bill savings of the combined run: Σ net cost + overlap.
    pub total_net_cost_yuan: i64,
    /// The same discounted at `discount_rate`.
    pub total_present_value_yuan: i64,
    pub by_province: Vec<ProvincePath>,
}

/// Aggregated figures of one run, without costs.
#[derive(Debug, Clone)]
pub struct Path {
    pub years: Vec<YearRow>,
    pub by_province: Vec<Vec<f64>>,
    pub cells_total: Vec<Cell>,
}

pub fn evaluate(prep: &Prepared, s: &Series) -> Path {
    let n = s.len();
    let mut years: Vec<YearRow> = (0..n)
        .map(|k| YearRow {
            year: s.base_year + k as i32,
            scope1_tco2e: 0.0,
            scope2_tco2e: 0.0,
            gross_tco2e: 0.0,
            offsets_tco2e: 0.0,
            net_tco2e: 0.0,
            electricity_mwh: 0.0,
            green_share: 0.0,
            intensity_index: 0.0,
            business_volume_index: s.business_volume[k],
            grid_factor_index: s.grid_index[k],
            by_class_tco2e: [0.0; N_CLASSES],
        })
        .collect();
    let mut cells_total = vec![Cell::default(); n];
    let mut green = vec![0.0; n];
    let mut by_province = Vec::with_capacity(prep.coefficients.len());
    for co in &prep.coefficients {
        let mut pp = vec![0.0; n];
        for k in 0..n {
            for (c, cc) in co.iter().enumerate() {
                let x = cell(cc, c, s, k, s.grid_index[k]);
                let y = &mut years[k];
                y.scope1_tco2e += x.scope1;
                y.scope2_tco2e += x.scope2;
                y.by_class_tco2e[c] += x.scope1 + x.scope2;
                y.electricity_mwh += x.electricity_mwh;
                pp[k] += x.scope1 + x.scope2;
                let t = &mut cells_total[k];
                t.electricity_mwh += x.electricity_mwh;
                t.purchased_mwh += x.purchased_mwh;
                t.pv_mwh += x.pv_mwh;
                t.green_bought_mwh += x.green_bought_mwh;
                t.scope1 += x.scope1;
                t.scope2 += x.scope2;
                t.fuel_avoided_t += x.fuel_avoided_t;
                green[k] += x.electricity_mwh * (cc.green_share + s.pv[c][k] + s.green_bought[k]).min(1.0);
            }
        }
        by_province.push(pp);
    }
    let base_gross = years[0].scope1_tco2e + years[0].scope2_tco2e;
    for (k, y) in years.iter_mut().enumerate() {
        y.gross_tco2e = y.scope1_tco2e + y.scope2_tco2e;
        y.offsets_tco2e = y.gross_tco2e * s.offset_share[k];
        y.net_tco2e = y.gross_tco2e - y.offsets_tco2e;
        y.green_share = if y.electricity_mwh > 0.0 { green[k] / y.electricity_mwh } else { 0.0 };
        y.intensity_index = if base_gross > 0.0 { y.gross_tco2e / base_gross / y.business_volume_index } else { 0.0 };
    }
    Path { years, by_province, cells_total }
}

pub fn peak(years: &[YearRow]) -> Peak {
    let mut best = 0;
    for (i, y) in years.iter().enumerate() {
        if y.gross_tco2e > years[best].gross_tco2e {
            best = i;
        }
    }
    Peak {
        year: years[best].year,
        tco2e: years[best].gross_tco2e,
        at_horizon: best + 1 == years.len() && years.len() > 1,
    }
}

/// Target checks on a path. The peak target asks that no year after the target year exceeds the
/// highest year up to it (the optimiser writes this with one binary per candidate peak year).
pub fn check_targets(t: &Targets, years: &[YearRow]) -> Vec<TargetCheck> {
    let base = years[0].year;
    let at = |y: i32| years.get((y - base) as usize);
    let mut out = Vec::new();
    if let Some(p) = t.peak_by {
        if at(p).is_some() {
            // Peaked by p: the highest year up to p is at least as high as every later year.
            let before = years.iter().filter(|y| y.year <= p).map(|y| y.gross_tco2e).fold(f64::MIN, f64::max);
            let after = years.iter().filter(|y| y.year > p).map(|y| y.gross_tco2e).fold(f64::MIN, f64::max);
            let worst = (after - before).max(0.0);
            out.push(TargetCheck {
                kind: "peak",
                year: p,
                figures: [("highest_up_to_year_t", before), ("highest_after_year_t", after)].into(),
                target: format!("peak by {p}"),
                met: worst <= 1e-9 * before.abs().max(1.0),
                gap_tco2e: worst,
                detail: format!("highest up to {p} {before:.0} t; highest after {after:.0} t"),
            });
        }
    }
    if let (Some(y), Some(r)) = (t.intensity_year, t.intensity_reduction) {
        if let Some(row) = at(y) {
            let allowed = years[0].gross_tco2e * row.business_volume_index * (1.0 - r);
            let gap = (row.gross_tco2e - allowed).max(0.0);
            out.push(TargetCheck {
                kind: "intensity",
                year: y,
                figures: [
                    ("reduction", r),
                    ("intensity_index", row.intensity_index),
                    ("allowed_t", allowed),
                    ("emitted_t", row.gross_tco2e),
                ]
                .into(),
                target: format!("intensity −{:.1}% by {y}", r * 100.0),
                met: gap <= 1e-9 * allowed.abs().max(1.0),
                gap_tco2e: gap,
                detail: format!(
                    "intensity index {:.3} against {:.3} allowed ({:.0} t allowed, {:.0} t emitted)",
                    row.intensity_index,
                    1.0 - r,
                    allowed,
                    row.gross_tco2e
                ),
            });
        }
    }
    if let Some(y) = t.neutral_by {
        if let Some(row) = at(y) {
            out.push(TargetCheck {
                kind: "net_zero",
                year: y,
                figures: [("net_t", row.net_tco2e), ("offsets_t", row.offsets_tco2e)].into(),
                target: format!("net zero by {y}"),
                met: row.net_tco2e <= 0.0,
                gap_tco2e: row.net_tco2e.max(0.0),
                detail: format!(
                    "net emissions {:.0} t in {y} after {:.0} t of offsets",
                    row.net_tco2e, row.offsets_tco2e
                ),
            });
        }
    }
    out
}

/// The number of cost units a measure applies to, from the baseline.
pub fn cost_units(m: &Measure, b: &Baseline, d: &Drivers, scale: f64) -> i64 {
    let class = m.class.unwrap_or(Class::Wireless);
    let t = b.class_total(class);
    let base = b.base_year;
    let units = match m.cost_basis {
        CostBasis::Sites => t.facilities as f64,
        CostBasis::ItKw => {
            // IT load of the base year: at the calibrated base-year PUE, whatever the scenario's edit.
            let pue = d.get("pue_data_center").map_or(1.0, |x| x.base_at(base)).max(1.0);
            t.electricity_mwh / pue / 8.76
        }
        CostBasis::Mwh => t.electricity_mwh,
        CostBasis::MwhGenerated => m
            .effects
            .iter()
            .filter(|e| e.kind == EffectKind::Pv)
            .map(|e| e.value * e.class.map_or(0.0, |c| b.class_total(c).electricity_mwh))
            .sum(),
        CostBasis::Tco2Fleet => b.class_total(Class::Fleet).scope1_tco2e,
        CostBasis::None => 0.0,
    };
    (units * scale).round() as i64
}

fn price(d: &Drivers, key: &str, year: i32) -> i64 {
    d.value(key, year).round() as i64
}

/// Costs and stand-alone abatement of one measure against the baseline path.
pub fn outcome(
    m: &Measure,
    s: &Selected,
    b: &Baseline,
    d: &Drivers,
    base: &Path,
    alone: &Path,
    peak_year: Option<i32>,
) -> MeasureOutcome {
    let n = base.years.len();
    let y0 = base.years[0].year;
    let units = cost_units(m, b, d, s.scale);
    let r = i64::from(s.ramp_years.unwrap_or(m.ramp_years).max(1));
    let capex_total = units * m.capex_per_unit;
    let mut cost_by_year = vec![0i64; n];
    let mut savings_by_year = vec![0i64; n];
    let (mut capex, mut opex, mut purchases, mut savings) = (0i64, 0i64, 0i64, 0i64);
    let mut abatement_by_year = vec![0.0; n];
    for k in 1..n {
        let year = y0 + k as i32;
        let i = i64::from(year - s.start); // years since start
        let mut c = 0;
        if (0..r).contains(&i) {
            // Installation spread evenly over the ramp-up; the remainder falls in the last year so the
            // yearly amounts add up to the total exactly.
            let mut x = capex_total / r;
            if i == r - 1 {
                x += capex_total % r;
            }
            capex += x;
            c += x;
        }
        if i >= 0 {
            let done = (i + 1).min(r);
            let x = units * m.opex_per_unit_year * done / r;
            opex += x;
            c += x;
        }
        let (bt, at) = (&base.cells_total[k], &alone.cells_total[k]);
        let green_mwh = (at.green_bought_mwh - bt.green_bought_mwh).max(0.0).round() as i64;
        let offset_t = (alone.years[k].offsets_tco2e - base.years[k].offsets_tco2e).round() as i64;
        let buy = (green_mwh + offset_t) * m.price_per_volume;
        purchases += buy;
        c += buy;
        let save = bill_savings(d, year, bt, at);
        savings_by_year[k] = save;
        savings += save;
        c -= save;
        cost_by_year[k] = c;
        abatement_by_year[k] = base.years[k].net_tco2e - alone.years[k].net_tco2e;
    }
    let abatement: f64 = abatement_by_year.iter().sum();
    let net = capex + opex + purchases - savings;
    let rate = d.value("discount_rate", y0);
    let pv: i64 =
        cost_by_year.iter().enumerate().map(|(k, c)| (*c as f64 / (1.0 + rate).powi(k as i32)).round() as i64).sum();
    let in_target = peak_year.and_then(|p| abatement_by_year.get((p - y0) as usize).copied()).unwrap_or(0.0);
    MeasureOutcome {
        id: m.id.clone(),
        zh: m.zh.clone(),
        en: m.en.clone(),
        start: s.start,
        scale: s.scale,
        abatement_tco2e: abatement,
        abatement_in_target_year_tco2e: in_target,
        capex_yuan: capex,
        opex_yuan: opex,
        purchases_yuan: purchases,
        savings_yuan: savings,
        net_cost_yuan: net,
        present_value_yuan: pv,
        yuan_per_tco2e: if abatement >= 0.5 { Some((pv as f64 / abatement) as i64) } else { None },
        abatement_by_year,
        cost_by_year,
        savings_by_year,
    }
}

/// Electricity and fuel bills saved in `year` by path `with` against path `without`, whole yuan:
/// quantities rounded to whole MWh and tonnes, then priced.
fn bill_savings(d: &Drivers, year: i32, without: &Cell, with: &Cell) -> i64 {
    let saved_mwh = (without.purchased_mwh - with.purchased_mwh).round() as i64;
    let fuel_t = (with.fuel_avoided_t - without.fuel_avoided_t).round() as i64;
    saved_mwh * price(d, "electricity_price", year) + fuel_t * price(d, "fuel_cost_per_tco2", year)
}

fn discount(d: &Drivers, base_year: i32, by_year: &[i64]) -> i64 {
    let rate = d.value("discount_rate", base_year);
    by_year.iter().enumerate().map(|(k, c)| (*c as f64 / (1.0 + rate).powi(k as i32)).round() as i64).sum()
}

/// The model bound to a baseline, a catalogue and the baseline (no-measure) path: cheap to re-run
/// on every slider change.
pub struct Model<'a> {
    pub baseline: &'a Baseline,
    pub catalogue: &'a Catalogue,
    pub prepared: Prepared,
}

impl<'a> Model<'a> {
    pub fn new(baseline: &'a Baseline, catalogue: &'a Catalogue) -> Result<Model<'a>, RunError> {
        baseline.validate().map_err(RunError::Baseline)?;
        catalogue.validate().map_err(RunError::Catalogue)?;
        Ok(Model { baseline, catalogue, prepared: Prepared::new(baseline) })
    }

    pub fn series(&self, sc: &Scenario, measures: &[Selected]) -> Result<Series, RunError> {
        let base = self.baseline.base_year;
        if sc.horizon <= base {
            return Err(RunError::BadHorizon { horizon: sc.horizon, base });
        }
        let r = resolve(self.catalogue, measures, base, sc.horizon)?;
        Ok(Series::build(&sc.drivers, &r, base, sc.horizon, &no_shift))
    }

    pub fn path(&self, sc: &Scenario, measures: &[Selected]) -> Result<Path, RunError> {
        Ok(evaluate(&self.prepared, &self.series(sc, measures)?))
    }

    /// Each selected measure alone against the no-measure path of the same drivers.
    pub fn outcomes(&self, sc: &Scenario, base: &Path, measures: &[Selected]) -> Result<Vec<MeasureOutcome>, RunError> {
        let resolved = resolve(self.catalogue, measures, self.baseline.base_year, sc.horizon)?;
        resolved
            .iter()
            .map(|(m, s)| {
                let alone = self.path(sc, std::slice::from_ref(s))?;
                Ok(outcome(m, s, self.baseline, &sc.drivers, base, &alone, sc.targets.peak_by))
            })
            .collect()
    }

    /// The deterministic run: path with all measures (their interactions included), peak, targets,
    /// cumulative emissions and the measures' costs.
    pub fn run(&self, sc: &Scenario) -> Result<RunResult, RunError> {
        let path = self.path(sc, &sc.measures)?;
        let base = if sc.measures.is_empty() { path.clone() } else { self.path(sc, &[])? };
        let measures = self.outcomes(sc, &base, &sc.measures)?;
        Ok(self.result(sc, &base, path, measures))
    }

    pub fn result(&self, sc: &Scenario, base: &Path, path: Path, measures: Vec<MeasureOutcome>) -> RunResult {
        let pk = peak(&path.years);
        let y0 = self.baseline.base_year;
        // Overlap per year: stand-alone savings summed minus the combined run's savings.
        let overlap: Vec<i64> = (0..path.years.len())
            .map(|k| {
                if k == 0 || measures.is_empty() {
                    return 0;
                }
                let alone: i64 = measures.iter().map(|m| m.savings_by_year[k]).sum();
                alone - bill_savings(&sc.drivers, y0 + k as i32, &base.cells_total[k], &path.cells_total[k])
            })
            .collect();
        let overlap_total: i64 = overlap.iter().sum();
        RunResult {
            name: sc.name.clone(),
            base_year: self.baseline.base_year,
            horizon: sc.horizon,
            baseline_source: self.baseline.source.clone(),
            peak: pk,
            cumulative_gross_tco2e: path.years.iter().map(|y| y.gross_tco2e).sum(),
            cumulative_net_tco2e: path.years.iter().map(|y| y.net_tco2e).sum(),
            targets: check_targets(&sc.targets, &path.years),
            overlapping_savings_yuan: overlap_total,
            total_net_cost_yuan: measures.iter().map(|m| m.net_cost_yuan).sum::<i64>() + overlap_total,
            total_present_value_yuan: measures.iter().map(|m| m.present_value_yuan).sum::<i64>()
                + discount(&sc.drivers, y0, &overlap),
            measures,
            by_province: self
                .baseline
                .provinces
                .iter()
                .zip(path.by_province)
                .map(|(p, g)| ProvincePath { code: p.code.clone(), name: p.name.clone(), gross_tco2e: g })
                .collect(),
            years: path.years,
        }
    }
}
