//! Logs and traces.
//!
//! - **Logs**: JSON lines on stdout (or a human format on a terminal), filtered by `RUST_LOG`
//!   or the `log.filter` setting. Every line has `timestamp`, `level`, `target`, `message`, its
//!   own fields, and — inside a request — the request's `request_id`, `trace_id` and
//!   `user_id` flattened to the top level (see [`crate::json_lines`]).
//! - **Traces**: `tracing` spans go to OpenTelemetry through `tracing-opentelemetry`, and are
//!   exported over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see [`OtelSettings`]). Without an endpoint no
//!   OpenTelemetry layer is installed; logs still carry each request's trace id (the
//!   caller's `traceparent`, or a new one).
//!
//! JSON lines are written in batches, at least every 100 ms (`log_buffer`). Call [`shutdown`]
//! (or [`flush_logs`]) before the process exits: it exports the spans and writes the lines
//! still buffered.

use crate::json_lines::{CorrelationLayer, JsonLines};
use crate::log_buffer::{self, BufferedLines};
use crate::settings::{LogFormat, LogSettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tracing::Level;
use tracing_subscriber::filter::{FilterExt, FilterFn, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;
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
    // `RUST_LOG` when set and valid, as `EnvFilter::try_from_default_env` decides.
    let directives = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(env) if EnvFilter::try_new(&env).is_ok() => env,
        _ => log.filter.clone(),
    };
    let filter = LogFilter::parse(&directives);
    let pretty = is_pretty(log.format);
    let provider = tracer_provider(otel)?;
    match &provider {
        // No exporter: the log filter is the only filter, so it filters globally, and no layer
        // has a filter of its own. Per-layer filters cost a span lookup per layer on every
        // enter and exit of every span (~9 % of an account read's instructions,
        // `docs/benchmarks.md`). Without an exporter there is no OpenTelemetry layer at all:
        // building span data for every request only to drop it cost ~10 µs of CPU per
        // request. Nor are spans built for JSON lines: the three per request (the
        // request's, the service's, the store's) cost ~5 % of an account read's throughput,
        // and a line's request identifiers come from the request's own record
        // (`brokerage_http::request_id`); the request's trace id (the caller's
        // `traceparent`, or a new one) still reaches every log line. The human format shows
        // the spans, and a filter with span directives (`[span{field}]=level`) needs them.
        None => {
            let spans_off = !pretty && filter.is_targets();
            tracing_subscriber::registry()
                .with(filter.global())
                .with(spans_off.then(events_only))
                .with(CorrelationLayer)
                .with(fmt_layer(pretty, writer))
                .try_init()?
        }
        // Only our own spans become OpenTelemetry spans: library internals (the exporter's
        // HTTP client among them) would be noise, or feed back into the exporter. The log
        // filter then applies to the log lines alone, and the correlation ids are kept on our
        // own spans only (unfiltered, this layer would switch on every debug and trace
        // callsite of every library).
        Some(p) => {
            let otel_layer = tracing_opentelemetry::layer().with_tracer(p.tracer("brokerage")).with_filter(ours());
            tracing_subscriber::registry()
                .with(CorrelationLayer.with_filter(ours()))
                .with(otel_layer)
                .with(fmt_layer(pretty, writer).with_filter(filter.per_layer()))
                .try_init()?
        }
    }
    if let Ok(mut slot) = PROVIDER.lock() {
        *slot = provider;
    }
    if let Some(endpoint) = &otel.traces_endpoint {
        tracing::info!(otel.endpoint = %endpoint, service.name = %otel.service_name, "exporting traces over OTLP/HTTP");
    }
    Ok(())
}

/// A log filter in `RUST_LOG` syntax. A plain list of `target=level` parses as [`Targets`],
/// decided once per callsite; only directives on spans or fields
/// (`[span{field=value}]=level`) need an [`EnvFilter`], which looks every span up again on
/// each enter and exit, for every request (`docs/benchmarks.md`).
#[allow(clippy::large_enum_variant)] // built once, at start-up
enum LogFilter {
    Targets(Targets),
    Env(EnvFilter),
}

impl LogFilter {
    fn parse(directives: &str) -> Self {
        // `Targets` would take `[span]` for a target name: span and field directives go to
        // `EnvFilter` before it can.
        let targets = (!directives.contains(['[', '{'])).then(|| directives.parse::<Targets>().ok()).flatten();
        match targets {
            Some(targets) => Self::Targets(targets),
            None => Self::Env(EnvFilter::new(directives)),
        }
    }

    /// Whether no directive names a span or a field.
    fn is_targets(&self) -> bool {
        matches!(self, Self::Targets(_))
    }

    /// As the subscriber's only filter.
    fn global(self) -> Box<dyn Layer<Registry> + Send + Sync> {
        match self {
            Self::Targets(f) => Layer::boxed(f),
            Self::Env(f) => Layer::boxed(f),
        }
    }

    /// As one layer's filter.
    fn per_layer<S: tracing::Subscriber>(self) -> Box<dyn Filter<S> + Send + Sync> {
        match self {
            Self::Targets(f) => FilterExt::boxed(f),
            Self::Env(f) => FilterExt::boxed(f),
        }
    }
}

/// The log lines' layer: the human format, or JSON lines.
fn fmt_layer<S>(pretty: bool, writer: BoxMakeWriter) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if pretty {
        return tracing_subscriber::fmt::layer().with_writer(writer).with_target(true).boxed();
    }
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        // JsonLines reads span names and the correlation ids, never the spans' formatted
        // fields: formatting them for every span of every request was wasted work.
        .fmt_fields(tracing_subscriber::fmt::format::debug_fn(|_, _, _| Ok(())))
        .event_format(JsonLines)
        .boxed()
}

/// Events only: every span callsite is off (decided once per callsite).
fn events_only() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    filter_fn(|meta: &tracing::Metadata<'_>| !meta.is_span())
}

/// Our own spans and events at `INFO` and above (with the level hint, so that less severe
/// callsites stay off when no other layer wants them).
pub(crate) fn ours() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn plain_directives_filter_by_target_and_span_directives_need_an_env_filter() {
        for plain in ["info", "warn,brokerage_http=debug", "brokerage=trace,actix_server=off"] {
            assert!(matches!(LogFilter::parse(plain), LogFilter::Targets(_)), "{plain}");
        }
        for dynamic in ["info,[http.request]=debug", "brokerage_http[http.request{user_id}]=trace"] {
            assert!(matches!(LogFilter::parse(dynamic), LogFilter::Env(_)), "{dynamic}");
        }
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
}
