//! Annual simulation, sizing and emissions on a synthetic weather year (clear-sky Haurwitz irradiance
//! with random cloudy days and a ten-day typhoon spell), so the test needs no external file.

use site::controller::SupplyMode;
use site::sim::{self, SiteConfig};
use site::solar::{delta_t, solar_position, Observer};
use site::weather::{days_from_civil, Weather, WeatherRecord};

const ISLAND: &str = include_str!("../data/island-site.toml");

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Hourly weather for 2023 at the site; days 200..210 (July) are a typhoon with 5 % of clear sky.
fn synthetic_year(lat: f64, lon: f64, tz: f64) -> Weather {
    let obs = Observer::at_altitude(lat, lon, 0.0);
    let start = (days_from_civil(2023, 1, 1) * 86400) as f64 - tz * 3600.0;
    let mut rng = Lcg(7);
    let mut clearness = 1.0;
    let mut records = Vec::with_capacity(8760);
    for h in 0..8760 {
        let day = h / 24;
        if h % 24 == 0 {
            clearness = if (200..210).contains(&day) { 0.05 } else { 0.25 + 0.75 * rng.next() };
        }
        let end = start + (h as f64 + 1.0) * 3600.0;
        let sun = solar_position(end - 1800.0, &obs, delta_t(2023, 1));
        let cz = sun.apparent_zenith.to_radians().cos();
        // Haurwitz clear-sky GHI = 1098·cos z·exp(−0.059/cos z).
        let clear = if cz > 0.0 { 1098.0 * cz * (-0.059 / cz).exp() } else { 0.0 };
        let ghi = clear * clearness;
        let dhi = ghi * (1.0 - 0.8 * clearness).max(0.15);
        let dni = if cz > 0.05 { ((ghi - dhi) / cz).clamp(0.0, 1100.0) } else { 0.0 };
        records.push(WeatherRecord { unix_end: end, ghi, dni, dhi, temp_air: 28.0, wind_speed: 3.0 });
    }
    Weather {
        name: "synthetic".into(),
        latitude: lat,
        longitude: lon,
        elevation_m: 0.0,
        tz_hours: tz,
        interval_s: 3600,
        records,
    }
}

fn island() -> (SiteConfig, Weather) {
    let site = SiteConfig::from_toml(ISLAND).unwrap_or_else(|e| panic!("{e:?}"));
    let loc = site.location.unwrap();
    let w = synthetic_year(loc.latitude, loc.longitude, loc.tz_hours);
    (site, w)
}

#[test]
fn sized_site_serves_every_hour_and_energy_closes() {
    let (site, weather) = island();
    let lib = factors::Library::shipped();
    let mut steps = 0;
    let mut fc_hours_in_typhoon = 0;
    let report = sim::simulate(&site, &weather, &lib, |i, out, mode, _| {
        steps += 1;
        assert!(out.soc_after >= site.setpoints.soc_min - 1e-12 && out.soc_after <= site.setpoints.soc_max + 1e-12);
        if (200 * 24..210 * 24).contains(&i) && mode == SupplyMode::FuelCell {
            fc_hours_in_typhoon += 1;
        }
    })
    .unwrap();
    assert_eq!(steps, 8760);
    let e = report.energy_kwh;
    assert_eq!(e.unserved, 0.0, "{report:#?}");
    assert!(report.balance_residual_kwh.abs() < 1e-6, "{}", report.balance_residual_kwh);
    assert!(report.storage_residual_kwh.abs() < 1e-6, "{}", report.storage_residual_kwh);
    assert!(report.worst_step_imbalance_w < 1e-6);
    let hours: f64 = report.hours_by_state.values().sum();
    assert!((hours - 8760.0).abs() < 1e-6);
    // Each start spends its 45-minute warm-up in the starting state.
    let starting = report.hours_by_state["fuel_cell_starting"];
    assert!((starting - report.fuel_cell_starts as f64 * 0.75).abs() < 1e-9, "{starting}");
    // The typhoon drains the battery: the fuel cell starts and carries the site.
    assert!(report.fuel_cell_starts >= 1);
    assert!(fc_hours_in_typhoon > 24, "{fc_hours_in_typhoon}");
    // Methanol = generation × L/kWh + warm-ups.
    let expected = e.fc_output * site.fuel_cell.methanol_l_per_kwh
        + report.fuel_cell_starts as f64 * site.fuel_cell.startup_methanol_l;
    assert!((report.methanol_l - expected).abs() < 1e-6, "{} vs {expected}", report.methanol_l);
    // Refills: what was delivered is what was burnt, give or take what the tank holds.
    let tank_change = report.methanol_refilled_l - report.methanol_l;
    assert!(tank_change.abs() <= site.fuel_cell.tank_l + 1e-9);
    // PV carries most of the year.
    assert!(e.pv_to_load + e.pv_to_battery > 0.6 * e.load, "{e:?}");
}

