//! The `nanotel-export` thread: drain the queues into batches, send them, act on the answers.
//!
//! One loop, top to bottom: take commands (flush, shutdown), collect metrics when due, turn queued
//! items into encoded batches, send at most one request per signal, settle flushes, then sleep
//! until the next thing to do. Producers never wake the thread (that would cost them a syscall):
//! it looks at the queues every `poll_interval`.
//!
//! Each signal keeps a backlog of encoded batches. A batch stays at its head while it is retried;
//! the retry policy and the circuit breaker decide when it is sent again. While the breaker is
//! open the backlog keeps taking batches up to the queue size, then sheds the oldest.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};
use crossbeam::queue::ArrayQueue;
use rand::{Rng, SeedableRng};

use crate::diag::{self, Once};
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::logs::v1::{ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::ResourceMetrics;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans};

use super::accounting::DropReason;
use super::breaker::{BreakerState, CircuitBreaker};
use super::config::{Compression, ExporterKind, PipelineConfig, Protocol};
use super::encode::{EncodedBody, Encoder};
use super::pipeline::{
    data_point_count, ConsoleOutput, FlushError, MetricProducer, Queued, RecordSink, RecordSource, Scope, Shared,
};
use super::response::ExportOutcome;
use super::transport::{Request, Transport, TransportError};
use super::Signal;

/// What the owner of the pipeline asks of the thread.
pub(crate) enum Command {
    Flush { deadline: Instant, reply: Sender<Result<(), FlushError>> },
    Shutdown { deadline: Instant, reply: Sender<()> },
    AddProducer(Box<dyn MetricProducer>),
    AddSource(Box<dyn RecordSource>),
}

/// An encoded request and the number of items in it.
struct Batch {
    body: EncodedBody,
    items: u64,
}

/// The retry state of the batch at the head of a backlog.
struct Attempt {
    failures: u32,
    first_attempt: Instant,
    next_at: Instant,
    deadline: Instant,
}

