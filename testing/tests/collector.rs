//! End-to-end tests: a real client (reqwest, or raw bytes over a `TcpStream`) against a running
//! collector.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;
use reqwest::blocking::{Client, Response};

use nanotel::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use nanotel::proto::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use nanotel::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use nanotel::proto::google::rpc::Status;
use nanotel::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use nanotel::proto::metrics::v1::{metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics};
use nanotel::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use nanotel::Signal;
use nanotel_testing::*;

const PROTOBUF: &str = "application/x-protobuf";
/// The collector's limit on a request body (OTLP's recommended server limit).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
const JSON: &str = "application/json";

fn traces(spans: usize) -> ExportTraceServiceRequest {
    let span = Span { trace_id: vec![1; 16], span_id: vec![2; 8], name: "op".into(), ..Default::default() };
    let scope = ScopeSpans { spans: vec![span; spans], ..Default::default() };
    ExportTraceServiceRequest { resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }] }
}

fn metrics(points: usize) -> ExportMetricsServiceRequest {
    let gauge = Gauge { data_points: vec![NumberDataPoint::default(); points] };
    let metric = Metric { name: "m".into(), data: Some(Data::Gauge(gauge)), ..Default::default() };
    let scope = ScopeMetrics { metrics: vec![metric], ..Default::default() };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics { scope_metrics: vec![scope], ..Default::default() }],
    }
}

fn logs(records: usize) -> ExportLogsServiceRequest {
    let scope = ScopeLogs { log_records: vec![LogRecord::default(); records], ..Default::default() };
    ExportLogsServiceRequest { resource_logs: vec![ResourceLogs { scope_logs: vec![scope], ..Default::default() }] }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn post(client: &Client, collector: &TestCollector, signal: Signal, content_type: &str, body: Vec<u8>) -> Response {
    client
        .post(format!("{}/{}", collector.endpoint(), signal.path()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap()
}

fn post_traces(client: &Client, collector: &TestCollector, spans: usize) -> Response {
    post(client, collector, Signal::Traces, PROTOBUF, traces(spans).encode_to_vec())
}

/// Posts one span, for a reply that must fail the request: the client's error.
fn failed_post(client: &Client, collector: &TestCollector) -> reqwest::Error {
    client
        .post(format!("{}/v1/traces", collector.endpoint()))
        .header("content-type", PROTOBUF)
        .body(traces(1).encode_to_vec())
        .send()
        .expect_err("the reply fails the request")
}

fn decoded(request: &ReceivedRequest) -> &ExportRequest {
    request.request.as_ref().unwrap()
}

/// An HTTP response as read by the raw-socket tests.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one response (which always has a Content-Length here); `head_only` for HEAD requests.
fn read_response(reader: &mut impl BufRead, head_only: bool) -> io::Result<RawResponse> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut response = RawResponse { status, headers, body: Vec::new() };
    let length: usize = response.header("content-length").map_or(0, |v| v.parse().unwrap());
    if !head_only {
        response.body = vec![0; length];
        reader.read_exact(&mut response.body)?;
    }
    Ok(response)
}

fn connect(collector: &TestCollector) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(collector.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

/// Sends raw bytes on a fresh connection and reads the one response.
fn exchange(collector: &TestCollector, raw: &[u8]) -> RawResponse {
    let (mut stream, mut reader) = connect(collector);
    stream.write_all(raw).unwrap();
    read_response(&mut reader, false).unwrap()
}

/// Whether the server closed the connection (EOF or reset) rather than leaving it open.
fn closed_by_server(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(error) => error.kind() == io::ErrorKind::ConnectionReset && rest.is_empty(),
    }
}

fn raw_post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn start_binds_loopback_and_reports_the_endpoint() {
    let collector = TestCollector::start().unwrap();
    assert!(collector.addr().ip().is_loopback());
    assert_ne!(collector.addr().port(), 0);
    assert_eq!(collector.endpoint(), format!("http://127.0.0.1:{}", collector.addr().port()));
    assert!(format!("{collector:?}").contains("TestCollector"));
}

#[test]
fn protobuf_requests_of_every_signal_are_decoded_and_recorded() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    let started = Instant::now();
    for (signal, body) in [
        (Signal::Traces, traces(2).encode_to_vec()),
        (Signal::Metrics, metrics(3).encode_to_vec()),
        (Signal::Logs, logs(4).encode_to_vec()),
    ] {
        let response = post(&client, &collector, signal, PROTOBUF, body);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], PROTOBUF);
        assert!(response.bytes().unwrap().is_empty(), "full success leaves the response empty");
    }
    let received = collector.received();
    assert_eq!(received.len(), 3);
    assert_eq!(decoded(&received[0]), &ExportRequest::Traces(traces(2)));
    assert_eq!(decoded(&received[1]), &ExportRequest::Metrics(metrics(3)));
    assert_eq!(decoded(&received[2]), &ExportRequest::Logs(logs(4)));
    for (request, signal) in received.iter().zip(Signal::ALL) {
        assert_eq!(request.signal, signal);
        assert_eq!(request.path, format!("/{}", signal.path()));
        assert_eq!(request.content_type.as_deref(), Some(PROTOBUF));
        assert_eq!(request.content_encoding, None);
        assert_eq!(request.reply, Reply::Accept);
        assert!(request.arrived >= started);
        assert!(request.header("Host").is_some());
        assert!(request.headers.iter().all(|(name, _)| *name == name.to_ascii_lowercase()));
    }
    assert_eq!(received[0].body_len, traces(2).encoded_len());
    assert!(received[0].arrived <= received[1].arrived);
    assert_eq!((collector.request_count(Signal::Traces), collector.request_count(Signal::Metrics)), (1, 1));
    assert_eq!(Signal::ALL.map(|s| collector.accepted_items(s)), [2, 3, 4]);
}

