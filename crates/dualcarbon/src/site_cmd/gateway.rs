//! `dualcarbon site gateway`: a site gateway (远程监控 + 远程调试). It runs a site's controller step by
//! step on the weather file's typical year and the site's load profile, reports each step's
//! `Telemetry` to the platform (`POST /api/v1/orgs/{org}/sites/{facility}/state`) and applies the set
//! points the platform answers with. A report that could not be delivered is queued and resent in
//! order, with backoff; a report the platform refuses (422) stops the gateway. With a state file the
//! controller's memory survives a restart and acknowledged steps are never sent again.
//! See docs/site-energy.md, "Site gateway".

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use site::controller::{ControllerState, Setpoints, Telemetry};
use site::sim::{load_series_hours, pv_bus_w, Runner};
use site::weather::{civil_from_days, days_from_civil, Weather};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct GatewayArgs {
    /// Site file (TOML): hardware, initial SoC, set points until the platform answers.
    site: PathBuf,
    /// Weather of a typical year (TMY3, EPW, plain CSV or shipped:ID); its interval is the step length.
    #[arg(long)]
    weather: PathBuf,
    /// The platform, http://HOST:PORT.
    #[arg(long)]
    platform: String,
    /// The org the site belongs to (the route's org).
    #[arg(long)]
    org: String,
    /// The site's facility code (its meters are FACILITY.pv, FACILITY.soc, ...).
    #[arg(long)]
    facility: String,
    /// Bearer token of a user who may file data for the org.
    #[arg(long, env = "DUALCARBON_TOKEN", hide_env_values = true)]
    token: String,
    /// Steps to report in this run (default: every whole step up to now; a first run without
    /// --start reports the last 24). With --follow only the backfill is counted.
    #[arg(long)]
    steps: Option<u64>,
    /// When the first step starts: RFC 3339 (no offset = Shanghai time) or `now`. Ignored when the
    /// state file holds a previous run.
    #[arg(long)]
    start: Option<String>,
    /// Keep going in real time (one report at the end of each step) until Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// Controller state, set points and last acknowledged step: read at start, written after each
    /// acknowledged report.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Give up after this many failed attempts in a row to deliver a report (default: never).
    #[arg(long)]
    max_retries: Option<u32>,
}

/// Reports backfilled by a first run without --start or --steps.
const DEFAULT_BACKFILL: u64 = 24;
/// First retry delay; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait for one answer of the platform.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The state file's format tag.
const STATE_FORMAT: &str = "dualcarbon-site-gateway/1";

/// Exit codes (documented in docs/site-energy.md).
const EXIT_INPUT: u8 = 1;
const EXIT_REFUSED: u8 = 3;
const EXIT_UNDELIVERED: u8 = 4;

/// What the state file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    pub format: String,
    pub facility: String,
    pub step_s: i64,
    /// End of the last acknowledged step, Unix seconds.
    pub last_unix: i64,
    pub setpoints: Setpoints,
    pub controller: ControllerState,
}

fn read_state(path: &Path, facility: &str, step_s: i64) -> Result<Option<SavedState>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let s: SavedState =
        serde_json::from_str(&text).with_context(|| format!("{}: not a gateway state file", path.display()))?;
    let mut problems = Vec::new();
    if s.format != STATE_FORMAT {
        problems.push(format!("format: {:?}, expected {STATE_FORMAT:?}", s.format));
    }
    if s.facility != facility {
        problems.push(format!("facility: the file is for {:?}, --facility is {facility:?}", s.facility));
    }
    if s.step_s != step_s {
        problems.push(format!("step_s: {} s in the file, the weather's interval is {step_s} s", s.step_s));
    }
    for e in s.setpoints.validate() {
        problems.push(format!("setpoints.{}: {}", e.field, e.reason));
    }
    let st = &s.controller;
    if !(st.battery_wh.is_finite() && st.battery_wh >= 0.0 && st.fuel_l.is_finite() && st.fuel_l >= 0.0) {
        problems.push("controller: battery_wh and fuel_l must be non-negative numbers".into());
    }
    if !problems.is_empty() {
        bail!("{}: {}", path.display(), problems.join("; "));
    }
    Ok(Some(s))
}

