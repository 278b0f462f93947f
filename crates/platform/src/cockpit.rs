//! The filing cockpit (issue 14): an org subtree × the months of a year, each cell the state of
//! that org's filing for that month, and what is missing. Codes and numbers only; the console
//! words them.
//!
//! A cell's `status` is the newest version's (`draft`, `submitted`, `returned`, `approved`), or
//! `none` when the org opened no filing for the month; `approved` says whether any version of it
//! is approved (a restatement in progress keeps its approved predecessor). An org is *expected*
//! to file when facilities are attached to it directly (its own, 本级): an expected org-month
//! without an approved filing is *missing*.

use crate::error::{Error, Kind, Result};
use serde::Serialize;
use std::collections::HashMap;
use store::Store;

/// One org-month.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cell {
    pub period: String,
    pub status: &'static str,
    /// The newest version's id (None: no filing).
    pub filing: Option<i64>,
    pub version: Option<i64>,
    pub approved: bool,
    pub missing: bool,
}

/// One org of the subtree.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub org: String,
    pub name: String,
    pub parent: Option<String>,
    /// Depth below the grid's org (0: the org itself).
    pub depth: i64,
    /// Facilities attached to the org itself.
    pub own_facilities: usize,
    pub expected: bool,
    pub cells: Vec<Cell>,
    pub missing: usize,
}

/// The counts of one month over the subtree.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct MonthCount {
    pub period: String,
    pub none: usize,
    pub draft: usize,
    pub submitted: usize,
    pub returned: usize,
    pub approved: usize,
    pub missing: usize,
    pub expected: usize,
}

/// The grid of `code`'s subtree for `year`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Grid {
    pub org: String,
    pub year: i32,
    pub periods: Vec<String>,
    pub rows: Vec<Row>,
    pub months: Vec<MonthCount>,
    /// Expected org-months without an approved filing.
    pub missing: usize,
}

const STATUSES: [&str; 5] = ["draft", "submitted", "returned", "approved", "superseded"];

/// The filing grid of org `code`'s subtree for `year` (the caller's scope is the route guard's).
pub fn grid(store: &Store, code: &str, year: i32) -> Result<Grid> {
    let org = store.org(code)?.ok_or_else(|| Error::new(Kind::NotFound, "unknown_org", format!("no org {code}")))?;
    let orgs = store.orgs_within(&org.path)?;
    let mut own: HashMap<String, usize> = HashMap::new();
    for f in store.facilities_within(&org.path)? {
        *own.entry(f.org_code).or_default() += 1;
    }
    let periods: Vec<String> = (1..=12).map(|m| format!("{year}-{m:02}")).collect();
    // Newest version first per (org, period): the store lists versions newest first.
    let mut newest: HashMap<(String, String), (i64, i64, &'static str)> = HashMap::new();
    let mut approved: HashMap<(String, String), bool> = HashMap::new();
    let prefix = format!("{year}-");
    for f in store.filings_within(&org.path, None)? {
        if !f.period.starts_with(&prefix) {
            continue;
        }
        let status = STATUSES.iter().find(|s| **s == f.status).copied().unwrap_or("draft");
        let key = (f.org_code.clone(), f.period.clone());
        newest.entry(key.clone()).or_insert((f.id, f.version, status));
        if status == "approved" {
            approved.insert(key, true);
        }
    }
    let mut months: Vec<MonthCount> =
        periods.iter().map(|p| MonthCount { period: p.clone(), ..MonthCount::default() }).collect();
    let mut rows = Vec::with_capacity(orgs.len());
    let mut missing_total = 0;
    for o in &orgs {
        let own_facilities = own.get(&o.code).copied().unwrap_or(0);
        let expected = own_facilities > 0;
        let mut cells = Vec::with_capacity(12);
        let mut missing = 0;
        for (i, p) in periods.iter().enumerate() {
            let key = (o.code.clone(), p.clone());
            let (filing, version, status) = match newest.get(&key) {
                Some(&(id, v, s)) => (Some(id), Some(v), s),
                None => (None, None, "none"),
            };
            let is_approved = approved.contains_key(&key);
            let is_missing = expected && !is_approved;
            let m = &mut months[i];
            match status {
                "none" => m.none += 1,
                "submitted" => m.submitted += 1,
                "returned" => m.returned += 1,
                "approved" => m.approved += 1,
                _ => m.draft += 1,
            }
            if expected {
                m.expected += 1;
            }
            if is_missing {
                m.missing += 1;
                missing += 1;
            }
            cells.push(Cell { period: p.clone(), status, filing, version, approved: is_approved, missing: is_missing });
        }
        missing_total += missing;
        rows.push(Row {
            org: o.code.clone(),
            name: o.name.clone(),
            parent: o.parent_code.clone(),
            depth: o.depth - org.depth,
            own_facilities,
            expected,
            cells,
            missing,
        });
    }
    Ok(Grid { org: org.code, year, periods, rows, months, missing: missing_total })
}

/// The months of `year` that have ended at `now_ms` (China Standard Time): 12 for a past year, 0
/// for a future one.
pub fn due_months(year: i32, now_ms: i64) -> usize {
    let days = (now_ms + 8 * 3_600_000).div_euclid(86_400_000);
    let (y, m, _) = model::calendar::civil_from_days(days);
    match y.cmp(&year) {
        std::cmp::Ordering::Greater => 12,
        std::cmp::Ordering::Less => 0,
        std::cmp::Ordering::Equal => (m as usize).saturating_sub(1),
    }
}

/// A filing reminder: the org-months of `code`'s subtree in the months of `year` that have ended
/// (`due`) and have no approved filing, posted as one JSON notice
/// (`{"kind": "filing_reminder", "org", "year", "count", "missing": [{org, name, period, status,
/// filing}]}`) to each webhook target with the alert deliveries' retries (an e-mail gateway that
/// takes a JSON POST is such a target). Returns the notice and each delivery. Blocking.
pub fn remind(
    store: &Store,
    code: &str,
    year: i32,
    due: usize,
    urls: &[monitor::webhook::WebhookUrl],
) -> Result<serde_json::Value> {
    let g = grid(store, code, year)?;
    let missing: Vec<serde_json::Value> = g
        .rows
        .iter()
        .flat_map(|r| {
            r.cells.iter().take(due).filter(|c| c.missing).map(move |c| {
                serde_json::json!({"org": r.org, "name": r.name, "period": c.period, "status": c.status, "filing": c.filing})
            })
        })
        .collect();
    let notice = serde_json::json!({"kind": "filing_reminder", "org": g.org, "year": year, "count": missing.len(),
                                    "missing": missing.iter().take(1000).collect::<Vec<_>>()});
    let body = serde_json::to_vec(&notice).map_err(|e| Error::internal(e.to_string()))?;
    let deliveries: Vec<serde_json::Value> = urls
        .iter()
        .map(|u| {
            let (attempts, status, error) = monitor::webhook::post_with_retries(u, &body);
            serde_json::json!({"url": u.raw, "attempts": attempts, "status": status, "error": error})
        })
        .collect();
    Ok(serde_json::json!({"notice": notice, "deliveries": deliveries}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_months_end_in_china_standard_time() {
        // 2024-03-31 16:30 UTC is 2024-04-01 00:30 in Shanghai: March has ended.
        let t = 1_711_902_600_000;
        assert_eq!(due_months(2024, t), 3);
        assert_eq!(due_months(2023, t), 12);
        assert_eq!(due_months(2025, t), 0);
        assert_eq!(due_months(2024, t - 3_600_000), 2, "an hour earlier it is still March there");
    }
}
