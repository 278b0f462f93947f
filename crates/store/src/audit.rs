//! The audit log: who changed what, when, with the state before and after. Entries form a SHA-256
//! chain (each hash covers the previous hash and every field of the entry) and a head row holds
//! the last sequence number and hash, so editing, deleting, reordering or truncating history is
//! detected by [`Store::verify_audit`].

use crate::{sha256_hex, Conn, Kind, Result, Store};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub org_code: String,
    /// JSON text of the state before the change (`null` when created).
    pub before: String,
    /// JSON text of the state after the change (`null` when removed).
    pub after: String,
    pub prev_hash: String,
    pub hash: String,
}

/// What a change is, for [`append`].
pub struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: String,
    pub org_code: &'a str,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// The hash of an entry: covers the previous hash and every field but its own hash. Fields are
/// length-prefixed so that no two different entries hash the same text.
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut text = String::new();
    let seq = e.seq.to_string();
    for f in [&e.prev_hash, &seq, &e.at, &e.actor, &e.action, &e.entity, &e.org_code, &e.before, &e.after] {
        text.push_str(&f.len().to_string());
        text.push(':');
        text.push_str(f);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

/// Appends one entry inside the caller's transaction.
pub fn append(c: &mut dyn Conn, kind: Kind, change: Change<'_>) -> Result<i64> {
    let lock = if kind == Kind::Postgres { " FOR UPDATE" } else { "" };
    let head = c.query(&format!("SELECT seq, hash FROM audit_head WHERE id = 1{lock}"), &[])?;
    let (prev_seq, prev_hash) = (head[0].int(0), head[0].text(1));
    let mut e = AuditEntry {
        seq: prev_seq + 1,
        at: crate::now(),
        actor: change.actor.to_string(),
        action: change.action.to_string(),
        entity: change.entity,
        org_code: change.org_code.to_string(),
        before: change.before.to_string(),
        after: change.after.to_string(),
        prev_hash,
        hash: String::new(),
    };
    e.hash = entry_hash(&e);
    c.exec(
        "INSERT INTO audit (seq, at, actor, action, entity, org_code, before_json, after_json, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            e.seq.into(),
            e.at.as_str().into(),
            e.actor.as_str().into(),
            e.action.as_str().into(),
            e.entity.as_str().into(),
            e.org_code.as_str().into(),
            e.before.as_str().into(),
            e.after.as_str().into(),
            e.prev_hash.as_str().into(),
            e.hash.as_str().into(),
        ],
    )?;
    let (seq, hash) = (e.seq, e.hash);
    c.exec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[seq.into(), hash.into()])?;
    Ok(seq)
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub entries: i64,
    pub ok: bool,
    /// Each problem found, naming the entry.
    pub problems: Vec<String>,
}

fn entry(r: &crate::Row) -> AuditEntry {
    AuditEntry {
        seq: r.int(0),
        at: r.text(1),
        actor: r.text(2),
        action: r.text(3),
        entity: r.text(4),
        org_code: r.text(5),
        before: r.text(6),
        after: r.text(7),
        prev_hash: r.text(8),
        hash: r.text(9),
    }
}

const COLUMNS: &str = "seq, at, actor, action, entity, org_code, before_json, after_json, prev_hash, hash";

impl Store {
    /// Entries after `after_seq`, oldest first, at most `limit`.
    pub fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = self.read(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"),
                &[after_seq.into(), limit.into()],
            )
        })?;
        Ok(rows.iter().map(entry).collect())
    }

    /// Recomputes the whole chain: every hash, every link, gap-free sequence, and the head.
    pub fn verify_audit(&self) -> Result<Verification> {
        let mut problems = Vec::new();
        let mut prev_hash = "0".repeat(64);
        let mut expected_seq = 1;
        let mut after = 0;
        loop {
            let batch = self.audit_entries(after, 10_000)?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for e in &batch {
                if e.seq != expected_seq {
                    problems.push(format!(
                        "entry {}: expected sequence number {expected_seq} (an entry was removed or inserted)",
                        e.seq
                    ));
                }
                if e.prev_hash != prev_hash {
                    problems.push(format!("entry {}: does not link to the previous entry's hash", e.seq));
                }
                let h = entry_hash(e);
                if h != e.hash {
                    problems.push(format!(
                        "entry {}: content does not match its hash (edited after it was written)",
                        e.seq
                    ));
                }
                prev_hash = e.hash.clone();
                expected_seq = e.seq + 1;
            }
        }
        let head = self.read(|c| c.query("SELECT seq, hash FROM audit_head WHERE id = 1", &[]))?;
        let entries = expected_seq - 1;
        match head.first() {
            Some(h) if h.int(0) == entries && h.text(1) == prev_hash => {}
            Some(h) => problems.push(format!(
                "head says {} entries ending in {}, the log has {entries} ending in {prev_hash} (entries were removed from the end or the head was edited)",
                h.int(0),
                h.text(1)
            )),
            None => problems.push("the audit head row is missing".into()),
        }
        Ok(Verification { entries, ok: problems.is_empty(), problems })
    }
}
