//! nanotel: OpenTelemetry metrics, traces and logs at nanosecond cost on the hot path, exported as
//! standard OTLP by a dedicated thread.

#![warn(missing_docs)]

pub mod attributes;
pub mod clock;
mod config;
mod diag;
pub mod export;
mod hex;
pub mod logs;
pub mod metrics;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod propagation;
pub mod proto;
pub mod resource;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;

pub use export::Signal;
