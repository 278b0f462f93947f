//! Factor selection. The rules, in order (documented in docs/factor-selection.md):
//! 1. An explicit pin (inventory option naming a factor id for a carrier and parameter) wins.
//! 2. Candidates must match parameter, carrier, series, gas and context (a factor with an empty
//!    context serves any context; an exact context match is preferred).
//! 3. The most specific region that has a candidate wins: province, then grid region, then `CN`,
//!    then `*`.
//! 4. Within that region, a factor from a user set beats the shipped library (users override
//!    by adding a set), and a later user file beats an earlier one.
//! 5. Then the nearest year at or before the inventory year; a factor without a year applies to any
//!    year but ranks below a dated one. Only if no region has such a factor does the earliest later
//!    year of the most specific region serve, and the choice says so.
//!
//! Vintages: each series takes its own newest year at or before the inventory year (location- and
//! market-based Scope 2 are not held to a common year); a factor of another year than the
//! inventory is flagged by the accounting plan, never silent (docs/factor-selection.md, vintages).

use crate::library::{Factor, Library, Parameter};
use model::{Province, PROVINCES};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub parameter: Parameter,
    pub carrier: &'a str,
    pub series: &'a str,
    pub gas: Option<&'a str>,
    pub context: &'a str,
    /// Regions from most to least specific.
    pub regions: &'a [String],
    pub year: i32,
}

/// An explicit choice of factor for a carrier and parameter, set per inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pin {
    pub carrier: String,
    pub parameter: Parameter,
    pub factor_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// Index into [`Library::factors`].
    pub factor: usize,
    /// Why, in English.
    pub reason: String,
    /// Why, as a code and its parts (the console words it in the user's language).
    pub why: Why,
    pub later_year_fallback: bool,
}

/// Why a factor was chosen, as data (docs/factor-selection.md): `code` is
/// - `pinned`: pinned by the inventory options (`factor_id`);
/// - `most_specific_region`: the most specific region of the chain had one (`region`);
/// - `nearest_region`: the nearest region with a factor (`region`), none in `skipped`;
/// - `later_year`: nothing at or before the inventory year anywhere, the earliest later `year` of
///   `region` (flagged).
///
/// `year` is the factor's (None: undated), `inventory_year` the inventory's, `set` the factor set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Why {
    pub code: &'static str,
    pub region: Option<String>,
    pub skipped: Vec<String>,
    pub year: Option<i32>,
    pub inventory_year: i32,
    pub set: Option<String>,
    pub factor_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoFactor {
    pub parameter: Parameter,
    pub carrier: String,
    pub series: String,
    pub gas: String,
    pub regions: Vec<String>,
    pub year: i32,
}

impl std::fmt::Display for NoFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no {} factor for carrier {:?}{}{} in regions {} for year {}: add one in a user factor set (see docs/factor-files.md)",
            self.parameter.code(),
            self.carrier,
            if self.series.is_empty() { String::new() } else { format!(" series {:?}", self.series) },
            if self.gas.is_empty() { String::new() } else { format!(" gas {:?}", self.gas) },
            self.regions.join(" > "),
            self.year
        )
    }
}

/// The region chain of a province: `CN-GD`, `CN-GRID-SOUTH`, `CN`, `*`.
pub fn region_chain(province: &Province) -> Vec<String> {
    vec![province.region_code(), province.grid.code().to_string(), "CN".into(), "*".into()]
}

/// Region chains of all provinces, indexed like [`PROVINCES`].
pub fn all_region_chains() -> Vec<Vec<String>> {
    PROVINCES.iter().map(region_chain).collect()
}

