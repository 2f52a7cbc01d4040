//! The exporter's settings: defaults from the OpenTelemetry specification, then `OTEL_*`
//! environment variables, then what the program sets in code (code wins).

use std::time::Duration;

use crate::config::{at_most_a_day, usable_timeout, EnvReader, Lookup};
use crate::proto::resource::v1::Resource;
use crate::resource::ResourceBuilder;

use super::breaker::BreakerConfig;
use super::endpoint::{check_base, signal_url_for, take_credentials};
use super::headers::parse_headers;
use super::proxy::{proxy_for, Proxy};
use super::retry::RetryPolicy;
use super::tls_settings::{self, TlsOrigin, TlsOverrides, TlsSettings};
use super::Signal;

/// The OTLP transport and body encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf` (the default): binary protobuf.
    HttpProtobuf,
    /// `http/json`: OTLP/JSON.
    HttpJson,
    /// `grpc`: unary `Export` calls of the OTLP collector services over HTTP/2, the body the
    /// same protobuf as `http/protobuf`, length-prefixed.
    Grpc,
}

impl Protocol {
    /// The request's `Content-Type`.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
            Protocol::Grpc => "application/grpc",
        }
    }
}

/// Request body compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (the default).
    Gzip,
    /// None.
    None,
}

/// Where a signal's data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExporterKind {
    /// OTLP over HTTP to a collector (the default).
    Otlp,
    /// OTLP/JSON, one request per line, on stdout: for development.
    Console,
    /// Nowhere: the signal is switched off, and items handed to it are neither queued nor counted.
    None,
    /// An [`Exporter`](super::Exporter) of the user's own, set in code with
    /// [`PipelineBuilder::with_span_exporter`](super::PipelineBuilder::with_span_exporter) and its siblings
    /// (which choose this kind themselves); never from the environment.
    Custom,
}

/// Batching of one signal, with the batch processors' knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchConfig {
    /// Items the queue holds (`OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE`: 2048). The
    /// exporter may hold as many again in encoded batches awaiting delivery.
    pub max_queue_size: usize,
    /// Items per request at most (`*_MAX_EXPORT_BATCH_SIZE`: 512), no more than the queue size.
    pub max_export_batch_size: usize,
    /// The longest an item waits for a batch to fill (`OTEL_BSP_SCHEDULE_DELAY`: 5000 ms,
    /// `OTEL_BLRP_SCHEDULE_DELAY`: 1000 ms, `OTEL_METRIC_EXPORT_INTERVAL`: 60000 ms). At most a day;
    /// for metrics, zero (which would collect without pause) is the default.
    pub schedule_delay: Duration,
    /// The time one batch may take, retries included (`*_EXPORT_TIMEOUT`,
    /// `OTEL_METRIC_EXPORT_TIMEOUT`: 30000 ms). Zero means no limit, as for the variables; at most
    /// a day.
    pub export_timeout: Duration,
}

impl BatchConfig {
    /// The specification's defaults for a signal. Metrics are exported whole at each interval;
    /// their queue is counted in data points and is larger, since one collection of a busy
    /// registry holds thousands.
    #[must_use]
    pub fn defaults(signal: Signal) -> Self {
        match signal {
            Signal::Traces => BatchConfig {
                max_queue_size: 2048,
                max_export_batch_size: 512,
                schedule_delay: Duration::from_secs(5),
                export_timeout: Duration::from_secs(30),
            },
            Signal::Logs => BatchConfig {
                max_queue_size: 2048,
                max_export_batch_size: 512,
                schedule_delay: Duration::from_secs(1),
                export_timeout: Duration::from_secs(30),
            },
            Signal::Metrics => BatchConfig {
                max_queue_size: 65536,
                max_export_batch_size: 65536,
                schedule_delay: Duration::from_secs(60),
                export_timeout: Duration::from_secs(30),
            },
        }
    }
}

/// How one signal is exported.
#[derive(Clone, Debug)]
pub struct SignalConfig {
    /// Where its data goes.
    pub exporter: ExporterKind,
    /// Read through [`SignalConfig::url`]: the HTTP client's own type stays out of the API.
    pub(crate) url: reqwest::Url,
    /// The transport and body encoding.
    pub protocol: Protocol,
    /// Body compression.
    pub compression: Compression,
    /// Extra request headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// The limit on one HTTP request (`OTEL_EXPORTER_OTLP_TIMEOUT`: 10000 ms).
    pub timeout: Duration,
    /// Batching.
    pub batch: BatchConfig,
    /// Trusted CAs, client certificate, gRPC `insecure` (`OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE`, ...).
    pub tls: TlsSettings,
    /// Where the TLS files were set, for the message about one that cannot be used.
    pub(crate) tls_origin: TlsOrigin,
    /// The proxy its OTLP/HTTP requests go through (`HTTPS_PROXY`, ...; see `export::proxy`).
    pub(crate) proxy: Option<Proxy>,
}

impl SignalConfig {
    /// The full URL requests are posted to (OTLP/HTTP), or the collector's address (gRPC: the
    /// service's method path replaces the URL's path).
    #[must_use]
    pub fn url(&self) -> &str {
        self.url.as_str()
    }
}

