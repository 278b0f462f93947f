//! Green logistics indicators: the share of green packaging and the number of cities with
//! new-energy delivery vehicles, against the white paper's 2025 targets (≥ 90 % green packaging,
//! new-energy delivery in more than 100 cities). Shares are ratios of sums, never averages of ratios.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const GREEN_PACKAGING_TARGET_2025: f64 = 0.90;
/// "More than 100 cities".
pub const NEV_CITIES_TARGET_2025: usize = 101;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackagingRecord {
    /// The record's reference in its file (`line` column).
    #[serde(default)]
    pub line: String,
    pub org: String,
    pub period: String,
    pub packages: u64,
    pub green_packages: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    #[serde(default)]
    pub line: String,
    pub org: String,
    pub city: String,
    pub period: String,
    /// `new_energy` or `conventional`.
    pub vehicle: String,
    pub deliveries: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicators {
    pub packages: u64,
    pub green_packages: u64,
    pub green_packaging_share: Option<f64>,
    pub green_packaging_target: f64,
    pub green_packaging_met: bool,
    pub nev_cities: usize,
    pub nev_cities_target: usize,
    pub nev_cities_met: bool,
}

pub fn indicators(packaging: &[PackagingRecord], deliveries: &[DeliveryRecord]) -> Indicators {
    let packages: u64 = packaging.iter().map(|r| r.packages).sum();
    let green: u64 = packaging.iter().map(|r| r.green_packages.min(r.packages)).sum();
    let share = (packages > 0).then(|| green as f64 / packages as f64);
    let cities: BTreeSet<&str> =
        deliveries.iter().filter(|d| d.vehicle == "new_energy" && d.deliveries > 0).map(|d| d.city.as_str()).collect();
    Indicators {
        packages,
        green_packages: green,
        green_packaging_share: share,
        green_packaging_target: GREEN_PACKAGING_TARGET_2025,
        green_packaging_met: share.is_some_and(|s| s >= GREEN_PACKAGING_TARGET_2025),
        nev_cities: cities.len(),
        nev_cities_target: NEV_CITIES_TARGET_2025,
        nev_cities_met: cities.len() >= NEV_CITIES_TARGET_2025,
    }
}

/// The columns of packaging.csv: the record's reference, org, period (`YYYY` or `YYYY-MM`),
/// packages shipped and those in green packaging.
pub const PACKAGING_COLUMNS: &[&str] = &["line", "org", "period", "packages", "green_packages"];
/// The columns of deliveries.csv: reference, org, city, period, vehicle (`new_energy` or
/// `conventional`), deliveries.
pub const DELIVERY_COLUMNS: &[&str] = &["line", "org", "city", "period", "vehicle", "deliveries"];
pub const VEHICLES: &[&str] = &["new_energy", "conventional"];

/// The year of a period `YYYY` or `YYYY-MM`.
pub fn period_year(p: &str) -> Option<i32> {
    let (y, m) = match p.split_once('-') {
        Some((y, m)) => (y, Some(m)),
        None => (p, None),
    };
    let year: i32 = y.parse().ok().filter(|_| y.len() == 4)?;
    if let Some(m) = m {
        let month: u32 = m.parse().ok().filter(|_| m.len() == 2)?;
        if !(1..=12).contains(&month) {
            return None;
        }
    }
    crate::YEARS.contains(&year).then_some(year)
}

fn rows(
    data: &[u8],
    file: &str,
    cols: &[&str],
    p: &mut Vec<crate::scope3::LineProblem>,
    mut each: impl FnMut(&str, &dyn Fn(usize) -> String, &mut Vec<crate::scope3::LineProblem>),
) {
    use crate::scope3::LineProblem;
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(data);
    let headers = match r.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            p.push(LineProblem { line: format!("{file}:1"), field: "(header)".into(), reason: e.to_string() });
            return;
        }
    };
    let mut ix = Vec::new();
    for c in cols {
        match headers.iter().position(|h| h.trim_start_matches('\u{feff}').trim() == *c) {
            Some(i) => ix.push(i),
            None => {
                p.push(LineProblem { line: format!("{file}:1"), field: (*c).into(), reason: "column missing".into() })
            }
        }
    }
    if ix.len() != cols.len() {
        return;
    }
    let mut seen = std::collections::BTreeSet::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |x| x.line());
                p.push(LineProblem { line: format!("{file}:{line}"), field: "(row)".into(), reason: e.to_string() });
                break;
            }
        };
        let at = format!("{file}:{}", rec.position().map_or(0, |x| x.line()));
        let get = |i: usize| rec.get(ix[i]).unwrap_or("").trim().to_string();
        let reference = get(0);
        if reference.is_empty() || reference.len() > 64 {
            p.push(LineProblem {
                line: at.clone(),
                field: "line".into(),
                reason: "a reference of 1 to 64 characters".into(),
            });
        } else if !seen.insert(reference.clone()) {
            p.push(LineProblem {
                line: at.clone(),
                field: "line".into(),
                reason: format!("{reference:?} appears twice"),
            });
        }
        if get(1).is_empty() {
            p.push(LineProblem { line: at.clone(), field: "org".into(), reason: "is required".into() });
        }
        each(&at, &get, p);
    }
}

