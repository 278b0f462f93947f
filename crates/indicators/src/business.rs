//! Business data (业务数据): the non-energy denominators of the indicators (telecom business
//! volume, revenue, traffic, 5G traffic, server compute and power), filed per org and year through
//! the platform's filing flow (`business-data.csv`, docs/formats.md). The checks of one row are
//! here, once: the platform's upload, its approval and the indicator feed all use them.
//!
//! Every reason starts with a stable code (`unknown_org: ...`), so a client can word it.

use crate::registry::Component;
use crate::values::{parse_micro, Micro, PeriodKey};
use std::collections::HashMap;

/// A metric of business data: the component it feeds and the unit it is filed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BusinessMetric {
    pub component: Component,
    /// The unit a row must carry (`10^4 yuan@YYYY` for business volume: 10^4 yuan at the constant
    /// prices of year YYYY, the price base).
    pub unit: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
}

pub static METRICS: &[BusinessMetric] = &[
    BusinessMetric {
        component: Component::BusinessVolume10kYuan,
        unit: "10^4 yuan@YYYY",
        name_zh: "电信业务总量（万元，注明不变价基年）",
        name_en: "Telecom business volume (10^4 yuan at the constant prices of a stated year)",
    },
    BusinessMetric {
        component: Component::Revenue10kYuan,
        unit: "10^4 yuan",
        name_zh: "营业收入（万元）",
        name_en: "Operating revenue (10^4 yuan)",
    },
    BusinessMetric {
        component: Component::TrafficTb,
        unit: "TB",
        name_zh: "信息流量（TB）",
        name_en: "Information traffic (TB)",
    },
    BusinessMetric {
        component: Component::Bs5gTrafficGb,
        unit: "GB",
        name_zh: "5G基站流量（GB）",
        name_en: "5G base-station traffic (GB)",
    },
    BusinessMetric {
        component: Component::ServerComputeTflops,
        unit: "TFLOPS",
        name_zh: "服务器算力（TFLOPS，FP32）",
        name_en: "Server compute capacity (TFLOPS, FP32)",
    },
    BusinessMetric {
        component: Component::ServerPowerKw,
        unit: "kW",
        name_zh: "服务器额定功率（kW）",
        name_en: "Servers' rated power (kW)",
    },
];

pub fn metric(code: &str) -> Option<&'static BusinessMetric> {
    let c = Component::parse(code)?;
    METRICS.iter().find(|m| m.component == c)
}

/// The columns of business-data.csv, in the order they are stored.
pub const COLUMNS: [&str; 7] = ["org_code", "period", "metric", "value", "unit", "source_document", "evidence_ref"];

/// Where an org code stands against a filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgPlace {
    /// The filing's org or an org below it.
    Within,
    /// An org of the platform outside the filing's subtree.
    Outside,
    Unknown,
}

/// One accepted row.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessRecord {
    pub org: String,
    pub period: PeriodKey,
    pub component: Component,
    pub value: Micro,
    /// The price base year of a business volume.
    pub price_base: Option<i32>,
}

/// Checks the rows of one filing (org `filing_org`, year `year`), in order: each row alone, and
/// against the rows before it (a key given twice; a metric of an org given for the whole year and
/// for months of it, which would count twice; two price bases of business volume).
pub struct BusinessChecker<'a> {
    year: i32,
    filing_org: String,
    place: &'a dyn Fn(&str) -> OrgPlace,
    keys: HashMap<(String, String, String, String), u64>,
    granularity: HashMap<(String, Component), (Option<u64>, Option<u64>)>,
    price_base: Option<(i32, u64)>,
}

impl<'a> BusinessChecker<'a> {
    pub fn new(year: i32, filing_org: &str, place: &'a dyn Fn(&str) -> OrgPlace) -> Self {
        BusinessChecker {
            year,
            filing_org: filing_org.to_string(),
            place,
            keys: HashMap::new(),
            granularity: HashMap::new(),
            price_base: None,
        }
    }

