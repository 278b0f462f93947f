//! The command line end to end, as a user runs it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run dualcarbon")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn small_operator(dir: &Path) {
    fs::write(
        dir.join("orgs.csv"),
        "org_code,name,parent_code\nG,示例集团,\nBJ,北京分公司,G\nGD,广东分公司,G\nGZ,广州分公司,GD\n",
    )
    .unwrap();
    fs::write(
        dir.join("facilities.csv"),
        "facility_code,name,type,org_code,province,allocation_share,shared_with\n\
         BS1,站1,base_station_5g,BJ,北京,0.5,China Unicom\n\
         DC1,数据中心,data_center,GD,Guangdong,,\n\
         CAR,车队,fleet,GZ,广东,,\n",
    )
    .unwrap();
    let mut act = String::from("facility_code,period,carrier,quantity,unit,source_document,evidence_ref\n");
    for m in 1..=12 {
        act.push_str(&format!("BS1,2024-{m:02},electricity,2600,kWh,BILL-BS1,\n"));
        act.push_str(&format!("DC1,2024-{m:02},electricity,4000,MWh,BILL-DC1,\n"));
        act.push_str(&format!("DC1,2024-{m:02},electricity_green_certified,1000,MWh,GEC-{m},\n"));
        act.push_str(&format!("CAR,2024-{m:02},gasoline,3000,L,FUEL-{m},\n"));
    }
    act.push_str("DC1,2024-07,refrigerant:R-410A,50,kg,REF-1,\n");
    act.push_str("CAR,2024-05,business_travel:air,12000,pkm,TRIP-1,\n");
    fs::write(dir.join("activity.csv"), act).unwrap();
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).expect("json output")
}

#[test]
fn inventory_json_contract_and_rollups() {
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let data = d.path().to_str().unwrap();
    let v = json(&run(&["inventory", "--data", data, "--year", "2024", "--by", "province", "--format", "json"]));
    let t = &v["totals"];
    for k in ["scope1", "scope2_location", "scope2_market", "scope3", "energy_tce"] {
        assert!(t[k].as_f64().unwrap() > 0.0, "{k} missing or zero: {t}");
    }
    // Provinces add up to the group.
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let sum: f64 = rows.iter().map(|r| r["totals"]["scope2_location"].as_f64().unwrap()).sum();
    assert!((sum - t["scope2_location"].as_f64().unwrap()).abs() < 1e-6);
    // Beijing: half of 31,200 kWh booked at the provincial factor; the other half allocated away.
    let bj = rows.iter().find(|r| r["key"] == "BJ").unwrap();
    let booked = bj["totals"]["scope2_location"].as_f64().unwrap();
    assert!((booked - 15.6 * 0.5580).abs() < 1e-6, "{booked}");
    assert!((bj["memo"]["allocated_away_tco2e"].as_f64().unwrap() - booked).abs() < 1e-6);
    assert!(v["factors_used"].as_array().unwrap().iter().all(|f| f["source"].as_str().is_some_and(|s| !s.is_empty())));
    assert!(v["library_version"].as_str().unwrap().contains("cn-grid@"));
}

