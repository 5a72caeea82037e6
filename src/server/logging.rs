//! hclog-format JSON logs on stderr, the form go-plugin hosts (Grafana) parse: one JSON object per
//! line with `@level` (trace|debug|info|warn|error), `@message`, `@timestamp` like
//! `2021-10-08T08:15:56.112151+00:00` (exactly six fractional digits), `@module`, and the event's
//! fields. Only this crate's events pass below `warn`: dependencies (h2, hyper, sled …) are
//! limited to warnings so that no library trace output can carry request bodies.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogLevel;

/// `@module` of every line: the plugin's name as hosts show it.
pub const MODULE: &str = "secrets-broker";

/// The hclog timestamp of `t`: UTC, six fractional digits, `+00:00`.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// hclog's name for a tracing level.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// The tracing filter for a configured level.
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// A tracing layer writing hclog JSON lines to a writer (stderr in the binary).
#[derive(Debug)]
pub struct HclogLayer<W> {
    make_writer: W,
}

impl<W> HclogLayer<W> {
    /// A layer writing to `make_writer`.
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "@message",
            n => n,
        };
        self.0.insert(name.to_string(), value);
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// One event as an hclog JSON object (without the trailing newline).
pub fn render(event: &Event<'_>, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut map = Map::new();
    let mut visitor = FieldVisitor(&mut map);
    event.record(&mut visitor);
    map.entry("@message").or_insert_with(|| Value::from(""));
    map.insert(
        "@level".into(),
        Value::from(level_name(event.metadata().level())),
    );
    map.insert("@timestamp".into(), Value::from(timestamp(now)));
    map.insert("@module".into(), Value::from(MODULE));
    map.insert("target".into(), Value::from(event.metadata().target()));
    Value::Object(map).to_string()
}

impl<S, W> Layer<S> for HclogLayer<W>
where
    S: Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = render(event, chrono::Utc::now());
        line.push('\n');
        // One write per line so concurrent events never interleave within a line. A failed write
        // to stderr has nowhere to be reported.
        let _ = self.make_writer.make_writer().write_all(line.as_bytes());
    }
}

/// The filter: this crate at `level`, everything else at `warn` at most.
pub fn targets(level: LogLevel) -> Targets {
    let ours = level_filter(level);
    Targets::new()
        .with_target("secrets_broker", ours)
        .with_default(ours.min(LevelFilter::WARN))
}

/// Installs the global subscriber: hclog JSON on stderr at `level`. Call once, early.
pub fn init(level: LogLevel) {
    let layer = HclogLayer::new(std::io::stderr).with_filter(targets(level));
    // A second init (tests calling twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[test]
    fn timestamp_has_hclog_form() {
        let t = chrono::DateTime::parse_from_rfc3339("2021-10-08T08:15:56.112151Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(t), "2021-10-08T08:15:56.112151+00:00");
        let t = chrono::DateTime::parse_from_rfc3339("2021-10-08T08:15:56Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(t), "2021-10-08T08:15:56.000000+00:00");
    }

    #[test]
    fn lines_are_hclog_json_and_filtered() {
        let buf = Buf::default();
        let layer = HclogLayer::new(buf.clone()).with_filter(targets(LogLevel::Debug));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(key = "org 1", size = 3u64, "hello");
            tracing::trace!("too detailed");
            tracing::debug!(target: "h2::codec", "dependency chatter");
            tracing::warn!(target: "h2::codec", "dependency warning");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["@level"], "info");
        assert_eq!(lines[0]["@message"], "hello");
        assert_eq!(lines[0]["@module"], MODULE);
        assert_eq!(lines[0]["key"], "org 1");
        assert_eq!(lines[0]["size"], 3);
        assert_eq!(lines[1]["@level"], "warn");
        let ts = lines[0]["@timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2021-10-08T08:15:56.112151+00:00".len(), "{ts}");
        assert!(ts.ends_with("+00:00"));
    }
}
