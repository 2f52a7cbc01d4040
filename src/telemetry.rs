//! One-call set-up: the export pipeline and the metric and trace providers attached to it, and
//! the Prometheus endpoint when one is asked for, from the `OTEL_*` environment and settings made
//! in code, behind one guard that flushes and shuts everything down when dropped.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{process_env, EnvReader, Lookup};
use crate::export::{
    resolve_config, ConfigError, ExporterKind, FlushError, Overrides, Pipeline, PipelineBuilder, PrometheusConfig,
    ShutdownReport, Snapshot, DEFAULT_SHUTDOWN_TIMEOUT,
};
use crate::logs::{LogLimits, Logger, LoggerProvider, LoggerProviderBuilder};
use crate::metrics::{Meter, MeterProvider, MeterProviderBuilder, MetricsEnv, TemporalityPreference};
#[cfg(feature = "prometheus")]
use crate::prometheus::PrometheusServer;
use crate::propagation::CompositePropagator;
use crate::proto::common::v1::{any_value, AnyValue, KeyValue as OtlpKeyValue};
use crate::resource::ResourceBuilder;
use crate::trace::{Sampler, SpanLimits, Tracer, TracerProvider, TracerProviderBuilder};
use crate::Signal;

/// Sets up telemetry from the `OTEL_*` environment and the defaults: the same as
/// `nanotel::builder().build()`.
///
/// Keep the returned [`Telemetry`] alive for as long as the program records: dropping it flushes
/// what is queued and stops the exporter thread. With `OTEL_SDK_DISABLED=true` no thread starts
/// and every instrument and span is a no-op. Its providers are also reachable through
/// [`global`](crate::global) until then, for code that is handed no handle.
///
/// ```
/// use nanotel::attributes::KeyValue;
/// # let collector = nanotel_testing::TestCollector::start().unwrap();
/// # std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint());
///
/// let telemetry = nanotel::init()?;
/// let orders = telemetry.meter("gateway").u64_counter("orders").with_unit("{order}").build()?;
/// let xnas = orders.bind(&[KeyValue::new("venue", "XNAS")]);
/// let tracer = telemetry.tracer("gateway");
/// tracer.in_span("order", |span| {
///     xnas.add(1);
///     span.add_event("sent", []);
/// });
/// let report = telemetry.shutdown(std::time::Duration::from_secs(5));
/// assert_eq!(report.accounting.traces.exported, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// An [`InitError`] as [`TelemetryBuilder::build`] returns one.
pub fn init() -> Result<Telemetry, InitError> {
    builder().build()
}

/// A builder for [`Telemetry`] with settings made in code, which win over the environment.
pub fn builder() -> TelemetryBuilder {
    TelemetryBuilder::default()
}

/// A replacement for the process environment, shared by every part being configured.
type SharedLookup = Arc<dyn Fn(&str) -> Option<String>>;

type Configure<B> = Box<dyn FnOnce(B) -> B>;

/// Configures [`Telemetry`]: the environment it reads, the resource, and any setting of the
/// pipeline, meter, tracer and logger provider builders.
///
/// ```
/// use std::time::Duration;
/// use nanotel::export::Compression;
/// use nanotel::metrics::TemporalityPreference;
/// use nanotel::resource::ResourceBuilder;
/// use nanotel::trace::Sampler;
/// use nanotel::Signal;
///
/// let collector = nanotel_testing::TestCollector::start().unwrap();
/// let telemetry = nanotel::builder()
///     .without_env()
///     .with_service_name("order-gateway")
///     .with_resource(ResourceBuilder::new().with_service_version("1.4.0"))
///     .with_endpoint(collector.endpoint())
///     .with_sampler(Sampler::parent_based(Sampler::TraceIdRatioBased(0.5)))
///     .with_temporality(TemporalityPreference::Delta)
///     .configure_pipeline(|pipeline| pipeline.with_compression(Compression::None).with_timeout(Duration::from_secs(2)))
///     .build()
///     .unwrap();
/// let url = telemetry.pipeline().unwrap().config().signal(Signal::Traces).url();
/// assert_eq!(url, format!("{}/v1/traces", collector.endpoint()));
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until built"]
pub struct TelemetryBuilder {
    lookup: Option<SharedLookup>,
    disabled: Option<bool>,
    service_name: Option<String>,
    resource: Option<ResourceBuilder>,
    endpoint: Option<String>,
    sampler: Option<Sampler>,
    propagator: Option<CompositePropagator>,
    temporality: Option<TemporalityPreference>,
    pipeline: Vec<Configure<PipelineBuilder>>,
    metrics: Vec<Configure<MeterProviderBuilder>>,
    traces: Vec<Configure<TracerProviderBuilder>>,
    logs: Vec<Configure<LoggerProviderBuilder>>,
    install_global: Option<bool>,
    prometheus: Option<PrometheusConfig>,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("disabled", &self.disabled)
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field("sampler", &self.sampler)
            .field("propagator", &self.propagator)
            .field("temporality", &self.temporality)
            .field("install_global", &self.install_global)
            .field("prometheus", &self.prometheus)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// Ignores the process environment: only defaults and what is set in code apply.
    pub fn without_env(self) -> Self {
        self.with_env_lookup(|_| None)
    }