    /// The row at `line` (fields in [`COLUMNS`] order): accepted, or every reason it is not.
    pub fn check(&mut self, line: u64, f: [&str; 7]) -> Result<BusinessRecord, Vec<String>> {
        let [org, period, metric_code, value, unit, source_document, _evidence] = f.map(str::trim);
        let mut reasons = Vec::new();
        match (self.place)(org) {
            OrgPlace::Within => {}
            OrgPlace::Outside => reasons.push(format!(
                "org_outside_filing: org_code {org:?} is outside this filing's org {} and its subtree",
                self.filing_org
            )),
            OrgPlace::Unknown if org.is_empty() => reasons.push("unknown_org: org_code is empty".to_string()),
            OrgPlace::Unknown => reasons.push(format!("unknown_org: org_code {org:?} is not an org of the platform")),
        }
        let p = PeriodKey::parse(period);
        match p {
            None => reasons.push(format!("bad_period: period {period:?}: expected YYYY or YYYY-MM")),
            Some(p) if p.year != self.year => reasons.push(format!(
                "period_outside_filing: period {period} is outside this filing's year {} (file each year into its own filing)",
                self.year
            )),
            Some(_) => {}
        }
        let m = metric(metric_code);
        if m.is_none() {
            reasons.push(format!(
                "unknown_metric: metric {metric_code:?} is not one of {}",
                METRICS.iter().map(|m| m.component.code()).collect::<Vec<_>>().join(", ")
            ));
        }
        let v = match parse_micro(value) {
            Ok(v) if v < 0 => {
                reasons.push(format!("negative_value: value {value} is negative; a correction is a restatement"));
                None
            }
            Ok(v) => Some(v),
            Err(e) => {
                reasons.push(format!("bad_value: value {value:?}: {e}"));
                None
            }
        };
        let mut price_base = None;
        if let Some(m) = m {
            if m.component == Component::BusinessVolume10kYuan {
                match unit.strip_prefix("10^4 yuan@").and_then(|y| y.parse::<i32>().ok()).filter(|y| model::calendar::YEARS.contains(y)) {
                    Some(y) => price_base = Some(y),
                    None => reasons.push(format!(
                        "wrong_unit: unit {unit:?}: business volume is filed as \"10^4 yuan@YYYY\" (10^4 yuan at the constant prices of year YYYY)"
                    )),
                }
            } else if unit != m.unit {
                reasons.push(format!("wrong_unit: unit {unit:?}: {} is filed in {}", m.component.code(), m.unit));
            }
        }
        if !reasons.is_empty() {
            return Err(reasons);
        }
        let (p, m, v) = (p.expect("checked"), m.expect("checked"), v.expect("checked"));
        let key = (org.to_string(), period.to_string(), m.component.code().to_string(), source_document.to_string());
        if let Some(first) = self.keys.get(&key) {
            return Err(vec![format!(
                "duplicate_row: {org} {period} {} with source_document {source_document:?} is given twice (first at line {first})",
                m.component.code()
            )]);
        }
        let g = self.granularity.entry((org.to_string(), m.component)).or_default();
        let clash = if p.month == 0 {
            g.0.get_or_insert(line);
            g.1
        } else {
            g.1.get_or_insert(line);
            g.0
        };
        if let Some(other) = clash {
            return Err(vec![format!(
                "year_and_months: {org} {} is given both for the whole year and for months of {} (other line {other}): it would count twice",
                m.component.code(),
                p.year
            )]);
        }
        if let Some(y) = price_base {
            match self.price_base {
                Some((base, first)) if base != y => {
                    return Err(vec![format!(
                        "price_base_differs: business volume at {y} prices where line {first} has {base} prices: one filing has one price base"
                    )])
                }
                None => self.price_base = Some((y, line)),
                _ => {}
            }
        }
        self.keys.insert(key, line);
        Ok(BusinessRecord { org: org.to_string(), period: p, component: m.component, value: v, price_base })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_row_has_its_code_and_good_rows_pass() {
        let place = |o: &str| match o {
            "GD" | "GD-SZ" => OrgPlace::Within,
            "JS" => OrgPlace::Outside,
            _ => OrgPlace::Unknown,
        };
        let mut c = BusinessChecker::new(2024, "GD", &place);
        let row = |o, p, m, v, u| [o, p, m, v, u, "doc", ""];
        assert!(c.check(2, row("GD", "2024", "traffic_tb", "12.5", "TB")).is_ok());
        assert!(c.check(3, row("GD-SZ", "2024-03", "business_volume_10k_yuan", "100", "10^4 yuan@2020")).is_ok());
        let code = |r: Result<BusinessRecord, Vec<String>>| r.unwrap_err()[0].split(':').next().unwrap().to_string();
        assert_eq!(code(c.check(4, row("XX", "2024", "traffic_tb", "1", "TB"))), "unknown_org");
        assert_eq!(code(c.check(5, row("JS", "2024", "traffic_tb", "1", "TB"))), "org_outside_filing");
        assert_eq!(code(c.check(6, row("GD", "2024", "traffic_tb", "-1", "TB"))), "negative_value");
        assert_eq!(code(c.check(7, row("GD", "2023-12", "traffic_tb", "1", "TB"))), "period_outside_filing");
        assert_eq!(code(c.check(8, row("GD", "2024", "watts", "1", "TB"))), "unknown_metric");
        assert_eq!(code(c.check(9, row("GD", "2024", "traffic_tb", "1", "GB"))), "wrong_unit");
        assert_eq!(code(c.check(10, row("GD", "2024", "traffic_tb", "1", "TB"))), "duplicate_row");
        assert_eq!(code(c.check(11, ["GD", "2024-02", "traffic_tb", "1", "TB", "other", ""])), "year_and_months");
        assert_eq!(
            code(c.check(12, row("GD", "2024-04", "business_volume_10k_yuan", "1", "10^4 yuan@2021"))),
            "price_base_differs"
        );
        assert_eq!(code(c.check(13, row("GD", "2024", "business_volume_10k_yuan", "1", "10^4 yuan"))), "wrong_unit");
    }
}
