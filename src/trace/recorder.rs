//! The span recorder: per thread and provider, a slab for the data of open spans and a ring for
//! ended ones, which the exporter thread drains.
//!
//! Starting a sampled span takes a slot of the thread's slab; ending it moves the data into the
//! thread's ring: no lock, no allocation, no wait. A thread's first span for a provider allocates
//! both and registers the ring's consuming end with the provider; a ring outlives its thread until
//! it has been drained.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::ring::{ring, Consumer, Producer};
use super::slab::{Slab, SlotRef, Slots};
use crate::attributes::Text;

use super::span::SpanRecord;
use super::span_context::{SpanContext, SpanId};

/// The rings of one provider.
pub(crate) struct Recorder {
    capacity: usize,
    consumers: Mutex<Rings>,
    /// Spans started or ended while their thread's locals were being torn down.
    orphaned: AtomicU64,
}

struct Rings {
    /// Each thread's ring, and its slots, kept until no slot is in use.
    consumers: Vec<(Consumer<SpanRecord>, Arc<Slots>)>,
    /// Where the next drain starts, so a limited drain serves every thread in turn.
    next: usize,
    reported_orphans: u64,
}

/// One thread's side of one provider's recorder.
struct ThreadRecorder {
    owner: Weak<Recorder>,
    producer: Producer<SpanRecord>,
    slab: Slab,
}

thread_local! {
    // Usually one entry: the process's provider. Const-initialised, so the access is a TLS load.
    static THREADS: RefCell<Vec<ThreadRecorder>> = const { RefCell::new(Vec::new()) };
}

impl Recorder {
    pub(crate) fn new(capacity: usize) -> Recorder {
        Recorder {
            capacity,
            consumers: Mutex::new(Rings { consumers: Vec::new(), next: 0, reported_orphans: 0 }),
            orphaned: AtomicU64::new(0),
        }
    }

    /// Runs `f` on this thread's side of the recorder, making it on first use; `None` while the
    /// thread's locals are being torn down.
    #[inline(always)]
    fn with_thread<R>(self: &Arc<Self>, f: impl FnOnce(&mut ThreadRecorder) -> R) -> Option<R> {
        THREADS
            .try_with(|threads| {
                let mut threads = threads.borrow_mut();
                // Comparing addresses is sound: a thread's `Weak` keeps its recorder's allocation,
                // so no other recorder can ever have the same address.
                let this = Arc::as_ptr(self);
                let index = match threads.iter().position(|thread| thread.owner.as_ptr() == this) {
                    Some(index) => index,
                    None => self.register(&mut threads),
                };
                f(&mut threads[index])
            })
            .ok()
    }

    /// The slow path of a thread's first span for this provider: makes its slab and ring.
    #[cold]
    fn register(self: &Arc<Self>, threads: &mut Vec<ThreadRecorder>) -> usize {
        // Those of providers that are gone are of no further use to this thread.
        threads.retain(|thread| thread.owner.strong_count() > 0);
        // As many ring entries as slots: every span that got a slot fits in the ring.
        let (producer, consumer) = ring(self.capacity);
        let slab = Slab::new(self.capacity);
        if let Ok(mut rings) = self.consumers.lock() {
            rings.consumers.push((consumer, slab.shared()));
        }
        threads.push(ThreadRecorder { owner: Arc::downgrade(self), producer, slab });
        threads.len() - 1
    }

    /// A slot for a new sampled span's data; `None` (counted as dropped) when every slot of this
    /// thread holds a span that is open or waits for the exporter thread.
    #[inline(always)]
    pub(crate) fn open(
        self: &Arc<Self>,
        name: Text,
        parent_span_id: SpanId,
        parent_is_remote: bool,
    ) -> Option<SlotRef> {
        // Passed down by reference and moved word by word into the slot (see `move_by_words`).
        let name = ManuallyDrop::new(name);
        let opened = self.with_thread(|thread| {
            // SAFETY: `name` is dropped below only when no slot took it.
            let slot = unsafe { thread.slab.take(&name, parent_span_id, parent_is_remote) };
            if slot.is_none() {
                thread.producer.count_drop();
            }
            slot
        });
        match opened {
            Some(Some(slot)) => Some(slot),
            Some(None) => {
                drop(ManuallyDrop::into_inner(name));
                None
            }
            None => {
                drop(ManuallyDrop::into_inner(name));
                // Relaxed: a tally.
                self.orphaned.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Hands an ended span to this thread's ring (dropping and counting it if the ring is full),
    /// taking its context and slot straight out of the span, so neither is copied on the way.
    #[inline(always)]
    pub(crate) fn record(self: &Arc<Self>, scope: u32, context: &mut SpanContext, slot: &mut Option<SlotRef>) {
        self.with_thread(|thread| {
            let Some(slot) = slot.take() else { return };
            if let Some(reservation) = thread.producer.reserve() {
                reservation.write(SpanRecord { scope, context: std::mem::take(context), slot });
            }
        });
        if slot.take().is_some() {
            // The thread's locals are gone: the span is dropped. Relaxed: a tally.
            self.orphaned.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Pops up to `max` records (oldest first per thread, threads in turn) into `sink`, and returns
    /// how many spans were dropped since the last drain because a ring was full.
    pub(crate) fn drain(&self, max: usize, mut sink: impl FnMut(SpanRecord)) -> u64 {
        let Ok(mut rings) = self.consumers.lock() else { return 0 };
        let rings = &mut *rings;
        let mut dropped = 0;
        let mut left = max;
        let count = rings.consumers.len();
        for turn in 0..count {
            let (consumer, _) = &mut rings.consumers[(rings.next + turn) % count];
            dropped += consumer.take_drops();
            while left > 0 {
                let Some(record) = consumer.pop() else { break };
                sink(record);
                left -= 1;
            }
        }
        if count > 0 {
            rings.next = (rings.next + 1) % count;
        }
        // A ring whose thread has ended, that is empty, and whose slots are all free (no span of
        // that thread is still open elsewhere) goes; its last drops are counted first.
        rings.consumers.retain_mut(|(consumer, slots)| {
            let finished = consumer.is_finished() && !slots.in_use();
            if finished {
                dropped += consumer.take_drops();
            }
            !finished
        });
        let orphaned = self.orphaned.load(Ordering::Relaxed);
        dropped += orphaned - rings.reported_orphans;
        rings.reported_orphans = orphaned;
        dropped
    }
}
