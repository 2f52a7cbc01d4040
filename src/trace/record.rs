//! The OTLP form of an ended span, made on the exporter thread: either the prost message
//! ([`to_proto`], for span processors, exporters of the user's own and OTLP/JSON), or its
//! protobuf bytes written straight from the slot ([`write_wire`], for the OTLP exporter's
//! protobuf when nothing of the user's needs the message), the same bytes as the message
//! encoded (the tests hold them to it). Converting to the message cost the exporter thread
//! more than encoding and compressing it: a `String` or `Vec` for every id, name, key and
//! value, freed again once encoded (benches/README.md, the exporter's whole path).

use std::sync::Arc;

use crate::attributes::{KeyValue, Text, Value, ValueLimits};
use crate::clock;
use crate::proto::common::v1 as otlp_common;
use crate::proto::trace::v1 as otlp;

use crate::export::wire::{self, Fields, Sink, WireScratch};

use super::extras::{Event, Link, SpanExtras};
use super::span::{SpanData, SpanKind, SpanRecord, Status};
use super::span_context::SpanContext;

/// The span's end in Unix nanoseconds, never before its start: a time given to `Span::end_at`
/// that is earlier (a replayed span's original end, a zero) is taken as the start, a span of no
/// duration, as the JavaScript SDK does; until session 39 it went out as given, an end before
/// the start, which the OTLP message says is not expected.
fn end_unix_nanos(data: &SpanData) -> u64 {
    let start = clock::ticks_to_unix_nanos(data.start);
    let end = if data.end_is_unix_nanos { data.end } else { clock::ticks_to_unix_nanos(data.end) };
    end.max(start)
}
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: the is-remote bit below is meaningful.
const HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: the parent (or linked) context came from another process.
const IS_REMOTE: u32 = 0x200;

/// The OTLP span, its attributes' values cut as `limits` says.
pub(crate) fn to_proto(record: SpanRecord, limits: ValueLimits) -> otlp::Span {
    // Read in its slot, which is freed (its events-and-links box recycled) right after.
    record.slot.consume(|data| encode(data, limits))
}

fn encode(data: &mut SpanData, limits: ValueLimits) -> otlp::Span {
    data.recorder.get().count_heap_allocations(u64::from(data.attributes.spill_allocations()));
    // Usually the first read of this context: its ids are drawn now, on the exporter thread.
    let context = data.context.get();
    let no_extras = SpanExtras::default();
    let extras = data.extras.as_deref().unwrap_or(&no_extras);
    let attribute = |kv: &KeyValue| {
        let kv = limited(kv, limits);
        otlp_common::KeyValue {
            key: kv.key.as_str().to_owned(),
            value: Some(kv.value.to_proto_within(limits.depth)),
            ..Default::default()
        }
    };
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
        end_time_unix_nano: end_unix_nanos(data),
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

/// Appends the span's protobuf encoding to `out` as field 2 of a `ScopeSpans` (key, length,
/// body), read where it lies in its slot, which is freed right after: the bytes
/// `to_proto(record, limits)` encodes to, without making the message.
pub(crate) fn write_wire(record: SpanRecord, limits: ValueLimits, scratch: &mut WireScratch, out: &mut Vec<u8>) {
    record.slot.consume(|data| write_data(data, limits, scratch, out));
}

fn write_data(data: &mut SpanData, limits: ValueLimits, scratch: &mut WireScratch, out: &mut Vec<u8>) {
    data.recorder.get().count_heap_allocations(u64::from(data.attributes.spill_allocations()));
    // As `encode` reads them: repeated keys folded, the first read of the context drawing its ids.
    data.attributes.fold();
    let data = &*data;
    let context = data.context.get();
    let no_extras = SpanExtras::default();
    let extras = data.extras.as_deref().unwrap_or(&no_extras);
    // The headers, reusing the strings of earlier spans: the span's first, then each link's.
    let states = &mut scratch.states;
    let wanted = 1 + extras.links().count();
    if states.len() < wanted {
        states.resize_with(wanted, String::new);
    }
    let contexts = std::iter::once(context).chain(extras.links().map(|(link, _)| &link.context));
    for (state, context) in states.iter_mut().zip(contexts) {
        state.clear();
        context.trace_state().write_header(state);
    }
    let view = SpanView { data, context, extras, limits, states };
    wire::append_field(2, &view, &mut scratch.lengths, out);
}

/// A span in its slot, as the OTLP `Span` message it is encoded as (the fields of `encode`).
struct SpanView<'a> {
    data: &'a SpanData,
    context: &'a SpanContext,
    extras: &'a SpanExtras,
    limits: ValueLimits,
    /// The span's `tracestate` header, then its links'.
    states: &'a [String],
}

