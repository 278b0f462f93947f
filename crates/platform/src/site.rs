//! Site energy systems (光氢储, base-station saving) as platform services: simulation, sizing and
//! the base-station saving report on what the request carries (a site file, a weather file,
//! per-cell traffic; nothing stored is read), and the remote set points and state of a registered
//! site (远程调试).
//!
//! Set points are read from and written to the audit log: the newest `site.setpoints` entry of the
//! site, else the defaults, so the history of a site's set points cannot differ from the audit
//! trail. A gateway's state report becomes readings of the site's registered meters and goes
//! through monitoring like any batch; the site's state is rebuilt from its meters' newest readings.

use crate::error::{Error, Kind, Result};
use crate::monitoring::{now_ms, Monitoring};
use serde::Deserialize;
use serde_json::{json, Value};
use site::bs::{schedule, SavingReport, SchedulerPolicy};
use site::controller::Setpoints;
use site::sim::SiteConfig;
use site::weather::{Weather, WeatherFormat};

/// The audit action of a set-point change.
pub const SETPOINTS_ACTION: &str = "site.setpoints";

/// The grid factor base-station savings are converted with unless the request names another.
pub const DEFAULT_GRID_FACTOR: &str = "elec.nbs_average.CN.2022";

/// A site file and its weather, as a request carries them: the weather as a file's text, or the id of
/// a typical year the platform ships (`site::shipped_weather`), not both.
#[derive(Deserialize)]
pub struct SiteRequest {
    /// The site file (`site.toml`) as text.
    pub site_toml: String,
    /// A TMY3 file, an EPW file or a plain weather CSV (`time,ghi,dni,dhi,temp_air,wind_speed`) as text.
    #[serde(default)]
    pub weather_csv: String,
    #[serde(default)]
    pub weather_name: Option<String>,
    /// The id of a shipped typical year (`GET /api/v1/site/weather`) instead of a file.
    #[serde(default)]
    pub shipped_weather: Option<String>,
}

/// The shipped typical years with their sources and their distance to the example site.
pub fn shipped_weather() -> Value {
    let years: Vec<Value> = site::shipped_weather::SHIPPED
        .iter()
        .map(|w| {
            let mut v = serde_json::to_value(w).unwrap_or(Value::Null);
            v["example_site_distance_km"] = json!((w.example_site_distance_km() * 10.0).round() / 10.0);
            v
        })
        .collect();
    let (lat, lon) = site::shipped_weather::EXAMPLE_SITE;
    json!({"weather_years": years, "example_site": {"latitude": lat, "longitude": lon}})
}

/// Parses the site file and its weather; every problem of both at once.
pub fn load(req: &SiteRequest) -> Result<(SiteConfig, Weather)> {
    let name = req.weather_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "weather.csv".into());
    let config = SiteConfig::from_toml(&req.site_toml);
    let mut errors: Vec<String> = match &config {
        Ok(_) => Vec::new(),
        Err(list) => list.iter().map(|e| format!("site.toml: {e}")).collect(),
    };
    let year = config.as_ref().map_or(2023, |c| c.simulation.weather_year);
    let as_strings = |e: Vec<site::weather::WeatherError>| e.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let weather = match req.shipped_weather.as_deref().filter(|id| !id.is_empty()) {
        Some(_) if !req.weather_csv.is_empty() => {
            Err(vec!["weather: give a weather file or shipped_weather, not both".to_string()])
        }
        Some(id) => match site::shipped_weather::find(id) {
            Some(w) => w.weather(year).map_err(as_strings),
            None => {
                let known: Vec<&str> = site::shipped_weather::SHIPPED.iter().map(|w| w.id).collect();
                Err(vec![format!("shipped_weather: no shipped weather year {id:?} (shipped: {})", known.join(", "))])
            }
        },
        None if req.weather_csv.trim().is_empty() => {
            Err(vec!["weather: a weather file or shipped_weather is needed".to_string()])
        }
        None => match (&config, WeatherFormat::of(&req.weather_csv).has_location()) {
            (_, true) => site::weather::parse_weather(&name, &req.weather_csv, None, year).map_err(as_strings),
            (Ok(c), false) => match c.location {
                Some(l) => site::weather::parse_plain(&name, &req.weather_csv, l.place()).map_err(as_strings),
                None => Err(vec![format!("{name}: a plain weather CSV needs [location] in the site file")]),
            },
            // The site file's own problems are reported; a plain CSV cannot be read without its location.
            (Err(_), false) => Err(vec![]),
        },
    };
    if let Err(list) = &weather {
        errors.extend(list.iter().cloned());
    }
    match (config, weather) {
        (Ok(c), Ok(w)) if errors.is_empty() => Ok((c, w)),
        _ => Err(Error::problems("invalid_site", "the site file or weather", errors)),
    }
}

