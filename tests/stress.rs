//! The trace and log stress suite: long-lived recording threads beside thousands of short-lived
//! ones, spans started on one thread and ended on another, spans ended after their pipeline shut
//! down, pipelines and tracer providers dropped and made again, and a log provider attached to each
//! new pipeline in turn. Every span and log record created is accounted for exactly (exported, or dropped with
//! a reason), the collector receives what was exported, and the memory held comes back.
//! Run under `AddressSanitizer` by `scripts/asan.sh`.

#[path = "support/alloc.rs"]
mod alloc_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use alloc_support::{live_bytes, CountingAllocator};
use nanotel::export::{Pipeline, Snapshot};
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Sampler, Span, TracerProvider};
use nanotel::Signal;
use nanotel_testing::TestCollector;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const ROUNDS: usize = 3;
const WORKERS: usize = 16;
const SPANS_PER_WORKER: u64 = 500;
const SHORT_LIVED: usize = 1000;
const SHORT_LIVED_AT_ONCE: usize = 12;

/// What one round created.
#[derive(Default)]
struct Created {
    spans: AtomicU64,
    logs: AtomicU64,
}

/// What the thread that ends other threads' spans is asked to do.
enum ToFinisher {
    End(Span),
    /// Answers once every span sent before has ended.
    Ack(mpsc::Sender<()>),
}

#[test]
fn every_span_and_record_is_accounted_for_under_churn() {
    // One log provider for every round, attached to each round's pipeline in turn.
    let loggers = LoggerProvider::builder().without_env().build();
    let one_thread = one_threads_buffers();
    let baseline = live_bytes();
    for round in 0..ROUNDS {
        let collector = TestCollector::start().unwrap();
        let (accounting, created) = one_round(&collector, &loggers, round);
        let (spans, logs) = (created.spans.load(Ordering::Relaxed), created.logs.load(Ordering::Relaxed));
        for (signal, counts, made) in [("traces", &accounting.traces, spans), ("logs", &accounting.logs, logs)] {
            let dropped: u64 = counts.dropped.values().sum();
            assert_eq!(counts.enqueued, made, "round {round}, {signal}: every item counted: {counts:?}");
            assert_eq!(counts.exported + dropped + counts.queued, made, "round {round}, {signal}: {counts:?}");
            assert_eq!(counts.queued, 0, "round {round}, {signal}");
        }
        assert_eq!(accounting.traces.dropped.get("shutdown"), Some(&1), "the span open across shutdown");
        assert_eq!(collector.accepted_items(Signal::Traces), accounting.traces.exported, "round {round}");
        assert_eq!(collector.accepted_items(Signal::Logs), accounting.logs.exported, "round {round}");
        collector.shutdown();
    }
    // Each round's tracer provider, pipeline and collector are gone with it; the log provider
    // keeps one ring per thread that was alive at once (for the next threads), and this thread
    // its side of the last tracer provider. Without reuse, each of the thousands of threads would
    // have left its buffers behind.
    let at_once = (WORKERS + SHORT_LIVED_AT_ONCE + 2) as i64;
    let held = live_bytes() - baseline;
    assert!(held < at_once * one_thread + (1 << 20), "{held} bytes held, one thread's buffers being {one_thread}");
}

/// The bytes one thread's first span and log record allocate (its slab and two rings).
fn one_threads_buffers() -> i64 {
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let loggers = LoggerProvider::builder().without_env().build();
    let (tracer, logger) = (tracers.tracer("one"), loggers.logger("one"));
    let before = live_bytes();
    std::thread::scope(|s| {
        s.spawn(|| {
            tracer.span("one").start().end();
            logger.emit(Severity::Info, "one", &[]);
        });
    });
    live_bytes() - before
}

/// One pipeline with a fresh tracer provider and the log provider of every round: workers and short-lived threads record, a quarter of the
/// workers' spans end on the finisher thread, and one span ends after the pipeline shut down.
/// Returns the pipeline's final accounting and what was created.
fn one_round(collector: &TestCollector, loggers: &LoggerProvider, round: usize) -> (Snapshot, Created) {
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_poll_interval(Duration::from_millis(2))
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    tracers.attach(&pipeline);
    loggers.attach(&pipeline);
    let (tracer, logger) = (tracers.tracer("stress"), loggers.logger("stress"));
    let created = Created::default();
    std::thread::scope(|s| {
        let (to_finisher, inbox) = mpsc::channel();
        s.spawn(move || {
            for message in inbox {
                match message {
                    ToFinisher::End(span) => span.end(),
                    ToFinisher::Ack(ack) => ack.send(()).unwrap(),
                }
            }
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let (created, tracer, logger, to_finisher) = (&created, &tracer, &logger, to_finisher.clone());
                s.spawn(move || {
                    for i in 0..SPANS_PER_WORKER {
                        let mut span = tracer.span("work").start();
                        span.add_event("step", []);
                        logger.emit(Severity::Info, "work", &[]);
                        created.spans.fetch_add(1, Ordering::Relaxed);
                        created.logs.fetch_add(1, Ordering::Relaxed);
                        if (i + worker as u64).is_multiple_of(4) {
                            to_finisher.send(ToFinisher::End(span)).unwrap();
                        } else {
                            span.end();
                        }
                    }
                })
            })
            .collect();
        for _ in 0..SHORT_LIVED / SHORT_LIVED_AT_ONCE {
            // Joined by hand: a scope's end does not wait for thread-local destructors (see
            // tests/thread_churn_memory.rs).
            std::thread::scope(|wave| {
                let threads: Vec<_> = (0..SHORT_LIVED_AT_ONCE)
                    .map(|_| {
                        wave.spawn(|| {
                            tracer.span("short-lived").start().end();
                            logger.emit(Severity::Info, "short-lived", &[]);
                            created.spans.fetch_add(1, Ordering::Relaxed);
                            created.logs.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                    .collect();
                threads.into_iter().for_each(|thread| thread.join().unwrap());
            });
        }
        workers.into_iter().for_each(|worker| worker.join().unwrap());
        // Every span handed over has ended before shutdown, but this one.
        let (ack, acked) = mpsc::channel();
        to_finisher.send(ToFinisher::Ack(ack)).unwrap();
        acked.recv().unwrap();
        let open_across = tracer.span("open across shutdown").start();
        created.spans.fetch_add(1, Ordering::Relaxed);
        let report = pipeline.shutdown(Duration::from_secs(20));
        assert!(report.accounting.traces.exported > 0, "round {round}: {:?}", report.accounting);
        to_finisher.send(ToFinisher::End(open_across)).unwrap();
    });
    (handle.accounting(), created)
}
