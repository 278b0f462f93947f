//! Input from memory: orgs, facilities and activity rows given as text fields (rows of a database,
//! an upload read once, any iterator) instead of files. Each row goes through the same checks, in
//! the same words, as a row of a file (`tables::build_orgs`, `tables::FacilityLoader`,
//! `activity::Checker::values`, the same unknown-facility and duplicate-key errors), and gets its
//! verdict at once: accepted, or refused with every reason.
//!
//! A row names its source (registered with [`ActivityRows::source`], e.g. "filing 12") and its
//! line there; errors and the dataset's lineage (`Dataset::files`, `ActivityTable::line`) carry
//! both, so a problem is reported where the row came from.

use crate::activity::{
    duplicate_key, first_use_order, record_key, text, trim, unknown_facility, Caches, CarrierRegistry, Checker,
};
use crate::error::{RowError, ValidationReport};
use crate::line::RawRow;
use crate::tables::{build_orgs, FacilityFields, FacilityLoader, OrgFields};
use model::{ActivityTable, Carrier, Dataset, Facility, OrgTree, StringPool};
use rustc_hash::FxHashMap;
use std::sync::Mutex;

/// One activity row's fields as text (the columns of activity.csv); an optional column that is
/// not there is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActivityFields<'a> {
    pub facility_code: &'a str,
    pub period: &'a str,
    pub carrier: &'a str,
    pub quantity: &'a str,
    pub unit: &'a str,
    pub source_document: &'a str,
    pub evidence_ref: &'a str,
}

impl<'a> ActivityFields<'a> {
    /// The fields in the order of [`crate::line::ACTIVITY_COLUMNS`].
    pub fn from_columns(f: &'a [String; 7]) -> ActivityFields<'a> {
        ActivityFields {
            facility_code: &f[0],
            period: &f[1],
            carrier: &f[2],
            quantity: &f[3],
            unit: &f[4],
            source_document: &f[5],
            evidence_ref: &f[6],
        }
    }
}

/// Where a row comes from: an index into the sources registered with [`ActivityRows::source`].
pub type SourceId = u16;

/// A row's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct RowVerdict {
    /// Every reason the row is refused, in the order of its columns (duplicate key last); empty
    /// when it is accepted.
    pub errors: Vec<RowError>,
    /// What the row became when its fields are valid: also set for a row refused only because it
    /// repeats an earlier row's key.
    pub record: Option<Record>,
}

impl RowVerdict {
    pub fn accepted(&self) -> bool {
        self.errors.is_empty()
    }
}

/// An activity record as read: its facility (index in the facilities given) and month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub facility: u32,
    pub month: u8,
}

/// Activity rows read one at a time for inventory year `year`, against facilities indexed by code.
/// Accepted rows are kept in a columnar table (as a file's are); [`ActivityRows::finish`] hands it
/// over.
pub struct ActivityRows<'f> {
    year: i32,
    facilities: &'f FxHashMap<String, u32>,
    registry: Mutex<CarrierRegistry>,
    caches: Caches,
    table: ActivityTable,
    pool: StringPool,
    files: Vec<String>,
    /// The last facility code looked up and its id: a facility's rows come together.
    last_facility: Option<(Vec<u8>, Option<u32>)>,
    /// The last source document and evidence reference interned, and their ids: bills repeat
    /// from row to row.
    last_strings: [(Vec<u8>, u32); 2],
    /// Keys seen so far and where each was (source, line), when every verdict must include the
    /// duplicate-key check. A key is [`key_words`]: 20 bytes a row with its place.
    keys: Option<FxHashMap<[u32; 3], (SourceId, u32)>>,
    /// Whether accepted rows are kept (for a dataset) or only judged.
    keep: bool,
    rows: usize,
    rejected: usize,
}

