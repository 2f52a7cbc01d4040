//! Pipelines still running when the process exits are flushed on the way out.
//!
//! `std::process::exit` runs no destructors, and a `Telemetry` kept in a `static` is never
//! dropped: what such a program recorded last, often the spans and log records of what made it
//! exit, was lost, and counted nowhere. The C library's `exit` does call the functions registered
//! with `atexit` (Rust's `process::exit` and a return from `main` both end there), and the other
//! threads, the exporter among them, run until those return: so a hook registered when the first
//! pipeline starts asks each pipeline still alive to flush (as `force_flush` does: collect the
//! metrics, drain the recording threads' buffers, send), waiting at most the pipeline's exit flush
//! timeout (`PipelineBuilder::with_exit_flush`, 5 s by default, zero for none). A flush that does
//! not finish says on stderr how many items the exit leaves unsent.
//!
//! What it cannot cover: `abort` (and a panic under `panic = "abort"`), `_exit`, a signal's
//! default action: none of them runs `atexit` functions. A child made by `fork` inherits the
//! hook and the list but not the exporter threads: its exit skips the pipelines of its parent. A pipeline dropped or shut down before
//! the exit is no longer listed, so a program that shuts down first waits for nothing here.

use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::pipeline::{request_flush, Shared};
use super::worker::Command;
use super::FlushError;

/// What the hook needs of one pipeline; the pipeline owns it, the list only refers to it.
pub(crate) struct ExitFlush {
    control: Sender<Command>,
    shared: Arc<Shared>,
    timeout: Duration,
    /// The process the pipeline's exporter thread runs in: a child made by `fork` has no such
    /// thread, and its exit would wait the whole timeout for an answer that cannot come.
    process: u32,
}

/// The pipelines to flush at exit. Dead entries are pruned as new ones come.
static LIVE: Mutex<Vec<Weak<ExitFlush>>> = Mutex::new(Vec::new());

impl ExitFlush {
    /// Lists a pipeline for a flush at exit, `timeout` long at most (`None` for zero: no flush).
    pub(crate) fn register(control: Sender<Command>, shared: Arc<Shared>, timeout: Duration) -> Option<Arc<ExitFlush>> {
        if timeout.is_zero() {
            return None;
        }
        install_hook();
        let entry = Arc::new(ExitFlush { control, shared, timeout, process: std::process::id() });
        let mut live = LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|weak| weak.strong_count() > 0);
        live.push(Arc::downgrade(&entry));
        Some(entry)
    }

    fn flush(&self) {
        let exiting = "the process is exiting with telemetry not shut down";
        match request_flush(&self.control, &self.shared, self.timeout) {
            Err(FlushError::Timeout { pending }) => crate::diag::warning!(
                "{exiting}: the flush at exit gave up after {:?}, {pending} item(s) not sent",
                self.timeout
            ),
            Err(FlushError::CircuitOpen { pending }) => crate::diag::warning!(
                "{exiting}: the collector cannot be reached (circuit breaker open), {pending} item(s) not sent"
            ),
            Ok(()) | Err(FlushError::Stopped) => {}
        }
    }
}

/// Registers [`flush_live_pipelines`] with `atexit`, once per process.
fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        #[cfg(target_os = "linux")]
        {
            extern "C" fn hook() {
                flush_live_pipelines();
            }
            // SAFETY: `hook` is a plain `extern "C" fn()` that lives as long as the program (it
            // is in the binary); `atexit` only stores it. A failure (no room for another
            // function) leaves pipelines unflushed at exit, as before.
            let _ = unsafe { libc::atexit(hook) };
        }
    });
}

/// Flushes each pipeline still alive and started by this process, one after another. Not on one
/// of nanotel's own threads: an exit called from the exporter thread (a callback, a processor)
/// would wait for that thread itself, and an exit from any other of them has no pipeline work to
/// wait for.
fn flush_live_pipelines() {
    if crate::own_threads::is_current() {
        return;
    }
    let process = std::process::id();
    let live: Vec<Arc<ExitFlush>> = {
        let live = LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.iter().filter_map(Weak::upgrade).filter(|pipeline| pipeline.process == process).collect()
    };
    for pipeline in live {
        pipeline.flush();
    }
}
