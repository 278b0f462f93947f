//! Typed quantities. A litre of diesel and a kilowatt-hour are different Rust types, so they cannot
//! be added by mistake; conversion between units of one dimension is explicit and exact where the
//! definitions are exact (1 kWh = 3.6 MJ, 1 t = 1000 kg). Crossing dimensions (litres of diesel to
//! kilograms) needs a physical property (a density) and is done by the accounting engine with a
//! sourced factor, never here.
//!
//! Every dimension has one base unit in which values are stored once parsed:
//! energy MJ, mass kg, volume m³, money yuan, distance km, freight t·km, passenger travel p·km,
//! count items.

use serde::Serialize;
use std::fmt;
use std::ops::{Add, AddAssign, Mul, Sub};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Energy,
    Mass,
    Volume,
    Money,
    Distance,
    Freight,
    PassengerDistance,
    Count,
}

impl Dimension {
    pub fn base_unit(self) -> &'static str {
        match self {
            Dimension::Energy => "MJ",
            Dimension::Mass => "kg",
            Dimension::Volume => "m3",
            Dimension::Money => "yuan",
            Dimension::Distance => "km",
            Dimension::Freight => "tkm",
            Dimension::PassengerDistance => "pkm",
            Dimension::Count => "item",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Energy => "energy",
            Dimension::Mass => "mass",
            Dimension::Volume => "volume",
            Dimension::Money => "money",
            Dimension::Distance => "distance",
            Dimension::Freight => "freight (tonne-km)",
            Dimension::PassengerDistance => "passenger travel (passenger-km)",
            Dimension::Count => "count",
        }
    }
}

/// A unit users may write in a file, with its dimension and its size in the dimension's base unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unit {
    pub code: &'static str,
    pub dimension: Dimension,
    pub in_base: f64,
}

/// Every unit the platform accepts. Codes are matched case-sensitively first (so `Mt` and `mt`
/// could never be confused), then through the aliases below.
pub static UNITS: &[Unit] = &[
    Unit { code: "MJ", dimension: Dimension::Energy, in_base: 1.0 },
    Unit { code: "GJ", dimension: Dimension::Energy, in_base: 1_000.0 },
    Unit { code: "TJ", dimension: Dimension::Energy, in_base: 1_000_000.0 },
    Unit { code: "kWh", dimension: Dimension::Energy, in_base: 3.6 },
    Unit { code: "MWh", dimension: Dimension::Energy, in_base: 3_600.0 },
    Unit { code: "GWh", dimension: Dimension::Energy, in_base: 3_600_000.0 },
    Unit { code: "g", dimension: Dimension::Mass, in_base: 0.001 },
    Unit { code: "kg", dimension: Dimension::Mass, in_base: 1.0 },
    Unit { code: "t", dimension: Dimension::Mass, in_base: 1_000.0 },
    Unit { code: "L", dimension: Dimension::Volume, in_base: 0.001 },
    Unit { code: "m3", dimension: Dimension::Volume, in_base: 1.0 },
    // Gas volumes in Chinese reporting are at standard conditions; Nm³ and m³ are both accepted
    // and treated as the same volume at standard conditions (documented in docs/formats.md).
    Unit { code: "Nm3", dimension: Dimension::Volume, in_base: 1.0 },
    Unit { code: "10^4 Nm3", dimension: Dimension::Volume, in_base: 10_000.0 },
    Unit { code: "yuan", dimension: Dimension::Money, in_base: 1.0 },
    Unit { code: "10^4 yuan", dimension: Dimension::Money, in_base: 10_000.0 },
    Unit { code: "km", dimension: Dimension::Distance, in_base: 1.0 },
    Unit { code: "tkm", dimension: Dimension::Freight, in_base: 1.0 },
    Unit { code: "pkm", dimension: Dimension::PassengerDistance, in_base: 1.0 },
    Unit { code: "item", dimension: Dimension::Count, in_base: 1.0 },
];

