//! The logger provider: limits, minimum severity and per-thread buffers shared by its loggers, one
//! per instrumentation scope.

use std::sync::{Arc, Weak};

use crate::clock::TickReader;
use crate::config::{process_env, EnvLookup, EnvReader, Lookup};
use crate::export::ring_source::{RingProvider, RingSource};
use crate::export::{Pipeline, RecordSink, Scope};
use crate::proto::logs::v1 as otlp;
use crate::Signal;

use crate::buffer::scopes::ScopeList;
use crate::buffer::thread_rings::{RingOwner, Rings};

use super::buffers::Buffers;
use super::limits::LogLimits;
use super::logger::Logger;
use super::record::{self, LogItem};
use super::severity::Severity;

/// How many records each thread holds by default, waiting for the exporter thread, before it
/// drops new ones.
pub const DEFAULT_BUFFER_CAPACITY: usize = 1024;

/// The most records a thread may hold ([`LoggerProviderBuilder::with_buffer_capacity`]). A larger
/// capacity is lowered to this one, with a warning: `usize::MAX` meant as "unlimited" once overflowed
/// the ring's size, a panic at each thread's first record.
pub const MAX_BUFFER_CAPACITY: usize = 1 << 20;

/// Makes [`Logger`]s and owns what they share: the limits, the minimum severity, and the
/// per-thread buffers records wait in until the exporter thread takes them.
///
/// ```
/// use std::time::Duration;
/// use nanotel::attributes::KeyValue;
/// use nanotel::export::Pipeline;
/// use nanotel::logs::{LoggerProvider, Severity};
/// use nanotel_testing::TestCollector;
///
/// let collector = TestCollector::start().unwrap();
/// let pipeline = Pipeline::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
/// let provider = LoggerProvider::builder().without_env().build();
/// provider.attach(&pipeline);
/// let logger = provider.logger_with_version("gateway", "1.2.0");
/// logger.emit(Severity::Info, "order accepted", &[KeyValue::new("order.id", 42)]);
/// pipeline.force_flush(Duration::from_secs(5)).unwrap();
/// assert_eq!(collector.accepted_items(nanotel::Signal::Logs), 1);
/// ```
#[derive(Clone)]
pub struct LoggerProvider {
    inner: Arc<ProviderInner>,
}

pub(crate) struct ProviderInner {
    /// False for [`LoggerProvider::disabled`]: every record is refused at the first check.
    pub(crate) enabled: bool,
    /// Reads a record's observed time, in the line `enabled` is read from (see `TickReader`).
    pub(crate) clock: TickReader,
    pub(crate) limits: LogLimits,
    pub(crate) minimum_severity: Severity,
    /// Drop records tied to a span that is not sampled.
    pub(crate) trace_based: bool,
    pub(crate) buffers: Arc<Buffers>,
    scopes: ScopeList,
}

/// A [`LoggerProvider`] that does not keep it alive, for [`crate::global`]: the installed set holds
/// these,
/// so that a provider's state goes when the [`Telemetry`](crate::Telemetry) and the handles made
/// from it do, even though the set itself is never freed.
pub(crate) struct WeakLoggerProvider(Weak<ProviderInner>);

impl WeakLoggerProvider {
    /// The provider, while anything else still holds it.
    pub(crate) fn upgrade(&self) -> Option<LoggerProvider> {
        self.0.upgrade().map(|inner| LoggerProvider { inner })
    }
}

impl LoggerProvider {
    /// A reference to this provider that does not keep it alive.
    pub(crate) fn downgrade(&self) -> WeakLoggerProvider {
        WeakLoggerProvider(Arc::downgrade(&self.inner))
    }
}

impl LoggerProvider {
    /// A builder starting from the specification's defaults and the `OTEL_*` environment.
    pub fn builder() -> LoggerProviderBuilder {
        LoggerProviderBuilder::default()
    }

