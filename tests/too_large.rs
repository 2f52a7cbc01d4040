//! Batches too large for the collector (its message limit: grpc-go's 4 MiB in the OpenTelemetry
//! Collector) or for the pipeline's own request limit are sent in halves, split again as needed,
//! over gRPC and OTLP/HTTP; only an item too large alone is dropped. Before, the whole batch was.

#[path = "support/accounting.rs"]
mod accounting;
#[path = "support/items.rs"]
mod items;

use accounting::{assert_identity, wait_for};
use items::{log, scope, span};

use nanotel::export::{Compression, DropReason, Pipeline, Protocol, SignalSnapshot};
use nanotel::proto::common::v1::{any_value, AnyValue, KeyValue};
use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};

/// The collector's message limit in these tests.
const LIMIT: usize = 64 * 1024;

fn pipeline(collector: &TestCollector, protocol: Protocol, compression: Compression) -> Pipeline {
    Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_protocol(protocol)
        .with_compression(compression)
        .with_endpoint(collector.endpoint())
        .build()
        .unwrap()
}

fn text(bytes: usize) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue("x".repeat(bytes))) }
}

/// Span `i` with a `doc` attribute of `bytes` characters.
fn span_of(i: u64, bytes: usize) -> nanotel::proto::trace::v1::Span {
    let mut span = span(i);
    span.attributes = vec![KeyValue { key: "doc".into(), value: Some(text(bytes)), ..Default::default() }];
    span
}

/// Flushes `pipeline` and waits until nothing of `signal` is queued; its accounting then.
fn settled(pipeline: &Pipeline, signal: Signal) -> SignalSnapshot {
    let _ = pipeline.force_flush(accounting::WAIT);
    assert!(wait_for(|| pipeline.accounting().signal(signal).queued == 0), "{signal:?} settled");
    pipeline.accounting().signal(signal).clone()
}

#[test]
fn a_batch_over_the_collectors_limit_is_sent_in_halves_and_only_an_item_too_large_alone_is_dropped() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson] {
        let collector = TestCollector::start().unwrap();
        collector.set_max_message_bytes(LIMIT);
        let pipeline = pipeline(&collector, protocol, Compression::Gzip);
        // 100 spans of about 2 KiB (some 200 KiB together, over three times the limit) and,
        // among them, one of 100 KiB.
        for i in 0..101 {
            let size = if i == 50 { 100 * 1024 } else { 2 * 1024 };
            assert!(pipeline.handle().send_span(&scope(), span_of(i, size)));
        }
        let traces = settled(&pipeline, Signal::Traces);
        assert_eq!((traces.exported, traces.dropped(DropReason::Rejected)), (100, 1), "{protocol:?}: {traces:?}");
        assert_eq!(collector.accepted_items(Signal::Traces), 100, "{protocol:?}");
        let requests = collector.request_count(Signal::Traces);
        assert!(requests <= 2 * 101, "{protocol:?}: {requests} requests");
        assert_identity(&pipeline.accounting());
    }
}

#[test]
fn a_batch_of_one_metric_is_split_between_its_data_points() {
    use nanotel::proto::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint, ScopeMetrics};
    for protocol in [Protocol::Grpc, Protocol::HttpJson] {
        let collector = TestCollector::start().unwrap();
        collector.set_max_message_bytes(LIMIT);
        let pipeline = pipeline(&collector, protocol, Compression::None);
        // 400 points with a 512-byte attribute each: about 220 KiB in one metric.
        let points = (0..400)
            .map(|i| NumberDataPoint {
                attributes: vec![KeyValue { key: format!("series.{i}"), value: Some(text(512)), ..Default::default() }],
                value: Some(number_data_point::Value::AsInt(i)),
                ..Default::default()
            })
            .collect();
        let gauge = Metric {
            name: "book.depth".into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: points })),
            ..Default::default()
        };
        assert!(pipeline.handle().send_metrics(ScopeMetrics { metrics: vec![gauge], ..Default::default() }));
        let metrics = settled(&pipeline, Signal::Metrics);
        assert_eq!((metrics.exported, metrics.dropped_total()), (400, 0), "{protocol:?}: {metrics:?}");
        assert_eq!(collector.accepted_items(Signal::Metrics), 400, "{protocol:?}");
    }
}

