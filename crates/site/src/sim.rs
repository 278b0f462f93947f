//! Annual simulation of an off-grid site: weather → PV on the DC bus, load profile, the controller step
//! by step; energy by source, hours by state, methanol and refills, unserved load, and emissions avoided
//! against a diesel generator and the grid (factors from the `factors` library, named by id).

use crate::bs::EarthType;
use crate::controller::{fmax, fmin};
use crate::controller::{
    BatterySpec, Controller, FuelCellSpec, FuelCellState, SetpointError, Setpoints, StepConstants, StepInputs,
    StepOutputs, SupplyMode,
};
use crate::pv::PvArray;
use crate::weather::{Place, Weather};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A site file (`site.toml`); see docs/site-energy.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    /// Required for a plain weather CSV; a TMY3 file carries its own location.
    #[serde(default)]
    pub location: Option<Location>,
    pub pv: PvArray,
    pub battery: BatterySpec,
    pub fuel_cell: FuelCellSpec,
    #[serde(default)]
    pub setpoints: Setpoints,
    pub load: LoadConfig,
    #[serde(default)]
    pub simulation: SimulationConfig,
    #[serde(default)]
    pub comparison: ComparisonConfig,
    #[serde(default)]
    pub sizing: Option<SizingConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub elevation_m: f64,
    /// Offset of local standard time from UTC, hours (China: 8).
    pub tz_hours: f64,
}

impl Location {
    pub fn place(&self) -> Place {
        Place {
            latitude: self.latitude,
            longitude: self.longitude,
            elevation_m: self.elevation_m,
            tz_hours: self.tz_hours,
        }
    }
}

/// The site's load: exactly one of a constant, a 24-hour profile (local standard time), or an EARTH
/// base station with a 24-hour traffic profile plus other equipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    #[serde(default)]
    pub constant_w: Option<f64>,
    #[serde(default)]
    pub daily_profile_w: Option<Vec<f64>>,
    #[serde(default)]
    pub earth: Option<EarthLoad>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarthLoad {
    pub bs_type: EarthType,
    /// Number of such base stations at the site.
    #[serde(default = "one")]
    pub count: u32,
    /// RF load per local hour, 0..1 (24 values).
    pub traffic: Vec<f64>,
    /// Transmission, cooling, monitoring and rectifier losses, W.
    #[serde(default)]
    pub other_w: f64,
}

fn one() -> u32 {
    1
}

impl LoadConfig {
    /// Load for each local hour of day, W.
    pub fn hourly_w(&self) -> Result<[f64; 24], String> {
        let set = [self.constant_w.is_some(), self.daily_profile_w.is_some(), self.earth.is_some()];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err("give exactly one of constant_w, daily_profile_w, earth".into());
        }
        let mut out = [0.0; 24];
        if let Some(w) = self.constant_w {
            out = [w; 24];
        } else if let Some(p) = &self.daily_profile_w {
            if p.len() != 24 {
                return Err(format!("daily_profile_w has {} values, needs 24", p.len()));
            }
            out.copy_from_slice(p);
        } else if let Some(e) = &self.earth {
            if e.traffic.len() != 24 {
                return Err(format!("earth.traffic has {} values, needs 24", e.traffic.len()));
            }
            if let Some(bad) = e.traffic.iter().find(|t| !(0.0..=1.0).contains(*t)) {
                return Err(format!("earth.traffic value {bad} is outside [0, 1]"));
            }
            let p = e.bs_type.params();
            for (h, t) in e.traffic.iter().enumerate() {
                out[h] = e.count as f64 * p.power_w(*t) + e.other_w;
            }
        }
        if let Some(bad) = out.iter().find(|w| !(**w >= 0.0 && w.is_finite())) {
            return Err(format!("load {bad} W is not a non-negative number"));
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationConfig {
    /// Calendar year a TMY3 typical year is placed in (not a leap year).
    pub weather_year: i32,
    pub initial_soc: f64,
    /// A methanol delivery refills the tank when it falls below this, L (default: a quarter of the tank).
    pub refill_below_l: Option<f64>,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig { weather_year: 2023, initial_soc: 0.8, refill_below_l: None }
    }
}

/// What the site's supply is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComparisonConfig {
    /// Grid emission factor id in the factor library.
    pub grid_factor: String,
    /// Diesel generator that would otherwise run all year, rated W (default: peak load / 0.8).
    pub diesel_rated_w: Option<f64>,
    /// Fuel-curve intercept, L/h per kW rated, and slope, L/h per kW output (HOMER Pro help,
    /// "Generator fuel curve", example 50 kW genset: 0.033 and 0.273).
    pub diesel_intercept_l_per_h_per_kw: f64,
    pub diesel_slope_l_per_h_per_kw: f64,
    /// Factor ids for diesel CO2: density, NCV, carbon content, oxidation rate.
    pub diesel_density: String,
    pub diesel_ncv: String,
    pub diesel_carbon_content: String,
    pub diesel_oxidation_rate: String,
    /// Whether the methanol is fossil (its carbon counts: 44.01/32.04 kg CO2 per kg) or renewable.
    pub methanol_fossil: bool,
}

