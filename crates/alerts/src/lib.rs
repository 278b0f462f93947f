//! Alerts (监): rules evaluated incrementally as values arrive, as a pure engine. Delivery (webhook,
//! live console) belongs to the server; the engine returns the events to deliver.
//!
//! - `threshold`: a metric of a subject above (or below) a limit continuously for a duration, e.g.
//!   a data centre's PUE above 1.5 for an hour. Opens when the breach has lasted `for_minutes`;
//!   resolves at the first value back within the limit.
//! - `silence`: a subject (a meter) with no data for `minutes`. Checked by `tick(now)`; resolves
//!   when data arrives again.
//! - `spike`: a value above `factor` × the mean of the subject's last `window` normal values (at
//!   least `min_history` of them). Spiking values do not enter the history, so a spike does not
//!   become the new normal. Resolves at the first normal value.
//!
//! One active alert per rule and subject. Lifecycle: open → acknowledged → resolved (open →
//! resolved directly when the condition clears first). Subjects and metrics are strings
//! (`facility:DC-GZ-01`, `org:CT-GD`, `meter:DC-GZ-01-TOT`; `pue`, `power_kw`); a rule's subject is
//! exact or ends with `*` to match a prefix. Values of one subject are taken in arrival order;
//! a value older than the newest one seen for that subject and metric is ignored by the rules.

use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

pub const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Above,
    Below,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    Threshold {
        id: String,
        subject: String,
        metric: String,
        #[serde(default = "above")]
        direction: Direction,
        limit: f64,
        for_minutes: f64,
    },
    Silence {
        id: String,
        subject: String,
        minutes: f64,
    },
    Spike {
        id: String,
        subject: String,
        metric: String,
        factor: f64,
        window: usize,
        min_history: usize,
    },
}

fn above() -> Direction {
    Direction::Above
}

impl Rule {
    pub fn id(&self) -> &str {
        match self {
            Rule::Threshold { id, .. } | Rule::Silence { id, .. } | Rule::Spike { id, .. } => id,
        }
    }
    fn subject(&self) -> &str {
        match self {
            Rule::Threshold { subject, .. } | Rule::Silence { subject, .. } | Rule::Spike { subject, .. } => subject,
        }
    }
    fn matches(&self, subject: &str) -> bool {
        let pattern = self.subject();
        match pattern.strip_suffix('*') {
            Some(prefix) => subject.starts_with(prefix),
            None => subject == pattern,
        }
    }
}

/// The default rules of the issue: PUE above 1.5 for an hour, a meter silent for 30 minutes, a
/// facility's power three times its recent mean; and for off-grid sites (光氢储) a battery below 20 %
/// for an hour (the fuel cell has not taken over) and any load not served.
pub const DEFAULT_RULES: &str = r#"
[[rule]]
kind = "threshold"
id = "pue_above_1_5_for_1h"
subject = "facility:*"
metric = "pue"
direction = "above"
limit = 1.5
for_minutes = 60

[[rule]]
kind = "silence"
id = "meter_silent_30min"
subject = "meter:*"
minutes = 30

[[rule]]
kind = "spike"
id = "power_spike_3x"
subject = "facility:*"
metric = "power_kw"
factor = 3.0
window = 96
min_history = 8

[[rule]]
kind = "threshold"
id = "site_soc_below_0_2_for_1h"
subject = "facility:*"
metric = "soc"
direction = "below"
limit = 0.2
for_minutes = 60

[[rule]]
kind = "threshold"
id = "site_load_unserved"
subject = "facility:*"
metric = "unserved_kw"
direction = "above"
limit = 0.0
for_minutes = 0
"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(rename = "rule")]
    rules: Vec<Rule>,
}

