//! Monitoring and indicators over the API: telemetry batches in, live PUE and power out (JSON and
//! an SSE stream), roll-ups, alerts, indicators, targets and the scoreboard. The work is the
//! platform's (`platform::monitoring`, over the `monitor`, `telemetry`, `indicators` and `alerts`
//! crates); here are the HTTP faces. Until meters are registered these routes answer
//! `monitoring_off`.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use indicators::Override;
use monitor::{LiveEvent, Monitor};
use platform::monitoring::{self as service, mon};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use store::reference::Org;

pub use platform::monitoring::{INDICATOR_DATA_ACTION, METERS_ACTION, TARGET_ACTION};

/// GET /api/v1/meters: the registered meters of facilities within the caller's subtree.
pub async fn list_meters(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let path = caller.org_path.clone();
    let store = app.store.clone();
    let meters = app.blocking(move || Ok(service::meters_within(&store, &path)?)).await?;
    Ok(Json(json!({"meters": meters, "monitoring": app.monitoring.read().unwrap().is_some()})))
}

/// POST /api/v1/meters: meters.csv rows added to the registry or replacing the meter of the same
/// code (`platform::monitoring::add_meters`: checked, audited `reference.meters`, monitoring
/// follows without a restart).
pub async fn add_meters(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> ApiResult<Json<Value>> {
    let platform = app.platform.clone();
    app.blocking(move || Ok(Json(service::add_meters(&platform, &caller.actor(), &body)?))).await
}

/// POST /api/v1/telemetry/readings: a batch as JSON or CSV lines (by Content-Type; `text/csv` or
/// `text/plain` = CSV). Readings of meters outside the caller's subtree are rejected with that reason.
pub async fn ingest(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: String,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let ctype = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (raw, parse_errors) = if ctype.starts_with("text/") {
        telemetry::parse_csv_lines(&body)
    } else {
        let (r, e) = telemetry::parse_json(&body);
        if r.is_empty() && e.iter().any(|e| e.field == "body" || e.field == "readings") {
            return Err(ApiError::bad_request(e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")));
        }
        (r, e)
    };
    let source = format!("http:{}", caller.user.username);
    let report = app.blocking(move || Ok(m.ingest_batch(&caller.actor(), &source, raw, parse_errors)?)).await?;
    Ok(Json(json!({"stored": report.stored(), "report": report})))
}

/// GET /api/v1/orgs/{code}/realtime: live power and PUE of the org and of each metered facility below it.
pub async fn realtime(State(app): State<Arc<App>>, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    app.blocking(move || Ok(Json(m.realtime(&code)?))).await
}

/// GET /api/v1/alerts?state=open|acknowledged|resolved
pub async fn list_alerts(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let state = match q.state.as_deref() {
        None => None,
        Some("open") => Some(alerts::State::Open),
        Some("acknowledged") => Some(alerts::State::Acknowledged),
        Some("resolved") => Some(alerts::State::Resolved),
        Some(s) => return Err(ApiError::bad_request(format!("state {s:?}: open, acknowledged or resolved"))),
    };
    app.blocking(move || Ok(Json(m.alerts_within(&caller.actor(), state)?))).await
}

/// POST /api/v1/alerts/acknowledge: acknowledge an open alert (audited `alerts.acknowledge`).
pub async fn acknowledge(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(b): Json<AckBody>,
) -> ApiResult<Json<Value>> {
    let platform = app.platform.clone();
    app.blocking(move || {
        Ok(Json(service::alert_action(&platform, &caller.actor(), b.id, Monitor::acknowledge, "alerts.acknowledge")?))
    })
    .await
}

/// POST /api/v1/alerts/resolve: resolve an open or acknowledged alert by hand (audited
/// `alerts.resolve`).
pub async fn resolve(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(b): Json<AckBody>,
) -> ApiResult<Json<Value>> {
    let platform = app.platform.clone();
    app.blocking(move || {
        Ok(Json(service::alert_action(&platform, &caller.actor(), b.id, Monitor::resolve, "alerts.resolve")?))
    })
    .await
}

/// GET /api/v1/orgs/{code}/indicators?year=
pub async fn org_indicators(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    app.blocking(move || Ok(Json(m.indicators_of(&code, q.year)?))).await
}

/// GET /api/v1/orgs/{code}/targets?year=: the org's resolved targets and progress.
pub async fn org_targets(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    app.blocking(move || Ok(Json(m.targets_of(&code, q.year)?))).await
}

/// PUT /api/v1/orgs/{code}/targets {"target", "value"?, "base_year"?, "year"?, "weight"?, "reason"}:
/// only by a parent org (see [`may_set_targets`]); years bounded (400 `out_of_range`), the target it
/// makes checked by `indicators` (422 `invalid_target`, every problem); the targets document and
/// the audit entry (`indicators.target`, old and new values, reason) change together or not at all.
pub async fn edit_target(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Extension(org): Extension<Org>,
    Path(code): Path<String>,
    Json(b): Json<TargetEdit>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    service::org_id(&m, &code)?;
    if !may_set_targets(&caller, &org) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the targets of org {code} are set by a user of an org above it (the group's own by a group admin), not from within {code}"
            ),
        ));
    }
    crate::bounds::opt_year("base_year", b.base_year)?;
    crate::bounds::opt_year("year", b.year)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::bad_request("a target change needs a reason"));
    }
    let o = Override {
        org: code.clone(),
        target: b.target,
        value: b.value,
        base_year: b.base_year,
        year: b.year,
        weight: b.weight,
        reason: format!("{} ({})", b.reason.trim(), caller.user.username),
    };
    let (store, o2) = (app.store.clone(), o.clone());
    let seq = app.blocking(move || Ok(service::edit_target(&store, &m, &caller.actor(), &o2)?)).await?;
    Ok(Json(json!({"override": o, "audit_seq": seq})))
}

