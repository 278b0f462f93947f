//! Methodologies: versioned TOML files, the DB11/T 3043-2024 structure ER = BE − PE per action
//! (and mode), every number with its source. The shipped ones are compiled in from `data/`; users
//! add theirs (a new version never rewrites credits made under an older one: each credit records
//! the id and version it was computed with).
//!
//! Arithmetic is exact: factors are read as decimals with at most three places and kept as
//! milligrams CO2e per unit (km, item or kWh); quantities as milli-units (metres, items × 1000,
//! Wh). ER in grams = ⌊quantity_milli × (BE − PE)_mg ⁄ 10⁶⌋, rounded down (conservative).

use serde::Serialize;
use std::collections::BTreeMap;

/// The unit an action's quantity is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Person-km; the event gives `distance_m`.
    Km,
    /// Items (invoices, approvals, sheets, bills); the event gives `items`.
    Item,
    /// Kilowatt-hours avoided; the event gives `wh`.
    Kwh,
}

impl Unit {
    pub fn code(self) -> &'static str {
        match self {
            Unit::Km => "km",
            Unit::Item => "item",
            Unit::Kwh => "kwh",
        }
    }
}

/// One action type of the catalogue: its code, unit, modes (empty: none) and whether it is a trip
/// (start and end times, speed plausibility).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ActionType {
    pub code: &'static str,
    pub unit: Unit,
    pub modes: &'static [&'static str],
    pub trip: bool,
    /// Who the action is for: `employee`, `customer` or `any`.
    pub audience: &'static str,
}

/// The actions events may report (a methodology covers some of them).
pub const ACTIONS: &[ActionType] = &[
    ActionType {
        code: "commute",
        unit: Unit::Km,
        modes: &["metro", "bus", "bike", "walking", "carpool", "ev"],
        trip: true,
        audience: "any",
    },
    ActionType {
        code: "video_meeting",
        unit: Unit::Km,
        modes: &["car", "metro", "bus", "rail", "flight"],
        trip: false,
        audience: "employee",
    },
    ActionType { code: "paperless_approval", unit: Unit::Item, modes: &[], trip: false, audience: "employee" },
    ActionType { code: "e_invoice", unit: Unit::Item, modes: &[], trip: false, audience: "any" },
    ActionType { code: "printing_saved", unit: Unit::Item, modes: &[], trip: false, audience: "employee" },
    ActionType { code: "office_energy", unit: Unit::Kwh, modes: &[], trip: false, audience: "employee" },
    ActionType { code: "e_bill", unit: Unit::Item, modes: &[], trip: false, audience: "customer" },
    ActionType { code: "utility_bill_online", unit: Unit::Item, modes: &[], trip: false, audience: "customer" },
    ActionType { code: "cloud_service", unit: Unit::Kwh, modes: &[], trip: false, audience: "customer" },
];

pub fn action_type(code: &str) -> Option<&'static ActionType> {
    ACTIONS.iter().find(|a| a.code == code)
}

/// How events of an action are told apart: by their reference (trip id, invoice number), or by
/// their reference within a month (a household number pays its bill once a month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dedup {
    None,
    Reference,
    ReferenceMonth,
}

/// A number of a methodology with its source, as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    pub name: String,
    pub value: String,
    pub source: String,
}

/// What a methodology credits for one action (and mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRule {
    pub action: String,
    /// Empty when the action has no modes.
    pub mode: String,
    pub unit: Unit,
    /// Baseline emissions per unit (BE), milligrams CO2e.
    pub baseline_mg: i64,
    /// Project emissions per unit (PE), milligrams CO2e.
    pub project_mg: i64,
    pub daily_cap_g: Option<i64>,
    pub monthly_cap_g: Option<i64>,
    pub daily_count: Option<i64>,
    pub monthly_count: Option<i64>,
    /// Highest plausible speed (trips), milli-km/h.
    pub max_speed_milli_kmh: Option<i64>,
    /// Largest plausible quantity of one event, milli-units.
    pub max_quantity_milli: Option<i64>,
    pub dedup: Dedup,
    /// Project emissions from the event's metered electricity (`wh`) × the grid emission factor of
    /// the platform's factor library of this series (electric vehicles); `project_mg` is then 0.
    pub project_grid_series: Option<String>,
    /// Least plausible metered energy per km (milli-Wh per km) of such a trip.
    pub min_wh_per_km_milli: Option<i64>,
    /// Every number above as written, with its source.
    pub factors: Vec<Factor>,
}

