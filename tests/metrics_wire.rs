//! The metric registry end to end on the wire: every instrument kind, cumulative and delta,
//! collected by a real pipeline's exporter thread, posted to the loopback collector, and the
//! request checked against the official Python OTLP classes (protobuf and OTLP/JSON).

#[path = "conformance/oracle.rs"]
mod oracle;

#[path = "support/metrics_pipeline.rs"]
mod metrics_pipeline;
use metrics_pipeline::flush_only_metrics;

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{BatchConfig, Pipeline, Protocol};
use nanotel::metrics::{MeterProvider, TemporalityPreference};
use nanotel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::AggregationTemporality;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// Records into one instrument of every kind and number type.
fn record_everything(provider: &MeterProvider) {
    let meter = provider.meter_with_version("gateway", "1.2.3");
    let attrs = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("qty", 100)];
    let orders = meter.u64_counter("orders").with_unit("{order}").with_description("Orders sent").build().unwrap();
    orders.add(3, &attrs);
    orders.bind(&[KeyValue::new("venue", "XNYS")]).add(2);
    meter.f64_counter("notional").with_unit("USD").build().unwrap().add(1234.5, &attrs);
    meter.i64_up_down_counter("orders.open").build().unwrap().add(-4, &attrs);
    meter.f64_up_down_counter("exposure").build().unwrap().add(-0.25, &[]);
    meter.i64_gauge("book.depth").build().unwrap().record(-7, &attrs);
    meter.f64_gauge("quote.spread").build().unwrap().record(0.01, &attrs);
    let latency = meter.u64_histogram("order.latency").with_unit("ns").build().unwrap();
    for v in [0, 5, 6, 10_000, 10_001] {
        latency.record(v, &attrs);
    }
    let custom = meter.f64_histogram("fill.ratio").with_boundaries(vec![0.25, 0.5, 0.75]).build().unwrap();
    custom.record(0.5, &[]);
    let exponential = meter.f64_histogram("tick.to.trade").with_unit("s").with_exponential_buckets().build().unwrap();
    for v in [0.0, 1e-6, 2.5e-6, 0.001, -3.0] {
        exponential.record(v, &attrs);
    }
    meter
        .u64_observable_counter("session.messages")
        .with_callback(|o| o.observe(42, &[KeyValue::new("session", "FIX-1")]))
        .build()
        .unwrap();
    meter.f64_observable_up_down_counter("cash.balance").with_callback(|o| o.observe(-1e6, &[])).build().unwrap();
    meter.i64_observable_gauge("cpu.core").with_callback(|o| o.observe(3, &[])).build().unwrap();
}

/// The metrics requests the collector received through a real pipeline.
fn export(preference: TemporalityPreference, protocol: Protocol) -> Vec<ExportMetricsServiceRequest> {
    let collector = TestCollector::start().unwrap();
    let pipeline = flush_only_metrics(&collector).with_protocol(protocol).build().unwrap();
    let provider = MeterProvider::builder().without_env().with_temporality(preference).build();
    provider.attach(&pipeline);
    record_everything(&provider);
    pipeline.force_flush(WAIT).unwrap();
    let requests: Vec<_> = collector
        .received()
        .into_iter()
        .filter(|r| r.signal == Signal::Metrics)
        .map(|r| r.request.expect("the collector decodes our request").as_metrics().expect("a metrics request").clone())
        .collect();
    pipeline.shutdown(WAIT);
    requests
}

fn check(preference: TemporalityPreference) {
    let requests = export(preference, Protocol::HttpProtobuf);
    assert_eq!(requests.len(), 1, "one collection, one request");
    let request = &requests[0];
    let scope_metrics = &request.resource_metrics[0].scope_metrics;
    let scope = scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("gateway", "1.2.3"));
    let metrics: Vec<_> = scope_metrics.iter().flat_map(|s| &s.metrics).collect();
    assert_eq!(metrics.len(), 12, "{:#?}", metrics.iter().map(|m| &m.name).collect::<Vec<_>>());
    let delta = AggregationTemporality::Delta as i32;
    let cumulative = AggregationTemporality::Cumulative as i32;
    let is_delta = preference == TemporalityPreference::Delta;
    for metric in &metrics {
        // Delta preference: counters, observable counters and histograms (OTLP-NOTES §6.2).
        let expected_delta = is_delta
            && matches!(
                metric.name.as_str(),
                "orders" | "notional" | "session.messages" | "order.latency" | "fill.ratio" | "tick.to.trade"
            );
        let temporality = match metric.data.as_ref().unwrap() {
            Data::Sum(s) => s.aggregation_temporality,
            Data::Histogram(h) => h.aggregation_temporality,
            Data::ExponentialHistogram(h) => h.aggregation_temporality,
            Data::Gauge(_) => cumulative,
            Data::Summary(_) => panic!("no summaries"),
        };
        assert_eq!(temporality, if expected_delta { delta } else { cumulative }, "{}", metric.name);
    }
    let Some(Data::ExponentialHistogram(h)) = metrics.iter().find(|m| m.name == "tick.to.trade").unwrap().data.as_ref()
    else {
        panic!("exponential")
    };
    let point = &h.data_points[0];
    assert_eq!((point.count, point.zero_count, point.min, point.max), (5, 1, Some(-3.0), Some(0.001)));

    let Some(oracle) = oracle::Oracle::get() else { return };
    oracle::check_protobuf(&oracle, request, false);
    oracle::check_json(&oracle, request);
}

#[test]
fn cumulative_metrics_pass_the_official_decoders() {
    check(TemporalityPreference::Cumulative);
}

#[test]
fn delta_metrics_pass_the_official_decoders() {
    check(TemporalityPreference::Delta);
}

#[test]
fn otlp_json_export_is_decoded_by_the_collector() {
    let requests = export(TemporalityPreference::LowMemory, Protocol::HttpJson);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].resource_metrics[0].scope_metrics[0].metrics.len(), 12);
}

#[test]
fn the_exporter_thread_collects_at_every_interval() {
    let collector = TestCollector::start().unwrap();
    let interval = BatchConfig { schedule_delay: Duration::from_millis(50), ..BatchConfig::defaults(Signal::Metrics) };
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_batch(Signal::Metrics, interval)
        .with_poll_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let provider = MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    provider.attach(&pipeline);
    let orders = provider.meter("gateway").u64_counter("orders").build().unwrap().bind(&[]);
    orders.add(1);
    // No flush: only the periodic collection can deliver these.
    let delivered = |requests: &[nanotel_testing::ReceivedRequest]| {
        requests.iter().filter(|r| r.signal == Signal::Metrics).count() >= 2
    };
    assert!(collector.wait_until(WAIT, |requests| {
        if requests.iter().filter(|r| r.signal == Signal::Metrics).count() == 1 {
            orders.add(1);
        }
        delivered(requests)
    }));
    pipeline.shutdown(WAIT);
}
