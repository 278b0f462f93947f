//! Filing import: an upload (spooled to a file by the caller) is read once; each row is checked
//! with `ingest` (the checks of a data directory's files) against the filing's org subtree and
//! month as it is read, and recorded with its verdict: accepted rows go into the filing, rejected
//! ones into quarantine with every reason, in one transaction with its audit entry. XLSX uploads
//! are turned into CSV first (`xlsx`). Approval checks the stored rows again, the same way.

use crate::error::{Error, Kind, Result};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::collections::HashMap;
use store::filings::{ActivityRow, Filing, Outcome, RejectedRow, Upload};
use store::Store;

/// An XLSX upload is read whole (a zip needs random access), so it is limited; CSV is streamed.
pub const MAX_XLSX_BYTES: u64 = 200 << 20;

/// Rejected rows listed in an upload's answer; all of them are in the quarantine download.
pub const MAX_SHOWN: usize = 10_000;

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
) -> Result<ImportReport> {
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
    if filing.kind == store::filings::BUSINESS {
        return crate::business::import_file(store, actor, &filing, path, sha, file_name);
    }
    let started = std::time::Instant::now();
    let file = std::fs::File::open(path).map_err(|e| Error::internal(format!("reopening the upload: {e}")))?;
    let reader = match ingest::line::ActivityRowReader::new(std::io::BufReader::with_capacity(1 << 20, file), UPLOAD) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(invalid_file(vec![e])),
        Err(e) => return Err(invalid_file(vec![read_error(e)])),
    };
    let rules = Rules::of(store, &filing)?;
    // Rows are read and judged on a thread of their own while the store records the ones before:
    // an upload holds the (SQLite) writer for the longer of the two, not for their sum.
    let (sent, received) = std::sync::mpsc::sync_channel::<Batch>(4);
    let (recorded, (rejected, refusal)) = std::thread::scope(|s| {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let judged = s.spawn(move || judge_upload(&rules, reader, size, sent));
        let mut outcomes = received.into_iter().flatten();
        let recorded = store.record_upload(actor, filing_id, sha, file_name, &mut outcomes);
        // Stops the reader if the store stopped first.
        drop(outcomes);
        (recorded, judged.join().expect("the upload's reader"))
    });
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

/// Outcomes passed from the upload's reader to the store at a time.
type Batch = Vec<std::result::Result<Outcome, String>>;
const BATCH: usize = 1024;

/// Reads an upload's rows once, judging each as it is read, and sends the outcomes to `sent` (the
/// store records them). Returns the first [`MAX_SHOWN`] rejected rows, and why the upload is
/// refused whole if it is (then the last outcome sent is an error, so nothing is recorded).
fn judge_upload(
    rules: &Rules<'_>,
    mut reader: ingest::line::ActivityRowReader<std::io::BufReader<std::fs::File>>,
    size: u64,
    sent: std::sync::mpsc::SyncSender<Batch>,
) -> (Vec<RejectedRow>, Option<Error>) {
    let mut judge = rules.judge();
    // A row of a filing is 60 to 100 bytes.
    judge.rows.reserve((size / 64) as usize);
    let mut rejected = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let refusal = loop {
        let raw = match reader.next_row() {
            Ok(Some(raw)) => raw,
            Ok(None) => break judge.refusal(),
            Err(e) => break Some(invalid_file(vec![read_error(e)])),
        };
        let outcome = if is_unfilled_template_line(&raw) {
            Outcome::Skipped
        } else {
            let verdict = judge.rows.push_raw(judge.source, &raw);
            let row = stored_row(raw.fields, raw.line);
            match judge.judge(raw.line, verdict) {
                Ok(()) => Outcome::Accepted(row),
                Err(reasons) => {
                    let (texts, problems): (Vec<String>, Vec<Value>) = reasons.into_iter().unzip();
                    let r = RejectedRow { row, reasons: texts.join("; "), problems };
                    if rejected.len() < MAX_SHOWN {
                        rejected.push(r.clone());
                    }
                    Outcome::Rejected(r)
                }
            }
        };
        if judge.too_many() {
            // Nothing is recorded; the rest is read to say how many rows are rejected.
            break loop {
                match reader.next_row() {
                    Ok(Some(raw)) if is_unfilled_template_line(&raw) => {}
                    Ok(Some(raw)) => {
                        let verdict = judge.rows.push_raw(judge.source, &raw);
                        let _ = judge.judge(raw.line, verdict);
                    }
                    Ok(None) => break judge.refusal(),
                    Err(e) => break Some(invalid_file(vec![read_error(e)])),
                }
            };
        }
        batch.push(Ok(outcome));
        if batch.len() == BATCH && sent.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_err() {
            // The store stopped (this file was recorded before, or the filing changed).
            return (rejected, None);
        }
    };
    if let Some(e) = &refusal {
        batch.push(Err(e.message.clone()));
    }
    let _ = sent.send(batch);
    (rejected, refusal)
}

