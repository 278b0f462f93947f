//! The demo operator over several years: the same facilities every year, per-year inventories
//! (ingest + accounting, as `dualcarbon inventory --data DIR --year Y` computes them) that follow
//! the documented trends of `demo::year_factors`, and output that depends only on (sites, years, seed).

use accounting::{GroupBy, InventoryOptions, InventoryReport};
use demo::{rates, traffic_growth, DemoOptions, BS_LOAD_SHARE};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const FIRST: i32 = 2022;
const LAST: i32 = 2024;

fn opts(sites: usize, seed: u64) -> DemoOptions {
    DemoOptions { sites, first_year: FIRST, year: LAST, seed }
}

/// The year's inventory by facility type, and the facility codes with activity that year.
fn inventory(dir: &Path, year: i32) -> (InventoryReport, BTreeSet<String>) {
    let (ds, _) = ingest::load_dir(dir, year, 2).unwrap_or_else(|e| panic!("{year}: {e}"));
    let lib = ingest::load_library(Some(dir), None).unwrap();
    let mut o = InventoryOptions::new(year);
    o.threads = 2;
    let inv = accounting::compute(&ds, &lib, &o).unwrap();
    let active: BTreeSet<String> =
        ds.activity.facility.iter().map(|&f| ds.facilities[f as usize].code.clone()).collect();
    (inv.report(&ds, &lib, None, Some(GroupBy::FacilityType)), active)
}

fn row<'a>(r: &'a InventoryReport, kind: &str) -> &'a accounting::Figures {
    &r.rows.iter().find(|x| x.key == kind).unwrap_or_else(|| panic!("no {kind} row")).figures
}

fn hours(year: i32) -> f64 {
    (1..=12).map(|m| 24.0 * model::calendar::days_in_month(year, m) as f64).sum()
}

/// Electricity of a facility type per hour of the year, MWh/h.
fn power(r: &InventoryReport, kind: &str) -> f64 {
    row(r, kind).memo.electricity_mwh / hours(r.year)
}

fn assert_near(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: {got:.5}, expected {want:.5} ± {tol}");
}

