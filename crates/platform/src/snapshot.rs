//! Inventories as immutable snapshots. A run reads the named filing versions and factor-set
//! versions from the store, gives their rows to `ingest` as they are read (the checks of a data
//! directory, without writing one) and computes with `accounting::compute`
//! (the platform never does accounting itself), and stores the report with one row per org of
//! the subtree. Re-running a snapshot reads the very same inputs ([`recorded_inputs`], the one
//! way to gather them), so it gives the same numbers; recomputing after a factor change makes a
//! new version and shows the differences line by line. Explanations come from the same
//! recomputation; the figures by month and facility type are kept per snapshot.

use crate::error::{Error, Kind, Result};
use crate::jobs::Aggregate;
use crate::Platform;
use accounting::metrics::Metrics;
use accounting::{Boundary, ExplainScope, GroupBy, InventoryOptions, ResidualBasis};
use factors::Library;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use store::filings::Filing;
use store::snapshots::{NewSnapshot, Snapshot, SnapshotCell};
use store::Store;

/// What an inventory reads and how: everything needed to compute it again.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub org_code: String,
    pub year: i32,
    pub options: Value,
    pub filings: Vec<Filing>,
    pub factor_sets: Vec<i64>,
}

/// A computed inventory with the loaded data, for reports and explanations.
pub struct Computed {
    pub ds: model::Dataset,
    pub lib: Library,
    pub inventory: accounting::Inventory,
    pub org_id: u32,
    /// The filing each source of the dataset's rows is: `ds.files[i]` is filing `filings[i]`
    /// (and a row's line is its line in that filing's upload).
    pub filings: Vec<i64>,
    /// Scope 3 from procurement: the lines of the supply runs the inputs record
    /// ([`SUPPLY_RUNS`]) within the inventory's org subtree (docs/supply.md).
    pub supply: SupplyScope3,
}

/// The key of a snapshot's options that records the Scope 3 runs from procurement it includes
/// (`platform::supply::record_scope3`): their ids, read again by every recomputation.
pub const SUPPLY_RUNS: &str = "supply_scope3_runs";

/// The procurement Scope 3 lines an inventory includes.
#[derive(Debug, Clone, Default)]
pub struct SupplyScope3 {
    pub runs: Vec<i64>,
    pub lines: Vec<SupplyLine>,
}

/// One line of a Scope 3 run as the inventory books it: its org (index in the dataset's org
/// tree), GHG Protocol category (1, 2 or 4), whole grams, and the run's line as stored (line
/// reference, method, data quality, footprint or factor version, arithmetic).
#[derive(Debug, Clone)]
pub struct SupplyLine {
    pub run: i64,
    pub org: usize,
    pub category: u8,
    pub grams: i64,
    pub stored: Value,
}

/// Index of a supported category in per-category sums: 1, 2, 4.
fn category_slot(category: u8) -> Option<usize> {
    match category {
        1 => Some(0),
        2 => Some(1),
        4 => Some(2),
        _ => None,
    }
}

/// The Scope 3 runs recorded into the inventory (`supply_scope3_recorded`) that an inventory of
/// `org` in `year` includes: those of the org, an org above it or an org within it (recording
/// refuses overlapping runs, so no line is counted twice).
pub fn current_supply_runs(store: &Store, org: &store::reference::Org, year: i32) -> Result<Vec<i64>> {
    let recorded = store.supply_recorded(i64::from(year))?;
    if recorded.is_empty() {
        return Ok(Vec::new());
    }
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    Ok(recorded
        .into_iter()
        .filter(|r| {
            paths.get(&r.org_code).is_some_and(|p| p.starts_with(&org.path) || org.path.starts_with(p.as_str()))
        })
        .map(|r| r.run_id)
        .collect())
}

/// Sets the runs an inventory's options record (none: the key is removed).
fn with_supply_runs(mut options: Value, runs: &[i64]) -> Value {
    if runs.is_empty() {
        if let Some(o) = options.as_object_mut() {
            o.remove(SUPPLY_RUNS);
        }
        return options;
    }
    if !options.is_object() {
        options = json!({});
    }
    options[SUPPLY_RUNS] = json!(runs);
    options
}

