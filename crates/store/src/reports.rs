//! Disclosure reports as made (issue 19): the file, its SHA-256 and what it was made from
//! (template, snapshot, language, format, the report's own content hash), who made it and when.
//! Kept so that a download survives a restart and every instance of a cluster can serve it. The
//! bytes are kept as base64 text (the connection trait carries integers and text).

use crate::{Result, Row, Store, StoreError};
use base64::Engine;

/// A report to keep.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub kind: &'a str,
    pub snapshot_id: i64,
    pub org_code: &'a str,
    pub org_path: &'a str,
    pub lang: &'a str,
    pub format: &'a str,
    pub file_name: &'a str,
    pub media_type: &'a str,
    pub report_hash: &'a str,
    pub bytes: &'a [u8],
    pub created_by: &'a str,
}

/// A kept report without its bytes (lists).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredReport {
    pub id: i64,
    pub kind: String,
    pub snapshot_id: i64,
    pub org_code: String,
    #[serde(skip)]
    pub org_path: String,
    pub lang: String,
    pub format: String,
    pub file_name: String,
    pub media_type: String,
    pub report_hash: String,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
    pub size: i64,
    pub created_by: String,
    pub created_at: String,
}

const COLUMNS: &str = "id, kind, snapshot_id, org_code, org_path, lang, format, file_name, media_type, report_hash, sha256, size, created_by, created_at";

fn row(r: &Row) -> StoredReport {
    StoredReport {
        id: r.int(0),
        kind: r.text(1),
        snapshot_id: r.int(2),
        org_code: r.text(3),
        org_path: r.text(4),
        lang: r.text(5),
        format: r.text(6),
        file_name: r.text(7),
        media_type: r.text(8),
        report_hash: r.text(9),
        sha256: r.text(10),
        size: r.int(11),
        created_by: r.text(12),
        created_at: r.text(13),
    }
}

impl Store {
    /// Keeps a report made; returns it with its id.
    pub fn report_add(&self, r: &NewReport<'_>) -> Result<StoredReport> {
        let sha = crate::sha256_hex(r.bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(r.bytes);
        let now = crate::now();
        let id = self.tx(|c| {
            let rows = c.query(
                "INSERT INTO reports (kind, snapshot_id, org_code, org_path, lang, format, file_name, media_type, report_hash, sha256, size, bytes, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                &[
                    r.kind.into(),
                    r.snapshot_id.into(),
                    r.org_code.into(),
                    r.org_path.into(),
                    r.lang.into(),
                    r.format.into(),
                    r.file_name.into(),
                    r.media_type.into(),
                    r.report_hash.into(),
                    sha.as_str().into(),
                    (r.bytes.len() as i64).into(),
                    text.as_str().into(),
                    r.created_by.into(),
                    now.as_str().into(),
                ],
            )?;
            Ok(rows[0].int(0))
        })?;
        Ok(StoredReport {
            id,
            kind: r.kind.into(),
            snapshot_id: r.snapshot_id,
            org_code: r.org_code.into(),
            org_path: r.org_path.into(),
            lang: r.lang.into(),
            format: r.format.into(),
            file_name: r.file_name.into(),
            media_type: r.media_type.into(),
            report_hash: r.report_hash.into(),
            sha256: sha,
            size: r.bytes.len() as i64,
            created_by: r.created_by.into(),
            created_at: now,
        })
    }

    /// The reports of orgs within `path` (an org path prefix), newest first, at most `limit`.
    pub fn reports_within(&self, path: &str, limit: i64) -> Result<Vec<StoredReport>> {
        let like = crate::like_prefix(path);
        let rows = self.read(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM reports WHERE org_path LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2"),
                &[like.as_str().into(), limit.into()],
            )
        })?;
        Ok(rows.iter().map(row).collect())
    }

    /// A kept report and its bytes (checked against its SHA-256).
    pub fn report_file(&self, id: i64) -> Result<Option<(StoredReport, Vec<u8>)>> {
        let rows =
            self.read(|c| c.query(&format!("SELECT {COLUMNS}, bytes FROM reports WHERE id = $1"), &[id.into()]))?;
        let Some(r) = rows.first() else { return Ok(None) };
        let meta = row(r);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(r.text(14))
            .map_err(|e| StoreError::Invalid(format!("report {id}: stored bytes are not base64: {e}")))?;
        if crate::sha256_hex(&bytes) != meta.sha256 {
            return Err(StoreError::Invalid(format!("report {id}: stored bytes do not match their SHA-256")));
        }
        Ok(Some((meta, bytes)))
    }
}