impl ActionRule {
    /// ER = BE − PE per unit, milligrams.
    pub fn reduction_mg(&self) -> i64 {
        self.baseline_mg - self.project_mg
    }
    /// ER in whole grams for a quantity in milli-units, rounded down (never negative).
    pub fn reduction_g(&self, quantity_milli: i64) -> i64 {
        let er = i128::from(quantity_milli) * i128::from(self.reduction_mg()) / 1_000_000;
        er.clamp(0, i128::from(i64::MAX)) as i64
    }
}

/// One version of a methodology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Methodology {
    pub id: String,
    pub version: i64,
    pub title: String,
    /// `CN` (national) or a province code such as `CN-GD`.
    pub region: String,
    /// First and last day it applies to (day numbers; `None`: open).
    pub effective_from: i64,
    pub effective_to: Option<i64>,
    pub structure: String,
    pub source: String,
    /// Points per gram CO2e (1 unless configured).
    pub points_per_g: i64,
    /// Days a credit may be claimed after it becomes available (unclaimed credits expire).
    pub claim_days: i64,
    pub factors: Vec<Factor>,
    pub actions: Vec<ActionRule>,
    /// Shipped with the platform (compiled in) or added by a user.
    pub shipped: bool,
}

/// The shipped methodologies, compiled in.
pub const SHIPPED: &[(&str, &str)] = &[
    ("commute.toml", include_str!("../data/commute.toml")),
    ("office.toml", include_str!("../data/office.toml")),
    ("customer.toml", include_str!("../data/customer.toml")),
];

/// Decimal text with at most three places → thousandths.
pub fn milli(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > 3
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut v: i64 = int.parse().ok()?;
    v *= 1000;
    let mut f = 0i64;
    for (i, b) in frac.bytes().enumerate() {
        f += i64::from(b - b'0') * 10i64.pow(2 - i as u32);
    }
    v += f;
    Some(if neg { -v } else { v })
}

