//! Filings: one org's activity for one month, moving draft → submitted → approved (locked) or
//! returned (with a comment) → draft again. Uploads add rows to a draft; a row with the key of a
//! row already in the filing replaces it, and a file uploaded twice is recognised by its SHA-256,
//! so nothing is counted twice. Rejected rows are kept in quarantine with their reasons. An
//! approved filing is never changed: a restatement is a new version (with a reason) that starts as
//! a copy; the approved version stays readable, and inventories use the newest approved version.

use crate::audit::{append, Change};
use crate::{Conn, Result, Row, Store, StoreError, Value};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Filing {
    pub id: i64,
    pub org_code: String,
    pub period: String,
    pub version: i64,
    pub status: String,
    pub supersedes: Option<i64>,
    pub reason: String,
    pub comment: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// `activity` (a month of bills) or `business` (a year of business data, see [`BUSINESS`]).
    pub kind: String,
    /// Path of the filing's org (access control).
    #[serde(skip)]
    pub org_path: String,
}

/// One activity row as filed (text as written; validated by the server through `ingest`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct ActivityRow {
    pub facility_code: String,
    pub period: String,
    pub carrier: String,
    pub quantity: String,
    pub unit: String,
    pub source_document: String,
    pub evidence_ref: String,
    pub line: i64,
}

/// A rejected row with every reason, as kept in quarantine.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RejectedRow {
    pub row: ActivityRow,
    pub reasons: String,
    /// The reasons as codes with their parameters (`{column, code, value, params}`), for the
    /// console to word in the user's language (docs/formats.md, rejected rows). Given by the import
    /// that judged the row; not kept in quarantine (a row read back has its English `reasons`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<serde_json::Value>,
}

