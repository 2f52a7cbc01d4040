//! Observable (callback) instruments: counters, up-down counters and gauges whose callbacks run
//! on the collecting thread (the exporter thread) at each collection.
//!
//! Their points are made here from what the callbacks observed, except under a view's histogram
//! aggregation: each observation is then a measurement recorded into a synchronous histogram's
//! series (the same cells, windows, limits and eviction as [`Histogram`](super::Histogram)'s),
//! which the collection reads right after the callbacks ran.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::attributes::KeyValue;
use crate::diag::{self, Once};
use crate::proto::metrics::v1::{metric, Gauge as OtlpGauge, Metric, NumberDataPoint, Sum};

use super::attribute_set::canonical;
use super::collect::{metric, Collect, CollectContext};
use super::descriptor::{Descriptor, InstrumentKind, Temporality};
use super::number::Number;
use super::series_map::{unix_nanos, OVERFLOW_KEY};
use super::sync::{HistogramKind, SyncInstrument};
use super::view::{AttributeFilter, Route, Stream};

/// A canonical attribute set (see [`canonical`]).
type SetKey = Vec<KeyValue>;

/// What a callback reports into: one value per attribute set.
pub struct Observer<N: Number> {
    values: HashMap<SetKey, N>,
    /// Attribute sets in the order first observed (the specification prefers them under the limit).
    order: Vec<SetKey>,
    limit: usize,
    kind: InstrumentKind,
    /// The view's attribute filter, if any.
    filter: Option<AttributeFilter>,
    /// Under a view's histogram aggregation, where each observation is recorded instead.
    histogram: Option<Arc<SyncInstrument<HistogramKind, N>>>,
}

impl<N: Number> Observer<N> {
    fn new(limit: usize, kind: InstrumentKind, filter: Option<AttributeFilter>) -> Self {
        Observer { values: HashMap::new(), order: Vec::new(), limit: limit.max(1), kind, filter, histogram: None }
    }

    /// Reports the value of the series of `attributes`: for counters the total so far, for
    /// gauges the current value. A second observation of the same set in one callback replaces
    /// the first. Past the cardinality limit, new sets are folded into the overflow series
    /// (summed for counters, last value for gauges). NaN and infinities are ignored.
    ///
    /// Under a view's attribute filter, sets that differ only by the attributes removed are one
    /// series: the values observed for them in one callback are summed for counters (the last
    /// one is kept for gauges).
    ///
    /// Under a view's histogram aggregation every observation is one measurement of the
    /// instrument's histogram, in the series of its attributes (after the view's filter).
    pub fn observe(&mut self, value: N, attributes: &[KeyValue]) {
        if !value.is_finite() {
            return super::ignored_values::ignore();
        }
        if let Some(histogram) = &self.histogram {
            histogram.record(attributes, value);
            return;
        }
        let mut key = canonical(attributes);
        if let Some(filter) = &self.filter {
            filter.retain(&mut key);
        }
        let summed = self.kind != InstrumentKind::ObservableGauge;
        if let Some(existing) = self.values.get_mut(&key) {
            *existing = if summed && self.filter.is_some() { N::plus(*existing, value) } else { value };
            return;
        }
        if self.order.len() < self.limit - 1 {
            self.order.push(key.clone());
            self.values.insert(key, value);
            return;
        }
        let overflow = vec![KeyValue::new(OVERFLOW_KEY, true)];
        match self.values.get_mut(&overflow) {
            Some(existing) if summed => *existing = N::plus(*existing, value),
            Some(existing) => *existing = value,
            None => {
                self.order.push(overflow.clone());
                self.values.insert(overflow, value);
            }
        }
    }
}

/// The callback of an observable instrument.
pub(crate) type Callback<N> = Box<dyn Fn(&mut Observer<N>) + Send + Sync>;

/// What an observable instrument keeps between collections to make its own points.
struct Memory<N> {
    /// Per series: the last exported observation and the start time of its cumulative points.
    previous: HashMap<SetKey, (N, u64)>,
    /// Unix nanoseconds of the last exporting collection (0 before the first).
    last_collect: u64,
}

/// How an observable instrument makes its points.
enum Aggregated<N: Number> {
    /// From each collection's observations, here (its own aggregation: sums or last values).
    Observed { limit: usize, filter: Option<AttributeFilter>, created: u64, memory: Mutex<Memory<N>> },
    /// A view's histogram aggregation: the histogram the observations are recorded into.
    Histogram(Arc<SyncInstrument<HistogramKind, N>>),
}

pub(crate) struct ObservableInstrument<N: Number> {
    pub descriptor: Descriptor,
    /// Not run when the stream is dropped.
    callbacks: Vec<Callback<N>>,
    aggregated: Aggregated<N>,
    /// Whether a callback's panic was reported yet.
    panicked: Once,
}

impl<N: Number> ObservableInstrument<N> {
    /// The instrument of `stream` (its view applied) under its own aggregation.
    pub(crate) fn new(stream: Stream, callbacks: Vec<Callback<N>>) -> Self {
        let (callbacks, filter) = match stream.route {
            Route::Off => (Vec::new(), None),
            Route::Direct => (callbacks, None),
            Route::Filtered(filter) => (callbacks, Some(filter)),
        };
        let memory = Mutex::new(Memory { previous: HashMap::new(), last_collect: 0 });
        let aggregated = Aggregated::Observed { limit: stream.limit, filter, created: unix_nanos(), memory };
        ObservableInstrument { descriptor: stream.descriptor, callbacks, aggregated, panicked: Once::default() }
    }

