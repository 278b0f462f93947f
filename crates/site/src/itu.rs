//! The ITU AI/ML in 5G Challenge 2023 energy dataset (real base stations, hourly, 1–8 January 2023,
//! anonymised energy units): reading it, the empirical static share of base-station energy, the effect
//! of the energy-saving modes, and per-cell traffic for the sleep scheduler. Read from
//! `../shared/data/itu-5g-energy-2023/` (third-party data, never copied into the repository).

use crate::bs::StationTraffic;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One CLdata row: a cell's hour.
#[derive(Debug, Clone, PartialEq)]
pub struct CellHour {
    /// Hours since 2023-01-01 00:00 (local).
    pub hour: u32,
    pub station: String,
    pub cell: String,
    pub load: f64,
    pub es_modes: [f64; 6],
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItuData {
    pub cells: Vec<CellHour>,
    /// (station, hour) → energy.
    pub energy: HashMap<(String, u32), f64>,
}

/// `M/D/YYYY H:MM` → hours since 2023-01-01 00:00 (the dataset covers January 2023 only).
fn parse_hour(s: &str) -> Option<u32> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('/');
    let (m, day, y): (u32, u32, i32) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let h: u32 = time.split(':').next()?.parse().ok()?;
    let days = crate::weather::days_from_civil(y, m, day) - crate::weather::days_from_civil(2023, 1, 1);
    (days >= 0 && h < 24).then(|| days as u32 * 24 + h)
}

/// Reads per-cell hourly load in the CLdata layout: `Time,BS,CellName,load[,ESMode1..ESMode6]`, time as
/// `M/D/YYYY H:MM` in January 2023 or later; ESMode columns are optional (0 when absent). Every bad row
/// is reported.
pub fn parse_cells(file: &str, text: &str, errors: &mut Vec<String>) -> Vec<CellHour> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').map(str::trim).collect();
    if header.get(..4) != Some(&["Time", "BS", "CellName", "load"][..]) {
        errors.push(format!("{file}:1: header must start with Time,BS,CellName,load (found {header:?})"));
        return out;
    }
    let es_cols = header.len().saturating_sub(4).min(6);
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = (|| {
            let hour = parse_hour(f.first()?)?;
            let load: f64 = f.get(3)?.trim().parse().ok()?;
            if !(0.0..=1.0).contains(&load) {
                return None;
            }
            let mut es = [0.0; 6];
            for (k, v) in es.iter_mut().enumerate().take(es_cols) {
                *v = f.get(4 + k)?.trim().parse().ok()?;
            }
            Some(CellHour { hour, station: f.get(1)?.to_string(), cell: f.get(2)?.to_string(), load, es_modes: es })
        })();
        match parsed {
            Some(c) => out.push(c),
            None => {
                errors.push(format!("{file}:{}: cannot read row '{line}' (time M/D/YYYY H:MM, load in [0, 1])", i + 2))
            }
        }
    }
    out
}

/// Reads CLdata.csv and ECdata.csv from the dataset folder; every bad row is reported.
pub fn load(dir: &Path) -> Result<ItuData, Vec<String>> {
    let mut errors = Vec::new();
    let mut data = ItuData::default();
    let read = |name: &str, errors: &mut Vec<String>| match std::fs::read_to_string(dir.join(name)) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("{}: cannot read: {e}", dir.join(name).display()));
            String::new()
        }
    };
    let cl = read("CLdata.csv", &mut errors);
    if !cl.is_empty() {
        data.cells = parse_cells("CLdata.csv", &cl, &mut errors);
    }
    let ec = read("ECdata.csv", &mut errors);
    for (i, line) in ec.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = (|| Some(((f.get(1)?.to_string(), parse_hour(f.first()?)?), f.get(2)?.parse::<f64>().ok()?)))();
        match parsed {
            Some((k, v)) => {
                data.energy.insert(k, v);
            }
            None => errors.push(format!("ECdata.csv:{}: cannot read row '{line}'", i + 1)),
        }
    }
    if errors.is_empty() {
        Ok(data)
    } else {
        Err(errors)
    }
}

