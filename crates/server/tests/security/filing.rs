//! Uploads: the rows validated are the rows stored (one parser, one line counter, from upload to
//! storage and again at approval), every line bounded, nothing of another org stored or shown.

use super::*;

const HEADER: &str = "facility_code,period,carrier,quantity,unit,source_document";

/// The filing's stored rows as (line, facility, period, quantity, source document).
async fn stored(h: &Harness, id: i64, token: &str) -> Vec<(i64, String, String, String, String)> {
    let r = h.get(&format!("/api/v1/filings/{id}/rows?limit=10000"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let s = |k: &str| x[k].as_str().unwrap_or_default().to_string();
            (x["line"].as_i64().unwrap(), s("facility_code"), s("period"), s("quantity"), s("source_document"))
        })
        .collect()
}

/// The filing's quarantined lines, in order.
async fn quarantined(h: &Harness, id: i64, token: &str) -> Vec<i64> {
    let r = h.get(&format!("/api/v1/filings/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let q = h
        .raw(
            "GET",
            &format!("/api/v1/filings/{id}/quarantine.csv"),
            &[("authorization", &format!("Bearer {token}"))],
            vec![],
        )
        .await;
    let mut rdr = csv::ReaderBuilder::new().from_reader(q.text.as_bytes());
    let line_col = rdr.headers().unwrap().iter().position(|h| h == "line").unwrap();
    rdr.records().map(|r| r.unwrap()[line_col].parse().unwrap()).collect()
}

#[test]
fn a_bare_cr_cannot_smuggle_another_orgs_row_or_an_unvalidated_row() {
    both("sec_bare_cr", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let body = format!(
            "{HEADER}\nGD1,2025-07,electricity,5,kWh,a\rZJ1,2025-07,electricity,777,kWh,b\n\
             GD4,2025-07,electricity,3,kWh,c\rGD1,1999-01,coal,-999,banana,d\nGD2,2025-07,electricity,7,kWh,e\n"
        );
        let r = h.upload(id, &gd, body.as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        assert_eq!((r.json["accepted"].clone(), r.json["rejected"].clone()), (json!(1), json!(2)), "{}", r.text);
        let rows = stored(&h, id, &gd).await;
        assert_eq!(rows, vec![(4, "GD2".into(), "2025-07".into(), "7".into(), "e".into())], "{}", h.backend);
        assert_eq!(quarantined(&h, id, &gd).await, vec![2, 3]);
        assert!(r.text.contains("bare carriage return"), "{}", r.text);
        // ZJ's own filer is not refused for a row it never filed.
        let zj = h.login("zj-filer").await;
        let zid = h.open_filing(&zj, "CT-ZJ", "2025-07").await;
        let z = h.upload(zid, &zj, format!("{HEADER}\nZJ1,2025-07,electricity,777,kWh,b\n").as_bytes()).await;
        assert_eq!(z.json["accepted"], json!(1), "{}: {}", h.backend, z.text);
    });
}

#[test]
fn a_line_break_inside_quotes_is_refused_and_an_open_quote_swallows_nothing() {
    both("sec_quoted_newline", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2024-05").await;
        let body = format!(
            "{HEADER}\nGD1,2024-05,electricity,5,kWh,\"bill\nsecond half\"\nGD2,2024-05,electricity,6,kWh,\"open\n\
             GD3,2024-05,electricity,3,kWh,\"a, quoted \"\"bill\"\"\"\n"
        );
        let r = h.upload(id, &gd, body.as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        // Lines 2 and 4 leave a quote open, line 3 is the rest of line 2: only line 5 is a row.
        assert_eq!((r.json["accepted"].clone(), r.json["rejected"].clone()), (json!(1), json!(3)), "{}", r.text);
        assert_eq!(
            stored(&h, id, &gd).await,
            vec![(5, "GD3".into(), "2024-05".into(), "3".into(), "a, quoted \"bill\"".into())]
        );
        assert_eq!(quarantined(&h, id, &gd).await, vec![2, 3, 4]);
        assert!(r.text.contains("quote left open"), "{}", r.text);
        // Filed, approved and counted: the group's inventory of the year runs.
        assert_eq!(h.post(&format!("/api/v1/filings/{id}/submit"), &gd, json!({})).await.status, StatusCode::OK);
        let rev = h.login("gd-reviewer").await;
        let a = h.post(&format!("/api/v1/filings/{id}/approve"), &rev, json!({})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let admin = h.login("admin").await;
        for org in ["CT", "CT-GD"] {
            let inv = h.post("/api/v1/inventories", &admin, json!({"org_code": org, "year": 2024})).await;
            assert!(inv.status.is_success(), "{} {org}: {}", h.backend, inv.text);
        }
    });
}

#[test]
fn crlf_files_keep_every_row_and_their_line_numbers() {
    both("sec_crlf", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let body = format!(
            "\u{feff}{HEADER}\r\nGD1,2025-07,electricity,5,kWh,a\r\n\r\nGD2,2025-07,electricity,x,kWh,b\r\nGD3,2025-07,electricity,7,kWh,c\r\n"
        );
        let r = h.upload(id, &gd, body.as_bytes()).await;
        assert_eq!((r.json["accepted"].clone(), r.json["rejected"].clone()), (json!(2), json!(1)), "{}", r.text);
        let rows: Vec<(i64, String)> = stored(&h, id, &gd).await.into_iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(rows, vec![(2, "GD1".to_string()), (5, "GD3".to_string())], "{}", h.backend);
        assert_eq!(quarantined(&h, id, &gd).await, vec![4]);
        assert_eq!(r.json["rejected_rows"][0]["row"]["line"], json!(4), "{}", r.text);
    });
}

#[test]
fn nul_bytes_long_fields_extra_fields_and_bad_utf8_are_refused_and_kept_storable() {
    both("sec_bad_bytes", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let mut body = format!("{HEADER}\nGD1,2025-07,electricity,5,kWh,a\0b\nGD2,2025-07,electricity,5,kWh,b,extra\n")
            .into_bytes();
        body.extend(b"GD3,2025-07,electricity,5,kWh,\xff\xfe\n");
        body.extend(format!("GD4,2025-07,electricity,5,kWh,{}\n", "x".repeat(60_000)).as_bytes());
        body.extend(b"GD5,2025-07,electricity,5,kWh,fine\n");
        let r = h.upload(id, &gd, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", h.backend, r.text);
        assert_eq!((r.json["accepted"].clone(), r.json["rejected"].clone()), (json!(2), json!(3)), "{}", r.text);
        let rows: Vec<String> = stored(&h, id, &gd).await.into_iter().map(|r| r.1).collect();
        assert_eq!(rows, ["GD4", "GD5"]);
        for reason in ["NUL byte", "row has 7 fields but the header names 6", "not UTF-8"] {
            assert!(r.text.contains(reason), "{reason}: {}", r.text);
        }
        // A line over the limit refuses the file before it is parsed; nothing is recorded.
        let long = format!("{HEADER}\nGD6,2025-07,electricity,5,kWh,{}\n", "y".repeat(200_000));
        let r = h.upload(id, &gd, long.as_bytes()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.json["error"]["code"], json!("line_too_long"), "{}", r.text);
        assert_eq!(stored(&h, id, &gd).await.len(), 2);
    });
}

#[test]
fn a_header_only_or_blank_file_records_nothing() {
    both("sec_header_only", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        for body in
            [format!("{HEADER}\n"), HEADER.to_string(), format!("{HEADER}\n\n   \n\r\n{}", "\n".repeat(100_000))]
        {
            let r = h.upload(id, &gd, body.as_bytes()).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", h.backend, r.text);
            assert_eq!(r.json["error"]["code"], json!("no_rows"), "{}", r.text);
        }
        let f = h.get(&format!("/api/v1/filings/{id}"), &gd).await;
        assert_eq!(f.json["uploads"], json!([]), "{}", f.text);
    });
}

#[test]
fn a_refused_facility_does_not_name_its_owner() {
    both("sec_owner_hidden", |h| async move {
        let gz = h.login("gz-admin").await;
        let id = h.open_filing(&gz, "CT-GD-GZ", "2025-07").await;
        let r = h
            .upload(
                id,
                &gz,
                format!("{HEADER}\nGD5,2025-07,electricity,5,kWh,a\nZJ2,2025-07,electricity,5,kWh,b\n").as_bytes(),
            )
            .await;
        assert_eq!(r.json["rejected"], json!(2), "{}", r.text);
        assert!(r.text.contains("outside this filing's org CT-GD-GZ"), "{}", r.text);
        for owner in ["org CT-GD ", "org CT-GD,", "CT-ZJ"] {
            assert!(!r.text.contains(owner), "names {owner}: {}", r.text);
        }
    });
}

#[test]
fn stored_rows_are_validated_again_at_approval() {
    both("sec_revalidate", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let r = h.upload(id, &gd, format!("{HEADER}\nGD1,2025-07,electricity,5,kWh,a\n").as_bytes()).await;
        assert_eq!(r.json["accepted"], json!(1), "{}", r.text);
        assert_eq!(h.post(&format!("/api/v1/filings/{id}/submit"), &gd, json!({})).await.status, StatusCode::OK);
        // A row that reached the database some other way (an older release, a restored backup):
        // another province's facility.
        let store = h.app.store.clone();
        tokio::task::spawn_blocking(move || {
            store
                .tx(|c| {
                    c.query(
                        "INSERT INTO activity (filing_id, upload_id, facility_code, period, carrier, quantity, unit, source_document, evidence_ref, line) \
                         SELECT filing_id, upload_id, 'ZJ1', period, carrier, '777', unit, 'x', '', 3 FROM activity WHERE filing_id = $1",
                        &[id.into()],
                    )
                    .map(|_| ())
                })
                .unwrap()
        })
        .await
        .unwrap();
        let rev = h.login("gd-reviewer").await;
        let a = h.post(&format!("/api/v1/filings/{id}/approve"), &rev, json!({})).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}: {}", h.backend, a.text);
        assert_eq!(a.json["error"]["code"], json!("stored_rows_invalid"), "{}", a.text);
        assert_eq!(a.json["error"]["detail"][0]["line"], json!(3), "{}", a.text);
        let f = h.get(&format!("/api/v1/filings/{id}"), &rev).await;
        assert_eq!(f.json["filing"]["status"], json!("submitted"), "{}", f.text);
    });
}

