//! What one atomic change of an account writes. Each use case (place, cancel, replace, an
//! execution-engine step) is a pure function from the rows the adapter has locked to a
//! [`Booking`]: the account and position as they end, the orders to insert or update, the
//! ledger activities, the fills keyed `(order id, seq)` and the trade-update events (the
//! outbox). The adapter writes a booking in one transaction, so the memory and Postgres
//! adapters share every money rule and cannot disagree on what a change means.

use super::events::{EventKind, FillDetails, TradeEvent};
use super::fees::FeeSchedule;
use super::models::{Order, OrderStatus, Side, TransitionError};
use super::ports::AfterPlace;
use super::settlement::{self, Fill, SettlementError};
use super::triggers::{self, Evaluation};
use crate::accounts::{Account, Activity};
use crate::ids::{ActivityId, OrderId};
use crate::market::Quote;
use crate::positions::Position;
use crate::values::{Money, Price, Quantity};
use chrono::{DateTime, Utc};

/// One fill as stored: `(order_id, seq)` is unique, so a retried fill cannot book twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub order_id: OrderId,
    pub seq: u32,
    pub qty: Quantity,
    pub price: Price,
    pub activity_id: ActivityId,
    pub at: DateTime<Utc>,
}

/// Everything one atomic change writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The account as it ends (balances and event cursor).
    pub account: Account,
    pub account_changed: bool,
    /// The position as it ends (an empty one is deleted).
    pub position: Position,
    pub position_changed: bool,
    /// New or changed orders, in their final state (insert, or update by id).
    pub orders: Vec<Order>,
    pub activities: Vec<Activity>,
    pub executions: Vec<Execution>,
    pub events: Vec<TradeEvent>,
}

impl Booking {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        !self.account_changed && !self.position_changed && self.orders.is_empty()
    }

    /// The booked order with this id, as it ends.
    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.orders.iter().rev().find(|o| o.id == id)
    }
}

/// The locked rows a change works on, and what it has booked so far.
struct Desk {
    account: Account,
    account_before: Account,
    position: Position,
    position_before: Position,
    orders: Vec<Order>,
    activities: Vec<Activity>,
    executions: Vec<Execution>,
    events: Vec<TradeEvent>,
}

impl Desk {
    fn new(account: Account, position: Position) -> Self {
        Self {
            account_before: account.clone(),
            position_before: position.clone(),
            account,
            position,
            orders: Vec::new(),
            activities: Vec::new(),
            executions: Vec::new(),
            events: Vec::new(),
        }
    }

    fn publish(&mut self, kind: EventKind, order: &Order, fill: Option<FillDetails>, at: DateTime<Utc>) {
        self.account.event_seq += 1;
        self.events.push(TradeEvent {
            account_id: self.account.id,
            seq: self.account.event_seq,
            kind,
            order: order.clone(),
            fill,
            at,
        });
    }

    fn reserve(&mut self, order: &mut Order, hold: Money) -> Result<(), SettlementError> {
        settlement::reserve(order, &mut self.account, &mut self.position, hold)?;
        self.publish(EventKind::New, order, None, order.submitted_at);
        Ok(())
    }

    fn fill(&mut self, order: &mut Order, fill: &Fill) -> Result<(), SettlementError> {
        let activities = settlement::fill(order, &mut self.account, &mut self.position, fill)?;
        self.executions.push(Execution {
            order_id: order.id,
            seq: order.fill_seq,
            qty: fill.qty,
            price: fill.price,
            activity_id: fill.activity_id,
            at: fill.at,
        });
        self.activities.extend(activities);
        let kind = if order.status == OrderStatus::Filled { EventKind::Fill } else { EventKind::PartialFill };
        self.publish(kind, order, Some(FillDetails { qty: fill.qty, price: fill.price }), fill.at);
        Ok(())
    }

