//! Internal carbon market routes (`/api/v1/market/…`), thin over `platform::market`: a
//! subsidiary trades only its own account (the caller's org), the group's carbon office (group
//! administrators) administers plans, allocation, budgets, bands and corrections, everyone but
//! employees reads the market, auditors read the journal.

use crate::access::{Caller, Role};
use crate::bounds;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use market::book::{Kind, Side};
use market::exchange::Config;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Quantities one order or transfer may carry: up to 10⁹ t (in kgCO2e).
const MAX_KG: i64 = 1_000_000_000_000;
/// Prices up to 10⁶ yuan a tonne (in fen); budgets up to 10¹² yuan (in fen).
const MAX_PRICE_FEN: i64 = 100_000_000;
const MAX_FEN: i64 = 100_000_000_000_000;

fn positive(parameter: &str, v: i64, max: i64) -> ApiResult<i64> {
    bounds::within(parameter, v, 1..=max)
}

fn vintage(v: i32) -> ApiResult<i32> {
    bounds::year("vintage", v)
}

/// GET /api/v1/market: every vintage's best prices, depth, last price and recent trades.
pub async fn overview(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(platform::market::overview(&p)?))).await
}

#[derive(Deserialize)]
pub struct AccountQuery {
    org: Option<String>,
    limit: Option<i64>,
}

/// GET /api/v1/market/account: the caller's org's account (`?org=` another org of the caller's
/// subtree, for the group's office and auditors).
pub async fn account(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AccountQuery>,
) -> ApiResult<Json<Value>> {
    let org = match q.org {
        Some(code) => caller.require_org(&app, &code).await?.code,
        None => caller.user.org_code.clone(),
    };
    let limit = bounds::count("limit", q.limit, 200, 1..=bounds::MAX_LIMIT)? as usize;
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(platform::market::account(&p, &org, limit)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    request_id: String,
    vintage: i32,
    side: Side,
    /// "limit" (with price_fen) or "market" (a buy with max_cost_fen).
    #[serde(rename = "type")]
    kind: String,
    quantity_kg: i64,
    price_fen: Option<i64>,
    max_cost_fen: Option<i64>,
}

/// POST /api/v1/market/orders: a limit or market order on the caller's own account.
pub async fn place(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<OrderRequest>,
) -> ApiResult<Json<Value>> {
    let vintage = vintage(r.vintage)?;
    let quantity = positive("quantity_kg", r.quantity_kg, MAX_KG)?;
    let kind = match r.kind.as_str() {
        "limit" => {
            let price =
                r.price_fen.ok_or_else(|| field("price_fen", "a limit order states price_fen (fen per tonne)"))?;
            Kind::Limit { price: positive("price_fen", price, MAX_PRICE_FEN)? }
        }
        "market" => {
            Kind::Market { max_cost: r.max_cost_fen.map(|c| positive("max_cost_fen", c, MAX_FEN)).transpose()? }
        }
        other => return Err(field("type", &format!("type is limit or market, not {other:?}"))),
    };
    // Not on a blocking thread: the order runs in memory and its batch is awaited (group commit).
    Ok(Json(
        platform::market::place_order_async(
            app.platform.clone(),
            caller.actor(),
            r.request_id,
            vintage,
            r.side,
            kind,
            quantity,
        )
        .await?,
    ))
}

fn field(name: &str, message: &str) -> ApiError {
    let mut e = ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message.to_string());
    e.detail = Some(serde_json::json!({"field": name}));
    e
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestOnly {
    request_id: String,
}

/// POST /api/v1/market/orders/{id}/cancel: cancels one of the caller's open orders.
pub async fn cancel(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    Json(r): Json<RequestOnly>,
) -> ApiResult<Json<Value>> {
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::cancel_order(&p, &actor, &r.request_id, id)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    request_id: String,
    buyer: String,
    vintage: i32,
    quantity_kg: i64,
    price_fen: i64,
}

/// POST /api/v1/market/transfers: proposes a bilateral transfer from the caller's account.
pub async fn propose(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<ProposeRequest>,
) -> ApiResult<Json<Value>> {
    let vintage = vintage(r.vintage)?;
    let quantity = positive("quantity_kg", r.quantity_kg, MAX_KG)?;
    let price = positive("price_fen", r.price_fen, MAX_PRICE_FEN)?;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || {
        Ok(Json(platform::market::propose(&p, &actor, &r.request_id, &r.buyer, vintage, quantity, price)?))
    })
    .await
}

