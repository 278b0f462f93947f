//! The allowance registry: accounts, holdings by vintage, and an append-only double-entry journal.
//!
//! Every change is an [`Entry`] of the journal; the state (balances, holds) is what the journal gives
//! when replayed from the start, and [`Registry::replay`] checks exactly that. Amounts are integers:
//! allowances in kgCO2e, the internal budget currency in fen. A leg always moves an amount from one
//! account to another, so every entry balances by construction; the rules below keep the rest:
//!
//! - no account other than a source ([`Account::Issuance`], [`Account::Budget`]) ever goes below
//!   zero, counting what its holds reserve;
//! - nothing leaves [`Account::Retirement`] or [`Account::Cancellation`] (retired allowances never move);
//! - borrowed allowances only go to retirement or cancellation (they are for their holder's own
//!   compliance: never transferred, traded or pledged);
//! - a request id applies once: the same request again answers the first result, a different
//!   command under a used id is refused;
//! - corrections are new entries reversing old ones; no entry is ever edited.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type Kg = i64;
pub type Fen = i64;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// A subsidiary's account (its org code).
    Org(String),
    /// The group's reserve (new entrants, market stability, make-good).
    Reserve,
    /// Where surrendered allowances and offsets end; nothing leaves it.
    Retirement,
    /// Where allowances withdrawn from circulation end; nothing leaves it.
    Cancellation,
    /// Source of every allowance and offset: its balance is minus what was ever issued.
    Issuance,
    /// Source of the internal budget currency: its balance is minus the budgets granted.
    Budget,
}

impl Account {
    pub fn org(code: &str) -> Account {
        Account::Org(code.to_string())
    }
    fn is_source(&self) -> bool {
        matches!(self, Account::Issuance | Account::Budget)
    }
    fn is_sink(&self) -> bool {
        matches!(self, Account::Retirement | Account::Cancellation)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetKind {
    /// China Certified Emission Reductions.
    Ccer,
    /// Green electricity certificates (绿证).
    GreenCertificate,
    /// Reductions of the group's own projects, credited internally.
    InternalProject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "asset")]
pub enum Asset {
    /// Allowances of a vintage (kgCO2e).
    Allowance { vintage: i32 },
    /// Allowances borrowed from a later period's allocation (kgCO2e); for the holder's own surrender only.
    Borrowed { vintage: i32 },
    /// Offset credits (kgCO2e).
    Offset { kind: OffsetKind, vintage: i32 },
    /// The internal budget currency (fen).
    Cash,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Account::Org(code) => f.write_str(code),
            Account::Reserve => f.write_str("the group's reserve"),
            Account::Retirement => f.write_str("retirement"),
            Account::Cancellation => f.write_str("cancellation"),
            Account::Issuance => f.write_str("issuance"),
            Account::Budget => f.write_str("the budget source"),
        }
    }
}

impl std::fmt::Display for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asset::Allowance { vintage } => write!(f, "allowances of {vintage} (kgCO2e)"),
            Asset::Borrowed { vintage } => write!(f, "borrowed allowances of {vintage} (kgCO2e)"),
            Asset::Offset { kind, vintage } => write!(f, "{kind:?} offsets of {vintage} (kgCO2e)"),
            Asset::Cash => f.write_str("budget (fen)"),
        }
    }
}

/// Why an entry was written; kept with it so the journal explains itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Reason {
    Issue,
    /// Offset credits entered into the registry, with their external reference (a CCER serial
    /// number, a green certificate id, an internal project and its verification).
    Offset {
        reference: String,
    },
    Allocation {
        period: i32,
    },
    TrueUp {
        period: i32,
    },
    Fund,
    Transfer,
    Trade {
        trade: u64,
    },
    Surrender {
        period: i32,
    },
    Borrow {
        period: i32,
    },
    Repay {
        period: i32,
    },
    MakeGood {
        period: i32,
    },
    Penalty {
        period: i32,
    },
    Reward {
        period: i32,
    },
    Cancel,
    Reversal {
        of: u64,
    },
}

/// One movement: `amount` of `asset` from `from` to `to`. With `hold`, the amount comes out of that
/// hold (reserved earlier on `from`), which is how an order's reservation is posted on a fill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub asset: Asset,
    pub from: Account,
    pub to: Account,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<u64>,
}

