//! The export pipeline against the loopback collector, over real HTTP on 127.0.0.1: encodings,
//! retries, the circuit breaker, Retry-After, shutdown deadlines, and the accounting identity
//! `enqueued = exported + dropped + queued` in every scenario.

#[path = "support/accounting.rs"]
mod accounting;

use accounting::{assert_identity, wait_for, WAIT};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanotel::export::{
    BatchConfig, BreakerConfig, Compression, DropReason, ExporterKind, FlushError, MetricProducer, Pipeline,
    PipelineBuilder, Protocol, RetryPolicy,
};
use nanotel::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ScopeMetrics};
use nanotel::proto::trace::v1::Span;
use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};

fn scope(name: &str) -> nanotel::export::Scope {
    Arc::new(InstrumentationScope { name: name.into(), version: "1.0".into(), ..Default::default() })
}

fn span(i: u64) -> Span {
    let mut trace_id = vec![0u8; 16];
    trace_id[..8].copy_from_slice(&(i + 1).to_be_bytes());
    Span {
        trace_id,
        span_id: (i + 1).to_be_bytes().to_vec(),
        name: format!("order-{i}"),
        start_time_unix_nano: 1_700_000_000_000_000_000 + i,
        end_time_unix_nano: 1_700_000_000_000_001_000 + i,
        attributes: vec![KeyValue {
            key: "venue".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue("XNAS".into())) }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn log(i: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000 + i,
        observed_time_unix_nano: 1_700_000_000_000_000_000 + i,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("filled {i}"))) }),
        ..Default::default()
    }
}

