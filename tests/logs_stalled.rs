//! A collector that hangs: the per-thread buffers and the logs queue stay bounded, records that do
//! not fit are dropped and counted, and the accounting identity holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{BatchConfig, Pipeline};
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::testing::{Reply, TestCollector};
use nanotel::Signal;

/// Bytes held by the whole test binary (allocated and not freed yet).
static HELD: AtomicI64 = AtomicI64::new(0);

struct HeldBytes;

// SAFETY: each call goes to the system allocator unchanged; the tally is one relaxed atomic add.
unsafe impl GlobalAlloc for HeldBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `alloc` hold for `System.alloc` as well.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller's guarantees on `new_size` are passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: HeldBytes = HeldBytes;

#[test]
fn a_hanging_collector_keeps_memory_bounded_and_counts_every_drop() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Hang(Duration::from_secs(60)));
    let batch = BatchConfig {
        max_queue_size: 512,
        max_export_batch_size: 128,
        schedule_delay: Duration::from_millis(10),
        ..BatchConfig::defaults(Signal::Logs)
    };
    let pipeline = Pipeline::builder()
        .without_env()
        .endpoint(collector.endpoint())
        .batch(Signal::Logs, batch)
        .poll_interval(Duration::from_millis(1))
        .build()
        .unwrap();
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
    let settled = HELD.load(Ordering::Relaxed);
    burst(100_000);
    let grown = HELD.load(Ordering::Relaxed) - settled;
    // Ten times the records, and memory stays where it was (allowing for the collector's buffers).
    assert!(grown < 512 * 1024, "held memory grew by {grown} bytes");

    let logs = pipeline.shutdown(Duration::from_millis(500)).accounting.logs;
    assert_eq!(logs.enqueued, emitted, "every record emitted reached the pipeline or was counted");
    assert_eq!(logs.exported, 0);
    assert!(logs.dropped["queue_full"] > 100_000, "{:?}", logs.dropped);
    assert_eq!(logs.enqueued, logs.exported + logs.dropped.values().sum::<u64>() + logs.queued);
}
