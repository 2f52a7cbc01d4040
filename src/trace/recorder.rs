//! The span recorder: per thread and provider, a slab for the data of open spans and a ring for
//! ended ones, which the exporter thread drains.
//!
//! Starting a sampled span takes a slot of the thread's slab; ending it moves the data into the
//! thread's ring: no lock, no allocation, no wait. A thread's first span for a provider takes the
//! slab and ring a thread that has exited left behind, or allocates both (see
//! [`super::thread_rings`]); a slab's slots stay until both its owner and every span in it are gone
//! (see [`super::slab`]).
//!
//! A span names its recorder in its data ([`RecorderRef`]), not through its tracer, so it may
//! outlive the tracer, move to another thread and end there: its slot's slab keeps the recorder
//! alive until then.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::ptr::{addr_of_mut, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::LocalKey;

use super::slab::{BulkFrees, Slab, SlotRef};
use crate::attributes::Text;
use crate::buffer::thread_rings::{self, LastSide, RingOwner, Rings, ThreadSides};

use super::lazy_context::LazyContext;
use super::limits::SpanLimits;
use super::span::{SpanData, SpanRecord};
use super::span_context::SpanId;

/// The rings of one provider, each thread's slots, and the limits its spans keep to.
pub(crate) struct Recorder {
    rings: Rings<Recorder>,
    limits: SpanLimits,
    /// Allocations spans made on the recording threads (see `heap_allocations`).
    heap_allocations: AtomicU64,
    /// Whether each thread's slab and ring are written whole when made (see `buffer::backing`).
    backed: bool,
}

/// The recorder a span ends into, named from its data: a pointer the span's slab keeps valid (it
/// holds a counted reference to the recorder for as long as any of its slots is in use). A tracer
/// keeps a copy too, valid while its provider is.
#[derive(Clone, Copy)]
pub(crate) struct RecorderRef(NonNull<Recorder>);

// SAFETY: a shared reference to a `Recorder`, which is `Sync`; valid wherever the span holding it
// goes (see `RecorderRef::new`).
unsafe impl Send for RecorderRef {}
// SAFETY: as above.
unsafe impl Sync for RecorderRef {}

impl RecorderRef {
    /// Names `recorder`.
    ///
    /// # Safety
    /// The caller keeps a counted reference to the recorder for as long as this name (or a copy
    /// of it) is used: the slab's slots do, for the spans holding one of their slots, and a
    /// tracer's provider does, for the tracer's copy.
    pub(crate) unsafe fn new(recorder: &Arc<Recorder>) -> RecorderRef {
        RecorderRef(NonNull::from(&**recorder))
    }

    /// The recorder.
    #[inline(always)]
    pub(crate) fn get(&self) -> &Recorder {
        // SAFETY: alive for as long as the name is used (see `new`).
        unsafe { self.0.as_ref() }
    }

    /// The recorder as the `Arc` that keeps it, borrowed: without touching its count, which is
    /// shared with every thread.
    #[inline(always)]
    pub(crate) fn arc(&self) -> ManuallyDrop<Arc<Recorder>> {
        // SAFETY: the pointer is an `Arc<Recorder>`'s (`Arc::as_ptr` in `new`), whose count stays
        // above zero while the name is used (see `new`); `ManuallyDrop` keeps the borrowed `Arc`
        // from giving back a count it never took.
        ManuallyDrop::new(unsafe { Arc::from_raw(self.0.as_ptr()) })
    }
}

thread_local! {
    // Usually one entry: the process's provider. Const-initialised, so the access is a TLS load.
    static THREADS: RefCell<ThreadSides<Recorder>> = const { RefCell::new(ThreadSides::new()) };
    static LAST: LastSide<Recorder> = const { LastSide::new() };
}

impl RingOwner for Recorder {
    type Item = SpanRecord;
    type Local = Slab;
    /// The slots a drain frees are counted in runs: the exporter thread then writes each slab's
    /// count of freed slots, which its recording thread reads on every span, once per drain and
    /// slab rather than once per span.
    type DrainScope = BulkFrees;

    #[inline(always)]
    fn rings(&self) -> &Rings<Recorder> {
        &self.rings
    }

    #[inline(always)]
    fn threads() -> &'static LocalKey<RefCell<ThreadSides<Recorder>>> {
        &THREADS
    }

    #[inline(always)]
    fn last() -> &'static LocalKey<LastSide<Recorder>> {
        &LAST
    }

    fn backs_pages(&self) -> bool {
        self.backed
    }

    fn new_local(owner: &Arc<Recorder>, capacity: usize) -> Option<Slab> {
        // As many slots as ring entries: every span that got a slot fits in the ring.
        Slab::new(capacity, owner)
    }

    fn begin_drain() -> BulkFrees {
        BulkFrees::begin()
    }
}

