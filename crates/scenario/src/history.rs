//! Driver defaults calibrated from the org's own history: a few years of per (province, class)
//! observations (the LMDI history CSV, or calibrated inventories) give the recent yearly change of
//! activity, energy per activity, PUE and grid factor, which replace the shipped defaults from the
//! base year (later anchors of the paths stay, so the long-run assumptions still apply).

use crate::drivers::{Class, Drivers};
use crate::lmdi::Observation;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibrated {
    pub driver: String,
    pub value: f64,
    pub note: String,
}

#[derive(Default, Clone, Copy)]
struct Agg {
    activity: f64,
    electricity: f64,
    /// Σ activity × PUE weighted by electricity share, for the intensity denominator.
    activity_pue: f64,
    pue_weighted: f64,
    grey: f64,
    grey_co2: f64,
}

fn aggregate(obs: &[Observation], class: Class) -> Agg {
    let mut a = Agg::default();
    for o in obs.iter().filter(|o| o.class == class) {
        a.activity += o.activity;
        a.electricity += o.electricity_mwh;
        a.activity_pue += o.activity * o.pue;
        a.pue_weighted += o.pue * o.electricity_mwh;
        let grey = o.electricity_mwh * (1.0 - o.green_share);
        a.grey += grey;
        a.grey_co2 += grey * o.grid_factor;
    }
    a
}

fn cagr(from: f64, to: f64, years: i32) -> Option<f64> {
    (from > 0.0 && to > 0.0 && years > 0).then(|| (to / from).powf(1.0 / f64::from(years)) - 1.0)
}

/// Applies the history's recent changes to `drivers` from `base_year`; years after the base year
/// are ignored. Returns what was set, with the figures it came from.
pub fn calibrate_drivers(
    history: &BTreeMap<i32, Vec<Observation>>,
    base_year: i32,
    drivers: &mut Drivers,
) -> Result<Vec<Calibrated>, String> {
    let years: Vec<i32> = history.keys().copied().filter(|y| *y <= base_year).collect();
    let (Some(&y0), Some(&y1)) = (years.first(), years.last()) else {
        return Err(format!("the history has no year up to the base year {base_year}"));
    };
    if y0 == y1 {
        return Err(format!("the history needs at least two years up to {base_year}; it has only {y0}"));
    }
    let span = y1 - y0;
    let (h0, h1) = (&history[&y0], &history[&y1]);
    let mut out = Vec::new();
    let mut set = |key: &str, value: f64, note: String, out: &mut Vec<Calibrated>| -> Result<(), String> {
        drivers
            .calibrate_from(key, base_year, value, format!("calibrated from the org's history: {note}"))
            .map_err(|e| e.to_string())?;
        out.push(Calibrated { driver: key.into(), value, note });
        Ok(())
    };
    let (mut grey0, mut co20, mut grey1, mut co21) = (0.0, 0.0, 0.0, 0.0);
    for c in Class::ALL {
        let (a0, a1) = (aggregate(h0, c), aggregate(h1, c));
        grey0 += a0.grey;
        co20 += a0.grey_co2;
        grey1 += a1.grey;
        co21 += a1.grey_co2;
        let (ak, ik, pk) = c.driver_keys();
        if let Some(g) = cagr(a0.activity, a1.activity, span) {
            set(
                ak,
                g,
                format!("{} activity {:.6e} ({y0}) → {:.6e} ({y1})", c.code(), a0.activity, a1.activity),
                &mut out,
            )?;
        }
        let i0 = (a0.activity_pue > 0.0).then(|| a0.electricity / a0.activity_pue);
        let i1 = (a1.activity_pue > 0.0).then(|| a1.electricity / a1.activity_pue);
        if let (Some(i0), Some(i1)) = (i0, i1) {
            if let Some(g) = cagr(i0, i1, span) {
                set(
                    ik,
                    g,
                    format!("{} MWh per activity at PUE 1: {i0:.6e} ({y0}) → {i1:.6e} ({y1})", c.code()),
                    &mut out,
                )?;
            }
        }
        if let Some(pk) = pk {
            if a1.electricity > 0.0 {
                let pue = a1.pue_weighted / a1.electricity;
                set(pk, pue, format!("{} electricity-weighted PUE in {y1}: {pue:.3}", c.code()), &mut out)?;
            }
        }
    }
    if grey0 > 0.0 && grey1 > 0.0 {
        let (f0, f1) = (co20 / grey0, co21 / grey1);
        if let Some(g) = cagr(f0, f1, span) {
            set(
                "grid_factor_change",
                g,
                format!("grey-electricity-weighted grid factor {f0:.4} ({y0}) → {f1:.4} ({y1}) tCO2/MWh"),
                &mut out,
            )?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(class: Class, activity: f64, mwh: f64, pue: f64, gf: f64) -> Observation {
        Observation {
            province: "GD".into(),
            class,
            activity,
            electricity_mwh: mwh,
            pue,
            grid_factor: gf,
            green_share: 0.0,
            scope1_tco2e: 0.0,
        }
    }

    #[test]
    fn recent_changes_replace_the_defaults_from_the_base_year() {
        let mut h = BTreeMap::new();
        h.insert(2022, vec![o(Class::Wireless, 100.0, 1000.0, 1.0, 0.5), o(Class::DataCenter, 10.0, 1600.0, 1.6, 0.5)]);
        h.insert(
            2024,
            vec![
                o(Class::Wireless, 121.0, 1089.0, 1.0, 0.5 * 0.9 * 0.9),
                o(Class::DataCenter, 10.0, 1500.0, 1.5, 0.405),
            ],
        );
        let mut d = Drivers::shipped();
        let later = d.get("traffic_growth").unwrap().path.iter().filter(|(y, _)| *y > 2024).count();
        let set = calibrate_drivers(&h, 2024, &mut d).unwrap();
        // Traffic +10%/yr; MWh per traffic 10 → 9: −5.13%/yr.
        assert!((d.value("traffic_growth", 2024) - 0.10).abs() < 1e-12);
        assert!((d.value("wireless_intensity_change", 2024) - ((0.9f64).sqrt() - 1.0)).abs() < 1e-12);
        assert!((d.value("pue_data_center", 2024) - 1.5).abs() < 1e-12);
        // Data-centre IT energy per rack: 100 → 100.
        assert!(d.value("dc_intensity_change", 2024).abs() < 1e-12);
        assert!((d.value("grid_factor_change", 2024) + 0.1).abs() < 1e-12);
        assert_eq!(d.get("traffic_growth").unwrap().path.iter().filter(|(y, _)| *y > 2024).count(), later);
        assert_eq!(d.get("traffic_growth").unwrap().status, "calibrated");
        assert!(set.iter().any(|c| c.driver == "grid_factor_change"));
        assert!(calibrate_drivers(&h, 2021, &mut d).is_err());
    }
}
