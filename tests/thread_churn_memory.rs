//! Memory under thread and provider churn: thousands of short-lived threads hold what the threads
//! alive at once hold, and providers dropped under open spans leave nothing behind once those
//! spans end. Alone in its binary, because it counts the bytes the whole binary holds (another
//! test's thread freeing its buffers meanwhile would skew it); one test, so its parts run in turn.

#[path = "support/alloc.rs"]
mod alloc_support;
#[path = "support/dropped_provider.rs"]
mod dropped_provider;

use alloc_support::{live_bytes, CountingAllocator};
use dropped_provider::end_spans_after_their_provider_drops;
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Sampler, TracerProvider};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Thousands of short-lived threads, a few at a time, each recording a span and a log record
/// with nothing draining: the memory held grows with the threads alive at once, not with how
/// many came and went. (Before: one slab and two rings kept per thread, about 1.1 MiB each.)
#[test]
fn memory_is_bounded_under_thread_and_provider_churn() {
    memory_is_bounded_under_thread_churn_without_a_drain();
    providers_dropped_under_open_spans_are_freed_when_the_spans_end();
}

fn memory_is_bounded_under_thread_churn_without_a_drain() {
    const AT_ONCE: usize = 4;
    const THREADS: usize = 2000;
    // Room in every buffer for all the threads' records, so that none is dropped whichever
    // threads happen to share a buffer (each thread takes the buffers one that exited left).
    const ROOM: usize = 4096;
    let tracers =
        TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).with_ring_capacity(ROOM).build();
    let loggers = LoggerProvider::builder().without_env().with_buffer_capacity(ROOM).build();
    let (tracer, logger) = (tracers.tracer("churn"), loggers.logger("churn"));
    let record = || {
        tracer.span("short-lived").start().end();
        logger.emit(Severity::Info, "short-lived", &[]);
    };
    // One thread's worth first, to learn the footprint of one thread's buffers.
    let before = live_bytes();
    // Joined by hand: a scope's own end waits for its threads' closures, not for their
    // thread-local destructors, which give the buffers back (rust-lang/rust#116179); a join waits
    // for the thread to be gone.
    std::thread::scope(|s| s.spawn(record).join().unwrap());
    let one_thread = live_bytes() - before;
    for _ in 0..THREADS / AT_ONCE {
        std::thread::scope(|s| {
            let wave: Vec<_> = (0..AT_ONCE).map(|_| s.spawn(record)).collect();
            wave.into_iter().for_each(|thread| thread.join().unwrap());
        });
    }
    let held = live_bytes() - before;
    assert!(
        held <= (AT_ONCE as i64 + 1) * one_thread,
        "{held} bytes held after {THREADS} threads, one thread's buffers being {one_thread} bytes"
    );
    // Every record is still there, none lost: the buffers were reused, not dropped.
    let mut spans = 0;
    let dropped = tracers.drain(usize::MAX, |_, _| spans += 1);
    assert_eq!((spans, dropped), (THREADS as u64 + 1, 0));
    let mut logs = 0;
    let dropped = loggers.drain(usize::MAX, |_, _| logs += 1);
    assert_eq!((logs, dropped), (THREADS as u64 + 1, 0));
}

/// A span's slab keeps its recorder alive, and the recorder its spare slabs: the provider's drop
/// must break that cycle. Providers made and dropped while their spans are open (some ended on
/// other threads that then exit) hold nothing once the spans end but this thread's side of the
/// last one. (Before: each provider's recorder, rings and slabs, about a megabyte, kept for good.)
fn providers_dropped_under_open_spans_are_freed_when_the_spans_end() {
    const PROVIDERS: usize = 50;
    let before = live_bytes();
    let mut one_provider = 0;
    for round in 0..PROVIDERS {
        end_spans_after_their_provider_drops();
        if round == 0 {
            one_provider = live_bytes() - before;
        }
    }
    let held = live_bytes() - before;
    assert!(
        held <= one_provider + (64 << 10),
        "{held} bytes held after {PROVIDERS} providers, one provider's being {one_provider} bytes"
    );
}
