//! The in-memory telemetry state: the meter registry, each meter's readings, and what the latest
//! batch did. Everything downstream (roll-ups, real-time PUE, meter-derived activity, alerts) reads it.

use crate::batch::{BatchError, RawReading};
use crate::meter::{MeterId, MeterKind, MeterRegistry, Role};
use crate::rollup::{facility_role_quarters, roll, Period};
use crate::series::{Admission, Cell, MeterSeries};
use serde::Serialize;
use std::collections::BTreeMap;

/// A reading checked against the registry, as the reading log stores it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reading {
    pub meter: MeterId,
    pub ts_ms: i64,
    pub value: f64,
}

/// What happened to a batch: counts, and every reading not stored with its reason.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct IngestReport {
    pub received: usize,
    pub appended: usize,
    pub late: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub rejected: usize,
    /// Rejections and conflicts, one line each (position in the batch, 1-based).
    pub problems: Vec<BatchError>,
}

impl IngestReport {
    pub fn stored(&self) -> usize {
        self.appended + self.late
    }
    pub fn merge(&mut self, other: &IngestReport) {
        self.received += other.received;
        self.appended += other.appended;
        self.late += other.late;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.rejected += other.rejected;
        self.problems.extend(other.problems.iter().cloned());
    }
}

/// Earliest plausible reading: 2000-01-01T00:00:00Z. Anything before is a clock that was never set.
pub const EARLIEST_MS: i64 = 946_684_800_000;

#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    pub registry: MeterRegistry,
    pub series: Vec<MeterSeries>,
    /// Meters of each facility, in registry order.
    pub by_facility: BTreeMap<String, Vec<MeterId>>,
    /// The same, hashed: lookups on the live path run per facility per batch.
    meters_of: rustc_hash::FxHashMap<String, Vec<MeterId>>,
}

impl Telemetry {
    pub fn new(registry: MeterRegistry) -> Telemetry {
        let mut by_facility: BTreeMap<String, Vec<MeterId>> = BTreeMap::new();
        for (i, m) in registry.meters.iter().enumerate() {
            by_facility.entry(m.facility.clone()).or_default().push(i as MeterId);
        }
        let series = vec![MeterSeries::default(); registry.len()];
        let meters_of = by_facility.iter().map(|(f, m)| (f.clone(), m.clone())).collect();
        Telemetry { registry, series, by_facility, meters_of }
    }

    /// Checks raw readings against the registry and the value rules; returns the valid ones and
    /// the report of the invalid ones. `not_after_ms` (the receiver's clock plus a tolerance)
    /// rejects readings from the future. `positions` receives each valid reading's index in `raw`.
    pub fn validate(
        &self,
        raw: &[RawReading],
        not_after_ms: Option<i64>,
        report: &mut IngestReport,
        positions: &mut Vec<usize>,
    ) -> Vec<Reading> {
        let mut ok = Vec::with_capacity(raw.len());
        report.received += raw.len();
        for (i, r) in raw.iter().enumerate() {
            let mut reject = |field: &str, value: String, reason: String| {
                report.rejected += 1;
                report.problems.push(BatchError { line: i + 1, field: field.into(), value, reason });
            };
            let Some(id) = self.registry.get(&r.meter) else {
                reject("meter", r.meter.clone(), "unknown meter: not in the meter registry".into());
                continue;
            };
            let meter = self.registry.meter(id);
            if r.ts_ms < EARLIEST_MS || not_after_ms.is_some_and(|n| r.ts_ms > n) {
                reject(
                    "ts",
                    crate::time::format_shanghai(r.ts_ms),
                    "timestamp before 2000 or in the future: the meter's clock is wrong".into(),
                );
                continue;
            }
            if !r.value.is_finite() || r.value < 0.0 {
                reject("value", r.value.to_string(), "readings are non-negative (kWh, kW or a state value)".into());
                continue;
            }
            if meter.role == Role::Soc && r.value > 1.0 {
                reject("value", r.value.to_string(), "a state of charge is a fraction from 0 to 1".into());
                continue;
            }
            let (range, unit) = meter.role.value_range(meter.kind);
            if !range.contains(&r.value) {
                reject(
                    "value",
                    r.value.to_string(),
                    format!(
                        "above the largest plausible {} reading of a {} meter ({} {unit}): a meter or transport fault",
                        meter.role.code(),
                        meter.kind.code(),
                        range.end()
                    ),
                );
                continue;
            }
            if matches!(meter.role, Role::SupplyMode | Role::FuelCellState | Role::SiteStatus) && r.value.fract() != 0.0
            {
                reject("value", r.value.to_string(), format!("{} is a whole-number code", meter.role.code()));
                continue;
            }
            if let Some(max) = meter.counter_max_kwh {
                if r.value > max {
                    reject("value", r.value.to_string(), format!("above the register's maximum {max} kWh"));
                    continue;
                }
            }
            ok.push(Reading { meter: id, ts_ms: r.ts_ms, value: r.value });
            positions.push(i);
        }
        ok
    }

