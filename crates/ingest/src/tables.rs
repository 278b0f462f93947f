//! orgs.csv and facilities.csv: small enough for the csv crate, validated field by field.

use crate::error::{RowError, ValidationReport};
use model::{parse_province, Facility, FacilityId, FacilityType, OrgRow, OrgTree};
use std::collections::HashMap;
use std::path::Path;

/// Column positions found in a header, by name.
pub(crate) struct Columns {
    index: HashMap<String, usize>,
}

impl Columns {
    pub fn new(header: &[String]) -> Columns {
        let index =
            header.iter().enumerate().map(|(i, h)| (h.trim().trim_start_matches('\u{feff}').to_string(), i)).collect();
        Columns { index }
    }
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
    /// Positions of `required` columns, or one error naming every missing one.
    pub fn require(&self, file: &str, required: &[&str], header: &[String]) -> Result<Vec<usize>, RowError> {
        let missing: Vec<&str> = required.iter().copied().filter(|c| self.get(c).is_none()).collect();
        if missing.is_empty() {
            Ok(required.iter().map(|c| self.index[*c]).collect())
        } else {
            Err(RowError {
                file: file.to_string(),
                line: 1,
                column: missing.join(","),
                value: header.join(","),
                reason: format!(
                    "missing required column(s) {}; the header must name {}",
                    missing.join(", "),
                    required.join(", ")
                ),
            })
        }
    }
}

/// A CSV file read row by row into one reused record: facilities.csv has millions of rows, and
/// allocating a String per field dominated its load.
pub(crate) struct CsvRows {
    rdr: csv::Reader<std::fs::File>,
    file: String,
    pub header: Vec<String>,
}

impl CsvRows {
    /// Opens `path` and reads its header; reports and returns None if that fails.
    pub fn open(path: &Path, report: &mut ValidationReport) -> Option<CsvRows> {
        let file = path.display().to_string();
        let fail = |report: &mut ValidationReport, line: u64, reason: String| {
            report.push(RowError { file: file.clone(), line, column: String::new(), value: String::new(), reason });
        };
        let mut rdr = match csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path) {
            Ok(r) => r,
            Err(e) => {
                fail(report, 0, format!("cannot open: {e}"));
                return None;
            }
        };
        let mut rec = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut rec) {
                Ok(true) => {
                    let header = rec.iter().map(|s| s.to_string()).collect();
                    return Some(CsvRows { rdr, file, header });
                }
                Ok(false) => {
                    fail(report, 0, "empty file: a header row is required".into());
                    return None;
                }
                Err(e) => fail(report, e.position().map_or(0, |p| p.line()), format!("unreadable CSV: {e}")),
            }
        }
    }

    /// Reads the next non-blank row into `rec` and returns its line, or None at the end. Rows the
    /// CSV reader cannot read are reported and skipped, so every problem is listed at once.
    pub fn next_row(&mut self, rec: &mut csv::StringRecord, report: &mut ValidationReport) -> Option<u64> {
        loop {
            match self.rdr.read_record(rec) {
                Ok(false) => return None,
                Ok(true) if rec.len() == 1 && rec[0].trim().is_empty() => continue,
                Ok(true) => return Some(rec.position().map_or(0, |p| p.line())),
                Err(e) => report.push(RowError {
                    file: self.file.clone(),
                    line: e.position().map_or(0, |p| p.line()),
                    column: String::new(),
                    value: String::new(),
                    reason: format!("unreadable CSV: {e}"),
                }),
            }
        }
    }
}

/// A CSV file read whole: the header and every data row with its line number.
pub(crate) type Rows = (Vec<String>, Vec<(u64, Vec<String>)>);

pub(crate) fn read_rows(path: &Path, report: &mut ValidationReport) -> Option<Rows> {
    let mut csv = CsvRows::open(path, report)?;
    let mut rec = csv::StringRecord::new();
    let mut rows = Vec::new();
    while let Some(line) = csv.next_row(&mut rec, report) {
        rows.push((line, rec.iter().map(|s| s.to_string()).collect()));
    }
    Some((csv.header, rows))
}

fn field(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", |s| s.trim())
}

/// A share in (0, 1], written as a fraction (0.5) or a percentage (50%). Empty means 1.
pub(crate) fn parse_share(text: &str) -> Result<Option<f64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| "not a number (write 0.5 or 50%)".to_string())?;
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(Some(v))
    } else {
        Err("a share must be greater than 0 and at most 1 (100%)".into())
    }
}

fn parse_bool(text: &str) -> Result<Option<bool>, String> {
    match text.trim().to_lowercase().as_str() {
        "" => Ok(None),
        "yes" | "y" | "true" | "1" | "是" => Ok(Some(true)),
        "no" | "n" | "false" | "0" | "否" => Ok(Some(false)),
        _ => Err("expected yes or no".into()),
    }
}

