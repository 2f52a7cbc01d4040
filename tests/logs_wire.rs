//! Log records through a real pipeline to the loopback collector, every field checked as received,
//! and the requests checked by the official Python decoders (protobuf and OTLP/JSON) when available.

#[path = "conformance/oracle.rs"]
mod oracle;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use nanotel::attributes::{KeyValue, Value};
use nanotel::export::{Pipeline, Protocol};
use nanotel::logs::{LogLimits, LoggerProvider, Severity};
use nanotel::proto::collector::logs::v1::ExportLogsServiceRequest;
use nanotel::proto::common::v1::{any_value::Value as Any, AnyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::trace::{Context, Sampler, SpanContext, SpanId, TraceFlags, TraceId, TracerProvider};
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);
/// Records [`record`] emits.
const RECORDS: u64 = 11;

fn every_value_type() -> Vec<(&'static str, Value)> {
    vec![
        ("bool", Value::from(true)),
        ("int", Value::from(-42)),
        ("double", Value::from(187.25)),
        ("string", Value::from("XNAS")),
        ("bytes", Value::from(vec![0u8, 0xff, 0x10])),
        ("array", Value::from(vec![Value::from(1), Value::from("two"), Value::from(3.5), Value::from(false)])),
        ("map", Value::from(vec![KeyValue::new("inner", vec![KeyValue::new("deep", 7)]), KeyValue::new("s", "v")])),
    ]
}

fn any(value: &Option<AnyValue>) -> &Any {
    value.as_ref().and_then(|v| v.value.as_ref()).expect("a value")
}

/// The span context records are emitted in, and a remote one that is not sampled.
struct Contexts {
    span: SpanContext,
    remote: SpanContext,
}

/// One record per body type, one with every other field set inside a span, one with an explicit
/// context, one over the limits of `limited`, and one from the fast path outside any span.
fn record(provider: &LoggerProvider, limited: &LoggerProvider, tracers: &TracerProvider) -> Contexts {
    let logger = provider.logger_with_version("wire", "0.1.0");
    for (name, body) in every_value_type() {
        logger.record(Severity::Debug2).body(body).event_name(format!("body.{name}")).emit();
    }
    let tracer = tracers.tracer("wire");
    let span = tracer.span("order").start();
    {
        let _entered = span.enter();
        logger
            .record(Severity::Fatal4)
            .body("every field")
            .severity_text("CRITICAL")
            .event_name("order.rejected")
            .timestamp_unix_nanos(1_700_000_000_123_456_789)
            .observed_timestamp(SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_987_654_321))
            .attributes(every_value_type().into_iter().map(|(key, value)| KeyValue::new(key, value)))
            .emit();
    }
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::NOT_SAMPLED,
        true,
        Default::default(),
    );
    logger.record(Severity::Info).body("explicit").context(&Context::from_span_context(remote.clone())).emit();
    let attributes: Vec<KeyValue> = (0..6).map(|i| KeyValue::new(format!("k{i}"), "a long value")).collect();
    let limited = limited.logger_with_version("wire", "0.1.0");
    limited.record(Severity::Warn).body("a long body").event_name("limits").attributes(attributes).emit();
    logger.emit(Severity::Error, "fast path", &[KeyValue::new("order.id", 42)]);
    Contexts { span: span.context().clone(), remote }
}

fn received(collector: &TestCollector) -> (Vec<ExportLogsServiceRequest>, HashMap<String, LogRecord>) {
    let received = collector.received();
    let requests: Vec<ExportLogsServiceRequest> =
        received.iter().filter_map(|r| r.request.as_ref().ok()?.as_logs().cloned()).collect();
    let mut records = HashMap::new();
    for request in &requests {
        for resource in &request.resource_logs {
            for scope in &resource.scope_logs {
                let instrumentation = scope.scope.as_ref().unwrap();
                assert_eq!((instrumentation.name.as_str(), instrumentation.version.as_str()), ("wire", "0.1.0"));
                for record in &scope.log_records {
                    // Named by event name, or by body for the records that are not events.
                    let name = match (record.event_name.as_str(), any(&record.body)) {
                        ("", Any::StringValue(body)) => body.clone(),
                        (event, _) => event.to_owned(),
                    };
                    assert!(records.insert(name, record.clone()).is_none());
                }
            }
        }
    }
    (requests, records)
}