    /// The instrument under a view's histogram aggregation: `histogram` (built for its stream,
    /// with the view's attribute filter and limit) takes the observations.
    pub(crate) fn histogram(histogram: Arc<SyncInstrument<HistogramKind, N>>, callbacks: Vec<Callback<N>>) -> Self {
        ObservableInstrument {
            descriptor: histogram.descriptor.clone(),
            callbacks,
            aggregated: Aggregated::Histogram(histogram),
            panicked: Once::default(),
        }
    }

    /// The points of what `observer` observed in this collection, under the instrument's own
    /// aggregation.
    fn points(
        &self,
        observer: Observer<N>,
        created: u64,
        memory: &Mutex<Memory<N>>,
        cx: &CollectContext,
    ) -> Option<Metric> {
        let kind = self.descriptor.kind;
        let temporality = cx.preference.temporality(kind);
        let mut memory = memory.lock();
        let first_interval = memory.last_collect == 0;
        // §6.3: a series first seen in the first interval starts at the instrument's creation,
        // a later one at the previous collection.
        let new_series_start = if first_interval { created } else { memory.last_collect };
        let window_start = new_series_start;
        let mut data_points = Vec::with_capacity(observer.order.len());
        let mut next = HashMap::with_capacity(observer.order.len());
        for key in observer.order {
            let Some(&observed) = observer.values.get(&key) else { continue };
            let previous = memory.previous.get(&key).copied();
            let start = previous.map_or(new_series_start, |(_, start)| start);
            let (value, start_time_unix_nano) = match (kind, temporality) {
                (InstrumentKind::ObservableGauge, _) => (observed, 0),
                // Async + delta: the change since the previous exported observation (§6.2).
                (_, Temporality::Delta) => (N::minus(observed, previous.map_or(N::ZERO, |(v, _)| v)), window_start),
                (_, Temporality::Cumulative) => (observed, start),
            };
            data_points.push(NumberDataPoint {
                attributes: key.iter().map(KeyValue::to_proto).collect(),
                start_time_unix_nano,
                time_unix_nano: cx.now,
                value: Some(value.to_point()),
                ..Default::default()
            });
            next.insert(key, (observed, start));
        }
        if cx.reset {
            // Series not observed this time are forgotten (§6.1: they are not reported either).
            memory.previous = next;
            memory.last_collect = cx.now;
        }
        if data_points.is_empty() {
            return None;
        }
        let data = if kind == InstrumentKind::ObservableGauge {
            metric::Data::Gauge(OtlpGauge { data_points })
        } else {
            metric::Data::Sum(Sum {
                data_points,
                aggregation_temporality: temporality.to_proto(),
                is_monotonic: kind == InstrumentKind::ObservableCounter,
            })
        };
        Some(metric(&self.descriptor, data))
    }
}

impl<N: Number> Collect for ObservableInstrument<N> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        if self.callbacks.is_empty() {
            return None;
        }
        if Instant::now() >= cx.deadline {
            diag::warning!(
                "metric collection ran past OTEL_METRIC_EXPORT_TIMEOUT; skipped the callbacks of {:?}",
                self.descriptor.name
            );
            return None;
        }
        let kind = self.descriptor.kind;
        let mut observer = match &self.aggregated {
            Aggregated::Observed { limit, filter, .. } => Observer::new(*limit, kind, filter.clone()),
            Aggregated::Histogram(histogram) => {
                Observer { histogram: Some(histogram.clone()), ..Observer::new(1, kind, None) }
            }
        };
        for callback in &self.callbacks {
            // The application's code, on the exporter thread or the Prometheus endpoint's. After a
            // panic the instrument reports nothing this time, and keeps what it remembers of the
            // last collection: a series the callback did not reach would otherwise be forgotten,
            // and under delta temporality its whole value sent again as one change when it is
            // next observed. (Under a view's histogram, what was recorded before the panic stays
            // in the histogram for the next collection.)
            let report = || {
                diag::error!(
                    "a callback of observable instrument {:?} panicked; the instrument is left out of this \
                     collection, and the collection goes on (reported once per instrument)",
                    self.descriptor.name
                );
            };
            diag::catch_panic(&self.panicked, || callback(&mut observer), report)?;
        }
        match &self.aggregated {
            Aggregated::Observed { created, memory, .. } => self.points(observer, *created, memory, cx),
            Aggregated::Histogram(histogram) => histogram.collect(cx),
        }
    }
}

/// A handle to a registered observable instrument. Its callbacks run at every collection for as
/// long as the provider lives (dropping the handle does not unregister them).
pub struct Observable<N: Number> {
    pub(crate) inner: Arc<ObservableInstrument<N>>,
    _number: PhantomData<fn(N)>,
}

impl<N: Number> Observable<N> {
    pub(crate) fn new(inner: Arc<ObservableInstrument<N>>) -> Self {
        Observable { inner, _number: PhantomData }
    }

    /// The instrument's kind.
    #[must_use]
    pub fn kind(&self) -> InstrumentKind {
        self.inner.descriptor.kind
    }
}

impl<N: Number> Clone for Observable<N> {
    fn clone(&self) -> Self {
        Observable::new(self.inner.clone())
    }
}

impl<N: Number> std::fmt::Debug for Observable<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observable").field("name", &self.inner.descriptor.name).field("kind", &self.kind()).finish()
    }
}
