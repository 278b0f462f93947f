//! `dualcarbon monitor ...` and `dualcarbon bench telemetry` end to end, as a user runs them.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().expect("run dualcarbon")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A group with two provinces; a data centre in GD with total/IT meters and a base station in BJ
/// with a grid meter. Bills cover BS1 for January only.
fn operator(dir: &Path) {
    fs::write(dir.join("orgs.csv"), "org_code,name,parent_code\nG,集团,\nBJ,北京分公司,G\nGD,广东分公司,G\n").unwrap();
    fs::write(
        dir.join("facilities.csv"),
        "facility_code,name,type,org_code,province\nBS1,站1,base_station_5g,BJ,北京\nDC1,数据中心,data_center,GD,广东\n",
    )
    .unwrap();
    fs::write(
        dir.join("activity.csv"),
        "facility_code,period,carrier,quantity,unit,source_document,evidence_ref\nBS1,2024-01,electricity,700,kWh,BILL-1,\n",
    )
    .unwrap();
    fs::write(
        dir.join("meters.csv"),
        "meter_code,facility_code,role,kind\nDC1-TOT,DC1,total_facility,counter\nDC1-IT,DC1,it_load,counter\nBS1-G,BS1,grid_import,counter\n",
    )
    .unwrap();
    // DC1: 130 kWh total and 100 kWh IT in the first hour of 2 Jan; BS1: January and February.
    fs::write(
        dir.join("readings.csv"),
        "meter,ts,value\n\
         DC1-TOT,2024-01-02T00:00:00+08:00,5000\nDC1-TOT,2024-01-02T00:30:00+08:00,5065\nDC1-TOT,2024-01-02T01:00:00+08:00,5130\n\
         DC1-IT,2024-01-02T00:00:00+08:00,800\nDC1-IT,2024-01-02T01:00:00+08:00,900\n\
         BS1-G,2024-01-01T00:00:00+08:00,0\nBS1-G,2024-02-01T00:00:00+08:00,744\nBS1-G,2024-03-01T00:00:00+08:00,1440\n",
    )
    .unwrap();
}

