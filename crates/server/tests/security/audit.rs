//! Trustworthy records: the audit log cannot be rewritten without the key kept outside the
//! database, a head recorded elsewhere catches a cut tail, console jobs do not pile up, and clients
//! never see internal paths or the database's own messages.

use super::*;
use store::audit::{entry_hash, AuditKey};

/// Like `both`, on stores keyed with an audit key (as `serve` opens them).
fn both_keyed<F, Fut>(name: &str, test: F)
where
    F: Fn(Harness, AuditKey) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let key = AuditKey::from_bytes([7; 32]);
    let k = key.clone();
    let keyed = move |store: Store| {
        let store = store.with_audit_key(k.clone());
        store.seal_audit().unwrap();
        store
    };
    platform(name).prepare(keyed).run(|h| test(h, key.clone()));
}

/// Runs synchronous store calls from a test's async body (the PostgreSQL client blocks).
fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// What an attacker with database access (and without the key) does: rewrite entry `seq`'s actor,
/// drop every entry after it, recompute its hash and the head.
fn rewrite_and_cut(store: &Store, seq: i64, actor: &str) {
    let e = store.audit_entries(seq - 1, 1).unwrap().remove(0);
    let mut forged = store::audit::AuditEntry { actor: actor.into(), ..e };
    forged.hash = entry_hash(&forged);
    store
        .tx(|c| {
            c.exec("DELETE FROM audit WHERE seq > $1", &[seq.into()])?;
            c.exec(
                "UPDATE audit SET actor = $1, hash = $2 WHERE seq = $3",
                &[actor.into(), forged.hash.as_str().into(), seq.into()],
            )?;
            c.exec(
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                &[seq.into(), forged.hash.as_str().into()],
            )?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_log_rewritten_and_cut_without_the_key_is_not_intact() {
    both_keyed("sec_audit_rewrite", |h, _key| async move {
        let auditor = h.login("auditor").await;
        let v = h.get("/api/v1/audit/verify", &auditor).await;
        assert_eq!(v.json["verification"]["ok"], json!(true), "{}: {}", h.backend, v.text);
        assert_eq!(v.json["verification"]["macs_checked"], json!(true), "{}: {}", h.backend, v.text);
        let entries = v.json["verification"]["entries"].as_i64().unwrap();
        assert!(entries > 4, "{}", v.text);
        sync(|| rewrite_and_cut(&h.app.store, 3, "someone-else"));
        let v = h.get("/api/v1/audit/verify", &auditor).await;
        assert_eq!(
            v.json["verification"]["ok"],
            json!(false),
            "{}: a recomputed chain is caught: {}",
            h.backend,
            v.text
        );
        assert!(v.text.contains("entry 3: its MAC does not match"), "{}: {}", h.backend, v.text);
        // Stripping the MACs and the audit.keyed entry (the whole chain recomputed unkeyed) is caught too.
        let s = &h.app.store;
        sync(|| {
            let all = s.audit_entries(0, 1000).unwrap();
            s.tx(|c| c.exec("DELETE FROM audit", &[])).unwrap();
            let mut prev = "0".repeat(64);
            for (i, e) in all.into_iter().filter(|e| e.action != store::audit::KEYED_ACTION).enumerate() {
                let mut e =
                    store::audit::AuditEntry { seq: i as i64 + 1, prev_hash: prev.clone(), mac: String::new(), ..e };
                e.hash = entry_hash(&e);
                prev = e.hash.clone();
                s.tx(|c| {
                c.exec(
                    "INSERT INTO audit (seq, at, actor, action, entity, org_code, before_json, after_json, prev_hash, hash, mac) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'')",
                    &[e.seq.into(), e.at.into(), e.actor.into(), e.action.into(), e.entity.into(), e.org_code.into(), e.before.into(), e.after.into(), e.prev_hash.into(), e.hash.clone().into()],
                )?;
                c.exec("UPDATE audit_head SET seq = $1, hash = $2, key_id = '' WHERE id = 1", &[e.seq.into(), e.hash.into()])
            })
            .unwrap();
            }
        });
        let v = h.get("/api/v1/audit/verify", &auditor).await;
        assert_eq!(
            v.json["verification"]["ok"],
            json!(false),
            "{}: a log stripped of its key is caught: {}",
            h.backend,
            v.text
        );
        assert!(v.text.contains("no entry of this log is keyed"), "{}: {}", h.backend, v.text);
    });
}

#[test]
fn an_anchor_recorded_elsewhere_catches_a_cut_tail() {
    both_keyed("sec_audit_anchor", |h, _key| async move {
        let auditor = h.login("auditor").await;
        let head = sync(|| h.app.store.audit_head().unwrap());
        assert_eq!(head.mac.len(), 64, "the head carries its MAC: {head:?}");
        let ok = h.get(&format!("/api/v1/audit/verify?anchor={}", head.anchor()), &auditor).await;
        assert_eq!(ok.json["verification"]["ok"], json!(true), "{}: {}", h.backend, ok.text);
        assert_eq!(ok.json["verification"]["anchors_checked"], json!(1));
        // Entries removed from the end, the head set back to an older entry: every remaining MAC
        // holds, only the anchor shows what is missing.
        let keep = head.seq - 2;
        sync(|| {
            let e = h.app.store.audit_entries(keep - 1, 1).unwrap().remove(0);
            h.app
                .store
                .tx(|c| {
                    c.exec("DELETE FROM audit WHERE seq > $1", &[keep.into()])?;
                    c.exec(
                        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                        &[keep.into(), e.hash.as_str().into()],
                    )
                })
                .unwrap()
        });
        let v = h.get(&format!("/api/v1/audit/verify?anchor={}", head.anchor()), &auditor).await;
        assert_eq!(v.json["verification"]["ok"], json!(false), "{}: {}", h.backend, v.text);
        assert!(v.text.contains(&format!("the log has no entry {}", head.seq)), "{}: {}", h.backend, v.text);
        let bad = h.get("/api/v1/audit/verify?anchor=12", &auditor).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    });
}

#[test]
fn an_unkeyed_log_migrates_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, store) in store::testing::stores("sec_audit_migrate", &dir.path().join("db")) {
        seed().apply(&store);
        let before = store.verify_audit().unwrap();
        assert!(before.ok && before.keyed_from.is_none(), "{backend}: {before:?}");
        let key = AuditKey::from_bytes([9; 32]);
        let store = store.with_audit_key(key.clone());
        let marker = store.seal_audit().unwrap().expect("the audit.keyed entry is appended");
        assert_eq!(marker, before.entries + 1, "{backend}");
        assert_eq!(store.seal_audit().unwrap(), None, "{backend}: once");
        let e = store.audit_entries(marker - 1, 1).unwrap().remove(0);
        assert_eq!(e.action, "audit.keyed");
        let after: Value = serde_json::from_str(&e.after).unwrap();
        assert_eq!(after["unkeyed_entries"], json!(before.entries), "{backend}: {after}");
        assert_eq!(after["key_id"], json!(key.id()));
        store.create_filing("gd-filer", "CT-GD", "2025-01").unwrap();
        let v = store.verify_audit().unwrap();
        assert!(v.ok && v.macs_checked && v.keyed_from == Some(marker), "{backend}: {v:?}");
        assert_eq!(v.entries, marker + 1);
        // Entries before the key still verify by their chain: an edit there is caught.
        store.tx(|c| c.exec("UPDATE audit SET actor = 'x' WHERE seq = 1", &[])).unwrap();
        assert!(!store.verify_audit().unwrap().ok, "{backend}");
    }
}

#[test]
fn a_keyed_log_refuses_writers_without_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![None];
    urls.extend(store::testing::fresh_postgres("sec_audit_writers").map(Some));
    let sqlite = dir.path().join("db");
    let open = |url: &Option<String>| match url {
        Some(u) => Store::open_postgres(u).unwrap(),
        None => Store::open_sqlite_dir(&sqlite).unwrap(),
    };
    for url in urls {
        let keyed = open(&url).with_audit_key(AuditKey::from_bytes([1; 32]));
        keyed.seal_audit().unwrap();
        seed().apply(&keyed);
        drop(keyed);
        let plain = open(&url);
        let e = plain.create_filing("gd-filer", "CT-GD", "2025-01").unwrap_err().to_string();
        assert!(e.contains("the audit log is keyed"), "{e}");
        let other = open(&url).with_audit_key(AuditKey::from_bytes([2; 32]));
        let e = other.seal_audit().unwrap_err().to_string();
        assert!(e.contains("keyed with key id"), "{e}");
        let v = other.verify_audit().unwrap();
        assert!(!v.ok && !v.macs_checked, "{v:?}");
    }
}

