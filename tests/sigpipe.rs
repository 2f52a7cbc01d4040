//! A program whose `SIGPIPE` is at its default action: killed by the signal when it writes to a
//! connection its peer has closed. Rust's runtime ignores `SIGPIPE` before `main`, but a program
//! may set it back (a common idiom, so that a tool dies quietly in a closed pipe), and a program
//! whose `main` is not Rust's (a C++ gateway linking nanotel through a library) never ignored it.
//! The standard library's sockets pass `MSG_NOSIGNAL` to `send`, but not to `writev`, which hyper
//! uses for every HTTP message: a scraper that hangs up in the middle of an answer, or a collector
//! that closes a connection while a request is being written, raised `SIGPIPE` on nanotel's
//! thread, and until session 36 (when nanotel's threads started blocking it) the process died.
//!
//! Each scenario runs in a child process of this binary (ignored in a normal run), which first
//! sets `SIGPIPE` to its default action; the parent checks that the child ended normally.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{Compression, Pipeline, RetryPolicy};
use nanotel::metrics::MeterProvider;
use nanotel::prometheus::PrometheusServer;
use nanotel::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue};
use nanotel::proto::trace::v1::Span;

/// Runs `scenario` in a child process and asserts that it ended by itself, successfully.
fn assert_survives(scenario: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([scenario, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.signal(), Some(libc::SIGPIPE), "killed by SIGPIPE:\n{stderr}");
    assert!(output.status.success(), "{}:\n{stderr}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("1 passed"), "the scenario did not run:\n{stdout}");
}

fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default has no preconditions; the scenario's
    // process is this test's alone.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
}

#[test]
fn a_scraper_hanging_up_mid_answer_does_not_kill_a_program_with_default_sigpipe() {
    assert_survives("scraper_hangs_up");
}

#[test]
#[ignore = "run in a child process by the test above"]
fn scraper_hangs_up() {
    default_sigpipe();
    let provider = MeterProvider::builder().without_env().build();
    let orders = provider.meter("gateway").u64_counter("orders").build().unwrap();
    // 16 MiB of answer (within the 2,000 series of the default cardinality limit), so that it
    // takes many writes.
    let note = "x".repeat(8 << 10);
    for order in 0..1_999_i64 {
        orders.add(1, &[KeyValue::new("order", order), KeyValue::new("note", note.clone())]);
    }
    let server = PrometheusServer::builder().with_address("127.0.0.1", 0).with_provider(&provider).start().unwrap();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        // Gone before the answer (a scraper's timeout): the server's first write is answered
        // with a reset, and its next one fails with EPIPE.
        drop(stream);
    }
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "the endpoint still answers");
}

#[test]
fn a_collector_closing_mid_request_does_not_kill_a_program_with_default_sigpipe() {
    assert_survives("collector_closes_mid_request");
}

/// A collector that reads each request's head, half-closes, then closes with the body unread.
fn closing_collector() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                head.push(byte[0]);
            }
            let _ = stream.shutdown(Shutdown::Write);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    address
}

#[test]
#[ignore = "run in a child process by the test above"]
fn collector_closes_mid_request() {
    default_sigpipe();
    let address = closing_collector();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(format!("http://{address}"))
        .with_compression(Compression::None)
        .with_timeout(Duration::from_secs(2))
        .with_retry(RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    let note = AnyValue { value: Some(any_value::Value::StringValue("y".repeat(16 << 10))) };
    for i in 0..512_u64 {
        let attributes = vec![OtlpKeyValue { key: "note".into(), value: Some(note.clone()), ..Default::default() }];
        let span = Span {
            name: format!("order-{i}"),
            span_id: vec![1; 8],
            trace_id: vec![2; 16],
            attributes,
            ..Default::default()
        };
        handle.send_span(&scope, span);
    }
    let _ = pipeline.force_flush(Duration::from_secs(20));
    pipeline.shutdown(Duration::from_secs(5));
    let snapshot = handle.accounting();
    assert_eq!(snapshot.traces.exported, 0, "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.dropped_total(), 512, "{}", snapshot.to_json());
    assert!(snapshot.traces.failed_requests > 1, "the requests were written, and failed: {}", snapshot.to_json());
}
