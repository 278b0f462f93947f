//! Marginal abatement cost curve (MACC) and the least-cost plan.
//!
//! The plan is a mixed-integer programme solved with `microlp` (pure Rust, branch and bound):
//! one binary per (measure, start year), at most one start per measure, minimise the sum of net
//! costs subject to the targets written on the baseline path minus the measures' stand-alone
//! abatement (a linear, additive model). Measures interact in the full model (two savings on the
//! same energy overlap), so the chosen plan is re-run in the full model; where it misses a target
//! the shortfall is added as a margin to that constraint and the programme is solved again.

use crate::engine::{Model, RunError, RunResult, Scenario, Selected};
use microlp::{ComparisonOp, OptimizationDirection, Problem};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaccRow {
    pub id: String,
    pub zh: String,
    pub en: String,
    pub start: i32,
    /// Net cost per tonne over the horizon (whole yuan); none when the measure abates nothing.
    pub yuan_per_tco2e: Option<i64>,
    /// Stand-alone abatement over the horizon (curve width), t.
    pub abatement_tco2e: f64,
    /// Cumulative abatement of this and all cheaper measures, t.
    pub cumulative_abatement_tco2e: f64,
    pub abatement_in_target_year_tco2e: f64,
    pub net_cost_yuan: i64,
    pub present_value_yuan: i64,
}

/// The MACC with every catalogue measure starting in `start` at full scale, cheapest first.
pub fn macc(model: &Model, sc: &Scenario, start: i32) -> Result<Vec<MaccRow>, RunError> {
    let sel: Vec<Selected> = model
        .catalogue
        .measures
        .iter()
        .map(|m| Selected { id: m.id.clone(), start, ramp_years: None, scale: 1.0 })
        .collect();
    let base = model.path(sc, &[])?;
    let mut rows: Vec<MaccRow> = model
        .outcomes(sc, &base, &sel)?
        .into_iter()
        .map(|o| MaccRow {
            id: o.id,
            zh: o.zh,
            en: o.en,
            start,
            yuan_per_tco2e: o.yuan_per_tco2e,
            abatement_tco2e: o.abatement_tco2e,
            cumulative_abatement_tco2e: 0.0,
            abatement_in_target_year_tco2e: o.abatement_in_target_year_tco2e,
            net_cost_yuan: o.net_cost_yuan,
            present_value_yuan: o.present_value_yuan,
        })
        .collect();
    rows.sort_by_key(|r| (r.yuan_per_tco2e.is_none(), r.yuan_per_tco2e.unwrap_or(0)));
    let mut cum = 0.0;
    for r in &mut rows {
        if r.yuan_per_tco2e.is_some() {
            cum += r.abatement_tco2e;
        }
        r.cumulative_abatement_tco2e = cum;
    }
    Ok(rows)
}

/// One candidate: a measure started in a given year, with its stand-alone effect and cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    /// Candidates of one group are alternatives: at most one is chosen. A group is one measure's
    /// start years, and all measures setting the PUE of the same class (only the lowest PUE
    /// counts, so a second one would be paid for nothing).
    pub group: String,
    pub start: i32,
    pub cost_yuan: i64,
    /// Reduction of gross emissions per year (index = year − base year), t.
    pub abatement: Vec<f64>,
}

/// A linear constraint Σ coef[j] × x[j] ≥ rhs over the candidates. A row with a `choice` only has
/// to hold when that choice is taken: exactly one choice is taken among those rows (the year the
/// emissions peak in), written for the solver with one binary per choice and a big M.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    pub label: String,
    pub coef: Vec<f64>,
    pub rhs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<usize>,
    /// The row's left-hand side on a real path: Σ sign × (baseline − path) in these years.
    pub at: Vec<(i32, f64)>,
}

/// The programme the solver sees. Public so tests can check its answer by enumeration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearModel {
    pub candidates: Vec<Candidate>,
    /// Candidates of one measure (at most one of them is chosen).
    pub groups: Vec<Vec<usize>>,
    pub constraints: Vec<Constraint>,
    /// Number of choices used by rows with a `choice` (0 when there are none).
    pub choices: usize,
}

/// Tonnes of slack accepted by the feasibility check (rounding of the solver).
pub const TOL_T: f64 = 1e-3;

