//! Where a span's data lives from start until the exporter thread takes it: a per-thread slab of
//! preallocated slots.
//!
//! A span's data (name, inline attributes, events, links, status) is a few hundred bytes. Held by
//! value in the builder and the guard, it would be copied at every move and once more into the
//! recorder's ring. Held in a slot, it is written in place once; the guard and the ring entry carry
//! a pointer to it, and the exporter thread moves it out and frees the slot. A span that is not
//! sampled takes no slot at all.
//!
//! Slots are taken only by the thread that owns the slab (through `&mut Slab`) and freed by
//! whichever thread holds the slot's [`SlotRef`], with a Release store of the slot's `in_use` flag.
//! The slots are shared (`Arc`) by the owning thread and the provider's registry, which keeps them
//! until no slot is in use.

use std::cell::UnsafeCell;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::attributes::Text;

use super::lazy_context::LazyContext;
use super::span::SpanData;
use super::span_context::SpanId;

/// One span's place. The flag comes first and the slot is line-aligned, so a span's header fields
/// share the flag's cache line.
#[repr(C, align(64))]
struct Slot {
    in_use: AtomicBool,
    data: UnsafeCell<MaybeUninit<SpanData>>,
}

/// The slots of one thread (for one provider), shared with the provider's registry.
pub(crate) struct Slots {
    slots: Box<[Slot]>,
    /// How many slots were ever freed (by any thread).
    freed: AtomicUsize,
}

// SAFETY: a slot's data is accessed only through the unique `SlotRef` taken for it (see `SlotRef`),
// and the flags are atomics; `SpanData` is `Send`, so it may be written and read on any thread.
unsafe impl Sync for Slots {}
// SAFETY: as above.
unsafe impl Send for Slots {}

/// The owning thread's handle: the only one that takes slots.
pub(crate) struct Slab {
    slots: Arc<Slots>,
    /// The first of `slots`' slots and their number, kept here so that taking one reads them from
    /// the slab's own line rather than through `slots`.
    first: NonNull<Slot>,
    count: usize,
    /// The slot to try first (below `count`; slots are usually freed in order).
    cursor: usize,
    /// How many slots this thread ever took.
    taken: usize,
}

/// The exclusive right to one slot's data, from [`Slab::take`] until it is released (by
/// [`SlotRef::release`], or by dropping it, which drops the data).
pub(crate) struct SlotRef {
    slots: NonNull<Slots>,
    /// The slot itself, one of `slots`' (a pointer rather than an index: every access to the
    /// span's data is then an offset from it, with no load or bounds check first).
    slot: NonNull<Slot>,
}

// SAFETY: a `SlotRef` is the only access to its slot's data while `in_use` is set (the owning
// thread skips slots in use), so moving it to another thread moves that exclusive access, like a
// `Box<SpanData>`; `SpanData` is `Send`.
unsafe impl Send for SlotRef {}
// SAFETY: `&SlotRef` gives only shared access to the data (`data_ref`), which is `Sync`; every
// accessor that writes takes `&mut self` or `self`.
unsafe impl Sync for SlotRef {}

impl Slab {
    /// A slab of `capacity` slots (at least 1).
    pub(crate) fn new(capacity: usize) -> Slab {
        let slots = (0..capacity.max(1))
            .map(|_| Slot { in_use: AtomicBool::new(false), data: UnsafeCell::new(MaybeUninit::uninit()) })
            .collect();
        let slots: Box<[Slot]> = slots;
        let (first, count) = (NonNull::from(&slots[0]), slots.len());
        Slab { slots: Arc::new(Slots { slots, freed: AtomicUsize::new(0) }), first, count, cursor: 0, taken: 0 }
    }

    /// The slots, for the registry to keep alive while any is in use.
    pub(crate) fn shared(&self) -> Arc<Slots> {
        self.slots.clone()
    }

    /// Writes a fresh span's data (see [`SpanData::init`]) in a free slot, or returns `None` when
    /// every slot is in use.
    ///
    /// # Safety
    /// When it returns a slot, `*name` and `*context` have moved into it: the caller must neither
    /// use nor drop them afterwards. When it returns `None`, both are left to the caller.
    #[inline(always)]
    pub(crate) unsafe fn take(
        &mut self,
        name: &ManuallyDrop<Text>,
        context: &ManuallyDrop<LazyContext>,
        parent_span_id: SpanId,
        parent_is_remote: bool,
    ) -> Option<SlotRef> {
        let slots = &*self.slots;
        // Relaxed: a hint (the flags decide).
        if self.taken == slots.freed.load(Ordering::Relaxed) {
            // Every slot is free: start again from the first, so a thread whose spans the exporter
            // keeps up with reuses the same few, cache-warm slots.
            self.cursor = 0;
        }
        // Usually the slot at the cursor is free: spans mostly end, and are exported, in the
        // order they started. Acquire pairs with the Release store in `free`: the previous span's
        // data was moved out before the slot is written again.
        let mut index = self.cursor;
        // SAFETY: the cursor is below `count`, and `first` is the first of as many slots, which
        // `self.slots` keeps alive.
        let mut slot = unsafe { self.first.add(index).as_ref() };
        if slot.in_use.load(Ordering::Acquire) {
            index = self.search()?;
            slot = &slots.slots[index];
        }
        // Relaxed: only this thread (`&mut self`) sets the flag; the `SlotRef` carries the right
        // to the slot to other threads (their access is ordered by whatever moved it there).
        slot.in_use.store(true, Ordering::Relaxed);
        // SAFETY: the slot is free (checked above) and only this thread takes slots, so nothing
        // else accesses its data; it holds no value, so nothing leaks; and a `MaybeUninit` slot is
        // valid for writes and aligned for `SpanData`; `*name` and `*context` move into it, as the
        // caller allows when a slot is returned.
        unsafe { SpanData::init((*slot.data.get()).as_mut_ptr(), name, context, parent_span_id, parent_is_remote) };
        self.cursor = if index + 1 == self.count { 0 } else { index + 1 };
        self.taken += 1;
        Some(SlotRef { slots: NonNull::from(slots), slot: NonNull::from(slot) })
    }

