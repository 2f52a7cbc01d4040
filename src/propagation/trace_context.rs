//! The W3C Trace Context propagator: `traceparent` and `tracestate` in and out of carriers.

use crate::trace::{trace_state, SpanContext};

use super::{traceparent, Extractor, Injector};

/// Carries a [`SpanContext`] across processes in the W3C `traceparent` and `tracestate` headers.
///
/// ```
/// use std::collections::HashMap;
/// use nanotel::propagation::TraceContextPropagator;
/// use nanotel::trace::TraceState;
/// use nanotel::trace::{SpanContext, SpanId, TraceFlags, TraceId};
///
/// let context = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     false,
///     TraceState::parse("congo=t61rcWkgMzE").unwrap(),
/// );
/// let mut headers = HashMap::new();
/// TraceContextPropagator.inject(&context, &mut headers);
/// assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(headers["tracestate"], "congo=t61rcWkgMzE");
///
/// let remote = TraceContextPropagator.extract(&headers).unwrap();
/// assert!(remote.is_remote());
/// assert_eq!(remote.trace_id(), context.trace_id());
/// assert_eq!(remote.trace_state(), context.trace_state());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextPropagator;

impl TraceContextPropagator {
    /// The `traceparent` header's name.
    pub const TRACEPARENT: &'static str = "traceparent";
    /// The `tracestate` header's name.
    pub const TRACESTATE: &'static str = "tracestate";

    /// Writes `traceparent` (version `00`) and, when the trace state is not empty, `tracestate`
    /// (otherwise it removes any `tracestate` the carrier holds). An invalid context writes
    /// nothing and leaves the carrier as it is, as the OpenTelemetry SDKs do: a carrier reused
    /// across requests is its owner's to clear before a request sent without a span. The
    /// `traceparent` value is formatted on the stack, so with a carrier that reuses its storage
    /// this does not allocate.
    pub fn inject<I: Injector + ?Sized>(&self, context: &SpanContext, carrier: &mut I) {
        if !context.is_valid() {
            return;
        }
        carrier.set(Self::TRACEPARENT, traceparent::encode(context).as_str());
        if context.trace_state().is_empty() {
            carrier.remove(Self::TRACESTATE);
        } else {
            carrier.set(Self::TRACESTATE, &context.trace_state().to_header());
        }
    }

    /// Reads the remote span context, or `None` when there is no usable `traceparent`: absent,
    /// invalid (see [`traceparent::parse`]) or sent more than once. The caller then starts a new
    /// trace; `tracestate` is only read with a valid `traceparent`.
    ///
    /// All `tracestate` lines are combined into one list; an invalid one (see
    /// [`TraceState::parse`](crate::trace::TraceState::parse)) gives an empty trace state but keeps the
    /// context. Without a `tracestate` header this does not allocate.
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<SpanContext> {
        let mut lines = 0usize;
        let mut parsed = None;
        carrier.for_each_value(Self::TRACEPARENT, &mut |value| {
            lines += 1;
            if lines == 1 {
                parsed = traceparent::parse_bytes(value).ok();
            }
        });
        // Two `traceparent` lines cannot both describe the parent: W3C says start anew.
        let context = parsed.filter(|_| lines == 1)?;
        let mut parser = trace_state::Parser::default();
        carrier.for_each_value(Self::TRACESTATE, &mut |line| parser.add_line(line));
        let trace_state = parser.finish().unwrap_or_default();
        Some(SpanContext::new(context.trace_id(), context.span_id(), context.trace_flags(), true, trace_state))
    }
}
