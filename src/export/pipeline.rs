//! The public face of the export pipeline: the builder, the [`Pipeline`] that owns the exporter
//! thread, and the cloneable [`PipelineHandle`] producers hand data to.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{self as channel, Sender};

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::logs::v1::LogRecord;
use crate::proto::metrics::v1::{metric, Metric, ScopeMetrics};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::Span;

use super::accounting::{Accounting, DropReason, SignalCounters, Snapshot};
use super::at_exit::ExitFlush;
use super::bounded_queue::BoundedQueue;
use super::breaker::BreakerConfig;
use super::busy::Busy;
use super::config::{
    resolve, BatchConfig, Compression, ConfigError, ExporterKind, Overrides, PipelineConfig, Protocol,
};
use super::exporter::{CustomExporters, Exporter};
use super::processor::{Chain, LogProcessor, SpanProcessor};
use super::retry::RetryPolicy;
use super::span_queue::EncodedSpans;
use super::telemetry::SelfTelemetry;
use super::tls_settings::TrustRoots;
use super::wire::WireScratch;
use super::worker::{Command, Worker};
use super::Signal;
use crate::buffer::thread_rings::LateCounter;
use crate::config::{process_env, EnvLookup};

pub use crate::buffer::scopes::Scope;

/// How long dropping a [`Pipeline`] waits for it to deliver what is queued.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// An item waiting in a queue, with the scope that produced it.
pub(crate) struct Queued<T> {
    pub scope: Scope,
    pub item: T,
}

/// Called on the exporter thread at each metric collection (every `OTEL_METRIC_EXPORT_INTERVAL`,
/// and on flush and shutdown) to produce the current metric data.
pub trait MetricProducer: Send + 'static {
    /// The data points to export now.
    fn produce(&mut self) -> Vec<ScopeMetrics>;
}

/// Items recorded outside the pipeline's queues (for example in per-thread rings) that the exporter
/// thread moves in: at every poll, when a flush begins, and when shutdown begins (before the queues
/// close). The tracer provider's recorder is one.
pub trait RecordSource: Send + 'static {
    /// Moves what is ready into the pipeline through `sink`, taking no more than it has room for.
    fn drain(&mut self, sink: &mut RecordSink<'_>);

    /// Called once as shutdown ends, just before the last [`drain`](RecordSource::drain): after
    /// it the pipeline takes nothing more, so a source should count what it receives from now on
    /// with [`RecordSink::late_drops`] (dropped at shutdown) instead of holding it uncounted.
    /// The default does nothing.
    fn close(&mut self, sink: &mut RecordSink<'_>) {
        let _ = sink;
    }
}

/// The exporter thread's side of the queues, as a [`RecordSource`] sees it.
pub struct RecordSink<'a> {
    shared: &'a Arc<Shared>,
    /// The fullest buffer the sources reported at this drain, as a fraction of its capacity.
    fullest: f64,
    /// Whether a source left items behind for want of room in a queue.
    left_behind: bool,
    /// Where spans wait already encoded when the OTLP exporter sends them as protobuf and nothing
    /// of the user's needs their OTLP form (see `super::span_queue`); `None`: spans are queued
    /// as messages.
    encoded: Option<&'a mut EncodedSpans>,
}

