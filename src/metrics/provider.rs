//! The meter provider: configuration (temporality, cardinality limit, environment), the
//! registry of meters, and collection for the pipeline and the in-process views.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{process_env, EnvLookup, EnvReader, Lookup, NO_TIMEOUT};
use crate::export::{MetricProducer, Pipeline};
use crate::proto::common::v1::InstrumentationScope;
use crate::proto::metrics::v1::ScopeMetrics;
use crate::Signal;

use super::collect::CollectContext;
use super::collection_lock::{Busy, CollectionLock};
use super::descriptor::TemporalityPreference;
use super::exemplar::ExemplarFilter;
use super::meter::Meter;
use super::series_map::unix_nanos;
use super::static_reporting::StaticReporting;
use super::view::{HistogramAggregation, View, Views};

/// The default cardinality limit per instrument (OTLP-NOTES §6.6).
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The largest cardinality limit an instrument takes. Its table of series is made whole when the
/// instrument is built, 16 bytes per series it may keep: 16 MiB at this limit. A larger limit
/// (`usize::MAX` meant as "no limit", say) is lowered to this one and reported: before session 33
/// such a limit made a table too large to allocate (the program aborted), or, past half the
/// address space, one of four slots, in which the fifth series was searched for forever.
pub const MAX_CARDINALITY_LIMIT: usize = 1 << 20;

/// `asked` raised to 2 (one real series beside the overflow one) and lowered to
/// [`MAX_CARDINALITY_LIMIT`], which is reported as `setting`'s.
pub(crate) fn usable_cardinality_limit(asked: usize, setting: &str) -> usize {
    crate::diag::at_most(asked, MAX_CARDINALITY_LIMIT, setting).max(2)
}

/// The default number of exporting collections a delta series may report nothing before it is
/// evicted. One, as the Go and Rust SDKs do for delta streams: an idle delta series exports
/// nothing, and its next point starts at the window's start whether the series is kept or made
/// again, so evicting at once changes nothing on the wire; it frees the most room under the
/// cardinality limit, at the price of re-creating (one allocation, under the table's mutex) a
/// series that is recorded only every other interval or less often.
pub const DEFAULT_DELTA_IDLE_COLLECTIONS: u32 = 1;

/// How long observable callbacks may run per collection when no pipeline says otherwise
/// (`OTEL_METRIC_EXPORT_TIMEOUT`'s default).
const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures a [`MeterProvider`].
///
/// ```
/// use nanotel::metrics::{MeterProvider, TemporalityPreference};
///
/// let provider = MeterProvider::builder()
///     .with_env_lookup(|name| (name == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").then(|| "delta".into()))
///     .with_cardinality_limit(100)
///     .build();
/// assert_eq!(provider.temporality_preference(), TemporalityPreference::Delta);
/// ```
#[must_use = "a builder does nothing until built"]
#[derive(Default)]
pub struct MeterProviderBuilder {
    preference: Option<TemporalityPreference>,
    cardinality_limit: Option<usize>,
    views: Vec<View>,
    default_histogram: Option<HistogramAggregation>,
    exemplar_filter: Option<ExemplarFilter>,
    delta_idle_collections: Option<u32>,
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
    pub fn with_temporality(mut self, preference: TemporalityPreference) -> Self {
        self.preference = Some(preference);
        self
    }

    /// The most series one instrument keeps, the overflow series included (default 2000;
    /// values below 2 are raised to 2, so one real series fits beside the overflow one, and
    /// values above [`MAX_CARDINALITY_LIMIT`] lowered to it, with a warning on stderr).
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// Adds a view (see [`View`]): applied to every instrument it selects that is built from
    /// then on. When several views select one instrument, the first one added applies.
    pub fn with_view(mut self, view: View) -> Self {
        self.views.push(view);
        self
    }

    /// The aggregation of histograms built without `with_boundaries` or `with_exponential_buckets` (wins over
    /// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`; a view's aggregation wins over
    /// both).
    pub fn with_default_histogram_aggregation(mut self, aggregation: HistogramAggregation) -> Self {
        self.default_histogram = Some(aggregation);
        self
    }

