//! Every number nanotel reads from the environment at the ends of its range and past them: the
//! largest the specification requires an SDK to accept (2147483647), the largest `u64`, zero,
//! negatives, not numbers. `build()` succeeds (a bad value is reported and its default used),
//! recording, flushing and shutting down work, nothing aborts or panics, and the accounting
//! holds. `OTEL_BSP_MAX_QUEUE_SIZE=2147483647` once made a queue of that many slots up front
//! (about 600 GB): the allocation failed and the process aborted before `main`'s first line of work.

use std::time::{Duration, Instant};

use nanotel::attributes::KeyValue;
use nanotel::logs::Severity;
use nanotel_testing::TestCollector;

#[path = "support/accounting.rs"]
mod accounting;

/// Every variable holding a count, a size, a limit, a duration or a ratio.
const NUMERIC: &[&str] = &[
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BLRP_EXPORT_TIMEOUT",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_TRACES_SAMPLER_ARG",
    "NANOTEL_BACKLOG_MAX_BYTES",
    "NANOTEL_METRICS_DELTA_IDLE_COLLECTIONS",
];

/// Builds telemetry with every [`NUMERIC`] variable set to `value`, records one of each kind,
/// flushes and shuts down.
fn run_with_every_number_set_to(value: &'static str) {
    let collector = TestCollector::start().expect("a loopback collector");
    let endpoint = collector.endpoint();
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_TRACES_SAMPLER" => Some("traceidratio".into()),
            "OTEL_METRICS_EXEMPLAR_FILTER" => Some("always_on".into()),
            name if NUMERIC.contains(&name) => Some(value.into()),
            _ => None,
        })
        .with_install_global(false)
        .build()
        .unwrap_or_else(|error| panic!("{value}: problems in the environment never fail build: {error}"));
    let meter = telemetry.meter("extremes");
    meter.u64_counter("orders").build().expect("a valid name").add(1, &[KeyValue::new("venue", "XNAS")]);
    meter.f64_histogram("latency").build().expect("a valid name").record(0.25, &[KeyValue::new("venue", "XNAS")]);
    let span = telemetry.tracer("extremes").span("order").with_attribute(KeyValue::new("venue", "XNAS")).start();
    drop(span);
    telemetry.logger("extremes").emit(Severity::Info, "order sent", &[KeyValue::new("qty", 100)]);

    let started = Instant::now();
    let _ = telemetry.force_flush(Duration::from_secs(5));
    let report = telemetry.shutdown(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(15), "{value}: flush and shutdown keep to their timeouts");
    accounting::assert_identity(&report.accounting);
}

#[test]
fn every_number_at_the_ends_of_its_range_and_past_them_is_handled() {
    for value in [
        "2147483647",
        "2147483648",
        "4294967295",
        "9223372036854775807",
        "18446744073709551615",
        "18446744073709551616",
        "0",
        "-1",
        "1e308",
        "NaN",
        "inf",
        " 7 ",
        "٣",
    ] {
        run_with_every_number_set_to(value);
    }
}
