//! A site's state as monitoring telemetry (远程监控): the meters a site gateway reports on, how a
//! `Telemetry` message becomes readings of those meters, and how the newest readings become a
//! `Telemetry` again. The platform stores nothing site-specific: a report is readings in the reading
//! log like any meter's, so it is durable, rolled up, alerted on and replayed after a restart.
//!
//! Meter codes are `FACILITY.SUFFIX`; roles and kinds are those of the platform's meter registry
//! (`meters.csv`, docs/monitoring.md). Power meters are in kW, gauges in their own unit.

use crate::controller::{FuelCellState, SupplyMode, Telemetry};

/// One meter of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteMeter {
    pub suffix: &'static str,
    /// Role code in the meter registry.
    pub role: &'static str,
    /// `power` (kW) or `gauge`.
    pub kind: &'static str,
    pub unit: &'static str,
}

const fn power(suffix: &'static str, role: &'static str) -> SiteMeter {
    SiteMeter { suffix, role, kind: "power", unit: "kW" }
}
const fn gauge(suffix: &'static str, role: &'static str, unit: &'static str) -> SiteMeter {
    SiteMeter { suffix, role, kind: "gauge", unit }
}

/// Every meter of a site, in report order. The power suffixes are those of `simulate --telemetry`.
pub const SITE_METERS: [SiteMeter; 11] = [
    power("pv", "pv"),
    power("load", "site_load"),
    power("fuel_cell", "fuel_cell"),
    power("battery_charge", "battery_charge"),
    power("battery_discharge", "battery_discharge"),
    power("unserved", "unserved"),
    gauge("soc", "soc", "fraction"),
    gauge("fuel", "fuel_level", "L"),
    gauge("mode", "supply_mode", "code"),
    gauge("fc_state", "fuel_cell_state", "code"),
    gauge("status", "site_status", "bits"),
];

/// Status bits of the `status` gauge.
pub const STATUS_BATTERY_LOW: u32 = 1;
pub const STATUS_FUEL_LOW: u32 = 2;
pub const STATUS_INVALID_INPUT: u32 = 4;

pub fn meter_code(facility: &str, suffix: &str) -> String {
    format!("{facility}.{suffix}")
}

/// `meters.csv` rows registering a site's meters (no header). A gap is declared after
/// `2 × report_minutes` without a report, so one lost report is tolerated and two are flagged.
pub fn registry_rows(facility: &str, report_minutes: u32) -> String {
    let gap = 2 * report_minutes.max(1);
    SITE_METERS
        .iter()
        .map(|m| format!("{},{facility},{},{},,,{gap}\n", meter_code(facility, m.suffix), m.role, m.kind))
        .collect()
}

/// The code of a supply mode in the `mode` gauge: its place in `SupplyMode::ALL`.
pub fn mode_code(m: SupplyMode) -> u32 {
    SupplyMode::ALL.iter().position(|&x| x == m).unwrap_or(0) as u32
}

/// The supply mode of a `mode` gauge code; `None` for a code no mode has.
pub fn mode_of_code(code: f64) -> Option<SupplyMode> {
    (code >= 0.0 && code.fract() == 0.0).then(|| SupplyMode::ALL.get(code as usize).copied()).flatten()
}

pub const FUEL_CELL_STATES: [FuelCellState; 3] = [FuelCellState::Off, FuelCellState::Starting, FuelCellState::Running];

pub fn fuel_cell_code(s: FuelCellState) -> u32 {
    FUEL_CELL_STATES.iter().position(|&x| x == s).unwrap_or(0) as u32
}

impl Telemetry {
    /// The report as `(suffix, value)` readings of the site's meters, in `SITE_METERS` order. The
    /// battery's signed power is split into charge and discharge (readings are never negative).
    pub fn readings(&self) -> Vec<(&'static str, f64)> {
        let status = (self.battery_low_alarm as u32) * STATUS_BATTERY_LOW
            + (self.fuel_low_alarm as u32) * STATUS_FUEL_LOW
            + (self.invalid_input as u32) * STATUS_INVALID_INPUT;
        let values = [
            self.pv_w / 1000.0,
            self.load_w / 1000.0,
            self.fc_w / 1000.0,
            self.battery_w.max(0.0) / 1000.0,
            (-self.battery_w).max(0.0) / 1000.0,
            self.unserved_w / 1000.0,
            self.soc,
            self.fuel_l,
            mode_code(self.mode) as f64,
            fuel_cell_code(self.fuel_cell) as f64,
            status as f64,
        ];
        SITE_METERS.iter().map(|m| m.suffix).zip(values).collect()
    }