    /// A provider whose loggers keep nothing, at the cost of one branch a record; used when
    /// `OTEL_SDK_DISABLED=true`. It allocates no buffer and attaching it does nothing.
    ///
    /// ```
    /// use nanotel::logs::{LoggerProvider, Severity};
    ///
    /// let provider = LoggerProvider::disabled();
    /// assert!(!provider.logger("gateway").enabled(Severity::Fatal));
    /// ```
    #[must_use]
    pub fn disabled() -> LoggerProvider {
        LoggerProvider {
            inner: Arc::new(ProviderInner {
                enabled: false,
                clock: TickReader::through_the_clock(),
                limits: LogLimits::default(),
                minimum_severity: Severity::Fatal4,
                trace_based: false,
                buffers: Arc::new(Buffers::new(0, false)),
                scopes: ScopeList::default(),
            }),
        }
    }

    /// Whether records are kept at all (false for [`LoggerProvider::disabled`]).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The logger of an instrumentation scope without a version.
    #[must_use]
    pub fn logger(&self, name: &str) -> Logger {
        self.logger_of(name, "")
    }

    /// The logger of an instrumentation scope and its version.
    #[must_use]
    pub fn logger_with_version(&self, name: &str, version: &str) -> Logger {
        self.logger_of(name, version)
    }

    fn logger_of(&self, name: &str, version: &str) -> Logger {
        Logger::new(self.inner.clone(), self.inner.scopes.index_of_named(name, version))
    }

    /// Sends this provider's records through `pipeline`: its exporter thread drains the buffers at
    /// every poll, on flush and at shutdown, in batches set by the `OTEL_BLRP_*` variables, and
    /// counts records dropped by full buffers as `queue_full`.
    ///
    /// One pipeline at a time: attached to a second while the first runs, the two share the items
    /// (each goes to the pipeline that drains it first), and what the first drains while it shuts
    /// down is counted `shutdown` there. Attach the next once the first has shut down.
    pub fn attach(&self, pipeline: &Pipeline) {
        if self.inner.enabled {
            self.inner.buffers.rings().attach();
            pipeline.add_record_source(RingSource::new(self.inner.clone()));
        }
    }

    /// Takes up to `max` records out of the buffers on the calling thread, as OTLP log records
    /// with their scope, and returns how many records were dropped since the last drain: by full
    /// buffers, or emitted by a thread-local destructor after their thread's buffer was gone, or by a
    /// thread whose buffers could not be allocated or were being made (from inside an allocation
    /// they made).
    /// For programs and tests without a pipeline; with one attached, its exporter thread does this.
    /// A drain that `sink` itself starts on this provider takes nothing.
    pub fn drain(&self, max: usize, mut sink: impl FnMut(&Scope, otlp::LogRecord)) -> u64 {
        let limits = self.inner.limits.value_limits();
        self.inner.drain(max, |scope, item| sink(scope, record::to_proto(item, limits))).lost()
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &LogLimits {
        &self.inner.limits
    }

    /// The least severe records kept; less severe ones are dropped before they are made.
    #[must_use]
    pub fn minimum_severity(&self) -> Severity {
        self.inner.minimum_severity
    }

    /// Whether records tied to a span that is not sampled are dropped.
    #[must_use]
    pub fn is_trace_based(&self) -> bool {
        self.inner.trace_based
    }
}

impl RingProvider for ProviderInner {
    const SIGNAL: Signal = Signal::Logs;
    type Owner = Buffers;

    fn rings(&self) -> &Rings<Buffers> {
        self.buffers.rings()
    }

    fn scopes(&self) -> &ScopeList {
        &self.scopes
    }

    fn scope_of(item: &LogItem) -> u32 {
        item.scope
    }

