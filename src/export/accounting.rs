//! Where every item handed to the pipeline went.
//!
//! Counters are relaxed atomics: each is a tally that orders nothing else, and the producers pay
//! one uncontended add per item. A [`Snapshot`] reads them one by one, so while the pipeline is
//! busy an item may be seen in two places or none for an instant; at rest (after a flush or
//! shutdown) the identity `enqueued = exported + dropped + queued` holds exactly.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use serde::Serialize;

use super::breaker::BreakerState;
use super::Signal;

/// Why an item did not reach the collector. New reasons may come (`thread_exit` did in session 34),
/// so a `match` on it needs a wildcard arm; [`DropReason::ALL`] lists them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The pipeline's queue, or the recording thread's buffer, was full when the item was handed
    /// over; or the item was made from inside an allocation of its thread's buffers (a global
    /// allocator that records), while they were being made.
    QueueFull,
    /// The collector refused it: a partial success, or a status that must not be retried.
    Rejected,
    /// Every retry failed, or the retry budget ran out.
    RetriesExhausted,
    /// The circuit breaker was open or probing (half open) and the backlog had no room left: the
    /// oldest batch waiting to be sent went.
    CircuitOpen,
    /// The batch at the head of the signal's backlog waited for a retry (after a failed attempt,
    /// or for the pause a collector asked for with `Retry-After`) while its breaker stayed closed,
    /// and the backlog had no room left beside the room the other signals need: the oldest batch
    /// waiting to be sent went.
    BacklogFull,
    /// Still queued when shutdown's deadline passed, or handed over after shutdown.
    Shutdown,
    /// The encoded request was larger than the maximum request size.
    TooLarge,
    /// The signal's TLS settings could not be used (a certificate or key file missing, unreadable,
    /// not PEM, or a key that does not match its certificate): its export was switched off when
    /// the pipeline was built, and everything handed to it is dropped without a request until the
    /// files can be used.
    TlsConfig,
    /// A span or log processor dropped it, or panicked on it.
    Processor,
    /// Recorded by a thread-local destructor after its thread's own span or log buffer was torn
    /// down (the thread was exiting): there was nowhere to keep it.
    ThreadExit,
    /// Recorded by a thread that had no span or log buffer yet when one could not be allocated
    /// (the process was out of memory, or at its address-space limit).
    OutOfMemory,
}

impl DropReason {
    /// Every reason, in the order the JSON lists them.
    pub const ALL: [DropReason; 11] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::RetriesExhausted,
        DropReason::CircuitOpen,
        DropReason::BacklogFull,
        DropReason::Shutdown,
        DropReason::TooLarge,
        DropReason::TlsConfig,
        DropReason::Processor,
        DropReason::ThreadExit,
        DropReason::OutOfMemory,
    ];

    /// The key in the accounting JSON.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected => "rejected",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::CircuitOpen => "circuit_open",
            DropReason::BacklogFull => "backlog_full",
            DropReason::Shutdown => "shutdown",
            DropReason::TooLarge => "too_large",
            DropReason::TlsConfig => "tls_config",
            DropReason::Processor => "processor",
            DropReason::ThreadExit => "thread_exit",
            DropReason::OutOfMemory => "out_of_memory",
        }
    }
}

/// Upper bounds (inclusive) of the export duration histogram's buckets, in nanoseconds: 1 ms to
/// 30 s, the span between a loopback collector and a request timing out. The last bucket has no
/// upper bound.
pub(crate) const LATENCY_BOUNDS_NS: [u64; 14] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// The live counters of one signal.
#[derive(Default)]
pub(crate) struct SignalCounters {
    pub enqueued: AtomicU64,
    pub exported: AtomicU64,
    pub queued: AtomicU64,
    pub in_flight: AtomicU64,
    pub dropped: [AtomicU64; DropReason::ALL.len()],
    pub retries: AtomicU64,
    pub requests: AtomicU64,
    pub failed_requests: AtomicU64,
    pub latency_count: AtomicU64,
    pub latency_total_ns: AtomicU64,
    pub latency_max_ns: AtomicU64,
    /// Requests per duration bucket ([`LATENCY_BOUNDS_NS`], then one past the last bound).
    pub latency_buckets: [AtomicU64; LATENCY_BOUNDS_NS.len() + 1],
    pub bytes_uncompressed: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// The encoded bytes waiting in the signal's backlog, as the exporter thread last published.
    pub backlog_bytes: AtomicU64,
    /// The signal's circuit breaker, as the exporter thread last published it.
    breaker_state: AtomicU8,
    breaker_transitions: AtomicU64,
    breaker_failures: AtomicU64,
}

