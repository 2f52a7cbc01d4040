//! Prometheus: the OTLP → Prometheus translation ([`encode`], [`render`]; see the `text`
//! module's notes, always built), and the scrape endpoint (feature `prometheus`): an HTTP server
//! on a thread of its own, never on the hot path, serving `/metrics` in Prometheus text format
//! 0.0.4 or OpenMetrics 1.0.0 by content negotiation, with that translation and `target_info`
//! from the resource.
//!
//! The [`Telemetry`](crate::Telemetry) that [`init`](crate::init) builds starts one when
//! `prometheus` is listed in `OTEL_METRICS_EXPORTER` (for example `otlp,prometheus`) or set with
//! [`TelemetryBuilder::with_prometheus`](crate::TelemetryBuilder::with_prometheus), at
//! `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT` (default `localhost:9464`),
//! showing its meter provider and the pipeline's own telemetry (see `Telemetry::prometheus`).
//! `PrometheusServer` also runs on its own, without a pipeline.
//!
//! The endpoint runs on a thread of its own: a current-thread tokio runtime there drives hyper's
//! HTTP/1 server, so nothing async reaches the user and an idle or slow client costs a socket,
//! never a thread. Each connection gets one request, answered with `Connection: close`; its head
//! must be at most 8 KiB (else 431) and arrive within the request timeout (default 5 s, else the
//! connection is closed unanswered), and its answer be made within as long again (else 503, see
//! `late_answers`); other paths get 404, methods other than GET and HEAD 405,
//! anything that is not HTTP/1.x 400. At most `DEFAULT_MAX_CONNECTIONS` connections are open at
//! once (see `PrometheusServerBuilder::with_max_connections`): a new one past that closes the oldest
//! idle connection (no request in progress), never one with a request in progress; when all are
//! busy it waits until one ends. So a scrape is answered at once while hundreds of idle or slow
//! clients are connected.
//!
//! Prometheus reads cumulative values: under a delta temporality preference, delta counters and
//! histograms are left out of the exposition (OTLP-NOTES §9.5).

#[cfg(feature = "prometheus")]
mod answer;
#[cfg(feature = "prometheus")]
mod connections;
#[cfg(feature = "prometheus")]
mod late_answers;
// Built without the feature too: the `scrape_negotiation` fuzz target reads it either way.
pub(crate) mod negotiate;
#[cfg(feature = "prometheus")]
mod serve;
#[cfg(feature = "prometheus")]
mod server;
mod text;

#[cfg(feature = "prometheus")]
pub use server::{PrometheusServer, PrometheusServerBuilder, DEFAULT_MAX_CONNECTIONS};
pub use text::{encode, metric_name, Format};

use crate::metrics::MeterProvider;

/// The current values of `provider` as Prometheus text exposition format 0.0.4, without
/// `target_info` (see the `text` module's notes for the translation): for in-process views.
///
/// ```
/// use nanotel::metrics::MeterProvider;
///
/// let provider = MeterProvider::builder().without_env().build();
/// provider.meter("gateway").u64_counter("orders").build().unwrap().add(3, &[]);
/// assert!(nanotel::prometheus::render(&provider).contains("orders_total{otel_scope_name=\"gateway\"} 3"));
/// ```
#[must_use]
pub fn render(provider: &MeterProvider) -> String {
    encode(&provider.snapshot(), None, Format::Text)
}
