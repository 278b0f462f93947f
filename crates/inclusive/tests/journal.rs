//! The points journal's rules under random sequences: balances always sum to zero, no person's
//! points or reserved points ever below zero, a repeated request id changes nothing.

use inclusive::ledger::{available, held, Entry, EntryKind, Journal, Refusal, ISSUED};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = (u8, i64, i64, u8)> {
    (0u8..6, 1i64..4, -5i64..400, 0u8..40)
}

proptest! {
    #[test]
    fn random_sequences_balance_and_never_go_negative(ops in proptest::collection::vec(op(), 1..200)) {
        let mut j = Journal::default();
        for (k, account, amount, rid) in ops {
            let kind = EntryKind::ALL[k as usize];
            let before = j.clone();
            let r = j.post(&format!("r{rid}"), Entry { kind, account, amount });
            match r {
                Ok(true) => {}
                Ok(false) | Err(_) => prop_assert_eq!(&before.balances, &j.balances),
            }
            if amount <= 0 && !before.entries.contains_key(&format!("r{rid}")) {
                prop_assert_eq!(r, Err(Refusal::BadAmount));
            }
            prop_assert!(j.is_sound(), "{:?}", j.balances);
            for a in 1..4 {
                prop_assert!(j.balance(&available(a)) >= 0 && j.balance(&held(a)) >= 0);
            }
        }
        prop_assert!(j.balance(ISSUED) <= 0);
    }
}
