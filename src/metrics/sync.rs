//! The synchronous instruments: counters, up-down counters, gauges and histograms, their bound
//! handles, and how each is collected.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::attributes::KeyValue;
use crate::proto::metrics::v1::exponential_histogram_data_point::Buckets as OtlpBuckets;
use crate::proto::metrics::v1::{
    metric, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge as OtlpGauge, Histogram as OtlpHistogram,
    HistogramDataPoint, Metric, NumberDataPoint, Sum,
};

use super::attribute_set::AttributeSet;
use super::collect::{attributes, metric, Collect, CollectContext};
use super::descriptor::{Descriptor, Temporality};
use super::exemplar::{self, NoneRemoved, Removed, Removes, Restart};
use super::exponential::Buckets;
use super::exponential_cells::{ExpoCells, ExpoShortcut};
use super::gauge::GaugeCell;
use super::histogram::{HistogramCells, HistogramShortcut};
use super::ignored_values::ignore;
use super::number::Number;
use super::overflow_report::OverflowReport;
#[cfg(feature = "metrics")]
use super::series_map::Standing;
use super::series_map::{unix_nanos, Forget, Pass, Reclaim, Series, SeriesMap};
use super::stripe;
use super::sum::{SumCells, SumShortcut};
use super::view::Route;

/// Cells that take a measurement, with the attributes its view removed (for an exemplar).
pub(crate) trait Measure<V> {
    fn measure<'r>(&self, value: V, removed: impl Removes<'r>);
}

/// What a bound handle holds: its series, and the pairs its view removed from those bound (for
/// its exemplars; `None` when the instrument has no attribute filter).
type Bound<A> = (Arc<Series<A>>, Option<Arc<[KeyValue]>>);

/// The state of one synchronous instrument: its series, and where its delta window began.
pub(crate) struct SyncInstrument<A, N> {
    pub descriptor: Descriptor,
    pub map: SeriesMap<A>,
    /// How records reach `map`: not at all for a disabled provider or a dropped stream (a record
    /// returns at once), through its view's attribute filter, or directly.
    route: Route,
    /// Unix nanoseconds of the last exporting collection (the instrument's creation before it).
    window_start: AtomicU64,
    /// The cardinality limit, for the overflow diagnostic.
    limit: usize,
    overflow_report: OverflowReport,
    /// A unit and description given after the instrument was built (the `metrics` bridge's
    /// `describe_*` may come after first use): from the next collection they replace the built
    /// ones.
    #[cfg(feature = "metrics")]
    described: parking_lot::Mutex<Option<(String, String)>>,
    _number: PhantomData<fn(N)>,
}

