//! One signal's side of the exporter thread: its backlog of encoded batches, the retry state of
//! the batch at its head, its circuit breaker, and whether a request of its own is out.
//!
//! Lanes share nothing but the thread, which drives up to one request per lane at once: a
//! collector endpoint that hangs, drips or fails for one signal holds up that signal's lane, and
//! opens that signal's breaker, never another's. A batch stays at the head of its backlog while
//! it is retried; the retry policy and the lane's breaker decide when it is sent again.

use std::collections::VecDeque;
use std::time::Instant;

use crate::diag::Once;

use super::accounting::SignalCounters;
use super::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use super::encode::{EncodedBody, Encoder};
use super::tls_reload::Stamps;
use super::Signal;

/// An encoded request and the number of items in it.
pub(super) struct Batch {
    pub body: EncodedBody,
    pub items: u64,
}

/// The retry state of the batch at the head of a backlog.
#[derive(Clone, Copy)]
pub(super) struct Attempt {
    pub failures: u32,
    #[expect(
        clippy::struct_field_names,
        reason = "the field is named for what it holds, as the rest of the module calls it"
    )]
    pub first_attempt: Instant,
    pub next_at: Instant,
    pub deadline: Instant,
}

/// One signal's side of the thread.
pub(super) struct Lane {
    pub signal: Signal,
    pub encoder: Encoder,
    pub backlog: VecDeque<Batch>,
    pub backlog_items: u64,
    /// The encoded (compressed) bytes of the backlog's batches.
    pub backlog_bytes: usize,
    /// The largest batch this lane has encoded so far, in bytes: the room a closed breaker's
    /// lane leaves in the budget before it takes another batch.
    pub largest_batch: usize,
    pub head: Option<Attempt>,
    /// Whether the head batch was sent before: a resend is a retry, whatever reset its retry
    /// state (a breaker's probe, a pause a collector asked for).
    pub head_was_sent: bool,
    pub next_batch_due: Instant,
    pub breaker: CircuitBreaker,
    /// When the request out now (for the head batch) was started.
    pub in_flight: Option<Instant>,
    /// Whether the current streak of failed attempts was reported (the first one is).
    pub failing: bool,
    /// One line per kind of trouble, not one per batch.
    pub warned_partial: Once,
    pub warned_failed: Once,
    pub warned_split: Once,
    /// For the console exporter: the bytes of the head batch's line written so far.
    pub console_written: usize,
    /// The largest batch the collector accepted, before compression: one refused as too large
    /// that is no larger is not split (see `Worker::split_head`).
    pub largest_accepted: usize,
    /// The signal's TLS files cannot be used: nothing is sent; what it is handed is dropped,
    /// until they can be.
    pub tls_unusable: Option<UnusableTls>,
}

/// A signal's TLS files that could not be used, as they were then, and when they are next looked
/// at.
#[derive(Debug)]
pub(crate) struct UnusableTls {
    pub stamps: Stamps,
    pub next_look: Instant,
}

impl Lane {
    pub(super) fn new(signal: Signal, encoder: Encoder, breaker: BreakerConfig, next_batch_due: Instant) -> Lane {
        Lane {
            signal,
            encoder,
            backlog: VecDeque::new(),
            backlog_items: 0,
            backlog_bytes: 0,
            largest_batch: 0,
            head: None,
            head_was_sent: false,
            next_batch_due,
            breaker: CircuitBreaker::new(breaker),
            in_flight: None,
            failing: false,
            warned_partial: Once::default(),
            warned_failed: Once::default(),
            warned_split: Once::default(),
            console_written: 0,
            largest_accepted: 0,
            tls_unusable: None,
        }
    }

    pub(super) fn push(&mut self, batch: Batch) {
        self.backlog_items += batch.items;
        self.backlog_bytes += batch.body.body.len();
        self.largest_batch = self.largest_batch.max(batch.body.body.len());
        self.backlog.push_back(batch);
    }

    /// Takes out the oldest batch no request is out for, to make room: the head, or while the
    /// head is being sent (a half-open breaker's probe, a line the console exporter has begun) the
    /// one behind it. The newest batch is never taken, so what was just pushed stays.
    pub(super) fn shed_oldest_waiting(&mut self) -> Option<Batch> {
        let oldest_waiting = usize::from(self.in_flight.is_some() || self.console_written > 0);
        if oldest_waiting + 1 >= self.backlog.len() {
            return None;
        }
        if oldest_waiting == 0 {
            return self.pop_head();
        }
        let batch = self.backlog.remove(oldest_waiting)?;
        self.backlog_items -= batch.items;
        self.backlog_bytes -= batch.body.body.len();
        Some(batch)
    }

    /// Puts `batches` at the head of the backlog, in their order, with a fresh retry state: the
    /// halves of a head batch the collector found too large, which take its place.
    pub(super) fn push_front(&mut self, batches: impl DoubleEndedIterator<Item = Batch>) {
        self.head = None;
        self.head_was_sent = false;
        for batch in batches.rev() {
            self.backlog_items += batch.items;
            self.backlog_bytes += batch.body.body.len();
            self.backlog.push_front(batch);
        }
    }

