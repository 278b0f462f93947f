//! The hybrid controller's rules: energy balance every step, SoC window, switching (alarm hysteresis,
//! start-up delay, minimum on and off times), power and fuel limits, remote set points.

use site::controller::*;

fn battery() -> BatterySpec {
    BatterySpec { capacity_wh: 10_000.0, round_trip_efficiency: 0.81, max_charge_w: 3_000.0, max_discharge_w: 2_500.0 }
}

fn fuel_cell() -> FuelCellSpec {
    FuelCellSpec {
        rated_w: 2_000.0,
        min_w: 400.0,
        methanol_l_per_kwh: 0.7,
        startup_s: 2_700.0,
        startup_methanol_l: 0.3,
        tank_l: 100.0,
        methanol_kg_per_l: 0.791,
    }
}

fn controller(soc: f64) -> Controller {
    Controller::new(battery(), fuel_cell(), Setpoints::default(), soc).unwrap()
}

fn input(pv: f64, load: f64) -> StepInputs {
    StepInputs { pv_available_w: pv, load_w: load, refuel_l: 0.0 }
}

/// Checks the three balances of a step and the battery's energy change.
fn assert_balanced(out: &StepOutputs, before_wh: f64, after_wh: f64, eta: f64, hours: f64) {
    let tol = 1e-6;
    assert!((out.pv_to_load_w + out.pv_to_battery_w + out.pv_curtailed_w - out.pv_available_w).abs() < tol, "{out:?}");
    assert!(
        (out.pv_to_load_w + out.fc_to_load_w + out.battery_discharge_w + out.unserved_w - out.load_w).abs() < tol,
        "{out:?}"
    );
    assert!((out.fc_to_load_w + out.fc_to_battery_w + out.fc_dumped_w - out.fc_output_w).abs() < tol, "{out:?}");
    let stored = (out.battery_charge_w() * eta - out.battery_discharge_w / eta) * hours;
    assert!((after_wh - before_wh - stored).abs() < 1e-6, "battery {before_wh} -> {after_wh}, flows {stored}");
    for v in [
        out.pv_to_load_w,
        out.pv_to_battery_w,
        out.pv_curtailed_w,
        out.fc_output_w,
        out.fc_to_load_w,
        out.fc_to_battery_w,
        out.fc_dumped_w,
        out.battery_discharge_w,
        out.unserved_w,
    ] {
        assert!(v >= 0.0, "negative flow in {out:?}");
    }
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn energy_balance_and_soc_window_hold_every_step() {
    for seed in 1..=20u64 {
        let mut rng = Lcg(seed);
        let mut c = controller(0.15 + 0.85 * rng.next());
        let eta = c.battery.one_way_efficiency();
        for step in 0..5_000 {
            let dt = [60.0, 900.0, 3600.0][(rng.next() * 3.0) as usize];
            // Long dark spells (PV zero) alternate with sunny ones so the fuel cell cycles.
            let pv = if (step / 200) % 3 == 0 { 0.0 } else { 6_000.0 * rng.next() };
            let load = 300.0 + 2_500.0 * rng.next();
            let refuel = if rng.next() < 0.01 { 50.0 } else { 0.0 };
            let before = c.state.battery_wh;
            let out = c.step(StepInputs { pv_available_w: pv, load_w: load, refuel_l: refuel }, dt);
            assert_balanced(&out, before, c.state.battery_wh, eta, dt / 3600.0);
            let soc = c.soc();
            assert!(
                soc >= c.setpoints.soc_min - 1e-12 && soc <= c.setpoints.soc_max + 1e-12,
                "seed {seed} step {step}: SoC {soc}"
            );
            assert!(c.state.fuel_l >= -1e-12 && c.state.fuel_l <= c.fuel_cell.tank_l + 1e-12);
        }
    }
}

#[test]
fn sun_feeds_load_and_charges_battery() {
    let mut c = controller(0.5);
    let out = c.step(input(3_000.0, 1_000.0), 3600.0);
    assert_eq!(out.mode(c.state.fuel_cell), SupplyMode::Solar);
    assert_eq!(out.pv_to_load_w, 1_000.0);
    assert_eq!(out.pv_to_battery_w, 2_000.0);
    assert_eq!(out.battery_discharge_w, 0.0);
    assert!((c.soc() - (0.5 + 2_000.0 * 0.9 / 10_000.0)).abs() < 1e-12);
}

#[test]
fn charge_power_limit_curtails_surplus() {
    let mut c = controller(0.2);
    let out = c.step(input(6_000.0, 1_000.0), 3600.0);
    assert_eq!(out.pv_to_battery_w, 3_000.0);
    assert_eq!(out.pv_curtailed_w, 2_000.0);
}

#[test]
fn night_runs_on_battery_within_discharge_limit() {
    let mut c = controller(0.9);
    let out = c.step(input(0.0, 1_500.0), 3600.0);
    assert_eq!(out.mode(c.state.fuel_cell), SupplyMode::Battery);
    assert_eq!(out.battery_discharge_w, 1_500.0);
    assert_eq!(c.state.fuel_cell, FuelCellState::Off);
    // More than the discharge limit: the rest is unserved (no fuel cell: SoC is high, no alarm).
    let out = c.step(input(0.0, 3_000.0), 60.0);
    assert_eq!(out.battery_discharge_w, 2_500.0);
    assert!((out.unserved_w - 500.0).abs() < 1e-9);
    assert_eq!(out.mode(c.state.fuel_cell), SupplyMode::Unserved);
}

#[test]
fn battery_low_alarm_starts_fuel_cell_after_warm_up_and_it_recharges_to_set_point() {
    let mut c = controller(0.31);
    // Above the alarm: battery only.
    let out = c.step(input(0.0, 1_000.0), 900.0);
    assert_eq!(c.state.fuel_cell, FuelCellState::Off);
    assert!(!out.fc_started);
    assert!(c.soc() <= 0.30);
    // At the alarm the fuel cell starts; during the 45-minute warm-up it delivers nothing.
    let out = c.step(input(0.0, 1_000.0), 900.0);
    assert!(out.fc_started);
    assert_eq!(c.state.fuel_cell, FuelCellState::Starting);
    assert_eq!(out.fc_output_w, 0.0);
    assert_eq!(out.mode(FuelCellState::Starting), SupplyMode::FuelCellStarting);
    assert!((out.methanol_l - 0.3).abs() < 1e-12, "warm-up fuel");
    let out = c.step(input(0.0, 1_000.0), 900.0);
    assert_eq!(out.fc_output_w, 0.0);
    let out = c.step(input(0.0, 1_000.0), 900.0);
    assert_eq!(out.fc_output_w, 0.0);
    assert_eq!(c.state.fuel_cell, FuelCellState::Running, "warm-up of 2700 s is over after three 900 s steps");
    // Running: full rating, load first, the rest into the battery; methanol per kWh.
    let out = c.step(input(0.0, 1_000.0), 900.0);
    assert_eq!(out.fc_output_w, 2_000.0);
    assert_eq!(out.fc_to_load_w, 1_000.0);
    assert_eq!(out.fc_to_battery_w, 1_000.0);
    assert!((out.methanol_l - 2.0 * 0.25 * 0.7).abs() < 1e-12);
    assert_eq!(out.mode(c.state.fuel_cell), SupplyMode::FuelCell);
    // It keeps running until the set point 0.80, then stops.
    let mut steps = 0;
    let mut soc_at_stop = 0.0;
    while c.state.fuel_cell == FuelCellState::Running {
        soc_at_stop = c.soc();
        let out = c.step(input(0.0, 1_000.0), 900.0);
        if c.state.fuel_cell == FuelCellState::Running {
            assert!(out.fc_output_w > 0.0);
        }
        steps += 1;
        assert!(steps < 1_000);
    }
    // The decision is taken at the start of a step: it stopped on the first step that began at or
    // above the set point, and that step the battery carried the load again.
    assert!(soc_at_stop >= 0.80, "stopped at SoC {soc_at_stop}");
    assert!(soc_at_stop < 0.80 + 1_000.0 * 0.25 * 0.9 / 10_000.0 + 1e-9, "ran one step too long: {soc_at_stop}");
    assert!(c.soc() < soc_at_stop);
    assert_eq!(c.state.fc_starts, 1);
}

#[test]
fn warm_up_ending_inside_a_step_delivers_for_the_rest_of_it() {
    let mut c = controller(0.25);
    let out = c.step(input(0.0, 500.0), 3600.0);
    assert!(out.fc_started);
    // 2700 s of warm-up in a 3600 s step: 900 s of delivery at the rating = a quarter of the step.
    assert!((out.fc_output_w - 500.0).abs() < 1e-9, "{out:?}");
    assert_eq!(c.state.fuel_cell, FuelCellState::Running);
}

#[test]
fn alarm_hysteresis_and_minimum_on_time() {
    let mut sp = Setpoints { fc_min_on_s: 4.0 * 3600.0, soc_fc_stop: 0.5, ..Setpoints::default() };
    sp.soc_alarm_clear = 0.45;
    let mut c = Controller::new(battery(), FuelCellSpec { startup_s: 0.0, ..fuel_cell() }, sp, 0.30).unwrap();
    let out = c.step(input(0.0, 0.0), 3600.0);
    assert!(out.fc_started);
    // The fuel cell charges fast: 2000 W·0.9 = 1.8 kWh/h, SoC 0.30 → 0.48 → 0.66 ...: past the 0.5 set
    // point after two hours, but the minimum on-time of 4 h keeps it running.
    for hour in 1..4 {
        c.step(input(0.0, 0.0), 3600.0);
        assert_eq!(c.state.fuel_cell, FuelCellState::Running, "hour {hour}");
    }
    c.step(input(0.0, 0.0), 3600.0);
    assert_eq!(c.state.fuel_cell, FuelCellState::Off, "min on-time over and SoC above set point");
    assert!(!c.state.alarm, "alarm cleared above soc_alarm_clear");

    // Hysteresis: an alarm raised at 0.30 stays raised while SoC climbs below 0.45 ...
    let mut c = Controller::new(
        battery(),
        fuel_cell(),
        Setpoints { fc_override: Override::ForceOff, ..Setpoints::default() },
        0.29,
    )
    .unwrap();
    c.step(input(0.0, 0.0), 60.0);
    assert!(c.state.alarm);
    c.step(input(1_000.0, 0.0), 3600.0); // +0.09 → 0.38
    assert!(c.state.alarm, "SoC {} is below the clear level: alarm holds", c.soc());
    c.step(input(1_000.0, 0.0), 3600.0); // 0.47
    c.step(input(0.0, 0.0), 60.0);
    assert!(!c.state.alarm, "SoC {} at or above clear level", c.soc());
}

#[test]
fn alarm_delay_and_minimum_off_time() {
    let sp = Setpoints { alarm_delay_s: 600.0, fc_min_off_s: 7200.0, fc_min_on_s: 0.0, ..Setpoints::default() };
    let mut c = Controller::new(battery(), FuelCellSpec { startup_s: 0.0, ..fuel_cell() }, sp, 0.30).unwrap();
    let out = c.step(input(0.0, 0.0), 300.0);
    assert!(!out.fc_started, "alarm has stood 0 s");
    let out = c.step(input(0.0, 0.0), 300.0);
    assert!(!out.fc_started, "alarm has stood 300 s");
    let out = c.step(input(0.0, 0.0), 300.0);
    assert!(out.fc_started, "alarm has stood 600 s");
    // Run to the stop set point.
    while c.state.fuel_cell != FuelCellState::Off {
        c.step(input(0.0, 0.0), 300.0);
    }
    // Drain straight back below the alarm: the fuel cell may not restart before 2 h off.
    let mut off_s = 0.0;
    loop {
        let out = c.step(input(0.0, 2_500.0), 300.0);
        if out.fc_started {
            break;
        }
        off_s += 300.0;
        assert!(off_s < 48.0 * 3600.0);
    }
    assert!(off_s >= 7200.0, "restarted after {off_s} s off");
}

#[test]
fn fuel_tank_limits_the_fuel_cell() {
    let fc = FuelCellSpec { tank_l: 1.0, startup_s: 0.0, startup_methanol_l: 0.0, ..fuel_cell() };
    let mut c = Controller::new(battery(), fc, Setpoints::default(), 0.2).unwrap();
    let out = c.step(input(0.0, 1_000.0), 3600.0);
    // 1 L at 0.7 L/kWh is 1.4286 kWh: the fuel cell can give only that in the hour.
    assert!((out.fc_output_w - 1000.0 / 0.7).abs() < 1e-6, "{out:?}");
    assert!(c.state.fuel_l.abs() < 1e-12);
    c.step(input(0.0, 1_000.0), 3600.0);
    assert_eq!(c.state.fuel_cell, FuelCellState::Off, "empty tank stops the fuel cell");
    let out = c.step(input(0.0, 1_000.0), 3600.0);
    assert!(!out.fc_started, "no start with an empty tank");
    // A refill lets it start again.
    let out = c.step(StepInputs { pv_available_w: 0.0, load_w: 1_000.0, refuel_l: 5.0 }, 3600.0);
    assert!(out.fc_started);
}

#[test]
fn minimum_output_above_need_is_dumped_not_hidden() {
    let sp = Setpoints { soc_max: 0.9, soc_fc_stop: 0.9, ..Setpoints::default() };
    let fc = FuelCellSpec { startup_s: 0.0, min_w: 1_500.0, ..fuel_cell() };
    let mut c = Controller::new(battery(), fc, sp, 0.30).unwrap();
    c.state.battery_wh = 8_950.0; // just under the ceiling: 50 Wh of room
    c.state.fuel_cell = FuelCellState::Running;
    c.state.fc_state_s = 0.0;
    let out = c.step(input(0.0, 100.0), 3600.0);
    assert!((out.fc_output_w - 1_500.0).abs() < 1e-9);
    assert!(out.fc_dumped_w > 1_000.0, "{out:?}");
    assert!((c.soc() - 0.9).abs() < 1e-9);
}

#[test]
fn remote_setpoints_are_validated_and_audited() {
    let mut c = controller(0.5);
    let bad = Setpoints { soc_alarm: 0.1, soc_alarm_clear: 0.05, ..Setpoints::default() };
    let errors = c.apply_setpoints(bad, "ops@gx", 1_700_000_000, "test").unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
    assert!(fields.contains(&"soc_alarm") && fields.contains(&"soc_alarm_clear"), "{fields:?}");
    // Each broken rule as a code with the two fields and values compared (the console words it).
    let alarm = errors.iter().find(|e| e.field == "soc_alarm").unwrap();
    assert_eq!(
        (alarm.code, alarm.value, alarm.other, alarm.other_value),
        ("must_be_above", 0.1, Some("soc_min"), Some(Setpoints::default().soc_min))
    );
    let clear = errors.iter().find(|e| e.field == "soc_alarm_clear").unwrap();
    assert_eq!((clear.code, clear.other), ("must_be_above", Some("soc_alarm")));
    assert_eq!(c.setpoints, Setpoints::default(), "a rejected change changes nothing");

    let new = Setpoints { soc_fc_stop: 0.9, ..Setpoints::default() };
    let change = c.apply_setpoints(new.clone(), "ops@gx", 1_700_000_000, "typhoon season").unwrap();
    assert_eq!(change.before, Setpoints::default());
    assert_eq!(change.after, new);
    assert_eq!(c.setpoints.soc_fc_stop, 0.9);
    // Set points and telemetry travel as JSON.
    let json = serde_json::to_string(&change).unwrap();
    let back: SetpointChange = serde_json::from_str(&json).unwrap();
    assert_eq!(back, change);
    let out = c.step(input(1_000.0, 500.0), 60.0);
    let t = c.telemetry("GX-FCG-0001", 1_700_000_060, &out, out.mode(c.state.fuel_cell));
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["mode"], "solar");
    assert_eq!(json["pv_w"], 1000.0);
    let mut lines = String::new();
    out.meter_lines(&t.site, t.unix, &mut lines);
    assert_eq!(
        lines,
        "GX-FCG-0001.pv,1700000060000,1.000000\nGX-FCG-0001.load,1700000060000,0.500000\n\
         GX-FCG-0001.fuel_cell,1700000060000,0.000000\nGX-FCG-0001.battery_charge,1700000060000,0.500000\n\
         GX-FCG-0001.battery_discharge,1700000060000,0.000000\nGX-FCG-0001.unserved,1700000060000,0.000000\n"
    );
}

