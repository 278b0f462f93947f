//! The internal carbon market (内部碳交易): periods and plan files, allocation from approved
//! snapshots, the registry, orders and bilateral transfers, surrender, borrowing, corrections, and
//! what the market shows (book, trades, accounts, allocations, compliance).
//!
//! The market is one single-writer state machine (`market::exchange::Exchange`) held in memory
//! behind a lock and rebuilt from the store's command log on first use. A command is executed in
//! memory, then stored with the journal entries it wrote and its audit entry before it is answered;
//! commands that arrive while a batch is being written go into the next transaction together
//! (group commit, `store::market`). If a batch cannot be stored, every command executed since the
//! last stored one fails and the memory is rebuilt from the store, so no answer ever reports a
//! command the store does not hold. Reads see commands being stored (at most one batch). Request ids are the caller's, namespaced by user
//! (`user:id`), so a retried request applies once and two users never collide.

use crate::{Actor, Error, Kind, Platform, Result};
use market::allocation::{self, Basis, OrgInputs, Sourced};
use market::book::{Kind as OrderKind, Side};
use market::compliance;
use market::exchange::{Command, Config, Exchange, ExchangeError, Outcome};
use market::ledger::{Account, Asset, Leg, Op, Reason};
use market::plan::{Date, EmissionsBasis, Output, Plan};
use market::Dec;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use store::market::{NewCommand, StoredAllocation};
use store::Store;

/// The market's state in memory (`None` until first used, or after a failed write), the commands
/// executed and waiting to be stored, and the signal of a finished write.
pub struct MarketState {
    exchange: Mutex<Option<Exchange>>,
    queue: Mutex<Queue>,
    /// Signalled when a batch write ends (stored or failed).
    written: std::sync::Condvar,
    /// The same for asynchronous waiters: (last stored command, epoch).
    durable_watch: tokio::sync::watch::Sender<(i64, u64)>,
    /// A fixed clock (unix seconds), or `i64::MIN` for the system's ([`set_time`]).
    fixed_time: std::sync::atomic::AtomicI64,
}

impl Default for MarketState {
    fn default() -> MarketState {
        MarketState {
            exchange: Default::default(),
            queue: Default::default(),
            written: Default::default(),
            durable_watch: tokio::sync::watch::channel((0, 0)).0,
            fixed_time: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }
}

/// Audit action of each kind of market command.
pub const PLAN_ACTION: &str = "market.plan";

/// The market's clock: the system's, unless a fixed time was set ([`set_time`]).
fn now_of(platform: &Platform) -> i64 {
    match platform.market.fixed_time.load(std::sync::atomic::Ordering::Relaxed) {
        i64::MIN => now_s(),
        t => t,
    }
}

/// Fixes the market's clock at `unix_s` (or back to the system's with `None`): for tests and
/// simulations that run a whole compliance period (trading in the month before a deadline, then
/// settling after it). Not reachable over HTTP.
pub fn set_time(platform: &Platform, unix_s: Option<i64>) {
    platform.market.fixed_time.store(unix_s.unwrap_or(i64::MIN), std::sync::atomic::Ordering::Relaxed);
}

/// Today in Beijing on the market's clock.
fn today_of(platform: &Platform) -> Date {
    date_of(now_of(platform))
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Today in Beijing (the calendar of deadlines) on the system's clock.
pub fn today() -> Date {
    date_of(now_s())
}

/// The Beijing date of a unix time.
fn date_of(t: i64) -> Date {
    let days = (t + 8 * 3600).div_euclid(86_400);
    let (y, m) = compliance::beijing_year_month(t);
    // Day of month: days since the first of the month.
    let first = days_from_civil(y, m, 1);
    Date { year: y, month: m, day: (days - first + 1) as u32 }
}

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The platform error of an exchange refusal: its stable code, the field it concerns, a status.
pub fn exchange_error(e: ExchangeError) -> Error {
    let code = e.code();
    let kind = match code {
        "insufficient_balance"
        | "request_id_reused"
        | "already_reversed"
        | "vintage_open"
        | "market_closed"
        | "position_limit"
        | "hold_too_small" => Kind::Conflict,
        "not_your_order" | "not_your_proposal" => Kind::Forbidden,
        "unknown_order" | "unknown_proposal" | "unknown_entry" | "unknown_hold" => Kind::NotFound,
        "internal_inconsistency" => Kind::Internal,
        _ => Kind::Invalid,
    };
    let field = match code {
        "price_not_on_tick" | "price_outside_band" | "price_not_positive" => "price_fen",
        "quantity_not_whole_lots" | "insufficient_balance" | "position_limit" | "amount_not_positive" => "quantity_kg",
        "unknown_vintage" | "vintage_open" => "vintage",
        "request_id_reused" => "request_id",
        "market_buy_without_budget" => "max_cost_fen",
        "same_party" => "buyer",
        "unknown_order" | "not_your_order" => "order",
        "unknown_proposal" | "not_your_proposal" => "proposal",
        "unknown_entry" | "already_reversed" | "not_reversible" => "entry",
        _ => "",
    };
    Error::new(kind, code, e.to_string()).with_detail(json!({"field": field}))
}

fn compliance_error(e: compliance::ComplianceError) -> Error {
    let kind = match e {
        compliance::ComplianceError::AfterDeadline { .. } => Kind::Conflict,
        compliance::ComplianceError::Overflow => Kind::Internal,
        _ => Kind::Invalid,
    };
    Error::new(kind, e.code(), e.to_string())
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(e.to_string())
}

/// Checks a client's request id: 1 to 100 characters of letters, digits and `._:-`.
pub fn request_id(actor: &Actor, id: &str) -> Result<String> {
    let ok = !id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if !ok {
        return Err(Error::new(Kind::Invalid, "invalid_request_id", "request_id: 1 to 100 letters, digits or . _ : -")
            .with_detail(json!({"field": "request_id"})));
    }
    Ok(format!("{}:{id}", actor.username))
}

/// What a replay of the stored command log gives, and the first place it differs from the store.
pub struct Replayed {
    pub exchange: Exchange,
    pub commands: usize,
    pub entries: usize,
    pub discrepancy: Option<String>,
}

/// Replays the stored command log and compares every journal entry it writes with the stored one.
pub fn replay(store: &Store) -> Result<Replayed> {
    let commands = store.market_commands()?;
    let entries = store.market_entries()?;
    let mut x = Exchange::new(Config::default()).map_err(internal)?;
    let mut next = 0usize;
    let mut discrepancy = None;
    for (i, c) in commands.iter().enumerate() {
        if c.seq != i as i64 + 1 {
            discrepancy = Some(format!("command {} follows command {i}: the log has a gap", c.seq));
            break;
        }
        let command: Command = match serde_json::from_str(&c.command) {
            Ok(cmd) => cmd,
            Err(e) => {
                discrepancy = Some(format!("command {} does not read: {e}", c.seq));
                break;
            }
        };
        let before = x.registry().journal().len();
        let out = match x.execute(&c.request_id, c.at, command) {
            Ok(out) => out,
            Err(e) => {
                discrepancy = Some(format!("command {} ({}) is refused on replay: {e}", c.seq, c.request_id));
                break;
            }
        };
        if serde_json::to_string(&out).ok().as_deref() != Some(c.outcome.as_str()) {
            discrepancy =
                Some(format!("command {} ({}) replays to another outcome than the stored one", c.seq, c.request_id));
            break;
        }
        for e in &x.registry().journal()[before..] {
            let body = serde_json::to_string(e).map_err(internal)?;
            match entries.get(next) {
                Some(s) if s.seq == e.seq as i64 && s.command_seq == c.seq && s.body == body => {}
                Some(s) => {
                    discrepancy = Some(format!(
                        "journal entry {} (command {}) differs from the replay's entry {} (command {})",
                        s.seq, s.command_seq, e.seq, c.seq
                    ));
                    break;
                }
                None => {
                    discrepancy =
                        Some(format!("the replay writes entry {} (command {}), which the store lacks", e.seq, c.seq));
                    break;
                }
            }
            next += 1;
        }
        if discrepancy.is_some() {
            break;
        }
    }
    if discrepancy.is_none() && next != entries.len() {
        discrepancy = Some(format!(
            "the store holds {} journal entries the command log does not write (from entry {})",
            entries.len() - next,
            entries[next].seq
        ));
    }
    if discrepancy.is_none() {
        let gaps = x.registry().conservation_gaps();
        let overdrawn = x.registry().overdrawn();
        if !gaps.is_empty() {
            discrepancy = Some(format!("allowances are not conserved: {gaps:?}"));
        } else if !overdrawn.is_empty() {
            discrepancy = Some(format!("accounts below zero: {overdrawn:?}"));
        }
    }
    Ok(Replayed { exchange: x, commands: commands.len(), entries: entries.len(), discrepancy })
}

/// Drops the market's state in memory: the next use rebuilds it from the store's command log (as a
/// restart does).
pub fn forget(platform: &Platform) {
    if let Ok(mut g) = platform.market.exchange.lock() {
        *g = None;
    }
}

fn with_exchange<T>(platform: &Platform, f: impl FnOnce(&mut Exchange) -> Result<T>) -> Result<T> {
    let mut guard = platform.market.exchange.lock().map_err(|_| Error::internal("market state lock poisoned"))?;
    f(loaded(platform, &mut guard)?)
}

/// The exchange in memory, rebuilt from the store's command log first when it is not loaded (at
/// first use, and after a batch the store refused); the stored command number is known from then.
fn loaded<'a>(platform: &Platform, slot: &'a mut Option<Exchange>) -> Result<&'a mut Exchange> {
    if slot.is_none() {
        let r = replay(&platform.store)?;
        if let Some(d) = r.discrepancy {
            return Err(Error::new(
                Kind::Unavailable,
                "market_journal_mismatch",
                format!("the market's journal does not replay: {d}"),
            ));
        }
        let mut q = platform.market.queue.lock().map_err(|_| Error::internal("market queue lock poisoned"))?;
        q.durable = r.commands as i64;
        platform.market.durable_watch.send_replace((q.durable, q.epoch));
        drop(q);
        *slot = Some(r.exchange);
    }
    Ok(slot.as_mut().expect("loaded above"))
}

