//! Cluster mode of the HTTP server (docs/cluster.md): the platform's cluster start
//! (`platform::cluster`) plus what only the server caches: checked logins, dropped on every
//! instance as soon as the database announces a change of tokens, users or orgs (a logout, a
//! password or role change, a disabled or deleted user), so a revoked token is refused by every
//! instance within a second.

use crate::App;
use std::sync::Arc;

/// Starts cluster mode on `app` as instance `instance` (the store must be PostgreSQL).
pub fn start(app: &Arc<App>, instance: &str) -> platform::Result<()> {
    let weak = Arc::downgrade(app);
    platform::cluster::start(&app.platform, instance, move |table| {
        if matches!(table, None | Some("tokens") | Some("users") | Some("orgs")) {
            if let Some(app) = weak.upgrade() {
                if let Ok(mut s) = app.sessions.lock() {
                    app.sessions_dropped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    s.clear();
                }
            }
        }
    })
}