const ALIASES: &[(&str, &str)] = &[
    ("kwh", "kWh"),
    ("KWH", "kWh"),
    ("度", "kWh"),
    ("千瓦时", "kWh"),
    ("千瓦·时", "kWh"),
    ("兆瓦时", "MWh"),
    ("吉焦", "GJ"),
    ("兆焦", "MJ"),
    ("克", "g"),
    ("公里", "km"),
    ("千米", "km"),
    ("吨公里", "tkm"),
    ("人公里", "pkm"),
    ("mwh", "MWh"),
    ("gwh", "GWh"),
    ("gj", "GJ"),
    ("mj", "MJ"),
    ("tj", "TJ"),
    ("KG", "kg"),
    ("Kg", "kg"),
    ("千克", "kg"),
    ("公斤", "kg"),
    ("tonne", "t"),
    ("tonnes", "t"),
    ("吨", "t"),
    ("l", "L"),
    ("litre", "L"),
    ("liter", "L"),
    ("升", "L"),
    ("m³", "m3"),
    ("M3", "m3"),
    ("立方米", "m3"),
    ("Nm³", "Nm3"),
    ("nm3", "Nm3"),
    ("万Nm3", "10^4 Nm3"),
    ("万m3", "10^4 Nm3"),
    ("元", "yuan"),
    ("CNY", "yuan"),
    ("RMB", "yuan"),
    ("万元", "10^4 yuan"),
    ("t-km", "tkm"),
    ("t·km", "tkm"),
    ("p-km", "pkm"),
    ("passenger-km", "pkm"),
    ("items", "item"),
    ("pcs", "item"),
    ("个", "item"),
    ("台", "item"),
];

pub fn parse_unit(text: &str) -> Option<&'static Unit> {
    let t = text.trim();
    if let Some(u) = UNITS.iter().find(|u| u.code == t) {
        return Some(u);
    }
    let canonical = ALIASES.iter().find(|(a, _)| *a == t).map(|(_, c)| *c)?;
    UNITS.iter().find(|u| u.code == canonical)
}

/// Looks a unit up by its exact code; panics on a code that is not in [`UNITS`] because that is a
/// programming error, not user input.
pub fn unit(code: &str) -> &'static Unit {
    UNITS.iter().find(|u| u.code == code).unwrap_or_else(|| panic!("unknown unit code {code:?} in source"))
}

/// A value in some unit, not yet typed by dimension: what a parser hands over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    pub value: f64,
    pub unit: &'static Unit,
}

impl Measured {
    /// The value in the base unit of its dimension.
    pub fn in_base(&self) -> f64 {
        self.value * self.unit.in_base
    }
    /// Converts to another unit of the same dimension; `None` if the dimensions differ.
    pub fn convert(&self, to: &'static Unit) -> Option<Measured> {
        (to.dimension == self.unit.dimension).then(|| Measured { value: self.in_base() / to.in_base, unit: to })
    }
}

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $dim:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize)]
        pub struct $name(f64);

        impl $name {
            pub const DIMENSION: Dimension = $dim;
            pub const ZERO: $name = $name(0.0);
            /// From a value in the dimension's base unit.
            pub const fn from_base(v: f64) -> Self { $name(v) }
            pub const fn base(self) -> f64 { self.0 }
            /// From a value in a unit of this dimension; `None` for a unit of another dimension.
            pub fn new(value: f64, unit: &Unit) -> Option<Self> {
                (unit.dimension == $dim).then(|| $name(value * unit.in_base))
            }
            /// The value expressed in `unit`; `None` for a unit of another dimension.
            pub fn get(self, unit: &Unit) -> Option<f64> {
                (unit.dimension == $dim).then(|| self.0 / unit.in_base)
            }
            pub fn from_measured(m: Measured) -> Option<Self> { Self::new(m.value, m.unit) }
        }
        impl Add for $name { type Output = $name; fn add(self, o: $name) -> $name { $name(self.0 + o.0) } }
        impl AddAssign for $name { fn add_assign(&mut self, o: $name) { self.0 += o.0 } }
        impl Sub for $name { type Output = $name; fn sub(self, o: $name) -> $name { $name(self.0 - o.0) } }
        impl Mul<f64> for $name { type Output = $name; fn mul(self, k: f64) -> $name { $name(self.0 * k) } }
        impl std::iter::Sum for $name { fn sum<I: Iterator<Item = $name>>(it: I) -> $name { $name(it.map(|q| q.0).sum()) } }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "{} {}", self.0, $dim.base_unit()) }
        }
    };
}

