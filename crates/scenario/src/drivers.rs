//! Drivers: the named, editable parameters of the emission model, each with a Chinese and an
//! English label, a unit, a path over the years and a source. The shipped defaults live in
//! `data/drivers.toml` so that a reader can check each figure against its source.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Facility classes of the driver model. Each maps to facility types of the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 5G and 4G base stations; activity = mobile traffic.
    Wireless,
    /// Data centres; activity = IT load (racks).
    DataCenter,
    /// Machine rooms (central offices, transport and core network).
    MachineRoom,
    /// Offices, shops and warehouses.
    Office,
    /// Vehicles; activity = kilometres.
    Fleet,
}

pub const N_CLASSES: usize = 5;

impl Class {
    pub const ALL: [Class; N_CLASSES] =
        [Class::Wireless, Class::DataCenter, Class::MachineRoom, Class::Office, Class::Fleet];

    pub fn code(self) -> &'static str {
        match self {
            Class::Wireless => "wireless",
            Class::DataCenter => "data_center",
            Class::MachineRoom => "machine_room",
            Class::Office => "office",
            Class::Fleet => "fleet",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Class::Wireless => "无线基站",
            Class::DataCenter => "数据中心",
            Class::MachineRoom => "通信机楼",
            Class::Office => "办公营业",
            Class::Fleet => "车队",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.code() == s)
    }

    pub fn of_facility(t: model::FacilityType) -> Class {
        use model::FacilityType as F;
        match t {
            F::BaseStation5g | F::BaseStation4g => Class::Wireless,
            F::DataCenter => Class::DataCenter,
            F::MachineRoom => Class::MachineRoom,
            F::Office | F::Retail | F::Warehouse => Class::Office,
            F::Fleet => Class::Fleet,
        }
    }

    /// Which driver moves the activity, the energy per activity, and the PUE of this class.
    pub fn driver_keys(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Class::Wireless => ("traffic_growth", "wireless_intensity_change", None),
            Class::DataCenter => ("dc_it_growth", "dc_intensity_change", Some("pue_data_center")),
            Class::MachineRoom => ("machine_room_growth", "machine_room_intensity_change", Some("pue_machine_room")),
            Class::Office => ("office_growth", "office_intensity_change", None),
            Class::Fleet => ("fleet_km_growth", "fleet_intensity_change", None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Year-on-year change, applied from the previous year.
    Rate,
    /// The value itself.
    Level,
}

/// How gross emissions move when a driver alone is raised (documented per driver, checked by a
/// property test over the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    /// Moves costs, the intensity denominator, or acts only with another driver.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub key: String,
    pub zh: String,
    pub en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    pub unit: String,
    pub kind: Kind,
    /// Effect on gross emissions when the driver alone is raised (every shipped driver has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `[year, value]` anchors, interpolated linearly, flat outside.
    pub path: Vec<(i32, f64)>,
    /// Monte Carlo half-width of a triangular shift added to the whole path.
    #[serde(default)]
    pub spread: f64,
    pub status: String,
    pub source: String,
    /// The path before the scenario's edit (shipped or calibrated from history), kept by
    /// [`Drivers::set_path`]: its base-year value is the calibrated base value that an edited
    /// level is relative to. Absent when the driver is not edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<Vec<(i32, f64)>>,
}

impl Driver {
    pub fn at(&self, year: i32) -> f64 {
        interpolate(&self.path, year)
    }

    /// The calibrated value in the base year `year`: the unedited path's value. The base year is
    /// observed, so an edit never changes it; a level edited for the projected years acts relative
    /// to it (a PUE as the ratio to it, an added share as the difference from it).
    pub fn base_at(&self, year: i32) -> f64 {
        interpolate(self.calibrated.as_deref().unwrap_or(&self.path), year)
    }
}

pub fn interpolate(path: &[(i32, f64)], year: i32) -> f64 {
    match path {
        [] => 0.0,
        [(y0, v0), ..] if year <= *y0 => *v0,
        _ => {
            for w in path.windows(2) {
                let ((y0, v0), (y1, v1)) = (w[0], w[1]);
                if year <= y1 {
                    let t = f64::from(year - y0) / f64::from(y1 - y0);
                    return v0 + (v1 - v0) * t;
                }
            }
            path[path.len() - 1].1
        }
    }
}

