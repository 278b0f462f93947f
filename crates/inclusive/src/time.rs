//! Instants as seconds since the Unix epoch, read from and written as RFC 3339 text, and the China
//! Standard Time (UTC+8) calendar that days and months of the programme follow.

/// Seconds of UTC+8 (China Standard Time): days, months, caps and delays follow it.
pub const CST: i64 = 8 * 3600;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` into epoch seconds; `None` when it is not that.
pub fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo)
        || d < 1
        || d > model::calendar::days_in_month(y as i32, mo as u32) as i64
        || h > 23
        || mi > 59
        || s > 59
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !(rb[0] == b'+' || rb[0] == b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            (oh * 3600 + om * 60) * if rb[0] == b'-' { -1 } else { 1 }
        }
    };
    let days = model::calendar::days_from_civil(y as i32, mo as u32, d as u32);
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(secs: i64) -> String {
    let (y, m, d) = model::calendar::civil_from_days(secs.div_euclid(86_400));
    let r = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", r / 3600, r % 3600 / 60, r % 60)
}

/// The China Standard Time day of an instant, as days since the epoch.
pub fn cst_day(secs: i64) -> i64 {
    (secs + CST).div_euclid(86_400)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(day: i64) -> String {
    let (y, m, d) = model::calendar::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM` (China Standard Time) of an instant.
pub fn cst_month(secs: i64) -> String {
    let (y, m, _) = model::calendar::civil_from_days(cst_day(secs));
    format!("{y:04}-{m:02}")
}

/// The instant of `HH:00` China Standard Time on day `day`.
pub fn cst_hour_of_day(day: i64, hour: i64) -> i64 {
    day * 86_400 + hour * 3600 - CST
}

/// Parses a calendar day `YYYY-MM-DD` to a day number.
pub fn parse_day(text: &str) -> Option<i64> {
    let p: Vec<&str> = text.split('-').collect();
    if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (p[0].parse().ok()?, p[1].parse().ok()?, p[2].parse().ok()?);
    if !(1..=12).contains(&m) || d < 1 || d > model::calendar::days_in_month(y, m) {
        return None;
    }
    Some(model::calendar::days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reads_and_writes_instants() {
        let t = parse("2026-12-01T08:00:00+08:00").unwrap();
        assert_eq!(format(t), "2026-12-01T00:00:00Z");
        assert_eq!(parse("2026-12-01T00:00:00.123Z"), Some(t));
        assert_eq!(cst_month(parse("2026-11-30T16:00:00Z").unwrap()), "2026-12");
        assert_eq!(day_text(cst_day(t)), "2026-12-01");
        for bad in ["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "x", "2026-12-01T00:00:00", "2026-12-01T00:00:00+8"]
        {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
