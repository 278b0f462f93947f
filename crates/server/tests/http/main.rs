//! The server's HTTP integration tests, one test binary (`cargo test -p server --test http`): each former suite is a module, all on
//! the shared harness (`../harness`): the real router on SQLite and on PostgreSQL (see
//! store::testing), with real users, argon2 logins and tokens.

#[path = "../harness/mod.rs"]
mod harness;

mod api;
mod cockpit;
mod console;
mod decide;
mod demo_years;
mod inclusive;
mod indicators;
mod language;
mod market;
mod monitoring;
mod overview_yoy;
mod platform_data;
mod reports;
mod savings;
mod site_weather;
mod supply;
