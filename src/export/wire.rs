//! A protobuf encoder for the OTLP export requests that measures each nested message once.
//!
//! prost writes a nested message's length before its body by computing that length, which walks
//! the whole subtree; the body's own nested messages do the same, so a value `d` levels deep is
//! visited `d` times. In a metric request an attribute string sits eight levels deep, and with
//! prost encoding cost twice what gzip then spends on the bytes. Here every message describes
//! its fields once ([`Fields::visit`]); a first pass over that description records each nested
//! length in pre-order, and a second pass writes the bytes, taking the lengths in the same order.
//! Because both passes run the same `visit`, they cannot disagree about the layout.
//!
//! The output is byte-for-byte what prost produces (fields in tag order, proto3 defaults left
//! out, repeated scalars packed); the tests hold it to that.

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LENGTH_DELIMITED: u32 = 2;
const FIXED32: u32 = 5;

fn varint_len(value: u64) -> usize {
    // Each byte carries 7 bits; a zero still takes one byte. `bits * 9 / 64 + 1` is the number of
    // 7-bit groups in `bits` bits for every `bits` from 1 to 64, with a multiply and a shift
    // where `div_ceil(7)` costs a multiply, shifts and a subtraction.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    (bits * 9 + 64) / 64
}

fn key_len(tag: u32) -> usize {
    varint_len(u64::from(tag << 3))
}

/// Encodes `request` into `out` (cleared first), using `lengths` as scratch space. Both keep
/// their capacity for the next call.
pub(crate) fn encode_request<R: Fields>(request: &R, lengths: &mut Vec<usize>, out: &mut Vec<u8>) {
    lengths.clear();
    out.clear();
    let mut measure = Measure { lengths, len: 0 };
    request.visit(&mut measure);
    let total = measure.len;
    let mut write = Write::appending(total, lengths, out);
    request.visit(&mut write);
    debug_assert_eq!(write.pos, total);
}

/// Appends `message` to `out` as field `tag` of an enclosing message (key, length, body), using
/// `lengths` as scratch space: how a span is encoded on its own before its batch is assembled
/// around it (see `super::span_queue`). The same bytes as the field within [`encode_request`].
pub(crate) fn append_field<M: Fields>(tag: u32, message: &M, lengths: &mut Vec<usize>, out: &mut Vec<u8>) {
    lengths.clear();
    let mut measure = Measure { lengths, len: 0 };
    measure.message(tag, message);
    let total = measure.len;
    let mut write = Write::appending(total, lengths, out);
    write.message(tag, message);
    debug_assert_eq!(write.pos, total);
}

/// The encoded length of `message`'s body (without a key or length of its own).
pub(crate) fn message_len<M: Fields>(message: &M, lengths: &mut Vec<usize>) -> usize {
    lengths.clear();
    let mut measure = Measure { lengths, len: 0 };
    message.visit(&mut measure);
    measure.len
}

/// The encoded length of a length-delimited field `tag` whose body is `len` bytes.
pub(crate) fn field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + varint_len(len as u64) + len
}

/// Appends the key and length of a length-delimited field `tag` whose `len` bytes of body the
/// caller writes next.
pub(crate) fn append_field_header(tag: u32, len: usize, out: &mut Vec<u8>) {
    let mut write = Write::appending(key_len(tag) + varint_len(len as u64), &[], out);
    write.key(tag, LENGTH_DELIMITED);
    write.raw_varint(len as u64);
}

/// One pass over a message's fields: measuring or writing.
pub(crate) trait Sink {
    fn varint(&mut self, tag: u32, value: u64);
    fn fixed64(&mut self, tag: u32, value: u64);
    fn fixed32(&mut self, tag: u32, value: u32);
    fn bytes(&mut self, tag: u32, value: &[u8]);
    fn message<M: Fields>(&mut self, tag: u32, message: &M);
    fn packed_fixed64(&mut self, tag: u32, values: impl ExactSizeIterator<Item = u64>);
    fn packed_varint(&mut self, tag: u32, values: &[u64]);

