use super::events::TradeEvent;
use super::fees::FeeSchedule;
use super::models::{ClientOrderId, Order, OrderFilter};
use super::ports::{AfterPlace, CancelStoreError, EventStore, OrderStore, ReplaceStoreError, StoreOrderError};
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
            StoreOrderError::AlreadyPlaced(o) => PlaceOrderError::Infra(InfraError::Unknown(anyhow::anyhow!(
                "order {} already placed for this request key",
                o.id
            ))),
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

/// What happened to one order of a cancel-all.
pub type CancelOutcome = (OrderId, Result<Order, CancelOrderError>);

/// The changes a replace request asks for; absent fields keep the old order's terms
/// (the quantity defaults to what is still unfilled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceInput {
    pub qty: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    pub time_in_force: Option<super::models::TimeInForce>,
    pub client_order_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplaceOrderError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("order not found")]
    NotFound,
    #[error("order is not open")]
    NotCancelable,
    #[error(transparent)]
    Place(#[from] PlaceOrderError),
}

impl From<InfraError> for ReplaceOrderError {
    fn from(e: InfraError) -> Self {
        ReplaceOrderError::Place(PlaceOrderError::Infra(e))
    }
}

/// How much of a position to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseSize {
    All,
    Qty(Decimal),
    /// Percent of the position, in (0, 100].
    Percentage(Decimal),
}

#[derive(Debug, thiserror::Error)]
pub enum ClosePositionError {
    #[error("position not found")]
    NotFound,
    #[error(transparent)]
    Place(#[from] PlaceOrderError),
}

impl From<Forbidden> for ClosePositionError {
    fn from(e: Forbidden) -> Self {
        ClosePositionError::Place(PlaceOrderError::Forbidden(e))
    }
}

impl From<InfraError> for ClosePositionError {
    fn from(e: InfraError) -> Self {
        ClosePositionError::Place(PlaceOrderError::Infra(e))
    }
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
    /// The commission on each fill (free by default).
    fees: FeeSchedule,
    events: Option<Arc<dyn EventStore>>,
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
        Self {
            orders,
            positions,
            assets,
            quotes,
            valuer,
            clock,
            ids,
            collar,
            hours: Arc::new(MarketHours::default()),
            fees: FeeSchedule::FREE,
            events: None,
        }
    }

    /// The commission charged on each fill.
    #[must_use]
    pub fn with_fees(mut self, fees: FeeSchedule) -> Self {
        self.fees = fees;
        self
    }

    /// Where trade updates are read from.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventStore>) -> Self {
        self.events = Some(events);
        self
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
    pub async fn place(&self, who: &Principal, input: OrderInput) -> Result<Order, PlaceOrderError> {
        self.place_keyed(who, input, None).await
    }

    /// [`Self::place`] for a request carrying an `Idempotency-Key`: the store places at most one
    /// order per key and account, even when the request is retried after a crash that lost its
    /// recorded answer; the retry then gets the order placed the first time.
    // One span named `place` either way: operators search traces by it.
    #[tracing::instrument(name = "place", skip_all, fields(account.id = %who.account_id, order.symbol = %input.symbol))]
    pub async fn place_keyed(
        &self,
        who: &Principal,
        input: OrderInput,
        request_key: Option<String>,
    ) -> Result<Order, PlaceOrderError> {
        who.require(Permission::Trade)?;
        let (mut order, hold, after) = self.prepare(who, input).await?;
        order.request_key = request_key;
        let stored = match self.orders.place(&order, hold, &after).await {
            Err(StoreOrderError::AlreadyPlaced(existing)) => {
                tracing::info!(order.id = %existing.id, "order already placed for this request key");
                return Ok(*existing);
            }
            other => other?,
        };
        tracing::info!(order.id = %stored.id, order.status = stored.status.as_str(), "order placed");
        Ok(stored)
    }

