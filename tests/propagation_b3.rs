//! B3 and `OTEL_PROPAGATORS` end to end: a request's B3 headers extracted with the propagator
//! `Telemetry` chose, a server span started under them, the outgoing headers injected, and the
//! span as the collector received it.

use std::collections::HashMap;
use std::time::Duration;

use http::HeaderMap;
use nanotel::propagation::{CompositePropagator, Propagator};
use nanotel::proto::trace::v1::Span as OtlpSpan;
use nanotel::trace::{Context, SpanKind};
use nanotel::Signal;
use nanotel_testing::TestCollector;

const TRACE_64: &str = "a3ce929d0e0e4736";
const SPAN: &str = "e457b5a2e4d86bd1";

fn received_spans(collector: &TestCollector) -> Vec<OtlpSpan> {
    let mut spans = Vec::new();
    for request in collector.received() {
        if let Some(traces) = request.request.as_ref().ok().and_then(|r| r.as_traces()) {
            for resource in &traces.resource_spans {
                for scope in &resource.scope_spans {
                    spans.extend(scope.spans.iter().cloned());
                }
            }
        }
    }
    spans
}

#[expect(clippy::format_collect, reason = "a short hex string, built off the hot path")]
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn b3multi_from_the_environment_continues_the_trace_on_the_wire() {
    let collector = TestCollector::start().unwrap();
    let vars = HashMap::from([("OTEL_PROPAGATORS", "b3multi, baggage"), ("OTEL_METRICS_EXPORTER", "none")]);
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| vars.get(name).map(std::string::ToString::to_string))
        .with_endpoint(collector.endpoint())
        .build()
        .unwrap();
    let propagator = telemetry.propagator();
    assert_eq!(propagator.propagators(), [Propagator::B3Multi, Propagator::Baggage]);

    // A Zipkin-instrumented client: a 64-bit trace id and the debug flag.
    let mut incoming = HeaderMap::new();
    incoming.insert("X-B3-TraceId", TRACE_64.parse().unwrap());
    incoming.insert("X-B3-SpanId", SPAN.parse().unwrap());
    incoming.insert("X-B3-Flags", "1".parse().unwrap());
    incoming.insert("baggage", "desk=equities".parse().unwrap());
    let parent = propagator.extract(&incoming).expect("valid B3 headers");
    assert!(parent.is_sampled(), "debug implies sampled");
    assert_eq!(propagator.extract_baggage(&incoming).get("desk"), Some("equities"));

    let tracer = telemetry.tracer("gateway");
    let server =
        tracer.span_with_parent("order", &Context::from_span_context(parent)).with_kind(SpanKind::Server).start();
    let mut outgoing = HashMap::new();
    propagator.inject(server.context(), &mut outgoing);
    let padded = format!("0000000000000000{TRACE_64}");
    assert_eq!(outgoing["x-b3-traceid"], padded);
    assert_eq!(outgoing["x-b3-spanid"], server.context().span_id().to_string());
    assert_eq!(outgoing["x-b3-flags"], "1", "the server span inherits debug and sends it on");
    assert!(!outgoing.contains_key("x-b3-sampled"), "debug implies sampled: not sent beside it");
    assert!(!outgoing.contains_key("traceparent") && !outgoing.contains_key("b3"));
    drop(server);

    let report = telemetry.shutdown(Duration::from_secs(10));
    assert_eq!(report.accounting.traces.exported, 1, "{}", report.accounting.to_json());
    let spans = received_spans(&collector);
    assert_eq!(spans.len(), 1);
    assert_eq!(hex(&spans[0].trace_id), padded);
    assert_eq!(hex(&spans[0].parent_span_id), SPAN);
    assert_eq!(spans[0].flags & 0xff, 0x01, "sampled, and B3's debug is no W3C flag");
    assert_eq!(spans[0].flags & 0x200, 0x200, "the parent is remote");
    assert_eq!(collector.accepted_items(Signal::Traces), 1);
}

#[test]
fn the_propagator_set_in_code_wins_and_works_when_disabled() {
    let vars = HashMap::from([("OTEL_PROPAGATORS", "b3")]);
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| vars.get(name).map(std::string::ToString::to_string))
        .with_disabled(true)
        .with_propagator(CompositePropagator::new([Propagator::TraceContext]))
        .build()
        .unwrap();
    assert_eq!(telemetry.propagator().propagators(), [Propagator::TraceContext]);

    let vars = HashMap::from([("OTEL_PROPAGATORS", "none")]);
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| vars.get(name).map(std::string::ToString::to_string))
        .with_disabled(true)
        .build();
    let telemetry = telemetry.unwrap();
    let mut incoming = HashMap::new();
    incoming.insert("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    assert_eq!(telemetry.propagator().extract(&incoming), None, "none extracts nothing");
    assert_eq!(nanotel::builder().without_env().with_disabled(true).build().unwrap().propagator(), &Default::default());
}
