//! Targets: the shipped 2025 set (data/targets-2025.toml, with sources), per-org overrides,
//! progress, the linear trajectory from the base year, and the subsidiary scoreboard (考核).
//!
//! Every target resolves to a baseline b (the indicator at the base year; 0 for a cumulative
//! target), a goal T and a current value v; progress = (v − b) / (T − b), clamped to [0, 1], and
//! the trajectory expects progress (year − base) / (target year − base) by `year`.

use crate::registry::{indicator, Better, Indicator};
use crate::values::{Observations, Sums};
use model::{OrgId, OrgTree};
use serde::{Deserialize, Serialize};

pub const DEFAULT_TARGETS: &str = include_str!("../data/targets-2025.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    AtMost,
    AtLeast,
    ChangeVsBase,
    Cumulative,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
    pub indicator: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: TargetKind,
    pub value: f64,
    #[serde(default)]
    pub strict: bool,
    pub base_year: i32,
    pub year: i32,
    #[serde(default = "one")]
    pub weight: f64,
    pub source: String,
}

fn one() -> f64 {
    1.0
}

/// The weights a target may carry in the scoreboard: 0 (not scored) to 100.
pub const WEIGHTS: std::ops::RangeInclusive<f64> = 0.0..=100.0;

/// Relative changes a `change_vs_base` target may ask for: −100 % to +1000 %.
pub const CHANGES: std::ops::RangeInclusive<f64> = -1.0..=10.0;

impl Target {
    /// The values this target's goal may take: a relative change within [`CHANGES`]; a cumulative
    /// amount from 0 to 10^15 of the indicator's unit; a threshold in percent from 0 to 100; a
    /// ratio such as a PUE from 1 to 10; any other threshold from 0 to 10^15 (every indicator is
    /// non-negative).
    pub fn value_range(&self) -> std::ops::RangeInclusive<f64> {
        let unit = indicator(&self.indicator).map_or("", |i| i.unit);
        match self.kind {
            TargetKind::ChangeVsBase => CHANGES,
            TargetKind::Cumulative => 0.0..=1e15,
            TargetKind::AtMost | TargetKind::AtLeast if unit == "%" => 0.0..=100.0,
            TargetKind::AtMost | TargetKind::AtLeast if unit == "ratio" => 1.0..=10.0,
            TargetKind::AtMost | TargetKind::AtLeast => 0.0..=1e15,
        }
    }

    /// Every rule this target breaks: years within `model::calendar::YEARS` with the base year
    /// first, a finite value within [`Target::value_range`], a weight within [`WEIGHTS`].
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let years = model::calendar::YEARS;
        for (name, y) in [("base_year", self.base_year), ("year", self.year)] {
            if !years.contains(&y) {
                errors.push(format!(
                    "target {:?}: {name} {y}: expected a year from {} to {}",
                    self.id,
                    years.start(),
                    years.end()
                ));
            }
        }
        if self.base_year >= self.year {
            errors
                .push(format!("target {:?}: base_year {} must be before year {}", self.id, self.base_year, self.year));
        }
        let range = self.value_range();
        if !self.value.is_finite() || !range.contains(&self.value) {
            errors.push(format!(
                "target {:?}: value {}: expected a number from {} to {} for a {:?} target",
                self.id,
                self.value,
                range.start(),
                range.end(),
                self.kind
            ));
        }
        if !self.weight.is_finite() || !WEIGHTS.contains(&self.weight) {
            errors.push(format!(
                "target {:?}: weight {}: expected {} to {}",
                self.id,
                self.weight,
                WEIGHTS.start(),
                WEIGHTS.end()
            ));
        }
        errors
    }
}

/// A change to one target for an org and everything below it (the nearest override wins).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub org: String,
    pub target: String,
    pub value: Option<f64>,
    pub base_year: Option<i32>,
    pub year: Option<i32>,
    pub weight: Option<f64>,
    #[serde(default)]
    pub reason: String,
}

