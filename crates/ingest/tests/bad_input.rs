//! Every kind of bad input is reported with file, line, column, value and reason — all at once —
//! and a directory with any error yields no dataset.

use ingest::{load_dir, load_library, RowError};
use std::fs;
use std::path::Path;

const ORGS: &str = "org_code,name,parent_code\nG,Group,\nBJ,北京分公司,G\nGD,广东分公司,G\n";
const FACILITIES: &str = "facility_code,name,type,org_code,province,allocation_share,shared_with\n\
S1,site 1,base_station_5g,BJ,北京,,\n\
S2,site 2,base_station_4g,GD,Guangdong,0.5,China Unicom\n\
DC,dc,data_center,GD,广东省,,\n";

fn write(dir: &Path, orgs: &str, facilities: &str, activity: &str) {
    fs::write(dir.join("orgs.csv"), orgs).unwrap();
    fs::write(dir.join("facilities.csv"), facilities).unwrap();
    fs::write(dir.join("activity.csv"), activity).unwrap();
}

fn errors_of(activity: &str) -> Vec<RowError> {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), ORGS, FACILITIES, activity);
    load_dir(d.path(), 2024, 2).unwrap_err().errors
}

fn find<'a>(errs: &'a [RowError], line: u64, column: &str) -> &'a RowError {
    errs.iter()
        .find(|e| e.line == line && e.column == column)
        .unwrap_or_else(|| panic!("no error at line {line} column {column}: {errs:#?}"))
}

const HEADER: &str = "facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n";

#[test]
fn good_directory_loads_every_row() {
    let d = tempfile::tempdir().unwrap();
    let act = format!("{HEADER}S1,2024-01,electricity,2500,kWh,BILL-1,EV-1\nS2,2024-02,electricity,1.5,MWh,BILL-2,\nDC,2024-03,diesel,120,L,INV-9,EV-2\n\"DC\",2024-03,\"refrigerant:R-410A\",\"3.5\",kg,\"INV, 10\",\n");
    write(d.path(), ORGS, FACILITIES, &act);
    let (ds, stats) = load_dir(d.path(), 2024, 2).unwrap();
    assert_eq!(stats.activity_rows, 4);
    assert_eq!(ds.activity.len(), 4);
    assert_eq!(ds.activity.line, vec![2, 3, 4, 5]);
    assert_eq!(ds.strings.get(ds.activity.source_document[3]), "INV, 10");
    assert_eq!(ds.facilities[1].allocation_share, 0.5);
    // MWh stored in MJ: 1.5 MWh = 5400 MJ; the original unit is kept.
    assert_eq!(ds.activity.quantity[1], 5400.0);
    assert_eq!(ds.activity.original_value(1), 1.5);
}

#[test]
fn unknown_facility() {
    let errs = errors_of(&format!("{HEADER}S9,2024-01,electricity,100,kWh,,\n"));
    let e = find(&errs, 2, "facility_code");
    assert_eq!(e.value, "S9");
    assert!(e.reason.contains("unknown facility"));
    assert!(e.file.ends_with("activity.csv"));
}

#[test]
fn unknown_unit_and_wrong_dimension() {
    let errs = errors_of(&format!("{HEADER}S1,2024-01,electricity,100,furlongs,,\nS1,2024-02,electricity,100,L,,\n"));
    assert!(find(&errs, 2, "unit").reason.contains("unknown unit"));
    let e = find(&errs, 3, "unit");
    assert!(e.reason.contains("electricity is measured in energy"), "{}", e.reason);
}

#[test]
fn negative_quantity() {
    let errs = errors_of(&format!("{HEADER}S1,2024-01,electricity,-5,kWh,,\n"));
    let e = find(&errs, 2, "quantity");
    assert_eq!(e.value, "-5");
    assert!(e.reason.contains("negative"));
}

