//! What a span costs on the thread that makes it, beside the cost of reading the standard clock
//! twice and beside the official SDK, in the same run.
//!
//! - `limit/instant_pair`: two `std::time::Instant::now()` calls, the floor a span with two
//!   standard clock reads cannot beat.
//! - `nanotel/clock_pair`: two reads of nanotel's clock (`nanotel::clock::now_unix_nanos`).
//! - `nanotel/span_start_end`: a sampled span with 2 attributes, started and ended, back to back
//!   with a pipeline attached whose exporter thread empties the per-thread buffers every 20 ms (or
//!   sooner as they fill). At this rate the thread's 1024 slots (set so; the default is 16384) fill
//!   within microseconds of each drain, so most iterations
//!   take the overload path: ids, sampler and builder as always, then no free slot, so the span is
//!   counted as dropped (`queue_full`) and neither reads the clock nor stores anything.
//! - `nanotel/span_start_end_paced`: the same in bursts of 256, the ring drained (untimed)
//!   between bursts, so every span is moved into its slot: the path when the exporter keeps up.
//! - `nanotel/span_start_end_paced_cross_thread`: the same bursts, the ring drained (untimed)
//!   by another thread between them, as the exporter thread drains it: the slots a burst reuses,
//!   and the slab's count of freed slots, were last written on that thread's core. Beside
//!   `span_start_end_paced` (drained on the recording thread itself) it shows what the lines the
//!   exporter writes cost the recording thread (issue 19). Both paced rows run pinned to CPU 0,
//!   the draining thread to CPU 1 (Linux). Reported, no goal.
//! - `nanotel/span_not_sampled`: the same span refused by the sampler (`AlwaysOff`). Its ids are
//!   drawn only if its context is read, which this benchmark does not do.
//! - `nanotel/span_not_sampled_context_read`: the same, its context read once (as a propagation
//!   or a child span would), so its ids are drawn. Reported, no goal.
//! - `nanotel/span_enter_exit`: entering a started, sampled span and leaving it (the guard made
//!   and dropped): what making a span current costs, including copying its ids for metric
//!   exemplars. Reported, no goal.
//! - `opentelemetry_sdk/…`: the same spans with the official SDK (0.33): a batch span processor
//!   feeding an exporter that does nothing.
//!
//! - `traceparent_extract` / `traceparent_inject`: reading a W3C `traceparent` (no `tracestate`)
//!   out of a `HashMap<String, String>` of request headers, and writing one into a reused map;
//!   beside the SDK's `TraceContextPropagator` doing the same. Reported, no goal.
//!
//! Goals: `span_start_end` and `span_start_end_paced` ≤ 1.0 × `limit/instant_pair` and ≥ 5× faster
//! than the SDK; `span_not_sampled` ≤ 0.1 × `limit/instant_pair` and ≥ 20× faster than the SDK.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;

use nanotel::attributes::KeyValue;
use nanotel::export::{ExporterKind, Pipeline};
use nanotel::propagation::TraceContextPropagator;
use nanotel::trace::{Sampler, Span, SpanKind, Tracer, TracerProvider};
use nanotel::Signal;

#[path = "support/affinity.rs"]
mod affinity;
#[path = "support/sdk_sinks.rs"]
mod sdk_sinks;
#[path = "support/signal.rs"]
mod signal;
use sdk_sinks::NoopSpans;

use signal::{clock_floors, paced};

#[inline(always)]
fn start_order_span(tracer: &Tracer) -> Span {
    tracer
        .span("order.send")
        .with_kind(SpanKind::Client)
        .with_attribute(KeyValue::new("venue", "XNAS"))
        // An integer the compiler cannot see, as an order's quantity is.
        .with_attribute(KeyValue::new("order.qty", black_box(100i64)))
        .start()
}

#[inline(always)]
fn nanotel_span(tracer: &Tracer) {
    let span = start_order_span(tracer);
    black_box(&span);
}

fn sdk_provider(sampler: opentelemetry_sdk::trace::Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_batch_exporter(NoopSpans).with_sampler(sampler).build()
}

fn sdk_span(tracer: &opentelemetry_sdk::trace::SdkTracer) {
    use opentelemetry::trace::SpanKind as SdkKind;
    let span = tracer
        .span_builder("order.send")
        .with_kind(SdkKind::Client)
        .with_attributes([
            opentelemetry::KeyValue::new("venue", "XNAS"),
            opentelemetry::KeyValue::new("order.qty", black_box(100i64)),
        ])
        .start(tracer);
    black_box(&span);
}