impl Default for ComparisonConfig {
    fn default() -> Self {
        ComparisonConfig {
            grid_factor: "elec.nbs_average.CN.2022".into(),
            diesel_rated_w: None,
            diesel_intercept_l_per_h_per_kw: 0.033,
            diesel_slope_l_per_h_per_kw: 0.273,
            diesel_density: "fuel.density.diesel".into(),
            diesel_ncv: "fuel.cn_guideline.diesel.ncv".into(),
            diesel_carbon_content: "fuel.cn_guideline.diesel.carbon_content".into(),
            diesel_oxidation_rate: "fuel.cn_guideline.diesel.oxidation_rate".into(),
            methanol_fossil: true,
        }
    }
}

/// Most candidates (pv_w × battery_wh × fuel_cell_w) one sizing may simulate.
pub const MAX_SIZING_CANDIDATES: usize = 1_000;
/// Most years of fuel a sizing may count with the capital cost.
pub const MAX_SIZING_YEARS: u32 = 100;

/// Candidate sizes and unit capital costs (integer CNY) for the sizing helper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingConfig {
    pub pv_w: Vec<u64>,
    pub battery_wh: Vec<u64>,
    pub fuel_cell_w: Vec<u64>,
    pub pv_cny_per_kw: i64,
    pub battery_cny_per_kwh: i64,
    pub fuel_cell_cny_per_kw: i64,
    /// Fuel price in fen (0.01 CNY) per litre and the years of fuel to count with the capital cost;
    /// both 0 (the default) rank by capital cost alone.
    #[serde(default)]
    pub fuel_fen_per_l: i64,
    #[serde(default)]
    pub years: u32,
}

