//! The demo operator's indicator inputs beyond its activity (issue 15), written next to the files
//! of [`crate::generate`] from its facilities.csv: business data per province and year
//! (`business-data.csv`, docs/formats.md), facility attributes (`facility-attributes.csv`) and the
//! base-station saving runs to record (`saving-runs.csv`: org, year, station, base load; the traffic
//! of a run is [`cells_csv`]).
//!
//! Every number here is illustrative (no operator publishes them per province): magnitudes are
//! set per site, and each province draws its own rates from its own random stream, so that the
//! 2025 scoreboard spreads — some provinces ahead of their trajectory, some behind. Deterministic
//! per (facilities, years, seed).

use super::Rng;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

/// The price base of the business volume filed (constant prices of the targets' base year).
pub const PRICE_BASE: i32 = 2020;

/// One saving run to record: the stations of an org's run for a year and their traffic's base load.
#[derive(Debug, Clone, PartialEq)]
pub struct SavingRun {
    pub org: String,
    pub year: i32,
    pub stations: Vec<String>,
    pub base_load: f64,
}

struct Fac {
    code: String,
    kind: String,
    org: String,
    province: String,
}

/// A province's own rates (illustrative), from its own random stream.
struct Rates {
    business_growth: f64,
    traffic_factor: f64,
    large_share: f64,
    ai_share: f64,
    ev_start: f64,
    ev_end: f64,
    compute_gain: f64,
    base_load: f64,
}

fn rates(seed: u64, province: &str) -> Rates {
    let stream = province.bytes().fold(0xB5u64, |h, b| h.wrapping_mul(131).wrapping_add(b as u64));
    let mut r = Rng::new(seed, stream);
    Rates {
        business_growth: r.range(0.03, 0.16),
        traffic_factor: r.range(0.15, 1.3),
        large_share: r.range(0.5, 1.0),
        ai_share: r.range(0.2, 0.9),
        ev_start: r.range(0.0, 0.05),
        ev_end: r.range(0.05, 0.45),
        compute_gain: r.range(0.0, 0.09),
        base_load: r.range(0.12, 0.55),
    }
}

fn read_facilities(out: &Path) -> io::Result<Vec<Fac>> {
    let text = std::fs::read_to_string(out.join("facilities.csv"))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() >= 4).then(|| {
                let org = f[3].to_string();
                let province = org.split('-').take(2).collect::<Vec<_>>().join("-");
                Fac { code: f[0].into(), kind: f[2].into(), org, province }
            })
        })
        .collect())
}

/// Mobile traffic growth into `year` scaled by a province's factor.
fn traffic_index(year: i32, base: i32, factor: f64) -> f64 {
    let mut v = 1.0;
    if year >= base {
        for y in base + 1..=year {
            v *= 1.0 + factor * crate::traffic_growth(y);
        }
    } else {
        for y in year + 1..=base {
            v /= 1.0 + factor * crate::traffic_growth(y);
        }
    }
    v
}

fn fmt(v: f64) -> String {
    format!("{v:.3}")
}

