//! Rows from memory go through the checks of the files: the same bad rows give the same reasons,
//! each row gets its own verdict, duplicate keys are found across rows and sources, and good rows
//! give the dataset the files give.

use ingest::line::ActivityRowReader;
use ingest::{load_dir, load_rows, ActivityFields, ActivityRows, FacilityFields, OrgFields, Reference, RowError};
use rustc_hash::FxHashMap;
use std::fs;
use std::path::Path;

const ORGS: &str = "org_code,name,parent_code,equity_share,operational_control\nG,Group,,,\nBJ,北京分公司,G,,\nGD,广东分公司,G,60%,yes\n";
const FACILITIES: &str = "facility_code,name,type,org_code,province,allocation_share,shared_with\n\
S1,site 1,base_station_5g,BJ,北京,,\n\
S2,site 2,base_station_4g,GD,Guangdong,0.5,China Unicom\n\
DC,dc,data_center,GD,广东省,,\n";
const HEADER: &str = "facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n";

/// Every kind of bad row the parser of a file refuses, and good rows between them.
const BAD: &str = "S1,2024-01,electricity,2500,kWh,BILL-1,EV-1\n\
S9,2024-01,electricity,100,kWh,,\n\
S9,2024-13,coal dust,-1,furlongs,,\n\
S1,2023-12,electricity,5,kWh,,\n\
S1,2024-02,electricity,100,L,,\n\
S1,2024-02,electricity,abc,kWh,,\n\
S1,2024-02,electricity,inf,kWh,,\n\
S1,2024-02,diesel,-5,L,,\n\
S1,2024-03,electricity,5,kWh,,,extra\n\
S1,2024-03,electricity\n\
S1,\"2024-03,electricity,5,kWh,,\n\
S1,2024-03,\"electricity\"x,5,kWh,,\n\
S1,2024-03,electricity,5,kWh,a\rb,\n\
\"DC\",2024-03,\"refrigerant:R-410A\",\"3.5\",kg,\"INV, 10\",\n\
S2,2024-02,electricity,1.5,MWh,BILL-2,\n\
S1,2024-01,electricity,7,kWh,BILL-1,\n\
DC,2024-03,refrigerant:R-410A,1,kg,\"INV, 10\",\n";

fn write(dir: &Path, activity: &str) {
    fs::write(dir.join("orgs.csv"), ORGS).unwrap();
    fs::write(dir.join("facilities.csv"), FACILITIES).unwrap();
    fs::write(dir.join("activity.csv"), activity).unwrap();
}

/// The reference data of [`ORGS`] and [`FACILITIES`] as records.
fn reference() -> (Vec<[&'static str; 5]>, Vec<[&'static str; 7]>) {
    (
        vec![["G", "Group", "", "", ""], ["BJ", "北京分公司", "G", "", ""], ["GD", "广东分公司", "G", "60%", "yes"]],
        vec![
            ["S1", "site 1", "base_station_5g", "BJ", "北京", "", ""],
            ["S2", "site 2", "base_station_4g", "GD", "Guangdong", "0.5", "China Unicom"],
            ["DC", "dc", "data_center", "GD", "广东省", "", ""],
        ],
    )
}