#[test]
fn finished_console_jobs_are_evicted_and_listed_without_results() {
    both("sec_console_jobs", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        // An import whose result holds 1,000 rejected rows.
        let mut csv = String::from("facility_code,period,carrier,quantity,unit\n");
        for i in 0..1500 {
            csv.push_str(&format!("GD1,2025-07,electricity,-{},kWh\n", i + 1));
        }
        let auth = format!("Bearer {gd}");
        let r = h
            .raw(
                "POST",
                &format!("/api/v1/filings/{id}/import-job"),
                &[("authorization", &auth), ("content-type", "text/csv")],
                csv.into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}: {}", h.backend, r.text);
        let job = r.json["job"]["id"].as_i64().unwrap();
        let full = loop {
            let j = h.get(&format!("/api/v1/console/jobs?id={job}"), &gd).await;
            if j.json["jobs"][0]["status"] != json!("running") {
                break j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(
            full.json["jobs"][0]["result"]["rejected"],
            json!(1500),
            "{}: {}",
            h.backend,
            &full.text[..300.min(full.text.len())]
        );
        assert_eq!(full.json["jobs"][0]["result"]["rejected_rows"].as_array().map(Vec::len), Some(1000));
        let list = h.get("/api/v1/console/jobs", &gd).await;
        assert_eq!(
            list.json["jobs"][0]["summary"]["rejected"],
            json!(1500),
            "{}: {} bytes",
            h.backend,
            list.text.len()
        );
        assert!(list.text.len() < 4096, "{}: the list carries no results ({} bytes)", h.backend, list.text.len());
        // Many finished jobs: the oldest are forgotten beyond the limit.
        let admin = h.login("admin").await;
        for _ in 0..platform::jobs::JOB_KEEP_FINISHED + 20 {
            let r = h.post("/api/v1/console/inventory-jobs", &admin, json!({"org_code": "CT", "year": 2024})).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        }
        let mut list;
        loop {
            list = h.get("/api/v1/console/jobs", &admin).await;
            if list.json["jobs"].as_array().unwrap().iter().all(|j| j["status"] != json!("running")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let n = list.json["jobs"].as_array().unwrap().len();
        assert!(n <= platform::jobs::JOB_KEEP_FINISHED, "{}: {n} jobs kept", h.backend);
    });
}

const LEAKS: [&str; 8] = ["/tmp", "spool", "sqlite", "postgres", "SQLSTATE", "no such table", "relation", "os error"];

fn assert_no_leak(r: &Reply, backend: &str) {
    for w in LEAKS {
        assert!(!r.text.to_lowercase().contains(&w.to_lowercase()), "{backend}: the answer shows {w:?}: {}", r.text);
    }
    assert!(r.json["error"]["reference"].as_str().is_some_and(|s| !s.is_empty()), "{backend}: {}", r.text);
}

#[test]
fn database_and_spool_errors_reach_clients_without_internals() {
    both("sec_error_leaks", |h| async move {
        let gd = h.login("gd-filer").await;
        let id = h.open_filing(&gd, "CT-GD", "2025-07").await;
        // The spool directory cannot be made (a file stands where it should be).
        let _ = std::fs::remove_dir_all(&h.app.spool_dir);
        std::fs::write(&h.app.spool_dir, b"in the way").unwrap();
        let r = h.upload(id, &gd, b"facility_code,period,carrier,quantity,unit\nGD1,2025-07,electricity,5,kWh\n").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}: {}", h.backend, r.text);
        assert_no_leak(&r, &h.backend);
        // A database error (a table gone).
        sync(|| h.app.store.tx(|c| c.batch("ALTER TABLE filings RENAME TO filings_gone")).unwrap());
        let r = h.get("/api/v1/filings", &gd).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}: {}", h.backend, r.text);
        assert_eq!(r.json["error"]["code"], json!("database"));
        assert_no_leak(&r, &h.backend);
        assert!(!r.text.contains("filings_gone"), "{}", r.text);
        sync(|| h.app.store.tx(|c| c.batch("ALTER TABLE filings_gone RENAME TO filings")).unwrap());
        // A constraint violation is a conflict in our words, not the database's.
        let e = sync(|| {
            h
            .app
            .store
            .tx(|c| c.exec("INSERT INTO orgs (code, name, parent_code, path, depth, equity_share, operational_control) VALUES ('CT','x',NULL,'/CT/',0,'','')", &[]))
            .unwrap_err()
        });
        let api: server::error::ApiError = e.into();
        for w in ["UNIQUE", "duplicate key", "orgs", "pkey"] {
            assert!(!api.message.contains(w), "{}: {}", h.backend, api.message);
        }
    });
}