impl<A: Send + Sync + 'static, N: Number> SyncInstrument<A, N> {
    pub(crate) fn new(
        descriptor: Descriptor,
        limit: usize,
        reclaim: Option<Reclaim<A>>,
        route: Route,
        make: impl Fn() -> A + Send + Sync + 'static,
    ) -> Self {
        SyncInstrument {
            descriptor,
            map: SeriesMap::with_reclaim(limit, reclaim, make),
            route,
            window_start: AtomicU64::new(unix_nanos()),
            limit,
            overflow_report: OverflowReport::default(),
            #[cfg(feature = "metrics")]
            described: parking_lot::Mutex::new(None),
            _number: PhantomData,
        }
    }

    /// Records `value` into the series of `attributes`, by the instrument's route, with the
    /// attributes the route removed (for an exemplar): none, as a type, on a direct route.
    /// Checking the route costs what checking a flag does; only a filtered route takes a call.
    #[inline]
    pub(crate) fn record<V>(&self, attributes: &[KeyValue], value: V)
    where
        A: Measure<V>,
    {
        match &self.route {
            Route::Direct => self.map.record(attributes, value, |cells, value| cells.measure(value, NoneRemoved)),
            Route::Off => {}
            Route::Filtered(_) => self.record_filtered(attributes, value),
        }
    }

    #[inline(never)]
    fn record_filtered<V>(&self, attributes: &[KeyValue], value: V)
    where
        A: Measure<V>,
    {
        if let Route::Filtered(filter) = &self.route {
            let removed = Removed::Slice(attributes, filter);
            self.map.record_kept(
                attributes,
                |key| filter.keeps(key),
                value,
                |cells, value| cells.measure(value, removed),
            );
        }
    }

    /// The series of `attributes` for a bound handle (its view's filter applied) and the pairs
    /// the filter removed (if any, for its exemplars), or `None` when the instrument records
    /// nothing.
    fn bind(&self, attributes: &[KeyValue]) -> Option<Bound<A>> {
        match &self.route {
            Route::Direct => Some((self.map.bind(attributes), None)),
            Route::Off => None,
            Route::Filtered(filter) => Some((
                self.map.bind_kept(attributes, |key| filter.keeps(key)),
                Some(exemplar::removed_pairs(attributes, filter)),
            )),
        }
    }

    /// Removes the series of `attributes` (after its view's filter), unless a bound handle holds
    /// it (see [`Forget`]).
    fn forget(&self, attributes: &[KeyValue]) -> Forget {
        match &self.route {
            Route::Direct => self.map.forget(&AttributeSet::from_long(attributes)),
            Route::Off => Forget::Absent,
            Route::Filtered(filter) => {
                let kept: Vec<KeyValue> =
                    attributes.iter().filter(|kv| filter.keeps(kv.key.as_str())).cloned().collect();
                self.map.forget(&AttributeSet::from_long(&kept))
            }
        }
    }

    /// What a collection does with the table: `reset` says whether its readings start a new
    /// delta window.
    fn pass(cx: &CollectContext, reset: bool) -> Pass {
        if cx.reset {
            Pass::Export { delta: reset }
        } else {
            Pass::Look
        }
    }

    /// After an exporting collection: the overflow diagnostic, when one is due.
    fn report_overflow(&self, cx: &CollectContext) {
        if !cx.reset {
            return;
        }
        let total = self.map.overflowed();
        if let Some(line) =
            self.overflow_report.due(&self.descriptor.name, self.limit, total, std::time::Instant::now())
        {
            crate::diag::warning!("{line}");
        }
    }

    /// Exports `unit` and `description` from the next collection on.
    #[cfg(feature = "metrics")]
    pub(crate) fn describe(&self, unit: String, description: String) {
        *self.described.lock() = Some((unit, description));
    }

    /// The instrument's metric holding `data`, under its latest unit and description.
    fn metric(&self, data: metric::Data) -> Metric {
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut metric = metric(&self.descriptor, data);
        #[cfg(feature = "metrics")]
        if let Some((unit, description)) = &*self.described.lock() {
            metric.unit.clone_from(unit);
            metric.description.clone_from(description);
        }
        metric
    }

    /// The temporality, and the window this collection reads: the start of a delta window,
    /// whether it resets cells, whether the overflow series was ever used.
    fn window<'a>(&self, cx: &'a CollectContext) -> (Temporality, Window<'a>) {
        let temporality = cx.preference.temporality(self.descriptor.kind);
        // Relaxed: only collections (serialized by the provider) touch it.
        let start = self.window_start.load(Ordering::Relaxed);
        let reset = cx.reset && temporality == Temporality::Delta;
        if reset {
            self.window_start.store(cx.now, Ordering::Relaxed);
        }
        let delta = temporality == Temporality::Delta;
        (temporality, Window { cx, reset, delta, start, overflow_used: self.map.overflowed() > 0 })
    }
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $cells:ty) => {
        $(#[$doc])*
        pub struct $name<N: Number> {
            pub(crate) inner: Arc<SyncInstrument<$cells, N>>,
        }

        impl<N: Number> Clone for $name<N> {
            fn clone(&self) -> Self {
                $name { inner: self.inner.clone() }
            }
        }

        impl<N: Number> std::fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.inner.descriptor.name).finish()
            }
        }

        impl<N: Number> $name<N> {
            /// Removes the series of `attributes` (in any order; a view's attribute filter
            /// applies), unless a bound handle holds it. Works on instruments built
            /// [`with_forgettable`](super::InstrumentBuilder::with_forgettable), and on those that
            /// evict
            /// idle delta series; others answer [`Forget::NotForgettable`].
            pub fn forget(&self, attributes: &[KeyValue]) -> Forget {
                self.inner.forget(attributes)
            }

            /// How many measurements (and binds) went to the overflow series because the
            /// instrument's cardinality limit was reached, since it was built. (A bound handle
            /// to the overflow series counts once, when bound.)
            pub fn overflowed(&self) -> u64 {
                self.inner.map.overflowed()
            }
        }
    };
}

macro_rules! bound {
    ($(#[$doc:meta])* $name:ident, $cells:ty) => {
        $(#[$doc])*
        pub struct $name<N: Number> {
            /// `None` for an instrument of a disabled provider: recording is one branch. With
            /// the series, the pairs its view removed from those bound, for its exemplars.
            series: Option<Bound<$cells>>,
            _number: PhantomData<fn(N)>,
        }

        impl<N: Number> Clone for $name<N> {
            fn clone(&self) -> Self {
                $name { series: self.series.clone(), _number: PhantomData }
            }
        }

        impl<N: Number> $name<N> {
            /// See `Series::standing` (live without a series: nothing to let go).
            #[cfg(feature = "metrics")]
            pub(crate) fn standing(&self) -> Standing {
                self.series.as_ref().map_or(Standing::Live, |(series, _)| series.standing())
            }
        }

        impl<N: Number> std::fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let attributes = self.series.as_ref().map(|(series, _)| series.attributes.attributes());
                f.debug_struct(stringify!($name)).field("attributes", &attributes).finish()
            }
        }
    };
}

