//! Site energy systems (issue 5): the off-grid PV + methanol-reforming fuel cell + lithium battery power
//! system of a base station (光氢储一体化电源), its controller, a PVWatts-equivalent PV model, annual
//! simulation and sizing, and base-station power models with AI energy saving (traffic forecast and
//! sleep scheduling). Pure computation apart from reading weather and data files; no HTTP, no SQL.

pub mod pv;
pub mod solar;
// The coefficient table contains published values close to π; they are data, not the constant.
pub mod bench;
pub mod bs;
pub mod controller;
pub mod itu;
pub mod meters;
pub mod shipped_weather;
pub mod sim;
#[allow(clippy::approx_constant)]
mod spa_terms;
pub mod weather;