/// What a command's audit entry says.
pub struct Audit<'a> {
    pub action: &'a str,
    pub entity: String,
    pub org_code: &'a str,
}

/// Executes a command and stores it (command, journal entries, allocation, audit entry) before
/// answering. Commands that arrive while a batch is being written are written together in the next
/// transaction (group commit): one writer at a time, in the order they were executed. If a batch
/// cannot be stored, every command executed after the last stored one is answered with the error
/// and the state in memory is rebuilt from the store. A repeated request answers its first outcome
/// once that is stored, and stores nothing.
pub fn run(
    platform: &Platform,
    actor: &Actor,
    rid: &str,
    command: Command,
    audit: Audit<'_>,
    allocation: Option<StoredAllocation>,
) -> Result<Outcome> {
    let sub = submit(platform, actor, rid, command, audit, allocation)?;
    if sub.lead {
        write_pending(platform);
    }
    flush_until(platform, sub.seq, sub.epoch)?;
    Ok(sub.out)
}

/// A command executed in memory and queued for the store: its outcome, its number and the epoch
/// it belongs to, and whether the caller must write the queue ([`write_pending`]): it found no
/// write under way.
struct Submitted {
    out: Outcome,
    seq: i64,
    epoch: u64,
    lead: bool,
}

fn submit(
    platform: &Platform,
    actor: &Actor,
    rid: &str,
    command: Command,
    audit: Audit<'_>,
    allocation: Option<StoredAllocation>,
) -> Result<Submitted> {
    let state = &platform.market;
    let mut guard = state.exchange.lock().map_err(|_| Error::internal("market state lock poisoned"))?;
    let x = loaded(platform, &mut guard)?;
    let before = x.registry().journal().len();
    let seq = x.log().len() as i64 + 1;
    let at = now_of(platform);
    let out = x.execute(rid, at, command.clone()).map_err(exchange_error)?;
    let mut queue = state.queue.lock().map_err(|_| Error::internal("market queue lock poisoned"))?;
    let seq = if out.repeated {
        // Its first answer may still be on its way to the store: wait for what is queued.
        queue.pending.last().map_or(queue.durable, |p| p.seq)
    } else {
        let entries: Vec<(i64, String)> = x.registry().journal()[before..]
            .iter()
            .map(|e| (e.seq as i64, serde_json::to_string(e).unwrap_or_default()))
            .collect();
        let after = json!({"request_id": rid, "command": command, "entries": entries.iter().map(|e| e.0).collect::<Vec<_>>(), "trades": out.trades});
        queue.pending.push(NewCommand {
            seq,
            request_id: rid.to_string(),
            at,
            actor: actor.username.clone(),
            command: serde_json::to_string(&command).map_err(internal)?,
            outcome: serde_json::to_string(&out).map_err(internal)?,
            entries,
            allocation,
            action: audit.action.to_string(),
            entity: audit.entity,
            org_code: audit.org_code.to_string(),
            after,
        });
        seq
    };
    let lead = !queue.writing && !queue.pending.is_empty();
    if lead {
        queue.writing = true;
    }
    Ok(Submitted { out, seq, epoch: queue.epoch, lead })
}

/// Most commands one transaction stores.
const BATCH: usize = 2000;

/// Stores what is queued, a transaction per batch, until nothing is (group commit: commands
/// queued while a batch is written go into the next one). Called by the one caller that set
/// `writing`; every waiter is woken after each batch. When a batch cannot be stored, memory must
/// never keep what the store does not: every command executed since the last stored one fails
/// (the epoch ends) and the state is rebuilt from the store on next use.
fn write_pending(platform: &Platform) {
    let state = &platform.market;
    loop {
        let Ok(mut q) = state.queue.lock() else { return };
        if q.pending.is_empty() {
            q.writing = false;
            state.written.notify_all();
            return;
        }
        let n = q.pending.len().min(BATCH);
        let batch: Vec<NewCommand> = q.pending.drain(..n).collect();
        drop(q);
        let last = batch.last().map_or(0, |c| c.seq);
        match platform.store.append_market_commands(&batch) {
            Ok(()) => {
                let Ok(mut q) = state.queue.lock() else { return };
                q.durable = last;
                state.durable_watch.send_replace((q.durable, q.epoch));
                state.written.notify_all();
            }
            Err(e) => {
                let e: Error = e.into();
                tracing::error!(code = e.code, error = %e.message, "storing market commands failed; the market is rebuilt from the store");
                let Ok(mut guard) = state.exchange.lock() else { return };
                let Ok(mut q) = state.queue.lock() else { return };
                *guard = None;
                q.pending.clear();
                q.epoch += 1;
                q.failure = Some((e.kind, e.code, e.message.clone()));
                q.writing = false;
                state.durable_watch.send_replace((q.durable, q.epoch));
                state.written.notify_all();
                return;
            }
        }
    }
}

/// What a waiter of `epoch` is told once that epoch ended.
fn epoch_failure(q: &Queue) -> Error {
    let (kind, code, message) =
        q.failure.clone().unwrap_or((Kind::Internal, "internal", "the market's store failed".into()));
    Error::new(kind, code, message)
}

/// Returns once command `seq` of `epoch` is stored (writing the queue itself when no one else
/// is); an error when its batch could not be stored (the epoch ended).
fn flush_until(platform: &Platform, seq: i64, epoch: u64) -> Result<()> {
    let state = &platform.market;
    let poisoned = || Error::internal("market queue lock poisoned");
    let mut q = state.queue.lock().map_err(|_| poisoned())?;
    loop {
        if q.epoch != epoch {
            return Err(epoch_failure(&q));
        }
        if q.durable >= seq {
            return Ok(());
        }
        if q.writing {
            q = state.written.wait(q).map_err(|_| poisoned())?;
            continue;
        }
        if q.pending.is_empty() {
            return Err(Error::internal(format!("market command {seq} is neither stored nor waiting to be")));
        }
        q.writing = true;
        drop(q);
        write_pending(platform);
        q = state.queue.lock().map_err(|_| poisoned())?;
    }
}

