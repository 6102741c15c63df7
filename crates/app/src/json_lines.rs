//! The JSON log line: one object per line with `timestamp` (RFC 3339, UTC, µs), `level`,
//! `target`, `span` (the innermost span's name, where spans are built: with a trace exporter),
//! `message` and the event's own fields, and — logged inside a request — the request's
//! `request_id`, `trace_id` and `user_id`: from the spans that carry them ([`CorrelationLayer`]
//! keeps them there), else from the request's own record (`brokerage_http::request_id`).
//!
//! Written straight into the line, escaped as it goes: no map of values is built first (that
//! cost ~4 µs per line, and every request logs at least one; `docs/benchmarks.md`).

use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The keys every line sets itself; an event field of the same name is left out.
const RESERVED: [&str; 4] = ["timestamp", "level", "target", "span"];

/// The request identifiers, in the order they are written.
const CORRELATION_KEYS: [&str; 3] = ["request_id", "trace_id", "user_id"];

// ---- request correlation on every log line -------------------------------------------------

/// The request's identifiers, kept on the spans that carry them.
#[derive(Debug, Default, Clone)]
struct Correlation([Option<String>; 3]);

impl Correlation {
    fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Where a span field goes (`user.id` is the OpenTelemetry name of `user_id`).
    fn slot(field: &Field) -> Option<usize> {
        match field.name() {
            "request_id" => Some(0),
            "trace_id" => Some(1),
            "user.id" | "user_id" => Some(2),
            _ => None,
        }
    }
}

impl Visit for Correlation {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(i) = Self::slot(field) {
            self.0[i] = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(i) = Self::slot(field) {
            self.0[i] = Some(format!("{value:?}"));
        }
    }
}

/// Remembers `request_id`, `trace_id` and `user.id` of each span (also when recorded
/// later), so that [`JsonLines`] can put them on every line logged inside the request.
pub(crate) struct CorrelationLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CorrelationLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Only our own spans carry the request's identifiers (without an exporter this layer
        // has no filter of its own: `telemetry::init_with`).
        if !attrs.metadata().target().starts_with("brokerage") {
            return;
        }
        let mut found = Correlation::default();
        attrs.record(&mut found);
        if let (false, Some(span)) = (found.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(found);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if !span.metadata().target().starts_with("brokerage") {
            return;
        }
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

// ---- the line -------------------------------------------------------------------------------

/// The JSON line formatter (see the module documentation).
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        timestamp(&mut writer, chrono::Utc::now())?;
        write!(writer, "\",\"level\":\"{}\",\"target\":", meta.level().as_str())?;
        string(&mut writer, meta.target())?;
        if let Some(innermost) = ctx.parent_span() {
            writer.write_str(",\"span\":")?;
            string(&mut writer, innermost.name())?;
        }
        let mut fields = Fields { out: &mut writer, own: [false; 3], result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        // The innermost span that carries an identifier gives it; the event's own field wins.
        let mut written = fields.own;
        for span in ctx.event_scope().into_iter().flatten() {
            if written.iter().all(|w| *w) {
                break;
            }
            let extensions = span.extensions();
            let Some(found) = extensions.get::<Correlation>() else { continue };
            correlation(&mut writer, &mut written, found.0.each_ref().map(Option::as_deref))?;
        }
        // Without a trace exporter no spans are built: the request's own record gives them.
        if !written.iter().all(|w| *w) {
            brokerage_http::request_id::with_current(|ids| {
                correlation(&mut writer, &mut written, [Some(&ids.id), Some(&ids.trace_id), ids.user_id()])
            })
            .unwrap_or(Ok(()))?;
        }
        writer.write_str("}\n")
    }
}

/// Writes each request identifier in `values` (in [`CORRELATION_KEYS`]' order) that is not
/// `written` yet, and marks it written.
fn correlation(out: &mut impl fmt::Write, written: &mut [bool; 3], values: [Option<&str>; 3]) -> fmt::Result {
    for (i, value) in values.into_iter().enumerate() {
        if let (false, Some(value)) = (written[i], value) {
            write!(out, ",\"{}\":", CORRELATION_KEYS[i])?;
            string(out, value)?;
            written[i] = true;
        }
    }
    Ok(())
}

/// An event's fields as `,"name":value` pairs: numbers and booleans typed, the rest strings.
struct Fields<'w, W: fmt::Write> {
    out: &'w mut W,
    /// Which correlation keys the event set itself.
    own: [bool; 3],
    /// The first write error (`Visit` cannot return one).
    result: fmt::Result,
}

impl<W: fmt::Write> Fields<'_, W> {
    /// Writes `,"name":` and then the value, unless the name is one the line sets itself.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        let name = field.name();
        if self.result.is_err() || RESERVED.contains(&name) {
            return;
        }
        if let Some(i) = CORRELATION_KEYS.iter().position(|k| *k == name) {
            self.own[i] = true;
        }
        self.result = self
            .out
            .write_char(',')
            .and_then(|()| string(self.out, name))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| value(self.out));
    }
}

