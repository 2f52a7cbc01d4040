//! `nanotel::init()` / `nanotel::builder()`: one call sets up the pipeline and the providers,
//! exports over real HTTP, and reads the environment with its problems replaced by defaults.

#[path = "support/otlp_attributes.rs"]
mod otlp_attributes;
use otlp_attributes::string_value;

use std::collections::HashMap;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::ExporterKind;
use nanotel::logs::Severity;
use nanotel::metrics::TemporalityPreference;
use nanotel::resource::ResourceBuilder;
use nanotel::trace::Sampler;
use nanotel::Signal;
use nanotel_testing::TestCollector;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'static {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn a_span_a_metric_and_a_log_record_reach_the_collector() {
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder()
        .with_env_lookup(env(&[("OTEL_SERVICE_NAME", "from-env"), ("OTEL_RESOURCE_ATTRIBUTES", "desk=fx")]))
        .with_service_name("order-gateway")
        .with_resource(ResourceBuilder::new().with_service_version("1.4.0"))
        .with_endpoint(collector.endpoint())
        .configure_pipeline(|pipeline| pipeline.with_self_telemetry(false))
        .build()
        .unwrap();
    assert!(!telemetry.is_disabled());
    let orders = telemetry.meter("gateway").u64_counter("orders").with_unit("{order}").build().unwrap();
    orders.bind(&[KeyValue::new("venue", "XNAS")]).add(3);
    let logger = telemetry.logger("gateway");
    telemetry.tracer("gateway").in_span("order", |span| {
        span.add_event("sent", []);
        logger.emit(Severity::Info, "order sent", &[KeyValue::new("venue", "XNAS")]);
    });

    let report = telemetry.shutdown(Duration::from_secs(10));
    assert!(report.completed);
    assert_eq!(report.accounting.traces.exported, 1);
    assert_eq!(report.accounting.metrics.exported, 1, "one data point: self-telemetry is off");
    assert_eq!(report.accounting.traces.dropped_total() + report.accounting.metrics.dropped_total(), 0);
    assert_eq!(collector.accepted_items(Signal::Traces), 1);
    assert_eq!(collector.accepted_items(Signal::Metrics), 1);
    assert_eq!((report.accounting.logs.exported, collector.accepted_items(Signal::Logs)), (1, 1));

    let received = collector.received();
    let traces = received.iter().find_map(|r| r.request.as_ref().ok()?.as_traces().cloned()).unwrap();
    let resource = traces.resource_spans[0].resource.clone().unwrap();
    assert_eq!(string_value(&resource.attributes, "service.name"), Some("order-gateway"), "code wins");
    assert_eq!(string_value(&resource.attributes, "service.version"), Some("1.4.0"));
    assert_eq!(string_value(&resource.attributes, "desk"), Some("fx"));
    let span = &traces.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!((span.name.as_str(), span.events[0].name.as_str()), ("order", "sent"));
    let logs = received.iter().find_map(|r| r.request.as_ref().ok()?.as_logs().cloned()).unwrap();
    let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!((&record.trace_id, &record.span_id), (&span.trace_id, &span.span_id), "tied to the span");
}

#[test]
fn dropping_the_guard_delivers_what_was_recorded() {
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
    let tracer = telemetry.tracer("gateway");
    for _ in 0..5 {
        tracer.span("order").start().end();
    }
    drop(telemetry);
    assert_eq!(collector.accepted_items(Signal::Traces), 5);
    assert!(collector.accepted_items(Signal::Metrics) > 0, "the pipeline's own metrics, collected at shutdown");
}

