//! Per thread and provider, a bounded ring that emitted records wait in until the exporter thread
//! takes them.
//!
//! Emitting writes the record straight into a free slot of the calling thread's ring: no lock, no
//! allocation, no wait; a full ring drops the record and counts it. A thread's first record for a
//! provider allocates its ring and registers the consuming end with the provider; a ring outlives
//! its thread until it has been drained.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::record::LogItem;
use super::ring::{ring, Consumer, Producer};

/// The rings of one provider.
pub(crate) struct Buffers {
    capacity: usize,
    rings: Mutex<Rings>,
    /// Records emitted while their thread's locals were being torn down (dropped).
    orphaned: AtomicU64,
}

struct Rings {
    consumers: Vec<Consumer<LogItem>>,
    /// Where the next drain starts, so a limited drain serves every thread in turn.
    next: usize,
    reported_orphans: u64,
}

/// One thread's producing end of one provider's ring.
struct ThreadRing {
    owner: Weak<Buffers>,
    producer: Producer<LogItem>,
}

thread_local! {
    // Usually one entry: the process's provider. Const-initialised, so the access is a TLS load.
    static THREADS: RefCell<Vec<ThreadRing>> = const { RefCell::new(Vec::new()) };
}

impl Buffers {
    pub(crate) fn new(capacity: usize) -> Buffers {
        Buffers {
            capacity,
            rings: Mutex::new(Rings { consumers: Vec::new(), next: 0, reported_orphans: 0 }),
            orphaned: AtomicU64::new(0),
        }
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
        let written = self.with_producer(|producer| match producer.reserve() {
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
            // Relaxed: a tally.
            self.orphaned.fetch_add(1, Ordering::Relaxed);
        }
        if written != Some(true) {
            // SAFETY: the caller hands over `*item`, which was not moved into the ring.
            unsafe { ManuallyDrop::drop(item) };
        }
    }

    /// Runs `f` on this thread's producing end of the ring, making it on first use; `None` while
    /// the thread's locals are being torn down.
    #[inline(always)]
    fn with_producer<R>(self: &Arc<Self>, f: impl FnOnce(&mut Producer<LogItem>) -> R) -> Option<R> {
        THREADS
            .try_with(|threads| {
                let mut threads = threads.borrow_mut();
                // Comparing addresses is sound: a thread's `Weak` keeps its provider's allocation, so
                // no other provider can ever have the same address.
                let this = Arc::as_ptr(self);
                let index = match threads.iter().position(|thread| thread.owner.as_ptr() == this) {
                    Some(index) => index,
                    None => self.register(&mut threads),
                };
                f(&mut threads[index].producer)
            })
            .ok()
    }

    /// The slow path of a thread's first record for this provider: makes its ring.
    #[cold]
    fn register(self: &Arc<Self>, threads: &mut Vec<ThreadRing>) -> usize {
        // Those of providers that are gone are of no further use to this thread.
        threads.retain(|thread| thread.owner.strong_count() > 0);
        let (producer, consumer) = ring(self.capacity);
        if let Ok(mut rings) = self.rings.lock() {
            rings.consumers.push(consumer);
        }
        threads.push(ThreadRing { owner: Arc::downgrade(self), producer });
        threads.len() - 1
    }

    /// Pops up to `max` records (oldest first per thread, threads in turn) into `sink`, and returns
    /// how many records were dropped since the last drain because a ring was full.
    pub(crate) fn drain(&self, max: usize, mut sink: impl FnMut(LogItem)) -> u64 {
        let Ok(mut rings) = self.rings.lock() else { return 0 };
        let rings = &mut *rings;
        let mut dropped = 0;
        let mut left = max;
        let count = rings.consumers.len();
        for turn in 0..count {
            let consumer = &mut rings.consumers[(rings.next + turn) % count];
            dropped += consumer.take_drops();
            while left > 0 {
                let Some(item) = consumer.pop() else { break };
                sink(item);
                left -= 1;
            }
        }
        if count > 0 {
            rings.next = (rings.next + 1) % count;
        }
        // The ring of a thread that has ended goes once it is empty; its last drops count first.
        rings.consumers.retain_mut(|consumer| {
            let finished = consumer.is_finished();
            if finished {
                dropped += consumer.take_drops();
            }
            !finished
        });
        // Relaxed: a tally; one counted late is reported at the next drain.
        let orphaned = self.orphaned.load(Ordering::Relaxed);
        dropped += orphaned - rings.reported_orphans;
        rings.reported_orphans = orphaned;
        dropped
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
        assert_eq!(buffers.rings.lock().unwrap().consumers.len(), 1, "the ended thread's ring is gone");
        assert_eq!(buffers.drain(usize::MAX, |_| panic!("empty")), 0);
    }
}