    // proto3 leaves scalars at their default value off the wire; oneof members and `optional`
    // fields are written whenever they are set, so they call the methods above directly.
    fn string_field(&mut self, tag: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(tag, value.as_bytes());
        }
    }
    fn bytes_field(&mut self, tag: u32, value: &[u8]) {
        if !value.is_empty() {
            self.bytes(tag, value);
        }
    }
    fn uint32_field(&mut self, tag: u32, value: u32) {
        if value != 0 {
            self.varint(tag, u64::from(value));
        }
    }
    fn int32_field(&mut self, tag: u32, value: i32) {
        if value != 0 {
            // Negative int32 values are sign-extended to ten bytes, as protobuf specifies.
            self.varint(tag, i64::from(value) as u64);
        }
    }
    fn sint32_field(&mut self, tag: u32, value: i32) {
        if value != 0 {
            self.varint(tag, u64::from(((value << 1) ^ (value >> 31)) as u32));
        }
    }
    fn bool_field(&mut self, tag: u32, value: bool) {
        if value {
            self.varint(tag, 1);
        }
    }
    fn fixed32_field(&mut self, tag: u32, value: u32) {
        if value != 0 {
            self.fixed32(tag, value);
        }
    }
    fn fixed64_field(&mut self, tag: u32, value: u64) {
        if value != 0 {
            self.fixed64(tag, value);
        }
    }
    fn double_field(&mut self, tag: u32, value: f64) {
        // The comparison prost makes: -0.0 counts as the default, NaN does not.
        if value != 0.0 {
            self.fixed64(tag, value.to_bits());
        }
    }
    fn optional_double(&mut self, tag: u32, value: Option<f64>) {
        if let Some(value) = value {
            self.fixed64(tag, value.to_bits());
        }
    }
    fn optional_message<M: Fields>(&mut self, tag: u32, message: &Option<M>) {
        if let Some(message) = message {
            self.message(tag, message);
        }
    }
    fn repeated<M: Fields>(&mut self, tag: u32, messages: &[M]) {
        for message in messages {
            self.message(tag, message);
        }
    }
}

/// The first pass: adds up lengths, recording each nested message's in pre-order.
struct Measure<'a> {
    lengths: &'a mut Vec<usize>,
    len: usize,
}

impl Sink for Measure<'_> {
    fn varint(&mut self, tag: u32, value: u64) {
        self.len += key_len(tag) + varint_len(value);
    }
    fn fixed64(&mut self, tag: u32, _: u64) {
        self.len += key_len(tag) + 8;
    }
    fn fixed32(&mut self, tag: u32, _: u32) {
        self.len += key_len(tag) + 4;
    }
    fn bytes(&mut self, tag: u32, value: &[u8]) {
        self.len += key_len(tag) + varint_len(value.len() as u64) + value.len();
    }
    fn message<M: Fields>(&mut self, tag: u32, message: &M) {
        let slot = self.lengths.len();
        self.lengths.push(0);
        let outer = std::mem::replace(&mut self.len, 0);
        message.visit(self);
        let inner = std::mem::replace(&mut self.len, outer);
        self.lengths[slot] = inner;
        self.len += key_len(tag) + varint_len(inner as u64) + inner;
    }
    fn packed_fixed64(&mut self, tag: u32, values: impl ExactSizeIterator<Item = u64>) {
        let inner = values.len() * 8;
        if inner > 0 {
            self.len += key_len(tag) + varint_len(inner as u64) + inner;
        }
    }
    fn packed_varint(&mut self, tag: u32, values: &[u64]) {
        if !values.is_empty() {
            let inner: usize = values.iter().map(|v| varint_len(*v)).sum();
            self.lengths.push(inner);
            self.len += key_len(tag) + varint_len(inner as u64) + inner;
        }
    }
}