/// A bound handle of a sum: its series, and the shortcut to the series' cells its adds take.
macro_rules! bound_sum {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<N: Number> {
            /// `None` for an instrument of a disabled provider: recording is one branch. With
            /// the series, the shortcut to its cells and the pairs its view removed from those
            /// bound (for its exemplars).
            series: Option<(Arc<Series<SumKind>>, SumShortcut, Option<Arc<[KeyValue]>>)>,
            /// The stripe its adds are predicted to land on (see [`stripe::HomeSlot`]).
            home: stripe::HomeSlot,
            _number: PhantomData<fn(N)>,
        }

        impl<N: Number> $name<N> {
            fn of(series: Option<Bound<SumKind>>) -> Self {
                let series = series.map(|(series, removed)| {
                    let shortcut = series.cells.shortcut();
                    (series, shortcut, removed)
                });
                $name { series, home: stripe::HomeSlot::new(), _number: PhantomData }
            }

            #[inline(always)]
            fn add_checked(&self, value: N, valid: bool) {
                if !valid {
                    return ignore();
                }
                if let Some((series, shortcut, removed)) = &self.series {
                    // SAFETY: the shortcut was taken from these cells (`of`), which `series`
                    // keeps alive; `home` is this handle's own (a clone gets a new one), so it
                    // only ever meets this shortcut.
                    unsafe { series.cells.add_via(*shortcut, &self.home, value, removed) }
                }
            }
        }

        impl<N: Number> Clone for $name<N> {
            /// A handle of the same series. A handle learns where its adds land from the first
            /// thread that adds through it, and a clone learns afresh: a thread given a clone of
            /// its own adds by the fastest path (see the README's benchmarks).
            fn clone(&self) -> Self {
                // A fresh prediction (see `stripe::HomeSlot`).
                $name { series: self.series.clone(), home: stripe::HomeSlot::new(), _number: PhantomData }
            }
        }

        impl<N: Number> std::fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let attributes = self.series.as_ref().map(|(series, _, _)| series.attributes.attributes());
                f.debug_struct(stringify!($name)).field("attributes", &attributes).finish()
            }
        }
    };
}

handle!(
    /// A monotonic sum (`u64` or `f64`). Cheap to clone; every clone records into the same series.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::metrics::MeterProvider;
    ///
    /// let provider = MeterProvider::builder().without_env().build();
    /// let orders = provider.meter("gateway").u64_counter("orders").with_unit("{order}").build().unwrap();
    /// orders.add(1, &[KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy")]);
    /// let xnas_buy = orders.bind(&[KeyValue::new("side", "buy"), KeyValue::new("venue", "XNAS")]);
    /// xnas_buy.add(2); // a load and a store on this thread's own stripe
    /// assert!(nanotel::prometheus::render(&provider).contains(r#"orders_total{side="buy",venue="XNAS",otel_scope_name="gateway"} 3"#));
    /// ```
    Counter,
    SumKind
);
bound_sum!(
    /// A [`Counter`] series resolved once. An add of an integer is a relaxed load and store on
    /// this thread's own stripe of the series (one atomic add when the thread has none, or for
    /// `f64`): no hashing, no lock-prefixed instruction. (A counter that a view aggregates as a
    /// histogram records each add in its histogram instead.)
    BoundCounter
);

impl<N: Number> Counter<N> {
    /// Adds `value` to the series of `attributes` (in any order; a repeated key keeps its last
    /// value). Negative, NaN and infinite increments are ignored.
    #[inline]
    pub fn add(&self, value: N, attributes: &[KeyValue]) {
        if value.is_increment() {
            self.inner.record(attributes, value);
        } else {
            ignore();
        }
    }

    /// The series of `attributes`, resolved once for repeated adds.
    #[must_use]
    pub fn bind(&self, attributes: &[KeyValue]) -> BoundCounter<N> {
        BoundCounter::of(self.inner.bind(attributes))
    }
}

impl<N: Number> BoundCounter<N> {
    /// Adds `value`; negative, NaN and infinite increments are ignored.
    #[inline]
    pub fn add(&self, value: N) {
        self.add_checked(value, value.is_increment());
    }
}

handle!(
    /// A sum of either sign (`i64` or `f64`), always reported cumulatively.
    ///
    /// ```
    /// use nanotel::metrics::MeterProvider;
    ///
    /// let provider = MeterProvider::builder().without_env().build();
    /// let open = provider.meter("gateway").i64_up_down_counter("orders.open").build().unwrap();
    /// open.add(3, &[]);
    /// open.bind(&[]).add(-1);
    /// assert!(nanotel::prometheus::render(&provider).contains("orders_open{otel_scope_name=\"gateway\"} 2"));
    /// ```
    UpDownCounter,
    SumKind
);
bound_sum!(
    /// An [`UpDownCounter`] series resolved once.
    BoundUpDownCounter
);

