//! Ingest: reads a data directory (`orgs.csv`, `facilities.csv`, `activity.csv` or one
//! `activity-YYYY.csv` per year (see [`activity_path`]), optional `factors/`) into a validated [`model::Dataset`] and factor [`factors::Library`]. Every problem
//! of every file is reported at once, naming file, line, column, value and reason; a directory
//! with any problem yields no dataset, so nothing is computed from data that was partly skipped.

mod activity;
mod error;
mod tables;

pub use activity::{check_duplicate_keys, load_activity};
pub use error::{RowError, ValidationReport, MAX_KEPT_ERRORS};
pub use tables::{load_facilities, load_orgs};

use factors::Library;
use model::Dataset;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    pub orgs: usize,
    pub facilities: usize,
    pub activity_rows: usize,
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
    let facilities = load_facilities(&dir.join("facilities.csv"), orgs.as_ref(), &mut report);
    let mut ds = Dataset { year, strings: model::StringPool::new(), ..Default::default() };
    let mut stats = LoadStats::default();
    if let (Some(orgs), Some((facilities, index))) = (orgs, facilities) {
        stats.orgs = orgs.orgs.len();
        stats.facilities = facilities.len();
        ds.orgs = orgs;
        ds.facilities = facilities;
        ds.facility_index = index;
        // Activity goes into a second dataset while the parser borrows the facility index of the first.
        let mut loaded = Dataset { year, strings: model::StringPool::new(), ..Default::default() };
        match activity_path(dir, year) {
            Ok(path) => {
                stats.activity_rows = load_activity(&path, &mut loaded, &ds.facility_index, threads, &mut report)
            }
            Err(e) => report.push(e),
        }
        ds.activity = loaded.activity;
        ds.carriers = loaded.carriers;
        ds.files = loaded.files;
        ds.strings = loaded.strings;
        if report.is_empty() {
            check_duplicate_keys(&ds, &mut report);
        }
    } else {
        report.push(RowError {
            file: activity_path(dir, year).unwrap_or_else(|_| dir.join("activity.csv")).display().to_string(),
            line: 0,
            column: String::new(),
            value: String::new(),
            reason: "not read: fix orgs.csv and facilities.csv first (activity rows refer to them)".into(),
        });
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
