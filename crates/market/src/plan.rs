//! The plan file of a compliance period (TOML): the group cap and reserve, the compliance rules, and
//! per subsidiary the allocation method with its parameters. Decimals are written as strings
//! ("0.98") so they are exact; unknown keys and methods are refused with the key named.
//!
//! ```toml
//! [period]
//! year = 2025
//! cap_t = "1200000"              # the group cap, tCO2e
//! reserve_t = "60000"            # kept back by the group
//! surrender_deadline = "2026-06-30"
//! emissions = "market"           # verified emissions: Scope 1 + market-based Scope 2 ("location" also)
//! offset_cap = "0.05"            # offsets cover at most 5 % of an obligation
//! preallocation_share = "0.7"    # pre-allocation: 70 % of the allocation on last year's output
//! penalty_multiple = "5"         # penalty = shortfall × average price of the month before the deadline × 5
//! reward_share = "0.1"           # surplus reward = surplus × that average price × 0.1 (default 0)
//! banking = true                 # surplus stays usable in later periods
//! borrowing = { threshold = "0.10", max_share = "0.5" }
//!
//! [[allocation]]
//! org = "CT-GD"
//! method = "grandfathering"      # base-year verified emissions × coefficient
//! base_year = 2024
//! coefficient = "0.98"
//! ```

