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
use rustc_hash::FxHashMap;
use serde::Deserialize;
use sha2::Digest;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use store::filings::{ActivityRow, Filing, Outcome, RejectedRow, Upload};
use store::Store;
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
    pub period: String,
}

pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewFiling>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    caller.require_org(&app, &body.org_code).await?;
    let actor = caller.user.username.clone();
    let f = app.db(move |s| s.create_filing(&actor, &body.org_code, &body.period)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"filing": f}))))
}

pub async fn get(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let (f, rows, quarantined, uploads) =
        app.db(move |s| Ok((s.filing(id)?, s.activity_count(id)?, s.quarantine(id)?.len(), s.uploads(id)?))).await?;
    Ok(Json(serde_json::json!({"filing": f, "rows": rows, "quarantined": quarantined, "uploads": uploads})))
}

/// The CSV template of a filing: the columns of activity.csv (docs/formats.md) plus the facility's
/// name, one line per facility of the filing's org subtree with the period filled in.
pub async fn template_csv(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Response> {
    let f = app.db(move |s| s.filing(id)).await?;
    let path = f.org_path.clone();
    let facilities = app.db(move |s| s.facilities_within(&path)).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ApiError::internal(e.to_string());
    w.write_record(TEMPLATE_COLUMNS).map_err(io)?;
    for fac in &facilities {
        w.write_record(
            [fac.code.as_str(), &f.period, "electricity", "", "kWh", "", "", &fac.name].map(spreadsheet_safe),
        )
        .map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(csv_response(bytes, &format!("filing-{}-{}-{}.csv", f.org_code, f.period, f.id)))
}

/// The template as an XLSX workbook (same columns and lines as `template.csv`).
pub async fn template_xlsx(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Response> {
    let f = app.db(move |s| s.filing(id)).await?;
    let path = f.org_path.clone();
    let facilities = app.db(move |s| s.facilities_within(&path)).await?;
    let mut rows = vec![TEMPLATE_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
    for fac in &facilities {
        rows.push(
            [fac.code.as_str(), &f.period, "electricity", "", "kWh", "", "", &fac.name]
                .iter()
                .map(|c| c.to_string())
                .collect(),
        );
    }
    let bytes = app
        .blocking(move || crate::xlsx::workbook("activity", &rows).map_err(|e| ApiError::internal(e.to_string())))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, crate::openapi::XLSX_MEDIA.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"filing-{}-{}-{}.xlsx\"", f.org_code, f.period, f.id),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// An XLSX upload is read whole (a zip needs random access), so it is limited; CSV is streamed.
pub const MAX_XLSX_BYTES: u64 = 200 << 20;

/// Columns of the template and of the quarantine download (extra columns are ignored on upload).
pub const TEMPLATE_COLUMNS: [&str; 8] =
    ["facility_code", "period", "carrier", "quantity", "unit", "source_document", "evidence_ref", "facility_name"];

fn csv_response(bytes: Vec<u8>, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
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
        let chunk = chunk.map_err(crate::transport::body_read_error)?;
        if head.len() < 4 {
            head.extend(chunk.iter().take(4 - head.len()));
        }
        if !crate::xlsx::is_xlsx(&head) {
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
    let threads = app.threads;
    let report = app
        .blocking(move || {
            let mut head = [0u8; 4];
            let xlsx = std::fs::File::open(spool.path())
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok()
                && crate::xlsx::is_xlsx(&head);
            if !xlsx {
                return import_file(&store, &actor, id, spool.path(), &sha, &file_name, threads);
            }
            if size > MAX_XLSX_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("XLSX uploads are limited to {} MB; send large filings as CSV", MAX_XLSX_BYTES >> 20),
                ));
            }
            let bytes = std::fs::read(spool.path()).map_err(|e| ApiError::internal(e.to_string()))?;
            let csv = tempfile::NamedTempFile::new_in(spool.path().parent().unwrap_or(std::path::Path::new(".")))
                .map_err(|e| ApiError::internal(e.to_string()))?;
            crate::xlsx::first_sheet_to_csv(bytes, csv.path())
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", e))?;
            import_file(&store, &actor, id, csv.path(), &sha, &file_name, threads)
        })
        .await?;
    if report.new {
        app.metrics.rows_accepted.fetch_add(report.upload.accepted as u64, Ordering::Relaxed);
        app.metrics.rows_rejected.fetch_add(report.upload.rejected as u64, Ordering::Relaxed);
    }
    let shown: Vec<&RejectedRow> = report.rejected.iter().take(MAX_SHOWN).collect();
    Ok(Json(serde_json::json!({
        "upload": report.upload,
        "new": report.new,
        "accepted": report.upload.accepted,
        "rejected": report.upload.rejected,
        "rejected_rows": shown,
        "rejected_rows_truncated": report.rejected.len() > MAX_SHOWN,
        "quarantine": format!("/api/v1/filings/{id}/quarantine.csv"),
    })))
}

/// Rejected rows listed in an upload's answer; all of them are in the quarantine download.
const MAX_SHOWN: usize = 10_000;

pub struct ImportReport {
    pub upload: Upload,
    pub new: bool,
    pub rejected: Vec<RejectedRow>,
}

/// Reads `path` once: each row is checked with `ingest` against the filing (its org subtree's
/// facilities, its month) as it is read and recorded with its verdict, accepted rows into the
/// filing and rejected ones into quarantine, in one transaction. A header problem (a required
/// column missing) rejects the whole file with nothing recorded, and so does a file with more
/// than [`MAX_REJECTED_ROWS`] rejected rows.
pub fn import_file(
    store: &Store,
    actor: &str,
    filing_id: i64,
    path: &std::path::Path,
    sha: &str,
    file_name: &str,
    _threads: usize,
) -> ApiResult<ImportReport> {
    let filing = store.filing(filing_id)?;
    if let Some(u) = store.find_upload(filing_id, sha)? {
        let rejected = store.quarantine(filing_id)?.into_iter().filter(|_| u.rejected > 0).collect();
        return Ok(ImportReport { upload: u, new: false, rejected });
    }
    if filing.status != "draft" && filing.status != "returned" {
        return Err(store::StoreError::Conflict(format!(
            "filing {filing_id} is {}; only a draft or returned filing takes uploads (restate an approved one)",
            filing.status
        ))
        .into());
    }
    let started = std::time::Instant::now();
    let file = std::fs::File::open(path).map_err(|e| ApiError::internal(format!("reopening the upload: {e}")))?;
    let mut reader =
        match ingest::line::ActivityRowReader::new(std::io::BufReader::with_capacity(1 << 20, file), UPLOAD) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(invalid_file(vec![e])),
            Err(e) => return Err(invalid_file(vec![read_error(e)])),
        };
    let rules = Rules::of(store, &filing)?;
    let mut judge = rules.judge();
    let mut rejected = Vec::new();
    let mut refusal: Option<ApiError> = None;
    let mut outcomes = std::iter::from_fn(|| {
        if refusal.is_some() {
            return None;
        }
        let raw = match reader.next_row() {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                refusal = judge.refusal();
                return refusal.as_ref().map(|e| Err(e.message.clone()));
            }
            Err(e) => {
                refusal = Some(invalid_file(vec![read_error(e)]));
                return refusal.as_ref().map(|e| Err(e.message.clone()));
            }
        };
        let verdict = judge.rows.push_raw(judge.source, &raw);
        let row = stored_row(raw.fields, raw.line);
        let outcome = match judge.judge(raw.line, verdict) {
            Ok(()) => Outcome::Accepted(row),
            Err(reasons) => {
                let r = RejectedRow { row, reasons: reasons.join("; ") };
                if rejected.len() < MAX_SHOWN {
                    rejected.push(r.clone());
                }
                Outcome::Rejected(r)
            }
        };
        if judge.too_many() {
            // Nothing is recorded; the rest is read to say how many rows are rejected.
            loop {
                match reader.next_row() {
                    Ok(Some(raw)) => {
                        let verdict = judge.rows.push_raw(judge.source, &raw);
                        let _ = judge.judge(raw.line, verdict);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        refusal = Some(invalid_file(vec![read_error(e)]));
                        return refusal.as_ref().map(|e| Err(e.message.clone()));
                    }
                }
            }
            refusal = judge.refusal();
            return refusal.as_ref().map(|e| Err(e.message.clone()));
        }
        Some(Ok(outcome))
    });
    let recorded = store.record_upload(actor, filing_id, sha, file_name, &mut outcomes);
    drop(outcomes);
    if let Some(e) = refusal {
        return Err(e);
    }
    let (upload, new) = recorded?;
    tracing::info!(
        filing = filing_id,
        accepted = upload.accepted,
        rejected = upload.rejected,
        seconds = started.elapsed().as_secs_f64(),
        "upload read, checked and recorded"
    );
    Ok(ImportReport { upload, new, rejected })
}