/// A problem with a site file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl SiteConfig {
    pub fn from_toml(text: &str) -> Result<SiteConfig, Vec<ConfigError>> {
        let c: SiteConfig =
            toml::from_str(text).map_err(|e| vec![ConfigError { field: "site file".into(), reason: e.to_string() }])?;
        let errors = c.validate();
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }

    /// Every problem at once.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let mut err = |field: &str, reason: String| e.push(ConfigError { field: field.into(), reason });
        let positive = [
            ("pv.pdc0_w", self.pv.pdc0_w),
            ("battery.capacity_wh", self.battery.capacity_wh),
            ("battery.max_charge_w", self.battery.max_charge_w),
            ("battery.max_discharge_w", self.battery.max_discharge_w),
        ];
        for (f, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                err(f, format!("{v} must be positive"));
            }
        }
        let non_negative = [
            ("fuel_cell.rated_w", self.fuel_cell.rated_w),
            ("fuel_cell.min_w", self.fuel_cell.min_w),
            ("fuel_cell.methanol_l_per_kwh", self.fuel_cell.methanol_l_per_kwh),
            ("fuel_cell.startup_s", self.fuel_cell.startup_s),
            ("fuel_cell.startup_methanol_l", self.fuel_cell.startup_methanol_l),
            ("fuel_cell.tank_l", self.fuel_cell.tank_l),
        ];
        for (f, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                err(f, format!("{v} must be zero or positive"));
            }
        }
        if self.fuel_cell.min_w > self.fuel_cell.rated_w {
            err("fuel_cell.min_w", format!("{} exceeds rated_w {}", self.fuel_cell.min_w, self.fuel_cell.rated_w));
        }
        if !(self.battery.round_trip_efficiency > 0.0 && self.battery.round_trip_efficiency <= 1.0) {
            err("battery.round_trip_efficiency", format!("{} is not in (0, 1]", self.battery.round_trip_efficiency));
        }
        if !(self.pv.mppt_efficiency > 0.0 && self.pv.mppt_efficiency <= 1.0) {
            err("pv.mppt_efficiency", format!("{} is not in (0, 1]", self.pv.mppt_efficiency));
        }
        if !(0.0..=90.0).contains(&self.pv.tilt_deg) {
            err("pv.tilt_deg", format!("{} is not in [0, 90]", self.pv.tilt_deg));
        }
        for s in self.setpoints.validate() {
            err(&format!("setpoints.{}", s.field), s.reason);
        }
        let sim = &self.simulation;
        if !(self.setpoints.soc_min..=self.setpoints.soc_max).contains(&sim.initial_soc) {
            err("simulation.initial_soc", format!("{} is outside the SoC window", sim.initial_soc));
        }
        if let Err(reason) = self.load.hourly_w() {
            err("load", reason);
        }
        if let Some(s) = &self.sizing {
            for (f, v) in
                [("sizing.pv_w", &s.pv_w), ("sizing.battery_wh", &s.battery_wh), ("sizing.fuel_cell_w", &s.fuel_cell_w)]
            {
                if v.is_empty() {
                    err(f, "needs at least one candidate".into());
                }
            }
            if s.battery_wh.contains(&0) {
                err("sizing.battery_wh", "a battery of 0 Wh is not a candidate".into());
            }
            // Each candidate is a whole simulation over the weather: their number bounds the work.
            let n = s.pv_w.len().saturating_mul(s.battery_wh.len()).saturating_mul(s.fuel_cell_w.len());
            if n > MAX_SIZING_CANDIDATES {
                err(
                    "sizing",
                    format!("{n} candidates (pv_w × battery_wh × fuel_cell_w): at most {MAX_SIZING_CANDIDATES}"),
                );
            }
            if s.years > MAX_SIZING_YEARS {
                err("sizing.years", format!("{}: expected 0 to {MAX_SIZING_YEARS}", s.years));
            }
        }
        e
    }

    pub fn controller(&self) -> Result<Controller, Vec<SetpointError>> {
        Controller::new(
            self.battery.clone(),
            self.fuel_cell.clone(),
            self.setpoints.clone(),
            self.simulation.initial_soc,
        )
    }

    pub fn refill_below_l(&self) -> f64 {
        self.simulation.refill_below_l.unwrap_or(self.fuel_cell.tank_l / 4.0)
    }
}

/// Energy by flow over the run, kWh.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EnergyTotals {
    pub load: f64,
    pub served: f64,
    pub unserved: f64,
    pub pv_available: f64,
    pub pv_to_load: f64,
    pub pv_to_battery: f64,
    pub pv_curtailed: f64,
    pub fc_output: f64,
    pub fc_to_load: f64,
    pub fc_to_battery: f64,
    pub fc_dumped: f64,
    pub battery_charge: f64,
    pub battery_discharge: f64,
    /// Conversion losses in the battery (charge·(1 − η) + discharge·(1/η − 1)).
    pub battery_losses: f64,
    /// Stored energy at the end minus at the start.
    pub battery_delta: f64,
}

/// Counters of a run that need no per-step storage (what the benchmark accumulates too).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RunTotals {
    pub energy_kwh: EnergyTotals,
    /// Hours in each supply mode, in the order of [`SupplyMode::ALL`].
    pub mode_hours: [f64; 5],
    pub methanol_l: f64,
    pub refills: u64,
    pub refilled_l: f64,
    pub fc_starts: u64,
    pub unserved_hours: f64,
    pub soc_min: f64,
    pub soc_max: f64,
    /// Largest |sources − sinks| of any step, W (a check that the balance closes; computed by
    /// [`run`] and [`run_iter`], not by a bare [`Runner`]).
    pub worst_step_imbalance_w: f64,
}

