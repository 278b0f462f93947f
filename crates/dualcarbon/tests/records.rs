//! Trustworthy records from the command line (issue 11): the audit key and anchors, a restore
//! that refuses a broken or forged chain, backups of the whole data directory, private modes and
//! the spool cleaned at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use store::audit::{entry_hash, AuditKey};
use store::Store;

mod common;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn org() -> store::reference::OrgRecord {
    store::reference::OrgRecord {
        code: "G".into(),
        name: "G".into(),
        parent_code: None,
        equity_share: String::new(),
        operational_control: String::new(),
    }
}

/// A data directory with a few audited changes; keyed (as `serve` leaves it) when `keyed`.
fn platform(data: &Path, keyed: bool) -> Store {
    let mut s = Store::open_sqlite_dir(data).unwrap();
    if keyed {
        let (key, _) = AuditKey::load_or_create(&data.join("audit.key")).unwrap();
        s = s.with_audit_key(key);
        s.seal_audit().unwrap();
    }
    s.upsert_reference("alice", &[org()], &[]).unwrap();
    s.create_filing("alice", "G", "2024-01").unwrap();
    s.create_filing("bob", "G", "2024-02").unwrap();
    s
}

/// Rewrites entry `seq`'s actor and recomputes the chain from it to the end and the head, as
/// someone with the database file but without the key can.
fn forge(db: &Path, seq: i64) {
    let s = Store::open_sqlite(db).unwrap();
    let all = s.audit_entries(0, 1000).unwrap();
    let mut prev = if seq == 1 { "0".repeat(64) } else { all[seq as usize - 2].hash.clone() };
    s.tx(|c| {
        for e in all.into_iter().filter(|e| e.seq >= seq) {
            let mut e = store::audit::AuditEntry { prev_hash: prev.clone(), ..e };
            if e.seq == seq {
                e.actor = "mallory".into();
            }
            e.hash = entry_hash(&e);
            prev = e.hash.clone();
            c.exec(
                "UPDATE audit SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                &[e.actor.into(), e.prev_hash.into(), e.hash.into(), e.seq.into()],
            )?;
        }
        c.exec("UPDATE audit_head SET hash = $1 WHERE id = 1", &[prev.clone().into()])?;
        Ok(())
    })
    .unwrap();
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn restore_refuses_a_backup_whose_audit_chain_is_broken_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = platform(&data, false);
    // A backup file as earlier versions wrote it, then edited.
    let file = dir.path().join("backup.sqlite3");
    s.backup_sqlite(&file).unwrap();
    s.create_filing("carol", "G", "2024-03").unwrap();
    drop(s);
    let b = Store::open_sqlite(&file).unwrap();
    b.tx(|c| c.exec("UPDATE audit SET actor = 'mallory' WHERE seq = 2", &[])).unwrap();
    drop(b);
    let live = std::fs::read(data.join("dualcarbon.sqlite3")).unwrap();
    let r = bin()
        .args(["restore", "--data-dir", data.to_str().unwrap(), "--from", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!r.status.success(), "a broken chain is refused: {}", out(&r));
    assert!(out(&r).contains("audit log is broken") && out(&r).contains("entry 2"), "{}", out(&r));
    assert_eq!(std::fs::read(data.join("dualcarbon.sqlite3")).unwrap(), live, "the live database is untouched");
    let names: Vec<String> =
        std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("restoring") || n.contains("before-restore")), "{names:?}");
    let s = Store::open_sqlite_dir(&data).unwrap();
    assert_eq!(s.filings_within("/", None).unwrap().len(), 3, "the filing made after the backup is still there");
}

