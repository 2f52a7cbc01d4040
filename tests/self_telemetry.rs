//! The pipeline's own telemetry goes out over OTLP with the user's metrics, under the scope
//! `nanotel`, with exact figures; and it can be switched off.

use std::sync::Arc;
use std::time::Duration;

use nanotel::export::{BatchConfig, Pipeline, PipelineBuilder, SELF_TELEMETRY_SCOPE};
use nanotel::proto::common::v1::InstrumentationScope;
use nanotel::proto::metrics::v1::{metric::Data, number_data_point::Value, Metric, ScopeMetrics};
use nanotel::proto::trace::v1::Span;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

fn builder(collector: &TestCollector) -> PipelineBuilder {
    // A long interval: only the flushes collect.
    let interval = BatchConfig { schedule_delay: Duration::from_secs(3600), ..BatchConfig::defaults(Signal::Metrics) };
    Pipeline::builder().without_env().with_endpoint(collector.endpoint()).with_batch(Signal::Metrics, interval)
}

/// The `nanotel` scopes the collector received, in order.
fn self_scopes(collector: &TestCollector) -> Vec<ScopeMetrics> {
    collector
        .received()
        .into_iter()
        .filter(|r| r.signal == Signal::Metrics)
        .filter_map(|r| r.request.ok().and_then(|req| req.as_metrics().cloned()))
        .flat_map(|req| req.resource_metrics.into_iter().flat_map(|rm| rm.scope_metrics))
        .filter(|s| s.scope.as_ref().is_some_and(|scope| scope.name == SELF_TELEMETRY_SCOPE))
        .collect()
}

fn metric<'a>(scope: &'a ScopeMetrics, name: &str) -> &'a Metric {
    scope.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no {name}"))
}

/// The integer value of the point with these string attributes.
fn value(metric: &Metric, attributes: &[(&str, &str)]) -> i64 {
    let points = match metric.data.as_ref() {
        Some(Data::Sum(sum)) => &sum.data_points,
        Some(Data::Gauge(gauge)) => &gauge.data_points,
        other => panic!("{}: not a sum or gauge: {other:?}", metric.name),
    };
    let matches = |p: &&nanotel::proto::metrics::v1::NumberDataPoint| {
        p.attributes.len() == attributes.len()
            && attributes.iter().all(|(k, v)| {
                p.attributes.iter().any(|kv| {
                    kv.key == *k
                        && kv.value.as_ref().and_then(|v| v.value.as_ref())
                            == Some(&nanotel::proto::common::v1::any_value::Value::StringValue((*v).into()))
                })
            })
    };
    match points.iter().find(matches).and_then(|p| p.value) {
        Some(Value::AsInt(v)) => v,
        other => panic!("{} {attributes:?}: {other:?}", metric.name),
    }
}

#[test]
fn the_pipeline_reports_itself_with_the_users_metrics() {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector).build().unwrap();
    let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
    for i in 0..5u8 {
        let span =
            Span { name: "order".into(), trace_id: vec![i + 1; 16], span_id: vec![i + 1; 8], ..Default::default() };
        assert!(pipeline.handle().send_span(&scope, span));
    }
    pipeline.force_flush(WAIT).unwrap();
    // The first flush collects before it sends the spans; the second collection sees them exported.
    pipeline.force_flush(WAIT).unwrap();
    let scopes = self_scopes(&collector);
    assert_eq!(scopes.len(), 2, "one scope per collection");
    let last = &scopes[1];
    assert_eq!(last.scope.as_ref().unwrap().version, env!("CARGO_PKG_VERSION"));
    let traces = [("signal", "traces")];
    assert_eq!(value(metric(last, "nanotel.exporter.items.exported"), &traces), 5);
    assert_eq!(value(metric(last, "nanotel.exporter.queue.size"), &traces), 0);
    assert_eq!(value(metric(last, "nanotel.exporter.queue.capacity"), &traces), 2048);
    assert_eq!(value(metric(last, "nanotel.exporter.queue.capacity"), &[("signal", "metrics")]), 65536);
    assert_eq!(value(metric(last, "nanotel.exporter.retries"), &traces), 0);
    assert_eq!(value(metric(last, "nanotel.exporter.breaker.state"), &[("signal", "traces")]), 0);
    assert_eq!(value(metric(last, "nanotel.exporter.breaker.transitions"), &[("signal", "traces")]), 0);
    let dropped = metric(last, "nanotel.exporter.items.dropped");
    for reason in [
        "queue_full",
        "rejected",
        "retries_exhausted",
        "circuit_open",
        "backlog_full",
        "shutdown",
        "too_large",
        "tls_config",
        "thread_exit",
        "out_of_memory",
    ] {
        assert_eq!(value(dropped, &[("signal", "traces"), ("reason", reason)]), 0, "{reason}");
    }
    // The figures agree with the accounting: one traces request and one metrics request so far.
    let accounting = pipeline.accounting();
    let sent = value(metric(last, "nanotel.exporter.sent.bytes"), &traces);
    assert_eq!(sent as u64, accounting.traces.bytes.sent);
    let uncompressed = value(metric(last, "nanotel.exporter.uncompressed.bytes"), &traces);
    assert_eq!(uncompressed as u64, accounting.traces.bytes.uncompressed);
    let Some(Data::Histogram(duration)) = metric(last, "nanotel.exporter.export.duration").data.as_ref() else {
        panic!("a histogram")
    };
    assert_eq!(metric(last, "nanotel.exporter.export.duration").unit, "s");
    let point =
        duration.data_points.iter().find(|p| format!("{:?}", p.attributes).contains("traces")).expect("a traces point");
    assert_eq!(point.count, 1, "one traces request");
    assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 1);
    assert!(point.sum.unwrap() > 0.0);
    pipeline.shutdown(WAIT);
}

#[test]
fn self_telemetry_switches_off_in_code_and_by_environment() {
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector).with_self_telemetry(false).build().unwrap();
    pipeline.force_flush(WAIT).unwrap();
    pipeline.shutdown(WAIT);
    let lookup = |name: &str| (name == "NANOTEL_SELF_TELEMETRY").then(|| "false".to_owned());
    let pipeline = builder(&collector).with_env_lookup(lookup).with_endpoint(collector.endpoint()).build().unwrap();
    assert!(!pipeline.config().self_telemetry);
    pipeline.force_flush(WAIT).unwrap();
    pipeline.shutdown(WAIT);
    assert!(self_scopes(&collector).is_empty());
    assert_eq!(collector.request_count(Signal::Metrics), 0, "nothing else to send");
}
