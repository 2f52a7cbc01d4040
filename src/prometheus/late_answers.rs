//! Answers made in time, or 503.
//!
//! A scrape's answer is made on one of the endpoint runtime's blocking threads (`nanotel-scrape`,
//! at most `MAX_SCRAPE_THREADS`), and a source that does not return (a function of the
//! program's, given with `with_source`, waiting on a lock its program holds) keeps its thread:
//! nothing can take it back. A provider's collection gives up on another after its second
//! (`metrics::collection_lock`), a function has no such bound. So each answer is given the
//! request timeout to be made: past it the scrape is answered 503 and the answer goes on being
//! made on its thread, thrown away when done. While every scrape thread holds an answer, a new
//! scrape is answered 503 at once rather than queued behind them: queued, it would wait for as
//! long as they do, and the queue would grow by a task at every scrape.
//!
//! The first 503 of an episode says so on stderr; the next answer made in time says how many
//! were not.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::diag;

/// The answers in progress and those not made in time.
pub(super) struct LateAnswers {
    /// Answers being made (each holds a scrape thread).
    in_progress: AtomicUsize,
    /// The most answers made at once: the scrape threads.
    max_in_progress: usize,
    /// Scrapes answered 503 since the last answer made in time.
    late: AtomicU64,
}

/// One answer's place among those in progress, given back when dropped (when the answer is
/// made, in time or not).
pub(super) struct Answering(Arc<LateAnswers>);

impl Drop for Answering {
    fn drop(&mut self) {
        // Relaxed: a count compared with a bound; nothing else is published through it.
        self.0.in_progress.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LateAnswers {
    pub(super) fn new(max_in_progress: usize) -> Arc<LateAnswers> {
        Arc::new(LateAnswers { in_progress: AtomicUsize::new(0), max_in_progress, late: AtomicU64::new(0) })
    }

    /// A place for one more answer, or `None` (said on stderr) while every scrape thread holds
    /// one.
    pub(super) fn start(self: &Arc<Self>) -> Option<Answering> {
        // Relaxed: a bound on threads held, not a lock; the runtime orders the answers' work.
        let taken = self
            .in_progress
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| (now < self.max_in_progress).then_some(now + 1));
        if taken.is_err() {
            self.not_made(format_args!(
                "all {} of its scrape threads are still making earlier answers",
                self.max_in_progress
            ));
            return None;
        }
        Some(Answering(Arc::clone(self)))
    }

    /// An answer not made within `limit`: its scrape was answered 503.
    pub(super) fn late(&self, limit: Duration) {
        self.not_made(format_args!("an answer was not made within {limit:?}"));
    }

    /// An answer made in time: an episode of 503s ends.
    pub(super) fn in_time(&self) {
        // Relaxed: a count for a message.
        let late = self.late.swap(0, Ordering::Relaxed);
        if late > 0 {
            diag::info!("the Prometheus endpoint answers scrapes again; {late} were answered 503 before");
        }
    }

    fn not_made(&self, why: std::fmt::Arguments<'_>) {
        // Relaxed: a count for a message.
        if self.late.fetch_add(1, Ordering::Relaxed) == 0 {
            diag::warning!(
                "the Prometheus endpoint answered a scrape 503: {why} (a source of metrics given to it may not be \
                 returning; said once until an answer is made in time)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_when_answers_are_made() {
        let answers = LateAnswers::new(2);
        let first = answers.start().expect("a place");
        let second = answers.start().expect("a place");
        assert!(answers.start().is_none(), "both threads hold answers");
        assert_eq!(answers.late.load(Ordering::Relaxed), 1, "counted as a 503");
        drop(first);
        let third = answers.start().expect("a place given back");
        drop((second, third));
        answers.in_time();
        assert_eq!(answers.late.load(Ordering::Relaxed), 0, "the episode ended");
    }
}
