//! Monte Carlo over the drivers: each path draws one shift per driver from a triangular
//! distribution on [−spread, +spread] (mode 0) and one grid-factor-rate shift per province, then
//! runs the deterministic model with the scenario's measures. Results: P10/P50/P90 bands of gross
//! emissions per year (fan chart), quantiles of the peak year and level, and the probability of
//! peaking by the target year.
//!
//! Path i uses ChaCha8 seeded with `seed` on stream i, so results are the same for any number of
//! threads and a path can be replayed alone.

use crate::engine::{resolve, Model, RunError, Scenario, Series};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McOptions {
    pub paths: usize,
    pub seed: u64,
    /// Half-width of each province's own grid-factor-rate shift (per year), on top of the national one.
    #[serde(default = "default_province_spread")]
    pub province_grid_spread: f64,
    /// Worker threads; results do not depend on it.
    #[serde(skip, default = "default_threads")]
    pub threads: usize,
}

fn default_province_spread() -> f64 {
    0.005
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for McOptions {
    fn default() -> Self {
        McOptions {
            paths: 10_000,
            seed: 20_300_101,
            province_grid_spread: default_province_spread(),
            threads: default_threads(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantiles {
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bands {
    pub paths: usize,
    pub seed: u64,
    pub years: Vec<i32>,
    /// Gross emissions per year, tCO2e.
    pub p10: Vec<f64>,
    pub p50: Vec<f64>,
    pub p90: Vec<f64>,
    pub peak_year: Quantiles,
    pub peak_tco2e: Quantiles,
    pub peak_target_year: Option<i32>,
    /// Share of paths whose highest year is the target year or earlier.
    pub probability_peak_by_target: Option<f64>,
    /// The drivers drawn and their spreads, for the record.
    pub uncertain_drivers: Vec<(String, f64)>,
}

/// Triangular(−s, 0, s) by inverse transform of u in [0, 1).
pub fn triangular(u: f64, s: f64) -> f64 {
    if u < 0.5 {
        -s + s * (2.0 * u).sqrt()
    } else {
        s - s * (2.0 * (1.0 - u)).sqrt()
    }
}

/// Quantile q of sorted data, linear between order statistics.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 < sorted.len() {
        sorted[i] + (sorted[i + 1] - sorted[i]) * f
    } else {
        sorted[i]
    }
}

fn quantiles(v: &mut [f64]) -> Quantiles {
    v.sort_by(f64::total_cmp);
    Quantiles { p10: quantile_sorted(v, 0.1), p50: quantile_sorted(v, 0.5), p90: quantile_sorted(v, 0.9) }
}

/// What every path shares.
struct Ctx<'a> {
    model: &'a Model<'a>,
    sc: &'a Scenario,
    measures: &'a [(&'a crate::Measure, crate::Selected)],
    uncertain: &'a [(String, f64)],
    opts: &'a McOptions,
}

impl Ctx<'_> {
    /// Path `i`: its gross emissions per year into `out`.
    fn path(&self, i: usize, grid: &mut [f64], out: &mut [f64]) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed);
        rng.set_stream(i as u64);
        let shifts: Vec<f64> = self.uncertain.iter().map(|(_, s)| triangular(rng.random::<f64>(), *s)).collect();
        for g in grid.iter_mut() {
            *g = triangular(rng.random::<f64>(), self.opts.province_grid_spread);
        }
        let shift = |key: &str| self.uncertain.iter().position(|(k, _)| k == key).map_or(0.0, |j| shifts[j]);
        let s = Series::build(&self.sc.drivers, self.measures, self.model.baseline.base_year, self.sc.horizon, &shift);
        self.model.prepared.gross_path(&s, Some(grid), out);
    }
}

