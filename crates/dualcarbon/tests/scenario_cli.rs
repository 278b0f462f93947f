//! `dualcarbon scenario ...` end to end on a generated demo operator.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().expect("run dualcarbon")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}\nstdout: {}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn demo(dir: &Path, year: i32) {
    ok(&run(&["demo", "generate", "--sites", "400", "--year", &year.to_string(), "--out", dir.to_str().unwrap()]));
}

#[test]
fn calibrate_run_macc_optimise_lmdi_and_trend() {
    let tmp = tempfile::tempdir().unwrap();
    let (d23, d24) = (tmp.path().join("d23"), tmp.path().join("d24"));
    demo(&d23, 2023);
    demo(&d24, 2024);
    let baseline = tmp.path().join("baseline.json");
    let out = ok(&run(&[
        "scenario",
        "calibrate",
        "--data",
        d24.to_str().unwrap(),
        "--year",
        "2024",
        "--out",
        baseline.to_str().unwrap(),
    ]));
    assert!(out.contains("base year 2024"), "{out}");

    // The inventory's Scope 1 + market-based Scope 2 (location residual) is the model's base year.
    let inv = ok(&run(&[
        "inventory",
        "--data",
        d24.to_str().unwrap(),
        "--year",
        "2024",
        "--residual",
        "location",
        "--format",
        "json",
    ]));
    let inv: serde_json::Value = serde_json::from_str(&inv).unwrap();
    let expect = inv["totals"]["scope1"].as_f64().unwrap() + inv["totals"]["scope2_market"].as_f64().unwrap();

    let file = tmp.path().join("s.toml");
    std::fs::write(
        &file,
        "name = \"t\"\nbaseline = \"baseline.json\"\n[[measures]]\nid = \"dc_pue_upgrade\"\nstart = 2026\n\
         [[measures]]\nid = \"green_power_purchase\"\nstart = 2027\n[monte_carlo]\npaths = 200\nseed = 1\n",
    )
    .unwrap();
    let j = ok(&run(&["scenario", "run", file.to_str().unwrap(), "--format", "json"]));
    let j: serde_json::Value = serde_json::from_str(&j).unwrap();
    let years = j["run"]["years"].as_array().unwrap();
    assert_eq!(years.len(), 37);
    let base = years[0]["gross_tco2e"].as_f64().unwrap();
    assert!((base - expect).abs() <= 1e-6 * expect, "{base} vs {expect}");
    assert_eq!(j["run"]["measures"].as_array().unwrap().len(), 2);
    assert!(j["run"]["peak"]["year"].as_i64().is_some());
    let mc = &j["monte_carlo"];
    assert_eq!(mc["paths"], 200);
    let p = mc["probability_peak_by_target"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    let table = ok(&run(&["scenario", "run", file.to_str().unwrap(), "--paths", "0"]));
    assert!(table.contains("peak:") && table.contains("dc_pue_upgrade") && !table.contains("Monte Carlo"), "{table}");

    let macc = ok(&run(&["scenario", "macc", file.to_str().unwrap(), "--format", "json"]));
    let macc: serde_json::Value = serde_json::from_str(&macc).unwrap();
    let costs: Vec<i64> = macc.as_array().unwrap().iter().filter_map(|r| r["yuan_per_tco2e"].as_i64()).collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]), "MACC sorted cheapest first: {costs:?}");

    let opt = run(&["scenario", "optimise", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&opt.stdout);
    assert!(text.contains("plan") || text.contains("No combination"), "{text}");

    let lmdi = ok(&run(&[
        "scenario",
        "lmdi",
        "--from-data",
        d23.to_str().unwrap(),
        "--from",
        "2023",
        "--to-data",
        d24.to_str().unwrap(),
        "--to",
        "2024",
        "--format",
        "json",
    ]));
    let l: serde_json::Value = serde_json::from_str(&lmdi).unwrap();
    let change = l["to_tco2e"].as_f64().unwrap() - l["from_tco2e"].as_f64().unwrap();
    let t = &l["total"];
    let sum: f64 = ["activity", "intensity", "pue", "grid_factor", "green_power", "scope1"]
        .iter()
        .map(|k| t[k].as_f64().unwrap())
        .sum();
    assert!((sum - change).abs() <= 1e-6 * l["to_tco2e"].as_f64().unwrap());

    // History from two inventories calibrates the drivers; the file's edits still win.
    let hist = tmp.path().join("history.csv");
    ok(&run(&[
        "scenario",
        "history",
        "--input",
        &format!("2023={}", d23.display()),
        "--input",
        &format!("2024={}", d24.display()),
        "--out",
        hist.to_str().unwrap(),
    ]));
    let o = run(&[
        "scenario",
        "run",
        file.to_str().unwrap(),
        "--paths",
        "0",
        "--history",
        hist.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let calibrated = ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("calibrated grid_factor_change"));
    let c: serde_json::Value = serde_json::from_str(&calibrated).unwrap();
    assert_eq!(
        c["run"]["years"][0]["gross_tco2e"], j["run"]["years"][0]["gross_tco2e"],
        "history changes the future, not the base year"
    );
    assert_ne!(c["run"]["years"][10]["gross_tco2e"], j["run"]["years"][10]["gross_tco2e"]);
    let cmp = ok(&run(&["scenario", "compare", file.to_str().unwrap(), file.to_str().unwrap()]));
    assert_eq!(cmp.lines().filter(|l| l.starts_with("t ")).count(), 2, "{cmp}");

    let tr = ok(&run(&[
        "scenario",
        "trend",
        "--input",
        &format!("2023={}", d23.display()),
        "--input",
        &format!("2024={}", d24.display()),
        "--metric",
        "electricity",
    ]));
    assert!(tr.contains("2025-01") && tr.contains("seasonal pattern"), "{tr}");
    let by = ok(&run(&[
        "scenario",
        "trend",
        "--input",
        &format!("2023={}", d23.display()),
        "--input",
        &format!("2024={}", d24.display()),
        "--by-province",
        "--format",
        "json",
    ]));
    let by: serde_json::Value = serde_json::from_str(&by).unwrap();
    assert_eq!(by.as_array().unwrap().len(), 31);
    assert_eq!(by[0]["values"].as_array().unwrap().len(), 24);
}

#[test]
fn bad_scenario_files_list_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, "[drivers]\nnope = 1\npue_data_center = 0.5\n[[measures]]\nid = \"x\"\nstart = 2026\n")
        .unwrap();
    let o = run(&["scenario", "run", file.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("nope") && e.contains("pue_data_center"), "{e}");
}

