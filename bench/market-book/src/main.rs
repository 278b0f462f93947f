//! Runs one deterministic stream of order operations (limit orders around a moving mid, cancels of
//! live orders, market orders) through DualCarbon's book and through OrderBook-rs, on the calling
//! thread, and prints operations per second for each, their ratio and the traded quantity of each
//! (equal when both match by price-time priority).
//!
//! Usage: market-book-bench [OPERATIONS] [ROUNDS]

use std::time::Instant;

#[derive(Clone, Copy)]
enum Op {
    Limit { id: u64, buy: bool, price: i64, lots: i64 },
    Market { id: u64, buy: bool, lots: i64 },
    Cancel { id: u64 },
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn stream(n: usize) -> Vec<Op> {
    let mut r = Lcg(20251204);
    let mut live: Vec<u64> = Vec::new();
    let mut ops = Vec::with_capacity(n);
    let mut mid: i64 = 6000;
    for i in 0..n {
        let id = i as u64 + 1;
        let roll = r.next() % 100;
        if roll < 60 || live.is_empty() {
            let buy = r.next() % 2 == 0;
            // Prices within ±20 ticks of the mid, on the passive side mostly; some cross.
            let off = (r.next() % 20) as i64 - 3;
            let price = if buy { mid - off } else { mid + off };
            ops.push(Op::Limit { id, buy, price, lots: 1 + (r.next() % 10) as i64 });
            live.push(id);
        } else if roll < 88 {
            let k = (r.next() as usize) % live.len();
            ops.push(Op::Cancel { id: live.swap_remove(k) });
        } else {
            ops.push(Op::Market { id, buy: r.next() % 2 == 0, lots: 1 + (r.next() % 5) as i64 });
        }
        if i % 1000 == 0 {
            mid += (r.next() % 5) as i64 - 2;
        }
    }
    ops
}

fn run_ours(ops: &[Op]) -> (f64, i64) {
    use market::book::{Book, Event, Kind, NewOrder, Rules, Side};
    let mut book = Book::new(Rules::default());
    let mut events = Vec::with_capacity(64);
    let mut traded = 0i64;
    let t = Instant::now();
    for op in ops {
        events.clear();
        match *op {
            Op::Limit { id, buy, price, lots } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let _ = book.submit(
                    NewOrder { id, owner: id as u32, side, kind: Kind::Limit { price }, quantity: lots * 1000 },
                    &mut events,
                );
            }
            Op::Market { id, buy, lots } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let _ = book.submit(
                    NewOrder {
                        id,
                        owner: id as u32,
                        side,
                        kind: Kind::Market { max_cost: None },
                        quantity: lots * 1000,
                    },
                    &mut events,
                );
            }
            Op::Cancel { id } => {
                let _ = book.cancel(id);
            }
        }
        for e in &events {
            if let Event::Fill { quantity, .. } = e {
                traded += quantity / 1000;
            }
        }
    }
    (t.elapsed().as_secs_f64(), traded)
}

