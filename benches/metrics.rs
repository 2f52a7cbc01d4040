//! The metric hot path beside its floor, in one run.
//!
//! - `limit/atomic_fetch_add`: a relaxed `fetch_add` on a static `AtomicU64`, the floor.
//! - `nanotel/counter_add_bound`: a bound counter add (goal ≤ 1.2× the floor).
//! - `nanotel/counter_add_static`: a [`StaticCounter`]'s add: a relaxed `fetch_add` on a cell of
//!   the static chosen from the stack's address, and a flag read in the same line (no goal; the
//!   counter for cold caches, see `cold.rs`: warm, it is the floor's locked add).
//! - `nanotel/counter_add_unbound`: an add with 3 attributes resolved on every call (goal ≤ 3× the
//!   floor, and ≥ 10× faster than `opentelemetry_sdk/counter_add` with the same attributes).
//! - `nanotel/counter_add_unbound_16_sets` and `opentelemetry_sdk/counter_add_16_sets`: the same,
//!   cycling over 16 attribute sets (16 symbols), so each add resolves another series than the
//!   last (no goal; printed beside the single-set figures).
//! - `nanotel/counter_add_unbound_evicting` and `nanotel/counter_add_unbound_16_sets_evicting`:
//!   the two above on a counter under a delta preference, whose idle series are evicted (the
//!   default): each record pins an epoch (no goal; the cost of reclaiming is the ratio to the
//!   plain table's figures).
//! - `nanotel/counter_add_unbound_built_per_call` and `opentelemetry_sdk/counter_add_built_per_call`:
//!   the 3 attributes made afresh on every call, in an array at the call site, as a program
//!   usually passes them (no goal).
//! - `nanotel/counter_add_unbound_reordered`: the 3 attributes in another order than the one the
//!   series was created with, which skips the in-order fast path (no goal).
//! - `nanotel/counter_add_unbound_filtered`: `counter_add_unbound` on a counter whose view keeps
//!   2 of the 3 attributes: the kept pairs are copied to a stack buffer, which is resolved (no
//!   goal; the cost of the filter is its difference from `counter_add_unbound`).
//! - `nanotel/histogram_record_bound`: explicit buckets (the default ones), `u64` values spread
//!   over all 16 buckets (goal ≤ 2.5× the floor).
//! - `nanotel/histogram_record_static`: a [`StaticHistogram`]'s record, the same values (no goal;
//!   the histogram for cold caches, see `cold.rs`: warm, one compare-and-swap as the bound record).
//! - `nanotel/gauge_record_bound`: a bound `f64` gauge set (its series' cells checked for a view's
//!   histogram, then one relaxed store). Reported, no goal.
//! - `nanotel/exponential_histogram_record_bound`: `f64` values spread over 1..10⁴ (goal ≤ 4×).
//! - `nanotel/histogram_record_bound_exemplars_off`: the same record under a provider whose
//!   exemplar filter is `AlwaysOff` (no exemplar storage, no thread-local read): the record as it
//!   was before exemplars, for the cost of asking outside a span (goal: `histogram_record_bound`,
//!   which asks under the default `TraceBased` filter, within 1.1× of it).
//! - `nanotel/*_in_sampled_span`: the bound histogram, exponential histogram and counter records
//!   while a sampled span context is entered, so each keeps an exemplar (value, clock ticks, trace
//!   and span id) (goal for the explicit histogram: ≤ 2× `histogram_record_bound`).
//! - `nanotel/histogram_record_unbound_filtered` and `nanotel/*_unbound_filtered_in_sampled_span`:
//!   a histogram record and a counter add with the 3 attributes on instruments whose view keeps 2,
//!   outside and inside a sampled span: inside, the exemplar also keeps the removed pair, copied
//!   inline (no goal; the cost of keeping it is the ratio to the record outside a span).
//! - `limit/contended_atomic_2threads` and `nanotel/contended_counter_add_2threads`: two threads
//!   adding to one shared `AtomicU64`, and to one bound counter; the figure is the time per add
//!   per thread, from each thread's CPU time on Linux (goal: the counter at most 0.3× the shared
//!   atomic).
//!
//! After the run the bench prints the ratios from criterion's estimates of this run.

