//! `tracing` field values as typed attribute values, and the conventional `otel.*` and `error`
//! fields of a span.

use std::cell::RefCell;
use std::convert;
use std::error::Error;
use std::fmt::{self, Write};
use std::sync::Arc;

use tracing::field::{Field, Visit};

use crate::attributes::interned;

use crate::attributes::{KeyValue, Text, Value};
use crate::trace::{SpanKind, Status};

/// Visits a record's fields and hands each one to `sink` as its name and the closest attribute
/// type: integers as `I64` (a `u64` or 128-bit value beyond `i64` as its digits), floats, bools,
/// strings, bytes; `Debug` values and errors as text (an error's sources after `: `).
pub(super) struct Typed<F: FnMut(&'static str, Value)>(pub F);

impl<F: FnMut(&'static str, Value)> Visit for Typed<F> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field.name(), Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field.name(), i64::try_from(value).map_or_else(|_| digits(value), Value::I64));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        (self.0)(field.name(), i64::try_from(value).map_or_else(|_| digits(value), Value::I64));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        (self.0)(field.name(), i64::try_from(value).map_or_else(|_| digits(value), Value::I64));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field.name(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field.name(), Value::Str(Text::Shared(interned::shared(value))));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        (self.0)(field.name(), Value::Bytes(Arc::from(value)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        (self.0)(field.name(), Value::Str(formatted(format_args!("{}", ErrorChain(value)))));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        (self.0)(field.name(), Value::Str(formatted(format_args!("{value:?}"))));
    }
}

/// A number beyond `i64`, kept as its digits (OTLP has no wider integer).
fn digits(value: impl fmt::Display) -> Value {
    Value::Str(formatted(format_args!("{value}")))
}

