//! Observable (callback) instruments: counters, up-down counters and gauges whose callbacks run
//! on the collecting thread (the exporter thread) at each collection.
//!
//! Their points are made here from what the callbacks observed, except under a view's histogram
//! aggregation: each observation is then a measurement recorded into a synchronous histogram's
//! series (the same cells, windows, limits and eviction as [`Histogram`](super::Histogram)'s),
//! which the collection reads right after the callbacks ran.

use std::collections::{HashMap, HashSet};
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
    /// Each attribute set observed in this collection (canonical, before the view's filter), with
    /// its last value.
    values: HashMap<SetKey, N>,
    /// The attribute sets in the order first observed (the specification prefers them under the
    /// limit).
    order: Vec<SetKey>,
    /// Under a view's histogram aggregation, where each observation is recorded instead.
    histogram: Option<Arc<SyncInstrument<HistogramKind, N>>>,
}

impl<N: Number> Observer<N> {
    fn new(histogram: Option<Arc<SyncInstrument<HistogramKind, N>>>) -> Self {
        Observer { values: HashMap::new(), order: Vec::new(), histogram }
    }

    /// Reports the value of the series of `attributes`: for counters the total so far, for
    /// gauges the current value. A second observation of the same set in one collection replaces
    /// the first, wherever the set's value goes. NaN and infinities are ignored.
    ///
    /// Under a view's attribute filter, sets that differ only by the attributes removed are one
    /// series: their values are summed for counters (the last one is kept for gauges). Past the
    /// cardinality limit, further series are folded into the overflow series (summed for
    /// counters, last value for gauges); the series that had a point of their own at the last
    /// exporting collection keep it, whatever order the callback observes them in (a provider
    /// read only by scrapes or `snapshot` has no exporting collection: there the order decides).
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
        let key = canonical(attributes);
        if let Some(existing) = self.values.get_mut(&key) {
            *existing = value;
            return;
        }
        self.order.push(key.clone());
        self.values.insert(key, value);
    }
}

/// The callback of an observable instrument.
pub(crate) type Callback<N> = Box<dyn Fn(&mut Observer<N>) + Send + Sync>;

/// What an observable instrument keeps between collections to make its own points.
struct Memory<N> {
    /// Per series (after the view's filter) observed at the last exporting collection, its own
    /// point or folded into the overflow series: its value then, the start time of its
    /// cumulative points, and whether it had a point of its own.
    previous: HashMap<SetKey, Previous<N>>,
    /// Unix nanoseconds of the last exporting collection (0 before the first).
    last_collect: u64,
}

#[derive(Clone, Copy)]
struct Previous<N> {
    value: N,
    start: u64,
    own_point: bool,
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
    /// Every callback registered for the instrument, by its first build and by each later build
    /// of the same instrument; none when the stream is dropped. Shared out of the lock for each
    /// collection, so a callback may build instruments itself.
    callbacks: Mutex<Vec<Arc<Callback<N>>>>,
    /// The stream is dropped (a view's `Drop`): callbacks are never kept, nor run.
    dropped: bool,
    aggregated: Aggregated<N>,
    /// Whether a callback's panic was reported yet.
    panicked: Once,
}

impl<N: Number> ObservableInstrument<N> {
    /// The instrument of `stream` (its view applied) under its own aggregation.
    pub(crate) fn new(stream: Stream, callbacks: Vec<Callback<N>>) -> Self {
        let (dropped, filter) = match stream.route {
            Route::Off => (true, None),
            Route::Direct => (false, None),
            Route::Filtered(filter) => (false, Some(filter)),
        };
        let memory = Mutex::new(Memory { previous: HashMap::new(), last_collect: 0 });
        let aggregated = Aggregated::Observed { limit: stream.limit, filter, created: unix_nanos(), memory };
        let instrument = ObservableInstrument {
            descriptor: stream.descriptor,
            callbacks: Mutex::new(Vec::new()),
            dropped,
            aggregated,
            panicked: Once::default(),
        };
        instrument.add_callbacks(callbacks);
        instrument
    }

    /// The instrument under a view's histogram aggregation: `histogram` (built for its stream,
    /// with the view's attribute filter and limit) takes the observations.
    pub(crate) fn histogram(histogram: Arc<SyncInstrument<HistogramKind, N>>, callbacks: Vec<Callback<N>>) -> Self {
        let instrument = ObservableInstrument {
            descriptor: histogram.descriptor.clone(),
            callbacks: Mutex::new(Vec::new()),
            dropped: false,
            aggregated: Aggregated::Histogram(histogram),
            panicked: Once::default(),
        };
        instrument.add_callbacks(callbacks);
        instrument
    }

    /// Registers more callbacks: a later build of the same instrument adds its own (every
    /// registered callback runs at each collection, as the specification requires; until session
    /// 40 a second build's callbacks were silently dropped).
    pub(crate) fn add_callbacks(&self, callbacks: Vec<Callback<N>>) {
        if !self.dropped {
            self.callbacks.lock().extend(callbacks.into_iter().map(Arc::from));
        }
    }

