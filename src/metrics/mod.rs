//! Metrics: instruments, the lock-free series registry, aggregation and collection into OTLP.
//!
//! A [`MeterProvider`] hands out [`Meter`]s; a meter builds instruments: [`Counter`],
//! [`UpDownCounter`], [`Gauge`], [`Histogram`] (explicit or base-2 exponential buckets) and
//! observable ones ([`Observable`]) whose callbacks run at collection.
//!
//! # The hot path
//!
//! - `bind(attributes)` resolves a series once; recording through the bound handle touches only
//!   this thread's cache-line-padded stripe of the series: no hashing, no lock, no allocation.
//! - Recording with an attribute slice hashes it independently of order (a repeated key keeps
//!   its last value) and finds the series in a fixed-capacity lock-free table: no allocation once
//!   the series exists. The usual case, the same attributes in the same order as when the series
//!   was created, is checked pair by pair without a scan for repeated keys. Before that, each
//!   thread remembers the series it last resolved for a slice at a given address (a call site's
//!   attributes usually sit at the same place every time): when the slice still holds the pairs
//!   it held then (static strings compared by address, scalars by value), no hashing or probing
//!   is done at all.
//! - Each series has one cell per stripe. A thread claims a stripe slot of its own the first time
//!   it records and gives it back when it exits, so threads recording to one series never share a
//!   cache line, and counters and up-down counters of integers add with a plain load and store
//!   (their owner is their only writer) instead of a locked read-modify-write. Threads beyond the
//!   number of stripes record in shared mode: atomic adds on a shared cell. Collection sums the
//!   stripes.
//! - Each instrument keeps at most `cardinality_limit` series (default 2000, or its view's), the
//!   overflow series `otel.metric.overflow=true` included, which takes every measurement past the
//!   limit.
//! - [`View`]s are applied when an instrument is built, so a bound handle records as without
//!   them. A view's attribute filter is a mask over the caller's pairs while a slice is resolved
//!   (no copy); the per-thread cache remembers the whole slice, so a remembered one costs what it
//!   costs unfiltered. A dropped stream's records return after one branch.
//! - Float sums and gauges record with atomic operations only (on the thread's stripe, so
//!   uncontended). A histogram record updates several cells (a bucket, the sum, the extremes; an
//!   exponential rescale rewrites every bucket), so histograms give each stripe a holder flag
//!   instead: a record claims the thread's stripe with one compare-and-swap, updates it with plain
//!   stores and releases it; when that stripe is held it moves on to another, and when every
//!   stripe is held (their holders preempted mid-record) to an extra stripe, made once. A record
//!   never waits and never drops a value; see the protocol in `claimed`'s source.
//! - Exemplars: under the provider's [`ExemplarFilter`] (`OTEL_METRICS_EXEMPLAR_FILTER`; by default
//!   measurements made inside a sampled span), histograms and sums also keep sample measurements
//!   with their time and the current span's trace and span id, in storage made with the series:
//!   outside a sampled span asking costs one thread-local load; inside one, a clock read and a few
//!   plain stores into the stripe the record already holds (a sum claims its stripe's reservoir).
//!   See `exemplar`'s source for the reservoirs.
//! - Recording never allocates once its series exists, with two exceptions: an attribute slice of
//!   more than 64 pairs is resolved through a heap copy, and a histogram record that finds every
//!   stripe of its series held makes an extra stripe (a series keeps at most as many extras as the
//!   most records ever in progress on it at once beyond its stripes). An exponential histogram's
//!   rescaling works in place.
//!
//! # Collection
//!
//! [`MeterProvider::attach`] registers the provider with an export [`Pipeline`]; its exporter
//! thread collects at every `OTEL_METRIC_EXPORT_INTERVAL`, `force_flush` and shutdown.
//! Temporality follows `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (see
//! [`TemporalityPreference`]). Integer sums stay cumulative in their cells, and a delta is the
//! total minus the total last reported (exact in wrapping integer arithmetic); float sums swap
//! each cell with zero atomically; histograms are read and zeroed stripe by stripe, each held
//! meanwhile, so a record lands whole (bucket, sum, extremes) in one window. Either way no record
//! racing with a collection is lost or counted twice. [`MeterProvider::snapshot`],
//! [`to_json`](MeterProvider::to_json) and [`prometheus::render`](crate::prometheus::render) look
//! at the current values in-process.
//!
//! ```
//! use std::time::Duration;
//! use nanotel::attributes::KeyValue;
//! use nanotel::export::{ExporterKind, Pipeline};
//! use nanotel::metrics::MeterProvider;
//! use nanotel::Signal;
//!
//! let pipeline = Pipeline::builder().without_env().with_exporter(Signal::Metrics, ExporterKind::None).build().unwrap();
//! let provider = MeterProvider::builder().without_env().build();
//! provider.attach(&pipeline);
//! let orders = provider.meter("gateway").u64_counter("orders").build().unwrap();
//! let xnas = orders.bind(&[KeyValue::new("venue", "XNAS")]);
//! xnas.add(1);
//! pipeline.shutdown(Duration::from_secs(1));
//! ```
//!
//! [`Pipeline`]: crate::export::Pipeline

mod attribute_set;
mod builder;
mod claimed;
mod collect;
mod collection_lock;
mod descriptor;
mod exemplar;
pub mod exponential;
mod exponential_cells;
mod exponential_table;
mod gauge;
mod histogram;
mod ignored_values;
mod json;
mod listing;
mod meter;
mod number;
mod observable;
mod overflow_report;
mod provider;
#[cfg(feature = "metrics")]
pub mod recorder;
mod series_cache;
mod series_map;
mod static_counter;
mod static_histogram;
mod static_reporting;
mod stripe;
mod sum;
mod sync;
mod view;

pub use builder::{InstrumentBuilder, ObservableBuilder};
#[cfg(feature = "prometheus")]
pub(crate) use collection_lock::Busy;
pub use descriptor::{InstrumentError, InstrumentKind, Temporality, TemporalityPreference};
pub use exemplar::{ExemplarFilter, FILTERED_LEFT_OUT_KEY};
pub(crate) use histogram::bucket_index;
pub use histogram::DEFAULT_BOUNDARIES;
pub use ignored_values::ignored_values;
pub use meter::Meter;
pub use number::Number;
pub use observable::{Observable, Observer};
pub use provider::{
    MeterProvider, MeterProviderBuilder, MeterProviderProducer, DEFAULT_CARDINALITY_LIMIT,
    DEFAULT_DELTA_IDLE_COLLECTIONS, MAX_CARDINALITY_LIMIT,
};
pub(crate) use provider::{MetricsEnv, WeakMeterProvider};
#[cfg(feature = "metrics")]
pub use recorder::MetricsRecorder;
pub use series_map::{Forget, OVERFLOW_KEY};
pub use static_counter::StaticCounter;
pub use static_histogram::{Boundaries, DefaultBoundaries, StaticHistogram};
pub use sync::{
    BoundCounter, BoundGauge, BoundHistogram, BoundUpDownCounter, Counter, Gauge, Histogram, UpDownCounter,
};
pub use view::{Aggregation, HistogramAggregation, View};