impl SignalCounters {
    /// Items left the pipeline for `reason`.
    pub(crate) fn drop_queued(&self, reason: DropReason, items: u64) {
        self.dropped[reason as usize].fetch_add(items, Relaxed);
        self.queued.fetch_sub(items, Relaxed);
    }

    /// The collector accepted `items`.
    pub(crate) fn export_queued(&self, items: u64) {
        self.exported.fetch_add(items, Relaxed);
        self.queued.fetch_sub(items, Relaxed);
    }

    /// Publishes the signal's breaker state; only the exporter thread writes it.
    pub(crate) fn publish_breaker(&self, state: BreakerState, transitions: u64, consecutive_failures: u32) {
        self.breaker_state.store(state.as_gauge(), Relaxed);
        self.breaker_transitions.store(transitions, Relaxed);
        self.breaker_failures.store(u64::from(consecutive_failures), Relaxed);
    }

    pub(crate) fn breaker(&self) -> BreakerSnapshot {
        let state = BreakerState::from_gauge(self.breaker_state.load(Relaxed));
        BreakerSnapshot {
            state: state.name(),
            state_gauge: state.as_gauge(),
            transitions: self.breaker_transitions.load(Relaxed),
            consecutive_failures: self.breaker_failures.load(Relaxed),
        }
    }

    pub(crate) fn record_latency(&self, nanos: u64) {
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_total_ns.fetch_add(nanos, Relaxed);
        self.latency_max_ns.fetch_max(nanos, Relaxed);
        // A value equal to a bound belongs to that bound's bucket, as OTLP's `le` buckets say.
        let bucket = LATENCY_BOUNDS_NS.partition_point(|bound| *bound < nanos);
        self.latency_buckets[bucket].fetch_add(1, Relaxed);
    }

    /// The duration histogram's bucket counts, read one by one.
    pub(crate) fn latency_buckets(&self) -> Vec<u64> {
        self.latency_buckets.iter().map(|count| count.load(Relaxed)).collect()
    }

    fn snapshot(&self) -> SignalSnapshot {
        SignalSnapshot {
            enqueued: self.enqueued.load(Relaxed),
            exported: self.exported.load(Relaxed),
            queued: self.queued.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            dropped: DropReason::ALL
                .iter()
                .map(|reason| (reason.name(), self.dropped[*reason as usize].load(Relaxed)))
                .collect(),
            retries: self.retries.load(Relaxed),
            requests: self.requests.load(Relaxed),
            failed_requests: self.failed_requests.load(Relaxed),
            export_latency_ns: LatencySnapshot {
                count: self.latency_count.load(Relaxed),
                total: self.latency_total_ns.load(Relaxed),
                max: self.latency_max_ns.load(Relaxed),
            },
            bytes: BytesSnapshot {
                uncompressed: self.bytes_uncompressed.load(Relaxed),
                sent: self.bytes_sent.load(Relaxed),
            },
            backlog_bytes: self.backlog_bytes.load(Relaxed),
            breaker: self.breaker(),
        }
    }
}

/// The counters of the whole pipeline, shared by the producers and the exporter thread.
#[derive(Default)]
pub(crate) struct Accounting {
    signals: [SignalCounters; 3],
}

impl Accounting {
    pub(crate) fn signal(&self, signal: Signal) -> &SignalCounters {
        &self.signals[signal as usize]
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let (traces, metrics, logs) = (
            self.signal(Signal::Traces).snapshot(),
            self.signal(Signal::Metrics).snapshot(),
            self.signal(Signal::Logs).snapshot(),
        );
        let breaker = BreakerSnapshot::worst([&traces.breaker, &metrics.breaker, &logs.breaker]);
        Snapshot { traces, metrics, logs, breaker }
    }
}

