//! Driver semantics over the whole catalogue (issue 13): a driver given as one number is that
//! value in every projected year, relative to the calibrated base value, the base year staying
//! calibrated; every driver moves gross emissions in its documented direction when changed alone;
//! a scenario without edits or measures is the baseline bit for bit.

use proptest::prelude::*;
use scenario::drivers::{Direction, Kind};
use scenario::engine::{Model, RunResult, Scenario};
use scenario::spec;
use scenario::synthetic::national_baseline;
use scenario::{Baseline, Catalogue, Drivers};

fn run_file(b: &Baseline, text: &str) -> RunResult {
    let sc = spec::parse(text).unwrap().scenario().unwrap();
    let cat = Catalogue::shipped();
    Model::new(b, &cat).unwrap().run(&sc).unwrap()
}

/// Regression (issue 13, "three scenario drivers change nothing"): `pue_data_center`,
/// `green_share_extra` and `fleet_ev_share` given as a number in a scenario file gave exactly the
/// baseline, because the model measured an edited level against the edit's own base-year value.
#[test]
fn a_level_driver_given_as_a_number_moves_the_path() {
    let b = national_baseline(2024, 5_000);
    let base = run_file(&b, "");
    for (text, lower) in [
        ("[drivers]\npue_data_center = 1.2\n", true),
        ("[drivers]\npue_data_center = 2.0\n", false),
        ("[drivers]\npue_machine_room = 1.4\n", true),
        ("[drivers]\ngreen_share_extra = 0.6\n", true),
        ("[drivers]\nfleet_ev_share = 1.0\n", true),
    ] {
        let r = run_file(&b, text);
        // The base year stays calibrated: bit for bit the baseline's.
        assert_eq!(r.years[0], base.years[0], "{text}");
        for (e, bau) in r.years.iter().zip(&base.years).skip(1) {
            if lower {
                assert!(e.gross_tco2e < bau.gross_tco2e, "{text} {}: {} vs {}", e.year, e.gross_tco2e, bau.gross_tco2e);
            } else {
                assert!(e.gross_tco2e > bau.gross_tco2e, "{text} {}: {} vs {}", e.year, e.gross_tco2e, bau.gross_tco2e);
            }
        }
    }
    // The value holds in every projected year: the data-centre class at PUE 1.2 against the
    // calibrated 1.6 uses 1.2 / 1.6 of the baseline's electricity in each year.
    let r = run_file(&b, "[drivers]\npue_data_center = 1.2\n");
    let dc = scenario::Class::DataCenter as usize;
    let s1 = |r: &RunResult, k: usize| r.years[k].by_class_tco2e[dc] - base.years[k].by_class_tco2e[dc];
    for k in 1..r.years.len() {
        let base_dc = base.years[k].by_class_tco2e[dc];
        // Scope 1 of the class is unchanged, so the change is a quarter of its Scope 2.
        assert!(s1(&r, k) < 0.0 && -s1(&r, k) < 0.25 * base_dc + 1e-6, "{k}");
    }
    // Green share: the base year's plus 0.6 in every projected year.
    let r = run_file(&b, "[drivers]\ngreen_share_extra = 0.6\n");
    for (e, bau) in r.years.iter().zip(&base.years).skip(1) {
        assert!(
            (e.green_share - bau.green_share - 0.6).abs() < 1e-9,
            "{}: {} vs {}",
            e.year,
            e.green_share,
            bau.green_share
        );
    }
    // Fleet fully electrified: no fleet fuel left after the base year.
    let r = run_file(&b, "[drivers]\nfleet_ev_share = 1.0\n");
    let fleet = scenario::Class::Fleet as usize;
    for (e, bau) in r.years.iter().zip(&base.years).skip(1) {
        assert!(e.by_class_tco2e[fleet] < 0.7 * bau.by_class_tco2e[fleet], "{}", e.year);
    }
}

/// A valid (low, high) pair for a driver, from a draw in [0, 1) and a step in (0, 1].
fn pair(key: &str, kind: Kind, unit: &str, u: f64, step: f64) -> (f64, f64) {
    if key.starts_with("pue") {
        let lo = 1.0 + 1.2 * u;
        (lo, lo + 0.01 + 0.5 * step)
    } else if unit == "share" {
        let lo = 0.4 * u;
        (lo, lo + 0.01 + 0.4 * step)
    } else if kind == Kind::Rate {
        let lo = -0.1 + 0.25 * u;
        (lo, lo + 0.001 + 0.1 * step)
    } else if key == "discount_rate" {
        let lo = 0.1 * u;
        (lo, lo + 0.001 + 0.05 * step)
    } else {
        let lo = 5000.0 * u + 0.1;
        (lo, lo * (1.01 + step))
    }
}

fn with(drivers: &Drivers, key: &str, v: f64) -> Scenario {
    let mut sc = Scenario::baseline("edited");
    sc.drivers = drivers.clone();
    sc.drivers.set_path(key, vec![(2000, v)]).unwrap();
    sc
}

