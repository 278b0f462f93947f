//! The store's integration suite: every test runs against SQLite and PostgreSQL alike.

use store::filings::{ActivityRow, Outcome, RejectedRow};
use store::reference::{FacilityRecord, OrgRecord};
use store::testing::stores;
use store::{Store, StoreError};

fn org(code: &str, parent: Option<&str>) -> OrgRecord {
    OrgRecord {
        code: code.into(),
        name: format!("{code} name"),
        parent_code: parent.map(Into::into),
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

fn fac(code: &str, org: &str) -> FacilityRecord {
    FacilityRecord {
        code: code.into(),
        name: code.into(),
        kind: "base_station_5g".into(),
        org_code: org.into(),
        province: "GD".into(),
        allocation_share: String::new(),
        shared_with: String::new(),
    }
}

fn seed(s: &Store) {
    s.upsert_reference(
        "test",
        &[org("CT", None), org("CT_GD", Some("CT")), org("CT_GD_GZ", Some("CT_GD")), org("CTXGD", Some("CT"))],
        &[fac("F1", "CT_GD_GZ"), fac("F2", "CT_GD"), fac("F3", "CTXGD")],
    )
    .unwrap();
}

fn row(fac: &str, period: &str, qty: &str, doc: &str) -> ActivityRow {
    ActivityRow {
        facility_code: fac.into(),
        period: period.into(),
        carrier: "electricity".into(),
        quantity: qty.into(),
        unit: "kWh".into(),
        source_document: doc.into(),
        evidence_ref: String::new(),
        line: 2,
    }
}

fn ok(r: ActivityRow) -> Result<Outcome, String> {
    Ok(Outcome::Accepted(r))
}

#[test]
fn migrations_are_applied_once_and_reopening_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("migrations", dir.path()) {
        assert_eq!(s.schema_version().unwrap(), store::migrations::MIGRATIONS.len() as i64, "{name}");
        seed(&s);
        s.migrate_again_for_test();
        assert_eq!(s.orgs().unwrap().len(), 4, "{name}");
    }
    // The SQLite file survives a reopen with its data.
    let s = Store::open_sqlite_dir(dir.path()).unwrap();
    assert_eq!(s.facility_count().unwrap(), 3);
}

#[test]
fn subtrees_are_prefixes_and_underscores_do_not_widen_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("subtrees", dir.path()) {
        seed(&s);
        let gd = s.org("CT_GD").unwrap().unwrap();
        assert_eq!(gd.path, "/CT/CT_GD/");
        let within: Vec<String> = s.orgs_within(&gd.path).unwrap().into_iter().map(|o| o.code).collect();
        assert_eq!(within, vec!["CT_GD", "CT_GD_GZ"], "{name}: CTXGD must not match CT_GD");
        let facs: Vec<String> = s.facilities_within(&gd.path).unwrap().into_iter().map(|f| f.code).collect();
        assert_eq!(facs, vec!["F1", "F2"], "{name}");
    }
}

