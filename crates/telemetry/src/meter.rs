//! The meter registry: which meter measures what, where. Read from `meters.csv`
//! (docs/monitoring.md); every bad field of every row is reported at once.

use rustc_hash::FxHashMap;
use serde::Serialize;
use std::path::Path;

pub type MeterId = u32;

/// What a meter measures at its facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything the facility draws (the utility-side meter of a data centre): PUE numerator.
    TotalFacility,
    /// IT equipment (UPS or PDU output): PUE denominator.
    ItLoad,
    Cooling,
    /// On-site PV generation consumed on site.
    Pv,
    /// Electricity drawn from the grid: what a utility bill would show.
    GridImport,
    /// The load of an off-grid site (光氢储), served from its own PV, battery and fuel cell. Not grid
    /// electricity: it never becomes an electricity activity row.
    SiteLoad,
    /// Output of a site's fuel cell.
    FuelCell,
    /// Power into a site's battery (at the DC bus).
    BatteryCharge,
    /// Power out of a site's battery (at the DC bus).
    BatteryDischarge,
    /// Load a site could not serve.
    Unserved,
    /// Gauge: a site battery's state of charge, a fraction 0–1.
    Soc,
    /// Gauge: methanol in a site's tank, litres.
    FuelLevel,
    /// Gauge: what supplies a site's load, as a code (docs/site-energy.md).
    SupplyMode,
    /// Gauge: a site fuel cell's state, as a code (docs/site-energy.md).
    FuelCellState,
    /// Gauge: a site gateway's status bits (docs/site-energy.md).
    SiteStatus,
}

impl Role {
    pub const ALL: [Role; 15] = [
        Role::TotalFacility,
        Role::ItLoad,
        Role::Cooling,
        Role::Pv,
        Role::GridImport,
        Role::SiteLoad,
        Role::FuelCell,
        Role::BatteryCharge,
        Role::BatteryDischarge,
        Role::Unserved,
        Role::Soc,
        Role::FuelLevel,
        Role::SupplyMode,
        Role::FuelCellState,
        Role::SiteStatus,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Role::TotalFacility => "total_facility",
            Role::ItLoad => "it_load",
            Role::Cooling => "cooling",
            Role::Pv => "pv",
            Role::GridImport => "grid_import",
            Role::SiteLoad => "site_load",
            Role::FuelCell => "fuel_cell",
            Role::BatteryCharge => "battery_charge",
            Role::BatteryDischarge => "battery_discharge",
            Role::Unserved => "unserved",
            Role::Soc => "soc",
            Role::FuelLevel => "fuel_level",
            Role::SupplyMode => "supply_mode",
            Role::FuelCellState => "fuel_cell_state",
            Role::SiteStatus => "site_status",
        }
    }
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == text.trim().to_ascii_lowercase())
    }
    /// A gauge role measures a state (a fraction, litres, a code), not energy or power: its meters
    /// are of kind `gauge`, and it has no energy roll-up.
    pub fn is_gauge(self) -> bool {
        matches!(self, Role::Soc | Role::FuelLevel | Role::SupplyMode | Role::FuelCellState | Role::SiteStatus)
    }
    /// The largest power (kW) a circuit of this role can plausibly draw or deliver: 2 GW for the
    /// roles of a data centre or a building (above the largest data-centre campus), 10 MW for the
    /// roles of an off-grid site (a few kW in practice). A reading beyond it is a meter or transport
    /// fault, never energy. Gauges have no power.
    pub fn max_power_kw(self) -> Option<f64> {
        match self {
            Role::TotalFacility | Role::ItLoad | Role::Cooling | Role::Pv | Role::GridImport => Some(2_000_000.0),
            Role::SiteLoad | Role::FuelCell | Role::BatteryCharge | Role::BatteryDischarge | Role::Unserved => {
                Some(10_000.0)
            }
            Role::Soc | Role::FuelLevel | Role::SupplyMode | Role::FuelCellState | Role::SiteStatus => None,
        }
    }
    /// The physically meaningful values of a reading of this role from a meter of `kind`, with
    /// their unit: power up to [`Role::max_power_kw`] (kW); a counter register up to a century at
    /// that power (kWh); a state of charge 0–1; a tank up to 100,000 L; mode and state codes
    /// 0–255; status bits 0–2³²−1. Documented in docs/monitoring.md.
    pub fn value_range(self, kind: MeterKind) -> (std::ops::RangeInclusive<f64>, &'static str) {
        const CENTURY_H: f64 = 100.0 * 8_766.0;
        match (self, self.max_power_kw()) {
            (_, Some(kw)) if kind == MeterKind::Counter => (0.0..=kw * CENTURY_H, "kWh"),
            (_, Some(kw)) => (0.0..=kw, "kW"),
            (Role::Soc, _) => (0.0..=1.0, "(state of charge)"),
            (Role::FuelLevel, _) => (0.0..=100_000.0, "L"),
            (Role::SiteStatus, _) => (0.0..=u32::MAX as f64, "(status bits)"),
            _ => (0.0..=255.0, "(code)"),
        }
    }
    /// Every role code, for error messages.
    pub fn codes() -> String {
        Role::ALL.map(Role::code).join(", ")
    }
}

