//! What nanotel's own threads log through the `log` crate (reqwest does, on the exporter thread:
//! `starting new connection`, and at `trace` around every request) is not recorded by the `log`
//! bridge: it is not the program's telemetry, and exporting it would make more of it, the
//! export feeding itself. A binary of its own: a process has one `log` logger.

use std::time::Duration;

use nanotel::logs::{LogBridge, LoggerProvider};
use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};

#[path = "support/loopback.rs"]
mod loopback;

#[test]
fn the_bridge_records_the_programs_logs_not_the_exporters() {
    let collector = TestCollector::start().unwrap();
    // Each answer closes its connection, so each export starts one: reqwest says so at `debug`.
    collector.set_default(Reply::AcceptThenClose);
    let pipeline = loopback::pipeline_to(&collector);
    let provider = LoggerProvider::builder().without_env().build();
    provider.attach(&pipeline);
    LogBridge::new(provider.logger("app")).install(log::LevelFilter::Trace).unwrap();
    log::info!("order accepted");
    for _ in 0..3 {
        pipeline.force_flush(Duration::from_secs(10)).expect("flushed: the export makes no record of its own");
    }
    let received = collector.received();
    let targets: Vec<String> = received
        .iter()
        .filter_map(|r| r.request.as_ref().ok()?.as_logs().cloned())
        .flat_map(|request| request.resource_logs)
        .flat_map(|resource| resource.scope_logs)
        .flat_map(|scope| scope.log_records)
        .flat_map(|record| record.attributes.into_iter().filter(|kv| kv.key == "log.target"))
        .map(|kv| format!("{:?}", kv.value))
        .collect();
    assert_eq!(targets.len(), 1, "only the program's record: {targets:#?}");
    assert_eq!(collector.accepted_items(Signal::Logs), 1);
}
