//! Platform documents: the platform data that used to be loose files in the data directory
//! (`targets.toml`, `indicator-data.csv`, `alert-rules.toml`, `meters.csv`, and the alert state),
//! kept whole in the database under their file name, so that they are in backups and change only
//! together with their audit entry (one transaction). The formats are the files' own; the domain
//! crates parse them (`indicators`, `alerts`, `telemetry`).
//!
//! A data directory of an earlier release is migrated once ([`Store::import_document`]): the file
//! is stored with an audit entry (`platform.import`) and renamed `NAME.imported` by the caller, so
//! nothing is imported twice; a document already in the database is never replaced by a file.

use crate::{audit, Conn, Result, Store};

/// The documents, by the name of the file they replace.
pub const TARGETS: &str = "targets.toml";
pub const INDICATOR_DATA: &str = "indicator-data.csv";
pub const ALERT_RULES: &str = "alert-rules.toml";
pub const METERS: &str = "meters.csv";
pub const ALERT_STATE: &str = "alert-state.json";

/// The audit action of a file imported from a data directory of an earlier release.
pub const IMPORT_ACTION: &str = "platform.import";

/// Writes a document inside the caller's transaction (which appends the change's audit entry).
pub fn put(c: &mut dyn Conn, name: &str, body: &str) -> Result<()> {
    c.exec(
        "INSERT INTO platform_documents (name, body, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        &[name.into(), body.into(), crate::now().into()],
    )?;
    Ok(())
}

/// A document inside the caller's transaction.
pub fn get(c: &mut dyn Conn, name: &str) -> Result<Option<String>> {
    Ok(c.query("SELECT body FROM platform_documents WHERE name = $1", &[name.into()])?.first().map(|r| r.text(0)))
}

impl Store {
    /// The stored document `name`, if any.
    pub fn document(&self, name: &str) -> Result<Option<String>> {
        self.read(|c| get(c, name))
    }

    /// Imports a file of an earlier release's data directory as document `name`, unless the
    /// database has it already: stored with its `platform.import` audit entry (file name, size,
    /// SHA-256; the entry belongs to the root org) in one transaction. Returns whether it was imported.
    pub fn import_document(&self, name: &str, body: &str) -> Result<bool> {
        let kind = self.kind();
        self.tx(|c| {
            if get(c, name)?.is_some() {
                return Ok(false);
            }
            put(c, name, body)?;
            // Platform-wide data: the entry belongs to the root org (the group), whose admins see it.
            let root = c
                .query("SELECT code FROM orgs WHERE parent_code IS NULL ORDER BY code LIMIT 1", &[])?
                .first()
                .map(|r| r.text(0))
                .unwrap_or_default();
            audit::append(
                c,
                kind,
                audit::Change {
                    actor: "system",
                    action: IMPORT_ACTION,
                    entity: format!("document:{name}"),
                    org_code: &root,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"file": name, "bytes": body.len(), "sha256": crate::sha256_hex(body.as_bytes())}),
                },
            )?;
            Ok(true)
        })
    }

    /// Writes a document that is derived state, not a change of platform data (the alert state,
    /// which follows the readings): no audit entry.
    pub fn put_state_document(&self, name: &str, body: &str) -> Result<()> {
        self.tx(|c| put(c, name, body))
    }

    /// Keeps document `name` once: the first body written stays (a later call, or a concurrent
    /// one, gets the kept body back and writes nothing), with its audit entry (`action`, by
    /// `actor`, in `org_code`'s log: the body's size and SHA-256) in the same transaction.
    /// Returns the kept body and whether this call wrote it.
    pub fn keep_document_once(
        &self,
        name: &str,
        body: &str,
        actor: &str,
        action: &str,
        org_code: &str,
    ) -> Result<(String, bool)> {
        let kind = self.kind();
        self.tx(|c| {
            let inserted = c.exec(
                "INSERT INTO platform_documents (name, body, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &[name.into(), body.into(), crate::now().into()],
            )?;
            if inserted == 0 {
                let kept = get(c, name)?.unwrap_or_default();
                return Ok((kept, false));
            }
            audit::append(
                c,
                kind,
                audit::Change {
                    actor,
                    action,
                    entity: format!("document:{name}"),
                    org_code,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"document": name, "bytes": body.len(), "sha256": crate::sha256_hex(body.as_bytes())}),
                },
            )?;
            Ok((body.to_string(), true))
        })
    }
}
