//! Disclosure reports (透明的行动), pure: the report's data model built from a computed inventory
//! (for the platform, the recomputation of an approved snapshot, which equals its stored result),
//! and its renderings as CSV, XLSX and PDF, all in memory (no files, no clock, no environment: the
//! font is given). The same input gives the same bytes.
//!
//! A report is sections of tables; every number is a [`Cell::Num`] that names the [`Reference`]
//! (method and the factors with their sets, versions and sources) it was computed with, and the
//! report records what it was built from (snapshot id) and the SHA-256 of its own content.

pub mod build;
pub mod csv;
pub mod pdf;
pub mod uncertainty;
pub mod xlsx;

pub use build::{
    breakdown_masks, build, figures_with, InclusiveRow, Input, PlatformData, Previous, Procurement, Restatement,
    SavingProject, Source, TargetProgress,
};
use serde::Serialize;

/// The language a report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
    /// The text in this language.
    pub fn t<T>(self, zh: T, en: T) -> T {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// Which report: the full GHG inventory report (every section), or one audience's part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// ISO 14064-1 / GHG Protocol inventory report with the capital-market and government tables.
    Inventory,
    /// HKEX ESG Reporting Code KPIs, IFRS S2 climate metrics and the 2024 A-share climate tables.
    CapitalMarket,
    /// The key energy-using unit report (重点用能单位能源利用状况报告) and emissions by source.
    Government,
}

impl Template {
    pub const ALL: [Template; 3] = [Template::Inventory, Template::CapitalMarket, Template::Government];
    pub fn parse(s: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.code() == s)
    }
    pub fn code(self) -> &'static str {
        match self {
            Template::Inventory => "inventory",
            Template::CapitalMarket => "capital-market",
            Template::Government => "government",
        }
    }
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Xlsx,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "pdf" => Some(Format::Pdf),
            "xlsx" => Some(Format::Xlsx),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    /// A figure, its decimals when printed, and the reference it was computed with.
    Num {
        v: f64,
        dp: u8,
        r: Option<u32>,
    },
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    pub fn num(v: f64, dp: u8, r: Option<u32>) -> Cell {
        Cell::Num { v, dp, r }
    }
    /// The cell as printed (PDF, and the CSV's `printed` column): fixed decimals, thousands
    /// separated by commas, the reference as `[n]`.
    pub fn printed(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num { v, dp, .. } => format_number(*v, *dp),
        }
    }
}

/// `1234567.891` with 2 decimals → `1,234,567.89`.
pub fn format_number(v: f64, dp: u8) -> String {
    let s = format!("{:.*}", dp as usize, v.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (s.clone(), None),
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let negative = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = if negative { format!("-{grouped}") } else { grouped };
    if let Some(f) = frac {
        out.push('.');
        out.push_str(&f);
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub key: String,
    pub label: String,
    /// The unit of the column's figures ("" for text).
    pub unit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Stable id (also the XLSX sheet's and the CSV's table name).
    pub id: String,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub notes: Vec<String>,
}

/// A bar chart of a few figures that also stand in a table.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub bars: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
}

/// How figures were computed: the method and every factor used (id, set and version, value,
/// source), cited as `[n]` by the figures.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub id: u32,
    pub method: String,
    pub factors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub lang: Lang,
    pub template: Template,
    pub title: String,
    pub org_code: String,
    pub org_name: String,
    pub year: i32,
    /// The approved snapshot the report is built from (None: a data directory).
    pub snapshot: Option<i64>,
    /// What it was built from, in words (snapshot, approval, data directory).
    pub source: String,
    pub library_version: String,
    pub library_fingerprint: String,
    pub sections: Vec<Section>,
    pub references: Vec<Reference>,
    /// SHA-256 of the report's content (everything above, as canonical JSON): the same snapshot
    /// and template in the same language give the same hash and the same bytes in every format.
    pub hash: String,
}

impl Report {
    /// Every table of the report in order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.sections.iter().flat_map(|s| s.tables.iter())
    }
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables().find(|t| t.id == id)
    }
    /// The figure of table `id` in the row whose first cell is `row` and the column `col`.
    pub fn figure(&self, id: &str, row: &str, col: &str) -> Option<f64> {
        let t = self.table(id)?;
        let c = t.columns.iter().position(|c| c.key == col)?;
        let r = t.rows.iter().find(|r| matches!(&r[0], Cell::Text(s) if s == row))?;
        match &r[c] {
            Cell::Num { v, .. } => Some(*v),
            Cell::Text(_) => None,
        }
    }
    /// The file name of the report in `format`.
    pub fn file_name(&self, format: Format) -> String {
        let id = self.snapshot.map_or_else(|| format!("{}-{}", self.org_code, self.year), |s| format!("snapshot-{s}"));
        format!("{}-{id}-{}.{}", self.template.code(), self.lang.code(), format.code())
    }
}

/// Why a report is not produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ReportError {
    /// Months of the period without any activity record in the org's subtree.
    MissingMonths {
        months: Vec<u8>,
    },
    /// The org has no activity at all.
    NoActivity,
    /// The font cannot be read or lacks glyphs the report needs.
    Font {
        reason: String,
    },
    Write {
        reason: String,
    },
}

impl ReportError {
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::MissingMonths { .. } => "missing_months",
            ReportError::NoActivity => "no_activity",
            ReportError::Font { .. } => "font",
            ReportError::Write { .. } => "write",
        }
    }
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::MissingMonths { months } => {
                let list: Vec<String> = months.iter().map(|m| m.to_string()).collect();
                write!(f, "the period has months without any activity record: {}", list.join(", "))
            }
            ReportError::NoActivity => write!(f, "the org has no activity records in the period"),
            ReportError::Font { reason } => write!(f, "font: {reason}"),
            ReportError::Write { reason } => write!(f, "writing the report: {reason}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// Renders `report` in `format`; a PDF needs the font (the file's bytes and the face's index in
/// a collection).
pub fn render(report: &Report, format: Format, font: Option<(&[u8], u32)>) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::Csv => Ok(csv::write(report).into_bytes()),
        Format::Xlsx => xlsx::write(report).map_err(|e| ReportError::Write { reason: e.to_string() }),
        Format::Pdf => {
            let (data, index) = font.ok_or_else(|| ReportError::Font { reason: "no font given".into() })?;
            pdf::write(report, data, index)
        }
    }
}

/// Where the report looks for a Chinese font when none is given (Debian packages fonts-noto-cjk,
/// fonts-wqy-microhei, fonts-wqy-zenhei), with the face to use in the collection.
pub const FONT_PATHS: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(format_number(1234567.891, 2), "1,234,567.89");
        assert_eq!(format_number(-1234.6, 0), "-1,235");
        assert_eq!(format_number(-0.0001, 2), "0.00");
        assert_eq!(format_number(999.999, 2), "1,000.00");
        assert_eq!(format_number(12.0, 1), "12.0");
    }
}
