//! The meter provider (configuration, the registry of meters, collection) and meters (the
//! registry of instruments and their builders).

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{EnvReader, NO_TIMEOUT};
use crate::export::{MetricProducer, Pipeline};
use crate::proto::common::v1::InstrumentationScope;
use crate::proto::metrics::v1::ScopeMetrics;
use crate::Signal;

use super::collect::{Collect, CollectContext};
use super::descriptor::{
    check_boundaries, check_name, check_unit, Descriptor, InstrumentError, InstrumentKind, TemporalityPreference,
};
use super::exponential_cells::ExpoCells;
use super::gauge::GaugeCell;
use super::histogram::{HistogramCells, DEFAULT_BOUNDARIES};
use super::number::Number;
use super::observable::{Callback, Observable, ObservableInstrument, Observer};
use super::series_map::unix_nanos;
use super::sum::SumCells;
use super::sync::{Counter, Gauge, Histogram, HistogramKind, SyncInstrument, UpDownCounter};

/// The default cardinality limit per instrument (OTLP-NOTES §6.6).
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// How long observable callbacks may run per collection when no pipeline says otherwise
/// (`OTEL_METRIC_EXPORT_TIMEOUT`'s default).
const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// Configures a [`MeterProvider`].
///
/// ```
/// use nanotel::metrics::{MeterProvider, TemporalityPreference};
///
/// let provider = MeterProvider::builder()
///     .with_env_lookup(|name| (name == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").then(|| "delta".into()))
///     .cardinality_limit(100)
///     .build();
/// assert_eq!(provider.temporality_preference(), TemporalityPreference::Delta);
/// ```
#[derive(Default)]
pub struct MeterProviderBuilder {
    preference: Option<TemporalityPreference>,
    cardinality_limit: Option<usize>,
    lookup: Option<EnvLookup>,
}

impl MeterProviderBuilder {
    /// Ignores the process environment: only defaults and what is set in code apply.
    pub fn without_env(self) -> Self {
        self.with_env_lookup(|_| None)
    }

    /// Reads `OTEL_*` variables through `lookup` instead of the process environment.
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.lookup = Some(Box::new(lookup));
        self
    }

    /// The temporality preference (wins over
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    pub fn temporality(mut self, preference: TemporalityPreference) -> Self {
        self.preference = Some(preference);
        self
    }

    /// The most series one instrument keeps, the overflow series included (default 2000;
    /// values below 2 are raised to 2, so one real series fits beside the overflow one).
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// The provider.
    pub fn build(self) -> MeterProvider {
        let process_env = |name: &str| std::env::var(name).ok();
        let lookup: &dyn Fn(&str) -> Option<String> = match &self.lookup {
            Some(lookup) => lookup.as_ref(),
            None => &process_env,
        };
        let mut env = EnvReader::new(lookup);
        let from_env = env.choice(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            &[
                ("cumulative", TemporalityPreference::Cumulative),
                ("delta", TemporalityPreference::Delta),
                ("lowmemory", TemporalityPreference::LowMemory),
            ],
            ("cumulative", TemporalityPreference::Cumulative),
        );
        for problem in &env.problems {
            crate::diag::warning!("{problem}");
        }
        MeterProvider {
            inner: Arc::new(ProviderInner {
                preference: self.preference.unwrap_or(from_env),
                limit: self.cardinality_limit.unwrap_or(DEFAULT_CARDINALITY_LIMIT).max(2),
                meters: Mutex::new(Vec::new()),
                collecting: Mutex::new(()),
            }),
        }
    }
}

struct ProviderInner {
    preference: TemporalityPreference,
    limit: usize,
    meters: Mutex<Vec<Meter>>,
    /// Serializes collections: delta windows must not interleave.
    collecting: Mutex<()>,
}

