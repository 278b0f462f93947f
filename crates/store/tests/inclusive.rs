//! 碳普惠 in the store, on SQLite and PostgreSQL alike: events through the rules with a verdict each,
//! replays, dedup, caps, review, claims (points or offset, never both), redemption with reserve →
//! confirm / void, erasure that keeps the journal balanced, the journal under random sequences
//! (property test against the in-memory journal) and concurrent redemptions that cannot overspend.

use inclusive::ledger::{available, held, Entry, EntryKind, Journal};
use inclusive::rules::{EventIn, Trust};
use inclusive::{time, Library};
use proptest::prelude::*;
use store::inclusive::{Incoming, ACCEPTED, PENDING, REJECTED};
use store::reference::OrgRecord;
use store::testing::stores;
use store::Store;

fn org(code: &str, parent: Option<&str>) -> OrgRecord {
    OrgRecord {
        code: code.into(),
        name: format!("{code} name"),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

fn seed(s: &Store) {
    s.upsert_reference("test", &[org("CT", None), org("CT-GD", Some("CT")), org("CT-ZJ", Some("CT"))], &[]).unwrap();
}

fn now() -> i64 {
    time::parse("2026-12-04T12:00:00+08:00").unwrap()
}

fn trip(id: &str, account: &str, mode: &str, metres: i64, reference: &str) -> Incoming {
    Incoming::Event(EventIn {
        id: id.into(),
        account: account.into(),
        action: "commute".into(),
        mode: Some(mode.into()),
        start: Some(time::format(now() - 7200)),
        end: Some(time::format(now() - 5400)),
        distance_m: Some(metres),
        reference: Some(reference.into()),
        ..Default::default()
    })
}

fn path(s: &Store, code: &str) -> String {
    s.org(code).unwrap().unwrap().path
}

#[test]
fn events_get_a_verdict_each_and_credits_follow_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, s) in stores("inclusive_events", dir.path()) {
        seed(&s);
        let lib = Library::shipped();
        let client = s
            .inclusive_create_client(
                "admin",
                "app-1",
                "hash",
                "CT-GD",
                "commute app",
                "employee",
                Trust::Authoritative,
                0,
            )
            .unwrap();
        let alice = s.inclusive_enrol("admin", "alice", "CT-GD", Some("Alice"), true).unwrap();
        s.inclusive_enrol("admin", "zoe", "CT-ZJ", None, false).unwrap();
        let gd = path(&s, "CT-GD");
        let batch = vec![
            trip("e1", "alice", "metro", 12_300, "t1"),
            trip("e2", "alice", "rocket", 1_000, "t2"),
            trip("e3", "alice", "metro", 8_000, "t1"),
            trip("e4", "nobody", "metro", 8_000, "t4"),
            trip("e5", "zoe", "metro", 8_000, "t5"),
            Incoming::Refused {
                id: "e6".into(),
                reason: inclusive::rules::reason("bad_event", "not an event"),
                keep: true,
            },
            trip("e7", "alice", "walking", 3_000, "t7"),
        ];
        let (v, counts) = s.inclusive_record_events(&client, &gd, &lib, batch, now()).unwrap();
        let got: Vec<(&str, Option<&str>)> = v.iter().map(|v| (v.status, v.reason.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (ACCEPTED, None),
                (REJECTED, Some("unknown_mode")),
                (REJECTED, Some("duplicate")),
                (REJECTED, Some("unknown_account")),
                (REJECTED, Some("unknown_account")),
                (REJECTED, Some("bad_event")),
                (ACCEPTED, None),
            ],
            "{backend}"
        );
        assert_eq!((counts.accepted, counts.rejected), (2, 5));
        assert_eq!(v[0].grams, Some(574), "{backend}: 46.7 g/km × 12.3 km");
        // A replay of the batch answers the same, changing nothing.
        let again = vec![trip("e1", "alice", "metro", 12_300, "t1"), trip("e2", "alice", "rocket", 1_000, "t2")];
        let (r, _) = s.inclusive_record_events(&client, &gd, &lib, again, now()).unwrap();
        assert!(r[0].replay && r[0].status == ACCEPTED && r[0].credit_id == v[0].credit_id, "{backend}");
        assert!(r[1].replay && r[1].reason.as_deref() == Some("unknown_mode"));
        // Every rejected event is kept with its reason.
        let kept = s.inclusive_events(&gd, Some(REJECTED), 100).unwrap();
        assert_eq!(kept.len(), 5, "{backend}");
        // The daily walking cap (296 g): 3 km = 83 g a trip; the fourth trip is cut, the fifth refused.
        let walks: Vec<Incoming> =
            (0..5).map(|i| trip(&format!("w{i}"), "alice", "walking", 3_000, &format!("w{i}"))).collect();
        let (w, _) = s.inclusive_record_events(&client, &gd, &lib, walks, now()).unwrap();
        let grams: Vec<Option<i64>> = w.iter().map(|v| v.grams).collect();
        assert_eq!(grams, vec![Some(83), Some(83), Some(47), None, None], "{backend}: 83 + 83 + 83 + 47 = 296");
        assert_eq!(w[3].reason.as_deref(), Some("cap_reached"));
        // Claim: points issued per credit, once.
        let (ids, points) = s.inclusive_claim_points("alice", alice.id, now()).unwrap();
        assert_eq!((ids.len(), points), (5, 574 + 83 + 83 + 83 + 47), "{backend}");
        assert_eq!(s.inclusive_claim_points("alice", alice.id, now()).unwrap().0.len(), 0);
        assert_eq!(s.inclusive_balance(alice.id).unwrap(), (870, 0));
        // One claim per reduction: a credit claimed as points is not an offset, and the reverse.
        let first = v[0].credit_id.unwrap();
        let e = s.inclusive_claim_offset("admin", "/", first, "internal-market", now()).unwrap_err();
        assert!(e.to_string().contains("already_claimed"), "{backend}: {e}");
        assert!(s.inclusive_journal_check().unwrap().ok());
        // Totals by action and month.
        let totals = s.inclusive_totals(&gd, Some(2026)).unwrap();
        assert_eq!(totals[0]["grams"], 870, "{backend}: {totals:?}");
        // What the disclosure reports print (issue 19): credits and grams by action and month of
        // the year, within a subtree (the group's too), none elsewhere or in another year.
        let want = vec![("commute".to_string(), "2026-12".to_string(), 5, 870)];
        assert_eq!(s.inclusive_by_action_month(&gd, 2026).unwrap(), want, "{backend}");
        assert_eq!(s.inclusive_by_action_month(&path(&s, "CT"), 2026).unwrap(), want, "{backend}");
        assert_eq!(s.inclusive_by_action_month(&path(&s, "CT-ZJ"), 2026).unwrap(), vec![], "{backend}");
        assert_eq!(s.inclusive_by_action_month(&gd, 2025).unwrap(), vec![], "{backend}");
    }
}