/// What an upload's rows are called in `ingest`'s errors (the name is not shown: a duplicate's
/// first occurrence is shown as its line).
const UPLOAD: &str = "upload";

fn invalid_file(errors: Vec<ingest::RowError>) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_file",
        errors.iter().map(|e| e.reason.clone()).collect::<Vec<_>>().join("; "),
    );
    e.detail = Some(serde_json::to_value(&errors).unwrap_or_default());
    e
}

fn read_error(e: std::io::Error) -> ingest::RowError {
    ingest::RowError {
        file: UPLOAD.into(),
        line: 0,
        column: String::new(),
        value: String::new(),
        reason: format!("read error: {e}"),
    }
}

fn stored_row(fields: [String; 7], line: u64) -> ActivityRow {
    let [facility_code, period, carrier, quantity, unit, source_document, evidence_ref] = fields;
    ActivityRow { facility_code, period, carrier, quantity, unit, source_document, evidence_ref, line: line as i64 }
}

/// What a filing's rows are checked against: the facilities of its org's subtree, its month, and
/// the facilities other orgs have filed for that month.
struct Rules<'s> {
    store: &'s Store,
    filing: &'s Filing,
    year: i32,
    month: u8,
    index: FxHashMap<String, u32>,
    codes: Vec<String>,
    elsewhere: HashMap<String, i64>,
}

