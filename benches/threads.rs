//! What one operation costs each thread as the number of recording threads grows from 1 to 64, on
//! whatever cores the machine has (2 on the machine of benches/README.md, so past 2 the threads
//! take turns, and past the stripe count they share stripes).
//!
//! - `threads/<op>/<n>`: `n` threads started together, each doing the same number of operations;
//!   the figure is the mean over the threads of each thread's CPU time per operation (Linux's
//!   `CLOCK_THREAD_CPUTIME_ID`), so time a thread spends waiting for a core is not counted as the
//!   operation's cost, but cache lines moving between cores and contended atomics are.
//! - `<op>`: `counter_add_bound` (one bound counter shared by every thread), `counter_add_static`
//!   (one [`StaticCounter`], whose threads share its 16 cells by their stacks' addresses),
//!   `histogram_record_bound`
//!   (one bound histogram, default buckets), `histogram_record_static` (one [`StaticHistogram`],
//!   whose threads claim its 16 stripes by their stacks' addresses), `span_start_end` (a sampled span with 2 attributes;
//!   each thread drains the buffers, untimed, after every 256 of its spans).
//!
//! After the run the bench checks that nothing was lost (every add in the counters' sums, every
//! histogram record in its count, every span drained and none dropped) and prints, per operation,
//! the ratio of 64 threads to 1 (goal ≤ 2).
//!
//! ```sh
//! cargo bench -p nanotel-benches --bench threads
//! ```

#[path = "support/estimates.rs"]
mod estimates;

#[path = "support/cpu_time.rs"]
mod cpu_time;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::Criterion;

use cpu_time::thread_cpu_ns;

use nanotel::attributes::KeyValue;
use nanotel::metrics::{MeterProvider, StaticCounter, StaticHistogram};
use nanotel::trace::{Sampler, TracerProvider};

const GROUP: &str = "threads";
const THREADS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
const SPAN_BURST: u64 = 256;

/// The counter of the `counter_add_static` rows.
static STATIC_ORDERS: StaticCounter = StaticCounter::new("bench.static_orders");

/// The histogram of the `histogram_record_static` rows (default boundaries).
static STATIC_LATENCY: StaticHistogram = StaticHistogram::new("bench.static_latency");

/// A thread's clock: its CPU time where the OS has one, else wall time.
fn now_ns(wall: Instant) -> u64 {
    thread_cpu_ns().unwrap_or_else(|| wall.elapsed().as_nanos() as u64)
}

/// Runs `work(iterations)` on `threads` threads started together; each returns the nanoseconds
/// it counted. The result is the mean per thread, as criterion's time for `iterations` operations.
fn on_threads(threads: usize, iterations: u64, work: Arc<dyn Fn(u64) -> u64 + Send + Sync>) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (work, barrier) = (work.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                work(iterations)
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|worker| worker.join().expect("a benchmark thread panicked")).sum();
    Duration::from_nanos(total / threads as u64)
}

/// `op` run `iterations` times, timed on the thread's clock.
fn timed(iterations: u64, mut op: impl FnMut()) -> u64 {
    let wall = Instant::now();
    let start = now_ns(wall);
    for _ in 0..iterations {
        op();
    }
    now_ns(wall) - start
}

