//! The exporter's whole path, on its one thread (issue 19, "The exporter"): spans of the demo's
//! shape ended into the rings, then drained, converted, batched, encoded, gzipped and sent over
//! OTLP/HTTP to a loopback server that reads each body and discards it without decoding
//! (`support/discard_server.rs`), until every batch has been answered.
//!
//! - `path_16384_spans/nanotel/otlp_http_gzip`: 8192 orders of the demo (`examples/trading_client.rs`)
//!   are ended on the bench thread, untimed: each an `order` span (four attributes, the events
//!   `sent`, `acked` and `filled`, the last with an attribute) with a `venue.round_trip` client
//!   span (one attribute) under it, 16384 spans in all. Then `force_flush` is timed until the
//!   server has answered every batch. The pipeline polls once an hour, so the work falls in the
//!   flush: default queue (2048), batches of 512, gzip level 1, one request at a time.
//! - `path_16384_spans/limit/flate2_gzip`: the floor, plain flate2 gzip (level 1) of the same
//!   spans' encoded bytes, in batches of 512: what compressing them costs with nothing else.
//!
//! After criterion's summary it prints spans per second, wall and per CPU second of the
//! `nanotel-export` thread (from `/proc/self/task/*/schedstat`, which counts only the time it ran:
//! on a loaded machine the wall figure also holds time the thread waited for a core), and the
//! ratio of the exporter thread's time per span to the floor's.

use std::cell::Cell;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

use nanotel::attributes::KeyValue;
use nanotel::export::{Compression, ExportRequest, ExporterKind, Pipeline, Protocol};
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::proto::common::v1::{any_value, AnyValue, KeyValue as OtlpKeyValue};
use nanotel::proto::resource::v1::Resource;
use nanotel::proto::trace::v1::{ResourceSpans, ScopeSpans};
use nanotel::trace::{SpanKind, Tracer, TracerProvider};
use nanotel::Signal;

#[path = "support/discard_server.rs"]
mod discard_server;
#[path = "support/estimates.rs"]
mod estimates;

use discard_server::DiscardServer;

/// Orders per timed flush; each makes two spans.
const ORDERS: usize = 8192;
const SPANS: usize = 2 * ORDERS;
const GROUP: &str = "path_16384_spans";
const BATCH: usize = 512;

const VENUES: [&str; 4] = ["XNAS", "XNYS", "BATS", "IEXG"];
const SIDES: [&str; 2] = ["buy", "sell"];
const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "NVDA", "AMZN"];

thread_local! {
    /// The exporter thread's CPU time and the spans it handled over every timed flush, for the
    /// figure printed at the end.
    static EXPORTER: Cell<(Duration, u64)> = const { Cell::new((Duration::ZERO, 0)) };
}

fn resource() -> Resource {
    let attribute = |key: &str, value: &str| OtlpKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    };
    Resource {
        attributes: vec![attribute("service.name", "order-gateway"), attribute("telemetry.sdk.name", "nanotel")],
        ..Default::default()
    }
}

/// One order of the demo: the `order` span with its attributes and events, and the
/// `venue.round_trip` client span under it.
fn order(tracer: &Tracer, i: usize) {
    let venue = VENUES[i % VENUES.len()];
    let quantity = (i % 10 + 1) as i64 * 100;
    let mut order = tracer
        .span("order")
        .with_attribute(KeyValue::new("venue", venue))
        .with_attribute(KeyValue::new("side", SIDES[i % SIDES.len()]))
        .with_attribute(KeyValue::new("symbol", SYMBOLS[i / 4 % SYMBOLS.len()]))
        .with_attribute(KeyValue::new("order.quantity", quantity))
        .start();
    let entered = order.enter();
    order.add_event("sent", []);
    let round_trip = tracer
        .span("venue.round_trip")
        .with_kind(SpanKind::Client)
        .with_attribute(KeyValue::new("venue", venue))
        .start();
    round_trip.end();
    order.add_event("acked", []);
    order.add_event("filled", [KeyValue::new("fill.quantity", quantity)]);
    drop(entered);
    order.end();
}

/// CPU time the `nanotel-export` thread has run so far (Linux `schedstat`, in nanoseconds).
fn exporter_cpu() -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).ok()?;
        if comm.trim_end() == "nanotel-export" {
            let schedstat = std::fs::read_to_string(path.join("schedstat")).ok()?;
            return Some(Duration::from_nanos(schedstat.split_whitespace().next()?.parse().ok()?));
        }
    }
    None
}