#[test]
fn review_delay_offset_redemption_and_erasure() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, s) in stores("inclusive_lifecycle", dir.path()) {
        seed(&s);
        let lib = Library::shipped();
        let gd = path(&s, "CT-GD");
        let selfrep = s
            .inclusive_create_client("admin", "app-s", "h", "CT-GD", "self", "employee", Trust::SelfReported, 0)
            .unwrap();
        let transit = s
            .inclusive_create_client("admin", "app-t", "h", "CT-GD", "transit", "employee", Trust::Authoritative, 2)
            .unwrap();
        let bob = s.inclusive_enrol("admin", "bob", "CT-GD", None, false).unwrap();
        // Self-reported and near the bike speed limit: held for review.
        let fast = Incoming::Event(EventIn {
            id: "b1".into(),
            account: "bob".into(),
            action: "commute".into(),
            mode: Some("bike".into()),
            start: Some(time::format(now() - 3600)),
            end: Some(time::format(now() - 1800)),
            distance_m: Some(14_000),
            reference: Some("b1".into()),
            ..Default::default()
        });
        let (v, _) = s.inclusive_record_events(&selfrep, &gd, &lib, vec![fast], now()).unwrap();
        assert_eq!((v[0].status, v[0].reason.as_deref()), (PENDING, Some("review")), "{backend}");
        let held_id = v[0].credit_id.unwrap();
        assert_eq!(s.inclusive_review_queue(&gd, 10).unwrap().len(), 1);
        assert_eq!(s.inclusive_claim_points("bob", bob.id, now()).unwrap().1, 0, "a held credit is not claimable");
        s.inclusive_decide("reviewer", &gd, held_id, true, "trace checked").unwrap();
        assert!(s.inclusive_decide("reviewer", &gd, held_id, false, "").is_err(), "decided once");
        // T+2 source: available two days later at 07:00 China time, claimable for 7 days.
        let (t, _) = s
            .inclusive_record_events(&transit, &gd, &lib, vec![trip("m1", "bob", "metro", 10_000, "m1")], now())
            .unwrap();
        assert_eq!(t[0].available_at.as_deref(), Some("2026-12-05T23:00:00Z"), "{backend}");
        let (ids, pts) = s.inclusive_claim_points("bob", bob.id, now()).unwrap();
        assert_eq!((ids, pts), (vec![held_id], 389), "{backend}: only the reviewed bike trip (27.8 × 14 = 389.2)");
        let later = time::parse("2026-12-06T08:00:00+08:00").unwrap();
        // The metro credit claimed as an offset: never as points afterwards.
        let metro = t[0].credit_id.unwrap();
        s.inclusive_claim_offset("admin", &gd, metro, "internal-market", later).unwrap();
        assert_eq!(s.inclusive_claim_points("bob", bob.id, later).unwrap().1, 0, "{backend}");
        // Expiry of an unclaimed credit after its window.
        let (x, _) = s
            .inclusive_record_events(&transit, &gd, &lib, vec![trip("m2", "bob", "bus", 10_000, "m2")], now())
            .unwrap();
        assert_eq!(s.inclusive_expire(later + 8 * 86_400).unwrap(), 1);
        assert_eq!(s.inclusive_credit(x[0].credit_id.unwrap()).unwrap().unwrap().status, "expired");
        // Redemption: reserve, void returns the points, confirm spends them; stock follows.
        let item = s.inclusive_add_item("admin", "CT", "tree", 300, 1).unwrap();
        let (o, new) = s.inclusive_redeem("bob", bob.id, item.id, "r1").unwrap();
        assert!(new && o.status == "reserved");
        assert_eq!(s.inclusive_balance(bob.id).unwrap(), (89, 300), "{backend}");
        assert!(!s.inclusive_redeem("bob", bob.id, item.id, "r1").unwrap().1, "idempotent request id");
        assert!(s.inclusive_redeem("bob", bob.id, item.id, "r2").unwrap_err().to_string().contains("out_of_stock"));
        s.inclusive_settle("admin", &gd, o.id, false).unwrap();
        assert_eq!(s.inclusive_balance(bob.id).unwrap(), (389, 0));
        assert!(s.inclusive_settle("admin", &gd, o.id, true).is_err(), "a voided order is settled");
        let (o2, _) = s.inclusive_redeem("bob", bob.id, item.id, "r3").unwrap();
        s.inclusive_settle("admin", &gd, o2.id, true).unwrap();
        assert_eq!(s.inclusive_balance(bob.id).unwrap(), (89, 0));
        // Export has everything of bob; erasure removes the person and keeps the amounts.
        let export = s.inclusive_export(bob.id).unwrap();
        assert_eq!(export["account"]["subject"], "bob");
        assert_eq!(export["credits"].as_array().unwrap().len(), 3);
        let before = s.inclusive_totals(&gd, None).unwrap();
        let erased = s.inclusive_erase("admin", bob.id).unwrap();
        assert_eq!(erased["points_expired"], 89, "{backend}");
        let a = s.inclusive_account(bob.id).unwrap().unwrap();
        assert!(a.erased && a.subject.is_none() && a.display_name.is_none());
        assert_eq!(s.inclusive_totals(&gd, None).unwrap(), before, "totals keep the anonymised amounts");
        let check = s.inclusive_journal_check().unwrap();
        assert!(check.ok(), "{backend}: {check:?}");
    }
}

