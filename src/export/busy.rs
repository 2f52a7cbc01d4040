//! What the exporter thread is running whose length the program's code decides: the span and log
//! processors (run as the buffers are drained), the observable instruments' callbacks and metric
//! producers (run as metrics are collected), an exporter of the program's own. The thread cannot
//! interrupt that code; while it does not return, no signal is exported. A flush or shutdown that
//! gives up waiting for the thread says which of them it is in, and for how long
//! ([`Busy::describe`]), where before it only timed out.
//!
//! The exporter thread marks each such call with [`Busy::enter`] (two atomic stores on each side);
//! the thread that waits reads the mark.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// What the exporter thread runs of the program's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// Draining the span and log buffers, through the span and log processors.
    Draining = 1,
    /// Collecting metrics: observable instruments' callbacks, metric producers.
    Collecting,
    /// Handing a batch to an exporter of the program's own.
    ExportingOwn,
}

impl Work {
    const ALL: [Work; 3] = [Work::Draining, Work::Collecting, Work::ExportingOwn];

    fn description(self) -> &'static str {
        match self {
            Work::Draining => "draining spans and log records through the span and log processors",
            Work::Collecting => "collecting metrics: an observable instrument's callback or a metric producer",
            Work::ExportingOwn => "in an exporter of the program's own",
        }
    }
}

/// How long the thread must have been in the program's code before a message names it: shorter
/// is the ordinary time a flush waits for a collection or an export.
const WORTH_SAYING: Duration = Duration::from_secs(1);

/// The exporter thread's mark: what it is running of the program's (0: nothing), and since when.
pub(crate) struct Busy {
    origin: Instant,
    work: AtomicU8,
    /// Nanoseconds from `origin` to the mark.
    since: AtomicU64,
}

impl Busy {
    pub(crate) fn new() -> Busy {
        Busy { origin: Instant::now(), work: AtomicU8::new(0), since: AtomicU64::new(0) }
    }

    /// Marks the exporter thread as running `work` until the guard is dropped.
    pub(crate) fn enter(&self, work: Work) -> BusyGuard<'_> {
        let since = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.since.store(since, Ordering::Relaxed);
        // Release: pairs with the Acquire in `describe`, which then reads this `since` or a later one.
        self.work.store(work as u8, Ordering::Release);
        BusyGuard(self)
    }

    /// What the exporter thread has been running of the program's for a second or more, in words
    /// for a message; `None` when it is not in the program's code, or only briefly.
    pub(crate) fn describe(&self) -> Option<String> {
        self.describe_at(Instant::now())
    }

    fn describe_at(&self, now: Instant) -> Option<String> {
        // Acquire: pairs with the Release in `enter`.
        let work = self.work.load(Ordering::Acquire);
        let work = Work::ALL.into_iter().find(|candidate| *candidate as u8 == work)?;
        let since = Duration::from_nanos(self.since.load(Ordering::Relaxed));
        let lasted = now.saturating_duration_since(self.origin).saturating_sub(since);
        (lasted >= WORTH_SAYING).then(|| {
            format!(
                "the exporter thread has been {} for {:.1} s, and cannot interrupt it: nothing is exported until it \
                 returns",
                work.description(),
                lasted.as_secs_f64()
            )
        })
    }
}

/// Clears the mark when the program's code returns (or panics).
pub(crate) struct BusyGuard<'a>(&'a Busy);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.work.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_described_once_it_has_lasted_and_cleared_when_the_code_returns() {
        let busy = Busy::new();
        let later = Instant::now() + Duration::from_secs(3);
        assert_eq!(busy.describe_at(later), None, "no mark");
        let guard = busy.enter(Work::Collecting);
        assert_eq!(busy.describe_at(Instant::now()), None, "not yet worth saying");
        let text = busy.describe_at(later).expect("worth saying");
        assert!(text.starts_with("the exporter thread has been collecting metrics: an observable"), "{text}");
        assert!(text.contains(" for 3.0 s") || text.contains(" for 2.9 s"), "{text}");
        drop(guard);
        assert_eq!(busy.describe_at(later), None, "cleared when the code returns");
    }
}
