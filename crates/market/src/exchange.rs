//! The exchange: order books per vintage over the registry. An order reserves on entry what it may
//! deliver or pay (a hold on the seller's allowances, on the buyer's budget at the limit price), a
//! fill posts both legs in one linked move (allowances to the buyer, fen to the seller: delivery
//! versus payment) and gives the buyer back any price improvement, a cancel releases the rest.
//! Bilateral transfers (协议转让) hold the seller's allowances when proposed and settle when the buyer
//! confirms. Each command is one atomic registry command, idempotent by its request id, and the
//! exchange's whole state follows from its command log ([`Exchange::replay`]).

use crate::book::{self, Book, BookError, Event, Kind, NewOrder, OrderId, Rules, Side};
use crate::ledger::{Account, Asset, Fen, Kg, LedgerError, Leg, Op, Reason, Registry};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Minutes after midnight, Beijing time (UTC+8), the calendar of the group's trading windows.
const BEIJING_OFFSET_S: i64 = 8 * 3600;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Tick, lot and band of every new vintage's book.
    pub rules: Rules,
    /// Trading windows as [start, end) minutes after midnight, Beijing time; empty = always open.
    pub windows: Vec<(u32, u32)>,
    /// Most kgCO2e of one vintage an account may hold, counting open buy orders; None = no limit.
    pub position_limit: Option<Kg>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Sets the trading windows and the position limit (and the tick and lot of vintages opened later).
    Configure {
        config: Config,
    },
    /// Opens trading in a vintage (its book starts empty).
    OpenVintage {
        vintage: i32,
    },
    /// Sets a vintage's daily price band (fen per tonne), or lifts it.
    SetBand {
        vintage: i32,
        band: Option<(i64, i64)>,
    },
    /// Issues allowances, offsets or budget to an account (allocation, true-up, funding).
    Issue {
        to: Account,
        asset: Asset,
        amount: i64,
        reason: Reason,
    },
    /// Any registry move the compliance cycle writes (surrender, borrowing, make-good, penalties).
    Move {
        reason: Reason,
        legs: Vec<Leg>,
    },
    /// Reverses an earlier journal entry (a correction).
    Reverse {
        entry: u64,
    },
    Place {
        org: String,
        vintage: i32,
        side: Side,
        kind: Kind,
        quantity: Kg,
    },
    Cancel {
        org: String,
        order: OrderId,
    },
    /// A bilateral transfer: `seller` offers `quantity` to `buyer` at `price` fen per tonne.
    Propose {
        seller: String,
        buyer: String,
        vintage: i32,
        quantity: Kg,
        price: i64,
    },
    /// The buyer accepts: allowances and payment move together.
    Confirm {
        buyer: String,
        proposal: u64,
    },
    /// Either side withdraws before confirmation: the seller's allowances are released.
    Withdraw {
        org: String,
        proposal: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub id: u64,
    pub vintage: i32,
    pub price: i64,
    pub quantity: Kg,
    pub buyer: String,
    pub seller: String,
    pub at: i64,
    /// The journal entry that settled it.
    pub entry: u64,
    pub bilateral: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrder {
    pub id: OrderId,
    pub org: String,
    pub vintage: i32,
    pub side: Side,
    pub price: i64,
    pub remaining: Kg,
    pub hold: u64,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: u64,
    pub seller: String,
    pub buyer: String,
    pub vintage: i32,
    pub quantity: Kg,
    pub price: i64,
    pub hold: u64,
    pub at: i64,
}

/// What a command did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Journal entries written.
    pub entries: Vec<u64>,
    pub order: Option<OrderId>,
    pub proposal: Option<u64>,
    pub trades: Vec<u64>,
    pub events: Vec<Event>,
    /// True when the request id had been applied before: this is its first answer again.
    pub repeated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Book(#[from] BookError),
    #[error("vintage {0} is not open for trading")]
    UnknownVintage(i32),
    #[error("vintage {0} is already open")]
    VintageOpen(i32),
    #[error("the market is closed now (trading windows, Beijing time: {0})")]
    MarketClosed(String),
    #[error("a market buy states the most it spends (max_cost, fen)")]
    MarketBuyWithoutBudget,
    #[error("the position limit of {limit} kgCO2e per vintage would be exceeded ({would_hold})")]
    PositionLimit { limit: Kg, would_hold: Kg },
    #[error("order {0} is not {1}'s")]
    NotYourOrder(OrderId, String),
    #[error("no open proposal {0}")]
    UnknownProposal(u64),
    #[error("proposal {0} is not addressed to {1}")]
    NotYourProposal(u64, String),
    #[error("a bilateral transfer needs two different subsidiaries")]
    SameParty,
    #[error("price must be positive")]
    PriceNotPositive,
    #[error("request id {0:?} was used for a different command")]
    RequestIdReused(String),
    #[error("the registry refused a settlement the book had made ({0}); state must be reloaded")]
    Inconsistent(String),
    #[error("invalid exchange configuration: {0}")]
    Config(String),
}

impl ExchangeError {
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::Ledger(e) => e.code(),
            ExchangeError::Book(e) => e.code(),
            ExchangeError::UnknownVintage(_) => "unknown_vintage",
            ExchangeError::VintageOpen(_) => "vintage_open",
            ExchangeError::MarketClosed(_) => "market_closed",
            ExchangeError::MarketBuyWithoutBudget => "market_buy_without_budget",
            ExchangeError::PositionLimit { .. } => "position_limit",
            ExchangeError::NotYourOrder(..) => "not_your_order",
            ExchangeError::UnknownProposal(_) => "unknown_proposal",
            ExchangeError::NotYourProposal(..) => "not_your_proposal",
            ExchangeError::SameParty => "same_party",
            ExchangeError::PriceNotPositive => "price_not_positive",
            ExchangeError::RequestIdReused(_) => "request_id_reused",
            ExchangeError::Inconsistent(_) => "internal_inconsistency",
            ExchangeError::Config(_) => "invalid_config",
        }
    }
}

