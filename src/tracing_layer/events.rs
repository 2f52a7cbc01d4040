//! A `tracing` event as an OTLP log record, or as an event of its span.

use tracing::{Event, Level};

use crate::attributes::{KeyValue, Text};
use crate::logs::{Logger, Severity};
use crate::trace::Context;

use super::fields::{formatted, Typed};

/// The attribute naming the event's (or span's) `tracing` target.
pub(super) const TARGET: &str = "tracing.target";

/// The field whose value is the message (the format string of `info!("..")`).
const MESSAGE: &str = "message";

/// The OTLP severity of a `tracing` level: the first of each range, as OpenTelemetry's
/// `tracing` appender maps them (the text is the level's name, which is the severity's).
#[expect(clippy::trivially_copy_pass_by_ref, reason = "takes what `tracing::Metadata::level` returns")]
pub(super) fn severity(level: &Level) -> Severity {
    match *level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warn,
        Level::INFO => Severity::Info,
        Level::DEBUG => Severity::Debug,
        _ => Severity::Trace,
    }
}

/// Emits `event` through `logger` tied to `context` (`None`: the current context): the message as
/// the body, the other fields, the target and the code location as attributes.
pub(super) fn emit_log(logger: &Logger, event: &Event<'_>, context: Option<&Context>) {
    let severity = severity(event.metadata().level());
    if !logger.enabled(severity) {
        return;
    }
    let metadata = event.metadata();
    let mut record = logger.record(severity);
    if let Some(context) = context {
        record.context(context);
    }
    record.attribute(KeyValue::new(TARGET, metadata.target()));
    if let Some(file) = metadata.file() {
        record.attribute(KeyValue::new("code.file.path", file));
    }
    if let Some(line) = metadata.line() {
        record.attribute(KeyValue::new("code.line.number", i64::from(line)));
    }
    event.record(&mut Typed(|name, value| {
        if name == MESSAGE {
            record.body(value);
        } else {
            record.attribute(KeyValue { key: Text::Static(from_log_crate(name)), value });
        }
    }));
    record.emit();
}

/// The attribute a field is recorded as: a `log` crate record forwarded by `tracing-log`'s
/// `LogTracer` arrives with target `log` and no location of its own, its own target and location
/// in the fields `log.target`, `log.file` and `log.line`, which become the target and code location
/// attributes (as `tracing-opentelemetry` normalises them; until session 40 they were exported as
/// `log.*` attributes beside `tracing.target="log"`). A later attribute of the same key wins.
fn from_log_crate(field: &'static str) -> &'static str {
    FROM_LOG_CRATE.iter().find(|(from, _)| *from == field).map_or(field, |(_, to)| to)
}

/// The fields of a forwarded `log` record and the attributes they become (see [`from_log_crate`]).
const FROM_LOG_CRATE: [(&str, &str); 3] =
    [("log.target", TARGET), ("log.file", "code.file.path"), ("log.line", "code.line.number")];

/// `event` as a span event: its name, the message (the event's name when it has none), and its
/// attributes, the other fields, the level (`level`) and the target (a forwarded `log` record's
/// own, as for its log record: see `from_log_crate`).
pub(super) fn span_event(event: &Event<'_>) -> (Text, EventAttributes) {
    let metadata = event.metadata();
    let mut name = None;
    let mut attributes = EventAttributes::default();
    attributes.push(KeyValue::new("level", metadata.level().as_str()));
    attributes.push(KeyValue::new(TARGET, metadata.target()));
    event.record(&mut Typed(|field, value| match (field, value) {
        (MESSAGE, value) => {
            name = Some(value.into_text().unwrap_or_else(|other| formatted(format_args!("{other}"))));
        }
        (field, value) => attributes.set(KeyValue { key: Text::Static(from_log_crate(field)), value }),
    }));
    (name.unwrap_or(Text::Static(metadata.name())), attributes)
}

/// A span event's attributes on their way to the span: on the stack up to [`Self::INLINE`], so the
/// usual event allocates nothing here; more go to a vector.
#[derive(Default)]
pub(super) struct EventAttributes {
    inline: [Option<KeyValue>; EventAttributes::INLINE],
    more: Vec<KeyValue>,
}

impl EventAttributes {
    /// Attributes held without allocating: the level, the target and six fields.
    const INLINE: usize = 8;

    /// `attribute`, in place of one of the same key already held (a forwarded `log` record's
    /// target replaces `log`): the key is compared only where it can repeat, a field that
    /// `from_log_crate` renamed, so the usual event compares nothing.
    fn set(&mut self, attribute: KeyValue) {
        let renamed = FROM_LOG_CRATE.iter().any(|(_, to)| *to == attribute.key.as_str());
        let held = self.inline.iter_mut().flatten().chain(&mut self.more);
        match held.filter(|_| renamed).find(|held| held.key == attribute.key) {
            Some(held) => *held = attribute,
            None => self.push(attribute),
        }
    }

    fn push(&mut self, attribute: KeyValue) {
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(attribute),
            None => self.more.push(attribute),
        }
    }
}

impl IntoIterator for EventAttributes {
    type Item = KeyValue;
    type IntoIter = std::iter::Chain<
        std::iter::Flatten<std::array::IntoIter<Option<KeyValue>, { EventAttributes::INLINE }>>,
        std::vec::IntoIter<KeyValue>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.inline.into_iter().flatten().chain(self.more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_the_first_severity_of_their_range() {
        let mapped: Vec<(i32, &str)> = [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR]
            .iter()
            .map(|level| (severity(level).number(), severity(level).name()))
            .collect();
        assert_eq!(mapped, [(1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR")]);
    }
}
