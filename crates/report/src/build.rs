//! The report's content from a computed inventory: one pass over the org's records (each
//! record's figures exactly as the inventory accumulated them, so every breakdown sums to the
//! totals to the last milligram), then the sections of the chosen template.

use crate::uncertainty;
use crate::{Cell, Chart, Column, Lang, Reference, Report, ReportError, Section, Table, Template};
use accounting::metrics::*;
use accounting::{Figures, Inventory, Totals};
use factors::Library;
use model::{CarrierKind, Dataset, Dimension, ElectricitySource, FacilityType, PROVINCES};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What the report is built from, for its first page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    /// The approved snapshot (None: computed from a data directory).
    pub snapshot: Option<i64>,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    /// Filing versions (platform) or files (data directory) read.
    pub inputs: usize,
}

/// A restatement the platform recorded: a snapshot version that supersedes another, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Restatement {
    pub snapshot: i64,
    pub supersedes: i64,
    pub reason: String,
    pub at: String,
}

/// The previous year, for the change and its LMDI decomposition.
#[derive(Debug, Clone)]
pub struct Previous {
    pub year: i32,
    pub totals: Totals,
    pub snapshot: Option<i64>,
    pub lmdi: Option<scenario::lmdi::Decomposition>,
}

/// An energy-saving project with its measured savings (表10 节能技改项目): on the platform, a
/// recorded base-station saving run (indicator components `bs_ai_saved_kwh`,
/// `bs_ai_reference_kwh` of its stations, the run named by their `source`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavingProject {
    /// The run (its source: traffic file hash, power model, baseline).
    pub name: String,
    /// Periods recorded (`YYYY` or `YYYY-MM`), comma-separated.
    pub periods: String,
    pub stations: usize,
    pub saved_kwh: f64,
    pub reference_kwh: f64,
}

/// An org's own target (考核) and its progress in the reporting year, as the platform evaluates it
/// (crates/indicators targets, `GET /api/v1/orgs/{code}/targets`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetProgress {
    pub id: String,
    pub name: String,
    pub indicator: String,
    pub unit: String,
    pub base_year: i32,
    pub year: i32,
    pub baseline: Option<f64>,
    pub goal: Option<f64>,
    pub current: Option<f64>,
    /// Share of the way from baseline to goal (0–1).
    pub progress: Option<f64>,
    pub on_track: Option<bool>,
    pub met: Option<bool>,
}

/// The 碳普惠 (inclusive) programme's credited reductions of the org's people in the year, by
/// action type and month (claimable, claimed or expired unclaimed credits).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InclusiveRow {
    pub action: String,
    /// `YYYY-MM`.
    pub month: String,
    pub credits: i64,
    pub kg: f64,
}

/// What the platform holds about the org besides the snapshot. A report from a data directory has
/// none ([`Input::platform`] None), and says so.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlatformData {
    /// The org's own targets and progress (None: the platform keeps no targets for it).
    pub targets: Option<Vec<TargetProgress>>,
    /// Water withdrawn (m³), hazardous and non-hazardous waste (t) recorded as indicator data of
    /// the org's subtree for the year, with the sources of the values (None: not recorded).
    pub water_m3: Option<f64>,
    pub waste_hazardous_t: Option<f64>,
    pub waste_non_hazardous_t: Option<f64>,
    pub water_waste_sources: Vec<String>,
    pub inclusive: Vec<InclusiveRow>,
}

/// Scope 3 from procurement (the supply module's recorded runs, `platform::snapshot` adds it to a
/// snapshot's stored result): exact whole grams by GHG Protocol category 1, 2 and 4, per org of
/// the dataset's tree for its subtree, with the runs and their method split. A report from a data
/// directory has none ([`Input::procurement`] None).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Procurement {
    /// Per org of `ds.orgs` (by index): grams of its subtree for categories 1, 2 and 4.
    pub subtree: Vec<[i64; 3]>,
    /// The recorded runs included.
    pub runs: Vec<i64>,
    /// Grams of the reported org's subtree by method (`supplier_specific`, `average`, `spend`,
    /// `distance`), in method-name order.
    pub by_method: BTreeMap<String, i64>,
    /// The footprint, secondary-data, EEIO and transport factor sets with versions the lines used.
    pub references: Vec<String>,
}

impl Procurement {
    /// Grams of `org`'s subtree by category 1, 2, 4 (zero when the org is not listed).
    pub fn of(&self, org: u32) -> [i64; 3] {
        self.subtree.get(org as usize).copied().unwrap_or_default()
    }
}

/// Figures of `m` with procurement grams `g` (categories 1, 2, 4) added to Scope 3 and the totals
/// from the exact integers, as the snapshot's stored result adds them.
pub fn figures_with(m: &Metrics, g: [i64; 3]) -> Figures {
    let mut f = Figures::from_metrics(m);
    if g == [0; 3] {
        return f;
    }
    let mg = |grams: i64| i128::from(grams) * 1000;
    let s = mg(g[0] + g[1] + g[2]);
    f.totals.scope3 = to_thousands(m.scope3() + s);
    f.totals.total_location = to_thousands(m.scope1() + m.0[S2_LOCATION] + m.scope3() + s);
    f.totals.total_market = to_thousands(m.scope1() + m.0[S2_MARKET] + m.scope3() + s);
    f.scope3.cat1_purchased_goods = to_thousands(m.0[S3_CAT1] + mg(g[0]));
    f.scope3.cat4_upstream_transport = to_thousands(m.0[S3_CAT4] + mg(g[2]));
    f
}

pub struct Input<'a> {
    pub ds: &'a Dataset,
    pub lib: &'a Library,
    pub inventory: &'a Inventory,
    /// The org whose subtree is reported.
    pub org: u32,
    pub lang: Lang,
    pub template: Template,
    pub source: Source,
    pub restatements: Vec<Restatement>,
    /// The base year and its totals (None: the reporting year is the base year).
    pub base_year: Option<(i32, Totals)>,
    pub previous: Option<Previous>,
    /// The platform's data-quality score of the org and year (0–100), when it keeps one.
    pub quality_score: Option<f64>,
    pub projects: Vec<SavingProject>,
    /// The scenarios' least-cost plan on this inventory (`scenario::optimise::least_cost_plan`:
    /// the catalogue's measures chosen to meet the peak and intensity targets at the least cost):
    /// the transition plan's measures as figures. None: not computed.
    pub plan: Option<scenario::optimise::Plan>,
    /// The platform's other records of the org (None: a report from a data directory).
    pub platform: Option<PlatformData>,
    /// The scenarios' baseline path calibrated on this inventory (no new measures, the shipped
    /// drivers and targets): the transition plan's figures of the climate tables.
    pub transition: Option<scenario::RunResult>,
    /// The org's records kept by the inventory's own pass ([`accounting::compute_with_breakdown`]
    /// with [`breakdown_request`]'s facilities): the report reads these cells instead of passing
    /// over the records again. None: the report makes its own pass.
    pub breakdown: Option<&'a accounting::Breakdown>,
    /// Scope 3 from procurement recorded into the snapshot (None: none, or a data directory).
    pub procurement: Option<Procurement>,
}

/// Per facility, whether it is in `org`'s subtree, and per string, whether it names a meter
/// reading: what [`accounting::compute_with_breakdown`] needs to keep the report's cells.
pub fn breakdown_masks(ds: &Dataset, org: u32) -> (Vec<bool>, Vec<bool>) {
    let within = ds.facilities.iter().map(|f| ds.orgs.is_within(f.org, org)).collect();
    let meter = ds.strings.strings.iter().map(|s| s.starts_with("METER:")).collect();
    (within, meter)
}

/// The report's per-worker part from the inventory's breakdown: plan × facility type cells
/// gathered by (carrier, dimension) × province × facility type (integer sums, exact).
fn part_of_breakdown(inv: &Inventory, b: &accounting::Breakdown) -> Part {
    let n_types = FacilityType::ALL.len();
    let mut part = Part::default();
    let mut index: BTreeMap<(u16, u8), usize> = BTreeMap::new();
    for (pi, plan) in inv.plans.iter().enumerate() {
        if b.records[pi] == 0 {
            continue;
        }
        let key = (plan.key.carrier, plan.key.dimension as u8);
        let i = *index.entry(key).or_insert_with(|| {
            part.cd.push((key, vec![Metrics::default(); N_CELLS], 0, 0));
            part.cd.len() - 1
        });
        let e = &mut part.cd[i];
        for t in 0..n_types {
            e.1[plan.key.province as usize * n_types + t].add(&b.cells[pi * n_types + t]);
        }
        e.2 += b.quantity[pi];
        e.3 += b.records[pi];
    }
    part.month_records = b.month_records;
    part.without_document = b.without_document;
    part.meter_derived = b.meter_derived;
    part
}

/// Aggregates of the org's records in one pass.
struct Pass {
    total: Metrics,
    /// Per (carrier, dimension): figures, booked physical quantity in base units, records.
    carriers: BTreeMap<(u16, u8), (Metrics, f64, usize)>,
    provinces: Vec<Metrics>,
    types: Vec<Metrics>,
    type_facilities: Vec<usize>,
    month_records: [usize; 12],
    records: usize,
    without_document: usize,
    meter_derived: usize,
    facilities_with_data: usize,
    facility_months: usize,
    facilities_in_scope: usize,
    shared_sites: usize,
}

const N_CELLS: usize = PROVINCES_N * FacilityType::ALL.len();
const PROVINCES_N: usize = 31;

/// (carrier, dimension), figures by province × facility type, quantity in millionths, records.
type CarrierCells = ((u16, u8), Vec<Metrics>, i128, usize);

/// What one worker adds up over its rows: per (carrier, dimension) the figures by province ×
/// facility type (one addition per record), the booked physical quantity in millionths of the
/// base unit (integers, so the sum does not depend on how rows are split), and counts.
#[derive(Default)]
struct Part {
    cd: Vec<CarrierCells>,
    month_records: [usize; 12],
    without_document: usize,
    meter_derived: usize,
}

fn pass(ds: &Dataset, inv: &Inventory, org: u32, breakdown: Option<&accounting::Breakdown>) -> Pass {
    let within: Vec<bool> = ds.facilities.iter().map(|f| ds.orgs.is_within(f.org, org)).collect();
    let n_types = FacilityType::ALL.len();
    if let Some(b) = breakdown {
        return sum_parts(ds, vec![part_of_breakdown(inv, b)], &b.facility_months, &within);
    }
    let meter_docs: Vec<bool> = ds.strings.strings.iter().map(|s| s.starts_with("METER:")).collect();
    let a = &ds.activity;
    let n = a.len();
    let threads = inv.options.threads.clamp(1, 64);
    let chunk = n.div_ceil(threads).max(1);
    // Months with data per facility (bit m-1), written by whichever worker meets the facility:
    // an OR of bits, so the order does not matter.
    let months: Vec<std::sync::atomic::AtomicU16> = (0..ds.facilities.len()).map(|_| Default::default()).collect();
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n.div_ceil(chunk))
            .map(|c| {
                let (within, meter_docs, months) = (&within, &meter_docs, &months);
                scope.spawn(move || {
                    let mut part = Part::default();
                    let mut index: Vec<u32> = vec![u32::MAX; ds.carriers.len() * 8];
                    for row in c * chunk..((c + 1) * chunk).min(n) {
                        let f = a.facility[row] as usize;
                        if !within[f] {
                            continue;
                        }
                        let fac = &ds.facilities[f];
                        let dim = model::UNITS[a.unit[row] as usize].dimension as u8;
                        let slot = a.carrier[row] as usize * 8 + dim as usize;
                        if index[slot] == u32::MAX {
                            index[slot] = part.cd.len() as u32;
                            part.cd.push(((a.carrier[row], dim), vec![Metrics::default(); N_CELLS], 0, 0));
                        }
                        let e = &mut part.cd[index[slot] as usize];
                        inv.add_record(ds, row, &mut e.1[fac.province as usize * n_types + fac.kind as usize]);
                        e.2 += fixed(a.quantity[row] * inv.shares[f].booked);
                        e.3 += 1;
                        part.month_records[a.month[row] as usize - 1] += 1;
                        months[f].fetch_or(1 << (a.month[row] - 1), std::sync::atomic::Ordering::Relaxed);
                        let doc = a.source_document[row] as usize;
                        if doc == 0 {
                            part.without_document += 1;
                        } else if meter_docs.get(doc).copied().unwrap_or(false) {
                            part.meter_derived += 1;
                        }
                    }
                    part
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("report worker")).collect()
    });
    let months: Vec<u16> = months.into_iter().map(std::sync::atomic::AtomicU16::into_inner).collect();
    sum_parts(ds, parts, &months, &within)
}

fn sum_parts(ds: &Dataset, parts: Vec<Part>, months: &[u16], within: &[bool]) -> Pass {
    let n_types = FacilityType::ALL.len();
    let mut p = Pass {
        total: Metrics::default(),
        carriers: BTreeMap::new(),
        provinces: vec![Metrics::default(); PROVINCES.len()],
        types: vec![Metrics::default(); n_types],
        type_facilities: vec![0; n_types],
        month_records: [0; 12],
        records: 0,
        without_document: 0,
        meter_derived: 0,
        facilities_with_data: 0,
        facility_months: 0,
        facilities_in_scope: within.iter().filter(|w| **w).count(),
        shared_sites: ds.facilities.iter().zip(within).filter(|(f, w)| **w && f.allocation_share < 1.0).count(),
    };
    let mut quantities: BTreeMap<(u16, u8), i128> = BTreeMap::new();
    for part in parts {
        for (key, cells, q, count) in part.cd {
            let e = p.carriers.entry(key).or_insert((Metrics::default(), 0.0, 0));
            for (i, m) in cells.iter().enumerate() {
                if *m == Metrics::default() {
                    continue;
                }
                e.0.add(m);
                p.provinces[i / n_types].add(m);
                p.types[i % n_types].add(m);
                p.total.add(m);
            }
            e.2 += count;
            p.records += count;
            *quantities.entry(key).or_insert(0) += q;
        }
        for m in 0..12 {
            p.month_records[m] += part.month_records[m];
        }
        p.without_document += part.without_document;
        p.meter_derived += part.meter_derived;
    }
    for (key, q) in quantities {
        if let Some(e) = p.carriers.get_mut(&key) {
            e.1 = q as f64 / SCALE;
        }
    }
    for (f, &mask) in months.iter().enumerate() {
        if mask != 0 {
            p.facilities_with_data += 1;
            p.facility_months += mask.count_ones() as usize;
            p.type_facilities[ds.facilities[f].kind as usize] += 1;
        }
    }
    p
}

