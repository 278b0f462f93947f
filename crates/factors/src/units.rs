//! Units of factor values: `NUMERATOR/DENOMINATOR`, e.g. `tCO2/MWh`, `GJ/t`, `tC/TJ`, `kgce/kWh`.

use model::{parse_unit, unit, Dimension, Unit};

#[derive(Debug, Clone, PartialEq)]
pub struct FactorUnit {
    /// `None` for dimensionless (`1`, `fraction`).
    pub numerator: Option<&'static Unit>,
    /// What the numerator counts: `CO2`, `CO2e`, `C`, `ce`, or empty.
    pub label: String,
    pub denominator: Option<&'static Unit>,
}

impl FactorUnit {
    /// Multiplier that turns a value in this unit into numerator-base per denominator-base
    /// (kg or MJ per MJ, kg, m³, yuan, t·km, p·km, item).
    pub fn to_base(&self) -> f64 {
        let n = self.numerator.map_or(1.0, |u| u.in_base);
        let d = self.denominator.map_or(1.0, |u| u.in_base);
        n / d
    }
    pub fn numerator_dimension(&self) -> Option<Dimension> {
        self.numerator.map(|u| u.dimension)
    }
    pub fn denominator_dimension(&self) -> Option<Dimension> {
        self.denominator.map(|u| u.dimension)
    }
}

/// Numerator units, longest code first so that `kWh` is not read as `k`+`Wh`.
const NUMERATOR_CODES: &[&str] = &["kWh", "MWh", "GWh", "GJ", "MJ", "TJ", "kg", "g", "t"];

pub fn parse_factor_unit(text: &str) -> Result<FactorUnit, String> {
    let t = text.trim();
    if t == "1" || t == "fraction" {
        return Ok(FactorUnit { numerator: None, label: String::new(), denominator: None });
    }
    let (num, den) = t
        .split_once('/')
        .ok_or_else(|| format!("unit {t:?} is not of the form NUMERATOR/DENOMINATOR, `1` or `fraction`"))?;
    let code = NUMERATOR_CODES
        .iter()
        .find(|c| num.starts_with(**c))
        .ok_or_else(|| format!("unit {t:?}: numerator {num:?} does not start with one of {NUMERATOR_CODES:?}"))?;
    let label = num[code.len()..].to_string();
    if !matches!(label.as_str(), "" | "C" | "ce" | "CO2" | "CO2e" | "CH4" | "N2O") {
        return Err(format!("unit {t:?}: numerator label {label:?} is not one of CO2, CO2e, CH4, N2O, C, ce"));
    }
    let denominator = parse_unit(den).ok_or_else(|| format!("unit {t:?}: denominator {den:?} is not a known unit"))?;
    Ok(FactorUnit { numerator: Some(unit(code)), label, denominator: Some(denominator) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_factor_units_agree() {
        let a = parse_factor_unit("tCO2/MWh").unwrap();
        let b = parse_factor_unit("kgCO2/kWh").unwrap();
        assert_eq!(a.label, "CO2");
        assert!((a.to_base() - b.to_base()).abs() < 1e-15);
        // 1 tCO2/MWh = 1000 kg per 3600 MJ.
        assert!((a.to_base() - 1000.0 / 3600.0).abs() < 1e-15);
    }

    #[test]
    fn physical_parameter_units() {
        let ncv = parse_factor_unit("GJ/t").unwrap();
        assert_eq!(ncv.numerator_dimension(), Some(Dimension::Energy));
        assert_eq!(ncv.to_base(), 1.0); // 1000 MJ per 1000 kg
        let cc = parse_factor_unit("tC/TJ").unwrap();
        assert_eq!(cc.label, "C");
        assert!((cc.to_base() - 1e-3).abs() < 1e-18);
        let gas = parse_factor_unit("GJ/10^4 Nm3").unwrap();
        assert!((gas.to_base() - 0.1).abs() < 1e-15);
        assert_eq!(parse_factor_unit("kgce/kWh").unwrap().label, "ce");
        assert!(parse_factor_unit("1").unwrap().numerator.is_none());
    }

    #[test]
    fn bad_units_are_explained() {
        assert!(parse_factor_unit("tCO2").unwrap_err().contains("NUMERATOR/DENOMINATOR"));
        assert!(parse_factor_unit("lbCO2/kWh").unwrap_err().contains("numerator"));
        assert!(parse_factor_unit("tCO2/furlong").unwrap_err().contains("denominator"));
        assert!(parse_factor_unit("tSOX/kWh").unwrap_err().contains("label"));
    }
}
