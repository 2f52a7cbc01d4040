//! The Prometheus scrape endpoint (feature `prometheus`): an HTTP server on threads of its own,
//! never on the hot path, serving `/metrics` in Prometheus text format 0.0.4 or OpenMetrics
//! 1.0.0 by content negotiation, with the OTLP → Prometheus translation of
//! [`metrics::prometheus`](crate::metrics::prometheus) and `target_info` from the resource.
//!
//! A [`Pipeline`](crate::export::Pipeline) starts one itself when `prometheus` is listed in
//! `OTEL_METRICS_EXPORTER` (for example `otlp,prometheus`) or set with
//! [`PipelineBuilder::prometheus`](crate::export::PipelineBuilder::prometheus), at
//! `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT` (default `localhost:9464`);
//! [`MeterProvider::attach`](crate::metrics::MeterProvider::attach) adds the provider to it, and
//! the pipeline's own telemetry is on it too. [`PrometheusServer`] also runs on its own, without
//! a pipeline.
//!
//! The server takes one request per connection (answered with `Connection: close`), with a head
//! of at most 8 KiB (else 431) arriving within the request timeout (else 408); other paths get
//! 404, methods other than GET and HEAD 405, anything that is not HTTP/1.x 400. Each connection
//! is answered on a short-lived thread of its own, at most 64 at once (connections past that get
//! 503), so a slow client holds up only itself, for the request timeout at most.
//!
//! Prometheus reads cumulative values: under a delta temporality preference, delta counters and
//! histograms are left out of the exposition (OTLP-NOTES §9.5).

mod negotiate;
mod request;
mod server;

pub use crate::metrics::prometheus::Format;
pub use server::{PrometheusServer, PrometheusServerBuilder};
