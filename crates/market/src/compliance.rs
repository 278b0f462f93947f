//! Compliance (履约): at the deadline each subsidiary surrenders allowances equal to its verified
//! emissions. Allowances of the period's vintage and, with banking, earlier ones go first (oldest
//! first), then borrowed allowances, then offsets up to the plan's cap; what is still missing is the
//! shortfall: a penalty of k × the average price of the month before the deadline, and a make-good
//! deducted from the next allocation. A surplus stays banked (or is cancelled without banking).

use crate::dec::Dec;
use crate::ledger::{Account, Asset, Kg, Leg, Reason, Registry};
use crate::plan::{Date, Plan};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComplianceError {
    #[error("the surrender deadline of period {period} was {deadline}; {today} is after it")]
    AfterDeadline { period: i32, deadline: Date, today: Date },
    #[error("borrowing is not allowed in this period's plan")]
    BorrowingNotAllowed,
    #[error("borrowing needs a shortfall of at least {threshold_kg} kg; the shortfall is {shortfall_kg} kg")]
    ShortfallBelowThreshold { shortfall_kg: Kg, threshold_kg: Kg },
    #[error("at most {max_kg} kg may be borrowed; {asked_kg} kg asked")]
    BorrowingAboveCap { asked_kg: Kg, max_kg: Kg },
    #[error("the figures overflow")]
    Overflow,
}

impl ComplianceError {
    pub fn code(&self) -> &'static str {
        match self {
            ComplianceError::AfterDeadline { .. } => "surrender_after_deadline",
            ComplianceError::BorrowingNotAllowed => "borrowing_not_allowed",
            ComplianceError::ShortfallBelowThreshold { .. } => "shortfall_below_threshold",
            ComplianceError::BorrowingAboveCap { .. } => "borrowing_above_cap",
            ComplianceError::Overflow => "overflow",
        }
    }
}

/// What surrendering would retire for one subsidiary, and what it would still miss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Surrender {
    pub org: String,
    pub period: i32,
    pub obligation_kg: Kg,
    pub allowances_kg: Kg,
    pub borrowed_kg: Kg,
    pub offsets_kg: Kg,
    pub offset_cap_kg: Kg,
    pub shortfall_kg: Kg,
    /// The legs that retire what is surrendered (to [`Account::Retirement`]).
    #[serde(skip)]
    pub legs: Vec<Leg>,
}

fn share_of(kg: Kg, share: Dec) -> Result<Kg, ComplianceError> {
    Dec::from_int(kg).checked_mul(share).and_then(|d| d.floor()).map(|v| v as Kg).map_err(|_| ComplianceError::Overflow)
}

/// What a subsidiary already surrendered for the period (allowances and borrowed, and offsets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Already {
    pub allowances_kg: Kg,
    pub offsets_kg: Kg,
}

/// Plans a subsidiary's surrender for the period from what its account holds now: what its
/// obligation still needs after what it `already` surrendered, offsets within the cap of the whole
/// obligation less the offsets already used.
pub fn plan_surrender(
    plan: &Plan,
    registry: &Registry,
    org: &str,
    obligation_kg: Kg,
    already: Already,
    today: Date,
) -> Result<Surrender, ComplianceError> {
    let period = plan.period.year;
    if today > plan.period.surrender_deadline {
        return Err(ComplianceError::AfterDeadline { period, deadline: plan.period.surrender_deadline, today });
    }
    let account = Account::org(org);
    let mut need = (obligation_kg - already.allowances_kg - already.offsets_kg).max(0);
    let mut legs = Vec::new();
    let take = |asset: Asset, need: &mut Kg, legs: &mut Vec<Leg>| -> Kg {
        let available = registry.balance(&account, asset).available();
        let n = available.min(*need).max(0);
        if n > 0 {
            legs.push(Leg::new(asset, account.clone(), Account::Retirement, n));
            *need -= n;
        }
        n
    };
    // Allowances: oldest eligible vintage first; later vintages never serve an earlier period.
    let mut vintages: Vec<i32> = registry
        .balances()
        .keys()
        .filter_map(|(a, s)| match (a, s) {
            (Account::Org(o), Asset::Allowance { vintage }) if o == org => Some(*vintage),
            _ => None,
        })
        .filter(|v| *v == period || (plan.period.banking && *v < period))
        .collect();
    vintages.sort();
    vintages.dedup();
    let mut allowances = 0;
    for v in vintages {
        allowances += take(Asset::Allowance { vintage: v }, &mut need, &mut legs);
    }
    let borrowed = take(Asset::Borrowed { vintage: period + 1 }, &mut need, &mut legs);
    let offset_cap_kg = share_of(obligation_kg.max(0), plan.period.offset_cap)?;
    let mut offsets = 0;
    let mut offset_room = (offset_cap_kg - already.offsets_kg).max(0).min(need);
    let mut offset_assets: Vec<Asset> = registry
        .balances()
        .keys()
        .filter_map(|(a, s)| match (a, s) {
            (Account::Org(o), Asset::Offset { kind, vintage }) if o == org && *vintage <= period => {
                Some(Asset::Offset { kind: *kind, vintage: *vintage })
            }
            _ => None,
        })
        .collect();
    offset_assets.sort();
    for asset in offset_assets {
        let n = take(asset, &mut offset_room, &mut legs);
        offsets += n;
        need -= n;
    }
    Ok(Surrender {
        org: org.to_string(),
        period,
        obligation_kg,
        allowances_kg: allowances,
        borrowed_kg: borrowed,
        offsets_kg: offsets,
        offset_cap_kg,
        shortfall_kg: need,
        legs,
    })
}