#[test]
fn month_outside_the_year() {
    let errs = errors_of(&format!("{HEADER}S1,2023-12,electricity,5,kWh,,\nS1,2024-13,electricity,5,kWh,,\n"));
    assert!(find(&errs, 2, "period").reason.contains("outside the inventory year 2024"));
    assert!(find(&errs, 3, "period").reason.contains("outside 01-12"));
}

#[test]
fn duplicated_record_key() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        ORGS,
        FACILITIES,
        &format!("{HEADER}S1,2024-01,electricity,5,kWh,BILL-1,\nS1,2024-01,electricity,6,kWh,BILL-2,\nS1,2024-01,electricity,5,kWh,BILL-1,\n"),
    );
    let report = load_dir(d.path(), 2024, 1).unwrap_err();
    assert_eq!(report.total, 1);
    let e = &report.errors[0];
    assert_eq!(e.line, 4);
    assert!(e.reason.contains("duplicated record key"));
    assert!(e.reason.ends_with("activity.csv:2"), "{}", e.reason);
}

#[test]
fn all_errors_are_reported_at_once() {
    let act = format!(
        "{HEADER}S9,2024-01,electricity,100,kWh,,\nS1,2024-01,plutonium,1,kg,,\nS1,2024-01,electricity,abc,kWh,,\nS1,24-1,electricity,1,kWh,,\nS1,2024-02,electricity,1,kWh,,\nS1\n"
    );
    let errs = errors_of(&act);
    find(&errs, 2, "facility_code");
    assert!(find(&errs, 3, "carrier").reason.contains("unknown carrier"));
    assert!(find(&errs, 4, "quantity").reason.contains("not a number"));
    find(&errs, 5, "period");
    assert!(errs.iter().any(|e| e.line == 7 && e.reason.contains("fields")));
    // The one good row is not an error.
    assert!(!errs.iter().any(|e| e.line == 6));
}

#[test]
fn row_errors_across_many_blocks_keep_their_line_numbers() {
    // Larger than one read block, so parsing runs on several threads.
    let mut act = String::from(HEADER);
    let n = 400_000;
    for i in 0..n {
        let m = i % 12 + 1;
        act.push_str(&format!("S1,2024-{m:02},electricity,{i},kWh,B{i},\n"));
    }
    act.push_str("S1,2024-01,electricity,-1,kWh,LAST,\n");
    let d = tempfile::tempdir().unwrap();
    write(d.path(), ORGS, FACILITIES, &act);
    let report = load_dir(d.path(), 2024, 2).unwrap_err();
    assert_eq!(report.total, 1);
    assert_eq!(report.errors[0].line, n as u64 + 2);
    // And without the bad row every record loads, in file order.
    let good: String = act.lines().take(n + 1).map(|l| format!("{l}\n")).collect();
    write(d.path(), ORGS, FACILITIES, &good);
    let (ds, _) = load_dir(d.path(), 2024, 2).unwrap();
    assert_eq!(ds.activity.len(), n);
    assert!(ds.activity.line.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(ds.activity.quantity[n - 1], (n - 1) as f64 * 3.6);
}

#[test]
fn bad_orgs_and_facilities_are_reported_and_activity_not_read() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "org_code,name,parent_code\nG,Group,\nBJ,bj,NOPE\n",
        "facility_code,name,type,org_code,province\nS1,s,teleporter,BJ,Atlantis\n",
        HEADER,
    );
    let errs = load_dir(d.path(), 2024, 1).unwrap_err().errors;
    let e = find(&errs, 3, "parent_code");
    assert!(e.reason.contains("NOPE"));
    assert!(errs.iter().any(|e| e.reason.contains("not read")));
    let d2 = tempfile::tempdir().unwrap();
    write(d2.path(), ORGS, "facility_code,name,type,org_code,province,allocation_share\nS1,s,teleporter,XX,Atlantis,2\nS1,s,office,BJ,北京,\n", HEADER);
    let errs = load_dir(d2.path(), 2024, 1).unwrap_err().errors;
    find(&errs, 2, "type");
    find(&errs, 2, "org_code");
    find(&errs, 2, "province");
    find(&errs, 2, "allocation_share");
    assert!(find(&errs, 3, "facility_code").reason.contains("duplicate"));
}

