//! The inserts in progress in a table, so that a bind can tell a full table from a race.
//!
//! A lookup that finds its set missing and the table's count at the limit sends its measurement
//! to the overflow series. That answer can be wrong for a moment: another thread's insert of the
//! same set may have raised the count and not linked its series yet (or linked it after this
//! lookup passed its slot), or a reservation about to be handed back (an insert that lost its
//! slot to the same set) may hold the last place. A measurement sent there is counted as
//! overflowed, and the next one looks again; a bound handle would keep the overflow series for
//! good. So a bind that meets the overflow series asks this tally whether an insert could have
//! misled its lookup, and if so waits for the inserts in progress and looks again.
//!
//! The protocol, in one word: its low half counts the inserts in progress, its high half the
//! inserts ever begun.
//! 1. An insert calls [`Inserts::begin`] (`SeqCst`) after it passed the table's plain check of the
//!    count and before it raises the count (`SeqCst`), and ends, through the guard's drop (`SeqCst`,
//!    so a Release), after its slot holds its series or its reservation is handed back.
//! 2. A binder reads the word ([`Inserts::now`], `SeqCst`), then looks its set up. Every insert
//!    counted as ended in that word has its series linked where the lookup sees it: the load
//!    synchronises with its end (each later change is a read-modify-write in its release
//!    sequence).
//! 3. If the lookup answered the overflow series, having read a count at the limit (`SeqCst`), the
//!    binder reads the word again ([`Inserts::settled_since`]). An insert whose raised count the
//!    lookup read had begun before that raise in the single order of `SeqCst` operations, so
//!    before this read too. The answer stands only if the word is the same and showed no insert
//!    in progress: then no insert ran during the lookup, nor was one under way when it began.
//!    Otherwise the binder waits until none is in progress ([`Inserts::wait_settled`]) and looks
//!    again.
//!
//! Only inserts touch the word (never a measurement past the limit, which stops at the plain
//! check), and a bind waits only after an overflow answer, so only near the limit. Each insert in
//! progress has a bounded number of steps left (its allocations among them, none waiting for
//! another thread); the wait yields, then sleeps, so that an inserter of lower priority on the
//! same core (a binder under `SCHED_FIFO`) still gets to finish.

use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::Patience;

/// One insert in the low half, and one begun in the high half.
const ONE_IN_PROGRESS: u64 = 1;
const ONE_BEGUN: u64 = 1 << 32;

/// The tally of a table's inserts: see the module's protocol.
pub(super) struct Inserts(AtomicU64);

/// An insert in progress: ends when dropped, unwinding included.
pub(super) struct InProgress<'a>(&'a Inserts);

/// The word a binder read before its lookup.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Word(u64);

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

    /// Step 2: the word before a lookup.
    pub(super) fn now(&self) -> Word {
        // SeqCst: synchronises with the ends (step 2), ordered before the lookup's count read.
        Word(self.0.load(Ordering::SeqCst))
    }

    /// Step 3: whether no insert was in progress at `before` nor has begun or ended since.
    pub(super) fn settled_since(&self, before: Word) -> bool {
        // SeqCst: after the lookup's count read in the single order (step 3).
        before.0 & (ONE_BEGUN - 1) == 0 && self.now() == before
    }

    /// Step 3: waits until no insert is in progress, yielding, then sleeping.
    pub(super) fn wait_settled(&self) {
        let mut patience = Patience::new();
        while self.now().0 & (ONE_BEGUN - 1) != 0 {
            patience.wait();
        }
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        // SeqCst (a Release): the insert's slot store or handed-back reservation comes before
        // (step 2).
        self.0 .0.fetch_sub(ONE_IN_PROGRESS, Ordering::SeqCst);
    }
}
