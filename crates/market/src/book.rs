//! The continuous order book of one vintage: limit and market orders, price-time priority,
//! partial fills, cancel, tick and lot sizes, an optional price band, self-trade prevention.
//!
//! The book knows owners and quantities only; what an order reserves and how a fill settles is the
//! exchange's ([`crate::exchange`]). Prices are integer fen per tonne, quantities integer kgCO2e in
//! whole lots. Orders live in a slab with an intrusive FIFO list per price level, so adding,
//! cancelling and filling are O(log levels) with no allocation once warm.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type OrderId = u64;
pub type Owner = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Kind {
    /// Rests at `price` (fen per tonne) for what does not trade at once.
    Limit { price: i64 },
    /// Trades at once against the book; what cannot trade is cancelled. A buy spends at most
    /// `max_cost` fen (what the buyer reserved).
    Market { max_cost: Option<i64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub id: OrderId,
    pub owner: Owner,
    pub side: Side,
    pub kind: Kind,
    /// kgCO2e, a whole number of lots.
    pub quantity: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Prices are multiples of this (fen per tonne); 1 fen = 0.01 yuan, the national market's tick.
    pub tick: i64,
    /// Quantities are multiples of this (kgCO2e), a whole number of tonnes so that every trade's
    /// value is whole fen; 1,000 kg = 1 t, the national market's step.
    pub lot: i64,
    /// Limit prices outside [low, high] are refused (a daily band around the reference price).
    pub band: Option<(i64, i64)>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules { tick: 1, lot: 1000, band: None }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// `quantity` traded at the resting (maker) order's price.
    Fill { maker: OrderId, maker_owner: Owner, taker: OrderId, taker_owner: Owner, price: i64, quantity: i64 },
    /// An order's rest left the book: cancelled by its owner, the unfilled rest of a market order,
    /// or a resting order of the taker's own (self-trade prevention cancels the older order).
    Done { order: OrderId, owner: Owner, remaining: i64, reason: DoneReason },
    /// The rest of a limit order now rests in the book.
    Rested { order: OrderId, price: i64, remaining: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneReason {
    Cancelled,
    MarketRest,
    SelfTrade,
    Filled,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("price {price} is not a multiple of the tick {tick}")]
    PriceNotOnTick { price: i64, tick: i64 },
    #[error("price {price} is outside today's band [{low}, {high}]")]
    PriceOutsideBand { price: i64, low: i64, high: i64 },
    #[error("price must be positive")]
    PriceNotPositive,
    #[error("quantity {quantity} is not a positive multiple of the lot {lot}")]
    QuantityNotWholeLots { quantity: i64, lot: i64 },
    #[error("order id {0} is already in use")]
    DuplicateOrderId(OrderId),
    #[error("no open order {0}")]
    UnknownOrder(OrderId),
}

impl BookError {
    pub fn code(&self) -> &'static str {
        match self {
            BookError::PriceNotOnTick { .. } => "price_not_on_tick",
            BookError::PriceOutsideBand { .. } => "price_outside_band",
            BookError::PriceNotPositive => "price_not_positive",
            BookError::QuantityNotWholeLots { .. } => "quantity_not_whole_lots",
            BookError::DuplicateOrderId(_) => "duplicate_order_id",
            BookError::UnknownOrder(_) => "unknown_order",
        }
    }
}

/// What `quantity` kgCO2e cost at `price` fen per tonne (exact: quantities are whole tonnes).
pub fn cost(quantity: i64, price: i64) -> i64 {
    quantity / 1000 * price
}

impl Rules {
    /// Refuses rules under which a trade's value would not be whole fen or a price could not be set.
    pub fn check(&self) -> Result<(), String> {
        if self.tick <= 0 {
            return Err(format!("tick must be positive, not {}", self.tick));
        }
        if self.lot <= 0 || self.lot % 1000 != 0 {
            return Err(format!(
                "lot must be a positive whole number of tonnes (a multiple of 1000 kg), not {}",
                self.lot
            ));
        }
        if let Some((low, high)) = self.band {
            if low <= 0 || high < low {
                return Err(format!("band [{low}, {high}] is empty or not positive"));
            }
        }
        Ok(())
    }
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    id: OrderId,
    owner: Owner,
    side: Side,
    price: i64,
    remaining: i64,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
    total: i64,
}

/// (price, total quantity) per level, best first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depth {
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
}