/// One applied command of the log: enough to replay the exchange from the start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    pub request_id: String,
    pub at: i64,
    pub command: Command,
}

#[derive(Clone, Debug)]
pub struct Exchange {
    config: Config,
    registry: Registry,
    books: BTreeMap<i32, Book>,
    owners: FxHashMap<String, u32>,
    owner_names: Vec<String>,
    orders: FxHashMap<OrderId, OpenOrder>,
    proposals: BTreeMap<u64, Proposal>,
    trades: Vec<Trade>,
    log: Vec<Logged>,
    answers: FxHashMap<String, (Command, Outcome)>,
    next_order: u64,
    next_hold: u64,
    next_proposal: u64,
}

impl Exchange {
    pub fn new(config: Config) -> Result<Exchange, ExchangeError> {
        config.rules.check().map_err(ExchangeError::Config)?;
        check_windows(&config.windows)?;
        Ok(Exchange {
            config,
            registry: Registry::new(),
            books: BTreeMap::new(),
            owners: FxHashMap::default(),
            owner_names: Vec::new(),
            orders: FxHashMap::default(),
            proposals: BTreeMap::new(),
            trades: Vec::new(),
            log: Vec::new(),
            answers: FxHashMap::default(),
            next_order: 1,
            next_hold: 1,
            next_proposal: 1,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn book(&self, vintage: i32) -> Option<&Book> {
        self.books.get(&vintage)
    }
    pub fn vintages(&self) -> impl Iterator<Item = i32> + '_ {
        self.books.keys().copied()
    }
    pub fn trades(&self) -> &[Trade] {
        &self.trades
    }
    pub fn log(&self) -> &[Logged] {
        &self.log
    }
    pub fn open_orders(&self) -> Vec<&OpenOrder> {
        let mut v: Vec<_> = self.orders.values().collect();
        v.sort_by_key(|o| o.id);
        v
    }
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }

    /// Rebuilds an exchange by executing its command log again from the start.
    pub fn replay<'a>(
        config: Config,
        log: impl IntoIterator<Item = &'a Logged>,
    ) -> Result<Exchange, (usize, ExchangeError)> {
        let mut x = Exchange::new(config).map_err(|e| (0, e))?;
        for (i, l) in log.into_iter().enumerate() {
            x.execute(&l.request_id, l.at, l.command.clone()).map_err(|e| (i, e))?;
        }
        Ok(x)
    }