fn gauge_scope(points: usize) -> ScopeMetrics {
    let data_points = (0..points)
        .map(|i| NumberDataPoint {
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(nanotel::proto::metrics::v1::number_data_point::Value::AsInt(i as i64)),
            ..Default::default()
        })
        .collect();
    ScopeMetrics {
        scope: Some(InstrumentationScope { name: "gateway".into(), ..Default::default() }),
        metrics: vec![Metric {
            name: "book.depth".into(),
            data: Some(metric::Data::Gauge(Gauge { data_points })),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A builder isolated from the process environment, with short delays so tests run fast.
fn builder(collector: &TestCollector) -> PipelineBuilder {
    let fast = |signal| BatchConfig { schedule_delay: Duration::from_millis(50), ..BatchConfig::defaults(signal) };
    Pipeline::builder()
        .without_env()
        // These tests count the metric points they send; the pipeline's own would add to them.
        .with_self_telemetry(false)
        .with_endpoint(collector.endpoint())
        .with_batch(Signal::Traces, fast(Signal::Traces))
        .with_batch(Signal::Logs, fast(Signal::Logs))
        .with_batch(Signal::Metrics, fast(Signal::Metrics))
        .with_poll_interval(Duration::from_millis(5))
        .with_timeout(Duration::from_secs(2))
        .with_retry(RetryPolicy {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        })
}

#[test]
fn gzip_protobuf_delivers_every_signal_intact() {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector).with_header("x-desk", "equities").build().unwrap();
    let handle = pipeline.handle();
    let (gateway, venues) = (scope("gateway"), scope("venues"));
    for i in 0..300 {
        assert!(handle.send_span(if i % 3 == 0 { &venues } else { &gateway }, span(i)));
    }
    for i in 0..20 {
        assert!(handle.send_log(&gateway, log(i)));
    }
    assert!(handle.send_metrics(gauge_scope(7)));
    pipeline.force_flush(WAIT).unwrap();

    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.traces.exported, 300);
    assert_eq!(snapshot.logs.exported, 20);
    assert_eq!(snapshot.metrics.exported, 7);
    assert_identity(&snapshot);
    assert!(snapshot.traces.bytes.sent < snapshot.traces.bytes.uncompressed, "gzip shrinks the body");

    let received = collector.received();
    let traces: Vec<_> = received.iter().filter(|r| r.signal == Signal::Traces).collect();
    let mut spans = Vec::new();
    for request in &traces {
        assert_eq!(request.content_type.as_deref(), Some("application/x-protobuf"));
        assert_eq!(request.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(request.header("x-desk"), Some("equities"));
        assert!(request.header("user-agent").unwrap().contains("nanotel/"));
        let body = request.request.as_ref().unwrap().as_traces().unwrap();
        for scope_spans in &body.resource_spans[0].scope_spans {
            let name = &scope_spans.scope.as_ref().unwrap().name;
            for span in &scope_spans.spans {
                let i: u64 = span.name.trim_start_matches("order-").parse().unwrap();
                assert_eq!(name, if i.is_multiple_of(3) { "venues" } else { "gateway" });
                spans.push(span.clone());
            }
        }
        let resource = body.resource_spans[0].resource.as_ref().unwrap();
        assert!(resource.attributes.iter().any(|kv| kv.key == "telemetry.sdk.name"));
    }
    spans.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(spans, (0..300).map(span).collect::<Vec<_>>());
    assert_eq!(collector.accepted_items(Signal::Logs), 20);
    assert_eq!(collector.accepted_items(Signal::Metrics), 7);

    let report = pipeline.shutdown(WAIT);
    assert!(report.completed);
    assert_identity(&report.accounting);
}

#[test]
fn batches_respect_the_maximum_batch_size() {
    let collector = TestCollector::start().unwrap();
    let batch = BatchConfig { max_export_batch_size: 100, ..BatchConfig::defaults(Signal::Traces) };
    let pipeline = builder(&collector).with_batch(Signal::Traces, batch).build().unwrap();
    let gateway = scope("gateway");
    for i in 0..250 {
        pipeline.handle().send_span(&gateway, span(i));
    }
    pipeline.force_flush(WAIT).unwrap();
    let sizes: Vec<u64> = collector.received().iter().map(nanotel_testing::ReceivedRequest::item_count).collect();
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), 250);
}

#[test]
fn json_with_and_without_gzip_round_trips() {
    for compression in [Compression::None, Compression::Gzip] {
        let collector = TestCollector::start().unwrap();
        let pipeline =
            builder(&collector).with_protocol(Protocol::HttpJson).with_compression(compression).build().unwrap();
        let gateway = scope("gateway");
        for i in 0..10 {
            pipeline.handle().send_span(&gateway, span(i));
            pipeline.handle().send_log(&gateway, log(i));
        }
        pipeline.handle().send_metrics(gauge_scope(3));
        pipeline.force_flush(WAIT).unwrap();
        let received = collector.received();
        assert!(received.iter().all(|r| r.content_type.as_deref() == Some("application/json")));
        let spans: Vec<Span> = received
            .iter()
            .filter_map(|r| r.request.as_ref().unwrap().as_traces().cloned())
            .flat_map(|t| t.resource_spans.into_iter().flat_map(|rs| rs.scope_spans).flat_map(|ss| ss.spans))
            .collect();
        assert_eq!(spans, (0..10).map(span).collect::<Vec<_>>(), "{compression:?}");
        assert_eq!(collector.accepted_items(Signal::Logs), 10);
        assert_eq!(collector.accepted_items(Signal::Metrics), 3);
        assert_identity(&pipeline.shutdown(WAIT).accounting);
    }
}

#[test]
fn retryable_failures_are_retried_until_success_with_nothing_lost() {
    let collector = TestCollector::start().unwrap();
    let busy = |code| Reply::Status { code, retry_after: None, message: "busy".into() };
    // A connection closed without an answer is tried once more at once, on a fresh connection,
    // within the same attempt: two resets make one failed attempt.
    collector.script(Some(Signal::Traces), [busy(503), Reply::Reset, Reply::Reset, busy(429), busy(502)]);
    let pipeline = builder(&collector).build().unwrap();
    let gateway = scope("gateway");
    for i in 0..50 {
        pipeline.handle().send_span(&gateway, span(i));
    }
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.traces.exported, 50);
    assert_eq!(snapshot.traces.retries, 4);
    assert_eq!(snapshot.traces.failed_requests, 4);
    assert_eq!(snapshot.traces.dropped_total(), 0);
    assert_eq!(collector.accepted_items(Signal::Traces), 50);
    assert_identity(&snapshot);
}

