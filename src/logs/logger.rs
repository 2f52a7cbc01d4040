//! Loggers and the record builder: what a program calls to emit a log record.

use std::error::Error;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::addr_of_mut;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::attributes::{KeyValue, Text, Value};
use crate::trace::Context;

use super::provider::ProviderInner;
use super::record::LogItem;
use super::severity::Severity;
use crate::buffer::attributes::INLINE_ATTRIBUTES;

/// Emits log records for one instrumentation scope. Cheap to clone; `Send` and `Sync`.
///
/// A record reads the clock once (its observed time) and takes the trace and span id of the
/// current span; it is written into the calling thread's buffer, which never blocks. A record with
/// a static body and up to [`INLINE_ATTRIBUTES`](crate::trace::INLINE_ATTRIBUTES) attributes
/// allocates nothing.
///
/// ```
/// use nanotel::attributes::{KeyValue, Value};
/// use nanotel::logs::{LoggerProvider, Severity};
///
/// let provider = LoggerProvider::builder().without_env().build();
/// let logger = provider.logger("gateway");
/// logger.emit(Severity::Info, "order accepted", &[KeyValue::new("order.id", 42)]);
/// logger
///     .record(Severity::Warn)
///     .body(Value::from(vec![KeyValue::new("reason", "price band")]))
///     .event_name("order.rejected")
///     .attribute(KeyValue::new("order.id", 43))
///     .emit();
/// let mut bodies = Vec::new();
/// provider.drain(usize::MAX, |_, record| bodies.push(record.body));
/// assert_eq!(bodies.len(), 2);
/// ```
#[derive(Clone)]
pub struct Logger {
    provider: Arc<ProviderInner>,
    scope: u32,
}

impl Logger {
    pub(crate) fn new(provider: Arc<ProviderInner>, scope: u32) -> Logger {
        Logger { provider, scope }
    }

    /// Whether a record of this severity would be kept; check it before working out what to log.
    #[inline(always)]
    #[must_use]
    pub fn enabled(&self, severity: Severity) -> bool {
        // One more load from the provider the record's path reads anyway: no extra cache miss.
        self.provider.enabled && severity >= self.provider.minimum_severity
    }

    /// Emits a record with a static body and these attributes (cloned: static strings and shared
    /// values are not copied), timestamped now and tied to the current span.
    #[inline]
    pub fn emit(&self, severity: Severity, body: &'static str, attributes: &[KeyValue]) {
        if !self.enabled(severity) {
            return;
        }
        let context = Context::current();
        if !self.keeps(&context) {
            return;
        }
        if attributes.len() > INLINE_ATTRIBUTES {
            return self.emit_spilling(severity, body, attributes, &context);
        }
        let (scope, limit, clock) = (self.scope, self.provider.limits.attribute_count, self.provider.clock);
        let init = |item: *mut LogItem| {
            // SAFETY: `item` is the reserved slot: valid for writes, aligned, holding nothing.
            unsafe { LogItem::init(item, scope, severity) };
            // SAFETY: initialised above; the slot is this thread's alone until it is published.
            let item = unsafe { &mut *item };
            item.body = Some(Value::Str(Text::Static(body)));
            for attribute in attributes {
                item.attributes.set(attribute.clone(), limit);
            }
            item.set_context(context.span_context());
            item.observed = clock.ticks();
        };
        // SAFETY: `init` initialises the whole record (`LogItem::init`, then field by field).
        unsafe { self.provider.buffers.record_in_place(init) };
    }

    /// [`emit`](Logger::emit) of a record with more attributes than are held inline: built off the
    /// ring and moved in, as [`record`](Logger::record) builds, since keeping the ones past the
    /// inline count allocates, and nothing may allocate while the thread's ring is borrowed (a
    /// global allocator that logs would reach the same ring: until session 42 its record and this
    /// one were written into one slot).
    #[cold]
    #[inline(never)]
    fn emit_spilling(&self, severity: Severity, body: &'static str, attributes: &[KeyValue], context: &Context) {
        self.record(severity).body(body).attributes(attributes.iter().cloned()).context(context).emit();
    }

