//! nanotel's own threads as `/proc` shows them, and a telemetry that starts every one of them:
//! the exporter, a name-lookup thread (the collector reached through `localhost`), the
//! Prometheus endpoint's.

use std::path::PathBuf;
use std::time::Duration;

/// The names nanotel's own threads go by.
pub(crate) const OWN_THREADS: [&str; 3] = ["nanotel-export", "nanotel-lookup", "nanotel-prom"];

/// The `/proc/self/task/<tid>` directory of each live thread named `name`.
pub(crate) fn tasks_named(name: &str) -> Vec<PathBuf> {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap().filter_map(Result::ok).map(|task| task.path());
    tasks.filter(|task| std::fs::read_to_string(task.join("comm")).is_ok_and(|comm| comm.trim() == name)).collect()
}

/// A telemetry exporting to `collector_endpoint` through `localhost`, with `variables` beside
/// it, serving Prometheus, after one span has been exported (so that every thread has started).
pub(crate) fn telemetry_with_every_thread(
    collector_endpoint: &str,
    variables: &[(&str, String)],
) -> nanotel::Telemetry {
    let endpoint = collector_endpoint.replace("127.0.0.1", "localhost");
    let mut variables: Vec<(String, String)> = variables.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    variables.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint));
    let telemetry = nanotel::builder()
        .with_env_lookup(move |name| variables.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()))
        .with_install_global(false)
        .with_prometheus("127.0.0.1", 0)
        .build()
        .unwrap();
    telemetry.tracer("gateway").span("order").start().end();
    telemetry.pipeline().expect("exporting").force_flush(Duration::from_secs(10)).unwrap();
    telemetry
}
