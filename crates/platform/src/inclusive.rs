//! 碳普惠 (carbon inclusive) on the platform: apps' machine credentials, event batches through the
//! rules of the `inclusive` crate, methodology versions (shipped and users'), accounts, review,
//! claims, the points journal, the catalogue and redemption, personal data (export, erasure) and
//! the views (history explained, leaderboards, programme totals). Blocking functions: the server
//! calls them on a worker thread. Scope: an administrator acts within their org subtree; an
//! employee acts on their own account (found by their username).

use crate::error::{Error, Kind, Result};
use crate::{Actor, Platform};
use inclusive::rules::{self, EventIn, Trust};
use inclusive::{methodology, Library};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use store::inclusive::{Client, Incoming, CUSTOMER, EMPLOYEE};
use store::StoreError;

/// The methodologies in force (shipped and users'), loaded once and replaced when a version is added.
#[derive(Default)]
pub struct State {
    library: std::sync::RwLock<Option<Arc<Library>>>,
    /// Machine credentials checked recently: client id → (when, secret hash, client, org path).
    clients: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, String, Client, String)>>,
}

/// Codes the store puts in front of a conflict's message, as the platform's stable codes.
const CONFLICT_CODES: &[&str] = &[
    "insufficient_points",
    "request_reused",
    "out_of_stock",
    "item_inactive",
    "already_claimed",
    "not_claimable",
    "not_yet_available",
    "expired",
    "not_in_review",
    "not_reserved",
    "not_claimed",
    "account_exists",
    "account_erased",
];

/// A store error with its stable code: conflicts named by the store keep their code.
fn err(e: StoreError) -> Error {
    if let StoreError::Conflict(m) = &e {
        if let Some((code, msg)) = m.split_once(": ") {
            if let Some(c) = CONFLICT_CODES.iter().find(|c| **c == code) {
                return Error::new(Kind::Conflict, c, msg.to_string());
            }
        }
    }
    e.into()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut b = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The methodologies in force.
pub fn library(p: &Platform) -> Result<Arc<Library>> {
    if let Some(l) = p.inclusive.library.read().ok().and_then(|g| g.clone()) {
        return Ok(l);
    }
    let mut lib = Library::shipped();
    for (id, version, body, _, _) in p.store.inclusive_methodologies()? {
        match methodology::parse(&body, false) {
            Ok(m) => {
                let _ = lib.add(m);
            }
            Err(e) => tracing::error!(id, version, errors = ?e, "stored methodology no longer loads"),
        }
    }
    let lib = Arc::new(lib);
    if let Ok(mut g) = p.inclusive.library.write() {
        *g = Some(lib.clone());
    }
    Ok(lib)
}

/// Adds to a credit (as JSON) what its methodology version says: the title, the structure and
/// every factor with its source (versions never change, so the stored credit does not repeat them).
fn explain(lib: &Library, credit: &mut Value) {
    let (Some(id), Some(version)) = (credit["methodology"].as_str(), credit["methodology_version"].as_i64()) else {
        return;
    };
    let Some(m) = lib.get(id, version) else { return };
    let (action, mode) = (credit["action"].as_str().unwrap_or(""), credit["mode"].as_str().unwrap_or(""));
    let factors = m.actions.iter().find(|r| r.action == action && r.mode == mode).map(|r| json!(r.factors));
    if let Some(e) = credit.get_mut("explanation").and_then(|e| e.as_object_mut()) {
        e.insert("factors".into(), factors.unwrap_or(json!([])));
        e.insert("methodology_title".into(), json!(m.title));
        e.insert("structure".into(), json!(m.structure));
    }
}

/// Credits as JSON, each explained.
fn explained(p: &Platform, credits: &[store::inclusive::CreditRow]) -> Result<Value> {
    let lib = library(p)?;
    let mut v = json!(credits);
    for c in v.as_array_mut().into_iter().flatten() {
        explain(&lib, c);
    }
    Ok(v)
}

/// A person's export with every credit explained.
fn explained_export(p: &Platform, mut v: Value) -> Result<Value> {
    let lib = library(p)?;
    for c in v.get_mut("credits").and_then(|c| c.as_array_mut()).into_iter().flatten() {
        explain(&lib, c);
    }
    Ok(v)
}

fn org_within(p: &Platform, actor: &Actor, code: &str) -> Result<store::reference::Org> {
    let org = p.store.org(code)?.ok_or_else(|| Error::not_found(format!("no org {code:?}")))?;
    if !actor.within(&org.path) {
        return Err(Error::out_of_scope(&format!("org {code}")));
    }
    Ok(org)
}

// ---- machine credentials ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    pub org_code: String,
    /// `employee` or `customer`.
    pub audience: String,
    /// `authoritative`, `verified` or `self_reported`.
    pub trust: String,
    /// Days before credits become claimable (T+0 … T+7).
    #[serde(default)]
    pub delay_days: i64,
}