/// Parses a rule file (`[[rule]]` tables), checking ids are unique and parameters sensible.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, Vec<String>> {
    let file: RuleFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    for (i, r) in file.rules.iter().enumerate() {
        if file.rules[..i].iter().any(|o| o.id() == r.id()) {
            errors.push(format!("rule {:?}: id used twice", r.id()));
        }
        let ok = match r {
            Rule::Threshold { limit, for_minutes, .. } => limit.is_finite() && *for_minutes >= 0.0,
            Rule::Silence { minutes, .. } => *minutes > 0.0,
            Rule::Spike { factor, window, min_history, .. } => *factor > 1.0 && *window > 0 && *min_history <= *window,
        };
        if !ok {
            errors.push(format!(
                "rule {:?}: parameters out of range (for_minutes ≥ 0, minutes > 0, factor > 1, min_history ≤ window)",
                r.id()
            ));
        }
    }
    if errors.is_empty() {
        Ok(file.rules)
    } else {
        Err(errors)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub rule: String,
    pub subject: String,
    pub state: State,
    pub opened_ms: i64,
    pub acknowledged_ms: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_ms: Option<i64>,
    /// Who resolved it by hand; None when the data resolved it (the condition cleared).
    pub resolved_by: Option<String>,
    /// The value that opened it (PUE, kW, or minutes of silence).
    pub value: f64,
    /// What happened, in English.
    pub message: String,
    /// The same as data, for the console to word in the user's language (absent in alerts stored
    /// before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
}

/// What opened an alert, as data: `kind` is the rule's (`threshold`, `spike`, `silence`); a
/// threshold has its `metric`, `direction`, `limit` and the `minutes` it lasted, a spike its
/// `metric`, `factor` and the recent `mean`, a silence the `minutes` without data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Detail {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Acknowledged,
    Resolved,
}

/// A change to deliver (webhook, live stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub alert: Alert,
}

#[derive(Debug, Default)]
struct Track {
    breach_since: Option<i64>,
    last_ts: Option<i64>,
    history: VecDeque<f64>,
}

/// A subject interned by the engine (`Engine::subject`): the live path names meters and facilities
/// by these integers instead of building and hashing `meter:…` strings per value.
pub type SubjectId = u32;

#[derive(Debug)]
struct Subject {
    name: String,
    /// The rules whose subject pattern matches: an index into `Engine::rule_sets` (subjects of one
    /// kind share a set, so it stays in cache on the live path).
    rules: u32,
    /// Newest data time, for silence rules; `None` until watched or seen.
    last_seen: Option<i64>,
}

/// Ids by identity fit in 53 bits: exact as JSON numbers in a browser.
const ID_MASK: u64 = (1 << 53) - 1;

/// The id of the alert of `rule` on `subject` opened at `opened_ms`: FNV-1a (64-bit) of the three,
/// in 53 bits, never 0.
pub fn identity_id(subject: &str, rule: &str, opened_ms: i64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in subject.bytes().chain([0]).chain(rule.bytes()).chain([0]).chain(opened_ms.to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & ID_MASK).max(1)
}

#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Rule>,
    alerts: BTreeMap<u64, Alert>,
    active: HashMap<(usize, SubjectId), u64>,
    tracks: HashMap<(usize, SubjectId), Track>,
    subjects: Vec<Subject>,
    subject_ids: HashMap<String, SubjectId>,
    /// Distinct lists of matching rule indices, ascending (rules never change).
    rule_sets: Vec<Vec<usize>>,
    rule_set_ids: HashMap<Vec<usize>, u32>,
    /// Subjects with a `last_seen`, sorted by name (the order `tick` opens silence alerts in);
    /// rebuilt when a subject gets its first `last_seen`.
    by_name: Vec<SubjectId>,
    by_name_stale: bool,
    next_id: u64,
    /// Ids from what identifies an alert (subject, rule, opening time) instead of a counter: the
    /// same alert gets the same id on every instance that evaluates its subject's entries, in
    /// whatever order it sees other subjects' (cluster mode: partitions move between instances).
    ids_by_identity: bool,
}

