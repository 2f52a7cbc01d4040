//! The extension points on the exporter thread, through the wire: span and log processors
//! (redaction, an added attribute, drops counted as `processor`, a panic survived), exporters
//! of the user's own (every item received, the accounting matching, errors counted), and panics
//! in the other code of the user's that the exporter thread runs.

#[path = "support/accounting.rs"]
mod accounting;
#[path = "support/otlp_attributes.rs"]
mod otlp_attributes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{
    Compression, DropReason, ExportError, Exporter, MetricProducer, Pipeline, PipelineBuilder, RecordSink,
    RecordSource, Verdict,
};
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::metrics::{MeterProvider, Observer, TemporalityPreference};
use nanotel::proto::collector::logs::v1::ExportLogsServiceRequest;
use nanotel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::proto::common::v1::{any_value::Value as Any, AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::metrics::v1::number_data_point::Value;
use nanotel::proto::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ScopeMetrics};
use nanotel::proto::trace::v1::Span as OtlpSpan;
use nanotel::trace::TracerProvider;
use nanotel::Signal;
use nanotel_testing::TestCollector;

use accounting::assert_identity;
use otlp_attributes::string_value;

fn pipeline(collector: &TestCollector, configure: impl FnOnce(PipelineBuilder) -> PipelineBuilder) -> Pipeline {
    configure(Pipeline::builder().without_env().with_endpoint(collector.endpoint())).build().unwrap()
}

fn received_spans(collector: &TestCollector) -> Vec<OtlpSpan> {
    let requests = collector.received();
    let traces = requests.iter().filter_map(|r| r.request.as_ref().ok()?.as_traces().cloned());
    traces.flat_map(|t| t.resource_spans).flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect()
}

fn received_logs(collector: &TestCollector) -> Vec<LogRecord> {
    let requests = collector.received();
    let logs = requests.iter().filter_map(|r| r.request.as_ref().ok()?.as_logs().cloned());
    logs.flat_map(|l| l.resource_logs).flat_map(|r| r.scope_logs).flat_map(|s| s.log_records).collect()
}

#[expect(clippy::unnecessary_wraps, reason = "returns the `Option` the field it is compared with holds")]
fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(Any::StringValue(value.to_owned())) })
}

/// Redacts `account`, adds `desk`, drops spans named `heartbeat`.
fn redact(scope: &InstrumentationScope, span: &mut OtlpSpan) -> Verdict {
    if span.name == "heartbeat" {
        return Verdict::Drop;
    }
    for kv in span.attributes.iter_mut().filter(|kv| kv.key == "account") {
        kv.value = text("***");
    }
    span.attributes.push(OtlpKeyValue { key: "desk".into(), value: text(&scope.name), ..Default::default() });
    Verdict::Keep
}

#[test]
fn span_processors_redact_add_and_drop_what_the_collector_receives() {
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, |builder| builder.with_span_processor(redact));
    let provider = TracerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("equities");
    for i in 0..20 {
        drop(tracer.span("order").with_attribute(KeyValue::new("account", format!("ACC-{i}"))).start());
        drop(tracer.span("heartbeat").start());
    }
    let report = pipeline.shutdown(Duration::from_secs(10));
    let traces = &report.accounting.traces;
    assert_eq!((traces.exported, traces.dropped(DropReason::Processor)), (20, 20), "{}", report.accounting.to_json());
    assert_eq!(report.accounting.traces.dropped["processor"], 20, "the JSON key");
    assert_identity(&report.accounting);
    let spans = received_spans(&collector);
    assert_eq!(spans.len(), 20);
    for span in &spans {
        assert_eq!(span.name, "order");
        assert_eq!(string_value(&span.attributes, "account"), Some("***"));
        assert_eq!(string_value(&span.attributes, "desk"), Some("equities"));
    }
}