#[test]
fn filings_are_opened_only_for_months_that_exist() {
    both("sec_periods", |h| async move {
        let gd = h.login("gd-filer").await;
        for period in ["2099-01", "0000-01", "1989-12", "2025-13"] {
            let r = h.post("/api/v1/filings", &gd, json!({"org_code": "CT-GD", "period": period})).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{period}: {}", r.text);
        }
        h.open_filing(&gd, "CT-GD", "1990-01").await;
    });
}

#[test]
fn downloads_neutralise_spreadsheet_formulas() {
    both("sec_csv_injection", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        let body = format!(
            "{HEADER}\n=HYPERLINK(\"http://x\"),2025-07,electricity,5,kWh,a\nGD1,2025-07,electricity,-5,kWh,@SUM(A1)\n"
        );
        let r = h.upload(id, &gd, body.as_bytes()).await;
        assert_eq!(r.json["rejected"], json!(2), "{}", r.text);
        let q = h
            .raw(
                "GET",
                &format!("/api/v1/filings/{id}/quarantine.csv"),
                &[("authorization", &format!("Bearer {gd}"))],
                vec![],
            )
            .await;
        let mut rdr = csv::ReaderBuilder::new().from_reader(q.text.as_bytes());
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][0], "'=HYPERLINK(\"http://x\")", "{}", q.text);
        assert_eq!((&rows[1][3], &rows[1][5]), ("-5", "'@SUM(A1)"), "{}", q.text);
        for row in &rows {
            for cell in row {
                assert!(!cell.starts_with(['=', '+', '@']), "{cell}: {}", q.text);
            }
        }
    });
}