pub fn run(model: &Model, sc: &Scenario, opts: &McOptions) -> Result<Bands, RunError> {
    let base = model.baseline.base_year;
    // Validates the scenario once (measures, horizon).
    model.series(sc, &sc.measures)?;
    let measures = resolve(model.catalogue, &sc.measures, base, sc.horizon)?;
    let uncertain: Vec<(String, f64)> =
        sc.drivers.list.iter().filter(|d| d.spread > 0.0).map(|d| (d.key.clone(), d.spread)).collect();
    let n_years = (sc.horizon - base + 1) as usize;
    let n_prov = model.prepared.coefficients.len();
    let paths = opts.paths.max(1);
    // Path-major matrix of gross emissions: each thread fills its own rows.
    let mut all = vec![0.0; paths * n_years];
    let threads = opts.threads.clamp(1, paths);
    let chunk = paths.div_ceil(threads);
    std::thread::scope(|scope| {
        for (t, rows) in all.chunks_mut(chunk * n_years).enumerate() {
            let ctx = Ctx { model, sc, measures: &measures, uncertain: &uncertain, opts };
            scope.spawn(move || {
                let mut grid = vec![0.0; n_prov];
                for (j, out) in rows.chunks_mut(n_years).enumerate() {
                    ctx.path(t * chunk + j, &mut grid, out);
                }
            });
        }
    });
    let mut peak_years = Vec::with_capacity(paths);
    let mut peak_levels = Vec::with_capacity(paths);
    for row in all.chunks(n_years) {
        let mut best = 0;
        for (k, v) in row.iter().enumerate() {
            if *v > row[best] {
                best = k;
            }
        }
        peak_years.push(f64::from(base) + best as f64);
        peak_levels.push(row[best]);
    }
    let target = sc.targets.peak_by;
    let prob = target.map(|t| peak_years.iter().filter(|y| **y <= f64::from(t)).count() as f64 / paths as f64);
    let mut col = vec![0.0; paths];
    let (mut p10, mut p50, mut p90) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..n_years {
        for (i, c) in col.iter_mut().enumerate() {
            *c = all[i * n_years + k];
        }
        let q = quantiles(&mut col);
        p10.push(q.p10);
        p50.push(q.p50);
        p90.push(q.p90);
    }
    Ok(Bands {
        paths,
        seed: opts.seed,
        years: (base..=sc.horizon).collect(),
        p10,
        p50,
        p90,
        peak_year: quantiles(&mut peak_years),
        peak_tco2e: quantiles(&mut peak_levels),
        peak_target_year: target,
        probability_peak_by_target: prob,
        uncertain_drivers: uncertain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::national_baseline;
    use crate::Catalogue;

    #[test]
    fn triangular_is_symmetric_and_bounded() {
        assert_eq!(triangular(0.0, 0.1), -0.1);
        assert!(triangular(0.5, 0.1).abs() < 1e-15);
        assert!((triangular(0.25, 0.1) + triangular(0.75, 0.1)).abs() < 1e-15);
    }

    #[test]
    fn bands_are_ordered_reproducible_and_independent_of_threads() {
        let b = national_baseline(2024, 2_000);
        let cat = Catalogue::shipped();
        let m = Model::new(&b, &cat).unwrap();
        let sc = Scenario::baseline("bau");
        let one = run(&m, &sc, &McOptions { paths: 300, seed: 7, threads: 1, ..Default::default() }).unwrap();
        let three = run(&m, &sc, &McOptions { paths: 300, seed: 7, threads: 3, ..Default::default() }).unwrap();
        assert_eq!(one, three);
        for k in 0..one.years.len() {
            assert!(one.p10[k] <= one.p50[k] && one.p50[k] <= one.p90[k]);
        }
        // The base year is known: no spread there.
        assert!((one.p90[0] - one.p10[0]).abs() <= 1e-9 * one.p50[0]);
        assert!(one.p90[20] > one.p10[20] * 1.01, "uncertainty widens over time");
        let p = one.probability_peak_by_target.unwrap();
        assert!((0.0..=1.0).contains(&p));
        let other = run(&m, &sc, &McOptions { paths: 300, seed: 8, threads: 2, ..Default::default() }).unwrap();
        assert_ne!(one.p50, other.p50);
    }

    #[test]
    fn without_spread_every_path_is_the_deterministic_run() {
        let b = national_baseline(2024, 2_000);
        let cat = Catalogue::shipped();
        let m = Model::new(&b, &cat).unwrap();
        let mut sc = Scenario::baseline("bau");
        for d in &mut sc.drivers.list {
            d.spread = 0.0;
        }
        let det = m.run(&sc).unwrap();
        let mc = run(&m, &sc, &McOptions { paths: 20, seed: 1, province_grid_spread: 0.0, threads: 2 }).unwrap();
        for (k, y) in det.years.iter().enumerate() {
            assert!((mc.p50[k] - y.gross_tco2e).abs() <= 1e-9 * y.gross_tco2e);
            assert!((mc.p10[k] - mc.p90[k]).abs() <= 1e-9 * y.gross_tco2e);
        }
        let det_peak_by = det.peak.year <= 2030;
        assert_eq!(mc.probability_peak_by_target, Some(if det_peak_by { 1.0 } else { 0.0 }));
    }
}
