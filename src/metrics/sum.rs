//! The sum aggregation of counters and up-down counters: one padded cell per owned stripe, and
//! a few cells for threads in shared mode (see `stripe`).
//!
//! Integer sums (`u64`, `i64`) are written by each stripe's owner alone, with a relaxed load and a
//! relaxed store: no locked read-modify-write on the hot path. The collector therefore never
//! writes those cells: they only grow (in wrapping arithmetic), and a delta is the difference
//! between this reading's total and the total last reported. Float sums keep an atomic
//! compare-and-swap add, and delta collection swaps each cell with zero, because subtracting
//! large float totals would lose small deltas.
//!
//! Exemplars (see `exemplar`) go to a reservoir per owned stripe and one for shared mode, apart
//! from the sum cells, each behind its own holder flag (`claimed::Claimable`): the owner's claim
//! never fails but while the collector reads it, and a shared-mode claim may meet another thread's.
//! Either way a record that cannot claim keeps no exemplar and never waits; its sum is added
//! before the exemplar is offered, independently of it.

use std::ptr::NonNull;

use crate::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use super::claimed::Claimable;
use super::exemplar::{merge, ExemplarFilter, Keeping, Kept, Removes, Reservoir, Restart, SUM_RESERVOIR};
use super::number::Number;
use super::stripe;

/// What a bound handle keeps of its series' sum cells: the address of the owned stripes, how many
/// there are, and the exemplar filter. An add through it reads the handle (the caller's memory),
/// the thread's stripe slot and the one cell it writes; without it, the series' header too, on
/// another line and usually another page: a miss more for a gateway whose caches went cold
/// between two adds (benches/README.md, `touched` and `cold`).
#[derive(Clone, Copy)]
pub(crate) struct SumShortcut {
    owned: NonNull<CachePadded<AtomicU64>>,
    stripes: usize,
    exemplars: ExemplarFilter,
}

// SAFETY: the pointer names cells of a series that the handle holding the shortcut keeps alive
// (an `Arc`); the cells are atomics, shared by design.
unsafe impl Send for SumShortcut {}
// SAFETY: as above.
unsafe impl Sync for SumShortcut {}

impl SumShortcut {
    /// A shortcut with no cells: every add through it goes `elsewhere` (see [`add`](Self::add)),
    /// and it admits no exemplar (a counter series aggregated as a histogram keeps its own).
    pub(crate) fn none() -> Self {
        SumShortcut { owned: NonNull::dangling(), stripes: 0, exemplars: ExemplarFilter::AlwaysOff }
    }

    /// Adds `value` to the thread's own cell, reached from the shortcut's address, when the
    /// thread has one; otherwise (no stripe of its own yet, shared mode, a shortcut with no
    /// cells) hands it to `elsewhere`. Then hands it to `offer` with the span's ids when the
    /// filter admits it. The series' cells are read only on those two paths, out of line. The
    /// cell's address comes from `home`'s prediction (see [`stripe::HomeSlot`]); a thread whose
    /// slot is not the predicted one finds its cell from its slot.
    ///
    /// # Safety
    /// The cells the shortcut was taken from ([`SumCells::shortcut`]) must be alive (a
    /// [`none`](Self::none) shortcut has none and is always fine), and `home` must never have been
    /// passed with another shortcut: it then predicts either nothing or a slot this shortcut's
    /// adds learned, below its stripe count, which is what lets the fast path check the slot
    /// against the prediction alone.
    #[inline(always)]
    pub(crate) unsafe fn add<N: Number>(
        self,
        home: &stripe::HomeSlot,
        value: N,
        elsewhere: impl FnOnce(N),
        offer: impl FnOnce(N, crate::trace::context::CurrentIds),
    ) {
        let predicted = home.predicted();
        // Formed before the thread's slot is read, from the prediction alone (a wrapping offset:
        // it is only dereferenced once the slot is known to equal it).
        let predicted_cell = self.owned.as_ptr().wrapping_add(predicted);
        let slot = stripe::slot_word();
        if slot == predicted {
            // SAFETY: no slot word equals `UNPREDICTED`, so `home` predicts a slot, which only
            // `add_unpredicted` below teaches it, and only a slot word below this shortcut's
            // stripe count (so not a `none` shortcut's, whose count is 0), as the caller
            // guarantees no other shortcut did. A slot word below the stripe count is the
            // thread's own slot, so `predicted_cell` is the thread's own cell of the owned
            // stripes the shortcut points at, of cells the caller guarantees are alive.
            SumCells::add_to_stripe(unsafe { &*predicted_cell }, value);
        } else {
            // SAFETY: as the caller guarantees.
            unsafe { self.add_unpredicted(home, slot, value, elsewhere) };
        }
        if let Some(ids) = self.exemplars.admit() {
            offer(value, ids);
        }
    }

