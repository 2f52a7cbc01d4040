//! Per thread and provider, a bounded ring that emitted records wait in until the exporter thread
//! takes them.
//!
//! Emitting writes the record straight into a free slot of the calling thread's ring: no lock, no
//! allocation, no wait; a full ring drops the record and counts it. A thread's first record for a
//! provider takes the ring a thread that has exited left behind, or allocates one (see
//! [`crate::buffer::thread_rings`]).

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::thread::LocalKey;

use super::record::LogItem;
use crate::buffer::thread_rings::{self, LastSide, RingOwner, Rings, ThreadSides};

/// The rings of one provider.
pub(crate) struct Buffers {
    rings: Rings<Buffers>,
    /// Whether each thread's ring is written whole when made (see `buffer::backing`).
    backed: bool,
}

thread_local! {
    // Usually one entry: the process's provider. Const-initialised, so the access is a TLS load.
    static THREADS: RefCell<ThreadSides<Buffers>> = const { RefCell::new(ThreadSides::new()) };
    static LAST: LastSide<Buffers> = const { LastSide::new() };
}

impl RingOwner for Buffers {
    type Item = LogItem;
    type Local = ();
    type DrainScope = ();

    #[inline(always)]
    fn rings(&self) -> &Rings<Buffers> {
        &self.rings
    }

    #[inline(always)]
    fn threads() -> &'static LocalKey<RefCell<ThreadSides<Buffers>>> {
        &THREADS
    }

    #[inline(always)]
    fn last() -> &'static LocalKey<LastSide<Buffers>> {
        &LAST
    }

    fn new_local(_owner: &Arc<Buffers>, _capacity: usize) -> Option<()> {
        Some(())
    }

    fn backs_pages(&self) -> bool {
        self.backed
    }

    fn begin_drain() {}
}

impl Buffers {
    pub(crate) fn new(capacity: usize, backed: bool) -> Buffers {
        Buffers { rings: Rings::new(capacity), backed }
    }

    /// Builds a record through `init` straight in a free slot of this thread's ring (no copy of
    /// it on the stack, and only the lines of the slot its fields reach are written); or counts
    /// it instead: dropped when the ring is full, late when every pipeline it fed has shut down,
    /// without a side when the thread's ring is gone or cannot be allocated. `init` runs only
    /// when the ring has room, so a record that is not written costs neither its clock read nor
    /// its clones.
    ///
    /// # Safety
    /// `init` must initialise the whole record at the address it is given.
    #[inline(always)]
    pub(crate) unsafe fn record_in_place(self: &Arc<Self>, init: impl FnOnce(*mut LogItem)) {
        if self.rings.is_closed() {
            // Every pipeline these buffers fed has shut down: nothing would drain the ring.
            self.rings.count_late(1);
            return;
        }
        let written = thread_rings::with_thread_hinted(self, |thread, last| {
            if let Some(slot) = thread.producer.reserve() {
                // SAFETY: the caller's `init` initialises the whole record.
                unsafe { slot.write_in_place(init) };
            }
            // Where the next record will go, asked for at its start (see `LastSide`): with cold
            // caches its first line is on its way while the side's is (benches/README.md, `cold`,
            // session 31).
            last.set_next(thread.producer.next_slot());
        });
        if let Err(why) = written {
            self.rings.count_without_side(why);
        }
    }