/// The procurement Scope 3 lines of the runs `options` records, within `org`'s subtree.
fn supply_lines(store: &Store, ds: &model::Dataset, org: u32, options: &Value) -> Result<SupplyScope3> {
    let runs: Vec<i64> =
        options[SUPPLY_RUNS].as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    let mut out = SupplyScope3 { runs: runs.clone(), lines: Vec::new() };
    for id in runs {
        let run = store.supply_run(id)?.ok_or_else(|| Error::not_found(format!("scope3 run {id}")))?;
        for l in run.result["lines"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let code = l["org_code"].as_str().unwrap_or_default();
            let o = ds.orgs.get(code).ok_or_else(|| {
                invalid("invalid_data", format!("scope3 run {id}: org {code} is not in the org tree"), json!([]))
            })?;
            if !ds.orgs.is_within(o, org) {
                continue;
            }
            let category = l["category"].as_u64().unwrap_or(0) as u8;
            if category_slot(category).is_none() {
                return Err(invalid("invalid_data", format!("scope3 run {id}: category {category}"), json!([])));
            }
            let grams = (l["kg"].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            out.lines.push(SupplyLine { run: id, org: o as usize, category, grams, stored: l.clone() });
        }
    }
    Ok(out)
}

fn invalid(code: &'static str, message: String, detail: Value) -> Error {
    let mut e = Error::new(Kind::Invalid, code, message);
    e.detail = Some(detail);
    e
}

/// Inventory options from the API's JSON (the same values as the command line's flags).
pub fn parse_options(year: i32, v: &Value) -> Result<InventoryOptions> {
    let mut o = InventoryOptions::new(year);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let bad =
        |k: &str, val: &str, allowed: &str| Error::bad_request(format!("option {k} = {val:?}: expected {allowed}"));
    if let Some(g) = text("gwp") {
        if !["AR4", "AR5", "AR6"].contains(&g.as_str()) {
            return Err(bad("gwp", &g, "AR4, AR5 or AR6"));
        }
        o.gwp = g;
    }
    if let Some(g) = text("grid_series") {
        match g.as_str() {
            "nbs-average" | "nbs_average" => o.grid_series = "nbs_average".into(),
            "mee-reporting" | "mee_reporting" => o.grid_series = "mee_reporting".into(),
            _ => return Err(bad("grid_series", &g, "nbs-average or mee-reporting")),
        }
    }
    if let Some(r) = text("residual") {
        o.residual = match r.as_str() {
            "nbs-residual" | "nbs_residual" => ResidualBasis::NbsResidual,
            "location" => ResidualBasis::Location,
            _ => return Err(bad("residual", &r, "nbs-residual or location")),
        };
    }
    if let Some(f) = text("fuel_defaults") {
        o.fuel_defaults = match f.as_str() {
            "cn" | "cn_guideline" => "cn_guideline".into(),
            "ipcc" | "ipcc2006" => "ipcc2006".into(),
            _ => return Err(bad("fuel_defaults", &f, "cn or ipcc")),
        };
    }
    if let Some(e) = text("electricity_tce") {
        match e.as_str() {
            "calorific" | "coal-equivalent" | "coal_equivalent" => o.electricity_tce = e.replace('-', "_"),
            _ => return Err(bad("electricity_tce", &e, "calorific or coal-equivalent")),
        }
    }
    if let Some(b) = text("boundary") {
        o.boundary = match b.as_str() {
            "operational-control" | "operational_control" => Boundary::OperationalControl,
            "equity-share" | "equity_share" => Boundary::EquityShare,
            _ => return Err(bad("boundary", &b, "operational-control or equity-share")),
        };
    }
    Ok(o)
}

/// The shipped library plus the given user factor-set versions.
pub fn library(store: &Store, factor_sets: &[i64]) -> Result<Library> {
    let mut lib = Library::shipped();
    let mut errors = Vec::new();
    for fs in store.factor_sets_by_id(factor_sets)? {
        lib.add_file(&format!("factor_set:{}@v{}", fs.name, fs.version), &fs.toml, true, &mut errors);
    }
    if errors.is_empty() {
        Ok(lib)
    } else {
        Err(invalid(
            "invalid_factors",
            "a stored factor set does not load".into(),
            serde_json::to_value(errors).unwrap_or_default(),
        ))
    }
}

/// Computes an inventory from `inputs`: the stored orgs, facilities and rows of the filings go to
/// `ingest` as they are read from the store (no files), checked as a data directory would be.
pub fn compute(store: &Store, inputs: &Inputs, threads: usize) -> Result<Computed> {
    Ok(compute_keeping(store, inputs, threads, false)?.0)
}

/// [`compute`], keeping in the inventory's own pass the cells a disclosure report of the
/// snapshot's org reads (`report::breakdown_masks`), so the report makes no second pass over the
/// records.
pub fn compute_for_report(store: &Store, inputs: &Inputs, threads: usize) -> Result<(Computed, accounting::Breakdown)> {
    let (c, b) = compute_keeping(store, inputs, threads, true)?;
    let b = b.ok_or_else(|| Error::internal("the inventory's pass kept no report cells"))?;
    Ok((c, b))
}

fn compute_keeping(
    store: &Store,
    inputs: &Inputs,
    threads: usize,
    keep_report_cells: bool,
) -> Result<(Computed, Option<accounting::Breakdown>)> {
    let lib = library(store, &inputs.factor_sets)?;
    let mut opts = parse_options(inputs.year, &inputs.options)?;
    opts.threads = threads;
    let (ds, filings) = stored_dataset(store, inputs, threads)?;
    let org_id = ds.orgs.get(&inputs.org_code).ok_or_else(|| Error::not_found(format!("org {}", inputs.org_code)))?;
    for p in &opts.pins {
        if lib.get(&p.factor_id).is_none() {
            return Err(Error::bad_request(format!("pinned factor {} is not in the library", p.factor_id)));
        }
    }
    let masks = keep_report_cells.then(|| report::breakdown_masks(&ds, org_id));
    let request = masks.as_ref().map(|(within, meter)| accounting::BreakdownRequest { within, meter_documents: meter });
    let (inventory, breakdown) = accounting::compute_with_breakdown(&ds, &lib, &opts, request).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(|e| format!("{e:?}")).collect();
        invalid("no_factor", format!("{} activity kind(s) have no applicable factor", errs.len()), json!(list))
    })?;
    let supply = supply_lines(store, &ds, org_id, &inputs.options)?;
    Ok((Computed { ds, lib, inventory, org_id, filings, supply }, breakdown))
}

