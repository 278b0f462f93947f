//! Carrier ids do not depend on which worker met a carrier first: they follow the file order of
//! first use, so a dataset (and the plans, warnings and stored result of an inventory computed on
//! it) is the same on every run and at every thread count. Before, a recomputation of a stored
//! snapshot could list its warnings in another order and be refused as different (issue 13, "the
//! first trend request fails").

use ingest::load_dir;
use std::fmt::Write;

const CARRIERS: [(&str, &str); 9] = [
    ("electricity", "kWh"),
    ("diesel", "L"),
    ("gasoline", "L"),
    ("electricity_green_certified", "kWh"),
    ("refrigerant:R-410A", "kg"),
    ("electricity_pv_self", "kWh"),
    ("refrigerant:R-32", "kg"),
    ("electricity_green_uncertified", "kWh"),
    ("refrigerant:R-134a", "kg"),
];

/// The activity parser's smallest chunk (64 KiB): a file under 8 × threads chunks is cut into
/// chunks of this size.
const CHUNK: usize = 64 << 10;

#[test]
fn carriers_are_numbered_in_file_order_whatever_the_threads() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("orgs.csv"), "org_code,name,parent_code\nG,Group,\n").unwrap();
    std::fs::write(
        d.path().join("facilities.csv"),
        "facility_code,name,type,org_code,province,allocation_share,shared_with\nS1,site,data_center,G,北京,,\n",
    )
    .unwrap();
    // About 600 KB of electricity bills; carrier 2j + 1 is first used near the end of chunk 2j and
    // carrier 2j + 2 near the start of chunk 2j + 1, which a second worker reaches first.
    let header = "facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n";
    let mut act = String::from(header);
    let mut i = 0;
    while act.len() - header.len() < 600_000 {
        let off = act.len() - header.len();
        let (k, r) = (off / CHUNK, off % CHUNK);
        let near_end = k % 2 == 0 && (CHUNK - 400..CHUNK - 350).contains(&r);
        let near_start = k % 2 == 1 && (100..150).contains(&r);
        let c = if k / 2 < 4 && (near_end || near_start) { 1 + k } else { 0 };
        let (carrier, unit) = CARRIERS[c];
        writeln!(act, "S1,2024-{:02},{carrier},{}.5,{unit},DOC-{i},", i % 12 + 1, i % 97 + 1).unwrap();
        i += 1;
    }
    std::fs::write(d.path().join("activity.csv"), act).unwrap();
    let expected: Vec<&str> = CARRIERS.iter().map(|c| c.0).collect();
    for threads in [1, 2, 4, 2, 4, 2, 4] {
        let (ds, _) = load_dir(d.path(), 2024, threads).unwrap_or_else(|r| panic!("{:?}", &r.errors[..1]));
        let codes: Vec<&str> = ds.carriers.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, expected, "{threads} threads");
        assert_eq!(ds.carriers[ds.activity.carrier[0] as usize].code, "electricity");
    }
}
