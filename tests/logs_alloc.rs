//! A log record with a static body and up to the inline number of attributes allocates nothing
//! once its thread is warmed up, whether it is kept, filtered out by severity or dropped by a full
//! buffer. Allocations are counted per thread, so the test harness and the exporter thread do not
//! interfere.

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::logs::{Logger, LoggerProvider, Severity};
use nanotel::trace::{Sampler, TracerProvider, INLINE_ATTRIBUTES};
use nanotel::Signal;

#[path = "support/console.rs"]
mod console;
use console::pipeline_to_a_discarded_console;

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{allocations_in, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Four records: the fast path with the inline number of attributes of every scalar type, the
/// builder with an event name, a timestamp and an attribute set twice, and one of each below
/// `Info`, which a provider at `Info` filters out.
fn order_records(logger: &Logger, attributes: &[KeyValue; INLINE_ATTRIBUTES], i: i64) {
    logger.emit(Severity::Info, "order accepted", attributes);
    logger
        .record(Severity::Warn)
        .body("order rejected")
        .event_name("order.rejected")
        .timestamp_unix_nanos(1_700_000_000_000_000_000)
        .attribute(KeyValue::new("order.id", i))
        .attribute(KeyValue::new("order.id", i + 1))
        .attribute(KeyValue::new("venue", "XNAS"))
        .emit();
    logger.emit(Severity::Debug, "filtered out below Info", attributes);
    logger.record(Severity::Trace).body("filtered out too").attribute(KeyValue::new("order.id", i)).emit();
}

fn attributes() -> [KeyValue; INLINE_ATTRIBUTES] {
    [
        KeyValue::new("venue", "XNAS"),
        KeyValue::new("order.qty", 100),
        KeyValue::new("order.price", 187.25),
        KeyValue::new("order.is_ioc", true),
        KeyValue::new("a", 1),
        KeyValue::new("b", 2),
        KeyValue::new("c", 3),
        KeyValue::new("d", 4),
    ]
}

#[test]
fn a_warm_record_allocates_nothing_inside_a_span() {
    assert_eq!(INLINE_ATTRIBUTES, 8, "attributes() holds exactly the inline number");
    let provider = LoggerProvider::builder().without_env().with_minimum_severity(Severity::Info).build();
    let logger = provider.logger("gateway");
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = tracers.tracer("gateway");
    let attributes = attributes();
    order_records(&logger, &attributes, 0); // the thread's ring is made here
    provider.drain(usize::MAX, |_, _| {});
    let span = tracer.span("order").start();
    let _entered = span.enter();
    for round in 0..5 {
        let allocations = allocations_in(|| (0..100).for_each(|i| order_records(&logger, &attributes, i)));
        assert_eq!(allocations, 0, "round {round}");
        let mut drained = Vec::new();
        provider.drain(usize::MAX, |_, record| drained.push(record));
        assert_eq!(drained.len(), 200);
        let span_id = span.context().span_id().to_bytes();
        assert!(drained.iter().all(|record| record.span_id == span_id));
    }
    // The counter does count: an owned body allocates, and so does one attribute past the inline number.
    assert!(allocations_in(|| logger.record(Severity::Info).body(String::from("owned")).emit()) > 0);
    let spilled = allocations_in(|| {
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        logger.record(Severity::Info).attributes(keys.map(|key| KeyValue::new(key, 1))).emit();
    });
    assert!(spilled > 0);
}

#[test]
fn a_full_buffer_allocates_nothing() {
    let provider = LoggerProvider::builder().without_env().with_buffer_capacity(8).build();
    let logger = provider.logger("gateway");
    let attributes = attributes();
    order_records(&logger, &attributes, 0);
    let allocations = allocations_in(|| (0..1000).for_each(|i| order_records(&logger, &attributes, i)));
    assert_eq!(allocations, 0);
    let mut kept = 0;
    let dropped = provider.drain(usize::MAX, |_, _| kept += 1);
    assert_eq!((kept, dropped), (8, 4 * 1001 - 8));
}

#[test]
fn a_record_allocates_nothing_while_the_exporter_thread_drains() {
    let pipeline = pipeline_to_a_discarded_console(Signal::Logs);
    let provider = LoggerProvider::builder().without_env().with_minimum_severity(Severity::Info).build();
    provider.attach(&pipeline);
    let logger = provider.logger("gateway");
    let attributes = attributes();
    order_records(&logger, &attributes, 0);
    for _ in 0..20 {
        assert_eq!(allocations_in(|| (0..50).for_each(|i| order_records(&logger, &attributes, i))), 0);
        std::thread::sleep(Duration::from_millis(2));
    }
    pipeline.force_flush(Duration::from_secs(10)).unwrap();
    let logs = pipeline.shutdown(Duration::from_secs(5)).accounting.logs;
    assert_eq!(logs.enqueued, 2 * 1001, "every record reached the pipeline or was counted");
    assert_eq!(logs.enqueued, logs.exported + logs.dropped.values().sum::<u64>() + logs.queued);
}

/// A logger looked up again allocates nothing (see `tests/trace_alloc.rs`'s tracer test).
#[test]
fn a_logger_looked_up_again_allocates_nothing() {
    let provider = LoggerProvider::builder().without_env().build();
    drop((provider.logger("gateway"), provider.logger_with_version("gateway", "1.2")));
    assert_eq!(allocations_in(|| drop(provider.logger("gateway"))), 0);
    assert_eq!(allocations_in(|| drop(provider.logger_with_version("gateway", "1.2"))), 0);
}
