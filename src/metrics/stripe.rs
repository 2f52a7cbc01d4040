//! Stripes: each series keeps one cell per stripe, so threads recording to one series do not
//! fight over one cache line. Collection sums the stripes.
//!
//! Stripes are owned. The first time a thread records, it claims a free slot number in
//! `0..count()` for itself alone, and it gives the slot back when it exits. The owner of slot `i`
//! is then the only thread recording into stripe `i` of any series, which lets integer sums add
//! with a plain load and store instead of a locked read-modify-write (see `sum`).
//!
//! A thread that finds every slot taken (more live recording threads than stripes) records in
//! shared mode, and tries to claim a slot again every [`RETRY`] records; so does, for good, a
//! thread recording from a thread-local destructor after its slot was given back. A slot held by
//! a thread that no longer records stays taken until that thread exits.
//!
//! A thread's first record registers the thread-local destructor that gives the slot back, which
//! may allocate once (the runtime's list of destructors for the thread); later records never do.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The most stripes a series ever has (and so the most owned slots).
const MAX_SLOTS: usize = 64;

/// The number of stripes every series gets: twice the available parallelism rounded up to a power
/// of two, between 4 and 64. Twice, because recording threads need not be spread evenly over CPUs,
/// and a thread keeps its slot while it lives; a power of two so the histograms, which also give a
/// stripe to threads in shared mode, find it with a mask, not a division.
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).next_power_of_two().clamp(4, MAX_SLOTS)
    })
}

/// Shared-mode records between two attempts to claim a slot.
const RETRY: usize = 4096;
/// The first shared-mode value of [`SLOT`]: `SHARED + n` means shared, with `n` records left
/// before the next attempt to claim.
const SHARED: usize = MAX_SLOTS;
/// [`SLOT`] after the thread's slot was given back (its thread-locals are being destroyed).
const EXITED: usize = usize::MAX - 1;
/// [`SLOT`] before the thread's first record.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// This thread's slot below [`MAX_SLOTS`]; a shared-mode or lifecycle value above. A `const`
    /// initializer without a destructor makes each read a plain thread-local load.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Gives the slot back when the thread exits. Apart from `SLOT`, so that `SLOT` needs no
    /// destructor; registered on the first record only.
    static GIVE_BACK: GiveBack = const { GiveBack };
}

/// The process-wide slot registry: one flag per slot, set while a thread owns it.
struct Slots {
    taken: [AtomicBool; MAX_SLOTS],
}

static SLOTS: Slots = Slots { taken: [const { AtomicBool::new(false) }; MAX_SLOTS] };

impl Slots {
    /// The lowest free slot below `count`, now owned by the caller; `None` when all are taken.
    fn claim(&self, count: usize) -> Option<usize> {
        self.taken[..count].iter().position(|flag| {
            // Acquire pairs with the Release in `give_back`: the new owner sees every store the
            // previous owner made to its cells, so its first load+store continues from the last
            // total instead of overwriting it. The plain load first skips taken slots without
            // writing their lines.
            !flag.load(Ordering::Relaxed)
                && flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
        })
    }

    /// Frees a slot the caller owns.
    fn give_back(&self, slot: usize) {
        // Release: publishes the owner's last stores to its cells to the next owner's Acquire.
        self.taken[slot].store(false, Ordering::Release);
    }
}

struct GiveBack;

impl Drop for GiveBack {
    fn drop(&mut self) {
        SLOT.with(|slot| {
            if slot.get() < MAX_SLOTS {
                SLOTS.give_back(slot.get());
            }
            // Records made by thread-local destructors that run after this one go to shared mode.
            slot.set(EXITED);
        });
    }
}

/// This thread's stripe: its owned slot (below `count()`), or, in shared mode, a number of at
/// least `count()` (which the histograms mask into a stripe they update with atomic
/// read-modify-writes).
#[inline]
pub(crate) fn slot() -> usize {
    let slot = SLOT.with(Cell::get);
    if slot < MAX_SLOTS {
        slot
    } else {
        settle(slot)
    }
}

/// This thread's owned slot, if it has one; `None` before its first record and in shared mode,
/// where the caller takes its slow path, which calls [`slot`].
#[inline]
pub(crate) fn owned_slot() -> Option<usize> {
    let slot = SLOT.with(Cell::get);
    (slot < MAX_SLOTS).then_some(slot)
}

/// The slow path of [`slot`]: the first record, and the records of shared mode.
#[cold]
#[inline(never)]
fn settle(current: usize) -> usize {
    let claim_or_share = || SLOTS.claim(count()).unwrap_or(SHARED + RETRY);
    let next = match current {
        EXITED => return EXITED,
        // Registering the guard fails only once this thread's thread-locals are being destroyed:
        // then it must not claim a slot it could never give back.
        UNCLAIMED if GIVE_BACK.try_with(|_| ()).is_err() => EXITED,
        UNCLAIMED | SHARED => claim_or_share(),
        countdown => countdown - 1,
    };
    SLOT.with(|slot| slot.set(next));
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_hands_out_each_slot_once_and_takes_it_back() {
        let slots = Slots { taken: [const { AtomicBool::new(false) }; MAX_SLOTS] };
        assert_eq!((slots.claim(2), slots.claim(2), slots.claim(2)), (Some(0), Some(1), None));
        slots.give_back(0);
        assert_eq!((slots.claim(2), slots.claim(2)), (Some(0), None));
        assert_eq!(slots.claim(3), Some(2));
    }

    #[test]
    fn a_thread_keeps_its_slot_and_gives_it_back_when_it_exits() {
        assert!(count().is_power_of_two() && (4..=64).contains(&count()));
        let mine = slot();
        assert_eq!(slot(), mine);
        // Other tests claim slots too, so a freed slot may be taken again at once; but if exiting
        // threads never gave theirs back, none of these attempts could take it.
        let mut retaken = 0;
        for _ in 0..20 {
            let theirs = std::thread::spawn(slot).join().unwrap_or(SHARED);
            assert!(mine >= count() || theirs != mine);
            let flag = SLOTS.taken.get(theirs);
            if flag.is_some_and(|f| f.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()) {
                SLOTS.give_back(theirs);
                retaken += 1;
            }
        }
        assert!(retaken > 0, "no exiting thread gave its slot back");
    }

    #[test]
    fn shared_mode_counts_down_to_a_new_claim() {
        std::thread::spawn(|| {
            // The first record registers the guard; then pretend this thread is in shared mode.
            let owned = super::slot();
            if owned < count() {
                SLOTS.give_back(owned);
            }
            SLOT.with(|slot| slot.set(SHARED + 2));
            assert_eq!(super::slot(), SHARED + 1);
            assert_eq!(super::slot(), SHARED);
            // The countdown ran out: a claim (or, if every slot is taken, a new countdown).
            let next = super::slot();
            assert!(next < count() || next == SHARED + RETRY, "{next}");
        })
        .join()
        .unwrap();
    }
}
