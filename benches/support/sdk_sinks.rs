//! The official SDK's exporter contracts, each doing nothing: what the benchmarks' SDK rows export
//! to, so that they measure the SDK's recording and processing, not an exporter.

// Each benchmark uses the sinks of the signals it measures.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;

/// Spans, dropped.
#[derive(Debug)]
pub struct NoopSpans;

impl opentelemetry_sdk::trace::SpanExporter for NoopSpans {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        drop(black_box(batch));
        std::future::ready(Ok(()))
    }
}

/// Log records, dropped.
#[derive(Debug)]
pub struct NoopLogs;

impl opentelemetry_sdk::logs::LogExporter for NoopLogs {
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        black_box(batch);
        std::future::ready(Ok(()))
    }
}

/// Metrics, dropped (cumulative, as nanotel's default).
pub struct NoopMetrics;

impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for NoopMetrics {
    async fn export(&self, _metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        opentelemetry_sdk::metrics::Temporality::Cumulative
    }
}
