//! A span with up to the inline number of attributes, a few events and links, allocates nothing
//! once its thread is warmed up, whether it is recorded, refused by the sampler or dropped by a
//! full ring; what does allocate is counted. Allocations are
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
}

/// The demo's order span: three events (one with an attribute), a link, an exception.
fn eventful_span(tracer: &Tracer, i: i64, linked: &nanotel::trace::SpanContext) {
    let mut span = tracer.span("order").with_link(linked.clone(), [KeyValue::new("link.kind", "quote")]).start();
    span.add_event("sent", []);
    span.add_event("acked", []);
    span.add_event("filled", [KeyValue::new("fill.qty", i)]);
}

#[test]
fn a_warm_span_with_events_and_a_link_allocates_nothing_and_what_allocates_is_counted() {
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = provider.tracer("gateway");
    let linked = tracer.span("quote").start().context().clone();
    // Warm-up: the thread's buffers, and boxes that the drains give back to its spares.
    (0..100).for_each(|i| eventful_span(&tracer, i, &linked));
    provider.drain(usize::MAX, |_, _| {});
    let counted = provider.heap_allocations();
    assert!(counted >= 100, "every box of the warm-up was new: {counted}");
    for round in 0..5 {
        let allocations = allocations_in(|| (0..100).for_each(|i| eventful_span(&tracer, i, &linked)));
        assert_eq!(allocations, 0, "round {round}");
        let mut exported = Vec::new();
        provider.drain(usize::MAX, |_, span| exported.push(span));
        assert_eq!(exported.len(), 100);
        let span = &exported[7];
        let events: Vec<(&str, usize)> = span.events.iter().map(|e| (e.name.as_str(), e.attributes.len())).collect();
        assert_eq!(events, [("sent", 0), ("acked", 0), ("filled", 1)], "a recycled box holds this span's events only");
        assert_eq!((span.links.len(), span.links[0].attributes.len()), (1, 1));
    }
    assert_eq!(provider.heap_allocations(), counted, "nothing more was counted either");
    // Past the room a recycled box keeps (16 events): allocated, and counted.
    let grown = allocations_in(|| {
        let mut span = tracer.span("busy").start();
        (0..17).for_each(|_| span.add_event("tick", []));
    });
    assert!(grown > 0);
    assert!(provider.heap_allocations() > counted);
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
        });
    });
    assert_eq!(allocations, 0);
    let mut kept = 0;
    let dropped = full.drain(usize::MAX, |_, _| kept += 1);
    assert_eq!((kept, dropped), (8, 3 * 1001 - 8));
    assert_eq!(refusing.drain(usize::MAX, |_, _| panic!("nothing sampled")), 0);
}

/// A refused span drops the attribute values it was given, here the last reference to arrays
/// nested one in another 10,000 deep: the drop takes them apart a level at a time (nothing
/// recurses), with the few it holds at once in place, not in an allocated list. (Made before the
/// count: the values themselves are the program's allocations.)
#[test]
fn a_refused_span_drops_a_deeply_nested_value_without_allocating() {
    use nanotel::attributes::Value;
    let refusing = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOff).build();
    let tracer = refusing.tracer("gateway");
    let nested =
        |levels: usize| (0..levels).fold(Value::from("bottom"), |inner, _| Value::from(vec![inner, Value::I64(1)]));
    let values: Vec<Value> = (0..10).map(|_| nested(10_000)).collect();
    tracer.span("warm").with_attributes([KeyValue::new("doc", nested(2))]).start().end();
    let allocations = allocations_in(|| {
        for value in values {
            tracer.span("parse").with_attributes([KeyValue::new("doc", value)]).start().end();
        }
    });
    assert_eq!(allocations, 0);
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

/// A tracer looked up again (as `nanotel::global::tracer(name)` does at each call) allocates
/// nothing: the scope is found by its name; until session 42 each lookup copied the name and
/// version first.
#[test]
fn a_tracer_looked_up_again_allocates_nothing() {
    let provider = TracerProvider::builder().without_env().build();
    drop((provider.tracer("gateway"), provider.tracer_with_version("gateway", "1.2")));
    assert_eq!(allocations_in(|| drop(provider.tracer("gateway"))), 0);
    assert_eq!(allocations_in(|| drop(provider.tracer_with_version("gateway", "1.2"))), 0);
    assert!(allocations_in(|| drop(provider.tracer("venue"))) > 0, "a new scope is made");
}
