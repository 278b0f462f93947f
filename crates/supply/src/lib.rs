//! Supply-chain carbon (绿色供应链), pure: no IO. The rules the platform applies to suppliers and
//! what they disclose, and the Scope 3 the group computes from its procurement.
//!
//! * [`uscc`]: the unified social credit code (统一社会信用代码, GB 32100-2015) and its check digit.
//! * [`supplier`]: a supplier's registry record (code, name, categories, contacts) and company-level
//!   disclosures (annual Scope 1, 2 and optionally 3, with verification status).
//! * [`pact`]: the PACT 3.0 data model (`ProductFootprint` with its `CarbonFootprint`), parsed from
//!   JSON with every problem named by its field, checked against the published JSON schema
//!   (`schema/pact-v3-product-footprint.schema.json`) and the spec's rules.
//! * [`library`]: the product classes of the footprint library and a model's place in its class
//!   (distribution, percentile).
//! * [`eeio`]: versioned spend-based EEIO factor sets (TOML with sources, currency, price year,
//!   deflators, exchange rates).
//! * [`scope3`]: categories 1 and 2 from procurement lines (supplier-specific before average product
//!   data before spend-based) and category 4 from transport legs (tonne-km × mode factor), each result with its
//!   method, data quality and source; coverage by supplier-specific data.
//! * [`tender`]: the tender scoring model (criteria, weights, scoring curves), ranking with the
//!   carbon criterion explained.
//! * [`equipment`]: equipment energy specifications and the white paper's thresholds.
//! * [`logistics`]: green packaging share and cities with new-energy delivery.

pub mod eeio;
pub mod equipment;
pub mod library;
pub mod logistics;
pub mod pact;
pub mod schema;
pub mod scope3;
pub mod supplier;
pub mod tender;
pub mod uscc;

use serde::Serialize;

/// One problem of an input: the field it concerns (a JSON path, a TOML key or a CSV column) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub reason: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Problem {
        Problem { field: field.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Years accepted anywhere (as `model::calendar::YEARS`).
pub const YEARS: std::ops::RangeInclusive<i32> = 1990..=2100;

/// A calendar date `YYYY-MM-DD` as (year, month, day), checked.
pub fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    parse_ymd(s).filter(|(y, _, _)| YEARS.contains(y))
}

fn parse_ymd(s: &str) -> Option<(i32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An RFC 3339 / ISO 8601 date-time as seconds since the epoch (UTC), or `None` when it is not one.
/// Accepts `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
pub fn parse_datetime(s: &str) -> Option<i64> {
    if s.len() < 20 || !s.is_ascii() {
        return None;
    }
    let (y, m, d) = parse_ymd(&s[0..10])?;
    let b = s.as_bytes();
    if !(b[10] == b'T' || b[10] == b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hh: i64 = s[11..13].parse().ok()?;
    let mm: i64 = s[14..16].parse().ok()?;
    let ss: i64 = s[17..19].parse().ok()?;
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A decimal written as text (PACT's `Decimal`: `^[+-]?\d+(\.\d+)?$`), as a float.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = t.split_once('.').map_or((t, None), |(a, b)| (a, Some(b)));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    s.parse().ok()
}

/// Grams (the unit results are summed in, exactly) as kilograms for display.
pub fn kg(grams: i64) -> f64 {
    grams as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_datetimes() {
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_datetime("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_datetime("1970-01-02T08:00:00+08:00"), Some(86_400));
        assert_eq!(parse_datetime("1970-01-02T00:00:00.5Z"), Some(86_400));
        assert_eq!(parse_datetime("2024-01-01"), None);
        assert_eq!(parse_decimal("+1.50"), Some(1.5));
        assert_eq!(parse_decimal("1."), None);
        assert_eq!(parse_decimal("1e3"), None);
    }
}
