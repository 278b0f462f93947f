//! Cluster mode's store parts (docs/cluster.md): the job table on both backends, the claim of a
//! stale job (`FOR UPDATE SKIP LOCKED`, PostgreSQL), change notifications (`LISTEN`/`NOTIFY`) and
//! the advisory-lock holder.

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use store::cluster::NewJob;
use store::testing::{fresh_postgres, stores};

fn new_job<'a>(params: &'a serde_json::Value, instance: &'a str, now_ms: i64) -> NewJob<'a> {
    NewJob {
        kind: "inventory",
        title: "inventory G 2024",
        params,
        owner: "alice",
        org_code: "G",
        org_path: "/G/",
        target: "org/G",
        steps_total: 1,
        instance,
        now_ms,
    }
}

#[test]
fn jobs_are_rows_with_stage_heartbeat_and_one_end() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("cluster_jobs", dir.path()) {
        let params = json!({"org": "G", "year": 2024});
        let id = s.insert_job(&new_job(&params, "i1", 1_000)).unwrap();
        s.job_stage(id, "computing", "computing", 0).unwrap();
        let j = s.job_row(id).unwrap().unwrap();
        assert_eq!(
            (j.status.as_str(), j.stage_code.as_str(), j.instance.as_str(), j.attempts),
            ("running", "computing", "i1", 1),
            "{name}"
        );
        assert_eq!(j.params, params, "{name}");
        assert_eq!(s.job_heartbeat("i1", 5_000).unwrap(), 1, "{name}");
        assert_eq!(s.job_row(id).unwrap().unwrap().heartbeat_ms, 5_000, "{name}");
        let (result, summary) = (json!({"snapshot": 7, "rows": [1, 2]}), json!({"snapshot": 7}));
        assert!(s.job_finish(id, Ok((&result, &summary))).unwrap(), "{name}");
        // A second end (another instance finishing it too) changes nothing.
        assert!(!s.job_finish(id, Err(&json!({"code": "x"}))).unwrap(), "{name}");
        let j = s.job_row(id).unwrap().unwrap();
        assert_eq!((j.status.as_str(), j.result, j.summary, j.error), ("done", result, summary, None), "{name}");
        assert_eq!(s.job_rows("alice", 10).unwrap().len(), 1, "{name}");
        assert!(s.job_rows("bob", 10).unwrap().is_empty(), "{name}");
        // Finished jobs are forgotten after their time; running ones never.
        let running = s.insert_job(&new_job(&params, "i1", 1_000)).unwrap();
        assert_eq!(s.forget_finished_jobs("2000-01-01T00:00:00.000Z").unwrap(), 0, "{name}");
        assert_eq!(s.forget_finished_jobs("2999-01-01T00:00:00.000Z").unwrap(), 1, "{name}");
        assert!(s.job_row(id).unwrap().is_none() && s.job_row(running).unwrap().is_some(), "{name}");
    }
}