#[path = "support/estimates.rs"]
mod estimates;

#[path = "support/cpu_time.rs"]
mod cpu_time;
#[path = "support/sampled.rs"]
mod sampled;
#[path = "support/sdk_sinks.rs"]
mod sdk_sinks;
use sampled::sampled_context;
use sdk_sinks::NoopMetrics;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::Criterion;

use cpu_time::thread_cpu_ns;

use nanotel::attributes::KeyValue;
use nanotel::metrics::{ExemplarFilter, MeterProvider, StaticCounter, StaticHistogram, TemporalityPreference, View};

const GROUP: &str = "metrics";

static FLOOR: AtomicU64 = AtomicU64::new(0);

/// The static counter of `nanotel/counter_add_static`.
static STATIC_COUNTER: StaticCounter = StaticCounter::new("bench.static_counter");

/// The static histogram of `nanotel/histogram_record_static` (default boundaries).
static STATIC_HISTOGRAM: StaticHistogram = StaticHistogram::new("bench.static_histogram");

fn attributes() -> [KeyValue; 3] {
    [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("symbol", "AAPL")]
}

/// The symbols of the 16-set benchmarks.
const SYMBOLS: [&str; 16] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AVGO", "COST", "NFLX", "AMD", "PEP", "ADBE", "CSCO",
    "TMUS", "INTC",
];

