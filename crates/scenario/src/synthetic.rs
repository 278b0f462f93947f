//! A synthetic national baseline for benchmarks and examples when no data directory is at hand:
//! 31 provinces with the 2022 provincial grid factors of the shipped library's source table
//! (reference/emission-factors.md §1.3, rounded) and sizes scaled by a fixed pattern. It is an
//! input generator, not a model: every computation on it runs the same code as on a calibrated
//! inventory.

use crate::baseline::{Baseline, ClassBase, ProvinceBase};
use crate::drivers::N_CLASSES;

/// (code, 2022 provincial average grid factor kgCO2/kWh). Tibet is absent from the source table;
/// the Southwest grid's 2022 factor (0.2268) stands in for it.
const PROVINCES: [(&str, f64); 31] = [
    ("BJ", 0.5580),
    ("TJ", 0.7041),
    ("HE", 0.7252),
    ("SX", 0.7096),
    ("NM", 0.6849),
    ("LN", 0.5626),
    ("JL", 0.4932),
    ("HL", 0.5368),
    ("SH", 0.5849),
    ("JS", 0.5978),
    ("ZJ", 0.5153),
    ("AH", 0.6782),
    ("FJ", 0.4092),
    ("JX", 0.5752),
    ("SD", 0.6410),
    ("HA", 0.6058),
    ("HB", 0.4364),
    ("HN", 0.4900),
    ("GD", 0.4403),
    ("GX", 0.4044),
    ("HI", 0.4184),
    ("CQ", 0.5227),
    ("SC", 0.1404),
    ("GZ", 0.4989),
    ("YN", 0.1073),
    ("XZ", 0.2268),
    ("SN", 0.6558),
    ("GS", 0.4772),
    ("QH", 0.1567),
    ("NX", 0.6423),
    ("XJ", 0.6231),
];

/// `sites_per_province` base stations in the largest province; others scaled down by a fixed pattern.
pub fn national_baseline(base_year: i32, sites_per_province: u64) -> Baseline {
    let provinces = PROVINCES
        .iter()
        .enumerate()
        .map(|(i, (code, gf))| {
            let size = 0.3 + 0.7 * ((i * 7) % 31) as f64 / 30.0;
            let sites = (sites_per_province as f64 * size).round() as u64;
            // About 12 MWh a year per site (≈ 1.4 kW average), data centres and rooms in proportion.
            let wireless = sites as f64 * 12.0;
            let mk = |mwh: f64, green: f64, s1: f64, n: u64| ClassBase {
                electricity_mwh: mwh,
                green_mwh: mwh * green,
                scope1_tco2e: s1,
                scope2_tco2e: mwh * (1.0 - green) * gf,
                facilities: n,
            };
            let classes: Vec<ClassBase> = vec![
                mk(wireless, 0.01, wireless * 0.002, sites),
                mk(wireless * 0.35, 0.05, wireless * 0.001, 2 + sites / 5000),
                mk(wireless * 0.30, 0.0, wireless * 0.003, 20 + sites / 500),
                mk(wireless * 0.08, 0.02, wireless * 0.004, 50 + sites / 200),
                mk(wireless * 0.002, 0.0, wireless * 0.02, 1 + sites / 2000),
            ];
            debug_assert_eq!(classes.len(), N_CLASSES);
            ProvinceBase { code: format!("CN-{code}"), name: format!("synthetic {code}"), classes }
        })
        .collect();
    Baseline {
        base_year,
        source: format!("synthetic national baseline, {sites_per_province} sites in the largest province"),
        provinces,
    }
}
