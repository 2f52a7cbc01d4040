//! Sustained span rates with the default settings (issue 19): a burst that a thread's ring of
//! 1024 spans, drained every 20 ms into a queue of 2048, could not hold (it lost everything past
//! about 1,024 spans a drain) goes through whole.
//!
//! The rates themselves are measured in release mode by `examples/sustained_rate.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{ExportError, Exporter, ExporterKind, Pipeline};
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::trace::{SpanKind, TracerProvider};
use nanotel::Signal;

/// Counts the spans it is handed.
struct Count(Arc<AtomicU64>);

impl Exporter<ExportTraceServiceRequest> for Count {
    fn export(&mut self, batch: ExportTraceServiceRequest) -> Result<(), ExportError> {
        let spans = batch.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum();
        self.0.fetch_add(spans, Ordering::Relaxed);
        Ok(())
    }
}

/// More spans than a 1024-span ring and the 2048-span queue hold, fewer than the default ring.
const BURST: u64 = 12_000;

#[test]
fn a_burst_past_a_drain_interval_and_the_queue_loses_nothing_with_the_default_settings() {
    let received = Arc::new(AtomicU64::new(0));
    let pipeline = Pipeline::builder()
        .without_env()
        .with_exporter(Signal::Metrics, ExporterKind::None)
        .with_exporter(Signal::Logs, ExporterKind::None)
        .with_span_exporter(Count(received.clone()))
        .build()
        .unwrap();
    let provider = TracerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    // Back to back, the demo's order-span shape: however fast this thread is, the exporter
    // thread's first drain comes up to a poll interval (20 ms) after the burst begins.
    for i in 0..BURST {
        let mut span = tracer
            .span("order.send")
            .with_kind(SpanKind::Client)
            .with_attribute(KeyValue::new("venue", "XNAS"))
            .with_attribute(KeyValue::new("order.qty", i as i64))
            .start();
        span.set_attribute(KeyValue::new("order.id", i as i64));
    }
    let report = pipeline.shutdown(Duration::from_secs(30));
    let traces = report.accounting.traces;
    assert_eq!(traces.dropped.values().sum::<u64>(), 0, "{:?}", traces.dropped);
    assert_eq!((traces.enqueued, traces.exported), (BURST, BURST));
    assert_eq!(received.load(Ordering::Relaxed), BURST);
}