/// Ordinary least squares y = a + b·x; returns (a, b, R²).
pub fn linear_fit(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let a = my - b * mx;
    Some((a, b, sxy * sxy / (sxx * syy)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Empirical load dependency of single-cell base stations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StaticShare {
    pub stations: usize,
    /// Median over stations of a/(a + b) of the fit energy = a + b·load on hours without energy saving.
    pub median_static_share: f64,
    pub median_r2: f64,
}

/// The energy-saving modes' effect: mean relative deviation of energy from the station's own no-saving
/// fit, over hours where a mode was active at least half the hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EsEffect {
    /// Per mode 1..6: (station-hours, mean (E − fit)/fit).
    pub by_mode: Vec<(usize, f64)>,
    /// All hours with any mode active ≥ half the hour.
    pub any: (usize, f64),
}

/// Per single-cell station: its hours as (load, energy, es_modes).
type StationHours<'a> = BTreeMap<&'a str, Vec<(f64, f64, [f64; 6])>>;

fn single_cell_hours(data: &ItuData) -> StationHours<'_> {
    let mut cells_per_station: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
    for c in &data.cells {
        cells_per_station.entry(&c.station).or_default().insert(&c.cell);
    }
    let mut out = StationHours::new();
    for c in &data.cells {
        if c.cell != "Cell0" || cells_per_station[c.station.as_str()].len() != 1 {
            continue;
        }
        if let Some(e) = data.energy.get(&(c.station.clone(), c.hour)) {
            out.entry(&c.station).or_default().push((c.load, *e, c.es_modes));
        }
    }
    out
}

/// Static share over single-cell stations with at least `min_hours` hours without any saving mode.
pub fn static_share(data: &ItuData, min_hours: usize) -> StaticShare {
    let (mut shares, mut r2s) = (Vec::new(), Vec::new());
    for hours in single_cell_hours(data).values() {
        let plain: Vec<(f64, f64)> =
            hours.iter().filter(|h| h.2.iter().all(|m| *m == 0.0)).map(|h| (h.0, h.1)).collect();
        if plain.len() < min_hours {
            continue;
        }
        if let Some((a, b, r2)) = linear_fit(&plain) {
            shares.push(a / (a + b));
            r2s.push(r2);
        }
    }
    StaticShare { stations: shares.len(), median_static_share: median(shares), median_r2: median(r2s) }
}

pub fn es_effect(data: &ItuData, min_hours: usize) -> EsEffect {
    let mut by_mode = vec![(0usize, 0.0f64); 6];
    let mut any = (0usize, 0.0f64);
    for hours in single_cell_hours(data).values() {
        let plain: Vec<(f64, f64)> =
            hours.iter().filter(|h| h.2.iter().all(|m| *m == 0.0)).map(|h| (h.0, h.1)).collect();
        if plain.len() < min_hours {
            continue;
        }
        let Some((a, b, _)) = linear_fit(&plain) else { continue };
        for (load, energy, modes) in hours {
            let fit = a + b * load;
            if fit <= 0.0 {
                continue;
            }
            let rel = (energy - fit) / fit;
            let mut active = false;
            for (k, m) in modes.iter().enumerate() {
                if *m >= 0.5 {
                    by_mode[k].0 += 1;
                    by_mode[k].1 += rel;
                    active = true;
                }
            }
            if active {
                any.0 += 1;
                any.1 += rel;
            }
        }
    }
    let mean = |(n, s): (usize, f64)| (n, if n > 0 { s / n as f64 } else { 0.0 });
    EsEffect { by_mode: by_mode.into_iter().map(mean).collect(), any: mean(any) }
}

/// Per-station hourly cell loads for the scheduler: hours where every cell of the station has a row,
/// in time order; Cell0 is taken as the coverage cell (the dataset does not say which cell covers).
pub fn stations(data: &ItuData) -> Vec<StationTraffic> {
    let mut by_station: BTreeMap<&str, BTreeMap<&str, BTreeMap<u32, f64>>> = BTreeMap::new();
    for c in &data.cells {
        by_station.entry(&c.station).or_default().entry(&c.cell).or_default().insert(c.hour, c.load);
    }
    let mut out = Vec::new();
    for (station, cells) in by_station {
        let Some(first) = cells.get("Cell0") else { continue };
        let hours: Vec<u32> = first.keys().copied().filter(|h| cells.values().all(|c| c.contains_key(h))).collect();
        if hours.is_empty() {
            continue;
        }
        let mut names: Vec<&str> = cells.keys().copied().collect();
        names.sort_by_key(|n| (*n != "Cell0", *n));
        out.push(StationTraffic {
            station: station.to_string(),
            hours_of_day: hours.iter().map(|h| (h % 24) as u8).collect(),
            cells: names.iter().map(|n| (n.to_string(), hours.iter().map(|h| cells[n][h]).collect())).collect(),
        });
    }
    out
}
