//! A collector that hangs: the per-thread buffers and the logs queue stay bounded, records that do
//! not fit are dropped and counted, and the accounting identity holds.

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::Signal;

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{live_bytes, CountingAllocator};

#[path = "support/hanging.rs"]
mod hanging;

use hanging::pipeline_to_a_hanging_collector;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn a_hanging_collector_keeps_memory_bounded_and_counts_every_drop() {
    let (_collector, pipeline) = pipeline_to_a_hanging_collector(Signal::Logs);
    let provider = LoggerProvider::builder().without_env().with_buffer_capacity(256).build();
    provider.attach(&pipeline);
    let logger = provider.logger("gateway");
    let mut emitted = 0u64;
    let mut burst = |count: u64| {
        for i in 0..count {
            let qty = KeyValue::new("qty", i as i64);
            logger.emit(Severity::Info, "order accepted", &[qty, KeyValue::new("venue", "XNAS")]);
            logger.record(Severity::Warn).body("slow ack").event_name("order.slow").emit();
            if i % 64 == 0 {
                // A short pause now and then, so the exporter thread fills its queue and stalls.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        emitted += 2 * count;
    };
    burst(10_000);
    let settled = live_bytes();
    burst(100_000);
    let grown = live_bytes() - settled;
    // Ten times the records, and memory stays where it was (allowing for the collector's buffers).
    assert!(grown < 512 * 1024, "held memory grew by {grown} bytes");

    let logs = pipeline.shutdown(Duration::from_millis(500)).accounting.logs;
    assert_eq!(logs.enqueued, emitted, "every record emitted reached the pipeline or was counted");
    assert_eq!(logs.exported, 0);
    assert!(logs.dropped["queue_full"] > 100_000, "{:?}", logs.dropped);
    assert_eq!(logs.enqueued, logs.exported + logs.dropped.values().sum::<u64>() + logs.queued);
}
