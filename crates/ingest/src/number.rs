//! Quantities: `str::parse::<f64>` with a short path for plain decimals.

/// 10^0 ..= 10^22: every one is exact in f64 (5^22 < 2^53).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Parses `b` exactly as `str::parse::<f64>` does (the same value, bit for bit, or the same
/// refusal: the tests compare the two), taking a short path for what activity files hold.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    if let Some(v) = plain_decimal(b) {
        return Some(v);
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// A quantity as filers write it: a number [`parse_f64`] reads, or digits grouped by thousands
/// with commas as a spreadsheet shows them (`1,234`, `12,345,678.5`: groups of exactly three after
/// the first of one to three). Any other comma (`1,2`, `1234,5`, `,123`) is not a number: a
/// decimal comma is never guessed.
pub(crate) fn parse_quantity(b: &[u8]) -> Option<f64> {
    if let Some(v) = parse_f64(b) {
        return Some(v);
    }
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(i) => (&b[..i], &b[i..]),
        None => (b, &b[b.len()..]),
    };
    let mut groups = int.split(|&c| c == b',');
    let first = groups.next()?;
    let grouped = (1..=3).contains(&first.len())
        && first.iter().all(u8::is_ascii_digit)
        && int.contains(&b',')
        && groups.all(|g| g.len() == 3 && g.iter().all(u8::is_ascii_digit));
    if !grouped {
        return None;
    }
    let plain: Vec<u8> = int.iter().copied().filter(|&c| c != b',').chain(frac.iter().copied()).collect();
    parse_f64(&plain)
}

/// Digits with at most one point and at least one digit (`12`, `3.5`, `.5`, `5.`), whose digits
/// read as one integer `w` are at most 2^53 with at most 22 after the point: then `w` and 10^f are
/// exact in f64 and one division, correctly rounded by IEEE 754, gives the correctly rounded value
/// of the decimal, which is what `str::parse` returns. Anything else (signs, exponents, more
/// digits, spaces, words) is None and left to `str::parse`.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    let mut w: u64 = 0;
    let mut digits = 0u32;
    let mut point = None;
    for (i, &c) in b.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            digits += 1;
            if digits > 19 {
                return None;
            }
            w = w * 10 + d as u64;
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let frac = point.map_or(0, |i| b.len() - i - 1);
    if digits == 0 || w > 1 << 53 || frac >= POW10.len() {
        return None;
    }
    Some(w as f64 / POW10[frac])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators_are_read_and_nothing_else_with_a_comma_is() {
        assert_eq!(parse_quantity(b"1,234"), Some(1234.0));
        assert_eq!(parse_quantity(b"12,345,678.5"), Some(12_345_678.5));
        assert_eq!(parse_quantity(b"999"), Some(999.0));
        for bad in [&b"1,2"[..], b"1234,5", b",123", b"1,,234", b"1,234,", b"1 234", b"-1,234x", b"1.234,5", b"1,2345"]
        {
            assert_eq!(parse_quantity(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // A sign is not part of a grouped quantity: a negative quantity is refused anyway.
        assert_eq!(parse_quantity(b"-1,234"), None);
    }
    use proptest::prelude::*;

    fn std_parse(s: &str) -> Option<f64> {
        s.parse().ok()
    }

    /// Same value bit for bit (NaN compared as NaN), or both refused.
    fn same(s: &str) {
        let ours = parse_f64(s.as_bytes());
        let theirs = std_parse(s);
        match (ours, theirs) {
            (Some(a), Some(b)) => {
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{s:?}: {a:e} vs {b:e}")
            }
            (None, None) => {}
            _ => panic!("{s:?}: ours {ours:?}, str::parse {theirs:?}"),
        }
    }

    #[test]
    fn edge_cases_match_str_parse() {
        let cases = [
            "0",
            "00",
            "0.0",
            "-0",
            "+0",
            "-0.0",
            "1",
            "+1",
            "-1",
            "1.",
            ".5",
            ".",
            "",
            " ",
            "1 ",
            " 1",
            "1 000",
            "1,5",
            "1.2.3",
            "1e3",
            "1E3",
            "1e-3",
            "1e+3",
            "1.5e2",
            "e3",
            "1e",
            "-1e3",
            "inf",
            "+inf",
            "-inf",
            "infinity",
            "Infinity",
            "INF",
            "nan",
            "NaN",
            "-nan",
            "0x10",
            "1_000",
            "١٢",
            "１２",
            "1\u{a0}",
            "3697.781",
            "786.136",
            "28604",
            "0.1",
            "0.2",
            "0.3",
            "2.5",
            "1.0000000000000002",
            "9007199254740992",
            "9007199254740993",
            "9007199254740991",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "99999999999999999999",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "1.7976931348623157e308",
            "1.8e308",
            "4.9e-324",
            "2.2250738585072014e-308",
            "1e400",
            "123456789012.345",
            "0000000000000000000000000001",
            "00000000000000000001.5",
            "1234567890123456789",
            "12345678901234567890",
            "3.14159265358979323846",
            "0.30000000000000004",
            "1\r",
            "1\n",
            "\t1",
            "1\u{0}",
        ];
        for s in cases {
            same(s);
        }
    }

    #[test]
    fn invalid_utf8_is_not_a_number() {
        assert_eq!(parse_f64(b"1\xff"), None);
        assert_eq!(parse_f64(b"\xe4\xb8"), None);
    }

    #[test]
    fn short_path_is_taken_for_plain_decimals() {
        // The short path answers by itself (so it must be right on its own, not via the fallback).
        assert_eq!(plain_decimal(b"3697.781"), Some(3697.781));
        assert_eq!(plain_decimal(b".5"), Some(0.5));
        assert_eq!(plain_decimal(b"9007199254740992"), Some(9007199254740992.0));
        assert_eq!(plain_decimal(b"9007199254740993"), None);
        assert_eq!(plain_decimal(b"1e3"), None);
        assert_eq!(plain_decimal(b"-1"), None);
        assert_eq!(plain_decimal(b"."), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn any_text_from_number_characters(s in "[-+0-9.eE ]{0,26}") {
            same(&s);
        }

        #[test]
        fn plain_decimals(int in "[0-9]{0,20}", frac in proptest::option::of("[0-9]{0,25}")) {
            let s = match frac { Some(f) => format!("{int}.{f}"), None => int };
            same(&s);
            if let Some(v) = plain_decimal(s.as_bytes()) {
                prop_assert_eq!(v.to_bits(), s.parse::<f64>().unwrap().to_bits());
            }
        }

        #[test]
        fn printed_floats(x in 0f64..1e12, places in 0usize..12) {
            same(&format!("{x:.places$}"));
            same(&format!("{x}"));
        }
    }
}