    /// Reads every `OTEL_*` variable through `lookup` instead of the process environment (for
    /// tests, or a program that keeps its configuration elsewhere).
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.lookup = Some(Arc::new(lookup));
        self
    }

    /// Switches the whole SDK off (`true`) or on (`false`), whatever `OTEL_SDK_DISABLED` says.
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// The resource's `service.name` (wins over `OTEL_SERVICE_NAME`).
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The resource's attributes set in code; detection, `OTEL_RESOURCE_ATTRIBUTES` and
    /// `OTEL_SERVICE_NAME` apply around them as [`ResourceBuilder::build_with_env`] says.
    pub fn with_resource(mut self, resource: ResourceBuilder) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The base URL of the OTLP/HTTP collector (wins over `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn with_endpoint(mut self, base: impl Into<String>) -> Self {
        self.endpoint = Some(base.into());
        self
    }

    /// The sampler (wins over `OTEL_TRACES_SAMPLER`).
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// The propagators [`Telemetry::propagator`] gives (wins over `OTEL_PROPAGATORS`).
    pub fn with_propagator(mut self, propagator: CompositePropagator) -> Self {
        self.propagator = Some(propagator);
        self
    }

    /// The metrics' temporality preference (wins over
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    pub fn with_temporality(mut self, preference: TemporalityPreference) -> Self {
        self.temporality = Some(preference);
        self
    }

    /// Any other setting of the export pipeline (headers, batching, retries, exporters, the
    /// Prometheus endpoint, ...), applied after those above.
    pub fn configure_pipeline(mut self, configure: impl FnOnce(PipelineBuilder) -> PipelineBuilder + 'static) -> Self {
        self.pipeline.push(Box::new(configure));
        self
    }

    /// Any other setting of the meter provider (such as the cardinality limit).
    pub fn configure_metrics(
        mut self,
        configure: impl FnOnce(MeterProviderBuilder) -> MeterProviderBuilder + 'static,
    ) -> Self {
        self.metrics.push(Box::new(configure));
        self
    }

    /// Any other setting of the tracer provider (span limits, ring capacity).
    pub fn configure_traces(
        mut self,
        configure: impl FnOnce(TracerProviderBuilder) -> TracerProviderBuilder + 'static,
    ) -> Self {
        self.traces.push(Box::new(configure));
        self
    }

    /// Any other setting of the logger provider (limits, minimum severity, buffer capacity).
    pub fn configure_logs(
        mut self,
        configure: impl FnOnce(LoggerProviderBuilder) -> LoggerProviderBuilder + 'static,
    ) -> Self {
        self.logs.push(Box::new(configure));
        self
    }

    /// Whether [`build`](Self::build) installs the providers as the [`global`](crate::global)
    /// ones (default `true`): a program that runs two `Telemetry` at once, or a test that must not
    /// touch the process-wide state, says `false`.
    pub fn with_install_global(mut self, install: bool) -> Self {
        self.install_global = Some(install);
        self
    }

    /// Serves a Prometheus scrape endpoint at `host`:`port` (port 0 picks a free one; see
    /// `Telemetry::prometheus`, with the `prometheus` feature), as `prometheus` in
    /// `OTEL_METRICS_EXPORTER` does, at this place rather than `OTEL_EXPORTER_PROMETHEUS_HOST`:
    /// `OTEL_EXPORTER_PROMETHEUS_PORT`. Served only when nanotel is built with its `prometheus`
    /// feature.
    pub fn with_prometheus(mut self, host: impl Into<String>, port: u16) -> Self {
        self.prometheus = Some(PrometheusConfig { host: host.into(), port });
        self
    }

    /// Reads the environment, reports each problem in it once on stderr (using the default
    /// instead), starts the exporter thread, attaches the providers to it and installs them as
    /// the [`global`](crate::global) ones (unless [`with_install_global(false)`](Self::with_install_global)).
    /// When disabled, only the no-op providers are made (and installed).
    ///
    /// # Errors
    ///
    /// When a setting made in code cannot work (an endpoint that is not a URL, an invalid header)
    /// or the exporter thread cannot start. Problems in the environment are never errors, and
    /// neither is a TLS certificate or key file that cannot be used (its signal is switched off
    /// and said so) unless the pipeline is built with
    /// [`with_strict_tls(true)`](crate::export::PipelineBuilder::with_strict_tls).
    pub fn build(self) -> Result<Telemetry, InitError> {
        crate::diag::check_level();
        let lookup: Lookup<'_> = self.lookup.as_deref().unwrap_or(&process_env);
        let mut env = EnvReader::new(lookup);
        let disabled = self.disabled.unwrap_or_else(|| sdk_disabled(&mut env));
        if !disabled {
            report_unsupported(&mut env);
        }
        // Read even when disabled: propagation passes contexts on whether or not spans record.
        let propagator = self.propagator.unwrap_or_else(|| CompositePropagator::from_env(&mut env));
        crate::diag::config_problems(&env.problems);
        let install_global = self.install_global.unwrap_or(true);
        if disabled {
            let providers = (MeterProvider::disabled(), TracerProvider::disabled(), LoggerProvider::disabled());
            return Ok(Telemetry::new(None, providers, propagator, install_global));
        }

        let (mut resource, problems) = self.resource.unwrap_or_default().build_with_env(lookup);
        crate::diag::config_problems(&problems);
        if let Some(name) = self.service_name {
            set_service_name(&mut resource.attributes, name);
        }

        // Each part reads the same environment as this builder, so a lookup given here is hermetic.
        let mut pipeline = with_lookup(Pipeline::builder(), &self.lookup, PipelineBuilder::with_env_lookup);
        pipeline = pipeline.with_resource(resource);
        if let Some(endpoint) = self.endpoint {
            pipeline = pipeline.with_endpoint(endpoint);
        }
        let pipeline = self.pipeline.into_iter().fold(pipeline, |builder, configure| configure(builder));

        let mut meters = with_lookup(MeterProvider::builder(), &self.lookup, MeterProviderBuilder::with_env_lookup);
        if let Some(preference) = self.temporality {
            meters = meters.with_temporality(preference);
        }
        let meters = self.metrics.into_iter().fold(meters, |builder, configure| configure(builder));

        let mut tracers = with_lookup(TracerProvider::builder(), &self.lookup, TracerProviderBuilder::with_env_lookup);
        if let Some(sampler) = self.sampler {
            tracers = tracers.with_sampler(sampler);
        }
        let tracers = self.traces.into_iter().fold(tracers, |builder, configure| configure(builder));

        let loggers = with_lookup(LoggerProvider::builder(), &self.lookup, LoggerProviderBuilder::with_env_lookup);
        let loggers = self.logs.into_iter().fold(loggers, |builder, configure| configure(builder));

        let pipeline = pipeline.build().map_err(InitError)?;
        let meters = meters.build();
        meters.attach(&pipeline);
        let tracers = tracers.build();
        tracers.attach(&pipeline);
        // Logs not exported (`OTEL_LOGS_EXPORTER=none`): loggers that keep nothing, so that no
        // record is made and no thread takes a buffer for records nobody sends (until session 41
        // they were made, buffered and refused).
        let loggers = if pipeline.config().signal(Signal::Logs).exporter == ExporterKind::None {
            LoggerProvider::disabled()
        } else {
            loggers.build()
        };
        loggers.attach(&pipeline);
        let prometheus = self.prometheus.or_else(|| pipeline.config().prometheus.clone());
        #[cfg(feature = "prometheus")]
        let prometheus = prometheus.and_then(|settings| start_prometheus(settings, &pipeline, &meters));
        #[cfg(not(feature = "prometheus"))]
        if prometheus.is_some() {
            crate::diag::warning!(
                "a Prometheus endpoint was asked for, but nanotel was built without its `prometheus` feature"
            );
        }
        let telemetry = Telemetry::new(Some(pipeline), (meters, tracers, loggers), propagator, install_global);
        #[cfg(feature = "prometheus")]
        let telemetry = telemetry.serving(prometheus);
        Ok(telemetry)
    }
}

/// Starts the scrape endpoint at `settings`, showing the pipeline's own telemetry and `meters`.
/// A port that cannot be bound is reported and the rest runs without the endpoint: a trading
/// process keeps its OTLP export rather than failing to start.
#[cfg(feature = "prometheus")]
fn start_prometheus(
    settings: PrometheusConfig,
    pipeline: &Pipeline,
    meters: &MeterProvider,
) -> Option<PrometheusServer> {
    let mut builder =
        PrometheusServer::builder().with_config(settings.clone()).with_resource(pipeline.config().resource.clone());
    if let Some(self_metrics) = pipeline.self_metrics() {
        builder = builder.with_source(self_metrics);
    }
    if let Some(cpus) = &pipeline.config().thread_cpus {
        builder = builder.with_thread_cpus(cpus.iter().copied());
    }
    match builder.start() {
        Ok(server) => {
            server.add_provider(meters);
            Some(server)
        }
        Err(err) => {
            crate::diag::error!(
                "cannot serve Prometheus metrics on {}:{}: {err}; running without the endpoint",
                settings.host,
                settings.port
            );
            None
        }
    }
}

/// Gives `builder` the shared lookup, when there is one.
fn with_lookup<B>(
    builder: B,
    lookup: &Option<SharedLookup>,
    set: impl FnOnce(B, Box<dyn Fn(&str) -> Option<String>>) -> B,
) -> B {
    match lookup {
        Some(lookup) => {
            let lookup = lookup.clone();
            set(builder, Box::new(move |name| lookup(name)))
        }
        None => builder,
    }
}

/// Reads the environment as [`TelemetryBuilder::build`] and every part it builds would (the
/// pipeline's settings, the resource, the sampler, propagators, limits and metric preferences),
/// building nothing, and returns the problems found, each phrased as it would be reported on
/// stderr. An error would be a bug: problems in the environment are never errors. For the
/// `environment` fuzz target, through `nanotel::internal`.
///
/// # Errors
///
/// None expected (see above); the configuration error if there were one.
pub fn environment_problems(lookup: Lookup<'_>) -> Result<Vec<String>, ConfigError> {
    let mut env = EnvReader::new(lookup);
    sdk_disabled(&mut env);
    report_unsupported(&mut env);
    CompositePropagator::from_env(&mut env);
    Sampler::from_env(&mut env);
    SpanLimits::from_env(&mut env);
    LogLimits::from_env(&mut env);
    MetricsEnv::from_env(&mut env);
    let (_, pipeline_problems) = resolve_config(lookup, &Overrides::default())?;
    let mut problems = env.problems;
    problems.extend(pipeline_problems);
    Ok(problems)
}

/// `OTEL_SDK_DISABLED`: a boolean by the specification's rules (only `true` is true; values other
/// than `true` and `false` are reported).
fn sdk_disabled(env: &mut EnvReader<'_>) -> bool {
    env.first_bool(&["OTEL_SDK_DISABLED"])
}

/// Variables of the specification nanotel does not implement: set, each is reported once, so a
/// setting that has no effect is not a silent surprise.
const UNSUPPORTED: [(&str, &str); 4] = [
    ("OTEL_CONFIG_FILE", "declarative configuration is not supported; the OTEL_* variables apply"),
    ("OTEL_EXPERIMENTAL_CONFIG_FILE", "declarative configuration is not supported; the OTEL_* variables apply"),
    ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "the Zipkin exporter is not supported"),
    ("OTEL_ENTITIES", "resource entities are not supported"),
];

fn report_unsupported(env: &mut EnvReader<'_>) {
    for (name, why) in UNSUPPORTED {
        if env.text(name).is_some() {
            env.report(format!("{name} is ignored: {why}"));
        }
    }
}

/// Replaces `service.name` where it stands (the resource always carries one), or appends it.
fn set_service_name(attributes: &mut Vec<OtlpKeyValue>, name: String) {
    let value = Some(AnyValue { value: Some(any_value::Value::StringValue(name)) });
    match attributes.iter_mut().find(|kv| kv.key == "service.name") {
        Some(existing) => existing.value = value,
        None => attributes.push(OtlpKeyValue { key: "service.name".into(), value, ..Default::default() }),
    }
}

/// Why telemetry could not be set up: a setting made in code cannot work, or the exporter thread
/// could not start. Problems in the environment are reported and never make this error.
#[derive(Debug)]
pub struct InitError(ConfigError);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot set up telemetry: {}", self.0)
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Telemetry set up by [`init`] or [`TelemetryBuilder::build`]: the export pipeline with the
/// meter and tracer providers attached. Dropping it flushes and shuts down, waiting up to
/// [`DEFAULT_SHUTDOWN_TIMEOUT`]; [`shutdown`](Telemetry::shutdown) says how that went.
///
/// Meters, instruments and tracers taken from it stay usable after it is gone; what they record
/// then is no longer exported.
#[must_use = "telemetry shuts down when dropped"]
pub struct Telemetry {
    /// `None` when the SDK is disabled.
    pipeline: Option<Pipeline>,
    meters: MeterProvider,
    tracers: TracerProvider,
    loggers: LoggerProvider,
    propagator: CompositePropagator,
    /// The providers as installed globally, until shutdown.
    global: Option<&'static crate::global::Installed>,
    /// The Prometheus scrape endpoint, when one was asked for and could start; it stops when
    /// this is dropped.
    #[cfg(feature = "prometheus")]
    prometheus: Option<PrometheusServer>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("disabled", &self.is_disabled()).finish_non_exhaustive()
    }
}

impl Telemetry {
    fn new(
        pipeline: Option<Pipeline>,
        (meters, tracers, loggers): (MeterProvider, TracerProvider, LoggerProvider),
        propagator: CompositePropagator,
        install_global: bool,
    ) -> Telemetry {
        let global = install_global.then(|| crate::global::install(&meters, &tracers, &loggers));
        Telemetry {
            pipeline,
            meters,
            tracers,
            loggers,
            propagator,
            global,
            #[cfg(feature = "prometheus")]
            prometheus: None,
        }
    }

    /// This telemetry with its scrape endpoint.
    #[cfg(feature = "prometheus")]
    fn serving(mut self, prometheus: Option<PrometheusServer>) -> Telemetry {
        self.prometheus = prometheus;
        self
    }

    /// A builder with settings made in code (the same as [`builder`]).
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    /// Whether the SDK is disabled (`OTEL_SDK_DISABLED=true`): nothing is recorded or exported.
    #[must_use]
    pub fn is_disabled(&self) -> bool {
        self.pipeline.is_none()
    }

    /// The meter of an instrumentation scope.
    #[must_use]
    pub fn meter(&self, name: &str) -> Meter {
        self.meters.meter(name)
    }

    /// The meter of an instrumentation scope with a version.
    #[must_use]
    pub fn meter_with_version(&self, name: &str, version: &str) -> Meter {
        self.meters.meter_with_version(name, version)
    }

    /// The tracer of an instrumentation scope.
    #[must_use]
    pub fn tracer(&self, name: &str) -> Tracer {
        self.tracers.tracer(name)
    }

    /// The tracer of an instrumentation scope with a version.
    #[must_use]
    pub fn tracer_with_version(&self, name: &str, version: &str) -> Tracer {
        self.tracers.tracer_with_version(name, version)
    }

    /// The logger of an instrumentation scope.
    #[must_use]
    pub fn logger(&self, name: &str) -> Logger {
        self.loggers.logger(name)
    }

    /// The logger of an instrumentation scope with a version.
    #[must_use]
    pub fn logger_with_version(&self, name: &str, version: &str) -> Logger {
        self.loggers.logger_with_version(name, version)
    }

    /// The logger provider.
    #[must_use]
    pub fn logger_provider(&self) -> &LoggerProvider {
        &self.loggers
    }

    /// The meter provider (for its in-process views: `snapshot`, `to_json`, and
    /// [`prometheus::render`](crate::prometheus::render)).
    #[must_use]
    pub fn meter_provider(&self) -> &MeterProvider {
        &self.meters
    }

    /// The tracer provider.
    #[must_use]
    pub fn tracer_provider(&self) -> &TracerProvider {
        &self.tracers
    }

    /// The propagators chosen by `OTEL_PROPAGATORS` (default `tracecontext,baggage`) or
    /// [`TelemetryBuilder::with_propagator`], for the headers of incoming and outgoing requests.
    /// Available when the SDK is disabled too: contexts are still passed on.
    #[must_use]
    pub fn propagator(&self) -> &CompositePropagator {
        &self.propagator
    }

    /// The export pipeline (its configuration, its accounting); `None` when disabled.
    #[must_use]
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// The Prometheus scrape endpoint serving this telemetry's metrics and the pipeline's own
    /// (see [`TelemetryBuilder::with_prometheus`]), if one was asked for and could start.
    #[cfg(feature = "prometheus")]
    #[must_use]
    pub fn prometheus(&self) -> Option<&PrometheusServer> {
        self.prometheus.as_ref()
    }

    /// Where every item went so far (all zero when disabled).
    pub fn accounting(&self) -> Snapshot {
        self.pipeline.as_ref().map(Pipeline::accounting).unwrap_or_default()
    }

    /// Collects the metrics, takes the ended spans, and waits until everything queued is
    /// delivered or dropped, or `timeout` passes.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::force_flush`]: a timeout, an open circuit breaker, or a stopped exporter.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.pipeline.as_ref().map_or(Ok(()), |pipeline| pipeline.force_flush(timeout))
    }

    /// Uninstalls the [`global`](crate::global) providers (if they are still this one's), flushes
    /// and stops the exporter thread, waiting up to `timeout`, and reports the final accounting.
    #[expect(
        clippy::must_use_candidate,
        reason = "the report is for callers that want it; shutting down is the point of the call"
    )]
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.shutdown_now(timeout)
    }

    fn shutdown_now(&mut self, timeout: Duration) -> ShutdownReport {
        // First, so that no new handle reaches the pipeline while it drains.
        if let Some(set) = self.global.take() {
            crate::global::uninstall(set);
        }
        match self.pipeline.take() {
            Some(pipeline) => pipeline.shutdown(timeout),
            None => ShutdownReport { completed: true, accounting: Snapshot::default() },
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown_now(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}

// Here rather than beside the recorder: metrics/ sits below the telemetry that wires it up.
#[cfg(feature = "metrics")]
impl Telemetry {
    /// Makes a [`MetricsRecorder`](crate::metrics::MetricsRecorder) on this telemetry's meter of
    /// scope `metrics` the process's `metrics` recorder (feature `metrics`).
    ///
    /// # Errors
    ///
    /// [`SetRecorderError`](::metrics::SetRecorderError) when a `metrics` recorder was already set.
    pub fn install_metrics_recorder(&self) -> Result<(), ::metrics::SetRecorderError<crate::metrics::MetricsRecorder>> {
        crate::metrics::MetricsRecorder::new(self.meter("metrics")).install()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(vars: &'static [(&'static str, &'static str)]) -> (bool, Vec<String>) {
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let mut env = EnvReader::new(&lookup);
        let disabled = sdk_disabled(&mut env);
        report_unsupported(&mut env);
        (disabled, env.problems)
    }

    #[test]
    fn only_true_disables_and_other_words_are_reported() {
        assert_eq!(problems(&[("OTEL_SDK_DISABLED", "True")]), (true, vec![]));
        assert_eq!(problems(&[("OTEL_SDK_DISABLED", "FALSE")]), (false, vec![]));
        assert_eq!(problems(&[("OTEL_SDK_DISABLED", " ")]), (false, vec![]));
        let (disabled, lines) = problems(&[("OTEL_SDK_DISABLED", "1")]);
        assert!(!disabled);
        assert_eq!(lines, ["OTEL_SDK_DISABLED=\"1\" is ignored: expected true or false; using false"]);
    }

    #[test]
    fn unsupported_variables_are_named_once_each() {
        let (_, lines) = problems(&[
            ("OTEL_CONFIG_FILE", "/etc/otel.yaml"),
            ("OTEL_ENTITIES", "x"),
            // Supported now: read by the providers and the pipeline, not reported here.
            ("OTEL_METRICS_EXEMPLAR_FILTER", "always_on"),
            ("OTEL_PROPAGATORS", "b3"),
            ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ]);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("OTEL_CONFIG_FILE is ignored: "), "{}", lines[0]);
        assert!(lines[1].starts_with("OTEL_ENTITIES is ignored: "), "{}", lines[1]);
    }

    #[test]
    fn service_name_set_in_code_replaces_the_detected_one() {
        let mut attributes = ResourceBuilder::new().build_with_env(&|_| None).0.attributes;
        let before = attributes.len();
        set_service_name(&mut attributes, "gateway".into());
        assert_eq!(attributes.len(), before);
        let names: Vec<_> = attributes.iter().filter(|kv| kv.key == "service.name").collect();
        assert_eq!(names.len(), 1);
        assert_eq!(
            names[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::StringValue("gateway".into()))
        );
    }
}