    /// Which measurements become exemplars (wins over `OTEL_METRICS_EXEMPLAR_FILTER`; default
    /// [`ExemplarFilter::TraceBased`]).
    pub fn with_exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.exemplar_filter = Some(filter);
        self
    }

    /// How many exporting collections in a row a delta series (counters and histograms under a
    /// `delta` or `lowmemory` preference) may report nothing before it is evicted, its memory
    /// freed and its place under the cardinality limit given to new attribute sets; 0 never
    /// evicts. A series with a bound handle is never evicted. Wins over
    /// `NANOTEL_METRICS_DELTA_IDLE_COLLECTIONS`; default [`DEFAULT_DELTA_IDLE_COLLECTIONS`].
    /// Instruments that can evict pin an epoch per unbound record (see the README).
    pub fn with_delta_idle_collections(mut self, collections: u32) -> Self {
        self.delta_idle_collections = Some(collections);
        self
    }

    /// The provider.
    #[must_use]
    pub fn build(self) -> MeterProvider {
        let lookup: Lookup<'_> = self.lookup.as_deref().unwrap_or(&process_env);
        let mut env = EnvReader::new(lookup);
        let from_env = MetricsEnv::from_env(&mut env);
        crate::diag::config_problems(&env.problems);
        let delta_idle = self.delta_idle_collections.or(from_env.delta_idle).unwrap_or(DEFAULT_DELTA_IDLE_COLLECTIONS);
        MeterProvider {
            inner: Arc::new(ProviderInner {
                preference: self.preference.unwrap_or(from_env.preference),
                limit: usable_cardinality_limit(
                    self.cardinality_limit.unwrap_or(DEFAULT_CARDINALITY_LIMIT),
                    "the cardinality limit",
                ),
                exemplar_filter: self.exemplar_filter.unwrap_or(from_env.exemplar_filter),
                delta_idle: NonZeroU32::new(delta_idle),
                enabled: true,
                views: Arc::new(Views::new(self.views, self.default_histogram.unwrap_or(from_env.histogram))),
                meters: Mutex::default(),
                collecting: CollectionLock::default(),
                statics: StaticReporting::default(),
            }),
        }
    }
}

/// What a meter provider reads from the environment.
pub(crate) struct MetricsEnv {
    preference: TemporalityPreference,
    histogram: HistogramAggregation,
    exemplar_filter: ExemplarFilter,
    delta_idle: Option<u32>,
}

impl MetricsEnv {
    pub(crate) fn from_env(env: &mut EnvReader<'_>) -> MetricsEnv {
        let preference = env.choice(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            &[
                ("cumulative", TemporalityPreference::Cumulative),
                ("delta", TemporalityPreference::Delta),
                ("lowmemory", TemporalityPreference::LowMemory),
            ],
            ("cumulative", TemporalityPreference::Cumulative),
        );
        let histogram = env.choice(
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            &[
                ("explicit_bucket_histogram", HistogramAggregation::ExplicitBuckets),
                ("base2_exponential_bucket_histogram", HistogramAggregation::Base2Exponential),
            ],
            ("explicit_bucket_histogram", HistogramAggregation::ExplicitBuckets),
        );
        let exemplar_filter = env.choice(
            "OTEL_METRICS_EXEMPLAR_FILTER",
            &[
                ("trace_based", ExemplarFilter::TraceBased),
                ("always_on", ExemplarFilter::AlwaysOn),
                ("always_off", ExemplarFilter::AlwaysOff),
            ],
            ("trace_based", ExemplarFilter::TraceBased),
        );
        // At most 2^31 - 1 (`limit`'s range): the cast keeps the value.
        let delta_idle = env.limit(&["NANOTEL_METRICS_DELTA_IDLE_COLLECTIONS"]).map(|n| n as u32);
        MetricsEnv { preference, histogram, exemplar_filter, delta_idle }
    }
}

/// A provider's meters, in the order they were made (collections follow it), and by name: a
/// program that makes a meter per request under a name of its own would otherwise pay a scan of
/// every meter so far for each (30,000 new meters took 1.1 s; 16 ms with this index).
#[derive(Default)]
struct Meters {
    list: Vec<Meter>,
    by_name: HashMap<String, Vec<Meter>>,
}

