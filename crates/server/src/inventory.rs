//! Inventory snapshot routes: runs, re-runs, explanations, dashboards, factor sets and base-year
//! recomputation. The work is the platform's (`platform::snapshot`); these handlers check access,
//! read the request and shape the answer.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use accounting::ExplainScope;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use platform::snapshot;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct RunRequest {
    pub org_code: String,
    pub year: i32,
    #[serde(default)]
    pub options: Value,
}

/// Runs an inventory for an org and year on the current approved filings and factor sets and
/// stores it as snapshot version 1.
pub async fn run(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<RunRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::bounds::year("year", body.year)?;
    let org = caller.require_org(&app, &body.org_code).await?;
    let options = if body.options.is_null() { json!({}) } else { body.options };
    snapshot::parse_options(body.year, &options)?;
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let threads = app.threads;
    let snap = app
        .blocking(move || Ok(snapshot::run_blocking(&store, &actor, &org.code, body.year, options, threads)?))
        .await?;
    app.metrics.snapshots_created.fetch_add(1, Ordering::Relaxed);
    app.dashboards.invalidate();
    Ok((StatusCode::CREATED, Json(json!({"snapshot": snap}))))
}

pub async fn list(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let path = caller.org_path.clone();
    let (list, superseded) = app.db(move |s| Ok((s.snapshots_within(&path)?, s.superseded_snapshots()?))).await?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|s| {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v.as_object_mut().map(|o| o.remove("result"));
            v["superseded"] = json!(superseded.contains(&s.id));
            v
        })
        .collect();
    Ok(Json(json!({"snapshots": list})))
}

pub async fn get(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let s = app.db(move |s| s.snapshot(id)).await?;
    let vintages = snapshot::factor_vintages(&s.result, s.year as i32);
    // The unit of every number of the result's figures (by field name), and the factors of
    // another year than the snapshot's (docs/factor-selection.md, vintages).
    Ok(Json(json!({"snapshot": s, "units": accounting::figure_units(), "factor_vintages": vintages})))
}

/// Computes a snapshot again from exactly the inputs it recorded and compares.
pub async fn rerun(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    let threads = app.threads;
    app.blocking(move || Ok(Json(snapshot::rerun(&store, id, threads)?))).await
}

#[derive(Deserialize)]
pub struct ExplainQuery {
    pub org: Option<String>,
    pub scope: Option<String>,
    pub limit: Option<usize>,
}

/// Explains a snapshot's figure for an org of its subtree down to records × factors; each record
/// names the filing and the line of the uploaded file it came from.
pub async fn explain(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(q): Query<ExplainQuery>,
) -> ApiResult<Json<Value>> {
    let scope_text = q.scope.unwrap_or_else(|| "2".into());
    let scope = ExplainScope::parse(&scope_text)
        .ok_or_else(|| ApiError::bad_request(format!("scope {scope_text:?}: expected 1, 2, 3 or energy")))?;
    let snap_org = app.db(move |s| s.snapshot_org(id)).await?;
    let code = q.org.unwrap_or(snap_org.clone());
    let org = caller.require_org(&app, &code).await?;
    let root = app.org(&snap_org).await?.ok_or_else(|| ApiError::internal("snapshot org missing"))?;
    if !org.path.starts_with(&root.path) {
        return Err(ApiError::bad_request(format!("org {code} is not part of this snapshot (org {})", root.code)));
    }
    let limit = crate::bounds::count("limit", q.limit, 100, 1..=crate::bounds::MAX_EXPLAIN)?;
    let platform = app.platform.clone();
    app.blocking(move || Ok(Json(snapshot::explain(&platform, id, &code, scope, limit)?))).await
}

#[derive(Deserialize)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// The org's headline figures: from the newest current snapshot of the org or of an org above
/// it (its row in that snapshot is this org's subtree total).
pub async fn dashboard(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    let year = crate::bounds::opt_year("year", q.year)?.unwrap_or(0) as i64;
    let current = app.dashboards.current(&app.platform).await?;
    let best = current
        .iter()
        .filter(|s| (year == 0 || s.year == year) && org.path.starts_with(&s.org_path))
        .max_by_key(|s| (s.year, s.id));
    let Some(best) = best else {
        return Ok(Json(json!({"org": org.code, "name": org.name, "year": year, "snapshot": null, "figures": null})));
    };
    let rows = app.dashboards.rows(&app.platform, best.id).await?;
    Ok(Json(json!({
        "org": org.code,
        "name": org.name,
        "year": rows.year,
        "snapshot": best.id,
        "library_version": rows.library_version,
        "figures": rows.by_org.get(&org.code),
    })))
}

pub async fn factor_sets(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let sets = app.db(|s| s.current_factor_sets()).await?;
    Ok(Json(json!({"factor_sets": sets})))
}

#[derive(Deserialize)]
pub struct NewFactorSet {
    pub toml: String,
    #[serde(default)]
    pub reason: String,
}

/// Adds a user factor set or a new version of one (same `[set] id`). It must load together with
/// the shipped library and the other current sets. Answers with the snapshots it affects.
pub async fn add_factor_set(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewFactorSet>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let root = caller.user.org_code.clone();
    let threads = app.threads;
    let (fs, affected) = app
        .blocking(move || Ok(snapshot::add_factor_set(&store, &actor, &root, &body.toml, &body.reason, threads)?))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"factor_set": fs, "affected_snapshots": affected}))))
}

pub async fn affected(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    let threads = app.threads;
    let all = app.blocking(move || Ok(snapshot::affected_snapshots(&store, threads)?)).await?;
    let path = caller.org_path.clone();
    let mine: Vec<String> = app.db(move |s| s.orgs_within(&path)).await?.into_iter().map(|o| o.code).collect();
    let list: Vec<Value> = all.into_iter().filter(|v| mine.iter().any(|c| v["org_code"] == json!(c))).collect();
    Ok(Json(json!({"affected_snapshots": list})))
}

#[derive(Deserialize)]
pub struct RecomputeRequest {
    #[serde(default)]
    pub reason: String,
}

/// Base-year recalculation: a new version of the snapshot with the same activity versions and the
/// current factor sets; the old version stays as it was. Answers with the differences.
pub async fn recompute(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(body): Json<RecomputeRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let threads = app.threads;
    let out = app.blocking(move || Ok(snapshot::recompute(&store, &actor, id, &body.reason, threads)?)).await?;
    app.dashboards.invalidate();
    Ok((StatusCode::CREATED, Json(out)))
}
