//! Scope 3 from procurement: categories 1 (purchased goods and services) and 2 (capital goods) by
//! the hierarchy supplier-specific footprint > average product data > spend-based EEIO factor, and
//! category 4 (upstream transport and distribution) by tonne-km × mode factor (GHG Protocol Scope 3
//! Standard; reference B4). Every result names its method, its data quality (DQR 1 best – 5) and
//! the footprint or factor (id and version) it used; the share covered by supplier-specific data
//! is reported. One bad line fails the run with every problem listed.
//!
//! Emissions are rounded once per line to whole grams CO2e and summed as integers, so totals do
//! not depend on order and a parent equals the sum of its parts.

use crate::eeio::{Conversion, EeioSet};
use crate::{parse_decimal, Problem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The supplier's cradle-to-gate footprint of the product (PACT).
    SupplierSpecific,
    /// Secondary (average) footprint of the product class per unit.
    Average,
    /// Spend × EEIO factor.
    Spend,
    /// Tonne-km × mode factor (category 4).
    Distance,
}

impl Method {
    pub fn code(self) -> &'static str {
        match self {
            Method::SupplierSpecific => "supplier_specific",
            Method::Average => "average",
            Method::Spend => "spend",
            Method::Distance => "distance",
        }
    }
    /// The data-quality rating of a result by this method when the data give none (1 best – 5):
    /// supplier-specific 2, average 3, distance-based 3, spend-based 4 (screening grade, reference B3).
    pub fn default_dqr(self) -> f64 {
        match self {
            Method::SupplierSpecific => 2.0,
            Method::Average | Method::Distance => 3.0,
            Method::Spend => 4.0,
        }
    }
}

/// One procurement line (item, supplier, quantity, unit, spend, date, org).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcurementLine {
    /// The line's own reference (purchase order line), unique in a run.
    pub line: String,
    pub org: String,
    /// 1 (purchased goods and services) or 2 (capital goods).
    pub category: u8,
    /// The supplier's unified social credit code (may be empty).
    pub supplier: String,
    /// The supplier's product id.
    pub item: String,
    /// A product class of the library (may be empty).
    pub class: String,
    pub quantity: f64,
    /// A PACT declared unit (`piece`, `kilogram`, …) or an alias ([`unit_of`]).
    pub unit: String,
    pub spend: f64,
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The EEIO sector of the spend (may be empty).
    pub sector: String,
}

/// A transport leg (category 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransportLeg {
    pub line: String,
    pub org: String,
    pub tonnes: f64,
    pub km: f64,
    pub mode: String,
    pub date: String,
}

/// A supplier-specific footprint the hierarchy may use: kg CO2e per declared unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupplierFootprint {
    pub supplier: String,
    pub item: String,
    pub unit: String,
    pub kg_per_unit: f64,
    pub dqr: Option<f64>,
    /// The footprint's id (PACT id, library entry and version).
    pub reference: String,
}

/// Average product data: kg CO2e per unit of a product class, with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AverageFactor {
    pub class: String,
    pub unit: String,
    pub kg_per_unit: f64,
    pub source: String,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeFactor {
    pub mode: String,
    pub kg_per_tkm: f64,
    pub source: String,
    pub reference: String,
}

/// PACT units and the aliases procurement systems use: (alias, PACT unit, amount of it).
const UNIT_ALIASES: &[(&str, &str, f64)] = &[
    ("pcs", "piece", 1.0),
    ("pc", "piece", 1.0),
    ("unit", "piece", 1.0),
    ("台", "piece", 1.0),
    ("个", "piece", 1.0),
    ("块", "piece", 1.0),
    ("kg", "kilogram", 1.0),
    ("t", "kilogram", 1000.0),
    ("kWh", "kilowatt hour", 1.0),
    ("MJ", "megajoule", 1.0),
    ("L", "liter", 1.0),
    ("m3", "cubic meter", 1.0),
    ("m2", "square meter", 1.0),
    ("tkm", "ton kilometer", 1.0),
    ("h", "hour", 1.0),
];

/// The PACT declared unit of a procurement unit and how many of it one procurement unit is.
pub fn unit_of(u: &str) -> Option<(&'static str, f64)> {
    if let Some(p) = crate::pact::DECLARED_UNITS.iter().find(|d| **d == u) {
        return Some((p, 1.0));
    }
    UNIT_ALIASES.iter().find(|(a, _, _)| *a == u).map(|(_, p, k)| (*p, *k))
}

/// Transport modes of category 4.
pub const MODES: &[&str] = &["road", "rail", "sea", "inland_waterway", "air"];

