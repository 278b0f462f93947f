//! Loading a data directory (orgs.csv, facilities.csv, the year's activity file: docs/formats.md) into the
//! platform, e.g. the demo operator: the whole directory is validated with `ingest` first; then the
//! org tree and facilities are stored, and the activity is filed month by month per province
//! (facilities attached to the group in the group's own filing) through the same import path as an
//! upload, then submitted and approved by the loading user. Every step is in the audit log.

use crate::error::{Error, Result};
use crate::filing::import_file;
use std::collections::HashMap;
use std::path::Path;
use store::reference::{FacilityRecord, OrgRecord};
use store::Store;

#[derive(Debug, Default, serde::Serialize)]
pub struct LoadSummary {
    pub orgs: usize,
    pub facilities: usize,
    pub filings: usize,
    pub rows: i64,
}

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<csv::StringRecord>)> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::bad_request(format!("{}: {e}", path.display())))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::bad_request(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let rows = rdr
        .records()
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::bad_request(format!("{}: {e}", path.display())))?;
    Ok((header, rows))
}

fn getter(header: &[String]) -> impl Fn(&csv::StringRecord, &str) -> String + '_ {
    move |r, name| header.iter().position(|h| h == name).and_then(|i| r.get(i)).unwrap_or("").trim().to_string()
}

/// Stores the org tree and facilities of `dir` (orgs.csv, facilities.csv, validated by the caller).
pub fn load_reference(store: &Store, dir: &Path, actor: &str) -> Result<(Vec<OrgRecord>, Vec<FacilityRecord>)> {
    let (orgs, _) = read_reference_orgs(&dir.join("orgs.csv"))?;
    let facilities = read_reference_facilities(&dir.join("facilities.csv"))?;
    store.upsert_reference(actor, &orgs, &facilities)?;
    Ok((orgs, facilities))
}

/// The rows of an orgs.csv (validated before) as filed.
pub fn read_reference_orgs(path: &Path) -> Result<(Vec<OrgRecord>, usize)> {
    let (h, rows) = read_csv(path)?;
    let g = getter(&h);
    let orgs: Vec<OrgRecord> = rows
        .iter()
        .map(|r| OrgRecord {
            code: g(r, "org_code"),
            name: g(r, "name"),
            parent_code: Some(g(r, "parent_code")).filter(|p| !p.is_empty()),
            equity_share: g(r, "equity_share"),
            operational_control: g(r, "operational_control"),
        })
        .collect();
    let n = orgs.len();
    Ok((orgs, n))
}

/// The rows of a facilities.csv (validated before) as filed.
pub fn read_reference_facilities(path: &Path) -> Result<Vec<FacilityRecord>> {
    let (h, rows) = read_csv(path)?;
    let g = getter(&h);
    Ok(rows
        .iter()
        .map(|r| FacilityRecord {
            code: g(r, "facility_code"),
            name: g(r, "name"),
            kind: g(r, "type"),
            org_code: g(r, "org_code"),
            province: g(r, "province"),
            allocation_share: g(r, "allocation_share"),
            shared_with: g(r, "shared_with"),
        })
        .collect())
}

/// Loads `dir` for `year` as `actor`. Fails, with every input error, before storing anything if
/// the directory does not validate.
pub fn load_dir(
    store: &Store,
    dir: &Path,
    year: i32,
    actor: &str,
    spool: &Path,
    threads: usize,
) -> Result<LoadSummary> {
    if let Err(report) = ingest::load_dir(dir, year, threads) {
        let mut e = Error::bad_request(format!("{} does not validate:\n{report}", dir.display()));
        e.detail = Some(serde_json::to_value(&report.errors).unwrap_or_default());
        return Err(e);
    }
    let (orgs, facilities) = load_reference(store, dir, actor)?;
    // The filing org of each facility: its depth-1 ancestor (province), or the group itself.
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    let filing_org: HashMap<&str, String> = facilities
        .iter()
        .map(|f| {
            let path = paths.get(&f.org_code).cloned().unwrap_or_default();
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            (f.code.as_str(), parts.get(1).or(parts.first()).map(|s| s.to_string()).unwrap_or_default())
        })
        .collect();
    // Split the year's activity file into one file per (filing org, month), streaming.
    let activity = ingest::activity_path(dir, year).map_err(|e| Error::bad_request(e.reason))?;
    std::fs::create_dir_all(spool).map_err(|e| Error::internal(e.to_string()))?;
    let parts_dir = tempfile::tempdir_in(spool).map_err(|e| Error::internal(e.to_string()))?;
    let mut rdr =
        csv::ReaderBuilder::new().flexible(true).from_path(&activity).map_err(|e| Error::bad_request(e.to_string()))?;
    let header = rdr.headers().map_err(|e| Error::bad_request(e.to_string()))?.clone();
    let clean: Vec<String> = header.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).collect();
    let fi = clean
        .iter()
        .position(|h| h == "facility_code")
        .ok_or_else(|| Error::bad_request("activity.csv: no facility_code"))?;
    let pi = clean.iter().position(|h| h == "period").ok_or_else(|| Error::bad_request("activity.csv: no period"))?;
    let mut writers: HashMap<(String, String), csv::Writer<std::io::BufWriter<std::fs::File>>> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Error::bad_request(e.to_string()))?;
        let org = filing_org.get(rec.get(fi).unwrap_or("").trim()).cloned().unwrap_or_default();
        let period = rec.get(pi).unwrap_or("").trim().to_string();
        let key = (org, period);
        if !writers.contains_key(&key) {
            let file = std::fs::File::create(parts_dir.path().join(format!("{}_{}.csv", key.0, key.1)))
                .map_err(|e| Error::internal(e.to_string()))?;
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
            w.write_record(&clean).map_err(|e| Error::internal(e.to_string()))?;
            writers.insert(key.clone(), w);
        }
        writers.get_mut(&key).expect("inserted").write_record(&rec).map_err(|e| Error::internal(e.to_string()))?;
    }
    let mut keys: Vec<(String, String)> = writers.keys().cloned().collect();
    keys.sort();
    for w in writers.values_mut() {
        w.flush().map_err(|e| Error::internal(e.to_string()))?;
    }
    drop(writers);
    let mut summary = LoadSummary { orgs: orgs.len(), facilities: facilities.len(), ..Default::default() };
    for (org, period) in keys {
        let path = parts_dir.path().join(format!("{org}_{period}.csv"));
        let bytes = std::fs::read(&path).map_err(|e| Error::internal(e.to_string()))?;
        let sha = store::sha256_hex(&bytes);
        drop(bytes);
        let filing = store.create_filing(actor, &org, &period)?;
        let r = import_file(store, actor, filing.id, &path, &sha, &activity.display().to_string())?;
        if r.upload.rejected > 0 {
            return Err(Error::internal(format!(
                "{org} {period}: {} rows rejected although the directory validated: {:?}",
                r.upload.rejected,
                r.rejected.first()
            )));
        }
        store.transition(actor, filing.id, "submit", "")?;
        store.transition(actor, filing.id, "approve", "")?;
        summary.filings += 1;
        summary.rows += r.upload.accepted;
    }
    Ok(summary)
}

