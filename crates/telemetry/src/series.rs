//! One meter's readings and the energy they attribute to quarter-hours.
//!
//! Rules (docs/monitoring.md, "From readings to energy"):
//! - Readings are kept by timestamp, so late and out-of-order readings land where they belong and
//!   every roll-up recomputed afterwards includes them. The same timestamp with the same value is a
//!   duplicate (ignored, counted); with another value a conflict (the first value stays, reported).
//! - Counter: the energy between two readings is their difference, exact (register values are held
//!   in milliwatt-hours as integers, so consecutive differences telescope to last − first). A drop is
//!   a rollover when the register has a known maximum and the wrapped difference is plausible (within
//!   the circuit's maximum power over the interval, or, without a maximum power, the register was in
//!   its top tenth); otherwise it is a reset: the energy of that interval is unknown and flagged, the
//!   new value is the new baseline.
//! - Power: energy between two samples is the trapezoid, but only when they are at most `max_gap`
//!   apart; a wider gap is unknown energy, flagged, never interpolated.
//! - A counter interval longer than `max_gap` still carries its exact energy, spread in proportion
//!   to time and flagged `gap`.
//! - An interval crossing quarter-hour boundaries is split in proportion to time, in integers whose
//!   parts sum exactly to the whole, and the quarters it touches are flagged `split`.

use crate::meter::{Meter, MeterKind};
use crate::time::QUARTER_MS;
use serde::Serialize;
use std::collections::BTreeMap;

/// Milliwatt-hours per kilowatt-hour: energy is held as integer mWh so splits and sums are exact.
pub const MWH_PER_KWH: f64 = 1_000_000.0;

pub fn kwh_to_mwh(kwh: f64) -> i64 {
    (kwh * MWH_PER_KWH).round() as i64
}

pub fn mwh_to_kwh(mwh: i64) -> f64 {
    mwh as f64 / MWH_PER_KWH
}

/// Quality flags of a quarter (or of a roll-up: the union of its quarters' flags).
pub mod flag {
    /// An interval between readings crossed this quarter's boundary and was split by time.
    pub const SPLIT: u8 = 1;
    /// Readings were further apart than the meter's `max_gap` (counter: energy spread by time; power: unknown).
    pub const GAP: u8 = 2;
    pub const ROLLOVER: u8 = 4;
    pub const RESET: u8 = 8;
    /// Part of the quarter has no known energy (a power gap or a reset).
    pub const MISSING: u8 = 16;

    pub fn names(flags: u8) -> Vec<&'static str> {
        [(SPLIT, "split"), (GAP, "gap"), (ROLLOVER, "rollover"), (RESET, "reset"), (MISSING, "missing")]
            .into_iter()
            .filter(|(f, _)| flags & f != 0)
            .map(|(_, n)| n)
            .collect()
    }
}

/// What happened to a reading offered to a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Admission {
    /// Newer than every reading so far.
    Appended,
    /// Older than the newest reading: inserted in place (roll-ups touching it change).
    Late,
    /// Same timestamp and value as a stored reading: ignored.
    Duplicate,
    /// Same timestamp, different value: the stored value is kept and this one is reported.
    Conflict { stored: f64 },
}

/// The interval between two consecutive readings and the energy it carries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    pub start_ms: i64,
    pub end_ms: i64,
    /// `None` when the energy is unknown (power gap, counter reset).
    pub energy_mwh: Option<i64>,
    pub flags: u8,
}

/// Energy and data quality of one period of one meter (or of a sum of meters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub energy_mwh: i64,
    /// Milliseconds of the period whose energy is known.
    pub covered_ms: i64,
    /// Milliseconds between readings whose energy is unknown.
    pub missing_ms: i64,
    pub flags: u8,
}

impl Cell {
    pub fn add(&mut self, other: &Cell) {
        self.energy_mwh += other.energy_mwh;
        self.covered_ms += other.covered_ms;
        self.missing_ms += other.missing_ms;
        self.flags |= other.flags;
    }
    pub fn energy_kwh(&self) -> f64 {
        mwh_to_kwh(self.energy_mwh)
    }
}

#[derive(Debug, Clone, Default)]
pub struct MeterSeries {
    points: BTreeMap<i64, f64>,
}

