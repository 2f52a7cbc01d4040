//! Exporters of the user's own: a signal's batches handed, on the exporter thread, to the user's
//! code instead of being sent as OTLP (a file, shared memory, a message bus).
//!
//! A batch is the OTLP export request the signal would have sent (after the processors), formed
//! when the signal's batch is due, exactly as for OTLP. The exporter is called with each batch
//! in turn and its answer counted like a collector's: `Ok` as exported, [`ExportError::Rejected`]
//! as `rejected`, [`ExportError::Failed`] as `retries_exhausted`; each call is one request in the
//! accounting (`requests`, `failed_requests`, `export_latency_ns`). The pipeline does not retry,
//! and there is no circuit breaker or backlog: an exporter that can retry does so itself, within
//! the call, and answers `Failed` once it gives up. A panic in `export` is caught, reported once,
//! and counts the batch as `retries_exhausted`. The call blocks the exporter thread (and so the
//! other signals' export) while it runs: it should be quick.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crate::diag::{self, Once};
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;

use super::accounting::{DropReason, SignalCounters};
use super::encode::ExportRequest;
use super::Signal;

/// Why an [`Exporter`] did not take a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportError {
    /// The sink refused the batch and trying again would not help (counted as `rejected`).
    Rejected(String),
    /// The sink could not take the batch, and the exporter has given up on it (counted as
    /// `retries_exhausted`).
    Failed(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Rejected(reason) => write!(f, "rejected: {reason}"),
            ExportError::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// Takes one signal's batches instead of OTLP export, on the exporter thread. `R` is the
/// signal's OTLP request: [`ExportTraceServiceRequest`], [`ExportMetricsServiceRequest`] or
/// [`ExportLogsServiceRequest`].
///
/// Set with [`PipelineBuilder::with_span_exporter`](super::PipelineBuilder::with_span_exporter),
/// [`with_metric_exporter`](super::PipelineBuilder::with_metric_exporter) or
/// [`with_log_exporter`](super::PipelineBuilder::with_log_exporter).
pub trait Exporter<R: ExportRequest>: Send + 'static {
    /// Exports one batch (its items were counted as queued, and are counted by the answer).
    ///
    /// # Errors
    ///
    /// An [`ExportError`] when the batch was not delivered: it says why, and the pipeline counts
    /// the batch's items under it.
    fn export(&mut self, batch: R) -> Result<(), ExportError>;

    /// Called once when the pipeline shuts down, after the last batch (to flush a file, say).
    fn shutdown(&mut self) {}
}

/// A batch formed for one signal.
pub(crate) enum OtlpBatch {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

/// The user's exporters, by signal, and whether each kind of trouble was reported yet.
#[derive(Default)]
pub(crate) struct CustomExporters {
    pub traces: Option<Box<dyn Exporter<ExportTraceServiceRequest>>>,
    pub metrics: Option<Box<dyn Exporter<ExportMetricsServiceRequest>>>,
    pub logs: Option<Box<dyn Exporter<ExportLogsServiceRequest>>>,
    warned: [Once; 3],
}

impl CustomExporters {
    /// Whether `signal` has one.
    pub(crate) fn has(&self, signal: Signal) -> bool {
        match signal {
            Signal::Traces => self.traces.is_some(),
            Signal::Metrics => self.metrics.is_some(),
            Signal::Logs => self.logs.is_some(),
        }
    }

    /// Hands `batch` of `items` items to its signal's exporter and counts the answer (callers
    /// check [`has`](Self::has) first: without an exporter nothing happens).
    pub(crate) fn export(&mut self, batch: OtlpBatch, items: u64, counters: &SignalCounters) {
        let started = Instant::now();
        let (signal, result) = match batch {
            OtlpBatch::Traces(request) => (Signal::Traces, call(&mut self.traces, request)),
            OtlpBatch::Metrics(request) => (Signal::Metrics, call(&mut self.metrics, request)),
            OtlpBatch::Logs(request) => (Signal::Logs, call(&mut self.logs, request)),
        };
        let Some(result) = result else { return };
        counters.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counters.record_latency(started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64);
        let (reason, why) = match result {
            Ok(()) => {
                counters.export_queued(items);
                return;
            }
            Err(Outcome::Refused(ExportError::Rejected(why))) => (DropReason::Rejected, why),
            Err(Outcome::Refused(ExportError::Failed(why))) => (DropReason::RetriesExhausted, why),
            Err(Outcome::Panicked) => (DropReason::RetriesExhausted, "the exporter panicked".to_owned()),
        };
        counters.failed_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counters.drop_queued(reason, items);
        if self.warned[signal as usize].first() {
            diag::error!(
                "the {} exporter did not take a batch of {items} ({why}); dropped as `{}` (reported once)",
                signal.name(),
                reason.name()
            );
        }
    }

    /// Tells every exporter the pipeline is done; a panic there is caught and ignored.
    pub(crate) fn shutdown(&mut self) {
        fn stop<R: ExportRequest + 'static>(exporter: &mut Option<Box<dyn Exporter<R>>>) {
            if let Some(exporter) = exporter {
                let _ = catch_unwind(AssertUnwindSafe(|| exporter.shutdown()));
            }
        }
        stop(&mut self.traces);
        stop(&mut self.metrics);
        stop(&mut self.logs);
    }
}

/// Why a batch was not exported.
enum Outcome {
    Refused(ExportError),
    Panicked,
}

/// The exporter's answer for `request`; `None` without an exporter.
fn call<R: ExportRequest + 'static>(
    exporter: &mut Option<Box<dyn Exporter<R>>>,
    request: R,
) -> Option<Result<(), Outcome>> {
    let exporter = exporter.as_mut()?;
    Some(match catch_unwind(AssertUnwindSafe(|| exporter.export(request))) {
        Ok(result) => result.map_err(Outcome::Refused),
        Err(_) => Err(Outcome::Panicked),
    })
}