#[test]
fn missing_column_is_named() {
    let errs = errors_of("facility_code,period,carrier,unit\nS1,2024-01,electricity,kWh\n");
    let e = find(&errs, 1, "quantity");
    assert!(e.reason.contains("missing required column"));
}

#[test]
fn user_factor_folder_errors_name_file_and_factor() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("factors")).unwrap();
    fs::write(
        d.path().join("factors/bad.toml"),
        "[set]\nid=\"x\"\nversion=\"1\"\ntitle=\"t\"\n[[factor]]\nid=\"f1\"\nparameter=\"emission_factor\"\ncarrier=\"water\"\nregion=\"*\"\ngas=\"CO2e\"\nvalue=1\nunit=\"kgCO2e/parsec\"\nsource=\"s\"\n",
    )
    .unwrap();
    let r = load_library(Some(d.path()), None).unwrap_err();
    assert_eq!(r.total, 1);
    assert!(r.errors[0].file.ends_with("bad.toml"));
    assert_eq!(r.errors[0].value, "f1");
    assert_eq!(r.errors[0].column, "unit");
}

#[test]
fn crlf_blank_lines_and_no_final_newline_keep_line_numbers() {
    let d = tempfile::tempdir().unwrap();
    // CRLF line ends, a blank line, rows of one facility then another then the first again (the
    // parser remembers the last facility looked up), and no newline at the end.
    let act = HEADER.replace('\n', "\r\n")
        + "S1,2024-01,electricity,1,kWh,A,\r\n\r\nS1,2024-02,electricity,2,kWh,A,\r\nS2,2024-02,electricity,3,kWh,A,\r\nS1,2024-03,electricity,4,kWh,A,";
    write(d.path(), ORGS, FACILITIES, &act);
    let (ds, _) = load_dir(d.path(), 2024, 2).unwrap();
    assert_eq!(ds.activity.line, vec![2, 4, 5, 6]);
    assert_eq!(ds.activity.facility, vec![0, 0, 1, 0]);
    let errs = errors_of(&format!(
        "{HEADER}S1,2024-01,electricity,1,kWh,A,\nNOPE,2024-01,electricity,1,kWh,A,\nS1,2024-13,electricity,1,kWh,B,"
    ));
    assert_eq!(find(&errs, 3, "facility_code").value, "NOPE");
    assert_eq!(find(&errs, 4, "period").value, "2024-13");
}

#[test]
fn a_multi_year_directory_reads_the_years_own_activity_file() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("orgs.csv"), ORGS).unwrap();
    fs::write(d.path().join("facilities.csv"), FACILITIES).unwrap();
    fs::write(d.path().join("activity-2023.csv"), format!("{HEADER}S1,2023-01,electricity,100,kWh,B1,\n")).unwrap();
    fs::write(
        d.path().join("activity-2024.csv"),
        format!("{HEADER}S1,2024-01,electricity,200,kWh,B1,\nS2,2024-02,electricity,300,kWh,B2,\n"),
    )
    .unwrap();
    let (ds, stats) = load_dir(d.path(), 2023, 2).unwrap();
    assert_eq!((stats.activity_rows, ds.activity.len()), (1, 1));
    assert!(ds.files[0].ends_with("activity-2023.csv"), "{:?}", ds.files);
    let (_, stats) = load_dir(d.path(), 2024, 2).unwrap();
    assert_eq!(stats.activity_rows, 2);
    // A year without a file of its own falls back to activity.csv, which is absent here.
    let errs = load_dir(d.path(), 2022, 2).unwrap_err().errors;
    assert!(errs.iter().any(|e| e.file.ends_with("activity.csv")), "{errs:#?}");
    // activity.csv beside a year's file: which holds the year is ambiguous, so it is an error.
    fs::write(d.path().join("activity.csv"), format!("{HEADER}S1,2024-03,electricity,1,kWh,B3,\n")).unwrap();
    let errs = load_dir(d.path(), 2024, 2).unwrap_err().errors;
    assert!(errs.iter().any(|e| e.reason.contains("both activity.csv and activity-2024.csv")), "{errs:#?}");
}