/// The second pass: writes the bytes, taking nested lengths in the order they were recorded.
///
/// It writes into bytes the first pass measured and `appending` added to the output at once, by
/// position: a `Vec::push` per byte stored the vector's length back to memory and compared it
/// with the capacity each time, which was most of the pass (benches/README.md, export, session
/// 30).
struct Write<'a> {
    lengths: std::slice::Iter<'a, usize>,
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Write<'a> {
    /// A writer of the `len` bytes it adds to the end of `out` (zeroed until written).
    fn appending(len: usize, lengths: &'a [usize], out: &'a mut Vec<u8>) -> Write<'a> {
        let start = out.len();
        out.resize(start + len, 0);
        Write { lengths: lengths.iter(), out: &mut out[start..], pos: 0 }
    }

    // Both passes run the same `visit`, so every byte written falls within what was measured:
    // the checked `get_mut` costs a compare, and a write past the end (which cannot happen) would
    // be left out rather than panic on the exporter thread.
    fn put(&mut self, byte: u8) {
        if let Some(slot) = self.out.get_mut(self.pos) {
            *slot = byte;
        }
        self.pos += 1;
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        if let Some(slots) = self.out.get_mut(self.pos..self.pos + bytes.len()) {
            copy(bytes, slots);
        }
        self.pos += bytes.len();
    }

    fn raw_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.put(value as u8 | 0x80);
            value >>= 7;
        }
        self.put(value as u8);
    }
    fn key(&mut self, tag: u32, wire_type: u32) {
        self.raw_varint(u64::from(tag << 3 | wire_type));
    }
    fn next_length(&mut self) -> usize {
        // Both passes run the same `visit`, so every length the writer asks for was recorded.
        self.lengths.next().copied().unwrap_or_default()
    }
}

/// Copies `from` into `to` (of the same length). Most strings in a request are a few bytes (keys,
/// venues, names): `copy_from_slice` made each a call to the C library's `memmove` (about a tenth
/// of the encoding's time), where two overlapping fixed-size copies do for up to 16 bytes.
fn copy(from: &[u8], to: &mut [u8]) {
    let len = from.len();
    match len {
        8..=16 => {
            to[..8].copy_from_slice(&from[..8]);
            to[len - 8..].copy_from_slice(&from[len - 8..]);
        }
        4..=7 => {
            to[..4].copy_from_slice(&from[..4]);
            to[len - 4..].copy_from_slice(&from[len - 4..]);
        }
        1..=3 => {
            to[0] = from[0];
            to[len / 2] = from[len / 2];
            to[len - 1] = from[len - 1];
        }
        0 => {}
        _ => to.copy_from_slice(from),
    }
}

impl Sink for Write<'_> {
    fn varint(&mut self, tag: u32, value: u64) {
        self.key(tag, VARINT);
        self.raw_varint(value);
    }
    fn fixed64(&mut self, tag: u32, value: u64) {
        self.key(tag, FIXED64);
        self.put_slice(&value.to_le_bytes());
    }
    fn fixed32(&mut self, tag: u32, value: u32) {
        self.key(tag, FIXED32);
        self.put_slice(&value.to_le_bytes());
    }
    fn bytes(&mut self, tag: u32, value: &[u8]) {
        self.key(tag, LENGTH_DELIMITED);
        self.raw_varint(value.len() as u64);
        self.put_slice(value);
    }
    fn message<M: Fields>(&mut self, tag: u32, message: &M) {
        let len = self.next_length();
        self.key(tag, LENGTH_DELIMITED);
        self.raw_varint(len as u64);
        message.visit(self);
    }
    fn packed_fixed64(&mut self, tag: u32, values: impl ExactSizeIterator<Item = u64>) {
        let len = values.len() * 8;
        if len > 0 {
            self.key(tag, LENGTH_DELIMITED);
            self.raw_varint(len as u64);
            // One range check for the run, not one per value.
            if let Some(slots) = self.out.get_mut(self.pos..self.pos + len) {
                for (slot, value) in slots.chunks_exact_mut(8).zip(values) {
                    slot.copy_from_slice(&value.to_le_bytes());
                }
            }
            self.pos += len;
        }
    }
    fn packed_varint(&mut self, tag: u32, values: &[u64]) {
        if !values.is_empty() {
            let len = self.next_length();
            self.key(tag, LENGTH_DELIMITED);
            self.raw_varint(len as u64);
            for value in values {
                self.raw_varint(*value);
            }
        }
    }
}

/// A message's fields in tag order, as prost encodes them (a oneof sits at its lowest tag).
pub(crate) trait Fields {
    fn visit<S: Sink>(&self, sink: &mut S);
}

impl Fields for ExportTraceServiceRequest {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.resource_spans);
    }
}

impl Fields for ResourceSpans {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.optional_message(1, &self.resource);
        s.repeated(2, &self.scope_spans);
        s.string_field(3, &self.schema_url);
    }
}

impl Fields for ScopeSpans {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.optional_message(1, &self.scope);
        s.repeated(2, &self.spans);
        s.string_field(3, &self.schema_url);
    }
}