quantity!(
    /// Energy, stored in MJ.
    Energy, Dimension::Energy);
quantity!(
    /// Mass, stored in kg.
    Mass, Dimension::Mass);
quantity!(
    /// Volume, stored in m³ (gases at standard conditions).
    Volume, Dimension::Volume);
quantity!(
    /// Money, stored in yuan.
    Money, Dimension::Money);
quantity!(
    /// Freight transport work, stored in tonne-km.
    Freight, Dimension::Freight);
quantity!(
    /// Passenger travel, stored in passenger-km.
    PassengerDistance, Dimension::PassengerDistance);

impl Energy {
    pub fn kwh(v: f64) -> Self {
        Energy(v * 3.6)
    }
    pub fn as_kwh(self) -> f64 {
        self.0 / 3.6
    }
    pub fn as_gj(self) -> f64 {
        self.0 / 1_000.0
    }
    pub fn as_tj(self) -> f64 {
        self.0 / 1_000_000.0
    }
}

impl Mass {
    pub fn kg(v: f64) -> Self {
        Mass(v)
    }
    pub fn tonnes(v: f64) -> Self {
        Mass(v * 1_000.0)
    }
    pub fn as_tonnes(self) -> f64 {
        self.0 / 1_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_known_conversions() {
        let e = Energy::new(1.0, unit("MWh")).unwrap();
        assert_eq!(e.get(unit("kWh")).unwrap(), 1000.0);
        assert_eq!(e.get(unit("GJ")).unwrap(), 3.6);
        let m = Mass::new(2.5, unit("t")).unwrap();
        assert_eq!(m.get(unit("kg")).unwrap(), 2500.0);
        let v = Volume::new(1.0, unit("10^4 Nm3")).unwrap();
        assert_eq!(v.get(unit("m3")).unwrap(), 10_000.0);
    }

    #[test]
    fn cross_dimension_is_refused() {
        assert!(Energy::new(1.0, unit("L")).is_none());
        assert!(Mass::new(1.0, unit("kWh")).is_none());
        let litres = Measured { value: 10.0, unit: unit("L") };
        assert!(litres.convert(unit("kg")).is_none());
    }

    #[test]
    fn aliases_parse_to_canonical_units() {
        assert_eq!(parse_unit("度").unwrap().code, "kWh");
        assert_eq!(parse_unit("kwh").unwrap().code, "kWh");
        assert_eq!(parse_unit(" t ").unwrap().code, "t");
        assert_eq!(parse_unit("万元").unwrap().code, "10^4 yuan");
        assert!(parse_unit("furlong").is_none());
        // "mwh" is megawatt-hours; a bare "Mwh"-style typo is not silently guessed.
        assert!(parse_unit("Mwh").is_none());
    }

    fn any_unit() -> impl Strategy<Value = &'static Unit> {
        (0..UNITS.len()).prop_map(|i| &UNITS[i])
    }

    proptest! {
        #[test]
        fn round_trip_within_dimension(v in -1e12f64..1e12, a in any_unit(), b in any_unit()) {
            let m = Measured { value: v, unit: a };
            match m.convert(b) {
                Some(there) => {
                    prop_assert_eq!(a.dimension, b.dimension);
                    let back = there.convert(a).unwrap();
                    prop_assert!((back.value - v).abs() <= 1e-9 * v.abs().max(1.0));
                }
                None => prop_assert_ne!(a.dimension, b.dimension),
            }
        }

        #[test]
        fn conversion_is_linear(x in 0f64..1e9, y in 0f64..1e9, a in any_unit()) {
            let sum = Measured { value: x + y, unit: a }.in_base();
            let parts = Measured { value: x, unit: a }.in_base() + Measured { value: y, unit: a }.in_base();
            prop_assert!((sum - parts).abs() <= 1e-9 * sum.abs().max(1.0));
        }

        #[test]
        fn typed_energy_sum_matches_base(xs in proptest::collection::vec(0f64..1e7, 0..50)) {
            let total: Energy = xs.iter().map(|&x| Energy::kwh(x)).sum();
            let expect: f64 = xs.iter().sum();
            prop_assert!((total.as_kwh() - expect).abs() <= 1e-6 * expect.max(1.0));
        }
    }
}
