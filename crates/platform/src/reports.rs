//! Disclosure reports (透明的行动) from approved snapshots: the snapshot's recorded inputs are
//! computed again (which must give its stored result exactly), the `report` crate builds the
//! report with the restatements, the previous year and its LMDI decomposition the platform holds,
//! and renders it as PDF, XLSX or CSV. A report is never made from a snapshot that is not
//! approved, has errors, or does not reproduce, nor for a period with months without records.
//!
//! A report made on the platform is stored (migration 12, [`store_generated`]); the same snapshot
//! gives the same bytes, also for the platform's records besides the snapshot, which the
//! snapshot's first report keeps ([`platform_data`]).

use crate::error::{Error, Kind, Result};
use crate::{snapshot, Actor};
pub use report::{Format, Lang, Template};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use store::snapshots::Snapshot;
use store::Store;

/// What a report request names.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    pub snapshot: i64,
    #[serde(default = "default_template")]
    pub template: String,
    #[serde(default = "default_lang")]
    pub lang: String,
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_template() -> String {
    "inventory".into()
}
fn default_lang() -> String {
    "zh".into()
}
fn default_format() -> String {
    "pdf".into()
}

/// A request checked: what to build and from which snapshot.
#[derive(Debug, Clone)]
pub struct Checked {
    pub snapshot: Snapshot,
    pub template: Template,
    pub lang: Lang,
    pub format: Format,
    pub approved_by: String,
    pub approved_at: String,
}

/// A report made.
#[derive(Debug, Clone)]
pub struct Generated {
    pub bytes: Vec<u8>,
    pub file_name: String,
    pub media_type: &'static str,
    pub hash: String,
    pub snapshot: i64,
    pub org_code: String,
    /// What the console previews: the title, the sections with their tables' titles, and the
    /// headline table as printed (in the report's language).
    pub preview: Value,
}

impl Generated {
    pub fn summary(&self) -> Value {
        json!({"snapshot": self.snapshot, "org_code": self.org_code, "file_name": self.file_name,
               "media_type": self.media_type, "bytes": self.bytes.len(), "hash": self.hash,
               "preview": self.preview})
    }
}

fn preview(r: &report::Report) -> Value {
    let summary = r.table("summary").map(|t| {
        json!({"title": t.title,
               "columns": t.columns.iter().map(|c| if c.unit.is_empty() { c.label.clone() } else { format!("{} ({})", c.label, c.unit) }).collect::<Vec<_>>(),
               "rows": t.rows.iter().map(|row| row.iter().map(report::Cell::printed).collect::<Vec<_>>()).collect::<Vec<_>>()})
    });
    json!({"title": r.title, "lang": r.lang, "hash": r.hash, "summary": summary,
           "sections": r.sections.iter().map(|s| json!({"id": s.id, "title": s.title,
               "tables": s.tables.iter().map(|t| json!({"id": t.id, "title": t.title, "rows": t.rows.len()})).collect::<Vec<_>>()})).collect::<Vec<_>>()})
}

/// The newest reports made by jobs, by job id, for their download (at most [`KEPT_REPORTS`]).
#[derive(Default)]
pub struct Kept(Mutex<Vec<(i64, Arc<Generated>)>>);

pub const KEPT_REPORTS: usize = 20;

impl Kept {
    pub fn keep(&self, job: i64, g: Generated) {
        let mut v = self.0.lock().expect("reports lock");
        v.push((job, Arc::new(g)));
        let n = v.len();
        if n > KEPT_REPORTS {
            v.drain(..n - KEPT_REPORTS);
        }
    }
    pub fn get(&self, job: i64) -> Option<Arc<Generated>> {
        self.0.lock().expect("reports lock").iter().find(|(j, _)| *j == job).map(|(_, g)| g.clone())
    }
}

