//! 碳普惠 (carbon inclusive) persistence: apps' machine credentials, users' methodology versions,
//! personal accounts, events with their verdicts, credits, the points journal, the catalogue and
//! redemption orders. The rules are the `inclusive` crate's; this module runs them inside one
//! transaction per request with what the database knows (usage for caps, dedup keys, balances).
//!
//! Concurrency: a balance that must stay non-negative is only ever lowered by a conditional update
//! (`... WHERE holder = $2 AND balance >= $1`), so two redemptions of the same points can both run
//! but only one finds the points: on PostgreSQL the second waits for the first's row lock and
//! re-checks the condition, on SQLite writers are serialised. Stock is taken the same way.

use crate::audit::{append, Change};
use crate::{Conn, Kind, Result, Row, Store, StoreError, Value};
use inclusive::ledger::{self, EntryKind};
use inclusive::rules::{self, status, Claim, EventIn, Reason, Source, Trust, Usage};
use inclusive::Library;
use serde::Serialize;
use serde_json::{json, Value as Json};
use std::collections::HashMap;

/// What a machine credential's app reports for.
pub const EMPLOYEE: &str = "employee";
pub const CUSTOMER: &str = "customer";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub org_code: String,
    pub name: String,
    /// `employee` or `customer`: whose events the app sends.
    pub audience: String,
    pub trust: String,
    pub delay_days: i64,
    pub created_by: String,
    pub created_at: String,
    pub revoked: bool,
}

impl Client {
    pub fn source(&self) -> Source {
        Source { trust: Trust::parse(&self.trust).unwrap_or(Trust::SelfReported), delay_days: self.delay_days }
    }
}

const CLIENT_COLS: &str =
    "client_id, org_code, name, audience, trust, delay_days, created_by, created_at, revoked_at, secret_hash";

fn client(r: &Row) -> Client {
    Client {
        client_id: r.text(0),
        org_code: r.text(1),
        name: r.text(2),
        audience: r.text(3),
        trust: r.text(4),
        delay_days: r.int(5),
        created_by: r.text(6),
        created_at: r.text(7),
        revoked: r.opt_text(8).is_some(),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub org_code: String,
    /// `employee` or `customer`.
    pub kind: String,
    /// An employee's username; a customer's hashed pseudonym; none once erased.
    pub subject: Option<String>,
    /// Shown on leaderboards only when `opt_in`.
    pub display_name: Option<String>,
    pub opt_in: bool,
    pub created_at: String,
    pub erased: bool,
}

const ACCOUNT_COLS: &str = "a.id, a.org_code, a.kind, a.subject, a.display_name, a.opt_in, a.created_at, a.erased_at";

fn account(r: &Row) -> Account {
    Account {
        id: r.int(0),
        org_code: r.text(1),
        kind: r.text(2),
        subject: r.opt_text(3),
        display_name: r.opt_text(4),
        opt_in: r.int(5) != 0,
        created_at: r.text(6),
        erased: r.opt_text(7).is_some(),
    }
}

/// The subject of a customer's account: a hash of the app's org and the pseudonymous id, so the
/// id the app uses is not stored either.
pub fn customer_subject(org_code: &str, pseudonym: &str) -> String {
    crate::sha256_hex(format!("inclusive-customer\n{org_code}\n{pseudonym}").as_bytes())
}

#[derive(Debug, Clone, Serialize)]
pub struct CreditRow {
    pub id: i64,
    pub account_id: i64,
    pub org_code: String,
    pub action: String,
    pub mode: String,
    pub occurred_at: String,
    pub month: String,
    pub grams: i64,
    pub points: i64,
    pub methodology: String,
    pub methodology_version: i64,
    pub status: String,
    pub claim: String,
    pub claim_ref: String,
    pub available_at: String,
    pub expires_at: String,
    pub risk: i64,
    pub explanation: Json,
    pub decided_by: Option<String>,
}

const CREDIT_COLS: &str = "c.id, c.account_id, c.org_code, c.action, c.mode, c.occurred_at, c.month, c.grams, c.points, \
    c.methodology, c.methodology_version, c.status, c.claim, c.claim_ref, c.available_at, c.expires_at, c.risk, c.explanation, c.decided_by";

fn credit_row(r: &Row) -> CreditRow {
    CreditRow {
        id: r.int(0),
        account_id: r.int(1),
        org_code: r.text(2),
        action: r.text(3),
        mode: r.text(4),
        occurred_at: inclusive::time::format(r.int(5)),
        month: r.text(6),
        grams: r.int(7),
        points: r.int(8),
        methodology: r.text(9),
        methodology_version: r.int(10),
        status: r.text(11),
        claim: r.text(12),
        claim_ref: r.text(13),
        available_at: inclusive::time::format(r.int(14)),
        expires_at: inclusive::time::format(r.int(15)),
        risk: r.int(16),
        explanation: serde_json::from_str(&r.text(17)).unwrap_or(Json::Null),
        decided_by: r.opt_text(18),
    }
}

/// The answer for one event of a batch.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verdict {
    pub index: usize,
    /// The event's id as sent (empty when it had none).
    pub id: String,
    /// `accepted`, `pending` (waits for review) or `rejected`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grams: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_at: Option<String>,
    /// The same event id was answered before: this is that answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

pub const ACCEPTED: &str = "accepted";
pub const PENDING: &str = "pending";
pub const REJECTED: &str = "rejected";

fn rejected(index: usize, id: &str, r: Reason) -> Verdict {
    Verdict {
        index,
        id: id.to_string(),
        status: REJECTED,
        reason: Some(r.code.to_string()),
        message: Some(r.message),
        credit_id: None,
        grams: None,
        points: None,
        available_at: None,
        replay: false,
    }
}

/// One event of a batch as the server read it: parsed, or refused already (not JSON of an event,
/// beyond the batch's size) with the id it carried.
pub enum Incoming {
    Event(EventIn),
    /// Refused before the rules; `keep` says whether it is stored (an oversized batch's tail is not:
    /// it was not examined, and may be sent again).
    Refused {
        id: String,
        reason: Reason,
        keep: bool,
    },
}

/// Counts of a batch.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct BatchCounts {
    pub accepted: usize,
    pub pending: usize,
    pub rejected: usize,
}

/// The order of a redemption.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub request_id: String,
    pub account_id: i64,
    pub item_id: i64,
    pub item: String,
    pub points: i64,
    /// `reserved`, `confirmed` or `voided`.
    pub status: String,
    pub created_at: String,
    pub decided_at: Option<String>,
}

const ORDER_COLS: &str =
    "o.id, o.request_id, o.account_id, o.item_id, i.name, o.points, o.status, o.created_at, o.decided_at";

fn order(r: &Row) -> Order {
    Order {
        id: r.int(0),
        request_id: r.text(1),
        account_id: r.int(2),
        item_id: r.int(3),
        item: r.text(4),
        points: r.int(5),
        status: r.text(6),
        created_at: r.text(7),
        decided_at: r.opt_text(8),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub org_code: String,
    pub name: String,
    pub points: i64,
    pub stock: i64,
    pub active: bool,
}

/// A journal entry posted (or found by its request id).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Posted {
    pub entry_id: i64,
    pub kind: &'static str,
    pub account_id: i64,
    pub amount: i64,
    /// False when the request id was posted before (nothing changed now).
    pub new: bool,
}

/// A user's methodology version as stored: (id, version, TOML, added by, added at).
pub type StoredMethodology = (String, i64, String, String, String);

/// Refusals of the points journal and of orders, as store errors with a code in front.
pub fn insufficient() -> StoreError {
    StoreError::Conflict("insufficient_points: not enough points".into())
}

fn in_subtree(c: &mut dyn Conn, org_code: &str, path: &str) -> Result<bool> {
    let rows = c.query("SELECT path FROM orgs WHERE code = $1", &[org_code.into()])?;
    Ok(rows.first().is_some_and(|r| r.text(0).starts_with(path)))
}

/// Posts one journal entry inside the caller's transaction: the request id is looked up first (the
/// same entry again is not posted twice; another entry under it is a conflict), then each posting
/// that lowers a non-negative holder is a conditional update that fails when the points are not there.
pub fn post(
    c: &mut dyn Conn,
    request_id: &str,
    kind: EntryKind,
    account: i64,
    amount: i64,
    reference: &str,
    actor: &str,
) -> Result<Posted> {
    if amount <= 0 {
        return Err(StoreError::Invalid("an entry moves a positive whole number of points".into()));
    }
    let prev = c.query(
        "SELECT id, kind, account_id, amount FROM inclusive_journal WHERE request_id = $1",
        &[request_id.into()],
    )?;
    if let Some(r) = prev.first() {
        if r.text(1) == kind.code() && r.int(2) == account && r.int(3) == amount {
            return Ok(Posted { entry_id: r.int(0), kind: kind.code(), account_id: account, amount, new: false });
        }
        return Err(StoreError::Conflict(format!(
            "request_reused: request id {request_id:?} was used for another entry"
        )));
    }
    let id = c.query(
        "INSERT INTO inclusive_journal (request_id, kind, account_id, amount, ref, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[request_id.into(), kind.code().into(), account.into(), amount.into(), reference.into(), actor.into(), crate::now().into()],
    )?[0]
        .int(0);
    for (holder, delta) in ledger::postings(kind, account, amount) {
        if delta < 0 && ledger::stays_non_negative(&holder) {
            let n = c.exec(
                "UPDATE inclusive_balances SET balance = balance - $1 WHERE holder = $2 AND balance >= $1",
                &[(-delta).into(), holder.as_str().into()],
            )?;
            if n == 0 {
                return Err(insufficient());
            }
        } else {
            c.exec(
                "INSERT INTO inclusive_balances (holder, balance) VALUES ($1, $2) \
                 ON CONFLICT (holder) DO UPDATE SET balance = inclusive_balances.balance + excluded.balance",
                &[holder.as_str().into(), delta.into()],
            )?;
        }
        c.exec(
            "INSERT INTO inclusive_postings (entry_id, holder, amount) VALUES ($1, $2, $3)",
            &[id.into(), holder.into(), delta.into()],
        )?;
    }
    Ok(Posted { entry_id: id, kind: kind.code(), account_id: account, amount, new: true })
}

