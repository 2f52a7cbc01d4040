//! Context propagation across process boundaries: W3C Trace Context, W3C Baggage and B3.
//!
//! Propagators write their headers into an [`Injector`] and read them from an [`Extractor`];
//! both are implemented for `HashMap<String, String>` and [`http::HeaderMap`]. Bad input is never
//! an error the caller must handle: an unusable `traceparent` extracts as `None` (start a new
//! trace), a bad `tracestate` as an empty one, and malformed baggage members are skipped.
//!
//! ```
//! use http::HeaderMap;
//! use nanotel::propagation::{BaggagePropagator, TraceContextPropagator};
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! incoming.insert("baggage", "userId=alice".parse().unwrap());
//!
//! let parent = TraceContextPropagator.extract(&incoming).expect("a valid traceparent");
//! let baggage = BaggagePropagator.extract(&incoming);
//! assert!(parent.is_sampled());
//! assert_eq!(baggage.get("userId"), Some("alice"));
//!
//! let mut outgoing = HeaderMap::new();
//! TraceContextPropagator.inject(&parent, &mut outgoing);
//! BaggagePropagator.inject(&baggage, &mut outgoing);
//! assert_eq!(outgoing["baggage"], "userId=alice");
//! ```
//!
//! [`CompositePropagator`] applies several in order: the one `OTEL_PROPAGATORS` chooses is
//! [`Telemetry::propagator`](crate::Telemetry::propagator).

pub mod b3;
mod baggage;
mod baggage_propagator;
mod carrier;
mod composite;
mod percent;
mod trace_context;
pub mod traceparent;

pub use b3::B3Propagator;
pub use baggage::{Baggage, BaggageEntry, BaggageError};
pub use baggage_propagator::BaggagePropagator;
pub use carrier::{Extractor, Injector};
pub use composite::{CompositePropagator, Propagator};
pub use trace_context::TraceContextPropagator;
pub use traceparent::TraceparentError;

use crate::header_text::trim_ows;
