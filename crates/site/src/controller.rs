//! The hybrid power controller of an off-grid base station (光氢储): PV array, lithium battery,
//! methanol-reforming fuel cell and the telecom load on one DC bus.
//!
//! It switches sources with no human action, as China Telecom's white paper describes the Hudieling
//! island site: in sun the PV feeds the load and charges the battery; at night or in rain the battery
//! feeds the load; when long bad weather drives the battery to its low alarm, the fuel cell starts, feeds
//! the load and recharges the battery up to a set point (HOMER's "cycle charging with set point"), then
//! stops.
//!
//! The controller is a state machine over the fuel cell (Off → Starting → Running → Off) plus a
//! battery-low alarm with hysteresis; the power flows of each step follow from that state and the
//! inputs. The same [`Controller::step`] runs on a site gateway (real measurements, dt of seconds) and in
//! simulation (dt of an hour). Set points, state, inputs and outputs are serde types so a gateway can
//! send them as telemetry and receive set points from the platform.

use serde::{Deserialize, Serialize};

/// Battery bank (idealised flat-voltage Li-ion model, as HOMER's and pymgrid's: charging stores
/// η_c·P·dt, discharging draws P·dt/η_d; η_c = η_d = √η_round-trip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatterySpec {
    /// Nominal energy, Wh.
    pub capacity_wh: f64,
    /// Round-trip efficiency (LFP typically 0.90–0.95).
    #[serde(default = "default_round_trip")]
    pub round_trip_efficiency: f64,
    /// Maximum charge power at the bus, W.
    pub max_charge_w: f64,
    /// Maximum discharge power at the bus, W.
    pub max_discharge_w: f64,
}

fn default_round_trip() -> f64 {
    0.92
}

impl BatterySpec {
    pub fn one_way_efficiency(&self) -> f64 {
        self.round_trip_efficiency.sqrt()
    }
}

/// Methanol-reforming fuel cell with its tank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuelCellSpec {
    /// Rated net DC output, W.
    pub rated_w: f64,
    /// Lowest stable output while running, W.
    #[serde(default)]
    pub min_w: f64,
    /// Methanol fuel (as stored in the tank) per kWh delivered. Pure methanol at η_sys = 0.34 (LHV 4.38
    /// kWh/L): 0.68 L/kWh; MBR's premix rule of thumb: 1 L/kWh.
    pub methanol_l_per_kwh: f64,
    /// Reformer warm-up before the first watt, s (HT-PEM reformer systems ≈ 45 min).
    #[serde(default)]
    pub startup_s: f64,
    /// Fuel burned by one warm-up, L.
    #[serde(default)]
    pub startup_methanol_l: f64,
    /// Tank capacity, L.
    pub tank_l: f64,
    /// Methanol mass per litre of fuel, kg/L: pure methanol 0.791; premix of 61.5 % methanol by weight
    /// (MBR's H2Go, ≈ 0.87 kg/L) 0.535. Used for the fuel's CO2 (44.01/32.04 kg CO2 per kg methanol).
    #[serde(default = "pure_methanol")]
    pub methanol_kg_per_l: f64,
}

fn pure_methanol() -> f64 {
    0.791
}

/// What the platform may set remotely (远程调试). All SoC values are fractions of nominal energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Setpoints {
    /// The battery is never discharged below this.
    pub soc_min: f64,
    /// The battery is never charged above this.
    pub soc_max: f64,
    /// Battery-low alarm: raised at or below this SoC ...
    pub soc_alarm: f64,
    /// ... and cleared only at or above this one (hysteresis).
    pub soc_alarm_clear: f64,
    /// The fuel cell recharges the battery up to this SoC, then stops.
    pub soc_fc_stop: f64,
    /// The alarm must stand this long before the fuel cell is started (debounce), s.
    pub alarm_delay_s: f64,
    /// Once delivering, the fuel cell runs at least this long, s.
    pub fc_min_on_s: f64,
    /// Once stopped, the fuel cell stays off at least this long, s.
    pub fc_min_off_s: f64,
    /// The fuel cell is not started with less fuel than this in the tank (it keeps a reserve), L.
    pub fuel_reserve_l: f64,
    /// Manual override from the platform: auto, or force the fuel cell on or off.
    pub fc_override: Override,
}

