//! Component values reported by orgs and facilities (`indicator-data.csv`, telemetry roll-ups,
//! inventory totals) and their exact roll-up over the org tree.
//!
//! Values are held as integers in millionths of their unit (money in 10^4 yuan is then exact to the
//! cent and beyond), so a parent's sum equals the sum of its children exactly, in any order. Ratios
//! are computed from the sums only when an indicator is read.

use crate::registry::{Aggregation, Component, Indicator};
use model::{OrgId, OrgTree};
use serde::Serialize;
use std::collections::BTreeMap;

/// Millionths of a unit.
pub type Micro = i128;
pub const MICRO: i128 = 1_000_000;

/// Parses a plain decimal (`12`, `-3.5`, `0.000001`) exactly into millionths; more than six
/// decimals, exponents and thousands separators are refused rather than rounded silently.
pub fn parse_micro(text: &str) -> Result<Micro, String> {
    let s = text.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("expected a decimal number like 1234.5 ('.' as decimal point, no thousands separators)".into());
    }
    if frac.len() > 6 {
        return Err("at most 6 decimals".into());
    }
    if int.len() > 24 {
        return Err("number too large".into());
    }
    let int_v: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| "number too large".to_string())? };
    let frac_v: i128 = format!("{frac:0<6}").parse().unwrap_or(0);
    let v = int_v * MICRO + frac_v;
    Ok(if neg { -v } else { v })
}

pub fn micro_from_f64(v: f64) -> Micro {
    (v * MICRO as f64).round() as Micro
}

pub fn micro_to_f64(v: Micro) -> f64 {
    v as f64 / MICRO as f64
}

/// A calendar period: a year, or a month of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PeriodKey {
    pub year: i32,
    /// 1–12, or 0 for a value given for the whole year.
    pub month: u8,
}

impl PeriodKey {
    /// `YYYY` or `YYYY-MM`, the year within `model::calendar::YEARS` (1990–2100).
    pub fn parse(text: &str) -> Option<PeriodKey> {
        let t = text.trim();
        let p = match t.split_once('-') {
            None if t.len() == 4 => Some(PeriodKey { year: t.parse().ok()?, month: 0 }),
            Some((y, m)) if y.len() == 4 && m.len() == 2 => {
                let month: u8 = m.parse().ok()?;
                (1..=12).contains(&month).then_some(PeriodKey { year: y.parse().ok()?, month })
            }
            _ => None,
        }?;
        model::calendar::YEARS.contains(&p.year).then_some(p)
    }
}

/// The sums of every component for one node and period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sums {
    #[serde(serialize_with = "values_as_slice")]
    pub values: [Micro; Component::ALL.len()],
    /// Which components received at least one value (a zero is different from no data).
    pub present: u64,
}

fn values_as_slice<S: serde::Serializer>(v: &[Micro; Component::ALL.len()], s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&v[..], s)
}

impl Default for Sums {
    fn default() -> Self {
        Sums { values: [0; Component::ALL.len()], present: 0 }
    }
}