/// What [`load_indicator_inputs`] stored.
#[derive(Debug, Default, serde::Serialize)]
pub struct InputsSummary {
    pub business_filings: usize,
    pub business_rows: i64,
    pub attribute_versions: usize,
}

/// Loads a data directory's indicator inputs (issue 15), when present: `business-data.csv`, filed
/// per org and year as business-data filings through the filing path (upload, submit, approval
/// with its re-check), and `facility-attributes.csv` through the attributes service, as `actor` of
/// the root org. Blocking.
pub fn load_indicator_inputs(store: &Store, dir: &Path, actor: &str, spool: &Path) -> Result<InputsSummary> {
    let mut out = InputsSummary::default();
    let root =
        store.orgs()?.into_iter().find(|o| o.parent_code.is_none()).ok_or_else(|| Error::bad_request("no root org"))?;
    let business = dir.join("business-data.csv");
    if business.exists() {
        let text = std::fs::read_to_string(&business).map_err(|e| Error::internal(e.to_string()))?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default().to_string();
        let mut parts: std::collections::BTreeMap<(String, String), String> = Default::default();
        for l in lines.filter(|l| !l.trim().is_empty()) {
            let mut f = l.split(',');
            let (org, period) = (f.next().unwrap_or_default().to_string(), f.next().unwrap_or_default().to_string());
            let year = period.get(..4).unwrap_or_default().to_string();
            parts.entry((org, year)).or_insert_with(|| format!("{header}\n")).push_str(&format!("{l}\n"));
        }
        std::fs::create_dir_all(spool).map_err(|e| Error::internal(e.to_string()))?;
        for ((org, year), body) in parts {
            let y: i32 =
                year.parse().map_err(|_| Error::bad_request(format!("business-data.csv: bad period of {org}")))?;
            let filing = store.create_business_filing(actor, &org, y)?;
            let tmp = tempfile::NamedTempFile::new_in(spool).map_err(|e| Error::internal(e.to_string()))?;
            std::fs::write(tmp.path(), &body).map_err(|e| Error::internal(e.to_string()))?;
            let sha = store::sha256_hex(body.as_bytes());
            let r = crate::business::import_file(store, actor, &filing, tmp.path(), &sha, "business-data.csv")?;
            if r.upload.rejected > 0 {
                return Err(Error::bad_request(format!(
                    "business-data.csv: {org} {year}: {} rows rejected: {:?}",
                    r.upload.rejected,
                    r.rejected.first().map(|x| &x.reasons)
                )));
            }
            store.transition(actor, filing.id, "submit", "")?;
            crate::filing::revalidate_stored(store, filing.id)?;
            store.transition(actor, filing.id, "approve", "")?;
            out.business_filings += 1;
            out.business_rows += r.upload.accepted;
        }
    }
    let attributes = dir.join("facility-attributes.csv");
    if attributes.exists() {
        let text = std::fs::read_to_string(&attributes).map_err(|e| Error::internal(e.to_string()))?;
        let who = crate::Actor { username: actor.into(), org_code: root.code.clone(), org_path: root.path.clone() };
        let v = crate::attributes::add(store, &who, &text)?;
        out.attribute_versions = v["added"].as_u64().unwrap_or(0) as usize;
    }
    Ok(out)
}
