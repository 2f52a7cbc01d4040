//! Where a span's data lives from start until the exporter thread takes it: a per-thread slab of
//! preallocated slots.
//!
//! A span's data (name, inline attributes, events, links, status) is a few hundred bytes. Held by
//! value in the builder and the guard, it would be copied at every move and once more into the
//! recorder's ring. Held in a slot, it is written in place once; the guard and the ring entry carry
//! a pointer to it, and the exporter thread moves it out and frees the slot. A span that is not
//! sampled takes no slot at all.
//!
//! # Protocol
//!
//! Slots are taken only through the [`Slab`], the slots' one owner handle (`&mut Slab`, so one
//! thread at a time), and freed by whichever thread holds the slot's [`SlotRef`], with a Release
//! store of the slot's `in_use` flag.
//!
//! The slots' memory is freed by whoever lets go of it last: the owner handle or the last
//! [`SlotRef`]. Nothing else keeps it (no registry: a `SlotRef` may sit in any thread's ring, for
//! any time, after its slab's owner and provider are gone). One counter decides, `released`:
//! every freed slot adds 1, and the owner handle, when it is dropped, adds `GONE - taken`, where
//! `taken` is how many slots it ever handed out. The counter therefore reaches `GONE` exactly when
//! the owner is gone and every slot it handed out is free and counted, and the one addition that
//! brings it there (the owner's, or the last free's) frees the memory. Each addition is `AcqRel`:
//! Release publishes the adder's last access to the slots, and the Acquire of the one that frees
//! sees every other's.
//!
//! A `SlotRef` adds its 1 as it frees its slot, except on a thread that is draining rings
//! ([`BulkFrees`]): there the frees of one slab in a row are added together, when the drain meets
//! another slab's slot or ends. The exporter thread then writes the counter, which the owner reads
//! on every span, once per drain and slab instead of once per span, and the owner's line stays
//! on the recording core. A free not yet added keeps the counter below `GONE`, so the slots stay
//! until it is added; that addition is the drain's last access to them.
//!
//! The slots also keep their [`Recorder`] alive (one counted reference, taken when the slab is
//! made): a span's data names the recorder it ends into, and that name stays valid as long as the
//! span holds its slot, wherever the span went and whatever became of its tracer. (The recorder
//! breaks the cycle this makes, through its spare slabs, when its provider goes: see
//! `thread_rings`' protocol.)

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::UnsafeCell;

use crate::attributes::Text;
use crate::buffer::thread_rings::RingOwner as _;
use crate::clock::TickReader;

use super::extras::{SpanExtras, Spares};
use super::lazy_context::LazyContext;
use super::recorder::{Recorder, RecorderRef};
use super::span::SpanData;
use super::span_context::SpanId;

/// One span's place. The flag comes first and the slot is line-aligned, so a span's header fields
/// share the flag's cache line.
#[repr(C, align(64))]
struct Slot {
    in_use: AtomicBool,
    data: UnsafeCell<MaybeUninit<SpanData>>,
}

/// How often (in slots taken in a row) the cursor checks whether it can start over at the first
/// slot (see `Slab::next_cursor`): rarely enough that the check's load costs nothing per span.
const REWIND_EVERY: usize = 64;

/// `count` free slots; with `backed`, every page of them written once (see `buffer::backing`).
/// `None` when they cannot be allocated (see `SlotArray::zeroed`).
#[cfg(not(nanotel_loom))]
fn free_slots(count: usize, backed: bool) -> Option<SlotArray> {
    let slots = SlotArray::zeroed(count)?;
    if backed {
        slots.back_pages();
    }
    Some(slots)
}

/// Under loom the atomics are loom's, which are not plain integers: made one by one (and backed,
/// as anything written is; the model's allocations do not fail).
#[cfg(nanotel_loom)]
fn free_slots(count: usize, _backed: bool) -> Option<Box<[Slot]>> {
    Some(
        (0..count)
            .map(|_| Slot { in_use: AtomicBool::new(false), data: UnsafeCell::new(MaybeUninit::uninit()) })
            .collect(),
    )
}