#[test]
fn a_stale_job_is_claimed_once_and_a_live_one_never() {
    let Some(url) = fresh_postgres("cluster_claim") else { return };
    let s = store::Store::open_postgres(&url).unwrap();
    let params = json!({});
    let stale = s.insert_job(&new_job(&params, "dead", 1_000)).unwrap();
    let live = s.insert_job(&new_job(&params, "alive", 9_000)).unwrap();
    // Two instances claim at once: exactly one gets the stale job; nobody gets the live one.
    let s2 = store::Store::open_postgres(&url).unwrap();
    let (a, b) = std::thread::scope(|t| {
        let a = t.spawn(|| s.claim_stale_job("A", 5_000, 10_000).unwrap());
        let b = t.spawn(|| s2.claim_stale_job("B", 5_000, 10_000).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    let claimed: Vec<_> = [a, b].into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!((claimed[0].id, claimed[0].attempts), (stale, 2));
    let j = s.job_row(stale).unwrap().unwrap();
    assert!(j.instance == "A" || j.instance == "B");
    assert_eq!(j.heartbeat_ms, 10_000);
    assert!(s.claim_stale_job("C", 5_000, 10_000).unwrap().is_none(), "claimed jobs beat again");
    assert_eq!(s.job_row(live).unwrap().unwrap().instance, "alive");
}

#[test]
fn changes_of_watched_tables_are_announced_at_commit() {
    let Some(url) = fresh_postgres("cluster_notify") else { return };
    let s = store::Store::open_postgres(&url).unwrap();
    s.install_change_notifications().unwrap();
    s.install_change_notifications().unwrap(); // idempotent
    let (tx, rx) = mpsc::channel::<Option<String>>();
    store::cluster::listen(&url, move |t| {
        let _ = tx.send(t.map(str::to_string));
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), None, "connected: drop everything");
    s.upsert_reference(
        "alice",
        &[store::reference::OrgRecord {
            code: "G".into(),
            name: "G".into(),
            parent_code: None,
            equity_share: String::new(),
            operational_control: String::new(),
        }],
        &[],
    )
    .unwrap();
    let mut seen = Vec::new();
    while let Ok(Some(t)) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.push(t);
        if seen.contains(&"orgs".to_string()) {
            break;
        }
    }
    assert!(seen.contains(&"orgs".to_string()), "{seen:?}");
    let u = s.create_user("alice", "bob", "hash", "employee", "G").unwrap();
    s.add_token(u.id, "tok", "2999-01-01T00:00:00Z").unwrap();
    while rx.recv_timeout(Duration::from_millis(300)).is_ok() {}
    s.revoke_token("tok").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), Some("tokens".into()), "a logout is announced");
}

#[test]
fn the_advisory_lock_has_one_holder_and_moves_when_it_goes() {
    let Some(url) = fresh_postgres("cluster_lock") else { return };
    let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let may_a = Arc::new(AtomicBool::new(true));
    let m = may_a.clone();
    store::cluster::hold_lock(&url, 42, a.clone(), move || m.load(Ordering::SeqCst));
    let wait = |f: &dyn Fn() -> bool| (0..100).any(|_| f() || (std::thread::sleep(Duration::from_millis(50)), false).1);
    assert!(wait(&|| a.load(Ordering::SeqCst)), "A takes the lock");
    store::cluster::hold_lock(&url, 42, b.clone(), || true);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(!b.load(Ordering::SeqCst), "one holder at a time");
    // A's session ends (as when its process dies): B takes the lock.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42")
        .unwrap();
    may_a.store(false, Ordering::SeqCst);
    assert!(wait(&|| b.load(Ordering::SeqCst)), "the lock moved to B");
    assert!(!a.load(Ordering::SeqCst), "A knows it lost it");
}

#[test]
fn quarter_hour_energy_is_kept_and_replaced_by_quarter() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("cluster_quarters", dir.path()) {
        let q = |start_ms: i64, energy: &str, flags: &str| store::cluster::Quarter {
            facility_code: "DC1".into(),
            role: "total_facility".into(),
            start_ms,
            energy_kwh: energy.into(),
            coverage: "1".into(),
            flags: flags.into(),
        };
        s.put_quarters(&[q(900_000, "125", ""), q(0, "125", "")]).unwrap();
        // A quarter seen again (a late reading) replaces the kept one.
        s.put_quarters(&[q(900_000, "130.5", "split")]).unwrap();
        assert_eq!(
            s.quarters("DC1", "total_facility").unwrap(),
            vec![q(0, "125", ""), q(900_000, "130.5", "split")],
            "{name}"
        );
        assert!(s.quarters("DC1", "it_load").unwrap().is_empty(), "{name}");
    }
}

