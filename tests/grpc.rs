//! OTLP/gRPC end to end over real h2c on 127.0.0.1: the exporter against the loopback
//! `TestCollector`'s gRPC side, every signal plain and gzip, and each gRPC status giving the
//! accounting the OTLP specification implies (retried, final, `RetryInfo`, partial success),
//! hangs and resets included; the accounting identity holds at the end of every test.

#[path = "support/accounting.rs"]
mod accounting;
#[path = "support/items.rs"]
mod items;

use accounting::{assert_identity, wait_for};
use items::{log, scope, span};
use std::time::{Duration, Instant};

use nanotel::export::{BatchConfig, Compression, Pipeline, PipelineBuilder, Protocol, RetryPolicy, Snapshot};
use nanotel::proto::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint, ScopeMetrics};
use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};

#[path = "support/relay.rs"]
mod relay;

use relay::FreezingRelay;

fn gauge() -> ScopeMetrics {
    let point = NumberDataPoint { value: Some(number_data_point::Value::AsInt(42)), ..Default::default() };
    ScopeMetrics {
        metrics: vec![Metric {
            name: "book.depth".into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: vec![point] })),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// gRPC to the collector, short delays, fast retries.
fn builder(collector: &TestCollector) -> PipelineBuilder {
    let every = |signal| BatchConfig { schedule_delay: Duration::from_millis(20), ..BatchConfig::defaults(signal) };
    Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_protocol(Protocol::Grpc)
        .with_endpoint(collector.endpoint())
        .with_batch(Signal::Traces, every(Signal::Traces))
        .with_batch(Signal::Logs, every(Signal::Logs))
        .with_batch(Signal::Metrics, every(Signal::Metrics))
        .with_retry(RetryPolicy { initial_backoff: Duration::from_millis(10), ..RetryPolicy::default() })
        .with_poll_interval(Duration::from_millis(5))
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

#[test]
fn every_signal_over_grpc_plain_and_gzip() {
    for compression in [Compression::None, Compression::Gzip] {
        let collector = TestCollector::start().unwrap();
        let pipeline = builder(&collector).with_compression(compression).with_header("x-desk", "fx").build().unwrap();
        let handle = pipeline.handle();
        for i in 0..5 {
            handle.send_span(&scope(), span(i));
            handle.send_log(&scope(), log(i));
        }
        handle.send_metrics(gauge());
        let all_in =
            || Signal::ALL.iter().all(|s| collector.accepted_items(*s) == if *s == Signal::Metrics { 1 } else { 5 });
        assert!(wait_for(all_in), "{compression:?}: {}", collector.summary());
        let received = collector.received();
        for request in &received {
            let service = match request.signal {
                Signal::Traces => "trace.v1.TraceService",
                Signal::Metrics => "metrics.v1.MetricsService",
                Signal::Logs => "logs.v1.LogsService",
            };
            assert_eq!(request.path, format!("/opentelemetry.proto.collector.{service}/Export"));
            assert_eq!(request.content_type.as_deref(), Some("application/grpc"));
            assert_eq!(request.header("te"), Some("trailers"));
            assert_eq!(request.header("x-desk"), Some("fx"), "metadata");
            assert_eq!(request.header("grpc-timeout"), Some("10000m"));
            let gzip = compression == Compression::Gzip;
            assert_eq!(request.content_encoding.as_deref(), gzip.then_some("gzip"), "{compression:?}");
            assert_eq!(request.connection, received[0].connection, "one HTTP/2 connection for every signal");
        }
        let names: Vec<String> = received
            .iter()
            .filter_map(|r| r.request.as_ref().ok().and_then(|r| r.as_traces()))
            .flat_map(|t| t.resource_spans.iter().flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.iter())))
            .map(|span| span.name.clone())
            .collect();
        assert_eq!(names, ["order-0", "order-1", "order-2", "order-3", "order-4"]);
        let report = pipeline.shutdown(Duration::from_secs(2));
        assert_eq!((report.accounting.traces.exported, report.accounting.logs.exported), (5, 5));
        assert_identity(&report.accounting);
    }
}

