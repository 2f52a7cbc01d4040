//! The inserts in progress in a table, so that a bind can tell a full table from a race.
//!
//! A lookup that finds its set missing and the table's count at the limit sends its measurement
//! to the overflow series. That answer can be wrong for a moment: another thread's insert of the
//! same set may have raised the count and not linked its series yet (or linked it after this
//! lookup passed its slot), or a reservation about to be handed back (an insert that lost its
//! slot to the same set) may hold the last place. A measurement sent there is counted as
//! overflowed, and the next one looks again; a bound handle would keep the overflow series for
//! good. So a bind that meets the overflow series asks this tally whether any insert ran during
//! its lookup, and looks again if one did.
//!
//! The protocol, in one word: its low half counts the inserts in progress, its high half the
//! inserts ever begun.
//! 1. An insert calls [`Inserts::begin`] (`SeqCst`) after it passed the table's plain check of the
//!    count and before it raises the count (`SeqCst`), and ends, through the guard's drop (`SeqCst`,
//!    so a Release), after its slot holds its series or its reservation is handed back.
//! 2. A binder waits in [`Inserts::settled`] (`SeqCst` loads) until none is in progress, then looks
//!    its set up; every insert begun before the word it read has ended, and the load that read it
//!    synchronises with that end (each later change is a read-modify-write in its release
//!    sequence), so the lookup sees those inserts' series.
//! 3. If the lookup answered the overflow series, having read a count at the limit (`SeqCst`), the
//!    binder reads the word again ([`Inserts::ran_since`]). An insert whose raised count the
//!    lookup read had begun before that raise in the single order of `SeqCst` operations, so before
//!    this read too: the word differs, and the binder looks again. The same word means no insert
//!    touched the table during the lookup, and the overflow series is the answer.
//!
//! Only inserts touch the word (never a measurement past the limit, which stops at the plain
//! check), so the wait ends once the table is full: each insert in progress takes a bounded
//! number of steps, none of which waits.

use crate::sync::atomic::{AtomicU64, Ordering};

/// One insert in the low half, and one begun in the high half.
const ONE_IN_PROGRESS: u64 = 1;
const ONE_BEGUN: u64 = 1 << 32;

/// The tally of a table's inserts: see the module's protocol.
pub(super) struct Inserts(AtomicU64);

/// An insert in progress: ends when dropped, unwinding included.
pub(super) struct InProgress<'a>(&'a Inserts);

/// The word a binder read with no insert in progress.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Settled(u64);

impl Inserts {
    pub(super) fn new() -> Self {
        Inserts(AtomicU64::new(0))
    }

    /// Step 1: an insert begins.
    pub(super) fn begin(&self) -> InProgress<'_> {
        // SeqCst: ordered before the count's raise (step 3); the begun half wraps harmlessly
        // into nothing (it is compared for equality only).
        self.0.fetch_add(ONE_BEGUN | ONE_IN_PROGRESS, Ordering::SeqCst);
        InProgress(self)
    }

    /// Step 2: waits until no insert is in progress, and returns the word read then.
    pub(super) fn settled(&self) -> Settled {
        loop {
            // SeqCst: synchronises with the ends (step 2), ordered before the lookup's count read.
            let word = self.0.load(Ordering::SeqCst);
            if word & (ONE_BEGUN - 1) == 0 {
                return Settled(word);
            }
            super::let_others_run();
        }
    }

    /// Step 3: whether an insert began (or any ended) since `settled` was read.
    pub(super) fn ran_since(&self, settled: Settled) -> bool {
        // SeqCst: after the lookup's count read in the single order (step 3).
        Settled(self.0.load(Ordering::SeqCst)) != settled
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        // SeqCst (a Release): the insert's slot store or handed-back reservation comes before
        // (step 2).
        self.0 .0.fetch_sub(ONE_IN_PROGRESS, Ordering::SeqCst);
    }
}