fn baseline(year: i32, sites: u64, green: f64) -> Baseline {
    let mut b = national_baseline(year, sites);
    for p in &mut b.provinces {
        for c in &mut p.classes {
            // Scale the green share of the base year (Scope 2 on the remaining grey electricity).
            let gf = c.scope2_tco2e / (c.electricity_mwh - c.green_mwh);
            c.green_mwh = c.electricity_mwh * green;
            c.scope2_tco2e = gf * (c.electricity_mwh - c.green_mwh);
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every driver of the catalogue, changed alone, moves gross emissions in its documented
    /// direction in every projected year (strictly for `up` and `down`, not at all for `none`), and
    /// never changes the base year.
    #[test]
    fn every_driver_moves_the_path_in_its_documented_direction(
        year in 2020i32..2035, sites in 500u64..20_000, green in 0.0f64..0.3,
        u in 0.0f64..1.0, step in 0.01f64..1.0,
    ) {
        let b = baseline(year, sites, green);
        let cat = Catalogue::shipped();
        let m = Model::new(&b, &cat).unwrap();
        let shipped = Drivers::shipped();
        let bau = m.run(&Scenario::baseline("bau")).unwrap();
        for d in &shipped.list {
            let (lo, hi) = pair(&d.key, d.kind, &d.unit, u, step);
            let (a, z) = (m.run(&with(&shipped, &d.key, lo)).unwrap(), m.run(&with(&shipped, &d.key, hi)).unwrap());
            prop_assert_eq!(&a.years[0], &bau.years[0], "{}: the base year moved", d.key);
            prop_assert_eq!(&z.years[0], &bau.years[0], "{}: the base year moved", d.key);
            for (ya, yz) in a.years.iter().zip(&z.years).skip(1) {
                let (ga, gz) = (ya.gross_tco2e, yz.gross_tco2e);
                match d.direction.expect("every shipped driver documents its direction") {
                    Direction::Up => prop_assert!(gz > ga, "{} {}→{} in {}: {} → {}", d.key, lo, hi, ya.year, ga, gz),
                    Direction::Down => prop_assert!(gz < ga, "{} {}→{} in {}: {} → {}", d.key, lo, hi, ya.year, ga, gz),
                    Direction::None => prop_assert_eq!(ga.to_bits(), gz.to_bits(), "{} in {}", d.key, ya.year),
                }
            }
        }
        // What the `none` drivers move instead: business volume lowers the intensity index, and the
        // EV electricity per tonne raises emissions once the fleet is electrified.
        let (lo, hi) = pair("business_volume_growth", Kind::Rate, "1/yr", u, step);
        let (a, z) = (m.run(&with(&shipped, "business_volume_growth", lo)).unwrap(), m.run(&with(&shipped, "business_volume_growth", hi)).unwrap());
        prop_assert!(a.years.iter().zip(&z.years).skip(1).all(|(a, z)| z.intensity_index < a.intensity_index));
        let mut ev = shipped.clone();
        ev.set_path("fleet_ev_share", vec![(2000, 0.5)]).unwrap();
        let (lo, hi) = pair("ev_mwh_per_tco2_displaced", Kind::Level, "MWh/tCO2", u, step);
        let (a, z) = (m.run(&with(&ev, "ev_mwh_per_tco2_displaced", lo)).unwrap(), m.run(&with(&ev, "ev_mwh_per_tco2_displaced", hi)).unwrap());
        prop_assert!(a.years.iter().zip(&z.years).skip(1).all(|(a, z)| z.gross_tco2e > a.gross_tco2e));
    }

    /// A scenario without edits or measures is the baseline bit for bit, however it is written:
    /// the model's baseline, an empty scenario file, empty tables, an API request, and drivers
    /// edited to their own calibrated paths.
    #[test]
    fn a_scenario_without_edits_or_measures_is_the_baseline_bit_for_bit(
        year in 2020i32..2035, sites in 500u64..20_000, green in 0.0f64..0.3,
    ) {
        let b = baseline(year, sites, green);
        let cat = Catalogue::shipped();
        let m = Model::new(&b, &cat).unwrap();
        let bau = m.run(&Scenario::baseline("scenario")).unwrap();
        for text in ["", "[drivers]\n", "measures = []\n[drivers]\n"] {
            let r = run_file(&b, text);
            prop_assert_eq!(&r, &bau, "{:?}", text);
        }
        let req: scenario::api::Request = serde_json::from_value(serde_json::json!({
            "baseline": b, "scenario": { "drivers": {}, "measures": [] },
        })).unwrap();
        prop_assert_eq!(&scenario::api::run(&req).unwrap().run, &bau);
        // Every driver set to its own shipped path: the same numbers.
        let mut sc = Scenario::baseline("scenario");
        for d in Drivers::shipped().list {
            sc.drivers.set_path(&d.key, d.path.clone()).unwrap();
        }
        let r = m.run(&sc).unwrap();
        prop_assert_eq!(&r.years, &bau.years);
        for (y, z) in r.years.iter().zip(&bau.years) {
            prop_assert_eq!(y.gross_tco2e.to_bits(), z.gross_tco2e.to_bits());
        }
    }
}
