//! A bounded single-producer, single-consumer ring: preallocated slots, no locks, no waiting.
//!
//! The [`Producer`] and [`Consumer`] are the only two handles to a ring and each takes `&mut self`,
//! so exactly one thread at a time can push and one can pop: the uniqueness the unsynchronised
//! slot accesses rely on is enforced by the borrow checker.
//!
//! Its loom model (`loom_*` below, run by `scripts/loom.sh`) pushes, pops, drops the producer and
//! drops the consumer under every interleaving, with loom checking each slot access.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Arc, UnsafeCell};

use crossbeam_utils::CachePadded;

struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// The next slot to pop; written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// The next slot to fill; written by the producer only.
    tail: CachePadded<AtomicUsize>,
    /// Items refused because the ring was full; written by the producer only.
    dropped: AtomicU64,
}

// SAFETY: a slot is accessed by the producer only between its Acquire load of `head` (the consumer
// has finished with it) and its Release store of `tail`, and by the consumer only between its
// Acquire load of `tail` and its Release store of `head`; the handles are unique (`&mut self`), so
// no slot is ever accessed by two threads at once. Items cross threads, hence `T: Send`.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its items, which may be dropped on any thread.
unsafe impl<T: Send> Send for Ring<T> {}

/// The pushing end of a ring.
pub(crate) struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// The ring's slots and `mask`, copied here so that pushing reads them from the producer's
    /// own line instead of through `ring` (one dependent load less on every push).
    slots: NonNull<UnsafeCell<MaybeUninit<T>>>,
    mask: usize,
    /// The producer's own copy of `tail` (it is the only writer).
    tail: usize,
    /// `head` as last read. The consumer only moves it forward, so a stale copy can only make
    /// the ring look fuller than it is; it is read again only when the ring looks full, which
    /// keeps the consumer's cache line out of the producer's path.
    head: usize,
    /// The producer's own copy of `dropped` (it is the only writer), so counting is a plain store.
    dropped: u64,
}

// SAFETY: `slots` points into the ring that `ring` owns and is used only through `&mut self`, like
// the `Arc` itself: moving the producer moves its unique right to push, which is sound for items
// that may cross threads.
unsafe impl<T: Send> Send for Producer<T> {}

/// The popping end of a ring.
pub(crate) struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// How many of the producer's drops were already reported.
    reported_drops: u64,
}

/// A ring of at least `capacity` slots (rounded up to a power of two, at least 2); `None` when its
/// slots cannot be allocated (out of memory).
pub(crate) fn ring<T: Send>(capacity: usize) -> Option<(Producer<T>, Consumer<T>)> {
    let capacity = capacity.max(2).checked_next_power_of_two().unwrap_or(1 << (usize::BITS - 1));
    let slots = empty_slots(capacity)?;
    let ring = Arc::new(Ring {
        slots,
        mask: capacity - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        dropped: AtomicU64::new(0),
    });
    // From the whole slice (`as_ptr`), so the pointer may reach every slot, not just the first.
    let slots = NonNull::from(&*ring.slots).cast();
    let producer = Producer { slots, mask: ring.mask, ring: ring.clone(), tail: 0, head: 0, dropped: 0 };
    Some((producer, Consumer { ring, reported_drops: 0 }))
}

/// `capacity` slots holding nothing, allocated and not written, so that their pages are backed
/// only as items are first written into them (see `backing`). (Made one by one, an unoptimised
/// build wrote every slot, and so every page, at once.) `None` when the allocator refuses them: a
/// thread's ring is the largest allocation it makes for telemetry, the one that fails first under
/// an address-space limit or strict overcommit, and failing there must not abort the program.
#[cfg(not(nanotel_loom))]
fn empty_slots<T>(capacity: usize) -> Option<Box<[UnsafeCell<MaybeUninit<T>>]>> {
    let mut slots = Vec::new();
    slots.try_reserve_exact(capacity).ok()?;
    // SAFETY: room for `capacity` slots was reserved just above, and outside loom `UnsafeCell` is
    // a wrapper of the standard one, so an `UnsafeCell<MaybeUninit<T>>` holds nothing that has to
    // be initialised.
    unsafe { slots.set_len(capacity) };
    Some(slots.into_boxed_slice())
}