/// Places an order without holding a thread while it is stored: the command runs on the exchange
/// in memory, a blocking task writes the queue when no write is under way, and the caller awaits
/// its command's batch (the order route's path; orders are the market's traffic). Until the
/// market is loaded from the store it takes the blocking path ([`place_order`]).
#[allow(clippy::too_many_arguments)]
pub async fn place_order_async(
    platform: std::sync::Arc<Platform>,
    actor: Actor,
    rid: String,
    vintage: i32,
    side: Side,
    kind: OrderKind,
    quantity_kg: i64,
) -> Result<Value> {
    let loaded = platform.market.exchange.lock().map_err(|_| Error::internal("market state lock poisoned"))?.is_some();
    if !loaded {
        let p = platform.clone();
        return tokio::task::spawn_blocking(move || place_order(&p, &actor, &rid, vintage, side, kind, quantity_kg))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
    }
    let request = request_id(&actor, &rid)?;
    let org = actor.org_code.clone();
    let command = Command::Place { org: org.clone(), vintage, side, kind, quantity: quantity_kg };
    let audit = Audit { action: "market.order", entity: format!("market/order/{request}"), org_code: &org };
    let sub = submit(&platform, &actor, &request, command, audit, None)?;
    if sub.lead {
        let p = platform.clone();
        tokio::task::spawn_blocking(move || write_pending(&p));
    }
    let mut rx = platform.market.durable_watch.subscribe();
    let _ = rx.wait_for(|&(durable, epoch)| durable >= sub.seq || epoch != sub.epoch).await;
    let q = platform.market.queue.lock().map_err(|_| Error::internal("market queue lock poisoned"))?;
    if q.epoch != sub.epoch {
        return Err(epoch_failure(&q));
    }
    drop(q);
    Ok(outcome_json(&platform, &sub.out))
}

