//! A log record as it waits in a thread's buffer, and its OTLP form, made on the exporter thread.

use std::ptr::addr_of_mut;

use crate::attributes::{KeyValue, Text, Value, ValueLimits};
use crate::clock;
use crate::proto::common::v1::{self as otlp_common, any_value, AnyValue};
use crate::proto::logs::v1 as otlp;
use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId};

use super::severity::Severity;
use crate::buffer::attributes::Attributes;

/// One emitted record: fixed size, so it is written straight into a ring slot. Strings are
/// [`Text`]s and values are [`Value`]s: a record with static strings holds no heap memory.
pub(crate) struct LogItem {
    pub scope: u32,
    pub severity: Severity,
    /// Event time; 0 when unknown.
    pub time: u64,
    /// Clock ticks, or Unix nanoseconds when `observed_is_unix_nanos` (a time the caller gave):
    /// like a span's end, the ticks are converted on the exporter thread.
    pub observed: u64,
    pub observed_is_unix_nanos: bool,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub flags: TraceFlags,
    /// `None`: the severity's short name.
    pub severity_text: Option<Text>,
    pub event_name: Option<Text>,
    pub body: Option<Value>,
    pub attributes: Attributes,
}

impl LogItem {
    /// A record with no body, no attributes and no trace context.
    #[cfg(test)]
    pub(crate) fn new(scope: u32, severity: Severity) -> LogItem {
        let mut item = std::mem::MaybeUninit::<LogItem>::uninit();
        // SAFETY: `item` is valid for writes and aligned, and `init` initialises all of it.
        unsafe {
            LogItem::init(item.as_mut_ptr(), scope, severity);
            item.assume_init()
        }
    }

    /// Makes at `this` a record with no body, no attributes and no trace context, writing each
    /// field once (the inline attribute slots stay uninitialised).
    ///
    /// # Safety
    /// `this` must be valid for writes and aligned; whatever it held is overwritten without being
    /// dropped.
    #[inline(always)]
    pub(crate) unsafe fn init(this: *mut LogItem, scope: u32, severity: Severity) {
        // SAFETY: every field is written through its own aligned pointer into `*this`, which the
        // caller guarantees is valid for writes; `Attributes::init` leaves its inline slots
        // uninitialised, which its length (0) says. So the whole record is initialised.
        unsafe {
            addr_of_mut!((*this).scope).write(scope);
            addr_of_mut!((*this).severity).write(severity);
            addr_of_mut!((*this).time).write(0);
            addr_of_mut!((*this).observed).write(0);
            addr_of_mut!((*this).observed_is_unix_nanos).write(false);
            addr_of_mut!((*this).trace_id).write(TraceId::INVALID);
            addr_of_mut!((*this).span_id).write(SpanId::INVALID);
            addr_of_mut!((*this).flags).write(TraceFlags::NOT_SAMPLED);
            addr_of_mut!((*this).severity_text).write(None);
            addr_of_mut!((*this).event_name).write(None);
            addr_of_mut!((*this).body).write(None);
            Attributes::init(addr_of_mut!((*this).attributes));
        }
    }

    /// Moves the record at `src` to `dst` field by field, copying only the attribute slots in
    /// use (a whole record is 536 bytes on x86-64, as `tests` checks; one with two attributes fills
    /// about a third of that).
    ///
    /// # Safety
    /// `src` must point to a record the caller hands over (neither used nor dropped afterwards);
    /// `dst` must be valid for writes, aligned, and not overlap `src`; whatever it held is
    /// overwritten without being dropped.
    #[inline(always)]
    pub(crate) unsafe fn move_to(src: *const LogItem, dst: *mut LogItem) {
        // SAFETY: the caller guarantees both pointers; every field is read out of `src` once
        // and written to `dst` once, so `dst` holds the record and `src` is not dropped.
        unsafe {
            let src = &*src;
            addr_of_mut!((*dst).scope).write(src.scope);
            addr_of_mut!((*dst).severity).write(src.severity);
            addr_of_mut!((*dst).time).write(src.time);
            addr_of_mut!((*dst).observed).write(src.observed);
            addr_of_mut!((*dst).observed_is_unix_nanos).write(src.observed_is_unix_nanos);
            addr_of_mut!((*dst).trace_id).write(src.trace_id);
            addr_of_mut!((*dst).span_id).write(src.span_id);
            addr_of_mut!((*dst).flags).write(src.flags);
            addr_of_mut!((*dst).severity_text).write(std::ptr::read(&raw const src.severity_text));
            addr_of_mut!((*dst).event_name).write(std::ptr::read(&raw const src.event_name));
            addr_of_mut!((*dst).body).write(std::ptr::read(&raw const src.body));
            Attributes::move_to(&raw const src.attributes, addr_of_mut!((*dst).attributes));
        }
    }

    /// Takes the trace and span id and the trace flags of `context` (nothing when it is invalid).
    #[inline(always)]
    pub(crate) fn set_context(&mut self, context: &SpanContext) {
        if context.is_valid() {
            self.trace_id = context.trace_id();
            self.span_id = context.span_id();
            self.flags = context.trace_flags();
        }
    }
}

