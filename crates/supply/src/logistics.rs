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
    pub org: String,
    pub period: String,
    pub packages: u64,
    pub green_packages: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_of_sums_and_distinct_cities() {
        let p = [
            PackagingRecord { org: "a".into(), period: "2025".into(), packages: 100, green_packages: 99 },
            PackagingRecord { org: "b".into(), period: "2025".into(), packages: 900, green_packages: 800 },
        ];
        let d = |city: &str, v: &str, n: u64| DeliveryRecord {
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