/// Issue 13 through the command line: the untouched scenario is the baseline bit for bit; level
/// drivers given as a number move the path (regression: they gave the baseline); `calibrate` prints
/// the reconciliation from the inventory's total to the scenario base.
#[test]
fn untouched_scenario_is_the_baseline_and_level_drivers_move_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    demo(&d, 2024);
    let baseline = tmp.path().join("baseline.json");
    let (dir, bl) = (d.to_str().unwrap(), baseline.to_str().unwrap());
    let out = ok(&run(&["scenario", "calibrate", "--data", dir, "--year", "2024", "--out", bl]));
    // Reconciliation: the inventory's market-based total (what `inventory` reports), each
    // difference, and the base.
    let inv: serde_json::Value =
        serde_json::from_str(&ok(&run(&["inventory", "--data", dir, "--year", "2024", "--format", "json"]))).unwrap();
    let b: scenario::Baseline = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let t = |v: f64| {
        let s = format!("{:.3}", v.abs());
        let (int, frac) = s.split_once('.').unwrap();
        let mut g = String::new();
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                g.push(',');
            }
            g.push(ch);
        }
        format!("{}{g}.{frac}", if v < 0.0 { "-" } else { "" })
    };
    for (label, v) in [
        ("inventory total", inv["totals"]["total_market"].as_f64().unwrap()),
        ("Scope 3 left out", -inv["totals"]["scope3"].as_f64().unwrap()),
        ("= scenario base", b.total_tco2e()),
    ] {
        let line = out.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label}: {out}"));
        assert!(line.ends_with(&t(v)), "{line} vs {}", t(v));
    }
    assert!(out.contains("market-based Scope 2 recomputed on the location residual"), "{out}");

    let cat = scenario::Catalogue::shipped();
    let model = scenario::Model::new(&b, &cat).unwrap();
    let bau = serde_json::to_value(model.run(&scenario::Scenario::baseline("scenario")).unwrap()).unwrap();
    let run_file = |text: &str| -> serde_json::Value {
        let f = tmp.path().join("s.toml");
        std::fs::write(&f, text).unwrap();
        let out = ok(&run(&["scenario", "run", f.to_str().unwrap(), "--baseline", bl, "--format", "json"]));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["run"].clone()
    };
    for text in ["", "[drivers]\n", "measures = []\n"] {
        let r = run_file(text);
        assert_eq!(r["years"], bau["years"], "{text:?}");
        assert_eq!(r["peak"], bau["peak"]);
        assert_eq!(r["targets"], bau["targets"]);
    }
    let g = |r: &serde_json::Value, k: usize| r["years"][k]["gross_tco2e"].as_f64().unwrap();
    for (text, lower) in [
        ("[drivers]\npue_data_center = 1.2\n", true),
        ("[drivers]\npue_data_center = 2.0\n", false),
        ("[drivers]\ngreen_share_extra = 0.6\n", true),
        ("[drivers]\nfleet_ev_share = 1.0\n", true),
    ] {
        let r = run_file(text);
        assert_eq!(r["years"][0], bau["years"][0], "{text}: the base year stays calibrated");
        for k in 1..r["years"].as_array().unwrap().len() {
            assert!(if lower { g(&r, k) < g(&bau, k) } else { g(&r, k) > g(&bau, k) }, "{text} year {k}");
        }
    }
}
