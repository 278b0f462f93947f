//! DualCarbon's internal carbon market (内部碳交易), pure: no IO, no floating point.
//!
//! - [`dec`]: exact decimals for what a plan file states;
//! - [`plan`] and [`allocation`]: the period's plan file and the allocation methods, each result with
//!   its explanation;
//! - [`ledger`]: the registry (accounts, holdings by vintage, double-entry journal, holds);
//! - [`book`]: the order book of one vintage;
//! - [`exchange`]: books over the registry, orders and bilateral transfers settled delivery versus payment;
//! - [`compliance`]: surrender, offsets, banking and borrowing, penalties and rewards.

pub mod allocation;
pub mod book;
pub mod compliance;
pub mod dec;
pub mod exchange;
pub mod ledger;
pub mod plan;

pub use dec::Dec;
