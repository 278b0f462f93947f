//! Facility attributes (issue 15): what indicators need to know of a facility beyond its type —
//! a data centre's size class, racks, design IT load, build and commissioning year and tier; a
//! base station's generation, vendor, equipment model, commissioning year and whether AI energy
//! saving is enabled; a building's floor area; a fleet's vehicles and electric vehicles.
//!
//! Versioned: a version holds the attributes that change from a date (`valid_from`, YYYY-MM-DD) on;
//! the attributes in effect at a date are all versions up to that date applied in date order
//! ([`state_at`]). The size class is filed as a class (超大型 / 大型 / 中型 / 小型, as the national
//! classification names them), not derived from the rack count: the references shipped with this
//! project give no sourced rack thresholds, so none is invented here.
//!
//! Every reason starts with a stable code (`before_commissioning: ...`).

use crate::registry::Component;
use crate::values::{Micro, MICRO};
use model::FacilityType;
use serde_json::{Map, Value};

/// A facility counts as "new" from this commissioning (or build) year on: the 2025 targets are those
/// of the 14th Five-Year Plan (2021–2025), measured against 2020.
pub const NEW_SINCE: i32 = 2021;

/// The attribute columns of facility-attributes.csv (after `facility_code,valid_from`; `source`
/// may follow).
pub const ATTRIBUTES: [&str; 13] = [
    "size_class",
    "racks",
    "design_it_kw",
    "build_year",
    "commissioning_year",
    "tier",
    "generation",
    "vendor",
    "equipment_model",
    "ai_saving",
    "floor_area_m2",
    "vehicles",
    "electric_vehicles",
];

/// The attributes a facility type takes.
pub fn applies(kind: FacilityType, attr: &str) -> bool {
    use FacilityType::*;
    match kind {
        DataCenter => matches!(
            attr,
            "size_class" | "racks" | "design_it_kw" | "build_year" | "commissioning_year" | "tier" | "floor_area_m2"
        ),
        BaseStation5g | BaseStation4g => {
            matches!(attr, "generation" | "vendor" | "equipment_model" | "commissioning_year" | "ai_saving")
        }
        MachineRoom | Office | Retail | Warehouse => {
            matches!(attr, "floor_area_m2" | "build_year" | "commissioning_year")
        }
        Fleet => matches!(attr, "vehicles" | "electric_vehicles"),
    }
}

/// One value as stored (normalised), or why it is refused.
pub fn parse_value(attr: &str, text: &str) -> Result<Value, String> {
    let t = text.trim();
    let int = |lo: i64, hi: i64| -> Result<Value, String> {
        t.parse::<i64>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
            .map(Value::from)
            .ok_or_else(|| format!("bad_value: {attr} {t:?}: expected a whole number from {lo} to {hi}"))
    };
    let decimal = || -> Result<Value, String> {
        match crate::values::parse_micro(t) {
            Ok(v) if (0..=1_000_000_000 * MICRO).contains(&v) => Ok(Value::from(crate::values::micro_to_f64(v))),
            Ok(_) => Err(format!("bad_value: {attr} {t:?}: expected a number from 0 to 10^9")),
            Err(e) => Err(format!("bad_value: {attr} {t:?}: {e}")),
        }
    };
    match attr {
        "size_class" => match t {
            "hyperscale" | "超大型" => Ok("hyperscale".into()),
            "large" | "大型" => Ok("large".into()),
            "medium" | "中型" => Ok("medium".into()),
            "small" | "小型" => Ok("small".into()),
            _ => Err(format!(
                "bad_value: size_class {t:?}: expected hyperscale, large, medium or small (超大型, 大型, 中型, 小型)"
            )),
        },
        "tier" => match t {
            "A" | "B" | "C" => Ok(t.into()),
            _ => Err(format!("bad_value: tier {t:?}: expected A, B or C (the classes of GB 50174)")),
        },
        "generation" => match t {
            "4G" | "5G" => Ok(t.into()),
            _ => Err(format!("bad_value: generation {t:?}: expected 4G or 5G")),
        },
        "ai_saving" => match t {
            "true" | "yes" | "1" | "是" => Ok(true.into()),
            "false" | "no" | "0" | "否" => Ok(false.into()),
            _ => Err(format!("bad_value: ai_saving {t:?}: expected true or false")),
        },
        "vendor" | "equipment_model" if t.chars().count() <= 100 && !t.chars().any(char::is_control) => Ok(t.into()),
        "vendor" | "equipment_model" => {
            Err(format!("bad_value: {attr}: at most 100 characters, no control characters"))
        }
        "build_year" | "commissioning_year" => int(1950, 2100),
        "racks" | "vehicles" | "electric_vehicles" => int(0, 10_000_000),
        "design_it_kw" | "floor_area_m2" => decimal(),
        _ => Err(format!("unknown_attribute: {attr:?} is not an attribute")),
    }
}