impl Recorder {
    pub(crate) fn new(capacity: usize, limits: SpanLimits, backed: bool) -> Recorder {
        Recorder { rings: Rings::new(capacity), limits, heap_allocations: AtomicU64::new(0), backed }
    }

    /// Counts an allocation a span made on its recording thread: a box for events and links when
    /// no spare was at hand, or a vector of them that grew.
    #[cold]
    pub(crate) fn count_heap_allocation(&self) {
        self.count_heap_allocations(1);
    }

    /// Counts `count` allocations a span made on its recording thread (its attributes past the
    /// inline ones, counted when it is exported).
    pub(crate) fn count_heap_allocations(&self, count: u64) {
        if count > 0 {
            // Relaxed: a tally.
            self.heap_allocations.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// How many allocations spans made on their recording threads.
    pub(crate) fn heap_allocations(&self) -> u64 {
        // Relaxed: a tally.
        self.heap_allocations.load(Ordering::Relaxed)
    }

    /// The limits spans keep to.
    #[inline(always)]
    pub(crate) fn limits(&self) -> &SpanLimits {
        &self.limits
    }

    /// A slot for a new sampled span's data; `None` (counted as dropped) when every slot of this
    /// thread holds a span that is open or waits for the exporter thread.
    ///
    /// # Safety
    /// When it returns a slot, `*context` has moved into it: the caller must neither use nor drop
    /// it afterwards. When it returns `None`, `*context` is left to the caller.
    #[inline(always)]
    pub(crate) unsafe fn open(
        self: &Arc<Self>,
        name: Text,
        context: &ManuallyDrop<LazyContext>,
        parent_span_id: SpanId,
        parent_is_remote: bool,
        scope: u32,
    ) -> Option<SlotRef> {
        // Passed down by reference and read once, into the slot (see `Attributes::set_from`).
        let name = ManuallyDrop::new(name);
        // The span's end reads whether the rings are closed, at an address known now, where the
        // end would otherwise find it through the slot written with the side's copy of it.
        self.rings.prefetch_closed();
        let opened = thread_rings::with_thread_hinted(self, |thread, last| {
            let slab = &mut thread.local;
            // SAFETY: `name` is dropped below only when no slot took it; `context` is the
            // caller's, on the same terms.
            let slot = unsafe { slab.take(&name, context, parent_span_id, parent_is_remote, scope) };
            if slot.is_none() {
                thread.producer.count_drop();
            }
            // Where the next span will likely go, asked for at its start (see `LastSide`).
            last.set_next(slab.next_slot());
            slot
        });
        match opened {
            Ok(Some(slot)) => Some(slot),
            Ok(None) => {
                drop(ManuallyDrop::into_inner(name));
                None
            }
            Err(why) => {
                drop(ManuallyDrop::into_inner(name));
                self.rings.count_without_side(why);
                None
            }
        }
    }

    /// Hands an ended span's slot to this thread's ring of the recorder its data names (dropping
    /// and counting it if the ring is full): the ring holds the slot, and the span's context and
    /// data stay where they were written. `finish` completes the data (its end time) once the
    /// ring is known to have room.
    ///
    /// The recorder is reached through the slot, which keeps it alive: every use of it here comes
    /// before the slot is let go of (into the ring, or dropped after being counted).
    #[inline(always)]
    pub(crate) fn record(slot: SlotRef, finish: impl FnOnce(&mut SpanData)) {
        let recorder = slot.data_ref().recorder.arc();
        let recorder: &Arc<Recorder> = &recorder;
        if recorder.rings.is_closed() {
            // Every pipeline this recorder fed has shut down, or its provider is gone: nothing
            // would drain the ring.
            recorder.rings.count_late(1);
            drop(slot);
            return;
        }
        let mut slot = Some(slot);
        let written = thread_rings::with_thread(recorder, |thread| {
            let Some(reservation) = thread.producer.reserve() else { return };
            let Some(mut slot) = slot.take() else { return };
            // Finished only now, after the loads that found the ring: the end is a clock read,
            // which holds up the instructions after it, not those already under way.
            finish(slot.data());
            // SAFETY: the record's one field is written.
            unsafe { reservation.write_in_place(|record| addr_of_mut!((*record).slot).write(slot)) };
        });
        if let Err(why) = written {
            recorder.rings.count_without_side(why);
        }
        // A slot the full ring refused is let go of here, outside the side's borrow: freeing it
        // may free memory, and a global allocator that records must find no side borrowed.
        drop(slot);
    }
}