/// The accepted rows of an [`ActivityRows`], ready to join their facilities in a dataset.
pub struct LoadedActivity {
    pub activity: ActivityTable,
    pub carriers: Vec<Carrier>,
    pub strings: StringPool,
    pub files: Vec<String>,
    /// Rows read, and rows refused.
    pub rows: usize,
    pub rejected: usize,
    /// Whether duplicate keys were checked row by row ([`ActivityRows::with_duplicate_check`]).
    duplicates_checked: bool,
}

impl<'f> ActivityRows<'f> {
    pub fn new(year: i32, facilities: &'f FxHashMap<String, u32>) -> ActivityRows<'f> {
        ActivityRows {
            year,
            facilities,
            registry: Mutex::new(CarrierRegistry { carriers: Vec::new() }),
            caches: Caches::default(),
            table: ActivityTable::default(),
            pool: StringPool::new(),
            files: Vec::new(),
            last_facility: None,
            last_strings: [(Vec::new(), 0), (Vec::new(), 0)],
            keys: None,
            keep: true,
            rows: 0,
            rejected: 0,
        }
    }

    /// Checks every row against the rows before it as it comes, so that a verdict says whether
    /// the row repeats an earlier one's key (an upload whose rows are stored as they are judged).
    /// Without it, duplicate keys are found once all rows are in ([`Reference::dataset`]), which
    /// needs no memory per key.
    pub fn with_duplicate_check(mut self) -> ActivityRows<'f> {
        self.keys = Some(FxHashMap::default());
        self
    }

    /// Room for the duplicate check of about `rows` rows, taken at once rather than by doubling
    /// (which holds both tables while it copies).
    pub fn reserve(&mut self, rows: usize) {
        if let Some(keys) = &mut self.keys {
            keys.reserve(rows);
        }
    }

