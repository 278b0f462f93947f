//! The rules an action event goes through, pure: its fields (action, mode, quantity, times), the
//! methodology in force, plausibility (speed for a distance in a time, largest quantity), caps
//! (daily and monthly, grams and events, per action type and person), the dedup key, the risk score
//! with its reasons (review at [`REVIEW_AT`]), delayed crediting by source and the claim window.
//! The store supplies what it knows (the person's usage, whether the dedup key was seen).

use crate::methodology::{action_type, ActionRule, Dedup, Library, Methodology, Unit};
use crate::time;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How far in the future an event's time may lie (clock skew of the sending system), seconds.
pub const FUTURE_SKEW: i64 = 300;
/// The risk score from which a credit waits for a person's review.
pub const REVIEW_AT: i64 = 50;
/// Longest event id, account id or reference, bytes.
pub const MAX_ID: usize = 128;
/// The most events one batch may carry; the rest are answered `batch_too_large`.
pub const MAX_BATCH: usize = 1000;

/// How much a source (an app's machine credential) is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// Ride logs of the transit card, the operator's own billing, conference-system logs.
    Authoritative,
    /// A system with verified identities but data entered by people (e.g. the office app).
    Verified,
    /// What a person reports.
    SelfReported,
}

impl Trust {
    pub fn code(self) -> &'static str {
        match self {
            Trust::Authoritative => "authoritative",
            Trust::Verified => "verified",
            Trust::SelfReported => "self_reported",
        }
    }
    pub fn parse(s: &str) -> Option<Trust> {
        [Trust::Authoritative, Trust::Verified, Trust::SelfReported].into_iter().find(|t| t.code() == s)
    }
    /// The risk points of the source's trust.
    pub fn risk(self) -> i64 {
        match self {
            Trust::Authoritative => 0,
            Trust::Verified => 15,
            Trust::SelfReported => 40,
        }
    }
}

/// The source of a batch: its trust and its crediting delay (T+0, T+1, T+2 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Source {
    pub trust: Trust,
    pub delay_days: i64,
}

/// Most days of delay a source may have.
pub const MAX_DELAY_DAYS: i64 = 7;

/// One event as an app sends it (one element of a batch's `events`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The sending system's id of the event (a replay of the same id gets the first answer).
    pub id: String,
    /// The person: an employee's username, or a customer's pseudonymous id.
    pub account: String,
    pub action: String,
    #[serde(default)]
    pub mode: Option<String>,
    /// Trips: start and end (RFC 3339).
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    /// Other actions: when it happened (RFC 3339).
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub distance_m: Option<i64>,
    #[serde(default)]
    pub items: Option<i64>,
    #[serde(default)]
    pub wh: Option<i64>,
    /// Trip id, invoice number, household number, ...: what tells duplicates apart.
    #[serde(default)]
    pub reference: Option<String>,
    /// A region (province code such as `CN-GD`) whose own methodology is preferred.
    #[serde(default)]
    pub region: Option<String>,
}

/// Why an event is rejected or held: a stable code and an English message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: &'static str,
    pub message: String,
}

pub fn reason(code: &'static str, message: impl Into<String>) -> Reason {
    Reason { code, message: message.into() }
}

/// An event whose fields are sound, with the methodology rule that credits it.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    pub methodology: &'a Methodology,
    pub rule: &'a ActionRule,
    pub action: String,
    pub mode: String,
    /// When it happened (the trip's end), epoch seconds.
    pub occurred: i64,
    pub duration_s: Option<i64>,
    pub quantity_milli: i64,
    /// ER before caps, grams.
    pub reduction_g: i64,
    pub day: i64,
    pub month: String,
    pub dedup_key: Option<String>,
    /// Electric trips: the metered electricity (Wh) and the grid factor that made PE.
    pub energy: Option<(i64, crate::methodology::GridFactor)>,
}

fn text_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID && !s.chars().any(char::is_control)
}