    /// A free slot after the cursor's (which is in use), or `None` when every slot is in use.
    #[cold]
    #[inline(never)]
    fn search(&self) -> Option<usize> {
        let (slots, count) = (&self.slots.slots, self.count);
        // A full slab is refused at once, without a search (Relaxed: a hint; the flags decide).
        if self.taken - self.slots.freed.load(Ordering::Relaxed) >= count {
            return None;
        }
        // Wrapped with a compare, not `%`: a division costs more than the rest of the search.
        // Acquire as in `take`.
        (self.cursor + 1..self.cursor + count)
            .map(|index| if index >= count { index - count } else { index })
            .find(|&index| !slots[index].in_use.load(Ordering::Acquire))
    }
}

impl Slots {
    /// Whether any slot is in use (a span is open, or ended and not yet taken by the exporter).
    pub(crate) fn in_use(&self) -> bool {
        // Acquire pairs with `free`: a slot seen free has been let go for good.
        self.slots.iter().any(|slot| slot.in_use.load(Ordering::Acquire))
    }
}

impl SlotRef {
    #[inline(always)]
    fn slot(&self) -> &Slot {
        // SAFETY: the slots outlive every `SlotRef` to them: the registry keeps its `Arc` until no
        // slot is in use, and a `SlotRef` exists only while its slot is.
        unsafe { self.slot.as_ref() }
    }

    /// The span's data, to read.
    #[inline(always)]
    pub(crate) fn data_ref(&self) -> &SpanData {
        // SAFETY: as in `data`; a shared borrow of this `SlotRef` gives shared access only.
        unsafe { (*self.slot().data.get()).assume_init_ref() }
    }

    /// The span's data.
    #[inline(always)]
    pub(crate) fn data(&mut self) -> &mut SpanData {
        // SAFETY: this `SlotRef` has exclusive access to the slot (see the `Send` impl) and the
        // slot holds a value (written by `take`).
        unsafe { (*self.slot().data.get()).assume_init_mut() }
    }

    /// Moves the data out and frees the slot.
    #[inline(always)]
    pub(crate) fn release(self) -> SpanData {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `data`; reading the value out leaves the slot logically empty, and it is
        // freed just below, exactly once (`ManuallyDrop` keeps `Drop` from freeing it again).
        let data = unsafe { (*this.slot().data.get()).assume_init_read() };
        this.free();
        data
    }

    /// Marks the (emptied) slot free: this `SlotRef`'s last access to the slots.
    fn free(&self) {
        // SAFETY: as in `slot`. Counted before the flag is cleared: once it is, the registry may
        // free the slots. (The owner may see the count a moment before the flag and refuse a span
        // it could have kept: counted as dropped, never unsound.)
        unsafe { self.slots.as_ref() }.freed.fetch_add(1, Ordering::Relaxed);
        // Release: the data's move out happens before the owning thread writes the slot again,
        // and before the registry, seeing every slot free, lets the slots go.
        self.slot().in_use.store(false, Ordering::Release);
    }
}

impl Drop for SlotRef {
    /// A span dropped before it reached the exporter (a full ring, a registry being torn down).
    fn drop(&mut self) {
        // SAFETY: as in `release`: the value is dropped in place, then the slot is freed once.
        unsafe { (*self.slot().data.get()).assume_init_drop() };
        self.free();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot for a span named `name`, if one is free.
    fn take(slab: &mut Slab, name: &'static str) -> Option<SlotRef> {
        let context = ManuallyDrop::new(LazyContext::new_root(true));
        // SAFETY: a static name and a context still to be drawn need no drop, whether or not they
        // moved into a slot.
        unsafe { slab.take(&ManuallyDrop::new(Text::Static(name)), &context, SpanId::INVALID, false) }
    }

    #[test]
    fn a_full_slab_refuses_until_a_slot_is_freed_anywhere() {
        let mut slab = Slab::new(2);
        let a = take(&mut slab, "a").unwrap();
        let mut b = take(&mut slab, "b").unwrap();
        assert!(take(&mut slab, "c").is_none());
        assert_eq!(b.data().name.as_str(), "b");
        let freed_elsewhere = std::thread::spawn(move || a.release().name.as_str().to_owned()).join().unwrap();
        assert_eq!(freed_elsewhere, "a");
        let mut c = take(&mut slab, "c").unwrap();
        assert_eq!(c.data().name.as_str(), "c");
        assert!(slab.shared().in_use());
        drop((b, c));
        assert!(!slab.shared().in_use());
    }

    #[test]
    fn a_slot_freed_out_of_order_is_found_past_the_cursor() {
        let mut slab = Slab::new(3);
        let outer = take(&mut slab, "outer").unwrap();
        let inner = take(&mut slab, "inner").unwrap();
        let last = take(&mut slab, "last").unwrap();
        // The cursor is back at the first slot, still in use; the second is freed.
        drop(inner);
        let mut next = take(&mut slab, "next").unwrap();
        assert_eq!(next.data().name.as_str(), "next");
        assert!(take(&mut slab, "none left").is_none());
        drop((outer, last, next));
        let mut again = take(&mut slab, "again").unwrap();
        assert_eq!(again.data().name.as_str(), "again");
    }
}
