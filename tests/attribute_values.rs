//! Attribute values converted from a program's own types arrive at the collector as the
//! specification maps them: an unsigned integer above `i64::MAX` as its decimal string, one in
//! range as an integer, and homogeneous arrays as OTLP arrays; the requests are checked by the
//! official Python decoders (protobuf and OTLP/JSON) when available.

#[path = "support/loopback.rs"]
mod loopback;
#[path = "conformance/oracle.rs"]
mod oracle;

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::proto::common::v1::{any_value::Value as Any, AnyValue, ArrayValue};
use nanotel::trace::TracerProvider;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

fn array(values: Vec<Any>) -> Any {
    Any::ArrayValue(ArrayValue { values: values.into_iter().map(|v| AnyValue { value: Some(v) }).collect() })
}

#[test]
fn wide_integers_and_arrays_arrive_as_the_specification_maps_them() {
    let collector = TestCollector::start().unwrap();
    let pipeline = loopback::pipeline_to(&collector);
    let provider = TracerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    let tracer = provider.tracer("wire");
    let attributes = [
        KeyValue::new("order.id", u64::MAX),
        KeyValue::new("order.qty", 100_u64),
        KeyValue::new("book.len", 3_usize),
        KeyValue::new("venues", ["XNAS", "XLON"]),
        KeyValue::new("depths", vec![5_i64, -1]),
        KeyValue::new("prices", &[101.5, 99.25][..]),
        KeyValue::new("flags", vec![true, false]),
        KeyValue::new(String::from("desk"), std::borrow::Cow::Borrowed("equities")),
    ];
    tracer.in_span("order", |span| {
        for attribute in attributes {
            span.set_attribute(attribute);
        }
    });
    pipeline.force_flush(WAIT).unwrap();
    assert!(
        collector.wait_until(WAIT, |r| r.iter().map(nanotel_testing::ReceivedRequest::item_count).sum::<u64>() >= 1)
    );

    let received = collector.received();
    let requests: Vec<_> = received.iter().filter_map(|r| r.request.as_ref().ok()?.as_traces().cloned()).collect();
    let spans: Vec<_> = requests
        .iter()
        .cloned()
        .flat_map(|request| request.resource_spans)
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .collect();
    assert_eq!(spans.len(), 1);
    let got: Vec<(String, Any)> = spans[0]
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().and_then(|v| v.value).expect("a value")))
        .collect();
    let expected = vec![
        ("order.id".to_owned(), Any::StringValue("18446744073709551615".into())),
        ("order.qty".to_owned(), Any::IntValue(100)),
        ("book.len".to_owned(), Any::IntValue(3)),
        ("venues".to_owned(), array(vec![Any::StringValue("XNAS".into()), Any::StringValue("XLON".into())])),
        ("depths".to_owned(), array(vec![Any::IntValue(5), Any::IntValue(-1)])),
        ("prices".to_owned(), array(vec![Any::DoubleValue(101.5), Any::DoubleValue(99.25)])),
        ("flags".to_owned(), array(vec![Any::BoolValue(true), Any::BoolValue(false)])),
        ("desk".to_owned(), Any::StringValue("equities".into())),
    ];
    assert_eq!(got, expected);
    let traces = pipeline.shutdown(WAIT).accounting.traces;
    assert_eq!((traces.enqueued, traces.exported), (1, 1));
    assert_eq!(collector.accepted_items(Signal::Traces), 1);

    let Some(oracle) = oracle::Oracle::get() else { return };
    for request in &requests {
        oracle::check_protobuf(&oracle, request, false);
        oracle::check_json(&oracle, request);
    }
}