/// Checks an event's fields, times and plausibility, and finds its methodology; the reason when
/// it is rejected.
pub fn check<'a>(e: &EventIn, now: i64, lib: &'a Library) -> Result<Checked<'a>, Reason> {
    if !text_ok(&e.id) {
        return Err(reason("bad_field", format!("id: 1 to {MAX_ID} bytes of text")));
    }
    if !text_ok(&e.account) {
        return Err(reason("bad_field", format!("account: 1 to {MAX_ID} bytes of text")));
    }
    let Some(kind) = action_type(&e.action) else {
        return Err(reason("unknown_action", format!("unknown action {:?}", e.action)));
    };
    let mode = e.mode.clone().unwrap_or_default();
    if kind.modes.is_empty() {
        if !mode.is_empty() {
            return Err(reason("unknown_mode", format!("{} has no mode", kind.code)));
        }
    } else if !kind.modes.contains(&mode.as_str()) {
        return Err(reason("unknown_mode", format!("mode {mode:?} is not one of {}", kind.modes.join(", "))));
    }
    let at = |field: &str, v: &Option<String>| -> Result<Option<i64>, Reason> {
        match v {
            None => Ok(None),
            Some(t) => time::parse(t)
                .map(Some)
                .ok_or_else(|| reason("bad_time", format!("{field}: {t:?} is not an RFC 3339 time"))),
        }
    };
    let (start, end, when) = (at("start", &e.start)?, at("end", &e.end)?, at("at", &e.at)?);
    let (occurred, duration_s) = if kind.trip {
        let (Some(s), Some(t)) = (start, end) else {
            return Err(reason("bad_time", "a trip needs start and end"));
        };
        if t < s {
            return Err(reason("bad_time", "the trip ends before it starts"));
        }
        (t, Some(t - s))
    } else {
        match (when, end) {
            (Some(t), _) | (None, Some(t)) => (t, None),
            _ => return Err(reason("bad_time", "give the time of the action in at")),
        }
    };
    if occurred > now + FUTURE_SKEW {
        return Err(reason("future_time", "the event's time is in the future"));
    }
    let quantity = match kind.unit {
        Unit::Km => e.distance_m.map(|m| ("distance_m", m, m)),
        Unit::Item => e.items.map(|n| ("items", n, n.saturating_mul(1000))),
        Unit::Kwh => e.wh.map(|w| ("wh", w, w)),
    };
    let others = [("distance_m", e.distance_m), ("items", e.items), ("wh", e.wh)];
    let Some((field, given, quantity_milli)) = quantity else {
        let want = match kind.unit {
            Unit::Km => "distance_m",
            Unit::Item => "items",
            Unit::Kwh => "wh",
        };
        return Err(reason("bad_quantity", format!("{} needs {want}", kind.code)));
    };
    // An electric trip carries its metered electricity besides its distance (PE = kWh × grid factor).
    let metered = kind.unit == Unit::Km && mode == "ev";
    if let Some((other, _)) = others.iter().find(|(n, v)| *n != field && v.is_some() && !(metered && *n == "wh")) {
        return Err(reason("bad_quantity", format!("{other} is not a quantity of {}", kind.code)));
    }
    if given <= 0 {
        return Err(reason("bad_quantity", format!("{field} must be positive, not {given}")));
    }
    if metered && e.wh.is_some_and(|w| w <= 0) {
        return Err(reason("bad_quantity", format!("wh must be positive, not {}", e.wh.unwrap_or(0))));
    }
    let day = time::cst_day(occurred);
    let region = e.region.clone().unwrap_or_else(|| "CN".into());
    let Some((m, rule)) = lib.select(kind.code, &mode, &region, day) else {
        if kind.code == "video_meeting" && mode == "flight" {
            return Err(reason(
                "no_aviation_factor",
                "a flight avoided by a video meeting is not credited: no sourced per-passenger-km aviation factor",
            ));
        }
        return Err(reason(
            "no_methodology",
            format!("no methodology in force on {} credits {} {}", time::day_text(day), kind.code, mode)
                .trim_end()
                .to_string(),
        ));
    };
    if occurred < now - m.claim_days * 86_400 {
        return Err(reason(
            "too_old",
            format!("the event is older than the methodology's claim window of {} days", m.claim_days),
        ));
    }
    if let Some(max) = rule.max_quantity_milli {
        if quantity_milli > max {
            return Err(reason(
                "implausible_quantity",
                format!(
                    "{field} = {given} is more than the plausible {} {} of one event",
                    crate::methodology::milli_text(max),
                    kind.unit.code()
                ),
            ));
        }
    }
    if let (Some(max), Some(d)) = (rule.max_speed_milli_kmh, duration_s) {
        // distance_m / d s in km/h = distance_m × 3.6 / d; compared in milli-km/h without division.
        if i128::from(quantity_milli) * 3600 > i128::from(max) * i128::from(d) {
            return Err(reason(
                "implausible_speed",
                format!(
                    "{} km in {} s is faster than the plausible {} km/h for {mode}",
                    crate::methodology::milli_text(quantity_milli),
                    d,
                    crate::methodology::milli_text(max)
                ),
            ));
        }
    }
    let month = time::cst_month(occurred);
    let dedup_key = match rule.dedup {
        Dedup::None => None,
        Dedup::Reference | Dedup::ReferenceMonth => {
            let Some(r) = e.reference.as_deref().filter(|r| text_ok(r)) else {
                return Err(reason(
                    "missing_reference",
                    format!("{} needs a reference (1 to {MAX_ID} bytes) that tells duplicates apart", kind.code),
                ));
            };
            let scope = if rule.dedup == Dedup::ReferenceMonth { month.as_str() } else { "" };
            Some(dedup_key(kind.code, r, scope))
        }
    };
    let mut energy = None;
    let reduction_g = match &rule.project_grid_series {
        None => rule.reduction_g(quantity_milli),
        Some(series) => {
            let Some(wh) = e.wh else {
                return Err(reason(
                    "missing_energy",
                    format!("{} {mode} needs wh: the trip's metered electricity (PE = kWh × grid factor)", kind.code),
                ));
            };
            // Less energy than the least plausible per km (distance_m is milli-km): wh × 10⁶ < min × distance_m.
            if let Some(min) = rule.min_wh_per_km_milli {
                if i128::from(wh) * 1_000_000 < i128::from(min) * i128::from(quantity_milli) {
                    return Err(reason(
                        "implausible_quantity",
                        format!(
                            "wh = {wh} for {} km is less than the plausible {} Wh per km",
                            crate::methodology::milli_text(quantity_milli),
                            crate::methodology::milli_text(min)
                        ),
                    ));
                }
            }
            let year = time::cst_month(occurred).get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
            let Some(grid) = lib.grid_factor(series, &region, year) else {
                return Err(reason(
                    "no_grid_factor",
                    format!("no grid emission factor of series {series} for {region} in {year} in the factor library"),
                ));
            };
            // ER (g) = ⌊(distance_m × BE mg/km − wh × EF mg/kWh) ⁄ 10⁶⌋, never negative.
            let be = i128::from(quantity_milli) * i128::from(rule.baseline_mg);
            let pe = i128::from(wh) * i128::from(grid.mg_per_kwh);
            let er = ((be - pe) / 1_000_000).clamp(0, i128::from(i64::MAX)) as i64;
            energy = Some((wh, grid));
            er
        }
    };
    if reduction_g <= 0 {
        return Err(reason("no_reduction", "the reduction rounds down to nothing"));
    }
    Ok(Checked {
        methodology: m,
        rule,
        action: kind.code.to_string(),
        mode,
        occurred,
        duration_s,
        quantity_milli,
        reduction_g,
        day,
        month,
        dedup_key,
        energy,
    })
}

