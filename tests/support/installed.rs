//! For tests of what the installed meter provider reports (the statics): one test at a time, a
//! builder exporting to a loopback collector, the metrics of one name (collected, or in the last
//! export), and a test run again in a child process whose stderr is its own.

use std::sync::Mutex;
use std::time::Duration;

use nanotel::proto::metrics::v1::{Metric, ScopeMetrics};
use nanotel_testing::TestCollector;

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// One test at a time: they share the installed provider.
static TURN: Mutex<()> = Mutex::new(());

pub(crate) fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A builder exporting to `collector`, without the pipeline's own metrics.
pub(crate) fn builder(collector: &TestCollector) -> nanotel::TelemetryBuilder {
    nanotel::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .configure_pipeline(|p| p.with_self_telemetry(false))
}

/// The metrics named `name` in `scopes`, with their scope's name.
pub(crate) fn named<'a>(scopes: &'a [ScopeMetrics], name: &str) -> Vec<(&'a str, &'a Metric)> {
    scopes
        .iter()
        .flat_map(|scope| {
            scope.metrics.iter().map(move |metric| (scope.scope.as_ref().map_or("", |s| &s.name), metric))
        })
        .filter(|(_, metric)| metric.name == name)
        .collect()
}

/// What `read` makes of the metric named `name` in the last metrics request the collector
/// accepted that holds it.
pub(crate) fn last_exported<T>(collector: &TestCollector, name: &str, read: impl Fn(&Metric) -> T) -> Option<T> {
    collector
        .received()
        .iter()
        .filter_map(|r| r.request.as_ref().ok()?.as_metrics().cloned())
        .filter_map(|request| {
            let scopes: Vec<ScopeMetrics> =
                request.resource_metrics.into_iter().flat_map(|resource| resource.scope_metrics).collect();
            named(&scopes, name).first().map(|(_, metric)| read(metric))
        })
        .next_back()
}

/// Runs this binary's test `test` alone in a child process with `marker` set in its environment
/// (the test does its work only then), and returns the warnings it wrote on stderr.
pub(crate) fn warnings_of_child(test: &str, marker: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test's own path");
    let output = std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(marker, "1")
        .env_remove("OTEL_LOG_LEVEL")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed ({}):\n{stderr}", output.status);
    stderr.lines().filter(|line| line.starts_with("nanotel: warning: ")).map(str::to_owned).collect()
}

/// `builder(collector)` with two views: `renamed.0` renamed `renamed.1`, and `dropped` dropped.
pub(crate) fn renaming_and_dropping(
    collector: &TestCollector,
    renamed: (&'static str, &'static str),
    dropped: &'static str,
) -> nanotel::Telemetry {
    use nanotel::metrics::{Aggregation, View};
    builder(collector)
        .configure_metrics(move |m| {
            m.with_view(View::new(renamed.0).with_stream_name(renamed.1))
                .with_view(View::new(dropped).with_aggregation(Aggregation::Drop))
        })
        .build()
        .unwrap()
}
