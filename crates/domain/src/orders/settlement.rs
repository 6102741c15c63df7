//! Where an order's cash and shares move. Pure functions over the rows an adapter has locked;
//! the adapter runs them inside one transaction and writes back what they changed, so the
//! memory and Postgres adapters share one set of rules.

use super::models::{Order, OrderStatus, Side, TransitionError};
use crate::accounts::{Account, Activity, ActivityKind, CashError, TradeDetails};
use crate::ids::ActivityId;
use crate::positions::Position;
use crate::values::{Money, Price, Quantity, ValueError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("not enough buying power")]
    InsufficientBuyingPower,
    #[error("not enough shares")]
    InsufficientPosition,
    #[error("the account is not active")]
    AccountNotActive,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("amount out of range: {0}")]
    OutOfRange(#[from] ValueError),
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The id of the ledger activity the fill books.
    pub activity_id: ActivityId,
    /// The id of the `fee` activity, booked when `fee` is not zero.
    pub fee_activity_id: ActivityId,
    pub qty: Quantity,
    pub price: Price,
    /// The commission on this fill.
    pub fee: Money,
    pub at: DateTime<Utc>,
}

fn cash_error(e: CashError) -> SettlementError {
    match e {
        CashError::Insufficient => SettlementError::InsufficientBuyingPower,
        CashError::NotActive => SettlementError::AccountNotActive,
        CashError::OutOfRange(v) => SettlementError::OutOfRange(v),
    }
}

/// Reserves what a new order needs: `hold` cash for a buy, the shares for a sell
/// (no short selling).
pub fn reserve(
    order: &mut Order,
    account: &mut Account,
    position: &mut Position,
    hold: Money,
) -> Result<(), SettlementError> {
    match order.side {
        Side::Buy => {
            account.hold(hold).map_err(cash_error)?;
            order.held_cash = hold;
        }
        Side::Sell => {
            if account.status != crate::accounts::AccountStatus::Active {
                return Err(SettlementError::AccountNotActive);
            }
            if position.available() < order.qty.get() {
                return Err(SettlementError::InsufficientPosition);
            }
            position.held += order.qty.get();
        }
    }
    Ok(())
}

/// Books a fill: the order advances, cash and shares change hands (shares leave FIFO), the
/// reservation shrinks, and the fill's activity (the signed cash change) is returned with the
/// fee's activity when the fill costs a commission.
pub fn fill(
    order: &mut Order,
    account: &mut Account,
    position: &mut Position,
    fill: &Fill,
) -> Result<Vec<Activity>, SettlementError> {
    order.apply_fill(fill.qty, fill.price, fill.at)?;
    let qty = fill.qty.get();
    let (amount, fee, realized_pl) = match order.side {
        Side::Buy => {
            let cost = Money::cost_of(qty, fill.price.get())?;
            let due = cost.checked_add(fill.fee)?;
            // A completed order gives back all it held; a partial fill releases what it used.
            let release = if order.status == OrderStatus::Filled { order.held_cash } else { order.held_cash.min(due) };
            account.held = account.held.checked_sub(release)?;
            order.held_cash = order.held_cash.checked_sub(release)?;
            if account.buying_power() < due {
                return Err(SettlementError::InsufficientBuyingPower);
            }
            account.cash = account.cash.checked_sub(due)?;
            position.buy(qty, cost)?;
            (cost.negated(), fill.fee, None)
        }
        Side::Sell => {
            let proceeds = Money::proceeds_of(qty, fill.price.get())?;
            let released_cost = position.sell_fifo(qty)?;
            position.held -= qty;
            // The commission never takes more than the sale brought in.
            let fee = fill.fee.min(proceeds);
            account.cash = account.cash.checked_add(proceeds)?.checked_sub(fee)?;
            (proceeds, fee, Some(proceeds.checked_sub(released_cost)?))
        }
    };
    let trade = TradeDetails {
        order_id: order.id,
        symbol: order.symbol.clone(),
        side: order.side,
        qty: fill.qty,
        price: fill.price,
        realized_pl,
    };
    let mut activities = vec![Activity {
        id: fill.activity_id,
        account_id: account.id,
        kind: ActivityKind::Fill,
        amount,
        trade: Some(trade.clone()),
        created_at: fill.at,
        request_key: None,
    }];
    if fee > Money::ZERO {
        activities.push(Activity::fee(fill.fee_activity_id, account.id, fee, trade, fill.at));
    }
    Ok(activities)
}