    /// Gives each row's verdict without keeping the accepted rows (an upload whose rows are stored
    /// elsewhere as they are judged): memory stays at the keys of the duplicate check.
    pub fn verdicts_only(mut self) -> ActivityRows<'f> {
        self.keep = false;
        self
    }

    /// Registers a source of rows (its name is what errors and lineage call it); None past 65,536
    /// sources.
    pub fn source(&mut self, name: &str) -> Option<SourceId> {
        let id = SourceId::try_from(self.files.len()).ok()?;
        self.files.push(name.to_string());
        Some(id)
    }

    fn facility(&mut self, code: &[u8]) -> Option<u32> {
        if let Some((last, id)) = &self.last_facility {
            if last == code {
                return *id;
            }
        }
        let id = std::str::from_utf8(code).ok().and_then(|c| self.facilities.get(c)).copied();
        let (last, last_id) = self.last_facility.get_or_insert_with(|| (Vec::new(), None));
        last.clear();
        last.extend_from_slice(code);
        *last_id = id;
        id
    }

    /// The id of a source document (`which` 0) or evidence reference (1): the same text as the
    /// file's parser keeps (trimmed); 0 is the empty string.
    fn intern(&mut self, which: usize, s: &str) -> u32 {
        let s = trim(s.as_bytes());
        if s.is_empty() {
            return 0;
        }
        let (last, id) = &mut self.last_strings[which];
        if *id != 0 && last == s {
            return *id;
        }
        *id = self.pool.intern(&String::from_utf8_lossy(s));
        last.clear();
        last.extend_from_slice(s);
        *id
    }

    /// Reads one row (line `line` of `source`) and gives its verdict; an accepted row joins the
    /// table.
    pub fn push(&mut self, source: SourceId, line: u64, f: &ActivityFields) -> RowVerdict {
        self.rows += 1;
        let code = trim(f.facility_code.as_bytes());
        let facility = self.facility(code);
        let file = self.files[source as usize].as_str();
        let mut errors = Vec::new();
        if facility.is_none() {
            errors.push(unknown_facility(file, line, code));
        }
        let check = Checker { year: self.year, registry: &self.registry };
        let mut err = |column: &str, value: &[u8], reason: String| {
            errors.push(RowError { file: file.to_string(), line, column: column.into(), value: text(value), reason })
        };
        let values = check.values(
            &mut self.caches,
            trim(f.period.as_bytes()),
            trim(f.carrier.as_bytes()),
            trim(f.unit.as_bytes()),
            trim(f.quantity.as_bytes()),
            &mut err,
        );
        let (Some(facility), Some(v)) = (facility, values) else {
            self.rejected += 1;
            return RowVerdict { errors, record: None };
        };
        let doc = self.intern(0, f.source_document);
        let ev = self.intern(1, f.evidence_ref);
        let record = Some(Record { facility, month: v.month });
        let file = self.files[source as usize].as_str();
        if let Some(keys) = &mut self.keys {
            let key = key_words(facility, v.month, v.carrier, doc);
            if let Some((first_source, first_line)) = keys.insert(key, (source, line as u32)) {
                let registry = self.registry.lock().expect("carrier registry");
                errors.push(duplicate_key(
                    (file, line),
                    &String::from_utf8_lossy(code),
                    self.year,
                    v.month,
                    &registry.carriers[v.carrier as usize].code,
                    self.pool.get(doc),
                    (&self.files[first_source as usize], first_line as u64),
                ));
            }
        }
        if !errors.is_empty() {
            self.rejected += 1;
        }
        if !self.keep {
            return RowVerdict { errors, record };
        }
        let t = &mut self.table;
        t.facility.push(facility);
        t.month.push(v.month);
        t.carrier.push(v.carrier);
        t.quantity.push(v.quantity);
        t.unit.push(v.unit);
        t.file.push(source);
        t.line.push(line as u32);
        t.source_document.push(doc);
        t.evidence.push(ev);
        RowVerdict { errors, record }
    }

    /// Reads one row of an upload read with [`crate::line::ActivityRowReader`]: a line that is not
    /// a row (it does not split into the header's fields, holds bytes that are not text, ...) is
    /// refused for that, as the file's parser refuses it.
    pub fn push_raw(&mut self, source: SourceId, row: &RawRow) -> RowVerdict {
        match &row.problem {
            Some(p) => {
                self.rows += 1;
                self.rejected += 1;
                let error = RowError {
                    file: self.files[source as usize].clone(),
                    line: row.line,
                    column: String::new(),
                    value: p.start.clone(),
                    reason: p.reason.clone(),
                };
                RowVerdict { errors: vec![error], record: None }
            }
            None => self.push(source, row.line, &ActivityFields::from_columns(&row.fields)),
        }
    }

    /// Rows read so far, and rows refused.
    pub fn counts(&self) -> (usize, usize) {
        (self.rows, self.rejected)
    }

    /// The accepted rows (with a row refused only for its duplicate key, when checked row by row).
    pub fn finish(self) -> LoadedActivity {
        let mut table = self.table;
        let mut carriers = self.registry.into_inner().expect("carrier registry").carriers;
        // Numbered in order of first use, as a file's carriers are: the same rows give the same
        // dataset, whichever way they came.
        first_use_order(&mut carriers, 0, &mut table.carrier);
        LoadedActivity {
            activity: table,
            carriers,
            strings: self.pool,
            files: self.files,
            rows: self.rows,
            rejected: self.rejected,
            duplicates_checked: self.keys.is_some(),
        }
    }
}

/// The words of a record's key (the facility and [`record_key`]'s month, carrier and source
/// document), packed for the row-by-row duplicate check.
fn key_words(facility: u32, month: u8, carrier: u16, source_document: u32) -> [u32; 3] {
    let k = record_key(month, carrier, source_document);
    [facility, (k >> 32) as u32, k as u32]
}

/// Orgs and facilities given from memory, validated: what activity rows refer to.
pub struct Reference {
    pub orgs: OrgTree,
    pub facilities: Vec<Facility>,
    /// Facility ids by code.
    pub index: FxHashMap<String, u32>,
}

