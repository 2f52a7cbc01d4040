//! nanotel's own diagnostics: short lines on stderr about configuration and export problems.
//!
//! The exporter thread is the only frequent writer, and every message that could repeat per batch
//! goes through a [`Once`] so a failing collector produces one line, not one per export. The level
//! comes from `OTEL_LOG_LEVEL` (`error`, `warn` (default), `info`, `debug`, or `none`) in the
//! process environment, read once per process at init ([`check_level`]), so that a bad value is
//! reported on its own line even when nothing else is ever printed.
//!
//! A line is written only when stderr can take it at once ([`write_line`]): a stderr that is a
//! full pipe (its reader stalled: a log shipper, a terminal paused with Ctrl-S) must not stop the
//! exporter thread, which would stop every signal's export, nor an `init` on the program's thread.
//! Lines that could not be written are counted and said by the next one that can be.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// How loud nanotel is about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    None,
    Error,
    Warn,
    Info,
    Debug,
}

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let (level, problem) = parse_level(std::env::var("OTEL_LOG_LEVEL"));
        if let Some(problem) = problem {
            // Its own line, whatever the level: the level that would filter it is what is wrong.
            write_line(format_args!("nanotel: warning: {problem}"));
        }
        level
    })
}

/// Reads `OTEL_LOG_LEVEL` now, so that a bad value is reported at start-up even when nothing
/// else is ever printed. Called by every init; the value is read once per process.
pub(crate) fn check_level() {
    threshold();
}

/// The level `OTEL_LOG_LEVEL` asks for, and the line reporting a value that cannot be used.
fn parse_level(value: Result<String, std::env::VarError>) -> (Level, Option<String>) {
    let value = match value {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => return (Level::Warn, None),
        Err(std::env::VarError::NotUnicode(_)) => {
            return (Level::Warn, Some("OTEL_LOG_LEVEL is ignored: its value is not valid UTF-8; using warn".into()));
        }
    };
    let level = match value.trim().to_ascii_lowercase().as_str() {
        "none" | "off" => Level::None,
        "error" | "fatal" => Level::Error,
        "info" => Level::Info,
        "debug" | "trace" | "all" => Level::Debug,
        "" | "warn" | "warning" => Level::Warn,
        _ => {
            let problem = format!(
                "OTEL_LOG_LEVEL={:?} is ignored: expected one of none, error, warn, info, debug; using warn",
                value.trim()
            );
            return (Level::Warn, Some(problem));
        }
    };
    (level, None)
}

/// Reports problems found in the configuration as warnings, each distinct line once per process:
/// several parts read the same variable (`OTEL_ATTRIBUTE_COUNT_LIMIT` is the tracer's and the
/// logger's), and a program that sets up twice need not be told twice. Configuration time, and
/// the Prometheus view's problems (each scrape would say them again).
pub(crate) fn config_problems<'a>(problems: impl IntoIterator<Item = &'a String>) {
    static REPORTED: parking_lot::Mutex<BTreeSet<String>> = parking_lot::Mutex::new(BTreeSet::new());
    let mut reported = REPORTED.lock();
    for problem in problems {
        if reported.insert(problem.clone()) {
            warning!("{problem}");
        }
    }
}

/// `asked`, or `max` when it asks for more, which is reported once (as [`config_problems`]
/// reports) as `setting`'s: for a size set in code whose memory is made whole, so that a value
/// meant as "unlimited" (`usize::MAX`) lowers to one that can be allocated, where it would abort
/// the program or overflow a computed size.
pub(crate) fn at_most(asked: usize, max: usize, setting: &str) -> usize {
    if asked > max {
        config_problems([&format!("{setting} {asked} is lowered to {max}, the most nanotel takes")]);
    }
    asked.min(max)
}

/// Writes one diagnostic line when `level` is enabled.
pub(crate) fn log(level: Level, message: std::fmt::Arguments<'_>) {
    if level <= threshold() && level != Level::None {
        let tag = match level {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug | Level::None => "debug",
        };
        write_line(format_args!("nanotel: {tag}: {message}"));
    }
}

/// Lines not written because stderr could not take them at once, not yet said.
static UNWRITTEN: AtomicU64 = AtomicU64::new(0);

/// Writes `line` and a newline to stderr if it can take them now, else counts the line (the next
/// line written says how many were not). A failure is ignored: `eprintln!` panics when the write
/// fails (stderr a pipe whose reader has gone, a full disk), which on the exporter thread would end
/// exporting, and in a program built with `panic = "abort"` the program. The standard library's
/// stderr lock is not taken: a program thread holding it while its own write waits would hold
/// this one too.
fn write_line(line: std::fmt::Arguments<'_>) {
    use std::fmt::Write;
    let mut text = String::new();
    // Relaxed: a count for a message, ordering nothing; a line racing another may say it late.
    let unwritten = UNWRITTEN.load(Ordering::Relaxed);
    if unwritten > 0 {
        let _ = writeln!(text, "nanotel: warning: {unwritten} earlier line(s) not written: stderr was full");
    }
    let _ = writeln!(text, "{line}");
    match write_without_waiting(text.as_bytes()) {
        Written::All => {
            UNWRITTEN.fetch_sub(unwritten, Ordering::Relaxed);
        }
        Written::Nothing => {
            UNWRITTEN.fetch_add(1, Ordering::Relaxed);
        }
        Written::Nowhere => {}
    }
}

