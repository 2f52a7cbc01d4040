//! The `nanotel-export` thread: drain the queues into batches, send them, act on the answers.
//!
//! One loop, top to bottom: collect metrics when due, turn queued items into encoded batches,
//! start a request for each signal whose lane is free (see [`super::lane`]: one lane, backlog,
//! retry schedule and circuit breaker per signal), settle flushes, then wait for the next thing to
//! do: a request finishing, a command (flush, shutdown), or a timer. Requests in flight are driven
//! together, a poll interval at a time, so commands are taken between slices. Producers never wake
//! the thread (that would cost them a syscall): it looks at the queues every `poll_interval`, or
//! sooner while the per-thread buffers fill fast (see [`next_drain_interval`]).
//!
//! # Draining the per-thread buffers
//!
//! Spans and log records wait in their threads' rings until a drain moves them into the queue.
//! A ring overflows when its thread fills it within one drain interval: with rings of 1024 and a
//! drain every 20 ms, past about 51 k items a second per thread. So the interval adapts: each
//! pass sees how full the fullest ring was and how long since the last drain, estimates how soon
//! it would be a quarter full again at that rate, and waits that long (at least
//! [`MIN_DRAIN_INTERVAL`], at most the poll interval, and at most twice the last wait). Empty
//! rings bring it back to the poll interval within a few drains, so an idle process wakes the
//! thread no more often than before. The interval can only follow a
//! rate it has seen: a thread that goes from idle to a burst must hold one poll interval of it
//! (which is what the default span ring capacity is sized for: see the tracer provider). And a
//! drain takes only what the queue has room for: when it leaves items behind, the pass moves the
//! queue into batches and drains again at once, up to [`CATCH_UP_ROUNDS`] times, so a burst
//! larger than the queue waits in its rings instead of being dropped.
//!
//! While a signal's breaker is open or probing its backlog keeps taking batches, and past the
//! backlog budget sheds its oldest waiting ones (never the newest, nor the probe's batch while it
//! is out). While it is closed, a batch is taken only while the backlogs have room for one as
//! large as the largest that signal has made; the rest waits in the queue.
//!
//! Each batch passes through the signal's processors (see [`super::processor`]) when it is taken
//! from the queue; a signal with an exporter of the user's own (see [`super::exporter`]) hands it
//! over there and then, instead of encoding it into the backlog. When neither needs the spans'
//! OTLP messages and the trace lane sends protobuf, the drain writes each span's bytes straight
//! from its slot into this thread's queue of encoded spans instead of the pipeline's queue (see
//! [`super::span_queue`]), and a batch is assembled around them.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rand::{Rng, SeedableRng};

use crate::diag;
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::logs::v1::{ResourceLogs, ScopeLogs};
use crate::proto::metrics::v1::ResourceMetrics;
use crate::proto::trace::v1::{ResourceSpans, ScopeSpans};

use super::accounting::{DropReason, SignalCounters};
use super::bounded_queue::BoundedQueue;
use super::breaker::BreakerState;
use super::busy::Work;
use super::config::{Compression, ExporterKind, PipelineConfig, Protocol};
use super::console;
use super::drop_report::DropReport;
use super::encode::{EncodedBody, Encoder};
use super::exporter::OtlpBatch;
use super::lane::{Attempt, Batch, Lane, UnusableTls};
use super::pipeline::{
    data_point_count, ConsoleOutput, Extensions, FlushError, MetricProducer, Queued, RecordSink, RecordSource, Scope,
    Shared,
};
use super::response::ExportOutcome;
use super::span_queue::EncodedSpans;
use super::split;
use super::tls::TlsError;
use super::tls_reload::Stamps;
use super::transport::{Pending, Request, SendResult, Transport, TransportError};
use super::Signal;

/// What the owner of the pipeline asks of the thread.
pub(crate) enum Command {
    Flush { deadline: Instant, reply: Sender<Result<(), FlushError>> },
    Shutdown { deadline: Instant, reply: Sender<()> },
    AddProducer(Box<dyn MetricProducer>),
    AddSource(Box<dyn RecordSource>),
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    /// How long to wait before the next drain of the sources (see the module's header).
    drain_interval: Duration,
    /// When the sources were last drained.
    last_drain: Instant,
    /// Whether the last drain left items in a source for want of room in a queue.
    sources_behind: bool,
    config: PipelineConfig,
    commands: Receiver<Command>,
    transport: Transport,
    lanes: [Lane; 3],
    /// Each lane's request in flight, by lane index.
    requests: [Option<Pending>; 3],
    producers: Vec<Box<dyn MetricProducer>>,
    sources: Vec<Box<dyn RecordSource>>,
    /// Whether a producer's or a source's panic was reported yet (see [`diag::catch_panic`]).
    producer_panicked: diag::Once,
    source_panicked: diag::Once,
    next_collection: Instant,
    flushes: Vec<(Instant, Sender<Result<(), FlushError>>)>,
    shutdown: Option<(Instant, Sender<()>)>,
    rng: rand::rngs::SmallRng,
    console: ConsoleOutput,
    drops: DropReport,
    extensions: Extensions,
    /// The spans waiting for their batch already encoded, when the trace lane sends protobuf and
    /// no span processor or exporter of the user's own needs their OTLP form (see
    /// [`super::span_queue`]); otherwise they wait as messages in the pipeline's queue.
    encoded_spans: Option<EncodedSpans>,
}

