//! Spans and log records that cross threads, threads that come and go, and providers dropped
//! while records are in flight: nothing is freed while in use, memory stays bounded, and a
//! thread's first record never waits for a drain.

#[path = "support/alloc.rs"]
mod alloc_support;

use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::Duration;

use alloc_support::{live_bytes, CountingAllocator};
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Sampler, TracerProvider};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Taken by every test here: the memory test counts the bytes the whole binary holds.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tracers() -> TracerProvider {
    TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build()
}

/// A span started on one thread and ended on another leaves, in the second thread's ring, a
/// record whose data lives in the first thread's slab. The first thread exits, the provider is
/// dropped, and only then is the ring dropped (its thread moves on to a new provider): the slab
/// must still be there. (Before the fix: a segfault, the slab having gone with the provider.)
#[test]
fn a_span_ended_on_another_thread_outlives_its_thread_and_provider() {
    let _serial = one_at_a_time();
    std::thread::spawn(|| {
        let provider = tracers();
        let tracer = provider.tracer("crossing");
        let span = std::thread::scope(|s| s.spawn(|| tracer.span("started elsewhere").start()).join().unwrap());
        span.end();
        drop(tracer);
        drop(provider);
        // This thread's first span for another provider lets its old, ownerless ring go.
        let next = tracers();
        next.tracer("next").span("next").start().end();
        let mut names = Vec::new();
        next.drain(usize::MAX, |_, span| names.push(span.name));
        assert_eq!(names, ["next"]);
    })
    .join()
    .unwrap();
}

/// Thread exit drops the ring, not the provider: the record crossing threads is freed there.
#[test]
fn a_crossing_span_is_freed_when_the_ending_thread_exits_after_the_provider() {
    let _serial = one_at_a_time();
    let provider = tracers();
    let tracer = provider.tracer("crossing");
    let (ended_tx, ended_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let ending_thread = std::thread::spawn(move || {
        let span = std::thread::scope(|s| s.spawn(|| tracer.span("crossing").start()).join().unwrap());
        span.end();
        drop(tracer);
        ended_tx.send(()).unwrap();
        // The provider goes while this thread's ring still holds the span.
        go_rx.recv().unwrap();
    });
    ended_rx.recv().unwrap();
    drop(provider);
    go_tx.send(()).unwrap();
    ending_thread.join().unwrap();
}

/// Thousands of short-lived threads, a few at a time, each recording a span and a log record
/// with nothing draining: the memory held grows with the threads alive at once, not with how
/// many came and went. (Before: one slab and two rings kept per thread, about 1.1 MiB each.)
#[test]
fn memory_is_bounded_under_thread_churn_without_a_drain() {
    let _serial = one_at_a_time();
    const AT_ONCE: usize = 4;
    const THREADS: usize = 2000;
    let tracers = tracers();
    let loggers = LoggerProvider::builder().without_env().build();
    let (tracer, logger) = (tracers.tracer("churn"), loggers.logger("churn"));
    let record = || {
        tracer.span("short-lived").start().end();
        logger.emit(Severity::Info, "short-lived", &[]);
    };
    // One thread's worth first, to learn the footprint of one thread's buffers.
    let before = live_bytes();
    std::thread::scope(|s| {
        s.spawn(record);
    });
    let one_thread = live_bytes() - before;
    for _ in 0..THREADS / AT_ONCE {
        std::thread::scope(|s| (0..AT_ONCE).for_each(|_| drop(s.spawn(record))));
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

/// A drain that takes its time (here: its sink waits) must not hold up a thread's first span or
/// log record, which registers the thread's ring. (Before: registration waited for the drain.)
#[test]
fn a_threads_first_record_does_not_wait_for_a_drain() {
    let _serial = one_at_a_time();
    let tracers = tracers();
    let loggers = LoggerProvider::builder().without_env().build();
    let (tracer, logger) = (tracers.tracer("first"), loggers.logger("first"));
    tracer.span("to drain").start().end();
    logger.emit(Severity::Info, "to drain", &[]);
    let (in_sink, release) = (mpsc::channel(), mpsc::channel::<()>());
    let (in_sink_tx, in_sink_rx) = in_sink;
    let (release_tx, release_rx) = release;
    std::thread::scope(|s| {
        let tracers = &tracers;
        let draining = s.spawn(move || {
            tracers.drain(usize::MAX, |_, _| {
                in_sink_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            });
        });
        in_sink_rx.recv().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        s.spawn(move || {
            tracer.span("first on its thread").start().end();
            logger.emit(Severity::Info, "first on its thread", &[]);
            done_tx.send(()).unwrap();
        });
        let waited = done_rx.recv_timeout(Duration::from_secs(5));
        release_tx.send(()).unwrap();
        draining.join().unwrap();
        assert!(waited.is_ok(), "the first span of a new thread waited for the drain");
    });
    let mut names = Vec::new();
    tracers.drain(usize::MAX, |_, span| names.push(span.name));
    assert_eq!(names, ["first on its thread"]);
}
