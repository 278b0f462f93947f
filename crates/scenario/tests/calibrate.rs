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