    /// Executes one command at time `at` (unix seconds) under a request id: all of it or nothing;
    /// the same request id again answers the first outcome without applying anything.
    pub fn execute(&mut self, request_id: &str, at: i64, command: Command) -> Result<Outcome, ExchangeError> {
        if let Some((seen, outcome)) = self.answers.get(request_id) {
            return if *seen == command {
                Ok(Outcome { repeated: true, ..outcome.clone() })
            } else {
                Err(ExchangeError::RequestIdReused(request_id.to_string()))
            };
        }
        let outcome = self.run(request_id, at, &command)?;
        self.log.push(Logged { request_id: request_id.to_string(), at, command: command.clone() });
        self.answers.insert(request_id.to_string(), (command, outcome.clone()));
        Ok(outcome)
    }

    fn run(&mut self, rid: &str, at: i64, command: &Command) -> Result<Outcome, ExchangeError> {
        match command {
            Command::Configure { config } => {
                config.rules.check().map_err(ExchangeError::Config)?;
                check_windows(&config.windows)?;
                if config.position_limit.is_some_and(|l| l < 0) {
                    return Err(ExchangeError::Config("the position limit must not be negative".into()));
                }
                self.config = config.clone();
                Ok(Outcome::default())
            }
            Command::OpenVintage { vintage } => {
                if self.books.contains_key(vintage) {
                    return Err(ExchangeError::VintageOpen(*vintage));
                }
                self.books.insert(*vintage, Book::new(self.config.rules));
                Ok(Outcome::default())
            }
            Command::SetBand { vintage, band } => {
                let mut rules = self.book(*vintage).ok_or(ExchangeError::UnknownVintage(*vintage))?.rules();
                rules.band = *band;
                rules.check().map_err(ExchangeError::Config)?;
                self.books.get_mut(vintage).expect("checked").set_band(*band);
                Ok(Outcome::default())
            }
            Command::Issue { to, asset, amount, reason } => {
                let from = if *asset == Asset::Cash { Account::Budget } else { Account::Issuance };
                let op = Op::Move { reason: reason.clone(), legs: vec![Leg::new(*asset, from, to.clone(), *amount)] };
                self.apply(rid, vec![op])
            }
            Command::Move { reason, legs } => {
                if legs.iter().any(|l| l.hold.is_some()) {
                    return Err(LedgerError::NotReversible(
                        0,
                        "a move of the compliance cycle does not post order holds",
                    )
                    .into());
                }
                self.apply(rid, vec![Op::Move { reason: reason.clone(), legs: legs.clone() }])
            }
            Command::Reverse { entry } => {
                let op = self.registry.reversal_of(*entry)?;
                self.apply(rid, vec![op])
            }
            Command::Place { org, vintage, side, kind, quantity } => {
                self.place(rid, at, org, *vintage, *side, *kind, *quantity)
            }
            Command::Cancel { org, order } => {
                let open = self.orders.get(order).ok_or(BookError::UnknownOrder(*order))?;
                if open.org != *org {
                    return Err(ExchangeError::NotYourOrder(*order, org.clone()));
                }
                let open = open.clone();
                let release = hold_left(&open, open.remaining);
                let mut out = self.apply(rid, vec![Op::Release { hold: open.hold, amount: release }])?;
                self.books.get_mut(&open.vintage).expect("order's book").cancel(*order)?;
                self.orders.remove(order);
                out.events.push(Event::Done {
                    order: *order,
                    owner: self.owners[org],
                    remaining: open.remaining,
                    reason: book::DoneReason::Cancelled,
                });
                Ok(out)
            }
            Command::Propose { seller, buyer, vintage, quantity, price } => {
                self.check_window(at)?;
                if seller == buyer {
                    return Err(ExchangeError::SameParty);
                }
                if *price <= 0 {
                    return Err(ExchangeError::PriceNotPositive);
                }
                let book = self.book(*vintage).ok_or(ExchangeError::UnknownVintage(*vintage))?;
                let lot = book.rules().lot;
                if *quantity <= 0 || quantity % lot != 0 {
                    return Err(BookError::QuantityNotWholeLots { quantity: *quantity, lot }.into());
                }
                let hold = self.next_hold;
                let op = Op::Hold {
                    hold,
                    account: Account::org(seller),
                    asset: Asset::Allowance { vintage: *vintage },
                    amount: *quantity,
                };
                let mut out = self.apply(rid, vec![op])?;
                self.next_hold += 1;
                let id = self.next_proposal;
                self.next_proposal += 1;
                self.proposals.insert(
                    id,
                    Proposal {
                        id,
                        seller: seller.clone(),
                        buyer: buyer.clone(),
                        vintage: *vintage,
                        quantity: *quantity,
                        price: *price,
                        hold,
                        at,
                    },
                );
                out.proposal = Some(id);
                Ok(out)
            }
            Command::Confirm { buyer, proposal } => {
                self.check_window(at)?;
                let p = self.proposals.get(proposal).ok_or(ExchangeError::UnknownProposal(*proposal))?.clone();
                if p.buyer != *buyer {
                    return Err(ExchangeError::NotYourProposal(*proposal, buyer.clone()));
                }
                self.check_position(buyer, p.vintage, p.quantity)?;
                let trade = self.trades.len() as u64 + 1;
                let op = Op::Move {
                    reason: Reason::Trade { trade },
                    legs: vec![
                        Leg::new(
                            Asset::Allowance { vintage: p.vintage },
                            Account::org(&p.seller),
                            Account::org(buyer),
                            p.quantity,
                        )
                        .from_hold(p.hold),
                        Leg::new(
                            Asset::Cash,
                            Account::org(buyer),
                            Account::org(&p.seller),
                            book::cost(p.quantity, p.price),
                        ),
                    ],
                };
                let mut out = self.apply(rid, vec![op])?;
                self.proposals.remove(proposal);
                self.trades.push(Trade {
                    id: trade,
                    vintage: p.vintage,
                    price: p.price,
                    quantity: p.quantity,
                    buyer: buyer.clone(),
                    seller: p.seller.clone(),
                    at,
                    entry: out.entries[0],
                    bilateral: true,
                });
                out.trades.push(trade);
                Ok(out)
            }
            Command::Withdraw { org, proposal } => {
                let p = self.proposals.get(proposal).ok_or(ExchangeError::UnknownProposal(*proposal))?.clone();
                if p.buyer != *org && p.seller != *org {
                    return Err(ExchangeError::NotYourProposal(*proposal, org.clone()));
                }
                let out = self.apply(rid, vec![Op::Release { hold: p.hold, amount: p.quantity }])?;
                self.proposals.remove(proposal);
                Ok(out)
            }
        }
    }