/// Runs `add` on two threads, `iters` times each, started together, and returns the time per
/// add per thread: the threads' mean CPU time where the OS reports it (so time a thread spends
/// descheduled on a busy machine is not counted as the cost of its adds), else the wall time.
fn two_threads(iters: u64, add: impl Fn() + Send + Sync + 'static) -> Duration {
    let add = Arc::new(add);
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (add, barrier) = (add.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = thread_cpu_ns();
                for _ in 0..iters {
                    add();
                }
                Some(thread_cpu_ns()? - start?)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let cpu: Vec<Option<u64>> = workers.into_iter().map(|w| w.join().expect("a benchmark thread panicked")).collect();
    let wall = start.elapsed();
    match (cpu[0], cpu[1]) {
        (Some(a), Some(b)) => Duration::from_nanos((a + b) / 2),
        _ => wall,
    }
}

fn benches(c: &mut Criterion) {
    let provider = MeterProvider::builder()
        .without_env()
        .with_view(View::new("orders.filtered").with_kept_attributes(["venue", "side"]))
        .with_view(View::new("latency.filtered").with_kept_attributes(["venue", "side"]))
        .build();
    let meter = provider.meter("bench");
    let counter = meter.u64_counter("orders").build().expect("a valid name");
    let filtered = meter.u64_counter("orders.filtered").build().expect("a valid name");
    let bound = counter.bind(&attributes());
    let histogram = meter.u64_histogram("latency").build().expect("a valid name");
    let bound_histogram = histogram.bind(&attributes());
    let gauge = meter.f64_gauge("spread").build().expect("a valid name");
    let bound_gauge = gauge.bind(&attributes());
    let filtered_histogram = meter.u64_histogram("latency.filtered").build().expect("a valid name");
    let exponential = meter.f64_histogram("latency.exp").with_exponential_buckets().build().expect("a valid name");
    let bound_exponential = exponential.bind(&attributes());
    let attrs = attributes();
    let sets: Vec<[KeyValue; 3]> = SYMBOLS
        .iter()
        .map(|&symbol| [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("symbol", symbol)])
        .collect();
    // Under delta, idle series are evicted (the default): the table pins an epoch per record.
    let evicting_provider =
        MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    let evicting = evicting_provider.meter("bench").u64_counter("orders").build().expect("a valid name");
    let reordered = [KeyValue::new("symbol", "AAPL"), KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy")];
    let no_exemplars = MeterProvider::builder().without_env().with_exemplar_filter(ExemplarFilter::AlwaysOff).build();
    let off_histogram = no_exemplars.meter("bench").u64_histogram("latency").build().expect("a valid name");
    let bound_off_histogram = off_histogram.bind(&attributes());
    let sampled = sampled_context();

    // The SDK's stable API: a periodic reader (its interval far beyond the run) with an exporter
    // that discards, so the SDK aggregates exactly as it would in production.
    let sdk_reader = opentelemetry_sdk::metrics::PeriodicReader::builder(NoopMetrics)
        .with_interval(Duration::from_secs(3600))
        .build();
    let sdk_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().with_reader(sdk_reader).build();
    let sdk_counter =
        opentelemetry::metrics::MeterProvider::meter(&sdk_provider, "bench").u64_counter("orders").build();
    let sdk_attrs = [
        opentelemetry::KeyValue::new("venue", "XNAS"),
        opentelemetry::KeyValue::new("side", "buy"),
        opentelemetry::KeyValue::new("symbol", "AAPL"),
    ];
    let sdk_sets: Vec<[opentelemetry::KeyValue; 3]> = SYMBOLS
        .iter()
        .map(|&symbol| {
            [
                opentelemetry::KeyValue::new("venue", "XNAS"),
                opentelemetry::KeyValue::new("side", "buy"),
                opentelemetry::KeyValue::new("symbol", symbol),
            ]
        })
        .collect();

    // One value per default bucket, visited in a scrambled order so the branch predictor cannot
    // learn the bucket.
    let spread: [u64; 16] = [3, 7500, 20, 60, 900, 0, 8, 300, 11000, 90, 2000, 4000, 600, 9000, 40, 6000];
    let exp_spread: [f64; 16] =
        [1.5, 9000.0, 23.0, 61.0, 870.0, 2.2, 8.1, 310.0, 5.5, 95.0, 2100.0, 4400.0, 640.0, 7000.0, 44.0, 1.01];

    let mut group = c.benchmark_group(GROUP);
    group.bench_function("limit/atomic_fetch_add", |b| b.iter(|| FLOOR.fetch_add(black_box(1), Ordering::Relaxed)));
    group.bench_function("nanotel/counter_add_bound", |b| b.iter(|| bound.add(black_box(1))));
    // The same with the handle read from memory each add, as a program that adds once per order
    // reads it: in the loop above the compiler may keep the handle's fields in registers.
    group.bench_function("nanotel/counter_add_bound_handle_read", |b| b.iter(|| black_box(&bound).add(black_box(1))));
    group.bench_function("nanotel/counter_add_static", |b| b.iter(|| STATIC_COUNTER.add(black_box(1))));
    group.bench_function("nanotel/counter_add_unbound", |b| b.iter(|| counter.add(black_box(1), black_box(&attrs))));
    group.bench_function("opentelemetry_sdk/counter_add", |b| {
        b.iter(|| sdk_counter.add(black_box(1), black_box(&sdk_attrs)))
    });
    group.bench_function("nanotel/counter_add_unbound_16_sets", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            counter.add(black_box(1), black_box(&sets[i & 15]))
        })
    });
    group.bench_function("nanotel/counter_add_unbound_evicting", |b| {
        b.iter(|| evicting.add(black_box(1), black_box(&attrs)))
    });
    group.bench_function("nanotel/counter_add_unbound_16_sets_evicting", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            evicting.add(black_box(1), black_box(&sets[i & 15]))
        })
    });
    group.bench_function("opentelemetry_sdk/counter_add_16_sets", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            sdk_counter.add(black_box(1), black_box(&sdk_sets[i & 15]))
        })
    });
    group.bench_function("nanotel/counter_add_unbound_built_per_call", |b| {
        b.iter(|| {
            counter.add(
                black_box(1),
                &[
                    KeyValue::new("venue", black_box("XNAS")),
                    KeyValue::new("side", black_box("buy")),
                    KeyValue::new("symbol", black_box("AAPL")),
                ],
            )
        })
    });
    group.bench_function("opentelemetry_sdk/counter_add_built_per_call", |b| {
        b.iter(|| {
            sdk_counter.add(
                black_box(1),
                &[
                    opentelemetry::KeyValue::new("venue", black_box("XNAS")),
                    opentelemetry::KeyValue::new("side", black_box("buy")),
                    opentelemetry::KeyValue::new("symbol", black_box("AAPL")),
                ],
            )
        })
    });
    group.bench_function("nanotel/counter_add_unbound_reordered", |b| {
        b.iter(|| counter.add(black_box(1), black_box(&reordered)))
    });
    group.bench_function("nanotel/counter_add_unbound_filtered", |b| {
        b.iter(|| filtered.add(black_box(1), black_box(&attrs)))
    });
    group.bench_function("nanotel/histogram_record_unbound_filtered", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            filtered_histogram.record(black_box(spread[i & 15]), black_box(&attrs))
        })
    });
    group.bench_function("nanotel/histogram_record_bound", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            bound_histogram.record(black_box(spread[i & 15]))
        })
    });
    group.bench_function("nanotel/histogram_record_static", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            STATIC_HISTOGRAM.record(black_box(spread[i & 15]))
        })
    });
    // Right after the row it is compared with, so both meet the same machine load.
    group.bench_function("nanotel/histogram_record_bound_exemplars_off", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            bound_off_histogram.record(black_box(spread[i & 15]))
        })
    });
    group.bench_function("nanotel/gauge_record_bound", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            bound_gauge.record(black_box(exp_spread[i & 15]))
        })
    });
    group.bench_function("nanotel/exponential_histogram_record_bound", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            bound_exponential.record(black_box(exp_spread[i & 15]))
        })
    });
    {
        // Criterion runs each routine on this thread: the context is current throughout.
        let _entered = sampled.attach();
        group.bench_function("nanotel/histogram_record_bound_in_sampled_span", |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                bound_histogram.record(black_box(spread[i & 15]))
            })
        });
        group.bench_function("nanotel/exponential_histogram_record_bound_in_sampled_span", |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                bound_exponential.record(black_box(exp_spread[i & 15]))
            })
        });
        group.bench_function("nanotel/counter_add_bound_in_sampled_span", |b| b.iter(|| bound.add(black_box(1))));
        // The exemplar also keeps the pair the view removed (`symbol`), copied inline.
        group.bench_function("nanotel/histogram_record_unbound_filtered_in_sampled_span", |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                filtered_histogram.record(black_box(spread[i & 15]), black_box(&attrs))
            })
        });
        group.bench_function("nanotel/counter_add_unbound_filtered_in_sampled_span", |b| {
            b.iter(|| filtered.add(black_box(1), black_box(&attrs)))
        });
    }
    group.bench_function("limit/contended_atomic_2threads", |b| {
        let shared = Arc::new(AtomicU64::new(0));
        b.iter_custom(|iters| {
            let shared = shared.clone();
            two_threads(iters, move || {
                shared.fetch_add(black_box(1), Ordering::Relaxed);
            })
        })
    });
    group.bench_function("nanotel/contended_counter_add_2threads", |b| {
        b.iter_custom(|iters| {
            let bound = bound.clone();
            two_threads(iters, move || bound.add(black_box(1)))
        })
    });
    group.finish();
}