impl Engine {
    pub fn new(rules: Vec<Rule>) -> Engine {
        Engine { rules, next_id: 1, ..Engine::default() }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Numbers alerts by what identifies them (see `ids_by_identity`); from now on.
    pub fn set_ids_by_identity(&mut self, on: bool) {
        self.ids_by_identity = on;
    }

    /// The id of `subject`, interning it (and the rules that match it) on first use.
    pub fn subject(&mut self, subject: &str) -> SubjectId {
        if let Some(&id) = self.subject_ids.get(subject) {
            return id;
        }
        let id = self.subjects.len() as SubjectId;
        let set: Vec<usize> = (0..self.rules.len()).filter(|&i| self.rules[i].matches(subject)).collect();
        let rules = match self.rule_set_ids.get(&set) {
            Some(&r) => r,
            None => {
                let r = self.rule_sets.len() as u32;
                self.rule_sets.push(set.clone());
                self.rule_set_ids.insert(set, r);
                r
            }
        };
        self.subjects.push(Subject { name: subject.to_string(), rules, last_seen: None });
        self.subject_ids.insert(subject.to_string(), id);
        id
    }

    /// The name of an interned subject.
    pub fn subject_name(&self, id: SubjectId) -> &str {
        &self.subjects[id as usize].name
    }

    fn open(
        &mut self,
        rule: usize,
        subject: SubjectId,
        at: i64,
        value: f64,
        message: (String, Detail),
    ) -> Option<Event> {
        let rule_id = self.rules.get(rule).map(|r| r.id().to_string());
        self.open_as(rule, rule_id.unwrap_or_default(), subject, at, value, message)
    }

    fn open_as(
        &mut self,
        rule: usize,
        rule_id: String,
        subject: SubjectId,
        at: i64,
        value: f64,
        (message, detail): (String, Detail),
    ) -> Option<Event> {
        let key = (rule, subject);
        if self.active.contains_key(&key) {
            return None;
        }
        let id = if self.ids_by_identity {
            let mut id = identity_id(&self.subjects[subject as usize].name, &rule_id, at);
            // A collision of 53-bit hashes: the next free id (the same on every instance, which
            // holds the same alerts of this subject's partition).
            while self.alerts.contains_key(&id) {
                id = (id + 1) & ID_MASK;
            }
            id
        } else {
            self.next_id += 1;
            self.next_id - 1
        };
        let alert = Alert {
            id,
            rule: rule_id,
            subject: self.subjects[subject as usize].name.clone(),
            state: State::Open,
            opened_ms: at,
            acknowledged_ms: None,
            acknowledged_by: None,
            resolved_ms: None,
            resolved_by: None,
            value,
            message,
            detail: Some(detail),
        };
        self.active.insert(key, id);
        self.alerts.insert(id, alert.clone());
        Some(Event { kind: EventKind::Opened, alert })
    }

    fn resolve(&mut self, rule: usize, subject: SubjectId, at: i64) -> Option<Event> {
        if self.active.is_empty() {
            return None;
        }
        let id = self.active.remove(&(rule, subject))?;
        let alert = self.alerts.get_mut(&id).expect("active alerts are stored");
        alert.state = State::Resolved;
        alert.resolved_ms = Some(at);
        Some(Event { kind: EventKind::Resolved, alert: alert.clone() })
    }

    /// A subject to watch for silence from `since_ms` even if it never sends anything (a registered meter).
    pub fn watch(&mut self, subject: &str, since_ms: i64) {
        let id = self.subject(subject);
        self.watch_id(id, since_ms);
    }

    /// `watch` by interned id.
    pub fn watch_id(&mut self, subject: SubjectId, since_ms: i64) {
        let s = &mut self.subjects[subject as usize];
        if s.last_seen.is_none() {
            s.last_seen = Some(since_ms);
            self.by_name_stale = true;
        }
    }

    /// Data arrived for `subject` at `ts_ms` (any metric): clears its silence alerts.
    pub fn seen(&mut self, subject: &str, ts_ms: i64) -> Vec<Event> {
        let id = self.subject(subject);
        let mut events = Vec::new();
        self.seen_id(id, ts_ms, &mut events);
        events
    }

    /// `seen` by interned id; events are appended to `events`.
    pub fn seen_id(&mut self, subject: SubjectId, ts_ms: i64, events: &mut Vec<Event>) {
        let s = &mut self.subjects[subject as usize];
        match &mut s.last_seen {
            Some(last) => *last = (*last).max(ts_ms),
            None => {
                s.last_seen = Some(ts_ms);
                self.by_name_stale = true;
            }
        }
        if self.active.is_empty() {
            return;
        }
        let set = self.subjects[subject as usize].rules as usize;
        for k in 0..self.rule_sets[set].len() {
            let i = self.rule_sets[set][k];
            if matches!(self.rules[i], Rule::Silence { .. }) {
                events.extend(self.resolve(i, subject, ts_ms));
            }
        }
    }

    /// A new value of `metric` for `subject`.
    pub fn observe(&mut self, subject: &str, metric: &str, ts_ms: i64, value: f64) -> Vec<Event> {
        let id = self.subject(subject);
        let mut events = Vec::new();
        self.observe_id(id, metric, ts_ms, value, &mut events);
        events
    }

    /// `observe` by interned id; events are appended to `events`.
    pub fn observe_id(&mut self, subject: SubjectId, metric: &str, ts_ms: i64, value: f64, events: &mut Vec<Event>) {
        self.seen_id(subject, ts_ms, events);
        // Rules are taken out for the loop so each can be read while alerts are opened (no clone per value).
        let rules = std::mem::take(&mut self.rules);
        let set = self.subjects[subject as usize].rules as usize;
        for k in 0..self.rule_sets[set].len() {
            let i = self.rule_sets[set][k];
            let rule = &rules[i];
            let key = (i, subject);
            match rule {
                Rule::Threshold { metric: m, direction, limit, for_minutes, .. } if m == metric => {
                    let track = self.tracks.entry(key).or_default();
                    if track.last_ts.is_some_and(|t| ts_ms <= t) {
                        continue;
                    }
                    track.last_ts = Some(ts_ms);
                    let breach = match direction {
                        Direction::Above => value > *limit,
                        Direction::Below => value < *limit,
                    };
                    if breach {
                        let since = *track.breach_since.get_or_insert(ts_ms);
                        let lasted = ts_ms - since;
                        if lasted as f64 >= for_minutes * MINUTE_MS as f64 && !self.active.contains_key(&key) {
                            let minutes = lasted as f64 / MINUTE_MS as f64;
                            let text = format!(
                                "{metric} of {} {} {limit} for {minutes:.0} minutes (now {value:.3})",
                                self.subjects[subject as usize].name,
                                if *direction == Direction::Above { "above" } else { "below" },
                            );
                            let detail = Detail {
                                kind: "threshold".into(),
                                metric: Some(metric.to_string()),
                                direction: Some(*direction),
                                limit: Some(*limit),
                                minutes: Some(minutes.round()),
                                ..Detail::default()
                            };
                            let msg = (text, detail);
                            events.extend(self.open_as(i, rule.id().to_string(), subject, ts_ms, value, msg));
                        }
                    } else {
                        track.breach_since = None;
                        events.extend(self.resolve(i, subject, ts_ms));
                    }
                }
                Rule::Spike { metric: m, factor, window, min_history, .. } if m == metric => {
                    let track = self.tracks.entry(key).or_default();
                    if track.last_ts.is_some_and(|t| ts_ms <= t) {
                        continue;
                    }
                    track.last_ts = Some(ts_ms);
                    let mean = (track.history.len() >= *min_history && !track.history.is_empty())
                        .then(|| track.history.iter().sum::<f64>() / track.history.len() as f64);
                    let spike = mean.is_some_and(|mean| value > factor * mean && mean >= 0.0);
                    if !spike {
                        track.history.push_back(value);
                        if track.history.len() > *window {
                            track.history.pop_front();
                        }
                    }
                    if spike {
                        if !self.active.contains_key(&key) {
                            let text = format!(
                                "{metric} of {} is {value:.3}, more than {factor} × its recent mean {:.3}",
                                self.subjects[subject as usize].name,
                                mean.unwrap_or(0.0)
                            );
                            let detail = Detail {
                                kind: "spike".into(),
                                metric: Some(metric.to_string()),
                                factor: Some(*factor),
                                mean,
                                ..Detail::default()
                            };
                            let msg = (text, detail);
                            events.extend(self.open_as(i, rule.id().to_string(), subject, ts_ms, value, msg));
                        }
                    } else {
                        events.extend(self.resolve(i, subject, ts_ms));
                    }
                }
                _ => {}
            }
        }
        self.rules = rules;
    }

    /// The clock moved to `now_ms`: opens silence alerts for subjects quiet for too long.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Event> {
        self.tick_where(now_ms, &|_| true)
    }