    fn release(&mut self, order: &mut Order, to: OrderStatus, at: DateTime<Utc>) -> Result<(), SettlementError> {
        settlement::release(order, &mut self.account, &mut self.position, to, at)?;
        self.publish(EventKind::closing(to), order, None, at);
        Ok(())
    }

    fn after_place(&mut self, order: &mut Order, after: &AfterPlace) -> Result<(), SettlementError> {
        match after {
            AfterPlace::Fill(fill) => self.fill(order, fill),
            AfterPlace::Cancel(at) => self.release(order, OrderStatus::Canceled, *at),
            AfterPlace::Rest => Ok(()),
        }
    }

    fn finish(self) -> Booking {
        Booking {
            account_changed: self.account != self.account_before,
            position_changed: self.position != self.position_before,
            account: self.account,
            position: self.position,
            orders: self.orders,
            activities: self.activities,
            executions: self.executions,
            events: self.events,
        }
    }
}

/// Whether [`place`] can change the order's position, so that the adapter must lock and load
/// it first: a sell holds shares and a fill at placement moves them, while a buy that rests or
/// is cancelled at once changes only cash. When it cannot, the adapter may lock the account
/// alone (one statement fewer for every resting buy) and pass [`Position::empty`]; the
/// booking then never changes the position, which the adapter checks.
pub fn placing_changes_position(order: &Order, after: &AfterPlace) -> bool {
    order.side == Side::Sell || matches!(after, AfterPlace::Fill(_))
}

/// A new order: reserve `hold` (buys) or the shares (sells), then fill or cancel it at once
/// as `after` says.
pub fn place(
    mut order: Order,
    account: Account,
    position: Position,
    hold: Money,
    after: &AfterPlace,
) -> Result<Booking, SettlementError> {
    let mut desk = Desk::new(account, position);
    desk.reserve(&mut order, hold)?;
    desk.after_place(&mut order, after)?;
    desk.orders.push(order);
    Ok(desk.finish())
}

/// Cancels an open order and gives back what it still reserves.
pub fn cancel(
    mut order: Order,
    account: Account,
    position: Position,
    at: DateTime<Utc>,
) -> Result<Booking, SettlementError> {
    let mut desk = Desk::new(account, position);
    desk.release(&mut order, OrderStatus::Canceled, at)?;
    desk.orders.push(order);
    Ok(desk.finish())
}

/// Replaces an open order: the old one closes `replaced` and gives back its reservation,
/// then `new` (which names the old one in `replaces`) is reserved and placed like any order.
/// Both happen or neither: a new order the account cannot afford leaves the old one as it was.
pub fn replace(
    mut old: Order,
    mut new: Order,
    account: Account,
    position: Position,
    hold: Money,
    after: &AfterPlace,
) -> Result<Booking, SettlementError> {
    if old.account_id != new.account_id || old.symbol != new.symbol || old.side != new.side {
        return Err(SettlementError::Transition(TransitionError::NotOpen));
    }
    let mut desk = Desk::new(account, position);
    old.replaced_by = Some(new.id);
    new.replaces = Some(old.id);
    desk.release(&mut old, OrderStatus::Replaced, new.submitted_at)?;
    desk.orders.push(old);
    desk.reserve(&mut new, hold)?;
    desk.after_place(&mut new, after)?;
    desk.orders.push(new);
    Ok(desk.finish())
}

/// What the execution engine brings to one resting order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// The symbol's fresh quote; without one an order can only expire.
    pub quote: Option<Quote>,
    pub at: DateTime<Utc>,
    /// The order's session has closed: a `day` order expires instead of trading.
    pub expire: bool,
    pub fees: FeeSchedule,
    pub activity_id: ActivityId,
    pub fee_activity_id: ActivityId,
}