impl Leg {
    pub fn new(asset: Asset, from: Account, to: Account, amount: i64) -> Leg {
        Leg { asset, from, to, amount, hold: None }
    }
    pub fn from_hold(mut self, hold: u64) -> Leg {
        self.hold = Some(hold);
        self
    }
}

/// What an entry does. The legs of one `Move` are linked: all apply or none (delivery versus payment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    Move {
        reason: Reason,
        legs: Vec<Leg>,
    },
    /// Reserve `amount` of `asset` on `account` (an order's or a proposed transfer's reservation).
    Hold {
        hold: u64,
        account: Account,
        asset: Asset,
        amount: i64,
    },
    /// Give back (part of) a hold: a cancelled order's rest, a price improvement.
    Release {
        hold: u64,
        amount: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub op: Op,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub posted: i64,
    pub held: i64,
}

impl Balance {
    pub fn available(&self) -> i64 {
        self.posted - self.held
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub account: Account,
    pub asset: Asset,
    pub remaining: i64,
}

/// Why a command was refused. Each has a stable code; nothing of a refused command is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("amounts must be positive (leg {leg}: {amount})")]
    NonPositiveAmount { leg: usize, amount: i64 },
    #[error("leg {leg} moves from an account to itself")]
    SelfTransfer { leg: usize },
    #[error("{account} has {available} of its {asset} available, {needed} needed")]
    InsufficientBalance { account: Account, asset: Asset, available: i64, needed: i64 },
    #[error("nothing leaves {account}: retired and cancelled allowances never move")]
    RetiredNeverMoves { account: Account },
    #[error("borrowed allowances only serve their holder's own surrender; they cannot go to {to}")]
    BorrowedNotTransferable { to: Account },
    #[error("{asset} cannot go to {to}")]
    AssetNotAccepted { asset: Asset, to: Account },
    #[error("no hold {hold}")]
    UnknownHold { hold: u64 },
    #[error("hold {hold} already exists")]
    HoldExists { hold: u64 },
    #[error("hold {hold} reserves {remaining}, {needed} needed")]
    HoldTooSmall { hold: u64, remaining: i64, needed: i64 },
    #[error("hold {hold} is on another account or asset than leg {leg}")]
    HoldMismatch { hold: u64, leg: usize },
    #[error("request id {0:?} was used for a different command")]
    RequestIdReused(String),
    #[error("no entry {0}")]
    UnknownEntry(u64),
    #[error("entry {0} was already reversed")]
    AlreadyReversed(u64),
    #[error("entry {0} cannot be reversed: {1}")]
    NotReversible(u64, &'static str),
    #[error("the amounts overflow")]
    Overflow,
    #[error("journal entry {seq} does not follow entry {prev}")]
    OutOfSequence { seq: u64, prev: u64 },
}

impl LedgerError {
    /// The stable code an API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::NonPositiveAmount { .. } => "amount_not_positive",
            LedgerError::SelfTransfer { .. } => "self_transfer",
            LedgerError::InsufficientBalance { .. } => "insufficient_balance",
            LedgerError::RetiredNeverMoves { .. } => "retired_never_moves",
            LedgerError::BorrowedNotTransferable { .. } => "borrowed_not_transferable",
            LedgerError::AssetNotAccepted { .. } => "asset_not_accepted",
            LedgerError::UnknownHold { .. } => "unknown_hold",
            LedgerError::HoldExists { .. } => "hold_exists",
            LedgerError::HoldTooSmall { .. } => "hold_too_small",
            LedgerError::HoldMismatch { .. } => "hold_mismatch",
            LedgerError::RequestIdReused(_) => "request_id_reused",
            LedgerError::UnknownEntry(_) => "unknown_entry",
            LedgerError::AlreadyReversed(_) => "already_reversed",
            LedgerError::NotReversible(..) => "not_reversible",
            LedgerError::Overflow => "overflow",
            LedgerError::OutOfSequence { .. } => "journal_out_of_sequence",
        }
    }
}

/// What a command did: the entries it appended (or, for a repeated request, had appended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub seqs: Vec<u64>,
    pub repeated: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Registry {
    balances: FxHashMap<(Account, Asset), Balance>,
    holds: FxHashMap<u64, Hold>,
    journal: Vec<Entry>,
    requests: FxHashMap<String, (u64, Vec<u64>)>,
    reversed: FxHashMap<u64, u64>,
}

