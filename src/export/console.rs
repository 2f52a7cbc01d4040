//! The console exporter: a signal whose exporter is `console` has each batch written, as one line
//! of OTLP/JSON, to the pipeline's console output (standard output unless set in code), on the
//! exporter thread, instead of being sent.

use std::io::Write;

use super::lane::Batch;
use super::pipeline::ConsoleOutput;

/// Writes `batch` as one line and flushes it.
pub(super) fn write_batch(out: &mut ConsoleOutput, batch: &Batch) -> std::io::Result<()> {
    out.write_all(&batch.body.body)?;
    out.write_all(b"\n")?;
    out.flush()
}