/// One execution-engine step on an open order, on its freshly locked rows: expire it, move
/// its trigger state, or fill its remaining quantity. A buy the account can no longer pay
/// for (the price ran past its hold and the free cash) closes `rejected` (or `canceled` when
/// partly filled) and gives back its hold. An empty booking means nothing changed.
pub fn execute(order: Order, account: Account, position: Position, tick: &Tick) -> Result<Booking, SettlementError> {
    let mut desk = Desk::new(account, position);
    if !order.status.is_open() {
        return Ok(desk.finish());
    }
    let mut order = order;
    if tick.expire {
        desk.release(&mut order, OrderStatus::Expired, tick.at)?;
        desk.orders.push(order);
        return Ok(desk.finish());
    }
    let Some(quote) = &tick.quote else {
        return Ok(desk.finish());
    };
    match triggers::evaluate(&order, quote, tick.at) {
        Evaluation::Hold => {}
        Evaluation::Update(next) => desk.orders.push(*next),
        Evaluation::Fill(next, price) => {
            let mut next = *next;
            let remaining = Quantity::new(next.remaining_qty())?;
            let fill = Fill {
                activity_id: tick.activity_id,
                fee_activity_id: tick.fee_activity_id,
                qty: remaining,
                price,
                fee: tick.fees.commission(remaining.get())?,
                at: tick.at,
            };
            // Settlement works on copies: a refused fill leaves nothing half-applied.
            let saved = (desk.account.clone(), desk.position.clone(), desk.events.len());
            match desk.fill(&mut next, &fill) {
                Ok(()) => {}
                Err(SettlementError::InsufficientBuyingPower) if next.side == Side::Buy => {
                    (desk.account, desk.position) = (saved.0, saved.1);
                    desk.events.truncate(saved.2);
                    let mut closing = order.clone();
                    let to =
                        if closing.status == OrderStatus::New { OrderStatus::Rejected } else { OrderStatus::Canceled };
                    desk.release(&mut closing, to, tick.at)?;
                    desk.orders.push(closing);
                    return Ok(desk.finish());
                }
                Err(e) => return Err(e),
            }
            desk.orders.push(next);
        }
    }
    Ok(desk.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, UserId};
    use crate::orders::models::tests::{d, order, quote};
    use crate::orders::{EventKind, OrderType};
    use uuid::Uuid;

    fn account(cash: &str) -> Account {
        let mut a = Account::open(AccountId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()), Utc::now());
        a.cash = Money::new(d(cash)).expect("valid");
        a
    }

    fn tick(bid: &str, ask: &str, fees: FeeSchedule) -> Tick {
        Tick {
            quote: Some(quote(bid, ask)),
            at: Utc::now(),
            expire: false,
            fees,
            activity_id: ActivityId::from_uuid(Uuid::now_v7()),
            fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        }
    }

    fn resting_buy(acct: &Account, hold: &str) -> (Order, Booking) {
        let mut o = order(Side::Buy, "10"); // limit 100
        o.account_id = acct.id;
        let position = Position::empty(acct.id, o.symbol.clone());
        let placed = place(o.clone(), acct.clone(), position, Money::new(d(hold)).expect("valid"), &AfterPlace::Rest)
            .expect("affordable");
        (placed.orders[0].clone(), placed)
    }

    #[test]
    fn a_triggered_fill_books_the_fill_its_fee_and_two_events_in_cursor_order() {
        let (o, placed) = resting_buy(&account("2000"), "1000");
        assert_eq!(placed.events.iter().map(|e| (e.kind, e.seq)).collect::<Vec<_>>(), vec![(EventKind::New, 1)]);
        let fees = FeeSchedule { per_share: d("0.01"), minimum: Money::new(d("1")).expect("valid") };
        let b = execute(o.clone(), placed.account, placed.position, &tick("98", "99", fees)).expect("fills");
        let filled = b.order(o.id).expect("booked");
        assert_eq!((filled.status, filled.fill_seq), (OrderStatus::Filled, 1));
        assert_eq!(b.executions.len(), 1);
        assert_eq!(b.activities.iter().map(|a| a.amount.get()).collect::<Vec<_>>(), vec![d("-990"), d("-1")]);
        assert_eq!((b.account.cash.get(), b.account.held.get()), (d("1009"), d("0")));
        assert_eq!(b.events.iter().map(|e| (e.kind, e.seq)).collect::<Vec<_>>(), vec![(EventKind::Fill, 2)]);
    }

    #[test]
    fn a_buy_stop_that_gaps_past_what_the_account_can_pay_is_rejected_and_releases_its_hold() {
        let acct = account("1000");
        let (mut o, placed) = resting_buy(&acct, "1000");
        o.order_type = OrderType::Stop;
        o.limit_price = None;
        o.stop_price = Some(Price::new(d("90")).expect("valid"));
        let b = execute(o.clone(), placed.account, placed.position, &tick("150", "150", FeeSchedule::FREE))
            .expect("decided");
        assert_eq!(b.order(o.id).map(|o| o.status), Some(OrderStatus::Rejected));
        assert_eq!((b.account.cash.get(), b.account.held.get()), (d("1000"), d("0")));
        assert!(b.activities.is_empty() && b.executions.is_empty());
        assert_eq!(b.events.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EventKind::Rejected]);
    }

    #[test]
    fn an_expiring_day_order_closes_and_a_quiet_quote_books_nothing() {
        let (o, placed) = resting_buy(&account("1000"), "1000");
        let quiet = execute(
            o.clone(),
            placed.account.clone(),
            placed.position.clone(),
            &tick("101", "101.5", FeeSchedule::FREE),
        )
        .expect("decided");
        assert!(quiet.is_empty());
        let mut end = tick("101", "101.5", FeeSchedule::FREE);
        end.expire = true;
        let b = execute(o.clone(), placed.account, placed.position, &end).expect("expires");
        assert_eq!(b.order(o.id).map(|o| o.status), Some(OrderStatus::Expired));
        assert_eq!(b.account.held, Money::ZERO);
    }

    #[test]
    fn an_unaffordable_replacement_changes_nothing() {
        let (old, placed) = resting_buy(&account("1000"), "1000");
        let mut new = order(Side::Buy, "20");
        new.account_id = old.account_id;
        let err = replace(
            old,
            new,
            placed.account,
            placed.position,
            Money::new(d("2000")).expect("valid"),
            &AfterPlace::Rest,
        );
        assert_eq!(err, Err(SettlementError::InsufficientBuyingPower));
    }

    #[test]
    fn only_sells_and_fills_at_placement_change_the_position() {
        let acct = account("100000");
        let held = || {
            let mut p = Position::empty(acct.id, order(Side::Buy, "10").symbol);
            p.buy(d("50"), Money::new(d("4000")).expect("valid")).expect("bought");
            p
        };
        let fill = |o: &Order| {
            AfterPlace::Fill(Fill {
                qty: o.qty,
                price: Price::new(d("100")).expect("valid"),
                fee: Money::ZERO,
                at: Utc::now(),
                activity_id: ActivityId::from_uuid(Uuid::now_v7()),
                fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
            })
        };
        for side in [Side::Buy, Side::Sell] {
            let mut o = order(side, "10");
            o.account_id = acct.id;
            for after in [AfterPlace::Rest, AfterPlace::Cancel(Utc::now()), fill(&o)] {
                let placed = place(o.clone(), acct.clone(), held(), Money::new(d("1000")).expect("valid"), &after)
                    .expect("placed");
                // Sound: a booking that changes the position was announced as one.
                assert!(
                    !placed.position_changed || placing_changes_position(&o, &after),
                    "{side:?} then {after:?} changed the position unannounced"
                );
                let (buy, rests_or_cancels) = (side == Side::Buy, !matches!(after, AfterPlace::Fill(_)));
                assert_eq!(placing_changes_position(&o, &after), !(buy && rests_or_cancels), "{side:?} then {after:?}");
            }
        }
    }
}
