//! Drops a person running the program can see: the exporter thread watches the accounting's drop
//! counters and reports on stderr (at `warn`) the first drops of each signal and reason at once,
//! then what was added since, at intervals that double from 10 s up to 10 min, so a long outage
//! prints a handful of lines, not thousands. At shutdown it reports what is left unreported.
//!
//! Producers count their own drops (a full queue or ring) with a relaxed add and never print:
//! printing is a syscall, and the hot path makes none. Only the exporter thread writes here.
//!
//! Records a processor dropped are not reported: dropping them was the application's decision
//! (a filter, tail sampling), and the accounting counts them as `processor`. A processor that
//! panics is reported on its own (see `processor.rs`).

use std::time::{Duration, Instant};

use crate::diag;

use super::accounting::{Accounting, DropReason};
use super::Signal;

/// The first wait between two reports of the same signal and reason.
const FIRST_INTERVAL: Duration = Duration::from_secs(10);
/// The longest wait.
const MAX_INTERVAL: Duration = Duration::from_secs(600);

/// What was reported so far, per signal and reason.
#[derive(Default)]
pub(super) struct DropReport {
    entries: [[Entry; DropReason::ALL.len()]; 3],
}

#[derive(Default)]
struct Entry {
    reported: u64,
    next_at: Option<Instant>,
    interval: Duration,
}

impl DropReport {
    /// Reports what is due; with `all`, everything not yet reported (at shutdown).
    pub(super) fn check(&mut self, accounting: &Accounting, now: Instant, all: bool) {
        for signal in Signal::ALL {
            let counters = accounting.signal(signal);
            for reason in DropReason::ALL.into_iter().filter(|reason| *reason != DropReason::Processor) {
                // Relaxed: a tally; a drop counted a moment late is reported next time.
                let total = counters.dropped[reason as usize].load(std::sync::atomic::Ordering::Relaxed);
                let entry = &mut self.entries[signal as usize][reason as usize];
                if total > entry.reported && (all || entry.next_at.is_none_or(|at| now >= at)) {
                    report(signal, reason, total - entry.reported, total);
                    entry.reported = total;
                    entry.interval = (entry.interval * 2).clamp(FIRST_INTERVAL, MAX_INTERVAL);
                    entry.next_at = Some(now + entry.interval);
                }
            }
        }
    }
}

fn report(signal: Signal, reason: DropReason, new: u64, total: u64) {
    let (items, why) = (item_name(signal), explain(reason));
    if new == total {
        diag::warning!("{new} {items} dropped ({}: {why})", reason.name());
    } else {
        diag::warning!("{new} more {items} dropped ({}: {why}), {total} in all", reason.name());
    }
}

fn item_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Metrics => "metric data points",
        Signal::Logs => "log records",
    }
}

fn explain(reason: DropReason) -> &'static str {
    match reason {
        DropReason::QueueFull => "recorded faster than they could be exported; a buffer or queue was full",
        DropReason::Rejected => "the collector refused them",
        DropReason::RetriesExhausted => "the collector kept failing until their retries ran out",
        DropReason::CircuitOpen => "the collector was down and the backlog was over its budget",
        DropReason::BacklogFull => {
            "the collector failed them or asked for a pause, and the backlog was over its budget"
        }
        DropReason::Shutdown => "still waiting to be sent when shutdown ended",
        DropReason::TooLarge => "a batch was larger than a request may be",
        DropReason::TlsConfig => "the signal's TLS certificate or key file cannot be used; its export is off",
        DropReason::Processor => "a processor dropped them",
        DropReason::ThreadExit => "recorded by a thread-local destructor after the thread's buffers were gone",
        DropReason::OutOfMemory => "the recording thread's buffer could not be allocated (out of memory)",
    }
}