fn balance_of(c: &mut dyn Conn, holder: &str) -> Result<i64> {
    Ok(c.query("SELECT balance FROM inclusive_balances WHERE holder = $1", &[holder.into()])?
        .first()
        .map_or(0, |r| r.int(0)))
}

fn audit(
    c: &mut dyn Conn,
    kind: Kind,
    actor: &str,
    action: &str,
    entity: String,
    org: &str,
    after: Json,
) -> Result<()> {
    append(c, kind, Change { actor, action, entity, org_code: org, before: Json::Null, after })?;
    Ok(())
}

/// The journal's state, for checks: Σ balances, holders below zero that must not be, holders whose
/// balance differs from the sum of their postings.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JournalCheck {
    pub sum: i64,
    pub negative: Vec<String>,
    pub mismatched: Vec<String>,
    pub entries: i64,
}

impl JournalCheck {
    pub fn ok(&self) -> bool {
        self.sum == 0 && self.negative.is_empty() && self.mismatched.is_empty()
    }
}

/// Credits claimed as one internal-market offset.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetClaim {
    /// `market:USER:REQUEST`.
    pub programme: String,
    pub credits: Vec<i64>,
    /// When the claim was audited (RFC 3339); `None` when no audit entry says.
    pub claimed_at: Option<String>,
}

impl Store {
    // ---- machine credentials -------------------------------------------------------------