impl Library {
    pub fn select(&self, q: &Query<'_>, pins: &[Pin]) -> Result<Choice, NoFactor> {
        if let Some(pin) = pins.iter().find(|p| p.carrier == q.carrier && p.parameter == q.parameter) {
            if let Some(i) = self.factors.iter().position(|f| f.id() == pin.factor_id) {
                let f = &self.factors[i];
                return Ok(Choice {
                    factor: i,
                    reason: format!("pinned by the inventory options to {}", pin.factor_id),
                    why: Why {
                        code: "pinned",
                        region: Some(f.row.region.clone()),
                        skipped: Vec::new(),
                        year: f.row.year,
                        inventory_year: q.year,
                        set: Some(self.sets[f.set].header.id.clone()),
                        factor_id: Some(pin.factor_id.clone()),
                    },
                    later_year_fallback: false,
                });
            }
        }
        let matches = |f: &Factor| {
            f.row.parameter == q.parameter
                && f.row.carrier == q.carrier
                && f.row.series == q.series
                && q.gas.is_none_or(|g| f.row.gas == g)
                && (f.row.context.is_empty() || f.row.context == q.context)
        };
        // Rank within a region: user set first, then dated year ≤ inventory year (nearest first),
        // then undated; ties: exact context, later file.
        let rank = |i: usize| {
            let f = &self.factors[i];
            let year_rank = match f.row.year {
                Some(y) if y <= q.year => (2, y),
                None => (1, 0),
                Some(_) => (0, 0),
            };
            let set = &self.sets[f.set];
            (set.user, year_rank, f.row.context == q.context, f.set)
        };
        for region in q.regions {
            let best = (0..self.factors.len())
                .filter(|&i| matches(&self.factors[i]) && self.factors[i].row.region == *region)
                .filter(|&i| self.factors[i].row.year.is_none_or(|y| y <= q.year))
                .max_by_key(|&i| rank(i));
            if let Some(i) = best {
                let f = &self.factors[i];
                let (region_word, code) = match q.regions.iter().position(|r| r == region) {
                    Some(0) if q.regions.len() > 1 => ("most specific region", "most_specific_region"),
                    _ => ("nearest region with a factor", "nearest_region"),
                };
                let year_word = match f.row.year {
                    Some(y) if y == q.year => format!("year {y} = inventory year"),
                    Some(y) => format!("year {y}, nearest at or before {}", q.year),
                    None => "undated default".to_string(),
                };
                let skipped = &q.regions[..q.regions.iter().position(|r| r == region).unwrap_or(0)];
                let skipped_word =
                    if skipped.is_empty() { String::new() } else { format!("; none for {}", skipped.join(", ")) };
                return Ok(Choice {
                    factor: i,
                    reason: format!(
                        "{region_word} {region}{skipped_word}; {year_word}; set {}",
                        self.sets[f.set].header.id
                    ),
                    why: Why {
                        code,
                        region: Some(region.clone()),
                        skipped: skipped.to_vec(),
                        year: f.row.year,
                        inventory_year: q.year,
                        set: Some(self.sets[f.set].header.id.clone()),
                        factor_id: None,
                    },
                    later_year_fallback: false,
                });
            }
        }
        // Nothing at or before the year anywhere: the earliest later year, most specific region.
        for region in q.regions {
            let best = (0..self.factors.len())
                .filter(|&i| matches(&self.factors[i]) && self.factors[i].row.region == *region)
                .min_by_key(|&i| (self.factors[i].row.year, std::cmp::Reverse(self.sets[self.factors[i].set].user)));
            if let Some(i) = best {
                let f = &self.factors[i];
                return Ok(Choice {
                    factor: i,
                    reason: format!(
                        "region {region}; no factor at or before {} in any region, so the earliest later year {} was used (flagged)",
                        q.year,
                        f.row.year.unwrap_or(q.year)
                    ),
                    why: Why {
                        code: "later_year",
                        region: Some(region.clone()),
                        skipped: Vec::new(),
                        year: f.row.year,
                        inventory_year: q.year,
                        set: Some(self.sets[f.set].header.id.clone()),
                        factor_id: None,
                    },
                    later_year_fallback: true,
                });
            }
        }
        Err(NoFactor {
            parameter: q.parameter,
            carrier: q.carrier.to_string(),
            series: q.series.to_string(),
            gas: q.gas.unwrap_or("").to_string(),
            regions: q.regions.to_vec(),
            year: q.year,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::parse_province;

    fn chain(p: &str) -> Vec<String> {
        region_chain(&PROVINCES[parse_province(p).unwrap() as usize])
    }

    fn grid_query<'a>(regions: &'a [String], year: i32, series: &'a str) -> Query<'a> {
        Query {
            parameter: Parameter::EmissionFactor,
            carrier: "electricity",
            series,
            gas: Some("CO2"),
            context: "",
            regions,
            year,
        }
    }

    #[test]
    fn province_factor_beats_national_and_takes_nearest_earlier_year() {
        let lib = Library::shipped();
        let regions = chain("广东");
        let c = lib.select(&grid_query(&regions, 2024, "nbs_average"), &[]).unwrap();
        let f = &lib.factors[c.factor];
        assert_eq!(f.row.region, "CN-GD");
        assert_eq!(f.row.year, Some(2022));
        assert!(c.reason.contains("most specific region"), "{}", c.reason);
        let c21 = lib.select(&grid_query(&regions, 2021, "nbs_average"), &[]).unwrap();
        assert_eq!(lib.factors[c21.factor].row.year, Some(2021));
    }

    #[test]
    fn falls_back_to_national_series_when_region_missing() {
        let lib = Library::shipped();
        let regions = chain("北京");
        let c = lib.select(&grid_query(&regions, 2024, "mee_reporting"), &[]).unwrap();
        let f = &lib.factors[c.factor];
        assert_eq!((f.row.region.as_str(), f.row.value), ("CN", 0.5703));
        assert!(c.reason.contains("none for CN-BJ"), "{}", c.reason);
    }

    #[test]
    fn earlier_than_any_factor_is_flagged() {
        let lib = Library::shipped();
        let regions = chain("北京");
        let c = lib.select(&grid_query(&regions, 2015, "nbs_average"), &[]).unwrap();
        assert!(c.later_year_fallback);
        assert_eq!(lib.factors[c.factor].row.region, "CN-BJ");
    }

    #[test]
    fn pin_overrides_rules_and_missing_factor_is_an_error() {
        let lib = Library::shipped();
        let regions = chain("广东");
        let pin = Pin {
            carrier: "electricity".into(),
            parameter: Parameter::EmissionFactor,
            factor_id: "elec.mee_reporting.CN.2022".into(),
        };
        let c = lib.select(&grid_query(&regions, 2024, "nbs_average"), &[pin]).unwrap();
        assert_eq!(lib.factors[c.factor].row.value, 0.5703);
        assert!(c.reason.contains("pinned"));
        let q = Query { carrier: "freight:teleport", ..grid_query(&regions, 2024, "") };
        let e = lib.select(&q, &[]).unwrap_err();
        assert!(e.to_string().contains("freight:teleport"));
    }
}
