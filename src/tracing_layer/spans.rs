//! The nanotel spans of live `tracing` spans, in a table of the layer's own keyed by the
//! `tracing` span id.
//!
//! The registry offers every layer a place for per-span data, its extensions, but each visit
//! costs a lookup of the span in the registry's slab (two atomic read-modify-writes), a lock, and
//! a search of a type map, and each value stored there is boxed: one allocation per span. This
//! table costs one hashed probe of a bucket and an uncontended lock, and allocates nothing after
//! it is made.
//!
//! # The protocol
//!
//! - The table is a fixed array of entries, [`WAYS`] to a bucket; an id's bucket follows from its
//!   hash. An entry's key says whose it is: free (0), being filled ([`CLAIMING`]), or holding the
//!   value of the span whose id it is (`tracing` ids are never 0; the one id equal to `CLAIMING`
//!   is never kept here).
//! - [`insert`](SpanTable::insert) claims a free entry of the bucket by a compare-and-swap of its
//!   key from 0 to `CLAIMING` (Acquire: the last remover's accesses to the value happen before),
//!   stores the value without the lock, then publishes the id (Release: the value is written
//!   before anyone who reads the id). Nobody touches the value of an entry that is free or being
//!   filled (below), so the store needs no lock: an insert costs one atomic read-modify-write. A
//!   full bucket hands the value back: the caller keeps it elsewhere (the layer, in the
//!   registry's extensions). Memory is bounded by the table's capacity, never by the number of
//!   live spans.
//! - A lookup ([`with`](SpanTable::with)) finds the entry keyed by the id, takes the entry's lock,
//!   and reads the key again under it: only if it still holds the id does it reach the value.
//!   `tracing` hands a span's id out only after `new_span` returned and closes the span only when
//!   no handle to it is left, so a lookup through a live handle always finds its span. But an
//!   `Id` can outlive its span (a stale `parent:` or `follows_from` id is allowed): such a lookup
//!   may find the key changed under the lock, and then reaches nothing, or find the id reused by
//!   a later span, whose value it then sees (as the registry itself would); the Acquire load of
//!   the key pairs with the insert's Release, so that value was fully written.
//! - [`remove`](SpanTable::remove) takes the lock, checks the key, takes the value and frees the
//!   entry (key back to 0, Release: paired with the next claimer's Acquire). Holding the lock,
//!   it waits for any lookup still reaching the value; a lookup that takes the lock after it sees
//!   the key changed.
//! - The lock is held only to read or change the value, never while user code runs (a `Debug`
//!   impl formatting a field may itself record to the same span): callers format first, then lock.
//!   Held that briefly, and almost never by two threads at once (one span used on two threads at
//!   the same moment), it is a spin lock: taking it is one compare-and-swap, releasing it a plain
//!   store (a parking mutex releases with a compare-and-swap); a waiter spins a little, then
//!   lets the holder run (yields, then sleeps: see `sync::Patience`).

use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::{Patience, UnsafeCell};

/// Entries per bucket: an id can live in any of them.
const WAYS: usize = 4;

/// The key of an entry being filled by an insert.
const CLAIMING: u64 = u64::MAX;

/// One entry: a span id (0: free, [`CLAIMING`]: being filled) and the value kept for it, behind a
/// spin lock.
struct Entry<T> {
    key: AtomicU64,
    locked: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is reached only by the thread holding the entry's lock while the key holds
// the id it looked up (`Entry::with_key`), or by the inserter that claimed the free entry, before
// it publishes the id; the lock orders each holder's accesses after the previous holder's, and the
// key orders the inserter's store before any holder's access and after the last remover's (module
// header). `T: Send` lets the value move between those threads.
unsafe impl<T: Send> Sync for Entry<T> {}

impl<T> Entry<T> {
    fn new() -> Entry<T> {
        Entry { key: AtomicU64::new(0), locked: AtomicBool::new(false), value: UnsafeCell::new(None) }
    }

    /// Runs `f` on the value, holding the entry's lock, if the entry still belongs to `id`.
    #[inline]
    fn with_key<R>(&self, id: u64, f: impl FnOnce(&mut Option<T>) -> R) -> Option<R> {
        // Acquire pairs with the Release below: the previous holder's accesses happen before ours.
        // A compare-and-swap rather than a swap: as fast here, and under loom a spinning swap
        // kept reading the lock held after it was given back, so the models never ended.
        let mut patience = Patience::new();
        while self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            Self::wait(&mut patience);
        }
        // Acquire pairs with the insert's Release: a value published under this id is written.
        let result = (self.key.load(Ordering::Acquire) == id).then(|| {
            // SAFETY: holding the lock with the key still `id`, this thread alone reaches the
            // value: an insert stores only into a free entry, and freeing takes the lock.
            self.value.with_mut(|value| f(unsafe { &mut *value }))
        });
        // Release: our accesses happen before the next holder's (its Acquire compare-and-swap).
        self.locked.store(false, Ordering::Release);
        result
    }