/// A point-in-time copy of the accounting, serializable as the JSON object the demo prints after
/// `nanotel-summary `.
///
/// ```
/// use std::time::Duration;
/// use nanotel::export::Pipeline;
///
/// let pipeline = Pipeline::builder().without_env().with_endpoint("http://127.0.0.1:9").build().unwrap();
/// let accounting = pipeline.accounting();
/// assert_eq!(accounting.traces.enqueued, 0);
/// let json = accounting.to_json();
/// assert!(json.starts_with(r#"{"traces":{"enqueued":0,"exported":0,"queued":0,"#));
/// pipeline.shutdown(Duration::from_secs(1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Spans.
    pub traces: SignalSnapshot,
    /// Metric data points.
    pub metrics: SignalSnapshot,
    /// Log records.
    pub logs: SignalSnapshot,
    /// The worst of the three signals' breakers (open, then half-open, then closed), with their
    /// transitions added up and the most consecutive failures. Kept from when one breaker served
    /// every signal; read each signal's own `breaker` instead (this one goes in a later release).
    pub breaker: BreakerSnapshot,
}

impl Default for Snapshot {
    /// All zero with the breaker closed: the accounting of a pipeline that has handled nothing (what
    /// a disabled SDK reports).
    fn default() -> Self {
        Accounting::default().snapshot()
    }
}

impl Snapshot {
    /// One signal's figures.
    #[must_use]
    pub fn signal(&self, signal: Signal) -> &SignalSnapshot {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// The snapshot as one line of JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serializing plain integers, strings and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One signal's figures, counted in spans, metric data points or log records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignalSnapshot {
    /// Items handed to the pipeline, including those refused at a full queue.
    pub enqueued: u64,
    /// Items the collector accepted (or the console exporter wrote).
    pub exported: u64,
    /// Items accepted by the pipeline and neither exported nor dropped yet (in flight included).
    pub queued: u64,
    /// Items in the request being sent right now.
    pub in_flight: u64,
    /// Items dropped, by reason (every reason is present, most at 0).
    pub dropped: BTreeMap<&'static str, u64>,
    /// Requests that sent a batch again (after a failure, a pause a collector asked for, or as a
    /// breaker's probe).
    pub retries: u64,
    /// HTTP requests sent (attempts).
    pub requests: u64,
    /// Requests that failed: no answer, a timeout, or a non-2xx status.
    pub failed_requests: u64,
    /// Duration of the HTTP requests.
    pub export_latency_ns: LatencySnapshot,
    /// Request body sizes.
    pub bytes: BytesSnapshot,
    /// Encoded (compressed) bytes of batches waiting to be sent, within the pipeline's backlog
    /// budget.
    pub backlog_bytes: u64,
    /// The signal's circuit breaker.
    pub breaker: BreakerSnapshot,
}

impl SignalSnapshot {
    /// Items dropped for any reason.
    #[must_use]
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Items dropped for `reason`.
    #[must_use]
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason.name()).copied().unwrap_or(0)
    }
}

/// Request durations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LatencySnapshot {
    /// Requests timed.
    pub count: u64,
    /// Their total, in nanoseconds.
    pub total: u64,
    /// The longest, in nanoseconds.
    pub max: u64,
}

/// Request body sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BytesSnapshot {
    /// Encoded bytes before compression.
    pub uncompressed: u64,
    /// Bytes sent (after compression), retries included.
    pub sent: u64,
}

/// The circuit breaker's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BreakerSnapshot {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// The same as a number: 0 closed, 1 half-open, 2 open.
    pub state_gauge: u8,
    /// State changes since start.
    pub transitions: u64,
    /// Failed attempts since the last healthy answer.
    pub consecutive_failures: u64,
}

impl BreakerSnapshot {
    /// The worst state of `breakers`, their transitions added up, the most consecutive failures.
    fn worst(breakers: [&BreakerSnapshot; 3]) -> BreakerSnapshot {
        let worst = breakers.iter().max_by_key(|b| BreakerState::from_gauge(b.state_gauge).severity()).copied();
        let worst = worst.unwrap_or(breakers[0]);
        BreakerSnapshot {
            transitions: breakers.iter().map(|b| b.transitions).sum(),
            consecutive_failures: breakers.iter().map(|b| b.consecutive_failures).max().unwrap_or(0),
            ..worst.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_include_their_upper_bound() {
        let counters = SignalCounters::default();
        for nanos in [0, 1_000_000, 1_000_001, 30_000_000_000, 30_000_000_001, u64::MAX] {
            counters.record_latency(nanos);
        }
        let buckets = counters.latency_buckets();
        assert_eq!(buckets.len(), LATENCY_BOUNDS_NS.len() + 1);
        assert_eq!((buckets[0], buckets[1], buckets[13], buckets[14]), (2, 1, 1, 2));
        assert_eq!(buckets.iter().sum::<u64>(), counters.latency_count.load(Relaxed));
    }
}