#[test]
fn json_requests_are_decoded_and_answered_in_json() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    let body = serde_json::to_vec(&logs(2)).unwrap();
    let response = post(&client, &collector, Signal::Logs, "application/json; charset=utf-8", body);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], JSON);
    assert_eq!(response.text().unwrap(), "{}");

    collector.script(None, [Reply::PartialSuccess { rejected: 1, message: "too old".into() }]);
    let response = post(&client, &collector, Signal::Traces, JSON, serde_json::to_vec(&traces(3)).unwrap());
    assert_eq!(response.status(), 200);
    let answer: ExportTraceServiceResponse = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!((partial.rejected_spans, partial.error_message.as_str()), (1, "too old"));

    let received = collector.received();
    assert_eq!(decoded(&received[0]), &ExportRequest::Logs(logs(2)));
    assert_eq!(decoded(&received[1]), &ExportRequest::Traces(traces(3)));
}

#[test]
fn gzip_requests_are_decoded() {
    let collector = TestCollector::start().unwrap();
    let body = gzip(&metrics(5).encode_to_vec());
    let wire_len = body.len();
    let response = client()
        .post(format!("{}/v1/metrics", collector.endpoint()))
        .header("content-type", PROTOBUF)
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = collector.received();
    assert_eq!(decoded(&received[0]), &ExportRequest::Metrics(metrics(5)));
    assert_eq!(received[0].content_encoding.as_deref(), Some("gzip"));
    assert_eq!(received[0].body_len, wire_len);
}

#[test]
fn partial_success_answers_decode_and_reduce_accepted_items() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    collector.script(Some(Signal::Metrics), [Reply::PartialSuccess { rejected: 2, message: "dup".into() }]);
    collector.script(Some(Signal::Logs), [Reply::PartialSuccess { rejected: 9, message: String::new() }]);
    let response = post(&client, &collector, Signal::Metrics, PROTOBUF, metrics(5).encode_to_vec());
    assert_eq!(response.status(), 200);
    let answer = ExportMetricsServiceResponse::decode(response.bytes().unwrap()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!((partial.rejected_data_points, partial.error_message.as_str()), (2, "dup"));
    let response = post(&client, &collector, Signal::Logs, PROTOBUF, logs(4).encode_to_vec());
    let answer = ExportLogsServiceResponse::decode(response.bytes().unwrap()).unwrap();
    assert_eq!(answer.partial_success.unwrap().rejected_log_records, 9);

    assert_eq!(collector.accepted_items(Signal::Metrics), 3);
    assert_eq!(collector.accepted_items(Signal::Logs), 0, "rejecting more than were sent accepts none");
    let summary = collector.summary();
    assert_eq!(summary.metrics, SignalSummary { requests: 1, items: 5, accepted_items: 3 });
    assert_eq!(summary.get(Signal::Logs), SignalSummary { requests: 1, items: 4, accepted_items: 0 });
    assert_eq!(summary.traces, SignalSummary::default());
}