    /// An add whose thread is not the predicted one: to its own cell when it has one (and, the
    /// first time, as the prediction), otherwise `elsewhere`.
    ///
    /// # Safety
    /// As for [`add`](Self::add).
    #[inline(always)]
    unsafe fn add_unpredicted<N: Number>(
        self,
        home: &stripe::HomeSlot,
        slot: usize,
        value: N,
        elsewhere: impl FnOnce(N),
    ) {
        if slot < self.stripes {
            // SAFETY: a slot word below the stripe count is the thread's own slot, and the
            // shortcut points at that many owned stripes of cells the caller guarantees are alive.
            SumCells::add_to_stripe(unsafe { self.owned.add(slot).as_ref() }, value);
            home.learn(slot);
        } else {
            elsewhere(value);
        }
    }
}

/// A running sum, striped so concurrent adds never share a cache line.
pub(crate) struct SumCells {
    /// Cell `i` is written only by the thread owning stripe slot `i` (integers; floats use
    /// atomic adds everywhere).
    owned: Box<[CachePadded<AtomicU64>]>,
    /// The cells of threads in shared mode: atomic adds, each thread to the cell its stack's
    /// address picks (`stripe::by_stack`), so that such threads running on two cores seldom add
    /// to one line (with one cell, 64 threads on 2 cores cost 3.5 to 4x one thread per add).
    shared: Box<[CachePadded<AtomicU64>]>,
    /// Integers: the total the last resetting reading reported, as bits. Only collections touch
    /// it, and the provider serializes them.
    reported: AtomicU64,
    exemplars: ExemplarFilter,
    /// One reservoir per owned stripe, then the shared-mode one; none when the filter keeps no
    /// exemplar.
    reservoirs: Box<[CachePadded<Claimable<Reservoir>>]>,
}

impl SumCells {
    pub(crate) fn new(exemplars: impl Into<Keeping>) -> Self {
        let Keeping { filter: exemplars, removes } = exemplars.into();
        let reservoirs = if exemplars.keeps_any() { stripe::count() + 1 } else { 0 };
        SumCells {
            owned: (0..stripe::count()).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
            shared: (0..stripe::shared_cells()).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
            reported: AtomicU64::new(0),
            exemplars,
            reservoirs: (0..reservoirs)
                .map(|_| CachePadded::new(Claimable::new(Reservoir::new(SUM_RESERVOIR, removes), false)))
                .collect(),
        }
    }