/// What the hierarchy chooses from.
#[derive(Default)]
pub struct Factors {
    /// supplier → item → footprint.
    supplier: HashMap<String, HashMap<String, SupplierFootprint>>,
    /// class → PACT unit → average.
    average: HashMap<String, HashMap<String, AverageFactor>>,
    modes: HashMap<String, ModeFactor>,
    eeio: Option<EeioSet>,
}

impl Factors {
    pub fn new(eeio: Option<EeioSet>) -> Factors {
        Factors { eeio, ..Default::default() }
    }
    /// A supplier footprint (a later one for the same supplier and item replaces it).
    pub fn add_supplier(&mut self, f: SupplierFootprint) {
        self.supplier.entry(f.supplier.clone()).or_default().insert(f.item.clone(), f);
    }
    pub fn add_average(&mut self, a: AverageFactor) {
        self.average.entry(a.class.clone()).or_default().insert(a.unit.clone(), a);
    }
    pub fn add_mode(&mut self, m: ModeFactor) {
        self.modes.insert(m.mode.clone(), m);
    }
    pub fn eeio(&self) -> Option<&EeioSet> {
        self.eeio.as_ref()
    }
}

/// A line's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineResult {
    pub line: String,
    pub org: String,
    pub category: u8,
    pub method: Method,
    pub grams: i64,
    /// Data-quality rating 1 (best) – 5.
    pub dqr: f64,
    /// The footprint or factor used (id and version).
    pub reference: String,
    /// The arithmetic in words: quantity × factor = result.
    pub explain: String,
}

/// A line's problem: the line (its reference or number) and the field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineProblem {
    pub line: String,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// Totals by (category, method).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cell {
    pub lines: u64,
    pub grams: i64,
    /// Σ dqr × grams, for the emission-weighted mean data quality.
    #[serde(skip)]
    pub dqr_weighted: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scope3 {
    pub total_grams: i64,
    /// category → method → cell.
    pub by_category: BTreeMap<u8, BTreeMap<Method, Cell>>,
    /// org → category → grams.
    pub by_org: BTreeMap<String, BTreeMap<u8, i64>>,
    pub lines: Vec<LineResult>,
}

impl Scope3 {
    fn add_total(&mut self, org: &str, category: u8, method: Method, grams: i64, dqr: f64) {
        self.total_grams += grams;
        let c = self.by_category.entry(category).or_default().entry(method).or_default();
        c.lines += 1;
        c.grams += grams;
        c.dqr_weighted += dqr * grams as f64;
        match self.by_org.get_mut(org) {
            Some(m) => *m.entry(category).or_default() += grams,
            None => {
                self.by_org.entry(org.to_string()).or_default().insert(category, grams);
            }
        }
    }
    fn add(&mut self, r: LineResult) {
        self.total_grams += r.grams;
        let c = self.by_category.entry(r.category).or_default().entry(r.method).or_default();
        c.lines += 1;
        c.grams += r.grams;
        c.dqr_weighted += r.dqr * r.grams as f64;
        *self.by_org.entry(r.org.clone()).or_default().entry(r.category).or_default() += r.grams;
        self.lines.push(r);
    }
    /// Grams by method over all categories.
    pub fn method_grams(&self, m: Method) -> i64 {
        self.by_category.values().filter_map(|c| c.get(&m)).map(|c| c.grams).sum()
    }
    /// The share (0–1) of the Scope 3 computed here covered by supplier-specific data.
    pub fn supplier_specific_share(&self) -> f64 {
        if self.total_grams == 0 {
            0.0
        } else {
            self.method_grams(Method::SupplierSpecific) as f64 / self.total_grams as f64
        }
    }
    /// The emission-weighted mean data-quality rating of a category (1 best – 5).
    pub fn category_dqr(&self, category: u8) -> Option<f64> {
        let cells = self.by_category.get(&category)?;
        let g: i64 = cells.values().map(|c| c.grams).sum();
        (g > 0).then(|| cells.values().map(|c| c.dqr_weighted).sum::<f64>() / g as f64)
    }
    pub fn category_grams(&self, category: u8) -> i64 {
        self.by_category.get(&category).map_or(0, |c| c.values().map(|x| x.grams).sum())
    }
}

fn grams(kg: f64) -> i64 {
    (kg * 1000.0).round() as i64
}

