//! `dualcarbon market verify` and `dualcarbon market check-plan` end to end: a market whose journal
//! replays is intact, an edited command or entry is found (exit code 1, the first discrepancy),
//! and a plan file's problems are listed with their fields.

use market::book::{Kind, Side};
use market::exchange::Command;
use market::ledger::{Account, Asset, Reason};
use platform::market::{run, Audit};
use std::process::Command as Process;
use store::reference::OrgRecord;
use store::Store;

fn bin() -> Process {
    Process::new(env!("CARGO_BIN_EXE_dualcarbon"))
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

/// A market with allowances issued, budget granted and one trade.
fn traded(dir: &std::path::Path) {
    let store = Store::open_sqlite_dir(dir).unwrap();
    store.upsert_reference("t", &[org("G", None), org("G-A", Some("G")), org("G-B", Some("G"))], &[]).unwrap();
    let p = platform::Platform::new(store, dir.join("spool"));
    let admin = platform::Actor { username: "admin".into(), org_code: "G".into(), org_path: "G/".into() };
    let a = platform::Actor { username: "a".into(), org_code: "G-A".into(), org_path: "G/G-A/".into() };
    let b = platform::Actor { username: "b".into(), org_code: "G-B".into(), org_path: "G/G-B/".into() };
    let audit = |org: &'static str| Audit { action: "market.test", entity: "market/test".into(), org_code: org };
    run(&p, &admin, "open", Command::OpenVintage { vintage: 2025 }, audit("G"), None).unwrap();
    let issue = Command::Issue {
        to: Account::org("G-A"),
        asset: Asset::Allowance { vintage: 2025 },
        amount: 50_000,
        reason: Reason::Allocation { period: 2025 },
    };
    run(&p, &admin, "alloc", issue, audit("G-A"), None).unwrap();
    platform::market::fund(&p, &admin, "fund", "G-B", 1_000_000).unwrap();
    platform::market::place_order(&p, &a, "s1", 2025, Side::Sell, Kind::Limit { price: 8000 }, 20_000).unwrap();
    let bought =
        platform::market::place_order(&p, &b, "b1", 2025, Side::Buy, Kind::Limit { price: 8000 }, 10_000).unwrap();
    assert_eq!(bought["trades"].as_array().unwrap().len(), 1, "{bought}");
}

#[test]
fn market_verify_replays_the_journal_and_finds_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    traded(dir.path());
    let verify = || bin().args(["market", "verify", "--data-dir", dir.path().to_str().unwrap()]).output().unwrap();
    let ok = verify();
    let text = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{text}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(text.contains("market journal intact: 5 commands"), "{text}");

    // Someone with database access makes the trade cheaper in the command log.
    let s = Store::open_sqlite_dir(dir.path()).unwrap();
    s.tx(|c| {
        c.exec("UPDATE market_commands SET command = replace(command, '8000', '7000') WHERE request_id = 'b:b1'", &[])
    })
    .unwrap();
    drop(s);
    let bad = verify();
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("DOES NOT REPLAY") && text.contains("command 5"), "{text}");
}

#[test]
fn a_plan_file_is_checked_with_every_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("plan.toml");
    std::fs::write(
        &good,
        "[period]\nyear = 2025\ncap_t = \"1000\"\nsurrender_deadline = \"2026-06-30\"\n\n[[allocation]]\norg = \"G-A\"\nmethod = \"grandfathering\"\nbase_year = 2024\ncoefficient = \"0.98\"\n",
    )
    .unwrap();
    let out = bin().args(["market", "check-plan", good.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&good).unwrap().replace("\"0.98\"", "\"-1\"").replace("2026-06-30", "2025-06-30"),
    )
    .unwrap();
    let out = bin().args(["market", "check-plan", bad.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("2 problem(s)")
            && text.contains("allocation[0].coefficient")
            && text.contains("period.surrender_deadline"),
        "{text}"
    );
}