use crate::dec::Dec;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn parse(s: &str) -> Result<Date, String> {
        let bad = || format!("not a date (YYYY-MM-DD): {s:?}");
        let mut it = s.split('-');
        let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else { return Err(bad()) };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (year, month, day) = (
            y.parse::<i32>().map_err(|_| bad())?,
            m.parse::<u32>().map_err(|_| bad())?,
            d.parse::<u32>().map_err(|_| bad())?,
        );
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if day == 0 || day > days {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmissionsBasis {
    /// Scope 1 + market-based Scope 2 (the default: green power bought counts).
    Market,
    /// Scope 1 + location-based Scope 2.
    Location,
}

/// The output an intensity or a benchmark is per.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Telecom business volume (电信业务总量), 10⁴ CNY at the indicator's price base.
    BusinessVolume,
    /// Information traffic, TB.
    TrafficTb,
    /// Data-centre IT equipment energy, kWh.
    DcItEnergyKwh,
}

impl Output {
    pub fn code(&self) -> &'static str {
        match self {
            Output::BusinessVolume => "business_volume",
            Output::TrafficTb => "traffic_tb",
            Output::DcItEnergyKwh => "dc_it_energy_kwh",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Borrowing {
    /// Borrowing only for a shortfall of at least this share of the obligation (national 2021-22: 10 %).
    pub threshold: Dec,
    /// At most this share of the shortfall (national 2021-22: 50 %).
    pub max_share: Dec,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub year: i32,
    pub cap_t: Dec,
    #[serde(default = "zero")]
    pub reserve_t: Dec,
    pub surrender_deadline: Date,
    #[serde(default = "market")]
    pub emissions: EmissionsBasis,
    #[serde(default = "five_percent")]
    pub offset_cap: Dec,
    #[serde(default)]
    pub preallocation_share: Option<Dec>,
    #[serde(default = "five")]
    pub penalty_multiple: Dec,
    /// Reward for each tonne left over after surrender, as a share of the same average price
    /// (paid from the group's budget when the period is settled); 0 = none.
    #[serde(default = "zero")]
    pub reward_share: Dec,
    #[serde(default = "yes")]
    pub banking: bool,
    #[serde(default)]
    pub borrowing: Option<Borrowing>,
}

fn zero() -> Dec {
    Dec::ZERO
}
fn market() -> EmissionsBasis {
    EmissionsBasis::Market
}
fn five_percent() -> Dec {
    Dec::parse("0.05").expect("literal")
}
fn five() -> Dec {
    Dec::from_int(5)
}
fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method", deny_unknown_fields)]
pub enum Method {
    /// A = E(base year) × coefficient.
    Grandfathering { base_year: i32, coefficient: Dec },
    /// A = Q(actual) × E(base year) / Q(base year) × coefficient.
    HistoricalIntensity { output: Output, base_year: i32, coefficient: Dec },
    /// A = Q(actual) × benchmark × Π corrections; benchmark in kgCO2e per unit of output.
    Benchmark {
        output: Output,
        benchmark: Dec,
        #[serde(default)]
        corrections: std::collections::BTreeMap<String, Dec>,
    },
    /// The migration from grandfathering to benchmark: (1 − w) × grandfathering + w × benchmark.
    Hybrid {
        base_year: i32,
        coefficient: Dec,
        output: Output,
        benchmark: Dec,
        #[serde(default)]
        corrections: std::collections::BTreeMap<String, Dec>,
        benchmark_weight: Dec,
    },
}

impl Method {
    pub fn code(&self) -> &'static str {
        match self {
            Method::Grandfathering { .. } => "grandfathering",
            Method::HistoricalIntensity { .. } => "historical_intensity",
            Method::Benchmark { .. } => "benchmark",
            Method::Hybrid { .. } => "hybrid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPlan {
    pub org: String,
    #[serde(flatten)]
    pub method: Method,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub period: Period,
    #[serde(default)]
    pub allocation: Vec<OrgPlan>,
}

/// One problem of a plan file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanProblem {
    /// The key path, e.g. "allocation[2].coefficient".
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl Plan {
    /// Reads and checks a plan file; every problem at once.
    pub fn parse(text: &str) -> Result<Plan, Vec<PlanProblem>> {
        let plan: Plan = toml::from_str(text).map_err(|e| {
            let field = e.span().map(|s| field_at(text, s.start)).unwrap_or_default();
            vec![PlanProblem { field, code: "plan_syntax", message: e.message().to_string() }]
        })?;
        let problems = plan.problems();
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(problems)
        }
    }

    pub fn problems(&self) -> Vec<PlanProblem> {
        let mut out = Vec::new();
        let mut bad =
            |field: String, code: &'static str, message: String| out.push(PlanProblem { field, code, message });
        let p = &self.period;
        if p.cap_t.is_negative() || p.cap_t.is_zero() {
            bad("period.cap_t".into(), "not_positive", "the group cap must be positive".into());
        }
        if p.reserve_t.is_negative() || p.reserve_t >= p.cap_t {
            bad("period.reserve_t".into(), "out_of_range", "the reserve must be at least 0 and below the cap".into());
        }
        for (field, v) in [("period.cap_t", p.cap_t), ("period.reserve_t", p.reserve_t)] {
            if v.checked_mul(Dec::from_int(1000))
                .map(|kg| kg.floor().map(|f| Dec::from_int(f as i64) != kg).unwrap_or(true))
                .unwrap_or(true)
            {
                bad(field.into(), "not_whole_kg", "tonnes with at most three decimals (whole kilograms)".into());
            }
        }
        if p.surrender_deadline.year <= p.year {
            bad(
                "period.surrender_deadline".into(),
                "out_of_range",
                format!("the deadline falls after the period {} ends", p.year),
            );
        }
        share(&mut bad, "period.offset_cap", p.offset_cap);
        if let Some(s) = p.preallocation_share {
            share(&mut bad, "period.preallocation_share", s);
        }
        share(&mut bad, "period.reward_share", p.reward_share);
        if p.penalty_multiple.is_negative() {
            bad("period.penalty_multiple".into(), "out_of_range", "the penalty multiple must not be negative".into());
        }
        if let Some(b) = &p.borrowing {
            share(&mut bad, "period.borrowing.threshold", b.threshold);
            share(&mut bad, "period.borrowing.max_share", b.max_share);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.allocation.iter().enumerate() {
            let at = |k: &str| format!("allocation[{i}].{k}");
            if !seen.insert(a.org.as_str()) {
                bad(at("org"), "duplicate", format!("{} has two allocations", a.org));
            }
            match &a.method {
                Method::Grandfathering { base_year, coefficient }
                | Method::HistoricalIntensity { base_year, coefficient, .. } => {
                    base(&mut bad, at("base_year"), *base_year, p.year);
                    positive(&mut bad, at("coefficient"), *coefficient);
                }
                Method::Benchmark { benchmark, corrections, .. } => {
                    positive(&mut bad, at("benchmark"), *benchmark);
                    for (k, v) in corrections {
                        positive(&mut bad, at(&format!("corrections.{k}")), *v);
                    }
                }
                Method::Hybrid { base_year, coefficient, benchmark, corrections, benchmark_weight, .. } => {
                    base(&mut bad, at("base_year"), *base_year, p.year);
                    positive(&mut bad, at("coefficient"), *coefficient);
                    positive(&mut bad, at("benchmark"), *benchmark);
                    for (k, v) in corrections {
                        positive(&mut bad, at(&format!("corrections.{k}")), *v);
                    }
                    share(&mut bad, &at("benchmark_weight"), *benchmark_weight);
                }
            }
        }
        out
    }
}

fn share(bad: &mut impl FnMut(String, &'static str, String), field: &str, v: Dec) {
    if v.is_negative() || v > Dec::ONE {
        bad(field.into(), "out_of_range", format!("a share between 0 and 1, not {v}"));
    }
}

fn positive(bad: &mut impl FnMut(String, &'static str, String), field: String, v: Dec) {
    if v.is_negative() || v.is_zero() {
        bad(field, "not_positive", format!("must be positive, not {v}"));
    }
}

fn base(bad: &mut impl FnMut(String, &'static str, String), field: String, base_year: i32, year: i32) {
    if base_year >= year {
        bad(field, "out_of_range", format!("the base year {base_year} must be before the period {year}"));
    }
}

/// The dotted key of the TOML table the byte offset is in, for an error that names its field.
fn field_at(text: &str, offset: usize) -> String {
    // Up to the end of the offset's line: a span may start at a table's own header.
    let end = text[offset.min(text.len())..].find('\n').map(|n| offset + n).unwrap_or(text.len());
    let before = &text[..end];
    let line = before.lines().last().unwrap_or("");
    let mut table = String::new();
    let mut index = std::collections::BTreeMap::<String, usize>::new();
    for l in before.lines() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = index.entry(name.to_string()).and_modify(|n| *n += 1).or_insert(0);
            table = format!("{name}[{n}]");
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = name.to_string();
        }
    }
    let key = line.split('=').next().unwrap_or("").trim();
    match (table.is_empty(), key.is_empty() || key.starts_with('[')) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}