/// The dataset of the stored reference data and the rows of the input filings, each row's
/// lineage its filing (`ds.files[i]` is the source of filing `filings[i]`) and its line in the
/// upload. Problems are named by where they are stored (a filing's line, or the reference
/// table), without the values: the caller may not see every filing.
fn stored_dataset(store: &Store, inputs: &Inputs, threads: usize) -> Result<(model::Dataset, Vec<i64>)> {
    let orgs = store.orgs()?;
    let facilities = store.facilities_within("/")?;
    let mut report = ingest::ValidationReport::default();
    let reference = ingest::Reference::from_records(
        orgs.iter().map(|o| ingest::OrgFields {
            code: &o.code,
            name: &o.name,
            parent_code: o.parent_code.as_deref().unwrap_or(""),
            equity_share: &o.equity_share,
            operational_control: &o.operational_control,
        }),
        facilities.iter().map(|f| ingest::FacilityFields {
            code: &f.code,
            name: &f.name,
            kind: &f.kind,
            org_code: &f.org_code,
            province: &f.province,
            allocation_share: &f.allocation_share,
            shared_with: &f.shared_with,
        }),
        &mut report,
    );
    drop(facilities);
    let ids: Vec<i64> = inputs.filings.iter().map(|f| f.id).collect();
    // Where each kept error is: (filing, line in its upload) for a row's, None for the reference's.
    let mut located: Vec<Option<(i64, i64)>> = vec![None; report.errors.len()];
    let Some(reference) = reference else { return Err(not_loaded(&report, &located)) };
    let mut rows = reference.rows(inputs.year);
    let mut sources = HashMap::new();
    for &id in &ids {
        let source = rows.source(&format!("filing {id}")).ok_or_else(|| {
            invalid("invalid_data", format!("{} filings are more than one inventory reads", ids.len()), json!([]))
        })?;
        sources.insert(id, source);
    }
    store.for_each_activity(&ids, &mut |filing, r| {
        for e in rows.push(sources[&filing], r.line as u64, &crate::filing::stored_fields(r)).errors {
            report.push(e);
            if located.len() < report.errors.len() {
                located.push(Some((filing, r.line)));
            }
        }
        Ok(())
    })?;
    let loaded = rows.finish();
    let before = report.errors.len();
    let ds = reference.dataset(inputs.year, loaded, threads, &mut report);
    // Duplicate keys, found once every row is in: named by their filing's source.
    let by_name: HashMap<String, i64> = ids.iter().map(|&id| (format!("filing {id}"), id)).collect();
    located.extend(report.errors[before..].iter().map(|e| by_name.get(&e.file).map(|&f| (f, e.line as i64))));
    match ds {
        Some(ds) => Ok((ds, ids)),
        None => Err(not_loaded(&report, &located)),
    }
}

/// The error of stored data that does not load: each problem named by its filing and line, or
/// its reference table.
fn not_loaded(r: &ingest::ValidationReport, located: &[Option<(i64, i64)>]) -> Error {
    let detail: Vec<Value> = r
        .errors
        .iter()
        .zip(located.iter().copied().chain(std::iter::repeat(None)))
        .take(100)
        .map(|(e, at)| match (e.file.as_str(), at) {
            (_, Some((filing, line))) => {
                json!({"filing": filing, "line": line, "column": e.column, "reason": e.reason})
            }
            ("orgs", _) => json!({"reference": "orgs", "column": e.column, "value": e.value, "reason": e.reason}),
            ("facilities", _) => {
                json!({"reference": "facilities", "column": e.column, "value": e.value, "reason": e.reason})
            }
            _ => json!({"column": e.column, "reason": e.reason}),
        })
        .collect();
    invalid("invalid_data", format!("the filed data does not load: {} error(s)", r.total), json!(detail))
}

impl Computed {
    /// The stored result: the org's report with one row per org of its subtree. Its schema stays
    /// the one snapshots were stored with, so a snapshot stored before still recomputes to its
    /// stored result: the report's `units` and `factor_vintages` are served beside it by
    /// `GET /snapshots/{id}` (units by field name; vintages from the stored `factors_used`).
    pub fn result(&self) -> Value {
        let mut v =
            serde_json::to_value(self.inventory.report(&self.ds, &self.lib, Some(self.org_id), Some(GroupBy::Org)))
                .unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("units");
            o.remove("factor_vintages");
        }
        if !self.supply.runs.is_empty() {
            self.add_supply(&mut v);
        }
        v
    }

    /// Per org of the tree: the procurement Scope 3 of its subtree in grams by category (1, 2, 4).
    pub fn supply_subtree(&self) -> Vec<[i64; 3]> {
        let n = self.ds.orgs.orgs.len();
        let mut out = vec![[0i64; 3]; n];
        for l in &self.supply.lines {
            if let Some(i) = category_slot(l.category) {
                out[l.org][i] += l.grams;
            }
        }
        for o in (1..n).rev() {
            if let Some(p) = self.ds.orgs.orgs[o].parent {
                let child = out[o];
                for (x, c) in out[p as usize].iter_mut().zip(child) {
                    *x += c;
                }
            }
        }
        out
    }

    /// The figures with the procurement Scope 3 added, from the exact integers: Scope 3 and the
    /// totals, category 1 and 4 (activity + procurement), category 2 (procurement), and the
    /// procurement part by category (`scope3.from_procurement`).
    fn add_supply(&self, v: &mut Value) {
        use accounting::metrics::{to_thousands, S2_LOCATION, S2_MARKET, S3_CAT1, S3_CAT4};
        let metrics = self.inventory.org_subtree(&self.ds);
        let supply = self.supply_subtree();
        let patch = |fig: &mut Value, o: usize| {
            let (m, g) = (&metrics[o], supply[o]);
            let mg = |grams: i64| i128::from(grams) * 1000;
            let s = mg(g[0] + g[1] + g[2]);
            fig["totals"]["scope3"] = json!(to_thousands(m.scope3() + s));
            fig["totals"]["total_location"] = json!(to_thousands(m.scope1() + m.0[S2_LOCATION] + m.scope3() + s));
            fig["totals"]["total_market"] = json!(to_thousands(m.scope1() + m.0[S2_MARKET] + m.scope3() + s));
            fig["scope3"]["cat1_purchased_goods"] = json!(to_thousands(m.0[S3_CAT1] + mg(g[0])));
            fig["scope3"]["cat2_capital_goods"] = json!(to_thousands(mg(g[1])));
            fig["scope3"]["cat4_upstream_transport"] = json!(to_thousands(m.0[S3_CAT4] + mg(g[2])));
            fig["scope3"]["from_procurement"] = json!({
                "cat1_purchased_goods": to_thousands(mg(g[0])),
                "cat2_capital_goods": to_thousands(mg(g[1])),
                "cat4_upstream_transport": to_thousands(mg(g[2])),
                "total": to_thousands(s),
            });
        };
        patch(v, self.org_id as usize);
        if let Some(rows) = v["rows"].as_array_mut() {
            for r in rows {
                if let Some(o) = r["key"].as_str().and_then(|k| self.ds.orgs.get(k)) {
                    patch(r, o as usize);
                }
            }
        }
        v["supply_scope3"] = json!({"runs": self.supply.runs, "lines": self.supply.lines.len()});
    }
}