impl<N: Number> UpDownCounter<N> {
    /// Adds `value` (of either sign) to the series of `attributes`; NaN and infinities are
    /// ignored.
    #[inline]
    pub fn add(&self, value: N, attributes: &[KeyValue]) {
        if value.is_finite() {
            self.inner.record(attributes, value);
        } else {
            ignore();
        }
    }

    /// The series of `attributes`, resolved once.
    #[must_use]
    pub fn bind(&self, attributes: &[KeyValue]) -> BoundUpDownCounter<N> {
        BoundUpDownCounter::of(self.inner.bind(attributes))
    }
}

impl<N: Number> BoundUpDownCounter<N> {
    /// Adds `value`; NaN and infinities are ignored.
    #[inline]
    pub fn add(&self, value: N) {
        self.add_checked(value, value.is_finite());
    }
}

handle!(
    /// The last value set (`i64` or `f64`), per series.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::metrics::MeterProvider;
    ///
    /// let provider = MeterProvider::builder().without_env().build();
    /// let spread = provider.meter("md").f64_gauge("quote.spread").build().unwrap();
    /// spread.record(0.02, &[KeyValue::new("symbol", "AAPL")]);
    /// spread.record(0.01, &[KeyValue::new("symbol", "AAPL")]);
    /// assert!(nanotel::prometheus::render(&provider).contains(r#"quote_spread{symbol="AAPL",otel_scope_name="md"} 0.01"#));
    /// ```
    Gauge,
    GaugeKind
);
bound!(
    /// A [`Gauge`] series resolved once: each record is one relaxed store (a gauge that a view
    /// aggregates as a histogram records each value in its histogram instead).
    BoundGauge,
    GaugeKind
);

impl<N: Number> Gauge<N> {
    /// Sets the series of `attributes` to `value`; NaN and infinities are ignored (they make no
    /// series).
    #[inline]
    pub fn record(&self, value: N, attributes: &[KeyValue]) {
        if value.is_finite() {
            self.inner.record(attributes, value);
        } else {
            ignore();
        }
    }

    /// The series of `attributes`, resolved once.
    #[must_use]
    pub fn bind(&self, attributes: &[KeyValue]) -> BoundGauge<N> {
        BoundGauge { series: self.inner.bind(attributes), _number: PhantomData }
    }
}

impl<N: Number> BoundGauge<N> {
    /// Sets the series to `value`.
    #[inline]
    pub fn record(&self, value: N) {
        if let Some((series, removed)) = &self.series {
            series.cells.record(value, removed);
        }
    }
    /// Adds `delta` (of either sign) to the series, for the `metrics` bridge's gauge increments;
    /// NaN and infinities are ignored.
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn add(&self, delta: N) {
        if !delta.is_finite() {
            return ignore();
        }
        if let Some((series, _)) = &self.series {
            series.cells.add(delta);
        }
    }
}

/// The cells of a counter or up-down counter series: a sum (their own aggregation), or a
/// histogram of the increments (a view's `ExplicitBucketHistogram` or
/// `Base2ExponentialHistogram` aggregation). The sum is kept unboxed: a bound handle's add reaches
/// its cells through a [`SumShortcut`] without looking at which kind they are, so it costs what it
/// costs without this choice; the histogram takes the shortcut's path out of line.
pub(crate) enum SumKind {
    Sum(SumCells),
    Histogram(HistogramKind),
}

impl SumKind {
    /// Adds `value`: to the sum, or as a histogram measurement.
    #[inline]
    fn add<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        match self {
            SumKind::Sum(cells) => cells.add(value, removed),
            SumKind::Histogram(cells) => Self::record(cells, value, removed),
        }
    }

    /// A histogram measurement, out of line: the histogram's record is long, and counters'
    /// call sites are many.
    #[inline(never)]
    fn record<'r, N: Number>(cells: &HistogramKind, value: N, removed: impl Removes<'r>) {
        cells.record(value, removed);
    }

    /// What a bound handle keeps to add without reading these cells: the sum's shortcut, or for a
    /// histogram one that sends every add out of line ([`SumShortcut::none`]).
    fn shortcut(&self) -> SumShortcut {
        match self {
            SumKind::Sum(cells) => cells.shortcut(),
            SumKind::Histogram(_) => SumShortcut::none(),
        }
    }

    /// [`add`](Self::add) through `shortcut`: for a sum, the thread's own cell from the shortcut's
    /// address, and these cells only on the paths out of line.
    ///
    /// # Safety
    /// `shortcut` must be these cells' own ([`SumKind::shortcut`]), and `home` never passed with
    /// another shortcut (see [`SumShortcut::add`]).
    #[inline]
    unsafe fn add_via<'r, N: Number>(
        &self,
        shortcut: SumShortcut,
        home: &stripe::HomeSlot,
        value: N,
        removed: impl Removes<'r>,
    ) {
        // SAFETY: the caller guarantees the shortcut is these cells', alive while `self` is
        // borrowed, and `home` only ever passed with it.
        unsafe {
            shortcut.add(
                home,
                value,
                |value| self.add_elsewhere(value, removed),
                |value, ids| self.offer(value, ids, removed),
            );
        }
    }

    /// An add the shortcut did not take: a sum's thread without a stripe of its own (or in shared
    /// mode), or any add to a histogram.
    #[inline(never)]
    fn add_elsewhere<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        match self {
            SumKind::Sum(cells) => cells.add_settling(value),
            SumKind::Histogram(cells) => cells.record(value, removed),
        }
    }

    /// A sum's exemplar (a histogram's shortcut admits none: its record keeps its own).
    #[inline]
    fn offer<'r, N: Number>(&self, value: N, ids: crate::trace::context::CurrentIds, removed: impl Removes<'r>) {
        if let SumKind::Sum(cells) = self {
            cells.offer(value, ids, removed);
        }
    }
}

