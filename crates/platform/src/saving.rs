//! Measured base-station savings on the platform: a saving run (the computation of
//! `POST /api/v1/site/bs-saving`, unchanged) recorded for an org and a period becomes indicator data
//! per station, and the recorded data becomes the measured results of the scenario measures.
//!
//! Recording: every station of the traffic file (its `BS` column) must be a facility of the org's
//! subtree; each gets `bs_ai_saved_kwh` and `bs_ai_reference_kwh` for the period, added through the
//! same path as `POST /api/v1/indicator-data` (`monitoring::add_observations`), refusing a value the
//! facility already has for that component and period, so a run recorded twice never counts twice.
//! The `source` of each value names the run (hash of the traffic file, power model, grid factor),
//! and the change is one entry of the hash-chained audit log (`site.bs_saving`) with every value.

use crate::error::{Error, Kind, Result};
use crate::monitoring::{self, Merge};
use crate::{Actor, Platform};
use indicators::{micro_from_f64, micro_to_f64, Component, MeasuredResult, Observation, PeriodKey};
use serde::Deserialize;
use serde_json::{json, Value};
use site::bs::{PowerModel, SavingReport, SchedulerPolicy};
use std::collections::BTreeSet;

/// The audit action of a recorded saving run.
pub const BS_SAVING_ACTION: &str = "site.bs_saving";

#[derive(Deserialize)]
pub struct RecordRequest {
    /// Per-cell hourly load in the ITU 2023 format (`Time,BS,CellName,load,...`); `BS` = facility code.
    pub cells_csv: String,
    #[serde(default)]
    pub policy: Option<SchedulerPolicy>,
    #[serde(default)]
    pub grid_factor: Option<String>,
    /// `YYYY-MM` or `YYYY`: the period the measured saving is recorded for.
    pub period: String,
}

/// The power model and baseline of a run, for its `source` (no commas: it is a CSV field).
fn model_name(p: &SchedulerPolicy) -> String {
    let model = match p.model {
        PowerModel::Tr38864 => format!("tr38864-{:?}-{:?}", p.category, p.set),
        PowerModel::Earth { bs_type, trx_per_cell } => format!("earth-{bs_type:?}-{trx_per_cell}trx"),
    };
    format!("model={} baseline={}", model.to_lowercase(), p.baseline.name())
}

/// Runs the base-station saving on the traffic and records each station's saving and reference as
/// indicator data of `org`'s subtree for the period (see the module documentation). Every problem
/// at once (period, traffic, unknown or out-of-scope stations) and nothing recorded; a value
/// already recorded is a conflict. Returns the report, the rows recorded and the audit entry's
/// sequence number. Blocking.
pub fn record(platform: &Platform, org: &store::reference::Org, actor: &Actor, req: RecordRequest) -> Result<Value> {
    let m = monitoring::mon(platform)?;
    let db = &*platform.store;
    let mut errors = Vec::new();
    let period = PeriodKey::parse(&req.period);
    if period.is_none() {
        errors.push(format!("period: {:?} is not YYYY-MM or YYYY with a year from 1990 to 2100", req.period));
    }
    // The very computation of POST /api/v1/site/bs-saving.
    let policy = req.policy.clone().unwrap_or_default();
    let grid = req.grid_factor.clone().unwrap_or_else(|| crate::site::DEFAULT_GRID_FACTOR.into());
    let report: Option<SavingReport> =
        match crate::site::saving_report(&req.cells_csv, Some(policy.clone()), Some(grid.clone())) {
            Ok(r) => Some(r),
            Err(e) if e.kind == Kind::Invalid => {
                match e.detail.as_ref().and_then(|d| serde_json::from_value::<Vec<String>>(d.clone()).ok()) {
                    Some(list) => errors.extend(list),
                    None => errors.push(e.message),
                }
                None
            }
            Err(e) => return Err(e),
        };
    // Every station a facility of the org's subtree, known to the indicator data.
    let mut facility_org = Vec::new();
    if let Some(r) = &report {
        let path = org.path.clone();
        let stations: Vec<String> = r.by_station.iter().map(|s| s.station.clone()).collect();
        let (within, elsewhere) = {
            let s = db;
            {
                let within: BTreeSet<String> = s.facilities_within(&path)?.into_iter().map(|f| f.code).collect();
                let mut elsewhere = std::collections::BTreeMap::new();
                for st in stations.iter().filter(|st| !within.contains(*st)) {
                    if let Some(f) = s.facility(st)? {
                        elsewhere.insert(st.clone(), f.org_code);
                    }
                }
                (within, elsewhere)
            }
        };
        for s in &r.by_station {
            if let Some(other) = elsewhere.get(&s.station) {
                errors
                    .push(format!("station {}: a facility of org {other}, outside {}'s subtree", s.station, org.code));
            } else if !within.contains(&s.station) {
                errors.push(format!("station {}: not a facility code (the BS column must name facilities)", s.station));
            } else {
                match m.facility_org_id(&s.station) {
                    Some(id) => facility_org.push(id),
                    None => errors.push(format!(
                        "station {}: facility added after the platform started; restart it to record indicator data",
                        s.station
                    )),
                }
            }
        }
    }
    let (Some(report), Some(period), true) = (report, period, errors.is_empty()) else {
        return Err(Error::problems("invalid", "the saving run", errors));
    };

    let hash = store::sha256_hex(req.cells_csv.as_bytes());
    let source = format!("bs-saving sha256:{} {} grid={}", &hash[..16], model_name(&policy), report.grid_factor_id);
    let mut rows = Vec::with_capacity(2 * report.by_station.len());
    for (s, &org_id) in report.by_station.iter().zip(&facility_org) {
        for (component, kwh) in [(Component::BsAiSavedKwh, s.saved_kwh), (Component::BsAiReferenceKwh, s.baseline_kwh)]
        {
            rows.push(Observation {
                org: org_id,
                facility: Some(s.station.clone()),
                period,
                component,
                value: micro_from_f64(kwh),
                source: source.clone(),
            });
        }
    }
    let period_text = req.period.trim().to_string();
    let recorded: Vec<Value> = rows
        .iter()
        .map(|o| {
            json!({"facility": o.facility, "period": period_text, "component": o.component.code(),
                   "value": micro_to_f64(o.value), "source": o.source})
        })
        .collect();
    let after = json!({
        "period": period_text, "source": source, "cells_sha256": hash, "policy": policy,
        "grid_factor": report.grid_factor_id, "stations": report.stations, "baseline_kwh": report.baseline_kwh,
        "saved_kwh": report.saved_kwh, "measure_result": report.measure_result, "recorded": recorded,
    });
    let entity = format!("bs-saving:{}:{period_text}", org.code);
    let kind = db.kind();
    let seq = monitoring::add_observations(db, &m, actor, rows, Merge::Once, |c, _| {
        store::audit::append(
            c,
            kind,
            store::audit::Change {
                actor: &actor.username,
                action: BS_SAVING_ACTION,
                entity,
                org_code: &org.code,
                before: Value::Null,
                after,
            },
        )
    })?
    .done;
    Ok(json!({"saving": report, "recorded": recorded, "audit_seq": seq}))
}

/// The measured results in `org_code`'s subtree; empty when monitoring is off or the org unknown to it.
pub fn measured_of(platform: &Platform, org_code: &str) -> Vec<MeasuredResult> {
    platform.monitoring.read().unwrap().clone().and_then(|m| m.measured(org_code)).unwrap_or_default()
}
