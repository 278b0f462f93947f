//! The emission-factor library: factor sets read from TOML files (the shipped ones compiled in, a
//! user's from a folder), each factor with its source, and the rules that pick one factor for a
//! calculation. See `docs/factor-files.md` for the file format and `docs/factor-selection.md`
//! for the rules.

pub mod documents;
mod library;
mod select;
mod units;

pub use documents::{Document, Documents, Primary};
pub use library::*;
pub use select::*;
pub use units::{parse_factor_unit, FactorUnit};