pub fn filings_json(filings: &[Filing]) -> Value {
    json!(filings
        .iter()
        .map(|f| json!({"id": f.id, "org_code": f.org_code, "period": f.period, "version": f.version}))
        .collect::<Vec<_>>())
}

/// The inputs a snapshot recorded.
pub fn recorded_inputs(store: &Store, s: &Snapshot) -> Result<Inputs> {
    let ids: Vec<i64> =
        s.filings.as_array().map(|a| a.iter().filter_map(|f| f["id"].as_i64()).collect()).unwrap_or_default();
    let filings = ids.iter().map(|&id| store.filing(id)).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Inputs {
        org_code: s.org_code.clone(),
        year: s.year as i32,
        options: s.options.clone(),
        filings,
        factor_sets: s.factor_sets.clone(),
    })
}

/// The figures compared between two results, per org row and in total.
const FIGURES: [&str; 7] =
    ["scope1", "scope2_location", "scope2_market", "scope3", "total_location", "total_market", "energy_tce"];

/// Every figure that differs between two results, line by line (org × figure).
pub fn differences(before: &Value, after: &Value) -> Vec<Value> {
    let rows = |v: &Value| -> Vec<(String, Value)> {
        let mut out = vec![("TOTAL".to_string(), v["totals"].clone())];
        if let Some(a) = v["rows"].as_array() {
            out.extend(a.iter().map(|r| (r["key"].as_str().unwrap_or("").to_string(), r["totals"].clone())));
        }
        out
    };
    let b: HashMap<String, Value> = rows(before).into_iter().collect();
    let mut out = Vec::new();
    for (key, a) in rows(after) {
        let old = b.get(&key).cloned().unwrap_or(Value::Null);
        for f in FIGURES {
            let (x, y) = (old[f].as_f64(), a[f].as_f64());
            if x != y {
                out.push(json!({"org": key, "figure": f, "before": x, "after": y, "change": y.unwrap_or(0.0) - x.unwrap_or(0.0)}));
            }
        }
    }
    out
}

/// Runs an inventory on the current approved filings and factor sets and stores the snapshot.
pub fn run_blocking(
    store: &Store,
    actor: &str,
    org_code: &str,
    year: i32,
    options: Value,
    threads: usize,
) -> Result<Snapshot> {
    let org = store.org(org_code)?.ok_or_else(|| Error::not_found(format!("org {org_code}")))?;
    let filings = store.current_filings(year, &org.path)?;
    let factor_sets = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
    let options = with_supply_runs(options, &current_supply_runs(store, &org, year)?);
    let inputs = Inputs { org_code: org.code.clone(), year, options, filings, factor_sets };
    let c = compute(store, &inputs, threads)?;
    Ok(store.add_snapshot(
        actor,
        NewSnapshot {
            org_code: inputs.org_code,
            year: year as i64,
            supersedes: None,
            reason: String::new(),
            options: inputs.options,
            filings: filings_json(&inputs.filings),
            factor_sets: inputs.factor_sets,
            library_version: c.lib.version(),
            library_fingerprint: c.lib.fingerprint(),
            result: c.result(),
            cells: c.cells(),
        },
    )?)
}