#[test]
fn duplicates_found_when_a_facilitys_rows_are_apart() {
    let d = tempfile::tempdir().unwrap();
    let act = format!(
        "{HEADER}S1,2024-01,electricity,5,kWh,BILL-1,\nS2,2024-01,electricity,6,kWh,BILL-1,\nS1,2024-01,electricity,7,kWh,BILL-1,\nS2,2024-02,electricity,6,kWh,BILL-1,\n"
    );
    write(d.path(), ORGS, FACILITIES, &act);
    for threads in [1, 3] {
        let report = load_dir(d.path(), 2024, threads).unwrap_err();
        assert_eq!(report.total, 1, "{report}");
        assert_eq!(report.errors[0].line, 4);
        assert!(report.errors[0].reason.ends_with("activity.csv:2"), "{}", report.errors[0].reason);
    }
}

#[test]
fn unknown_facility_is_the_first_error_of_its_row_and_its_rows_are_not_kept() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("activity.csv");
    fs::write(
        &path,
        format!(
            "{HEADER}S1,2024-01,electricity,1,kWh,A,\nNOPE,2024-13,electricity,1,kWh,A,\nNOPE,2024-02,electricity,2,kWh,A,\nS2,2024-03,electricity,3,kWh,A,\nS2,2024-03,electricity,-3,kWh,A,\n"
        ),
    )
    .unwrap();
    let index: rustc_hash::FxHashMap<String, u32> =
        [("S1".to_string(), 7), ("S2".to_string(), 9)].into_iter().collect();
    let mut ds = model::Dataset { year: 2024, strings: model::StringPool::new(), ..Default::default() };
    let mut report = ingest::ValidationReport::default();
    let rows = ingest::load_activity(&path, &mut ds, &index, 2, &mut report);
    assert_eq!(rows, 5);
    let got: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
    assert_eq!(got, vec![(3, "facility_code"), (3, "period"), (4, "facility_code"), (6, "quantity")]);
    assert_eq!(report.errors[2].value, "NOPE");
    assert_eq!(report.total, 4);
    assert_eq!(report.rejected_rows, vec![(path.display().to_string(), 3)]);
    // Accepted rows only, with their facility ids, lines and file.
    assert_eq!(ds.activity.line, vec![2, 5]);
    assert_eq!(ds.activity.facility, vec![7, 9]);
    assert_eq!(ds.activity.file, vec![0, 0]);
    assert_eq!(ds.files, vec![path.display().to_string()]);
}

