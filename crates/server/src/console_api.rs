//! What the web console needs beyond the platform's API: the group overview pre-aggregated per
//! snapshot, a facility's filed activity, the shipped and user factor library, long jobs (imports
//! and inventory runs) that run on the server so that a user can leave the page and come back, and
//! the console's own files at `/` with the single-page-app fallback.
//!
//! Everything here reads through the store and the accounting core like the rest of the server;
//! access goes through `access::guard` (route table) and `Caller::require_org`.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use platform::jobs::Aggregate;
use platform::snapshot;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// The overview of an org: its figures, its direct children ranked, the months and facility types
/// (once the snapshot's aggregates are ready), from the newest snapshot covering it. Everything is
/// read from stored results; nothing is computed per request.
pub async fn overview(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    let year = crate::bounds::opt_year("year", q.year)?.unwrap_or(0);
    let store = app.store.clone();
    let c3 = code.clone();
    let app2 = app.clone();
    let (org, kids, snap, kept) = app
        .blocking(move || {
            let org = store.org(&c3)?.ok_or_else(|| ApiError::not_found(format!("org {c3}")))?;
            let kids: Vec<store::reference::Org> =
                store.orgs_within(&org.path)?.into_iter().filter(|o| o.parent_code.as_deref() == Some(&c3)).collect();
            let snap = match snapshot::covering_snapshot(&store, &org.path, year)? {
                Some(s) => {
                    let path = store.org(&s.org_code)?.map(|o| o.path).unwrap_or_default();
                    Some((s, path))
                }
                None => None,
            };
            // The figures the snapshot keeps by month and facility type, unless they are in memory
            // already.
            let mut kept = None;
            if let Some((s, _)) = &snap {
                let in_memory = app2.console.aggregates.lock().expect("aggregates lock").contains_key(&s.id);
                if !in_memory {
                    kept = snapshot::kept_figures(&store, s)?;
                }
            }
            Ok((org, kids, snap, kept))
        })
        .await?;
    let Some((snap, snap_org_path)) = snap else {
        return Ok(Json(json!({"org": org, "snapshot": null})));
    };
    let rows: HashMap<String, &Value> = snap.result["rows"]
        .as_array()
        .map(|a| a.iter().map(|r| (r["key"].as_str().unwrap_or("").to_string(), r)).collect())
        .unwrap_or_default();
    let figures = rows.get(&code).map(|r| (*r).clone()).unwrap_or(Value::Null);
    let mut ranked: Vec<Value> = kids
        .iter()
        .filter_map(|k| {
            rows.get(&k.code).map(|r| json!({"code": k.code, "name": k.name, "totals": r["totals"], "memo": r["memo"]}))
        })
        .collect();
    ranked.sort_by(|a, b| {
        let t = |v: &Value| v["totals"]["total_market"].as_f64().unwrap_or(0.0);
        t(b).total_cmp(&t(a))
    });
    // The year before and intensities (platform::snapshot::comparisons).
    let (store, path, c4, year, current) =
        (app.store.clone(), org.path.clone(), code.clone(), snap.year, figures.clone());
    let comparisons = app.blocking(move || Ok(snapshot::comparisons(&store, &path, &c4, year, &current)?)).await?;
    let monthly = match snapshot::aggregates(&app.platform, &snap, &snap_org_path, &caller.user.username, kept) {
        Aggregate::Ready(v) => {
            let of = v.orgs.get(&code);
            json!({"status": "ready", "months": of.map(|o| &o.months), "facility_types": of.map(|o| &o.facility_types),
                   "own": of.map(|o| &o.own)})
        }
        Aggregate::Computing { job } => json!({"status": "computing", "job": job}),
        Aggregate::Failed(m) => json!({"status": "failed", "message": m}),
    };
    Ok(Json(json!({
        "org": org,
        "snapshot": {"id": snap.id, "org_code": snap.org_code, "year": snap.year, "version": snap.version,
                      "created_at": snap.created_at, "library_version": snap.library_version, "options": snap.options},
        "figures": figures,
        // The unit of every number of `figures` and `children` (by field name).
        "units": accounting::figure_units(),
        "children": ranked,
        "monthly": monthly,
        // The same org's figures a year before and their change, and intensities per site.
        "comparisons": comparisons,
        // Indicators against targets arrive with the monitoring issue (extension point); until then
        // the console shows what the snapshot itself holds (energy, electricity, green power share).
        "indicators": [],
    })))
}

/// A facility of an org's subtree (the guard checked the org) and its filed activity for a year
/// (newest approved version of each filing that can hold it: its org's, or an org's above it), one
/// line per record with the filing and line it came from.
pub async fn facility(
    State(app): State<Arc<App>>,
    Path((code, facility)): Path<(String, String)>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    let (f2, c2) = (facility.clone(), code.clone());
    let (fac, org, scope) = app
        .db(move |s| {
            Ok((s.facility(&f2)?, s.org(&s.facility(&f2)?.map(|f| f.org_code).unwrap_or_default())?, s.org(&c2)?))
        })
        .await?;
    let (Some(fac), Some(org), Some(scope)) = (fac, org, scope) else {
        return Err(ApiError::not_found(format!("facility {facility}")));
    };
    if !org.path.starts_with(&scope.path) {
        return Err(ApiError::not_found(format!("facility {facility} in the subtree of org {code}")));
    }
    let code = facility;
    let year = q.year.ok_or_else(|| ApiError::bad_request("give the year: ?year=YYYY"))?;
    crate::bounds::year("year", year)?;
    let store = app.store.clone();
    let path = org.path.clone();
    let code2 = code.clone();
    let (records, attributes) = app
        .blocking(move || {
            Ok((platform::filing::facility_records(&store, &path, &code2, year)?, store.facility_attributes(&code2)?))
        })
        .await?;
    Ok(Json(json!({"facility": fac, "org": org, "year": year, "records": records,
                   // Its attribute versions, oldest first (docs/indicators.md).
                   "attributes": attributes,
                   // Live power and PUE from telemetry arrive with the monitoring issue.
                   "telemetry": null})))
}