/// What becomes of a line of an upload.
pub enum Outcome {
    Accepted(ActivityRow),
    Rejected(RejectedRow),
    /// A template line left unfilled (no quantity, no source document, no evidence): read and
    /// counted (`rows_read`), not stored. A line with anything of a bill in it is judged instead.
    Skipped,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Upload {
    pub id: i64,
    pub filing_id: i64,
    pub sha256: String,
    pub file_name: String,
    pub rows_read: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub created_by: String,
    pub created_at: String,
}

pub const STATUSES: [&str; 4] = ["draft", "submitted", "approved", "returned"];

const COLS: &str =
    "f.id, f.org_code, f.period, f.version, f.status, f.supersedes, f.reason, f.comment, f.created_by, f.created_at, f.updated_at, o.path, f.kind";
const ACT_COLS: &str = "facility_code, period, carrier, quantity, unit, source_document, evidence_ref, line";
const UPLOAD_COLS: &str = "id, filing_id, sha256, file_name, rows_read, accepted, rejected, created_by, created_at";

fn filing(r: &Row) -> Filing {
    Filing {
        id: r.int(0),
        org_code: r.text(1),
        period: r.text(2),
        version: r.int(3),
        status: r.text(4),
        supersedes: r.opt_int(5),
        reason: r.text(6),
        comment: r.text(7),
        created_by: r.text(8),
        created_at: r.text(9),
        updated_at: r.text(10),
        org_path: r.text(11),
        kind: r.text(12),
    }
}

fn activity(r: &Row) -> ActivityRow {
    ActivityRow {
        facility_code: r.text(0),
        period: r.text(1),
        carrier: r.text(2),
        quantity: r.text(3),
        unit: r.text(4),
        source_document: r.text(5),
        evidence_ref: r.text(6),
        line: r.int(7),
    }
}

/// [`activity`] of a row read with its id first, moving its text instead of copying it (an
/// inventory reads millions of rows).
fn activity_owned(r: Row) -> ActivityRow {
    let line = match r.0.get(8) {
        Some(Value::Int(v)) => *v,
        Some(Value::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    };
    let mut text = r.0.into_iter().skip(1).map(|v| match v {
        Value::Text(t) => t,
        other => Row(vec![other]).text(0),
    });
    let mut next = || text.next().unwrap_or_default();
    ActivityRow {
        facility_code: next(),
        period: next(),
        carrier: next(),
        quantity: next(),
        unit: next(),
        source_document: next(),
        evidence_ref: next(),
        line,
    }
}

fn upload(r: &Row) -> Upload {
    Upload {
        id: r.int(0),
        filing_id: r.int(1),
        sha256: r.text(2),
        file_name: r.text(3),
        rows_read: r.int(4),
        accepted: r.int(5),
        rejected: r.int(6),
        created_by: r.text(7),
        created_at: r.text(8),
    }
}

/// The kind of a filing of business data (telecom business volume, traffic, compute, ...): one
/// org's year (period `YYYY`); its rows keep the subject org's code in `facility_code`, the metric
/// in `carrier` and the value in `quantity` (docs/formats.md, business-data.csv).
pub const BUSINESS: &str = "business";
/// The kind of a monthly filing of activity (bills).
pub const ACTIVITY: &str = "activity";

/// `YYYY-MM` with a month 01-12.
/// The first month that can be filed: before it there is no inventory to file for (the base
/// years of China's targets are 2005 and later; the accounting rules are from 2013 on).
pub const FIRST_PERIOD: &str = "1990-01";

/// The current month in China (UTC+8) as YYYY-MM: the last month that can be filed.
pub fn latest_period() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    crate::format_time(secs as i64 + 8 * 3600, 0)[..7].to_string()
}

pub fn valid_period(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(p[5..].parse::<u8>(), Ok(1..=12))
}

fn get(c: &mut dyn Conn, id: i64) -> Result<Filing> {
    c.query(&format!("SELECT {COLS} FROM filings f JOIN orgs o ON o.code = f.org_code WHERE f.id = $1"), &[id.into()])?
        .first()
        .map(filing)
        .ok_or_else(|| StoreError::NotFound(format!("filing {id}")))
}

fn state(f: &Filing) -> serde_json::Value {
    serde_json::json!({"status": f.status, "version": f.version, "comment": f.comment, "reason": f.reason})
}

/// Rows are written this many at a time (one statement), well below both backends' parameter limits.
const BATCH: usize = 500;

/// Copies the rows of the filing that `rows` will replace (same key, different values) into
/// activity_replaced; returns how many.
fn keep_replaced(c: &mut dyn Conn, filing_id: i64, upload_id: i64, rows: &[ActivityRow]) -> Result<u64> {
    let (sql, params) = keep_replaced_sql(filing_id, upload_id, rows);
    c.exec(&sql, &params)
}

/// The statement of [`keep_replaced`] and its parameters.
fn keep_replaced_sql(filing_id: i64, upload_id: i64, rows: &[ActivityRow]) -> (String, Vec<Value>) {
    let mut sql = String::from(
        "WITH n (facility_code, period, carrier, source_document, quantity, unit, evidence_ref) AS (VALUES ",
    );
    let mut params: Vec<Value> = Vec::with_capacity(rows.len() * 7 + 2);
    params.push(filing_id.into());
    params.push(upload_id.into());
    for (k, r) in rows.iter().enumerate() {
        if k > 0 {
            sql.push(',');
        }
        let b = 2 + k * 7;
        sql.push_str(&format!(
            "(CAST(${} AS TEXT),CAST(${} AS TEXT),CAST(${} AS TEXT),CAST(${} AS TEXT),CAST(${} AS TEXT),CAST(${} AS TEXT),CAST(${} AS TEXT))",
            b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
        ));
        params.extend([
            r.facility_code.as_str().into(),
            r.period.as_str().into(),
            r.carrier.as_str().into(),
            r.source_document.as_str().into(),
            r.quantity.as_str().into(),
            r.unit.as_str().into(),
            r.evidence_ref.as_str().into(),
        ]);
    }
    // `n CROSS JOIN activity`: SQLite keeps the left table of a CROSS JOIN outside, so each new
    // row finds its stored row through the filing's unique key. Left to itself it walked every
    // row of the filing for each batch: a 1,000,000-row correction held the writer 400 s
    // (issue 11). PostgreSQL plans it the same either way.
    sql.push_str(
        ") INSERT INTO activity_replaced (filing_id, replaced_by_upload, facility_code, period, carrier, quantity, unit, source_document, evidence_ref, upload_id, line) \
         SELECT a.filing_id, $2, a.facility_code, a.period, a.carrier, a.quantity, a.unit, a.source_document, a.evidence_ref, a.upload_id, a.line \
         FROM n CROSS JOIN activity a WHERE a.filing_id = $1 AND a.facility_code = n.facility_code AND a.period = n.period \
         AND a.carrier = n.carrier AND a.source_document = n.source_document \
         AND (a.quantity <> n.quantity OR a.unit <> n.unit OR a.evidence_ref <> n.evidence_ref)",
    );
    (sql, params)
}

fn insert_activity(c: &mut dyn Conn, filing_id: i64, upload_id: i64, rows: &[ActivityRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("INSERT INTO activity (filing_id, upload_id, facility_code, period, carrier, quantity, unit, source_document, evidence_ref, line) VALUES ");
    let mut params: Vec<Value> = Vec::with_capacity(rows.len() * 8 + 2);
    params.push(filing_id.into());
    params.push(upload_id.into());
    for (k, r) in rows.iter().enumerate() {
        if k > 0 {
            sql.push(',');
        }
        let b = 2 + k * 8;
        sql.push_str(&format!(
            "($1,$2,${},${},${},${},${},${},${},${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
        params.extend([
            r.facility_code.as_str().into(),
            r.period.as_str().into(),
            r.carrier.as_str().into(),
            r.quantity.as_str().into(),
            r.unit.as_str().into(),
            r.source_document.as_str().into(),
            r.evidence_ref.as_str().into(),
            r.line.into(),
        ]);
    }
    sql.push_str(
        " ON CONFLICT (filing_id, facility_code, period, carrier, source_document) DO UPDATE SET quantity = excluded.quantity, \
         unit = excluded.unit, evidence_ref = excluded.evidence_ref, upload_id = excluded.upload_id, line = excluded.line",
    );
    c.exec(&sql, &params)?;
    Ok(())
}

fn insert_rejected(c: &mut dyn Conn, filing_id: i64, upload_id: i64, rows: &[RejectedRow]) -> Result<()> {
    for r in rows {
        let a = &r.row;
        c.exec(
            "INSERT INTO quarantine (filing_id, upload_id, line, facility_code, period, carrier, quantity, unit, source_document, evidence_ref, reasons) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                filing_id.into(),
                upload_id.into(),
                a.line.into(),
                a.facility_code.as_str().into(),
                a.period.as_str().into(),
                a.carrier.as_str().into(),
                a.quantity.as_str().into(),
                a.unit.as_str().into(),
                a.source_document.as_str().into(),
                a.evidence_ref.as_str().into(),
                r.reasons.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

impl Store {
    /// Opens a new filing (version 1, draft) for `org_code` and `period`. One org's month is one
    /// filing (later changes are uploads into it or restatements of it). Filings of nested orgs may
    /// coexist; a facility's month can only be in one of them (see [`Store::record_upload`]).
    pub fn create_filing(&self, actor: &str, org_code: &str, period: &str) -> Result<Filing> {
        if !valid_period(period) {
            return Err(StoreError::Invalid(format!("period {period:?} must be YYYY-MM")));
        }
        let latest = latest_period();
        if period < FIRST_PERIOD || period > latest.as_str() {
            return Err(StoreError::Invalid(format!(
                "period {period} is outside the months that can be filed ({FIRST_PERIOD} to {latest}, the current month in China)"
            )));
        }
        let kind = self.kind();
        self.tx(|c| {
            if c.query("SELECT path FROM orgs WHERE code = $1", &[org_code.into()])?.is_empty() {
                return Err(StoreError::NotFound(format!("org {org_code}")));
            }
            let existing = c.query("SELECT id FROM filings WHERE org_code = $1 AND period = $2 ORDER BY version LIMIT 1", &[org_code.into(), period.into()])?;
            if let Some(r) = existing.first() {
                return Err(StoreError::Conflict(format!(
                    "filing {} already holds {org_code}'s {period}; upload into it (or restate it)",
                    r.int(0)
                )));
            }
            let now = crate::now();
            let id = c.query(
                "INSERT INTO filings (org_code, period, version, status, supersedes, reason, comment, created_by, created_at, updated_at) \
                 VALUES ($1, $2, 1, 'draft', NULL, '', '', $3, $4, $4) RETURNING id",
                &[org_code.into(), period.into(), actor.into(), now.into()],
            )?[0]
                .int(0);
            let f = get(c, id)?;
            append(c, kind, Change { actor, action: "filing.create", entity: format!("filing/{id}"), org_code, before: serde_json::Value::Null, after: state(&f) })?;
            Ok(f)
        })
    }

    /// Opens a business-data filing (version 1, draft) for `org_code` and `year` (period `YYYY`,
    /// from 1990 to the current year in China): one org's year is one filing, like a month of
    /// activity; rows of an org's year filed in another org's filing are refused as in activity.
    pub fn create_business_filing(&self, actor: &str, org_code: &str, year: i32) -> Result<Filing> {
        let latest: i32 = latest_period()[..4].parse().unwrap_or(2100);
        if !(1990..=latest).contains(&year) {
            return Err(StoreError::Invalid(format!(
                "year {year} is outside the years that can be filed (1990 to {latest}, the current year in China)"
            )));
        }
        let period = format!("{year:04}");
        let kind = self.kind();
        self.tx(|c| {
            if c.query("SELECT path FROM orgs WHERE code = $1", &[org_code.into()])?.is_empty() {
                return Err(StoreError::NotFound(format!("org {org_code}")));
            }
            let existing = c.query(
                "SELECT id FROM filings WHERE org_code = $1 AND period = $2 ORDER BY version LIMIT 1",
                &[org_code.into(), period.as_str().into()],
            )?;
            if let Some(r) = existing.first() {
                return Err(StoreError::Conflict(format!(
                    "filing {} already holds {org_code}'s business data of {period}; upload into it (or restate it)",
                    r.int(0)
                )));
            }
            let now = crate::now();
            let id = c.query(
                "INSERT INTO filings (org_code, period, version, status, supersedes, reason, comment, created_by, created_at, updated_at, kind) \
                 VALUES ($1, $2, 1, 'draft', NULL, '', '', $3, $4, $4, $5) RETURNING id",
                &[org_code.into(), period.as_str().into(), actor.into(), now.into(), BUSINESS.into()],
            )?[0]
                .int(0);
            let f = get(c, id)?;
            append(c, kind, Change { actor, action: "filing.create", entity: format!("filing/{id}"), org_code, before: serde_json::Value::Null, after: serde_json::json!({"status": f.status, "version": f.version, "kind": BUSINESS, "period": period}) })?;
            Ok(f)
        })
    }

    /// The newest approved version of every business-data filing of the orgs within `path`
    /// (what indicators read), sorted by id.
    pub fn current_business_filings(&self, path: &str) -> Result<Vec<Filing>> {
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {COLS} FROM filings f JOIN orgs o ON o.code = f.org_code WHERE f.status = 'approved' AND f.kind = $1 \
                     AND o.path LIKE $2 ESCAPE '\\' \
                     AND f.version = (SELECT MAX(g.version) FROM filings g WHERE g.org_code = f.org_code AND g.period = f.period AND g.status = 'approved') \
                     ORDER BY f.id"
                ),
                &[BUSINESS.into(), crate::like_prefix(path).into()],
            )
        })?;
        Ok(rows.iter().map(filing).collect())
    }

    /// What changes when business data is approved or restated (a fingerprint for caches).
    pub fn business_fingerprint(&self) -> Result<String> {
        let r = self.read(|c| {
            c.query("SELECT COUNT(*), MAX(id), MAX(updated_at) FROM filings WHERE kind = $1", &[BUSINESS.into()])
        })?;
        Ok(format!("{}/{:?}/{}", r[0].int(0), r[0].opt_int(1), r[0].text(2)))
    }

    pub fn filing(&self, id: i64) -> Result<Filing> {
        self.read(|c| get(c, id))
    }

    /// Filings of the orgs within the subtree with root `path`, optionally of one period, newest first.
    pub fn filings_within(&self, path: &str, period: Option<&str>) -> Result<Vec<Filing>> {
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {COLS} FROM filings f JOIN orgs o ON o.code = f.org_code WHERE o.path LIKE $1 ESCAPE '\\' \
                     AND ($2 = '' OR f.period = $2) ORDER BY f.period DESC, f.org_code, f.version DESC"
                ),
                &[crate::like_prefix(path).into(), period.unwrap_or("").into()],
            )
        })?;
        Ok(rows.iter().map(filing).collect())
    }

    /// Facilities that already have rows for this filing's month in a filing of another org (a
    /// nested or enclosing org), with that filing's id: their rows here would count twice.
    pub fn filed_elsewhere(&self, filing_id: i64) -> Result<std::collections::HashMap<String, i64>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT DISTINCT a.facility_code, a.filing_id FROM activity a JOIN filings g ON g.id = a.filing_id \
                 JOIN filings f ON f.id = $1 WHERE g.period = f.period AND g.org_code <> f.org_code",
                &[filing_id.into()],
            )
        })?;
        Ok(rows.iter().map(|r| (r.text(0), r.int(1))).collect())
    }

    /// The upload of this exact file (by SHA-256) into this filing, if there was one.
    pub fn find_upload(&self, filing_id: i64, sha256: &str) -> Result<Option<Upload>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE filing_id = $1 AND sha256 = $2"),
                    &[filing_id.into(), sha256.into()],
                )
            })?
            .first()
            .map(upload))
    }

    pub fn uploads(&self, filing_id: i64) -> Result<Vec<Upload>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE filing_id = $1 ORDER BY id"),
                    &[filing_id.into()],
                )
            })?
            .iter()
            .map(upload)
            .collect())
    }

    /// Records one uploaded file: accepted rows go into the filing (replacing rows with the same
    /// key), rejected rows into quarantine; quarantined rows of earlier uploads whose key is now
    /// accepted leave quarantine. All in one transaction. The filing must be a draft or returned
    /// (it becomes a draft); the same file twice returns the first upload and changes nothing. An
    /// `Err` from `rows` (the file cannot be read further) cancels the whole upload.
    pub fn record_upload(
        &self,
        actor: &str,
        filing_id: i64,
        sha256: &str,
        file_name: &str,
        rows: &mut dyn Iterator<Item = std::result::Result<Outcome, String>>,
    ) -> Result<(Upload, bool)> {
        let kind = self.kind();
        self.tx(|c| {
            let f = get(c, filing_id)?;
            if let Some(u) = c
                .query(&format!("SELECT {UPLOAD_COLS} FROM uploads WHERE filing_id = $1 AND sha256 = $2"), &[filing_id.into(), sha256.into()])?
                .first()
            {
                return Ok((upload(u), false));
            }
            if f.status != "draft" && f.status != "returned" {
                return Err(StoreError::Conflict(format!(
                    "filing {filing_id} is {}; only a draft or returned filing takes uploads (restate an approved one)",
                    f.status
                )));
            }
            let now = crate::now();
            let upload_id = c.query(
                "INSERT INTO uploads (filing_id, sha256, file_name, rows_read, accepted, rejected, created_by, created_at) VALUES ($1, $2, $3, 0, 0, 0, $4, $5) RETURNING id",
                &[filing_id.into(), sha256.into(), file_name.into(), actor.into(), now.as_str().into()],
            )?[0]
                .int(0);
            let (mut accepted, mut rejected, mut skipped, mut replaced) = (0i64, 0i64, 0i64, 0u64);
            // Only a filing that already has rows can see rows replaced (a fresh import skips the check).
            let had_rows = !c.query("SELECT id FROM activity WHERE filing_id = $1 LIMIT 1", &[filing_id.into()])?.is_empty();
            let mut batch = Vec::with_capacity(BATCH);
            let mut bad = Vec::new();
            for o in rows {
                // A file that turns out unreadable half-way records nothing (the transaction rolls back).
                match o.map_err(StoreError::Invalid)? {
                    Outcome::Accepted(r) => {
                        accepted += 1;
                        batch.push(r);
                        if batch.len() == BATCH {
                            if had_rows {
                                replaced += keep_replaced(c, filing_id, upload_id, &batch)?;
                            }
                            insert_activity(c, filing_id, upload_id, &batch)?;
                            batch.clear();
                        }
                    }
                    Outcome::Rejected(r) => {
                        rejected += 1;
                        bad.push(r);
                        if bad.len() == BATCH {
                            insert_rejected(c, filing_id, upload_id, &bad)?;
                            bad.clear();
                        }
                    }
                    Outcome::Skipped => skipped += 1,
                }
            }
            if had_rows && !batch.is_empty() {
                replaced += keep_replaced(c, filing_id, upload_id, &batch)?;
            }
            insert_activity(c, filing_id, upload_id, &batch)?;
            insert_rejected(c, filing_id, upload_id, &bad)?;
            // The server refuses such rows before; this guards against a concurrent upload into
            // another org's filing of the same month (only those filings need to be looked at).
            let others = c.query(
                "SELECT id FROM filings WHERE period = $1 AND org_code <> $2",
                &[f.period.as_str().into(), f.org_code.as_str().into()],
            )?;
            if !others.is_empty() {
                let clash = c.query(
                    "SELECT a.facility_code, b.filing_id FROM activity a JOIN activity b ON b.facility_code = a.facility_code AND b.period = a.period \
                     WHERE a.filing_id = $1 AND a.upload_id = $2 AND b.filing_id IN (SELECT id FROM filings WHERE period = $3 AND org_code <> $4) LIMIT 1",
                    &[filing_id.into(), upload_id.into(), f.period.as_str().into(), f.org_code.as_str().into()],
                )?;
                if let Some(r) = clash.first() {
                    return Err(StoreError::Conflict(format!(
                        "facility {} already has {} rows in filing {}; it cannot be filed twice",
                        r.text(0),
                        f.period,
                        r.int(1)
                    )));
                }
            }
            c.exec(
                "DELETE FROM quarantine WHERE filing_id = $1 AND upload_id <> $2 AND EXISTS (SELECT 1 FROM activity a WHERE a.filing_id = $1 \
                 AND a.upload_id = $2 AND a.facility_code = quarantine.facility_code AND a.period = quarantine.period \
                 AND a.carrier = quarantine.carrier AND a.source_document = quarantine.source_document)",
                &[filing_id.into(), upload_id.into()],
            )?;
            c.exec(
                "UPDATE uploads SET rows_read = $1, accepted = $2, rejected = $3 WHERE id = $4",
                &[(accepted + rejected + skipped).into(), accepted.into(), rejected.into(), upload_id.into()],
            )?;
            c.exec("UPDATE filings SET status = 'draft', updated_at = $1 WHERE id = $2", &[now.into(), filing_id.into()])?;
            let u = upload(&c.query(&format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1"), &[upload_id.into()])?[0]);
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "filing.upload",
                    entity: format!("filing/{filing_id}"),
                    org_code: &f.org_code,
                    before: state(&f),
                    after: serde_json::json!({"status": "draft", "upload": u, "rows_replaced": replaced}),
                },
            )?;
            Ok((u, true))
        })
    }

    /// Moves a filing through its workflow: `submit` (draft/returned → submitted, needs rows),
    /// `approve` (submitted → approved, locked), `return` (submitted → returned, needs a comment).
    pub fn transition(&self, actor: &str, filing_id: i64, action: &str, comment: &str) -> Result<Filing> {
        let kind = self.kind();
        self.tx(|c| {
            let f = get(c, filing_id)?;
            let next = match (action, f.status.as_str()) {
                ("submit", "draft" | "returned") => {
                    let n =
                        c.query("SELECT COUNT(*) FROM activity WHERE filing_id = $1", &[filing_id.into()])?[0].int(0);
                    if n == 0 {
                        return Err(StoreError::Invalid(format!("filing {filing_id} has no rows to submit")));
                    }
                    "submitted"
                }
                ("approve", "submitted") => "approved",
                ("return", "submitted") => {
                    if comment.trim().is_empty() {
                        return Err(StoreError::Invalid(
                            "returning a filing needs a comment saying what to fix".into(),
                        ));
                    }
                    "returned"
                }
                ("submit" | "approve" | "return", s) => {
                    return Err(StoreError::Conflict(format!("cannot {action} filing {filing_id}: it is {s}")))
                }
                _ => return Err(StoreError::Invalid(format!("unknown action {action:?}: submit, approve or return"))),
            };
            let comment = if action == "return" { comment.to_string() } else { f.comment.clone() };
            c.exec(
                "UPDATE filings SET status = $1, comment = $2, updated_at = $3 WHERE id = $4",
                &[next.into(), comment.into(), crate::now().into(), filing_id.into()],
            )?;
            let after = get(c, filing_id)?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: &format!("filing.{action}"),
                    entity: format!("filing/{filing_id}"),
                    org_code: &f.org_code,
                    before: state(&f),
                    after: state(&after),
                },
            )?;
            Ok(after)
        })
    }

    /// Starts a restatement of an approved filing: a new version (draft) holding a copy of its
    /// rows, with the reason. The approved version stays as it was.
    pub fn restate(&self, actor: &str, filing_id: i64, reason: &str) -> Result<Filing> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a restatement needs a reason".into()));
        }
        let kind = self.kind();
        self.tx(|c| {
            let f = get(c, filing_id)?;
            if f.status != "approved" {
                return Err(StoreError::Conflict(format!("filing {filing_id} is {}; only an approved filing is restated", f.status)));
            }
            let newest = c.query("SELECT MAX(version) FROM filings WHERE org_code = $1 AND period = $2", &[f.org_code.as_str().into(), f.period.as_str().into()])?[0].int(0);
            if newest != f.version {
                return Err(StoreError::Conflict(format!("filing {filing_id} is version {} but version {newest} exists; restate the newest", f.version)));
            }
            let now = crate::now();
            let id = c.query(
                "INSERT INTO filings (org_code, period, version, status, supersedes, reason, comment, created_by, created_at, updated_at, kind) \
                 VALUES ($1, $2, $3, 'draft', $4, $5, '', $6, $7, $7, $8) RETURNING id",
                &[f.org_code.as_str().into(), f.period.as_str().into(), (f.version + 1).into(), filing_id.into(), reason.into(), actor.into(), now.into(), f.kind.as_str().into()],
            )?[0]
                .int(0);
            c.exec(
                "INSERT INTO activity (filing_id, upload_id, facility_code, period, carrier, quantity, unit, source_document, evidence_ref, line) \
                 SELECT $1, upload_id, facility_code, period, carrier, quantity, unit, source_document, evidence_ref, line FROM activity WHERE filing_id = $2",
                &[id.into(), filing_id.into()],
            )?;
            let new = get(c, id)?;
            append(
                c,
                kind,
                Change { actor, action: "filing.restate", entity: format!("filing/{id}"), org_code: &f.org_code, before: state(&f), after: serde_json::json!({"supersedes": filing_id, "version": new.version, "reason": reason, "status": "draft"}) },
            )?;
            Ok(new)
        })
    }

    /// Rows of a filing in key order, `limit` from `offset`.
    pub fn activity_rows(&self, filing_id: i64, offset: i64, limit: i64) -> Result<Vec<ActivityRow>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {ACT_COLS} FROM activity WHERE filing_id = $1 ORDER BY id LIMIT $2 OFFSET $3"),
                    &[filing_id.into(), limit.into(), offset.into()],
                )
            })?
            .iter()
            .map(activity)
            .collect())
    }

    /// Calls `f` on every row of the filings, a page at a time (memory stays bounded).
    pub fn for_each_activity(
        &self,
        filing_ids: &[i64],
        f: &mut dyn FnMut(i64, &ActivityRow) -> Result<()>,
    ) -> Result<()> {
        for &id in filing_ids {
            let mut after = 0i64;
            loop {
                let rows = self.read(|c| {
                    c.query(
                        &format!("SELECT id, {ACT_COLS} FROM activity WHERE filing_id = $1 AND id > $2 ORDER BY id LIMIT 50000"),
                        &[id.into(), after.into()],
                    )
                })?;
                let Some(last) = rows.last() else { break };
                after = last.int(0);
                for r in rows {
                    f(id, &activity_owned(r))?;
                }
            }
        }
        Ok(())
    }

    /// Rows of a filing that later uploads replaced, oldest first, each with the replacing upload.
    pub fn replaced_rows(&self, filing_id: i64) -> Result<Vec<(i64, ActivityRow)>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!(
                        "SELECT replaced_by_upload, {ACT_COLS} FROM activity_replaced WHERE filing_id = $1 ORDER BY id"
                    ),
                    &[filing_id.into()],
                )
            })?
            .iter()
            .map(|r| (r.int(0), activity(&Row(r.0[1..].to_vec()))))
            .collect())
    }

    pub fn activity_count(&self, filing_id: i64) -> Result<i64> {
        Ok(self.read(|c| c.query("SELECT COUNT(*) FROM activity WHERE filing_id = $1", &[filing_id.into()]))?[0].int(0))
    }

    pub fn quarantine(&self, filing_id: i64) -> Result<Vec<RejectedRow>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {ACT_COLS}, reasons FROM quarantine WHERE filing_id = $1 ORDER BY id"),
                    &[filing_id.into()],
                )
            })?
            .iter()
            .map(|r| RejectedRow { row: activity(r), reasons: r.text(8), problems: Vec::new() })
            .collect())
    }

    /// The filings an inventory of `year` for the org with `path` reads: for each org and month,
    /// the newest approved version, of orgs within the subtree or above it (a filing of a parent
    /// may hold facilities of the subtree). Sorted by id.
    pub fn current_filings(&self, year: i32, path: &str) -> Result<Vec<Filing>> {
        let rows = self.read(|c| {
            c.query(
                &format!(
                    "SELECT {COLS} FROM filings f JOIN orgs o ON o.code = f.org_code WHERE f.status = 'approved' AND f.kind = 'activity' AND f.period LIKE $1 \
                     AND (o.path LIKE $2 ESCAPE '\\' OR substr($3, 1, length(o.path)) = o.path) \
                     AND f.version = (SELECT MAX(g.version) FROM filings g WHERE g.org_code = f.org_code AND g.period = f.period AND g.status = 'approved') \
                     ORDER BY f.id"
                ),
                &[format!("{year:04}-%").into(), crate::like_prefix(path).into(), path.into()],
            )
        })?;
        Ok(rows.iter().map(filing).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11 item 11: a correction of a large draft held the SQLite writer for minutes, since
    /// the statement that keeps replaced rows walked the whole filing for every batch. Each new
    /// row must find its stored row through the unique key instead.
    #[test]
    fn replaced_rows_are_found_by_key_not_by_scanning_the_filing() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_sqlite_dir(dir.path()).unwrap();
        let row = |doc: &str| ActivityRow {
            facility_code: "F1".into(),
            period: "2024-03".into(),
            carrier: "electricity".into(),
            quantity: "1".into(),
            unit: "kWh".into(),
            source_document: doc.into(),
            evidence_ref: String::new(),
            line: 2,
        };
        // A whole batch, as the upload writes them.
        let rows: Vec<ActivityRow> = (0..BATCH).map(|i| row(&format!("doc-{i}"))).collect();
        let (sql, params) = keep_replaced_sql(1, 2, &rows);
        let plan: Vec<String> = store
            .read(|c| c.query(&format!("EXPLAIN QUERY PLAN {sql}"), &params))
            .unwrap()
            .iter()
            .map(|r| r.text(3))
            .collect();
        let on_activity: Vec<&String> = plan.iter().filter(|d| d.contains(" a ") || d.ends_with(" a")).collect();
        assert!(
            !on_activity.is_empty()
                && on_activity.iter().all(|d| d.starts_with("SEARCH a USING INDEX") && d.contains("source_document=?")),
            "{plan:?}"
        );
    }
}
