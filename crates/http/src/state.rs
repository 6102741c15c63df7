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
    pub quotes: Arc<dyn QuoteProvider>,
    /// Dependencies probed by `GET /health/ready`.
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// Rate limiting, gauges sampled by `/metrics`, where `/metrics` is served.
    pub ops: crate::ops::Ops,
}
