//! Answers made in time, or 503.
//!
//! A scrape's answer is made on one of the endpoint runtime's blocking threads (`nanotel-scrape`,
//! at most `MAX_SCRAPE_THREADS`; more answers wait for one in the runtime's queue), and a source
//! that does not return (a function of the program's, given with `with_source`, waiting on a lock
//! its program holds) keeps its thread: nothing can take it back. A provider's collection gives up
//! on another after its second (`metrics::collection_lock`); a function has no such bound. So each
//! answer is given the request timeout, waiting for a thread included: past it the scrape is
//! answered 503, an answer not begun yet is never begun, and one being made goes on on its thread,
//! thrown away when done, that thread *stuck* until then. While every scrape thread is stuck a
//! new scrape is answered 503 at once: queued, it could never be answered, and the queue would
//! grow by a task at every scrape.
//!
//! Each answer's [`Progress`] moves `WAITING → MAKING → DONE` on the thread that makes it, and
//! the scrape whose time is up moves it `WAITING → ABANDONED` (never begun) or `MAKING → LATE`
//! (a stuck thread: counted until `DONE`; the race of the two has loom models). The first 503
//! of an episode says so on stderr; the next answer made in time says how many were not.

use std::time::Duration;

use crate::diag;
// loom's under its model (`loom_` tests below, scripts/loom.sh).
use crate::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

const WAITING: u8 = 0;
const MAKING: u8 = 1;
const LATE: u8 = 2;
const DONE: u8 = 3;
const ABANDONED: u8 = 4;

/// The scrape threads stuck in late answers, and the scrapes answered 503.
pub(super) struct LateAnswers {
    /// Threads making an answer whose scrape was answered 503 already.
    stuck: AtomicUsize,
    /// The scrape threads there are.
    threads: usize,
    /// Scrapes answered 503 since the last answer made in time.
    late: AtomicU64,
}

/// Where one answer is, shared by its scrape and the thread that makes it.
pub(super) struct Progress(AtomicU8);