/// Writes business-data.csv, facility-attributes.csv and saving-runs.csv into `out` (which holds
/// the generated facilities.csv) for `first..=last`. Returns the saving runs.
pub fn write(out: &Path, first: i32, last: i32, seed: u64) -> io::Result<Vec<SavingRun>> {
    let facilities = read_facilities(out)?;
    let mut provinces: BTreeMap<String, Vec<&Fac>> = BTreeMap::new();
    for f in &facilities {
        provinces.entry(f.province.clone()).or_default().push(f);
    }
    // Business data per province and year.
    let mut b = io::BufWriter::new(std::fs::File::create(out.join("business-data.csv"))?);
    writeln!(b, "org_code,period,metric,value,unit,source_document")?;
    for (p, facs) in &provinces {
        let r = rates(seed, p);
        let count = |k: &str| facs.iter().filter(|f| f.kind == k).count() as f64;
        let sites = facs.iter().filter(|f| f.kind != "fleet").count() as f64;
        let (n5g, ndc) = (count("base_station_5g").max(1.0), count("data_center").max(1.0));
        for y in first..=last {
            let t = (y - PRICE_BASE) as f64;
            let doc = format!("统计报表-{p}-{y}");
            let rows = [
                (
                    "business_volume_10k_yuan",
                    sites * 60.0 * (1.0 + r.business_growth).powf(t),
                    format!("10^4 yuan@{PRICE_BASE}"),
                ),
                ("revenue_10k_yuan", sites * 45.0 * 1.04f64.powf(t), "10^4 yuan".to_string()),
                ("traffic_tb", sites * 40.0 * traffic_index(y, PRICE_BASE, r.traffic_factor), "TB".to_string()),
                ("bs5g_traffic_gb", n5g * 20_000.0 * traffic_index(y, PRICE_BASE, r.traffic_factor), "GB".to_string()),
                (
                    "server_compute_tflops",
                    ndc * 800.0 * 1.12f64.powf(t) * (1.0 + r.compute_gain).powf(t),
                    "TFLOPS".to_string(),
                ),
                ("server_power_kw", ndc * 400.0 * 1.12f64.powf(t), "kW".to_string()),
            ];
            for (metric, value, unit) in rows {
                writeln!(b, "{p},{y},{metric},{},{unit},{doc}", fmt(value))?;
            }
        }
    }
    b.flush()?;
    // Facility attributes, versioned.
    let mut a = io::BufWriter::new(std::fs::File::create(out.join("facility-attributes.csv"))?);
    writeln!(
        a,
        "facility_code,valid_from,size_class,racks,design_it_kw,build_year,commissioning_year,tier,generation,vendor,equipment_model,ai_saving,floor_area_m2,vehicles,electric_vehicles,source"
    )?;
    const VENDORS: [&str; 4] = ["华为", "中兴", "爱立信", "诺基亚贝尔"];
    let mut runs = Vec::new();
    for (p, facs) in &provinces {
        let r = rates(seed, p);
        let stream = p.bytes().fold(0xA7u64, |h, b| h.wrapping_mul(131).wrapping_add(b as u64));
        let mut rng = Rng::new(seed, stream);
        let mut new_5g: Vec<(i32, String, String)> = Vec::new();
        for f in facs {
            match f.kind.as_str() {
                "data_center" => {
                    let large = rng.chance(r.large_share);
                    let (class, racks) = if large {
                        (if rng.chance(0.3) { "hyperscale" } else { "large" }, 3000 + rng.below(9000))
                    } else {
                        ("medium", 300 + rng.below(2000))
                    };
                    let year = 2008 + rng.below(16) as i32;
                    let it_kw = racks as f64 * 2.5;
                    let tier = ["A", "B", "C"][rng.below(3) as usize];
                    writeln!(a, "{},{year}-06-01,{class},{racks},{it_kw:.1},{year},{year},{tier},,,,,,,,demo", f.code)?;
                }
                "base_station_5g" | "base_station_4g" => {
                    let is5 = f.kind == "base_station_5g";
                    let year = if is5 { 2019 + rng.below(5) as i32 } else { 2014 + rng.below(6) as i32 };
                    let vendor = VENDORS[rng.below(4) as usize];
                    let model = if is5 {
                        format!("AAU{}", 5600 + rng.below(40))
                    } else {
                        format!("RRU{}", 3900 + rng.below(80))
                    };
                    let generation = if is5 { "5G" } else { "4G" };
                    writeln!(a, "{},{year}-03-01,,,,,{year},,{generation},{vendor},{model},false,,,,demo", f.code)?;
                    if rng.chance(r.ai_share) {
                        let on = (year + 1).max(2021) + rng.below(3) as i32;
                        if on <= last {
                            writeln!(a, "{},{on}-07-01,,,,,,,,,,true,,,,demo", f.code)?;
                        }
                    }
                    if is5 && year >= 2021 {
                        new_5g.push((year, f.code.clone(), f.org.clone()));
                    }
                }
                "office" | "machine_room" | "retail" | "warehouse" => {
                    let area = 500.0 + rng.below(20_000) as f64;
                    writeln!(a, "{},2000-01-01,,,,2000,,,,,,,{area:.0},,,demo", f.code)?;
                }
                "fleet" => {
                    let vehicles = 5 + rng.below(40);
                    for y in first..=last {
                        let t = if last > first { (y - first) as f64 / (last - first) as f64 } else { 1.0 };
                        let share = r.ev_start + (r.ev_end - r.ev_start) * t;
                        let evs = ((vehicles as f64) * share).round() as u64;
                        writeln!(a, "{},{y}-01-01,,,,,,,,,,,,{vehicles},{evs},demo", f.code)?;
                    }
                }
                _ => {}
            }
        }
        // One saving run a year on the province's new 5G stations in service (at most three).
        new_5g.sort();
        for y in first.max(2021)..=last {
            let stations: Vec<String> =
                new_5g.iter().filter(|(c, _, _)| *c <= y).take(3).map(|(_, s, _)| s.clone()).collect();
            if !stations.is_empty() {
                runs.push(SavingRun { org: p.clone(), year: y, stations, base_load: r.base_load });
            }
        }
    }
    a.flush()?;
    let mut s = io::BufWriter::new(std::fs::File::create(out.join("saving-runs.csv"))?);
    writeln!(s, "org_code,period,facility_code,base_load")?;
    for r in &runs {
        for st in &r.stations {
            writeln!(s, "{},{},{st},{:.3}", r.org, r.year, r.base_load)?;
        }
    }
    s.flush()?;
    write_water_waste(out, &provinces, first, last, seed)?;
    Ok(runs)
}

