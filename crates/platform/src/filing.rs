//! Filing import: an upload (spooled to a file by the caller) is validated row by row with
//! `ingest` against the filing's org subtree and month; accepted rows go into the filing, rejected
//! ones into quarantine with every reason, in one transaction with its audit entry. XLSX uploads
//! are turned into CSV first (`xlsx`). Approval validates the stored rows again.

use crate::error::{Error, Kind, Result};
use rustc_hash::FxHashMap;
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

/// Validates `path` against the filing (its org subtree's facilities, its month) with `ingest`,
/// then records accepted and rejected rows in one transaction. A header problem (a required
/// column missing) rejects the whole file with nothing recorded.
pub fn import_file(
    store: &Store,
    actor: &str,
    filing_id: i64,
    path: &std::path::Path,
    sha: &str,
    file_name: &str,
    threads: usize,
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
    let started = std::time::Instant::now();
    let verdicts = validate(store, &filing, path, threads)?;
    let validated = started.elapsed().as_secs_f64();
    let mut rejected = Vec::new();
    let mut outcomes = OutcomeReader::open(path, verdicts)?.inspect(|o| {
        if let Ok(Outcome::Rejected(r)) = o {
            if rejected.len() < MAX_SHOWN {
                rejected.push(r.clone());
            }
        }
    });
    let (upload, new) = store.record_upload(actor, filing_id, sha, file_name, &mut outcomes)?;
    tracing::info!(
        filing = filing_id,
        accepted = upload.accepted,
        rejected = upload.rejected,
        validate_s = validated,
        store_s = started.elapsed().as_secs_f64() - validated,
        "upload recorded"
    );
    Ok(ImportReport { upload, new, rejected })
}

/// Per line of the file: accepted, or the reasons it was rejected.
struct Verdicts {
    accepted: Vec<bool>,
    reasons: FxHashMap<u64, Vec<String>>,
}

fn validate(store: &Store, filing: &Filing, path: &std::path::Path, threads: usize) -> Result<Verdicts> {
    let year: i32 = filing.period[..4].parse().map_err(|_| Error::internal("bad filing period"))?;
    let month: u8 = filing.period[5..].parse().map_err(|_| Error::internal("bad filing period"))?;
    let facilities = store.facilities_within(&filing.org_path)?;
    let mut ds = model::Dataset { year, strings: model::StringPool::new(), ..Default::default() };
    ds.facilities = facilities
        .iter()
        .map(|f| model::Facility {
            code: f.code.clone(),
            name: f.name.clone(),
            kind: model::FacilityType::parse(&f.kind).unwrap_or(model::FacilityType::Office),
            org: 0,
            province: model::parse_province(&f.province).unwrap_or(0),
            allocation_share: 1.0,
            shared_with: String::new(),
        })
        .collect();
    let by_code: FxHashMap<String, u32> =
        ds.facilities.iter().enumerate().map(|(i, f)| (f.code.clone(), i as u32)).collect();
    let mut report = ingest::ValidationReport::default();
    let mut loaded = model::Dataset { year, strings: model::StringPool::new(), ..Default::default() };
    ingest::load_activity(path, &mut loaded, &by_code, threads, &mut report);
    let whole_file: Vec<&ingest::RowError> = report.errors.iter().filter(|e| e.line <= 1).collect();
    if !whole_file.is_empty() {
        let mut e = Error::new(
            Kind::Invalid,
            "invalid_file",
            whole_file.iter().map(|e| e.reason.clone()).collect::<Vec<_>>().join("; "),
        );
        e.detail = Some(serde_json::to_value(&whole_file).unwrap_or_default());
        return Err(e);
    }
    ds.activity = loaded.activity;
    ds.carriers = loaded.carriers;
    ds.files = loaded.files;
    ds.strings = loaded.strings;
    let mut reasons: FxHashMap<u64, Vec<String>> = FxHashMap::default();
    let mut known_elsewhere: HashMap<String, bool> = HashMap::new();
    for e in &report.errors {
        let mut reason = e.reason.clone();
        if e.column == "facility_code" {
            // Say why a known facility is refused, without naming who owns it (the filer may not
            // see that part of the org tree).
            let known = *known_elsewhere
                .entry(e.value.clone())
                .or_insert_with(|| store.facility(e.value.trim()).ok().flatten().is_some());
            if known {
                reason = format!("facility is outside this filing's org {} and its subtree", filing.org_code);
            }
        }
        let reason = reason.replace(
            "not a facility_code in facilities.csv",
            "not a facility of the platform (GET /api/v1/orgs/{code}/facilities lists them)",
        );
        let shown = if e.column.is_empty() {
            format!("{reason} (line starts {:?})", e.value)
        } else {
            format!("{}: {reason} (value {:?})", e.column, e.value)
        };
        reasons.entry(e.line).or_default().push(shown);
    }
    let mut dups = ingest::ValidationReport::default();
    ingest::check_duplicate_keys(&ds, &mut dups);
    for e in &dups.errors {
        // ingest names the first occurrence as FILE:LINE; the file here is the upload itself.
        let reason = e.reason.replace(&format!("{}:", path.display()), "line ");
        reasons.entry(e.line).or_default().push(format!("{}: {reason}", e.column));
    }
    if ds.activity.is_empty() && reasons.is_empty() {
        return Err(Error::new(Kind::Invalid, "no_rows", "the file has a header but no rows: nothing to file"));
    }
    let elsewhere = store.filed_elsewhere(filing.id)?;
    let max_line = ds.activity.line.iter().copied().max().unwrap_or(0) as usize;
    let mut accepted = vec![false; max_line + 1];
    for (r, &line) in ds.activity.line.iter().enumerate() {
        if ds.activity.month[r] != month {
            reasons.entry(line as u64).or_default().push(format!(
                "period: {year}-{:02} is not this filing's month {} (file each month into its own filing)",
                ds.activity.month[r], filing.period
            ));
        } else if let Some(other) = elsewhere.get(&ds.facilities[ds.activity.facility[r] as usize].code) {
            reasons.entry(line as u64).or_default().push(format!(
                "facility_code: this facility's {} is already filed in filing {other} (another org's filing); it would count twice",
                filing.period
            ));
        } else if !reasons.contains_key(&(line as u64)) {
            accepted[line as usize] = true;
        }
    }
    let rejected = reasons.len().max(report.rejected_rows.iter().map(|(_, n)| *n).sum());
    if rejected > MAX_REJECTED_ROWS || report.total > report.errors.len() {
        let mut first: Vec<(&u64, &Vec<String>)> = reasons.iter().collect();
        first.sort_unstable_by_key(|(line, _)| **line);
        let mut e = Error::new(
            Kind::Invalid,
            "too_many_rejected",
            format!(
                "{rejected} rows of the file are rejected (more than {MAX_REJECTED_ROWS}): nothing was recorded; fix the file (the first problems are listed) and upload it again"
            ),
        );
        e.detail = Some(serde_json::json!(first
            .iter()
            .take(100)
            .map(|(line, r)| serde_json::json!({"line": line, "reasons": r}))
            .collect::<Vec<_>>()));
        return Err(e);
    }
    Ok(Verdicts { accepted, reasons })
}