#[test]
fn restore_checks_a_backups_macs_with_the_platforms_audit_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(platform(&data, true));
    let d = data.to_str().unwrap();
    let good = dir.path().join("good");
    let forged = dir.path().join("forged");
    for to in [&good, &forged] {
        let b = bin().args(["backup", "--data-dir", d, "--out", to.to_str().unwrap()]).output().unwrap();
        assert!(b.status.success(), "{}", out(&b));
    }
    assert!(!good.join("files/audit.key").exists(), "the key stays out of backups");
    // The forger recomputes the chain and fixes the manifest: only the MACs tell.
    forge(&forged.join("dualcarbon.sqlite3"), 3);
    let manifest = forged.join("MANIFEST.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let bytes = std::fs::read(forged.join("dualcarbon.sqlite3")).unwrap();
    use sha2::Digest;
    m["database"]["sha256"] = serde_json::json!(format!("{:x}", sha2::Sha256::digest(&bytes)));
    m["database"]["bytes"] = serde_json::json!(bytes.len());
    std::fs::write(&manifest, m.to_string()).unwrap();
    let r = bin().args(["restore", "--data-dir", d, "--from", forged.to_str().unwrap()]).output().unwrap();
    assert!(!r.status.success(), "{}", out(&r));
    assert!(out(&r).contains("MAC does not match"), "{}", out(&r));
    let r = bin().args(["restore", "--data-dir", d, "--from", good.to_str().unwrap()]).output().unwrap();
    assert!(r.status.success(), "{}", out(&r));
    assert!(out(&r).contains("chain intact, MACs verified"), "{}", out(&r));
}

#[test]
fn audit_verify_checks_macs_and_anchors_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(platform(&data, true));
    let d = data.to_str().unwrap();
    let head = bin().args(["audit", "head", "--data-dir", d]).output().unwrap();
    let text = String::from_utf8_lossy(&head.stdout).to_string();
    let anchor = text.lines().find_map(|l| l.strip_prefix("anchor: ")).unwrap().to_string();
    assert!(text.lines().any(|l| l.starts_with("mac: ") && l.len() == 5 + 64), "{text}");
    let v = bin().args(["audit", "verify", "--data-dir", d, "--anchor", &anchor]).output().unwrap();
    assert!(
        v.status.success() && out(&v).contains("MACs verified") && out(&v).contains("1 anchor(s) found unchanged"),
        "{}",
        out(&v)
    );
    // The last entry removed and the head set back: intact by chain and MACs, caught by the anchor.
    let s = Store::open_sqlite(&data.join("dualcarbon.sqlite3")).unwrap();
    let seq: i64 = anchor.split(':').next().unwrap().parse().unwrap();
    let prev = s.audit_entries(seq - 2, 1).unwrap().remove(0);
    s.tx(|c| {
        c.exec("DELETE FROM audit WHERE seq = $1", &[seq.into()])?;
        c.exec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[prev.seq.into(), prev.hash.into()])
    })
    .unwrap();
    drop(s);
    let v = bin().args(["audit", "verify", "--data-dir", d, "--anchor", &anchor]).output().unwrap();
    assert_eq!(v.status.code(), Some(1), "{}", out(&v));
    assert!(out(&v).contains(&format!("the log has no entry {seq}")), "{}", out(&v));
    // An edit recomputed without the key.
    forge(&data.join("dualcarbon.sqlite3"), 2);
    let v = bin().args(["audit", "verify", "--data-dir", d]).output().unwrap();
    assert_eq!(v.status.code(), Some(1), "{}", out(&v));
    assert!(out(&v).contains("entry 2: its MAC does not match"), "{}", out(&v));
}

