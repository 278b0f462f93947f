//! Uncertainty by error propagation (IPCC 2006 Guidelines, Vol. 1 Ch. 3, Approach 1; the GHG
//! Protocol uncertainty tool uses the same two rules): uncertainties are half the 95 % confidence
//! interval as a percentage of the value, inputs roughly normal and uncorrelated.
//!
//! - product (activity × factor): U = √(U₁² + … + Uₙ²)  (IPCC eq. 3.1)
//! - sum of emissions xᵢ: U = √((U₁x₁)² + … + (Uₙxₙ)²) / |Σxᵢ|  (IPCC eq. 3.2)
//!
//! Above about ±50 % the normal approximation is poor and Monte Carlo (Approach 2) is the method
//! to use; [`Source::approach_valid`] flags it.

use model::{CarrierKind, ElectricitySource};
use serde::Serialize;

/// Default uncertainties (% at 95 %) of activity data and factors by kind of source, when the
/// data gives none (reference: disclosure-supply-mv.md A7: fuel statistics ±5 %, electricity
/// meters ±0.5–2 %, Tier-1 CO2 factors ±2–10 %, spend-based EEIO ≥ ±50 %).
pub fn defaults(kind: &CarrierKind) -> (f64, f64) {
    match kind {
        // Metered, billed: ±2 % activity; a provincial grid average applied to the site: ±10 %.
        CarrierKind::Electricity(ElectricitySource::Grid) => (2.0, 10.0),
        // Certificates: the zero factor is exact; the metered quantity is not.
        CarrierKind::Electricity(_) => (2.0, 0.0),
        // Fuel statistics ±5 %; Tier-1 CO2 factors ±5 % (middle of ±2–10 %).
        CarrierKind::Fuel(_) => (5.0, 5.0),
        CarrierKind::Heat => (5.0, 10.0),
        // Refrigerant top-ups from purchase records, GWP values ±10 % (IPCC AR6 states ±10–35 %
        // for most HFCs; the lower bound is taken here).
        CarrierKind::Refrigerant(_) => (10.0, 10.0),
        CarrierKind::Water | CarrierKind::Paper => (5.0, 30.0),
        CarrierKind::PurchasedGoods(_) => (5.0, 30.0),
        // Spend-based EEIO: ±50 % at least.
        CarrierKind::Spend(_) => (5.0, 50.0),
        CarrierKind::Freight(_) | CarrierKind::BusinessTravel(_) | CarrierKind::Commuting(_) => (10.0, 30.0),
    }
}

/// One source of emissions with its uncertainties.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    pub emissions: f64,
    /// Activity data uncertainty, % (95 % CI half-width).
    pub activity_pct: f64,
    /// Factor uncertainty, %.
    pub factor_pct: f64,
}

impl Source {
    /// The source's combined uncertainty, % (product rule).
    pub fn combined_pct(&self) -> f64 {
        product(&[self.activity_pct, self.factor_pct])
    }
    /// Whether error propagation is a fair approximation (combined uncertainty below 50 %).
    pub fn approach_valid(&self) -> bool {
        self.combined_pct() < 50.0
    }
}

/// Product rule: the uncertainty of a product of uncorrelated quantities, %.
pub fn product(pcts: &[f64]) -> f64 {
    pcts.iter().map(|u| u * u).sum::<f64>().sqrt()
}

/// Sum rule: the uncertainty of a sum of uncorrelated quantities `(value, % uncertainty)`, %
/// (0 when the sum is 0).
pub fn sum(parts: &[(f64, f64)]) -> f64 {
    let total: f64 = parts.iter().map(|(x, _)| x).sum();
    if total == 0.0 {
        return 0.0;
    }
    parts.iter().map(|(x, u)| (u * x) * (u * x)).sum::<f64>().sqrt() / total.abs()
}

/// The uncertainty of a total of sources, %: each source by the product rule, then the sum rule.
pub fn total(sources: &[Source]) -> f64 {
    let parts: Vec<(f64, f64)> = sources.iter().map(|s| (s.emissions, s.combined_pct())).collect();
    sum(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: source A 100 t with activity ±2 % and factor ±5 %: √(4 + 25) = √29 =
    /// 5.385165 %. Source B 300 t with ±5 % and ±10 %: √(25 + 100) = √125 = 11.180340 %.
    /// Total 400 t: √((5.385165 × 100)² + (11.180340 × 300)²) / 400 = √(290 000 + 11 250 000) / 400
    /// = √11 540 000 / 400 = 3 397.0576 / 400 = 8.492644 %.
    #[test]
    fn hand_checked_case() {
        let a = Source { emissions: 100.0, activity_pct: 2.0, factor_pct: 5.0 };
        let b = Source { emissions: 300.0, activity_pct: 5.0, factor_pct: 10.0 };
        assert!((a.combined_pct() - 5.385165).abs() < 1e-6);
        assert!((b.combined_pct() - 11.180340).abs() < 1e-6);
        assert!((total(&[a, b]) - 8.492644).abs() < 1e-6);
    }

    #[test]
    fn one_source_keeps_its_uncertainty_and_zero_sum_is_zero() {
        assert!((sum(&[(250.0, 7.0)]) - 7.0).abs() < 1e-12);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(product(&[3.0, 4.0]), 5.0);
        assert!(!Source { emissions: 1.0, activity_pct: 5.0, factor_pct: 50.0 }.approach_valid());
    }
}