    /// Spins a little, then lets the holder run (see [`Patience`]), while another thread holds
    /// the lock.
    #[cold]
    fn wait(patience: &mut Patience) {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        patience.wait();
    }
}

/// Values of type `T` keyed by `tracing` span id, in a fixed number of entries.
pub(super) struct SpanTable<T> {
    entries: Box<[Entry<T>]>,
    /// Right shift that turns a 64-bit hash into a bucket index.
    shift: u32,
}

impl<T> SpanTable<T> {
    /// A table of at least `capacity` entries (rounded up to a power of two, at least one bucket).
    pub(super) fn new(capacity: usize) -> SpanTable<T> {
        let buckets = capacity.div_ceil(WAYS).next_power_of_two();
        let entries = (0..buckets * WAYS).map(|_| Entry::new()).collect();
        SpanTable { entries, shift: 64 - buckets.trailing_zeros() }
    }

    /// The entries of `id`'s bucket.
    #[inline]
    fn bucket(&self, id: u64) -> &[Entry<T>] {
        // Fibonacci hashing: the registry's ids differ mostly in their low bits; the multiply
        // spreads them over the high bits the shift keeps.
        let index = (id.wrapping_mul(0x9e37_79b9_7f4a_7c15).checked_shr(self.shift).unwrap_or(0)) as usize;
        &self.entries[index * WAYS..(index + 1) * WAYS]
    }

    /// Keeps `value` for `id`, or hands it back when `id`'s bucket is full (or `id` is the one
    /// value the table cannot key).
    pub(super) fn insert(&self, id: u64, value: T) -> Result<(), T> {
        debug_assert_ne!(id, 0, "tracing span ids are never 0");
        if id == CLAIMING {
            return Err(value);
        }
        for entry in self.bucket(id) {
            // Relaxed: a hint only; the compare-and-swap decides.
            let free = entry.key.load(Ordering::Relaxed) == 0;
            // Acquire pairs with the Release of the remove that freed the entry: its take of the
            // old value happens before the store below.
            if free && entry.key.compare_exchange(0, CLAIMING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                // SAFETY: the entry is ours alone while its key is `CLAIMING`: lookups and removes
                // reach the value only with the key equal to their id (module header).
                entry.value.with_mut(|held| unsafe { *held = Some(value) });
                // Release pairs with the Acquire key loads of lookups: the value is written.
                entry.key.store(id, Ordering::Release);
                return Ok(());
            }
        }
        Err(value)
    }

    /// The entry holding `id`'s value, if the table keeps one.
    #[inline]
    fn entry(&self, id: u64) -> Option<&Entry<T>> {
        // Keys that are states, not ids, never lead to a value: a free entry or one being filled.
        if id == 0 || id == CLAIMING {
            return None;
        }
        // Relaxed: a hint only; the key is read again under the entry's lock.
        self.bucket(id).iter().find(|entry| entry.key.load(Ordering::Relaxed) == id)
    }

    /// Runs `f` on `id`'s value under its entry's lock; `None` when the table keeps none for `id`.
    #[inline]
    pub(super) fn with<R>(&self, id: u64, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.entry(id)?.with_key(id, |held| held.as_mut().map(f)).flatten()
    }