fn num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Computes categories 1, 2 and 4. `keep_lines`: keep every line's result (with its explanation);
/// without it only totals are kept (large runs).
pub fn compute(
    f: &Factors,
    lines: &[ProcurementLine],
    legs: &[TransportLeg],
    keep_lines: bool,
) -> Result<Scope3, Vec<LineProblem>> {
    let mut out = Scope3::default();
    let mut problems = Vec::new();
    let mut conversions: Vec<(String, i32, Conversion)> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(lines.len() + legs.len());
    for l in lines {
        if !seen.insert(l.line.as_str()) {
            problems.push(LineProblem {
                line: l.line.clone(),
                field: "line".into(),
                reason: "the line reference is given twice".into(),
            });
            continue;
        }
        if keep_lines {
            match line_result(f, l, &mut conversions, true) {
                Ok(r) => out.add(r),
                Err(ps) => problems.extend(ps),
            }
        } else {
            match line_core(f, l, &mut conversions, false) {
                Ok(c) => out.add_total(&l.org, l.category, c.method, c.grams, c.dqr),
                Err(ps) => problems.extend(ps),
            }
        }
    }
    for g in legs {
        if !seen.insert(g.line.as_str()) {
            problems.push(LineProblem {
                line: g.line.clone(),
                field: "line".into(),
                reason: "the line reference is given twice".into(),
            });
            continue;
        }
        match leg_result(f, g, keep_lines) {
            Ok(r) => out.add(r),
            Err(ps) => problems.extend(ps),
        }
        if !keep_lines {
            out.lines.clear();
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn year_of(date: &str) -> Option<i32> {
    crate::parse_date(date).map(|(y, _, _)| y)
}

/// A line's result without its copies of the line's texts (what totals need).
pub struct Core<'a> {
    pub method: Method,
    pub grams: i64,
    pub dqr: f64,
    /// The footprint or factor used (empty when not explaining, for speed).
    pub reference: std::borrow::Cow<'a, str>,
    pub explain: String,
}

/// One procurement line through the hierarchy.
pub fn line_result(
    f: &Factors,
    l: &ProcurementLine,
    conversions: &mut Vec<(String, i32, Conversion)>,
    explain: bool,
) -> Result<LineResult, Vec<LineProblem>> {
    let c = line_core(f, l, conversions, explain)?;
    Ok(LineResult {
        line: l.line.clone(),
        org: l.org.clone(),
        category: l.category,
        method: c.method,
        grams: c.grams,
        dqr: c.dqr,
        reference: c.reference.into_owned(),
        explain: c.explain,
    })
}

/// One procurement line through the hierarchy, without copying its texts.
pub fn line_core<'a>(
    f: &'a Factors,
    l: &ProcurementLine,
    conversions: &mut Vec<(String, i32, Conversion)>,
    explain: bool,
) -> Result<Core<'a>, Vec<LineProblem>> {
    let mut p = Vec::new();
    let bad = |p: &mut Vec<LineProblem>, field: &str, reason: String| {
        p.push(LineProblem { line: l.line.clone(), field: field.into(), reason })
    };
    if l.category != 1 && l.category != 2 {
        bad(&mut p, "category", format!("{} is not 1 (purchased goods and services) or 2 (capital goods)", l.category));
    }
    if !(l.quantity >= 0.0 && l.quantity.is_finite()) {
        bad(&mut p, "quantity", format!("{} is negative", l.quantity));
    }
    if !(l.spend >= 0.0 && l.spend.is_finite()) {
        bad(&mut p, "spend", format!("{} is negative", l.spend));
    }
    let year = year_of(&l.date);
    if year.is_none() {
        bad(&mut p, "date", format!("{:?} is not a date YYYY-MM-DD in 1990–2100", l.date));
    }
    if l.org.is_empty() {
        bad(&mut p, "org", "is required".into());
    }
    if !p.is_empty() {
        return Err(p);
    }
    let unit = unit_of(&l.unit);
    let mk = |method: Method, kg: f64, dqr: f64, reference: std::borrow::Cow<'a, str>, explain: String| Core {
        method,
        grams: grams(kg),
        dqr,
        reference,
        explain,
    };
    // 1. Supplier-specific.
    if let (Some((u, k)), Some(fp)) = (unit, f.supplier.get(&l.supplier).and_then(|m| m.get(&l.item))) {
        if fp.unit == u {
            let q = l.quantity * k;
            let kg = q * fp.kg_per_unit;
            let e = if explain {
                format!(
                    "{} {u} × {} kg CO2e/{u} (supplier footprint {}) = {} kg CO2e",
                    num(q),
                    num(fp.kg_per_unit),
                    fp.reference,
                    num(kg)
                )
            } else {
                String::new()
            };
            return Ok(mk(
                Method::SupplierSpecific,
                kg,
                fp.dqr.unwrap_or(2.0),
                std::borrow::Cow::Borrowed(fp.reference.as_str()),
                e,
            ));
        }
    }
    // 2. Average product data of the class.
    if let (Some((u, k)), Some(a)) = (unit, f.average.get(&l.class).and_then(|m| unit.and_then(|(u, _)| m.get(u)))) {
        let q = l.quantity * k;
        let kg = q * a.kg_per_unit;
        let e = if explain {
            format!(
                "{} {u} × {} kg CO2e/{u} (average of class {}, {}) = {} kg CO2e",
                num(q),
                num(a.kg_per_unit),
                a.class,
                a.reference,
                num(kg)
            )
        } else {
            String::new()
        };
        return Ok(mk(
            Method::Average,
            kg,
            Method::Average.default_dqr(),
            std::borrow::Cow::Borrowed(a.reference.as_str()),
            e,
        ));
    }
    // 3. Spend × EEIO.
    let Some(set) = f.eeio.as_ref() else {
        bad(&mut p, "item", "no supplier footprint, no average product data and no EEIO factor set".into());
        return Err(p);
    };
    if l.sector.is_empty() {
        bad(
            &mut p,
            "sector",
            format!(
                "no supplier footprint for {}/{} in {}, no average product data for class {:?}, and no EEIO sector for the spend",
                l.supplier, l.item, l.unit, l.class
            ),
        );
        return Err(p);
    }
    let Some(fac) = set.factors.get(&l.sector) else {
        bad(&mut p, "sector", format!("{:?} is not a sector of the EEIO set {}", l.sector, set.key()));
        return Err(p);
    };
    let year = year.expect("checked");
    let conv = match conversions.iter().find(|(c, y, _)| *c == l.currency && *y == year) {
        Some((_, _, c)) => *c,
        None => match set.conversion(&l.currency, year) {
            Ok(c) => {
                conversions.push((l.currency.clone(), year, c));
                c
            }
            Err(e) => {
                bad(&mut p, &e.field, e.reason);
                return Err(p);
            }
        },
    };
    let amount = l.spend * conv.multiplier;
    let kg = amount * fac.kg_per_unit;
    let reference = if explain { format!("{}#{}", set.key(), fac.sector) } else { String::new() };
    let e = if explain {
        format!(
            "{} {} ({year}) → {} {} at {} prices × {} kg CO2e/{} (EEIO {}, sector {}) = {} kg CO2e",
            num(l.spend),
            l.currency,
            num(amount),
            set.currency,
            set.price_year,
            num(fac.kg_per_unit),
            set.currency,
            set.key(),
            fac.sector,
            num(kg)
        )
    } else {
        String::new()
    };
    Ok(mk(Method::Spend, kg, Method::Spend.default_dqr(), std::borrow::Cow::Owned(reference), e))
}