/// POST /api/v1/market/transfers/{id}/confirm: the buyer accepts; allowances and payment move together.
pub async fn confirm(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    Json(r): Json<RequestOnly>,
) -> ApiResult<Json<Value>> {
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::confirm(&p, &actor, &r.request_id, id)?))).await
}

/// POST /api/v1/market/transfers/{id}/withdraw: either side withdraws before confirmation.
pub async fn withdraw(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    Json(r): Json<RequestOnly>,
) -> ApiResult<Json<Value>> {
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::withdraw(&p, &actor, &r.request_id, id)?))).await
}

/// GET /api/v1/market/plans: every plan version (without bodies).
pub async fn plans(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let rows = app.db(|s| s.market_plans()).await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|p| serde_json::json!({"year": p.year, "version": p.version, "sha256": p.sha256, "created_by": p.created_by, "created_at": p.created_at}))
        .collect();
    Ok(Json(serde_json::json!({"plans": list})))
}

#[derive(Deserialize)]
pub struct PlanQuery {
    version: Option<i64>,
}

/// GET /api/v1/market/plans/{year}: a period's plan file (?version=, else the newest).
pub async fn plan(
    State(app): State<Arc<App>>,
    Path(year): Path<i32>,
    Query(q): Query<PlanQuery>,
) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    let p = app.db(move |s| s.market_plan(year, q.version)).await?;
    let p = p.ok_or_else(|| ApiError::not_found(format!("period {year} has no plan file")))?;
    Ok(Json(serde_json::json!(p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    year: i32,
    toml: String,
}

/// POST /api/v1/market/plans: a new version of a period's plan file (checked: every problem with its field).
pub async fn add_plan(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<PlanRequest>,
) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", r.year)? as i64;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::add_plan(&p, &actor, year, &r.toml)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    basis: String,
    #[serde(default)]
    snapshots: Vec<i64>,
}

/// POST /api/v1/market/periods/{year}/allocate: allocates the period from its plan and approved snapshots.
pub async fn allocate(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(year): Path<i32>,
    Json(r): Json<AllocateRequest>,
) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    bounds::count("snapshots", Some(r.snapshots.len()), 0, 0..=100)?;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::allocate(&p, &actor, year, &r.basis, &r.snapshots)?))).await
}

/// GET /api/v1/market/periods/{year}/allocations: the period's allocations with their explanations.
pub async fn allocations(State(app): State<Arc<App>>, Path(year): Path<i32>) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(platform::market::allocations(&p, year)?))).await
}

/// GET /api/v1/market/periods/{year}/compliance: the period's compliance report.
pub async fn compliance(State(app): State<Arc<App>>, Path(year): Path<i32>) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(platform::market::compliance_report(&p, year)?))).await
}

/// POST /api/v1/market/periods/{year}/settle: penalties and rewards of a period after its deadline.
pub async fn settle(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(year): Path<i32>,
) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::settle(&p, &actor, year)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurrenderRequest {
    request_id: String,
    org: Option<String>,
    kg: Option<i64>,
}

/// The org a surrender or borrowing is for: the caller's own, or (group administrators) any org
/// of their subtree.
async fn compliance_org(app: &App, caller: &Caller, org: Option<String>) -> ApiResult<String> {
    match org {
        Some(code) if code != caller.user.org_code => {
            if caller.role != Role::GroupAdmin {
                return Err(ApiError::out_of_scope(&format!("account {code}")));
            }
            Ok(caller.require_org(app, &code).await?.code)
        }
        _ => Ok(caller.user.org_code.clone()),
    }
}

/// POST /api/v1/market/periods/{year}/surrender: surrenders towards the period's obligation.
pub async fn surrender(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(year): Path<i32>,
    Json(r): Json<SurrenderRequest>,
) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    let org = compliance_org(&app, &caller, r.org).await?;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::surrender(&p, &actor, &r.request_id, year, &org)?))).await
}

/// POST /api/v1/market/periods/{year}/borrow: borrows from the next period's allocation, by the plan's rule.
pub async fn borrow(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(year): Path<i32>,
    Json(r): Json<SurrenderRequest>,
) -> ApiResult<Json<Value>> {
    let year = bounds::year("year", year)? as i64;
    let kg = positive("kg", r.kg.ok_or_else(|| field("kg", "state kg, the allowances to borrow"))?, MAX_KG)?;
    let org = compliance_org(&app, &caller, r.org).await?;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::borrow(&p, &actor, &r.request_id, year, &org, kg)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    request_id: String,
    org: String,
    fen: i64,
}