#[test]
fn undersized_site_reports_unserved_load() {
    let (mut site, weather) = island();
    site.fuel_cell.rated_w = 0.0;
    site.fuel_cell.min_w = 0.0;
    site.battery.capacity_wh = 5_000.0;
    let report = sim::simulate(&site, &weather, &factors::Library::shipped(), |_, _, _, _| {}).unwrap();
    assert!(report.energy_kwh.unserved > 10.0, "{:?}", report.energy_kwh);
    assert!(report.unserved_hours > 24.0);
    assert!(report.hours_by_state["unserved"] > 0.0);
    assert!(report.balance_residual_kwh.abs() < 1e-6);
}

#[test]
fn emissions_name_their_factors_and_add_up() {
    let (site, weather) = island();
    let lib = factors::Library::shipped();
    let report = sim::simulate(&site, &weather, &lib, |_, _, _, _| {}).unwrap();
    let em = &report.emissions;
    let grid = lib.get("elec.nbs_average.CN-GRID-SOUTH.2022").unwrap().row.value;
    assert!((em.grid_baseline_co2_kg - report.energy_kwh.served * grid).abs() < 1e-6);
    let ids: Vec<&str> = em.factors.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "elec.nbs_average.CN-GRID-SOUTH.2022",
            "fuel.density.diesel",
            "fuel.cn_guideline.diesel.ncv",
            "fuel.cn_guideline.diesel.carbon_content",
            "fuel.cn_guideline.diesel.oxidation_rate"
        ]
    );
    // Diesel: 1 L = 0.84 kg × 42.652 MJ/kg × 20.2 g C/MJ × 0.98 × 44/12 = 2.6009 kg CO2.
    let per_l = em.diesel_baseline_co2_kg / em.diesel_baseline_fuel_l;
    assert!((per_l - 0.84 * 42.652 * 20.2 / 1000.0 * 0.98 * 44.0 / 12.0).abs() < 1e-9, "{per_l}");
    assert!(em.avoided_vs_diesel_kg > 0.0 && em.avoided_vs_grid_kg > 0.0);
    assert!((em.avoided_vs_grid_kg - (em.grid_baseline_co2_kg - em.methanol_co2_kg)).abs() < 1e-9);
    // Premix fuel: 0.535 kg methanol per litre, 44.01/32.04 kg CO2 per kg methanol.
    assert!((em.methanol_co2_kg - report.methanol_l * 0.535 * 44.01 / 32.04).abs() < 1e-9);
    // An unknown factor id is an error that names it.
    let mut bad = site.clone();
    bad.comparison.grid_factor = "elec.nowhere".into();
    let err = sim::simulate(&bad, &weather, &lib, |_, _, _, _| {}).unwrap_err();
    assert!(err.iter().any(|e| e.contains("elec.nowhere")), "{err:?}");
}

#[test]
fn sizing_finds_the_cheapest_zero_unserved_combination() {
    let (site, weather) = island();
    let sizing = site.sizing.clone().unwrap();
    let r = sim::size(&site, &sizing, &weather).unwrap();
    assert_eq!(r.evaluated, sizing.pv_w.len() * sizing.battery_wh.len() * sizing.fuel_cell_w.len());
    let best = r.best.clone().expect("a feasible size");
    // Nothing cheaper (capital + 10 years of fuel) serves every hour: re-simulate every candidate.
    for &pv in &sizing.pv_w {
        for &bat in &sizing.battery_wh {
            for &fc in &sizing.fuel_cell_w {
                let s = sim::resized(&site, pv, bat, fc);
                let rep = sim::simulate(&s, &weather, &factors::Library::shipped(), |_, _, _, _| {}).unwrap();
                let fuel_fen = (rep.methanol_l * sizing.fuel_fen_per_l as f64).round() as i64 * sizing.years as i64;
                let cost = sim::capex_cny(&sizing, pv, bat, fc) * 100 + fuel_fen;
                if cost < best.cost_fen {
                    assert!(rep.energy_kwh.unserved > 0.0, "cheaper {pv}/{bat}/{fc} also serves everything");
                }
            }
        }
    }
    let s = sim::resized(&site, best.pv_w, best.battery_wh, best.fuel_cell_w);
    let rep = sim::simulate(&s, &weather, &factors::Library::shipped(), |_, _, _, _| {}).unwrap();
    assert_eq!(rep.energy_kwh.unserved, 0.0);
    // 1.5 kW × 3500 + 2.5 kWh × 1200 + 0.5 kW × 15000 CNY.
    assert_eq!(sim::capex_cny(&sizing, 1500, 2500, 500), 5250 + 3000 + 7500);
}

