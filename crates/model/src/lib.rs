//! Domain types of DualCarbon. Pure data and rules: no IO, no HTTP, no SQL.

pub mod calendar;
pub mod carrier;
pub mod dataset;
pub mod province;
pub mod units;

pub use carrier::{Carrier, CarrierKind, ElectricitySource, Fuel, Scope3Category};
pub use dataset::*;
pub use province::{parse_province, GridRegion, Province, ProvinceId, PROVINCES};
pub use units::{parse_unit, unit, Dimension, Energy, Mass, Measured, Unit, Volume, UNITS};