impl RecordSink<'_> {
    /// How many more items of `signal` the queue takes now; `None` when the signal is not
    /// exported (what a source holds for it can be discarded). Metrics come through
    /// [`MetricProducer`]s instead, so `Signal::Metrics` is always `None`.
    #[must_use]
    pub fn room(&self, signal: Signal) -> Option<usize> {
        match signal {
            Signal::Traces => self.shared.spans.as_ref().map(|q| {
                let encoded = self.encoded.as_ref().map_or(0, |encoded| encoded.len());
                q.capacity().saturating_sub(q.len() + encoded)
            }),
            Signal::Logs => self.shared.logs.as_ref().map(|q| q.capacity() - q.len()),
            Signal::Metrics => None,
        }
    }

    /// Whether spans are to be handed over encoded ([`send_encoded_span`](Self::send_encoded_span))
    /// rather than as OTLP messages.
    pub(crate) fn encodes_spans(&self) -> bool {
        self.encoded.is_some()
    }

    /// Queues a span that `write` appends, encoded, to the buffer it is given (see
    /// `trace::record::write_wire`), counted as [`send_span`](Self::send_span) counts a span:
    /// dropped as `shutdown` once the queues closed, as `queue_full` past the queue's size (the
    /// same bound, shared with spans queued as messages). Callers check
    /// [`encodes_spans`](Self::encodes_spans) first: without the encoded queue `write` is not
    /// called and the span is dropped as `queue_full`.
    pub(crate) fn send_encoded_span(
        &mut self,
        scope: &Scope,
        write: impl FnOnce(&mut WireScratch, &mut Vec<u8>),
    ) -> bool {
        let Some(room) = self.room(Signal::Traces) else { return false };
        let counters = self.shared.accounting.signal(Signal::Traces);
        counters.enqueued.fetch_add(1, Ordering::Relaxed);
        // Acquire pairs with the Release store in shutdown, as in `Shared::offer` (both run on
        // the exporter thread here, the only one that drains into this queue).
        if self.shared.closed.load(Ordering::Acquire) {
            counters.dropped[DropReason::Shutdown as usize].fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let Some(encoded) = self.encoded.as_deref_mut().filter(|_| room > 0) else {
            counters.dropped[DropReason::QueueFull as usize].fetch_add(1, Ordering::Relaxed);
            return false;
        };
        counters.queued.fetch_add(1, Ordering::Relaxed);
        encoded.push(scope, write);
        true
    }

    /// Queues a span, as [`PipelineHandle::send_span`] does.
    pub fn send_span(&mut self, scope: &Scope, span: Span) -> bool {
        let counters = self.shared.accounting.signal(Signal::Traces);
        self.shared.offer(&self.shared.spans, counters, Queued { scope: scope.clone(), item: span }, 1)
    }

    /// Queues a log record, as [`PipelineHandle::send_log`] does.
    pub fn send_log(&mut self, scope: &Scope, record: LogRecord) -> bool {
        let counters = self.shared.accounting.signal(Signal::Logs);
        self.shared.offer(&self.shared.logs, counters, Queued { scope: scope.clone(), item: record }, 1)
    }

    /// The counter for items of `signal` the source receives after shutdown (see
    /// [`RecordSource::close`]).
    #[must_use]
    pub fn late_drops(&self, signal: Signal) -> LateDrops {
        LateDrops { shared: Arc::clone(self.shared), signal }
    }

    /// Counts `items` the source dropped before they reached the pipeline (its buffer was full):
    /// they were handed over and dropped as `queue_full`, as if a queue had refused them.
    pub fn count_dropped(&mut self, signal: Signal, items: u64) {
        self.shared.count_refused(signal, items, DropReason::QueueFull);
    }

    /// Counts `items` the source could not keep because they were recorded while their thread
    /// was exiting, after its buffer was torn down: handed over and dropped as `thread_exit`.
    pub fn count_dropped_at_thread_exit(&mut self, signal: Signal, items: u64) {
        self.shared.count_refused(signal, items, DropReason::ThreadExit);
    }

    /// Counts `items` the source could not keep because their thread's buffer could not be
    /// allocated (out of memory): handed over and dropped as `out_of_memory`.
    pub fn count_dropped_out_of_memory(&mut self, signal: Signal, items: u64) {
        self.shared.count_refused(signal, items, DropReason::OutOfMemory);
    }

    /// Says how full the source's fullest buffer was at this drain (`fullest`: what it held as a
    /// fraction of its capacity, 1.0 if it dropped items), and whether the source left items in
    /// it for want of room in the queue. The exporter thread drains again at once when items
    /// were left behind and it has made room, and sooner than its poll interval while buffers
    /// fill fast, so that they do not overflow between two drains; an idle source (0.0) leaves
    /// it at the poll interval.
    pub fn report_fill(&mut self, fullest: f64, left_behind: bool) {
        self.fullest = self.fullest.max(fullest);
        self.left_behind |= left_behind;
    }
}

impl<'a> RecordSink<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>, encoded: Option<&'a mut EncodedSpans>) -> Self {
        RecordSink { shared, fullest: 0.0, left_behind: false, encoded }
    }

    /// What the sources reported through [`RecordSink::report_fill`]: the fullest buffer's fill
    /// and whether any left items behind.
    pub(crate) fn fill(&self) -> (f64, bool) {
        (self.fullest, self.left_behind)
    }
}

/// Counts the items of one signal that a [`RecordSource`] receives after its pipeline shut down
/// (see [`RecordSource::close`]): each is counted as enqueued and dropped at once, with the reason
/// `shutdown`, so that nothing recorded after shutdown goes uncounted. Usable from any thread.
#[derive(Clone)]
pub struct LateDrops {
    shared: Arc<Shared>,
    signal: Signal,
}

impl LateDrops {
    /// Counts `items` dropped because the pipeline had shut down (nothing when the signal is not
    /// exported, as [`RecordSink::count_dropped`]).
    pub fn count(&self, items: u64) {
        self.shared.count_refused(self.signal, items, DropReason::Shutdown);
    }
}

impl LateCounter for LateDrops {
    fn count(&self, items: u64) {
        LateDrops::count(self, items);
    }
}

