//! Facility attributes as a platform service (issue 15): `facility-attributes.csv` rows checked by
//! `indicators::attributes` against the platform's facilities and the versions stored, every
//! facility within the actor's subtree, stored all or nothing (`store::attributes`, one audit
//! entry). Indicators read them through `feeds`.

use crate::error::{Error, Result};
use crate::Actor;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use store::Store;

/// Adds the rows of `body` (facility-attributes.csv): every problem of every row (422
/// `invalid_attributes`, the list in `detail`), a facility outside the actor's subtree (403
/// `out_of_scope`), or all rows stored as new versions with one audit entry. Blocking.
pub fn add(store: &Store, actor: &Actor, body: &str) -> Result<Value> {
    let facilities = store.facilities_within("/")?;
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    let by_code: HashMap<&str, &store::reference::FacilityRecord> =
        facilities.iter().map(|f| (f.code.as_str(), f)).collect();
    let kind_of = |code: &str| by_code.get(code).and_then(|f| model::FacilityType::parse(&f.kind));
    // Every stored version, read once (a file names any number of facilities).
    let mut versions: HashMap<String, indicators::attributes::Versions> = HashMap::new();
    for v in store.facility_attributes_within("/")? {
        if let Value::Object(m) = v.attributes {
            versions.entry(v.facility_code).or_default().push((v.valid_from, m));
        }
    }
    let stored = |code: &str| versions.get(code).cloned().unwrap_or_default();
    let rows = indicators::attributes::read_csv(body, &kind_of, &stored).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(|e| format!("line {}: {}: {}", e.line, e.column, e.reason)).collect();
        Error::problems("invalid_attributes", "the facility attributes", list)
    })?;
    for r in &rows {
        let f = by_code[r.facility.as_str()];
        if !paths.get(&f.org_code).is_some_and(|p| actor.within(p)) {
            return Err(Error::out_of_scope(&format!("facility {}", r.facility)));
        }
    }
    let new: Vec<store::attributes::NewAttributes> = rows
        .into_iter()
        .map(|r| store::attributes::NewAttributes {
            facility_code: r.facility,
            valid_from: r.valid_from,
            attributes: Value::Object(r.attributes),
            source: r.source,
        })
        .collect();
    let out = store.add_facility_attributes(&actor.username, &actor.org_code, &new)?;
    Ok(json!({"received": new.len(), "added": out.added, "unchanged": out.unchanged, "audit_seq": out.audit_seq}))
}

/// Every attribute version of the facilities within `org_path`, and each facility's attributes
/// with every version applied (`latest`).
pub fn list(store: &Store, org_path: &str) -> Result<Value> {
    let versions = store.facility_attributes_within(org_path)?;
    let mut latest: std::collections::BTreeMap<String, Map<String, Value>> = Default::default();
    for v in &versions {
        if let Value::Object(m) = &v.attributes {
            let e = latest.entry(v.facility_code.clone()).or_default();
            for (k, x) in m {
                e.insert(k.clone(), x.clone());
            }
        }
    }
    Ok(json!({"versions": versions, "latest": latest, "attributes": indicators::attributes::ATTRIBUTES}))
}