    /// Creates an app's credential (its secret arrives hashed); audited `inclusive.client_create`.
    #[allow(clippy::too_many_arguments)]
    pub fn inclusive_create_client(
        &self,
        actor: &str,
        client_id: &str,
        secret_hash: &str,
        org_code: &str,
        name: &str,
        audience: &str,
        trust: Trust,
        delay_days: i64,
    ) -> Result<Client> {
        let kind = self.kind();
        self.tx(|c| {
            c.exec(
                "INSERT INTO inclusive_clients (client_id, secret_hash, org_code, name, audience, trust, delay_days, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    client_id.into(),
                    secret_hash.into(),
                    org_code.into(),
                    name.into(),
                    audience.into(),
                    trust.code().into(),
                    delay_days.into(),
                    actor.into(),
                    crate::now().into(),
                ],
            )?;
            audit(
                c,
                kind,
                actor,
                "inclusive.client_create",
                format!("inclusive_client/{client_id}"),
                org_code,
                json!({"name": name, "audience": audience, "trust": trust.code(), "delay_days": delay_days}),
            )
        })?;
        self.inclusive_client(client_id)?
            .map(|x| x.0)
            .ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))
    }

    /// A credential and its secret's hash.
    pub fn inclusive_client(&self, client_id: &str) -> Result<Option<(Client, String)>> {
        let rows = self.read(|c| {
            c.query(&format!("SELECT {CLIENT_COLS} FROM inclusive_clients WHERE client_id = $1"), &[client_id.into()])
        })?;
        Ok(rows.first().map(|r| (client(r), r.text(9))))
    }

    pub fn inclusive_clients_within(&self, path: &str) -> Result<Vec<Client>> {
        let cols = CLIENT_COLS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ");
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {cols} FROM inclusive_clients k JOIN orgs o ON o.code = k.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY k.created_at"),
                    &[crate::like_prefix(path).into()],
                )
            })?
            .iter()
            .map(client)
            .collect())
    }

    /// Revokes a credential (its requests are refused from now on); audited.
    pub fn inclusive_revoke_client(&self, actor: &str, client_id: &str) -> Result<()> {
        let kind = self.kind();
        self.tx(|c| {
            let rows = c.query("SELECT org_code FROM inclusive_clients WHERE client_id = $1", &[client_id.into()])?;
            let org = rows.first().ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?.text(0);
            c.exec(
                "UPDATE inclusive_clients SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
                &[crate::now().into(), client_id.into()],
            )?;
            audit(
                c,
                kind,
                actor,
                "inclusive.client_revoke",
                format!("inclusive_client/{client_id}"),
                &org,
                json!({"revoked": true}),
            )
        })
    }

    // ---- methodologies -----------------------------------------------------------------------

    /// Stores a user's methodology version (checked by the caller); audited with its hash.
    pub fn inclusive_add_methodology(&self, actor: &str, org: &str, id: &str, version: i64, body: &str) -> Result<()> {
        let kind = self.kind();
        self.tx(|c| {
            if !c.query("SELECT id FROM inclusive_methodologies WHERE id = $1 AND version = $2", &[id.into(), version.into()])?.is_empty() {
                return Err(StoreError::Conflict(format!("methodology {id} version {version} exists already: a change is a new version")));
            }
            c.exec(
                "INSERT INTO inclusive_methodologies (id, version, body, added_by, added_at) VALUES ($1, $2, $3, $4, $5)",
                &[id.into(), version.into(), body.into(), actor.into(), crate::now().into()],
            )?;
            audit(
                c,
                kind,
                actor,
                "inclusive.methodology_add",
                format!("inclusive_methodology/{id}/{version}"),
                org,
                json!({"id": id, "version": version, "sha256": crate::sha256_hex(body.as_bytes())}),
            )
        })
    }

    /// Users' methodology versions: (id, version, body, added_by, added_at).
    pub fn inclusive_methodologies(&self) -> Result<Vec<StoredMethodology>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT id, version, body, added_by, added_at FROM inclusive_methodologies ORDER BY id, version",
                    &[],
                )
            })?
            .iter()
            .map(|r| (r.text(0), r.int(1), r.text(2), r.text(3), r.text(4)))
            .collect())
    }

    // ---- accounts ----------------------------------------------------------------------------

    /// Enrols an employee (by username) in an org unit; audited. An enrolled username is a conflict.
    pub fn inclusive_enrol(
        &self,
        actor: &str,
        username: &str,
        org_code: &str,
        display_name: Option<&str>,
        opt_in: bool,
    ) -> Result<Account> {
        let kind = self.kind();
        let id = self.tx(|c| {
            if !c.query("SELECT id FROM inclusive_accounts WHERE kind = $1 AND subject = $2", &[EMPLOYEE.into(), username.into()])?.is_empty() {
                return Err(StoreError::Conflict(format!("account_exists: {username:?} has an account already")));
            }
            let id = c.query(
                "INSERT INTO inclusive_accounts (org_code, kind, subject, display_name, opt_in, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[org_code.into(), EMPLOYEE.into(), username.into(), display_name.into(), i64::from(opt_in).into(), crate::now().into()],
            )?[0]
                .int(0);
            audit(c, kind, actor, "inclusive.account_enrol", format!("inclusive_account/{id}"), org_code, json!({"kind": EMPLOYEE, "org_code": org_code, "opt_in": opt_in}))?;
            Ok(id)
        })?;
        self.inclusive_account(id)?.ok_or_else(|| StoreError::NotFound(format!("account {id}")))
    }

    pub fn inclusive_account(&self, id: i64) -> Result<Option<Account>> {
        Ok(self
            .read(|c| {
                c.query(&format!("SELECT {ACCOUNT_COLS} FROM inclusive_accounts a WHERE a.id = $1"), &[id.into()])
            })?
            .first()
            .map(account))
    }

    pub fn inclusive_account_of(&self, kind: &str, subject: &str) -> Result<Option<Account>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {ACCOUNT_COLS} FROM inclusive_accounts a WHERE a.kind = $1 AND a.subject = $2"),
                    &[kind.into(), subject.into()],
                )
            })?
            .first()
            .map(account))
    }

    pub fn inclusive_accounts_within(&self, path: &str, limit: i64) -> Result<Vec<Account>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {ACCOUNT_COLS} FROM inclusive_accounts a JOIN orgs o ON o.code = a.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY a.id LIMIT $2"),
                    &[crate::like_prefix(path).into(), limit.into()],
                )
            })?
            .iter()
            .map(account)
            .collect())
    }

    /// Whether a person's name appears on leaderboards; audited.
    pub fn inclusive_set_opt_in(
        &self,
        actor: &str,
        id: i64,
        opt_in: bool,
        display_name: Option<&str>,
    ) -> Result<Account> {
        let kind = self.kind();
        self.tx(|c| {
            let a =
                c.query(&format!("SELECT {ACCOUNT_COLS} FROM inclusive_accounts a WHERE a.id = $1"), &[id.into()])?;
            let a = a.first().map(account).ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
            if a.erased {
                return Err(StoreError::Conflict("account_erased: the account was erased".into()));
            }
            c.exec(
                "UPDATE inclusive_accounts SET opt_in = $1, display_name = $2 WHERE id = $3",
                &[i64::from(opt_in).into(), display_name.into(), id.into()],
            )?;
            audit(
                c,
                kind,
                actor,
                "inclusive.opt_in",
                format!("inclusive_account/{id}"),
                &a.org_code,
                json!({"opt_in": opt_in, "named": display_name.is_some()}),
            )
        })?;
        self.inclusive_account(id)?.ok_or_else(|| StoreError::NotFound(format!("account {id}")))
    }

    // ---- events --------------------------------------------------------------------------

    /// Records a batch of an app's events in one transaction: each through the rules, each kept
    /// with its verdict (accepted, pending review, rejected with its reason); one audit entry for
    /// the batch. A bad event never blocks the others.
    pub fn inclusive_record_events(
        &self,
        client: &Client,
        org_path: &str,
        lib: &Library,
        events: Vec<Incoming>,
        now: i64,
    ) -> Result<(Vec<Verdict>, BatchCounts)> {
        let kind = self.kind();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = self.tx(|c| {
            if kind == Kind::Postgres {
                // The batch-wide lookups take lists of keys: planned for their values each time
                // (a generic plan made while the tables were small scanned them whole later).
                c.batch("SET LOCAL plan_cache_mode = force_custom_plan")?;
            }
            let out = record_batch(c, client, org_path, lib, &events, now)?;
            let mut counts = BatchCounts::default();
            for v in &out {
                match v.status {
                    ACCEPTED => counts.accepted += 1,
                    PENDING => counts.pending += 1,
                    _ => counts.rejected += 1,
                }
            }
            audit(
                c,
                kind,
                &format!("client:{}", client.client_id),
                "inclusive.events",
                format!("inclusive_client/{}", client.client_id),
                &client.org_code,
                json!({"events": out.len(), "accepted": counts.accepted, "pending": counts.pending, "rejected": counts.rejected}),
            )?;
            Ok((out, counts))
            });
            match r {
                Err(StoreError::Conflict(m)) if m == DEDUP_RACE && attempt < 5 => continue,
                r => return r,
            }
        }
    }

    /// Kept events within an org subtree, newest first (`status`: accepted, pending, rejected).
    pub fn inclusive_events(&self, path: &str, status: Option<&str>, limit: i64) -> Result<Vec<Json>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT e.id, e.client_id, e.event_id, e.account_id, e.action, e.mode, e.status, e.reason, e.message, e.credit_id, e.received_at, e.org_code \
                 FROM inclusive_events e JOIN orgs o ON o.code = e.org_code \
                 WHERE o.path LIKE $1 ESCAPE '\\' AND ($2 = '' OR e.status = $2) ORDER BY e.id DESC LIMIT $3",
                &[crate::like_prefix(path).into(), status.unwrap_or("").into(), limit.into()],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                json!({"id": r.int(0), "client_id": r.text(1), "event_id": r.opt_text(2), "account_id": r.opt_int(3),
                       "action": r.text(4), "mode": r.text(5), "status": r.text(6), "reason": r.text(7), "message": r.text(8),
                       "credit_id": r.opt_int(9), "received_at": inclusive::time::format(r.int(10)), "org_code": r.text(11)})
            })
            .collect())
    }

    // ---- credits, review, claims --------------------------------------------------------------

    pub fn inclusive_credit(&self, id: i64) -> Result<Option<CreditRow>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {CREDIT_COLS} FROM inclusive_credits c WHERE c.id = $1"), &[id.into()]))?
            .first()
            .map(credit_row))
    }

    /// A person's credits, newest first.
    pub fn inclusive_credits_of(&self, account: i64, limit: i64) -> Result<Vec<CreditRow>> {
        Ok(self
            .read(|c| {
                c.query(&format!("SELECT {CREDIT_COLS} FROM inclusive_credits c WHERE c.account_id = $1 ORDER BY c.id DESC LIMIT $2"), &[account.into(), limit.into()])
            })?
            .iter()
            .map(credit_row)
            .collect())
    }

    /// Credits waiting for review within an org subtree, oldest first.
    pub fn inclusive_review_queue(&self, path: &str, limit: i64) -> Result<Vec<CreditRow>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {CREDIT_COLS} FROM inclusive_credits c JOIN orgs o ON o.code = c.org_code WHERE c.status = $1 AND o.path LIKE $2 ESCAPE '\\' ORDER BY c.id LIMIT $3"),
                    &[status::REVIEW.into(), crate::like_prefix(path).into(), limit.into()],
                )
            })?
            .iter()
            .map(credit_row)
            .collect())
    }

    /// A reviewer's decision on a held credit (approve: claimable; reject: rejected, its usage
    /// stays counted); only a credit in review, within `path`; audited.
    pub fn inclusive_decide(&self, actor: &str, path: &str, id: i64, approve: bool, note: &str) -> Result<CreditRow> {
        let kind = self.kind();
        self.tx(|c| {
            let row =
                c.query(&format!("SELECT {CREDIT_COLS} FROM inclusive_credits c WHERE c.id = $1"), &[id.into()])?;
            let cr = row.first().map(credit_row).ok_or_else(|| StoreError::NotFound(format!("credit {id}")))?;
            if !in_subtree(c, &cr.org_code, path)? {
                return Err(StoreError::NotFound(format!("credit {id}")));
            }
            let to = if approve { status::CLAIMABLE } else { status::REJECTED };
            let n = c.exec(
                "UPDATE inclusive_credits SET status = $1, decided_by = $2 WHERE id = $3 AND status = $4",
                &[to.into(), actor.into(), id.into(), status::REVIEW.into()],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("not_in_review: credit {id} is {}", cr.status)));
            }
            c.exec(
                "UPDATE inclusive_events SET status = $1, reason = $2 WHERE credit_id = $3",
                &[
                    (if approve { ACCEPTED } else { REJECTED }).into(),
                    (if approve { "review_approved" } else { "review_rejected" }).into(),
                    id.into(),
                ],
            )?;
            audit(
                c,
                kind,
                actor,
                "inclusive.review",
                format!("inclusive_credit/{id}"),
                &cr.org_code,
                json!({"decision": to, "note": note}),
            )
        })?;
        self.inclusive_credit(id)?.ok_or_else(|| StoreError::NotFound(format!("credit {id}")))
    }

    /// Marks claimable credits whose window has passed as expired; how many.
    pub fn inclusive_expire(&self, now: i64) -> Result<u64> {
        self.tx(|c| {
            c.exec(
                "UPDATE inclusive_credits SET status = $1 WHERE status = $2 AND claim = 'none' AND expires_at <= $3",
                &[status::EXPIRED.into(), status::CLAIMABLE.into(), now.into()],
            )
        })
    }

    /// Expires points issued before `cutoff` (a time as the journal writes it) that are still in
    /// their account, first in, first out ([`ledger::points_expiring`]), for every account within
    /// `path`: one `expire` entry per account with request id `age:ACCOUNT:CUTOFF` (running it
    /// again expires nothing more). Returns the accounts touched and the points expired; audited.
    pub fn inclusive_expire_points(&self, actor: &str, path: &str, org: &str, cutoff: &str) -> Result<(i64, i64)> {
        let kind = self.kind();
        self.tx(|c| {
            let rows = c.query(
                "SELECT j.account_id, CAST(SUM(CASE WHEN j.at < $2 THEN j.amount ELSE 0 END) AS BIGINT), CAST(SUM(j.amount) AS BIGINT) \
                 FROM inclusive_journal j JOIN inclusive_accounts a ON a.id = j.account_id JOIN orgs o ON o.code = a.org_code \
                 WHERE j.kind = 'issue' AND o.path LIKE $1 ESCAPE '\\' GROUP BY j.account_id ORDER BY j.account_id",
                &[crate::like_prefix(path).into(), cutoff.into()],
            )?;
            let (mut accounts, mut points) = (0i64, 0i64);
            for r in &rows {
                let account = r.int(0);
                let available = balance_of(c, &ledger::available(account))?;
                let n = ledger::points_expiring(r.int(1), r.int(2), available);
                if n > 0 {
                    post(c, &format!("age:{account}:{cutoff}"), EntryKind::Expire, account, n, &format!("age/{cutoff}"), actor)?;
                    accounts += 1;
                    points += n;
                }
            }
            if points > 0 {
                audit(c, kind, actor, "inclusive.expire_points", format!("inclusive_points/{cutoff}"), org, json!({"cutoff": cutoff, "accounts": accounts, "points": points}))?;
            }
            Ok((accounts, points))
        })
    }

    /// Claims every claimable credit of a person that is available and not expired as points: each
    /// credit's points are one `issue` entry with request id `credit:ID` (a second claim of the same
    /// credit posts nothing). Returns the credits claimed and the points issued; audited.
    pub fn inclusive_claim_points(&self, actor: &str, account: i64, now: i64) -> Result<(Vec<i64>, i64)> {
        let kind = self.kind();
        self.tx(|c| {
            let a = c.query("SELECT org_code, erased_at FROM inclusive_accounts WHERE id = $1", &[account.into()])?;
            let a = a.first().ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
            if a.opt_text(1).is_some() {
                return Err(StoreError::Conflict("account_erased: the account was erased".into()));
            }
            let org = a.text(0);
            let rows = c.query(
                "SELECT id, points FROM inclusive_credits WHERE account_id = $1 AND status = $2 AND claim = 'none' AND available_at <= $3 AND expires_at > $3 ORDER BY id",
                &[account.into(), status::CLAIMABLE.into(), now.into()],
            )?;
            let (mut ids, mut total) = (Vec::new(), 0);
            for r in rows {
                let (id, points) = (r.int(0), r.int(1));
                let n = c.exec(
                    "UPDATE inclusive_credits SET status = $1, claim = 'points', claim_ref = $2 WHERE id = $3 AND status = $4 AND claim = 'none'",
                    &[status::CLAIMED.into(), format!("credit:{id}").into(), id.into(), status::CLAIMABLE.into()],
                )?;
                if n == 1 {
                    post(c, &format!("credit:{id}"), EntryKind::Issue, account, points, &format!("credit/{id}"), actor)?;
                    ids.push(id);
                    total += points;
                }
            }
            if !ids.is_empty() {
                audit(c, kind, actor, "inclusive.claim", format!("inclusive_account/{account}"), &org, json!({"credits": ids, "points": total}))?;
            }
            Ok((ids, total))
        })
    }

    /// Claims a reduction as an offset elsewhere (the internal market, an external programme):
    /// refused when it is claimed already (as points or an offset); audited.
    pub fn inclusive_claim_offset(
        &self,
        actor: &str,
        path: &str,
        id: i64,
        programme: &str,
        now: i64,
    ) -> Result<CreditRow> {
        let kind = self.kind();
        self.tx(|c| {
            let row = c.query(&format!("SELECT {CREDIT_COLS} FROM inclusive_credits c WHERE c.id = $1"), &[id.into()])?;
            let r = row.first().ok_or_else(|| StoreError::NotFound(format!("credit {id}")))?;
            let cr = credit_row(r);
            if !in_subtree(c, &cr.org_code, path)? {
                return Err(StoreError::NotFound(format!("credit {id}")));
            }
            let claim = Claim::parse(&cr.claim).unwrap_or(Claim::None);
            rules::may_claim(&cr.status, claim, r.int(14), r.int(15), Claim::Offset, now)
                .map_err(|e| StoreError::Conflict(format!("{}: {}", e.code, e.message)))?;
            let n = c.exec(
                "UPDATE inclusive_credits SET status = $1, claim = 'offset', claim_ref = $2 WHERE id = $3 AND claim = 'none'",
                &[status::CLAIMED.into(), programme.into(), id.into()],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict("already_claimed: the reduction is claimed already".into()));
            }
            audit(c, kind, actor, "inclusive.offset", format!("inclusive_credit/{id}"), &cr.org_code, json!({"programme": programme, "grams": cr.grams}))
        })?;
        self.inclusive_credit(id)?.ok_or_else(|| StoreError::NotFound(format!("credit {id}")))
    }

    /// Claims credits as one offset of the internal market (`programme` = `market:REQUEST`): all of
    /// them or none, in one transaction. Each must be within `path`, of the year `vintage`, and
    /// claimable as an offset (not claimed as points or elsewhere: `already_claimed`); together
    /// they must make `kg` (⌊Σ grams ⁄ 1000⌋, else `Invalid` naming the figure). Credits already
    /// claimed by this same programme count as claimed (a repeated request). Answers the credits
    /// and whether every one was claimed before (a replay). Audited `inclusive.offset`.
    #[allow(clippy::too_many_arguments)]
    pub fn inclusive_claim_market_offset(
        &self,
        actor: &str,
        path: &str,
        ids: &[i64],
        programme: &str,
        vintage: i32,
        kg: i64,
        now: i64,
    ) -> Result<(Vec<CreditRow>, bool)> {
        let kind = self.kind();
        self.tx(|c| {
            let mut rows = Vec::with_capacity(ids.len());
            let mut ours = 0;
            let mut grams = 0i64;
            let mut seen = std::collections::HashSet::new();
            for &id in ids {
                if !seen.insert(id) {
                    return Err(StoreError::Invalid(format!("credit {id} is listed twice")));
                }
                let row =
                    c.query(&format!("SELECT {CREDIT_COLS} FROM inclusive_credits c WHERE c.id = $1"), &[id.into()])?;
                let r = row.first().ok_or_else(|| StoreError::NotFound(format!("credit {id}")))?;
                let cr = credit_row(r);
                if !in_subtree(c, &cr.org_code, path)? {
                    return Err(StoreError::NotFound(format!("credit {id}")));
                }
                if cr.month.get(..4) != Some(vintage.to_string().as_str()) {
                    return Err(StoreError::Invalid(format!(
                        "credit {id} is a reduction of {}, not of the vintage {vintage}",
                        cr.month
                    )));
                }
                grams += cr.grams;
                if cr.claim == Claim::Offset.code() && cr.claim_ref == programme {
                    ours += 1;
                } else {
                    let claim = Claim::parse(&cr.claim).unwrap_or(Claim::None);
                    rules::may_claim(&cr.status, claim, r.int(14), r.int(15), Claim::Offset, now)
                        .map_err(|e| StoreError::Conflict(format!("{}: credit {id}: {}", e.code, e.message)))?;
                    let n = c.exec(
                        "UPDATE inclusive_credits SET status = $1, claim = 'offset', claim_ref = $2 WHERE id = $3 AND claim = 'none'",
                        &[status::CLAIMED.into(), programme.into(), id.into()],
                    )?;
                    if n == 0 {
                        return Err(StoreError::Conflict(format!("already_claimed: credit {id} is claimed already")));
                    }
                }
                rows.push(cr);
            }
            if grams / 1000 != kg {
                return Err(StoreError::Invalid(format!(
                    "the credits make {grams} g = {} kg (rounded down), not {kg} kg",
                    grams / 1000
                )));
            }
            let replay = ours == ids.len();
            if !replay {
                audit(
                    c,
                    kind,
                    actor,
                    "inclusive.offset",
                    format!("inclusive_offset/{programme}"),
                    &rows.first().map(|r| r.org_code.clone()).unwrap_or_default(),
                    json!({"programme": programme, "credits": ids, "grams": grams, "kg": kg}),
                )?;
            }
            Ok((rows, replay))
        })
    }

    /// The credits claimed as internal-market offsets, by programme (`market:REQUEST`), programmes
    /// in order.
    pub fn inclusive_market_offset_claims(&self) -> Result<Vec<OffsetClaim>> {
        self.read(|c| {
            let rows = c.query(
                "SELECT claim_ref, id FROM inclusive_credits WHERE claim = 'offset' AND claim_ref LIKE 'market:%' \
                 ORDER BY claim_ref, id",
                &[],
            )?;
            let mut out: Vec<OffsetClaim> = Vec::new();
            for r in &rows {
                let programme = r.text(0);
                match out.last_mut() {
                    Some(last) if last.programme == programme => last.credits.push(r.int(1)),
                    _ => out.push(OffsetClaim { programme, credits: vec![r.int(1)], claimed_at: None }),
                }
            }
            for OffsetClaim { programme, claimed_at: at, .. } in &mut out {
                *at = c
                    .query(
                        "SELECT at FROM audit WHERE entity = $1 AND action = 'inclusive.offset' ORDER BY seq DESC LIMIT 1",
                        &[format!("inclusive_offset/{programme}").into()],
                    )?
                    .first()
                    .map(|r| r.text(0));
            }
            Ok(out)
        })
    }

    /// Gives back the credits `ids` that `programme` claimed as an offset (the market refused the
    /// offset after they were claimed): claimable again. Audited `inclusive.offset_release`.
    pub fn inclusive_release_market_offset(&self, actor: &str, ids: &[i64], programme: &str, now: i64) -> Result<u64> {
        let kind = self.kind();
        self.tx(|c| {
            let mut n = 0;
            let mut org = String::new();
            for &id in ids {
                let row = c.query("SELECT org_code FROM inclusive_credits WHERE id = $1", &[id.into()])?;
                if let Some(r) = row.first() {
                    org = r.text(0);
                }
                n += c.exec(
                    "UPDATE inclusive_credits SET status = CASE WHEN expires_at <= $4 THEN $5 ELSE $1 END, claim = 'none', claim_ref = '' \
                     WHERE id = $2 AND claim = 'offset' AND claim_ref = $3",
                    &[status::CLAIMABLE.into(), id.into(), programme.into(), now.into(), status::EXPIRED.into()],
                )?;
            }
            if n > 0 {
                audit(
                    c,
                    kind,
                    actor,
                    "inclusive.offset_release",
                    format!("inclusive_offset/{programme}"),
                    &org,
                    json!({"programme": programme, "credits": ids, "released": n}),
                )?;
            }
            Ok(n)
        })
    }

    /// Reverses a claimed credit's points (found fraudulent afterwards): a `reverse` entry of its
    /// points, refused when the person has spent them; the credit becomes rejected; audited.
    pub fn inclusive_reverse(&self, actor: &str, path: &str, id: i64, note: &str) -> Result<Posted> {
        let kind = self.kind();
        self.tx(|c| {
            let row =
                c.query(&format!("SELECT {CREDIT_COLS} FROM inclusive_credits c WHERE c.id = $1"), &[id.into()])?;
            let cr = row.first().map(credit_row).ok_or_else(|| StoreError::NotFound(format!("credit {id}")))?;
            if !in_subtree(c, &cr.org_code, path)? {
                return Err(StoreError::NotFound(format!("credit {id}")));
            }
            if cr.claim != "points" {
                return Err(StoreError::Conflict(format!("not_claimed: credit {id} has no points to reverse")));
            }
            let p = post(
                c,
                &format!("reverse:{id}"),
                EntryKind::Reverse,
                cr.account_id,
                cr.points,
                &format!("credit/{id}"),
                actor,
            )?;
            c.exec(
                "UPDATE inclusive_credits SET status = $1, decided_by = $2 WHERE id = $3",
                &[status::REJECTED.into(), actor.into(), id.into()],
            )?;
            audit(
                c,
                kind,
                actor,
                "inclusive.reverse",
                format!("inclusive_credit/{id}"),
                &cr.org_code,
                json!({"points": cr.points, "note": note}),
            )?;
            Ok(p)
        })
    }

    // ---- points, catalogue, orders -----------------------------------------------------------

    /// A person's (available, reserved) points.
    pub fn inclusive_balance(&self, account: i64) -> Result<(i64, i64)> {
        self.read(|c| Ok((balance_of(c, &ledger::available(account))?, balance_of(c, &ledger::held(account))?)))
    }

    /// Posts one entry in its own transaction (administrators' expire; tests).
    pub fn inclusive_post(
        &self,
        request_id: &str,
        kind: EntryKind,
        account: i64,
        amount: i64,
        actor: &str,
    ) -> Result<Posted> {
        self.tx(|c| post(c, request_id, kind, account, amount, "", actor))
    }

    /// The person's journal entries, newest first.
    pub fn inclusive_entries_of(&self, account: i64, limit: i64) -> Result<Vec<Json>> {
        let rows = self.read(|c| {
            c.query("SELECT id, request_id, kind, amount, ref, at FROM inclusive_journal WHERE account_id = $1 ORDER BY id DESC LIMIT $2", &[account.into(), limit.into()])
        })?;
        Ok(rows.iter().map(|r| json!({"id": r.int(0), "request_id": r.text(1), "kind": r.text(2), "amount": r.int(3), "ref": r.text(4), "at": r.text(5)})).collect())
    }

    pub fn inclusive_add_item(&self, actor: &str, org_code: &str, name: &str, points: i64, stock: i64) -> Result<Item> {
        let kind = self.kind();
        let id = self.tx(|c| {
            let id = c.query(
                "INSERT INTO inclusive_catalogue (org_code, name, points, stock, active, created_at) VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
                &[org_code.into(), name.into(), points.into(), stock.into(), crate::now().into()],
            )?[0]
                .int(0);
            audit(c, kind, actor, "inclusive.item_add", format!("inclusive_item/{id}"), org_code, json!({"name": name, "points": points, "stock": stock}))?;
            Ok(id)
        })?;
        Ok(Item { id, org_code: org_code.into(), name: name.into(), points, stock, active: true })
    }

    /// Items offered to a person of `org_path`: the items of the org and of every org above it.
    pub fn inclusive_items_for(&self, org_path: &str) -> Result<Vec<Item>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT i.id, i.org_code, i.name, i.points, i.stock, i.active, o.path FROM inclusive_catalogue i JOIN orgs o ON o.code = i.org_code ORDER BY i.points, i.id",
                &[],
            )
        })?;
        Ok(rows
            .iter()
            .filter(|r| org_path.starts_with(&r.text(6)) || r.text(6).starts_with(org_path))
            .map(|r| Item {
                id: r.int(0),
                org_code: r.text(1),
                name: r.text(2),
                points: r.int(3),
                stock: r.int(4),
                active: r.int(5) != 0,
            })
            .collect())
    }

    /// Reserves points for an item: the order (idempotent by its request id), one unit of stock
    /// and a `reserve` entry, in one transaction; refused when the points or the stock are not there.
    pub fn inclusive_redeem(&self, actor: &str, account: i64, item_id: i64, request_id: &str) -> Result<(Order, bool)> {
        let kind = self.kind();
        let (id, new) = self.tx(|c| {
            let prev = c.query("SELECT id, account_id, item_id FROM inclusive_orders WHERE request_id = $1", &[request_id.into()])?;
            if let Some(r) = prev.first() {
                if r.int(1) == account && r.int(2) == item_id {
                    return Ok((r.int(0), false));
                }
                return Err(StoreError::Conflict(format!("request_reused: request id {request_id:?} was used for another order")));
            }
            let a = c.query("SELECT org_code, erased_at FROM inclusive_accounts WHERE id = $1", &[account.into()])?;
            let a = a.first().ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
            if a.opt_text(1).is_some() {
                return Err(StoreError::Conflict("account_erased: the account was erased".into()));
            }
            let org = a.text(0);
            let item = c.query("SELECT points, active, name FROM inclusive_catalogue WHERE id = $1", &[item_id.into()])?;
            let item = item.first().ok_or_else(|| StoreError::NotFound(format!("item {item_id}")))?;
            if item.int(1) == 0 {
                return Err(StoreError::Conflict("item_inactive: the item is no longer offered".into()));
            }
            let points = item.int(0);
            if c.exec("UPDATE inclusive_catalogue SET stock = stock - 1 WHERE id = $1 AND stock >= 1", &[item_id.into()])? == 0 {
                return Err(StoreError::Conflict("out_of_stock: the item is out of stock".into()));
            }
            let id = c.query(
                "INSERT INTO inclusive_orders (request_id, account_id, item_id, points, status, created_at) VALUES ($1, $2, $3, $4, 'reserved', $5) RETURNING id",
                &[request_id.into(), account.into(), item_id.into(), points.into(), crate::now().into()],
            )?[0]
                .int(0);
            post(c, &format!("order:{id}:reserve"), EntryKind::Reserve, account, points, &format!("order/{id}"), actor)?;
            audit(c, kind, actor, "inclusive.redeem", format!("inclusive_order/{id}"), &org, json!({"item": item_id, "points": points}))?;
            Ok((id, true))
        })?;
        Ok((self.inclusive_order(id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?, new))
    }

    pub fn inclusive_order(&self, id: i64) -> Result<Option<Order>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {ORDER_COLS} FROM inclusive_orders o JOIN inclusive_catalogue i ON i.id = o.item_id WHERE o.id = $1"), &[id.into()]))?
            .first()
            .map(order))
    }

    /// Orders of a person (`account`) or of every account within `path`, newest first.
    pub fn inclusive_orders(&self, path: &str, account: Option<i64>, limit: i64) -> Result<Vec<Order>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!(
                        "SELECT {ORDER_COLS} FROM inclusive_orders o JOIN inclusive_catalogue i ON i.id = o.item_id \
                         JOIN inclusive_accounts a ON a.id = o.account_id JOIN orgs g ON g.code = a.org_code \
                         WHERE g.path LIKE $1 ESCAPE '\\' AND ($2 = 0 OR o.account_id = $2) ORDER BY o.id DESC LIMIT $3"
                    ),
                    &[crate::like_prefix(path).into(), account.unwrap_or(0).into(), limit.into()],
                )
            })?
            .iter()
            .map(order)
            .collect())
    }

    /// Confirms (fulfilled: the points are redeemed) or voids (the points return, the stock too)
    /// a reserved order within `path`; only a reserved order moves, once; audited.
    pub fn inclusive_settle(&self, actor: &str, path: &str, id: i64, confirm: bool) -> Result<Order> {
        let kind = self.kind();
        self.tx(|c| {
            let rows = c.query(
                "SELECT o.account_id, o.points, o.item_id, o.status, a.org_code FROM inclusive_orders o JOIN inclusive_accounts a ON a.id = o.account_id WHERE o.id = $1",
                &[id.into()],
            )?;
            let r = rows.first().ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
            let (account, points, item, org) = (r.int(0), r.int(1), r.int(2), r.text(4));
            if !in_subtree(c, &org, path)? {
                return Err(StoreError::NotFound(format!("order {id}")));
            }
            let to = if confirm { "confirmed" } else { "voided" };
            let n = c.exec(
                "UPDATE inclusive_orders SET status = $1, decided_at = $2, decided_by = $3 WHERE id = $4 AND status = 'reserved'",
                &[to.into(), crate::now().into(), actor.into(), id.into()],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("not_reserved: order {id} is {}", r.text(3))));
            }
            let kind_e = if confirm { EntryKind::Confirm } else { EntryKind::Void };
            post(c, &format!("order:{id}:{}", kind_e.code()), kind_e, account, points, &format!("order/{id}"), actor)?;
            if !confirm {
                c.exec("UPDATE inclusive_catalogue SET stock = stock + 1 WHERE id = $1", &[item.into()])?;
            }
            audit(c, kind, actor, "inclusive.order", format!("inclusive_order/{id}"), &org, json!({"status": to, "points": points}))
        })?;
        self.inclusive_order(id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))
    }

    // ---- personal data ---------------------------------------------------------------------

    /// Everything stored about one person: the account, credits with their explanations, journal
    /// entries, orders and the events kept for them.
    pub fn inclusive_export(&self, account: i64) -> Result<Json> {
        let a = self.inclusive_account(account)?.ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
        let credits = self.inclusive_credits_of(account, i64::MAX)?;
        let entries = self.inclusive_entries_of(account, i64::MAX)?;
        let (available, reserved) = self.inclusive_balance(account)?;
        let orders = self.read(|c| {
            c.query(&format!("SELECT {ORDER_COLS} FROM inclusive_orders o JOIN inclusive_catalogue i ON i.id = o.item_id WHERE o.account_id = $1 ORDER BY o.id"), &[account.into()])
        })?;
        let events = self.read(|c| {
            c.query("SELECT client_id, event_id, action, mode, status, reason, received_at FROM inclusive_events WHERE account_id = $1 ORDER BY id", &[account.into()])
        })?;
        Ok(json!({
            "account": a,
            "points": {"available": available, "reserved": reserved},
            "credits": credits,
            "journal": entries,
            "orders": orders.iter().map(order).collect::<Vec<_>>(),
            "events": events.iter().map(|r| json!({"client_id": r.text(0), "event_id": r.opt_text(1), "action": r.text(2), "mode": r.text(3), "status": r.text(4), "reason": r.text(5), "received_at": inclusive::time::format(r.int(6))})).collect::<Vec<_>>(),
        }))
    }

    /// Erases a person: the account loses its subject and name (it stays as an anonymous row, so
    /// the journal, credits and totals still balance), reserved orders are voided, the remaining
    /// points expire, open credits are expired, and the events lose their ids. Audited without
    /// personal data.
    pub fn inclusive_erase(&self, actor: &str, account: i64) -> Result<Json> {
        let kind = self.kind();
        self.tx(|c| {
            let rows = c.query(&format!("SELECT {ACCOUNT_COLS} FROM inclusive_accounts a WHERE a.id = $1"), &[account.into()])?;
            let a = rows.first().map(account_of_row).ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
            if a.erased {
                return Ok(json!({"account": account, "erased": true, "again": true}));
            }
            let open = c.query("SELECT id, points, item_id FROM inclusive_orders WHERE account_id = $1 AND status = 'reserved'", &[account.into()])?;
            for o in &open {
                let id = o.int(0);
                c.exec("UPDATE inclusive_orders SET status = 'voided', decided_at = $1, decided_by = $2 WHERE id = $3", &[crate::now().into(), actor.into(), id.into()])?;
                post(c, &format!("order:{id}:void"), EntryKind::Void, account, o.int(1), &format!("order/{id}"), actor)?;
                c.exec("UPDATE inclusive_catalogue SET stock = stock + 1 WHERE id = $1", &[o.int(2).into()])?;
            }
            let left = balance_of(c, &ledger::available(account))?;
            if left > 0 {
                post(c, &format!("erase:{account}"), EntryKind::Expire, account, left, "erasure", actor)?;
            }
            c.exec(
                "UPDATE inclusive_credits SET status = $1 WHERE account_id = $2 AND status IN ($3, $4)",
                &[status::EXPIRED.into(), account.into(), status::CLAIMABLE.into(), status::REVIEW.into()],
            )?;
            c.exec("UPDATE inclusive_events SET event_id = NULL WHERE account_id = $1", &[account.into()])?;
            c.exec(
                "UPDATE inclusive_accounts SET subject = NULL, display_name = NULL, opt_in = 0, erased_at = $1 WHERE id = $2",
                &[crate::now().into(), account.into()],
            )?;
            audit(c, kind, actor, "inclusive.erase", format!("inclusive_account/{account}"), &a.org_code, json!({"orders_voided": open.len(), "points_expired": left}))?;
            Ok(json!({"account": account, "erased": true, "orders_voided": open.len(), "points_expired": left}))
        })
    }

    // ---- views ---------------------------------------------------------------------------------

    /// Grams and points credited (claimable or claimed) within `path`, by action type and month.
    pub fn inclusive_totals(&self, path: &str, year: Option<i32>) -> Result<Vec<Json>> {
        let month = year.map(|y| format!("{y:04}-%")).unwrap_or_else(|| "%".into());
        let rows = self.read(|c| {
            c.query(
                "SELECT c.action, c.month, CAST(SUM(c.grams) AS BIGINT), CAST(SUM(c.points) AS BIGINT), COUNT(*), CAST(SUM(CASE WHEN c.claim = 'offset' THEN c.grams ELSE 0 END) AS BIGINT) \
                 FROM inclusive_credits c JOIN orgs o ON o.code = c.org_code \
                 WHERE o.path LIKE $1 ESCAPE '\\' AND c.month LIKE $2 AND c.status IN ($3, $4, $5) \
                 GROUP BY c.action, c.month ORDER BY c.month, c.action",
                &[crate::like_prefix(path).into(), month.into(), status::CLAIMABLE.into(), status::CLAIMED.into(), status::EXPIRED.into()],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| json!({"action": r.text(0), "month": r.text(1), "grams": r.int(2), "points": r.int(3), "credits": r.int(4), "offset_grams": r.int(5)}))
            .collect())
    }

    /// Grams credited (claimable, claimed or expired unclaimed: the reductions that happened) per
    /// org and month, for the indicators: (org_code, `YYYY-MM`, grams).
    pub fn inclusive_grams_by_org_month(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT org_code, month, CAST(SUM(grams) AS BIGINT) FROM inclusive_credits WHERE status IN ($1, $2, $3) \
                 GROUP BY org_code, month ORDER BY org_code, month",
                &[status::CLAIMABLE.into(), status::CLAIMED.into(), status::EXPIRED.into()],
            )
        })?;
        Ok(rows.iter().map(|r| (r.text(0), r.text(1), r.int(2))).collect())
    }

    /// Grams credited (claimable, claimed or expired unclaimed) to accounts of the orgs within
    /// `path` in `year`, by action type and month: (action, `YYYY-MM`, credits, grams), sorted.
    pub fn inclusive_by_action_month(&self, path: &str, year: i32) -> Result<Vec<(String, String, i64, i64)>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT c.action, c.month, COUNT(*), CAST(SUM(c.grams) AS BIGINT) FROM inclusive_credits c \
                 JOIN orgs o ON o.code = c.org_code WHERE o.path LIKE $1 ESCAPE '\\' AND c.month LIKE $2 \
                 AND c.status IN ($3, $4, $5) GROUP BY c.action, c.month ORDER BY c.action, c.month",
                &[
                    crate::like_prefix(path).into(),
                    format!("{year:04}-%").into(),
                    status::CLAIMABLE.into(),
                    status::CLAIMED.into(),
                    status::EXPIRED.into(),
                ],
            )
        })?;
        Ok(rows.iter().map(|r| (r.text(0), r.text(1), r.int(2), r.int(3))).collect())
    }

    /// A text that changes whenever the credited grams do (a new credit, a review decision, an erasure).
    pub fn inclusive_fingerprint(&self) -> Result<String> {
        let r = self.read(|c| {
            c.query(
                "SELECT COUNT(*), MAX(id), CAST(COALESCE(SUM(grams), 0) AS BIGINT) FROM inclusive_credits WHERE status IN ($1, $2, $3)",
                &[status::CLAIMABLE.into(), status::CLAIMED.into(), status::EXPIRED.into()],
            )
        })?;
        Ok(format!("{}/{:?}/{}", r[0].int(0), r[0].opt_int(1), r[0].int(2)))
    }

    /// Leaderboard of a month within `path`: persons (names only of those who opted in) or
    /// departments (org units), by grams credited.
    pub fn inclusive_leaderboard(&self, path: &str, month: &str, by_department: bool, limit: i64) -> Result<Vec<Json>> {
        let rows = self.read(|c| {
            if by_department {
                c.query(
                    "SELECT a.org_code, o.name, CAST(SUM(c.grams) AS BIGINT), COUNT(DISTINCT c.account_id) FROM inclusive_credits c \
                     JOIN inclusive_accounts a ON a.id = c.account_id JOIN orgs o ON o.code = a.org_code \
                     WHERE o.path LIKE $1 ESCAPE '\\' AND c.month = $2 AND c.status IN ($3, $4) AND a.kind = 'employee' \
                     GROUP BY a.org_code, o.name ORDER BY SUM(c.grams) DESC, a.org_code LIMIT $5",
                    &[crate::like_prefix(path).into(), month.into(), status::CLAIMABLE.into(), status::CLAIMED.into(), limit.into()],
                )
            } else {
                c.query(
                    "SELECT a.id, a.org_code, a.opt_in, a.display_name, CAST(SUM(c.grams) AS BIGINT) FROM inclusive_credits c \
                     JOIN inclusive_accounts a ON a.id = c.account_id JOIN orgs o ON o.code = a.org_code \
                     WHERE o.path LIKE $1 ESCAPE '\\' AND c.month = $2 AND c.status IN ($3, $4) AND a.kind = 'employee' AND a.erased_at IS NULL \
                     GROUP BY a.id, a.org_code, a.opt_in, a.display_name ORDER BY SUM(c.grams) DESC, a.id LIMIT $5",
                    &[crate::like_prefix(path).into(), month.into(), status::CLAIMABLE.into(), status::CLAIMED.into(), limit.into()],
                )
            }
        })?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if by_department {
                    json!({"rank": i + 1, "org_code": r.text(0), "org_name": r.text(1), "grams": r.int(2), "people": r.int(3)})
                } else {
                    let named = r.int(2) != 0;
                    json!({"rank": i + 1, "account_id": r.int(0), "org_code": r.text(1), "name": if named { r.opt_text(3) } else { None }, "grams": r.int(4)})
                }
            })
            .collect())
    }

    /// The journal's soundness (Σ balances = 0, none below zero that must not be, each balance the
    /// sum of its postings).
    pub fn inclusive_journal_check(&self) -> Result<JournalCheck> {
        self.read(|c| {
            let balances = c.query("SELECT holder, balance FROM inclusive_balances ORDER BY holder", &[])?;
            let sums =
                c.query("SELECT holder, CAST(SUM(amount) AS BIGINT) FROM inclusive_postings GROUP BY holder", &[])?;
            let entries = c.query("SELECT COUNT(*) FROM inclusive_journal", &[])?[0].int(0);
            let posted: HashMap<String, i64> = sums.iter().map(|r| (r.text(0), r.int(1))).collect();
            let mut check = JournalCheck { sum: 0, negative: vec![], mismatched: vec![], entries };
            for r in &balances {
                let (h, b) = (r.text(0), r.int(1));
                check.sum += b;
                if b < 0 && ledger::stays_non_negative(&h) {
                    check.negative.push(h.clone());
                }
                if posted.get(&h).copied().unwrap_or(0) != b {
                    check.mismatched.push(h);
                }
            }
            Ok(check)
        })
    }
}