impl MeterSeries {
    pub fn len(&self) -> usize {
        self.points.len()
    }
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    pub fn last(&self) -> Option<(i64, f64)> {
        self.points.last_key_value().map(|(&t, &v)| (t, v))
    }
    pub fn first(&self) -> Option<(i64, f64)> {
        self.points.first_key_value().map(|(&t, &v)| (t, v))
    }
    pub fn points(&self) -> impl DoubleEndedIterator<Item = (i64, f64)> + '_ {
        self.points.iter().map(|(&t, &v)| (t, v))
    }

    /// Stores a validated reading.
    pub fn admit(&mut self, ts_ms: i64, value: f64) -> Admission {
        let newest = self.points.last_key_value().map(|(&t, _)| t);
        match self.points.get(&ts_ms) {
            Some(&stored) if stored == value => Admission::Duplicate,
            Some(&stored) => Admission::Conflict { stored },
            None => {
                self.points.insert(ts_ms, value);
                match newest {
                    Some(n) if ts_ms < n => Admission::Late,
                    _ => Admission::Appended,
                }
            }
        }
    }

    /// Segments between consecutive readings overlapping `[from, to)`.
    pub fn segments(&self, meter: &Meter, from: i64, to: i64) -> Vec<Segment> {
        let mut out = Vec::new();
        self.for_each_segment(meter, from, to, |s| out.push(s));
        out
    }

    /// `segments` without collecting them.
    pub fn for_each_segment(&self, meter: &Meter, from: i64, to: i64, mut f: impl FnMut(Segment)) {
        let before = self.points.range(..from).next_back();
        let mut iter = before.into_iter().chain(self.points.range(from..)).map(|(&t, &v)| (t, v));
        let Some(mut prev) = iter.next() else { return };
        for cur in iter {
            if prev.0 >= to {
                break;
            }
            f(segment(meter, prev, cur));
            prev = cur;
        }
    }

    /// Energy per quarter-hour (keyed by the quarter's start) over `[from, to)`; `from` and `to`
    /// should be quarter boundaries.
    pub fn quarters(&self, meter: &Meter, from: i64, to: i64) -> BTreeMap<i64, Cell> {
        let mut cells = BTreeMap::new();
        for seg in self.segments(meter, from, to) {
            distribute(&seg, from, to, &mut cells);
        }
        cells
    }
}

fn segment(meter: &Meter, (t0, v0): (i64, f64), (t1, v1): (i64, f64)) -> Segment {
    let dt = t1 - t0;
    let gap = dt > meter.max_gap_ms;
    let mut flags = if gap { flag::GAP } else { 0 };
    let energy = match meter.kind {
        MeterKind::Counter => {
            let (a, b) = (kwh_to_mwh(v0), kwh_to_mwh(v1));
            if b >= a {
                Some(b - a)
            } else {
                let wrapped = meter.counter_max_kwh.map(|max| kwh_to_mwh(max) - a + b);
                let plausible = match (wrapped, meter.counter_max_kwh, meter.max_power_kw) {
                    (Some(w), _, Some(p)) => mwh_to_kwh(w) <= p * dt as f64 / 3_600_000.0 * 1.05,
                    (Some(_), Some(max), None) => v0 >= 0.9 * max,
                    _ => false,
                };
                if plausible {
                    flags |= flag::ROLLOVER;
                    wrapped
                } else {
                    flags |= flag::RESET | flag::MISSING;
                    None
                }
            }
        }
        // A state value carries no energy; roll-ups never ask for a gauge (Telemetry::facility_energy).
        MeterKind::Gauge => None,
        MeterKind::Power => {
            if gap {
                flags |= flag::MISSING;
                None
            } else {
                Some(kwh_to_mwh((v0 + v1) / 2.0 * dt as f64 / 3_600_000.0))
            }
        }
    };
    Segment { start_ms: t0, end_ms: t1, energy_mwh: energy, flags }
}

/// Adds a segment's share to each quarter it overlaps within `[from, to)`. Parts are
/// floor(E·elapsed/dt) differences, so the parts of a whole segment sum to E exactly.
pub fn distribute(seg: &Segment, from: i64, to: i64, cells: &mut BTreeMap<i64, Cell>) {
    distribute_with(seg, from, to, |q, part| cells.entry(q).or_default().add(&part));
}

