//! 碳普惠 (carbon inclusive) routes, thin: apps post event batches with machine credentials;
//! administrators manage credentials, methodologies, accounts, review, the catalogue and orders;
//! employees see their account and history, claim and redeem (`platform::inclusive`).

use crate::access::{Caller, MachineCaller};
use crate::bounds;
use crate::error::ApiResult;
use crate::App;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use platform::inclusive as svc;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type Reply = ApiResult<Json<Value>>;

/// Runs a service call on a worker thread with the platform and the caller's actor.
async fn run(
    app: Arc<App>,
    caller: Caller,
    f: impl FnOnce(&platform::Platform, &platform::Actor) -> platform::Result<Value> + Send + 'static,
) -> Reply {
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(f(&p, &caller.actor())?))).await
}

/// POST /api/v1/inclusive/events: a batch of an app's events; a verdict per event.
pub async fn post_events(
    State(app): State<Arc<App>>,
    Extension(m): Extension<MachineCaller>,
    Json(body): Json<Value>,
) -> Reply {
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(svc::record_events(&p, &m.client, &m.org_path, body)?))).await
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    status: Option<String>,
}

pub async fn events(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Query(q): Query<ListQuery>) -> Reply {
    let limit = bounds::count("limit", q.limit, 200, 1..=bounds::MAX_LIMIT)?;
    let status = bounds::filter_text("status", q.status)?;
    run(app, c, move |p, a| svc::events(p, a, status.as_deref(), limit)).await
}

pub async fn clients(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::clients).await
}

pub async fn create_client(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::NewClient>,
) -> Reply {
    run(app, c, move |p, a| svc::create_client(p, a, req)).await
}

pub async fn revoke_client(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    run(app, c, move |p, a| svc::revoke_client(p, a, &id)).await
}

pub async fn methodologies(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, |p, _| svc::methodologies(p)).await
}

#[derive(Deserialize)]
pub struct MethodologyBody {
    toml: String,
}

pub async fn add_methodology(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(b): Json<MethodologyBody>,
) -> Reply {
    run(app, c, move |p, a| svc::add_methodology(p, a, &b.toml)).await
}

pub async fn accounts(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Reply {
    let limit = bounds::count("limit", q.limit, 500, 1..=bounds::MAX_LIMIT)?;
    run(app, c, move |p, a| svc::accounts(p, a, limit)).await
}

pub async fn enrol(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Json(req): Json<svc::Enrol>) -> Reply {
    run(app, c, move |p, a| svc::enrol(p, a, req)).await
}

pub async fn export(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Reply {
    run(app, c, move |p, a| svc::export(p, a, id)).await
}

pub async fn erase(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Reply {
    run(app, c, move |p, a| svc::erase(p, a, id)).await
}

pub async fn review(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Query(q): Query<ListQuery>) -> Reply {
    let limit = bounds::count("limit", q.limit, 200, 1..=bounds::MAX_LIMIT)?;
    run(app, c, move |p, a| svc::review_queue(p, a, limit)).await
}

pub async fn decide(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<svc::Decision>,
) -> Reply {
    run(app, c, move |p, a| svc::decide(p, a, id, req)).await
}

pub async fn offset(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<svc::Offset>,
) -> Reply {
    run(app, c, move |p, a| svc::offset(p, a, id, req)).await
}

pub async fn reverse(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<svc::Decision>,
) -> Reply {
    run(app, c, move |p, a| svc::reverse(p, a, id, req)).await
}

#[derive(Deserialize)]
pub struct ExpireQuery {
    points_issued_through: Option<String>,
}

pub async fn expire(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ExpireQuery>,
) -> Reply {
    run(app, c, move |p, a| svc::expire(p, a, q.points_issued_through.as_deref())).await
}

pub async fn catalogue(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::catalogue).await
}

pub async fn add_item(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::NewItem>,
) -> Reply {
    run(app, c, move |p, a| svc::add_item(p, a, req)).await
}

pub async fn orders(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Query(q): Query<ListQuery>) -> Reply {
    let limit = bounds::count("limit", q.limit, 200, 1..=bounds::MAX_LIMIT)?;
    run(app, c, move |p, a| svc::orders(p, a, limit)).await
}

pub async fn confirm(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Reply {
    run(app, c, move |p, a| svc::settle(p, a, id, true)).await
}

pub async fn void(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Reply {
    run(app, c, move |p, a| svc::settle(p, a, id, false)).await
}

#[derive(Deserialize)]
pub struct TotalsQuery {
    year: Option<i32>,
}

pub async fn totals(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<TotalsQuery>,
) -> Reply {
    let year = bounds::opt_year("year", q.year)?;
    run(app, c, move |p, a| svc::totals(p, a, year)).await
}

#[derive(Deserialize)]
pub struct BoardQuery {
    month: Option<String>,
    by: Option<String>,
    limit: Option<i64>,
}

pub async fn leaderboard(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<BoardQuery>,
) -> Reply {
    let limit = bounds::count("limit", q.limit, 20, 1..=500)?;
    let month = bounds::filter_text("month", q.month)?;
    let by = bounds::filter_text("by", q.by)?;
    run(app, c, move |p, a| svc::leaderboard(p, a, month, by.as_deref(), limit)).await
}

pub async fn me(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::me).await
}

pub async fn history(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Reply {
    let limit = bounds::count("limit", q.limit, 100, 1..=bounds::MAX_LIMIT)?;
    run(app, c, move |p, a| svc::history(p, a, limit)).await
}

pub async fn claim(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::claim).await
}

pub async fn redeem(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::Redeem>,
) -> Reply {
    run(app, c, move |p, a| svc::redeem(p, a, req)).await
}

pub async fn my_orders(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::my_orders).await
}

pub async fn my_catalogue(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::my_catalogue).await
}

pub async fn opt_in(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::OptIn>,
) -> Reply {
    run(app, c, move |p, a| svc::set_opt_in(p, a, req)).await
}

pub async fn my_export(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, svc::export_own).await
}