/// A slab's slots in memory the allocator hands out zeroed, which is a valid free slot (`in_use`
/// false, the data uninitialised). Asked for with byte alignment, the zeroed memory comes from
/// `calloc`, which for a block this size (16,384 slots of 640 bytes by default) maps fresh pages
/// that the kernel backs only when first written: a thread's slab costs resident memory for the
/// slots it has used, not for its capacity (`tests/trace_resident_memory.rs`). (Asked for with the
/// slots' own 64-byte alignment, the standard allocator zeroes the block itself, touching every
/// page.) The first slot is placed at the first 64-byte boundary inside.
///
/// A slab is the largest allocation a thread makes for telemetry (10 MiB at the defaults), the one
/// that fails first under an address-space limit (`ulimit -v`) or strict overcommit
/// (`vm.overcommit_memory=2`, where the whole block is committed when mapped): `zeroed` then says
/// so rather than abort the program, and the thread records no spans until one can be allocated.
#[cfg(not(nanotel_loom))]
struct SlotArray {
    memory: NonNull<u8>,
    layout: std::alloc::Layout,
    first: NonNull<Slot>,
    count: usize,
}

#[cfg(not(nanotel_loom))]
impl SlotArray {
    fn zeroed(count: usize) -> Option<SlotArray> {
        let bytes = count.checked_mul(std::mem::size_of::<Slot>())?.checked_add(std::mem::align_of::<Slot>())?;
        let layout = std::alloc::Layout::from_size_align(bytes, 1).ok()?;
        // SAFETY: `layout` has a non-zero size (at least one slot's alignment).
        let memory = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        let offset = memory.as_ptr().align_offset(std::mem::align_of::<Slot>());
        // SAFETY: `offset` is below the alignment, which the block has room for beyond the slots.
        let first = unsafe { memory.add(offset) }.cast::<Slot>();
        Some(SlotArray { memory, layout, first, count })
    }

    /// Has the kernel back every page of the block now.
    fn back_pages(&self) {
        // SAFETY: the block is this array's, not yet shared (just made), and all zeroes: a zero
        // byte anywhere in it leaves it as it is.
        unsafe { crate::buffer::backing::back_each_page(self.memory.as_ptr(), self.layout.size()) };
    }
}

#[cfg(not(nanotel_loom))]
impl std::ops::Deref for SlotArray {
    type Target = [Slot];

    fn deref(&self) -> &[Slot] {
        // SAFETY: `count` slots start at `first`, aligned, inside the block this array owns, and
        // all-zero bytes are a valid `Slot` (see the type's documentation); slots are only ever
        // reached through shared references (their contents are atomics and cells).
        unsafe { std::slice::from_raw_parts(self.first.as_ptr(), self.count) }
    }
}

#[cfg(not(nanotel_loom))]
impl Drop for SlotArray {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed once; a `Slot` needs no drop (its
        // data is never left initialised in a free slot, and every slot is free by now).
        unsafe { std::alloc::dealloc(self.memory.as_ptr(), self.layout) }
    }
}

/// Added to `released` by the owner handle when it goes (see the module's protocol). No count of
/// freed slots comes near it (2^63 spans).
const GONE: usize = 1 << (usize::BITS - 1);

/// One slab's slots, freed by whoever lets go of them last (see the module's protocol).
struct Slots {
    #[expect(
        clippy::struct_field_names,
        reason = "the field is named for what it holds, as the rest of the module calls it"
    )]
    #[cfg(not(nanotel_loom))]
    slots: SlotArray,
    #[cfg(nanotel_loom)]
    slots: Box<[Slot]>,
    /// How many slots were ever freed (by any thread), plus `GONE - taken` once the owner is gone.
    released: AtomicUsize,
    /// The recorder the slots' spans end into, kept alive while any of them is open.
    _recorder: Arc<Recorder>,
    /// Emptied event-and-link boxes for the slots' next spans (see `extras`' protocol).
    spares: Spares,
    /// Under loom, fails the model if the slots are never freed.
    #[cfg(nanotel_loom)]
    _leak_check: loom::alloc::Track<()>,
}

/// The owner handle: the only one that takes slots. It may move between threads (a thread's
/// buffers go to the next thread when it exits), never be shared.
pub(crate) struct Slab {
    slots: NonNull<Slots>,
    /// The first of `slots`' slots and their number, kept here so that taking one reads them from
    /// the slab's own line rather than through `slots`.
    first: NonNull<Slot>,
    count: usize,
    /// The slot to try first (below `count`; slots are usually freed in order).
    cursor: usize,
    /// How many slots this handle ever took.
    taken: usize,
    /// The recorder that `slots` keeps alive, written into every span's data.
    recorder: RecorderRef,
    /// How its spans read the clock, written into every span's data beside the times.
    clock: TickReader,
}