#[test]
fn each_retryable_code_is_retried_then_delivered() {
    for code in [1, 4, 10, 11, 14, 15] {
        let collector = TestCollector::start().unwrap();
        let status = Reply::GrpcStatus { code, message: format!("code {code}"), retry_delay: None };
        collector.script(Some(Signal::Traces), [status, Reply::Accept]);
        let pipeline = builder(&collector).build().unwrap();
        let traces = export_one_span(&pipeline).traces;
        assert_eq!((traces.exported, traces.retries, traces.failed_requests), (1, 1, 1), "code {code}");
        assert_eq!(collector.request_count(Signal::Traces), 2);
        assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
    }
}

#[test]
fn final_codes_are_rejected_without_a_retry() {
    for code in [2, 3, 7, 12, 13, 16] {
        let collector = TestCollector::start().unwrap();
        let status = Reply::GrpcStatus { code, message: "no".into(), retry_delay: None };
        collector.script(Some(Signal::Traces), [status]);
        let pipeline = builder(&collector).build().unwrap();
        let traces = export_one_span(&pipeline).traces;
        assert_eq!((traces.exported, traces.dropped["rejected"], traces.retries), (0, 1, 0), "code {code}");
        assert_eq!(collector.request_count(Signal::Traces), 1);
        assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
    }
}

/// The client refuses server push (h2 allows it by default, unbounded: a hostile collector
/// pushing streams grew the program's memory until session 40).
#[test]
fn a_collector_cannot_push_streams() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::TryPush]);
    let pipeline = builder(&collector).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.failed_requests), (1, 0), "{traces:?}");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// A 200 whose stream ends without a `grpc-status` is `UNKNOWN` (the gRPC spec's mapping), a
/// final code: not retried as a broken connection would be.
#[test]
fn an_answer_without_a_grpc_status_is_unknown_and_not_retried() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::NoGrpcStatus]);
    let pipeline = builder(&collector).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.dropped["rejected"], traces.retries), (0, 1, 0));
    assert_eq!(collector.request_count(Signal::Traces), 1);
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

#[test]
fn resource_exhausted_is_retried_after_its_delay_only_with_retry_info() {
    let collector = TestCollector::start().unwrap();
    let delay = Duration::from_millis(400);
    let throttled = Reply::GrpcStatus { code: 8, message: "slow down".into(), retry_delay: Some(delay) };
    collector.script(Some(Signal::Traces), [throttled, Reply::Accept]);
    let pipeline = builder(&collector).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    // Held as for an HTTP Retry-After: the lane waits, the breaker does not hear of it.
    assert_eq!((traces.exported, traces.failed_requests, traces.breaker.consecutive_failures), (1, 1, 0));
    let received = collector.received();
    let waited = received[1].arrived - received[0].arrived;
    assert!(waited >= delay, "retried after {waited:?}, asked for {delay:?}");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);

    let collector = TestCollector::start().unwrap();
    let exhausted = Reply::GrpcStatus { code: 8, message: "quota".into(), retry_delay: None };
    collector.script(Some(Signal::Traces), [exhausted]);
    let pipeline = builder(&collector).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.dropped["rejected"], traces.retries), (0, 1, 0));
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// `Reply::Status` goes out trailers-only (the status in the response headers).
#[test]
fn trailers_only_answers_are_understood() {
    let collector = TestCollector::start().unwrap();
    let unavailable = Reply::Status { code: 503, retry_after: None, message: "restarting".into() };
    let invalid = Reply::Status { code: 400, retry_after: None, message: "bad".into() };
    collector.script(Some(Signal::Traces), [unavailable, Reply::Accept, invalid]);
    let pipeline = builder(&collector).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.retries), (1, 1));
    pipeline.handle().send_span(&scope(), span(1));
    assert!(wait_for(|| pipeline.accounting().traces.dropped["rejected"] == 1));
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