    /// `tick` for the subjects `applies` to only (cluster mode: the subjects of one partition).
    pub fn tick_where(&mut self, now_ms: i64, applies: &dyn Fn(&str) -> bool) -> Vec<Event> {
        if self.by_name_stale {
            let mut ids: Vec<SubjectId> = (0..self.subjects.len() as SubjectId)
                .filter(|&i| self.subjects[i as usize].last_seen.is_some())
                .collect();
            ids.sort_unstable_by(|&a, &b| self.subjects[a as usize].name.cmp(&self.subjects[b as usize].name));
            self.by_name = ids;
            self.by_name_stale = false;
        }
        let mut events = Vec::new();
        let by_name = std::mem::take(&mut self.by_name);
        for i in 0..self.rules.len() {
            let Rule::Silence { minutes, .. } = self.rules[i] else { continue };
            for &id in &by_name {
                let s = &self.subjects[id as usize];
                let Some(last) = s.last_seen else { continue };
                if !applies(&s.name) {
                    continue;
                }
                let quiet = now_ms - last;
                if quiet as f64 >= minutes * MINUTE_MS as f64
                    && self.rule_sets[s.rules as usize].binary_search(&i).is_ok()
                    && !self.active.contains_key(&(i, id))
                {
                    let minutes = quiet as f64 / MINUTE_MS as f64;
                    let msg = (
                        format!("no data from {} for {minutes:.0} minutes", s.name),
                        Detail { kind: "silence".into(), minutes: Some(minutes.round()), ..Detail::default() },
                    );
                    events.extend(self.open(i, id, now_ms, quiet as f64 / MINUTE_MS as f64, msg));
                }
            }
        }
        self.by_name = by_name;
        events
    }