fn account_of_row(r: &Row) -> Account {
    account(r)
}

/// What an event id that was answered before says again (`"replay": true`).
#[derive(Clone)]
struct Answered {
    status: &'static str,
    reason: String,
    message: String,
    /// The credit: stored (id, grams, points, available_at), or one of this batch's new credits.
    credit: Option<CreditRef>,
}

#[derive(Clone, Copy)]
enum CreditRef {
    /// A stored event's credit id and its row's grams, points and availability.
    Stored(Option<i64>, Option<i64>, Option<i64>, Option<i64>),
    /// One of this batch's new credits.
    New(usize),
}

impl Answered {
    /// The replayed verdict, and the batch's new credit it names (its id is set once inserted).
    fn verdict(&self, index: usize, id: &str, new: &[NewCredit]) -> (Verdict, Option<usize>) {
        let (credit_id, grams, points, available_at, slot) = match self.credit {
            None => (None, None, None, None, None),
            Some(CreditRef::Stored(id, g, p, a)) => (id, g, p, a, None),
            Some(CreditRef::New(i)) => {
                (None, Some(new[i].grams), Some(new[i].points), Some(new[i].available_at), Some(i))
            }
        };
        let v = Verdict {
            index,
            id: id.to_string(),
            status: self.status,
            reason: (!self.reason.is_empty()).then(|| self.reason.clone()),
            message: (!self.message.is_empty()).then(|| self.message.clone()),
            credit_id,
            grams,
            points,
            available_at: available_at.map(inclusive::time::format),
            replay: true,
        };
        (v, slot)
    }
}

