//! What spans and log records share on their way from a recording thread to the exporter
//! thread: the attributes a record holds in place ([`attributes`]), the bounded single-producer
//! ring each thread writes into ([`ring`]), the per-thread sides of those rings and their drain
//! ([`thread_rings`]), the numbered instrumentation scopes a record names ([`scopes`]), and the
//! writing of a buffer's pages at once for programs that ask for it ([`backing`]).
//!
//! `trace/` (the span recorder) and `logs/` (the log buffers) each own rings of their own records
//! through [`thread_rings::RingOwner`]; neither reaches into the other.
//!
//! Nothing here imports from above: the [`Scope`](scopes::Scope) a record names is defined here
//! (`export` re-exports it), and the pipeline's counter of items offered after shutdown reaches
//! the rings as a [`thread_rings::LateCounter`].

pub(crate) mod attributes;
pub(crate) mod backing;
pub(crate) mod ring;
pub(crate) mod scopes;
pub(crate) mod thread_rings;