impl Fields for SpanView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        let (data, context, limits) = (self.data, self.context, self.limits);
        s.bytes_field(1, &context.trace_id().to_bytes());
        s.bytes_field(2, &context.span_id().to_bytes());
        s.string_field(3, self.states.first().map_or("", String::as_str));
        if data.parent_span_id.is_valid() {
            s.bytes_field(4, &data.parent_span_id.to_bytes());
        }
        s.string_field(5, data.name.as_str());
        s.int32_field(6, kind(data.kind) as i32);
        s.fixed64_field(7, clock::ticks_to_unix_nanos(data.start));
        s.fixed64_field(8, end_unix_nanos(data));
        for kv in data.attributes.held() {
            s.message(9, &AttributeView::top(kv, limits));
        }
        s.uint32_field(10, data.attributes.dropped);
        for (event, attributes) in self.extras.events() {
            s.message(11, &EventView { event, attributes, limits });
        }
        s.uint32_field(12, self.extras.dropped_events);
        for (index, (link, attributes)) in self.extras.links().enumerate() {
            let state = self.states.get(index + 1).map_or("", String::as_str);
            s.message(13, &LinkView { link, attributes, state, limits });
        }
        s.uint32_field(14, self.extras.dropped_links);
        match &data.status {
            Status::Unset => {}
            Status::Ok => s.message(15, &StatusView { code: otlp::status::StatusCode::Ok, message: "" }),
            Status::Error { description } => {
                s.message(15, &StatusView { code: otlp::status::StatusCode::Error, message: description.as_str() });
            }
        }
        let flags =
            u32::from(context.trace_flags().bits()) | HAS_IS_REMOTE | if data.parent_is_remote { IS_REMOTE } else { 0 };
        s.fixed32_field(16, flags);
    }
}

struct EventView<'a> {
    event: &'a Event,
    attributes: &'a [KeyValue],
    limits: ValueLimits,
}

impl Fields for EventView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(1, clock::ticks_to_unix_nanos(self.event.ticks));
        s.string_field(2, self.event.name.as_str());
        for kv in self.attributes {
            s.message(3, &AttributeView::top(kv, self.limits));
        }
        s.uint32_field(4, self.event.dropped);
    }
}

struct LinkView<'a> {
    link: &'a Link,
    attributes: &'a [KeyValue],
    state: &'a str,
    limits: ValueLimits,
}

impl Fields for LinkView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        let context = &self.link.context;
        s.bytes_field(1, &context.trace_id().to_bytes());
        s.bytes_field(2, &context.span_id().to_bytes());
        s.string_field(3, self.state);
        for kv in self.attributes {
            s.message(4, &AttributeView::top(kv, self.limits));
        }
        s.uint32_field(5, self.link.dropped);
        s.fixed32_field(6, link_flags(context));
    }
}

struct StatusView<'a> {
    code: otlp::status::StatusCode,
    message: &'a str,
}

impl Fields for StatusView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(2, self.message);
        s.int32_field(3, self.code as i32);
    }
}

/// An attribute as an OTLP `KeyValue`, its value cut as `limits` says (see [`truncated`] and
/// `Value::to_proto_within`); `depth` is its value's (1 for a span's, event's or link's own
/// attribute, one more for each array or map it is inside).
struct AttributeView<'a> {
    key: &'a Text,
    value: &'a Value,
    limits: ValueLimits,
    depth: usize,
}

impl<'a> AttributeView<'a> {
    /// A span's, event's or link's own attribute.
    fn top(kv: &'a KeyValue, limits: ValueLimits) -> Self {
        AttributeView { key: &kv.key, value: &kv.value, limits, depth: 1 }
    }
}

impl Fields for AttributeView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(1, self.key.as_str());
        s.message(2, &ValueView { value: self.value, limits: self.limits, depth: self.depth });
    }
}

/// A value at `depth` as an OTLP `AnyValue`, cut as [`truncated`] cuts it (strings to the length
/// limit in characters, byte arrays to as many bytes, element by element in arrays and maps), an
/// array or map past the depth limit an empty value.
struct ValueView<'a> {
    value: &'a Value,
    limits: ValueLimits,
    depth: usize,
}