/// The dedup key of an action's reference (within a month when `scope` names one): a SHA-256, so
/// invoice and household numbers are not stored.
pub fn dedup_key(action: &str, reference: &str, scope: &str) -> String {
    use sha2::Digest;
    // 128 bits of the hash: enough to tell references apart, half the index of the full hash.
    let d = sha2::Sha256::digest(format!("{action}\n{reference}\n{scope}").as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// What a person has been credited already for an action: on the event's day and in its month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub day_g: i64,
    pub day_events: i64,
    pub month_g: i64,
    pub month_events: i64,
}

/// A credit to record (status `claimable` or `review`).
#[derive(Debug, Clone, Serialize)]
pub struct Credit {
    pub grams: i64,
    pub points: i64,
    pub risk: i64,
    pub review: bool,
    pub available_at: i64,
    pub expires_at: i64,
    /// Methodology, factors, quantity, caps applied, risk reasons.
    pub explanation: Value,
}

/// Applies caps, the risk score, the delay and the claim window to a checked event.
pub fn credit(c: &Checked, usage: Usage, source: Source, now: i64) -> Result<Credit, Reason> {
    let r = c.rule;
    let mut caps = Vec::new();
    for (name, limit, used) in
        [("daily_count", r.daily_count, usage.day_events), ("monthly_count", r.monthly_count, usage.month_events)]
    {
        if let Some(l) = limit {
            if used >= l {
                return Err(reason("cap_reached", format!("{name} of {l} {} events reached", c.action)));
            }
        }
    }
    let mut grams = c.reduction_g;
    for (name, limit, used) in
        [("daily_cap_g", r.daily_cap_g, usage.day_g), ("monthly_cap_g", r.monthly_cap_g, usage.month_g)]
    {
        if let Some(l) = limit {
            let room = (l - used).max(0);
            if room == 0 {
                return Err(reason("cap_reached", format!("{name} of {l} g for {} reached", c.action)));
            }
            if grams > room {
                caps.push(json!({"cap": name, "limit": l, "used_before": used, "cut_g": grams - room}));
                grams = room;
            }
        }
    }
    // Risk: the source's trust, a speed near the limit, one event using a whole daily cap, many
    // events of the person that day, a quantity near the largest plausible, night-time trips.
    let mut risk = source.trust.risk();
    let mut why = vec![json!({"rule": "trust", "points": source.trust.risk(), "trust": source.trust.code()})];
    let mut add = |rule: &str, points: i64, why: &mut Vec<Value>| {
        risk += points;
        why.push(json!({"rule": rule, "points": points}));
    };
    if let (Some(max), Some(d)) = (r.max_speed_milli_kmh, c.duration_s) {
        if i128::from(c.quantity_milli) * 3600 * 10 > i128::from(max) * i128::from(d) * 8 {
            add("speed_near_limit", 20, &mut why);
        }
    }
    if r.daily_cap_g.is_some_and(|cap| c.reduction_g >= cap) {
        add("whole_daily_cap", 15, &mut why);
    }
    if usage.day_events >= 20 {
        add("many_events_today", 20, &mut why);
    }
    if r.max_quantity_milli.is_some_and(|m| c.quantity_milli * 2 >= m && m > 1000) {
        add("large_quantity", 15, &mut why);
    }
    let hour = (c.occurred + time::CST).rem_euclid(86_400) / 3600;
    if action_type(&c.action).is_some_and(|a| a.trip) && hour < 5 {
        add("night_trip", 10, &mut why);
    }
    let review = risk >= REVIEW_AT;
    let delay = source.delay_days.clamp(0, MAX_DELAY_DAYS);
    let available_at = if delay == 0 { now } else { time::cst_hour_of_day(c.day + delay, 7).max(now) };
    let expires_at = available_at + c.methodology.claim_days * 86_400;
    let points = grams * c.methodology.points_per_g;
    let explanation = json!({
        // The factors and their sources are the methodology version's (immutable): the platform
        // adds them when it shows a credit, so each stored credit stays small.
        "methodology": {"id": c.methodology.id, "version": c.methodology.version},
        "action": c.action,
        "mode": c.mode,
        "unit": r.unit,
        "quantity": crate::methodology::milli_text(c.quantity_milli),
        "baseline_g_per_unit": crate::methodology::milli_text(r.baseline_mg),
        "project_g_per_unit": crate::methodology::milli_text(r.project_mg),
        "reduction_g_before_caps": c.reduction_g,
        "caps_applied": caps,
        "grams": grams,
        "points_per_g": c.methodology.points_per_g,
        "points": points,
        "risk": risk,
        "risk_reasons": why,
        "delay_days": delay,
        "claim_days": c.methodology.claim_days,
    });
    let mut explanation = explanation;
    if let Some((wh, grid)) = &c.energy {
        // PE of an electric trip: its metered energy × the grid factor (id and set version kept).
        let pe_mg = i128::from(*wh) * i128::from(grid.mg_per_kwh) / 1000;
        explanation["project_g_per_unit"] = Value::Null;
        explanation["energy_kwh"] = json!(crate::methodology::milli_text(*wh));
        explanation["project_g"] = json!(crate::methodology::milli_text(pe_mg as i64));
        let be_mg = i128::from(c.quantity_milli) * i128::from(r.baseline_mg) / 1000;
        explanation["baseline_g"] = json!(crate::methodology::milli_text(be_mg as i64));
        explanation["grid_factor"] = json!(grid);
    }
    Ok(Credit { grams, points, risk, review, available_at, expires_at, explanation })
}

/// A credit's state.
pub mod status {
    /// Waiting for a reviewer (risk at or above [`super::REVIEW_AT`]).
    pub const REVIEW: &str = "review";
    /// Recorded; claimable from `available_at` until `expires_at`.
    pub const CLAIMABLE: &str = "claimable";
    /// Claimed (points issued, or used as an offset elsewhere: see the claim).
    pub const CLAIMED: &str = "claimed";
    /// Not claimed in time.
    pub const EXPIRED: &str = "expired";
    /// Refused by a reviewer, or its points reversed.
    pub const REJECTED: &str = "rejected";
}

/// What a reduction is claimed as: one claim per reduction (DB11/T 3043-2024: no double claiming
/// across mechanisms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    None,
    /// Redeemable personal points.
    Points,
    /// An offset elsewhere (the internal market's offsets, an external programme).
    Offset,
}

