//! Decimal value types. Each has a private field and a fallible constructor, so an invalid
//! amount, price or quantity cannot exist anywhere in the system. Never binary floating point.

use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;

/// Cash has at most 4 decimal places (API.md).
pub const CASH_SCALE: u32 = 4;
/// Prices have at most 4 decimal places.
pub const PRICE_SCALE: u32 = 4;
/// Quantities have at most 9 decimal places (fractional shares).
pub const QTY_SCALE: u32 = 9;

/// Upper bound of any single amount, price or quantity: keeps products far inside
/// `NUMERIC(28, 9)` and `Decimal`'s 96-bit mantissa.
const MAX_MAGNITUDE: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must be greater than zero")]
    NotPositive,
    #[error("must not be negative")]
    Negative,
    #[error("has too many decimal places (at most {0})")]
    TooPrecise(u32),
    #[error("is too large")]
    TooLarge,
}

fn check(raw: Decimal, scale: u32) -> Result<Decimal, ValueError> {
    let raw = raw.normalize();
    if raw.scale() > scale {
        return Err(ValueError::TooPrecise(scale));
    }
    if raw.abs() >= Decimal::from(MAX_MAGNITUDE) {
        return Err(ValueError::TooLarge);
    }
    Ok(raw)
}

macro_rules! decimal_accessors {
    ($name:ident) => {
        impl $name {
            pub const fn get(&self) -> Decimal {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.normalize().fmt(f)
            }
        }
        impl From<$name> for Decimal {
            fn from(v: $name) -> Decimal {
                v.0
            }
        }
    };
}

/// A signed cash amount with at most 4 decimal places (balances, activity amounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Money(Decimal);
decimal_accessors!(Money);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn new(raw: Decimal) -> Result<Self, ValueError> {
        check(raw, CASH_SCALE).map(Self)
    }

    /// The cash a buyer pays for `qty` at `price`: rounded UP to the cent-hundredth, so the
    /// house never pays for a rounding.
    pub fn cost_of(qty: Decimal, price: Decimal) -> Result<Self, ValueError> {
        Self::new((qty * price).round_dp_with_strategy(CASH_SCALE, RoundingStrategy::AwayFromZero))
    }

    /// The cash a seller receives for `qty` at `price`: rounded DOWN.
    pub fn proceeds_of(qty: Decimal, price: Decimal) -> Result<Self, ValueError> {
        Self::new((qty * price).round_dp_with_strategy(CASH_SCALE, RoundingStrategy::ToZero))
    }

    pub fn checked_add(self, other: Money) -> Result<Money, ValueError> {
        Self::new(self.0 + other.0)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, ValueError> {
        Self::new(self.0 - other.0)
    }

    pub fn is_negative(&self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn negated(self) -> Money {
        Money(-self.0)
    }
}

/// A strictly positive cash amount (a deposit, a withdrawal, a notional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(Decimal);
decimal_accessors!(Amount);

impl Amount {
    pub fn new(raw: Decimal) -> Result<Self, ValueError> {
        if raw <= Decimal::ZERO {
            return Err(ValueError::NotPositive);
        }
        check(raw, CASH_SCALE).map(Self)
    }

    pub fn as_money(&self) -> Money {
        Money(self.0)
    }
}

/// A strictly positive price per share with at most 4 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(Decimal);
decimal_accessors!(Price);

impl Price {
    pub fn new(raw: Decimal) -> Result<Self, ValueError> {
        if raw <= Decimal::ZERO {
            return Err(ValueError::NotPositive);
        }
        check(raw, PRICE_SCALE).map(Self)
    }
}

/// A strictly positive number of shares with at most 9 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);
decimal_accessors!(Quantity);

impl Quantity {
    pub fn new(raw: Decimal) -> Result<Self, ValueError> {
        if raw <= Decimal::ZERO {
            return Err(ValueError::NotPositive);
        }
        check(raw, QTY_SCALE).map(Self)
    }

    /// The whole-or-fractional quantity a notional buys at `price`, rounded down to 9 places.
    pub fn for_notional(notional: Amount, price: Price) -> Result<Self, ValueError> {
        Self::new((notional.get() / price.get()).round_dp_with_strategy(QTY_SCALE, RoundingStrategy::ToZero))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal literal")
    }

    #[test]
    fn quantity_rejects_zero_negative_and_too_precise() {
        assert_eq!(Quantity::new(d("0")), Err(ValueError::NotPositive));
        assert_eq!(Quantity::new(d("-1")), Err(ValueError::NotPositive));
        assert_eq!(Quantity::new(d("0.0000000001")), Err(ValueError::TooPrecise(9)));
        assert!(Quantity::new(d("0.000000001")).is_ok());
        assert_eq!(Quantity::new(d("1000000000000")), Err(ValueError::TooLarge));
    }

    #[test]
    fn trailing_zeros_do_not_count_as_precision() {
        assert_eq!(Price::new(d("150.250000")).map(|p| p.to_string()), Ok("150.25".to_owned()));
    }

    #[test]
    fn cost_rounds_up_and_proceeds_round_down() {
        let qty = d("0.333333333");
        let price = d("10.01");
        assert_eq!(Money::cost_of(qty, price).map(|m| m.get()), Ok(d("3.3367")));
        assert_eq!(Money::proceeds_of(qty, price).map(|m| m.get()), Ok(d("3.3366")));
    }

    #[test]
    fn money_may_be_negative_but_amount_may_not() {
        assert!(Money::new(d("-5")).is_ok());
        assert_eq!(Amount::new(d("-5")), Err(ValueError::NotPositive));
        assert_eq!(Amount::new(d("1.00001")), Err(ValueError::TooPrecise(4)));
    }

    #[test]
    fn notional_quantity_rounds_down() {
        let q = Quantity::for_notional(Amount::new(d("100")).unwrap(), Price::new(d("3")).unwrap());
        assert_eq!(q.map(|q| q.get()), Ok(d("33.333333333")));
    }
}