/// A year (or the weather's span) of the controller with PV, battery and fuel cell: the report plus
/// daily energy by source and SoC range for the charts. Blocking.
pub fn simulate(config: &SiteConfig, weather: &Weather) -> Result<Value> {
    let lib = factors::Library::shipped();
    let steps_per_day = (86_400 / weather.interval_s.max(1)) as usize;
    let dt_h = weather.interval_s as f64 / 3600.0;
    let mut daily: Vec<[f64; 8]> = Vec::new();
    let report = site::sim::simulate(config, weather, &lib, |i, out, mode, _| {
        let d = i / steps_per_day.max(1);
        if daily.len() <= d {
            daily.push([0.0, 0.0, 0.0, 0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 0.0]);
        }
        let row = &mut daily[d];
        row[0] += (out.pv_to_load_w + out.pv_to_battery_w) * dt_h / 1000.0;
        row[1] += out.fc_output_w * dt_h / 1000.0;
        row[2] += out.battery_discharge_w * dt_h / 1000.0;
        row[3] += (out.load_w - out.unserved_w) * dt_h / 1000.0;
        row[4] += out.unserved_w * dt_h / 1000.0;
        row[5] = row[5].min(out.soc_after);
        row[6] = row[6].max(out.soc_after);
        if mode == site::controller::SupplyMode::FuelCell {
            row[7] += dt_h;
        }
    })
    .map_err(|e| Error::problems("invalid_site", "the site", e))?;
    let days: Vec<Value> = daily
        .iter()
        .enumerate()
        .map(|(d, r)| {
            json!({"day": d + 1, "pv_kwh": r[0], "fuel_cell_kwh": r[1], "battery_kwh": r[2],
           "served_kwh": r[3], "unserved_kwh": r[4], "soc_min": r[5], "soc_max": r[6],
           "fuel_cell_hours": r[7]})
        })
        .collect();
    Ok(json!({"report": report, "daily": days, "setpoints": config.setpoints}))
}

/// The cheapest PV / battery / fuel-cell combination of the site file's `[sizing]` candidates
/// with zero unserved load over the weather. Blocking.
pub fn size(config: &SiteConfig, weather: &Weather) -> Result<Value> {
    let sizing = config.sizing.clone().ok_or_else(|| {
        Error::problems("invalid_site", "the site file", vec!["site.toml: [sizing] is needed to size a site".into()])
    })?;
    let r = site::sim::size(config, &sizing, weather).map_err(|e| Error::problems("invalid_site", "the sizing", e))?;
    Ok(json!({"sizing": r}))
}

/// Forecast traffic per cell, schedule carrier shutdown, symbol and deep sleep under the quality
/// constraint, and report the saving in kWh and tCO2 per station (grid factor `grid_factor`, else
/// [`DEFAULT_GRID_FACTOR`]); every problem of the request at once (422 `invalid_traffic`). Blocking.
pub fn saving_report(
    cells_csv: &str,
    policy: Option<SchedulerPolicy>,
    grid_factor: Option<String>,
) -> Result<SavingReport> {
    let mut errors = Vec::new();
    let cells = site::itu::parse_cells("cells.csv", cells_csv, &mut errors);
    let policy = policy.unwrap_or_default();
    errors.extend(policy.problems());
    let grid = grid_factor.unwrap_or_else(|| DEFAULT_GRID_FACTOR.into());
    let lib = factors::Library::shipped();
    if lib.get(&grid).is_none() {
        errors.push(format!("grid_factor: {grid} is not in the factor library"));
    }
    if cells.is_empty() && errors.is_empty() {
        errors.push("cells.csv: no cell-hours".into());
    }
    if !errors.is_empty() {
        return Err(Error::problems("invalid_traffic", "the traffic file", errors));
    }
    let data = site::itu::ItuData { cells, energy: Default::default() };
    let mut report = schedule(&site::itu::stations(&data), &policy);
    report.apply_grid_factor(&lib, &grid).map_err(|e| Error::problems("invalid_traffic", "the request", vec![e]))?;
    Ok(report)
}

