//! A pipeline whose collector never answers, for the tests that check what a stalled export does
//! to memory and to the accounting.

use std::time::Duration;

use nanotel::export::{BatchConfig, Pipeline};
use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};

/// A pipeline for `signal` to a collector that hangs on every request, with a small queue (512),
/// a small backlog budget (64 KiB of encoded batches) and quick batches, so the backlog and then
/// the queue fill soon and stay full. Keep the collector alive with it.
pub(crate) fn pipeline_to_a_hanging_collector(signal: Signal) -> (TestCollector, Pipeline) {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Hang(Duration::from_secs(60)));
    let batch = BatchConfig {
        max_queue_size: 512,
        max_export_batch_size: 128,
        schedule_delay: Duration::from_millis(10),
        ..BatchConfig::defaults(signal)
    };
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_batch(signal, batch)
        .with_backlog_max_bytes(64 * 1024)
        .with_poll_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    (collector, pipeline)
}
