//! What the `tracing` layer allocates per span and per event once warm, beside what `tracing`'s
//! registry allocates for the same calls: alone, and with a layer that keeps one `u64` in each
//! span's extensions (the registry boxes every value a layer keeps there, and frees it when the
//! span closes: the allocation a layer keeping per-span data there makes, and nanotel's layer
//! avoids with a table of its own). Allocations are counted on the measuring thread only.

use nanotel::logs::LoggerProvider;
use nanotel::trace::{Sampler, TracerProvider};
use nanotel::tracing_layer::NanotelLayer;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{allocations_in, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ROUNDS: u64 = 100;

/// Keeps one `u64` in each span's extensions, as any layer with per-span data does.
struct OneExtension;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for OneExtension {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(id.into_u64());
        }
    }
}

/// A span with two fields, entered and exited, as the benchmark's row.
fn span(i: u64) {
    let span = tracing::info_span!("order", venue = "XNAS", qty = i);
    let _entered = span.enter();
}

/// An event with two fields inside a span.
fn event_in_span(span: &tracing::Span, i: u64) {
    let _entered = span.enter();
    tracing::info!(venue = "XNAS", qty = i, "order sent");
}

/// Allocations per call of `f` under `dispatch`, after a warm-up; `drain` empties nanotel's
/// buffers between rounds (untimed, uncounted).
fn per_call(dispatch: &Dispatch, f: impl Fn(u64), drain: impl Fn()) -> f64 {
    tracing::dispatcher::with_default(dispatch, || {
        (0..ROUNDS).for_each(&f);
        drain();
        let mut total = 0;
        for _ in 0..5 {
            total += allocations_in(|| (0..ROUNDS).for_each(&f));
            drain();
        }
        total as f64 / (5 * ROUNDS) as f64
    })
}

#[test]
fn a_warm_span_or_event_allocates_no_more_than_the_registry_alone() {
    let registry = Dispatch::new(tracing_subscriber::registry());
    let one_extension = Dispatch::new(tracing_subscriber::registry().with(OneExtension));
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let loggers = LoggerProvider::builder().without_env().build();
    let layer = NanotelLayer::new(tracers.tracer("tracing"), loggers.logger("tracing"));
    let nanotel = Dispatch::new(tracing_subscriber::registry().with(layer));
    let drain = || {
        tracers.drain(usize::MAX, |_, _| {});
        loggers.drain(usize::MAX, |_, _| {});
    };

    let registry_span = per_call(&registry, span, || {});
    let extension_span = per_call(&one_extension, span, || {});
    let nanotel_span = per_call(&nanotel, span, drain);
    println!("allocations per span: registry {registry_span}, with one extension {extension_span}, with the layer {nanotel_span}");
    // The registry alone allocates now and then (a new page of its span slab): fractions.
    assert!(extension_span - registry_span > 0.9, "the registry boxes an extension");
    assert!(nanotel_span < registry_span + 0.01, "the layer's span allocates nothing");

    let in_span = |dispatch: &Dispatch| tracing::dispatcher::with_default(dispatch, || tracing::info_span!("order"));
    let (registry_parent, nanotel_parent) = (in_span(&registry), in_span(&nanotel));
    let registry_event = per_call(&registry, |i| event_in_span(&registry_parent, i), || {});
    let nanotel_event = per_call(&nanotel, |i| event_in_span(&nanotel_parent, i), drain);
    println!("allocations per event: registry {registry_event}, with the layer {nanotel_event}");
    assert!(nanotel_event < registry_event + 0.01, "a warm event allocates nothing (its strings seen before)");

    // Events recorded as span events: a span with three, as an order's sent, acked and filled.
    let span_events = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let layer = NanotelLayer::new(span_events.tracer("tracing"), loggers.logger("tracing")).with_span_events(true);
    let span_events_dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let three_events = |i: u64| {
        let span = tracing::info_span!("order", qty = i);
        let _entered = span.enter();
        tracing::info!(venue = "XNAS", "sent");
        tracing::info!("acked");
        tracing::info!(qty = i, "filled");
    };
    let registry_three = per_call(&registry, three_events, || {});
    let nanotel_three = per_call(&span_events_dispatch, three_events, || {
        span_events.drain(usize::MAX, |_, span| assert_eq!(span.events.len(), 3));
    });
    println!("allocations per span with three span events: registry {registry_three}, with the layer {nanotel_three}");
    assert!(nanotel_three < registry_three + 0.01, "warm span events allocate nothing (their box is recycled)");

    // Under a sampler of the program's, which is told each span's fields: they are read into one
    // vector first, its one allocation (README, "`tracing` spans and events").
    let custom =
        TracerProvider::builder().without_env().with_sampler(Sampler::Custom(std::sync::Arc::new(Every))).build();
    let layer = NanotelLayer::new(custom.tracer("tracing"), loggers.logger("tracing"));
    let custom_dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let custom_span = per_call(&custom_dispatch, span, || {
        custom.drain(usize::MAX, |_, _| {});
    });
    println!("allocations per span under a custom sampler: registry {registry_span}, with the layer {custom_span}");
    assert!((custom_span - registry_span - 1.0).abs() < 0.01, "one allocation: {custom_span} vs {registry_span}");
}

/// A sampler of the program's that samples every span.
struct Every;

impl nanotel::trace::ShouldSample for Every {
    fn should_sample(&self, _: &nanotel::trace::SamplingInput<'_>) -> nanotel::trace::SamplingResult {
        nanotel::trace::SamplingResult::RECORD_AND_SAMPLE
    }

    fn description(&self) -> String {
        "Every".into()
    }
}