// SAFETY: the handle's right to take slots is exclusive (`&mut self`), wherever it is; the slots'
// data is `Send` and the flags and counter are atomics.
unsafe impl Send for Slab {}

/// The exclusive right to one slot's data, from [`Slab::take`] until it is released (by
/// [`SlotRef::release`], or by dropping it, which drops the data).
pub(crate) struct SlotRef {
    slots: NonNull<Slots>,
    /// The slot itself, one of `slots`' (a pointer rather than an index: every access to the
    /// span's data is then an offset from it, with no load or bounds check first).
    slot: NonNull<Slot>,
}

// SAFETY: a `SlotRef` is the only access to its slot's data while `in_use` is set (the owner
// handle skips slots in use), so moving it to another thread moves that exclusive access, like a
// `Box<SpanData>`; `SpanData` is `Send`.
unsafe impl Send for SlotRef {}
// SAFETY: `&SlotRef` gives only shared access to the data (`data_ref`), which is `Sync`; every
// accessor that writes takes `&mut self` or `self`.
unsafe impl Sync for SlotRef {}

impl Slab {
    /// A slab of `capacity` slots (at least 1) for spans that end into `recorder`; `None` when the
    /// slots cannot be allocated (out of memory).
    pub(crate) fn new(capacity: usize, recorder: &Arc<Recorder>) -> Option<Slab> {
        let slots = free_slots(capacity.max(1), recorder.backs_pages())?;
        let slots = Box::new(Slots {
            slots,
            released: AtomicUsize::new(0),
            _recorder: recorder.clone(),
            spares: Spares::new(),
            #[cfg(nanotel_loom)]
            _leak_check: loom::alloc::Track::new(()),
        });
        let slots = NonNull::from(Box::leak(slots));
        // SAFETY: just made; freed only once this handle has let go (see `drop`).
        let all = unsafe { &slots.as_ref().slots };
        // From the whole slice, so the pointer may reach every slot.
        let (first, count) = (NonNull::from(&**all).cast(), all.len());
        // SAFETY: `slots` holds a counted reference to the recorder until the slots are freed,
        // which is after every span in them has let go of its slot.
        let recorder = unsafe { RecorderRef::new(recorder) };
        Some(Slab { slots, first, count, cursor: 0, taken: 0, recorder, clock: TickReader::new() })
    }

    #[inline(always)]
    fn slots(&self) -> &Slots {
        // SAFETY: the slots are freed only once this handle has let go of them (in `drop`).
        unsafe { self.slots.as_ref() }
    }

    /// How many frees of its slots are counted in `released`.
    #[cfg(all(test, not(nanotel_loom)))]
    fn counted_frees(&self) -> usize {
        self.slots().released.load(Ordering::Relaxed)
    }

    /// Whether any slot is in use (a span is open, or ended and not yet taken by the exporter).
    #[cfg(all(test, not(nanotel_loom)))]
    pub(crate) fn in_use(&self) -> bool {
        // Acquire pairs with `free`: a slot seen free has been let go for good.
        self.slots().slots.iter().any(|slot| slot.in_use.load(Ordering::Acquire))
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
        scope: u32,
    ) -> Option<SlotRef> {
        // Relaxed: a hint (the flags decide).
        if self.taken == self.slots().released.load(Ordering::Relaxed) {
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
            // SAFETY: as above; `search` returns an index below `count`.
            slot = unsafe { self.first.add(index).as_ref() };
        }
        // Relaxed: only the owner handle (`&mut self`) sets the flag; the `SlotRef` carries the
        // right to the slot to other threads (their access is ordered by whatever moved it there).
        slot.in_use.store(true, Ordering::Relaxed);
        // SAFETY: the slot is free (checked above) and only this handle takes slots, so nothing
        // else accesses its data; it holds no value, so nothing leaks; and a `MaybeUninit` slot is
        // valid for writes and aligned for `SpanData`; `*name` and `*context` move into it, as the
        // caller allows when a slot is returned.
        let origin = (self.recorder, scope, self.clock);
        slot.data.with_mut(|data| unsafe {
            SpanData::init(data.cast(), name, context, parent_span_id, parent_is_remote, origin);
        });
        self.cursor = self.next_cursor(index);
        self.taken = self.taken.wrapping_add(1);
        Some(SlotRef { slots: self.slots, slot: NonNull::from(slot) })
    }