/// Ends `ORDERS` orders, then times a flush until every span has been answered; adds the exporter
/// thread's CPU time over both (a drain may run while the orders are ended) to `EXPORTER`.
fn flush_once(pipeline: &Pipeline, tracer: &Tracer) -> Duration {
    let exported = pipeline.accounting().traces.exported;
    let cpu_before = exporter_cpu();
    (0..ORDERS).for_each(|i| order(tracer, i));
    let started = Instant::now();
    pipeline.force_flush(Duration::from_secs(60)).expect("every batch is delivered");
    let elapsed = started.elapsed();
    let traces = pipeline.accounting().traces;
    assert_eq!(traces.exported - exported, SPANS as u64, "every span is exported: {traces:?}");
    if let Some(cpu) = exporter_cpu().zip(cpu_before).map(|(after, before)| after.saturating_sub(before)) {
        EXPORTER.with(|total| {
            let (time, spans) = total.get();
            total.set((time + cpu, spans + SPANS as u64));
        });
    }
    elapsed
}

/// prost's encoding of `request` (the bytes nanotel's encoder also writes).
fn encoded<M: ExportRequest>(request: &M) -> Vec<u8> {
    request.encode_to_vec()
}

/// The encoded bytes of the spans one flush sends, in batches of `BATCH`, as the pipeline encodes
/// them (taken from a provider of their own, drained on this thread).
fn encoded_batches() -> Vec<Vec<u8>> {
    let provider = TracerProvider::builder().without_env().with_ring_capacity(SPANS).build();
    let tracer = provider.tracer("gateway");
    (0..ORDERS).for_each(|i| order(&tracer, i));
    let mut spans = Vec::with_capacity(SPANS);
    let mut scope = None;
    provider.drain(usize::MAX, |from, span| {
        scope.get_or_insert_with(|| (**from).clone());
        spans.push(span);
    });
    assert_eq!(spans.len(), SPANS);
    spans
        .chunks(BATCH)
        .map(|batch| {
            encoded(&ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource()),
                    scope_spans: vec![ScopeSpans { scope: scope.clone(), spans: batch.to_vec(), ..Default::default() }],
                    ..Default::default()
                }],
            })
        })
        .collect()
}

fn path(c: &mut Criterion) {
    let server = DiscardServer::start().expect("a loopback server");
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_exporter(Signal::Metrics, ExporterKind::None)
        .with_exporter(Signal::Logs, ExporterKind::None)
        .with_protocol(Protocol::HttpProtobuf)
        .with_compression(Compression::Gzip)
        .with_endpoint(server.endpoint())
        .with_resource(resource())
        .with_poll_interval(Duration::from_secs(3600))
        .build()
        .expect("a valid pipeline");
    // Room for a flush's spans and the thread's next ones: a full ring would drop.
    let provider = TracerProvider::builder().without_env().with_ring_capacity(2 * SPANS).build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    // Warm: the connection opens, the buffers and the slab reach their size.
    flush_once(&pipeline, &tracer);
    EXPORTER.with(|total| total.set((Duration::ZERO, 0)));

    let batches = encoded_batches();
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(SPANS as u64)).sample_size(20);
    group.bench_function("nanotel/otlp_http_gzip", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| flush_once(&pipeline, &tracer)).sum())
    });
    let mut compressed = Vec::new();
    group.bench_function("limit/flate2_gzip", |b| {
        b.iter(|| {
            for batch in &batches {
                compressed.clear();
                let mut gzip = flate2::write::GzEncoder::new(&mut compressed, flate2::Compression::fast());
                gzip.write_all(black_box(batch)).expect("writing to a Vec cannot fail");
                gzip.finish().expect("writing to a Vec cannot fail");
            }
            black_box(compressed.len())
        })
    });
    group.finish();
    let requests = server.requests();
    drop(pipeline.shutdown(Duration::from_secs(10)));
    println!("the server read {requests} requests");
}

fn print_ratios() {
    let per_span = |id: &str| estimates::estimate_ns(GROUP, id).map(|ns| ns / SPANS as f64);
    let (Some(path), Some(floor)) = (per_span("nanotel/otlp_http_gzip"), per_span("limit/flate2_gzip")) else {
        println!("no estimates to compare (was the group filtered out?)");
        return;
    };
    println!("\n{GROUP}, per span:");
    println!("  whole path, wall:   {path:7.1} ns  ({:.0} k spans/s)", 1e6 / path);
    let (cpu, spans) = EXPORTER.with(Cell::get);
    if spans > 0 {
        let cpu = cpu.as_nanos() as f64 / spans as f64;
        println!(
            "  exporter thread CPU: {cpu:6.1} ns  ({:.0} k spans/s a core; {:.2}x the floor)",
            1e6 / cpu,
            cpu / floor
        );
    }
    println!("  floor, flate2 gzip:  {floor:6.1} ns  ({:.0} k spans/s)", 1e6 / floor);
    println!("  whole path / floor:  {:.2}x", path / floor);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("  load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
}

fn main() {
    estimates::run_then_print(path, print_ratios);
}