/// The factor library the platform computes with: shipped sets and the current user sets.
pub async fn factor_library(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    app.blocking(move || Ok(Json(snapshot::library_listing(&store)?))).await
}

/// Starts an inventory run (the same work as POST /api/v1/inventories) as a job.
pub async fn start_inventory_job(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<crate::inventory::RunRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::bounds::year("year", body.year)?;
    let org = caller.require_org(&app, &body.org_code).await?;
    let options = if body.options.is_null() { json!({}) } else { body.options };
    snapshot::parse_options(body.year, &options)?;
    let actor = caller.user.username.clone();
    let id = app.console.start(
        "inventory",
        (
            format!("inventory {} {}", org.code, body.year),
            json!({"org": org.code, "year": body.year, "options": options.clone()}),
        ),
        &actor,
        (&org.code, &org.path),
        format!("org/{}", org.code),
        1,
    );
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || {
        app2.console.stage(id, ("computing", "reading approved filings and computing"), 0);
        let out = snapshot::run_blocking(&app2.store, &actor, &org.code, body.year, options, app2.threads);
        if out.is_ok() {
            app2.metrics.snapshots_created.fetch_add(1, Ordering::Relaxed);
            app2.dashboards.invalidate();
        }
        app2.console.finish(id, out.map(|s| json!({"snapshot": s.id, "org_code": s.org_code, "year": s.year})));
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"job": app.console.job(id)}))))
}

/// Starts importing a CSV file into a filing (the same validation and recording as
/// POST /api/v1/filings/{id}/upload) as a job: the file is received first, then checked.
pub async fn start_import_job(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let file_name = headers.get("x-file-name").and_then(|v| v.to_str().ok()).unwrap_or("upload.csv").to_string();
    let (spool, sha, size) = crate::filing::spool_upload(&app, body).await?;
    let filing = app.db(move |s| s.filing(id)).await?;
    let actor = caller.user.username.clone();
    let job = app.console.start(
        "import",
        (
            format!("{file_name} → filing {id} ({} {})", filing.org_code, filing.period),
            json!({"file": file_name, "filing": id, "org": filing.org_code, "period": filing.period, "sha256": sha}),
        ),
        &actor,
        (&filing.org_code, &filing.org_path),
        format!("filing/{id}"),
        1,
    );
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || {
        app2.console.stage(job, ("importing", &format!("validating {size} bytes and recording rows")), 0);
        let upload = platform::filing::Received { path: spool.path(), size, sha: &sha, file_name: &file_name };
        let r = platform::filing::import_received(&app2.store, &actor, id, &upload);
        drop(spool);
        let out = r.map(|report| {
            if report.new {
                app2.metrics.rows_accepted.fetch_add(report.upload.accepted as u64, Ordering::Relaxed);
                app2.metrics.rows_rejected.fetch_add(report.upload.rejected as u64, Ordering::Relaxed);
            }
            json!({"filing_id": id, "upload": report.upload, "new": report.new, "accepted": report.upload.accepted,
                   "rejected": report.upload.rejected,
                   "skipped_blank": report.upload.rows_read - report.upload.accepted - report.upload.rejected, "rejected_rows": report.rejected.iter().take(1000).collect::<Vec<_>>(),
                   "rejected_rows_truncated": report.rejected.len() > 1000,
                   "quarantine": format!("/api/v1/filings/{id}/quarantine.csv")})
        });
        app2.console.finish(job, out);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"job": app.console.job(job)}))))
}

#[derive(Deserialize)]
pub struct JobsQuery {
    pub id: Option<i64>,
}

/// The caller's jobs, newest first, and the pre-aggregation jobs of snapshots that cover the
/// caller's org (they hold progress only, no figures): stage, progress and summary, no results;
/// `?id=` for one of them with its result. Finished jobs are forgotten after [`JOB_KEEP_SECONDS`]
/// or beyond [`JOB_KEEP_FINISHED`].
pub async fn jobs(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Json<Value>> {
    let list = app.console.list(&caller.user.username, q.id.is_some(), |j| {
        q.id.is_none_or(|id| j.id == id)
            && (j.owner == caller.user.username
                || (j.kind == "aggregate" && (caller.within(&j.org_path) || caller.org_path.starts_with(&j.org_path))))
    })?;
    if let (Some(id), true) = (q.id, list.is_empty()) {
        return Err(ApiError::not_found(format!("job {id}")));
    }
    Ok(Json(json!({"jobs": list})))
}

/// `/` and every console route: the embedded console, or a page saying how to build it. Unknown
/// `/api/` paths stay JSON errors.
pub async fn console_file(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") {
        return ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route: see /api/v1/openapi.json")
            .into_response();
    }
    match console::lookup(path) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, a.cache_control)], a.bytes)
            .into_response(),
        None if !console::is_built() && (path == "/" || !path.contains('.')) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], console::NOT_BUILT_PAGE).into_response()
        }
        None => {
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found").into_response()
        }
    }
}
