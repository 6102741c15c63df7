//! The OpenAPI 3.1 document (`GET /api-docs/openapi.json`, checked in as `docs/openapi.json`)
//! and the Swagger UI that renders it (`GET /api-docs`, bundled in the binary: no internet).
//!
//! # Documenting a route
//! 1. Put `#[utoipa::path(...)]` on the handler: method, full `path`, `operation_id` (unique),
//!    `tag`, `request_body`/`params`, the success responses and the error statuses specific to
//!    it (`body = ErrorEnvelope`, the description naming the codes). Authenticated handlers add
//!    `security(("bearer" = []), ("api_key" = []))`.
//! 2. Add the handler to `paths(...)` of [`ApiDoc`] below.
//! 3. Regenerate the checked-in copy: `UPDATE_OPENAPI=1 cargo test -p brokerage-http openapi`.
//!
//! The errors every operation can meet are added by [`Conventions`], not repeated on each
//! handler: 400 when it takes query parameters or a body, 401/403 when it needs a caller, 404
//! when its path names a resource, 413/415 with a JSON body, 429 under `/api/v1`, and 500/503
//! always; and `Idempotency-Key` on the POSTs of `idempotency::IDEMPOTENT_POSTS`.
//! Tests (`openapi_tests.rs`) fail when a route the app answers is missing here, when the
//! checked-in copy is stale, or when `errors.rs` grows a code that [`ERROR_CODES`] lacks.

use crate::errors::FieldDetail;
use crate::idempotency::IDEMPOTENT_POSTS;
use crate::routes as handlers;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use brokerage_domain::accounts::ActivityKind;
use brokerage_domain::orders::{OrderStatus, OrderType, Side, TimeInForce};
use brokerage_domain::rbac::ApiScopes;
use brokerage_domain::users::Role;
use serde::Serialize;
use std::borrow::Cow;
use std::sync::LazyLock;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, OpenApi as Document, Ref, RefOr};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the UI and the document are served; the security headers middleware gives this
/// prefix the content security policy the UI needs.
pub const DOCS_PATH: &str = "/api-docs";
pub const DOCUMENT_PATH: &str = "/api-docs/openapi.json";

/// The document, assembled from the annotated handlers. Each new handler is one line in
/// `paths(...)` (see the module docs).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Brokerage API",
        description = "REST API of the Brokerage backend: accounts, cash, orders, positions and quotes.\n\n\
            Conventions: JSON in and out; money and quantities are decimal strings in responses and \
            decimal strings or JSON numbers in requests; ids are UUIDs; timestamps are RFC 3339 UTC. \
            Every response carries `X-Request-Id` (echoed when the client sent one). Lists answer \
            `{\"data\": [...], \"next_cursor\": ...}` pages (`?limit=1..500`, default 50, and \
            `?after=<next_cursor>`). Every error has the same body, `Error`, with a stable snake_case \
            `error` code; each response lists the codes it can carry.\n\n\
            Authenticate with `Authorization: Bearer <access_token>` from `POST /api/v1/auth/login`, \
            or, for programs, with an API key: `X-Api-Key`, `X-Timestamp` (unix seconds) and \
            `X-Signature` (hex HMAC-SHA256 of `timestamp\\nMETHOD\\npath_and_query\\nbody` with the \
            key's secret).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        // auth
        handlers::auth::register,
        handlers::auth::login,
        handlers::auth::refresh,
        handlers::auth::logout,
        handlers::auth::change_password,
        handlers::auth::setup_totp,
        handlers::auth::enable_totp,
        handlers::auth::disable_totp,
        handlers::auth::me,
        // API keys
        handlers::api_keys::create,
        handlers::api_keys::list,
        handlers::api_keys::revoke,
        // account and funds
        handlers::account::account,
        handlers::account::deposit,
        handlers::account::withdraw,
        handlers::account::activities,
        // orders
        handlers::orders::place,
        handlers::orders::list,
        handlers::orders::get,
        handlers::orders::by_client_id,
        handlers::orders::cancel,
        handlers::orders::replace,
        handlers::orders::cancel_all,
        handlers::events::events,
        // positions
        handlers::positions::list,
        handlers::positions::get,
        handlers::positions::close,
        handlers::positions::portfolio,
        // market data
        handlers::market_data::quote,
        handlers::market_data::clock,
        // administration
        handlers::admin::list_users,
        handlers::admin::update_user,
        handlers::admin::list_orders,
        handlers::admin::halt_symbol,
        handlers::admin::resume_symbol,
        // outgoing webhooks
        handlers::webhooks::create,
        handlers::webhooks::list,
        handlers::webhooks::delete,
        handlers::webhooks::deliveries,
        // incoming webhooks
        handlers::funding::funding,
        // operations
        handlers::health::live,
        handlers::health::ready,
        metrics_endpoint,
    ),
    // Schemas reached through bodies are collected by themselves; list here those reached only
    // through query parameters (`IntoParams` does not collect them) and the envelope.
    components(schemas(ErrorEnvelope, FieldDetail, schemas::OrderStatusFilter, schemas::ActivityType)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Registration, login, tokens, two-factor authentication"),
        (name = "api-keys", description = "Keys for programs (signed requests)"),
        (name = "account", description = "The cash account, deposits, withdrawals and the activity ledger"),
        (name = "orders", description = "Placing, listing and canceling orders"),
        (name = "positions", description = "Holdings valued at the current quote"),
        (name = "market-data", description = "Quotes"),
        (name = "webhooks", description = "Outgoing webhooks: signed deliveries of trade updates, retried with backoff"),
        (name = "admin", description = "Administration (support reads, admin changes)"),
        (name = "operations", description = "Health probes and metrics (no `/api/v1` prefix, no authentication)"),
    ),
)]
pub struct ApiDoc;

