//! The console exporter writing to a standard output nobody reads (a container's log agent that
//! stalled): the pipe fills, and the exporter thread goes on exporting the other signals instead
//! of waiting for room, as it did until session 37. A child process (this binary, one test
//! selected) has its stdout piped to the parent, which does not read it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nanotel::export::{ExporterKind, Pipeline};
use nanotel::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::trace::v1::Span;
use nanotel::Signal;
use nanotel_testing::TestCollector;

/// Set in the child's environment.
const CHILD: &str = "CONSOLE_STDOUT_CHILD";

/// The child's work: spans to the console exporter, far more than a pipe holds, then a log record
/// over OTLP; says on stderr whether the record was exported.
#[test]
fn child_process_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let collector = TestCollector::start().expect("a collector");
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(collector.endpoint())
        .with_exporter(Signal::Traces, ExporterKind::Console)
        .with_exit_flush(Duration::ZERO)
        .build()
        .expect("a pipeline");
    let scope = std::sync::Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    let large = AnyValue { value: Some(any_value::Value::StringValue("x".repeat(10 * 1024))) };
    // More than a batch (512): one is written at once, not after the 5 s schedule delay.
    for i in 0..600_u64 {
        let span = Span {
            name: format!("order-{i}"),
            attributes: vec![KeyValue { key: "doc".into(), value: Some(large.clone()), ..Default::default() }],
            ..Default::default()
        };
        pipeline.handle().send_span(&scope, span);
    }
    std::thread::sleep(Duration::from_millis(300));
    pipeline.handle().send_log(&scope, LogRecord::default());
    let started = Instant::now();
    while pipeline.accounting().logs.exported == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let exported = pipeline.accounting().logs.exported;
    eprintln!("logs exported: {exported}; spans exported: {}", pipeline.accounting().traces.exported);
    pipeline.shutdown(Duration::from_millis(500));
}

#[test]
fn a_full_stdout_does_not_stop_the_other_signals() {
    let mut child = Command::new(std::env::current_exe().expect("the test's own path"))
        .args(["--exact", "child_process_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("OTEL_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    // Its stdout is left unread until it has said on stderr how the export went; then it is
    // drained, so that the child's test harness can print its own lines there and end.
    let stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
    let said = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .find(|line| line.starts_with("logs exported"))
        .unwrap_or_default();
    let mut stdout = child.stdout.take().expect("piped");
    let written = std::io::copy(&mut stdout, &mut std::io::sink()).expect("the child's stdout drained");
    let status = child.wait().expect("the child ends");
    assert!(status.success(), "{status}: {said}");
    assert!(said.starts_with("logs exported: 1;"), "{said}");
    // The console did write at least the pipe's 64 KiB (Linux's default): the spans went out,
    // and the pipe was full while the record was exported.
    assert!(written > 64 * 1024, "the console wrote {written} bytes; {said}");
}