struct ProviderInner {
    preference: TemporalityPreference,
    limit: usize,
    exemplar_filter: ExemplarFilter,
    /// See [`MeterProviderBuilder::with_delta_idle_collections`]; `None`: never evict.
    delta_idle: Option<NonZeroU32>,
    /// False for [`MeterProvider::disabled`].
    enabled: bool,
    views: Arc<Views>,
    meters: Mutex<Meters>,
    /// Serializes collections: delta windows must not interleave.
    collecting: CollectionLock,
    /// The [`StaticCounter`](super::StaticCounter)s it reports, if it is the installed one.
    statics: StaticReporting,
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
            .field("exemplar_filter", &self.inner.exemplar_filter)
            .finish()
    }
}

/// A [`MeterProvider`] that does not keep it alive, for [`crate::global`]: the installed set holds
/// these,
/// so that a provider's state goes when the [`Telemetry`](crate::Telemetry) and the handles made
/// from it do, even though the set itself is never freed.
pub(crate) struct WeakMeterProvider(Weak<ProviderInner>);

impl WeakMeterProvider {
    /// The provider, while anything else still holds it.
    pub(crate) fn upgrade(&self) -> Option<MeterProvider> {
        self.0.upgrade().map(|inner| MeterProvider { inner })
    }
}

impl MeterProvider {
    /// Starts (on install as the global provider) or stops (on being replaced by another
    /// install) reporting the [`StaticCounter`](super::StaticCounter)s.
    pub(crate) fn report_static_counters(&self, on: bool) {
        self.inner.statics.set(on);
    }

    /// Whether it reports the static counters (for tests).
    #[cfg(all(test, not(nanotel_loom)))]
    pub(crate) fn reports_static_counters(&self) -> bool {
        self.inner.statics.is_on()
    }

    /// A reference to this provider that does not keep it alive.
    pub(crate) fn downgrade(&self) -> WeakMeterProvider {
        WeakMeterProvider(Arc::downgrade(&self.inner))
    }
}