#[test]
fn a_bad_request_is_not_retried_and_is_counted() {
    let collector = TestCollector::start().unwrap();
    collector.script(
        Some(Signal::Logs),
        [Reply::Status { code: 400, retry_after: None, message: "log body too deep".into() }],
    );
    let pipeline = builder(&collector).build().unwrap();
    let gateway = scope("gateway");
    for i in 0..12 {
        pipeline.handle().send_log(&gateway, log(i));
    }
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(collector.request_count(Signal::Logs), 1);
    assert_eq!(snapshot.logs.dropped(DropReason::Rejected), 12);
    assert_eq!(snapshot.logs.exported, 0);
    assert_eq!(snapshot.logs.retries, 0);
    assert_eq!(snapshot.breaker.state, "closed", "a 400 shows the collector is up");
    assert_identity(&snapshot);
}

#[test]
fn a_partial_success_counts_the_rejected_items() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::PartialSuccess { rejected: 3, message: "bad ids".into() }]);
    let pipeline = builder(&collector).build().unwrap();
    let gateway = scope("gateway");
    for i in 0..10 {
        pipeline.handle().send_span(&gateway, span(i));
    }
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.traces.exported, 7);
    assert_eq!(snapshot.traces.dropped(DropReason::Rejected), 3);
    assert_eq!(collector.accepted_items(Signal::Traces), 7);
    assert_identity(&snapshot);
}

#[test]
fn retries_stop_when_attempts_run_out() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    let pipeline = builder(&collector)
        .with_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    for i in 0..5 {
        pipeline.handle().send_span(&scope("gateway"), span(i));
    }
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(collector.request_count(Signal::Traces), 3);
    assert_eq!(snapshot.traces.dropped(DropReason::RetriesExhausted), 5);
    assert_eq!(snapshot.traces.retries, 2);
    assert_identity(&snapshot);
}

#[test]
fn an_unreachable_collector_exhausts_retries() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_retry(RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    pipeline.handle().send_log(&scope("gateway"), log(1));
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.logs.dropped(DropReason::RetriesExhausted), 1);
    assert_eq!(snapshot.logs.requests, 2);
    assert_identity(&snapshot);
}

#[test]
fn retry_after_is_respected() {
    let collector = TestCollector::start().unwrap();
    collector.script(
        Some(Signal::Traces),
        [Reply::Status { code: 503, retry_after: Some("1".into()), message: "slow down".into() }],
    );
    let pipeline = builder(&collector).build().unwrap();
    pipeline.handle().send_span(&scope("gateway"), span(1));
    pipeline.force_flush(WAIT).unwrap();
    let arrivals: Vec<Instant> = collector.received().iter().map(|r| r.arrived).collect();
    assert_eq!(arrivals.len(), 2);
    let waited = arrivals[1] - arrivals[0];
    assert!(waited >= Duration::from_millis(950), "retried after {waited:?}, asked for 1 s");
    assert!(waited < Duration::from_secs(3), "retried after {waited:?}");
    assert_eq!(pipeline.accounting().traces.exported, 1);
}

#[test]
fn the_breaker_opens_rejects_half_opens_and_closes_on_a_good_probe() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    let pipeline = builder(&collector)
        .with_breaker(BreakerConfig {
            failure_threshold: 3,
            // Long enough that a test thread late by a second still finds it open.
            reset_timeout: Duration::from_secs(2),
            ..BreakerConfig::default()
        })
        .with_retry(RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            max_elapsed: Duration::from_secs(30),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope("gateway"), span(1));
    assert!(collector.wait_until(WAIT, |r| r.len() >= 3));
    std::thread::sleep(Duration::from_millis(200));
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.breaker.state, "open");
    assert_eq!(collector.request_count(Signal::Traces), 3, "nothing is sent while open");
    // A flush while open fails at once instead of waiting for its deadline.
    let started = Instant::now();
    assert!(matches!(pipeline.force_flush(WAIT), Err(FlushError::CircuitOpen { pending: 1 })));
    assert!(started.elapsed() < Duration::from_secs(2));

    collector.set_default(Reply::Accept);
    assert!(collector.wait_until(WAIT, |r| r.len() >= 4));
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.breaker.state, "closed");
    assert_eq!(snapshot.breaker.transitions, 3, "closed → open → half-open → closed");
    assert_eq!(snapshot.traces.exported, 1);
    assert_identity(&snapshot);
}