/// Over the pipeline's own request limit (64 MiB), a batch is split before it is sent.
#[test]
fn a_batch_over_the_request_limit_is_split_before_it_is_sent() {
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, Protocol::HttpProtobuf, Compression::None);
    // 512 records (one default batch) of 140 KiB: some 70 MiB.
    for i in 0..512 {
        let mut record = log(i);
        record.body = Some(text(140 * 1024));
        assert!(pipeline.handle().send_log(&scope(), record));
    }
    let logs = settled(&pipeline, Signal::Logs);
    assert_eq!((logs.exported, logs.dropped_total()), (512, 0), "{logs:?}");
    assert_eq!(collector.request_count(Signal::Logs), 2, "two halves, each under the limit");
}

/// A refusal of a batch no larger than one the collector accepted before is not about its size
/// (`RESOURCE_EXHAUSTED` may be a quota): it is not split into more requests to refuse.
#[test]
fn a_refused_batch_no_larger_than_one_accepted_before_is_not_split() {
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, Protocol::Grpc, Compression::Gzip);
    let send = |spans: std::ops::Range<u64>| {
        for i in spans {
            assert!(pipeline.handle().send_span(&scope(), span_of(i, 2 * 1024)));
        }
        settled(&pipeline, Signal::Traces)
    };
    send(0..50);
    assert_eq!(collector.accepted_items(Signal::Traces), 50);
    let quota = Reply::GrpcStatus { code: 8, message: "quota exceeded".into(), retry_delay: None };
    collector.script(Some(Signal::Traces), [quota]);
    let traces = send(100..140);
    assert_eq!((traces.exported, traces.dropped(DropReason::Rejected)), (50, 40), "{traces:?}");
    assert_eq!(collector.request_count(Signal::Traces), 2, "one request for the refused batch");
}

/// A quota refusal (`RESOURCE_EXHAUSTED` without `RetryInfo`) of a lane's first batch, before any
/// was accepted, is not split down to single items: a batch no larger than the smallest limit a
/// collector is taken to have (64 KiB) is dropped in one request. Until session 40: 2N-1 requests.
#[test]
fn a_quota_refusal_of_a_first_batch_is_not_split_to_single_items() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::GrpcStatus { code: 8, message: "quota exceeded".into(), retry_delay: None });
    let pipeline = pipeline(&collector, Protocol::Grpc, Compression::Gzip);
    for i in 0..20 {
        assert!(pipeline.handle().send_span(&scope(), span_of(i, 2 * 1024)));
    }
    let traces = settled(&pipeline, Signal::Traces);
    assert_eq!((traces.exported, traces.dropped(DropReason::Rejected)), (0, 20), "{traces:?}");
    assert_eq!(collector.request_count(Signal::Traces), 1, "one request for the refused batch");
    assert_identity(&pipeline.shutdown(accounting::WAIT).accounting);
}

/// A proxy in front of the collector refusing a body over its own limit with a plain `413` (an
/// HTML page, no OTLP or gRPC status, as nginx's `client_max_body_size` does) has the batch sent
/// in halves over gRPC as over OTLP/HTTP, and opens no breaker: the proxy is up. (Until session 41
/// a gRPC answer that was not gRPC lost its HTTP status: the batch was dropped as `rejected` and
/// counted against the breaker.)
#[test]
fn a_proxys_413_is_split_over_grpc_too() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let collector = TestCollector::start().unwrap();
        collector.script(Some(Signal::Traces), [Reply::NotOtlp(413)]);
        let pipeline = pipeline(&collector, protocol, Compression::None);
        for i in 0..40 {
            assert!(pipeline.handle().send_span(&scope(), span_of(i, 4 * 1024)));
        }
        let traces = settled(&pipeline, Signal::Traces);
        assert_eq!((traces.exported, traces.dropped_total()), (40, 0), "{protocol:?}: {traces:?}");
        assert_eq!(traces.breaker.consecutive_failures, 0, "{protocol:?}");
        assert!(collector.request_count(Signal::Traces) >= 3, "{protocol:?}: refused, then two halves");
    }
}