fn dimension_of(code: u8) -> Dimension {
    [
        Dimension::Energy,
        Dimension::Mass,
        Dimension::Volume,
        Dimension::Money,
        Dimension::Distance,
        Dimension::Freight,
        Dimension::PassengerDistance,
        Dimension::Count,
    ][code as usize]
}

/// The unit a carrier's quantity is reported in, and base units per reported unit.
fn physical_unit(kind: &CarrierKind, dim: Dimension) -> (&'static str, f64) {
    match (kind, dim) {
        (CarrierKind::Electricity(_), Dimension::Energy) => ("MWh", 3600.0),
        (_, Dimension::Energy) => ("GJ", 1000.0),
        (_, Dimension::Mass) => ("t", 1000.0),
        (_, Dimension::Volume) => ("m3", 1.0),
        (_, Dimension::Money) => ("yuan", 1.0),
        (_, d) => (d.base_unit(), 1.0),
    }
}

fn carrier_name(lang: Lang, code: &str) -> String {
    let zh = match code {
        "electricity" => "电力（电网）",
        "electricity_green_certified" => "绿证电力",
        "electricity_green_uncertified" => "绿电交易电力（无证书）",
        "electricity_pv_self" => "光伏自发自用电",
        "diesel" => "柴油",
        "gasoline" => "汽油",
        "natural_gas" => "天然气",
        "lpg" => "液化石油气",
        "lng" => "液化天然气",
        "coal" => "原煤",
        "kerosene" => "煤油",
        "fuel_oil" => "燃料油",
        "heat" => "外购热力",
        "water" => "水",
        "paper" => "纸张",
        _ => "",
    };
    if lang == Lang::Zh && !zh.is_empty() {
        return zh.to_string();
    }
    if lang == Lang::Zh {
        for (prefix, name) in [
            ("refrigerant:", "制冷剂 "),
            ("purchased_goods:", "外购产品 "),
            ("spend:", "采购支出 "),
            ("freight:", "货运 "),
            ("business_travel:", "商务差旅 "),
            ("commuting:", "员工通勤 "),
        ] {
            if let Some(rest) = code.strip_prefix(prefix) {
                return format!("{name}{rest}");
            }
        }
    }
    code.to_string()
}

fn type_name(lang: Lang, t: FacilityType) -> String {
    let (zh, en) = match t {
        FacilityType::BaseStation5g => ("5G 基站", "5G base stations"),
        FacilityType::BaseStation4g => ("4G 基站", "4G base stations"),
        FacilityType::DataCenter => ("数据中心", "Data centres"),
        FacilityType::MachineRoom => ("通信机房", "Machine rooms"),
        FacilityType::Office => ("办公楼", "Offices"),
        FacilityType::Retail => ("营业厅", "Retail outlets"),
        FacilityType::Warehouse => ("仓库", "Warehouses"),
        FacilityType::Fleet => ("车队", "Fleet"),
    };
    lang.t(zh, en).to_string()
}

/// The fixed references of the report's figures.
const R_S1_STATIONARY: u32 = 1;
const R_S1_MOBILE: u32 = 2;
const R_S1_FUGITIVE: u32 = 3;
const R_S2_LOCATION: u32 = 4;
const R_S2_MARKET: u32 = 5;
const R_S3: u32 = 6;
const R_ENERGY: u32 = 7;
const R_GAS: u32 = 8;
const R_TOTAL: u32 = 9;
const R_UNCERTAINTY: u32 = 10;
const R_LMDI: u32 = 11;
const R_QUALITY: u32 = 12;
const R_GREEN: u32 = 13;
const R_TRANSITION: u32 = 14;
const R_TARGETS: u32 = 15;
const R_SAVINGS: u32 = 16;
const R_WATER_WASTE: u32 = 17;
const R_INCLUSIVE: u32 = 18;
const R_FACILITIES: u32 = 19;
/// GB/T 2589-2020 Appendix A: electricity's calorific equivalent, kgce per kWh.
const KGCE_PER_KWH: f64 = 0.1229;
/// Per-carrier references are numbered from here.
const R_CARRIER0: u32 = 20;

struct Builder<'a> {
    lang: Lang,
    input: &'a Input<'a>,
    pass: Pass,
    /// Per plan: whether a record of the org used it.
    used_plans: Vec<bool>,
    refs: Vec<Reference>,
    carrier_refs: BTreeMap<(u16, u8), u32>,
    /// The reported org's procurement Scope 3 in grams by category 1, 2, 4.
    sup: [i64; 3],
    /// The reference of the procurement figures: numbered after the carriers' (so a report
    /// without procurement keeps its numbers), present only with procurement.
    proc_ref: u32,
}

fn t(v: i128) -> f64 {
    v as f64 / SCALE / 1000.0
}

impl Builder<'_> {
    /// The org's figures with the procurement Scope 3 (what the snapshot stores).
    fn figures(&self) -> Figures {
        figures_with(&self.pass.total, self.sup)
    }
    fn has_procurement(&self) -> bool {
        self.sup != [0; 3]
    }
    /// Tonnes of procurement grams.
    fn pt(grams: i64) -> f64 {
        to_thousands(i128::from(grams) * 1000)
    }
    /// The row that keeps breakdowns not by facility (province, facility type) summing to the
    /// totals: the procurement Scope 3, in the figure columns.
    fn procurement_row(&self) -> Option<Vec<Cell>> {
        if !self.has_procurement() {
            return None;
        }
        let g = self.sup;
        Some(vec![
            Cell::text(self.s("采购（供应链，不分设施）", "procurement (supply chain, not by facility)")),
            Cell::num(0.0, 2, Some(R_S1_STATIONARY)),
            Cell::num(0.0, 2, Some(R_S2_LOCATION)),
            Cell::num(0.0, 2, Some(R_S2_MARKET)),
            Cell::num(Self::pt(g[0] + g[1] + g[2]), 2, Some(self.proc_ref)),
            Cell::num(0.0, 2, Some(R_ENERGY)),
        ])
    }
    fn s(&self, zh: &str, en: &str) -> String {
        self.lang.t(zh, en).to_string()
    }

    fn factor_line(&self, fi: usize) -> String {
        let lib = self.input.lib;
        let f = &lib.factors[fi];
        let set = lib.set_of(f);
        let year = f.row.year.map(|y| format!(", {y}")).unwrap_or_default();
        format!(
            "{} = {} {} ({}{}; {} {}; {}@{})",
            f.row.id,
            f.row.value,
            f.row.unit,
            f.row.region,
            year,
            f.row.source,
            f.row.edition,
            set.header.id,
            set.header.version
        )
        .replace(" ;", ";")
    }

    /// The factors of the plans used whose coefficients feed `metric` (any metric when None) and
    /// that match `carrier`.
    fn factors_for(&self, metrics: &[usize], carrier: Option<u16>) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for (pi, plan) in self.input.inventory.plans.iter().enumerate() {
            if !self.used_plans[pi] || carrier.is_some_and(|c| plan.key.carrier != c) {
                continue;
            }
            if !metrics.is_empty() && !metrics.iter().any(|m| plan.coef_of(*m) != 0.0) {
                continue;
            }
            for st in &plan.steps {
                if let Some(fi) = st.factor {
                    ids.insert(fi);
                }
            }
        }
        let mut lines: Vec<String> = ids.into_iter().map(|fi| self.factor_line(fi)).collect();
        lines.sort();
        lines
    }

    fn reference(&mut self, id: u32, method: String, factors: Vec<String>) {
        self.refs.push(Reference { id, method, factors });
    }

    fn col(&self, key: &str, zh: &str, en: &str, unit: &str) -> Column {
        Column { key: key.into(), label: self.s(zh, en), unit: unit.into() }
    }

    fn table(&self, id: &str, title: String, columns: Vec<Column>, rows: Vec<Vec<Cell>>) -> Table {
        Table { id: id.into(), title, columns, rows, notes: Vec::new() }
    }
}

fn section(id: &str, title: String) -> Section {
    Section { id: id.into(), title, paragraphs: Vec::new(), charts: Vec::new(), tables: Vec::new() }
}

/// Builds the report; refuses an org without activity and a period with months without records.
pub fn build(input: &Input<'_>) -> Result<Report, ReportError> {
    let ds = input.ds;
    let inv = input.inventory;
    let p = pass(ds, inv, input.org, input.breakdown);
    if p.records == 0 {
        return Err(ReportError::NoActivity);
    }
    let missing: Vec<u8> = (1..=12u8).filter(|m| p.month_records[*m as usize - 1] == 0).collect();
    if !missing.is_empty() {
        return Err(ReportError::MissingMonths { months: missing });
    }
    let provinces_used: BTreeSet<u8> =
        (0..PROVINCES.len()).filter(|i| p.provinces[*i] != Metrics::default()).map(|i| i as u8).collect();
    let carriers_used: BTreeSet<u16> = p.carriers.keys().map(|k| k.0).collect();
    let used_plans = inv
        .plans
        .iter()
        .map(|pl| carriers_used.contains(&pl.key.carrier) && provinces_used.contains(&pl.key.province))
        .collect();
    let sup = input.procurement.as_ref().map_or([0; 3], |pr| pr.of(input.org));
    let mut b = Builder {
        lang: input.lang,
        input,
        pass: p,
        used_plans,
        refs: Vec::new(),
        carrier_refs: BTreeMap::new(),
        sup,
        proc_ref: 0,
    };
    references(&mut b);
    let mut sections = vec![about(&b)];
    match input.template {
        Template::Inventory => {
            sections.push(boundary(&b));
            sections.push(base_year(&b));
            sections.push(emissions(&b));
            sections.push(energy(&b));
            sections.push(methods(&b));
            sections.push(exclusions(&b));
            sections.push(uncertainty_section(&b));
            sections.push(quality(&b));
            sections.push(change(&b));
            sections.push(green_power(&b));
            sections.push(capital_market(&b));
            sections.push(government(&b));
            sections.push(facilities_appendix(&b));
        }
        Template::CapitalMarket => {
            sections.push(emissions(&b));
            sections.push(capital_market(&b));
        }
        Template::Government => {
            sections.push(energy(&b));
            sections.push(government(&b));
        }
    }
    let o = &ds.orgs.orgs[input.org as usize];
    let lang = input.lang;
    let title = match (input.template, lang) {
        (Template::Inventory, Lang::Zh) => format!("{} {} 年度温室气体排放报告", o.name, ds.year),
        (Template::Inventory, Lang::En) => format!("{} greenhouse gas inventory report {}", o.name, ds.year),
        (Template::CapitalMarket, Lang::Zh) => {
            format!("{} {} 年度环境与气候信息披露表（港交所、IFRS S2、A 股）", o.name, ds.year)
        }
        (Template::CapitalMarket, Lang::En) => {
            format!("{} environmental and climate disclosures {} (HKEX, IFRS S2, A-share)", o.name, ds.year)
        }
        (Template::Government, Lang::Zh) => format!("{} {} 年度重点用能单位能源利用状况报告", o.name, ds.year),
        (Template::Government, Lang::En) => format!("{} key energy-using unit report {}", o.name, ds.year),
    };
    let source = match input.source.snapshot {
        Some(id) => {
            let approval = match (&input.source.approved_by, &input.source.approved_at) {
                (Some(by), Some(at)) => {
                    lang.t(format!("，{by} 于 {at} 审核通过"), format!(", approved by {by} at {at}"))
                }
                _ => String::new(),
            };
            lang.t(
                format!("平台快照 {id}{approval}；{} 个报送版本", input.source.inputs),
                format!("platform snapshot {id}{approval}; {} filing version(s)", input.source.inputs),
            )
        }
        None => lang.t(
            format!("数据目录（{} 个活动数据文件）", input.source.inputs),
            format!("a data directory ({} activity file(s))", input.source.inputs),
        ),
    };
    let mut report = Report {
        lang,
        template: input.template,
        title,
        org_code: o.code.clone(),
        org_name: o.name.clone(),
        year: ds.year,
        snapshot: input.source.snapshot,
        source,
        library_version: inv.library_version.clone(),
        library_fingerprint: inv.library_fingerprint.clone(),
        sections,
        references: b.refs,
        hash: String::new(),
    };
    report.hash = content_hash(&report);
    Ok(report)
}

