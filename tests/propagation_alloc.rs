//! The propagators' allocation promises, counted by a wrapping global allocator: extracting a
//! `traceparent` without `tracestate` allocates nothing, and neither does injecting one into a map
//! that already holds the header. (One test only, so no other test's allocations are counted.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{HeaderMap, HeaderValue};
use nanotel::propagation::{traceparent, Extractor, Injector, TraceContextPropagator};

struct Counting;

/// Allocations so far. Relaxed: only this test's thread reads it, after its own allocations.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's guarantees about `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(run: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

const VALUE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn extract_allocations(carrier: &dyn Extractor) -> usize {
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

    // With a trace state, extraction does allocate: the state is kept.
    map.insert("tracestate".to_owned(), "rojo=1".to_owned());
    assert!(extract_allocations(&map) > 0, "the counter must see allocations");
}