impl Sums {
    pub fn add_value(&mut self, c: Component, v: Micro) {
        self.values[c as usize] += v;
        self.present |= 1u64 << c as u32;
    }
    pub fn add(&mut self, other: &Sums) {
        for (a, b) in self.values.iter_mut().zip(other.values.iter()) {
            *a += b;
        }
        self.present |= other.present;
    }
    pub fn get(&self, c: Component) -> Option<Micro> {
        (self.present & (1u64 << c as u32) != 0).then_some(self.values[c as usize])
    }
    /// The indicator's value; `None` when a component is missing or the denominator is zero.
    pub fn indicator(&self, ind: &Indicator) -> Option<f64> {
        let num = self.get(ind.numerator)?;
        match (ind.aggregation, ind.denominator) {
            (Aggregation::Sum, _) | (_, None) => Some(micro_to_f64(num) * ind.scale),
            (Aggregation::RatioOfSums, Some(d)) => {
                let den = self.get(d)?;
                (den != 0).then(|| num as f64 / den as f64 * ind.scale)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub org: OrgId,
    pub facility: Option<String>,
    pub period: PeriodKey,
    pub component: Component,
    pub value: Micro,
    /// Where the value comes from (a filing, `METER:...`, an inventory snapshot).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataError {
    pub line: usize,
    pub column: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "indicator-data.csv:{}: column {}: value {:?}: {}", self.line, self.column, self.value, self.reason)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub rows: Vec<Observation>,
}

impl Observations {
    /// Reads `indicator-data.csv`: `org_code` or `facility_code` (one of them), `period` (`YYYY` or
    /// `YYYY-MM`), `component`, `value`, optional `source`. A component given for a whole year and
    /// for months of the same year for the same org or facility is an error (it would count twice).
    pub fn read_csv(
        input: impl std::io::Read,
        tree: &OrgTree,
        facility_org: impl Fn(&str) -> Option<OrgId>,
    ) -> Result<Observations, Vec<DataError>> {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
        let header: Vec<String> = match rdr.headers() {
            Ok(h) => h.iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect(),
            Err(e) => {
                return Err(vec![DataError {
                    line: 1,
                    column: String::new(),
                    value: String::new(),
                    reason: e.to_string(),
                }])
            }
        };
        let col = |n: &str| header.iter().position(|h| h == n);
        let mut errors = Vec::new();
        for n in ["period", "component", "value"] {
            if col(n).is_none() {
                errors.push(DataError {
                    line: 1,
                    column: n.into(),
                    value: String::new(),
                    reason: "required column is missing".into(),
                });
            }
        }
        let (c_org, c_fac) = (col("org_code"), col("facility_code"));
        if c_org.is_none() && c_fac.is_none() {
            errors.push(DataError {
                line: 1,
                column: "org_code".into(),
                value: String::new(),
                reason: "need an org_code or a facility_code column".into(),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (c_period, c_comp, c_value, c_source) =
            (col("period").unwrap(), col("component").unwrap(), col("value").unwrap(), col("source"));
        let mut out = Observations::default();
        // (entity, year, component) -> the first line giving it for the whole year, and for a month.
        type FirstLines = (Option<usize>, Option<usize>);
        let mut granularity: BTreeMap<(String, i32, Component), FirstLines> = BTreeMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    errors.push(DataError { line, column: String::new(), value: String::new(), reason: e.to_string() });
                    continue;
                }
            };
            if rec.iter().all(|f| f.is_empty()) {
                continue;
            }
            let field = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
            let mut err = |column: &str, value: String, reason: String| {
                errors.push(DataError { line, column: column.into(), value, reason })
            };
            let (org_code, fac_code) = (field(c_org), field(c_fac));
            let target = match (org_code.is_empty(), fac_code.is_empty()) {
                (false, true) => match tree.get(&org_code) {
                    Some(o) => Some((o, None, format!("org:{org_code}"))),
                    None => {
                        err("org_code", org_code.clone(), "not an org_code of orgs.csv".into());
                        None
                    }
                },
                (true, false) => match facility_org(&fac_code) {
                    Some(o) => Some((o, Some(fac_code.clone()), format!("facility:{fac_code}"))),
                    None => {
                        err("facility_code", fac_code.clone(), "not a facility_code of facilities.csv".into());
                        None
                    }
                },
                (true, true) => {
                    err("org_code", String::new(), "give an org_code or a facility_code".into());
                    None
                }
                (false, false) => {
                    err("facility_code", fac_code.clone(), "give an org_code or a facility_code, not both".into());
                    None
                }
            };
            let period = PeriodKey::parse(&field(Some(c_period)));
            if period.is_none() {
                err("period", field(Some(c_period)), "expected YYYY or YYYY-MM, a year from 1990 to 2100".into());
            }
            let component = Component::parse(&field(Some(c_comp)));
            if component.is_none() {
                err("component", field(Some(c_comp)), "not a component code (see docs/monitoring.md)".into());
            }
            let value = parse_micro(&field(Some(c_value))).map_err(|r| err("value", field(Some(c_value)), r)).ok();
            if let (Some((org, facility, entity)), Some(period), Some(component), Some(value)) =
                (target, period, component, value)
            {
                let g = granularity.entry((entity, period.year, component)).or_default();
                let clash = if period.month == 0 {
                    g.0.get_or_insert(line);
                    g.1
                } else {
                    g.1.get_or_insert(line);
                    g.0
                };
                if let Some(other) = clash {
                    errors.push(DataError {
                        line,
                        column: "period".into(),
                        value: field(Some(c_period)),
                        reason: format!(
                            "{} is given both for the whole year and for months of {} (other line {other}): it would count twice",
                            component.code(),
                            period.year
                        ),
                    });
                    continue;
                }
                out.rows.push(Observation { org, facility, period, component, value, source: field(c_source) });
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// Adds values derived elsewhere (meter roll-ups, inventory totals) unless the same org or
    /// facility already reports that component for that year: then the derived value is refused with
    /// the reason (a reported value wins and nothing counts twice).
    pub fn add_derived(&mut self, o: Observation) -> Result<(), String> {
        let clash = self.rows.iter().any(|r| {
            r.org == o.org && r.facility == o.facility && r.component == o.component && r.period.year == o.period.year
        });
        if clash {
            return Err(format!(
                "{} {} {}: already reported for {}; the derived value ({}) is not used",
                o.facility.as_deref().unwrap_or("org"),
                o.component.code(),
                o.period.year,
                o.period.year,
                o.source
            ));
        }
        self.rows.push(o);
        Ok(())
    }

    /// Puts values the platform derived (from snapshots, business filings, attributes) in: a hand
    /// entry of the same component for the same org (or a facility of it) and year is set aside as
    /// overridden and returned, so that nothing is counted twice; the derived value is the one used.
    pub fn feed(&mut self, fed: Vec<Observation>) -> Vec<Observation> {
        let covered: std::collections::HashSet<(OrgId, i32, Component)> =
            fed.iter().map(|o| (o.org, o.period.year, o.component)).collect();
        let (overridden, kept): (Vec<Observation>, Vec<Observation>) = std::mem::take(&mut self.rows)
            .into_iter()
            .partition(|o| covered.contains(&(o.org, o.period.year, o.component)));
        self.rows = kept;
        self.rows.extend(fed);
        overridden
    }

    /// Sums per org over its whole subtree, for `year` (and one month, or the whole year when `month` is 0).
    pub fn rollup(&self, tree: &OrgTree, year: i32, month: u8) -> Vec<Sums> {
        let mut sums = vec![Sums::default(); tree.orgs.len()];
        for o in &self.rows {
            if o.period.year == year && (month == 0 || o.period.month == month) {
                sums[o.org as usize].add_value(o.component, o.value);
            }
        }
        // Orgs are stored parents before children, so walking backwards adds each finished subtree to its parent.
        for id in (1..tree.orgs.len()).rev() {
            if let Some(p) = tree.orgs[id].parent {
                let child = sums[id];
                sums[p as usize].add(&child);
            }
        }
        sums
    }

    /// Sums per facility (only facility-level observations), for `year` and `month` (0 = whole year).
    pub fn by_facility(&self, year: i32, month: u8) -> BTreeMap<String, Sums> {
        let mut out: BTreeMap<String, Sums> = BTreeMap::new();
        for o in &self.rows {
            if let (Some(f), true) = (&o.facility, o.period.year == year && (month == 0 || o.period.month == month)) {
                out.entry(f.clone()).or_default().add_value(o.component, o.value);
            }
        }
        out
    }

    /// Years with any observation.
    pub fn years(&self) -> Vec<i32> {
        let mut y: Vec<i32> = self.rows.iter().map(|o| o.period.year).collect();
        y.sort_unstable();
        y.dedup();
        y
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::registry::indicator;
    use model::OrgRow;

    pub fn tree() -> OrgTree {
        let row = |c: &str, p: Option<&str>| OrgRow {
            code: c.into(),
            name: c.into(),
            parent_code: p.map(Into::into),
            equity_share: None,
            operational_control: None,
        };
        OrgTree::build(vec![
            row("G", None),
            row("GD", Some("G")),
            row("GD-SZ", Some("GD")),
            row("GD-GZ", Some("GD")),
            row("JS", Some("G")),
        ])
        .unwrap()
    }

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(parse_micro("12.5").unwrap(), 12_500_000);
        assert_eq!(parse_micro("-0.000001").unwrap(), -1);
        assert_eq!(parse_micro(".5").unwrap(), 500_000);
        assert!(parse_micro("1.0000001").is_err());
        assert!(parse_micro("1,000").is_err());
        assert!(parse_micro("1e3").is_err());
        assert!(parse_micro("").is_err());
        assert_eq!(PeriodKey::parse("2024-03"), Some(PeriodKey { year: 2024, month: 3 }));
        for bad in ["0000", "0000-01", "9999-12", "1989", "2101-01", "2024-13"] {
            assert_eq!(PeriodKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn province_pue_is_ratio_of_sums_not_average() {
        let t = tree();
        let facilities = |f: &str| match f {
            "DC-A" => t.get("GD-SZ"),
            "DC-B" => t.get("GD-GZ"),
            _ => None,
        };
        // A small inefficient room (PUE 2.0) and a large efficient campus (PUE 1.25).
        let csv = "facility_code,period,component,value\n\
                   DC-A,2024,dc_total_kwh,200\nDC-A,2024,dc_it_kwh,100\n\
                   DC-B,2024,dc_total_kwh,125000\nDC-B,2024,dc_it_kwh,100000\n";
        let obs = Observations::read_csv(csv.as_bytes(), &t, facilities).unwrap();
        let sums = obs.rollup(&t, 2024, 0);
        let pue = indicator("pue").unwrap();
        let gd = sums[t.get("GD").unwrap() as usize].indicator(pue).unwrap();
        assert!((gd - 125_200.0 / 100_100.0).abs() < 1e-12, "{gd}");
        assert!((gd - (2.0 + 1.25) / 2.0).abs() > 0.3, "must not be the average of PUEs");
        assert_eq!(sums[t.get("G").unwrap() as usize].get(Component::DcTotalKwh), Some(125_200 * MICRO));
        assert_eq!(sums[t.get("JS").unwrap() as usize].indicator(pue), None);
    }

    #[test]
    fn derived_values_never_double_a_reported_one() {
        let t = tree();
        let gd = t.get("GD").unwrap();
        let csv = "facility_code,period,component,value\nDC-A,2024,dc_total_kwh,100\n";
        let mut obs = Observations::read_csv(csv.as_bytes(), &t, |_| Some(gd)).unwrap();
        let derived = |fac: &str, c: Component| Observation {
            org: gd,
            facility: Some(fac.into()),
            period: PeriodKey { year: 2024, month: 3 },
            component: c,
            value: 5 * MICRO,
            source: "METER:X".into(),
        };
        assert!(obs.add_derived(derived("DC-A", Component::DcTotalKwh)).is_err());
        assert!(obs.add_derived(derived("DC-A", Component::DcItKwh)).is_ok());
        assert!(obs.add_derived(derived("DC-B", Component::DcTotalKwh)).is_ok());
        let sums = obs.rollup(&t, 2024, 0);
        assert_eq!(sums[gd as usize].get(Component::DcTotalKwh), Some(105 * MICRO));
    }

    #[test]
    fn a_fed_value_overrides_a_hand_entry_of_the_same_org_year_and_component() {
        let t = tree();
        let gd = t.get("GD").unwrap();
        let csv = "org_code,period,component,value\nGD,2024,energy_tce,10\nGD,2024,revenue_10k_yuan,7\nJS,2024,energy_tce,3\nGD,2023,energy_tce,1\n";
        let mut obs = Observations::read_csv(csv.as_bytes(), &t, |_| None).unwrap();
        let fed = |m: u8, v: i128| Observation {
            org: gd,
            facility: None,
            period: PeriodKey { year: 2024, month: m },
            component: Component::EnergyTce,
            value: v * MICRO,
            source: "snapshot:9".into(),
        };
        let overridden = obs.feed(vec![fed(1, 4), fed(2, 5)]);
        assert_eq!(overridden.len(), 1);
        assert_eq!(overridden[0].value, 10 * MICRO);
        let sums = obs.rollup(&t, 2024, 0);
        assert_eq!(sums[gd as usize].get(Component::EnergyTce), Some(9 * MICRO), "the hand entry is not added");
        assert_eq!(sums[t.root() as usize].get(Component::EnergyTce), Some(12 * MICRO));
        assert_eq!(sums[gd as usize].get(Component::Revenue10kYuan), Some(7 * MICRO));
        assert_eq!(obs.rollup(&t, 2023, 0)[gd as usize].get(Component::EnergyTce), Some(MICRO), "another year stays");
    }

    #[test]
    fn bad_rows_all_reported_and_double_granularity_refused() {
        let t = tree();
        let csv = "org_code,facility_code,period,component,value\n\
                   GD,,2024,energy_tce,10\nGD,,2024-03,energy_tce,1\nXX,,2024,energy_tce,1\n\
                   GD,,2024-13,energy_tce,1\nGD,,2024,watts,1\nGD,,2024,energy_tce,1.5.5\n,,2024,energy_tce,1\n";
        let errs = Observations::read_csv(csv.as_bytes(), &t, |_| None).unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(
            got,
            vec![(3, "period"), (4, "org_code"), (5, "period"), (6, "component"), (7, "value"), (8, "org_code")]
        );
    }
}
