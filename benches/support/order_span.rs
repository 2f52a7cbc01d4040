//! The span the single-operation benchmarks (`cold`, `touched`) time: `order.send` with a static
//! venue and a quantity the compiler cannot see, ended where it was made (moved by value, a span
//! pays a store-forwarding stall on its copy: see benches/README.md, the tracing section).

use std::hint::black_box;

use nanotel::attributes::KeyValue;
use nanotel::trace::Tracer;

/// Starts and ends one order span.
#[inline(always)]
pub fn order_span(tracer: &Tracer, qty: i64) {
    let _span = tracer
        .span("order.send")
        .with_attribute(KeyValue::new("venue", "XNAS"))
        .with_attribute(KeyValue::new("order.qty", black_box(qty)))
        .start();
}