impl Fields for Span {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.bytes_field(1, &self.trace_id);
        s.bytes_field(2, &self.span_id);
        s.string_field(3, &self.trace_state);
        s.bytes_field(4, &self.parent_span_id);
        s.string_field(5, &self.name);
        s.int32_field(6, self.kind);
        s.fixed64_field(7, self.start_time_unix_nano);
        s.fixed64_field(8, self.end_time_unix_nano);
        s.repeated(9, &self.attributes);
        s.uint32_field(10, self.dropped_attributes_count);
        s.repeated(11, &self.events);
        s.uint32_field(12, self.dropped_events_count);
        s.repeated(13, &self.links);
        s.uint32_field(14, self.dropped_links_count);
        s.optional_message(15, &self.status);
        s.fixed32_field(16, self.flags);
    }
}

impl Fields for span::Event {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(1, self.time_unix_nano);
        s.string_field(2, &self.name);
        s.repeated(3, &self.attributes);
        s.uint32_field(4, self.dropped_attributes_count);
    }
}

impl Fields for span::Link {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.bytes_field(1, &self.trace_id);
        s.bytes_field(2, &self.span_id);
        s.string_field(3, &self.trace_state);
        s.repeated(4, &self.attributes);
        s.uint32_field(5, self.dropped_attributes_count);
        s.fixed32_field(6, self.flags);
    }
}

impl Fields for Status {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(2, &self.message);
        s.int32_field(3, self.code);
    }
}

impl Fields for ExportLogsServiceRequest {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.resource_logs);
    }
}

impl Fields for ResourceLogs {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.optional_message(1, &self.resource);
        s.repeated(2, &self.scope_logs);
        s.string_field(3, &self.schema_url);
    }
}

impl Fields for ScopeLogs {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.optional_message(1, &self.scope);
        s.repeated(2, &self.log_records);
        s.string_field(3, &self.schema_url);
    }
}

impl Fields for LogRecord {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(1, self.time_unix_nano);
        s.int32_field(2, self.severity_number);
        s.string_field(3, &self.severity_text);
        s.optional_message(5, &self.body);
        s.repeated(6, &self.attributes);
        s.uint32_field(7, self.dropped_attributes_count);
        s.fixed32_field(8, self.flags);
        s.bytes_field(9, &self.trace_id);
        s.bytes_field(10, &self.span_id);
        s.fixed64_field(11, self.observed_time_unix_nano);
        s.string_field(12, &self.event_name);
    }
}

impl Fields for ExportMetricsServiceRequest {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.resource_metrics);
    }
}

impl Fields for ResourceMetrics {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.optional_message(1, &self.resource);
        s.repeated(2, &self.scope_metrics);
        s.string_field(3, &self.schema_url);
    }
}

impl Fields for Resource {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.attributes);
        s.uint32_field(2, self.dropped_attributes_count);
        s.repeated(3, &self.entity_refs);
    }
}

impl Fields for EntityRef {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(1, &self.schema_url);
        s.string_field(2, &self.r#type);
        for key in &self.id_keys {
            s.bytes(3, key.as_bytes());
        }
        for key in &self.description_keys {
            s.bytes(4, key.as_bytes());
        }
    }
}

impl Fields for KeyValue {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(1, &self.key);
        s.optional_message(2, &self.value);
        s.int32_field(3, self.key_strindex);
    }
}

impl Fields for AnyValue {
    fn visit<S: Sink>(&self, s: &mut S) {
        use any_value::Value;
        match &self.value {
            Some(Value::StringValue(text)) => s.bytes(1, text.as_bytes()),
            Some(Value::BoolValue(value)) => s.varint(2, u64::from(*value)),
            Some(Value::IntValue(value)) => s.varint(3, *value as u64),
            Some(Value::DoubleValue(value)) => s.fixed64(4, value.to_bits()),
            Some(Value::ArrayValue(array)) => s.message(5, array),
            Some(Value::KvlistValue(list)) => s.message(6, list),
            Some(Value::BytesValue(bytes)) => s.bytes(7, bytes),
            Some(Value::StringValueStrindex(index)) => s.varint(8, i64::from(*index) as u64),
            None => {}
        }
    }
}

impl Fields for ArrayValue {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.values);
    }
}

impl Fields for KeyValueList {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.values);
    }
}

