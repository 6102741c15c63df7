use super::models::{ClientOrderId, Order, OrderFilter};
use super::ports::{AfterPlace, CancelStoreError, OrderStore, StoreOrderError};
use super::pricing::{self, Immediate};
use super::request::{OrderInput, OrderSpec};
use super::settlement::{Fill, SettlementError};
use crate::error::{FieldError, InfraError};
use crate::ids::{ActivityId, OrderId};
use crate::market::{Asset, AssetStore, MarketClock, MarketHours, QuoteError, QuoteProvider, Symbol};
use crate::paging::{Page, PageRequest};
use crate::positions::{PositionStore, PositionValuer, PositionView};
use crate::rbac::{Forbidden, Permission, Principal};
use crate::system::{Clock, IdGenerator};
use crate::values::{Money, ValueError};
use rust_decimal::Decimal;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("invalid order")]
    Invalid(Vec<FieldError>),
    #[error("unknown symbol")]
    UnknownSymbol,
    #[error("trading in the symbol is halted")]
    SymbolHalted,
    #[error("not enough buying power")]
    InsufficientBuyingPower,
    #[error("not enough shares")]
    InsufficientPosition,
    #[error("client_order_id already used")]
    DuplicateClientOrderId,
    #[error("the account is not active")]
    AccountNotActive,
    #[error("the market is closed")]
    MarketClosed,
    #[error("market data unavailable")]
    QuoteUnavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

impl From<ValueError> for PlaceOrderError {
    fn from(e: ValueError) -> Self {
        PlaceOrderError::Invalid(vec![FieldError::new("qty", e.to_string())])
    }
}