impl Fields for ValueView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        let (limits, depth) = (self.limits, self.depth);
        let max_length = limits.length;
        match self.value {
            Value::Array(_) | Value::Map(_) if depth > limits.depth => {}
            Value::Str(text) => {
                let text = text.as_str();
                let cut = max_length.and_then(|max| text.char_indices().nth(max)).map_or(text.len(), |(at, _)| at);
                s.bytes(1, &text.as_bytes()[..cut]);
            }
            Value::Bool(value) => s.varint(2, u64::from(*value)),
            Value::I64(value) => s.varint(3, *value as u64),
            Value::F64(value) => s.fixed64(4, value.to_bits()),
            Value::Array(values) => s.message(5, &ArrayView { values, limits, depth: depth + 1 }),
            Value::Map(entries) => s.message(6, &MapView { entries, limits, depth: depth + 1 }),
            Value::Bytes(bytes) => s.bytes(7, &bytes[..max_length.map_or(bytes.len(), |max| max.min(bytes.len()))]),
        }
    }
}

/// An array's elements, each at `depth`.
struct ArrayView<'a> {
    values: &'a [Value],
    limits: ValueLimits,
    depth: usize,
}

impl Fields for ArrayView<'_> {
    fn visit<S: Sink>(&self, s: &mut S) {
        for value in self.values {
            s.message(1, &ValueView { value, limits: self.limits, depth: self.depth });
        }
    }
}

/// A map's entries, their values at `depth`.
struct MapView<'a> {
    entries: &'a [KeyValue],
    limits: ValueLimits,
    depth: usize,
}

impl Fields for MapView<'_> {
    /// Each key once (see `attributes::unique_entries`).
    fn visit<S: Sink>(&self, s: &mut S) {
        for (key, value) in crate::attributes::unique_entries(self.entries) {
            s.message(1, &AttributeView { key, value, limits: self.limits, depth: self.depth });
        }
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

/// The attribute with its value cut to the length limit (a copy only when something is cut), down
/// to the depth limit: what is deeper is emptied when the value is converted
/// (`Value::to_proto_within`).
fn limited(kv: &KeyValue, limits: ValueLimits) -> std::borrow::Cow<'_, KeyValue> {
    match limits.length.and_then(|max| truncated(&kv.value, max, limits.depth)) {
        Some(value) => std::borrow::Cow::Owned(KeyValue { key: kv.key.clone(), value }),
        None => std::borrow::Cow::Borrowed(kv),
    }
}