impl Default for Setpoints {
    /// Defaults in the spirit of OpenEMS's LimitTotalDischarge (min SoC 15 %) and HOMER's cycle
    /// charging set point; a site should tune them.
    fn default() -> Self {
        Setpoints {
            soc_min: 0.15,
            soc_max: 1.0,
            soc_alarm: 0.30,
            soc_alarm_clear: 0.40,
            soc_fc_stop: 0.80,
            alarm_delay_s: 0.0,
            fc_min_on_s: 3600.0,
            fc_min_off_s: 1800.0,
            fuel_reserve_l: 0.0,
            fc_override: Override::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Override {
    Auto,
    ForceOn,
    ForceOff,
}

/// A rule a set of set points breaks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetpointError {
    pub field: &'static str,
    /// In English.
    pub reason: String,
    /// The rule as a code, for the console to word: `not_fraction`, `must_be_above`,
    /// `must_be_at_least`, `must_not_exceed`, `not_negative`; `value` is the field's, `other` the
    /// field it is compared with (`other_value` its value); `outside_soc_window` for an initial SoC.
    pub code: &'static str,
    pub value: f64,
    pub other: Option<&'static str>,
    pub other_value: Option<f64>,
}

impl Setpoints {
    /// Every broken rule at once.
    pub fn validate(&self) -> Vec<SetpointError> {
        let mut e = Vec::new();
        let mut err = |field, reason: String, code, value, other: Option<(&'static str, f64)>| {
            e.push(SetpointError {
                field,
                reason,
                code,
                value,
                other: other.map(|o| o.0),
                other_value: other.map(|o| o.1),
            })
        };
        for (field, v) in [
            ("soc_min", self.soc_min),
            ("soc_max", self.soc_max),
            ("soc_alarm", self.soc_alarm),
            ("soc_alarm_clear", self.soc_alarm_clear),
            ("soc_fc_stop", self.soc_fc_stop),
        ] {
            if !(0.0..=1.0).contains(&v) {
                err(field, format!("{v} is not a fraction in [0, 1]"), "not_fraction", v, None);
            }
        }
        if self.soc_min >= self.soc_alarm {
            err(
                "soc_alarm",
                format!("{} must be above soc_min {}", self.soc_alarm, self.soc_min),
                "must_be_above",
                self.soc_alarm,
                Some(("soc_min", self.soc_min)),
            );
        }
        if self.soc_alarm_clear <= self.soc_alarm {
            err(
                "soc_alarm_clear",
                format!("{} must be above soc_alarm {} (hysteresis)", self.soc_alarm_clear, self.soc_alarm),
                "must_be_above",
                self.soc_alarm_clear,
                Some(("soc_alarm", self.soc_alarm)),
            );
        }
        if self.soc_fc_stop < self.soc_alarm_clear {
            err(
                "soc_fc_stop",
                format!("{} must be at least soc_alarm_clear {}", self.soc_fc_stop, self.soc_alarm_clear),
                "must_be_at_least",
                self.soc_fc_stop,
                Some(("soc_alarm_clear", self.soc_alarm_clear)),
            );
        }
        if self.soc_fc_stop > self.soc_max {
            err(
                "soc_fc_stop",
                format!("{} must not exceed soc_max {}", self.soc_fc_stop, self.soc_max),
                "must_not_exceed",
                self.soc_fc_stop,
                Some(("soc_max", self.soc_max)),
            );
        }
        for (field, v) in [
            ("alarm_delay_s", self.alarm_delay_s),
            ("fc_min_on_s", self.fc_min_on_s),
            ("fc_min_off_s", self.fc_min_off_s),
            ("fuel_reserve_l", self.fuel_reserve_l),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                err(field, format!("{v} must be zero or positive"), "not_negative", v, None);
            }
        }
        e
    }
}

/// The fuel cell's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FuelCellState {
    Off,
    /// Reformer warming up: burns start-up fuel, delivers nothing yet.
    Starting,
    Running,
}

impl FuelCellState {
    pub fn name(self) -> &'static str {
        match self {
            FuelCellState::Off => "off",
            FuelCellState::Starting => "starting",
            FuelCellState::Running => "running",
        }
    }
}

/// What supplied the load during a step (the state shown on the site diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplyMode {
    /// PV alone covers the load (surplus charges the battery).
    Solar,
    /// The battery (with whatever PV there is) covers the load.
    Battery,
    /// Battery-low alarm handled: the fuel cell is warming up, the battery still carries the load.
    FuelCellStarting,
    /// The fuel cell feeds the load and recharges the battery.
    FuelCell,
    /// Part of the load could not be served.
    Unserved,
}

