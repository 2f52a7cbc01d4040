//! A pipeline for metric tests: to the loopback collector, uncompressed, without the pipeline's
//! own metrics (which would change the counts), and collecting only when flushed, so a test sees
//! exactly the collections it asks for.

use std::time::Duration;

use nanotel::export::{BatchConfig, Compression, Pipeline, PipelineBuilder};
use nanotel::Signal;
use nanotel_testing::TestCollector;

/// The builder of such a pipeline to `collector`, to adjust (the protocol, say) before `build`.
pub(crate) fn flush_only_metrics(collector: &TestCollector) -> PipelineBuilder {
    Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_compression(Compression::None)
        .with_self_telemetry(false)
        .with_batch(
            Signal::Metrics,
            BatchConfig { schedule_delay: Duration::from_secs(3600), ..BatchConfig::defaults(Signal::Metrics) },
        )
}
