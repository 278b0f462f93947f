//! Data quality route: the report is the platform's (`platform::quality`).

use crate::access::Caller;
use crate::error::ApiResult;
use crate::App;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct QualityQuery {
    pub year: i32,
}

/// Quality of an org's subtree for a year: the org itself and each of its child orgs, month by month.
pub async fn quality(
    State(app): State<Arc<App>>,
    Extension(_caller): Extension<Caller>,
    Path(code): Path<String>,
    Query(q): Query<QualityQuery>,
) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    crate::bounds::year("year", q.year)?;
    app.blocking(move || platform::quality::report(&store, &code, q.year).map(Json).map_err(Into::into)).await
}
