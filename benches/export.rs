//! Encoding and compressing export batches, beside the floor: plain flate2 compression of the
//! same encoded bytes, in the same run.
//!
//! Groups (each twice: per item and per uncompressed byte):
//! - `spans_512`: one `ExportTraceServiceRequest` of 512 spans.
//! - `points_1000`: one `ExportMetricsServiceRequest` of 1000 data points.
//!
//! In each, `nanotel/encode` is the exporter's protobuf encoding alone (into a reused buffer), `nanotel/encode_gzip` is what the exporter
//! does per batch, and `limit/flate2_gzip` compresses the already-encoded bytes. The goal is
//! `nanotel/encode` < `limit/flate2_gzip`: encoding costs less than compressing.
//!
//! - `send_8192_spans`: the exporter thread end to end, per protocol: 16 batches of the same 512
//!   spans handed to a real `Pipeline` (untimed), then a flush timed until the loopback
//!   `TestCollector` has answered every batch: encoding, gzip, and one request at a time over
//!   OTLP/gRPC (`nanotel/grpc`) or OTLP/HTTP with protobuf (`nanotel/http_protobuf`), on the
//!   exporter's one thread; the collector decodes each request on its own thread before answering.

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use nanotel::export::{BatchConfig, Compression, Encoder, ExportRequest, Pipeline, Protocol, Scope};
use nanotel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::proto::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use nanotel::proto::metrics::v1::{
    metric, number_data_point, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum,
};
use nanotel::proto::resource::v1::Resource;
use nanotel::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use nanotel::Signal;
use nanotel_testing::TestCollector;

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            attribute("service.name", Value::StringValue("order-gateway".into())),
            attribute("telemetry.sdk.name", Value::StringValue("nanotel".into())),
        ],
        ..Default::default()
    }
}