/// A flush while one signal's breaker is open waits for the other signals to deliver what they
/// hold, then says the breaker blocks the rest: until session 39 it answered at once, and a flush
/// at the process's exit ended with a healthy collector's last batches still out.
#[test]
fn a_flush_blocked_by_one_breaker_still_waits_for_the_other_signals() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    // The log's answer drips in, byte by byte: its request is out for a while.
    collector.script(Some(Signal::Logs), [Reply::Drip(Duration::from_millis(10))]);
    let pipeline = builder(&collector)
        .with_breaker(BreakerConfig {
            failure_threshold: 1,
            reset_timeout: Duration::from_secs(30),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope("gateway"), span(1));
    assert!(wait_for(|| pipeline.accounting().traces.breaker.state == "open"));
    pipeline.handle().send_log(&scope("gateway"), log(1));
    let flushed = pipeline.force_flush(WAIT);
    assert!(matches!(flushed, Err(FlushError::CircuitOpen { pending: 1 })), "{flushed:?}");
    assert_eq!(pipeline.accounting().logs.exported, 1, "{}", pipeline.accounting().to_json());
}

#[test]
fn a_bad_probe_reopens_the_breaker() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Reset);
    let pipeline = builder(&collector)
        .with_breaker(BreakerConfig {
            failure_threshold: 2,
            // Long enough that a test thread late by most of a second still finds it reopened.
            reset_timeout: Duration::from_secs(1),
            ..BreakerConfig::default()
        })
        .with_retry(RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope("gateway"), span(1));
    // Two failures open it; the probe after 1 s fails and reopens it. Each attempt is two
    // requests: a connection closed without an answer is tried once more at once.
    assert!(collector.wait_until(WAIT, |r| r.len() >= 6));
    std::thread::sleep(Duration::from_millis(100));
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.breaker.state, "open");
    assert_eq!(snapshot.breaker.transitions, 3, "closed → open → half-open → open");
    assert_eq!(snapshot.traces.queued, 1, "the batch waits for the next probe");
    let report = pipeline.shutdown(Duration::from_millis(200));
    assert_eq!(report.accounting.traces.dropped(DropReason::Shutdown), 1);
    assert_identity(&report.accounting);
}