/// A stable fingerprint of a command, so a reused request id with another command is told apart.
fn fingerprint(ops: &[Op]) -> u64 {
    let text = format!("{ops:?}");
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn journal(&self) -> &[Entry] {
        &self.journal
    }

    pub fn balance(&self, account: &Account, asset: Asset) -> Balance {
        self.balances.get(&(account.clone(), asset)).copied().unwrap_or_default()
    }

    pub fn hold(&self, hold: u64) -> Option<&Hold> {
        self.holds.get(&hold)
    }

    /// Every non-zero balance, in a fixed order (for reports, digests and comparisons).
    pub fn balances(&self) -> BTreeMap<(Account, Asset), Balance> {
        self.balances.iter().filter(|(_, b)| b.posted != 0 || b.held != 0).map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Open holds, in id order.
    pub fn holds(&self) -> BTreeMap<u64, Hold> {
        self.holds.iter().filter(|(_, h)| h.remaining > 0).map(|(k, v)| (*k, v.clone())).collect()
    }

    pub fn next_seq(&self) -> u64 {
        self.journal.last().map(|e| e.seq + 1).unwrap_or(1)
    }

    /// Applies a command (one or more ops, all or none) under an optional request id.
    pub fn apply(&mut self, request_id: Option<&str>, ops: Vec<Op>) -> Result<Applied, LedgerError> {
        self.apply_inner(request_id, ops, true)
    }

    /// Applies a command whose request id the caller has already made unique (the exchange keeps
    /// its own answers per request): the id is written on the entries, no fingerprint is kept.
    pub fn apply_once(&mut self, request_id: &str, ops: Vec<Op>) -> Result<Applied, LedgerError> {
        self.apply_inner(Some(request_id), ops, false)
    }

    fn apply_inner(&mut self, request_id: Option<&str>, ops: Vec<Op>, remember: bool) -> Result<Applied, LedgerError> {
        let print = if remember { fingerprint(&ops) } else { 0 };
        if let (Some(id), true) = (request_id, remember) {
            if let Some((seen, seqs)) = self.requests.get(id) {
                return if *seen == print {
                    Ok(Applied { seqs: seqs.clone(), repeated: true })
                } else {
                    Err(LedgerError::RequestIdReused(id.to_string()))
                };
            }
        }
        let changes = self.check(&ops)?;
        self.commit(changes);
        let mut seqs = Vec::with_capacity(ops.len());
        for op in ops {
            let seq = self.next_seq();
            if let Op::Move { reason: Reason::Reversal { of }, .. } = &op {
                self.reversed.insert(*of, seq);
            }
            self.journal.push(Entry { seq, request_id: request_id.map(str::to_string), op });
            seqs.push(seq);
        }
        if let (Some(id), true) = (request_id, remember) {
            self.requests.insert(id.to_string(), (print, seqs.clone()));
        }
        Ok(Applied { seqs, repeated: false })
    }

    /// The op that reverses entry `seq`: its legs the other way round. Refused for an entry that
    /// retired or cancelled allowances (they never move again), that posted a hold, or that is not a move.
    pub fn reversal_of(&self, seq: u64) -> Result<Op, LedgerError> {
        let entry = self.journal.iter().find(|e| e.seq == seq).ok_or(LedgerError::UnknownEntry(seq))?;
        if self.reversed.contains_key(&seq) {
            return Err(LedgerError::AlreadyReversed(seq));
        }
        let Op::Move { reason, legs } = &entry.op else {
            return Err(LedgerError::NotReversible(seq, "only moves are reversed; a hold is released"));
        };
        if matches!(reason, Reason::Reversal { .. }) {
            return Err(LedgerError::NotReversible(seq, "a reversal is not reversed; write the correction anew"));
        }
        if legs.iter().any(|l| l.to.is_sink()) {
            return Err(LedgerError::NotReversible(seq, "it retired or cancelled allowances"));
        }
        Ok(Op::Move {
            reason: Reason::Reversal { of: seq },
            legs: legs.iter().map(|l| Leg::new(l.asset, l.to.clone(), l.from.clone(), l.amount)).collect(),
        })
    }

    /// Checks a command against the current state and returns the balances and holds it leaves.
    fn check(&self, ops: &[Op]) -> Result<Changes, LedgerError> {
        let mut ch = Changes::default();
        for op in ops {
            match op {
                Op::Move { reason, legs } => {
                    if let Reason::Reversal { of } = reason {
                        if self.reversed.contains_key(of) || ch.reversed.contains(of) {
                            return Err(LedgerError::AlreadyReversed(*of));
                        }
                        if !self.journal.iter().any(|e| e.seq == *of) {
                            return Err(LedgerError::UnknownEntry(*of));
                        }
                        ch.reversed.push(*of);
                    }
                    for (i, leg) in legs.iter().enumerate() {
                        self.check_leg(&mut ch, i, leg)?;
                    }
                }
                Op::Hold { hold, account, asset, amount } => {
                    if *amount <= 0 {
                        return Err(LedgerError::NonPositiveAmount { leg: 0, amount: *amount });
                    }
                    if self.holds.contains_key(hold) || ch.holds.contains_key(hold) {
                        return Err(LedgerError::HoldExists { hold: *hold });
                    }
                    if matches!(asset, Asset::Borrowed { .. }) {
                        return Err(LedgerError::BorrowedNotTransferable { to: account.clone() });
                    }
                    let b = ch.balance(self, account, *asset);
                    let held = b.held.checked_add(*amount).ok_or(LedgerError::Overflow)?;
                    if !account.is_source() && b.posted - held < 0 {
                        return Err(LedgerError::InsufficientBalance {
                            account: account.clone(),
                            asset: *asset,
                            available: b.available(),
                            needed: *amount,
                        });
                    }
                    ch.set(account, *asset, Balance { posted: b.posted, held });
                    ch.holds.insert(*hold, Hold { account: account.clone(), asset: *asset, remaining: *amount });
                }
                Op::Release { hold, amount } => {
                    if *amount <= 0 {
                        return Err(LedgerError::NonPositiveAmount { leg: 0, amount: *amount });
                    }
                    let h = ch.hold(self, *hold)?;
                    if h.remaining < *amount {
                        return Err(LedgerError::HoldTooSmall { hold: *hold, remaining: h.remaining, needed: *amount });
                    }
                    let b = ch.balance(self, &h.account, h.asset);
                    ch.set(&h.account, h.asset, Balance { posted: b.posted, held: b.held - amount });
                    ch.holds.insert(*hold, Hold { remaining: h.remaining - amount, ..h });
                }
            }
        }
        Ok(ch)
    }

    fn check_leg(&self, ch: &mut Changes, i: usize, leg: &Leg) -> Result<(), LedgerError> {
        if leg.amount <= 0 {
            return Err(LedgerError::NonPositiveAmount { leg: i, amount: leg.amount });
        }
        if leg.from == leg.to {
            return Err(LedgerError::SelfTransfer { leg: i });
        }
        if leg.from.is_sink() {
            return Err(LedgerError::RetiredNeverMoves { account: leg.from.clone() });
        }
        // What each source issues, and where each asset may go.
        let accepted = match leg.asset {
            Asset::Cash => !leg.to.is_sink() && leg.to != Account::Issuance && leg.from != Account::Issuance,
            _ => leg.to != Account::Budget && leg.from != Account::Budget,
        };
        if !accepted {
            return Err(LedgerError::AssetNotAccepted { asset: leg.asset, to: leg.to.clone() });
        }
        if let Asset::Borrowed { .. } = leg.asset {
            let issue_or_end = leg.from == Account::Issuance || leg.to.is_sink() || leg.to == Account::Issuance;
            if !issue_or_end {
                return Err(LedgerError::BorrowedNotTransferable { to: leg.to.clone() });
            }
        }
        let from = ch.balance(self, &leg.from, leg.asset);
        let (posted, held) = match leg.hold {
            Some(id) => {
                let h = ch.hold(self, id)?;
                if h.account != leg.from || h.asset != leg.asset {
                    return Err(LedgerError::HoldMismatch { hold: id, leg: i });
                }
                if h.remaining < leg.amount {
                    return Err(LedgerError::HoldTooSmall { hold: id, remaining: h.remaining, needed: leg.amount });
                }
                ch.holds.insert(id, Hold { remaining: h.remaining - leg.amount, ..h });
                (from.posted - leg.amount, from.held - leg.amount)
            }
            None => {
                if !leg.from.is_source() && from.available() < leg.amount {
                    return Err(LedgerError::InsufficientBalance {
                        account: leg.from.clone(),
                        asset: leg.asset,
                        available: from.available(),
                        needed: leg.amount,
                    });
                }
                (from.posted.checked_sub(leg.amount).ok_or(LedgerError::Overflow)?, from.held)
            }
        };
        ch.set(&leg.from, leg.asset, Balance { posted, held });
        let to = ch.balance(self, &leg.to, leg.asset);
        let to_posted = to.posted.checked_add(leg.amount).ok_or(LedgerError::Overflow)?;
        ch.set(&leg.to, leg.asset, Balance { posted: to_posted, held: to.held });
        Ok(())
    }

    fn commit(&mut self, ch: Changes) {
        for (k, v) in ch.balances {
            self.balances.insert(k, v);
        }
        for (id, h) in ch.holds {
            if h.remaining == 0 {
                self.holds.remove(&id);
            } else {
                self.holds.insert(id, h);
            }
        }
    }

    /// Rebuilds a registry from a journal, entry by entry, with every rule applied again; refuses a
    /// journal with a gap or an entry the rules refuse.
    pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<Registry, (u64, LedgerError)> {
        let mut r = Registry::new();
        let mut group: Vec<&Entry> = Vec::new();
        let flush = |r: &mut Registry, group: &mut Vec<&Entry>| -> Result<(), (u64, LedgerError)> {
            if group.is_empty() {
                return Ok(());
            }
            let first = group[0].seq;
            let ops: Vec<Op> = group.iter().map(|e| e.op.clone()).collect();
            let rid = group[0].request_id.clone();
            r.apply(rid.as_deref(), ops).map_err(|e| (first, e))?;
            group.clear();
            Ok(())
        };
        let mut prev = 0;
        for e in entries {
            if e.seq != prev + 1 {
                return Err((e.seq, LedgerError::OutOfSequence { seq: e.seq, prev }));
            }
            prev = e.seq;
            // The entries of one request were one command: re-apply them together.
            let same_request = match (group.last(), &e.request_id) {
                (Some(last), Some(id)) => last.request_id.as_deref() == Some(id.as_str()),
                _ => false,
            };
            if !same_request {
                flush(&mut r, &mut group)?;
            }
            group.push(e);
        }
        flush(&mut r, &mut group)?;
        Ok(r)
    }

    /// Per asset: the sum over every account (sources included) is zero, i.e. what is held, retired
    /// and cancelled equals what was issued. True by construction; checked by tests and `verify`.
    pub fn conservation_gaps(&self) -> Vec<(Asset, i64)> {
        let mut sums: BTreeMap<Asset, i64> = BTreeMap::new();
        for ((_, asset), b) in &self.balances {
            *sums.entry(*asset).or_default() += b.posted;
        }
        sums.into_iter().filter(|(_, s)| *s != 0).collect()
    }

    /// Accounts whose balance breaks a rule (negative available outside the sources, more held than posted).
    pub fn overdrawn(&self) -> Vec<(Account, Asset, Balance)> {
        let mut out: Vec<_> = self
            .balances
            .iter()
            .filter(|((a, _), b)| !a.is_source() && (b.available() < 0 || b.held < 0))
            .map(|((a, s), b)| (a.clone(), *s, *b))
            .collect();
        out.sort();
        out
    }
}

#[derive(Default)]
struct Changes {
    balances: FxHashMap<(Account, Asset), Balance>,
    holds: FxHashMap<u64, Hold>,
    reversed: Vec<u64>,
}

impl Changes {
    fn balance(&self, r: &Registry, account: &Account, asset: Asset) -> Balance {
        let key = (account.clone(), asset);
        self.balances.get(&key).or_else(|| r.balances.get(&key)).copied().unwrap_or_default()
    }
    fn set(&mut self, account: &Account, asset: Asset, b: Balance) {
        self.balances.insert((account.clone(), asset), b);
    }
    fn hold(&self, r: &Registry, id: u64) -> Result<Hold, LedgerError> {
        self.holds.get(&id).or_else(|| r.holds.get(&id)).cloned().ok_or(LedgerError::UnknownHold { hold: id })
    }
}

impl PartialOrd for Balance {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Balance {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.posted, self.held).cmp(&(other.posted, other.held))
    }
}
