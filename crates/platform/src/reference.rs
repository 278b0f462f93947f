//! Reference data: the org tree (`orgs.csv`) and facilities (`facilities.csv`), in the formats of
//! docs/formats.md, validated by `ingest` with every problem reported at once. Codes already known
//! are updated, new ones added; nothing is deleted (filings refer to them). Every change is audited
//! by the store; monitoring follows it ([`crate::monitoring::reload_after_change`]).

use crate::error::{Error, Kind, Result};
use std::path::Path;
use store::Store;

fn rejected(what: &str, report: &ingest::ValidationReport) -> Error {
    let mut e =
        Error::new(Kind::Invalid, "invalid_file", format!("{what}: {} problem(s); nothing was stored", report.total));
    e.detail = Some(serde_json::to_value(&report.errors).unwrap_or_default());
    e
}

/// The store's org tree written as orgs.csv into `dir` (to validate facilities against it).
fn write_orgs(store: &Store, path: &Path) -> Result<usize> {
    let orgs = store.orgs()?;
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::internal(e.to_string()))?;
    let io = |e: csv::Error| Error::internal(e.to_string());
    w.write_record(["org_code", "name", "parent_code", "equity_share", "operational_control"]).map_err(io)?;
    for o in &orgs {
        w.write_record([
            &o.code,
            &o.name,
            o.parent_code.as_deref().unwrap_or(""),
            &o.equity_share,
            &o.operational_control,
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|e| Error::internal(e.to_string()))?;
    Ok(orgs.len())
}

/// Imports the whole org tree from an orgs.csv at `path` (one root: the platform's root if it has
/// one) as `actor`. Blocking. Returns the number of orgs.
pub fn import_orgs(store: &Store, actor: &str, path: &Path) -> Result<usize> {
    let mut report = ingest::ValidationReport::default();
    let Some(tree) = ingest::load_orgs(path, &mut report) else {
        return Err(rejected("orgs.csv", &report));
    };
    if !report.is_empty() {
        return Err(rejected("orgs.csv", &report));
    }
    let root = &tree.org(tree.root()).code;
    if let Some(current) = store.orgs()?.into_iter().find(|o| o.depth == 0) {
        if &current.code != root {
            return Err(Error::new(
                Kind::Invalid,
                "invalid_file",
                format!("the file's root org is {root} but the platform's is {}: one group per platform", current.code),
            ));
        }
    }
    let (orgs, _) = crate::demo::read_reference_orgs(path)?;
    store.upsert_reference(actor, &orgs, &[])?;
    Ok(orgs.len())
}

/// Imports the facilities of `DIR/upload.csv` (a working folder of the caller's), checked against
/// the platform's org tree, as `actor`. Blocking. Returns the number of facilities.
pub fn import_facilities(store: &Store, actor: &str, dir: &Path) -> Result<usize> {
    let orgs_path = dir.join("orgs.csv");
    write_orgs(store, &orgs_path)?;
    let mut report = ingest::ValidationReport::default();
    let tree = ingest::load_orgs(&orgs_path, &mut report);
    let path = dir.join("upload.csv");
    let facilities = ingest::load_facilities(&path, tree.as_ref(), &mut report);
    if facilities.is_none() || !report.is_empty() {
        return Err(rejected("facilities.csv", &report));
    }
    let records = crate::demo::read_reference_facilities(&path)?;
    store.upsert_reference(actor, &[], &records)?;
    Ok(records.len())
}