/// A file of many chunks mixing good rows, every kind of bad row, blank lines, CRLF and quoted
/// fields: whatever the number of workers (and so the chunking), each line is either accepted once
/// with its own values or rejected with its errors, in file order.
#[test]
fn every_line_accepted_once_or_rejected_whatever_the_chunking() {
    let mut seed = 42u64;
    let mut rnd = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for quotes in [false, true] {
        let mut act = String::from(HEADER);
        let mut expect_good: Vec<(u64, f64)> = Vec::new();
        let mut expect_bad: Vec<u64> = Vec::new();
        let mut expect_docs: Vec<String> = Vec::new();
        let mut line = 1u64;
        while act.len() < 3 << 20 {
            line += 1;
            let eol = if rnd(5) == 0 { "\r\n" } else { "\n" };
            let fac = ["S1", "S2", "DC"][rnd(3) as usize];
            let month = rnd(12) + 1;
            let qty = format!("{}.{:03}", rnd(100_000), rnd(1000));
            let good = |expect_good: &mut Vec<(u64, f64)>| expect_good.push((line, qty.parse::<f64>().unwrap()));
            let row = match rnd(20) {
                0 => {
                    act.push_str(&format!("  {eol}"));
                    continue;
                }
                1 => format!("NOPE{},2024-{month:02},electricity,{qty},kWh,D{},", rnd(9), rnd(5)),
                2 => format!("{fac},2024-{month:02},electricity,-{qty},kWh,D,"),
                3 => format!("{fac},2023-{month:02},electricity,{qty},parsecs,D,"),
                4 => format!("{fac},2024-{month:02}"),
                5 if quotes => {
                    good(&mut expect_good);
                    let doc = format!("D, {}", rnd(5));
                    expect_docs.push(doc.clone());
                    format!("\"{fac}\",2024-{month:02},\"electricity\",\" {qty} \",kWh,\"{doc}\",")
                }
                _ => {
                    good(&mut expect_good);
                    let doc = format!("D{}-{}", rnd(7), "X".repeat(rnd(12) as usize));
                    expect_docs.push(doc.clone());
                    format!("{fac},2024-{month:02},electricity, {qty},kWh,{doc},E{}", rnd(3))
                }
            };
            if expect_good.last().map(|g| g.0) != Some(line) {
                expect_bad.push(line);
            }
            act.push_str(&row);
            act.push_str(eol);
        }
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("activity.csv");
        fs::write(&path, &act).unwrap();
        let index: rustc_hash::FxHashMap<String, u32> =
            [("S1".to_string(), 0), ("S2".to_string(), 1), ("DC".to_string(), 2)].into_iter().collect();
        let mut first: Option<(Vec<u32>, Vec<f64>, Vec<ingest::RowError>)> = None;
        for threads in [1, 2, 5] {
            let mut ds = model::Dataset { year: 2024, strings: model::StringPool::new(), ..Default::default() };
            let mut report = ingest::ValidationReport::default();
            let rows = ingest::load_activity(&path, &mut ds, &index, threads, &mut report);
            assert_eq!(rows as u64, line - 1);
            let a = &ds.activity;
            let got: Vec<(u64, f64)> = a.line.iter().zip(&a.quantity).map(|(&l, &q)| (l as u64, q / 3.6)).collect();
            assert_eq!(got.len(), expect_good.len());
            let docs: Vec<&str> = a.source_document.iter().map(|&s| ds.strings.get(s)).collect();
            assert!(docs == expect_docs, "source documents differ");
            for ((gl, gq), (el, eq)) in got.iter().zip(&expect_good) {
                assert_eq!(gl, el);
                assert!((gq - eq).abs() <= 1e-9 * eq.max(1.0), "line {gl}: {gq} vs {eq}");
            }
            let mut bad_lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
            assert!(bad_lines.windows(2).all(|w| w[0] <= w[1]), "errors in file order");
            bad_lines.dedup();
            assert!(bad_lines == expect_bad, "rejected lines differ from the bad lines written");
            assert_eq!(report.rejected_rows, vec![(path.display().to_string(), expect_bad.len())]);
            match &first {
                None => first = Some((a.line.clone(), a.quantity.clone(), report.errors.clone())),
                Some((l, q, e)) => {
                    assert_eq!(l, &a.line);
                    assert_eq!(q, &a.quantity);
                    assert_eq!(e, &report.errors);
                }
            }
        }
    }
}

#[test]
fn header_only_files_load_with_no_rows() {
    for act in ["facility_code,period,carrier,quantity,unit", "facility_code,period,carrier,quantity,unit\r\n"] {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), ORGS, FACILITIES, act);
        let (ds, stats) = load_dir(d.path(), 2024, 2).unwrap();
        assert_eq!((ds.activity.len(), stats.activity_rows), (0, 0));
    }
    let errs = errors_of("");
    assert!(errs[0].reason.contains("empty file"));
}