impl SupplyMode {
    pub const ALL: [SupplyMode; 5] = [
        SupplyMode::Solar,
        SupplyMode::Battery,
        SupplyMode::FuelCellStarting,
        SupplyMode::FuelCell,
        SupplyMode::Unserved,
    ];
    pub fn name(self) -> &'static str {
        match self {
            SupplyMode::Solar => "solar",
            SupplyMode::Battery => "battery",
            SupplyMode::FuelCellStarting => "fuel_cell_starting",
            SupplyMode::FuelCell => "fuel_cell",
            SupplyMode::Unserved => "unserved",
        }
    }
}

/// The controller's memory: everything needed to resume after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerState {
    /// Energy stored in the battery, Wh.
    pub battery_wh: f64,
    pub fuel_l: f64,
    pub fuel_cell: FuelCellState,
    /// Time in the current fuel-cell state, s.
    pub fc_state_s: f64,
    pub alarm: bool,
    /// How long the alarm has stood, s.
    pub alarm_s: f64,
    /// Fuel-cell starts so far.
    pub fc_starts: u64,
}

/// Measurements for one step; powers are averages over the step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepInputs {
    /// PV power available at the DC bus, W (MPPT output).
    pub pv_available_w: f64,
    pub load_w: f64,
    /// Methanol delivered into the tank at the start of this step, L.
    #[serde(default)]
    pub refuel_l: f64,
}

/// Power flows of one step (W, averages over the step) and what happened.
/// Balance: pv_to_load + pv_to_battery + pv_curtailed = pv_available;
/// pv_to_load + fc_to_load + battery_discharge = load − unserved;
/// fc_to_load + fc_to_battery + fc_dumped = fc_output.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StepOutputs {
    pub pv_available_w: f64,
    pub pv_to_load_w: f64,
    pub pv_to_battery_w: f64,
    pub pv_curtailed_w: f64,
    pub fc_output_w: f64,
    pub fc_to_load_w: f64,
    pub fc_to_battery_w: f64,
    /// Fuel-cell output above load and charge room (only when its minimum output exceeds them), W.
    pub fc_dumped_w: f64,
    pub battery_discharge_w: f64,
    pub load_w: f64,
    pub unserved_w: f64,
    /// Methanol burned this step (warm-up and generation), L.
    pub methanol_l: f64,
    pub fc_started: bool,
    pub soc_after: f64,
    /// An input was negative or not a number and was taken as 0 (set by [`Controller::step`]).
    #[serde(default)]
    pub invalid_input: bool,
}

impl StepOutputs {
    /// The step's flows as power-meter readings in the monitoring ingestion's batch format
    /// `meter,timestamp,value` (epoch milliseconds, kW): one meter per flow, named `SITE.pv` (PV used),
    /// `SITE.load`, `SITE.fuel_cell`, `SITE.battery_charge`, `SITE.battery_discharge`, `SITE.unserved`
    /// (the power meters of `crate::meters::SITE_METERS`).
    pub fn meter_lines(&self, site: &str, unix: i64, buf: &mut String) {
        use std::fmt::Write;
        let ms = unix * 1000;
        let flows = [
            ("pv", self.pv_to_load_w + self.pv_to_battery_w),
            ("load", self.load_w),
            ("fuel_cell", self.fc_output_w),
            ("battery_charge", self.battery_charge_w()),
            ("battery_discharge", self.battery_discharge_w),
            ("unserved", self.unserved_w),
        ];
        for (name, w) in flows {
            // Writing to a String cannot fail.
            let _ = writeln!(buf, "{site}.{name},{ms},{:.6}", w / 1000.0);
        }
    }

    /// Power into the battery at the bus, W.
    pub fn battery_charge_w(&self) -> f64 {
        self.pv_to_battery_w + self.fc_to_battery_w
    }
    pub fn mode(&self, fc: FuelCellState) -> SupplyMode {
        if self.unserved_w > 0.0 {
            SupplyMode::Unserved
        } else if self.fc_output_w > 0.0 {
            SupplyMode::FuelCell
        } else if fc == FuelCellState::Starting {
            SupplyMode::FuelCellStarting
        } else if self.pv_to_load_w >= self.load_w {
            SupplyMode::Solar
        } else {
            SupplyMode::Battery
        }
    }
}

