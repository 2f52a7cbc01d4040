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
//! A thread's first claim registers the thread-local destructor that gives the slot back, which
//! may allocate once (the runtime's list of destructors for the thread); later records never do.
//!
//! The thread's slot word lives in `thread_words`, beside the other word a record reads from its
//! thread.
//!
//! Under loom (`cfg(nanotel_loom)`) the registry is a `loom::lazy_static!` and the thread-locals
//! are `loom::thread_local!`s, so that each model execution starts afresh and each modelled thread
//! has its own slot.

use std::cell::Cell;
use std::sync::OnceLock;

use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::thread_words;

/// The most stripes a series ever has (and so the most owned slots).
const MAX_SLOTS: usize = 64;

/// The number of stripes every series gets: twice the available parallelism rounded up to a power
/// of two, between 4 and 64. Twice, because recording threads need not be spread evenly over CPUs,
/// and a thread keeps its slot while it lives; a power of two so the histograms, which also give a
/// stripe to threads in shared mode, find it with a mask, not a division.
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
        (cpus * 2).next_power_of_two().clamp(4, MAX_SLOTS)
    })
}

/// The cells a series keeps for threads in shared mode (see [`by_stack`]): as many as stripes, up
/// to 8 (4 on 2 CPUs). A power of two.
pub(crate) fn shared_cells() -> usize {
    count().min(8)
}

/// Shared-mode records between two attempts to claim a slot.
const RETRY: usize = 4096;
/// The first shared-mode value of the slot word: `SHARED + n` means shared, with `n` records left
/// before the next attempt to claim.
const SHARED: usize = MAX_SLOTS;
/// The slot word after the thread's slot was given back (its thread-locals are being destroyed).
const EXITED: usize = usize::MAX - 1;
/// The slot word before the thread's first record.
const UNCLAIMED: usize = thread_words::INITIAL_SLOT;
/// A [`HomeSlot`] before its first record: none of the slot word's values, so that no thread's slot
/// word equals it.
pub(crate) const UNPREDICTED: usize = usize::MAX - 2;
const _: () = assert!(UNPREDICTED != UNCLAIMED && UNPREDICTED != EXITED && UNPREDICTED > SHARED + RETRY);

// The thread's slot word (`thread_words::slot_word`) is its slot below `MAX_SLOTS`; a shared-mode
// or lifecycle value above.

#[cfg(not(nanotel_loom))]
thread_local! {
    /// Gives the slot it holds back when the thread exits. Apart from the slot word, so that the
    /// word needs no destructor; registered on the first claim only.
    static GIVE_BACK: GiveBack = const { GiveBack(Cell::new(UNCLAIMED)) };
}

// The same under loom, whose macro takes no `const` initializer.
#[cfg(nanotel_loom)]
loom::thread_local! {
    static GIVE_BACK: GiveBack = GiveBack(Cell::new(UNCLAIMED));
}

/// The process-wide slot registry: one flag per slot, set while a thread owns it.
struct Slots {
    taken: [AtomicBool; MAX_SLOTS],
}

#[cfg(not(nanotel_loom))]
static SLOTS: Slots = Slots { taken: [const { AtomicBool::new(false) }; MAX_SLOTS] };

#[cfg(nanotel_loom)]
loom::lazy_static! {
    static ref SLOTS: Slots = Slots { taken: std::array::from_fn(|_| AtomicBool::new(false)) };
}

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

/// The slot the thread owns, if below [`MAX_SLOTS`]. It keeps its own copy of the slot word so that it
/// needs no other thread-local when dropped (loom destroys a thread's thread-locals together).
struct GiveBack(Cell<usize>);

impl Drop for GiveBack {
    fn drop(&mut self) {
        if self.0.get() < MAX_SLOTS {
            SLOTS.give_back(self.0.get());
        }
        // Records made by thread-local destructors that run after this one go to shared mode for
        // good. (The slot word has no destructor, so it is still there, except under loom.)
        thread_words::set_slot_word(EXITED);
    }
}

/// This thread's stripe: its owned slot (below `count()`), or, in shared mode or while the
/// thread exits, a number of at least `count()` (which the histograms mask into the stripe they
/// try to claim first; see `claimed`).
#[inline]
pub(crate) fn slot() -> usize {
    let slot = thread_words::slot_word();
    if slot < MAX_SLOTS {
        slot
    } else {
        settle(slot)
    }
}

/// This thread's slot word as it is: its owned slot (below `count()`), or a value of at least
/// `count()` when it has none (before its first record, in shared mode, while it exits), which
/// callers that index stripes with it reject by comparing it with their stripe count, or with a
/// [`HomeSlot`]'s prediction, which is only ever an owned slot.
#[inline(always)]
pub(crate) fn slot_word() -> usize {
    thread_words::slot_word()
}

/// This thread's owned slot, if it has one; `None` before its first record and in shared mode,
/// where the caller takes its slow path, which calls [`slot`].
#[inline]
pub(crate) fn owned_slot() -> Option<usize> {
    let slot = thread_words::slot_word();
    (slot < MAX_SLOTS).then_some(slot)
}

