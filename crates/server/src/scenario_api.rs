//! Scenario routes (场): the `scenario` crate over HTTP. The platform's own part is reading an org's
//! inventory snapshots (calibration, LMDI between two snapshots, monthly trends); everything else
//! is the crate's JSON-in/JSON-out API (`scenario::api`), which carries the calibrated baseline in
//! the request. So a slider change in the console is one stateless, deterministic request that
//! touches no database: the caller sends the baseline it was given by the calibration route.
//!
//! Access: routes that read stored data name a snapshot or an org in their path and go through the
//! guard; the computing routes read nothing stored, so there is nothing to scope.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use platform::scenario as service;
use scenario::api::Request;
use scenario::montecarlo::McOptions;
use scenario::spec::ScenarioFile;
use scenario::{Baseline, Drivers};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Monte Carlo paths one request may ask for: the benchmark size (10,000) with room.
pub const MAX_PATHS: usize = 20_000;
/// Scenarios one comparison may hold.
pub const MAX_COMPARED: usize = 8;

fn invalid(errors: Vec<String>) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_scenario",
        format!("{} problem(s) with the scenario: {}", errors.len(), errors.join("; ")),
    );
    e.detail = Some(json!(errors));
    e
}

/// File references of a scenario file are for the command line; the platform never opens a path
/// named in a request, so they are refused with what to send instead.
fn no_paths(f: &ScenarioFile, errors: &mut Vec<String>) {
    for (field, set, instead) in [
        ("baseline", f.baseline.is_some(), "send the calibrated baseline as `baseline` beside `scenario`"),
        ("data", f.data.is_some(), "calibrate with GET /api/v1/snapshots/{id}/scenario/baseline"),
        ("catalogue", f.catalogue.is_some(), "send the catalogue as `catalogue` beside `scenario`"),
        ("history", f.history.is_some(), "send calibrated drivers as `drivers` beside `scenario`"),
    ] {
        if set {
            errors.push(format!("scenario.{field}: the platform reads no files named in a request; {instead}"));
        }
    }
}

fn check(req: &Request) -> ApiResult<()> {
    let mut errors = Vec::new();
    no_paths(&req.scenario, &mut errors);
    if let Err(e) = req.baseline.validate() {
        errors.push(format!("baseline: {e}"));
    }
    if let Some(p) = req.scenario.monte_carlo.as_ref().and_then(|m| m.paths) {
        if p == 0 || p > MAX_PATHS {
            errors.push(format!("scenario.monte_carlo.paths = {p}: expected 1 to {MAX_PATHS}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid(errors))
    }
}

fn from_api(e: scenario::api::ApiError) -> ApiError {
    invalid(e.errors)
}

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))
}

/// GET /api/v1/snapshots/{id}/scenario/baseline
pub async fn baseline(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let (store, threads) = (app.store.clone(), app.threads);
    let (s, b) = app.blocking(move || Ok(service::calibrated_snapshot(&store, id, threads)?)).await?;
    let reconciliation = service::reconciliation(&s, &b)?;
    Ok(Json(json!({
        "measured": platform::saving::measured_of(&app, &s.org_code),
        "snapshot": id,
        "baseline": b,
        "total_tco2e": b.total_tco2e(),
        // What the calibration did, as fields the console words (`baseline.source` is the
        // English text kept for traceability).
        "calibration": {
            "snapshot": id,
            "org_code": s.org_code,
            "year": s.year,
            "version": s.version,
            "library_version": s.library_version,
            "library_fingerprint": s.library_fingerprint,
            "scope2": "market_on_location_residual",
        },
        "reconciliation": reconciliation,
        "drivers": Drivers::shipped(),
        "catalogue": scenario::Catalogue::shipped(),
    })))
}