/// Criterion's estimate (ns) of one benchmark of this group in this run.
fn mean_ns(id: &str) -> Option<f64> {
    estimates::estimate_ns(GROUP, id)
}

fn print_ratios() {
    let ratio = |a: &str, b: &str| Some(mean_ns(a)? / mean_ns(b)?);
    let floor = "limit/atomic_fetch_add";
    let rows = [
        ("counter_add_bound / floor", ratio("nanotel/counter_add_bound", floor), "<= 1.2"),
        ("counter_add_static / floor", ratio("nanotel/counter_add_static", floor), "none"),
        ("counter_add_unbound / floor", ratio("nanotel/counter_add_unbound", floor), "<= 3"),
        (
            "sdk counter_add / counter_add_unbound",
            ratio("opentelemetry_sdk/counter_add", "nanotel/counter_add_unbound"),
            ">= 10",
        ),
        (
            "sdk counter_add_16_sets / counter_add_unbound_16_sets",
            ratio("opentelemetry_sdk/counter_add_16_sets", "nanotel/counter_add_unbound_16_sets"),
            "none",
        ),
        (
            "sdk counter_add_built_per_call / counter_add_unbound_built_per_call",
            ratio("opentelemetry_sdk/counter_add_built_per_call", "nanotel/counter_add_unbound_built_per_call"),
            "none",
        ),
        (
            "counter_add_unbound_evicting / counter_add_unbound",
            ratio("nanotel/counter_add_unbound_evicting", "nanotel/counter_add_unbound"),
            "none",
        ),
        (
            "counter_add_unbound_16_sets_evicting / counter_add_unbound_16_sets",
            ratio("nanotel/counter_add_unbound_16_sets_evicting", "nanotel/counter_add_unbound_16_sets"),
            "none",
        ),
        ("counter_add_unbound_reordered / floor", ratio("nanotel/counter_add_unbound_reordered", floor), "none"),
        ("counter_add_unbound_filtered / floor", ratio("nanotel/counter_add_unbound_filtered", floor), "none"),
        (
            "counter_add_unbound_filtered / counter_add_unbound",
            ratio("nanotel/counter_add_unbound_filtered", "nanotel/counter_add_unbound"),
            "none",
        ),
        ("histogram_record_bound / floor", ratio("nanotel/histogram_record_bound", floor), "<= 2.5"),
        ("histogram_record_static / floor", ratio("nanotel/histogram_record_static", floor), "none"),
        (
            "exponential_histogram_record_bound / floor",
            ratio("nanotel/exponential_histogram_record_bound", floor),
            "<= 4",
        ),
        (
            "histogram_record_bound / histogram_record_bound_exemplars_off",
            ratio("nanotel/histogram_record_bound", "nanotel/histogram_record_bound_exemplars_off"),
            "<= 1.1",
        ),
        (
            "histogram_record_bound_in_sampled_span / histogram_record_bound",
            ratio("nanotel/histogram_record_bound_in_sampled_span", "nanotel/histogram_record_bound"),
            "<= 2",
        ),
        (
            "exponential_histogram_record_bound_in_sampled_span / exponential_histogram_record_bound",
            ratio(
                "nanotel/exponential_histogram_record_bound_in_sampled_span",
                "nanotel/exponential_histogram_record_bound",
            ),
            "none",
        ),
        (
            "counter_add_bound_in_sampled_span / counter_add_bound",
            ratio("nanotel/counter_add_bound_in_sampled_span", "nanotel/counter_add_bound"),
            "none",
        ),
        (
            "histogram_record_unbound_filtered_in_sampled_span / histogram_record_unbound_filtered",
            ratio(
                "nanotel/histogram_record_unbound_filtered_in_sampled_span",
                "nanotel/histogram_record_unbound_filtered",
            ),
            "none",
        ),
        (
            "counter_add_unbound_filtered_in_sampled_span / counter_add_unbound_filtered",
            ratio("nanotel/counter_add_unbound_filtered_in_sampled_span", "nanotel/counter_add_unbound_filtered"),
            "none",
        ),
        (
            "contended_counter_add_2threads / contended floor",
            ratio("nanotel/contended_counter_add_2threads", "limit/contended_atomic_2threads"),
            "<= 0.3",
        ),
    ];
    println!("\nratios of this run:");
    for (name, value, goal) in rows {
        match value {
            Some(value) => println!("  {name:<66} {value:>7.3}   (goal {goal})"),
            None => println!("  {name:<66}     n/a   (not measured in this run)"),
        }
    }
}

fn main() {
    estimates::run_then_print(benches, print_ratios);
}