/// SHA-256 (hex) of the report's content without its hash.
pub fn content_hash(r: &Report) -> String {
    let mut copy = r.clone();
    copy.hash = String::new();
    let json = serde_json::to_vec(&copy).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn references(b: &mut Builder<'_>) {
    let l = b.lang;
    let o = &b.input.inventory.options;
    let gwp = o.gwp.clone();
    let fixed: [(u32, &[usize], String); 9] = [
        (R_S1_STATIONARY, &[S1_STATIONARY], l.t("范围一固定燃烧：燃料消耗量 × 低位发热量 × 单位热值含碳量 × 碳氧化率 × 44/12，加 CH4、N2O × GWP（《工业其他行业企业温室气体排放核算方法与报告指南》/ IPCC 2006）", "Scope 1 stationary combustion: fuel × NCV × carbon content × oxidation × 44/12, plus CH4 and N2O × GWP (China's accounting guidelines / IPCC 2006)").into()),
        (R_S1_MOBILE, &[S1_MOBILE], l.t("范围一移动燃烧：燃料消耗量 × 排放因子（同上，移动源 CH4、N2O 因子）", "Scope 1 mobile combustion: fuel × factors (as above, mobile CH4 and N2O factors)").into()),
        (R_S1_FUGITIVE, &[S1_FUGITIVE], l.t("范围一逸散：制冷剂补充量 × GWP（质量平衡法）", "Scope 1 fugitive: refrigerant top-up × GWP (mass balance)").into()),
        (R_S2_LOCATION, &[S2_LOCATION], l.t("范围二基于位置：外购电力 × 所在省级电网平均排放因子（无则区域、全国）", "Scope 2 location-based: purchased electricity × provincial grid average factor (else regional, national)").into()),
        (R_S2_MARKET, &[S2_MARKET], l.t("范围二基于市场：绿证电力与自发自用光伏计零，其余电力 × 剩余组合因子（GHG Protocol 范围二指南 2015）", "Scope 2 market-based: certified green power and on-site PV at zero, other electricity × residual mix factor (GHG Protocol Scope 2 Guidance 2015)").into()),
        (R_S3, &[S3_CAT1, S3_CAT4, S3_CAT6, S3_CAT7], l.t("范围三：活动量或支出 × 排放因子（GHG Protocol 范围三标准，类别 1、4、6、7）", "Scope 3: activity or spend × factor (GHG Protocol Scope 3 Standard, categories 1, 4, 6, 7)").into()),
        (R_ENERGY, &[ENERGY_KGCE], l.t("综合能耗：实物量 × 折标准煤系数（GB/T 2589-2020；电力按所选口径）", "Energy in standard coal: quantity × conversion factor (GB/T 2589-2020; electricity on the chosen basis)").into()),
        (R_GAS, &[CO2E_CO2, CO2E_CH4, CO2E_N2O, CO2E_FGAS], format!("{} {gwp}", l.t("分气体：各气体质量 × GWP，GWP 取 IPCC", "By gas: mass of each gas × GWP, GWP values of IPCC"))),
        (R_TOTAL, &[], l.t("合计 = 范围一 + 范围二 + 范围三，按记录精确累加（毫克整数），母公司等于子公司之和", "Totals = Scope 1 + Scope 2 + Scope 3, accumulated exactly per record (integer milligrams); a parent equals the sum of its children").into()),
    ];
    for (id, metrics, method) in fixed {
        let factors = if metrics.is_empty() { Vec::new() } else { b.factors_for(metrics, None) };
        b.reference(id, method, factors);
    }
    b.reference(R_UNCERTAINTY, l.t("不确定性：IPCC 2006 第 1 卷第 3 章方法 1（误差传递）：乘积 U = √(U_AD² + U_EF²)，加总 U = √Σ(U_i·x_i)² / |Σx_i|，95% 置信区间半宽；缺省值见表注", "Uncertainty: IPCC 2006 Vol. 1 Ch. 3 Approach 1 (error propagation): product U = √(U_AD² + U_EF²), sum U = √Σ(U_i·x_i)² / |Σx_i|, half the 95 % confidence interval; defaults in the table's note").into(), Vec::new());
    b.reference(R_LMDI, l.t("LMDI-I 加法分解（Ang 2005）：活动量、强度、PUE、电网因子、绿电比例效应，加范围一变化，无残差", "LMDI-I additive decomposition (Ang 2005): activity, intensity, PUE, grid factor and green-power effects plus the change of Scope 1, no residual").into(), Vec::new());
    b.reference(R_QUALITY, l.t("数据质量：覆盖设施 × 月份 / 有数据设施 × 12；无来源单据的记录视为估算；平台评分（由快照生成时）= 100 × 完整性 × 无异常设施占比 ×（1 − 上传拒收行占比），12 个月平均，按快照记录的报送版本计算", "Data quality: facility-months with data / facilities with data × 12; records without a source document count as estimated; the platform's score (when made from a snapshot) = 100 × completeness × share of reporting facilities without findings × (1 − share of rows refused at upload), the mean of the 12 months, over the filing versions the snapshot recorded").into(), Vec::new());
    b.reference(R_GREEN, l.t("绿电比例 =（绿证电力 + 自发自用光伏）/ 全部用电；无证书的绿电交易不计入（范围二质量准则）", "Green-power share = (certified green power + on-site PV) / all electricity; green power traded without certificates is not counted (Scope 2 quality criteria)").into(), Vec::new());
    b.reference(R_TRANSITION, l.t("转型路径：情景模块（场）以本次盘查校准的 Kaya 驱动模型，内置驱动因素与目标（2030 年前达峰、2030 年强度较基准年下降 26.9%、2060 年碳中和），不含新增减排措施；不含范围三，基于市场的范围二按电网平均因子计剩余部分", "Transition path: the scenarios' Kaya driver model calibrated on this inventory, shipped drivers and targets (peak by 2030, intensity −26.9 % from the base year by 2030, neutrality by 2060), no new measures; Scope 3 left out, market-based Scope 2 with the grid average on the residual").into(), Vec::new());
    b.reference(R_TARGETS, l.t("目标与进展：平台考核目标（指标模块目标集，按组织继承），当年指标值为下属组织分量之和的比值；进展 =（当前值 − 基准值）/（目标值 − 基准值），按基准年至目标年的线性轨迹判断是否按期", "Targets and progress: the platform's targets (the indicators module's target set, inherited down the org tree), the year's indicator value a ratio of sums over the org's subtree; progress = (current − baseline) / (goal − baseline), on track against the linear trajectory from base year to target year").into(), Vec::new());
    b.reference(R_SAVINGS, l.t("节能量：平台记录的基站 AI 节能运行（3GPP TR 38.864 功耗模型，按实际话务测算），节电量 = 基准电量 − 实际电量；折标准煤 = 节电量 × 0.1229 kgce/kWh（GB/T 2589-2020 当量值）", "Savings: base-station AI energy-saving runs recorded on the platform (3GPP TR 38.864 power model on the stations' measured traffic), saved = reference − actual electricity; in standard coal: saved kWh × 0.1229 kgce/kWh (GB/T 2589-2020, calorific equivalent)").into(), Vec::new());
    b.reference(R_WATER_WASTE, l.t("水与废弃物：平台指标数据（water_m3、waste_hazardous_t、waste_non_hazardous_t）当年下属组织之和，来源见表注", "Water and waste: the platform's indicator data (water_m3, waste_hazardous_t, waste_non_hazardous_t), summed over the org's subtree for the year; sources in the table's note").into(), Vec::new());
    b.reference(R_INCLUSIVE, l.t("碳普惠：个人碳账户入账的减排量 ER = BE − PE（各方法学版本，结构参照北京 DB11/T 3043-2024），可领取、已领取或过期未领取；待审与驳回不计；在组织边界之外，不抵减盘查排放", "Carbon-inclusive (碳普惠): reductions credited to personal carbon accounts, ER = BE − PE under each methodology version (structure of Beijing DB11/T 3043-2024), claimable, claimed or expired unclaimed; held and rejected excluded; outside the inventory boundary, not netted against it").into(), Vec::new());
    b.reference(
        R_FACILITIES,
        l.t(
            "设施清单：边界内组织的全部设施（参考数据），按类型与省份计数",
            "Facility list: every facility of the orgs in the boundary (reference data), counted by type and province",
        )
        .into(),
        Vec::new(),
    );
    let keys: Vec<(u16, u8)> = b.pass.carriers.keys().copied().collect();
    for (i, key) in keys.into_iter().enumerate() {
        let id = R_CARRIER0 + i as u32;
        let code = b.input.ds.carriers[key.0 as usize].code.clone();
        let method = format!("{} {}", l.t("能源品种/活动：", "Carrier / activity:"), carrier_name(l, &code));
        let factors = b.factors_for(&[], Some(key.0));
        b.reference(id, method, factors);
        b.carrier_refs.insert(key, id);
    }
    if b.has_procurement() {
        let id = R_CARRIER0 + b.carrier_refs.len() as u32;
        let pr = b.input.procurement.clone().unwrap_or_default();
        let runs: Vec<String> = pr.runs.iter().map(i64::to_string).collect();
        let split: Vec<String> = pr
            .by_method
            .iter()
            .map(|(m, g)| format!("{} {} t", method_name(l, m), crate::format_number(Builder::pt(*g), 6)))
            .collect();
        // The share of the procurement Scope 3 covered by supplier-specific data.
        let all: i64 = pr.by_method.values().sum();
        let coverage = pr.by_method.get("supplier_specific").copied().unwrap_or(0) as f64 / all.max(1) as f64 * 100.0;
        let coverage = crate::format_number(coverage, 2);
        let method = l.t(
            format!("范围三（采购）：供应链模块记录的采购核算运行 {}，按类别 1（外购商品与服务）、2（资本货物）、4（上游运输）计入；方法优先级：供应商特定产品碳足迹 > 行业平均产品数据 > 支出法（环境扩展投入产出因子，人民币，按价格年份平减），运输按吨公里 × 运输方式因子（GHG Protocol 范围三标准、范围三计算指南）；按方法：{}；供应商特定数据覆盖 {coverage}%", runs.join("、"), split.join("；")),
            format!("Scope 3 (procurement): the supply module's procurement runs {} recorded into the inventory, booked in category 1 (purchased goods and services), 2 (capital goods) and 4 (upstream transport); method hierarchy: supplier-specific product footprint > average product data > spend-based (environmentally-extended input-output factors, CNY, deflated to their price year), transport by tonne-km × mode factor (GHG Protocol Scope 3 Standard and Technical Guidance); by method: {}; covered by supplier-specific data: {coverage} %", runs.join(", "), split.join("; ")),
        );
        b.reference(id, method, pr.references.clone());
        b.proc_ref = id;
    }
}

fn method_name(l: Lang, code: &str) -> String {
    let (zh, en) = match code {
        "supplier_specific" => ("供应商特定", "supplier-specific"),
        "average" => ("行业平均", "average"),
        "spend" => ("支出法", "spend-based"),
        "distance" => ("运输距离法", "distance-based"),
        _ => (code, code),
    };
    l.t(zh, en).to_string()
}

fn about(b: &Builder<'_>) -> Section {
    let inp = b.input;
    let o = &inp.inventory.options;
    let mut s = section("about", b.s("报告说明", "About this report"));
    let org = &inp.ds.orgs.orgs[inp.org as usize];
    s.paragraphs.push(b.lang.t(
        format!("报告主体：{}（{}）。报告期：{} 年 1 月 1 日至 12 月 31 日。本报告依据 ISO 14064-1:2018 与《温室气体核算体系：企业核算与报告标准》（GHG Protocol）编制；数值均由平台从活动记录与排放因子计算，每一数值后的 [n] 指向附录中的方法与因子。", org.name, org.code, inp.ds.year),
        format!("Reporting organisation: {} ({}). Period: 1 January to 31 December {}. Prepared following ISO 14064-1:2018 and the GHG Protocol Corporate Standard; every figure is computed by the platform from activity records and emission factors, and [n] after a figure points to its method and factors in the appendix.", org.name, org.code, inp.ds.year),
    ));
    s.paragraphs.push(b.lang.t(
        format!("GWP：IPCC {}。电力折标煤口径：{}。核查状态：平台未记录第三方核查。", o.gwp, if o.electricity_tce == "calorific" { "当量值 0.1229 kgce/kWh" } else { "等价值（发电煤耗）" }),
        format!("GWP: IPCC {}. Electricity in standard coal: {}. Verification: no third-party verification is recorded on the platform.", o.gwp, if o.electricity_tce == "calorific" { "calorific value 0.1229 kgce/kWh" } else { "coal equivalent of generation" }),
    ));
    let f = b.figures();
    let tt = &f.totals;
    let rows = vec![
        vec![Cell::text(b.s("范围一", "Scope 1")), Cell::num(tt.scope1, 2, Some(R_S1_STATIONARY)), Cell::text("tCO2e")],
        vec![
            Cell::text(b.s("范围二（基于位置）", "Scope 2 (location-based)")),
            Cell::num(tt.scope2_location, 2, Some(R_S2_LOCATION)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text(b.s("范围二（基于市场）", "Scope 2 (market-based)")),
            Cell::num(tt.scope2_market, 2, Some(R_S2_MARKET)),
            Cell::text("tCO2e"),
        ],
        vec![Cell::text(b.s("范围三", "Scope 3")), Cell::num(tt.scope3, 2, Some(R_S3)), Cell::text("tCO2e")],
        vec![
            Cell::text(b.s("合计（基于位置）", "Total (location-based)")),
            Cell::num(tt.total_location, 2, Some(R_TOTAL)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text(b.s("合计（基于市场）", "Total (market-based)")),
            Cell::num(tt.total_market, 2, Some(R_TOTAL)),
            Cell::text("tCO2e"),
        ],
        vec![Cell::text(b.s("综合能耗", "Energy")), Cell::num(tt.energy_tce, 2, Some(R_ENERGY)), Cell::text("tce")],
        vec![
            Cell::text(b.s("用电量", "Electricity")),
            Cell::num(f.memo.electricity_mwh, 2, Some(R_ENERGY)),
            Cell::text("MWh"),
        ],
        vec![
            Cell::text(b.s("绿电比例", "Green-power share")),
            Cell::num(f.memo.green_power_share * 100.0, 2, Some(R_GREEN)),
            Cell::text("%"),
        ],
    ];
    s.charts.push(Chart {
        title: b.s("排放构成", "Emissions by scope"),
        unit: "tCO2e".into(),
        bars: vec![
            (b.s("范围一", "Scope 1"), tt.scope1),
            (b.s("范围二（位置）", "Scope 2 (location)"), tt.scope2_location),
            (b.s("范围二（市场）", "Scope 2 (market)"), tt.scope2_market),
            (b.s("范围三", "Scope 3"), tt.scope3),
        ],
    });
    s.tables.push(b.table(
        "summary",
        b.s("主要数据", "Headline figures"),
        vec![b.col("item", "项目", "Item", ""), b.col("value", "数值", "Value", ""), b.col("unit", "单位", "Unit", "")],
        rows,
    ));
    s
}

fn boundary(b: &Builder<'_>) -> Section {
    let inp = b.input;
    let o = &inp.inventory.options;
    let f = Figures::from_metrics(&b.pass.total);
    let mut s = section("boundary", b.s("组织边界与运营边界", "Organisational and operational boundaries"));
    let approach = match o.boundary {
        accounting::Boundary::OperationalControl => b.s("运营控制权法", "operational control"),
        accounting::Boundary::EquityShare => b.s("股权比例法", "equity share"),
    };
    let orgs = (0..inp.ds.orgs.orgs.len()).filter(|i| inp.ds.orgs.is_within(*i as u32, inp.org)).count();
    s.paragraphs.push(b.lang.t(
        format!("合并方法：{approach}。共建共享站点按分摊比例计入，另一方承担的部分列于排除项。运营边界：范围一、范围二（双重报告），范围三类别 1、4、6、7（有数据时）。"),
        format!("Consolidation approach: {approach}. Shared sites (共建共享) are booked at their allocation share; the other party's part is listed under exclusions. Operational boundary: Scope 1, Scope 2 (dual reporting), Scope 3 categories 1, 4, 6 and 7 where data exist."),
    ));
    if b.has_procurement() {
        let r = b.proc_ref;
        s.paragraphs.push(b.lang.t(
            format!("范围三另含供应链模块记录的采购核算（类别 1 外购商品与服务、类别 2 资本货物、类别 4 上游运输），按组织子树计入，不分设施 [{r}]。"),
            format!("Scope 3 also includes the procurement runs recorded by the supply module (category 1 purchased goods and services, category 2 capital goods, category 4 upstream transport), booked by org subtree, not by facility [{r}]."),
        ));
    }
    let rows = vec![
        vec![Cell::text(b.s("合并方法", "Consolidation approach")), Cell::text(approach), Cell::text("")],
        vec![
            Cell::text(b.s("组织（含本级）", "Orgs (including this one)")),
            Cell::num(orgs as f64, 0, None),
            Cell::text(""),
        ],
        vec![
            Cell::text(b.s("边界内设施", "Facilities in the boundary")),
            Cell::num(b.pass.facilities_in_scope as f64, 0, None),
            Cell::text(""),
        ],
        vec![
            Cell::text(b.s("有活动数据的设施", "Facilities with activity data")),
            Cell::num(b.pass.facilities_with_data as f64, 0, Some(R_QUALITY)),
            Cell::text(""),
        ],
        vec![
            Cell::text(b.s("共建共享站点", "Shared sites")),
            Cell::num(b.pass.shared_sites as f64, 0, None),
            Cell::text(""),
        ],
        vec![
            Cell::text(b.s("分摊给共享方的排放", "Allocated to the sharing party")),
            Cell::num(f.memo.allocated_away_tco2e, 2, Some(R_S2_LOCATION)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text(b.s("组织边界外排放", "Outside the organisational boundary")),
            Cell::num(f.memo.excluded_by_boundary_tco2e, 2, Some(R_S2_LOCATION)),
            Cell::text("tCO2e"),
        ],
    ];
    // The org tree: the org and its direct children, each with its subtree's figures.
    let subtree = inp.inventory.org_subtree(inp.ds);
    let tree = &inp.ds.orgs;
    let mut org_rows = Vec::new();
    for (i, o) in tree.orgs.iter().enumerate() {
        let own = i as u32 == inp.org;
        if !own && o.parent != Some(inp.org) {
            continue;
        }
        let g = inp.procurement.as_ref().map_or([0; 3], |pr| pr.of(i as u32));
        let mut cells = figure_cells_with(format!("{} {}", o.code, o.name), &subtree[i], g);
        cells.insert(
            1,
            Cell::text(if own {
                b.s("本级（合计）", "this org (total)")
            } else {
                tree.orgs[inp.org as usize].code.clone()
            }),
        );
        cells.insert(2, Cell::num(o.equity_share * 100.0, 1, None));
        cells.insert(3, Cell::text(if o.operational_control { b.s("是", "yes") } else { b.s("否", "no") }));
        org_rows.push(cells);
    }
    let mut cols = figure_columns(b, b.col("org", "组织", "Org", ""));
    cols.insert(1, b.col("parent", "上级", "Parent", ""));
    cols.insert(2, b.col("equity_share", "持股比例", "Equity share", "%"));
    cols.insert(3, b.col("operational_control", "运营控制", "Operational control", ""));
    s.tables.push(b.table(
        "org_tree",
        b.s("组织架构（本级与直属下级）", "Org tree (this org and its direct children)"),
        cols,
        org_rows,
    ));
    s.tables.push(b.table(
        "boundary",
        b.s("边界", "Boundary"),
        vec![b.col("item", "项目", "Item", ""), b.col("value", "数值", "Value", ""), b.col("unit", "单位", "Unit", "")],
        rows,
    ));
    s
}

fn totals_rows(b: &Builder<'_>, tt: &Totals) -> Vec<Vec<Cell>> {
    vec![
        vec![Cell::text(b.s("范围一", "Scope 1")), Cell::num(tt.scope1, 2, Some(R_S1_STATIONARY))],
        vec![
            Cell::text(b.s("范围二（基于位置）", "Scope 2 (location-based)")),
            Cell::num(tt.scope2_location, 2, Some(R_S2_LOCATION)),
        ],
        vec![
            Cell::text(b.s("范围二（基于市场）", "Scope 2 (market-based)")),
            Cell::num(tt.scope2_market, 2, Some(R_S2_MARKET)),
        ],
        vec![Cell::text(b.s("范围三", "Scope 3")), Cell::num(tt.scope3, 2, Some(R_S3))],
        vec![Cell::text(b.s("综合能耗（tce）", "Energy (tce)")), Cell::num(tt.energy_tce, 2, Some(R_ENERGY))],
    ]
}

fn base_year(b: &Builder<'_>) -> Section {
    let inp = b.input;
    let mut s = section("base_year", b.s("基准年与重新计算", "Base year and recalculation"));
    let (year, totals) = match &inp.base_year {
        Some((y, t)) => (*y, t.clone()),
        None => (inp.ds.year, b.figures().totals),
    };
    s.paragraphs.push(b.lang.t(
        format!("基准年：{year}。重新计算政策：组织结构变化、方法或排放因子变化、发现对结果有显著影响的错误时重新计算基准年及其后各年；更正以重述方式进行（附理由的新报送版本或新快照版本），旧版本保持可读。"),
        format!("Base year: {year}. Recalculation policy: a structural change, a change of methods or factors, or an error with a significant effect recalculates the base year and the years after it; a correction is a restatement (a new filing or snapshot version with its reason), and the old version stays readable."),
    ));
    s.tables.push(b.table(
        "base_year",
        b.lang.t(format!("基准年（{year}）排放"), format!("Base year ({year}) emissions")),
        vec![b.col("figure", "项目", "Figure", ""), b.col("value", "数值", "Value", "tCO2e / tce")],
        totals_rows(b, &totals),
    ));
    let rows: Vec<Vec<Cell>> = if inp.restatements.is_empty() {
        vec![vec![Cell::text(b.s("无", "none")), Cell::text(""), Cell::text(""), Cell::text("")]]
    } else {
        inp.restatements
            .iter()
            .map(|r| {
                vec![
                    Cell::text(r.snapshot.to_string()),
                    Cell::text(r.supersedes.to_string()),
                    Cell::text(r.at.clone()),
                    Cell::text(r.reason.clone()),
                ]
            })
            .collect()
    };
    s.tables.push(b.table(
        "restatements",
        b.s("平台记录的重述", "Restatements recorded by the platform"),
        vec![
            b.col("snapshot", "快照", "Snapshot", ""),
            b.col("supersedes", "替代", "Supersedes", ""),
            b.col("at", "时间", "At", ""),
            b.col("reason", "理由", "Reason", ""),
        ],
        rows,
    ));
    s
}

fn figure_columns(b: &Builder<'_>, first: Column) -> Vec<Column> {
    vec![
        first,
        b.col("scope1", "范围一", "Scope 1", "tCO2e"),
        b.col("scope2_location", "范围二（位置）", "Scope 2 (location)", "tCO2e"),
        b.col("scope2_market", "范围二（市场）", "Scope 2 (market)", "tCO2e"),
        b.col("scope3", "范围三", "Scope 3", "tCO2e"),
        b.col("energy_tce", "综合能耗", "Energy", "tce"),
    ]
}

fn figure_cells(name: String, m: &Metrics) -> Vec<Cell> {
    figure_cells_with(name, m, [0; 3])
}

/// [`figure_cells`] with procurement grams (categories 1, 2, 4) in Scope 3.
fn figure_cells_with(name: String, m: &Metrics, g: [i64; 3]) -> Vec<Cell> {
    let f = figures_with(m, g);
    vec![
        Cell::text(name),
        Cell::num(f.totals.scope1, 2, Some(R_S1_STATIONARY)),
        Cell::num(f.totals.scope2_location, 2, Some(R_S2_LOCATION)),
        Cell::num(f.totals.scope2_market, 2, Some(R_S2_MARKET)),
        Cell::num(f.totals.scope3, 2, Some(R_S3)),
        Cell::num(f.totals.energy_tce, 2, Some(R_ENERGY)),
    ]
}

fn emissions(b: &Builder<'_>) -> Section {
    let m = &b.pass.total;
    let mut s = section("emissions", b.s("排放量", "Emissions"));
    let cat = |zh: &str, en: &str, scope: &str, src_zh: &str, src_en: &str, v: i128, r: u32| {
        vec![Cell::text(b.s(zh, en)), Cell::text(scope), Cell::text(b.s(src_zh, src_en)), Cell::num(t(v), 2, Some(r))]
    };
    let rows = vec![
        cat(
            "类别 1 直接排放",
            "Category 1 direct",
            "Scope 1",
            "固定燃烧",
            "stationary combustion",
            m.0[S1_STATIONARY],
            R_S1_STATIONARY,
        ),
        cat(
            "类别 1 直接排放",
            "Category 1 direct",
            "Scope 1",
            "移动燃烧",
            "mobile combustion",
            m.0[S1_MOBILE],
            R_S1_MOBILE,
        ),
        cat(
            "类别 1 直接排放",
            "Category 1 direct",
            "Scope 1",
            "制冷剂逸散",
            "fugitive refrigerants",
            m.0[S1_FUGITIVE],
            R_S1_FUGITIVE,
        ),
        cat(
            "类别 2 输入能源间接排放",
            "Category 2 imported energy",
            "Scope 2",
            "外购电力与热力（基于位置）",
            "purchased electricity and heat (location-based)",
            m.0[S2_LOCATION],
            R_S2_LOCATION,
        ),
        cat(
            "类别 2 输入能源间接排放",
            "Category 2 imported energy",
            "Scope 2",
            "外购电力与热力（基于市场）",
            "purchased electricity and heat (market-based)",
            m.0[S2_MARKET],
            R_S2_MARKET,
        ),
        cat(
            "类别 4 外购产品",
            "Category 4 products used",
            "Scope 3 cat. 1",
            "外购商品与服务",
            "purchased goods and services",
            m.0[S3_CAT1] + i128::from(b.sup[0]) * 1000,
            R_S3,
        ),
        cat(
            "类别 3 运输",
            "Category 3 transportation",
            "Scope 3 cat. 4",
            "上游运输",
            "upstream transport",
            m.0[S3_CAT4] + i128::from(b.sup[2]) * 1000,
            R_S3,
        ),
        cat(
            "类别 3 运输",
            "Category 3 transportation",
            "Scope 3 cat. 6",
            "商务差旅",
            "business travel",
            m.0[S3_CAT6],
            R_S3,
        ),
        cat(
            "类别 3 运输",
            "Category 3 transportation",
            "Scope 3 cat. 7",
            "员工通勤",
            "employee commuting",
            m.0[S3_CAT7],
            R_S3,
        ),
    ];
    let mut rows = rows;
    if b.has_procurement() {
        // Category 2 (capital goods) comes from procurement only: its own row, after category 1.
        rows.insert(
            6,
            cat(
                "类别 4 外购产品",
                "Category 4 products used",
                "Scope 3 cat. 2",
                "资本货物（采购）",
                "capital goods (procurement)",
                i128::from(b.sup[1]) * 1000,
                b.proc_ref,
            ),
        );
    }
    let mut by_category = b.table(
        "by_category",
        b.s("按 ISO 14064-1 类别与范围", "By ISO 14064-1 category and scope"),
        vec![
            b.col("category", "ISO 类别", "ISO category", ""),
            b.col("scope", "范围", "Scope", ""),
            b.col("source", "排放源", "Source", ""),
            b.col("tco2e", "排放量", "Emissions", "tCO2e"),
        ],
        rows,
    );
    if b.has_procurement() {
        let g = b.sup;
        let n = |grams: i64| crate::format_number(Builder::pt(grams), 6);
        by_category.notes.push(b.lang.t(
            format!("范围三类别 1 含采购核算 {} t、类别 4 含采购核算 {} t，类别 2 全部来自采购核算 [{}]。", n(g[0]), n(g[2]), b.proc_ref),
            format!("Scope 3 category 1 includes {} t and category 4 {} t from procurement; category 2 is procurement only [{}].", n(g[0]), n(g[2]), b.proc_ref),
        ));
    }
    s.tables.push(by_category);
    let gases = [
        ("CO2", GAS_CO2_KG, CO2E_CO2),
        ("CH4", GAS_CH4_KG, CO2E_CH4),
        ("N2O", GAS_N2O_KG, CO2E_N2O),
        ("HFCs", GAS_FGAS_KG, CO2E_FGAS),
    ];
    let rows = gases
        .iter()
        .map(|(g, mass, eq)| {
            vec![Cell::text(*g), Cell::num(t(m.0[*mass]), 3, Some(R_GAS)), Cell::num(t(m.0[*eq]), 2, Some(R_GAS))]
        })
        .collect();
    let mut by_gas = b.table(
        "by_gas",
        b.s("范围一与范围二（位置）按气体", "Scope 1 and Scope 2 (location) by gas"),
        vec![
            b.col("gas", "气体", "Gas", ""),
            b.col("tonnes", "质量", "Mass", "t"),
            b.col("tco2e", "二氧化碳当量", "CO2e", "tCO2e"),
        ],
        rows,
    );
    by_gas.notes.push(b.s(
        "PFCs、SF6、NF3：活动数据中无排放源，为 0。HCFC 属《蒙特利尔议定书》管控气体，单列于排除项。",
        "PFCs, SF6, NF3: no source in the activity data, zero. HCFCs (Montreal Protocol gases) are listed under exclusions.",
    ));
    s.tables.push(by_gas);
    let mut prov_rows = Vec::new();
    let mut bars = Vec::new();
    for (i, pm) in b.pass.provinces.iter().enumerate() {
        if *pm == Metrics::default() {
            continue;
        }
        let name = match b.lang {
            Lang::Zh => PROVINCES[i].name_zh.to_string(),
            Lang::En => PROVINCES[i].pinyin.to_string(),
        };
        bars.push((name.clone(), t(pm.scope1() + pm.0[S2_LOCATION] + pm.scope3())));
        prov_rows.push(figure_cells(name, pm));
    }
    prov_rows.extend(b.procurement_row());
    s.tables.push(b.table(
        "by_province",
        b.s("按省份", "By province"),
        figure_columns(b, b.col("province", "省份", "Province", "")),
        prov_rows,
    ));
    bars.sort_by(|a, c| c.1.total_cmp(&a.1).then(a.0.cmp(&c.0)));
    bars.truncate(10);
    s.charts.push(Chart {
        title: b.s("排放最多的十个省份（基于位置合计）", "Ten largest provinces (total, location-based)"),
        unit: "tCO2e".into(),
        bars,
    });
    let mut rows: Vec<Vec<Cell>> = FacilityType::ALL
        .iter()
        .filter(|ft| b.pass.types[**ft as usize] != Metrics::default())
        .map(|ft| figure_cells(type_name(b.lang, *ft), &b.pass.types[*ft as usize]))
        .collect();
    rows.extend(b.procurement_row());
    s.tables.push(b.table(
        "by_facility_type",
        b.s("按设施类型", "By facility type"),
        figure_columns(b, b.col("facility_type", "设施类型", "Facility type", "")),
        rows,
    ));
    s
}

/// Per carrier: name, unit, quantity, tce, CO2e (Scope 1 + 2 location + 3), reference.
fn carrier_lines(b: &Builder<'_>) -> Vec<(String, &'static str, f64, f64, f64, u32, CarrierKind)> {
    b.pass
        .carriers
        .iter()
        .map(|(key, (m, q, _))| {
            let c = &b.input.ds.carriers[key.0 as usize];
            let (unit, per) = physical_unit(&c.kind, dimension_of(key.1));
            let co2e = t(m.scope1() + m.0[S2_LOCATION] + m.scope3());
            (
                carrier_name(b.lang, &c.code),
                unit,
                q / per,
                t(m.0[ENERGY_KGCE]),
                co2e,
                b.carrier_refs[key],
                c.kind.clone(),
            )
        })
        .collect()
}

fn energy(b: &Builder<'_>) -> Section {
    let mut s = section("energy", b.s("能源消费", "Energy"));
    let total_tce = t(b.pass.total.0[ENERGY_KGCE]);
    let lines = carrier_lines(b);
    let rows: Vec<Vec<Cell>> = lines
        .iter()
        .filter(|l| l.3 != 0.0)
        .map(|(name, unit, q, tce, _, r, _)| {
            vec![
                Cell::text(name.clone()),
                Cell::text(*unit),
                Cell::num(*q, 2, Some(*r)),
                Cell::num(*tce, 2, Some(*r)),
                Cell::num(if total_tce > 0.0 { tce / total_tce * 100.0 } else { 0.0 }, 2, Some(R_ENERGY)),
            ]
        })
        .collect();
    let mut bars: Vec<(String, f64)> = lines.iter().filter(|l| l.3 != 0.0).map(|l| (l.0.clone(), l.3)).collect();
    bars.sort_by(|a, c| c.1.total_cmp(&a.1));
    bars.truncate(10);
    s.charts.push(Chart { title: b.s("综合能耗构成", "Energy by carrier"), unit: "tce".into(), bars });
    let mut table = b.table(
        "energy_by_carrier",
        b.s("按能源品种（实物量与折标准煤）", "By carrier (physical units and tce)"),
        vec![
            b.col("carrier", "能源品种", "Carrier", ""),
            b.col("unit", "实物单位", "Unit", ""),
            b.col("quantity", "实物量", "Quantity", ""),
            b.col("tce", "折标准煤", "Standard coal", "tce"),
            b.col("share", "占比", "Share", "%"),
        ],
        rows,
    );
    table.rows.push(vec![
        Cell::text(b.s("合计", "Total")),
        Cell::text(""),
        Cell::text(""),
        Cell::num(total_tce, 2, Some(R_ENERGY)),
        Cell::num(if total_tce > 0.0 { 100.0 } else { 0.0 }, 2, Some(R_ENERGY)),
    ]);
    table.notes.push(b.s(
        "实物量为计入边界的部分（共建共享站点按分摊比例）。",
        "Quantities are the booked part (shared sites at their allocation share).",
    ));
    s.tables.push(table);
    s
}

fn methods(b: &Builder<'_>) -> Section {
    let mut s = section("methods", b.s("方法学与排放因子", "Methodologies and emission factors"));
    s.paragraphs.push(b.lang.t(
        format!("因子库版本 {}（指纹 {}）。下表列出计算所用的每个因子及其来源；附录按数值引用 [n] 列出方法。", b.input.inventory.library_version, b.input.inventory.library_fingerprint),
        format!("Factor library {} (fingerprint {}). Every factor used is listed below with its source; the appendix lists methods by the references [n] of the figures.", b.input.inventory.library_version, b.input.inventory.library_fingerprint),
    ));
    let lib = b.input.lib;
    let mut ids = BTreeSet::new();
    for (pi, plan) in b.input.inventory.plans.iter().enumerate() {
        if b.used_plans[pi] {
            ids.extend(plan.steps.iter().filter_map(|st| st.factor));
        }
    }
    let mut rows: Vec<Vec<Cell>> = ids
        .into_iter()
        .map(|fi| {
            let f = &lib.factors[fi];
            let set = lib.set_of(f);
            vec![
                Cell::text(f.row.id.clone()),
                Cell::text(f.row.region.clone()),
                Cell::text(f.row.year.map(|y| y.to_string()).unwrap_or_default()),
                Cell::num(f.row.value, 6, None),
                Cell::text(f.row.unit.clone()),
                Cell::text(format!("{}@{}", set.header.id, set.header.version)),
                Cell::text(format!("{} {}", f.row.source, f.row.edition).trim().to_string()),
            ]
        })
        .collect();
    rows.sort_by(|a, c| a[0].printed().cmp(&c[0].printed()));
    s.tables.push(b.table(
        "factors",
        b.s("所用排放因子", "Factors used"),
        vec![
            b.col("id", "因子", "Factor", ""),
            b.col("region", "地区", "Region", ""),
            b.col("year", "年份", "Year", ""),
            b.col("value", "数值", "Value", ""),
            b.col("unit", "单位", "Unit", ""),
            b.col("set", "因子集@版本", "Set@version", ""),
            b.col("source", "来源", "Source", ""),
        ],
        rows,
    ));
    let split = b.input.procurement.as_ref().map(|p| &p.by_method).filter(|m| b.has_procurement() && !m.is_empty());
    if let Some(split) = split {
        let r = b.proc_ref;
        s.paragraphs.push(b.lang.t(
            format!("范围三采购核算（类别 1、2、4）按供应商特定产品碳足迹 > 行业平均产品数据 > 支出法的优先级逐行计算，运输按吨公里；下表按方法列出，所用足迹与因子集版本见 [{r}]。"),
            format!("Scope 3 from procurement (categories 1, 2, 4) is computed line by line with the hierarchy supplier-specific product footprint > average product data > spend-based, transport by tonne-km; the table below gives it by method, the footprints and factor set versions used are under [{r}]."),
        ));
        let all: i64 = split.values().sum();
        let mut rows: Vec<Vec<Cell>> = split
            .iter()
            .map(|(m, g)| vec![Cell::text(method_name(b.lang, m)), Cell::num(Builder::pt(*g), 6, Some(r))])
            .collect();
        let ss = split.get("supplier_specific").copied().unwrap_or(0);
        rows.push(vec![
            Cell::text(b.s("供应商特定数据覆盖率（%）", "Covered by supplier-specific data (%)")),
            Cell::num(ss as f64 / all.max(1) as f64 * 100.0, 2, Some(r)),
        ]);
        s.tables.push(b.table(
            "procurement_by_method",
            b.s("范围三采购核算按方法", "Scope 3 from procurement by method"),
            vec![b.col("method", "方法", "Method", ""), b.col("tco2e", "排放量", "Emissions", "tCO2e / %")],
            rows,
        ));
    }
    s
}

fn exclusions(b: &Builder<'_>) -> Section {
    let f = Figures::from_metrics(&b.pass.total);
    let mut s = section("exclusions", b.s("排除项", "Exclusions"));
    let rows = vec![
        vec![
            Cell::text(b.s("HCFC（蒙特利尔议定书气体，备忘项）", "HCFCs (Montreal Protocol gases, memo item)")),
            Cell::num(f.memo.montreal_gases_tco2e, 2, Some(R_S1_FUGITIVE)),
            Cell::text(b.s("按 GHG Protocol 不计入范围一", "outside Scope 1 per the GHG Protocol")),
        ],
        vec![
            Cell::text(b.s("共建共享：由另一方承担", "Shared sites: the other party's part")),
            Cell::num(f.memo.allocated_away_tco2e, 2, Some(R_S2_LOCATION)),
            Cell::text(b.s("按分摊比例由共享方报告", "reported by the sharing party at its share")),
        ],
        vec![
            Cell::text(b.s("组织边界外", "Outside the organisational boundary")),
            Cell::num(f.memo.excluded_by_boundary_tco2e, 2, Some(R_S2_LOCATION)),
            Cell::text(b.s("合并方法之外", "outside the consolidation approach")),
        ],
        vec![
            Cell::text(if b.sup[1] != 0 {
                b.s("范围三类别 3、5、8–15", "Scope 3 categories 3, 5, 8–15")
            } else {
                b.s("范围三类别 2、3、5、8–15", "Scope 3 categories 2, 3, 5, 8–15")
            }),
            Cell::text(b.s("未量化", "not quantified")),
            Cell::text(b.s("无活动数据", "no activity data")),
        ],
        vec![
            Cell::text(b.s("生物质燃烧 CO2", "Biogenic CO2")),
            Cell::num(0.0, 2, None),
            Cell::text(b.s("活动数据中无生物质燃料", "no biomass fuel in the activity data")),
        ],
    ];
    s.tables.push(b.table(
        "exclusions",
        b.s("排除项与备忘项", "Exclusions and memo items"),
        vec![
            b.col("item", "项目", "Item", ""),
            b.col("tco2e", "排放量", "Emissions", "tCO2e"),
            b.col("reason", "说明", "Reason", ""),
        ],
        rows,
    ));
    s
}

fn uncertainty_section(b: &Builder<'_>) -> Section {
    let mut s = section("uncertainty", b.s("不确定性评估", "Uncertainty assessment"));
    let lines = carrier_lines(b);
    let mut sources = Vec::new();
    let mut rows = Vec::new();
    for (name, _, _, _, co2e, _, kind) in &lines {
        if *co2e == 0.0 {
            continue;
        }
        let (ad, ef) = uncertainty::defaults(kind);
        let src = uncertainty::Source { emissions: *co2e, activity_pct: ad, factor_pct: ef };
        rows.push(vec![
            Cell::text(name.clone()),
            Cell::num(*co2e, 2, Some(R_UNCERTAINTY)),
            Cell::num(ad, 1, Some(R_UNCERTAINTY)),
            Cell::num(ef, 1, Some(R_UNCERTAINTY)),
            Cell::num(src.combined_pct(), 2, Some(R_UNCERTAINTY)),
        ]);
        sources.push(src);
    }
    let mut procurement_note = None;
    if b.has_procurement() {
        // The procurement part: the spend-based lines at the spend-based defaults (±5 % spend,
        // ±50 % EEIO factor), the rest (supplier-specific, average, distance) at the other
        // Scope 3 defaults (±10 %, ±30 %); without a method split, all of it at the spend-based.
        let all = b.sup[0] + b.sup[1] + b.sup[2];
        let split = b.input.procurement.as_ref().map(|p| &p.by_method).filter(|m| !m.is_empty());
        let parts: Vec<(String, i64, f64, f64)> = match split {
            Some(m) => {
                let spend = m.get("spend").copied().unwrap_or(0);
                vec![
                    (b.s("采购：支出法", "Procurement: spend-based"), spend, 5.0, 50.0),
                    (
                        b.s(
                            "采购：供应商特定、平均数据与运输",
                            "Procurement: supplier-specific, average and transport",
                        ),
                        all - spend,
                        10.0,
                        30.0,
                    ),
                ]
            }
            None => vec![(
                b.s("采购（全部按支出法缺省值）", "Procurement (all at the spend-based defaults)"),
                all,
                5.0,
                50.0,
            )],
        };
        for (name, grams, ad, ef) in parts {
            if grams == 0 {
                continue;
            }
            let src = uncertainty::Source { emissions: Builder::pt(grams), activity_pct: ad, factor_pct: ef };
            rows.push(vec![
                Cell::text(name),
                Cell::num(src.emissions, 2, Some(R_UNCERTAINTY)),
                Cell::num(ad, 1, Some(R_UNCERTAINTY)),
                Cell::num(ef, 1, Some(R_UNCERTAINTY)),
                Cell::num(src.combined_pct(), 2, Some(R_UNCERTAINTY)),
            ]);
            sources.push(src);
        }
        procurement_note = Some(match split {
            Some(_) => b.s(
                "采购核算：支出法部分按支出法缺省值（支出 ±5%、投入产出因子 ±50%），其余（供应商特定、平均数据、运输）按其他范围三缺省值（±10%、±30%）。",
                "Procurement: the spend-based part at the spend-based defaults (spend ±5 %, input-output factors ±50 %), the rest (supplier-specific, average data, transport) at the other Scope 3 defaults (±10 %, ±30 %).",
            ),
            None => b.s(
                "采购核算：无按方法的拆分，全部按支出法缺省值（±5%、±50%）计，偏保守。",
                "Procurement: no split by method is available, so all of it is taken at the spend-based defaults (±5 %, ±50 %), which is conservative.",
            ),
        });
    }
    let total: f64 = sources.iter().map(|x| x.emissions).sum();
    rows.push(vec![
        Cell::text(b.s("合计（基于位置）", "Total (location-based)")),
        Cell::num(total, 2, Some(R_UNCERTAINTY)),
        Cell::text(""),
        Cell::text(""),
        Cell::num(uncertainty::total(&sources), 2, Some(R_UNCERTAINTY)),
    ]);
    s.paragraphs.push(b.s(
        "方法：IPCC 2006 方法 1（误差传递）。每个排放源的不确定性由活动数据与排放因子的不确定性按乘积法则合成，再按加总法则合成总体不确定性（95% 置信区间半宽，%）。",
        "Method: IPCC 2006 Approach 1 (error propagation). Each source's uncertainty combines those of its activity data and factor by the product rule; the total follows from the sum rule (half the 95 % confidence interval, %).",
    ));
    let mut table = b.table(
        "uncertainty",
        b.s("按排放源的不确定性", "Uncertainty by source"),
        vec![
            b.col("source", "排放源", "Source", ""),
            b.col("tco2e", "排放量", "Emissions", "tCO2e"),
            b.col("activity_pct", "活动数据", "Activity data", "%"),
            b.col("factor_pct", "排放因子", "Factor", "%"),
            b.col("combined_pct", "合成", "Combined", "%"),
        ],
        rows,
    );
    table.notes.push(b.s(
        "缺省值：电表计量 ±2%，燃料统计 ±5%，燃料排放因子 ±5%，电网平均因子 ±10%，制冷剂 ±10%，支出法因子 ±50%，其他范围三 ±30%。",
        "Defaults: electricity meters ±2 %, fuel statistics ±5 %, fuel factors ±5 %, grid average factors ±10 %, refrigerants ±10 %, spend-based factors ±50 %, other Scope 3 ±30 %.",
    ));
    table.notes.extend(procurement_note);
    s.tables.push(table);
    s
}

fn quality(b: &Builder<'_>) -> Section {
    let p = &b.pass;
    let mut s = section("quality", b.s("数据质量", "Data quality"));
    let pct = |a: usize, c: usize| if c == 0 { 0.0 } else { a as f64 / c as f64 * 100.0 };
    let mut rows = vec![
        vec![
            Cell::text(b.s("活动记录", "Activity records")),
            Cell::num(p.records as f64, 0, Some(R_QUALITY)),
            Cell::text(""),
        ],
        vec![
            Cell::text(b.s("有数据的月份", "Months with data")),
            Cell::num(p.month_records.iter().filter(|n| **n > 0).count() as f64, 0, Some(R_QUALITY)),
            Cell::text(""),
        ],
        vec![
            Cell::text(b.s("完整性（设施 × 月）", "Completeness (facility-months)")),
            Cell::num(pct(p.facility_months, p.facilities_with_data * 12), 2, Some(R_QUALITY)),
            Cell::text("%"),
        ],
        vec![
            Cell::text(b.s("无来源单据（估算）记录占比", "Records without a source document (estimated)")),
            Cell::num(pct(p.without_document, p.records), 2, Some(R_QUALITY)),
            Cell::text("%"),
        ],
        vec![
            Cell::text(b.s("电表推算记录占比", "Meter-derived records")),
            Cell::num(pct(p.meter_derived, p.records), 2, Some(R_QUALITY)),
            Cell::text("%"),
        ],
        vec![
            Cell::text(b.s("非当年排放因子", "Factors of another year")),
            Cell::num(b.input.inventory.factor_vintages(b.input.lib).len() as f64, 0, None),
            Cell::text(""),
        ],
    ];
    if let Some(q) = b.input.quality_score {
        rows.push(vec![
            Cell::text(b.s("平台数据质量评分", "Platform data-quality score")),
            Cell::num(q, 1, Some(R_QUALITY)),
            Cell::text("/100"),
        ]);
    }
    s.tables.push(b.table(
        "data_quality",
        b.s("数据质量", "Data quality"),
        vec![b.col("item", "项目", "Item", ""), b.col("value", "数值", "Value", ""), b.col("unit", "单位", "Unit", "")],
        rows,
    ));
    s
}

fn change(b: &Builder<'_>) -> Section {
    let mut s = section("change", b.s("与上年比较", "Change from the previous year"));
    let Some(prev) = &b.input.previous else {
        s.paragraphs.push(b.s(
            "无上一年度的已审核数据，本年不作比较。",
            "No approved data of the previous year: no comparison this year.",
        ));
        return s;
    };
    let cur = b.figures().totals;
    let pairs = [
        (b.s("范围一", "Scope 1"), prev.totals.scope1, cur.scope1, R_S1_STATIONARY),
        (
            b.s("范围二（基于位置）", "Scope 2 (location-based)"),
            prev.totals.scope2_location,
            cur.scope2_location,
            R_S2_LOCATION,
        ),
        (
            b.s("范围二（基于市场）", "Scope 2 (market-based)"),
            prev.totals.scope2_market,
            cur.scope2_market,
            R_S2_MARKET,
        ),
        (b.s("范围三", "Scope 3"), prev.totals.scope3, cur.scope3, R_S3),
        (b.s("综合能耗（tce）", "Energy (tce)"), prev.totals.energy_tce, cur.energy_tce, R_ENERGY),
    ];
    let rows = pairs
        .iter()
        .map(|(name, a, c, r)| {
            vec![
                Cell::text(name.clone()),
                Cell::num(*a, 2, Some(*r)),
                Cell::num(*c, 2, Some(*r)),
                Cell::num(c - a, 2, Some(*r)),
                Cell::num(if *a != 0.0 { (c - a) / a * 100.0 } else { 0.0 }, 2, Some(*r)),
            ]
        })
        .collect();
    s.tables.push(
        b.table(
            "year_on_year",
            b.lang.t(
                format!("{} 年与 {} 年", prev.year, b.input.ds.year),
                format!("{} and {}", prev.year, b.input.ds.year),
            ),
            vec![
                b.col("figure", "项目", "Figure", ""),
                b.col("previous", "上年", "Previous year", "tCO2e / tce"),
                b.col("current", "本年", "This year", "tCO2e / tce"),
                b.col("change", "变化", "Change", "tCO2e / tce"),
                b.col("change_pct", "变化率", "Change", "%"),
            ],
            rows,
        ),
    );
    if b.has_procurement() {
        if let Some(t) = s.tables.last_mut() {
            t.notes.push(b.lang.t(
                format!("本年范围三含采购核算 {} t [{}]；上年数值取上年快照存储的结果（含其记录的采购核算）。", crate::format_number(Builder::pt(b.sup[0] + b.sup[1] + b.sup[2]), 6), b.proc_ref),
                format!("This year's Scope 3 includes {} t from procurement [{}]; the previous year's figures are its snapshot's stored result (with any procurement it recorded).", crate::format_number(Builder::pt(b.sup[0] + b.sup[1] + b.sup[2]), 6), b.proc_ref),
            ));
        }
    }
    if let Some(d) = &prev.lmdi {
        let e = &d.total;
        let rows = [
            (b.s("活动量效应", "Activity"), e.activity),
            (b.s("能耗强度效应", "Intensity"), e.intensity),
            (b.s("PUE 效应", "PUE"), e.pue),
            (b.s("电网排放因子效应", "Grid factor"), e.grid_factor),
            (b.s("绿电效应", "Green power"), e.green_power),
            (b.s("范围一变化", "Scope 1 change"), e.scope1),
            (b.s("合计", "Total"), e.sum()),
        ]
        .into_iter()
        .map(|(n, v)| vec![Cell::text(n), Cell::num(v, 2, Some(R_LMDI))])
        .collect();
        s.tables.push(b.table(
            "lmdi",
            b.lang.t(
                format!("变化分解（LMDI，{} → {}）", d.from_year, d.to_year),
                format!("Decomposition of the change (LMDI, {} → {})", d.from_year, d.to_year),
            ),
            vec![b.col("effect", "因素", "Effect", ""), b.col("tco2e", "贡献", "Contribution", "tCO2e")],
            rows,
        ));
    }
    s
}

fn green_power(b: &Builder<'_>) -> Section {
    let f = Figures::from_metrics(&b.pass.total);
    let mut s = section("green_power", b.s("绿电与基于市场的范围二", "Green power and market-based Scope 2"));
    let residual = match b.input.inventory.options.residual {
        accounting::ResidualBasis::NbsResidual => b.s(
            "剩余组合因子（全国电力平均因子扣除已认领的可再生电力）",
            "a residual mix factor (the national average without claimed renewables)",
        ),
        accounting::ResidualBasis::Location => {
            b.s("电网平均因子（无剩余组合因子时，已披露）", "the grid average factor (no residual mix; disclosed)")
        }
    };
    s.paragraphs.push(b.lang.t(
        format!("基于市场的范围二中，绿证（GEC）电力与自发自用光伏计零；无证书的绿电交易不满足范围二质量准则（唯一声明、追踪与注销），与其他电力一样采用{residual}。"),
        format!("In market-based Scope 2, electricity with green-electricity certificates (GEC) retired for the reporter and on-site PV count at zero; green power traded without certificates does not meet the Scope 2 quality criteria (unique claim, tracked and cancelled) and, like other electricity, takes {residual}."),
    ));
    let rows = vec![
        vec![
            Cell::text(b.s("全部用电", "All electricity")),
            Cell::num(f.memo.electricity_mwh, 2, Some(R_ENERGY)),
            Cell::text("MWh"),
        ],
        vec![
            Cell::text(b.s("绿证电力", "Certified green power")),
            Cell::num(f.memo.green_certified_mwh, 2, Some(R_GREEN)),
            Cell::text("MWh"),
        ],
        vec![
            Cell::text(b.s("自发自用光伏", "On-site PV")),
            Cell::num(f.memo.pv_self_mwh, 2, Some(R_GREEN)),
            Cell::text("MWh"),
        ],
        vec![
            Cell::text(b.s("无证书绿电交易", "Green power without certificates")),
            Cell::num(f.memo.green_uncertified_mwh, 2, Some(R_GREEN)),
            Cell::text("MWh"),
        ],
        vec![
            Cell::text(b.s("绿电比例", "Green-power share")),
            Cell::num(f.memo.green_power_share * 100.0, 2, Some(R_GREEN)),
            Cell::text("%"),
        ],
        vec![
            Cell::text(b.s("范围二（基于市场）", "Scope 2 (market-based)")),
            Cell::num(f.totals.scope2_market, 2, Some(R_S2_MARKET)),
            Cell::text("tCO2e"),
        ],
    ];
    s.tables.push(b.table(
        "green_power",
        b.s("绿电", "Green power"),
        vec![b.col("item", "项目", "Item", ""), b.col("value", "数值", "Value", ""), b.col("unit", "单位", "Unit", "")],
        rows,
    ));
    s
}

/// MJ per kgce (GB/T 2589-2020: 1 kgce = 29 307.6 kJ).
const MJ_PER_KGCE: f64 = 29.3076;

fn capital_market(b: &Builder<'_>) -> Section {
    let f = b.figures();
    let tt = &f.totals;
    let mut s = section("capital_market", b.s("资本市场披露", "Capital-market disclosures"));
    let facilities = b.pass.facilities_with_data.max(1) as f64;
    let lines = carrier_lines(b);
    // Energy by type in '000 kWh: electricity as metered, fuels and heat through their tce.
    let mut elec_mwh = 0.0;
    let mut fuel_mwh = 0.0;
    let mut water_m3 = 0.0;
    for (_, unit, q, tce, _, _, kind) in &lines {
        match kind {
            CarrierKind::Electricity(_) if *unit == "MWh" => elec_mwh += q,
            CarrierKind::Fuel(_) | CarrierKind::Heat => fuel_mwh += tce * 1000.0 * MJ_PER_KGCE / 3600.0,
            CarrierKind::Water if *unit == "m3" => water_m3 += q,
            _ => {}
        }
    }
    let pd = b.input.platform.as_ref();
    let rows = vec![
        vec![
            Cell::text("A1.2"),
            Cell::text(b.s("范围一", "Scope 1")),
            Cell::num(tt.scope1, 2, Some(R_S1_STATIONARY)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("A1.2"),
            Cell::text(b.s("范围二（基于位置）", "Scope 2 (location-based)")),
            Cell::num(tt.scope2_location, 2, Some(R_S2_LOCATION)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("A1.2"),
            Cell::text(b.s("范围一与范围二合计", "Scope 1 and 2")),
            Cell::num(tt.scope1 + tt.scope2_location, 2, Some(R_TOTAL)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("A1.2"),
            Cell::text(b.s("强度（每个设施）", "Intensity (per facility)")),
            Cell::num((tt.scope1 + tt.scope2_location) / facilities, 4, Some(R_TOTAL)),
            Cell::text("tCO2e"),
        ],
        recorded(b, "A1.3", ("有害废弃物", "Hazardous waste"), pd.and_then(|d| d.waste_hazardous_t), "t"),
        recorded(b, "A1.4", ("无害废弃物", "Non-hazardous waste"), pd.and_then(|d| d.waste_non_hazardous_t), "t"),
        vec![
            Cell::text("A2.1"),
            Cell::text(b.s("间接能源：电力", "Indirect energy: electricity")),
            Cell::num(elec_mwh, 2, Some(R_ENERGY)),
            Cell::text("'000 kWh"),
        ],
        vec![
            Cell::text("A2.1"),
            Cell::text(b.s("直接能源：燃料与热力", "Direct energy: fuels and heat")),
            Cell::num(fuel_mwh, 2, Some(R_ENERGY)),
            Cell::text("'000 kWh"),
        ],
        vec![
            Cell::text("A2.1"),
            Cell::text(b.s("能源强度（每个设施）", "Energy intensity (per facility)")),
            Cell::num((elec_mwh + fuel_mwh) / facilities, 4, Some(R_ENERGY)),
            Cell::text("'000 kWh"),
        ],
        match pd.and_then(|d| d.water_m3) {
            Some(w) => vec![
                Cell::text("A2.2"),
                Cell::text(b.s("耗水量", "Water consumption")),
                Cell::num(w, 2, Some(R_WATER_WASTE)),
                Cell::text("m3"),
            ],
            None if water_m3 != 0.0 => vec![
                Cell::text("A2.2"),
                Cell::text(b.s("耗水量（活动数据）", "Water consumption (activity data)")),
                Cell::num(water_m3, 2, Some(R_ENERGY)),
                Cell::text("m3"),
            ],
            None => recorded(b, "A2.2", ("耗水量", "Water consumption"), None, "m3"),
        },
    ];
    let mut table = b.table(
        "hkex_kpi",
        b.s("港交所《环境、社会及管治报告守则》环境关键绩效指标", "HKEX ESG Reporting Code: environmental KPIs"),
        vec![
            b.col("kpi", "指标", "KPI", ""),
            b.col("item", "项目", "Item", ""),
            b.col("value", "数值", "Value", ""),
            b.col("unit", "单位", "Unit", ""),
        ],
        rows,
    );
    if let Some(d) = pd.filter(|d| !d.water_waste_sources.is_empty()) {
        table.notes.push(format!(
            "{}{}",
            b.s("水与废弃物数据来源：", "Water and waste from: "),
            d.water_waste_sources.join("; ")
        ));
    }
    s.tables.push(table);
    let gj = elec_mwh * 3.6 + fuel_mwh * 3.6;
    let grid_mwh: f64 = lines
        .iter()
        .filter(|l| matches!(l.6, CarrierKind::Electricity(ElectricitySource::Grid)) && l.1 == "MWh")
        .map(|l| l.2)
        .sum();
    let renewable = f.memo.green_certified_mwh + f.memo.pv_self_mwh;
    let share = |x: f64| if elec_mwh + fuel_mwh > 0.0 { x / (elec_mwh + fuel_mwh) * 100.0 } else { 0.0 };
    let g = b.sup;
    let cats: Vec<&str> =
        [(S3_CAT1, "1", g[0]), (usize::MAX, "2", g[1]), (S3_CAT4, "4", g[2]), (S3_CAT6, "6", 0), (S3_CAT7, "7", 0)]
            .iter()
            .filter(|(m, _, g)| *g != 0 || (*m != usize::MAX && b.pass.total.0[*m] != 0))
            .map(|(_, c, _)| *c)
            .collect();
    let rows = vec![
        vec![
            Cell::text("29(a)(i)"),
            Cell::text(b.s("范围一（总量，抵销前）", "Scope 1 (gross, before offsets)")),
            Cell::num(tt.scope1, 2, Some(R_S1_STATIONARY)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("29(a)(v)"),
            Cell::text(b.s("范围二（基于位置）", "Scope 2 (location-based)")),
            Cell::num(tt.scope2_location, 2, Some(R_S2_LOCATION)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("29(a)(v)"),
            Cell::text(b.s("范围二（基于市场，合同工具）", "Scope 2 (market-based, contractual instruments)")),
            Cell::num(tt.scope2_market, 2, Some(R_S2_MARKET)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("29(a)(i)"),
            Cell::text(b.s("范围三", "Scope 3")),
            Cell::num(tt.scope3, 2, Some(R_S3)),
            Cell::text("tCO2e"),
        ],
        vec![
            Cell::text("29(a)(vi)"),
            Cell::text(b.s("纳入的范围三类别", "Scope 3 categories included")),
            Cell::text(if cats.is_empty() { "-".to_string() } else { cats.join(", ") }),
            Cell::text(""),
        ],
        vec![
            Cell::text("TC-TL-130a.1"),
            Cell::text(b.s("总能耗", "Total energy consumed")),
            Cell::num(gj, 2, Some(R_ENERGY)),
            Cell::text("GJ"),
        ],
        vec![
            Cell::text("TC-TL-130a.1"),
            Cell::text(b.s("电网电力占比", "Grid electricity")),
            Cell::num(share(grid_mwh), 2, Some(R_ENERGY)),
            Cell::text("%"),
        ],
        vec![
            Cell::text("TC-TL-130a.1"),
            Cell::text(b.s("可再生能源占比", "Renewable")),
            Cell::num(share(renewable), 2, Some(R_GREEN)),
            Cell::text("%"),
        ],
    ];
    s.tables.push(b.table(
        "ifrs_s2",
        b.s(
            "气候相关披露（港交所气候信息披露要求、国际可持续披露准则第 2 号第 29 段、可持续会计准则电信业指标）",
            "Climate (HKEX Part D / IFRS S2 para 29, SASB telecom)",
        ),
        vec![
            b.col("ref", "条款", "Paragraph", ""),
            b.col("item", "项目", "Item", ""),
            b.col("value", "数值", "Value", ""),
            b.col("unit", "单位", "Unit", ""),
        ],
        rows,
    ));
    let mut rows = vec![
        vec![Cell::text(b.s("范围一（必须）", "Scope 1 (required)")), Cell::num(tt.scope1, 2, Some(R_S1_STATIONARY))],
        vec![
            Cell::text(b.s("范围二（必须，基于位置）", "Scope 2 (required, location-based)")),
            Cell::num(tt.scope2_location, 2, Some(R_S2_LOCATION)),
        ],
        vec![
            Cell::text(b.s("范围二（基于市场）", "Scope 2 (market-based)")),
            Cell::num(tt.scope2_market, 2, Some(R_S2_MARKET)),
        ],
        vec![Cell::text(b.s("范围三（鼓励）", "Scope 3 (encouraged)")), Cell::num(tt.scope3, 2, Some(R_S3))],
    ];
    if let Some(prev) = &b.input.previous {
        rows.push(vec![
            Cell::text(b.s("范围一减排量（较上年）", "Scope 1 reduction (from last year)")),
            Cell::num(prev.totals.scope1 - tt.scope1, 2, Some(R_S1_STATIONARY)),
        ]);
        rows.push(vec![
            Cell::text(b.s("范围二减排量（较上年，基于位置）", "Scope 2 reduction (from last year, location-based)")),
            Cell::num(prev.totals.scope2_location - tt.scope2_location, 2, Some(R_S2_LOCATION)),
        ]);
    }
    if let Some(run) = &b.input.transition {
        let at = |y: i32| run.years.iter().find(|r| r.year == y);
        let mut rows = vec![
            vec![
                Cell::text(b.lang.t(
                    format!("{} 年（基准）总排放", run.base_year),
                    format!("{} gross emissions (base)", run.base_year),
                )),
                Cell::num(run.years.first().map_or(0.0, |r| r.gross_tco2e), 2, Some(R_TRANSITION)),
                Cell::text("tCO2e"),
            ],
            vec![
                Cell::text(b.s("峰值年份", "Peak year")),
                Cell::num(run.peak.year as f64, 0, Some(R_TRANSITION)),
                Cell::text(""),
            ],
            vec![
                Cell::text(b.s("峰值排放", "Peak emissions")),
                Cell::num(run.peak.tco2e, 2, Some(R_TRANSITION)),
                Cell::text("tCO2e"),
            ],
        ];
        for (y, net) in [(2030, false), (2060, true)] {
            if let Some(r) = at(y) {
                let (zh, en, v) = if net {
                    ("净排放", "net emissions", r.net_tco2e)
                } else {
                    ("总排放", "gross emissions", r.gross_tco2e)
                };
                rows.push(vec![
                    Cell::text(b.lang.t(format!("{y} 年{zh}"), format!("{y} {en}"))),
                    Cell::num(v, 2, Some(R_TRANSITION)),
                    Cell::text("tCO2e"),
                ]);
            }
        }
        for tc in &run.targets {
            let (zh, en) = match tc.kind {
                "peak" => ("达峰目标", "peak target"),
                "intensity" => ("强度目标", "intensity target"),
                _ => ("碳中和目标", "net-zero target"),
            };
            let met = if tc.met { b.s("达成", "met") } else { b.s("未达成，缺口", "not met, gap") };
            rows.push(vec![
                Cell::text(b.lang.t(format!("{} {zh}（{met}）", tc.year), format!("{} {en} ({met})", tc.year))),
                Cell::num(tc.gap_tco2e, 2, Some(R_TRANSITION)),
                Cell::text("tCO2e"),
            ]);
        }
        let mut table = b.table(
            "transition",
            b.s(
                "目标与转型路径（无新增措施的基线情景）",
                "Targets and transition path (baseline scenario, no new measures)",
            ),
            vec![
                b.col("item", "项目", "Item", ""),
                b.col("value", "数值", "Value", ""),
                b.col("unit", "单位", "Unit", ""),
            ],
            rows,
        );
        table.notes.push(b.s("情景基线不含范围三，与盘查合计的差异见情景模块的对账。", "The scenario baseline leaves Scope 3 out; its difference from the inventory's total is reconciled in the scenarios module."));
        s.tables.push(table);
    }
    if let Some(t) = plan_table(b) {
        s.tables.push(t);
    }
    s.tables.push(targets_table(b));
    s.tables.push(inclusive_table(b));
    let mut table = b.table(
        "a_share_climate",
        b.s(
            "《上市公司可持续发展报告指引（试行）》（2024）应对气候变化",
            "2024 A-share sustainability reporting guidelines: climate change",
        ),
        vec![b.col("item", "项目", "Item", ""), b.col("tco2e", "排放量", "Emissions", "tCO2e")],
        rows,
    );
    table.notes.push(b.s(
        "按地区与排放源的分项见“按省份”与“按 ISO 类别与范围”表。",
        "Breakdowns by region and source: the tables by province and by ISO category and scope.",
    ));
    s.tables.push(table);
    s
}

fn government(b: &Builder<'_>) -> Section {
    let mut s = section("government", b.s("政府报送", "Government reporting"));
    let lines = carrier_lines(b);
    let total_tce = t(b.pass.total.0[ENERGY_KGCE]);
    let mut rows: Vec<Vec<Cell>> = lines
        .iter()
        .filter(|l| l.3 != 0.0)
        .map(|(name, unit, q, tce, _, r, _)| {
            vec![
                Cell::text(name.clone()),
                Cell::text(*unit),
                Cell::num(*q, 2, Some(*r)),
                Cell::num(if *q != 0.0 { tce / q } else { 0.0 }, 6, Some(*r)),
                Cell::num(*tce, 2, Some(*r)),
            ]
        })
        .collect();
    rows.push(vec![
        Cell::text(b.s("合计", "Total")),
        Cell::text(""),
        Cell::text(""),
        Cell::text(""),
        Cell::num(total_tce, 2, Some(R_ENERGY)),
    ]);
    s.tables.push(b.table(
        "energy_structure",
        b.s("表 2 能源消费结构", "Table 2 Energy consumption structure"),
        vec![
            b.col("carrier", "能源名称", "Energy type", ""),
            b.col("unit", "计量单位", "Unit", ""),
            b.col("quantity", "实物量", "Physical quantity", ""),
            b.col("coefficient", "折标系数", "Conversion factor", "tce/unit"),
            b.col("tce", "折标准煤（当量值）", "Standard coal (calorific)", "tce"),
        ],
        rows,
    ));
    let rows = FacilityType::ALL
        .iter()
        .filter(|ft| b.pass.types[**ft as usize] != Metrics::default())
        .map(|ft| {
            let n = b.pass.type_facilities[*ft as usize];
            let tce = t(b.pass.types[*ft as usize].0[ENERGY_KGCE]);
            vec![
                Cell::text(type_name(b.lang, *ft)),
                Cell::num(n as f64, 0, Some(R_QUALITY)),
                Cell::num(tce, 2, Some(R_ENERGY)),
                Cell::num(if n > 0 { tce / n as f64 } else { 0.0 }, 4, Some(R_ENERGY)),
            ]
        })
        .collect();
    s.tables.push(b.table(
        "unit_consumption",
        b.s("表 4 单位综合能耗", "Table 4 Unit energy consumption"),
        vec![
            b.col("facility_type", "设施类型", "Facility type", ""),
            b.col("facilities", "设施数", "Facilities", ""),
            b.col("tce", "综合能耗", "Energy", "tce"),
            b.col("tce_per_facility", "单位综合能耗", "Per facility", "tce"),
        ],
        rows,
    ));
    let empty = |text: String| vec![text_row(text, 6)];
    let rows = if b.input.platform.is_none() {
        empty(b.s(
            "不可得：无平台数据（由数据目录生成）",
            "not available: no platform data (reported from a data directory)",
        ))
    } else if b.input.projects.is_empty() {
        empty(b.s("平台未记录节能项目", "no energy-saving project recorded"))
    } else {
        let mut rows: Vec<Vec<Cell>> = b
            .input
            .projects
            .iter()
            .map(|p| {
                vec![
                    Cell::text(p.name.clone()),
                    Cell::text(p.periods.clone()),
                    Cell::num(p.stations as f64, 0, Some(R_SAVINGS)),
                    Cell::num(p.saved_kwh, 2, Some(R_SAVINGS)),
                    Cell::num(p.reference_kwh, 2, Some(R_SAVINGS)),
                    Cell::num(p.saved_kwh * KGCE_PER_KWH / 1000.0, 4, Some(R_SAVINGS)),
                ]
            })
            .collect();
        let (saved, reference) =
            b.input.projects.iter().fold((0.0, 0.0), |a, p| (a.0 + p.saved_kwh, a.1 + p.reference_kwh));
        rows.push(vec![
            Cell::text(b.s("合计", "Total")),
            Cell::text(""),
            Cell::num(b.input.projects.iter().map(|p| p.stations).sum::<usize>() as f64, 0, Some(R_SAVINGS)),
            Cell::num(saved, 2, Some(R_SAVINGS)),
            Cell::num(reference, 2, Some(R_SAVINGS)),
            Cell::num(saved * KGCE_PER_KWH / 1000.0, 4, Some(R_SAVINGS)),
        ]);
        rows
    };
    s.tables.push(b.table(
        "saving_projects",
        b.s("表 10 节能技改项目", "Table 10 Energy-saving projects"),
        vec![
            b.col("project", "项目", "Project", ""),
            b.col("periods", "期间", "Periods", ""),
            b.col("stations", "站点数", "Stations", ""),
            b.col("saved_kwh", "节电量", "Electricity saved", "kWh"),
            b.col("reference_kwh", "基准电量", "Reference electricity", "kWh"),
            b.col("saved_tce", "节能量", "Energy saved", "tce"),
        ],
        rows,
    ));
    let mut rows: Vec<Vec<Cell>> = lines
        .iter()
        .filter(|l| l.4 != 0.0)
        .map(|(name, _, _, _, co2e, r, kind)| {
            let scope = match kind {
                CarrierKind::Electricity(_) | CarrierKind::Heat => "Scope 2",
                CarrierKind::Fuel(_) | CarrierKind::Refrigerant(_) => "Scope 1",
                _ => "Scope 3",
            };
            vec![Cell::text(name.clone()), Cell::text(scope), Cell::num(*co2e, 2, Some(*r))]
        })
        .collect();
    // Procurement (not by carrier): one row per category, so the rows still sum to the total.
    let names = [
        ("采购：外购商品与服务（类别 1）", "Procurement: purchased goods and services (cat. 1)"),
        ("采购：资本货物（类别 2）", "Procurement: capital goods (cat. 2)"),
        ("采购：上游运输（类别 4）", "Procurement: upstream transport (cat. 4)"),
    ];
    for ((zh, en), grams) in names.into_iter().zip(b.sup) {
        if grams != 0 {
            rows.push(vec![
                Cell::text(b.s(zh, en)),
                Cell::text("Scope 3"),
                Cell::num(Builder::pt(grams), 2, Some(b.proc_ref)),
            ]);
        }
    }
    s.tables.push(b.table(
        "emissions_by_source",
        b.s("按排放源的排放（基于位置）", "Emissions by source (location-based)"),
        vec![
            b.col("source", "排放源", "Source", ""),
            b.col("scope", "范围", "Scope", ""),
            b.col("tco2e", "排放量", "Emissions", "tCO2e"),
        ],
        rows,
    ));
    s
}

/// A row of a figure the platform records as indicator data, or "not recorded" / "not available"
/// (a report from a data directory) in words.
fn recorded(b: &Builder<'_>, kpi: &str, item: (&str, &str), v: Option<f64>, unit: &str) -> Vec<Cell> {
    let value = match (v, b.input.platform.is_some()) {
        (Some(v), _) => Cell::num(v, 2, Some(R_WATER_WASTE)),
        (None, true) => Cell::text(b.s("平台未记录", "not recorded on the platform")),
        (None, false) => Cell::text(b.s(
            "不可得：无平台数据（由数据目录生成）",
            "not available: no platform data (reported from a data directory)",
        )),
    };
    vec![Cell::text(kpi), Cell::text(b.s(item.0, item.1)), value, Cell::text(unit)]
}

/// A row of `columns` cells saying `text` in the first, the others blank (a table's "not
/// available" / "none recorded" / outcome row).
fn text_row(text: String, columns: usize) -> Vec<Cell> {
    let mut row = vec![Cell::text(text)];
    row.resize_with(columns.max(1), || Cell::text(""));
    row
}

/// IFRS S2 paragraphs 33–36 / HKEX Part D: the org's own targets (考核) and its progress.
fn targets_table(b: &Builder<'_>) -> Table {
    let cols = vec![
        b.col("target", "目标", "Target", ""),
        b.col("unit", "单位", "Unit", ""),
        b.col("base_year", "基准年", "Base year", ""),
        b.col("year", "目标年", "Target year", ""),
        b.col("baseline", "基准值", "Baseline", ""),
        b.col("goal", "目标值", "Goal", ""),
        b.col("current", "当年值", "This year", ""),
        b.col("progress", "进展", "Progress", "%"),
        b.col("status", "状态", "Status", ""),
    ];
    let blank = |text: String| vec![text_row(text, cols.len())];
    let opt = |v: Option<f64>, dp: u8| v.map_or_else(|| Cell::text("-"), |v| Cell::num(v, dp, Some(R_TARGETS)));
    let rows = match b.input.platform.as_ref().map(|d| d.targets.as_ref()) {
        None => blank(b.s(
            "不可得：无平台考核目标数据（由数据目录生成）",
            "not available: no platform targets (reported from a data directory)",
        )),
        Some(None) => {
            blank(b.s("不可得：平台指标模块未加载", "not available: the platform's indicators are not loaded"))
        }
        Some(Some(list)) if list.is_empty() => {
            blank(b.s("平台未设定该组织的目标", "no target set for the org on the platform"))
        }
        Some(Some(list)) => list
            .iter()
            .map(|t| {
                let status = match (t.met, t.on_track) {
                    (Some(true), _) => b.s("已达成", "met"),
                    (_, Some(true)) => b.s("按期", "on track"),
                    (_, Some(false)) => b.s("滞后", "behind"),
                    _ => b.s("无数据", "no data"),
                };
                vec![
                    Cell::text(format!("{} ({})", t.name, t.id)),
                    Cell::text(t.unit.clone()),
                    Cell::num(t.base_year as f64, 0, None),
                    Cell::num(t.year as f64, 0, None),
                    opt(t.baseline, 4),
                    opt(t.goal, 4),
                    opt(t.current, 4),
                    opt(t.progress.map(|p| p * 100.0), 1),
                    Cell::text(status),
                ]
            })
            .collect(),
    };
    let mut t = b.table(
        "targets_progress",
        b.s(
            "目标与进展（国际可持续披露准则第 2 号第 33–36 段；平台考核目标）",
            "Targets and progress (IFRS S2 paras 33–36; the platform's targets)",
        ),
        cols,
        rows,
    );
    t.notes.push(b.s(
        "目标值与当年值为平台指标模块的计算结果（按组织子树的比值之和）。",
        "Goals and this year's values are the platform's indicators (ratios of sums over the org's subtree).",
    ));
    t
}

/// The 碳普惠 programme's credited reductions by action type and month.
fn inclusive_table(b: &Builder<'_>) -> Table {
    let cols = vec![
        b.col("action", "行为类型", "Action type", ""),
        b.col("month", "月份", "Month", ""),
        b.col("credits", "入账笔数", "Credits", ""),
        b.col("tco2e", "减排量", "Reductions", "tCO2e"),
    ];
    let blank = |text: String| vec![text_row(text, cols.len())];
    let rows = match b.input.platform.as_ref() {
        None => blank(b.s(
            "不可得：无平台碳普惠数据（由数据目录生成）",
            "not available: no platform programme data (reported from a data directory)",
        )),
        Some(d) if d.inclusive.is_empty() => {
            blank(b.s("平台未记录碳普惠减排", "no carbon-inclusive reduction recorded"))
        }
        Some(d) => {
            let mut rows: Vec<Vec<Cell>> = d
                .inclusive
                .iter()
                .map(|r| {
                    vec![
                        Cell::text(r.action.clone()),
                        Cell::text(r.month.clone()),
                        Cell::num(r.credits as f64, 0, Some(R_INCLUSIVE)),
                        Cell::num(r.kg / 1000.0, 6, Some(R_INCLUSIVE)),
                    ]
                })
                .collect();
            rows.push(vec![
                Cell::text(b.s("合计", "Total")),
                Cell::text(""),
                Cell::num(d.inclusive.iter().map(|r| r.credits).sum::<i64>() as f64, 0, Some(R_INCLUSIVE)),
                Cell::num(d.inclusive.iter().map(|r| r.kg).sum::<f64>() / 1000.0, 6, Some(R_INCLUSIVE)),
            ]);
            rows
        }
    };
    b.table(
        "inclusive",
        b.s(
            "碳普惠减排量（按行为类型与月份，盘查边界之外）",
            "Carbon-inclusive (碳普惠) reductions by action type and month (outside the inventory)",
        ),
        cols,
        rows,
    )
}

/// Appendix: the facilities in the boundary by province and facility type (counts: a summary,
/// however many facilities there are).
fn facilities_appendix(b: &Builder<'_>) -> Section {
    let ds = b.input.ds;
    let n_types = FacilityType::ALL.len();
    let mut counts = vec![0usize; PROVINCES.len() * n_types];
    for f in &ds.facilities {
        if ds.orgs.is_within(f.org, b.input.org) {
            counts[f.province as usize * n_types + f.kind as usize] += 1;
        }
    }
    let used: Vec<usize> = (0..n_types).filter(|t| (0..PROVINCES.len()).any(|p| counts[p * n_types + t] > 0)).collect();
    let mut cols = vec![b.col("province", "省份", "Province", "")];
    for t in &used {
        cols.push(Column {
            key: FacilityType::ALL[*t].code().into(),
            label: type_name(b.lang, FacilityType::ALL[*t]),
            unit: String::new(),
        });
    }
    cols.push(b.col("total", "合计", "Total", ""));
    let mut rows = Vec::new();
    let mut column_totals = vec![0usize; n_types];
    for (p, name) in PROVINCES.iter().enumerate() {
        let row_total: usize = used.iter().map(|t| counts[p * n_types + t]).sum();
        if row_total == 0 {
            continue;
        }
        let mut row = vec![Cell::text(b.lang.t(name.name_zh, name.pinyin).to_string())];
        for t in &used {
            column_totals[*t] += counts[p * n_types + t];
            row.push(Cell::num(counts[p * n_types + t] as f64, 0, Some(R_FACILITIES)));
        }
        row.push(Cell::num(row_total as f64, 0, Some(R_FACILITIES)));
        rows.push(row);
    }
    let mut total = vec![Cell::text(b.s("合计", "Total"))];
    for t in &used {
        total.push(Cell::num(column_totals[*t] as f64, 0, Some(R_FACILITIES)));
    }
    total.push(Cell::num(column_totals.iter().sum::<usize>() as f64, 0, Some(R_FACILITIES)));
    rows.push(total);
    let mut s = section("facilities", b.s("附录：设施清单", "Appendix: facility list"));
    s.tables.push(b.table(
        "facility_list",
        b.s("边界内设施（按省份与类型计数）", "Facilities in the boundary (counts by province and type)"),
        cols,
        rows,
    ));
    s
}

/// The transition plan's measures (IFRS S2 para 14(a)): the least-cost plan's chosen measures with
/// their start, abatement and costs from the scenarios' run of the plan.
fn plan_table(b: &Builder<'_>) -> Option<Table> {
    let plan = b.input.plan.as_ref()?;
    let cols = vec![
        b.col("measure", "措施", "Measure", ""),
        b.col("start", "开始年份", "Start", ""),
        b.col("scale", "实施比例", "Scale", "%"),
        b.col("abatement_target_year", "目标年减排量", "Abatement in the target year", "tCO2e"),
        b.col("abatement", "期间累计减排量", "Abatement over the horizon", "tCO2e"),
        b.col("net_cost", "净成本", "Net cost", "yuan"),
        b.col("present_value", "现值", "Present value", "yuan"),
    ];
    let outcome = |text: String| text_row(text, cols.len());
    let mut rows = Vec::new();
    let run_measures = plan.run.as_ref().map(|r| r.measures.as_slice()).unwrap_or(&[]);
    for sel in &plan.chosen {
        let Some(m) = run_measures.iter().find(|m| m.id == sel.id) else { continue };
        rows.push(vec![
            Cell::text(format!("{} ({})", b.lang.t(m.zh.as_str(), m.en.as_str()), m.id)),
            Cell::num(m.start as f64, 0, Some(R_TRANSITION)),
            Cell::num(m.scale * 100.0, 1, Some(R_TRANSITION)),
            Cell::num(m.abatement_in_target_year_tco2e, 2, Some(R_TRANSITION)),
            Cell::num(m.abatement_tco2e, 2, Some(R_TRANSITION)),
            Cell::num(m.net_cost_yuan as f64, 0, Some(R_TRANSITION)),
            Cell::num(m.present_value_yuan as f64, 0, Some(R_TRANSITION)),
        ]);
    }
    match plan.summary.outcome {
        "no_measure_needed" => {
            rows.push(outcome(b.s("基线已达成目标，无需新增措施", "the baseline meets the targets: no measure needed")))
        }
        "plan" if !rows.is_empty() => {
            let mut total = outcome(b.s("合计（计入重叠）", "Total (overlaps counted)"));
            total[5] = Cell::num(plan.run.as_ref().map_or(0, |r| r.total_net_cost_yuan) as f64, 0, Some(R_TRANSITION));
            total[6] =
                Cell::num(plan.run.as_ref().map_or(0, |r| r.total_present_value_yuan) as f64, 0, Some(R_TRANSITION));
            rows.push(total);
        }
        "infeasible" => rows.push(outcome(
            b.s("措施目录中的措施组合无法达成目标", "no combination of the catalogue's measures meets the targets"),
        )),
        other => rows.push(outcome(format!("{}: {other}", b.s("未得到方案", "no plan")))),
    }
    let mut t = b.table(
        "transition_plan",
        b.s("转型计划：最低成本减排措施（情景模块）", "Transition plan: least-cost measures (scenarios)"),
        cols,
        rows,
    );
    t.notes.push(b.s(
        "措施目录（crates/scenario/data/measures.toml）中满足达峰与强度目标的最低成本组合；单项减排量为单独实施于基线时的减排量。",
        "The least-cost combination of the catalogue's measures (crates/scenario/data/measures.toml) meeting the peak and intensity targets; each measure's abatement is its own on the baseline.",
    ));
    Some(t)
}
