//! Measured base-station savings routes: a saving run recorded for an org and a period becomes
//! indicator data per station, and the recorded data the measured results of the scenario
//! measures (`platform::saving`).

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use platform::saving::RecordRequest;
use serde_json::{json, Value};
use std::sync::Arc;

pub use platform::saving::{measured_of, BS_SAVING_ACTION};

/// POST /api/v1/orgs/{code}/sites/bs-saving: runs the base-station saving on the traffic and
/// records each station's saving and reference as indicator data for the period
/// (`platform::saving::record`). Answers the report, the rows recorded and the audit entry's
/// sequence number.
pub async fn record(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<RecordRequest>,
) -> ApiResult<Json<Value>> {
    let platform = app.platform.clone();
    app.blocking(move || Ok(Json(platform::saving::record(&platform, &org, &caller.actor(), req)?))).await
}

/// GET /api/v1/orgs/{code}/scenario/measured: for each scenario measure with measured data in the
/// org's subtree, Σ saved / Σ reference (the measure's effect value, a fraction) and its evidence.
pub async fn measured(State(app): State<Arc<App>>, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let m = platform::monitoring::mon(&app)?;
    let list = m.measured(&code).ok_or_else(|| ApiError::not_found(format!("no org {code:?}")))?;
    Ok(Json(json!({"org": code, "measured": list})))
}