/// POST /api/v1/scenario/run: the deterministic run (the console's sliders), plus bands when the
/// scenario asks for Monte Carlo.
pub async fn run(State(app): State<Arc<App>>, Json(req): Json<Request>) -> ApiResult<Json<Value>> {
    check(&req)?;
    let started = std::time::Instant::now();
    let r = app.blocking(move || scenario::api::run(&req).map_err(from_api)).await?;
    let mut out = to_json(&r)?;
    out["elapsed_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct McRequest {
    #[serde(flatten)]
    request: Request,
    #[serde(default)]
    paths: Option<usize>,
    #[serde(default)]
    seed: Option<u64>,
}

/// POST /api/v1/scenario/montecarlo: P10/P50/P90 bands and the probability of peaking by the
/// target year; at most [`MAX_PATHS`] paths per request.
pub async fn montecarlo(State(app): State<Arc<App>>, Json(req): Json<McRequest>) -> ApiResult<Json<Value>> {
    check(&req.request)?;
    let mut opts = req.request.scenario.mc_options().unwrap_or_default();
    if let Some(p) = req.paths {
        opts.paths = p;
    }
    if let Some(s) = req.seed {
        opts.seed = s;
    }
    if opts.paths == 0 || opts.paths > MAX_PATHS {
        return Err(invalid(vec![format!("paths = {}: expected 1 to {MAX_PATHS}", opts.paths)]));
    }
    opts.threads = app.threads;
    let started = std::time::Instant::now();
    let o: McOptions = opts;
    let bands = app.blocking(move || scenario::api::bands(&req.request, &o).map_err(from_api)).await?;
    Ok(Json(json!({"bands": bands, "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0})))
}

#[derive(Deserialize)]
pub struct CompareRequest {
    baseline: Baseline,
    scenarios: Vec<ScenarioFile>,
    #[serde(default)]
    catalogue: Option<scenario::Catalogue>,
    #[serde(default)]
    drivers: Option<Drivers>,
}

/// POST /api/v1/scenario/compare: several scenarios on one baseline, side by side.
pub async fn compare(State(app): State<Arc<App>>, Json(req): Json<CompareRequest>) -> ApiResult<Json<Value>> {
    if req.scenarios.is_empty() || req.scenarios.len() > MAX_COMPARED {
        return Err(invalid(vec![format!("{} scenarios: expected 1 to {MAX_COMPARED}", req.scenarios.len())]));
    }
    let requests: Vec<Request> = req
        .scenarios
        .into_iter()
        .map(|scenario| Request {
            baseline: req.baseline.clone(),
            scenario,
            catalogue: req.catalogue.clone(),
            drivers: req.drivers.clone(),
        })
        .collect();
    // Every problem of every scenario at once, each prefixed with its scenario.
    let mut errors = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if let Err(e) = check(r) {
            let list: Vec<String> = serde_json::from_value(e.detail.unwrap_or_default()).unwrap_or_default();
            errors.extend(list.into_iter().map(|m| format!("scenarios[{i}]: {m}")));
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let runs = app
        .blocking(move || {
            let mut runs = Vec::new();
            let mut errors = Vec::new();
            for (i, r) in requests.iter().enumerate() {
                let mut plain = r.clone();
                plain.scenario.monte_carlo = None;
                match scenario::api::run(&plain) {
                    Ok(x) => runs.push(x.run),
                    Err(e) => errors.extend(e.errors.into_iter().map(|m| format!("scenarios[{i}]: {m}"))),
                }
            }
            if errors.is_empty() {
                Ok(runs)
            } else {
                Err(invalid(errors))
            }
        })
        .await?;
    Ok(Json(json!({"runs": runs})))
}

#[derive(Deserialize)]
pub struct MaccRequest {
    #[serde(flatten)]
    request: Request,
    #[serde(default)]
    start: Option<i32>,
}

/// POST /api/v1/scenario/macc: the marginal abatement cost curve, cheapest first.
pub async fn macc(State(app): State<Arc<App>>, Json(req): Json<MaccRequest>) -> ApiResult<Json<Value>> {
    crate::bounds::opt_year("start", req.start)?;
    check(&req.request)?;
    let rows = app.blocking(move || scenario::api::macc(&req.request, req.start).map_err(from_api)).await?;
    Ok(Json(json!({"macc": rows})))
}

/// POST /api/v1/scenario/plan: the least-cost plan meeting the scenario's targets (MILP), with
/// its explanation in plain words and the full run of the plan.
pub async fn plan(State(app): State<Arc<App>>, Json(req): Json<Request>) -> ApiResult<Json<Value>> {
    check(&req)?;
    let plan = app.blocking(move || scenario::api::optimise(&req).map_err(from_api)).await?;
    Ok(Json(json!({"plan": plan})))
}

#[derive(Deserialize)]
pub struct LmdiQuery {
    to: i64,
}

/// GET /api/v1/snapshots/{id}/scenario/lmdi?to=ID: the change from one snapshot's year to
/// another's decomposed (LMDI) into activity, intensity, PUE, grid factor, green power and Scope 1.
/// The guard checked `{id}`; the `to` snapshot is checked here against the caller's subtree.
pub async fn lmdi(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(q): Query<LmdiQuery>,
) -> ApiResult<Json<Value>> {
    let to = q.to;
    let to_org = app.db(move |s| s.snapshot_org(to)).await?;
    let org = app.org(&to_org).await?.ok_or_else(|| ApiError::internal("snapshot org missing"))?;
    if !caller.within(&org.path) {
        return Err(ApiError::out_of_scope(&format!("snapshot {to}")));
    }
    let (store, threads) = (app.store.clone(), app.threads);
    let d = app.blocking(move || Ok(service::lmdi(&store, id, to, threads)?)).await?;
    Ok(Json(json!({"decomposition": d, "residual_tco2e": d.to_tco2e - d.from_tco2e - d.total.sum()})))
}

#[derive(Deserialize)]
pub struct TrendQuery {
    #[serde(default)]
    horizon: Option<usize>,
}

/// GET /api/v1/orgs/{code}/scenario/trend?horizon=12: monthly emissions (market-based) and energy
/// of the org from its current snapshots, year after year, with seasonal decomposition, an ETS
/// forecast with 80 % prediction intervals and a backtest (MAPE, sMAPE).
pub async fn trend(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Query(q): Query<TrendQuery>,
) -> ApiResult<Json<Value>> {
    let h = crate::bounds::count("horizon", q.horizon, 12, crate::bounds::HORIZON)?;
    let platform = app.platform.clone();
    let out = app.blocking(move || Ok(service::trend(&platform, &org.code, h)?)).await?;
    Ok(Json(out))
}