/// A time longer than any set point, s (about 31,700 years).
const LONG_AGO_S: f64 = 1e12;

/// max for values that are never NaN here: one instruction instead of `f64::max`'s NaN handling,
/// which matters in a loop of a billion steps.
#[inline(always)]
pub(crate) fn fmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// min counterpart of [`fmax`].
#[inline(always)]
pub(crate) fn fmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// Per-step constants derived from a controller's specs, set points and step length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepConstants {
    pub dt_s: f64,
    pub hours: f64,
    pub eta: f64,
    pub inv_eta: f64,
    pub inv_capacity: f64,
    pub e_min: f64,
    pub e_max: f64,
    /// Bus power that fills one Wh of room in the step.
    pub charge_w_per_wh: f64,
    /// Bus power one stored Wh gives over the step.
    pub discharge_w_per_wh: f64,
    /// Fuel-cell power one litre sustains over the step.
    pub fuel_w_per_l: f64,
    /// Litres one watt burns over the step.
    pub fuel_l_per_w: f64,
}

/// A record of a set-point change from the platform (who, when, why, before and after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetpointChange {
    pub at_unix: i64,
    pub by: String,
    pub reason: String,
    pub before: Setpoints,
    pub after: Setpoints,
}

/// A site's controller: hardware, set points and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    pub battery: BatterySpec,
    pub fuel_cell: FuelCellSpec,
    pub setpoints: Setpoints,
    pub state: ControllerState,
}