    /// Takes `id`'s value out and frees its entry.
    pub(super) fn remove(&self, id: u64) -> Option<T> {
        let entry = self.entry(id)?;
        entry
            .with_key(id, |held| {
                let value = held.take();
                // Release pairs with the next claimer's Acquire: the take happens before its store.
                entry.key.store(0, Ordering::Release);
                value
            })
            .flatten()
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_per_id_until_removed_and_a_full_bucket_hands_them_back() {
        // One bucket: every id shares it.
        let table = SpanTable::new(WAYS);
        for id in 1..=WAYS as u64 {
            assert_eq!(table.insert(id, id * 10), Ok(()));
        }
        assert_eq!(table.insert(99, 990), Err(990));
        assert_eq!(table.with(3, |value| std::mem::replace(value, 31)), Some(30));
        assert_eq!(table.with(99, |value| *value), None);
        assert_eq!(table.remove(3), Some(31));
        assert_eq!(table.remove(3), None);
        assert_eq!(table.with(3, |value| *value), None);
        // The freed entry takes the next id.
        assert_eq!(table.insert(99, 990), Ok(()));
        assert_eq!(table.with(99, |value| *value), Some(990));
        assert_eq!(table.with(4, |value| *value), Some(40));
        // The two keys that are states, not ids, are never kept or found.
        assert_eq!(table.insert(CLAIMING, 7), Err(7));
        assert_eq!(table.with(CLAIMING, |value| *value), None);
        assert_eq!(table.remove(0), None);
    }

    #[test]
    fn ids_spread_over_the_buckets() {
        let table = SpanTable::new(1024);
        // Ids as the registry makes them: consecutive slab indices plus one, in a few pages.
        let kept = (1..=512u64).chain((1 << 20)..(1 << 20) + 256).filter(|id| table.insert(*id, *id).is_ok()).count();
        assert!(kept >= 760, "only {kept} of 768 ids found room at 75% load");
    }

    /// Threads churn spans through a table of two buckets while others look up ids that come and
    /// go (stale ones too, as a kept `Id` may be): every value found is the one kept under that
    /// id, whole, and every value is dropped exactly once (boxed, so AddressSanitizer, which runs
    /// this in scripts/asan.sh, sees a use after free or a double free).
    #[test]
    fn threads_churning_and_looking_up_stale_ids_never_mix_values() {
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 100_000;
        let table = SpanTable::<Box<u64>>::new(2 * WAYS);
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let table = &table;
                scope.spawn(move || {
                    for round in 0..ROUNDS {
                        // A few ids per thread, reused round after round (as the registry reuses
                        // its slots), so entries are claimed, freed and claimed again.
                        let id = thread * 8 + round % 4 + 1;
                        let kept = table.insert(id, Box::new(round << 32 | id)).is_ok();
                        // Another thread's id: live, stale or never kept.
                        let other = (thread + 1) % THREADS * 8 + round % 4 + 1;
                        if let Some(seen) = table.with(other, |value| **value) {
                            assert_eq!(seen & 0xffff_ffff, other, "a lookup of {other} saw another span's value");
                        }
                        if kept {
                            assert_eq!(table.with(id, |value| **value), Some(round << 32 | id));
                            assert_eq!(table.remove(id).map(|value| *value), Some(round << 32 | id));
                        }
                    }
                });
            }
        });
        assert!(table.entries.iter().all(|entry| entry.key.load(Ordering::Relaxed) == 0), "every entry freed");
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two spans in a one-bucket table: one closed (removed) while the other is inserted into
    /// the same bucket and read. Each value is found under its own id exactly until its removal,
    /// and an entry is never shared.
    #[test]
    fn loom_span_table_entries_are_claimed_and_freed_without_mixing_values() {
        loom::model(|| {
            let table = Arc::new(SpanTable::new(WAYS));
            // Fill all but one way, so the threads contend for the last free entry and the one
            // freed by the removal.
            for id in 10..10 + WAYS as u64 - 1 {
                assert!(table.insert(id, id).is_ok());
            }
            let closer = {
                let table = table.clone();
                thread::spawn(move || assert_eq!(table.remove(10), Some(10)))
            };
            let inserted = [1, 2].map(|id| table.insert(id, id * 100).is_ok());
            // Two free entries at most (the last way, and the one the closer frees): the first
            // insert always finds the last way.
            assert!(inserted[0]);
            assert_eq!(table.with(1, |value| *value), Some(100));
            closer.join().unwrap();
            if inserted[1] {
                assert_eq!(table.remove(2), Some(200));
            }
            assert_eq!(table.remove(1), Some(100));
            assert_eq!(table.with(10, |value| *value), None);
        });
    }

    /// A stale id (a `parent:` id kept past its span's close) looked up while its span is removed
    /// and a new span with the same id is inserted (ids may be reused): the lookup sees the old
    /// value, nothing, or the new value whole, and never touches a value being written.
    #[test]
    fn loom_span_table_stale_lookups_meet_removal_and_reuse_without_racing() {
        loom::model(|| {
            let table = Arc::new(SpanTable::new(WAYS));
            assert!(table.insert(7, 70).is_ok());
            let stale = {
                let table = table.clone();
                thread::spawn(move || table.with(7, |value| *value))
            };
            assert_eq!(table.remove(7), Some(70));
            assert!(table.insert(7, 71).is_ok());
            let seen = stale.join().unwrap();
            assert!(matches!(seen, None | Some(70) | Some(71)), "saw {seen:?}");
            assert_eq!(table.remove(7), Some(71));
        });
    }
}