fn benches(c: &mut Criterion) {
    let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("symbol", "AAPL")];
    let meters = MeterProvider::builder().without_env().build();
    let meter = meters.meter("bench");
    let counter = Arc::new(meter.u64_counter("orders").build().expect("a valid name").bind(&attributes));
    let histogram = Arc::new(meter.u64_histogram("latency").build().expect("a valid name").bind(&attributes));
    let tracers = Arc::new(TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build());
    // What every row did, to check against what the instruments and buffers hold at the end.
    let adds = Arc::new(AtomicU64::new(0));
    let static_adds = Arc::new(AtomicU64::new(0));
    let static_records = Arc::new(AtomicU64::new(0));
    let records = Arc::new(AtomicU64::new(0));
    let spans = Arc::new(AtomicU64::new(0));
    let drained = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group(GROUP);
    for threads in THREADS {
        let (counter, adds) = (counter.clone(), adds.clone());
        let work: Arc<dyn Fn(u64) -> u64 + Send + Sync> = Arc::new(move |iterations| {
            adds.fetch_add(iterations, Ordering::Relaxed);
            timed(iterations, || counter.add(black_box(1)))
        });
        group.bench_function(format!("counter_add_bound/{threads}"), |b| {
            b.iter_custom(|iterations| on_threads(threads, iterations, work.clone()))
        });

        let static_adds = static_adds.clone();
        let work: Arc<dyn Fn(u64) -> u64 + Send + Sync> = Arc::new(move |iterations| {
            static_adds.fetch_add(iterations, Ordering::Relaxed);
            timed(iterations, || STATIC_ORDERS.add(black_box(1)))
        });
        group.bench_function(format!("counter_add_static/{threads}"), |b| {
            b.iter_custom(|iterations| on_threads(threads, iterations, work.clone()))
        });

        let (histogram, records) = (histogram.clone(), records.clone());
        let work: Arc<dyn Fn(u64) -> u64 + Send + Sync> = Arc::new(move |iterations| {
            records.fetch_add(iterations, Ordering::Relaxed);
            let mut value = 0;
            timed(iterations, || {
                value = (value + 997) % 10_000;
                histogram.record(black_box(value))
            })
        });
        group.bench_function(format!("histogram_record_bound/{threads}"), |b| {
            b.iter_custom(|iterations| on_threads(threads, iterations, work.clone()))
        });

        let static_records = static_records.clone();
        let work: Arc<dyn Fn(u64) -> u64 + Send + Sync> = Arc::new(move |iterations| {
            static_records.fetch_add(iterations, Ordering::Relaxed);
            let mut value = 0;
            timed(iterations, || {
                value = (value + 997) % 10_000;
                STATIC_LATENCY.record(black_box(value))
            })
        });
        group.bench_function(format!("histogram_record_static/{threads}"), |b| {
            b.iter_custom(|iterations| on_threads(threads, iterations, work.clone()))
        });

        let (tracers, spans, drained, dropped) = (tracers.clone(), spans.clone(), drained.clone(), dropped.clone());
        let work: Arc<dyn Fn(u64) -> u64 + Send + Sync> = Arc::new(move |iterations| {
            spans.fetch_add(iterations, Ordering::Relaxed);
            let tracer = tracers.tracer("bench");
            let (mut total, mut done) = (0, 0);
            while done < iterations {
                let burst = SPAN_BURST.min(iterations - done);
                total += timed(burst, || {
                    let span = tracer
                        .span("order.send")
                        .with_attribute(KeyValue::new("venue", "XNAS"))
                        .with_attribute(KeyValue::new("order.qty", black_box(done as i64)))
                        .start();
                    drop(span);
                });
                done += burst;
                let lost = tracers.drain(usize::MAX, |_, span| {
                    black_box(span);
                    drained.fetch_add(1, Ordering::Relaxed);
                });
                dropped.fetch_add(lost, Ordering::Relaxed);
            }
            total
        });
        group.bench_function(format!("span_start_end/{threads}"), |b| {
            b.iter_custom(|iterations| on_threads(threads, iterations, work.clone()))
        });
    }
    group.finish();

    check_nothing_lost(&meters, &tracers, [&adds, &records, &spans, &drained, &dropped]);
    let static_adds = static_adds.load(Ordering::Relaxed);
    assert_eq!(STATIC_ORDERS.total(), static_adds, "every static add counted");
    let static_records = static_records.load(Ordering::Relaxed);
    assert_eq!(STATIC_LATENCY.count(), static_records, "every static record counted");
    println!("nothing lost: {static_adds} static counter adds, {static_records} static histogram records");
}

/// Every add and record is in the instruments, every span was drained and none dropped.
fn check_nothing_lost(meters: &MeterProvider, tracers: &TracerProvider, tallies: [&AtomicU64; 5]) {
    let [adds, records, spans, drained, dropped] = tallies.map(|tally| tally.load(Ordering::Relaxed));
    let late = tracers.drain(usize::MAX, |_, _| {});
    assert_eq!((drained, dropped + late), (spans, 0), "every span drained, none dropped");
    let (mut sum, mut count) = (None, None);
    for scope in meters.collect() {
        for metric in scope.metrics {
            use nanotel::proto::metrics::v1::metric::Data;
            match metric.data {
                Some(Data::Sum(points)) => sum = points.data_points.first().map(|point| point.value),
                Some(Data::Histogram(points)) => count = points.data_points.first().map(|point| point.count),
                _ => {}
            }
        }
    }
    use nanotel::proto::metrics::v1::number_data_point::Value;
    assert_eq!(sum, Some(Some(Value::AsInt(adds as i64))), "every add counted");
    assert_eq!(count, Some(records), "every record counted");
    println!("\nnothing lost: {adds} adds, {records} records, {spans} spans");
}

fn print_ratios() {
    println!("\nper-thread cost at 64 threads / at 1 thread, this run (goal <= 2):");
    let ops = [
        "counter_add_bound",
        "counter_add_static",
        "histogram_record_bound",
        "histogram_record_static",
        "span_start_end",
    ];
    for op in ops {
        let at = |threads: usize| estimates::estimate_ns(GROUP, &format!("{op}/{threads}"));
        match (at(1), at(64)) {
            (Some(one), Some(many)) => println!("  {op:<24} {one:>8.1} ns {many:>8.1} ns {:>6.2}x", many / one),
            _ => println!("  {op:<24} n/a (not measured in this run)"),
        }
    }
}

fn main() {
    estimates::run_then_print(benches, print_ratios);
}