    /// Replaces an open order of the caller: the changes apply over the old order's terms,
    /// the new order is validated and held like a new one, and the old one closes `replaced`
    /// in the same atomic step.
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id, order.id = %id))]
    pub async fn replace(
        &self,
        who: &Principal,
        id: OrderId,
        changes: ReplaceInput,
    ) -> Result<Order, ReplaceOrderError> {
        who.require(Permission::Trade)?;
        let old = match self.orders.get(id).await? {
            Some(o) if o.account_id == who.account_id => o,
            _ => return Err(ReplaceOrderError::NotFound),
        };
        if !old.status.is_open() {
            return Err(ReplaceOrderError::NotCancelable);
        }
        let input = OrderInput {
            symbol: old.symbol.as_str().to_owned(),
            side: old.side,
            order_type: old.order_type,
            time_in_force: changes.time_in_force.unwrap_or(old.time_in_force),
            qty: Some(changes.qty.unwrap_or_else(|| old.remaining_qty())),
            notional: None,
            limit_price: changes.limit_price.or(old.limit_price.map(|p| p.get())),
            stop_price: changes.stop_price.or(match old.order_type {
                super::models::OrderType::TrailingStop => None,
                _ => old.stop_price.map(|p| p.get()),
            }),
            trail_percent: changes.trail_percent.or(old.trail_percent),
            client_order_id: changes.client_order_id,
        };
        let (new, hold, after) = self.prepare(who, input).await?;
        let stored = self.orders.replace(who.account_id, id, &new, hold, &after).await.map_err(|e| match e {
            ReplaceStoreError::NotFound => ReplaceOrderError::NotFound,
            ReplaceStoreError::Rejected(SettlementError::Transition(_)) => ReplaceOrderError::NotCancelable,
            ReplaceStoreError::Rejected(e) => ReplaceOrderError::Place(StoreOrderError::Rejected(e).into()),
            ReplaceStoreError::DuplicateClientOrderId => {
                ReplaceOrderError::Place(PlaceOrderError::DuplicateClientOrderId)
            }
            ReplaceStoreError::Infra(e) => ReplaceOrderError::Place(PlaceOrderError::Infra(e)),
        })?;
        tracing::info!(order.id = %stored.id, order.replaces = %id, "order replaced");
        Ok(stored)
    }

    /// Sells all of a position at market, or `qty` shares, or `percentage` of it (rounded
    /// down to what the asset allows).
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id, position.symbol = %symbol))]
    pub async fn close_position(
        &self,
        who: &Principal,
        symbol: &str,
        size: CloseSize,
    ) -> Result<Order, ClosePositionError> {
        who.require(Permission::Trade)?;
        let symbol = Symbol::parse(symbol).map_err(|_| ClosePositionError::NotFound)?;
        let position = self.positions.get(who.account_id, &symbol).await?.ok_or(ClosePositionError::NotFound)?;
        let fractionable = self.assets.get(&symbol).await?.is_none_or(|a| a.fractionable);
        let qty = match size {
            CloseSize::All => position.qty,
            CloseSize::Qty(q) => q,
            CloseSize::Percentage(p) => {
                let raw = position.qty * p / Decimal::ONE_HUNDRED;
                if fractionable {
                    raw.round_dp_with_strategy(9, rust_decimal::RoundingStrategy::ToZero)
                } else {
                    raw.floor()
                }
            }
        };
        if qty > position.qty {
            return Err(ClosePositionError::Place(PlaceOrderError::Invalid(vec![FieldError::new(
                "qty",
                format!("exceeds the position's {} shares", position.qty.normalize()),
            )])));
        }
        if qty <= Decimal::ZERO {
            let field = if matches!(size, CloseSize::Percentage(_)) { "percentage" } else { "qty" };
            return Err(ClosePositionError::Place(PlaceOrderError::Invalid(vec![FieldError::new(
                field,
                "closes less than the smallest quantity that can be sold",
            )])));
        }
        let input = OrderInput {
            symbol: symbol.as_str().to_owned(),
            side: super::models::Side::Sell,
            order_type: super::models::OrderType::Market,
            time_in_force: super::models::TimeInForce::Day,
            qty: Some(qty),
            notional: None,
            limit_price: None,
            stop_price: None,
            trail_percent: None,
            client_order_id: None,
        };
        Ok(self.place(who, input).await?)
    }

    /// Cancels every open order of the caller, one by one (each atomically); the answer
    /// says what happened to each.
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn cancel_all(&self, who: &Principal) -> Result<Vec<CancelOutcome>, CancelOrderError> {
        who.require(Permission::Trade)?;
        let mut open = Vec::new();
        let mut page: PageRequest<OrderId> = PageRequest::new(Some(crate::paging::MAX_LIMIT), None)
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("page limit out of range")))?;
        loop {
            let batch = self.orders.list(Some(who.account_id), &OrderFilter::default(), &page).await?;
            open.extend(batch.items.into_iter().map(|o| o.id));
            match batch.next_cursor {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut results = Vec::with_capacity(open.len());
        for id in open {
            results.push((id, self.cancel(who, id).await));
        }
        Ok(results)
    }

    /// The caller's trade updates after cursor `after`, oldest first.
    pub async fn events_after(
        &self,
        who: &Principal,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TradeEvent>, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        let events = self.event_store()?;
        Ok(events.events_after(who.account_id, after, limit).await?)
    }

    /// The caller's latest trade-update cursor: a new stream starts after it.
    pub async fn last_event_seq(&self, who: &Principal) -> Result<u64, ReadOrderError> {
        who.require(Permission::ReadOwn)?;
        Ok(self.event_store()?.last_event_seq(who.account_id).await?)
    }

    fn event_store(&self) -> Result<&Arc<dyn EventStore>, InfraError> {
        self.events.as_ref().ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("no event store configured")))
    }

    /// Turns a request into a priced order with its hold and what placement does at once.
    async fn prepare(&self, who: &Principal, input: OrderInput) -> Result<(Order, Money, AfterPlace), PlaceOrderError> {
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
        // While the market is closed nothing fills at once: marketable limits rest until the
        // open, and ioc/fok orders, which cannot rest, are canceled.
        let immediate = if self.hours.is_open(self.clock.now()) {
            pricing::immediate(&spec, &quote)
        } else if matches!(spec.time_in_force, super::models::TimeInForce::Ioc | super::models::TimeInForce::Fok) {
            Immediate::Cancel
        } else {
            Immediate::Rest
        };
        let fee = self.fees.commission(qty.get())?;
        let hold = match spec.side {
            super::models::Side::Buy => match immediate {
                Immediate::Cancel => Money::ZERO,
                _ => pricing::buy_hold(&spec, qty, &quote, immediate, self.collar)?.checked_add(fee)?,
            },
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
        if let (Some(trail), super::models::OrderType::TrailingStop) = (spec.trail_percent, spec.order_type) {
            // The trail starts from the touch at placement.
            let mark = pricing::touch(spec.side, &quote);
            order.hwm = Some(mark);
            order.stop_price = super::triggers::trailing_stop(spec.side, mark, trail);
        }
        if let super::request::Size::Notional(n) = spec.size {
            order.notional = Some(n);
        }
        let after = match immediate {
            Immediate::Fill(price) => AfterPlace::Fill(Fill {
                activity_id: ActivityId::from_uuid(self.ids.new_id()),
                fee_activity_id: ActivityId::from_uuid(self.ids.new_id()),
                qty,
                price,
                fee,
                at: now,
            }),
            Immediate::Cancel => AfterPlace::Cancel(now),
            Immediate::Rest => AfterPlace::Rest,
        };
        Ok((order, hold, after))
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

    fn own_open_limit_buy(who: &Principal) -> Order {
        let mut o = crate::orders::models::tests::order(Side::Buy, "10");
        o.account_id = who.account_id;
        o
    }

    #[tokio::test]
    async fn a_replace_keeps_the_old_terms_it_does_not_change_and_holds_the_new_worst_case() {
        let caller = who(Role::Customer);
        let old = own_open_limit_buy(&caller);
        let old_id = old.id;
        let mut orders = MockOrderStore::new();
        orders.expect_get().returning(move |_| Ok(Some(old.clone())));
        orders
            .expect_replace()
            .withf(move |_, id, new, hold, after| {
                *id == old_id
                    && new.qty.get() == d("10")
                    && new.limit_price.map(|p| p.get()) == Some(d("100.05"))
                    && new.order_type == OrderType::Limit
                    && hold.get() == d("1000.5")
                    && *after == AfterPlace::Rest
            })
            .times(1)
            .returning(|_, _, new, _, _| Ok(new.clone()));
        // Still below the ask (100.1): the new order rests too.
        let changes = ReplaceInput { limit_price: Some(d("100.05")), ..ReplaceInput::default() };
        service(orders).replace(&caller, old_id, changes).await.expect("replaced");
    }

    #[tokio::test]
    async fn only_the_owners_open_orders_can_be_replaced() {
        let caller = who(Role::Customer);
        let mut filled = own_open_limit_buy(&caller);
        filled.status = crate::orders::OrderStatus::Filled;
        let mut theirs = own_open_limit_buy(&caller);
        theirs.account_id = AccountId::from_uuid(Uuid::now_v7());
        let (filled_id, theirs_id) = (filled.id, theirs.id);
        let mut orders = MockOrderStore::new();
        orders
            .expect_get()
            .returning(move |id| Ok(Some(if id == filled.id { filled.clone() } else { theirs.clone() })));
        let svc = service(orders);
        let err = svc.replace(&caller, filled_id, ReplaceInput::default()).await;
        assert!(matches!(err, Err(ReplaceOrderError::NotCancelable)));
        let err = svc.replace(&caller, theirs_id, ReplaceInput::default()).await;
        assert!(matches!(err, Err(ReplaceOrderError::NotFound)));
    }

    #[tokio::test]
    async fn commissions_are_held_with_a_buy_and_charged_with_its_fill() {
        let mut orders = MockOrderStore::new();
        orders
            .expect_place()
            .withf(|_, hold, after| {
                hold.get() == d("1002") && matches!(after, AfterPlace::Fill(f) if f.fee.get() == d("1"))
            })
            .times(1)
            .returning(|o, _, _| Ok(o.clone()));
        let fees = FeeSchedule { per_share: d("0.01"), minimum: Money::new(d("1")).expect("valid") };
        service(orders)
            .with_fees(fees)
            .place(&who(Role::Customer), input("AAPL", OrderType::Market, "10"))
            .await
            .expect("placed");
    }

    #[tokio::test]
    async fn a_trailing_stop_starts_its_trail_from_the_touch() {
        let mut orders = MockOrderStore::new();
        orders
            .expect_place()
            .withf(|o, _, _| {
                o.hwm.map(|p| p.get()) == Some(d("99.9")) && o.stop_price.map(|p| p.get()) == Some(d("94.905"))
            })
            .times(1)
            .returning(|o, _, _| Ok(o.clone()));
        let mut sell = input("AAPL", OrderType::TrailingStop, "1");
        sell.side = Side::Sell;
        sell.trail_percent = Some(d("5"));
        service(orders).place(&who(Role::Customer), sell).await.expect("placed");
    }

    #[tokio::test]
    async fn closing_a_percentage_sells_that_share_of_the_position_at_market() {
        let caller = who(Role::Customer);
        let account = caller.account_id;
        let mut positions = MockPositionStore::new();
        positions.expect_get().returning(move |_, s| {
            let mut p = crate::positions::Position::empty(account, s.clone());
            p.buy(d("10"), Money::new(d("1000")).expect("valid")).expect("valid");
            Ok(Some(p))
        });
        let mut orders = MockOrderStore::new();
        orders
            .expect_place()
            .withf(|o, _, _| o.side == Side::Sell && o.order_type == OrderType::Market && o.qty.get() == d("2.5"))
            .times(1)
            .returning(|o, _, _| Ok(o.clone()));
        let svc = OrderService::new(
            Arc::new(orders),
            Arc::new(positions),
            Arc::new(assets()),
            Arc::new(quotes()),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
            d("0.05"),
        );
        svc.close_position(&caller, "AAPL", CloseSize::Percentage(d("25"))).await.expect("closed");
        let err = svc.close_position(&caller, "AAPL", CloseSize::Qty(d("11"))).await;
        assert!(matches!(err, Err(ClosePositionError::Place(PlaceOrderError::Invalid(_)))));
    }
}