/// Random issue / reserve / confirm / void / expire / reverse sequences with repeated request ids,
/// posted to the store and to the in-memory journal: the same outcome each step, Σ balances = 0,
/// no person's points below zero.
#[test]
fn journal_balances_and_never_goes_negative_under_random_sequences() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, s) in stores("inclusive_journal_prop", dir.path()) {
        seed(&s);
        let next = std::cell::Cell::new(0i64);
        let mut runner =
            proptest::test_runner::TestRunner::new(proptest::test_runner::Config { cases: 24, ..Default::default() });
        runner
            .run(&proptest::collection::vec((0usize..6, 0i64..3, -3i64..300, 0u8..25), 1..60), |ops| {
                next.set(next.get() + 1);
                let case = next.get();
                let mut model = Journal::default();
                for (k, acct, amount, rid) in ops {
                    let kind = EntryKind::ALL[k];
                    // Accounts and request ids of this case only.
                    let account = case * 10 + acct;
                    let request = format!("c{case}-r{rid}");
                    let want = model.post(&request, Entry { kind, account, amount });
                    let got = s.inclusive_post(&request, kind, account, amount, "prop");
                    prop_assert_eq!(
                        want.is_ok(),
                        got.is_ok(),
                        "{} {:?} {} {}: {:?} vs {:?}",
                        backend,
                        kind,
                        account,
                        amount,
                        want,
                        got
                    );
                    if let (Ok(w), Ok(g)) = (&want, &got) {
                        prop_assert_eq!(*w, g.new);
                    }
                    for a in 0..3 {
                        let (av, hd) = s.inclusive_balance(case * 10 + a).unwrap();
                        prop_assert_eq!(av, model.balance(&available(case * 10 + a)));
                        prop_assert_eq!(hd, model.balance(&held(case * 10 + a)));
                        prop_assert!(av >= 0 && hd >= 0);
                    }
                }
                let check = s.inclusive_journal_check().unwrap();
                prop_assert!(check.ok(), "{:?}", check);
                Ok(())
            })
            .unwrap();
    }
}

