//! Meter telemetry for DualCarbon (监): which meter measures what, how readings become energy per
//! quarter-hour, hour, day and month (exactly, with every gap, reset and rollover flagged), monthly
//! electricity from meters for facilities without a bill, and a crash-safe reading log.
//!
//! Pure domain code apart from `log` (files): no HTTP, no SQL.

pub mod activity;
pub mod batch;
pub mod hub;
pub mod log;
pub mod meter;
pub mod rollup;
pub mod series;
pub mod time;

pub use batch::{parse_csv_lines, parse_json, BatchError, RawReading};
pub use hub::{IngestReport, Reading, Telemetry};
pub use meter::{Meter, MeterId, MeterKind, MeterRegistry, Role};
pub use rollup::{Period, RollupRow};
pub use series::{flag, Cell, MeterSeries};
