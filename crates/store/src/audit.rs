//! The audit log: who changed what, when, with the state before and after. Entries form a SHA-256
//! chain (each hash covers the previous hash and every field of the entry) and a head row holds
//! the last sequence number and hash, so editing, deleting, reordering or truncating history is
//! detected by [`Store::verify_audit`].
//!
//! A chain alone can be recomputed by anyone who can write the database. So the platform also
//! keeps an [`AuditKey`] outside the database (a file in the data directory, 0600): from the entry
//! `audit.keyed` on, every entry carries an HMAC-SHA256 of its sequence number and hash under that
//! key, which covers the entire prefix of the chain. Entries written before the key existed are
//! verified by their chain only, and the `audit.keyed` entry says how many there are. Removing
//! entries from the end is caught by an anchor: a (seq, hash) an auditor recorded elsewhere
//! (`dualcarbon audit head`), checked with [`VerifyOptions::anchors`].

use crate::{sha256_hex, Conn, Kind, Result, Store, StoreError};
use serde::Serialize;
use std::path::Path;

/// The action of the entry from which the log is keyed.
pub const KEYED_ACTION: &str = "audit.keyed";

/// The secret the audit entries' MACs are made with (32 random bytes). Kept outside the database.
#[derive(Clone)]
pub struct AuditKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.id())
    }
}

