//! Expiry of points by age (first in, first out) against a lot-by-lot model of the same account.

use inclusive::ledger::points_expiring;
use proptest::prelude::*;

#[test]
fn hand_checked_cases() {
    // 100 points issued in 2024 and 50 in 2026; 30 spent: the 2024 lot keeps 70, which expire.
    assert_eq!(points_expiring(100, 150, 120), 70);
    // Spent more than the old lot: nothing old is left.
    assert_eq!(points_expiring(100, 150, 40), 0);
    // Nothing spent: the whole old lot expires, the new one stays.
    assert_eq!(points_expiring(100, 150, 150), 100);
    // Nothing issued before the cutoff.
    assert_eq!(points_expiring(0, 150, 150), 0);
    // The same cutoff again after expiring 70 (available 120 → 50; left the account 100): nothing.
    assert_eq!(points_expiring(100, 150, 50), 0);
}

/// Lots (issue time, amount left), consumed oldest first.
fn consume(lots: &mut [(u32, i64)], mut amount: i64) {
    for lot in lots.iter_mut() {
        let take = lot.1.min(amount);
        lot.1 -= take;
        amount -= take;
    }
    assert_eq!(amount, 0, "consumed more than the account held");
}

proptest! {
    #[test]
    fn equals_the_lot_by_lot_model(ops in proptest::collection::vec((any::<bool>(), 1i64..500), 1..60), cutoff in 0u32..60) {
        let mut lots: Vec<(u32, i64)> = Vec::new();
        let (mut issued_before, mut issued_total, mut available) = (0i64, 0i64, 0i64);
        for (t, (issue, amount)) in ops.into_iter().enumerate() {
            let t = t as u32;
            if issue {
                lots.push((t, amount));
                issued_total += amount;
                available += amount;
                if t < cutoff {
                    issued_before += amount;
                }
            } else {
                let spend = amount.min(available);
                consume(&mut lots, spend);
                available -= spend;
            }
        }
        let expected: i64 = lots.iter().filter(|(t, _)| *t < cutoff).map(|(_, a)| a).sum();
        let n = points_expiring(issued_before, issued_total, available);
        prop_assert_eq!(n, expected);
        // Expiring them is the same as consuming them first; a second run finds nothing.
        prop_assert_eq!(points_expiring(issued_before, issued_total, available - n), 0);
    }
}