/// Runs the controller over per-step PV and load (W) with steps of `dt_s`; a refill fills the tank when
/// it is below `refill_below_l`. `each` sees every step (for hourly output); pass `|_, _, _, _| {}` if not.
pub fn run(
    controller: &mut Controller,
    pv_w: &[f64],
    load_w: &[f64],
    dt_s: f64,
    refill_below_l: f64,
    each: impl FnMut(usize, &StepOutputs, SupplyMode, FuelCellState),
) -> RunTotals {
    run_iter(controller, pv_w.iter().copied().zip(load_w.iter().copied()), dt_s, refill_below_l, each)
}

/// [`run`] over (PV W, load W) pairs from an iterator, so callers need not store per-step series.
pub fn run_iter(
    controller: &mut Controller,
    inputs: impl Iterator<Item = (f64, f64)>,
    dt_s: f64,
    refill_below_l: f64,
    mut each: impl FnMut(usize, &StepOutputs, SupplyMode, FuelCellState),
) -> RunTotals {
    let mut runner = Runner::new(controller, dt_s, refill_below_l);
    let mut worst = 0.0f64;
    for (i, (pv, load)) in inputs.enumerate() {
        let (out, mode) = runner.step(controller, pv, load);
        // The balance of every step, checked where the run is reported (the bare Runner of the
        // benchmark leaves it to the tests).
        let imbalance = (out.pv_available_w + out.fc_output_w + out.battery_discharge_w)
            - (out.load_w - out.unserved_w + out.battery_charge_w() + out.pv_curtailed_w + out.fc_dumped_w);
        worst = worst.max(imbalance.abs());
        each(i, &out, mode, controller.state.fuel_cell);
    }
    let mut totals = runner.finish(controller);
    totals.worst_step_imbalance_w = worst;
    totals
}

/// Runs a controller step by step and keeps the run's totals (refills by the simulation policy).
/// Several runners can be advanced in lockstep, which lets the processor overlap independent sites.
#[derive(Debug, Clone)]
pub struct Runner {
    k: StepConstants,
    refill_below_l: f64,
    warm_hours: f64,
    start_wh: f64,
    /// Powers summed in W over steps, scaled to kWh once at the end (the step length is fixed).
    sum: EnergyTotals,
    /// Steps in each supply mode, and of those the steps in which the fuel cell started.
    mode_steps: [u32; 5],
    start_steps: [u32; 5],
    unserved_steps: u32,
    totals: RunTotals,
}

impl Runner {
    pub fn new(controller: &Controller, dt_s: f64, refill_below_l: f64) -> Runner {
        Runner {
            k: controller.constants(dt_s),
            refill_below_l,
            warm_hours: controller.fuel_cell.startup_s.min(dt_s) / 3600.0,
            start_wh: controller.state.battery_wh,
            sum: EnergyTotals::default(),
            mode_steps: [0; 5],
            start_steps: [0; 5],
            unserved_steps: 0,
            totals: RunTotals { soc_min: controller.soc(), soc_max: controller.soc(), ..Default::default() },
        }
    }

    #[inline]
    pub fn step(&mut self, controller: &mut Controller, pv: f64, load: f64) -> (StepOutputs, SupplyMode) {
        let t = &mut self.totals;
        let refuel_l = if controller.state.fuel_l < self.refill_below_l && controller.fuel_cell.tank_l > 0.0 {
            t.refills += 1;
            let add = controller.fuel_cell.tank_l - controller.state.fuel_l;
            t.refilled_l += add;
            add
        } else {
            0.0
        };
        let out = controller.step_with(StepInputs { pv_available_w: pv, load_w: load, refuel_l }, &self.k);
        let mode = out.mode(controller.state.fuel_cell);
        self.mode_steps[mode as usize] += 1;
        self.start_steps[mode as usize] += out.fc_started as u32;
        self.unserved_steps += (out.unserved_w > 0.0) as u32;
        // Totals that are sums of others (PV available, fuel-cell output, charge) are derived at the end.
        let sum = &mut self.sum;
        sum.load += out.load_w;
        sum.unserved += out.unserved_w;
        sum.pv_to_load += out.pv_to_load_w;
        sum.pv_to_battery += out.pv_to_battery_w;
        sum.pv_curtailed += out.pv_curtailed_w;
        sum.fc_to_load += out.fc_to_load_w;
        sum.fc_to_battery += out.fc_to_battery_w;
        sum.fc_dumped += out.fc_dumped_w;
        sum.battery_discharge += out.battery_discharge_w;
        t.methanol_l += out.methanol_l;
        t.soc_min = fmin(t.soc_min, out.soc_after);
        t.soc_max = fmax(t.soc_max, out.soc_after);
        (out, mode)
    }