#[test]
fn while_open_the_backlog_sheds_its_oldest_batches() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    let batch = BatchConfig {
        max_queue_size: 20,
        max_export_batch_size: 10,
        schedule_delay: Duration::from_millis(10),
        ..BatchConfig::defaults(Signal::Traces)
    };
    let pipeline = builder(&collector)
        .with_batch(Signal::Traces, batch)
        .with_backlog_max_bytes(2048)
        .with_breaker(BreakerConfig {
            failure_threshold: 1,
            reset_timeout: Duration::from_secs(60),
            ..BreakerConfig::default()
        })
        .build()
        .unwrap();
    let gateway = scope("gateway");
    for i in 0..10 {
        pipeline.handle().send_span(&gateway, span(i));
    }
    assert!(collector.wait_until(WAIT, |r| !r.is_empty()));
    // Open now. Keep feeding, slower than the exporter moves the queue into its backlog.
    for i in 10..200 {
        pipeline.handle().send_span(&gateway, span(i));
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.breaker.state, "open");
    assert!(snapshot.traces.dropped(DropReason::CircuitOpen) >= 100, "{}", snapshot.to_json());
    assert!(snapshot.traces.backlog_bytes <= 2048, "the backlog stays within its budget: {}", snapshot.to_json());
    assert_eq!(collector.request_count(Signal::Traces), 1);
    assert_identity(&snapshot);
    let report = pipeline.shutdown(Duration::from_millis(100));
    assert_eq!(report.accounting.traces.queued, 0);
    assert_identity(&report.accounting);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let collector = TestCollector::start().unwrap();
    let batch = BatchConfig {
        max_queue_size: 8,
        max_export_batch_size: 8,
        schedule_delay: Duration::from_secs(60),
        ..BatchConfig::defaults(Signal::Logs)
    };
    // A long poll interval keeps the exporter from draining while the queue is filled.
    let pipeline = builder(&collector)
        .with_batch(Signal::Logs, batch)
        .with_poll_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let accepted = (0..20).filter(|i| pipeline.handle().send_log(&scope("gateway"), log(*i))).count();
    assert_eq!(accepted, 8);
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.logs.dropped(DropReason::QueueFull), 12);
    assert_eq!(snapshot.logs.enqueued, 20);
    assert_identity(&snapshot);
    pipeline.force_flush(WAIT).unwrap();
    assert_eq!(collector.accepted_items(Signal::Logs), 8);
    assert_identity(&pipeline.shutdown(WAIT).accounting);
}

/// Spans handed over as messages (a handle) and spans encoded straight from a provider's slots
/// share one queue bound: a drain takes only what the queue has room for, so a flush of far more
/// spans than the queue holds moves them through it in rounds and delivers every one, with none
/// dropped, grouped under their own scopes.
#[test]
fn spans_from_a_handle_and_from_a_provider_share_the_queue_and_all_arrive() {
    let collector = TestCollector::start().unwrap();
    let batch = BatchConfig {
        max_queue_size: 64,
        max_export_batch_size: 16,
        schedule_delay: Duration::from_secs(60),
        ..BatchConfig::defaults(Signal::Traces)
    };
    // A long poll interval: the flush does the draining.
    let pipeline = builder(&collector)
        .with_batch(Signal::Traces, batch)
        .with_poll_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let provider = nanotel::trace::TracerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("recorded");
    for i in 0..10 {
        assert!(pipeline.handle().send_span(&scope("handed"), span(i)));
    }
    for _ in 0..300 {
        tracer.span("order").start().end();
    }
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!((snapshot.traces.enqueued, snapshot.traces.exported), (310, 310), "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.dropped_total(), 0, "{}", snapshot.to_json());
    assert_identity(&snapshot);
    let mut by_scope = std::collections::HashMap::<String, usize>::new();
    for received in collector.received() {
        let Some(request) = received.request.as_ref().ok().and_then(|r| r.as_traces().cloned()) else { continue };
        for scope_spans in request.resource_spans.iter().flat_map(|r| &r.scope_spans) {
            let name = scope_spans.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            assert!(scope_spans.spans.len() <= 16, "a batch holds at most 16 spans");
            *by_scope.entry(name).or_default() += scope_spans.spans.len();
        }
    }
    assert_eq!(by_scope, [("handed".to_string(), 10), ("recorded".to_string(), 300)].into_iter().collect());
    assert_identity(&pipeline.shutdown(WAIT).accounting);
}

#[test]
fn shutdown_returns_within_its_deadline_against_a_hung_collector() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Hang(Duration::from_secs(60)));
    let pipeline = builder(&collector).with_timeout(Duration::from_secs(30)).build().unwrap();
    for i in 0..40 {
        pipeline.handle().send_span(&scope("gateway"), span(i));
    }
    assert!(collector.wait_until(WAIT, |r| !r.is_empty()), "the request reached the collector");
    let started = Instant::now();
    let report = pipeline.shutdown(Duration::from_millis(500));
    let took = started.elapsed();
    // Against a 60 s hang: well under it, with room for a loaded machine.
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(report.completed);
    assert_eq!(report.accounting.traces.dropped(DropReason::Shutdown), 40);
    assert_eq!(report.accounting.traces.exported, 0);
    assert_eq!(
        report.accounting.traces.in_flight, 0,
        "the abandoned request is not in flight (until session 39 it was)"
    );
    assert_identity(&report.accounting);
}

