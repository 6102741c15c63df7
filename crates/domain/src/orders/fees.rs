//! The commission model: a price per share with a minimum per fill, booked as its own `fee`
//! activity next to the fill. Both zero (the default) means commission-free trading.

use crate::values::{Money, ValueError};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeSchedule {
    pub per_share: Decimal,
    pub minimum: Money,
}

impl FeeSchedule {
    pub const FREE: FeeSchedule = FeeSchedule { per_share: Decimal::ZERO, minimum: Money::ZERO };

    /// The commission on a fill of `qty` shares: `per_share × qty` rounded up to the cash
    /// scale, at least `minimum`; zero when the schedule is free.
    pub fn commission(&self, qty: Decimal) -> Result<Money, ValueError> {
        if self.per_share.is_zero() && self.minimum == Money::ZERO {
            return Ok(Money::ZERO);
        }
        Ok(Money::cost_of(qty, self.per_share)?.max(self.minimum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn per_share_with_a_minimum() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal");
        let fees = FeeSchedule { per_share: d("0.005"), minimum: Money::new(d("1")).expect("valid") };
        assert_eq!(fees.commission(d("100")).map(|m| m.get()), Ok(d("1")));
        assert_eq!(fees.commission(d("1000")).map(|m| m.get()), Ok(d("5")));
        assert_eq!(fees.commission(d("333.3333")).map(|m| m.get()), Ok(d("1.6667")));
        assert_eq!(FeeSchedule::FREE.commission(d("5")), Ok(Money::ZERO));
    }
}