impl MeterProvider {
    /// A builder that starts from the defaults and the `OTEL_*` environment.
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder::default()
    }

    /// A provider whose instruments record nothing, for a disabled SDK (`OTEL_SDK_DISABLED=true`):
    /// building instruments works as usual (names are still checked), each recording returns
    /// after one branch, binding resolves no series, collection yields nothing and observable
    /// callbacks never run.
    ///
    /// ```
    /// use nanotel::metrics::MeterProvider;
    ///
    /// let provider = MeterProvider::disabled();
    /// let orders = provider.meter("gateway").u64_counter("orders").build().unwrap();
    /// orders.add(1, &[]);
    /// orders.bind(&[]).add(1);
    /// assert!(provider.collect().is_empty());
    /// ```
    #[must_use]
    pub fn disabled() -> MeterProvider {
        MeterProvider {
            inner: Arc::new(ProviderInner {
                preference: TemporalityPreference::Cumulative,
                limit: DEFAULT_CARDINALITY_LIMIT,
                exemplar_filter: ExemplarFilter::AlwaysOff,
                delta_idle: None,
                enabled: false,
                views: Arc::default(),
                meters: Mutex::default(),
                collecting: CollectionLock::default(),
                statics: StaticReporting::default(),
            }),
        }
    }

    /// Whether instruments record (false for [`MeterProvider::disabled`]).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// Which measurements become exemplars.
    #[must_use]
    pub fn exemplar_filter(&self) -> ExemplarFilter {
        self.inner.exemplar_filter
    }

    /// The temporality preference in force.
    #[must_use]
    pub fn temporality_preference(&self) -> TemporalityPreference {
        self.inner.preference
    }

    /// The meter of an instrumentation scope (the same meter for the same name).
    #[must_use]
    pub fn meter(&self, name: &str) -> Meter {
        self.meter_with_version(name, "")
    }

    /// The meter of an instrumentation scope with a version.
    #[must_use]
    pub fn meter_with_version(&self, name: &str, version: &str) -> Meter {
        let mut meters = self.inner.meters.lock();
        let mut same_name = meters.by_name.get(name).into_iter().flatten();
        if let Some(meter) = same_name.find(|meter| meter.scope().version == version) {
            return meter.clone();
        }
        let scope = InstrumentationScope { name: name.to_owned(), version: version.to_owned(), ..Default::default() };
        let meter = Meter::new(
            scope,
            self.inner.limit,
            self.inner.enabled,
            self.inner.views.clone(),
            self.inner.exemplar_filter,
            self.inner.preference,
            self.inner.delta_idle,
        );
        meters.by_name.entry(name.to_owned()).or_default().push(meter.clone());
        meters.list.push(meter.clone());
        meter
    }

    fn collect_with(&self, reset: bool, timeout: Duration) -> Vec<ScopeMetrics> {
        if !self.inner.enabled {
            return Vec::new();
        }
        // Refused only inside a collection of this provider on this thread (said on stderr).
        let Ok(_serial) = self.inner.collecting.hold() else { return Vec::new() };
        self.collect_held(reset, timeout)
    }

    /// [`collect_with`](Self::collect_with) for one of nanotel's threads, which waits for another
    /// collection only so long (see `collection_lock`): `who` names it in the line on stderr.
    pub(crate) fn collect_without_waiting_long(
        &self,
        reset: bool,
        timeout: Duration,
        who: &str,
    ) -> Result<Vec<ScopeMetrics>, Busy> {
        if !self.inner.enabled {
            return Ok(Vec::new());
        }
        let _serial = self.inner.collecting.try_hold(who)?;
        Ok(self.collect_held(reset, timeout))
    }

    /// Collects, the collection lock held.
    fn collect_held(&self, reset: bool, timeout: Duration) -> Vec<ScopeMetrics> {
        self.inner.statics.register_new(self);
        let cx = CollectContext {
            now: unix_nanos(),
            preference: self.inner.preference,
            reset,
            deadline: Instant::now() + timeout,
        };
        let meters: Vec<Meter> = self.inner.meters.lock().list.clone();
        let collected = meters.iter().filter_map(|meter| meter.collect(&cx)).collect();
        if reset {
            super::ignored_values::report_if_due(Instant::now());
        }
        collected
    }

    /// Collects every instrument for export: delta instruments start a new window. This is what
    /// the pipeline's exporter thread runs at each interval; call it yourself only to export
    /// elsewhere.
    #[expect(
        clippy::must_use_candidate,
        reason = "collecting resets delta series: not a pure query, though its result is usually used"
    )]
    pub fn collect(&self) -> Vec<ScopeMetrics> {
        self.collect_with(true, DEFAULT_CALLBACK_TIMEOUT)
    }

    /// The current values, without starting a new delta window: for in-process views. Under a
    /// delta preference, delta instruments show what accumulated since the last export.
    #[must_use]
    pub fn snapshot(&self) -> Vec<ScopeMetrics> {
        self.collect_with(false, DEFAULT_CALLBACK_TIMEOUT)
    }

    #[cfg(feature = "prometheus")]
    /// [`snapshot`](Self::snapshot) for a Prometheus scrape, which waits for another collection
    /// only so long (see `collection_lock`).
    pub(crate) fn snapshot_for_scrape(&self) -> Result<Vec<ScopeMetrics>, Busy> {
        self.collect_without_waiting_long(false, DEFAULT_CALLBACK_TIMEOUT, "a Prometheus scrape")
    }

    /// The current values as OTLP/JSON (a `MetricsData` message without a resource).
    #[must_use]
    pub fn to_json(&self) -> String {
        super::json::render(&self.snapshot())
    }

    /// A producer for [`Pipeline::add_metric_producer`]: the pipeline's exporter thread collects
    /// this provider at every metric interval (`OTEL_METRIC_EXPORT_INTERVAL`), `force_flush` and
    /// shutdown.
    #[must_use]
    pub fn producer(&self) -> MeterProviderProducer {
        MeterProviderProducer { provider: self.clone(), callback_timeout: DEFAULT_CALLBACK_TIMEOUT }
    }

    /// Registers this provider with a pipeline: its exporter thread collects it for export, with
    /// the pipeline's metric export timeout (`OTEL_METRIC_EXPORT_TIMEOUT`) as the limit on
    /// observable callbacks per collection, unless metrics are not exported
    /// ([`ExporterKind::None`](crate::export::ExporterKind::None), as when
    /// `OTEL_METRICS_EXPORTER=prometheus`). A Prometheus endpoint shows it once given it
    /// (`PrometheusServer::add_provider`; the [`Telemetry`](crate::Telemetry) does so with its own).
    ///
    /// A [disabled](MeterProvider::disabled) provider is not registered: it has nothing to show.
    pub fn attach(&self, pipeline: &Pipeline) {
        if !self.inner.enabled {
            return;
        }
        let metrics = pipeline.config().signal(Signal::Metrics);
        if metrics.exporter != crate::export::ExporterKind::None {
            pipeline.add_metric_producer(MeterProviderProducer {
                provider: self.clone(),
                callback_timeout: metrics.batch.export_timeout.min(NO_TIMEOUT),
            });
        }
    }
}

