//! Prometheus metrics: the process-wide recorder, what the HTTP layer counts, and
//! `GET /metrics`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_server_requests_total` | counter | `method`, `route` (the matched pattern), `status` |
//! | `http_server_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `brokerage_orders_placed_total` | counter | `type` |
//! | `brokerage_orders_filled_total` | counter | `type` (filled when placed) |
//! | `brokerage_orders_rejected_total` | counter | `type`, `reason` (the error code) |
//! | `brokerage_rate_limit_rejected_total` | counter | `class` |
//! | `brokerage_rate_limit_errors_total` | counter | `class`, `outcome` (`allowed`/`refused`) |
//! | `brokerage_engine_passes_total` | counter | `outcome` (`ok`/`error`) |
//! | `brokerage_engine_fills_total` | counter | — (fills and partial fills booked by the execution engine) |
//! | `brokerage_engine_expired_total` | counter | — (orders the engine expired at the session's end) |
//! | `brokerage_engine_rejected_total` | counter | — (orders the engine rejected or canceled) |
//! | gauges registered by the app ([`GaugeProbe`]) | gauge | sampled at each scrape |
//!
//! The domain knows nothing of this: handlers count after a service answers.

use crate::errors::ApiError;
use crate::state::ApiState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use brokerage_domain::orders::{Order, OrderStatus};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const REQUESTS_TOTAL: &str = "http_server_requests_total";
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
pub const ORDERS_PLACED: &str = "brokerage_orders_placed_total";
pub const ORDERS_FILLED: &str = "brokerage_orders_filled_total";
pub const ORDERS_REJECTED: &str = "brokerage_orders_rejected_total";
pub const ENGINE_PASSES: &str = "brokerage_engine_passes_total";
pub const ENGINE_FILLS: &str = "brokerage_engine_fills_total";
pub const ENGINE_EXPIRED: &str = "brokerage_engine_expired_total";
pub const ENGINE_REJECTED: &str = "brokerage_engine_rejected_total";
pub const RATE_LIMITED: &str = "brokerage_rate_limit_rejected_total";
pub const RATE_LIMIT_ERRORS: &str = "brokerage_rate_limit_errors_total";

/// Latency buckets, in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. `None` when another
/// `metrics` recorder was installed first (then `/metrics` answers 503).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
                        loop {
                            std::thread::sleep(UPKEEP_EVERY);
                            upkeep.run_upkeep();
                        }
                    });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no metrics upkeep thread; histograms are folded at scrape time only");
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the Prometheus recorder could not be installed; /metrics is off");
                    None
                }
            }
        })
        .as_ref()
}