/// The document served at [`DOCUMENT_PATH`], built once.
pub fn document() -> &'static Document {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(ApiDoc::openapi);
    &DOCUMENT
}

/// The document as the checked-in `docs/openapi.json` holds it: pretty JSON and a final newline.
pub fn pretty_json() -> Result<String, serde_json::Error> {
    document().to_pretty_json().map(|json| json + "\n")
}

/// Mounts the Swagger UI at `/api-docs/` (and `/api-docs` → `/api-docs/`) and the document.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let ui_config = Config::new([DOCUMENT_PATH])
        // The UI would otherwise send the document to an online validator.
        .validator_url("none")
        .display_operation_id(true)
        .persist_authorization(false);
    cfg.service(web::resource(DOCS_PATH).route(web::get().to(redirect_to_ui))).service(
        SwaggerUi::new(format!("{DOCS_PATH}/{{_:.*}}")).url(DOCUMENT_PATH, document().clone()).config(ui_config),
    );
}

/// The UI's pages link their scripts relatively: serve them under the trailing slash.
async fn redirect_to_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, format!("{DOCS_PATH}/"))).finish()
}

/// `GET /metrics` is served by `crate::metrics`; documented here (text, not JSON).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 404, description = "`not_found`: a separate admin port serves the metrics (`BROKERAGE__HTTP__ADMIN_PORT`)", body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn metrics_endpoint() {}

/// The `Idempotency-Key` header (API.md) of the POSTs that create or move something. Added by
/// [`Conventions`] to the routes of [`crate::idempotency::IDEMPOTENT_POSTS`], with their 409 and
/// 422 codes.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1 to 255 characters, unique per request the client means once. The same key with the
    /// same body replays the first answer; with another body: 422 `idempotency_key_reused`;
    /// while the first is still running: 409 `idempotency_key_in_use`.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    pub idempotency_key: Option<String>,
}

// ---- the error envelope ---------------------------------------------------------------------

/// Every stable error code, by status: what the error envelope's `error` can say. API.md lists
/// the contract; `errors.rs` is where the codes are produced (a test keeps the two in step).
pub const ERROR_CODES: &[(u16, &[&str])] = &[
    (400, &["validation_error"]),
    (401, &["unauthenticated", "invalid_credentials", "totp_required", "token_expired"]),
    (403, &["forbidden"]),
    (404, &["not_found", "unknown_symbol"]),
    (405, &["method_not_allowed"]),
    (409, &["conflict", "duplicate_client_order_id", "idempotency_key_in_use"]),
    (413, &["payload_too_large"]),
    (415, &["unsupported_media_type"]),
    (
        422,
        &[
            "insufficient_buying_power",
            "insufficient_position",
            "insufficient_funds",
            "unknown_symbol",
            "symbol_halted",
            "order_not_cancelable",
            "idempotency_key_reused",
            "market_closed",
            "invalid_totp_code",
            "account_not_active",
            "unknown_account",
        ],
    ),
    (429, &["rate_limited"]),
    (500, &["internal"]),
    (503, &["unavailable"]),
    // Any other 4xx that some layer answers without a body of its own.
    (0, &["bad_request"]),
];

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error, example = json!({
    "error": "validation_error",
    "message": "the request is invalid",
    "details": [{"field": "qty", "message": "must be greater than zero"}],
    "request_id": "0192f0c4-7d1a-7c3e-9d55-3f1f2b6c8a10"
}))]
pub struct ErrorEnvelope {
    /// The stable snake_case code; clients branch on it, never on `message`.
    #[schema(value_type = ErrorCode)]
    pub error: String,
    /// A human-readable explanation in our own words (never library or database text).
    pub message: String,
    /// For `validation_error`: one entry per invalid field. Empty otherwise.
    pub details: Vec<FieldDetail>,
    /// The `X-Request-Id` of the request: quote it when reporting a problem.
    pub request_id: Option<String>,
}

