//! The security sweep of issue 11 as a suite: every probe that once failed, re-run against the
//! real router on SQLite and on PostgreSQL (see store::testing). Each area keeps its probes in a
//! module of its own; this file holds their seed data on the server tests' one harness
//! (`../harness`: the platform on both backends, raw requests with any headers and body, logins).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use store::Store;

mod audit;
mod audit_log;
mod auth;
mod bounds;
mod filing;
mod supply;
mod web;
mod xlsx;

// The server tests' one harness.
#[path = "../harness/mod.rs"]
mod harness;
pub use harness::*;

/// Group CT with provinces CT-GD (city CT-GD-GZ) and CT-ZJ, six 5G sites each, and one user of
/// every role (province roles for GD, a filer and an admin for ZJ).
pub fn seed() -> Seed {
    let (orgs, facilities) = (group_orgs("CT-ZJ"), six_sites_each("CT-ZJ", "ZJ", "浙江"));
    let mut users = every_role();
    users.extend([
        ("gz-admin", "org_admin", "CT-GD-GZ"),
        ("zj-filer", "data_filer", "CT-ZJ"),
        ("zj-admin", "org_admin", "CT-ZJ"),
    ]);
    Seed { orgs, facilities, users }
}

/// The seeded platform `name` on SQLite and, when configured, PostgreSQL.
pub fn platform(name: &str) -> Platform {
    Platform::new(name, seed())
}

/// Runs `test` against a fresh seeded SQLite store and, when configured, a fresh PostgreSQL
/// database.
pub fn both<F, Fut>(name: &str, test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    platform(name).run(test)
}