/// Everything the exporter thread needs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Per signal, in [`Signal::ALL`] order.
    pub signals: [SignalConfig; 3],
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// The resource sent with every request.
    pub resource: Resource,
    /// How often the exporter thread looks at the queues' fill level. Producers never wake it (that
    /// would be a syscall on the hot path), so a full batch waits at most this long. While the
    /// per-thread span and log rings fill fast it drains them sooner (down to every 1 ms), and
    /// when they are quiet at this interval again.
    pub poll_interval: Duration,
    /// Encoded requests larger than this are not sent (64 MiB, the OTLP recommendation).
    pub max_request_size: usize,
    /// The most bytes of encoded (compressed) batches the three signals' backlogs hold together
    /// while they wait to be sent (`NANOTEL_BACKLOG_MAX_BYTES`, default 64 MiB): what rides out a
    /// collector outage. Past it, a signal whose breaker is open or probing drops its oldest
    /// waiting batches (`circuit_open`), as does one whose head batch waits for a retry or a
    /// collector's pause (`backlog_full`); any other leaves items in the queue, which fills. A
    /// shedding signal keeps its newest batch and, while its probe is out, the probe's, so it
    /// passes the budget only by those; any other signal takes a batch only while there is room
    /// for one an eighth larger than its largest so far, so it passes the budget only with a
    /// batch more than an eighth larger than any before it.
    pub backlog_max_bytes: usize,
    /// The Prometheus scrape endpoint, when `prometheus` is listed in `OTEL_METRICS_EXPORTER`.
    /// The pipeline does not serve it: the [`Telemetry`](crate::Telemetry) built on it does
    /// (or at the place `TelemetryBuilder::with_prometheus` sets instead), when nanotel is built with
    /// its `prometheus` feature.
    pub prometheus: Option<PrometheusConfig>,
    /// Whether the pipeline reports its own metrics under the scope `nanotel`
    /// (`NANOTEL_SELF_TELEMETRY`, default `true`).
    pub self_telemetry: bool,
    /// The CPUs nanotel's own threads run on (`NANOTEL_THREAD_CPUS`, e.g. `0-1`; sorted, each
    /// once): the exporter thread, the threads it starts, and the Prometheus endpoint's thread of
    /// a [`Telemetry`](crate::Telemetry) built on it. `None` (the default): where the thread that
    /// started them could run.
    pub thread_cpus: Option<Vec<usize>>,
}

/// Where the Prometheus scrape endpoint listens.
///
/// ```
/// use nanotel::export::PrometheusConfig;
///
/// let default = PrometheusConfig::default();
/// assert_eq!((default.host.as_str(), default.port), ("localhost", 9464));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// The host name or address to bind (`OTEL_EXPORTER_PROMETHEUS_HOST`, default `localhost`).
    pub host: String,
    /// The TCP port (`OTEL_EXPORTER_PROMETHEUS_PORT`, default 9464; 0 picks a free one).
    pub port: u16,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig { host: "localhost".into(), port: 9464 }
    }
}

impl PipelineConfig {
    /// The settings of one signal.
    #[must_use]
    pub fn signal(&self, signal: Signal) -> &SignalConfig {
        &self.signals[signal as usize]
    }
}

/// Overrides set in code; each `None` leaves the environment's (or the default) value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub endpoint: Option<String>,
    pub signal_endpoints: [Option<String>; 3],
    pub protocol: Option<Protocol>,
    pub signal_protocols: [Option<Protocol>; 3],
    pub compression: Option<Compression>,
    pub headers: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub exporters: [Option<ExporterKind>; 3],
    pub batches: [Option<BatchConfig>; 3],
    pub retry: Option<RetryPolicy>,
    pub breaker: Option<BreakerConfig>,
    pub resource: Option<Resource>,
    pub poll_interval: Option<Duration>,
    pub self_telemetry: Option<bool>,
    pub backlog_max_bytes: Option<usize>,
    pub thread_cpus: Option<Vec<usize>>,
    pub tls: TlsOverrides,
}

/// The default of [`PipelineConfig::backlog_max_bytes`]: 64 MiB.
pub const DEFAULT_BACKLOG_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The error of a configuration that cannot work.
#[derive(Debug)]
pub struct ConfigError(pub(crate) String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn upper(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "TRACES",
        Signal::Metrics => "METRICS",
        Signal::Logs => "LOGS",
    }
}

/// How often the exporter thread looks at the queues unless told otherwise.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The shortest poll interval, the exporter thread's shortest wait between two drains. A shorter
/// one (zero, meant as "as soon as possible") made the thread spin: a whole core while idle, taken
/// from the program's own threads. It is raised to this, with a warning.
pub(crate) const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// `asked`, or [`MIN_POLL_INTERVAL`] (reported) when it is shorter; at most a day.
fn usable_poll_interval(asked: Duration) -> Duration {
    if asked < MIN_POLL_INTERVAL {
        let line = format!(
            "with_poll_interval {asked:?} is raised to {MIN_POLL_INTERVAL:?}: a shorter wait spins the exporter thread"
        );
        crate::diag::config_problems([&line]);
    }
    at_most_a_day(asked.max(MIN_POLL_INTERVAL))
}

