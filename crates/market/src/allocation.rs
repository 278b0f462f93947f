//! Allocation: each subsidiary's allowances for a period from its plan method and its inputs, each
//! with the explanation an auditor reads (inputs with their sources, formula, result).
//!
//! Results are whole kgCO2e rounded down, once, at the end of each formula, so the group never
//! allocates more than its figures give. When the allocations exceed the cap less the reserve, every
//! allocation is scaled by the same factor (the EU's cross-sectoral correction), rounded down again.

use crate::dec::{Dec, DecError};
use crate::plan::{Method, Output, Plan};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the platform knows of a subsidiary for one period, each figure with where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgInputs {
    /// Verified emissions per year (kgCO2e, on the plan's basis), from approved snapshots.
    pub emissions_kg: BTreeMap<i32, Sourced<i64>>,
    /// Output per (kind, year), from the indicators.
    pub output: BTreeMap<(Output, i32), Sourced<Dec>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    /// e.g. "snapshot 42" or "indicator business_volume CT-GD 2025 (filing 7)".
    pub source: String,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: impl Into<String>) -> Sourced<T> {
        Sourced { value, source: source.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Input {
    pub name: String,
    pub value: String,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub org: String,
    pub method: &'static str,
    /// The formula's code (the console words it): e.g. "grandfathering" = E(base) × c.
    pub formula: &'static str,
    pub inputs: Vec<Input>,
    /// Before the cap's correction.
    pub computed_kg: i64,
    /// What is issued for the period.
    pub kg: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    pub period: i32,
    pub cap_kg: i64,
    pub reserve_kg: i64,
    pub allocations: Vec<Allocation>,
    /// (available, computed total) when allocations were scaled down to fit the cap.
    pub correction: Option<(i64, i64)>,
    pub total_kg: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AllocationProblem {
    pub org: String,
    pub code: &'static str,
    pub message: String,
}

fn missing(org: &str, what: String) -> AllocationProblem {
    AllocationProblem { org: org.to_string(), code: "input_missing", message: format!("no {what}") }
}

fn overflow(org: &str, e: DecError) -> AllocationProblem {
    AllocationProblem { org: org.to_string(), code: "overflow", message: e.to_string() }
}

fn tonnes_to_kg(t: Dec) -> i64 {
    t.checked_mul(Dec::from_int(1000)).and_then(|d| d.floor()).map(|v| v as i64).unwrap_or(i64::MAX)
}

/// Which output year an allocation uses: the period's own output (the ex-post, final allocation),
/// or last year's (a pre-allocation, before the period's output is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Final,
    Pre,
}

/// Allocates a period: every subsidiary of the plan, every problem at once.
pub fn allocate(
    plan: &Plan,
    inputs: &BTreeMap<String, OrgInputs>,
    basis: Basis,
) -> Result<Table, Vec<AllocationProblem>> {
    let year = plan.period.year;
    let output_year = match basis {
        Basis::Final => year,
        Basis::Pre => year - 1,
    };
    let mut problems = Vec::new();
    let mut allocations = Vec::new();
    let empty = OrgInputs::default();
    for a in &plan.allocation {
        let data = inputs.get(&a.org).unwrap_or(&empty);
        match one(&a.org, &a.method, data, output_year) {
            Ok(mut alloc) => {
                if basis == Basis::Pre {
                    let share = plan.period.preallocation_share.unwrap_or(Dec::ONE);
                    let pre = Dec::from_int(alloc.computed_kg).checked_mul(share).and_then(|d| d.floor());
                    match pre {
                        Ok(v) => {
                            alloc.inputs.push(Input {
                                name: "preallocation_share".into(),
                                value: share.to_string(),
                                source: "plan".into(),
                            });
                            alloc.computed_kg = v as i64;
                        }
                        Err(e) => problems.push(overflow(&a.org, e)),
                    }
                }
                allocations.push(alloc)
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let cap_kg = tonnes_to_kg(plan.period.cap_t);
    let reserve_kg = tonnes_to_kg(plan.period.reserve_t);
    let available = cap_kg - reserve_kg;
    let computed: i64 = allocations.iter().map(|a| a.computed_kg).sum();
    let correction = (computed > available).then_some((available, computed));
    for a in &mut allocations {
        a.kg = match correction {
            Some((avail, total)) => ((a.computed_kg as i128 * avail as i128) / total as i128) as i64,
            None => a.computed_kg,
        };
    }
    let total_kg = allocations.iter().map(|a| a.kg).sum();
    Ok(Table { period: year, cap_kg, reserve_kg, allocations, correction, total_kg })
}

fn one(org: &str, method: &Method, data: &OrgInputs, output_year: i32) -> Result<Allocation, Vec<AllocationProblem>> {
    let mut inputs = Vec::new();
    let emissions = |inputs: &mut Vec<Input>, base_year: i32| -> Result<Dec, AllocationProblem> {
        let e = data
            .emissions_kg
            .get(&base_year)
            .ok_or_else(|| missing(org, format!("verified emissions for {base_year}")))?;
        inputs.push(Input {
            name: format!("emissions_kg[{base_year}]"),
            value: e.value.to_string(),
            source: e.source.clone(),
        });
        Ok(Dec::from_int(e.value))
    };
    let output = |inputs: &mut Vec<Input>, kind: Output, y: i32| -> Result<Dec, AllocationProblem> {
        let q = data.output.get(&(kind, y)).ok_or_else(|| missing(org, format!("{} for {y}", kind.code())))?;
        inputs.push(Input {
            name: format!("{}[{y}]", kind.code()),
            value: q.value.to_string(),
            source: q.source.clone(),
        });
        Ok(q.value)
    };
    let param = |inputs: &mut Vec<Input>, name: &str, v: Dec| {
        inputs.push(Input { name: name.to_string(), value: v.to_string(), source: "plan".into() });
    };
    let benchmark_kg = |inputs: &mut Vec<Input>,
                        kind: Output,
                        b: Dec,
                        corr: &BTreeMap<String, Dec>|
     -> Result<Dec, AllocationProblem> {
        let q = output(inputs, kind, output_year)?;
        param(inputs, "benchmark", b);
        let mut v = q.checked_mul(b).map_err(|e| overflow(org, e))?;
        for (k, c) in corr {
            param(inputs, &format!("correction.{k}"), *c);
            v = v.checked_mul(*c).map_err(|e| overflow(org, e))?;
        }
        Ok(v)
    };
    let (formula, value) = match method {
        Method::Grandfathering { base_year, coefficient } => {
            let e = emissions(&mut inputs, *base_year).map_err(|p| vec![p])?;
            param(&mut inputs, "coefficient", *coefficient);
            ("grandfathering", e.checked_mul(*coefficient).map_err(|e| vec![overflow(org, e)])?)
        }
        Method::HistoricalIntensity { output: kind, base_year, coefficient } => {
            let mut problems = Vec::new();
            let e = emissions(&mut inputs, *base_year).map_err(|p| problems.push(p)).ok();
            let qb = output(&mut inputs, *kind, *base_year).map_err(|p| problems.push(p)).ok();
            let qa = output(&mut inputs, *kind, output_year).map_err(|p| problems.push(p)).ok();
            let (Some(e), Some(qb), Some(qa)) = (e, qb, qa) else { return Err(problems) };
            if qb.is_zero() || qb.is_negative() {
                return Err(vec![AllocationProblem {
                    org: org.into(),
                    code: "input_not_positive",
                    message: format!("{} for {base_year} is {qb}", kind.code()),
                }]);
            }
            param(&mut inputs, "coefficient", *coefficient);
            // Q(actual) × E(base) × c / Q(base): one division, at the end.
            let num =
                qa.checked_mul(e).and_then(|v| v.checked_mul(*coefficient)).map_err(|e| vec![overflow(org, e)])?;
            let kg = num.div_floor(qb).map_err(|e| vec![overflow(org, e)])?;
            ("historical_intensity", Dec::from_int(kg as i64))
        }
        Method::Benchmark { output: kind, benchmark, corrections } => {
            ("benchmark", benchmark_kg(&mut inputs, *kind, *benchmark, corrections).map_err(|p| vec![p])?)
        }
        Method::Hybrid { base_year, coefficient, output: kind, benchmark, corrections, benchmark_weight } => {
            let mut problems = Vec::new();
            let e = emissions(&mut inputs, *base_year).map_err(|p| problems.push(p)).ok();
            let b = benchmark_kg(&mut inputs, *kind, *benchmark, corrections).map_err(|p| problems.push(p)).ok();
            let (Some(e), Some(b)) = (e, b) else { return Err(problems) };
            param(&mut inputs, "coefficient", *coefficient);
            param(&mut inputs, "benchmark_weight", *benchmark_weight);
            let w = *benchmark_weight;
            let v = e
                .checked_mul(*coefficient)
                .and_then(|g| g.checked_mul(Dec::ONE.checked_sub(w)?))
                .and_then(|g| g.checked_add(b.checked_mul(w)?))
                .map_err(|e| vec![overflow(org, e)])?;
            ("hybrid", v)
        }
    };
    let kg = value.floor().map_err(|e| vec![overflow(org, e)])?;
    if kg < 0 {
        return Err(vec![AllocationProblem {
            org: org.into(),
            code: "input_not_positive",
            message: format!("the allocation comes out negative ({kg} kg)"),
        }]);
    }
    let kg = i64::try_from(kg).map_err(|_| vec![overflow(org, DecError::Overflow)])?;
    Ok(Allocation { org: org.to_string(), method: method.code(), formula, inputs, computed_kg: kg, kg })
}

/// The true-up of a period: final allocation less what was pre-allocated (negative = to give back).
pub fn true_up(pre: &Table, fin: &Table) -> BTreeMap<String, i64> {
    let pre: BTreeMap<&str, i64> = pre.allocations.iter().map(|a| (a.org.as_str(), a.kg)).collect();
    fin.allocations.iter().map(|a| (a.org.clone(), a.kg - pre.get(a.org.as_str()).copied().unwrap_or(0))).collect()
}
