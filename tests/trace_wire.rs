//! Spans through a real pipeline to the loopback collector, every field checked as received, and
//! the requests checked by the official Python decoders (protobuf and OTLP/JSON) when available.

#[path = "conformance/oracle.rs"]
mod oracle;

use std::collections::HashMap;
use std::time::Duration;

use nanotel::attributes::{KeyValue, Value};
use nanotel::export::{Pipeline, Protocol};

use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::proto::common::v1::{any_value::Value as Any, AnyValue};
use nanotel::proto::trace::v1::{span::SpanKind as OtlpKind, status::StatusCode, Span as OtlpSpan};
use nanotel::trace::TraceState;
use nanotel::trace::{Context, Sampler, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TracerProvider};
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

fn every_value_type() -> Vec<KeyValue> {
    vec![
        KeyValue::new("bool", true),
        KeyValue::new("int", -42),
        KeyValue::new("double", 187.25),
        KeyValue::new("static_str", "XNAS"),
        KeyValue::new(String::from("owned_key"), String::from("owned value")),
        KeyValue::new("bytes", vec![0u8, 0xff, 0x10]),
        KeyValue::new("array", vec![Value::from(1), Value::from("two"), Value::from(3.5), Value::from(false)]),
        KeyValue::new("map", vec![KeyValue::new("inner", vec![KeyValue::new("deep", 7)]), KeyValue::new("s", "v")]),
    ]
}

fn any(value: &Option<AnyValue>) -> &Any {
    value.as_ref().and_then(|v| v.value.as_ref()).expect("a value")
}

const VENDOR_STATE: &str = "rojo=00f067aa0ba902b7,congo@t61=rcWkgMzE";

/// Records one span of every kind and status, with events, links and every value type.
fn record(provider: &TracerProvider) -> HashMap<&'static str, SpanContext> {
    let tracer = provider.tracer_with_version("wire", "0.1.0");
    let mut contexts = HashMap::new();
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::parse(VENDOR_STATE).expect("a valid tracestate"),
    );

    let mut server = tracer
        .span_with_parent("server", &Context::from_span_context(remote.clone()))
        .with_kind(SpanKind::Server)
        .with_attributes(every_value_type())
        .start();
    server.set_status(Status::Ok);
    contexts.insert("server", server.context().clone());
    {
        let _entered = server.enter();
        let mut client = tracer.span("client").with_kind(SpanKind::Client).start();
        client.add_event("sent", [KeyValue::new("bytes", 512), KeyValue::new("venue", "XNAS")]);
        client.add_event("empty", []);
        client.record_exception(&std::io::Error::other("venue closed"));
        client.set_status(Status::error("venue closed"));
        contexts.insert("client", client.context().clone());
        drop(client);
        let producer = tracer.span(String::from("producer")).with_kind(SpanKind::Producer).start();
        contexts.insert("producer", producer.context().clone());
        let producer_context = producer.context().clone();
        drop(producer);
        let mut consumer = tracer
            .span("consumer")
            .with_kind(SpanKind::Consumer)
            .with_link(producer_context, [KeyValue::new("link.kind", "follows")])
            .start();
        consumer.add_link(remote.clone(), []);
        contexts.insert("consumer", consumer.context().clone());
        drop(consumer);
        let internal = tracer.span("internal").start();
        contexts.insert("internal", internal.context().clone());
    }
    drop(server);
    contexts.insert("remote", remote);
    contexts
}

fn received_spans(collector: &TestCollector) -> (Vec<ExportTraceServiceRequest>, HashMap<String, OtlpSpan>) {
    let received = collector.received();
    let requests: Vec<ExportTraceServiceRequest> =
        received.iter().filter_map(|r| r.request.as_ref().ok()?.as_traces().cloned()).collect();
    let mut spans = HashMap::new();
    for request in &requests {
        for resource in &request.resource_spans {
            for scope in &resource.scope_spans {
                let instrumentation = scope.scope.as_ref().unwrap();
                assert_eq!((instrumentation.name.as_str(), instrumentation.version.as_str()), ("wire", "0.1.0"));
                for span in &scope.spans {
                    spans.insert(span.name.clone(), span.clone());
                }
            }
        }
    }
    (requests, spans)
}