fn entity(facility: &str) -> String {
    format!("site:{facility}")
}

/// The set-point history of a site from the audit log, oldest first.
pub fn history(c: &mut dyn store::Conn, facility: &str) -> store::Result<Vec<Value>> {
    let rows = c.query(
        "SELECT seq, at, actor, before_json, after_json FROM audit WHERE entity = $1 AND action = $2 ORDER BY seq",
        &[entity(facility).into(), SETPOINTS_ACTION.into()],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let parse = |t: String| serde_json::from_str::<Value>(&t).unwrap_or(Value::Null);
            json!({"seq": r.int(0), "at": r.text(1), "by": r.text(2), "before": parse(r.text(3)), "after": parse(r.text(4))})
        })
        .collect())
}

pub fn current(history: &[Value]) -> Result<Setpoints> {
    match history.last() {
        Some(h) => serde_json::from_value(h["after"]["setpoints"].clone())
            .map_err(|e| Error::internal(format!("stored set points do not read: {e}"))),
        None => Ok(Setpoints::default()),
    }
}

/// Stores new set points (JSON) for facility `code` of org `org_code` with a reason: every broken
/// rule at once (422 `invalid_setpoints`); the change is its audit entry (one transaction).
/// Returns the set points and the entry's sequence number. Blocking.
pub fn set_setpoints(
    store: &store::Store,
    actor: &str,
    code: &str,
    org_code: &str,
    setpoints: Value,
    reason: &str,
) -> Result<(Setpoints, i64)> {
    let mut errors: Vec<Value> = Vec::new();
    if reason.trim().is_empty() {
        errors.push(json!({"field": "reason", "reason": "say why the set points change", "code": "reason_missing"}));
    }
    let new: Option<Setpoints> = match serde_json::from_value(setpoints) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(json!({"field": "setpoints", "reason": e.to_string(), "code": "unreadable"}));
            None
        }
    };
    if let Some(s) = &new {
        errors.extend(s.validate().into_iter().map(|e| serde_json::to_value(e).expect("set point error as JSON")));
    }
    let new = match new {
        Some(s) if errors.is_empty() => s,
        _ => {
            let mut e = Error::new(
                Kind::Invalid,
                "invalid_setpoints",
                format!("{} problem(s) with the set points", errors.len()),
            );
            e.detail = Some(json!(errors));
            return Err(e);
        }
    };
    let after = new.clone();
    let kind = store.kind();
    let seq = store.tx(|c| {
        let h = history(c, code)?;
        let before = match h.last() {
            Some(x) => x["after"]["setpoints"].clone(),
            None => serde_json::to_value(Setpoints::default()).unwrap_or_default(),
        };
        store::audit::append(
            c,
            kind,
            store::audit::Change {
                actor,
                action: SETPOINTS_ACTION,
                entity: entity(code),
                org_code,
                before: json!({"setpoints": before}),
                after: json!({"setpoints": after, "reason": reason}),
            },
        )
    })?;
    Ok((new, seq))
}

/// The site's meters missing from the meter registry (or registered to another facility or role),
/// as the `meters.csv` rows to add (for a gateway reporting every 15 minutes).
fn unregistered(t: &telemetry::Telemetry, facility: &str) -> Vec<String> {
    let rows = site::meters::registry_rows(facility, 15);
    site::meters::SITE_METERS
        .iter()
        .zip(rows.lines())
        .filter(|(m, _)| {
            let code = site::meters::meter_code(facility, m.suffix);
            t.registry.get(&code).is_none_or(|id| {
                let meter = t.registry.meter(id);
                meter.facility != facility || meter.role.code() != m.role
            })
        })
        .map(|(_, row)| row.to_string())
        .collect()
}

