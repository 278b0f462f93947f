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
    // EV trips are credited from their metered electricity (ev_trips_... below): without it, refused.
    assert_eq!(code(&trip("ev", 1000, 10)), Some("missing_energy"), "an EV trip carries wh");
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

fn ev(metres: i64, minutes: i64, wh: Option<i64>) -> EventIn {
    let mut e = trip("ev", metres, minutes);
    e.wh = wh;
    e
}

/// EV commute: ER = BE − PE, BE = km × 271.8 g (Beijing MaaS private car, research notes part C2),
/// PE = metered kWh × the grid factor of the factor library (cn-grid, series nbs_average).
#[test]
fn ev_trips_credit_the_car_baseline_less_metered_electricity_times_the_grid_factor() {
    let lib = Library::shipped();
    // National: 20 km, 3.000 kWh, event in 2026 → the newest national factor at or before 2026,
    // elec.nbs_average.CN.2023 = 0.5306 kg/kWh. BE = 20 × 271.8 = 5,436.0 g; PE = 3 × 530.6 =
    // 1,591.8 g; ER = 3,844.2 → 3,844 g.
    let c = check(&ev(20_000, 30, Some(3_000)), now(), &lib).unwrap();
    assert_eq!(c.reduction_g, 3_844);
    let (wh, grid) = c.energy.clone().unwrap();
    assert_eq!(
        (wh, grid.id.as_str(), grid.set.as_str(), grid.mg_per_kwh),
        (3_000, "elec.nbs_average.CN.2023", "cn-grid", 530_600)
    );
    // The credit records the factor id, its set and version, the energy and PE.
    let cr = credit(&c, Usage::default(), TRUSTED, now()).unwrap();
    assert_eq!(cr.grams, 3_844);
    assert_eq!(cr.explanation["grid_factor"]["id"], "elec.nbs_average.CN.2023");
    assert_eq!(cr.explanation["grid_factor"]["set"], "cn-grid");
    assert!(!cr.explanation["grid_factor"]["set_version"].as_str().unwrap().is_empty());
    assert_eq!(cr.explanation["energy_kwh"], "3");
    assert_eq!(cr.explanation["baseline_g"], "5436");
    assert_eq!(cr.explanation["project_g"], "1591.8");
    // Guangdong (region CN-GD): the province's newest factor, elec.nbs_average.CN-GD.2022 =
    // 0.4403 kg/kWh. PE = 3 × 440.3 = 1,320.9 g; ER = 5,436 − 1,320.9 = 4,115.1 → 4,115 g.
    let mut gd = ev(20_000, 30, Some(3_000));
    gd.region = Some("CN-GD".into());
    let c = check(&gd, now(), &lib).unwrap();
    assert_eq!((c.reduction_g, c.energy.unwrap().1.id.as_str()), (4_115, "elec.nbs_average.CN-GD.2022"));
    // 12.5 km with 2.250 kWh (180 Wh/km): BE = 3,397.5 g; PE = 2.25 × 530.6 = 1,193.85 g;
    // ER = 2,203.65 → 2,203 g.
    assert_eq!(check(&ev(12_500, 25, Some(2_250)), now(), &lib).unwrap().reduction_g, 2_203);
    let code = |e: &EventIn| check(e, now(), &lib).err().map(|r| r.code);
    // Never negative: 10 km with 6 kWh: BE 2,718 g < PE 3,183.6 g → nothing to credit.
    assert_eq!(code(&ev(10_000, 20, Some(6_000))), Some("no_reduction"));
    // Understated energy: 1 kWh for 20 km = 50 Wh/km, under the plausible 80 Wh/km.
    assert_eq!(code(&ev(20_000, 30, Some(1_000))), Some("implausible_quantity"));
    // 80 Wh/km exactly is plausible: 1.6 kWh for 20 km: ER = 5,436 − 848.96 = 4,587.04 → 4,587 g.
    assert_eq!(check(&ev(20_000, 30, Some(1_600)), now(), &lib).unwrap().reduction_g, 4_587);
    // No metered energy, a negative one, too fast, too far: refused with their reasons.
    assert_eq!(code(&ev(20_000, 30, None)), Some("missing_energy"));
    assert_eq!(code(&ev(20_000, 30, Some(-5))), Some("bad_quantity"));
    assert_eq!(code(&ev(20_000, 5, Some(3_000))), Some("implausible_speed"), "240 km/h");
    assert_eq!(code(&ev(250_000, 200, Some(40_000))), Some("implausible_quantity"), "over 200 km");
    // wh is only a second quantity of EV trips.
    let mut bike = trip("bike", 5_000, 20);
    bike.wh = Some(100);
    assert_eq!(code(&bike), Some("bad_quantity"));
    // Caps as for the other car modes: two EV commutes a day.
    let c = check(&ev(20_000, 30, Some(3_000)), now(), &lib).unwrap();
    let used = Usage { day_events: 2, day_g: 7_688, month_events: 2, month_g: 7_688 };
    assert_eq!(credit(&c, used, TRUSTED, now()).err().map(|r| r.code), Some("cap_reached"));
    // A library without a factor library cannot compute PE: refused, not guessed.
    let mut bare = Library::shipped();
    bare.grid = None;
    assert_eq!(check(&ev(20_000, 30, Some(3_000)), now(), &bare).err().map(|r| r.code), Some("no_grid_factor"));
}

/// A flight avoided by a video meeting: no sourced aviation factor in the research notes, so it is
/// refused with its own reason; ground trips are credited.
#[test]
fn flights_avoided_by_video_meetings_are_refused_with_their_own_reason() {
    let lib = Library::shipped();
    let mut v = item("video_meeting", "distance_m", 1_200_000);
    v.mode = Some("flight".into());
    let r = check(&v, now(), &lib).unwrap_err();
    assert_eq!(r.code, "no_aviation_factor");
    assert!(r.message.contains("aviation factor"), "{}", r.message);
}