impl Claim {
    pub fn code(self) -> &'static str {
        match self {
            Claim::None => "none",
            Claim::Points => "points",
            Claim::Offset => "offset",
        }
    }
    pub fn parse(s: &str) -> Option<Claim> {
        [Claim::None, Claim::Points, Claim::Offset].into_iter().find(|c| c.code() == s)
    }
}

/// Whether a credit in `status` with `claim` may be claimed as `want` at `now`: a reduction is
/// claimed once, as points or as an offset, never both. Points need a claimable credit inside its
/// window; an offset also takes a credit whose points window has passed (the reduction happened).
pub fn may_claim(
    status: &str,
    claim: Claim,
    available_at: i64,
    expires_at: i64,
    want: Claim,
    now: i64,
) -> Result<(), Reason> {
    if claim != Claim::None {
        return Err(reason("already_claimed", format!("the reduction is claimed already as {}", claim.code())));
    }
    match want {
        Claim::None => Err(reason("bad_claim", "claim as points or offset")),
        Claim::Points => {
            if status != status::CLAIMABLE {
                return Err(reason("not_claimable", format!("the credit is {status}")));
            }
            if now < available_at {
                return Err(reason("not_yet_available", format!("available from {}", time::format(available_at))));
            }
            if now >= expires_at {
                return Err(reason("expired", "the claim window has passed"));
            }
            Ok(())
        }
        Claim::Offset => {
            if status == status::CLAIMABLE || status == status::EXPIRED {
                Ok(())
            } else {
                Err(reason("not_claimable", format!("the credit is {status}")))
            }
        }
    }
}