impl LinearModel {
    /// Builds the programme for the peak and intensity targets on the baseline path `base`.
    /// `margins[i]` tightens constraint i (from a previous round).
    pub fn build(
        base: &[f64],
        base_year: i32,
        sc: &Scenario,
        candidates: Vec<Candidate>,
        margins: &[f64],
    ) -> LinearModel {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        for (j, c) in candidates.iter().enumerate() {
            match ids.iter().position(|i| *i == c.group) {
                Some(g) => groups[g].push(j),
                None => {
                    ids.push(&c.group);
                    groups.push(vec![j]);
                }
            }
        }
        let k = |y: i32| (y - base_year) as usize;
        let mut constraints = Vec::new();
        let mut choices = 0;
        if let Some(p) = sc.targets.peak_by {
            if p >= base_year && p < sc.horizon {
                // Peak by p: some year t ≤ p is at least as high as every year after p. One choice per t:
                // E(y) − A(y) ≤ E(t) − A(t)  ⇔  A(y) − A(t) ≥ E(y) − E(t), for all y > p.
                for (ci, t) in (base_year..=p).enumerate() {
                    for y in p + 1..=sc.horizon {
                        constraints.push(Constraint {
                            label: format!("{y} not above {t}"),
                            coef: candidates.iter().map(|c| c.abatement[k(y)] - c.abatement[k(t)]).collect(),
                            rhs: base[k(y)] - base[k(t)],
                            choice: Some(ci),
                            at: vec![(y, 1.0), (t, -1.0)],
                        });
                    }
                    choices = ci + 1;
                }
            }
        }
        if let (Some(y), Some(r)) = (sc.targets.intensity_year, sc.targets.intensity_reduction) {
            if y > base_year && y <= sc.horizon {
                // The allowed level follows business volume, which measures do not change.
                let bv: f64 =
                    (base_year + 1..=y).map(|t| 1.0 + sc.drivers.value("business_volume_growth", t)).product();
                let allowed = base[0] * bv * (1.0 - r);
                constraints.push(Constraint {
                    label: format!("intensity −{:.1}% by {y}", r * 100.0),
                    coef: candidates.iter().map(|c| c.abatement[k(y)]).collect(),
                    rhs: base[k(y)] - allowed,
                    choice: None,
                    at: vec![(y, 1.0)],
                });
            }
        }
        for (c, m) in constraints.iter_mut().zip(margins) {
            c.rhs += m;
        }
        LinearModel { candidates, groups, constraints, choices }
    }

    pub fn cost(&self, x: &[bool]) -> i64 {
        self.candidates.iter().zip(x).filter(|(_, on)| **on).map(|(c, _)| c.cost_yuan).sum()
    }

    fn holds(c: &Constraint, x: &[bool]) -> bool {
        let lhs: f64 = c.coef.iter().zip(x).filter(|(_, on)| **on).map(|(a, _)| a).sum();
        lhs >= c.rhs - TOL_T
    }

    pub fn feasible(&self, x: &[bool]) -> bool {
        self.groups.iter().all(|g| g.iter().filter(|&&j| x[j]).count() <= 1)
            && self.constraints.iter().filter(|c| c.choice.is_none()).all(|c| Self::holds(c, x))
            && (self.choices == 0
                || (0..self.choices)
                    .any(|ch| self.constraints.iter().filter(|c| c.choice == Some(ch)).all(|c| Self::holds(c, x))))
    }