/// Marks an answer being made `DONE` when dropped: a stuck thread is free again.
struct Done<'a> {
    answers: &'a LateAnswers,
    progress: &'a Progress,
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        // Relaxed: see the note on `LateAnswers`' methods.
        if self.progress.0.swap(DONE, Ordering::Relaxed) == LATE {
            self.answers.stuck.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// Relaxed throughout: every transition is a read-modify-write of the one `Progress`, which the
// atomics order among themselves; the counts are a bound and a tally, and publish nothing (the
// answer itself travels through the runtime's join handle).
impl LateAnswers {
    pub(super) fn new(threads: usize) -> LateAnswers {
        LateAnswers { stuck: AtomicUsize::new(0), threads, late: AtomicU64::new(0) }
    }

    /// Progress for a new answer, or `None` (the scrape answered 503, said on stderr) while
    /// every scrape thread is stuck.
    pub(super) fn admit(&self) -> Option<Progress> {
        if self.stuck.load(Ordering::Relaxed) >= self.threads {
            self.not_made(format_args!("all {} of its scrape threads are still making earlier answers", self.threads));
            return None;
        }
        Some(Progress(AtomicU8::new(WAITING)))
    }

    /// On the thread that makes the answer: `make` it, unless its scrape was answered 503 while
    /// it waited for a thread (`None` then).
    pub(super) fn make<R>(&self, progress: &Progress, make: impl FnOnce() -> R) -> Option<R> {
        if progress.0.compare_exchange(WAITING, MAKING, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return None;
        }
        // Done even when `make` panics (a source of the program's): else its thread, free again,
        // would count as stuck for ever.
        let _done = Done { answers: self, progress };
        Some(make())
    }

    /// The answer was not made within `limit`: its scrape is answered 503.
    pub(super) fn late(&self, progress: &Progress, limit: Duration) {
        if progress.0.compare_exchange(WAITING, ABANDONED, Ordering::Relaxed, Ordering::Relaxed) == Err(MAKING) {
            // Counted before it is marked, so that an `end` between the two finds it counted.
            self.stuck.fetch_add(1, Ordering::Relaxed);
            if progress.0.compare_exchange(MAKING, LATE, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                // Made meanwhile: nothing stuck.
                self.stuck.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.not_made(format_args!("an answer was not made within {limit:?}"));
    }

    /// A scrape answered in time: an episode of 503s ends.
    pub(super) fn in_time(&self) {
        let late = self.late.swap(0, Ordering::Relaxed);
        if late > 0 {
            diag::info!("the Prometheus endpoint answers scrapes again; {late} were answered 503 before");
        }
    }

    fn not_made(&self, why: std::fmt::Arguments<'_>) {
        if self.late.fetch_add(1, Ordering::Relaxed) == 0 {
            diag::warning!(
                "the Prometheus endpoint answered a scrape 503: {why} (a source of metrics given to it may not be \
                 returning; said once until an answer is made in time)"
            );
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    fn stuck(answers: &LateAnswers) -> usize {
        answers.stuck.load(Ordering::Relaxed)
    }

    #[test]
    fn threads_stuck_in_late_answers_refuse_new_scrapes_until_one_is_made() {
        let answers = LateAnswers::new(2);
        let (first, second) = (answers.admit().unwrap(), answers.admit().unwrap());
        let made = answers.make(&first, || {
            answers.late(&first, LIMIT);
            answers.make(&second, || {
                answers.late(&second, LIMIT);
                assert_eq!(stuck(&answers), 2);
                assert!(answers.admit().is_none(), "both threads are stuck");
            });
            assert_eq!(stuck(&answers), 1, "the second made at last: its thread is free");
        });
        assert_eq!(made, Some(()));
        assert_eq!(stuck(&answers), 0);
        assert!(answers.admit().is_some());
        assert_eq!(answers.late.load(Ordering::Relaxed), 3, "two late, one refused");
        answers.in_time();
        assert_eq!(answers.late.load(Ordering::Relaxed), 0, "the episode ended");
    }

    #[test]
    fn an_answer_late_before_a_thread_took_it_is_never_begun_and_holds_nothing() {
        let answers = LateAnswers::new(1);
        let progress = answers.admit().unwrap();
        answers.late(&progress, LIMIT);
        assert_eq!(answers.make(&progress, || unreachable!("made")), None, "its scrape was answered already");
        assert_eq!(stuck(&answers), 0);
    }

    #[test]
    fn an_answer_made_in_time_leaves_nothing_stuck() {
        let answers = LateAnswers::new(1);
        let progress = answers.admit().unwrap();
        answers.make(&progress, || ());
        answers.late(&progress, LIMIT);
        assert_eq!(stuck(&answers), 0, "a late call after the answer was made (a race) counts no thread");
    }

    #[test]
    fn a_late_answer_that_panics_frees_its_thread() {
        let answers = LateAnswers::new(1);
        let progress = answers.admit().unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            answers.make(&progress, || {
                answers.late(&progress, LIMIT);
                panic!("a source of the program's");
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(stuck(&answers), 0);
        assert!(answers.admit().is_some());
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// The answer made on one thread while its time runs out on another, in every order: once
    /// both are done no thread counts as stuck, and the count never goes below zero meanwhile
    /// (it would wrap, and a scrape that came then would be refused: of two threads, at most
    /// this one is ever stuck).
    #[test]
    fn loom_an_answer_made_while_its_time_runs_out_leaves_nothing_stuck() {
        loom::model(|| {
            let answers = Arc::new(LateAnswers::new(2));
            let progress = Arc::new(answers.admit().expect("no thread stuck yet"));
            let maker = thread::spawn({
                let (answers, progress) = (answers.clone(), progress.clone());
                move || {
                    let made = answers.make(&progress, || ()).is_some();
                    assert!(answers.admit().is_some(), "a scrape refused with one thread stuck at most");
                    made
                }
            });
            answers.late(&progress, Duration::from_secs(5));
            let made = maker.join().unwrap();
            assert_eq!(answers.stuck.load(Ordering::Relaxed), 0, "made: {made}");
            assert!(answers.admit().is_some());
        });
    }

    /// Two answers late on one thread while a third thread makes them: the stuck count stays
    /// within the threads there are and ends at zero.
    #[test]
    fn loom_two_late_answers_free_their_threads_when_made() {
        loom::model(|| {
            let answers = Arc::new(LateAnswers::new(2));
            let first = Arc::new(answers.admit().expect("a place"));
            let second = Arc::new(answers.admit().expect("a place"));
            let maker = thread::spawn({
                let (answers, first, second) = (answers.clone(), first.clone(), second.clone());
                move || {
                    answers.make(&first, || ());
                    answers.make(&second, || ());
                }
            });
            answers.late(&first, Duration::from_secs(5));
            answers.late(&second, Duration::from_secs(5));
            assert!(answers.stuck.load(Ordering::Relaxed) <= 2);
            maker.join().unwrap();
            assert_eq!(answers.stuck.load(Ordering::Relaxed), 0);
        });
    }
}