/// The state producers and the exporter thread share.
pub(crate) struct Shared {
    pub accounting: Accounting,
    pub spans: Option<BoundedQueue<Queued<Span>>>,
    pub logs: Option<BoundedQueue<Queued<LogRecord>>>,
    pub metrics: Option<BoundedQueue<ScopeMetrics>>,
    /// Set when shutdown begins; items handed over afterwards are dropped as `shutdown`.
    pub closed: AtomicBool,
    /// What the exporter thread runs of the program's code, said when a flush or shutdown gives
    /// up waiting for it.
    pub busy: Busy,
}

impl Shared {
    /// Whether records of `signal` are queued for export (metrics never are: they come through
    /// [`MetricProducer`]s).
    fn exports(&self, signal: Signal) -> bool {
        match signal {
            Signal::Traces => self.spans.is_some(),
            Signal::Logs => self.logs.is_some(),
            Signal::Metrics => false,
        }
    }

    /// Counts `items` of `signal` that a record source dropped before they reached a queue, as
    /// enqueued and dropped at once for `reason` (nothing when the signal is not exported: what a
    /// source holds for it is discarded).
    fn count_refused(&self, signal: Signal, items: u64, reason: DropReason) {
        if items == 0 || !self.exports(signal) {
            return;
        }
        let counters = self.accounting.signal(signal);
        // Relaxed: tallies, read by snapshots that need no ordering with anything else.
        counters.enqueued.fetch_add(items, Ordering::Relaxed);
        counters.dropped[reason as usize].fetch_add(items, Ordering::Relaxed);
    }

    fn new(config: &PipelineConfig) -> Self {
        let queue = |signal: Signal| {
            let signal = config.signal(signal);
            (signal.exporter != ExporterKind::None).then_some(signal.batch.max_queue_size)
        };
        Shared {
            accounting: Accounting::default(),
            spans: queue(Signal::Traces).map(BoundedQueue::new),
            logs: queue(Signal::Logs).map(BoundedQueue::new),
            // Metrics are queued as whole scopes, each holding many data points; the queue's
            // limit in data points is enforced by the exporter's backlog.
            metrics: queue(Signal::Metrics).map(|points| BoundedQueue::new(points.clamp(1, 1024))),
            closed: AtomicBool::new(false),
            busy: Busy::new(),
        }
    }

    /// Counts `count` items into `queue`, or counts them as dropped when it cannot take them.
    fn offer<T>(&self, queue: &Option<BoundedQueue<T>>, counters: &SignalCounters, item: T, count: u64) -> bool {
        let Some(queue) = queue else { return false };
        counters.enqueued.fetch_add(count, Ordering::Relaxed);
        // Acquire pairs with the Release store in shutdown: once it is seen, the exporter's final
        // drain may already have run, so the item must not enter the queue.
        if self.closed.load(Ordering::Acquire) {
            counters.dropped[DropReason::Shutdown as usize].fetch_add(count, Ordering::Relaxed);
            return false;
        }
        // Counted as queued before the push, so the exporter can never pop (and un-count) it first.
        counters.queued.fetch_add(count, Ordering::Relaxed);
        if let Ok(()) = queue.push(item) {
            true
        } else {
            counters.drop_queued(DropReason::QueueFull, count);
            false
        }
    }
}

impl Shared {
    /// Empties the queues, counting what they held as dropped at shutdown. Called at the end of
    /// shutdown, and when the last handle goes for anything pushed while shutdown was finishing.
    pub(crate) fn drop_leftovers(&self) {
        for signal in Signal::ALL {
            self.discard(signal, DropReason::Shutdown);
        }
    }

    /// Empties `signal`'s queue, counting what it held as dropped for `reason`.
    pub(crate) fn discard(&self, signal: Signal, reason: DropReason) {
        fn drain<T>(queue: &Option<BoundedQueue<T>>, weight: impl Fn(&T) -> u64) -> u64 {
            queue.as_ref().map_or(0, |q| std::iter::from_fn(|| q.pop()).map(|item| weight(&item)).sum())
        }
        let items = match signal {
            Signal::Traces => drain(&self.spans, |_| 1),
            Signal::Logs => drain(&self.logs, |_| 1),
            Signal::Metrics => drain(&self.metrics, data_point_count),
        };
        if items > 0 {
            self.accounting.signal(signal).drop_queued(reason, items);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.drop_leftovers();
    }
}

/// The number of data points in a scope's metrics: the unit metrics are counted in.
#[must_use]
pub fn data_point_count(scope: &ScopeMetrics) -> u64 {
    scope.metrics.iter().map(data_point_count_of).sum()
}

/// The number of data points in one metric.
pub(crate) fn data_point_count_of(metric: &Metric) -> u64 {
    (match &metric.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }) as u64
}

/// A cheap, cloneable, `Send + Sync` way to hand data to the pipeline from any thread.
///
/// Handing over never blocks and never waits for the exporter: a full queue drops the item and
/// counts it (`queue_full`). Each method returns whether the item was queued.
#[derive(Clone)]
pub struct PipelineHandle {
    shared: Arc<Shared>,
}

