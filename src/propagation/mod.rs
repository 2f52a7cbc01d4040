//! Context propagation across process boundaries: W3C Trace Context and W3C Baggage.

mod trace_state;

pub use trace_state::TraceState;