/// GET /api/v1/orgs/{code}/scoreboard?year=: its children ranked (考核).
pub async fn scoreboard(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    crate::bounds::year("year", q.year)?;
    let m = mon(&app)?;
    app.blocking(move || Ok(Json(m.scoreboard(&code, q.year)?))).await
}

/// POST /api/v1/indicator-data: indicator-data.csv rows, all valid and within the caller's subtree
/// or nothing is added; idempotent; each batch that adds anything audited `indicators.data`
/// (`platform::monitoring::add_indicator_data`).
pub async fn add_indicator_data(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    let store = app.store.clone();
    app.blocking(move || Ok(Json(service::add_indicator_data(&store, &m, &caller.actor(), &body)?))).await
}

/// GET /api/v1/telemetry/stream: live events (SSE) within the caller's subtree.
pub async fn stream(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let m = mon(&app)?;
    // In a cluster: the events every instance relays (each published once, by the instance that
    // acts for it: `platform::stream`).
    let rx = match platform::stream::current() {
        Some(s) => {
            let rx = s.relayed.subscribe();
            s.want_live();
            rx
        }
        None => m.monitor.subscribe(),
    };
    let s = futures_util::stream::unfold((rx, m, caller), |(mut rx, m, caller)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if m.event_within(&caller.actor(), &e) => {
                    let kind = match &e {
                        LiveEvent::Batch { .. } => "batch",
                        LiveEvent::Facility { .. } => "facility",
                        LiveEvent::Org { .. } => "org",
                        LiveEvent::Alert { .. } => "alert",
                    };
                    let ev = Event::default().event(kind).json_data(&e).unwrap_or_default();
                    return Some((Ok(ev), (rx, m, caller)));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), (rx, m, caller)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
pub struct RollupQuery {
    facility: String,
    role: String,
    #[serde(default = "hour")]
    period: String,
    from: String,
    to: String,
}

fn hour() -> String {
    "hour".into()
}

/// GET /api/v1/telemetry/rollup?facility=&role=&period=15min|hour|day|month&from=&to=
pub async fn rollup(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RollupQuery>,
) -> ApiResult<Json<Value>> {
    let m = mon(&app)?;
    if !m.facility_within(&caller.actor(), &q.facility) {
        return Err(ApiError::out_of_scope(&format!("facility {}", q.facility)));
    }
    let role = telemetry::Role::parse(&q.role)
        .ok_or_else(|| ApiError::bad_request(format!("role: one of {}", telemetry::Role::codes())))?;
    if role.is_gauge() {
        return Err(ApiError::bad_request(format!(
            "role: {} is a state value (gauge) and has no energy roll-up; see the site state route",
            role.code()
        )));
    }
    let period = telemetry::Period::parse(&q.period)
        .ok_or_else(|| ApiError::bad_request("period: 15min, hour, day or month"))?;
    let from = telemetry::time::parse_timestamp(&q.from).map_err(|e| ApiError::bad_request(format!("from: {e}")))?;
    let to = telemetry::time::parse_timestamp(&q.to).map_err(|e| ApiError::bad_request(format!("to: {e}")))?;
    let from = crate::bounds::timestamp("from", from, &q.from)?;
    let to = crate::bounds::timestamp("to", to, &q.to)?;
    if from > to {
        return Err(ApiError::bad_request(format!("from {} is after to {}", q.from, q.to)));
    }
    let (from, to) = (period.start(from), to);
    let facility = q.facility.clone();
    let rows = app
        .blocking(move || Ok(m.rollup(&facility, role, period, from, to)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("facility {} has no {} meter", q.facility, role.code())))?;
    Ok(Json(json!({"facility": q.facility, "role": role, "period": period.code(), "rows": rows})))
}

#[derive(Deserialize)]
pub struct AlertQuery {
    state: Option<String>,
}

#[derive(Deserialize)]
pub struct AckBody {
    id: u64,
}

/// GET /api/v1/indicators: the registry.
pub async fn list_indicators() -> Json<Value> {
    Json(json!({
        "indicators": indicators::INDICATORS,
        "components": indicators::Component::ALL.iter().map(|c| c.code()).collect::<Vec<_>>(),
        // Where the platform takes each component from (issue 15): only `manual` ones are typed.
        "feeds": indicators::Component::ALL.iter().map(|c| (c.code(), c.feed())).collect::<std::collections::BTreeMap<_, _>>(),
        "units": indicators::Component::ALL.iter().map(|c| (c.code(), c.unit())).collect::<std::collections::BTreeMap<_, _>>(),
        "business_metrics": indicators::business::METRICS,
        "facility_attributes": indicators::attributes::ATTRIBUTES,
    }))
}

#[derive(Deserialize)]
pub struct YearQuery {
    year: i32,
}

#[derive(Deserialize)]
pub struct TargetEdit {
    target: String,
    value: Option<f64>,
    base_year: Option<i32>,
    year: Option<i32>,
    weight: Option<f64>,
    #[serde(default)]
    reason: String,
}

/// Whether `caller` may set the targets of `org`: a user of an org above it (a group admin for
/// the provinces, a province for its cities), with the Analyze permission (the route's); the
/// group's own targets only a group admin. Nobody sets their own org's targets: a target is what
/// the parent holds its child to.
pub fn may_set_targets(caller: &Caller, org: &Org) -> bool {
    let below = org.path != caller.org_path && caller.within(&org.path);
    let root_by_group_admin =
        org.parent_code.is_none() && caller.role == crate::access::Role::GroupAdmin && caller.within(&org.path);
    below || root_by_group_admin
}
