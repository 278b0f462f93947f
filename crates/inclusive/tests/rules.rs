//! The shipped methodologies' arithmetic against hand-checked cases, and every rule an event goes
//! through: plausibility, caps, dedup keys, delay, expiry, review, the claim status.

use inclusive::methodology::{self, Library};
use inclusive::rules::{self, check, credit, may_claim, status, Claim, EventIn, Source, Trust, Usage};
use inclusive::time;

fn now() -> i64 {
    time::parse("2026-12-04T12:00:00+08:00").unwrap()
}

fn trip(mode: &str, metres: i64, minutes: i64) -> EventIn {
    let end = now() - 3600;
    EventIn {
        id: "e1".into(),
        account: "alice".into(),
        action: "commute".into(),
        mode: Some(mode.into()),
        start: Some(time::format(end - minutes * 60)),
        end: Some(time::format(end)),
        distance_m: Some(metres),
        reference: Some("trip-1".into()),
        ..Default::default()
    }
}

fn item(action: &str, field: &str, n: i64) -> EventIn {
    let mut e = EventIn {
        id: "e2".into(),
        account: "alice".into(),
        action: action.into(),
        at: Some(time::format(now() - 3600)),
        reference: Some("ref-1".into()),
        ..Default::default()
    };
    match field {
        "items" => e.items = Some(n),
        "wh" => e.wh = Some(n),
        _ => e.distance_m = Some(n),
    }
    e
}

const TRUSTED: Source = Source { trust: Trust::Authoritative, delay_days: 0 };

fn grams(e: &EventIn) -> i64 {
    let lib = Library::shipped();
    let c = check(e, now(), &lib).unwrap_or_else(|r| panic!("{e:?}: {r:?}"));
    c.reduction_g
}

#[test]
fn shipped_methodologies_load_and_every_number_has_a_source() {
    let lib = Library::shipped();
    assert_eq!(lib.methodologies.len(), 3);
    for m in &lib.methodologies {
        assert!(m.shipped && m.version >= 1 && !m.source.is_empty());
        for a in &m.actions {
            assert!(!a.factors.is_empty());
            for f in &a.factors {
                assert!(f.source.len() > 10, "{}.{}: {f:?}", m.id, a.action);
            }
        }
    }
}

/// ER = BE − PE per unit × quantity, rounded down to whole grams: each case worked by hand.
#[test]
fn methodology_arithmetic_matches_hand_checked_cases() {
    // Metro: 46.7 g/km (Shenzhen) × 12.3 km = 574.41 → 574 g.
    assert_eq!(grams(&trip("metro", 12_300, 30)), 574);
    // Bus: 26.9 g/km × 8 km = 215.2 → 215 g.
    assert_eq!(grams(&trip("bus", 8_000, 30)), 215);
    // Bike: 27.8 g/km × 5 km = 139 g.
    assert_eq!(grams(&trip("bike", 5_000, 20)), 139);
    // Walking: 27.8 g/km × 2.5 km = 69.5 → 69 g.
    assert_eq!(grams(&trip("walking", 2_500, 30)), 69);
    // Carpool: (271.8 − 135.9) g/km × 20 km = 2,718 g.
    assert_eq!(grams(&trip("carpool", 20_000, 30)), 2_718);
    // Video meeting instead of a 300 km car trip: (271.8 − 0) × 300 = 81,540 g.
    let mut v = item("video_meeting", "distance_m", 300_000);
    v.mode = Some("car".into());
    assert_eq!(grams(&v), 81_540);
    // ... instead of a 15 km metro trip: 61.3 × 15 = 919.5 → 919 g.
    let mut v = item("video_meeting", "distance_m", 15_000);
    v.mode = Some("metro".into());
    assert_eq!(grams(&v), 919);
    // Paper: 5 g per item.
    assert_eq!(grams(&item("paperless_approval", "items", 3)), 15);
    assert_eq!(grams(&item("e_invoice", "items", 1)), 5);
    assert_eq!(grams(&item("printing_saved", "items", 40)), 200);
    // Office energy: 530.6 g/kWh × 2.5 kWh = 1,326.5 → 1,326 g.
    assert_eq!(grams(&item("office_energy", "wh", 2_500)), 1_326);
    // Customers: e-bill 5 g, utility bill paid online 262 g, cloud 530.6 g/kWh × 120 kWh = 63,672 g.
    assert_eq!(grams(&item("e_bill", "items", 1)), 5);
    assert_eq!(grams(&item("utility_bill_online", "items", 1)), 262);
    assert_eq!(grams(&item("cloud_service", "wh", 120_000)), 63_672);
}

