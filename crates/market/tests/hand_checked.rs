//! Allocation, compliance, book and exchange cases worked out by hand (the arithmetic is written
//! beside each expected figure).

use market::allocation::{allocate, true_up, Basis, OrgInputs, Sourced};
use market::book::{Book, DoneReason, Event, Kind, NewOrder, Rules, Side};
use market::compliance::{
    average_price_before, borrow_entry, penalty_fen, plan_surrender, report_line, reward_fen, Already,
};
use market::exchange::{Command, Config, Exchange, ExchangeError};
use market::ledger::{Account, Asset, Leg, OffsetKind, Reason};
use market::plan::{Date, Output, Plan};
use market::Dec;
use std::collections::BTreeMap;

const PLAN: &str = r#"
[period]
year = 2025
cap_t = "10000"
reserve_t = "500"
surrender_deadline = "2026-06-30"
offset_cap = "0.05"
preallocation_share = "0.7"
penalty_multiple = "5"
borrowing = { threshold = "0.10", max_share = "0.5" }

[[allocation]]
org = "GF"
method = "grandfathering"
base_year = 2024
coefficient = "0.98"

[[allocation]]
org = "HI"
method = "historical_intensity"
output = "business_volume"
base_year = 2024
coefficient = "0.96"

[[allocation]]
org = "BM"
method = "benchmark"
output = "dc_it_energy_kwh"
benchmark = "0.877"
corrections = { cooling = "1.05" }

[[allocation]]
org = "HY"
method = "hybrid"
base_year = 2024
coefficient = "0.98"
output = "traffic_tb"
benchmark = "90"
benchmark_weight = "0.25"
"#;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn inputs() -> BTreeMap<String, OrgInputs> {
    let mut m = BTreeMap::new();
    let mut gf = OrgInputs::default();
    gf.emissions_kg.insert(2024, Sourced::new(1_234_567_000, "snapshot 7"));
    m.insert("GF".to_string(), gf);
    let mut hi = OrgInputs::default();
    hi.emissions_kg.insert(2024, Sourced::new(500_000_000, "snapshot 7"));
    hi.output.insert((Output::BusinessVolume, 2024), Sourced::new(d("2000000"), "indicator"));
    hi.output.insert((Output::BusinessVolume, 2025), Sourced::new(d("2200000"), "indicator"));
    m.insert("HI".to_string(), hi);
    let mut bm = OrgInputs::default();
    bm.output.insert((Output::DcItEnergyKwh, 2024), Sourced::new(d("900000"), "meters"));
    bm.output.insert((Output::DcItEnergyKwh, 2025), Sourced::new(d("1000000"), "meters"));
    m.insert("BM".to_string(), bm);
    let mut hy = OrgInputs::default();
    hy.emissions_kg.insert(2024, Sourced::new(1_000_000, "snapshot 7"));
    hy.output.insert((Output::TrafficTb, 2024), Sourced::new(d("9000"), "indicator"));
    hy.output.insert((Output::TrafficTb, 2025), Sourced::new(d("10000"), "indicator"));
    m.insert("HY".to_string(), hy);
    m
}

fn by_org(t: &market::allocation::Table) -> BTreeMap<String, i64> {
    t.allocations.iter().map(|a| (a.org.clone(), a.kg)).collect()
}