/// The full set of drivers, by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drivers {
    #[serde(rename = "driver")]
    pub list: Vec<Driver>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DriverError {
    #[error("unknown driver `{0}` (see `dualcarbon scenario drivers`)")]
    Unknown(String),
    #[error("driver `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl Drivers {
    /// The shipped defaults.
    pub fn shipped() -> Drivers {
        let d: Drivers = toml::from_str(include_str!("../data/drivers.toml")).expect("shipped drivers.toml parses");
        d.validate().expect("shipped drivers.toml is valid");
        d
    }

    pub fn get(&self, key: &str) -> Option<&Driver> {
        self.list.iter().find(|d| d.key == key)
    }

    pub fn value(&self, key: &str, year: i32) -> f64 {
        self.get(key).map_or(0.0, |d| d.at(year))
    }

    /// The calibrated base-year value of a driver (see [`Driver::base_at`]).
    pub fn base_value(&self, key: &str, base_year: i32) -> f64 {
        self.get(key).map_or(0.0, |d| d.base_at(base_year))
    }

    /// Replaces the path (and optionally the spread) of a driver.
    pub fn set_path(&mut self, key: &str, path: Vec<(i32, f64)>) -> Result<(), DriverError> {
        let d = self.list.iter_mut().find(|d| d.key == key).ok_or_else(|| DriverError::Unknown(key.into()))?;
        // The first edit keeps the calibrated path: the base year stays what it was calibrated to.
        if d.calibrated.is_none() {
            d.calibrated = Some(std::mem::take(&mut d.path));
        }
        d.path = path;
        d.status = "user".into();
        d.source = "set by the scenario".into();
        check(d)
    }

    /// Sets the value from `year` on to an observed figure, keeping the later anchors of the path.
    pub fn calibrate_from(&mut self, key: &str, year: i32, value: f64, source: String) -> Result<(), DriverError> {
        let d = self.list.iter_mut().find(|d| d.key == key).ok_or_else(|| DriverError::Unknown(key.into()))?;
        d.path.retain(|(y, _)| *y > year);
        d.path.insert(0, (year, value));
        d.calibrated = None;
        d.status = "calibrated".into();
        d.source = format!("{source}; later anchors: {}", d.source);
        check(d)
    }

    pub fn set_spread(&mut self, key: &str, spread: f64) -> Result<(), DriverError> {
        let d = self.list.iter_mut().find(|d| d.key == key).ok_or_else(|| DriverError::Unknown(key.into()))?;
        d.spread = spread;
        check(d)
    }

    pub fn validate(&self) -> Result<(), Vec<DriverError>> {
        let mut errs: Vec<DriverError> = self.list.iter().filter_map(|d| check(d).err()).collect();
        let mut seen = BTreeMap::new();
        for d in &self.list {
            if seen.insert(d.key.as_str(), ()).is_some() {
                errs.push(DriverError::Invalid { key: d.key.clone(), reason: "defined twice".into() });
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

fn check(d: &Driver) -> Result<(), DriverError> {
    check_path(d, &d.path)?;
    match &d.calibrated {
        Some(p) => check_path(d, p),
        None => Ok(()),
    }
}

fn check_path(d: &Driver, path: &[(i32, f64)]) -> Result<(), DriverError> {
    let bad = |reason: &str| Err(DriverError::Invalid { key: d.key.clone(), reason: reason.into() });
    if path.is_empty() {
        return bad("the path needs at least one [year, value] anchor");
    }
    if path.windows(2).any(|w| w[1].0 <= w[0].0) {
        return bad("anchor years must increase");
    }
    if path.iter().any(|(y, _)| !model::calendar::YEARS.contains(y)) {
        return bad("anchor years lie from 1990 to 2100");
    }
    if path.iter().any(|(_, v)| !v.is_finite()) || !d.spread.is_finite() || d.spread < 0.0 {
        return bad("values must be finite and the spread non-negative");
    }
    if d.kind == Kind::Rate && path.iter().any(|(_, v)| *v <= -1.0) {
        return bad("a rate must be above -100% a year");
    }
    if d.key.starts_with("pue") && path.iter().any(|(_, v)| *v < 1.0) {
        return bad("a PUE is at least 1");
    }
    if d.unit == "share" && path.iter().any(|(_, v)| !(0.0..=1.0).contains(v)) {
        return bad("a share lies between 0 and 1");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_drivers_have_labels_sources_and_every_class_driver() {
        let d = Drivers::shipped();
        for x in &d.list {
            assert!(!x.zh.is_empty() && !x.en.is_empty() && !x.source.is_empty(), "{}", x.key);
            assert!(x.direction.is_some() && x.calibrated.is_none(), "{}", x.key);
        }
        for c in Class::ALL {
            let (a, i, p) = c.driver_keys();
            assert!(d.get(a).is_some() && d.get(i).is_some(), "{c:?}");
            if let Some(p) = p {
                assert!(d.get(p).is_some());
            }
        }
    }

    #[test]
    fn interpolation_is_linear_between_anchors_and_flat_outside() {
        let p = [(2025, 0.10), (2035, 0.0)];
        assert_eq!(interpolate(&p, 2020), 0.10);
        assert!((interpolate(&p, 2030) - 0.05).abs() < 1e-15);
        assert_eq!(interpolate(&p, 2050), 0.0);
    }

    #[test]
    fn bad_edits_are_refused_with_the_driver_name() {
        let mut d = Drivers::shipped();
        assert_eq!(d.set_path("nope", vec![(2025, 0.1)]), Err(DriverError::Unknown("nope".into())));
        let e = d.set_path("pue_data_center", vec![(2025, 0.9)]).unwrap_err();
        assert!(e.to_string().contains("pue_data_center"));
        assert!(d.set_path("traffic_growth", vec![(2030, 0.1), (2025, 0.2)]).is_err());
    }
}
