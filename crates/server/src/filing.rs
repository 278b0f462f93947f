//! Data filing: monthly templates, uploads validated row by row with `ingest` (accepted rows go
//! into the filing, rejected ones into quarantine with every reason), the workflow and restatements.
//! An upload is streamed to a spool file while its SHA-256 is computed, so a file of any size is
//! never held in memory; validation keeps ~40 bytes per row (ingest's columnar table).

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use platform::filing::TemplateLang;
use serde::Deserialize;
use sha2::Digest;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use store::filings::{Filing, RejectedRow};
use tokio::io::AsyncWriteExt;

#[derive(Deserialize)]
pub struct ListQuery {
    pub period: Option<String>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = caller.org_path.clone();
    let filings = app.db(move |s| s.filings_within(&path, q.period.as_deref())).await?;
    Ok(Json(serde_json::json!({"filings": filings})))
}

#[derive(Deserialize)]
pub struct NewFiling {
    pub org_code: String,
    /// `YYYY-MM` for activity; `YYYY` for business data.
    pub period: String,
    /// `activity` (the default) or `business`.
    #[serde(default)]
    pub kind: Option<String>,
}

pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewFiling>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    caller.require_org(&app, &body.org_code).await?;
    let actor = caller.user.username.clone();
    let f = match body.kind.as_deref() {
        None | Some(store::filings::ACTIVITY) => {
            app.db(move |s| s.create_filing(&actor, &body.org_code, &body.period)).await?
        }
        Some(store::filings::BUSINESS) => {
            let year =
                body.period.trim().parse::<i32>().ok().filter(|_| body.period.trim().len() == 4).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "period {:?}: a business-data filing is for a year, YYYY",
                        body.period
                    ))
                })?;
            app.db(move |s| s.create_business_filing(&actor, &body.org_code, year)).await?
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!("kind {other:?}: expected activity or business")));
        }
    };
    Ok((StatusCode::CREATED, Json(serde_json::json!({"filing": f}))))
}

pub async fn get(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let (f, rows, quarantined, uploads) =
        app.db(move |s| Ok((s.filing(id)?, s.activity_count(id)?, s.quarantine(id)?.len(), s.uploads(id)?))).await?;
    Ok(Json(serde_json::json!({"filing": f, "rows": rows, "quarantined": quarantined, "uploads": uploads})))
}

/// The language of a template download (`?lang=zh|en`).
#[derive(Deserialize)]
pub struct TemplateQuery {
    lang: Option<String>,
}

/// A filing's template lines in the asked language (`platform::filing::template_rows`).
async fn template_of(
    app: &Arc<App>,
    id: i64,
    lang: Option<&str>,
) -> ApiResult<(Filing, Vec<Vec<String>>, TemplateLang)> {
    let lang = TemplateLang::parse(lang)?;
    let f = app.db(move |s| s.filing(id)).await?;
    let path = f.org_path.clone();
    let facilities = app.db(move |s| s.facilities_within(&path)).await?;
    let facilities: Vec<(String, String)> = facilities.into_iter().map(|f| (f.code, f.name)).collect();
    let rows = platform::filing::template_rows(&facilities, &f.period, lang);
    Ok((f, rows, lang))
}

