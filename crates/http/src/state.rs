//! What every handler can reach: the domain services, behind `web::Data<ApiState>`.

use brokerage_domain::accounts::AccountService;
use brokerage_domain::api_keys::ApiKeyService;
use brokerage_domain::market::QuoteProvider;
use brokerage_domain::orders::OrderService;
use brokerage_domain::system::HealthCheck;
use brokerage_domain::users::AuthService;
use std::sync::Arc;

/// The application's services, cloned cheaply into every worker (each holds `Arc`s).
#[derive(Clone)]
pub struct ApiState {
    pub auth: AuthService,
    pub api_keys: ApiKeyService,
    pub accounts: AccountService,
    pub orders: OrderService,
    /// Outgoing webhooks: endpoints and their deliveries log.
    pub webhooks: brokerage_domain::webhooks::WebhookService,
    pub quotes: Arc<dyn QuoteProvider>,
    /// Dependencies probed by `GET /health/ready`.
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// The funding provider's incoming webhook; `None` (no secret configured): it answers 503.
    pub funding: Option<crate::funding::FundingWebhook>,
    /// Server-sent event streams (`GET /events`): polling, keep-alive, and the shutdown signal.
    pub streams: crate::events::EventStreams,
    /// Rate limiting, gauges sampled by `/metrics`, where `/metrics` is served.
    pub ops: crate::ops::Ops,
}