    fn apply(&mut self, rid: &str, ops: Vec<Op>) -> Result<Outcome, ExchangeError> {
        let applied = self.registry.apply_once(rid, ops)?;
        Ok(Outcome { entries: applied.seqs, ..Outcome::default() })
    }

    fn check_window(&self, at: i64) -> Result<(), ExchangeError> {
        if self.config.windows.is_empty() {
            return Ok(());
        }
        let minute = ((at + BEIJING_OFFSET_S).rem_euclid(86_400) / 60) as u32;
        if self.config.windows.iter().any(|(s, e)| minute >= *s && minute < *e) {
            return Ok(());
        }
        let shown: Vec<String> = self
            .config
            .windows
            .iter()
            .map(|(s, e)| format!("{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60))
            .collect();
        Err(ExchangeError::MarketClosed(shown.join(", ")))
    }

    fn check_position(&self, org: &str, vintage: i32, adding: Kg) -> Result<(), ExchangeError> {
        let Some(limit) = self.config.position_limit else { return Ok(()) };
        let held = self.registry.balance(&Account::org(org), Asset::Allowance { vintage }).posted;
        let pending: Kg = self
            .orders
            .values()
            .filter(|o| o.org == org && o.vintage == vintage && o.side == Side::Buy)
            .map(|o| o.remaining)
            .sum();
        let would_hold = held + pending + adding;
        if would_hold > limit {
            return Err(ExchangeError::PositionLimit { limit, would_hold });
        }
        Ok(())
    }

    /// The book's owner number of an org; a new org's number is only kept once its order is placed,
    /// so a refused command leaves no trace (replays number owners the same way).
    fn owner(&self, org: &str) -> u32 {
        self.owners.get(org).copied().unwrap_or(self.owner_names.len() as u32)
    }

    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        rid: &str,
        at: i64,
        org: &str,
        vintage: i32,
        side: Side,
        kind: Kind,
        quantity: Kg,
    ) -> Result<Outcome, ExchangeError> {
        self.check_window(at)?;
        let owner = self.owner(org);
        let id = self.next_order;
        let order = NewOrder { id, owner, side, kind, quantity };
        self.books.get(&vintage).ok_or(ExchangeError::UnknownVintage(vintage))?.validate(&order)?;
        if side == Side::Buy {
            self.check_position(org, vintage, quantity)?;
        }
        let (asset, reserve) = match (side, kind) {
            (Side::Sell, _) => (Asset::Allowance { vintage }, quantity),
            (Side::Buy, Kind::Limit { price }) => (Asset::Cash, book::cost(quantity, price)),
            (Side::Buy, Kind::Market { max_cost: Some(c) }) if c > 0 => (Asset::Cash, c),
            (Side::Buy, Kind::Market { .. }) => return Err(ExchangeError::MarketBuyWithoutBudget),
        };
        let hold = self.next_hold;
        // The reservation is checked before the book moves, so a fill can always be posted.
        let account = Account::org(org);
        let available = self.registry.balance(&account, asset).available();
        if available < reserve {
            return Err(LedgerError::InsufficientBalance { account, asset, available, needed: reserve }.into());
        }
        let mut events = Vec::new();
        let book = self.books.get_mut(&vintage).expect("checked above");
        book.submit(order, &mut events)?;
        let mut ops = vec![Op::Hold { hold, account: Account::org(org), asset, amount: reserve }];
        let mut trades = Vec::new();
        let mut spent: i64 = 0;
        let mut next_trade = self.trades.len() as u64 + 1;
        let mut new_trades = Vec::new();
        let mut rested: Option<(i64, Kg)> = None;
        for ev in &events {
            match *ev {
                Event::Fill { maker, taker: _, price, quantity: q, .. } => {
                    let m = self.orders.get_mut(&maker).expect("a resting order is open");
                    m.remaining -= q;
                    let (buyer, seller, buyer_hold, seller_hold) = match side {
                        Side::Buy => (org.to_string(), m.org.clone(), hold, m.hold),
                        Side::Sell => (m.org.clone(), org.to_string(), m.hold, hold),
                    };
                    let value = book::cost(q, price);
                    ops.push(Op::Move {
                        reason: Reason::Trade { trade: next_trade },
                        legs: vec![
                            Leg::new(Asset::Allowance { vintage }, Account::org(&seller), Account::org(&buyer), q)
                                .from_hold(seller_hold),
                            Leg::new(Asset::Cash, Account::org(&buyer), Account::org(&seller), value)
                                .from_hold(buyer_hold),
                        ],
                    });
                    if side == Side::Buy {
                        spent += value;
                        // A limit buy reserved at its limit; it paid the maker's price.
                        if let Kind::Limit { price: limit } = kind {
                            let improvement = book::cost(q, limit) - value;
                            if improvement > 0 {
                                ops.push(Op::Release { hold, amount: improvement });
                                spent += improvement;
                            }
                        }
                    }
                    new_trades.push(Trade {
                        id: next_trade,
                        vintage,
                        price,
                        quantity: q,
                        buyer,
                        seller,
                        at,
                        entry: 0,
                        bilateral: false,
                    });
                    trades.push(next_trade);
                    next_trade += 1;
                }
                Event::Done { order: o, remaining, reason, .. } if o != id => {
                    // A resting order left the book: filled, or cancelled by self-trade prevention.
                    let m = self.orders.remove(&o).expect("a resting order is open");
                    if reason == book::DoneReason::SelfTrade && remaining > 0 {
                        ops.push(Op::Release { hold: m.hold, amount: hold_left(&m, remaining) });
                    }
                }
                Event::Done { remaining, .. } => {
                    // The incoming order is finished: give back what its reservation has left.
                    let left = match side {
                        Side::Sell => remaining,
                        Side::Buy => reserve - spent,
                    };
                    if left > 0 {
                        ops.push(Op::Release { hold, amount: left });
                    }
                }
                Event::Rested { price, remaining, .. } => rested = Some((price, remaining)),
            }
        }
        let applied = self.registry.apply_once(rid, ops).map_err(|e| ExchangeError::Inconsistent(e.to_string()))?;
        self.next_hold += 1;
        self.next_order += 1;
        if !self.owners.contains_key(org) {
            self.owners.insert(org.to_string(), owner);
            self.owner_names.push(org.to_string());
        }
        // Entry seqs: the hold first, then one per op in order; a trade's entry is its move.
        let mut seq_of_trade = applied.seqs.iter().skip(1);
        for mut t in new_trades {
            // Skip releases between moves: find the next entry that is this trade's move.
            for s in seq_of_trade.by_ref() {
                let entry = &self.registry.journal()[(*s - 1) as usize];
                if matches!(&entry.op, Op::Move { reason: Reason::Trade { trade }, .. } if *trade == t.id) {
                    t.entry = *s;
                    break;
                }
            }
            self.trades.push(t);
        }
        if let Some((price, remaining)) = rested {
            self.orders.insert(id, OpenOrder { id, org: org.to_string(), vintage, side, price, remaining, hold, at });
        }
        Ok(Outcome { entries: applied.seqs, order: Some(id), proposal: None, trades, events, repeated: false })
    }
}

fn check_windows(windows: &[(u32, u32)]) -> Result<(), ExchangeError> {
    for (s, e) in windows {
        if s >= e || *e > 24 * 60 {
            return Err(ExchangeError::Config(format!("trading window [{s}, {e}) is not within a day")));
        }
    }
    Ok(())
}

/// What an open order's hold still reserves for `remaining` kgCO2e.
fn hold_left(o: &OpenOrder, remaining: Kg) -> i64 {
    match o.side {
        Side::Sell => remaining,
        Side::Buy => book::cost(remaining, o.price),
    }
}

/// A daily band of ± `percent` around a reference price, on the tick (inward rounding).
pub fn band_around(reference: i64, percent: u32, tick: i64) -> (i64, i64) {
    let delta = reference * percent as i64 / 100;
    let low = ((reference - delta) + tick - 1) / tick * tick;
    let high = (reference + delta) / tick * tick;
    (low.max(tick), high)
}

/// Sum of a registry's cash (fen) over the subsidiaries: what budgets exist in the market.
pub fn total_budget(registry: &Registry) -> Fen {
    registry
        .balances()
        .iter()
        .filter(|((a, s), _)| matches!(a, Account::Org(_)) && *s == Asset::Cash)
        .map(|(_, b)| b.posted)
        .sum()
}