    fn deliver(&self, sink: &mut RecordSink<'_>, scope: &Scope, item: LogItem) {
        sink.send_log(scope, record::to_proto(item, self.limits.value_limits()));
    }
}

/// Configures a [`LoggerProvider`]. Settings made here win over the environment.
///
/// ```
/// use nanotel::logs::{LoggerProvider, Severity};
///
/// let provider = LoggerProvider::builder()
///     .with_env_lookup(|name| (name == "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT").then(|| "16".to_string()))
///     .with_minimum_severity(Severity::Info)
///     .build();
/// assert_eq!(provider.limits().attribute_count, 16);
/// assert!(!provider.logger("gateway").enabled(Severity::Debug));
/// ```
#[must_use = "a builder does nothing until built"]
pub struct LoggerProviderBuilder {
    limits: Option<LogLimits>,
    minimum_severity: Severity,
    trace_based: bool,
    lookup: Option<EnvLookup>,
    buffer_capacity: usize,
    backed: bool,
}

impl Default for LoggerProviderBuilder {
    fn default() -> Self {
        LoggerProviderBuilder {
            limits: None,
            minimum_severity: Severity::Trace,
            trace_based: false,
            lookup: None,
            buffer_capacity: DEFAULT_BUFFER_CAPACITY,
            backed: false,
        }
    }
}

impl LoggerProviderBuilder {
    /// Ignores the process environment.
    pub fn without_env(self) -> Self {
        self.with_env_lookup(|_| None)
    }

    /// Reads `OTEL_*` variables through `lookup` instead of the process environment.
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.lookup = Some(Box::new(lookup));
        self
    }

    /// The limits (instead of the `OTEL_LOGRECORD_*` variables).
    pub fn with_log_limits(mut self, limits: LogLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Drops records less severe than `severity` before they are made (default: keep all).
    pub fn with_minimum_severity(mut self, severity: Severity) -> Self {
        self.minimum_severity = severity;
        self
    }

    /// Drops records tied to a span that the sampler did not sample, so logs follow the traces
    /// kept (default: off). Records outside any span are kept.
    pub fn with_trace_based(mut self, trace_based: bool) -> Self {
        self.trace_based = trace_based;
        self
    }

    /// How many records each thread may hold, waiting for the exporter thread, before new ones are
    /// dropped and counted (default [`DEFAULT_BUFFER_CAPACITY`], rounded up to a power of two).
    /// Each thread that emits a record allocates this many slots once (a few hundred bytes each).
    /// At most [`MAX_BUFFER_CAPACITY`]: a larger capacity is lowered to it when the provider is
    /// built, with a warning on stderr.
    pub fn with_buffer_capacity(mut self, capacity: usize) -> Self {
        self.buffer_capacity = capacity;
        self
    }

    /// Whether each thread's ring is written whole when the thread emits its first record (default
    /// `false`). Allocated lazily backed, the record that first writes each page of it takes the
    /// page fault (about 25 µs on a 2-core VM), until the thread has gone once round its ring;
    /// backed at once, the first record pays every fault and no later one does.
    pub fn with_pages_backed_at_start(mut self, backed: bool) -> Self {
        self.backed = backed;
        self
    }

    /// Builds the provider, reporting problems found in the environment once on stderr. Also
    /// calibrates the clock now, so the first record does not.
    #[must_use]
    pub fn build(self) -> LoggerProvider {
        let lookup: Lookup<'_> = self.lookup.as_deref().unwrap_or(&process_env);
        let mut env = EnvReader::new(lookup);
        let limits = self.limits.unwrap_or_else(|| LogLimits::from_env(&mut env));
        crate::diag::config_problems(&env.problems);
        LoggerProvider {
            inner: Arc::new(ProviderInner {
                enabled: true,
                clock: TickReader::new(),
                limits,
                minimum_severity: self.minimum_severity,
                trace_based: self.trace_based,
                buffers: Arc::new(Buffers::new(
                    crate::diag::at_most(self.buffer_capacity, MAX_BUFFER_CAPACITY, "with_buffer_capacity"),
                    self.backed,
                )),
                scopes: ScopeList::default(),
            }),
        }
    }
}