    pub fn finish(self, controller: &Controller) -> RunTotals {
        let (sum, eta, hours) = (self.sum, self.k.eta, self.k.hours);
        let kwh = hours / 1000.0;
        let mut t = self.totals;
        for m in SupplyMode::ALL {
            let i = m as usize;
            // A start's warm-up counts as starting (unless load went unserved in that step), the rest of
            // the step as what followed.
            let warm = if m == SupplyMode::Unserved { 0.0 } else { self.start_steps[i] as f64 * self.warm_hours };
            t.mode_hours[i] += self.mode_steps[i] as f64 * hours - warm;
            t.mode_hours[SupplyMode::FuelCellStarting as usize] += warm;
            t.fc_starts += self.start_steps[i] as u64;
        }
        t.unserved_hours = self.unserved_steps as f64 * hours;
        let charge = sum.pv_to_battery + sum.fc_to_battery;
        t.energy_kwh = EnergyTotals {
            load: sum.load * kwh,
            served: (sum.load - sum.unserved) * kwh,
            unserved: sum.unserved * kwh,
            pv_available: (sum.pv_to_load + sum.pv_to_battery + sum.pv_curtailed) * kwh,
            pv_to_load: sum.pv_to_load * kwh,
            pv_to_battery: sum.pv_to_battery * kwh,
            pv_curtailed: sum.pv_curtailed * kwh,
            fc_output: (sum.fc_to_load + sum.fc_to_battery + sum.fc_dumped) * kwh,
            fc_to_load: sum.fc_to_load * kwh,
            fc_to_battery: sum.fc_to_battery * kwh,
            fc_dumped: sum.fc_dumped * kwh,
            battery_charge: charge * kwh,
            battery_discharge: sum.battery_discharge * kwh,
            battery_losses: (charge * (1.0 - eta) + sum.battery_discharge * (1.0 / eta - 1.0)) * kwh,
            battery_delta: (controller.state.battery_wh - self.start_wh) / 1000.0,
        };
        t
    }
}

/// PV power on the DC bus per weather step, W.
pub fn pv_bus_w(pv: &PvArray, weather: &Weather) -> Vec<f64> {
    pv.run(weather).iter().map(|s| s.pdc * pv.mppt_efficiency).collect()
}

/// Local hour of day (0..23) of the middle of each weather step.
pub fn load_series_hours(weather: &Weather) -> Vec<u8> {
    weather
        .records
        .iter()
        .map(|r| {
            let local_mid = r.unix_end - weather.interval_s as f64 / 2.0 + weather.tz_hours * 3600.0;
            ((local_mid / 3600.0).floor() as i64).rem_euclid(24) as u8
        })
        .collect()
}

/// Load per weather step from the 24-hour local profile, W.
pub fn load_series_w(hourly: &[f64; 24], weather: &Weather) -> Vec<f64> {
    load_series_hours(weather).into_iter().map(|h| hourly[h as usize]).collect()
}

/// One line of a computation with the factor that entered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorUse {
    pub id: String,
    pub value: f64,
    pub unit: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emissions {
    /// CO2 of burning the methanol (0 when renewable), kg.
    pub methanol_co2_kg: f64,
    pub diesel_baseline_fuel_l: f64,
    pub diesel_baseline_rated_w: f64,
    pub diesel_baseline_co2_kg: f64,
    pub grid_baseline_co2_kg: f64,
    /// Baseline minus the site's own emissions.
    pub avoided_vs_diesel_kg: f64,
    pub avoided_vs_grid_kg: f64,
    pub factors: Vec<FactorUse>,
}