/// Collects a [`MeterProvider`] for a pipeline (see [`MeterProvider::producer`]).
pub struct MeterProviderProducer {
    provider: MeterProvider,
    callback_timeout: Duration,
}

impl MetricProducer for MeterProviderProducer {
    /// Nothing when another collection of the provider holds it past `collection_lock::WAIT`: the
    /// next interval collects what this one would have.
    fn produce(&mut self) -> Vec<ScopeMetrics> {
        let who = "the exporter's metric collection";
        self.provider.collect_without_waiting_long(true, self.callback_timeout, who).unwrap_or_default()
    }
}

// Not under loom: these collect instruments whose atomics are loom's, outside a model.
#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::attributes::KeyValue;
    use crate::proto::metrics::v1::metric::Data;
    use crate::proto::metrics::v1::number_data_point::Value as PointValue;

    fn provider(preference: TemporalityPreference) -> MeterProvider {
        MeterProvider::builder().without_env().with_temporality(preference).with_cardinality_limit(4).build()
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
        let a = meter.u64_counter("Orders").with_unit("{order}").build().unwrap();
        let b = meter.u64_counter("orders").with_unit("{order}").with_description("other").build().unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner), "name case and description do not tell instruments apart");
        // A unit does: two instruments, two metrics, neither adding to the other (until session
        // 42 the second's values, in its own unit, were added to the first's).
        let seconds = meter.f64_histogram("latency").with_unit("s").build().unwrap();
        let millis = meter.f64_histogram("latency").with_unit("ms").build().unwrap();
        assert!(!Arc::ptr_eq(&seconds.inner, &millis.inner));
        seconds.record(0.002, &[]);
        millis.record(2.0, &[]);
        let scopes = provider.collect();
        let latencies: Vec<(String, u64)> = scopes[0]
            .metrics
            .iter()
            .filter(|m| m.name == "latency")
            .map(|m| match &m.data {
                Some(Data::Histogram(h)) => (m.unit.clone(), h.data_points[0].count),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(latencies, [("s".to_owned(), 1), ("ms".to_owned(), 1)]);
        let again = provider.meter("m");
        assert!(std::ptr::eq(again.scope(), meter.scope()), "one meter per scope");
        let versions =
            [provider.meter_with_version("m", "2"), provider.meter("n"), provider.meter_with_version("m", "2")];
        assert!(!std::ptr::eq(versions[0].scope(), meter.scope()), "a version is a scope of its own");
        assert!(std::ptr::eq(versions[2].scope(), versions[0].scope()));
        assert_eq!(versions[1].scope().name, "n");
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

    /// `usize::MAX` as "no limit", from the provider or a view: lowered to the largest limit,
    /// and every series is kept (it once overflowed a multiplication: in a release build a table
    /// of four slots, and a search for a fifth series that never ended).
    #[test]
    fn a_limit_past_the_largest_is_lowered_and_every_series_kept() {
        let provider = MeterProvider::builder()
            .without_env()
            .with_cardinality_limit(usize::MAX)
            .with_view(View::new("viewed").with_cardinality_limit(usize::MAX))
            .build();
        assert_eq!(provider.inner.limit, MAX_CARDINALITY_LIMIT);
        let meter = provider.meter("m");
        for name in ["plain", "viewed"] {
            let counter = meter.u64_counter(name).build().unwrap();
            for i in 0..10 {
                counter.add(1, &[KeyValue::new("i", i)]);
            }
            assert_eq!(sum_points(&provider.collect(), name).len(), 10, "{name}: every series kept");
        }
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
            .with_temporality(TemporalityPreference::Cumulative)
            .build();
        assert_eq!(coded.temporality_preference(), TemporalityPreference::Cumulative, "code wins");
    }

    #[test]
    fn the_delta_idle_collections_come_from_the_environment_or_code() {
        let with = |value: &'static str| {
            let provider = MeterProvider::builder()
                .with_env_lookup(move |name| {
                    (name == "NANOTEL_METRICS_DELTA_IDLE_COLLECTIONS").then(|| value.to_owned())
                })
                .build();
            provider.inner.delta_idle.map(NonZeroU32::get)
        };
        assert_eq!(with(""), Some(DEFAULT_DELTA_IDLE_COLLECTIONS), "an empty value is unset");
        assert_eq!(with("3"), Some(3));
        assert_eq!(with("0"), None, "0 never evicts");
        assert_eq!(with("-1"), Some(DEFAULT_DELTA_IDLE_COLLECTIONS), "a bad value falls back to the default");
        let coded =
            MeterProvider::builder().with_env_lookup(|_| Some("5".into())).with_delta_idle_collections(0).build();
        assert_eq!(coded.inner.delta_idle, None, "code wins");
        assert_eq!(MeterProvider::disabled().inner.delta_idle, None);
    }

    #[test]
    fn the_exemplar_filter_comes_from_the_environment_or_code() {
        let with = |value: &'static str| {
            MeterProvider::builder()
                .with_env_lookup(move |name| (name == "OTEL_METRICS_EXEMPLAR_FILTER").then(|| value.to_owned()))
                .build()
                .exemplar_filter()
        };
        assert_eq!(with(""), ExemplarFilter::TraceBased, "the default");
        assert_eq!(with("ALWAYS_ON"), ExemplarFilter::AlwaysOn);
        assert_eq!(with("always_off"), ExemplarFilter::AlwaysOff);
        assert_eq!(with("sometimes"), ExemplarFilter::TraceBased, "a bad value falls back to the default");
        let coded = MeterProvider::builder()
            .with_env_lookup(|_| Some("always_off".into()))
            .with_exemplar_filter(ExemplarFilter::AlwaysOn)
            .build();
        assert_eq!(coded.exemplar_filter(), ExemplarFilter::AlwaysOn, "code wins");
        assert_eq!(MeterProvider::disabled().exemplar_filter(), ExemplarFilter::AlwaysOff);
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

    /// A callback that collects its own provider gets nothing back, where it waited for itself
    /// for ever; the collection it runs in goes on.
    #[test]
    fn a_collection_inside_a_collection_of_the_same_provider_returns_nothing_at_once() {
        let provider = provider(TemporalityPreference::Cumulative);
        let inner = Arc::new(Mutex::new(None));
        let (seen, weak) = (inner.clone(), provider.downgrade());
        provider
            .meter("m")
            .i64_observable_gauge("g")
            .with_callback(move |o| {
                let nested = weak.upgrade().map(|provider| (provider.snapshot().len(), provider.to_json()));
                *seen.lock() = nested;
                o.observe(1, &[]);
            })
            .build()
            .unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let collecting = provider.clone();
        std::thread::spawn(move || done.send(collecting.collect().len()));
        let outer = finished.recv_timeout(Duration::from_secs(10)).expect("the collection ended");
        assert_eq!(outer, 1, "the outer collection has its scope");
        assert_eq!(*inner.lock(), Some((0, super::super::json::render(&[]))), "the inner ones: nothing");
        assert_eq!(provider.collect().len(), 1, "the lock was let go");
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