/// The entry point of metrics: hands out [`Meter`]s and collects everything they record.
/// Cheap to clone (all clones share one registry).
///
/// ```
/// use nanotel::metrics::MeterProvider;
///
/// let provider = MeterProvider::builder().without_env().build();
/// let meter = provider.meter_with_version("gateway", "1.4.0");
/// let fills = meter.u64_counter("fills").build().unwrap();
/// fills.add(5, &[]);
/// let scopes = provider.collect();
/// assert_eq!(scopes[0].scope.as_ref().unwrap().version, "1.4.0");
/// assert_eq!(scopes[0].metrics[0].name, "fills");
/// ```
#[derive(Clone)]
pub struct MeterProvider {
    inner: Arc<ProviderInner>,
}

impl std::fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterProvider")
            .field("preference", &self.inner.preference)
            .field("cardinality_limit", &self.inner.limit)
            .finish()
    }
}

impl MeterProvider {
    /// A builder that starts from the defaults and the `OTEL_*` environment.
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder::default()
    }

    /// The temporality preference in force.
    pub fn temporality_preference(&self) -> TemporalityPreference {
        self.inner.preference
    }

    /// The meter of an instrumentation scope (the same meter for the same name).
    pub fn meter(&self, name: &str) -> Meter {
        self.meter_with_version(name, "")
    }

    /// The meter of an instrumentation scope with a version.
    pub fn meter_with_version(&self, name: &str, version: &str) -> Meter {
        let mut meters = self.inner.meters.lock();
        if let Some(meter) = meters.iter().find(|m| m.inner.scope.name == name && m.inner.scope.version == version) {
            return meter.clone();
        }
        let meter = Meter {
            inner: Arc::new(MeterInner {
                scope: InstrumentationScope {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    ..Default::default()
                },
                limit: self.inner.limit,
                instruments: Mutex::new(Vec::new()),
            }),
        };
        meters.push(meter.clone());
        meter
    }

    fn collect_with(&self, reset: bool, timeout: Duration) -> Vec<ScopeMetrics> {
        let _serial = self.inner.collecting.lock();
        let cx = CollectContext {
            now: unix_nanos(),
            preference: self.inner.preference,
            reset,
            deadline: Instant::now() + timeout,
        };
        let meters: Vec<Meter> = self.inner.meters.lock().clone();
        meters
            .iter()
            .filter_map(|meter| {
                let instruments: Vec<Arc<dyn Collect>> =
                    meter.inner.instruments.lock().iter().map(|r| r.collect.clone()).collect();
                let metrics: Vec<_> = instruments.iter().filter_map(|i| i.collect(&cx)).collect();
                (!metrics.is_empty()).then(|| ScopeMetrics {
                    scope: Some(meter.inner.scope.clone()),
                    metrics,
                    ..Default::default()
                })
            })
            .collect()
    }

    /// Collects every instrument for export: delta instruments start a new window. This is what
    /// the pipeline's exporter thread runs at each interval; call it yourself only to export
    /// elsewhere.
    pub fn collect(&self) -> Vec<ScopeMetrics> {
        self.collect_with(true, DEFAULT_CALLBACK_TIMEOUT)
    }

    /// The current values, without starting a new delta window: for in-process views. Under a
    /// delta preference, delta instruments show what accumulated since the last export.
    pub fn snapshot(&self) -> Vec<ScopeMetrics> {
        self.collect_with(false, DEFAULT_CALLBACK_TIMEOUT)
    }

    /// The current values as Prometheus text exposition format 0.0.4 (see
    /// [`prometheus`](super::prometheus) for the translation).
    pub fn to_prometheus(&self) -> String {
        super::prometheus::render(&self.snapshot())
    }

    /// The current values as OTLP/JSON (a `MetricsData` message without a resource).
    pub fn to_json(&self) -> String {
        super::json::render(&self.snapshot())
    }

    /// A producer for [`Pipeline::add_metric_producer`]: the pipeline's exporter thread collects
    /// this provider at every metric interval (`OTEL_METRIC_EXPORT_INTERVAL`), force_flush and
    /// shutdown.
    pub fn producer(&self) -> MeterProviderProducer {
        MeterProviderProducer { provider: self.clone(), callback_timeout: DEFAULT_CALLBACK_TIMEOUT }
    }

    /// Registers this provider with a pipeline, with the pipeline's metric export timeout
    /// (`OTEL_METRIC_EXPORT_TIMEOUT`) as the limit on observable callbacks per collection.
    pub fn attach(&self, pipeline: &Pipeline) {
        let timeout = pipeline.config().signal(Signal::Metrics).batch.export_timeout;
        pipeline.add_metric_producer(MeterProviderProducer {
            provider: self.clone(),
            callback_timeout: timeout.min(NO_TIMEOUT),
        });
    }
}