/// One org's fields as text, from a row of orgs.csv or a record in memory (an optional column the
/// file lacks is empty, which means its default).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgFields<'a> {
    pub code: &'a str,
    pub name: &'a str,
    /// Empty for the root.
    pub parent_code: &'a str,
    /// Empty means 1.
    pub equity_share: &'a str,
    /// Empty means yes.
    pub operational_control: &'a str,
}

/// One facility's fields as text, from a row of facilities.csv or a record in memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct FacilityFields<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub org_code: &'a str,
    pub province: &'a str,
    /// Empty means 1.
    pub allocation_share: &'a str,
    pub shared_with: &'a str,
}

pub fn load_orgs(path: &Path, report: &mut ValidationReport) -> Option<OrgTree> {
    let file = path.display().to_string();
    let (header, rows) = read_rows(path, report)?;
    let cols = Columns::new(&header);
    let req = match cols.require(&file, &["org_code", "name", "parent_code"], &header) {
        Ok(r) => r,
        Err(e) => {
            report.push(e);
            return None;
        }
    };
    let (equity, control) = (cols.get("equity_share"), cols.get("operational_control"));
    fn optional(row: &[String], i: Option<usize>) -> &str {
        i.map_or("", |i| field(row, i))
    }
    build_orgs(
        &file,
        rows.iter().map(|(line, row)| {
            let fields = OrgFields {
                code: field(row, req[0]),
                name: field(row, req[1]),
                parent_code: field(row, req[2]),
                equity_share: optional(row, equity),
                operational_control: optional(row, control),
            };
            (*line, fields)
        }),
        report,
    )
}

/// Validates orgs (each with its line) and builds their tree: the one set of org rules, for
/// orgs.csv and for orgs given from memory ([`crate::rows`]). `file` names where they are.
pub(crate) fn build_orgs<'a>(
    file: &str,
    rows: impl Iterator<Item = (u64, OrgFields<'a>)>,
    report: &mut ValidationReport,
) -> Option<OrgTree> {
    let mut out = Vec::new();
    // Line, code and parent of each accepted org, to name a tree error's row.
    let mut kept: Vec<(u64, String, String)> = Vec::new();
    let mut bad = 0;
    for (line, f) in rows {
        let err = |column: &str, value: &str, reason: String| RowError {
            file: file.to_string(),
            line,
            column: column.into(),
            value: value.into(),
            reason,
        };
        let before = report.total;
        let code = f.code.trim();
        if code.is_empty() {
            report.push(err("org_code", code, "empty org code".into()));
        }
        let equity_share = match parse_share(f.equity_share) {
            Err(reason) => {
                report.push(err("equity_share", f.equity_share.trim(), reason));
                None
            }
            Ok(s) => s,
        };
        let operational_control = match parse_bool(f.operational_control) {
            Err(reason) => {
                report.push(err("operational_control", f.operational_control.trim(), reason));
                None
            }
            Ok(b) => b,
        };
        if report.total > before {
            bad += 1;
            continue;
        }
        let parent = f.parent_code.trim();
        out.push(OrgRow {
            code: code.to_string(),
            name: f.name.trim().to_string(),
            parent_code: (!parent.is_empty()).then(|| parent.to_string()),
            equity_share,
            operational_control,
        });
        kept.push((line, code.to_string(), parent.to_string()));
    }
    report.count_rejected(file, bad);
    if bad > 0 {
        return None;
    }
    match OrgTree::build(out) {
        Ok(t) => Some(t),
        Err(errs) => {
            for (i, e) in errs {
                let column = match e {
                    model::OrgTreeError::UnknownParent(_)
                    | model::OrgTreeError::Cycle(_)
                    | model::OrgTreeError::SecondRoot { .. } => "parent_code",
                    _ => "org_code",
                };
                let (line, code, parent) = kept.get(i).cloned().unwrap_or_default();
                report.push(RowError {
                    file: file.to_string(),
                    line,
                    column: column.into(),
                    value: if column == "parent_code" { parent } else { code },
                    reason: e.to_string(),
                });
            }
            None
        }
    }
}

/// Facilities and the index from code to id (also the duplicate-code check).
pub type Facilities = (Vec<Facility>, rustc_hash::FxHashMap<String, FacilityId>);