impl Reference {
    /// Validates orgs and facilities given as text fields (record `n` of each is reported as
    /// line `n` of `orgs` and `facilities`), with the rules of orgs.csv and facilities.csv.
    /// Every problem goes to `report`; None if there is any.
    pub fn from_records<'a>(
        orgs: impl IntoIterator<Item = OrgFields<'a>>,
        facilities: impl IntoIterator<Item = FacilityFields<'a>>,
        report: &mut ValidationReport,
    ) -> Option<Reference> {
        let tree = build_orgs("orgs", orgs.into_iter().enumerate().map(|(i, o)| (i as u64 + 1, o)), report);
        let mut loader = FacilityLoader::new("facilities".into(), tree.as_ref(), 0);
        for (i, f) in facilities.into_iter().enumerate() {
            loader.row(i as u64 + 1, &f, report);
        }
        let (facilities, index) = loader.finish(report)?;
        Some(Reference { orgs: tree?, facilities, index })
    }

    /// A reader of activity rows for `year` against these facilities.
    pub fn rows(&self, year: i32) -> ActivityRows<'_> {
        ActivityRows::new(year, &self.index)
    }

    /// The dataset of these orgs and facilities and the rows read: checked for duplicate keys
    /// (on `threads` threads) unless the rows were checked one by one. Every problem goes to
    /// `report` (which also holds the rows' own errors, if the caller put them there); the dataset
    /// only if `report` is empty, as with a data directory.
    pub fn dataset(
        self,
        year: i32,
        rows: LoadedActivity,
        threads: usize,
        report: &mut ValidationReport,
    ) -> Option<Dataset> {
        let ds = Dataset {
            year,
            orgs: self.orgs,
            facilities: self.facilities,
            facility_index: self.index,
            carriers: rows.carriers,
            activity: rows.activity,
            files: rows.files,
            strings: rows.strings,
        };
        if report.is_empty() && !rows.duplicates_checked {
            crate::activity::check_duplicates(&ds, report, threads);
        }
        report.is_empty().then_some(ds)
    }
}

/// A dataset from orgs, facilities and activity rows in memory: every problem of every row in
/// the report (as with [`crate::load_dir`]), each activity row named by its source and line.
/// `rows` yields (source name, line, fields); rows of one source come together.
pub fn load_rows<'a, S: AsRef<str>>(
    year: i32,
    orgs: impl IntoIterator<Item = OrgFields<'a>>,
    facilities: impl IntoIterator<Item = FacilityFields<'a>>,
    rows: impl IntoIterator<Item = (S, u64, ActivityFields<'a>)>,
    threads: usize,
) -> Result<Dataset, ValidationReport> {
    let mut report = ValidationReport::default();
    let Some(reference) = Reference::from_records(orgs, facilities, &mut report) else {
        return Err(report);
    };
    let mut reader = reference.rows(year);
    let mut current: Option<(String, SourceId)> = None;
    for (source, line, fields) in rows {
        let id = match &current {
            Some((name, id)) if name == source.as_ref() => *id,
            _ => {
                let Some(id) = reader.source(source.as_ref()) else {
                    report.push(RowError {
                        file: source.as_ref().to_string(),
                        line: 0,
                        column: String::new(),
                        value: String::new(),
                        reason: "more than 65,536 sources of activity rows".into(),
                    });
                    return Err(report);
                };
                current = Some((source.as_ref().to_string(), id));
                id
            }
        };
        for e in reader.push(id, line, &fields).errors {
            report.push(e);
        }
    }
    let loaded = reader.finish();
    if loaded.rejected > 0 {
        // Counted per source, as a file's rejected rows are.
        report.count_rejected("activity rows", loaded.rejected);
    }
    reference.dataset(year, loaded, threads, &mut report).ok_or(report)
}