/// How a meter reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterKind {
    /// A cumulative energy register in kWh (电度表读数): energy between two readings is their difference.
    Counter,
    /// Instantaneous active power in kW: energy between two samples is their trapezoid, only when the
    /// samples are close enough (`max_gap`).
    Power,
    /// A state value (state of charge, tank level, a mode code): kept and shown as sampled, never
    /// turned into energy. Only for gauge roles.
    Gauge,
}

impl MeterKind {
    pub fn parse(text: &str) -> Option<MeterKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "counter" | "energy" | "cumulative" => Some(MeterKind::Counter),
            "power" | "instantaneous" => Some(MeterKind::Power),
            "gauge" => Some(MeterKind::Gauge),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            MeterKind::Counter => "counter",
            MeterKind::Power => "power",
            MeterKind::Gauge => "gauge",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Meter {
    pub code: String,
    pub facility: String,
    pub role: Role,
    pub kind: MeterKind,
    /// The register's largest value (kWh) after which it wraps to zero, e.g. 99,999,999.99 for an
    /// 8+2-digit register; `None` when the meter's counter does not wrap (then every drop is a reset).
    pub counter_max_kwh: Option<f64>,
    /// The largest power the metered circuit can draw (kW); bounds what a rollover may explain.
    pub max_power_kw: Option<f64>,
    /// Readings further apart than this (ms) leave a gap: flagged, for power meters unknown energy.
    pub max_gap_ms: i64,
}

/// Default `max_gap`: 动环 systems sample every 1 to 15 minutes, so two missed quarter-hours is a gap.
pub const DEFAULT_MAX_GAP_MS: i64 = 30 * crate::time::MINUTE_MS;

#[derive(Debug, Clone, Default)]
pub struct MeterRegistry {
    pub meters: Vec<Meter>,
    by_code: FxHashMap<String, MeterId>,
}

/// One problem in meters.csv.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryError {
    pub line: usize,
    pub column: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "meters.csv:{}: column {}: value {:?}: {}", self.line, self.column, self.value, self.reason)
    }
}

