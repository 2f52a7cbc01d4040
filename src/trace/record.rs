//! The OTLP form of an ended span, made on the exporter thread (where allocating is fine).

use std::sync::Arc;

use crate::attributes::{KeyValue, Value};
use crate::clock;
use crate::proto::common::v1 as otlp_common;
use crate::proto::trace::v1 as otlp;

use super::extras::SpanExtras;
use super::span::{SpanData, SpanKind, SpanRecord, Status};
use super::span_context::SpanContext;

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: the is-remote bit below is meaningful.
const HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: the parent (or linked) context came from another process.
const IS_REMOTE: u32 = 0x200;

/// The OTLP span, with string and byte values cut to `max_length` when set.
pub(crate) fn to_proto(record: SpanRecord, max_length: Option<usize>) -> otlp::Span {
    // Read in its slot, which is freed (its events-and-links box recycled) right after.
    record.slot.consume(|data| encode(data, max_length))
}

fn encode(data: &mut SpanData, max_length: Option<usize>) -> otlp::Span {
    data.recorder.get().count_heap_allocations(u64::from(data.attributes.spill_allocations()));
    // Usually the first read of this context: its ids are drawn now, on the exporter thread.
    let context = data.context.get();
    let no_extras = SpanExtras::default();
    let extras = data.extras.as_deref().unwrap_or(&no_extras);
    let attribute = |kv: &KeyValue| limited(kv, max_length).to_proto();
    let status = match &data.status {
        Status::Unset => None,
        Status::Ok => Some(otlp::Status { code: otlp::status::StatusCode::Ok as i32, message: String::new() }),
        Status::Error { description } => Some(otlp::Status {
            code: otlp::status::StatusCode::Error as i32,
            message: description.as_str().to_owned(),
        }),
    };
    otlp::Span {
        trace_id: context.trace_id().to_bytes().to_vec(),
        span_id: context.span_id().to_bytes().to_vec(),
        trace_state: context.trace_state().to_header(),
        parent_span_id: if data.parent_span_id.is_valid() {
            data.parent_span_id.to_bytes().to_vec()
        } else {
            Vec::new()
        },
        flags: u32::from(context.trace_flags().bits())
            | HAS_IS_REMOTE
            | if data.parent_is_remote { IS_REMOTE } else { 0 },
        name: data.name.as_str().to_owned(),
        kind: kind(data.kind) as i32,
        start_time_unix_nano: clock::ticks_to_unix_nanos(data.start),
        end_time_unix_nano: if data.end_is_unix_nanos { data.end } else { clock::ticks_to_unix_nanos(data.end) },
        attributes: data.attributes.unique().map(attribute).collect(),
        dropped_attributes_count: data.attributes.dropped,
        events: extras
            .events()
            .map(|(event, attributes)| otlp::span::Event {
                time_unix_nano: clock::ticks_to_unix_nanos(event.ticks),
                name: event.name.as_str().to_owned(),
                attributes: attributes.iter().map(attribute).collect(),
                dropped_attributes_count: event.dropped,
            })
            .collect(),
        dropped_events_count: extras.dropped_events,
        links: extras
            .links()
            .map(|(link, attributes)| otlp::span::Link {
                trace_id: link.context.trace_id().to_bytes().to_vec(),
                span_id: link.context.span_id().to_bytes().to_vec(),
                trace_state: link.context.trace_state().to_header(),
                attributes: attributes.iter().map(attribute).collect(),
                dropped_attributes_count: link.dropped,
                flags: link_flags(&link.context),
            })
            .collect(),
        dropped_links_count: extras.dropped_links,
        status,
    }
}

fn link_flags(context: &SpanContext) -> u32 {
    u32::from(context.trace_flags().bits()) | HAS_IS_REMOTE | if context.is_remote() { IS_REMOTE } else { 0 }
}

fn kind(kind: SpanKind) -> otlp::span::SpanKind {
    match kind {
        SpanKind::Internal => otlp::span::SpanKind::Internal,
        SpanKind::Server => otlp::span::SpanKind::Server,
        SpanKind::Client => otlp::span::SpanKind::Client,
        SpanKind::Producer => otlp::span::SpanKind::Producer,
        SpanKind::Consumer => otlp::span::SpanKind::Consumer,
    }
}

/// The attribute with its value cut to `max_length` (a copy only when something is cut).
fn limited(kv: &KeyValue, max_length: Option<usize>) -> std::borrow::Cow<'_, KeyValue> {
    match max_length.and_then(|max| truncated(&kv.value, max)) {
        Some(value) => std::borrow::Cow::Owned(KeyValue { key: kv.key.clone(), value }),
        None => std::borrow::Cow::Borrowed(kv),
    }
}

/// The value cut to `max` characters (strings) or bytes (byte arrays), element by element in
/// arrays and maps; `None` when nothing needs cutting.
fn truncated(value: &Value, max: usize) -> Option<Value> {
    match value {
        Value::Str(text) => {
            let (cut, _) = text.char_indices().nth(max)?;
            Some(Value::from(text[..cut].to_owned()))
        }
        Value::Bytes(bytes) if bytes.len() > max => Some(Value::Bytes(Arc::from(&bytes[..max]))),
        Value::Array(values) => {
            let cut: Vec<Option<Value>> = values.iter().map(|v| truncated(v, max)).collect();
            cut.iter().any(Option::is_some).then(|| {
                Value::Array(values.iter().zip(cut).map(|(v, cut)| cut.unwrap_or_else(|| v.clone())).collect())
            })
        }
        Value::Map(entries) => {
            let cut: Vec<Option<Value>> = entries.iter().map(|kv| truncated(&kv.value, max)).collect();
            cut.iter().any(Option::is_some).then(|| {
                Value::Map(
                    entries
                        .iter()
                        .zip(cut)
                        .map(|(kv, cut)| KeyValue {
                            key: kv.key.clone(),
                            value: cut.unwrap_or_else(|| kv.value.clone()),
                        })
                        .collect(),
                )
            })
        }
        _ => None,
    }
}

/// The OTLP instrumentation scope of a tracer.
pub(crate) fn scope(name: &str, version: Option<&str>) -> otlp_common::InstrumentationScope {
    otlp_common::InstrumentationScope {
        name: name.to_owned(),
        version: version.unwrap_or_default().to_owned(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_by_characters_and_bytes_recursively() {
        assert_eq!(truncated(&Value::from("héllo"), 2), Some(Value::from(String::from("hé"))));
        assert_eq!(truncated(&Value::from("hé"), 2), None);
        assert_eq!(truncated(&Value::from(vec![1u8, 2, 3]), 2), Some(Value::from(vec![1u8, 2])));
        assert_eq!(truncated(&Value::from(42), 0), None);
        let nested = Value::from(vec![KeyValue::new("k", vec![Value::from("abc"), Value::from(true)])]);
        let expected = Value::from(vec![KeyValue::new("k", vec![Value::from(String::from("a")), Value::from(true)])]);
        assert_eq!(truncated(&nested, 1), Some(expected));
    }
}
