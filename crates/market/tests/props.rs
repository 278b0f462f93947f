//! Property tests over random command sequences: the registry's invariants after every step,
//! replays that give the same state, and the book against a naive reference matcher.

use market::book::{Book, Event, Kind, NewOrder, Rules, Side};
use market::exchange::{Command, Config, Exchange};
use market::ledger::{Account, Asset, Leg, OffsetKind, Reason, Registry};
use proptest::prelude::*;
use std::collections::BTreeMap;

const ORGS: [&str; 4] = ["A", "B", "C", "D"];
const VINTAGES: [i32; 2] = [2024, 2025];

#[derive(Clone, Debug)]
enum Step {
    Allocate { org: usize, vintage: usize, t: i64 },
    Fund { org: usize, fen: i64 },
    Limit { org: usize, vintage: usize, buy: bool, price: i64, t: i64 },
    Market { org: usize, vintage: usize, buy: bool, t: i64, budget: i64 },
    Cancel { nth: usize, org_hint: usize },
    Transfer { from: usize, to: usize, vintage: usize, t: i64 },
    Propose { seller: usize, buyer: usize, vintage: usize, t: i64, price: i64 },
    Confirm { nth: usize },
    Withdraw { nth: usize },
    Surrender { org: usize, vintage: usize, t: i64 },
    Borrow { org: usize, t: i64 },
    MoveBorrowed { from: usize, to: usize, t: i64 },
    Offset { org: usize, t: i64 },
    Correct { back: usize },
    Retry { back: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let org = 0..ORGS.len();
    let vin = 0..VINTAGES.len();
    prop_oneof![
        (org.clone(), vin.clone(), 1i64..500).prop_map(|(org, vintage, t)| Step::Allocate { org, vintage, t }),
        (org.clone(), 1i64..2_000_000).prop_map(|(org, fen)| Step::Fund { org, fen }),
        (org.clone(), vin.clone(), any::<bool>(), 4000i64..4020, 1i64..60)
            .prop_map(|(org, vintage, buy, price, t)| Step::Limit { org, vintage, buy, price, t }),
        (org.clone(), vin.clone(), any::<bool>(), 1i64..60, 0i64..300_000)
            .prop_map(|(org, vintage, buy, t, budget)| Step::Market { org, vintage, buy, t, budget }),
        (0usize..50, org.clone()).prop_map(|(nth, org_hint)| Step::Cancel { nth, org_hint }),
        (org.clone(), org.clone(), vin.clone(), 1i64..100).prop_map(|(from, to, vintage, t)| Step::Transfer {
            from,
            to,
            vintage,
            t
        }),
        (org.clone(), org.clone(), vin.clone(), 1i64..80, 3000i64..5000)
            .prop_map(|(seller, buyer, vintage, t, price)| Step::Propose { seller, buyer, vintage, t, price }),
        (0usize..10).prop_map(|nth| Step::Confirm { nth }),
        (0usize..10).prop_map(|nth| Step::Withdraw { nth }),
        (org.clone(), vin.clone(), 1i64..100).prop_map(|(org, vintage, t)| Step::Surrender { org, vintage, t }),
        (org.clone(), 1i64..50).prop_map(|(org, t)| Step::Borrow { org, t }),
        (org.clone(), org.clone(), 1i64..50).prop_map(|(from, to, t)| Step::MoveBorrowed { from, to, t }),
        (org.clone(), 1i64..50).prop_map(|(org, t)| Step::Offset { org, t }),
        (0usize..30).prop_map(|back| Step::Correct { back }),
        (0usize..30).prop_map(|back| Step::Retry { back }),
    ]
}

fn command(x: &Exchange, s: &Step) -> Command {
    let org = |i: usize| ORGS[i].to_string();
    let v = |i: usize| VINTAGES[i];
    match *s {
        Step::Allocate { org: o, vintage, t } => Command::Issue {
            to: Account::Org(org(o)),
            asset: Asset::Allowance { vintage: v(vintage) },
            amount: t * 1000,
            reason: Reason::Allocation { period: v(vintage) },
        },
        Step::Fund { org: o, fen } => {
            Command::Issue { to: Account::Org(org(o)), asset: Asset::Cash, amount: fen, reason: Reason::Fund }
        }
        Step::Limit { org: o, vintage, buy, price, t } => Command::Place {
            org: org(o),
            vintage: v(vintage),
            side: if buy { Side::Buy } else { Side::Sell },
            kind: Kind::Limit { price },
            quantity: t * 1000,
        },
        Step::Market { org: o, vintage, buy, t, budget } => Command::Place {
            org: org(o),
            vintage: v(vintage),
            side: if buy { Side::Buy } else { Side::Sell },
            kind: Kind::Market { max_cost: buy.then_some(budget) },
            quantity: t * 1000,
        },
        Step::Cancel { nth, org_hint } => {
            let orders = x.open_orders();
            match orders.get(nth % orders.len().max(1)) {
                // Sometimes the owner, sometimes someone else (refused).
                Some(o) if nth % 5 != 0 => Command::Cancel { org: o.org.clone(), order: o.id },
                Some(o) => Command::Cancel { org: org(org_hint), order: o.id },
                None => Command::Cancel { org: org(org_hint), order: 999_999 },
            }
        }
        Step::Transfer { from, to, vintage, t } => Command::Move {
            reason: Reason::Transfer,
            legs: vec![Leg::new(
                Asset::Allowance { vintage: v(vintage) },
                Account::Org(org(from)),
                Account::Org(org(to)),
                t * 1000,
            )],
        },
        Step::Propose { seller, buyer, vintage, t, price } => {
            Command::Propose { seller: org(seller), buyer: org(buyer), vintage: v(vintage), quantity: t * 1000, price }
        }
        Step::Confirm { nth } => {
            let ps: Vec<_> = x.proposals().collect();
            match ps.get(nth % ps.len().max(1)) {
                Some(p) => Command::Confirm { buyer: p.buyer.clone(), proposal: p.id },
                None => Command::Confirm { buyer: org(0), proposal: 999 },
            }
        }
        Step::Withdraw { nth } => {
            let ps: Vec<_> = x.proposals().collect();
            match ps.get(nth % ps.len().max(1)) {
                Some(p) => Command::Withdraw { org: p.seller.clone(), proposal: p.id },
                None => Command::Withdraw { org: org(0), proposal: 999 },
            }
        }
        Step::Surrender { org: o, vintage, t } => Command::Move {
            reason: Reason::Surrender { period: v(vintage) },
            legs: vec![Leg::new(
                Asset::Allowance { vintage: v(vintage) },
                Account::Org(org(o)),
                Account::Retirement,
                t * 1000,
            )],
        },
        Step::Borrow { org: o, t } => Command::Issue {
            to: Account::Org(org(o)),
            asset: Asset::Borrowed { vintage: 2026 },
            amount: t * 1000,
            reason: Reason::Borrow { period: 2025 },
        },
        Step::MoveBorrowed { from, to, t } => Command::Move {
            reason: Reason::Transfer,
            legs: vec![Leg::new(
                Asset::Borrowed { vintage: 2026 },
                Account::Org(org(from)),
                Account::Org(org(to)),
                t * 1000,
            )],
        },
        Step::Offset { org: o, t } => Command::Issue {
            to: Account::Org(org(o)),
            asset: Asset::Offset { kind: OffsetKind::Ccer, vintage: 2025 },
            amount: t * 1000,
            reason: Reason::Issue,
        },
        Step::Correct { back } => {
            Command::Reverse { entry: (x.registry().next_seq() as usize).saturating_sub(back + 1).max(1) as u64 }
        }
        Step::Retry { .. } => unreachable!("handled by the runner"),
    }
}

/// What a test compares of two exchanges: balances, holds, trades, resting orders, open orders.
fn state(x: &Exchange) -> String {
    let books: BTreeMap<i32, _> = x.vintages().map(|v| (v, x.book(v).unwrap().resting())).collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        x.registry().balances(),
        x.registry().holds(),
        x.trades(),
        books,
        x.open_orders()
    )
}