#[test]
fn status_replies_carry_the_code_retry_after_and_a_status_body() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    collector.script(
        Some(Signal::Traces),
        [
            Reply::Status { code: 503, retry_after: Some("7".into()), message: "busy".into() },
            Reply::Status { code: 400, retry_after: None, message: "bad".into() },
        ],
    );
    let response = post_traces(&client, &collector, 1);
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    let status = Status::decode(response.bytes().unwrap()).unwrap();
    assert_eq!(status.message, "busy");

    let response = post_traces(&client, &collector, 1);
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(Status::decode(response.bytes().unwrap()).unwrap().message, "bad");

    // A JSON request gets the same status as JSON.
    collector.script(None, [Reply::Status { code: 429, retry_after: None, message: "later".into() }]);
    let response = post(&client, &collector, Signal::Logs, JSON, b"{}".to_vec());
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["content-type"], JSON);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
    assert_eq!(body["message"], "later");

    assert_eq!(collector.accepted_items(Signal::Traces), 0, "failed exports accept nothing");
}

#[test]
fn garbage_is_a_200_whose_body_does_not_decode() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Garbage);
    let client = client();
    let response = post(&client, &collector, Signal::Logs, JSON, serde_json::to_vec(&logs(1)).unwrap());
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let body = response.bytes().unwrap();
    assert!(!body.is_empty());
    assert!(ExportLogsServiceResponse::decode(body).is_err());
    assert_eq!(collector.received()[0].reply, Reply::Garbage);
    assert_eq!(collector.accepted_items(Signal::Logs), 0);
}

#[test]
fn hang_answers_nothing_so_the_client_times_out() {
    let collector = TestCollector::start().unwrap();
    collector.script(None, [Reply::Hang(Duration::from_secs(30))]);
    let client = Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let started = Instant::now();
    let error = failed_post(&client, &collector);
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The hung request was recorded, and the next one is served normally.
    assert_eq!(collector.received()[0].reply, Reply::Hang(Duration::from_secs(30)));
    assert_eq!(post_traces(&client, &collector, 1).status(), 200);
}

#[test]
fn a_short_hang_closes_the_connection_afterwards() {
    let collector = TestCollector::start().unwrap();
    collector.script(None, [Reply::Hang(Duration::from_millis(100))]);
    let (mut stream, mut reader) = connect(&collector);
    // Taken before the write: the hang starts when the request arrives, after it.
    let started = Instant::now();
    stream.write_all(&raw_post("/v1/logs", PROTOBUF, &logs(1).encode_to_vec())).unwrap();
    assert!(closed_by_server(&mut reader));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(90) && waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn reset_fails_the_request_with_a_connection_error() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::Reset]);
    let client = client();
    let started = Instant::now();
    let error = failed_post(&client, &collector);
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(collector.received()[0].reply, Reply::Reset);
    assert_eq!(post_traces(&client, &collector, 1).status(), 200, "a new connection works");

    collector.script(None, [Reply::Reset]);
    let (mut stream, mut reader) = connect(&collector);
    stream.write_all(&raw_post("/v1/traces", PROTOBUF, b"")).unwrap();
    assert!(closed_by_server(&mut reader), "no response bytes before the close");
}

#[test]
fn scripts_are_consumed_signal_queue_first_then_any_then_default() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    let status = |code: u16| Reply::Status { code, retry_after: None, message: String::new() };
    collector.script(Some(Signal::Traces), [status(501), status(502)]);
    collector.script(None, [status(503)]);
    collector.script(None, [status(504)]);
    collector.set_default(status(500));
    let codes: Vec<u16> = [Signal::Traces, Signal::Logs, Signal::Traces, Signal::Traces, Signal::Metrics, Signal::Logs]
        .into_iter()
        .map(|signal| post(&client, &collector, signal, PROTOBUF, Vec::new()).status().as_u16())
        .collect();
    assert_eq!(codes, [501, 503, 502, 504, 500, 500]);
    collector.set_default(Reply::Accept);
    assert_eq!(post_traces(&client, &collector, 0).status(), 200);
    let replies: Vec<Reply> = collector.received().into_iter().map(|r| r.reply).collect();
    assert_eq!(replies[..3], [status(501), status(503), status(502)]);
}