/// The cells of a histogram series: explicit buckets or base-2 exponential ones.
pub(crate) enum HistogramKind {
    Explicit(HistogramCells),
    Exponential(ExpoCells),
    /// The values' sum only: a view's `Sum` aggregation (exported as a monotonic sum; negative
    /// values are left out). Boxed: its padded cells are larger than the others' handles, and the
    /// pairing is rare.
    Sum(Box<SumCells>),
}

impl HistogramKind {
    /// What a bound handle keeps to record without reading these cells (none for a view's sum).
    fn shortcut(&self) -> Option<KindShortcut> {
        match self {
            HistogramKind::Explicit(cells) => Some(KindShortcut::Explicit(cells.shortcut())),
            HistogramKind::Exponential(cells) => Some(KindShortcut::Exponential(cells.shortcut())),
            HistogramKind::Sum(_) => None,
        }
    }

    /// A bound handle's record that found its home stripe held: out of line, so that the
    /// handle's path stays short.
    #[cold]
    #[inline(never)]
    fn record_elsewhere<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        self.record(value, removed);
    }

    #[inline]
    fn record<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        match self {
            HistogramKind::Explicit(cells) => cells.record(value, removed),
            HistogramKind::Exponential(cells) => cells.record(value, removed),
            // Negative values are left out, as a counter leaves them: the sum is monotonic.
            HistogramKind::Sum(cells) if value.is_increment() => cells.add(value, removed),
            HistogramKind::Sum(_) => ignore(),
        }
    }
}

/// The cells of a gauge series: the last value (its own aggregation), or a histogram of the
/// values set (a view's `ExplicitBucketHistogram` or `Base2ExponentialHistogram` aggregation),
/// boxed: the pairing is rare, and the last value keeps its series small.
pub(crate) enum GaugeKind {
    LastValue(GaugeCell),
    Histogram(Box<GaugeHistogram>),
}

/// A gauge's histogram of the values set, and (for the `metrics` bridge's increments, which
/// move the value rather than set it) the value the gauge holds now.
pub(crate) struct GaugeHistogram {
    cells: HistogramKind,
    #[cfg(feature = "metrics")]
    now: GaugeCell,
}

impl GaugeKind {
    /// The histogram's cells: `cells`.
    pub(crate) fn histogram(cells: HistogramKind) -> Self {
        GaugeKind::Histogram(Box::new(GaugeHistogram {
            cells,
            #[cfg(feature = "metrics")]
            now: GaugeCell::new(),
        }))
    }

    /// Sets the value: stores it, or records it in the histogram (its exemplars keep `removed`).
    /// NaN and infinities are left out and counted, the value kept (many backends refuse them:
    /// a gauge's last value sent as NaN made collectors' exporters drop the point or the batch).
    #[inline]
    fn record<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        if !value.is_finite() {
            return ignore();
        }
        match self {
            GaugeKind::LastValue(cell) => cell.record(value),
            GaugeKind::Histogram(histogram) => histogram.record(value, removed),
        }
    }

    /// Moves the value by `delta`: the histogram records the value this makes.
    #[cfg(feature = "metrics")]
    #[inline]
    fn add<N: Number>(&self, delta: N) {
        match self {
            GaugeKind::LastValue(cell) => {
                cell.add(delta);
            }
            GaugeKind::Histogram(histogram) => histogram.cells.record(histogram.now.add(delta), NoneRemoved),
        }
    }
}

impl GaugeHistogram {
    /// Out of line, as a counter's histogram record is: the gauge's own store stays short.
    #[inline(never)]
    fn record<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        #[cfg(feature = "metrics")]
        self.now.record(value);
        self.cells.record(value, removed);
    }
}

impl<N: Number> Measure<N> for SumKind {
    #[inline(always)]
    fn measure<'r>(&self, value: N, removed: impl Removes<'r>) {
        self.add(value, removed);
    }
}