fn number_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Reads a methodology file; every problem at once.
pub fn parse(text: &str, shipped: bool) -> Result<Methodology, Vec<String>> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| vec![format!("not TOML: {}", e.message())])?;
    let mut errors = Vec::new();
    let empty = toml::Table::new();
    let head = match doc.get("methodology").and_then(|v| v.as_table()) {
        Some(t) => t,
        None => {
            errors.push("missing [methodology] table".to_string());
            &empty
        }
    };
    let text_field = |t: &toml::Table, k: &str, errors: &mut Vec<String>, at: &str| -> String {
        match t.get(k).and_then(|v| v.as_str()) {
            Some(s) if !s.trim().is_empty() => s.to_string(),
            _ => {
                errors.push(format!("{at}{k}: required text"));
                String::new()
            }
        }
    };
    let mut factors = Vec::new();
    // A sourced number: `{ value = N, source = "..." }`; returns thousandths.
    let sourced =
        |t: &toml::Table, k: &str, at: &str, errors: &mut Vec<String>, out: &mut Vec<Factor>| -> Option<i64> {
            let v = t.get(k)?;
            let Some(tab) = v.as_table() else {
                errors.push(format!(
                    "{at}{k}: write {{ value = ..., source = \"...\" }} (every number carries its source)"
                ));
                return None;
            };
            let source = tab.get("source").and_then(|s| s.as_str()).unwrap_or("").trim().to_string();
            if source.is_empty() {
                errors.push(format!("{at}{k}: a number without a source"));
            }
            let Some(value) = tab.get("value").and_then(number_text) else {
                errors.push(format!("{at}{k}: value must be a number"));
                return None;
            };
            let Some(m) = milli(&value) else {
                errors.push(format!("{at}{k}: {value:?} is not a decimal with at most three places"));
                return None;
            };
            if m < 0 {
                errors.push(format!("{at}{k}: {value} is negative"));
                return None;
            }
            out.push(Factor { name: format!("{at}{k}").trim_start_matches("methodology.").to_string(), value, source });
            Some(m)
        };
    let id = text_field(head, "id", &mut errors, "methodology.");
    if !id.is_empty() && !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        errors.push("methodology.id: only ASCII letters, digits and - _ .".into());
    }
    let version = match head.get("version").and_then(|v| v.as_integer()) {
        Some(v) if v >= 1 => v,
        _ => {
            errors.push("methodology.version: a whole number from 1".into());
            0
        }
    };
    let title = text_field(head, "title", &mut errors, "methodology.");
    let region = text_field(head, "region", &mut errors, "methodology.");
    let structure = text_field(head, "structure", &mut errors, "methodology.");
    let source = text_field(head, "source", &mut errors, "methodology.");
    let day = |k: &str, errors: &mut Vec<String>| -> Option<i64> {
        let s = head.get(k)?.as_str().map(str::to_string).or_else(|| head.get(k).map(|v| v.to_string()))?;
        let d = crate::time::parse_day(&s);
        if d.is_none() {
            errors.push(format!("methodology.{k}: {s:?} is not a date YYYY-MM-DD"));
        }
        d
    };
    let effective_from = day("effective_from", &mut errors).unwrap_or_else(|| {
        if !head.contains_key("effective_from") {
            errors.push("methodology.effective_from: required date".into());
        }
        0
    });
    let effective_to = day("effective_to", &mut errors);
    if effective_to.is_some_and(|t| t < effective_from) {
        errors.push("methodology.effective_to is before effective_from".into());
    }
    let points_per_g = match sourced(head, "points_per_g", "methodology.", &mut errors, &mut factors) {
        None => 1,
        Some(m) if m % 1000 == 0 && m > 0 => m / 1000,
        Some(_) => {
            errors.push("methodology.points_per_g: a whole number from 1".into());
            1
        }
    };
    let claim_days = match sourced(head, "claim_days", "methodology.", &mut errors, &mut factors) {
        Some(m) if m % 1000 == 0 && (1000..=366_000).contains(&m) => m / 1000,
        Some(_) => {
            errors.push("methodology.claim_days: a whole number of days from 1 to 366".into());
            7
        }
        None => {
            errors.push("methodology.claim_days: required ({ value = N, source = \"...\" })".into());
            7
        }
    };
    let mut actions = Vec::new();
    let list = doc.get("action").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    if list.is_empty() {
        errors.push("no [[action]]: a methodology credits at least one action".into());
    }
    let mut seen = BTreeMap::new();
    for (i, a) in list.iter().enumerate() {
        let at = format!("action[{}].", i + 1);
        let Some(t) = a.as_table() else {
            errors.push(format!("{at}: not a table"));
            continue;
        };
        let action = text_field(t, "action", &mut errors, &at);
        let mode = t.get("mode").and_then(|v| v.as_str()).unwrap_or("").to_string();
        let Some(kind) = action_type(&action) else {
            if !action.is_empty() {
                errors.push(format!(
                    "{at}action: unknown action {action:?} (one of {})",
                    ACTIONS.iter().map(|a| a.code).collect::<Vec<_>>().join(", ")
                ));
            }
            continue;
        };
        if kind.modes.is_empty() && !mode.is_empty() {
            errors.push(format!("{at}mode: {action} has no modes"));
        }
        if !kind.modes.is_empty() && !kind.modes.contains(&mode.as_str()) {
            errors.push(format!("{at}mode: {mode:?} is not a mode of {action} ({})", kind.modes.join(", ")));
        }
        if seen.insert((action.clone(), mode.clone()), i).is_some() {
            errors.push(format!("{at}: {action} {mode} is credited twice in this file"));
        }
        let at_full = if mode.is_empty() { format!("{action}.") } else { format!("{action}.{mode}.") };
        let mut f = Vec::new();
        let reduction = sourced(t, "reduction", &at_full, &mut errors, &mut f);
        let baseline = sourced(t, "baseline", &at_full, &mut errors, &mut f);
        let project = sourced(t, "project", &at_full, &mut errors, &mut f);
        // PE from metered electricity × the grid factor: `project_electricity = { series, source }`.
        let project_grid_series = match t.get("project_electricity") {
            None => None,
            Some(v) => {
                let tab = v.as_table();
                let series = tab.and_then(|t| t.get("series")).and_then(|s| s.as_str()).unwrap_or("").trim();
                let source = tab.and_then(|t| t.get("source")).and_then(|s| s.as_str()).unwrap_or("").trim();
                if series.is_empty() || source.is_empty() {
                    errors.push(format!(
                        "{at}project_electricity: write {{ series = \"nbs_average\", source = \"...\" }} (the grid factor series of the factor library, and why)"
                    ));
                }
                if kind.unit != Unit::Km {
                    errors.push(format!("{at}project_electricity: only for trips counted in km"));
                }
                f.push(Factor {
                    name: format!("{at_full}project_electricity"),
                    value: format!("metered kWh × grid factor ({series})"),
                    source: source.to_string(),
                });
                Some(series.to_string())
            }
        };
        let (baseline_mg, project_mg) = match (reduction, baseline, project) {
            (Some(r), None, None) if project_grid_series.is_none() => (r, 0),
            (None, Some(b), None) if project_grid_series.is_some() => (b, 0),
            (None, Some(b), Some(p)) if project_grid_series.is_none() => (b, p),
            _ => {
                errors.push(format!("{at}: give baseline and project (g per {}), or reduction when a methodology publishes only BE − PE", kind.unit.code()));
                (0, 0)
            }
        };
        if baseline_mg < project_mg {
            errors.push(format!("{at}: project emissions exceed the baseline: no reduction"));
        }
        let whole = |m: Option<i64>, k: &str, errors: &mut Vec<String>| -> Option<i64> {
            let m = m?;
            if m % 1000 != 0 || m == 0 {
                errors.push(format!("{at}{k}: a whole number from 1"));
                return None;
            }
            Some(m / 1000)
        };
        let daily_cap_g = whole(sourced(t, "daily_cap_g", &at_full, &mut errors, &mut f), "daily_cap_g", &mut errors);
        let monthly_cap_g =
            whole(sourced(t, "monthly_cap_g", &at_full, &mut errors, &mut f), "monthly_cap_g", &mut errors);
        let daily_count = whole(sourced(t, "daily_count", &at_full, &mut errors, &mut f), "daily_count", &mut errors);
        let monthly_count =
            whole(sourced(t, "monthly_count", &at_full, &mut errors, &mut f), "monthly_count", &mut errors);
        let max_speed_milli_kmh = sourced(t, "max_speed_kmh", &at_full, &mut errors, &mut f);
        if kind.trip && max_speed_milli_kmh.is_none() {
            errors.push(format!("{at}max_speed_kmh: required for a trip (speed plausibility)"));
        }
        let min_wh_per_km_milli = sourced(t, "min_wh_per_km", &at_full, &mut errors, &mut f);
        if project_grid_series.is_some() && min_wh_per_km_milli.is_none() {
            errors.push(format!("{at}min_wh_per_km: required with project_electricity (energy plausibility)"));
        }
        let max_quantity_milli = sourced(t, "max_quantity", &at_full, &mut errors, &mut f);
        if max_quantity_milli.is_none() {
            errors
                .push(format!("{at}max_quantity: required (the largest plausible {} of one event)", kind.unit.code()));
        }
        let dedup = match t.get("dedup").and_then(|v| v.as_str()).unwrap_or("none") {
            "none" => Dedup::None,
            "reference" => Dedup::Reference,
            "reference_month" => Dedup::ReferenceMonth,
            other => {
                errors.push(format!("{at}dedup: {other:?} is not none, reference or reference_month"));
                Dedup::None
            }
        };
        actions.push(ActionRule {
            action,
            mode,
            unit: kind.unit,
            baseline_mg,
            project_mg,
            daily_cap_g,
            monthly_cap_g,
            daily_count,
            monthly_count,
            max_speed_milli_kmh,
            max_quantity_milli,
            dedup,
            project_grid_series,
            min_wh_per_km_milli,
            factors: f,
        });
    }
    for k in doc.keys() {
        if k != "methodology" && k != "action" {
            errors.push(format!("unknown table {k:?}"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Methodology {
        id,
        version,
        title,
        region,
        effective_from,
        effective_to,
        structure,
        source,
        points_per_g,
        claim_days,
        factors,
        actions,
        shipped,
    })
}

/// The methodologies in force: the shipped ones and the users' (every version kept).
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub methodologies: Vec<std::sync::Arc<Methodology>>,
    /// The factor library the grid emission factors come from (the accounting's: the shipped
    /// versioned sets), for actions whose project emissions are metered electricity.
    pub grid: Option<std::sync::Arc<factors::Library>>,
}

/// The grid emission factor used for one credit: its id and set version, for traceability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GridFactor {
    pub id: String,
    pub set: String,
    pub set_version: String,
    pub region: String,
    pub year: Option<i32>,
    /// As written in the factor library, and its unit.
    pub value: String,
    pub unit: String,
    /// Milligrams CO2 per kWh.
    #[serde(skip)]
    pub mg_per_kwh: i64,
    pub source: String,
    pub url: String,
}