#[test]
fn undecodable_bodies_get_400_and_leave_the_script_alone() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    collector.script(None, [Reply::PartialSuccess { rejected: 1, message: "kept".into() }]);

    let response = post(&client, &collector, Signal::Traces, PROTOBUF, vec![0xff; 10]);
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    assert!(Status::decode(response.bytes().unwrap()).unwrap().message.contains("protobuf"));

    let response = post(&client, &collector, Signal::Traces, JSON, b"{not json".to_vec());
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], JSON);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
    assert!(body["message"].as_str().unwrap().contains("JSON"));

    let response = post(&client, &collector, Signal::Traces, "text/plain", b"hi".to_vec());
    assert_eq!(response.status(), 415);

    let response = client
        .post(format!("{}/v1/traces", collector.endpoint()))
        .header("content-type", PROTOBUF)
        .header("content-encoding", "gzip")
        .body(b"plain".to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);

    let received = collector.received();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|r| r.request.is_err() && r.accepted_items() == 0));
    assert!(matches!(received[2].request, Err(DecodeError::UnsupportedContentType(Some(_)))));
    assert!(matches!(received[3].reply, Reply::Status { code: 400, .. }));

    // The scripted reply is still there for the first valid request.
    let response = post_traces(&client, &collector, 3);
    let answer = ExportTraceServiceResponse::decode(response.bytes().unwrap()).unwrap();
    assert_eq!(answer.partial_success.unwrap().error_message, "kept");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let collector = TestCollector::start().unwrap();
    let (mut stream, mut reader) = connect(&collector);
    for spans in 1..=3 {
        stream.write_all(&raw_post("/v1/traces", PROTOBUF, &traces(spans).encode_to_vec())).unwrap();
        let response = read_response(&mut reader, false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), None);
    }
    // Pipelined: two requests in one write, two answers in order.
    let mut both = raw_post("/v1/logs", PROTOBUF, &logs(1).encode_to_vec());
    both.extend(raw_post("/v1/nope", PROTOBUF, b""));
    stream.write_all(&both).unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    assert_eq!(read_response(&mut reader, false).unwrap().status, 404);
    // And still open for one more, which asks to close.
    stream
        .write_all(b"POST /v1/metrics HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!((response.status, response.header("connection")), (200, Some("close")));
    assert!(closed_by_server(&mut reader));
    let received = collector.received();
    assert_eq!(received.len(), 5);
    assert!(received.iter().all(|r| r.connection == received[0].connection));
    assert_eq!(collector.request_count(Signal::Traces), 3);
    assert_eq!(collector.summary().traces.items, 6);
}

#[test]
fn reqwest_reuses_its_connection() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    for _ in 0..5 {
        assert_eq!(post_traces(&client, &collector, 1).status(), 200);
    }
    let received = collector.received();
    assert_eq!(received.len(), 5);
    assert!(received.iter().all(|r| r.connection == received[0].connection));
    // A second client opens a connection of its own.
    post_traces(&Client::new(), &collector, 1);
    assert_ne!(collector.received()[5].connection, received[0].connection);
}

