//! Disclosure reports (`/api/v1/reports/…`): a report is made by a job (progress in
//! `/api/v1/console/jobs`) from an approved snapshot, then downloaded; thin over
//! `platform::reports`.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use platform::reports;
use serde_json::{json, Value};
use std::sync::Arc;

/// The templates, languages and formats a report can be made in.
pub async fn templates() -> Json<Value> {
    Json(json!({
        "templates": reports::Template::ALL.iter().map(|t| t.code()).collect::<Vec<_>>(),
        "languages": ["zh", "en"],
        "formats": ["pdf", "xlsx", "csv"],
    }))
}

/// Starts making a report ({snapshot, template, lang, format}) as a job: checked first (unknown
/// template 404, not approved 409, outside the caller's subtree 403), then 202 with the job.
pub async fn start(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<reports::Request>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = caller.actor();
    let store = app.store.clone();
    let r2 = req.clone();
    let checked = app.blocking(move || Ok(reports::check(&store, &actor, &r2)?)).await?;
    let s = &checked.snapshot;
    let org = app.org(&s.org_code).await?.ok_or_else(|| ApiError::not_found(format!("org {}", s.org_code)))?;
    let id = app.console.start(
        "report",
        (
            format!("report {} of snapshot {} ({}, {})", req.template, s.id, req.lang, req.format),
            json!({"snapshot": s.id, "org": s.org_code, "year": s.year, "template": req.template, "lang": req.lang, "format": req.format}),
        ),
        &caller.user.username,
        (&org.code, &org.path),
        format!("snapshot/{}", s.id),
        reports::STEPS,
    );
    let app2 = app.clone();
    let (maker, org_path) = (caller.actor(), org.path.clone());
    tokio::task::spawn_blocking(move || {
        let progress = |code: &'static str, done: u32| {
            let stage = match code {
                "computing" => "computing the snapshot again from its recorded inputs",
                "collecting" => "reading restatements and the previous year",
                "building" => "building the report's tables",
                _ => "writing the file",
            };
            app2.console.stage(id, (code, stage), done);
        };
        // The font is read for a PDF only (CSV and XLSX need none).
        let font = if checked.format == reports::Format::Pdf { reports::font(None).map(Some) } else { Ok(None) };
        let out = font.and_then(|font| {
            let f = font.as_ref().map(|(data, index)| (data.as_slice(), *index));
            // The platform's records besides the snapshot, kept by the snapshot's first report.
            let data = reports::platform_data(&app2.platform, &maker, &checked.snapshot, checked.lang)?;
            reports::generate(&app2.store, &checked, Some(data), f, app2.threads, &progress)
        });
        // Stored (migration 12): the download survives a restart and any instance serves it.
        let out = out.and_then(|g| {
            let stored = reports::store_generated(&app2.store, &maker, &checked, &org_path, &g)?;
            let mut v = g.summary();
            v["report_id"] = json!(stored.id);
            v["sha256"] = json!(stored.sha256);
            v["download"] = json!(format!("/api/v1/reports/{}/file", stored.id));
            v["job_download"] = json!(format!("/api/v1/reports/jobs/{id}/file"));
            app2.reports.keep(id, g);
            Ok(v)
        });
        app2.console.finish(id, out);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"job": app.console.job(id)}))))
}

/// The file a finished report job made (the job's owner only), with its name and media type.
pub async fn file(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let job = app.console.job(id).filter(|j| j.kind == "report" && j.owner == caller.user.username);
    let Some(job) = job else { return Err(ApiError::not_found(format!("report job {id}"))) };
    if job.status != "done" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "report_not_ready",
            format!("report job {id} is {}", job.status),
        ));
    }
    let g = app
        .reports
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("report of job {id} (no longer kept: make it again)")))?;
    Ok((
        [
            (header::CONTENT_TYPE, g.media_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", g.file_name)),
            (header::HeaderName::from_static("x-report-hash"), g.hash.clone()),
        ],
        g.bytes.clone(),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// The stored reports of the orgs within the caller's subtree, newest first.
pub async fn stored(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor();
    let store = app.store.clone();
    Ok(Json(app.blocking(move || Ok(reports::stored_list(&store, &actor, q.limit.unwrap_or(100))?)).await?))
}

/// A stored report's file, from the database (any instance, after a restart).
pub async fn stored_file(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let actor = caller.actor();
    let store = app.store.clone();
    let (meta, bytes) = app.blocking(move || Ok(reports::stored_file(&store, &actor, id)?)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, meta.media_type.clone()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", meta.file_name)),
            (header::HeaderName::from_static("x-report-hash"), meta.report_hash.clone()),
            (header::HeaderName::from_static("x-content-sha256"), meta.sha256.clone()),
        ],
        bytes,
    )
        .into_response())
}