#[test]
fn filing_workflow_uploads_quarantine_idempotence_and_restatement() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("workflow", dir.path()) {
        seed(&s);
        let f = s.create_filing("filer", "CT_GD", "2024-03").unwrap();
        assert_eq!((f.status.as_str(), f.version), ("draft", 1));
        // One filing per org and month; nested orgs may file the same month (rows are checked).
        assert!(matches!(s.create_filing("filer", "CT_GD", "2024-03"), Err(StoreError::Conflict(_))), "{name}");
        assert!(matches!(s.create_filing("filer", "CT_GD", "2024-3"), Err(StoreError::Invalid(_))), "{name}");
        let city = s.create_filing("filer", "CT_GD_GZ", "2024-03").unwrap();
        s.create_filing("filer", "CTXGD", "2024-03").expect("a sibling subtree files on its own");

        let bad = RejectedRow {
            row: row("F9", "2024-03", "5", "bill-9"),
            reasons: "facility_code: unknown".into(),
            problems: Vec::new(),
        };
        let mut rows = vec![
            ok(row("F1", "2024-03", "100", "bill-1")),
            ok(row("F2", "2024-03", "200", "bill-2")),
            Ok(Outcome::Rejected(bad)),
        ]
        .into_iter();
        let (u, new) = s.record_upload("filer", f.id, "sha-a", "march.csv", &mut rows).unwrap();
        assert!(new);
        assert_eq!((u.rows_read, u.accepted, u.rejected), (3, 2, 1), "{name}");
        assert_eq!(s.quarantine(f.id).unwrap().len(), 1);

        // The same file again changes nothing.
        let mut again = vec![ok(row("F1", "2024-03", "999", "bill-1"))].into_iter();
        let (u2, new2) = s.record_upload("filer", f.id, "sha-a", "march.csv", &mut again).unwrap();
        assert!(!new2);
        assert_eq!(u2.id, u.id);
        assert_eq!(s.activity_count(f.id).unwrap(), 2);

        // A corrected file: the fixed row leaves quarantine, an existing key is replaced, not added.
        let mut fixed =
            vec![ok(row("F1", "2024-03", "110", "bill-1")), ok(row("F9", "2024-03", "5", "bill-9"))].into_iter();
        s.record_upload("filer", f.id, "sha-b", "fixed.csv", &mut fixed).unwrap();
        let rows = s.activity_rows(f.id, 0, 100).unwrap();
        assert_eq!(rows.len(), 3, "{name}: F1 replaced, F9 added");
        assert_eq!(rows.iter().find(|r| r.facility_code == "F1").unwrap().quantity, "110");
        assert!(s.quarantine(f.id).unwrap().is_empty(), "{name}");
        // The replaced value is kept, with the upload that replaced it.
        let replaced = s.replaced_rows(f.id).unwrap();
        assert_eq!(replaced.len(), 1, "{name}: only F1 changed value");
        assert_eq!((replaced[0].1.facility_code.as_str(), replaced[0].1.quantity.as_str()), ("F1", "100"), "{name}");
        assert_eq!(replaced[0].0, s.uploads(f.id).unwrap().last().unwrap().id);

        // F1's March is in the province's filing: the city filing cannot take it again.
        assert_eq!(s.filed_elsewhere(city.id).unwrap().get("F1"), Some(&f.id), "{name}");
        let mut twice = vec![ok(row("F1", "2024-03", "100", "bill-1"))].into_iter();
        assert!(
            matches!(s.record_upload("filer", city.id, "sha-x", "c.csv", &mut twice), Err(StoreError::Conflict(_))),
            "{name}"
        );
        assert_eq!(s.activity_count(city.id).unwrap(), 0, "{name}: the refused upload left nothing");
        let mut broken = vec![ok(row("GZ", "2024-03", "1", "z")), Err("line 3: bad quoting".to_string())].into_iter();
        assert!(
            matches!(s.record_upload("filer", city.id, "sha-y", "b.csv", &mut broken), Err(StoreError::Invalid(_))),
            "{name}"
        );
        assert!(s.uploads(city.id).unwrap().is_empty(), "{name}: nothing recorded");

        // Workflow.
        assert!(matches!(s.transition("rev", f.id, "approve", ""), Err(StoreError::Conflict(_))));
        s.transition("filer", f.id, "submit", "").unwrap();
        assert!(matches!(s.transition("rev", f.id, "return", " "), Err(StoreError::Invalid(_))));
        let r = s.transition("rev", f.id, "return", "F2 looks low").unwrap();
        assert_eq!((r.status.as_str(), r.comment.as_str()), ("returned", "F2 looks low"));
        s.transition("filer", f.id, "submit", "").unwrap();
        let a = s.transition("rev", f.id, "approve", "").unwrap();
        assert_eq!(a.status, "approved");
        let mut late = vec![ok(row("F2", "2024-03", "1", "x"))].into_iter();
        assert!(
            matches!(s.record_upload("filer", f.id, "sha-c", "late.csv", &mut late), Err(StoreError::Conflict(_))),
            "{name}"
        );

        // Restatement: a new version, the old one unchanged, inventories read the newest approved.
        assert!(matches!(s.restate("filer", f.id, ""), Err(StoreError::Invalid(_))));
        let v2 = s.restate("filer", f.id, "meter F2 misread").unwrap();
        assert_eq!((v2.version, v2.supersedes, v2.status.as_str()), (2, Some(f.id), "draft"));
        assert_eq!(s.activity_count(v2.id).unwrap(), 3);
        let gd_path = s.org("CT_GD").unwrap().unwrap().path;
        assert_eq!(s.current_filings(2024, &gd_path).unwrap().iter().map(|f| f.id).collect::<Vec<_>>(), vec![f.id]);
        let mut fix = vec![ok(row("F2", "2024-03", "250", "bill-2"))].into_iter();
        s.record_upload("filer", v2.id, "sha-d", "restated.csv", &mut fix).unwrap();
        s.transition("filer", v2.id, "submit", "").unwrap();
        s.transition("rev", v2.id, "approve", "").unwrap();
        assert_eq!(s.current_filings(2024, &gd_path).unwrap().iter().map(|f| f.id).collect::<Vec<_>>(), vec![v2.id]);
        let old = s.activity_rows(f.id, 0, 100).unwrap();
        assert_eq!(old.iter().find(|r| r.facility_code == "F2").unwrap().quantity, "200", "{name}: v1 stays readable");
        // The province's inventory never reads the sibling's filing, nor another year.
        assert!(s.current_filings(2023, &gd_path).unwrap().is_empty());

        let audit = s.verify_audit().unwrap();
        assert!(audit.ok, "{name}: {:?}", audit.problems);
        let actions: Vec<String> = s.audit_entries(0, 1000).unwrap().into_iter().map(|e| e.action).collect();
        for a in
            ["filing.create", "filing.upload", "filing.submit", "filing.return", "filing.approve", "filing.restate"]
        {
            assert!(actions.iter().any(|x| x == a), "{name}: audit lacks {a}");
        }
    }
}