impl PipelineHandle {
    /// Queues a finished span.
    #[expect(
        clippy::must_use_candidate,
        reason = "whether the item was queued: fire-and-forget callers may ignore it (the accounting counts drops)"
    )]
    pub fn send_span(&self, scope: &Scope, span: Span) -> bool {
        let counters = self.shared.accounting.signal(Signal::Traces);
        self.shared.offer(&self.shared.spans, counters, Queued { scope: scope.clone(), item: span }, 1)
    }

    /// Queues a log record.
    #[expect(
        clippy::must_use_candidate,
        reason = "whether the item was queued: fire-and-forget callers may ignore it (the accounting counts drops)"
    )]
    pub fn send_log(&self, scope: &Scope, record: LogRecord) -> bool {
        let counters = self.shared.accounting.signal(Signal::Logs);
        self.shared.offer(&self.shared.logs, counters, Queued { scope: scope.clone(), item: record }, 1)
    }

    /// Queues a scope's metric data, counted in data points.
    #[expect(
        clippy::must_use_candidate,
        reason = "whether the item was queued: fire-and-forget callers may ignore it (the accounting counts drops)"
    )]
    pub fn send_metrics(&self, metrics: ScopeMetrics) -> bool {
        let counters = self.shared.accounting.signal(Signal::Metrics);
        let points = data_point_count(&metrics);
        self.shared.offer(&self.shared.metrics, counters, metrics, points)
    }

    /// Where every item went so far.
    #[must_use]
    pub fn accounting(&self) -> Snapshot {
        self.shared.accounting.snapshot()
    }
}

/// Why a flush did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushError {
    /// The deadline passed with items still queued.
    Timeout {
        /// Items of all signals not yet delivered.
        pending: u64,
    },
    /// A circuit breaker is open: what is left (of the signals it holds back; the others have
    /// delivered theirs) cannot be sent until it half-opens.
    CircuitOpen {
        /// Items of all signals held back.
        pending: u64,
    },
    /// The exporter thread is no longer running.
    Stopped,
}

impl std::fmt::Display for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlushError::Timeout { pending } => write!(f, "flush timed out with {pending} items not yet delivered"),
            FlushError::CircuitOpen { pending } => {
                write!(f, "the circuit breaker is open; {pending} items are held until the collector recovers")
            }
            FlushError::Stopped => f.write_str("the exporter thread has stopped"),
        }
    }
}

impl std::error::Error for FlushError {}

/// What [`Pipeline::shutdown`] achieved.
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// Whether the exporter thread finished within the deadline. When it did not (a send still in
    /// progress), it finishes on its own shortly after, and what it then drops is counted too.
    pub completed: bool,
    /// The accounting at the end; items left undelivered are under `dropped.shutdown`.
    pub accounting: Snapshot,
}

/// The export pipeline: the queues and the `nanotel-export` thread that empties them.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use nanotel::export::Pipeline;
/// use nanotel::proto::{common::v1::InstrumentationScope, trace::v1::Span};
/// use nanotel_testing::TestCollector;
///
/// let collector = TestCollector::start().unwrap();
/// let pipeline = Pipeline::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
/// let scope = Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() });
/// let span = Span { name: "order".into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
/// assert!(pipeline.handle().send_span(&scope, span));
/// pipeline.force_flush(Duration::from_secs(5)).unwrap();
/// let report = pipeline.shutdown(Duration::from_secs(5));
/// assert_eq!(report.accounting.traces.exported, 1);
/// assert_eq!(collector.accepted_items(nanotel::Signal::Traces), 1);
/// ```
#[must_use = "a pipeline shuts down when dropped"]
pub struct Pipeline {
    handle: PipelineHandle,
    config: PipelineConfig,
    control: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    /// This pipeline's place in the list flushed at exit (`None` when it asked for no flush then).
    exit_flush: Option<Arc<ExitFlush>>,
    /// The pipeline's own metrics, when it reports them (for a Prometheus endpoint beside it).
    #[cfg(feature = "prometheus")]
    self_telemetry: Option<SelfTelemetry>,
}

impl Pipeline {
    /// A builder that starts from the specification's defaults and the `OTEL_*` environment.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// A handle for producers on any thread.
    #[must_use]
    pub fn handle(&self) -> PipelineHandle {
        self.handle.clone()
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Where every item went so far.
    #[must_use]
    pub fn accounting(&self) -> Snapshot {
        self.handle.accounting()
    }

    /// The pipeline's own metrics (scope `nanotel`) as they are now, for a Prometheus endpoint
    /// beside it; `None` when it does not report them.
    #[cfg(feature = "prometheus")]
    pub(crate) fn self_metrics(&self) -> Option<impl Fn() -> Vec<ScopeMetrics> + Send + Sync + 'static> {
        let telemetry = self.self_telemetry.clone()?;
        Some(move || vec![telemetry.scope_metrics()])
    }