#[test]
fn bad_input_gets_a_reason_each() {
    let lib = Library::shipped();
    let code = |e: &EventIn| check(e, now(), &lib).err().map(|r| r.code);
    assert_eq!(code(&trip("rocket", 1000, 10)), Some("unknown_mode"));
    assert_eq!(code(&trip("ev", 1000, 10)), Some("no_methodology"), "no sourced EV figure is shipped");
    let mut e = trip("metro", 1000, 10);
    e.action = "teleport".into();
    assert_eq!(code(&e), Some("unknown_action"));
    assert_eq!(code(&trip("metro", -5, 10)), Some("bad_quantity"));
    assert_eq!(code(&trip("metro", 0, 10)), Some("bad_quantity"));
    assert_eq!(code(&trip("metro", 5_000_000, 6000)), Some("implausible_quantity"));
    let mut e = trip("metro", 1000, 10);
    e.end = Some(time::format(now() + 3600));
    e.start = Some(time::format(now() + 3000));
    assert_eq!(code(&e), Some("future_time"));
    let mut e = trip("metro", 1000, 10);
    e.start = Some(time::format(now() - 60 * 86_400));
    e.end = Some(time::format(now() - 60 * 86_400 + 600));
    assert_eq!(code(&e), Some("too_old"));
    let mut e = trip("metro", 1000, 10);
    e.start = e.end.clone().map(|t| t.replace('Z', "-01:00"));
    assert_eq!(code(&e), Some("bad_time"), "ends before it starts");
    let mut e = trip("metro", 1000, 10);
    e.reference = None;
    assert_eq!(code(&e), Some("missing_reference"));
    let mut e = item("e_invoice", "items", 1);
    e.wh = Some(5);
    assert_eq!(code(&e), Some("bad_quantity"));
    assert_eq!(code(&item("e_invoice", "items", 2)), Some("implausible_quantity"));
}

/// Speed by mode: walking above 7 km/h, cycling above 30 km/h, metro above 120 km/h are refused.
#[test]
fn plausibility_by_speed_and_mode() {
    let lib = Library::shipped();
    let code = |e: &EventIn| check(e, now(), &lib).err().map(|r| r.code);
    // 3.5 km in 30 min = 7 km/h: at the limit, accepted; 3.6 km = 7.2 km/h refused.
    assert_eq!(code(&trip("walking", 3_500, 30)), None);
    assert_eq!(code(&trip("walking", 3_600, 30)), Some("implausible_speed"));
    assert_eq!(code(&trip("bike", 15_000, 30)), None);
    assert_eq!(code(&trip("bike", 15_100, 30)), Some("implausible_speed"));
    assert_eq!(code(&trip("metro", 60_000, 29)), Some("implausible_speed"));
    assert_eq!(code(&trip("metro", 1_000, 0)), Some("implausible_speed"), "a distance in no time");
}