#[test]
fn the_environment_is_read_and_code_wins_over_it() {
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder()
        .with_env_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "7"),
        ]))
        .with_endpoint(collector.endpoint())
        .with_temporality(TemporalityPreference::Cumulative)
        .build()
        .unwrap();
    let config = telemetry.pipeline().unwrap().config();
    assert_eq!(config.signal(Signal::Traces).url(), format!("{}/v1/traces", collector.endpoint()));
    assert_eq!(config.signal(Signal::Traces).batch.max_queue_size, 100);
    assert_eq!(config.signal(Signal::Logs).exporter, ExporterKind::None);
    assert_eq!(telemetry.tracer_provider().sampler(), &Sampler::AlwaysOff);
    assert_eq!(telemetry.tracer_provider().limits().event_count, 7);
    assert_eq!(telemetry.meter_provider().temporality_preference(), TemporalityPreference::Cumulative);
}

#[test]
fn invalid_values_fall_back_to_the_defaults() {
    let telemetry = nanotel::builder()
        .with_env_lookup(env(&[
            ("OTEL_SDK_DISABLED", "yes"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sideways"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
            ("OTEL_CONFIG_FILE", "/etc/otel.yaml"),
        ]))
        .configure_pipeline(|pipeline| pipeline.with_exporter(Signal::Traces, ExporterKind::None))
        .build()
        .unwrap();
    assert!(!telemetry.is_disabled(), "only \"true\" disables the SDK");
    let config = telemetry.pipeline().unwrap().config();
    assert_eq!(config.signal(Signal::Metrics).url(), "http://localhost:4318/v1/metrics");
    assert_eq!(config.signal(Signal::Traces).batch.max_queue_size, 2048);
    assert_eq!(config.signal(Signal::Metrics).batch.schedule_delay, Duration::from_secs(60));
    assert_eq!(config.signal(Signal::Metrics).protocol, nanotel::export::Protocol::HttpProtobuf);
    assert_eq!(telemetry.tracer_provider().sampler(), &Sampler::default());
    assert_eq!(telemetry.meter_provider().temporality_preference(), TemporalityPreference::Cumulative);
    // Nothing listens on localhost:4318 here: stop at once rather than retry.
    let report = telemetry.shutdown(Duration::from_millis(100));
    assert_eq!(report.accounting.traces.enqueued, 0);
}

#[test]
fn an_endpoint_set_in_code_that_is_not_a_url_is_an_error() {
    let err = nanotel::builder().without_env().with_endpoint("no scheme here").build().unwrap_err();
    assert!(err.to_string().starts_with("cannot set up telemetry: the endpoint set in code"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn the_guard_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<nanotel::Telemetry>();
    let telemetry = std::sync::Arc::new(nanotel::builder().with_disabled(true).build().unwrap());
    let shared = telemetry.clone();
    std::thread::spawn(move || shared.tracer("worker").span("job").start().end()).join().unwrap();
    assert!(telemetry.is_disabled());
}

/// A program that sets nanotel up inside its async runtime (`#[tokio::main]`), records, is
/// scraped and shuts down there. Nothing nanotel makes or drops on the caller's thread may be a
/// runtime or a blocking HTTP client: tokio panics when one is dropped inside another runtime's
/// async context (the exporter's client and runtime are made and dropped on its own thread).
#[cfg(feature = "prometheus")]
#[test]
fn set_up_used_scraped_and_shut_down_inside_an_async_runtime() {
    use std::io::{Read, Write};
    let collector = TestCollector::start().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let telemetry = nanotel::builder()
            .without_env()
            .with_endpoint(collector.endpoint())
            .with_prometheus("127.0.0.1", 0)
            .build()
            .unwrap();
        telemetry.tracer("gateway").span("order").start().end();
        telemetry.meter("gateway").u64_counter("orders").build().unwrap().add(1, &[]);
        let address = telemetry.prometheus().expect("the endpoint started").local_addr();
        let mut scrape = std::net::TcpStream::connect(address).unwrap();
        scrape.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        scrape.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("orders_total"), "{answer}");
        telemetry.shutdown(Duration::from_secs(5));
    });
    assert_eq!(collector.accepted_items(Signal::Traces), 1);
}