    /// The address of the slot the next span will likely take: the cursor's (a hint, only ever
    /// prefetched: a rewind or a slot still in use sends the span elsewhere).
    #[inline(always)]
    pub(crate) fn next_slot(&self) -> *const u8 {
        self.first.as_ptr().wrapping_add(self.cursor).cast()
    }

    /// Where to try first after taking slot `index`: the next one, or the first when the slab's
    /// end is reached, or, every [`REWIND_EVERY`] slots, when fewer spans are in flight (open, or
    /// waiting for the exporter) than half the slots before the cursor. Spans are usually freed in
    /// the order they were taken, so the exporter has then caught up and the first slots are
    /// mostly free (one still held, a long-lived span's, is stepped over by `search`): starting
    /// over there keeps a thread's working set to the spans it has in flight at once, instead of
    /// cycling through every slot of a large slab, whose untouched pages then never become
    /// resident (see `free_slots`).
    #[inline(always)]
    fn next_cursor(&self, index: usize) -> usize {
        let next = index + 1;
        if next == self.count {
            return 0;
        }
        if next.is_multiple_of(REWIND_EVERY) {
            // Relaxed: a hint, as in `take` (the flags decide); `taken` counts this slot only
            // after this call.
            let released = self.slots().released.load(Ordering::Relaxed);
            let in_flight = self.taken.wrapping_add(1).wrapping_sub(released);
            if in_flight <= next / 2 {
                return 0;
            }
        }
        next
    }

    /// A free slot after the cursor's (which is in use), or `None` when every slot is in use.
    #[cold]
    #[inline(never)]
    fn search(&self) -> Option<usize> {
        let (slots, count) = (&self.slots().slots, self.count);
        // A full slab is refused at once, without a search (Relaxed: a hint; the flags decide).
        if self.taken.wrapping_sub(self.slots().released.load(Ordering::Relaxed)) >= count {
            return None;
        }
        // Wrapped with a compare, not `%`: a division costs more than the rest of the search.
        // Acquire as in `take`.
        (self.cursor + 1..self.cursor + count)
            .map(|index| if index >= count { index - count } else { index })
            .find(|&index| !slots[index].in_use.load(Ordering::Acquire))
    }
}

impl Drop for Slab {
    /// The owner lets go: the slots go now if every slot it handed out is free, else with the
    /// last one freed.
    fn drop(&mut self) {
        // SAFETY: the owner's own addition, made once, here: the slots are still there, since
        // only this addition or a later one frees them. (It is never 0: `taken` is below `GONE`.)
        unsafe { add_released(self.slots.as_ptr(), GONE.wrapping_sub(self.taken)) };
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // Every slot is free, so none holds data to drop; loom checks it on its cells.
        debug_assert!(self.slots.iter().all(|slot| !slot.in_use.load(Ordering::Relaxed)));
    }
}

#[cfg(not(nanotel_loom))]
thread_local! {
    /// Frees made on this thread and not yet added to their slab's `released`: `None` outside a
    /// drain; in one, the slab of the last free (null before the first) and how many of its frees
    /// in a row are pending. A slab with frees pending is alive (see the module's protocol).
    static PENDING_FREES: Cell<Option<(*const Slots, usize)>> = const { Cell::new(None) };
}

// The same under loom, whose macro takes no `const` initializer.
#[cfg(nanotel_loom)]
loom::thread_local! {
    static PENDING_FREES: Cell<Option<(*const Slots, usize)>> = Cell::new(None);
}

/// While alive, the frees of slots on this thread are added to their slabs' `released` counters
/// together, one addition per run of frees from one slab (see the module's protocol); the last
/// run's when it is dropped. Made around a drain of the span rings, whose frees come in runs (a
/// ring holds the spans of one thread, which are usually from one slab). Nested, the inner one
/// leaves the outer one in charge. Not `Send`: it ends this thread's runs.
pub(crate) struct BulkFrees {
    outermost: bool,
    _this_thread: PhantomData<*const ()>,
}