/// Writes the state file atomically: a temporary file beside it, synced, then renamed over it.
fn write_state(path: &Path, s: &SavedState) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string_pretty(s)?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// The weather record for the step ending at `t` (Unix s): the record ending at the same local
/// date and time in the weather's own year (29 February reads 28 February), the file wrapping
/// around when it is shorter than a year.
pub fn record_index(weather: &Weather, t: i64) -> usize {
    let n = weather.records.len() as i64;
    let dt = weather.interval_s as i64;
    let tz = (weather.tz_hours * 3600.0).round() as i64;
    let first_end = weather.records[0].unix_end as i64;
    let (year, _, _) = civil_from_days((first_end - dt + tz).div_euclid(86_400));
    let local = t + tz;
    let (_, m, d) = civil_from_days(local.div_euclid(86_400));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let d = if m == 2 && d == 29 && !leap { 28 } else { d };
    let mapped = days_from_civil(year, m, d) * 86_400 + local.rem_euclid(86_400) - tz;
    (mapped - first_end).div_euclid(dt).rem_euclid(n) as usize
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
pub fn rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Set by SIGINT or SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

#[cfg(unix)]
fn install_signals() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe). SIGPIPE is ignored again (the
    // report commands restore its default): a long-running client must not die of a closed socket.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn install_signals() {}

/// Percent-encodes a path segment (codes are usually plain, but a route must never be bent).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How a delivery attempt ended.
enum Delivery {
    Acknowledged(Value),
    /// Worth trying again (no connection, timeout, 408, 429, 5xx).
    Retry(String),
    /// The platform refused the report: a configuration error; every problem listed.
    Refused(Vec<String>),
}

fn error_lines(status: u16, body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let mut lines = vec![format!(
        "HTTP {status} {}: {}",
        e["code"].as_str().unwrap_or("?"),
        e["message"].as_str().map_or_else(|| body.trim().chars().take(500).collect(), str::to_string)
    )];
    match &e["detail"] {
        Value::Array(items) => lines.extend(items.iter().map(|i| match i {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        Value::Null => {}
        other => lines.push(other.to_string()),
    }
    lines
}

struct Platform {
    agent: ureq::Agent,
    url: String,
    auth: String,
}

impl Platform {
    fn post(&self, t: &Telemetry) -> Delivery {
        let body = match serde_json::to_vec(t) {
            Ok(b) => b,
            Err(e) => return Delivery::Refused(vec![format!("the report does not serialise: {e}")]),
        };
        let res = self
            .agent
            .post(&self.url)
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .send(&body[..]);
        let mut res = match res {
            Ok(r) => r,
            Err(e) => return Delivery::Retry(e.to_string()),
        };
        let status = res.status().as_u16();
        let text = match res.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => return Delivery::Retry(format!("reading the answer: {e}")),
        };
        match status {
            200..=299 => match serde_json::from_str(&text) {
                Ok(v) => Delivery::Acknowledged(v),
                Err(e) => Delivery::Retry(format!("HTTP {status} with an answer that is not JSON: {e}")),
            },
            408 | 429 | 500..=599 => Delivery::Retry(error_lines(status, &text).join("; ")),
            _ => Delivery::Refused(error_lines(status, &text)),
        }
    }
}

/// A report waiting for its acknowledgement, with the controller's memory after its step.
struct Pending {
    telemetry: Telemetry,
    setpoints: Setpoints,
    state: ControllerState,
}

/// The set points that differ, as `field before → after`.
fn changed_fields(before: &Setpoints, after: &Setpoints) -> Vec<String> {
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) = (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k} {} → {v}", b.get(k).map_or_else(|| "?".into(), |x| x.to_string())))
        .collect()
}

/// What the set points of an answer did to the controller.
#[derive(Debug, PartialEq)]
enum SetpointOutcome {
    /// The controller already runs on them (or they were refused before).
    Same,
    /// Applied; the line names each change.
    Applied(String),
    /// The controller refused them (every broken rule); it keeps its current ones.
    Refused(String),
    Unreadable(String),
}

/// Applies the platform's set points (`answer.setpoints`) when they differ from the controller's,
/// as of the step ending `at`. Set points refused once are not tried (or printed) again until the
/// platform's change.
fn take_setpoints(
    controller: &mut site::controller::Controller,
    answer: &Value,
    at: i64,
    refused: &mut Option<Setpoints>,
) -> SetpointOutcome {
    let sp = match serde_json::from_value::<Setpoints>(answer.clone()) {
        Ok(sp) => sp,
        Err(e) => {
            return SetpointOutcome::Unreadable(format!("the platform's answer carries no readable set points: {e}"))
        }
    };
    if sp == controller.setpoints || refused.as_ref() == Some(&sp) {
        return SetpointOutcome::Same;
    }
    match controller.apply_setpoints(sp.clone(), "platform", at, "remote set points") {
        Ok(change) => {
            *refused = None;
            SetpointOutcome::Applied(format!(
                "set points from the platform applied after the step ending {}: {}",
                rfc3339(at),
                changed_fields(&change.before, &change.after).join(", ")
            ))
        }
        Err(errors) => {
            *refused = Some(sp);
            SetpointOutcome::Refused(format!(
                "set points from the platform refused, keeping the current ones: {}",
                errors.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; ")
            ))
        }
    }
}

#[derive(Default)]
struct Counters {
    steps: u64,
    acknowledged: u64,
    appended: u64,
    duplicate_readings: u64,
    duplicate_reports: u64,
    setpoint_changes: u64,
}

pub fn run(a: GatewayArgs) -> Result<ExitCode> {
    if !a.platform.starts_with("http://") {
        eprintln!("--platform: {:?} is not an http:// URL (only plain HTTP is supported)", a.platform);
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    if a.token.trim().is_empty() {
        eprintln!("--token (or DUALCARBON_TOKEN) is empty");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let (site, weather) = match super::load_site(&a.site, &a.weather)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    if weather.records.is_empty() {
        eprintln!("{}: no weather records", a.weather.display());
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let profile = site.load.hourly_w().map_err(anyhow::Error::msg)?;
    let pv = pv_bus_w(&site.pv, &weather);
    let load_hours = load_series_hours(&weather);
    let dt = weather.interval_s as i64;
    let mut controller = site.controller().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let refill_below = site.refill_below_l();

    let saved = match &a.state_file {
        Some(p) => match read_state(p, &a.facility, dt) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e:#}");
                return Ok(ExitCode::from(EXIT_INPUT));
            }
        },
        None => None,
    };
    // Steps end on the weather's grid (its records' end times modulo the interval).
    let phase = (weather.records[0].unix_end as i64).rem_euclid(dt);
    let now = now_unix();
    let latest_end = now - (now - phase).rem_euclid(dt);
    let first_end = if let Some(s) = &saved {
        if (s.last_unix - phase).rem_euclid(dt) != 0 {
            eprintln!(
                "{}: last_unix {} is not on the weather's {dt}-s grid (another weather file?)",
                a.state_file.as_deref().unwrap_or(Path::new("")).display(),
                s.last_unix
            );
            return Ok(ExitCode::from(EXIT_INPUT));
        }
        if a.start.is_some() {
            println!("--start ignored: the state file says where to resume");
        }
        controller.state = s.controller.clone();
        controller.setpoints = s.setpoints.clone();
        println!(
            "resuming {} after the step ending {} (SoC {:.3}, fuel {:.1} L)",
            a.facility,
            rfc3339(s.last_unix),
            controller.soc(),
            controller.state.fuel_l
        );
        s.last_unix + dt
    } else {
        match a.start.as_deref() {
            Some("now") => latest_end + dt,
            Some(text) => {
                let ms = match telemetry::time::parse_timestamp(text) {
                    Ok(ms) => ms,
                    Err(e) => {
                        eprintln!("--start: {e}");
                        return Ok(ExitCode::from(EXIT_INPUT));
                    }
                };
                let t = ms.div_euclid(1000) + (ms.rem_euclid(1000) > 0) as i64;
                // The first step starts on the grid at or after --start.
                let start = t + (phase - t).rem_euclid(dt);
                start + dt
            }
            None => latest_end.saturating_sub((a.steps.unwrap_or(DEFAULT_BACKFILL) as i64 - 1).saturating_mul(dt)),
        }
    };
    // How many steps this run computes: None = until Ctrl-C.
    let limit: Option<u64> = if a.follow {
        None
    } else {
        Some(a.steps.unwrap_or_else(|| {
            if latest_end >= first_end {
                ((latest_end - first_end) / dt + 1) as u64
            } else {
                0
            }
        }))
    };

    install_signals();
    let platform = Platform {
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into(),
        url: format!(
            "{}/api/v1/orgs/{}/sites/{}/state",
            a.platform.trim_end_matches('/'),
            segment(&a.org),
            segment(&a.facility)
        ),
        auth: format!("Bearer {}", a.token.trim()),
    };
    println!(
        "gateway {} → {}: steps of {} s from the one ending {}{}",
        a.facility,
        a.platform,
        dt,
        rfc3339(first_end),
        match limit {
            Some(n) => format!(", {n} steps"),
            None => ", following in real time until Ctrl-C".into(),
        }
    );

    let mut runner = Runner::new(&controller, dt as f64, refill_below);
    let mut next_end = first_end;
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut failures: u32 = 0;
    let mut retry_at = Instant::now();
    let mut refused_setpoints: Option<Setpoints> = None;
    let mut c = Counters::default();
    let outcome: Option<u8> = loop {
        if STOP.load(Ordering::SeqCst) {
            println!("interrupted");
            break None;
        }
        let want_step = limit.is_none_or(|n| c.steps < n);
        if want_step && next_end <= now_unix() {
            let i = record_index(&weather, next_end);
            let (out, mode) = runner.step(&mut controller, pv[i], profile[load_hours[i] as usize]);
            let telemetry = controller.telemetry(&a.facility, next_end, &out, mode);
            queue.push_back(Pending {
                telemetry,
                setpoints: controller.setpoints.clone(),
                state: controller.state.clone(),
            });
            c.steps += 1;
            next_end += dt;
        }
        if let Some(p) = queue.front().filter(|_| Instant::now() >= retry_at) {
            match platform.post(&p.telemetry) {
                Delivery::Acknowledged(answer) => {
                    let t = &p.telemetry;
                    let ingest = &answer["ingest"];
                    let n = |k: &str| ingest[k].as_u64().unwrap_or(0);
                    if n("conflicts") > 0 || n("rejected") > 0 {
                        let mut lines = vec![format!(
                            "the platform stored the report ending {} only in part ({} conflicts, {} rejected): \
                             does another gateway report for {}, or was the state file lost?",
                            rfc3339(t.unix),
                            n("conflicts"),
                            n("rejected"),
                            a.facility
                        )];
                        if let Some(ps) = ingest["problems"].as_array() {
                            lines.extend(ps.iter().map(|p| p.to_string()));
                        }
                        for l in &lines {
                            eprintln!("{l}");
                        }
                        break Some(EXIT_REFUSED);
                    }
                    failures = 0;
                    c.acknowledged += 1;
                    c.appended += n("appended") + n("late");
                    c.duplicate_readings += n("duplicates");
                    let what = if n("duplicates") > 0 && n("appended") + n("late") == 0 {
                        c.duplicate_reports += 1;
                        "duplicate (already on the platform)".to_string()
                    } else {
                        format!("stored ({} readings)", n("appended") + n("late"))
                    };
                    println!(
                        "{}  {:<18} fuel cell {:<8} SoC {:.3}  fuel {:>6.1} L  load {:>6.0} W  PV {:>6.0} W  FC {:>6.0} W: {what}",
                        rfc3339(t.unix),
                        t.mode.name(),
                        t.fuel_cell.name(),
                        t.soc,
                        t.fuel_l,
                        t.load_w,
                        t.pv_w,
                        t.fc_w
                    );
                    if let Some(path) = &a.state_file {
                        let s = SavedState {
                            format: STATE_FORMAT.into(),
                            facility: a.facility.clone(),
                            step_s: dt,
                            last_unix: t.unix,
                            setpoints: p.setpoints.clone(),
                            controller: p.state.clone(),
                        };
                        write_state(path, &s)?;
                    }
                    queue.pop_front();
                    // The platform's set points rule; a change applies from the next step.
                    let at = next_end - dt;
                    // Until the platform changes them (an audit entry), its set points are the
                    // defaults: the site file's own stay.
                    let outcome = if answer["setpoints_audit_seq"].is_null() {
                        SetpointOutcome::Same
                    } else {
                        take_setpoints(&mut controller, &answer["setpoints"], at, &mut refused_setpoints)
                    };
                    match outcome {
                        SetpointOutcome::Same => {}
                        SetpointOutcome::Applied(line) => {
                            c.setpoint_changes += 1;
                            runner = Runner::new(&controller, dt as f64, refill_below);
                            println!("{line}");
                        }
                        SetpointOutcome::Refused(line) | SetpointOutcome::Unreadable(line) => println!("{line}"),
                    }
                    continue;
                }
                Delivery::Retry(why) => {
                    failures += 1;
                    if a.max_retries.is_some_and(|m| failures > m) {
                        eprintln!(
                            "platform unreachable: {why}; gave up after {} attempts ({} reports not sent)",
                            failures,
                            queue.len()
                        );
                        break Some(EXIT_UNDELIVERED);
                    }
                    let backoff = FIRST_BACKOFF.saturating_mul(1 << (failures - 1).min(10)).min(MAX_BACKOFF);
                    eprintln!(
                        "platform unreachable: {why}; retry {failures}{} in {:.1} s ({} reports queued)",
                        a.max_retries.map_or_else(String::new, |m| format!(" of {m}")),
                        backoff.as_secs_f64(),
                        queue.len()
                    );
                    retry_at = Instant::now() + backoff;
                }
                Delivery::Refused(lines) => {
                    eprintln!("the platform refused the report ending {}:", rfc3339(p.telemetry.unix));
                    for l in &lines {
                        eprintln!("  {l}");
                    }
                    if lines.iter().any(|l| l.contains("meters.csv")) {
                        eprintln!(
                            "register the site's meters: `dualcarbon site meters {}` prints the rows for meters.csv",
                            a.facility
                        );
                    }
                    break Some(EXIT_REFUSED);
                }
            }
        }
        let want_step = limit.is_none_or(|n| c.steps < n);
        if !want_step && queue.is_empty() {
            break None;
        }
        // Sleep until the next step is due or the next retry, whichever is first, in short naps so
        // Ctrl-C is seen at once.
        let now = now_unix();
        let step_wait = if want_step { Some(Duration::from_secs((next_end - now).max(0) as u64)) } else { None };
        let retry_wait = if queue.is_empty() { None } else { Some(retry_at.saturating_duration_since(Instant::now())) };
        let wait = match (step_wait, retry_wait) {
            (Some(s), Some(r)) => s.min(r),
            (Some(s), None) => s,
            (None, Some(r)) => r,
            (None, None) => Duration::ZERO,
        };
        if !wait.is_zero() {
            std::thread::sleep(wait.min(Duration::from_millis(200)));
        }
    };

    println!(
        "summary: {} steps, {} reports acknowledged ({} readings stored, {} duplicate readings in {} duplicate reports), \
         {} set-point changes applied; SoC {:.3}, fuel {:.1} L{}",
        c.steps,
        c.acknowledged,
        c.appended,
        c.duplicate_readings,
        c.duplicate_reports,
        c.setpoint_changes,
        controller.soc(),
        controller.state.fuel_l,
        if queue.is_empty() { String::new() } else { format!("; {} reports not acknowledged", queue.len()) }
    );
    if !queue.is_empty() {
        println!(
            "{}",
            if a.state_file.is_some() {
                "a restart with the same --state-file recomputes and sends them"
            } else {
                "without --state-file they are not kept"
            }
        );
    }
    Ok(match outcome {
        Some(code) => ExitCode::from(code),
        None if queue.is_empty() => ExitCode::SUCCESS,
        None => ExitCode::from(EXIT_UNDELIVERED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use site::weather::WeatherRecord;

    fn weather(first_end: f64, n: usize, tz_hours: f64) -> Weather {
        let r = WeatherRecord { unix_end: 0.0, ghi: 0.0, dni: 0.0, dhi: 0.0, temp_air: 20.0, wind_speed: 1.0 };
        Weather {
            name: "test".into(),
            latitude: 20.0,
            longitude: 110.0,
            elevation_m: 0.0,
            tz_hours,
            interval_s: 3600,
            records: (0..n).map(|i| WeatherRecord { unix_end: first_end + 3600.0 * i as f64, ..r }).collect(),
        }
    }

    fn unix(y: i32, m: u32, d: u32, h: i64) -> i64 {
        days_from_civil(y, m, d) * 86_400 + h * 3600
    }

    #[test]
    fn a_step_reads_the_record_of_the_same_local_hour_of_the_typical_year() {
        // A typical year placed in 2023, Beijing time: the first record ends at 01:00 local on 1 January.
        let w = weather((unix(2023, 1, 1, 1) - 8 * 3600) as f64, 8760, 8.0);
        // 15 June 2026, 12:00 local (04:00 UTC) reads the record ending 15 June 2023, 12:00 local.
        let i = record_index(&w, unix(2026, 6, 15, 4));
        assert_eq!(w.records[i].unix_end as i64, unix(2023, 6, 15, 4));
        // Midnight of New Year ends the year's last record; 29 February reads 28 February.
        assert_eq!(record_index(&w, unix(2026, 1, 1, 0) - 8 * 3600), 8759);
        let i = record_index(&w, unix(2024, 2, 29, 10));
        assert_eq!(w.records[i].unix_end as i64, unix(2023, 2, 28, 10));
        // Consecutive steps read consecutive records.
        let a = record_index(&w, unix(2026, 3, 3, 3));
        assert_eq!(record_index(&w, unix(2026, 3, 3, 4)), a + 1);
    }

    #[test]
    fn a_short_file_wraps_and_keeps_the_hour_of_day() {
        // Three days from 1 June 2023, local midnight in UTC+8.
        let w = weather((unix(2023, 6, 1, 1) - 8 * 3600) as f64, 72, 8.0);
        for h in 0..48 {
            let t = unix(2026, 11, 25, h) - 8 * 3600 + 3600;
            let i = record_index(&w, t);
            // Same local hour of day (record i ends at local hour (i + 1) mod 24).
            assert_eq!((i as i64 + 1) % 24, (h + 1) % 24, "step {h}");
        }
    }

    #[test]
    fn only_changed_set_points_are_named() {
        let a = Setpoints::default();
        let b = Setpoints { soc_alarm: 0.5, soc_alarm_clear: 0.6, ..a.clone() };
        assert_eq!(changed_fields(&a, &b), vec!["soc_alarm 0.3 → 0.5", "soc_alarm_clear 0.4 → 0.6"]);
        assert!(changed_fields(&a, &a).is_empty());
    }

    #[test]
    fn platform_setpoints_are_applied_once_and_invalid_ones_refused_with_every_reason() {
        let site = site::sim::SiteConfig::from_toml(include_str!("../../../site/data/island-site.toml")).unwrap();
        let mut c = site.controller().unwrap();
        let mut refused = None;
        let same = serde_json::to_value(&c.setpoints).unwrap();
        assert_eq!(take_setpoints(&mut c, &same, 3600, &mut refused), SetpointOutcome::Same);
        let raised = serde_json::json!({"soc_alarm": 0.5, "soc_alarm_clear": 0.6});
        let SetpointOutcome::Applied(line) = take_setpoints(&mut c, &raised, 3600, &mut refused) else { panic!() };
        assert_eq!(
            line,
            "set points from the platform applied after the step ending 1970-01-01T01:00:00Z: \
             soc_alarm 0.3 → 0.5, soc_alarm_clear 0.4 → 0.6"
        );
        assert_eq!(c.setpoints.soc_alarm, 0.5);
        assert_eq!(take_setpoints(&mut c, &raised, 7200, &mut refused), SetpointOutcome::Same);
        // Broken rules: all named, nothing changes, and the same refusal is not repeated.
        let bad = serde_json::json!({"soc_min": 0.6, "soc_alarm": 0.5, "soc_alarm_clear": 0.45, "fc_min_on_s": -1.0});
        let SetpointOutcome::Refused(line) = take_setpoints(&mut c, &bad, 7200, &mut refused) else { panic!() };
        for field in ["soc_alarm:", "soc_alarm_clear:", "fc_min_on_s:"] {
            assert!(line.contains(field), "{field} in {line}");
        }
        assert_eq!((c.setpoints.soc_min, c.setpoints.soc_alarm), (0.15, 0.5));
        assert_eq!(take_setpoints(&mut c, &bad, 10800, &mut refused), SetpointOutcome::Same);
        let SetpointOutcome::Unreadable(_) =
            take_setpoints(&mut c, &serde_json::json!({"soc_mni": 1}), 0, &mut refused)
        else {
            panic!()
        };
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(unix(2026, 11, 25, 13) + 61), "2026-11-25T13:01:01Z");
    }
}
