//! OTLP/gRPC conformance against a peer that is not ours: the official Python gRPC runtime
//! (`grpcio`) serving the OTLP collector services through the stubs `opentelemetry-proto`
//! generated for them (`tests/conformance/otlp_grpc_server.py`, on 127.0.0.1, a port it chooses).
//! nanotel exports to it through a real [`Pipeline`]:
//!
//! - every signal's conformance fixture (`tests/conformance/fixtures.rs`), plain and gzip: the
//!   server parses each call with the official classes and hands back the request re-serialized
//!   (without unknown fields) and as OTLP/JSON, which must both decode to what was sent, field by
//!   field, with the metadata configured;
//! - scripted statuses, carried as the official `google.rpc.Status` (with `RetryInfo` where
//!   scripted) in `grpc-status-details-bin`, give the accounting the OTLP specification implies:
//!   each retryable code is retried and delivered, final codes and `RESOURCE_EXHAUSTED` without
//!   `RetryInfo` are rejected, with `RetryInfo` retried after its delay, and a partial success
//!   counts its rejected items.
//!
//! Setup as for `tests/conformance.rs`: `export NANOTEL_PYTHON="$(scripts/setup-python.sh | tail
//! -n 1)"`. Without it each test says it is skipped and passes, unless
//! `NANOTEL_REQUIRE_CONFORMANCE=1`, which makes a missing venv a failure.

#[path = "conformance/fixtures.rs"]
mod fixtures;

#[path = "conformance/oracle.rs"]
mod oracle;

#[path = "support/accounting.rs"]
mod accounting;

use accounting::{assert_identity, wait_for, WAIT};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nanotel::export::{
    BatchConfig, Compression, Pipeline, PipelineBuilder, PipelineHandle, Protocol, RetryPolicy, Scope, Snapshot,
};
use nanotel::proto::collector::logs::v1::ExportLogsServiceRequest;
use nanotel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::proto::common::v1::{any_value, AnyValue, InstrumentationScope};
use nanotel::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use nanotel::proto::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics};
use nanotel::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use nanotel::Signal;
use oracle::{assert_same, decode, from_json, unhex, Oracle, Otlp};
use prost::Message as _;
use serde::Deserialize;
use serde_json::{json, Value};

/// One `Export` call as the Python server saw it (see the server's docstring).
#[derive(Deserialize)]
struct Call {
    signal: String,
    code: i32,
    at: f64,
    metadata: HashMap<String, String>,
    protobuf: String,
    json: String,
}

#[derive(Deserialize)]
struct Listening {
    port: u16,
}

/// The Python server; it stops when dropped (its stdin closes).
struct PythonCollector {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    /// The lines it printed after the port, one per call, parsed by the test's thread so that a
    /// bad line fails the test rather than a reader thread.
    lines: Arc<Mutex<Vec<String>>>,
}

impl PythonCollector {
    /// Starts the server with its replies scripted per signal (`{"traces": [..], ..}`).
    fn start(oracle: &Oracle, script: Value) -> PythonCollector {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/otlp_grpc_server.py");
        let mut child = Command::new(oracle.python())
            .arg(&path)
            .arg(script.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let (stdin, Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            panic!("the server's stdout was not piped");
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Ok(Listening { port }) = serde_json::from_str(&first) else {
            panic!("the gRPC server did not say where it listens (its stderr is above): {first:?}");
        };
        let kept = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&kept);
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| sink.lock().unwrap().push(line)));
        PythonCollector { child, stdin, port, lines: kept }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The calls so far, once there are at least `count`.
    fn calls(&self, count: usize) -> Vec<Call> {
        assert!(wait_for(|| self.lines.lock().unwrap().len() >= count), "fewer than {count} calls arrived");
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("unreadable call {l:?}: {e}"))).collect()
    }
}

