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
    /// The figures shown for this scope: (label, metric set).
    fn columns(self) -> Vec<(&'static str, Vec<usize>)> {
        match self {
            ExplainScope::Scope1 => vec![("scope1_kgco2e", vec![S1_STATIONARY, S1_MOBILE, S1_FUGITIVE])],
            ExplainScope::Scope2 => {
                vec![("scope2_location_kgco2e", vec![S2_LOCATION]), ("scope2_market_kgco2e", vec![S2_MARKET])]
            }
            ExplainScope::Scope3 => vec![("scope3_kgco2e", vec![S3_CAT1, S3_CAT4, S3_CAT6, S3_CAT7])],
            ExplainScope::Energy => vec![("energy_kgce", vec![ENERGY_KGCE])],
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
    /// One value per column, in kg (or kgce).
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
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainPlan {
    pub carrier: String,
    pub province: String,
    pub combustion: &'static str,
    pub activity_dimension: String,
    /// Per unit of activity in its base unit, for each column.
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
    pub columns: Vec<&'static str>,
    /// Column totals in tonnes (tCO2e or tce): equal to the inventory's figures.
    pub totals: Vec<f64>,
    pub record_count: usize,
    pub lines: Vec<ExplainLine>,
    pub lines_truncated: bool,
    pub plans: Vec<ExplainPlan>,
    pub library_version: String,
}

impl Inventory {
    /// Explains `scope` for the subtree of `org`, listing at most `limit` records (all are summed).
    pub fn explain(&self, ds: &Dataset, lib: &Library, org: u32, scope: ExplainScope, limit: usize) -> Explanation {
        let cols = scope.columns();
        let mut totals = vec![0i128; cols.len()];
        let mut lines = Vec::new();
        let mut count = 0usize;
        let mut plan_ids: Vec<usize> = Vec::new();
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
                    plan_ids.len() - 1
                }
            };
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
                        })
                        .collect(),
                }
            })
            .collect();
        Explanation {
            year: ds.year,
            org: ds.orgs.orgs[org as usize].code.clone(),
            org_name: ds.orgs.orgs[org as usize].name.clone(),
            scope,
            columns: cols.iter().map(|(l, _)| *l).collect(),
            totals: totals.iter().map(|&t| to_thousands(t)).collect(),
            record_count: count,
            lines_truncated: count > lines.len(),
            lines,
            plans,
            library_version: self.library_version.clone(),
        }
    }
}