/// Creates an app's machine credential in the actor's subtree. The secret is shown once (only its
/// SHA-256 is stored: it is 256 random bits, so a fast hash is enough, like session tokens).
pub fn create_client(p: &Platform, actor: &Actor, req: NewClient) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    let trust = Trust::parse(&req.trust).ok_or_else(|| {
        Error::new(Kind::BadRequest, "bad_trust", "trust is authoritative, verified or self_reported")
    })?;
    if req.audience != EMPLOYEE && req.audience != CUSTOMER {
        return Err(Error::new(Kind::BadRequest, "bad_audience", "audience is employee or customer"));
    }
    if !(0..=rules::MAX_DELAY_DAYS).contains(&req.delay_days) {
        return Err(Error::new(
            Kind::BadRequest,
            "out_of_range",
            format!("delay_days = {} is out of range: expected 0 to {}", req.delay_days, rules::MAX_DELAY_DAYS),
        ));
    }
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::bad_request("name: 1 to 200 bytes"));
    }
    let client_id = format!("ci_{}", random_hex(12));
    let secret = random_hex(32);
    let c = p.store.inclusive_create_client(
        &actor.username,
        &client_id,
        &store::sha256_hex(secret.as_bytes()),
        &org.code,
        name,
        &req.audience,
        trust,
        req.delay_days,
    )?;
    Ok(json!({"client": c, "secret": secret, "note": "the secret is shown once: store it in the app's configuration"}))
}

pub fn clients(p: &Platform, actor: &Actor) -> Result<Value> {
    Ok(json!({"clients": p.store.inclusive_clients_within(&actor.org_path)?}))
}

pub fn revoke_client(p: &Platform, actor: &Actor, client_id: &str) -> Result<Value> {
    let (c, _) =
        p.store.inclusive_client(client_id)?.ok_or_else(|| Error::not_found(format!("no client {client_id:?}")))?;
    org_within(p, actor, &c.org_code).map_err(|_| Error::out_of_scope(&format!("client {client_id}")))?;
    p.store.inclusive_revoke_client(&actor.username, client_id)?;
    if let Ok(mut m) = p.inclusive.clients.lock() {
        m.remove(client_id);
    }
    Ok(json!({"client_id": client_id, "revoked": true}))
}