impl From<StoreOrderError> for PlaceOrderError {
    fn from(e: StoreOrderError) -> Self {
        match e {
            StoreOrderError::DuplicateClientOrderId => PlaceOrderError::DuplicateClientOrderId,
            StoreOrderError::Rejected(SettlementError::InsufficientBuyingPower) => {
                PlaceOrderError::InsufficientBuyingPower
            }
            StoreOrderError::Rejected(SettlementError::InsufficientPosition) => PlaceOrderError::InsufficientPosition,
            StoreOrderError::Rejected(SettlementError::AccountNotActive) | StoreOrderError::AccountNotFound => {
                PlaceOrderError::AccountNotActive
            }
            StoreOrderError::Rejected(SettlementError::OutOfRange(v)) => v.into(),
            StoreOrderError::Rejected(e @ SettlementError::Transition(_)) => {
                PlaceOrderError::Infra(InfraError::Unknown(anyhow::anyhow!("new order refused a transition: {e}")))
            }
            StoreOrderError::Infra(e) => PlaceOrderError::Infra(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CancelOrderError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("order not found")]
    NotFound,
    #[error("order is not open")]
    NotCancelable,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadOrderError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Placing, canceling and reading orders; reading positions.
#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderStore>,
    positions: Arc<dyn PositionStore>,
    assets: Arc<dyn AssetStore>,
    quotes: Arc<dyn QuoteProvider>,
    valuer: PositionValuer,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Extra fraction of the reference price a resting stop buy holds against slippage.
    collar: Decimal,
    /// When `market` orders may be placed (always, by default).
    hours: Arc<MarketHours>,
}

impl OrderService {
    pub fn new(
        orders: Arc<dyn OrderStore>,
        positions: Arc<dyn PositionStore>,
        assets: Arc<dyn AssetStore>,
        quotes: Arc<dyn QuoteProvider>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        collar: Decimal,
    ) -> Self {
        let valuer = PositionValuer::new(quotes.clone());
        Self { orders, positions, assets, quotes, valuer, clock, ids, collar, hours: Arc::new(MarketHours::default()) }
    }

    /// The market's hours (default: always open): outside them `market` orders are refused.
    #[must_use]
    pub fn with_market_hours(mut self, hours: MarketHours) -> Self {
        self.hours = Arc::new(hours);
        self
    }

    /// The market's state now.
    pub fn market_clock(&self) -> MarketClock {
        self.hours.clock(self.clock.now())
    }

    /// Validates, prices and stores an order with its hold; fills it at once when it is
    /// marketable (see [`pricing::immediate`]).
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id, order.symbol = %input.symbol))]
    pub async fn place(&self, who: &Principal, input: OrderInput) -> Result<Order, PlaceOrderError> {
        who.require(Permission::Trade)?;
        let spec = OrderSpec::parse(input).map_err(PlaceOrderError::Invalid)?;
        // Limit and stop orders rest while the market is closed; market orders cannot.
        if spec.order_type == super::models::OrderType::Market && !self.hours.is_open(self.clock.now()) {
            return Err(PlaceOrderError::MarketClosed);
        }
        let asset =
            self.assets.get(&spec.symbol).await?.filter(|a| a.tradable).ok_or(PlaceOrderError::UnknownSymbol)?;
        if asset.halted {
            return Err(PlaceOrderError::SymbolHalted);
        }
        whole_shares_unless_fractionable(&asset, &spec.size)?;
        let quote = self.quotes.quote(&spec.symbol).await.map_err(|e| match e {
            QuoteError::UnknownSymbol => PlaceOrderError::UnknownSymbol,
            QuoteError::Unavailable(e) => PlaceOrderError::QuoteUnavailable(e),
        })?;
        // A last-known quote served while the provider fails is fine to look at, not to
        // trade on: it may be hours old.
        if quote.stale {
            return Err(PlaceOrderError::QuoteUnavailable(anyhow::anyhow!(
                "only a stale quote of {} (as of {}) is available",
                quote.symbol,
                quote.as_of
            )));
        }
        let qty = pricing::quantity(&spec, &quote).map_err(|e| {
            let field = if matches!(spec.size, super::request::Size::Qty(_)) { "qty" } else { "notional" };
            PlaceOrderError::Invalid(vec![FieldError::new(field, format!("gives a quantity that {e}"))])
        })?;
        let immediate = pricing::immediate(&spec, &quote);
        let hold = match spec.side {
            super::models::Side::Buy => pricing::buy_hold(&spec, qty, &quote, immediate, self.collar)?,
            super::models::Side::Sell => Money::ZERO,
        };
        let now = self.clock.now();
        let mut order = Order::submitted(
            OrderId::from_uuid(self.ids.new_id()),
            who.account_id,
            spec.symbol,
            spec.side,
            spec.order_type,
            spec.time_in_force,
            qty,
            now,
        );
        order.client_order_id = spec.client_order_id;
        order.limit_price = spec.limit_price;
        order.stop_price = spec.stop_price;
        order.trail_percent = spec.trail_percent;
        if let super::request::Size::Notional(n) = spec.size {
            order.notional = Some(n);
        }
        let after = match immediate {
            Immediate::Fill(price) => {
                AfterPlace::Fill(Fill { activity_id: ActivityId::from_uuid(self.ids.new_id()), qty, price, at: now })
            }
            Immediate::Cancel => AfterPlace::Cancel(now),
            Immediate::Rest => AfterPlace::Rest,
        };
        let stored = self.orders.place(&order, hold, &after).await?;
        tracing::info!(order.id = %stored.id, order.status = stored.status.as_str(), "order placed");
        Ok(stored)
    }

    #[tracing::instrument(skip_all, fields(order.id = %id))]
    pub async fn cancel(&self, who: &Principal, id: OrderId) -> Result<Order, CancelOrderError> {
        who.require(Permission::Trade)?;
        self.orders.cancel(who.account_id, id, self.clock.now()).await.map_err(|e| match e {
            CancelStoreError::NotFound => CancelOrderError::NotFound,
            CancelStoreError::Rejected(_) => CancelOrderError::NotCancelable,
            CancelStoreError::Infra(e) => CancelOrderError::Infra(e),
        })
    }

    /// One order, if the caller may read it; another customer's order is `NotFound`.
    pub async fn get(&self, who: &Principal, id: OrderId) -> Result<Order, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        match self.orders.get(id).await? {
            Some(o) if who.may_read(o.account_id) => Ok(o),
            _ => Err(ReadOrderError::NotFound),
        }
    }

    pub async fn get_by_client_id(&self, who: &Principal, client_order_id: &str) -> Result<Order, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        let id = ClientOrderId::parse(client_order_id).ok_or(ReadOrderError::NotFound)?;
        self.orders.get_by_client_id(who.account_id, &id).await?.ok_or(ReadOrderError::NotFound)
    }

    /// The caller's orders, newest first.
    pub async fn list(
        &self,
        who: &Principal,
        filter: &OrderFilter,
        page: &PageRequest<OrderId>,
    ) -> Result<Page<Order, OrderId>, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        Ok(self.orders.list(Some(who.account_id), filter, page).await?)
    }

    /// Halts (`true`) or resumes trading in a symbol (admin). `NotFound` for an unlisted one.
    pub async fn set_halted(&self, who: &Principal, symbol: &str, halted: bool) -> Result<(), ReadOrderError> {
        who.require(Permission::Administer)?;
        let symbol = Symbol::parse(symbol).map_err(|_| ReadOrderError::NotFound)?;
        if !self.assets.set_halted(&symbol, halted).await? {
            return Err(ReadOrderError::NotFound);
        }
        tracing::info!(admin.id = %who.user_id, market.symbol = %symbol, halted, "trading halt changed");
        Ok(())
    }

    /// Every customer's orders, newest first (support and admin).
    pub async fn list_all(
        &self,
        who: &Principal,
        filter: &OrderFilter,
        page: &PageRequest<OrderId>,
    ) -> Result<Page<Order, OrderId>, ReadOrderError> {
        who.require(Permission::ReadAll)?;
        Ok(self.orders.list(None, filter, page).await?)
    }

    /// The caller's positions valued at current quotes.
    pub async fn positions(
        &self,
        who: &Principal,
        page: &PageRequest<Symbol>,
    ) -> Result<Page<PositionView, Symbol>, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        let page = self.positions.list(who.account_id, page).await?;
        Ok(Page { items: self.valuer.value_all(page.items).await, next_cursor: page.next_cursor })
    }

    pub async fn position(&self, who: &Principal, symbol: &Symbol) -> Result<PositionView, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        let position = self.positions.get(who.account_id, symbol).await?.ok_or(ReadOrderError::NotFound)?;
        Ok(self.valuer.value(position).await)
    }
}

