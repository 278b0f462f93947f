//! "Explain this number": the records and factors behind one figure, recomputed exactly as the
//! inventory accumulated them, so the lines add up to the reported figure to the last digit.

use crate::engine::Inventory;
use crate::metrics::*;
use factors::Library;
use model::{Dataset, RecordRef, PROVINCES};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplainScope {
    Scope1,
    Scope2,
    Scope3,
    Energy,
}

impl ExplainScope {
    pub fn parse(s: &str) -> Option<ExplainScope> {
        Some(match s {
            "1" | "scope1" => ExplainScope::Scope1,
            "2" | "scope2" => ExplainScope::Scope2,
            "3" | "scope3" => ExplainScope::Scope3,
            "energy" => ExplainScope::Energy,
            _ => return None,
        })
    }
    /// The figures shown for this scope: (figure, metric set). A figure's name carries no unit:
    /// the units travel beside the numbers ([`Explanation::totals_unit`], [`Explanation::values_unit`]).
    fn columns(self) -> Vec<(&'static str, Vec<usize>)> {
        match self {
            ExplainScope::Scope1 => vec![("scope1", vec![S1_STATIONARY, S1_MOBILE, S1_FUGITIVE])],
            ExplainScope::Scope2 => vec![("scope2_location", vec![S2_LOCATION]), ("scope2_market", vec![S2_MARKET])],
            ExplainScope::Scope3 => vec![("scope3", vec![S3_CAT1, S3_CAT4, S3_CAT6, S3_CAT7])],
            ExplainScope::Energy => vec![("energy", vec![ENERGY_KGCE])],
        }
    }
    /// Unit of the totals: the inventory's (tonnes).
    pub fn totals_unit(self) -> &'static str {
        if self == ExplainScope::Energy {
            "tce"
        } else {
            "tCO2e"
        }
    }
    /// Unit of each record's values and of a plan's `per_base_unit` (per base unit of activity):
    /// kilograms, a thousandth of the totals' unit.
    pub fn values_unit(self) -> &'static str {
        if self == ExplainScope::Energy {
            "kgce"
        } else {
            "kgCO2e"
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainLine {
    pub record: RecordRef,
    pub facility: String,
    pub org: String,
    pub month: String,
    pub carrier: String,
    pub quantity: f64,
    pub unit: String,
    pub source_document: String,
    pub evidence_ref: String,
    /// Share of the record booked (allocation × boundary).
    pub booked_share: f64,
    /// Index into `plans` of the explanation.
    pub plan: usize,
    /// One value per column, in the explanation's `values_unit` (kgCO2e or kgce).
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainStep {
    pub label: String,
    pub factor_id: Option<String>,
    pub value: f64,
    pub unit: String,
    pub reason: String,
    pub source: Option<String>,
    pub set: Option<String>,
    /// The factor's data year (`None`: undated or no factor).
    pub factor_year: Option<i32>,
    /// A code when the factor's year is not the inventory year: `factor_year_before_inventory` or
    /// `factor_year_after_inventory` (docs/factor-selection.md, vintages).
    pub vintage: Option<&'static str>,
    /// The step as data, for the console to word (`label` and `reason` are English): its code
    /// (`plan::step_code`), gas, GWP set and combustion context where they apply, why the factor
    /// was chosen (`factors::Why`) or the code of a step without a factor (`note`).
    pub code: &'static str,
    pub gas: Option<String>,
    pub gwp_set: Option<String>,
    pub context: Option<String>,
    pub why: Option<factors::Why>,
    pub note: Option<&'static str>,
    /// The primary document of a shipped factor (`factors::Documents`): what `source` reproduces.
    pub primary: Option<factors::Primary>,
}

/// One part of "why market-based Scope 2 differs from location-based", in the explanation's
/// `totals_unit` (tCO2e), over the records of a kind: `code` is
/// - `green_certified_zero`: certified green power counts at zero in market-based (negative);
/// - `residual_vs_average`: the residual-mix factor (national, excluding market-traded non-fossil
///   power) against the location-based grid average of the same year;
/// - `residual_newer_vintage`: the residual factor is of a later year than the location factor;
/// - `residual_vs_average_other_year`: the two factors differ in method and year and the library
///   has no residual factor of the location factor's year to split them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GapPart {
    pub code: &'static str,
    pub value: f64,
    /// Electricity of the records concerned, MWh.
    pub mwh: f64,
    pub location_year: Option<i32>,
    pub market_year: Option<i32>,
}

/// Market-based minus location-based Scope 2 and its parts (they add up to it, up to the
/// milligram rounding of each record).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scope2Gap {
    /// `totals[1] - totals[0]`, in `totals_unit`.
    pub market_minus_location: f64,
    pub parts: Vec<GapPart>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainPlan {
    pub carrier: String,
    pub province: String,
    /// The province's region code (`CN-GD`): the console names it in the user's language.
    pub province_code: String,
    /// `stationary` or `mobile` (a code).
    pub combustion: &'static str,
    pub activity_dimension: String,
    /// Per unit of activity in its base unit, for each column, in the explanation's `values_unit`.
    pub per_base_unit: Vec<f64>,
    pub base_unit: String,
    pub steps: Vec<ExplainStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub year: i32,
    pub org: String,
    pub org_name: String,
    pub scope: ExplainScope,
    /// The figures explained (`scope2_location`, `scope2_market`, ...), without units.
    pub columns: Vec<&'static str>,
    /// Column totals in `totals_unit`: equal to the inventory's figures.
    pub totals: Vec<f64>,
    /// Unit of `totals`: `tCO2e` (or `tce` for energy), the inventory's unit.
    pub totals_unit: &'static str,
    /// Unit of every line's `values` and every plan's `per_base_unit`: `kgCO2e` (or `kgce`).
    /// The lines' values sum to the totals × 1000.
    pub values_unit: &'static str,
    pub record_count: usize,
    pub lines: Vec<ExplainLine>,
    pub lines_truncated: bool,
    pub plans: Vec<ExplainPlan>,
    pub library_version: String,
    /// Scope 2 only: why market-based differs from location-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope2_gap: Option<Scope2Gap>,
}

impl Inventory {
    /// Explains `scope` for the subtree of `org`, listing at most `limit` records (all are summed).
    pub fn explain(&self, ds: &Dataset, lib: &Library, org: u32, scope: ExplainScope, limit: usize) -> Explanation {
        let cols = scope.columns();
        let mut totals = vec![0i128; cols.len()];
        let mut lines = Vec::new();
        let mut count = 0usize;
        let mut plan_ids: Vec<usize> = Vec::new();
        // Booked kWh (millionths) per local plan, for the Scope 2 gap.
        let mut plan_kwh: Vec<i128> = Vec::new();
        let a = &ds.activity;
        let within: Vec<bool> = (0..ds.orgs.orgs.len()).map(|o| ds.orgs.is_within(o as u32, org)).collect();
        for r in 0..a.len() {
            let fac = &ds.facilities[a.facility[r] as usize];
            if !within[fac.org as usize] {
                continue;
            }
            let m = self.record_metrics(ds, r);
            let vals: Vec<i128> = cols.iter().map(|(_, ms)| ms.iter().map(|&i| m.0[i]).sum()).collect();
            let plan = self.plan_for(ds, r);
            let touches = plan.coef.iter().any(|(i, _)| cols.iter().any(|(_, ms)| ms.contains(i)));
            if !touches {
                continue;
            }
            count += 1;
            for (t, v) in totals.iter_mut().zip(&vals) {
                *t += v;
            }
            let pi = self.plans.iter().position(|p| std::ptr::eq(p, plan)).expect("plan");
            let local = match plan_ids.iter().position(|&p| p == pi) {
                Some(i) => i,
                None => {
                    plan_ids.push(pi);
                    plan_kwh.push(0);
                    plan_ids.len() - 1
                }
            };
            plan_kwh[local] += m.0[ELECTRICITY_KWH];
            if lines.len() < limit {
                let u = a.unit_of(r);
                lines.push(ExplainLine {
                    record: ds.record_ref(r),
                    facility: fac.code.clone(),
                    org: ds.orgs.orgs[fac.org as usize].code.clone(),
                    month: format!("{}-{:02}", ds.year, a.month[r]),
                    carrier: ds.carriers[a.carrier[r] as usize].code.clone(),
                    quantity: a.original_value(r),
                    unit: u.code.to_string(),
                    source_document: ds.strings.get(a.source_document[r]).to_string(),
                    evidence_ref: ds.strings.get(a.evidence[r]).to_string(),
                    booked_share: self.shares[a.facility[r] as usize].booked,
                    plan: local,
                    values: vals.iter().map(|&v| v as f64 / SCALE).collect(),
                });
            }
        }
        let plans = plan_ids
            .iter()
            .map(|&pi| {
                let p = &self.plans[pi];
                ExplainPlan {
                    carrier: p.carrier_code.clone(),
                    province: PROVINCES[p.key.province as usize].name_zh.to_string(),
                    province_code: PROVINCES[p.key.province as usize].region_code(),
                    combustion: if p.key.mobile { "mobile" } else { "stationary" },
                    activity_dimension: p.key.dimension.name().to_string(),
                    per_base_unit: cols.iter().map(|(_, ms)| ms.iter().map(|&i| p.coef_of(i)).sum()).collect(),
                    base_unit: p.key.dimension.base_unit().to_string(),
                    steps: p
                        .steps
                        .iter()
                        .map(|s| ExplainStep {
                            label: s.label.clone(),
                            factor_id: s.factor.map(|i| lib.factors[i].row.id.clone()),
                            value: s.value,
                            unit: s.unit.clone(),
                            reason: s.reason.clone(),
                            source: s.factor.map(|i| {
                                let f = &lib.factors[i].row;
                                if f.url.is_empty() {
                                    f.source.clone()
                                } else {
                                    format!("{} <{}>", f.source, f.url)
                                }
                            }),
                            set: s.factor.map(|i| {
                                let set = lib.set_of(&lib.factors[i]);
                                format!("{}@{}", set.header.id, set.header.version)
                            }),
                            factor_year: s.factor_year,
                            vintage: s.vintage,
                            code: s.code,
                            gas: s.gas.clone(),
                            gwp_set: s.gwp_set.clone(),
                            context: s.context.clone(),
                            why: s.why.clone(),
                            note: s.note,
                            primary: s.factor.and_then(|i| lib.primary(&lib.factors[i])),
                        })
                        .collect(),
                }
            })
            .collect();
        let scope2_gap = (scope == ExplainScope::Scope2).then(|| {
            let mut parts: Vec<GapPart> = Vec::new();
            let mut add = |code: &'static str, kwh: f64, kg_per_kwh: f64, ly: Option<i32>, my: Option<i32>| {
                let value = kwh * kg_per_kwh / 1e3;
                if value == 0.0 {
                    return;
                }
                match parts.iter_mut().find(|p| p.code == code && p.location_year == ly && p.market_year == my) {
                    Some(p) => {
                        p.value += value;
                        p.mwh += kwh / 1e3;
                    }
                    None => parts.push(GapPart { code, value, mwh: kwh / 1e3, location_year: ly, market_year: my }),
                }
            };
            for (local, &pi) in plan_ids.iter().enumerate() {
                let Some(g) = self.plans[pi].market_gap else { continue };
                let kwh = plan_kwh[local] as f64 / SCALE;
                let (ly, my) = (g.location_year, g.market_year);
                if g.green_certified {
                    add("green_certified_zero", kwh, -g.location_kg_per_kwh, ly, None);
                } else if let Some(r0) = g.residual_same_year_kg_per_kwh {
                    add("residual_vs_average", kwh, r0 - g.location_kg_per_kwh, ly, ly);
                    if my != ly {
                        add("residual_newer_vintage", kwh, g.market_kg_per_kwh - r0, ly, my);
                    }
                } else {
                    add("residual_vs_average_other_year", kwh, g.market_kg_per_kwh - g.location_kg_per_kwh, ly, my);
                }
            }
            parts.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
            Scope2Gap { market_minus_location: to_thousands(totals[1] - totals[0]), parts }
        });
        Explanation {
            year: ds.year,
            org: ds.orgs.orgs[org as usize].code.clone(),
            org_name: ds.orgs.orgs[org as usize].name.clone(),
            scope,
            columns: cols.iter().map(|(l, _)| *l).collect(),
            totals: totals.iter().map(|&t| to_thousands(t)).collect(),
            totals_unit: scope.totals_unit(),
            values_unit: scope.values_unit(),
            record_count: count,
            lines_truncated: count > lines.len(),
            lines,
            plans,
            library_version: self.library_version.clone(),
            scope2_gap,
        }
    }
}