impl<N: Number> Measure<N> for HistogramKind {
    #[inline(always)]
    fn measure<'r>(&self, value: N, removed: impl Removes<'r>) {
        self.record(value, removed);
    }
}

impl<N: Number> Measure<N> for GaugeKind {
    #[inline(always)]
    fn measure<'r>(&self, value: N, removed: impl Removes<'r>) {
        self.record(value, removed);
    }
}

handle!(
    /// A distribution (`u64` or `f64`), in explicit buckets (the specification's default
    /// boundaries unless given) or base-2 exponential ones.
    ///
    /// ```
    /// use nanotel::metrics::MeterProvider;
    ///
    /// let provider = MeterProvider::builder().without_env().build();
    /// let meter = provider.meter("gateway");
    /// let latency = meter.f64_histogram("order.latency").with_unit("s").with_boundaries(vec![0.001, 0.01, 0.1]).build().unwrap();
    /// latency.record(0.004, &[]);
    /// let fine = meter.f64_histogram("order.latency.fine").with_unit("s").with_exponential_buckets().build().unwrap();
    /// fine.bind(&[]).record(0.004);
    /// assert!(nanotel::prometheus::render(&provider).contains(r#"order_latency_seconds_bucket{otel_scope_name="gateway",le="0.01"} 1"#));
    /// ```
    Histogram,
    HistogramKind
);
/// A [`Histogram`] series resolved once. A record reaches the thread's stripe from addresses the
/// handle keeps, without reading the series first; an explicit-bucket handle also keeps a copy of
/// up to 16 boundaries (128 bytes), so that a record reads no list of them elsewhere.
pub struct BoundHistogram<N: Number> {
    /// `None` for an instrument of a disabled provider: recording is one branch. With the series,
    /// the shortcut to its cells (none for a view's sum) and the pairs its view removed from those
    /// bound (for its exemplars).
    series: Option<HistogramBinding>,
    /// The stripe its records are predicted to land on (see [`stripe::HomeSlot`]).
    home: stripe::HomeSlot,
    _number: PhantomData<fn(N)>,
}

/// A bound histogram's series, the shortcut to its cells and the pairs its view removed.
type HistogramBinding = (Arc<Series<HistogramKind>>, Option<KindShortcut>, Option<Arc<[KeyValue]>>);

/// The shortcut a bound histogram keeps to its cells, by their kind.
#[derive(Clone, Copy)]
enum KindShortcut {
    Explicit(HistogramShortcut),
    Exponential(ExpoShortcut),
}

impl<N: Number> BoundCounter<N> {
    /// See `Series::standing` (live without a series: nothing to let go).
    #[cfg(feature = "metrics")]
    pub(crate) fn standing(&self) -> Standing {
        self.series.as_ref().map_or(Standing::Live, |(series, _, _)| series.standing())
    }
}

impl<N: Number> BoundHistogram<N> {
    /// See `Series::standing` (live without a series: nothing to let go).
    #[cfg(feature = "metrics")]
    pub(crate) fn standing(&self) -> Standing {
        self.series.as_ref().map_or(Standing::Live, |(series, _, _)| series.standing())
    }
}

impl<N: Number> Clone for BoundHistogram<N> {
    /// A handle of the same series. A handle learns where its records land from the first thread
    /// that records through it, and a clone learns afresh: a thread given a clone of its own
    /// records by the fastest path (see the README's benchmarks).
    fn clone(&self) -> Self {
        // A fresh prediction (see `stripe::HomeSlot`).
        BoundHistogram { series: self.series.clone(), home: stripe::HomeSlot::new(), _number: PhantomData }
    }
}

impl<N: Number> std::fmt::Debug for BoundHistogram<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attributes = self.series.as_ref().map(|(series, _, _)| series.attributes.attributes());
        f.debug_struct("BoundHistogram").field("attributes", &attributes).finish_non_exhaustive()
    }
}

impl<N: Number> Histogram<N> {
    /// Records `value` in the series of `attributes`; NaN and infinities are ignored (they make
    /// no series: until session 42 they made one, exported as an empty point).
    #[inline]
    pub fn record(&self, value: N, attributes: &[KeyValue]) {
        if value.is_finite() {
            self.inner.record(attributes, value);
        } else {
            ignore();
        }
    }

    /// The series of `attributes`, resolved once.
    #[must_use]
    pub fn bind(&self, attributes: &[KeyValue]) -> BoundHistogram<N> {
        let series = self.inner.bind(attributes).map(|(series, removed)| {
            let shortcut = series.cells.shortcut();
            (series, shortcut, removed)
        });
        BoundHistogram { series, home: stripe::HomeSlot::new(), _number: PhantomData }
    }
}