impl BulkFrees {
    /// Starts adding this thread's frees together.
    pub(crate) fn begin() -> BulkFrees {
        let outermost = PENDING_FREES
            .try_with(|pending| {
                let outermost = pending.get().is_none();
                if outermost {
                    pending.set(Some((std::ptr::null(), 0)));
                }
                outermost
            })
            // Thread-locals torn down: every free adds its own 1.
            .unwrap_or(false);
        BulkFrees { outermost, _this_thread: PhantomData }
    }

    /// Defers the count of one free of `slots`' slot, adding the pending run first if it was
    /// another slab's; false outside a drain (the caller adds it at once).
    fn defer(slots: *const Slots) -> bool {
        PENDING_FREES
            .try_with(|pending| match pending.get() {
                None => false,
                Some((last, run)) if last == slots => {
                    pending.set(Some((slots, run + 1)));
                    true
                }
                Some((last, run)) => {
                    // Set first: adding may free `last`'s slots, whose drop may free slots again.
                    pending.set(Some((slots, 1)));
                    // SAFETY: `run` frees of `last` are pending (none when it is null).
                    unsafe { add_released(last, run) };
                    true
                }
            })
            .unwrap_or(false)
    }
}

impl Drop for BulkFrees {
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        if let Ok(Some((last, run))) = PENDING_FREES.try_with(Cell::take) {
            // SAFETY: `run` frees of `last` are pending (none when it is null).
            unsafe { add_released(last, run) };
        }
    }
}

/// Adds `amount` to `slots`' `released` counter, freeing the slots when that makes it `GONE`:
/// the one place the module's protocol frees them.
///
/// # Safety
/// `amount` is an addition the protocol owes and has not made: frees of `amount` slots of `slots`
/// whose flags are stored, or the owner's `GONE - taken` as it goes. The slots are alive until it
/// is made. Nothing is done when `amount` is 0.
unsafe fn add_released(slots: *const Slots, amount: usize) {
    if amount == 0 {
        return;
    }
    // SAFETY: alive until this owed addition is made (the caller guarantees it is owed).
    // AcqRel: see the module's protocol.
    let before = unsafe { &*slots }.released.fetch_add(amount, Ordering::AcqRel);
    if before.wrapping_add(amount) == GONE {
        // SAFETY: the owner is gone and every slot it handed out is free and counted: nothing
        // else refers to the slots, which were leaked from a `Box` in `Slab::new`.
        drop(unsafe { Box::from_raw(slots.cast_mut()) });
    }
}

impl SlotRef {
    #[inline(always)]
    fn slot(&self) -> &Slot {
        // SAFETY: the slots outlive every `SlotRef` to them: they are freed only once every slot
        // handed out has been freed (see the module's protocol), which this one has not.
        unsafe { self.slot.as_ref() }
    }

    /// The span's data, to read.
    #[inline(always)]
    pub(crate) fn data_ref(&self) -> &SpanData {
        // SAFETY: as in `data`; a shared borrow of this `SlotRef` gives shared access only.
        self.slot().data.with(|data| unsafe { &*data.cast::<SpanData>() })
    }

    /// The span's data.
    #[inline(always)]
    pub(crate) fn data(&mut self) -> &mut SpanData {
        // SAFETY: this `SlotRef` has exclusive access to the slot (see the `Send` impl) and the
        // slot holds a value (written by `take`).
        self.slot().data.with_mut(|data| unsafe { &mut *data.cast::<SpanData>() })
    }

    /// Moves the data out and frees the slot.
    #[cfg(test)]
    pub(crate) fn release(self) -> SpanData {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `data`; reading the value out leaves the slot logically empty, and it is
        // freed just below, exactly once (`ManuallyDrop` keeps `Drop` from freeing it again).
        let data = this.slot().data.with(|data| unsafe { data.cast::<SpanData>().read() });
        this.free();
        data
    }

    /// Runs `read` on the span's data where it is (it may fold repeated attributes), then gives
    /// its events-and-links box back to the slab's spares, drops the rest and frees the slot: how
    /// the exporter thread takes a span.
    pub(crate) fn consume<R>(mut self, read: impl FnOnce(&mut SpanData) -> R) -> R {
        let result = read(self.data());
        // `Drop` recycles the box, drops the data and frees the slot.
        drop(self);
        result
    }