    /// The points of what `observer` observed in this collection, under the instrument's own
    /// aggregation.
    ///
    /// The observed sets are made series by the view's filter, then the series get points of
    /// their own up to the limit (those that had one at the last exporting collection first,
    /// then new ones in the order observed), the rest one overflow point. Every series is
    /// remembered with its value, so that a delta is the change of the same series, wherever its
    /// value went: until session 40 the overflow series' delta was taken against whatever sets
    /// the callback's order had put there the time before (a set moving in or out of it counted
    /// twice), a set observed twice past the limit was added to it twice, and under a filter a
    /// set observed twice was summed.
    fn points(
        &self,
        observer: Observer<N>,
        limit: usize,
        filter: Option<&AttributeFilter>,
        created: u64,
        memory: &Mutex<Memory<N>>,
        cx: &CollectContext,
    ) -> Option<Metric> {
        let kind = self.descriptor.kind;
        let temporality = cx.preference.temporality(kind);
        let summed = kind != InstrumentKind::ObservableGauge;
        let (series, order) = series_of(observer, filter, summed);
        let mut memory = memory.lock();
        let own_point = places(&order, &memory.previous, limit);
        let first_interval = memory.last_collect == 0;
        // §6.3: a series first seen in the first interval starts at the instrument's creation,
        // a later one at the previous collection.
        let new_series_start = if first_interval { created } else { memory.last_collect };
        let window_start = new_series_start;
        let overflow_key = vec![KeyValue::new(OVERFLOW_KEY, true)];
        let mut points: Vec<(SetKey, N, u64)> = Vec::with_capacity(own_point.len() + 1);
        let mut overflow: Option<N> = None;
        let mut next = HashMap::with_capacity(order.len() + 1);
        for key in order {
            let observed = series[&key];
            let previous = memory.previous.get(&key).copied();
            let start = previous.map_or(new_series_start, |previous| previous.start);
            let value = match (kind, temporality) {
                (InstrumentKind::ObservableGauge, _) | (_, Temporality::Cumulative) => observed,
                // Async + delta: the change since the series' previous observation (§6.2).
                (_, Temporality::Delta) => N::minus(observed, previous.map_or(N::ZERO, |previous| previous.value)),
            };
            let own = own_point.contains(&key);
            if own {
                points.push((key.clone(), value, start));
            } else {
                overflow = Some(match overflow {
                    Some(folded) if summed => N::plus(folded, value),
                    _ => value,
                });
            }
            next.insert(key, Previous { value: observed, start, own_point: own });
        }
        if let Some(value) = overflow {
            let start = memory.previous.get(&overflow_key).map_or(new_series_start, |previous| previous.start);
            next.insert(overflow_key.clone(), Previous { value, start, own_point: false });
            points.push((overflow_key, value, start));
        }
        if cx.reset {
            // Series not observed this time are forgotten (§6.1: they are not reported either).
            memory.previous = next;
            memory.last_collect = cx.now;
        }
        if points.is_empty() {
            return None;
        }
        let data_points = points
            .into_iter()
            .map(|(key, value, start)| NumberDataPoint {
                attributes: key.iter().map(KeyValue::to_proto).collect(),
                start_time_unix_nano: match (kind, temporality) {
                    (InstrumentKind::ObservableGauge, _) => 0,
                    (_, Temporality::Delta) => window_start,
                    (_, Temporality::Cumulative) => start,
                },
                time_unix_nano: cx.now,
                value: Some(value.to_point()),
                ..Default::default()
            })
            .collect();
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

/// The series of what was observed: each set after the view's `filter`, the sets it merges
/// summed (`summed`) or the last kept; and the series in the order first observed.
fn series_of<N: Number>(
    observer: Observer<N>,
    filter: Option<&AttributeFilter>,
    summed: bool,
) -> (HashMap<SetKey, N>, Vec<SetKey>) {
    let Some(filter) = filter else { return (observer.values, observer.order) };
    let mut series: HashMap<SetKey, N> = HashMap::with_capacity(observer.order.len());
    let mut order = Vec::with_capacity(observer.order.len());
    for mut key in observer.order {
        let value = observer.values[&key];
        filter.retain(&mut key);
        if let Some(existing) = series.get_mut(&key) {
            *existing = if summed { N::plus(*existing, value) } else { value };
        } else {
            order.push(key.clone());
            series.insert(key, value);
        }
    }
    (series, order)
}

/// The series that get a point of their own under `limit` (one place is the overflow series'):
/// those that had one at the last exporting collection, then the others in `order`.
fn places<N>(order: &[SetKey], previous: &HashMap<SetKey, Previous<N>>, limit: usize) -> HashSet<SetKey> {
    let room = limit.max(1) - 1;
    if order.len() <= room {
        return order.iter().cloned().collect();
    }
    let had_one = |key: &&SetKey| previous.get(*key).is_some_and(|previous| previous.own_point);
    let (kept, others): (Vec<&SetKey>, Vec<&SetKey>) = order.iter().partition(had_one);
    kept.into_iter().chain(others).take(room).cloned().collect()
}

impl<N: Number> Collect for ObservableInstrument<N> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        let callbacks: Vec<Arc<Callback<N>>> = self.callbacks.lock().clone();
        if callbacks.is_empty() {
            return None;
        }
        if Instant::now() >= cx.deadline {
            diag::warning!(
                "metric collection ran past OTEL_METRIC_EXPORT_TIMEOUT; skipped the callbacks of {:?}",
                self.descriptor.name
            );
            return None;
        }
        let mut observer = match &self.aggregated {
            Aggregated::Observed { .. } => Observer::new(None),
            Aggregated::Histogram(histogram) => Observer::new(Some(histogram.clone())),
        };
        for callback in &callbacks {
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
            Aggregated::Observed { limit, filter, created, memory } => {
                self.points(observer, *limit, filter.as_ref(), *created, memory, cx)
            }
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