/// Schema of the `error` field: every code of [`ERROR_CODES`].
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let mut codes: Vec<&str> = ERROR_CODES.iter().flat_map(|(_, codes)| codes.iter().copied()).collect();
        codes.sort_unstable();
        codes.dedup();
        text_enum(codes, "A stable error code (see each response for the codes it can carry)")
    }
}

impl ToSchema for ErrorCode {}

fn codes_of(status: u16) -> &'static [&'static str] {
    ERROR_CODES.iter().find(|(s, _)| *s == status).map_or(&[], |(_, codes)| codes)
}

// ---- enumerations sent as text ----------------------------------------------------------------

/// A string schema with a fixed set of values.
fn text_enum<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().map(str::to_owned)))
        .description(Some(description))
        .into()
}

/// Doc-only types for the enumerations the DTOs carry as text (`#[schema(value_type = ...)]`),
/// their values taken from the domain where it lists them.
pub mod schemas {
    use super::*;

    macro_rules! text_enum_schema {
        ($(#[$doc:meta])* $name:ident, $description:expr, $values:expr) => {
            $(#[$doc])*
            pub struct $name;

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    text_enum($values, $description)
                }
            }

            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        };
    }

    text_enum_schema!(OrderSide, "buy or sell", Side::ALL.iter().map(|s| s.as_str()));
    text_enum_schema!(OrderKind, "The order type", OrderType::ALL.iter().map(|t| t.as_str()));
    text_enum_schema!(
        TimeInForceKind,
        "How long an order rests: `day` (default), `gtc`, `ioc`, `fok`",
        TimeInForce::ALL.iter().map(|t| t.as_str())
    );
    text_enum_schema!(
        OrderState,
        "`new` → `partially_filled` → `filled`; or `canceled`, `expired`, `rejected`, `replaced`",
        OrderStatus::ALL.iter().map(|s| s.as_str())
    );
    text_enum_schema!(OrderStatusFilter, "Which orders to list (default `open`)", ["open", "closed", "all"]);
    text_enum_schema!(UserRole, "The user's role", Role::ALL.iter().map(|r| r.as_str()));
    text_enum_schema!(UserState, "A locked user cannot log in", ["active", "locked"]);
    text_enum_schema!(AccountState, "The account's status", ["active", "restricted", "closed"]);
    text_enum_schema!(ActivityType, "What moved the cash", ActivityKind::ALL.iter().map(|k| k.as_str()));
    text_enum_schema!(ApiKeyScope, "What an API key may do", ApiScopes::NAMES);
    text_enum_schema!(
        TradeEventKind,
        "A trade-update kind",
        brokerage_domain::orders::EventKind::ALL.iter().map(|k| k.as_str())
    );
    text_enum_schema!(
        DeliveryState,
        "`pending` (retried at `next_attempt_at`), `delivered` or `failed` (no attempt left)",
        brokerage_domain::webhooks::DeliveryStatus::ALL.iter().map(|s| s.as_str())
    );
}

// ---- conventions every operation shares ------------------------------------------------------

/// Security schemes, the shared error responses, and the errors every operation can meet.
pub struct Conventions;

/// A shared error response: its component name, status and what it means.
struct CommonError {
    name: &'static str,
    status: u16,
    meaning: &'static str,
}

const COMMON_ERRORS: &[CommonError] = &[
    CommonError {
        name: "ValidationError",
        status: 400,
        meaning: "The request is invalid; `details` names each invalid field",
    },
    CommonError {
        name: "Unauthenticated",
        status: 401,
        meaning: "No valid credentials (missing, garbled, expired or revoked token; bad API-key signature)",
    },
    CommonError {
        name: "Forbidden",
        status: 403,
        meaning: "The caller's role or the API key's scopes do not allow this",
    },
    CommonError {
        name: "NotFound",
        status: 404,
        meaning: "No such resource (also another user's: its existence is never revealed)",
    },
    CommonError { name: "PayloadTooLarge", status: 413, meaning: "The body exceeds `BROKERAGE__HTTP__MAX_BODY_BYTES`" },
    CommonError { name: "UnsupportedMediaType", status: 415, meaning: "The body is not `application/json`" },
    CommonError { name: "RateLimited", status: 429, meaning: "Too many requests; retry after `Retry-After` seconds" },
    CommonError { name: "Internal", status: 500, meaning: "An unexpected error; the message never carries internals" },
    CommonError {
        name: "Unavailable",
        status: 503,
        meaning: "A dependency is down, or the request ran past `BROKERAGE__HTTP__REQUEST_TIMEOUT_SECS`; retry later",
    },
];