/// The client a request's credentials name, with its org path, or `bad_client_credentials`
/// (unknown id, wrong secret and revoked look alike). Checked against a cache of 30 s; the secret's
/// hash is compared in constant time.
pub fn authenticate_client(p: &Platform, client_id: &str, secret: &str) -> Result<(Client, String)> {
    let bad = || Error::new(Kind::BadRequest, "bad_client_credentials", "unknown client or wrong secret");
    let hash = store::sha256_hex(secret.as_bytes());
    if let Ok(m) = p.inclusive.clients.lock() {
        if let Some((at, h, c, path)) = m.get(client_id) {
            if at.elapsed().as_secs() < crate::CACHE_SECONDS {
                return if equal(h, &hash) { Ok((c.clone(), path.clone())) } else { Err(bad()) };
            }
        }
    }
    let Some((c, h)) = p.store.inclusive_client(client_id)? else { return Err(bad()) };
    if c.revoked || !equal(&h, &hash) {
        return Err(bad());
    }
    let path = p.store.org(&c.org_code)?.map(|o| o.path).unwrap_or_default();
    if let Ok(mut m) = p.inclusive.clients.lock() {
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(client_id.to_string(), (std::time::Instant::now(), h, c.clone(), path.clone()));
    }
    Ok((c, path))
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- events ---------------------------------------------------------------------------------------

/// A batch of events from an app: `{"events": [...]}`. Each event is read on its own (one that is
/// not an event object gets `bad_event`), the first [`rules::MAX_BATCH`] go through the rules, the
/// rest are answered `batch_too_large` without being examined. Answers a verdict per event, in order.
pub fn record_events(p: &Platform, client: &Client, org_path: &str, body: Value) -> Result<Value> {
    let Some(list) = body.get("events").and_then(|e| e.as_array()) else {
        return Err(Error::bad_request("the body is {\"events\": [ ... ]}"));
    };
    let lib = library(p)?;
    let mut incoming = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let id = v.get("id").and_then(|x| x.as_str()).unwrap_or("").to_string();
        if i >= rules::MAX_BATCH {
            incoming.push(Incoming::Refused {
                id,
                reason: rules::reason(
                    "batch_too_large",
                    format!("a batch carries at most {} events: send this one again in another", rules::MAX_BATCH),
                ),
                keep: false,
            });
            continue;
        }
        match EventIn::deserialize(v) {
            Ok(e) => incoming.push(Incoming::Event(e)),
            Err(e) => incoming.push(Incoming::Refused {
                id,
                reason: rules::reason("bad_event", format!("not an event: {e}")),
                keep: true,
            }),
        }
    }
    let (verdicts, counts) = p.store.inclusive_record_events(client, org_path, &lib, incoming, unix_now())?;
    Ok(json!({"counts": counts, "verdicts": verdicts}))
}

pub fn events(p: &Platform, actor: &Actor, status: Option<&str>, limit: i64) -> Result<Value> {
    if let Some(s) = status {
        if ![store::inclusive::ACCEPTED, store::inclusive::PENDING, store::inclusive::REJECTED].contains(&s) {
            return Err(Error::bad_request("status is accepted, pending or rejected"));
        }
    }
    Ok(json!({"events": p.store.inclusive_events(&actor.org_path, status, limit)?}))
}

// ---- methodologies ------------------------------------------------------------------------------

/// Every methodology version (shipped and users'), each with its actions, caps and sourced factors.
pub fn methodologies(p: &Platform) -> Result<Value> {
    let lib = library(p)?;
    let list: Vec<Value> = lib
        .methodologies
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "version": m.version, "title": m.title, "region": m.region,
                "effective_from": inclusive::time::day_text(m.effective_from),
                "effective_to": m.effective_to.map(inclusive::time::day_text),
                "structure": m.structure, "source": m.source, "shipped": m.shipped,
                "points_per_g": m.points_per_g, "claim_days": m.claim_days, "factors": m.factors,
                "actions": m.actions.iter().map(|a| json!({
                    "action": a.action, "mode": a.mode, "unit": a.unit,
                    "baseline_g": methodology::milli_text(a.baseline_mg),
                    // PE of metered trips is their electricity × the grid factor, not a figure per km.
                    "project_g": a.project_grid_series.is_none().then(|| methodology::milli_text(a.project_mg)),
                    "reduction_g": a.project_grid_series.is_none().then(|| methodology::milli_text(a.reduction_mg())),
                    "project_electricity": a.project_grid_series,
                    "daily_cap_g": a.daily_cap_g, "monthly_cap_g": a.monthly_cap_g,
                    "daily_count": a.daily_count, "monthly_count": a.monthly_count,
                    "max_speed_kmh": a.max_speed_milli_kmh.map(methodology::milli_text),
                    "max_quantity": a.max_quantity_milli.map(methodology::milli_text),
                    "dedup": a.dedup, "factors": a.factors,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"methodologies": list, "actions": methodology::ACTIONS}))
}

