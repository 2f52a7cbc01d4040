//! A sampler of the user's own (`Sampler::Custom`), alone and as a `ParentBased` delegate: what
//! it is told, what it decides, and the spans the collector received as a result.

#[path = "support/otlp_attributes.rs"]
mod otlp_attributes;
use otlp_attributes::string_value;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nanotel::attributes::{KeyValue, Value};
use nanotel::export::Pipeline;
use nanotel::propagation::TraceContextPropagator;
use nanotel::proto::trace::v1::{span::SpanKind as OtlpKind, Span as OtlpSpan};
use nanotel::trace::TraceState;
use nanotel::trace::{
    Context, Sampler, SamplingInput, SamplingResult, ShouldSample, SpanKind, TraceId, TracerProvider,
};
use nanotel_testing::TestCollector;

/// Every order on XNAS, none elsewhere.
struct PerVenue;

impl ShouldSample for PerVenue {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingResult {
        match input.attribute("venue") {
            Some(Value::Str(venue)) if venue.as_str() == "XNAS" => SamplingResult::RECORD_AND_SAMPLE,
            _ => SamplingResult::DROP,
        }
    }

    fn description(&self) -> String {
        "PerVenue".into()
    }
}

/// What [`Recording`] was told: name, kind, attribute count, parent's trace id, trace id.
type Seen = (String, SpanKind, usize, Option<TraceId>, TraceId);

/// Samples all but spans named `refused`, marks them in the trace state, and remembers what it
/// was told.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<Seen>>,
}

impl ShouldSample for Recording {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingResult {
        let parent = input.parent().map(nanotel::trace::SpanContext::trace_id);
        let entry = (input.name().to_owned(), input.kind(), input.attributes().len(), parent, input.trace_id());
        self.seen.lock().unwrap().push(entry);
        let state = TraceState::parse("desk=eq").unwrap();
        SamplingResult { sampled: input.name() != "refused", trace_state: Some(state) }
    }

    fn description(&self) -> String {
        "Recording".into()
    }
}

fn with_pipeline(sampler: Sampler, record: impl FnOnce(&TracerProvider)) -> Vec<OtlpSpan> {
    let collector = TestCollector::start().unwrap();
    let pipeline = Pipeline::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
    let provider = TracerProvider::builder().without_env().with_sampler(sampler).build();
    provider.attach(&pipeline);
    record(&provider);
    let report = pipeline.shutdown(Duration::from_secs(10));
    assert!(report.completed);
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
    assert_eq!(report.accounting.traces.exported, spans.len() as u64);
    spans
}

#[test]
fn per_venue_sampling_keeps_only_the_chosen_venue_with_its_kind_and_attributes() {
    let spans = with_pipeline(Sampler::parent_based(Sampler::Custom(Arc::new(PerVenue))), |provider| {
        let tracer = provider.tracer("gateway");
        for i in 0..50 {
            for venue in ["XNAS", "XLON"] {
                let attributes = [KeyValue::new("venue", venue), KeyValue::new("order.id", i)];
                let order = tracer.span_with("order", SpanKind::Client, &attributes).start();
                assert_eq!(order.is_recording(), venue == "XNAS");
                assert!(order.context().is_valid(), "a refused span still has ids");
                // Children follow their parent (ParentBased): kept under XNAS only.
                let _entered = order.enter();
                let child = tracer.span("risk").start();
                assert_eq!(child.is_recording(), venue == "XNAS");
            }
        }
    });
    assert_eq!(spans.len(), 100, "50 orders and their 50 children");
    let orders: Vec<_> = spans.iter().filter(|s| s.name == "order").collect();
    assert_eq!(orders.len(), 50);
    for order in orders {
        assert_eq!(string_value(&order.attributes, "venue"), Some("XNAS"));
        assert_eq!(order.kind, OtlpKind::Client as i32);
        assert_eq!(order.attributes.len(), 2);
    }
}

#[test]
fn the_sampler_sees_name_kind_attributes_parent_and_the_trace_id_the_span_keeps() {
    let recording = Arc::new(Recording::default());
    let sampler = Sampler::Custom(recording.clone());
    let mut contexts = Vec::new();
    let spans = with_pipeline(sampler, |provider| {
        let tracer = provider.tracer("gateway");
        let root = tracer.span_with("order", SpanKind::Server, &[KeyValue::new("venue", "XNAS")]).start();
        let _entered = root.enter();
        let child = tracer.span("risk").start();
        let refused = tracer.root_span("refused").start();
        assert!(!refused.is_recording());
        let mut headers = std::collections::HashMap::new();
        TraceContextPropagator.inject(refused.context(), &mut headers);
        assert_eq!(headers["tracestate"], "desk=eq", "a refused span carries the sampler's trace state");
        // An explicit parent (the child, not the entered root): the sampler sees it, kind and attributes.
        let parent = Context::from_span_context(child.context().clone());
        let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("qty", 5)];
        let handed = tracer.span_with_in(&parent, "handed", SpanKind::Producer, &attributes).start();
        contexts.extend([root.context().clone(), child.context().clone(), refused.context().clone()]);
        contexts.push(handed.context().clone());
    });
    let seen = recording.seen.lock().unwrap().clone();
    let root_trace = contexts[0].trace_id();
    assert_eq!(seen[0], ("order".into(), SpanKind::Server, 1, None, root_trace));
    assert_eq!(seen[1], ("risk".into(), SpanKind::Internal, 0, Some(root_trace), root_trace));
    assert_eq!(seen[2].4, contexts[2].trace_id(), "the trace id drawn for the decision is the span's");
    assert_eq!(seen[3], ("handed".into(), SpanKind::Producer, 2, Some(root_trace), root_trace));
    assert_eq!(spans.len(), 3);
    let handed = spans.iter().find(|span| span.name == "handed").expect("the explicit child is exported");
    assert_eq!(handed.parent_span_id, contexts[1].span_id().to_bytes());
    assert_eq!(handed.kind, OtlpKind::Producer as i32);
    assert_eq!(handed.attributes.len(), 2);
    for span in &spans {
        assert_eq!(span.trace_state, "desk=eq");
        assert_eq!(span.trace_id, root_trace.to_bytes());
    }
    assert_eq!(Sampler::Custom(recording.clone()).description(), "Recording");
    assert_eq!(Sampler::Custom(recording.clone()), Sampler::Custom(recording));
}
