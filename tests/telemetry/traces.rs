//! Traces end to end: the real application exports OTLP/HTTP (protobuf) to a receiver
//! running in this process, and placing an order yields one trace with the HTTP root span
//! and the service's `place` span under it. The tracer provider is process-wide, hence a
//! test binary of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::{App, HttpResponse, HttpServer, web};
use brokerage_app::settings::{LogFormat, LogSettings};
use brokerage_app::telemetry::{self, OtelSettings};
use brokerage_e2e::{Backend, TestApp};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

type Received = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP trace receiver on a free local port: every span posted to `/v1/traces`.
fn start_receiver() -> (u16, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let server = HttpServer::new(move || {
        let store = store.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let store = store.clone();
                async move {
                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                        return HttpResponse::BadRequest().finish();
                    };
                    let spans = request.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
                    store.lock().unwrap().extend(spans);
                    // An empty ExportTraceServiceResponse encodes as zero bytes.
                    HttpResponse::Ok().content_type("application/x-protobuf").finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listens")
    .run();
    tokio::spawn(server);
    (port, received)
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref()).map(
        |v| match v {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            Value::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        },
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Flushes the exporter and waits until the root span of `request_id` has arrived.
async fn root_span_of(received: &Received, request_id: &str) -> Span {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::task::spawn_blocking(telemetry::flush).await.expect("flushed");
        let found =
            received.lock().unwrap().iter().find(|s| attr(s, "request_id").as_deref() == Some(request_id)).cloned();
        if let Some(span) = found {
            return span;
        }
        assert!(Instant::now() < deadline, "no root span for request {request_id} reached the receiver");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_one_trace_from_the_http_request_down_to_the_service_and_traceparent_is_continued() {
    let (port, received) = start_receiver();
    let otel = OtelSettings {
        traces_endpoint: Some(format!("http://127.0.0.1:{port}/v1/traces")),
        service_name: "brokerage-test".into(),
    };
    let log = LogSettings { format: LogFormat::Json, filter: "warn".into() };
    telemetry::init_with(&log, &otel, BoxMakeWriter::new(std::io::sink)).expect("telemetry installs");

    let app = TestApp::spawn(Backend::Memory).await;
    let customer = app.funded_customer("10000").await;
    let me = app.get("/api/v1/me", &customer.token).await;
    let user_id = me.body["id"].as_str().expect("user id").to_owned();

    // 1. A plain order: a new trace.
    let order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"});
    let placed = app.post("/api/v1/orders", &customer.token, order.clone()).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let request_id = placed.headers["x-request-id"].to_str().expect("ascii").to_owned();

    let root = root_span_of(&received, &request_id).await;
    assert_eq!(root.name, "POST /api/v1/orders");
    assert_eq!(root.kind, 2, "SPAN_KIND_SERVER");
    assert!(root.parent_span_id.is_empty(), "a root span");
    assert_eq!(attr(&root, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attr(&root, "http.route").as_deref(), Some("/api/v1/orders"));
    assert_eq!(attr(&root, "http.response.status_code").as_deref(), Some("201"));
    assert_eq!(attr(&root, "user.id").as_deref(), Some(user_id.as_str()));

    let spans = received.lock().unwrap().clone();
    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == root.trace_id).collect();
    let place = in_trace.iter().find(|s| s.name == "place").unwrap_or_else(|| {
        panic!("no `place` span in the trace: {:?}", in_trace.iter().map(|s| &s.name).collect::<Vec<_>>())
    });
    assert_eq!(place.parent_span_id, root.span_id, "the service call is a child of the request");
    let quote = in_trace.iter().find(|s| s.name == "market_data.quote").expect("a market-data span");
    assert_eq!(quote.parent_span_id, place.span_id, "the quote is fetched by the service call");
    assert_eq!(attr(quote, "market.symbol").as_deref(), Some("AAPL"));
    let other_requests =
        spans.iter().filter(|s| s.name.starts_with("POST /api/v1/orders") && s.trace_id == root.trace_id).count();
    assert_eq!(other_requests, 1, "one request, one trace");

    // 2. A caller that sends `traceparent`: its trace goes on.
    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let continued = app
        .client
        .post(format!("{}/api/v1/orders", app.base))
        .bearer_auth(&customer.token)
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .json(&order)
        .send()
        .await
        .expect("sent");
    assert_eq!(continued.status(), StatusCode::CREATED);
    let request_id = continued.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let root = root_span_of(&received, &request_id).await;
    assert_eq!(hex(&root.trace_id), trace_id);
    assert_eq!(hex(&root.parent_span_id), parent_id);
    assert_eq!(attr(&root, "trace_id").as_deref(), Some(trace_id), "logs carry the same trace id");

    app.stop().await;
    tokio::task::spawn_blocking(telemetry::shutdown).await.expect("shut down");
}
