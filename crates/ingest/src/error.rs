use serde::Serialize;
use std::fmt;

/// One problem in an input file: where it is, what was there, and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub file: String,
    /// 1-based line in the file (the header is line 1); 0 for a whole-file problem.
    pub line: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
}

impl RowError {
    /// The stable code of the problem (snake_case), for programs and for the console, which words
    /// it in the user's language with the row's `column` and `value`; `reason` stays the English
    /// text. One place for every reason an activity row is refused for (the checks in
    /// `activity.rs`, `line.rs` and `model::Carrier::parse` word them):
    /// `bad_line` (a line that is not one clean row: too long, NUL or CR, wrong number of fields),
    /// `unknown_facility`, `duplicate_key`, `period_outside_year`, `bad_period`,
    /// `carrier_needs_detail`, `unknown_carrier`, `unknown_unit`, `unit_dimension_mismatch`,
    /// `quantity_not_finite`, `negative_quantity`, `quantity_not_a_number`; `other` for a reason of
    /// another file (orgs, facilities).
    pub fn code(&self) -> &'static str {
        let r = self.reason.as_str();
        match self.column.as_str() {
            "" => "bad_line",
            c if c.contains(',') => "duplicate_key",
            "facility_code" if r.starts_with("unknown facility") => "unknown_facility",
            "period" if r.starts_with("period is in ") => "period_outside_year",
            "period" => "bad_period",
            "carrier" if r.contains("needs a detail") => "carrier_needs_detail",
            "carrier" => "unknown_carrier",
            "unit" if r.starts_with("unknown unit") => "unknown_unit",
            "unit" => "unit_dimension_mismatch",
            "quantity" if r.starts_with("not a finite") => "quantity_not_finite",
            "quantity" if r.starts_with("negative quantity") => "negative_quantity",
            "quantity" => "quantity_not_a_number",
            _ => "other",
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}: column {}: value {:?}: {}", self.file, self.line, self.column, self.value, self.reason)
        }
    }
}

/// Every problem found in a data directory. A load with any error yields no dataset: an
/// inventory never silently skips data.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationReport {
    /// The first [`MAX_KEPT_ERRORS`] errors in file order.
    pub errors: Vec<RowError>,
    /// The number of errors found, including those not kept.
    pub total: usize,
    /// Number of rows with at least one error, per file.
    pub rejected_rows: Vec<(String, usize)>,
}

/// Errors kept in memory for display; the count covers all of them.
pub const MAX_KEPT_ERRORS: usize = 100_000;

impl ValidationReport {
    pub fn push(&mut self, e: RowError) {
        self.total += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(e);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    pub fn count_rejected(&mut self, file: &str, rows: usize) {
        if rows > 0 {
            self.rejected_rows.push((file.to_string(), rows));
        }
    }
    pub fn merge(&mut self, other: ValidationReport) {
        self.total += other.total;
        for e in other.errors {
            if self.errors.len() < MAX_KEPT_ERRORS {
                self.errors.push(e);
            }
        }
        self.rejected_rows.extend(other.rejected_rows);
    }
    /// Writes every kept error as CSV (file,line,column,value,reason).
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> std::io::Result<()> {
        let mut out = csv::Writer::from_writer(w);
        out.write_record(["file", "line", "column", "value", "reason"])?;
        for e in &self.errors {
            out.write_record([e.file.as_str(), &e.line.to_string(), &e.column, &e.value, &e.reason])?;
        }
        out.flush()
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        if self.total > self.errors.len() {
            writeln!(f, "... and {} more errors", self.total - self.errors.len())?;
        }
        for (file, n) in &self.rejected_rows {
            writeln!(f, "{file}: {n} row(s) rejected")?;
        }
        write!(f, "{} error(s) in total; nothing was computed", self.total)
    }
}