/// Per facility type, a year's water (m³), hazardous waste (t: lead-acid batteries, mostly) and
/// non-hazardous waste (t) of one site: illustrative magnitudes for the demo, not reference figures.
fn water_waste_per_site(kind: &str) -> (f64, f64, f64) {
    match kind {
        "data_center" => (20_000.0, 3.0, 20.0),
        "machine_room" => (200.0, 0.3, 0.5),
        "office" => (1_500.0, 0.05, 5.0),
        "retail" => (150.0, 0.0, 1.0),
        "warehouse" => (100.0, 0.1, 2.0),
        "base_station_5g" | "base_station_4g" => (0.0, 0.02, 0.01),
        _ => (0.0, 0.0, 0.0),
    }
}

/// The source the demo's water and waste figures carry: illustrative, not measured.
pub const WATER_WASTE_SOURCE: &str = "demo: illustrative values (not measured)";

/// Writes `water-waste.csv` (indicator data: org_code, period, component, value, source) with the
/// demo's water and waste per province and year, marked as demo values by their source.
fn write_water_waste(
    out: &Path,
    provinces: &BTreeMap<String, Vec<&Fac>>,
    first: i32,
    last: i32,
    seed: u64,
) -> io::Result<()> {
    let mut w = io::BufWriter::new(std::fs::File::create(out.join("water-waste.csv"))?);
    writeln!(w, "org_code,period,component,value,source")?;
    for (p, facs) in provinces {
        let stream = p.bytes().fold(0xC3u64, |h, b| h.wrapping_mul(131).wrapping_add(b as u64));
        let mut rng = Rng::new(seed, stream);
        let (mut water, mut hazardous, mut other) = (0.0, 0.0, 0.0);
        for f in facs {
            let (a, b, c) = water_waste_per_site(&f.kind);
            water += a;
            hazardous += b;
            other += c;
        }
        for y in first..=last {
            let k = rng.range(0.9, 1.1);
            for (component, v) in
                [("water_m3", water), ("waste_hazardous_t", hazardous), ("waste_non_hazardous_t", other)]
            {
                if v > 0.0 {
                    writeln!(w, "{p},{y},{component},{},{WATER_WASTE_SOURCE}", fmt(v * k))?;
                }
            }
        }
    }
    w.flush()
}

/// Reads saving-runs.csv back (one run per org and year).
pub fn read_saving_runs(out: &Path) -> io::Result<Vec<SavingRun>> {
    let text = std::fs::read_to_string(out.join("saving-runs.csv"))?;
    let mut runs: Vec<SavingRun> = Vec::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() < 4 {
            continue;
        }
        let (org, year, station, load) = (f[0], f[1].parse().unwrap_or(0), f[2], f[3].parse().unwrap_or(0.3));
        match runs.last_mut() {
            Some(r) if r.org == org && r.year == year => r.stations.push(station.into()),
            _ => runs.push(SavingRun { org: org.into(), year, stations: vec![station.into()], base_load: load }),
        }
    }
    Ok(runs)
}

/// Two days of hourly load of two cells per station (ITU 2023 layout, `Time,BS,CellName,load`): a
/// coverage cell at `base_load` plus a daytime swell, and a capacity cell nearly idle at night. The
/// sample is dated March 2024 whatever the run's year (the layout starts in 2023): it stands for the
/// year's typical days.
pub fn cells_csv(run: &SavingRun) -> String {
    let mut s = String::from("Time,BS,CellName,load\n");
    for st in &run.stations {
        for day in 1..=2 {
            for h in 0..24 {
                let sun = ((h as f64 - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
                let (l0, l1) =
                    ((run.base_load + 0.3 * sun).min(0.95), (0.02 + 0.45 * sun * run.base_load * 2.0).min(0.95));
                s.push_str(&format!(
                    "3/{day}/2024 {h}:00,{st},Cell0,{l0:.4}\n3/{day}/2024 {h}:00,{st},Cell1,{l1:.4}\n"
                ));
            }
        }
    }
    s
}