    /// Registers a source of metric data, collected on the exporter thread at every interval.
    pub fn add_metric_producer(&self, producer: impl MetricProducer) {
        // A send fails only when the thread has stopped, and then there is nothing to collect for.
        let _ = self.control.send(Command::AddProducer(Box::new(producer)));
    }

    /// Registers a source of items recorded outside the queues, drained on the exporter thread.
    pub fn add_record_source(&self, source: impl RecordSource) {
        // A send fails only when the thread has stopped, and then there is nothing to drain for.
        let _ = self.control.send(Command::AddSource(Box::new(source)));
    }

    /// Collects metrics and sends everything queued now, returning when it is delivered (or
    /// dropped for a reason the accounting records), or at the deadline.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] when the deadline passes with items still queued,
    /// [`FlushError::CircuitOpen`] when what is left is held back by open breakers (once the
    /// other signals delivered what they hold), or [`FlushError::Stopped`] when the exporter
    /// thread has stopped.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        request_flush(&self.control, &self.handle.shared, timeout)
    }

    /// Stops accepting items, delivers what it can before the deadline, drops (and counts) the
    /// rest, and stops the exporter thread. Never waits much past `timeout`, even when the
    /// collector does not answer.
    #[expect(
        clippy::must_use_candidate,
        reason = "the report is for callers that want it; shutting down is the point of the call"
    )]
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.shutdown_within(timeout)
    }

    fn shutdown_within(&mut self, timeout: Duration) -> ShutdownReport {
        // Off the list flushed at exit: an exit while this runs has nothing more to do for it.
        self.exit_flush = None;
        let Some(thread) = self.thread.take() else {
            return ShutdownReport { completed: true, accounting: self.accounting() };
        };
        // `Duration::MAX` for "as long as it takes" would overflow the deadline: a day is that.
        let timeout = crate::config::at_most_a_day(timeout);
        let deadline = Instant::now() + timeout;
        let (reply, done) = channel::bounded(1);
        let completed = self.control.send(Command::Shutdown { deadline, reply }).is_ok()
            && done.recv_timeout(timeout + Duration::from_millis(100)).is_ok();
        if completed {
            // The thread has answered and only returns now; joining cannot block for long. A
            // panic on it was already reported by the panic hook.
            let _ = thread.join();
        } else {
            say_why_the_thread_is_late(&self.handle.shared, "shutdown");
        }
        ShutdownReport { completed, accounting: self.accounting() }
    }
}

/// Asks the exporter thread behind `control` to flush (see [`Pipeline::force_flush`]) and waits
/// for its answer, `timeout` at most.
pub(crate) fn request_flush(control: &Sender<Command>, shared: &Shared, timeout: Duration) -> Result<(), FlushError> {
    let (reply, answer) = channel::bounded(1);
    // As in `shutdown_within`: no deadline past a day.
    let timeout = crate::config::at_most_a_day(timeout);
    let deadline = Instant::now() + timeout;
    control.send(Command::Flush { deadline, reply }).map_err(|_| FlushError::Stopped)?;
    // A little grace beyond the deadline: the thread answers at the deadline itself.
    match answer.recv_timeout(timeout + Duration::from_millis(100)) {
        Ok(result) => result,
        Err(channel::RecvTimeoutError::Timeout) => {
            say_why_the_thread_is_late(shared, "a flush");
            let accounting = shared.accounting.snapshot();
            let pending = Signal::ALL.iter().map(|s| accounting.signal(*s).queued).sum();
            Err(FlushError::Timeout { pending })
        }
        Err(channel::RecvTimeoutError::Disconnected) => Err(FlushError::Stopped),
    }
}

