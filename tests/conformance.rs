//! Wire compatibility of our generated OTLP types with the official OpenTelemetry Python classes.
//!
//! The oracle is the `PyPI` package `opentelemetry-proto` (pinned in
//! `tests/conformance/requirements.txt`), driven by `tests/conformance/otlp_python.py` over
//! stdin/stdout. Per signal, and for the export responses:
//!
//! - (a) our protobuf bytes are parsed by Python, stripped of every field Python does not know, and
//!   re-serialized; we decode them back, and Python's OTLP/JSON of the message, to the original;
//! - (b) our OTLP/JSON is parsed strictly by Python (an unknown key is an error) and re-serialized;
//!   we decode the bytes to the original, and our JSON must equal Python's canonical JSON;
//! - (c) Python's own fully populated message, carrying unknown fields of every wire type in every
//!   nested message, decodes with prost to the same value as its OTLP/JSON does with our serde;
//! - (d) responses with `partial_success` built by Python decode as expected, both encodings.
//!
//! Python also reports every schema field and enum value a fixture leaves unset; the requests must
//! leave none, so the fixtures provably cover the whole schema the pinned package knows.
//!
//! Setup: `export NANOTEL_PYTHON="$(scripts/setup-python.sh | tail -n 1)"`. Without it each test
//! says it is skipped and passes, unless `NANOTEL_REQUIRE_CONFORMANCE=1` (as in CI), which makes a
//! missing oracle a failure.

#[path = "conformance/fixtures.rs"]
mod fixtures;

#[path = "conformance/oracle.rs"]
mod oracle;

use nanotel::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use nanotel::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nanotel::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use oracle::{check_json, check_protobuf, check_python_fixture, Oracle};

#[test]
fn traces_protobuf_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    check_protobuf(&oracle, &fixtures::trace_request(), true);
}

#[test]
fn traces_json_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    check_json(&oracle, &fixtures::trace_request());
}

#[test]
fn traces_python_fixture() {
    let Some(oracle) = Oracle::get() else { return };
    let request: ExportTraceServiceRequest = check_python_fixture(&oracle);
    assert_eq!(request.resource_spans[0].scope_spans[0].spans.len(), 19, "Python builds 6 kinds × 3 codes + 1 spans");
}

#[test]
fn metrics_protobuf_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    check_protobuf(&oracle, &fixtures::metrics_request(), true);
}

#[test]
fn metrics_json_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    check_json(&oracle, &fixtures::metrics_request());
}

#[test]
fn metrics_python_fixture() {
    let Some(oracle) = Oracle::get() else { return };
    let request: ExportMetricsServiceRequest = check_python_fixture(&oracle);
    assert_eq!(request.resource_metrics[0].scope_metrics[0].metrics.len(), 8, "Python builds 8 metrics");
}

#[test]
fn logs_protobuf_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    check_protobuf(&oracle, &fixtures::logs_request(), true);
}

#[test]
fn logs_json_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    check_json(&oracle, &fixtures::logs_request());
}

#[test]
fn logs_python_fixture() {
    let Some(oracle) = Oracle::get() else { return };
    let request: ExportLogsServiceRequest = check_python_fixture(&oracle);
    assert_eq!(request.resource_logs[0].scope_logs[0].log_records.len(), 26, "Python builds 25 severities + 1 records");
}

/// (a) and (b) for every response shape a collector may send.
#[test]
fn responses_round_trip() {
    let Some(oracle) = Oracle::get() else { return };
    for response in fixtures::trace_responses() {
        check_protobuf(&oracle, &response, false);
        check_json(&oracle, &response);
    }
    for response in fixtures::metrics_responses() {
        check_protobuf(&oracle, &response, false);
        check_json(&oracle, &response);
    }
    for response in fixtures::logs_responses() {
        check_protobuf(&oracle, &response, false);
        check_json(&oracle, &response);
    }
}

/// (d): partial successes written by Python decode to the values it wrote, from protobuf (with
/// unknown fields) and from OTLP/JSON alike (`check_python_fixture` compares the two).
#[test]
fn python_responses_decode() {
    let Some(oracle) = Oracle::get() else { return };
    // Must match PARTIAL_SUCCESS_* in otlp_python.py.
    let rejected = (1i64 << 40) + 3;
    let message = "2 of 3 rejected: timestamps out of range \u{2014} retry won't help".to_owned();

    let traces: ExportTraceServiceResponse = check_python_fixture(&oracle);
    let expected = ExportTracePartialSuccess { rejected_spans: rejected, error_message: message.clone() };
    assert_eq!(traces.partial_success, Some(expected));

    let metrics: ExportMetricsServiceResponse = check_python_fixture(&oracle);
    let expected = ExportMetricsPartialSuccess { rejected_data_points: rejected, error_message: message.clone() };
    assert_eq!(metrics.partial_success, Some(expected));

    let logs: ExportLogsServiceResponse = check_python_fixture(&oracle);
    let expected = ExportLogsPartialSuccess { rejected_log_records: rejected, error_message: message };
    assert_eq!(logs.partial_success, Some(expected));
}

/// The exporter writes requests with its own protobuf writer, not prost's.
/// Byte equality with prost's output, which the round trips above prove Python reads, carries
/// that proof over to what the exporter actually sends; it needs no Python.
#[test]
fn the_exporters_protobuf_is_byte_identical_to_prosts() {
    use nanotel::export::{Compression, Encoder, ExportRequest, Protocol};

    fn same<M: ExportRequest>(request: &M, name: &str) {
        let mut encoder = Encoder::new(Protocol::HttpProtobuf, Compression::None);
        let ours = encoder.encode_uncompressed(request).unwrap().to_vec();
        assert!(ours == request.encode_to_vec(), "{name}: the exporter's bytes differ from prost's");
    }
    same(&fixtures::metrics_request(), "metrics");
    same(&fixtures::trace_request(), "traces");
    same(&fixtures::logs_request(), "logs");
    same(&ExportMetricsServiceRequest::default(), "empty metrics");
}