/// Collects a [`MeterProvider`] for a pipeline (see [`MeterProvider::producer`]).
pub struct MeterProviderProducer {
    provider: MeterProvider,
    callback_timeout: Duration,
}

impl MetricProducer for MeterProviderProducer {
    fn produce(&mut self) -> Vec<ScopeMetrics> {
        self.provider.collect_with(true, self.callback_timeout)
    }
}

struct Registered {
    /// The identity of an instrument: its name without case, kind, and Rust type.
    key: (String, InstrumentKind, TypeId),
    descriptor: Descriptor,
    instrument: Arc<dyn Any + Send + Sync>,
    collect: Arc<dyn Collect>,
}

struct MeterInner {
    scope: InstrumentationScope,
    limit: usize,
    instruments: Mutex<Vec<Registered>>,
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

/// Settings of an instrument being built.
#[derive(Clone, Debug)]
struct Spec {
    name: String,
    unit: String,
    description: String,
    boundaries: Option<Vec<f64>>,
    exponential: bool,
}

/// Builds one instrument; `T` is what [`build`](InstrumentBuilder::build) returns.
#[must_use = "an instrument builder does nothing until built"]
pub struct InstrumentBuilder<'m, T> {
    meter: &'m Meter,
    spec: Spec,
    _instrument: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for InstrumentBuilder<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.spec.fmt(f)
    }
}

impl<T> InstrumentBuilder<'_, T> {
    /// The unit (UCUM, e.g. `s`, `By`, `{order}`).
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.spec.unit = unit.into();
        self
    }

    /// The description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.spec.description = description.into();
        self
    }

    fn check(&self) -> Result<(), InstrumentError> {
        check_name(&self.spec.name)?;
        check_unit(&self.spec.name, &self.spec.unit)?;
        if let Some(bounds) = &self.spec.boundaries {
            check_boundaries(&self.spec.name, bounds)?;
        }
        Ok(())
    }

    fn sync<A: Send + Sync + 'static, N: Number>(
        self,
        kind: InstrumentKind,
        make: impl Fn() -> A + Send + Sync + 'static,
    ) -> Result<Arc<SyncInstrument<A, N>>, InstrumentError>
    where
        SyncInstrument<A, N>: Collect,
    {
        self.check()?;
        let limit = self.meter.inner.limit;
        let descriptor = descriptor(kind, &self.spec);
        Ok(self.meter.register(descriptor.clone(), || {
            let instrument = Arc::new(SyncInstrument::<A, N>::new(descriptor, limit, make));
            (instrument.clone(), instrument as Arc<dyn Collect>)
        }))
    }
}

impl<N: Number> InstrumentBuilder<'_, Counter<N>> {
    /// The counter, or the one built before under the same name (ignoring case) and type.
    pub fn build(self) -> Result<Counter<N>, InstrumentError> {
        Ok(Counter { inner: self.sync(InstrumentKind::Counter, SumCells::new)? })
    }
}

impl<N: Number> InstrumentBuilder<'_, UpDownCounter<N>> {
    /// The up-down counter, or the one built before under the same name and type.
    pub fn build(self) -> Result<UpDownCounter<N>, InstrumentError> {
        Ok(UpDownCounter { inner: self.sync(InstrumentKind::UpDownCounter, SumCells::new)? })
    }
}

