//! nanotel's own threads: the exporter, the Prometheus endpoint, the test collector's.
//!
//! What they do goes through libraries instrumented with `tracing` (reqwest, hyper, h2, rustls,
//! tokio). Recorded by the `tracing` layer, it would not be the program's telemetry, and it would
//! feed itself: every export making new records to export, the last of them dropped at shutdown.
//! Each such thread marks itself when it starts, and the layer ignores spans and events there.

use std::cell::Cell;

thread_local! {
    static OWN: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of nanotel's own, for the rest of its life.
pub fn mark_current() {
    OWN.with(|own| own.set(true));
}

/// Whether the calling thread is one of nanotel's own (false while its locals are torn down).
#[cfg(feature = "tracing")]
#[inline(always)]
pub(crate) fn is_current() -> bool {
    OWN.try_with(Cell::get).unwrap_or(false)
}