/// A gateway's state report (the `site::controller::Telemetry` JSON) for facility `code`, checked
/// whole (nothing is stored when any part is wrong: 422 `invalid_state`, every problem), turned into
/// readings of the site's meters at the report's time and ingested like any batch (`source` names
/// the sender). Returns the ingestion report. Blocking.
pub fn report_state(m: &Monitoring, code: &str, body: Value, source: &str) -> Result<telemetry::IngestReport> {
    let mut errors = Vec::new();
    let report = match serde_json::from_value::<site::controller::Telemetry>(body) {
        Ok(t) => {
            if t.site != code {
                errors.push(format!("site: the report is for {:?}, the route names {}", t.site, code));
            }
            for (field, v) in [
                ("soc", t.soc),
                ("pv_w", t.pv_w),
                ("load_w", t.load_w),
                ("fc_w", t.fc_w),
                ("unserved_w", t.unserved_w),
                ("fuel_l", t.fuel_l),
            ] {
                if !v.is_finite() || v < 0.0 {
                    errors.push(format!("{field}: {v} is not a non-negative number"));
                }
            }
            if !t.battery_w.is_finite() {
                errors.push(format!("battery_w: {} is not a number", t.battery_w));
            }
            if t.soc > 1.0 {
                errors.push(format!("soc: {} is above 1", t.soc));
            }
            let ts = t.unix.saturating_mul(1000);
            if ts < telemetry::hub::EARLIEST_MS || ts > now_ms() + 60_000 {
                errors.push(format!("unix: {} is before 2000 or in the future: the gateway's clock is wrong", t.unix));
            }
            Some(t)
        }
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let missing = m.monitor.with_telemetry(|t| unregistered(t, code));
    if !missing.is_empty() {
        errors.push(format!(
            "the site's meters are not in the meter registry: post these meters.csv rows to /api/v1/meters: {}",
            missing.join(" | ")
        ));
    }
    let report = match report {
        Some(r) if errors.is_empty() => r,
        _ => return Err(Error::problems("invalid_state", "the state report", errors)),
    };
    let ts_ms = report.unix * 1000;
    let raw: Vec<telemetry::RawReading> = report
        .readings()
        .into_iter()
        .map(|(suffix, value)| telemetry::RawReading { meter: site::meters::meter_code(code, suffix), ts_ms, value })
        .collect();
    crate::monitoring::ingest_readings(&m.monitor, &raw, now_ms(), source)
}

/// The most points of one meter's history in an answer: longer histories are thinned evenly.
const MAX_HISTORY_POINTS: usize = 1000;

/// The site's newest state, rebuilt from the newest reading of each of its meters (so it survives
/// restarts and reads the same whether it came through a state report, the readings endpoint or
/// MQTT), when it came, and `hours` of history per meter for the charts.
/// Blocking (in a cluster the state is with the instance that applies the site's partition).
pub fn state(m: &Monitoring, code: &str, hours: i64) -> crate::Result<Value> {
    match crate::stream::current() {
        Some(s) => {
            let q = crate::stream::Query::Site { facility: code.to_string(), hours };
            let part = s.gather(&q, &[crate::stream::partition_of(code)])?;
            Ok(part.into_iter().next().unwrap_or(Value::Null))
        }
        None => Ok(state_here(m, code, hours)),
    }
}

/// `state` from this instance's monitor.
pub(crate) fn state_here(m: &Monitoring, code: &str, hours: i64) -> Value {
    m.monitor.with_telemetry(|t| {
        let mut newest: Option<i64> = None;
        let mut last: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
        let mut ids = Vec::new();
        for sm in &site::meters::SITE_METERS {
            let id = t.registry.get(&site::meters::meter_code(code, sm.suffix));
            if let Some((ts, v)) = id.and_then(|id| t.series[id as usize].last()) {
                newest = Some(newest.map_or(ts, |n: i64| n.max(ts)));
                last.insert(sm.suffix, v);
            }
            ids.push((sm, id));
        }
        let Some(at) = newest else {
            return json!({"facility": code, "received_at": null, "state": null, "history": {},
                          "registered": ids.iter().all(|(_, id)| id.is_some())});
        };
        let state = site::controller::Telemetry::from_readings(code, at.div_euclid(1000), |s| last.get(s).copied());
        let from = at - hours * 3_600_000;
        let mut history = serde_json::Map::new();
        for (sm, id) in &ids {
            let Some(id) = id else { continue };
            let pts: Vec<(i64, f64)> = t.series[*id as usize].points().filter(|(ts, _)| *ts >= from).collect();
            let stride = pts.len().div_ceil(MAX_HISTORY_POINTS).max(1);
            let thinned: Vec<Value> = pts.iter().step_by(stride).map(|(ts, v)| json!([ts, v])).collect();
            history.insert(sm.suffix.to_string(), json!({"unit": sm.unit, "points": thinned}));
        }
        let (state, incomplete) = match state {
            Ok(s) => (json!(s), Vec::new()),
            Err(e) => (Value::Null, e),
        };
        json!({
            "facility": code,
            "received_at": telemetry::time::format_shanghai(at),
            "at_ms": at,
            "state": state,
            "incomplete": incomplete,
            "history": history,
            "registered": ids.iter().all(|(_, id)| id.is_some()),
        })
    })
}

/// The off-grid sites within org `org_code`'s subtree (facilities whose site meters are registered:
/// a `supply_mode` gauge) with a summary of each one's newest state.
/// Blocking (in a cluster gathered from the instances that apply the sites' partitions).
pub fn sites_within(m: &Monitoring, org_code: &str) -> crate::Result<Vec<Value>> {
    match crate::stream::current() {
        Some(s) => {
            let q = crate::stream::Query::Sites { org: org_code.to_string() };
            let mut all = Vec::new();
            for part in s.gather(&q, &(0..crate::stream::PARTITIONS).collect::<Vec<_>>())? {
                let list: Vec<Value> =
                    serde_json::from_value(part).map_err(|e| crate::Error::internal(e.to_string()))?;
                all.extend(list);
            }
            all.sort_by(|a, b| a["facility"].as_str().cmp(&b["facility"].as_str()));
            Ok(all)
        }
        None => Ok(sites_here(m, org_code, &|_| true)),
    }
}

/// `sites_within` from this instance's monitor, for the facilities `mine` selects (in facility
/// code order).
pub(crate) fn sites_here(m: &Monitoring, org_code: &str, mine: &dyn Fn(&str) -> bool) -> Vec<Value> {
    let root = m.monitor.orgs.get(org_code);
    m.monitor.with_telemetry(|t| {
        t.registry
            .meters
            .iter()
            .filter(|meter| meter.role == telemetry::Role::SupplyMode && mine(&meter.facility))
            .filter(|meter| {
                let fo = m.monitor.facility_org(&meter.facility);
                matches!((fo, root), (Some(fo), Some(root)) if m.monitor.orgs.is_within(fo, root))
            })
            .map(|meter| {
                let f = &meter.facility;
                let gauge = |role| t.latest(f, role);
                let power = |role| t.current_power(f, role).map(|(p, _)| p);
                let mode = gauge(telemetry::Role::SupplyMode);
                json!({
                    "facility": f,
                    "org_code": m.monitor.facility_org(f).map(|o| m.monitor.orgs.org(o).code.clone()),
                    "at_ms": mode.map(|(t, _)| t),
                    "received_at": mode.map(|(t, _)| telemetry::time::format_shanghai(t)),
                    "mode": mode.and_then(|(_, c)| site::meters::mode_of_code(c)).map(|m| m.name()),
                    "soc": gauge(telemetry::Role::Soc).map(|(_, v)| v),
                    "fuel_l": gauge(telemetry::Role::FuelLevel).map(|(_, v)| v),
                    "load_kw": power(telemetry::Role::SiteLoad),
                    "unserved_kw": power(telemetry::Role::Unserved),
                })
            })
            .collect()
    })
}
