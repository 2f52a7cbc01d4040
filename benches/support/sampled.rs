//! The sampled span context the exemplar benchmarks (`metrics`, `touched`) record within: the
//! default exemplar filter keeps an exemplar from each record made while it is current.

use nanotel::trace::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// A remote, sampled span's context, with fixed ids.
pub fn sampled_context() -> Context {
    Context::from_span_context(SpanContext::new(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    ))
}