/// A kept event row to insert.
struct NewEvent {
    event_id: Option<String>,
    account: Option<i64>,
    action: String,
    mode: String,
    answer: Answered,
}

/// A credit row to insert; `id` once inserted.
struct NewCredit {
    id: Option<i64>,
    account: i64,
    org: String,
    action: String,
    mode: String,
    occurred: i64,
    month: String,
    grams: i64,
    points: i64,
    methodology: String,
    version: i64,
    status: &'static str,
    available_at: i64,
    expires_at: i64,
    risk: i64,
    explanation: String,
}

/// The error that sends a batch round again: a dedup key this batch read as new was inserted by a
/// concurrent batch meanwhile (PostgreSQL; SQLite serialises writers). The transaction rolls back
/// and the batch runs again, then reads that key as a duplicate.
const DEDUP_RACE: &str = "inclusive dedup key inserted concurrently";

/// Keys a batch-wide lookup sends at most per statement (SQLite allows 500 arms of a compound
/// SELECT, and a few hundred parameters keep the statements small).
const LOOKUP_CHUNK: usize = 128;

/// A lookup of `n` keys is padded (its last key repeated) to one of a few sizes, so that a handful
/// of statement texts serve every batch and each is prepared once per connection.
fn padded(n: usize) -> usize {
    [8, 16, 32, 64, LOOKUP_CHUNK].into_iter().find(|&p| p >= n).unwrap_or(n)
}

