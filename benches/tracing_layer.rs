//! The `tracing` layer (feature `tracing`) beside `tracing-opentelemetry` with the official SDK
//! (0.33) behind it, both driven by the same `tracing` macros in one run, each as the thread's
//! default subscriber on a `tracing_subscriber` registry; and `tracing` with no subscriber, the
//! floor, and the registry alone, the floor of any layer.
//!
//! - `limit/instant_pair`, `nanotel/clock_pair`: two clock reads, for scale.
//! - `no_subscriber/*`: `tracing` with no subscriber, the floor; `registry/*`: a
//!   `tracing_subscriber` registry alone, the floor of any layer; `registry_one_extension/*`: the
//!   registry and a layer that keeps a `u64` in each span's extensions (set at `new_span`, read at
//!   `enter`, taken out at close), the registry work a layer keeping its span there does (nanotel's
//!   did until session 8; it now keeps its spans in a table of its own).
//! - `*/span`: `info_span!("order", venue = "XNAS", qty = i)` made, entered, exited and closed.
//! - `*/event_in_span`: `info!(venue = "XNAS", qty = i, "order sent")` inside an entered span, the
//!   span made (untimed) every 100 events, below the SDK's limit of 128 events per span.
//!   nanotel's `log` row emits a log record (the default); its `span_event` row and
//!   `tracing_opentelemetry` add a span event.
//!
//! Each side is timed in the same conditions as the other, two ways. Drained between bursts: nanotel's
//! buffers are drained and the SDK's batch span processor (feeding an exporter that does nothing)
//! is flushed, untimed, between bursts of spans, so each is timed with its exporter idle
//! (`nanotel/*`, `tracing_opentelemetry/*`). Exporting meanwhile: nanotel's providers feed a
//! pipeline whose exporter thread drains them while spans are made, and the SDK's processor runs
//! on its own thread (`nanotel_exporting/span`, `tracing_opentelemetry_unflushed/*`). Goal: nanotel
//! ≥ 10× faster per span than `tracing_opentelemetry`. After the run the bench prints the ratios of
//! each pairing from criterion's estimates of this run.

#[path = "support/estimates.rs"]
mod estimates;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use nanotel::export::{ExporterKind, Pipeline};
use nanotel::logs::LoggerProvider;
use nanotel::trace::{Sampler, TracerProvider};
use nanotel::tracing_layer::NanotelLayer;
use nanotel::Signal;

#[path = "support/sdk_sinks.rs"]
mod sdk_sinks;
#[path = "support/signal.rs"]
mod signal;
use sdk_sinks::NoopSpans;

use signal::{clock_floors, paced};

const GROUP: &str = "tracing_layer";

/// Events timed in one span.
const EVENTS_PER_SPAN: u64 = 100;

/// Keeps a `u64` in each span's extensions, reads it when the span is entered and takes it out when
/// it closes: the registry work any layer keeping per-span data in the extensions does.
struct OneExtension;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for OneExtension {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(id.into_u64());
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            black_box(span.extensions().get::<u64>());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            black_box(span.extensions_mut().remove::<u64>());
        }
    }
}

/// One span with two fields, entered and exited.
#[inline(always)]
fn span(i: u64) {
    let span = tracing::info_span!("order", venue = "XNAS", qty = i);
    let _entered = span.enter();
    black_box(&span);
}

/// Times `iterations` spans under `dispatch`, in bursts with `drain` (untimed) between them.
fn spans(dispatch: &Dispatch, iterations: u64, drain: &dyn Fn() -> u64) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let mut i = 0;
        paced(
            iterations,
            || {
                i += 1;
                span(i)
            },
            drain,
        )
    })
}

/// Times `iterations` events under `dispatch`, [`EVENTS_PER_SPAN`] in each span, with `drain`
/// (untimed) after each span.
fn events(dispatch: &Dispatch, iterations: u64, drain: &dyn Fn() -> u64) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let mut timed = Duration::ZERO;
        let mut done = 0;
        while done < iterations {
            let burst = EVENTS_PER_SPAN.min(iterations - done);
            let span = tracing::info_span!("order").entered();
            let started = Instant::now();
            for qty in done..done + burst {
                tracing::info!(venue = "XNAS", qty, "order sent");
            }
            timed += started.elapsed();
            drop(span);
            assert_eq!(drain(), 0, "a burst never fills the buffers");
            done += burst;
        }
        timed
    })
}

/// Both rows for one subscriber.
fn bench(c: &mut Criterion, name: &str, dispatch: &Dispatch, drain: &dyn Fn() -> u64) {
    let mut group = c.benchmark_group(GROUP);
    group.bench_function(format!("{name}/span"), |b| b.iter_custom(|iterations| spans(dispatch, iterations, drain)));
    group.bench_function(format!("{name}/event_in_span"), |b| {
        b.iter_custom(|iterations| events(dispatch, iterations, drain))
    });
    group.finish();
}