pub fn load_facilities(path: &Path, orgs: Option<&OrgTree>, report: &mut ValidationReport) -> Option<Facilities> {
    let file = path.display().to_string();
    let mut csv = CsvRows::open(path, report)?;
    let header = std::mem::take(&mut csv.header);
    let cols = Columns::new(&header);
    let req = match cols.require(&file, &["facility_code", "name", "type", "org_code", "province"], &header) {
        Ok(r) => r,
        Err(e) => {
            report.push(e);
            return None;
        }
    };
    let (share_col, shared_col) = (cols.get("allocation_share"), cols.get("shared_with"));
    // Sized from the file (a facility row is rarely under 50 bytes): growing a table of millions
    // of entries step by step cost more than filling it.
    let expected = std::fs::metadata(path).map_or(0, |m| m.len() as usize / 50);
    let mut loader = FacilityLoader::new(file, orgs, expected);
    let mut rec = csv::StringRecord::new();
    while let Some(line) = csv.next_row(&mut rec, report) {
        // As written: the checks trim each field once.
        let raw = |i: usize| rec.get(i).unwrap_or("");
        let fields = FacilityFields {
            code: raw(req[0]),
            name: raw(req[1]),
            kind: raw(req[2]),
            org_code: raw(req[3]),
            province: raw(req[4]),
            allocation_share: share_col.map_or("", raw),
            shared_with: shared_col.map_or("", raw),
        };
        loader.row(line, &fields, report);
    }
    loader.finish(report)
}

/// Validates facilities one at a time: the one set of facility rules, for facilities.csv and for
/// facilities given from memory ([`crate::rows`]).
pub(crate) struct FacilityLoader<'o> {
    file: String,
    orgs: Option<&'o OrgTree>,
    out: Vec<Facility>,
    index: rustc_hash::FxHashMap<String, FacilityId>,
    lines: Vec<u64>,
    /// A few dozen spellings serve millions of facilities: parse each once.
    province_cache: rustc_hash::FxHashMap<String, Option<model::ProvinceId>>,
    bad: usize,
}

impl<'o> FacilityLoader<'o> {
    /// `orgs`: None when the orgs did not load (facilities are still checked, but none is kept).
    pub(crate) fn new(file: String, orgs: Option<&'o OrgTree>, expected: usize) -> FacilityLoader<'o> {
        FacilityLoader {
            file,
            orgs,
            out: Vec::with_capacity(expected),
            index: rustc_hash::FxHashMap::with_capacity_and_hasher(expected, Default::default()),
            lines: Vec::with_capacity(expected),
            province_cache: Default::default(),
            bad: 0,
        }
    }

    #[inline]
    pub(crate) fn row(&mut self, line: u64, f: &FacilityFields, report: &mut ValidationReport) {
        let file = &self.file;
        let err = |column: &str, value: &str, reason: String| RowError {
            file: file.clone(),
            line,
            column: column.into(),
            value: value.into(),
            reason,
        };
        let before = report.total;
        let code = f.code.trim();
        if code.is_empty() {
            report.push(err("facility_code", code, "empty facility code".into()));
        } else {
            // One lookup: the index has millions of entries, and each probe is a cache miss.
            match self.index.entry(code.to_string()) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    let first = self.lines[*e.get() as usize];
                    report.push(err(
                        "facility_code",
                        code,
                        format!("duplicate facility code, first defined on line {first}"),
                    ));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    // Codes of rejected rows are registered too, so a later duplicate is still
                    // reported. When every row is accepted (the only case that yields facilities)
                    // the slot is the id.
                    v.insert(self.lines.len() as FacilityId);
                    self.lines.push(line);
                }
            }
        }
        let kind_text = f.kind.trim();
        let kind = FacilityType::parse(kind_text);
        if kind.is_none() {
            let known: Vec<_> = FacilityType::ALL.iter().map(|t| t.code()).collect();
            report.push(err("type", kind_text, format!("unknown facility type; expected one of {}", known.join(", "))));
        }
        let org_text = f.org_code.trim();
        let org = self.orgs.and_then(|t| t.get(org_text));
        if self.orgs.is_some() && org.is_none() {
            report.push(err("org_code", org_text, "unknown org: not an org_code in orgs.csv".into()));
        }
        let prov_text = f.province.trim();
        let province = match self.province_cache.get(prov_text) {
            Some(&p) => p,
            None => *self.province_cache.entry(prov_text.to_string()).or_insert_with(|| parse_province(prov_text)),
        };
        if province.is_none() {
            report.push(err(
                "province",
                prov_text,
                "unknown province: write the Chinese name (北京) or the pinyin (Beijing)".into(),
            ));
        }
        let share = match parse_share(f.allocation_share) {
            Err(reason) => {
                report.push(err("allocation_share", f.allocation_share.trim(), reason));
                1.0
            }
            Ok(s) => s.unwrap_or(1.0),
        };
        if report.total > before {
            self.bad += 1;
            return;
        }
        if let (Some(kind), Some(org), Some(province)) = (kind, org, province) {
            self.out.push(Facility {
                code: code.to_string(),
                name: f.name.trim().to_string(),
                kind,
                org,
                province,
                allocation_share: share,
                shared_with: f.shared_with.trim().to_string(),
            });
        }
    }

    pub(crate) fn finish(self, report: &mut ValidationReport) -> Option<Facilities> {
        report.count_rejected(&self.file, self.bad);
        (self.bad == 0 && self.orgs.is_some()).then_some((self.out, self.index))
    }
}
