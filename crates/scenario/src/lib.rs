//! Scenarios (场): trend analysis and forecasts of monthly series, a telecom Kaya driver model of
//! the company's emissions to 2060 calibrated on its own inventory, a catalogue of measures with
//! costs and ramp-up, Monte Carlo bands and the probability of peaking by 2030, LMDI decomposition
//! of past change, a marginal abatement cost curve and a least-cost plan found by a MILP solver.
//!
//! Pure computation: no files, no network, no database. Inputs and outputs are serde types so the
//! platform can expose them over HTTP and the console can re-run the deterministic model on every
//! slider change.

pub mod api;
pub mod baseline;
pub mod drivers;
pub mod engine;
pub mod history;
pub mod lmdi;
pub mod measures;
pub mod montecarlo;
pub mod optimise;
pub mod spec;
pub mod synthetic;
pub mod trend;

pub use baseline::{calibrate, reconcile, Baseline, ClassBase, InventoryTotals, ProvinceBase, Reconciliation};
pub use drivers::{Class, Driver, Drivers};
pub use engine::{Model, RunResult, Scenario, Selected, Targets};
pub use measures::{Catalogue, Measure};