/// An error and its sources, `: ` between them.
struct ErrorChain<'e>(&'e (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The most a thread's scratch keeps between uses, in bytes: text past it is formatted in a
/// buffer given back afterwards.
const SCRATCH_KEPT: usize = 4096;

thread_local! {
    /// Where text is formatted before it is shared (see `interned`): no allocation for text seen
    /// before, one for new text, instead of a growing `String` and then its copy.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `arguments` as shared text.
pub(super) fn formatted(arguments: fmt::Arguments<'_>) -> Text {
    if let Some(text) = arguments.as_str() {
        return Text::Static(text);
    }
    let format = |scratch: &mut String| {
        scratch.clear();
        // Writing into a `String` fails only when a `Display` impl does; what it wrote is kept.
        let _ = scratch.write_fmt(arguments);
        let text = Text::Shared(interned::shared(scratch));
        // One huge value (a 50 MB `Debug` of a struct) would otherwise stay allocated on every
        // thread that ever formatted one (until session 41).
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = String::new();
        }
        text
    };
    // A value whose `Debug` logs an event of its own finds the scratch taken: it gets its own.
    SCRATCH
        .try_with(|scratch| scratch.try_borrow_mut().ok().map(|mut scratch| format(&mut scratch)))
        .ok()
        .flatten()
        .unwrap_or_else(|| format(&mut String::new()))
}

/// The capacity this thread's scratch keeps now (0 while it is borrowed).
#[cfg(test)]
fn scratch_capacity() -> usize {
    SCRATCH.with(|scratch| scratch.try_borrow().map_or(0, |scratch| scratch.capacity()))
}

/// What a span's field means to the span.
pub(super) enum SpanField {
    /// An attribute.
    Attribute(KeyValue),
    /// `otel.name`: the span's name.
    Name(Text),
    /// `otel.kind`: the span's kind (taken when the span starts only).
    Kind(SpanKind),
    /// `otel.status_code`, `otel.status_message`, or an `error` field: the span's status.
    Status(Status),
}

/// Where a span field named `name` with `value` goes, the conventions' fields first; a
/// conventional field with a value it cannot mean (`otel.kind = "sideways"`) is ignored. The
/// `error` field is also kept as an attribute.
#[inline]
pub(super) fn span_field(name: &'static str, value: Value, mut sink: impl FnMut(SpanField)) {
    // Most fields are plain attributes, and only a name starting with `o` or `e` can be one of
    // the conventions: one byte read spares them the string comparisons below.
    if !matches!(name.as_bytes().first(), Some(b'o' | b'e')) {
        return sink(SpanField::Attribute(KeyValue { key: Text::Static(name), value }));
    }
    match (name, value.into_text()) {
        ("otel.name", Ok(text)) => sink(SpanField::Name(text)),
        ("otel.kind", Ok(text)) => {
            if let Some(kind) = kind(&text) {
                sink(SpanField::Kind(kind));
            }
        }
        ("otel.status_code", Ok(text)) => {
            if let Some(status) = status_code(&text) {
                sink(SpanField::Status(status));
            }
        }
        ("otel.status_message" | "otel.status_description", Ok(text)) => {
            sink(SpanField::Status(Status::Error { description: text }));
        }
        ("otel.name" | "otel.kind" | "otel.status_code" | "otel.status_message" | "otel.status_description", _) => {}
        ("error", value) => {
            let value = value.map_or_else(convert::identity, Value::Str);
            match &value {
                Value::Bool(false) => {}
                Value::Str(text) => sink(SpanField::Status(Status::Error { description: text.clone() })),
                _ => sink(SpanField::Status(Status::error(""))),
            }
            sink(SpanField::Attribute(KeyValue { key: Text::Static(name), value }));
        }
        (name, value) => sink(SpanField::Attribute(KeyValue {
            key: Text::Static(name),
            value: value.map_or_else(convert::identity, Value::Str),
        })),
    }
}

/// The kind `otel.kind` names, in any case.
fn kind(text: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find_map(|(name, kind)| text.eq_ignore_ascii_case(name).then_some(kind))
}

/// The status `otel.status_code` names (`ok` or `error`, in any case; `unset` changes nothing).
fn status_code(text: &str) -> Option<Status> {
    if text.eq_ignore_ascii_case("ok") {
        Some(Status::Ok)
    } else if text.eq_ignore_ascii_case("error") {
        Some(Status::error(""))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meaning(name: &'static str, value: impl Into<Value>) -> Vec<String> {
        let mut seen = Vec::new();
        span_field(name, value.into(), |field| {
            seen.push(match field {
                SpanField::Attribute(kv) => format!("attribute {}={}", kv.key, kv.value),
                SpanField::Name(name) => format!("name {name}"),
                SpanField::Kind(kind) => format!("kind {kind:?}"),
                SpanField::Status(status) => format!("status {status:?}"),
            });
        });
        seen
    }

    #[test]
    fn conventional_fields_are_read_and_others_are_attributes() {
        assert_eq!(meaning("otel.name", "GET /orders"), ["name GET /orders"]);
        assert_eq!(meaning("otel.kind", "SERVER"), ["kind Server"]);
        assert!(meaning("otel.kind", "sideways").is_empty());
        assert!(meaning("otel.kind", 3).is_empty());
        assert_eq!(meaning("otel.status_code", "Ok"), ["status Ok"]);
        assert!(meaning("otel.status_code", "unset").is_empty());
        assert_eq!(meaning("otel.status_message", "venue down"), [r#"status Error { description: "venue down" }"#]);
        assert_eq!(meaning("error", true), [r#"status Error { description: "" }"#, "attribute error=true"]);
        assert_eq!(meaning("error", false), ["attribute error=false"]);
        assert_eq!(meaning("qty", 100), ["attribute qty=100"]);
    }

    #[test]
    fn text_is_formatted_once_and_static_text_is_not_copied() {
        assert!(matches!(formatted(format_args!("static")), Text::Static("static")));
        let n = 7;
        assert_eq!(formatted(format_args!("n={n}")).as_str(), "n=7");
        assert_eq!(digits(u64::MAX).to_string(), "18446744073709551615");
    }

    #[test]
    fn a_huge_value_does_not_stay_in_the_scratch() {
        let huge = "x".repeat(1 << 20);
        assert_eq!(formatted(format_args!("{huge}!")).as_str().len(), (1 << 20) + 1);
        assert!(scratch_capacity() <= SCRATCH_KEPT, "{}", scratch_capacity());
        let n = 7;
        formatted(format_args!("n={n}"));
        assert!(scratch_capacity() > 0, "a small one keeps its buffer");
    }
}
