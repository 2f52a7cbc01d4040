//! A span with up to the inline number of attributes allocates nothing once its thread is warmed
//! up, whether it is recorded, refused by the sampler or dropped by a full ring. Allocations are
//! counted per thread, so the test harness and the exporter thread do not interfere.

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::trace::{Context, Sampler, SpanKind, Status, Tracer, TracerProvider, INLINE_ATTRIBUTES};
use nanotel::Signal;

#[path = "support/console.rs"]
mod console;
use console::pipeline_to_a_discarded_console;

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{allocations_in, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// A span with the inline number of attributes of every scalar type, entered, with a child.
fn order_span(tracer: &Tracer, i: i64) {
    let mut span = tracer
        .span("order.send")
        .with_kind(SpanKind::Client)
        .with_attribute(KeyValue::new("venue", "XNAS"))
        .with_attribute(KeyValue::new("order.qty", i))
        .with_attribute(KeyValue::new("order.price", 187.25))
        .with_attribute(KeyValue::new("order.is_ioc", true))
        .start();
    for key in ["a", "b", "c", "d"] {
        span.set_attribute(KeyValue::new(key, i));
    }
    span.set_attribute(KeyValue::new("a", "overwritten"));
    let _entered = span.enter();
    let child = tracer.span("risk").start();
    let context = Context::current();
    let sibling = tracer.span_with_parent("ack", &context).start();
    drop((child, sibling));
    span.set_status(Status::Ok);
}

#[test]
fn a_warm_span_allocates_nothing() {
    assert_eq!(INLINE_ATTRIBUTES, 8, "order_span sets exactly the inline number");
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = provider.tracer("gateway");
    order_span(&tracer, 0); // the thread's ring and id generator are made here
    provider.drain(usize::MAX, |_, _| {});
    for round in 0..5 {
        let allocations = allocations_in(|| (0..100).for_each(|i| order_span(&tracer, i)));
        assert_eq!(allocations, 0, "round {round}");
        let mut drained = 0;
        provider.drain(usize::MAX, |_, _| drained += 1);
        assert_eq!(drained, 300);
    }
    // The counter does count: one attribute past the inline number spills, an event allocates.
    let spilled = allocations_in(|| {
        let mut span = tracer.span("wide").start();
        for i in 0..=INLINE_ATTRIBUTES {
            span.set_attribute(KeyValue::new(["a", "b", "c", "d", "e", "f", "g", "h", "i"][i], 1));
        }
    });
    assert!(spilled > 0);
    assert!(allocations_in(|| tracer.span("eventful").start().add_event("ack", [])) > 0);
}

#[test]
fn a_full_ring_and_a_refused_span_allocate_nothing() {
    let full = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).with_ring_capacity(8).build();
    let full_tracer = full.tracer("gateway");
    let refusing = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOff).build();
    let refusing_tracer = refusing.tracer("gateway");
    order_span(&full_tracer, 0);
    order_span(&refusing_tracer, 0);
    let allocations = allocations_in(|| {
        (0..1000).for_each(|i| {
            order_span(&full_tracer, i);
            order_span(&refusing_tracer, i);
        })
    });
    assert_eq!(allocations, 0);
    let mut kept = 0;
    let dropped = full.drain(usize::MAX, |_, _| kept += 1);
    assert_eq!((kept, dropped), (8, 3 * 1001 - 8));
    assert_eq!(refusing.drain(usize::MAX, |_, _| panic!("nothing sampled")), 0);
}

#[test]
fn a_span_allocates_nothing_while_the_exporter_thread_drains() {
    let pipeline = pipeline_to_a_discarded_console(Signal::Traces);
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    order_span(&tracer, 0);
    for _ in 0..20 {
        assert_eq!(allocations_in(|| (0..50).for_each(|i| order_span(&tracer, i))), 0);
        std::thread::sleep(Duration::from_millis(2));
    }
    pipeline.force_flush(Duration::from_secs(10)).unwrap();
    let traces = pipeline.shutdown(Duration::from_secs(5)).accounting.traces;
    assert_eq!(traces.enqueued, 3 * 1001, "every span reached the pipeline or was counted");
    assert_eq!(traces.enqueued, traces.exported + traces.dropped.values().sum::<u64>() + traces.queued);
}