    /// Rebuilds a report from the newest value of each meter (`value(suffix)`); `unix` is the time of
    /// the newest reading. Every meter without a value and every code out of range is listed.
    pub fn from_readings(site: &str, unix: i64, value: impl Fn(&str) -> Option<f64>) -> Result<Telemetry, Vec<String>> {
        let mut missing = Vec::new();
        let mut get = |suffix: &str| {
            value(suffix).unwrap_or_else(|| {
                missing.push(format!("{}: no reading", meter_code(site, suffix)));
                0.0
            })
        };
        let (pv, load, fc, charge, discharge, unserved) = (
            get("pv"),
            get("load"),
            get("fuel_cell"),
            get("battery_charge"),
            get("battery_discharge"),
            get("unserved"),
        );
        let (soc, fuel, mode, fc_state, status) =
            (get("soc"), get("fuel"), get("mode"), get("fc_state"), get("status"));
        let mode = mode_of_code(mode);
        let fc_state = FUEL_CELL_STATES.get(fc_state as usize).copied();
        if mode.is_none() {
            missing.push(format!("{}: not a supply-mode code", meter_code(site, "mode")));
        }
        if fc_state.is_none() {
            missing.push(format!("{}: not a fuel-cell state code", meter_code(site, "fc_state")));
        }
        let (Some(mode), Some(fuel_cell), true) = (mode, fc_state, missing.is_empty()) else { return Err(missing) };
        let status = status as u32;
        Ok(Telemetry {
            site: site.to_string(),
            unix,
            mode,
            fuel_cell,
            soc,
            pv_w: pv * 1000.0,
            load_w: load * 1000.0,
            fc_w: fc * 1000.0,
            battery_w: (charge - discharge) * 1000.0,
            unserved_w: unserved * 1000.0,
            fuel_l: fuel,
            battery_low_alarm: status & STATUS_BATTERY_LOW != 0,
            fuel_low_alarm: status & STATUS_FUEL_LOW != 0,
            invalid_input: status & STATUS_INVALID_INPUT != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_through_its_readings() {
        let t = Telemetry {
            site: "BS-XZ-0001".into(),
            unix: 1_700_000_000,
            mode: SupplyMode::FuelCell,
            fuel_cell: FuelCellState::Running,
            soc: 0.41,
            pv_w: 0.0,
            load_w: 1250.0,
            fc_w: 1800.0,
            battery_w: 550.0,
            unserved_w: 0.0,
            fuel_l: 37.5,
            battery_low_alarm: true,
            fuel_low_alarm: false,
            invalid_input: true,
        };
        let r = t.readings();
        assert_eq!(r.len(), SITE_METERS.len());
        assert!(r.iter().all(|(_, v)| *v >= 0.0), "readings are never negative: {r:?}");
        assert_eq!(r.iter().find(|(s, _)| *s == "status").unwrap().1, 5.0);
        let back = Telemetry::from_readings(&t.site, t.unix, |s| r.iter().find(|(x, _)| *x == s).map(|(_, v)| *v));
        let back = back.unwrap();
        assert_eq!(back.mode, t.mode);
        assert_eq!(back.fuel_cell, t.fuel_cell);
        assert_eq!((back.battery_low_alarm, back.fuel_low_alarm, back.invalid_input), (true, false, true));
        assert!((back.battery_w - t.battery_w).abs() < 1e-9 && (back.fc_w - t.fc_w).abs() < 1e-9);
        // Discharging splits the other way.
        let d = Telemetry { battery_w: -300.0, ..t.clone() };
        let r = d.readings();
        assert_eq!(r[3], ("battery_charge", 0.0));
        assert_eq!(r[4], ("battery_discharge", 0.3));
    }

    #[test]
    fn missing_meters_and_bad_codes_are_all_listed() {
        let e = Telemetry::from_readings("S", 0, |s| match s {
            "mode" => Some(9.0),
            "soc" | "fuel" => None,
            _ => Some(0.0),
        })
        .unwrap_err();
        assert_eq!(e, vec!["S.soc: no reading", "S.fuel: no reading", "S.mode: not a supply-mode code"]);
    }

    #[test]
    fn registry_rows_name_every_meter_with_role_and_kind() {
        let rows = registry_rows("S1", 15);
        assert_eq!(rows.lines().count(), SITE_METERS.len());
        assert!(rows.contains("S1.soc,S1,soc,gauge,,,30\n") && rows.contains("S1.load,S1,site_load,power,,,30\n"));
    }
}
