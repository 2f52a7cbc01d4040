//! The span recorder: one ring per thread and provider, drained by the exporter thread.
//!
//! Ending a span moves its record into the calling thread's ring for that provider: no lock, no
//! allocation, no wait. A thread's first span for a provider allocates its ring and registers the
//! consuming end with the provider; a ring outlives its thread until it has been drained.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::ring::{ring, Consumer, Producer};
use super::span::SpanRecord;

/// The rings of one provider.
pub(crate) struct Recorder {
    capacity: usize,
    consumers: Mutex<Rings>,
    /// Spans ended while their thread's locals were being torn down (no ring to take them).
    orphaned: AtomicU64,
}

struct Rings {
    consumers: Vec<Consumer<SpanRecord>>,
    /// Where the next drain starts, so a limited drain serves every thread in turn.
    next: usize,
    reported_orphans: u64,
}

type ThreadRings = Vec<(Weak<Recorder>, Producer<SpanRecord>)>;

thread_local! {
    // Usually one entry: the process's provider. Const-initialised, so the access is a TLS load.
    static PRODUCERS: RefCell<ThreadRings> = const { RefCell::new(Vec::new()) };
}

impl Recorder {
    pub(crate) fn new(capacity: usize) -> Recorder {
        Recorder {
            capacity,
            consumers: Mutex::new(Rings { consumers: Vec::new(), next: 0, reported_orphans: 0 }),
            orphaned: AtomicU64::new(0),
        }
    }

    /// Hands a record to this thread's ring (dropping and counting it when the ring is full).
    #[inline(always)]
    pub(crate) fn record(self: &Arc<Self>, record: SpanRecord) {
        let mut record = Some(record);
        let pushed = PRODUCERS.try_with(|producers| {
            let mut producers = producers.borrow_mut();
            // Comparing addresses is sound: a thread's `Weak` keeps its recorder's allocation, so
            // no other recorder can ever have the same address.
            let this = Arc::as_ptr(self);
            if let Some((_, producer)) = producers.iter_mut().find(|(owner, _)| owner.as_ptr() == this) {
                if let Some(record) = record.take() {
                    producer.push(record);
                }
                return;
            }
            self.register(&mut producers, &mut record);
        });
        if pushed.is_err() {
            // Relaxed: a tally.
            self.orphaned.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The slow path of a thread's first span for this provider: makes and registers its ring.
    #[cold]
    fn register(self: &Arc<Self>, producers: &mut ThreadRings, record: &mut Option<SpanRecord>) {
        // Rings of providers that are gone are of no further use to this thread.
        producers.retain(|(owner, _)| owner.strong_count() > 0);
        let (mut producer, consumer) = ring(self.capacity);
        if let Some(record) = record.take() {
            producer.push(record);
        }
        if let Ok(mut rings) = self.consumers.lock() {
            rings.consumers.push(consumer);
        }
        producers.push((Arc::downgrade(self), producer));
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
            let consumer = &mut rings.consumers[(rings.next + turn) % count];
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
        // A ring whose thread has ended and that is empty goes; its last drops are counted first.
        rings.consumers.retain_mut(|consumer| {
            let finished = consumer.is_finished();
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
