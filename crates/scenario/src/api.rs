//! Request and response types for the platform's HTTP API and the console: JSON in, JSON out, one
//! call per question. A request carries the calibrated baseline and the scenario in the form of the
//! scenario file (driver edits by key, measures with timing, targets), so a slider change sends only
//! what changed from the shipped drivers.

use crate::baseline::Baseline;
use crate::drivers::Drivers;
use crate::engine::{Model, RunError, RunResult};
use crate::measures::Catalogue;
use crate::montecarlo::{self, Bands, McOptions};
use crate::optimise::{self, MaccRow, OptimiseOptions, Plan};
use crate::spec::ScenarioFile;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub baseline: Baseline,
    pub scenario: ScenarioFile,
    /// Replaces the shipped catalogue when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<Catalogue>,
    /// Drivers to start from (e.g. calibrated from history) instead of the shipped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drivers: Option<Drivers>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResponse {
    pub run: RunResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monte_carlo: Option<Bands>,
}

/// Every problem of a request, as messages a user can act on.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{}", .errors.join("; "))]
pub struct ApiError {
    pub errors: Vec<String>,
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        ApiError { errors: vec![e.to_string()] }
    }
}

fn prepare(req: &Request) -> Result<(crate::engine::Scenario, Catalogue), ApiError> {
    let drivers = req.drivers.clone().unwrap_or_else(Drivers::shipped);
    if let Err(errs) = drivers.validate() {
        return Err(ApiError { errors: errs.iter().map(|e| e.to_string()).collect() });
    }
    let sc = req.scenario.scenario_on(drivers).map_err(|errors| ApiError { errors })?;
    Ok((sc, req.catalogue.clone().unwrap_or_else(Catalogue::shipped)))
}

/// The deterministic run, plus Monte Carlo bands when the scenario asks for them.
pub fn run(req: &Request) -> Result<RunResponse, ApiError> {
    let (sc, cat) = prepare(req)?;
    let model = Model::new(&req.baseline, &cat)?;
    let run = model.run(&sc)?;
    let monte_carlo = match req.scenario.mc_options() {
        Some(o) => Some(montecarlo::run(&model, &sc, &o)?),
        None => None,
    };
    Ok(RunResponse { run, monte_carlo })
}

/// Monte Carlo bands with explicit options (the console's fan chart).
pub fn bands(req: &Request, opts: &McOptions) -> Result<Bands, ApiError> {
    let (sc, cat) = prepare(req)?;
    Ok(montecarlo::run(&Model::new(&req.baseline, &cat)?, &sc, opts)?)
}

pub fn macc(req: &Request, start: Option<i32>) -> Result<Vec<MaccRow>, ApiError> {
    let (sc, cat) = prepare(req)?;
    let model = Model::new(&req.baseline, &cat)?;
    Ok(optimise::macc(&model, &sc, start.unwrap_or(req.baseline.base_year + 1))?)
}

pub fn optimise(req: &Request) -> Result<Plan, ApiError> {
    let (sc, cat) = prepare(req)?;
    let model = Model::new(&req.baseline, &cat)?;
    let opts: OptimiseOptions = req.scenario.optimise.clone().unwrap_or_default();
    Ok(optimise::least_cost_plan(&model, &sc, &opts)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::national_baseline;

    fn request(json_scenario: &str) -> Request {
        let b = serde_json::to_value(national_baseline(2024, 2_000)).unwrap();
        let text = format!(r#"{{ "baseline": {b}, "scenario": {json_scenario} }}"#);
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn json_in_json_out() {
        let req = request(
            r#"{ "name": "slider", "drivers": { "traffic_growth": 0.05 },
                 "measures": [ { "id": "dc_pue_upgrade", "start": 2026 } ],
                 "monte_carlo": { "paths": 50, "seed": 3 } }"#,
        );
        let r = run(&req).unwrap();
        assert_eq!(r.run.name, "slider");
        assert_eq!(r.run.measures.len(), 1);
        assert_eq!(r.monte_carlo.as_ref().unwrap().paths, 50);
        let out = serde_json::to_value(&r).unwrap();
        assert!(out["run"]["years"][0]["gross_tco2e"].as_f64().unwrap() > 0.0);
        // No measures: the baseline, whatever the request's other fields.
        let base = run(&request(r#"{ "name": "bau" }"#)).unwrap();
        let bau =
            Model::new(&req.baseline, &Catalogue::shipped()).unwrap().run(&crate::Scenario::baseline("bau")).unwrap();
        assert_eq!(base.run.years, bau.years);
    }

    #[test]
    fn every_problem_comes_back() {
        let req = request(r#"{ "drivers": { "nope": 1.0, "pue_data_center": 0.2 } }"#);
        let e = run(&req).unwrap_err();
        assert_eq!(e.errors.len(), 2, "{e}");
        let req = request(r#"{ "measures": [ { "id": "nope", "start": 2026 } ] }"#);
        assert!(run(&req).unwrap_err().to_string().contains("nope"));
    }
}