/// `YYYY-MM-DD`, a real date, year 1950–2100: the year.
pub fn date_year(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (text[..4].parse().ok()?, text[5..7].parse().ok()?, text[8..].parse().ok()?);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    ((1950..=2100).contains(&y) && (1..=days).contains(&d)).then_some(y)
}

/// The attributes in effect at `date` (YYYY-MM-DD): the versions dated up to it, applied in order.
/// `versions` are (valid_from, changed attributes), in date then version order.
pub fn state_at<'v>(
    versions: impl IntoIterator<Item = (&'v str, &'v Map<String, Value>)>,
    date: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (from, attrs) in versions {
        if from <= date {
            for (k, v) in attrs {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// The year a facility exists from: its commissioning year, else its build year.
pub fn since(state: &Map<String, Value>) -> Option<i32> {
    state.get("commissioning_year").or_else(|| state.get("build_year")).and_then(Value::as_i64).map(|y| y as i32)
}

/// Commissioned (or built) in the plan period, from [`NEW_SINCE`] on.
pub fn is_new(state: &Map<String, Value>) -> bool {
    since(state).is_some_and(|y| y >= NEW_SINCE)
}

/// A large or hyperscale data centre.
pub fn is_large(state: &Map<String, Value>) -> bool {
    matches!(state.get("size_class").and_then(Value::as_str), Some("large" | "hyperscale"))
}

/// A 5G station: of type `base_station_5g`, or generation 5G.
pub fn is_5g(kind: FacilityType, state: &Map<String, Value>) -> bool {
    kind == FacilityType::BaseStation5g || state.get("generation").and_then(Value::as_str) == Some("5G")
}

/// The count components one facility gives in `year` from its attributes at the year's end (none
/// before it exists): data centres and the large ones, base stations and those with AI saving,
/// vehicles and electric vehicles.
pub fn counts(kind: FacilityType, state: &Map<String, Value>, year: i32) -> Vec<(Component, Micro)> {
    if since(state).is_some_and(|y| y > year) {
        return Vec::new();
    }
    let n = |k: &str| state.get(k).and_then(Value::as_i64).map(|v| v as i128 * MICRO);
    match kind {
        FacilityType::DataCenter if state.contains_key("size_class") => {
            vec![(Component::DcCount, MICRO), (Component::LargeDcCount, if is_large(state) { MICRO } else { 0 })]
        }
        FacilityType::BaseStation5g | FacilityType::BaseStation4g if state.contains_key("ai_saving") => vec![
            (Component::BsCount, MICRO),
            (Component::BsAiCount, if state.get("ai_saving") == Some(&Value::Bool(true)) { MICRO } else { 0 }),
        ],
        FacilityType::Fleet => match (n("vehicles"), n("electric_vehicles")) {
            (Some(v), Some(e)) => vec![(Component::VehicleCount, v), (Component::EvCount, e)],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A facility's stored versions: (valid_from, the attributes that change then), in order.
pub type Versions = Vec<(String, Map<String, Value>)>;

/// One row of facility-attributes.csv, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRow {
    pub line: usize,
    pub facility: String,
    pub valid_from: String,
    pub attributes: Map<String, Value>,
    pub source: String,
}

/// A refused row: its line, the column and every reason (each starting with its code).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttributeError {
    pub line: usize,
    pub column: String,
    pub reason: String,
}

/// Reads facility-attributes.csv (`facility_code,valid_from`, any of [`ATTRIBUTES`], optional
/// `source`) against the platform's facilities (`kind_of`: the facility's type, `None` if unknown)
/// and the versions stored (`stored`: a facility's (valid_from, attributes) in order). Every
/// problem of every row, or the rows: an unknown facility or attribute, an attribute its type does
/// not take, a bad value, a bad date, a date before the facility existed (its commissioning or
/// build year, from the stored versions and the file), more electric vehicles than vehicles.
pub fn read_csv(
    text: &str,
    kind_of: &dyn Fn(&str) -> Option<FacilityType>,
    stored: &dyn Fn(&str) -> Versions,
) -> Result<Vec<AttributeRow>, Vec<AttributeError>> {
    let mut errors = Vec::new();
    let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect(),
        Err(e) => {
            return Err(vec![AttributeError { line: 1, column: String::new(), reason: format!("bad_file: {e}") }])
        }
    };
    for need in ["facility_code", "valid_from"] {
        if !header.iter().any(|h| h == need) {
            errors.push(AttributeError {
                line: 1,
                column: need.into(),
                reason: "missing_column: required column is missing".into(),
            });
        }
    }
    for h in &header {
        if !["facility_code", "valid_from", "source"].contains(&h.as_str()) && !ATTRIBUTES.contains(&h.as_str()) {
            errors.push(AttributeError {
                line: 1,
                column: h.clone(),
                reason: format!("unknown_attribute: {h:?} is not an attribute"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(AttributeError { line, column: String::new(), reason: format!("bad_line: {e}") });
                continue;
            }
        };
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let get = |n: &str| header.iter().position(|h| h == n).and_then(|c| rec.get(c)).unwrap_or("").to_string();
        let mut err =
            |column: &str, reason: String| errors.push(AttributeError { line, column: column.into(), reason });
        let facility = get("facility_code");
        let kind = kind_of(&facility);
        if kind.is_none() {
            err(
                "facility_code",
                format!("unknown_facility: {facility:?} is not a facility of the platform (or not in your subtree)"),
            );
        }
        let valid_from = get("valid_from");
        if date_year(&valid_from).is_none() {
            err("valid_from", format!("bad_date: {valid_from:?}: expected a date YYYY-MM-DD from 1950 to 2100"));
        }
        let mut attributes = Map::new();
        let mut given = 0;
        for a in ATTRIBUTES {
            let v = get(a);
            if v.is_empty() {
                continue;
            }
            given += 1;
            if let Some(k) = kind {
                if !applies(k, a) {
                    err(a, format!("not_applicable: a {} has no {a}", k.code()));
                    continue;
                }
            }
            match parse_value(a, &v) {
                Ok(v) => {
                    attributes.insert(a.to_string(), v);
                }
                Err(r) => err(a, r),
            }
        }
        if given == 0 && kind.is_some() {
            err("", "no_attributes: the row gives no attribute".into());
        }
        rows.push(AttributeRow { line, facility, valid_from, attributes, source: get("source") });
    }
    // Against each facility's versions, stored and sent: dates before it existed, EV counts.
    let mut facilities: Vec<&str> = rows.iter().map(|r| r.facility.as_str()).filter(|f| kind_of(f).is_some()).collect();
    facilities.sort_unstable();
    facilities.dedup();
    for f in facilities {
        let mut versions: Vec<(String, Map<String, Value>, Option<usize>)> =
            stored(f).into_iter().map(|(d, a)| (d, a, None)).collect();
        versions.extend(
            rows.iter().filter(|r| r.facility == f).map(|r| (r.valid_from.clone(), r.attributes.clone(), Some(r.line))),
        );
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        let all = state_at(versions.iter().map(|(d, a, _)| (d.as_str(), a)), "9999-12-31");
        let from = since(&all);
        for (date, _, line) in &versions {
            let (Some(line), Some(y), Some(from)) = (line, date_year(date), from) else { continue };
            if y < from {
                errors.push(AttributeError {
                    line: *line,
                    column: "valid_from".into(),
                    reason: format!("before_commissioning: {f}: an attribute change dated {date} is before the facility existed (from {from})"),
                });
            }
        }
        for (date, _, line) in &versions {
            let Some(line) = line else { continue };
            let s = state_at(versions.iter().map(|(d, a, _)| (d.as_str(), a)), date);
            if let (Some(v), Some(e)) =
                (s.get("vehicles").and_then(Value::as_i64), s.get("electric_vehicles").and_then(Value::as_i64))
            {
                if e > v {
                    errors.push(AttributeError {
                        line: *line,
                        column: "electric_vehicles".into(),
                        reason: format!(
                            "more_evs_than_vehicles: {f}: {e} electric vehicles of {v} vehicles from {date}"
                        ),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(f: &str) -> Option<FacilityType> {
        match f {
            "DC1" => Some(FacilityType::DataCenter),
            "BS1" => Some(FacilityType::BaseStation5g),
            "FL1" => Some(FacilityType::Fleet),
            _ => None,
        }
    }

    #[test]
    fn versions_apply_in_date_order_and_counts_follow_the_year() {
        let csv = "facility_code,valid_from,size_class,commissioning_year,ai_saving,vehicles,electric_vehicles\n\
                   DC1,2021-06-01,大型,2021,,,\nBS1,2020-01-01,,2019,false,,\nBS1,2023-01-01,,,true,,\nFL1,2020-01-01,,,,10,1\nFL1,2024-01-01,,,,10,4\n";
        let rows = read_csv(csv, &kind, &|_| Vec::new()).unwrap();
        assert_eq!(rows.len(), 5);
        let versions = |f: &str| {
            rows.iter().filter(|r| r.facility == f).map(|r| (r.valid_from.as_str(), &r.attributes)).collect::<Vec<_>>()
        };
        let dc = state_at(versions("DC1"), "2024-12-31");
        assert!(is_large(&dc) && is_new(&dc));
        assert!(counts(FacilityType::DataCenter, &dc, 2020).is_empty(), "not yet built in 2020");
        assert_eq!(
            counts(FacilityType::DataCenter, &dc, 2022),
            vec![(Component::DcCount, MICRO), (Component::LargeDcCount, MICRO)]
        );
        let bs22 = state_at(versions("BS1"), "2022-12-31");
        let bs23 = state_at(versions("BS1"), "2023-12-31");
        assert_eq!(counts(FacilityType::BaseStation5g, &bs22, 2022)[1], (Component::BsAiCount, 0));
        assert_eq!(counts(FacilityType::BaseStation5g, &bs23, 2023)[1], (Component::BsAiCount, MICRO));
        assert!(!is_new(&bs23) && is_5g(FacilityType::BaseStation5g, &bs23));
        let fl = state_at(versions("FL1"), "2024-12-31");
        assert_eq!(
            counts(FacilityType::Fleet, &fl, 2024),
            vec![(Component::VehicleCount, 10 * MICRO), (Component::EvCount, 4 * MICRO)]
        );
    }

    #[test]
    fn bad_rows_are_all_refused_with_their_codes() {
        let csv = "facility_code,valid_from,size_class,commissioning_year,racks,vehicles,electric_vehicles\n\
                   XX,2021-01-01,large,,,,\nDC1,2019-06-01,large,2021,,,\nDC1,2021-02-30,,,,,\nDC1,2022-01-01,huge,,,,\n\
                   BS1,2022-01-01,large,,,,\nFL1,2022-01-01,,,,3,5\nDC1,2022-02-01,,,-4,,\n";
        let errs = read_csv(csv, &kind, &|_| Vec::new()).unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.reason.split(':').next().unwrap())).collect();
        assert_eq!(
            got,
            vec![
                (2, "unknown_facility"),
                (3, "before_commissioning"),
                (4, "bad_date"),
                (4, "no_attributes"),
                (5, "bad_value"),
                (6, "not_applicable"),
                (7, "more_evs_than_vehicles"),
                (8, "bad_value"),
            ]
        );
        // A stored commissioning year refuses a later row dated before it.
        let stored = |f: &str| {
            if f == "DC1" {
                let mut m = Map::new();
                m.insert("commissioning_year".into(), 2022.into());
                vec![("2022-01-01".to_string(), m)]
            } else {
                Vec::new()
            }
        };
        let errs = read_csv("facility_code,valid_from,racks\nDC1,2021-05-01,300\n", &kind, &stored).unwrap_err();
        assert!(errs[0].reason.starts_with("before_commissioning"), "{errs:?}");
    }
}
