//! Telecom energy and carbon indicators (统) for DualCarbon: one registry of indicators (PUE, CUE,
//! WUE, 5G energy efficiency, energy and carbon per unit of telecom business, carbon per revenue,
//! green-power share, sharing savings, share of large data centres, ...), exact roll-ups over the
//! org tree as ratios of sums, the white paper's 2025 targets, progress, trajectory and scoreboard.
//! Pure: no IO beyond parsing text handed to it.

pub mod registry;
pub mod targets;
pub mod values;

pub use registry::{indicator, Aggregation, Better, Component, Indicator, INDICATORS};
pub use targets::{evaluate, scoreboard, OrgSeries, Override, Progress, ScoreRow, Target, TargetKind, TargetSet};
pub use values::{parse_micro, Observation, Observations, PeriodKey, Sums};