#[test]
fn bad_site_file_lists_every_problem() {
    let text = ISLAND
        .replace("pdc0_w = 6000", "pdc0_w = -1")
        .replace("soc_alarm_clear = 0.40", "soc_alarm_clear = 0.20")
        .replace("min_w = 500", "min_w = 5000");
    let errors = SiteConfig::from_toml(&text).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"pv.pdc0_w"), "{fields:?}");
    assert!(fields.contains(&"setpoints.soc_alarm_clear"), "{fields:?}");
    assert!(fields.contains(&"fuel_cell.min_w"), "{fields:?}");
    let two_loads = ISLAND.replace("[load]\n", "[load]\nconstant_w = 900\n");
    let errors = SiteConfig::from_toml(&two_loads).unwrap_err();
    assert!(errors.iter().any(|e| e.field == "load"), "{errors:?}");
}

#[test]
fn quarter_hour_weather_gives_the_same_year() {
    let (site, hourly) = island();
    // The same weather at 15-minute resolution (each hour's values over its four quarters).
    let mut fine = hourly.clone();
    fine.interval_s = 900;
    fine.records = hourly
        .records
        .iter()
        .flat_map(|r| (0..4).map(move |q| WeatherRecord { unix_end: r.unix_end - 2700.0 + 900.0 * q as f64, ..*r }))
        .collect();
    let lib = factors::Library::shipped();
    let a = sim::simulate(&site, &hourly, &lib, |_, _, _, _| {}).unwrap();
    let b = sim::simulate(&site, &fine, &lib, |_, _, _, _| {}).unwrap();
    assert_eq!(b.steps, 4 * 8760);
    assert!((a.energy_kwh.load - b.energy_kwh.load).abs() < 1e-6, "same load profile");
    assert_eq!(b.energy_kwh.unserved, 0.0);
    assert!(b.balance_residual_kwh.abs() < 1e-6 && b.storage_residual_kwh.abs() < 1e-6);
    // The sun moves within the hour: PV differs a little, not much.
    let rel = (a.energy_kwh.pv_available - b.energy_kwh.pv_available).abs() / a.energy_kwh.pv_available;
    assert!(rel < 0.03, "PV differs by {rel}");
    let hours: f64 = b.hours_by_state.values().sum();
    assert!((hours - 8760.0).abs() < 1e-6);
}

#[test]
fn bench_sites_do_not_depend_on_thread_count_and_match_single_runs() {
    let (site, weather) = island();
    let one = site::bench::run(&site, &weather, 24, 1).unwrap();
    let three = site::bench::run(&site, &weather, 24, 3).unwrap();
    assert_eq!(one.fuel_cell_starts, three.fuel_cell_starts);
    assert_eq!(one.sites_with_unserved, three.sites_with_unserved);
    assert!((one.total_load_mwh - three.total_load_mwh).abs() < 1e-9 * one.total_load_mwh);
    assert!((one.total_methanol_l - three.total_methanol_l).abs() < 1e-9 * one.total_methanol_l);
    // The lockstep runners give what a plain simulation of each variant gives.
    let (mut starts, mut methanol) = (0, 0.0);
    for i in 0..24 {
        let (s, load_scale) = site::bench::variant(&site, i);
        let mut s = s;
        let profile = s.load.hourly_w().unwrap();
        s.load = sim::LoadConfig {
            constant_w: None,
            daily_profile_w: Some(profile.iter().map(|w| w * load_scale).collect()),
            earth: None,
        };
        let r = sim::simulate(&s, &weather, &factors::Library::shipped(), |_, _, _, _| {}).unwrap();
        starts += r.fuel_cell_starts;
        methanol += r.methanol_l;
    }
    assert_eq!(starts, one.fuel_cell_starts);
    assert!((methanol - one.total_methanol_l).abs() < 1e-6 * methanol, "{methanol} vs {}", one.total_methanol_l);
}

#[test]
fn a_sizing_is_bounded_in_candidates_and_years() {
    // Every candidate is a year's simulation: 11 × 11 × 11 of them would be 1,331 simulations.
    let many: Vec<String> = (1..=11).map(|i| (i * 1000).to_string()).collect();
    let list = format!("[{}]", many.join(", "));
    let text = ISLAND
        .replace("pv_w = [2000, 3000, 4000, 5000, 6000, 8000]", &format!("pv_w = {list}"))
        .replace("battery_wh = [5000, 10000, 15000, 20000, 30000]", &format!("battery_wh = {list}"))
        .replace("fuel_cell_w = [0, 1000, 2000]", &format!("fuel_cell_w = {list}"));
    let errors = site::sim::SiteConfig::from_toml(&text).unwrap_err();
    assert!(errors.iter().any(|e| e.field == "sizing" && e.reason.contains("1331 candidates")), "{errors:?}");
    assert!(site::sim::SiteConfig::from_toml(ISLAND).is_ok());
}