/// The same stream through the whole exchange: every order reserves allowances or budget in the
/// registry, every fill settles delivery versus payment, every cancel releases (100 funded subsidiaries).
fn run_exchange(ops: &[Op]) -> (f64, i64) {
    use market::book::{Kind, Side};
    use market::exchange::{Command, Config, Exchange};
    use market::ledger::{Account, Asset, Reason};
    let mut x = Exchange::new(Config::default()).expect("default config");
    x.execute("open", 0, Command::OpenVintage { vintage: 2025 }).expect("open");
    let orgs: Vec<String> = (0..100).map(|i| format!("ORG{i:03}")).collect();
    for o in &orgs {
        let a = Command::Issue {
            to: Account::org(o),
            asset: Asset::Allowance { vintage: 2025 },
            amount: 1_000_000_000_000,
            reason: Reason::Issue,
        };
        x.execute(&format!("a{o}"), 0, a).expect("issue");
        let c = Command::Issue {
            to: Account::org(o),
            asset: Asset::Cash,
            amount: 1_000_000_000_000_000,
            reason: Reason::Fund,
        };
        x.execute(&format!("c{o}"), 0, c).expect("fund");
    }
    let mut owner_of = std::collections::HashMap::new();
    let mut traded = 0i64;
    let t = Instant::now();
    for (i, op) in ops.iter().enumerate() {
        let rid = i.to_string();
        let out = match *op {
            Op::Limit { id, buy, price, lots } => {
                let org = &orgs[(id % 100) as usize];
                let side = if buy { Side::Buy } else { Side::Sell };
                let out = x.execute(
                    &rid,
                    0,
                    Command::Place {
                        org: org.clone(),
                        vintage: 2025,
                        side,
                        kind: Kind::Limit { price },
                        quantity: lots * 1000,
                    },
                );
                if let Ok(o) = &out {
                    owner_of.insert(id, (o.order, org.clone()));
                }
                out
            }
            Op::Market { id, buy, lots } => {
                let org = &orgs[(id % 100) as usize];
                let side = if buy { Side::Buy } else { Side::Sell };
                let max_cost = buy.then_some(lots * 100_000);
                x.execute(
                    &rid,
                    0,
                    Command::Place {
                        org: org.clone(),
                        vintage: 2025,
                        side,
                        kind: Kind::Market { max_cost },
                        quantity: lots * 1000,
                    },
                )
            }
            Op::Cancel { id } => match owner_of.remove(&id) {
                Some((Some(order), org)) => x.execute(&rid, 0, Command::Cancel { org, order }),
                _ => continue,
            },
        };
        if let Ok(o) = out {
            traded += o.trades.len() as i64;
        }
    }
    (t.elapsed().as_secs_f64(), traded)
}

fn run_peer(ops: &[Op]) -> (f64, i64) {
    use orderbook_rs::prelude::{Id, Side, TimeInForce};
    use orderbook_rs::OrderBook;
    let book: OrderBook = OrderBook::new("CEA-2025");
    let mut traded = 0i64;
    let t = Instant::now();
    for op in ops {
        match *op {
            Op::Limit { id, buy, price, lots } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                // A limit order that crosses trades first; the peer's add_limit_order matches too.
                if let Ok(r) = book.add_limit_order_with_result(
                    Id::from_u64(id),
                    price as u128,
                    lots as u64,
                    side,
                    TimeInForce::Gtc,
                    None,
                ) {
                    traded +=
                        r.1.and_then(|t| t.match_result.executed_quantity().ok())
                            .map(|q| q.as_u64() as i64)
                            .unwrap_or(0);
                }
            }
            Op::Market { id, buy, lots } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                if let Ok(m) = book.submit_market_order(Id::from_u64(id), lots as u64, side) {
                    traded += m.executed_quantity().map(|q| q.as_u64() as i64).unwrap_or(0);
                }
            }
            Op::Cancel { id } => {
                let _ = book.cancel_order(Id::from_u64(id));
            }
        }
    }
    (t.elapsed().as_secs_f64(), traded)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let ops = stream(n);
    let (mut best_ours, mut best_peer) = (f64::MAX, f64::MAX);
    let (mut traded_ours, mut traded_peer) = (0, 0);
    // Alternate the two so both see the same machine noise; keep each one's best round.
    for _ in 0..rounds {
        let (s, t) = run_ours(&ops);
        best_ours = best_ours.min(s);
        traded_ours = t;
        let (s, t) = run_peer(&ops);
        best_peer = best_peer.min(s);
        traded_peer = t;
    }
    let (exchange_s, exchange_trades) = run_exchange(&ops);
    let ours = n as f64 / best_ours;
    let peer = n as f64 / best_peer;
    println!("operations {n}, rounds {rounds}, best of each");
    println!("dualcarbon market::book  {:>12.0} ops/s  traded {traded_ours} t", ours);
    println!("orderbook-rs 0.15.3      {:>12.0} ops/s  traded {traded_peer} t", peer);
    println!("ratio dualcarbon/orderbook-rs {:.2}", ours / peer);
    println!(
        "dualcarbon exchange (book + registry holds + DvP settlement, one round) {:>10.0} ops/s, {exchange_trades} trades",
        n as f64 / exchange_s
    );
}