/// Checks a methodology file: every problem at once.
pub fn check_methodology(text: &str) -> Result<methodology::Methodology> {
    methodology::parse(text, false).map_err(|errors| Error::problems("invalid_methodology", "the methodology", errors))
}

/// Adds a user's methodology version (checked; an existing id and version is refused, shipped
/// ones included); credits made before keep the version they were made with. Audited.
pub fn add_methodology(p: &Platform, actor: &Actor, toml: &str) -> Result<Value> {
    let m = check_methodology(toml)?;
    let lib = library(p)?;
    if lib.get(&m.id, m.version).is_some() {
        return Err(Error::new(
            Kind::Conflict,
            "methodology_exists",
            format!("methodology {} version {} exists already: a change is a new version", m.id, m.version),
        ));
    }
    p.store.inclusive_add_methodology(&actor.username, &actor.org_code, &m.id, m.version, toml).map_err(err)?;
    if let Ok(mut g) = p.inclusive.library.write() {
        *g = None;
    }
    Ok(json!({"id": m.id, "version": m.version, "actions": m.actions.len()}))
}

// ---- accounts -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrol {
    pub username: String,
    pub org_code: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub opt_in: bool,
}

pub fn enrol(p: &Platform, actor: &Actor, req: Enrol) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    store::users::check_username(&req.username).map_err(|m| Error::new(Kind::BadRequest, "invalid_username", m))?;
    let name = req.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.len() > 100) {
        return Err(Error::bad_request("display_name: at most 100 bytes"));
    }
    let a = p.store.inclusive_enrol(&actor.username, &req.username, &org.code, name, req.opt_in).map_err(err)?;
    Ok(json!({"account": a}))
}

pub fn accounts(p: &Platform, actor: &Actor, limit: i64) -> Result<Value> {
    Ok(json!({"accounts": p.store.inclusive_accounts_within(&actor.org_path, limit)?}))
}

/// An account within the actor's subtree (403 `out_of_scope` for one outside it).
fn account_within(p: &Platform, actor: &Actor, id: i64) -> Result<store::inclusive::Account> {
    let a = p.store.inclusive_account(id)?.ok_or_else(|| Error::not_found(format!("no account {id}")))?;
    org_within(p, actor, &a.org_code).map_err(|_| Error::out_of_scope(&format!("account {id}")))?;
    Ok(a)
}

/// A credit within the actor's subtree (403 `out_of_scope` for one outside it).
fn credit_within(p: &Platform, actor: &Actor, id: i64) -> Result<()> {
    let c = p.store.inclusive_credit(id)?.ok_or_else(|| Error::not_found(format!("no credit {id}")))?;
    org_within(p, actor, &c.org_code).map_err(|_| Error::out_of_scope(&format!("credit {id}")))?;
    Ok(())
}

/// An order within the actor's subtree (403 `out_of_scope` for one outside it).
fn order_within(p: &Platform, actor: &Actor, id: i64) -> Result<()> {
    let o = p.store.inclusive_order(id)?.ok_or_else(|| Error::not_found(format!("no order {id}")))?;
    account_within(p, actor, o.account_id).map_err(|_| Error::out_of_scope(&format!("order {id}")))?;
    Ok(())
}

/// The actor's own account (an employee, by username).
fn own(p: &Platform, actor: &Actor) -> Result<store::inclusive::Account> {
    p.store.inclusive_account_of(EMPLOYEE, &actor.username)?.ok_or_else(|| {
        Error::new(Kind::NotFound, "no_account", "you have no carbon account: ask an administrator to enrol you")
    })
}