/// One transport leg: tonnes × km × mode factor.
pub fn leg_result(f: &Factors, g: &TransportLeg, explain: bool) -> Result<LineResult, Vec<LineProblem>> {
    let mut p = Vec::new();
    let mut bad =
        |field: &str, reason: String| p.push(LineProblem { line: g.line.clone(), field: field.into(), reason });
    if !(g.tonnes >= 0.0 && g.tonnes.is_finite()) {
        bad("tonnes", format!("{} is negative", g.tonnes));
    }
    if !(g.km >= 0.0 && g.km.is_finite()) {
        bad("km", format!("{} is negative", g.km));
    }
    if year_of(&g.date).is_none() {
        bad("date", format!("{:?} is not a date YYYY-MM-DD in 1990–2100", g.date));
    }
    let m = f.modes.get(&g.mode);
    if m.is_none() {
        bad("mode", format!("{:?} has no factor (modes: {})", g.mode, MODES.join(", ")));
    }
    if !p.is_empty() {
        return Err(p);
    }
    let m = m.expect("checked");
    let tkm = g.tonnes * g.km;
    let kg = tkm * m.kg_per_tkm;
    Ok(LineResult {
        line: g.line.clone(),
        org: g.org.clone(),
        category: 4,
        method: Method::Distance,
        grams: grams(kg),
        dqr: Method::Distance.default_dqr(),
        reference: m.reference.clone(),
        explain: if explain {
            format!(
                "{} t × {} km = {} t·km × {} kg CO2e/t·km ({}, {}) = {} kg CO2e",
                num(g.tonnes),
                num(g.km),
                num(tkm),
                num(m.kg_per_tkm),
                m.mode,
                m.reference,
                num(kg)
            )
        } else {
            String::new()
        },
    })
}

// ---- Factor files (average product data, transport modes) -------------------------------------