/// `$from, $from+1, ...` for `n` parameters.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A multi-row `VALUES` list of `rows` rows of `cols` parameters.
fn values_rows(rows: usize, cols: usize) -> String {
    (0..rows).map(|r| format!("({})", placeholders(1 + r * cols, cols))).collect::<Vec<_>>().join(", ")
}

/// Splits `n` rows of a multi-row insert into chunks of 64, 16, 4 and 1 rows: few statements, and
/// few statement texts (each prepared once per connection).
fn insert_chunks(n: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    for size in [64, 16, 4, 1] {
        while n - at >= size {
            out.push(at..at + size);
            at += size;
        }
    }
    out
}

thread_local! {
    /// Statement texts of the batch-wide statements by (statement, rows): built once per thread.
    static SQL_TEXTS: std::cell::RefCell<HashMap<(&'static str, usize), std::rc::Rc<str>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The text of statement `tag` for `n` rows or keys, built by `build` the first time.
fn sql_text(tag: &'static str, n: usize, build: impl FnOnce() -> String) -> std::rc::Rc<str> {
    SQL_TEXTS.with(|m| m.borrow_mut().entry((tag, n)).or_insert_with(|| build().into()).clone())
}

/// Runs `query(sql_params)` for the distinct `keys` in padded chunks; `sql(n)` is the statement
/// for `n` keys of `width` parameters each, `params(key)` a key's parameters.
#[allow(clippy::too_many_arguments)]
fn lookup<K>(
    c: &mut dyn Conn,
    tag: &'static str,
    keys: &[K],
    width: usize,
    lead: &[Value],
    sql: impl Fn(usize) -> String,
    params: impl Fn(&K) -> Vec<Value>,
    mut row: impl FnMut(&Row),
) -> Result<()> {
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        let n = padded(chunk.len());
        let mut p = Vec::with_capacity(lead.len() + n * width);
        p.extend_from_slice(lead);
        for k in chunk {
            p.extend(params(k));
        }
        let last = params(&chunk[chunk.len() - 1]);
        for _ in chunk.len()..n {
            p.extend_from_slice(&last);
        }
        for r in c.query(&sql_text(tag, n, || sql(n)), &p)? {
            row(&r);
        }
    }
    Ok(())
}

fn unknown_account() -> Reason {
    rules::reason("unknown_account", "no enrolled account of this name within the app's organisation")
}

/// Usage key: account, action type (and mode), period (`D2026-12-04`, `M2026-12`).
type UsageKey = (i64, String, String);

/// One batch through the rules with batch-wide statements: one query each for the batch's replayed
/// event ids, its accounts, its cap usages and its dedup keys; then every event in order with what
/// those answered (kept up to date in memory as the batch credits); then multi-row inserts of the
/// dedup keys, the usage, the credits and the kept events. The same verdicts as one event at a
/// time: an event sees the usage and dedup keys of the events before it in the batch.
fn record_batch(
    c: &mut dyn Conn,
    client: &Client,
    org_path: &str,
    lib: &Library,
    events: &[Incoming],
    now: i64,
) -> Result<Vec<Verdict>> {
    let valid_id = |id: &str| (!id.is_empty() && id.len() <= rules::MAX_ID).then(|| id.to_string());
    // 1. Replays: the stored answers of the batch's event ids.
    let mut ids: Vec<String> = Vec::new();
    {
        let mut seen = std::collections::HashSet::new();
        for inc in events {
            let id = match inc {
                Incoming::Refused { id, keep: true, .. } => id,
                Incoming::Event(e) => &e.id,
                Incoming::Refused { keep: false, .. } => continue,
            };
            if let Some(id) = valid_id(id) {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
        }
    }
    let mut answered: HashMap<String, Answered> = HashMap::new();
    // The events first, then their credits: a join in one statement was planned (PostgreSQL's
    // generic plan) as a scan of all the credits.
    let mut credit_of: Vec<(String, i64)> = Vec::new();
    lookup(
        c,
        "replay",
        &ids,
        1,
        &[client.client_id.as_str().into()],
        |n| {
            format!(
                "SELECT event_id, status, reason, message, credit_id FROM inclusive_events \
                 WHERE client_id = $1 AND event_id IN ({})",
                placeholders(2, n)
            )
        },
        |id| vec![id.as_str().into()],
        |r| {
            let status = match r.text(1).as_str() {
                ACCEPTED => ACCEPTED,
                PENDING => PENDING,
                _ => REJECTED,
            };
            let credit = r.opt_int(4).map(|id| CreditRef::Stored(Some(id), None, None, None));
            if let Some(id) = r.opt_int(4) {
                credit_of.push((r.text(0), id));
            }
            let a = Answered { status, reason: r.text(2), message: r.opt_text(3).unwrap_or_default(), credit };
            answered.insert(r.text(0), a);
        },
    )?;
    if !credit_of.is_empty() {
        let wanted: Vec<i64> = credit_of.iter().map(|x| x.1).collect();
        let mut found: HashMap<i64, (i64, i64, i64)> = HashMap::new();
        lookup(
            c,
            "replay_credits",
            &wanted,
            1,
            &[],
            |n| {
                format!(
                    "SELECT id, grams, points, available_at FROM inclusive_credits WHERE id IN ({})",
                    placeholders(1, n)
                )
            },
            |id| vec![(*id).into()],
            |r| {
                found.insert(r.int(0), (r.int(1), r.int(2), r.int(3)));
            },
        )?;
        for (event_id, id) in credit_of {
            if let (Some(a), Some(&(g, p, at))) = (answered.get_mut(&event_id), found.get(&id)) {
                a.credit = Some(CreditRef::Stored(Some(id), Some(g), Some(p), Some(at)));
            }
        }
    }
    // 2. The rules that need no database, for the events not answered before.
    let checked: Vec<Option<std::result::Result<rules::Checked, Reason>>> = events
        .iter()
        .map(|inc| match inc {
            Incoming::Event(e) if !answered.contains_key(&e.id) => Some(rules::check(e, now, lib)),
            _ => None,
        })
        .collect();
    // 3. Accounts: the batch's names, one query.
    let subject_of = |name: &str| {
        if client.audience == CUSTOMER {
            customer_subject(&client.org_code, name)
        } else {
            name.to_string()
        }
    };
    let mut subjects: Vec<String> = Vec::new();
    {
        let mut seen = std::collections::HashSet::new();
        for (inc, ch) in events.iter().zip(&checked) {
            if let (Incoming::Event(e), Some(Ok(_))) = (inc, ch) {
                if seen.insert(e.account.as_str()) {
                    subjects.push(subject_of(&e.account));
                }
            }
        }
    }
    // subject → (account id, org code), for accounts the app may credit.
    let mut accounts: HashMap<String, Option<(i64, String)>> = HashMap::new();
    if client.audience == CUSTOMER {
        lookup(
            c,
            "customers",
            &subjects,
            1,
            &[CUSTOMER.into()],
            |n| {
                format!(
                    "SELECT subject, id, org_code FROM inclusive_accounts WHERE kind = $1 AND subject IN ({})",
                    placeholders(2, n)
                )
            },
            |s| vec![s.as_str().into()],
            |r| {
                accounts.insert(r.text(0), Some((r.int(1), r.text(2))));
            },
        )?;
    } else {
        lookup(
            c,
            "employees",
            &subjects,
            1,
            &[EMPLOYEE.into()],
            |n| {
                format!(
                    "SELECT a.subject, a.id, a.org_code, o.path FROM inclusive_accounts a JOIN orgs o ON o.code = a.org_code \
                     WHERE a.kind = $1 AND a.subject IN ({})",
                    placeholders(2, n)
                )
            },
            |s| vec![s.as_str().into()],
            |r| {
                let ok = r.text(3).starts_with(org_path);
                accounts.insert(r.text(0), ok.then(|| (r.int(1), r.text(2))));
            },
        )?;
    }
    // 4. Cap usage of the known accounts, and 5. the dedup keys already taken: one query each.
    let kind_key = |ch: &rules::Checked| {
        if ch.mode.is_empty() {
            ch.action.clone()
        } else {
            format!("{}/{}", ch.action, ch.mode)
        }
    };
    let day_key = |ch: &rules::Checked| format!("D{}", inclusive::time::day_text(ch.day));
    let month_key = |ch: &rules::Checked| format!("M{}", ch.month);
    let mut usage_keys: Vec<UsageKey> = Vec::new();
    let mut dedup_keys: Vec<String> = Vec::new();
    {
        let mut seen = std::collections::HashSet::new();
        let mut seen_d = std::collections::HashSet::new();
        for (inc, ch) in events.iter().zip(&checked) {
            if let (Incoming::Event(e), Some(Ok(ch))) = (inc, ch) {
                if let Some(key) = &ch.dedup_key {
                    if seen_d.insert(key.clone()) {
                        dedup_keys.push(key.clone());
                    }
                }
                if let Some(Some((account, _))) = accounts.get(&subject_of(&e.account)) {
                    let k = kind_key(ch);
                    for period in [day_key(ch), month_key(ch)] {
                        let key = (*account, k.clone(), period);
                        if seen.insert(key.clone()) {
                            usage_keys.push(key);
                        }
                    }
                }
            }
        }
    }
    let mut usage: HashMap<UsageKey, (i64, i64)> = HashMap::new();
    lookup(
        c,
        "usage",
        &usage_keys,
        3,
        &[],
        |n| {
            // One cursor over the primary key for the whole list (a UNION of lookups opened one
            // cursor per key); the CAST types the list's first column on PostgreSQL.
            format!(
                "SELECT u.account_id, u.action, u.period, u.grams, u.events FROM inclusive_usage u \
                 WHERE (u.account_id, u.action, u.period) IN (VALUES {})",
                (0..n)
                    .map(|i| format!("(CAST(${} AS BIGINT), ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        |(a, k, p)| vec![(*a).into(), k.as_str().into(), p.as_str().into()],
        |r| {
            usage.insert((r.int(0), r.text(1), r.text(2)), (r.int(3), r.int(4)));
        },
    )?;
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    lookup(
        c,
        "dedup",
        &dedup_keys,
        1,
        &[],
        |n| format!("SELECT dedup_key FROM inclusive_dedup WHERE dedup_key IN ({})", placeholders(1, n)),
        |k| vec![k.as_str().into()],
        |r| {
            taken.insert(r.text(0));
        },
    )?;

    // 6. Every event in order.
    let mut out: Vec<Verdict> = Vec::with_capacity(events.len());
    let mut new_events: Vec<NewEvent> = Vec::new();
    let mut new_credits: Vec<NewCredit> = Vec::new();
    let mut new_dedup: Vec<String> = Vec::new();
    let mut usage_delta: Vec<UsageKey> = Vec::new();
    let mut delta: HashMap<UsageKey, (i64, i64)> = HashMap::new();
    // Event id → the answer given to it in this batch (a repeat in the same batch replays it).
    let mut in_batch: HashMap<String, usize> = HashMap::new();
    // Per verdict: the batch's new credit it names (credit ids are known once inserted).
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(events.len());
    for (index, (inc, ch)) in events.iter().zip(checked).enumerate() {
        let (id, event_id) = match inc {
            Incoming::Refused { id, keep: false, reason } => {
                out.push(rejected(index, id, reason.clone()));
                slots.push(None);
                continue;
            }
            Incoming::Refused { id, .. } => (id, valid_id(id)),
            Incoming::Event(e) => (&e.id, valid_id(&e.id)),
        };
        if let Some(eid) = &event_id {
            if let Some(a) = answered.get(eid) {
                out.push(a.verdict(index, id, &new_credits).0);
                slots.push(None);
                continue;
            }
            if let Some(&n) = in_batch.get(eid) {
                let (v, slot) = new_events[n].answer.verdict(index, id, &new_credits);
                out.push(v);
                slots.push(slot);
                continue;
            }
            in_batch.insert(eid.clone(), new_events.len());
        }
        let mut reject = |account: Option<i64>, action: &str, mode: &str, r: Reason| {
            new_events.push(NewEvent {
                event_id: event_id.clone(),
                account,
                action: action.to_string(),
                mode: mode.to_string(),
                answer: Answered {
                    status: REJECTED,
                    reason: r.code.to_string(),
                    message: r.message.clone(),
                    credit: None,
                },
            });
            rejected(index, id, r)
        };
        let e = match inc {
            Incoming::Refused { reason, .. } => {
                out.push(reject(None, "", "", reason.clone()));
                slots.push(None);
                continue;
            }
            Incoming::Event(e) => e,
        };
        let mode = e.mode.clone().unwrap_or_default();
        let checked = match ch.expect("checked when not answered before") {
            Ok(x) => x,
            Err(r) => {
                out.push(reject(None, &e.action, &mode, r));
                slots.push(None);
                continue;
            }
        };
        let subject = subject_of(&e.account);
        let found = match accounts.get(&subject) {
            Some(hit) => hit.clone(),
            None if client.audience == CUSTOMER => {
                // A customer seen for the first time: created under the app's org.
                let id = c.query(
                    "INSERT INTO inclusive_accounts (org_code, kind, subject, display_name, opt_in, created_at) VALUES ($1, $2, $3, NULL, 0, $4) RETURNING id",
                    &[client.org_code.as_str().into(), CUSTOMER.into(), subject.as_str().into(), crate::now().into()],
                )?[0]
                    .int(0);
                let hit = Some((id, client.org_code.clone()));
                accounts.insert(subject, hit.clone());
                hit
            }
            None => None,
        };
        let Some((account, org)) = found else {
            out.push(reject(None, &e.action, &mode, unknown_account()));
            slots.push(None);
            continue;
        };
        // Caps count per action type and mode (walking has its own daily cap, metro its own rides).
        let k = kind_key(&checked);
        let (dk, mk) = ((account, k.clone(), day_key(&checked)), (account, k, month_key(&checked)));
        let (day_g, day_events) = usage.get(&dk).copied().unwrap_or_default();
        let (month_g, month_events) = usage.get(&mk).copied().unwrap_or_default();
        let cr = match rules::credit(&checked, Usage { day_g, day_events, month_g, month_events }, client.source(), now)
        {
            Ok(x) => x,
            Err(r) => {
                out.push(reject(Some(account), &checked.action, &checked.mode, r));
                slots.push(None);
                continue;
            }
        };
        if let Some(key) = &checked.dedup_key {
            if taken.contains(key) {
                let r = rules::reason("duplicate", "this reduction was reported already (same reference)");
                out.push(reject(Some(account), &checked.action, &checked.mode, r));
                slots.push(None);
                continue;
            }
            taken.insert(key.clone());
            new_dedup.push(key.clone());
        }
        for key in [dk, mk] {
            let u = usage.entry(key.clone()).or_default();
            u.0 += cr.grams;
            u.1 += 1;
            let d = delta.entry(key.clone()).or_insert_with(|| {
                usage_delta.push(key);
                (0, 0)
            });
            d.0 += cr.grams;
            d.1 += 1;
        }
        let st = if cr.review { status::REVIEW } else { status::CLAIMABLE };
        let (vstatus, reason) = if cr.review {
            (
                PENDING,
                rules::reason("review", format!("risk score {} ≥ {}: held for review", cr.risk, rules::REVIEW_AT)),
            )
        } else {
            (ACCEPTED, rules::reason("", ""))
        };
        let slot = new_credits.len();
        new_credits.push(NewCredit {
            id: None,
            account,
            org,
            action: checked.action.clone(),
            mode: checked.mode.clone(),
            occurred: checked.occurred,
            month: checked.month.clone(),
            grams: cr.grams,
            points: cr.points,
            methodology: checked.methodology.id.clone(),
            version: checked.methodology.version,
            status: st,
            available_at: cr.available_at,
            expires_at: cr.expires_at,
            risk: cr.risk,
            explanation: cr.explanation.to_string(),
        });
        new_events.push(NewEvent {
            event_id: event_id.clone(),
            account: Some(account),
            action: checked.action.clone(),
            mode: checked.mode.clone(),
            answer: Answered {
                status: vstatus,
                reason: reason.code.to_string(),
                message: reason.message.clone(),
                credit: Some(CreditRef::New(slot)),
            },
        });
        slots.push(Some(slot));
        out.push(Verdict {
            index,
            id: e.id.clone(),
            status: vstatus,
            reason: cr.review.then(|| "review".to_string()),
            message: cr.review.then_some(reason.message),
            credit_id: None, // set once the credits are inserted
            grams: Some(cr.grams),
            points: Some(cr.points),
            available_at: Some(inclusive::time::format(cr.available_at)),
            replay: false,
        });
    }

    // 7. The writes, a few multi-row statements each.
    let mut inserted = 0;
    for r in insert_chunks(new_dedup.len()) {
        let sql = sql_text("dedup_insert", r.len(), || {
            format!(
                "INSERT INTO inclusive_dedup (dedup_key) VALUES {} ON CONFLICT (dedup_key) DO NOTHING",
                values_rows(r.len(), 1)
            )
        });
        let p: Vec<Value> = new_dedup[r].iter().map(|k| k.as_str().into()).collect();
        inserted += c.exec(&sql, &p)?;
    }
    if inserted != new_dedup.len() as u64 {
        return Err(StoreError::Conflict(DEDUP_RACE.into()));
    }
    for r in insert_chunks(usage_delta.len()) {
        let sql = sql_text("usage_upsert", r.len(), || {
            format!(
                "INSERT INTO inclusive_usage (account_id, action, period, grams, events) VALUES {} \
                 ON CONFLICT (account_id, action, period) DO UPDATE SET grams = inclusive_usage.grams + excluded.grams, \
                 events = inclusive_usage.events + excluded.events",
                values_rows(r.len(), 5)
            )
        });
        let mut p = Vec::with_capacity(r.len() * 5);
        for key in &usage_delta[r] {
            let (g, n) = delta[key];
            p.extend([key.0.into(), key.1.as_str().into(), key.2.as_str().into(), g.into(), n.into()]);
        }
        c.exec(&sql, &p)?;
    }
    for r in insert_chunks(new_credits.len()) {
        let sql = sql_text("credits_insert", r.len(), || {
            format!(
            "INSERT INTO inclusive_credits (account_id, org_code, action, mode, occurred_at, month, grams, points, methodology, methodology_version, \
             status, claim, claim_ref, available_at, expires_at, risk, explanation, created_at) VALUES {} RETURNING id",
            (0..r.len())
                .map(|i| {
                    let b = i * 16;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 'none', '', ${}, ${}, ${}, ${}, ${})",
                        b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14, b + 15, b + 16
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
        });
        let mut p = Vec::with_capacity(r.len() * 16);
        for n in &new_credits[r.clone()] {
            p.extend([
                n.account.into(),
                n.org.as_str().into(),
                n.action.as_str().into(),
                n.mode.as_str().into(),
                n.occurred.into(),
                n.month.as_str().into(),
                n.grams.into(),
                n.points.into(),
                n.methodology.as_str().into(),
                n.version.into(),
                n.status.into(),
                n.available_at.into(),
                n.expires_at.into(),
                n.risk.into(),
                n.explanation.as_str().into(),
                now.into(),
            ]);
        }
        // Ids are drawn in the order of the VALUES rows (SQLite's rowids, PostgreSQL's sequence):
        // the ascending ids are the rows' in order.
        let mut got: Vec<i64> = c.query(&sql, &p)?.iter().map(|row| row.int(0)).collect();
        got.sort_unstable();
        for (n, id) in new_credits[r].iter_mut().zip(got) {
            n.id = Some(id);
        }
    }
    for r in insert_chunks(new_events.len()) {
        let sql = sql_text("events_insert", r.len(), || {
            format!(
                "INSERT INTO inclusive_events (client_id, event_id, org_code, account_id, action, mode, status, reason, message, credit_id, received_at) VALUES {}",
                values_rows(r.len(), 11)
            )
        });
        let mut p = Vec::with_capacity(r.len() * 11);
        for n in &new_events[r] {
            let credit = match n.answer.credit {
                Some(CreditRef::New(i)) => new_credits[i].id,
                Some(CreditRef::Stored(id, ..)) => id,
                None => None,
            };
            p.extend([
                client.client_id.as_str().into(),
                n.event_id.as_deref().into(),
                client.org_code.as_str().into(),
                n.account.into(),
                n.action.as_str().into(),
                n.mode.as_str().into(),
                n.answer.status.into(),
                n.answer.reason.as_str().into(),
                n.answer.message.as_str().into(),
                credit.into(),
                now.into(),
            ]);
        }
        c.exec(&sql, &p)?;
    }
    // The verdicts of new credits (and of their repeats in the batch) take the credit ids now.
    for (v, slot) in out.iter_mut().zip(slots) {
        if let Some(i) = slot {
            v.credit_id = new_credits[i].id;
        }
    }
    Ok(out)
}
