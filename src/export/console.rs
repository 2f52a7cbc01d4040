//! The console exporter: a signal whose exporter is `console` has each batch written, as one line
//! of OTLP/JSON, to the pipeline's console output (standard output unless set in code), on the
//! exporter thread, instead of being sent.
//!
//! A line is written as far as the output takes it now, and the rest at the exporter's next
//! passes: standard output is written only when it has room (`poll`), so a reader that stalls (a
//! container's log agent, a terminal paused with Ctrl-S) never holds the exporter thread, and the
//! other signals' export with it. Meanwhile the batches wait in the lane's backlog, within a
//! backlog budget the console lanes share apart from the sending lanes' (so a stalled output
//! never leaves the sending lanes without room); past it the queue fills and what comes is
//! dropped and counted (`queue_full`), as when a collector is slow. A line's items count as exported once all of it is written.

use std::io::{ErrorKind, Write};

use super::lane::Batch;
use super::pipeline::ConsoleOutput;

/// What became of the line of the batch being written.
pub(super) enum Progress {
    /// All of it is written (and flushed).
    Written,
    /// The output had no more room: the rest waits.
    Waiting,
    /// The output failed: the line cannot be written.
    Failed,
}

/// Writes what the output takes now of `batch`'s line (its body and a newline), from `*written`
/// bytes on, and moves `*written` past it.
pub(super) fn write_line(out: &mut ConsoleOutput, batch: &Batch, written: &mut usize) -> Progress {
    let body = &batch.body.body;
    loop {
        let rest = match body.get(*written..) {
            Some(rest) if !rest.is_empty() => rest,
            _ if *written == body.len() => b"\n".as_slice(),
            _ => break,
        };
        match out.write(rest) {
            Ok(0) => return Progress::Failed,
            Ok(n) => *written += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
            Err(_) => return Progress::Failed,
        }
    }
    match out.flush() {
        Ok(()) => Progress::Written,
        Err(e) if e.kind() == ErrorKind::WouldBlock => Progress::Written,
        Err(_) => Progress::Failed,
    }
}

/// Standard output written only when it has room: a write that would wait is
/// [`ErrorKind::WouldBlock`] instead. It writes the descriptor itself, not through the standard
/// library's `Stdout` (whose lock a program thread may hold while its own write waits).
#[cfg(target_os = "linux")]
struct StdoutWithoutWaiting;

#[cfg(target_os = "linux")]
impl Write for StdoutWithoutWaiting {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        use crate::write_now::{write_now, WriteNow};
        match write_now(libc::STDOUT_FILENO, bytes) {
            WriteNow::Wrote(n) => Ok(n),
            WriteNow::Full => Err(ErrorKind::WouldBlock.into()),
            WriteNow::Closed => Err(ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The console output when none is set: standard output, without waiting for room (elsewhere
/// than Linux, through the standard library, which may wait).
pub(super) fn standard_output() -> ConsoleOutput {
    #[cfg(target_os = "linux")]
    return Box::new(StdoutWithoutWaiting);
    #[cfg(not(target_os = "linux"))]
    return Box::new(std::io::stdout());
}
