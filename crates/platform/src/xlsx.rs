//! XLSX for filers who work in a spreadsheet: the filing template as a workbook (one sheet,
//! text cells, written by hand: five small XML parts in a zip), and XLSX uploads, whose first sheet
//! is turned into CSV and then validated exactly like a CSV upload (row numbers stay the sheet's).

// XML text and column names as the report crate writes its workbooks.
use report::xlsx::{column_name, escape};
use std::io::{Cursor, Read, Write};

/// The media type of an XLSX workbook.
pub const MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The zip signature that starts every XLSX file.
pub fn is_xlsx(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(b"PK\x03\x04")
}

/// One sheet of a workbook to write: text cells, and columns whose cells offer a list of values
/// (a dropdown; other values stay allowed, since a list cannot hold every carrier with a detail).
pub struct SheetSpec<'a> {
    pub name: &'a str,
    pub rows: &'a [Vec<String>],
    /// (column index, the values offered) for rows 2 to [`LISTED_ROWS`].
    pub lists: Vec<(usize, Offered<'a>)>,
    /// Kept out of sight (a sheet that holds a long list for another sheet's dropdown).
    pub hidden: bool,
}

/// The values a column offers.
pub enum Offered<'a> {
    /// Typed in the rule itself: at most 255 characters in all, no value with a comma.
    Values(Vec<&'a str>),
    /// The first column of another sheet of the workbook, rows 1 to `rows` (any length).
    Column { sheet: &'a str, rows: usize },
}

/// The rows of a written sheet that offer their column's list.
pub const LISTED_ROWS: usize = 10_000;

/// A workbook with one sheet named `sheet` holding `rows` as text cells.
pub fn workbook(sheet: &str, rows: &[Vec<String>]) -> std::io::Result<Vec<u8>> {
    workbook_of(&[SheetSpec { name: sheet, rows, lists: Vec::new(), hidden: false }])
}

/// A workbook of `sheets` in order (the first is the one an upload reads).
pub fn workbook_of(sheets: &[SheetSpec<'_>]) -> std::io::Result<Vec<u8>> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let head = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
    let numbered = || sheets.iter().enumerate().map(|(i, s)| (i + 1, s));
    let overrides: String = numbered()
        .map(|(n, _)| format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#))
        .collect();
    let listed: String = numbered()
        .map(|(n, s)| {
            let state = if s.hidden { r#" state="hidden""# } else { "" };
            format!(r#"<sheet name="{}" sheetId="{n}"{state} r:id="rId{n}"/>"#, escape(s.name))
        })
        .collect();
    let rels: String = numbered()
        .map(|(n, _)| format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#))
        .collect();
    let parts: [(&str, String); 4] = [
        (
            "[Content_Types].xml",
            format!(
                r#"{head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#
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
                r#"{head}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"{head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        ),
    ];
    for (name, text) in parts {
        z.start_file(name, opts)?;
        z.write_all(text.as_bytes())?;
    }
    for (n, sheet) in numbered() {
        z.start_file(format!("xl/worksheets/sheet{n}.xml"), opts)?;
        let mut xml = format!(
            r#"{head}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#
        );
        for (r, row) in sheet.rows.iter().enumerate() {
            xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
            for (c, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                xml.push_str(&format!(
                    r#"<c r="{}{}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                    column_name(c),
                    r + 1,
                    escape(cell)
                ));
            }
            xml.push_str("</row>");
        }
        xml.push_str("</sheetData>");
        if !sheet.lists.is_empty() {
            xml.push_str(&format!(r#"<dataValidations count="{}">"#, sheet.lists.len()));
            for (col, offered) in &sheet.lists {
                let formula = match offered {
                    // Quoted, comma-separated (so no value holds a comma or a quote).
                    Offered::Values(values) => format!(
                        "\"{}\"",
                        values.iter().filter(|v| !v.contains(['"', ','])).copied().collect::<Vec<_>>().join(",")
                    ),
                    Offered::Column { sheet, rows } => {
                        format!("'{}'!$A$1:$A${}", sheet.replace('\'', "''"), (*rows).max(1))
                    }
                };
                let c = column_name(*col);
                xml.push_str(&format!(
                    r#"<dataValidation type="list" allowBlank="1" showErrorMessage="0" sqref="{c}2:{c}{LISTED_ROWS}"><formula1>{}</formula1></dataValidation>"#,
                    escape(&formula)
                ));
            }
            xml.push_str("</dataValidations>");
        }
        xml.push_str("</worksheet>");
        z.write_all(xml.as_bytes())?;
    }
    Ok(z.finish()?.into_inner())
}

/// A spreadsheet date serial (days since 1899-12-30) as `YYYY-MM`: a period typed as 2024-03
/// is often turned into a date by the spreadsheet.
fn serial_to_period(serial: f64) -> String {
    let secs = ((serial - 25_569.0) * 86_400.0).round() as i64;
    store::format_time(secs, 0)[..7].to_string()
}

/// Bounds on an uploaded workbook, checked before anything is allocated for it: a zip can claim
/// or unpack to far more than it weighs, and a sheet's stated extent is not its content.
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;
/// The shared strings are held in memory whole by the reader, so they get a bound of their own.
pub const MAX_SHARED_STRINGS_BYTES: u64 = 128 << 20;
pub const MAX_ENTRIES: usize = 1_000;
pub const MAX_CELLS: u64 = 50_000_000;
/// Columns read: an activity sheet has eight; anything past this is not one.
pub const MAX_COLUMNS: u32 = 256;

/// Unpacks every part of the zip into nothing, counting: refuses a workbook over the bounds
/// before the reader holds any of it.
fn check_unpacked(bytes: &[u8]) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable XLSX file: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("the workbook has {} parts, over the limit of {MAX_ENTRIES}", zip.len()));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| format!("not a readable XLSX file: {e}"))?;
        let shared = part.name().is_ok_and(|n| n.ends_with("sharedStrings.xml"));
        let room = if shared { MAX_SHARED_STRINGS_BYTES } else { MAX_UNPACKED_BYTES - total };
        let n = std::io::copy(&mut (&mut part).take(room + 1), &mut std::io::sink())
            .map_err(|e| format!("not a readable XLSX file: {e}"))?;
        if n > room {
            return Err(if shared {
                format!("the workbook's shared strings unpack to over {} MB", MAX_SHARED_STRINGS_BYTES >> 20)
            } else {
                format!("the workbook unpacks to over {} MB; send large filings as CSV", MAX_UNPACKED_BYTES >> 20)
            });
        }
        total += n;
        if total > MAX_UNPACKED_BYTES {
            return Err(format!(
                "the workbook unpacks to over {} MB; send large filings as CSV",
                MAX_UNPACKED_BYTES >> 20
            ));
        }
    }
    Ok(())
}

/// A cell's reference as the spreadsheet shows it (A1).
fn cell_ref(row: u32, col: u32) -> String {
    format!("{}{}", column_name(col as usize), row as u64 + 1)
}

/// Writes the first sheet of an XLSX file as CSV (the sheet's first row is the header; row `n`
/// of the sheet is line `n` of the CSV, an empty row a blank line). Numbers keep their shortest
/// exact decimal form. The sheet is read cell by cell, never as a grid of its stated extent.
pub fn first_sheet_to_csv(bytes: Vec<u8>, out: &std::path::Path) -> Result<(), String> {
    use calamine::Reader;
    check_unpacked(&bytes)?;
    let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not a readable XLSX file: {e}"))?;
    let name = book.sheet_names().first().cloned().ok_or("the workbook has no sheet")?;
    let file = std::fs::File::create(out).map_err(|e| e.to_string())?;
    let mut w = std::io::BufWriter::new(file);
    sheet_csv(&mut book, &name, &mut w)?;
    w.flush().map_err(|e| e.to_string())
}

/// The named sheets of an XLSX file as CSV text, in the same way as [`first_sheet_to_csv`] (row
/// `n` of a sheet is line `n` of its CSV); `None` for a sheet the workbook does not have.
pub fn sheets_to_csv(bytes: Vec<u8>, names: &[&str]) -> Result<Vec<Option<Vec<u8>>>, String> {
    use calamine::Reader;
    check_unpacked(&bytes)?;
    let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not a readable XLSX file: {e}"))?;
    let present = book.sheet_names();
    let mut out = Vec::new();
    for name in names {
        if !present.iter().any(|n| n == name) {
            out.push(None);
            continue;
        }
        let mut w = Vec::new();
        sheet_csv(&mut book, name, &mut w).map_err(|e| format!("sheet {name}: {e}"))?;
        out.push(Some(w));
    }
    Ok(out)
}

/// Writes sheet `name` as CSV to `w`.
fn sheet_csv<W: Write>(book: &mut calamine::Xlsx<Cursor<Vec<u8>>>, name: &str, w: &mut W) -> Result<(), String> {
    use calamine::DataRef;
    let mut cells = book.worksheet_cells_reader(name).map_err(|e| format!("the first sheet is not readable: {e}"))?;
    let (mut row_no, mut written, mut count) = (0u32, 0u32, 0u64);
    let mut fields: Vec<String> = Vec::new();
    let mut line = Vec::new();
    let mut flush = |w: &mut W, fields: &mut Vec<String>, row: u32| -> Result<(), String> {
        // Empty rows before this one are blank lines, so line numbers stay the sheet's rows.
        while written < row {
            w.write_all(b"\n").map_err(|e| e.to_string())?;
            written += 1;
        }
        if !fields.is_empty() {
            line.clear();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                csv_field(f, &mut line);
            }
            if line.len() > ingest::line::MAX_LINE_BYTES {
                return Err(format!(
                    "row {} is longer than {} bytes: not an activity sheet",
                    row + 1,
                    ingest::line::MAX_LINE_BYTES
                ));
            }
            line.push(b'\n');
            w.write_all(&line).map_err(|e| e.to_string())?;
            written += 1;
        }
        fields.clear();
        Ok(())
    };
    while let Some(cell) = cells.next_cell().map_err(|e| format!("the first sheet is not readable: {e}"))? {
        let (row, col) = cell.get_position();
        count += 1;
        if count > MAX_CELLS {
            return Err(format!("the sheet has over {MAX_CELLS} cells; send large filings as CSV"));
        }
        if col >= MAX_COLUMNS {
            return Err(format!(
                "cell {} is beyond column {}: not an activity sheet (clear the cells outside the template's columns)",
                cell_ref(row, col),
                column_name(MAX_COLUMNS as usize - 1)
            ));
        }
        if row < row_no || (row == row_no && (col as usize) < fields.len() && !fields[col as usize].is_empty()) {
            return Err(format!("cell {} is out of order in the sheet", cell_ref(row, col)));
        }
        if row > row_no {
            flush(w, &mut fields, row_no)?;
            row_no = row;
        }
        let text = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::String(s) => s.clone(),
            DataRef::SharedString(s) => s.to_string(),
            DataRef::Float(f) => format!("{f}"),
            DataRef::Int(i) => i.to_string(),
            DataRef::Bool(b) => b.to_string(),
            DataRef::DateTime(d) => serial_to_period(d.as_f64()),
            DataRef::DateTimeIso(s) => s.get(..7).unwrap_or(s).to_string(),
            DataRef::DurationIso(s) => s.clone(),
            DataRef::Error(e) => format!("#{e:?}"),
        };
        if fields.len() <= col as usize {
            fields.resize(col as usize + 1, String::new());
        }
        fields[col as usize] = text;
    }
    flush(w, &mut fields, row_no)?;
    Ok(())
}

/// Appends a cell as a CSV field of ingest's dialect (quoted when it holds a comma, a quote or
/// edge spaces). A line break in a cell becomes a bare CR: the row stays on its own line and
/// ingest refuses it with that reason, since a field of an activity file holds no line break.
fn csv_field(cell: &str, out: &mut Vec<u8>) {
    let cell = cell.replace("\r\n", "\r").replace('\n', "\r");
    let quote = cell.contains([',', '"']) || cell.trim() != cell;
    if !quote {
        out.extend_from_slice(cell.as_bytes());
        return;
    }
    out.push(b'"');
    out.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
    out.push(b'"');
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