/// CO2 per kg of methanol burnt or reformed completely: M(CO2)/M(CH3OH) = 44.01/32.04.
pub const METHANOL_CO2_PER_KG: f64 = 44.01 / 32.04;

fn factor(lib: &factors::Library, id: &str, units: &[&str], errors: &mut Vec<String>) -> Option<FactorUse> {
    match lib.get(id) {
        None => {
            errors.push(format!("factor {id} is not in the library"));
            None
        }
        Some(f) if !units.contains(&f.row.unit.as_str()) => {
            errors.push(format!("factor {id} has unit {}, expected one of {units:?}", f.row.unit));
            None
        }
        Some(f) => Some(FactorUse {
            id: id.into(),
            value: f.row.value,
            unit: f.row.unit.clone(),
            source: f.row.source.clone(),
        }),
    }
}

/// Emissions avoided: the same served load from a diesel generator running all year (HOMER fuel curve)
/// or from the grid, against the site's methanol.
pub fn emissions(
    cmp: &ComparisonConfig,
    lib: &factors::Library,
    served_kwh_per_step: &[f64],
    dt_s: f64,
    peak_load_w: f64,
    methanol_l: f64,
    methanol_kg_per_l: f64,
) -> Result<Emissions, Vec<String>> {
    let mut errors = Vec::new();
    let grid = factor(lib, &cmp.grid_factor, &["kgCO2/kWh", "tCO2/MWh"], &mut errors);
    let density = factor(lib, &cmp.diesel_density, &["kg/L"], &mut errors);
    let ncv = factor(lib, &cmp.diesel_ncv, &["GJ/t", "TJ/Gg"], &mut errors);
    let cc = factor(lib, &cmp.diesel_carbon_content, &["tC/TJ"], &mut errors);
    let of = factor(lib, &cmp.diesel_oxidation_rate, &["fraction"], &mut errors);
    let (Some(grid), Some(density), Some(ncv), Some(cc), Some(of)) = (grid, density, ncv, cc, of) else {
        return Err(errors);
    };
    let rated_w = cmp.diesel_rated_w.unwrap_or(peak_load_w / 0.8);
    let hours = dt_s / 3600.0;
    let served_kwh: f64 = served_kwh_per_step.iter().sum();
    let diesel_l: f64 = served_kwh_per_step
        .iter()
        .map(|kwh| {
            let p_kw = kwh / hours;
            (cmp.diesel_intercept_l_per_h_per_kw * rated_w / 1000.0 + cmp.diesel_slope_l_per_h_per_kw * p_kw) * hours
        })
        .sum();
    // kg diesel × GJ/t (= MJ/kg) → MJ; × tC/TJ (= g C/MJ) → g C; × OF × 44/12 → g CO2.
    let diesel_kg = diesel_l * density.value;
    let diesel_co2_kg = diesel_kg * ncv.value * cc.value / 1000.0 * of.value * 44.0 / 12.0;
    let grid_co2_kg = served_kwh * grid.value;
    let methanol_co2_kg = if cmp.methanol_fossil { methanol_l * methanol_kg_per_l * METHANOL_CO2_PER_KG } else { 0.0 };
    Ok(Emissions {
        methanol_co2_kg,
        diesel_baseline_fuel_l: diesel_l,
        diesel_baseline_rated_w: rated_w,
        diesel_baseline_co2_kg: diesel_co2_kg,
        grid_baseline_co2_kg: grid_co2_kg,
        avoided_vs_diesel_kg: diesel_co2_kg - methanol_co2_kg,
        avoided_vs_grid_kg: grid_co2_kg - methanol_co2_kg,
        factors: vec![grid, density, ncv, cc, of],
    })
}

