//! Exact decimals for the figures a plan file states (coefficients, benchmarks, outputs).
//!
//! A plan says "0.98" and means exactly 0.98: a binary float cannot hold that, and an allocation
//! computed through one can differ by a kilogram between two machines' formatting. A `Dec` is an
//! integer mantissa and a power of ten; products stay exact, and the one rounding of an allocation
//! (down to a whole kilogram, so the group never allocates more than its figures give) happens once,
//! at the end.

use std::cmp::Ordering;
use std::fmt;

/// `mant × 10^-exp`, kept with no trailing zeros in the mantissa so products stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dec {
    mant: i128,
    exp: u32,
}

/// Why a decimal could not be read or computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecError {
    #[error("not a decimal number: {0:?} (write digits with an optional '.' and fraction, e.g. \"0.98\")")]
    Syntax(String),
    #[error("too many digits: {0:?} (at most 18 after the point)")]
    TooPrecise(String),
    #[error("the computation overflows: the figures are too large to combine exactly")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
}

const MAX_FRACTION_DIGITS: usize = 18;

impl Dec {
    pub const ZERO: Dec = Dec { mant: 0, exp: 0 };
    pub const ONE: Dec = Dec { mant: 1, exp: 0 };

    /// `mant × 10^-exp` (e.g. a figure kept in millionths: `from_scaled(v, 6)`).
    pub fn from_scaled(mant: i128, exp: u32) -> Dec {
        Dec { mant, exp }.normalized()
    }

    pub fn from_int(v: i64) -> Dec {
        Dec { mant: v as i128, exp: 0 }.normalized()
    }

    /// Reads "12", "-0.5", "1_000.25". Exponents and thousands commas are refused (a plan file is
    /// read by people; one spelling per number).
    pub fn parse(text: &str) -> Result<Dec, DecError> {
        let s: String = text.trim().chars().filter(|c| *c != '_').collect();
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(&s)),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (body.contains('.') && frac.is_empty())
        {
            return Err(DecError::Syntax(text.to_string()));
        }
        if frac.len() > MAX_FRACTION_DIGITS || int.len() > 20 {
            return Err(DecError::TooPrecise(text.to_string()));
        }
        let mut mant: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mant = mant * 10 + (b - b'0') as i128;
        }
        if neg {
            mant = -mant;
        }
        Ok(Dec { mant, exp: frac.len() as u32 }.normalized())
    }

    fn normalized(mut self) -> Dec {
        if self.mant == 0 {
            return Dec::ZERO;
        }
        while self.exp > 0 && self.mant % 10 == 0 {
            self.mant /= 10;
            self.exp -= 1;
        }
        self
    }

    pub fn is_negative(&self) -> bool {
        self.mant < 0
    }

    pub fn is_zero(&self) -> bool {
        self.mant == 0
    }

    pub fn checked_mul(self, other: Dec) -> Result<Dec, DecError> {
        let mant = self.mant.checked_mul(other.mant).ok_or(DecError::Overflow)?;
        let exp = self.exp + other.exp;
        if exp > 38 {
            return Err(DecError::Overflow);
        }
        Ok(Dec { mant, exp }.normalized())
    }

    pub fn checked_add(self, other: Dec) -> Result<Dec, DecError> {
        let exp = self.exp.max(other.exp);
        let a = self.mant.checked_mul(pow10(exp - self.exp)?).ok_or(DecError::Overflow)?;
        let b = other.mant.checked_mul(pow10(exp - other.exp)?).ok_or(DecError::Overflow)?;
        Ok(Dec { mant: a.checked_add(b).ok_or(DecError::Overflow)?, exp }.normalized())
    }

    pub fn checked_sub(self, other: Dec) -> Result<Dec, DecError> {
        self.checked_add(Dec { mant: -other.mant, exp: other.exp })
    }

    /// The largest integer not above this value.
    pub fn floor(self) -> Result<i128, DecError> {
        Ok(self.mant.div_euclid(pow10(self.exp)?))
    }

    /// ⌊self / other⌋, exactly.
    pub fn div_floor(self, other: Dec) -> Result<i128, DecError> {
        if other.mant == 0 {
            return Err(DecError::DivisionByZero);
        }
        // self/other = (a·10^-ea)/(b·10^-eb) = a·10^eb / (b·10^ea)
        let num = self.mant.checked_mul(pow10(other.exp)?).ok_or(DecError::Overflow)?;
        let den = other.mant.checked_mul(pow10(self.exp)?).ok_or(DecError::Overflow)?;
        let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
        Ok(num.div_euclid(den))
    }
}

fn pow10(e: u32) -> Result<i128, DecError> {
    10i128.checked_pow(e).ok_or(DecError::Overflow)
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Self) -> Ordering {
        // Compare a·10^(e-ea) with b·10^(e-eb); fall back to the sign of the difference's floor
        // when scaling overflows (values that large are never close to each other here).
        match self.checked_sub(*other) {
            Ok(d) => d.mant.cmp(&0),
            Err(_) => self.floor().unwrap_or(0).cmp(&other.floor().unwrap_or(0)),
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exp == 0 {
            return write!(f, "{}", self.mant);
        }
        let neg = self.mant < 0;
        let digits = self.mant.unsigned_abs().to_string();
        let exp = self.exp as usize;
        let padded =
            if digits.len() <= exp { format!("{}{}", "0".repeat(exp + 1 - digits.len()), digits) } else { digits };
        let (int, frac) = padded.split_at(padded.len() - exp);
        write!(f, "{}{}.{}", if neg { "-" } else { "" }, int, frac)
    }
}

impl serde::Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Dec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dec, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal as a string (\"0.98\") or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dec, E> {
                Dec::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dec, E> {
                Ok(Dec::from_int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dec, E> {
                i64::try_from(v).map(Dec::from_int).map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Dec, E> {
                Err(E::custom("write decimals as strings (\"0.98\"): a floating-point number is not exact"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        for (text, shown) in [
            ("0.98", "0.98"),
            ("1.050", "1.05"),
            ("-0.5", "-0.5"),
            ("1_000", "1000"),
            ("0.000001", "0.000001"),
            ("7", "7"),
        ] {
            assert_eq!(Dec::parse(text).unwrap().to_string(), shown, "{text}");
        }
        for bad in ["", ".", "1.", "1e3", "1,000", "abc", "--1"] {
            assert!(Dec::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn products_and_floors_are_exact() {
        // The reference's golden vector: 1,000 MWh × 0.877 t/MWh × 1.05 = 920.85 t.
        let t = Dec::from_int(1000)
            .checked_mul(Dec::parse("0.877").unwrap())
            .unwrap()
            .checked_mul(Dec::parse("1.05").unwrap())
            .unwrap();
        assert_eq!(t.to_string(), "920.85");
        assert_eq!(t.floor().unwrap(), 920);
        assert_eq!(Dec::parse("-0.5").unwrap().floor().unwrap(), -1);
        assert_eq!(Dec::from_int(10).div_floor(Dec::from_int(3)).unwrap(), 3);
        assert_eq!(Dec::parse("1.5").unwrap().div_floor(Dec::parse("0.5").unwrap()).unwrap(), 3);
        assert!(Dec::parse("0.1").unwrap() < Dec::parse("0.10001").unwrap());
        assert_eq!(
            Dec::parse("0.1").unwrap().checked_add(Dec::parse("0.2").unwrap()).unwrap(),
            Dec::parse("0.3").unwrap()
        );
    }
}
