//! Facility attributes (issue 15): versioned per facility. A version holds the attributes that
//! change from `valid_from` (YYYY-MM-DD) on, as a JSON object; the attributes in effect at a date
//! are every version up to it applied in order (`indicators::attributes`). A version is never
//! changed: the same facility and date sent again with other values is a new version of that date,
//! the old one stays readable. Each accepted batch is one audit entry in the same transaction.

use crate::audit::{append, Change};
use crate::{Result, Row, Store};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttributeVersion {
    pub id: i64,
    pub facility_code: String,
    pub valid_from: String,
    pub version: i64,
    pub attributes: serde_json::Value,
    pub source: String,
    pub created_by: String,
    pub created_at: String,
}

/// One row to store: a facility's attributes changing from a date.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttributes {
    pub facility_code: String,
    pub valid_from: String,
    pub attributes: serde_json::Value,
    pub source: String,
}

const COLS: &str = "a.id, a.facility_code, a.valid_from, a.version, a.attributes, a.source, a.created_by, a.created_at";

fn version(r: &Row) -> AttributeVersion {
    AttributeVersion {
        id: r.int(0),
        facility_code: r.text(1),
        valid_from: r.text(2),
        version: r.int(3),
        attributes: serde_json::from_str(&r.text(4)).unwrap_or(serde_json::Value::Null),
        source: r.text(5),
        created_by: r.text(6),
        created_at: r.text(7),
    }
}

/// What [`Store::add_facility_attributes`] did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttributesAdded {
    pub added: usize,
    /// Rows equal to the newest version of their facility and date (nothing stored).
    pub unchanged: usize,
    pub audit_seq: Option<i64>,
}

impl Store {
    /// Every attribute version of the facilities of the orgs within `path`, by facility, date and
    /// version.
    pub fn facility_attributes_within(&self, path: &str) -> Result<Vec<AttributeVersion>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!(
                        "SELECT {COLS} FROM facility_attributes a JOIN facilities f ON f.code = a.facility_code \
                         JOIN orgs o ON o.code = f.org_code WHERE o.path LIKE $1 ESCAPE '\\' \
                         ORDER BY a.facility_code, a.valid_from, a.version"
                    ),
                    &[crate::like_prefix(path).into()],
                )
            })?
            .iter()
            .map(version)
            .collect())
    }

    /// The attribute versions of one facility, oldest first.
    pub fn facility_attributes(&self, code: &str) -> Result<Vec<AttributeVersion>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!(
                        "SELECT {COLS} FROM facility_attributes a WHERE a.facility_code = $1 ORDER BY a.valid_from, a.version"
                    ),
                    &[code.into()],
                )
            })?
            .iter()
            .map(version)
            .collect())
    }

    /// Stores `rows` (checked by the caller) as new versions, all in one transaction with one audit
    /// entry (`facility.attributes`); a row equal to the newest version of its facility and date
    /// is not stored again.
    pub fn add_facility_attributes(
        &self,
        actor: &str,
        org_code: &str,
        rows: &[NewAttributes],
    ) -> Result<AttributesAdded> {
        let kind = self.kind();
        self.tx(|c| {
            let (mut added, mut unchanged) = (Vec::new(), 0);
            for r in rows {
                let newest = c.query(
                    "SELECT version, attributes FROM facility_attributes WHERE facility_code = $1 AND valid_from = $2 ORDER BY version DESC LIMIT 1",
                    &[r.facility_code.as_str().into(), r.valid_from.as_str().into()],
                )?;
                let text = r.attributes.to_string();
                let next = match newest.first() {
                    Some(n) if serde_json::from_str::<serde_json::Value>(&n.text(1)).ok().as_ref() == Some(&r.attributes) => {
                        unchanged += 1;
                        continue;
                    }
                    Some(n) => n.int(0) + 1,
                    None => 1,
                };
                c.exec(
                    "INSERT INTO facility_attributes (facility_code, valid_from, version, attributes, source, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        r.facility_code.as_str().into(),
                        r.valid_from.as_str().into(),
                        next.into(),
                        text.as_str().into(),
                        r.source.as_str().into(),
                        actor.into(),
                        crate::now().into(),
                    ],
                )?;
                added.push(serde_json::json!({"facility": r.facility_code, "valid_from": r.valid_from, "version": next, "attributes": r.attributes}));
            }
            let audit_seq = if added.is_empty() {
                None
            } else {
                Some(append(
                    c,
                    kind,
                    Change {
                        actor,
                        action: "facility.attributes",
                        entity: format!("facility-attributes:{}", added.len()),
                        org_code,
                        before: serde_json::Value::Null,
                        after: serde_json::json!({"added": added}),
                    },
                )?)
            };
            Ok(AttributesAdded { added: added.len(), unchanged, audit_seq })
        })
    }

    /// What changes when attributes are added (a fingerprint for caches).
    pub fn attributes_fingerprint(&self) -> Result<String> {
        let r = self.read(|c| c.query("SELECT COUNT(*), MAX(id) FROM facility_attributes", &[]))?;
        Ok(format!("{}/{:?}", r[0].int(0), r[0].opt_int(1)))
    }

    /// The snapshots that keep their cells, with their org and year: (id, org_code, year).
    pub fn snapshots_with_cells(&self) -> Result<Vec<(i64, String, i64)>> {
        Ok(self
            .read(|c| {
                c.query(
                    "SELECT s.id, s.org_code, s.year FROM snapshots s JOIN snapshot_cell_sets k ON k.snapshot_id = s.id ORDER BY s.id",
                    &[],
                )
            })?
            .iter()
            .map(|r| (r.int(0), r.text(1), r.int(2)))
            .collect())
    }

    /// What changes when snapshots are stored or keep their cells (a fingerprint for caches).
    pub fn snapshots_fingerprint(&self) -> Result<String> {
        let r = self.read(|c| {
            c.query("SELECT (SELECT COUNT(*) FROM snapshot_cell_sets), (SELECT MAX(id) FROM snapshots)", &[])
        })?;
        Ok(format!("{}/{:?}", r[0].int(0), r[0].opt_int(1)))
    }
}