    /// Whether a record tied to `context` passes the trace-based filter.
    #[inline(always)]
    fn keeps(&self, context: &Context) -> bool {
        let span = context.span_context();
        !(self.provider.trace_based && span.is_valid() && !span.is_sampled())
    }

    /// A record to fill in and [emit](LogRecordBuilder::emit): any body, the event name, the
    /// timestamps, an explicit context. When `severity` is not [enabled](Logger::enabled), every
    /// step does nothing.
    #[inline]
    pub fn record(&self, severity: Severity) -> LogRecordBuilder<'_> {
        // Written field by field into an uninitialised builder, not as a struct literal: in a
        // literal, the record's `MaybeUninit::uninit()` is a constant, which the compiler copied
        // into the builder (386 bytes of zeroes from read-only data, through a `memcpy` call, on
        // every record: benches/README.md, Logs, session 24); a builder made whole as
        // uninitialised has nothing to copy.
        let live = self.enabled(severity);
        let mut builder = MaybeUninit::<LogRecordBuilder<'_>>::uninit();
        let this = builder.as_mut_ptr();
        // SAFETY: every field but `item` is written through its own aligned pointer into the
        // builder (a field added to `LogRecordBuilder` must be written here too), and `item` may
        // stay uninitialised while `live` is false; when it is true, `LogItem::init` initialises
        // the record (valid for writes, holding nothing yet).
        unsafe {
            addr_of_mut!((*this).logger).write(self);
            addr_of_mut!((*this).live).write(live);
            addr_of_mut!((*this).context).write(None);
            addr_of_mut!((*this).exception).write(None);
            if live {
                LogItem::init(addr_of_mut!((*this).item).cast::<LogItem>(), self.scope, severity);
            }
            builder.assume_init()
        }
    }
}

/// A log record being filled in; nothing is recorded until [`emit`](LogRecordBuilder::emit).
///
/// Each step changes the builder in place (`&mut self`), so the record, a few hundred bytes with
/// its inline attributes, is never moved along the chain.
///
/// ```
/// use std::time::SystemTime;
/// use nanotel::attributes::KeyValue;
/// use nanotel::logs::{LoggerProvider, Severity};
///
/// let provider = LoggerProvider::builder().without_env().build();
/// let logger = provider.logger("gateway");
/// let err = std::io::Error::other("venue closed");
/// logger
///     .record(Severity::Error)
///     .body("order failed")
///     .severity_text("error")
///     .timestamp(SystemTime::now())
///     .attributes([KeyValue::new("order.id", 7), KeyValue::new("venue", "XNAS")])
///     .exception(&err)
///     .emit();
/// let mut records = Vec::new();
/// provider.drain(usize::MAX, |_, record| records.push(record));
/// assert_eq!(records[0].severity_text, "error");
/// assert_eq!(records[0].attributes.len(), 4);
/// ```
#[must_use = "nothing is recorded until `emit` is called"]
pub struct LogRecordBuilder<'l> {
    // Every field is written one by one in `Logger::record`: a new one must be written there.
    logger: &'l Logger,
    /// Initialised while `live`.
    item: MaybeUninit<LogItem>,
    /// Whether `item` holds a record: not when the severity is not enabled, nor once emitted.
    live: bool,
    context: Option<Context>,
    /// The `exception.type` and `exception.message` to add at emit, unless the record has its own.
    exception: Option<(Option<&'static str>, String)>,
}

