//! `dualcarbon inclusive methodology check|list`.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dualcarbon")).args(args).output().unwrap()
}

#[test]
fn methodology_check_lists_every_problem_or_what_a_file_credits() {
    let dir = tempfile::tempdir().unwrap();
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/../inclusive/data/commute.toml");
    let o = run(&["inclusive", "methodology", "check", good]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("metro") && out.contains("46.7") && out.contains("valid"), "{out}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[methodology]\nid = \"x\"\nversion = 1\n\n[[action]]\naction = \"commute\"\nmode = \"rocket\"\nreduction = 5\n").unwrap();
    let o = run(&["inclusive", "methodology", "check", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("rocket") && err.contains("reduction: write") && err.contains("claim_days"), "{err}");
    let o = run(&["inclusive", "methodology", "list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("commute v1") && out.contains("office v1") && out.contains("customer v1"), "{out}");
}
