//! Supply-chain routes (issue 18), thin: the supplier registry and its users, the supplier portal,
//! the footprint library, procurement and transport uploads, Scope 3 runs and tender scoring
//! (`platform::supply`). Portal routes find the supplier from the caller, never from the request.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use platform::supply as svc;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type Reply = ApiResult<Json<Value>>;

async fn run(
    app: Arc<App>,
    caller: Caller,
    f: impl FnOnce(&platform::Platform, &platform::Actor, i64) -> platform::Result<Value> + Send + 'static,
) -> Reply {
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(f(&p, &caller.actor(), caller.user.id)?))).await
}

/// The most a supply upload (CSV lines, a disclosure workbook) holds: it is read into memory whole,
/// so it is bounded below the streamed uploads' limit (413 `body_too_large` above it).
pub const SUPPLY_UPLOAD_BYTES: usize = 256 * 1024 * 1024;

/// The upload's bytes, at most [`SUPPLY_UPLOAD_BYTES`] (and the route's body limit).
async fn bytes(body: Body) -> ApiResult<Vec<u8>> {
    Ok(axum::body::to_bytes(body, SUPPLY_UPLOAD_BYTES).await.map_err(crate::error::body_read_error)?.to_vec())
}

pub async fn suppliers(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, |p, a, _| svc::suppliers(p, a)).await
}

pub async fn register(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::NewSupplier>,
) -> Reply {
    run(app, c, move |p, a, _| svc::register_supplier(p, a, req)).await
}

pub async fn supplier(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Reply {
    run(app, c, move |p, a, _| svc::supplier(p, a, id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
}

pub async fn create_user(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<NewUser>,
) -> Reply {
    crate::auth::check_new_password(&req.password)?;
    store::users::check_username(&req.username)
        .map_err(|m| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_username", m))?;
    let hash = app.hashing.hash(req.password).await?;
    let name = req.username;
    run(app, c, move |p, a, _| svc::create_supplier_user(p, a, id, &name, &hash)).await
}

#[derive(Deserialize)]
pub struct LibraryQuery {
    class: Option<String>,
    q: Option<String>,
}

pub async fn library(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<LibraryQuery>,
) -> Reply {
    let class = crate::bounds::filter_text("class", q.class)?;
    let text = crate::bounds::filter_text("q", q.q)?;
    run(app, c, move |p, a, _| svc::library(p, a, class, text)).await
}

pub async fn footprint(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, Path(id): Path<i64>) -> Reply {
    run(app, c, move |p, a, _| svc::footprint(p, a, id)).await
}

pub async fn procurement(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, body: Body) -> Reply {
    let b = bytes(body).await?;
    run(app, c, move |p, a, _| svc::add_procurement(p, a, &b)).await
}

pub async fn transport(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, body: Body) -> Reply {
    let b = bytes(body).await?;
    run(app, c, move |p, a, _| svc::add_transport(p, a, &b)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secondary {
    org_code: String,
    toml: String,
}

pub async fn secondary(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<Secondary>,
) -> Reply {
    run(app, c, move |p, a, _| svc::add_secondary(p, a, &req.org_code, &req.toml)).await
}

pub async fn run_scope3(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::RunRequest>,
) -> Reply {
    run(app, c, move |p, a, _| svc::run_scope3(p, a, req)).await
}

#[derive(Deserialize)]
pub struct Scope3Query {
    org: Option<String>,
    year: Option<i64>,
}

pub async fn scope3(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<Scope3Query>,
) -> Reply {
    let year =
        crate::bounds::within("year", q.year.ok_or_else(|| ApiError::bad_request("year is required"))?, 1990..=2100)?;
    let org = q.org.unwrap_or_else(|| c.user.org_code.clone());
    run(app, c, move |p, a, _| svc::scope3_latest(p, a, &org, year as i32)).await
}

pub async fn tender(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::TenderRequest>,
) -> Reply {
    run(app, c, move |_, _, _| svc::tender(req)).await
}

pub async fn portal(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, |p, _, user| svc::portal(p, user)).await
}

pub async fn disclose_company(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(d): Json<supply::supplier::CompanyDisclosure>,
) -> Reply {
    run(app, c, move |p, a, user| svc::disclose_company(p, a, user, d)).await
}

pub async fn disclose_footprint(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(v): Json<Value>,
) -> Reply {
    run(app, c, move |p, a, user| svc::disclose_footprint(p, a, user, v)).await
}

pub async fn portal_footprint(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
) -> Reply {
    run(app, c, move |p, _, user| svc::portal_footprint(p, user, id)).await
}

pub async fn disclose_equipment(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(e): Json<supply::equipment::EquipmentSpec>,
) -> Reply {
    run(app, c, move |p, a, user| svc::disclose_equipment(p, a, user, e)).await
}

pub async fn pact_clients(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, |p, a, _| svc::pact_clients(p, a)).await
}

pub async fn create_pact_client(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::NewPactClient>,
) -> Reply {
    run(app, c, move |p, a, _| svc::create_pact_client(p, a, req)).await
}

pub async fn pull(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::PullRequest>,
) -> Reply {
    run(app, c, move |p, a, _| svc::pull(p, a, req)).await
}

pub async fn footprint_template() -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], svc::footprint_template()).into_response()
}

pub async fn disclose_footprints_csv(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    body: Body,
) -> Reply {
    let b = bytes(body).await?;
    run(app, c, move |p, a, user| svc::disclose_footprints_csv(p, a, user, &b)).await
}

pub async fn record_scope3(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<svc::RecordRequest>,
) -> Reply {
    run(app, c, move |p, a, _| svc::record_scope3(p, a, id, req)).await
}

pub async fn factor_sets(State(app): State<Arc<App>>, Extension(c): Extension<Caller>) -> Reply {
    run(app, c, |p, _, _| svc::factor_sets(p)).await
}

pub async fn add_factor_set(
    State(app): State<Arc<App>>,
    Extension(c): Extension<Caller>,
    Json(req): Json<svc::NewFactorSet>,
) -> Reply {
    run(app, c, move |p, a, _| svc::add_factor_set(p, a, req)).await
}

pub async fn packaging(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, body: Body) -> Reply {
    let b = bytes(body).await?;
    run(app, c, move |p, a, _| svc::add_packaging(p, a, &b)).await
}

pub async fn deliveries(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, body: Body) -> Reply {
    let b = bytes(body).await?;
    run(app, c, move |p, a, _| svc::add_deliveries(p, a, &b)).await
}

pub async fn disclosure_template_xlsx(State(app): State<Arc<App>>) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let bytes = app.blocking(|| Ok(svc::disclosure_template_xlsx()?)).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, platform::xlsx::MEDIA_TYPE),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"disclosures.xlsx\""),
        ],
        bytes,
    )
        .into_response())
}

pub async fn disclose_xlsx(State(app): State<Arc<App>>, Extension(c): Extension<Caller>, body: Body) -> Reply {
    let b = bytes(body).await?;
    run(app, c, move |p, a, user| svc::disclose_xlsx(p, a, user, b)).await
}