impl Library {
    /// The shipped methodologies; a failure is a bug (a test loads them).
    pub fn shipped() -> Library {
        let mut lib = Library::default();
        for (name, text) in SHIPPED {
            let m = parse(text, true).unwrap_or_else(|e| panic!("shipped methodology {name}: {e:?}"));
            lib.methodologies.push(std::sync::Arc::new(m));
        }
        lib.grid = Some(std::sync::Arc::new(factors::Library::shipped()));
        lib
    }

    /// The grid CO2 factor of `series` for `region` (a province code such as `CN-GD`, or `CN`) and
    /// `year`, by the factor library's selection rules (the province, its grid, then national;
    /// the nearest year at or before). `None` without a factor library or a factor.
    pub fn grid_factor(&self, series: &str, region: &str, year: i32) -> Option<GridFactor> {
        let lib = self.grid.as_ref()?;
        let regions = match model::PROVINCES.iter().find(|p| p.region_code() == region) {
            Some(p) => factors::region_chain(p),
            None => vec!["CN".to_string(), "*".to_string()],
        };
        let q = factors::Query {
            parameter: factors::Parameter::EmissionFactor,
            carrier: "electricity",
            series,
            gas: Some("CO2"),
            context: "",
            regions: &regions,
            year,
        };
        let choice = lib.select(&q, &[]).ok()?;
        let f = &lib.factors[choice.factor];
        let scale = match f.row.unit.as_str() {
            "kgCO2/kWh" | "tCO2/MWh" => 1e6,
            "gCO2/kWh" | "kgCO2/MWh" => 1e3,
            _ => return None,
        };
        let set = lib.set_of(f);
        Some(GridFactor {
            id: f.row.id.clone(),
            set: set.header.id.clone(),
            set_version: set.header.version.clone(),
            region: f.row.region.clone(),
            year: f.row.year,
            value: f.row.value.to_string(),
            unit: f.row.unit.clone(),
            mg_per_kwh: (f.row.value * scale).round() as i64,
            source: f.row.source.clone(),
            url: f.row.url.clone(),
        })
    }