impl<'s> Rules<'s> {
    fn of(store: &'s Store, filing: &'s Filing) -> ApiResult<Rules<'s>> {
        let year: i32 = filing.period[..4].parse().map_err(|_| ApiError::internal("bad filing period"))?;
        let month: u8 = filing.period[5..].parse().map_err(|_| ApiError::internal("bad filing period"))?;
        let codes: Vec<String> = store.facilities_within(&filing.org_path)?.into_iter().map(|f| f.code).collect();
        let index = codes.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
        let elsewhere = store.filed_elsewhere(filing.id)?;
        Ok(Rules { store, filing, year, month, index, codes, elsewhere })
    }

    fn judge(&self) -> Judge<'_> {
        let mut rows = ingest::ActivityRows::new(self.year, &self.index).with_duplicate_check();
        let source = rows.source(UPLOAD).expect("one source");
        Judge { rules: self, rows, source, known_elsewhere: HashMap::new(), rejected: 0, errors: 0, first: Vec::new() }
    }
}

/// The verdict on each row of one upload (or of a filing's stored rows), in the filer's words.
struct Judge<'r> {
    rules: &'r Rules<'r>,
    rows: ingest::ActivityRows<'r>,
    source: ingest::SourceId,
    /// Whether a refused facility code is a facility elsewhere in the org tree.
    known_elsewhere: HashMap<String, bool>,
    rejected: usize,
    /// Errors `ingest` found (duplicate keys aside).
    errors: usize,
    /// The first rejected lines and their reasons, shown when the file is refused whole.
    first: Vec<(u64, Vec<String>)>,
}

