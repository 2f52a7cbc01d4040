//! `RUST_MIN_STACK` is the stack a program gives the threads it starts without saying a size; set
//! low (a program with many threads), nanotel's threads got it too, and the exporter overflowed
//! its stack in its first request, which aborts the process. Now nanotel's threads take at least
//! 2 MiB. The child process (this binary, one test selected) runs with a 128 KiB
//! `RUST_MIN_STACK`, enough for its own test thread, and exports every signal and serves a scrape.

#[path = "support/loopback.rs"]
mod loopback;

use std::process::Command;
use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::metrics::MeterProvider;
use nanotel::prometheus::PrometheusServer;
use nanotel::trace::TracerProvider;
use nanotel::Signal;
use nanotel_testing::TestCollector;

/// Carries the collector's endpoint to the child.
const ENDPOINT: &str = "SMALL_STACKS_ENDPOINT";

#[test]
fn child_process_entry() {
    let Some(endpoint) = std::env::var_os(ENDPOINT) else {
        return;
    };
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(endpoint.to_str().expect("UTF-8"))
        .build()
        .expect("a pipeline");
    let (tracers, loggers) =
        (TracerProvider::builder().without_env().build(), LoggerProvider::builder().without_env().build());
    let meters = MeterProvider::builder().without_env().build();
    tracers.attach(&pipeline);
    loggers.attach(&pipeline);
    meters.attach(&pipeline);
    let server =
        PrometheusServer::builder().with_address("127.0.0.1", 0).with_provider(&meters).start().expect("started");
    tracers.tracer("small").span("order").start().end();
    loggers.logger("small").emit(Severity::Info, "filled", &[]);
    meters.meter("small").u64_counter("orders").build().expect("a counter").add(1, &[]);
    assert!(loopback::scrape(server.local_addr()).starts_with("HTTP/1.1 200"));
    pipeline.force_flush(Duration::from_secs(10)).expect("flushed");
    println!("done");
}

#[test]
fn nanotels_threads_do_not_take_a_small_rust_min_stack() {
    let collector = TestCollector::start().unwrap();
    let output = Command::new(std::env::current_exe().expect("the test's own path"))
        .args(["--exact", "child_process_entry", "--nocapture", "--test-threads=1"])
        .env(ENDPOINT, collector.endpoint())
        .env("RUST_MIN_STACK", (128 * 1024).to_string())
        .output()
        .expect("the child runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && stdout.contains("done"), "{}:\n{stdout}\n{stderr}", output.status);
    for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
        assert!(collector.accepted_items(signal) >= 1, "{signal:?}: {:?}", collector.summary());
    }
}
