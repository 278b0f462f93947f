//! Business-data filings (issue 15): telecom business volume, revenue, traffic, 5G traffic, server
//! compute and power per org and year, through the filing flow of activity (template, upload with
//! quarantine, submit, review, approve, restate), as a filing of kind `business` (period `YYYY`).
//! An upload is read once in the CSV dialect of activity files (`ingest::line`); each row is checked
//! by `indicators::business` (the same checks at upload and at approval) and stored with its
//! verdict, accepted rows in the filing (the org in `facility_code`, the metric in `carrier`, the
//! value in `quantity`) and rejected ones in quarantine, each reason with its code.

use crate::error::{Error, Kind, Result};
use crate::filing::ImportReport;
use indicators::business::{BusinessChecker, OrgPlace, COLUMNS, METRICS};
use std::collections::HashMap;
use store::filings::{ActivityRow, Filing, Outcome, RejectedRow};
use store::Store;

/// What a business filing's rows are checked against: the orgs of its subtree and the platform's.
struct Orgs {
    within: HashMap<String, bool>,
}

impl Orgs {
    fn of(store: &Store, filing: &Filing) -> Result<Orgs> {
        let mut within = HashMap::new();
        for o in store.orgs()? {
            let w = o.path.starts_with(&filing.org_path);
            within.insert(o.code, w);
        }
        Ok(Orgs { within })
    }
    fn place(&self, code: &str) -> OrgPlace {
        match self.within.get(code) {
            Some(true) => OrgPlace::Within,
            Some(false) => OrgPlace::Outside,
            None => OrgPlace::Unknown,
        }
    }
}

/// The most rows a business-data upload may have (they are judged in memory before they are
/// recorded; a group's year of metrics by org and month is some tens of thousands).
pub const MAX_ROWS: usize = 200_000;

fn year_of(f: &Filing) -> Result<i32> {
    f.period.parse().map_err(|_| Error::internal("bad business filing period"))
}

fn stored(fields: [String; 7], line: u64) -> ActivityRow {
    let [org, period, metric, value, unit, source_document, evidence_ref] = fields;
    ActivityRow {
        facility_code: org,
        period,
        carrier: metric,
        quantity: value,
        unit,
        source_document,
        evidence_ref,
        line: line as i64,
    }
}

fn fields(r: &ActivityRow) -> [&str; 7] {
    [&r.facility_code, &r.period, &r.carrier, &r.quantity, &r.unit, &r.source_document, &r.evidence_ref]
}

fn invalid_file(reason: String) -> Error {
    Error::new(Kind::Invalid, "invalid_file", reason)
}

/// Reads a business-data upload (`path`, business-data.csv) into business filing `filing`: see
/// the module documentation. The whole file is refused (nothing recorded) when its header lacks a
/// column, when it has no rows, or when more than `filing::MAX_REJECTED_ROWS` rows are rejected.
pub fn import_file(
    store: &Store,
    actor: &str,
    filing: &Filing,
    path: &std::path::Path,
    sha: &str,
    file_name: &str,
) -> Result<ImportReport> {
    let file = std::fs::File::open(path).map_err(|e| Error::internal(format!("reopening the upload: {e}")))?;
    let mut lines = ingest::line::Lines::new(std::io::BufReader::new(file));
    let header = match lines.next_line() {
        Ok(Some((_, h))) => ingest::line::header_names(h).map_err(|r| invalid_file(format!("header: {r}")))?,
        Ok(None) => return Err(invalid_file("empty file: a header row is required".into())),
        Err(e) => return Err(Error::internal(format!("reading the upload: {e}"))),
    };
    let at: Vec<Option<usize>> = COLUMNS.iter().map(|c| header.iter().position(|h| h == c)).collect();
    let missing: Vec<&str> =
        COLUMNS.iter().zip(&at).filter(|(c, a)| a.is_none() && **c != "evidence_ref").map(|(c, _)| *c).collect();
    if !missing.is_empty() {
        return Err(invalid_file(format!(
            "header: required column(s) missing: {} (business-data.csv: {})",
            missing.join(", "),
            COLUMNS.join(",")
        )));
    }
    let orgs = Orgs::of(store, filing)?;
    let place = |c: &str| orgs.place(c);
    let mut checker = BusinessChecker::new(year_of(filing)?, &filing.org_code, &place);
    let mut outcomes = Vec::new();
    let (mut rejected, mut shown) = (0usize, Vec::new());
    loop {
        if outcomes.len() >= MAX_ROWS {
            return Err(Error::new(
                Kind::TooLarge,
                "too_many_rows",
                format!("a business-data file has at most {MAX_ROWS} rows (an org's year of metrics is far fewer): nothing was recorded"),
            ));
        }
        let mut split = Vec::new();
        let (line, bytes) = match lines.next_row() {
            Ok(Some((l, b))) => (l, b.to_vec()),
            Ok(None) => break,
            Err(e) => return Err(Error::internal(format!("reading the upload: {e}"))),
        };
        let problem =
            ingest::line::line_problem(&bytes).or_else(|| ingest::line::split_fields(&bytes, &mut split).err());
        let text = |i: usize| -> String {
            at[i]
                .and_then(|c| split.get(c))
                .map(|f| String::from_utf8_lossy(ingest::line::trim(f)).into_owned())
                .unwrap_or_default()
        };
        let row: [String; 7] = std::array::from_fn(text);
        let f: [&str; 7] = std::array::from_fn(|i| row[i].as_str());
        let unfilled = problem.is_none() && [f[3], f[5], f[6]].iter().all(|x| x.is_empty());
        let verdict = match problem {
            _ if unfilled => Ok(()),
            Some(ref p) => Err(vec![format!("bad_line: {p}")]),
            None => checker.check(line, f).map(|_| ()),
        };
        if problem.is_none() && [&row[3], &row[5], &row[6]].iter().all(|f| f.is_empty()) {
            // A template line left unfilled: counted, not stored (as in activity filings).
            outcomes.push(Ok(Outcome::Skipped));
            continue;
        }
        let r = stored(row, line);
        outcomes.push(match verdict {
            Ok(()) => Ok(Outcome::Accepted(r)),
            Err(reasons) => {
                rejected += 1;
                // Business rows give their reasons as "code: text" (docs/indicators.md); the console shows the text.
                let rr = RejectedRow { row: r, reasons: reasons.join("; "), problems: Vec::new() };
                if shown.len() < crate::filing::MAX_SHOWN {
                    shown.push(rr.clone());
                }
                Ok(Outcome::Rejected(rr))
            }
        });
    }
    if outcomes.iter().all(|o| matches!(o, Ok(Outcome::Skipped))) {
        return Err(Error::new(Kind::Invalid, "no_rows", "the file has a header but no rows: nothing to file"));
    }
    if rejected > crate::filing::MAX_REJECTED_ROWS {
        return Err(Error::new(
            Kind::Invalid,
            "too_many_rejected",
            format!("{rejected} rows of the file are rejected: nothing was recorded; fix the file and upload it again"),
        ));
    }
    let mut it = outcomes.into_iter();
    let (upload, new) = store.record_upload(actor, filing.id, sha, file_name, &mut it)?;
    Ok(ImportReport { upload, new, rejected: shown })
}