impl<W: fmt::Write> Visit for Fields<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.field(field, |out| write!(out, "{value}"));
        } else {
            self.field(field, |out| write!(out, "\"{value}\""));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| out.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| string(out, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |out| quoted(out, |e| write!(e, "{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |out| quoted(out, |e| write!(e, "{value:?}")));
    }
}

/// `2026-12-05T21:46:12.123456Z`.
pub(crate) fn timestamp(out: &mut impl fmt::Write, at: chrono::DateTime<chrono::Utc>) -> fmt::Result {
    use chrono::{Datelike as _, Timelike as _};
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        // A leap second's nanoseconds run past 10⁹; it shows as :59.999999 at most.
        (at.nanosecond() / 1_000).min(999_999)
    )
}

/// `s` as a JSON string.
fn string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    quoted(out, |e| e.write_str(s))
}

/// What `write` writes, as a JSON string: quoted and escaped on the way through.
fn quoted<W: fmt::Write>(out: &mut W, write: impl FnOnce(&mut Escaped<'_, W>) -> fmt::Result) -> fmt::Result {
    out.write_char('"')?;
    write(&mut Escaped(out))?;
    out.write_char('"')
}

/// Escapes what is written through it for a JSON string.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let short = match b {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                0..=0x1f => None,
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            match short {
                Some(escape) => self.0.write_str(escape)?,
                None => write!(self.0, "\\u{b:04x}")?,
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

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

    /// The lines `log` writes, parsed.
    fn lines(log: impl FnOnce()) -> Vec<Value> {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber =
            tracing_subscriber::registry().with(CorrelationLayer.with_filter(crate::telemetry::ours())).with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .event_format(JsonLines),
            );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buf.0.lock().expect("buffer").clone()).expect("utf-8");
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn json_lines_flatten_the_request_identifiers_onto_every_line() {
        let line = lines(|| {
            let request = tracing::info_span!(
                "http.request",
                request_id = "r-1",
                trace_id = "t-1",
                user.id = tracing::field::Empty
            );
            let _entered = request.enter();
            request.record("user.id", "u-1");
            let inner = tracing::info_span!("place", order.symbol = "AAPL");
            inner.in_scope(|| tracing::info!(qty = 3, ok = true, ratio = 0.5, "inside"));
        })
        .remove(0);
        assert_eq!(line["message"], "inside");
        assert_eq!((&line["qty"], &line["ok"], &line["ratio"]), (&3.into(), &true.into(), &0.5.into()));
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["span"], "place");
        assert_eq!(
            (&line["request_id"], &line["trace_id"], &line["user_id"]),
            (&"r-1".into(), &"t-1".into(), &"u-1".into())
        );
        assert!(line["target"].as_str().is_some_and(|t| t.starts_with("brokerage_app")));
        let at = line["timestamp"].as_str().expect("a timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z') && at.len() == 27, "{at}");
    }

    #[test]
    fn without_spans_the_request_gives_its_identifiers_to_every_line() {
        use brokerage_http::request_id::{RequestIds, in_request, record_user};
        let ids = RequestIds::new("r-2".to_owned(), "t-2".to_owned());
        let all = lines(|| {
            in_request(ids.clone(), || {
                tracing::info!("before the caller is known");
                record_user("u-2");
                tracing::info!(request_id = "own", "after");
            });
            tracing::info!("outside");
        });
        let [before, after, outside] = &all[..] else { panic!("three lines: {all:?}") };
        assert_eq!((&before["request_id"], &before["trace_id"]), (&"r-2".into(), &"t-2".into()));
        assert!(before.get("user_id").is_none() && before.get("span").is_none(), "{before}");
        assert_eq!((&after["request_id"], &after["user_id"]), (&"own".into(), &"u-2".into()));
        assert!(outside.get("request_id").is_none(), "{outside}");
    }

    #[test]
    fn anything_a_client_or_an_error_can_put_in_a_line_stays_one_valid_line() {
        let hostile = "quote \" backslash \\ newline \n return \r tab \t bell \u{7} nul \u{0} é ✓";
        let all = lines(|| {
            let request = tracing::info_span!("http.request", request_id = hostile);
            let _entered = request.enter();
            let error = std::io::Error::other(hostile);
            tracing::warn!(path = hostile, error = &error as &dyn std::error::Error, nan = f64::NAN, "{hostile}");
        });
        assert_eq!(all.len(), 1, "one line, whatever the text held");
        let line = &all[0];
        for key in ["message", "path", "error", "request_id"] {
            assert_eq!(line[key], hostile, "{key}");
        }
        assert_eq!(line["nan"], "NaN");
    }

    #[test]
    fn the_events_own_fields_never_displace_the_lines_keys_or_its_request_id() {
        let line = lines(|| {
            let request = tracing::info_span!("http.request", request_id = "from-span", trace_id = "t-1");
            let _entered = request.enter();
            tracing::info!(level = "fake", timestamp = 1, request_id = "from-event", "x");
        })
        .remove(0);
        assert_eq!(
            (&line["level"], &line["request_id"], &line["trace_id"]),
            (&"INFO".into(), &"from-event".into(), &"t-1".into())
        );
        assert!(line["timestamp"].is_string());
    }
}
