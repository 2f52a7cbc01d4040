//! Where the data of open spans lives: a per-thread slab of preallocated slots.
//!
//! A span's data (name, inline attributes, events, links, status) is a few hundred bytes. Held by
//! value in the builder and the guard it would be copied on every move; held in a slot, the guard
//! carries one pointer and the data is written in place, then moved once into the recorder's ring
//! when the span ends. A span that is not sampled takes no slot at all.
//!
//! Slots are taken only by the thread that owns the slab (through `&mut Slab`), and given back by
//! whichever thread ends the span, with a Release store of the slot's `in_use` flag.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use super::span::SpanData;

/// How many spans one thread can have open at once (per provider) before further ones are counted
/// as dropped instead of recorded.
pub const OPEN_SPANS_PER_THREAD: usize = 256;

struct Slot {
    in_use: AtomicBool,
    data: UnsafeCell<MaybeUninit<SpanData>>,
}

/// The slots of one thread (for one provider).
pub(crate) struct Slab {
    slots: Box<[Slot]>,
    /// Where the next search for a free slot starts: spans nest, so it is usually free.
    cursor: usize,
}

/// The exclusive right to one slot's data, from [`Slab::take`] until [`SlotRef::release`].
pub(crate) struct SlotRef {
    slot: NonNull<Slot>,
}

// SAFETY: a `SlotRef` is the only access to its slot's data while `in_use` is set (the owning
// thread skips slots in use), so moving it to another thread moves that exclusive access, like a
// `Box<SpanData>`; `SpanData` is `Send`.
unsafe impl Send for SlotRef {}
// SAFETY: `&SlotRef` gives no access to the data (every accessor takes `&mut self` or `self`).
unsafe impl Sync for SlotRef {}

impl Slab {
    pub(crate) fn new() -> Slab {
        let slots = (0..OPEN_SPANS_PER_THREAD)
            .map(|_| Slot { in_use: AtomicBool::new(false), data: UnsafeCell::new(MaybeUninit::uninit()) })
            .collect();
        Slab { slots, cursor: 0 }
    }

    /// Puts `data` in a free slot, or returns `None` when every slot is in use.
    #[inline(always)]
    pub(crate) fn take(&mut self, data: impl FnOnce() -> SpanData) -> Option<SlotRef> {
        let count = self.slots.len();
        for offset in 0..count {
            let index = (self.cursor + offset) % count;
            let slot = &self.slots[index];
            // Acquire pairs with the Release store in `release`: the previous span's data was
            // moved out before the slot is written again.
            if !slot.in_use.load(Ordering::Acquire) {
                // Relaxed: only this thread (`&mut self`) ever sets the flag, and it is read back
                // only by this thread's later searches.
                slot.in_use.store(true, Ordering::Relaxed);
                // SAFETY: the slot is free (checked above) and only this thread takes slots, so
                // nothing else accesses its data; it holds no value, so nothing leaks.
                unsafe { (*slot.data.get()).write(data()) };
                self.cursor = (index + 1) % count;
                return Some(SlotRef { slot: NonNull::from(slot) });
            }
        }
        None
    }

    /// Whether any slot is in use (a span started on this thread is still open somewhere).
    pub(crate) fn in_use(&self) -> bool {
        // Acquire pairs with `release`: a slot seen free has been let go for good.
        self.slots.iter().any(|slot| slot.in_use.load(Ordering::Acquire))
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // A span started on this thread is still open (it was moved to another thread): its
        // `SlotRef` points into these slots, so they are leaked rather than freed under it.
        if self.in_use() {
            std::mem::forget(std::mem::take(&mut self.slots));
        }
    }
}

impl SlotRef {
    /// The span's data.
    #[inline(always)]
    pub(crate) fn data(&mut self) -> &mut SpanData {
        // SAFETY: this `SlotRef` has exclusive access to the slot (see the `Send` impl), the slot
        // holds a value (written by `take`), and the slab outlives every `SlotRef` to it (the
        // recorder leaks a slab whose thread ends with a slot in use).
        unsafe { (*self.slot.as_ref().data.get()).assume_init_mut() }
    }

    /// Moves the data out and frees the slot.
    #[inline(always)]
    pub(crate) fn release(self) -> SpanData {
        // SAFETY: as in `data`; reading the value out leaves the slot logically empty, and the
        // flag store below is this `SlotRef`'s last access to the slab.
        unsafe {
            let slot = self.slot.as_ref();
            let data = (*slot.data.get()).assume_init_read();
            // Release: the read above happens before the owning thread reuses the slot.
            slot.in_use.store(false, Ordering::Release);
            data
        }
    }
}