/// The bits of a stack address below this many are ignored by [`by_stack`]: a thread's stack
/// moves within 64 KiB at most calls, and threads' stacks are usually at least that far apart.
#[cfg(not(nanotel_loom))]
const STACK_SHIFT: u32 = 16;

/// A cell number below `cells` (a power of two) for this thread, from the address of its stack:
/// the bits above [`STACK_SHIFT`], Fibonacci-hashed. Taking the address of a local is arithmetic
/// on the stack pointer, not a memory read, so the cell's address is known without waiting for a
/// line (what a cold cache rewards, unlike the slot word). A thread keeps to one cell or two, and
/// threads spread over the cells; two may share one, so the cells it picks take atomic adds.
#[cfg(not(nanotel_loom))]
#[inline(always)]
pub(crate) fn by_stack(cells: usize) -> usize {
    debug_assert!(cells.is_power_of_two());
    let probe = 0u8;
    let address = std::ptr::addr_of!(probe) as usize as u64;
    let hashed = (address >> STACK_SHIFT).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The top bits, which every bit of the address moves (middle ones sent 32 stacks 2 MiB apart
    // to 4 cells of 16). Shifted in two steps so that one cell needs no shift by 64.
    ((hashed >> 1) >> (63 - cells.trailing_zeros())) as usize
}

/// Under loom, the first cell for every thread: loom replays an execution's choices to explore the
/// next, so each must repeat, and a thread's stack lies elsewhere from one run to the next (with
/// the stack's address, models passed alone and failed beside another test). One cell for all
/// also makes every model's threads meet on it.
#[cfg(nanotel_loom)]
#[inline(always)]
pub(crate) fn by_stack(cells: usize) -> usize {
    debug_assert!(cells.is_power_of_two());
    0
}

/// The stripe slot a bound handle predicts its records land on: the owned slot of the first thread
/// that recorded through it with one. A record forms its cell's address from the prediction and
/// checks it against the thread's own slot (a thread-local) before writing, so that, when the
/// caches are cold, the cell and the thread-local are asked for at once instead of one after the
/// other (the branch on their equality is predicted). Written once: every thread recording through
/// the handle reads the line it is in, which must not move from core to core. A clone predicts
/// nothing until its own first record, so a thread given a clone of its own gets its own
/// prediction.
pub(crate) struct HomeSlot(AtomicUsize);

impl HomeSlot {
    /// A prediction no thread's slot matches ([`UNPREDICTED`]).
    pub(crate) fn new() -> Self {
        HomeSlot(AtomicUsize::new(UNPREDICTED))
    }

    /// The predicted slot; [`UNPREDICTED`] before the first record.
    #[inline(always)]
    pub(crate) fn predicted(&self) -> usize {
        // Relaxed: a prediction, checked against the thread's own slot before it is used.
        self.0.load(Ordering::Relaxed)
    }

    /// Records that a thread whose slot word is `slot` recorded without a prediction: its slot is
    /// the prediction from now on if it owns one, unless another thread's came first. Inline, so
    /// that the records of a handle that already predicts (every thread but one, when threads
    /// share it) pay a load and a branch, not a call.
    #[inline(always)]
    pub(crate) fn learn(&self, slot: usize) {
        if self.predicted() == UNPREDICTED {
            self.learn_first(slot);
        }
    }

    #[cold]
    #[inline(never)]
    fn learn_first(&self, slot: usize) {
        // Relaxed: see `predicted`. Two first records may both store; either slot is a prediction.
        if slot < MAX_SLOTS {
            self.0.store(slot, Ordering::Relaxed);
        }
    }
}

/// The slow path of [`slot`]: the first record, and the records of shared mode.
#[cold]
#[inline(never)]
fn settle(current: usize) -> usize {
    let next = match current {
        EXITED => return EXITED,
        UNCLAIMED | SHARED => claim(),
        countdown => countdown - 1,
    };
    thread_words::set_slot_word(next);
    next
}

/// A free slot, now this thread's and given back when it exits; a new shared-mode countdown when
/// every slot is taken; [`EXITED`] when the thread's thread-locals are being destroyed (then the
/// guard cannot be registered, and a slot claimed now could never be given back).
fn claim() -> usize {
    let Some(slot) = SLOTS.claim(count()) else { return SHARED + RETRY };
    if let Ok(()) = GIVE_BACK.try_with(|guard| guard.0.set(slot)) {
        slot
    } else {
        SLOTS.give_back(slot);
        EXITED
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn threads_spread_over_cells_by_their_stacks() {
        assert!(by_stack(16) < 16);
        assert_eq!(by_stack(1), 0);
        // Alive together, so that no two reuse one stack.
        let barrier = std::sync::Barrier::new(32);
        let cells: std::collections::HashSet<usize> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..32)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        by_stack(16)
                    })
                })
                .collect();
            threads.into_iter().map(|thread| thread.join().unwrap()).collect()
        });
        // 32 threads over 16 cells: a hash that sent them all to a few would defeat the cells.
        assert!(cells.len() >= 6, "32 threads used only {} cells", cells.len());
    }

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
        // Owned slots stay; while every slot is held by other tests' threads this one records in
        // shared mode, whose value counts down to the next attempt to claim.
        if mine < count() {
            assert_eq!(slot(), mine);
        }
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
                // The guard must not give it back a second time at exit.
                GIVE_BACK.with(|guard| guard.0.set(UNCLAIMED));
            }
            thread_words::set_slot_word(SHARED + 2);
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