/// `distribute`, handing each quarter's part (keyed by the quarter's start) to `add`.
pub fn distribute_with(seg: &Segment, from: i64, to: i64, mut add: impl FnMut(i64, Cell)) {
    let dt = seg.end_ms - seg.start_ms;
    if dt <= 0 {
        return;
    }
    let crosses = seg.start_ms.div_euclid(QUARTER_MS) != (seg.end_ms - 1).div_euclid(QUARTER_MS);
    let share = |elapsed: i64| -> i64 {
        let e = seg.energy_mwh.unwrap_or(0) as i128;
        (e * elapsed as i128).div_euclid(dt as i128) as i64
    };
    let mut q = seg.start_ms.div_euclid(QUARTER_MS) * QUARTER_MS;
    while q < seg.end_ms {
        let (a, b) = (seg.start_ms.max(q), seg.end_ms.min(q + QUARTER_MS));
        if q >= from && q < to {
            let part_ms = b - a;
            let mut part = Cell { flags: seg.flags | if crosses { flag::SPLIT } else { 0 }, ..Cell::default() };
            if seg.energy_mwh.is_some() {
                part.energy_mwh = share(b - seg.start_ms) - share(a - seg.start_ms);
                part.covered_ms = part_ms;
            } else {
                part.missing_ms = part_ms;
            }
            add(q, part);
        }
        q += QUARTER_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::Role;
    use crate::time::{parse_timestamp, MINUTE_MS};
    use proptest::prelude::*;

    fn counter(max: Option<f64>, power: Option<f64>) -> Meter {
        Meter {
            code: "M".into(),
            facility: "F".into(),
            role: Role::TotalFacility,
            kind: MeterKind::Counter,
            counter_max_kwh: max,
            max_power_kw: power,
            max_gap_ms: 30 * MINUTE_MS,
        }
    }
    fn t(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn admission_outcomes() {
        let mut s = MeterSeries::default();
        assert_eq!(s.admit(1000, 5.0), Admission::Appended);
        assert_eq!(s.admit(3000, 7.0), Admission::Appended);
        assert_eq!(s.admit(2000, 6.0), Admission::Late);
        assert_eq!(s.admit(2000, 6.0), Admission::Duplicate);
        assert_eq!(s.admit(2000, 6.5), Admission::Conflict { stored: 6.0 });
        assert_eq!(s.points().map(|p| p.1).collect::<Vec<_>>(), vec![5.0, 6.0, 7.0]);
    }

    #[test]
    fn counter_delta_split_across_quarters_exactly() {
        let m = counter(None, None);
        let mut s = MeterSeries::default();
        // 10 kWh between 00:10 and 00:20: 5 minutes fall in the first quarter, 5 in the second.
        s.admit(t("2024-05-01T00:10:00+08:00"), 100.0);
        s.admit(t("2024-05-01T00:20:00+08:00"), 110.0);
        let from = t("2024-05-01T00:00:00+08:00");
        let q = s.quarters(&m, from, from + 4 * QUARTER_MS);
        let cells: Vec<_> = q.values().copied().collect();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].energy_mwh, 5_000_000);
        assert_eq!(cells[1].energy_mwh, 5_000_000);
        assert!(cells.iter().all(|c| c.flags & flag::SPLIT != 0 && c.covered_ms == 5 * MINUTE_MS));
    }

    #[test]
    fn rollover_with_known_max_and_reset_without() {
        let from = t("2024-05-01T00:00:00+08:00");
        let mut s = MeterSeries::default();
        s.admit(from, 99_999_990.0);
        s.admit(from + QUARTER_MS, 5.0);
        // Wrapped: 10 kWh to the top plus 5 after zero = 15 kWh in 15 minutes, within 100 kW.
        let wrapping = counter(Some(99_999_999.99 + 0.01), Some(100.0));
        let seg = s.segments(&wrapping, from, from + QUARTER_MS);
        assert_eq!(seg[0].energy_mwh, Some(15_000_000));
        assert_eq!(seg[0].flags, flag::ROLLOVER);
        // The same drop on a meter whose register does not wrap is a reset: unknown, flagged.
        let plain = counter(None, None);
        let seg = s.segments(&plain, from, from + QUARTER_MS);
        assert_eq!(seg[0].energy_mwh, None);
        assert_eq!(seg[0].flags, flag::RESET | flag::MISSING);
        // A wrap implying 1,000 kW on a 100 kW circuit is not a rollover but a reset.
        let mut s2 = MeterSeries::default();
        s2.admit(from, 99_999_000.0);
        s2.admit(from + QUARTER_MS, 5.0);
        assert_eq!(s2.segments(&wrapping, from, from + QUARTER_MS)[0].energy_mwh, None);
    }

    #[test]
    fn power_gap_is_missing_not_interpolated() {
        let mut m = counter(None, None);
        m.kind = MeterKind::Power;
        let from = t("2024-05-01T00:00:00+08:00");
        let mut s = MeterSeries::default();
        s.admit(from, 100.0);
        s.admit(from + QUARTER_MS, 100.0); // 25 kWh
        s.admit(from + 5 * QUARTER_MS, 100.0); // 60 minutes later: > 30 min gap
        let q = s.quarters(&m, from, from + 5 * QUARTER_MS);
        assert_eq!(q[&from].energy_mwh, 25_000_000);
        assert_eq!(q[&from].covered_ms, QUARTER_MS);
        for k in 1..5 {
            let c = q[&(from + k * QUARTER_MS)];
            assert_eq!((c.energy_mwh, c.covered_ms, c.missing_ms), (0, 0, QUARTER_MS));
            assert_ne!(c.flags & flag::MISSING, 0);
        }
    }

    #[test]
    fn counter_gap_keeps_its_exact_energy_flagged() {
        let m = counter(None, None);
        let from = t("2024-05-01T00:00:00+08:00");
        let mut s = MeterSeries::default();
        s.admit(from, 0.0);
        s.admit(from + 4 * QUARTER_MS, 40.000_001);
        let q = s.quarters(&m, from, from + 4 * QUARTER_MS);
        let total: i64 = q.values().map(|c| c.energy_mwh).sum();
        assert_eq!(total, 40_000_001);
        assert!(q.values().all(|c| c.flags & flag::GAP != 0 && c.missing_ms == 0));
    }

    #[test]
    fn late_reading_changes_the_rollup() {
        let m = counter(None, None);
        let from = t("2024-05-01T00:00:00+08:00");
        let mut s = MeterSeries::default();
        s.admit(from, 0.0);
        s.admit(from + 2 * QUARTER_MS, 20.0);
        let before = s.quarters(&m, from, from + 2 * QUARTER_MS);
        assert_eq!(before[&from].energy_mwh, 10_000_000);
        assert_eq!(s.admit(from + QUARTER_MS, 4.0), Admission::Late);
        let after = s.quarters(&m, from, from + 2 * QUARTER_MS);
        assert_eq!(after[&from].energy_mwh, 4_000_000);
        assert_eq!(after[&(from + QUARTER_MS)].energy_mwh, 16_000_000);
    }

    proptest! {
        /// However readings fall, the quarters of a counter sum to last − first (no loss, no double count).
        #[test]
        fn counter_quarters_sum_to_register_difference(steps in proptest::collection::vec((1i64..3_000_000, 0.0f64..500.0), 1..60)) {
            let m = counter(None, None);
            let mut s = MeterSeries::default();
            let (mut ts, mut v) = (1_714_492_800_123i64, 1000.0f64);
            s.admit(ts, v);
            for (dt, dv) in &steps {
                ts += dt;
                v += dv;
                s.admit(ts, v);
            }
            let (first, last) = (s.first().unwrap(), s.last().unwrap());
            let q = s.quarters(&m, i64::MIN / 4, i64::MAX / 4);
            let sum: i64 = q.values().map(|c| c.energy_mwh).sum();
            prop_assert_eq!(sum, kwh_to_mwh(last.1) - kwh_to_mwh(first.1));
            let covered: i64 = q.values().map(|c| c.covered_ms).sum();
            prop_assert_eq!(covered, last.0 - first.0);
        }
    }
}
