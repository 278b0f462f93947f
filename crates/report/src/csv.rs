//! The report as one CSV (RFC 4180, UTF-8): one line per cell of every table, in order, with the
//! figure at full precision, as printed, its unit and its reference; then the report's identity
//! (`report` lines) and the references.

use crate::{Cell, Report};

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn line(out: &mut String, fields: &[&str]) {
    let f: Vec<String> = fields.iter().map(|s| field(s)).collect();
    out.push_str(&f.join(","));
    out.push_str("\r\n");
}

pub fn write(r: &Report) -> String {
    let mut out = String::new();
    line(&mut out, &["table", "row", "key", "column", "label", "value", "unit", "printed", "reference"]);
    let snapshot = r.snapshot.map(|s| s.to_string()).unwrap_or_default();
    let year = r.year.to_string();
    for (k, v) in [
        ("title", r.title.as_str()),
        ("org", r.org_code.as_str()),
        ("year", year.as_str()),
        ("snapshot", snapshot.as_str()),
        ("source", r.source.as_str()),
        ("library_version", r.library_version.as_str()),
        ("library_fingerprint", r.library_fingerprint.as_str()),
        ("template", r.template.code()),
        ("lang", r.lang.code()),
        ("hash", r.hash.as_str()),
    ] {
        line(&mut out, &["report", "", "", k, k, v, "", v, ""]);
    }
    for t in r.tables() {
        for (i, row) in t.rows.iter().enumerate() {
            let key = row.first().map(Cell::printed).unwrap_or_default();
            let n = (i + 1).to_string();
            for (c, cell) in row.iter().enumerate().skip(1) {
                let col = &t.columns[c];
                let (value, reference) = match cell {
                    Cell::Text(s) => (s.clone(), String::new()),
                    Cell::Num { v, r, .. } => (v.to_string(), r.map(|r| r.to_string()).unwrap_or_default()),
                };
                line(
                    &mut out,
                    &[&t.id, &n, &key, &col.key, &col.label, &value, &col.unit, &cell.printed(), &reference],
                );
            }
        }
    }
    for rf in &r.references {
        let id = rf.id.to_string();
        line(&mut out, &["references", &id, "", "method", "method", &rf.method, "", &rf.method, &id]);
        for f in &rf.factors {
            line(&mut out, &["references", &id, "", "factor", "factor", f, "", f, &id]);
        }
    }
    out
}