#[test]
fn partitions_are_shared_out_among_live_holders_and_move_when_one_goes() {
    let Some(url) = fresh_postgres("cluster_partitions") else { return };
    let owned = |o: &Arc<Vec<AtomicBool>>| -> Vec<usize> { (0..16).filter(|&i| o[i].load(Ordering::SeqCst)).collect() };
    let wait = |f: &dyn Fn() -> bool| (0..200).any(|_| f() || (std::thread::sleep(Duration::from_millis(50)), false).1);
    let a: Arc<Vec<AtomicBool>> = Arc::new((0..16).map(|_| AtomicBool::new(false)).collect());
    let b: Arc<Vec<AtomicBool>> = Arc::new((0..16).map(|_| AtomicBool::new(false)).collect());
    let may_a = Arc::new(AtomicBool::new(true));
    let m = may_a.clone();
    store::cluster::hold_partitions(&url, 1000, 0, a.clone(), move || m.load(Ordering::SeqCst));
    assert!(wait(&|| owned(&a).len() == 16), "alone, A holds all 16: {:?}", owned(&a));
    // B joins (starting its tries at partition 5): A releases its highest eight, B takes them.
    store::cluster::hold_partitions(&url, 1000, 5, b.clone(), || true);
    assert!(
        wait(&|| owned(&a) == (0..8).collect::<Vec<_>>() && owned(&b) == (8..16).collect::<Vec<_>>()),
        "A {:?} B {:?}",
        owned(&a),
        owned(&b)
    );
    // A's session ends (as when its process dies): B holds all 16.
    may_a.store(false, Ordering::SeqCst);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = 1000",
        )
        .unwrap();
    assert!(wait(&|| owned(&b).len() == 16), "the partitions moved to B: {:?}", owned(&b));
    assert!(owned(&a).is_empty(), "A knows it lost them: {:?}", owned(&a));
}

#[test]
fn an_alert_event_is_claimed_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("cluster_deliveries", dir.path()) {
        let claim = |kind: &str, instance: &str| {
            s.claim_alert_delivery("facility:DC1", "pue_above_1_5_for_1h", 1_714_497_300_000, kind, instance, 5)
                .unwrap()
        };
        assert!(!s.alert_delivered("facility:DC1", "pue_above_1_5_for_1h", 1_714_497_300_000, "opened").unwrap());
        assert!(claim("opened", "A"), "{name}: the first claim delivers");
        assert!(!claim("opened", "B"), "{name}: a second claim does not");
        assert!(claim("acknowledged", "B"), "{name}: another event of the alert is another claim");
        assert!(s.alert_delivered("facility:DC1", "pue_above_1_5_for_1h", 1_714_497_300_000, "opened").unwrap());
        assert_eq!(s.forget_alert_deliveries(6).unwrap(), 2, "{name}");
        assert!(claim("opened", "C"), "{name}: forgotten, claimed again");
    }
}

#[test]
fn a_claim_never_delivered_is_taken_again_once_it_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("cluster_redeliveries", dir.path()) {
        let (subject, rule, opened) = ("facility:DC1", "pue_above_1_5_for_1h", 1_714_497_300_000);
        // A claimed "opened" at 1,000 and "acknowledged" at 1,000 and died; "resolved" was claimed
        // and delivered.
        for kind in ["opened", "acknowledged", "resolved"] {
            assert!(s.claim_alert_delivery(subject, rule, opened, kind, "A", 1_000).unwrap(), "{name}");
        }
        s.alert_delivery_done(subject, rule, opened, "resolved", 1_100).unwrap();
        // Not stale yet at 1,000: nothing to take.
        assert!(s.undelivered_alert_events(1_000).unwrap().is_empty(), "{name}");
        let stale = s.undelivered_alert_events(61_000).unwrap();
        let kinds: Vec<&str> = stale.iter().map(|e| e.3.as_str()).collect();
        assert_eq!(kinds, ["acknowledged", "opened"], "{name}: the undelivered ones only, in key order");
        assert_eq!((stale[0].0.as_str(), stale[0].1.as_str(), stale[0].2), (subject, rule, opened), "{name}");
        // B and C both try: one takes it.
        let took: Vec<bool> = ["B", "C"]
            .iter()
            .map(|i| s.reclaim_alert_delivery((subject, rule, opened, "opened"), i, 61_000, 60_000).unwrap())
            .collect();
        assert_eq!(took, [true, false], "{name}");
        // A delivered one is never taken again; a fresh claim is not stale.
        assert!(!s.reclaim_alert_delivery((subject, rule, opened, "resolved"), "B", 61_000, 60_000).unwrap(), "{name}");
        assert!(!s.reclaim_alert_delivery((subject, rule, opened, "opened"), "C", 61_500, 60_000).unwrap(), "{name}");
        s.alert_delivery_done(subject, rule, opened, "opened", 61_200).unwrap();
        let left: Vec<String> = s.undelivered_alert_events(200_000).unwrap().into_iter().map(|e| e.3).collect();
        assert_eq!(left, ["acknowledged"], "{name}");
    }
}