/// The result of `dualcarbon site simulate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    pub site: String,
    pub weather: String,
    pub latitude: f64,
    pub longitude: f64,
    pub steps: usize,
    pub step_s: u32,
    pub pv_pdc0_w: f64,
    pub battery_wh: f64,
    pub fuel_cell_w: f64,
    pub energy_kwh: EnergyTotals,
    pub hours_by_state: BTreeMap<String, f64>,
    pub methanol_l: f64,
    pub methanol_refills: u64,
    pub methanol_refilled_l: f64,
    pub fuel_cell_starts: u64,
    pub unserved_hours: f64,
    pub soc_min: f64,
    pub soc_max: f64,
    pub soc_end: f64,
    pub worst_step_imbalance_w: f64,
    /// Bus closure over the run: PV + fuel cell + discharge − served − charge − curtailed − dumped, kWh.
    pub balance_residual_kwh: f64,
    /// Storage closure: charge − discharge − losses − Δstored, kWh.
    pub storage_residual_kwh: f64,
    pub emissions: Emissions,
}

/// Simulates a site over a weather series; `hourly` receives each step's outputs.
pub fn simulate(
    site: &SiteConfig,
    weather: &Weather,
    lib: &factors::Library,
    mut hourly: impl FnMut(usize, &StepOutputs, SupplyMode, FuelCellState),
) -> Result<SimulationReport, Vec<String>> {
    let mut controller =
        site.controller().map_err(|e| e.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>())?;
    let pv = pv_bus_w(&site.pv, weather);
    let profile = site.load.hourly_w().map_err(|e| vec![e])?;
    let load = load_series_w(&profile, weather);
    let dt = weather.interval_s as f64;
    let mut served = Vec::with_capacity(load.len());
    let refill = site.refill_below_l();
    let totals = run(&mut controller, &pv, &load, dt, refill, |i, out, mode, fc| {
        served.push((out.load_w - out.unserved_w) * dt / 3.6e6);
        hourly(i, out, mode, fc);
    });
    let peak = profile.iter().cloned().fold(0.0, f64::max);
    let emissions =
        emissions(&site.comparison, lib, &served, dt, peak, totals.methanol_l, site.fuel_cell.methanol_kg_per_l)?;
    let e = totals.energy_kwh;
    let bus_residual = e.pv_available + e.fc_output + e.battery_discharge
        - (e.served + e.battery_charge + e.pv_curtailed + e.fc_dumped);
    let storage_residual = e.battery_charge - e.battery_discharge - e.battery_losses - e.battery_delta;
    Ok(SimulationReport {
        site: site.name.clone(),
        weather: weather.name.clone(),
        latitude: weather.latitude,
        longitude: weather.longitude,
        steps: pv.len(),
        step_s: weather.interval_s,
        pv_pdc0_w: site.pv.pdc0_w,
        battery_wh: site.battery.capacity_wh,
        fuel_cell_w: site.fuel_cell.rated_w,
        energy_kwh: e,
        hours_by_state: SupplyMode::ALL
            .iter()
            .map(|m| (m.name().to_string(), totals.mode_hours[*m as usize]))
            .collect(),
        methanol_l: totals.methanol_l,
        methanol_refills: totals.refills,
        methanol_refilled_l: totals.refilled_l,
        fuel_cell_starts: totals.fc_starts,
        unserved_hours: totals.unserved_hours,
        soc_min: totals.soc_min,
        soc_max: totals.soc_max,
        soc_end: controller.soc(),
        worst_step_imbalance_w: totals.worst_step_imbalance_w,
        balance_residual_kwh: bus_residual,
        storage_residual_kwh: storage_residual,
        emissions,
    })
}

/// One candidate of the sizing helper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizingCandidate {
    pub pv_w: u64,
    pub battery_wh: u64,
    pub fuel_cell_w: u64,
    pub capex_cny: i64,
    /// Capital cost plus `years` of fuel, in fen (0.01 CNY): what candidates are ranked by.
    pub cost_fen: i64,
    pub unserved_kwh: f64,
    pub methanol_l: f64,
    pub fuel_cell_starts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizingReport {
    pub evaluated: usize,
    pub feasible: usize,
    /// The cheapest combination (capital plus fuel over `years`) with zero unserved load (ties: less
    /// methanol), if any.
    pub best: Option<SizingCandidate>,
    /// The cheapest feasible combinations, best first (up to 10).
    pub cheapest_feasible: Vec<SizingCandidate>,
}