#[test]
fn caps_cut_or_refuse_and_say_so() {
    let lib = Library::shipped();
    // Walking's daily cap of 296 g: 69 g with 250 g used → 46 g, cut recorded.
    let c = check(&trip("walking", 2_500, 30), now(), &lib).unwrap();
    let used = Usage { day_g: 250, day_events: 3, ..Default::default() };
    let cr = credit(&c, used, TRUSTED, now()).unwrap();
    assert_eq!(cr.grams, 46);
    assert_eq!(cr.explanation["caps_applied"][0]["cap"], "daily_cap_g");
    assert_eq!(cr.explanation["caps_applied"][0]["cut_g"], 23);
    let full = Usage { day_g: 296, ..Default::default() };
    assert_eq!(credit(&c, full, TRUSTED, now()).unwrap_err().code, "cap_reached");
    // Metro: 5 rides a day.
    let c = check(&trip("metro", 5_000, 15), now(), &lib).unwrap();
    assert!(credit(&c, Usage { day_events: 4, ..Default::default() }, TRUSTED, now()).is_ok());
    assert_eq!(
        credit(&c, Usage { day_events: 5, ..Default::default() }, TRUSTED, now()).unwrap_err().code,
        "cap_reached"
    );
    // Utility bills: 10 a month.
    let c = check(&item("utility_bill_online", "items", 1), now(), &lib).unwrap();
    assert_eq!(
        credit(&c, Usage { month_events: 10, ..Default::default() }, TRUSTED, now()).unwrap_err().code,
        "cap_reached"
    );
}

#[test]
fn dedup_keys_by_reference_and_by_household_and_month() {
    let lib = Library::shipped();
    let a = check(&trip("metro", 5_000, 15), now(), &lib).unwrap().dedup_key.unwrap();
    let mut other = trip("metro", 6_000, 15);
    other.id = "another event id".into();
    assert_eq!(check(&other, now(), &lib).unwrap().dedup_key.unwrap(), a, "the same trip id is the same trip");
    other.reference = Some("trip-2".into());
    assert_ne!(check(&other, now(), &lib).unwrap().dedup_key.unwrap(), a);
    assert!(!a.contains("trip"), "references are stored hashed");
    // A household's bill: once a month.
    let bill = item("utility_bill_online", "items", 1);
    let k1 = check(&bill, now(), &lib).unwrap().dedup_key.unwrap();
    let mut next_month = bill.clone();
    next_month.at = Some(time::format(now() - 2 * 86_400));
    let k_same = check(&next_month, now(), &lib).unwrap().dedup_key.unwrap();
    assert_eq!(k1, k_same, "same household, same month (Dec 2 and Dec 4)");
    next_month.at = Some("2026-11-30T10:00:00+08:00".into());
    let dec1 = time::parse("2026-12-01T12:00:00+08:00").unwrap();
    assert_ne!(check(&next_month, dec1, &lib).unwrap().dedup_key.unwrap(), k1, "November is another month");
}

#[test]
fn delay_by_source_and_expiry_of_unclaimed_credits() {
    let lib = Library::shipped();
    let c = check(&trip("metro", 5_000, 15), now(), &lib).unwrap();
    let t0 = credit(&c, Usage::default(), TRUSTED, now()).unwrap();
    assert_eq!((t0.available_at, t0.expires_at), (now(), now() + 7 * 86_400));
    // T+2 for transit logs: 07:00 China time two days after the trip's day (Dec 4 → Dec 6 07:00).
    let t2 = credit(&c, Usage::default(), Source { trust: Trust::Authoritative, delay_days: 2 }, now()).unwrap();
    assert_eq!(time::format(t2.available_at), "2026-12-05T23:00:00Z");
    assert_eq!(t2.expires_at - t2.available_at, 7 * 86_400);
    let (a, x) = (t2.available_at, t2.expires_at);
    assert_eq!(
        may_claim(status::CLAIMABLE, Claim::None, a, x, Claim::Points, now()).unwrap_err().code,
        "not_yet_available"
    );
    assert!(may_claim(status::CLAIMABLE, Claim::None, a, x, Claim::Points, a).is_ok());
    assert_eq!(may_claim(status::CLAIMABLE, Claim::None, a, x, Claim::Points, x).unwrap_err().code, "expired");
    // Customers' credits expire after 72 h (Ant Forest).
    let c = check(&item("e_bill", "items", 1), now(), &lib).unwrap();
    let cr = credit(&c, Usage::default(), TRUSTED, now()).unwrap();
    assert_eq!(cr.expires_at - cr.available_at, 3 * 86_400);
}