fn error_response_component(error: &CommonError) -> RefOr<utoipa::openapi::Response> {
    let codes = codes_of(error.status).iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let mut response = ResponseBuilder::new()
        .description(format!("{}. Codes: {codes}.", error.meaning))
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build());
    if error.status == 429 {
        let seconds = || ObjectBuilder::new().schema_type(Type::Integer).build();
        for name in ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
            response = response.header(name, Header::new(seconds()));
        }
    }
    response.build().into()
}

impl Modify for Conventions {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from `POST /api/v1/auth/login` or `/auth/refresh`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "An API key's `key_id`. Every request also sends `X-Timestamp` (unix seconds, within \
                 300 s) and `X-Signature`: hex HMAC-SHA256 with the key's secret of \
                 `timestamp + \"\\n\" + METHOD + \"\\n\" + path_and_query + \"\\n\" + body`. A signature \
                 is accepted once.",
            ))),
        );
        components.add_security_scheme(
            "funding_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Signature",
                "The funding provider's signature (incoming webhooks only): `t=<unix seconds>,v1=<hex \
                 HMAC-SHA256(WEBHOOK_SECRET, t + \".\" + body)>`, within 300 s of the server's clock.",
            ))),
        );
        for error in COMMON_ERRORS {
            components.responses.insert(error.name.to_owned(), error_response_component(error));
        }

        for (path, item) in &mut openapi.paths.paths {
            let path_has_params = path.contains('{');
            let public_api = path.starts_with("/api/v1/");
            if let Some(post) = item.post.as_mut().filter(|_| IDEMPOTENT_POSTS.contains(&path.as_str())) {
                add_idempotency_key(post);
            }
            for operation in
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
            {
                add_common_errors(operation, path_has_params, public_api);
                admit_empty_query_values(operation);
            }
        }
    }
}

/// An empty query value (`?status=`) counts as absent (`dto::page::present`): each query
/// parameter's schema also admits the empty string. (OpenAPI's `allowEmptyValue` would say the
/// same, but utoipa cannot write it.)
fn admit_empty_query_values(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && parameter.parameter_in == ParameterIn::Query
            && let Some(schema) = parameter.schema.take()
        {
            let empty = ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(0))
                .description(Some("An empty value counts as absent"));
            parameter.schema = Some(AnyOfBuilder::new().item(schema).item(empty).into());
        }
    }
}

/// Documents `Idempotency-Key` on an operation that honours it.
fn add_idempotency_key(operation: &mut Operation) {
    let header = IdempotencyKey::into_params(|| None).into_iter().map(RefOr::T);
    operation.parameters.get_or_insert_with(Vec::new).extend(header);
    mention_code(operation, 409, "idempotency_key_in_use", "a request with this `Idempotency-Key` is still running");
    mention_code(operation, 422, "idempotency_key_reused", "this `Idempotency-Key` came with a different request");
}

/// Adds `code` to the operation's own `status` response, or gives it one.
fn mention_code(operation: &mut Operation, status: u16, code: &str, meaning: &str) {
    let line = format!("`{code}`: {meaning}");
    match operation.responses.responses.get_mut(&status.to_string()) {
        Some(RefOr::T(response)) => response.description = format!("{}; {line}", response.description),
        // A shared response already lists every code of its status.
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = ResponseBuilder::new()
                .description(line)
                .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
                .build();
            operation.responses.responses.insert(status.to_string(), response.into());
        }
    }
}

/// Adds the shared error responses that apply to `operation`, keeping any it states itself.
fn add_common_errors(operation: &mut Operation, path_has_params: bool, public_api: bool) {
    let has_body = operation.request_body.is_some();
    // Path segments are read as text and never refused as such (an unknown id is a 404).
    let has_query = operation.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.parameter_in == ParameterIn::Query,
        RefOr::Ref(_) => true,
    });
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    for error in COMMON_ERRORS {
        let applies = match error.status {
            400 => has_body || has_query,
            401 | 403 => secured,
            404 => path_has_params,
            413 | 415 => has_body,
            429 => public_api,
            _ => true,
        };
        let status = error.status.to_string();
        if applies && !operation.responses.responses.contains_key(&status) {
            operation.responses.responses.insert(status, Ref::from_response_name(error.name).into());
        }
    }
}
