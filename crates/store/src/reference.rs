//! Reference data: the org tree (with each org's path from the root, which makes "is within the
//! subtree of" a prefix test) and facilities.

use crate::audit::{append, Change};
use crate::{Result, Store, StoreError, Value};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgRecord {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    /// Empty means 1.
    pub equity_share: String,
    /// Empty means yes.
    pub operational_control: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Org {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    /// `/GROUP/PROVINCE/.../CODE/`: an org is within another's subtree when its path starts with it.
    pub path: String,
    pub depth: i64,
    pub equity_share: String,
    pub operational_control: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FacilityRecord {
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub org_code: String,
    pub province: String,
    pub allocation_share: String,
    pub shared_with: String,
}

fn org(r: &crate::Row) -> Org {
    Org {
        code: r.text(0),
        name: r.text(1),
        parent_code: r.opt_text(2),
        path: r.text(3),
        depth: r.int(4),
        equity_share: r.text(5),
        operational_control: r.text(6),
    }
}

fn facility(r: &crate::Row) -> FacilityRecord {
    FacilityRecord {
        code: r.text(0),
        name: r.text(1),
        kind: r.text(2),
        org_code: r.text(3),
        province: r.text(4),
        allocation_share: r.text(5),
        shared_with: r.text(6),
    }
}

const ORG_COLS: &str = "code, name, parent_code, path, depth, equity_share, operational_control";
const FAC_COLS: &str = "code, name, type, org_code, province, allocation_share, shared_with";

/// Paths of every org, parents before children. `orgs` must form one tree (validated by ingest).
fn paths(orgs: &[OrgRecord]) -> Result<Vec<(String, i64)>> {
    let index: std::collections::HashMap<&str, usize> =
        orgs.iter().enumerate().map(|(i, o)| (o.code.as_str(), i)).collect();
    let mut out = vec![None; orgs.len()];
    for start in 0..orgs.len() {
        let mut chain = vec![start];
        let mut cur = start;
        while let Some(p) = orgs[cur].parent_code.as_deref().filter(|p| !p.is_empty()) {
            let &pi = index
                .get(p)
                .ok_or_else(|| StoreError::Invalid(format!("org {}: unknown parent {p}", orgs[cur].code)))?;
            if chain.len() > orgs.len() {
                return Err(StoreError::Invalid(format!("org {}: the parent chain has a cycle", orgs[start].code)));
            }
            chain.push(pi);
            cur = pi;
        }
        let mut path = String::from("/");
        for &i in chain.iter().rev() {
            path.push_str(&orgs[i].code);
            path.push('/');
        }
        out[start] = Some((path, chain.len() as i64 - 1));
    }
    Ok(out.into_iter().map(|p| p.expect("every org has a path")).collect())
}

impl Store {
    /// Adds the org tree and facilities (new codes are inserted, known codes updated), as one
    /// audited change. Orgs and facilities are never deleted: filings refer to them.
    pub fn upsert_reference(&self, actor: &str, orgs: &[OrgRecord], facilities: &[FacilityRecord]) -> Result<()> {
        let kind = self.kind();
        let mut all = self
            .orgs()?
            .into_iter()
            .map(|o| OrgRecord {
                code: o.code,
                name: o.name,
                parent_code: o.parent_code,
                equity_share: o.equity_share,
                operational_control: o.operational_control,
            })
            .collect::<Vec<_>>();
        for o in orgs {
            match all.iter_mut().find(|a| a.code == o.code) {
                Some(a) => *a = o.clone(),
                None => all.push(o.clone()),
            }
        }
        let paths = paths(&all)?;
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by_key(|&i| paths[i].1);
        self.tx(|c| {
            for &i in &order {
                let o = &all[i];
                c.exec(
                    "INSERT INTO orgs (code, name, parent_code, path, depth, equity_share, operational_control) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent_code = excluded.parent_code, path = excluded.path, depth = excluded.depth, equity_share = excluded.equity_share, operational_control = excluded.operational_control",
                    &[o.code.as_str().into(), o.name.as_str().into(), Value::from(o.parent_code.clone().filter(|p| !p.is_empty())), paths[i].0.as_str().into(), paths[i].1.into(), o.equity_share.as_str().into(), o.operational_control.as_str().into()],
                )?;
            }
            for chunk in facilities.chunks(500) {
                let mut sql = format!("INSERT INTO facilities ({FAC_COLS}) VALUES ");
                let mut params = Vec::with_capacity(chunk.len() * 7);
                for (k, f) in chunk.iter().enumerate() {
                    if k > 0 {
                        sql.push(',');
                    }
                    let b = k * 7;
                    sql.push_str(&format!("(${},${},${},${},${},${},${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7));
                    params.extend([f.code.as_str().into(), f.name.as_str().into(), f.kind.as_str().into(), f.org_code.as_str().into(), f.province.as_str().into(), f.allocation_share.as_str().into(), f.shared_with.as_str().into()]);
                }
                sql.push_str(" ON CONFLICT (code) DO UPDATE SET name = excluded.name, type = excluded.type, org_code = excluded.org_code, province = excluded.province, allocation_share = excluded.allocation_share, shared_with = excluded.shared_with");
                c.exec(&sql, &params)?;
            }
            let root = all.iter().find(|o| o.parent_code.as_deref().unwrap_or("").is_empty()).map(|o| o.code.clone()).unwrap_or_default();
            append(c, kind, Change {
                actor,
                action: "reference.upsert",
                entity: "reference".into(),
                org_code: &root,
                before: serde_json::Value::Null,
                after: serde_json::json!({"orgs": orgs.len(), "facilities": facilities.len()}),
            })?;
            Ok(())
        })
    }

    pub fn orgs(&self) -> Result<Vec<Org>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {ORG_COLS} FROM orgs ORDER BY path"), &[]))?
            .iter()
            .map(org)
            .collect())
    }

    pub fn org(&self, code: &str) -> Result<Option<Org>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {ORG_COLS} FROM orgs WHERE code = $1"), &[code.into()]))?
            .first()
            .map(org))
    }

    /// The orgs within the subtree whose root has `path`.
    pub fn orgs_within(&self, path: &str) -> Result<Vec<Org>> {
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {ORG_COLS} FROM orgs WHERE path LIKE $1 ESCAPE '\\' ORDER BY path"),
                    &[crate::like_prefix(path).into()],
                )
            })?
            .iter()
            .map(org)
            .collect())
    }

    /// Facilities of the orgs within the subtree with root `path`.
    pub fn facilities_within(&self, path: &str) -> Result<Vec<FacilityRecord>> {
        let cols = FAC_COLS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ");
        Ok(self
            .read(|c| c.query(&format!("SELECT {cols} FROM facilities f JOIN orgs o ON o.code = f.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY f.code"), &[crate::like_prefix(path).into()]))?
            .iter()
            .map(facility)
            .collect())
    }

    pub fn facility(&self, code: &str) -> Result<Option<FacilityRecord>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {FAC_COLS} FROM facilities WHERE code = $1"), &[code.into()]))?
            .first()
            .map(facility))
    }

    pub fn facility_count(&self) -> Result<i64> {
        Ok(self.read(|c| c.query("SELECT COUNT(*) FROM facilities", &[]))?[0].int(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(code: &str, parent: Option<&str>) -> OrgRecord {
        OrgRecord {
            code: code.into(),
            name: code.into(),
            parent_code: parent.map(Into::into),
            equity_share: String::new(),
            operational_control: String::new(),
        }
    }

    #[test]
    fn paths_follow_parents_in_any_order() {
        let p = paths(&[o("C", Some("B")), o("A", None), o("B", Some("A"))]).unwrap();
        assert_eq!(p[0], ("/A/B/C/".to_string(), 2));
        assert_eq!(p[1], ("/A/".to_string(), 0));
        assert!(paths(&[o("A", None), o("X", Some("Y")), o("Y", Some("X"))]).is_err());
        assert!(paths(&[o("A", Some("nowhere"))]).is_err());
    }
}
