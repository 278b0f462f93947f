//! The accounting core (核): turns a year of activity records and the factor library into a
//! GHG inventory (Scope 1, Scope 2 location- and market-based, Scope 3, energy in tce), rolled up
//! through the org tree, with every figure explainable down to records × factors.
//! Pure computation: no files, no network, no database.

pub mod engine;
pub mod explain;
pub mod metrics;
pub mod options;
pub mod plan;
pub mod report;

pub use engine::{compute, compute_with_breakdown, Breakdown, BreakdownRequest, Inventory, PlanError, Shares};
pub use explain::{ExplainScope, Explanation};
pub use options::{Boundary, InventoryOptions, ResidualBasis};
pub use report::{cell_rows, figure_units, FactorVintage, Figures, GroupBy, InventoryReport, Totals};