impl AuditKey {
    pub fn from_bytes(bytes: [u8; 32]) -> AuditKey {
        AuditKey { bytes }
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Result<AuditKey> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| StoreError::Database(format!("no randomness for the audit key: {e}")))?;
        Ok(AuditKey { bytes })
    }

    /// The public name of the key (not secret): 16 hex digits of a hash of it.
    pub fn id(&self) -> String {
        let mut t = b"dualcarbon-audit-key-id\n".to_vec();
        t.extend_from_slice(&self.bytes);
        sha256_hex(&t)[..16].to_string()
    }

    /// The MAC of entry `seq` with chain hash `hash`: HMAC-SHA256 over `dualcarbon-audit-v1\n{seq}\n{hash}`.
    pub fn mac(&self, seq: i64, hash: &str) -> String {
        let msg = format!("dualcarbon-audit-v1\n{seq}\n{hash}");
        hmac_sha256(&self.bytes, msg.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a key file: 64 hex digits (surrounding white space allowed).
    pub fn read(path: &Path) -> Result<AuditKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Invalid(format!("cannot read the audit key file {}: {e}", path.display())))?;
        let t = text.trim();
        let bad = || StoreError::Invalid(format!("{} is not an audit key file (64 hex digits)", path.display()));
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(AuditKey { bytes })
    }

    /// Reads the key file at `path`, or creates it (mode 0600, with its directory 0700) with a new
    /// random key when there is none. Returns the key and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(AuditKey, bool)> {
        if path.exists() {
            crate::datadir::secure_file(path);
            return Ok((AuditKey::read(path)?, false));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::datadir::create_dir(dir)?;
        }
        let key = AuditKey::generate()?;
        let hex: String = key.bytes.iter().map(|b| format!("{b:02x}")).collect();
        let io = |e: std::io::Error| {
            StoreError::Database(format!("cannot write the audit key file {}: {e}", path.display()))
        };
        let mut f = match crate::datadir::create_new_private(path) {
            Ok(f) => f,
            // Another instance created it meanwhile: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok((AuditKey::read(path)?, false)),
            Err(e) => return Err(io(e)),
        };
        std::io::Write::write_all(&mut f, format!("{hex}\n").as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok((key, true))
    }
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key` (at most 64 bytes here).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(msg).finalize();
    Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
}

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
    /// HMAC-SHA256 under the audit key of `seq` and `hash` (empty before the log was keyed).
    pub mac: String,
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

/// Appends one entry inside the caller's transaction. On a keyed log it carries the MAC under the
/// connection's audit key ([`Conn::audit_key`]); a keyed log refuses entries without that key. With
/// a key on a log not yet keyed, the `audit.keyed` entry is appended first.
pub fn append(c: &mut dyn Conn, kind: Kind, change: Change<'_>) -> Result<i64> {
    Ok(append_all(c, kind, vec![change])?[0])
}

/// Appends entries in order inside the caller's transaction, as [`append`] would one by one (same
/// chain, same MACs), with one read and one update of the head and the entries inserted many rows
/// per statement: what a batch of commands writes (the internal market's group commit).
pub fn append_all(c: &mut dyn Conn, kind: Kind, changes: Vec<Change<'_>>) -> Result<Vec<i64>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let lock = if kind == Kind::Postgres { " FOR UPDATE" } else { "" };
    let head = c.query(&format!("SELECT seq, hash, key_id FROM audit_head WHERE id = 1{lock}"), &[])?;
    let (mut seq, mut hash, key_id) = (head[0].int(0), head[0].text(1), head[0].text(2));
    let key = c.audit_key().cloned();
    match &key {
        None if !key_id.is_empty() => {
            return Err(StoreError::Invalid(format!(
                "the audit log is keyed (key id {key_id}): open the platform with its audit key file"
            )))
        }
        Some(k) if !key_id.is_empty() && k.id() != key_id => {
            return Err(StoreError::Invalid(format!(
                "the audit log is keyed with key id {key_id}, not with the given key (id {}): give the key file the log was keyed with",
                k.id()
            )))
        }
        Some(k) if key_id.is_empty() => (seq, hash) = append_keyed_marker(c, seq, hash, k)?,
        _ => {}
    }
    let mut entries = Vec::with_capacity(changes.len());
    for change in changes {
        let e = make_entry(seq, hash, key.as_ref(), change);
        seq = e.seq;
        hash = e.hash.clone();
        entries.push(e);
    }
    insert_entries(c, &entries)?;
    let key_id = key.map(|k| k.id()).unwrap_or_default();
    c.exec(
        "UPDATE audit_head SET seq = $1, hash = $2, key_id = $3 WHERE id = 1",
        &[seq.into(), hash.into(), key_id.into()],
    )?;
    Ok(entries.iter().map(|e| e.seq).collect())
}

/// The `audit.keyed` entry after entry `seq` with hash `hash`: from it on, entries carry MACs.
fn append_keyed_marker(c: &mut dyn Conn, seq: i64, hash: String, key: &AuditKey) -> Result<(i64, String)> {
    let after = serde_json::json!({
        "key_id": key.id(),
        "unkeyed_entries": seq,
        "note": format!("entries 1..{seq} were written before the audit key and are verified by their hash chain only; from this entry on every entry carries an HMAC-SHA256 under the key"),
    });
    let root = c.query("SELECT code FROM orgs WHERE depth = 0 ORDER BY code LIMIT 1", &[])?;
    let org = root.first().map(|r| r.text(0)).unwrap_or_default();
    let marker = Change {
        actor: "system",
        action: KEYED_ACTION,
        entity: "audit".into(),
        org_code: &org,
        before: serde_json::Value::Null,
        after,
    };
    insert_entry(c, seq, hash, Some(key), marker)
}

fn insert_entry(
    c: &mut dyn Conn,
    prev_seq: i64,
    prev_hash: String,
    key: Option<&AuditKey>,
    change: Change<'_>,
) -> Result<(i64, String)> {
    let e = make_entry(prev_seq, prev_hash, key, change);
    insert_entries(c, std::slice::from_ref(&e))?;
    Ok((e.seq, e.hash))
}

/// The entry after `prev_seq` with its hash and, with a key, its MAC.
fn make_entry(prev_seq: i64, prev_hash: String, key: Option<&AuditKey>, change: Change<'_>) -> AuditEntry {
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
        mac: String::new(),
    };
    e.hash = entry_hash(&e);
    e.mac = key.map(|k| k.mac(e.seq, &e.hash)).unwrap_or_default();
    e
}

/// Rows per INSERT statement (11 parameters each: within both backends' parameter limits).
const ENTRIES_PER_INSERT: usize = 500;

fn insert_entries(c: &mut dyn Conn, entries: &[AuditEntry]) -> Result<()> {
    for chunk in entries.chunks(ENTRIES_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit (seq, at, actor, action, entity, org_code, before_json, after_json, prev_hash, hash, mac) VALUES ",
        );
        let mut params: Vec<crate::backend::Value> = Vec::with_capacity(chunk.len() * 11);
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 11;
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10,
                b + 11
            ));
            params.extend([
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
                e.mac.as_str().into(),
            ]);
        }
        c.exec(&sql, &params)?;
    }
    Ok(())
}

/// The head of the log: what an auditor records elsewhere as an anchor.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    /// The head entry's MAC under the audit key (empty when the log is not keyed).
    pub mac: String,
}

impl Head {
    /// `SEQ:HASH`, the form `dualcarbon audit verify --anchor` takes.
    pub fn anchor(&self) -> String {
        format!("{}:{}", self.seq, self.hash)
    }
}

/// An anchor: an entry's sequence number and hash recorded outside the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Anchor, String> {
        let bad = || {
            format!("{s:?} is not an anchor: expected SEQ:HASH (64 hex digits), as `dualcarbon audit head` prints it")
        };
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let hash = hash.to_ascii_lowercase();
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Anchor { seq, hash })
    }
}

/// What [`Store::verify_audit_with`] checks beyond the chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Heads recorded earlier: the log must still hold each, unchanged.
    pub anchors: Vec<Anchor>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub entries: i64,
    pub ok: bool,
    /// Each problem found, naming the entry.
    pub problems: Vec<String>,
    /// The last entry (sequence number, hash and MAC).
    pub head: Head,
    /// The `audit.keyed` entry: from it on every entry carries a MAC (None: the log is not keyed).
    pub keyed_from: Option<i64>,
    /// The id of the key the log is keyed with (from the `audit.keyed` entry).
    pub key_id: Option<String>,
    /// Whether the MACs were checked (the log is keyed and the verifier had its key).
    pub macs_checked: bool,
    /// Anchors checked (each one found unchanged, or named in `problems`).
    pub anchors_checked: usize,
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
        mac: r.text(10),
    }
}

const COLUMNS: &str = "seq, at, actor, action, entity, org_code, before_json, after_json, prev_hash, hash, mac";

/// Which audit entries a page of the log shows, and in which order ([`Store::audit_page`]).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries of the orgs within this subtree (an org path, `/CT/CT-GD/`); empty: every org.
    pub org_path: String,
    /// Only entries by this user (exact).
    pub actor: Option<String>,
    /// Only entries with this action (exact, `filing.approve`).
    pub action: Option<String>,
    /// Only entries at or after this time (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC).
    pub from: Option<String>,
    /// Only entries before this time (exclusive, the same form).
    pub to: Option<String>,
    /// Newest first (`seq` descending) instead of oldest first.
    pub newest_first: bool,
    /// Oldest first: entries after this `seq`; newest first: entries before it. `None`: from the start.
    pub cursor: Option<i64>,
    /// At most this many entries.
    pub limit: i64,
}

impl AuditQuery {
    /// The `WHERE` clause (without the cursor) and its parameters, numbered from `$1`.
    fn filter(&self) -> (String, Vec<crate::Value>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<crate::Value> = Vec::new();
        let mut push = |clause: &str, v: crate::Value, params: &mut Vec<crate::Value>| {
            params.push(v);
            clauses.push(clause.replace('?', &format!("${}", params.len())));
        };
        if !self.org_path.is_empty() {
            push(
                "org_code IN (SELECT code FROM orgs WHERE path LIKE ? ESCAPE '\\')",
                crate::like_prefix(&self.org_path).into(),
                &mut params,
            );
        }
        if let Some(a) = &self.actor {
            push("actor = ?", a.into(), &mut params);
        }
        if let Some(a) = &self.action {
            push("action = ?", a.into(), &mut params);
        }
        if let Some(t) = &self.from {
            push("at >= ?", t.into(), &mut params);
        }
        if let Some(t) = &self.to {
            push("at < ?", t.into(), &mut params);
        }
        let sql = if clauses.is_empty() { "1 = 1".to_string() } else { clauses.join(" AND ") };
        (sql, params)
    }
}

/// One page of the audit log: its entries and how many entries match the query in all.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
}

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

    /// A page of the log filtered by org subtree, actor, action and time, oldest or newest first,
    /// with the number of matching entries (one query for the page, one for the count).
    pub fn audit_page(&self, q: &AuditQuery) -> Result<AuditPage> {
        let (filter, mut params) = q.filter();
        let (entries, total) = self.read(|c| {
            let total = c.query(&format!("SELECT COUNT(*) FROM audit WHERE {filter}"), &params)?[0].int(0);
            let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE {filter}");
            if let Some(cursor) = q.cursor {
                params.push(cursor.into());
                sql.push_str(&format!(" AND seq {} ${}", if q.newest_first { "<" } else { ">" }, params.len()));
            }
            params.push(q.limit.into());
            sql.push_str(&format!(
                " ORDER BY seq {} LIMIT ${}",
                if q.newest_first { "DESC" } else { "ASC" },
                params.len()
            ));
            Ok((c.query(&sql, &params)?, total))
        })?;
        Ok(AuditPage { entries: entries.iter().map(entry).collect(), total })
    }

    /// Recomputes the whole chain: every hash, every link, gap-free sequence, and the head; with
    /// the store's audit key, every MAC from the `audit.keyed` entry on.
    pub fn verify_audit(&self) -> Result<Verification> {
        self.verify_audit_with(&VerifyOptions::default())
    }

    /// [`Store::verify_audit`], and the log still holds every anchor of `opts` unchanged.
    pub fn verify_audit_with(&self, opts: &VerifyOptions) -> Result<Verification> {
        let key = self.audit_key.as_ref();
        let mut problems = Vec::new();
        let mut prev_hash = "0".repeat(64);
        let mut prev_mac = String::new();
        let mut expected_seq = 1;
        let mut after = 0;
        let mut keyed_from: Option<i64> = None;
        let mut key_id: Option<String> = None;
        let mut anchors: std::collections::HashMap<i64, &str> =
            opts.anchors.iter().map(|a| (a.seq, a.hash.as_str())).collect();
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
                if e.action == KEYED_ACTION {
                    if let Some(k) = keyed_from {
                        problems.push(format!(
                            "entry {}: a second audit.keyed entry (the log is keyed from entry {k})",
                            e.seq
                        ));
                    } else {
                        keyed_from = Some(e.seq);
                        let after: serde_json::Value = serde_json::from_str(&e.after).unwrap_or_default();
                        key_id = after["key_id"].as_str().map(str::to_string);
                    }
                }
                match keyed_from {
                    None if !e.mac.is_empty() => problems.push(format!(
                        "entry {}: carries a MAC although the log is not keyed before it (the audit.keyed entry was removed)",
                        e.seq
                    )),
                    Some(k) if e.mac.is_empty() => problems.push(format!(
                        "entry {}: has no MAC although the log is keyed from entry {k} (written or rewritten without the audit key)",
                        e.seq
                    )),
                    Some(_) => {
                        if let Some(key) = key.filter(|k| Some(k.id()) == key_id) {
                            if key.mac(e.seq, &e.hash) != e.mac {
                                problems.push(format!(
                                    "entry {}: its MAC does not match under the audit key (written or rewritten without the key)",
                                    e.seq
                                ));
                            }
                        }
                    }
                    None => {}
                }
                if let Some(want) = anchors.remove(&e.seq) {
                    if want != e.hash {
                        problems.push(format!(
                            "anchor {}:{want}: entry {} now has hash {} (history up to the anchor was rewritten)",
                            e.seq, e.seq, e.hash
                        ));
                    }
                }
                prev_hash = e.hash.clone();
                prev_mac = e.mac.clone();
                expected_seq = e.seq + 1;
            }
        }
        let entries = expected_seq - 1;
        let mut missing: Vec<_> = anchors.into_iter().collect();
        missing.sort();
        for (seq, hash) in missing {
            problems.push(format!(
                "anchor {seq}:{hash}: the log has no entry {seq} any more ({entries} entries; entries were removed from the end)"
            ));
        }
        let head = self.read(|c| c.query("SELECT seq, hash, key_id FROM audit_head WHERE id = 1", &[]))?;
        match head.first() {
            Some(h) if h.int(0) == entries && h.text(1) == prev_hash => {
                if h.text(2) != key_id.clone().unwrap_or_default() {
                    problems.push(format!(
                        "the head names key id {:?}, the log's audit.keyed entry {:?} (the head was edited)",
                        h.text(2),
                        key_id.clone().unwrap_or_default()
                    ));
                }
            }
            Some(h) => problems.push(format!(
                "head says {} entries ending in {}, the log has {entries} ending in {prev_hash} (entries were removed from the end or the head was edited)",
                h.int(0),
                h.text(1)
            )),
            None => problems.push("the audit head row is missing".into()),
        }
        let mut macs_checked = false;
        if let Some(k) = key {
            match &key_id {
                None => problems.push(format!(
                    "the platform's audit key (id {}) exists but no entry of this log is keyed: the history was rewritten without the key, or the log comes from another platform",
                    k.id()
                )),
                Some(id) if *id != k.id() => problems.push(format!(
                    "the log is keyed with key id {id}, the key given has id {}: give the key file the log was keyed with",
                    k.id()
                )),
                Some(_) => macs_checked = true,
            }
        }
        let anchors_checked = opts.anchors.len();
        Ok(Verification {
            entries,
            ok: problems.is_empty(),
            problems,
            head: Head { seq: entries, hash: if entries == 0 { String::new() } else { prev_hash }, mac: prev_mac },
            keyed_from,
            key_id,
            macs_checked,
            anchors_checked,
        })
    }

    /// The log's head now: the last entry's sequence number, hash and MAC.
    pub fn audit_head(&self) -> Result<Head> {
        let rows = self
            .read(|c| c.query(&format!("SELECT {COLUMNS} FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)"), &[]))?;
        Ok(rows.first().map(entry).map_or(Head { seq: 0, hash: String::new(), mac: String::new() }, |e| Head {
            seq: e.seq,
            hash: e.hash,
            mac: e.mac,
        }))
    }

    /// With an audit key: appends the `audit.keyed` entry when the log is not keyed yet (existing
    /// logs migrate here); refuses a log keyed with another key. Call at start, after
    /// [`Store::with_audit_key`]. Returns the `audit.keyed` entry's number when it was appended now.
    pub fn seal_audit(&self) -> Result<Option<i64>> {
        let Some(key) = self.audit_key.clone() else { return Ok(None) };
        let lock = if self.kind() == Kind::Postgres { " FOR UPDATE" } else { "" };
        self.tx(|c| {
            let head = c.query(&format!("SELECT seq, key_id, hash FROM audit_head WHERE id = 1{lock}"), &[])?;
            let key_id = head[0].text(1);
            if key_id == key.id() {
                return Ok(None);
            }
            if !key_id.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "the audit log is keyed with key id {key_id}, not with this platform's key (id {}): give the key file the log was keyed with (--audit-key-file)",
                    key.id()
                )));
            }
            let (seq, hash) = append_keyed_marker(c, head[0].int(0), head[0].text(2), &key)?;
            c.exec(
                "UPDATE audit_head SET seq = $1, hash = $2, key_id = $3 WHERE id = 1",
                &[seq.into(), hash.into(), key.id().into()],
            )?;
            Ok(Some(seq))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_matches_rfc_4231() {
        let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(super::hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(super::hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn anchors_parse_as_printed() {
        let a: super::Anchor = format!("12:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(a.seq, 12);
        assert!("12".parse::<super::Anchor>().is_err());
        assert!("x:00".parse::<super::Anchor>().is_err());
    }
}
