//! The price rules of order placement: what a buy holds and whether an order fills at once.

use super::models::{OrderType, Side, TimeInForce};
use super::request::{OrderSpec, Size};
use crate::market::Quote;
use crate::values::{Money, Price, Quantity, ValueError};
use rust_decimal::Decimal;

/// What placement does right after the order is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Immediate {
    /// Fill the whole quantity at this price (the quote's ask for buys, bid for sells).
    Fill(Price),
    /// Close unfilled (an ioc/fok order that is not marketable now).
    Cancel,
    /// Rest on the book until the execution engine triggers it.
    Rest,
}

/// The price an order trades at if it trades now: ask for buys, bid for sells.
pub fn touch(side: Side, quote: &Quote) -> Price {
    match side {
        Side::Buy => quote.ask,
        Side::Sell => quote.bid,
    }
}

/// Market orders always fill at once. Limit orders fill at once when marketable (a buy
/// limit at or above the ask, a sell limit at or below the bid), at the quote, which is
/// never worse than the limit. Stop orders rest until triggered. An ioc/fok order that
/// cannot fill now is canceled (the simulated market has no depth, so ioc and fok agree).
pub fn immediate(spec: &OrderSpec, quote: &Quote) -> Immediate {
    let at = touch(spec.side, quote);
    let fills_now = match (spec.order_type, spec.limit_price) {
        (OrderType::Market, _) => true,
        (OrderType::Limit, Some(limit)) => match spec.side {
            Side::Buy => at <= limit,
            Side::Sell => at >= limit,
        },
        _ => false,
    };
    if fills_now {
        Immediate::Fill(at)
    } else if matches!(spec.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
        Immediate::Cancel
    } else {
        Immediate::Rest
    }
}

/// The quantity of the order: as given, or the notional turned into shares at the price the
/// order is expected to trade at (the limit when there is one, else the touch).
pub fn quantity(spec: &OrderSpec, quote: &Quote) -> Result<Quantity, ValueError> {
    match spec.size {
        Size::Qty(q) => Ok(q),
        Size::Notional(n) => Quantity::for_notional(n, spec.limit_price.unwrap_or_else(|| touch(spec.side, quote))),
    }
}

/// Cash a buy reserves. An order filling now holds exactly its cost. A resting order holds
/// its worst case: the limit price, or for stops the higher of stop and ask (raised by the
/// trail for trailing stops) plus the `collar` fraction against slippage.
pub fn buy_hold(
    spec: &OrderSpec,
    qty: Quantity,
    quote: &Quote,
    immediate: Immediate,
    collar: Decimal,
) -> Result<Money, ValueError> {
    let reference = match (immediate, spec.limit_price) {
        (Immediate::Fill(price), _) => price.get(),
        (Immediate::Cancel, _) => return Ok(Money::ZERO),
        (Immediate::Rest, Some(limit)) => limit.get(),
        (Immediate::Rest, None) => {
            let base = spec.stop_price.map_or(quote.ask.get(), |s| s.get().max(quote.ask.get()));
            let trail = spec.trail_percent.map_or(Decimal::ONE, |t| Decimal::ONE + t / Decimal::ONE_HUNDRED);
            base * trail * (Decimal::ONE + collar)
        }
    };
    Money::cost_of(qty.get(), reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Symbol;
    use crate::orders::models::tests::{d, quote};

    fn spec(side: Side, order_type: OrderType, tif: TimeInForce, limit: Option<&str>) -> OrderSpec {
        OrderSpec {
            symbol: Symbol::parse("AAPL").expect("valid"),
            side,
            order_type,
            time_in_force: tif,
            size: Size::Qty(Quantity::new(d("10")).expect("valid")),
            limit_price: limit.map(|l| Price::new(d(l)).expect("valid")),
            stop_price: None,
            trail_percent: None,
            client_order_id: None,
        }
    }

    #[test]
    fn market_orders_fill_at_the_ask_for_buys_and_bid_for_sells() {
        let q = quote("99", "101");
        assert_eq!(immediate(&spec(Side::Buy, OrderType::Market, TimeInForce::Day, None), &q), Immediate::Fill(q.ask));
        assert_eq!(immediate(&spec(Side::Sell, OrderType::Market, TimeInForce::Day, None), &q), Immediate::Fill(q.bid));
    }

    #[test]
    fn a_marketable_limit_fills_at_the_better_quote_and_others_rest_or_cancel() {
        let q = quote("99", "101");
        assert_eq!(
            immediate(&spec(Side::Buy, OrderType::Limit, TimeInForce::Day, Some("105")), &q),
            Immediate::Fill(q.ask)
        );
        assert_eq!(immediate(&spec(Side::Buy, OrderType::Limit, TimeInForce::Gtc, Some("100")), &q), Immediate::Rest);
        assert_eq!(immediate(&spec(Side::Buy, OrderType::Limit, TimeInForce::Ioc, Some("100")), &q), Immediate::Cancel);
        assert_eq!(
            immediate(&spec(Side::Sell, OrderType::Limit, TimeInForce::Fok, Some("100")), &q),
            Immediate::Cancel
        );
        assert_eq!(
            immediate(&spec(Side::Sell, OrderType::Limit, TimeInForce::Day, Some("98")), &q),
            Immediate::Fill(q.bid)
        );
    }

    #[test]
    fn holds_cover_the_worst_case_price() {
        let q = quote("99", "101");
        let qty = Quantity::new(d("10")).expect("valid");
        let limit = spec(Side::Buy, OrderType::Limit, TimeInForce::Day, Some("100"));
        assert_eq!(buy_hold(&limit, qty, &q, Immediate::Rest, d("0.05")).map(|m| m.get()), Ok(d("1000")));
        let market = spec(Side::Buy, OrderType::Market, TimeInForce::Day, None);
        assert_eq!(buy_hold(&market, qty, &q, Immediate::Fill(q.ask), d("0.05")).map(|m| m.get()), Ok(d("1010")));
        let mut stop = spec(Side::Buy, OrderType::Stop, TimeInForce::Day, None);
        stop.stop_price = Some(Price::new(d("110")).expect("valid"));
        assert_eq!(buy_hold(&stop, qty, &q, Immediate::Rest, d("0.05")).map(|m| m.get()), Ok(d("1155")));
    }
}
