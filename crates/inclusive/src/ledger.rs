//! The points journal, as a registry keeps it: integer points, double entry (each entry's postings
//! sum to zero), an idempotent request id per entry, and no holder that must stay non-negative
//! ever below zero. Holders: a person's available points `acct:ID`, their points reserved by
//! redemption orders `held:ID`, and the programme's `sys:issued` (the source: it goes negative by
//! what was issued), `sys:redeemed` and `sys:expired`.
//!
//! issue: sys:issued → acct · reserve: acct → held · confirm: held → sys:redeemed ·
//! void: held → acct · expire: acct → sys:expired · reverse: acct → sys:issued.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Issue,
    Reserve,
    Confirm,
    Void,
    Expire,
    Reverse,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Issue,
        EntryKind::Reserve,
        EntryKind::Confirm,
        EntryKind::Void,
        EntryKind::Expire,
        EntryKind::Reverse,
    ];
    pub fn code(self) -> &'static str {
        match self {
            EntryKind::Issue => "issue",
            EntryKind::Reserve => "reserve",
            EntryKind::Confirm => "confirm",
            EntryKind::Void => "void",
            EntryKind::Expire => "expire",
            EntryKind::Reverse => "reverse",
        }
    }
    pub fn parse(s: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == s)
    }
}

pub const ISSUED: &str = "sys:issued";
pub const REDEEMED: &str = "sys:redeemed";
pub const EXPIRED: &str = "sys:expired";

pub fn available(account: i64) -> String {
    format!("acct:{account}")
}
pub fn held(account: i64) -> String {
    format!("held:{account}")
}

/// Whether a holder's balance may never go below zero (every one but `sys:issued`).
pub fn stays_non_negative(holder: &str) -> bool {
    holder != ISSUED
}

/// The postings of an entry: (holder, signed amount); they sum to zero.
pub fn postings(kind: EntryKind, account: i64, amount: i64) -> [(String, i64); 2] {
    let (from, to) = match kind {
        EntryKind::Issue => (ISSUED.to_string(), available(account)),
        EntryKind::Reserve => (available(account), held(account)),
        EntryKind::Confirm => (held(account), REDEEMED.to_string()),
        EntryKind::Void => (held(account), available(account)),
        EntryKind::Expire => (available(account), EXPIRED.to_string()),
        EntryKind::Reverse => (available(account), ISSUED.to_string()),
    };
    [(from, -amount), (to, amount)]
}

/// Why an entry is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The amount is not a positive whole number of points.
    BadAmount,
    /// A holder that must stay non-negative would go below zero.
    Insufficient(String),
    /// The request id was used for another entry.
    RequestReused,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub account: i64,
    pub amount: i64,
}

/// The journal in memory: the reference the store is tested against.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    pub balances: BTreeMap<String, i64>,
    pub entries: BTreeMap<String, Entry>,
}

impl Journal {
    /// Posts an entry under `request_id`; the same request again with the same entry is a no-op
    /// (returns false), with another entry it is refused.
    pub fn post(&mut self, request_id: &str, e: Entry) -> Result<bool, Refusal> {
        if let Some(prev) = self.entries.get(request_id) {
            return if *prev == e { Ok(false) } else { Err(Refusal::RequestReused) };
        }
        if e.amount <= 0 {
            return Err(Refusal::BadAmount);
        }
        let ps = postings(e.kind, e.account, e.amount);
        for (h, a) in &ps {
            let b = self.balances.get(h).copied().unwrap_or(0);
            if stays_non_negative(h) && b + a < 0 {
                return Err(Refusal::Insufficient(h.clone()));
            }
        }
        for (h, a) in ps {
            *self.balances.entry(h).or_default() += a;
        }
        self.entries.insert(request_id.to_string(), e);
        Ok(true)
    }
    pub fn balance(&self, holder: &str) -> i64 {
        self.balances.get(holder).copied().unwrap_or(0)
    }
    /// The journal balances: every balance summed is zero and none that must stay non-negative is below zero.
    pub fn is_sound(&self) -> bool {
        self.balances.values().sum::<i64>() == 0 && self.balances.iter().all(|(h, b)| !stays_non_negative(h) || *b >= 0)
    }
}

/// Points of one person that expire by age at a cutoff, first in, first out: points leave the
/// account (reserved for an order, expired, reversed) oldest first, so the points issued before
/// the cutoff still in the account are what was issued before it less everything that has left,
/// never more than the account holds. `issued_before`: points issued before the cutoff;
/// `issued_total`: all points ever issued to the account; `available`: its balance now. Applied
/// twice at the same cutoff it expires nothing the second time (what it expired has left).
pub fn points_expiring(issued_before: i64, issued_total: i64, available: i64) -> i64 {
    let left_account = issued_total - available;
    (issued_before - left_account).clamp(0, available.max(0))
}