#[test]
fn each_method_allocates_what_the_hand_gives() {
    let mut plan = Plan::parse(PLAN).unwrap();
    plan.period.cap_t = d("2000000000"); // large enough: no correction here
    let t = allocate(&plan, &inputs(), Basis::Final).unwrap();
    let a = by_org(&t);
    // 1,234,567,000 kg × 0.98 = 1,209,875,660 kg
    assert_eq!(a["GF"], 1_209_875_660);
    // 2,200,000 × 500,000,000 kg × 0.96 / 2,000,000 = 1.1 × 480,000,000 = 528,000,000 kg
    assert_eq!(a["HI"], 528_000_000);
    // 1,000,000 kWh × 0.877 kg/kWh × 1.05 = 920,850 kg (the reference's 1,000 MWh golden vector)
    assert_eq!(a["BM"], 920_850);
    // 0.75 × (1,000,000 × 0.98) + 0.25 × (10,000 TB × 90) = 735,000 + 225,000 = 960,000 kg
    assert_eq!(a["HY"], 960_000);
    assert_eq!(t.correction, None);
    assert_eq!(t.total_kg, 1_209_875_660 + 528_000_000 + 920_850 + 960_000);
    let bm = t.allocations.iter().find(|x| x.org == "BM").unwrap();
    assert_eq!(bm.formula, "benchmark");
    assert!(bm
        .inputs
        .iter()
        .any(|i| i.name == "dc_it_energy_kwh[2025]" && i.value == "1000000" && i.source == "meters"));
    assert!(bm.inputs.iter().any(|i| i.name == "correction.cooling" && i.value == "1.05"));
}

#[test]
fn pre_allocation_and_true_up() {
    let mut plan = Plan::parse(PLAN).unwrap();
    plan.period.cap_t = d("2000000000");
    let pre = allocate(&plan, &inputs(), Basis::Pre).unwrap();
    let fin = allocate(&plan, &inputs(), Basis::Final).unwrap();
    // 0.7 × (900,000 kWh × 0.877 × 1.05 = 828,765 kg) = 580,135.5 → 580,135 kg
    assert_eq!(by_org(&pre)["BM"], 580_135);
    let up = true_up(&pre, &fin);
    // 920,850 − 580,135 = 340,715 kg
    assert_eq!(up["BM"], 340_715);
    // Grandfathering's pre-allocation: 0.7 × 1,209,875,660 = 846,912,962 kg
    assert_eq!(by_org(&pre)["GF"], 846_912_962);
}

#[test]
fn allocations_over_the_cap_are_scaled_by_one_factor() {
    let plan = Plan::parse(
        &PLAN.replace("cap_t = \"10000\"", "cap_t = \"2000\"").replace("reserve_t = \"500\"", "reserve_t = \"100\""),
    )
    .unwrap();
    let mut only = Plan {
        allocation: plan.allocation.iter().filter(|a| a.org == "HY" || a.org == "BM").cloned().collect(),
        ..plan
    };
    only.period.cap_t = d("1500");
    // available = 1,500,000 − 100,000 = 1,400,000; computed = 920,850 + 960,000 = 1,880,850
    let t = allocate(&only, &inputs(), Basis::Final).unwrap();
    assert_eq!(t.correction, Some((1_400_000, 1_880_850)));
    // ⌊920,850 × 1,400,000 / 1,880,850⌋ = ⌊685,429.46⌋ = 685,429 ; ⌊960,000 × 1,400,000 / 1,880,850⌋ = ⌊714,570.54⌋ = 714,570
    assert_eq!(by_org(&t)["BM"], 685_429);
    assert_eq!(by_org(&t)["HY"], 714_570);
    assert!(t.total_kg <= 1_400_000);
}

#[test]
fn missing_inputs_are_all_named() {
    let plan = Plan::parse(PLAN).unwrap();
    let err = allocate(&plan, &BTreeMap::new(), Basis::Final).unwrap_err();
    let msgs: Vec<String> = err.iter().map(|p| format!("{} {} {}", p.org, p.code, p.message)).collect();
    assert!(msgs.contains(&"GF input_missing no verified emissions for 2024".to_string()), "{msgs:?}");
    assert!(msgs.contains(&"HI input_missing no business_volume for 2025".to_string()), "{msgs:?}");
    assert!(msgs.contains(&"BM input_missing no dc_it_energy_kwh for 2025".to_string()), "{msgs:?}");
    assert!(err.len() >= 5, "every missing input, not the first: {msgs:?}");
}