#[test]
fn editing_audit_history_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("tamper", dir.path()) {
        seed(&s);
        let f = s.create_filing("alice", "CT_GD", "2024-01").unwrap();
        let mut rows = vec![ok(row("F1", "2024-01", "1", "b"))].into_iter();
        s.record_upload("alice", f.id, "h", "f.csv", &mut rows).unwrap();
        assert!(s.verify_audit().unwrap().ok);
        s.tx(|c| c.exec("UPDATE audit SET actor = 'mallory' WHERE seq = 2", &[])).unwrap();
        let v = s.verify_audit().unwrap();
        assert!(!v.ok, "{name}");
        assert!(v.problems.iter().any(|p| p.starts_with("entry 2:")), "{name}: {:?}", v.problems);
        // Restore the field: the chain verifies again; then drop the last entry: truncation is seen.
        s.tx(|c| c.exec("UPDATE audit SET actor = 'alice' WHERE seq = 2", &[])).unwrap();
        assert!(s.verify_audit().unwrap().ok, "{name}");
        let last = s.audit_entries(0, 1000).unwrap().last().unwrap().seq;
        s.tx(|c| c.exec("DELETE FROM audit WHERE seq = $1", &[last.into()])).unwrap();
        assert!(!s.verify_audit().unwrap().ok, "{name}: a removed last entry must be detected");
    }
}

