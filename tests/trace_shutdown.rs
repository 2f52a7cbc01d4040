//! Spans ended while the pipeline shuts down are counted (as `shutdown` drops when they cannot be
//! sent), not left uncounted in their threads' buffers.

use std::time::{Duration, Instant};

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