#[test]
fn risky_events_wait_for_review() {
    let lib = Library::shipped();
    let c = check(&trip("bike", 5_000, 20), now(), &lib).unwrap();
    assert!(!credit(&c, Usage::default(), TRUSTED, now()).unwrap().review);
    let self_reported = Source { trust: Trust::SelfReported, delay_days: 0 };
    let r = credit(&c, Usage::default(), self_reported, now()).unwrap();
    assert_eq!((r.risk, r.review), (40, false));
    // Self-reported and near the speed limit (14 km in 30 min = 28 km/h > 80 % of 30): review.
    let fast = check(&trip("bike", 14_000, 30), now(), &lib).unwrap();
    let r = credit(&fast, Usage::default(), self_reported, now()).unwrap();
    assert_eq!((r.risk, r.review), (60, true));
    assert!(r.explanation["risk_reasons"].to_string().contains("speed_near_limit"));
    const { assert!(rules::REVIEW_AT <= 60) };
}

/// One claim per reduction: points or an offset elsewhere, never both.
#[test]
fn claim_status_prevents_double_counting() {
    let (a, x, t) = (0, 100, 50);
    assert!(may_claim(status::CLAIMABLE, Claim::None, a, x, Claim::Points, t).is_ok());
    assert!(may_claim(status::CLAIMABLE, Claim::None, a, x, Claim::Offset, t).is_ok());
    assert_eq!(may_claim(status::CLAIMED, Claim::Points, a, x, Claim::Offset, t).unwrap_err().code, "already_claimed");
    assert_eq!(may_claim(status::CLAIMED, Claim::Offset, a, x, Claim::Points, t).unwrap_err().code, "already_claimed");
    assert!(may_claim(status::EXPIRED, Claim::None, a, x, Claim::Offset, 500).is_ok(), "the reduction happened");
    assert_eq!(may_claim(status::REVIEW, Claim::None, a, x, Claim::Points, t).unwrap_err().code, "not_claimable");
    assert_eq!(may_claim(status::REJECTED, Claim::None, a, x, Claim::Offset, t).unwrap_err().code, "not_claimable");
}

#[test]
fn methodology_files_are_checked_with_every_problem() {
    let bad = r#"
[methodology]
id = "x"
version = 0
title = "t"
region = "CN"
effective_from = "2025-01-01"
structure = "s"
source = "s"
claim_days = { value = 7 }

[[action]]
action = "commute"
mode = "rocket"
baseline = 10

[[action]]
action = "e_invoice"
reduction = { value = 5.0001, source = "x" }
max_quantity = { value = 1, source = "x" }
"#;
    let errs = methodology::parse(bad, false).unwrap_err();
    let all = errs.join("\n");
    for want in ["version", "claim_days: a number without a source", "rocket", "baseline: write", "5.0001"] {
        assert!(all.contains(want), "{want} missing in {all}");
    }
    // A new version wins from its effective date; the old one still credits earlier days.
    let mut lib = Library::shipped();
    let v2 = methodology::SHIPPED[0]
        .1
        .replace("version = 1", "version = 2")
        .replace("effective_from = \"2024-01-01\"", "effective_from = \"2026-12-03\"")
        .replace("value = 46.7", "value = 40");
    let mut m = methodology::parse(&v2, false).unwrap();
    m.shipped = false;
    lib.add(m.clone()).unwrap();
    assert!(lib.add(m).is_err(), "an id and version are added once");
    let day = time::cst_day(now());
    assert_eq!(lib.select("commute", "metro", "CN", day).unwrap().0.version, 2);
    assert_eq!(lib.select("commute", "metro", "CN", day - 2).unwrap().0.version, 1);
    assert_eq!(lib.select("commute", "metro", "CN", day).unwrap().1.reduction_g(10_000), 400);
}