#[test]
fn chunked_bodies_and_expect_continue() {
    let collector = TestCollector::start().unwrap();
    let body = logs(3).encode_to_vec();
    let (first, second) = body.split_at(body.len() / 2);
    let mut raw =
        b"POST /v1/logs HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    raw.extend(format!("{:x}\r\n", first.len()).bytes());
    raw.extend_from_slice(first);
    raw.extend(format!("\r\n{:X};note=1\r\n", second.len()).bytes());
    raw.extend_from_slice(second);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(exchange(&collector, &raw).status, 200);
    assert_eq!(decoded(&collector.received()[0]), &ExportRequest::Logs(logs(3)));

    // The client sends the body only once told to continue.
    let (mut stream, mut reader) = connect(&collector);
    let body = traces(1).encode_to_vec();
    write!(stream, "POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    let interim = read_response(&mut reader, true).unwrap();
    assert_eq!(interim.status, 100);
    stream.write_all(&body).unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    assert_eq!(collector.request_count(Signal::Traces), 1);
}

#[test]
fn unknown_paths_get_404_and_other_methods_405() {
    let collector = TestCollector::start().unwrap();
    let client = client();
    let response = client.post(format!("{}/v1/trace", collector.endpoint())).body("x").send().unwrap();
    assert_eq!(response.status(), 404);
    assert!(Status::decode(response.bytes().unwrap()).unwrap().message.contains("/v1/trace"));
    let response = client.get(format!("{}/v1/traces", collector.endpoint())).send().unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let response = client.put(format!("{}/v1/logs", collector.endpoint())).body("x").send().unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(client.get(format!("{}/", collector.endpoint())).send().unwrap().status(), 404);

    // HEAD gets the status without a body, and the connection stays usable.
    let (mut stream, mut reader) = connect(&collector);
    stream.write_all(b"HEAD /v1/logs HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader, true).unwrap().status, 405);
    stream.write_all(&raw_post("/v1/logs", PROTOBUF, b"")).unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);

    assert_eq!(collector.received().len(), 1, "only the export is recorded");
}

#[test]
fn oversized_bodies_get_413() {
    let collector = TestCollector::start().unwrap();
    // A declared length over the limit is refused before any body is read.
    let (mut stream, mut reader) = connect(&collector);
    stream.write_all(b"POST /v1/traces HTTP/1.1\r\nContent-Length: 67108865\r\n\r\n").unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!((response.status, response.header("connection")), (413, Some("close")));
    assert!(Status::decode(response.body.as_slice()).is_ok());

    // A real client that sends the whole oversized body still reads the 413, not a reset.
    let body = vec![0u8; MAX_BODY_BYTES + 1];
    let response = post(&client(), &collector, Signal::Traces, PROTOBUF, body);
    assert_eq!(response.status(), 413);
    assert!(collector.received().is_empty());
}

#[test]
fn malformed_http_gets_4xx_and_a_close() {
    let collector = TestCollector::start().unwrap();
    let huge_header = format!("POST /v1/logs HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(70 * 1024));
    let cases: [(&[u8], u16); 6] = [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"hello\r\n\r\n", 400),
        (b"POST /v1/logs HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400),
        (b"POST /v1/logs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400),
        (huge_header.as_bytes(), 431),
        // hyper answers any version but HTTP/1.x as a malformed request line.
        (b"POST /v1/logs HTTP/3\r\n\r\n", 400),
    ];
    for (raw, status) in cases {
        let (mut stream, mut reader) = connect(&collector);
        // The server may answer and close before it has read everything; a failed write is fine.
        let _ = stream.write_all(raw);
        let response = read_response(&mut reader, false).unwrap();
        assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&raw[..raw.len().min(40)]));
        assert_eq!(response.header("connection"), Some("close"));
        assert!(closed_by_server(&mut reader));
    }
    assert!(collector.received().is_empty());
    // The collector still works.
    assert_eq!(post_traces(&client(), &collector, 1).status(), 200);
}

#[test]
fn concurrent_clients_and_a_stalled_one() {
    let collector = Arc::new(TestCollector::start().unwrap());
    // A client that sends half a request and stalls must not hold anyone else up.
    let (mut stalled, _stalled_reader) = connect(&collector);
    stalled.write_all(b"POST /v1/traces HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc").unwrap();

    let workers: Vec<_> = (0..8)
        .map(|_| {
            let collector = Arc::clone(&collector);
            thread::spawn(move || {
                let client = client();
                for _ in 0..10 {
                    assert_eq!(post_traces(&client, &collector, 2).status(), 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(collector.request_count(Signal::Traces), 80);
    assert_eq!(collector.accepted_items(Signal::Traces), 160);
}

#[test]
fn wait_until_wakes_on_arrival_and_times_out_otherwise() {
    let collector = Arc::new(TestCollector::start().unwrap());
    let started = Instant::now();
    assert!(!collector.wait_until(Duration::from_millis(50), |r| !r.is_empty()));
    assert!(started.elapsed() >= Duration::from_millis(50));

    let sender = {
        let collector = Arc::clone(&collector);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            let client = client();
            post(&client, &collector, Signal::Logs, PROTOBUF, logs(2).encode_to_vec());
            post(&client, &collector, Signal::Logs, PROTOBUF, logs(3).encode_to_vec());
        })
    };
    let done = collector.wait_until(Duration::from_secs(10), |received| {
        received.iter().map(ReceivedRequest::accepted_items).sum::<u64>() >= 5
    });
    assert!(done);
    sender.join().unwrap();
    assert_eq!(collector.accepted_items(Signal::Logs), 5);
}

#[test]
fn shutdown_during_a_hang_returns_promptly() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Hang(Duration::from_secs(3600)));
    let endpoint = collector.endpoint();
    let client_thread = thread::spawn(move || {
        Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .post(format!("{endpoint}/v1/traces"))
            .header("content-type", PROTOBUF)
            .body(traces(1).encode_to_vec())
            .send()
    });
    assert!(collector.wait_until(Duration::from_secs(10), |r| r.len() == 1));
    // An idle keep-alive connection and a half-sent request must not hold shutdown up either.
    let (_idle, _) = connect(&collector);
    let (mut partial, _) = connect(&collector);
    partial.write_all(b"POST /v1/logs HTTP/1.1\r\nContent-Le").unwrap();

    let started = Instant::now();
    collector.shutdown();
    // The hung client would hold it for ever: well under that, with room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(client_thread.join().unwrap().is_err(), "the hung client sees its connection close");
}

#[test]
fn dropping_the_collector_frees_its_port() {
    let collector = TestCollector::start().unwrap();
    let addr = collector.addr();
    let (_open, _) = connect(&collector);
    drop(collector);
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert!(refused.is_err());
}

#[test]
fn summary_display_covers_every_signal() {
    let collector = TestCollector::start().unwrap();
    post_traces(&client(), &collector, 4);
    let text = collector.summary().to_string();
    assert!(text.starts_with("traces: 1 requests, 4 items (4 accepted); metrics: 0 requests"), "{text}");
}
