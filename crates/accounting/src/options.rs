use factors::Pin;
use serde::Serialize;

/// Which organisational boundary the inventory uses (GHG Protocol Corporate Standard ch. 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// 100 % of every node the group controls operationally; nodes marked not controlled are out.
    #[default]
    OperationalControl,
    /// Each node's emissions times the product of equity shares on its path to the root.
    EquityShare,
}

/// What the market-based Scope 2 figure uses for electricity without a claimable instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResidualBasis {
    /// MEE/NBS national average excluding market-traded non-fossil power (residual-mix proxy);
    /// falls back to the location factor, with a warning, where the series has no year ≤ inventory year.
    #[default]
    NbsResidual,
    /// The location-based grid factor.
    Location,
}

#[derive(Debug, Clone, Serialize)]
pub struct InventoryOptions {
    pub year: i32,
    /// GWP set: `AR4`, `AR5` or `AR6`.
    pub gwp: String,
    /// Location-based grid series: `nbs_average` (provincial statistics) or `mee_reporting`.
    pub grid_series: String,
    pub residual: ResidualBasis,
    /// Fuel default series: `cn_guideline` or `ipcc2006`.
    pub fuel_defaults: String,
    /// Electricity to standard coal: `calorific` (0.1229 kgce/kWh) or `coal_equivalent`.
    pub electricity_tce: String,
    pub boundary: Boundary,
    pub pins: Vec<Pin>,
    /// Worker threads for the computation; the result does not depend on it.
    #[serde(skip)]
    pub threads: usize,
}

impl InventoryOptions {
    pub fn new(year: i32) -> Self {
        InventoryOptions {
            year,
            gwp: "AR6".into(),
            grid_series: "nbs_average".into(),
            residual: ResidualBasis::NbsResidual,
            fuel_defaults: "cn_guideline".into(),
            electricity_tce: "calorific".into(),
            boundary: Boundary::OperationalControl,
            pins: Vec::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}
