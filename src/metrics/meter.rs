//! Meters: the registry of one instrumentation scope's instruments, and the entry points that
//! build them.

use std::any::{Any, TypeId};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::proto::common::v1::InstrumentationScope;
use crate::proto::metrics::v1::ScopeMetrics;

use super::builder::{InstrumentBuilder, ObservableBuilder};
use super::collect::{Collect, CollectContext};
use super::descriptor::{Descriptor, InstrumentKind, Temporality, TemporalityPreference};
use super::exemplar::ExemplarFilter;
use super::number::Number;
use super::sync::{Counter, Gauge, Histogram, UpDownCounter};
use super::view::{HistogramChoice, Instrument, Stream, Views};

/// An instrument's identity: its name (ignoring case), kind, number type and unit. Two
/// registrations differing in unit are two instruments, each exported as its own metric (with a
/// warning: the specification's duplicate registration); until session 42 the second's values,
/// in its own unit, were added to the first's.
type Key = (String, InstrumentKind, TypeId, String);

/// One instrument in a meter's registry.
struct Registered {
    descriptor: Descriptor,
    instrument: Arc<dyn Any + Send + Sync>,
    collect: Arc<dyn Collect>,
}

/// A meter's instruments, in the order they were made (collections follow it), found by identity
/// and by exported name: a program that makes instruments of many names (a name per venue
/// through the `metrics` bridge, say) would otherwise pay a scan of every instrument so far for
/// each.
#[derive(Default)]
struct Instruments {
    list: Vec<Registered>,
    by_key: HashMap<Key, usize>,
    /// The first instrument exported under each name (lower case; another one than its own when a
    /// view renames it).
    by_exported: HashMap<String, usize>,
}

struct MeterInner {
    scope: InstrumentationScope,
    limit: usize,
    /// False under a disabled provider: instruments record nothing and collect nothing.
    enabled: bool,
    views: Arc<Views>,
    /// The provider's: which measurements its instruments keep as exemplars.
    exemplar_filter: ExemplarFilter,
    /// The provider's temporality preference, which says which instruments are delta.
    preference: TemporalityPreference,
    /// The provider's: exporting collections a delta series may go without a point before it is
    /// evicted (`None`: never).
    delta_idle: Option<NonZeroU32>,
    instruments: Mutex<Instruments>,
}

/// Creates instruments for one instrumentation scope. Cheap to clone.
#[derive(Clone)]
pub struct Meter {
    inner: Arc<MeterInner>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("name", &self.inner.scope.name)
            .field("version", &self.inner.scope.version)
            .finish()
    }
}

impl Meter {
    pub(crate) fn new(
        scope: InstrumentationScope,
        limit: usize,
        enabled: bool,
        views: Arc<Views>,
        exemplar_filter: ExemplarFilter,
        preference: TemporalityPreference,
        delta_idle: Option<NonZeroU32>,
    ) -> Self {
        let instruments = Mutex::default();
        let inner = MeterInner { scope, limit, enabled, views, exemplar_filter, preference, delta_idle, instruments };
        Meter { inner: Arc::new(inner) }
    }

    /// After how many exporting collections without a point an instrument of `kind` evicts a
    /// series: `None` unless it is delta and the provider evicts.
    pub(crate) fn idle_limit(&self, kind: InstrumentKind) -> Option<NonZeroU32> {
        self.inner.delta_idle.filter(|_| self.is_delta(kind))
    }

    /// Whether an instrument of `kind` is delta under the provider's preference (gauges never
    /// are: a last value has no window).
    pub(crate) fn is_delta(&self, kind: InstrumentKind) -> bool {
        self.inner.preference.temporality(kind) == Temporality::Delta && kind != InstrumentKind::Gauge
    }

    /// Which measurements this meter's instruments keep as exemplars.
    pub(crate) fn exemplar_filter(&self) -> ExemplarFilter {
        self.inner.exemplar_filter
    }

    pub(crate) fn scope(&self) -> &InstrumentationScope {
        &self.inner.scope
    }

    /// The stream of an instrument of this meter, its view applied: what it exports and how it
    /// records. `histogram` is the buckets asked for in code, if any.
    pub(crate) fn stream(&self, descriptor: Descriptor, histogram: Option<HistogramChoice>) -> Stream {
        let inner = &self.inner;
        let instrument =
            Instrument { scope: &inner.scope, descriptor, histogram, limit: inner.limit, enabled: inner.enabled };
        inner.views.stream(instrument)
    }

    /// This meter's metrics, or `None` when no instrument has a point to report.
    pub(crate) fn collect(&self, cx: &CollectContext) -> Option<ScopeMetrics> {
        let instruments: Vec<Arc<dyn Collect>> =
            self.inner.instruments.lock().list.iter().map(|r| r.collect.clone()).collect();
        let metrics: Vec<_> = instruments.iter().filter_map(|i| i.collect(cx)).collect();
        (!metrics.is_empty()).then(|| ScopeMetrics {
            scope: Some(self.inner.scope.clone()),
            metrics,
            ..Default::default()
        })
    }