/// Says on stderr which of the program's code the exporter thread is in, when it has been there
/// long enough to be why `waiting` (a flush, shutdown) gave up.
fn say_why_the_thread_is_late(shared: &Shared, waiting: &str) {
    if let Some(why) = shared.busy.describe() {
        crate::diag::warning!("{waiting} gave up waiting for the exporter thread: {why}");
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown_within(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}

/// Configures and starts a [`Pipeline`]. Settings made here win over the environment.
///
/// ```
/// use std::time::Duration;
/// use nanotel::export::{Compression, Pipeline, Protocol};
///
/// let pipeline = Pipeline::builder()
///     .without_env()
///     .with_endpoint("http://127.0.0.1:4318")
///     .with_protocol(Protocol::HttpJson)
///     .with_compression(Compression::None)
///     .with_header("x-desk", "equities")
///     .with_timeout(Duration::from_secs(2))
///     .build()
///     .unwrap();
/// assert_eq!(pipeline.config().signal(nanotel::Signal::Logs).url(), "http://127.0.0.1:4318/v1/logs");
/// pipeline.shutdown(Duration::from_secs(1));
/// ```
#[must_use = "a builder does nothing until built"]
#[derive(Default)]
pub struct PipelineBuilder {
    overrides: Overrides,
    lookup: Option<EnvLookup>,
    console: Option<ConsoleOutput>,
    strict_tls: bool,
    extensions: Extensions,
    /// `None` until set: [`DEFAULT_SHUTDOWN_TIMEOUT`].
    exit_flush: Option<Duration>,
}

/// Where the console exporter writes.
pub(crate) type ConsoleOutput = Box<dyn std::io::Write + Send>;

/// The user's code the exporter thread runs: processors and exporters.
#[derive(Default)]
pub(crate) struct Extensions {
    pub spans: Chain<dyn SpanProcessor>,
    pub logs: Chain<dyn LogProcessor>,
    pub exporters: CustomExporters,
}

impl PipelineBuilder {
    /// Ignores the process environment: only defaults and what is set in code apply.
    pub fn without_env(self) -> Self {
        self.with_env_lookup(|_| None)
    }

    /// Reads `OTEL_*` variables through `lookup` instead of the process environment (for tests,
    /// or a program that keeps its configuration elsewhere).
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.lookup = Some(Box::new(lookup));
        self
    }

    /// How long the process's exit waits for this pipeline to flush when it is still running then
    /// (`std::process::exit`, or a `Telemetry` kept in a `static`): 5 s by default, as long as
    /// dropping it waits; zero for no flush at exit. A pipeline shut down or dropped before the
    /// exit is not waited for (the README, "The process's exit").
    pub fn with_exit_flush(mut self, timeout: Duration) -> Self {
        self.exit_flush = Some(timeout);
        self
    }

    /// The base URL of an OTLP/HTTP collector; `v1/traces`, `v1/metrics` and `v1/logs` are added.
    pub fn with_endpoint(mut self, base: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(base.into());
        self
    }

    /// The exact URL one signal is posted to.
    pub fn with_signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.overrides.signal_endpoints[signal as usize] = Some(url.into());
        self
    }

    /// The protocol of every signal ([`Protocol::Grpc`] or an OTLP/HTTP body encoding).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.protocol = Some(protocol);
        self
    }

    /// The protocol of one signal, winning over [`with_protocol`](Self::with_protocol): signals may
    /// mix.
    pub fn with_signal_protocol(mut self, signal: Signal, protocol: Protocol) -> Self {
        self.overrides.signal_protocols[signal as usize] = Some(protocol);
        self
    }

    /// The body compression of every signal.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.overrides.compression = Some(compression);
        self
    }

    /// Adds a request header (replacing one of the same name from the environment).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.headers.push((name.into(), value.into()));
        self
    }

    /// The limit on one HTTP request (zero: no limit, as `OTEL_EXPORTER_OTLP_TIMEOUT=0` says; at
    /// most a day, so `Duration::MAX` means a day).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Trusts the CA certificates of this PEM file, for every signal (wins over
    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE`). Alone it replaces the built-in roots; with
    /// [`with_tls_roots`](Self::with_tls_roots) it is added to them.
    pub fn with_certificate(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.overrides.tls.all.certificate = Some(pem_file.into());
        self
    }

    /// The same for one signal, which wins over the setting for every signal.
    pub fn with_signal_certificate(mut self, signal: Signal, pem_file: impl Into<PathBuf>) -> Self {
        self.overrides.tls.signals[signal as usize].certificate = Some(pem_file.into());
        self
    }

    /// Presents this client certificate (a PEM chain) and its PEM private key to a collector that
    /// asks for one (mTLS), for every signal (wins over `OTEL_EXPORTER_OTLP[_SIGNAL]_CLIENT_CERTIFICATE`
    /// and `_CLIENT_KEY`).
    pub fn with_client_certificate(mut self, certificate_pem: impl Into<PathBuf>, key_pem: impl Into<PathBuf>) -> Self {
        self.overrides.tls.all.client_identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// The same for one signal, which wins over the setting for every signal.
    pub fn with_signal_client_certificate(
        mut self,
        signal: Signal,
        certificate_pem: impl Into<PathBuf>,
        key_pem: impl Into<PathBuf>,
    ) -> Self {
        self.overrides.tls.signals[signal as usize].client_identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// What a signal whose TLS certificate or key file cannot be used (missing, unreadable, not
    /// PEM, a key that does not match its certificate) does. By default (`false`) the pipeline is
    /// built anyway: that signal's export is switched off, said once on stderr (naming the
    /// setting and the file), and everything it is handed is counted as dropped (`tls_config`),
    /// while the other signals export normally. With `true`, [`build`](Self::build) fails instead
    /// with that message, for a program that would rather not start without its telemetry.
    pub fn with_strict_tls(mut self, strict: bool) -> Self {
        self.strict_tls = strict;
        self
    }

    /// Which built-in certificate authorities are trusted (wins over `NANOTEL_EXPORTER_TLS_ROOTS`;
    /// default [`TrustRoots::Both`], or none beside a CA file).
    pub fn with_tls_roots(mut self, roots: TrustRoots) -> Self {
        self.overrides.tls.roots = Some(roots);
        self
    }

    /// Plaintext for an OTLP/gRPC endpoint given without a scheme (wins over
    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_INSECURE`). OTLP/HTTP ignores it: the URL's scheme decides.
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.overrides.tls.all.insecure = Some(insecure);
        self
    }

    /// The same for one signal, which wins over the setting for every signal.
    pub fn with_signal_insecure(mut self, signal: Signal, insecure: bool) -> Self {
        self.overrides.tls.signals[signal as usize].insecure = Some(insecure);
        self
    }

    /// Where one signal's data goes.
    pub fn with_exporter(mut self, signal: Signal, kind: ExporterKind) -> Self {
        self.overrides.exporters[signal as usize] = Some(kind);
        self
    }

    /// The batching of one signal (for metrics, `schedule_delay` is the collection interval).
    pub fn with_batch(mut self, signal: Signal, batch: BatchConfig) -> Self {
        self.overrides.batches[signal as usize] = Some(batch);
        self
    }

    /// The retry policy.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.overrides.retry = Some(policy);
        self
    }

    /// The most bytes of encoded batches the backlogs hold while they wait to be sent, e.g.
    /// through a collector outage (overrides `NANOTEL_BACKLOG_MAX_BYTES`; default
    /// [`DEFAULT_BACKLOG_MAX_BYTES`](super::DEFAULT_BACKLOG_MAX_BYTES), 64 MiB). What happens
    /// at the budget, and the one or two batches it may be passed by, is told at
    /// [`PipelineConfig::backlog_max_bytes`](super::PipelineConfig::backlog_max_bytes).
    pub fn with_backlog_max_bytes(mut self, bytes: usize) -> Self {
        self.overrides.backlog_max_bytes = Some(bytes);
        self
    }

    /// The CPUs nanotel's own threads run on (overrides `NANOTEL_THREAD_CPUS`; default: where the
    /// thread that builds the pipeline may run): the exporter thread and the threads it starts,
    /// and a [`Telemetry`](crate::Telemetry)'s Prometheus endpoint. For a program that pins its
    /// hot threads to cores of their own, so that exporting never takes a turn on them. An empty
    /// list, or one with a number past 1023, is reported and ignored (see
    /// [`PipelineConfig::thread_cpus`](super::PipelineConfig::thread_cpus)).
    pub fn with_thread_cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.overrides.thread_cpus = Some(cpus.into_iter().collect());
        self
    }

    /// The circuit breaker's settings.
    pub fn with_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.overrides.breaker = Some(breaker);
        self
    }

    /// The resource sent with every request.
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.overrides.resource = Some(resource);
        self
    }

    /// Where the console exporter writes its lines (default: stdout).
    pub fn with_console_output(mut self, output: impl std::io::Write + Send + 'static) -> Self {
        self.console = Some(Box::new(output));
        self
    }

    /// How often the exporter thread checks the queues' fill level (default 20 ms); sooner, down
    /// to every 1 ms, while the per-thread rings fill fast. At least 1 ms: a shorter interval
    /// (zero, say) would spin the thread, and is raised to 1 ms with a warning on stderr.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.overrides.poll_interval = Some(interval);
        self
    }

    /// Whether the pipeline reports its own metrics under the scope `nanotel` (default: on, or
    /// `NANOTEL_SELF_TELEMETRY`); they go out with the metrics and on the Prometheus endpoint.
    pub fn with_self_telemetry(mut self, enabled: bool) -> Self {
        self.overrides.self_telemetry = Some(enabled);
        self
    }

    /// Adds a span processor: it sees every span on the exporter thread before it is exported,
    /// after those added before it (see [`SpanProcessor`]).
    pub fn with_span_processor(mut self, processor: impl SpanProcessor) -> Self {
        self.extensions.spans.push(Box::new(processor));
        self
    }

    /// Adds a log processor: it sees every log record on the exporter thread before it is
    /// exported, after those added before it (see [`LogProcessor`]).
    pub fn with_log_processor(mut self, processor: impl LogProcessor) -> Self {
        self.extensions.logs.push(Box::new(processor));
        self
    }

    /// Hands the spans' batches to `exporter` instead of OTLP (see [`Exporter`]); the traces'
    /// exporter becomes [`ExporterKind::Custom`], whatever `exporter(..)` or the environment say.
    pub fn with_span_exporter(mut self, exporter: impl Exporter<ExportTraceServiceRequest>) -> Self {
        self.extensions.exporters.traces = Some(Box::new(exporter));
        self
    }

    /// Hands the metrics' batches to `exporter` instead of OTLP, as
    /// [`with_span_exporter`](Self::with_span_exporter) does for spans.
    pub fn with_metric_exporter(mut self, exporter: impl Exporter<ExportMetricsServiceRequest>) -> Self {
        self.extensions.exporters.metrics = Some(Box::new(exporter));
        self
    }

    /// Hands the log records' batches to `exporter` instead of OTLP, as
    /// [`with_span_exporter`](Self::with_span_exporter) does for spans.
    pub fn with_log_exporter(mut self, exporter: impl Exporter<ExportLogsServiceRequest>) -> Self {
        self.extensions.exporters.logs = Some(Box::new(exporter));
        self
    }

    /// Resolves the configuration, reports problems found in the environment (once, on stderr),
    /// and starts the exporter thread. A signal whose TLS certificate or key file cannot be used
    /// is switched off and said so (see [`with_strict_tls`](Self::with_strict_tls)).
    ///
    /// # Errors
    ///
    /// A setting made in code that cannot work (an endpoint that is not a URL, an invalid
    /// header, a signal's exporter [`ExporterKind::Custom`] without an exporter set), an exporter
    /// thread that cannot start, or, with `strict_tls(true)`, a TLS file that cannot be used.
    pub fn build(mut self) -> Result<Pipeline, ConfigError> {
        for signal in Signal::ALL {
            let slot = &mut self.overrides.exporters[signal as usize];
            if self.extensions.exporters.has(signal) {
                *slot = Some(ExporterKind::Custom);
            } else if *slot == Some(ExporterKind::Custom) {
                return Err(ConfigError(format!(
                    "the {} exporter is `Custom` but none was given (span_exporter, metric_exporter, log_exporter)",
                    signal.name()
                )));
            }
        }
        for (name, value) in &self.overrides.headers {
            let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(ConfigError(format!("header {name:?} has an invalid name or value")));
            }
            let lowercase = name.to_ascii_lowercase();
            if super::headers::is_connection_specific(&lowercase) {
                return Err(ConfigError(format!("header {name:?} is connection-specific, which HTTP/2 forbids")));
            }
            if super::headers::is_the_exporters(&lowercase) {
                return Err(ConfigError(format!("header {name:?} is set by the exporter itself")));
            }
        }
        let (config, problems) = resolve(self.lookup.as_deref().unwrap_or(&process_env), &self.overrides)?;
        crate::diag::config_problems(&problems);
        let console = self.console.unwrap_or_else(super::console::standard_output);
        let exit_flush = crate::config::at_most_a_day(self.exit_flush.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT));
        Pipeline::start(config, console, self.strict_tls, self.extensions, exit_flush)
    }
}