#[test]
fn partial_success_counts_the_rejected_items() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Logs), [Reply::PartialSuccess { rejected: 2, message: "too old".into() }]);
    let pipeline = builder(&collector).build().unwrap();
    for i in 0..5 {
        pipeline.handle().send_log(&scope(), log(i));
    }
    assert!(wait_for(|| {
        let logs = pipeline.accounting().logs;
        logs.exported + logs.dropped_total() == 5
    }));
    let logs = pipeline.accounting().logs;
    assert_eq!((logs.exported, logs.dropped["rejected"], logs.retries), (3, 2, 0));
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

#[test]
fn a_hang_times_out_and_is_retried() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::Hang(Duration::from_secs(5)), Reply::Accept]);
    let pipeline = builder(&collector).with_timeout(Duration::from_millis(300)).build().unwrap();
    let started = Instant::now();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.retries, traces.failed_requests), (1, 1, 1));
    assert!(started.elapsed() < Duration::from_secs(3), "the hang was not cut at the timeout");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// A connection shut under a request (a crashed collector), or closed with GOAWAY after an
/// answer: the first is a failed attempt, retried on a fresh connection; the second costs nothing.
#[test]
fn a_reset_connection_is_retried_on_a_fresh_one() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::Reset, Reply::AcceptThenClose, Reply::Accept]);
    let pipeline = builder(&collector).build().unwrap();
    let traces = export_one_span(&pipeline).traces;
    assert_eq!((traces.exported, traces.retries, traces.failed_requests), (1, 1, 1));
    pipeline.handle().send_span(&scope(), span(1));
    assert!(wait_for(|| pipeline.accounting().traces.exported == 2), "{}", pipeline.accounting().to_json());
    let received = collector.received();
    assert_eq!(received.len(), 3);
    assert_ne!(received[0].connection, received[1].connection, "a fresh connection after the reset");
    assert_ne!(received[1].connection, received[2].connection, "a fresh connection after GOAWAY");
    assert_eq!(pipeline.accounting().traces.failed_requests, 1, "GOAWAY after an answer is no failure");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// A connection the collector closed while nanotel was idle (a load balancer's idle timeout,
/// grpc-go's connection age) is replaced within the next attempt: no failed request, no retry.
#[test]
fn a_connection_closed_while_idle_is_replaced_within_the_attempt() {
    let replies = [Reply::AcceptThenHangUp(Duration::from_millis(100)), Reply::Accept];
    let (failed, retries) = a_second_span_on_a_kept_connection(replies, Duration::from_millis(400));
    assert_eq!((failed, retries), (0, 0));
}

/// A stream the collector resets on a kept connection is a failed attempt like any other (only a
/// connection gone before the request was taken is replaced within the attempt).
#[test]
fn a_stream_reset_on_a_kept_connection_is_a_failed_attempt() {
    let replies = [Reply::Accept, Reply::Hang(Duration::from_millis(50)), Reply::Accept];
    let (failed, retries) = a_second_span_on_a_kept_connection(replies, Duration::ZERO);
    assert_eq!((failed, retries), (1, 1));
}

/// An answer that breaks HTTP/2 for nanotel's own h2 (a status over the header limit, so large
/// that h2 ends the connection with a GOAWAY of its own) is a failed attempt: the collector took
/// the request, so it is not sent again within the attempt as for a connection the collector
/// closed. Until session 42 h2's own GOAWAY read as the collector's, and the request went again at
/// once, uncounted.
#[test]
fn a_connection_our_h2_ends_is_a_failed_attempt() {
    let huge = Reply::Status { code: 400, retry_after: None, message: "x".repeat(300_000) };
    let (failed, _) = a_second_span_on_a_kept_connection([Reply::Accept, huge, Reply::Accept], Duration::ZERO);
    assert_eq!(failed, 1);
}

/// Exports a span to a collector answering the traces with `replies`, waits `pause`, exports a
/// second on the connection the first kept, and returns the traces' failed requests and retries
/// once both went out (the accounting checked whole).
fn a_second_span_on_a_kept_connection(replies: impl IntoIterator<Item = Reply>, pause: Duration) -> (u64, u64) {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), replies);
    let pipeline = builder(&collector).build().unwrap();
    assert_eq!(export_one_span(&pipeline).traces.exported, 1);
    std::thread::sleep(pause);
    pipeline.handle().send_span(&scope(), span(1));
    assert!(wait_for(|| pipeline.accounting().traces.exported == 2), "{}", pipeline.accounting().to_json());
    let traces = pipeline.accounting().traces;
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
    (traces.failed_requests, traces.retries)
}