/// The OTLP log record, with the attributes' values cut as `limits` says (the limits are on
/// attributes: the body is sent whole, to [`MAX_NESTING`](crate::attributes::MAX_NESTING)).
pub(crate) fn to_proto(mut item: LogItem, limits: ValueLimits) -> otlp::LogRecord {
    let attribute = |kv: &KeyValue| {
        let mut value = kv.value.to_proto_within(limits.depth);
        if let Some(max) = limits.length {
            cut(&mut value, max);
        }
        otlp_common::KeyValue { key: kv.key.as_str().to_owned(), value: Some(value), ..Default::default() }
    };
    let has_trace = item.trace_id.is_valid();
    otlp::LogRecord {
        time_unix_nano: item.time,
        observed_time_unix_nano: if item.observed_is_unix_nanos {
            item.observed
        } else {
            clock::ticks_to_unix_nanos(item.observed)
        },
        severity_number: item.severity.number(),
        severity_text: item.severity_text.as_deref().unwrap_or(item.severity.name()).to_owned(),
        body: item.body.as_ref().map(Value::to_proto),
        attributes: item.attributes.unique().map(attribute).collect(),
        dropped_attributes_count: item.attributes.dropped,
        // The low byte holds the W3C trace flags; the rest is reserved.
        flags: if has_trace { u32::from(item.flags.bits()) } else { 0 },
        trace_id: if has_trace { item.trace_id.to_bytes().to_vec() } else { Vec::new() },
        span_id: if item.span_id.is_valid() { item.span_id.to_bytes().to_vec() } else { Vec::new() },
        event_name: item.event_name.as_deref().unwrap_or_default().to_owned(),
    }
}

/// Cuts, in place, strings to `max` characters and byte arrays to `max` bytes, at any depth.
fn cut(value: &mut AnyValue, max: usize) {
    match &mut value.value {
        Some(any_value::Value::StringValue(text)) => {
            if let Some((end, _)) = text.char_indices().nth(max) {
                text.truncate(end);
            }
        }
        Some(any_value::Value::BytesValue(bytes)) => bytes.truncate(max),
        Some(any_value::Value::ArrayValue(array)) => array.values.iter_mut().for_each(|v| cut(v, max)),
        Some(any_value::Value::KvlistValue(map)) => {
            map.values.iter_mut().filter_map(|kv| kv.value.as_mut()).for_each(|v| cut(v, max));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size the README states for a log ring's slot (536 KiB for the default 1024).
    #[cfg(all(target_arch = "x86_64", not(nanotel_loom)))]
    #[test]
    fn a_record_is_536_bytes() {
        assert_eq!(std::mem::size_of::<LogItem>(), 536);
    }

    #[test]
    fn attribute_values_are_cut_by_characters_and_bytes_at_any_depth() {
        let mut item = LogItem::new(0, Severity::Warn3);
        item.body = Some(Value::from("the body is not an attribute"));
        let array = vec![Value::from("héllo"), Value::from(vec![1u8, 2, 3])];
        item.attributes.set(KeyValue::new("array", array), 8);
        item.attributes.set(KeyValue::new("map", vec![KeyValue::new("s", "abcdef"), KeyValue::new("n", 12345)]), 8);
        let record = to_proto(item, ValueLimits { length: Some(2), depth: 64 });
        assert_eq!(record.body, Some(Value::from("the body is not an attribute").to_proto()));
        let Some(any_value::Value::ArrayValue(array)) = &record.attributes[0].value.as_ref().unwrap().value else {
            panic!("an array attribute")
        };
        assert_eq!(array.values[0].value, Some(any_value::Value::StringValue("hé".into())));
        assert_eq!(array.values[1].value, Some(any_value::Value::BytesValue(vec![1, 2])));
        let Some(any_value::Value::KvlistValue(map)) = &record.attributes[1].value.as_ref().unwrap().value else {
            panic!("a map attribute")
        };
        assert_eq!(map.values[0].value.as_ref().unwrap().value, Some(any_value::Value::StringValue("ab".into())));
        assert_eq!(map.values[1].value.as_ref().unwrap().value, Some(any_value::Value::IntValue(12345)));
        assert_eq!((record.severity_number, record.severity_text.as_str()), (15, "WARN3"));
        assert!(record.trace_id.is_empty() && record.span_id.is_empty() && record.flags == 0);
    }

    /// Arrays and maps nested past the depth limit are emptied in attributes (the array at the
    /// limit's depth keeps its elements); the body, not an attribute, is sent whole.
    #[test]
    fn attribute_values_nested_past_the_depth_limit_are_emptied() {
        let nested = Value::from(vec![Value::from(vec![Value::from(vec![Value::from(1)])])]);
        let mut item = LogItem::new(0, Severity::Info);
        item.body = Some(nested.clone());
        item.attributes.set(KeyValue::new("nested", nested.clone()), 8);
        let record = to_proto(item, ValueLimits { length: None, depth: 2 });
        assert_eq!(record.body, Some(nested.to_proto()));
        let Some(any_value::Value::ArrayValue(outer)) = &record.attributes[0].value.as_ref().unwrap().value else {
            panic!("an array attribute")
        };
        let Some(any_value::Value::ArrayValue(second)) = &outer.values[0].value else {
            panic!("the second level kept")
        };
        assert_eq!(second.values, [AnyValue { value: None }], "the third emptied, not an empty array");
    }
}