/// What became of a line.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    All,
    /// Stderr was full: nothing (or only a part) was written.
    Nothing,
    /// Stderr is closed, or a pipe nobody reads: nothing will ever read the line.
    Nowhere,
}

/// Writes `bytes` to stderr, each part only once `poll` says stderr has room for it, never
/// waiting for room.
#[cfg(target_os = "linux")]
fn write_without_waiting(mut bytes: &[u8]) -> Written {
    use crate::write_now::{write_now, WriteNow};
    while !bytes.is_empty() {
        match write_now(libc::STDERR_FILENO, bytes) {
            WriteNow::Wrote(written) => bytes = &bytes[written..],
            WriteNow::Full => return Written::Nothing,
            WriteNow::Closed => return Written::Nowhere,
        }
    }
    Written::All
}

/// Elsewhere the line is written through the standard library, which may wait for room.
#[cfg(not(target_os = "linux"))]
fn write_without_waiting(bytes: &[u8]) -> Written {
    use std::io::Write;
    match std::io::stderr().write_all(bytes) {
        Ok(()) => Written::All,
        Err(_) => Written::Nowhere,
    }
}

macro_rules! warning {
    ($($arg:tt)*) => { $crate::diag::log($crate::diag::Level::Warn, format_args!($($arg)*)) };
}
macro_rules! info {
    ($($arg:tt)*) => { $crate::diag::log($crate::diag::Level::Info, format_args!($($arg)*)) };
}
macro_rules! error {
    ($($arg:tt)*) => { $crate::diag::log($crate::diag::Level::Error, format_args!($($arg)*)) };
}
pub(crate) use {error, info, warning};

/// A latch that lets a message through the first time only.
#[derive(Default)]
pub(crate) struct Once(AtomicBool);

impl Once {
    /// True the first time it is called, false afterwards. Relaxed: it orders nothing else, and a
    /// rare duplicate line under a race would be harmless.
    pub(crate) fn first(&self) -> bool {
        !self.0.swap(true, Ordering::Relaxed)
    }
}

/// Runs `call`, the application's code on one of nanotel's threads (a processor, an observable
/// callback, a producer or source of its own on the exporter thread), catching a panic so that the
/// thread, which serves every signal, goes on; `report` says so on stderr, the first time only.
pub(crate) fn catch_panic<R>(once: &Once, call: impl FnOnce() -> R, report: impl FnOnce()) -> Option<R> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).ok();
    if result.is_none() && once.first() {
        report();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::env::VarError;

    #[test]
    fn a_caught_panic_is_reported_the_first_time_only() {
        let (once, reports) = (Once::default(), Cell::new(0));
        let report = || reports.set(reports.get() + 1);
        assert_eq!(catch_panic(&once, || 7, report), Some(7));
        assert_eq!(reports.get(), 0, "nothing to report");
        assert_eq!(catch_panic(&once, || panic!("a bug"), report), None::<u8>);
        assert_eq!(catch_panic(&once, || panic!("a bug"), report), None::<u8>);
        assert_eq!(reports.get(), 1);
        assert_eq!(catch_panic(&once, || 8, report), Some(8), "and it goes on");
    }

    #[test]
    fn levels_parse_and_bad_values_are_reported_once_each() {
        assert_eq!(parse_level(Err(VarError::NotPresent)), (Level::Warn, None));
        assert_eq!(parse_level(Ok(" Debug ".into())), (Level::Debug, None));
        assert_eq!(parse_level(Ok("off".into())), (Level::None, None));
        assert_eq!(parse_level(Ok(String::new())), (Level::Warn, None));
        let (level, problem) = parse_level(Ok(" Loud ".into()));
        assert_eq!(level, Level::Warn);
        assert_eq!(
            problem.as_deref(),
            Some("OTEL_LOG_LEVEL=\"Loud\" is ignored: expected one of none, error, warn, info, debug; using warn")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_reported() {
        use std::os::unix::ffi::OsStringExt;
        let (level, problem) = parse_level(Err(VarError::NotUnicode(std::ffi::OsString::from_vec(vec![0xff]))));
        assert_eq!(level, Level::Warn);
        assert!(problem.is_some_and(|p| p.starts_with("OTEL_LOG_LEVEL is ignored: its value is not valid UTF-8")));
    }
}