impl Drop for PythonCollector {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Only a server that ignored the closed stdin is still there to kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// gRPC to the server, fast retries; batches leave at a flush only, unless `every` is shorter.
fn builder(server: &PythonCollector, every: Duration) -> PipelineBuilder {
    let batch = |signal| BatchConfig { schedule_delay: every, ..BatchConfig::defaults(signal) };
    Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_protocol(Protocol::Grpc)
        .with_endpoint(server.endpoint())
        .with_batch(Signal::Traces, batch(Signal::Traces))
        .with_batch(Signal::Logs, batch(Signal::Logs))
        .with_batch(Signal::Metrics, batch(Signal::Metrics))
        .with_retry(RetryPolicy { initial_backoff: Duration::from_millis(10), ..RetryPolicy::default() })
        .with_poll_interval(Duration::from_millis(5))
}

/// Hands the fixture's spans to the pipeline, scope by scope; returns the request the pipeline
/// must make of them: its one resource, the scopes that have spans, no schema URLs (a pipeline
/// scope carries none).
fn send_traces(handle: &PipelineHandle, fixture: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    let Some(ResourceSpans { resource, scope_spans, .. }) = fixture.resource_spans.into_iter().next() else {
        panic!("the traces fixture has no resource");
    };
    let scope_spans: Vec<ScopeSpans> = scope_spans
        .into_iter()
        .filter(|s| !s.spans.is_empty())
        .map(|s| ScopeSpans { schema_url: String::new(), ..s })
        .collect();
    for group in &scope_spans {
        let scope: Scope = Arc::new(group.scope.clone().unwrap_or_default());
        group.spans.iter().for_each(|span| assert!(handle.send_span(&scope, span.clone())));
    }
    ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { resource, scope_spans, ..Default::default() }] }
}

/// As [`send_traces`], for log records.
fn send_logs(handle: &PipelineHandle, fixture: ExportLogsServiceRequest) -> ExportLogsServiceRequest {
    let Some(ResourceLogs { resource, scope_logs, .. }) = fixture.resource_logs.into_iter().next() else {
        panic!("the logs fixture has no resource");
    };
    let scope_logs: Vec<ScopeLogs> = scope_logs
        .into_iter()
        .filter(|s| !s.log_records.is_empty())
        .map(|s| ScopeLogs { schema_url: String::new(), ..s })
        .collect();
    for group in &scope_logs {
        let scope: Scope = Arc::new(group.scope.clone().unwrap_or_default());
        group.log_records.iter().for_each(|record| assert!(handle.send_log(&scope, record.clone())));
    }
    ExportLogsServiceRequest { resource_logs: vec![ResourceLogs { resource, scope_logs, ..Default::default() }] }
}

/// Metrics are handed over a scope at a time, whole (schema URL included).
fn send_metrics(handle: &PipelineHandle, fixture: ExportMetricsServiceRequest) -> ExportMetricsServiceRequest {
    let Some(ResourceMetrics { resource, scope_metrics, .. }) = fixture.resource_metrics.into_iter().next() else {
        panic!("the metrics fixture has no resource");
    };
    let scope_metrics: Vec<_> = scope_metrics.into_iter().filter(|s| !s.metrics.is_empty()).collect();
    scope_metrics.iter().for_each(|scope| assert!(handle.send_metrics(scope.clone())));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics { resource, scope_metrics, ..Default::default() }],
    }
}

/// What the official classes made of a call, both ways, must be what was sent.
fn assert_received<T: Otlp>(call: &Call, sent: &T, compression: Compression) {
    let check = format!("{compression:?} {}: nanotel -> grpcio -> protobuf", T::NAME);
    assert_same(&check, sent, &decode::<T>(&check, &unhex(&call.protobuf)));
    let check = format!("{compression:?} {}: nanotel -> grpcio -> OTLP/JSON", T::NAME);
    assert_same(&check, sent, &from_json::<T>(&check, &call.json));
    assert_eq!(call.metadata.get("x-desk").map(String::as_str), Some("fx"), "{check}: metadata");
    let agent = call.metadata.get("user-agent").map_or("", String::as_str);
    assert!(agent.starts_with("OTel-OTLP-Exporter-Rust-nanotel/"), "{check}: user-agent {agent:?}");
}