/// One signal's side of the thread.
struct Lane {
    signal: Signal,
    encoder: Encoder,
    backlog: VecDeque<Batch>,
    backlog_items: u64,
    head: Option<Attempt>,
    next_batch_due: Instant,
    /// One line per kind of trouble, not one per batch.
    warned_partial: Once,
    warned_failed: Once,
    warned_exhausted: Once,
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    config: PipelineConfig,
    commands: Receiver<Command>,
    transport: Transport,
    breaker: CircuitBreaker,
    lanes: [Lane; 3],
    producers: Vec<Box<dyn MetricProducer>>,
    sources: Vec<Box<dyn RecordSource>>,
    next_collection: Instant,
    flushes: Vec<(Instant, Sender<Result<(), FlushError>>)>,
    shutdown: Option<(Instant, Sender<()>)>,
    rng: rand::rngs::SmallRng,
    console: ConsoleOutput,
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        config: PipelineConfig,
        commands: Receiver<Command>,
        console: ConsoleOutput,
    ) -> Result<Self, String> {
        let now = Instant::now();
        let lane = |signal: Signal| {
            let settings = config.signal(signal);
            let encoder = match settings.exporter {
                ExporterKind::Console => Encoder::new(Protocol::HttpJson, Compression::None),
                _ => Encoder::new(settings.protocol, settings.compression),
            };
            Lane {
                signal,
                encoder,
                backlog: VecDeque::new(),
                backlog_items: 0,
                head: None,
                next_batch_due: now + settings.batch.schedule_delay,
                warned_partial: Once::default(),
                warned_failed: Once::default(),
                warned_exhausted: Once::default(),
            }
        };
        Ok(Worker {
            transport: Transport::new()?,
            breaker: CircuitBreaker::new(config.breaker.clone()),
            lanes: [lane(Signal::Traces), lane(Signal::Metrics), lane(Signal::Logs)],
            next_collection: now + config.signal(Signal::Metrics).batch.schedule_delay,
            shared,
            config,
            commands,
            producers: Vec::new(),
            sources: Vec::new(),
            flushes: Vec::new(),
            shutdown: None,
            rng: rand::rngs::SmallRng::from_os_rng(),
            console,
        })
    }

    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            if now >= self.next_collection {
                self.collect_metrics(now);
            }
            // The clock the recorders timestamp with is kept on the wall clock from here.
            crate::clock::maintain();
            self.drain_sources();
            let draining = !self.flushes.is_empty() || self.shutdown.is_some();
            for index in 0..self.lanes.len() {
                self.fill_backlog(index, now, draining);
                self.send_head(index);
            }
            self.settle_flushes(Instant::now());
            if let Some((deadline, _)) = &self.shutdown {
                if self.is_empty() || Instant::now() >= *deadline {
                    self.finish_shutdown();
                    return;
                }
            }
            match self.commands.recv_deadline(self.next_wake(Instant::now())) {
                Ok(command) => self.take(command),
                Err(RecvTimeoutError::Timeout) => {}
                // The pipeline was dropped without a shutdown (it always sends one; this is a
                // panic unwinding through the owner): shut down with the default deadline.
                Err(RecvTimeoutError::Disconnected) if self.shutdown.is_none() => {
                    let (reply, _) = crossbeam::channel::bounded(1);
                    self.begin_shutdown(Instant::now() + super::pipeline::DEFAULT_SHUTDOWN_TIMEOUT, reply);
                }
                Err(RecvTimeoutError::Disconnected) => {}
            }
            while let Ok(command) = self.commands.try_recv() {
                self.take(command);
            }
        }
    }

    fn take(&mut self, command: Command) {
        match command {
            Command::Flush { deadline, reply } => {
                self.collect_metrics(Instant::now());
                self.drain_sources();
                self.flushes.push((deadline, reply));
            }
            Command::Shutdown { deadline, reply } => self.begin_shutdown(deadline, reply),
            Command::AddProducer(producer) => self.producers.push(producer),
            Command::AddSource(source) => self.sources.push(source),
        }
    }

    fn drain_sources(&mut self) {
        let mut sink = RecordSink::new(&self.shared);
        for source in &mut self.sources {
            source.drain(&mut sink);
        }
    }

    fn begin_shutdown(&mut self, deadline: Instant, reply: Sender<()>) {
        // What the sources hold now is taken while the queues still accept it.
        self.drain_sources();
        // Release pairs with the producers' Acquire load: after this store no new item enters
        // a queue, so the drain below sees everything that will ever be queued.
        self.shared.closed.store(true, Ordering::Release);
        self.collect_metrics(Instant::now());
        self.shutdown = Some((deadline, reply));
    }

    fn collect_metrics(&mut self, now: Instant) {
        let interval = self.config.signal(Signal::Metrics).batch.schedule_delay;
        self.next_collection = now + interval;
        if self.producers.is_empty() {
            return;
        }
        let counters = self.shared.accounting.signal(Signal::Metrics);
        let queue = &self.shared.metrics;
        for producer in &mut self.producers {
            for scope in producer.produce() {
                let points = data_point_count(&scope);
                if points == 0 {
                    continue;
                }
                let Some(queue) = queue else { continue };
                // The exporter is the metric queue's only consumer and producers run here, on
                // the same thread: push cannot race with a drain.
                counters.enqueued.fetch_add(points, Ordering::Relaxed);
                counters.queued.fetch_add(points, Ordering::Relaxed);
                if queue.push(scope).is_err() {
                    counters.drop_queued(DropReason::QueueFull, points);
                }
            }
        }
        self.lanes[Signal::Metrics as usize].next_batch_due = now;
    }

    fn queue_len(&self, signal: Signal) -> usize {
        match signal {
            Signal::Traces => self.shared.spans.as_ref().map_or(0, ArrayQueue::len),
            Signal::Logs => self.shared.logs.as_ref().map_or(0, ArrayQueue::len),
            Signal::Metrics => self.shared.metrics.as_ref().map_or(0, ArrayQueue::len),
        }
    }

    fn is_empty(&self) -> bool {
        self.lanes.iter().all(|lane| lane.backlog.is_empty() && self.queue_len(lane.signal) == 0)
    }

    fn pending_items(&self) -> u64 {
        Signal::ALL.iter().map(|s| self.shared.accounting.signal(*s).queued.load(Ordering::Relaxed)).sum()
    }

    /// Moves queued items into encoded batches when a batch is full, its delay has passed, or a
    /// flush or shutdown is draining.
    fn fill_backlog(&mut self, index: usize, now: Instant, draining: bool) {
        let signal = self.lanes[index].signal;
        let batch = self.config.signal(signal).batch.clone();
        let queued = self.queue_len(signal);
        if queued == 0 {
            return;
        }
        let lane = &mut self.lanes[index];
        if !(draining || queued >= batch.max_export_batch_size || now >= lane.next_batch_due) {
            return;
        }
        lane.next_batch_due = now + batch.schedule_delay;
        let capacity = batch.max_queue_size as u64;
        let open = self.breaker.state() == BreakerState::Open;
        while self.queue_len(signal) > 0 {
            // While the breaker is closed a full backlog pushes back on the queue, so producers
            // see `queue_full`; while it is open, the oldest batches make room instead.
            if !open && self.lanes[index].backlog_items >= capacity {
                break;
            }
            let Some(next) = self.encode_batch(signal, batch.max_export_batch_size) else { break };
            let lane = &mut self.lanes[index];
            let shared = Arc::clone(&self.shared);
            let counters = shared.accounting.signal(signal);
            lane.backlog_items += next.items;
            lane.backlog.push_back(next);
            while open && lane.backlog_items > capacity && lane.backlog.len() > 1 {
                if let Some(oldest) = lane.backlog.pop_front() {
                    lane.head = None;
                    lane.backlog_items -= oldest.items;
                    counters.drop_queued(DropReason::CircuitOpen, oldest.items);
                }
            }
        }
    }

    /// Takes up to `max_items` from a queue and encodes them into one request.
    fn encode_batch(&mut self, signal: Signal, max_items: usize) -> Option<Batch> {
        let resource = Some(self.config.resource.clone());
        let lane = &mut self.lanes[signal as usize];
        let (encoded, items) = match signal {
            Signal::Traces => {
                let queue = self.shared.spans.as_ref()?;
                let groups = group_by_scope(queue, max_items);
                let items = groups.iter().map(|(_, spans)| spans.len() as u64).sum();
                let scope_spans = groups
                    .into_iter()
                    .map(|(scope, spans)| ScopeSpans { scope: Some((*scope).clone()), spans, ..Default::default() })
                    .collect();
                let request = ExportTraceServiceRequest {
                    resource_spans: vec![ResourceSpans { resource, scope_spans, ..Default::default() }],
                };
                (lane.encoder.encode(&request), items)
            }
            Signal::Logs => {
                let queue = self.shared.logs.as_ref()?;
                let groups = group_by_scope(queue, max_items);
                let items = groups.iter().map(|(_, records)| records.len() as u64).sum();
                let scope_logs = groups
                    .into_iter()
                    .map(|(scope, log_records)| ScopeLogs {
                        scope: Some((*scope).clone()),
                        log_records,
                        ..Default::default()
                    })
                    .collect();
                let request = ExportLogsServiceRequest {
                    resource_logs: vec![ResourceLogs { resource, scope_logs, ..Default::default() }],
                };
                (lane.encoder.encode(&request), items)
            }
            Signal::Metrics => {
                let queue = self.shared.metrics.as_ref()?;
                let mut items = 0;
                let mut scope_metrics = Vec::new();
                while (items as usize) < max_items {
                    let Some(scope) = queue.pop() else { break };
                    items += data_point_count(&scope);
                    scope_metrics.push(scope);
                }
                let request = ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics { resource, scope_metrics, ..Default::default() }],
                };
                (lane.encoder.encode(&request), items)
            }
        };
        let shared = Arc::clone(&self.shared);
        let counters = shared.accounting.signal(signal);
        match encoded {
            Ok(body) if body.uncompressed_len <= self.config.max_request_size => Some(Batch { body, items }),
            Ok(body) => {
                diag::error!(
                    "{} batch of {items} items encodes to {} bytes, over the {} byte request limit; dropped",
                    signal.name(),
                    body.uncompressed_len,
                    self.config.max_request_size
                );
                counters.drop_queued(DropReason::TooLarge, items);
                None
            }
            Err(err) => {
                // Encoding into memory fails only if compression does; count it with oversize
                // requests, the other batches the exporter could not form.
                diag::error!("{} batch of {items} items could not be encoded: {err}; dropped", signal.name());
                counters.drop_queued(DropReason::TooLarge, items);
                None
            }
        }
    }

    /// Sends the batch at the head of a backlog if its time has come and the breaker allows.
    fn send_head(&mut self, index: usize) {
        let now = Instant::now();
        let signal = self.lanes[index].signal;
        if self.lanes[index].backlog.is_empty() || self.lanes[index].head.as_ref().is_some_and(|a| now < a.next_at) {
            return;
        }
        let settings = self.config.signal(signal);
        let shared = Arc::clone(&self.shared);
        let counters = shared.accounting.signal(signal);
        if settings.exporter == ExporterKind::Console {
            if let Some(batch) = self.pop_head(index) {
                let out = &mut self.console;
                let written =
                    out.write_all(&batch.body.body).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
                match written {
                    Ok(()) => counters.export_queued(batch.items),
                    Err(_) => counters.drop_queued(DropReason::Rejected, batch.items),
                }
            }
            return;
        }
        let lane = &self.lanes[index];
        let (first_attempt, failures, attempt_deadline) = match &lane.head {
            Some(attempt) => (attempt.first_attempt, attempt.failures, attempt.deadline),
            None => (now, 0, now + settings.batch.export_timeout),
        };
        // A flush's deadline only bounds how long its caller waits; shutdown's ends the export.
        let mut deadline = attempt_deadline;
        if let Some((shutdown_at, _)) = &self.shutdown {
            deadline = deadline.min(*shutdown_at);
        }
        let timeout = settings.timeout.min(deadline.saturating_duration_since(now));
        let Some(batch) = lane.backlog.front() else { return };
        let (body, items, uncompressed) = (batch.body.body.clone(), batch.items, batch.body.uncompressed_len);
        let (content_type, content_encoding) = (lane.encoder.content_type(), lane.encoder.content_encoding());
        if timeout.is_zero() {
            // Out of time before a request could even start.
            self.give_up(index, items);
            return;
        }
        let allowed = self.breaker.try_acquire(now);
        self.publish_breaker();
        if !allowed {
            return;
        }
        self.lanes[index].head = Some(Attempt { failures, first_attempt, next_at: now, deadline: attempt_deadline });

        counters.requests.fetch_add(1, Ordering::Relaxed);
        if failures > 0 {
            counters.retries.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.bytes_uncompressed.fetch_add(uncompressed as u64, Ordering::Relaxed);
        }
        counters.in_flight.store(items, Ordering::Relaxed);
        counters.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        let started = Instant::now();
        let mut request = Box::pin(self.transport.start(Request {
            signal,
            url: settings.url.clone(),
            headers: settings.headers.clone(),
            content_type,
            content_encoding,
            body,
            timeout,
        }));
        let result = loop {
            if let Some(result) = self.transport.poll_for(&mut request, self.config.poll_interval) {
                break Some(result);
            }
            // Between slices of the request, stay responsive: take commands, answer flushes
            // whose deadline passed, and give the request up when shutdown's deadline does.
            while let Ok(command) = self.commands.try_recv() {
                self.take(command);
            }
            // Keep emptying the recorders' buffers while a slow request is out, so producers
            // lose spans to a full queue (counted) rather than to a full buffer.
            self.drain_sources();
            let now = Instant::now();
            self.settle_flushes(now);
            if self.shutdown.as_ref().is_some_and(|(deadline, _)| now >= *deadline) {
                break None;
            }
        };
        drop(request);
        counters.record_latency(started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64);
        counters.in_flight.store(0, Ordering::Relaxed);
        let Some(result) = result else {
            // Abandoned: the batch stays at the head, and shutdown counts it as dropped.
            return;
        };
        let now = Instant::now();

        let retry_after = match result {
            Ok(ExportOutcome::Accepted { rejected, message }) => {
                self.breaker.on_success();
                self.publish_breaker();
                let rejected = rejected.min(items);
                self.pop_head(index);
                counters.export_queued(items - rejected);
                if rejected > 0 {
                    counters.drop_queued(DropReason::Rejected, rejected);
                }
                if let Some(message) = message {
                    if self.lanes[index].warned_partial.first() {
                        diag::warning!(
                            "the collector accepted {} {} with {rejected} rejected: {message} (reported once)",
                            items - rejected,
                            signal.name()
                        );
                    }
                }
                return;
            }
            Ok(ExportOutcome::Failed { status, reason }) => {
                counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                // A 5xx says the collector is unwell; any other answer says it is up.
                if status >= 500 {
                    self.breaker.on_failure(now);
                } else {
                    self.breaker.on_success();
                }
                self.publish_breaker();
                self.pop_head(index);
                counters.drop_queued(DropReason::Rejected, items);
                if self.lanes[index].warned_failed.first() {
                    diag::error!(
                        "the collector refused {items} {} ({reason}); not retried, dropped (reported once)",
                        signal.name()
                    );
                }
                return;
            }
            Ok(ExportOutcome::Retryable { retry_after, reason }) => {
                diag::info!("{} export failed, will retry: {reason}", signal.name());
                retry_after
            }
            Err(TransportError::Timeout(reason)) | Err(TransportError::Connection(reason)) => {
                diag::info!("{} export failed, will retry: {reason}", signal.name());
                None
            }
        };

        counters.failed_requests.fetch_add(1, Ordering::Relaxed);
        self.breaker.on_failure(now);
        self.publish_breaker();
        if self.breaker.state() == BreakerState::Open {
            // The batch waits at the head for the breaker's probe, with a fresh retry budget.
            self.lanes[index].head = None;
            return;
        }
        let jitter = self.rng.random::<f64>();
        let failures = failures + 1;
        let next = self.config.retry.next_attempt(failures, first_attempt, now, retry_after, jitter);
        match next.filter(|at| *at < deadline) {
            Some(next_at) => {
                if let Some(attempt) = self.lanes[index].head.as_mut() {
                    attempt.failures = failures;
                    attempt.next_at = next_at;
                }
            }
            None => self.give_up(index, items),
        }
    }

    /// Drops the head batch after its retries ran out (or shutdown's deadline did).
    fn give_up(&mut self, index: usize, items: u64) {
        let signal = self.lanes[index].signal;
        self.pop_head(index);
        let reason = if self.shutdown.is_some() { DropReason::Shutdown } else { DropReason::RetriesExhausted };
        self.shared.accounting.signal(signal).drop_queued(reason, items);
        if reason == DropReason::RetriesExhausted && self.lanes[index].warned_exhausted.first() {
            diag::error!("{items} {} dropped after their retries ran out (reported once)", signal.name());
        }
    }

    fn pop_head(&mut self, index: usize) -> Option<Batch> {
        let lane = &mut self.lanes[index];
        lane.head = None;
        let batch = lane.backlog.pop_front()?;
        lane.backlog_items -= batch.items;
        Some(batch)
    }

    fn publish_breaker(&self) {
        self.shared.accounting.publish_breaker(
            self.breaker.state(),
            self.breaker.transitions(),
            self.breaker.consecutive_failures(),
        );
    }

    /// Answers the flushes that are done, past their deadline, or blocked by an open breaker.
    fn settle_flushes(&mut self, now: Instant) {
        if self.flushes.is_empty() {
            return;
        }
        let empty = self.is_empty();
        let pending = self.pending_items();
        let open = self.breaker.state() == BreakerState::Open;
        self.flushes.retain(|(deadline, reply)| {
            let answer = if empty {
                Ok(())
            } else if open {
                Err(FlushError::CircuitOpen { pending })
            } else if now >= *deadline {
                Err(FlushError::Timeout { pending })
            } else {
                return true;
            };
            let _ = reply.send(answer);
            false
        });
    }

    /// Counts whatever is left as dropped at shutdown, answers the caller, and ends the thread.
    fn finish_shutdown(&mut self) {
        // From here on the sources count what they receive as dropped at shutdown (nothing will
        // drain them again); then the records ended since the last pass are taken: the queues
        // are closed, so they too are counted as dropped at shutdown instead of being left
        // uncounted in their threads' buffers.
        let mut sink = RecordSink::new(&self.shared);
        for source in &mut self.sources {
            source.close(&mut sink);
        }
        self.drain_sources();
        for index in 0..self.lanes.len() {
            let counters = Arc::clone(&self.shared);
            let counters = counters.accounting.signal(self.lanes[index].signal);
            while let Some(batch) = self.pop_head(index) {
                counters.drop_queued(DropReason::Shutdown, batch.items);
            }
        }
        self.shared.drop_leftovers();
        let pending = self.pending_items();
        for (_, reply) in self.flushes.drain(..) {
            let _ = reply.send(Err(FlushError::Timeout { pending }));
        }
        if let Some((_, reply)) = self.shutdown.take() {
            let _ = reply.send(());
        }
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = now + self.config.poll_interval;
        wake = wake.min(self.next_collection);
        for lane in &self.lanes {
            if let Some(attempt) = &lane.head {
                wake = wake.min(attempt.next_at);
            }
        }
        if let Some(at) = self.breaker.reopens_at() {
            wake = wake.min(at);
        }
        for (deadline, _) in &self.flushes {
            wake = wake.min(*deadline);
        }
        if let Some((deadline, _)) = &self.shutdown {
            wake = wake.min(*deadline);
        }
        wake.max(now)
    }
}

/// Pops up to `max_items` items and groups them by scope, keeping their order within a scope.
/// Scopes are compared by pointer: every item of one tracer or logger shares its `Arc`.
fn group_by_scope<T>(queue: &ArrayQueue<Queued<T>>, max_items: usize) -> Vec<(Scope, Vec<T>)> {
    let mut groups: Vec<(Scope, Vec<T>)> = Vec::new();
    for _ in 0..max_items {
        let Some(Queued { scope, item }) = queue.pop() else { break };
        match groups.iter_mut().find(|(existing, _)| Arc::ptr_eq(existing, &scope)) {
            Some((_, items)) => items.push(item),
            None => groups.push((scope, vec![item])),
        }
    }
    groups
}