impl MeterRegistry {
    pub fn get(&self, code: &str) -> Option<MeterId> {
        self.by_code.get(code).copied()
    }
    pub fn meter(&self, id: MeterId) -> &Meter {
        &self.meters[id as usize]
    }
    pub fn len(&self) -> usize {
        self.meters.len()
    }
    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }
    /// Adds a meter; a second meter with the same code is refused.
    pub fn add(&mut self, meter: Meter) -> Result<MeterId, String> {
        if self.by_code.contains_key(&meter.code) {
            return Err(format!("meter code {:?} is already registered", meter.code));
        }
        let id = self.meters.len() as MeterId;
        self.by_code.insert(meter.code.clone(), id);
        self.meters.push(meter);
        Ok(id)
    }

    /// Reads meters.csv. `facility_exists` checks each `facility_code` (pass `|_| true` to skip).
    pub fn load(path: &Path, facility_exists: impl Fn(&str) -> bool) -> Result<MeterRegistry, Vec<RegistryError>> {
        let file = std::fs::File::open(path).map_err(|e| {
            vec![RegistryError {
                line: 0,
                column: String::new(),
                value: path.display().to_string(),
                reason: e.to_string(),
            }]
        })?;
        Self::read(file, facility_exists)
    }

    pub fn read(
        input: impl std::io::Read,
        facility_exists: impl Fn(&str) -> bool,
    ) -> Result<MeterRegistry, Vec<RegistryError>> {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
        let mut errors = Vec::new();
        let header: Vec<String> = match rdr.headers() {
            Ok(h) => h.iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect(),
            Err(e) => {
                return Err(vec![RegistryError {
                    line: 1,
                    column: String::new(),
                    value: String::new(),
                    reason: e.to_string(),
                }])
            }
        };
        let col = |name: &str| header.iter().position(|h| h == name);
        let required = ["meter_code", "facility_code", "role", "kind"];
        for name in required {
            if col(name).is_none() {
                errors.push(RegistryError {
                    line: 1,
                    column: name.into(),
                    value: String::new(),
                    reason: "required column is missing from the header".into(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (c_code, c_fac, c_role, c_kind) =
            (col("meter_code").unwrap(), col("facility_code").unwrap(), col("role").unwrap(), col("kind").unwrap());
        let (c_max, c_power, c_gap) = (col("counter_max_kwh"), col("max_power_kw"), col("max_gap_minutes"));
        let mut registry = MeterRegistry::default();
        let mut first_line: FxHashMap<String, usize> = FxHashMap::default();
        for (i, rec) in rdr.records().enumerate() {
            let line = rec.as_ref().ok().and_then(|r| r.position()).map(|p| p.line() as usize).unwrap_or(i + 2);
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    errors.push(RegistryError {
                        line,
                        column: String::new(),
                        value: String::new(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            if rec.iter().all(|f| f.is_empty()) {
                continue;
            }
            let field = |c: usize| rec.get(c).unwrap_or("").to_string();
            let mut err = |column: &str, value: String, reason: String| {
                errors.push(RegistryError { line, column: column.into(), value, reason })
            };
            let code = field(c_code);
            if code.is_empty() {
                err("meter_code", code.clone(), "empty meter code".into());
            } else if let Some(first) = first_line.get(&code) {
                err("meter_code", code.clone(), format!("duplicate meter code, first defined on line {first}"));
            }
            let duplicate = first_line.contains_key(&code);
            if !duplicate {
                first_line.insert(code.clone(), line);
            }
            let facility = field(c_fac);
            if facility.is_empty() {
                err("facility_code", facility.clone(), "empty facility code".into());
            } else if !facility_exists(&facility) {
                err("facility_code", facility.clone(), "not a facility_code of facilities.csv".into());
            }
            let role = Role::parse(&field(c_role));
            if role.is_none() {
                err("role", field(c_role), format!("expected one of {}", Role::codes()));
            }
            let kind = MeterKind::parse(&field(c_kind));
            if kind.is_none() {
                err(
                    "kind",
                    field(c_kind),
                    "expected counter (cumulative kWh), power (instantaneous kW) or gauge (a state value)".into(),
                );
            }
            let mut positive = |c: Option<usize>, name: &str| -> Option<f64> {
                let text = c.map(field).unwrap_or_default();
                if text.is_empty() {
                    return None;
                }
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => Some(v),
                    _ => {
                        err(name, text, "expected a positive number".into());
                        None
                    }
                }
            };
            let counter_max_kwh = positive(c_max, "counter_max_kwh");
            let max_power_kw = positive(c_power, "max_power_kw");
            let max_gap_ms = positive(c_gap, "max_gap_minutes")
                .map(|m| (m * crate::time::MINUTE_MS as f64).round() as i64)
                .unwrap_or(DEFAULT_MAX_GAP_MS);
            if kind == Some(MeterKind::Power) && counter_max_kwh.is_some() {
                errors.push(RegistryError {
                    line,
                    column: "counter_max_kwh".into(),
                    value: c_max.map(field).unwrap_or_default(),
                    reason: "a power meter has no counter to wrap".into(),
                });
            }
            if let (Some(role), Some(kind)) = (role, kind) {
                // A gauge is a state, not energy: the two must agree, or a state of charge would be
                // integrated into kWh (or power shown as a state).
                if role.is_gauge() != (kind == MeterKind::Gauge) {
                    errors.push(RegistryError {
                        line,
                        column: "kind".into(),
                        value: field(c_kind),
                        reason: if role.is_gauge() {
                            format!("role {} is a state value: its kind is gauge", role.code())
                        } else {
                            format!("a gauge has a state role (soc, fuel_level, supply_mode, fuel_cell_state, site_status), not {}", role.code())
                        },
                    });
                }
                if kind == MeterKind::Gauge && counter_max_kwh.is_some() {
                    errors.push(RegistryError {
                        line,
                        column: "counter_max_kwh".into(),
                        value: c_max.map(field).unwrap_or_default(),
                        reason: "a gauge has no counter to wrap".into(),
                    });
                }
            }
            if let (Some(role), Some(kind), false, false) = (role, kind, code.is_empty(), duplicate) {
                let _ = registry.add(Meter { code, facility, role, kind, counter_max_kwh, max_power_kw, max_gap_ms });
            }
        }
        if errors.is_empty() {
            Ok(registry)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_registry_and_reports_every_bad_field() {
        let good = "meter_code,facility_code,role,kind,counter_max_kwh,max_power_kw\n\
                    M1,DC1,total_facility,counter,99999999.99,2000\nM2,DC1,it_load,power,,\n";
        let reg = MeterRegistry::read(good.as_bytes(), |f| f == "DC1").unwrap();
        assert_eq!(reg.len(), 2);
        let m1 = reg.meter(reg.get("M1").unwrap());
        assert_eq!(
            (m1.role, m1.kind, m1.counter_max_kwh),
            (Role::TotalFacility, MeterKind::Counter, Some(99_999_999.99))
        );
        assert_eq!(reg.meter(reg.get("M2").unwrap()).max_gap_ms, DEFAULT_MAX_GAP_MS);

        let bad = "meter_code,facility_code,role,kind,counter_max_kwh\n\
                   M1,DC9,total,counter,-5\nM1,DC1,it_load,watts,\nM3,DC1,pv,power,100\n";
        let errs = MeterRegistry::read(bad.as_bytes(), |f| f == "DC1").unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (2, "facility_code"),
                (2, "role"),
                (2, "counter_max_kwh"),
                (3, "meter_code"),
                (3, "kind"),
                (4, "counter_max_kwh")
            ]
        );
    }

    #[test]
    fn gauges_take_state_roles_only() {
        let good = "meter_code,facility_code,role,kind\nS.soc,S,soc,gauge\nS.load,S,site_load,power\n";
        let reg = MeterRegistry::read(good.as_bytes(), |_| true).unwrap();
        assert_eq!(reg.meter(reg.get("S.soc").unwrap()).kind, MeterKind::Gauge);
        let bad = "meter_code,facility_code,role,kind,counter_max_kwh\nA,S,soc,power,\nB,S,pv,gauge,\nC,S,fuel_level,gauge,9\n";
        let errs = MeterRegistry::read(bad.as_bytes(), |_| true).unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(got, vec![(2, "kind"), (3, "kind"), (4, "counter_max_kwh")], "{errs:?}");
        for r in Role::ALL {
            assert_eq!(Role::parse(r.code()), Some(r));
        }
    }

    #[test]
    fn missing_columns_are_named() {
        let errs = MeterRegistry::read("meter_code,role\n".as_bytes(), |_| true).unwrap_err();
        let cols: Vec<&str> = errs.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(cols, vec!["facility_code", "kind"]);
    }
}
