//! Site energy routes (光氢储, base-station saving): `platform::site` over HTTP, and the remote set
//! points and state of a registered site (远程调试). Set points belong to a facility of the org
//! tree: the route names the org (checked by the guard) and the facility must lie in that org's
//! subtree ([`site_of`]).

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use platform::monitoring::mon;
use platform::site as service;
use serde::Deserialize;
use serde_json::{json, Value};
use site::bs::SchedulerPolicy;
use std::sync::Arc;

pub use platform::site::{SiteRequest, DEFAULT_GRID_FACTOR, SETPOINTS_ACTION};

/// GET /api/v1/site/weather: the typical weather years the platform ships, each with its source
/// fields, so a site can be simulated without uploading weather (`shipped_weather` in the body of
/// simulate and size).
pub async fn weather_years() -> Json<Value> {
    Json(service::shipped_weather())
}

/// POST /api/v1/site/simulate: a year (or the weather's span) of the controller with PV, battery
/// and fuel cell; the report plus daily energy by source and SoC range for the charts.
pub async fn simulate(State(app): State<Arc<App>>, Json(req): Json<SiteRequest>) -> ApiResult<Json<Value>> {
    let (config, weather) = service::load(&req)?;
    Ok(Json(app.blocking(move || Ok(service::simulate(&config, &weather)?)).await?))
}

/// POST /api/v1/site/size: the cheapest PV / battery / fuel-cell combination of the site file's
/// `[sizing]` candidates with zero unserved load over the weather.
pub async fn size(State(app): State<Arc<App>>, Json(req): Json<SiteRequest>) -> ApiResult<Json<Value>> {
    let (config, weather) = service::load(&req)?;
    Ok(Json(app.blocking(move || Ok(service::size(&config, &weather)?)).await?))
}

#[derive(Deserialize)]
pub struct SavingRequest {
    /// Per-cell hourly load in the ITU 2023 format (`Time,BS,CellName,load,...`).
    cells_csv: String,
    #[serde(default)]
    policy: Option<SchedulerPolicy>,
    #[serde(default)]
    grid_factor: Option<String>,
}

/// POST /api/v1/site/bs-saving: forecast traffic per cell, schedule carrier shutdown, symbol and
/// deep sleep under the quality constraint, and report the saving in kWh and tCO2 per station.
pub async fn bs_saving(State(app): State<Arc<App>>, Json(req): Json<SavingRequest>) -> ApiResult<Json<Value>> {
    let r = app.blocking(move || Ok(service::saving_report(&req.cells_csv, req.policy, req.grid_factor)?)).await?;
    Ok(Json(json!({"saving": r})))
}

/// The facility `code` if it lies within `org`'s subtree.
async fn site_of(app: &App, org: &store::reference::Org, code: String) -> ApiResult<store::reference::FacilityRecord> {
    let c = code.clone();
    let f =
        app.db(move |s| s.facility(&c)).await?.ok_or_else(|| ApiError::not_found(format!("no facility {code:?}")))?;
    let owner = app.org(&f.org_code).await?.ok_or_else(|| ApiError::internal("facility's org missing"))?;
    if !owner.path.starts_with(&org.path) {
        return Err(ApiError::not_found(format!("facility {code} is not in org {}", org.code)));
    }
    Ok(f)
}

/// GET /api/v1/orgs/{code}/sites/{facility}/setpoints: the site's current set points (the
/// defaults until the platform changes them) and every change with who, when and why.
pub async fn get_setpoints(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Path((_, facility)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let f = site_of(&app, &org, facility).await?;
    let code = f.code.clone();
    let h = app.db(move |s| s.read(|c| service::history(c, &code))).await?;
    let cur = service::current(&h)?;
    Ok(Json(json!({"facility": f.code, "org_code": f.org_code, "setpoints": cur, "changes": h})))
}

#[derive(Deserialize)]
pub struct SetpointsBody {
    setpoints: Value,
    reason: String,
}

/// PUT /api/v1/orgs/{code}/sites/{facility}/setpoints: new set points with a reason. Every broken
/// rule is reported at once; the change and the audit entry are one transaction.
pub async fn put_setpoints(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Extension(caller): Extension<Caller>,
    Path((_, facility)): Path<(String, String)>,
    Json(body): Json<SetpointsBody>,
) -> ApiResult<Json<Value>> {
    let f = site_of(&app, &org, facility).await?;
    let (store, code, org_code, actor) = (app.store.clone(), f.code.clone(), f.org_code.clone(), caller.user.username);
    let (new, seq) = app
        .blocking(move || Ok(service::set_setpoints(&store, &actor, &code, &org_code, body.setpoints, &body.reason)?))
        .await?;
    Ok(Json(json!({"facility": f.code, "setpoints": new, "audit_seq": seq})))
}

/// POST /api/v1/orgs/{code}/sites/{facility}/state: a gateway reports its controller's state (the
/// `site::controller::Telemetry` JSON). The report is checked whole (nothing is stored when any part
/// is wrong), becomes readings of the site's meters (`site::meters`) at the report's time, and goes
/// through the monitoring ingestion like any batch: durable in the reading log before the answer,
/// live state, alert rules, the event stream. The answer carries the ingestion report and the site's
/// current set points, so a change made on the platform reaches the site with its next report. A
/// repeated report (a gateway retrying) is counted as duplicates, never twice.
pub async fn post_state(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Extension(caller): Extension<Caller>,
    Path((_, facility)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let f = site_of(&app, &org, facility).await?;
    let m = mon(&app)?;
    let source = format!("site-state:{}", caller.user.username);
    let code = f.code.clone();
    let ingest = app.blocking(move || Ok(service::report_state(&m, &code, body, &source)?)).await?;
    let code = f.code.clone();
    let h = app.db(move |s| s.read(|c| service::history(c, &code))).await?;
    // `setpoints_audit_seq` is null while the platform has never changed them: the set points are
    // then the defaults, and a gateway keeps its own site file's rather than take those.
    Ok(Json(json!({
        "accepted": ingest.rejected == 0 && ingest.conflicts == 0,
        "ingest": ingest,
        "setpoints": service::current(&h)?,
        "setpoints_audit_seq": h.last().map(|x| x["seq"].clone()),
    })))
}

#[derive(Deserialize)]
pub struct StateQuery {
    /// Hours of history before the newest report (default 24, at most 744).
    #[serde(default)]
    hours: Option<u32>,
}

/// GET /api/v1/orgs/{code}/sites/{facility}/state: the site's newest state (`platform::site::state`)
/// and `?hours=` of history per meter for the charts.
pub async fn get_state(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Path((_, facility)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<StateQuery>,
) -> ApiResult<Json<Value>> {
    let hours = crate::bounds::count("hours", q.hours, 24, crate::bounds::HOURS)? as i64;
    let f = site_of(&app, &org, facility).await?;
    let m = mon(&app)?;
    app.blocking(move || Ok(Json(service::state(&m, &f.code, hours)?))).await
}

/// GET /api/v1/orgs/{code}/sites: the off-grid sites of an org's subtree — facilities whose site
/// meters are registered (a `supply_mode` gauge) — with a summary of each one's newest state.
pub async fn list_sites(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let code = org.code.clone();
    let sites = app.blocking(move || Ok(service::sites_within(&m, &code)?)).await?;
    Ok(Json(json!({"org": org.code, "sites": sites})))
}