/// The entry that retires a planned surrender.
pub fn surrender_entry(s: &Surrender) -> (Reason, Vec<Leg>) {
    (Reason::Surrender { period: s.period }, s.legs.clone())
}

/// How much a subsidiary with this shortfall may borrow from the next period, by the plan's rule.
pub fn borrowing_allowed(plan: &Plan, obligation_kg: Kg, shortfall_kg: Kg) -> Result<Kg, ComplianceError> {
    let rule = plan.period.borrowing.as_ref().ok_or(ComplianceError::BorrowingNotAllowed)?;
    let threshold_kg = share_of(obligation_kg, rule.threshold)?;
    if shortfall_kg < threshold_kg || shortfall_kg == 0 {
        return Err(ComplianceError::ShortfallBelowThreshold { shortfall_kg, threshold_kg });
    }
    share_of(shortfall_kg, rule.max_share)
}

/// The legs that lend `kg` of next period's allowances to a subsidiary (non-transferable, repaid
/// from its next allocation).
pub fn borrow_entry(
    plan: &Plan,
    org: &str,
    obligation_kg: Kg,
    shortfall_kg: Kg,
    kg: Kg,
) -> Result<(Reason, Vec<Leg>), ComplianceError> {
    let max_kg = borrowing_allowed(plan, obligation_kg, shortfall_kg)?;
    if kg > max_kg || kg <= 0 {
        return Err(ComplianceError::BorrowingAboveCap { asked_kg: kg, max_kg });
    }
    let period = plan.period.year;
    Ok((
        Reason::Borrow { period },
        vec![Leg::new(Asset::Borrowed { vintage: period + 1 }, Account::Issuance, Account::org(org), kg)],
    ))
}

/// The penalty for a shortfall in fen: shortfall (t) × average price (fen/t) × k, rounded down.
pub fn penalty_fen(plan: &Plan, shortfall_kg: Kg, average_price_fen_per_t: i64) -> Result<i64, ComplianceError> {
    let v = Dec::from_int(shortfall_kg)
        .checked_mul(Dec::from_int(average_price_fen_per_t))
        .and_then(|d| d.checked_mul(plan.period.penalty_multiple))
        .and_then(|d| d.div_floor(Dec::from_int(1000)))
        .map_err(|_| ComplianceError::Overflow)?;
    i64::try_from(v).map_err(|_| ComplianceError::Overflow)
}

/// The reward for a surplus in fen: surplus (t) × average price (fen/t) × the plan's reward share, rounded down.
pub fn reward_fen(plan: &Plan, surplus_kg: Kg, average_price_fen_per_t: i64) -> Result<i64, ComplianceError> {
    let v = Dec::from_int(surplus_kg.max(0))
        .checked_mul(Dec::from_int(average_price_fen_per_t))
        .and_then(|d| d.checked_mul(plan.period.reward_share))
        .and_then(|d| d.div_floor(Dec::from_int(1000)))
        .map_err(|_| ComplianceError::Overflow)?;
    i64::try_from(v).map_err(|_| ComplianceError::Overflow)
}

/// The average price of the calendar month before the deadline (volume-weighted, fen per tonne,
/// rounded down), from trades as (unix seconds, price, kg); None when nothing traded.
pub fn average_price_before(deadline: Date, trades: impl IntoIterator<Item = (i64, i64, Kg)>) -> Option<i64> {
    let (y, m) = if deadline.month == 1 { (deadline.year - 1, 12) } else { (deadline.year, deadline.month - 1) };
    let (mut value, mut qty): (i128, i128) = (0, 0);
    for (at, price, kg) in trades {
        let (ty, tm) = beijing_year_month(at);
        if ty == y && tm == m {
            value += price as i128 * kg as i128;
            qty += kg as i128;
        }
    }
    (qty > 0).then(|| (value / qty) as i64)
}

/// Year and month of a unix time in Beijing (UTC+8).
pub fn beijing_year_month(at: i64) -> (i32, u32) {
    let days = (at + 8 * 3600).div_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + if m <= 2 { 1 } else { 0 }) as i32;
    (y, m)
}

/// One subsidiary's line of the period's compliance report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportLine {
    pub org: String,
    pub obligation_kg: Kg,
    pub surrendered_kg: Kg,
    pub offsets_kg: Kg,
    pub borrowed_kg: Kg,
    pub shortfall_kg: Kg,
    pub penalty_fen: i64,
    /// Deducted from the next period's allocation (the shortfall and what was borrowed).
    pub make_good_kg: Kg,
    /// Allowances left after surrender: banked, or cancelled where the plan does not bank.
    pub surplus_kg: Kg,
    pub compliant: bool,
}

/// The compliance report line of a subsidiary after its surrender (`s`), with what it has left.
pub fn report_line(
    plan: &Plan,
    s: &Surrender,
    left_kg: Kg,
    average_price: Option<i64>,
) -> Result<ReportLine, ComplianceError> {
    let penalty = match average_price {
        Some(p) if s.shortfall_kg > 0 => penalty_fen(plan, s.shortfall_kg, p)?,
        _ => 0,
    };
    Ok(ReportLine {
        org: s.org.clone(),
        obligation_kg: s.obligation_kg,
        surrendered_kg: s.allowances_kg + s.borrowed_kg,
        offsets_kg: s.offsets_kg,
        borrowed_kg: s.borrowed_kg,
        shortfall_kg: s.shortfall_kg,
        penalty_fen: penalty,
        make_good_kg: s.shortfall_kg + s.borrowed_kg,
        surplus_kg: left_kg,
        compliant: s.shortfall_kg == 0,
    })
}