#[test]
fn every_signal_arrives_as_sent_plain_and_gzip() {
    let Some(oracle) = Oracle::get() else { return };
    for compression in [Compression::None, Compression::Gzip] {
        let server = PythonCollector::start(&oracle, json!({}));
        let traces = fixtures::trace_request();
        let resource = traces.resource_spans[0].resource.clone().unwrap_or_default();
        let pipeline = builder(&server, Duration::from_secs(60))
            .with_compression(compression)
            .with_header("x-desk", "fx")
            .with_resource(resource)
            .build()
            .unwrap();
        let handle = pipeline.handle();
        let traces = send_traces(&handle, traces);
        let metrics = send_metrics(&handle, fixtures::metrics_request());
        let logs = send_logs(&handle, fixtures::logs_request());
        pipeline.force_flush(WAIT).unwrap_or_else(|e| panic!("{compression:?}: {e}"));
        let calls = server.calls(3);
        assert_eq!(calls.len(), 3, "one call per signal");
        for call in &calls {
            match call.signal.as_str() {
                "traces" => assert_received(call, &traces, compression),
                "metrics" => assert_received(call, &metrics, compression),
                _ => assert_received(call, &logs, compression),
            }
        }
        let report = pipeline.shutdown(Duration::from_secs(2));
        let sizes = [
            (Signal::Traces, traces.encoded_len()),
            (Signal::Metrics, metrics.encoded_len()),
            (Signal::Logs, logs.encoded_len()),
        ];
        for (signal, size) in sizes {
            let (s, what) = (report.accounting.signal(signal), format!("{compression:?} {}", signal.name()));
            assert_eq!((s.exported, s.dropped_total()), (s.enqueued, 0), "{what}");
            // grpcio does not show a message's compressed flag; the bytes on the wire show it.
            assert_eq!(s.bytes.uncompressed, size as u64, "{what}");
            assert_eq!(s.bytes.sent < s.bytes.uncompressed, compression == Compression::Gzip, "{what}: {:?}", s.bytes);
        }
        assert_identity(&report.accounting);
    }
}

fn scope() -> Scope {
    Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() })
}

fn span(i: u64) -> Span {
    Span { trace_id: [7; 16].to_vec(), span_id: (i + 1).to_be_bytes().to_vec(), ..Default::default() }
}

/// Sends one span and waits until the traces lane has settled it (exported or dropped).
fn export_one_span(pipeline: &Pipeline) -> Snapshot {
    pipeline.handle().send_span(&scope(), span(0));
    assert!(wait_for(|| {
        let traces = pipeline.accounting().traces;
        traces.exported + traces.dropped_total() == 1
    }));
    pipeline.accounting()
}

/// A status reply for the script.
fn status(code: i32) -> Value {
    json!({ "code": code, "message": format!("code {code}") })
}

#[test]
fn each_retryable_code_is_retried_then_delivered() {
    let Some(oracle) = Oracle::get() else { return };
    let codes = [1, 4, 10, 11, 14, 15];
    let script: Vec<Value> = codes.iter().flat_map(|&code| [status(code), status(0)]).collect();
    let server = PythonCollector::start(&oracle, json!({ "traces": script }));
    for code in codes {
        let pipeline = builder(&server, Duration::from_millis(20)).build().unwrap();
        let traces = export_one_span(&pipeline).traces;
        assert_eq!((traces.exported, traces.retries, traces.failed_requests), (1, 1, 1), "code {code}");
        assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
    }
    let calls = server.calls(2 * codes.len());
    let answered: Vec<i32> = calls.iter().map(|call| call.code).collect();
    let scripted: Vec<i32> = codes.iter().flat_map(|&code| [code, 0]).collect();
    assert_eq!(answered, scripted, "each code once, then the retry delivered");
    for pair in calls.chunks(2) {
        assert_eq!(pair[0].protobuf, pair[1].protobuf, "the retry carries the same request");
    }
}