impl<N: Number> InstrumentBuilder<'_, Gauge<N>> {
    /// The gauge, or the one built before under the same name and type.
    pub fn build(self) -> Result<Gauge<N>, InstrumentError> {
        Ok(Gauge { inner: self.sync(InstrumentKind::Gauge, GaugeCell::new)? })
    }
}

impl<N: Number> InstrumentBuilder<'_, Histogram<N>> {
    /// Explicit bucket boundaries instead of the specification's default ones (finite, strictly
    /// increasing; checked by [`build`](Self::build)).
    pub fn with_boundaries(mut self, boundaries: Vec<f64>) -> Self {
        self.spec.boundaries = Some(boundaries);
        self
    }

    /// Base-2 exponential buckets (at most 160 per sign, scale at most 20) instead of explicit
    /// ones.
    pub fn exponential(mut self) -> Self {
        self.spec.exponential = true;
        self
    }

    /// The histogram, or the one built before under the same name and type (which keeps its
    /// own buckets).
    pub fn build(self) -> Result<Histogram<N>, InstrumentError> {
        let bounds: Arc<[f64]> = self.spec.boundaries.clone().unwrap_or_else(|| DEFAULT_BOUNDARIES.to_vec()).into();
        let inner = if self.spec.exponential {
            self.sync(InstrumentKind::Histogram, || HistogramKind::Exponential(Box::new(ExpoCells::new())))?
        } else {
            self.sync(InstrumentKind::Histogram, move || {
                HistogramKind::Explicit(HistogramCells::new::<N>(bounds.clone()))
            })?
        };
        Ok(Histogram { inner })
    }
}

/// Builds one observable instrument.
#[must_use = "an instrument builder does nothing until built"]
pub struct ObservableBuilder<'m, N: Number> {
    meter: &'m Meter,
    spec: Spec,
    kind: InstrumentKind,
    callbacks: Vec<Callback<N>>,
}

impl<N: Number> std::fmt::Debug for ObservableBuilder<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservableBuilder").field("spec", &self.spec).field("kind", &self.kind).finish()
    }
}

impl<N: Number> ObservableBuilder<'_, N> {
    /// The unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.spec.unit = unit.into();
        self
    }

    /// The description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.spec.description = description.into();
        self
    }

    /// A callback run at each collection, on the collecting thread (the exporter thread once
    /// attached to a pipeline). Counters report their cumulative total; gauges their current
    /// value.
    pub fn with_callback(mut self, callback: impl Fn(&mut Observer<N>) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Registers the instrument. Building the same name (ignoring case), kind and type again
    /// returns the first instrument, which keeps its own callbacks.
    pub fn build(self) -> Result<Observable<N>, InstrumentError> {
        check_name(&self.spec.name)?;
        check_unit(&self.spec.name, &self.spec.unit)?;
        let descriptor = descriptor(self.kind, &self.spec);
        let limit = self.meter.inner.limit;
        let callbacks = self.callbacks;
        let inner = self.meter.register(descriptor.clone(), || {
            let instrument = Arc::new(ObservableInstrument::new(descriptor, callbacks, limit));
            (instrument.clone(), instrument as Arc<dyn Collect>)
        });
        Ok(Observable::new(inner))
    }
}

fn descriptor(kind: InstrumentKind, spec: &Spec) -> Descriptor {
    Descriptor { kind, name: spec.name.clone(), unit: spec.unit.clone(), description: spec.description.clone() }
}