/// Under loom the cells carry the model's state: made one by one (the model's allocations do not
/// fail).
#[cfg(nanotel_loom)]
fn empty_slots<T>(capacity: usize) -> Option<Box<[UnsafeCell<MaybeUninit<T>>]>> {
    Some((0..capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect())
}

impl<T> Producer<T> {
    /// Has the kernel back every page of the ring's slots now (see `backing`), before anything is
    /// written into them.
    pub(crate) fn back_pages(&mut self) {
        debug_assert!(self.tail == 0, "backed before its first item");
        let bytes = std::mem::size_of_val(&*self.ring.slots);
        // SAFETY: the slots are this producer's to write (the consumer only reads slots it was
        // handed, and none has been yet), and they hold no value (`MaybeUninit` storage): a zero
        // byte anywhere in them leaves them as valid as before.
        unsafe { super::backing::back_each_page(self.slots.as_ptr().cast(), bytes) };
    }

    /// Adds `item`, or drops and counts it when the ring is full. Never waits.
    #[cfg(test)]
    pub(crate) fn push(&mut self, item: T) -> bool {
        match self.reserve() {
            Some(slot) => {
                // SAFETY: `write` initialises the whole item.
                unsafe { slot.write_in_place(|slot| slot.write(item)) };
                true
            }
            None => false,
        }
    }

    /// The address of the slot the next item will be written to (a hint for a prefetch: the
    /// slot is written only through a [`Reservation`], once the ring has room).
    #[inline(always)]
    pub(crate) fn next_slot(&self) -> *const u8 {
        self.slots.as_ptr().wrapping_add(self.tail & self.mask).cast()
    }

    /// The next free slot, or `None` (the item to come is counted as dropped) when the ring is
    /// full. Writing through the reservation builds the item in the ring, not on the stack.
    #[inline(always)]
    pub(crate) fn reserve(&mut self) -> Option<Reservation<'_, T>> {
        if self.tail.wrapping_sub(self.head) > self.mask {
            // Acquire pairs with the consumer's Release store of `head`: it has finished reading
            // the slots before `head`, so they may be overwritten.
            self.head = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head) > self.mask {
                self.count_drop();
                return None;
            }
        }
        Some(Reservation { producer: self })
    }

    /// Counts one item dropped before it could be pushed.
    #[inline(always)]
    pub(crate) fn count_drop(&mut self) {
        self.dropped += 1;
        // Relaxed: a tally read by the consumer, ordering nothing.
        self.ring.dropped.store(self.dropped, Ordering::Relaxed);
    }
}

/// A free slot of a ring, reserved by its producer (see [`Producer::reserve`]).
pub(crate) struct Reservation<'a, T> {
    producer: &'a mut Producer<T>,
}

impl<T> Reservation<'_, T> {
    /// Fills the slot through `init`, which gets its address, and hands it to the consumer. For
    /// an item put together from parts, this writes each part straight into the slot, where a
    /// finished item would be assembled on the stack and copied in wider loads than its parts
    /// were stored with (loads the processor cannot forward from those stores).
    ///
    /// # Safety
    /// `init` must initialise the whole item at the address it is given.
    #[inline(always)]
    pub(crate) unsafe fn write_in_place(self, init: impl FnOnce(*mut T)) {
        let producer = self.producer;
        // SAFETY: `tail & mask` is within the ring's slots, which `producer.ring` keeps alive.
        let slot = unsafe { producer.slots.add(producer.tail & producer.mask).as_ref() };
        // SAFETY: the slot at `tail` is outside `head..tail`, so the consumer does not touch it
        // (see the `Sync` impl); the reservation borrows the unique producer, so nothing else
        // writes it; and it holds no item (popped or never filled), so nothing leaks.
        slot.with_mut(|item| init(item.cast()));
        producer.tail = producer.tail.wrapping_add(1);
        // Release: the consumer's Acquire load of `tail` sees the item written above (the
        // caller guarantees it is whole).
        producer.ring.tail.store(producer.tail, Ordering::Release);
    }
}

