//! LMDI-I additive decomposition of the change of emissions between two years into activity,
//! intensity, PUE, grid-factor and green-power effects (plus the change of Scope 1, not decomposed).
//!
//! Per (province, class): C = A × I × PUE × GF × (1 − green), with I = electricity / (A × PUE).
//! Effect of factor x: Σ L(C^T, C^0) × ln(x^T / x^0), L(a, b) = (a − b) / (ln a − ln b), L(a, a) = a.
//! The decomposition is perfect (no residual). Zero values use the analytical limits (Ang & Liu,
//! Energy Policy 35 (2007) 238-246; Wood & Lenzen, Energy Policy 34 (2006) 1326-1331) instead of a
//! small-number substitution: when C goes from 0 to C^T, the factors that were zero share C^T and
//! the others get nothing (and symmetrically when C falls to 0).

use crate::baseline::Baseline;
use crate::drivers::{Class, Drivers};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub province: String,
    pub class: Class,
    /// Activity in any unit that stays the same across years (sites, TB, racks, km).
    pub activity: f64,
    /// Facility electricity, MWh.
    pub electricity_mwh: f64,
    pub pue: f64,
    /// Effective grid factor on electricity without a green attribute, tCO2/MWh.
    pub grid_factor: f64,
    pub green_share: f64,
    pub scope1_tco2e: f64,
}

impl Observation {
    /// The factors of the identity, in [`FACTORS`] order.
    pub fn factors(&self) -> [f64; 5] {
        let denom = self.activity * self.pue;
        let intensity = if denom > 0.0 { self.electricity_mwh / denom } else { 0.0 };
        [self.activity, intensity, self.pue, self.grid_factor, 1.0 - self.green_share]
    }

    /// Scope 2 of the identity: the product of the factors.
    pub fn scope2(&self) -> f64 {
        self.factors().iter().product()
    }
}

pub const FACTORS: [&str; 5] = ["activity", "intensity", "pue", "grid_factor", "green_power"];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Effects {
    pub activity: f64,
    pub intensity: f64,
    pub pue: f64,
    pub grid_factor: f64,
    pub green_power: f64,
    /// Change of Scope 1 (fuel, refrigerants), not decomposed.
    pub scope1: f64,
}

impl Effects {
    pub fn sum(&self) -> f64 {
        self.activity + self.intensity + self.pue + self.grid_factor + self.green_power + self.scope1
    }