fn orgs<'a>(o: &'a [[&'static str; 5]]) -> impl Iterator<Item = OrgFields<'a>> {
    o.iter().map(|o| OrgFields {
        code: o[0],
        name: o[1],
        parent_code: o[2],
        equity_share: o[3],
        operational_control: o[4],
    })
}

fn facilities<'a>(f: &'a [[&'static str; 7]]) -> impl Iterator<Item = FacilityFields<'a>> {
    f.iter().map(|f| FacilityFields {
        code: f[0],
        name: f[1],
        kind: f[2],
        org_code: f[3],
        province: f[4],
        allocation_share: f[5],
        shared_with: f[6],
    })
}

/// An error without the file it names: (line, column, value, reason).
fn located(e: &RowError) -> (u64, String, String, String) {
    (e.line, e.column.clone(), e.value.clone(), e.reason.clone())
}

fn file_errors(activity: &str) -> Vec<RowError> {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), activity);
    load_dir(d.path(), 2024, 2).unwrap_err().errors
}

#[test]
fn the_same_bad_rows_give_the_same_reasons_from_a_file_and_from_rows() {
    let file: Vec<_> = file_errors(&format!("{HEADER}{BAD}")).iter().map(located).collect();
    assert!(file.len() >= 15, "{file:#?}");
    let (o, f) = reference();
    let mut report = ingest::ValidationReport::default();
    let r = Reference::from_records(orgs(&o), facilities(&f), &mut report).unwrap();

    // The upload read once: the row reader feeds the row checks.
    let text = format!("{HEADER}{BAD}");
    let mut reader = ActivityRowReader::new(text.as_bytes(), "upload.csv").unwrap().unwrap();
    let mut rows = r.rows(2024).with_duplicate_check();
    let source = rows.source("upload.csv").unwrap();
    let mut from_reader = Vec::new();
    while let Some(raw) = reader.next_row().unwrap() {
        from_reader.extend(rows.push_raw(source, &raw).errors.iter().map(located));
    }
    let sorted = |mut v: Vec<(u64, String, String, String)>| {
        v.sort_by_key(|e| e.0);
        v
    };
    // A directory with other errors is not checked for duplicate keys; rows checked one by one are.
    let (dups, own): (Vec<_>, Vec<_>) = from_reader.into_iter().partition(|e| e.1.ends_with("source_document"));
    assert_eq!(sorted(own), sorted(file.clone()));
    let dups: Vec<_> = dups.iter().map(|e| (e.0, e.2.as_str(), e.3.rsplit(' ').next().unwrap())).collect();
    assert_eq!(
        dups,
        [
            (17, "S1,2024-01,electricity,BILL-1", "upload.csv:2"),
            (18, "DC,2024-03,refrigerant:R-410A,INV, 10", "upload.csv:15")
        ]
    );

    // Fields given one by one (no line to split): the same reasons for every row that splits.
    let mut rows = r.rows(2024).with_duplicate_check();
    let source = rows.source("upload.csv").unwrap();
    let mut from_fields = Vec::new();
    let mut reader = ActivityRowReader::new(text.as_bytes(), "upload.csv").unwrap().unwrap();
    while let Some(raw) = reader.next_row().unwrap() {
        if raw.problem.is_none() {
            let v = rows.push(source, raw.line, &ActivityFields::from_columns(&raw.fields));
            from_fields.extend(v.errors.iter().map(located).filter(|e| !e.1.ends_with("source_document")));
        }
    }
    let splits: Vec<_> = file.iter().filter(|e| !e.1.is_empty()).cloned().collect();
    assert_eq!(sorted(from_fields), sorted(splits));
}

#[test]
fn a_header_without_a_required_column_is_refused_as_the_file_is() {
    let text = "facility_code,period,carrier,unit\nS1,2024-01,electricity,kWh\n";
    let from_file = file_errors(text);
    let e = ActivityRowReader::new(text.as_bytes(), "x").unwrap().err().unwrap();
    assert_eq!(vec![located(&e)], from_file.iter().map(located).collect::<Vec<_>>());
}

#[test]
fn every_row_gets_its_verdict() {
    let (o, f) = reference();
    let mut report = ingest::ValidationReport::default();
    let r = Reference::from_records(orgs(&o), facilities(&f), &mut report).unwrap();
    let mut rows = r.rows(2024);
    let s = rows.source("filing 7").unwrap();
    let row = |facility_code, period, quantity| ActivityFields {
        facility_code,
        period,
        carrier: "electricity",
        quantity,
        unit: "kWh",
        ..Default::default()
    };
    let ok = rows.push(s, 2, &row("S2", "2024-05", "10"));
    assert!(ok.accepted());
    assert_eq!(ok.record, Some(ingest::Record { facility: 1, month: 5 }));
    let bad = rows.push(s, 3, &row("S9", "2024-5", "-1"));
    assert!(!bad.accepted());
    assert_eq!(bad.record, None);
    let columns: Vec<&str> = bad.errors.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(columns, ["facility_code", "period", "quantity"], "every reason, in column order");
    assert!(bad.errors.iter().all(|e| e.file == "filing 7" && e.line == 3));
    assert!(rows.push(s, 4, &row(" S1 ", "2024-06", " 3.5 ")).accepted(), "fields are trimmed as in a file");
    assert_eq!(rows.counts(), (3, 1));
    let loaded = rows.finish();
    assert_eq!(loaded.activity.line, [2, 4]);
    assert_eq!(loaded.activity.file, [0, 0]);
    assert_eq!(loaded.activity.quantity[1], 3.5 * 3.6, "kWh kept in MJ");
}

#[test]
fn duplicate_keys_are_found_across_rows_and_sources() {
    let (o, f) = reference();
    let row = |doc| ActivityFields {
        facility_code: "S1",
        period: "2024-01",
        carrier: "electricity",
        quantity: "1",
        unit: "kWh",
        source_document: doc,
        evidence_ref: "",
    };
    // Row by row: the verdict of the repeating row says so, naming the row it repeats.
    let mut report = ingest::ValidationReport::default();
    let r = Reference::from_records(orgs(&o), facilities(&f), &mut report).unwrap();
    let mut rows = r.rows(2024).with_duplicate_check();
    let (a, b) = (rows.source("filing 1").unwrap(), rows.source("filing 2").unwrap());
    assert!(rows.push(a, 2, &row("B1")).accepted());
    assert!(rows.push(a, 3, &row("B2")).accepted());
    let dup = rows.push(b, 9, &row("B1"));
    assert_eq!(dup.errors.len(), 1);
    assert!(dup.record.is_some(), "the row itself is valid");
    let e = &dup.errors[0];
    assert_eq!(
        (e.file.as_str(), e.line, e.column.as_str()),
        ("filing 2", 9, "facility_code,period,carrier,source_document")
    );
    assert_eq!(e.value, "S1,2024-01,electricity,B1");
    assert!(e.reason.ends_with("as filing 1:2"), "{}", e.reason);
    // A third time names the second, as a file's check does.
    let third = rows.push(b, 10, &row("B1"));
    assert!(third.errors[0].reason.ends_with("as filing 2:9"), "{}", third.errors[0].reason);

    // All rows first, then the check the files get: the same errors.
    let rows = [
        ("filing 1", 2, row("B1")),
        ("filing 1", 3, row("B2")),
        ("filing 2", 9, row("B1")),
        ("filing 2", 10, row("B1")),
    ];
    let report = load_rows(2024, orgs(&o), facilities(&f), rows, 2).unwrap_err();
    let got: Vec<_> = report.errors.iter().map(|e| (e.file.clone(), e.line, e.reason.clone())).collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0], ("filing 2".into(), 9, e.reason.clone()));
    assert_eq!(got[1], ("filing 2".into(), 10, third.errors[0].reason.clone()));
    // And in a file, the same words.
    let file = file_errors(&format!("{HEADER}S1,2024-01,electricity,1,kWh,B1,\nS1,2024-01,electricity,1,kWh,B1,\n"));
    assert_eq!(file[0].value, e.value);
    assert!(file[0]
        .reason
        .starts_with("duplicated record key: same facility, period, carrier and source_document as "));
}