#[test]
fn a_backup_holds_the_whole_data_directory_and_restore_puts_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(platform(&data, true));
    let files = [
        ("meters.csv", "meter,facility\nM1,F1\n"),
        ("targets.toml", "[CT]\nx = 1\n"),
        ("indicator-data.csv", "org,indicator,value\nCT,traffic,1\n"),
        ("alert-rules.toml", "# rules\n"),
        ("readings/00000001.log", "frames"),
        ("console-aggregates/snapshot-1.json", "{}"),
    ];
    for (p, text) in files {
        std::fs::create_dir_all(data.join(p).parent().unwrap()).unwrap();
        std::fs::write(data.join(p), text).unwrap();
    }
    std::fs::create_dir_all(data.join("spool")).unwrap();
    std::fs::write(data.join("spool/.tmpUPLOAD"), "half an upload").unwrap();
    let d = data.to_str().unwrap();
    let backup = dir.path().join("backup");
    let b = bin().args(["backup", "--data-dir", d, "--out", backup.to_str().unwrap()]).output().unwrap();
    assert!(b.status.success(), "{}", out(&b));
    assert!(out(&b).contains("6 file(s)"), "{}", out(&b));
    assert!(backup.join("MANIFEST.json").exists());
    for (p, text) in files {
        assert_eq!(std::fs::read_to_string(backup.join("files").join(p)).unwrap(), text, "{p}");
        assert_eq!(mode(&backup.join("files").join(p)), 0o600, "{p}");
    }
    assert_eq!((mode(&backup), mode(&backup.join("dualcarbon.sqlite3"))), (0o700, 0o600));
    assert!(!backup.join("files/spool").exists() && !backup.join("files/audit.key").exists());
    // Later: the reading log lost, targets changed, a new file.
    std::fs::remove_dir_all(data.join("readings")).unwrap();
    std::fs::write(data.join("targets.toml"), "changed").unwrap();
    std::fs::write(data.join("later.csv"), "new").unwrap();
    let r = bin().args(["restore", "--data-dir", d, "--from", backup.to_str().unwrap()]).output().unwrap();
    assert!(r.status.success(), "{}", out(&r));
    for (p, text) in files {
        assert_eq!(std::fs::read_to_string(data.join(p)).unwrap(), text, "{p} is put back");
    }
    assert!(!data.join("later.csv").exists(), "the data directory is the backup's");
    let aside = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("before-restore-"))
        .expect("the replaced files are kept aside");
    assert_eq!(std::fs::read_to_string(aside.join("targets.toml")).unwrap(), "changed");
    // A file changed inside the backup is refused before anything changes.
    std::fs::write(backup.join("files/targets.toml"), "tampered").unwrap();
    let r = bin().args(["restore", "--data-dir", d, "--from", backup.to_str().unwrap()]).output().unwrap();
    assert!(!r.status.success() && out(&r).contains("differs from the backup's manifest"), "{}", out(&r));
}

#[test]
fn serve_makes_the_data_directory_private_and_empties_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Store::open_sqlite_dir(&data).unwrap());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("dualcarbon.sqlite3"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir_all(data.join("spool")).unwrap();
    std::fs::write(data.join("spool/.tmpCRASHED"), "an upload cut short").unwrap();
    std::fs::write(data.join("targets.toml"), "").unwrap();
    std::fs::set_permissions(data.join("targets.toml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let served = common::serve(&["--data-dir", data.to_str().unwrap()], Stdio::piped());
    let printed = served.lines.concat();
    // The loose file is imported into the database at start and kept as targets.toml.imported
    // (docs/monitoring.md), with the private mode it was given.
    let modes = (mode(&data), mode(&data.join("dualcarbon.sqlite3")), mode(&data.join("targets.toml.imported")));
    let key_mode = mode(&data.join("audit.key"));
    let spool_left = data.join("spool/.tmpCRASHED").exists();
    let spool_mode = mode(&data.join("spool"));
    // A SIGTERM right after the address is printed stops the platform cleanly (the signal is
    // taken before it says it is ready).
    let log = common::stop(served.child);
    assert_eq!(modes, (0o700, 0o600, 0o600), "tightened at start");
    assert_eq!((key_mode, spool_mode), (0o600, 0o700));
    assert!(!spool_left, "the spool is emptied at start: {log}");
    assert!(printed.contains("audit key created"), "{printed}");
    let v = bin().args(["audit", "verify", "--data-dir", data.to_str().unwrap()]).output().unwrap();
    assert!(v.status.success() && out(&v).contains("MACs verified from entry 1"), "{}", out(&v));
}