    /// The registered instrument of this identity, or a new one from `make`, which also says the
    /// name the new instrument is exported under.
    pub(crate) fn register<T: Any + Send + Sync>(
        &self,
        descriptor: Descriptor,
        make: impl FnOnce() -> (Arc<T>, Arc<dyn Collect>, String),
    ) -> Arc<T> {
        let key = (descriptor.name.to_ascii_lowercase(), descriptor.kind, TypeId::of::<T>(), descriptor.unit.clone());
        let mut instruments = self.inner.instruments.lock();
        let Instruments { list, by_key, by_exported } = &mut *instruments;
        if let Some(registered) = by_key.get(&key).map(|&index| &list[index]) {
            if let Ok(same) = registered.instrument.clone().downcast::<T>() {
                if registered.descriptor != descriptor {
                    crate::diag::warning!(
                        "instrument {:?} registered again with a different name case or description; \
                         using the first registration",
                        descriptor.name
                    );
                }
                return same;
            }
        }
        let (instrument, collect, exported) = make();
        let index = list.len();
        match by_exported.entry(exported.to_ascii_lowercase()) {
            Entry::Occupied(other) => crate::diag::warning!(
                "instrument {:?} is exported under the same name as instrument {:?} ({exported:?}), as another \
                 instrument, kind, number type or unit (a view may have renamed one): both are exported",
                descriptor.name,
                list[*other.get()].descriptor.name
            ),
            Entry::Vacant(place) => {
                place.insert(index);
            }
        }
        by_key.insert(key, index);
        list.push(Registered { descriptor, instrument: instrument.clone(), collect });
        instrument
    }

    fn builder<T>(&self, name: &str) -> InstrumentBuilder<'_, T> {
        InstrumentBuilder::new(self, name)
    }

    fn observable<N: Number>(&self, name: &str, kind: InstrumentKind) -> ObservableBuilder<'_, N> {
        ObservableBuilder::new(self, name, kind)
    }

    /// A counter of `u64` increments.
    pub fn u64_counter(&self, name: &str) -> InstrumentBuilder<'_, Counter<u64>> {
        self.builder(name)
    }

    /// A counter of `f64` increments.
    pub fn f64_counter(&self, name: &str) -> InstrumentBuilder<'_, Counter<f64>> {
        self.builder(name)
    }

    /// An up-down counter of `i64` changes.
    pub fn i64_up_down_counter(&self, name: &str) -> InstrumentBuilder<'_, UpDownCounter<i64>> {
        self.builder(name)
    }

    /// An up-down counter of `f64` changes.
    pub fn f64_up_down_counter(&self, name: &str) -> InstrumentBuilder<'_, UpDownCounter<f64>> {
        self.builder(name)
    }

    /// A synchronous gauge of `i64` values.
    pub fn i64_gauge(&self, name: &str) -> InstrumentBuilder<'_, Gauge<i64>> {
        self.builder(name)
    }

    /// A synchronous gauge of `f64` values.
    pub fn f64_gauge(&self, name: &str) -> InstrumentBuilder<'_, Gauge<f64>> {
        self.builder(name)
    }

    /// A histogram of `u64` values.
    pub fn u64_histogram(&self, name: &str) -> InstrumentBuilder<'_, Histogram<u64>> {
        self.builder(name)
    }

    /// A histogram of `f64` values.
    pub fn f64_histogram(&self, name: &str) -> InstrumentBuilder<'_, Histogram<f64>> {
        self.builder(name)
    }

    /// An observable counter reporting `u64` totals.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::metrics::MeterProvider;
    ///
    /// let provider = MeterProvider::builder().without_env().build();
    /// provider
    ///     .meter("gateway")
    ///     .u64_observable_counter("session.messages")
    ///     .with_callback(|observer| observer.observe(42, &[KeyValue::new("session", "FIX-1")]))
    ///     .build()
    ///     .unwrap();
    /// assert!(nanotel::prometheus::render(&provider).contains(r#"session_messages_total{session="FIX-1",otel_scope_name="gateway"} 42"#));
    /// ```
    pub fn u64_observable_counter(&self, name: &str) -> ObservableBuilder<'_, u64> {
        self.observable(name, InstrumentKind::ObservableCounter)
    }

    /// An observable counter reporting `f64` totals.
    pub fn f64_observable_counter(&self, name: &str) -> ObservableBuilder<'_, f64> {
        self.observable(name, InstrumentKind::ObservableCounter)
    }

    /// An observable up-down counter reporting `i64` totals.
    pub fn i64_observable_up_down_counter(&self, name: &str) -> ObservableBuilder<'_, i64> {
        self.observable(name, InstrumentKind::ObservableUpDownCounter)
    }

    /// An observable up-down counter reporting `f64` totals.
    pub fn f64_observable_up_down_counter(&self, name: &str) -> ObservableBuilder<'_, f64> {
        self.observable(name, InstrumentKind::ObservableUpDownCounter)
    }

    /// An observable gauge reporting `i64` values.
    pub fn i64_observable_gauge(&self, name: &str) -> ObservableBuilder<'_, i64> {
        self.observable(name, InstrumentKind::ObservableGauge)
    }

    /// An observable gauge reporting `f64` values.
    pub fn f64_observable_gauge(&self, name: &str) -> ObservableBuilder<'_, f64> {
        self.observable(name, InstrumentKind::ObservableGauge)
    }
}