impl Worker {
    pub(super) fn new(
        shared: Arc<Shared>,
        config: PipelineConfig,
        commands: Receiver<Command>,
        console: ConsoleOutput,
        strict_tls: bool,
        extensions: Extensions,
    ) -> Result<Self, String> {
        let now = Instant::now();
        let (transport, unusable) = Transport::new(&config)?;
        let unusable = Signal::ALL.map(|signal| needed(&config, signal, unusable[signal as usize].clone()));
        let first_unusable =
            Signal::ALL.into_iter().zip(&unusable).find_map(|(signal, error)| Some((signal, error.as_ref()?)));
        if let (true, Some((signal, error))) = (strict_tls, first_unusable) {
            return Err(format!("{} TLS: {}", signal.name(), error.describe(&config.signal(signal).tls_origin)));
        }
        let lane = |signal: Signal| {
            let settings = config.signal(signal);
            let encoder = match settings.exporter {
                ExporterKind::Console => Encoder::new(Protocol::HttpJson, Compression::None),
                _ => Encoder::new(settings.protocol, settings.compression),
            };
            let mut lane = Lane::new(signal, encoder, config.breaker.clone(), now + settings.batch.schedule_delay);
            if let Some(error) = &unusable[signal as usize] {
                switch_off(&mut lane, &error.describe(&settings.tls_origin), &settings.tls.files(), now);
            }
            lane
        };
        let lanes = [lane(Signal::Traces), lane(Signal::Metrics), lane(Signal::Logs)];
        let encoded_spans = (shared.spans.is_some()
            && lanes[Signal::Traces as usize].encoder.is_protobuf()
            && extensions.spans.is_empty()
            && !extensions.exporters.has(Signal::Traces))
        .then(EncodedSpans::default);
        Ok(Worker {
            drain_interval: config.poll_interval,
            last_drain: now,
            sources_behind: false,
            transport,
            lanes,
            requests: [None, None, None],
            next_collection: now + config.signal(Signal::Metrics).batch.schedule_delay,
            shared,
            config,
            commands,
            producers: Vec::new(),
            sources: Vec::new(),
            producer_panicked: diag::Once::default(),
            source_panicked: diag::Once::default(),
            flushes: Vec::new(),
            shutdown: None,
            rng: rand::rngs::SmallRng::from_os_rng(),
            console,
            drops: DropReport::default(),
            extensions,
            encoded_spans,
        })
    }

    pub(super) fn run(mut self) {
        loop {
            let now = Instant::now();
            if now >= self.next_collection {
                self.collect_metrics(now);
            }
            // The clock the recorders timestamp with is kept on the wall clock from here.
            crate::clock::maintain();
            let (fullest, since) = self.drain_sources();
            let draining = !self.flushes.is_empty() || self.shutdown.is_some();
            self.drain_interval = if self.catch_up(now, draining) {
                // No room to drain into (the backlog is at its budget): draining sooner would not
                // help. A request finishing wakes the thread anyway.
                self.config.poll_interval
            } else {
                let (poll, last) = (self.config.poll_interval, self.drain_interval);
                next_drain_interval(poll, last, since, fullest, self.sources_behind)
            };
            for index in 0..self.lanes.len() {
                self.fill_backlog(index, now, draining);
                self.send_head(index);
                self.lanes[index].publish(self.shared.accounting.signal(self.lanes[index].signal));
            }
            self.settle_flushes(Instant::now());
            self.drops.check(&self.shared.accounting, Instant::now(), false);
            if self.shutdown_is_over(Instant::now()) {
                self.finish_shutdown();
                return;
            }
            self.wait(self.next_wake(Instant::now()));
        }
    }

