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
//! (`MeterProvider::collect`, `snapshot`) waits as long as it takes. But no collection waits for
//! one on its own thread (an observable callback collecting its own provider): it would wait for
//! ever, so it returns nothing at once, said once on stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::diag;

/// How long nanotel's own threads wait for another collection of the same provider. A collection
/// takes microseconds to milliseconds; one that takes longer is in a slow callback.
pub(crate) const WAIT: Duration = Duration::from_secs(1);

/// A collection that gave up waiting for another, or that was asked for inside one of the same
/// provider on the same thread.
#[derive(Debug)]
pub(crate) struct Busy;

#[derive(Default)]
pub(crate) struct CollectionLock {
    lock: Mutex<()>,
    /// The thread holding the lock ([`this_thread`]), 0 when none: a collection asked for on
    /// that thread (an observable callback collecting its own provider) would wait for itself for
    /// ever, and is refused instead.
    holder: AtomicU64,
    /// Collections that gave up since the last that got through.
    gave_up: AtomicU64,
    /// Whether a collection inside a collection was reported yet.
    reentered: diag::Once,
}

/// The lock held; dropping it lets the next collection in.
pub(crate) struct Held<'a> {
    lock: &'a CollectionLock,
    _guard: MutexGuard<'a, ()>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Relaxed: only the holding thread compares `holder` with itself, and it wrote it.
        self.lock.holder.store(0, Ordering::Relaxed);
    }
}

/// A number for the calling thread, never 0 and never another thread's.
fn this_thread() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        // Relaxed: only uniqueness matters.
        static THIS: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    THIS.with(|this| *this)
}

impl CollectionLock {
    /// The lock, however long another collection holds it; [`Busy`] only when this thread holds
    /// it already.
    pub(crate) fn hold(&self) -> Result<Held<'_>, Busy> {
        self.refuse_reentry()?;
        let held = self.held(self.lock.lock());
        self.got_through();
        Ok(held)
    }

    /// The lock within [`WAIT`], for one of nanotel's threads: `who` names the collection (for
    /// the line on stderr), an exporter's or a scrape's.
    pub(crate) fn try_hold(&self, who: &str) -> Result<Held<'_>, Busy> {
        self.refuse_reentry()?;
        if let Some(guard) = self.lock.try_lock_for(WAIT) {
            let held = self.held(guard);
            self.got_through();
            return Ok(held);
        }
        // Relaxed: a count for a message; the lock orders the collections themselves.
        if self.gave_up.fetch_add(1, Ordering::Relaxed) == 0 {
            diag::warning!(
                "{who} gave up after waiting {WAIT:?} for another collection of the same meter provider: an \
                 observable instrument's callback may not be returning (said once until a collection gets through)"
            );
        }
        Err(Busy)
    }

    fn held<'a>(&'a self, guard: MutexGuard<'a, ()>) -> Held<'a> {
        // Relaxed: read back only by this thread (see `holder`).
        self.holder.store(this_thread(), Ordering::Relaxed);
        Held { lock: self, _guard: guard }
    }

    /// [`Busy`] when the calling thread holds the lock already: its collection is still running
    /// and the one asked for now would wait for it, on the same thread, for ever.
    fn refuse_reentry(&self) -> Result<(), Busy> {
        if self.holder.load(Ordering::Relaxed) != this_thread() {
            return Ok(());
        }
        if self.reentered.first() {
            diag::warning!(
                "a collection of a meter provider was asked for on a thread already collecting it (an observable \
                 instrument's callback calling collect, snapshot or render?): it cannot run there, and returns \
                 nothing (reported once)"
            );
        }
        Err(Busy)
    }

    fn got_through(&self) {
        let gave_up = self.gave_up.swap(0, Ordering::Relaxed);
        if gave_up > 0 {
            diag::info!("metric collections go through again; {gave_up} gave up waiting before");
        }
    }
}
