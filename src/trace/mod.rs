//! Tracing: spans, their context, samplers and the per-thread recorder.
//!
//! A [`TracerProvider`] holds the sampler, the span limits and the recorder; [`Tracer`]s (one per
//! instrumentation scope) start [`Span`]s. A sampled span costs two clock reads (see
//! [`crate::clock`]) and one move into the calling thread's ring; a span that is not sampled reads
//! no clock and writes no buffer. The exporter thread of an attached [`Pipeline`](crate::export::Pipeline)
//! drains the rings.
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

mod attributes;
mod context;
mod ids;
mod limits;
mod provider;
mod record;
mod recorder;
mod ring;
mod sampler;
mod slab;
mod span;
mod span_context;

pub use attributes::INLINE_ATTRIBUTES;
pub use context::{Context, ContextGuard, FutureExt, WithContext};
pub use limits::SpanLimits;
pub use provider::{Tracer, TracerProvider, TracerProviderBuilder, DEFAULT_RING_CAPACITY};
pub use sampler::{ParentBased, Sampler};
pub use span::{Span, SpanBuilder, SpanKind, Status};
pub use span_context::{SpanContext, SpanId, TraceFlags, TraceId};