impl<T> Consumer<T> {
    /// Removes the oldest item, if any.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let ring = &*self.ring;
        // Relaxed: only this handle writes `head`.
        let head = ring.head.load(Ordering::Relaxed);
        // Acquire pairs with the producer's Release store of `tail`: the item is fully written.
        if ring.tail.load(Ordering::Acquire) == head {
            return None;
        }
        // SAFETY: the slot at `head` is inside `head..tail`: the producer wrote it and will not
        // touch it until `head` moves past it; reading it out leaves it logically empty.
        let item = ring.slots[head & ring.mask].with(|item| unsafe { item.cast::<T>().read() });
        // Release: the producer may reuse the slot only after the read above.
        ring.head.store(head.wrapping_add(1), Ordering::Release);
        Some(item)
    }

    /// How many items the ring holds now (a moment's figure: the producer may be adding more).
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a count, ordering no access to the items (`pop` orders its own).
        let tail = self.ring.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(self.ring.head.load(Ordering::Relaxed))
    }

    /// How many items the ring holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Items the producer dropped since the last call.
    pub(crate) fn take_drops(&mut self) -> u64 {
        // Relaxed: a tally; a drop counted a moment late is reported on the next call.
        let dropped = self.ring.dropped.load(Ordering::Relaxed);
        let new = dropped - self.reported_drops;
        self.reported_drops = dropped;
        new
    }

    /// Whether the producer is gone and nothing is left to pop.
    #[cfg(test)]
    pub(crate) fn is_finished(&self) -> bool {
        if Arc::strong_count(&self.ring) != 1 {
            return false;
        }
        // The producer's drop released its reference with a Release decrement, after its last
        // push; this fence makes that push (its `tail`) visible to the load below.
        crate::sync::atomic::fence(Ordering::Acquire);
        self.ring.head.load(Ordering::Relaxed) == self.ring.tail.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, so both handles are gone and their last stores are visible.
        let (head, tail) = (self.head.load(Ordering::Relaxed), self.tail.load(Ordering::Relaxed));
        let mut index = head;
        while index != tail {
            // SAFETY: no handle remains (`&mut self`); the slots in `head..tail` hold items, each
            // dropped once.
            self.slots[index & self.mask].with_mut(|item| unsafe { item.cast::<T>().drop_in_place() });
            index = index.wrapping_add(1);
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn full_ring_drops_and_counts() {
        let (mut producer, mut consumer) = ring::<String>(3).expect("a small ring is allocated");
        assert!((0..4).all(|i| producer.push(i.to_string())));
        assert!(!producer.push("lost".into()));
        assert_eq!(consumer.take_drops(), 1);
        assert_eq!(consumer.take_drops(), 0);
        assert_eq!(consumer.pop().as_deref(), Some("0"));
        assert!(producer.push("4".into()));
        let rest: Vec<String> = std::iter::from_fn(|| consumer.pop()).collect();
        assert_eq!(rest, ["1", "2", "3", "4"]);
        assert!(!consumer.is_finished());
        producer.push("left in the ring".into());
        drop(producer);
        assert!(!consumer.is_finished());
        consumer.pop();
        assert!(consumer.is_finished());
    }

    /// The hint a record's start prefetches names the slot its item is then written to, round the
    /// ring and back to its first slot.
    #[test]
    fn the_next_slot_is_the_one_the_next_item_is_written_to() {
        let (mut producer, mut consumer) = ring::<u64>(2).expect("a small ring is allocated");
        for item in 0..5 {
            let hint = producer.next_slot();
            let mut written_at = std::ptr::null();
            let slot = producer.reserve().expect("room: each item is popped below");
            // SAFETY: the closure writes the whole item.
            unsafe {
                slot.write_in_place(|slot| {
                    written_at = slot.cast::<u8>().cast_const();
                    slot.write(item);
                });
            }
            assert_eq!(hint, written_at, "item {item}");
            assert_eq!(consumer.pop(), Some(item));
        }
    }

    /// Written whole before its first item, a ring carries items as before.
    #[test]
    fn a_ring_backed_at_start_carries_items_as_before() {
        let (mut producer, mut consumer) = ring::<String>(1000).expect("a small ring is allocated");
        producer.back_pages();
        assert!((0..1024).all(|i| producer.push(i.to_string())));
        assert!(!producer.push("lost".into()));
        let received: Vec<String> = std::iter::from_fn(|| consumer.pop()).collect();
        assert_eq!(received.len(), 1024);
        assert!(received.iter().enumerate().all(|(i, item)| *item == i.to_string()));
    }

    #[test]
    fn items_left_behind_are_dropped_with_the_ring() {
        let item = Arc::new(());
        let (mut producer, consumer) = ring(4).expect("a small ring is allocated");
        producer.push(item.clone());
        producer.push(item.clone());
        drop((producer, consumer));
        assert_eq!(Arc::strong_count(&item), 1);
    }

    #[test]
    fn concurrent_push_and_pop_lose_nothing_uncounted() {
        const ITEMS: u64 = 200_000;
        let (mut producer, mut consumer) = ring::<u64>(64).expect("a small ring is allocated");
        let pusher = std::thread::spawn(move || (0..ITEMS).filter(|i| producer.push(*i)).count() as u64);
        let mut received = Vec::new();
        loop {
            match consumer.pop() {
                Some(item) => received.push(item),
                None if consumer.is_finished() => break,
                None => std::thread::yield_now(),
            }
        }
        let pushed = pusher.join().unwrap();
        assert_eq!(received.len() as u64, pushed);
        assert_eq!(pushed + consumer.take_drops(), ITEMS);
        assert!(received.windows(2).all(|w| w[0] < w[1]), "order kept");
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use loom::thread;

    /// A producer pushing three items into a two-slot ring while the consumer pops: every item
    /// is popped in order or counted as dropped, and `is_finished` is never early.
    #[test]
    fn loom_push_pop_and_finish() {
        loom::model(|| {
            let (mut producer, mut consumer) = ring::<usize>(2).expect("a small ring is allocated");
            let pusher = thread::spawn(move || (0..3).filter(|&i| producer.push(i)).count());
            let mut popped = Vec::new();
            loop {
                match consumer.pop() {
                    Some(item) => popped.push(item),
                    None if consumer.is_finished() => break,
                    None => thread::yield_now(),
                }
            }
            let pushed = pusher.join().unwrap();
            assert_eq!(popped.len(), pushed);
            assert_eq!(pushed as u64 + consumer.take_drops(), 3);
            assert!(popped.windows(2).all(|pair| pair[0] < pair[1]));
        });
    }

    /// Items left in the ring are dropped exactly once, whichever handle goes last and on
    /// whichever thread (loom reports a leaked or twice-dropped `Arc`).
    #[test]
    fn loom_items_left_behind_are_dropped_once() {
        loom::model(|| {
            let item = Arc::new(());
            let (mut producer, mut consumer) = ring(2).expect("a small ring is allocated");
            let sent = item.clone();
            let pusher = thread::spawn(move || {
                producer.push(sent.clone());
                producer.push(sent);
            });
            let _ = consumer.pop();
            drop(consumer);
            pusher.join().unwrap();
            assert_eq!(Arc::strong_count(&item), 1);
        });
    }
}
