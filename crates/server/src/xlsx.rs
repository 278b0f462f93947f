//! XLSX for filers who work in a spreadsheet: the filing template as a workbook (one sheet,
//! text cells, written by hand: five small XML parts in a zip), and XLSX uploads, whose first sheet
//! is turned into CSV and then validated exactly like a CSV upload (row numbers stay the sheet's).

use std::io::{Cursor, Write};

/// The zip signature that starts every XLSX file.
pub fn is_xlsx(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(b"PK\x03\x04")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Characters XML 1.0 cannot carry are dropped rather than making the file unreadable.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn column_name(mut i: usize) -> String {
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

/// A workbook with one sheet named `sheet` holding `rows` as text cells.
pub fn workbook(sheet: &str, rows: &[Vec<String>]) -> std::io::Result<Vec<u8>> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let head = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
    let parts: [(&str, String); 4] = [
        (
            "[Content_Types].xml",
            format!(
                r#"{head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#
            ),
        ),
        (
            "_rels/.rels",
            format!(
                r#"{head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                r#"{head}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{}" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
                escape(sheet)
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"{head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
            ),
        ),
    ];
    for (name, text) in parts {
        z.start_file(name, opts)?;
        z.write_all(text.as_bytes())?;
    }
    z.start_file("xl/worksheets/sheet1.xml", opts)?;
    let mut sheet_xml =
        format!(r#"{head}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#);
    for (r, row) in rows.iter().enumerate() {
        sheet_xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            sheet_xml.push_str(&format!(
                r#"<c r="{}{}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                column_name(c),
                r + 1,
                escape(cell)
            ));
        }
        sheet_xml.push_str("</row>");
    }
    sheet_xml.push_str("</sheetData></worksheet>");
    z.write_all(sheet_xml.as_bytes())?;
    Ok(z.finish()?.into_inner())
}

/// A spreadsheet date serial (days since 1899-12-30) as `YYYY-MM`: a period typed as 2024-03
/// is often turned into a date by the spreadsheet.
fn serial_to_period(serial: f64) -> String {
    let secs = ((serial - 25_569.0) * 86_400.0).round() as i64;
    store::format_time(secs, 0)[..7].to_string()
}

/// Writes the first sheet of an XLSX file as CSV (the sheet's first row is the header; row `n`
/// of the sheet is line `n` of the CSV). Numbers keep their shortest exact decimal form.
pub fn first_sheet_to_csv(bytes: Vec<u8>, out: &std::path::Path) -> Result<(), String> {
    use calamine::{Data, Reader};
    let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not a readable XLSX file: {e}"))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or("the workbook has no sheet")?
        .map_err(|e| format!("the first sheet is not readable: {e}"))?;
    let mut w = csv::Writer::from_path(out).map_err(|e| e.to_string())?;
    // The CSV starts at the sheet's first row, so that line numbers match the sheet's row numbers.
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let width = range.width() + first_col as usize;
    for _ in 0..first_row {
        w.write_record(std::iter::repeat_n("", width)).map_err(|e| e.to_string())?;
    }
    for row in range.rows() {
        let mut fields: Vec<String> = vec![String::new(); first_col as usize];
        fields.extend(row.iter().map(|cell| match cell {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Float(f) => format!("{f}"),
            Data::Int(i) => i.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(d) => serial_to_period(d.as_f64()),
            Data::DateTimeIso(s) => s.get(..7).unwrap_or(s).to_string(),
            Data::DurationIso(s) => s.clone(),
            Data::Error(e) => format!("#{e:?}"),
        }));
        w.write_record(&fields).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_round_trips_through_the_reader() {
        let rows = vec![
            vec!["facility_code".to_string(), "period".into(), "quantity".into(), "name".into()],
            vec!["GD1".into(), "2024-03".into(), "12.5".into(), "站 <1> & \"A\"".into()],
            vec!["GD2".into(), "2024-03".into(), String::new(), "x".into()],
        ];
        let bytes = workbook("activity", &rows).unwrap();
        assert!(is_xlsx(&bytes));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.csv");
        first_sheet_to_csv(bytes, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            text,
            "facility_code,period,quantity,name\nGD1,2024-03,12.5,\"站 <1> & \"\"A\"\"\"\nGD2,2024-03,,x\n"
        );
    }

    #[test]
    fn columns_and_dates() {
        assert_eq!(
            (column_name(0), column_name(25), column_name(26), column_name(27)),
            ("A".into(), "Z".into(), "AA".into(), "AB".into())
        );
        // 2024-03-01 is serial 45352.
        assert_eq!(serial_to_period(45_352.0), "2024-03");
        assert!(
            first_sheet_to_csv(b"PK\x03\x04 not really".to_vec(), std::path::Path::new("/nonexistent/x.csv")).is_err()
        );
    }
}
