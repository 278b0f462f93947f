//! The internal carbon market's persistence, and snapshot approval.
//!
//! The market is a single-writer state machine (`market::exchange::Exchange`): its state is the
//! replay of its command log. Each accepted command is stored here with the journal entries it
//! wrote, any allocations it issued and its audit entry, in the transaction of its batch (group
//! commit), numbered without a gap, so that a replay of `market_commands` gives exactly `market_entries`
//! (`dualcarbon market verify`). Commands, outcomes and entries are kept as the JSON the `market`
//! crate writes; the store does not interpret them.
//!
//! A snapshot is approved (verified) by a group administrator or reviewer; the market's
//! allocations and obligations read approved snapshots only.

use crate::audit::{append, Change};
use crate::{Result, Store, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketPlan {
    pub id: i64,
    pub year: i64,
    pub version: i64,
    pub body: String,
    pub sha256: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredCommand {
    pub seq: i64,
    pub request_id: String,
    pub at: i64,
    pub actor: String,
    pub command: String,
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub seq: i64,
    pub command_seq: i64,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAllocation {
    pub year: i64,
    pub org_code: String,
    /// "pre" or "final".
    pub basis: String,
    pub plan_version: i64,
    pub kg: i64,
    /// The allocation's explanation (JSON: formula, inputs with sources, result).
    pub explanation: serde_json::Value,
    pub command_seq: Option<i64>,
}

/// One accepted command with everything it writes.
#[derive(Debug, Clone)]
pub struct NewCommand {
    pub seq: i64,
    pub request_id: String,
    pub at: i64,
    pub actor: String,
    pub command: String,
    pub outcome: String,
    /// (journal seq, entry JSON)
    pub entries: Vec<(i64, String)>,
    pub allocation: Option<StoredAllocation>,
    pub action: String,
    pub entity: String,
    pub org_code: String,
    pub after: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub snapshot_id: i64,
    pub approved_by: String,
    pub approved_at: String,
    pub note: String,
}

fn plan(r: &crate::backend::Row) -> MarketPlan {
    MarketPlan {
        id: r.int(0),
        year: r.int(1),
        version: r.int(2),
        body: r.text(3),
        sha256: r.text(4),
        created_by: r.text(5),
        created_at: r.text(6),
    }
}

const PLAN_COLS: &str = "id, year, version, body, sha256, created_by, created_at";

impl Store {
    /// Whether the market stored a command with request id `rid` that made journal entries (an
    /// issue that went through, as opposed to none or a refusal).
    pub fn market_request_entered(&self, rid: &str) -> Result<bool> {
        Ok(!self
            .read(|c| {
                c.query(
                    "SELECT 1 FROM market_commands mc JOIN market_entries me ON me.command_seq = mc.seq \
                     WHERE mc.request_id = $1 LIMIT 1",
                    &[rid.into()],
                )
            })?
            .is_empty())
    }

    /// Stores a new version of period `year`'s plan file (already checked by the caller) with its
    /// audit entry (`market.plan`), on the root org.
    pub fn add_market_plan(&self, actor: &str, org_code: &str, year: i64, body: &str) -> Result<MarketPlan> {
        let kind = self.kind();
        self.tx(|c| {
            let version = c
                .query("SELECT MAX(version) FROM market_plans WHERE year = $1", &[year.into()])?
                .first()
                .and_then(|r| r.opt_int(0))
                .unwrap_or(0)
                + 1;
            let sha = crate::sha256_hex(body.as_bytes());
            c.exec(
                "INSERT INTO market_plans (year, version, body, sha256, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[year.into(), version.into(), body.into(), sha.as_str().into(), actor.into(), crate::now().into()],
            )?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "market.plan",
                    entity: format!("market/plan/{year}"),
                    org_code,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"year": year, "version": version, "sha256": sha, "bytes": body.len()}),
                },
            )?;
            let rows = c.query(
                &format!("SELECT {PLAN_COLS} FROM market_plans WHERE year = $1 AND version = $2"),
                &[year.into(), version.into()],
            )?;
            Ok(plan(&rows[0]))
        })
    }

    /// Period `year`'s plan: the given version, or the newest.
    pub fn market_plan(&self, year: i64, version: Option<i64>) -> Result<Option<MarketPlan>> {
        self.read(|c| {
            let rows = match version {
                Some(v) => c.query(
                    &format!("SELECT {PLAN_COLS} FROM market_plans WHERE year = $1 AND version = $2"),
                    &[year.into(), v.into()],
                )?,
                None => c.query(
                    &format!("SELECT {PLAN_COLS} FROM market_plans WHERE year = $1 ORDER BY version DESC LIMIT 1"),
                    &[year.into()],
                )?,
            };
            Ok(rows.first().map(plan))
        })
    }

    /// Every plan version, newest period and version first.
    pub fn market_plans(&self) -> Result<Vec<MarketPlan>> {
        self.read(|c| {
            Ok(c.query(&format!("SELECT {PLAN_COLS} FROM market_plans ORDER BY year DESC, version DESC"), &[])?
                .iter()
                .map(plan)
                .collect())
        })
    }

    /// Appends accepted commands in order, each with its journal entries, its allocation and its
    /// audit entry, all in one transaction (the market's group commit: commands that arrived
    /// while the previous batch was being written). Refused (`Conflict`) unless the first `seq`
    /// follows the last stored command and the batch has no gap: two writers can never interleave.
    pub fn append_market_commands(&self, batch: &[NewCommand]) -> Result<()> {
        let kind = self.kind();
        self.tx(|c| {
            let mut last = c.query("SELECT MAX(seq) FROM market_commands", &[])?.first().and_then(|r| r.opt_int(0)).unwrap_or(0);
            for cmd in batch {
                if cmd.seq != last + 1 {
                    return Err(StoreError::Conflict(format!(
                        "market command {} does not follow the stored command {last}: another writer stored commands",
                        cmd.seq
                    )));
                }
                last = cmd.seq;
            }
            // Many rows per statement (within both backends' parameter limits).
            for chunk in batch.chunks(1000) {
                let mut sql = String::from("INSERT INTO market_commands (seq, request_id, at, actor, command, outcome) VALUES ");
                let mut params: Vec<crate::backend::Value> = Vec::with_capacity(chunk.len() * 6);
                for (i, cmd) in chunk.iter().enumerate() {
                    let b = i * 6;
                    sql.push_str(&format!(
                        "{}(${}, ${}, ${}, ${}, ${}, ${})",
                        if i > 0 { ", " } else { "" },
                        b + 1, b + 2, b + 3, b + 4, b + 5, b + 6
                    ));
                    params.extend([
                        cmd.seq.into(),
                        cmd.request_id.as_str().into(),
                        cmd.at.into(),
                        cmd.actor.as_str().into(),
                        cmd.command.as_str().into(),
                        cmd.outcome.as_str().into(),
                    ]);
                }
                c.exec(&sql, &params)?;
            }
            let entries: Vec<(i64, i64, &str)> =
                batch.iter().flat_map(|cmd| cmd.entries.iter().map(move |(seq, body)| (*seq, cmd.seq, body.as_str()))).collect();
            for chunk in entries.chunks(2000) {
                let mut sql = String::from("INSERT INTO market_entries (seq, command_seq, body) VALUES ");
                let mut params: Vec<crate::backend::Value> = Vec::with_capacity(chunk.len() * 3);
                for (i, (seq, command_seq, body)) in chunk.iter().enumerate() {
                    let b = i * 3;
                    sql.push_str(&format!("{}(${}, ${}, ${})", if i > 0 { ", " } else { "" }, b + 1, b + 2, b + 3));
                    params.extend([(*seq).into(), (*command_seq).into(), (*body).into()]);
                }
                c.exec(&sql, &params)?;
            }
            for cmd in batch {
                if let Some(a) = &cmd.allocation {
                    c.exec(
                        "INSERT INTO market_allocations (year, org_code, basis, plan_version, kg, explanation, command_seq) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (year, org_code, basis) DO UPDATE SET plan_version = excluded.plan_version, kg = excluded.kg, \
                         explanation = excluded.explanation, command_seq = excluded.command_seq",
                        &[
                            a.year.into(),
                            a.org_code.as_str().into(),
                            a.basis.as_str().into(),
                            a.plan_version.into(),
                            a.kg.into(),
                            a.explanation.to_string().into(),
                            cmd.seq.into(),
                        ],
                    )?;
                }
            }
            let changes = batch
                .iter()
                .map(|cmd| Change {
                    actor: &cmd.actor,
                    action: &cmd.action,
                    entity: cmd.entity.clone(),
                    org_code: &cmd.org_code,
                    before: serde_json::Value::Null,
                    after: cmd.after.clone(),
                })
                .collect();
            crate::audit::append_all(c, kind, changes)?;
            Ok(())
        })
    }

    /// Records an allocation that issues nothing (its amount, or its true-up, is zero), with its
    /// audit entry (`market.allocation`).
    pub fn put_market_allocation(&self, actor: &str, a: &StoredAllocation) -> Result<()> {
        let kind = self.kind();
        self.tx(|c| {
            c.exec(
                "INSERT INTO market_allocations (year, org_code, basis, plan_version, kg, explanation, command_seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL) \
                 ON CONFLICT (year, org_code, basis) DO UPDATE SET plan_version = excluded.plan_version, kg = excluded.kg, \
                 explanation = excluded.explanation, command_seq = NULL",
                &[
                    a.year.into(),
                    a.org_code.as_str().into(),
                    a.basis.as_str().into(),
                    a.plan_version.into(),
                    a.kg.into(),
                    a.explanation.to_string().into(),
                ],
            )?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "market.allocation",
                    entity: format!("market/allocation/{}/{}/{}", a.year, a.basis, a.org_code),
                    org_code: &a.org_code,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"year": a.year, "basis": a.basis, "kg": a.kg, "plan_version": a.plan_version}),
                },
            )?;
            Ok(())
        })
    }

    /// The command log, in order.
    pub fn market_commands(&self) -> Result<Vec<StoredCommand>> {
        self.read(|c| {
            Ok(c.query("SELECT seq, request_id, at, actor, command, outcome FROM market_commands ORDER BY seq", &[])?
                .iter()
                .map(|r| StoredCommand {
                    seq: r.int(0),
                    request_id: r.text(1),
                    at: r.int(2),
                    actor: r.text(3),
                    command: r.text(4),
                    outcome: r.text(5),
                })
                .collect())
        })
    }

    /// The registry's journal, in order.
    pub fn market_entries(&self) -> Result<Vec<StoredEntry>> {
        self.read(|c| {
            Ok(c.query("SELECT seq, command_seq, body FROM market_entries ORDER BY seq", &[])?
                .iter()
                .map(|r| StoredEntry { seq: r.int(0), command_seq: r.int(1), body: r.text(2) })
                .collect())
        })
    }

    /// The allocations of period `year`, by org and basis.
    pub fn market_allocations(&self, year: i64) -> Result<Vec<StoredAllocation>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT year, org_code, basis, plan_version, kg, explanation, command_seq FROM market_allocations \
                 WHERE year = $1 ORDER BY org_code, basis",
                &[year.into()],
            )?
            .iter()
            .map(|r| StoredAllocation {
                year: r.int(0),
                org_code: r.text(1),
                basis: r.text(2),
                plan_version: r.int(3),
                kg: r.int(4),
                explanation: serde_json::from_str(&r.text(5)).unwrap_or(serde_json::Value::Null),
                command_seq: r.opt_int(6),
            })
            .collect())
        })
    }

    /// Approves (verifies) snapshot `id` with its audit entry (`snapshot.approve`); once only.
    pub fn approve_snapshot(&self, actor: &str, id: i64, note: &str) -> Result<Approval> {
        let kind = self.kind();
        self.tx(|c| {
            let org = c
                .query("SELECT org_code FROM snapshots WHERE id = $1", &[id.into()])?
                .first()
                .map(|r| r.text(0))
                .ok_or_else(|| StoreError::NotFound(format!("snapshot {id}")))?;
            if !c.query("SELECT snapshot_id FROM snapshot_approvals WHERE snapshot_id = $1", &[id.into()])?.is_empty() {
                return Err(StoreError::Conflict(format!("snapshot {id} is already approved")));
            }
            let at = crate::now();
            c.exec(
                "INSERT INTO snapshot_approvals (snapshot_id, approved_by, approved_at, note) VALUES ($1, $2, $3, $4)",
                &[id.into(), actor.into(), at.as_str().into(), note.into()],
            )?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "snapshot.approve",
                    entity: format!("snapshot/{id}"),
                    org_code: &org,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"snapshot": id, "note": note}),
                },
            )?;
            Ok(Approval { snapshot_id: id, approved_by: actor.to_string(), approved_at: at, note: note.to_string() })
        })
    }

    /// Every approval, by snapshot id.
    pub fn snapshot_approvals(&self) -> Result<Vec<Approval>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT snapshot_id, approved_by, approved_at, note FROM snapshot_approvals ORDER BY snapshot_id",
                &[],
            )?
            .iter()
            .map(|r| Approval {
                snapshot_id: r.int(0),
                approved_by: r.text(1),
                approved_at: r.text(2),
                note: r.text(3),
            })
            .collect())
        })
    }
}