#[test]
fn flush_never_hangs_past_its_deadline() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Hang(Duration::from_secs(60)));
    let pipeline = builder(&collector).with_timeout(Duration::from_secs(30)).build().unwrap();
    pipeline.handle().send_log(&scope("gateway"), log(1));
    let started = Instant::now();
    let result = pipeline.force_flush(Duration::from_millis(300));
    assert!(matches!(result, Err(FlushError::Timeout { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "flush took {:?}", started.elapsed());
    let report = pipeline.shutdown(Duration::from_millis(300));
    assert_identity(&report.accounting);
}

#[test]
fn items_handed_over_after_shutdown_are_counted() {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector).build().unwrap();
    let handle = pipeline.handle();
    pipeline.shutdown(WAIT);
    assert!(!handle.send_span(&scope("late"), span(1)));
    let snapshot = handle.accounting();
    assert_eq!(snapshot.traces.dropped(DropReason::Shutdown), 1);
    assert_identity(&snapshot);
}

#[test]
fn dropping_the_pipeline_delivers_what_is_queued() {
    let collector = TestCollector::start().unwrap();
    let handle = {
        let pipeline = builder(&collector).build().unwrap();
        let handle = pipeline.handle();
        for i in 0..5 {
            handle.send_span(&scope("gateway"), span(i));
        }
        handle
    };
    assert_eq!(collector.accepted_items(Signal::Traces), 5);
    assert_eq!(handle.accounting().traces.exported, 5);
}

#[test]
fn a_switched_off_signal_queues_nothing() {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector).with_exporter(Signal::Logs, ExporterKind::None).build().unwrap();
    assert!(!pipeline.handle().send_log(&scope("gateway"), log(1)));
    assert_eq!(pipeline.accounting().logs.enqueued, 0);
    pipeline.force_flush(WAIT).unwrap();
    assert_eq!(collector.request_count(Signal::Logs), 0);
}

#[test]
fn metric_producers_are_collected_on_flush() {
    struct Depth;
    impl MetricProducer for Depth {
        fn produce(&mut self) -> Vec<ScopeMetrics> {
            vec![gauge_scope(4)]
        }
    }
    let collector = TestCollector::start().unwrap();
    let batch = BatchConfig { schedule_delay: Duration::from_secs(3600), ..BatchConfig::defaults(Signal::Metrics) };
    let pipeline = builder(&collector).with_batch(Signal::Metrics, batch).build().unwrap();
    pipeline.add_metric_producer(Depth);
    pipeline.force_flush(WAIT).unwrap();
    assert_eq!(collector.accepted_items(Signal::Metrics), 4);
    let report = pipeline.shutdown(WAIT);
    assert_eq!(report.accounting.metrics.exported, 8, "shutdown collects once more");
    assert_identity(&report.accounting);
}

#[test]
fn environment_variables_configure_the_pipeline() {
    let collector = TestCollector::start().unwrap();
    let endpoint = collector.endpoint();
    let pipeline = Pipeline::builder()
        .with_env_lookup(move |name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/json".into()),
            "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("none".into()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("authorization=Bearer%20abc".into()),
            "OTEL_BLRP_SCHEDULE_DELAY" => Some("10".into()),
            "OTEL_SERVICE_NAME" => Some("order-gateway".into()),
            _ => None,
        })
        .with_poll_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    pipeline.handle().send_log(&scope("gateway"), log(1));
    assert!(collector.wait_until(WAIT, |r| !r.is_empty()), "the schedule delay of 10 ms sent it without a flush");
    let request = &collector.received()[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.content_encoding, None);
    assert_eq!(request.header("authorization"), Some("Bearer abc"));
    let logs = request.request.as_ref().unwrap().as_logs().unwrap();
    let resource = logs.resource_logs[0].resource.as_ref().unwrap();
    let service = resource.attributes.iter().find(|kv| kv.key == "service.name").unwrap();
    assert_eq!(service.value.as_ref().unwrap().value, Some(any_value::Value::StringValue("order-gateway".into())));
}

