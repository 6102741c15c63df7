//! `GET /events`: trade updates as Server-Sent Events (see [`crate::events`]).

use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").route(web::get().to(events)));
}

const LAST_EVENT_ID: &str = "last-event-id";

/// The `Last-Event-ID` a reconnecting client sends; empty counts as absent.
fn last_event_id(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(raw) = req.headers().get(LAST_EVENT_ID) else { return Ok(None) };
    let raw = raw.to_str().map(str::trim).unwrap_or("-");
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u64>()
        .map(Some)
        .map_err(|_| ApiError::invalid_field("Last-Event-ID", "must be the id of an event (a non-negative integer)"))
}

/// One Server-Sent Event as it arrives: its `event:`, `id:` and `data:` lines (the schema each
/// event of the stream follows, as SSE-aware clients and contract tests parse it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: frames are written as text
struct TradeEventFrame {
    /// `new`, `fill`, `partial_fill`, `canceled`, `expired`, `replaced` or `rejected`.
    #[schema(example = "fill")]
    event: String,
    /// The account's monotonic event cursor (send it back as `Last-Event-ID` to resume).
    #[schema(example = "42")]
    id: String,
    /// JSON: `{"event", "seq", "order", "fill"?: {"qty", "price"}, "at"}`.
    data: String,
}

#[utoipa::path(
    get, path = "/api/v1/events", operation_id = "stream_trade_events", tag = "orders",
    params(("Last-Event-ID" = Option<u64>, Header, nullable = false, minimum = 0, description = "Resume after this event: every later event is sent \
        first, none twice. Without it the stream starts with live events (history is in `GET /orders`)")),
    responses(
        (status = 200, description = "`text/event-stream` of the caller's trade updates, until the client leaves or the \
            server stops. Each event: `event: new|fill|partial_fill|canceled|expired|replaced|rejected`, `id: <seq>` \
            (the account's monotonic cursor) and `data: {\"event\", \"seq\", \"order\", \"fill\"?: {\"qty\", \"price\"}, \"at\"}` \
            (`order` as `GET /orders/{id}` answers). A `: keep-alive` comment line comes after 15 s without events",
            content_type = "text/event-stream", body = TradeEventFrame),
        (status = 400, description = "`validation_error`: `Last-Event-ID` is not an event id", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn events(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let after = match last_event_id(&req)? {
        Some(seq) => seq,
        None => state.orders.last_event_seq(&who).await?,
    };
    tracing::info!(account.id = %who.account_id, events.after = after, "trade event stream opened");
    let stream = crate::events::stream(state.orders.clone(), who, after, state.streams.clone());
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")))
        // `Compress` leaves an answer alone that already names its encoding: a compressor
        // would hold frames back until its buffer fills.
        .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("identity")))
        .streaming(stream))
}
