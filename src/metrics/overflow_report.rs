//! The diagnostic that says an instrument's measurements go to its overflow series for want of
//! room under its cardinality limit: printed (at `warn`) by the exporting collection that first
//! finds new ones, then at intervals that double from 10 s up to 10 min while more arrive, as the
//! exporter reports dropped items (see `export/drop_report.rs`), so a table that stays full
//! prints a handful of lines, not one per collection. The tally itself is the table's
//! (`SeriesMap::overflowed`), a relaxed add on the overflowing record's already slow path; the
//! instrument's `overflowed()` reads it.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The first wait between two lines about the same instrument.
const FIRST_INTERVAL: Duration = Duration::from_secs(10);
/// The longest wait.
const MAX_INTERVAL: Duration = Duration::from_secs(600);

/// What one instrument reported so far.
#[derive(Default)]
pub(crate) struct OverflowReport {
    due: DoublingReport,
}

impl OverflowReport {
    /// The line to print now about `name`, whose table (of at most `limit` series) has sent
    /// `total` measurements to its overflow series so far, if one is due.
    pub(crate) fn due(&self, name: &str, limit: usize, total: u64, now: Instant) -> Option<String> {
        let new = self.due.due(total, now)?;
        Some(format!(
            "instrument {name:?} reached its cardinality limit of {limit} series: {new} more measurements went to \
             the overflow series (otel.metric.overflow=true), {total} in all; raise the limit (a view's or the \
             provider's) or record fewer attribute sets"
        ))
    }
}

/// When a tally that only grows is due to be reported again: at once the first time it grows,
/// then only after intervals that double from [`FIRST_INTERVAL`] up to [`MAX_INTERVAL`] (also for
/// `ignored_values`).
#[derive(Default)]
pub(crate) struct DoublingReport {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    reported: u64,
    next_at: Option<Instant>,
    interval: Duration,
}

impl DoublingReport {
    /// Nothing reported yet.
    pub(crate) const fn new() -> DoublingReport {
        DoublingReport {
            state: parking_lot::const_mutex(State { reported: 0, next_at: None, interval: Duration::ZERO }),
        }
    }

    /// How much the tally, now `total`, grew since it was last reported, if a report is due.
    pub(crate) fn due(&self, total: u64, now: Instant) -> Option<u64> {
        let mut state = self.state.lock();
        if total <= state.reported || state.next_at.is_some_and(|at| now < at) {
            return None;
        }
        let new = total - state.reported;
        state.reported = total;
        state.interval = (state.interval * 2).clamp(FIRST_INTERVAL, MAX_INTERVAL);
        state.next_at = Some(now + state.interval);
        Some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_overflow_is_reported_at_once_then_at_doubling_intervals() {
        let report = OverflowReport::default();
        let t0 = Instant::now();
        assert_eq!(report.due("orders", 2000, 0, t0), None, "nothing overflowed");
        let first = report.due("orders", 2000, 5, t0).expect("reported at once");
        assert!(first.contains("limit of 2000") && first.contains("5 more") && first.contains("5 in all"), "{first}");
        assert_eq!(report.due("orders", 2000, 9, t0 + Duration::from_secs(9)), None, "within 10 s");
        let second = report.due("orders", 2000, 9, t0 + Duration::from_secs(10)).expect("after 10 s");
        assert!(second.contains("4 more") && second.contains("9 in all"), "{second}");
        assert_eq!(report.due("orders", 2000, 12, t0 + Duration::from_secs(29)), None, "then 20 s");
        assert!(report.due("orders", 2000, 12, t0 + Duration::from_secs(30)).is_some());
        assert_eq!(report.due("orders", 2000, 12, t0 + Duration::from_secs(3600)), None, "nothing new");
    }
}
