//! Logs: loggers, log records and the per-thread buffers they wait in.
//!
//! A [`LoggerProvider`] holds the limits, the minimum severity and the buffers; [`Logger`]s (one
//! per instrumentation scope) emit records. A record reads the clock once, takes the trace and
//! span id of the current span (see [`crate::trace::Context`]) and is written into the calling
//! thread's ring: no lock, no wait, and no allocation for a static body and a few attributes. The
//! exporter thread of an attached [`Pipeline`](crate::export::Pipeline) drains the rings and sends
//! the records in batches (`OTEL_BLRP_*`). With the `log` feature, `LogBridge` turns the `log`
//! crate's macros into records.
//!
//! ```
//! use nanotel::attributes::KeyValue;
//! use nanotel::logs::{LoggerProvider, Severity};
//! use nanotel::trace::TracerProvider;
//!
//! let tracer_provider = TracerProvider::builder().without_env().build();
//! let provider = LoggerProvider::builder().without_env().build();
//! let logger = provider.logger("gateway");
//! let tracer = tracer_provider.tracer("gateway");
//! let order = tracer.span("order").start();
//! {
//!     let _entered = order.enter();
//!     logger.emit(Severity::Info, "order accepted", &[KeyValue::new("order.id", 42)]);
//! }
//! let mut span_ids = Vec::new();
//! provider.drain(usize::MAX, |_, record| span_ids.push(record.span_id));
//! assert_eq!(span_ids, [order.context().span_id().to_bytes().to_vec()]);
//! ```

#[cfg(feature = "log")]
mod bridge;
mod buffers;
mod limits;
mod logger;
mod provider;
mod record;
mod severity;

#[cfg(feature = "log")]
pub use bridge::LogBridge;
pub use limits::LogLimits;
pub use logger::{LogRecordBuilder, Logger};
pub(crate) use provider::WeakLoggerProvider;
pub use provider::{LoggerProvider, LoggerProviderBuilder, DEFAULT_BUFFER_CAPACITY, MAX_BUFFER_CAPACITY};
pub use severity::Severity;
