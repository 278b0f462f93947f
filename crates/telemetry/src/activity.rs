//! Monthly electricity from meters, for facilities and months without a bill: activity rows in
//! the activity.csv format (docs/formats.md) that the inventory reads like any other, marked as
//! meter-derived so nobody mistakes them for bills.
//!
//! Rules: grid electricity comes from the facility's `grid_import` meters; a facility without one
//! falls back to its `total_facility` meters, unless it also has PV (then the total contains PV
//! energy that is not grid electricity, and the month is skipped with that reason rather than
//! counted twice). PV meters give `electricity_pv_self`. One row per meter and month, with
//! `source_document` `METER:<meter_code>` and `evidence_ref` stating coverage and quality flags.
//! A month for which `has_bill(facility, period, carrier)` is true is skipped: the bill wins.

use crate::hub::Telemetry;
use crate::meter::Role;
use crate::rollup::Period;
use crate::series::flag;
use crate::time::month_start_of;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterActivityRow {
    pub facility_code: String,
    /// `YYYY-MM`.
    pub period: String,
    pub carrier: &'static str,
    pub quantity_kwh: f64,
    pub source_document: String,
    pub evidence_ref: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedMonth {
    pub facility_code: String,
    pub period: String,
    pub carrier: &'static str,
    pub meter: String,
    pub reason: String,
}

pub fn monthly_activity(
    tel: &Telemetry,
    year: i32,
    has_bill: impl Fn(&str, &str, &str) -> bool,
) -> (Vec<MeterActivityRow>, Vec<SkippedMonth>) {
    let (from, to) = (month_start_of(year, 1), month_start_of(year + 1, 1));
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (facility, meters) in &tel.by_facility {
        let has = |role: Role| meters.iter().any(|&m| tel.registry.meter(m).role == role);
        let electricity_role = if has(Role::GridImport) { Role::GridImport } else { Role::TotalFacility };
        let pv_ambiguous = electricity_role == Role::TotalFacility && has(Role::Pv);
        for &m in meters {
            let meter = tel.registry.meter(m);
            let carrier = match meter.role {
                r if r == electricity_role => "electricity",
                Role::Pv => "electricity_pv_self",
                _ => continue,
            };
            let quarters = tel.series[m as usize].quarters(meter, from, to);
            let months = crate::rollup::roll(&quarters, Period::Month);
            for (start, cell) in months {
                if cell.covered_ms == 0 && cell.energy_mwh == 0 {
                    continue;
                }
                let period = Period::Month.label(start);
                let skip = |reason: String| SkippedMonth {
                    facility_code: facility.clone(),
                    period: period.clone(),
                    carrier,
                    meter: meter.code.clone(),
                    reason,
                };
                if has_bill(facility, &period, carrier) {
                    skipped.push(skip("a bill exists for this facility, month and carrier; the bill is used".into()));
                    continue;
                }
                if pv_ambiguous && carrier == "electricity" {
                    skipped.push(skip(
                        "the facility has PV but no grid_import meter: its total_facility meter includes PV energy, so grid electricity cannot be told apart".into(),
                    ));
                    continue;
                }
                let coverage = cell.covered_ms as f64 / (Period::Month.end(start) - start) as f64;
                let mut evidence = format!("meter-derived, no bill; coverage={coverage:.4}");
                if cell.flags & !flag::SPLIT != 0 {
                    evidence.push_str("; flags=");
                    evidence.push_str(&flag::names(cell.flags & !flag::SPLIT).join("+"));
                }
                rows.push(MeterActivityRow {
                    facility_code: facility.clone(),
                    period,
                    carrier,
                    quantity_kwh: cell.energy_kwh(),
                    source_document: format!("METER:{}", meter.code),
                    evidence_ref: evidence,
                });
            }
        }
    }
    (rows, skipped)
}

/// Writes rows as activity.csv (header included).
pub fn write_activity_csv(rows: &[MeterActivityRow], out: impl std::io::Write) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["facility_code", "period", "carrier", "quantity", "unit", "source_document", "evidence_ref"])?;
    for r in rows {
        w.write_record([
            r.facility_code.as_str(),
            &r.period,
            r.carrier,
            &format!("{}", r.quantity_kwh),
            "kWh",
            &r.source_document,
            &r.evidence_ref,
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::parse_csv_lines;
    use crate::meter::MeterRegistry;

    fn tel(meters: &str, readings: &str) -> Telemetry {
        let reg =
            MeterRegistry::read(format!("meter_code,facility_code,role,kind\n{meters}").as_bytes(), |_| true).unwrap();
        let mut t = Telemetry::new(reg);
        let (raw, errs) = parse_csv_lines(readings);
        assert!(errs.is_empty());
        assert_eq!(t.ingest(&raw, None).rejected, 0);
        t
    }

    #[test]
    fn month_boundary_split_and_bill_precedence() {
        let t = tel(
            "BS1-G,BS1,grid_import,counter\nBS1-PV,BS1,pv,counter\nBS2-T,BS2,total_facility,counter\n",
            // 24 kWh between 23:00 on 31 May and 01:00 on 1 June: half to May, half to June.
            "BS1-G,2024-05-31T23:00:00+08:00,1000\nBS1-G,2024-06-01T01:00:00+08:00,1024\n\
             BS1-PV,2024-06-01T00:00:00+08:00,0\nBS1-PV,2024-06-01T02:00:00+08:00,3.5\n\
             BS2-T,2024-06-01T00:00:00+08:00,0\nBS2-T,2024-06-01T00:15:00+08:00,1\n",
        );
        let (rows, skipped) = monthly_activity(&t, 2024, |f, p, c| f == "BS2" && p == "2024-06" && c == "electricity");
        let got: Vec<(&str, &str, &str, f64, &str)> = rows
            .iter()
            .map(|r| {
                (r.facility_code.as_str(), r.period.as_str(), r.carrier, r.quantity_kwh, r.source_document.as_str())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("BS1", "2024-05", "electricity", 12.0, "METER:BS1-G"),
                ("BS1", "2024-06", "electricity", 12.0, "METER:BS1-G"),
                ("BS1", "2024-06", "electricity_pv_self", 3.5, "METER:BS1-PV"),
            ]
        );
        assert!(rows[0].evidence_ref.starts_with("meter-derived, no bill; coverage="));
        assert_eq!(skipped.len(), 1);
        assert_eq!((skipped[0].facility_code.as_str(), skipped[0].meter.as_str()), ("BS2", "BS2-T"));
        let mut buf = Vec::new();
        write_activity_csv(&rows, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.lines().nth(1).unwrap().starts_with("BS1,2024-05,electricity,12,kWh,METER:BS1-G,"));
    }

    #[test]
    fn total_meter_with_pv_and_no_grid_meter_is_not_counted() {
        let t = tel(
            "DC-T,DC,total_facility,counter\nDC-PV,DC,pv,counter\n",
            "DC-T,2024-03-01T00:00:00+08:00,0\nDC-T,2024-03-01T01:00:00+08:00,100\n\
             DC-PV,2024-03-01T00:00:00+08:00,0\nDC-PV,2024-03-01T01:00:00+08:00,10\n",
        );
        let (rows, skipped) = monthly_activity(&t, 2024, |_, _, _| false);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].carrier, "electricity_pv_self");
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].reason.contains("PV"));
    }
}
