//! nanotel: OpenTelemetry metrics, traces and logs at nanosecond cost on the hot path, exported as
//! standard OTLP by a dedicated thread.
//!
//! [`init`] sets everything up from the `OTEL_*` environment ([`builder`] takes settings in code)
//! and returns a [`Telemetry`] guard that flushes and shuts down when dropped; until then its
//! providers are also reachable from anywhere through [`global`] (for libraries):
//!
//! ```
//! # let collector = nanotel_testing::TestCollector::start().unwrap();
//! # std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint());
//! use nanotel::{attributes::KeyValue, logs::Severity};
//!
//! let telemetry = nanotel::init()?; // OTEL_* environment + defaults; keep it alive
//! let meter = telemetry.meter("gateway");
//! let orders = meter.u64_counter("orders").with_unit("{order}").build()?;
//! let xnas_buy = orders.bind(&[KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy")]);
//! let (tracer, logger) = (telemetry.tracer("gateway"), telemetry.logger("gateway"));
//! let mut order = tracer.span("order").start(); // ends when dropped
//! xnas_buy.add(1); // a load and a store on this thread's own stripe, no lookup
//! let _entered = order.enter(); // the current span: log records carry its ids
//! logger.emit(Severity::Info, "order sent", &[KeyValue::new("qty", 100)]);
//! # drop(_entered);
//! # drop(order);
//! # drop(telemetry); // dropping `telemetry` flushes and shuts down
//! # assert_eq!(collector.accepted_items(nanotel::Signal::Traces), 1);
//! # assert_eq!(collector.accepted_items(nanotel::Signal::Logs), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod attributes;
mod buffer;
pub mod clock;
mod config;
mod diag;
pub mod export;
pub mod global;
mod header_text;
mod hex;
pub mod logs;
pub mod metrics;
mod own_threads;
mod percent;
pub mod prometheus;
pub mod propagation;
pub mod proto;
pub mod resource;
mod sync;
mod telemetry;
mod thread_cpus;
mod thread_words;
pub mod trace;
#[cfg(feature = "tracing")]
pub mod tracing_layer;
#[cfg(target_os = "linux")]
mod write_now;

pub use export::Signal;

/// Not part of nanotel's API: no semver promise, not documented. The decoders the fuzz targets
/// drive (fuzz/src/inputs.rs, replayed by tests/fuzz_corpus.rs), reachable for them alone, and
/// what the test collector (the `nanotel-testing` crate) needs: marking its threads as nanotel's
/// own, so the `tracing` layer ignores what they log.
#[doc(hidden)]
pub mod internal {
    pub use crate::export::endpoint::{signal_url, signal_url_for, EndpointError};
    pub use crate::export::grpc::status::outcome as grpc_outcome;
    pub use crate::export::grpc::Message as GrpcMessage;
    pub use crate::export::headers::{parse_headers, ParsedHeaders};
    pub use crate::export::response::{classify_response, ExportOutcome, HttpResponse, MAX_RESPONSE_BODY};
    pub use crate::export::retry_after::parse_retry_after;
    pub use crate::own_threads::mark_current as mark_own_thread;
    pub use crate::prometheus::negotiate::{accepts_gzip, choose_format};
    pub use crate::resource::container::{container_id_from_cgroup, container_id_from_mountinfo};
    pub use crate::resource::env_attributes::{parse_resource_attributes, ParsedAttributes};
    pub use crate::telemetry::environment_problems;
}
pub use telemetry::{builder, init, InitError, Telemetry, TelemetryBuilder};
