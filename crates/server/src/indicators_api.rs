//! Indicators on the platform's own numbers (issue 15), thin: one indicator with its components
//! and their sources (`platform::monitoring`), the indicator components a snapshot gives
//! (`platform::feeds`), and facility attributes (`platform::attributes`).

use crate::access::Caller;
use crate::error::ApiResult;
use crate::App;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use platform::monitoring::mon;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct YearQuery {
    year: i32,
}

/// GET /api/v1/orgs/{code}/indicators/{indicator}?year=
pub async fn indicator_detail(
    State(app): State<Arc<App>>,
    Path((code, indicator)): Path<(String, String)>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    app.blocking(move || Ok(Json(m.indicator_detail(&code, &indicator, q.year)?))).await
}

/// GET /api/v1/snapshots/{id}/indicator-components
pub async fn snapshot_components(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    app.blocking(move || Ok(Json(platform::feeds::snapshot_components(&store, id)?))).await
}

/// POST /api/v1/facility-attributes (facility-attributes.csv)
pub async fn add_attributes(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    app.blocking(move || Ok(Json(platform::attributes::add(&store, &caller.actor(), &body)?))).await
}

/// GET /api/v1/orgs/{code}/facility-attributes
pub async fn list_attributes(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    app.blocking(move || Ok(Json(platform::attributes::list(&store, &org.path)?))).await
}