#[test]
fn login_lockout_windows_disabled_users_and_password_changes() {
    use store::users::LoginPolicy;
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("lockout", dir.path()) {
        seed(&s);
        let p = LoginPolicy { user_failures: 3, address_failures: 5, window_secs: 100, lock_secs: 60 };
        let u = s.create_user("admin", "gd", "$argon2id$fake", "data_filer", "CT_GD").unwrap();
        assert!(matches!(s.create_user("admin", "a\0<b>", "x", "employee", "CT"), Err(StoreError::Invalid(_))));
        let t0 = 1_000_000;
        // Two failures, then the window passes: the count starts again.
        assert_eq!(s.login_failed(&p, "gd", None, t0).unwrap(), None);
        assert_eq!(s.login_failed(&p, "gd", None, t0 + 10).unwrap(), None);
        assert_eq!(s.login_failed(&p, "gd", None, t0 + 200).unwrap(), None, "{name}: a new window");
        assert_eq!(s.login_failed(&p, "gd", None, t0 + 201).unwrap(), None);
        assert_eq!(s.login_locked("gd", None, t0 + 201).unwrap(), None);
        assert_eq!(s.login_failed(&p, "gd", None, t0 + 202).unwrap(), Some(60), "{name}: third in the window locks");
        assert_eq!(s.login_locked("gd", None, t0 + 212).unwrap(), Some(50));
        assert_eq!(s.login_locked("gd", Some("10.0.0.1"), t0 + 212).unwrap(), Some(50));
        assert_eq!(s.login_locked("other", None, t0 + 212).unwrap(), None);
        assert_eq!(s.login_locked("gd", None, t0 + 262).unwrap(), None, "{name}: the lock ends");
        let lockouts: Vec<_> =
            s.audit_entries(0, 1000).unwrap().into_iter().filter(|e| e.action == "auth.lockout").collect();
        assert_eq!(lockouts.len(), 1, "{name}");
        assert_eq!((lockouts[0].org_code.as_str(), lockouts[0].entity.clone()), ("CT_GD", format!("user/{}", u.id)));
        // An address over many usernames; unknown usernames belong to the root org.
        for i in 0..5 {
            s.login_failed(&p, &format!("x{i}"), Some("10.0.0.9"), t0 + 1000).unwrap();
        }
        assert_eq!(s.login_locked("gd", Some("10.0.0.9"), t0 + 1001).unwrap(), Some(59), "{name}");
        assert!(s.audit_entries(0, 1000).unwrap().iter().any(|e| e.entity == "address/10.0.0.9" && e.org_code == "CT"));
        // A success resets the username's count.
        s.login_failed(&p, "gd", None, t0 + 300).unwrap();
        s.login_failed(&p, "gd", None, t0 + 301).unwrap();
        s.login_succeeded("gd").unwrap();
        assert_eq!(s.login_failed(&p, "gd", None, t0 + 302).unwrap(), None, "{name}");
        // Disable: tokens refused and revoked; enable lifts a lockout.
        s.add_token(u.id, "t1", "2999-01-01T00:00:00.000Z").unwrap();
        s.add_token(u.id, "t2", "2999-01-01T00:00:00.000Z").unwrap();
        let d = s.set_user_disabled("admin", u.id, true).unwrap();
        assert!(d.disabled && s.user_by_token("t1").unwrap().is_none(), "{name}");
        s.login_failed(&p, "gd", None, t0 + 303).unwrap();
        s.login_failed(&p, "gd", None, t0 + 304).unwrap();
        let e = s.set_user_disabled("admin", u.id, false).unwrap();
        assert!(!e.disabled);
        assert_eq!(s.login_locked("gd", None, t0 + 305).unwrap(), None);
        assert!(s.user_by_token("t1").unwrap().is_none(), "{name}: revoked, not only hidden");
        // A password change keeps the caller's token only.
        s.add_token(u.id, "t3", "2999-01-01T00:00:00.000Z").unwrap();
        s.add_token(u.id, "t4", "2999-01-01T00:00:00.000Z").unwrap();
        assert_eq!(s.set_password("gd", u.id, "$argon2id$new", Some("t3")).unwrap(), 1, "{name}");
        assert!(s.user_by_token("t3").unwrap().is_some() && s.user_by_token("t4").unwrap().is_none());
        assert_eq!(s.user_by_id(u.id).unwrap().unwrap().password_hash, "$argon2id$new");
        let actions: Vec<String> = s.audit_entries(0, 1000).unwrap().into_iter().map(|e| e.action).collect();
        for a in ["user.disable", "user.enable", "user.password"] {
            assert!(actions.iter().any(|x| x == a), "{name}: {a}");
        }
        assert!(s.verify_audit().unwrap().ok);
    }
}