impl Judge<'_> {
    /// Accepted, or every reason the row at `line` is rejected.
    fn judge(&mut self, line: u64, verdict: ingest::RowVerdict) -> Result<(), Vec<String>> {
        let rules = self.rules;
        let mut reasons = Vec::new();
        for e in &verdict.errors {
            if e.column == "facility_code,period,carrier,source_document" {
                // ingest names the first occurrence as SOURCE:LINE; the source here is the upload itself.
                let reason = e.reason.replace(&format!("{UPLOAD}:"), "line ");
                reasons.push(format!("{}: {reason}", e.column));
                continue;
            }
            self.errors += 1;
            let mut reason = e.reason.clone();
            if e.column == "facility_code" {
                // Say why a known facility is refused, without naming who owns it (the filer may not
                // see that part of the org tree).
                let store = rules.store;
                let known = *self
                    .known_elsewhere
                    .entry(e.value.clone())
                    .or_insert_with(|| store.facility(e.value.trim()).ok().flatten().is_some());
                if known {
                    reason = format!("facility is outside this filing's org {} and its subtree", rules.filing.org_code);
                }
            }
            let reason = reason.replace(
                "not a facility_code in facilities.csv",
                "not a facility of the platform (GET /api/v1/orgs/{code}/facilities lists them)",
            );
            reasons.push(if e.column.is_empty() {
                format!("{reason} (line starts {:?})", e.value)
            } else {
                format!("{}: {reason} (value {:?})", e.column, e.value)
            });
        }
        if let Some(r) = verdict.record {
            if r.month != rules.month {
                reasons.push(format!(
                    "period: {}-{:02} is not this filing's month {} (file each month into its own filing)",
                    rules.year, r.month, rules.filing.period
                ));
            } else if let Some(other) = rules.elsewhere.get(&rules.codes[r.facility as usize]) {
                reasons.push(format!(
                    "facility_code: this facility's {} is already filed in filing {other} (another org's filing); it would count twice",
                    rules.filing.period
                ));
            }
        }
        if reasons.is_empty() {
            return Ok(());
        }
        self.rejected += 1;
        if self.first.len() < 100 {
            self.first.push((line, reasons.clone()));
        }
        Err(reasons)
    }

    /// More rows are rejected than an upload may have (or more errors found than are kept).
    fn too_many(&self) -> bool {
        self.rejected > MAX_REJECTED_ROWS || self.errors > ingest::MAX_KEPT_ERRORS
    }

    /// Why the rows read are refused whole, once all are read: none at all, or too many rejected.
    fn refusal(&self) -> Option<ApiError> {
        if self.rows.counts().0 == 0 {
            return Some(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_rows",
                "the file has a header but no rows: nothing to file",
            ));
        }
        if !self.too_many() {
            return None;
        }
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_rejected",
            format!(
                "{} rows of the file are rejected (more than {MAX_REJECTED_ROWS}): nothing was recorded; fix the file (the first problems are listed) and upload it again",
                self.rejected
            ),
        );
        e.detail = Some(serde_json::json!(self
            .first
            .iter()
            .map(|(line, r)| serde_json::json!({"line": line, "reasons": r}))
            .collect::<Vec<_>>()));
        Some(e)
    }
}

/// An upload with more rejected rows than this is refused whole: it is not a filing with a few
/// mistakes but the wrong file, and its quarantine would only bury the filer.
pub const MAX_REJECTED_ROWS: usize = 100_000;

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
    let (store, spool, threads) = (app.store.clone(), app.spool_dir.clone(), app.threads);
    app.blocking(move || revalidate_stored(&store, id, &spool, threads)).await?;
    transition(app, caller, id, "approve", String::new()).await
}

/// Validates a filing's stored rows as an upload of them would be: every row must be accepted.
pub fn revalidate_stored(store: &Store, filing_id: i64, _spool: &std::path::Path, _threads: usize) -> ApiResult<()> {
    let filing = store.filing(filing_id)?;
    if filing.status != "submitted" {
        // The transition refuses it with the workflow's own message.
        return Ok(());
    }
    let refused = |problems: Vec<serde_json::Value>| {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "stored_rows_invalid",
            format!(
                "filing {filing_id} holds {} row(s) that no longer pass validation: return it and restate or re-upload them",
                problems.len()
            ),
        );
        e.detail = Some(serde_json::json!(problems.into_iter().take(100).collect::<Vec<_>>()));
        e
    };
    let rules = Rules::of(store, &filing)?;
    let mut judge = rules.judge();
    let mut problems = Vec::new();
    store.for_each_activity(&[filing_id], &mut |_, r| {
        let fields = ingest::ActivityFields {
            facility_code: &r.facility_code,
            period: &r.period,
            carrier: &r.carrier,
            quantity: &r.quantity,
            unit: &r.unit,
            source_document: &r.source_document,
            evidence_ref: &r.evidence_ref,
        };
        let verdict = judge.rows.push(judge.source, r.line as u64, &fields);
        if let Err(reasons) = judge.judge(r.line as u64, verdict) {
            problems.push(serde_json::json!({"line": r.line, "reasons": reasons}));
        }
        Ok(())
    })?;
    if let Some(e) = judge.refusal() {
        return Err(refused(vec![serde_json::json!({"line": 0, "reasons": [e.message]})]));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(refused(problems))
    }
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