/// Checks a request before any work: known template, language and format, the snapshot within the
/// actor's subtree, approved and without errors.
pub fn check(store: &Store, actor: &Actor, req: &Request) -> Result<Checked> {
    let template = Template::parse(&req.template).ok_or_else(|| {
        Error::new(
            Kind::NotFound,
            "unknown_template",
            format!("template {:?} is unknown: expected inventory, capital-market or government", req.template),
        )
        .with_detail(json!({"template": req.template, "known": ["inventory", "capital-market", "government"]}))
    })?;
    let lang = Lang::parse(&req.lang).ok_or_else(|| {
        Error::new(Kind::BadRequest, "unknown_language", format!("language {:?}: expected zh or en", req.lang))
    })?;
    let format = Format::parse(&req.format).ok_or_else(|| {
        Error::new(Kind::BadRequest, "unknown_format", format!("format {:?}: expected pdf, xlsx or csv", req.format))
    })?;
    let s = store.snapshot(req.snapshot)?;
    let org = store.org(&s.org_code)?.ok_or_else(|| Error::not_found(format!("org {}", s.org_code)))?;
    if !actor.within(&org.path) {
        return Err(Error::out_of_scope(&format!("snapshot {}", s.id)));
    }
    if s.result.get("error").is_some() {
        return Err(Error::new(
            Kind::Conflict,
            "snapshot_has_errors",
            format!("snapshot {} has errors: no report is made from it", s.id),
        ));
    }
    let approval = store.snapshot_approvals()?.into_iter().find(|a| a.snapshot_id == s.id).ok_or_else(|| {
        Error::new(
            Kind::Conflict,
            "snapshot_not_approved",
            format!("snapshot {} is not approved: approve it first (POST /api/v1/snapshots/{}/approve)", s.id, s.id),
        )
        .with_detail(json!({"snapshot": s.id}))
    })?;
    Ok(Checked {
        snapshot: s,
        template,
        lang,
        format,
        approved_by: approval.approved_by,
        approved_at: approval.approved_at,
    })
}

/// The font a PDF is written with: `DUALCARBON_REPORT_FONT` (`PATH` or `PATH:INDEX`), else the
/// first of [`report::FONT_PATHS`] installed.
pub fn font(given: Option<&str>) -> Result<(Vec<u8>, u32)> {
    let unavailable = |m: String| Error::new(Kind::Unavailable, "no_font", m);
    let given = given.map(str::to_string).or_else(|| std::env::var("DUALCARBON_REPORT_FONT").ok());
    if let Some(spec) = given {
        let (path, index) = match spec.rsplit_once(':') {
            Some((p, i)) if i.parse::<u32>().is_ok() => (p.to_string(), i.parse().unwrap_or(0)),
            _ => (spec.clone(), 0),
        };
        let data = std::fs::read(&path).map_err(|e| unavailable(format!("font {path}: {e}")))?;
        return Ok((data, index));
    }
    for (path, index) in report::FONT_PATHS {
        if let Ok(data) = std::fs::read(path) {
            return Ok((data, *index));
        }
    }
    Err(unavailable(format!(
        "no Chinese font found (install fonts-noto-cjk, or give one with DUALCARBON_REPORT_FONT): looked in {}",
        report::FONT_PATHS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
    )))
}

fn totals_of(v: &Value) -> Option<accounting::Totals> {
    let t = &v["totals"];
    let f = |k: &str| t[k].as_f64();
    Some(accounting::Totals {
        scope1: f("scope1")?,
        scope2_location: f("scope2_location")?,
        scope2_market: f("scope2_market")?,
        scope3: f("scope3")?,
        energy_tce: f("energy_tce")?,
        total_location: f("total_location")?,
        total_market: f("total_market")?,
    })
}

/// The audit action of a snapshot's platform data kept for its reports.
pub const PLATFORM_DATA_ACTION: &str = "report.platform_data";

/// The name of the platform document that keeps snapshot `id`'s platform data for its reports.
pub fn platform_data_document(id: i64) -> String {
    format!("report-data/snapshot-{id}.json")
}

/// What a report of a snapshot carries besides the snapshot ([`platform_data`]).
pub struct PlatformInputs {
    pub data: report::PlatformData,
    pub projects: Vec<report::SavingProject>,
    /// The approved, current snapshot of the org's first year before the snapshot's (the base
    /// year) and of the year before it (the change and its LMDI), when the data was kept.
    pub base_snapshot: Option<i64>,
    pub previous_snapshot: Option<i64>,
}