#[test]
fn users_tokens_and_snapshot_versions() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("users", dir.path()) {
        seed(&s);
        let u = s.create_user("admin", "gd", "$argon2id$fake", "data_filer", "CT_GD").unwrap();
        assert!(
            matches!(s.create_user("admin", "gd", "x", "data_filer", "CT_GD"), Err(StoreError::Conflict(_))),
            "{name}"
        );
        assert!(s.create_user("admin", "nobody", "x", "data_filer", "NOPE").is_err());
        s.add_token(u.id, "secret-token", "2999-01-01T00:00:00.000Z").unwrap();
        s.add_token(u.id, "old-token", "2000-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            s.user_by_token("secret-token").unwrap().map(|u| (u.0.username, u.1)),
            Some(("gd".into(), "2999-01-01T00:00:00.000Z".into()))
        );
        assert!(s.user_by_token("old-token").unwrap().is_none(), "{name}: expired");
        assert!(s.user_by_token("guess").unwrap().is_none());
        s.revoke_token("secret-token").unwrap();
        assert!(s.user_by_token("secret-token").unwrap().is_none());

        let fs1 = s.add_factor_set("admin", "my-grid", "a = 1", "first", "CT").unwrap();
        let fs2 = s.add_factor_set("admin", "my-grid", "a = 2", "corrected", "CT").unwrap();
        assert_eq!((fs1.version, fs2.version), (1, 2));
        assert_eq!(s.current_factor_sets().unwrap().iter().map(|f| f.id).collect::<Vec<_>>(), vec![fs2.id]);
        let new = |sup: Option<i64>| store::snapshots::NewSnapshot {
            org_code: "CT_GD".into(),
            year: 2024,
            supersedes: sup,
            reason: String::new(),
            options: serde_json::json!({}),
            filings: serde_json::json!([]),
            factor_sets: vec![fs1.id],
            library_version: "v".into(),
            library_fingerprint: "f".into(),
            result: serde_json::json!({"total": 1}),
            cells: (1..=3)
                .map(|m| store::snapshots::SnapshotCell {
                    org_code: "CT_GD".into(),
                    facility_type: "office".into(),
                    month: m,
                    metrics: format!("{m},0,-7"),
                })
                .collect(),
        };
        let a = s.add_snapshot("analyst", new(None)).unwrap();
        let b = s.add_snapshot("analyst", new(Some(a.id))).unwrap();
        assert_eq!((a.version, b.version, b.supersedes), (1, 2, Some(a.id)), "{name}");
        assert_eq!(s.snapshot(a.id).unwrap().result, serde_json::json!({"total": 1}));
        assert_eq!(s.superseded_snapshots().unwrap(), vec![a.id]);
        assert_eq!(s.snapshots_within("/CT/CT_GD/").unwrap().len(), 2);
        assert!(s.snapshots_within("/CT/CTXGD/").unwrap().is_empty());
        // Each snapshot keeps its cells, written with it, read back as stored.
        let cells = s.snapshot_cells(a.id).unwrap().unwrap();
        assert_eq!(cells, new(None).cells, "{name}");
        assert_eq!(s.snapshot_cells(b.id).unwrap().unwrap().len(), 3, "{name}");
        assert!(!s.keep_snapshot_cells(a.id, &[]).unwrap(), "{name}: cells are kept once");
        assert_eq!(s.snapshot_cells(a.id).unwrap().unwrap(), cells, "{name}");
        assert!(s.keep_snapshot_cells(9_999, &cells).is_err(), "{name}: no such snapshot");
    }
}

#[test]
fn sqlite_backup_and_restore_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Store::open_sqlite_dir(&data).unwrap();
    seed(&s);
    let backup = dir.path().join("backup.sqlite3");
    s.backup_sqlite(&backup).unwrap();
    assert!(s.backup_sqlite(&backup).is_err(), "never overwrites");
    s.create_filing("x", "CT_GD", "2024-05").unwrap();
    drop(s);
    let v = store::restore_sqlite(&backup, &data, None).unwrap();
    assert!(v.ok);
    let s = Store::open_sqlite_dir(&data).unwrap();
    assert_eq!(s.facility_count().unwrap(), 3);
    assert!(s.filings_within("/CT/", None).unwrap().is_empty(), "the filing made after the backup is gone");
    assert!(data.join("dualcarbon.sqlite3.before-restore").exists());
    // Garbage is refused.
    let untouched = std::fs::read(&backup).unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a database at all, not at all, no").unwrap();
    assert!(store::restore_sqlite(&junk, &data, None).is_err());
    // A refused restore leaves the live database in place; the backup file itself is never changed.
    assert_eq!(Store::open_sqlite_dir(&data).unwrap().facility_count().unwrap(), 3);
    assert!(!data.join("dualcarbon.sqlite3.restoring").exists());
    assert_eq!(std::fs::read(&backup).unwrap(), untouched);
}

