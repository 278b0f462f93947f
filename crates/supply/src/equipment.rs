//! Equipment energy specifications and the white paper's thresholds for new equipment: 5G radio
//! equipment (AAU/RRU) −15 % energy against the reference model it replaces, servers −10 % energy
//! per unit of compute, and first-grade energy efficiency (一级能效: in every GB 能效限定值及能效等级
//! standard grade 1 is the best; servers GB 43630-2023, in force 2025-01-01; reference B5).

use crate::Problem;
use serde::{Deserialize, Serialize};

/// The thresholds (white paper): 5G radio equipment −15 %, servers −10 % per unit of compute.
pub const RADIO_REDUCTION: f64 = 0.15;
pub const SERVER_REDUCTION: f64 = 0.10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquipmentSpec {
    /// `aau`, `rru`, `bbu`, `server`, or another product class.
    pub class: String,
    pub model: String,
    /// Typical power (W) at 0 %, 50 % and 100 % load, where measured (e.g. ETSI ES 202 706-1 levels).
    #[serde(default)]
    pub power_w: Vec<LoadPower>,
    /// The typical power (W) the check uses (radio) or the power at the rated compute (server).
    pub typical_w: f64,
    /// Units of compute delivered at `typical_w` (servers; e.g. SPECpower ssj_ops or the buyer's benchmark).
    #[serde(default)]
    pub compute: Option<f64>,
    /// Energy-efficiency grade (1 best) and how many grades its standard has.
    #[serde(default)]
    pub grade: Option<u8>,
    /// The reference model's typical power (radio) or power per unit of compute (server).
    #[serde(default)]
    pub reference: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPower {
    pub load_percent: u8,
    pub watts: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `radio_15`, `server_10`, `first_grade`.
    pub rule: &'static str,
    pub pass: bool,
    /// The value compared and the limit (W, W per unit of compute, or the grade).
    pub value: f64,
    pub limit: f64,
}

impl EquipmentSpec {
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if !crate::library::CLASSES.contains(&self.class.as_str()) {
            p.push(Problem::new("class", format!("{:?} is not a product class", self.class)));
        }
        if self.model.trim().is_empty() {
            p.push(Problem::new("model", "is required"));
        }
        if !(self.typical_w > 0.0 && self.typical_w.is_finite()) {
            p.push(Problem::new("typical_w", "a positive power in W"));
        }
        for (i, l) in self.power_w.iter().enumerate() {
            if l.load_percent > 100 || l.watts.is_nan() || l.watts < 0.0 {
                p.push(Problem::new(format!("power_w[{i}]"), "a load 0–100 % and a non-negative power"));
            }
        }
        if self.class == "server" && !self.compute.is_some_and(|c| c > 0.0) {
            p.push(Problem::new("compute", "a server states the compute it delivers at typical_w"));
        }
        if let Some(g) = self.grade {
            if !(1..=5).contains(&g) {
                p.push(Problem::new("grade", "a grade 1 (best) to 5"));
            }
        }
        if self.reference.is_some_and(|r| r.is_nan() || r <= 0.0) {
            p.push(Problem::new("reference", "a positive reference value"));
        }
        p
    }

    /// The white paper's checks that apply to this equipment.
    pub fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        match (self.class.as_str(), self.reference) {
            ("aau" | "rru", Some(r)) => {
                let limit = r * (1.0 - RADIO_REDUCTION);
                out.push(Check {
                    rule: "radio_15",
                    pass: self.typical_w <= limit + 1e-9,
                    value: self.typical_w,
                    limit,
                });
            }
            ("server", Some(r)) => {
                let per = self.typical_w / self.compute.unwrap_or(f64::NAN);
                let limit = r * (1.0 - SERVER_REDUCTION);
                out.push(Check { rule: "server_10", pass: per <= limit + 1e-12, value: per, limit });
            }
            _ => {}
        }
        if let Some(g) = self.grade {
            out.push(Check { rule: "first_grade", pass: g == 1, value: f64::from(g), limit: 1.0 });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        class: &str,
        typical: f64,
        compute: Option<f64>,
        grade: Option<u8>,
        reference: Option<f64>,
    ) -> EquipmentSpec {
        EquipmentSpec {
            class: class.into(),
            model: "m".into(),
            power_w: vec![],
            typical_w: typical,
            compute,
            grade,
            reference,
        }
    }

    #[test]
    fn thresholds_by_hand() {
        // AAU replacing a 1,080 W model: limit 1,080 × 0.85 = 918 W; 900 W passes, 950 W fails.
        let c = spec("aau", 900.0, None, Some(1), Some(1080.0)).checks();
        assert_eq!((c[0].rule, c[0].pass, c[0].limit), ("radio_15", true, 918.0));
        assert_eq!((c[1].rule, c[1].pass), ("first_grade", true));
        assert!(!spec("aau", 950.0, None, None, Some(1080.0)).checks()[0].pass);
        // Server: 500 W for 1,000 units = 0.5 W/unit against 0.6 → limit 0.54: passes; 560 W fails.
        let s = spec("server", 500.0, Some(1000.0), Some(2), Some(0.6)).checks();
        assert_eq!((s[0].rule, s[0].pass, s[0].value), ("server_10", true, 0.5));
        assert!((s[0].limit - 0.54).abs() < 1e-12);
        assert_eq!((s[1].rule, s[1].pass), ("first_grade", false));
        assert!(!spec("server", 560.0, Some(1000.0), None, Some(0.6)).checks()[0].pass);
        let fields: Vec<String> =
            spec("server", 0.0, None, Some(9), None).problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["typical_w", "compute", "grade"]);
    }
}