/// POST /api/v1/market/budget: grants a subsidiary internal budget (fen) to trade with.
pub async fn fund(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<FundRequest>,
) -> ApiResult<Json<Value>> {
    let fen = positive("fen", r.fen, MAX_FEN)?;
    let org = caller.require_org(&app, &r.org).await?.code;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::fund(&p, &actor, &r.request_id, &org, fen)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetRequest {
    request_id: String,
    org: String,
    kind: market::ledger::OffsetKind,
    vintage: i32,
    kg: i64,
    reference: String,
    /// 碳普惠 credits the offset is made of (kind internal_project): claimed as this offset.
    #[serde(default)]
    inclusive_credits: Vec<i64>,
}

/// POST /api/v1/market/offsets: enters offset credits into a subsidiary's account.
pub async fn offsets(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<OffsetRequest>,
) -> ApiResult<Json<Value>> {
    let vintage = vintage(r.vintage)?;
    let kg = positive("kg", r.kg, MAX_KG)?;
    let org = caller.require_org(&app, &r.org).await?.code;
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || {
        Ok(Json(platform::market::issue_offset(
            &p,
            &actor,
            &r.request_id,
            &org,
            r.kind,
            vintage,
            kg,
            &r.reference,
            &r.inclusive_credits,
        )?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    request_id: String,
    entry: u64,
}

/// POST /api/v1/market/corrections: reverses a journal entry.
pub async fn correct(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<CorrectionRequest>,
) -> ApiResult<Json<Value>> {
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::correct(&p, &actor, &r.request_id, r.entry)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRequest {
    request_id: String,
    config: Config,
}

/// POST /api/v1/market/config: trading windows, position limit, tick and lot of new vintages.
pub async fn configure(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<ConfigRequest>,
) -> ApiResult<Json<Value>> {
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::configure(&p, &actor, &r.request_id, r.config)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandRequest {
    request_id: String,
    low_fen: Option<i64>,
    high_fen: Option<i64>,
}

/// POST /api/v1/market/vintages/{vintage}/band: a vintage's daily price band (both bounds, or none to lift it).
pub async fn band(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(v): Path<i32>,
    Json(r): Json<BandRequest>,
) -> ApiResult<Json<Value>> {
    let v = vintage(v)?;
    let band = match (r.low_fen, r.high_fen) {
        (Some(l), Some(h)) => Some((positive("low_fen", l, MAX_PRICE_FEN)?, positive("high_fen", h, MAX_PRICE_FEN)?)),
        (None, None) => None,
        _ => return Err(field("high_fen", "state both low_fen and high_fen, or neither to lift the band")),
    };
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::set_band(&p, &actor, &r.request_id, v, band)?))).await
}

#[derive(Deserialize)]
pub struct JournalQuery {
    before: Option<u64>,
    limit: Option<i64>,
}

/// GET /api/v1/market/journal: the registry's journal, newest first (?before=SEQ&limit=); every
/// subsidiary's entries, so for the group's office and auditors only.
pub async fn journal(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<JournalQuery>,
) -> ApiResult<Json<Value>> {
    if !matches!(caller.role, Role::GroupAdmin | Role::Auditor) {
        return Err(ApiError::forbidden_role(caller.role.code(), "read the whole market journal"));
    }
    let limit = bounds::count("limit", q.limit, 200, 1..=bounds::MAX_LIMIT)? as usize;
    let p = app.platform.clone();
    app.blocking(move || Ok(Json(platform::market::journal(&p, q.before, limit)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    #[serde(default)]
    note: String,
}

/// POST /api/v1/snapshots/{id}/approve: approves (verifies) a snapshot, once.
pub async fn approve_snapshot(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(r): Json<ApproveRequest>,
) -> ApiResult<Json<Value>> {
    if r.note.chars().count() > 2000 {
        return Err(field("note", "the note is at most 2,000 characters"));
    }
    let p = app.platform.clone();
    let actor = caller.actor();
    app.blocking(move || Ok(Json(platform::market::approve_snapshot(&p, &actor, id, &r.note)?))).await
}

/// GET /api/v1/snapshots/approvals: every approval.
pub async fn approvals(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let rows = app.db(|s| s.snapshot_approvals()).await?;
    Ok(Json(serde_json::json!({"approvals": rows})))
}
