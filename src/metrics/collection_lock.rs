//! One collection of a provider at a time, and nanotel's threads never stuck behind another's.
//!
//! Collections are serialized (delta windows must not interleave), and a collection runs the
//! program's observable callbacks, which may not return: one waiting on a lock its program holds, a
//! read from a hung mount. Until session 37 every other collection then waited for it for ever: a
//! callback stuck in a Prometheus scrape held the exporter thread at its next metric collection,
//! and with it the export of every signal, traces and logs included; one stuck on the exporter
//! thread held every scrape, silently. Now nanotel's own collections (the exporter's, a scrape's)
//! wait for another at most [`WAIT`], then give up: the exporter collects again at its next
//! interval (nothing is lost: sums go on accumulating, a delta window lasts until a collection
//! takes it), a scrape is answered 503. The first to give up says so on stderr, and the next
//! collection that gets through says how many gave up; a collection the program asks for itself
//! (`MeterProvider::collect`, `snapshot`) waits as long as it takes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// How long nanotel's own threads wait for another collection of the same provider. A collection
/// takes microseconds to milliseconds; one that takes longer is in a slow callback.
pub(crate) const WAIT: Duration = Duration::from_secs(1);

/// A collection that gave up waiting for another.
#[derive(Debug)]
pub(crate) struct Busy;

#[derive(Default)]
pub(crate) struct CollectionLock {
    lock: Mutex<()>,
    /// Collections that gave up since the last that got through.
    gave_up: AtomicU64,
}

impl CollectionLock {
    /// The lock, however long another collection holds it.
    pub(crate) fn hold(&self) -> MutexGuard<'_, ()> {
        let guard = self.lock.lock();
        self.got_through();
        guard
    }

    /// The lock within [`WAIT`], for one of nanotel's threads: `who` names the collection (for
    /// the line on stderr), an exporter's or a scrape's.
    pub(crate) fn try_hold(&self, who: &str) -> Result<MutexGuard<'_, ()>, Busy> {
        if let Some(guard) = self.lock.try_lock_for(WAIT) {
            self.got_through();
            return Ok(guard);
        }
        // Relaxed: a count for a message; the lock orders the collections themselves.
        if self.gave_up.fetch_add(1, Ordering::Relaxed) == 0 {
            crate::diag::warning!(
                "{who} gave up after waiting {WAIT:?} for another collection of the same meter provider: an \
                 observable instrument's callback may not be returning (said once until a collection gets through)"
            );
        }
        Err(Busy)
    }

    fn got_through(&self) {
        let gave_up = self.gave_up.swap(0, Ordering::Relaxed);
        if gave_up > 0 {
            crate::diag::info!("metric collections go through again; {gave_up} gave up waiting before");
        }
    }
}
