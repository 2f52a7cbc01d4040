//! Per thread and provider, a bounded ring (see [`super::ring`]) that items wait in until the
//! exporter thread drains them: what the span recorder and the log buffers have in common.
//!
//! Offering an item touches only the calling thread's side: no lock, no allocation, no wait; a full
//! ring drops the item and counts it. A thread's first item for a provider allocates its ring (and
//! whatever else the owner keeps per thread) and registers the consuming end with the provider; a
//! ring outlives its thread until it has been drained.

use std::cell::RefCell;
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
    fn threads() -> &'static LocalKey<RefCell<Vec<ThreadRing<Self>>>>;

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
#[inline(always)]
pub(crate) fn with_thread<O: RingOwner, R>(owner: &Arc<O>, f: impl FnOnce(&mut ThreadRing<O>) -> R) -> Option<R> {
    O::threads()
        .try_with(|threads| {
            let mut threads = threads.borrow_mut();
            // Comparing addresses is sound: a thread's `Weak` keeps its owner's allocation, so no
            // other owner can ever have the same address.
            let this = Arc::as_ptr(owner);
            let index = match threads.iter().position(|thread| thread.owner.as_ptr() == this) {
                Some(index) => index,
                None => register(owner, &mut threads),
            };
            f(&mut threads[index])
        })
        .ok()
}

/// The slow path of a thread's first item for `owner`: makes its ring and `Local` part.
#[cold]
fn register<O: RingOwner>(owner: &Arc<O>, threads: &mut Vec<ThreadRing<O>>) -> usize {
    // Those of owners that are gone are of no further use to this thread.
    threads.retain(|thread| thread.owner.strong_count() > 0);
    let rings = owner.rings();
    let (producer, consumer) = ring(rings.capacity);
    let (local, shared) = O::new_thread(rings.capacity);
    if let Ok(mut consumers) = rings.consumers.lock() {
        consumers.list.push((consumer, shared));
    }
    threads.push(ThreadRing { owner: Arc::downgrade(owner), producer, local });
    threads.len() - 1
}