/// The CSV template of a filing: the columns of activity.csv (docs/formats.md) plus the facility's
/// name, one line per facility of the filing's org subtree with the period filled in; the header in
/// Chinese or English by `?lang=` (an upload reads either).
pub async fn template_csv(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    Query(q): Query<TemplateQuery>,
) -> ApiResult<Response> {
    let f = app.db(move |s| s.filing(id)).await?;
    if f.kind == store::filings::BUSINESS {
        let (store, f2) = (app.store.clone(), f.clone());
        let rows = app.blocking(move || Ok(platform::business::template_rows(&store, &f2)?)).await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &rows {
            w.write_record(r.iter().map(|c| spreadsheet_safe(c))).map_err(|e| ApiError::internal(e.to_string()))?;
        }
        let bytes = w.into_inner().map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(csv_response(bytes, &format!("business-{}-{}-{}.csv", f.org_code, f.period, f.id)));
    }
    let (f, rows, _) = template_of(&app, id, q.lang.as_deref()).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ApiError::internal(e.to_string());
    for row in &rows {
        w.write_record(row.iter().map(|c| spreadsheet_safe(c))).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(csv_response(bytes, &format!("filing-{}-{}-{}.csv", f.org_code, f.period, f.id)))
}

/// The template as an XLSX workbook (same columns and lines as `template.csv`), with its
/// instructions sheet in the same language.
pub async fn template_xlsx(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    Query(q): Query<TemplateQuery>,
) -> ApiResult<Response> {
    let f = app.db(move |s| s.filing(id)).await?;
    if f.kind == store::filings::BUSINESS {
        let (store, f2) = (app.store.clone(), f.clone());
        let bytes = app
            .blocking(move || {
                let rows = platform::business::template_rows(&store, &f2)?;
                Ok(platform::business::template_workbook(&rows)?)
            })
            .await?;
        return Ok((
            [
                (header::CONTENT_TYPE, platform::xlsx::MEDIA_TYPE.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"business-{}-{}-{}.xlsx\"", f.org_code, f.period, f.id),
                ),
            ],
            bytes,
        )
            .into_response());
    }
    let (f, rows, lang) = template_of(&app, id, q.lang.as_deref()).await?;
    let bytes = app.blocking(move || Ok(platform::filing::template_workbook(&rows, lang)?)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, platform::xlsx::MEDIA_TYPE.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"filing-{}-{}-{}.xlsx\"", f.org_code, f.period, f.id),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Columns of the template and of the quarantine download (extra columns are ignored on upload).
pub use platform::filing::TEMPLATE_COLUMNS;

/// A CSV download (the template, the quarantine): UTF-8 with a byte order mark, which is how Excel
/// knows the file is UTF-8 (without it, facility names in Chinese open garbled). Uploads may keep
/// it: the header's BOM is read as no character (`ingest::line::header_names`).
fn csv_response(bytes: Vec<u8>, name: &str) -> Response {
    let mut body = Vec::with_capacity(bytes.len() + 3);
    body.extend_from_slice("\u{feff}".as_bytes());
    body.extend(bytes);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// A cell of a CSV download as a spreadsheet will not run it: text starting with `=`, `+`, `-`,
/// `@`, a tab or a CR is a formula to Excel and LibreOffice (`=HYPERLINK(...)` in a rejected row
/// would be live in the filer's sheet), so it gets a leading `'`. Numbers stay as they are.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, [u8]> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}").into_bytes())
    } else {
        std::borrow::Cow::Borrowed(cell.as_bytes())
    }
}

