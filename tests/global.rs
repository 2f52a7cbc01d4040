//! `nanotel::global`: no-op before init, the running `Telemetry`'s providers after it (from any
//! thread), no-op again after shutdown. The global state is the process's, so this binary holds
//! these tests alone, and they take turns.

use std::sync::Mutex;
use std::time::Duration;

use nanotel::export::DropReason;
use nanotel::logs::Severity;
use nanotel::proto::metrics::v1::{metric::Data, number_data_point::Value};
use nanotel::{global, Signal, Telemetry};
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// One test at a time: they share the process-wide providers.
static TURN: Mutex<()> = Mutex::new(());

fn telemetry(collector: &TestCollector) -> nanotel::TelemetryBuilder {
    nanotel::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .configure_pipeline(|p| p.with_self_telemetry(false))
}

/// A span, a counter add and a log record, all through the global functions.
fn record_through_the_global(name: &'static str) {
    global::tracer("lib").in_span(name, |span| assert!(span.is_recording()));
    global::meter("lib").u64_counter("lib.calls").build().unwrap().add(1, &[]);
    global::logger_with_version("lib", "1.0").emit(Severity::Info, name, &[]);
}

fn assert_no_op() {
    assert!(!global::tracer_provider().is_enabled());
    assert!(!global::meter_provider().is_enabled());
    assert!(!global::logger_provider().is_enabled());
    global::tracer_with_version("lib", "1.0").in_span("nowhere", |span| assert!(!span.is_recording()));
    assert!(!global::logger("lib").enabled(Severity::Fatal));
    let counter = global::meter_with_version("lib", "1.0").u64_counter("lib.calls").build().unwrap();
    counter.add(1, &[]);
    assert!(global::meter_provider().collect().is_empty());
}

#[test]
fn the_global_providers_are_no_op_before_init_live_after_it_and_no_op_after_shutdown() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_no_op();
    let early = global::tracer("early");

    let collector = TestCollector::start().unwrap();
    let telemetry = telemetry(&collector).build().unwrap();
    assert!(global::tracer_provider().is_enabled());
    record_through_the_global("here");
    std::thread::spawn(|| record_through_the_global("elsewhere")).join().unwrap();
    early.in_span("early", |span| assert!(!span.is_recording(), "a handle made before init stays a no-op"));
    let kept = global::tracer("kept");
    let handle = telemetry.pipeline().unwrap().handle();

    let report = telemetry.shutdown(WAIT);
    let accounting = &report.accounting;
    assert_eq!(accounting.traces.exported, 2, "{}", accounting.to_json());
    assert_eq!(accounting.logs.exported, 2, "{}", accounting.to_json());
    assert_eq!(collector.accepted_items(Signal::Traces), 2);
    assert_eq!(collector.accepted_items(Signal::Logs), 2);
    let calls = collector
        .received()
        .iter()
        .filter_map(|r| r.request.as_ref().ok()?.as_metrics().cloned())
        .flat_map(|request| request.resource_metrics)
        .flat_map(|resource| resource.scope_metrics)
        .flat_map(|scope| scope.metrics)
        .filter(|metric| metric.name == "lib.calls")
        .filter_map(|metric| match metric.data? {
            Data::Sum(sum) => sum.data_points.first()?.value,
            _ => None,
        })
        .next_back();
    // Cumulative: the last export counts both threads' adds through the global meter.
    assert_eq!(calls, Some(Value::AsInt(2)), "the counter made through the global, from both threads");

    assert_no_op();
    kept.in_span("after shutdown", |span| assert!(span.is_recording(), "a handle made before shutdown works on"));
    let late = handle.accounting();
    assert_eq!(late.traces.dropped(DropReason::Shutdown), accounting.traces.dropped(DropReason::Shutdown) + 1);
}

#[test]
fn the_last_telemetry_built_wins_and_install_global_false_leaves_the_global_alone() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let collector = TestCollector::start().unwrap();

    let private = telemetry(&collector).with_install_global(false).build().unwrap();
    assert!(private.tracer_provider().is_enabled());
    assert!(!global::tracer_provider().is_enabled(), "with_install_global(false) installs nothing");

    let first = telemetry(&collector).build().unwrap();
    let second = telemetry(&collector).build().unwrap();
    global::tracer("lib").in_span("to the second", |_| ());
    let first = first.shutdown(WAIT).accounting;
    assert!(global::tracer_provider().is_enabled(), "shutting the first down leaves the second installed");
    global::tracer("lib").in_span("to the second too", |_| ());
    let second = second.shutdown(WAIT).accounting;
    assert_eq!((first.traces.enqueued, second.traces.exported), (0, 2));
    assert!(!global::tracer_provider().is_enabled());

    drop(private);
    let disabled = nanotel::builder().without_env().with_disabled(true).build().unwrap();
    assert!(!global::tracer_provider().is_enabled(), "a disabled SDK installs its no-op providers");
    drop(disabled);
    let dropped: Telemetry = telemetry(&collector).build().unwrap();
    drop(dropped);
    assert!(!global::tracer_provider().is_enabled(), "dropping uninstalls as shutdown does");
}

#[test]
fn telemetry_stays_send_and_sync() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Telemetry>();
}
