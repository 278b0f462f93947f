//! Factor sets added by users (each change a new version of the set) and inventory snapshots:
//! immutable results that name the filing versions, factor-set versions and library version they
//! were computed from. A recomputation is a new snapshot version that supersedes the old one.

use crate::audit::{append, Change};
use crate::{Result, Row, Store, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FactorSetVersion {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub toml: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    pub id: i64,
    pub org_code: String,
    pub year: i64,
    pub version: i64,
    pub supersedes: Option<i64>,
    pub reason: String,
    pub options: serde_json::Value,
    /// The filing versions read: `[{id, org_code, period, version}]`.
    pub filings: serde_json::Value,
    /// The user factor-set versions in the library: `[factor_sets.id]`.
    pub factor_sets: Vec<i64>,
    pub library_version: String,
    pub library_fingerprint: String,
    pub result: serde_json::Value,
    pub created_by: String,
    pub created_at: String,
}

/// A snapshot's figures for one org's own facilities of one type in one month: the 26 figures of
/// accounting's cell as exact integers (`accounting::metrics::Metrics::encode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCell {
    pub org_code: String,
    pub facility_type: String,
    pub month: i64,
    pub metrics: String,
}

/// Cells inserted per statement (5 parameters each: within every backend's parameter limit).
const CELLS_PER_INSERT: usize = 1000;

fn insert_cells(c: &mut dyn crate::Conn, id: i64, cells: &[SnapshotCell]) -> Result<()> {
    for chunk in cells.chunks(CELLS_PER_INSERT) {
        let mut sql =
            String::from("INSERT INTO snapshot_cells (snapshot_id, org_code, facility_type, month, metrics) VALUES ");
        let mut params: Vec<crate::Value> = Vec::with_capacity(1 + chunk.len() * 4);
        params.push(id.into());
        for (k, cell) in chunk.iter().enumerate() {
            if k > 0 {
                sql.push(',');
            }
            let b = 1 + k * 4;
            sql.push_str(&format!("($1,${},${},${},${})", b + 1, b + 2, b + 3, b + 4));
            params.extend([
                cell.org_code.as_str().into(),
                cell.facility_type.as_str().into(),
                cell.month.into(),
                cell.metrics.as_str().into(),
            ]);
        }
        c.exec(&sql, &params)?;
    }
    c.exec(
        "INSERT INTO snapshot_cell_sets (snapshot_id, cells, kept_at) VALUES ($1, $2, $3)",
        &[id.into(), (cells.len() as i64).into(), crate::now().into()],
    )?;
    Ok(())
}

/// What a new snapshot holds (everything but its id, version and time).
pub struct NewSnapshot {
    pub org_code: String,
    pub year: i64,
    pub supersedes: Option<i64>,
    pub reason: String,
    pub options: serde_json::Value,
    pub filings: serde_json::Value,
    pub factor_sets: Vec<i64>,
    pub library_version: String,
    pub library_fingerprint: String,
    pub result: serde_json::Value,
    /// Its figures by org × facility type × month, kept with it.
    pub cells: Vec<SnapshotCell>,
}

const FS_COLS: &str = "id, name, version, toml, reason, created_by, created_at";
const SNAP_COLS: &str = "id, org_code, year, version, supersedes, reason, options, filings, factor_sets, library_version, library_fingerprint, result, created_by, created_at";