    fn add(&mut self, e: &[f64; 5], s1: f64) {
        self.activity += e[0];
        self.intensity += e[1];
        self.pue += e[2];
        self.grid_factor += e[3];
        self.green_power += e[4];
        self.scope1 += s1;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decomposition {
    pub from_year: i32,
    pub to_year: i32,
    pub from_tco2e: f64,
    pub to_tco2e: f64,
    pub total: Effects,
    pub by_class: BTreeMap<Class, Effects>,
    pub by_province: BTreeMap<String, Effects>,
    /// Plain-words summary, largest effects first.
    pub summary: String,
}

/// Logarithmic mean.
pub fn log_mean(a: f64, b: f64) -> f64 {
    if a == b {
        a
    } else if a <= 0.0 || b <= 0.0 {
        0.0
    } else if ((a - b) / a).abs() < 1e-6 {
        // (a − b)/(ln a − ln b) loses digits when a ≈ b; the series to second order is exact to
        // rounding there.
        let m = 0.5 * (a + b);
        let d = (a - b) / (a + b);
        m * (1.0 - d * d / 3.0)
    } else {
        (a - b) / (a.ln() - b.ln())
    }
}

/// Effects of one unit (province × class) between x0 and xt, with analytical limits for zeros.
pub fn unit_effects(x0: &[f64; 5], xt: &[f64; 5]) -> [f64; 5] {
    let c0: f64 = x0.iter().product();
    let ct: f64 = xt.iter().product();
    let mut e = [0.0; 5];
    if c0 > 0.0 && ct > 0.0 {
        let l = log_mean(ct, c0);
        for i in 0..5 {
            e[i] = l * (xt[i] / x0[i]).ln();
        }
    } else if c0 == 0.0 && ct > 0.0 {
        let zero: Vec<usize> = (0..5).filter(|&i| x0[i] == 0.0).collect();
        for &i in &zero {
            e[i] = ct / zero.len() as f64;
        }
    } else if c0 > 0.0 && ct == 0.0 {
        let zero: Vec<usize> = (0..5).filter(|&i| xt[i] == 0.0).collect();
        for &i in &zero {
            e[i] = -c0 / zero.len() as f64;
        }
    }
    e
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LmdiError {
    #[error("{province}/{class}: {field} must be finite and non-negative (PUE at least 1, green share at most 1)")]
    Invalid { province: String, class: &'static str, field: &'static str },
    #[error("{0}/{1} appears twice in one year")]
    Duplicate(String, &'static str),
}

fn check(o: &Observation) -> Result<(), LmdiError> {
    let bad = |field| Err(LmdiError::Invalid { province: o.province.clone(), class: o.class.code(), field });
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    for (f, v) in [
        ("activity", o.activity),
        ("electricity_mwh", o.electricity_mwh),
        ("grid_factor", o.grid_factor),
        ("scope1_tco2e", o.scope1_tco2e),
    ] {
        if !ok(v) {
            return bad(f);
        }
    }
    if !(o.pue >= 1.0 && o.pue.is_finite()) {
        return bad("pue");
    }
    if !(0.0..=1.0).contains(&o.green_share) {
        return bad("green_share");
    }
    if o.activity == 0.0 && o.electricity_mwh > 0.0 {
        return bad("activity");
    }
    Ok(())
}

/// Decomposes the change from `from` to `to`. A (province, class) present in one year only enters
/// or leaves through its activity: its other factors take the values of the year where it exists.
pub fn decompose(
    from_year: i32,
    from: &[Observation],
    to_year: i32,
    to: &[Observation],
) -> Result<Decomposition, LmdiError> {
    let index = |obs: &[Observation]| -> Result<BTreeMap<(String, Class), Observation>, LmdiError> {
        let mut m = BTreeMap::new();
        for o in obs {
            check(o)?;
            if m.insert((o.province.clone(), o.class), o.clone()).is_some() {
                return Err(LmdiError::Duplicate(o.province.clone(), o.class.code()));
            }
        }
        Ok(m)
    };
    let (a, b) = (index(from)?, index(to)?);
    let mut keys: Vec<&(String, Class)> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut total = Effects::default();
    let mut by_class: BTreeMap<Class, Effects> = BTreeMap::new();
    let mut by_province: BTreeMap<String, Effects> = BTreeMap::new();
    let (mut from_t, mut to_t) = (0.0, 0.0);
    for key in keys {
        let absent =
            |o: &Observation| Observation { activity: 0.0, electricity_mwh: 0.0, scope1_tco2e: 0.0, ..o.clone() };
        let (o0, ot) = match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => (x.clone(), y.clone()),
            (Some(x), None) => (x.clone(), absent(x)),
            (None, Some(y)) => (absent(y), y.clone()),
            (None, None) => unreachable!(),
        };
        let (mut f0, mut ft) = (o0.factors(), ot.factors());
        // Intensity of a unit without activity is undefined: take the other year's, so that the
        // unit enters or leaves through its activity alone.
        if o0.activity == 0.0 {
            f0[1] = ft[1];
        }
        if ot.activity == 0.0 {
            ft[1] = f0[1];
        }
        let e = unit_effects(&f0, &ft);
        let s1 = ot.scope1_tco2e - o0.scope1_tco2e;
        from_t += o0.scope2() + o0.scope1_tco2e;
        to_t += ot.scope2() + ot.scope1_tco2e;
        total.add(&e, s1);
        by_class.entry(key.1).or_default().add(&e, s1);
        by_province.entry(key.0.clone()).or_default().add(&e, s1);
    }
    let summary = summarise(from_year, to_year, from_t, to_t, &total);
    Ok(Decomposition { from_year, to_year, from_tco2e: from_t, to_tco2e: to_t, total, by_class, by_province, summary })
}

fn summarise(y0: i32, y1: i32, c0: f64, c1: f64, e: &Effects) -> String {
    let mut parts = [
        ("more or less activity", e.activity),
        ("energy per unit of activity", e.intensity),
        ("PUE", e.pue),
        ("the grid's emission factor", e.grid_factor),
        ("green power", e.green_power),
        ("Scope 1 (fuel, refrigerants)", e.scope1),
    ];
    parts.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let words: Vec<String> = parts
        .iter()
        .filter(|p| p.1 != 0.0)
        .map(|(n, v)| format!("{n} {} {:.0} t", if *v > 0.0 { "added" } else { "removed" }, v.abs()))
        .collect();
    format!("Emissions went from {c0:.0} t in {y0} to {c1:.0} t in {y1} ({:+.0} t): {}.", c1 - c0, words.join("; "))
}

/// Observations from a calibrated base year: activity = number of facilities of the class, PUE
/// from the drivers of that year (the inventory does not meter IT energy apart).
pub fn observations_from_baseline(b: &Baseline, d: &Drivers) -> Vec<Observation> {
    let mut out = Vec::new();
    for p in &b.provinces {
        for (c, cb) in Class::ALL.iter().zip(&p.classes) {
            if cb.electricity_mwh == 0.0 && cb.scope1_tco2e == 0.0 && cb.scope2_tco2e == 0.0 {
                continue;
            }
            let co = cb.coefficients();
            let pue = c.driver_keys().2.map_or(1.0, |k| d.base_value(k, b.base_year).max(1.0));
            out.push(Observation {
                province: p.code.clone(),
                class: *c,
                activity: (cb.facilities as f64).max(if cb.electricity_mwh > 0.0 { 1.0 } else { 0.0 }),
                electricity_mwh: cb.electricity_mwh,
                pue,
                grid_factor: co.grid_factor,
                green_share: co.green_share,
                // Scope 2 the identity does not carry (heat) travels with Scope 1 as "not decomposed".
                scope1_tco2e: cb.scope1_tco2e + co.scope2_other_tco2e,
            });
        }
    }
    out
}

/// Parses a history CSV (`year,province,class,activity,electricity_mwh,pue,grid_factor,
/// green_share,scope1_tco2e`, header row, columns in any order) into observations by year.
/// Every bad field of every line is reported.
pub fn parse_history(text: &str) -> Result<BTreeMap<i32, Vec<Observation>>, Vec<String>> {
    const COLS: [&str; 9] = [
        "year",
        "province",
        "class",
        "activity",
        "electricity_mwh",
        "pue",
        "grid_factor",
        "green_share",
        "scope1_tco2e",
    ];
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Err(vec!["line 1: empty file, expected a header row".into()]) };
    let header: Vec<&str> = header.trim_start_matches('\u{feff}').split(',').map(str::trim).collect();
    let mut errs = Vec::new();
    let pos: Vec<usize> = COLS
        .iter()
        .map(|c| {
            header.iter().position(|h| h == c).unwrap_or_else(|| {
                errs.push(format!("line 1: missing column `{c}`"));
                0
            })
        })
        .collect();
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut out: BTreeMap<i32, Vec<Observation>> = BTreeMap::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let ln = i + 1;
        let get = |c: usize| f.get(pos[c]).copied().unwrap_or("");
        let num = |c: usize, errs: &mut Vec<String>| -> f64 {
            get(c).parse::<f64>().unwrap_or_else(|_| {
                errs.push(format!("line {ln}: column {}: value \"{}\": not a number", COLS[c], get(c)));
                f64::NAN
            })
        };
        let year = get(0).parse::<i32>().unwrap_or_else(|_| {
            errs.push(format!("line {ln}: column year: value \"{}\": not a year", get(0)));
            0
        });
        let class = Class::parse(get(2));
        if class.is_none() {
            errs.push(format!(
                "line {ln}: column class: value \"{}\": expected wireless, data_center, machine_room, office or fleet",
                get(2)
            ));
        }
        let o = Observation {
            province: get(1).to_string(),
            class: class.unwrap_or(Class::Wireless),
            activity: num(3, &mut errs),
            electricity_mwh: num(4, &mut errs),
            pue: num(5, &mut errs),
            grid_factor: num(6, &mut errs),
            green_share: num(7, &mut errs),
            scope1_tco2e: num(8, &mut errs),
        };
        if o.province.is_empty() {
            errs.push(format!("line {ln}: column province: empty"));
        }
        if let (Some(_), Err(e)) = (class, check(&o)) {
            if o.activity.is_finite() && o.pue.is_finite() {
                errs.push(format!("line {ln}: {e}"));
            }
        }
        out.entry(year).or_default().push(o);
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obs(p: &str, c: Class, [a, e, pue, gf, g, s1]: [f64; 6]) -> Observation {
        Observation {
            province: p.into(),
            class: c,
            activity: a,
            electricity_mwh: e,
            pue,
            grid_factor: gf,
            green_share: g,
            scope1_tco2e: s1,
        }
    }

    fn exact(d: &Decomposition) -> bool {
        let change = d.to_tco2e - d.from_tco2e;
        (d.total.sum() - change).abs() <= 1e-9 * d.from_tco2e.abs().max(d.to_tco2e.abs()).max(1.0)
    }

    #[test]
    fn log_mean_limits() {
        assert_eq!(log_mean(3.0, 3.0), 3.0);
        assert_eq!(log_mean(3.0, 0.0), 0.0);
        let (a, b) = (1.0 + 1e-9, 1.0);
        assert!((log_mean(a, b) - (a - b) / (a.ln() - b.ln())).abs() < 1e-6);
        assert!((log_mean(2.0, 1.0) - 1.0 / 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn a_single_factor_change_is_attributed_to_that_factor_only() {
        let a = [obs("GD", Class::DataCenter, [10.0, 1000.0, 1.6, 0.5, 0.1, 5.0])];
        let b = [obs("GD", Class::DataCenter, [10.0, 1000.0 * 1.3 / 1.6, 1.3, 0.5, 0.1, 5.0])];
        let d = decompose(2023, &a, 2024, &b).unwrap();
        assert!(exact(&d));
        assert!(d.total.pue < 0.0);
        assert!(d.total.activity.abs() < 1e-9 && d.total.intensity.abs() < 1e-9 && d.total.grid_factor.abs() < 1e-9);
        assert!((d.total.pue - (d.to_tco2e - d.from_tco2e)).abs() < 1e-9);
    }

    #[test]
    fn zero_values_use_the_analytical_limits() {
        // A class that appears: all of it is activity.
        let a = [obs("GD", Class::Wireless, [100.0, 1200.0, 1.0, 0.44, 0.0, 2.0])];
        let b = [
            obs("GD", Class::Wireless, [100.0, 1200.0, 1.0, 0.44, 0.0, 2.0]),
            obs("GD", Class::DataCenter, [2.0, 500.0, 1.5, 0.44, 0.0, 0.0]),
        ];
        let d = decompose(2023, &a, 2024, &b).unwrap();
        assert!(exact(&d), "{d:?}");
        assert!((d.total.activity - 500.0 * 0.44).abs() < 1e-9);
        // A class that goes fully green: its whole Scope 2 leaves through the green-power effect.
        let c = [obs("GD", Class::Wireless, [100.0, 1200.0, 1.0, 0.44, 1.0, 2.0])];
        let d = decompose(2023, &a, 2024, &c).unwrap();
        assert!(exact(&d), "{d:?}");
        assert!((d.total.green_power + 1200.0 * 0.44).abs() < 1e-9);
        assert_eq!(d.total.activity, 0.0);
        // A unit that disappears: all of it is activity.
        let d = decompose(2023, &b, 2024, &a).unwrap();
        assert!(exact(&d));
        assert!((d.total.activity + 500.0 * 0.44).abs() < 1e-9);
        // Both zero: nothing.
        let z = [obs("GD", Class::Office, [0.0, 0.0, 1.0, 0.5, 0.0, 0.0])];
        let d = decompose(2023, &z, 2024, &z).unwrap();
        assert_eq!(d.total, Effects::default());
    }

    #[test]
    fn history_csv_reports_every_bad_field() {
        let text = "year,province,class,activity,electricity_mwh,pue,grid_factor,green_share,scope1_tco2e\n\
                    2023,GD,wireless,100,1200,1,0.44,0,2\n\
                    20x3,GD,satellite,abc,1200,0.5,0.44,0,2\n";
        let e = parse_history(text).unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("line 3: column year"));
        let ok = parse_history("year,province,class,activity,electricity_mwh,pue,grid_factor,green_share,scope1_tco2e\n2023,GD,wireless,100,1200,1,0.44,0,2\n").unwrap();
        assert_eq!(ok[&2023].len(), 1);
    }

    fn arb_obs() -> impl Strategy<Value = (f64, f64, f64, f64, f64, f64)> {
        // Zeros are drawn often on purpose: activity, green share 1 (factor 0), grid factor 0.
        (
            prop_oneof![Just(0.0), 1.0..1e4f64],
            1.0..1e6f64,
            1.0..2.5f64,
            prop_oneof![Just(0.0), 0.05..1.0f64],
            prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64],
            0.0..1e3f64,
        )
    }

    proptest! {
        #[test]
        fn effects_sum_to_the_total_change(xs in prop::collection::vec((arb_obs(), arb_obs()), 1..12)) {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for (i, (x, y)) in xs.iter().enumerate() {
                let c = Class::ALL[i % 5];
                let p = format!("P{}", i / 5);
                let mk = |t: &(f64, f64, f64, f64, f64, f64)| {
                    let e = if t.0 == 0.0 { 0.0 } else { t.1 };
                    obs(&p, c, [t.0, e, t.2, t.3, t.4, t.5])
                };
                a.push(mk(x));
                b.push(mk(y));
            }
            let d = decompose(2020, &a, 2024, &b).unwrap();
            prop_assert!(exact(&d), "{:?}", d);
            let by_class: f64 = d.by_class.values().map(Effects::sum).sum();
            prop_assert!((by_class - d.total.sum()).abs() <= 1e-9 * d.from_tco2e.max(d.to_tco2e).max(1.0));
        }
    }
}
