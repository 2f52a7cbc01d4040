//! The recorder for the `metrics` crate (feature `metrics`): `counter!`, `gauge!` and
//! `histogram!` record into nanotel instruments of one meter.
//!
//! # The protocol
//!
//! - A metric name is one instrument: a counter is a `u64` [`Counter`], a gauge an `f64`
//!   [`Gauge`] (an OTLP Gauge point), a histogram an `f64` [`Histogram`] with explicit buckets at
//!   the specification's [`DEFAULT_BOUNDARIES`].
//! - A key (name and labels) is one series, bound once: the first `register_*` of a key copies its
//!   labels into attributes (string attributes, owned copies), binds the series and keeps the
//!   handle in a map keyed by the key. Every later `register_*` of an equal key (labels in any
//!   order) finds it by the hash the key already carries (computed at compile time for a macro's
//!   static labels), under a read lock, and returns the same handle: no allocation.
//! - A handle records straight into its bound series: no hash, no lookup, no allocation, so the
//!   handle a macro returns is best held (`let c = counter!(..)`).
//! - `describe_*` before first use builds the instrument with that unit and description; after
//!   first use, the instrument exports them from the next collection on. The latest description
//!   wins either way. Units map to UCUM codes (`Seconds` to `s`, `Bytes` to `By`, `Count` to `1`).
//! - A counter's `absolute(v)` raises it to `v`: the handle keeps the highest `v` seen and adds
//!   what `v` goes beyond it, so the exported sum stays monotonic (a cumulative point reads `v`
//!   when only `absolute` is used; a delta point, the rise in the window). Mixed with
//!   `increment`, the sum is the increments plus the highest absolute value.
//! - A gauge's `increment` and `decrement` add to its value (0 before any) with one
//!   compare-and-swap loop, atomic with `set`.
//! - A name the specification refuses (such as `a:b`) is reported once on stderr and its handles
//!   are no-ops. The `Metadata` (level, target, module) is ignored: every key records.
//! - Past the instrument's cardinality limit, new keys record into its overflow series. The map
//!   lets go of handles nothing else holds, at most every 100 ms, when their series was idle at
//!   the last exporting collection (so that it can be evicted) or is the overflow series and the
//!   instrument has room again (so that the key gets a series of its own); never of a counter
//!   raised by `absolute`, whose handle keeps the highest value. A key let go is bound again on
//!   its next use (see `registry`).
//!
//! [`Counter`]: super::Counter
//! [`Gauge`]: super::Gauge
//! [`Histogram`]: super::Histogram
//! [`DEFAULT_BOUNDARIES`]: super::DEFAULT_BOUNDARIES

mod handles;
mod kinds;
mod registry;
mod units;

use metrics::{Key, KeyName, Metadata, SetRecorderError, SharedString, Unit};

use super::meter::Meter;
use kinds::{CounterKind, GaugeKind, HistogramKind};
use registry::Registry;

/// A [`metrics::Recorder`] recording into instruments of one [`Meter`] (whose scope names where
/// the metrics come from). See the [module documentation](self) for the mapping.
///
/// ```
/// use nanotel::metrics::{MeterProvider, MetricsRecorder};
///
/// let provider = MeterProvider::builder().without_env().build();
/// let recorder = MetricsRecorder::new(provider.meter("metrics"));
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_counter!("orders", metrics::Unit::Count, "Orders sent");
///     let xnas = metrics::counter!("orders", "venue" => "XNAS");
///     xnas.increment(2); // no lookup: the bound series
///     metrics::gauge!("inventory").decrement(3.0);
/// });
/// let text = nanotel::prometheus::render(&provider);
/// assert!(text.contains(r#"orders_total{venue="XNAS",otel_scope_name="metrics"} 2"#), "{text}");
/// assert!(text.contains(r#"inventory{otel_scope_name="metrics"} -3"#), "{text}");
/// ```
pub struct MetricsRecorder {
    meter: Meter,
    /// Boxed: a recorder refused by `install` comes back in the error, which stays small.
    registries: Box<Registries>,
}

/// The maps of each kind.
struct Registries {
    counters: Registry<CounterKind>,
    gauges: Registry<GaugeKind>,
    histograms: Registry<HistogramKind>,
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder").field("meter", &self.meter).finish_non_exhaustive()
    }
}

impl MetricsRecorder {
    /// A recorder building its instruments with `meter`.
    #[must_use]
    pub fn new(meter: Meter) -> MetricsRecorder {
        let registries = Registries { counters: Registry::new(), gauges: Registry::new(), histograms: Registry::new() };
        MetricsRecorder { meter, registries: Box::new(registries) }
    }

    /// Makes this recorder the process's `metrics` recorder. Fails, handing the recorder back,
    /// when one was already set.
    ///
    /// # Errors
    ///
    /// [`SetRecorderError`], handing this recorder back, when a `metrics` recorder was already set.
    pub fn install(self) -> Result<(), SetRecorderError<MetricsRecorder>> {
        metrics::set_global_recorder(self)
    }
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registries.counters.describe(&self.meter, key.as_str(), units::ucum(unit), description.into_owned());
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registries.gauges.describe(&self.meter, key.as_str(), units::ucum(unit), description.into_owned());
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registries.histograms.describe(&self.meter, key.as_str(), units::ucum(unit), description.into_owned());
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        self.registries
            .counters
            .handle(&self.meter, key)
            .map_or_else(metrics::Counter::noop, metrics::Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        self.registries.gauges.handle(&self.meter, key).map_or_else(metrics::Gauge::noop, metrics::Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        self.registries
            .histograms
            .handle(&self.meter, key)
            .map_or_else(metrics::Histogram::noop, metrics::Histogram::from_arc)
    }
}