    /// For integers on an owned stripe, a plain load and store; otherwise one atomic add. A
    /// thread without a stripe yet, or in shared mode, adds out of line, so that this path
    /// calls nothing. An exemplar, when the filter admits the value, keeps the attributes its
    /// view `removed`.
    #[inline]
    pub(crate) fn add<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        match stripe::owned_slot().and_then(|slot| self.owned.get(slot)) {
            Some(cell) => Self::add_to_stripe(cell, value),
            None => self.add_settling(value),
        }
        if let Some(ids) = self.exemplars.admit() {
            self.offer(value, ids, removed);
        }
    }

    /// What a bound handle keeps to add without reading these cells' header (see
    /// [`SumShortcut`]).
    pub(crate) fn shortcut(&self) -> SumShortcut {
        SumShortcut { owned: NonNull::from(&*self.owned).cast(), stripes: self.owned.len(), exemplars: self.exemplars }
    }

    /// Offers `value` to the reservoir of this thread's stripe (the shared one in shared mode),
    /// unless another holds it.
    #[inline(never)]
    pub(crate) fn offer<'r, N: Number>(
        &self,
        value: N,
        ids: crate::trace::context::CurrentIds,
        removed: impl Removes<'r>,
    ) {
        let index = stripe::owned_slot().filter(|&slot| slot < self.owned.len()).unwrap_or(self.owned.len());
        if let Some(mut held) = self.reservoirs.get(index).and_then(|reservoir| reservoir.claim()) {
            held.with(|reservoir| reservoir.offer(value, ids, removed.get()));
        }
    }

    /// A sample of the exemplars kept, the reservoirs then restarted as `restart` says.
    pub(crate) fn exemplars(&self, restart: Restart) -> Vec<Kept> {
        let samples = self.reservoirs.iter().map(|reservoir| reservoir.claim_waiting().with(|r| r.take(restart)));
        merge(samples.collect(), SUM_RESERVOIR)
    }

    /// An add of a thread without a stripe of its own yet, or in shared mode.
    #[inline(never)]
    pub(crate) fn add_settling<N: Number>(&self, value: N) {
        match self.owned.get(stripe::slot()) {
            Some(cell) => Self::add_to_stripe(cell, value),
            None => value.add_to(&self.shared[stripe::by_stack(self.shared.len())]),
        }
    }

    /// A stripe's own cell: integers without a read-modify-write, floats with an atomic add.
    #[inline]
    fn add_to_stripe<N: Number>(cell: &AtomicU64, value: N) {
        if N::WRAPS {
            // Relaxed, and no read-modify-write: this thread owns the slot, so no other thread
            // writes this cell until it gives the slot back (the collector only reads it). The
            // claim's Acquire made the previous owner's last store visible, so the load returns
            // the cell's latest value and the store loses nothing. Concurrent readers see either
            // the old or the new total, each a whole value.
            let total = cell.load(Ordering::Relaxed).wrapping_add(value.to_bits());
            cell.store(total, Ordering::Relaxed);
        } else {
            value.add_to(cell);
        }
    }

    fn cells(&self) -> impl Iterator<Item = &AtomicU64> {
        self.owned.iter().chain(&*self.shared).map(|cell| &**cell)
    }

    /// The sum so far, or (with `reset`) the sum since the last reset, starting a new one. Every
    /// add lands in exactly one delta: integers are read as running totals (each cell is read at
    /// or after the point its previous reading saw, collections being serialized, so the deltas
    /// of all readings add up to the last total); float cells are swapped with zero in one
    /// atomic step each.
    pub(crate) fn read<N: Number>(&self, reset: bool) -> N {
        // Relaxed throughout: each cell is an independent total; no other memory is read
        // through it.
        if N::WRAPS {
            let total = self.cells().fold(0u64, |total, cell| total.wrapping_add(cell.load(Ordering::Relaxed)));
            let reported = if reset {
                self.reported.swap(total, Ordering::Relaxed)
            } else {
                self.reported.load(Ordering::Relaxed)
            };
            return N::from_bits(total.wrapping_sub(reported));
        }
        self.cells().fold(N::ZERO, |total, cell| {
            let bits =
                if reset { cell.swap(N::ZERO.to_bits(), Ordering::Relaxed) } else { cell.load(Ordering::Relaxed) };
            N::plus(total, N::from_bits(bits))
        })
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::metrics::exemplar::Removed;
    use std::sync::atomic::AtomicBool;
    use std::sync::Barrier;

    #[test]
    fn stripes_from_many_threads_add_up_and_reset_exactly() {
        let cells = SumCells::new(ExemplarFilter::TraceBased);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1000).for_each(|_| cells.add(2u64, Removed::None)));
            }
        });
        assert_eq!(cells.read::<u64>(false), 8000);
        assert_eq!(cells.read::<u64>(true), 8000);
        assert_eq!(cells.read::<u64>(false), 0);
        cells.add(5u64, Removed::None);
        assert_eq!(cells.read::<u64>(true), 5);
        let signed = SumCells::new(ExemplarFilter::TraceBased);
        signed.add(-3i64, Removed::None);
        assert_eq!(signed.read::<i64>(true), -3);
        signed.add(1i64, Removed::None);
        assert_eq!((signed.read::<i64>(false), signed.read::<i64>(true), signed.read::<i64>(true)), (1, 1, 0));
        let float = SumCells::new(ExemplarFilter::TraceBased);
        float.add(1.5f64, Removed::None);
        float.add(2.0f64, Removed::None);
        assert_eq!((float.read::<f64>(true), float.read::<f64>(false)), (3.5, 0.0));
    }

    /// A handle's prediction is the slot of the first thread that added through it, written once;
    /// threads whose slot it is not (racing the predicted one) add to their own cells, so that
    /// no add is lost to two threads' plain stores on one cell.
    #[test]
    fn a_prediction_is_the_first_threads_slot_and_other_threads_add_to_their_own_cells() {
        const ADDS: u64 = 500_000;
        let cells = SumCells::new(ExemplarFilter::AlwaysOff);
        let (shortcut, home) = (cells.shortcut(), stripe::HomeSlot::new());
        let add = |value: u64| {
            // SAFETY: the shortcut is `cells`', which outlive every add.
            unsafe { shortcut.add(&home, value, |value| cells.add_settling(value), |_, _| {}) }
        };
        assert_eq!(home.predicted(), stripe::UNPREDICTED);
        let start = Barrier::new(4);
        let first = std::thread::scope(|s| {
            let first = s.spawn(|| {
                // The first add claims the thread's slot (out of line), the second predicts it.
                add(1);
                add(1);
                let slot = stripe::slot_word();
                start.wait();
                (0..ADDS).for_each(|_| add(1));
                slot
            });
            for _ in 0..3 {
                s.spawn(|| {
                    start.wait();
                    (0..ADDS).for_each(|_| add(2));
                });
            }
            first.join().unwrap()
        });
        // With a slot of its own (other tests may hold every slot), the first thread's is the
        // prediction, and no later add changed it.
        if first < stripe::count() {
            assert_eq!(home.predicted(), first);
        }
        assert_eq!(cells.read::<u64>(false), 2 + ADDS + 3 * 2 * ADDS);
    }

    /// A shortcut with no cells sends every add elsewhere and never teaches its handle's
    /// prediction a slot: the fast path's one check (the slot against the prediction) relies on it.
    #[test]
    fn a_shortcut_with_no_cells_adds_elsewhere_and_predicts_nothing() {
        let (shortcut, home) = (SumShortcut::none(), stripe::HomeSlot::new());
        let mut elsewhere = 0;
        for _ in 0..3 {
            // SAFETY: a `none` shortcut points at no cells.
            unsafe { shortcut.add(&home, 1u64, |value| elsewhere += value, |_, _| {}) };
        }
        assert_eq!((elsewhere, home.predicted()), (3, stripe::UNPREDICTED));
    }

    /// Waves of more threads than stripes, each thread exiting while later ones start (so slots
    /// are given back and reused, and some threads record in shared mode), with resetting
    /// readings racing them: the deltas add up to every add, and so does a cumulative sum.
    #[test]
    fn exiting_threads_reused_slots_and_shared_mode_lose_nothing() {
        const WAVES: u64 = 3;
        const ADDS: u64 = 2000;
        let threads = stripe::count() as u64 + 3;
        let (delta, cumulative, signed) = (
            SumCells::new(ExemplarFilter::TraceBased),
            SumCells::new(ExemplarFilter::TraceBased),
            SumCells::new(ExemplarFilter::TraceBased),
        );
        let done = AtomicBool::new(false);
        let start = Barrier::new(threads as usize);
        let mut reported = 0u64;
        std::thread::scope(|s| {
            let recorders = s.spawn(|| {
                for _ in 0..WAVES {
                    std::thread::scope(|wave| {
                        for t in 0..threads {
                            let (delta, cumulative, signed, start) = (&delta, &cumulative, &signed, &start);
                            wave.spawn(move || {
                                // All alive before the first add: more claimants than slots.
                                start.wait();
                                for i in 0..ADDS {
                                    delta.add(1u64, Removed::None);
                                    cumulative.add(t + 1, Removed::None);
                                    signed.add(if i % 2 == 0 { -(t as i64) } else { t as i64 + 1 }, Removed::None);
                                }
                            });
                        }
                    });
                }
                done.store(true, Ordering::Release);
            });
            while !done.load(Ordering::Acquire) {
                reported += delta.read::<u64>(true);
                std::thread::yield_now();
            }
            recorders.join().unwrap();
        });
        reported += delta.read::<u64>(true);
        assert_eq!(reported, WAVES * threads * ADDS);
        assert_eq!(cumulative.read::<u64>(false), WAVES * ADDS * threads * (threads + 1) / 2);
        assert_eq!(signed.read::<i64>(false), (WAVES * threads * ADDS / 2) as i64);
    }
}