#[test]
fn plan_files_are_refused_with_the_field_named() {
    let unknown = PLAN.replace("method = \"benchmark\"", "method = \"auction\"");
    let err = Plan::parse(&unknown).unwrap_err();
    assert_eq!(err[0].code, "plan_syntax");
    assert!(err[0].field.starts_with("allocation[2]"), "{err:?}");
    assert!(err[0].message.contains("auction"), "{err:?}");

    let float = PLAN.replace("coefficient = \"0.96\"", "coefficient = 0.96");
    let err = Plan::parse(&float).unwrap_err();
    assert!(err[0].message.contains("as strings"), "{err:?}");

    let bad = PLAN
        .replace("coefficient = \"0.98\"", "coefficient = \"-1\"")
        .replace("offset_cap = \"0.05\"", "offset_cap = \"1.5\"");
    let err = Plan::parse(&bad).unwrap_err();
    let fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"period.offset_cap"), "{err:?}");
    assert!(fields.contains(&"allocation[0].coefficient"), "{err:?}");
    assert!(fields.contains(&"allocation[3].coefficient"), "{err:?}");
}

fn exchange() -> Exchange {
    let mut x = Exchange::new(Config::default()).unwrap();
    x.execute("open", 0, Command::OpenVintage { vintage: 2025 }).unwrap();
    for (org, kg, fen) in [("A", 10_000_000, 10_000_000), ("B", 10_000_000, 10_000_000)] {
        x.execute(
            &format!("a-{org}"),
            0,
            Command::Issue {
                to: Account::org(org),
                asset: Asset::Allowance { vintage: 2025 },
                amount: kg,
                reason: Reason::Allocation { period: 2025 },
            },
        )
        .unwrap();
        x.execute(
            &format!("f-{org}"),
            0,
            Command::Issue { to: Account::org(org), asset: Asset::Cash, amount: fen, reason: Reason::Fund },
        )
        .unwrap();
    }
    x
}

fn place(
    x: &mut Exchange,
    rid: &str,
    org: &str,
    side: Side,
    price: Option<i64>,
    t: i64,
) -> Result<market::exchange::Outcome, ExchangeError> {
    let kind = match price {
        Some(p) => Kind::Limit { price: p },
        None => Kind::Market { max_cost: Some(1_000_000) },
    };
    x.execute(rid, 1, Command::Place { org: org.into(), vintage: 2025, side, kind, quantity: t * 1000 })
}

fn bal(x: &Exchange, org: &str, asset: Asset) -> (i64, i64) {
    let b = x.registry().balance(&Account::org(org), asset);
    (b.posted, b.held)
}

#[test]
fn a_fill_moves_allowances_and_money_together_and_refunds_price_improvement() {
    let mut x = exchange();
    let v = Asset::Allowance { vintage: 2025 };
    // A sells 100 t at 60.00 yuan (6,000 fen/t): 100,000 kg held.
    place(&mut x, "s1", "A", Side::Sell, Some(6000), 100).unwrap();
    assert_eq!(bal(&x, "A", v), (10_000_000, 100_000));
    // B bids 40 t at 62.00: reserves 40 × 6,200 = 248,000 fen, pays 40 × 6,000 = 240,000, 8,000 back.
    let out = place(&mut x, "b1", "B", Side::Buy, Some(6200), 40).unwrap();
    assert_eq!(out.trades.len(), 1);
    assert_eq!(bal(&x, "B", Asset::Cash), (10_000_000 - 240_000, 0));
    assert_eq!(bal(&x, "A", Asset::Cash), (10_000_000 + 240_000, 0));
    assert_eq!(bal(&x, "B", v), (10_040_000, 0));
    assert_eq!(bal(&x, "A", v), (9_960_000, 60_000));
    let t = &x.trades()[0];
    assert_eq!((t.price, t.quantity, t.buyer.as_str(), t.seller.as_str()), (6000, 40_000, "B", "A"));
    // The same request again applies nothing and answers the same.
    let again = place(&mut x, "b1", "B", Side::Buy, Some(6200), 40).unwrap();
    assert!(again.repeated);
    assert_eq!(again.trades, out.trades);
    assert_eq!(x.trades().len(), 1);
    // The same id for another command is refused.
    let err = place(&mut x, "b1", "B", Side::Buy, Some(6100), 40).unwrap_err();
    assert_eq!(err.code(), "request_id_reused");
    // Cancel gives back the rest of A's hold.
    let order = x.open_orders()[0].id;
    x.execute("c1", 2, Command::Cancel { org: "A".into(), order }).unwrap();
    assert_eq!(bal(&x, "A", v), (9_960_000, 0));
    assert!(x.registry().conservation_gaps().is_empty());
}

