//! The scenario file (`scenario.toml`, a public contract documented in docs/scenarios.md): which
//! baseline, driver edits, uncertainty, measures with timing, targets, Monte Carlo and optimiser
//! settings. Parsed from text here; the CLI reads the file.

use crate::drivers::Drivers;
use crate::engine::{Scenario, Selected, Targets};
use crate::montecarlo::McOptions;
use crate::optimise::OptimiseOptions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSpec {
    /// One value for every year.
    Flat(f64),
    /// `[[year, value], ...]` anchors.
    Anchors(Vec<(i32, f64)>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRef {
    /// Data directory (relative paths are relative to the scenario file).
    pub dir: String,
    pub year: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct McSpec {
    pub paths: Option<usize>,
    pub seed: Option<u64>,
    pub province_grid_spread: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: Option<String>,
    /// Last year modelled (default 2060).
    pub horizon: Option<i32>,
    /// Baseline JSON written by `dualcarbon scenario calibrate`.
    pub baseline: Option<String>,
    /// Or a data directory and year to calibrate from.
    pub data: Option<DataRef>,
    /// A measures TOML replacing the shipped catalogue.
    pub catalogue: Option<String>,
    /// History CSV (the LMDI format) whose recent years calibrate the drivers from the base year.
    pub history: Option<String>,
    #[serde(default)]
    pub drivers: BTreeMap<String, PathSpec>,
    /// Monte Carlo half-widths by driver key.
    #[serde(default)]
    pub uncertainty: BTreeMap<String, f64>,
    #[serde(default)]
    pub measures: Vec<Selected>,
    pub targets: Option<Targets>,
    pub monte_carlo: Option<McSpec>,
    pub optimise: Option<OptimiseOptions>,
}

pub fn parse(text: &str) -> Result<ScenarioFile, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

impl ScenarioFile {
    /// The scenario with every driver edit applied; all problems are reported at once.
    pub fn scenario(&self) -> Result<Scenario, Vec<String>> {
        self.scenario_on(Drivers::shipped())
    }

    /// The same on given drivers (e.g. calibrated from history); the file's edits win.
    pub fn scenario_on(&self, mut drivers: Drivers) -> Result<Scenario, Vec<String>> {
        let mut errs = Vec::new();
        for (k, p) in &self.drivers {
            let path = match p {
                PathSpec::Flat(v) => vec![(2000, *v)],
                PathSpec::Anchors(a) => a.clone(),
            };
            if let Err(e) = drivers.set_path(k, path) {
                errs.push(format!("[drivers] {e}"));
            }
        }
        for (k, s) in &self.uncertainty {
            if let Err(e) = drivers.set_spread(k, *s) {
                errs.push(format!("[uncertainty] {e}"));
            }
        }
        let horizon = self.horizon.unwrap_or(2060);
        if !(2000..=2100).contains(&horizon) {
            errs.push(format!("horizon {horizon}: expected a year up to 2100"));
        }
        if let Some(t) = &self.targets {
            if let Some(r) = t.intensity_reduction {
                if !(0.0..1.0).contains(&r) {
                    errs.push(format!(
                        "[targets] intensity_reduction {r}: expected a fraction below 1 (0.269 = −26.9%)"
                    ));
                }
            }
            if t.intensity_reduction.is_some() != t.intensity_year.is_some() {
                errs.push("[targets] intensity_year and intensity_reduction go together".into());
            }
        }
        if let Some(mc) = &self.monte_carlo {
            if mc.paths == Some(0) {
                errs.push("[monte_carlo] paths must be at least 1".into());
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Scenario {
            name: self.name.clone().unwrap_or_else(|| "scenario".into()),
            horizon,
            drivers,
            measures: self.measures.clone(),
            targets: self.targets.clone().unwrap_or_default(),
        })
    }

    pub fn mc_options(&self) -> Option<McOptions> {
        self.monte_carlo.as_ref().map(|m| {
            let d = McOptions::default();
            McOptions {
                paths: m.paths.unwrap_or(d.paths),
                seed: m.seed.unwrap_or(d.seed),
                province_grid_spread: m.province_grid_spread.unwrap_or(d.province_grid_spread),
                threads: d.threads,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scenario_file_parses() {
        let text = r#"
name = "accelerated"
horizon = 2050
data = { dir = "demo", year = 2024 }

[drivers]
traffic_growth = [[2025, 0.10], [2030, 0.05], [2050, 0.01]]
pue_data_center = 1.5

[uncertainty]
traffic_growth = 0.05

[[measures]]
id = "ai_bs_energy_saving"
start = 2026

[[measures]]
id = "green_power_purchase"
start = 2027
ramp_years = 4
scale = 0.5

[targets]
peak_by = 2030
intensity_year = 2030
intensity_reduction = 0.3

[monte_carlo]
paths = 500
seed = 1
"#;
        let f = parse(text).unwrap();
        let sc = f.scenario().unwrap();
        assert_eq!(sc.horizon, 2050);
        assert_eq!(sc.measures.len(), 2);
        assert_eq!(sc.measures[0].scale, 1.0);
        assert_eq!(sc.measures[1].ramp_years, Some(4));
        assert_eq!(sc.drivers.value("pue_data_center", 2040), 1.5);
        assert_eq!(sc.drivers.get("traffic_growth").unwrap().spread, 0.05);
        assert!((sc.drivers.value("traffic_growth", 2040) - 0.03).abs() < 1e-12);
        assert_eq!(sc.targets.neutral_by, None);
        assert_eq!(f.mc_options().unwrap().paths, 500);
    }

    #[test]
    fn every_problem_is_reported() {
        let text = r#"
[drivers]
no_such_driver = 1.0
pue_data_center = 0.5
[uncertainty]
nope = 0.1
[targets]
intensity_reduction = 1.5
"#;
        let errs = parse(text).unwrap().scenario().unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(parse("unknown_key = 1").unwrap_err().contains("unknown"));
    }
}
