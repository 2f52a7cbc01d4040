//! `OTEL_SDK_DISABLED=true`: no exporter thread starts, and instruments and spans record nothing.
//! A test binary of its own, so no other test's pipeline thread is running when threads are counted.

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::logs::Severity;
use nanotel::trace::{Context, SpanContext, SpanId, TraceFlags, TraceId};

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_disabled_sdk_starts_no_thread_and_records_nothing() {
    // The check is only meaningful where thread names can be read.
    let readable = !thread_names().is_empty();
    let telemetry = nanotel::builder()
        .with_env_lookup(|name| (name == "OTEL_SDK_DISABLED").then(|| " TRUE ".to_owned()))
        .build()
        .unwrap();
    assert!(telemetry.is_disabled());
    assert!(telemetry.pipeline().is_none());

    let meter = telemetry.meter("gateway");
    let orders = meter.u64_counter("orders").build().unwrap();
    orders.add(1, &[KeyValue::new("venue", "XNAS")]);
    orders.bind(&[KeyValue::new("venue", "XNAS")]).add(1);
    meter.f64_histogram("latency").with_unit("ns").build().unwrap().bind(&[]).record(5.0);
    meter.i64_gauge("depth").build().unwrap().record(3, &[]);
    meter.i64_up_down_counter("open").build().unwrap().bind(&[]).add(-1);
    meter
        .u64_observable_counter("polled")
        .with_callback(|_| panic!("a disabled SDK runs no callback"))
        .build()
        .unwrap();
    assert!(telemetry.meter_provider().collect().is_empty());
    assert!(telemetry.meter_provider().snapshot().is_empty());

    let tracer = telemetry.tracer("gateway");
    let mut order = tracer.span("order").with_attribute(KeyValue::new("venue", "XNAS")).start();
    order.add_event("sent", []);
    assert!(!order.is_recording());
    assert!(!order.context().is_valid(), "no id is generated");
    drop(order);
    let mut drained = 0;
    telemetry.tracer_provider().drain(usize::MAX, |_, _| drained += 1);
    assert_eq!(drained, 0);

    let logger = telemetry.logger("gateway");
    assert!(!logger.enabled(Severity::Fatal4));
    logger.emit(Severity::Fatal, "kept by no one", &[]);
    logger.record(Severity::Error).body("nor this").emit();
    assert_eq!(telemetry.logger_provider().drain(usize::MAX, |_, _| panic!("a disabled SDK keeps no record")), 0);

    assert!(!telemetry.meter_provider().is_enabled() && !telemetry.tracer_provider().is_enabled());
    assert!(!telemetry.logger_provider().is_enabled());
    // A span with an explicit parent (a request's extracted context) passes the parent on unchanged.
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    let child = tracer.span_with_parent("order", &Context::from_span_context(remote.clone())).start();
    assert!(!child.is_recording());
    assert_eq!(child.context(), &remote);
    drop(child);

    if readable {
        let names = thread_names();
        assert!(!names.iter().any(|name| name.starts_with("nanotel")), "threads: {names:?}");
    }
    assert!(telemetry.force_flush(Duration::from_secs(1)).is_ok());
    let report = telemetry.shutdown(Duration::from_secs(1));
    assert!(report.completed);
    assert_eq!(report.accounting, nanotel::export::Snapshot::default());
}

#[test]
fn disabled_in_code_wins_over_the_environment() {
    let telemetry = nanotel::builder()
        .with_env_lookup(|name| (name == "OTEL_SDK_DISABLED").then(|| "false".to_owned()))
        .with_disabled(true)
        .build()
        .unwrap();
    assert!(telemetry.is_disabled());
}