#[test]
fn price_time_priority_partial_fills_and_self_trade() {
    let mut book = Book::new(Rules::default());
    let mut ev = Vec::new();
    let o =
        |id, owner, side, price, t: i64| NewOrder { id, owner, side, kind: Kind::Limit { price }, quantity: t * 1000 };
    book.submit(o(1, 1, Side::Sell, 5000, 10), &mut ev).unwrap();
    book.submit(o(2, 2, Side::Sell, 5000, 10), &mut ev).unwrap();
    book.submit(o(3, 3, Side::Sell, 4900, 5), &mut ev).unwrap();
    ev.clear();
    // A buy of 12 t at 50.00 takes the better price first (order 3), then the older order at 50.00 (1).
    book.submit(o(4, 4, Side::Buy, 5000, 12), &mut ev).unwrap();
    let fills: Vec<(u64, i64, i64)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Fill { maker, price, quantity, .. } => Some((*maker, *price, *quantity)),
            _ => None,
        })
        .collect();
    assert_eq!(fills, vec![(3, 4900, 5000), (1, 5000, 7000)]);
    assert_eq!(book.order(1).unwrap().remaining, 3000);
    assert_eq!(book.order(2).unwrap().remaining, 10_000);
    // Owner 2's own buy meets its own resting sell first: the resting one is cancelled, not traded.
    ev.clear();
    book.submit(o(5, 1, Side::Buy, 5000, 1), &mut ev).unwrap();
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Done { order: 1, reason: DoneReason::SelfTrade, remaining: 3000, .. })));
    assert!(ev.iter().any(|e| matches!(e, Event::Fill { maker: 2, quantity: 1000, .. })));
    // Rules.
    assert_eq!(book.submit(o(6, 1, Side::Buy, 0, 1), &mut ev).unwrap_err().code(), "price_not_positive");
    assert_eq!(
        book.submit(NewOrder { quantity: 1500, ..o(6, 1, Side::Buy, 10, 1) }, &mut ev).unwrap_err().code(),
        "quantity_not_whole_lots"
    );
    let mut banded = Book::new(Rules { tick: 10, lot: 1000, band: Some((4500, 5500)) });
    assert_eq!(banded.submit(o(1, 1, Side::Buy, 4505, 1), &mut ev).unwrap_err().code(), "price_not_on_tick");
    assert_eq!(banded.submit(o(1, 1, Side::Buy, 5600, 1), &mut ev).unwrap_err().code(), "price_outside_band");
}