fn check_invariants(
    x: &Exchange,
    retired_before: &BTreeMap<Asset, i64>,
) -> Result<BTreeMap<Asset, i64>, TestCaseError> {
    let r = x.registry();
    // Σ holdings + Σ retired + Σ cancelled = Σ issued, per vintage (sources included, every asset sums to 0).
    prop_assert!(r.conservation_gaps().is_empty(), "conservation: {:?}", r.conservation_gaps());
    prop_assert!(r.overdrawn().is_empty(), "overdrawn: {:?}", r.overdrawn());
    let mut retired = BTreeMap::new();
    for ((account, asset), b) in r.balances() {
        if account == Account::Retirement || account == Account::Cancellation {
            retired.insert(asset, b.posted);
            prop_assert_eq!(b.held, 0, "nothing is ever held in retirement");
        }
    }
    for (asset, before) in retired_before {
        prop_assert!(retired.get(asset).copied().unwrap_or(0) >= *before, "retired {:?} decreased", asset);
    }
    for v in x.vintages() {
        let b = x.book(v).unwrap();
        if let (Some(bid), Some(ask)) = (b.best_bid(), b.best_ask()) {
            prop_assert!(bid < ask, "book {} left crossed: {} >= {}", v, bid, ask);
        }
    }
    // Every open order's hold reserves exactly what the order may still need.
    for o in x.open_orders() {
        let h = r.hold(o.hold).expect("an open order has a hold");
        let need = match o.side {
            Side::Sell => o.remaining,
            Side::Buy => o.remaining / 1000 * o.price,
        };
        prop_assert_eq!(h.remaining, need, "hold of order {}", o.id);
    }
    // Borrowed allowances only ever sit with their borrower or in retirement.
    Ok(retired)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_command_and_replays_agree(steps in prop::collection::vec(step(), 1..120)) {
        let mut x = Exchange::new(Config::default()).unwrap();
        for v in VINTAGES {
            x.execute(&format!("open-{v}"), 0, Command::OpenVintage { vintage: v }).unwrap();
        }
        let mut retired = BTreeMap::new();
        let mut sent: Vec<(String, Command)> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            let (rid, cmd) = match s {
                Step::Retry { back } if !sent.is_empty() => sent[sent.len() - 1 - back % sent.len()].clone(),
                Step::Retry { .. } => continue,
                _ => (format!("r{i}"), command(&x, s)),
            };
            let before = state(&x);
            let result = x.execute(&rid, i as i64, cmd.clone());
            match &result {
                Ok(out) if out.repeated => prop_assert_eq!(before, state(&x), "a retried request changed the state"),
                Ok(_) => {}
                Err(e) => {
                    prop_assert_ne!(e.code(), "internal_inconsistency");
                    prop_assert_eq!(before, state(&x), "a refused command ({}) changed the state", e);
                }
            }
            if matches!(cmd, Command::Move { ref legs, .. } if legs.iter().any(|l| matches!(l.asset, Asset::Borrowed { .. }) && l.to != Account::Retirement)) {
                prop_assert!(result.is_err(), "borrowed allowances moved to another subsidiary");
            }
            if result.is_ok() {
                sent.push((rid, cmd));
            }
            retired = check_invariants(&x, &retired)?;
        }
        // The command log replays to the same state, and the journal replays to the same balances.
        let again = Exchange::replay(Config::default(), x.log()).unwrap();
        prop_assert_eq!(state(&again), state(&x));
        let registry = Registry::replay(x.registry().journal()).unwrap();
        prop_assert_eq!(format!("{:?}", registry.balances()), format!("{:?}", x.registry().balances()));
        prop_assert_eq!(format!("{:?}", registry.holds()), format!("{:?}", x.registry().holds()));
    }

    #[test]
    fn the_book_matches_like_the_naive_reference(orders in prop::collection::vec((any::<bool>(), 0u32..4, prop::option::weighted(0.85, 95i64..106), 1i64..20, any::<bool>()), 1..200)) {
        let mut book = Book::new(Rules::default());
        let mut naive = Naive::default();
        let mut ids = Vec::new();
        for (i, (buy, owner, price, t, cancel)) in orders.into_iter().enumerate() {
            let id = i as u64 + 1;
            if cancel && !ids.is_empty() {
                let target = ids[i % ids.len()];
                let a = book.cancel(target).map(|r| r.remaining).ok();
                let b = naive.cancel(target);
                prop_assert_eq!(a, b);
                continue;
            }
            let side = if buy { Side::Buy } else { Side::Sell };
            let kind = match price { Some(p) => Kind::Limit { price: p }, None => Kind::Market { max_cost: None } };
            let mut ev = Vec::new();
            book.submit(NewOrder { id, owner, side, kind, quantity: t * 1000 }, &mut ev).unwrap();
            let fills: Vec<(u64, i64, i64)> = ev.iter().filter_map(|e| match e { Event::Fill { maker, price, quantity, .. } => Some((*maker, *price, *quantity)), _ => None }).collect();
            let expected = naive.submit(id, owner, side, price, t * 1000);
            prop_assert_eq!(fills, expected);
            ids.push(id);
            let resting: Vec<(u64, i64, i64)> = book.resting().iter().map(|r| (r.id, r.price, r.remaining)).collect();
            prop_assert_eq!(resting, naive.resting());
        }
    }
}