/// The approved snapshots of `s`'s org that are current now: of its first earlier year (the
/// base year) and of the year before `s`'s.
fn year_snapshots(store: &Store, s: &Snapshot) -> Result<(Option<i64>, Option<i64>)> {
    let approved: HashSet<i64> = store.snapshot_approvals()?.into_iter().map(|a| a.snapshot_id).collect();
    let superseded: HashSet<i64> = store.superseded_snapshots()?.into_iter().collect();
    let mut same_org: Vec<Snapshot> = store
        .snapshot_list()?
        .into_iter()
        .filter(|x| {
            x.org_code == s.org_code && approved.contains(&x.id) && !superseded.contains(&x.id) && x.year < s.year
        })
        .collect();
    same_org.sort_by_key(|x| (x.year, x.id));
    let base = same_org.first().map(|b| b.id);
    let previous = same_org.iter().rev().find(|x| x.year == s.year - 1).map(|p| p.id);
    Ok((base, previous))
}

/// An org's target and progress as kept: both names, so one kept copy serves both languages.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptTarget {
    name_zh: String,
    name_en: String,
    progress: report::TargetProgress,
}

/// What the platform holds about a snapshot's org besides the snapshot, in no language: what a
/// report of the snapshot carries, kept once ([`platform_data`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptData {
    targets: Option<Vec<KeptTarget>>,
    data: report::PlatformData,
    projects: Vec<report::SavingProject>,
    base_snapshot: Option<i64>,
    previous_snapshot: Option<i64>,
}

impl KeptData {
    fn for_lang(self, lang: Lang) -> PlatformInputs {
        let mut data = self.data;
        data.targets = self.targets.map(|list| {
            list.into_iter()
                .map(|k| report::TargetProgress { name: lang.t(k.name_zh, k.name_en), ..k.progress })
                .collect()
        });
        PlatformInputs {
            data,
            projects: self.projects,
            base_snapshot: self.base_snapshot,
            previous_snapshot: self.previous_snapshot,
        }
    }
}

/// What the platform holds about snapshot `s`'s org subtree in its year besides the snapshot, for
/// its reports: the org's targets and progress (through monitoring), water and waste and the
/// measured base-station savings per run (indicator data), the 碳普惠 credits by action type
/// and month, and which approved snapshots are the base year and the previous year.
///
/// These records change after a snapshot is approved, so they are kept: the first report of a
/// snapshot made on the running platform keeps them as the platform document
/// [`platform_data_document`] (audited `report.platform_data`), and every later report of that
/// snapshot, in either language, on any instance or from the command line, carries the kept
/// copy: the same snapshot gives the same bytes. Newer records go into the report of a newer
/// snapshot. Without monitoring (the command line) and with nothing kept, the records are read
/// as stored and not kept, and the targets are absent (`targets` None).
pub fn platform_data(platform: &crate::Platform, actor: &Actor, s: &Snapshot, lang: Lang) -> Result<PlatformInputs> {
    let name = platform_data_document(s.id);
    let parse = |body: &str| {
        serde_json::from_str::<KeptData>(body)
            .map_err(|e| Error::internal(format!("kept platform data of snapshot {}: {e}", s.id)))
    };
    if let Some(body) = platform.store.document(&name)? {
        return Ok(parse(&body)?.for_lang(lang));
    }
    let org = platform.store.org(&s.org_code)?.ok_or_else(|| Error::not_found(format!("org {}", s.org_code)))?;
    let year = s.year as i32;
    let monitoring = crate::monitoring::mon(platform).ok();
    let mut data = report::PlatformData::default();
    let (targets, projects) = if let Some(m) = &monitoring {
        let (targets, rows) = m.report_inputs(&org.code, year)?;
        let targets = targets
            .into_iter()
            .map(|(t, p)| KeptTarget {
                name_zh: t.name_zh.clone(),
                name_en: t.name_en.clone(),
                progress: report::TargetProgress {
                    id: t.id.clone(),
                    name: String::new(),
                    indicator: t.indicator.clone(),
                    unit: p.unit.clone(),
                    base_year: t.base_year,
                    year: t.year,
                    baseline: p.baseline,
                    goal: p.goal,
                    current: p.current,
                    progress: p.progress,
                    on_track: p.on_track,
                    met: p.met,
                },
            })
            .collect();
        (Some(targets), indicator_figures(&mut data, &rows))
    } else {
        (None, indicator_figures(&mut data, &stored_indicator_rows(&platform.store, &org, year)?))
    };
    data.inclusive = platform
        .store
        .inclusive_by_action_month(&org.path, year)?
        .into_iter()
        .map(|(action, month, credits, grams)| report::InclusiveRow {
            action,
            month,
            credits,
            kg: grams as f64 / 1000.0,
        })
        .collect();
    let (base_snapshot, previous_snapshot) = year_snapshots(&platform.store, s)?;
    let kept = KeptData { targets, data, projects, base_snapshot, previous_snapshot };
    if monitoring.is_none() {
        return Ok(kept.for_lang(lang));
    }
    let body = serde_json::to_string(&kept).map_err(|e| Error::internal(e.to_string()))?;
    // A concurrent first report may have kept its copy first: every report carries the kept one.
    let (body, _) =
        platform.store.keep_document_once(&name, &body, &actor.username, PLATFORM_DATA_ACTION, &s.org_code)?;
    Ok(parse(&body)?.for_lang(lang))
}

