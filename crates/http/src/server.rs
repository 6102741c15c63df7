//! Assembling the application and the HTTP server.

use crate::security_headers::{self, Hardening};
use crate::state::ApiState;
use crate::{
    api_key_auth, authorize, error_envelope, extract, idempotency, metrics, rate_limit, request_id, routes as handlers,
};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Compress, Condition, DefaultHeaders, from_fn};
use actix_web::{App, Error, HttpServer, web};
use std::net::TcpListener;
use std::time::Duration;

/// Settings of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Worker threads (each runs its own copy of the app).
    pub workers: usize,
    /// The largest JSON body accepted; larger ones get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// How long a graceful stop waits for requests in flight.
    pub shutdown_timeout_secs: u64,
    /// A request whose answer is not ready after this long gets 503 `unavailable`; also the
    /// limit for receiving a request's head and for idle keep-alive connections. 0: no limit.
    pub request_timeout_secs: u64,
    /// Send `Strict-Transport-Security` (only when clients reach the service over TLS).
    pub hsts: bool,
    /// Origins (`https://app.example.com`) whose pages may call the API (CORS). Empty: none.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_body_bytes: 64 * 1024,
            shutdown_timeout_secs: 30,
            request_timeout_secs: 30,
            hsts: false,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// The server on `listener`, not yet awaited. It installs no signal handlers: the app crate
/// handles SIGTERM/SIGINT and calls `server.handle().stop(true)`.
pub fn build_server(listener: TcpListener, state: ApiState, config: &HttpConfig) -> std::io::Result<Server> {
    build_server_with(listener, state, config, || {})
}

/// [`build_server`], calling `on_worker_start` on each worker thread as it starts (before it
/// serves anything): the app pins each worker to its own database pool there.
pub fn build_server_with(
    listener: TcpListener,
    state: ApiState,
    config: &HttpConfig,
    on_worker_start: impl Fn() + Clone + Send + 'static,
) -> std::io::Result<Server> {
    security_headers::validate_origins(&config.cors_allowed_origins)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let app_config = config.clone();
    let mut server = HttpServer::new(move || {
        on_worker_start();
        app(state.clone(), &app_config)
    })
    .workers(config.workers.max(1));
    if config.request_timeout_secs > 0 {
        // The same limit for a client to send its request head and for an idle connection.
        let limit = Duration::from_secs(config.request_timeout_secs);
        server = server.client_request_timeout(limit).keep_alive(limit);
    }
    let server = server.shutdown_timeout(config.shutdown_timeout_secs).disable_signals().listen(listener)?.run();
    Ok(server)
}

/// One application with its middleware, extractor settings and routes; the server builds one
/// per worker, and tests hand it to `actix_web::test::init_service`.
pub fn app(
    state: ApiState,
    config: &HttpConfig,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = Error,
        InitError = (),
    > + use<>,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(extract::json_config(config.max_body_bytes))
        .app_data(api_key_auth::BodyLimit(config.max_body_bytes))
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .app_data(web::Data::new(Hardening {
            hsts: config.hsts,
            request_timeout: Duration::from_secs(config.request_timeout_secs),
        }))
        .configure(routes)
        // Last wrapped runs first: ids are assigned before anything can fail, and bare error
        // responses get their envelope before compression.
        // Inside authentication: `Idempotency-Key` is per user.
        .wrap(from_fn(idempotency::middleware))
        .wrap(from_fn(authorize::middleware))
        .wrap(from_fn(api_key_auth::middleware))
        .wrap(from_fn(rate_limit::middleware))
        .wrap(from_fn(security_headers::timeout))
        .wrap(Condition::new(
            !config.cors_allowed_origins.is_empty(),
            security_headers::cors(&config.cors_allowed_origins),
        ))
        .wrap(from_fn(error_envelope::middleware))
        .wrap(from_fn(request_id::middleware))
        // Security headers on every answer (see `security_headers`).
        .wrap(from_fn(security_headers::middleware))
        .wrap(Compress::default())
}

/// The admin listener (`http.admin_port`): `/metrics` and the health probes only, for
/// scrapers and orchestrators that must not go through the public port.
pub fn build_admin_server(listener: TcpListener, state: ApiState) -> std::io::Result<Server> {
    let server = HttpServer::new(move || admin_app(state.clone()))
        .workers(1)
        .shutdown_timeout(1)
        .disable_signals()
        .listen(listener)?
        .run();
    Ok(server)
}

/// The admin application (see [`build_admin_server`]).
pub fn admin_app(
    state: ApiState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = Error,
        InitError = (),
    > + use<>,
> {
    App::new()
        .app_data(web::Data::new(state))
        .service(web::resource("/metrics").route(web::get().to(metrics::admin_endpoint)))
        .configure(handlers::health::configure)
        .default_service(web::to(handlers::not_found))
        .wrap(from_fn(error_envelope::middleware))
        .wrap(from_fn(request_id::middleware))
}

/// Every route: `/api/v1/...` (answers `Cache-Control: no-store` unless a handler says
/// otherwise), `/health/...`, and a 404 envelope for anything else.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .configure(handlers::auth::configure)
            .configure(handlers::account::configure)
            .configure(handlers::orders::configure)
            .configure(handlers::admin::configure)
            .configure(handlers::api_keys::configure)
            .configure(handlers::positions::configure)
            .configure(handlers::market_data::configure)
            .configure(handlers::funding::configure)
            .configure(handlers::webhooks::configure)
            .configure(handlers::events::configure)
            .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))),
    )
    .configure(handlers::health::configure)
    // 404 here when a separate admin port serves the metrics (`Ops::metrics_on_public_port`).
    .service(web::resource("/metrics").route(web::get().to(metrics::public_endpoint)))
    // `/api-docs` (Swagger UI) and `/api-docs/openapi.json`: every route above is documented there.
    .configure(crate::openapi::configure)
    .default_service(web::to(handlers::not_found));
}