/// 512 spans shaped like an order gateway's: ids, times, five attributes, one event.
fn span_batch() -> ExportTraceServiceRequest {
    let venues = ["XNAS", "XNYS", "BATS", "IEXG"];
    let spans = (0..512u64)
        .map(|i| Span {
            trace_id: (i as u128 * 0x9e37_79b9_7f4a_7c15 + 1).to_be_bytes().to_vec(),
            span_id: (i * 0x9e37_79b9 + 1).to_be_bytes().to_vec(),
            parent_span_id: (i * 0x7f4a_7c15 + 7).to_be_bytes().to_vec(),
            name: "order.send".into(),
            kind: span::SpanKind::Client as i32,
            flags: 0x101,
            start_time_unix_nano: 1_763_900_000_000_000_000 + i * 1_000,
            end_time_unix_nano: 1_763_900_000_000_000_000 + i * 1_000 + 35_000,
            attributes: vec![
                attribute("venue", Value::StringValue(venues[i as usize % 4].into())),
                attribute("side", Value::StringValue(if i % 2 == 0 { "buy" } else { "sell" }.into())),
                attribute("order.qty", Value::IntValue(100 + i as i64)),
                attribute("order.price", Value::DoubleValue(187.25 + i as f64 * 0.01)),
                attribute("order.id", Value::StringValue(format!("ORD-{:08}", 40_000_000 + i))),
            ],
            events: vec![span::Event {
                time_unix_nano: 1_763_900_000_000_000_000 + i * 1_000 + 20_000,
                name: "acked".into(),
                ..Default::default()
            }],
            status: Some(Status { code: 1, ..Default::default() }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "gateway".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// 1000 data points: 800 counter series and 200 histogram series with the default 15 bounds.
fn metric_batch() -> ExportMetricsServiceRequest {
    let labels = |i: usize| {
        vec![
            attribute("venue", Value::StringValue(format!("V{:03}", i % 40))),
            attribute("side", Value::StringValue(if i.is_multiple_of(2) { "buy" } else { "sell" }.into())),
            attribute("desk", Value::StringValue(format!("desk-{}", i % 10))),
        ]
    };
    let sums = (0..800)
        .map(|i| NumberDataPoint {
            attributes: labels(i),
            start_time_unix_nano: 1_763_900_000_000_000_000,
            time_unix_nano: 1_763_900_060_000_000_000,
            value: Some(number_data_point::Value::AsInt(i as i64 * 37)),
            ..Default::default()
        })
        .collect();
    let bounds =
        vec![0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];
    let histograms = (0..200)
        .map(|i| HistogramDataPoint {
            attributes: labels(i),
            start_time_unix_nano: 1_763_900_000_000_000_000,
            time_unix_nano: 1_763_900_060_000_000_000,
            count: 1600,
            sum: Some(81_234.5),
            bucket_counts: (0..16).map(|b| (b * 7 + i as u64) % 200).collect(),
            explicit_bounds: bounds.clone(),
            min: Some(1.5),
            max: Some(9_870.0),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "gateway".into(), ..Default::default() }),
                metrics: vec![
                    Metric {
                        name: "orders".into(),
                        unit: "{order}".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: sums,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "tick_to_trade".into(),
                        unit: "us".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: histograms,
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip_fast(bytes: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut gzip = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    gzip.write_all(bytes).expect("writing to a Vec cannot fail");
    gzip.finish().expect("writing to a Vec cannot fail");
}

fn run<M: ExportRequest>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, request: &M) {
    let encoded = request.encode_to_vec();
    let mut plain = Encoder::new(Protocol::HttpProtobuf, Compression::None);
    group.bench_function("nanotel/encode", |b| {
        b.iter(|| black_box(plain.encode_uncompressed(black_box(request)).expect("encoding into memory").len()))
    });
    let mut encoder = Encoder::new(Protocol::HttpProtobuf, Compression::Gzip);
    group.bench_function("nanotel/encode_gzip", |b| {
        b.iter(|| black_box(encoder.encode(black_box(request)).expect("encoding into memory").body.len()))
    });
    let mut compressed = Vec::new();
    group.bench_function("limit/flate2_gzip", |b| {
        b.iter(|| {
            gzip_fast(black_box(&encoded), &mut compressed);
            black_box(compressed.len())
        })
    });
}

fn bench(c: &mut Criterion, name: &str, items: u64, request: &impl ExportRequest) {
    let bytes = request.encoded_len() as u64;
    let mut group = c.benchmark_group(format!("{name}/items"));
    group.throughput(Throughput::Elements(items));
    run(&mut group, request);
    group.finish();
    let mut group = c.benchmark_group(format!("{name}/bytes"));
    group.throughput(Throughput::Bytes(bytes));
    run(&mut group, request);
    group.finish();
}

fn export(c: &mut Criterion) {
    bench(c, "spans_512", 512, &span_batch());
    bench(c, "points_1000", 1000, &metric_batch());
    send(c);
}

/// Batches per timed flush in `send_8192_spans`.
const BATCHES: usize = 16;

/// A pipeline to a fresh collector, warmed by one delivered span so the connection is open; its
/// spans leave only when flushed, in batches of 512.
fn warm_pipeline(collector: &TestCollector, protocol: Protocol, scope: &Scope, span: &Span) -> Pipeline {
    let batch = BatchConfig {
        max_queue_size: BATCHES * 512,
        schedule_delay: Duration::from_secs(3600),
        ..BatchConfig::defaults(Signal::Traces)
    };
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_protocol(protocol)
        .with_compression(Compression::Gzip)
        .with_endpoint(collector.endpoint())
        .with_resource(resource())
        .with_batch(Signal::Traces, batch)
        .build()
        .expect("a valid pipeline");
    pipeline.handle().send_span(scope, span.clone());
    pipeline.force_flush(Duration::from_secs(10)).expect("the warm-up span is delivered");
    pipeline
}

/// One timed flush of `BATCHES` × 512 spans. Each iteration has its own collector, which keeps
/// every request it decodes, so memory stays that of one iteration.
fn send_once(protocol: Protocol, scope: &Scope, spans: &[Span]) -> Duration {
    let collector = TestCollector::start().expect("a loopback collector");
    let pipeline = warm_pipeline(&collector, protocol, scope, &spans[0]);
    let handle = pipeline.handle();
    for _ in 0..BATCHES {
        spans.iter().for_each(|span| assert!(handle.send_span(scope, span.clone()), "the queue holds them all"));
    }
    let started = Instant::now();
    pipeline.force_flush(Duration::from_secs(30)).expect("every batch is delivered");
    let elapsed = started.elapsed();
    assert_eq!(collector.accepted_items(Signal::Traces), (BATCHES * spans.len() + 1) as u64);
    elapsed
}

fn send(c: &mut Criterion) {
    let mut request = span_batch();
    let group_of_spans = request.resource_spans.remove(0).scope_spans.remove(0);
    let scope: Scope = Arc::new(group_of_spans.scope.unwrap_or_default());
    let spans = group_of_spans.spans;
    let mut group = c.benchmark_group(format!("send_{}_spans", BATCHES * spans.len()));
    group.throughput(Throughput::Elements((BATCHES * spans.len()) as u64)).sample_size(10);
    for (name, protocol) in [("nanotel/grpc", Protocol::Grpc), ("nanotel/http_protobuf", Protocol::HttpProtobuf)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| send_once(protocol, &scope, &spans)).sum());
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = export
}
criterion_main!(benches);
