//! Bounded numbers, in one place: every numeric parameter a route reads from its query or body
//! (years, ranges, counts, limits) is checked here before any work, so no request can make the
//! platform loop or allocate in proportion to a number it sent. A value outside its range answers
//! `400` with the code `out_of_range`, a message naming the parameter and the range, and
//! `detail: {"parameter", "min", "max"}`. Years use [`model::calendar::YEARS`] (1990–2100) everywhere.

use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use std::fmt::Display;
use std::ops::RangeInclusive;

pub use model::calendar::YEARS;

/// Most rows one read of a list route returns (`?limit=` of rows, the audit log, explanations).
pub const MAX_LIMIT: i64 = 10_000;
/// Records one explanation may list.
pub const MAX_EXPLAIN: usize = 100_000;
/// Months a trend forecast may look ahead.
pub const HORIZON: RangeInclusive<usize> = 1..=36;
/// Hours of a site's history one request may ask for (a month of 31 days).
pub const HOURS: RangeInclusive<u32> = 1..=744;

/// The error for `parameter = value` outside `range`.
pub fn out_of_range<T: Display + serde::Serialize>(
    parameter: &str,
    value: impl Display,
    range: &RangeInclusive<T>,
) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::BAD_REQUEST,
        "out_of_range",
        format!("{parameter} = {value} is out of range: expected {} to {}", range.start(), range.end()),
    );
    e.detail = Some(serde_json::json!({
        "parameter": parameter,
        "min": range.start(),
        "max": range.end(),
    }));
    e
}

/// `value` when it lies in `range`, else [`out_of_range`].
pub fn within<T: PartialOrd + Display + Copy + serde::Serialize>(
    parameter: &str,
    value: T,
    range: RangeInclusive<T>,
) -> ApiResult<T> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range(parameter, value, &range))
    }
}

/// A year in [`YEARS`].
pub fn year(parameter: &str, value: i32) -> ApiResult<i32> {
    within(parameter, value, YEARS)
}

/// An optional year: `None` stays `None`.
pub fn opt_year(parameter: &str, value: Option<i32>) -> ApiResult<Option<i32>> {
    value.map(|y| year(parameter, y)).transpose()
}

/// An optional count with a default, within `range`.
pub fn count<T: PartialOrd + Display + Copy + serde::Serialize>(
    parameter: &str,
    value: Option<T>,
    default: T,
    range: RangeInclusive<T>,
) -> ApiResult<T> {
    within(parameter, value.unwrap_or(default), range)
}

/// Epoch milliseconds of 1990-01-01T00:00:00Z and of 2101-01-01T00:00:00Z: timestamps a range
/// parameter (`from`, `to`) may name.
pub fn timestamp_range() -> RangeInclusive<i64> {
    let day = 86_400_000;
    model::calendar::days_from_civil(*YEARS.start(), 1, 1) * day
        ..=model::calendar::days_from_civil(*YEARS.end() + 1, 1, 1) * day
}

/// A timestamp (epoch ms) within the platform's years; shown as given when refused.
pub fn timestamp(parameter: &str, ms: i64, shown: &str) -> ApiResult<i64> {
    let range = timestamp_range();
    if range.contains(&ms) {
        Ok(ms)
    } else {
        let years = YEARS;
        Err(out_of_range(parameter, shown, &(format!("{}-01-01", years.start())..=format!("{}-12-31", years.end()))))
    }
}

/// Longest text a filter parameter may be (`?actor=`, `?action=`), in bytes.
pub const MAX_FILTER_TEXT: usize = 200;

/// An optional text filter: `None` or empty stays `None`; longer than [`MAX_FILTER_TEXT`] bytes
/// is out of range.
pub fn filter_text(parameter: &str, value: Option<String>) -> ApiResult<Option<String>> {
    match value {
        Some(v) if v.len() > MAX_FILTER_TEXT => {
            Err(out_of_range(&format!("{parameter} (bytes)"), v.len(), &(1..=MAX_FILTER_TEXT)))
        }
        Some(v) if !v.is_empty() => Ok(Some(v)),
        _ => Ok(None),
    }
}

/// A calendar day `YYYY-MM-DD` with its year in [`YEARS`]: `(year, month, day)`.
pub fn date(parameter: &str, value: &str) -> ApiResult<(i32, u32, u32)> {
    let bad = || {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_date",
            format!("{parameter} must be a date YYYY-MM-DD from {}-01-01 to {}-12-31", YEARS.start(), YEARS.end()),
        );
        e.detail = Some(serde_json::json!({"parameter": parameter}));
        e
    };
    let parts: Vec<&str> = value.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let num = |t: &str| t.parse::<u32>().map_err(|_| bad());
    let (y, m, d) = (num(parts[0])? as i32, num(parts[1])?, num(parts[2])?);
    if !YEARS.contains(&y) || !(1..=12).contains(&m) || d < 1 || d > model::calendar::days_in_month(y, m) {
        return Err(bad());
    }
    Ok((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_and_counts_are_bounded_with_the_parameter_named() {
        assert_eq!(year("year", 2025).unwrap(), 2025);
        let e = year("year", i32::MAX).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "out_of_range"));
        assert!(e.message.contains("year = 2147483647") && e.message.contains("1990 to 2100"), "{}", e.message);
        assert_eq!(e.detail.unwrap()["parameter"], "year");
        assert!(year("base_year", -5).is_err());
        assert_eq!(count("limit", None, 100, 1..=10).unwrap_err().code, "out_of_range");
        assert_eq!(count("limit", Some(3), 100, 1..=10).unwrap(), 3);
        assert!(timestamp("from", 0, "0").is_err());
        assert!(timestamp("from", 1_714_492_800_000, "x").is_ok());
        assert_eq!(date("from", "2024-02-29").unwrap(), (2024, 2, 29));
        for bad in ["2023-02-29", "2024-13-01", "1989-12-31", "2024-1-01", "x", "2024-01-01T00"] {
            assert_eq!(date("from", bad).unwrap_err().code, "bad_date", "{bad}");
        }
        assert_eq!(filter_text("actor", Some(String::new())).unwrap(), None);
        assert_eq!(filter_text("actor", Some("a".repeat(201))).unwrap_err().code, "out_of_range");
    }
}