/// The value cut to `max` characters (strings) or bytes (byte arrays), element by element in
/// arrays and maps; `room` is how many levels of nesting the depth limit leaves it (the value
/// itself one), an array or map with none left being emptied anyway, uncut. `None` when nothing
/// needs cutting.
fn truncated(value: &Value, max: usize, room: usize) -> Option<Value> {
    match value {
        Value::Array(_) | Value::Map(_) if room == 0 => None,
        Value::Str(text) => {
            let (cut, _) = text.char_indices().nth(max)?;
            Some(Value::from(text[..cut].to_owned()))
        }
        Value::Bytes(bytes) if bytes.len() > max => Some(Value::Bytes(Arc::from(&bytes[..max]))),
        Value::Array(values) => {
            let cut: Vec<Option<Value>> = values.iter().map(|v| truncated(v, max, room - 1)).collect();
            cut.iter().any(Option::is_some).then(|| {
                Value::Array(values.iter().zip(cut).map(|(v, cut)| cut.unwrap_or_else(|| v.clone())).collect())
            })
        }
        Value::Map(entries) => {
            let cut: Vec<Option<Value>> = entries.iter().map(|kv| truncated(&kv.value, max, room - 1)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::Text;
    use crate::trace::TraceState;
    use crate::trace::{
        Context, SpanId, SpanKind as Kind, SpanLimits, Status as SpanStatus, TraceFlags, TraceId, TracerProvider,
    };
    use prost::Message;

    fn every_value_type() -> Vec<KeyValue> {
        vec![
            KeyValue::new("bool", true),
            KeyValue::new("int", -42),
            KeyValue::new("double", -0.0),
            KeyValue::new("static_str", "XNAS"),
            KeyValue::new(String::from("owned_key"), String::from("héllo wörld")),
            KeyValue::new("bytes", vec![0u8, 0xff, 0x10, 7]),
            KeyValue::new("empty", ""),
            KeyValue::new("", "empty key"),
            KeyValue::new("array", vec![Value::from(1), Value::from("twenty"), Value::from(3.5), Value::from(false)]),
            KeyValue::new(
                "map",
                vec![KeyValue::new("inner", vec![KeyValue::new("deep", "deeper")]), KeyValue::new("b", vec![9u8; 9])],
            ),
        ]
    }

    /// Spans of every shape the recorder stores: kinds, statuses, a remote parent with a vendor
    /// state, events and links with attributes (and past their limits), attributes spilled past
    /// the inline ones and set twice, a span ended at a given time.
    fn record_spans(provider: &TracerProvider) {
        let tracer = provider.tracer_with_version("wire", "0.1.0");
        let remote = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::parse("rojo=00f067aa0ba902b7,congo@t61=rcWkgMzE").unwrap(),
        );
        let mut server = tracer
            .span_with_parent("server", &Context::from_span_context(remote.clone()))
            .with_kind(Kind::Server)
            .with_attributes(every_value_type())
            .start();
        server.set_attribute(KeyValue::new("int", 43));
        server.set_status(SpanStatus::Ok);
        {
            let _entered = server.enter();
            let mut client = tracer.span(Text::from(String::from("client"))).with_kind(Kind::Client).start();
            client.add_event("sent", [KeyValue::new("bytes", 512), KeyValue::new("venue", "XNAS")]);
            for i in 0..5 {
                client.add_event("many", [KeyValue::new("i", i)]);
            }
            client.record_exception(&std::io::Error::other("venue closed"));
            client.set_status(SpanStatus::error("venue closed"));
            let producer = tracer.span("producer").with_kind(Kind::Producer).start();
            let producer_context = producer.context().clone();
            drop(producer);
            let mut consumer = tracer
                .span("consumer")
                .with_kind(Kind::Consumer)
                .with_link(producer_context, [KeyValue::new("link.kind", "follows")])
                .start();
            consumer.add_link(remote.clone(), every_value_type());
            consumer.add_link(remote, []);
            drop(consumer);
        }
        drop(server);
        let mut root = tracer.root_span("root").start();
        root.set_status(SpanStatus::error(""));
        root.end_at(1_700_000_000_123_456_789);
        let _internal = tracer.span("").start();
    }

    /// The span read both ways in its slot: its message encoded by prost as a `ScopeSpans`'
    /// one span, and the bytes `write_data` writes.
    fn both_ways(record: SpanRecord, limits: ValueLimits) -> (Vec<u8>, Vec<u8>) {
        record.slot.consume(|data| {
            let message = encode(data, limits);
            let expected = otlp::ScopeSpans { spans: vec![message], ..Default::default() }.encode_to_vec();
            let mut written = Vec::new();
            write_data(data, limits, &mut WireScratch::default(), &mut written);
            (expected, written)
        })
    }

    #[test]
    fn spans_written_from_their_slots_are_their_messages_encoded() {
        let lengths = [None, Some(0), Some(3), Some(64)];
        let depths = [1, 2, 3, 64];
        for (length, depth) in lengths.into_iter().flat_map(|length| depths.map(|depth| (length, depth))) {
            let span_limits = SpanLimits {
                attribute_value_length: length,
                attribute_value_depth: depth,
                event_count: 4,
                link_count: 2,
                attributes_per_link: 6,
                ..SpanLimits::default()
            };
            let limits = span_limits.value_limits();
            let provider = TracerProvider::builder().without_env().with_span_limits(span_limits).build();
            record_spans(&provider);
            let mut spans = 0;
            provider.drain_records(|record| {
                let (expected, written) = both_ways(record, limits);
                assert_eq!(written, expected, "{limits:?}");
                spans += 1;
            });
            assert_eq!(spans, 6);
        }
    }

    /// A value `levels` deep: maps inside one another, a string at the bottom.
    fn nested(levels: usize) -> Value {
        (1..levels).fold(Value::from("bottom"), |inner, _| Value::from(vec![KeyValue::new("k", inner)]))
    }

    /// How deep arrays and maps nest in an OTLP value (a string alone is 1).
    fn depth_of(value: &otlp_common::AnyValue) -> usize {
        use otlp_common::any_value::Value as Any;
        1 + match &value.value {
            Some(Any::KvlistValue(map)) => {
                map.values.iter().filter_map(|kv| kv.value.as_ref()).map(depth_of).max().unwrap_or(0)
            }
            Some(Any::ArrayValue(array)) => array.values.iter().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// The first span drained from `provider`, as its message and as the bytes written from its
    /// slot (which must be that message's).
    fn drained_span(provider: &TracerProvider) -> otlp::Span {
        let limits = provider.limits().value_limits();
        let mut spans = Vec::new();
        provider.drain_records(|record| {
            spans.push(record.slot.consume(|data| {
                let message = encode(data, limits);
                let mut written = Vec::new();
                write_data(data, limits, &mut WireScratch::default(), &mut written);
                let expected = otlp::ScopeSpans { spans: vec![message.clone()], ..Default::default() }.encode_to_vec();
                assert_eq!(written, expected, "{limits:?}");
                message
            }));
        });
        spans.into_iter().next().expect("a span")
    }

    /// The specification's attribute value depth limit (64 by default): an array or map nested
    /// deeper is an empty value, both ways a span is encoded. A lower limit keeps a request within a decoder's recursion
    /// limit (prost's: 100 nested messages, and a map level is three).
    #[test]
    fn values_nested_past_the_depth_limit_are_emptied() {
        use otlp_common::any_value::Value as Any;
        let record_deep = |provider: &TracerProvider| {
            provider.tracer("depth").span("deep").with_attributes([KeyValue::new("doc", nested(100))]).start().end();
        };
        let provider = TracerProvider::builder().without_env().build();
        record_deep(&provider);
        let span = drained_span(&provider);
        let value = span.attributes[0].value.as_ref().expect("a value");
        // 64 levels of maps, the 64th holding an empty value where the 65th map was.
        assert_eq!(depth_of(value), 65);
        let request = otlp::ScopeSpans { spans: vec![span.clone()], ..Default::default() }.encode_to_vec();
        assert!(otlp::ScopeSpans::decode(&*request).is_err(), "past prost's recursion limit at the default");
        let mut bottom = value;
        while let Some(Any::KvlistValue(map)) = &bottom.value {
            bottom = map.values[0].value.as_ref().expect("a value");
        }
        assert_eq!(bottom.value, None, "emptied, not the string below");

        let shallow = SpanLimits { attribute_value_depth: 20, ..SpanLimits::default() };
        let provider = TracerProvider::builder().without_env().with_span_limits(shallow).build();
        record_deep(&provider);
        let request = otlp::ScopeSpans { spans: vec![drained_span(&provider)], ..Default::default() }.encode_to_vec();
        assert!(otlp::ScopeSpans::decode(&*request).is_ok(), "within prost's recursion limit");
        let unlimited = otlp::ScopeSpans {
            spans: vec![otlp::Span {
                attributes: vec![KeyValue::new("doc", nested(100)).to_proto()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(otlp::ScopeSpans::decode(&*unlimited.encode_to_vec()).is_err(), "past it");

        assert_eq!(depth_of(&nested(1_000).to_proto_within(3)), 4);
    }

    /// A map value holding a key twice is exported with the key once, where it first stood, with
    /// its last value, by the wire encoding and `to_proto` alike (the specification: exported maps
    /// MUST hold unique keys; until session 41 both kept every entry).
    #[test]
    fn a_map_value_exports_each_key_once() {
        let map = Value::from(vec![KeyValue::new("a", 1), KeyValue::new("b", 2), KeyValue::new("a", 3)]);
        let provider = TracerProvider::builder().without_env().build();
        provider.tracer("maps").span("s").with_attributes([KeyValue::new("doc", map.clone())]).start().end();
        let span = drained_span(&provider);
        let expected = Value::from(vec![KeyValue::new("a", 3), KeyValue::new("b", 2)]).to_proto();
        assert_eq!(span.attributes[0].value.as_ref(), Some(&expected));
        assert_eq!(map.to_proto(), expected);
    }

    #[test]
    fn values_are_cut_by_characters_and_bytes_recursively() {
        assert_eq!(truncated(&Value::from("héllo"), 2, 64), Some(Value::from(String::from("hé"))));
        assert_eq!(truncated(&Value::from("hé"), 2, 64), None);
        assert_eq!(truncated(&Value::from(vec![1u8, 2, 3]), 2, 64), Some(Value::from(vec![1u8, 2])));
        assert_eq!(truncated(&Value::from(42), 0, 64), None);
        let nested = Value::from(vec![KeyValue::new("k", vec![Value::from("abc"), Value::from(true)])]);
        let expected = Value::from(vec![KeyValue::new("k", vec![Value::from(String::from("a")), Value::from(true)])]);
        assert_eq!(truncated(&nested, 1, 64), Some(expected.clone()));
        assert_eq!(truncated(&nested, 1, 2), Some(expected), "the array at the limit's depth is cut");
        assert_eq!(truncated(&nested, 1, 1), None, "the array past it is emptied later, not cut");
    }
}