    /// Takes the head batch out, with its retry state (and what of its line the console exporter
    /// wrote).
    pub(super) fn pop_head(&mut self) -> Option<Batch> {
        self.head = None;
        self.head_was_sent = false;
        self.console_written = 0;
        let batch = self.backlog.pop_front()?;
        self.backlog_items -= batch.items;
        self.backlog_bytes -= batch.body.body.len();
        Some(batch)
    }

    /// Whether the head batch may be sent at `now` as far as its retry schedule goes (the breaker
    /// has its own say): there is one, no request is out, and its next attempt is due.
    pub(super) fn head_is_due(&self, now: Instant) -> bool {
        self.in_flight.is_none()
            && !self.backlog.is_empty()
            && self.head.as_ref().is_none_or(|attempt| now >= attempt.next_at)
    }

    /// When this lane next has something to do on its own: a retry, or its breaker's probe.
    pub(super) fn wakes_at(&self) -> Option<Instant> {
        if self.in_flight.is_some() || self.backlog.is_empty() {
            return None;
        }
        match (self.head.as_ref().map(|attempt| attempt.next_at), self.breaker.reopens_at()) {
            (Some(retry), Some(probe)) => Some(retry.max(probe)),
            (retry, probe) => retry.or(probe),
        }
    }

    /// The room this lane's next batch is judged to need: its largest so far and an eighth more
    /// (see `Worker::has_room_for_a_batch`).
    pub(super) fn room_for_a_batch(&self) -> usize {
        self.largest_batch + self.largest_batch / 8
    }

    /// Whether the lane is held up at `now`: its breaker is open or probing, or its head batch
    /// waits for a later attempt (a retry after a failure, or the pause a collector asked for).
    /// Such a lane keeps forming batches and sheds its oldest past the budget less the room the
    /// lanes that are not held up need (see `Worker::fill_backlog`).
    pub(super) fn is_held_up(&self, now: Instant) -> bool {
        self.breaker_is_tripped() || self.head.is_some_and(|attempt| attempt.failures > 0 || attempt.next_at > now)
    }

    pub(super) fn breaker_is_open(&self) -> bool {
        self.breaker.state() == BreakerState::Open
    }

    /// Whether the breaker is open or probing (half open): the collector's last answers were
    /// failures, so the backlog keeps the newest batches and sheds the oldest.
    pub(super) fn breaker_is_tripped(&self) -> bool {
        self.breaker.state() != BreakerState::Closed
    }

    /// Whether the lane may still send something before `deadline`, at shutdown: a request is
    /// out, or its head batch's next attempt comes before it and its breaker is not open (an
    /// open breaker was given its probe when shutdown began; once that failed, its next probe
    /// is not waited for).
    pub(super) fn can_send_before(&self, deadline: Instant) -> bool {
        if self.backlog.is_empty() {
            return false;
        }
        self.in_flight.is_some()
            || (!self.breaker_is_open() && self.head.as_ref().is_none_or(|attempt| attempt.next_at < deadline))
    }

    /// Makes the backlog's size and the breaker's state visible in the accounting.
    pub(super) fn publish(&self, counters: &SignalCounters) {
        counters.backlog_bytes.store(self.backlog_bytes as u64, std::sync::atomic::Ordering::Relaxed);
        self.publish_breaker(counters);
    }

    /// Makes the breaker's state visible in the accounting.
    pub(super) fn publish_breaker(&self, counters: &SignalCounters) {
        counters.publish_breaker(self.breaker.state(), self.breaker.transitions(), self.breaker.consecutive_failures());
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::export::config::{Compression, Protocol};

    fn lane_holding(sizes: &[usize]) -> Lane {
        let encoder = Encoder::new(Protocol::HttpProtobuf, Compression::None);
        let mut lane = Lane::new(Signal::Traces, encoder, BreakerConfig::default(), Instant::now());
        for (items, size) in sizes.iter().enumerate() {
            let body = EncodedBody { body: Bytes::from(vec![0; *size]), uncompressed_len: *size };
            lane.push(Batch { body, items: items as u64 + 1 });
        }
        lane
    }

    #[test]
    fn shedding_takes_the_head_when_no_request_is_out_and_keeps_the_newest() {
        let mut lane = lane_holding(&[10, 20, 30]);
        assert_eq!(lane.shed_oldest_waiting().map(|batch| batch.items), Some(1));
        assert_eq!(lane.shed_oldest_waiting().map(|batch| batch.items), Some(2));
        assert!(lane.shed_oldest_waiting().is_none(), "the newest stays");
        assert_eq!((lane.backlog_bytes, lane.backlog_items, lane.largest_batch), (30, 3, 30));
    }

    #[test]
    fn shedding_passes_over_the_batch_being_sent() {
        let mut lane = lane_holding(&[10, 20, 30, 40]);
        lane.in_flight = Some(Instant::now());
        assert_eq!(lane.shed_oldest_waiting().map(|batch| batch.items), Some(2));
        assert_eq!(lane.shed_oldest_waiting().map(|batch| batch.items), Some(3));
        assert!(lane.shed_oldest_waiting().is_none(), "the one being sent and the newest stay");
        assert_eq!(lane.backlog.iter().map(|batch| batch.items).collect::<Vec<_>>(), [1, 4]);
        assert_eq!((lane.backlog_bytes, lane.backlog_items), (50, 5));
    }
}
