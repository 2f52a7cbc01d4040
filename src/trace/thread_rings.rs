//! Per thread and provider, a bounded ring (see [`super::ring`]) that items wait in until the
//! exporter thread drains them: what the span recorder and the log buffers have in common.
//!
//! Offering an item touches only the calling thread's side: no lock, no allocation, no wait; a full
//! ring drops the item and counts it. A thread's first item for a provider allocates its ring (and
//! whatever else the owner keeps per thread) and registers the consuming end with the provider; a
//! ring outlives its thread until it has been drained.

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::LocalKey;

use super::ring::{ring, Consumer, Producer};
use crate::export::LateDrops;

/// What owns one provider's per-thread rings: the span recorder, the log buffers.
pub(crate) trait RingOwner: Sized + 'static {
    /// What the rings hold.
    type Item: Send;
    /// What a thread keeps beside its ring's producing end (the span slab).
    type Local;
    /// What the drain keeps beside each ring's consuming end (the slab's shared slots).
    type Shared;

    /// The owner's rings.
    fn rings(&self) -> &Rings<Self>;

    /// The thread-local list of this kind of owner's thread sides, one per owner the thread used.
    fn threads() -> &'static LocalKey<RefCell<ThreadSides<Self>>>;

    /// The thread-local memory of which side this thread used last (a thread-local without a
    /// destructor, so that reaching it is one address computation).
    fn last() -> &'static LocalKey<LastSide<Self>>;

    /// A new thread's `Local` and `Shared` parts, beside a ring of `capacity`.
    fn new_thread(capacity: usize) -> (Self::Local, Self::Shared);

    /// Whether the ring of a thread that has ended may go, once it is empty.
    fn may_retire(shared: &Self::Shared) -> bool;
}

/// The consuming ends of one owner's rings.
pub(crate) struct Rings<O: RingOwner> {
    capacity: usize,
    consumers: Mutex<Consumers<O>>,
    /// Items offered while their thread's locals were being torn down (dropped).
    orphaned: AtomicU64,
    /// Pipelines draining these rings that have not shut down.
    attached: AtomicUsize,
    /// Set when the last of them shut down: items are then counted here, not offered.
    late: OnceLock<LateDrops>,
}

struct Consumers<O: RingOwner> {
    /// Each thread's ring, and what the drain keeps beside it.
    list: Vec<(Consumer<O::Item>, O::Shared)>,
    /// Where the next drain starts, so a limited drain serves every thread in turn.
    next: usize,
    reported_orphans: u64,
}

/// One thread's side of one owner's rings.
pub(crate) struct ThreadRing<O: RingOwner> {
    owner: Weak<O>,
    pub(crate) producer: Producer<O::Item>,
    pub(crate) local: O::Local,
}

impl<O: RingOwner> Rings<O> {
    /// No rings yet; each will have at least `capacity` slots.
    pub(crate) fn new(capacity: usize) -> Rings<O> {
        Rings {
            capacity,
            consumers: Mutex::new(Consumers { list: Vec::new(), next: 0, reported_orphans: 0 }),
            orphaned: AtomicU64::new(0),
            attached: AtomicUsize::new(0),
            late: OnceLock::new(),
        }
    }