/// The indicator data stored (`POST /api/v1/indicator-data`, saving runs) of `org`'s subtree in
/// `year`, read from the store without monitoring.
fn stored_indicator_rows(
    store: &Store,
    org: &store::reference::Org,
    year: i32,
) -> Result<Vec<indicators::Observation>> {
    let Some(text) = store.document(store::documents::INDICATOR_DATA)? else { return Ok(Vec::new()) };
    let tree = crate::feeds::org_tree(store)?;
    let facility_org: std::collections::HashMap<String, u32> =
        store.facilities_within("/")?.into_iter().filter_map(|f| tree.get(&f.org_code).map(|o| (f.code, o))).collect();
    let obs = indicators::Observations::read_csv(text.as_bytes(), &tree, |c| facility_org.get(c).copied())
        .map_err(|e| Error::internal(format!("stored indicator data: {} problem(s)", e.len())))?;
    let Some(id) = tree.get(&org.code) else { return Ok(Vec::new()) };
    Ok(obs.rows.into_iter().filter(|o| o.period.year == year && tree.is_within(o.org, id)).collect())
}

/// Water, waste and their sources into `d`, and the saving runs (projects) from indicator rows.
fn indicator_figures(d: &mut report::PlatformData, rows: &[indicators::Observation]) -> Vec<report::SavingProject> {
    use indicators::Component as C;
    let sum = |c: C| {
        let v: Vec<i128> = rows.iter().filter(|o| o.component == c).map(|o| o.value).collect();
        (!v.is_empty()).then(|| indicators::micro_to_f64(v.iter().sum()))
    };
    d.water_m3 = sum(C::WaterM3);
    d.waste_hazardous_t = sum(C::WasteHazardousT);
    d.waste_non_hazardous_t = sum(C::WasteNonHazardousT);
    let mut sources: Vec<String> = rows
        .iter()
        .filter(|o| matches!(o.component, C::WaterM3 | C::WasteHazardousT | C::WasteNonHazardousT))
        .map(|o| if o.source.is_empty() { "indicator-data".to_string() } else { o.source.clone() })
        .collect();
    sources.sort();
    sources.dedup();
    d.water_waste_sources = sources;
    // Saving runs: the stations' saved and reference electricity, by run (their source).
    type Run = (i128, i128, std::collections::BTreeSet<String>, std::collections::BTreeSet<String>);
    let mut runs: std::collections::BTreeMap<String, Run> = Default::default();
    for o in rows.iter().filter(|o| matches!(o.component, C::BsAiSavedKwh | C::BsAiReferenceKwh)) {
        let r = runs.entry(o.source.clone()).or_default();
        if o.component == C::BsAiSavedKwh {
            r.0 += o.value;
        } else {
            r.1 += o.value;
        }
        if let Some(f) = &o.facility {
            r.2.insert(f.clone());
        }
        r.3.insert(if o.period.month == 0 {
            o.period.year.to_string()
        } else {
            format!("{}-{:02}", o.period.year, o.period.month)
        });
    }
    runs.into_iter()
        .map(|(name, (saved, reference, stations, periods))| report::SavingProject {
            name,
            periods: periods.into_iter().collect::<Vec<_>>().join(", "),
            stations: stations.len(),
            saved_kwh: indicators::micro_to_f64(saved),
            reference_kwh: indicators::micro_to_f64(reference),
        })
        .collect()
}