impl Fields for InstrumentationScope {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(1, &self.name);
        s.string_field(2, &self.version);
        s.repeated(3, &self.attributes);
        s.uint32_field(4, self.dropped_attributes_count);
    }
}

impl Fields for ScopeMetrics {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.optional_message(1, &self.scope);
        s.repeated(2, &self.metrics);
        s.string_field(3, &self.schema_url);
    }
}

impl Fields for Metric {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.string_field(1, &self.name);
        s.string_field(2, &self.description);
        s.string_field(3, &self.unit);
        match &self.data {
            Some(metric::Data::Gauge(gauge)) => s.message(5, gauge),
            Some(metric::Data::Sum(sum)) => s.message(7, sum),
            Some(metric::Data::Histogram(histogram)) => s.message(9, histogram),
            Some(metric::Data::ExponentialHistogram(histogram)) => s.message(10, histogram),
            Some(metric::Data::Summary(summary)) => s.message(11, summary),
            None => {}
        }
        s.repeated(12, &self.metadata);
    }
}

impl Fields for Gauge {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.data_points);
    }
}

impl Fields for Sum {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.data_points);
        s.int32_field(2, self.aggregation_temporality);
        s.bool_field(3, self.is_monotonic);
    }
}

impl Fields for Histogram {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.data_points);
        s.int32_field(2, self.aggregation_temporality);
    }
}

impl Fields for ExponentialHistogram {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.data_points);
        s.int32_field(2, self.aggregation_temporality);
    }
}

impl Fields for Summary {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.data_points);
    }
}

impl Fields for NumberDataPoint {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(2, self.start_time_unix_nano);
        s.fixed64_field(3, self.time_unix_nano);
        match self.value {
            Some(number_data_point::Value::AsDouble(value)) => s.fixed64(4, value.to_bits()),
            Some(number_data_point::Value::AsInt(value)) => s.fixed64(6, value as u64),
            None => {}
        }
        s.repeated(5, &self.exemplars);
        s.repeated(7, &self.attributes);
        s.uint32_field(8, self.flags);
    }
}

impl Fields for HistogramDataPoint {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(2, self.start_time_unix_nano);
        s.fixed64_field(3, self.time_unix_nano);
        s.fixed64_field(4, self.count);
        s.optional_double(5, self.sum);
        s.packed_fixed64(6, self.bucket_counts.iter().copied());
        s.packed_fixed64(7, self.explicit_bounds.iter().map(|bound| bound.to_bits()));
        s.repeated(8, &self.exemplars);
        s.repeated(9, &self.attributes);
        s.uint32_field(10, self.flags);
        s.optional_double(11, self.min);
        s.optional_double(12, self.max);
    }
}

impl Fields for ExponentialHistogramDataPoint {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.repeated(1, &self.attributes);
        s.fixed64_field(2, self.start_time_unix_nano);
        s.fixed64_field(3, self.time_unix_nano);
        s.fixed64_field(4, self.count);
        s.optional_double(5, self.sum);
        s.sint32_field(6, self.scale);
        s.fixed64_field(7, self.zero_count);
        s.optional_message(8, &self.positive);
        s.optional_message(9, &self.negative);
        s.uint32_field(10, self.flags);
        s.repeated(11, &self.exemplars);
        s.optional_double(12, self.min);
        s.optional_double(13, self.max);
        s.double_field(14, self.zero_threshold);
    }
}

impl Fields for Buckets {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.sint32_field(1, self.offset);
        s.packed_varint(2, &self.bucket_counts);
    }
}

impl Fields for SummaryDataPoint {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(2, self.start_time_unix_nano);
        s.fixed64_field(3, self.time_unix_nano);
        s.fixed64_field(4, self.count);
        s.double_field(5, self.sum);
        s.repeated(6, &self.quantile_values);
        s.repeated(7, &self.attributes);
        s.uint32_field(8, self.flags);
    }
}

impl Fields for ValueAtQuantile {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.double_field(1, self.quantile);
        s.double_field(2, self.value);
    }
}

impl Fields for Exemplar {
    fn visit<S: Sink>(&self, s: &mut S) {
        s.fixed64_field(2, self.time_unix_nano);
        match self.value {
            Some(exemplar::Value::AsDouble(value)) => s.fixed64(3, value.to_bits()),
            Some(exemplar::Value::AsInt(value)) => s.fixed64(6, value as u64),
            None => {}
        }
        s.bytes_field(4, &self.span_id);
        s.bytes_field(5, &self.trace_id);
        s.repeated(7, &self.filtered_attributes);
    }
}