/// Rejected rows as CSV: the activity columns (fix them and upload the file again), the line in
/// the uploaded file, and every reason.
pub async fn quarantine_csv(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Response> {
    let rows = app.db(move |s| s.quarantine(id)).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ApiError::internal(e.to_string());
    w.write_record([
        "facility_code",
        "period",
        "carrier",
        "quantity",
        "unit",
        "source_document",
        "evidence_ref",
        "line",
        "reasons",
    ])
    .map_err(io)?;
    for r in &rows {
        let a = &r.row;
        w.write_record(
            [
                a.facility_code.as_str(),
                &a.period,
                &a.carrier,
                &a.quantity,
                &a.unit,
                &a.source_document,
                &a.evidence_ref,
                &a.line.to_string(),
                &r.reasons,
            ]
            .map(spreadsheet_safe),
        )
        .map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(csv_response(bytes, &format!("filing-{id}-quarantine.csv")))
}

/// Rows of a draft that later uploads replaced (same key), each with the replacing upload.
pub async fn replaced(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let rows = app.db(move |s| s.replaced_rows(id)).await?;
    let rows: Vec<serde_json::Value> =
        rows.into_iter().map(|(by, row)| serde_json::json!({"replaced_by_upload": by, "row": row})).collect();
    Ok(Json(serde_json::json!({"replaced": rows})))
}

#[derive(Deserialize)]
pub struct Page {
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn rows(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    Query(p): Query<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    let offset = crate::bounds::count("offset", p.offset, 0, 0..=i64::MAX)?;
    let limit = crate::bounds::count("limit", p.limit, 1000, 1..=crate::bounds::MAX_LIMIT)?;
    let rows = app.db(move |s| s.activity_rows(id, offset, limit)).await?;
    Ok(Json(serde_json::json!({"offset": offset, "rows": rows})))
}

/// Streams an upload into a spool file (never held in memory whole), hashing it on the way: the
/// hash is what recognises the same file uploaded twice. Refuses an empty body. Returns the spool
/// file, the SHA-256 in hex and the size in bytes.
pub(crate) async fn spool_upload(app: &App, body: Body) -> ApiResult<(tempfile::NamedTempFile, String, u64)> {
    tokio::fs::create_dir_all(&app.spool_dir).await.map_err(|e| ApiError::internal(format!("spool dir: {e}")))?;
    let spool =
        tempfile::NamedTempFile::new_in(&app.spool_dir).map_err(|e| ApiError::internal(format!("spool file: {e}")))?;
    let mut file = tokio::fs::File::create(spool.path()).await.map_err(|e| ApiError::internal(e.to_string()))?;
    let mut hasher = sha2::Sha256::new();
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    // A CSV line longer than ingest takes refuses the file here, before it is parsed: the parser
    // would otherwise hold the whole line in memory. An XLSX (a zip) is binary and is checked
    // by its own limits.
    let mut head = Vec::with_capacity(4);
    let (mut line_len, mut line_no) = (0usize, 1u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(crate::error::body_read_error)?;
        if head.len() < 4 {
            head.extend(chunk.iter().take(4 - head.len()));
        }
        if !platform::xlsx::is_xlsx(&head) {
            for piece in chunk.split_inclusive(|&b| b == b'\n') {
                line_len += piece.len();
                if line_len > ingest::line::MAX_LINE_BYTES + 2 {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "line_too_long",
                        format!(
                            "line {line_no} is longer than {} bytes: not an activity CSV (nothing was recorded)",
                            ingest::line::MAX_LINE_BYTES
                        ),
                    ));
                }
                if piece.last() == Some(&b'\n') {
                    line_len = 0;
                    line_no += 1;
                }
            }
        }
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    file.flush().await.map_err(|e| ApiError::internal(e.to_string()))?;
    drop(file);
    if size == 0 {
        return Err(ApiError::bad_request("the upload is empty: send the CSV file as the request body"));
    }
    let sha: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((spool, sha, size))
}

/// Accepts a CSV body (any size, streamed). Answers with what was accepted and, for every
/// rejected row, the reasons. Sending the same file again returns the first answer unchanged.
pub async fn upload(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    let file_name = headers.get("x-file-name").and_then(|v| v.to_str().ok()).unwrap_or("upload.csv").to_string();
    let (spool, sha, size) = spool_upload(&app, body).await?;
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let report = app
        .blocking(move || {
            let upload = platform::filing::Received { path: spool.path(), size, sha: &sha, file_name: &file_name };
            Ok(platform::filing::import_received(&store, &actor, id, &upload)?)
        })
        .await?;
    if report.new {
        app.metrics.rows_accepted.fetch_add(report.upload.accepted as u64, Ordering::Relaxed);
        app.metrics.rows_rejected.fetch_add(report.upload.rejected as u64, Ordering::Relaxed);
    }
    let shown: Vec<&RejectedRow> = report.rejected.iter().take(platform::filing::MAX_SHOWN).collect();
    Ok(Json(serde_json::json!({
        "upload": report.upload,
        "new": report.new,
        "accepted": report.upload.accepted,
        "rejected": report.upload.rejected,
        // Template lines left unfilled: read, not stored (docs/platform.md).
        "skipped_blank": report.upload.rows_read - report.upload.accepted - report.upload.rejected,
        "rejected_rows": shown,
        "rejected_rows_truncated": report.rejected.len() > platform::filing::MAX_SHOWN,
        "quarantine": format!("/api/v1/filings/{id}/quarantine.csv"),
    })))
}

#[derive(Deserialize, Default)]
pub struct Comment {
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub reason: String,
}

async fn transition(
    app: Arc<App>,
    caller: Caller,
    id: i64,
    action: &'static str,
    comment: String,
) -> ApiResult<Json<serde_json::Value>> {
    let actor = caller.user.username.clone();
    let f = app.db(move |s| s.transition(&actor, id, action, &comment)).await?;
    Ok(Json(serde_json::json!({"filing": f})))
}

pub async fn submit(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    transition(app, caller, id, "submit", String::new()).await
}

/// Approves a submitted filing once its stored rows pass validation again: the rows that reach
/// an inventory are the rows checked now, whatever stored them (an older release, a restore).
pub async fn approve(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    let store = app.store.clone();
    app.blocking(move || Ok(platform::filing::revalidate_stored(&store, id)?)).await?;
    transition(app, caller, id, "approve", String::new()).await
}

pub async fn return_filing(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(body): Json<Comment>,
) -> ApiResult<Json<serde_json::Value>> {
    transition(app, caller, id, "return", body.comment).await
}

pub async fn restate(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(body): Json<Comment>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let actor = caller.user.username.clone();
    let f = app.db(move |s| s.restate(&actor, id, &body.reason)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"filing": f}))))
}

#[derive(Deserialize)]
pub struct StatusQuery {
    year: i32,
}

/// The filing cockpit of an org's subtree for a year (`platform::cockpit::grid`).
pub async fn status_grid(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    crate::bounds::year("year", q.year)?;
    let store = app.store.clone();
    let grid = app.blocking(move || Ok(platform::cockpit::grid(&store, &code, q.year)?)).await?;
    Ok(Json(serde_json::to_value(grid).map_err(|e| ApiError::internal(e.to_string()))?))
}

/// Sends a filing reminder for an org's subtree (`platform::cockpit::remind`) to the webhook
/// targets; the months due are those of the year that have ended (China Standard Time).
pub async fn remind(
    State(app): State<Arc<App>>,
    Path(code): Path<String>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    crate::bounds::year("year", q.year)?;
    let urls =
        platform::monitoring::webhook_urls().map_err(|_| ApiError::internal("DUALCARBON_WEBHOOKS is not valid"))?;
    let store = app.store.clone();
    let due = platform::cockpit::due_months(q.year, platform::monitoring::now_ms());
    let out = app.blocking(move || Ok(platform::cockpit::remind(&store, &code, q.year, due, &urls)?)).await?;
    Ok(Json(out))
}