/// Makes the report of a checked request. `progress(stage code, steps done)` is told each stage.
/// `platform_data`: what [`platform_data`] collected (None: the report says it is not available).
pub fn generate(
    store: &Store,
    c: &Checked,
    platform_data: Option<PlatformInputs>,
    font: Option<(&[u8], u32)>,
    threads: usize,
    progress: &dyn Fn(&'static str, u32),
) -> Result<Generated> {
    let s = &c.snapshot;
    progress("computing", 0);
    // The inventory's pass keeps the report's cells: the report reads them, not the records.
    let (computed, cells) = snapshot::compute_for_report(store, &snapshot::recorded_inputs(store, s)?, threads)?;
    if computed.result() != s.result {
        return Err(Error::new(
            Kind::Conflict,
            "snapshot_not_reproducible",
            format!("snapshot {}'s recorded inputs no longer give its stored result: no report is made", s.id),
        ));
    }
    progress("collecting", 1);
    // Restatements: the versions this snapshot supersedes, newest first.
    let mut restatements = Vec::new();
    let mut cur = s.clone();
    while let Some(prev) = cur.supersedes {
        restatements.push(report::Restatement {
            snapshot: cur.id,
            supersedes: prev,
            reason: cur.reason.clone(),
            at: cur.created_at.clone(),
        });
        cur = store.snapshot(prev)?;
    }
    // The previous year and the base year: as kept with the platform data, else chosen now.
    let (base_id, previous_id) = match &platform_data {
        Some(p) => (p.base_snapshot, p.previous_snapshot),
        None => year_snapshots(store, s)?,
    };
    let base_year = match base_id {
        Some(id) => {
            let b = store.snapshot(id)?;
            totals_of(&b.result).map(|t| (b.year as i32, t))
        }
        None => None,
    };
    let previous = match previous_id {
        Some(id) => {
            let p = store.snapshot(id)?;
            totals_of(&p.result).map(|totals| report::Previous {
                year: p.year as i32,
                totals,
                snapshot: Some(p.id),
                lmdi: crate::scenario::lmdi(store, p.id, s.id, threads).ok(),
            })
        }
        None => None,
    };
    // The transition path: the scenarios' baseline calibrated on this snapshot (none when the
    // snapshot cannot be calibrated on, e.g. without electricity).
    // The transition plan: the least-cost measures meeting the targets on the same baseline.
    let calibrated = crate::scenario::baseline_of_snapshot(store, s.id, threads).ok();
    let catalogue = scenario::Catalogue::shipped();
    let model = calibrated.as_ref().and_then(|b| scenario::Model::new(b, &catalogue).ok());
    let transition = model.as_ref().and_then(|m| m.run(&scenario::Scenario::baseline("baseline")).ok());
    let plan = model.as_ref().and_then(|m| {
        let opts = scenario::optimise::OptimiseOptions::default();
        scenario::optimise::least_cost_plan(m, &scenario::Scenario::baseline("plan"), &opts).ok()
    });
    let (platform, projects) = match platform_data {
        Some(p) => (Some(p.data), p.projects),
        None => (None, Vec::new()),
    };
    let input = report::Input {
        ds: &computed.ds,
        lib: &computed.lib,
        inventory: &computed.inventory,
        org: computed.org_id,
        lang: c.lang,
        template: c.template,
        source: report::Source {
            snapshot: Some(s.id),
            approved_by: Some(c.approved_by.clone()),
            approved_at: Some(c.approved_at.clone()),
            inputs: s.filings.as_array().map_or(0, Vec::len),
        },
        restatements,
        base_year,
        previous,
        quality_score: crate::quality::snapshot_score(store, s)?,
        projects,
        plan,
        platform,
        transition,
        breakdown: Some(&cells),
        procurement: procurement_of(&computed),
    };
    progress("building", 2);
    let r = report::build(&input).map_err(report_error)?;
    progress("rendering", 3);
    let bytes = report::render(&r, c.format, font).map_err(report_error)?;
    Ok(Generated {
        bytes,
        file_name: r.file_name(c.format),
        media_type: c.format.media_type(),
        hash: r.hash.clone(),
        snapshot: s.id,
        org_code: s.org_code.clone(),
        preview: preview(&r),
    })
}

/// The procurement Scope 3 a snapshot includes (its recorded supply runs), for the report: grams
/// by category per org subtree, the runs, the reported org's grams by method and the footprint
/// and factor set versions its lines name. None without recorded runs.
fn procurement_of(c: &snapshot::Computed) -> Option<report::Procurement> {
    if c.supply.runs.is_empty() {
        return None;
    }
    let mut by_method = std::collections::BTreeMap::new();
    let mut references = std::collections::BTreeSet::new();
    let mut footprints = 0usize;
    for l in c.supply.lines.iter().filter(|l| c.ds.orgs.is_within(l.org as u32, c.org_id)) {
        let method = l.stored["method"].as_str().unwrap_or("unknown").to_string();
        *by_method.entry(method).or_insert(0i64) += l.grams;
        // The set and version a line names (`set@version#sector`, class or mode), or the
        // supplier footprint (`footprint PF v1 (id)`), counted.
        match l.stored["reference"].as_str() {
            Some(r) if r.contains('@') => {
                references.insert(r.split('#').next().unwrap_or(r).to_string());
            }
            Some(r) if r.starts_with("footprint ") => footprints += 1,
            _ => {}
        }
    }
    if footprints > 0 {
        references.insert(format!("supplier-specific product footprints (PACT / ISO 14067): {footprints} line(s)"));
    }
    Some(report::Procurement {
        subtree: c.supply_subtree(),
        runs: c.supply.runs.clone(),
        by_method,
        references: references.into_iter().collect(),
    })
}

/// The steps [`generate`] reports (for a determinate progress bar).
pub const STEPS: u32 = 4;

pub fn report_error(e: report::ReportError) -> Error {
    let detail = serde_json::to_value(&e).unwrap_or(Value::Null);
    match e {
        report::ReportError::MissingMonths { .. } => Error::invalid("missing_months", e.to_string(), detail),
        report::ReportError::NoActivity => Error::invalid("no_activity", e.to_string(), detail),
        report::ReportError::Font { .. } => Error::new(Kind::Unavailable, "no_font", e.to_string()),
        report::ReportError::Write { .. } => Error::internal(e.to_string()),
    }
}

/// Keeps a report made in the database (migration 12): its download survives a restart and any
/// instance of a cluster serves it. Returns the stored report (its id, SHA-256 of the bytes).
pub fn store_generated(
    store: &Store,
    actor: &Actor,
    c: &Checked,
    org_path: &str,
    g: &Generated,
) -> Result<store::reports::StoredReport> {
    Ok(store.report_add(&store::reports::NewReport {
        kind: c.template.code(),
        snapshot_id: g.snapshot,
        org_code: &g.org_code,
        org_path,
        lang: c.lang.code(),
        format: c.format.code(),
        file_name: &g.file_name,
        media_type: g.media_type,
        report_hash: &g.hash,
        bytes: &g.bytes,
        created_by: &actor.username,
    })?)
}

/// The stored reports of the orgs within the actor's subtree, newest first (at most `limit`).
pub fn stored_list(store: &Store, actor: &Actor, limit: i64) -> Result<Value> {
    let list = store.reports_within(&actor.org_path, limit.clamp(1, 1000))?;
    let rows: Vec<Value> = list
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            v["download"] = json!(format!("/api/v1/reports/{}/file", r.id));
            v
        })
        .collect();
    Ok(json!({"reports": rows}))
}

/// A stored report's file: 404 for an unknown id, 403 `out_of_scope` for an org outside the
/// actor's subtree.
pub fn stored_file(store: &Store, actor: &Actor, id: i64) -> Result<(store::reports::StoredReport, Vec<u8>)> {
    let (meta, bytes) = store.report_file(id)?.ok_or_else(|| Error::not_found(format!("report {id}")))?;
    if !actor.within(&meta.org_path) {
        return Err(Error::out_of_scope(&format!("report {id}")));
    }
    Ok((meta, bytes))
}
