//! 碳普惠 (carbon inclusive), pure: no IO. Personal carbon accounts earn points for low-carbon
//! actions reported by apps; this crate holds the rules the platform applies to them.
//!
//! * [`methodology`]: versioned TOML methodologies (ER = BE − PE per action and mode, every number
//!   with its source, effective dates, region; the shipped ones compiled in from `data/`), and the
//!   catalogue of actions with their units and modes.
//! * [`rules`]: an event's checks (fields, times, plausibility), its methodology, the dedup key,
//!   caps, the risk score and review, delayed crediting by source, the claim window, and the claim
//!   status rule (one claim per reduction: points or an offset elsewhere).
//! * [`ledger`]: the points journal's rules (double entry, integer points, idempotent request ids,
//!   never negative) and an in-memory journal the store is tested against.
//! * [`time`]: RFC 3339 instants and the China Standard Time days and months the programme counts in.

pub mod ledger;
pub mod methodology;
pub mod rules;
pub mod time;

pub use methodology::{Library, Methodology};
pub use rules::{Checked, Claim, Credit, EventIn, Reason, Source, Trust, Usage};
