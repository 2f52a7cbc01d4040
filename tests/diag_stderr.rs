//! nanotel's stderr lines when stderr cannot be written: a program whose stderr is a pipe whose
//! reader has gone (a log shipper that died) keeps running, and keeps exporting. `eprintln!`
//! panics on such a write; the first configuration warning, or an exporter thread's line about a
//! failing collector, would then have ended the thread, or the program under `panic = "abort"`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use nanotel::attributes::KeyValue;

/// Set in the child's environment: the child runs its part instead of the check.
const CHILD: &str = "DIAG_STDERR_CHILD";

/// The child's work: wait until the parent has closed the pipe's reading end, then set up
/// telemetry with an environment that draws warnings (an unknown sampler, an endpoint where
/// nothing listens, so the exporter thread reports failures), record, and shut down. It prints
/// `survived` on stdout when all of it returned.
#[test]
fn child_process_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    std::thread::sleep(Duration::from_millis(300));
    let telemetry = nanotel::builder()
        .with_env_lookup(|name| match name {
            "OTEL_TRACES_SAMPLER" => Some("sometimes".into()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:1".into()),
            "OTEL_METRICS_EXPORTER" | "OTEL_LOGS_EXPORTER" => Some("none".into()),
            _ => None,
        })
        .with_install_global(false)
        .build()
        .expect("built");
    drop(telemetry.tracer("gateway").span("order").with_attribute(KeyValue::new("venue", "XNAS")).start());
    let _ = telemetry.force_flush(Duration::from_secs(2));
    let _ = telemetry.shutdown(Duration::from_secs(2));
    println!("survived");
}

#[test]
fn a_closed_stderr_neither_panics_nor_stops_the_program() {
    let exe = std::env::current_exe().expect("the test's own path");
    let mut child = Command::new(exe)
        .args(["--exact", "child_process_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("OTEL_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    // The reading end closed: every write to the child's stderr now fails (EPIPE).
    drop(child.stderr.take());
    let mut stdout = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).expect("the child's stdout");
    let status = child.wait().expect("the child ends");
    assert!(status.success() && stdout.contains("survived"), "{status}; stdout:\n{stdout}");
}
