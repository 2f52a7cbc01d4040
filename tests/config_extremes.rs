//! Every number nanotel reads from the environment at the ends of its range and past them: the
//! largest the specification requires an SDK to accept (2147483647), the largest `u64`, zero,
//! negatives, not numbers. `build()` succeeds (a bad value is reported and its default used),
//! recording, flushing and shutting down work, nothing aborts or panics, and the accounting
//! holds. `OTEL_BSP_MAX_QUEUE_SIZE=2147483647` once made a queue of that many slots up front
//! (about 600 GB): the allocation failed and the process aborted in `init()`.
//!
//! The same for the sizes set in code whose memory is allocated at once: `usize::MAX` meant as
//! "unlimited" is lowered to each one's largest (with a warning), where it once overflowed or
//! aborted at the first span, record or series. And for every duration set in code: zero and
//! `Duration::MAX` ("never") export as any other value does; `Duration::MAX` once overflowed a
//! deadline and panicked the exporter thread (nothing exported from then on), and a zero timeout
//! failed every export.

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{BatchConfig, BreakerConfig, Pipeline, RetryPolicy};
use nanotel::logs::{LoggerProvider, Severity, MAX_BUFFER_CAPACITY};
use nanotel::metrics::{MeterProvider, View};
use nanotel::trace::{TracerProvider, MAX_RING_CAPACITY};
use nanotel::Signal;
use nanotel_testing::TestCollector;
use tracing_subscriber::layer::SubscriberExt;

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
/// flushes and shuts down. When `value` is no number any of them takes (`defaults`), each is
/// reported and its default used: the flush succeeds and every item is exported.
fn run_with_every_number_set_to(value: &'static str, defaults: bool) {
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

    let flushed = telemetry.force_flush(Duration::from_secs(5));
    let accounting = telemetry.shutdown(Duration::from_secs(5)).accounting;
    accounting::assert_identity(&accounting);
    if defaults {
        assert!(flushed.is_ok(), "{value}: {flushed:?}");
        for (signal, counts) in
            [("traces", &accounting.traces), ("metrics", &accounting.metrics), ("logs", &accounting.logs)]
        {
            assert!(
                counts.enqueued > 0 && counts.exported == counts.enqueued,
                "{value}, {signal}: {}",
                accounting.to_json()
            );
        }
    }
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
        run_with_every_number_set_to(value, false);
    }
    for not_a_number in ["-1", "NaN", "inf", "٣", "seven"] {
        run_with_every_number_set_to(not_a_number, true);
    }
}

#[test]
fn every_size_set_in_code_at_usize_max_is_lowered_and_works() {
    let tracers = TracerProvider::builder().without_env().with_ring_capacity(usize::MAX).build();
    let tracer = tracers.tracer("extremes");
    for _ in 0..3 {
        drop(tracer.span("order").start());
    }
    let mut drained = 0;
    let dropped = tracers.drain(usize::MAX, |_, _| drained += 1);
    assert_eq!((drained, dropped), (3, 0), "{MAX_RING_CAPACITY} slots hold three spans");

    let loggers = LoggerProvider::builder().without_env().with_buffer_capacity(usize::MAX).build();
    for _ in 0..3 {
        loggers.logger("extremes").emit(Severity::Info, "order sent", &[]);
    }
    let mut drained = 0;
    let dropped = loggers.drain(usize::MAX, |_, _| drained += 1);
    assert_eq!((drained, dropped), (3, 0), "{MAX_BUFFER_CAPACITY} slots hold three records");

    let meters = MeterProvider::builder()
        .without_env()
        .with_cardinality_limit(usize::MAX)
        .with_view(View::new("viewed").with_cardinality_limit(usize::MAX))
        .build();
    for name in ["plain", "viewed"] {
        let counter = meters.meter("extremes").u64_counter(name).build().expect("a valid name");
        for symbol in 0..10 {
            counter.add(1, &[KeyValue::new("symbol", symbol)]);
        }
    }

    let telemetry = nanotel::builder()
        .with_env_lookup(|name| name.ends_with("_EXPORTER").then(|| "none".to_owned()))
        .with_install_global(false)
        .build()
        .expect("built");
    let layer = telemetry.tracing_layer().with_span_capacity(usize::MAX);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("outer").in_scope(|| tracing::info_span!("inner").in_scope(|| tracing::info!("kept")));
    });
    let _ = telemetry.shutdown(Duration::from_secs(5));
}

#[test]
fn every_duration_set_in_code_at_zero_or_max_still_exports() {
    for value in [Duration::ZERO, Duration::MAX] {
        let collector = TestCollector::start().expect("a loopback collector");
        let batch =
            BatchConfig { schedule_delay: value, export_timeout: value, ..BatchConfig::defaults(Signal::Traces) };
        let retry = RetryPolicy {
            initial_backoff: value,
            max_backoff: value,
            max_elapsed: value,
            max_retry_after: value,
            ..RetryPolicy::default()
        };
        let mut builder = Pipeline::builder()
            .without_env()
            .with_endpoint(collector.endpoint())
            .with_timeout(value)
            .with_poll_interval(value)
            .with_retry(retry)
            .with_breaker(BreakerConfig { reset_timeout: value, max_reset_timeout: value, ..BreakerConfig::default() });
        for signal in Signal::ALL {
            builder = builder.with_batch(signal, batch.clone());
        }
        let pipeline = builder.build().unwrap_or_else(|error| panic!("{value:?}: {error}"));
        let tracers = TracerProvider::builder().without_env().build();
        tracers.attach(&pipeline);
        for _ in 0..10 {
            drop(tracers.tracer("extremes").span("order").start());
        }
        let _ = pipeline.force_flush(Duration::from_secs(5));
        let report = pipeline.shutdown(Duration::from_secs(5));
        assert_eq!(report.accounting.signal(Signal::Traces).exported, 10, "{value:?}: {}", report.accounting.to_json());
    }
}

/// `force_flush` and `shutdown` given `Duration::MAX` ("as long as it takes") wait as a day
/// does: until session 39 the deadline overflowed, a panic in the program's call.
#[test]
fn a_flush_and_a_shutdown_of_duration_max_do_not_panic() {
    let collector = TestCollector::start().expect("a loopback collector");
    let pipeline = Pipeline::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
    let tracers = TracerProvider::builder().without_env().build();
    tracers.attach(&pipeline);
    drop(tracers.tracer("extremes").span("order").start());
    pipeline.force_flush(Duration::MAX).expect("flushed");
    let report = pipeline.shutdown(Duration::MAX);
    assert!(report.completed);
    assert_eq!(report.accounting.signal(Signal::Traces).exported, 1, "{}", report.accounting.to_json());
}