#[test]
fn good_rows_give_the_dataset_the_files_give() {
    let good = "S1,2024-01,electricity,2500,kWh,BILL-1,EV-1\n\
                DC,2024-03,refrigerant:R-410A,3.5,kg,\"INV, 10\",\n\
                S2,2024-02,electricity,1.5,MWh,BILL-2,\n\
                DC,2024-03,diesel,120,L,INV-9,EV-2\n\
                S2,2024-03,electricity,1.5,MWh,BILL-2,\n";
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &format!("{HEADER}{good}"));
    let (file, _) = load_dir(d.path(), 2024, 2).unwrap();
    let (o, f) = reference();
    let text = format!("{HEADER}{good}");
    let mut reader = ActivityRowReader::new(text.as_bytes(), "x").unwrap().unwrap();
    let mut raws = Vec::new();
    while let Some(raw) = reader.next_row().unwrap() {
        raws.push(raw);
    }
    let rows = raws.iter().map(|r| ("filing 3", r.line, ActivityFields::from_columns(&r.fields)));
    let mem = load_rows(2024, orgs(&o), facilities(&f), rows, 2).unwrap();
    let (a, b) = (&file.activity, &mem.activity);
    assert_eq!(a.facility, b.facility);
    assert_eq!(a.month, b.month);
    assert_eq!(a.carrier, b.carrier);
    assert_eq!(a.unit, b.unit);
    assert_eq!(a.line, b.line);
    assert_eq!(
        a.quantity.iter().map(|q| q.to_bits()).collect::<Vec<_>>(),
        b.quantity.iter().map(|q| q.to_bits()).collect::<Vec<_>>()
    );
    let strings =
        |ds: &model::Dataset, col: &[u32]| col.iter().map(|&s| ds.strings.get(s).to_string()).collect::<Vec<_>>();
    assert_eq!(strings(&file, &a.source_document), strings(&mem, &b.source_document));
    assert_eq!(strings(&file, &a.evidence), strings(&mem, &b.evidence));
    assert_eq!(file.carriers, mem.carriers, "carriers numbered in order of first use");
    assert_eq!(mem.files, ["filing 3"]);
    assert_eq!(file.facilities.len(), mem.facilities.len());
    for (x, y) in file.facilities.iter().zip(&mem.facilities) {
        assert_eq!(
            (&x.code, x.org, x.province, x.allocation_share, &x.shared_with),
            (&y.code, y.org, y.province, y.allocation_share, &y.shared_with)
        );
    }
    assert_eq!(file.orgs.orgs.len(), mem.orgs.orgs.len());
    let gd = |ds: &model::Dataset| ds.orgs.org(ds.orgs.get("GD").unwrap()).equity_share;
    assert_eq!(gd(&file), gd(&mem));
}