/// The factors of a stored result whose data year is not the inventory year: id, years, the
/// vintage code, and the parameter and carrier they serve.
pub fn factor_vintages(result: &Value, year: i32) -> Vec<Value> {
    result["factors_used"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|f| {
                    let fy = f["year"].as_i64()? as i32;
                    let code = accounting::plan::vintage_code(Some(fy), year)?;
                    Some(json!({"factor_id": f["id"], "factor_year": fy, "inventory_year": year, "code": code,
                                "parameter": f["parameter"], "carrier": f["carrier"], "region": f["region"]}))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The factor library the platform computes with: the shipped sets and the current user sets,
/// every factor with its set and source.
pub fn library_listing(store: &Store) -> Result<Value> {
    let ids: Vec<i64> = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
    let lib = library(store, &ids)?;
    let sets: Vec<Value> = lib
        .sets
        .iter()
        .map(|s| json!({"id": s.header.id, "version": s.header.version, "title": s.header.title, "user": s.user}))
        .collect();
    let factors: Vec<Value> = lib
        .factors
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            v["set_id"] = json!(lib.sets[f.set].header.id);
            v["primary"] = json!(lib.primary(f));
            v
        })
        .collect();
    Ok(json!({"version": lib.version(), "fingerprint": lib.fingerprint(), "sets": sets, "factors": factors}))
}

/// Computes a snapshot again from exactly the inputs it recorded and compares.
pub fn rerun(store: &Store, id: i64, threads: usize) -> Result<Value> {
    let s = store.snapshot(id)?;
    let c = compute(store, &recorded_inputs(store, &s)?, threads)?;
    let again = c.result();
    let diffs = differences(&s.result, &again);
    // The figures it keeps by org × facility type × month must be the recomputation's too.
    let sorted = |mut cells: Vec<SnapshotCell>| {
        cells.sort_by(|a, b| (&a.org_code, &a.facility_type, a.month).cmp(&(&b.org_code, &b.facility_type, b.month)));
        cells
    };
    let cells_identical = store.snapshot_cells(id)?.map(|kept| sorted(kept) == sorted(c.cells()));
    Ok(json!({"snapshot": id, "identical": again == s.result && cells_identical != Some(false),
              "cells_identical": cells_identical, "differences": diffs}))
}

/// Explains snapshot `id`'s figure for org `code` of its subtree down to records × factors; each
/// record names the filing and the line of the uploaded file it came from.
pub fn explain(platform: &Platform, id: i64, code: &str, scope: ExplainScope, limit: usize) -> Result<Value> {
    let store = &platform.store;
    let c = platform.computed_snapshot(id, || {
        let s = store.snapshot(id)?;
        compute(store, &recorded_inputs(store, &s)?, platform.threads)
    })?;
    let target = c.ds.orgs.get(code).ok_or_else(|| Error::not_found(format!("org {code}")))?;
    let ex = c.inventory.explain(&c.ds, &c.lib, target, scope, limit);
    let mut v = serde_json::to_value(&ex).map_err(|e| Error::internal(e.to_string()))?;
    if let Some(lines) = v["lines"].as_array_mut() {
        for l in lines {
            let source = l["record"]["file"].as_str().and_then(|f| c.ds.files.iter().position(|s| s == f));
            if let Some(&filing) = source.and_then(|i| c.filings.get(i)) {
                l["record"] = json!({"filing_id": filing, "line": l["record"]["line"]});
            }
        }
    }
    let mut out = json!({"snapshot": id, "explanation": v});
    if scope == ExplainScope::Scope3 && !c.supply.runs.is_empty() {
        out["supply_scope3"] = supply_explanation(&c, target, limit);
    }
    Ok(out)
}

/// The procurement part of an org's Scope 3 in a snapshot: each line of the recorded runs within
/// the org's subtree with its method, data quality, footprint or EEIO / transport factor version
/// and arithmetic; the totals by category; and the org's Scope 3 (activity records + procurement)
/// that the two parts add up to, from the exact integers.
fn supply_explanation(c: &Computed, target: u32, limit: usize) -> Value {
    use accounting::metrics::to_thousands;
    let within: Vec<&SupplyLine> =
        c.supply.lines.iter().filter(|l| c.ds.orgs.is_within(l.org as u32, target)).collect();
    let g = c.supply_subtree()[target as usize];
    let activity = c.inventory.org_subtree(&c.ds)[target as usize].scope3();
    let mg = |grams: i64| i128::from(grams) * 1000;
    let lines: Vec<Value> = within
        .iter()
        .take(limit)
        .map(|l| {
            json!({"run": l.run, "line": l.stored["line"], "org_code": l.stored["org_code"], "category": l.category,
                   "method": l.stored["method"], "kg": l.stored["kg"], "dqr": l.stored["dqr"],
                   "reference": l.stored["reference"], "explain": l.stored["explain"]})
        })
        .collect();
    json!({
        "runs": c.supply.runs,
        "unit": "tCO2e",
        "values_unit": "kgCO2e",
        "by_category": {"1": to_thousands(mg(g[0])), "2": to_thousands(mg(g[1])), "4": to_thousands(mg(g[2]))},
        "total": to_thousands(mg(g[0] + g[1] + g[2])),
        "activity_scope3": to_thousands(activity),
        "scope3": to_thousands(activity + mg(g[0] + g[1] + g[2])),
        "lines_total": within.len(),
        "lines": lines,
    })
}

/// Adds a user factor set or a new version of one (same `[set] id`). It must load together with
/// the shipped library and the other current sets. Returns it with the snapshots it affects.
pub fn add_factor_set(
    store: &Store,
    actor: &str,
    root: &str,
    toml: &str,
    reason: &str,
    threads: usize,
) -> Result<(store::snapshots::FactorSetVersion, Vec<Value>)> {
    if reason.trim().is_empty() {
        return Err(Error::bad_request("say why the factors change (reason)"));
    }
    let mut probe = Library::shipped();
    let mut errors = Vec::new();
    probe.add_file("upload", toml, true, &mut errors);
    let name = probe.sets.last().filter(|s| s.user).map(|s| s.header.id.clone());
    let others: Vec<i64> =
        store.current_factor_sets()?.into_iter().filter(|f| Some(&f.name) != name.as_ref()).map(|f| f.id).collect();
    // The new version must load on top of the shipped library and the other current sets.
    let mut full = library(store, &others)?;
    if errors.is_empty() {
        full.add_file("upload", toml, true, &mut errors);
    }
    if !errors.is_empty() {
        return Err(invalid(
            "invalid_factors",
            format!("{} problem(s) in the factor set", errors.len()),
            serde_json::to_value(&errors).unwrap_or_default(),
        ));
    }
    let name = name.ok_or_else(|| Error::bad_request("the file has no [set]"))?;
    let fs = store.add_factor_set(actor, &name, toml, reason, root)?;
    let affected = affected_snapshots(store, threads)?;
    Ok((fs, affected))
}

/// Base-year recalculation: a new version of the snapshot with the same activity versions and the
/// current factor sets; the old version stays as it was. Returns it with the differences.
pub fn recompute(store: &Store, actor: &str, id: i64, reason: &str, threads: usize) -> Result<Value> {
    if reason.trim().is_empty() {
        return Err(Error::bad_request("say why the snapshot is recomputed (reason)"));
    }
    if store.superseded_snapshots()?.contains(&id) {
        return Err(
            store::StoreError::Conflict(format!("snapshot {id} is superseded; recompute its newest version")).into()
        );
    }
    let old = store.snapshot(id)?;
    let mut inputs = recorded_inputs(store, &old)?;
    inputs.factor_sets = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
    let org = store.org(&old.org_code)?.ok_or_else(|| Error::not_found(format!("org {}", old.org_code)))?;
    inputs.options = with_supply_runs(inputs.options, &current_supply_runs(store, &org, old.year as i32)?);
    let c = compute(store, &inputs, threads)?;
    let result = c.result();
    let diffs = differences(&old.result, &result);
    let snap = store.add_snapshot(
        actor,
        NewSnapshot {
            org_code: old.org_code.clone(),
            year: old.year,
            supersedes: Some(id),
            reason: reason.to_string(),
            options: inputs.options.clone(),
            filings: old.filings.clone(),
            factor_sets: inputs.factor_sets,
            library_version: c.lib.version(),
            library_fingerprint: c.lib.fingerprint(),
            result,
            cells: c.cells(),
        },
    )?;
    Ok(json!({"snapshot": snap, "differences": diffs}))
}

/// Dashboard figures: the current (not superseded) snapshots, and per snapshot its rows by org,
/// each loaded once (a new snapshot clears them). A burst of requests after a new snapshot waits
/// for one load instead of each parsing the snapshot.
#[derive(Default)]
pub struct DashboardCache {
    current: RwLock<Option<Arc<Vec<SnapshotMeta>>>>,
    rows: RwLock<HashMap<i64, Arc<SnapshotRows>>>,
    loading: tokio::sync::Mutex<()>,
}

pub struct SnapshotMeta {
    pub id: i64,
    pub year: i64,
    pub org_path: String,
}

pub struct SnapshotRows {
    pub year: i64,
    pub library_version: String,
    pub by_org: HashMap<String, Value>,
}

impl DashboardCache {
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.current.write() {
            *c = None;
        }
        if let Ok(mut r) = self.rows.write() {
            r.clear();
        }
    }

    pub async fn current(&self, app: &Platform) -> Result<Arc<Vec<SnapshotMeta>>> {
        if let Some(c) = self.current.read().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let _one = self.loading.lock().await;
        if let Some(c) = self.current.read().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let list = app
            .db(|s| {
                let superseded = s.superseded_snapshots()?;
                let paths: HashMap<String, String> = s.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
                Ok(s.snapshot_list()?
                    .into_iter()
                    .filter(|x| !superseded.contains(&x.id))
                    .map(|x| SnapshotMeta {
                        id: x.id,
                        year: x.year,
                        org_path: paths.get(&x.org_code).cloned().unwrap_or_default(),
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        let list = Arc::new(list);
        if let Ok(mut c) = self.current.write() {
            *c = Some(list.clone());
        }
        Ok(list)
    }

    pub async fn rows(&self, app: &Platform, id: i64) -> Result<Arc<SnapshotRows>> {
        if let Some(r) = self.rows.read().ok().and_then(|r| r.get(&id).cloned()) {
            return Ok(r);
        }
        let _one = self.loading.lock().await;
        if let Some(r) = self.rows.read().ok().and_then(|r| r.get(&id).cloned()) {
            return Ok(r);
        }
        let s = app.db(move |s| s.snapshot(id)).await?;
        let by_org = s.result["rows"]
            .as_array()
            .map(|rows| rows.iter().map(|r| (r["key"].as_str().unwrap_or("").to_string(), r.clone())).collect())
            .unwrap_or_default();
        let rows = Arc::new(SnapshotRows { year: s.year, library_version: s.library_version, by_org });
        if let Ok(mut r) = self.rows.write() {
            r.insert(id, rows.clone());
        }
        Ok(rows)
    }
}

/// Current snapshots whose figures change with the current factor sets (same activity versions).
pub fn affected_snapshots(store: &Store, threads: usize) -> Result<Vec<Value>> {
    let superseded = store.superseded_snapshots()?;
    let current: Vec<i64> = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
    let mut out = Vec::new();
    for s in store.snapshot_list()?.into_iter().filter(|s| !superseded.contains(&s.id)) {
        if s.factor_sets == current {
            continue;
        }
        let full = store.snapshot(s.id)?;
        let mut inputs = recorded_inputs(store, &full)?;
        inputs.factor_sets = current.clone();
        let c = compute(store, &inputs, threads)?;
        let diffs = differences(&full.result, &c.result());
        if !diffs.is_empty() {
            out.push(json!({"snapshot": s.id, "org_code": s.org_code, "year": s.year, "version": s.version, "changed_lines": diffs.len()}));
        }
    }
    Ok(out)
}

impl Computed {
    /// The cells a snapshot keeps: the figures of each org's own facilities (orgs of the snapshot
    /// org's subtree) by facility type and month, exact.
    pub fn cells(&self) -> Vec<SnapshotCell> {
        self.inventory
            .own_cells()
            .into_iter()
            .filter(|(o, ..)| self.ds.orgs.is_within(*o as u32, self.org_id))
            .map(|(o, t, m, c)| SnapshotCell {
                org_code: self.ds.orgs.orgs[o].code.clone(),
                facility_type: t.code().into(),
                month: m as i64,
                metrics: c.encode(),
            })
            .collect()
    }
}

/// One row of an org's figures by month (`YYYY-MM`) or facility type (its code).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FigureRow {
    pub key: String,
    pub totals: accounting::Totals,
}

/// An org's figures by month (all twelve) and by facility type (the types with figures), and the
/// totals of its own facilities (本级: those attached to the org itself, not to an org below it;
/// with its children's totals they make the org's total exactly).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrgFigures {
    pub months: Vec<FigureRow>,
    pub facility_types: Vec<FigureRow>,
    pub own: accounting::Totals,
}

/// A snapshot's figures by month and by facility type for every org of its subtree.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeptFigures {
    pub snapshot: i64,
    pub library_fingerprint: String,
    pub orgs: std::collections::BTreeMap<String, OrgFigures>,
}

/// The figures by month and by facility type of every org of snapshot `s`'s subtree, from the
/// cells it keeps (each org's are the exact sum of the cells of its subtree, `accounting::cell_rows`).
/// `None` when the snapshot keeps no cells (stored before they were kept: see [`keep_cells_of`]).
pub fn kept_figures(store: &Store, s: &Snapshot) -> Result<Option<KeptFigures>> {
    let Some(cells) = store.snapshot_cells(s.id)? else { return Ok(None) };
    let root = store
        .org(&s.org_code)?
        .ok_or_else(|| Error::internal(format!("snapshot {}: org {} missing", s.id, s.org_code)))?;
    let orgs = store.orgs_within(&root.path)?;
    let path_of: HashMap<&str, &str> = orgs.iter().map(|o| (o.code.as_str(), o.path.as_str())).collect();
    let mut by_org: HashMap<&str, Vec<(model::FacilityType, u8, Metrics)>> = HashMap::new();
    for c in &cells {
        let bad = || {
            Error::internal(format!(
                "snapshot {}: a kept cell does not read ({} {} {})",
                s.id, c.org_code, c.facility_type, c.month
            ))
        };
        let t = model::FacilityType::parse(&c.facility_type).ok_or_else(bad)?;
        let m = Metrics::decode(&c.metrics).ok_or_else(bad)?;
        let month = u8::try_from(c.month).ok().filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
        if !path_of.contains_key(c.org_code.as_str()) {
            return Err(bad());
        }
        by_org.entry(c.org_code.as_str()).or_default().push((t, month, m));
    }
    let mut out = std::collections::BTreeMap::new();
    for org in &orgs {
        let within: Vec<(model::FacilityType, u8, &Metrics)> = by_org
            .iter()
            .filter(|(code, _)| path_of.get(**code).is_some_and(|p| p.starts_with(org.path.as_str())))
            .flat_map(|(_, cells)| cells.iter().map(|(t, m, c)| (*t, *m, c)))
            .collect();
        let rows = |by| -> Vec<FigureRow> {
            accounting::cell_rows(s.year as i32, within.iter().copied(), by)
                .into_iter()
                .map(|r| FigureRow { key: r.key, totals: r.figures.totals })
                .collect()
        };
        let mut own = Metrics::default();
        for (_, _, c) in by_org.get(org.code.as_str()).map_or(&[][..], |v| v.as_slice()) {
            own.add(c);
        }
        out.insert(
            org.code.clone(),
            OrgFigures {
                months: rows(GroupBy::Month),
                facility_types: rows(GroupBy::FacilityType),
                own: accounting::Figures::from_metrics(&own).totals,
            },
        );
    }
    Ok(Some(KeptFigures { snapshot: s.id, library_fingerprint: s.library_fingerprint.clone(), orgs: out }))
}

/// Gives snapshot `id`, stored before snapshots kept their cells, its cells: computed again from
/// its recorded inputs, kept only when the recomputation reproduces its stored result exactly
/// (otherwise the cells would not belong to the snapshot and none are kept). Then its figures
/// ([`kept_figures`]). Blocking.
pub fn keep_cells_of(store: &Store, id: i64, threads: usize) -> Result<KeptFigures> {
    let s = store.snapshot(id)?;
    if let Some(v) = kept_figures(store, &s)? {
        return Ok(v);
    }
    let c = compute(store, &recorded_inputs(store, &s)?, threads)?;
    if c.result() != s.result {
        return Err(Error::internal(format!(
            "snapshot {id} does not recompute to its stored result; run POST /api/v1/snapshots/{id}/rerun to see the differences"
        )));
    }
    store.keep_snapshot_cells(id, &c.cells())?;
    kept_figures(store, &s)?.ok_or_else(|| Error::internal(format!("snapshot {id}: its cells were not kept")))
}

/// The aggregates of a snapshot now, on the calling (blocking) thread: from memory, else kept in
/// the store, else computed here and kept in both, as the console's job keeps them. For routes
/// that read several snapshots at once (the trend), so a repeated call recomputes nothing.
pub fn snapshot_aggregates(app: &Platform, id: i64) -> Result<Arc<KeptFigures>> {
    if let Some(Aggregate::Ready(v)) = app.console.aggregates.lock().expect("aggregates lock").get(&id) {
        return Ok(v.clone());
    }
    let snap = app.store.snapshot(id)?;
    let v = match kept_figures(&app.store, &snap)? {
        Some(v) => v,
        None => keep_cells_of(&app.store, id, app.threads)?,
    };
    let v = Arc::new(v);
    app.console.aggregates.lock().expect("aggregates lock").insert(id, Aggregate::Ready(v.clone()));
    Ok(v)
}

/// The aggregates of a snapshot: ready (from memory, or `kept` in the store: read by the caller on
/// a blocking thread), or a job computing them (started here if none runs).
pub fn aggregates(
    app: &Arc<Platform>,
    snap: &Snapshot,
    snap_org_path: &str,
    actor: &str,
    kept: Option<KeptFigures>,
) -> Aggregate {
    let id = snap.id;
    let mut map = app.console.aggregates.lock().expect("aggregates lock");
    if let Some(a) = map.get(&id) {
        return a.clone();
    }
    if let Some(v) = kept {
        let a = Aggregate::Ready(Arc::new(v));
        map.insert(id, a.clone());
        return a;
    }
    let job = app.console.start(
        "aggregate",
        (
            format!("monthly figures of snapshot {id} ({} {})", snap.org_code, snap.year),
            serde_json::json!({"snapshot": id, "org": snap.org_code, "year": snap.year}),
        ),
        actor,
        (&snap.org_code, snap_org_path),
        format!("snapshot/{id}"),
        2,
    );
    map.insert(id, Aggregate::Computing { job });
    drop(map);
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || {
        app2.console.stage(job, ("recomputing", "recomputing the snapshot"), 0);
        let outcome = keep_cells_of(&app2.store, id, app2.threads);
        let entry = match &outcome {
            Ok(v) => Aggregate::Ready(Arc::new(v.clone())),
            Err(e) => Aggregate::Failed(e.message.clone()),
        };
        app2.console.aggregates.lock().expect("aggregates lock").insert(id, entry);
        app2.console.finish(job, outcome.map(|_| json!({"snapshot": id})));
    });
    Aggregate::Computing { job }
}

/// The newest current snapshot covering the org (of the org itself or of an org above it).
pub fn covering_snapshot(store: &Store, path: &str, year: i32) -> Result<Option<Snapshot>> {
    let superseded = store.superseded_snapshots()?;
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    let best = store
        .snapshot_list()?
        .into_iter()
        .filter(|s| !superseded.contains(&s.id) && (year == 0 || s.year == year as i64))
        .filter(|s| paths.get(&s.org_code).is_some_and(|p| path.starts_with(p.as_str())))
        .max_by_key(|s| (s.year, s.id));
    match best {
        Some(b) => Ok(Some(store.snapshot(b.id)?)),
        None => Ok(None),
    }
}

/// The figures of the overview compared: the same org's totals in the newest current snapshot of
/// the year before (`covering_snapshot` of `year - 1`) and their change, field by field (`change`
/// = current − previous, `change_ratio` = change / previous, null when previous is 0), in the
/// snapshots' units; and intensities per site (the totals over the facilities of the org's subtree:
/// `sites`; unit `<figure unit>/site`). `per_business` stays null here: energy and carbon per unit
/// of telecom business volume are indicators (`GET /api/v1/orgs/{code}/indicators`,
/// `energy_per_business`, `carbon_per_business`) once business-volume data is filed.
pub fn comparisons(store: &Store, path: &str, code: &str, year: i64, current: &Value) -> Result<Value> {
    const FIELDS: [&str; 8] = [
        "total_market",
        "total_location",
        "scope1",
        "scope2_market",
        "scope2_location",
        "scope3",
        "energy_tce",
        "electricity_mwh",
    ];
    let totals = &current["totals"];
    let previous = match covering_snapshot(store, path, (year - 1) as i32)? {
        Some(prev) if prev.year == year - 1 => {
            let row = prev.result["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["key"] == json!(code)));
            row.map(|r| {
                let mut change = serde_json::Map::new();
                for f in FIELDS {
                    if let (Some(now), Some(before)) = (totals[f].as_f64(), r["totals"][f].as_f64()) {
                        change.insert(
                            f.to_string(),
                            json!({"previous": before, "change": now - before,
                                   "change_ratio": if before != 0.0 { json!((now - before) / before) } else { Value::Null }}),
                        );
                    }
                }
                json!({"year": prev.year, "snapshot": prev.id, "figures": change})
            })
        }
        _ => None,
    };
    let sites = store.facilities_within(path)?.len();
    let per_site: serde_json::Map<String, Value> = if sites == 0 {
        serde_json::Map::new()
    } else {
        FIELDS.iter().filter_map(|f| totals[*f].as_f64().map(|v| (f.to_string(), json!(v / sites as f64)))).collect()
    };
    Ok(json!({"previous": previous, "intensity": {"sites": sites, "per_site": per_site, "per_business": null}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_vintages_come_from_the_stored_factors_and_the_snapshot_year() {
        // A result stored before snapshots were served with vintages: only factors_used with years.
        let result = json!({"factors_used": [
            {"id": "elec.nbs_average.CN-GD.2022", "year": 2022, "parameter": "emission_factor", "carrier": "electricity", "region": "CN-GD"},
            {"id": "elec.nbs_residual.CN.2023", "year": 2023, "parameter": "emission_factor", "carrier": "electricity", "region": "CN"},
            {"id": "elec.x.2024", "year": 2024, "parameter": "emission_factor", "carrier": "electricity", "region": "CN"},
            {"id": "gwp.ar6.CH4", "year": null, "parameter": "gwp", "carrier": "CH4", "region": "*"}
        ]});
        let v = factor_vintages(&result, 2024);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0]["factor_id"], "elec.nbs_average.CN-GD.2022");
        assert_eq!((v[0]["factor_year"].as_i64(), v[0]["inventory_year"].as_i64()), (Some(2022), Some(2024)));
        assert_eq!(v[1]["code"], "factor_year_before_inventory");
        assert_eq!(factor_vintages(&result, 2021)[0]["code"], "factor_year_after_inventory");
    }

    #[test]
    fn differences_name_each_changed_org_and_figure() {
        let before = json!({"totals": {"scope1": 1.0, "scope2_location": 2.0}, "rows": [{"key": "A", "totals": {"scope1": 1.0}}]});
        let after = json!({"totals": {"scope1": 1.0, "scope2_location": 2.5}, "rows": [{"key": "A", "totals": {"scope1": 0.5}}, {"key": "B", "totals": {"scope1": 3.0}}]});
        let d = differences(&before, &after);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(
            d[0],
            json!({"org": "TOTAL", "figure": "scope2_location", "before": 2.0, "after": 2.5, "change": 0.5})
        );
        assert_eq!(d[1]["org"], json!("A"));
        assert_eq!((d[2]["org"].clone(), d[2]["before"].clone()), (json!("B"), Value::Null), "a new org row");
        assert!(differences(&after, &after).is_empty());
    }

    #[test]
    fn options_take_the_command_line_spellings_and_refuse_others() {
        let o = parse_options(
            2024,
            &json!({"gwp": "AR5", "grid_series": "mee-reporting", "boundary": "equity-share", "fuel_defaults": "ipcc"}),
        )
        .unwrap();
        assert_eq!(
            (o.gwp.as_str(), o.grid_series.as_str(), o.fuel_defaults.as_str()),
            ("AR5", "mee_reporting", "ipcc2006")
        );
        assert_eq!(o.boundary, Boundary::EquityShare);
        assert!(parse_options(2024, &json!({"residual": "magic"})).is_err());
        assert_eq!(parse_options(2024, &json!({})).unwrap().gwp, "AR6");
    }
}
