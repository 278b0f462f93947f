//! Spend-based environmentally-extended input–output (EEIO) factor sets, versioned TOML with a
//! source on every number. A set states its currency, price year and price basis; a spend is
//! converted to the set's currency (at the spend year's rate), deflated to the set's price year
//! with the set's CNY price index, and multiplied by the sector's factor (kg CO2e per unit of
//! currency at the price year). Spend-based results are screening grade (data quality 4).
//!
//! ```toml
//! [set]
//! id = "useeio-v1.3"; version = 1; title = "..."; currency = "USD"; price_year = 2022
//! price_basis = "purchaser"; source = "..."
//! [[deflator]]   # CNY price index by year (any base)
//! year = 2024; index = "94.87"; source = "..."
//! [[rate]]       # CNY per unit of `currency` in `year`
//! currency = "USD"; year = 2022; cny_per_unit = "6.7261"; source = "..."
//! [[factor]]
//! sector = "334111"; name = "..."; kg_per_unit = "0.058"; source = "..."
//! ```

use crate::{parse_decimal, Problem, YEARS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The set shipped with the platform (US EPA Supply Chain GHG Emission Factors v1.3, the sectors
/// with a verified value; see the file's sources).
pub const SHIPPED: &str = include_str!("../data/eeio-useeio-v1.3.toml");

#[derive(Debug, Clone, Deserialize)]
struct FileHead {
    id: String,
    version: i64,
    title: String,
    currency: String,
    price_year: i32,
    price_basis: String,
    source: String,
}

#[derive(Debug, Clone, Deserialize)]
struct FileDeflator {
    year: i32,
    index: String,
    source: String,
}

#[derive(Debug, Clone, Deserialize)]
struct FileRate {
    currency: String,
    year: i32,
    cny_per_unit: String,
    source: String,
}

#[derive(Debug, Clone, Deserialize)]
struct FileFactor {
    sector: String,
    name: String,
    kg_per_unit: String,
    source: String,
}

#[derive(Debug, Clone, Deserialize)]
struct File {
    set: FileHead,
    #[serde(default)]
    deflator: Vec<FileDeflator>,
    #[serde(default)]
    rate: Vec<FileRate>,
    #[serde(default)]
    factor: Vec<FileFactor>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub sector: String,
    pub name: String,
    pub kg_per_unit: f64,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EeioSet {
    pub id: String,
    pub version: i64,
    pub title: String,
    pub currency: String,
    pub price_year: i32,
    pub price_basis: String,
    pub source: String,
    /// CNY price index by year.
    pub deflators: BTreeMap<i32, f64>,
    /// CNY per unit of a currency in a year.
    pub rates: BTreeMap<(String, i32), f64>,
    pub factors: BTreeMap<String, Factor>,
}

/// How a spend became an amount of the set's currency at its price year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    /// Amount of the set's currency at the price year per unit of the spend's currency.
    pub multiplier: f64,
}

fn positive(p: &mut Vec<Problem>, field: String, v: &str) -> f64 {
    match parse_decimal(v) {
        Some(x) if x > 0.0 => x,
        Some(_) => {
            p.push(Problem::new(field, format!("{v} is not positive")));
            0.0
        }
        None => {
            p.push(Problem::new(field, format!("{v:?} is not a decimal number")));
            0.0
        }
    }
}

fn sourced(p: &mut Vec<Problem>, field: String, s: &str) {
    if s.trim().is_empty() {
        p.push(Problem::new(field, "has no source"));
    }
}

/// Currencies are ISO 4217 codes.
fn currency_ok(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

impl EeioSet {
    /// A set from its TOML text: every problem, each naming its key.
    pub fn parse(text: &str) -> Result<EeioSet, Vec<Problem>> {
        let f: File = toml::from_str(text).map_err(|e| {
            vec![Problem::new(
                e.span().map_or("(file)".to_string(), |s| format!("byte {}", s.start)),
                e.message().to_string(),
            )]
        })?;
        let mut p = Vec::new();
        let h = &f.set;
        if h.id.is_empty() || h.id.len() > 64 {
            p.push(Problem::new("set.id", "1 to 64 characters"));
        }
        if h.version < 1 {
            p.push(Problem::new("set.version", "a version is 1 or more"));
        }
        if !currency_ok(&h.currency) {
            p.push(Problem::new("set.currency", format!("{:?} is not an ISO 4217 code", h.currency)));
        }
        if !YEARS.contains(&h.price_year) {
            p.push(Problem::new("set.price_year", "a year in 1990–2100"));
        }
        if !matches!(h.price_basis.as_str(), "purchaser" | "basic") {
            p.push(Problem::new("set.price_basis", "purchaser or basic (never mixed)"));
        }
        sourced(&mut p, "set.source".into(), &h.source);
        let mut deflators = BTreeMap::new();
        for (i, d) in f.deflator.iter().enumerate() {
            let x = positive(&mut p, format!("deflator[{i}].index"), &d.index);
            sourced(&mut p, format!("deflator[{i}].source"), &d.source);
            if deflators.insert(d.year, x).is_some() {
                p.push(Problem::new(format!("deflator[{i}].year"), format!("{} is given twice", d.year)));
            }
        }
        if !deflators.contains_key(&h.price_year) {
            p.push(Problem::new("deflator", format!("no index for the price year {}", h.price_year)));
        }
        let mut rates = BTreeMap::new();
        for (i, r) in f.rate.iter().enumerate() {
            if !currency_ok(&r.currency) || r.currency == "CNY" {
                p.push(Problem::new(
                    format!("rate[{i}].currency"),
                    format!("{:?} is not an ISO 4217 code other than CNY", r.currency),
                ));
            }
            let x = positive(&mut p, format!("rate[{i}].cny_per_unit"), &r.cny_per_unit);
            sourced(&mut p, format!("rate[{i}].source"), &r.source);
            if rates.insert((r.currency.clone(), r.year), x).is_some() {
                p.push(Problem::new(format!("rate[{i}]"), "given twice"));
            }
        }
        if h.currency != "CNY" && !rates.contains_key(&(h.currency.clone(), h.price_year)) {
            p.push(Problem::new("rate", format!("no CNY rate of {} in the price year {}", h.currency, h.price_year)));
        }
        let mut factors = BTreeMap::new();
        for (i, x) in f.factor.iter().enumerate() {
            if x.sector.is_empty() {
                p.push(Problem::new(format!("factor[{i}].sector"), "is required"));
            }
            let v = positive(&mut p, format!("factor[{i}].kg_per_unit"), &x.kg_per_unit);
            sourced(&mut p, format!("factor[{i}].source"), &x.source);
            let fac =
                Factor { sector: x.sector.clone(), name: x.name.clone(), kg_per_unit: v, source: x.source.clone() };
            if factors.insert(x.sector.clone(), fac).is_some() {
                p.push(Problem::new(format!("factor[{i}].sector"), format!("{} is given twice", x.sector)));
            }
        }
        if factors.is_empty() {
            p.push(Problem::new("factor", "a set has at least one factor"));
        }
        if !p.is_empty() {
            return Err(p);
        }
        Ok(EeioSet {
            id: h.id.clone(),
            version: h.version,
            title: h.title.clone(),
            currency: h.currency.clone(),
            price_year: h.price_year,
            price_basis: h.price_basis.clone(),
            source: h.source.clone(),
            deflators,
            rates,
            factors,
        })
    }

    pub fn shipped() -> EeioSet {
        EeioSet::parse(SHIPPED).expect("the shipped EEIO set loads")
    }

    /// `id@version`, as results name it.
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// The multiplier from one unit of `currency` spent in `year` to the set's currency at its price
    /// year: to CNY at the spend year's rate, deflated by the CNY index (index[price year] /
    /// index[spend year]), to the set's currency at the price year's rate. An unknown currency or a
    /// year without an index or rate is a problem naming the field.
    pub fn conversion(&self, currency: &str, year: i32) -> Result<Conversion, Problem> {
        let to_cny = if currency == "CNY" {
            1.0
        } else {
            *self.rates.get(&(currency.to_string(), year)).ok_or_else(|| {
                Problem::new(
                    "currency",
                    if self.rates.keys().any(|(c, _)| c == currency) {
                        format!("the factor set {} has no CNY rate of {currency} in {year}", self.key())
                    } else {
                        format!(
                            "unknown currency {currency:?}: the factor set {} converts CNY and {}",
                            self.key(),
                            self.rates
                                .keys()
                                .map(|(c, _)| c.as_str())
                                .collect::<std::collections::BTreeSet<_>>()
                                .into_iter()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                )
            })?
        };
        let idx_year = *self.deflators.get(&year).ok_or_else(|| {
            Problem::new("date", format!("the factor set {} has no price index for {year}", self.key()))
        })?;
        let idx_base = self.deflators[&self.price_year];
        let from_cny =
            if self.currency == "CNY" { 1.0 } else { 1.0 / self.rates[&(self.currency.clone(), self.price_year)] };
        Ok(Conversion { multiplier: to_cny * idx_base / idx_year * from_cny })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_set_loads_and_converts_by_hand() {
        let s = EeioSet::shipped();
        assert_eq!((s.currency.as_str(), s.price_year), ("USD", 2022));
        // 2022 CNY → 2022 USD: 1 / 6.7261.
        let c = s.conversion("CNY", 2022).unwrap();
        assert!((c.multiplier - 1.0 / 6.7261).abs() < 1e-12);
        // 2024 CNY: index 2022 = 100, 2024 = 94.866 → × 100 / 94.866, then / 6.7261.
        let c = s.conversion("CNY", 2024).unwrap();
        assert!((c.multiplier - 100.0 / 94.866 / 6.7261).abs() < 1e-12);
        let e = s.conversion("JPY", 2024).unwrap_err();
        assert_eq!(e.field, "currency");
        assert!(e.reason.contains("unknown currency \"JPY\""), "{}", e.reason);
        assert_eq!(s.conversion("CNY", 2001).unwrap_err().field, "date");
    }

    #[test]
    fn a_set_without_sources_lists_every_problem() {
        let t = r#"
[set]
id = "x"
version = 1
title = "t"
currency = "CNY"
price_year = 2020
price_basis = "producer"
source = ""
[[factor]]
sector = "a"
kg_per_unit = "-1"
name = "n"
source = ""
"#;
        let fields: Vec<String> = EeioSet::parse(t).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["set.price_basis", "set.source", "deflator", "factor[0].kg_per_unit", "factor[0].source"]);
    }
}