#[derive(Deserialize)]
struct SetHead {
    id: String,
    version: i64,
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
struct AvgFile {
    set: SetHead,
    #[serde(default)]
    product: Vec<AvgRow>,
    #[serde(default)]
    mode: Vec<ModeRow>,
}

#[derive(Deserialize)]
struct AvgRow {
    class: String,
    unit: String,
    kg_per_unit: String,
    source: String,
}

#[derive(Deserialize)]
struct ModeRow {
    mode: String,
    kg_per_tkm: String,
    source: String,
}

/// A secondary-data file (TOML): `[set] id, version, title`, `[[product]] class, unit, kg_per_unit,
/// source` (average product data) and `[[mode]] mode, kg_per_tkm, source` (transport), every
/// number with its source. Every problem at once.
pub fn parse_secondary(text: &str) -> Result<(Vec<AverageFactor>, Vec<ModeFactor>), Vec<Problem>> {
    let f: AvgFile = toml::from_str(text).map_err(|e| vec![Problem::new("(file)", e.message().to_string())])?;
    let key = format!("{}@{}", f.set.id, f.set.version);
    let _ = f.set.title;
    let mut p = Vec::new();
    if f.set.id.is_empty() || f.set.version < 1 {
        p.push(Problem::new("set", "an id and a version ≥ 1"));
    }
    let mut avgs = Vec::new();
    for (i, r) in f.product.iter().enumerate() {
        if !crate::library::CLASSES.contains(&r.class.as_str()) {
            p.push(Problem::new(format!("product[{i}].class"), format!("{:?} is not a product class", r.class)));
        }
        if !crate::pact::DECLARED_UNITS.contains(&r.unit.as_str()) {
            p.push(Problem::new(format!("product[{i}].unit"), format!("{:?} is not a PACT declared unit", r.unit)));
        }
        let v = parse_decimal(&r.kg_per_unit).filter(|x| *x >= 0.0);
        if v.is_none() {
            p.push(Problem::new(
                format!("product[{i}].kg_per_unit"),
                format!("{:?} is not a non-negative decimal", r.kg_per_unit),
            ));
        }
        if r.source.trim().is_empty() {
            p.push(Problem::new(format!("product[{i}].source"), "has no source"));
        }
        avgs.push(AverageFactor {
            class: r.class.clone(),
            unit: r.unit.clone(),
            kg_per_unit: v.unwrap_or(0.0),
            source: r.source.clone(),
            reference: format!("{key}#{}", r.class),
        });
    }
    let mut modes = Vec::new();
    for (i, r) in f.mode.iter().enumerate() {
        if !MODES.contains(&r.mode.as_str()) {
            p.push(Problem::new(format!("mode[{i}].mode"), format!("{:?} is not one of {}", r.mode, MODES.join(", "))));
        }
        let v = parse_decimal(&r.kg_per_tkm).filter(|x| *x >= 0.0);
        if v.is_none() {
            p.push(Problem::new(
                format!("mode[{i}].kg_per_tkm"),
                format!("{:?} is not a non-negative decimal", r.kg_per_tkm),
            ));
        }
        if r.source.trim().is_empty() {
            p.push(Problem::new(format!("mode[{i}].source"), "has no source"));
        }
        modes.push(ModeFactor {
            mode: r.mode.clone(),
            kg_per_tkm: v.unwrap_or(0.0),
            source: r.source.clone(),
            reference: format!("{key}#{}", r.mode),
        });
    }
    if p.is_empty() {
        Ok((avgs, modes))
    } else {
        Err(p)
    }
}

/// A transport factor set (TOML): `[set] id, version, title` and `[[mode]] mode, kg_per_tkm,
/// source`, every factor with its source, at least one mode and no `[[product]]`. Returns the
/// set's key (`id@version`), its version and its modes; every problem at once, each naming its key.
pub fn parse_transport(text: &str) -> Result<(String, i64, Vec<ModeFactor>), Vec<Problem>> {
    let f: AvgFile = toml::from_str(text).map_err(|e| {
        vec![Problem::new(
            e.span().map_or("(file)".to_string(), |s| format!("byte {}", s.start)),
            e.message().to_string(),
        )]
    })?;
    let mut p = match parse_secondary(text) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    };
    if f.set.id.len() > 64 {
        p.push(Problem::new("set.id", "1 to 64 characters"));
    }
    if !f.product.is_empty() {
        p.push(Problem::new("product", "a transport factor set has no average product data ([[product]])"));
    }
    if f.mode.is_empty() {
        p.push(Problem::new("mode", "at least one [[mode]]"));
    }
    if !p.is_empty() {
        return Err(p);
    }
    let (_, modes) = parse_secondary(text)?;
    Ok((format!("{}@{}", f.set.id, f.set.version), f.set.version, modes))
}

#[cfg(test)]
mod transport_set_tests {
    use super::*;