/// Builds the configuration from `lookup` and `overrides`, returning the problems found in the
/// environment alongside (each already phrased for the user).
pub(crate) fn resolve(lookup: Lookup<'_>, overrides: &Overrides) -> Result<(PipelineConfig, Vec<String>), ConfigError> {
    crate::diag::check_level();
    let mut env = EnvReader::new(lookup);
    let mut signals = Vec::with_capacity(3);
    for signal in Signal::ALL {
        signals.push(resolve_signal(&mut env, overrides, signal)?);
    }
    let signals: [SignalConfig; 3] =
        signals.try_into().map_err(|_| ConfigError("internal: expected three signal configurations".into()))?;
    let resource = if let Some(resource) = &overrides.resource {
        resource.clone()
    } else {
        // Through the reader, so a pipeline given its own lookup (or none) stays hermetic.
        let (resource, problems) = ResourceBuilder::new().build_with_env(&|name| env.text(name));
        problems.into_iter().for_each(|problem| env.report(problem));
        resource
    };
    let prometheus = prometheus_from_env(&mut env);
    let self_telemetry = overrides
        .self_telemetry
        .unwrap_or_else(|| env.choice("NANOTEL_SELF_TELEMETRY", &[("true", true), ("false", false)], ("true", true)));
    let backlog_max_bytes = overrides
        .backlog_max_bytes
        .unwrap_or_else(|| env.positive_integer("NANOTEL_BACKLOG_MAX_BYTES", DEFAULT_BACKLOG_MAX_BYTES));
    let thread_cpus = thread_cpus(&mut env, overrides);
    let config = PipelineConfig {
        signals,
        retry: overrides.retry.clone().map(RetryPolicy::at_most_a_day).unwrap_or_default(),
        breaker: overrides.breaker.clone().map(BreakerConfig::at_most_a_day).unwrap_or_default(),
        resource,
        poll_interval: overrides.poll_interval.map_or(DEFAULT_POLL_INTERVAL, usable_poll_interval),
        max_request_size: 64 * 1024 * 1024,
        backlog_max_bytes,
        prometheus,
        self_telemetry,
        thread_cpus,
    };
    Ok((config, env.problems))
}

/// [`PipelineConfig::thread_cpus`]: set in code, or `NANOTEL_THREAD_CPUS`; a list that names no
/// usable CPU number is reported and left out.
fn thread_cpus(env: &mut EnvReader<'_>, overrides: &Overrides) -> Option<Vec<usize>> {
    let (setting, checked) = if let Some(cpus) = &overrides.thread_cpus {
        (format!("with_thread_cpus({cpus:?})"), crate::thread_cpus::checked(cpus.clone()))
    } else {
        let text = env.text("NANOTEL_THREAD_CPUS")?;
        (format!("NANOTEL_THREAD_CPUS={text:?}"), crate::thread_cpus::parse(&text))
    };
    checked
        .map_err(|why| env.report(format!("{setting} is ignored: {why}; nanotel's threads run where they start")))
        .ok()
}

