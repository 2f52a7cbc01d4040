//! The detected resource as a collector receives it: a pipeline without a resource of its own
//! sends the attributes detected through its own environment lookup, and a resource built in code
//! is sent as built. The requests are also checked with the official OTLP decoders when the
//! Python oracle is available.

#[path = "conformance/oracle.rs"]
mod oracle;

use std::sync::Arc;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{Pipeline, PipelineBuilder};
use nanotel::proto::collector::trace::v1::ExportTraceServiceRequest;
use nanotel::proto::common::v1::any_value::Value;
use nanotel::proto::common::v1::InstrumentationScope;
use nanotel::proto::trace::v1::Span;
use nanotel::resource::ResourceBuilder;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// Sends one span through `builder` and returns the request the collector received.
fn export_one_span(collector: &TestCollector, builder: PipelineBuilder) -> ExportTraceServiceRequest {
    let pipeline = builder.with_endpoint(collector.endpoint()).build().unwrap();
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "order".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_001_000,
        ..Default::default()
    };
    pipeline.handle().send_span(&scope, span);
    pipeline.force_flush(WAIT).unwrap();
    let is_traces = |request: &&nanotel_testing::ReceivedRequest| request.signal == Signal::Traces;
    assert!(collector.wait_until(WAIT, |received| received.iter().any(|r| is_traces(&r))));
    pipeline.shutdown(WAIT);
    // The pipeline's own metrics go out beside, on their own lane: the traces request may come
    // second.
    let received = collector.received();
    let traces = received.iter().find(is_traces).expect("a traces request");
    let request = traces.request.as_ref().unwrap().as_traces().unwrap().clone();
    if let Some(oracle) = oracle::Oracle::get() {
        oracle::check_protobuf(&oracle, &request, false);
        oracle::check_json(&oracle, &request);
    }
    request
}

fn attribute(request: &ExportTraceServiceRequest, key: &str) -> Option<Value> {
    let resource = request.resource_spans[0].resource.as_ref()?;
    let matching: Vec<_> = resource.attributes.iter().filter(|kv| kv.key == key).collect();
    assert!(matching.len() <= 1, "{key} appears {} times", matching.len());
    matching.first()?.value.clone()?.value
}

#[expect(clippy::unnecessary_wraps, reason = "returns the `Option` the field it is compared with holds")]
fn string(value: &str) -> Option<Value> {
    Some(Value::StringValue(value.to_owned()))
}

#[test]
fn the_default_resource_is_detected_through_the_pipelines_environment() {
    let collector = TestCollector::start().unwrap();
    let builder = Pipeline::builder().with_env_lookup(|name| match name {
        "OTEL_SERVICE_NAME" => Some("order-gateway".to_owned()),
        "OTEL_RESOURCE_ATTRIBUTES" => {
            Some("service.name=overridden,deployment.environment.name=uat,desk=fx%2Coptions".to_owned())
        }
        _ => None,
    });
    let request = export_one_span(&collector, builder);
    assert_eq!(attribute(&request, "service.name"), string("order-gateway"));
    assert_eq!(attribute(&request, "deployment.environment.name"), string("uat"));
    assert_eq!(attribute(&request, "desk"), string("fx,options"));
    assert_eq!(attribute(&request, "telemetry.sdk.name"), string("nanotel"));
    assert_eq!(attribute(&request, "telemetry.sdk.language"), string("rust"));
    assert_eq!(attribute(&request, "process.pid"), Some(Value::IntValue(i64::from(std::process::id()))));
    let Some(Value::StringValue(instance)) = attribute(&request, "service.instance.id") else {
        panic!("no service.instance.id")
    };
    assert_eq!(instance.len(), 36, "{instance}");
    for key in ["host.arch", "os.type", "process.executable.name", "process.runtime.name", "process.runtime.version"] {
        assert!(attribute(&request, key).is_some(), "no {key}");
    }
    assert_eq!(collector.accepted_items(Signal::Traces), 1);
}

#[test]
fn a_resource_built_in_code_is_sent_as_built() {
    let collector = TestCollector::start().unwrap();
    let (resource, problems) = ResourceBuilder::new()
        .with_service_name("md-handler")
        .with_service_version("3.2.1")
        .with_attribute(KeyValue::new("venue.count", 12))
        .build_with_env(&|name| (name == "OTEL_RESOURCE_ATTRIBUTES").then(|| "venue.count=1,broken".to_owned()));
    assert_eq!(problems.len(), 1, "{problems:?}");
    let request = export_one_span(&collector, Pipeline::builder().without_env().with_resource(resource));
    assert_eq!(attribute(&request, "service.name"), string("md-handler"));
    assert_eq!(attribute(&request, "service.version"), string("3.2.1"));
    assert_eq!(attribute(&request, "venue.count"), Some(Value::IntValue(12)));
}