#[test]
fn years_share_facilities_and_follow_the_documented_trends() {
    let dir = tempfile::tempdir().unwrap();
    let s = demo::generate(&opts(3000, 11), dir.path()).unwrap();
    assert_eq!(s.rows_by_year.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2022, 2023, 2024]);
    assert_eq!(s.rows_by_year.iter().map(|r| r.1).sum::<u64>(), s.activity_rows);
    assert!(!dir.path().join("activity.csv").exists(), "several years: one activity-YYYY.csv each");

    let years: BTreeMap<i32, (InventoryReport, BTreeSet<String>)> =
        (FIRST..=LAST).map(|y| (y, inventory(dir.path(), y))).collect();
    // The same facilities every year: every facility of facilities.csv reports every year.
    let codes: BTreeSet<String> = std::fs::read_to_string(dir.path().join("facilities.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), s.facilities);
    for (y, (_, active)) in &years {
        assert_eq!(active, &codes, "{y}: facilities with activity");
    }

    for y in FIRST..LAST {
        let (a, b) = (&years[&y].0, &years[&(y + 1)].0);
        let ratio = |kind: &str| power(b, kind) / power(a, kind);
        // Per site and hour: 5G electricity grows with traffic, 4G and machine rooms save.
        assert_near("5G", ratio("base_station_5g"), 1.0 + BS_LOAD_SHARE * traffic_growth(y + 1), 0.003);
        assert_near("4G", ratio("base_station_4g"), 1.0 + rates::BS4G_ELECTRICITY, 0.003);
        assert_near("machine rooms", ratio("machine_room"), 1.0 + rates::MACHINE_ROOM_ELECTRICITY, 0.004);
        // Data centres: IT load grows, PUE (1.25–1.6 in the base year) falls by |DC_PUE| a year.
        let k = (LAST - y - 1) as f64;
        let pue = |p: f64| (p - rates::DC_PUE * k) / (p - rates::DC_PUE * (k + 1.0));
        let (lo, hi) = ((1.0 + rates::DC_IT_LOAD) * pue(1.25), (1.0 + rates::DC_IT_LOAD) * pue(1.6));
        let dc = ratio("data_center");
        assert!(dc > lo - 0.004 && dc < hi + 0.004, "data centres {y}→{}: {dc}, expected {lo}..{hi}", y + 1);
        // Certified green power: a larger share of data-centre electricity every year.
        let share = |r: &InventoryReport| {
            let f = row(r, "data_center");
            f.memo.green_certified_mwh / f.memo.electricity_mwh
        };
        let gained = share(b) - share(a);
        assert!(gained > 0.01 && gained <= rates::GREEN_CERTIFIED_SHARE, "green share {y}→{}: {gained:+}", y + 1);
        // Fleets: fuel (mobile combustion) falls between the gasoline and diesel rates.
        let fleet = row(b, "fleet").scope1.mobile_combustion / row(a, "fleet").scope1.mobile_combustion;
        assert!(
            fleet > 1.0 + rates::FLEET_GASOLINE - 0.004 && fleet < 1.0 + rates::FLEET_DIESEL + 0.004,
            "fleet fuel {y}→{}: {fleet}",
            y + 1
        );
        // Retail halls carry no trend: flat per hour.
        assert_near("retail", ratio("retail"), 1.0, 0.004);
    }
    // Offices (few, noisy; billed per month, not per hour): electricity and paper over the span.
    let (a, b) = (&years[&FIRST].0, &years[&LAST].0);
    let n = LAST - FIRST;
    let office = row(b, "office").memo.electricity_mwh / row(a, "office").memo.electricity_mwh;
    assert_near("office electricity", office, (1.0 + rates::OFFICE_ELECTRICITY).powi(n), 0.015);
    let paper = row(b, "office").scope3.cat1_purchased_goods / row(a, "office").scope3.cat1_purchased_goods;
    assert!(paper < office, "paper falls faster than office electricity: {paper} vs {office}");
}

#[test]
fn the_last_year_is_the_single_year_and_output_is_deterministic() {
    let (a, b, one) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sa = demo::generate(&opts(700, 5), a.path()).unwrap();
    let sb = demo::generate(&opts(700, 5), b.path()).unwrap();
    assert_eq!(sa, sb);
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    for f in ["orgs.csv", "facilities.csv", "activity-2022.csv", "activity-2023.csv", "activity-2024.csv"] {
        assert_eq!(read(a.path(), f), read(b.path(), f), "{f}");
    }
    assert_ne!(read(a.path(), "activity-2022.csv"), read(a.path(), "activity-2023.csv"));
    // `--year 2024` alone: the same facilities, and the base year's activity byte for byte.
    demo::generate(&DemoOptions::one_year(700, 2024, 5), one.path()).unwrap();
    assert_eq!(read(one.path(), "facilities.csv"), read(a.path(), "facilities.csv"));
    assert_eq!(read(one.path(), "activity.csv"), read(a.path(), "activity-2024.csv"));
    // Another seed, another operator.
    let c = tempfile::tempdir().unwrap();
    demo::generate(&opts(700, 6), c.path()).unwrap();
    assert_ne!(read(c.path(), "activity-2023.csv"), read(a.path(), "activity-2023.csv"));
}

#[test]
fn year_factors_compound_back_from_the_base_year() {
    let base = demo::year_factors(2024, 2024);
    assert_eq!((base.bs5g_electricity, base.dc_pue_offset, base.fleet_gasoline), (1.0, 0.0, 1.0));
    let f = demo::year_factors(2022, 2024);
    let want = 1.0 / ((1.0 + BS_LOAD_SHARE * traffic_growth(2023)) * (1.0 + BS_LOAD_SHARE * traffic_growth(2024)));
    assert!((f.bs5g_electricity - want).abs() < 1e-12);
    assert!((f.dc_pue_offset + 2.0 * rates::DC_PUE).abs() < 1e-12);
    assert!(f.green_certified_offset < 0.0 && f.fleet_gasoline > 1.0 && f.dc_it_load < 1.0);
    assert_eq!(demo::parse_years("2022-2024"), Ok((2022, 2024)));
    assert_eq!(demo::parse_years("2024"), Ok((2024, 2024)));
    assert!(demo::parse_years("2024-2022").is_err() && demo::parse_years("x").is_err());
    let d = tempfile::tempdir().unwrap();
    let e = demo::generate(&DemoOptions { sites: 200, first_year: 1999, year: 2024, seed: 1 }, d.path()).unwrap_err();
    assert!(e.to_string().contains("first year"), "{e}");
}