/// A non-fractionable asset takes whole-share quantities only, and no notional orders (their
/// quantity is the notional divided by a price: fractional in general).
fn whole_shares_unless_fractionable(asset: &Asset, size: &super::request::Size) -> Result<(), PlaceOrderError> {
    if asset.fractionable {
        return Ok(());
    }
    match size {
        super::request::Size::Qty(q) if q.get().fract().is_zero() => Ok(()),
        super::request::Size::Qty(_) => Err(PlaceOrderError::Invalid(vec![FieldError::new(
            "qty",
            format!("must be a whole number of shares: {} is not fractionable", asset.symbol),
        )])),
        super::request::Size::Notional(_) => Err(PlaceOrderError::Invalid(vec![FieldError::new(
            "notional",
            format!("is not available: {} is not fractionable; order a whole qty", asset.symbol),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AccountId;
    use crate::market::{ASSET_LIST, MockAssetStore, MockQuoteProvider, Quote};
    use crate::orders::models::tests::d;
    use crate::orders::models::{OrderType, Side, TimeInForce};
    use crate::orders::ports::MockOrderStore;
    use crate::positions::MockPositionStore;
    use crate::system::{SystemClock, UuidV7Generator};
    use crate::users::Role;
    use crate::values::Price;
    use chrono::Utc;
    use uuid::Uuid;

    fn who(role: Role) -> Principal {
        Principal::for_tests(role)
    }

    fn quotes() -> MockQuoteProvider {
        let mut q = MockQuoteProvider::new();
        q.expect_quote().returning(|s| {
            // MSFT: only a stale quote (the provider is failing).
            if !["AAPL", "MSFT", "TQQQ"].contains(&s.as_str()) {
                return Err(QuoteError::UnknownSymbol);
            }
            Ok(Quote {
                symbol: s.clone(),
                price: Price::new(d("100")).expect("valid"),
                bid: Price::new(d("99.9")).expect("valid"),
                ask: Price::new(d("100.1")).expect("valid"),
                as_of: Utc::now(),
                source: "test",
                stale: s.as_str() == "MSFT",
                max_age: None,
            })
        });
        q
    }

    /// The seed asset list: TWTR is delisted, TQQQ whole shares only.
    fn assets() -> MockAssetStore {
        let mut assets = MockAssetStore::new();
        assets.expect_get().returning(|s| {
            Ok(ASSET_LIST.iter().find(|l| l.symbol == s.as_str()).map(|l| l.to_asset().expect("valid")))
        });
        assets
    }

    fn service(orders: MockOrderStore) -> OrderService {
        OrderService::new(
            Arc::new(orders),
            Arc::new(MockPositionStore::new()),
            Arc::new(assets()),
            Arc::new(quotes()),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            d("0.05"),
        )
    }

    fn input(symbol: &str, order_type: OrderType, qty: &str) -> OrderInput {
        OrderInput {
            symbol: symbol.into(),
            side: Side::Buy,
            order_type,
            time_in_force: TimeInForce::Day,
            qty: Some(d(qty)),
            notional: None,
            limit_price: None,
            stop_price: None,
            trail_percent: None,
            client_order_id: None,
        }
    }

    #[tokio::test]
    async fn a_market_buy_holds_its_cost_and_fills_at_the_ask() {
        let mut orders = MockOrderStore::new();
        orders
            .expect_place()
            .withf(|o, hold, after| {
                o.status == crate::orders::OrderStatus::New
                    && *hold == Money::new(d("1001")).expect("valid")
                    && matches!(after, AfterPlace::Fill(f) if f.price.get() == d("100.1") && f.qty.get() == d("10"))
            })
            .times(1)
            .returning(|o, _, _| Ok(o.clone()));
        service(orders).place(&who(Role::Customer), input("AAPL", OrderType::Market, "10")).await.expect("placed");
    }

    #[tokio::test]
    async fn an_unknown_symbol_is_refused_before_anything_is_stored() {
        let err =
            service(MockOrderStore::new()).place(&who(Role::Customer), input("ZZZZ", OrderType::Market, "1")).await;
        assert!(matches!(err, Err(PlaceOrderError::UnknownSymbol)));
    }

    #[tokio::test]
    async fn a_delisted_symbol_is_unknown_to_orders() {
        let err =
            service(MockOrderStore::new()).place(&who(Role::Customer), input("TWTR", OrderType::Market, "1")).await;
        assert!(matches!(err, Err(PlaceOrderError::UnknownSymbol)), "{err:?}");
    }

    #[tokio::test]
    async fn a_non_fractionable_asset_takes_whole_shares_only() {
        let svc = service(MockOrderStore::new());
        let err = svc.place(&who(Role::Customer), input("TQQQ", OrderType::Market, "1.5")).await;
        assert!(matches!(&err, Err(PlaceOrderError::Invalid(f)) if f.len() == 1 && f[0].field == "qty"), "{err:?}");
        let mut notional = input("TQQQ", OrderType::Market, "1");
        (notional.qty, notional.notional) = (None, Some(d("100")));
        let err = svc.place(&who(Role::Customer), notional).await;
        assert!(matches!(&err, Err(PlaceOrderError::Invalid(f)) if f[0].field == "notional"), "{err:?}");

        let mut orders = MockOrderStore::new();
        orders.expect_place().times(1).returning(|o, _, _| Ok(o.clone()));
        service(orders).place(&who(Role::Customer), input("TQQQ", OrderType::Market, "2")).await.expect("whole shares");
        let mut orders = MockOrderStore::new();
        orders.expect_place().times(1).returning(|o, _, _| Ok(o.clone()));
        service(orders).place(&who(Role::Customer), input("AAPL", OrderType::Market, "0.5")).await.expect("fractional");
    }

    #[tokio::test]
    async fn a_stale_quote_is_not_traded_on() {
        let err =
            service(MockOrderStore::new()).place(&who(Role::Customer), input("MSFT", OrderType::Market, "1")).await;
        assert!(matches!(err, Err(PlaceOrderError::QuoteUnavailable(_))), "{err:?}");
    }

    #[tokio::test]
    async fn an_unreadable_asset_list_is_an_infrastructure_error() {
        let mut assets = MockAssetStore::new();
        assets.expect_get().returning(|_| Err(InfraError::Unavailable(anyhow::anyhow!("down"))));
        let svc = OrderService::new(
            Arc::new(MockOrderStore::new()),
            Arc::new(MockPositionStore::new()),
            Arc::new(assets),
            Arc::new(quotes()),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            d("0.05"),
        );
        let err = svc.place(&who(Role::Customer), input("AAPL", OrderType::Market, "1")).await;
        assert!(matches!(err, Err(PlaceOrderError::Infra(InfraError::Unavailable(_)))), "{err:?}");
    }

    #[tokio::test]
    async fn market_orders_are_refused_while_the_market_is_closed() {
        let today = crate::market::eastern_time(Utc::now()).date();
        let holidays = (-2..=2).map(|n| today + chrono::Duration::days(n)).collect();
        let svc = service(MockOrderStore::new()).with_market_hours(crate::market::MarketHours::regular(holidays));
        assert!(!svc.market_clock().is_open);
        let err = svc.place(&who(Role::Customer), input("AAPL", OrderType::Market, "1")).await;
        assert!(matches!(err, Err(PlaceOrderError::MarketClosed)), "{err:?}");
    }

    #[tokio::test]
    async fn support_may_not_trade() {
        let err =
            service(MockOrderStore::new()).place(&who(Role::Support), input("AAPL", OrderType::Market, "1")).await;
        assert!(matches!(err, Err(PlaceOrderError::Forbidden(_))));
    }

    #[tokio::test]
    async fn insufficient_buying_power_from_the_store_reaches_the_caller() {
        let mut orders = MockOrderStore::new();
        orders
            .expect_place()
            .returning(|_, _, _| Err(StoreOrderError::Rejected(SettlementError::InsufficientBuyingPower)));
        let err = service(orders).place(&who(Role::Customer), input("AAPL", OrderType::Market, "10")).await;
        assert!(matches!(err, Err(PlaceOrderError::InsufficientBuyingPower)));
    }

    #[tokio::test]
    async fn another_customers_order_reads_as_not_found() {
        let mut orders = MockOrderStore::new();
        let mut theirs = crate::orders::models::tests::order(Side::Buy, "1");
        theirs.account_id = AccountId::from_uuid(Uuid::now_v7());
        orders.expect_get().returning(move |_| Ok(Some(theirs.clone())));
        let svc = service(orders);
        let err = svc.get(&who(Role::Customer), OrderId::from_uuid(Uuid::now_v7())).await;
        assert!(matches!(err, Err(ReadOrderError::NotFound)));
        assert!(svc.get(&who(Role::Support), OrderId::from_uuid(Uuid::now_v7())).await.is_ok());
    }
}