/// Checks a submitted business filing's stored rows again (approval): every row must pass.
pub fn revalidate(store: &Store, filing: &Filing) -> Result<()> {
    let orgs = Orgs::of(store, filing)?;
    let place = |c: &str| orgs.place(c);
    let mut checker = BusinessChecker::new(year_of(filing)?, &filing.org_code, &place);
    let mut problems = Vec::new();
    store.for_each_activity(&[filing.id], &mut |_, r| {
        if let Err(reasons) = checker.check(r.line as u64, fields(r)) {
            problems.push(serde_json::json!({"line": r.line, "reasons": reasons}));
        }
        Ok(())
    })?;
    if problems.is_empty() {
        return Ok(());
    }
    let mut e = Error::new(
        Kind::Conflict,
        "stored_rows_invalid",
        format!(
            "filing {} holds {} row(s) that no longer pass validation: return it and restate or re-upload them",
            filing.id,
            problems.len()
        ),
    );
    e.detail = Some(serde_json::json!(problems.into_iter().take(100).collect::<Vec<_>>()));
    Err(e)
}

/// The template of a business filing: the columns of business-data.csv and the org's name, one
/// line per org of the filing's subtree and metric, for the whole year.
pub fn template_rows(store: &Store, filing: &Filing) -> Result<Vec<Vec<String>>> {
    let mut rows = vec![COLUMNS.iter().map(|c| c.to_string()).chain(["org_name".to_string()]).collect::<Vec<_>>()];
    for o in store.orgs_within(&filing.org_path)? {
        for m in METRICS {
            let unit = if m.unit.ends_with("@YYYY") { m.unit.replace("YYYY", "2020") } else { m.unit.to_string() };
            rows.push(vec![
                o.code.clone(),
                filing.period.clone(),
                m.component.code().to_string(),
                String::new(),
                unit,
                String::new(),
                String::new(),
                o.name.clone(),
            ]);
        }
    }
    Ok(rows)
}

/// The business template as a workbook: the sheet to fill (the metric column offers the metrics),
/// then instructions in Chinese and English (an upload reads the first sheet only).
pub fn template_workbook(rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let text = |cells: [&str; 4]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let mut instructions: Vec<Vec<String>> = vec![
        text(["列 / column", "必填 / required", "说明", "description"]),
        text([
            "org_code",
            "是 / yes",
            "单位编码（本填报单位或其下级）",
            "the org's code (the filing's org or one below it)",
        ]),
        text([
            "period",
            "是 / yes",
            "年份 YYYY 或月份 YYYY-MM，须在本填报年度内；同一指标不可既报全年又报月度",
            "YYYY or YYYY-MM within the filing's year; one metric is given for the year or for months, not both",
        ]),
        text(["metric", "是 / yes", "业务指标（见下表）", "the metric (below)"]),
        text(["value", "是 / yes", "数值，不可为负，最多6位小数", "the value: never negative, at most 6 decimals"]),
        text([
            "unit",
            "是 / yes",
            "单位；电信业务总量填 10^4 yuan@基年（不变价）",
            "the unit; business volume as 10^4 yuan@YEAR (constant prices of YEAR)",
        ]),
        text(["source_document", "建议 / advised", "统计报表编号", "the statistical report's number"]),
        text(["evidence_ref", "否 / no", "证明材料的位置或编号", "where the evidence is kept"]),
    ];
    for m in METRICS {
        instructions.push(text([m.component.code(), m.unit, m.name_zh, m.name_en]));
    }
    let metrics: Vec<&str> = METRICS.iter().map(|m| m.component.code()).collect();
    use crate::xlsx::{Offered, SheetSpec};
    crate::xlsx::workbook_of(&[
        SheetSpec { name: "business", rows, lists: vec![(2, Offered::Values(metrics))], hidden: false },
        SheetSpec { name: "说明 instructions", rows: &instructions, lists: Vec::new(), hidden: false },
    ])
    .map_err(|e| Error::internal(e.to_string()))
}
