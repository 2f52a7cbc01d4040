//! A collector that stops answering: the rings and the queue stay bounded, the spans that do not
//! fit are dropped and counted, and the accounting identity holds.

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::trace::{Sampler, TracerProvider};
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
fn a_stalled_exporter_keeps_memory_bounded_and_counts_every_drop() {
    let (_collector, pipeline) = pipeline_to_a_hanging_collector(Signal::Traces);
    let provider =
        TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).with_ring_capacity(256).build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    let mut ended = 0u64;
    let mut burst = |count: u64| {
        for i in 0..count {
            let mut span = tracer.span("order.send").with_attribute(KeyValue::new("qty", i as i64)).start();
            span.set_attribute(KeyValue::new("venue", "XNAS"));
            if i % 64 == 0 {
                // Paced a little, so the exporter thread gets to fill its queue and stall.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        ended += count;
    };
    burst(20_000);
    let settled = live_bytes();
    burst(200_000);
    let grown = live_bytes() - settled;
    // Ten times the spans, and memory stays where it was (allowing for the collector's own buffers).
    assert!(grown < 512 * 1024, "live memory grew by {grown} bytes");

    let report = pipeline.shutdown(Duration::from_millis(500));
    let traces = report.accounting.traces;
    assert_eq!(traces.enqueued, ended, "every span ended reached the pipeline or was counted");
    assert_eq!(traces.exported, 0);
    assert!(traces.dropped["queue_full"] > 100_000, "{:?}", traces.dropped);
    assert_eq!(traces.enqueued, traces.exported + traces.dropped.values().sum::<u64>() + traces.queued);
}