/// Eight concurrent redemptions of points that pay for one: exactly one succeeds, on both backends.
#[test]
fn concurrent_redemptions_cannot_overspend() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, s) in stores("inclusive_concurrent", dir.path()) {
        seed(&s);
        let s = std::sync::Arc::new(s);
        let carol = s.inclusive_enrol("admin", "carol", "CT-GD", None, false).unwrap();
        s.inclusive_post("grant", EntryKind::Issue, carol.id, 100, "test").unwrap();
        let item = s.inclusive_add_item("admin", "CT", "voucher", 60, 1000).unwrap();
        let results: Vec<bool> = std::thread::scope(|scope| {
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let s = s.clone();
                    scope.spawn(move || s.inclusive_redeem("carol", carol.id, item.id, &format!("req-{i}")).is_ok())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{backend}: {results:?}");
        assert_eq!(s.inclusive_balance(carol.id).unwrap(), (40, 60));
        // Raw reserves of 30 from what is left (40), concurrently: one succeeds.
        let ok: usize = std::thread::scope(|scope| {
            let hs: Vec<_> = (0..6)
                .map(|i| {
                    let s = s.clone();
                    scope.spawn(move || {
                        usize::from(
                            s.inclusive_post(&format!("raw-{i}"), EntryKind::Reserve, carol.id, 30, "t").is_ok(),
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(ok, 1, "{backend}");
        assert_eq!(s.inclusive_balance(carol.id).unwrap(), (10, 90));
        assert!(s.inclusive_journal_check().unwrap().ok());
        let s = std::sync::Arc::try_unwrap(s).ok().unwrap();
        drop(s);
    }
}

/// What a verdict says: status, reason, credit id, grams.
type Seen = (&'static str, Option<String>, Option<i64>, Option<i64>);

/// A batch is read and written with batch-wide statements; its verdicts are those of its events
/// sent one at a time: caps and dedup keys count the events before them in the same batch, and an
/// event id repeated in the batch replays the first answer (with its credit id).
#[test]
fn one_batch_answers_as_its_events_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, s) in stores("inclusive_batch_equiv", dir.path()) {
        seed(&s);
        let lib = Library::shipped();
        let client = s
            .inclusive_create_client("admin", "app-b", "hash", "CT-GD", "app", "employee", Trust::Authoritative, 0)
            .unwrap();
        for who in ["ann", "bob"] {
            s.inclusive_enrol("admin", who, "CT-GD", None, false).unwrap();
        }
        let gd = path(&s, "CT-GD");
        // Per person: six metro rides (5 a day: 10 km × 46.7 = 467 g each), five walks of 3.4 km in
        // 30 minutes (27.8 g/km → 94 g each; 296 g a day: 94, 94, 94, then 14 g of the fourth, then
        // nothing), a bike ride reusing a metro ride's reference (duplicate) and a repeated event id.
        let events = |who: &str| {
            let mut v: Vec<Incoming> =
                (1..=6).map(|i| trip(&format!("{who}-m{i}"), who, "metro", 10_000, &format!("{who}-rm{i}"))).collect();
            for i in 1..=5 {
                v.push(trip(&format!("{who}-w{i}"), who, "walking", 3_400, &format!("{who}-rw{i}")));
            }
            v.push(trip(&format!("{who}-d"), who, "bike", 5_000, &format!("{who}-rm1")));
            v.push(trip(&format!("{who}-m1"), who, "metro", 10_000, &format!("{who}-rm1")));
            v
        };
        let (batch, _) = s.inclusive_record_events(&client, &gd, &lib, events("ann"), now()).unwrap();
        let mut single = Vec::new();
        for e in events("bob") {
            single.extend(s.inclusive_record_events(&client, &gd, &lib, vec![e], now()).unwrap().0);
        }
        let view = |v: &[store::inclusive::Verdict]| -> Vec<(&'static str, Option<String>, Option<i64>, bool)> {
            v.iter().map(|v| (v.status, v.reason.clone(), v.grams, v.replay)).collect()
        };
        let metro = (ACCEPTED, None, Some(467), false);
        let expected = vec![
            metro.clone(),
            metro.clone(),
            metro.clone(),
            metro.clone(),
            metro.clone(),
            (REJECTED, Some("cap_reached".to_string()), None, false),
            (ACCEPTED, None, Some(94), false),
            (ACCEPTED, None, Some(94), false),
            (ACCEPTED, None, Some(94), false),
            (ACCEPTED, None, Some(14), false),
            (REJECTED, Some("cap_reached".to_string()), None, false),
            (REJECTED, Some("duplicate".to_string()), None, false),
            (ACCEPTED, None, Some(467), true),
        ];
        assert_eq!(view(&batch), expected, "{backend}: one batch");
        assert_eq!(view(&single), expected, "{backend}: one at a time");
        assert_eq!(batch[12].credit_id, batch[0].credit_id, "{backend}: the repeated id names the first credit");
        assert!(batch.iter().enumerate().all(|(i, v)| v.index == i));
        // Credit ids are the credits' own, in the batch's order.
        let ids: Vec<i64> = batch.iter().take(12).filter_map(|v| v.credit_id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{backend}: {ids:?}");
        for v in batch.iter().filter(|v| v.credit_id.is_some()) {
            let c = s.inclusive_credit(v.credit_id.unwrap()).unwrap().unwrap();
            assert_eq!(Some(c.grams), v.grams, "{backend}");
        }
        // The whole batch again: every answer replayed, nothing new stored.
        let (again, counts) = s.inclusive_record_events(&client, &gd, &lib, events("ann"), now()).unwrap();
        assert!(again.iter().all(|v| v.replay), "{backend}");
        let strip = |v: &[store::inclusive::Verdict]| -> Vec<Seen> {
            v.iter().map(|v| (v.status, v.reason.clone(), v.credit_id, v.grams)).collect()
        };
        assert_eq!(strip(&again), strip(&batch), "{backend}");
        assert_eq!(counts.accepted, 10, "{backend}");
    }
}
