//! The bridge from the `log` crate: its macros become OTLP log records (feature `log`).

use std::sync::Arc;

use log::kv::{Error as KvError, Key, Value as KvValue, VisitSource, VisitValue};

use crate::attributes::{display_text, interned, KeyValue, Text, Value};

use super::logger::Logger;
use super::severity::Severity;

/// A [`log::Log`] that emits each `log` record through a [`Logger`]: the level becomes the
/// severity, the message the body (not copied when it has no arguments), the target the
/// `log.target` attribute, the source location the `code.file.path` and `code.line.number`
/// attributes, and the record's key-values attributes of their own. A message with arguments and
/// key-values are copied (allocated); for the hot path, emit through a [`Logger`] directly.
///
/// ```
/// use nanotel::logs::{LogBridge, LoggerProvider};
///
/// let provider = LoggerProvider::builder().without_env().build();
/// LogBridge::new(provider.logger("app")).install(log::LevelFilter::Info).unwrap();
/// log::info!(order_id = 42; "order accepted");
/// log::debug!("filtered out by the level");
/// let mut records = Vec::new();
/// provider.drain(usize::MAX, |_, record| records.push(record));
/// assert_eq!(records.len(), 1);
/// assert_eq!(records[0].severity_text, "INFO");
/// ```
pub struct LogBridge {
    logger: Logger,
}

impl LogBridge {
    /// A bridge emitting through `logger` (its scope names where the records come from).
    #[must_use]
    pub fn new(logger: Logger) -> LogBridge {
        LogBridge { logger }
    }

    /// Makes this bridge the process's `log` logger and lets through records up to `max_level`.
    /// Fails when a logger was already set.
    ///
    /// # Errors
    ///
    /// [`log::SetLoggerError`] when a `log` logger was already set.
    pub fn install(self, max_level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max_level);
        Ok(())
    }
}

/// The OTLP severity of a `log` level (each level's text is the severity's short name).
fn severity(level: log::Level) -> Severity {
    match level {
        log::Level::Error => Severity::Error,
        log::Level::Warn => Severity::Warn,
        log::Level::Info => Severity::Info,
        log::Level::Debug => Severity::Debug,
        log::Level::Trace => Severity::Trace,
    }
}

impl log::Log for LogBridge {
    /// Not on nanotel's own threads (the exporter's, the Prometheus endpoint's): what reqwest
    /// logs there while exporting is not the program's telemetry, and recorded it would be
    /// exported in turn, making more (until session 37 a flush never finished at `debug`: each
    /// export's connection lines were the next export's records, thousands a second).
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.logger.enabled(severity(metadata.level())) && !crate::own_threads::is_current()
    }

    fn log(&self, record: &log::Record<'_>) {
        let severity = severity(record.level());
        if !self.logger.enabled(severity) || crate::own_threads::is_current() {
            return;
        }
        let body = match record.args().as_str() {
            Some(message) => Value::from(message),
            None => Value::from(display_text(record.args())),
        };
        // The usual target is the module path, which is static: then it is not copied; another
        // is this thread's shared copy (no allocation for one seen before).
        let target = match record.module_path_static() {
            Some(path) if path == record.target() => Text::from(path),
            _ => Text::from(interned::shared(record.target())),
        };
        let mut builder = self.logger.record(severity);
        builder.body(body).attribute(KeyValue::new("log.target", target));
        // Static from the `log` macros, not copied; borrowed from `tracing`'s `log` feature and
        // hand-built records, this thread's shared copy (until session 41 those lost the file but
        // kept the line).
        let file =
            record.file_static().map(Text::from).or_else(|| record.file().map(|f| Text::from(interned::shared(f))));
        if let Some(file) = file {
            builder.attribute(KeyValue::new("code.file.path", file));
        }
        if let Some(line) = record.line() {
            builder.attribute(KeyValue::new("code.line.number", i64::from(line)));
        }
        let mut pairs = Pairs(Vec::new());
        // A failing source stops the visit; what it gave so far is kept.
        let _ = record.key_values().visit(&mut pairs);
        builder.attributes(pairs.0).emit();
    }

    /// Records are exported by the pipeline the provider is attached to; flush that instead.
    fn flush(&self) {}
}

/// A record's key-values as attributes.
struct Pairs(Vec<KeyValue>);

impl<'kvs> VisitSource<'kvs> for Pairs {
    fn visit_pair(&mut self, key: Key<'kvs>, value: KvValue<'kvs>) -> Result<(), KvError> {
        let mut converted = Converted(None);
        value.visit(&mut converted)?;
        let value = converted.0.unwrap_or_else(|| Value::from(display_text(&value)));
        self.0.push(KeyValue::new(Arc::<str>::from(key.as_str()), value));
        Ok(())
    }
}

/// One key-value's value, as the closest attribute type (text for what has none).
struct Converted(Option<Value>);

impl VisitValue<'_> for Converted {
    fn visit_any(&mut self, value: KvValue<'_>) -> Result<(), KvError> {
        self.0 = Some(Value::from(display_text(&value)));
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), KvError> {
        self.0 = Some(Value::from(value));
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), KvError> {
        // Beyond `i64`, OTLP has no integer type: the digits are kept as text.
        self.0 = Some(i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from));
        Ok(())
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), KvError> {
        self.0 = Some(i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from));
        Ok(())
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), KvError> {
        self.0 = Some(i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from));
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), KvError> {
        self.0 = Some(Value::from(value));
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), KvError> {
        self.0 = Some(Value::from(value));
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), KvError> {
        self.0 = Some(Value::from(value.to_owned()));
        Ok(())
    }
}