/// Commands executed in memory and not yet stored, in order.
#[derive(Default)]
pub(crate) struct Queue {
    pending: Vec<NewCommand>,
    /// The last stored command's number (as far as this process knows).
    durable: i64,
    /// Bumped when a batch could not be stored: waiters of an older epoch fail.
    epoch: u64,
    failure: Option<(Kind, &'static str, String)>,
    /// A leader is writing a batch (the others wait on `MarketState::written`).
    writing: bool,
}

fn root_org(store: &Store) -> Result<String> {
    store
        .orgs()?
        .into_iter()
        .filter(|o| o.parent_code.is_none())
        .map(|o| o.code)
        .min()
        .ok_or_else(|| Error::new(Kind::Conflict, "no_orgs", "the platform has no org tree yet"))
}

/// Checks a plan file (every problem, with the field it concerns) without storing it.
pub fn check_plan(store: &Store, year: i64, body: &str) -> Result<Plan> {
    let plan = Plan::parse(body).map_err(|problems| {
        Error::invalid("plan_invalid", format!("{} problem(s) in the plan file", problems.len()), json!(problems))
    })?;
    let mut problems = Vec::new();
    if plan.period.year as i64 != year {
        problems.push(json!({"field": "period.year", "code": "out_of_range", "message": format!("the plan is for {}, not {year}", plan.period.year)}));
    }
    let codes: HashSet<String> = store.orgs()?.into_iter().map(|o| o.code).collect();
    for (i, a) in plan.allocation.iter().enumerate() {
        if !codes.contains(&a.org) {
            problems.push(json!({"field": format!("allocation[{i}].org"), "code": "unknown_org", "message": format!("no org {}", a.org)}));
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid(
            "plan_invalid",
            format!("{} problem(s) in the plan file", problems.len()),
            json!(problems),
        ));
    }
    Ok(plan)
}

/// Stores a new version of period `year`'s plan file (group administrators).
pub fn add_plan(platform: &Platform, actor: &Actor, year: i64, body: &str) -> Result<Value> {
    let plan = check_plan(&platform.store, year, body)?;
    let stored = platform.store.add_market_plan(&actor.username, &actor.org_code, year, body)?;
    Ok(json!({"year": year, "version": stored.version, "sha256": stored.sha256, "allocations": plan.allocation.len()}))
}

fn stored_plan(store: &Store, year: i64) -> Result<(i64, Plan)> {
    let row = store.market_plan(year, None)?.ok_or_else(|| {
        Error::new(Kind::NotFound, "no_plan", format!("period {year} has no plan file (POST /api/v1/market/plans)"))
    })?;
    let plan = Plan::parse(&row.body)
        .map_err(|p| Error::internal(format!("stored plan {year} v{} does not read: {p:?}", row.version)))?;
    Ok((row.version, plan))
}

/// Verified emissions (kgCO2e, on the plan's basis) of an org's subtree in `year`, from the newest
/// approved snapshot of that year covering it (or the one given), with the snapshot as its source.
fn verified_emissions(
    platform: &Platform,
    org_code: &str,
    year: i32,
    basis: EmissionsBasis,
    chosen: &[i64],
) -> Result<Option<Sourced<i64>>> {
    let store = &platform.store;
    let approved: HashSet<i64> = store.snapshot_approvals()?.into_iter().map(|a| a.snapshot_id).collect();
    let paths: HashMap<String, String> = store.orgs()?.into_iter().map(|o| (o.code, o.path)).collect();
    let Some(org_path) = paths.get(org_code) else { return Ok(None) };
    let candidates: Vec<store::snapshots::Snapshot> = store
        .snapshot_list()?
        .into_iter()
        .filter(|s| s.year == year as i64 && approved.contains(&s.id))
        .filter(|s| chosen.is_empty() || chosen.contains(&s.id))
        .filter(|s| paths.get(&s.org_code).is_some_and(|p| org_path.starts_with(p.as_str())))
        .collect();
    let Some(best) = candidates.into_iter().max_by_key(|s| s.id) else { return Ok(None) };
    let cells = match store.snapshot_cells(best.id)? {
        Some(c) => c,
        None => {
            crate::snapshot::keep_cells_of(store, best.id, platform.threads)?;
            store.snapshot_cells(best.id)?.unwrap_or_default()
        }
    };
    let scope2 = match basis {
        EmissionsBasis::Market => accounting::metrics::S2_MARKET,
        EmissionsBasis::Location => accounting::metrics::S2_LOCATION,
    };
    let mut mg: i128 = 0;
    for c in &cells {
        if !paths.get(&c.org_code).is_some_and(|p| p.starts_with(org_path.as_str())) {
            continue;
        }
        let m = accounting::metrics::Metrics::decode(&c.metrics)
            .ok_or_else(|| Error::internal(format!("snapshot {}: a cell does not read", best.id)))?;
        mg += m.0[accounting::metrics::S1_STATIONARY]
            + m.0[accounting::metrics::S1_MOBILE]
            + m.0[accounting::metrics::S1_FUGITIVE]
            + m.0[scope2];
    }
    // Millionths of a kilogram to whole kilograms, half up.
    let kg = (mg + 500_000).div_euclid(1_000_000) as i64;
    Ok(Some(Sourced::new(kg, format!("snapshot {} (v{}, approved)", best.id, best.version))))
}

fn output_component(o: Output) -> Option<indicators::Component> {
    match o {
        Output::BusinessVolume => Some(indicators::Component::BusinessVolume10kYuan),
        Output::DcItEnergyKwh => Some(indicators::Component::DcItKwh),
        Output::TrafficTb => Some(indicators::Component::TrafficTb),
    }
}

fn output_of(platform: &Platform, org_code: &str, o: Output, year: i32) -> Option<Sourced<Dec>> {
    let component = output_component(o)?;
    let m = platform.monitoring.read().ok()?.clone()?;
    let sums = m.component_sums(org_code, year)?;
    if sums.present & (1 << component as u32) == 0 {
        return None;
    }
    let v = sums.values[component as usize];
    Some(Sourced::new(Dec::from_scaled(v, 6), format!("indicator {} of {org_code} in {year}", o.code())))
}

/// The inputs every allocation of the plan needs, for `basis`.
fn gather_inputs(
    platform: &Platform,
    plan: &Plan,
    basis: Basis,
    chosen: &[i64],
) -> Result<BTreeMap<String, OrgInputs>> {
    use market::plan::Method;
    let year = plan.period.year;
    let out_year = if basis == Basis::Pre { year - 1 } else { year };
    let mut all = BTreeMap::new();
    for a in &plan.allocation {
        let mut inputs = OrgInputs::default();
        let (base, output) = match &a.method {
            Method::Grandfathering { base_year, .. } => (Some(*base_year), None),
            Method::HistoricalIntensity { base_year, output, .. } => (Some(*base_year), Some(*output)),
            Method::Benchmark { output, .. } => (None, Some(*output)),
            Method::Hybrid { base_year, output, .. } => (Some(*base_year), Some(*output)),
        };
        if let Some(b) = base {
            if let Some(e) = verified_emissions(platform, &a.org, b, plan.period.emissions, chosen)? {
                inputs.emissions_kg.insert(b, e);
            }
        }
        if let Some(o) = output {
            for y in [Some(out_year), base].into_iter().flatten() {
                if let Some(v) = output_of(platform, &a.org, o, y) {
                    inputs.output.insert((o, y), v);
                }
            }
        }
        all.insert(a.org.clone(), inputs);
    }
    Ok(all)
}

fn ensure_vintage(platform: &Platform, actor: &Actor, root: &str, vintage: i32) -> Result<()> {
    let open = with_exchange(platform, |x| Ok(x.book(vintage).is_some()))?;
    if !open {
        run(
            platform,
            actor,
            &format!("market:open:{vintage}"),
            Command::OpenVintage { vintage },
            Audit { action: "market.vintage", entity: format!("market/vintage/{vintage}"), org_code: root },
            None,
        )?;
    }
    Ok(())
}

/// Allocates period `year` on `basis` ("pre" or "final") from the plan and approved snapshots:
/// issues each subsidiary's allowances (a final allocation after a pre-allocation issues the
/// true-up; a negative true-up is cancelled from the holdings), the reserve once, and deducts
/// the previous period's make-good. Resumable: a subsidiary already allocated on this basis is skipped.
pub fn allocate(platform: &Platform, actor: &Actor, year: i64, basis: &str, snapshots: &[i64]) -> Result<Value> {
    let store = &platform.store;
    let basis = match basis {
        "pre" => Basis::Pre,
        "final" => Basis::Final,
        other => {
            return Err(Error::new(
                Kind::Invalid,
                "invalid_basis",
                format!("basis must be pre or final, not {other:?}"),
            )
            .with_detail(json!({"field": "basis"})))
        }
    };
    let basis_code = if basis == Basis::Pre { "pre" } else { "final" };
    let approved: HashSet<i64> = store.snapshot_approvals()?.into_iter().map(|a| a.snapshot_id).collect();
    for id in snapshots {
        store.snapshot(*id)?;
        if !approved.contains(id) {
            return Err(Error::new(
                Kind::Conflict,
                "snapshot_not_approved",
                format!("snapshot {id} is not approved: allocations read approved (verified) snapshots only"),
            )
            .with_detail(json!({"field": "snapshots", "snapshot": id})));
        }
    }
    let (version, plan) = stored_plan(store, year)?;
    if basis == Basis::Pre && plan.period.preallocation_share.is_none() {
        return Err(Error::new(Kind::Invalid, "no_preallocation", "the plan sets no preallocation_share")
            .with_detail(json!({"field": "basis"})));
    }
    let inputs = gather_inputs(platform, &plan, basis, snapshots)?;
    let table = allocation::allocate(&plan, &inputs, basis).map_err(|problems| {
        Error::invalid(
            "allocation_inputs_missing",
            format!("{} allocation(s) cannot be computed", problems.len()),
            json!(problems),
        )
    })?;
    let root = root_org(store)?;
    let vintage = year as i32;
    ensure_vintage(platform, actor, &root, vintage)?;
    let existing = store.market_allocations(year)?;
    let done: HashSet<&str> = existing.iter().filter(|a| a.basis == basis_code).map(|a| a.org_code.as_str()).collect();
    let pre: HashMap<&str, i64> =
        existing.iter().filter(|a| a.basis == "pre").map(|a| (a.org_code.as_str(), a.kg)).collect();
    if table.reserve_kg > 0 {
        run(
            platform,
            actor,
            &format!("market:reserve:{year}"),
            Command::Issue {
                to: Account::Reserve,
                asset: Asset::Allowance { vintage },
                amount: table.reserve_kg,
                reason: Reason::Allocation { period: vintage },
            },
            Audit { action: "market.allocation", entity: format!("market/reserve/{year}"), org_code: &root },
            None,
        )?;
    }
    let mut issued = Vec::new();
    let mut refused = Vec::new();
    for a in &table.allocations {
        if done.contains(a.org.as_str()) {
            continue;
        }
        let delta = match basis {
            Basis::Pre => a.kg,
            Basis::Final => a.kg - pre.get(a.org.as_str()).copied().unwrap_or(0),
        };
        let explanation = json!({
            "method": a.method, "formula": a.formula, "inputs": a.inputs, "computed_kg": a.computed_kg, "kg": a.kg,
            "correction": table.correction, "plan_version": version, "basis": basis_code,
            "preallocated_kg": pre.get(a.org.as_str()), "issued_kg": delta,
        });
        let row = StoredAllocation {
            year,
            org_code: a.org.clone(),
            basis: basis_code.into(),
            plan_version: version,
            kg: a.kg,
            explanation: explanation.clone(),
            command_seq: None,
        };
        let reason = if basis == Basis::Final && pre.contains_key(a.org.as_str()) {
            Reason::TrueUp { period: vintage }
        } else {
            Reason::Allocation { period: vintage }
        };
        let rid = format!("market:alloc:{year}:{basis_code}:{}", a.org);
        let audit = Audit {
            action: "market.allocation",
            entity: format!("market/allocation/{year}/{basis_code}/{}", a.org),
            org_code: &a.org,
        };
        let command = match delta {
            0 => None,
            d if d > 0 => Some(Command::Issue {
                to: Account::org(&a.org),
                asset: Asset::Allowance { vintage },
                amount: d,
                reason,
            }),
            d => Some(Command::Move {
                reason,
                legs: vec![Leg::new(Asset::Allowance { vintage }, Account::org(&a.org), Account::Cancellation, -d)],
            }),
        };
        let result = match command {
            None => store.put_market_allocation(&actor.username, &row).map_err(Error::from),
            Some(c) => run(platform, actor, &rid, c, audit, Some(row)).map(|_| ()),
        };
        match result {
            Ok(()) => issued.push(json!({"org": a.org, "kg": a.kg, "issued_kg": delta, "explanation": explanation})),
            Err(e) => refused.push(json!({"org": a.org, "code": e.code, "message": e.message})),
        }
    }
    // The previous period's make-good (its shortfall and what was borrowed) comes off this one.
    let mut make_good = Vec::new();
    if basis == Basis::Final || plan.period.preallocation_share.is_some() {
        if let Ok(prev) = compliance_report(platform, year - 1) {
            for line in prev["lines"].as_array().cloned().unwrap_or_default() {
                let kg = line["make_good_kg"].as_i64().unwrap_or(0);
                let org = line["org"].as_str().unwrap_or_default().to_string();
                if kg <= 0 || !prev["deadline_passed"].as_bool().unwrap_or(false) {
                    continue;
                }
                let held = with_exchange(platform, |x| {
                    Ok(x.registry().balance(&Account::org(&org), Asset::Allowance { vintage }).available())
                })?;
                let take = kg.min(held);
                if take <= 0 {
                    continue;
                }
                let rid = format!("market:makegood:{}:{org}", year - 1);
                let c = Command::Move {
                    reason: Reason::MakeGood { period: vintage - 1 },
                    legs: vec![Leg::new(Asset::Allowance { vintage }, Account::org(&org), Account::Cancellation, take)],
                };
                let audit = Audit {
                    action: "market.make_good",
                    entity: format!("market/make-good/{}/{org}", year - 1),
                    org_code: &org,
                };
                if run(platform, actor, &rid, c, audit, None).is_ok() {
                    make_good.push(json!({"org": org, "kg": take, "owed_kg": kg}));
                }
            }
        }
    }
    Ok(json!({
        "year": year, "basis": basis_code, "plan_version": version, "cap_kg": table.cap_kg, "reserve_kg": table.reserve_kg,
        "total_kg": table.total_kg, "correction": table.correction, "allocated": issued, "refused": refused, "make_good": make_good,
    }))
}

/// The allocations of period `year` with their explanations.
pub fn allocations(platform: &Platform, year: i64) -> Result<Value> {
    let rows = platform.store.market_allocations(year)?;
    let plan = platform.store.market_plan(year, None)?;
    Ok(json!({"year": year, "plan_version": plan.map(|p| p.version), "allocations": rows}))
}

/// Places an order on the caller's own account.
pub fn place_order(
    platform: &Platform,
    actor: &Actor,
    rid: &str,
    vintage: i32,
    side: Side,
    kind: OrderKind,
    quantity_kg: i64,
) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let org = actor.org_code.clone();
    let command = Command::Place { org: org.clone(), vintage, side, kind, quantity: quantity_kg };
    let out = run(
        platform,
        actor,
        &rid,
        command,
        Audit { action: "market.order", entity: format!("market/order/{rid}"), org_code: &org },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

pub fn cancel_order(platform: &Platform, actor: &Actor, rid: &str, order: u64) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let org = actor.org_code.clone();
    let out = run(
        platform,
        actor,
        &rid,
        Command::Cancel { org: org.clone(), order },
        Audit { action: "market.cancel", entity: format!("market/order/{order}"), org_code: &org },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

pub fn propose(
    platform: &Platform,
    actor: &Actor,
    rid: &str,
    buyer: &str,
    vintage: i32,
    quantity_kg: i64,
    price_fen: i64,
) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    if platform.store.org(buyer)?.is_none() {
        return Err(
            Error::new(Kind::Invalid, "unknown_org", format!("no org {buyer}")).with_detail(json!({"field": "buyer"}))
        );
    }
    let org = actor.org_code.clone();
    let command = Command::Propose {
        seller: org.clone(),
        buyer: buyer.to_string(),
        vintage,
        quantity: quantity_kg,
        price: price_fen,
    };
    let out = run(
        platform,
        actor,
        &rid,
        command,
        Audit { action: "market.transfer.propose", entity: format!("market/transfer/{rid}"), org_code: &org },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

pub fn confirm(platform: &Platform, actor: &Actor, rid: &str, proposal: u64) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let org = actor.org_code.clone();
    let out = run(
        platform,
        actor,
        &rid,
        Command::Confirm { buyer: org.clone(), proposal },
        Audit { action: "market.transfer.confirm", entity: format!("market/transfer/{proposal}"), org_code: &org },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

pub fn withdraw(platform: &Platform, actor: &Actor, rid: &str, proposal: u64) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let org = actor.org_code.clone();
    let out = run(
        platform,
        actor,
        &rid,
        Command::Withdraw { org: org.clone(), proposal },
        Audit { action: "market.transfer.withdraw", entity: format!("market/transfer/{proposal}"), org_code: &org },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

/// Grants a subsidiary internal budget (fen) to trade with (group administrators).
pub fn fund(platform: &Platform, actor: &Actor, rid: &str, org: &str, fen: i64) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    if platform.store.org(org)?.is_none() {
        return Err(
            Error::new(Kind::Invalid, "unknown_org", format!("no org {org}")).with_detail(json!({"field": "org"}))
        );
    }
    let out = run(
        platform,
        actor,
        &rid,
        Command::Issue { to: Account::org(org), asset: Asset::Cash, amount: fen, reason: Reason::Fund },
        Audit { action: "market.fund", entity: format!("market/budget/{org}"), org_code: org },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

/// Enters offset credits (CCER, green certificates, the group's own reduction projects) into a
/// subsidiary's account, with their reference (group administrators). Usable at surrender up to
/// the plan's offset cap.
///
/// `inclusive_credits`: the 碳普惠 reductions this offset is made of (kind `internal_project`).
/// One claim status per reduction: they are claimed as this offset (`market:REQUEST`) first, all
/// or none, and refused (`already_claimed`) when any was claimed as points or elsewhere; `kg` must
/// be their grams ⌊⁄ 1000⌋ and `vintage` their year. Should the market refuse the offset, the
/// claims are given back. A credit claimed by an offset is never claimable as points.
#[allow(clippy::too_many_arguments)]
pub fn issue_offset(
    platform: &Platform,
    actor: &Actor,
    rid: &str,
    org: &str,
    kind: market::ledger::OffsetKind,
    vintage: i32,
    kg: i64,
    reference: &str,
    inclusive_credits: &[i64],
) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    if reference.trim().is_empty() || reference.chars().count() > 200 {
        return Err(Error::new(
            Kind::Invalid,
            "invalid_reference",
            "reference: 1 to 200 characters (serial number, certificate or project id)",
        )
        .with_detail(json!({"field": "reference"})));
    }
    let Some(org_row) = platform.store.org(org)? else {
        return Err(
            Error::new(Kind::Invalid, "unknown_org", format!("no org {org}")).with_detail(json!({"field": "org"}))
        );
    };
    let mut reference = reference.trim().to_string();
    let programme = format!("market:{rid}");
    let mut claimed: Vec<i64> = Vec::new();
    if !inclusive_credits.is_empty() {
        let field = |code: &'static str, m: String, f: &str| {
            Error::new(Kind::Invalid, code, m).with_detail(json!({"field": f}))
        };
        if kind != market::ledger::OffsetKind::InternalProject {
            return Err(field(
                "invalid_kind",
                "碳普惠 credits enter the market as the group's own reductions: kind internal_project".into(),
                "kind",
            ));
        }
        if inclusive_credits.len() > 1000 {
            return Err(field("invalid_field", "at most 1,000 credits per offset".into(), "inclusive_credits"));
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let (_, replay) = platform
            .store
            .inclusive_claim_market_offset(
                &actor.username,
                &org_row.path,
                inclusive_credits,
                &programme,
                vintage,
                kg,
                now,
            )
            .map_err(|e| match e {
                store::StoreError::Invalid(m) => field("invalid_field", m, "inclusive_credits"),
                store::StoreError::NotFound(m) => {
                    field("unknown_credit", format!("no {m} within {org}"), "inclusive_credits")
                }
                store::StoreError::Conflict(m) => {
                    let code =
                        ["already_claimed", "not_claimable"].into_iter().find(|c| m.starts_with(&format!("{c}: ")));
                    match code {
                        Some(code) => Error::new(Kind::Conflict, code, m[code.len() + 2..].to_string())
                            .with_detail(json!({"field": "inclusive_credits"})),
                        None => store::StoreError::Conflict(m).into(),
                    }
                }
                e => e.into(),
            })?;
        if !replay {
            claimed = inclusive_credits.to_vec();
        }
        let ids: Vec<String> = inclusive_credits.iter().map(i64::to_string).collect();
        reference = format!("{reference} [碳普惠 credits {}]", ids.join(","));
    }
    let give_back = |claimed: &[i64]| {
        if !claimed.is_empty() {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            if let Err(e) = platform.store.inclusive_release_market_offset(&actor.username, claimed, &programme, now) {
                tracing::error!(error = %e, programme, "碳普惠 credits claimed for a refused offset were not given back");
            }
        }
    };
    let out = run(
        platform,
        actor,
        &rid,
        Command::Issue {
            to: Account::org(org),
            asset: Asset::Offset { kind, vintage },
            amount: kg,
            reason: Reason::Offset { reference },
        },
        Audit { action: "market.offset", entity: format!("market/offset/{org}"), org_code: org },
        None,
    );
    match out {
        // A request id used before answers its first outcome: credits newly claimed now are not its.
        Ok(out) if out.repeated => {
            give_back(&claimed);
            Ok(outcome_json(platform, &out))
        }
        Ok(out) => Ok(outcome_json(platform, &out)),
        Err(e) => {
            give_back(&claimed);
            Err(e)
        }
    }
}

/// 碳普惠 credits claimed as a market offset whose offset never entered the market: the claim
/// and the market's issue are two commits (the market commits through its own command log), so a
/// process that dies between them leaves credits claimed for nothing. Such claims older than
/// `min_age_s` (a request in flight is never that old) are given back (audited
/// `inclusive.offset_release` by `system:reconcile`); a client that sends the request again
/// later claims them again. The programmes given back, with their credits.
pub fn reconcile_offset_claims(platform: &Platform, min_age_s: i64, now_s: i64) -> Result<Vec<Value>> {
    let mut released = Vec::new();
    for store::inclusive::OffsetClaim { programme, credits: ids, claimed_at } in
        platform.store.inclusive_market_offset_claims()?
    {
        let Some(rid) = programme.strip_prefix("market:") else { continue };
        if platform.store.market_request_entered(rid)? {
            continue;
        }
        // A claim whose audit entry cannot be read counts as old (the credits are stuck either way).
        let claimed_s = claimed_at.as_deref().and_then(inclusive::time::parse).unwrap_or(i64::MIN / 2);
        if now_s - claimed_s < min_age_s {
            continue;
        }
        let n = platform.store.inclusive_release_market_offset("system:reconcile", &ids, &programme, now_s)?;
        tracing::warn!(programme, credits = ?ids, released = n, "碳普惠 credits claimed for an offset that never entered the market were given back");
        released.push(json!({"programme": programme, "credits": ids, "released": n}));
    }
    Ok(released)
}

/// How old an unmatched offset claim must be before it is given back, and how often it is looked for.
pub const OFFSET_CLAIM_GRACE_S: i64 = 600;

/// Looks for offset claims that never entered the market every [`OFFSET_CLAIM_GRACE_S`] (the
/// first time a minute after start): `reconcile_offset_claims`.
pub fn watch_offset_claims(platform: &std::sync::Arc<Platform>) {
    let p = std::sync::Arc::downgrade(platform);
    let _ = std::thread::Builder::new().name("offset-claims".into()).spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        loop {
            let Some(p) = p.upgrade() else { return };
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            if let Err(e) = reconcile_offset_claims(&p, OFFSET_CLAIM_GRACE_S, now) {
                tracing::warn!(error = %e.message, "market: looking for unmatched offset claims failed");
            }
            drop(p);
            std::thread::sleep(std::time::Duration::from_secs(OFFSET_CLAIM_GRACE_S as u64));
        }
    });
}

/// Reverses a journal entry (a correction; group administrators).
pub fn correct(platform: &Platform, actor: &Actor, rid: &str, entry: u64) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let root = root_org(&platform.store)?;
    let out = run(
        platform,
        actor,
        &rid,
        Command::Reverse { entry },
        Audit { action: "market.correction", entity: format!("market/entry/{entry}"), org_code: &root },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

/// Sets the trading windows, the position limit, and a vintage's price band (group administrators).
pub fn configure(platform: &Platform, actor: &Actor, rid: &str, config: Config) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let root = root_org(&platform.store)?;
    let out = run(
        platform,
        actor,
        &rid,
        Command::Configure { config },
        Audit { action: "market.config", entity: "market/config".into(), org_code: &root },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

pub fn set_band(
    platform: &Platform,
    actor: &Actor,
    rid: &str,
    vintage: i32,
    band: Option<(i64, i64)>,
) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let root = root_org(&platform.store)?;
    let out = run(
        platform,
        actor,
        &rid,
        Command::SetBand { vintage, band },
        Audit { action: "market.band", entity: format!("market/vintage/{vintage}"), org_code: &root },
        None,
    )?;
    Ok(outcome_json(platform, &out))
}

fn surrendered(x: &Exchange, org: &str, period: i32) -> (i64, i64, i64) {
    let (mut allowances, mut borrowed, mut offsets) = (0, 0, 0);
    for e in x.registry().journal() {
        if let Op::Move { reason: Reason::Surrender { period: p }, legs } = &e.op {
            if *p != period {
                continue;
            }
            for l in legs.iter().filter(|l| l.from == Account::org(org)) {
                match l.asset {
                    Asset::Allowance { .. } => allowances += l.amount,
                    Asset::Borrowed { .. } => borrowed += l.amount,
                    Asset::Offset { .. } => offsets += l.amount,
                    Asset::Cash => {}
                }
            }
        }
    }
    (allowances, borrowed, offsets)
}

/// Penalties paid and rewards received by `org` for `period` (fen), from the journal.
fn settled(x: &Exchange, org: &str, period: i32) -> (i64, i64) {
    let me = Account::org(org);
    let (mut penalty, mut reward) = (0, 0);
    for e in x.registry().journal() {
        match &e.op {
            Op::Move { reason: Reason::Penalty { period: p }, legs } if *p == period => {
                penalty += legs.iter().filter(|l| l.from == me).map(|l| l.amount).sum::<i64>()
            }
            Op::Move { reason: Reason::Reward { period: p }, legs } if *p == period => {
                reward += legs.iter().filter(|l| l.to == me).map(|l| l.amount).sum::<i64>()
            }
            _ => {}
        }
    }
    (penalty, reward)
}

/// Settles period `year` once its deadline has passed (group administrators): each subsidiary
/// short of its obligation pays its penalty from its budget to the group (what its budget holds;
/// the rest is reported unpaid), each compliant one with allowances left receives its reward from
/// the group's budget. Once per subsidiary (request ids of the period and org).
pub fn settle(platform: &Platform, actor: &Actor, year: i64) -> Result<Value> {
    let report = compliance_report(platform, year)?;
    if !report["deadline_passed"].as_bool().unwrap_or(false) {
        return Err(Error::new(
            Kind::Conflict,
            "deadline_not_passed",
            format!(
                "period {year} is settled after its surrender deadline {}",
                report["deadline"].as_str().unwrap_or("")
            ),
        ));
    }
    let period = year as i32;
    let mut lines = Vec::new();
    for l in report["lines"].as_array().cloned().unwrap_or_default() {
        let org = l["org"].as_str().unwrap_or_default().to_string();
        let owed_penalty = l["penalty_fen"].as_i64().unwrap_or(0) - l["penalty_paid_fen"].as_i64().unwrap_or(0);
        let owed_reward = l["reward_fen"].as_i64().unwrap_or(0) - l["reward_paid_fen"].as_i64().unwrap_or(0);
        let mut paid = 0;
        let mut rewarded = 0;
        if owed_penalty > 0 {
            let cash =
                with_exchange(platform, |x| Ok(x.registry().balance(&Account::org(&org), Asset::Cash).available()))?;
            let take = owed_penalty.min(cash);
            if take > 0 {
                let c = Command::Move {
                    reason: Reason::Penalty { period },
                    legs: vec![Leg::new(Asset::Cash, Account::org(&org), Account::Budget, take)],
                };
                let audit =
                    Audit { action: "market.penalty", entity: format!("market/penalty/{year}/{org}"), org_code: &org };
                run(
                    platform,
                    actor,
                    &format!("market:penalty:{year}:{org}:{}", l["penalty_paid_fen"]),
                    c,
                    audit,
                    None,
                )?;
                paid = take;
            }
        }
        if owed_reward > 0 {
            let c = Command::Issue {
                to: Account::org(&org),
                asset: Asset::Cash,
                amount: owed_reward,
                reason: Reason::Reward { period },
            };
            let audit =
                Audit { action: "market.reward", entity: format!("market/reward/{year}/{org}"), org_code: &org };
            run(platform, actor, &format!("market:reward:{year}:{org}"), c, audit, None)?;
            rewarded = owed_reward;
        }
        lines.push(json!({"org": org, "penalty_paid_fen": paid, "penalty_unpaid_fen": owed_penalty.max(0) - paid, "reward_paid_fen": rewarded}));
    }
    Ok(json!({"year": year, "settled": lines, "non_compliant": report["non_compliant"]}))
}

fn borrowed_for(x: &Exchange, org: &str, period: i32) -> i64 {
    x.registry()
        .journal()
        .iter()
        .filter_map(|e| match &e.op {
            Op::Move { reason: Reason::Borrow { period: p }, legs } if *p == period => {
                Some(legs.iter().filter(|l| l.to == Account::org(org)).map(|l| l.amount).sum::<i64>())
            }
            _ => None,
        })
        .sum()
}

fn obligation(platform: &Platform, plan: &Plan, org: &str) -> Result<i64> {
    verified_emissions(platform, org, plan.period.year, plan.period.emissions, &[])?.map(|s| s.value).ok_or_else(|| {
        Error::new(
            Kind::Conflict,
            "no_verified_emissions",
            format!("no approved snapshot of {} covers {org}: its obligation is not known yet", plan.period.year),
        )
    })
}

/// Surrenders what `org` holds towards its obligation for period `year` (the org's own admin, or
/// a group administrator for any org).
pub fn surrender(platform: &Platform, actor: &Actor, rid: &str, year: i64, org: &str) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let (_, plan) = stored_plan(&platform.store, year)?;
    let owed = obligation(platform, &plan, org)?;
    let period = year as i32;
    let plan_of = with_exchange(platform, |x| {
        let (a, b, o) = surrendered(x, org, period);
        let already = compliance::Already { allowances_kg: a + b, offsets_kg: o };
        compliance::plan_surrender(&plan, x.registry(), org, owed, already, today_of(platform))
            .map_err(compliance_error)
    })?;
    let mut out = json!({"org": org, "period": year, "obligation_kg": owed, "surrender": plan_of});
    if !plan_of.legs.is_empty() {
        let (reason, legs) = compliance::surrender_entry(&plan_of);
        let o = run(
            platform,
            actor,
            &rid,
            Command::Move { reason, legs },
            Audit { action: "market.surrender", entity: format!("market/surrender/{year}/{org}"), org_code: org },
            None,
        )?;
        out["entries"] = json!(o.entries);
        out["repeated"] = json!(o.repeated);
    }
    Ok(out)
}

/// Borrows `kg` of the next period's allowances for `org`'s surrender, by the plan's rule.
pub fn borrow(platform: &Platform, actor: &Actor, rid: &str, year: i64, org: &str, kg: i64) -> Result<Value> {
    let rid = request_id(actor, rid)?;
    let (_, plan) = stored_plan(&platform.store, year)?;
    let owed = obligation(platform, &plan, org)?;
    let period = year as i32;
    let (reason, legs) = with_exchange(platform, |x| {
        let (a, b, o) = surrendered(x, org, period);
        let already = compliance::Already { allowances_kg: a + b, offsets_kg: o };
        let s = compliance::plan_surrender(&plan, x.registry(), org, owed, already, today_of(platform))
            .map_err(compliance_error)?;
        compliance::borrow_entry(&plan, org, owed, s.shortfall_kg, kg).map_err(compliance_error)
    })?;
    let o = run(
        platform,
        actor,
        &rid,
        Command::Move { reason, legs },
        Audit { action: "market.borrow", entity: format!("market/borrow/{year}/{org}"), org_code: org },
        None,
    )?;
    Ok(outcome_json(platform, &o))
}

/// Period `year`'s compliance: per subsidiary of the plan its obligation, what it surrendered,
/// borrowed and offset, its shortfall, penalty and make-good, and the non-compliance list once the
/// deadline has passed.
pub fn compliance_report(platform: &Platform, year: i64) -> Result<Value> {
    let (version, plan) = stored_plan(&platform.store, year)?;
    let period = year as i32;
    let deadline = plan.period.surrender_deadline;
    let deadline_passed = today_of(platform) > deadline;
    let mut obligations = BTreeMap::new();
    for a in &plan.allocation {
        obligations.insert(a.org.clone(), verified_emissions(platform, &a.org, period, plan.period.emissions, &[])?);
    }
    with_exchange(platform, |x| {
        let trades = x.trades().iter().map(|t| (t.at, t.price, t.quantity));
        let average = compliance::average_price_before(deadline, trades);
        let mut lines = Vec::new();
        let mut non_compliant = Vec::new();
        for (org, owed) in &obligations {
            let (a, b, o) = surrendered(x, org, period);
            let left = x.registry().balance(&Account::org(org), Asset::Allowance { vintage: period }).available();
            let borrowed = borrowed_for(x, org, period);
            let Some(owed) = owed else {
                lines
                    .push(json!({"org": org, "obligation_kg": null, "source": null, "status": "no_verified_emissions",
                    "surrendered_kg": a + b, "offsets_kg": o, "borrowed_kg": borrowed, "surplus_kg": left}));
                continue;
            };
            let shortfall = (owed.value - a - b - o).max(0);
            let penalty = match average {
                Some(p) if shortfall > 0 => compliance::penalty_fen(&plan, shortfall, p).map_err(compliance_error)?,
                _ => 0,
            };
            let reward = match average {
                Some(p) if shortfall == 0 => compliance::reward_fen(&plan, left, p).map_err(compliance_error)?,
                _ => 0,
            };
            let (penalty_paid, reward_paid) = settled(x, org, period);
            let compliant = shortfall == 0;
            if deadline_passed && !compliant {
                non_compliant.push(org.clone());
            }
            lines.push(json!({
                "org": org, "obligation_kg": owed.value, "source": owed.source,
                "status": if compliant { "compliant" } else if deadline_passed { "non_compliant" } else { "open" },
                "surrendered_kg": a + b, "offsets_kg": o, "borrowed_kg": borrowed, "shortfall_kg": shortfall,
                "penalty_fen": penalty, "make_good_kg": shortfall + borrowed, "surplus_kg": left, "compliant": compliant,
                "reward_fen": reward, "penalty_paid_fen": penalty_paid, "reward_paid_fen": reward_paid,
            }));
        }
        Ok(json!({
            "year": year, "plan_version": version, "deadline": deadline.to_string(), "deadline_passed": deadline_passed,
            "average_price_fen": average, "penalty_multiple": plan.period.penalty_multiple, "offset_cap": plan.period.offset_cap,
            "lines": lines, "non_compliant": non_compliant,
        }))
    })
}

fn outcome_json(platform: &Platform, out: &Outcome) -> Value {
    let trades: Vec<Value> = with_exchange(platform, |x| {
        Ok(out.trades.iter().filter_map(|id| x.trades().get((*id - 1) as usize)).map(|t| json!(t)).collect())
    })
    .unwrap_or_default();
    json!({"entries": out.entries, "order": out.order, "proposal": out.proposal, "trades": trades, "events": out.events, "repeated": out.repeated})
}

/// The market at a glance: per vintage the best prices, depth, last price and recent trades.
pub fn overview(platform: &Platform) -> Result<Value> {
    with_exchange(platform, |x| {
        let vintages: Vec<Value> = x
            .vintages()
            .map(|v| {
                let book = x.book(v).expect("listed vintage");
                let depth = book.depth(10);
                let trades: Vec<&market::exchange::Trade> = x.trades().iter().filter(|t| t.vintage == v).collect();
                let volume: i64 = trades.iter().map(|t| t.quantity).sum();
                json!({
                    "vintage": v, "best_bid": book.best_bid(), "best_ask": book.best_ask(), "depth": depth,
                    "last_price": trades.last().map(|t| t.price), "volume_kg": volume, "trades": trades.len(),
                    "recent": trades.iter().rev().take(100).collect::<Vec<_>>(), "rules": book.rules(),
                })
            })
            .collect();
        Ok(
            json!({"vintages": vintages, "config": x.config(), "journal_entries": x.registry().journal().len(), "commands": x.log().len()}),
        )
    })
}

/// An account: balances by asset, open orders, proposals, and its history (newest first).
pub fn account(platform: &Platform, org: &str, limit: usize) -> Result<Value> {
    let me = Account::org(org);
    with_exchange(platform, |x| {
        let balances: Vec<Value> = x
            .registry()
            .balances()
            .into_iter()
            .filter(|((a, _), _)| *a == me)
            .map(|((_, asset), b)| json!({"asset": asset, "posted": b.posted, "held": b.held, "available": b.available()}))
            .collect();
        let orders: Vec<_> = x.open_orders().into_iter().filter(|o| o.org == org).cloned().collect();
        let proposals: Vec<_> = x.proposals().filter(|p| p.seller == org || p.buyer == org).cloned().collect();
        let touches = |op: &Op| match op {
            Op::Move { legs, .. } => legs.iter().any(|l| l.from == me || l.to == me),
            Op::Hold { account, .. } => *account == me,
            Op::Release { hold, .. } => x.registry().hold(*hold).is_some_and(|h| h.account == me),
        };
        let history: Vec<Value> =
            x.registry().journal().iter().rev().filter(|e| touches(&e.op)).take(limit).map(|e| json!(e)).collect();
        let trades: Vec<_> =
            x.trades().iter().rev().filter(|t| t.buyer == org || t.seller == org).take(limit).cloned().collect();
        Ok(
            json!({"org": org, "balances": balances, "orders": orders, "proposals": proposals, "history": history, "trades": trades}),
        )
    })
}

/// The journal, newest first, `limit` entries before `before` (auditors).
pub fn journal(platform: &Platform, before: Option<u64>, limit: usize) -> Result<Value> {
    with_exchange(platform, |x| {
        let j = x.registry().journal();
        let entries: Vec<Value> =
            j.iter().rev().filter(|e| before.is_none_or(|b| e.seq < b)).take(limit).map(|e| json!(e)).collect();
        let next = entries.last().and_then(|e| e["seq"].as_u64()).filter(|s| *s > 1);
        Ok(json!({"entries": entries, "total": j.len(), "next_before": next}))
    })
}

/// `dualcarbon market verify`: replays the journal from the start and compares.
pub fn verify(store: &Store) -> Result<Value> {
    let r = replay(store)?;
    Ok(json!({
        "commands": r.commands, "entries": r.entries, "ok": r.discrepancy.is_none(), "first_discrepancy": r.discrepancy,
        "conservation_gaps": r.exchange.registry().conservation_gaps().len(),
    }))
}

/// Approves (verifies) a snapshot: what the market's allocations and obligations read.
pub fn approve_snapshot(platform: &Platform, actor: &Actor, id: i64, note: &str) -> Result<Value> {
    let s = platform.store.snapshot(id)?;
    if s.result.get("error").is_some() {
        return Err(Error::new(
            Kind::Conflict,
            "snapshot_has_errors",
            format!("snapshot {id} has errors and cannot be approved"),
        ));
    }
    let a = platform.store.approve_snapshot(&actor.username, id, note)?;
    Ok(json!(a))
}

/// Seeds the demo's market once (nothing when a plan exists): approves the group's snapshots of
/// `first..=year`, files period `year`'s plan (grandfathering on `year − 1` for every province,
/// coefficients 0.95–0.99 so that some provinces fall short and some have a surplus), allocates
/// it, grants each province a trading budget, places a spread of orders (some of which trade)
/// and has a few provinces surrender. The deadline is the next 30 June still ahead, so the demo's
/// period is open whenever it is started.
pub fn seed_demo(platform: &Platform, first: i32, year: i32) -> Result<Value> {
    let store = &platform.store;
    if !store.market_plans()?.is_empty() || first >= year {
        return Ok(json!({"seeded": false}));
    }
    let root = root_org(store)?;
    let actor = Actor { username: "demo-loader".into(), org_code: root.clone(), org_path: String::new() };
    let approved: HashSet<i64> = store.snapshot_approvals()?.into_iter().map(|a| a.snapshot_id).collect();
    for s in store.snapshot_list()? {
        if s.org_code == root && (first..=year).contains(&(s.year as i32)) && !approved.contains(&s.id) {
            store.approve_snapshot(&actor.username, s.id, "demo: the group's inventory as filed")?;
        }
    }
    let mut provinces: Vec<String> = store.orgs()?.into_iter().filter(|o| o.depth == 1).map(|o| o.code).collect();
    provinces.sort();
    let now = today_of(platform);
    let deadline_year = if (now.month, now.day) < (6, 30) { now.year } else { now.year + 1 }.max(year + 1);
    let mut plan = format!(
        "# Demo plan: grandfathering on {base} verified emissions for every province.\n[period]\nyear = {year}\n\
         cap_t = \"CAP\"\nreserve_t = \"RESERVE\"\nsurrender_deadline = \"{deadline_year}-06-30\"\noffset_cap = \"0.05\"\n\
         penalty_multiple = \"5\"\nborrowing = {{ threshold = \"0.10\", max_share = \"0.5\" }}\n",
        base = year - 1
    );
    let mut total_kg: i64 = 0;
    for (i, p) in provinces.iter().enumerate() {
        let Some(e) = verified_emissions(platform, p, year - 1, EmissionsBasis::Market, &[])? else { continue };
        total_kg += e.value;
        let coefficient = ["0.95", "0.96", "0.97", "0.98", "0.99"][i % 5];
        plan.push_str(&format!(
            "\n[[allocation]]\norg = \"{p}\"\nmethod = \"grandfathering\"\nbase_year = {}\ncoefficient = \"{coefficient}\"\n",
            year - 1
        ));
    }
    if total_kg == 0 {
        return Ok(json!({"seeded": false}));
    }
    // Cap: what the coefficients give plus a 2 % reserve, in whole tonnes.
    let reserve_t = (total_kg / 50 / 1000).max(1);
    let cap_t = total_kg / 1000 + reserve_t;
    let plan = plan.replace("\"CAP\"", &format!("\"{cap_t}\"")).replace("\"RESERVE\"", &format!("\"{reserve_t}\""));
    add_plan(platform, &actor, year as i64, &plan)?;
    let allocated = allocate(platform, &actor, year as i64, "final", &[])?;
    // Budgets, and orders around 60–80 yuan a tonne: the first half of the provinces sell, the
    // second half buy; prices overlap, so some trade.
    let mut orders = 0;
    for (i, p) in provinces.iter().enumerate() {
        let org_actor = Actor { username: format!("demo-{p}"), org_code: p.clone(), org_path: String::new() };
        fund(platform, &actor, &format!("budget-{p}"), p, 5_000_000_000)?;
        let held = with_exchange(platform, |x| {
            Ok(x.registry().balance(&Account::org(p), Asset::Allowance { vintage: year }).available())
        })?;
        let lots = (held / 1000 / 50).clamp(1, 500);
        let sell = i % 2 == 0;
        let price = 6000 + (i as i64 * 137) % 2000;
        if sell && held >= lots * 1000 {
            place_order(
                platform,
                &org_actor,
                &format!("demo-{i}"),
                year,
                Side::Sell,
                OrderKind::Limit { price },
                lots * 1000,
            )?;
            orders += 1;
        } else if !sell {
            place_order(
                platform,
                &org_actor,
                &format!("demo-{i}"),
                year,
                Side::Buy,
                OrderKind::Limit { price },
                lots * 1000,
            )?;
            orders += 1;
        }
    }
    // A few provinces surrender what they hold (their obligation is the period's approved figure).
    let mut surrendered = 0;
    for p in provinces.iter().take(3) {
        if verified_emissions(platform, p, year, EmissionsBasis::Market, &[])?.is_some() {
            surrender(platform, &actor, &format!("surrender-{p}"), year as i64, p)?;
            surrendered += 1;
        }
    }
    Ok(
        json!({"seeded": true, "provinces": provinces.len(), "allocated": allocated["allocated"].as_array().map_or(0, Vec::len), "orders": orders, "surrendered": surrendered}),
    )
}
