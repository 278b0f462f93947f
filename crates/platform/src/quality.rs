//! Data quality (治理) per org and month: completeness (which facilities have not reported),
//! outliers against the facility's own history and against its peers (same type and province),
//! range checks, and rows refused at upload (unit, period, carrier... kept in quarantine); one
//! score per org and month. Reads the newest version of every filing, whatever its status, so
//! filers see problems before they submit.

use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use store::Store;

/// A month's electricity this many times above or below the facility's own median of the year is
/// an outlier against its history.
pub const OWN_RATIO: f64 = 3.0;
/// ... and this many times above or below the median of its peers (same type and province).
pub const PEER_RATIO: f64 = 5.0;

/// Generous plausibility ceilings for one facility's monthly grid electricity, in kWh. They are
/// engineering sanity limits chosen far above any real site of the type (not reference figures):
/// a value above them is almost certainly a unit or typing error (Wh for kWh, an extra digit).
pub fn monthly_kwh_ceiling(kind: &str) -> f64 {
    match kind {
        "base_station_5g" | "base_station_4g" => 50_000.0,
        "retail" => 500_000.0,
        "machine_room" | "office" | "warehouse" | "fleet" => 5_000_000.0,
        _ => 500_000_000.0,
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// One finding, for the report.
fn outlier(fac: &str, month: u8, kwh: f64, kind: &str, reference: f64) -> Value {
    json!({"facility": fac, "month": month, "electricity_kwh": kwh, "check": kind, "reference_kwh": reference})
}

pub fn report(store: &Store, code: &str, year: i32) -> Result<Value> {
    report_with(store, code, year, None)
}

/// The data-quality score of a snapshot's org and year over the filing versions the snapshot
/// recorded (not the newest ones), so the same snapshot always gives the same score: the mean of
/// the org's twelve monthly scores, to one decimal. None when the snapshot records no filing.
pub fn snapshot_score(store: &Store, s: &store::snapshots::Snapshot) -> Result<Option<f64>> {
    let ids: Vec<i64> =
        s.filings.as_array().map(|a| a.iter().filter_map(|f| f["id"].as_i64()).collect()).unwrap_or_default();
    if ids.is_empty() {
        return Ok(None);
    }
    let q = report_with(store, &s.org_code, s.year as i32, Some(&ids))?;
    let Some(own) = q["orgs"].as_array().and_then(|g| g.iter().find(|g| g["org"] == json!(s.org_code))) else {
        return Ok(None);
    };
    let scores: Vec<f64> = own["months"].as_array().into_iter().flatten().filter_map(|m| m["score"].as_f64()).collect();
    if scores.is_empty() {
        return Ok(None);
    }
    Ok(Some((scores.iter().sum::<f64>() / scores.len() as f64 * 10.0).round() / 10.0))
}

/// [`report`], over the filings `only` (a snapshot's recorded versions) when given, else the
/// newest version of every filing of the year.
pub fn report_with(store: &Store, code: &str, year: i32, only: Option<&[i64]>) -> Result<Value> {
    let org = store.org(code)?.ok_or_else(|| Error::not_found(format!("org {code}")))?;
    let orgs = store.orgs_within(&org.path)?;
    let groups: Vec<&store::reference::Org> =
        orgs.iter().filter(|o| o.code == org.code || o.parent_code.as_deref() == Some(&org.code)).collect();
    let org_path: HashMap<&str, &str> = orgs.iter().map(|o| (o.code.as_str(), o.path.as_str())).collect();
    let facilities = store.facilities_within(&org.path)?;
    let fac_index: HashMap<&str, usize> = facilities.iter().enumerate().map(|(i, f)| (f.code.as_str(), i)).collect();
    // Newest version of every filing chain of the subtree in the year.
    let mut newest: BTreeMap<(String, String), store::filings::Filing> = BTreeMap::new();
    for f in store.filings_within(&org.path, None)? {
        if only.is_some_and(|ids| !ids.contains(&f.id)) {
            continue;
        }
        if f.period.starts_with(&format!("{year:04}-")) {
            let k = (f.org_code.clone(), f.period.clone());
            if newest.get(&k).is_none_or(|g| g.version < f.version) {
                newest.insert(k, f);
            }
        }
    }
    let ids: Vec<i64> = newest.values().map(|f| f.id).collect();
    // reported[facility][month], electricity kWh[facility][month]
    let mut reported = vec![[false; 12]; facilities.len()];
    let mut kwh = vec![[f64::NAN; 12]; facilities.len()];
    store.for_each_activity(&ids, &mut |_, r| {
        let (Some(&i), Ok(m)) = (fac_index.get(r.facility_code.as_str()), r.period[5..].parse::<usize>()) else {
            return Ok(());
        };
        if !(1..=12).contains(&m) {
            return Ok(());
        }
        reported[i][m - 1] = true;
        if r.carrier == "electricity" {
            if let (Some(u), Ok(q)) = (model::parse_unit(&r.unit), r.quantity.parse::<f64>()) {
                let v = q * u.in_base / 3.6;
                let cell = &mut kwh[i][m - 1];
                *cell = if cell.is_nan() { v } else { *cell + v };
            }
        }
        Ok(())
    })?;
    let mut quarantined: HashMap<(String, usize), i64> = HashMap::new();
    for f in newest.values() {
        let m: usize = f.period[5..].parse().unwrap_or(0);
        let n = store.quarantine(f.id)?.len() as i64;
        *quarantined.entry((f.org_code.clone(), m)).or_default() += n;
    }
    // Peer medians per (type, province, month).
    let mut peers: HashMap<(&str, &str, usize), Vec<f64>> = HashMap::new();
    for (f, months) in facilities.iter().zip(&kwh) {
        for (m, v) in months.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
            peers.entry((f.kind.as_str(), f.province.as_str(), m)).or_default().push(*v);
        }
    }
    let peer_median: HashMap<(&str, &str, usize), f64> = peers
        .into_iter()
        .filter(|(_, v)| v.len() >= 5)
        .filter_map(|(k, mut v)| median(&mut v).map(|m| (k, m)))
        .collect();
    let mut out_groups = Vec::new();
    for g in &groups {
        let members: Vec<usize> = facilities
            .iter()
            .enumerate()
            .filter(|(_, f)| org_path.get(f.org_code.as_str()).is_some_and(|p| p.starts_with(&g.path)))
            .map(|(i, _)| i)
            .collect();
        let mut months = Vec::new();
        for m in 0..12 {
            let missing: Vec<&str> =
                members.iter().filter(|&&i| !reported[i][m]).map(|&i| facilities[i].code.as_str()).collect();
            let mut findings = Vec::new();
            for &i in &members {
                let v = kwh[i][m];
                if v.is_nan() {
                    continue;
                }
                let f = &facilities[i];
                let ceiling = monthly_kwh_ceiling(&f.kind);
                if v > ceiling {
                    findings.push(outlier(&f.code, m as u8 + 1, v, "range", ceiling));
                }
                let mut own: Vec<f64> = (0..12).filter(|&k| k != m && !kwh[i][k].is_nan()).map(|k| kwh[i][k]).collect();
                if own.len() >= 3 {
                    let med = median(&mut own).unwrap_or(0.0);
                    if med > 0.0 && (v > med * OWN_RATIO || v < med / OWN_RATIO) {
                        findings.push(outlier(&f.code, m as u8 + 1, v, "own_history", med));
                    }
                }
                if let Some(&med) = peer_median.get(&(f.kind.as_str(), f.province.as_str(), m)) {
                    if med > 0.0 && (v > med * PEER_RATIO || v < med / PEER_RATIO) {
                        findings.push(outlier(&f.code, m as u8 + 1, v, "peers", med));
                    }
                }
            }
            let refused: i64 = quarantined
                .iter()
                .filter(|((o, mm), _)| *mm == m + 1 && org_path.get(o.as_str()).is_some_and(|p| p.starts_with(&g.path)))
                .map(|(_, n)| *n)
                .sum();
            let n = members.len().max(1) as f64;
            let reported_n = members.len() - missing.len();
            let completeness = if members.is_empty() { 1.0 } else { reported_n as f64 / n };
            let flagged: std::collections::HashSet<&str> =
                findings.iter().filter_map(|f| f["facility"].as_str()).collect();
            let clean_share = if reported_n == 0 { 1.0 } else { 1.0 - flagged.len() as f64 / reported_n as f64 };
            let refused_share = if reported_n == 0 && refused == 0 {
                0.0
            } else {
                refused as f64 / (refused as f64 + reported_n as f64)
            };
            let score = (100.0 * completeness * clean_share * (1.0 - refused_share)).round();
            months.push(json!({
                "period": format!("{year:04}-{:02}", m + 1),
                "facilities": members.len(),
                "reported": reported_n,
                "completeness": completeness,
                "missing_count": missing.len(),
                "missing": missing.iter().take(100).collect::<Vec<_>>(),
                "findings_count": findings.len(),
                "findings": findings.into_iter().take(100).collect::<Vec<_>>(),
                "quarantined_rows": refused,
                "score": score,
            }));
        }
        out_groups.push(json!({"org": g.code, "name": g.name, "months": months}));
    }
    Ok(json!({"org": org.code, "year": year, "orgs": out_groups, "method": {
        "code": "completeness_clean_accepted",
        "score": "100 × completeness × share of reporting facilities without findings × (1 − share of rows refused at upload)",
        "own_history_ratio": OWN_RATIO,
        "peer_ratio": PEER_RATIO,
        "peers": "same facility type and province, at least 5 reporting",
    }}))
}
