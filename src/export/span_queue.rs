//! The queue of spans the OTLP exporter sends as protobuf: each span already encoded, read
//! straight from its slot when the exporter thread drains the rings, waiting here for its batch.
//!
//! The other path (span processors, an exporter of the user's own, OTLP/JSON, the console) needs
//! each span as its OTLP message, so it converts the span on drain and queues the message in the
//! pipeline's queue; converting cost the exporter thread more than encoding and compressing
//! (benches/README.md, the exporter's whole path). Here nothing of the message is made: the drain
//! writes the span's bytes (`trace::record::write_wire`, held byte-identical to the message's
//! encoding by tests), and a batch is the request assembled around the bytes of its spans.
//!
//! It is the spans' one queue between their rings and their batch, bounded as the pipeline's
//! queue is: the drain takes no more than `max_queue_size` less what both hold (see
//! `RecordSink::room`), and counts each span in and out as the pipeline's queue does.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use super::wire::WireScratch;
use crate::proto::resource::v1::Resource;

use super::pipeline::Scope;
use super::wire;

/// Spans encoded as field 2 (`spans`) of a `ScopeSpans`, oldest first, with their scopes.
#[derive(Default)]
pub(crate) struct EncodedSpans {
    /// The spans' bytes back to back; those before `start` were taken already.
    bytes: Vec<u8>,
    start: usize,
    /// Where each span waiting ends in `bytes`, oldest first.
    ends: VecDeque<usize>,
    /// Runs of consecutive spans of one scope (the scope, how many), oldest first: usually one
    /// run per tracer per drain, so a span costs no reference count of its own.
    runs: VecDeque<(Scope, usize)>,
    /// The span encoder's working space.
    scratch: WireScratch,
    /// A batch being assembled: its scopes, and each piece of it (a run's bytes) with its scope's
    /// index. Kept for their capacity.
    scopes: Vec<Scope>,
    pieces: Vec<(usize, Range<usize>)>,
    lengths: Vec<usize>,
}

impl EncodedSpans {
    /// How many spans wait.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Adds a span of `scope`, which `write` appends to the buffer it is given (with the working
    /// space of the span encoder).
    pub(crate) fn push(&mut self, scope: &Scope, write: impl FnOnce(&mut WireScratch, &mut Vec<u8>)) {
        write(&mut self.scratch, &mut self.bytes);
        self.ends.push_back(self.bytes.len());
        match self.runs.back_mut() {
            Some((last, count)) if Arc::ptr_eq(last, scope) => *count += 1,
            _ => self.runs.push_back((Arc::clone(scope), 1)),
        }
    }

