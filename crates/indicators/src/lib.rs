//! Telecom energy and carbon indicators (统) for DualCarbon: one registry of indicators (PUE, CUE,
//! WUE, 5G energy efficiency, energy and carbon per unit of telecom business, carbon per revenue,
//! green-power share, sharing savings, base-station AI energy saving, share of large data centres,
//! ...), exact roll-ups over the org tree as ratios of sums, the white paper's 2025 targets,
//! progress, trajectory and scoreboard, and the measured results of scenario measures (`measured`).
//! Pure: no IO beyond parsing text handed to it.

pub mod attributes;
pub mod business;
pub mod measured;
pub mod registry;
pub mod targets;
pub mod values;

pub use measured::{measured, MeasuredBy, MeasuredResult, MEASURED};
pub use registry::{indicator, Aggregation, Better, Component, Feed, Indicator, INDICATORS};
pub use targets::{evaluate, scoreboard, OrgSeries, Override, Progress, ScoreRow, Target, TargetKind, TargetSet};
pub use values::{micro_from_f64, micro_to_f64, parse_micro, Observation, Observations, PeriodKey, Sums};
