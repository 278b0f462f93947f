//! Roll-ups of quarter-hour cells to hours, Shanghai days and Shanghai months, per meter and per
//! facility and role.

use crate::meter::{MeterId, MeterRegistry, Role};
use crate::series::{Cell, MeterSeries};
use crate::time::{day_start, format_shanghai, month_start, year_month, HOUR_MS, QUARTER_MS};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    #[serde(rename = "15min")]
    Quarter,
    Hour,
    Day,
    Month,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        match text {
            "15min" | "quarter" => Some(Period::Quarter),
            "hour" => Some(Period::Hour),
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Period::Quarter => "15min",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        }
    }
    /// Start (UTC ms) of the period containing `t`.
    pub fn start(self, t: i64) -> i64 {
        match self {
            Period::Quarter => t.div_euclid(QUARTER_MS) * QUARTER_MS,
            Period::Hour => t.div_euclid(HOUR_MS) * HOUR_MS,
            Period::Day => day_start(t),
            Period::Month => month_start(t),
        }
    }
    /// End (exclusive) of the period starting at `start`.
    pub fn end(self, start: i64) -> i64 {
        match self {
            Period::Quarter => start + QUARTER_MS,
            Period::Hour => start + HOUR_MS,
            Period::Day => start + crate::time::DAY_MS,
            Period::Month => crate::time::next_month_start(start),
        }
    }
    /// The label of the period starting at `start`: `2024-05` for a month, the Shanghai start time otherwise.
    pub fn label(self, start: i64) -> String {
        match self {
            Period::Month => {
                let (y, m) = year_month(start);
                format!("{y:04}-{m:02}")
            }
            Period::Day => format_shanghai(start)[..10].to_string(),
            _ => format_shanghai(start),
        }
    }
}

/// Sums quarter cells into periods (keyed by period start).
pub fn roll(quarters: &BTreeMap<i64, Cell>, period: Period) -> BTreeMap<i64, Cell> {
    let mut out: BTreeMap<i64, Cell> = BTreeMap::new();
    for (&q, cell) in quarters {
        out.entry(period.start(q)).or_default().add(cell);
    }
    out
}

/// One row of a roll-up, as the API and CSV exports show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RollupRow {
    pub period: String,
    pub start_ms: i64,
    pub energy_kwh: f64,
    /// Share of the period whose energy is known (0–1).
    pub coverage: f64,
    pub flags: Vec<&'static str>,
}

pub fn rows(cells: &BTreeMap<i64, Cell>, period: Period) -> Vec<RollupRow> {
    cells
        .iter()
        .map(|(&start, c)| RollupRow {
            period: period.label(start),
            start_ms: start,
            energy_kwh: c.energy_kwh(),
            coverage: c.covered_ms as f64 / (period.end(start) - start) as f64,
            flags: crate::series::flag::names(c.flags),
        })
        .collect()
}

/// Quarter cells of every meter of `facility` with `role`, summed, over `[from, to)`.
pub fn facility_role_quarters(
    registry: &MeterRegistry,
    series: &[MeterSeries],
    meters: &[MeterId],
    role: Role,
    from: i64,
    to: i64,
) -> (BTreeMap<i64, Cell>, usize) {
    let mut sum: BTreeMap<i64, Cell> = BTreeMap::new();
    let mut count = 0;
    for &m in meters {
        let meter = registry.meter(m);
        if meter.role != role {
            continue;
        }
        count += 1;
        for (q, c) in series[m as usize].quarters(meter, from, to) {
            sum.entry(q).or_default().add(&c);
        }
    }
    (sum, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;

    #[test]
    fn months_follow_shanghai_calendar() {
        // 2024-05-31T23:45+08:00 (15:45Z) belongs to May, 2024-06-01T00:00+08:00 to June.
        let may_last = parse_timestamp("2024-05-31T23:45:00+08:00").unwrap();
        let june_first = may_last + QUARTER_MS;
        let mut q = BTreeMap::new();
        q.insert(may_last, Cell { energy_mwh: 7, covered_ms: QUARTER_MS, missing_ms: 0, flags: 0 });
        q.insert(june_first, Cell { energy_mwh: 11, covered_ms: QUARTER_MS, missing_ms: 0, flags: 1 });
        let months = roll(&q, Period::Month);
        let labels: Vec<String> = months.keys().map(|&s| Period::Month.label(s)).collect();
        assert_eq!(labels, vec!["2024-05", "2024-06"]);
        assert_eq!(months.values().map(|c| c.energy_mwh).collect::<Vec<_>>(), vec![7, 11]);
        let days = roll(&q, Period::Day);
        assert_eq!(days.keys().map(|&s| Period::Day.label(s)).collect::<Vec<_>>(), vec!["2024-05-31", "2024-06-01"]);
        let hours = roll(&q, Period::Hour);
        assert_eq!(hours.len(), 2);
        let r = rows(&months, Period::Month);
        assert!((r[0].coverage - QUARTER_MS as f64 / (31.0 * 86_400_000.0)).abs() < 1e-12);
        assert_eq!(r[1].flags, vec!["split"]);
    }
}
