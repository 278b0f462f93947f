//! `dualcarbon site ...` end to end, as a user runs it (issue 5).

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().expect("run dualcarbon")
}

const SITE: &str = include_str!("../../site/data/island-site.toml");

/// Three days of plain hourly weather: sunny, overcast, sunny (local standard time, end of hour).
fn weather_csv() -> String {
    let mut s = String::from("time,ghi,dni,dhi,temp_air,wind_speed\n");
    for day in 1..=3 {
        for hour in 1..=24 {
            let sun = ((hour as f64 - 12.5) / 12.0 * std::f64::consts::PI).cos().max(0.0);
            let (ghi, dni, dhi) =
                if day == 2 { (150.0 * sun, 0.0, 150.0 * sun) } else { (900.0 * sun, 700.0 * sun, 150.0 * sun) };
            let time = if hour == 24 {
                format!("2023-06-{:02}T00:00", day + 1)
            } else {
                format!("2023-06-{day:02}T{hour:02}:00")
            };
            writeln!(s, "{time},{ghi:.1},{dni:.1},{dhi:.1},28,2").unwrap();
        }
    }
    s
}

#[test]
fn simulate_prints_report_json_and_hourly_csv() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    let weather = dir.path().join("weather.csv");
    let hourly = dir.path().join("hourly.csv");
    let telemetry = dir.path().join("telemetry.csv");
    fs::write(&site, SITE).unwrap();
    fs::write(&weather, weather_csv()).unwrap();

    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("PV → load") && out.contains("avoided vs diesel"), "{out}");
    assert!(out.contains("factor elec.nbs_average.CN-GRID-SOUTH.2022"), "{out}");

    let o = run(&[
        "site",
        "simulate",
        site.to_str().unwrap(),
        "--weather",
        weather.to_str().unwrap(),
        "--format",
        "json",
        "--hourly",
        hourly.to_str().unwrap(),
        "--telemetry",
        telemetry.to_str().unwrap(),
        "--site-code",
        "GX-HDL-01",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["steps"], 72);
    assert_eq!(v["energy_kwh"]["unserved"], 0.0);
    let load = v["energy_kwh"]["load"].as_f64().unwrap();
    assert!(load > 50.0 && load < 100.0, "{load}");
    assert!(v["balance_residual_kwh"].as_f64().unwrap().abs() < 1e-9);
    assert_eq!(v["emissions"]["factors"][0]["id"], "elec.nbs_average.CN-GRID-SOUTH.2022");
    let hours: f64 = v["hours_by_state"].as_object().unwrap().values().map(|h| h.as_f64().unwrap()).sum();
    assert!((hours - 72.0).abs() < 1e-9);
    let csv = fs::read_to_string(&hourly).unwrap();
    assert_eq!(csv.lines().count(), 73);
    assert!(csv.lines().nth(13).unwrap().contains(",solar,"), "{}", csv.lines().nth(13).unwrap());
    // Telemetry: six power meters a step, kW, epoch ms; the load meter sums to the report's load.
    let t = fs::read_to_string(&telemetry).unwrap();
    assert_eq!(t.lines().next(), Some("meter,timestamp,value"));
    assert_eq!(t.lines().count(), 1 + 6 * 72);
    let load_kwh: f64 = t
        .lines()
        .filter(|l| l.starts_with("GX-HDL-01.load,"))
        .map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((load_kwh - load).abs() < 1e-3, "{load_kwh} vs {load}");
}

#[test]
fn bad_site_and_weather_files_list_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    let weather = dir.path().join("weather.csv");
    fs::write(&site, SITE.replace("pdc0_w = 6000", "pdc0_w = 0").replace("soc_fc_stop = 0.80", "soc_fc_stop = 0.35"))
        .unwrap();
    fs::write(&weather, weather_csv()).unwrap();
    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pv.pdc0_w") && err.contains("setpoints.soc_fc_stop") && err.contains("2 problems"), "{err}");

    fs::write(&site, SITE).unwrap();
    fs::write(
        &weather,
        weather_csv()
            .replace("2023-06-01T05:00,0.0", "2023-06-01T05:00,abc")
            .replace(",28,2\n2023-06-02T01", ",99,2\n2023-06-02T01"),
    )
    .unwrap();
    let o = run(&["site", "simulate", site.to_str().unwrap(), "--weather", weather.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":6: ghi") && err.contains("temp_air") && err.contains("2 problems"), "{err}");
}

#[test]
fn bs_saving_reports_kwh_and_tco2_per_station() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells.csv");
    let by_station = dir.path().join("by_station.csv");
    let mut s = String::from("Time,BS,CellName,load\n");
    for day in 1..=14 {
        for hour in 0..24 {
            let busy = (8..22).contains(&hour);
            for (bs, cell, l) in [
                ("B_1", "Cell0", if busy { 0.6 } else { 0.2 }),
                ("B_1", "Cell1", if busy { 0.4 } else { 0.05 }),
                ("B_2", "Cell0", 0.3),
            ] {
                writeln!(s, "1/{day}/2023 {hour}:00,{bs},{cell},{l}").unwrap();
            }
        }
    }
    fs::write(&cells, s).unwrap();
    let o = run(&[
        "site",
        "bs-saving",
        "--cells",
        cells.to_str().unwrap(),
        "--baseline",
        "symbol-sleep",
        "--format",
        "json",
        "--by-station",
        by_station.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stations"], 2);
    assert_eq!(v["grid_factor_id"], "elec.nbs_average.CN.2022");
    let saved = v["saved_kwh"].as_f64().unwrap();
    assert!(saved > 0.0);
    assert!((v["saved_tco2"].as_f64().unwrap() - saved * 0.5366 / 1000.0).abs() < 1e-12);
    // Against a symbol-sleep baseline only B_1's capacity cell can save (B_2 has one cell).
    let rows = fs::read_to_string(&by_station).unwrap();
    let b2 = rows.lines().find(|l| l.starts_with("B_2,")).unwrap();
    assert_eq!(b2.split(',').nth(3).unwrap().parse::<f64>().unwrap(), 0.0, "{rows}");

    // The same schedule in EARTH watts: 14 days × 24 h × 3 cells of a 2-chain macro sector.
    let o = run(&["site", "bs-saving", "--cells", cells.to_str().unwrap(), "--model", "earth", "--format", "json"]);
    assert!(o.status.success());
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let base = e["baseline_kwh"].as_f64().unwrap();
    assert!(base > 14.0 * 24.0 * 3.0 * 0.260 && base < 14.0 * 24.0 * 3.0 * 0.448, "{base}");
    assert!(e["saved_kwh"].as_f64().unwrap() > 0.0);

    fs::write(&cells, "Time,BS,CellName,load\n1/1/2023 0:00,B_1,Cell0,1.7\nx,B_1,Cell0,0.1\n").unwrap();
    let o = run(&["site", "bs-saving", "--cells", cells.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 problems"));
}