#[test]
fn final_codes_are_rejected_without_a_retry() {
    let Some(oracle) = Oracle::get() else { return };
    let codes = [2, 3, 7, 12, 13, 16];
    let script: Vec<Value> = codes.iter().map(|&code| status(code)).collect();
    let server = PythonCollector::start(&oracle, json!({ "traces": script }));
    for code in codes {
        let pipeline = builder(&server, Duration::from_millis(20)).build().unwrap();
        let traces = export_one_span(&pipeline).traces;
        assert_eq!((traces.exported, traces.dropped["rejected"], traces.retries), (0, 1, 0), "code {code}");
        assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
    }
    let answered: Vec<i32> = server.calls(codes.len()).iter().map(|call| call.code).collect();
    assert_eq!(answered, codes, "one call per code");
}

#[test]
fn resource_exhausted_is_retried_after_its_delay_only_with_retry_info() {
    let Some(oracle) = Oracle::get() else { return };
    let delay = Duration::from_millis(400);
    let throttled = json!({ "code": 8, "message": "slow down", "retry_delay_ms": delay.as_millis() });
    let server = PythonCollector::start(&oracle, json!({ "traces": [throttled, status(0), status(8)] }));

    let pipeline = builder(&server, Duration::from_millis(20)).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    // Held as for an HTTP Retry-After: the lane waits, the breaker does not hear of it.
    assert_eq!((traces.exported, traces.failed_requests, traces.breaker.consecutive_failures), (1, 1, 0));
    let calls = server.calls(2);
    let waited = calls[1].at - calls[0].at;
    assert!(waited >= delay.as_secs_f64(), "retried after {waited} s, asked for {delay:?}");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);

    let pipeline = builder(&server, Duration::from_millis(20)).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.dropped["rejected"], traces.retries), (0, 1, 0), "without RetryInfo");
    assert_eq!(server.calls(3).len(), 3, "no retry without RetryInfo");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

fn log(i: u64) -> LogRecord {
    let body = any_value::Value::StringValue(format!("filled {i}"));
    LogRecord { body: Some(AnyValue { value: Some(body) }), ..Default::default() }
}

fn gauges(count: i64) -> nanotel::proto::metrics::v1::ScopeMetrics {
    let point = |i| NumberDataPoint { value: Some(number_data_point::Value::AsInt(i)), ..Default::default() };
    let gauge = Gauge { data_points: (0..count).map(point).collect() };
    let metric = Metric { name: "book.depth".into(), data: Some(metric::Data::Gauge(gauge)), ..Default::default() };
    nanotel::proto::metrics::v1::ScopeMetrics { metrics: vec![metric], ..Default::default() }
}

/// Each signal's partial success: 5 items sent, 2 rejected (spans 2, data points 2, records 2).
#[test]
fn partial_success_counts_the_rejected_items() {
    let Some(oracle) = Oracle::get() else { return };
    let partial = json!([{ "rejected": 2, "message": "too old" }]);
    let script = json!({ "traces": partial, "metrics": partial, "logs": partial });
    let server = PythonCollector::start(&oracle, script);
    let pipeline = builder(&server, Duration::from_secs(60)).build().unwrap();
    let handle = pipeline.handle();
    for i in 0..5 {
        handle.send_span(&scope(), span(i));
        handle.send_log(&scope(), log(i));
    }
    handle.send_metrics(gauges(5));
    pipeline.force_flush(WAIT).unwrap_or_else(|e| panic!("{e}"));
    let accounting = pipeline.accounting();
    for signal in Signal::ALL {
        let s = accounting.signal(signal);
        assert_eq!((s.exported, s.dropped["rejected"], s.retries), (3, 2, 0), "{}", signal.name());
    }
    assert_eq!(server.calls(3).len(), 3, "one call per signal, none retried");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}
