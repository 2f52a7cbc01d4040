//! Random trace and span ids from a fast per-thread generator.

use std::cell::UnsafeCell;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::span_context::{SpanId, TraceId};

thread_local! {
    // Seeded from the OS on a thread's first id; afterwards a few nanoseconds per id and no
    // syscall. A `const` initialiser and no destructor make each access a plain thread-local
    // address, with no lazy-initialisation state or borrow flag to check.
    static RNG: UnsafeCell<Option<SmallRng>> = const { UnsafeCell::new(None) };
}

/// Runs `draw` with this thread's generator.
#[inline(always)]
fn with_rng<R>(draw: impl FnOnce(&mut SmallRng) -> R) -> R {
    // Only the address is taken inside `with`: a closure that drew the ids there would be too
    // big to inline, and the access would become a call through the key's accessor.
    let rng = RNG.with(UnsafeCell::get);
    // SAFETY: the generator is this thread's and lives as long as it does; it is borrowed only
    // here, and `draw` (ids.rs's own closures, which only draw numbers) never comes back to
    // `with_rng`, so this is the only reference to it while it lives.
    let rng = unsafe { &mut *rng };
    draw(rng.get_or_insert_with(SmallRng::from_os_rng))
}

/// Where this thread's generator lives (for `metrics::series_cache`'s layout test).
#[cfg(all(test, target_arch = "x86_64", target_os = "linux", not(nanotel_loom)))]
pub(crate) fn generator_address() -> usize {
    RNG.with(|rng| rng.get() as usize)
}

/// A random, valid (never all-zero) trace id, for a root span whose sampler reads it.
#[inline(always)]
pub(crate) fn trace_id() -> TraceId {
    with_rng(draw_trace_id)
}

/// A random, valid (never all-zero) span id.
#[inline(always)]
pub(crate) fn span_id() -> SpanId {
    with_rng(draw_span_id)
}

/// A uniformly random number in `0..=bound`, from the same generator (for the exemplar
/// reservoirs' sampling).
#[inline]
pub(crate) fn random_up_to(bound: u64) -> u64 {
    with_rng(|rng| rng.random_range(0..=bound))
}

#[inline(always)]
fn draw_trace_id(rng: &mut SmallRng) -> TraceId {
    loop {
        let (high, low): (u64, u64) = (rng.random(), rng.random());
        if high | low != 0 {
            return TraceId::from_words(high, low);
        }
    }
}

#[inline(always)]
fn draw_span_id(rng: &mut SmallRng) -> SpanId {
    loop {
        let id: u64 = rng.random();
        if id != 0 {
            return SpanId::from_word(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let spans: std::collections::HashSet<_> = (0..1000).map(|_| span_id()).collect();
        let traces: std::collections::HashSet<_> = (0..1000).map(|_| trace_id()).collect();
        assert_eq!(traces.len(), 1000);
        assert!(traces.iter().all(TraceId::is_valid));
        assert_eq!(spans.len(), 1000);
        assert!(spans.iter().all(SpanId::is_valid));
    }
}
