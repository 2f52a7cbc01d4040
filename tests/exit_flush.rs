//! A program that ends with `std::process::exit`, its telemetry never shut down: what it recorded
//! last is flushed on the way out (an `atexit` hook), within the pipeline's exit flush timeout,
//! and an exit flush that cannot finish says on stderr what it leaves unsent. Each case runs in a
//! child process (this binary, one test selected) that exits mid-test.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use nanotel::logs::Severity;
use nanotel::proto::common::v1::InstrumentationScope;
use nanotel::proto::trace::v1::Span;
use nanotel::Signal;
use nanotel_testing::TestCollector;

/// Names the child's case and carries the collector's endpoint.
const ENDPOINT: &str = "EXIT_FLUSH_ENDPOINT";
/// The child's exit flush timeout, in milliseconds.
const TIMEOUT_MS: &str = "EXIT_FLUSH_TIMEOUT_MS";
/// Set when the child exits from a span processor, on the exporter thread.
const FROM_PROCESSOR: &str = "EXIT_FLUSH_FROM_PROCESSOR";
/// The code the span processor exits with, which only it uses.
const PROCESSORS_EXIT: i32 = 5;
/// Set when the child first forks a process of its own that exits at once.
const FORKED: &str = "EXIT_FLUSH_FORKED";

/// The child's work: telemetry to the parent's endpoint, a span, a log record and a counter add,
/// then `process::exit` with the `Telemetry` still alive (no destructor runs); or, with
/// [`FROM_PROCESSOR`], the exit called by a span processor on the exporter thread.
#[test]
fn child_process_entry() {
    let Some(endpoint) = std::env::var_os(ENDPOINT) else {
        return;
    };
    let timeout_ms: u64 = std::env::var(TIMEOUT_MS).expect("set by the parent").parse().expect("a number");
    let telemetry = nanotel::builder()
        .without_env()
        .with_endpoint(endpoint.to_str().expect("UTF-8"))
        .with_install_global(false)
        .configure_pipeline(move |pipeline| {
            let pipeline = pipeline.with_self_telemetry(false).with_exit_flush(Duration::from_millis(timeout_ms));
            if std::env::var_os(FROM_PROCESSOR).is_none() {
                return pipeline;
            }
            pipeline.with_span_processor(|_: &InstrumentationScope, _: &mut Span| std::process::exit(PROCESSORS_EXIT))
        })
        .build()
        .expect("telemetry");
    telemetry.tracer("exit").in_span("last order", |_| ());
    telemetry.logger("exit").emit(Severity::Error, "exiting: venue link lost", &[]);
    telemetry.meter("exit").u64_counter("exits").build().expect("a counter").add(1, &[]);
    if std::env::var_os(FROM_PROCESSOR).is_some() {
        telemetry.force_flush(Duration::from_secs(30)).expect("no answer: the process exits first");
        // Not reached when the processor exits: a code of its own says that it did not.
        std::process::exit(6);
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os(FORKED).is_some() {
        fork_and_exit();
    }
    std::process::exit(3);
}

/// Runs the child against `endpoint` with an exit flush of `timeout_ms`; returns its stderr.
fn run_child(endpoint: &str, timeout_ms: u64) -> String {
    run_child_with(endpoint, timeout_ms, &[])
}

/// [`run_child`] with more variables set.
fn run_child_with(endpoint: &str, timeout_ms: u64, vars: &[(&str, &str)]) -> String {
    let expected = if vars.iter().any(|(name, _)| *name == FROM_PROCESSOR) { PROCESSORS_EXIT } else { 3 };
    let mut child = Command::new(std::env::current_exe().expect("the test's own path"))
        .args(["--exact", "child_process_entry", "--nocapture", "--test-threads=1"])
        .env(ENDPOINT, endpoint)
        .env(TIMEOUT_MS, timeout_ms.to_string())
        .envs(vars.iter().copied())
        .env_remove("OTEL_LOG_LEVEL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("the child's stderr");
    let status = child.wait().expect("the child ends");
    assert_eq!(status.code(), Some(expected), "the child exits through process::exit; stderr:\n{stderr}");
    stderr
}

#[test]
fn what_was_recorded_before_process_exit_is_sent() {
    let collector = TestCollector::start().unwrap();
    let stderr = run_child(&collector.endpoint(), 5_000);
    // The child has exited: what it sent has arrived.
    let summary = collector.summary();
    assert_eq!(collector.accepted_items(Signal::Traces), 1, "{summary:?}\n{stderr}");
    assert_eq!(collector.accepted_items(Signal::Logs), 1, "{summary:?}\n{stderr}");
    assert!(collector.accepted_items(Signal::Metrics) >= 1, "{summary:?}\n{stderr}");
    assert!(!stderr.contains("exiting"), "{stderr}");
}

#[test]
fn a_zero_exit_flush_sends_nothing() {
    let collector = TestCollector::start().unwrap();
    run_child(&collector.endpoint(), 0);
    assert!(collector.received().is_empty(), "{:?}", collector.summary());
}

#[test]
fn an_exit_flush_that_cannot_finish_says_what_it_leaves() {
    // Takes the connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let stderr = run_child(&format!("http://{}", silent.local_addr().unwrap()), 300);
    assert!(
        stderr.contains("the process is exiting with telemetry not shut down: the flush at exit gave up after 300ms"),
        "{stderr}"
    );
    assert!(stderr.contains("item(s) not sent"), "{stderr}");
}

/// An exit called on the exporter thread (here by a span processor) does not wait for that
/// thread's own flush, which could only time out.
#[test]
fn an_exit_on_the_exporter_thread_does_not_wait_for_itself() {
    let collector = TestCollector::start().unwrap();
    let stderr = run_child_with(&collector.endpoint(), 2_000, &[(FROM_PROCESSOR, "1")]);
    assert!(!stderr.contains("exiting"), "{stderr}");
}

/// Forks a process that exits at once through `process::exit` (its exporter thread is not copied:
/// only the forking thread is), and waits for it.
#[cfg(target_os = "linux")]
fn fork_and_exit() {
    // SAFETY: the new process only calls `exit`, which runs the `atexit` functions; this test's
    // other threads (the exporter's) hold no lock those functions take.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        std::process::exit(4);
    }
    let mut status = 0;
    // SAFETY: `pid` is this process's child; `status` is a valid place for its status.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 4, "the forked process exited: {status}");
}

/// A process forked from one with a running pipeline has no exporter thread: its exit does not
/// wait for one, nor say that a flush gave up; the parent's own exit still sends.
#[cfg(target_os = "linux")]
#[test]
fn a_forked_process_exits_without_waiting_for_its_parents_pipeline() {
    let collector = TestCollector::start().unwrap();
    let stderr = run_child_with(&collector.endpoint(), 2_000, &[(FORKED, "1")]);
    assert!(!stderr.contains("exiting"), "{stderr}");
    assert_eq!(collector.accepted_items(Signal::Traces), 1, "{stderr}");
}
