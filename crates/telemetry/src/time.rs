//! Time in telemetry: instants are milliseconds since the Unix epoch (UTC). Calendar periods (day,
//! month) are those of Asia/Shanghai, which has been UTC+8 without daylight saving since 1991, so a
//! fixed offset is exact for any data this platform sees. Quarter-hours and hours align with UTC
//! ones because the offset is a whole number of hours.

pub const MINUTE_MS: i64 = 60_000;
pub const QUARTER_MS: i64 = 15 * MINUTE_MS;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Asia/Shanghai offset from UTC.
pub const SHANGHAI_OFFSET_MS: i64 = 8 * HOUR_MS;

pub use model::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Start (UTC ms) of the Shanghai calendar day containing `t`.
pub fn day_start(t: i64) -> i64 {
    (t + SHANGHAI_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - SHANGHAI_OFFSET_MS
}

/// (year, month) of `t` in Shanghai time.
pub fn year_month(t: i64) -> (i32, u32) {
    let (y, m, _) = civil_from_days((t + SHANGHAI_OFFSET_MS).div_euclid(DAY_MS));
    (y, m)
}

/// Start (UTC ms) of the Shanghai calendar month `year`-`month`.
pub fn month_start_of(year: i32, month: u32) -> i64 {
    days_from_civil(year, month, 1) * DAY_MS - SHANGHAI_OFFSET_MS
}

/// Start (UTC ms) of the Shanghai calendar month containing `t`.
pub fn month_start(t: i64) -> i64 {
    let (y, m) = year_month(t);
    month_start_of(y, m)
}

/// Start of the month after the one starting at `start`.
pub fn next_month_start(t: i64) -> i64 {
    let (y, m) = year_month(t);
    if m == 12 {
        month_start_of(y + 1, 1)
    } else {
        month_start_of(y, m + 1)
    }
}

/// `YYYY-MM-DDTHH:MM:SS+08:00` of an instant, in Shanghai time (milliseconds shown when not zero).
pub fn format_shanghai(t: i64) -> String {
    let local = t + SHANGHAI_OFFSET_MS;
    let (y, mo, d) = civil_from_days(local.div_euclid(DAY_MS));
    let in_day = local.rem_euclid(DAY_MS);
    let (h, mi, s, ms) = (in_day / HOUR_MS, in_day / MINUTE_MS % 60, in_day / 1000 % 60, in_day % 1000);
    if ms == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+08:00")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}+08:00")
    }
}

/// Parses a timestamp: integer epoch milliseconds, or RFC 3339 (`2024-05-01T08:15:00Z`,
/// `2024-05-01T08:15:00.250+08:00`, a space instead of `T`); a date-time without an offset is read
/// as Shanghai time, the way 动环 systems in China write it.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let s = text.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| "epoch milliseconds out of range".to_string());
    }
    let b = s.as_bytes();
    let bad = || {
        format!("not a timestamp: expected epoch milliseconds or RFC 3339 like 2024-05-01T08:15:00+08:00, got {s:?}")
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y as i32, mo as u32) as i64
        || h > 23
        || mi > 59
        || sec > 59
    {
        return Err(format!("date or time out of range in {s:?}"));
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        let mut scaled = 0i64;
        for (i, c) in frac[..digits].bytes().enumerate() {
            if i < 3 {
                scaled = scaled * 10 + (c - b'0') as i64;
            }
        }
        for _ in digits..3 {
            scaled *= 10;
        }
        millis = scaled;
        rest = &frac[digits..];
    }
    let offset_ms = match rest {
        "" => SHANGHAI_OFFSET_MS,
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let (Ok(oh), Ok(om)) = (o[1..3].parse::<i64>(), o[4..6].parse::<i64>()) else {
                return Err(bad());
            };
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * HOUR_MS + om * MINUTE_MS)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y as i32, mo as u32, d as u32);
    Ok(days * DAY_MS + h * HOUR_MS + mi * MINUTE_MS + sec * 1000 + millis - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-200_000..200_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn shanghai_calendar_boundaries() {
        // 2024-05-31T16:00Z is 2024-06-01T00:00 in Shanghai.
        let t = parse_timestamp("2024-05-31T16:00:00Z").unwrap();
        assert_eq!(year_month(t), (2024, 6));
        assert_eq!(year_month(t - 1), (2024, 5));
        assert_eq!(month_start(t + 5 * DAY_MS), t);
        assert_eq!(day_start(t + 3 * HOUR_MS), t);
        assert_eq!(next_month_start(t), parse_timestamp("2024-07-01T00:00:00+08:00").unwrap());
        assert_eq!(format_shanghai(t), "2024-06-01T00:00:00+08:00");
    }

    #[test]
    fn timestamp_forms() {
        let z = parse_timestamp("2024-05-01T00:15:00Z").unwrap();
        assert_eq!(parse_timestamp("2024-05-01T08:15:00+08:00").unwrap(), z);
        assert_eq!(parse_timestamp("2024-05-01 08:15:00").unwrap(), z);
        assert_eq!(parse_timestamp(&z.to_string()).unwrap(), z);
        assert_eq!(parse_timestamp("2024-05-01T00:15:00.25Z").unwrap(), z + 250);
        assert_eq!(parse_timestamp("2024-05-01T02:15:00+02:00").unwrap(), z);
        assert!(parse_timestamp("2024-02-30T00:00:00Z").is_err());
        assert!(parse_timestamp("2024-05-01T00:15:00+8").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }
}