impl LogRecordBuilder<'_> {
    /// The body: a message, or any structured value.
    #[inline]
    pub fn body(&mut self, body: impl Into<Value>) -> &mut Self {
        if let Some(item) = self.item() {
            item.body = Some(body.into());
        }
        self
    }

    /// The severity as the source named it (default: the severity's short name).
    #[inline]
    pub fn severity_text(&mut self, text: impl Into<Text>) -> &mut Self {
        if let Some(item) = self.item() {
            item.severity_text = Some(text.into());
        }
        self
    }

    /// Makes the record an event with this name.
    #[inline]
    pub fn event_name(&mut self, name: impl Into<Text>) -> &mut Self {
        if let Some(item) = self.item() {
            item.event_name = Some(name.into());
        }
        self
    }

    /// Sets an attribute (replacing the value of an existing key); a new key beyond the count
    /// limit is dropped and counted.
    #[inline]
    pub fn attribute(&mut self, attribute: KeyValue) -> &mut Self {
        let limit = self.logger.provider.limits.attribute_count;
        if let Some(item) = self.item() {
            item.attributes.set(attribute, limit);
        }
        self
    }

    /// Sets each of `attributes`, as [`attribute`](Self::attribute) does.
    #[inline]
    pub fn attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) -> &mut Self {
        let limit = self.logger.provider.limits.attribute_count;
        if let Some(item) = self.item() {
            attributes.into_iter().for_each(|attribute| item.attributes.set(attribute, limit));
        }
        self
    }

    /// When the event happened (default: unknown, which OTLP sends as 0).
    #[inline]
    pub fn timestamp(&mut self, time: SystemTime) -> &mut Self {
        self.timestamp_unix_nanos(unix_nanos(time))
    }

    /// When the event happened, in nanoseconds since the Unix epoch (as
    /// [`now_unix_nanos`](crate::clock::now_unix_nanos) gives).
    #[inline]
    pub fn timestamp_unix_nanos(&mut self, nanos: u64) -> &mut Self {
        if let Some(item) = self.item() {
            item.time = nanos;
        }
        self
    }

    /// When the record was observed (default: when it is emitted).
    #[inline]
    pub fn observed_timestamp(&mut self, time: SystemTime) -> &mut Self {
        if let Some(item) = self.item() {
            (item.observed, item.observed_is_unix_nanos) = (unix_nanos(time), true);
        }
        self
    }

    /// Ties the record to `context`'s span instead of the current one (for work carried to
    /// another thread or task).
    #[inline]
    pub fn context(&mut self, context: &Context) -> &mut Self {
        if self.live {
            self.context = Some(context.clone());
        }
        self
    }

    /// Describes an error with the `exception.type` and `exception.message` attributes (those the
    /// record sets itself win), the message with the error's sources after `: ` (as
    /// `Span::record_exception`'s; since session 39), the type left out for a trait object (as
    /// there). Formats the message, so it allocates.
    pub fn exception<E: Error + ?Sized>(&mut self, error: &E) -> &mut Self {
        if self.live {
            self.exception = Some((crate::attributes::error_type::<E>(), crate::attributes::error_text(error)));
        }
        self
    }

    /// Records the record in this thread's buffer (dropped and counted when it is full). The
    /// builder is empty afterwards: emitting it again does nothing.
    #[inline]
    pub fn emit(&mut self) {
        if !self.live {
            return;
        }
        let logger = self.logger;
        let context = self.context.take().unwrap_or_else(Context::current);
        let exception = self.exception.take();
        self.live = false;
        // SAFETY: `live` was set, so the slot holds a record; clearing `live` hands it over here.
        let item = unsafe { &mut *self.item.as_mut_ptr().cast::<ManuallyDrop<LogItem>>() };
        if !logger.keeps(&context) {
            // SAFETY: the record is owned here (see above) and not used again.
            unsafe { ManuallyDrop::drop(item) };
            return;
        }
        let limit = logger.provider.limits.attribute_count;
        if let Some((kind, message)) = exception {
            let kind = kind.map(|kind| ("exception.type", Value::from(kind)));
            for (key, value) in kind.into_iter().chain([("exception.message", Value::from(message))]) {
                if !item.attributes.contains_key(key) {
                    item.attributes.set(KeyValue::new(key, value), limit);
                }
            }
        }
        let finish = |item: &mut LogItem| {
            item.set_context(context.span_context());
            if !item.observed_is_unix_nanos {
                item.observed = logger.provider.clock.ticks();
            }
        };
        // SAFETY: the record is owned here (see above) and not used again.
        unsafe { logger.provider.buffers.record_from(item, finish) };
    }

    /// The record, unless the severity is not enabled or it was emitted.
    #[inline(always)]
    fn item(&mut self) -> Option<&mut LogItem> {
        // SAFETY: `item` is initialised while `live`.
        self.live.then(|| unsafe { self.item.assume_init_mut() })
    }
}