impl<N: Number> BoundHistogram<N> {
    /// Records `value`; NaN and infinities are ignored.
    #[inline(always)]
    pub fn record(&self, value: N) {
        if let Some((series, Some(KindShortcut::Explicit(shortcut)), removed)) = &self.series {
            let elsewhere = || series.cells.record_elsewhere(value, removed);
            // SAFETY: the shortcut was taken from these cells (`bind`), which `series` keeps
            // alive.
            unsafe { shortcut.record(&self.home, value, removed, elsewhere) }
        } else {
            self.record_otherwise(value);
        }
    }

    /// The record of every handle but an explicit histogram's with a shortcut: out of line, so
    /// that the explicit record, the usual one, is short enough to be inlined into its caller,
    /// with no call and no stack frame of its own (a third less cold with the handle cold, a
    /// third less warm: benches/README.md, session 19). Cold: the explicit record's code then
    /// runs on in sequence, this call set apart from it, since a record whose caches went cold
    /// fetches its code from memory, and code in one run arrives sooner than code that jumps
    /// about (benches/README.md, session 20). The compiler may also build this function for
    /// size; the exponential record, which goes through it, measured no slower warm.
    #[cold]
    #[inline(never)]
    fn record_otherwise(&self, value: N) {
        let Some((series, shortcut, removed)) = &self.series else { return };
        match shortcut {
            // SAFETY: the shortcut was taken from these cells (`bind`), which `series` keeps
            // alive.
            Some(KindShortcut::Exponential(shortcut)) => unsafe {
                shortcut.record(&self.home, value, removed, || series.cells.record_elsewhere(value, removed));
            },
            // An explicit shortcut is `record`'s; none, the cells' own record.
            Some(KindShortcut::Explicit(_)) | None => series.cells.record(value, removed),
        }
    }
}

/// What every point of one collection shares.
struct Window<'a> {
    cx: &'a CollectContext,
    /// Whether the readings start a new delta window.
    reset: bool,
    delta: bool,
    /// Unix nanoseconds of the delta window's start.
    start: u64,
    /// Whether the overflow series was ever used (its cumulative sum may be back at zero).
    overflow_used: bool,
}

impl Window<'_> {
    /// What this collection restarts in the exemplar reservoirs it reads.
    fn restart(&self) -> Restart {
        match (self.reset, self.cx.reset) {
            (true, _) => Restart::All,
            (false, true) => Restart::Count,
            (false, false) => Restart::Nothing,
        }
    }

    /// The start time of a point of `series`.
    fn start_of<A>(&self, series: &Series<A>) -> u64 {
        if self.delta {
            self.start
        } else {
            series.start_unix_nano
        }
    }
}

/// The points of one collection of an instrument whose series are sums or histograms.
#[derive(Default)]
struct Points {
    sums: Vec<NumberDataPoint>,
    explicit: Vec<HistogramDataPoint>,
    exponential: Vec<ExponentialHistogramDataPoint>,
}

impl Points {
    /// Adds the point of a sum series, unless there is nothing to report; says whether it did.
    fn push_sum<A, N: Number>(&mut self, w: &Window<'_>, series: &Series<A>, overflow: bool, cells: &SumCells) -> bool {
        let value: N = cells.read(w.reset);
        // A delta point only for series that changed; the overflow series only once used (an
        // up-down counter's may be back at zero: until session 39 its point then vanished, a
        // cumulative series read as gone).
        if (w.delta || (overflow && !w.overflow_used)) && value == N::ZERO {
            if w.reset {
                // The window's exemplars go with it, though it makes no point (an `add(0)` is
                // offered one): until session 41 they were left for the next window's point.
                drop(cells.exemplars(w.restart()));
            }
            return false;
        }
        self.sums.push(NumberDataPoint {
            attributes: attributes(series),
            start_time_unix_nano: w.start_of(series),
            time_unix_nano: w.cx.now,
            value: Some(value.to_point()),
            exemplars: exemplar::to_proto::<N>(cells.exemplars(w.restart())),
            ..Default::default()
        });
        true
    }

