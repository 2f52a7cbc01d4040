//! The grace periods of reclaiming series tables: a reader pins for the time it holds a series it
//! found; an unlinker asks to be told once every pin held at that moment has been released.
//!
//! Normally these are crossbeam-epoch's pins on its global collector (a thread-local check and a
//! fence per pin; the collector runs deferred functions from time to time on pinning threads).
//! Under `--cfg nanotel_loom` crossbeam-epoch is not modelled (it uses std atomics and thread
//! locals loom cannot see), so the loom models run a stand-in with the same contract: a count of
//! the table's pins, and a grace period that has passed once a fenced reading of that count sees
//! none held. It waits longer than crossbeam does (for every pin, not only the older ones), which
//! the contract allows.

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::Arc;

#[cfg(not(nanotel_loom))]
mod imp {
    use super::{Arc, AtomicBool, Ordering};
    use crossbeam_epoch as epoch;

    /// A pin: while it lives, nothing unlinked before or during it is freed.
    pub(crate) struct Guard {
        _pin: epoch::Guard,
    }

    /// crossbeam-epoch's global collector, shared by every table.
    pub(crate) struct Grace;

    impl Grace {
        pub(crate) fn new() -> Grace {
            Grace
        }

        #[expect(clippy::unused_self, reason = "the same method as the loom build's stand-in, which needs `self`")]
        #[inline]
        pub(crate) fn pin(&self) -> Guard {
            Guard { _pin: epoch::pin() }
        }

        /// Sets `passed` once every pin held now has been released. The caller unlinked what it
        /// waits for before calling this.
        #[expect(clippy::unused_self, reason = "the same method as the loom build's stand-in, which needs `self`")]
        pub(crate) fn when_passed(&self, passed: Arc<AtomicBool>) {
            // Release: pairs with the Acquire of the collection that reads `passed`: the records
            // made under the pins released before the closure runs happen before that reading.
            // (crossbeam runs the closure after those pins' release, which it observes with
            // SeqCst fences.)
            epoch::pin().defer(move || passed.store(true, Ordering::Release));
        }

        /// Moves this thread's deferred functions to the global queue and lets the epoch advance
        /// (once per call when no pinned thread lags), running the functions whose grace period
        /// has passed: three calls let one collection's unlinks pass by the next collection.
        #[expect(clippy::unused_self, reason = "the same method as the loom build's stand-in, which needs `self`")]
        pub(crate) fn flush(&self) {
            for _ in 0..3 {
                epoch::pin().flush();
            }
        }
    }
}

#[cfg(nanotel_loom)]
mod imp {
    use super::*;
    use crate::sync::atomic::{fence, AtomicUsize};
    use crate::sync::Mutex;

    /// A pin of the stand-in: one in the table's count while it lives.
    pub(crate) struct Guard {
        pinned: Arc<AtomicUsize>,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            // Release: pairs with the Acquire in `flush`, so what was done under the pin happens
            // before the grace period is seen to pass.
            self.pinned.fetch_sub(1, Ordering::Release);
        }
    }

    pub(crate) struct Grace {
        pinned: Arc<AtomicUsize>,
        waiting: Mutex<Vec<Arc<AtomicBool>>>,
    }

    impl Grace {
        pub(crate) fn new() -> Grace {
            Grace { pinned: Arc::new(AtomicUsize::new(0)), waiting: Mutex::new(Vec::new()) }
        }

        pub(crate) fn pin(&self) -> Guard {
            self.pinned.fetch_add(1, Ordering::Relaxed);
            // SeqCst: pairs with the fence in `flush`. Either that fence comes first, and this
            // pin's later loads see every unlink made before it, or this one does, and `flush`
            // sees the pin.
            fence(Ordering::SeqCst);
            Guard { pinned: self.pinned.clone() }
        }

        pub(crate) fn when_passed(&self, passed: Arc<AtomicBool>) {
            self.waiting.lock().push(passed);
        }

        pub(crate) fn flush(&self) {
            // SeqCst: see `pin`.
            fence(Ordering::SeqCst);
            if self.pinned.load(Ordering::Acquire) == 0 {
                // Release: as for crossbeam's closure above.
                self.waiting.lock().drain(..).for_each(|passed| passed.store(true, Ordering::Release));
            }
        }
    }
}

pub(crate) use imp::{Grace, Guard};
