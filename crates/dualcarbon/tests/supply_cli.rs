//! `dualcarbon supply check-factors|add-factors`: EEIO and transport factor set versions checked
//! with every problem by its key, and added to a platform database (docs/supply.md).

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().unwrap()
}

#[test]
fn factor_sets_are_checked_by_key_and_added_as_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../supply/data/eeio-useeio-v1.3.toml");
    let o = run(&["supply", "check-factors", "--kind", "eeio", shipped]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let bad = dir.path().join("t.toml");
    std::fs::write(
        &bad,
        "[set]\nid = \"cn\"\nversion = 1\n[[mode]]\nmode = \"camel\"\nkg_per_tkm = \"-1\"\nsource = \"\"\n",
    )
    .unwrap();
    let o = run(&["supply", "check-factors", "--kind", "transport", bad.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("mode[0].mode") && out.contains("mode[0].kg_per_tkm") && out.contains("mode[0].source"),
        "{out}"
    );
    // Added to a database with an org tree: version 2 of the shipped set; the same version again is refused.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = store::Store::open_sqlite_dir(&data).unwrap();
    let org = store::reference::OrgRecord {
        code: "CT".into(),
        name: "CT".into(),
        parent_code: None,
        equity_share: String::new(),
        operational_control: String::new(),
    };
    store.upsert_reference("test", &[org], &[]).unwrap();
    drop(store);
    let v2 = dir.path().join("v2.toml");
    std::fs::write(&v2, std::fs::read_to_string(shipped).unwrap().replace("version = 1", "version = 2")).unwrap();
    let add = || {
        run(&[
            "supply",
            "add-factors",
            "--data-dir",
            data.to_str().unwrap(),
            "--kind",
            "eeio",
            "--reason",
            "test",
            v2.to_str().unwrap(),
        ])
    };
    let o = add();
    assert!(o.status.success(), "{} {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("useeio-v1.3@2"));
    let o = add();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("factor_set_version"));
}
