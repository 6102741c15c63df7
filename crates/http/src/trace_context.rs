//! W3C Trace Context: a request carrying a valid `traceparent` continues the caller's trace.
//! The OpenTelemetry types stay in this crate and the app's telemetry module; the domain
//! only ever sees `tracing` spans.

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Parents `span` on the caller's trace when `headers` carry a valid `traceparent`
/// (`tracestate` is kept too), then returns the trace id as 32 hex digits: the caller's, or a
/// new one. Without an OpenTelemetry layer (the app installs none when nothing exports
/// spans) the id is still the caller's or a new random one, so logs stay correlated.
///
/// Call it before the span is first entered: a started span cannot change its parent.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) -> String {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let incoming = parent.span().span_context().clone();
    if incoming.is_valid()
        && let Err(e) = span.set_parent(parent)
    {
        tracing::debug!(error = %e, "the incoming trace context could not be applied");
    }
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    if span_context.is_valid() {
        span_context.trace_id().to_string()
    } else if incoming.is_valid() {
        incoming.trace_id().to_string()
    } else {
        Uuid::new_v4().simple().to_string()
    }
}

/// Renames the OpenTelemetry span behind `span` (a started span ignores `otel.name`
/// recorded later): the request span becomes `{method} {route}` once the route is known.
/// Nothing to do, and nothing formatted, when no OpenTelemetry layer records spans.
pub fn rename(span: &tracing::Span, method: &str, route: &str) {
    let context = span.context();
    let span_ref = context.span();
    if span_ref.span_context().is_valid() {
        span_ref.update_name(format!("{method} {route}"));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    fn with_otel<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    fn headers(traceparent: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("traceparent"), HeaderValue::from_str(traceparent).expect("ascii"));
        h
    }

    #[test]
    fn a_valid_traceparent_is_continued() {
        let trace_id = with_otel(|| {
            let span = tracing::info_span!("req");
            continue_trace(&span, &headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        });
        assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn without_or_with_a_garbled_traceparent_a_new_trace_starts() {
        let (fresh, garbled) = with_otel(|| {
            let a = continue_trace(&tracing::info_span!("a"), &HeaderMap::new());
            let b = continue_trace(&tracing::info_span!("b"), &headers("00-zz-00f067aa0ba902b7-01"));
            (a, b)
        });
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, "0".repeat(32));
        assert_ne!(garbled, fresh);
    }

    #[test]
    fn without_an_opentelemetry_layer_the_callers_trace_id_or_a_new_one_is_reported() {
        let span = tracing::info_span!("req");
        let continued = continue_trace(&span, &headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert_eq!(continued, "4bf92f3577b34da6a3ce929d0e0e4736");
        let (a, b) = (continue_trace(&span, &HeaderMap::new()), continue_trace(&span, &HeaderMap::new()));
        assert!(a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b, "each request its own");
        assert_eq!(continue_trace(&span, &headers("00-zz-00f067aa0ba902b7-01")).len(), 32);
    }
}
