//! The propagators' allocation promises, counted by a wrapping global allocator: extracting a
//! `traceparent` without `tracestate` allocates nothing, and neither does injecting one into a map
//! that already holds the header; the same for B3 (either encoding) and the default composite
//! propagator. Only the test thread's own allocations are counted.

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue};
use nanotel::propagation::{
    traceparent, B3Propagator, CompositePropagator, Extractor, Injector, TraceContextPropagator,
};

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{allocations_in, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const VALUE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn extract_allocations(carrier: &dyn Extractor) -> u64 {
    let mut extracted = None;
    let count = allocations_in(|| extracted = TraceContextPropagator.extract(carrier));
    assert!(extracted.is_some());
    count
}

#[test]
fn traceparent_only_costs_no_allocation() {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_static(VALUE));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    assert_eq!(extract_allocations(&headers), 0, "extract from a header map");

    let mut map = HashMap::from([
        ("traceparent".to_owned(), VALUE.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ]);
    assert_eq!(extract_allocations(&map), 0, "extract from a hash map");

    let context = traceparent::parse(VALUE).unwrap();
    let mut out = String::with_capacity(64);
    assert_eq!(allocations_in(|| traceparent::write(&context, &mut out)), 0, "write into a reserved string");
    assert_eq!(out, VALUE);

    map.set("traceparent", "");
    assert_eq!(allocations_in(|| TraceContextPropagator.inject(&context, &mut map)), 0, "inject into a reused map");
    assert_eq!(map["traceparent"], VALUE);

    // Into a header map that holds the header: the value's copy only (a `HeaderValue` owns its
    // bytes); until session 42 the name was copied too.
    let mut headers = HeaderMap::new();
    TraceContextPropagator.inject(&context, &mut headers);
    assert_eq!(
        allocations_in(|| TraceContextPropagator.inject(&context, &mut headers)),
        1,
        "inject into a reused header map"
    );
    assert_eq!(headers.get_all("traceparent").iter().count(), 1);
    assert_eq!(headers["traceparent"], VALUE);

    // With a trace state, extraction does allocate: the state is kept.
    map.insert("tracestate".to_owned(), "rojo=1".to_owned());
    assert!(extract_allocations(&map) > 0, "the counter must see allocations");
}

#[test]
fn b3_and_the_composite_propagator_extract_without_allocating() {
    let context = traceparent::parse(VALUE).unwrap();
    let mut single = HashMap::new();
    let mut multi = HeaderMap::new();
    B3Propagator::single().inject(&context, &mut single);
    B3Propagator::multi().inject(&context, &mut multi);
    for carrier in [&single as &dyn Extractor, &multi] {
        let mut extracted = None;
        assert_eq!(allocations_in(|| extracted = B3Propagator::default().extract(carrier)), 0);
        assert_eq!(extracted.as_ref().map(nanotel::trace::SpanContext::trace_id), Some(context.trace_id()));
    }
    assert_eq!(allocations_in(|| B3Propagator::single().inject(&context, &mut single)), 0, "inject into a reused map");

    let composite = CompositePropagator::default();
    let headers = HashMap::from([("traceparent".to_owned(), VALUE.to_owned())]);
    let mut extracted = None;
    assert_eq!(allocations_in(|| extracted = composite.extract(&headers)), 0, "tracecontext,baggage: traceparent only");
    assert_eq!(extracted, Some(context));
}