#[test]
fn tail_sampling_keeps_only_slow_orders() {
    const THRESHOLD_NS: u64 = 5_000_000;
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, |builder| {
        builder.with_span_processor(|_: &InstrumentationScope, span: &mut OtlpSpan| {
            let took = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano);
            if span.name == "order" && took < THRESHOLD_NS {
                Verdict::Drop
            } else {
                Verdict::Keep
            }
        })
    });
    let provider = TracerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    for slow in [false, true, false, false, true] {
        let _order = tracer.span("order").with_attribute(KeyValue::new("slow", slow)).start();
        if slow {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let report = pipeline.shutdown(Duration::from_secs(10));
    assert_eq!(report.accounting.traces.exported, 2);
    assert_eq!(report.accounting.traces.dropped(DropReason::Processor), 3);
    assert!(received_spans(&collector).iter().all(|s| s.end_time_unix_nano - s.start_time_unix_nano >= THRESHOLD_NS));
}

#[test]
fn a_panicking_processor_drops_its_record_and_the_exporter_goes_on() {
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, |builder| {
        builder
            .with_log_processor(|_: &InstrumentationScope, record: &mut LogRecord| {
                assert!(record.body != text("boom"), "a processor bug");
                Verdict::Keep
            })
            .with_log_processor(|_: &InstrumentationScope, record: &mut LogRecord| {
                record.attributes.retain(|kv| kv.key != "password");
                if record.severity_number < Severity::Info as i32 {
                    Verdict::Drop
                } else {
                    Verdict::Keep
                }
            })
    });
    let provider = LoggerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let logger = provider.logger("gateway");
    for round in 0..3 {
        logger.emit(Severity::Info, "login", &[KeyValue::new("user", "amy"), KeyValue::new("password", "hunter2")]);
        logger.emit(Severity::Debug, "noise", &[]);
        logger.emit(Severity::Warn, "boom", &[]);
        // Later batches still go out: the exporter thread survived.
        pipeline.force_flush(Duration::from_secs(10)).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let report = pipeline.shutdown(Duration::from_secs(10));
    let logs = &report.accounting.logs;
    assert_eq!((logs.exported, logs.dropped(DropReason::Processor)), (3, 6), "{}", report.accounting.to_json());
    assert_identity(&report.accounting);
    let records = received_logs(&collector);
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(record.body, text("login"));
        assert_eq!(string_value(&record.attributes, "user"), Some("amy"));
        assert_eq!(string_value(&record.attributes, "password"), None);
    }
}

/// A metric producer of one's own that panics at every other collection.
struct PanicsEveryOther(u64);

impl MetricProducer for PanicsEveryOther {
    fn produce(&mut self) -> Vec<ScopeMetrics> {
        self.0 += 1;
        assert!(self.0.is_multiple_of(2), "a producer bug");
        let point = NumberDataPoint { value: Some(Value::AsInt(self.0.cast_signed())), ..Default::default() };
        let data = Some(metric::Data::Gauge(Gauge { data_points: vec![point] }));
        vec![ScopeMetrics {
            metrics: vec![Metric { name: "produced".into(), data, ..Default::default() }],
            ..Default::default()
        }]
    }
}

/// A record source of one's own that panics at every drain (and at close).
struct PanicsAtEveryDrain;

impl RecordSource for PanicsAtEveryDrain {
    fn drain(&mut self, _: &mut RecordSink<'_>) {
        panic!("a source bug");
    }

    fn close(&mut self, _: &mut RecordSink<'_>) {
        panic!("a source bug at shutdown");
    }
}