#[test]
fn platform_documents_import_once_change_with_their_audit_entry_and_snapshots_keep_cells_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("documents", dir.path()) {
        seed(&s);
        assert_eq!(s.document(store::documents::TARGETS).unwrap(), None, "{name}");
        // A file of an earlier release is imported once, with its audit entry.
        assert!(s.import_document(store::documents::TARGETS, "[CT]\n").unwrap(), "{name}");
        assert!(!s.import_document(store::documents::TARGETS, "[other]\n").unwrap(), "{name}: never twice");
        assert_eq!(s.document(store::documents::TARGETS).unwrap().as_deref(), Some("[CT]\n"), "{name}");
        let imports: Vec<_> = s
            .audit_entries(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == store::documents::IMPORT_ACTION)
            .collect();
        assert_eq!(imports.len(), 1, "{name}");
        assert_eq!(
            (imports[0].entity.as_str(), imports[0].org_code.as_str()),
            ("document:targets.toml", "CT"),
            "{name}"
        );
        // A change and its audit entry commit together, or neither does.
        let kind = s.kind();
        let change = |c: &mut dyn store::Conn, body: &str, fail: bool| {
            store::documents::put(c, store::documents::TARGETS, body)?;
            store::audit::append(
                c,
                kind,
                store::audit::Change {
                    actor: "alice",
                    action: "indicators.target",
                    entity: "target:CT:x".into(),
                    org_code: "CT",
                    before: serde_json::Value::Null,
                    after: serde_json::Value::Null,
                },
            )?;
            if fail {
                return Err(store::StoreError::Invalid("the file step failed".into()));
            }
            Ok(())
        };
        let entries = s.audit_entries(0, 1000).unwrap().len();
        assert!(s.tx(|c| change(c, "[failed]\n", true)).is_err());
        assert_eq!(s.document(store::documents::TARGETS).unwrap().as_deref(), Some("[CT]\n"), "{name}");
        assert_eq!(s.audit_entries(0, 1000).unwrap().len(), entries, "{name}");
        s.tx(|c| change(c, "[CT]\nx = 1\n", false)).unwrap();
        assert_eq!(s.document(store::documents::TARGETS).unwrap().as_deref(), Some("[CT]\nx = 1\n"), "{name}");
        assert_eq!(s.audit_entries(0, 1000).unwrap().len(), entries + 1, "{name}");
        assert!(s.verify_audit().unwrap().ok, "{name}");
        // A snapshot stored without cells (before they were kept) gets them once, later.
        let old = s
            .add_snapshot(
                "analyst",
                store::snapshots::NewSnapshot {
                    org_code: "CT".into(),
                    year: 2023,
                    supersedes: None,
                    reason: String::new(),
                    options: serde_json::json!({}),
                    filings: serde_json::json!([]),
                    factor_sets: vec![],
                    library_version: "v".into(),
                    library_fingerprint: "f".into(),
                    result: serde_json::json!({}),
                    cells: vec![],
                },
            )
            .unwrap();
        s.tx(|c| c.exec("DELETE FROM snapshot_cell_sets WHERE snapshot_id = $1", &[old.id.into()])).unwrap();
        assert_eq!(s.snapshot_cells(old.id).unwrap(), None, "{name}");
        let cell = store::snapshots::SnapshotCell {
            org_code: "CT".into(),
            facility_type: "office".into(),
            month: 1,
            metrics: "1".into(),
        };
        assert!(s.keep_snapshot_cells(old.id, std::slice::from_ref(&cell)).unwrap(), "{name}");
        assert!(!s.keep_snapshot_cells(old.id, &[]).unwrap(), "{name}");
        assert_eq!(s.snapshot_cells(old.id).unwrap(), Some(vec![cell]), "{name}");
    }
}

