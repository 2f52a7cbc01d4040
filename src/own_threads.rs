//! nanotel's own threads: the exporter, the Prometheus endpoint, the test collector's.
//!
//! What they do goes through libraries instrumented with `tracing` (reqwest, hyper, h2, rustls,
//! tokio). Recorded by the `tracing` layer, it would not be the program's telemetry, and it would
//! feed itself: every export making new records to export, the last of them dropped at shutdown.
//! Each such thread marks itself when it starts, and the layer ignores spans and events there.
//!
//! The threads that talk to the network (the exporter's, the Prometheus endpoint's) also block
//! `SIGPIPE` as they start ([`block_sigpipe`]).

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

/// Blocks `SIGPIPE` on the calling thread, and so on the threads it starts afterwards (they
/// inherit its signal mask), for the rest of its life.
///
/// A write to a connection the peer has reset raises `SIGPIPE` on the writing thread unless the
/// write says otherwise: the standard library's `send` does (`MSG_NOSIGNAL`), its `writev`, which
/// hyper uses for every HTTP message, cannot. Rust's runtime ignores the signal before `main`, but
/// a program may set it back to its default action (a common idiom) and one whose `main` is not
/// Rust's never ignored it: there, a Prometheus scraper that gave up before its answer, or a
/// collector that closed a connection while a request was written, killed the process
/// (tests/sigpipe.rs). Blocked on this thread only, the signal stays pending on it (and goes with
/// it), the write fails with `EPIPE`, and the program's own disposition is left alone.
#[cfg(target_os = "linux")]
pub(crate) fn block_sigpipe() {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises `set` before `sigaddset` and `pthread_sigmask` read it;
    // `pthread_sigmask` changes the calling thread's mask only and accepts a null old-set pointer.
    // With `SIG_BLOCK` and a valid signal none of them can fail (only an unknown `how` or signal
    // number is refused), so their results are not checked.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
    }
}

/// Elsewhere nanotel does not depend on a C library binding ([`block_sigpipe`] is Linux's).
#[cfg(not(target_os = "linux"))]
pub(crate) fn block_sigpipe() {}