#[test]
fn rollup_gives_hourly_energy_per_role() {
    let d = tempfile::tempdir().unwrap();
    operator(d.path());
    let p = |f: &str| d.path().join(f).to_string_lossy().into_owned();
    let out = ok(&run(&[
        "monitor",
        "rollup",
        "--meters",
        &p("meters.csv"),
        "--readings",
        &p("readings.csv"),
        "--period",
        "hour",
        "--facility",
        "DC1",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "facility_code,role,period,energy_kwh,coverage,flags");
    assert!(lines.contains(&"DC1,total_facility,2024-01-02T00:00:00+08:00,130,1.000000,split"), "{out}");
    assert!(lines.contains(&"DC1,it_load,2024-01-02T00:00:00+08:00,100,1.000000,split+gap"), "{out}");
}

#[test]
fn bad_readings_are_all_listed_and_nothing_printed() {
    let d = tempfile::tempdir().unwrap();
    operator(d.path());
    fs::write(d.path().join("bad.csv"), "DC1-TOT,2024-01-02T02:00:00+08:00,x\nNOPE,2024-01-02T02:00:00+08:00,1\n")
        .unwrap();
    let p = |f: &str| d.path().join(f).to_string_lossy().into_owned();
    let o = run(&["monitor", "rollup", "--meters", &p("meters.csv"), "--readings", &p("bad.csv")]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 1: value \"x\""), "{err}");
    assert!(err.contains("unknown meter"), "{err}");
}

#[test]
fn meter_activity_fills_months_without_bills_and_feeds_the_inventory() {
    let d = tempfile::tempdir().unwrap();
    operator(d.path());
    let p = |f: &str| d.path().join(f).to_string_lossy().into_owned();
    let o = run(&[
        "monitor",
        "activity",
        "--meters",
        &p("meters.csv"),
        "--readings",
        &p("readings.csv"),
        "--year",
        "2024",
        "--data",
        &p(""),
        "--out",
        &p("meter-activity.csv"),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipped BS1 2024-01 electricity from BS1-G: a bill exists"));
    let rows = fs::read_to_string(d.path().join("meter-activity.csv")).unwrap();
    let lines: Vec<&str> = rows.lines().collect();
    assert_eq!(lines[0], "facility_code,period,carrier,quantity,unit,source_document,evidence_ref");
    assert!(
        lines.iter().any(|l| l
            .starts_with("BS1,2024-02,electricity,696,kWh,METER:BS1-G,meter-derived, no bill; coverage=1.0000")
            || l.starts_with("BS1,2024-02,electricity,696,kWh,METER:BS1-G,\"meter-derived, no bill; coverage=1.0000")),
        "{rows}"
    );
    assert!(lines.iter().any(|l| l.starts_with("DC1,2024-01,electricity,130,kWh,METER:DC1-TOT,")), "{rows}");
    // Appended to activity.csv, the inventory reads them like any filing.
    let before = ok(&run(&["inventory", "--data", &p(""), "--year", "2024", "--format", "json"]));
    let mwh =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["memo"]["electricity_mwh"].as_f64().unwrap();
    let mut act = fs::read_to_string(d.path().join("activity.csv")).unwrap();
    act.push_str(&lines[1..].join("\n"));
    act.push('\n');
    fs::write(d.path().join("activity.csv"), act).unwrap();
    let after = ok(&run(&["inventory", "--data", &p(""), "--year", "2024", "--format", "json"]));
    assert!((mwh(&after) - mwh(&before) - (0.696 + 0.130)).abs() < 1e-9, "{} -> {}", mwh(&before), mwh(&after));
}

#[test]
fn indicators_progress_and_scoreboard() {
    let d = tempfile::tempdir().unwrap();
    operator(d.path());
    fs::write(
        d.path().join("indicator-data.csv"),
        "org_code,facility_code,period,component,value\n\
         ,DC1,2020,energy_tce,100\nGD,,2020,business_volume_10k_yuan,1000\n,DC1,2024,energy_tce,70\nGD,,2024,business_volume_10k_yuan,1000\n\
         BJ,,2020,energy_tce,100\nBJ,,2020,business_volume_10k_yuan,1000\nBJ,,2024,energy_tce,90\nBJ,,2024,business_volume_10k_yuan,1000\n",
    )
    .unwrap();
    let p = |f: &str| d.path().join(f).to_string_lossy().into_owned();
    let base =
        ["--data".to_string(), p(""), "--values".into(), p("indicator-data.csv"), "--year".into(), "2024".into()];
    let args = |cmd: &str, extra: &[&str]| -> Vec<String> {
        let mut v = vec!["monitor".to_string(), cmd.to_string()];
        v.extend(base.iter().cloned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run_s = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let values: serde_json::Value = serde_json::from_str(&ok(&run_s(args("values", &[])))).unwrap();
    let epb = values.as_array().unwrap().iter().find(|r| r["indicator"] == "energy_per_business").unwrap();
    assert!((epb["value"].as_f64().unwrap() - 160.0 / 2000.0).abs() < 1e-12, "{epb}");
    let progress: serde_json::Value = serde_json::from_str(&ok(&run_s(args("progress", &["--org", "GD"])))).unwrap();
    let t = progress.as_array().unwrap().iter().find(|r| r["target"] == "energy_per_business_down").unwrap();
    assert_eq!((t["met"].as_bool(), t["progress"].as_f64()), (Some(true), Some(1.0)));
    let board = ok(&run_s(args("scoreboard", &["--format", "csv"])));
    let lines: Vec<&str> = board.lines().collect();
    assert_eq!(lines[0], "rank,org,name,score,targets_with_data,targets_met");
    assert!(lines[1].starts_with("1,GD,广东分公司,100"), "{board}");
    assert!(lines[2].starts_with("2,BJ,北京分公司,"), "{board}");
    let listed = ok(&run(&["monitor", "indicators"]));
    assert!(listed
        .lines()
        .any(|l| l.starts_with("pue,电能利用效率,Power usage effectiveness,dc_total_kwh,dc_it_kwh,")));
}

#[test]
fn bench_telemetry_ingests_and_verifies_every_reading() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("log");
    let o = run(&[
        "bench",
        "telemetry",
        "--readings",
        "20000",
        "--meters",
        "500",
        "--batch",
        "1000",
        "--writers",
        "2",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let out = ok(&o);
    assert!(out.contains("dualcarbon reading log: 20000 readings in"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("reopened and verified 20000 readings"));
}

#[test]
fn data_centre_energy_from_meters_gives_pue_unless_reported() {
    let d = tempfile::tempdir().unwrap();
    operator(d.path());
    let p = |f: &str| d.path().join(f).to_string_lossy().into_owned();
    fs::write(d.path().join("indicator-data.csv"), "org_code,period,component,value\nGD,2024,dc_water_l,260\n")
        .unwrap();
    let args = |values: &str| {
        run(&[
            "monitor",
            "values",
            "--data",
            &p(""),
            "--values",
            &p(values),
            "--year",
            "2024",
            "--org",
            "GD",
            "--meters",
            &p("meters.csv"),
            "--readings",
            &p("readings.csv"),
        ])
    };
    let v: serde_json::Value = serde_json::from_str(&ok(&args("indicator-data.csv"))).unwrap();
    let get = |v: &serde_json::Value, code: &str| {
        v.as_array().unwrap().iter().find(|r| r["indicator"] == code).unwrap()["value"].as_f64()
    };
    assert_eq!(get(&v, "pue"), Some(1.3));
    assert_eq!(get(&v, "wue"), Some(2.6));
    // A reported IT energy wins over the meters for that year; the refusal is said.
    fs::write(d.path().join("reported.csv"), "facility_code,period,component,value\nDC1,2024,dc_it_kwh,104\n").unwrap();
    let o = args("reported.csv");
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(get(&v, "pue"), Some(1.25));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DC1 dc_it_kwh 2024: already reported"));
}
