//! The report as an XLSX workbook: a `report` sheet (identity and hash), one sheet per table
//! (title, header with units, rows: figures as numbers at full precision, no formulas, the
//! references of each row in the last column), and a `references` sheet. Written by hand (a few
//! XML parts in a zip with fixed timestamps), so the same report gives the same bytes.

use crate::{Cell, Report};
use std::io::{Cursor, Write};

/// Text for an XML element or attribute: the five markup characters escaped, characters XML 1.0
/// cannot carry dropped (the platform's filing templates write with it too).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The spreadsheet column of a 0-based index: A … Z, AA, AB, ….
pub fn column_name(mut i: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII")
}

enum X<'a> {
    S(&'a str),
    N(f64),
}

fn sheet_xml(rows: &[Vec<X<'_>>]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{}", column_name(c), r + 1);
            match cell {
                X::S("") => {}
                X::S(s) => xml.push_str(&format!(
                    r#"<c r="{at}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                    escape(s)
                )),
                X::N(v) if v.is_finite() => xml.push_str(&format!(r#"<c r="{at}"><v>{v}</v></c>"#)),
                X::N(_) => {}
            }
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// The sheet names: a table's id, cut to Excel's 31 characters.
pub fn sheet_name(id: &str) -> String {
    id.chars().take(31).collect()
}

pub fn write(r: &Report) -> std::io::Result<Vec<u8>> {
    let mut sheets: Vec<(String, String)> = Vec::new();
    let snapshot = r.snapshot.map(|s| s.to_string()).unwrap_or_default();
    let year = r.year.to_string();
    let meta: Vec<Vec<X<'_>>> = [
        ("title", r.title.as_str()),
        ("org", r.org_code.as_str()),
        ("org_name", r.org_name.as_str()),
        ("year", year.as_str()),
        ("snapshot", snapshot.as_str()),
        ("source", r.source.as_str()),
        ("library_version", r.library_version.as_str()),
        ("library_fingerprint", r.library_fingerprint.as_str()),
        ("template", r.template.code()),
        ("lang", r.lang.code()),
        ("hash", r.hash.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| vec![X::S(k), X::S(v)])
    .collect();
    sheets.push(("report".into(), sheet_xml(&meta)));
    let refs_label = r.lang.t("引用", "References");
    for t in r.tables() {
        let mut rows: Vec<Vec<X<'_>>> = vec![vec![X::S(&t.title)]];
        let labels: Vec<String> = t
            .columns
            .iter()
            .map(|c| if c.unit.is_empty() { c.label.clone() } else { format!("{} ({})", c.label, c.unit) })
            .collect();
        let mut header: Vec<X<'_>> = labels.iter().map(|l| X::S(l)).collect();
        header.push(X::S(refs_label));
        rows.push(header);
        let refs: Vec<String> = t
            .rows
            .iter()
            .map(|row| {
                let mut ids: Vec<u32> =
                    row.iter().filter_map(|c| if let Cell::Num { r, .. } = c { *r } else { None }).collect();
                ids.dedup();
                ids.iter().map(|i| format!("[{i}]")).collect::<String>()
            })
            .collect();
        for (row, rf) in t.rows.iter().zip(&refs) {
            let mut cells: Vec<X<'_>> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => X::S(s),
                    Cell::Num { v, .. } => X::N(*v),
                })
                .collect();
            cells.push(X::S(rf));
            rows.push(cells);
        }
        for n in &t.notes {
            rows.push(vec![X::S(n)]);
        }
        sheets.push((sheet_name(&t.id), sheet_xml(&rows)));
    }
    let ids: Vec<String> = r.references.iter().map(|x| format!("[{}]", x.id)).collect();
    let mut rows: Vec<Vec<X<'_>>> = Vec::new();
    for (x, id) in r.references.iter().zip(&ids) {
        rows.push(vec![X::S(id), X::S(&x.method)]);
        for f in &x.factors {
            rows.push(vec![X::S(""), X::S(f)]);
        }
    }
    sheets.push(("references".into(), sheet_xml(&rows)));

    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let head = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
    let n = sheets.len();
    let overrides: String = (1..=n)
        .map(|i| format!(r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#))
        .collect();
    let listed: String = sheets
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!(r#"<sheet name="{}" sheetId="{}" r:id="rId{}"/>"#, escape(name), i + 1, i + 1))
        .collect();
    let rels: String = (1..=n)
        .map(|i| format!(r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#))
        .collect();
    let parts = [
        (
            "[Content_Types].xml".to_string(),
            format!(
                r#"{head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#
            ),
        ),
        (
            "_rels/.rels".to_string(),
            format!(
                r#"{head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml".to_string(),
            format!(
                r#"{head}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels".to_string(),
            format!(
                r#"{head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        ),
    ];
    for (name, text) in parts {
        z.start_file(name, opts)?;
        z.write_all(text.as_bytes())?;
    }
    for (i, (_, xml)) in sheets.iter().enumerate() {
        z.start_file(format!("xl/worksheets/sheet{}.xml", i + 1), opts)?;
        z.write_all(xml.as_bytes())?;
    }
    Ok(z.finish()?.into_inner())
}
