//! Logs and traces.
//!
//! - **Logs**: JSON lines on stdout (or a human format on a terminal), filtered by `RUST_LOG`
//!   or the `log.filter` setting. Every line has `timestamp`, `level`, `target`, `message`, its
//!   own fields, and — inside a request — the request's `request_id`, `trace_id` and
//!   `user_id` flattened to the top level (see [`JsonLines`]).
//! - **Traces**: `tracing` spans go to OpenTelemetry through `tracing-opentelemetry`, and are
//!   exported over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see [`OtelSettings`]). Without an endpoint no
//!   OpenTelemetry layer is installed; logs still carry each request's trace id (the
//!   caller's `traceparent`, or a new one).
//!
//! JSON lines are written in batches, at least every 100 ms (`log_buffer`). Call [`shutdown`]
//! (or [`flush_logs`]) before the process exits: it exports the spans and writes the lines
//! still buffered.

use crate::log_buffer::{self, BufferedLines};
use crate::settings::{LogFormat, LogSettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{FilterFn, LevelFilter, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The tracer provider, kept to flush and shut it down.
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// Where traces go, from the standard OpenTelemetry variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelSettings {
    /// The full URL spans are POSTed to (`…/v1/traces`); `None`: no export.
    pub traces_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`, default `brokerage`.
    pub service_name: String,
}

impl OtelSettings {
    /// Reads `OTEL_SDK_DISABLED`, `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (used as-is), `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), and
    /// `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`. Only `http/protobuf` is built in (the gRPC
    /// stack would double the build); another protocol turns export off with a warning,
    /// returned as the second value because logging is not set up yet.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> (Self, Option<String>) {
        let vars: HashMap<String, String> = vars.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect();
        let get = |k: &str| vars.get(k).map(|v| v.trim().to_owned());
        let service_name = get("OTEL_SERVICE_NAME").unwrap_or_else(|| "brokerage".to_owned());
        let endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            get("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        });
        let protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_else(|| "http/protobuf".to_owned());
        let disabled = get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let (traces_endpoint, warning) = match endpoint {
            _ if disabled => (None, None),
            Some(url) if protocol == "http/protobuf" => (Some(url), None),
            Some(_) => (
                None,
                Some(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported (only http/protobuf, usually port 4318); traces are not exported"
                )),
            ),
            None => (None, None),
        };
        (Self { traces_endpoint, service_name }, warning)
    }
}

/// Installs the global subscriber from `log` and the process's `OTEL_*` variables, writing to
/// stdout. Call once, from `main`.
pub fn init(log: &LogSettings) {
    let (otel, warning) = OtelSettings::from_env(std::env::vars());
    let writer = if is_pretty(log.format) {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        match BufferedLines::new(std::io::stdout(), log_buffer::FLUSH_EVERY) {
            Ok(lines) => {
                let _ = LOG_LINES.set(lines.clone());
                flush_logs_on_panic();
                BoxMakeWriter::new(lines)
            }
            Err(e) => {
                eprintln!("no log flushing thread ({e}); writing each log line directly");
                BoxMakeWriter::new(std::io::stdout)
            }
        }
    };
    let result = init_with(log, &otel, writer);
    if let Err(e) = result {
        eprintln!("telemetry could not be initialised: {e:#}");
    }
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
}

/// Installs the global subscriber writing logs to `writer` and traces to `otel`.
/// Fails when a global subscriber is already installed or the exporter cannot be built.
pub fn init_with(log: &LogSettings, otel: &OtelSettings, writer: BoxMakeWriter) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let fmt_layer = if is_pretty(log.format) {
        tracing_subscriber::fmt::layer().with_writer(writer).with_target(true).with_filter(filter).boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            // JsonLines reads span names and the correlation ids, never the spans' formatted
            // fields: formatting them for every span of every request was wasted work.
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(|_, _, _| Ok(())))
            .event_format(JsonLines)
            .with_filter(filter)
            .boxed()
    };

    let provider = tracer_provider(otel)?;
    // Only our own spans become OpenTelemetry spans: library internals (the exporter's HTTP
    // client among them) would be noise, or feed back into the exporter. Without an exporter
    // there is no OpenTelemetry layer at all: building span data for every request only to
    // drop it cost ~10 µs of CPU per request (`docs/benchmarks.md`); the request's trace id
    // (the caller's `traceparent`, or a new one) still reaches every log line.
    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("brokerage")).with_filter(ours()));
    // The correlation ids live on our own request spans: with no filter of its own this
    // layer would switch on every debug and trace callsite of every library.
    let correlation = CorrelationLayer.with_filter(ours());

    tracing_subscriber::registry().with(correlation).with(otel_layer).with(fmt_layer).try_init()?;
    if let Ok(mut slot) = PROVIDER.lock() {
        *slot = provider;
    }
    if let Some(endpoint) = &otel.traces_endpoint {
        tracing::info!(otel.endpoint = %endpoint, service.name = %otel.service_name, "exporting traces over OTLP/HTTP");
    }
    Ok(())
}

/// Our own spans and events at `INFO` and above (with the level hint, so that less severe
/// callsites stay off when no other layer wants them).
fn ours() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    filter_fn(|meta: &tracing::Metadata<'_>| meta.target().starts_with("brokerage") && *meta.level() <= Level::INFO)
        .with_max_level_hint(LevelFilter::INFO)
}

/// The human format on a terminal (or when asked for), JSON lines otherwise.
fn is_pretty(format: LogFormat) -> bool {
    match format {
        LogFormat::Pretty => true,
        LogFormat::Json => false,
        LogFormat::Auto => std::io::stdout().is_terminal(),
    }
}

/// The JSON log lines waiting to be written (`log_buffer`), when `init` buffers them.
static LOG_LINES: OnceLock<BufferedLines> = OnceLock::new();

/// Writes the log lines still buffered. Call before the process exits.
pub fn flush_logs() {
    if let Some(lines) = LOG_LINES.get()
        && let Err(e) = lines.flush()
    {
        eprintln!("log lines could not be written: {e}");
    }
}

/// A panic's report goes to stderr at once; the log lines before it must not stay behind.
fn flush_logs_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush_logs();
        report(info);
    }));
}

/// The tracer provider exporting to `otel`'s endpoint; `None` without one (no spans are built).
fn tracer_provider(otel: &OtelSettings) -> anyhow::Result<Option<SdkTracerProvider>> {
    let Some(endpoint) = &otel.traces_endpoint else { return Ok(None) };
    let resource = Resource::builder().with_service_name(otel.service_name.clone()).build();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| anyhow::anyhow!("the OTLP exporter for {endpoint} could not be built: {e}"))?;
    Ok(Some(SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build()))
}

fn provider() -> Option<SdkTracerProvider> {
    PROVIDER.lock().ok().and_then(|slot| slot.clone())
}

/// Exports the spans buffered so far (blocking; tests call it before reading the receiver).
pub fn flush() {
    if let Some(provider) = provider()
        && let Err(e) = provider.force_flush()
    {
        tracing::warn!(error = %e, "flushing traces failed");
    }
}

/// Exports the buffered spans and stops the exporter; later spans are dropped. Blocking and
/// bounded by the exporter's timeout; call it from `spawn_blocking` in async code.
pub fn shutdown() {
    let taken = PROVIDER.lock().ok().and_then(|mut slot| slot.take());
    if let Some(provider) = taken
        && let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5))
    {
        tracing::warn!(error = %e, "shutting the trace exporter down failed");
    }
    flush_logs();
}

// ---- request correlation on every log line -------------------------------------------------

/// The request's identifiers, kept on the spans that carry them.
#[derive(Debug, Default, Clone)]
struct Correlation {
    request_id: Option<String>,
    trace_id: Option<String>,
    user_id: Option<String>,
}

impl Correlation {
    fn is_empty(&self) -> bool {
        self.request_id.is_none() && self.trace_id.is_none() && self.user_id.is_none()
    }

    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "request_id" => self.request_id = Some(value),
            "trace_id" => self.trace_id = Some(value),
            "user.id" | "user_id" => self.user_id = Some(value),
            _ => {}
        }
    }

    /// Fills what is still missing from `other` (an outer span).
    fn fill_from(&mut self, other: &Self) {
        self.request_id = self.request_id.take().or_else(|| other.request_id.clone());
        self.trace_id = self.trace_id.take().or_else(|| other.trace_id.clone());
        self.user_id = self.user_id.take().or_else(|| other.user_id.clone());
    }
}

impl Visit for Correlation {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "request_id" | "trace_id" | "user.id" | "user_id") {
            self.set(field, format!("{value:?}"));
        }
    }
}

/// Remembers `request_id`, `trace_id` and `user.id` of each span (also when recorded
/// later), so that [`JsonLines`] can put them on every line logged inside the request.
struct CorrelationLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CorrelationLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = Correlation::default();
        attrs.record(&mut found);
        if let (false, Some(span)) = (found.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(found);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(existing) = extensions.get_mut::<Correlation>() {
            values.record(existing);
        } else {
            let mut found = Correlation::default();
            values.record(&mut found);
            if !found.is_empty() {
                extensions.insert(found);
            }
        }
    }
}

// ---- JSON lines -----------------------------------------------------------------------------

/// One JSON object per line: `timestamp` (RFC 3339, UTC, µs), `level`, `target`, `span`
/// (the innermost span's name), `message` and the event's fields, and the request's
/// `request_id`, `trace_id`, `user_id` when logged inside a request.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = Map::new();
        event.record(&mut JsonFields(&mut line));
        let meta = event.metadata();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::String(meta.level().as_str().to_owned()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        if let Some(scope) = ctx.event_scope() {
            let mut correlation = Correlation::default();
            let mut innermost = None;
            for span in scope {
                innermost.get_or_insert_with(|| span.name());
                if let Some(found) = span.extensions().get::<Correlation>() {
                    correlation.fill_from(found);
                }
            }
            if let Some(name) = innermost {
                line.insert("span".into(), Value::String(name.to_owned()));
            }
            for (key, value) in [
                ("request_id", correlation.request_id),
                ("trace_id", correlation.trace_id),
                ("user_id", correlation.user_id),
            ] {
                if let Some(value) = value {
                    line.entry(key).or_insert(Value::String(value));
                }
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Event fields as JSON values: numbers and booleans stay typed, the rest are strings.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.0.insert(field.name().to_owned(), v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        let (otel, warning) = OtelSettings::from_env(env(&[]));
        assert_eq!(otel, OtelSettings { traces_endpoint: None, service_name: "brokerage".into() });
        assert_eq!(warning, None);
    }

    #[test]
    fn the_generic_endpoint_gets_the_traces_path_and_the_specific_one_is_used_as_is() {
        let (otel, _) = OtelSettings::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]));
        assert_eq!(otel.traces_endpoint.as_deref(), Some("http://collector:4318/v1/traces"));
        let (otel, _) = OtelSettings::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom"),
            ("OTEL_SERVICE_NAME", "brokerage-eu"),
        ]));
        assert_eq!(otel.traces_endpoint.as_deref(), Some("http://traces:9999/custom"));
        assert_eq!(otel.service_name, "brokerage-eu");
    }

    #[test]
    fn unsupported_protocols_and_the_kill_switch_turn_export_off() {
        let (otel, warning) = OtelSettings::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]));
        assert_eq!(otel.traces_endpoint, None);
        assert!(warning.is_some_and(|w| w.contains("grpc")));
        let (otel, _) = OtelSettings::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]));
        assert!(otel.traces_endpoint.is_some(), "the traces-specific protocol wins");
        let (otel, _) = OtelSettings::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]));
        assert_eq!(otel.traces_endpoint, None);
    }

    #[test]
    fn json_lines_flatten_the_request_identifiers_onto_every_line() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("buffer").extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::registry().with(CorrelationLayer.with_filter(ours())).with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .event_format(JsonLines),
        );
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "http.request",
                request_id = "r-1",
                trace_id = "t-1",
                user.id = tracing::field::Empty
            );
            let _entered = request.enter();
            request.record("user.id", "u-1");
            let inner = tracing::info_span!("place", order.symbol = "AAPL");
            inner.in_scope(|| tracing::info!(qty = 3, ok = true, "inside"));
        });
        let text = String::from_utf8(buf.0.lock().expect("buffer").clone()).expect("utf-8");
        let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["message"], "inside");
        assert_eq!(line["qty"], 3);
        assert_eq!(line["ok"], true);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["span"], "place");
        assert_eq!(
            (&line["request_id"], &line["trace_id"], &line["user_id"]),
            (&"r-1".into(), &"t-1".into(), &"u-1".into())
        );
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(line["target"].as_str().is_some_and(|t| t.starts_with("brokerage_app")));
    }
}
