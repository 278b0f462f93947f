//! Calibration on a real inventory: the demo operator, read by ingest and computed by accounting.

use accounting::{InventoryOptions, ResidualBasis};
use scenario::engine::{Model, Scenario};
use scenario::lmdi::{decompose, observations_from_baseline};
use scenario::{calibrate, Catalogue, Drivers};

fn baseline(sites: usize, year: i32, seed: u64) -> (scenario::Baseline, accounting::InventoryReport) {
    let dir = tempfile::tempdir().unwrap();
    demo::generate(&demo::DemoOptions::one_year(sites, year, seed), dir.path()).unwrap();
    let (ds, _) = ingest::load_dir(dir.path(), year, 2).unwrap();
    let lib = ingest::load_library(Some(dir.path()), None).unwrap();
    let mut o = InventoryOptions::new(year);
    o.threads = 2;
    o.residual = ResidualBasis::Location;
    let inv = accounting::compute(&ds, &lib, &o).unwrap();
    let report = inv.report(&ds, &lib, None, None);
    let mut wrong = o.clone();
    wrong.residual = ResidualBasis::NbsResidual;
    let inv_wrong = accounting::compute(&ds, &lib, &wrong).unwrap();
    assert!(calibrate(&ds, &inv_wrong, "x").is_err(), "calibration needs the location residual");
    (calibrate(&ds, &inv, "demo").unwrap(), report)
}

#[test]
fn base_year_of_the_model_equals_the_inventory() {
    let (b, report) = baseline(600, 2024, 7);
    assert_eq!(b.provinces.iter().filter(|p| p.code.starts_with("CT-")).count(), 31);
    let inventory = report.totals.scope1 + report.totals.scope2_market;
    assert!((b.total_tco2e() - inventory).abs() <= 1e-6 * inventory, "{} vs {inventory}", b.total_tco2e());
    let elec: f64 = scenario::Class::ALL.iter().map(|c| b.class_total(*c).electricity_mwh).sum();
    assert!((elec - report.memo.electricity_mwh).abs() <= 1e-6 * elec);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let r = m.run(&Scenario::baseline("bau")).unwrap();
    // Kaya identity at the base year: the model reproduces the inventory to rounding.
    assert!((r.years[0].gross_tco2e - inventory).abs() <= 1e-6 * inventory);
}

#[test]
fn lmdi_between_two_inventories_sums_to_the_change() {
    let (a, _) = baseline(600, 2023, 3);
    let (b, _) = baseline(700, 2024, 3);
    let d = Drivers::shipped();
    let dec = decompose(2023, &observations_from_baseline(&a, &d), 2024, &observations_from_baseline(&b, &d)).unwrap();
    let change = b.total_tco2e() - a.total_tco2e();
    assert!((dec.to_tco2e - dec.from_tco2e - change).abs() <= 1e-6 * b.total_tco2e());
    assert!((dec.total.sum() - change).abs() <= 1e-6 * b.total_tco2e(), "{:?} vs {change}", dec.total);
    assert!(dec.total.activity > 0.0, "more sites: the activity effect adds emissions");
}

/// Issue 13, "the scenario base is not the overview's total": the reconciliation walks from the
/// inventory's market-based total (default NBS residual, Scope 3 included) to the scenario base,
/// each difference with its amount, and ends exactly at the base.
#[test]
fn reconciliation_walks_from_the_inventory_total_to_the_scenario_base() {
    let year = 2024;
    let dir = tempfile::tempdir().unwrap();
    demo::generate(&demo::DemoOptions::one_year(400, year, 3), dir.path()).unwrap();
    let (ds, _) = ingest::load_dir(dir.path(), year, 2).unwrap();
    let lib = ingest::load_library(Some(dir.path()), None).unwrap();
    let mut o = InventoryOptions::new(year);
    o.threads = 2;
    let default = accounting::compute(&ds, &lib, &o).unwrap().report(&ds, &lib, None, None);
    o.residual = ResidualBasis::Location;
    let loc = accounting::compute(&ds, &lib, &o).unwrap();
    let b = calibrate(&ds, &loc, "demo").unwrap();
    let r = scenario::reconcile(&scenario::InventoryTotals::of(&default.totals, ResidualBasis::NbsResidual), &b);
    assert_eq!(r.inventory_total_tco2e, default.totals.total_market);
    assert_eq!(r.inventory_residual, "nbs_residual");
    let codes: Vec<&str> = r.steps.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["scope3_left_out", "scope2_market_on_location_residual", "rounding"]);
    assert!(default.totals.scope3 > 0.0, "the demo files Scope 3");
    assert_eq!(r.steps[0].tco2e, -default.totals.scope3);
    let loc_s2 = loc.report(&ds, &lib, None, None).totals.scope2_market;
    assert!((r.steps[1].tco2e - (loc_s2 - default.totals.scope2_market)).abs() < 1e-6);
    assert!(r.steps[1].tco2e.abs() > 1.0, "the residual bases differ on the demo");
    assert!(r.steps[2].tco2e.abs() < 1e-3, "rounding {}", r.steps[2].tco2e);
    let end = r.inventory_total_tco2e + r.steps.iter().map(|s| s.tco2e).sum::<f64>();
    assert!((end - r.scenario_base_tco2e).abs() <= 1e-9 * end.abs());
    assert_eq!(r.scenario_base_tco2e, b.total_tco2e());
}
