//! Spans ended while the pipeline shuts down are counted (as `shutdown` drops when they cannot be
//! sent), not left uncounted in their threads' buffers.

use std::time::{Duration, Instant};

use nanotel::export::{BatchConfig, BreakerConfig, Pipeline};
use nanotel::trace::{Sampler, TracerProvider};
use nanotel::Signal;

#[path = "support/hanging.rs"]
mod hanging;

use hanging::pipeline_to_a_hanging_collector;

#[test]
fn spans_ended_while_shutdown_runs_are_counted() {
    let (_collector, pipeline) = pipeline_to_a_hanging_collector(Signal::Traces);
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    tracer.span("before").start().end();
    let traces = std::thread::scope(|scope| {
        // The collector never answers, so shutdown runs until its 800 ms deadline; this thread
        // ends spans during its first 300 ms, well before it finishes.
        let started = Instant::now();
        let shutdown = scope.spawn(|| pipeline.shutdown(Duration::from_millis(800)));
        let mut ended = 1u64;
        while started.elapsed() < Duration::from_millis(300) {
            tracer.span("during").start().end();
            ended += 1;
            std::thread::sleep(Duration::from_micros(500));
        }
        let traces = shutdown.join().unwrap().accounting.traces;
        assert_eq!(traces.enqueued, ended, "every span ended while shutdown ran is counted");
        traces
    });
    assert_eq!(traces.enqueued, traces.exported + traces.dropped.values().sum::<u64>() + traces.queued);
    assert!(traces.dropped["shutdown"] > 10, "{:?}", traces.dropped);
}

/// A thread ending spans flat out while shutdown runs, the traces breaker open, does not keep
/// shutdown taking what the threads' buffers hold until its deadline: that takes at most half of
/// it, and the probe then goes out, so a collector that is back gets the backlog. (Until session
/// 41 the open breaker's lane always made room by shedding, the rounds went on while the thread
/// kept its buffer full, and shutdown spent its whole deadline sending nothing.)
#[test]
fn a_busy_recorder_leaves_shutdown_time_to_send() {
    let collector = nanotel_testing::TestCollector::start().unwrap();
    let down = nanotel_testing::Reply::Status { code: 503, retry_after: None, message: "down".into() };
    collector.script(Some(Signal::Traces), [down]);
    let every = BatchConfig { schedule_delay: Duration::from_millis(20), ..BatchConfig::defaults(Signal::Traces) };
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(collector.endpoint())
        .with_batch(Signal::Traces, every)
        .with_breaker(BreakerConfig {
            failure_threshold: 1,
            reset_timeout: Duration::from_secs(60),
            ..Default::default()
        })
        .with_backlog_max_bytes(256 * 1024)
        .build()
        .unwrap();
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("gateway");
    tracer.span("before").start().end();
    let open = || pipeline.accounting().traces.breaker.state == "open";
    let started = Instant::now();
    while !open() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(open(), "{}", pipeline.accounting().to_json());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (elapsed, traces) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tracer.span("during").start().end();
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        let report = pipeline.shutdown(Duration::from_secs(4));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (started.elapsed(), report.accounting.traces)
    });
    // The old rounds ran to the deadline (4 s); now they take at most 2 s of it.
    assert!(elapsed < Duration::from_millis(3900), "shutdown took {elapsed:?}");
    assert!(traces.exported > 0, "the probe went out: {traces:?}");
}
