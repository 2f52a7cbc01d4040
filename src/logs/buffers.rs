//! Per thread and provider, a bounded ring that emitted records wait in until the exporter thread
//! takes them.
//!
//! Emitting writes the record straight into a free slot of the calling thread's ring: no lock, no
//! allocation, no wait; a full ring drops the record and counts it. A thread's first record for a
//! provider allocates its ring and registers the consuming end with the provider; a ring outlives
//! its thread until it has been drained.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::thread::LocalKey;

use super::record::LogItem;
use super::thread_rings::{self, RingOwner, Rings, ThreadRing};

/// The rings of one provider.
pub(crate) struct Buffers {
    rings: Rings<Buffers>,
}

thread_local! {
    // Usually one entry: the process's provider. Const-initialised, so the access is a TLS load.
    static THREADS: RefCell<Vec<ThreadRing<Buffers>>> = const { RefCell::new(Vec::new()) };
}

impl RingOwner for Buffers {
    type Item = LogItem;
    type Local = ();
    type Shared = ();

    #[inline(always)]
    fn rings(&self) -> &Rings<Buffers> {
        &self.rings
    }

    #[inline(always)]
    fn threads() -> &'static LocalKey<RefCell<Vec<ThreadRing<Buffers>>>> {
        &THREADS
    }

    fn new_thread(_capacity: usize) -> ((), ()) {
        ((), ())
    }

    fn may_retire(_: &()) -> bool {
        // A record holds nothing of its thread once it is in the ring.
        true
    }
}

impl Buffers {
    pub(crate) fn new(capacity: usize) -> Buffers {
        Buffers { rings: Rings::new(capacity) }
    }

    /// Moves `*item`, once `finish` has completed it, into this thread's ring in a single copy; or
    /// drops it (and counts it) when the ring is full. `finish` runs only when the ring has room,
    /// so a record that is dropped costs neither its clock read nor its clones.
    ///
    /// # Safety
    /// Takes ownership of `*item`: the caller must neither use nor drop it afterwards.
    #[inline(always)]
    pub(crate) unsafe fn record_from(
        self: &Arc<Self>,
        item: &mut ManuallyDrop<LogItem>,
        finish: impl FnOnce(&mut LogItem),
    ) {
        if let Some(late) = self.rings.late() {
            // Every pipeline these buffers fed has shut down: nothing would drain the ring.
            // SAFETY: the caller hands over `*item`, which is not used again.
            unsafe { ManuallyDrop::drop(item) };
            late.count(1);
            return;
        }
        let written = thread_rings::with_thread(self, |thread| match thread.producer.reserve() {
            Some(slot) => {
                finish(item);
                // SAFETY: the caller hands over `*item`, which is read out here, once, and not
                // dropped below (`written` is true).
                slot.write(unsafe { std::ptr::read(&**item) });
                true
            }
            None => false,
        });
        if written.is_none() {
            self.rings.count_orphan();
        }
        if written != Some(true) {
            // SAFETY: the caller hands over `*item`, which was not moved into the ring.
            unsafe { ManuallyDrop::drop(item) };
        }
    }

    /// Pops up to `max` records (oldest first per thread, threads in turn) into `sink`, and returns
    /// how many records were dropped since the last drain because a ring was full.
    pub(crate) fn drain(&self, max: usize, sink: impl FnMut(LogItem)) -> u64 {
        self.rings.drain(max, sink)
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
        let buffers = Arc::new(Buffers::new(4));
        let finished: Vec<bool> = (0..6).map(|_| offer(&buffers, 0)).collect();
        assert_eq!(finished, [true, true, true, true, false, false], "a full ring finishes nothing");
        let worker = buffers.clone();
        std::thread::spawn(move || (0..3).for_each(|_| assert!(offer(&worker, 1)))).join().unwrap();
        let mut scopes = Vec::new();
        assert_eq!(buffers.drain(usize::MAX, |item| scopes.push(item.scope)), 2);
        scopes.sort();
        assert_eq!(scopes, [0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(buffers.rings.ring_count(), 1, "the ended thread's ring is gone");
        assert_eq!(buffers.drain(usize::MAX, |_| panic!("empty")), 0);
    }
}