/// The actor's account, points, and what they can claim now.
pub fn me(p: &Platform, actor: &Actor) -> Result<Value> {
    let a = own(p, actor)?;
    let (available, reserved) = p.store.inclusive_balance(a.id)?;
    let now = unix_now();
    let credits = p.store.inclusive_credits_of(a.id, 1000)?;
    let claimable: Vec<&store::inclusive::CreditRow> = credits
        .iter()
        .filter(|c| {
            c.status == rules::status::CLAIMABLE
                && c.claim == "none"
                && inclusive::time::parse(&c.available_at).is_some_and(|t| t <= now)
                && inclusive::time::parse(&c.expires_at).is_some_and(|t| t > now)
        })
        .collect();
    let waiting = credits
        .iter()
        .filter(|c| {
            c.status == rules::status::CLAIMABLE && inclusive::time::parse(&c.available_at).is_some_and(|t| t > now)
        })
        .count();
    let grams: i64 = credits.iter().filter(|c| c.claim == "points").map(|c| c.grams).sum();
    Ok(json!({
        "account": a,
        "points": {"available": available, "reserved": reserved},
        "claimable": {"credits": claimable.len(), "points": claimable.iter().map(|c| c.points).sum::<i64>()},
        "maturing": waiting,
        "reduced_g": grams,
    }))
}

/// The actor's credits, each explained (methodology version, factors, caps applied, risk), and
/// their journal entries.
pub fn history(p: &Platform, actor: &Actor, limit: i64) -> Result<Value> {
    let a = own(p, actor)?;
    Ok(
        json!({"credits": explained(p, &p.store.inclusive_credits_of(a.id, limit)?)?, "journal": p.store.inclusive_entries_of(a.id, limit)?}),
    )
}

