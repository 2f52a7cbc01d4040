//! The `metrics` recorder (feature `metrics`) beside `metrics-exporter-prometheus`'s recorder,
//! both driven by the same `metrics` macros in one run, each installed as the thread's local
//! recorder.
//!
//! - `*/counter_held`, `*/gauge_held_set`, `*/gauge_held_increment`, `*/histogram_held`: a handle
//!   the macro returned once, held and recorded through.
//! - `*/counter_macro_labels`, `*/gauge_macro_labels`, `*/histogram_macro_labels`: the macro with
//!   two static labels on every call (register the key, record, drop the handle).
//!
//! Prometheus' recorder keeps every histogram value until a scrape renders it, so its samples are
//! timed in batches of 100 000 records with a render (untimed) between them; nanotel's run the same
//! way. Goal: nanotel at or below Prometheus' recorder on every row. After the run the bench prints
//! the ratios from criterion's estimates of this run.

#[path = "support/estimates.rs"]
mod estimates;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use metrics::Recorder;
use metrics_exporter_prometheus::PrometheusBuilder;

use nanotel::metrics::{MeterProvider, MetricsRecorder};

const GROUP: &str = "metrics_bridge";

/// Records timed between two drains of the recorder.
const BATCH: u64 = 100_000;

/// The rows, in the order they run.
const ROWS: [&str; 7] = [
    "counter_held",
    "gauge_held_set",
    "gauge_held_increment",
    "histogram_held",
    "counter_macro_labels",
    "gauge_macro_labels",
    "histogram_macro_labels",
];

/// Times `iters` calls of `record` in batches, running `drain` (untimed) after each batch.
fn in_batches(iters: u64, record: &dyn Fn(u64), drain: &dyn Fn()) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let batch = BATCH.min(iters - done);
        let start = Instant::now();
        for i in done..done + batch {
            record(black_box(i));
        }
        total += start.elapsed();
        done += batch;
        drain();
    }
    total
}

/// What one iteration of `row` records (`i` varies the value) with the recorder installed on
/// this thread: through a handle taken once for the `held` rows, through the macro otherwise.
fn recording(row: &str) -> Box<dyn Fn(u64)> {
    let counter = metrics::counter!("orders", "venue" => "XNAS", "side" => "buy");
    let gauge = metrics::gauge!("position", "venue" => "XNAS", "side" => "buy");
    let histogram = metrics::histogram!("latency", "venue" => "XNAS", "side" => "buy");
    match row {
        "counter_held" => Box::new(move |_| counter.increment(1)),
        "gauge_held_set" => Box::new(move |i| gauge.set(i as f64)),
        "gauge_held_increment" => Box::new(move |_| gauge.increment(1.0)),
        "histogram_held" => Box::new(move |i| histogram.record((i % 10_000) as f64)),
        "counter_macro_labels" => {
            Box::new(|_| metrics::counter!("orders", "venue" => "XNAS", "side" => "buy").increment(1))
        }
        "gauge_macro_labels" => {
            Box::new(|i| metrics::gauge!("position", "venue" => "XNAS", "side" => "buy").set(i as f64))
        }
        _ => {
            Box::new(|i| metrics::histogram!("latency", "venue" => "XNAS", "side" => "buy").record((i % 10_000) as f64))
        }
    }
}

/// Every row for one recorder, installed on this thread while it runs.
fn bench_recorder(c: &mut Criterion, name: &str, recorder: &dyn Recorder, drain: &dyn Fn()) {
    let mut group = c.benchmark_group(GROUP);
    metrics::with_local_recorder(recorder, || {
        for row in ROWS {
            let record = recording(row);
            group.bench_function(format!("{name}/{row}"), |b| b.iter_custom(|iters| in_batches(iters, &record, drain)));
        }
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let provider = MeterProvider::builder().without_env().build();
    let nanotel = MetricsRecorder::new(provider.meter("metrics"));
    bench_recorder(c, "nanotel", &nanotel, &|| {});

    let prometheus = PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    bench_recorder(c, "prometheus", &prometheus, &|| drop(black_box(handle.render())));
}

/// Criterion's estimate (ns) of one benchmark of this group in this run.
fn mean_ns(id: &str) -> Option<f64> {
    estimates::estimate_ns(GROUP, id)
}

fn print_ratios() {
    println!("\nnanotel / prometheus, this run (goal <= 1 on every row):");
    for row in ROWS {
        match (mean_ns(&format!("nanotel/{row}")), mean_ns(&format!("prometheus/{row}"))) {
            (Some(ours), Some(theirs)) => {
                println!("  {row:<24} {ours:>8.2} ns {theirs:>8.2} ns {:>7.3}", ours / theirs)
            }
            _ => println!("  {row:<24}      n/a   (not measured in this run)"),
        }
    }
}

fn main() {
    estimates::run_then_print(benches, print_ratios);
}
