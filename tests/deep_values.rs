//! A value nested far deeper than anything reads it (a document parsed without a depth limit, a
//! list built by wrapping the last one) in a span attribute, a log body and attribute, and a
//! metric attribute, exported over OTLP and scraped by Prometheus: the process keeps running and
//! exporting. Before, the exporter thread's stack overflowed (20,000 levels were enough) while
//! it encoded or dropped the value, and a stack overflow aborts the process.

#[path = "support/loopback.rs"]
mod loopback;

use std::time::Duration;

use nanotel::attributes::{KeyValue, Value, MAX_NESTING};
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::metrics::MeterProvider;
use nanotel::prometheus::PrometheusServer;
use nanotel::trace::TracerProvider;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// Levels of the deep value: five times what overflowed the exporter thread.
const LEVELS: usize = 100_000;

/// A value `levels` deep, arrays and maps in turn, built from the bottom up (no recursion).
fn nested(levels: usize) -> Value {
    (1..levels).fold(Value::from("bottom"), |inner, level| {
        if level % 2 == 0 {
            Value::from(vec![inner])
        } else {
            Value::from(vec![KeyValue::new("k", inner)])
        }
    })
}

#[test]
fn values_nested_past_any_stack_are_exported_and_dropped_without_overflowing_it() {
    let collector = TestCollector::start().unwrap();
    let pipeline = loopback::pipeline_to(&collector);
    let tracer_provider = TracerProvider::builder().without_env().build();
    let logger_provider = LoggerProvider::builder().without_env().build();
    let meter_provider = MeterProvider::builder().without_env().build();
    tracer_provider.attach(&pipeline);
    logger_provider.attach(&pipeline);
    meter_provider.attach(&pipeline);
    let server =
        PrometheusServer::builder().with_address("127.0.0.1", 0).with_provider(&meter_provider).start().unwrap();
    let tracer = tracer_provider.tracer("deep");
    let logger = logger_provider.logger("deep");
    let orders = meter_provider.meter("deep").u64_counter("orders").build().unwrap();

    let deep = nested(LEVELS);
    tracer.span("parse").with_attributes([KeyValue::new("doc", deep.clone())]).start().end();
    logger.record(Severity::Info).body(deep.clone()).attribute(KeyValue::new("doc", deep.clone())).emit();
    orders.add(1, &[KeyValue::new("doc", deep.clone())]);
    // Differs from `deep` only at its bottom, far past what is read: the same series.
    orders.add(1, &[KeyValue::new("doc", nested(LEVELS - 2))]);
    let page = loopback::scrape(server.local_addr());
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.200}");
    let series: Vec<&str> = page.lines().filter(|line| line.starts_with("orders_total{")).collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(series[0].ends_with(" 2"), "{:.200}", series[0]);
    assert!(series[0].len() < 10 * MAX_NESTING, "written to the ceiling: {} bytes", series[0].len());
    pipeline.force_flush(WAIT).unwrap();
    let every_signal_sent = |requests: &[nanotel_testing::ReceivedRequest]| {
        [Signal::Traces, Signal::Logs, Signal::Metrics].iter().all(|s| requests.iter().any(|r| r.signal == *s))
    };
    assert!(collector.wait_until(WAIT, every_signal_sent), "every signal's deep record sent");
    drop(deep);

    // The exporter thread outlived them: what comes next arrives.
    let before = collector.received().len();
    tracer.span("next").start().end();
    logger.emit(Severity::Info, "next", &[]);
    pipeline.force_flush(WAIT).unwrap();
    let arrived = |signal: Signal| {
        let received = collector.received();
        received[before..]
            .iter()
            .filter(|r| r.signal == signal)
            .map(nanotel_testing::ReceivedRequest::item_count)
            .sum::<u64>()
    };
    assert!(collector.wait_until(WAIT, |r| r.len() >= before + 3), "{:?}", collector.summary());
    assert_eq!(arrived(Signal::Traces), 1);
    assert_eq!(arrived(Signal::Logs), 1);
    // The deep series is still in every metrics request, which the collector cannot decode.
    assert!(collector.received()[before..].iter().any(|r| r.signal == Signal::Metrics));
    drop(server);
}
