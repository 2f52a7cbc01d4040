//! Tracing: spans, their context, samplers and the per-thread recorder.
//!
//! A [`TracerProvider`] holds the sampler, the span limits and the recorder; [`Tracer`]s (one per
//! instrumentation scope) start [`Span`]s. A sampled span writes its context and data once, in
//! place, into a slot of the calling thread's preallocated slab, reads the clock's raw counter twice
//! (see [`crate::clock`]), and on ending hands the slot to the thread's ring; a span that is not
//! sampled reads no clock and writes no buffer. A span's ids are drawn when its context is first
//! read (entered, propagated, or given a child; for a recorded span, at the latest when it is
//! encoded). The exporter thread of an attached [`Pipeline`](crate::export::Pipeline)
//! drains the rings. When a thread's slots are all taken (the exporter is not keeping up), new
//! spans are dropped and counted: recording never blocks, and memory stays bounded.
//!
//! ```
//! use nanotel::attributes::KeyValue;
//! use nanotel::trace::{Context, FutureExt, SpanKind, TracerProvider};
//!
//! let provider = TracerProvider::builder().without_env().build();
//! let tracer = provider.tracer("gateway");
//! let order = tracer.span("order").with_kind(SpanKind::Server).start();
//! let _entered = order.enter();
//! let child = tracer.span("risk").with_attribute(KeyValue::new("limit", 1_000_000)).start();
//! assert_eq!(child.context().trace_id(), order.context().trace_id());
//! // For another thread or an async task, carry the context explicitly:
//! let task = async {}.with_context(Context::current());
//! # drop(task);
//! ```

pub(crate) mod context;
mod extras;
pub(crate) mod ids;
mod lazy_context;
mod limits;
mod provider;
pub(crate) mod record;
pub(crate) mod recorder;
mod sampler;
mod slab;
mod span;
mod span_context;
pub(crate) mod trace_state;

pub use crate::buffer::attributes::INLINE_ATTRIBUTES;
pub use context::{Context, ContextGuard, FutureExt, WithContext};
pub use limits::SpanLimits;
pub(crate) use provider::WeakTracerProvider;
pub use provider::{Tracer, TracerProvider, TracerProviderBuilder, DEFAULT_RING_CAPACITY, MAX_RING_CAPACITY};
pub use sampler::{ParentBased, Sampler, SamplingInput, SamplingResult, ShouldSample};
pub use span::{Span, SpanBuilder, SpanKind, Status};
pub use span_context::{SpanContext, SpanId, TraceFlags, TraceId};
pub use trace_state::{TraceState, TraceStateError};