/// The site with other component sizes: battery power limits keep their C-rates, the fuel cell's
/// minimum output keeps its share of the rating.
pub fn resized(site: &SiteConfig, pv_w: u64, battery_wh: u64, fuel_cell_w: u64) -> SiteConfig {
    let mut s = site.clone();
    let bat_scale = battery_wh as f64 / site.battery.capacity_wh;
    s.pv.pdc0_w = pv_w as f64;
    if let Some(pac0) = site.pv.inverter_pac0_w {
        s.pv.inverter_pac0_w = Some(pac0 * pv_w as f64 / site.pv.pdc0_w);
    }
    s.battery.capacity_wh = battery_wh as f64;
    s.battery.max_charge_w *= bat_scale;
    s.battery.max_discharge_w *= bat_scale;
    s.fuel_cell.min_w = if site.fuel_cell.rated_w > 0.0 {
        site.fuel_cell.min_w * fuel_cell_w as f64 / site.fuel_cell.rated_w
    } else {
        0.0
    };
    s.fuel_cell.rated_w = fuel_cell_w as f64;
    s
}

/// Capital cost in whole CNY (unit costs per kW or kWh, sizes in W or Wh, rounded half up once).
pub fn capex_cny(sizing: &SizingConfig, pv_w: u64, battery_wh: u64, fuel_cell_w: u64) -> i64 {
    let milli = pv_w as i128 * sizing.pv_cny_per_kw as i128
        + battery_wh as i128 * sizing.battery_cny_per_kwh as i128
        + fuel_cell_w as i128 * sizing.fuel_cell_cny_per_kw as i128;
    ((milli + 500).div_euclid(1000)) as i64
}

/// Tries every candidate combination over the weather year and returns the cheapest with zero unserved
/// load. PV output is linear in the nameplate on the DC bus, so the PV chain runs once.
pub fn size(site: &SiteConfig, sizing: &SizingConfig, weather: &Weather) -> Result<SizingReport, Vec<String>> {
    let unit = PvArray { pdc0_w: 1.0, inverter_pac0_w: None, ..site.pv.clone() };
    let pv_per_w = pv_bus_w(&unit, weather);
    let profile = site.load.hourly_w().map_err(|e| vec![e])?;
    let load = load_series_w(&profile, weather);
    let dt = weather.interval_s as f64;
    let mut all = Vec::new();
    let mut pv = vec![0.0; pv_per_w.len()];
    for &pv_w in &sizing.pv_w {
        for (p, u) in pv.iter_mut().zip(&pv_per_w) {
            *p = u * pv_w as f64;
        }
        for &battery_wh in &sizing.battery_wh {
            for &fuel_cell_w in &sizing.fuel_cell_w {
                let s = resized(site, pv_w, battery_wh, fuel_cell_w);
                let mut c = s
                    .controller()
                    .map_err(|e| e.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>())?;
                let t = run(&mut c, &pv, &load, dt, s.refill_below_l(), |_, _, _, _| {});
                let capex = capex_cny(sizing, pv_w, battery_wh, fuel_cell_w);
                // Litres are physical (f64); the fuel bill is rounded once to a whole fen.
                let fuel_fen = (t.methanol_l * sizing.fuel_fen_per_l as f64).round() as i64 * sizing.years as i64;
                all.push(SizingCandidate {
                    pv_w,
                    battery_wh,
                    fuel_cell_w,
                    capex_cny: capex,
                    cost_fen: capex * 100 + fuel_fen,
                    unserved_kwh: t.energy_kwh.unserved,
                    methanol_l: t.methanol_l,
                    fuel_cell_starts: t.fc_starts,
                });
            }
        }
    }
    let evaluated = all.len();
    let mut feasible: Vec<SizingCandidate> = all.into_iter().filter(|c| c.unserved_kwh == 0.0).collect();
    feasible.sort_by(|a, b| a.cost_fen.cmp(&b.cost_fen).then(a.methanol_l.total_cmp(&b.methanol_l)));
    Ok(SizingReport {
        evaluated,
        feasible: feasible.len(),
        best: feasible.first().cloned(),
        cheapest_feasible: feasible.into_iter().take(10).collect(),
    })
}