/// An upload with more rejected rows than this is refused whole: it is not a filing with a few
/// mistakes but the wrong file, and its quarantine would only bury the filer.
pub const MAX_REJECTED_ROWS: usize = 100_000;

/// Reads the uploaded file's rows with ingest's own row reader (the lines, numbers and fields the
/// validator saw), turning each into the outcome the validator gave its line.
struct OutcomeReader {
    rows: ingest::line::ActivityRowReader<std::io::BufReader<std::fs::File>>,
    verdicts: Verdicts,
}

impl OutcomeReader {
    fn open(path: &std::path::Path, verdicts: Verdicts) -> Result<OutcomeReader> {
        let file = std::fs::File::open(path).map_err(|e| Error::internal(format!("reopening the upload: {e}")))?;
        let rows = ingest::line::ActivityRowReader::new(std::io::BufReader::with_capacity(1 << 20, file), "upload")
            .map_err(|e| Error::internal(format!("reading the upload: {e}")))?
            // The validator accepted this header, so this does not happen.
            .map_err(|e| Error::internal(format!("the upload's header: {}", e.reason)))?;
        Ok(OutcomeReader { rows, verdicts })
    }
}

impl Iterator for OutcomeReader {
    type Item = std::result::Result<Outcome, String>;
    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.rows.next_row() {
            Ok(r) => r?,
            Err(e) => return Some(Err(format!("reading the upload: {e}"))),
        };
        let [facility_code, period, carrier, quantity, unit, source_document, evidence_ref] = raw.fields;
        let line = raw.line;
        let row = ActivityRow {
            facility_code,
            period,
            carrier,
            quantity,
            unit,
            source_document,
            evidence_ref,
            line: line as i64,
        };
        if self.verdicts.accepted.get(line as usize).copied().unwrap_or(false) {
            return Some(Ok(Outcome::Accepted(row)));
        }
        let reasons = self.verdicts.reasons.get(&line).map_or_else(
            || "rejected by validation (more than 100,000 errors in the file: reason not kept)".to_string(),
            |r| r.join("; "),
        );
        Some(Ok(Outcome::Rejected(RejectedRow { row, reasons })))
    }
}

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
pub fn import_received(
    store: &Store,
    actor: &str,
    filing: i64,
    upload: &Received<'_>,
    threads: usize,
) -> Result<ImportReport> {
    let Received { path, size, sha, file_name } = *upload;
    let mut head = [0u8; 4];
    let is_xlsx = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok()
        && crate::xlsx::is_xlsx(&head);
    if !is_xlsx {
        return import_file(store, actor, filing, path, sha, file_name, threads);
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
    import_file(store, actor, filing, csv.path(), sha, file_name, threads)
}

/// Validates a filing's stored rows as an upload of them would be: every row must be accepted.
pub fn revalidate_stored(store: &Store, filing_id: i64, spool: &std::path::Path, threads: usize) -> Result<()> {
    let filing = store.filing(filing_id)?;
    if filing.status != "submitted" {
        // The transition refuses it with the workflow's own message.
        return Ok(());
    }
    std::fs::create_dir_all(spool).map_err(|e| Error::internal(format!("spool dir: {e}")))?;
    let file = tempfile::NamedTempFile::new_in(spool).map_err(|e| Error::internal(format!("spool file: {e}")))?;
    let stored_lines: Vec<i64> =
        crate::snapshot::write_activity(store, &[filing_id], file.path())?.into_iter().map(|(_, line)| line).collect();
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
    let verdicts = match validate(store, &filing, file.path(), threads) {
        Ok(v) => v,
        Err(e) => return Err(refused(vec![serde_json::json!({"line": 0, "reasons": [e.message]})])),
    };
    // Line n of the file written above is stored row n - 2.
    let problems: Vec<serde_json::Value> = stored_lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !verdicts.accepted.get(i + 2).copied().unwrap_or(false))
        .map(|(i, line)| {
            let reasons = verdicts.reasons.get(&(i as u64 + 2)).cloned().unwrap_or_default();
            serde_json::json!({"line": line, "reasons": reasons})
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(refused(problems))
    }
}