fn check_fields(contexts: &Contexts, records: &HashMap<String, LogRecord>) {
    assert_eq!(records.len() as u64, RECORDS, "{:?}", records.keys());
    let before_test = 1_600_000_000_000_000_000;
    for (name, body) in every_value_type() {
        let record = &records[&format!("body.{name}")];
        assert_eq!(record.body, Some(body.to_proto()), "{name}");
        assert_eq!((record.severity_number, record.severity_text.as_str()), (6, "DEBUG2"));
        assert_eq!(record.time_unix_nano, 0, "no event time given");
        assert!(record.observed_time_unix_nano > before_test, "observed now");
        assert!(record.trace_id.is_empty() && record.span_id.is_empty() && record.flags == 0, "no span");
        assert!(record.attributes.is_empty());
    }

    let full = &records["order.rejected"];
    assert_eq!(any(&full.body), &Any::StringValue("every field".into()));
    assert_eq!((full.severity_number, full.severity_text.as_str()), (24, "CRITICAL"));
    assert_eq!(full.time_unix_nano, 1_700_000_000_123_456_789);
    assert_eq!(full.observed_time_unix_nano, 1_700_000_000_987_654_321);
    assert_eq!(full.trace_id, contexts.span.trace_id().to_bytes());
    assert_eq!(full.span_id, contexts.span.span_id().to_bytes());
    assert_eq!(full.flags, 1, "sampled");
    let attributes: HashMap<&str, &Any> = full.attributes.iter().map(|kv| (kv.key.as_str(), any(&kv.value))).collect();
    assert_eq!(attributes.len(), 7);
    assert_eq!(attributes["bool"], &Any::BoolValue(true));
    assert_eq!(attributes["int"], &Any::IntValue(-42));
    assert_eq!(attributes["double"], &Any::DoubleValue(187.25));
    assert_eq!(attributes["string"], &Any::StringValue("XNAS".into()));
    assert_eq!(attributes["bytes"], &Any::BytesValue(vec![0, 0xff, 0x10]));
    assert!(matches!(attributes["array"], Any::ArrayValue(array) if array.values.len() == 4));
    assert!(matches!(attributes["map"], Any::KvlistValue(map) if map.values[0].key == "inner"));
    assert_eq!(full.dropped_attributes_count, 0);

    let explicit = &records["explicit"];
    assert_eq!(explicit.trace_id, contexts.remote.trace_id().to_bytes());
    assert_eq!(explicit.span_id, contexts.remote.span_id().to_bytes());
    assert_eq!((explicit.flags, explicit.severity_number, explicit.event_name.as_str()), (0, 9, ""));

    let limited = &records["limits"];
    assert_eq!(any(&limited.body), &Any::StringValue("a long body".into()), "the limit is on attributes");
    assert_eq!(limited.attributes.len(), 4);
    assert_eq!(limited.dropped_attributes_count, 2);
    assert_eq!(any(&limited.attributes[3].value), &Any::StringValue("a lon".into()), "cut to 5 characters");
    assert_eq!((limited.severity_number, limited.severity_text.as_str()), (13, "WARN"));

    let fast = &records["fast path"];
    assert_eq!((fast.severity_number, fast.severity_text.as_str()), (17, "ERROR"));
    assert_eq!(fast.attributes[0].key, "order.id");
    assert_eq!(any(&fast.attributes[0].value), &Any::IntValue(42));
    assert!(fast.trace_id.is_empty() && fast.observed_time_unix_nano > before_test);
}

fn run(protocol: Protocol) {
    let collector = TestCollector::start().unwrap();
    let pipeline =
        Pipeline::builder().without_env().with_endpoint(collector.endpoint()).with_protocol(protocol).build().unwrap();
    let provider = LoggerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let limited = LoggerProvider::builder()
        .without_env()
        .with_log_limits(LogLimits { attribute_count: 4, attribute_value_length: Some(5), ..LogLimits::default() })
        .build();
    limited.attach(&pipeline);
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let contexts = record(&provider, &limited, &tracers);
    pipeline.force_flush(WAIT).unwrap();
    assert!(collector
        .wait_until(WAIT, |r| r.iter().map(nanotel_testing::ReceivedRequest::item_count).sum::<u64>() >= RECORDS));
    let (requests, records) = received(&collector);
    check_fields(&contexts, &records);
    let logs = pipeline.shutdown(WAIT).accounting.logs;
    assert_eq!((logs.enqueued, logs.exported), (RECORDS, RECORDS));
    assert_eq!(collector.accepted_items(Signal::Logs), RECORDS);

    let Some(oracle) = oracle::Oracle::get() else { return };
    for request in &requests {
        oracle::check_protobuf(&oracle, request, false);
        oracle::check_json(&oracle, request);
    }
}

#[test]
fn every_log_record_field_arrives_as_protobuf() {
    run(Protocol::HttpProtobuf);
}

#[test]
fn every_log_record_field_arrives_as_json() {
    run(Protocol::HttpJson);
}
