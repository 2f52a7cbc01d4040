//! Values no measurement can hold: NaN and infinities (in a sum or a histogram they would poison
//! every later reading; as a gauge's value, many backends refuse them) and a counter's negative
//! increments (its sum only grows). The data model
//! has no place for them, so they are left out, as the specification lets an SDK do; left out
//! silently, a program computing a latency as NaN by mistake saw nothing of it anywhere. Each is
//! counted here, process-wide (a relaxed add on the refusal's own out-of-line path, never on a
//! valid value's), [`ignored_values`] reads the count, and an exporting collection says on stderr
//! how many came since it last said, at once and then at intervals that double from 10 s up to
//! 10 min while more come (as the overflow diagnostic does).

use std::time::Instant;

// Std's atomics, under loom too: a tally that orders nothing, outside every modelled protocol.
use std::sync::atomic::{AtomicU64, Ordering};

use super::overflow_report::DoublingReport;

/// Values left out since the process started.
static IGNORED: AtomicU64 = AtomicU64::new(0);

/// When the next line is due.
static REPORT: DoublingReport = DoublingReport::new();

/// Counts one value left out.
#[cold]
#[inline(never)]
pub(crate) fn ignore() {
    // Relaxed: a tally, read for a message and by `ignored_values`.
    IGNORED.fetch_add(1, Ordering::Relaxed);
}

/// How many measured values were left out since the process started because no measurement can
/// hold them: NaN or infinite values given to a counter, up-down counter, histogram, gauge
/// (which keeps its last value; since session 39), an observable instrument's observer or
/// (through the `metrics` bridge) a gauge's increment, and negative increments of a counter. A
/// static counter or histogram takes only `u64`.
///
/// ```
/// use nanotel::metrics::{ignored_values, MeterProvider};
///
/// let provider = MeterProvider::builder().without_env().build();
/// let latency = provider.meter("gateway").f64_histogram("latency").build().unwrap();
/// let before = ignored_values();
/// latency.record(f64::NAN, &[]);
/// assert_eq!(ignored_values(), before + 1);
/// ```
#[must_use]
pub fn ignored_values() -> u64 {
    // Relaxed: a tally.
    IGNORED.load(Ordering::Relaxed)
}

/// After an exporting collection: the line on stderr, when one is due.
pub(crate) fn report_if_due(now: Instant) {
    let total = ignored_values();
    if let Some(new) = REPORT.due(total, now) {
        crate::diag::warning!(
            "{new} metric values were left out since the last report ({total} in all): NaN or infinite values, or \
             negative increments of a counter, which no measurement can hold; look where the program computes what \
             it records (nanotel::metrics::ignored_values counts them)"
        );
    }
}
