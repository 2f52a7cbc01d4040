//! Spans and log records that end after their pipeline has shut down are counted as dropped at
//! shutdown, not left uncounted in their threads' buffers (no exporter thread will drain them).

use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Sampler, TracerProvider};
use nanotel_testing::TestCollector;

#[test]
fn spans_and_logs_ended_after_shutdown_are_counted() {
    let collector = TestCollector::start().unwrap();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_poll_interval(Duration::from_millis(1))
        .build();
    let pipeline = pipeline.unwrap();
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    tracers.attach(&pipeline);
    let loggers = LoggerProvider::builder().without_env().build();
    loggers.attach(&pipeline);
    let tracer = tracers.tracer("gateway");
    let logger = loggers.logger("gateway");
    // The accounting stays readable through a handle after the pipeline is gone.
    let handle = pipeline.handle();

    let open_across_shutdown = tracer.span("open across shutdown").start();
    tracer.span("before").start().end();
    logger.emit(Severity::Info, "before", &[]);
    let at_shutdown = pipeline.shutdown(Duration::from_secs(10)).accounting;
    assert_eq!((at_shutdown.traces.exported, at_shutdown.logs.exported), (1, 1), "{at_shutdown:?}");

    open_across_shutdown.end();
    tracer.span("after").start().end();
    std::thread::scope(|s| {
        s.spawn(|| {
            tracer.span("after, elsewhere").start().end();
            logger.emit(Severity::Warn, "after, elsewhere", &[]);
        });
    });
    logger.emit(Severity::Info, "after", &[]);

    let now = handle.accounting();
    for (signal, before, after, late) in
        [("traces", &at_shutdown.traces, &now.traces, 3), ("logs", &at_shutdown.logs, &now.logs, 2)]
    {
        assert_eq!(after.enqueued, before.enqueued + late, "{signal}: {after:?}");
        assert_eq!(after.dropped["shutdown"], before.dropped["shutdown"] + late, "{signal}: {after:?}");
        assert_eq!(after.enqueued, after.exported + after.dropped.values().sum::<u64>() + after.queued, "{signal}");
    }
}

/// A provider attached to a second pipeline after its first shut down feeds the second: nothing
/// is counted as late on the first, or lost. (Before: every later span and record was counted as
/// dropped at shutdown on the first pipeline, and the second received nothing.)
#[test]
fn providers_attached_again_after_shutdown_feed_the_new_pipeline() {
    let collector = TestCollector::start().unwrap();
    let pipeline = || {
        Pipeline::builder()
            .without_env()
            .with_endpoint(collector.endpoint())
            .with_poll_interval(Duration::from_millis(1))
            .build()
    };
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let loggers = LoggerProvider::builder().without_env().build();
    let (tracer, logger) = (tracers.tracer("gateway"), loggers.logger("gateway"));

    let first = pipeline().unwrap();
    tracers.attach(&first);
    loggers.attach(&first);
    let first_handle = first.handle();
    tracer.span("first").start().end();
    logger.emit(Severity::Info, "first", &[]);
    let first_report = first.shutdown(Duration::from_secs(10)).accounting;
    assert_eq!((first_report.traces.exported, first_report.logs.exported), (1, 1), "{first_report:?}");

    let second = pipeline().unwrap();
    tracers.attach(&second);
    loggers.attach(&second);
    for _ in 0..3 {
        tracer.span("second").start().end();
        logger.emit(Severity::Info, "second", &[]);
    }
    let second_report = second.shutdown(Duration::from_secs(10)).accounting;
    assert_eq!((second_report.traces.exported, second_report.logs.exported), (3, 3), "{second_report:?}");
    let first_now = first_handle.accounting();
    assert_eq!((first_now.traces.enqueued, first_now.logs.enqueued), (1, 1), "nothing late on the first");
}

/// A provider's `drain` called from inside its own drain's callback (a sink that drains again,
/// say to empty the rings before it returns) takes nothing and returns, for spans and log
/// records alike; until session 42 it waited for itself for ever.
#[test]
fn a_drain_from_inside_a_drain_takes_nothing() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
        let loggers = LoggerProvider::builder().without_env().build();
        let (tracer, logger) = (tracers.tracer("gateway"), loggers.logger("gateway"));
        for _ in 0..2 {
            tracer.span("order").start().end();
            logger.emit(Severity::Info, "order", &[]);
        }
        let (mut spans, mut inner_spans) = (0, 0);
        tracers.drain(usize::MAX, |_, _| {
            spans += 1;
            tracers.drain(usize::MAX, |_, _| inner_spans += 1);
        });
        let (mut records, mut inner_records) = (0, 0);
        loggers.drain(usize::MAX, |_, _| {
            records += 1;
            loggers.drain(usize::MAX, |_, _| inner_records += 1);
        });
        let _ = done.send((spans, inner_spans, records, inner_records));
    });
    let counts = finished.recv_timeout(Duration::from_secs(10)).expect("the drains returned");
    assert_eq!(counts, (2, 0, 2, 0));
}