/// A resting order, as the book shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resting {
    pub id: OrderId,
    pub owner: Owner,
    pub side: Side,
    pub price: i64,
    pub remaining: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Book {
    rules: Rules,
    nodes: Vec<Node>,
    free: Vec<u32>,
    index: FxHashMap<OrderId, u32>,
    bids: BTreeMap<i64, Level>,
    asks: BTreeMap<i64, Level>,
}

impl Book {
    pub fn new(rules: Rules) -> Book {
        Book { rules, ..Book::default() }
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    pub fn set_band(&mut self, band: Option<(i64, i64)>) {
        self.rules.band = band;
    }

    pub fn best_bid(&self) -> Option<i64> {
        self.bids.keys().next_back().copied()
    }

    pub fn best_ask(&self) -> Option<i64> {
        self.asks.keys().next().copied()
    }

    pub fn order(&self, id: OrderId) -> Option<Resting> {
        self.index.get(&id).map(|&slot| {
            let n = self.nodes[slot as usize];
            Resting { id: n.id, owner: n.owner, side: n.side, price: n.price, remaining: n.remaining }
        })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Depth: (price, total quantity) per level, best first, up to `levels` per side.
    pub fn depth(&self, levels: usize) -> Depth {
        let bids = self.bids.iter().rev().take(levels).map(|(p, l)| (*p, l.total)).collect();
        let asks = self.asks.iter().take(levels).map(|(p, l)| (*p, l.total)).collect();
        Depth { bids, asks }
    }

    /// Every resting order, bids best first then asks best first, in time order within a level.
    pub fn resting(&self) -> Vec<Resting> {
        let mut out = Vec::with_capacity(self.index.len());
        for level in self.bids.values().rev().chain(self.asks.values()) {
            let mut at = level.head;
            while at != NIL {
                let n = self.nodes[at as usize];
                out.push(Resting { id: n.id, owner: n.owner, side: n.side, price: n.price, remaining: n.remaining });
                at = n.next;
            }
        }
        out
    }

    /// Checks an order against the rules without touching the book.
    pub fn validate(&self, order: &NewOrder) -> Result<(), BookError> {
        let lot = self.rules.lot;
        if order.quantity <= 0 || order.quantity % lot != 0 {
            return Err(BookError::QuantityNotWholeLots { quantity: order.quantity, lot });
        }
        if let Kind::Limit { price } = order.kind {
            if price <= 0 {
                return Err(BookError::PriceNotPositive);
            }
            if price % self.rules.tick != 0 {
                return Err(BookError::PriceNotOnTick { price, tick: self.rules.tick });
            }
            if let Some((low, high)) = self.rules.band {
                if price < low || price > high {
                    return Err(BookError::PriceOutsideBand { price, low, high });
                }
            }
        }
        if self.index.contains_key(&order.id) {
            return Err(BookError::DuplicateOrderId(order.id));
        }
        Ok(())
    }

    /// Matches an order and rests what is left of a limit order; the events say what happened, in order.
    pub fn submit(&mut self, order: NewOrder, events: &mut Vec<Event>) -> Result<(), BookError> {
        self.validate(&order)?;
        let mut remaining = order.quantity;
        let mut budget = match order.kind {
            Kind::Market { max_cost: Some(c) } if order.side == Side::Buy => Some(c),
            _ => None,
        };
        let limit = match order.kind {
            Kind::Limit { price } => Some(price),
            Kind::Market { .. } => None,
        };
        let lot = self.rules.lot;
        while remaining > 0 {
            let best = match order.side {
                Side::Buy => self.asks.iter().next().map(|(p, l)| (*p, l.head)),
                Side::Sell => self.bids.iter().next_back().map(|(p, l)| (*p, l.head)),
            };
            let Some((price, head)) = best else { break };
            let crosses = match (order.side, limit) {
                (_, None) => true,
                (Side::Buy, Some(l)) => price <= l,
                (Side::Sell, Some(l)) => price >= l,
            };
            if !crosses {
                break;
            }
            let maker = self.nodes[head as usize];
            if maker.owner == order.owner {
                self.unlink(head);
                events.push(Event::Done {
                    order: maker.id,
                    owner: maker.owner,
                    remaining: maker.remaining,
                    reason: DoneReason::SelfTrade,
                });
                continue;
            }
            let mut quantity = remaining.min(maker.remaining);
            if let Some(b) = budget {
                // Whole lots the buyer's budget still pays for at this price.
                let affordable = (b / price) * 1000 / lot * lot;
                quantity = quantity.min(affordable);
                if quantity == 0 {
                    break;
                }
                budget = Some(b - cost(quantity, price));
            }
            events.push(Event::Fill {
                maker: maker.id,
                maker_owner: maker.owner,
                taker: order.id,
                taker_owner: order.owner,
                price,
                quantity,
            });
            remaining -= quantity;
            if quantity == maker.remaining {
                self.unlink(head);
                events.push(Event::Done {
                    order: maker.id,
                    owner: maker.owner,
                    remaining: 0,
                    reason: DoneReason::Filled,
                });
            } else {
                self.nodes[head as usize].remaining -= quantity;
                let levels = match order.side {
                    Side::Buy => &mut self.asks,
                    Side::Sell => &mut self.bids,
                };
                levels.get_mut(&price).expect("level of a resting order").total -= quantity;
            }
        }
        match (limit, remaining) {
            (_, 0) => events.push(Event::Done {
                order: order.id,
                owner: order.owner,
                remaining: 0,
                reason: DoneReason::Filled,
            }),
            (Some(price), _) => {
                self.rest(order.id, order.owner, order.side, price, remaining);
                events.push(Event::Rested { order: order.id, price, remaining });
            }
            (None, _) => events.push(Event::Done {
                order: order.id,
                owner: order.owner,
                remaining,
                reason: DoneReason::MarketRest,
            }),
        }
        Ok(())
    }

    /// Takes a resting order out of the book; answers what it had left.
    pub fn cancel(&mut self, id: OrderId) -> Result<Resting, BookError> {
        let slot = *self.index.get(&id).ok_or(BookError::UnknownOrder(id))?;
        let n = self.nodes[slot as usize];
        self.unlink(slot);
        Ok(Resting { id: n.id, owner: n.owner, side: n.side, price: n.price, remaining: n.remaining })
    }

    fn rest(&mut self, id: OrderId, owner: Owner, side: Side, price: i64, remaining: i64) {
        let node = Node { id, owner, side, price, remaining, prev: NIL, next: NIL };
        let slot = match self.free.pop() {
            Some(s) => {
                self.nodes[s as usize] = node;
                s
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.index.insert(id, slot);
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = levels.entry(price).or_insert(Level { head: NIL, tail: NIL, total: 0 });
        level.total += remaining;
        if level.tail == NIL {
            level.head = slot;
        } else {
            self.nodes[level.tail as usize].next = slot;
            self.nodes[slot as usize].prev = level.tail;
        }
        level.tail = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let n = self.nodes[slot as usize];
        let levels = match n.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = levels.get_mut(&n.price).expect("level of a resting order");
        level.total -= n.remaining;
        if n.prev == NIL {
            level.head = n.next;
        } else {
            self.nodes[n.prev as usize].next = n.next;
        }
        if n.next == NIL {
            level.tail = n.prev;
        } else {
            self.nodes[n.next as usize].prev = n.prev;
        }
        if level.head == NIL {
            levels.remove(&n.price);
        }
        self.index.remove(&n.id);
        self.free.push(slot);
    }
}