/// Closes an open order unfilled (`to` = canceled, expired, rejected, replaced) and gives back
/// whatever it still reserves.
pub fn release(
    order: &mut Order,
    account: &mut Account,
    position: &mut Position,
    to: OrderStatus,
    at: DateTime<Utc>,
) -> Result<(), SettlementError> {
    let remaining: Decimal = order.remaining_qty();
    order.close(to, at)?;
    match order.side {
        Side::Buy => {
            account.held = account.held.checked_sub(order.held_cash)?;
            order.held_cash = Money::ZERO;
        }
        Side::Sell => position.held -= remaining,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, UserId};
    use crate::orders::models::tests::{d, order};
    use uuid::Uuid;

    fn account(cash: &str) -> Account {
        let mut a = Account::open(AccountId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()), Utc::now());
        a.cash = Money::new(d(cash)).expect("valid");
        a
    }

    fn a_fill(qty: &str, price: &str) -> Fill {
        Fill {
            activity_id: ActivityId::from_uuid(Uuid::now_v7()),
            fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
            fee: Money::ZERO,
            qty: Quantity::new(d(qty)).expect("valid"),
            price: Price::new(d(price)).expect("valid"),
            at: Utc::now(),
        }
    }

    fn money(s: &str) -> Money {
        Money::new(d(s)).expect("valid")
    }

    #[test]
    fn a_buy_holds_then_fills_and_returns_the_unused_hold() {
        let mut acct = account("1000");
        let mut o = order(Side::Buy, "10");
        let mut pos = Position::empty(acct.id, o.symbol.clone());
        reserve(&mut o, &mut acct, &mut pos, money("1000")).expect("enough cash");
        assert_eq!(acct.buying_power(), Money::ZERO);

        let act = fill(&mut o, &mut acct, &mut pos, &a_fill("10", "95")).expect("fills");
        assert_eq!(act[0].amount, money("-950"));
        assert_eq!((acct.cash, acct.held, o.held_cash), (money("50"), Money::ZERO, Money::ZERO));
        assert_eq!((pos.qty, pos.cost_basis), (d("10"), money("950")));
    }

    #[test]
    fn a_buy_beyond_buying_power_is_refused_and_changes_nothing() {
        let mut acct = account("100");
        let before = acct.clone();
        let mut o = order(Side::Buy, "10");
        let mut pos = Position::empty(acct.id, o.symbol.clone());
        assert_eq!(
            reserve(&mut o, &mut acct, &mut pos, money("100.0001")),
            Err(SettlementError::InsufficientBuyingPower)
        );
        assert_eq!(acct, before);
    }

    #[test]
    fn no_short_selling() {
        let mut acct = account("0");
        let mut o = order(Side::Sell, "1");
        let mut pos = Position::empty(acct.id, o.symbol.clone());
        assert_eq!(reserve(&mut o, &mut acct, &mut pos, Money::ZERO), Err(SettlementError::InsufficientPosition));
    }

    #[test]
    fn a_sell_moves_shares_to_cash_at_average_cost() {
        let mut acct = account("0");
        let mut o = order(Side::Sell, "4");
        let mut pos = Position::empty(acct.id, o.symbol.clone());
        pos.buy(d("10"), money("1000")).expect("valid");
        reserve(&mut o, &mut acct, &mut pos, Money::ZERO).expect("owns shares");
        assert_eq!(pos.available(), d("6"));
        let act = fill(&mut o, &mut acct, &mut pos, &a_fill("4", "120")).expect("fills");
        assert_eq!(act[0].amount, money("480"));
        assert_eq!((pos.qty, pos.held, pos.cost_basis, acct.cash), (d("6"), d("0"), money("600"), money("480")));
    }

    #[test]
    fn cancel_returns_exactly_what_is_still_held() {
        let mut acct = account("1000");
        let mut o = order(Side::Buy, "10");
        let mut pos = Position::empty(acct.id, o.symbol.clone());
        reserve(&mut o, &mut acct, &mut pos, money("1000")).expect("enough cash");
        fill(&mut o, &mut acct, &mut pos, &a_fill("4", "100")).expect("partial");
        assert_eq!((acct.cash, acct.held), (money("600"), money("600")));
        release(&mut o, &mut acct, &mut pos, OrderStatus::Canceled, Utc::now()).expect("open");
        assert_eq!((acct.cash, acct.held, o.status), (money("600"), Money::ZERO, OrderStatus::Canceled));
        assert!(release(&mut o, &mut acct, &mut pos, OrderStatus::Canceled, Utc::now()).is_err());
    }
}