fn resolve_signal(env: &mut EnvReader<'_>, overrides: &Overrides, signal: Signal) -> Result<SignalConfig, ConfigError> {
    let sig = upper(signal);
    let index = signal as usize;

    let exporter = match overrides.exporters[index] {
        Some(kind) => kind,
        None => exporter_from_env(env, signal),
    };

    // Each per-signal variable wins over its general one; an invalid one is treated as unset (the
    // general one applies), as the specification asks of invalid values.
    let protocol = overrides.signal_protocols[index].or(overrides.protocol).unwrap_or_else(|| {
        env.first_choice(
            &[&format!("OTEL_EXPORTER_OTLP_{sig}_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"],
            &[("http/protobuf", Protocol::HttpProtobuf), ("http/json", Protocol::HttpJson), ("grpc", Protocol::Grpc)],
            ("http/protobuf", Protocol::HttpProtobuf),
        )
    });

    let (tls, tls_origin) = tls_settings::resolve(env, &overrides.tls, signal, sig);
    let scheme = |value: &str| with_scheme(protocol, tls.insecure, value);
    let url = match (&overrides.signal_endpoints[index], &overrides.endpoint) {
        (Some(exact), _) => signal_url_for(protocol, signal, None, Some(&scheme(exact)))
            .map_err(|e| ConfigError(format!("the {} endpoint set in code: {}", signal.name(), e.reason())))?,
        (None, Some(base)) => signal_url_for(protocol, signal, Some(&scheme(base)), None)
            .map_err(|e| ConfigError(format!("the endpoint set in code: {}", e.reason())))?,
        (None, None) => url_from_env(env, signal, protocol, tls.insecure)?,
    };

    let compression = overrides.compression.unwrap_or_else(|| {
        let names = [&format!("OTEL_EXPORTER_OTLP_{sig}_COMPRESSION"), "OTEL_EXPORTER_OTLP_COMPRESSION"];
        env.first_choice(
            &names,
            &[("gzip", Compression::Gzip), ("none", Compression::None)],
            ("gzip", Compression::Gzip),
        )
    });

    let mut headers = Vec::new();
    if let Some((name, value)) =
        env.first_text(&[&format!("OTEL_EXPORTER_OTLP_{sig}_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS"])
    {
        let parsed = parse_headers(&value);
        for problem in parsed.errors {
            env.report(format!("{name}: {problem}"));
        }
        headers = parsed.headers;
    }
    for (key, value) in &overrides.headers {
        let key = key.to_ascii_lowercase();
        headers.retain(|(existing, _)| *existing != key);
        headers.push((key, value.clone()));
    }
    // Credentials in the endpoint (`https://user:token@collector:4318`) leave the URL, which
    // messages show, for an `authorization` header, sent over gRPC too (before session 36 they
    // were printed in every failure line, and gRPC did not send them); a configured one wins.
    let (url, credentials) = take_credentials(url);
    if let Some(basic) = credentials.filter(|_| !headers.iter().any(|(key, _)| key == "authorization")) {
        headers.push(("authorization".to_owned(), basic));
    }

    // From code or the environment alike, a timeout of zero means no limit, and no duration runs
    // past a day (see `at_most_a_day`).
    let timeout = usable_timeout(overrides.timeout.unwrap_or_else(|| {
        let names = [&format!("OTEL_EXPORTER_OTLP_{sig}_TIMEOUT"), "OTEL_EXPORTER_OTLP_TIMEOUT"];
        env.first_timeout_ms(&names, Duration::from_secs(10))
    }));

    let mut batch = overrides.batches[index].clone().unwrap_or_else(|| batch_from_env(env, signal));
    batch.schedule_delay = at_most_a_day(batch.schedule_delay);
    batch.export_timeout = usable_timeout(batch.export_timeout);
    if signal == Signal::Metrics && batch.schedule_delay.is_zero() {
        // Collecting without pause would keep the exporter thread busy and flood the collector;
        // the default is used instead, as the Go SDK does.
        let default = BatchConfig::defaults(signal).schedule_delay;
        let asked = if overrides.batches[index].is_some() {
            "a metric export interval of 0 (set in code)"
        } else {
            "OTEL_METRIC_EXPORT_INTERVAL=0"
        };
        env.report(format!("{asked} is ignored: it would collect without pause; using {} ms", default.as_millis()));
        batch.schedule_delay = default;
    }
    if batch.max_queue_size == 0 || batch.max_export_batch_size == 0 {
        return Err(ConfigError(format!("{} batch: queue and batch sizes must be at least 1", signal.name())));
    }

    // Only OTLP/HTTP requests go through a proxy (see `proxy`).
    let proxy = if exporter == ExporterKind::Otlp && protocol != Protocol::Grpc { proxy_for(env, &url) } else { None };
    Ok(SignalConfig { exporter, url, protocol, compression, headers, timeout, batch, tls, tls_origin, proxy })
}

/// The signal's URL from `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`, else from the base endpoint. An
/// invalid signal endpoint falls back to what the signal would use without it: the base endpoint
/// when that is valid, else the default.
fn url_from_env(
    env: &mut EnvReader<'_>,
    signal: Signal,
    protocol: Protocol,
    insecure: bool,
) -> Result<reqwest::Url, ConfigError> {
    let exact = env.text(&format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", upper(signal)));
    let exact = exact.map(|exact| with_scheme(protocol, insecure, &exact));
    let exact_error = match exact.as_deref().map(|exact| signal_url_for(protocol, signal, None, Some(exact))) {
        Some(Ok(url)) => return Ok(url),
        Some(Err(err)) => Some(err),
        None => None,
    };
    let base = base_from_env(env, protocol, insecure)?;
    let url = signal_url_for(protocol, signal, base.as_deref(), None).map_err(|e| ConfigError(e.to_string()))?;
    if let Some(err) = exact_error {
        // The base's credentials leave the URL only later (`take_credentials`); not in the line.
        let shown = take_credentials(url.clone()).0;
        env.report(format!("{err}; using {shown}"));
    }
    Ok(url)
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` when it is a usable URL; an unusable one is reported (once, as
/// the reader keeps one line per problem) and the protocol's default endpoint is used.
fn base_from_env(env: &mut EnvReader<'_>, protocol: Protocol, insecure: bool) -> Result<Option<String>, ConfigError> {
    let Some(base) = env.text("OTEL_EXPORTER_OTLP_ENDPOINT") else { return Ok(None) };
    let base = with_scheme(protocol, insecure, &base);
    if let Err(err) = check_base(&base) {
        let default = signal_url_for(protocol, Signal::Traces, None, None).map_err(|e| ConfigError(e.to_string()))?;
        let default = default.origin().ascii_serialization();
        env.report(format!("{err}; using {default}"));
        return Ok(None);
    }
    Ok(Some(base))
}

/// A gRPC endpoint given without a scheme (`collector:4317`) gets one as the specification says:
/// `https`, or `http` when `OTEL_EXPORTER_OTLP[_SIGNAL]_INSECURE` is true. Anything else is left
/// as it is (an OTLP/HTTP endpoint must name its scheme).
fn with_scheme(protocol: Protocol, insecure: bool, value: &str) -> String {
    if protocol != Protocol::Grpc || value.trim().is_empty() || value.contains("://") {
        return value.to_owned();
    }
    let scheme = if insecure { "http" } else { "https" };
    format!("{scheme}://{}", value.trim())
}

/// The words of an `OTEL_*_EXPORTER` list, lowercased.
fn exporter_words(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').map(|w| w.trim().to_ascii_lowercase()).filter(|w| !w.is_empty())
}

/// The pipeline's exporter for a signal. `prometheus` in `OTEL_METRICS_EXPORTER` is a pull
/// exporter beside the pipeline (see [`prometheus_from_env`]): listed alone, metrics are not
/// pushed anywhere.
fn exporter_from_env(env: &mut EnvReader<'_>, signal: Signal) -> ExporterKind {
    let name = format!("OTEL_{}_EXPORTER", upper(signal));
    let Some(value) = env.text(&name) else { return ExporterKind::Otlp };
    let mut chosen = None;
    let mut pulled = false;
    for word in exporter_words(&value) {
        let kind = match word.as_str() {
            "otlp" => ExporterKind::Otlp,
            "console" | "logging" => ExporterKind::Console,
            "none" => ExporterKind::None,
            "prometheus" if signal == Signal::Metrics => {
                pulled = true;
                continue;
            }
            other => {
                env.report(format!("{name}: exporter {other:?} is not supported by nanotel's pipeline; it is skipped"));
                continue;
            }
        };
        match chosen {
            None => chosen = Some(kind),
            Some(first) if first != kind => {
                env.report(format!(
                    "{name}={value:?}: one exporter per signal is supported; using the first, {word:?} is skipped"
                ));
            }
            Some(_) => {}
        }
    }
    chosen.unwrap_or(if pulled { ExporterKind::None } else { ExporterKind::Otlp })
}

/// The Prometheus endpoint, when `OTEL_METRICS_EXPORTER` lists `prometheus`, at
/// `OTEL_EXPORTER_PROMETHEUS_HOST` and `OTEL_EXPORTER_PROMETHEUS_PORT`.
fn prometheus_from_env(env: &mut EnvReader<'_>) -> Option<PrometheusConfig> {
    let listed = env.text("OTEL_METRICS_EXPORTER").is_some_and(|v| exporter_words(&v).any(|w| w == "prometheus"));
    if !listed {
        return None;
    }
    let default = PrometheusConfig::default();
    let host = env.text("OTEL_EXPORTER_PROMETHEUS_HOST").unwrap_or(default.host);
    let port = match env.text("OTEL_EXPORTER_PROMETHEUS_PORT") {
        None => default.port,
        Some(value) => value.parse::<u16>().unwrap_or_else(|_| {
            env.report(format!(
                "OTEL_EXPORTER_PROMETHEUS_PORT={value:?} is ignored: not a port number (0 to 65535); using {}",
                default.port
            ));
            default.port
        }),
    };
    Some(PrometheusConfig { host, port })
}

fn batch_from_env(env: &mut EnvReader<'_>, signal: Signal) -> BatchConfig {
    let defaults = BatchConfig::defaults(signal);
    let prefix = match signal {
        Signal::Traces => "OTEL_BSP",
        Signal::Logs => "OTEL_BLRP",
        Signal::Metrics => {
            return BatchConfig {
                schedule_delay: env.duration_ms("OTEL_METRIC_EXPORT_INTERVAL", defaults.schedule_delay),
                export_timeout: env.timeout_ms("OTEL_METRIC_EXPORT_TIMEOUT", defaults.export_timeout),
                ..defaults
            };
        }
    };
    let max_queue_size = env.positive_integer(&format!("{prefix}_MAX_QUEUE_SIZE"), defaults.max_queue_size);
    let batch_name = format!("{prefix}_MAX_EXPORT_BATCH_SIZE");
    let mut max_export_batch_size = env.positive_integer(&batch_name, defaults.max_export_batch_size);
    if max_export_batch_size > max_queue_size {
        env.report(format!(
            "{batch_name}={max_export_batch_size} is larger than the queue ({max_queue_size}); using {max_queue_size}"
        ));
        max_export_batch_size = max_queue_size;
    }
    BatchConfig {
        max_queue_size,
        max_export_batch_size,
        schedule_delay: env.duration_ms(&format!("{prefix}_SCHEDULE_DELAY"), defaults.schedule_delay),
        export_timeout: env.timeout_ms(&format!("{prefix}_EXPORT_TIMEOUT"), defaults.export_timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(vars: &[(&str, &str)], overrides: &Overrides) -> (PipelineConfig, Vec<String>) {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = |name: &str| map.get(name).cloned();
        resolve(&lookup, overrides).unwrap()
    }

    #[test]
    fn defaults_follow_the_specification() {
        let (config, problems) = resolve_with(&[], &Overrides::default());
        assert!(problems.is_empty());
        let traces = config.signal(Signal::Traces);
        assert_eq!(traces.url.as_str(), "http://localhost:4318/v1/traces");
        assert_eq!(traces.protocol, Protocol::HttpProtobuf);
        assert_eq!(traces.compression, Compression::Gzip);
        assert_eq!(traces.timeout, Duration::from_secs(10));
        assert_eq!(traces.batch, BatchConfig::defaults(Signal::Traces));
        assert_eq!(config.signal(Signal::Logs).batch.schedule_delay, Duration::from_secs(1));
        assert_eq!(config.signal(Signal::Metrics).batch.schedule_delay, Duration::from_secs(60));
        assert_eq!(config.signal(Signal::Metrics).exporter, ExporterKind::Otlp);
    }

    /// The CPU list of nanotel's threads: from the environment, or from code over it; one that
    /// names no usable CPU is reported and left out (the threads run where they start).
    #[test]
    fn thread_cpus_come_from_code_or_the_environment_and_a_bad_list_is_reported() {
        let from_env = |value: &str| resolve_with(&[("NANOTEL_THREAD_CPUS", value)], &Overrides::default());
        assert_eq!(resolve_with(&[], &Overrides::default()).0.thread_cpus, None);
        assert_eq!(from_env("2-3,0").0.thread_cpus, Some(vec![0, 2, 3]));
        let (config, problems) = from_env("3-1");
        assert_eq!(config.thread_cpus, None);
        let expected = "NANOTEL_THREAD_CPUS=\"3-1\" is ignored: the range \"3-1\" runs backwards; nanotel's threads run where they start";
        assert_eq!(problems, [expected]);
        let in_code = |cpus: Vec<usize>| Overrides { thread_cpus: Some(cpus), ..Overrides::default() };
        let (config, problems) = resolve_with(&[("NANOTEL_THREAD_CPUS", "0")], &in_code(vec![1]));
        assert_eq!((config.thread_cpus, problems.len()), (Some(vec![1]), 0), "code wins");
        let (config, problems) = resolve_with(&[], &in_code(vec![]));
        assert_eq!(config.thread_cpus, None);
        assert_eq!(
            problems,
            ["with_thread_cpus([]) is ignored: no CPU is named; nanotel's threads run where they start"]
        );
    }

    /// A metric export interval of zero, from the environment or from code, is the default.
    #[test]
    fn a_metric_export_interval_of_zero_is_the_default() {
        let default = BatchConfig::defaults(Signal::Metrics).schedule_delay;
        let (config, problems) = resolve_with(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")], &Overrides::default());
        assert_eq!(config.signal(Signal::Metrics).batch.schedule_delay, default);
        assert_eq!(
            problems,
            ["OTEL_METRIC_EXPORT_INTERVAL=0 is ignored: it would collect without pause; using 60000 ms"]
        );
        let mut overrides = Overrides::default();
        overrides.batches[Signal::Metrics as usize] =
            Some(BatchConfig { schedule_delay: Duration::ZERO, ..BatchConfig::defaults(Signal::Metrics) });
        let (config, problems) = resolve_with(&[], &overrides);
        assert_eq!(config.signal(Signal::Metrics).batch.schedule_delay, default);
        assert_eq!(
            problems,
            ["a metric export interval of 0 (set in code) is ignored: it would collect without pause; using 60000 ms"]
        );
    }

    /// OTLP/HTTP goes through the proxy the variables name, OTLP/gRPC never.
    #[test]
    fn only_otlp_over_http_takes_a_proxy() {
        let vars = |protocol| {
            [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("HTTPS_PROXY", "http://proxy.example:3128"),
            ]
        };
        let proxy =
            |protocol| resolve_with(&vars(protocol), &Overrides::default()).0.signal(Signal::Traces).proxy.clone();
        assert_eq!(proxy("http/protobuf").map(|proxy| proxy.uri).as_deref(), Some("http://proxy.example:3128/"));
        assert_eq!(proxy("grpc"), None);
    }

    /// A poll interval of zero (or under a millisecond) would spin the exporter thread.
    #[test]
    fn a_poll_interval_under_the_shortest_is_raised_to_it() {
        for (asked, used) in [
            (Duration::ZERO, MIN_POLL_INTERVAL),
            (Duration::from_nanos(1), MIN_POLL_INTERVAL),
            (Duration::from_millis(5), Duration::from_millis(5)),
        ] {
            let overrides = Overrides { poll_interval: Some(asked), ..Overrides::default() };
            assert_eq!(resolve_with(&[], &overrides).0.poll_interval, used, "{asked:?}");
        }
    }

    #[test]
    fn signal_specific_variables_win_over_generic_ones() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/"),
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://logs.example:4318/ingest"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret,x-team=desk%201"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
                ("OTEL_BLRP_SCHEDULE_DELAY", "250"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
                ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
                ("OTEL_LOGS_EXPORTER", "console"),
                ("OTEL_METRICS_EXPORTER", "none"),
            ],
            &Overrides::default(),
        );
        let traces = config.signal(Signal::Traces);
        assert_eq!(traces.url.as_str(), "http://collector:4318/base/v1/traces");
        assert_eq!(config.signal(Signal::Logs).url.as_str(), "https://logs.example:4318/ingest");
        assert_eq!(traces.protocol, Protocol::HttpJson);
        assert_eq!(config.signal(Signal::Metrics).protocol, Protocol::HttpProtobuf);
        assert_eq!(traces.compression, Compression::None);
        assert_eq!(traces.headers, vec![("api-key".into(), "secret".into()), ("x-team".into(), "desk 1".into())]);
        assert_eq!(traces.timeout, Duration::from_millis(2500));
        assert_eq!(config.signal(Signal::Logs).timeout, Duration::from_secs(10));
        assert_eq!(traces.batch.max_queue_size, 100);
        assert_eq!(traces.batch.max_export_batch_size, 100, "clamped to the queue size");
        assert_eq!(config.signal(Signal::Logs).batch.schedule_delay, Duration::from_millis(250));
        assert_eq!(config.signal(Signal::Metrics).batch.schedule_delay, Duration::from_millis(1500));
        assert_eq!(config.signal(Signal::Metrics).batch.export_timeout, crate::config::NO_TIMEOUT);
        assert_eq!(config.signal(Signal::Logs).exporter, ExporterKind::Console);
        assert_eq!(config.signal(Signal::Metrics).exporter, ExporterKind::None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=500"));
    }

    #[test]
    fn an_invalid_signal_value_leaves_the_general_one_in_force() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grcp"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2.5s"),
            ],
            &Overrides::default(),
        );
        let traces = config.signal(Signal::Traces);
        assert_eq!((traces.protocol, traces.compression), (Protocol::Grpc, Compression::None));
        assert_eq!(traces.timeout, Duration::from_millis(2500));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].ends_with("using OTEL_EXPORTER_OTLP_PROTOCOL instead"), "{problems:?}");
    }

    #[test]
    fn grpc_per_signal_with_its_own_default_endpoint() {
        let (config, problems) = resolve_with(
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf")],
            &Overrides::default(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        let traces = config.signal(Signal::Traces);
        assert_eq!((traces.protocol, traces.url.as_str()), (Protocol::Grpc, "http://localhost:4317/"));
        let logs = config.signal(Signal::Logs);
        assert_eq!((logs.protocol, logs.url.as_str()), (Protocol::HttpProtobuf, "http://localhost:4318/v1/logs"));

        let overrides = Overrides {
            endpoint: Some("http://c:4317".into()),
            signal_protocols: [None, Some(Protocol::Grpc), None],
            ..Overrides::default()
        };
        let (config, _) = resolve_with(&[], &overrides);
        assert_eq!(config.signal(Signal::Metrics).url.as_str(), "http://c:4317/");
        assert_eq!(config.signal(Signal::Traces).url.as_str(), "http://c:4317/v1/traces");
    }

    #[test]
    fn odd_values_are_reported_and_replaced_by_defaults() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://nope"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "good=1,bad key=2"),
                ("OTEL_BSP_SCHEDULE_DELAY", "-1"),
                ("OTEL_TRACES_EXPORTER", "zipkin,otlp"),
            ],
            &Overrides::default(),
        );
        let traces = config.signal(Signal::Traces);
        assert_eq!(traces.url.as_str(), "http://localhost:4318/v1/traces");
        assert_eq!(traces.protocol, Protocol::HttpProtobuf);
        assert_eq!(traces.compression, Compression::Gzip);
        assert_eq!(traces.headers, vec![("good".into(), "1".into())]);
        assert_eq!(traces.batch.schedule_delay, Duration::from_secs(5));
        assert_eq!(traces.exporter, ExporterKind::Otlp);
        let all = problems.join("\n");
        for needle in ["ftp://nope", "thrift", "brotli", "\"bad\"", "OTEL_BSP_SCHEDULE_DELAY", "zipkin"] {
            assert!(all.contains(needle), "no problem mentions {needle}: {all}");
        }
    }

    #[test]
    fn the_default_resource_reads_the_same_environment_and_reports_its_problems() {
        let vars = [("OTEL_SERVICE_NAME", "order-gateway"), ("OTEL_RESOURCE_ATTRIBUTES", "desk=fx,broken")];
        let (config, problems) = resolve_with(&vars, &Overrides::default());
        let text = |key: &str| {
            let kv = config.resource.attributes.iter().find(|kv| kv.key == key)?;
            match kv.value.as_ref()?.value.as_ref()? {
                crate::proto::common::v1::any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        };
        assert_eq!(text("service.name"), Some("order-gateway"));
        assert_eq!(text("desk"), Some("fx"));
        assert_eq!(text("telemetry.sdk.name"), Some("nanotel"));
        assert_eq!(problems, ["OTEL_RESOURCE_ATTRIBUTES: entry 2 is skipped: it has no '=' between a key and a value"]);
    }

    #[test]
    fn code_overrides_the_environment() {
        let overrides = Overrides {
            endpoint: Some("http://127.0.0.1:1234".into()),
            protocol: Some(Protocol::HttpJson),
            headers: vec![("API-Key".into(), "from-code".into())],
            ..Default::default()
        };
        let (config, _) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:4318/x"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=from-env"),
            ],
            &overrides,
        );
        let traces = config.signal(Signal::Traces);
        assert_eq!(traces.url.as_str(), "http://127.0.0.1:1234/v1/traces");
        assert_eq!(traces.protocol, Protocol::HttpJson);
        assert_eq!(traces.headers, vec![("api-key".into(), "from-code".into())]);
    }

    #[test]
    fn prometheus_is_listed_beside_or_instead_of_otlp() {
        let (config, problems) = resolve_with(&[("OTEL_METRICS_EXPORTER", "otlp, Prometheus")], &Overrides::default());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.signal(Signal::Metrics).exporter, ExporterKind::Otlp);
        assert_eq!(config.prometheus, Some(PrometheusConfig::default()));
        assert!(config.self_telemetry);

        let (config, problems) = resolve_with(
            &[
                ("OTEL_METRICS_EXPORTER", "prometheus"),
                ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
                ("OTEL_EXPORTER_PROMETHEUS_PORT", "9100"),
                ("NANOTEL_SELF_TELEMETRY", "FALSE"),
            ],
            &Overrides::default(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.signal(Signal::Metrics).exporter, ExporterKind::None, "prometheus alone: no OTLP metrics");
        assert_eq!(config.prometheus, Some(PrometheusConfig { host: "0.0.0.0".into(), port: 9100 }));
        assert!(!config.self_telemetry);

        let (config, problems) = resolve_with(
            &[
                ("OTEL_METRICS_EXPORTER", "prometheus"),
                ("OTEL_EXPORTER_PROMETHEUS_PORT", "99999"),
                ("OTEL_TRACES_EXPORTER", "prometheus"),
                ("NANOTEL_SELF_TELEMETRY", "maybe"),
            ],
            &Overrides::default(),
        );
        assert_eq!(config.prometheus, Some(PrometheusConfig::default()));
        assert_eq!(config.signal(Signal::Traces).exporter, ExporterKind::Otlp);
        assert!(config.self_telemetry);
        let all = problems.join("\n");
        for needle in ["OTEL_EXPORTER_PROMETHEUS_PORT=\"99999\"", "OTEL_TRACES_EXPORTER", "NANOTEL_SELF_TELEMETRY"] {
            assert!(all.contains(needle), "no problem mentions {needle}: {all}");
        }

        let (config, _) = resolve_with(&[("OTEL_EXPORTER_PROMETHEUS_PORT", "1")], &Overrides::default());
        assert_eq!(config.prometheus, None, "not listed: off");
    }

    /// How many problem lines mention `needle`.
    fn mentions(problems: &[String], needle: &str) -> usize {
        problems.iter().filter(|line| line.contains(needle)).count()
    }

    /// A gRPC endpoint without a scheme is `https`, or `http` where `_INSECURE` is true (per
    /// signal, as the specification says); an OTLP/HTTP one must still name its scheme.
    #[test]
    fn a_grpc_endpoint_without_a_scheme_follows_insecure() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"),
            ],
            &Overrides::default(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.signal(Signal::Traces).url.as_str(), "http://collector:4317/");
        assert_eq!(config.signal(Signal::Logs).url.as_str(), "https://collector:4317/");
        let (config, problems) =
            resolve_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")], &Overrides::default());
        assert_eq!(mentions(&problems, "OTEL_EXPORTER_OTLP_ENDPOINT"), 1, "{problems:?}");
        assert_eq!(config.signal(Signal::Logs).url.as_str(), "http://localhost:4318/v1/logs");
    }

    #[test]
    fn a_bad_shared_variable_is_reported_once_not_once_per_signal() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://nope"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "good=1,bad key=2"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
            ],
            &Overrides::default(),
        );
        assert_eq!(problems.len(), 5, "{problems:#?}");
        for name in ["ENDPOINT", "PROTOCOL", "COMPRESSION", "HEADERS", "TIMEOUT"] {
            assert_eq!(mentions(&problems, &format!("OTEL_EXPORTER_OTLP_{name}")), 1, "{name}: {problems:#?}");
        }
        let endpoint = problems.iter().find(|line| line.contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(endpoint.is_some_and(|line| line.ends_with("; using http://localhost:4318")), "{endpoint:?}");
        for signal in Signal::ALL {
            assert_eq!(config.signal(signal).url.path(), format!("/{}", signal.path()));
            assert_eq!(config.signal(signal).timeout, Duration::from_secs(10));
        }
    }

    #[test]
    fn an_invalid_signal_endpoint_falls_back_to_the_valid_base() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "localhost:4318"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://metrics"),
            ],
            &Overrides::default(),
        );
        assert_eq!(config.signal(Signal::Traces).url.as_str(), "http://collector:4318/base/v1/traces");
        assert_eq!(config.signal(Signal::Metrics).url.as_str(), "http://collector:4318/base/v1/metrics");
        assert_eq!(config.signal(Signal::Logs).url.as_str(), "http://collector:4318/base/v1/logs");
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with("invalid OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \"localhost:4318\""));
        assert!(problems[0].ends_with("; using http://collector:4318/base/v1/traces"), "{}", problems[0]);
        assert!(problems[1].ends_with("; using http://collector:4318/base/v1/metrics"), "{}", problems[1]);

        // The base's credentials stay out of the line (until session 39 they were printed).
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gateway:s3cret@collector:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "localhost:4318"),
            ],
            &Overrides::default(),
        );
        assert_eq!(config.signal(Signal::Traces).url.as_str(), "https://collector:4318/v1/traces");
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].ends_with("; using https://collector:4318/v1/traces"), "{}", problems[0]);
        assert!(!problems[0].contains("s3cret"), "{}", problems[0]);

        // With the base invalid too, both are reported and the default is used.
        let (config, problems) = resolve_with(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "nope"), ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "nope")],
            &Overrides::default(),
        );
        assert_eq!(config.signal(Signal::Logs).url.as_str(), "http://localhost:4318/v1/logs");
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert_eq!(mentions(&problems, "invalid OTEL_EXPORTER_OTLP_ENDPOINT \"nope\""), 1, "{problems:#?}");
        assert_eq!(mentions(&problems, "using http://localhost:4318/v1/logs"), 1, "{problems:#?}");

        // A base that no signal uses is not read, so not reported.
        let specific = Signal::ALL.map(|signal| (format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", upper(signal)), "http://c"));
        let mut vars: Vec<(&str, &str)> = specific.iter().map(|(name, url)| (name.as_str(), *url)).collect();
        vars.push(("OTEL_EXPORTER_OTLP_ENDPOINT", "nope"));
        let (_, problems) = resolve_with(&vars, &Overrides::default());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_repeated_bad_list_entry_is_reported_once() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_TRACES_EXPORTER", "zipkin,otlp,zipkin,console,console"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "broken,a=1,broken,bad key=1,bad key=2"),
                ("OTEL_RESOURCE_ATTRIBUTES", "desk=fx,broken,broken"),
            ],
            &Overrides::default(),
        );
        assert_eq!(config.signal(Signal::Traces).exporter, ExporterKind::Otlp);
        assert_eq!(config.signal(Signal::Traces).headers, vec![("a".into(), "1".into())]);
        assert_eq!(
            problems,
            [
                "OTEL_TRACES_EXPORTER: exporter \"zipkin\" is not supported by nanotel's pipeline; it is skipped",
                "OTEL_TRACES_EXPORTER=\"zipkin,otlp,zipkin,console,console\": one exporter per signal is supported; \
                 using the first, \"console\" is skipped",
                "OTEL_EXPORTER_OTLP_HEADERS: header entry 1 skipped: it has no '=' between a key and a value \
                 (as is entry 3)",
                "OTEL_EXPORTER_OTLP_HEADERS: header entry 4 skipped: the key \"bad\" is not a valid HTTP \
                 header name: ' ' follows (the rest is not shown) (as is entry 5)",
                "OTEL_RESOURCE_ATTRIBUTES: entry 2 is skipped: it has no '=' between a key and a value (as is entry 3)",
            ]
        );
    }

    #[test]
    fn credentials_in_the_endpoint_become_an_authorization_header_and_leave_the_url() {
        let (config, problems) = resolve_with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gateway:s3cr%2Ft@collector:4318"),
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://:token@logs:4318/v1/logs"),
                ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "Authorization=Bearer%20abc"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ],
            &Overrides::default(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        let traces = config.signal(Signal::Traces);
        assert_eq!(traces.url(), "https://collector:4318/v1/traces");
        // "gateway:s3cr/t", base64.
        assert_eq!(traces.headers, vec![("authorization".into(), "Basic Z2F0ZXdheTpzM2NyL3Q=".into())]);
        let metrics = config.signal(Signal::Metrics);
        assert_eq!(metrics.url(), "https://collector:4318/", "gRPC too");
        assert_eq!(metrics.headers, vec![("authorization".into(), "Bearer abc".into())], "a configured one wins");
        let logs = config.signal(Signal::Logs);
        assert_eq!(logs.url(), "http://logs:4318/v1/logs");
        assert_eq!(logs.headers, vec![("authorization".into(), "Basic OnRva2Vu".into())], "\":token\"");
    }
}