fn count(p: &mut Vec<crate::scope3::LineProblem>, at: &str, field: &str, v: &str) -> u64 {
    match v.parse::<u64>() {
        Ok(n) if n <= 1_000_000_000_000 => n,
        _ => {
            p.push(crate::scope3::LineProblem {
                line: at.into(),
                field: field.into(),
                reason: format!("{v:?} is not a whole number from 0 to 10^12"),
            });
            0
        }
    }
}

fn period(p: &mut Vec<crate::scope3::LineProblem>, at: &str, v: &str) {
    if period_year(v).is_none() {
        p.push(crate::scope3::LineProblem {
            line: at.into(),
            field: "period".into(),
            reason: format!("{v:?} is not a period YYYY or YYYY-MM"),
        });
    }
}

/// Packaging records from packaging.csv: every problem of every row at once (file line and field).
pub fn read_packaging(data: &[u8], file: &str) -> Result<Vec<PackagingRecord>, Vec<crate::scope3::LineProblem>> {
    let mut p = Vec::new();
    let mut out = Vec::new();
    rows(data, file, PACKAGING_COLUMNS, &mut p, |at, g, p| {
        period(p, at, &g(2));
        let packages = count(p, at, "packages", &g(3));
        let green = count(p, at, "green_packages", &g(4));
        if green > packages {
            p.push(crate::scope3::LineProblem {
                line: at.into(),
                field: "green_packages".into(),
                reason: format!("{green} is more than the {packages} packages"),
            });
        }
        out.push(PackagingRecord { line: g(0), org: g(1), period: g(2), packages, green_packages: green });
    });
    if p.is_empty() {
        Ok(out)
    } else {
        Err(p)
    }
}

/// Delivery records from deliveries.csv: every problem of every row at once.
pub fn read_deliveries(data: &[u8], file: &str) -> Result<Vec<DeliveryRecord>, Vec<crate::scope3::LineProblem>> {
    let mut p = Vec::new();
    let mut out = Vec::new();
    rows(data, file, DELIVERY_COLUMNS, &mut p, |at, g, p| {
        let city = g(2);
        if city.is_empty() || city.chars().count() > 64 {
            p.push(crate::scope3::LineProblem {
                line: at.into(),
                field: "city".into(),
                reason: "a name of 1 to 64 characters".into(),
            });
        }
        period(p, at, &g(3));
        let vehicle = g(4);
        if !VEHICLES.contains(&vehicle.as_str()) {
            p.push(crate::scope3::LineProblem {
                line: at.into(),
                field: "vehicle".into(),
                reason: format!("{vehicle:?} is not one of {}", VEHICLES.join(", ")),
            });
        }
        let deliveries = count(p, at, "deliveries", &g(5));
        out.push(DeliveryRecord { line: g(0), org: g(1), city, period: g(3), vehicle, deliveries });
    });
    if p.is_empty() {
        Ok(out)
    } else {
        Err(p)
    }
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    #[test]
    fn packaging_and_delivery_files_name_every_bad_field() {
        let ok = read_packaging(
            b"line,org,period,packages,green_packages\nP1,CT-GD,2025,100,95\nP2,CT-GD,2025-03,10,9\n",
            "packaging.csv",
        )
        .unwrap();
        assert_eq!((ok.len(), ok[0].packages, ok[1].green_packages), (2, 100, 9));
        let bad = read_packaging(
            b"line,org,period,packages,green_packages\nP1,CT-GD,2025-13,x,5\nP1,,2025,1,2\n",
            "packaging.csv",
        )
        .unwrap_err();
        let got: Vec<(String, String)> = bad.iter().map(|p| (p.line.clone(), p.field.clone())).collect();
        let want = [
            ("packaging.csv:2", "period"),
            ("packaging.csv:2", "packages"),
            ("packaging.csv:2", "green_packages"),
            ("packaging.csv:3", "line"),
            ("packaging.csv:3", "org"),
            ("packaging.csv:3", "green_packages"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())), "{bad:?}");
        let bad =
            read_deliveries(b"line,org,city,period,vehicle,deliveries\nD1,CT-GD,,2025,diesel,-1\n", "deliveries.csv")
                .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["city", "vehicle", "deliveries"]);
        let missing = read_deliveries(b"line,org,period\n", "deliveries.csv").unwrap_err();
        assert_eq!(missing.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["city", "vehicle", "deliveries"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_of_sums_and_distinct_cities() {
        let p = [
            PackagingRecord {
                line: String::new(),
                org: "a".into(),
                period: "2025".into(),
                packages: 100,
                green_packages: 99,
            },
            PackagingRecord {
                line: String::new(),
                org: "b".into(),
                period: "2025".into(),
                packages: 900,
                green_packages: 800,
            },
        ];
        let d = |city: &str, v: &str, n: u64| DeliveryRecord {
            line: String::new(),
            org: "a".into(),
            city: city.into(),
            period: "2025".into(),
            vehicle: v.into(),
            deliveries: n,
        };
        let i = indicators(
            &p,
            &[
                d("广州", "new_energy", 5),
                d("广州", "new_energy", 1),
                d("深圳", "conventional", 9),
                d("佛山", "new_energy", 0),
            ],
        );
        // (99 + 800) / 1,000 = 89.9 % (the mean of 99 % and 88.9 % would be 93.9 %).
        assert_eq!(i.green_packaging_share, Some(0.899));
        assert!(!i.green_packaging_met);
        assert_eq!(i.nev_cities, 1);
    }
}