/// Flush and shutdown deadlines hold over gRPC as over HTTP: against a collector that never
/// answers, a flush returns at its deadline and shutdown abandons the call at its own, counting
/// the span as dropped at shutdown.
#[test]
fn flush_and_shutdown_deadlines_hold_against_a_hung_grpc_collector() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Hang(Duration::from_secs(30)));
    let pipeline = builder(&collector).with_timeout(Duration::from_secs(20)).build().unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    assert!(wait_for(|| collector.request_count(Signal::Traces) == 1));
    let started = Instant::now();
    assert!(pipeline.force_flush(Duration::from_millis(300)).is_err());
    // Against a 30 s hang: well under it, with room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(5), "flush took {:?}", started.elapsed());
    let started = Instant::now();
    let report = pipeline.shutdown(Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    assert_eq!(report.accounting.traces.dropped(nanotel::export::DropReason::Shutdown), 1);
    assert_identity(&report.accounting);
}

/// Signals may mix protocols: set in code per signal, logs go over gRPC while traces stay on
/// OTLP/HTTP protobuf, to the same collector.
#[test]
fn signals_may_mix_protocols() {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector)
        .with_protocol(Protocol::HttpProtobuf)
        .with_signal_protocol(Signal::Logs, Protocol::Grpc)
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    pipeline.handle().send_log(&scope(), log(0));
    pipeline.force_flush(Duration::from_secs(10)).unwrap();
    let content_type = |signal| {
        let received = collector.received();
        received.iter().find(|r| r.signal == signal).and_then(|r| r.content_type.clone())
    };
    assert_eq!(content_type(Signal::Traces).as_deref(), Some("application/x-protobuf"));
    assert_eq!(content_type(Signal::Logs).as_deref(), Some("application/grpc"));
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// Credentials in the endpoint's URL reach the collector as HTTP Basic over both protocols
/// (before session 36 gRPC left them out, and every failure line printed them).
#[test]
fn credentials_in_the_endpoint_are_sent_over_grpc_and_http() {
    let collector = TestCollector::start().unwrap();
    let endpoint = collector.endpoint().replace("http://", "http://gateway:s3cr%2Ft@");
    let pipeline = builder(&collector)
        .with_endpoint(endpoint)
        .with_signal_protocol(Signal::Logs, Protocol::HttpProtobuf)
        .build()
        .unwrap();
    assert!(!pipeline.config().signal(Signal::Traces).url().contains("s3cr"));
    pipeline.handle().send_span(&scope(), span(0));
    pipeline.handle().send_log(&scope(), log(0));
    pipeline.force_flush(Duration::from_secs(10)).unwrap();
    for signal in [Signal::Traces, Signal::Logs] {
        let received = collector.received();
        let request = received.iter().find(|r| r.signal == signal).expect("received");
        // "gateway:s3cr/t", base64.
        assert_eq!(request.header("authorization"), Some("Basic Z2F0ZXdheTpzM2NyL3Q="), "{signal:?}");
    }
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// A collector that stops answering without closing the connection: the call times out, and
/// the retry goes on a new connection instead of waiting on the dead one again (before session
/// 36, over gRPC, every retry, and every later batch, timed out on it until the kernel gave it
/// up). OTLP/HTTP (HTTP/1.1 here) leaves a connection whose request timed out too.
#[test]
fn a_connection_that_stops_answering_is_left_after_a_timeout() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let collector = TestCollector::start().unwrap();
        let relay = FreezingRelay::start(collector.addr());
        let pipeline = builder(&collector)
            .with_protocol(protocol)
            .with_endpoint(format!("http://{}", relay.addr))
            .with_timeout(Duration::from_millis(300))
            .with_retry(RetryPolicy {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
                ..RetryPolicy::default()
            })
            .build()
            .unwrap();
        assert_eq!(export_one_span(&pipeline).traces.exported, 1, "{protocol:?}");
        relay.freeze_existing();
        pipeline.handle().send_span(&scope(), span(1));
        assert!(wait_for(|| {
            let traces = pipeline.accounting().traces;
            traces.exported + traces.dropped_total() == 2
        }));
        let json = pipeline.accounting().to_json();
        let traces = pipeline.accounting().traces;
        assert_eq!(traces.exported, 2, "{protocol:?}, retried on a new connection: {json}");
        assert_eq!(traces.failed_requests, 1, "{protocol:?}, one attempt timed out on the frozen connection");
        assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
    }
}