    /// Adds the point of a histogram series, unless there is nothing to report; says whether it
    /// did. `with_sum`: false for an instrument whose values may be negative (an up-down
    /// counter, a gauge), whose sum the specification says not to report.
    fn push_histogram<A, N: Number>(
        &mut self,
        w: &Window<'_>,
        series: &Series<A>,
        overflow: bool,
        cells: &HistogramKind,
        with_sum: bool,
    ) -> bool {
        match cells {
            HistogramKind::Sum(cells) => self.push_sum::<A, N>(w, series, overflow, cells),
            HistogramKind::Explicit(cells) => {
                let values = cells.read::<N>(w.reset);
                let count = values.count();
                if (w.delta || overflow) && count == 0 {
                    return false;
                }
                self.explicit.push(HistogramDataPoint {
                    attributes: attributes(series),
                    start_time_unix_nano: w.start_of(series),
                    time_unix_nano: w.cx.now,
                    count,
                    sum: with_sum.then(|| values.sum.to_f64()),
                    bucket_counts: values.counts,
                    explicit_bounds: cells.bounds().to_vec(),
                    min: (count > 0).then(|| values.min.to_f64()),
                    max: (count > 0).then(|| values.max.to_f64()),
                    exemplars: exemplar::to_proto::<N>(values.exemplars.into_iter().flatten().collect()),
                    ..Default::default()
                });
                true
            }
            HistogramKind::Exponential(cells) => {
                let (state, exemplars) = cells.read(w.reset, w.restart());
                let count = state.count();
                if (w.delta || overflow) && count == 0 {
                    return false;
                }
                self.exponential.push(ExponentialHistogramDataPoint {
                    attributes: attributes(series),
                    start_time_unix_nano: w.start_of(series),
                    time_unix_nano: w.cx.now,
                    count,
                    sum: with_sum.then_some(state.sum),
                    scale: state.scale,
                    zero_count: state.zero_count,
                    positive: otlp_buckets(&state.positive),
                    negative: otlp_buckets(&state.negative),
                    min: (count > 0).then_some(state.min),
                    max: (count > 0).then_some(state.max),
                    exemplars: exemplar::to_proto::<N>(exemplars),
                    ..Default::default()
                });
                true
            }
        }
    }

    /// The metric data of the points (all of one kind: every series of an instrument has the
    /// cells its stream chose), or `None` when there are none. `monotonic` for sums.
    fn into_data(self, temporality: Temporality, monotonic: bool) -> Option<metric::Data> {
        let aggregation_temporality = temporality.to_proto();
        if !self.explicit.is_empty() {
            Some(metric::Data::Histogram(OtlpHistogram { data_points: self.explicit, aggregation_temporality }))
        } else if !self.exponential.is_empty() {
            let data = ExponentialHistogram { data_points: self.exponential, aggregation_temporality };
            Some(metric::Data::ExponentialHistogram(data))
        } else if !self.sums.is_empty() {
            Some(metric::Data::Sum(Sum { data_points: self.sums, aggregation_temporality, is_monotonic: monotonic }))
        } else {
            None
        }
    }
}

impl<N: Number> Collect for SyncInstrument<SumKind, N> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        let (temporality, w) = self.window(cx);
        let counter = self.descriptor.kind.never_negative();
        let mut points = Points::default();
        self.map.collect(Self::pass(cx, w.reset), |series, overflow| match &series.cells {
            SumKind::Sum(cells) => points.push_sum::<_, N>(&w, series, overflow, cells),
            // An up-down counter's increments may be negative: no sum.
            SumKind::Histogram(cells) => points.push_histogram::<_, N>(&w, series, overflow, cells, counter),
        });
        self.report_overflow(cx);
        points.into_data(temporality, counter).map(|data| self.metric(data))
    }
}

impl<N: Number> Collect for SyncInstrument<GaugeKind, N> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        // A gauge's window never resets (see `Meter::is_delta`): its histogram is cumulative.
        let (temporality, w) = self.window(cx);
        let mut last_values = Vec::new();
        let mut histograms = Points::default();
        self.map.collect(Self::pass(cx, w.reset), |series, overflow| match &series.cells {
            GaugeKind::LastValue(cell) => {
                let Some(value) = cell.read::<N>() else { return false };
                last_values.push(NumberDataPoint {
                    attributes: attributes(series),
                    time_unix_nano: cx.now,
                    value: Some(value.to_point()),
                    ..Default::default()
                });
                true
            }
            // A gauge's values may be negative: no sum.
            GaugeKind::Histogram(histogram) => {
                histograms.push_histogram::<_, N>(&w, series, overflow, &histogram.cells, false)
            }
        });
        self.report_overflow(cx);
        let data = if last_values.is_empty() {
            histograms.into_data(temporality, false)?
        } else {
            metric::Data::Gauge(OtlpGauge { data_points: last_values })
        };
        Some(self.metric(data))
    }
}

fn otlp_buckets(buckets: &Buckets) -> Option<OtlpBuckets> {
    let buckets = buckets.trimmed();
    (!buckets.counts.is_empty()).then_some(OtlpBuckets { offset: buckets.offset, bucket_counts: buckets.counts })
}

impl<N: Number> Collect for SyncInstrument<HistogramKind, N> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        let (temporality, w) = self.window(cx);
        let mut points = Points::default();
        // The histogram of an observable instrument whose values may be negative reports no sum.
        let with_sum = self.descriptor.kind.never_negative();
        self.map.collect(Self::pass(cx, w.reset), |series, overflow| {
            points.push_histogram::<_, N>(&w, series, overflow, &series.cells, with_sum)
        });
        self.report_overflow(cx);
        // A histogram's values are measurements of something that only adds up (the
        // specification's Sum aggregation of a Histogram is monotonic).
        points.into_data(temporality, true).map(|data| self.metric(data))
    }
}