/// A gauge sampled when `/metrics` is scraped: pool usage, breaker state. `read` must be
/// cheap and must not block.
#[derive(Clone)]
pub struct GaugeProbe {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub read: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl GaugeProbe {
    pub fn new(
        name: &'static str,
        labels: &[(&'static str, &str)],
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Self {
        Self { name, labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(), read: Arc::new(read) }
    }

    fn sample(&self) {
        let labels: Vec<metrics::Label> = self.labels.iter().map(|(k, v)| metrics::Label::new(*k, v.clone())).collect();
        metrics::gauge!(self.name, labels).set((self.read)());
    }
}

impl std::fmt::Debug for GaugeProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaugeProbe").field("name", &self.name).field("labels", &self.labels).finish_non_exhaustive()
    }
}

/// The request series a worker thread has used, by `method route status`: registering one
/// builds its labels and looks them up in the registry, so each thread does it once per series
/// instead of twice per request. Bounded: past [`MAX_CACHED_SERIES`] (only clients inventing
/// methods get there) a series is registered per request as before.
struct RequestSeries {
    by_key: HashMap<String, (metrics::Counter, metrics::Histogram)>,
    key: String,
}

const MAX_CACHED_SERIES: usize = 512;

thread_local! {
    static REQUEST_SERIES: RefCell<RequestSeries> =
        RefCell::new(RequestSeries { by_key: HashMap::new(), key: String::new() });
}

fn request_series(method: &str, route: &str, status: u16) -> (metrics::Counter, metrics::Histogram) {
    let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
    (metrics::counter!(REQUESTS_TOTAL, &labels), metrics::histogram!(REQUEST_DURATION, &labels))
}

/// One served request (called by the request middleware).
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    // Make sure the recorder exists before the first sample, not only at the first scrape.
    let _ = handle();
    REQUEST_SERIES.with_borrow_mut(|series| {
        let RequestSeries { by_key, key } = series;
        key.clear();
        let _ = write!(key, "{method} {route} {status}");
        let uncached;
        let (requests, duration) = match by_key.get(key.as_str()) {
            Some(handles) => handles,
            None if by_key.len() < MAX_CACHED_SERIES => {
                by_key.entry(key.clone()).or_insert_with(|| request_series(method, route, status))
            }
            None => {
                uncached = request_series(method, route, status);
                &uncached
            }
        };
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// What `OrderService::place` answered, by order type: placed (and filled at once), or
/// rejected with the error code as the reason.
pub fn order_outcome(order_type: &'static str, placed: &Result<Order, ApiError>) {
    match placed {
        Ok(order) => order_placed(order_type, order.status == OrderStatus::Filled),
        Err(e) => order_rejected(order_type, e.code()),
    }
}

/// An order the service accepted, by type; `filled` when it filled on placement.
pub fn order_placed(order_type: &'static str, filled: bool) {
    let _ = handle();
    metrics::counter!(ORDERS_PLACED, "type" => order_type).increment(1);
    if filled {
        metrics::counter!(ORDERS_FILLED, "type" => order_type).increment(1);
    }
}

/// An order refused (validation, business rule, or dependency), by type and error code.
pub fn order_rejected(order_type: &'static str, reason: &'static str) {
    let _ = handle();
    metrics::counter!(ORDERS_REJECTED, "type" => order_type, "reason" => reason).increment(1);
}

/// One pass of the execution engine (the app runs it on an interval): what it booked, or
/// `None` when the pass failed.
pub fn engine_pass(report: Option<&brokerage_domain::orders::EngineReport>) {
    let _ = handle();
    let outcome = if report.is_some() { "ok" } else { "error" };
    metrics::counter!(ENGINE_PASSES, "outcome" => outcome).increment(1);
    if let Some(r) = report {
        metrics::counter!(ENGINE_FILLS).increment(r.fills as u64);
        metrics::counter!(ENGINE_EXPIRED).increment(r.expired as u64);
        metrics::counter!(ENGINE_REJECTED).increment(r.rejected as u64);
    }
}

/// A request answered 429 by the rate limiter.
pub fn rate_limited(class: &'static str) {
    let _ = handle();
    metrics::counter!(RATE_LIMITED, "class" => class).increment(1);
}

/// The rate limiter failed; `allowed` says whether the request was let through (fail open).
pub fn rate_limit_error(class: &'static str, allowed: bool) {
    let _ = handle();
    let outcome = if allowed { "allowed" } else { "refused" };
    metrics::counter!(RATE_LIMIT_ERRORS, "class" => class, "outcome" => outcome).increment(1);
}

/// `GET /metrics` on the public port: 404 when metrics live on the admin port.
pub(crate) async fn public_endpoint(state: web::Data<ApiState>) -> HttpResponse {
    if !state.ops.metrics_on_public_port {
        return ApiError::not_found().error_response();
    }
    render(&state)
}

/// `GET /metrics` on the admin port.
pub(crate) async fn admin_endpoint(state: web::Data<ApiState>) -> HttpResponse {
    render(&state)
}

fn render(state: &ApiState) -> HttpResponse {
    let Some(handle) = handle() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    for probe in &state.ops.gauges {
        probe.sample();
    }
    handle.run_upkeep();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(handle.render())
}