fn factor_set(r: &Row) -> FactorSetVersion {
    FactorSetVersion {
        id: r.int(0),
        name: r.text(1),
        version: r.int(2),
        toml: r.text(3),
        reason: r.text(4),
        created_by: r.text(5),
        created_at: r.text(6),
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

fn snapshot(r: &Row) -> Snapshot {
    Snapshot {
        id: r.int(0),
        org_code: r.text(1),
        year: r.int(2),
        version: r.int(3),
        supersedes: r.opt_int(4),
        reason: r.text(5),
        options: json(&r.text(6)),
        filings: json(&r.text(7)),
        factor_sets: serde_json::from_str(&r.text(8)).unwrap_or_default(),
        library_version: r.text(9),
        library_fingerprint: r.text(10),
        result: json(&r.text(11)),
        created_by: r.text(12),
        created_at: r.text(13),
    }
}

impl Store {
    /// Adds a new version of the user factor set `name` (TOML validated by the caller).
    pub fn add_factor_set(
        &self,
        actor: &str,
        name: &str,
        toml: &str,
        reason: &str,
        org_code: &str,
    ) -> Result<FactorSetVersion> {
        let kind = self.kind();
        self.tx(|c| {
            let prev = c.query(&format!("SELECT {FS_COLS} FROM factor_sets WHERE name = $1 ORDER BY version DESC LIMIT 1"), &[name.into()])?;
            let version = prev.first().map_or(0, |r| r.int(2)) + 1;
            let id = c.query(
                "INSERT INTO factor_sets (name, version, toml, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[name.into(), version.into(), toml.into(), reason.into(), actor.into(), crate::now().into()],
            )?[0]
                .int(0);
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "factor_set.update",
                    entity: format!("factor_set/{name}"),
                    org_code,
                    before: prev.first().map_or(serde_json::Value::Null, |r| serde_json::json!({"version": r.int(2), "toml": r.text(3)})),
                    after: serde_json::json!({"version": version, "toml": toml, "reason": reason}),
                },
            )?;
            Ok(factor_set(&c.query(&format!("SELECT {FS_COLS} FROM factor_sets WHERE id = $1"), &[id.into()])?[0]))
        })
    }

    /// The newest version of every user factor set.
    pub fn current_factor_sets(&self) -> Result<Vec<FactorSetVersion>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {FS_COLS} FROM factor_sets f WHERE version = (SELECT MAX(version) FROM factor_sets g WHERE g.name = f.name) ORDER BY name"),
                    &[],
                )
            })?
            .iter()
            .map(factor_set)
            .collect())
    }

    pub fn factor_sets_by_id(&self, ids: &[i64]) -> Result<Vec<FactorSetVersion>> {
        let mut out = Vec::new();
        for &id in ids {
            let rows =
                self.read(|c| c.query(&format!("SELECT {FS_COLS} FROM factor_sets WHERE id = $1"), &[id.into()]))?;
            out.push(
                rows.first().map(factor_set).ok_or_else(|| StoreError::NotFound(format!("factor set version {id}")))?,
            );
        }
        Ok(out)
    }

    pub fn add_snapshot(&self, actor: &str, s: NewSnapshot) -> Result<Snapshot> {
        let kind = self.kind();
        self.tx(|c| {
            let version = match s.supersedes {
                Some(old) => {
                    let prev = c.query("SELECT version FROM snapshots WHERE id = $1", &[old.into()])?;
                    prev.first().map(|r| r.int(0)).ok_or_else(|| StoreError::NotFound(format!("snapshot {old}")))? + 1
                }
                None => 1,
            };
            let id = c.query(
                "INSERT INTO snapshots (org_code, year, version, supersedes, reason, options, filings, factor_sets, library_version, library_fingerprint, result, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                &[
                    s.org_code.as_str().into(),
                    s.year.into(),
                    version.into(),
                    s.supersedes.into(),
                    s.reason.as_str().into(),
                    s.options.to_string().into(),
                    s.filings.to_string().into(),
                    serde_json::to_string(&s.factor_sets).unwrap_or_default().into(),
                    s.library_version.as_str().into(),
                    s.library_fingerprint.as_str().into(),
                    s.result.to_string().into(),
                    actor.into(),
                    crate::now().into(),
                ],
            )?[0]
                .int(0);
            insert_cells(c, id, &s.cells)?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: if s.supersedes.is_some() { "snapshot.recompute" } else { "snapshot.create" },
                    entity: format!("snapshot/{id}"),
                    org_code: &s.org_code,
                    before: s.supersedes.map_or(serde_json::Value::Null, |o| serde_json::json!({"snapshot": o})),
                    after: serde_json::json!({"snapshot": id, "version": version, "year": s.year, "library_version": s.library_version, "reason": s.reason}),
                },
            )?;
            Ok(snapshot(&c.query(&format!("SELECT {SNAP_COLS} FROM snapshots WHERE id = $1"), &[id.into()])?[0]))
        })
    }

    pub fn snapshot(&self, id: i64) -> Result<Snapshot> {
        self.read(|c| c.query(&format!("SELECT {SNAP_COLS} FROM snapshots WHERE id = $1"), &[id.into()]))?
            .first()
            .map(snapshot)
            .ok_or_else(|| StoreError::NotFound(format!("snapshot {id}")))
    }

    /// The figures snapshot `id` keeps by org × facility type × month, or `None` when it keeps none
    /// (stored before they were kept, and not recomputed since). Refuses a set whose count is not
    /// the one recorded with it.
    pub fn snapshot_cells(&self, id: i64) -> Result<Option<Vec<SnapshotCell>>> {
        self.read(|c| {
            let Some(set) = c
                .query("SELECT cells FROM snapshot_cell_sets WHERE snapshot_id = $1", &[id.into()])?
                .first()
                .map(|r| r.int(0))
            else {
                return Ok(None);
            };
            let cells: Vec<SnapshotCell> = c
                .query(
                    "SELECT org_code, facility_type, month, metrics FROM snapshot_cells WHERE snapshot_id = $1 \
                     ORDER BY org_code, facility_type, month",
                    &[id.into()],
                )?
                .iter()
                .map(|r| SnapshotCell {
                    org_code: r.text(0),
                    facility_type: r.text(1),
                    month: r.int(2),
                    metrics: r.text(3),
                })
                .collect();
            if cells.len() as i64 != set {
                return Err(StoreError::Invalid(format!(
                    "snapshot {id} keeps {} cells where {set} were stored",
                    cells.len()
                )));
            }
            Ok(Some(cells))
        })
    }

    /// Keeps the cells of snapshot `id` stored before cells were kept with snapshots (the caller
    /// recomputed it and checked that the recomputation reproduces its stored result). Once per
    /// snapshot: a second call changes nothing and answers `false`.
    pub fn keep_snapshot_cells(&self, id: i64, cells: &[SnapshotCell]) -> Result<bool> {
        self.tx(|c| {
            if c.query("SELECT id FROM snapshots WHERE id = $1", &[id.into()])?.is_empty() {
                return Err(StoreError::NotFound(format!("snapshot {id}")));
            }
            if !c.query("SELECT cells FROM snapshot_cell_sets WHERE snapshot_id = $1", &[id.into()])?.is_empty() {
                return Ok(false);
            }
            insert_cells(c, id, cells)?;
            Ok(true)
        })
    }

    /// The org a snapshot belongs to (access checks, without loading the result).
    pub fn snapshot_org(&self, id: i64) -> Result<String> {
        self.read(|c| c.query("SELECT org_code FROM snapshots WHERE id = $1", &[id.into()]))?
            .first()
            .map(|r| r.text(0))
            .ok_or_else(|| StoreError::NotFound(format!("snapshot {id}")))
    }

    /// Every snapshot without its result, oldest first.
    pub fn snapshot_list(&self) -> Result<Vec<Snapshot>> {
        self.snapshots_within("/")
    }

    /// Snapshots of the orgs within the subtree with root `path` (without results, which can be large).
    pub fn snapshots_within(&self, path: &str) -> Result<Vec<Snapshot>> {
        let cols = SNAP_COLS
            .split(", ")
            .map(|c| if c == "result" { "'null'".to_string() } else { format!("s.{c}") })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {cols} FROM snapshots s JOIN orgs o ON o.code = s.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY s.id"),
                    &[crate::like_prefix(path).into()],
                )
            })?
            .iter()
            .map(snapshot)
            .collect())
    }

    /// Ids of snapshots that a newer version supersedes.
    pub fn superseded_snapshots(&self) -> Result<Vec<i64>> {
        Ok(self
            .read(|c| c.query("SELECT supersedes FROM snapshots WHERE supersedes IS NOT NULL", &[]))?
            .iter()
            .map(|r| r.int(0))
            .collect())
    }
}