impl Meter {
    /// The registered instrument of this identity, or a new one from `make`.
    fn register<T: Any + Send + Sync>(
        &self,
        descriptor: Descriptor,
        make: impl FnOnce() -> (Arc<T>, Arc<dyn Collect>),
    ) -> Arc<T> {
        let key = (descriptor.name.to_ascii_lowercase(), descriptor.kind, TypeId::of::<T>());
        let mut instruments = self.inner.instruments.lock();
        for registered in instruments.iter() {
            if registered.key == key {
                if let Ok(same) = registered.instrument.clone().downcast::<T>() {
                    if registered.descriptor != descriptor {
                        crate::diag::warning!(
                            "instrument {:?} registered again with a different name case, unit or description; \
                             using the first registration",
                            descriptor.name
                        );
                    }
                    return same;
                }
            }
            if registered.key.0 == key.0 {
                crate::diag::warning!(
                    "instrument {:?} registered again as another kind or number type; both are exported \
                     under the same name",
                    descriptor.name
                );
            }
        }
        let (instrument, collect) = make();
        instruments.push(Registered { key, descriptor, instrument: instrument.clone(), collect });
        instrument
    }

    fn builder<T>(&self, name: &str) -> InstrumentBuilder<'_, T> {
        InstrumentBuilder {
            meter: self,
            spec: Spec {
                name: name.to_owned(),
                unit: String::new(),
                description: String::new(),
                boundaries: None,
                exponential: false,
            },
            _instrument: PhantomData,
        }
    }

    fn observable<N: Number>(&self, name: &str, kind: InstrumentKind) -> ObservableBuilder<'_, N> {
        let InstrumentBuilder { spec, .. } = self.builder::<()>(name);
        ObservableBuilder { meter: self, spec, kind, callbacks: Vec::new() }
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
    /// assert!(provider.to_prometheus().contains(r#"session_messages_total{session="FIX-1",otel_scope_name="gateway"} 42"#));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::KeyValue;
    use crate::proto::metrics::v1::metric::Data;
    use crate::proto::metrics::v1::number_data_point::Value as PointValue;

    fn provider(preference: TemporalityPreference) -> MeterProvider {
        MeterProvider::builder().without_env().temporality(preference).cardinality_limit(4).build()
    }

    fn sum_points(scopes: &[ScopeMetrics], name: &str) -> Vec<(usize, PointValue, u64)> {
        let metric = scopes.iter().flat_map(|s| &s.metrics).find(|m| m.name == name);
        match metric.and_then(|m| m.data.as_ref()) {
            Some(Data::Sum(sum)) => sum
                .data_points
                .iter()
                .map(|p| (p.attributes.len(), p.value.unwrap_or(PointValue::AsInt(-999)), p.start_time_unix_nano))
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn same_instrument_twice_is_the_same_instrument() {
        let provider = provider(TemporalityPreference::Cumulative);
        let meter = provider.meter("m");
        let a = meter.u64_counter("Orders").build().unwrap();
        let b = meter.u64_counter("orders").with_unit("{order}").build().unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!(Arc::ptr_eq(&provider.meter("m").inner, &meter.inner));
        let err = meter.u64_counter("1st").build().unwrap_err();
        assert!(err.to_string().contains("must start with an ASCII letter"), "{err}");
        assert!(meter.f64_histogram("h").with_boundaries(vec![2.0, 1.0]).build().is_err());
    }

    #[test]
    fn delta_reports_changes_and_cumulative_totals() {
        for preference in [TemporalityPreference::Cumulative, TemporalityPreference::Delta] {
            let provider = provider(preference);
            let counter = provider.meter("m").u64_counter("c").build().unwrap();
            counter.add(2, &[]);
            let first = provider.collect();
            counter.add(3, &[]);
            // A snapshot does not start a new window.
            let _ = provider.snapshot();
            let second = provider.collect();
            let (_, value, start_2) = sum_points(&second, "c")[0];
            let (_, _, start_1) = sum_points(&first, "c")[0];
            if preference == TemporalityPreference::Delta {
                assert_eq!(value, PointValue::AsInt(3));
                assert!(start_2 > start_1, "the second window starts at the first collection");
                assert!(provider.collect().is_empty(), "no change, no delta point");
            } else {
                assert_eq!(value, PointValue::AsInt(5));
                assert_eq!(start_1, start_2);
            }
        }
    }

    #[test]
    fn overflow_series_takes_everything_past_the_limit() {
        let provider = provider(TemporalityPreference::Cumulative);
        let counter = provider.meter("m").u64_counter("c").build().unwrap();
        for i in 0..10 {
            counter.add(1, &[KeyValue::new("i", i)]);
        }
        let points = sum_points(&provider.collect(), "c");
        assert_eq!(points.len(), 4, "three series plus the overflow one");
        let total: i64 = points.iter().map(|(_, v, _)| if let PointValue::AsInt(v) = v { *v } else { 0 }).sum();
        assert_eq!(total, 10);
        assert!(points.contains(&(1, PointValue::AsInt(7), points[3].2)));
    }

    #[test]
    fn temporality_preference_comes_from_the_environment() {
        let with = |value: &'static str| {
            MeterProvider::builder()
                .with_env_lookup(move |name| {
                    (name == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").then(|| value.to_owned())
                })
                .build()
                .temporality_preference()
        };
        assert_eq!(with("DELTA"), TemporalityPreference::Delta);
        assert_eq!(with("lowmemory"), TemporalityPreference::LowMemory);
        assert_eq!(with("sideways"), TemporalityPreference::Cumulative, "a bad value falls back to the default");
        let coded = MeterProvider::builder()
            .with_env_lookup(|_| Some("delta".into()))
            .temporality(TemporalityPreference::Cumulative)
            .build();
        assert_eq!(coded.temporality_preference(), TemporalityPreference::Cumulative, "code wins");
    }

    #[test]
    fn json_view_is_otlp_json() {
        let provider = provider(TemporalityPreference::Cumulative);
        provider.meter("m").i64_gauge("g").build().unwrap().record(-3, &[KeyValue::new("k", "v")]);
        let json = provider.to_json();
        let data: crate::proto::metrics::v1::MetricsData = serde_json::from_str(&json).unwrap();
        let point = match data.resource_metrics[0].scope_metrics[0].metrics[0].data.as_ref() {
            Some(Data::Gauge(g)) => g.data_points[0].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(point.value, Some(PointValue::AsInt(-3)));
        assert!(json.contains(r#""asInt":"-3""#), "{json}");
    }

    #[test]
    fn callbacks_are_skipped_past_the_deadline_and_overflow_past_the_limit() {
        let provider = provider(TemporalityPreference::Cumulative);
        provider
            .meter("m")
            .i64_observable_gauge("g")
            .with_callback(|o| (0..10).for_each(|i| o.observe(i, &[KeyValue::new("i", i)])))
            .build()
            .unwrap();
        let scopes = provider.collect_with(true, Duration::from_secs(5));
        let Some(Data::Gauge(gauge)) = scopes[0].metrics[0].data.as_ref() else { panic!("a gauge") };
        assert_eq!(gauge.data_points.len(), 4, "three sets and the overflow one");
        assert_eq!(gauge.data_points[3].value, Some(PointValue::AsInt(9)), "a gauge's overflow keeps the last value");
        assert!(provider.collect_with(true, Duration::ZERO).is_empty(), "past the deadline: skipped");
    }

    #[test]
    fn observable_counters_subtract_under_delta() {
        let provider = provider(TemporalityPreference::Delta);
        let total = Arc::new(std::sync::atomic::AtomicU64::new(10));
        let seen = total.clone();
        provider
            .meter("m")
            .u64_observable_counter("o")
            .with_callback(move |o| o.observe(seen.load(std::sync::atomic::Ordering::Relaxed), &[]))
            .build()
            .unwrap();
        assert_eq!(sum_points(&provider.collect(), "o")[0].1, PointValue::AsInt(10));
        total.store(15, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(sum_points(&provider.collect(), "o")[0].1, PointValue::AsInt(5));
    }
}
