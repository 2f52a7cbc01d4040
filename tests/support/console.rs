//! A pipeline that writes one signal to a discarded console and polls its buffers every
//! millisecond: the exporter thread drains as often as it can, with no network in the way.

use std::time::Duration;

use nanotel::export::{ExporterKind, Pipeline};
use nanotel::Signal;

/// A pipeline exporting `signal` to the console exporter, into `std::io::sink()`.
pub(crate) fn pipeline_to_a_discarded_console(signal: Signal) -> Pipeline {
    Pipeline::builder()
        .without_env()
        // Nothing listens on the default metrics endpoint: the pipeline's own metrics would fail
        // there and open the breaker a test's flush reports on.
        .with_self_telemetry(false)
        .with_exporter(signal, ExporterKind::Console)
        .with_console_output(std::io::sink())
        .with_poll_interval(Duration::from_millis(1))
        .build()
        .unwrap()
}
