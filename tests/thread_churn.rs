//! Spans and log records that cross threads, threads that come and go, and providers dropped
//! while records are in flight: nothing is freed while in use, and a thread's first record never
//! waits for a drain. (The memory bound under churn is in `thread_churn_memory.rs`, alone in its
//! binary: it counts the bytes the whole binary holds.)

use std::sync::mpsc;
use std::time::Duration;

use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Context, Sampler, TracerProvider};

#[path = "support/dropped_provider.rs"]
mod dropped_provider;

use dropped_provider::end_spans_after_their_provider_drops;

fn tracers() -> TracerProvider {
    TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build()
}

/// A span started on one thread and ended on another leaves, in the second thread's ring, a
/// record whose data lives in the first thread's slab. The first thread exits, the provider is
/// dropped, and only then is the ring dropped (its thread moves on to a new provider): the slab
/// must still be there. (Before the fix: a segfault, the slab having gone with the provider.)
#[test]
fn a_span_ended_on_another_thread_outlives_its_thread_and_provider() {
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

/// A span owns what it needs: it is `'static + Send + Sync`, so it can move into a spawned
/// thread (or task) and end there, after its tracer and provider are gone.
#[test]
fn a_span_outlives_its_tracer_and_provider_and_ends_on_another_thread() {
    fn owned<T: Send + Sync + 'static>(value: T) -> T {
        value
    }
    let provider = tracers();
    let tracer = provider.tracer("owned");
    let parent = owned(tracer.span("parent").start());
    let mut child =
        owned(tracer.span_with_parent("child", &Context::from_span_context(parent.context().clone())).start());
    let (parent_id, trace_id) = (parent.context().span_id(), parent.context().trace_id());
    parent.end();
    let (started_tx, started_rx) = mpsc::channel();
    let spawned = std::thread::spawn(move || {
        started_rx.recv().unwrap();
        child.set_attribute(nanotel::attributes::KeyValue::new("ended.on", "spawned"));
        child.end();
    });
    drop(tracer);
    let drained = provider.clone();
    started_tx.send(()).unwrap();
    spawned.join().unwrap();
    let mut spans = Vec::new();
    drained.drain(usize::MAX, |_, span| spans.push(span));
    let child = spans.iter().find(|span| span.name == "child").expect("the child reached its provider");
    assert_eq!(child.parent_span_id, parent_id.to_bytes().to_vec());
    assert_eq!(child.trace_id, trace_id.to_bytes().to_vec());
    assert_eq!(child.attributes.len(), 1);
    drop((provider, drained));
}

/// Spans still open when their provider is dropped end later, on their thread or another, after
/// which every thread moves on: nothing is used after it is freed (the `ASan` run of this suite
/// checks it) and nothing is held for good (`LSan`, and `thread_churn_memory.rs` for the bytes).
#[test]
fn spans_open_across_their_providers_drop_end_safely_anywhere() {
    for _ in 0..20 {
        end_spans_after_their_provider_drops();
    }
    // This thread's next provider lets the sides of the old ones go.
    let next = tracers();
    next.tracer("next").span("next").start().end();
    assert_eq!(next.drain(usize::MAX, |_, _| ()), 0);
}

/// A drain that takes its time (here: its sink waits) must not hold up a thread's first span or
/// log record, which registers the thread's ring. (Before: registration waited for the drain.)
#[test]
fn a_threads_first_record_does_not_wait_for_a_drain() {
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