#[test]
fn audit_pages_are_filtered_by_subtree_actor_action_and_time_newest_first() {
    use store::audit::AuditQuery;
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("audit_page", dir.path()) {
        seed(&s);
        let gd = s.create_filing("alice", "CT_GD", "2024-01").unwrap();
        let gz = s.create_filing("bob", "CT_GD_GZ", "2024-01").unwrap();
        let x = s.create_filing("alice", "CTXGD", "2024-01").unwrap();
        let mut rows = vec![ok(row("F2", "2024-01", "1", "b"))].into_iter();
        s.record_upload("alice", gd.id, "h1", "f.csv", &mut rows).unwrap();
        let mut rows = vec![ok(row("F1", "2024-01", "1", "b"))].into_iter();
        s.record_upload("bob", gz.id, "h2", "f.csv", &mut rows).unwrap();
        s.transition("alice", gd.id, "submit", "").unwrap();
        s.transition("bob", gz.id, "submit", "").unwrap();
        let all = s.audit_entries(0, 1000).unwrap();
        let gd_path = s.org("CT_GD").unwrap().unwrap().path;
        let seqs = |q: &AuditQuery| -> (Vec<i64>, i64) {
            let p = s.audit_page(q).unwrap();
            (p.entries.iter().map(|e| e.seq).collect(), p.total)
        };
        // Everything, newest first, paged by a cursor.
        let q = AuditQuery { newest_first: true, limit: 2, ..Default::default() };
        let (first, total) = seqs(&q);
        assert_eq!(total, all.len() as i64, "{name}");
        let newest: Vec<i64> = all.iter().rev().take(2).map(|e| e.seq).collect();
        assert_eq!(first, newest, "{name}: newest first");
        let (second, _) = seqs(&AuditQuery { cursor: Some(first[1]), ..q.clone() });
        assert_eq!(second, all.iter().rev().skip(2).take(2).map(|e| e.seq).collect::<Vec<_>>(), "{name}");
        // Oldest first with a cursor is the old `audit_entries`.
        let (asc, _) = seqs(&AuditQuery { cursor: Some(1), limit: 1000, ..Default::default() });
        assert_eq!(asc, s.audit_entries(1, 1000).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), "{name}");
        // The CT_GD subtree: CT_GD and CT_GD_GZ, not CTXGD (an underscore does not widen it).
        let sub = AuditQuery { org_path: gd_path.clone(), limit: 1000, ..Default::default() };
        let p = s.audit_page(&sub).unwrap();
        assert_eq!(p.total, 6, "{name}");
        assert!(p.entries.iter().all(|e| e.org_code == "CT_GD" || e.org_code == "CT_GD_GZ"), "{name}");
        assert!(!p.entries.iter().any(|e| e.entity == format!("filing/{}", x.id)), "{name}");
        // Actor and action, combined with the subtree.
        let (bob, n) = seqs(&AuditQuery { actor: Some("bob".into()), ..sub.clone() });
        assert_eq!(n, 3, "{name}");
        assert!(bob.iter().all(|q| all.iter().any(|e| e.seq == *q && e.actor == "bob")), "{name}");
        let (_, submits) = seqs(&AuditQuery { action: Some("filing.submit".into()), ..sub.clone() });
        assert_eq!(submits, 2, "{name}");
        let (_, none) = seqs(&AuditQuery { action: Some("filing.approve".into()), ..sub.clone() });
        assert_eq!(none, 0, "{name}");
        // A time range: [from, to).
        let at = all[0].at.clone();
        let (_, before) = seqs(&AuditQuery { to: Some(at.clone()), ..sub.clone() });
        assert_eq!(before, 0, "{name}");
        let (_, since) = seqs(&AuditQuery { from: Some(at), ..sub.clone() });
        assert_eq!(since, 6, "{name}");
        let (_, future) = seqs(&AuditQuery { from: Some("2999-01-01T00:00:00.000Z".into()), ..sub.clone() });
        assert_eq!(future, 0, "{name}");
    }
}

