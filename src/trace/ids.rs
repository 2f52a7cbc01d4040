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
    // SAFETY: the generator is this thread's and lives as long as it does. No reference to it is
    // held while `seeded` runs: seeding may allocate (`pthread_atfork`), and a global allocator
    // that records a span comes back here (its draw seeds and stores a generator of its own, which
    // this one then replaces). Until session 42 `get_or_insert_with` held a `&mut` across it.
    if unsafe { (*rng).is_none() } {
        let fresh = seeded();
        // SAFETY: as above; nothing borrows the generator now.
        unsafe { *rng = Some(fresh) };
    }
    // SAFETY: as above; `draw` (ids.rs's own closures, which only draw numbers) never comes back
    // to `with_rng`, so this is the only reference to it while it lives.
    match unsafe { &mut *rng } {
        Some(rng) => draw(rng),
        // Stored just above: never taken (a store the compiler may not see through the call).
        None => draw(&mut seeded()),
    }
}

/// A new generator from the OS, on a thread's first id (and again after a fork).
#[cold]
fn seeded() -> SmallRng {
    forget_the_generator_in_a_forked_child();
    SmallRng::from_os_rng()
}

/// Makes a forked child seed its own generator: `fork` copies the forking thread's generator
/// state, so without this the child's next ids would be the very ids the parent draws next (two
/// processes sending spans with one trace id). Only the forking thread lives on in the child, so
/// its generator is the only one to forget. Registered once per process, from the first seeding.
fn forget_the_generator_in_a_forked_child() {
    #[cfg(all(unix, not(nanotel_loom)))]
    {
        // A flag taken, not a `Once` waited on: registering may allocate (musl's
        // `pthread_atfork` does), and a global allocator that records a span would come back here
        // on the same thread, where a `Once` in progress waits for itself for ever. A thread that
        // finds the flag taken goes on without waiting (a fork in that moment's window keeps the
        // parent's sequence in the child, as when registering fails).
        static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        // Relaxed: only who registers is decided here; the registration orders nothing else.
        if !REGISTERED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            extern "C" fn in_the_child() {
                // SAFETY: this runs in the child on the thread that called `fork`, outside any
                // `with_rng` (nanotel never forks, and a program's fork is not made from inside
                // a draw), so nothing borrows this thread's generator. Clearing it only writes
                // the thread-local (a `const` one: no lazy initialisation, no allocation).
                RNG.with(|rng| unsafe { *rng.get() = None });
            }
            // SAFETY: `in_the_child` is a plain `extern "C" fn()` in the binary, valid for the
            // program's life; `pthread_atfork` only stores it. A failure (ENOMEM) leaves a
            // forked child drawing the parent's sequence, as before.
            let _ = unsafe { libc::pthread_atfork(None, None, Some(in_the_child)) };
        }
    }
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

    /// A forked child's ids are its own, not the ones the parent draws next.
    #[cfg(all(target_os = "linux", not(nanotel_loom)))]
    #[test]
    fn a_forked_child_draws_ids_of_its_own() {
        let _seeded = span_id();
        let mut ends = [0; 2];
        // SAFETY: a pipe into a local array of two descriptors.
        assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
        // SAFETY: the child only draws an id (a getrandom syscall for the new seed), writes it to
        // the pipe and leaves with `_exit`: no lock, allocation or destructor of the harness's
        // threads is touched.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let ids = [span_id().to_bytes(), span_id().to_bytes()];
            // SAFETY: writes the 16 bytes of `ids` to the pipe's write end; then leaves at once.
            unsafe {
                libc::write(ends[1], ids.as_ptr().cast(), 16);
                libc::_exit(0);
            }
        }
        let parents = [span_id().to_bytes(), span_id().to_bytes()];
        let mut childs = [[0u8; 8]; 2];
        // SAFETY: reads at most 16 bytes into `childs`, then reaps the child.
        let read = unsafe {
            libc::close(ends[1]);
            let read = libc::read(ends[0], childs.as_mut_ptr().cast(), 16);
            libc::close(ends[0]);
            libc::waitpid(child, std::ptr::null_mut(), 0);
            read
        };
        assert_eq!(read, 16, "the child wrote its ids");
        assert_ne!(childs, parents, "the child drew the parent's next ids");
    }
}