    /// Waits until `wake`, a command, or (with requests in flight, a slice of at most one drain
    /// interval) a request finishing, and acts on what came.
    #[expect(
        clippy::match_same_arms,
        reason = "the arms are different cases that happen to be handled alike; merged they would read as one"
    )]
    fn wait(&mut self, wake: Instant) {
        if self.requests.iter().any(Option::is_some) {
            let slice = wake.saturating_duration_since(Instant::now()).min(self.drain_interval);
            for (index, result) in self.transport.poll_for(&mut self.requests, slice) {
                self.settle(index, result);
            }
        } else {
            match self.commands.recv_deadline(wake) {
                Ok(command) => self.take(command),
                Err(RecvTimeoutError::Timeout) => {}
                // The pipeline was dropped without a shutdown (it always sends one; this is a
                // panic unwinding through the owner): shut down with the default deadline.
                Err(RecvTimeoutError::Disconnected) if self.shutdown.is_none() => {
                    let (reply, _) = crossbeam_channel::bounded(1);
                    self.begin_shutdown(Instant::now() + super::pipeline::DEFAULT_SHUTDOWN_TIMEOUT, reply);
                }
                Err(RecvTimeoutError::Disconnected) => {}
            }
        }
        while let Ok(command) = self.commands.try_recv() {
            self.take(command);
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

    /// Moves what the sources hold into the queues, as far as they have room; returns the fill
    /// of the fullest buffer (see [`RecordSink::report_fill`]) and the time since the last drain.
    fn drain_sources(&mut self) -> (f64, Duration) {
        let mut sink = RecordSink::new(&self.shared, self.encoded_spans.as_mut());
        let busy = self.shared.busy.enter(Work::Draining);
        for source in &mut self.sources {
            diag::catch_panic(&self.source_panicked, || source.drain(&mut sink), report_source_panic);
        }
        drop(busy);
        let (fullest, left_behind) = sink.fill();
        let now = Instant::now();
        let since = now.saturating_duration_since(self.last_drain);
        self.last_drain = now;
        self.sources_behind = left_behind;
        (fullest, since)
    }

    /// While the last drain left items in a source for want of room, moves the queues into
    /// batches and drains again, as long as that makes room (a backlog at its budget does not):
    /// a burst larger than the queue goes through in one pass rather than overflowing its rings
    /// before the next. Returns whether it stopped for want of room (items are still left).
    fn catch_up(&mut self, now: Instant, draining: bool) -> bool {
        for _ in 0..CATCH_UP_ROUNDS {
            if !self.sources_behind {
                return false;
            }
            let queued = |worker: &Self| worker.queue_len(Signal::Traces) + worker.queue_len(Signal::Logs);
            let before = queued(self);
            for index in 0..self.lanes.len() {
                if self.lanes[index].signal != Signal::Metrics {
                    self.fill_backlog(index, now, draining);
                }
            }
            if queued(self) >= before {
                return true;
            }
            self.drain_sources();
        }
        false
    }

    /// Whether shutdown has done all it can: nothing is left, its deadline has passed, or
    /// nothing left can be sent before it (every lane with batches waits for a retry that comes
    /// later, or has an open breaker whose shutdown probe failed).
    fn shutdown_is_over(&self, now: Instant) -> bool {
        let Some((deadline, _)) = &self.shutdown else { return false };
        let stuck = Signal::ALL.iter().all(|signal| self.queue_len(*signal) == 0)
            && !self.lanes.iter().any(|lane| lane.can_send_before(*deadline));
        self.is_empty() || now >= *deadline || stuck
    }

    fn begin_shutdown(&mut self, deadline: Instant, reply: Sender<()>) {
        // An open breaker probes at once rather than at the end of its wait: a collector that
        // is back gets what is held, and one that is still down ends shutdown without waiting.
        let now = Instant::now();
        for lane in &mut self.lanes {
            lane.breaker.probe_now(now);
        }
        // What the sources hold now is taken while the queues still accept it, all of it: what
        // a drain leaves behind for want of room would be dropped as `shutdown` once they close.
        // So the rounds go on until nothing is left behind, no more room can be made (the
        // backlog is at its budget), or half the time to the deadline has passed, the rest being
        // for sending: what is still left then is counted as `shutdown` by the drains to come.
        // (Until session 41 they could run to the deadline: a held-up lane always makes room by
        // shedding, and a thread ending spans flat out kept its buffer full, so nothing was sent.)
        self.drain_sources();
        let rounds_end = now + deadline.saturating_duration_since(now) / 2;
        while self.sources_behind && !self.catch_up(Instant::now(), true) && Instant::now() < rounds_end {}
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
            let report = || {
                diag::error!(
                    "a metric producer panicked; its data of this collection is left out, and the exporter \
                     goes on (reported once)"
                );
            };
            let busy = self.shared.busy.enter(Work::Collecting);
            let produced = diag::catch_panic(&self.producer_panicked, || producer.produce(), report);
            drop(busy);
            let Some(scopes) = produced else { continue };
            for scope in scopes {
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

    /// The items of `signal` waiting for a batch: in the pipeline's queue, and for spans also
    /// those waiting encoded.
    fn queue_len(&self, signal: Signal) -> usize {
        match signal {
            Signal::Traces => {
                self.shared.spans.as_ref().map_or(0, BoundedQueue::len)
                    + self.encoded_spans.as_ref().map_or(0, EncodedSpans::len)
            }
            Signal::Logs => self.shared.logs.as_ref().map_or(0, BoundedQueue::len),
            Signal::Metrics => self.shared.metrics.as_ref().map_or(0, BoundedQueue::len),
        }
    }

    /// Whether nothing waits: no batch, nothing queued, nothing a source held back for want of room.
    fn is_empty(&self) -> bool {
        !self.sources_behind
            && self.lanes.iter().all(|lane| lane.backlog.is_empty() && self.queue_len(lane.signal) == 0)
    }

    fn pending_items(&self) -> u64 {
        Signal::ALL.iter().map(|s| self.shared.accounting.signal(*s).queued.load(Ordering::Relaxed)).sum()
    }

    /// Whether a lane switched off for its TLS files may export now: at most once every
    /// [`TLS_LOOK_INTERVAL`], and only when one of the files changed (or appeared) since they were
    /// last found unusable, they are read again; once they can be used, the signal exports again.
    fn tls_usable_now(&mut self, index: usize, now: Instant) -> bool {
        let signal = self.lanes[index].signal;
        let Some(unusable) = &mut self.lanes[index].tls_unusable else { return true };
        if now < unusable.next_look {
            return false;
        }
        unusable.next_look = now + TLS_LOOK_INTERVAL;
        let stamps = Stamps::of(&self.config.signal(signal).tls.files());
        if stamps == unusable.stamps {
            return false;
        }
        unusable.stamps = stamps;
        if self.transport.use_tls_again(&self.config, signal).is_err() {
            return false;
        }
        self.lanes[index].tls_unusable = None;
        diag::warning!("{} export is on: its TLS files can be used now", signal.name());
        true
    }

    /// Moves queued items into encoded batches when a batch is full, its delay has passed, or a
    /// flush or shutdown is draining, within the backlog budget: a lane that is not held up takes
    /// a batch only while the backlogs have room for one an eighth larger than its largest so far,
    /// and leaves the rest in the queue (which pushes back on producers); one that is held up
    /// (`Lane::is_held_up`: its breaker open or probing, or its head batch waiting for a retry or
    /// a pause the collector asked for) keeps taking batches and sheds its oldest waiting ones
    /// past the budget. (Until session 41 only a tripped breaker's lane shed: a lane paced by
    /// `Retry-After`, whose breaker stays closed, filled the budget, and the other signals formed
    /// no batch for as long as its collector paced it.)
    fn fill_backlog(&mut self, index: usize, now: Instant, draining: bool) {
        let signal = self.lanes[index].signal;
        if self.lanes[index].tls_unusable.is_some() && !self.tls_usable_now(index, now) {
            self.discard(signal, DropReason::TlsConfig);
            return;
        }
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
        let held_up = self.lanes[index].is_held_up(now);
        let shed_reason =
            if self.lanes[index].breaker_is_tripped() { DropReason::CircuitOpen } else { DropReason::BacklogFull };
        // An exporter of the user's own takes each batch at once: it adds nothing to the backlogs,
        // so other signals' backlogs do not hold it back.
        let custom = self.extensions.exporters.has(signal);
        while self.queue_len(signal) > 0 {
            if !held_up && !custom && !self.has_room_for_a_batch(index) {
                break;
            }
            let formed = if let Some(formed) = self.take_encoded_batch(signal, batch.max_export_batch_size) {
                formed
            } else {
                let Some((taken, items)) = self.take_batch(signal, batch.max_export_batch_size) else { break };
                if items == 0 {
                    // The processors dropped every record of this batch.
                    continue;
                }
                if custom {
                    let _busy = self.shared.busy.enter(Work::ExportingOwn);
                    self.extensions.exporters.export(taken, items, self.shared.accounting.signal(signal));
                    continue;
                }
                self.encode_batch(signal, taken, items)
            };
            if !formed {
                break;
            }
            if held_up {
                self.shed_past_budget(index, now, shed_reason);
            }
        }
    }

    /// Whether the backlogs can take another of lane `index`'s batches within the budget, judged
    /// by the largest it has made and an eighth more (batches of the same items compress to
    /// sizes a few per cent apart: judged by the largest alone, the next one passed the budget by
    /// some bytes now and then). An empty backlog always can: a batch larger than the whole
    /// budget is still sent rather than stuck.
    ///
    /// Console lanes and sending lanes each have the budget to themselves: a console output
    /// nobody reads (a log agent that stalled) never trips a breaker, and its backlog, taking the
    /// shared budget, left the sending lanes no room to form a batch while their collector
    /// answered (until session 40). Its queue fills instead (`queue_full`).
    fn has_room_for_a_batch(&self, index: usize) -> bool {
        let held = self.backlog_bytes_beside(index);
        held == 0 || held + self.lanes[index].room_for_a_batch() <= self.config.backlog_max_bytes
    }

    /// Whether lane `index` writes to the console output instead of sending.
    fn is_console(&self, index: usize) -> bool {
        self.config.signal(self.lanes[index].signal).exporter == ExporterKind::Console
    }

    /// The encoded bytes held by the backlogs that share lane `index`'s budget: the console
    /// lanes', or the sending lanes'.
    fn backlog_bytes_beside(&self, index: usize) -> usize {
        let console = self.is_console(index);
        (0..self.lanes.len())
            .filter(|&other| self.is_console(other) == console)
            .map(|other| self.lanes[other].backlog_bytes)
            .sum()
    }

    /// Drops lane `index`'s oldest waiting batches until the backlogs fit their budget, less the
    /// room the lanes not held up at `now` need for their next batch, counted for `reason`; its
    /// newest batch, and one a request is out for, stay. (Until session 39 a lane in a long
    /// outage filled the whole budget, and the healthy signals, finding no room, stopped forming
    /// batches: their queues overflowed while their collector answered.)
    fn shed_past_budget(&mut self, index: usize, now: Instant, reason: DropReason) {
        let counters = self.shared.accounting.signal(self.lanes[index].signal);
        let for_the_others: usize = (self.lanes.iter().enumerate())
            .filter(|&(other, lane)| other != index && !lane.is_held_up(now) && !self.is_console(other))
            .map(|(_, lane)| lane.room_for_a_batch())
            .sum();
        let budget = self.config.backlog_max_bytes.saturating_sub(for_the_others);
        while self.backlog_bytes_beside(index) > budget {
            let Some(oldest) = self.lanes[index].shed_oldest_waiting() else { break };
            counters.drop_queued(reason, oldest.items);
        }
    }

    /// Empties `signal`'s queue, and for spans the encoded ones, counting what they held as
    /// dropped for `reason`.
    fn discard(&mut self, signal: Signal, reason: DropReason) {
        if signal == Signal::Traces {
            self.discard_encoded_spans(reason);
        }
        self.shared.discard(signal, reason);
    }

    /// Counts the spans waiting encoded as dropped for `reason`, and forgets them.
    fn discard_encoded_spans(&mut self, reason: DropReason) {
        let dropped = self.encoded_spans.as_mut().map_or(0, EncodedSpans::clear);
        if dropped > 0 {
            self.shared.accounting.signal(Signal::Traces).drop_queued(reason, dropped as u64);
        }
    }

    /// A batch of up to `max_items` of the spans waiting encoded (see [`super::span_queue`]),
    /// once the pipeline's queue holds no span messages (spans handed over by a
    /// [`super::PipelineHandle`] go first), into the lane's backlog: whether it made a batch
    /// (see [`checked_batch`](Self::checked_batch)), or `None` when there is none to take.
    fn take_encoded_batch(&mut self, signal: Signal, max_items: usize) -> Option<bool> {
        if signal != Signal::Traces || self.shared.spans.as_ref().is_some_and(|queue| !queue.is_empty()) {
            return None;
        }
        let encoded = self.encoded_spans.as_mut().filter(|encoded| encoded.len() > 0)?;
        let resource = &self.config.resource;
        let encoder = &mut self.lanes[signal as usize].encoder;
        let (body, items) = encoder.encode_protobuf_with(|out| encoded.take_request(max_items, resource, out));
        Some(self.checked_batch(signal, body, items as u64))
    }

    /// Takes up to `max_items` from a queue, passes them through the signal's processors, and
    /// forms one request of what they keep; with the number of items in it (0 when the
    /// processors dropped every one).
    fn take_batch(&mut self, signal: Signal, max_items: usize) -> Option<(OtlpBatch, u64)> {
        let resource = Some(self.config.resource.clone());
        let counters = self.shared.accounting.signal(signal);
        match signal {
            Signal::Traces => {
                let mut groups = group_by_scope(self.shared.spans.as_ref()?, max_items);
                // The program's processors run here: a flush that gives up says so if they hold it.
                let busy = self.shared.busy.enter(Work::Draining);
                count_processed(counters, self.extensions.spans.run(&mut groups));
                drop(busy);
                let items = groups.iter().map(|(_, spans)| spans.len() as u64).sum();
                let scope_spans = groups
                    .into_iter()
                    .map(|(scope, spans)| ScopeSpans { scope: Some((*scope).clone()), spans, ..Default::default() })
                    .collect();
                let request = ExportTraceServiceRequest {
                    resource_spans: vec![ResourceSpans { resource, scope_spans, ..Default::default() }],
                };
                Some((OtlpBatch::Traces(request), items))
            }
            Signal::Logs => {
                let mut groups = group_by_scope(self.shared.logs.as_ref()?, max_items);
                let busy = self.shared.busy.enter(Work::Draining);
                count_processed(counters, self.extensions.logs.run(&mut groups));
                drop(busy);
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
                Some((OtlpBatch::Logs(request), items))
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
                Some((OtlpBatch::Metrics(request), items))
            }
        }
    }

    /// Encodes a request of `items` items into its lane's backlog: whether it made a batch (see
    /// [`checked_batch`](Self::checked_batch)).
    fn encode_batch(&mut self, signal: Signal, batch: OtlpBatch, items: u64) -> bool {
        let encoder = &mut self.lanes[signal as usize].encoder;
        let encoded = match &batch {
            OtlpBatch::Traces(request) => encoder.encode(request),
            OtlpBatch::Metrics(request) => encoder.encode(request),
            OtlpBatch::Logs(request) => encoder.encode(request),
        };
        self.checked_batch(signal, encoded, items)
    }

    /// Puts an encoded request of `items` items in its lane's backlog: itself, or, over the
    /// request size limit, its halves (split again as needed, see [`super::split`]). False (the
    /// items counted as dropped) when it could not be encoded, or one item alone is over the
    /// limit.
    fn checked_batch(&mut self, signal: Signal, encoded: std::io::Result<EncodedBody>, items: u64) -> bool {
        let body = match encoded {
            Ok(body) if body.uncompressed_len <= self.config.max_request_size => {
                self.lanes[signal as usize].push(Batch { body, items });
                return true;
            }
            Ok(body) => body,
            Err(err) => {
                // Encoding into memory fails only if compression does; count it with oversize
                // requests, the other batches the exporter could not form.
                diag::error!("{} batch of {items} items could not be encoded: {err}; dropped", signal.name());
                self.shared.accounting.signal(signal).drop_queued(DropReason::TooLarge, items);
                return false;
            }
        };
        let halves = (items > 1).then(|| split::split(signal, &mut self.lanes[signal as usize].encoder, &body));
        if let Some(Some([first, second])) = halves {
            let first = self.checked_batch(signal, Ok(first.body), first.items);
            let second = self.checked_batch(signal, Ok(second.body), second.items);
            return first || second;
        }
        diag::error!(
            "{} batch of {items} items encodes to {} bytes, over the {} byte request limit; dropped",
            signal.name(),
            body.uncompressed_len,
            self.config.max_request_size
        );
        self.shared.accounting.signal(signal).drop_queued(DropReason::TooLarge, items);
        false
    }

    /// Starts sending the batch at the head of a lane if its time has come and its breaker
    /// allows (a console lane writes it at once).
    fn send_head(&mut self, index: usize) {
        let now = Instant::now();
        if !self.lanes[index].head_is_due(now) {
            return;
        }
        let signal = self.lanes[index].signal;
        let settings = self.config.signal(signal);
        if settings.exporter == ExporterKind::Console {
            self.write_to_console(index);
            return;
        }
        let attempt = self.lanes[index].head.unwrap_or(Attempt {
            failures: 0,
            first_attempt: now,
            next_at: now,
            deadline: now + settings.batch.export_timeout,
        });
        let timeout = settings.timeout.min(self.export_deadline(&attempt).saturating_duration_since(now));
        let Some(items) = self.lanes[index].backlog.front().map(|batch| batch.items) else { return };
        if timeout.is_zero() {
            // Out of time before a request could even start.
            let reason = self.out_of_time(&attempt, now);
            self.give_up(index, items, reason);
            return;
        }
        let counters = self.shared.accounting.signal(signal);
        let lane = &mut self.lanes[index];
        let allowed = lane.breaker.try_acquire(now);
        lane.publish_breaker(counters);
        if !allowed {
            return;
        }
        lane.head = Some(Attempt { next_at: now, ..attempt });
        lane.in_flight = Some(now);
        let Some(batch) = lane.backlog.front() else { return };
        counters.requests.fetch_add(1, Ordering::Relaxed);
        // A resend is a retry, counted by whether the batch went before, not by its failures: a
        // breaker's probe and a resend after a collector's pause start with none (until session
        // 41 they counted as first attempts, their bytes again before compression).
        if lane.head_was_sent {
            counters.retries.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.bytes_uncompressed.fetch_add(batch.body.uncompressed_len as u64, Ordering::Relaxed);
        }
        lane.head_was_sent = true;
        counters.in_flight.store(items, Ordering::Relaxed);
        counters.bytes_sent.fetch_add(batch.body.body.len() as u64, Ordering::Relaxed);
        self.requests[index] = Some(self.transport.start(Request {
            signal,
            protocol: settings.protocol,
            url: settings.url.clone(),
            headers: settings.headers.clone(),
            content_type: lane.encoder.content_type(),
            content_encoding: lane.encoder.content_encoding(),
            body: batch.body.body.clone(),
            timeout,
        }));
    }

    /// When the head batch's export must end: its own deadline, or shutdown's if sooner. (A
    /// flush's deadline only bounds how long its caller waits.)
    fn export_deadline(&self, attempt: &Attempt) -> Instant {
        match &self.shutdown {
            Some((shutdown_at, _)) => attempt.deadline.min(*shutdown_at),
            None => attempt.deadline,
        }
    }

    fn write_to_console(&mut self, index: usize) {
        let lane = &mut self.lanes[index];
        let counters = self.shared.accounting.signal(lane.signal);
        let Some(batch) = lane.backlog.front() else { return };
        let items = batch.items;
        match console::write_line(&mut self.console, batch, &mut lane.console_written) {
            console::Progress::Waiting => return,
            console::Progress::Written => counters.export_queued(items),
            console::Progress::Failed => counters.drop_queued(DropReason::Rejected, items),
        }
        lane.pop_head();
    }

    /// Acts on the answer to a lane's request.
    fn settle(&mut self, index: usize, result: SendResult) {
        let lane = &mut self.lanes[index];
        let counters = self.shared.accounting.signal(lane.signal);
        if let Some(started) = lane.in_flight.take() {
            counters.record_latency(started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64);
        }
        counters.in_flight.store(0, Ordering::Relaxed);
        let Some(items) = lane.backlog.front().map(|batch| batch.items) else { return };
        match result {
            Ok(ExportOutcome::Accepted { rejected, message }) => self.on_accepted(index, items, rejected, message),
            Ok(ExportOutcome::Failed { status, reason }) => self.on_refused(index, items, status, &reason),
            Ok(ExportOutcome::Retryable { retry_after, reason }) => self.on_failed(index, items, &reason, retry_after),
            Err(TransportError::Timeout(reason) | TransportError::Connection(reason)) => {
                self.on_failed(index, items, &reason, None);
            }
        }
    }

    fn on_accepted(&mut self, index: usize, items: u64, rejected: u64, message: Option<String>) {
        let lane = &mut self.lanes[index];
        let counters = self.shared.accounting.signal(lane.signal);
        let was = lane.breaker.state();
        lane.breaker.on_success();
        lane.publish_breaker(counters);
        lane.failing = false;
        self.report_breaker(index, was);
        let lane = &mut self.lanes[index];
        let rejected = rejected.min(items);
        if let Some(accepted) = lane.pop_head() {
            lane.largest_accepted = lane.largest_accepted.max(accepted.body.uncompressed_len);
        }
        counters.export_queued(items - rejected);
        if rejected > 0 {
            counters.drop_queued(DropReason::Rejected, rejected);
        }
        if let Some(message) = message {
            if lane.warned_partial.first() {
                diag::warning!(
                    "the collector accepted {} {} with {rejected} rejected: {message} (reported once)",
                    items - rejected,
                    lane.signal.name()
                );
            }
        }
    }

    /// An answer that must not be retried: the batch is dropped as rejected, or, when the
    /// collector found it too large, sent again in halves (see [`super::split`]).
    fn on_refused(&mut self, index: usize, items: u64, status: u16, reason: &str) {
        let signal = self.lanes[index].signal;
        self.shared.accounting.signal(signal).failed_requests.fetch_add(1, Ordering::Relaxed);
        if says_too_large(status) && items > 1 && self.split_head(index, items, reason) {
            return;
        }
        let lane = &mut self.lanes[index];
        let counters = self.shared.accounting.signal(signal);
        let was = lane.breaker.state();
        // A 5xx says the collector is unwell; any other answer says it is up.
        if status >= 500 {
            lane.breaker.on_failure(Instant::now());
        } else {
            lane.breaker.on_success();
        }
        lane.publish_breaker(counters);
        self.report_breaker(index, was);
        let lane = &mut self.lanes[index];
        lane.pop_head();
        counters.drop_queued(DropReason::Rejected, items);
        if lane.warned_failed.first() {
            diag::error!(
                "the collector refused {items} {} ({reason}); not retried, dropped (reported once)",
                lane.signal.name()
            );
        }
    }

    /// Replaces the head batch, which the collector refused as too large, with its two halves;
    /// false when it cannot be split, or is no larger than one the collector accepted before or
    /// than [`SMALLEST_REQUEST_LIMIT`] (the refusal is then not about its size:
    /// `RESOURCE_EXHAUSTED` may be a quota, and halving would only make more requests to refuse).
    /// The collector answered, so the breaker hears of a success.
    fn split_head(&mut self, index: usize, items: u64, reason: &str) -> bool {
        let lane = &mut self.lanes[index];
        let Some(head) = lane.backlog.front() else { return false };
        if head.body.uncompressed_len <= lane.largest_accepted.max(SMALLEST_REQUEST_LIMIT) {
            return false;
        }
        let Some(halves) = split::split(lane.signal, &mut lane.encoder, &head.body) else { return false };
        lane.pop_head();
        lane.push_front(halves.into_iter());
        let was = lane.breaker.state();
        lane.breaker.on_success();
        lane.publish_breaker(self.shared.accounting.signal(lane.signal));
        if lane.warned_split.first() {
            diag::warning!(
                "the collector refused a batch of {items} {} as too large ({reason}); sending it in smaller \
                 batches, each item too large alone dropped as rejected (reported once)",
                lane.signal.name()
            );
        }
        self.report_breaker(index, was);
        true
    }

    /// A failed attempt that may be retried. With a `Retry-After`, the collector is pacing us:
    /// the lane holds back for that long and the batch waits, its retry budget starting afresh
    /// after the wait (the breaker hears of it only as a probe's answer: its next probe then).
    /// Otherwise the breaker hears of the failure, and the batch is tried again when the retry
    /// policy says, or dropped when its time is up.
    fn on_failed(&mut self, index: usize, items: u64, reason: &str, retry_after: Option<Duration>) {
        let now = Instant::now();
        self.report_failure(index, reason);
        let lane = &mut self.lanes[index];
        let counters = self.shared.accounting.signal(lane.signal);
        counters.failed_requests.fetch_add(1, Ordering::Relaxed);
        let Some(attempt) = lane.head else { return };
        // A pause shorter than the first backoff (`Retry-After: 0`, a date past, a gRPC
        // `RetryInfo` of a nanosecond) asks for none: the retry policy's backoff applies and the
        // attempt counts. Until session 42 it paced the batch at the first backoff without
        // counting, resent for as long as the collector answered so.
        let retry_after = retry_after.filter(|asked| *asked >= self.config.retry.initial_backoff);
        if let Some(asked) = retry_after {
            let next_at = now + self.config.retry.retry_after(asked);
            let was = lane.breaker.state();
            lane.breaker.on_paced(next_at);
            lane.publish_breaker(counters);
            self.report_breaker(index, was);
            if self.config.retry.max_attempts <= 1 {
                // Retries disabled: the pause does not bring the batch back, nor count against
                // the breaker (until session 41 a collector pacing every attempt had it sent
                // again for as long as it paced).
                self.give_up(index, items, DropReason::RetriesExhausted);
                return;
            }
            let timeout = self.config.signal(self.lanes[index].signal).batch.export_timeout;
            self.lanes[index].head =
                Some(Attempt { first_attempt: next_at, next_at, deadline: next_at + timeout, ..attempt });
            return;
        }
        let was = lane.breaker.state();
        lane.breaker.on_failure(now);
        lane.publish_breaker(counters);
        self.report_breaker(index, was);
        let lane = &mut self.lanes[index];
        if lane.breaker_is_open() {
            // The batch waits at the head for the breaker's probe, with a fresh retry budget.
            lane.head = None;
            return;
        }
        let jitter = self.rng.random::<f64>();
        let failures = attempt.failures + 1;
        let deadline = self.export_deadline(&attempt);
        let next = self.config.retry.next_attempt(failures, attempt.first_attempt, now, jitter);
        if let Some(next_at) = next.filter(|at| *at < deadline) {
            self.lanes[index].head = Some(Attempt { failures, next_at, ..attempt });
        } else {
            let reason = next.map_or(DropReason::RetriesExhausted, |at| self.out_of_time(&attempt, at));
            self.give_up(index, items, reason);
        }
    }

    /// The first failed attempt of a streak goes to stderr with its cause, the others at `info`.
    fn report_failure(&mut self, index: usize, reason: &str) {
        let lane = &mut self.lanes[index];
        let settings = self.config.signal(lane.signal);
        let url = &settings.url;
        let through =
            settings.proxy.as_ref().map_or_else(String::new, |proxy| format!(" through the proxy {}", proxy.uri));
        if lane.failing {
            diag::info!("{} export to {url}{through} failed again, will retry: {reason}", lane.signal.name());
        } else {
            lane.failing = true;
            diag::warning!("{} export to {url}{through} failed, will retry: {reason}", lane.signal.name());
        }
    }

    /// Says when a lane's breaker opens after being closed, and when it closes again (not each
    /// failed probe of a long outage).
    fn report_breaker(&self, index: usize, was: BreakerState) {
        let lane = &self.lanes[index];
        let (signal, now) = (lane.signal.name(), lane.breaker.state());
        if was == BreakerState::Closed && now == BreakerState::Open {
            diag::warning!(
                "{signal}: the collector failed {} attempts in a row; circuit breaker open: batches are held \
                 (up to {} KiB for all the signals sent) and the collector is probed now and then",
                lane.breaker.consecutive_failures(),
                self.config.backlog_max_bytes / 1024
            );
        } else if was != BreakerState::Closed && now == BreakerState::Closed {
            diag::warning!("{signal}: the collector answers again; circuit breaker closed");
        }
    }

    /// Why the head batch, whose next attempt would be at `at`, cannot have it: shutdown's
    /// deadline comes first while the batch's own would have allowed it, or its own time is up.
    /// (Until session 41 every batch given up while shutdown ran counted as `shutdown`, one whose
    /// attempts had run out seconds before the deadline too.)
    fn out_of_time(&self, attempt: &Attempt, at: Instant) -> DropReason {
        if self.shutdown.is_some() && at < attempt.deadline {
            DropReason::Shutdown
        } else {
            DropReason::RetriesExhausted
        }
    }

    /// Drops the head batch for `reason` (its retries ran out, or shutdown's deadline came); the
    /// drop report says so on stderr.
    fn give_up(&mut self, index: usize, items: u64, reason: DropReason) {
        let signal = self.lanes[index].signal;
        self.pop_head(index);
        self.shared.accounting.signal(signal).drop_queued(reason, items);
    }

    fn pop_head(&mut self, index: usize) -> Option<Batch> {
        self.lanes[index].pop_head()
    }

    /// Answers the flushes that are done, past their deadline, or blocked by an open breaker.
    fn settle_flushes(&mut self, now: Instant) {
        if self.flushes.is_empty() {
            return;
        }
        let empty = self.is_empty();
        let pending = self.pending_items();
        // Blocked: a signal with something to send whose breaker is open, and every other one
        // done. Answered while another signal still had batches to deliver (until session 39), a
        // flush at the process's exit ended with a healthy collector's last batches still out.
        let blocked = |lane: &Lane| lane.breaker_is_open() && !lane.backlog.is_empty();
        let done = |lane: &Lane| lane.backlog.is_empty() && self.queue_len(lane.signal) == 0;
        let open = self.lanes.iter().any(blocked)
            && !self.sources_behind
            && self.lanes.iter().all(|lane| blocked(lane) || done(lane));
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
        // Requests still out are abandoned: their batches are at their lanes' heads, dropped
        // below, and nothing is in flight any more (`settle`, which zeroes the gauge, never
        // comes for them: until session 39 the final report still showed them in flight).
        self.requests = [None, None, None];
        for lane in &mut self.lanes {
            lane.in_flight = None;
            self.shared.accounting.signal(lane.signal).in_flight.store(0, Ordering::Relaxed);
        }
        let mut sink = RecordSink::new(&self.shared, None);
        for source in &mut self.sources {
            diag::catch_panic(&self.source_panicked, || source.close(&mut sink), report_source_panic);
        }
        self.drain_sources();
        for index in 0..self.lanes.len() {
            if self.lanes[index].tls_unusable.is_some() {
                self.discard(self.lanes[index].signal, DropReason::TlsConfig);
            }
        }
        for index in 0..self.lanes.len() {
            let counters = Arc::clone(&self.shared);
            let counters = counters.accounting.signal(self.lanes[index].signal);
            while let Some(batch) = self.pop_head(index) {
                counters.drop_queued(DropReason::Shutdown, batch.items);
            }
        }
        self.discard_encoded_spans(DropReason::Shutdown);
        self.shared.drop_leftovers();
        for lane in &self.lanes {
            lane.publish(self.shared.accounting.signal(lane.signal));
        }
        self.drops.check(&self.shared.accounting, Instant::now(), true);
        let pending = self.pending_items();
        for (_, reply) in self.flushes.drain(..) {
            let _ = reply.send(Err(FlushError::Timeout { pending }));
        }
        self.extensions.exporters.shutdown();
        if let Some((_, reply)) = self.shutdown.take() {
            let _ = reply.send(());
        }
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = now + self.drain_interval;
        wake = wake.min(self.next_collection);
        for at in self.lanes.iter().filter_map(Lane::wakes_at) {
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

/// The shortest wait between two drains of the per-thread buffers: waking more often would spend
/// the exporter thread's time on wake-ups rather than on the items. A ring of the default 16384
/// spans holds 16 ms of a thread ending a million a second, so a drain every millisecond leaves
/// it nearly empty; a ring of 1024 (the default before issue 19) holds 2 ms of 500 k a second.
/// The shortest poll interval too, which the configuration raises shorter ones to.
const MIN_DRAIN_INTERVAL: Duration = super::config::MIN_POLL_INTERVAL;

/// How full the adaptive interval lets the fullest ring get between two drains: a quarter, so a
/// rate that doubles between two drains, or a thread scheduled late, still fits.
const TARGET_FILL: f64 = 0.25;

/// How many times one pass drains again after making room (see [`Worker::catch_up`]): enough
/// for a queue of a few thousand items to take rings many times its size in one pass, few
/// enough that a pass stays short when a source keeps refilling.
const CATCH_UP_ROUNDS: usize = 16;

/// Reports the first panic of a record source of the application's own: what it handed over
/// before the panic stays handed over.
fn report_source_panic() {
    diag::error!(
        "a record source panicked; what it handed over before is kept, and the exporter goes on (reported once)"
    );
}

/// The wait before the next drain, from the last wait (`last`) and what the drain found: the fill
/// of the fullest buffer (`fullest`, a fraction of its capacity) reached in `since`. At the rate
/// it filled, it would be [`TARGET_FILL`] full after `since × TARGET_FILL / fullest`; that, between
/// [`MIN_DRAIN_INTERVAL`] (or the poll interval, if shorter) and the poll interval, and at most
/// twice the last wait: one drain that finds the rings empty (their threads were descheduled, or
/// between two bursts) is weak evidence that the rate has fallen, and a wait that jumped back to
/// the poll interval would let a ring overflow when they resume. Empty buffers bring the wait back
/// to the poll interval within a few drains, so an idle process wakes its exporter thread no more
/// often than before; one that overflowed, or items left behind for want of room, the shortest.
fn next_drain_interval(poll: Duration, last: Duration, since: Duration, fullest: f64, left_behind: bool) -> Duration {
    let shortest = MIN_DRAIN_INTERVAL.min(poll);
    if left_behind || fullest >= 1.0 {
        return shortest;
    }
    let longest = last.saturating_mul(2).clamp(shortest, poll);
    if fullest.is_nan() || fullest <= 0.0 {
        return longest;
    }
    // In seconds as a float: the quotient may be far beyond any `Duration` for a nearly empty ring.
    let wait = since.as_secs_f64() * TARGET_FILL / fullest;
    if wait >= longest.as_secs_f64() {
        return longest;
    }
    // Within range: non-negative and below the poll interval.
    Duration::from_secs_f64(wait).max(shortest)
}

/// The TLS error of `signal` if its connections use TLS; for a plaintext endpoint the files are
/// not needed, and that they cannot be used is only said.
fn needed(config: &PipelineConfig, signal: Signal, error: Option<TlsError>) -> Option<TlsError> {
    let settings = config.signal(signal);
    let error = error?;
    if settings.url.scheme() == "https" {
        return Some(error);
    }
    diag::warning!(
        "{}: {}; ignored, since the endpoint {} is plaintext",
        signal.name(),
        error.describe(&settings.tls_origin),
        settings.url
    );
    None
}

/// How often a signal switched off for its TLS files looks whether they changed.
const TLS_LOOK_INTERVAL: Duration = Duration::from_secs(1);

/// Switches a lane off for TLS files that cannot be used (`files`, as they are `now`), saying so
/// once: what its signal is handed from now on is dropped as `tls_config`, without a request, a
/// retry or its breaker, until the files change into ones that can be used.
fn switch_off(lane: &mut Lane, why: &str, files: &[PathBuf], now: Instant) {
    lane.tls_unusable = Some(UnusableTls { stamps: Stamps::of(files), next_look: now + TLS_LOOK_INTERVAL });
    diag::error!(
        "{} export is off: {why}; every {} is dropped and counted as {} until the files can be used",
        lane.signal.name(),
        item_name(lane.signal),
        DropReason::TlsConfig.name()
    );
}

/// The smallest request size limit a collector is taken to have: a batch refused as too large
/// is split only when larger. Without it a quota refusal (gRPC `RESOURCE_EXHAUSTED` without
/// `RetryInfo`, which reads as "too large") of a lane's first batch, before any batch was
/// accepted, was split down to single items: 2N-1 requests for N items, each refused (until
/// session 40). Now a refused batch costs at most about twice its size over this many requests.
/// No receiver limits requests this small (the Collector's gRPC receiver 4 MiB, its HTTP one
/// 20 MiB, nginx 1 MiB by default); the tests' collector limit is this size.
const SMALLEST_REQUEST_LIMIT: usize = 64 * 1024;

/// Whether a refusal says the request was too large: HTTP 413, or gRPC `RESOURCE_EXHAUSTED`
/// without `RetryInfo` (refused with the HTTP status 429 stands for: over OTLP/HTTP a 429 is
/// retried, never refused), which is how grpc-go, the OpenTelemetry Collector's, refuses a
/// message over its 4 MiB limit.
fn says_too_large(status: u16) -> bool {
    matches!(status, 413 | 429)
}

fn item_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "span",
        Signal::Metrics => "metric data point",
        Signal::Logs => "log record",
    }
}

/// Counts the records the processors dropped.
fn count_processed(counters: &SignalCounters, dropped: u64) {
    if dropped > 0 {
        counters.drop_queued(DropReason::Processor, dropped);
    }
}

/// Pops up to `max_items` items and groups them by scope, keeping their order within a scope.
/// Scopes are compared by pointer: every item of one tracer or logger shares its `Arc`.
fn group_by_scope<T>(queue: &BoundedQueue<Queued<T>>, max_items: usize) -> Vec<(Scope, Vec<T>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: Duration = Duration::from_millis(20);

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn the_drain_interval_stays_at_the_poll_interval_while_the_rings_are_empty() {
        assert_eq!(next_drain_interval(POLL, POLL, POLL, 0.0, false), POLL);
        // Nearly empty: the estimate is far beyond the poll interval (and any `Duration`).
        assert_eq!(next_drain_interval(POLL, POLL, Duration::from_secs(3600), 1e-300, false), POLL);
    }

    #[test]
    fn the_drain_interval_aims_at_a_quarter_full_ring() {
        // Half full after 20 ms: a quarter full after 10 ms.
        assert_eq!(next_drain_interval(POLL, POLL, POLL, 0.5, false), ms(10));
        // A tenth full after 4 ms: a quarter after 10 ms.
        assert_eq!(next_drain_interval(POLL, POLL, ms(4), 0.1, false), ms(10));
    }

    #[test]
    fn the_drain_interval_grows_back_by_doubling() {
        // Empty rings after a busy spell: twice the last wait, not the poll interval at once.
        assert_eq!(next_drain_interval(POLL, ms(2), ms(2), 0.0, false), ms(4));
        assert_eq!(next_drain_interval(POLL, ms(4), ms(4), 0.001, false), ms(8));
        assert_eq!(next_drain_interval(POLL, ms(16), ms(16), 0.0, false), POLL);
    }

    #[test]
    fn a_full_ring_or_items_left_behind_drain_again_soonest() {
        assert_eq!(next_drain_interval(POLL, POLL, POLL, 1.0, false), MIN_DRAIN_INTERVAL);
        assert_eq!(next_drain_interval(POLL, POLL, POLL, 0.0, true), MIN_DRAIN_INTERVAL);
        assert_eq!(next_drain_interval(POLL, POLL, Duration::from_micros(10), 0.9, false), MIN_DRAIN_INTERVAL);
        // Never longer than a poll interval shorter than the minimum.
        let short = Duration::from_micros(200);
        assert_eq!(next_drain_interval(short, short, short, 1.0, false), short);
    }
}