#[test]
fn table_csv_and_explain_agree() {
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let data = d.path().to_str().unwrap();
    let table = run(&["inventory", "--data", data, "--year", "2024"]);
    assert!(table.status.success());
    let text = stdout(&table);
    assert!(text.contains("Scope 2 market-based") && text.contains("tCO2e"));
    let csv = stdout(&run(&["inventory", "--data", data, "--year", "2024", "--by", "month", "--format", "csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 12 + 1);
    assert!(lines[0].starts_with("key,name,scope1_tco2e,scope2_location_tco2e"));
    let inv = json(&run(&["inventory", "--data", data, "--year", "2024", "--org", "GD", "--format", "json"]));
    let ex =
        json(&run(&["explain", "--data", data, "--year", "2024", "--org", "GD", "--scope", "2", "--format", "json"]));
    assert_eq!(ex["totals"][0], inv["totals"]["scope2_location"]);
    assert_eq!(ex["totals"][1], inv["totals"]["scope2_market"]);
    assert_eq!(ex["record_count"], 24);
    let text = stdout(&run(&["explain", "--data", data, "--year", "2024", "--org", "GD", "--scope", "1"]));
    assert!(text.contains("net calorific value") && text.contains("source:"), "{text}");
}

/// Issue 13: an explanation labelled its tonnes totals with the kilogram unit of its lines. Every
/// figure now travels with its unit: totals in `totals_unit` (the inventory's tCO2e), lines in
/// `values_unit` (kgCO2e, summing to the totals × 1000); the text prints each with its own. For
/// Guangdong 2024 the Scope 2 gap (market − location) is explained in parts that add up to it,
/// among them the newer residual vintage, and the factors of another year are flagged.
#[test]
fn explain_figures_carry_their_units_and_the_scope2_gap() {
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let data = d.path().to_str().unwrap();
    let args = ["explain", "--data", data, "--year", "2024", "--org", "GD", "--scope", "2", "--limit", "1000"];
    let ex = json(&run(&[&args[..], &["--format", "json"]].concat()));
    assert_eq!((ex["totals_unit"].as_str(), ex["values_unit"].as_str()), (Some("tCO2e"), Some("kgCO2e")), "{ex}");
    assert_eq!(ex["columns"], serde_json::json!(["scope2_location", "scope2_market"]));
    for col in 0..2 {
        let lines: f64 = ex["lines"].as_array().unwrap().iter().map(|l| l["values"][col].as_f64().unwrap()).sum();
        let total = ex["totals"][col].as_f64().unwrap();
        assert!((lines / 1000.0 - total).abs() <= 1e-9 * total, "column {col}: lines {lines} kg, total {total} t");
    }
    let gap = &ex["scope2_gap"];
    let parts: f64 = gap["parts"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).sum();
    let diff = ex["totals"][1].as_f64().unwrap() - ex["totals"][0].as_f64().unwrap();
    assert!((gap["market_minus_location"].as_f64().unwrap() - diff).abs() < 1e-9 * diff.abs().max(1.0), "{gap}");
    assert!((parts - diff).abs() < 1e-6 * diff.abs().max(1.0), "{gap}");
    let vintage =
        gap["parts"].as_array().unwrap().iter().find(|p| p["code"] == "residual_newer_vintage").expect("vintage part");
    assert_eq!((vintage["location_year"].as_i64(), vintage["market_year"].as_i64()), (Some(2022), Some(2023)));
    let steps: Vec<&serde_json::Value> =
        ex["plans"].as_array().unwrap().iter().flat_map(|p| p["steps"].as_array().unwrap()).collect();
    assert!(steps.iter().any(|s| s["factor_year"] == 2022 && s["vintage"] == "factor_year_before_inventory"));
    let text = stdout(&run(&args));
    let total = text.lines().find(|l| l.starts_with("scope2_location: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(total.ends_with(" tCO2e"), "{total}");
    assert!(text.contains("scope2_location kgCO2e") && text.contains("residual_newer_vintage"), "{text}");
    assert!(text.contains("(factor year 2022, inventory year 2024)"), "{text}");
    let inv = stdout(&run(&["inventory", "--data", data, "--year", "2024"]));
    assert!(
        inv.contains("Factors of another year than 2024")
            && inv.contains("elec.nbs_residual.CN.2023 (year 2023) → scope2_market"),
        "{inv}"
    );
}

#[test]
fn bad_rows_fail_the_run_with_every_reason() {
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let mut act = fs::read_to_string(d.path().join("activity.csv")).unwrap();
    act.push_str(
        "NOPE,2024-01,electricity,1,kWh,X,\nBS1,2024-02,electricity,-3,kWh,Y,\nBS1,2024-02,electricity,3,parsec,Z,\n",
    );
    fs::write(d.path().join("activity.csv"), act).unwrap();
    let errors_csv = d.path().join("errors.csv");
    let o = run(&[
        "inventory",
        "--data",
        d.path().to_str().unwrap(),
        "--year",
        "2024",
        "--errors-out",
        errors_csv.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(":52: column facility_code")
            && err.contains(":53: column quantity")
            && err.contains(":54: column unit"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "no inventory may be printed");
    let written = fs::read_to_string(errors_csv).unwrap();
    assert_eq!(written.lines().count(), 4);
}

#[test]
fn user_factor_set_overrides_and_pins() {
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let data = d.path().to_str().unwrap();
    let base = json(&run(&["inventory", "--data", data, "--year", "2024", "--org", "BJ", "--format", "json"]));
    fs::create_dir(d.path().join("factors")).unwrap();
    fs::write(
        d.path().join("factors/bj.toml"),
        "[set]\nid=\"bj-own\"\nversion=\"2024.1\"\ntitle=\"Beijing measured\"\n[[factor]]\nid=\"bj.grid\"\nparameter=\"emission_factor\"\ncarrier=\"electricity\"\nseries=\"nbs_average\"\nregion=\"CN-BJ\"\nyear=2023\ngas=\"CO2\"\nvalue=0.5\nunit=\"kgCO2/kWh\"\nsource=\"our study\"\n",
    )
    .unwrap();
    let own = json(&run(&["inventory", "--data", data, "--year", "2024", "--org", "BJ", "--format", "json"]));
    assert!((own["totals"]["scope2_location"].as_f64().unwrap() - 15.6 * 0.5).abs() < 1e-6);
    assert_ne!(own["totals"], base["totals"]);
    assert!(own["library_version"].as_str().unwrap().contains("bj-own@2024.1"));
    let pinned = json(&run(&[
        "inventory",
        "--data",
        data,
        "--year",
        "2024",
        "--org",
        "BJ",
        "--format",
        "json",
        "--pin",
        "electricity=elec.mee_reporting.CN.2022",
    ]));
    assert!((pinned["totals"]["scope2_location"].as_f64().unwrap() - 15.6 * 0.5703).abs() < 1e-6);
}

#[test]
fn factors_list_and_show() {
    let list = run(&["factors", "list", "--carrier", "electricity", "--region", "CN-GD", "--format", "csv"]);
    assert!(list.status.success());
    let text = stdout(&list);
    assert!(text.contains("elec.nbs_average.CN-GD.2022") && text.contains("0.4403"));
    let show = stdout(&run(&["factors", "show", "elec.mee_reporting.CN.2022"]));
    assert!(show.contains("0.5703") && show.contains("source:"));
    let missing = run(&["factors", "show", "no.such.factor"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no.such.factor"));
}

#[test]
fn demo_generate_then_inventory() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("demo");
    let g = run(&["demo", "generate", "--sites", "3000", "--year", "2024", "--out", out.to_str().unwrap()]);
    assert!(g.status.success(), "{}", stderr(&g));
    let v = json(&run(&[
        "inventory",
        "--data",
        out.to_str().unwrap(),
        "--year",
        "2024",
        "--by",
        "province",
        "--format",
        "json",
    ]));
    assert_eq!(v["rows"].as_array().unwrap().len(), 31);
    let t = &v["totals"];
    for k in ["scope1", "scope2_location", "scope2_market", "scope3", "energy_tce"] {
        assert!(t[k].as_f64().unwrap() > 0.0, "{k}: {t}");
    }
    assert!(v["memo"]["allocated_away_tco2e"].as_f64().unwrap() > 0.0);
    assert!(v["memo"]["green_certified_mwh"].as_f64().unwrap() > 0.0);
    let sum: f64 = v["rows"].as_array().unwrap().iter().map(|r| r["totals"]["total_location"].as_f64().unwrap()).sum();
    assert!((sum - t["total_location"].as_f64().unwrap()).abs() < 1e-6 * t["total_location"].as_f64().unwrap());
    let val = run(&["validate", "--data", out.to_str().unwrap(), "--year", "2024"]);
    assert!(stdout(&val).contains("all valid"));
}

#[test]
fn demo_generate_years_then_inventory_of_each_year() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("demo");
    let o = out.to_str().unwrap();
    let g = run(&["demo", "generate", "--sites", "300", "--years", "2023-2024", "--out", o]);
    assert!(g.status.success(), "{}", stderr(&g));
    assert!(stdout(&g).contains("for 2023-2024"), "{}", stdout(&g));
    assert!(out.join("activity-2023.csv").exists() && out.join("activity-2024.csv").exists());
    let total = |year: &str| {
        let v = json(&run(&["inventory", "--data", o, "--year", year, "--format", "json"]));
        assert_eq!(v["year"], serde_json::json!(year.parse::<i32>().unwrap()));
        v["memo"]["green_power_share"].as_f64().unwrap()
    };
    // The demo's certified green power grows year on year (docs/formats.md).
    assert!(total("2024") > total("2023"));
    // A year outside the span has no activity file: the error names the file it looked for.
    let e = run(&["inventory", "--data", o, "--year", "2022"]);
    assert!(!e.status.success());
    assert!(stderr(&e).contains("activity.csv") || stdout(&e).contains("activity.csv"), "{}", stderr(&e));
    // --year and --years together are refused.
    let both = run(&["demo", "generate", "--year", "2024", "--years", "2023-2024", "--out", o]);
    assert!(!both.status.success());
    let bad = run(&["demo", "generate", "--years", "2024-2023", "--out", o]);
    assert!(stderr(&bad).contains("first year is after the last"), "{}", stderr(&bad));
}

#[test]
fn electricity_at_coal_equivalent_needs_and_uses_a_user_factor() {
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let data = d.path().to_str().unwrap();
    let base = json(&run(&["inventory", "--data", data, "--year", "2024", "--format", "json"]));
    // Without a coal-equivalent factor the run fails and says what to add, rather than guess one.
    let missing = run(&["inventory", "--data", data, "--year", "2024", "--electricity-tce", "coal-equivalent"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("coal_equivalent"), "{}", stderr(&missing));
    fs::create_dir(d.path().join("factors")).unwrap();
    fs::write(
        d.path().join("factors/coal-eq.toml"),
        r#"[set]
id = "company-coal-eq"
version = "1"
title = "Power-generation coal equivalent of electricity, as published for our reporting"

[[factor]]
id = "tce.coal_equivalent.electricity.company"
parameter = "tce_coefficient"
carrier = "electricity"
series = "coal_equivalent"
region = "CN"
gas = ""
value = 0.3
unit = "kgce/kWh"
source = "test: company energy statistics convention"
url = "document reference: test"
edition = "2024"
licence = "test"
status = "S"
"#,
    )
    .unwrap();
    let eq = json(&run(&[
        "inventory",
        "--data",
        data,
        "--year",
        "2024",
        "--electricity-tce",
        "coal-equivalent",
        "--format",
        "json",
    ]));
    // Only electricity changes: its kWh × (0.3 − 0.1229) kgce more.
    // electricity_mwh is all electricity booked (grid, green, PV).
    let mwh = base["memo"]["electricity_mwh"].as_f64().unwrap();
    let delta = eq["totals"]["energy_tce"].as_f64().unwrap() - base["totals"]["energy_tce"].as_f64().unwrap();
    assert!((delta - mwh * (0.3 - 0.1229)).abs() < 1e-6 * mwh, "delta {delta}, electricity {mwh} MWh");
    assert_eq!(eq["totals"]["scope2_location"], base["totals"]["scope2_location"]);
    assert!(eq["factors_used"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "tce.coal_equivalent.electricity.company"));
}

/// A report cut short by its reader (`dualcarbon factors list --format json | head -1`; 190 kB, more
/// than a pipe holds, so the writer meets the closed pipe) ends quietly, without a
/// panic on the broken pipe.
#[test]
fn a_report_piped_into_a_reader_that_stops_ends_without_a_panic() {
    use std::io::Read;
    let mut child = bin()
        .args(["factors", "list", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dualcarbon");
    let mut first = [0u8; 64];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "stderr: {err}");
    assert!(!status.success() || err.is_empty(), "{status:?} {err}");
}

/// Every subcommand that prints and ends, its output going into a pipe whose reader has already
/// closed (`dualcarbon … | head` where head is done): each ends quietly (killed by SIGPIPE, as
/// other command-line tools), none panics with "failed printing to stdout". The pipe is closed
/// before the command starts, so its first write meets it whatever its output's size.
#[test]
fn every_printing_subcommand_ends_quietly_on_a_closed_pipe() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempfile::tempdir().unwrap();
    small_operator(d.path());
    let data = d.path().to_str().unwrap();
    let platform = tempfile::tempdir().unwrap();
    let pdir = platform.path().join("p");
    let pdir = pdir.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let demo_out = out.path().join("demo");
    let backup = out.path().join("backup");
    let commands: Vec<Vec<&str>> = vec![
        vec!["demo", "generate", "--sites", "124", "--out", demo_out.to_str().unwrap()],
        vec!["validate", "--data", data, "--year", "2024"],
        vec!["inventory", "--data", data, "--year", "2024"],
        vec!["explain", "--data", data, "--year", "2024", "--org", "GD", "--scope", "2"],
        vec!["factors", "list"],
        vec!["factors", "show", "elec.mee_reporting.CN.2022"],
        vec!["audit", "head", "--data-dir", pdir],
        vec!["audit", "verify", "--data-dir", pdir],
        vec!["backup", "--data-dir", pdir, "--out", backup.to_str().unwrap()],
    ];
    let mut failures = Vec::new();
    for args in &commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = bin().args(args).stdout(writer).output().expect("run dualcarbon");
        let err = stderr(&o);
        let quiet = o.status.success() || o.status.signal() == Some(libc::SIGPIPE);
        if err.contains("panicked") || !quiet {
            failures.push(format!("dualcarbon {}: {:?}\n{err}", args.join(" "), o.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