#[test]
fn many_producer_threads_lose_nothing() {
    let collector = TestCollector::start().unwrap();
    let batch = BatchConfig { max_queue_size: 100_000, ..BatchConfig::defaults(Signal::Traces) };
    let pipeline = builder(&collector).with_batch(Signal::Traces, batch).build().unwrap();
    let gateway = scope("gateway");
    std::thread::scope(|threads| {
        for t in 0..4u64 {
            let handle = pipeline.handle();
            let gateway = gateway.clone();
            threads.spawn(move || {
                for i in 0..2_000 {
                    handle.send_span(&gateway, span(t * 10_000 + i));
                }
            });
        }
    });
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.traces.enqueued, 8_000);
    assert_eq!(snapshot.traces.exported, 8_000);
    assert_eq!(collector.accepted_items(Signal::Traces), 8_000);
    assert_identity(&snapshot);
}

/// A console output the tests read back: it takes all it is given or, `lagging`, a few bytes at a
/// time and nothing every other call (a pipe whose reader lags).
#[derive(Clone, Default)]
struct ConsoleCapture {
    /// What was written, and how many calls wrote it.
    written: Arc<std::sync::Mutex<(Vec<u8>, u64)>>,
    lagging: bool,
}

impl std::io::Write for ConsoleCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut written = self.written.lock().unwrap();
        written.1 += 1;
        if self.lagging && written.1.is_multiple_of(2) {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let taken = if self.lagging { bytes.len().min(7) } else { bytes.len() };
        written.0.extend_from_slice(&bytes[..taken]);
        Ok(taken)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Spans 0 to 2 through the console exporter into `output`, flushed; what it wrote, each line
/// read back as a whole request, and the pipeline.
fn three_spans_through_the_console(
    output: &ConsoleCapture,
) -> (String, Vec<nanotel::proto::trace::v1::Span>, Pipeline) {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector)
        .with_exporter(Signal::Traces, ExporterKind::Console)
        .with_console_output(output.clone())
        .build()
        .unwrap();
    for i in 0..3 {
        pipeline.handle().send_span(&scope("gateway"), span(i));
    }
    pipeline.force_flush(WAIT).unwrap();
    assert_eq!(collector.request_count(Signal::Traces), 0);
    let text = String::from_utf8(output.written.lock().unwrap().0.clone()).unwrap();
    // One request per line; how the three spans fell into batches depends on timing.
    let spans = text
        .lines()
        .map(serde_json::from_str::<nanotel::proto::collector::trace::v1::ExportTraceServiceRequest>)
        .map(|request| request.expect("each line a whole request"))
        .flat_map(|request| request.resource_spans.into_iter().flat_map(|rs| rs.scope_spans).flat_map(|ss| ss.spans))
        .collect();
    (text, spans, pipeline)
}

#[test]
fn the_console_exporter_writes_one_otlp_json_line_per_batch() {
    let (text, spans, pipeline) = three_spans_through_the_console(&ConsoleCapture::default());
    assert_eq!(spans, (0..3).map(span).collect::<Vec<_>>());
    assert!(text.contains(r#""traceId":"00000000000000010000000000000000""#), "ids are hex in OTLP/JSON: {text}");
    assert_eq!(pipeline.accounting().traces.exported, 3);
}

/// An output that has room for a few bytes at a time: each line is finished at later passes,
/// none is dropped or broken.
#[test]
fn the_console_exporter_finishes_a_line_the_output_had_no_room_for() {
    let output = ConsoleCapture { lagging: true, ..ConsoleCapture::default() };
    let (_, spans, pipeline) = three_spans_through_the_console(&output);
    assert_eq!(spans, (0..3).map(span).collect::<Vec<_>>());
    assert_eq!(pipeline.accounting().traces.exported, 3);
    assert!(output.written.lock().unwrap().1 > 20, "written over many calls");
}
