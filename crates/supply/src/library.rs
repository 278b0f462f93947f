//! The product carbon-footprint library's classes (产品碳足迹库) and a model's place in its class.

use serde::Serialize;

/// Product classes of the library (telecom equipment and terminals).
pub const CLASSES: &[&str] = &[
    "aau",
    "rru",
    "bbu",
    "server",
    "switch",
    "router",
    "optical_module",
    "battery",
    "cabinet",
    "cable",
    "handset",
    "cpe",
    "other",
];

/// The PACT product classification URN of a class.
pub fn class_urn(class: &str) -> String {
    format!("urn:dualcarbon:productclass:{class}")
}

/// The class of a PACT product classification URN, when it is one of ours.
pub fn class_of_urn(urn: &str) -> Option<&'static str> {
    let c = urn.strip_prefix("urn:dualcarbon:productclass:")?;
    CLASSES.iter().copied().find(|x| *x == c)
}

/// A class's distribution of kg CO2e per declared unit (entries of one class and one unit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    pub count: usize,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub max: f64,
    pub mean: f64,
}

/// Quantile by linear interpolation between closest ranks (the "R-7" rule: h = (n − 1)·q).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

pub fn distribution(values: &[f64]) -> Option<Distribution> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(Distribution {
        count: v.len(),
        min: v[0],
        p25: quantile(&v, 0.25),
        median: quantile(&v, 0.5),
        p75: quantile(&v, 0.75),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    })
}

/// The percentile rank of `x` in its class: the share of the class at or below it, counting ties
/// half ((below + ½·equal) / n × 100). Lower is better (less carbon per unit).
pub fn percentile_rank(values: &[f64], x: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let below = values.iter().filter(|v| **v < x).count() as f64;
    let equal = values.iter().filter(|v| **v == x).count() as f64;
    Some((below + equal / 2.0) / values.len() as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_and_percentile_by_hand() {
        // AAUs at 600, 700, 800, 900, 1000 kg per piece.
        let v = [900.0, 600.0, 1000.0, 700.0, 800.0];
        let d = distribution(&v).unwrap();
        assert_eq!((d.min, d.p25, d.median, d.p75, d.max, d.mean), (600.0, 700.0, 800.0, 900.0, 1000.0, 800.0));
        // 4 values: h = 3 × 0.25 = 0.75 → 10 + 0.75 × (20 − 10) = 17.5.
        assert_eq!(distribution(&[10.0, 20.0, 30.0, 40.0]).unwrap().p25, 17.5);
        // 800 in the class: 2 below, 1 equal → (2 + 0.5) / 5 = 50 %.
        assert_eq!(percentile_rank(&v, 800.0), Some(50.0));
        assert_eq!(percentile_rank(&v, 650.0), Some(20.0));
        assert_eq!(class_of_urn(&class_urn("optical_module")), Some("optical_module"));
    }
}