    /// An operator takes an open alert in hand.
    pub fn acknowledge(&mut self, id: u64, by: &str, at_ms: i64) -> Result<Event, String> {
        let alert = self.alerts.get_mut(&id).ok_or_else(|| format!("no alert {id}"))?;
        match alert.state {
            State::Open => {
                alert.state = State::Acknowledged;
                alert.acknowledged_ms = Some(at_ms);
                alert.acknowledged_by = Some(by.to_string());
                Ok(Event { kind: EventKind::Acknowledged, alert: alert.clone() })
            }
            State::Acknowledged => Err(format!("alert {id} is already acknowledged")),
            State::Resolved => Err(format!("alert {id} is resolved")),
        }
    }

    /// Resolves an open or acknowledged alert by hand (the cause was fixed, or it was a false
    /// alarm). The rule's clock for that subject starts again, so a condition that still holds
    /// opens a new alert once it has held for the rule's duration: a hand resolution never hides a
    /// live problem for long, and never makes one flap either.
    pub fn resolve_by_hand(&mut self, id: u64, by: &str, at_ms: i64) -> Result<Event, String> {
        let alert = self.alerts.get_mut(&id).ok_or_else(|| format!("no alert {id}"))?;
        if alert.state == State::Resolved {
            return Err(format!("alert {id} is already resolved"));
        }
        alert.state = State::Resolved;
        alert.resolved_ms = Some(at_ms);
        alert.resolved_by = Some(by.to_string());
        let event = Event { kind: EventKind::Resolved, alert: alert.clone() };
        let keys: Vec<(usize, SubjectId)> = self.active.iter().filter(|(_, &v)| v == id).map(|(k, _)| *k).collect();
        for key in keys {
            self.active.remove(&key);
            if let Some(track) = self.tracks.get_mut(&key) {
                track.breach_since = None;
            }
        }
        Ok(event)
    }