    /// An emptied events-and-links box from the slab's spares, if one is at hand.
    #[inline]
    pub(crate) fn spare_extras(&self) -> Option<Box<SpanExtras>> {
        self.slots().spares.take()
    }

    #[inline(always)]
    fn slots(&self) -> &Slots {
        // SAFETY: as in `slot`.
        unsafe { self.slots.as_ref() }
    }

    /// Marks the (emptied) slot free, then counts it, now or with its run of frees in a drain
    /// (see [`BulkFrees`]): this `SlotRef`'s last access to the slots, which the count frees if
    /// the owner is gone and this was the last slot in use. (The owner may see the flag before
    /// the count and refuse a span it could have kept: counted as dropped, never unsound.)
    fn free(&self) {
        // Release: the data's move out happens before the owner handle (Acquire in `take`)
        // writes the slot again.
        self.slot().in_use.store(false, Ordering::Release);
        let slots = self.slots.as_ptr().cast_const();
        if !BulkFrees::defer(slots) {
            // SAFETY: as in `slot`: this slot is freed and not yet counted.
            unsafe { add_released(slots, 1) };
        }
    }
}

impl Drop for SlotRef {
    /// A span taken by the exporter (`consume`), or dropped before it reached it (a full ring, a
    /// ring dropped undrained): its events-and-links box goes back to the spares before the slot
    /// is freed (after which the spares may be gone), the rest is dropped in place.
    fn drop(&mut self) {
        if let Some(extras) = self.data().extras.take() {
            self.slots().spares.give_back(extras);
        }
        // SAFETY: as in `data`, this `SlotRef` alone reaches the slot, which holds a value (written
        // by `take`); `Drop` runs once, so the value is dropped in place once, and the slot is
        // freed just below, after which nothing reads it through this `SlotRef`.
        self.slot().data.with_mut(|data| unsafe { data.cast::<SpanData>().drop_in_place() });
        self.free();
    }
}

/// A slot for a span named `name`, if one is free (for the tests and the loom models).
#[cfg(test)]
fn take_named(slab: &mut Slab, name: &'static str) -> Option<SlotRef> {
    let context = ManuallyDrop::new(LazyContext::new_root(true));
    // SAFETY: a static name and a context still to be drawn need no drop, whether or not they
    // moved into a slot.
    unsafe { slab.take(&ManuallyDrop::new(Text::Static(name)), &context, SpanId::INVALID, false, 0) }
}