/// Working space `trace::record::write_wire` keeps between spans (the encoded span queue holds
/// it), so that a steady stream of spans allocates nothing: nested lengths, and the `tracestate`
/// headers of a span and its links.
#[derive(Default)]
pub(crate) struct WireScratch {
    pub(crate) lengths: Vec<usize>,
    pub(crate) states: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn encode<R: Fields>(request: &R) -> Vec<u8> {
        let (mut lengths, mut out) = (Vec::new(), Vec::new());
        encode_request(request, &mut lengths, &mut out);
        out
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        // Every bit count: the largest value of each and the smallest of the next.
        let edges = (0..64).flat_map(|bits| [(1u64 << bits) - 1, 1u64 << bits]);
        for value in edges.chain([u64::MAX]) {
            let mut out = Vec::new();
            let mut write = Write::appending(10, &[], &mut out);
            write.raw_varint(value);
            assert_eq!(write.pos, varint_len(value), "{value}");
        }
    }

    /// Strings and bytes of every length from 0 to 40 (each way `copy` copies, and past it), as
    /// keys, values and ids: the same bytes as prost.
    #[test]
    fn strings_of_every_short_length_encode_as_prost_does() {
        use crate::proto::common::v1::{any_value, AnyValue, KeyValue};
        let text = |len: usize| (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect::<String>();
        let spans = (0..=40)
            .map(|len| Span {
                name: text(len),
                trace_id: (0..len as u8).collect(),
                attributes: vec![KeyValue {
                    key: text(40 - len),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(text(len))) }),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        };
        assert_eq!(encode(&request), request.encode_to_vec());
    }

    #[test]
    fn an_empty_request_is_empty() {
        assert!(encode(&ExportMetricsServiceRequest::default()).is_empty());
        assert!(encode(&ExportTraceServiceRequest::default()).is_empty());
        assert!(encode(&ExportLogsServiceRequest::default()).is_empty());
    }

    #[test]
    fn defaults_are_left_out_and_negatives_sign_extended() {
        let point = NumberDataPoint { value: Some(number_data_point::Value::AsInt(0)), ..Default::default() };
        let sum = Sum { data_points: vec![point], aggregation_temporality: -1, is_monotonic: false };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric { data: Some(metric::Data::Sum(sum)), ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert_eq!(encode(&request), request.encode_to_vec());
    }

    /// Exemplars of every point type, with either value type, ids or none, and filtered
    /// attributes: the same bytes as prost.
    #[test]
    fn exemplars_encode_as_prost_does() {
        use crate::proto::common::v1::{any_value, AnyValue, KeyValue};
        let exemplar = |value, ids: bool| Exemplar {
            filtered_attributes: vec![KeyValue {
                key: "order.id".into(),
                value: Some(AnyValue { value: Some(any_value::Value::IntValue(42)) }),
                ..Default::default()
            }],
            time_unix_nano: 1_700_000_000_123_456_789,
            span_id: if ids { vec![0xab; 8] } else { Vec::new() },
            trace_id: if ids { vec![0xcd; 16] } else { Vec::new() },
            value: Some(value),
        };
        let exemplars =
            vec![exemplar(exemplar::Value::AsInt(-7), true), exemplar(exemplar::Value::AsDouble(0.25), false)];
        let sum = Sum {
            data_points: vec![NumberDataPoint { exemplars: exemplars.clone(), ..Default::default() }],
            ..Default::default()
        };
        let histogram = Histogram {
            data_points: vec![HistogramDataPoint { exemplars: exemplars.clone(), count: 2, ..Default::default() }],
            ..Default::default()
        };
        let exponential = ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint { exemplars, count: 2, ..Default::default() }],
            ..Default::default()
        };
        let metrics = [
            metric::Data::Sum(sum),
            metric::Data::Histogram(histogram),
            metric::Data::ExponentialHistogram(exponential),
        ]
        .into_iter()
        .map(|data| Metric { name: "m".into(), data: Some(data), ..Default::default() })
        .collect();
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
        };
        assert_eq!(encode(&request), request.encode_to_vec());
    }
}