    #[test]
    fn a_transport_set_names_every_bad_field() {
        let bad = "[set]\nid = \"t\"\nversion = 0\n[[mode]]\nmode = \"camel\"\nkg_per_tkm = \"-1\"\nsource = \"\"\n";
        let p = parse_transport(bad).unwrap_err();
        let fields: Vec<&str> = p.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["set", "mode[0].mode", "mode[0].kg_per_tkm", "mode[0].source"], "{p:?}");
        let good = "[set]\nid = \"cn-road\"\nversion = 2\n[[mode]]\nmode = \"road\"\nkg_per_tkm = \"0.1\"\nsource = \"a source\"\n";
        let (key, version, modes) = parse_transport(good).unwrap();
        assert_eq!((key.as_str(), version, modes.len()), ("cn-road@2", 2, 1));
        assert_eq!(modes[0].reference, "cn-road@2#road");
        let with_product =
            format!("{good}[[product]]\nclass = \"aau\"\nunit = \"piece\"\nkg_per_unit = \"1\"\nsource = \"s\"\n");
        assert_eq!(parse_transport(&with_product).unwrap_err()[0].field, "product");
    }
}

// ---- CSV ---------------------------------------------------------------------------------------

/// The columns of procurement.csv.
pub const PROCUREMENT_COLUMNS: &[&str] = &[
    "line", "org", "category", "supplier", "item", "class", "quantity", "unit", "spend", "currency", "date", "sector",
];
/// The columns of transport.csv.
pub const TRANSPORT_COLUMNS: &[&str] = &["line", "org", "tonnes", "km", "mode", "date"];

fn header_index(headers: &csv::StringRecord, cols: &[&str], file: &str) -> Result<Vec<usize>, Vec<LineProblem>> {
    let mut idx = Vec::new();
    let mut p = Vec::new();
    for c in cols {
        match headers.iter().position(|h| h.trim_start_matches('\u{feff}').trim() == *c) {
            Some(i) => idx.push(i),
            None => {
                p.push(LineProblem { line: format!("{file}:1"), field: (*c).into(), reason: "missing column".into() })
            }
        }
    }
    if p.is_empty() {
        Ok(idx)
    } else {
        Err(p)
    }
}

fn number(p: &mut Vec<LineProblem>, line: &str, field: &str, v: &str, required: bool) -> f64 {
    let v = v.trim();
    if v.is_empty() && !required {
        return 0.0;
    }
    match parse_decimal(v) {
        Some(x) if x < 0.0 => {
            p.push(LineProblem { line: line.into(), field: field.into(), reason: format!("{v} is negative") });
            0.0
        }
        Some(x) => x,
        None => {
            p.push(LineProblem {
                line: line.into(),
                field: field.into(),
                reason: format!("{v:?} is not a decimal number"),
            });
            0.0
        }
    }
}

/// Reads procurement.csv: every problem of every row at once (row numbers are file lines).
pub fn read_procurement(data: &[u8], file: &str) -> Result<Vec<ProcurementLine>, Vec<LineProblem>> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(data);
    let headers = r
        .headers()
        .map_err(|e| vec![LineProblem { line: format!("{file}:1"), field: "(header)".into(), reason: e.to_string() }])?
        .clone();
    let ix = header_index(&headers, PROCUREMENT_COLUMNS, file)?;
    let mut out = Vec::new();
    let mut p = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                p.push(LineProblem {
                    line: format!("{file}:{}", e.position().map_or(0, |x| x.line())),
                    field: "(row)".into(),
                    reason: e.to_string(),
                });
                break;
            }
        }
        let at = format!("{file}:{}", rec.position().map_or(0, |x| x.line()));
        let g = |i: usize| rec.get(ix[i]).unwrap_or("").trim();
        let category = match g(2) {
            "1" => 1,
            "2" => 2,
            other => {
                p.push(LineProblem {
                    line: at.clone(),
                    field: "category".into(),
                    reason: format!("{other:?} is not 1 or 2"),
                });
                0
            }
        };
        let quantity = number(&mut p, &at, "quantity", g(6), false);
        let spend = number(&mut p, &at, "spend", g(8), false);
        let currency = if g(9).is_empty() { "CNY".to_string() } else { g(9).to_string() };
        if !g(7).is_empty() && unit_of(g(7)).is_none() {
            p.push(LineProblem {
                line: at.clone(),
                field: "unit".into(),
                reason: format!("{:?} is not a PACT declared unit or a known alias", g(7)),
            });
        }
        if g(0).is_empty() {
            p.push(LineProblem { line: at.clone(), field: "line".into(), reason: "is required".into() });
        }
        out.push(ProcurementLine {
            line: g(0).to_string(),
            org: g(1).to_string(),
            category,
            supplier: g(3).to_string(),
            item: g(4).to_string(),
            class: g(5).to_string(),
            quantity,
            unit: g(7).to_string(),
            spend,
            currency,
            date: g(10).to_string(),
            sector: g(11).to_string(),
        });
    }
    if p.is_empty() {
        Ok(out)
    } else {
        Err(p)
    }
}