    /// Notes one more pipeline draining these rings.
    pub(crate) fn attach(&self) {
        // Relaxed: a count; the pipelines' own channels order attaching before closing.
        self.attached.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes that a pipeline draining these rings shut down (`late`: where it counts what comes
    /// too late for it) or never took them on (`None`). When none is left, whatever is offered
    /// from then on is counted with the last `late` (dropped at shutdown) instead: nothing would
    /// ever drain it. (An item whose offer races with this, reading "not closed" just before and
    /// reaching its ring just after the last drain, stays uncounted: a window of a few
    /// instructions.)
    pub(crate) fn detach(&self, late: Option<LateDrops>) {
        // AcqRel: the last one out sees every other's decrement before publishing `late`.
        if self.attached.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(late) = late {
                let _ = self.late.set(late);
            }
        }
    }

    /// Where to count items offered after the last pipeline shut down; `None` while one runs.
    #[inline(always)]
    pub(crate) fn late(&self) -> Option<&LateDrops> {
        self.late.get()
    }

    /// Counts an item dropped because its thread's locals were being torn down.
    pub(crate) fn count_orphan(&self) {
        // Relaxed: a tally.
        self.orphaned.fetch_add(1, Ordering::Relaxed);
    }

    /// Pops up to `max` items (oldest first per thread, threads in turn) into `sink`, and returns
    /// how many items were dropped since the last drain because a ring was full or their thread was
    /// ending.
    pub(crate) fn drain(&self, max: usize, mut sink: impl FnMut(O::Item)) -> u64 {
        let Ok(mut consumers) = self.consumers.lock() else { return 0 };
        let consumers = &mut *consumers;
        let mut dropped = 0;
        let mut left = max;
        let count = consumers.list.len();
        for turn in 0..count {
            let (consumer, _) = &mut consumers.list[(consumers.next + turn) % count];
            dropped += consumer.take_drops();
            while left > 0 {
                let Some(item) = consumer.pop() else { break };
                sink(item);
                left -= 1;
            }
        }
        if count > 0 {
            consumers.next = (consumers.next + 1) % count;
        }
        // A ring whose thread has ended, that is empty, and that its owner lets go (for spans: no
        // slot of that thread is still in use) goes; its last drops are counted first.
        consumers.list.retain_mut(|(consumer, shared)| {
            let finished = consumer.is_finished() && O::may_retire(shared);
            if finished {
                dropped += consumer.take_drops();
            }
            !finished
        });
        // Relaxed: a tally; one counted late is reported at the next drain.
        let orphaned = self.orphaned.load(Ordering::Relaxed);
        dropped += orphaned - consumers.reported_orphans;
        consumers.reported_orphans = orphaned;
        dropped
    }

    /// How many rings are registered.
    #[cfg(test)]
    pub(crate) fn ring_count(&self) -> usize {
        self.consumers.lock().unwrap().list.len()
    }
}

/// Runs `f` on this thread's side of `owner`'s rings, making it on first use; `None` while the
/// thread's locals are being torn down.
///
/// `f` must not offer an item to this kind of owner itself (the crate's callers write one item
/// and return): it holds the only reference to the side while it runs.
#[inline(always)]
pub(crate) fn with_thread<O: RingOwner, R>(owner: &Arc<O>, f: impl FnOnce(&mut ThreadRing<O>) -> R) -> Option<R> {
    // Only the address is taken inside `with`, so the access inlines (see `trace::ids`).
    let last = O::last().with(|last| last as *const LastSide<O>);
    // SAFETY: a thread-local without a destructor lives as long as its thread.
    let last = unsafe { &*last };
    let side = match last.get(Arc::as_ptr(owner)) {
        Some(side) => side,
        None => find_or_register(owner, last)?,
    };
    // SAFETY: `side` is a live side of `owner` on this thread (`LastSide`'s invariant), reached
    // only through this function, which does not come back to itself (see above): no other
    // reference to it exists while `f` runs.
    Some(f(unsafe { &mut *side.as_ptr() }))
}

/// This thread's side of `owner`'s rings, made on first use, remembered in `last`; `None` while
/// the thread's locals are being torn down.
#[cold]
#[inline(never)]
fn find_or_register<O: RingOwner>(owner: &Arc<O>, last: &LastSide<O>) -> Option<NonNull<ThreadRing<O>>> {
    // Before the list changes: a side it pointed at may go below.
    last.forget();
    O::threads()
        .try_with(|threads| {
            let mut threads = threads.borrow_mut();
            // Comparing addresses is sound: a thread's `Weak` keeps its owner's allocation, so no
            // other owner can ever have the same address.
            let this = Arc::as_ptr(owner);
            // SAFETY: the list's sides are live (see `ThreadSides`), and none is borrowed here.
            let found = threads.list.iter().find(|side| unsafe { side.as_ref() }.owner.as_ptr() == this);
            let side = match found {
                Some(side) => *side,
                None => register(owner, &mut threads),
            };
            last.remember(this, side);
            side
        })
        .ok()
}

/// The slow path of a thread's first item for `owner`: makes its ring and `Local` part.
#[cold]
fn register<O: RingOwner>(owner: &Arc<O>, threads: &mut ThreadSides<O>) -> NonNull<ThreadRing<O>> {
    // Those of owners that are gone are of no further use to this thread.
    threads.list.retain(|side| {
        // SAFETY: the list owns its sides (see `ThreadSides`), and none is borrowed here.
        let live = unsafe { side.as_ref() }.owner.strong_count() > 0;
        if !live {
            // SAFETY: as above; the side leaves the list, so it is freed once.
            drop(unsafe { Box::from_raw(side.as_ptr()) });
        }
        live
    });
    let rings = owner.rings();
    let (producer, consumer) = ring(rings.capacity);
    let (local, shared) = O::new_thread(rings.capacity);
    if let Ok(mut consumers) = rings.consumers.lock() {
        consumers.list.push((consumer, shared));
    }
    let side = NonNull::from(Box::leak(Box::new(ThreadRing { owner: Arc::downgrade(owner), producer, local })));
    threads.list.push(side);
    side
}

/// One thread's sides of one kind of owner's rings, one per owner the thread used.
///
/// Each side is a separate allocation that the list owns (made in `register`, freed when it
/// leaves the list), so it stays where it is while the list grows, and [`LastSide`] can point at it.
pub(crate) struct ThreadSides<O: RingOwner> {
    list: Vec<NonNull<ThreadRing<O>>>,
}

impl<O: RingOwner> ThreadSides<O> {
    /// No sides yet.
    pub(crate) const fn new() -> ThreadSides<O> {
        ThreadSides { list: Vec::new() }
    }
}

impl<O: RingOwner> Drop for ThreadSides<O> {
    /// The thread is ending: its sides go (a ring outlives them until it is drained).
    fn drop(&mut self) {
        // First, so that an item offered by a later thread-local destructor finds no side (and is
        // counted as orphaned) rather than a freed one.
        O::last().with(LastSide::forget);
        for side in self.list.drain(..) {
            // SAFETY: the list owns its sides, each freed once, here or in `register`.
            drop(unsafe { Box::from_raw(side.as_ptr()) });
        }
    }
}

/// The side of this thread that was used last, and its owner: for the next item of the same
/// owner (nearly always: one provider per process), one compare instead of a borrow of the list
/// and a search.
///
/// Invariant: when set, `side` is a live side of `owner` in this thread's list. It is cleared
/// before any side leaves the list.
pub(crate) struct LastSide<O: RingOwner> {
    owner: Cell<*const O>,
    side: Cell<Option<NonNull<ThreadRing<O>>>>,
}

impl<O: RingOwner> LastSide<O> {
    /// Nothing remembered.
    pub(crate) const fn new() -> LastSide<O> {
        LastSide { owner: Cell::new(std::ptr::null()), side: Cell::new(None) }
    }

    #[inline(always)]
    fn get(&self, owner: *const O) -> Option<NonNull<ThreadRing<O>>> {
        if self.owner.get() == owner {
            self.side.get()
        } else {
            None
        }
    }

    fn remember(&self, owner: *const O, side: NonNull<ThreadRing<O>>) {
        self.owner.set(owner);
        self.side.set(Some(side));
    }

    fn forget(&self) {
        self.owner.set(std::ptr::null());
        self.side.set(None);
    }
}