    /// Stores validated readings (any order) and counts what happened to them; `positions` (from
    /// `validate`) numbers the problems by their place in the original batch.
    pub fn apply(&mut self, readings: &[Reading], positions: Option<&[usize]>, report: &mut IngestReport) {
        for (i, r) in readings.iter().enumerate() {
            match self.series[r.meter as usize].admit(r.ts_ms, r.value) {
                Admission::Appended => report.appended += 1,
                Admission::Late => report.late += 1,
                Admission::Duplicate => report.duplicates += 1,
                Admission::Conflict { stored } => {
                    report.conflicts += 1;
                    report.problems.push(BatchError {
                        line: positions.map_or(i, |p| p[i]) + 1,
                        field: "value".into(),
                        value: r.value.to_string(),
                        reason: format!(
                            "meter {} already has {stored} at {}: the first value is kept",
                            self.registry.meter(r.meter).code,
                            crate::time::format_shanghai(r.ts_ms)
                        ),
                    });
                }
            }
        }
    }

    /// Validate + apply.
    pub fn ingest(&mut self, raw: &[RawReading], not_after_ms: Option<i64>) -> IngestReport {
        let mut report = IngestReport::default();
        let mut positions = Vec::with_capacity(raw.len());
        let ok = self.validate(raw, not_after_ms, &mut report, &mut positions);
        self.apply(&ok, Some(&positions), &mut report);
        report
    }

    /// Energy of `facility`'s meters with `role` per `period` over `[from, to)`; `None` when the
    /// facility has no meter with that role.
    pub fn facility_energy(
        &self,
        facility: &str,
        role: Role,
        period: Period,
        from: i64,
        to: i64,
    ) -> Option<BTreeMap<i64, Cell>> {
        let meters = self.meters_of.get(facility)?;
        self.meters_energy(meters, role, period, from, to)
    }

    /// `facility_energy` over a given set of meters (a facility's, from `meters_of`).
    pub fn meters_energy(
        &self,
        meters: &[MeterId],
        role: Role,
        period: Period,
        from: i64,
        to: i64,
    ) -> Option<BTreeMap<i64, Cell>> {
        if role.is_gauge() {
            return None;
        }
        let (quarters, count) = facility_role_quarters(&self.registry, &self.series, meters, role, from, to);
        (count > 0).then(|| roll(&quarters, period))
    }

