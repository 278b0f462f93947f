//! The site benchmark: a one-year simulation of many sites (issue 5: 100,000 sites, hourly, ≤ 10 s).
//! Sites share one weather file; each has its own PV, battery, fuel-cell sizes, load level and set
//! points (deterministic variations of a base site). The PV chain runs once per weather file (DC on the
//! bus is linear in the nameplate); every site then runs the full controller step by step.

use crate::sim::{load_series_hours, pv_bus_w, resized, RunTotals, Runner, SiteConfig};
use crate::weather::Weather;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchResult {
    pub sites: usize,
    pub steps_per_site: usize,
    pub threads: usize,
    pub pv_chain_s: f64,
    pub simulate_s: f64,
    pub steps_per_second: f64,
    pub total_load_mwh: f64,
    pub total_unserved_mwh: f64,
    pub total_methanol_l: f64,
    pub sites_with_unserved: usize,
    pub fuel_cell_starts: u64,
}

/// Sites advanced together by one worker.
const LANES: usize = 2;

/// SplitMix64: a fixed, documented generator so every run simulates the same sites.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D049BB133111EB);
    x ^ (x >> 31)
}

fn unit(seed: u64, k: u64) -> f64 {
    (splitmix(seed.wrapping_mul(31).wrapping_add(k)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Site number `i`: PV 0.6–1.6×, battery 0.5–1.5×, fuel cell 0.75–1.25×, load 0.7–1.3× of the base.
pub fn variant(base: &SiteConfig, i: u64) -> (SiteConfig, f64) {
    let pv = (base.pv.pdc0_w * (0.6 + unit(i, 1))).round() as u64;
    let bat = (base.battery.capacity_wh * (0.5 + unit(i, 2))).round() as u64;
    let fc = (base.fuel_cell.rated_w * (0.75 + 0.5 * unit(i, 3))).round() as u64;
    let mut s = resized(base, pv.max(1), bat.max(1), fc);
    s.setpoints.soc_fc_stop = (0.7 + 0.2 * unit(i, 4)).max(s.setpoints.soc_alarm_clear);
    (s, 0.7 + 0.6 * unit(i, 5))
}

pub fn run(base: &SiteConfig, weather: &Weather, sites: usize, threads: usize) -> Result<BenchResult, String> {
    let t0 = Instant::now();
    let unit_pv = crate::pv::PvArray { pdc0_w: 1.0, inverter_pac0_w: None, ..base.pv.clone() };
    let pv_per_w = pv_bus_w(&unit_pv, weather);
    let hours = load_series_hours(weather);
    let profile = base.load.hourly_w()?;
    let pv_chain_s = t0.elapsed().as_secs_f64();
    let dt = weather.interval_s as f64;
    let threads = threads.max(1);
    let t1 = Instant::now();
    let parts: Vec<Result<(RunTotals, usize), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (pv_per_w, hours, profile) = (&pv_per_w, &hours, &profile);
                scope.spawn(move || {
                    let mut acc = RunTotals::default();
                    let mut with_unserved = 0;
                    // Sites of this worker, run LANES at a time in lockstep: each site's step is a
                    // serial chain through its battery energy, so interleaving independent sites lets
                    // the processor overlap them.
                    let mine: Vec<usize> = (t..sites).step_by(threads).collect();
                    for chunk in mine.chunks(LANES) {
                        let mut lanes = Vec::with_capacity(LANES);
                        for &i in chunk {
                            let (site, load_scale) = variant(base, i as u64);
                            let c = site.controller().map_err(|e| format!("site {i}: {e:?}"))?;
                            let runner = Runner::new(&c, dt, site.refill_below_l());
                            lanes.push((c, runner, site.pv.pdc0_w, load_scale));
                        }
                        for (p, h) in pv_per_w.iter().zip(hours) {
                            let base_load = profile[*h as usize];
                            for (c, runner, pdc0, load_scale) in lanes.iter_mut() {
                                runner.step(c, p * *pdc0, base_load * *load_scale);
                            }
                        }
                        for (c, runner, _, _) in lanes {
                            let r = runner.finish(&c);
                            acc.energy_kwh.load += r.energy_kwh.load;
                            acc.energy_kwh.unserved += r.energy_kwh.unserved;
                            acc.methanol_l += r.methanol_l;
                            acc.fc_starts += r.fc_starts;
                            with_unserved += (r.energy_kwh.unserved > 0.0) as usize;
                        }
                    }
                    Ok((acc, with_unserved))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench worker panicked")).collect()
    });
    let simulate_s = t1.elapsed().as_secs_f64();
    let mut r = BenchResult {
        sites,
        steps_per_site: pv_per_w.len(),
        threads,
        pv_chain_s,
        simulate_s,
        steps_per_second: (sites * pv_per_w.len()) as f64 / simulate_s,
        total_load_mwh: 0.0,
        total_unserved_mwh: 0.0,
        total_methanol_l: 0.0,
        sites_with_unserved: 0,
        fuel_cell_starts: 0,
    };
    for p in parts {
        let (acc, with_unserved) = p?;
        r.total_load_mwh += acc.energy_kwh.load / 1000.0;
        r.total_unserved_mwh += acc.energy_kwh.unserved / 1000.0;
        r.total_methanol_l += acc.methanol_l;
        r.fuel_cell_starts += acc.fc_starts;
        r.sites_with_unserved += with_unserved;
    }
    Ok(r)
}