#[test]
fn registry_rules_hold() {
    let mut x = exchange();
    let v = Asset::Allowance { vintage: 2025 };
    // Overdraft.
    let err = x
        .execute(
            "t1",
            1,
            Command::Move {
                reason: Reason::Transfer,
                legs: vec![Leg::new(v, Account::org("A"), Account::org("B"), 10_000_001)],
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "insufficient_balance");
    // Retire, then nothing moves out of retirement and the retirement is not reversible.
    let out = x
        .execute(
            "r1",
            1,
            Command::Move {
                reason: Reason::Surrender { period: 2025 },
                legs: vec![Leg::new(v, Account::org("A"), Account::Retirement, 1000)],
            },
        )
        .unwrap();
    let err = x
        .execute(
            "r2",
            1,
            Command::Move {
                reason: Reason::Transfer,
                legs: vec![Leg::new(v, Account::Retirement, Account::org("A"), 1000)],
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "retired_never_moves");
    assert_eq!(x.execute("r3", 1, Command::Reverse { entry: out.entries[0] }).unwrap_err().code(), "not_reversible");
    // Borrowed allowances cannot be transferred, nor sold.
    let b = Asset::Borrowed { vintage: 2026 };
    x.execute(
        "b1",
        1,
        Command::Issue { to: Account::org("A"), asset: b, amount: 5000, reason: Reason::Borrow { period: 2025 } },
    )
    .unwrap();
    let err = x
        .execute(
            "b2",
            1,
            Command::Move {
                reason: Reason::Transfer,
                legs: vec![Leg::new(b, Account::org("A"), Account::org("B"), 1000)],
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "borrowed_not_transferable");
    // A correction reverses a transfer; the reversal itself applies once.
    let t = x
        .execute(
            "t2",
            1,
            Command::Move {
                reason: Reason::Transfer,
                legs: vec![Leg::new(v, Account::org("A"), Account::org("B"), 2000)],
            },
        )
        .unwrap();
    x.execute("t3", 1, Command::Reverse { entry: t.entries[0] }).unwrap();
    assert_eq!(x.execute("t4", 1, Command::Reverse { entry: t.entries[0] }).unwrap_err().code(), "already_reversed");
    assert_eq!(bal(&x, "B", v).0, 10_000_000);
    // A linked move is all or nothing: the second leg's overdraft keeps the first from applying.
    let err = x
        .execute(
            "l1",
            1,
            Command::Move {
                reason: Reason::Transfer,
                legs: vec![
                    Leg::new(v, Account::org("A"), Account::org("B"), 1000),
                    Leg::new(Asset::Cash, Account::org("B"), Account::org("A"), 99_000_000),
                ],
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "insufficient_balance");
    assert_eq!(bal(&x, "B", v).0, 10_000_000);
    assert!(x.registry().conservation_gaps().is_empty());
}

#[test]
fn bilateral_transfers_settle_when_the_buyer_confirms() {
    let mut x = exchange();
    let v = Asset::Allowance { vintage: 2025 };
    let p = x
        .execute(
            "p1",
            1,
            Command::Propose { seller: "A".into(), buyer: "B".into(), vintage: 2025, quantity: 50_000, price: 5500 },
        )
        .unwrap()
        .proposal
        .unwrap();
    assert_eq!(bal(&x, "A", v), (10_000_000, 50_000));
    assert_eq!(
        x.execute("p2", 1, Command::Confirm { buyer: "A".into(), proposal: p }).unwrap_err().code(),
        "not_your_proposal"
    );
    x.execute("p3", 1, Command::Confirm { buyer: "B".into(), proposal: p }).unwrap();
    // 50 t × 5,500 fen = 275,000 fen
    assert_eq!(bal(&x, "A", Asset::Cash).0, 10_275_000);
    assert_eq!(bal(&x, "B", v), (10_050_000, 0));
    assert!(x.trades()[0].bilateral);
    assert_eq!(
        x.execute("p4", 1, Command::Withdraw { org: "A".into(), proposal: p }).unwrap_err().code(),
        "unknown_proposal"
    );
}

#[test]
fn compliance_surrender_offsets_borrowing_and_penalty() {
    let plan = Plan::parse(PLAN).unwrap();
    let mut x = exchange();
    // C holds 100 t of 2024 (banked) and 800 t of 2025, and 80 t of CCER 2024.
    for (rid, asset, kg) in [
        ("c1", Asset::Allowance { vintage: 2024 }, 100_000),
        ("c2", Asset::Allowance { vintage: 2025 }, 800_000),
        ("c3", Asset::Offset { kind: OffsetKind::Ccer, vintage: 2024 }, 80_000),
    ] {
        x.execute(rid, 0, Command::Issue { to: Account::org("C"), asset, amount: kg, reason: Reason::Issue }).unwrap();
    }
    let today = Date::parse("2026-06-01").unwrap();
    let s = plan_surrender(&plan, x.registry(), "C", 1_000_000, Already::default(), today).unwrap();
    // 900,000 of allowances; offsets capped at 5 % of 1,000,000 = 50,000; shortfall 50,000.
    assert_eq!((s.allowances_kg, s.offsets_kg, s.offset_cap_kg, s.shortfall_kg), (900_000, 50_000, 50_000, 50_000));
    // Borrowing needs a shortfall ≥ 10 % (100,000 kg): refused.
    assert_eq!(borrow_entry(&plan, "C", 1_000_000, 50_000, 10_000).unwrap_err().code(), "shortfall_below_threshold");
    // Penalty: 50 t × 6,000 fen/t × 5 = 1,500,000 fen.
    assert_eq!(penalty_fen(&plan, 50_000, 6000).unwrap(), 1_500_000);
    // Reward: none by default; with a share of 0.1, 20 t left × 6,000 fen/t × 0.1 = 12,000 fen.
    assert_eq!(reward_fen(&plan, 20_000, 6000).unwrap(), 0);
    let mut rewarding = plan.clone();
    rewarding.period.reward_share = d("0.1");
    assert_eq!(reward_fen(&rewarding, 20_000, 6000).unwrap(), 12_000);
    let line = report_line(&plan, &s, 0, Some(6000)).unwrap();
    assert_eq!((line.penalty_fen, line.make_good_kg, line.compliant), (1_500_000, 50_000, false));
    x.execute("s1", 1, Command::Move { reason: Reason::Surrender { period: 2025 }, legs: s.legs.clone() }).unwrap();
    assert_eq!(x.registry().balance(&Account::Retirement, Asset::Allowance { vintage: 2025 }).posted, 800_000);
    // A second surrender: the cap is of the whole obligation, and 50,000 of it is used: the 30,000
    // CCER left cannot serve, the shortfall stays 50,000.
    let again = plan_surrender(
        &plan,
        x.registry(),
        "C",
        1_000_000,
        Already { allowances_kg: 900_000, offsets_kg: 50_000 },
        today,
    )
    .unwrap();
    assert_eq!((again.offsets_kg, again.shortfall_kg, again.legs.len()), (0, 50_000, 0));
    // After the deadline: refused.
    let late = Date::parse("2026-07-01").unwrap();
    assert_eq!(
        plan_surrender(&plan, x.registry(), "C", 1, Already::default(), late).unwrap_err().code(),
        "surrender_after_deadline"
    );

    // D misses 20 % (200,000 of 1,000,000): may borrow up to half of it, 100,000.
    x.execute(
        "d1",
        0,
        Command::Issue {
            to: Account::org("D"),
            asset: Asset::Allowance { vintage: 2025 },
            amount: 800_000,
            reason: Reason::Issue,
        },
    )
    .unwrap();
    let s = plan_surrender(&plan, x.registry(), "D", 1_000_000, Already::default(), today).unwrap();
    assert_eq!(s.shortfall_kg, 200_000);
    assert_eq!(borrow_entry(&plan, "D", 1_000_000, 200_000, 100_001).unwrap_err().code(), "borrowing_above_cap");
    let (reason, legs) = borrow_entry(&plan, "D", 1_000_000, 200_000, 100_000).unwrap();
    x.execute("d2", 1, Command::Move { reason, legs }).unwrap();
    let s = plan_surrender(&plan, x.registry(), "D", 1_000_000, Already::default(), today).unwrap();
    assert_eq!((s.allowances_kg, s.borrowed_kg, s.shortfall_kg), (800_000, 100_000, 100_000));
    let line = report_line(&plan, &s, 0, None).unwrap();
    assert_eq!(line.make_good_kg, 200_000, "the shortfall and the borrowed allowances come off the next allocation");
}

#[test]
fn average_price_of_the_month_before_the_deadline() {
    let deadline = Date::parse("2026-06-30").unwrap();
    // 2026-05-10 12:00 Beijing = 1778385600; 2026-06-01 00:30 Beijing = 1780245000; 2026-04-30 23:59 Beijing = 1777564740
    let trades = [
        (1_778_385_600, 6000, 10_000),
        (1_778_385_600, 7000, 30_000),
        (1_780_245_000, 9000, 1000),
        (1_777_564_740, 1, 1000),
    ];
    // (6,000 × 10 + 7,000 × 30) / 40 = 6,750
    assert_eq!(average_price_before(deadline, trades), Some(6750));
    assert_eq!(average_price_before(Date::parse("2026-01-15").unwrap(), trades), None);
}