/// A nanotel layer over fresh providers (every span sampled), and what drains them.
fn nanotel(span_events: bool) -> (Dispatch, impl Fn() -> u64) {
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let loggers = LoggerProvider::builder().without_env().build();
    let layer = NanotelLayer::new(tracers.tracer("tracing"), loggers.logger("tracing")).with_span_events(span_events);
    let drain = move || {
        tracers.drain(usize::MAX, |_, span| drop(black_box(span)))
            + loggers.drain(usize::MAX, |_, record| drop(black_box(record)))
    };
    (Dispatch::new(tracing_subscriber::registry().with(layer)), drain)
}

/// A nanotel layer whose providers feed a pipeline that exports nowhere (exporter `none`): its
/// exporter thread drains the rings on its own while spans are made, as the SDK's batch processor
/// does in the unflushed rows. The pipeline is returned to read what it dropped.
fn nanotel_exporting() -> (Dispatch, Pipeline, TracerProvider) {
    let pipeline = Pipeline::builder()
        .without_env()
        .with_exporter(Signal::Traces, ExporterKind::None)
        .with_exporter(Signal::Logs, ExporterKind::None)
        .build()
        .expect("a pipeline that exports nowhere");
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    tracers.attach(&pipeline);
    let loggers = LoggerProvider::builder().without_env().build();
    let layer = NanotelLayer::new(tracers.tracer("tracing"), loggers.logger("tracing"));
    (Dispatch::new(tracing_subscriber::registry().with(layer)), pipeline, tracers)
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    clock_floors(&mut group);
    group.finish();
    bench(c, "no_subscriber", &Dispatch::none(), &|| 0);
    bench(c, "registry", &Dispatch::new(tracing_subscriber::registry()), &|| 0);
    bench(c, "registry_one_extension", &Dispatch::new(tracing_subscriber::registry().with(OneExtension)), &|| 0);

    let (dispatch, drain) = nanotel(false);
    bench(c, "nanotel", &dispatch, &drain);
    let (dispatch, pipeline, tracers) = nanotel_exporting();
    let mut group = c.benchmark_group(GROUP);
    group.bench_function("nanotel_exporting/span", |b| b.iter_custom(|iterations| spans(&dispatch, iterations, &|| 0)));
    group.finish();
    drop((dispatch, tracers));
    let dropped: u64 = pipeline.accounting().traces.dropped.values().sum();
    println!("nanotel_exporting: {dropped} spans dropped by its pipeline (the exporter thread fell behind)");
    drop(pipeline);

    let (dispatch, drain) = nanotel(true);
    let mut group = c.benchmark_group(GROUP);
    group.bench_function("nanotel_span_events/event_in_span", |b| {
        b.iter_custom(|iterations| events(&dispatch, iterations, &drain))
    });
    group.finish();

    let sdk = SdkTracerProvider::builder()
        .with_batch_exporter(NoopSpans)
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(sdk.tracer("tracing"));
    // Paced as nanotel is: between bursts (untimed) its batch processor exports what it holds, so
    // its queue (2,048 spans) never fills. Unflushed, a burst could find the processor's thread
    // behind and drop spans at the cost of a failed send, which made this row bimodal (about
    // 1.7 us or 3.3 us per span from run to run).
    let flush = || {
        sdk.force_flush().expect("the SDK's batch processor flushes");
        0
    };
    bench(c, "tracing_opentelemetry", &Dispatch::new(tracing_subscriber::registry().with(layer)), &flush);
    let _ = sdk.shutdown();

    // The same, its batch processor left to run on its own thread while spans are made (how the
    // earlier figures were taken): a row of its own, for comparison only.
    let sdk = SdkTracerProvider::builder()
        .with_batch_exporter(NoopSpans)
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(sdk.tracer("tracing"));
    bench(c, "tracing_opentelemetry_unflushed", &Dispatch::new(tracing_subscriber::registry().with(layer)), &|| 0);
    let _ = sdk.shutdown();
}

/// Criterion's estimate (ns) of one benchmark of this group in this run.
fn estimate_ns(id: &str) -> Option<f64> {
    estimates::estimate_ns(GROUP, id)
}

fn print_ratios() {
    println!("\ntracing_opentelemetry / nanotel, this run (goal >= 10 per span):");
    let pairs = [
        ("span", "nanotel/span", "tracing_opentelemetry/span"),
        ("event_in_span", "nanotel_span_events/event_in_span", "tracing_opentelemetry/event_in_span"),
        ("span, both exporting", "nanotel_exporting/span", "tracing_opentelemetry_unflushed/span"),
        ("span (SDK unflushed)", "nanotel/span", "tracing_opentelemetry_unflushed/span"),
    ];
    for (label, ours, sdk) in pairs {
        match (estimate_ns(ours), estimate_ns(sdk)) {
            (Some(ours), Some(theirs)) => {
                println!("  {label:<28} {ours:>9.1} ns {theirs:>9.1} ns {:>7.1}x", theirs / ours)
            }
            _ => println!("  {label:<28}       n/a   (not measured in this run)"),
        }
    }
}

fn main() {
    estimates::run_then_print(benches, print_ratios);
}
