use scenario::drivers::{Class, N_CLASSES};
use scenario::engine::{Model, Scenario, Selected};
use scenario::synthetic::national_baseline;
use scenario::Catalogue;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn base_year_reproduces_the_calibrated_inventory() {
    let b = national_baseline(2024, 20_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let r = m.run(&Scenario::baseline("bau")).unwrap();
    assert_eq!(r.years[0].year, 2024);
    assert!(close(r.years[0].gross_tco2e, b.total_tco2e()), "{} vs {}", r.years[0].gross_tco2e, b.total_tco2e());
    assert_eq!(r.years.len(), 2060 - 2024 + 1);
}

/// The identity, recomputed independently from the published drivers: for every year and class,
/// Σ_p A × I × PUE × GF_p × grid index × (1 − green) + Scope 1 equals the engine's class total.
#[test]
fn kaya_identity_holds_to_rounding_for_every_year_and_class() {
    let b = national_baseline(2024, 5_000);
    let cat = Catalogue::shipped();
    let mut sc = Scenario::baseline("edited");
    sc.drivers.set_path("traffic_growth", vec![(2025, 0.12), (2060, 0.0)]).unwrap();
    sc.drivers.set_path("grid_factor_change", vec![(2025, -0.03)]).unwrap();
    sc.drivers.set_path("pue_data_center", vec![(2024, 1.6), (2040, 1.25)]).unwrap();
    sc.drivers.set_path("green_share_extra", vec![(2024, 0.0), (2050, 0.5)]).unwrap();
    let m = Model::new(&b, &cat).unwrap();
    let r = m.run(&sc).unwrap();
    let d = &sc.drivers;
    for (k, row) in r.years.iter().enumerate() {
        let year = 2024 + k as i32;
        let compound = |key: &str| (2025..=year).map(|y| 1.0 + d.value(key, y)).product::<f64>();
        let grid = compound("grid_factor_change");
        assert!(close(row.grid_factor_index, grid));
        for c in Class::ALL {
            if c == Class::Fleet {
                continue; // fleet: checked below with electrification
            }
            let (ak, ik, pk) = c.driver_keys();
            let (a, i) = (compound(ak), compound(ik));
            let pue = pk.map_or(1.0, |p| d.value(p, year) / d.value(p, 2024));
            let green_extra = d.value("green_share_extra", year);
            let mut expect = 0.0;
            for p in &b.provinces {
                let cb = &p.classes[c as usize];
                let g0 = cb.green_mwh / cb.electricity_mwh;
                let gf = cb.scope2_tco2e / (cb.electricity_mwh - cb.green_mwh);
                let activity = a;
                let energy_per_activity = cb.electricity_mwh * i; // at base PUE
                expect += activity * energy_per_activity * pue * gf * grid * (1.0 - (g0 + green_extra).min(1.0))
                    + cb.scope1_tco2e * a;
            }
            assert!(
                close(row.by_class_tco2e[c as usize], expect),
                "{year} {c:?}: {} vs {expect}",
                row.by_class_tco2e[c as usize]
            );
        }
        let sum: f64 = row.by_class_tco2e.iter().sum();
        assert!(close(sum, row.gross_tco2e));
        assert!(close(row.scope1_tco2e + row.scope2_tco2e, row.gross_tco2e));
    }
    assert_eq!(N_CLASSES, 5);
}

#[test]
fn a_scenario_without_measures_reproduces_the_baseline() {
    let b = national_baseline(2024, 3_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let base = m.run(&Scenario::baseline("bau")).unwrap();
    let mut sc = Scenario::baseline("empty");
    sc.measures = vec![];
    let again = m.run(&sc).unwrap();
    assert_eq!(base.years, again.years);
    assert_eq!(again.total_net_cost_yuan, 0);
    // A measure at zero scale changes nothing and costs nothing either.
    sc.measures = vec![Selected { id: "dc_pue_upgrade".into(), start: 2026, ramp_years: None, scale: 0.0 }];
    let zero = m.run(&sc).unwrap();
    assert_eq!(base.years, zero.years);
    assert_eq!(zero.total_net_cost_yuan, 0);
}

#[test]
fn measures_lower_emissions_from_their_start_year_only() {
    let b = national_baseline(2024, 3_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let base = m.run(&Scenario::baseline("bau")).unwrap();
    for id in ["ai_bs_energy_saving", "dc_pue_upgrade", "rooftop_pv", "green_power_purchase", "fleet_electrification"] {
        let mut sc = Scenario::baseline(id);
        sc.measures = vec![Selected { id: id.into(), start: 2028, ramp_years: None, scale: 1.0 }];
        let r = m.run(&sc).unwrap();
        for (x, y) in r.years.iter().zip(&base.years) {
            if x.year < 2028 {
                assert_eq!(x.gross_tco2e, y.gross_tco2e, "{id} before start");
            } else {
                assert!(x.gross_tco2e < y.gross_tco2e, "{id} in {}", x.year);
            }
        }
        let o = &r.measures[0];
        assert!(o.abatement_tco2e > 0.0, "{id}");
        assert_eq!(o.net_cost_yuan, o.capex_yuan + o.opex_yuan + o.purchases_yuan - o.savings_yuan);
    }
    // Offsets lower net, not gross emissions.
    let mut sc = Scenario::baseline("offsets");
    sc.measures = vec![Selected { id: "offsets".into(), start: 2030, ramp_years: None, scale: 1.0 }];
    let r = m.run(&sc).unwrap();
    assert_eq!(r.years[10].gross_tco2e, base.years[10].gross_tco2e);
    assert!(close(r.years[10].net_tco2e, base.years[10].gross_tco2e * 0.95));
    assert!(r.measures[0].purchases_yuan > 0);
}

#[test]
fn bad_scenarios_are_refused_with_reasons() {
    let b = national_baseline(2024, 1_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let mut sc = Scenario::baseline("bad");
    sc.measures = vec![Selected { id: "nope".into(), start: 2026, ramp_years: None, scale: 1.0 }];
    assert!(m.run(&sc).unwrap_err().to_string().contains("nope"));
    sc.measures = vec![Selected { id: "offsets".into(), start: 2024, ramp_years: None, scale: 1.0 }];
    assert!(m.run(&sc).unwrap_err().to_string().contains("after the base year"));
}

#[test]
fn present_value_discounts_later_years() {
    let b = national_baseline(2024, 3_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let mut sc = Scenario::baseline("pv");
    sc.measures = vec![
        Selected { id: "offsets".into(), start: 2030, ramp_years: None, scale: 1.0 },
        Selected { id: "dc_pue_upgrade".into(), start: 2026, ramp_years: None, scale: 1.0 },
    ];
    let r0 = m.run(&sc).unwrap();
    for o in &r0.measures {
        assert_eq!(o.present_value_yuan, o.net_cost_yuan, "rate 0 is undiscounted");
    }
    sc.drivers.set_path("discount_rate", vec![(2024, 0.08)]).unwrap();
    let r = m.run(&sc).unwrap();
    let off = &r.measures[0];
    // Offsets are bought every year from 2030: all cost, so discounting shrinks it.
    assert!(off.net_cost_yuan > 0 && off.present_value_yuan > 0 && off.present_value_yuan < off.net_cost_yuan);
    let pue = &r.measures[1];
    // Capex first, savings later: discounting makes the upgrade look dearer than undiscounted.
    assert!(pue.present_value_yuan > pue.net_cost_yuan);
    assert_eq!(r.total_present_value_yuan, off.present_value_yuan + pue.present_value_yuan);
    assert_eq!(r.years, r0.years, "the discount rate changes money, not emissions");
}

#[test]
fn overlapping_bill_savings_are_counted_once_in_the_total() {
    let b = national_baseline(2024, 3_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let mut sc = Scenario::baseline("overlap");
    // Both set the data-centre PUE; only the lower one counts in the combined run.
    sc.measures = vec![
        Selected { id: "dc_pue_upgrade".into(), start: 2026, ramp_years: None, scale: 1.0 },
        Selected { id: "dc_liquid_cooling".into(), start: 2026, ramp_years: None, scale: 1.0 },
    ];
    let r = m.run(&sc).unwrap();
    let alone: i64 = r.measures.iter().map(|x| x.savings_yuan).sum();
    assert!(r.overlapping_savings_yuan > 0 && r.overlapping_savings_yuan < alone);
    let net: i64 = r.measures.iter().map(|x| x.net_cost_yuan).sum();
    assert_eq!(r.total_net_cost_yuan, net + r.overlapping_savings_yuan);
    // The liquid-cooling run alone saves what both together save.
    let mut lc = Scenario::baseline("lc");
    lc.measures = vec![sc.measures[1].clone()];
    let lc = m.run(&lc).unwrap();
    assert_eq!(alone - r.overlapping_savings_yuan, lc.measures[0].savings_yuan);
}

/// Each target check carries its kind, year and the figures its detail names, recomputable from
/// the path, so a console can word it in any language.
#[test]
fn target_checks_carry_their_kind_year_and_figures() {
    let b = national_baseline(2024, 5_000);
    let cat = Catalogue::shipped();
    let m = Model::new(&b, &cat).unwrap();
    let mut sc = Scenario::baseline("t");
    sc.drivers.set_path("traffic_growth", vec![(2025, 0.12), (2060, 0.02)]).unwrap();
    sc.targets.peak_by = Some(2030);
    sc.targets.intensity_year = Some(2030);
    sc.targets.intensity_reduction = Some(0.2);
    sc.targets.neutral_by = Some(2060);
    let r = m.run(&sc).unwrap();
    let kinds: Vec<(&str, i32)> = r.targets.iter().map(|c| (c.kind, c.year)).collect();
    assert_eq!(kinds, vec![("peak", 2030), ("intensity", 2030), ("net_zero", 2060)]);
    let up_to = r.years.iter().filter(|y| y.year <= 2030).map(|y| y.gross_tco2e).fold(f64::MIN, f64::max);
    let after = r.years.iter().filter(|y| y.year > 2030).map(|y| y.gross_tco2e).fold(f64::MIN, f64::max);
    let peak = &r.targets[0];
    assert!(close(peak.figures["highest_up_to_year_t"], up_to) && close(peak.figures["highest_after_year_t"], after));
    assert!(close(peak.gap_tco2e, (after - up_to).max(0.0)));
    let intensity = &r.targets[1];
    assert_eq!(intensity.figures["reduction"], 0.2);
    let y2030 = r.years.iter().find(|y| y.year == 2030).unwrap();
    assert!(close(intensity.figures["emitted_t"], y2030.gross_tco2e));
    assert!(close(r.targets[2].figures["net_t"], r.years.last().unwrap().net_tco2e));
}