/// A slab of `capacity` slots and the recorder it keeps alive (for the tests and the loom models).
#[cfg(test)]
fn test_slab(capacity: usize) -> Slab {
    Slab::new(capacity, &Arc::new(Recorder::new(capacity, Default::default(), false)))
        .expect("a test's slab is allocated")
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {

    use super::{take_named as take, test_slab, BulkFrees};

    /// Written whole when made (`with_pages_backed_at_start`), a slab's slots are as free, and as
    /// usable, as the allocator's zeroes left them.
    #[test]
    fn a_slab_backed_at_start_hands_out_every_slot() {
        let recorder = std::sync::Arc::new(super::Recorder::new(100, Default::default(), true));
        let mut slab = super::Slab::new(100, &recorder).expect("allocated");
        assert!(!slab.in_use());
        let taken: Vec<_> = (0..100).map(|_| take(&mut slab, "backed").expect("a free slot")).collect();
        assert!(take(&mut slab, "one more").is_none());
        assert!(taken.iter().all(|slot| slot.data_ref().name.as_str() == "backed"));
        drop(taken);
        assert!(!slab.in_use());
    }

    /// The hint a span start prefetches names the slot the next span takes.
    #[test]
    fn the_next_slot_is_the_one_the_next_span_takes() {
        let mut slab = test_slab(4);
        let spans: Vec<_> = (0..3)
            .map(|_| {
                let hint = slab.next_slot();
                let slot = take(&mut slab, "span").expect("a free slot");
                assert_eq!(hint, slot.slot.as_ptr().cast::<u8>().cast_const());
                slot
            })
            .collect();
        drop(spans);
    }

    #[test]
    fn a_full_slab_refuses_until_a_slot_is_freed_anywhere() {
        let mut slab = test_slab(2);
        let a = take(&mut slab, "a").unwrap();
        let mut b = take(&mut slab, "b").unwrap();
        assert!(take(&mut slab, "c").is_none());
        assert_eq!(b.data().name.as_str(), "b");
        let freed_elsewhere = std::thread::spawn(move || a.release().name.as_str().to_owned()).join().unwrap();
        assert_eq!(freed_elsewhere, "a");
        let mut c = take(&mut slab, "c").unwrap();
        assert_eq!(c.data().name.as_str(), "c");
        assert!(slab.in_use());
        drop((b, c));
        assert!(!slab.in_use());
    }

    /// In a drain, a run of one slab's frees is counted when a free of another slab's slot, or
    /// the end of the drain, ends it; a nested drain leaves the counting to the outer one; the
    /// flags are stored at once, so the owner takes a freed slot before it is counted.
    #[test]
    fn frees_in_a_drain_are_counted_by_the_run() {
        let (mut a, mut b) = (test_slab(2), test_slab(1));
        let (a1, a2, b1) = (take(&mut a, "a1").unwrap(), take(&mut a, "a2").unwrap(), take(&mut b, "b1").unwrap());
        let bulk = BulkFrees::begin();
        drop(a1);
        assert_eq!((a.counted_frees(), b.counted_frees()), (0, 0));
        let nested = BulkFrees::begin();
        drop(b1);
        assert_eq!((a.counted_frees(), b.counted_frees()), (1, 0));
        drop(nested);
        assert_eq!(b.counted_frees(), 0, "the outer drain counts");
        let mut again = take(&mut b, "again").expect("the flag says free");
        assert_eq!(again.data().name.as_str(), "again");
        drop(a2);
        assert_eq!((a.counted_frees(), b.counted_frees()), (1, 1));
        drop(bulk);
        assert_eq!((a.counted_frees(), b.counted_frees()), (2, 1));
        drop(again);
        assert_eq!(b.counted_frees(), 2, "counted at once outside a drain");
    }

    #[test]
    fn a_slot_freed_out_of_order_is_found_past_the_cursor() {
        let mut slab = test_slab(3);
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

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use loom::thread;

    use super::{take_named as take, test_slab, BulkFrees};

    /// The owner handle and two slots let go on three threads in every order: the slots are
    /// freed once, by the last (loom fails the model on a leak; a second free would crash it).
    #[test]
    fn loom_slots_go_with_the_last_of_the_owner_and_its_slots() {
        loom::model(|| {
            let mut slab = test_slab(2);
            let exported = take(&mut slab, "exported").unwrap();
            let dropped = take(&mut slab, "dropped").unwrap();
            let exporter = thread::spawn(move || assert_eq!(exported.release().name.as_str(), "exported"));
            let owner = thread::spawn(move || drop(slab));
            drop(dropped);
            exporter.join().unwrap();
            owner.join().unwrap();
        });
    }

    /// The same with the two slots freed in one drain on another thread, counted together when
    /// it ends, while the owner goes: the slots are freed once, by the count or by the owner,
    /// whichever comes last, and no earlier.
    #[test]
    fn loom_slots_freed_in_a_drain_go_with_its_count_or_the_owner() {
        loom::model(|| {
            let mut slab = test_slab(2);
            let slots = [take(&mut slab, "first").unwrap(), take(&mut slab, "second").unwrap()];
            let exporter = thread::spawn(move || {
                let _bulk = BulkFrees::begin();
                for slot in slots {
                    assert!(!slot.data_ref().name.as_str().is_empty());
                    drop(slot);
                }
            });
            drop(slab);
            exporter.join().unwrap();
        });
    }

    /// A slot freed on another thread is taken again by the owner only after the data was moved
    /// out (loom checks every access to the slot's data against the flag's ordering).
    #[test]
    fn loom_a_slot_freed_elsewhere_is_written_again_only_after_its_data_moved_out() {
        loom::model(|| {
            let mut slab = test_slab(1);
            let first = take(&mut slab, "first").unwrap();
            let exporter = thread::spawn(move || assert_eq!(first.release().name.as_str(), "first"));
            let second = loop {
                match take(&mut slab, "second") {
                    Some(slot) => break slot,
                    None => thread::yield_now(),
                }
            };
            assert_eq!(second.data_ref().name.as_str(), "second");
            exporter.join().unwrap();
        });
    }
}