/// The reference matcher: a flat list scanned in full for every order (obviously right, slow).
#[derive(Default)]
struct Naive {
    orders: Vec<(u64, u32, Side, i64, i64, usize)>, // id, owner, side, price, remaining, time
    time: usize,
}

impl Naive {
    fn submit(&mut self, id: u64, owner: u32, side: Side, limit: Option<i64>, mut qty: i64) -> Vec<(u64, i64, i64)> {
        let mut fills = Vec::new();
        while qty > 0 {
            let best = self
                .orders
                .iter()
                .enumerate()
                .filter(|(_, o)| o.2 != side)
                .filter(|(_, o)| match (side, limit) {
                    (_, None) => true,
                    (Side::Buy, Some(l)) => o.3 <= l,
                    (Side::Sell, Some(l)) => o.3 >= l,
                })
                .min_by_key(|(_, o)| (if side == Side::Buy { o.3 } else { -o.3 }, o.5))
                .map(|(i, _)| i);
            let Some(i) = best else { break };
            if self.orders[i].1 == owner {
                self.orders.remove(i);
                continue;
            }
            let q = qty.min(self.orders[i].4);
            fills.push((self.orders[i].0, self.orders[i].3, q));
            qty -= q;
            self.orders[i].4 -= q;
            if self.orders[i].4 == 0 {
                self.orders.remove(i);
            }
        }
        if let (Some(p), true) = (limit, qty > 0) {
            self.time += 1;
            self.orders.push((id, owner, side, p, qty, self.time));
        }
        fills
    }

    fn cancel(&mut self, id: u64) -> Option<i64> {
        let i = self.orders.iter().position(|o| o.0 == id)?;
        Some(self.orders.remove(i).4)
    }

    fn resting(&self) -> Vec<(u64, i64, i64)> {
        let mut bids: Vec<_> = self.orders.iter().filter(|o| o.2 == Side::Buy).collect();
        bids.sort_by_key(|o| (-o.3, o.5));
        let mut asks: Vec<_> = self.orders.iter().filter(|o| o.2 == Side::Sell).collect();
        asks.sort_by_key(|o| (o.3, o.5));
        bids.into_iter().chain(asks).map(|o| (o.0, o.3, o.4)).collect()
    }
}