    /// Takes back alerts kept from an earlier run (see `server::monitoring`: the alert state is
    /// stored in the database): their states, who acknowledged or resolved them, and their ids
    /// (new alerts are numbered after them). An alert not resolved is active again for its rule and
    /// subject, so the same condition does not open a second one and its clearing resolves it; one
    /// whose rule is gone stays listed as it was.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            if alert.state != State::Resolved {
                if let Some(rule) = self.rules.iter().position(|r| r.id() == alert.rule) {
                    let subject = self.subject(&alert.subject);
                    self.active.insert((rule, subject), alert.id);
                }
            }
            self.next_id = self.next_id.max(alert.id + 1);
            self.alerts.insert(alert.id, alert);
        }
    }

    pub fn alert(&self, id: u64) -> Option<&Alert> {
        self.alerts.get(&id)
    }

    /// Alerts, newest first, optionally only those in `state`.
    pub fn alerts(&self, state: Option<State>) -> Vec<&Alert> {
        let mut list: Vec<&Alert> = self.alerts.values().rev().filter(|a| state.is_none_or(|s| a.state == s)).collect();
        if self.ids_by_identity {
            // Ids say nothing of order here: newest opening first.
            list.sort_by(|a, b| b.opened_ms.cmp(&a.opened_ms).then(b.id.cmp(&a.id)));
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_alerts_keep_their_state_ids_and_activity() {
        let mut a = engine();
        a.observe("facility:DC1", "pue", 0, 2.5);
        let events = a.observe("facility:DC1", "pue", 60 * H, 2.5);
        assert_eq!(events.len(), 1, "{events:?}");
        let id = events[0].alert.id;
        a.acknowledge(id, "ops", 61 * H).unwrap();
        let kept: Vec<Alert> = serde_json::from_str(&serde_json::to_string(&a.alerts(None)).unwrap()).unwrap();
        let mut b = engine();
        b.restore(kept);
        assert_eq!(
            b.alert(id).map(|x| (x.state, x.acknowledged_by.clone())),
            Some((State::Acknowledged, Some("ops".into())))
        );
        // Still active: the breach goes on without a second alert, and its clearing resolves it.
        assert!(b.observe("facility:DC1", "pue", 62 * H, 2.5).is_empty());
        let cleared = b.observe("facility:DC1", "pue", 63 * H, 1.2);
        assert_eq!(cleared.iter().map(|e| (e.kind, e.alert.id)).collect::<Vec<_>>(), vec![(EventKind::Resolved, id)]);
        b.observe("facility:DC1", "pue", 64 * H, 2.5);
        let again = b.observe("facility:DC1", "pue", 124 * H, 2.5);
        assert!(again.iter().all(|e| e.alert.id > id), "new alerts numbered after the kept ones: {again:?}");
    }

    const H: i64 = 60 * MINUTE_MS;

    #[test]
    fn ids_by_identity_are_the_same_whatever_else_an_engine_saw() {
        // Two instances: one evaluates DC1 alone, the other DC2's alerts first; DC1's alert gets
        // the same id on both, and the id is the hash of what identifies it.
        let (mut a, mut b) = (engine(), engine());
        a.set_ids_by_identity(true);
        b.set_ids_by_identity(true);
        b.observe("facility:DC2", "pue", 0, 2.0);
        let other = b.observe("facility:DC2", "pue", H, 2.0);
        assert_eq!(other.len(), 1);
        let mut opened = Vec::new();
        for e in [&mut a, &mut b] {
            e.observe("facility:DC1", "pue", 2 * H, 2.0);
            opened.push(e.observe("facility:DC1", "pue", 3 * H, 2.0)[0].alert.clone());
        }
        assert_eq!(opened[0].id, opened[1].id);
        assert_eq!(opened[0].id, identity_id("facility:DC1", "pue_above_1_5_for_1h", 3 * H));
        assert_ne!(opened[0].id, other[0].alert.id);
        assert!(opened[0].id < 1 << 53);
        // Acknowledged by that id on either; newest opening first in the list.
        assert!(b.acknowledge(opened[0].id, "ops", 4 * H).is_ok());
        let order: Vec<&str> = b.alerts(None).iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(order, ["facility:DC1", "facility:DC2"]);
    }

    #[test]
    fn a_tick_where_opens_silence_alerts_of_its_subjects_only() {
        let mut e = engine();
        e.watch("meter:A-1", 0);
        e.watch("meter:B-1", 0);
        let opened = e.tick_where(10 * H, &|s| s.starts_with("meter:A"));
        assert_eq!(opened.iter().map(|x| x.alert.subject.as_str()).collect::<Vec<_>>(), ["meter:A-1"]);
        let rest = e.tick(10 * H);
        assert_eq!(rest.iter().map(|x| x.alert.subject.as_str()).collect::<Vec<_>>(), ["meter:B-1"]);
    }

    fn engine() -> Engine {
        Engine::new(parse_rules(DEFAULT_RULES).unwrap())
    }

    #[test]
    fn pue_above_limit_for_an_hour_opens_once_and_resolves() {
        let mut e = engine();
        let s = "facility:DC1";
        assert!(e.observe(s, "pue", 0, 1.6).is_empty());
        assert!(e.observe(s, "pue", 30 * MINUTE_MS, 1.7).is_empty());
        let ev = e.observe(s, "pue", H, 1.55);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].kind, ev[0].alert.rule.as_str(), ev[0].alert.opened_ms),
            (EventKind::Opened, "pue_above_1_5_for_1h", H)
        );
        // What opened it, as data beside the English message (the console words it).
        let d = ev[0].alert.detail.clone().unwrap();
        assert_eq!(
            (d.kind.as_str(), d.metric.as_deref(), d.direction, d.limit, d.minutes),
            ("threshold", Some("pue"), Some(Direction::Above), Some(1.5), Some(60.0))
        );
        // An alert stored before `detail` was kept still reads (as None).
        let mut old = serde_json::to_value(&ev[0].alert).unwrap();
        old.as_object_mut().unwrap().remove("detail");
        assert_eq!(serde_json::from_value::<Alert>(old).unwrap().detail, None);
        assert!(e.observe(s, "pue", H + 15 * MINUTE_MS, 1.8).is_empty(), "one alert per rule and subject");
        let id = ev[0].alert.id;
        assert_eq!(e.acknowledge(id, "ops@gd", H + 20 * MINUTE_MS).unwrap().kind, EventKind::Acknowledged);
        assert!(e.acknowledge(id, "ops@gd", H + 21 * MINUTE_MS).is_err());
        let ev = e.observe(s, "pue", H + 30 * MINUTE_MS, 1.4);
        assert_eq!(ev[0].kind, EventKind::Resolved);
        assert_eq!(e.alert(id).unwrap().state, State::Resolved);
        assert_eq!(e.alert(id).unwrap().acknowledged_by.as_deref(), Some("ops@gd"));
        assert!(e.acknowledge(id, "x", H + 31 * MINUTE_MS).is_err());
    }

    #[test]
    fn resolved_by_hand_restarts_the_rule_clock() {
        let mut e = engine();
        let s = "facility:DC1";
        e.observe(s, "pue", 0, 1.6);
        let id = e.observe(s, "pue", H, 1.6)[0].alert.id;
        let ev = e.resolve_by_hand(id, "ops@gd", H + MINUTE_MS).unwrap();
        assert_eq!((ev.kind, ev.alert.resolved_by.as_deref()), (EventKind::Resolved, Some("ops@gd")));
        assert!(e.resolve_by_hand(id, "ops@gd", H + 2 * MINUTE_MS).is_err(), "already resolved");
        assert!(e.acknowledge(id, "ops@gd", H + 2 * MINUTE_MS).is_err());
        // Still above the limit: no flapping right away, a new alert once it held for an hour again.
        assert!(e.observe(s, "pue", H + 15 * MINUTE_MS, 1.6).is_empty());
        assert!(e.observe(s, "pue", 2 * H, 1.6).is_empty());
        let again = e.observe(s, "pue", 2 * H + 15 * MINUTE_MS, 1.6);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].kind, EventKind::Opened);
        assert_ne!(again[0].alert.id, id);
        // Data resolution leaves resolved_by empty.
        let auto = e.observe(s, "pue", 2 * H + 30 * MINUTE_MS, 1.2);
        assert_eq!((auto[0].kind, auto[0].alert.resolved_by.clone()), (EventKind::Resolved, None));
        assert!(e.resolve_by_hand(999, "x", 0).is_err());
    }

    #[test]
    fn breach_interrupted_restarts_the_clock() {
        let mut e = engine();
        let s = "facility:DC1";
        e.observe(s, "pue", 0, 1.6);
        e.observe(s, "pue", 50 * MINUTE_MS, 1.4);
        e.observe(s, "pue", 55 * MINUTE_MS, 1.6);
        assert!(e.observe(s, "pue", 110 * MINUTE_MS, 1.6).is_empty());
        assert_eq!(e.observe(s, "pue", 115 * MINUTE_MS, 1.6).len(), 1);
        // Late (older) values are ignored by the rule.
        assert!(e.observe(s, "pue", 10 * MINUTE_MS, 1.0).is_empty());
    }

    #[test]
    fn silent_meter_opens_on_tick_and_resolves_on_data() {
        let mut e = engine();
        e.watch("meter:M1", 0);
        e.seen("meter:M2", 20 * MINUTE_MS);
        assert!(e.tick(29 * MINUTE_MS).is_empty());
        let ev = e.tick(30 * MINUTE_MS);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].alert.subject, "meter:M1");
        assert!(e.tick(35 * MINUTE_MS).is_empty());
        let ev = e.tick(50 * MINUTE_MS);
        assert_eq!(ev.iter().map(|x| x.alert.subject.as_str()).collect::<Vec<_>>(), vec!["meter:M2"]);
        let ev = e.seen("meter:M1", 51 * MINUTE_MS);
        assert_eq!((ev[0].kind, ev[0].alert.subject.as_str()), (EventKind::Resolved, "meter:M1"));
        assert_eq!(e.alerts(Some(State::Open)).len(), 1);
    }

    #[test]
    fn interned_subjects_are_not_watched_and_tick_goes_by_name() {
        let mut e = engine();
        // Interning alone (the live path interns every meter at start) does not watch a subject.
        let quiet = e.subject("meter:Z-never");
        let b = e.subject("meter:B");
        assert_eq!(e.subject("meter:B"), b, "interning is idempotent");
        assert_eq!(e.subject_name(quiet), "meter:Z-never");
        e.watch_id(b, 0);
        e.watch("meter:A", 0);
        let mut sink = Vec::new();
        e.seen_id(b, 5 * MINUTE_MS, &mut sink);
        assert!(sink.is_empty());
        let ev = e.tick(40 * MINUTE_MS);
        let subjects: Vec<&str> = ev.iter().map(|x| x.alert.subject.as_str()).collect();
        assert_eq!(subjects, vec!["meter:A", "meter:B"], "opened in name order, never the unwatched one");
        assert_eq!(ev[1].alert.value, 35.0, "silence counted from the newest data");
        // By id and by name reach the same alert.
        let ev = e.seen("meter:B", 41 * MINUTE_MS);
        assert_eq!((ev[0].kind, ev[0].alert.id), (EventKind::Resolved, 2));
    }

    #[test]
    fn spike_against_history() {
        let mut e = engine();
        let s = "facility:BS1";
        for i in 0..8 {
            assert!(e.observe(s, "power_kw", i * 15 * MINUTE_MS, 2.0 + (i % 2) as f64 * 0.2).is_empty());
        }
        let ev = e.observe(s, "power_kw", 8 * 15 * MINUTE_MS, 7.0);
        assert_eq!(ev.len(), 1);
        assert!(ev[0].alert.message.contains("3 × its recent mean 2.100"), "{}", ev[0].alert.message);
        // Still high: no second alert, and the spike did not raise the baseline.
        assert!(e.observe(s, "power_kw", 9 * 15 * MINUTE_MS, 7.0).is_empty());
        assert_eq!(e.observe(s, "power_kw", 10 * 15 * MINUTE_MS, 2.1)[0].kind, EventKind::Resolved);
    }

    #[test]
    fn bad_rule_files_are_refused() {
        let errs = parse_rules(
            "[[rule]]\nkind='silence'\nid='a'\nsubject='*'\nminutes=0\n[[rule]]\nkind='silence'\nid='a'\nsubject='*'\nminutes=5\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(parse_rules("[[rule]]\nkind='nope'\nid='a'\n").is_err());
    }
}
