//! The execution engine's loop body: for each symbol with open orders, take a fresh quote and
//! work every order it triggers or whose session ended. The `app` crate runs
//! [`ExecutionEngine::run_once`] on an interval in every instance; the store's `execute`
//! makes sure two instances never book the same change.

use super::booking::Tick;
use super::events::EventKind;
use super::fees::FeeSchedule;
use super::models::Order;
use super::ports::ExecutionStore;
use super::triggers::{self, Candidates, Evaluation};
use crate::error::InfraError;
use crate::ids::ActivityId;
use crate::market::{MarketHours, Quote, QuoteProvider};
use crate::system::{Clock, IdGenerator};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineReport {
    pub symbols: usize,
    pub examined: usize,
    pub fills: usize,
    pub expired: usize,
    pub rejected: usize,
    /// Trigger state moved (trailing marks, armed stop-limits).
    pub updated: usize,
    /// Held by another worker at that moment (it does the work).
    pub skipped: usize,
}

#[derive(Clone)]
pub struct ExecutionEngine {
    store: Arc<dyn ExecutionStore>,
    quotes: Arc<dyn QuoteProvider>,
    hours: Arc<MarketHours>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    fees: FeeSchedule,
    batch: usize,
}

impl ExecutionEngine {
    pub fn new(
        store: Arc<dyn ExecutionStore>,
        quotes: Arc<dyn QuoteProvider>,
        hours: MarketHours,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        fees: FeeSchedule,
    ) -> Self {
        Self { store, quotes, hours: Arc::new(hours), clock, ids, fees, batch: 500 }
    }

    /// A `day` order expires at the close of the session it was placed for (the session in
    /// progress, or the next one when placed while the market is closed). Orders never
    /// expire in the always-open simulated market.
    pub fn session_over(&self, order: &Order, now: DateTime<Utc>) -> bool {
        triggers::past_session(&self.hours, order, now)
    }

    /// One pass over the open book.
    #[tracing::instrument(name = "execution_engine.pass", skip_all)]
    pub async fn run_once(&self) -> Result<EngineReport, InfraError> {
        let mut report = EngineReport::default();
        for symbol in self.store.open_symbols().await? {
            report.symbols += 1;
            let now = self.clock.now();
            // Orders trade only on a fresh quote while the session is open.
            let quote = match self.quotes.quote(&symbol).await {
                Ok(q) if !q.stale && self.hours.is_open(now) => Some(q),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(market.symbol = %symbol, error = %e, "no quote for the execution engine");
                    None
                }
            };
            let candidates = Candidates::new(quote.as_ref(), self.hours.last_close(now));
            let mut after = None;
            loop {
                let orders = self.store.open_orders(&symbol, &candidates, after, self.batch).await?;
                let Some(last) = orders.last() else { break };
                after = Some(last.id);
                let full_page = orders.len() == self.batch;
                for order in orders {
                    report.examined += 1;
                    self.work(&order, quote.as_ref(), now, &mut report).await?;
                }
                if !full_page {
                    break;
                }
            }
        }
        if report.fills + report.expired + report.rejected > 0 {
            tracing::info!(
                engine.fills = report.fills,
                engine.expired = report.expired,
                engine.rejected = report.rejected,
                engine.examined = report.examined,
                "execution engine pass"
            );
        }
        Ok(report)
    }

    async fn work(
        &self,
        order: &Order,
        quote: Option<&Quote>,
        now: DateTime<Utc>,
        report: &mut EngineReport,
    ) -> Result<(), InfraError> {
        let expire = self.session_over(order, now);
        // Decide on the unlocked snapshot first: most orders do nothing on most quotes, and
        // those are never locked.
        if !expire && quote.is_none_or(|q| triggers::evaluate(order, q, now) == Evaluation::Hold) {
            return Ok(());
        }
        let tick = Tick {
            quote: quote.cloned(),
            at: now,
            expire,
            fees: self.fees,
            activity_id: ActivityId::from_uuid(self.ids.new_id()),
            fee_activity_id: ActivityId::from_uuid(self.ids.new_id()),
        };
        match self.store.execute(order.id, &tick).await? {
            None => report.skipped += 1,
            Some(booking) => {
                for event in &booking.events {
                    match event.kind {
                        EventKind::Fill | EventKind::PartialFill => report.fills += 1,
                        EventKind::Expired => report.expired += 1,
                        EventKind::Rejected | EventKind::Canceled => report.rejected += 1,
                        _ => {}
                    }
                }
                if booking.events.is_empty() && !booking.orders.is_empty() {
                    report.updated += 1;
                }
            }
        }
        Ok(())
    }
}