/// The application's code that the exporter thread runs besides processors and exporters (an
/// observable instrument's callback, a metric producer or record source of its own) may panic:
/// the thread goes on exporting every signal. (Before, such a panic ended it: every later span,
/// log record and data point stayed in its buffers, uncounted, and flushes failed.) An observable
/// instrument whose callback panicked is left out of that collection, so that its deltas stay
/// exact: the callback below panics at every other collection between its two series.
#[test]
fn panics_in_callbacks_producers_and_sources_leave_the_exporter_running() {
    let collector = TestCollector::start().unwrap();
    let pipeline =
        pipeline(&collector, |builder| builder.with_compression(Compression::None).with_self_telemetry(false));
    let meters = MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    let collections = AtomicU64::new(0);
    let callback = move |observer: &mut Observer<u64>| {
        let collection = collections.fetch_add(1, Ordering::Relaxed) + 1;
        observer.observe(10 * collection, &[KeyValue::new("venue", "XNAS")]);
        assert!(collection.is_multiple_of(2), "a callback bug");
        observer.observe(100 * collection, &[KeyValue::new("venue", "ARCA")]);
    };
    let _fills = meters.meter("gateway").u64_observable_counter("fills").with_callback(callback).build().unwrap();
    meters.attach(&pipeline);
    pipeline.add_metric_producer(PanicsEveryOther(0));
    pipeline.add_record_source(PanicsAtEveryDrain);
    let tracers = TracerProvider::builder().without_env().build();
    tracers.attach(&pipeline);
    let tracer = tracers.tracer("gateway");
    for round in 0..4 {
        tracer.span("order").start().end();
        pipeline.force_flush(Duration::from_secs(10)).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let handle = pipeline.handle();
    let report = pipeline.shutdown(Duration::from_secs(10));
    assert_eq!(report.accounting.traces.exported, 4, "{}", report.accounting.to_json());
    // Closed at shutdown after the source that panicked there: a span ended now is counted.
    tracer.span("after shutdown").start().end();
    let after = handle.accounting();
    assert_eq!(after.traces.dropped(DropReason::Shutdown), 1, "{}", after.to_json());
    assert_identity(&after);
    let points = received_points(&collector);
    let values = |name: &str| points.iter().filter(|(n, _)| n == name).map(|(_, v)| *v).collect::<Vec<_>>();
    // Five collections (four flushes, shutdown); the second and fourth completed.
    assert_eq!(values("fills"), [20, 200, 20, 200], "deltas of the completed collections: XNAS, ARCA, XNAS, ARCA");
    assert_eq!(values("produced"), [2, 4], "the producer's collections that did not panic");
}

/// Every gauge and sum point the collector received, as (metric name, integer value), in order.
fn received_points(collector: &TestCollector) -> Vec<(String, i64)> {
    let requests = collector.received();
    let metrics = requests.iter().filter_map(|r| r.request.as_ref().ok()?.as_metrics().cloned());
    let metrics = metrics.flat_map(|m| m.resource_metrics).flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics);
    let with_points = metrics.filter_map(|m| match m.data {
        Some(metric::Data::Gauge(gauge)) => Some((m.name, gauge.data_points)),
        Some(metric::Data::Sum(sum)) => Some((m.name, sum.data_points)),
        _ => None,
    });
    let points =
        with_points.flat_map(|(name, points)| points.into_iter().map(move |point| (name.clone(), point.value)));
    points
        .map(|(name, value)| (name, if let Some(Value::AsInt(v)) = value { v } else { panic!("int gauges only") }))
        .collect()
}

/// Sends every batch down a channel, as a bridge to another sink would.
struct ToChannel<R>(mpsc::Sender<R>);

impl<R: nanotel::export::ExportRequest + Send + 'static> Exporter<R> for ToChannel<R> {
    fn export(&mut self, batch: R) -> Result<(), ExportError> {
        self.0.send(batch).map_err(|_| ExportError::Failed("the receiver is gone".into()))
    }
}

#[test]
fn exporters_of_ones_own_receive_every_item_of_every_signal() {
    let (spans_to, spans) = mpsc::channel::<ExportTraceServiceRequest>();
    let (metrics_to, metrics) = mpsc::channel::<ExportMetricsServiceRequest>();
    let (logs_to, logs) = mpsc::channel::<ExportLogsServiceRequest>();
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, |builder| {
        builder
            .with_self_telemetry(false)
            .with_span_processor(redact)
            .with_span_exporter(ToChannel(spans_to))
            .with_metric_exporter(ToChannel(metrics_to))
            .with_log_exporter(ToChannel(logs_to))
    });
    assert_eq!(pipeline.config().signal(Signal::Traces).exporter, nanotel::export::ExporterKind::Custom);
    let tracers = TracerProvider::builder().without_env().build();
    tracers.attach(&pipeline);
    let meters = MeterProvider::builder().without_env().build();
    meters.attach(&pipeline);
    let loggers = LoggerProvider::builder().without_env().build();
    loggers.attach(&pipeline);
    let orders = meters.meter("gateway").u64_counter("orders").build().unwrap();
    for i in 0..1500 {
        drop(tracers.tracer("gateway").span("order").with_attribute(KeyValue::new("account", "A")).start());
        loggers.logger("gateway").emit(Severity::Info, "sent", &[KeyValue::new("i", i)]);
        orders.add(1, &[KeyValue::new("venue", if i % 2 == 0 { "XNAS" } else { "XLON" })]);
        if i % 500 == 499 {
            // Within the threads' buffers (1024 records each): nothing is dropped.
            pipeline.force_flush(Duration::from_secs(10)).unwrap();
        }
    }
    let report = pipeline.shutdown(Duration::from_secs(10));
    assert!(collector.received().is_empty(), "nothing went to OTLP");
    assert_identity(&report.accounting);

    let spans: Vec<OtlpSpan> =
        spans.try_iter().flat_map(|r| r.resource_spans).flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect();
    assert_eq!(spans.len(), 1500);
    assert!(spans.iter().all(|s| string_value(&s.attributes, "account") == Some("***")), "processed first");
    let log_count: usize =
        logs.try_iter().flat_map(|r| r.resource_logs).flat_map(|r| r.scope_logs).map(|s| s.log_records.len()).sum();
    assert_eq!(log_count, 1500);
    let points: u64 = metrics
        .try_iter()
        .flat_map(|r| r.resource_metrics)
        .flat_map(|r| r.scope_metrics)
        .map(|s| nanotel::export::data_point_count(&s))
        .sum();
    assert!(points >= 2, "the two series, at every collection");

    let accounting = &report.accounting;
    assert_eq!((accounting.traces.exported, accounting.traces.dropped_total()), (1500, 0));
    assert_eq!((accounting.logs.exported, accounting.logs.dropped_total()), (1500, 0));
    assert_eq!((accounting.metrics.exported, accounting.metrics.dropped_total()), (points, 0));
    assert!(accounting.traces.requests >= 3, "a batch per flush at least: {}", accounting.traces.requests);
    assert_eq!(accounting.traces.export_latency_ns.count, accounting.traces.requests);
}

