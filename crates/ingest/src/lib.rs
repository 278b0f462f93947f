//! Ingest: reads a data directory (`orgs.csv`, `facilities.csv`, `activity.csv` or one
//! `activity-YYYY.csv` per year (see [`activity_path`]), optional `factors/`) into a validated [`model::Dataset`] and factor [`factors::Library`]. Every problem
//! of every file is reported at once, naming file, line, column, value and reason; a directory
//! with any problem yields no dataset, so nothing is computed from data that was partly skipped.
//!
//! The same data can come from memory instead of files ([`rows`]: the platform's stored rows, an
//! upload read once): each row is checked by the same code, in the same words, and gets its own
//! verdict.

mod activity;
mod error;
pub mod line;
mod number;
pub mod rows;
mod tables;

pub use activity::{canonical_column, check_duplicate_keys, column_name_zh, load_activity, COLUMN_NAMES_ZH};
pub use error::{RowError, ValidationReport, MAX_KEPT_ERRORS};
pub use rows::{load_rows, ActivityFields, ActivityRows, Record, Reference, RowVerdict, SourceId};
pub use tables::{load_facilities, load_orgs, FacilityFields, OrgFields};

use factors::Library;
use model::Dataset;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    pub orgs: usize,
    pub facilities: usize,
    pub activity_rows: usize,
}

fn not_read(dir: &Path, year: i32) -> RowError {
    RowError {
        file: activity_path(dir, year).unwrap_or_else(|_| dir.join("activity.csv")).display().to_string(),
        line: 0,
        column: String::new(),
        value: String::new(),
        reason: "not read: fix orgs.csv and facilities.csv first (activity rows refer to them)".into(),
    }
}

/// Loads the data directory for inventory year `year`.
pub fn load_dir(dir: &Path, year: i32, threads: usize) -> Result<(Dataset, LoadStats), ValidationReport> {
    let mut report = ValidationReport::default();
    if !dir.is_dir() {
        report.push(RowError {
            file: dir.display().to_string(),
            line: 0,
            column: String::new(),
            value: String::new(),
            reason: "not a directory: give the folder holding orgs.csv, facilities.csv and activity.csv".into(),
        });
        return Err(report);
    }
    let orgs = load_orgs(&dir.join("orgs.csv"), &mut report);
    let mut ds = Dataset { year, strings: model::StringPool::new(), ..Default::default() };
    let mut stats = LoadStats::default();
    let Some(orgs) = orgs else {
        // Facilities are still checked, so every problem is listed at once; activity is not read.
        load_facilities(&dir.join("facilities.csv"), None, &mut report);
        report.push(not_read(dir, year));
        return Err(report);
    };
    // facilities.csv loads on its own thread while the workers parse activity.csv; activity rows
    // refer to facilities by code, which is looked up once both are done.
    // The year's own file (activity-YYYY.csv) in a multi-year directory, else activity.csv; a
    // directory holding both for the year is refused (nothing is parsed then).
    let activity_file = activity_path(dir, year);
    let cancel = AtomicBool::new(false);
    let (facilities, fac_report, parsed) = std::thread::scope(|s| {
        let facilities = s.spawn(|| {
            let mut r = ValidationReport::default();
            let f = load_facilities(&dir.join("facilities.csv"), Some(&orgs), &mut r);
            if f.is_none() {
                cancel.store(true, Ordering::Relaxed);
            }
            (f, r)
        });
        let parsed = activity_file
            .as_ref()
            .ok()
            .map(|path| activity::parse_activity(path, year, Vec::new(), model::StringPool::new(), threads, &cancel));
        let (f, r) = facilities.join().expect("facilities thread");
        (f, r, parsed)
    });
    report.merge(fac_report);
    if let Some((facilities, index)) = facilities {
        stats.orgs = orgs.orgs.len();
        stats.facilities = facilities.len();
        ds.orgs = orgs;
        ds.facilities = facilities;
        ds.facility_index = index;
        // Activity goes into a second dataset while the facility index of the first is borrowed.
        let mut loaded = Dataset { year, strings: model::StringPool::new(), ..Default::default() };
        match (parsed, activity_file) {
            (Some(parsed), _) => {
                stats.activity_rows =
                    activity::resolve_activity(parsed, &ds.facility_index, threads, &mut loaded, &mut report)
            }
            (None, Err(e)) => report.push(e),
            (None, Ok(_)) => unreachable!("activity is parsed whenever its file is known"),
        }
        ds.activity = loaded.activity;
        ds.carriers = loaded.carriers;
        ds.files = loaded.files;
        ds.strings = loaded.strings;
        if report.is_empty() {
            activity::check_duplicates(&ds, &mut report, threads);
        }
    } else {
        report.push(not_read(dir, year));
    }
    if report.is_empty() {
        Ok((ds, stats))
    } else {
        Err(report)
    }
}

/// The activity file of `year` in `dir`: `activity-YYYY.csv` when the directory holds one for the
/// year (a multi-year directory, e.g. `dualcarbon demo generate --years`), else `activity.csv`.
/// Both at once is an error: a year's records live in one file, so none can be left out unseen.
pub fn activity_path(dir: &Path, year: i32) -> Result<std::path::PathBuf, RowError> {
    let single = dir.join("activity.csv");
    let per_year = dir.join(format!("activity-{year}.csv"));
    if !per_year.exists() {
        return Ok(single);
    }
    if single.exists() {
        return Err(RowError {
            file: single.display().to_string(),
            line: 0,
            column: String::new(),
            value: String::new(),
            reason: format!(
                "the directory holds both activity.csv and activity-{year}.csv: keep a year's records in one file \
                 (rename activity.csv to activity-<its year>.csv)"
            ),
        });
    }
    Ok(per_year)
}

/// The shipped library plus the user factor sets in `dir/factors/` (if present) and in `extra`.
pub fn load_library(dir: Option<&Path>, extra: Option<&Path>) -> Result<Library, ValidationReport> {
    let mut lib = Library::shipped();
    let mut report = ValidationReport::default();
    for folder in [dir.map(|d| d.join("factors")), extra.map(Path::to_path_buf)].into_iter().flatten() {
        if !folder.is_dir() {
            if Some(folder.as_path()) == extra {
                report.push(RowError {
                    file: folder.display().to_string(),
                    line: 0,
                    column: String::new(),
                    value: String::new(),
                    reason: "factor folder does not exist".into(),
                });
            }
            continue;
        }
        if let Err(errs) = lib.add_user_dir(&folder) {
            for e in errs {
                report.push(RowError { file: e.file, line: 0, column: e.field, value: e.factor, reason: e.reason });
            }
        }
    }
    if report.is_empty() {
        Ok(lib)
    } else {
        Err(report)
    }
}
