//! The export pipeline: bounded queues filled by producers, and one dedicated thread that batches,
//! encodes, compresses and sends OTLP over HTTP or gRPC, with retries and a circuit breaker.
//!
//! It knows none of the modules that produce what it sends: spans and log records come through
//! [`RecordSource`]s (the providers' per-thread rings through `ring_source`'s one source), metrics
//! through [`MetricProducer`]s; a Prometheus endpoint beside it is the `Telemetry`'s, not its own.

pub(crate) mod endpoint;
pub(crate) mod headers;
pub(crate) mod response;
pub(crate) mod retry_after;

/// One of the three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans, posted to `/v1/traces`.
    Traces,
    /// Metric data points, posted to `/v1/metrics`.
    Metrics,
    /// Log records, posted to `/v1/logs`.
    Logs,
}

impl Signal {
    /// All signals, in the order the accounting reports them.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The lowercase name used in env vars' values, JSON keys and log lines.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The OTLP/HTTP path relative to a base endpoint, e.g. `v1/traces`.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }
}

mod accounting;
mod at_exit;
mod bounded_queue;
mod breaker;
mod busy;
mod config;
mod console;
mod drop_report;
mod encode;
mod exporter;
pub(crate) mod grpc;
mod lane;
mod pipeline;
mod processor;
mod proxy;
mod retry;
pub(crate) mod ring_source;
mod span_queue;
mod split;
mod telemetry;
mod tls;
mod tls_reload;
mod tls_settings;
mod transport;
#[cfg(test)]
mod unanswered;
pub(crate) mod wire;
mod worker;

pub use accounting::{BreakerSnapshot, BytesSnapshot, DropReason, LatencySnapshot, SignalSnapshot, Snapshot};
pub use breaker::{BreakerConfig, BreakerState};
pub(crate) use config::{resolve as resolve_config, Overrides};
pub use config::{
    BatchConfig, Compression, ConfigError, ExporterKind, PipelineConfig, PrometheusConfig, Protocol, SignalConfig,
    DEFAULT_BACKLOG_MAX_BYTES,
};
pub use encode::{EncodedBody, Encoder, ExportRequest};
pub use exporter::{ExportError, Exporter};
pub use pipeline::{
    data_point_count, FlushError, LateDrops, MetricProducer, Pipeline, PipelineBuilder, PipelineHandle, RecordSink,
    RecordSource, Scope, ShutdownReport, DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use processor::{LogProcessor, SpanProcessor, Verdict};
pub use retry::RetryPolicy;
pub use telemetry::SCOPE_NAME as SELF_TELEMETRY_SCOPE;
pub use tls_settings::{TlsSettings, TrustRoots};
pub use transport::{TransportError, USER_AGENT};