    /// Forgets every span waiting; returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let count = self.ends.len();
        self.bytes.clear();
        self.start = 0;
        self.ends.clear();
        self.runs.clear();
        count
    }

    /// Writes into `out` (cleared first) the `ExportTraceServiceRequest` of the oldest spans, at
    /// most `max`, under `resource`, grouped by scope as the pipeline's queue groups them (a
    /// `ScopeSpans` per scope, in the order each first appears, spans in their order), and takes
    /// them out; returns how many it took. The bytes are those of the same request built of
    /// messages and encoded.
    pub(crate) fn take_request(&mut self, max: usize, resource: &Resource, out: &mut Vec<u8>) -> usize {
        out.clear();
        self.scopes.clear();
        self.pieces.clear();
        let mut taken = 0;
        let mut at = self.start;
        while taken < max {
            let Some((scope, count)) = self.runs.front_mut() else { break };
            let here = (*count).min(max - taken);
            // The run's first `here` spans are contiguous: they end where the last of them ends.
            let end = self.ends[taken + here - 1];
            let group = if let Some(group) = self.scopes.iter().position(|known| Arc::ptr_eq(known, scope)) {
                group
            } else {
                self.scopes.push(Arc::clone(scope));
                self.scopes.len() - 1
            };
            self.pieces.push((group, at..end));
            at = end;
            taken += here;
            *count -= here;
            if *count == 0 {
                self.runs.pop_front();
            }
        }
        if taken == 0 {
            return 0;
        }
        // The lengths, innermost first: each scope's `ScopeSpans`, then the `ResourceSpans`.
        let group_len = |group: usize, pieces: &[(usize, Range<usize>)]| -> usize {
            pieces.iter().filter(|(of, _)| *of == group).map(|(_, range)| range.len()).sum()
        };
        let mut resource_spans = wire::field_len(1, wire::message_len(resource, &mut self.lengths));
        for (group, scope) in self.scopes.iter().enumerate() {
            let scope_spans = wire::field_len(1, wire::message_len(scope.as_ref(), &mut self.lengths))
                + group_len(group, &self.pieces);
            resource_spans += wire::field_len(2, scope_spans);
        }
        out.reserve(wire::field_len(1, resource_spans));
        wire::append_field_header(1, resource_spans, out);
        wire::append_field(1, resource, &mut self.lengths, out);
        for (group, scope) in self.scopes.iter().enumerate() {
            let scope_len = wire::message_len(scope.as_ref(), &mut self.lengths);
            wire::append_field_header(2, wire::field_len(1, scope_len) + group_len(group, &self.pieces), out);
            wire::append_field(1, scope.as_ref(), &mut self.lengths, out);
            for (_, range) in self.pieces.iter().filter(|(of, _)| *of == group) {
                out.extend_from_slice(&self.bytes[range.clone()]);
            }
        }
        self.ends.drain(..taken);
        self.start = at;
        self.compact();
        taken
    }

    /// Moves what still waits to the front of the buffer once the bytes taken are at least as
    /// many as those left (each byte is moved a bounded number of times on average), or clears
    /// it when nothing waits: the buffer stays within twice what waits, plus its capacity.
    fn compact(&mut self) {
        if self.ends.is_empty() {
            self.bytes.clear();
            self.start = 0;
        } else if self.start >= self.bytes.len() - self.start {
            self.bytes.drain(..self.start);
            for end in &mut self.ends {
                *end -= self.start;
            }
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
    use crate::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use crate::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn span(i: u64) -> Span {
        Span {
            trace_id: vec![i as u8 + 1; 16],
            span_id: vec![i as u8 + 2; 8],
            name: format!("span {i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            attributes: vec![KeyValue {
                key: "i".into(),
                value: Some(AnyValue { value: Some(any_value::Value::IntValue(i as i64)) }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn resource() -> Resource {
        Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue("svc".into())) }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// The request the pipeline's queue makes of the same spans: grouped by scope in order of
    /// first appearance, encoded by prost.
    fn expected(spans: &[(Scope, Span)]) -> Vec<u8> {
        let mut groups: Vec<(Scope, Vec<Span>)> = Vec::new();
        for (scope, span) in spans {
            match groups.iter_mut().find(|(known, _)| Arc::ptr_eq(known, scope)) {
                Some((_, group)) => group.push(span.clone()),
                None => groups.push((scope.clone(), vec![span.clone()])),
            }
        }
        let scope_spans = groups
            .into_iter()
            .map(|(scope, spans)| ScopeSpans { scope: Some((*scope).clone()), spans, ..Default::default() })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans { resource: Some(resource()), scope_spans, ..Default::default() }],
        }
        .encode_to_vec()
    }

    /// Spans of two scopes, interleaved in runs, taken in batches that cut runs: every request is
    /// prost's encoding of the same spans, and the buffer is reused.
    #[test]
    fn batches_are_the_requests_prost_encodes() {
        let a: Scope = Arc::new(InstrumentationScope { name: "a".into(), ..Default::default() });
        let b: Scope = Arc::new(InstrumentationScope { name: "b".into(), version: "1.0".into(), ..Default::default() });
        let order: Vec<(Scope, Span)> =
            (0..40u64).map(|i| (if (i / 3) % 2 == 0 { a.clone() } else { b.clone() }, span(i))).collect();
        let mut queue = EncodedSpans::default();
        let mut lengths = Vec::new();
        for (scope, span) in &order[..25] {
            queue.push(scope, |_, out| wire::append_field(2, span, &mut lengths, out));
        }
        let mut out = Vec::new();
        assert_eq!(queue.take_request(7, &resource(), &mut out), 7);
        assert_eq!(out, expected(&order[..7]));
        assert_eq!(queue.take_request(10, &resource(), &mut out), 10);
        assert_eq!(out, expected(&order[7..17]));
        // More arrive while some wait (the buffer was compacted in between).
        for (scope, span) in &order[25..] {
            queue.push(scope, |_, out| wire::append_field(2, span, &mut lengths, out));
        }
        assert_eq!(queue.len(), 23);
        assert_eq!(queue.take_request(100, &resource(), &mut out), 23);
        assert_eq!(out, expected(&order[17..]));
        assert_eq!(queue.take_request(100, &resource(), &mut out), 0);
        assert!(queue.bytes.is_empty());
    }

    #[test]
    fn clear_counts_what_waited() {
        let scope: Scope = Arc::new(InstrumentationScope::default());
        let mut queue = EncodedSpans::default();
        let mut lengths = Vec::new();
        for i in 0..3 {
            queue.push(&scope, |_, out| wire::append_field(2, &span(i), &mut lengths, out));
        }
        assert_eq!(queue.clear(), 3);
        assert_eq!(queue.len(), 0);
        let mut out = Vec::new();
        assert_eq!(queue.take_request(10, &resource(), &mut out), 0);
        assert!(out.is_empty());
    }
}