    /// Adds a user's version; an id and version that exist already is refused.
    pub fn add(&mut self, m: Methodology) -> Result<(), String> {
        if self.methodologies.iter().any(|x| x.id == m.id && x.version == m.version) {
            return Err(format!(
                "methodology {} version {} exists already: a change is a new version",
                m.id, m.version
            ));
        }
        self.methodologies.push(std::sync::Arc::new(m));
        Ok(())
    }

    /// The rule for `action`/`mode` on `day` in `region`: among the methodologies in force that
    /// day covering it, the region's own before the national one (`CN`), then the newest version.
    pub fn select(&self, action: &str, mode: &str, region: &str, day: i64) -> Option<(&Methodology, &ActionRule)> {
        let mut best: Option<(&Methodology, &ActionRule)> = None;
        for m in &self.methodologies {
            if day < m.effective_from || m.effective_to.is_some_and(|t| day > t) {
                continue;
            }
            if !(m.region == "CN" || m.region == region) {
                continue;
            }
            let Some(rule) = m.actions.iter().find(|r| r.action == action && r.mode == mode) else { continue };
            let rank = |m: &Methodology| (m.region != "CN", m.effective_from, m.version);
            if best.is_none_or(|(b, _)| rank(m) > rank(b)) {
                best = Some((m, rule));
            }
        }
        best
    }

    pub fn get(&self, id: &str, version: i64) -> Option<&Methodology> {
        self.methodologies.iter().map(|m| &**m).find(|m| m.id == id && m.version == version)
    }
}

/// Thousandths as decimal text without trailing zeros (`46700` → `46.7`).
pub fn milli_text(m: i64) -> String {
    let sign = if m < 0 { "-" } else { "" };
    let a = m.unsigned_abs();
    let (i, f) = (a / 1000, a % 1000);
    if f == 0 {
        format!("{sign}{i}")
    } else {
        format!("{sign}{i}.{}", format!("{f:03}").trim_end_matches('0'))
    }
}
