//! Workbooks: bounded before anything is allocated for them (a sheet's stated extent, its cells,
//! what its zip unpacks to).

use super::*;
use std::io::{Cursor, Read, Write};

/// The template workbook with its first sheet's XML replaced by `sheet` (when given) and `extra`
/// parts added, each written by its function.
/// A part added to a workbook: its name and what writes its bytes.
type Part<'a> = (&'a str, &'a dyn Fn(&mut dyn Write));

fn workbook_with(sheet: Option<&str>, extra: &[Part]) -> Vec<u8> {
    let base = platform::xlsx::workbook("activity", &[vec!["x".to_string()]]).unwrap();
    let mut src = zip::ZipArchive::new(Cursor::new(base)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut part = src.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        out.start_file(name.as_str(), opts).unwrap();
        match sheet {
            Some(xml) if name == "xl/worksheets/sheet1.xml" => out.write_all(xml.as_bytes()).unwrap(),
            _ => out.write_all(&bytes).unwrap(),
        }
    }
    for (name, write) in extra {
        out.start_file(*name, opts).unwrap();
        write(&mut out);
    }
    out.finish().unwrap().into_inner()
}

fn sheet(rows: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
    )
}

fn text_cell(r: &str, t: &str) -> String {
    format!(r#"<c r="{r}" t="inlineStr"><is><t>{t}</t></is></c>"#)
}

#[test]
fn a_sheet_spanning_a1_to_xfd1048576_is_refused_without_allocating_it() {
    both("sec_xlsx_extent", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let book = workbook_with(
            Some(&sheet(&format!(
                r#"<row r="1">{}</row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
                text_cell("A1", "facility_code")
            ))),
            &[],
        );
        assert!(book.len() < 4096, "{}", book.len());
        let r = h.upload(id, &gd, &book).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", h.backend, r.text);
        assert!(r.text.contains("XFD1048576"), "{}", r.text);
    });
}

#[test]
fn a_zip_bomb_is_refused_while_it_unpacks() {
    // 200 MB of shared strings packed into well under a megabyte.
    let spaces = |w: &mut dyn Write| {
        let block = vec![b' '; 8 << 20];
        for _ in 0..25 {
            w.write_all(&block).unwrap();
        }
    };
    let bomb = workbook_with(None, &[("xl/sharedStrings.xml", &spaces)]);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    both("sec_xlsx_bomb", |h| {
        let bomb = bomb.clone();
        async move {
            let gd = h.login("gd-filer").await;
            let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
            let r = h.upload(id, &gd, &bomb).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", h.backend, r.text);
            assert!(r.text.contains("shared strings unpack to over"), "{}", r.text);
        }
    });
}

#[test]
fn a_sparse_sheet_keeps_its_row_numbers() {
    both("sec_xlsx_rows", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let header = ["facility_code", "period", "carrier", "quantity", "unit"];
        let cols = ["A", "B", "C", "D", "E"];
        let row = |n: usize, vals: [&str; 5]| {
            let cells: String = vals.iter().zip(cols).map(|(v, c)| text_cell(&format!("{c}{n}"), v)).collect();
            format!(r#"<row r="{n}">{cells}</row>"#)
        };
        let book = workbook_with(
            Some(&sheet(&format!(
                "{}{}{}",
                row(1, header),
                row(4, ["GD1", "2025-07", "electricity", "5", "kWh"]),
                row(9, ["GD2", "2025-07", "electricity", "x", "kWh"])
            ))),
            &[],
        );
        let r = h.upload(id, &gd, &book).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        assert_eq!((r.json["accepted"].clone(), r.json["rejected"].clone()), (json!(1), json!(1)), "{}", r.text);
        assert_eq!(r.json["rejected_rows"][0]["row"]["line"], json!(9), "{}", r.text);
        let rows = h.get(&format!("/api/v1/filings/{id}/rows"), &gd).await;
        assert_eq!(rows.json["rows"][0]["line"], json!(4), "{}", rows.text);
    });
}