/// Rejects its first batch, fails its second, panics on its third, takes the rest.
struct Troubled {
    calls: u32,
}

impl Exporter<ExportTraceServiceRequest> for Troubled {
    fn export(&mut self, _: ExportTraceServiceRequest) -> Result<(), ExportError> {
        self.calls += 1;
        match self.calls {
            1 => Err(ExportError::Rejected("schema mismatch".into())),
            2 => Err(ExportError::Failed("disk full".into())),
            3 => panic!("an exporter bug"),
            _ => Ok(()),
        }
    }
}

#[test]
fn an_exporter_that_errs_is_counted_and_the_pipeline_goes_on() {
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, |builder| builder.with_span_exporter(Troubled { calls: 0 }));
    let provider = TracerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    for batch in 1..=4 {
        for _ in 0..batch {
            drop(tracer.span("order").start());
        }
        pipeline.force_flush(Duration::from_secs(10)).unwrap();
    }
    let report = pipeline.shutdown(Duration::from_secs(10));
    let traces = &report.accounting.traces;
    assert_eq!(traces.dropped(DropReason::Rejected), 1, "{}", report.accounting.to_json());
    assert_eq!(traces.dropped(DropReason::RetriesExhausted), 2 + 3, "a failure and a panic");
    assert_eq!(traces.exported, 4);
    assert_eq!((traces.requests, traces.failed_requests), (4, 3));
    assert_identity(&report.accounting);
}

#[test]
fn custom_without_an_exporter_is_a_configuration_error() {
    let result = Pipeline::builder()
        .without_env()
        .with_exporter(Signal::Logs, nanotel::export::ExporterKind::Custom)
        .build()
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(result.is_err_and(|e| e.contains("logs exporter is `Custom` but none was given")));
}

#[test]
fn another_signals_backlog_does_not_hold_back_an_exporter_of_ones_own() {
    // Traces go to a port nothing listens on, and their first batch fills the backlog budget.
    let (logs_to, logs) = mpsc::channel::<ExportLogsServiceRequest>();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint("http://127.0.0.1:9")
        .with_backlog_max_bytes(1)
        .with_self_telemetry(false)
        .with_log_exporter(ToChannel(logs_to))
        .build()
        .unwrap();
    let tracers = TracerProvider::builder().without_env().build();
    tracers.attach(&pipeline);
    let loggers = LoggerProvider::builder().without_env().build();
    loggers.attach(&pipeline);
    drop(tracers.tracer("gateway").span("order").start());
    let _ = pipeline.force_flush(Duration::from_millis(200));
    assert!(pipeline.accounting().traces.backlog_bytes > 0, "{}", pipeline.accounting().to_json());

    for i in 0..10 {
        loggers.logger("gateway").emit(Severity::Info, "sent", &[KeyValue::new("i", i)]);
    }
    assert!(accounting::wait_for(|| pipeline.accounting().logs.exported == 10), "{}", pipeline.accounting().to_json());
    let received: usize =
        logs.try_iter().flat_map(|r| r.resource_logs).flat_map(|r| r.scope_logs).map(|s| s.log_records.len()).sum();
    assert_eq!(received, 10);
    pipeline.shutdown(Duration::from_millis(200));
}