impl Pipeline {
    fn start(
        config: PipelineConfig,
        console: ConsoleOutput,
        strict_tls: bool,
        extensions: Extensions,
        exit_flush: Duration,
    ) -> Result<Pipeline, ConfigError> {
        let shared = Arc::new(Shared::new(&config));
        let (control, commands) = channel::unbounded();
        let (ready, started) = channel::bounded(1);
        let worker_shared = shared.clone();
        let worker_config = config.clone();
        let thread = crate::own_threads::spawn(std::thread::Builder::new().name("nanotel-export".into()), move || {
            crate::own_threads::mark_current();
            // First, so that the threads it starts (name lookups) inherit the scheduling policy
            // and the placement.
            crate::thread_cpus::leave_real_time_policy();
            if let Some(cpus) = &worker_config.thread_cpus {
                crate::thread_cpus::place_current_thread(cpus);
            }
            // The HTTP client is made on this thread: reqwest's blocking client must not be
            // created or dropped inside a caller's async runtime.
            match Worker::new(worker_shared, worker_config, commands, console, strict_tls, extensions) {
                Ok(worker) => {
                    let _ = ready.send(Ok(()));
                    worker.run();
                }
                Err(err) => {
                    let _ = ready.send(Err(err));
                }
            }
        })
        .map_err(|e| ConfigError(format!("cannot start the exporter thread: {e}")))?;
        match started.recv() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(ConfigError(err)),
            Err(_) => return Err(ConfigError("the exporter thread stopped while starting".into())),
        }
        let telemetry = config.self_telemetry.then(|| SelfTelemetry::new(shared.clone(), &config));
        if let Some(telemetry) =
            telemetry.clone().filter(|_| config.signal(Signal::Metrics).exporter != ExporterKind::None)
        {
            // The thread is running and takes commands in order: nothing to wait for.
            let _ = control.send(Command::AddProducer(Box::new(telemetry)));
        }
        Ok(Pipeline {
            #[cfg(feature = "prometheus")]
            self_telemetry: telemetry,
            exit_flush: ExitFlush::register(control.clone(), shared.clone(), exit_flush),
            handle: PipelineHandle { shared },
            config,
            control,
            thread: Some(thread),
        })
    }
}
