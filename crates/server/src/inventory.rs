//! Inventories as immutable snapshots. A run reads the named filing versions and factor-set
//! versions from the store, gives their rows to `ingest` as they are read (checked as a data
//! directory's would be, without writing one) and computes
//! with `accounting::compute` (the server never does accounting itself), and stores the report with
//! one row per org of the subtree. Re-running a snapshot reads the very same inputs, so it gives
//! the same numbers; recomputing after a factor change makes a new version and shows the
//! differences line by line. Explanations come from the same recomputation.

use crate::access::Caller;
use crate::error::{ApiError, ApiResult};
use crate::App;
use accounting::{Boundary, ExplainScope, GroupBy, InventoryOptions, ResidualBasis};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use factors::Library;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use store::filings::Filing;
use store::snapshots::{NewSnapshot, Snapshot};
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
}

fn invalid(code: &'static str, message: String, detail: Value) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    e.detail = Some(detail);
    e
}

/// Inventory options from the API's JSON (the same values as the command line's flags).
pub fn parse_options(year: i32, v: &Value) -> ApiResult<InventoryOptions> {
    let mut o = InventoryOptions::new(year);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let bad =
        |k: &str, val: &str, allowed: &str| ApiError::bad_request(format!("option {k} = {val:?}: expected {allowed}"));
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
pub fn library(store: &Store, factor_sets: &[i64]) -> ApiResult<Library> {
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
pub fn compute(store: &Store, inputs: &Inputs, threads: usize) -> ApiResult<Computed> {
    let lib = library(store, &inputs.factor_sets)?;
    let mut opts = parse_options(inputs.year, &inputs.options)?;
    opts.threads = threads;
    let (ds, filings) = stored_dataset(store, inputs, threads)?;
    let org_id =
        ds.orgs.get(&inputs.org_code).ok_or_else(|| ApiError::not_found(format!("org {}", inputs.org_code)))?;
    for p in &opts.pins {
        if lib.get(&p.factor_id).is_none() {
            return Err(ApiError::bad_request(format!("pinned factor {} is not in the library", p.factor_id)));
        }
    }
    let inventory = accounting::compute(&ds, &lib, &opts).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(|e| format!("{e:?}")).collect();
        invalid("no_factor", format!("{} activity kind(s) have no applicable factor", errs.len()), json!(list))
    })?;
    Ok(Computed { ds, lib, inventory, org_id, filings })
}

/// The dataset of the stored reference data and the rows of the input filings, each row's
/// lineage its filing (`ds.files[i]` is the source of filing `filings[i]`) and its line in the
/// upload. Problems are named by where they are stored (a filing's line, or the reference
/// table), without the values: the caller may not see every filing.
fn stored_dataset(store: &Store, inputs: &Inputs, threads: usize) -> ApiResult<(model::Dataset, Vec<i64>)> {
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
        let fields = ingest::ActivityFields {
            facility_code: &r.facility_code,
            period: &r.period,
            carrier: &r.carrier,
            quantity: &r.quantity,
            unit: &r.unit,
            source_document: &r.source_document,
            evidence_ref: &r.evidence_ref,
        };
        for e in rows.push(sources[&filing], r.line as u64, &fields).errors {
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
fn not_loaded(r: &ingest::ValidationReport, located: &[Option<(i64, i64)>]) -> ApiError {
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
        v
    }
}

fn filings_json(filings: &[Filing]) -> Value {
    json!(filings
        .iter()
        .map(|f| json!({"id": f.id, "org_code": f.org_code, "period": f.period, "version": f.version}))
        .collect::<Vec<_>>())
}

/// The inputs a snapshot recorded.
fn recorded_inputs(store: &Store, s: &Snapshot) -> ApiResult<Inputs> {
    let ids: Vec<i64> =
        s.filings.as_array().map(|a| a.iter().filter_map(|f| f["id"].as_i64()).collect()).unwrap_or_default();
    let filings = ids.iter().map(|&id| store.filing(id)).collect::<Result<Vec<_>, _>>()?;
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

#[derive(Deserialize)]
pub struct RunRequest {
    pub org_code: String,
    pub year: i32,
    #[serde(default)]
    pub options: Value,
}

/// Runs an inventory for an org and year on the current approved filings and factor sets and
/// stores it as snapshot version 1.
pub async fn run(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<RunRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::bounds::year("year", body.year)?;
    let org = caller.require_org(&app, &body.org_code).await?;
    let options = if body.options.is_null() { json!({}) } else { body.options };
    parse_options(body.year, &options)?;
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let threads = app.threads;
    let snap = app.blocking(move || run_blocking(&store, &actor, &org.code, body.year, options, threads)).await?;
    app.metrics.snapshots_created.fetch_add(1, Ordering::Relaxed);
    app.dashboards.invalidate();
    Ok((StatusCode::CREATED, Json(json!({"snapshot": snap}))))
}

/// Runs an inventory on the current approved filings and factor sets and stores the snapshot.
pub fn run_blocking(
    store: &Store,
    actor: &str,
    org_code: &str,
    year: i32,
    options: Value,
    threads: usize,
) -> ApiResult<Snapshot> {
    let org = store.org(org_code)?.ok_or_else(|| ApiError::not_found(format!("org {org_code}")))?;
    let filings = store.current_filings(year, &org.path)?;
    let factor_sets = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
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
        },
    )?)
}

