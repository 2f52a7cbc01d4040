//! Hot-path calls compiled in a library crate, for the `cold` benchmark's `…/from_library` rows.
//!
//! Without link-time optimisation, a crate's code reaches thread-locals according to the crate
//! it is compiled in. In an executable's own crate a thread-local is one load at a fixed offset
//! from the thread pointer (`mov %fs:OFFSET`); in a library crate, compiled position-independent,
//! the compiler asks for the thread-local's address, which the linker turns into a read of the
//! thread pointer from memory first (`mov %fs:0`, the thread control block's line), and only then
//! the thread-local. nanotel's inlined hot paths (a bound counter add, a span start) take the form
//! of the crate they are inlined into, so a program that records from a library crate pays that
//! line, before the rest; the other rows of `cold` are compiled in the benchmark's own crate.
//! (With `lto = "thin"` or `"fat"`, every crate is compiled for the executable, and the extra read
//! is gone: see benches/README.md, `cold`, session 16.)

#[path = "support/order_span.rs"]
mod order_span;

use std::sync::atomic::{AtomicU64, Ordering};

use nanotel::metrics::{BoundCounter, BoundHistogram};
use nanotel::trace::Tracer;

/// A relaxed `fetch_add`, compiled here: the floor of the rows below, which pay the same call
/// (the function's own code line, and its address read from the global offset table, as a call
/// into another crate is made in a position-independent executable).
#[inline(never)]
pub fn fetch_add(cell: &AtomicU64, value: u64) {
    cell.fetch_add(value, Ordering::Relaxed);
}

/// [`BoundCounter::add`], compiled here.
#[inline(never)]
pub fn counter_add(counter: &BoundCounter<u64>, value: u64) {
    counter.add(value);
}

/// [`BoundHistogram::record`], compiled here.
#[inline(never)]
pub fn histogram_record(histogram: &BoundHistogram<u64>, value: u64) {
    histogram.record(value);
}

/// The `cold` benchmark's order span (`support/order_span.rs`), compiled here.
#[inline(never)]
pub fn order_span(tracer: &Tracer, qty: i64) {
    order_span::order_span(tracer, qty);
}
