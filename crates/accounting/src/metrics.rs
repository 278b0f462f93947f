//! The figures accumulated for every (org, facility type, month) cell.
//!
//! Figures are accumulated as integers in millionths of their unit (mg of CO2e, mg of standard
//! coal, mWh/1000 of electricity). Each record's contribution is rounded once to a millionth, far
//! below any reporting precision, and from then on addition is exact: a parent equals the sum of
//! its children to the last digit, and the result does not depend on the number of threads or the
//! order in which records are read.

use serde::Serialize;

pub const SCALE: f64 = 1_000_000.0;

macro_rules! metrics {
    ($($name:ident = $i:expr, $key:literal, $unit:literal;)*) => {
        $(pub const $name: usize = $i;)*
        pub const METRIC_KEYS: &[&str] = &[$($key),*];
        pub const METRIC_UNITS: &[&str] = &[$($unit),*];
    };
}

metrics! {
    S1_STATIONARY = 0, "scope1_stationary_combustion", "kgCO2e";
    S1_MOBILE = 1, "scope1_mobile_combustion", "kgCO2e";
    S1_FUGITIVE = 2, "scope1_fugitive", "kgCO2e";
    S2_LOCATION = 3, "scope2_location", "kgCO2e";
    S2_MARKET = 4, "scope2_market", "kgCO2e";
    S3_CAT1 = 5, "scope3_cat1_purchased_goods", "kgCO2e";
    S3_CAT4 = 6, "scope3_cat4_upstream_transport", "kgCO2e";
    S3_CAT6 = 7, "scope3_cat6_business_travel", "kgCO2e";
    S3_CAT7 = 8, "scope3_cat7_commuting", "kgCO2e";
    MEMO_MONTREAL = 9, "memo_montreal_gases", "kgCO2e";
    GAS_CO2_KG = 10, "gas_co2", "kg";
    GAS_CH4_KG = 11, "gas_ch4", "kg";
    GAS_N2O_KG = 12, "gas_n2o", "kg";
    GAS_FGAS_KG = 13, "gas_fluorinated", "kg";
    CO2E_CO2 = 14, "co2e_co2", "kgCO2e";
    CO2E_CH4 = 15, "co2e_ch4", "kgCO2e";
    CO2E_N2O = 16, "co2e_n2o", "kgCO2e";
    CO2E_FGAS = 17, "co2e_fluorinated", "kgCO2e";
    ENERGY_KGCE = 18, "energy", "kgce";
    ELECTRICITY_KWH = 19, "electricity", "kWh";
    GREEN_CERTIFIED_KWH = 20, "electricity_green_certified", "kWh";
    PV_SELF_KWH = 21, "electricity_pv_self", "kWh";
    ALLOCATED_AWAY_CO2E = 22, "allocated_away_scope1_2_location", "kgCO2e";
    ALLOCATED_AWAY_KWH = 23, "allocated_away_electricity", "kWh";
    EXCLUDED_CO2E = 24, "excluded_by_boundary_scope1_2_location", "kgCO2e";
    GREEN_UNCERTIFIED_KWH = 25, "electricity_green_uncertified", "kWh";
}

pub const N_METRICS: usize = 26;

/// One cell's figures in millionths of their units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics(pub [i128; N_METRICS]);

impl Default for Metrics {
    fn default() -> Self {
        Metrics([0; N_METRICS])
    }
}

impl Metrics {
    /// The figures as text (the 26 integers, comma-separated, in [`METRIC_KEYS`] order): how a
    /// snapshot keeps its cells exactly (`store::snapshots`). [`Metrics::decode`] reads it back.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(N_METRICS * 8);
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&v.to_string());
        }
        out
    }
    /// Figures from [`Metrics::encode`]'s text; `None` unless it is exactly [`N_METRICS`] integers.
    pub fn decode(text: &str) -> Option<Metrics> {
        let mut m = Metrics::default();
        let mut parts = text.split(',');
        for slot in m.0.iter_mut() {
            *slot = parts.next()?.parse().ok()?;
        }
        parts.next().is_none().then_some(m)
    }
    pub fn add(&mut self, other: &Metrics) {
        for i in 0..N_METRICS {
            self.0[i] += other.0[i];
        }
    }
    /// The figure in its unit (kg, kWh, kgce).
    pub fn get(&self, m: usize) -> f64 {
        self.0[m] as f64 / SCALE
    }
    /// The figure in tonnes (for kg and kgce metrics).
    pub fn tonnes(&self, m: usize) -> f64 {
        self.0[m] as f64 / SCALE / 1000.0
    }
    pub fn scope1(&self) -> i128 {
        self.0[S1_STATIONARY] + self.0[S1_MOBILE] + self.0[S1_FUGITIVE]
    }
    pub fn scope3(&self) -> i128 {
        self.0[S3_CAT1] + self.0[S3_CAT4] + self.0[S3_CAT6] + self.0[S3_CAT7]
    }
}

/// Rounds one contribution to millionths of its unit.
#[inline]
pub fn fixed(v: f64) -> i128 {
    (v * SCALE).round() as i128
}

/// Tonnes (or MWh, tce) from a fixed-point kilogram (kWh, kgce) figure.
pub fn to_thousands(v: i128) -> f64 {
    v as f64 / SCALE / 1000.0
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricValue {
    pub key: &'static str,
    pub unit: &'static str,
    pub value: f64,
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn encoded_figures_read_back_exactly_and_malformed_text_does_not() {
        let mut m = Metrics::default();
        for (i, v) in m.0.iter_mut().enumerate() {
            *v = (i as i128 - 13) * 1_234_567_890_123_456_789;
        }
        assert_eq!(Metrics::decode(&m.encode()), Some(m));
        assert_eq!(Metrics::decode(&Metrics::default().encode()), Some(Metrics::default()));
        let text = m.encode();
        assert_eq!(Metrics::decode(&format!("{text},1")), None, "one figure too many");
        assert_eq!(Metrics::decode(text.rsplit_once(',').unwrap().0), None, "one figure short");
        assert_eq!(Metrics::decode(&text.replacen('-', "x", 1)), None);
    }
}
