//! The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from the 31-character
//! set `0-9 A-H J-N P-R T U W X Y` (no I, O, Z, S, V); character 1 is the registering authority,
//! 2 the entity type, 3–8 the administrative division (digits), 9–17 the organisation code and 18
//! a check character: `31 − (Σ value(cᵢ)·wᵢ mod 31)` (31 becomes 0) with the weights
//! `wᵢ = 3^(i−1) mod 31` for i = 1..17.

/// The code's alphabet in value order.
pub const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The weights of characters 1..17 (3^(i−1) mod 31).
pub const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|a| *a == c).map(|p| p as u32)
}

/// The check character of the first 17 characters of a code.
pub fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in first17.iter().zip(WEIGHTS) {
        sum += value(*c)? * w;
    }
    Some(ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// Checks a code (upper case, 18 characters); the reason when it is not valid.
pub fn check(code: &str) -> Result<(), String> {
    let b = code.as_bytes();
    if b.len() != 18 {
        return Err(format!("a unified social credit code has 18 characters, not {}", code.chars().count()));
    }
    if let Some(bad) = b.iter().find(|c| value(**c).is_none()) {
        return Err(format!(
            "{:?} is not a character of the code (0-9 and upper-case letters but I, O, Z, S, V)",
            *bad as char
        ));
    }
    if !b[2..8].iter().all(u8::is_ascii_digit) {
        return Err("characters 3 to 8 (the administrative division) are digits".into());
    }
    let expected = check_char(&b[..17]).expect("17 characters of the alphabet");
    if expected != b[17] {
        return Err(format!("check character is {:?}, not {:?}", expected as char, b[17] as char));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_pass_and_a_changed_character_fails() {
        // Huawei Technologies Co., Ltd. (Shenzhen) and China Telecom Group: published codes.
        // Hand check of the first: Σ value·weight = 9·1+1·3+4·9+4·27+0+3·26+0+0+1·20+9·29+2·25+2·13+0+3·24+8·10+2·30+1·28 = 831;
        // 831 mod 31 = 25; 31 − 25 = 6 → "6".
        assert_eq!(check("914403001922038216"), Ok(()));
        assert_eq!(check("91110000710935732K"), Ok(()));
        assert_eq!(check("914403001922038217").unwrap_err(), "check character is '6', not '7'");
        assert!(check("91440300192203821").unwrap_err().contains("18 characters"));
        assert!(check("9144030019220382I6").unwrap_err().contains("'I'"));
        assert!(check("91A403001922038216").unwrap_err().contains("administrative division"));
    }
}
