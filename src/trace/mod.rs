//! Tracing: spans, their context, samplers and the per-thread recorder.

mod span_context;

pub use span_context::{SpanContext, SpanId, TraceFlags, TraceId};