pub async fn list(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let path = caller.org_path.clone();
    let (list, superseded) = app.db(move |s| Ok((s.snapshots_within(&path)?, s.superseded_snapshots()?))).await?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|s| {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v.as_object_mut().map(|o| o.remove("result"));
            v["superseded"] = json!(superseded.contains(&s.id));
            v
        })
        .collect();
    Ok(Json(json!({"snapshots": list})))
}

pub async fn get(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let s = app.db(move |s| s.snapshot(id)).await?;
    let vintages = factor_vintages(&s.result, s.year as i32);
    // The unit of every number of the result's figures (by field name), and the factors of
    // another year than the snapshot's (docs/factor-selection.md, vintages).
    Ok(Json(json!({"snapshot": s, "units": accounting::figure_units(), "factor_vintages": vintages})))
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

/// Computes a snapshot again from exactly the inputs it recorded and compares.
pub async fn rerun(State(app): State<Arc<App>>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    let threads = app.threads;
    app.blocking(move || {
        let s = store.snapshot(id)?;
        let c = compute(&store, &recorded_inputs(&store, &s)?, threads)?;
        let again = c.result();
        let diffs = differences(&s.result, &again);
        Ok(Json(json!({"snapshot": id, "identical": again == s.result, "differences": diffs})))
    })
    .await
}

#[derive(Deserialize)]
pub struct ExplainQuery {
    pub org: Option<String>,
    pub scope: Option<String>,
    pub limit: Option<usize>,
}

/// Explains a snapshot's figure for an org of its subtree down to records × factors; each record
/// names the filing and the line of the uploaded file it came from.
pub async fn explain(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(q): Query<ExplainQuery>,
) -> ApiResult<Json<Value>> {
    let scope_text = q.scope.unwrap_or_else(|| "2".into());
    let scope = ExplainScope::parse(&scope_text)
        .ok_or_else(|| ApiError::bad_request(format!("scope {scope_text:?}: expected 1, 2, 3 or energy")))?;
    let snap_org = app.db(move |s| s.snapshot_org(id)).await?;
    let code = q.org.unwrap_or(snap_org.clone());
    let org = caller.require_org(&app, &code).await?;
    let root = app.org(&snap_org).await?.ok_or_else(|| ApiError::internal("snapshot org missing"))?;
    if !org.path.starts_with(&root.path) {
        return Err(ApiError::bad_request(format!("org {code} is not part of this snapshot (org {})", root.code)));
    }
    let store = app.store.clone();
    let threads = app.threads;
    let limit = crate::bounds::count("limit", q.limit, 100, 1..=crate::bounds::MAX_EXPLAIN)?;
    let cache = app.clone();
    app.blocking(move || {
        let c = cache.computed_snapshot(id, || {
            let s = store.snapshot(id)?;
            compute(&store, &recorded_inputs(&store, &s)?, threads)
        })?;
        let target = c.ds.orgs.get(&code).ok_or_else(|| ApiError::not_found(format!("org {code}")))?;
        let ex = c.inventory.explain(&c.ds, &c.lib, target, scope, limit);
        let mut v = serde_json::to_value(&ex).map_err(|e| ApiError::internal(e.to_string()))?;
        if let Some(lines) = v["lines"].as_array_mut() {
            for l in lines {
                let source = l["record"]["file"].as_str().and_then(|f| c.ds.files.iter().position(|s| s == f));
                if let Some(&filing) = source.and_then(|i| c.filings.get(i)) {
                    l["record"] = json!({"filing_id": filing, "line": l["record"]["line"]});
                }
            }
        }
        Ok(Json(json!({"snapshot": id, "explanation": v})))
    })
    .await
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

struct SnapshotMeta {
    id: i64,
    year: i64,
    org_path: String,
}

struct SnapshotRows {
    year: i64,
    library_version: String,
    by_org: HashMap<String, Value>,
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

    async fn current(&self, app: &App) -> ApiResult<Arc<Vec<SnapshotMeta>>> {
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

    async fn rows(&self, app: &App, id: i64) -> ApiResult<Arc<SnapshotRows>> {
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

#[derive(Deserialize)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// The org's headline figures: from the newest current snapshot of the org or of an org above
/// it (its row in that snapshot is this org's subtree total).
pub async fn dashboard(
    State(app): State<Arc<App>>,
    Extension(org): Extension<store::reference::Org>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Json<Value>> {
    let year = crate::bounds::opt_year("year", q.year)?.unwrap_or(0) as i64;
    let current = app.dashboards.current(&app).await?;
    let best = current
        .iter()
        .filter(|s| (year == 0 || s.year == year) && org.path.starts_with(&s.org_path))
        .max_by_key(|s| (s.year, s.id));
    let Some(best) = best else {
        return Ok(Json(json!({"org": org.code, "name": org.name, "year": year, "snapshot": null, "figures": null})));
    };
    let rows = app.dashboards.rows(&app, best.id).await?;
    Ok(Json(json!({
        "org": org.code,
        "name": org.name,
        "year": rows.year,
        "snapshot": best.id,
        "library_version": rows.library_version,
        "figures": rows.by_org.get(&org.code),
    })))
}

pub async fn factor_sets(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let sets = app.db(|s| s.current_factor_sets()).await?;
    Ok(Json(json!({"factor_sets": sets})))
}

#[derive(Deserialize)]
pub struct NewFactorSet {
    pub toml: String,
    #[serde(default)]
    pub reason: String,
}

/// Adds a user factor set or a new version of one (same `[set] id`). It must load together with
/// the shipped library and the other current sets. Answers with the snapshots it affects.
pub async fn add_factor_set(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewFactorSet>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::bad_request("say why the factors change (reason)"));
    }
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let root = caller.user.org_code.clone();
    let threads = app.threads;
    let (fs, affected) = app
        .blocking(move || {
            let mut probe = Library::shipped();
            let mut errors = Vec::new();
            probe.add_file("upload", &body.toml, true, &mut errors);
            let name = probe.sets.last().filter(|s| s.user).map(|s| s.header.id.clone());
            let others: Vec<i64> = store
                .current_factor_sets()?
                .into_iter()
                .filter(|f| Some(&f.name) != name.as_ref())
                .map(|f| f.id)
                .collect();
            // The new version must load on top of the shipped library and the other current sets.
            let mut full = library(&store, &others)?;
            if errors.is_empty() {
                full.add_file("upload", &body.toml, true, &mut errors);
            }
            if !errors.is_empty() {
                return Err(invalid(
                    "invalid_factors",
                    format!("{} problem(s) in the factor set", errors.len()),
                    serde_json::to_value(&errors).unwrap_or_default(),
                ));
            }
            let name = name.ok_or_else(|| ApiError::bad_request("the file has no [set]"))?;
            let fs = store.add_factor_set(&actor, &name, &body.toml, &body.reason, &root)?;
            let affected = affected_snapshots(&store, threads)?;
            Ok((fs, affected))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"factor_set": fs, "affected_snapshots": affected}))))
}

/// Current snapshots whose figures change with the current factor sets (same activity versions).
fn affected_snapshots(store: &Store, threads: usize) -> ApiResult<Vec<Value>> {
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

pub async fn affected(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    let store = app.store.clone();
    let threads = app.threads;
    let all = app.blocking(move || affected_snapshots(&store, threads)).await?;
    let path = caller.org_path.clone();
    let mine: Vec<String> = app.db(move |s| s.orgs_within(&path)).await?.into_iter().map(|o| o.code).collect();
    let list: Vec<Value> = all.into_iter().filter(|v| mine.iter().any(|c| v["org_code"] == json!(c))).collect();
    Ok(Json(json!({"affected_snapshots": list})))
}

#[derive(Deserialize)]
pub struct RecomputeRequest {
    #[serde(default)]
    pub reason: String,
}

/// Base-year recalculation: a new version of the snapshot with the same activity versions and the
/// current factor sets; the old version stays as it was. Answers with the differences.
pub async fn recompute(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(body): Json<RecomputeRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::bad_request("say why the snapshot is recomputed (reason)"));
    }
    let store = app.store.clone();
    let actor = caller.user.username.clone();
    let threads = app.threads;
    let out = app
        .blocking(move || {
            if store.superseded_snapshots()?.contains(&id) {
                return Err(store::StoreError::Conflict(format!(
                    "snapshot {id} is superseded; recompute its newest version"
                ))
                .into());
            }
            let old = store.snapshot(id)?;
            let mut inputs = recorded_inputs(&store, &old)?;
            inputs.factor_sets = store.current_factor_sets()?.into_iter().map(|f| f.id).collect();
            let c = compute(&store, &inputs, threads)?;
            let result = c.result();
            let diffs = differences(&old.result, &result);
            let snap = store.add_snapshot(
                &actor,
                NewSnapshot {
                    org_code: old.org_code.clone(),
                    year: old.year,
                    supersedes: Some(id),
                    reason: body.reason,
                    options: old.options.clone(),
                    filings: old.filings.clone(),
                    factor_sets: inputs.factor_sets,
                    library_version: c.lib.version(),
                    library_fingerprint: c.lib.fingerprint(),
                    result,
                },
            )?;
            Ok(json!({"snapshot": snap, "differences": diffs}))
        })
        .await?;
    app.dashboards.invalidate();
    Ok((StatusCode::CREATED, Json(out)))
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