#[test]
fn narrowing_the_window_remotely_loses_no_energy() {
    let mut c = controller(0.95);
    let new = Setpoints { soc_max: 0.9, ..Setpoints::default() };
    c.apply_setpoints(new, "ops", 0, "battery ageing").unwrap();
    let before = c.state.battery_wh;
    // Sun and no load: nothing may go into the battery (above its new ceiling), nothing may vanish.
    let out = c.step(input(2_000.0, 0.0), 3600.0);
    assert_eq!(out.pv_to_battery_w, 0.0);
    assert_eq!(out.pv_curtailed_w, 2_000.0);
    assert_eq!(c.state.battery_wh, before);
    // At night it discharges back into the window.
    let out = c.step(input(0.0, 1_000.0), 3600.0);
    assert_eq!(out.battery_discharge_w, 1_000.0);
    assert!(c.soc() < 0.9);
}

#[test]
fn force_on_override_starts_without_alarm() {
    let mut c = controller(0.9);
    c.setpoints.fc_override = Override::ForceOn;
    let out = c.step(input(0.0, 500.0), 60.0);
    assert!(out.fc_started);
}

#[test]
fn bad_measurements_are_flagged_and_taken_as_zero() {
    let mut c = controller(0.5);
    let before = c.state.battery_wh;
    let out = c.step(input(f64::NAN, 1_000.0), 3600.0);
    assert!(out.invalid_input);
    assert_eq!(out.pv_available_w, 0.0);
    assert_eq!(out.battery_discharge_w, 1_000.0);
    assert!(c.state.battery_wh < before);
    let out = c.step(input(500.0, -3.0), 3600.0);
    assert!(out.invalid_input);
    assert_eq!(out.load_w, 0.0);
    assert_eq!(out.pv_to_battery_w, 500.0);
    let out = c.step(input(500.0, 300.0), 3600.0);
    assert!(!out.invalid_input);
}
