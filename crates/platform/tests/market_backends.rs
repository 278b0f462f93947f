//! The internal market on both stores: the same random command sequence through the platform on
//! SQLite and on PostgreSQL gives the same outcomes, the same journal and the same state, and each
//! store's journal replays (`dualcarbon market verify`) to it — also after the state is rebuilt
//! from the store, as after a restart.

use market::book::{Kind, Side};
use market::exchange::Command;
use market::ledger::{Account, Asset, Leg, Reason};
use platform::market::{self as m, run, Audit};
use platform::{Actor, Platform};
use proptest::prelude::*;
use store::reference::OrgRecord;
use store::Store;

const SUBS: [&str; 3] = ["G-A", "G-B", "G-C"];

#[derive(Clone, Debug)]
enum Step {
    Issue(usize, i64),
    Fund(usize, i64),
    Order(usize, bool, i64, i64, bool),
    Cancel(usize, usize),
    Propose(usize, usize, i64, i64),
    Confirm(usize),
    Transfer(usize, usize, i64),
    Surrender(usize, i64),
    Correct(usize),
    Retry(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let s = 0..SUBS.len();
    prop_oneof![
        (s.clone(), 1i64..200).prop_map(|(o, t)| Step::Issue(o, t)),
        (s.clone(), 1i64..1_000_000).prop_map(|(o, f)| Step::Fund(o, f)),
        (s.clone(), any::<bool>(), 1i64..20, 5000i64..5010, any::<bool>())
            .prop_map(|(o, b, t, p, mk)| Step::Order(o, b, t, p, mk)),
        (s.clone(), 0usize..10).prop_map(|(o, n)| Step::Cancel(o, n)),
        (s.clone(), s.clone(), 1i64..20, 4000i64..6000).prop_map(|(a, b, t, p)| Step::Propose(a, b, t, p)),
        (0usize..5).prop_map(Step::Confirm),
        (s.clone(), s.clone(), 1i64..30).prop_map(|(a, b, t)| Step::Transfer(a, b, t)),
        (s.clone(), 1i64..30).prop_map(|(o, t)| Step::Surrender(o, t)),
        (0usize..20).prop_map(Step::Correct),
        (0usize..20).prop_map(Step::Retry),
    ]
}

fn org(code: &str, parent: Option<&str>) -> OrgRecord {
    OrgRecord {
        code: code.into(),
        name: code.into(),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

fn actor(code: &str) -> Actor {
    Actor { username: format!("u-{code}"), org_code: code.into(), org_path: String::new() }
}

/// Runs the steps; every answer (outcome or error code), in order.
fn drive(p: &Platform, steps: &[Step]) -> Vec<String> {
    let admin = actor("G");
    let audit = || Audit { action: "market.test", entity: "market/test".into(), org_code: "G" };
    let mut answers = Vec::new();
    let mut sent: Vec<(Actor, String, Command)> = Vec::new();
    run(p, &admin, "open", Command::OpenVintage { vintage: 2025 }, audit(), None).unwrap();
    for (i, s) in steps.iter().enumerate() {
        let rid = format!("r{i}");
        let answer = match s {
            Step::Issue(o, t) => {
                let c = Command::Issue {
                    to: Account::org(SUBS[*o]),
                    asset: Asset::Allowance { vintage: 2025 },
                    amount: t * 1000,
                    reason: Reason::Allocation { period: 2025 },
                };
                sent.push((admin.clone(), rid.clone(), c.clone()));
                run(p, &admin, &rid, c, audit(), None).map(|o| serde_json::to_string(&o).unwrap())
            }
            Step::Fund(o, f) => m::fund(p, &admin, &rid, SUBS[*o], *f).map(|v| v.to_string()),
            Step::Order(o, buy, t, price, market) => {
                let kind = if *market {
                    Kind::Market { max_cost: buy.then_some(t * price) }
                } else {
                    Kind::Limit { price: *price }
                };
                m::place_order(
                    p,
                    &actor(SUBS[*o]),
                    &rid,
                    2025,
                    if *buy { Side::Buy } else { Side::Sell },
                    kind,
                    t * 1000,
                )
                .map(|v| v.to_string())
            }
            Step::Cancel(o, n) => {
                let acct = m::account(p, SUBS[*o], 50).unwrap();
                let orders = acct["orders"].as_array().unwrap();
                let id = orders.get(n % orders.len().max(1)).and_then(|x| x["id"].as_u64()).unwrap_or(999);
                m::cancel_order(p, &actor(SUBS[*o]), &rid, id).map(|v| v.to_string())
            }
            Step::Propose(a, b, t, price) => {
                m::propose(p, &actor(SUBS[*a]), &rid, SUBS[*b], 2025, t * 1000, *price).map(|v| v.to_string())
            }
            Step::Confirm(n) => {
                let proposals: Vec<(String, u64)> = SUBS
                    .iter()
                    .flat_map(|s| m::account(p, s, 1).unwrap()["proposals"].as_array().unwrap().clone())
                    .map(|x| (x["buyer"].as_str().unwrap().to_string(), x["id"].as_u64().unwrap()))
                    .collect();
                match proposals.get(n % proposals.len().max(1)) {
                    Some((buyer, id)) => m::confirm(p, &actor(buyer), &rid, *id).map(|v| v.to_string()),
                    None => m::confirm(p, &actor(SUBS[0]), &rid, 999).map(|v| v.to_string()),
                }
            }
            Step::Transfer(a, b, t) => {
                let c = Command::Move {
                    reason: Reason::Transfer,
                    legs: vec![Leg::new(
                        Asset::Allowance { vintage: 2025 },
                        Account::org(SUBS[*a]),
                        Account::org(SUBS[*b]),
                        t * 1000,
                    )],
                };
                sent.push((admin.clone(), rid.clone(), c.clone()));
                run(p, &admin, &rid, c, audit(), None).map(|o| serde_json::to_string(&o).unwrap())
            }
            Step::Surrender(o, t) => {
                let c = Command::Move {
                    reason: Reason::Surrender { period: 2025 },
                    legs: vec![Leg::new(
                        Asset::Allowance { vintage: 2025 },
                        Account::org(SUBS[*o]),
                        Account::Retirement,
                        t * 1000,
                    )],
                };
                run(p, &admin, &rid, c, audit(), None).map(|o| serde_json::to_string(&o).unwrap())
            }
            Step::Correct(back) => {
                let entries = m::journal(p, None, 1).unwrap()["total"].as_u64().unwrap();
                m::correct(p, &admin, &rid, entries.saturating_sub(*back as u64).max(1)).map(|v| v.to_string())
            }
            Step::Retry(back) => match sent.len() {
                0 => continue,
                n => {
                    let (who, rid, c) = sent[n - 1 - back % n].clone();
                    run(p, &who, &rid, c, audit(), None).map(|o| serde_json::to_string(&o).unwrap())
                }
            },
        };
        answers.push(match answer {
            Ok(v) => untimed(&v),
            Err(e) => format!("error {}", e.code),
        });
    }
    answers
}

/// JSON text without the instants (`at`: when a command ran differs between the two runs).
fn untimed(text: &str) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("at");
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    strip(&mut v);
    v.to_string()
}

fn state(p: &Platform) -> String {
    let accounts: Vec<String> = SUBS.iter().map(|s| untimed(&m::account(p, s, 1000).unwrap().to_string())).collect();
    let overview = untimed(&m::overview(p).unwrap().to_string());
    format!("{}\n{}\n{}", accounts.join("\n"), overview, m::journal(p, None, 10_000).unwrap())
}

fn platform_on(store: Store, dir: &std::path::Path) -> Platform {
    store
        .upsert_reference(
            "t",
            &[org("G", None), org("G-A", Some("G")), org("G-B", Some("G")), org("G-C", Some("G"))],
            &[],
        )
        .unwrap();
    Platform::new(store, dir.join("spool"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    #[test]
    fn the_same_commands_give_the_same_state_on_sqlite_and_postgresql(steps in prop::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut results = Vec::new();
        for (backend, store) in store::testing::stores("market_backends", &dir.path().join("db")) {
            let p = platform_on(store, &dir.path().join(&backend));
            let answers = drive(&p, &steps);
            let before = state(&p);
            // What the store holds replays to the same state (as after a restart).
            let verify = m::verify(&p.store).unwrap();
            prop_assert_eq!(&verify["ok"], &serde_json::json!(true), "{}: {}", backend, verify);
            // The audit entries the batches wrote many at a time chain like entries written one by one.
            let audit = p.store.verify_audit_with(&store::audit::VerifyOptions::default()).unwrap();
            prop_assert!(audit.ok, "{}: {:?}", backend, audit.problems);
            m::forget(&p);
            prop_assert_eq!(&state(&p), &before, "{} after a rebuild from the store", backend);
            results.push((backend, answers, before));
        }
        if let [(_, a1, s1), (_, a2, s2)] = &results[..] {
            prop_assert_eq!(a1, a2, "the answers differ between SQLite and PostgreSQL");
            prop_assert_eq!(s1, s2, "the state differs between SQLite and PostgreSQL");
        }
    }
}

/// A batch the store cannot take fails its commands, and the state in memory is rebuilt from the
/// store: nothing of the failed command remains, and the market goes on.
#[test]
fn a_command_the_store_cannot_take_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores("market_store_failure", &dir.path().join("db")) {
        let p = platform_on(store, &dir.path().join(&backend));
        let admin = actor("G");
        let audit = || Audit { action: "market.test", entity: "market/test".into(), org_code: "G" };
        let issue = |amount: i64| Command::Issue {
            to: Account::org("G-A"),
            asset: Asset::Allowance { vintage: 2025 },
            amount,
            reason: Reason::Issue,
        };
        run(&p, &admin, "open", Command::OpenVintage { vintage: 2025 }, audit(), None).unwrap();
        run(&p, &admin, "i1", issue(5000), audit(), None).unwrap();
        p.store.tx(|c| c.exec("ALTER TABLE market_entries RENAME TO market_entries_away", &[])).unwrap();
        let e = run(&p, &admin, "i2", issue(7000), audit(), None).unwrap_err();
        assert_ne!(e.code, "internal", "{backend}: {}", e.message);
        p.store.tx(|c| c.exec("ALTER TABLE market_entries_away RENAME TO market_entries", &[])).unwrap();
        let held = |p: &Platform| m::account(p, "G-A", 10).unwrap()["balances"][0]["posted"].as_i64().unwrap();
        assert_eq!(held(&p), 5000, "{backend}: the failed issue is not in memory");
        // The same request again now applies (it was never stored), once.
        run(&p, &admin, "i2", issue(7000), audit(), None).unwrap();
        assert!(run(&p, &admin, "i2", issue(7000), audit(), None).unwrap().repeated);
        assert_eq!(held(&p), 12_000, "{backend}");
        assert_eq!(m::verify(&p.store).unwrap()["ok"], serde_json::json!(true), "{backend}");
    }
}

/// The order route's path (`place_order_async`: no thread held while the batch is stored): orders
/// awaiting a batch the store refuses fail with the store's error, none of them remains in memory,
/// and the orders after are stored and replay.
#[test]
fn orders_awaiting_a_batch_the_store_refuses_fail_and_leave_no_trace() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores("market_async_failure", &dir.path().join("db")) {
        let p = std::sync::Arc::new(platform_on(store, &dir.path().join(&backend)));
        let admin = actor("G");
        let audit = || Audit { action: "market.test", entity: "market/test".into(), org_code: "G" };
        run(&p, &admin, "open", Command::OpenVintage { vintage: 2025 }, audit(), None).unwrap();
        let issue = Command::Issue {
            to: Account::org("G-A"),
            asset: Asset::Allowance { vintage: 2025 },
            amount: 10_000,
            reason: Reason::Issue,
        };
        run(&p, &admin, "i1", issue, audit(), None).unwrap();
        let sell = |rid: String| {
            m::place_order_async(p.clone(), actor("G-A"), rid, 2025, Side::Sell, Kind::Limit { price: 5000 }, 1000)
        };
        let first = rt.block_on(sell("s0".into())).unwrap();
        assert_eq!(first["repeated"], false, "{backend}: {first}");
        let open_orders = |p: &Platform| m::account(p, "G-A", 100).unwrap()["orders"].as_array().unwrap().len();
        assert_eq!(open_orders(&p), 1, "{backend}");
        p.store.tx(|c| c.exec("ALTER TABLE market_commands RENAME TO market_commands_away", &[])).unwrap();
        // Several orders at once: each fails with the store's error, none is left resting.
        let waiting: Vec<_> = (1..6).map(|i| rt.spawn(sell(format!("s{i}")))).collect();
        for h in waiting {
            let e = rt.block_on(h).unwrap().unwrap_err();
            assert_ne!(e.code, "internal", "{backend}: {}", e.message);
        }
        p.store.tx(|c| c.exec("ALTER TABLE market_commands_away RENAME TO market_commands", &[])).unwrap();
        // The next orders (one of the failed requests again, and a new one) are stored once each.
        for rid in ["s3", "s9"] {
            let v = rt.block_on(sell(rid.into())).unwrap();
            assert_eq!(v["repeated"], false, "{backend}: {rid} {v}");
        }
        assert_eq!(rt.block_on(sell("s9".into())).unwrap()["repeated"], true, "{backend}");
        assert_eq!(open_orders(&p), 3, "{backend}: s0, s3 and s9 rest on the book");
        assert_eq!(m::verify(&p.store).unwrap()["ok"], serde_json::json!(true), "{backend}");
        m::forget(&p);
        assert_eq!(open_orders(&p), 3, "{backend}: the same after a rebuild from the store");
    }
}
