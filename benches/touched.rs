//! What each hot-path operation touches: run under valgrind's `lackey` tool by
//! `scripts/touched.sh`, which counts the distinct cache lines (64 bytes) and pages (4 KiB) of data
//! and of code between the two markers this program reads around one warm operation. Every line
//! and page is a potential miss in a gateway that did other work since the last call.
//!
//! Each operation runs 300 times first, so lazy set-up (thread-locals, per-thread buffers, the
//! series cache) is done, then once between the markers. A marker is a volatile read of a static
//! whose address the program prints first, so the script can find the region in lackey's trace.

#[path = "support/order_span.rs"]
mod order_span;
#[path = "support/sampled.rs"]
mod sampled;

use std::hint::black_box;
use std::ptr::read_volatile;

use nanotel::attributes::KeyValue;
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::metrics::{MeterProvider, StaticCounter, StaticHistogram};
use nanotel::trace::{Sampler, TracerProvider};
use order_span::order_span;
use sampled::sampled_context;

static BEGIN: u64 = 0x6e61_6e6f_7465_6c31;
static END: u64 = 0x6e61_6e6f_7465_6c32;

/// The counter of `nanotel/counter_add_static`.
static ORDERS_SENT: StaticCounter = StaticCounter::new("orders.sent");

/// The histogram of `nanotel/histogram_record_static`.
static FILL_LATENCY: StaticHistogram = StaticHistogram::new("fill.latency");

/// Runs `op` warm, then once between the markers, announcing the region as `name`.
fn region(name: &str, mut op: impl FnMut()) {
    for _ in 0..300 {
        op();
    }
    println!("region {name}");
    // SAFETY: reads of statics, valid and aligned; volatile so they stay where they are.
    unsafe { black_box(read_volatile(&BEGIN)) };
    op();
    // SAFETY: as above.
    unsafe { black_box(read_volatile(&END)) };
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`) is a quick no-op.
    if !std::env::args().any(|arg| arg == "--bench" || arg == "--touched") {
        return;
    }
    println!("markers {:p} {:p}", &BEGIN, &END);
    let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("symbol", "AAPL")];
    let meters = MeterProvider::builder().without_env().build();
    let meter = meters.meter("bench");
    let counter = meter.u64_counter("orders").build().expect("a valid name").bind(&attributes);
    region("nanotel/counter_add_bound", || counter.add(black_box(1)));
    region("nanotel/counter_add_static", || ORDERS_SENT.add(black_box(1)));
    let histogram = meter.u64_histogram("latency").build().expect("a valid name").bind(&attributes);
    let mut value = 0u64;
    region("nanotel/histogram_record_bound", || {
        value = (value + 997) % 10_000;
        histogram.record(black_box(value))
    });
    let mut latency = 0u64;
    region("nanotel/histogram_record_static", || {
        latency = (latency + 997) % 10_000;
        FILL_LATENCY.record(black_box(latency))
    });
    let exponential = meter.f64_histogram("latency.fine").with_exponential_buckets().build().expect("a valid name");
    let exponential = exponential.bind(&attributes);
    let mut fine = 0u64;
    region("nanotel/exponential_record_bound", || {
        fine = (fine + 997) % 10_000;
        exponential.record(black_box(fine as f64 + 1.0))
    });
    {
        // The default exemplar filter keeps one from a record made in a sampled span.
        let _entered = sampled_context().attach();
        region("nanotel/histogram_exemplar_kept", || {
            value = (value + 997) % 10_000;
            histogram.record(black_box(value))
        });
    }
    let unbound = meter.u64_counter("orders.unbound").build().expect("a valid name");
    region("nanotel/counter_add_unbound", || unbound.add(black_box(1), &attributes));

    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = tracers.tracer("bench");
    let mut qty = 0i64;
    let mut spans = 0;
    region("nanotel/span_start_end", || {
        qty += 1;
        spans += 1;
        if spans % 256 == 0 {
            tracers.drain(usize::MAX, |_, span| drop(black_box(span)));
        }
        order_span(&tracer, qty);
    });
    let refusing = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOff).build();
    let refusing_tracer = refusing.tracer("bench");
    region("nanotel/span_refused", || {
        qty += 1;
        order_span(&refusing_tracer, qty);
    });

    let loggers = LoggerProvider::builder().without_env().build();
    let logger = loggers.logger("bench");
    let log_attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("order.qty", 100)];
    let mut records = 0;
    region("nanotel/log_emit", || {
        records += 1;
        if records % 256 == 0 {
            loggers.drain(usize::MAX, |_, record| drop(black_box(record)));
        }
        logger.emit(Severity::Info, "order accepted", black_box(&log_attributes))
    });
}