/// Issue 15: business-data filings (kind `business`, one org's year) keep the flow of activity
/// filings and never reach an inventory's filings; facility attributes are versioned, a version
/// equal to the newest of its date is not stored again, each batch one audit entry.
#[test]
fn business_filings_and_versioned_facility_attributes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("business_attributes", dir.path()) {
        seed(&s);
        let b = s.create_business_filing("filer", "CT_GD", 2024).unwrap();
        assert_eq!((b.kind.as_str(), b.period.as_str(), b.version), ("business", "2024", 1), "{name}");
        assert!(matches!(s.create_business_filing("filer", "CT_GD", 2024), Err(StoreError::Conflict(_))), "{name}");
        assert!(matches!(s.create_business_filing("filer", "CT_GD", 1989), Err(StoreError::Invalid(_))), "{name}");
        let a = s.create_filing("filer", "CT_GD", "2024-03").unwrap();
        assert_eq!(a.kind, "activity");
        let mut rows = vec![ok(row("CT_GD", "2024", "1000", "r1"))].into_iter();
        s.record_upload("filer", b.id, "sha-b", "business.csv", &mut rows).unwrap();
        s.transition("filer", b.id, "submit", "").unwrap();
        s.transition("reviewer", b.id, "approve", "").unwrap();
        assert_eq!(s.current_business_filings("/CT/").unwrap().iter().map(|f| f.id).collect::<Vec<_>>(), vec![b.id]);
        assert!(s.current_filings(2024, "/CT/").unwrap().iter().all(|f| f.kind == "activity"), "{name}");
        let before = s.business_fingerprint().unwrap();
        let v2 = s.restate("filer", b.id, "recount").unwrap();
        assert_eq!((v2.kind.as_str(), v2.version), ("business", 2), "{name}");
        assert_ne!(s.business_fingerprint().unwrap(), before);
        assert_eq!(s.activity_count(v2.id).unwrap(), 1, "a restatement starts as a copy");

        let new = |f: &str, d: &str, v: serde_json::Value| store::attributes::NewAttributes {
            facility_code: f.into(),
            valid_from: d.into(),
            attributes: v,
            source: String::new(),
        };
        let first = s
            .add_facility_attributes(
                "admin",
                "CT",
                &[
                    new("F1", "2021-01-01", serde_json::json!({"commissioning_year": 2021})),
                    new("F2", "2022-01-01", serde_json::json!({"ai_saving": true})),
                ],
            )
            .unwrap();
        assert_eq!((first.added, first.unchanged), (2, 0), "{name}");
        assert!(first.audit_seq.is_some());
        let again = s
            .add_facility_attributes(
                "admin",
                "CT",
                &[
                    new("F1", "2021-01-01", serde_json::json!({"commissioning_year": 2021})),
                    new("F2", "2022-01-01", serde_json::json!({"ai_saving": false})),
                ],
            )
            .unwrap();
        assert_eq!((again.added, again.unchanged), (1, 1), "{name}: a new version of F2's date");
        let f2 = s.facility_attributes("F2").unwrap();
        assert_eq!(f2.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2], "{name}: the old version stays");
        assert_eq!(s.facility_attributes_within("/CT/CT_GD/").unwrap().len(), 3, "{name}");
        assert_eq!(s.facility_attributes_within("/CT/CTXGD/").unwrap().len(), 0, "{name}");
    }
}

/// A Scope 3 run recorded into the inventory of a year excludes runs of the orgs above and within
/// it for that year (their lines would be counted twice), also when two recordings race; a
/// sibling whose code begins like the org's (CTXGD beside CT_GD) is not within it.
#[test]
fn a_recorded_scope3_run_excludes_the_orgs_above_and_within_even_when_racing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in stores("supply_record_overlap", dir.path()) {
        seed(&s);
        let result = serde_json::json!({"lines": []});
        let run = |org: &str, year: i64| s.supply_add_run("alice", org, year, 1_000, &result).unwrap();
        let record = |r: &store::supply::Run| s.supply_record_run("alice", r, None);
        assert!(record(&run("CT_GD", 2024)).is_ok(), "{name}");
        for org in ["CT_GD_GZ", "CT"] {
            match record(&run(org, 2024)) {
                Err(StoreError::Conflict(m)) => {
                    assert!(m.contains("counted twice") && m.contains("CT_GD"), "{name}: {m}")
                }
                other => panic!("{name}: {org} within or above CT_GD recorded: {other:?}"),
            }
        }
        assert!(record(&run("CTXGD", 2024)).is_ok(), "{name}: a sibling is not within CT_GD");
        assert!(record(&run("CT_GD_GZ", 2023)).is_ok(), "{name}: another year");
        // Racing: a parent and its child recorded at once, year after year: one of each pair.
        for year in 2030..2040 {
            let (parent, child) = (run("CT_GD", year), run("CT_GD_GZ", year));
            let barrier = std::sync::Barrier::new(2);
            let outcomes: Vec<bool> = std::thread::scope(|t| {
                let a = t.spawn(|| {
                    barrier.wait();
                    s.supply_record_run("alice", &parent, None).is_ok()
                });
                let b = t.spawn(|| {
                    barrier.wait();
                    s.supply_record_run("bob", &child, None).is_ok()
                });
                vec![a.join().unwrap(), b.join().unwrap()]
            });
            assert_eq!(outcomes.iter().filter(|&&ok| ok).count(), 1, "{name} {year}: {outcomes:?}");
        }
    }
}