/// A template line left unfilled: a clean line whose quantity, source document and evidence are
/// all empty (the template fills in facility, period, carrier and unit). It carries nothing of a
/// bill, so it is counted and not stored; a line with any of them is judged like any row.
fn is_unfilled_template_line(raw: &ingest::line::RawRow) -> bool {
    let [_, _, _, quantity, _, source_document, evidence_ref] = &raw.fields;
    raw.problem.is_none() && [quantity, source_document, evidence_ref].iter().all(|f| f.trim().is_empty())
}

/// A stored row's fields as `ingest` checks them (approval and inventories read stored rows).
pub(crate) fn stored_fields(r: &ActivityRow) -> ingest::ActivityFields<'_> {
    ingest::ActivityFields {
        facility_code: &r.facility_code,
        period: &r.period,
        carrier: &r.carrier,
        quantity: &r.quantity,
        unit: &r.unit,
        source_document: &r.source_document,
        evidence_ref: &r.evidence_ref,
    }
}

/// What an upload's rows are called in `ingest`'s errors (the name is not shown: a duplicate's
/// first occurrence is shown as its line).
const UPLOAD: &str = "upload";

fn invalid_file(errors: Vec<ingest::RowError>) -> Error {
    let mut e = Error::new(
        Kind::Invalid,
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
    fn of(store: &'s Store, filing: &'s Filing) -> Result<Rules<'s>> {
        let year: i32 = filing.period[..4].parse().map_err(|_| Error::internal("bad filing period"))?;
        let month: u8 = filing.period[5..].parse().map_err(|_| Error::internal("bad filing period"))?;
        let codes: Vec<String> = store.facilities_within(&filing.org_path)?.into_iter().map(|f| f.code).collect();
        let index = codes.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
        let elsewhere = store.filed_elsewhere(filing.id)?;
        Ok(Rules { store, filing, year, month, index, codes, elsewhere })
    }

    fn judge(&self) -> Judge<'_> {
        let mut rows = ingest::ActivityRows::new(self.year, &self.index).with_duplicate_check().verdicts_only();
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
    /// Accepted, or every reason the row at `line` is rejected: the English text and the same as a
    /// code with its parameters (`{column, code, value, params}`, docs/formats.md).
    fn judge(&mut self, line: u64, verdict: ingest::RowVerdict) -> std::result::Result<(), Vec<(String, Value)>> {
        let rules = self.rules;
        let mut reasons = Vec::new();
        let problem = |column: &str, code: &str, value: &str, params: Value| serde_json::json!({"column": column, "code": code, "value": value, "params": params});
        for e in &verdict.errors {
            if e.column == "facility_code,period,carrier,source_document" {
                // ingest names the first occurrence as SOURCE:LINE; the source here is the upload itself.
                let reason = e.reason.replace(&format!("{UPLOAD}:"), "line ");
                let first_line = e.reason.rsplit_once(&format!("{UPLOAD}:")).map(|(_, l)| l.trim().to_string());
                let p = problem(&e.column, e.code(), &e.value, serde_json::json!({"first_line": first_line}));
                reasons.push((format!("{}: {reason}", e.column), p));
                continue;
            }
            self.errors += 1;
            let mut reason = e.reason.clone();
            let mut code = e.code();
            let mut params = serde_json::json!({});
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
                    code = "facility_outside_org";
                    params = serde_json::json!({"org": rules.filing.org_code});
                }
            }
            if code == "period_outside_year" {
                params = serde_json::json!({"year": rules.year});
            }
            let reason = reason.replace(
                "not a facility_code in facilities.csv",
                "not a facility of the platform (GET /api/v1/orgs/{code}/facilities lists them)",
            );
            let p = problem(&e.column, code, &e.value, params);
            reasons.push(if e.column.is_empty() {
                (format!("{reason} (line starts {:?})", e.value), p)
            } else {
                (format!("{}: {reason} (value {:?})", e.column, e.value), p)
            });
        }
        if let Some(r) = verdict.record {
            if r.month != rules.month {
                let period = format!("{}-{:02}", rules.year, r.month);
                reasons.push((
                    format!(
                        "period: {period} is not this filing's month {} (file each month into its own filing)",
                        rules.filing.period
                    ),
                    problem(
                        "period",
                        "wrong_month",
                        &period,
                        serde_json::json!({"filing_period": rules.filing.period}),
                    ),
                ));
            } else if let Some(other) = rules.elsewhere.get(&rules.codes[r.facility as usize]) {
                let code = &rules.codes[r.facility as usize];
                reasons.push((
                    format!(
                        "facility_code: this facility's {} is already filed in filing {other} (another org's filing); it would count twice",
                        rules.filing.period
                    ),
                    problem(
                        "facility_code",
                        "filed_elsewhere",
                        code,
                        serde_json::json!({"period": rules.filing.period, "filing": other}),
                    ),
                ));
            }
        }
        if reasons.is_empty() {
            return Ok(());
        }
        self.rejected += 1;
        if self.first.len() < 100 {
            self.first.push((line, reasons.iter().map(|(r, _)| r.clone()).collect()));
        }
        Err(reasons)
    }

    /// More rows are rejected than an upload may have (or more errors found than are kept).
    fn too_many(&self) -> bool {
        self.rejected > MAX_REJECTED_ROWS || self.errors > ingest::MAX_KEPT_ERRORS
    }

    /// Why the rows read are refused whole, once all are read: none at all, or too many rejected.
    fn refusal(&self) -> Option<Error> {
        if self.rows.counts().0 == 0 {
            return Some(Error::new(Kind::Invalid, "no_rows", "the file has a header but no rows: nothing to file"));
        }
        if !self.too_many() {
            return None;
        }
        let mut e = Error::new(
            Kind::Invalid,
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

/// An upload as received: the spool file it was streamed to, its size, SHA-256 (hex) and the name
/// the client gave it.
pub struct Received<'a> {
    pub path: &'a std::path::Path,
    pub size: u64,
    pub sha: &'a str,
    pub file_name: &'a str,
}

/// Imports a received (spooled) upload into `filing`: CSV as it is, an XLSX workbook's first
/// sheet converted to CSV first (within [`MAX_XLSX_BYTES`]).
pub fn import_received(store: &Store, actor: &str, filing: i64, upload: &Received<'_>) -> Result<ImportReport> {
    let Received { path, size, sha, file_name } = *upload;
    let mut head = [0u8; 4];
    let is_xlsx = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok()
        && crate::xlsx::is_xlsx(&head);
    if !is_xlsx {
        return import_file(store, actor, filing, path, sha, file_name);
    }
    if size > MAX_XLSX_BYTES {
        return Err(Error::new(
            Kind::TooLarge,
            "too_large",
            format!("XLSX uploads are limited to {} MB; send large filings as CSV", MAX_XLSX_BYTES >> 20),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::internal(e.to_string()))?;
    let csv = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(std::path::Path::new(".")))
        .map_err(|e| Error::internal(e.to_string()))?;
    crate::xlsx::first_sheet_to_csv(bytes, csv.path()).map_err(|e| Error::new(Kind::Invalid, "invalid_file", e))?;
    import_file(store, actor, filing, csv.path(), sha, file_name)
}

/// Validates a filing's stored rows as an upload of them would be: every row must be accepted.
pub fn revalidate_stored(store: &Store, filing_id: i64) -> Result<()> {
    let filing = store.filing(filing_id)?;
    if filing.status != "submitted" {
        // The transition refuses it with the workflow's own message.
        return Ok(());
    }
    if filing.kind == store::filings::BUSINESS {
        return crate::business::revalidate(store, &filing);
    }
    let refused = |problems: Vec<serde_json::Value>| {
        let mut e = Error::new(
            Kind::Conflict,
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
        let verdict = judge.rows.push(judge.source, r.line as u64, &stored_fields(r));
        if let Err(reasons) = judge.judge(r.line as u64, verdict) {
            let (texts, codes): (Vec<String>, Vec<Value>) = reasons.into_iter().unzip();
            problems.push(serde_json::json!({"line": r.line, "reasons": texts, "problems": codes}));
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

/// The records filed for facility `code` (of the org at `org_path`) in `year`: the newest approved
/// version of each filing that can hold them (its org's, or an org's above it), one per record with
/// the filing and the line of the upload it came from.
pub fn facility_records(store: &Store, org_path: &str, code: &str, year: i32) -> Result<Vec<serde_json::Value>> {
    let (path, code2) = (org_path, code);
    // Filings of orgs above the facility's org (or the org itself) can hold its records.
    let filings: Vec<i64> = store
        .current_filings(year, path)?
        .into_iter()
        .filter(|f| path.starts_with(f.org_path.as_str()))
        .map(|f| f.id)
        .collect();
    let mut out = Vec::new();
    store.for_each_activity(&filings, &mut |filing, r| {
        if r.facility_code == code2 {
            out.push(serde_json::json!({"filing_id": filing, "line": r.line, "period": r.period, "carrier": r.carrier,
                            "quantity": r.quantity, "unit": r.unit, "source_document": r.source_document,
                            "evidence_ref": r.evidence_ref}));
        }
        Ok(())
    })?;
    Ok(out)
}

/// The language of a filing template (`?lang=zh|en`): its header, the carrier and unit it fills
/// in, its dropdown of carriers and its instructions sheet. Without one, the template keeps its
/// canonical English header and a bilingual instructions sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLang {
    Zh,
    En,
    Both,
}

impl TemplateLang {
    /// `zh`, `en` or none; anything else is refused (400 `invalid_lang`).
    pub fn parse(lang: Option<&str>) -> Result<TemplateLang> {
        match lang {
            None => Ok(TemplateLang::Both),
            Some("zh") | Some("zh-CN") => Ok(TemplateLang::Zh),
            Some("en") => Ok(TemplateLang::En),
            Some(_) => Err(Error::new(Kind::BadRequest, "invalid_lang", "lang must be zh or en")),
        }
    }
}

/// The columns of the template and of the quarantine download (extra columns are ignored on
/// upload), canonical names.
pub const TEMPLATE_COLUMNS: [&str; 8] =
    ["facility_code", "period", "carrier", "quantity", "unit", "source_document", "evidence_ref", "facility_name"];

/// A filing template's header and lines: one line per facility (code, the filing's month, the
/// carrier and unit filled in, the facility's name), in `lang` (a zh template writes the columns'
/// Chinese names, 电力 and 千瓦时, which an upload reads as `electricity` and `kWh`).
pub fn template_rows(facilities: &[(String, String)], period: &str, lang: TemplateLang) -> Vec<Vec<String>> {
    let zh = lang == TemplateLang::Zh;
    let header = TEMPLATE_COLUMNS.iter().map(|c| if zh { ingest::column_name_zh(c) } else { c }.to_string()).collect();
    let (carrier, unit) = if zh { ("电力", "千瓦时") } else { ("electricity", "kWh") };
    let mut rows = vec![header];
    for (code, name) in facilities {
        rows.push(
            [code.as_str(), period, carrier, "", unit, "", "", name.as_str()].iter().map(|c| c.to_string()).collect(),
        );
    }
    rows
}

/// The carriers a template's carrier column offers (those without a detail; `refrigerant:<gas>`
/// and the others with a detail, and the Chinese names, are typed); in a zh template by their
/// first Chinese name (`model::CARRIER_NAMES_ZH`) where they have one.
fn listed_carriers_in(lang: TemplateLang) -> Vec<&'static str> {
    let codes = listed_carriers();
    if lang != TemplateLang::Zh {
        return codes;
    }
    codes
        .into_iter()
        .map(|c| {
            model::carrier::CARRIER_NAMES_ZH
                .iter()
                .find(|(zh, code)| *code == c && zh.chars().count() > 1)
                .map_or(c, |(zh, _)| *zh)
        })
        .collect()
}

fn listed_carriers() -> Vec<&'static str> {
    let mut out =
        vec!["electricity", "electricity_green_certified", "electricity_green_uncertified", "electricity_pv_self"];
    out.extend(model::Fuel::ALL.iter().map(|f| f.code()));
    out.extend(["heat", "water", "paper"]);
    out
}

/// The filing template as a workbook: the sheet to fill (`rows`: the template's header and lines;
/// the carrier and unit columns offer their values as a list), then a sheet of instructions in
/// Chinese and English (an upload reads the first sheet only).
pub fn template_workbook(rows: &[Vec<String>], lang: TemplateLang) -> Result<Vec<u8>> {
    let text = |cells: [&str; 4]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let instructions: Vec<Vec<String>> = vec![
        text(["列 / column", "必填 / required", "说明", "description"]),
        text(["facility_code", "是 / yes", "设施编码（模板已按本填报单位的设施逐行列出）", "the facility's code (the template lists the filing org's facilities, one line each)"]),
        text(["period", "是 / yes", "月份，YYYY-MM，须为本填报的月份", "the month, YYYY-MM: the filing's month"]),
        text(["carrier", "是 / yes", "能源品种：可从下拉列表选择，也可填中文名称（如 柴油、电力）或 refrigerant:R-410A 等", "the carrier: from the list, or its Chinese name (柴油, 电力), or one with a detail such as refrigerant:R-410A"]),
        text(["quantity", "是 / yes", "用量，小数点用“.”，可用千分位逗号（1,234.5）；不可为负（更正请重报）", "the quantity: '.' as the decimal point, thousands may be grouped (1,234.5); never negative (a correction is a restatement)"]),
        text(["unit", "是 / yes", "单位：可从下拉列表选择，也可填 度、千瓦时、升、吨 等", "the unit: from the list, or 度, 千瓦时, 升, 吨 ..."]),
        text(["source_document", "建议 / advised", "票据或账单编号：同一设施同月同品种的多张票据以此区分", "the bill's number: several bills of one facility, month and carrier differ by it"]),
        text(["evidence_ref", "否 / no", "证明材料的位置或编号", "where the evidence is kept"]),
        text(["facility_name", "否 / no", "设施名称，仅供参考，上传时忽略", "the facility's name, for reference; ignored on upload"]),
        text(["", "", "未填写用量、票据和证明的模板行在上传时跳过，不视为错误。", "Template lines left without quantity, bill and evidence are skipped on upload, not errors."]),
        text(["", "", "表头可用中文或英文列名（设施编码 或 facility_code 等），上传时同样识别。", "The header may name the columns in Chinese or in English (设施编码 or facility_code, ...): an upload reads both."]),
        text(["", "", "格式说明见 docs/formats.md。", "The formats are in docs/formats.md."]),
    ];
    // One language: the column as the sheet names it, whether it is required, its description.
    let instructions: Vec<Vec<String>> = match lang {
        TemplateLang::Both => instructions,
        TemplateLang::Zh | TemplateLang::En => instructions
            .iter()
            .map(|r| {
                let column = if lang == TemplateLang::Zh && !r[0].contains('/') {
                    ingest::column_name_zh(&r[0]).to_string()
                } else {
                    r[0].clone()
                };
                let split = |cell: &str, zh: bool| {
                    cell.split_once(" / ")
                        .map_or(cell.to_string(), |(a, b)| if zh { a.to_string() } else { b.to_string() })
                };
                let zh = lang == TemplateLang::Zh;
                vec![split(&column, zh), split(&r[1], zh), if zh { r[2].clone() } else { r[3].clone() }]
            })
            .collect(),
    };
    let sheet_name = match lang {
        TemplateLang::Both => "说明 instructions",
        TemplateLang::Zh => "说明",
        TemplateLang::En => "instructions",
    };
    use crate::xlsx::{Offered, SheetSpec};
    let units: Vec<&str> = model::units::UNITS.iter().map(|u| u.code).collect();
    // The facilities of the template's lines, for the facility column's dropdown (any number: a
    // hidden sheet holds them).
    let facilities: Vec<Vec<String>> =
        rows.iter().skip(1).filter_map(|r| r.first()).filter(|c| !c.is_empty()).map(|c| vec![c.clone()]).collect();
    crate::xlsx::workbook_of(&[
        SheetSpec {
            name: "activity",
            rows,
            lists: vec![
                (0, Offered::Column { sheet: "facilities", rows: facilities.len() }),
                (2, Offered::Values(listed_carriers_in(lang))),
                (4, Offered::Values(units)),
            ],
            hidden: false,
        },
        SheetSpec { name: sheet_name, rows: &instructions, lists: Vec::new(), hidden: false },
        SheetSpec { name: "facilities", rows: &facilities, lists: Vec::new(), hidden: true },
    ])
    .map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod template_tests {
    use super::*;
    use std::io::Read;

    /// A zh template: Chinese header, 电力 and 千瓦时 filled in, carriers offered by their Chinese
    /// names (each a carrier an upload reads), instructions in Chinese only; an en one in English.
    #[test]
    fn a_template_in_chinese_or_english() {
        let facilities = vec![("GD1".to_string(), "广州站".to_string())];
        let zh = template_rows(&facilities, "2024-05", TemplateLang::Zh);
        assert_eq!(zh[0], ["设施编码", "期间", "能源品种", "数量", "单位", "凭证号", "证明材料", "设施名称"]);
        assert_eq!(zh[1], ["GD1", "2024-05", "电力", "", "千瓦时", "", "", "广州站"]);
        let en = template_rows(&facilities, "2024-05", TemplateLang::En);
        assert_eq!(en[0], TEMPLATE_COLUMNS);
        assert_eq!(template_rows(&facilities, "2024-05", TemplateLang::Both)[0], TEMPLATE_COLUMNS);
        for (z, e) in zh[0].iter().zip(&en[0]) {
            assert_eq!(ingest::canonical_column(z), e.as_str());
        }
        let offered = listed_carriers_in(TemplateLang::Zh);
        assert!(offered.contains(&"柴油") && offered.contains(&"电力"), "{offered:?}");
        for c in &offered {
            assert!(model::Carrier::parse(c).is_ok(), "{c} is a carrier");
        }
        assert!(offered.join(",").chars().count() <= 253, "Excel takes a typed list of at most 255 characters");
        let mut zip =
            zip::ZipArchive::new(std::io::Cursor::new(template_workbook(&zh, TemplateLang::Zh).unwrap())).unwrap();
        let mut part = |name: &str| {
            let mut text = String::new();
            zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
            text
        };
        assert!(part("xl/workbook.xml").contains(r#"<sheet name="说明""#));
        let instructions = part("xl/worksheets/sheet2.xml");
        assert!(instructions.contains("设施编码") && instructions.contains("千分位"), "{instructions}");
        assert!(!instructions.contains("thousands") && !instructions.contains("facility_code<"), "{instructions}");
        assert!(part("xl/worksheets/sheet1.xml").contains("柴油"));
        let mut zip =
            zip::ZipArchive::new(std::io::Cursor::new(template_workbook(&en, TemplateLang::En).unwrap())).unwrap();
        let mut text = String::new();
        zip.by_name("xl/worksheets/sheet2.xml").unwrap().read_to_string(&mut text).unwrap();
        assert!(text.contains("thousands may be grouped") && !text.contains("千分位"), "{text}");
        assert!(TemplateLang::parse(Some("fr")).is_err());
    }

    #[test]
    fn the_template_workbook_offers_lists_and_instructions_and_reads_back_as_its_rows() {
        let rows: Vec<Vec<String>> = vec![
            ["facility_code", "period", "carrier", "quantity", "unit"].map(String::from).to_vec(),
            ["GD1", "2024-05", "electricity", "", "kWh"].map(String::from).to_vec(),
        ];
        let book = template_workbook(&rows, TemplateLang::Both).unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::xlsx::first_sheet_to_csv(book.clone(), &dir.path().join("t.csv")).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("t.csv")).unwrap();
        assert_eq!(csv.lines().next(), Some("facility_code,period,carrier,quantity,unit"), "{csv}");
        assert!(csv.lines().nth(1).is_some_and(|l| l.starts_with("GD1,2024-05,electricity,,kWh")), "{csv}");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
        let mut part = |name: &str| {
            let mut text = String::new();
            zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
            text
        };
        let sheet = part("xl/worksheets/sheet1.xml");
        let lists: Vec<&str> =
            sheet.split("<formula1>").skip(1).map(|f| f.split("</formula1>").next().unwrap()).collect();
        assert_eq!(lists.len(), 3, "{sheet}");
        assert!(sheet.contains(r#"sqref="C2:C10000""#) && sheet.contains(r#"sqref="E2:E10000""#), "{sheet}");
        // Facilities from the hidden sheet that lists the template's facilities.
        assert_eq!(lists[0], "'facilities'!$A$1:$A$1", "{sheet}");
        assert!(lists[1].contains("diesel") && lists[1].contains("electricity_pv_self"), "{}", lists[1]);
        assert!(lists[2].contains("kWh") && lists[2].contains("10^4 yuan"), "{}", lists[2]);
        // Excel takes a typed list of at most 255 characters.
        assert!(lists.iter().all(|l| l.trim_matches('"').len() <= 255), "{lists:?}");
        for code in listed_carriers() {
            assert!(model::Carrier::parse(code).is_ok(), "{code} is a carrier");
        }
        let workbook = part("xl/workbook.xml");
        assert!(workbook.contains("说明 instructions"), "{workbook}");
        assert!(workbook.contains(r#"<sheet name="facilities" sheetId="3" state="hidden""#), "{workbook}");
        assert!(part("xl/worksheets/sheet3.xml").contains("<t xml:space=\"preserve\">GD1</t>"));
        let instructions = part("xl/worksheets/sheet2.xml");
        assert!(instructions.contains("千分位") && instructions.contains("thousands may be grouped"), "{instructions}");
    }
}
