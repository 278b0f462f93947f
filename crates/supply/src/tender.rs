//! Green procurement: a configurable tender scoring model. Criteria (price, quality, delivery,
//! carbon, energy efficiency, or others) each have a weight (percent, summing to 100) and a scoring
//! curve that turns a bid's value into 0–100 points; a bid's score is Σ weight × points / 100.
//! Bids are ranked by score (ties by supplier); every criterion's part is explained, the carbon
//! criterion in words with its value, curve, points and weighted points.

use crate::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Curve {
    /// 100 × lowest bid ÷ this bid (the lowest value scores 100; e.g. price, 低价优先).
    LowestIsBest,
    /// 100 points at `best`, 0 at `worst`, linear between, clamped (`best` may be above or below `worst`).
    Linear { best: f64, worst: f64 },
    /// The value is already 0–100 points (e.g. an expert panel's quality mark).
    Direct,
    /// Points of the first step whose bound the value does not exceed (`upto` ascending); above
    /// every bound, `otherwise`.
    Steps { steps: Vec<Step>, otherwise: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub upto: f64,
    pub points: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// `price`, `quality`, `delivery`, `carbon`, `energy_efficiency`, or another code.
    pub code: String,
    /// Percent of the score.
    pub weight: f64,
    pub curve: Curve,
    /// The unit of the values (e.g. `CNY`, `kgCO2e/piece`, `days`), for the explanation.
    #[serde(default)]
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    pub supplier: String,
    pub values: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    pub criterion: String,
    pub value: f64,
    pub points: f64,
    pub weight: f64,
    pub weighted: f64,
    pub explain: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub rank: usize,
    pub supplier: String,
    pub score: f64,
    pub parts: Vec<Part>,
}

/// The white paper's example model: price 40, quality 20, delivery 10, carbon 20, energy efficiency 10.
pub fn default_model() -> Model {
    Model {
        criteria: vec![
            Criterion { code: "price".into(), weight: 40.0, curve: Curve::LowestIsBest, unit: "CNY".into() },
            Criterion { code: "quality".into(), weight: 20.0, curve: Curve::Direct, unit: "points".into() },
            Criterion {
                code: "delivery".into(),
                weight: 10.0,
                curve: Curve::Linear { best: 30.0, worst: 120.0 },
                unit: "days".into(),
            },
            Criterion { code: "carbon".into(), weight: 20.0, curve: Curve::LowestIsBest, unit: "kgCO2e/unit".into() },
            Criterion {
                code: "energy_efficiency".into(),
                weight: 10.0,
                curve: Curve::Steps {
                    steps: vec![Step { upto: 1.0, points: 100.0 }, Step { upto: 2.0, points: 60.0 }],
                    otherwise: 0.0,
                },
                unit: "grade".into(),
            },
        ],
    }
}

impl Model {
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.criteria.is_empty() {
            p.push(Problem::new("criteria", "at least one criterion"));
        }
        let mut sum = 0.0;
        for (i, c) in self.criteria.iter().enumerate() {
            if c.code.is_empty() || self.criteria[..i].iter().any(|o| o.code == c.code) {
                p.push(Problem::new(format!("criteria[{i}].code"), "empty or given twice"));
            }
            if !(c.weight > 0.0 && c.weight <= 100.0) {
                p.push(Problem::new(format!("criteria[{i}].weight"), format!("{} is not in (0, 100]", c.weight)));
            }
            sum += c.weight;
            match &c.curve {
                Curve::Linear { best, worst } if best == worst || !best.is_finite() || !worst.is_finite() => {
                    p.push(Problem::new(format!("criteria[{i}].curve"), "best and worst differ"))
                }
                Curve::Steps { steps, otherwise } => {
                    if steps.is_empty() || steps.windows(2).any(|w| w[0].upto >= w[1].upto) {
                        p.push(Problem::new(
                            format!("criteria[{i}].curve.steps"),
                            "at least one step, bounds ascending",
                        ));
                    }
                    if steps.iter().map(|s| s.points).chain([*otherwise]).any(|x| !(0.0..=100.0).contains(&x)) {
                        p.push(Problem::new(format!("criteria[{i}].curve"), "points are 0–100"));
                    }
                }
                _ => {}
            }
        }
        if !self.criteria.is_empty() && (sum - 100.0).abs() > 1e-9 {
            p.push(Problem::new("criteria", format!("weights sum to {sum}, not 100")));
        }
        p
    }
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

/// Scores and ranks the bids; every problem (model, a bid without a value) at once.
pub fn rank(model: &Model, bids: &[Bid]) -> Result<Vec<Ranked>, Vec<Problem>> {
    let mut p = model.problems();
    for (i, b) in bids.iter().enumerate() {
        if b.supplier.is_empty() {
            p.push(Problem::new(format!("bids[{i}].supplier"), "is required"));
        }
        for c in &model.criteria {
            match b.values.get(&c.code) {
                None => p.push(Problem::new(format!("bids[{i}].values.{}", c.code), "is required")),
                Some(v) if !v.is_finite() || *v < 0.0 => {
                    p.push(Problem::new(format!("bids[{i}].values.{}", c.code), format!("{v} is negative")))
                }
                Some(v) if matches!(c.curve, Curve::Direct) && *v > 100.0 => {
                    p.push(Problem::new(format!("bids[{i}].values.{}", c.code), "points are 0–100"))
                }
                _ => {}
            }
        }
    }
    if !p.is_empty() {
        return Err(p);
    }
    let lowest: BTreeMap<&str, f64> = model
        .criteria
        .iter()
        .map(|c| (c.code.as_str(), bids.iter().map(|b| b.values[&c.code]).fold(f64::INFINITY, f64::min)))
        .collect();
    let mut out: Vec<Ranked> = bids
        .iter()
        .map(|b| {
            let parts: Vec<Part> = model
                .criteria
                .iter()
                .map(|c| {
                    let v = b.values[&c.code];
                    let (points, how) = match &c.curve {
                        Curve::LowestIsBest => {
                            let lo = lowest[c.code.as_str()];
                            let pts = if v == 0.0 { 100.0 } else { 100.0 * lo / v };
                            (pts, format!("100 × lowest {lo} ÷ {v}"))
                        }
                        Curve::Linear { best, worst } => {
                            let t = ((v - worst) / (best - worst)).clamp(0.0, 1.0);
                            (100.0 * t, format!("100 points at {best}, 0 at {worst}, linear"))
                        }
                        Curve::Direct => (v, "points as given".to_string()),
                        Curve::Steps { steps, otherwise } => {
                            let pts = steps.iter().find(|s| v <= s.upto).map_or(*otherwise, |s| s.points);
                            (pts, "by steps".to_string())
                        }
                    };
                    let weighted = points * c.weight / 100.0;
                    let explain = format!(
                        "{}: {v} {} → {} points ({how}) × {} % = {}",
                        c.code,
                        c.unit,
                        round(points, 4),
                        c.weight,
                        round(weighted, 4)
                    );
                    Part {
                        criterion: c.code.clone(),
                        value: v,
                        points: round(points, 4),
                        weight: c.weight,
                        weighted: round(weighted, 4),
                        explain,
                    }
                })
                .collect();
            let score = round(parts.iter().map(|x| x.weighted).sum(), 4);
            Ranked { rank: 0, supplier: b.supplier.clone(), score, parts }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.supplier.cmp(&b.supplier)));
    for (i, r) in out.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(s: &str, price: f64, quality: f64, delivery: f64, carbon: f64, grade: f64) -> Bid {
        Bid {
            supplier: s.into(),
            values: [
                ("price", price),
                ("quality", quality),
                ("delivery", delivery),
                ("carbon", carbon),
                ("energy_efficiency", grade),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        }
    }

    #[test]
    fn scoring_arithmetic_by_hand() {
        let m = default_model();
        let bids = [bid("A", 1_000_000.0, 80.0, 60.0, 800.0, 1.0), bid("B", 800_000.0, 90.0, 30.0, 1000.0, 2.0)];
        let r = rank(&m, &bids).unwrap();
        // A: price 100 × 800,000 / 1,000,000 = 80 × 40 % = 32; quality 80 × 20 % = 16;
        //    delivery (60 − 120) / (30 − 120) = 2/3 → 66.6667 × 10 % = 6.6667; carbon lowest 800 → 100 × 20 % = 20;
        //    grade 1 → 100 × 10 % = 10. Total 84.6667.
        // B: price 100 × 40 % = 40; quality 90 × 20 % = 18; delivery 30 → 100 × 10 % = 10;
        //    carbon 100 × 800 / 1,000 = 80 × 20 % = 16; grade 2 → 60 × 10 % = 6. Total 90.
        assert_eq!((r[0].supplier.as_str(), r[0].score, r[0].rank), ("B", 90.0, 1));
        assert_eq!((r[1].supplier.as_str(), r[1].score, r[1].rank), ("A", 84.6667, 2));
        let carbon = r[0].parts.iter().find(|p| p.criterion == "carbon").unwrap();
        assert_eq!((carbon.points, carbon.weighted), (80.0, 16.0));
        assert_eq!(carbon.explain, "carbon: 1000 kgCO2e/unit → 80 points (100 × lowest 800 ÷ 1000) × 20 % = 16");
    }

    #[test]
    fn weights_must_sum_to_100_and_bids_give_every_value() {
        let mut m = default_model();
        m.criteria[0].weight = 30.0;
        let mut b = bid("A", 1.0, 1.0, 1.0, 1.0, 1.0);
        b.values.remove("carbon");
        let fields: Vec<String> = rank(&m, &[b]).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["criteria", "bids[0].values.carbon"]);
    }
}