    /// Moves `*item`, once `finish` has completed it, into this thread's ring (its fields and the
    /// attribute slots in use: see `LogItem::move_to`); or drops it, counted as by
    /// [`record_in_place`](Self::record_in_place). `finish` runs only when the ring has room, so
    /// a record that is not written costs neither its clock read nor its clones.
    ///
    /// # Safety
    /// Takes ownership of `*item`: the caller must neither use nor drop it afterwards.
    #[inline(always)]
    pub(crate) unsafe fn record_from(
        self: &Arc<Self>,
        item: &mut ManuallyDrop<LogItem>,
        finish: impl FnOnce(&mut LogItem),
    ) {
        let mut moved = false;
        let init = |slot: *mut LogItem| {
            finish(item);
            // SAFETY: the caller hands over `*item`, which is moved out here, once, and not
            // dropped below (`moved` is set); `move_to` initialises the whole slot.
            unsafe { LogItem::move_to(&raw const **item, slot) };
            moved = true;
        };
        // SAFETY: `init` initialises the whole record (`move_to`).
        unsafe { self.record_in_place(init) };
        if !moved {
            // SAFETY: the caller hands over `*item`, which was not moved into the ring.
            unsafe { ManuallyDrop::drop(item) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::Severity;

    /// Offers a record of `scope`; returns whether it was finished (the ring had room).
    fn offer(buffers: &Arc<Buffers>, scope: u32) -> bool {
        let mut item = ManuallyDrop::new(LogItem::new(scope, Severity::Info));
        let mut finished = false;
        // SAFETY: `item` is handed over and not used again.
        unsafe { buffers.record_from(&mut item, |_| finished = true) };
        finished
    }

    #[test]
    fn threads_get_their_own_rings_and_full_ones_count_drops() {
        let buffers = Arc::new(Buffers::new(4, false));
        let finished: Vec<bool> = (0..6).map(|_| offer(&buffers, 0)).collect();
        assert_eq!(finished, [true, true, true, true, false, false], "a full ring finishes nothing");
        let worker = buffers.clone();
        std::thread::spawn(move || (0..3).for_each(|_| assert!(offer(&worker, 1)))).join().unwrap();
        let mut scopes = Vec::new();
        assert_eq!(buffers.rings().drain(usize::MAX, |item| scopes.push(item.scope)).dropped, 2);
        scopes.sort_unstable();
        assert_eq!(scopes, [0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(buffers.rings.ring_count(), 2);
        let next = buffers.clone();
        std::thread::spawn(move || assert!(offer(&next, 2))).join().unwrap();
        assert_eq!(buffers.rings.ring_count(), 2, "the ended thread's ring went to the next");
        let mut scopes = Vec::new();
        assert_eq!(buffers.rings().drain(usize::MAX, |item| scopes.push(item.scope)).dropped, 0);
        assert_eq!(scopes, [2]);
        assert_eq!(buffers.rings().drain(usize::MAX, |_| panic!("empty")).dropped, 0);
    }

    #[test]
    fn providers_taking_turns_on_one_thread_each_fill_their_own_ring() {
        let (first, second) = (Arc::new(Buffers::new(8, false)), Arc::new(Buffers::new(8, false)));
        for _ in 0..3 {
            assert!(offer(&first, 1));
            assert!(offer(&second, 2));
        }
        let mut scopes = Vec::new();
        assert_eq!(first.rings().drain(usize::MAX, |item| scopes.push(item.scope)).dropped, 0);
        assert_eq!(scopes, [1, 1, 1]);
        scopes.clear();
        assert_eq!(second.rings().drain(usize::MAX, |item| scopes.push(item.scope)).dropped, 0);
        assert_eq!(scopes, [2, 2, 2]);

        // A provider that is gone gives way to a new one, which gets a ring of its own.
        drop(first);
        let third = Arc::new(Buffers::new(8, false));
        assert!(offer(&third, 3));
        assert!(offer(&second, 2));
        assert_eq!(third.rings().drain(usize::MAX, |item| assert_eq!(item.scope, 3)).dropped, 0);
        assert_eq!(second.rings().drain(usize::MAX, |item| assert_eq!(item.scope, 2)).dropped, 0);
    }

    #[test]
    fn records_offered_while_a_thread_ends_are_delivered_or_counted() {
        struct OfferOnDrop(Arc<Buffers>);
        impl Drop for OfferOnDrop {
            fn drop(&mut self) {
                offer(&self.0, 9);
            }
        }
        thread_local! {
            static LAST_WORDS: std::cell::RefCell<Option<OfferOnDrop>> = const { std::cell::RefCell::new(None) };
        }
        let buffers = Arc::new(Buffers::new(8, false));
        let worker = buffers.clone();
        std::thread::spawn(move || {
            // Made before the thread's ring, so (destructors running in reverse order) usually
            // dropped after it: its record then finds no ring and is counted, never lost.
            LAST_WORDS.with(|last| *last.borrow_mut() = Some(OfferOnDrop(worker.clone())));
            assert!(offer(&worker, 1));
        })
        .join()
        .unwrap();
        let mut delivered = 0;
        let drained = buffers.rings().drain(usize::MAX, |_| delivered += 1);
        assert_eq!((delivered, drained.orphaned, drained.dropped), (1, 1, 0), "every record is delivered or counted");
    }
}