    /// Solves the MILP; `None` when no choice meets the constraints.
    pub fn solve(&self) -> Result<Option<Vec<bool>>, String> {
        let n = self.candidates.len();
        if self.candidates.iter().all(|c| c.cost_yuan >= 0) && self.feasible(&vec![false; n]) {
            return Ok(Some(vec![false; n]));
        }
        let mut p = Problem::new(OptimizationDirection::Minimize);
        // Costs in 10^4 yuan and tonnes in kt keep coefficients within the solver's range.
        let vars: Vec<_> = self.candidates.iter().map(|c| p.add_binary_var(c.cost_yuan as f64 / 1e4)).collect();
        for g in &self.groups {
            if g.len() > 1 {
                let terms: Vec<_> = g.iter().map(|&j| (vars[j], 1.0)).collect();
                p.add_constraint(terms.as_slice(), ComparisonOp::Le, 1.0);
            }
        }
        let picks: Vec<_> = (0..self.choices).map(|_| p.add_binary_var(0.0)).collect();
        if !picks.is_empty() {
            let terms: Vec<_> = picks.iter().map(|v| (*v, 1.0)).collect();
            p.add_constraint(terms.as_slice(), ComparisonOp::Eq, 1.0);
        }
        for c in &self.constraints {
            let big = c.coef.iter().fold(0.0f64, |m, a| m.max(a.abs()));
            // Coefficients far below the row's largest are noise of the subtraction; they are
            // dropped, and the plan is checked against the exact rows afterwards.
            let terms: Vec<_> = c
                .coef
                .iter()
                .enumerate()
                .filter(|(_, a)| a.abs() > big * 1e-7)
                .map(|(j, a)| (vars[j], a / 1e3))
                .collect();
            if let Some(ch) = c.choice {
                // Σ a x + M w ≥ rhs + M − … : with w = 1 the row holds, with w = 0 it is slack
                // because Σ a x ≥ −Σ|a| ≥ rhs − M for this M.
                let m = c.rhs.max(0.0) + c.coef.iter().map(|a| a.abs()).sum::<f64>() + 1.0;
                let mut terms = terms;
                terms.push((picks[ch], -m / 1e3));
                p.add_constraint(terms.as_slice(), ComparisonOp::Ge, (c.rhs - m) / 1e3);
                continue;
            }
            if terms.is_empty() {
                if c.rhs > TOL_T {
                    return Ok(None);
                }
                continue;
            }
            p.add_constraint(terms.as_slice(), ComparisonOp::Ge, c.rhs / 1e3);
        }
        match p.solve() {
            Ok(outcome) => {
                let s = outcome.solution().ok_or_else(|| "solver stopped without a solution".to_string())?;
                Ok(Some(vars.iter().map(|v| s.var_value(*v).round() >= 1.0).collect()))
            }
            Err(microlp::Error::Infeasible) => Ok(None),
            Err(e) => Err(format!("solver: {e}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimiseOptions {
    /// Measures the plan may use (default: the whole catalogue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<Vec<String>>,
    /// Candidate start years (default: every year to the peak year, then +3, +6 and +10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<Vec<i32>>,
    #[serde(default = "default_rounds")]
    pub max_rounds: usize,
}

fn default_rounds() -> usize {
    12
}

impl Default for OptimiseOptions {
    fn default() -> Self {
        OptimiseOptions { measures: None, starts: None, max_rounds: default_rounds() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Whether a plan meeting the targets was found (in the full model).
    pub found: bool,
    pub chosen: Vec<Selected>,
    /// Sum of the chosen candidates' stand-alone present values (net costs when the discount
    /// rate is 0), whole yuan: what the plan minimises.
    pub net_cost_yuan: i64,
    pub rounds: usize,
    /// The plan in plain English words (the command line prints it).
    pub explanation: String,
    /// The same as fields, for a reader in another language (the console words it).
    pub summary: PlanSummary,
    /// The full-model run of the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunResult>,
}

/// What [`Plan::explanation`] says, as codes and numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct PlanSummary {
    /// `no_measure_needed` (the baseline meets the targets), `plan` (measures chosen),
    /// `infeasible` (no combination meets the targets), `not_verified` (no plan held in the full
    /// model within `max_rounds`) or `solver_error`.
    pub outcome: &'static str,
    /// The targets planned for (peak and intensity; net zero is met with offsets, not planned).
    pub goals: Vec<PlanGoal>,
    /// The measures chosen, each with its stand-alone present value and abatement.
    pub steps: Vec<PlanStep>,
    /// Σ stand-alone present values (what the plan minimises), yuan.
    pub total_cost_yuan: i64,
    /// The plan's present value with the bill savings of overlapping measures counted once, yuan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_counted_once_yuan: Option<i64>,
    pub discount_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_year: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_tco2e: Option<f64>,
    /// Catalogue measures not chosen (dearer per tonne, or an alternative to a chosen one).
    pub not_chosen: Vec<String>,
    /// Number of candidate measures (for `infeasible`).
    pub candidates: usize,
    /// Rounds of the solver; more than one when overlaps made the additive estimate too hopeful.
    pub rounds: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanGoal {
    /// `peak` or `intensity`.
    pub kind: &'static str,
    pub year: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduction: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    pub id: String,
    pub start: i32,
    pub cost_yuan: i64,
    pub abatement_tco2e: f64,
}

fn goals(sc: &Scenario, base_year: i32) -> Vec<PlanGoal> {
    let within = |y: i32| y > base_year && y <= sc.horizon;
    let mut g = Vec::new();
    if let Some(p) = sc.targets.peak_by.filter(|p| within(*p)) {
        g.push(PlanGoal { kind: "peak", year: p, reduction: None });
    }
    if let (Some(y), Some(r)) = (sc.targets.intensity_year, sc.targets.intensity_reduction) {
        if within(y) {
            g.push(PlanGoal { kind: "intensity", year: y, reduction: Some(r) });
        }
    }
    g
}

pub fn candidates(
    model: &Model,
    sc: &Scenario,
    opts: &OptimiseOptions,
) -> Result<(Vec<f64>, Vec<Candidate>), RunError> {
    let b = model.baseline.base_year;
    let peak = sc.targets.peak_by.unwrap_or(b + 6).clamp(b + 1, sc.horizon);
    let starts: Vec<i32> = match &opts.starts {
        Some(s) => s.clone(),
        None => (b + 1..=peak).chain([peak + 3, peak + 6, peak + 10]).filter(|y| *y <= sc.horizon).collect(),
    };
    let ids: Vec<String> = match &opts.measures {
        Some(m) => m.clone(),
        None => model.catalogue.measures.iter().map(|m| m.id.clone()).collect(),
    };
    let base = model.path(sc, &[])?;
    let mut sel = Vec::new();
    for id in &ids {
        for s in &starts {
            sel.push(Selected { id: id.clone(), start: *s, ramp_years: None, scale: 1.0 });
        }
    }
    let outs = model.outcomes(sc, &base, &sel)?;
    let base_gross: Vec<f64> = base.years.iter().map(|y| y.gross_tco2e).collect();
    let cands = sel
        .iter()
        .zip(outs)
        .map(|(s, o)| {
            let alone = model.path(sc, std::slice::from_ref(s));
            let abatement = alone
                .map(|a| base.years.iter().zip(&a.years).map(|(x, y)| x.gross_tco2e - y.gross_tco2e).collect())
                .unwrap_or_default();
            let m = model.catalogue.get(&s.id).expect("resolved above");
            let group = m
                .effects
                .iter()
                .find(|e| e.kind == crate::measures::EffectKind::Pue)
                .and_then(|e| e.class)
                .map_or_else(|| s.id.clone(), |c| format!("pue:{}", c.code()));
            Candidate { id: s.id.clone(), group, start: s.start, cost_yuan: o.present_value_yuan, abatement }
        })
        .collect();
    Ok((base_gross, cands))
}

/// The least-cost plan meeting the peak and intensity targets of `sc`.
pub fn least_cost_plan(model: &Model, sc: &Scenario, opts: &OptimiseOptions) -> Result<Plan, RunError> {
    let (base, cands) = candidates(model, sc, opts)?;
    let b = model.baseline.base_year;
    let mut margins: Vec<f64> = Vec::new();
    let mut notes = Vec::new();
    for round in 1..=opts.max_rounds.max(1) {
        let lm = LinearModel::build(&base, b, sc, cands.clone(), &margins);
        margins.resize(lm.constraints.len(), 0.0);
        let x = match lm.solve() {
            Ok(Some(x)) => x,
            Ok(None) => {
                let explanation = format!(
                    "No combination of the {} candidate measures meets the targets{}: even all of them together \
                     leave a gap. Add measures (or raise their scale), start them earlier, or relax the targets.",
                    lm.groups.len(),
                    if round > 1 { " once their overlaps are accounted for" } else { "" }
                );
                let summary = PlanSummary {
                    outcome: "infeasible",
                    goals: goals(sc, b),
                    candidates: lm.groups.len(),
                    rounds: round,
                    discount_rate: sc.drivers.value("discount_rate", b),
                    ..PlanSummary::default()
                };
                return Ok(Plan {
                    found: false,
                    chosen: vec![],
                    net_cost_yuan: 0,
                    rounds: round,
                    explanation,
                    summary,
                    run: None,
                });
            }
            Err(e) => {
                let summary = PlanSummary {
                    outcome: "solver_error",
                    goals: goals(sc, b),
                    rounds: round,
                    discount_rate: sc.drivers.value("discount_rate", b),
                    ..PlanSummary::default()
                };
                return Ok(Plan {
                    found: false,
                    chosen: vec![],
                    net_cost_yuan: 0,
                    rounds: round,
                    explanation: e,
                    summary,
                    run: None,
                });
            }
        };
        let chosen: Vec<Selected> = lm
            .candidates
            .iter()
            .zip(&x)
            .filter(|(_, on)| **on)
            .map(|(c, _)| Selected { id: c.id.clone(), start: c.start, ramp_years: None, scale: 1.0 })
            .collect();
        let mut plan_sc = sc.clone();
        plan_sc.measures = chosen.clone();
        let run = model.run(&plan_sc)?;
        let gross: Vec<f64> = run.years.iter().map(|y| y.gross_tco2e).collect();
        // Each row evaluated on the real path: the plan meets the targets when the rows without a
        // choice hold and all rows of some choice (a peak year) hold.
        let exact = LinearModel::build(&base, b, sc, vec![], &[]);
        let gaps: Vec<f64> =
            exact.constraints.iter().map(|c| c.rhs - achieved_reduction(c, &base, &gross, b)).collect();
        let ok_row = |i: usize| gaps[i] <= TOL_T;
        let met = exact.constraints.iter().enumerate().filter(|(_, c)| c.choice.is_none()).all(|(i, _)| ok_row(i))
            && (exact.choices == 0
                || (0..exact.choices).any(|ch| {
                    exact.constraints.iter().enumerate().filter(|(_, c)| c.choice == Some(ch)).all(|(i, _)| ok_row(i))
                }));
        let mut short = false;
        if !met {
            for (i, c) in exact.constraints.iter().enumerate() {
                if ok_row(i) {
                    continue;
                }
                // The linear row credited this plan with `claimed`; the full model gives `achieved`.
                // A margin of their difference rules the plan out unless more is added.
                let claimed: f64 = lm.constraints[i].coef.iter().zip(&x).filter(|(_, on)| **on).map(|(a, _)| a).sum();
                let achieved = c.rhs - gaps[i];
                if claimed > achieved || c.choice.is_none() {
                    margins[i] = (margins[i] + gaps[i]).max(claimed - achieved + 1.0);
                    short = true;
                }
            }
            if !short {
                // Nothing to tighten: the linear model already saw every row of this plan as violated
                // for the choices it did not take, and the taken one holds in it; widen that one.
                for (i, m) in margins.iter_mut().enumerate() {
                    if !ok_row(i) {
                        *m += gaps[i] + 1.0;
                    }
                }
                short = true;
            }
        }
        let cost = lm.cost(&x);
        if !short {
            let explanation = explain(&lm, &x, sc, &run, round, &notes);
            let summary = summarise(&lm, &x, sc, &run, round);
            return Ok(Plan {
                found: true,
                chosen,
                net_cost_yuan: cost,
                rounds: round,
                explanation,
                summary,
                run: Some(run),
            });
        }
        notes.push(format!(
            "round {round}: the additive estimate overstated the combined effect (overlapping savings); tightened and solved again"
        ));
    }
    Ok(Plan {
        found: false,
        chosen: vec![],
        net_cost_yuan: 0,
        rounds: opts.max_rounds,
        explanation: format!(
            "No plan verified in the full model after {} rounds. {}",
            opts.max_rounds,
            notes.join("; ")
        ),
        summary: PlanSummary {
            outcome: "not_verified",
            goals: goals(sc, b),
            rounds: opts.max_rounds,
            discount_rate: sc.drivers.value("discount_rate", b),
            ..PlanSummary::default()
        },
        run: None,
    })
}

/// The fields of [`explain`]'s text for a plan found.
fn summarise(lm: &LinearModel, x: &[bool], sc: &Scenario, run: &RunResult, rounds: usize) -> PlanSummary {
    let any = x.iter().any(|on| *on);
    PlanSummary {
        outcome: if any { "plan" } else { "no_measure_needed" },
        goals: goals(sc, run.base_year),
        steps: lm
            .candidates
            .iter()
            .zip(x)
            .filter(|(_, on)| **on)
            .map(|(c, _)| PlanStep {
                id: c.id.clone(),
                start: c.start,
                cost_yuan: c.cost_yuan,
                abatement_tco2e: c.abatement.iter().sum(),
            })
            .collect(),
        total_cost_yuan: lm.cost(x),
        overlap_counted_once_yuan: any.then_some(run.total_present_value_yuan),
        discount_rate: sc.drivers.value("discount_rate", run.base_year),
        peak_year: Some(run.peak.year),
        peak_tco2e: Some(run.peak.tco2e),
        not_chosen: if any {
            lm.groups.iter().filter(|g| !g.iter().any(|&j| x[j])).map(|g| lm.candidates[g[0]].id.clone()).collect()
        } else {
            Vec::new()
        },
        candidates: lm.groups.len(),
        rounds,
    }
}

/// The reduction a path achieves on a constraint's left-hand side (the abatement terms).
fn achieved_reduction(c: &Constraint, base: &[f64], gross: &[f64], b: i32) -> f64 {
    c.at.iter().map(|(y, sign)| sign * (base[(y - b) as usize] - gross[(y - b) as usize])).sum()
}

fn explain(lm: &LinearModel, x: &[bool], sc: &Scenario, run: &RunResult, rounds: usize, notes: &[String]) -> String {
    let mut s = String::new();
    let goals: Vec<String> =
        run.targets.iter().filter(|t| !t.target.starts_with("net zero")).map(|t| t.target.clone()).collect();
    if !x.iter().any(|on| *on) {
        s.push_str(&format!(
            "The baseline already meets {} without any measure, so the least-cost plan is to add none.",
            goals.join(" and ")
        ));
    } else {
        s.push_str(&format!("To meet {} at the least cost, the plan is:\n", goals.join(" and ")));
        for (c, _) in lm.candidates.iter().zip(x).filter(|(_, on)| **on) {
            let ab: f64 = c.abatement.iter().sum();
            s.push_str(&format!(
                "- start {} in {}: net cost {} yuan, cuts {:.0} t over the horizon{}\n",
                c.id,
                c.start,
                c.cost_yuan,
                ab,
                if c.cost_yuan < 0 { " (pays for itself through lower bills)" } else { "" }
            ));
        }
        let total = lm.cost(x);
        s.push_str(&format!(
            "Total net cost {total} yuan as the measures' stand-alone costs ({}constant prices); {} yuan with \
             bill savings of overlapping measures counted once. Peak in {} at {:.0} t.",
            match sc.drivers.value("discount_rate", run.base_year) {
                r if r > 0.0 => format!("present value at {:.1}%/yr, ", r * 100.0),
                _ => "undiscounted, ".to_string(),
            },
            run.total_present_value_yuan,
            run.peak.year,
            run.peak.tco2e
        ));
        let unused: Vec<&str> =
            lm.groups.iter().filter(|g| !g.iter().any(|&j| x[j])).map(|g| lm.candidates[g[0]].id.as_str()).collect();
        if !unused.is_empty() {
            s.push_str(&format!(
                " Not chosen: {} (dearer per tonne than the measures chosen, or an alternative to one of them).",
                unused.join(", ")
            ));
        }
        if let Some(p) = sc.targets.peak_by {
            s.push_str(&format!(" Peak target read as: no year after {p} above the highest year up to {p}."));
        }
    }
    if rounds > 1 {
        s.push_str(&format!(" Solved in {rounds} rounds: {}.", notes.join("; ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, start: i32, cost: i64, ab: &[f64]) -> Candidate {
        Candidate { id: id.into(), group: id.into(), start, cost_yuan: cost, abatement: ab.to_vec() }
    }

    #[test]
    fn solver_respects_one_start_per_measure() {
        // Two starts of one measure cannot be added up to meet the constraint.
        let lm = LinearModel {
            candidates: vec![cand("a", 1, 10, &[5.0]), cand("a", 2, 10, &[5.0]), cand("b", 1, 100, &[8.0])],
            groups: vec![vec![0, 1], vec![2]],
            constraints: vec![Constraint {
                label: "x".into(),
                coef: vec![5.0, 5.0, 8.0],
                rhs: 8.0,
                choice: None,
                at: vec![],
            }],
            choices: 0,
        };
        let x = lm.solve().unwrap().unwrap();
        assert_eq!(x, vec![false, false, true]);
        assert!(lm.feasible(&x));
    }

    #[test]
    fn infeasible_programmes_are_reported() {
        let lm = LinearModel {
            candidates: vec![cand("a", 1, 10, &[5.0])],
            groups: vec![vec![0]],
            constraints: vec![Constraint { label: "x".into(), coef: vec![5.0], rhs: 8.0, choice: None, at: vec![] }],
            choices: 0,
        };
        assert_eq!(lm.solve().unwrap(), None);
    }
}