#[test]
fn bad_orgs_and_facilities_give_the_reasons_of_the_files() {
    let orgs_csv = "org_code,name,parent_code,equity_share,operational_control\nG,Group,,,\n,no code,G,,\nBJ,北京,G,150%,maybe\nX,x,NOWHERE,,\n";
    let fac_csv = "facility_code,name,type,org_code,province,allocation_share,shared_with\n\
S1,a,base_station_5g,G,北京,,\nS1,b,tower,G,Mars,2,\n";
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("orgs.csv"), orgs_csv).unwrap();
    fs::write(d.path().join("facilities.csv"), fac_csv).unwrap();
    fs::write(d.path().join("activity.csv"), HEADER).unwrap();
    let file = load_dir(d.path(), 2024, 2).unwrap_err();
    let o = [
        ["G", "Group", "", "", ""],
        ["", "no code", "G", "", ""],
        ["BJ", "北京", "G", "150%", "maybe"],
        ["X", "x", "NOWHERE", "", ""],
    ];
    let f = [["S1", "a", "base_station_5g", "G", "北京", "", ""], ["S1", "b", "tower", "G", "Mars", "2", ""]];
    let mut report = ingest::ValidationReport::default();
    assert!(Reference::from_records(orgs(&o), facilities(&f), &mut report).is_none());
    // Record n is line n + 1 of its file (after the header).
    let mem: Vec<_> = report
        .errors
        .iter()
        .map(|e| (e.file.clone(), e.line + 1, e.column.clone(), e.value.clone(), e.reason.replace("line 1", "line 2")))
        .collect();
    let name = |p: &str| Path::new(p).file_stem().unwrap().to_string_lossy().into_owned();
    let file: Vec<_> = file
        .errors
        .iter()
        .filter(|e| e.line > 0)
        .map(|e| (name(&e.file), e.line, e.column.clone(), e.value.clone(), e.reason.clone()))
        .collect();
    assert!(file.len() >= 6, "{file:#?}");
    assert_eq!(mem, file);
}

#[test]
fn rows_of_an_unknown_source_count_stay_apart() {
    // A reader with no facilities refuses every row for its facility, first.
    let none = FxHashMap::default();
    let mut rows = ActivityRows::new(2024, &none);
    let s = rows.source("s").unwrap();
    let v = rows.push(
        s,
        1,
        &ActivityFields {
            facility_code: "S1",
            period: "2024-01",
            carrier: "electricity",
            quantity: "1",
            unit: "kWh",
            ..Default::default()
        },
    );
    assert_eq!(v.errors.len(), 1);
    assert!(v.errors[0].reason.starts_with("unknown facility"));
}

/// A header in Chinese (the zh filing template's) reads as the canonical one, column by column,
/// whatever the order and with a byte order mark; the rows are the same.
#[test]
fn a_chinese_header_reads_as_the_canonical_one() {
    let en = "facility_code,period,carrier,quantity,unit,source_document,evidence_ref\nS1,2024-01,electricity,12,kWh,B1,E1\n";
    let zh =
        "\u{feff}设施编码,期间,能源品种,用量,单位,凭证号,证明材料,设施名称\nS1,2024-01,电力,12,千瓦时,B1,E1,站一\n";
    let read = |text: &str| {
        let mut reader = ActivityRowReader::new(text.as_bytes(), "x").unwrap().unwrap();
        reader.next_row().unwrap().unwrap().fields
    };
    let (a, b) = (read(en), read(zh));
    assert_eq!(a[0], b[0]);
    assert_eq!((b[2].as_str(), b[4].as_str()), ("电力", "千瓦时"), "values stay as filed (parsed the same way)");
    assert_eq!((a[3].as_str(), a[5].as_str(), a[6].as_str()), (b[3].as_str(), b[5].as_str(), b[6].as_str()));
    assert_eq!(ingest::canonical_column(" 月份 "), "period");
    assert_eq!(ingest::canonical_column("数量"), "quantity");
    assert_eq!(ingest::column_name_zh("source_document"), "凭证号");
    // Every Chinese name maps to a column the template writes.
    for (zh, c) in ingest::COLUMN_NAMES_ZH {
        assert_eq!(ingest::canonical_column(zh), *c);
        assert!([
            "facility_code",
            "period",
            "carrier",
            "quantity",
            "unit",
            "source_document",
            "evidence_ref",
            "facility_name"
        ]
        .contains(c));
    }
    // A required column missing in Chinese is named by its canonical name.
    let e = ActivityRowReader::new("设施编码,期间,能源品种,单位\nS1,2024-01,电力,千瓦时\n".as_bytes(), "x")
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(e.column, "quantity");
}