    /// Energy (kWh) of `meters` with `role` over the quarters starting in `[to − 1 h, to)`, summed
    /// quarter by quarter in time order: the same number as summing the cells of
    /// `meters_energy(meters, role, Period::Quarter, to − 1 h, to)`, without building maps (the live
    /// path computes it for every facility a batch touches). `None` when no meter has the role.
    pub fn meters_trailing_hour_kwh(&self, meters: &[MeterId], role: Role, to: i64) -> Option<f64> {
        if role.is_gauge() {
            return None;
        }
        let from = to - crate::time::HOUR_MS;
        // The quarter starts in [from, to): at most four (exactly four for an hour-long window).
        let first = from.div_euclid(crate::time::QUARTER_MS) * crate::time::QUARTER_MS;
        let first = if first < from { first + crate::time::QUARTER_MS } else { first };
        let mut cells: [Option<i64>; 5] = [None; 5];
        let mut count = 0;
        for &m in meters {
            let meter = self.registry.meter(m);
            if meter.role != role {
                continue;
            }
            count += 1;
            self.series[m as usize].for_each_segment(meter, from, to, |seg| {
                crate::series::distribute_with(&seg, from, to, |q, part| {
                    let slot = &mut cells[((q - first) / crate::time::QUARTER_MS) as usize];
                    *slot = Some(slot.unwrap_or(0) + part.energy_mwh);
                })
            });
        }
        (count > 0).then(|| cells.iter().flatten().map(|&e| crate::series::mwh_to_kwh(e)).sum())
    }

    /// The facility's current power by role (kW): the latest sample of power meters, the average
    /// power of the latest interval of counters; with the time it refers to.
    pub fn current_power(&self, facility: &str, role: Role) -> Option<(f64, i64)> {
        self.meters_power(self.meters_of.get(facility)?, role)
    }

    /// `current_power` over a given set of meters.
    pub fn meters_power(&self, meters: &[MeterId], role: Role) -> Option<(f64, i64)> {
        let mut total = 0.0;
        let mut at = i64::MIN;
        let mut any = false;
        for &m in meters {
            let meter = self.registry.meter(m);
            if meter.role != role {
                continue;
            }
            let s = &self.series[m as usize];
            let power = match meter.kind {
                MeterKind::Gauge => None,
                MeterKind::Power => s.last(),
                MeterKind::Counter => {
                    let mut it = s.points().rev();
                    match (it.next(), it.next()) {
                        (Some((t1, v1)), Some((t0, v0))) if v1 >= v0 && t1 > t0 => {
                            Some((t1, (v1 - v0) / ((t1 - t0) as f64 / 3_600_000.0)))
                        }
                        _ => None,
                    }
                }
            };
            if let Some((t, p)) = power {
                total += p;
                at = at.max(t);
                any = true;
            }
        }
        any.then_some((total, at))
    }

    /// The newest sample of the facility's gauge meters with `role` (the newest over several such
    /// meters), with its time; `None` for energy roles or without a sample.
    pub fn latest(&self, facility: &str, role: Role) -> Option<(i64, f64)> {
        if !role.is_gauge() {
            return None;
        }
        self.meters_latest(self.meters_of.get(facility)?, role)
    }

    /// `latest` over a given set of meters.
    pub fn meters_latest(&self, meters: &[MeterId], role: Role) -> Option<(i64, f64)> {
        if !role.is_gauge() {
            return None;
        }
        meters
            .iter()
            .filter(|&&m| self.registry.meter(m).role == role)
            .filter_map(|&m| self.series[m as usize].last())
            .max_by_key(|&(t, _)| t)
    }

    /// The meters of a facility.
    pub fn meters_of(&self, facility: &str) -> Option<&[MeterId]> {
        self.meters_of.get(facility).map(|v| v.as_slice())
    }