pub fn claim(p: &Platform, actor: &Actor) -> Result<Value> {
    let a = own(p, actor)?;
    let (ids, points) = p.store.inclusive_claim_points(&actor.username, a.id, unix_now()).map_err(err)?;
    let (available, reserved) = p.store.inclusive_balance(a.id)?;
    Ok(json!({"claimed": ids, "points": points, "balance": {"available": available, "reserved": reserved}}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptIn {
    pub opt_in: bool,
    #[serde(default)]
    pub display_name: Option<String>,
}

pub fn set_opt_in(p: &Platform, actor: &Actor, req: OptIn) -> Result<Value> {
    let a = own(p, actor)?;
    let name = req.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty() && req.opt_in);
    if name.is_some_and(|n| n.len() > 100) {
        return Err(Error::bad_request("display_name: at most 100 bytes"));
    }
    Ok(json!({"account": p.store.inclusive_set_opt_in(&actor.username, a.id, req.opt_in, name).map_err(err)?}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    pub item_id: i64,
    /// The client's id of this request: sent again, it answers the same order.
    pub request_id: String,
}

pub fn redeem(p: &Platform, actor: &Actor, req: Redeem) -> Result<Value> {
    let a = own(p, actor)?;
    if req.request_id.is_empty() || req.request_id.len() > 128 {
        return Err(Error::bad_request("request_id: 1 to 128 bytes"));
    }
    if !offered(p, &a)?.iter().any(|i| i.id == req.item_id) {
        return Err(Error::not_found(format!("no item {} offered to you", req.item_id)));
    }
    let (o, new) = p
        .store
        .inclusive_redeem(&actor.username, a.id, req.item_id, &format!("{}:{}", a.id, req.request_id))
        .map_err(err)?;
    let (available, reserved) = p.store.inclusive_balance(a.id)?;
    Ok(json!({"order": o, "new": new, "balance": {"available": available, "reserved": reserved}}))
}

pub fn my_orders(p: &Platform, actor: &Actor) -> Result<Value> {
    let a = own(p, actor)?;
    Ok(json!({"orders": p.store.inclusive_orders("/", Some(a.id), 200)?}))
}

/// The items offered to a person: active items of their org unit and of every org above it.
fn offered(p: &Platform, a: &store::inclusive::Account) -> Result<Vec<store::inclusive::Item>> {
    let org = p.store.org(&a.org_code)?.ok_or_else(|| Error::internal("account org missing"))?;
    let mut out = Vec::new();
    for i in p.store.inclusive_items_for(&org.path)? {
        let above = p.store.org(&i.org_code)?.is_some_and(|o| org.path.starts_with(&o.path));
        if i.active && above {
            out.push(i);
        }
    }
    Ok(out)
}

pub fn my_catalogue(p: &Platform, actor: &Actor) -> Result<Value> {
    let a = own(p, actor)?;
    Ok(json!({"items": offered(p, &a)?}))
}

pub fn export_own(p: &Platform, actor: &Actor) -> Result<Value> {
    let a = own(p, actor)?;
    explained_export(p, p.store.inclusive_export(a.id)?)
}

pub fn export(p: &Platform, actor: &Actor, id: i64) -> Result<Value> {
    account_within(p, actor, id)?;
    explained_export(p, p.store.inclusive_export(id)?)
}

pub fn erase(p: &Platform, actor: &Actor, id: i64) -> Result<Value> {
    account_within(p, actor, id)?;
    p.store.inclusive_erase(&actor.username, id).map_err(err)
}

// ---- review, claims elsewhere, reversal -----------------------------------------------------------

pub fn review_queue(p: &Platform, actor: &Actor, limit: i64) -> Result<Value> {
    Ok(json!({"credits": explained(p, &p.store.inclusive_review_queue(&actor.org_path, limit)?)?}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `approve` or `reject`.
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

pub fn decide(p: &Platform, actor: &Actor, id: i64, req: Decision) -> Result<Value> {
    let approve = match req.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(Error::bad_request("decision is approve or reject")),
    };
    credit_within(p, actor, id)?;
    Ok(
        json!({"credit": p.store.inclusive_decide(&actor.username, &actor.org_path, id, approve, &req.note).map_err(err)?}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offset {
    /// Where the reduction is used (`internal-market`, an external programme's name).
    pub programme: String,
}

pub fn offset(p: &Platform, actor: &Actor, id: i64, req: Offset) -> Result<Value> {
    if req.programme.trim().is_empty() || req.programme.len() > 100 {
        return Err(Error::bad_request("programme: 1 to 100 bytes"));
    }
    credit_within(p, actor, id)?;
    Ok(
        json!({"credit": p.store.inclusive_claim_offset(&actor.username, &actor.org_path, id, req.programme.trim(), unix_now()).map_err(err)?}),
    )
}

pub fn reverse(p: &Platform, actor: &Actor, id: i64, req: Decision) -> Result<Value> {
    credit_within(p, actor, id)?;
    Ok(json!({"entry": p.store.inclusive_reverse(&actor.username, &actor.org_path, id, &req.note).map_err(err)?}))
}

/// Marks credits not claimed within their window as expired.
/// Marks credits not claimed within their window as expired; with `points_issued_through`
/// (`YYYY-MM-DD`, China Standard Time, not after today) also expires the points issued to accounts
/// within the actor's subtree on or before that day that are still unspent, first in, first out
/// (the programme's optional expiry of points).
pub fn expire(p: &Platform, actor: &Actor, points_issued_through: Option<&str>) -> Result<Value> {
    let cutoff = match points_issued_through {
        None => None,
        Some(day) => {
            let bad = |m: String| {
                Error::new(Kind::Invalid, "invalid_field", m).with_detail(json!({"field": "points_issued_through"}))
            };
            let d = inclusive::time::parse_day(day)
                .ok_or_else(|| bad(format!("points_issued_through: a day YYYY-MM-DD, not {day:?}")))?;
            let now = unix_now();
            if d > inclusive::time::cst_day(now) {
                return Err(bad(format!("points_issued_through: {day} is after today")));
            }
            // Points issued before the next day's 00:00 China Standard Time, as the journal writes times.
            Some((day.to_string(), store::format_time(inclusive::time::cst_hour_of_day(d + 1, 0), 0)))
        }
    };
    let expired = p.store.inclusive_expire(unix_now())?;
    let Some((day, cutoff)) = cutoff else { return Ok(json!({"expired": expired})) };
    let (accounts, points) =
        p.store.inclusive_expire_points(&actor.username, &actor.org_path, &actor.org_code, &cutoff).map_err(err)?;
    Ok(json!({"expired": expired, "points": {"issued_through": day, "accounts": accounts, "points": points}}))
}

// ---- catalogue and orders -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub org_code: String,
    pub name: String,
    pub points: i64,
    pub stock: i64,
}

pub fn add_item(p: &Platform, actor: &Actor, req: NewItem) -> Result<Value> {
    let org = org_within(p, actor, &req.org_code)?;
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(Error::bad_request("name: 1 to 200 bytes"));
    }
    if !(1..=1_000_000_000).contains(&req.points) || !(0..=1_000_000_000).contains(&req.stock) {
        return Err(Error::new(Kind::BadRequest, "out_of_range", "points 1 to 10⁹, stock 0 to 10⁹"));
    }
    Ok(json!({"item": p.store.inclusive_add_item(&actor.username, &org.code, req.name.trim(), req.points, req.stock)?}))
}

pub fn catalogue(p: &Platform, actor: &Actor) -> Result<Value> {
    let items: Vec<_> = p
        .store
        .inclusive_items_for(&actor.org_path)?
        .into_iter()
        .filter(|i| {
            p.store
                .org(&i.org_code)
                .ok()
                .flatten()
                .is_some_and(|o| actor.within(&o.path) || actor.org_path.starts_with(&o.path))
        })
        .collect();
    Ok(json!({"items": items}))
}

pub fn orders(p: &Platform, actor: &Actor, limit: i64) -> Result<Value> {
    Ok(json!({"orders": p.store.inclusive_orders(&actor.org_path, None, limit)?}))
}

pub fn settle(p: &Platform, actor: &Actor, id: i64, confirm: bool) -> Result<Value> {
    order_within(p, actor, id)?;
    Ok(json!({"order": p.store.inclusive_settle(&actor.username, &actor.org_path, id, confirm).map_err(err)?}))
}

// ---- views ------------------------------------------------------------------------------------

/// The programme's totals within the actor's subtree by action type and month (for disclosure
/// and the indicators), and the journal's state.
pub fn totals(p: &Platform, actor: &Actor, year: Option<i32>) -> Result<Value> {
    let rows = p.store.inclusive_totals(&actor.org_path, year)?;
    let grams: i64 = rows.iter().filter_map(|r| r["grams"].as_i64()).sum();
    let check = p.store.inclusive_journal_check()?;
    Ok(
        json!({"totals": rows, "grams": grams, "journal": check, "review": p.store.inclusive_review_queue(&actor.org_path, 10_000)?.len()}),
    )
}

pub fn leaderboard(p: &Platform, actor: &Actor, month: Option<String>, by: Option<&str>, limit: i64) -> Result<Value> {
    let month = match month {
        Some(m) => {
            let ok = m.len() == 7 && inclusive::time::parse_day(&format!("{m}-01")).is_some();
            if !ok {
                return Err(Error::new(Kind::BadRequest, "bad_month", "month is YYYY-MM"));
            }
            m
        }
        None => inclusive::time::cst_month(unix_now()),
    };
    let by_department = match by {
        None | Some("person") => false,
        Some("department") => true,
        Some(_) => return Err(Error::bad_request("by is person or department")),
    };
    let rows = p.store.inclusive_leaderboard(&actor.org_path, &month, by_department, limit)?;
    Ok(json!({"month": month, "by": if by_department {"department"} else {"person"}, "rows": rows}))
}