impl Override {
    /// `target` with this override's fields in place of its own.
    pub fn apply(&self, target: &Target) -> Target {
        let mut t = target.clone();
        t.value = self.value.unwrap_or(t.value);
        t.base_year = self.base_year.unwrap_or(t.base_year);
        t.year = self.year.unwrap_or(t.year);
        t.weight = self.weight.unwrap_or(t.weight);
        t
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetHeader {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSet {
    pub set: SetHeader,
    #[serde(default, rename = "target")]
    pub targets: Vec<Target>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<Override>,
}

impl TargetSet {
    pub fn default_set() -> TargetSet {
        TargetSet::parse(DEFAULT_TARGETS).expect("the shipped target set is valid (tested)")
    }

    /// Parses and checks a target file: known indicators, unique ids, sources, sane years.
    pub fn parse(text: &str) -> Result<TargetSet, Vec<String>> {
        let set: TargetSet = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        for (i, t) in set.targets.iter().enumerate() {
            if set.targets[..i].iter().any(|o| o.id == t.id) {
                errors.push(format!("target {:?}: defined twice", t.id));
            }
            if indicator(&t.indicator).is_none() {
                errors.push(format!("target {:?}: unknown indicator {:?}", t.id, t.indicator));
            }
            if t.source.trim().is_empty() {
                errors.push(format!("target {:?}: a target needs its source", t.id));
            }
            errors.extend(t.problems());
        }
        errors.extend(set.check_overrides());
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    fn check_overrides(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for o in &self.overrides {
            match self.targets.iter().find(|t| t.id == o.target) {
                None => errors.push(format!("override for org {:?}: unknown target {:?}", o.org, o.target)),
                Some(t) => errors
                    .extend(o.apply(t).problems().into_iter().map(|p| format!("override for org {:?}: {p}", o.org))),
            }
        }
        errors
    }

    /// Adds or replaces an org's override of one target (editing targets per org), after checking
    /// the target it makes (see [`Target::problems`]): every problem, and nothing changed, when it
    /// breaks a rule. Returns the override it replaced, if any.
    pub fn set_override(&mut self, o: Override) -> Result<Option<Override>, Vec<String>> {
        let Some(t) = self.targets.iter().find(|t| t.id == o.target) else {
            return Err(vec![format!("unknown target {:?}", o.target)]);
        };
        let problems = o.apply(t).problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let old = self.overrides.iter().position(|x| x.org == o.org && x.target == o.target);
        let old = old.map(|i| self.overrides.remove(i));
        self.overrides.push(o);
        Ok(old)
    }

    /// The targets as they apply to `org`: each with the nearest override on its path to the root.
    pub fn resolve(&self, tree: &OrgTree, org: OrgId) -> Vec<Target> {
        self.targets
            .iter()
            .map(|t| {
                let t = t.clone();
                let nearest = tree.path_to_root(org).find_map(|o| {
                    let code = &tree.org(o).code;
                    self.overrides.iter().find(|x| &x.org == code && x.target == t.id)
                });
                match nearest {
                    Some(o) => o.apply(&t),
                    None => t,
                }
            })
            .collect()
    }

    /// Org codes named by overrides that are not in the tree (reported, not ignored).
    pub fn unknown_override_orgs(&self, tree: &OrgTree) -> Vec<String> {
        self.overrides.iter().filter(|o| tree.get(&o.org).is_none()).map(|o| o.org.clone()).collect()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    pub target: String,
    pub indicator: String,
    pub unit: String,
    pub org: String,
    pub year: i32,
    pub kind: TargetKind,
    /// The goal in the indicator's unit (for change targets: baseline × (1 + change)).
    pub goal: Option<f64>,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Share of the way from baseline to goal, 0–1; `None` without data.
    pub progress: Option<f64>,
    /// Where the linear trajectory from base year to target year expects progress to be by `year`.
    pub expected_progress: f64,
    /// The trajectory's value for `year`.
    pub expected_value: Option<f64>,
    pub on_track: Option<bool>,
    pub met: Option<bool>,
    pub weight: f64,
}

/// Indicator values of one org by year, from observations (cached per year).
pub struct OrgSeries<'a> {
    obs: &'a Observations,
    tree: &'a OrgTree,
    cache: std::collections::HashMap<i32, Vec<Sums>>,
    years: Option<Vec<i32>>,
}

impl<'a> OrgSeries<'a> {
    pub fn new(obs: &'a Observations, tree: &'a OrgTree) -> Self {
        OrgSeries { obs, tree, cache: Default::default(), years: None }
    }
    /// The years of `from..=to` with any observation, oldest first: what a sum over years visits
    /// (a year without data adds nothing), so its work follows the data, never the span asked for.
    pub fn years_with_data(&mut self, from: i32, to: i32) -> Vec<i32> {
        let obs = self.obs;
        let years = self.years.get_or_insert_with(|| obs.years());
        years.iter().copied().filter(|y| (from..=to).contains(y)).collect()
    }
    pub fn sums(&mut self, org: OrgId, year: i32) -> Sums {
        self.cache.entry(year).or_insert_with(|| self.obs.rollup(self.tree, year, 0))[org as usize]
    }
    pub fn value(&mut self, ind: &Indicator, org: OrgId, year: i32) -> Option<f64> {
        self.sums(org, year).indicator(ind)
    }
}

pub fn evaluate(target: &Target, org: OrgId, year: i32, series: &mut OrgSeries) -> Progress {
    let ind = indicator(&target.indicator).expect("target sets are validated on load");
    let (baseline, current, goal) = match target.kind {
        TargetKind::Cumulative => {
            let mut sum = None;
            for y in series.years_with_data(target.base_year, year) {
                if let Some(v) = series.value(ind, org, y) {
                    *sum.get_or_insert(0.0) += v;
                }
            }
            (Some(0.0), sum, Some(target.value))
        }
        TargetKind::ChangeVsBase => {
            let b = series.value(ind, org, target.base_year);
            (b, series.value(ind, org, year), b.map(|b| b * (1.0 + target.value)))
        }
        TargetKind::AtMost | TargetKind::AtLeast => {
            (series.value(ind, org, target.base_year), series.value(ind, org, year), Some(target.value))
        }
    };
    let met = match (current, goal) {
        (Some(v), Some(g)) => Some(match target.kind {
            TargetKind::AtMost if target.strict => v < g,
            TargetKind::AtMost => v <= g,
            TargetKind::AtLeast if target.strict => v > g,
            TargetKind::AtLeast | TargetKind::Cumulative => v >= g,
            TargetKind::ChangeVsBase => match ind.better {
                Better::Lower => v <= g,
                Better::Higher => v >= g,
            },
        }),
        _ => None,
    };
    let progress = match (baseline, current, goal, met) {
        (_, _, _, Some(true)) => Some(1.0),
        (Some(b), Some(v), Some(g), _) if (g - b).abs() > f64::EPSILON * g.abs().max(1.0) => {
            Some(((v - b) / (g - b)).clamp(0.0, 1.0))
        }
        (_, _, _, Some(false)) => Some(0.0),
        _ => None,
    };
    // In i64: years come from requests and files, and a difference of two i32 may not fit one.
    let span = (i64::from(target.year) - i64::from(target.base_year)) as f64;
    let expected_progress = ((i64::from(year) - i64::from(target.base_year)) as f64 / span).clamp(0.0, 1.0);
    let expected_value = match (baseline, goal) {
        (Some(b), Some(g)) => Some(b + (g - b) * expected_progress),
        _ => None,
    };
    let on_track = progress.map(|p| p + 1e-9 >= expected_progress);
    Progress {
        target: target.id.clone(),
        indicator: target.indicator.clone(),
        unit: ind.unit.to_string(),
        org: series.tree.org(org).code.clone(),
        year,
        kind: target.kind,
        goal,
        baseline,
        current,
        progress,
        expected_progress,
        expected_value,
        on_track,
        met,
        weight: target.weight,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub rank: usize,
    pub org: String,
    pub name: String,
    /// Weighted mean progress over the targets with data, 0–100.
    pub score: Option<f64>,
    pub targets_with_data: usize,
    pub targets_met: usize,
    pub progress: Vec<Progress>,
}

/// The 考核 scoreboard: the children of `parent`, ranked by weighted progress towards their targets
/// (each child with its own overrides). Children without any data rank last.
pub fn scoreboard(set: &TargetSet, tree: &OrgTree, obs: &Observations, parent: OrgId, year: i32) -> Vec<ScoreRow> {
    let mut series = OrgSeries::new(obs, tree);
    let mut rows: Vec<ScoreRow> = tree.children[parent as usize]
        .iter()
        .map(|&child| {
            let progress: Vec<Progress> =
                set.resolve(tree, child).iter().map(|t| evaluate(t, child, year, &mut series)).collect();
            let (mut wsum, mut psum, mut with_data) = (0.0, 0.0, 0);
            for p in &progress {
                if let Some(v) = p.progress {
                    wsum += p.weight;
                    psum += p.weight * v;
                    with_data += 1;
                }
            }
            ScoreRow {
                rank: 0,
                org: tree.org(child).code.clone(),
                name: tree.org(child).name.clone(),
                score: (wsum > 0.0).then(|| psum / wsum * 100.0),
                targets_with_data: with_data,
                targets_met: progress.iter().filter(|p| p.met == Some(true)).count(),
                progress,
            }
        })
        .collect();
    rows.sort_by(|a, b| match (a.score, b.score) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.org.cmp(&b.org)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.org.cmp(&b.org),
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::tests::tree;

    #[test]
    fn shipped_set_loads_with_the_white_paper_targets() {
        let set = TargetSet::default_set();
        let find = |id: &str| set.targets.iter().find(|t| t.id == id).unwrap();
        assert_eq!(set.targets.len(), 13);
        assert_eq!(find("compute_efficiency_up").value, 0.20);
        let pack = find("green_packaging_90");
        assert_eq!(
            (pack.indicator.as_str(), pack.value, pack.strict, pack.year),
            ("green_packaging_share", 90.0, false, 2025)
        );
        let cities = find("nev_delivery_cities_100");
        assert_eq!((cities.indicator.as_str(), cities.value, cities.strict), ("nev_delivery_cities", 100.0, true));
        assert_eq!(find("green_power_share_up").value, 0.0);
        assert_eq!((find("new_large_dc_pue").value, find("new_large_dc_pue").strict), (1.3, true));
        assert_eq!(find("energy_per_business_down").value, -0.23);
        assert_eq!(find("carbon_per_business_down").value, -0.23);
        assert_eq!(find("sharing_savings_45bn_kwh").value, 45e9);
        assert_eq!((find("sharing_savings_45bn_kwh").base_year, find("sharing_savings_45bn_kwh").year), (2021, 2025));
        assert_eq!(find("new_radio5g_energy_down").value, -0.15);
        assert_eq!(find("server_energy_per_compute_down").value, -0.10);
        assert_eq!(find("large_dc_share_80").value, 80.0);
        assert_eq!(find("bs5g_efficiency_gain").value, 0.20);
        assert_eq!(find("new_bs5g_saving").value, 20.0);
    }

    #[test]
    fn invalid_sets_are_refused_with_reasons() {
        let text = r#"
[set]
id = "x"
title = "x"
[[target]]
id = "a"
indicator = "nope"
name_zh = "a"
name_en = "a"
kind = "at_most"
value = 1
base_year = 2025
year = 2025
source = ""
[[override]]
org = "GD"
target = "b"
"#;
        let errs = TargetSet::parse(text).unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    fn obs(csv: &str) -> Observations {
        Observations::read_csv(csv.as_bytes(), &tree(), |_| None).unwrap()
    }

    #[test]
    fn change_target_progress_trajectory_and_override() {
        let t = tree();
        // GD: 100 tce per 1000 (0.1) in 2020, 0.085 in 2023: −15 % of the −23 % needed.
        let o = obs("org_code,period,component,value\n\
             GD-SZ,2020,energy_tce,100\nGD-SZ,2020,business_volume_10k_yuan,1000\n\
             GD-SZ,2023,energy_tce,85\nGD-SZ,2023,business_volume_10k_yuan,1000\n");
        let mut set = TargetSet::default_set();
        let target = set.targets.iter().find(|t| t.id == "energy_per_business_down").unwrap().clone();
        let gd = t.get("GD").unwrap();
        let mut s = OrgSeries::new(&o, &t);
        let p = evaluate(&target, gd, 2023, &mut s);
        assert!((p.goal.unwrap() - 0.077).abs() < 1e-12);
        assert!((p.progress.unwrap() - 0.15 / 0.23).abs() < 1e-9);
        assert!((p.expected_progress - 0.6).abs() < 1e-12);
        assert_eq!((p.on_track, p.met), (Some(true), Some(false)));
        // The province tightens its own target to −30 %: progress falls, and its city inherits it.
        set.set_override(Override {
            org: "GD".into(),
            target: "energy_per_business_down".into(),
            value: Some(-0.30),
            base_year: None,
            year: None,
            weight: None,
            reason: "provincial plan".into(),
        })
        .unwrap();
        let sz = t.get("GD-SZ").unwrap();
        let resolved = set.resolve(&t, sz).into_iter().find(|t| t.id == "energy_per_business_down").unwrap();
        assert_eq!(resolved.value, -0.30);
        let p = evaluate(&resolved, sz, 2023, &mut s);
        assert!((p.progress.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(p.on_track, Some(false));
        assert!(set
            .resolve(&t, t.get("JS").unwrap())
            .iter()
            .any(|x| x.id == "energy_per_business_down" && x.value == -0.23));
    }

    #[test]
    fn cumulative_and_threshold_targets() {
        let t = tree();
        let o = obs("org_code,period,component,value\n\
             GD,2021,sharing_saved_kwh,10000000000\nGD,2022,sharing_saved_kwh,12000000000\n\
             GD,2020,new_large_dc_total_kwh,140\nGD,2020,new_large_dc_it_kwh,100\n\
             GD,2022,new_large_dc_total_kwh,129\nGD,2022,new_large_dc_it_kwh,100\n");
        let set = TargetSet::default_set();
        let gd = t.get("GD").unwrap();
        let mut s = OrgSeries::new(&o, &t);
        let targets = set.resolve(&t, gd);
        let share = evaluate(targets.iter().find(|x| x.id == "sharing_savings_45bn_kwh").unwrap(), gd, 2022, &mut s);
        assert_eq!(share.current, Some(22e9));
        assert!((share.progress.unwrap() - 22.0 / 45.0).abs() < 1e-12);
        assert!((share.expected_progress - 0.25).abs() < 1e-12);
        let pue = evaluate(targets.iter().find(|x| x.id == "new_large_dc_pue").unwrap(), gd, 2022, &mut s);
        assert_eq!((pue.met, pue.progress), (Some(true), Some(1.0)));
        let js =
            evaluate(targets.iter().find(|x| x.id == "new_large_dc_pue").unwrap(), t.get("JS").unwrap(), 2022, &mut s);
        assert_eq!((js.current, js.progress, js.on_track), (None, None, None));
    }

    #[test]
    fn scoreboard_ranks_children_by_weighted_progress() {
        let t = tree();
        let o = obs("org_code,period,component,value\n\
             GD,2020,dc_count,10\nGD,2020,large_dc_count,5\nGD,2024,dc_count,10\nGD,2024,large_dc_count,9\n\
             JS,2020,dc_count,10\nJS,2020,large_dc_count,5\nJS,2024,dc_count,10\nJS,2024,large_dc_count,6\n");
        let board = scoreboard(&TargetSet::default_set(), &t, &o, t.root(), 2024);
        let got: Vec<(usize, &str, usize)> =
            board.iter().map(|r| (r.rank, r.org.as_str(), r.targets_with_data)).collect();
        assert_eq!(got, vec![(1, "GD", 1), (2, "JS", 1)]);
        assert_eq!(board[0].score, Some(100.0));
        // JS: 50 % → 60 % of the way to > 80 %: progress 10/30.
        assert!((board[1].score.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(board[0].targets_met, 1);
    }

    #[test]
    fn a_far_year_costs_what_the_data_costs() {
        // Issue 11: the cumulative sum walked every year from the base year to the year asked for,
        // caching a roll-up per year (24 GB for year 2147483647).
        let t = tree();
        let o = obs("org_code,period,component,value\nGD,2021,sharing_saved_kwh,10\n");
        let set = TargetSet::default_set();
        let gd = t.get("GD").unwrap();
        let mut s = OrgSeries::new(&o, &t);
        let started = std::time::Instant::now();
        for target in set.resolve(&t, gd) {
            let p = evaluate(&target, gd, i32::MAX, &mut s);
            assert_eq!(p.expected_progress, 1.0);
            let p = evaluate(&target, gd, i32::MIN, &mut s);
            assert_eq!(p.expected_progress, 0.0);
        }
        assert!(started.elapsed().as_secs() < 5);
        assert!(s.cache.len() <= 4, "{} years rolled up", s.cache.len());
    }

    #[test]
    fn overrides_are_checked_before_they_count() {
        let mut set = TargetSet::default_set();
        let edit = |value: Option<f64>, weight: Option<f64>, year: Option<i32>| Override {
            org: "GD".into(),
            target: "new_bs5g_saving".into(),
            value,
            base_year: None,
            year,
            weight,
            reason: "x".into(),
        };
        for bad in [
            edit(Some(1e308), None, None),
            edit(Some(f64::NAN), None, None),
            edit(Some(150.0), None, None),
            edit(None, Some(-100.0), None),
            edit(None, Some(101.0), None),
            edit(None, None, Some(2019)),
            edit(None, None, Some(i32::MAX)),
        ] {
            assert!(set.set_override(bad.clone()).is_err(), "{bad:?}");
        }
        assert!(set.overrides.is_empty());
        assert_eq!(set.set_override(edit(Some(25.0), Some(2.0), None)).unwrap(), None);
        let old = set.set_override(edit(Some(30.0), None, None)).unwrap().unwrap();
        assert_eq!(old.value, Some(25.0));
        assert_eq!(set.overrides.len(), 1);
        let text = toml::to_string(&set).unwrap();
        assert!(TargetSet::parse(&text).is_ok());
        let bad = text.replace("value = 30.0", "value = 1e300");
        assert!(TargetSet::parse(&bad).is_err(), "a file with a bad override does not load");
    }
}