    /// The newest reading of each meter (for silence alerts).
    pub fn last_seen(&self) -> impl Iterator<Item = (MeterId, Option<i64>)> + '_ {
        self.series.iter().enumerate().map(|(i, s)| (i as MeterId, s.last().map(|p| p.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::parse_csv_lines;
    use crate::time::{parse_timestamp, HOUR_MS};

    fn registry() -> MeterRegistry {
        let csv = "meter_code,facility_code,role,kind,counter_max_kwh\n\
                   DC1-TOT,DC1,total_facility,counter,\nDC1-IT,DC1,it_load,counter,\nDC1-ITP,DC1,it_load,power,\n\
                   DC1-PV,DC1,pv,counter,1000\n";
        MeterRegistry::read(csv.as_bytes(), |_| true).unwrap()
    }

    #[test]
    fn ingest_reports_each_outcome() {
        let mut tel = Telemetry::new(registry());
        let (raw, errs) = parse_csv_lines(
            "DC1-TOT,2024-05-01T00:00:00+08:00,100\nDC1-TOT,2024-05-01T01:00:00+08:00,250\n\
             DC1-TOT,2024-05-01T00:30:00+08:00,170\nDC1-TOT,2024-05-01T00:30:00+08:00,170\n\
             DC1-TOT,2024-05-01T00:30:00+08:00,171\nNOPE,2024-05-01T00:00:00+08:00,1\n\
             DC1-PV,2024-05-01T00:00:00+08:00,1200\nDC1-IT,1999-12-31T00:00:00Z,5\nDC1-IT,2024-05-01T00:00:00Z,-1\n",
        );
        assert!(errs.is_empty());
        let rep = tel.ingest(&raw, None);
        assert_eq!(
            (rep.received, rep.appended, rep.late, rep.duplicates, rep.conflicts, rep.rejected),
            (9, 2, 1, 1, 1, 4)
        );
        let lines: Vec<usize> = rep.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![6, 7, 8, 9, 5]);
        let start = parse_timestamp("2024-05-01T00:00:00+08:00").unwrap();
        let e = tel.facility_energy("DC1", Role::TotalFacility, Period::Hour, start, start + HOUR_MS).unwrap();
        assert_eq!(e[&start].energy_kwh(), 150.0);
        assert!(tel.facility_energy("DC1", Role::Cooling, Period::Hour, start, start + HOUR_MS).is_none());
    }

    #[test]
    fn current_power_sums_meters_of_a_role() {
        let mut tel = Telemetry::new(registry());
        let (raw, _) = parse_csv_lines(
            "DC1-IT,2024-05-01T00:00:00+08:00,1000\nDC1-IT,2024-05-01T00:15:00+08:00,1050\nDC1-ITP,2024-05-01T00:14:00+08:00,30\n",
        );
        tel.ingest(&raw, None);
        let (p, at) = tel.current_power("DC1", Role::ItLoad).unwrap();
        assert_eq!(p, 200.0 + 30.0);
        assert_eq!(at, parse_timestamp("2024-05-01T00:15:00+08:00").unwrap());
    }

    #[test]
    fn readings_beyond_the_physical_range_of_their_role_are_rejected() {
        let csv = "meter_code,facility_code,role,kind\nP,F,grid_import,power\nC,F,total_facility,counter\n\
                   S,S1,site_load,power\nSOC,S1,soc,gauge\nMODE,S1,supply_mode,gauge\n";
        let mut tel = Telemetry::new(MeterRegistry::read(csv.as_bytes(), |_| true).unwrap());
        let (raw, _) = parse_csv_lines(
            "P,2024-05-01T00:00:00+08:00,1e308\nP,2024-05-01T00:01:00+08:00,2000000\n\
             C,2024-05-01T00:00:00+08:00,1e15\nC,2024-05-01T00:01:00+08:00,1e12\n\
             S,2024-05-01T00:00:00+08:00,20000\nS,2024-05-01T00:01:00+08:00,3.5\n\
             MODE,2024-05-01T00:00:00+08:00,256\nMODE,2024-05-01T00:01:00+08:00,2\nSOC,2024-05-01T00:00:00+08:00,0.5\n",
        );
        let rep = tel.ingest(&raw, None);
        let rejected: Vec<usize> = rep.problems.iter().map(|p| p.line).collect();
        assert_eq!(rejected, vec![1, 3, 5, 7], "{:?}", rep.problems);
        assert!(rep.problems.iter().all(|p| p.reason.contains("largest plausible")), "{:?}", rep.problems);
        assert_eq!(rep.appended, 5);
    }

    proptest::proptest! {
        /// The live path's trailing-hour energy equals the sum of the roll-up's quarter cells, for
        /// any readings of several meters (counters with resets, power with gaps) and any end time.
        #[test]
        fn trailing_hour_equals_quarter_rollup(
            readings in proptest::collection::vec((0usize..4, 0i64..400, 0.0f64..50.0), 0..60),
            end in 0i64..400,
        ) {
            let csv = "meter_code,facility_code,role,kind,max_gap_minutes\nT1,F,total_facility,counter,30\n\
                       T2,F,total_facility,power,20\nT3,F,total_facility,counter,\nI1,F,it_load,counter,\n";
            let mut tel = Telemetry::new(MeterRegistry::read(csv.as_bytes(), |_| true).unwrap());
            let t0 = 1_714_492_800_000i64;
            let codes = ["T1", "T2", "T3", "I1"];
            let raw: Vec<RawReading> = readings
                .iter()
                .map(|&(m, minute, v)| RawReading { meter: codes[m].into(), ts_ms: t0 + minute * 60_000 + 7, value: v })
                .collect();
            tel.ingest(&raw, None);
            let meters = tel.meters_of("F").unwrap().to_vec();
            let to = t0 + end * 60_000 + 13;
            for role in [Role::TotalFacility, Role::ItLoad, Role::Cooling, Role::Soc] {
                let expected = tel
                    .meters_energy(&meters, role, Period::Quarter, to - HOUR_MS, to)
                    .map(|c| c.values().map(|c| c.energy_kwh()).sum::<f64>());
                let got = tel.meters_trailing_hour_kwh(&meters, role, to);
                proptest::prop_assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits), "{:?}", role);
            }
        }
    }