/// Reads transport.csv, every problem at once.
pub fn read_transport(data: &[u8], file: &str) -> Result<Vec<TransportLeg>, Vec<LineProblem>> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(data);
    let headers = r
        .headers()
        .map_err(|e| vec![LineProblem { line: format!("{file}:1"), field: "(header)".into(), reason: e.to_string() }])?
        .clone();
    let ix = header_index(&headers, TRANSPORT_COLUMNS, file)?;
    let mut out = Vec::new();
    let mut p = Vec::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                p.push(LineProblem {
                    line: format!("{file}:{}", e.position().map_or(0, |x| x.line())),
                    field: "(row)".into(),
                    reason: e.to_string(),
                });
                break;
            }
        };
        let at = format!("{file}:{}", rec.position().map_or(0, |x| x.line()));
        let g = |i: usize| rec.get(ix[i]).unwrap_or("").trim();
        out.push(TransportLeg {
            line: g(0).to_string(),
            org: g(1).to_string(),
            tonnes: number(&mut p, &at, "tonnes", g(2), true),
            km: number(&mut p, &at, "km", g(3), true),
            mode: g(4).to_string(),
            date: g(5).to_string(),
        });
    }
    if p.is_empty() {
        Ok(out)
    } else {
        Err(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors() -> Factors {
        let mut f = Factors::new(Some(EeioSet::shipped()));
        f.add_supplier(SupplierFootprint {
            supplier: "914403001922038216".into(),
            item: "AAU5613".into(),
            unit: "piece".into(),
            kg_per_unit: 812.5,
            dqr: Some(1.5),
            reference: "pf-1".into(),
        });
        f.add_average(AverageFactor {
            class: "aau".into(),
            unit: "piece".into(),
            kg_per_unit: 1000.0,
            source: "s".into(),
            reference: "avg@1#aau".into(),
        });
        f.add_mode(ModeFactor {
            mode: "road".into(),
            kg_per_tkm: 0.1,
            source: "s".into(),
            reference: "modes@1#road".into(),
        });
        f
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        id: &str,
        supplier: &str,
        item: &str,
        class: &str,
        qty: f64,
        unit: &str,
        spend: f64,
        date: &str,
        sector: &str,
    ) -> ProcurementLine {
        ProcurementLine {
            line: id.into(),
            org: "CT-GD".into(),
            category: 2,
            supplier: supplier.into(),
            item: item.into(),
            class: class.into(),
            quantity: qty,
            unit: unit.into(),
            spend,
            currency: "CNY".into(),
            date: date.into(),
            sector: sector.into(),
        }
    }

    #[test]
    fn each_method_by_hand_and_the_hierarchy() {
        let f = factors();
        let lines = vec![
            // Supplier-specific: 4 pieces × 812.5 kg = 3,250 kg (the average and spend are not used).
            line("L1", "914403001922038216", "AAU5613", "aau", 4.0, "台", 400_000.0, "2024-03-01", "334111"),
            // Same class, another supplier: the class average, 3 × 1,000 kg = 3,000 kg.
            line("L2", "91110000710935732K", "X", "aau", 3.0, "piece", 100.0, "2024-03-01", "334111"),
            // No footprint, no class average: spend. 100,000 CNY of 2022 → 100,000 / 6.7261 USD
            // = 14,867.45 USD × 0.058 = 862.31 kg.
            line("L3", "", "", "server", 1.0, "piece", 100_000.0, "2022-06-30", "334111"),
            // The same spend in 2024: deflated by 100 / 94.866 → 15,672.06 USD × 0.058 = 908.98 kg.
            line("L4", "", "", "", 0.0, "", 100_000.0, "2024-06-30", "334111"),
        ];
        let legs = vec![TransportLeg {
            line: "T1".into(),
            org: "CT-GD".into(),
            tonnes: 2.5,
            km: 1200.0,
            mode: "road".into(),
            date: "2024-03-01".into(),
        }];
        let s = compute(&f, &lines, &legs, true).unwrap();
        let got: Vec<(&str, Method, i64)> = s.lines.iter().map(|r| (r.line.as_str(), r.method, r.grams)).collect();
        assert_eq!(
            got,
            [
                ("L1", Method::SupplierSpecific, 3_250_000),
                ("L2", Method::Average, 3_000_000),
                ("L3", Method::Spend, 862_312),
                ("L4", Method::Spend, 908_979),
                // 2.5 t × 1,200 km = 3,000 t·km × 0.1 = 300 kg.
                ("T1", Method::Distance, 300_000),
            ]
        );
        assert_eq!(s.lines[0].dqr, 1.5);
        assert_eq!(s.lines[2].dqr, 4.0);
        assert_eq!(s.total_grams, 3_250_000 + 3_000_000 + 862_312 + 908_979 + 300_000);
        assert_eq!(s.category_grams(2), 8_021_291);
        assert_eq!(s.category_grams(4), 300_000);
        // Coverage: 3,250 / 8,321.291 kg = 39.0564 %.
        assert!((s.supplier_specific_share() - 3_250_000.0 / 8_321_291.0).abs() < 1e-15);
        assert!((s.supplier_specific_share() - 0.390564).abs() < 1e-6);
        assert!(
            s.lines[0].explain.starts_with("4 piece × 812.5 kg CO2e/piece (supplier footprint pf-1)"),
            "{}",
            s.lines[0].explain
        );
        assert!(s.lines[2].explain.contains("useeio-v1.3@1"), "{}", s.lines[2].explain);
    }

    #[test]
    fn a_supplier_footprint_in_another_unit_falls_to_the_next_method() {
        let f = factors();
        // The supplier's AAU footprint is per piece; a line in kilograms cannot use it nor the
        // per-piece class average: spend (2022 CNY 6,726.1 → 1,000 USD × 0.058 = 58 kg).
        let l = line("L1", "914403001922038216", "AAU5613", "aau", 40.0, "kg", 6_726.1, "2022-01-01", "334111");
        let s = compute(&f, &[l], &[], true).unwrap();
        assert_eq!((s.lines[0].method, s.lines[0].grams), (Method::Spend, 58_000));
        assert_eq!(s.supplier_specific_share(), 0.0);
    }

    #[test]
    fn bad_lines_are_all_named_and_nothing_is_computed() {
        let f = factors();
        let mut a = line("A", "", "", "", 1.0, "piece", -5.0, "2024-01-01", "334111");
        a.quantity = -1.0;
        let mut b = line("B", "", "", "", 1.0, "piece", 5.0, "2024-01-01", "334111");
        b.currency = "XYZ".into();
        let c = line("C", "", "", "", 1.0, "piece", 5.0, "2024-01-01", "");
        let d = line("A", "", "", "", 1.0, "piece", 5.0, "2024-01-01", "334111");
        let legs = vec![TransportLeg {
            line: "T".into(),
            org: "o".into(),
            tonnes: 1.0,
            km: 1.0,
            mode: "teleport".into(),
            date: "2024-01-01".into(),
        }];
        let e = compute(&f, &[a, b, c, d], &legs, false).unwrap_err();
        let got: Vec<(&str, &str)> = e.iter().map(|p| (p.line.as_str(), p.field.as_str())).collect();
        assert_eq!(
            got,
            [("A", "quantity"), ("A", "spend"), ("B", "currency"), ("C", "sector"), ("A", "line"), ("T", "mode")]
        );
        assert!(e[2].reason.contains("unknown currency \"XYZ\""));
    }

    #[test]
    fn csv_rows_are_read_with_every_problem() {
        let csv = "line,org,category,supplier,item,class,quantity,unit,spend,currency,date,sector\n\
                   P1,CT-GD,2,914403001922038216,AAU5613,aau,4,台,400000,CNY,2024-03-01,334111\n\
                   P2,CT-GD,3,,,,x,box,-1,,2024-03-01,\n";
        let e = read_procurement(csv.as_bytes(), "procurement.csv").unwrap_err();
        let got: Vec<(&str, &str)> = e.iter().map(|p| (p.line.as_str(), p.field.as_str())).collect();
        assert_eq!(
            got,
            [
                ("procurement.csv:3", "category"),
                ("procurement.csv:3", "quantity"),
                ("procurement.csv:3", "spend"),
                ("procurement.csv:3", "unit")
            ]
        );
        let ok = read_procurement(csv.lines().take(2).collect::<Vec<_>>().join("\n").as_bytes(), "p").unwrap();
        assert_eq!(ok[0].quantity, 4.0);
        let (avg, modes) = parse_secondary("[set]\nid=\"s\"\nversion=1\n[[product]]\nclass=\"aau\"\nunit=\"piece\"\nkg_per_unit=\"900\"\nsource=\"x\"\n[[mode]]\nmode=\"rail\"\nkg_per_tkm=\"0.03\"\nsource=\"\"\n").unwrap_err().into_iter().map(|p| p.field).fold((0, vec![]), |(n, mut v), f| { v.push(f); (n + 1, v) });
        assert_eq!((avg, modes), (1, vec!["mode[0].source".to_string()]));
    }
}