fn spans(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace");

    clock_floors(&mut group);

    // Traces go nowhere (exporter `none`): the exporter thread empties the rings and discards.
    let pipeline = Pipeline::builder().without_env().with_exporter(Signal::Traces, ExporterKind::None).build().unwrap();
    // 1024 slots (the default before issue 19's 16384), so the overload path is what this row
    // times, as it always has.
    let provider =
        TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).with_ring_capacity(1024).build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("bench");
    group.bench_function("nanotel/span_start_end", |b| b.iter(|| nanotel_span(&tracer)));

    let paced_provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let paced_tracer = paced_provider.tracer("bench");
    // The paced rows run on CPU 0; the cross-thread row's draining thread on CPU 1, so that its
    // drains do run on another core (unpinned, the scheduler may wake it on this one).
    let pinned = affinity::pin_to(Some(0));
    group.bench_function("nanotel/span_start_end_paced", |b| {
        b.iter_custom(|iterations| {
            let drain = || paced_provider.drain(usize::MAX, |_, span| drop(black_box(span)));
            paced(iterations, || nanotel_span(&paced_tracer), drain)
        })
    });

    // The drain on a thread of its own, asked for between bursts and waited for (untimed).
    std::thread::scope(|scope| {
        let (ask, asked) = std::sync::mpsc::channel::<()>();
        let (answer, answered) = std::sync::mpsc::channel::<u64>();
        let paced_provider = &paced_provider;
        scope.spawn(move || {
            if pinned && !affinity::pin_to(Some(1)) {
                eprintln!("span_start_end_paced_cross_thread: could not pin the draining thread to CPU 1");
            }
            for () in asked {
                let dropped = paced_provider.drain(usize::MAX, |_, span| drop(black_box(span)));
                if answer.send(dropped).is_err() {
                    return;
                }
            }
        });
        group.bench_function("nanotel/span_start_end_paced_cross_thread", |b| {
            b.iter_custom(|iterations| {
                let drain = || {
                    ask.send(()).expect("the draining thread runs");
                    answered.recv().expect("the draining thread answers")
                };
                paced(iterations, || nanotel_span(&paced_tracer), drain)
            })
        });
        // Dropping `ask` ends the draining thread.
        drop(ask);
    });
    affinity::pin_to(None);

    let refusing = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOff).build();
    let refusing_tracer = refusing.tracer("bench");
    group.bench_function("nanotel/span_not_sampled", |b| b.iter(|| nanotel_span(&refusing_tracer)));
    group.bench_function("nanotel/span_not_sampled_context_read", |b| {
        b.iter(|| {
            let span = start_order_span(&refusing_tracer);
            black_box(span.context().span_id());
        })
    });

    let entered = start_order_span(&paced_tracer);
    group.bench_function("nanotel/span_enter_exit", |b| b.iter(|| drop(black_box(entered.enter()))));
    drop(entered);

    let sdk = sdk_provider(opentelemetry_sdk::trace::Sampler::AlwaysOn);
    let sdk_tracer = sdk.tracer("bench");
    group.bench_function("opentelemetry_sdk/span_start_end", |b| b.iter(|| sdk_span(&sdk_tracer)));

    let sdk_off = sdk_provider(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    let sdk_off_tracer = sdk_off.tracer("bench");
    group.bench_function("opentelemetry_sdk/span_not_sampled", |b| b.iter(|| sdk_span(&sdk_off_tracer)));

    group.finish();
    let _ = sdk.shutdown();
    let _ = sdk_off.shutdown();
    let report = pipeline.shutdown(Duration::from_secs(5));
    black_box(report);
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn propagation(c: &mut Criterion) {
    let mut group = c.benchmark_group("propagation");
    let incoming: HashMap<String, String> = HashMap::from([
        ("traceparent".to_owned(), TRACEPARENT.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ]);

    group.bench_function("nanotel/traceparent_extract", |b| {
        b.iter(|| black_box(TraceContextPropagator.extract(black_box(&incoming))))
    });
    let context = TraceContextPropagator.extract(&incoming).expect("a valid traceparent");
    let mut outgoing: HashMap<String, String> = HashMap::new();
    group.bench_function("nanotel/traceparent_inject", |b| {
        b.iter(|| TraceContextPropagator.inject(black_box(&context), &mut outgoing))
    });

    let sdk = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    group.bench_function("opentelemetry_sdk/traceparent_extract", |b| {
        b.iter(|| black_box(sdk.extract(black_box(&incoming))))
    });
    let sdk_context = sdk.extract(&incoming);
    assert!(sdk_context.span().span_context().is_valid());
    let mut sdk_outgoing: HashMap<String, String> = HashMap::new();
    group.bench_function("opentelemetry_sdk/traceparent_inject", |b| {
        b.iter(|| sdk.inject_context(black_box(&sdk_context), &mut sdk_outgoing))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = spans, propagation
}
criterion_main!(benches);