    #[test]
    fn gauges_keep_their_newest_state_and_carry_no_energy() {
        let csv = "meter_code,facility_code,role,kind\nS.soc,S,soc,gauge\nS.mode,S,supply_mode,gauge\nS.load,S,site_load,power\n";
        let mut tel = Telemetry::new(MeterRegistry::read(csv.as_bytes(), |_| true).unwrap());
        let (raw, errs) = parse_csv_lines(
            "S.soc,2024-05-01T01:00:00+08:00,0.62\nS.soc,2024-05-01T00:00:00+08:00,0.70\nS.soc,2024-05-01T02:00:00+08:00,1.2\n\
             S.mode,2024-05-01T01:00:00+08:00,2.5\nS.mode,2024-05-01T01:00:00+08:00,3\nS.load,2024-05-01T01:00:00+08:00,1.5\n",
        );
        assert!(errs.is_empty());
        let rep = tel.ingest(&raw, None);
        assert_eq!((rep.appended + rep.late, rep.rejected), (4, 2), "{:?}", rep.problems);
        let reasons: Vec<&str> = rep.problems.iter().map(|p| p.reason.as_str()).collect();
        assert!(reasons[0].contains("fraction") && reasons[1].contains("whole-number"), "{reasons:?}");
        let t1 = parse_timestamp("2024-05-01T01:00:00+08:00").unwrap();
        assert_eq!(tel.latest("S", Role::Soc), Some((t1, 0.62)), "the newest sample, not the last to arrive");
        assert_eq!(tel.latest("S", Role::SupplyMode), Some((t1, 3.0)));
        assert_eq!(tel.latest("S", Role::SiteLoad), None, "energy roles have no gauge value");
        assert!(tel.facility_energy("S", Role::Soc, Period::Hour, t1 - HOUR_MS, t1 + HOUR_MS).is_none());
        assert!(tel.current_power("S", Role::Soc).is_none());
        assert_eq!(tel.current_power("S", Role::SiteLoad), Some((1.5, t1)));
    }
}