/// Waits until every slot is free again. Loom destroys a thread's thread-locals after `join`
/// returns (std, before), and its statics when the model's main thread ends: so a model whose
/// threads claimed slots waits for them to be given back before it ends. A slot never given back
/// makes this spin until loom's branch limit fails the model.
#[cfg(all(test, nanotel_loom))]
pub(crate) fn loom_wait_until_all_given_back() {
    // Acquire: as in `claim`.
    while SLOTS.taken[..count()].iter().any(|flag| flag.load(Ordering::Acquire)) {
        loom::thread::yield_now();
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use crate::metrics::exemplar::{Removed, Restart};
    use crate::metrics::sum::SumCells;
    use crate::sync::Arc;
    use loom::thread;

    /// Two threads add to an integer sum through their owned stripes (a load and a store, no
    /// read-modify-write), each claiming a slot on its first add and giving it back as it exits;
    /// the lowest free slot is claimed, so the second may take the slot the first gave back. No
    /// add is lost (the claim's Acquire sees the last owner's store), and every slot is given
    /// back.
    #[test]
    fn loom_slots_are_owned_alone_and_given_back() {
        loom::model(|| {
            let sum = Arc::new(SumCells::new(crate::metrics::ExemplarFilter::AlwaysOff));
            let adders: Vec<_> = (0..2)
                .map(|_| {
                    let sum = sum.clone();
                    thread::spawn(move || sum.add(1u64, Removed::None))
                })
                .collect();
            adders.into_iter().for_each(|adder| adder.join().unwrap());
            assert_eq!(sum.read::<u64>(false), 2);
            loom_wait_until_all_given_back();
        });
    }

    /// Two threads add twice each through one bound handle's shortcut and prediction (their
    /// first adds race to teach the prediction; the loser, and every later add of a thread whose
    /// slot is not the predicted one, finds its cell from its own slot), then, once both have
    /// exited, a third thread adds once: it claims a slot one of them gave back, possibly the
    /// predicted one, and then writes through the prediction alone. No add is lost: two threads
    /// never store to one cell, and the claim's Acquire sees the previous owner's last store
    /// even on the fast path.
    #[test]
    fn loom_a_predicted_slot_is_written_by_its_owner_alone() {
        loom::model(|| {
            let handle = Arc::new((SumCells::new(crate::metrics::ExemplarFilter::AlwaysOff), HomeSlot::new()));
            let add_twice = |times: u64| {
                let handle = handle.clone();
                move || {
                    let (cells, home) = &*handle;
                    for _ in 0..times {
                        // SAFETY: the shortcut is `cells`', alive in `handle`, and `home` is only
                        // ever passed with shortcuts of `cells`.
                        unsafe { cells.shortcut().add(home, 1u64, |v| cells.add_settling(v), |_, _| {}) };
                    }
                }
            };
            let adders: Vec<_> = (0..2).map(|_| thread::spawn(add_twice(2))).collect();
            adders.into_iter().for_each(|adder| adder.join().unwrap());
            let (cells, home) = &*handle;
            assert!(home.predicted() < count(), "no prediction learned");
            loom_wait_until_all_given_back();
            thread::spawn(add_twice(1)).join().unwrap();
            assert_eq!(cells.read::<u64>(false), 5);
            loom_wait_until_all_given_back();
        });
    }

    /// Two threads add to a sum that keeps every measurement as an exemplar (each offering to the
    /// reservoir of its stripe, behind the reservoir's holder flag) while a collection takes and
    /// resets the reservoirs: no reservoir is reached by two threads at once (loom checks every
    /// access), and each exemplar is a whole measurement, taken once.
    #[test]
    fn loom_sum_exemplars_are_whole_while_collected() {
        loom::model(|| {
            let sum = Arc::new(SumCells::new(crate::metrics::ExemplarFilter::AlwaysOn));
            let adders: Vec<_> = [1u64, 2]
                .into_iter()
                .map(|value| {
                    let sum = sum.clone();
                    thread::spawn(move || sum.add(value, Removed::None))
                })
                .collect();
            let first = sum.exemplars(Restart::All);
            adders.into_iter().for_each(|adder| adder.join().unwrap());
            let second = sum.exemplars(Restart::All);
            assert!(first.len() <= 1 && second.len() <= 1, "{first:?} {second:?}");
            let values: Vec<u64> = first.iter().chain(&second).map(|kept| kept.value).collect();
            assert!(values.iter().all(|v| *v == 1 || *v == 2), "{values:?}");
            assert!(values.len() < 2 || values[0] != values[1], "taken twice: {values:?}");
            assert_eq!(sum.read::<u64>(false), 3);
            loom_wait_until_all_given_back();
        });
    }
}