impl Drop for LogRecordBuilder<'_> {
    fn drop(&mut self) {
        if self.live {
            // SAFETY: `item` is initialised while `live`, and dropped once, here.
            unsafe { self.item.assume_init_drop() };
        }
    }
}

/// Nanoseconds since the Unix epoch (0 before it, the largest `u64` after year 2554).
fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::logs::LoggerProvider;

    /// An error and its source, as a program's error type chains them.
    #[derive(Debug)]
    struct Rejected(std::io::Error);

    impl std::fmt::Display for Rejected {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("order rejected by venue")
        }
    }

    impl Error for Rejected {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_exceptions_message_carries_its_sources_as_a_spans_does() {
        let provider = LoggerProvider::builder().without_env().build();
        let error = Rejected(std::io::Error::other("connection reset"));
        provider.logger("gateway").record(Severity::Error).exception(&error).emit();
        let mut records = Vec::new();
        provider.drain(usize::MAX, |_, record| records.push(record));
        let message =
            records[0].attributes.iter().find(|kv| kv.key == "exception.message").and_then(|kv| kv.value.clone());
        let expected =
            crate::proto::common::v1::any_value::Value::StringValue("order rejected by venue: connection reset".into());
        assert_eq!(message.and_then(|value| value.value), Some(expected));
    }

    #[test]
    fn an_exception_behind_a_trait_object_has_no_type() {
        let provider = LoggerProvider::builder().without_env().build();
        let boxed: Box<dyn Error + Send + Sync> = Box::new(std::io::Error::other("connection reset"));
        provider.logger("gateway").record(Severity::Error).exception(&*boxed).emit();
        provider.logger("gateway").record(Severity::Error).exception(&std::io::Error::other("typed")).emit();
        let mut keys = Vec::new();
        provider.drain(usize::MAX, |_, record| {
            keys.push(record.attributes.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>());
        });
        assert_eq!(keys, [vec!["exception.message"], vec!["exception.type", "exception.message"]]);
    }

    #[test]
    fn records_not_stored_are_dropped_once() {
        let shared: Arc<str> = Arc::from("shared");
        let value = || KeyValue::new("k", Value::Str(Text::Shared(shared.clone())));
        let provider = LoggerProvider::builder().without_env().with_buffer_capacity(2).build();
        let logger = provider.logger("drops");
        // Built and never emitted.
        logger.record(Severity::Info).attribute(value());
        // Emitted twice: the second does nothing.
        let mut builder = logger.record(Severity::Info);
        builder.attribute(value()).emit();
        builder.emit();
        drop(builder);
        // Refused by a full ring, by both paths.
        logger.record(Severity::Info).attribute(value()).emit();
        logger.record(Severity::Info).attribute(value()).emit();
        logger.emit(Severity::Info, "full", &[value()]);
        assert_eq!(Arc::strong_count(&shared), 3, "the two stored records hold the rest");
        let mut stored = 0;
        assert_eq!(provider.drain(usize::MAX, |_, _| stored += 1), 2);
        assert_eq!((stored, Arc::strong_count(&shared)), (2, 1));
    }

    #[test]
    fn the_observed_time_is_when_the_record_was_emitted_unless_given() {
        let provider = LoggerProvider::builder().without_env().build();
        let logger = provider.logger("times");
        // The clock is calibrated against the wall clock to well under a millisecond.
        let slack = 1_000_000;
        let before = unix_nanos(SystemTime::now()) - slack;
        logger.emit(Severity::Info, "by emit", &[]);
        logger.record(Severity::Info).body("by the builder").emit();
        let after = unix_nanos(SystemTime::now()) + slack;
        logger.record(Severity::Info).body("given").observed_timestamp(UNIX_EPOCH).emit();
        let mut observed = Vec::new();
        provider.drain(usize::MAX, |_, record| observed.push(record.observed_time_unix_nano));
        let [by_emit, by_builder, given] = observed[..] else { panic!("three records, not {observed:?}") };
        assert!((before..=after).contains(&by_emit), "{before} <= {by_emit} <= {after}");
        assert!((before..=after).contains(&by_builder), "{before} <= {by_builder} <= {after}");
        assert_eq!(given, 0, "a given time is kept, even the epoch");
    }
}