fn check_fields(contexts: &HashMap<&'static str, SpanContext>, spans: &HashMap<String, OtlpSpan>) {
    assert_eq!(spans.len(), 5, "{:?}", spans.keys());
    for (name, span) in spans {
        let context = &contexts[name.as_str()];
        assert_eq!(span.trace_id, context.trace_id().to_bytes(), "{name}");
        assert_eq!(span.span_id, context.span_id().to_bytes(), "{name}");
        assert_eq!(span.trace_id, contexts["remote"].trace_id().to_bytes(), "{name}: one trace");
        assert!(span.start_time_unix_nano > 1_600_000_000_000_000_000, "{name}: epoch nanoseconds");
        assert!(span.start_time_unix_nano <= span.end_time_unix_nano, "{name}");
        // Every span of the trace carries the remote caller's vendor state on.
        assert_eq!(span.trace_state, VENDOR_STATE, "{name}");
    }
    let kinds: Vec<(&str, OtlpKind)> = vec![
        ("server", OtlpKind::Server),
        ("client", OtlpKind::Client),
        ("producer", OtlpKind::Producer),
        ("consumer", OtlpKind::Consumer),
        ("internal", OtlpKind::Internal),
    ];
    for (name, kind) in kinds {
        assert_eq!(spans[name].kind, kind as i32, "{name}");
    }

    let server = &spans["server"];
    assert_eq!(server.parent_span_id, contexts["remote"].span_id().to_bytes());
    assert_eq!(server.flags, 0x301, "sampled, with a remote parent");
    assert_eq!(server.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
    let attributes: HashMap<&str, &Any> =
        server.attributes.iter().map(|kv| (kv.key.as_str(), any(&kv.value))).collect();
    assert_eq!(attributes.len(), 8);
    assert_eq!(attributes["bool"], &Any::BoolValue(true));
    assert_eq!(attributes["int"], &Any::IntValue(-42));
    assert_eq!(attributes["double"], &Any::DoubleValue(187.25));
    assert_eq!(attributes["static_str"], &Any::StringValue("XNAS".into()));
    assert_eq!(attributes["owned_key"], &Any::StringValue("owned value".into()));
    assert_eq!(attributes["bytes"], &Any::BytesValue(vec![0, 0xff, 0x10]));
    let Any::ArrayValue(array) = attributes["array"] else { panic!("array") };
    assert_eq!(array.values.len(), 4);
    assert_eq!(any(&Some(array.values[1].clone())), &Any::StringValue("two".into()));
    let Any::KvlistValue(map) = attributes["map"] else { panic!("map") };
    assert_eq!(map.values[0].key, "inner");
    assert!(matches!(any(&map.values[0].value), Any::KvlistValue(inner) if inner.values[0].key == "deep"));

    for name in ["client", "producer", "consumer", "internal"] {
        assert_eq!(spans[name].parent_span_id, server.span_id, "{name}");
        assert_eq!(spans[name].flags, 0x101, "{name}: sampled, local parent");
    }
    let client = &spans["client"];
    let status = client.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (StatusCode::Error as i32, "venue closed"));
    let events: Vec<&str> = client.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["sent", "empty", "exception"]);
    assert_eq!(client.events[0].attributes.len(), 2);
    let exception: HashMap<&str, &Any> =
        client.events[2].attributes.iter().map(|kv| (kv.key.as_str(), any(&kv.value))).collect();
    assert_eq!(exception["exception.type"], &Any::StringValue("std::io::error::Error".into()));
    assert_eq!(exception["exception.message"], &Any::StringValue("venue closed".into()));

    let consumer = &spans["consumer"];
    assert_eq!(consumer.links.len(), 2);
    assert_eq!(consumer.links[0].span_id, contexts["producer"].span_id().to_bytes());
    assert_eq!(consumer.links[0].flags, 0x101);
    assert_eq!(consumer.links[0].attributes[0].key, "link.kind");
    assert_eq!(consumer.links[1].span_id, contexts["remote"].span_id().to_bytes());
    assert_eq!(consumer.links[1].flags, 0x301, "the linked context is remote");
    assert_eq!(spans["internal"].status, None);
}

fn run(protocol: Protocol) {
    let collector = TestCollector::start().unwrap();
    let pipeline =
        Pipeline::builder().without_env().with_endpoint(collector.endpoint()).with_protocol(protocol).build().unwrap();
    let provider =
        TracerProvider::builder().without_env().with_sampler(Sampler::parent_based(Sampler::AlwaysOn)).build();
    provider.attach(&pipeline);
    let contexts = record(&provider);
    pipeline.force_flush(WAIT).unwrap();
    assert!(
        collector.wait_until(WAIT, |r| r.iter().map(nanotel_testing::ReceivedRequest::item_count).sum::<u64>() >= 5)
    );
    let (requests, spans) = received_spans(&collector);
    check_fields(&contexts, &spans);
    let traces = pipeline.shutdown(WAIT).accounting.traces;
    assert_eq!((traces.enqueued, traces.exported), (5, 5));
    assert_eq!(collector.accepted_items(Signal::Traces), 5);

    let Some(oracle) = oracle::Oracle::get() else { return };
    for request in &requests {
        oracle::check_protobuf(&oracle, request, false);
        oracle::check_json(&oracle, request);
    }
}

#[test]
fn every_span_field_arrives_as_protobuf() {
    run(Protocol::HttpProtobuf);
}

#[test]
fn every_span_field_arrives_as_json() {
    run(Protocol::HttpJson);
}
