//! Assembling the application and the HTTP server.

use crate::state::ApiState;
use crate::{error_envelope, extract, request_id, routes as handlers};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::{App, Error, HttpServer, web};
use std::net::TcpListener;

/// Settings of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Worker threads (each runs its own copy of the app).
    pub workers: usize,
    /// The largest JSON body accepted; larger ones get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// How long a graceful stop waits for requests in flight.
    pub shutdown_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_body_bytes: 64 * 1024,
            shutdown_timeout_secs: 30,
        }
    }
}

/// The server on `listener`, not yet awaited. It installs no signal handlers: the app crate
/// handles SIGTERM/SIGINT and calls `server.handle().stop(true)`.
pub fn build_server(listener: TcpListener, state: ApiState, config: &HttpConfig) -> std::io::Result<Server> {
    let app_config = config.clone();
    let server = HttpServer::new(move || app(state.clone(), &app_config))
        .workers(config.workers.max(1))
        .shutdown_timeout(config.shutdown_timeout_secs)
        .disable_signals()
        .listen(listener)?
        .run();
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
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .configure(routes)
        // Last wrapped runs first: ids are assigned before anything can fail, and bare error
        // responses get their envelope before compression.
        .wrap(from_fn(error_envelope::middleware))
        .wrap(from_fn(request_id::middleware))
        .wrap(Compress::default())
}

/// Every route: `/api/v1/...` (answers `Cache-Control: no-store` unless a handler says
/// otherwise), `/health/...`, and a 404 envelope for anything else.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .configure(handlers::auth::configure)
            .configure(handlers::account::configure)
            .configure(handlers::orders::configure)
            .configure(handlers::positions::configure)
            .configure(handlers::market_data::configure)
            .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))),
    )
    .configure(handlers::health::configure)
    .default_service(web::to(handlers::not_found));
}
