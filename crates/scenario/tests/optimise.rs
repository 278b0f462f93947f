use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scenario::engine::{Model, Scenario, Selected, Targets};
use scenario::optimise::{candidates, least_cost_plan, Candidate, Constraint, LinearModel, OptimiseOptions};
use scenario::synthetic::national_baseline;
use scenario::Catalogue;

/// Every admissible choice (at most one candidate per group), by enumeration.
fn brute_force(lm: &LinearModel) -> Option<(i64, Vec<bool>)> {
    let n = lm.candidates.len();
    let mut best: Option<(i64, Vec<bool>)> = None;
    // Odometer over groups: each group picks none (0) or one of its members.
    let mut pick = vec![0usize; lm.groups.len()];
    loop {
        let mut x = vec![false; n];
        for (g, &p) in lm.groups.iter().zip(&pick) {
            if p > 0 {
                x[g[p - 1]] = true;
            }
        }
        if lm.feasible(&x) {
            let c = lm.cost(&x);
            if best.as_ref().is_none_or(|(b, _)| c < *b) {
                best = Some((c, x));
            }
        }
        let mut i = 0;
        loop {
            if i == pick.len() {
                return best;
            }
            pick[i] += 1;
            if pick[i] <= lm.groups[i].len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
    }
}

#[test]
fn solver_matches_brute_force_on_random_small_programmes() {
    let mut rng = ChaCha8Rng::seed_from_u64(2030);
    let mut solved = 0;
    for case in 0..150 {
        let n_measures = rng.random_range(2..5usize);
        let n_starts = rng.random_range(1..4usize);
        let n_rows = rng.random_range(1..4usize);
        let mut candidates = Vec::new();
        let mut groups = Vec::new();
        for m in 0..n_measures {
            let mut g = Vec::new();
            for s in 0..n_starts {
                g.push(candidates.len());
                // Some measures save money (negative net cost), as energy efficiency often does.
                let cost = rng.random_range(-2_000..20_000i64);
                candidates.push(Candidate {
                    id: format!("m{m}"),
                    group: format!("m{m}"),
                    start: 2025 + s as i32,
                    cost_yuan: cost,
                    abatement: vec![],
                });
            }
            groups.push(g);
        }
        let constraints = (0..n_rows)
            .map(|r| Constraint {
                label: format!("row {r}"),
                coef: (0..candidates.len()).map(|_| rng.random_range(-200.0..1_000.0f64).round()).collect(),
                rhs: rng.random_range(-100.0..1_500.0f64).round(),
                // Some rows belong to one of two alternatives (as the candidate peak years do).
                choice: match rng.random_range(0..3u8) {
                    0 => None,
                    c => Some(usize::from(c - 1)),
                },
                at: vec![],
            })
            .collect::<Vec<_>>();
        let choices = if constraints.iter().any(|c| c.choice.is_some()) { 2 } else { 0 };
        let lm = LinearModel { candidates, groups, constraints, choices };
        let brute = brute_force(&lm);
        let milp = lm.solve().unwrap();
        match (&brute, &milp) {
            (None, None) => {}
            (Some((cost, _)), Some(x)) => {
                assert!(lm.feasible(x), "case {case}: solver plan infeasible");
                assert_eq!(lm.cost(x), *cost, "case {case}: a cheaper feasible plan exists");
                solved += 1;
            }
            _ => panic!("case {case}: brute force {brute:?} vs solver {milp:?}"),
        }
    }
    assert!(solved > 30, "too few feasible cases ({solved}) to mean anything");
}

fn tight_scenario() -> Scenario {
    let mut sc = Scenario::baseline("targets");
    sc.horizon = 2045;
    // Strong growth so that the baseline neither peaks by 2030 nor meets the intensity target.
    sc.drivers.set_path("dc_it_growth", vec![(2025, 0.15), (2033, 0.02)]).unwrap();
    sc.drivers.set_path("traffic_growth", vec![(2025, 0.12), (2033, 0.02)]).unwrap();
    sc.targets =
        Targets { peak_by: Some(2030), intensity_year: Some(2030), intensity_reduction: Some(0.55), neutral_by: None };
    sc
}

#[test]
fn least_cost_plan_is_feasible_in_the_full_model_and_cheapest_in_the_linear_one() {
    let b = national_baseline(2024, 4_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let sc = tight_scenario();
    let bau = m.run(&sc).unwrap();
    assert!(bau.targets.iter().any(|t| !t.met), "the case must need measures: {:?}", bau.targets);
    let opts = OptimiseOptions {
        measures: Some(vec![
            "ai_bs_energy_saving".into(),
            "dc_pue_upgrade".into(),
            "green_power_purchase".into(),
            "rooftop_pv".into(),
        ]),
        starts: Some(vec![2025, 2027, 2029]),
        max_rounds: 6,
    };
    // The case is feasible: all four measures from 2025 meet the targets in the full model.
    let mut all = sc.clone();
    all.measures = opts
        .measures
        .clone()
        .unwrap()
        .into_iter()
        .map(|id| Selected { id, start: 2025, ramp_years: None, scale: 1.0 })
        .collect();
    let all_run = m.run(&all).unwrap();
    assert!(all_run.targets.iter().all(|t| t.met), "{:?}", all_run.targets);
    let plan = least_cost_plan(&m, &sc, &opts).unwrap();
    assert!(plan.found, "{}", plan.explanation);
    let run = plan.run.as_ref().unwrap();
    for t in run.targets.iter().filter(|t| !t.target.starts_with("net zero")) {
        assert!(t.met, "{} missed by {} t", t.target, t.gap_tco2e);
    }
    // On the linear programme of the first round, the solver's answer is the enumerated optimum.
    let (base, cands) = candidates(&m, &sc, &opts).unwrap();
    let lm = LinearModel::build(&base, 2024, &sc, cands, &[]);
    let (best, _) = brute_force(&lm).expect("feasible");
    let x = lm.solve().unwrap().unwrap();
    assert!(lm.feasible(&x));
    assert_eq!(lm.cost(&x), best);
    // The verified plan costs at least the linear optimum (overlaps only make it dearer).
    assert!(plan.net_cost_yuan >= best);
    assert!(!plan.explanation.is_empty());
    // The explanation's content as fields (the console words them in zh and en).
    let s = &plan.summary;
    assert_eq!(s.outcome, "plan");
    let steps: Vec<(&str, i32)> = s.steps.iter().map(|x| (x.id.as_str(), x.start)).collect();
    let chosen: Vec<(&str, i32)> = plan.chosen.iter().map(|x| (x.id.as_str(), x.start)).collect();
    assert_eq!(steps, chosen);
    assert_eq!(s.total_cost_yuan, plan.net_cost_yuan);
    assert_eq!(s.overlap_counted_once_yuan, Some(run.total_present_value_yuan));
    assert_eq!((s.peak_year, s.rounds), (Some(run.peak.year), plan.rounds));
    assert_eq!(s.goals.iter().map(|g| g.kind).collect::<Vec<_>>(), ["peak", "intensity"]);
    assert_eq!(s.candidates, 4);
    for id in &s.not_chosen {
        assert!(!plan.chosen.iter().any(|c| &c.id == id) && plan.explanation.contains(id.as_str()));
    }
}

#[test]
fn a_baseline_that_meets_its_targets_needs_no_measure() {
    let b = national_baseline(2024, 2_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let mut sc = Scenario::baseline("easy");
    sc.targets =
        Targets { peak_by: None, intensity_year: Some(2030), intensity_reduction: Some(0.0), neutral_by: None };
    // Offsets cost money and lower no gross emissions: never worth choosing here.
    let opts = OptimiseOptions { measures: Some(vec!["offsets".into()]), ..Default::default() };
    let plan = least_cost_plan(&m, &sc, &opts).unwrap();
    assert!(plan.found);
    assert!(plan.chosen.is_empty(), "{:?}", plan.chosen);
    assert_eq!(plan.summary.outcome, "no_measure_needed");
    assert!(plan.summary.steps.is_empty());
    // Measures that pay for themselves are chosen even when no target asks for them.
    let opts =
        OptimiseOptions { measures: Some(vec!["dc_liquid_cooling".into(), "offsets".into()]), ..Default::default() };
    let (_, cands) = candidates(&m, &sc, &opts).unwrap();
    let plan = least_cost_plan(&m, &sc, &opts).unwrap();
    for c in &plan.chosen {
        let cand = cands.iter().find(|x| x.id == c.id && x.start == c.start).unwrap();
        assert!(cand.cost_yuan < 0, "{c:?} chosen without need at a cost");
    }
}

/// On a small case, every combination of measures and start years is run in the full model: no
/// plan that meets the targets there is cheaper than the optimiser's.
#[test]
fn no_cheaper_plan_exists_in_the_full_model_on_a_small_case() {
    let b = national_baseline(2024, 4_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let mut sc = tight_scenario();
    // Without bill savings every measure costs money, so the optimiser has to choose.
    sc.drivers.set_path("electricity_price", vec![(2024, 0.0)]).unwrap();
    let ids = ["ai_bs_energy_saving", "dc_pue_upgrade", "green_power_purchase", "rooftop_pv"];
    let starts = [2025, 2028];
    let opts = OptimiseOptions {
        measures: Some(ids.iter().map(|s| s.to_string()).collect()),
        starts: Some(starts.to_vec()),
        max_rounds: 12,
    };
    let plan = least_cost_plan(&m, &sc, &opts).unwrap();
    let (_, cands) = candidates(&m, &sc, &opts).unwrap();
    let cost_of = |id: &str, start: i32| cands.iter().find(|c| c.id == id && c.start == start).unwrap().cost_yuan;
    let mut best: Option<i64> = None;
    let mut feasible = 0;
    for code in 0..3usize.pow(ids.len() as u32) {
        let mut sel = Vec::new();
        let mut c = code;
        for id in ids {
            let pick = c % 3;
            c /= 3;
            if pick > 0 {
                sel.push(Selected { id: id.into(), start: starts[pick - 1], ramp_years: None, scale: 1.0 });
            }
        }
        let mut s = sc.clone();
        s.measures = sel.clone();
        let r = m.run(&s).unwrap();
        if r.targets.iter().all(|t| t.met) {
            feasible += 1;
            let cost: i64 = sel.iter().map(|x| cost_of(&x.id, x.start)).sum();
            best = Some(best.map_or(cost, |b| b.min(cost)));
        }
    }
    let best = best.expect("the small case has a feasible plan");
    assert!(plan.found, "{}", plan.explanation);
    assert!(feasible > 1 && feasible < 81, "{feasible} of 81 plans feasible: the case must discriminate");
    assert!(!plan.chosen.is_empty() && plan.chosen.len() < ids.len());
    assert_eq!(plan.net_cost_yuan, best, "{}", plan.explanation);
}