/// A connection-specific header in `OTEL_EXPORTER_OTLP_HEADERS` is skipped (with a warning), and
/// the others still go: HTTP/2 forbids it, so h2 refused every request it was in, and each export
/// failed and dropped its healthy connection (until session 41). In code it fails the build. So
/// do the exporter's own headers (`content-type`, `grpc-*`, ...).
#[test]
fn a_connection_specific_header_is_skipped_over_grpc() {
    let collector = TestCollector::start().unwrap();
    let headers = |name: &str| {
        (name == "OTEL_EXPORTER_OTLP_HEADERS")
            .then(|| "connection=keep-alive,x-desk=fx,grpc-timeout=1S,user-agent=desk/1".into())
    };
    let pipeline = builder(&collector).with_env_lookup(headers).build().unwrap();
    assert_eq!(export_one_span(&pipeline).traces.exported, 1);
    let received = &collector.received()[0];
    assert_eq!(received.header("x-desk"), Some("fx"));
    // The exporter's own headers are not sent twice (until session 41 they were); a configured
    // user agent replaces nanotel's, as over OTLP/HTTP.
    let values =
        |name: &str| received.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    assert_eq!(values("user-agent"), ["desk/1"]);
    assert_eq!(values("grpc-timeout").len(), 1);
    assert!(builder(&collector).with_header("Connection", "keep-alive").build().is_err());
    assert!(builder(&collector).with_header("Content-Type", "text/plain").build().is_err());
}

/// A collector that opens a large flow-control window, then stops reading its socket (a process
/// stopped, a host whose receive path is stuck): each attempt's connection cannot even send its
/// goodbye once the call times out. It is closed once no call runs on it; until session 42 each
/// attempt left its connection (a socket, and the batch's body queued on it) for the life of the
/// process. Linux: connections are read from `/proc/self/net/tcp`.
#[cfg(target_os = "linux")]
#[test]
fn a_collector_that_stops_reading_leaves_no_connection_behind() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            // SETTINGS (initial window 2^31-1), then a connection WINDOW_UPDATE near the most
            // allowed; the client's frames are never read.
            let frames = [
                &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff][..],
                &[0, 0, 4, 8, 0, 0, 0, 0, 0, 0x7f, 0xff, 0, 0][..],
            ];
            let _ = frames.iter().try_for_each(|frame| stream.write_all(frame));
            held.push(stream);
        }
    });
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector)
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_compression(Compression::None)
        .with_timeout(Duration::from_millis(300))
        .with_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    // Far more than the two sockets' buffers take.
    let mut large = span(0);
    large.name =
        (0..16u32 << 20).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    pipeline.handle().send_span(&scope(), large);
    let established = || established_connections_to(port);
    assert!(wait_for(|| established() >= 1), "the attempts' connections are seen while they are open");
    assert!(wait_for(|| pipeline.accounting().traces.dropped_total() == 1), "{}", pipeline.accounting().to_json());
    let traces = pipeline.accounting().traces;
    assert_eq!(traces.failed_requests, 3, "{}", pipeline.accounting().to_json());
    let deadline = Instant::now() + Duration::from_secs(5);
    while established() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(established(), 0, "every attempt's connection was closed");
    assert_identity(&pipeline.shutdown(Duration::from_secs(1)).accounting);
}

/// This process's TCP connections to `port` on 127.0.0.1 that are established.
#[cfg(target_os = "linux")]
fn established_connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}
