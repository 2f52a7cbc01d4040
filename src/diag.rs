//! nanotel's own diagnostics: short lines on stderr about configuration and export problems.
//!
//! The exporter thread is the only frequent writer, and every message that could repeat per batch
//! goes through a [`Once`] so a failing collector produces one line, not one per export. The level
//! comes from `OTEL_LOG_LEVEL` (`error`, `warn` (default), `info`, `debug`, or `none`).

use std::sync::atomic::{AtomicBool, Ordering};
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
        let value = std::env::var("OTEL_LOG_LEVEL").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Level::None,
            "error" | "fatal" => Level::Error,
            "info" => Level::Info,
            "debug" | "trace" | "all" => Level::Debug,
            "" | "warn" | "warning" => Level::Warn,
            other => {
                eprintln!("nanotel: warning: OTEL_LOG_LEVEL={other:?} is not a known level; using warn");
                Level::Warn
            }
        }
    })
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
        eprintln!("nanotel: {tag}: {message}");
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
