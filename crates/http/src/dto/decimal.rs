//! Decimal request fields: a JSON string (`"150.25"`) or a JSON number (`150.25`), read
//! exactly. Binary floating point never gets in: a JSON float is read through its shortest
//! decimal text (`0.1` → `"0.1"` → exactly 0.1).
//!
//! A value that is not a usable decimal does not fail deserialisation; it becomes
//! `DecimalInput(Err(reason))`, so the request's `try_into_domain` can report it under the
//! field's own name (serde's errors cannot name the field).

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

pub const NOT_A_DECIMAL: &str = "must be a decimal number, as a string (\"150.25\") or a JSON number";
pub const TOO_LARGE: &str = "is too large";
pub const TOO_PRECISE: &str = "has too many decimal places";

/// A decimal as the client sent it: the exact value, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalInput(pub Result<Decimal, &'static str>);

/// Documented as what a client may send: a decimal string or a JSON number.
impl utoipa::PartialSchema for DecimalInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[+-]?(\d+\.?\d*|\.\d+)$")))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some("A decimal: a string (`\"150.25\"`, exact) or a JSON number (`150.25`, read through its shortest decimal text)"))
            .examples(["150.25"])
            .into()
    }
}

impl utoipa::ToSchema for DecimalInput {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Decimal")
    }
}

impl<'de> Deserialize<'de> for DecimalInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(match Value::deserialize(deserializer)? {
            Value::String(text) => parse_text(&text),
            Value::Number(n) => parse_number(&n),
            _ => Err(NOT_A_DECIMAL),
        }))
    }
}

fn parse_number(n: &Number) -> Result<Decimal, &'static str> {
    if let Some(i) = n.as_i64() {
        Ok(Decimal::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Decimal::from(u))
    } else {
        match n.as_f64() {
            // `Display` of an f64 is its shortest round-trip text, never an exponent.
            Some(f) if f.is_finite() => parse_text(&f.to_string()),
            _ => Err(NOT_A_DECIMAL),
        }
    }
}

fn parse_text(text: &str) -> Result<Decimal, &'static str> {
    // Plain decimal notation only: rust_decimal would also read `1_000`, and a typo should
    // not become a different number.
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !(int.is_empty() && frac.is_empty()) && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !plain {
        return Err(NOT_A_DECIMAL);
    }
    Decimal::from_str_exact(text).map_err(|_| {
        // Too many digits either way: name the side that overflowed.
        if int.trim_start_matches('0').len() > 28 { TOO_LARGE } else { TOO_PRECISE }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn read(json: &str) -> Result<Decimal, &'static str> {
        serde_json::from_str::<DecimalInput>(json).expect("any JSON value deserialises").0
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal literal")
    }

    #[test]
    fn strings_are_read_exactly() {
        assert_eq!(read(r#""150.25""#), Ok(d("150.25")));
        assert_eq!(read(r#""-0.000000001""#), Ok(d("-0.000000001")));
        assert_eq!(read(r#""+7""#), Ok(d("7")));
        assert_eq!(read(r#"".5""#), Ok(d("0.5")));
        assert_eq!(read(r#""12345678901234567890.12345678""#), Ok(d("12345678901234567890.12345678")));
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(read("42"), Ok(d("42")));
        assert_eq!(read("-42"), Ok(d("-42")));
        assert_eq!(read("18446744073709551615"), Ok(Decimal::from(u64::MAX)));
    }

    #[test]
    fn floats_are_read_through_their_shortest_text() {
        assert_eq!(read("0.1"), Ok(d("0.1")));
        assert_eq!(read("150.25"), Ok(d("150.25")));
        assert_eq!(read("1e2"), Ok(d("100")));
        assert_eq!(read("1e308"), Err(TOO_LARGE));
        assert_eq!(read("-1e308"), Err(TOO_LARGE));
        assert_eq!(read("1e-30"), Err(TOO_PRECISE));
    }

    #[test]
    fn non_numbers_are_refused_without_panicking() {
        for json in [
            r#""NaN""#,
            r#""nan""#,
            r#""inf""#,
            r#""-Infinity""#,
            r#""""#,
            r#""-""#,
            r#"".""#,
            r#""1_000""#,
            r#""1e5""#,
            r#"" 1""#,
            r#""1.2.3""#,
            r#""0x10""#,
            "true",
            "null",
            "[1]",
            r#"{"value": 1}"#,
        ] {
            assert_eq!(read(json), Err(NOT_A_DECIMAL), "{json}");
        }
    }

    #[test]
    fn too_many_digits_are_refused() {
        assert_eq!(read(r#""0.00000000000000000000000000001""#), Err(TOO_PRECISE));
        assert_eq!(read(r#""99999999999999999999999999999999""#), Err(TOO_LARGE));
    }
}