impl Controller {
    /// A controller with the battery at `initial_soc` and a full tank; the set points must be valid.
    pub fn new(
        battery: BatterySpec,
        fuel_cell: FuelCellSpec,
        setpoints: Setpoints,
        initial_soc: f64,
    ) -> Result<Controller, Vec<SetpointError>> {
        let mut errors = setpoints.validate();
        if !(setpoints.soc_min..=setpoints.soc_max).contains(&initial_soc) {
            errors.push(SetpointError {
                field: "initial_soc",
                reason: format!(
                    "{initial_soc} is outside the SoC window [{}, {}]",
                    setpoints.soc_min, setpoints.soc_max
                ),
                code: "outside_soc_window",
                value: initial_soc,
                other: None,
                other_value: None,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let state = ControllerState {
            battery_wh: initial_soc * battery.capacity_wh,
            fuel_l: fuel_cell.tank_l,
            fuel_cell: FuelCellState::Off,
            // Off "for ever": no minimum off-time holds at start-up (finite, so the state serialises).
            fc_state_s: LONG_AGO_S,
            alarm: false,
            alarm_s: 0.0,
            fc_starts: 0,
        };
        Ok(Controller { battery, fuel_cell, setpoints, state })
    }

    pub fn soc(&self) -> f64 {
        self.state.battery_wh / self.battery.capacity_wh
    }

    /// Applies new set points from the platform; returns the audit record, or every broken rule
    /// (and then nothing changes).
    pub fn apply_setpoints(
        &mut self,
        new: Setpoints,
        by: &str,
        at_unix: i64,
        reason: &str,
    ) -> Result<SetpointChange, Vec<SetpointError>> {
        let errors = new.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        let change = SetpointChange {
            at_unix,
            by: by.to_string(),
            reason: reason.to_string(),
            before: self.setpoints.clone(),
            after: new.clone(),
        };
        self.setpoints = new;
        // A narrower window takes effect on the stored energy at the next step through the limits below.
        Ok(change)
    }

    /// The constants of a step of `dt_s` seconds (efficiencies, energy window, per-step scalings),
    /// so a long run computes them once.
    pub fn constants(&self, dt_s: f64) -> StepConstants {
        let bat = &self.battery;
        let eta = bat.one_way_efficiency();
        let hours = dt_s / 3600.0;
        let fc = &self.fuel_cell;
        StepConstants {
            dt_s,
            hours,
            eta,
            inv_eta: 1.0 / eta,
            inv_capacity: 1.0 / bat.capacity_wh,
            e_min: self.setpoints.soc_min * bat.capacity_wh,
            e_max: self.setpoints.soc_max * bat.capacity_wh,
            charge_w_per_wh: if hours > 0.0 { 1.0 / (eta * hours) } else { 0.0 },
            discharge_w_per_wh: if hours > 0.0 { eta / hours } else { 0.0 },
            fuel_w_per_l: if fc.methanol_l_per_kwh > 0.0 && hours > 0.0 {
                1000.0 / (fc.methanol_l_per_kwh * hours)
            } else {
                f64::INFINITY
            },
            fuel_l_per_w: hours / 1000.0 * fc.methanol_l_per_kwh,
        }
    }

    /// One control step of `dt_s` seconds: decide the fuel cell's state from the state at the start of
    /// the step, then dispatch PV → load, fuel cell → load, battery → load, surplus → battery.
    ///
    /// A measurement that is negative or not a number is taken as 0 for this step and flagged in
    /// `invalid_input`, so a bad sensor on a gateway is visible in telemetry rather than silently used.
    pub fn step(&mut self, input: StepInputs, dt_s: f64) -> StepOutputs {
        let k = self.constants(dt_s);
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        let invalid = !(valid(input.pv_available_w) && valid(input.load_w) && valid(input.refuel_l));
        let mut out = self.step_with(input, &k);
        out.invalid_input = invalid;
        out
    }

    /// [`Controller::step`] with constants from [`Controller::constants`] for the same specs, set points
    /// and step length.
    // Inlined into run loops so the step's outputs stay in registers.
    #[inline(always)]
    pub fn step_with(&mut self, input: StepInputs, k: &StepConstants) -> StepOutputs {
        let dt_s = k.dt_s;
        let sp = &self.setpoints;
        let bat = &self.battery;
        let fc = &self.fuel_cell;
        let st = &mut self.state;
        st.fuel_l = fmin(st.fuel_l + fmax(input.refuel_l, 0.0), fc.tank_l);
        let soc = st.battery_wh * k.inv_capacity;

        // Battery-low alarm with hysteresis.
        if soc <= sp.soc_alarm {
            st.alarm = true;
        } else if soc >= sp.soc_alarm_clear {
            st.alarm = false;
            st.alarm_s = 0.0;
        }

        // Fuel-cell state machine.
        let mut out = StepOutputs {
            pv_available_w: fmax(input.pv_available_w, 0.0),
            load_w: fmax(input.load_w, 0.0),
            ..Default::default()
        };
        match st.fuel_cell {
            FuelCellState::Off => {
                let has_start_fuel = st.fuel_l >= fc.startup_methanol_l + sp.fuel_reserve_l && st.fuel_l > 0.0;
                let auto_start = st.alarm && st.alarm_s >= sp.alarm_delay_s && st.fc_state_s >= sp.fc_min_off_s;
                let wanted = match sp.fc_override {
                    Override::Auto => auto_start,
                    Override::ForceOn => true,
                    Override::ForceOff => false,
                };
                if wanted && has_start_fuel && fc.rated_w > 0.0 {
                    st.fuel_cell = FuelCellState::Starting;
                    st.fc_state_s = 0.0;
                    st.fc_starts += 1;
                    out.fc_started = true;
                    let warmup_fuel = fc.startup_methanol_l.min(st.fuel_l);
                    st.fuel_l -= warmup_fuel;
                    out.methanol_l += warmup_fuel;
                }
            }
            FuelCellState::Running => {
                let auto_stop = soc >= sp.soc_fc_stop && st.fc_state_s >= sp.fc_min_on_s;
                let stop = match sp.fc_override {
                    Override::Auto => auto_stop,
                    Override::ForceOn => false,
                    Override::ForceOff => true,
                } || st.fuel_l <= 0.0;
                if stop {
                    st.fuel_cell = FuelCellState::Off;
                    st.fc_state_s = 0.0;
                }
            }
            FuelCellState::Starting => {
                if sp.fc_override == Override::ForceOff {
                    st.fuel_cell = FuelCellState::Off;
                    st.fc_state_s = 0.0;
                }
            }
        }
        // Share of this step the fuel cell can deliver (warm-up may end inside the step).
        let fc_share = match st.fuel_cell {
            FuelCellState::Off => 0.0,
            FuelCellState::Running => 1.0,
            FuelCellState::Starting => ((st.fc_state_s + dt_s - fc.startup_s) / dt_s).clamp(0.0, 1.0),
        };

        // Battery limits for this step, at the bus.
        let (e_min, e_max) = (k.e_min, k.e_max);
        let charge_room_w = fmin(fmax(e_max - st.battery_wh, 0.0) * k.charge_w_per_wh, bat.max_charge_w);
        let discharge_room_w = fmin(fmax(st.battery_wh - e_min, 0.0) * k.discharge_w_per_wh, bat.max_discharge_w);

        // PV first.
        let pv = fmax(input.pv_available_w, 0.0);
        let load = fmax(input.load_w, 0.0);
        out.pv_to_load_w = fmin(pv, load);
        let mut deficit = load - out.pv_to_load_w;
        let surplus = pv - out.pv_to_load_w;
        out.pv_to_battery_w = fmin(surplus, charge_room_w);
        out.pv_curtailed_w = surplus - out.pv_to_battery_w;
        let charge_room_left = charge_room_w - out.pv_to_battery_w;

        // Fuel cell: cycle charging — it covers the deficit and charges the battery as fast as the
        // battery takes it, within its rating and its fuel.
        if fc_share > 0.0 {
            let fuel_limit_w = st.fuel_l * k.fuel_w_per_l;
            let cap = fmin(fc.rated_w * fc_share, fuel_limit_w);
            let floor = fmin(fc.min_w * fc_share, cap);
            let output = fmin(fmax(deficit + charge_room_left, floor), cap);
            out.fc_output_w = output;
            out.fc_to_load_w = fmin(output, deficit);
            deficit -= out.fc_to_load_w;
            out.fc_to_battery_w = fmin(output - out.fc_to_load_w, charge_room_left);
            out.fc_dumped_w = output - out.fc_to_load_w - out.fc_to_battery_w;
            let fuel = output * k.fuel_l_per_w;
            let fuel = fmin(fuel, st.fuel_l);
            st.fuel_l -= fuel;
            out.methanol_l += fuel;
        }

        // Battery covers what is left; what it cannot is unserved.
        out.battery_discharge_w = fmin(deficit, discharge_room_w);
        // Exactly zero when the battery covers the deficit (min returns the deficit itself).
        out.unserved_w = deficit - out.battery_discharge_w;
        st.battery_wh += (out.battery_charge_w() * k.eta - out.battery_discharge_w * k.inv_eta) * k.hours;
        // No clamp: the limits above keep the energy in the window (to float rounding), and after a
        // remote change narrows the window the battery returns into it by use, never by energy vanishing.

        // Timers advance at the end of the step.
        if st.fuel_cell == FuelCellState::Starting && st.fc_state_s + dt_s >= fc.startup_s {
            st.fuel_cell = FuelCellState::Running;
            st.fc_state_s = st.fc_state_s + dt_s - fc.startup_s;
        } else {
            st.fc_state_s += dt_s;
        }
        if st.alarm {
            st.alarm_s += dt_s;
        }
        out.soc_after = st.battery_wh * k.inv_capacity;
        out
    }

    /// The state a gateway reports to the platform after a step (telemetry).
    pub fn telemetry(&self, site: &str, unix: i64, out: &StepOutputs, mode: SupplyMode) -> Telemetry {
        Telemetry {
            site: site.to_string(),
            unix,
            mode,
            fuel_cell: self.state.fuel_cell,
            soc: self.soc(),
            pv_w: out.pv_to_load_w + out.pv_to_battery_w,
            load_w: out.load_w,
            fc_w: out.fc_output_w,
            battery_w: out.battery_charge_w() - out.battery_discharge_w,
            unserved_w: out.unserved_w,
            fuel_l: self.state.fuel_l,
            battery_low_alarm: self.state.alarm,
            fuel_low_alarm: self.state.fuel_l < self.fuel_cell.startup_methanol_l + self.setpoints.fuel_reserve_l,
            invalid_input: out.invalid_input,
        }
    }
}

/// One telemetry message of a site (for the monitoring ingestion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    pub site: String,
    pub unix: i64,
    pub mode: SupplyMode,
    pub fuel_cell: FuelCellState,
    pub soc: f64,
    /// PV power used (to load and battery), W.
    pub pv_w: f64,
    pub load_w: f64,
    pub fc_w: f64,
    /// Positive charging, negative discharging, W.
    pub battery_w: f64,
    pub unserved_w: f64,
    pub fuel_l: f64,
    pub battery_low_alarm: bool,
    pub fuel_low_alarm: bool,
    /// A measurement of this step was negative or not a number (taken as 0).
    pub invalid_input: bool,
}
