//! Reclaiming series tables: delta series evicted after `idle_limit` exporting collections without
//! a point, and series forgotten on request, their slots and memory reused.
//!
//! # The protocol
//!
//! Readers stay lock-free. Every lookup of a reclaiming table, and everything the caller does with
//! the series found (a record into its cells, taking a bound handle), happens under an epoch pin
//! (`grace`; see [`Pin`]). Writers of slots (inserts, unlinks, tombstone sweeps) hold the table's
//! mutex, so a slot changes only under it.
//!
//! 1. *Insert.* A lookup that found no series for its set takes the mutex, probes the whole chain
//!    again (another thread may have inserted it meanwhile, past a tombstone this lookup passed),
//!    and places the new series at the chain's first tombstone, or at the empty slot ending it
//!    (Release, for lock-free readers' Acquire). A delta table that still holds the set's
//!    retired series (step 4) links that one again instead of a new one, so that late values
//!    (step 5) and new ones are one point, never two of the same attributes. `len` counts linked
//!    series and changes only under the mutex, so the limit is exact; the unlocked look at `len`
//!    first only keeps a full table's overflowing measurements off the mutex.
//! 2. *Unlink.* Under the mutex, a series is unlinked only while the table holds its only
//!    reference (no bound handle): its `unlinking` flag is raised, a `SeqCst` fence, and the strong
//!    count read again; a binder increments the count, fences, and reads the flag (Dekker: one of
//!    the two sees the other). The binder that sees the flag drops its reference and looks the
//!    set up again; the table that sees another reference lowers the flag and keeps the series.
//!    The slot becomes a tombstone.
//! 3. *New id.* After its unlinks, the table takes a fresh id for the per-thread cache (Release),
//!    so cache entries made before never match again; a reader loads the id under its pin
//!    (Acquire), so a reader of the new id also sees the tombstones, and finds nothing unlinked.
//! 4. *Grace period.* The unlinked series wait in `retired`, with a flag that is set once every pin
//!    held at step 3 has been released (crossbeam's `defer`). Until then a reader that found one
//!    before its unlink may still record into it.
//! 5. *Late values.* Every exporting collection of a delta table reads the retired series too (with
//!    reset), so a value recorded into one between its last reading and its unlink is exported at
//!    the next collection (in the same point as new values, the series being relinked if the set
//!    was recorded again meanwhile: step 1). A retired series is freed after the first reading
//!    that follows the setting of its flag (observed with Acquire): no record can reach it any
//!    more, and all that did happen before that reading. A cumulative table (which only
//!    `forget` unlinks) does not export retired series: a forgotten series' values go with it,
//!    and it is freed by the first exporting collection or `forget` that sees its flag set (a
//!    table only pull readers collect has no exporting collection).
//! 6. *Tombstones.* After unlinks, the mutex holder turns back to empty every tombstone that no
//!    linked series' probe chain passes through (from its home slot to its own slot): a reader
//!    looking for a linked set never meets the new empty slot before it, and a reader for a
//!    missing set ends its probe sooner, then inserts under the mutex. Chains stay as short as
//!    the linked series alone make them. Probes still stop after one lap, for the rare table
//!    whose remaining tombstones leave no empty slot.
//! 7. *One reading per collection.* A collection's scan is lock-free, so a `forget` racing it can
//!    retire a series the scan has read (the same collection then meets it again among the
//!    retired), or relink a retired series into a slot the scan has yet to reach. Each
//!    collection takes a number and stamps it on each series it reads; a series met again is
//!    not read again (two points of one attribute set in one export, which backends refuse or
//!    overwrite: until session 40), and a retired batch holding one is not freed by this
//!    collection: what was recorded into it since is read by the next.

use std::mem::ManuallyDrop;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use crate::sync::{Arc as FlagArc, Mutex};

use super::super::attribute_set::AttributeSet;
use super::super::series_cache::TableId;
use super::grace::Grace;
use super::{is_series, tombstone, Pin, Series, SeriesMap};

/// What a collection does with a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// An in-process view: reads, changes nothing.
    Look,
    /// An exporting collection; `delta` when its readings reset the cells.
    Export { delta: bool },
}

/// What `forget` did, on any instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forget {
    /// The series was removed: it is no longer exported (under delta, what it recorded since the
    /// last collection is exported once more), its memory is freed once no record can reach it,
    /// and the same attributes recorded again make a new series (with a new start time).
    Forgotten,
    /// No series has these attributes: never recorded, already forgotten or evicted, or sent
    /// to the overflow series.
    Absent,
    /// A bound handle holds the series: it is kept. Forget it again once the handles are dropped.
    Bound,
    /// The instrument neither was built `with_forgettable()` nor evicts idle delta series: its series
    /// are never removed.
    NotForgettable,
}

/// The state of a reclaiming table.
pub(crate) struct Reclaim<A> {
    /// Exporting delta collections in a row a series may report no point before it is evicted;
    /// `None` when only `forget` unlinks.
    idle_limit: Option<NonZeroU32>,
    /// Whether the instrument is delta: its retired series are read, and relinked (step 1).
    delta: bool,
    /// The table's current `TableId` in the per-thread cache.
    cache_id: AtomicU64,
    /// Collections begun, each one's number stamped on the series it reads (step 7).
    collections: AtomicU64,
    grace: Grace,
    /// Serializes the writers of slots; holds the unlinked series not yet freed.
    retired: Mutex<Vec<Retired<A>>>,
}

/// Frees the retired series of a cumulative table whose grace period has passed: no record can
/// reach them, and a cumulative table never reads them (step 5), so nothing waits for an
/// exporting collection. Called at each `forget`, so that a table only pull readers collect
/// (Prometheus, `snapshot`: no exporting collection ever runs) holds no more than the series
/// forgotten within one grace period; until session 40 it kept every series it forgot.
fn free_passed<A>(retired: &mut Vec<Retired<A>>) {
    // Acquire: pairs with the Release of `Grace::when_passed`.
    retired.retain(|batch| !batch.passed.load(Ordering::Acquire));
}

/// Series unlinked together, and whether their grace period has passed.
struct Retired<A> {
    series: Vec<Arc<Series<A>>>,
    passed: FlagArc<AtomicBool>,
}

impl<A> Reclaim<A> {
    /// The state of a table whose delta series are evicted after `idle_limit` exporting
    /// collections without a point (`None`: only forgotten); `delta` says the instrument is.
    pub(crate) fn new(idle_limit: Option<NonZeroU32>, delta: bool) -> Reclaim<A> {
        Reclaim {
            idle_limit,
            delta,
            cache_id: AtomicU64::new(TableId::new().raw()),
            collections: AtomicU64::new(0),
            grace: Grace::new(),
            retired: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    pub(super) fn pin(&self) -> Pin {
        let guard = self.grace.pin();
        // Acquire: pairs with the Release store in `retire` (step 3), after the pin is taken.
        let id = TableId::from_raw(self.cache_id.load(Ordering::Acquire));
        Pin { id, _guard: Some(guard) }
    }
}

/// `shared` (a new reference to a series found under a pin) unless the table is unlinking it
/// (step 2).
pub(super) fn still_linked<A>(shared: Arc<Series<A>>) -> Option<Arc<Series<A>>> {
    // SeqCst: pairs with the fence in `try_unlink` (the increment came before it).
    fence(Ordering::SeqCst);
    // Relaxed: ordered by the fences.
    (!shared.unlinking.load(Ordering::Relaxed)).then_some(shared)
}

impl<A: Send + Sync + 'static> SeriesMap<A> {
    /// A reclaiming table's insert (step 1), `hash` being the set's.
    pub(super) fn insert_locked<'g>(
        &'g self,
        reclaim: &Reclaim<A>,
        pin: &'g Pin,
        hash: u64,
        make_set: impl FnOnce() -> AttributeSet,
        same: impl Fn(&AttributeSet) -> bool,
    ) -> &'g Series<A> {
        // SeqCst: a hint, checked again under the mutex, that a bind reads in the order of
        // `inserts`' steps (step 3).
        if self.len.load(Ordering::SeqCst) >= self.limit - 1 {
            return self.overflow_series();
        }
        let mut retired = reclaim.retired.lock();
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        let mut free = None;
        for _ in 0..self.slots.len() {
            // Relaxed: slots change only under the mutex, whose acquisition ordered every earlier
            // store (and the series it published) before this load.
            let found = self.slots[slot].load(Ordering::Relaxed);
            if found.is_null() {
                free = free.or(Some(slot));
                break;
            }
            if is_series(found) {
                // SAFETY: a linked series of this table, under `pin`.
                let series = unsafe { self.linked(pin, found) };
                if same(&series.attributes) {
                    return series;
                }
            } else {
                free = free.or(Some(slot));
            }
            slot = (slot + 1) & mask;
        }
        // Relaxed: `len` changes only under the mutex.
        let Some(free) = free.filter(|_| self.len.load(Ordering::Relaxed) < self.limit - 1) else {
            return self.overflow_series();
        };
        let _in_progress = self.inserts.begin();
        // SeqCst: after the insert's begin, in the order of `inserts`' steps (step 3).
        self.len.fetch_add(1, Ordering::SeqCst);
        let series = match Self::unretire(reclaim, &mut retired, hash, &same) {
            Some(series) => series,
            None => Arc::new(Series::new(make_set(), (self.make)())),
        };
        let new = Arc::into_raw(series).cast_mut();
        // Release: publishes the series to lock-free readers' Acquire loads.
        self.slots[free].store(new, Ordering::Release);
        // SAFETY: just linked, under `pin`.
        unsafe { self.linked(pin, new) }
    }

    /// A delta table's retired series of the set `same` recognises, if it is still there, made
    /// ready to be linked again (step 1): values recorded into it late are then read with the
    /// series, in one point, rather than beside a new series of the same attributes.
    fn unretire(
        reclaim: &Reclaim<A>,
        retired: &mut [Retired<A>],
        hash: u64,
        same: impl Fn(&AttributeSet) -> bool,
    ) -> Option<Arc<Series<A>>> {
        if !reclaim.delta {
            return None;
        }
        for batch in retired.iter_mut() {
            let found = batch.series.iter().position(|s| s.attributes.hash() == hash && same(&s.attributes));
            if let Some(index) = found {
                let series = batch.series.swap_remove(index);
                // Relaxed: published by the Release store that links it; a binder that still sees
                // the flag raised looks the set up again and finds it.
                series.unlinking.store(false, Ordering::Relaxed);
                series.idle.store(0, Ordering::Relaxed);
                return Some(series);
            }
        }
        None
    }

    /// Unlinks the series `found` from `slot` (step 2), unless a bound handle holds it. The
    /// caller holds the mutex.
    fn try_unlink(&self, slot: usize, found: *mut Series<A>) -> Option<Arc<Series<A>>> {
        // SAFETY: `found` is linked in `slot` (the caller loaded it under the mutex, which every
        // unlink holds), so the table's reference from `Arc::into_raw` is alive; `ManuallyDrop`
        // keeps this borrow of it from being released unless it is unlinked below.
        let table = ManuallyDrop::new(unsafe { Arc::from_raw(found.cast_const()) });
        if Arc::strong_count(&table) != 1 {
            return None;
        }
        // Relaxed, then SeqCst: pairs with the fence in `still_linked`.
        table.unlinking.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if Arc::strong_count(&table) != 1 {
            table.unlinking.store(false, Ordering::Relaxed);
            return None;
        }
        // Relaxed: readers rely on the Release of the new id that follows (step 3).
        self.slots[slot].store(tombstone(), Ordering::Relaxed);
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(ManuallyDrop::into_inner(table))
    }

    /// Steps 3, 4 and 6 for `series`, just unlinked; the caller holds the mutex (`retired`).
    fn retire(&self, reclaim: &Reclaim<A>, retired: &mut Vec<Retired<A>>, series: Vec<Arc<Series<A>>>) {
        // Release: pairs with the Acquire in `Reclaim::pin`.
        reclaim.cache_id.store(TableId::new().raw(), Ordering::Release);
        let passed = FlagArc::new(AtomicBool::new(false));
        reclaim.grace.when_passed(passed.clone());
        retired.push(Retired { series, passed });
        self.sweep();
    }

    /// Step 6; the caller holds the mutex.
    fn sweep(&self) {
        let mask = self.slots.len() - 1;
        let mut passed_through = vec![false; self.slots.len()];
        for (index, slot) in self.slots.iter().enumerate() {
            // Relaxed: as in `insert_locked`.
            let found = slot.load(Ordering::Relaxed);
            if is_series(found) {
                // SAFETY: linked, and unlinking (the only way to free it) needs the mutex, held.
                let home = unsafe { &*found }.attributes.hash() as usize & mask;
                let mut before = home;
                while before != index {
                    passed_through[before] = true;
                    before = (before + 1) & mask;
                }
            }
        }
        for (slot, needed) in self.slots.iter().zip(passed_through) {
            // Relaxed: an empty slot publishes nothing; see step 6 for why readers are unharmed.
            if !needed && slot.load(Ordering::Relaxed) == tombstone() {
                slot.store(std::ptr::null_mut(), Ordering::Relaxed);
            }
        }
    }

    /// Every series in the table, then the overflow series; `visit` answers whether the series
    /// reported a point. An exporting collection of a reclaiming table also reads the retired
    /// series (delta), frees those whose grace period has passed, and evicts the series idle for
    /// too long (delta): steps 4 and 5.
    pub(crate) fn collect(&self, pass: Pass, mut visit: impl FnMut(&Series<A>, bool) -> bool) {
        // Released before `after_export`, which works under the mutex and would otherwise hold
        // back the grace periods it waits for.
        let pin = self.pin();
        // Relaxed: only collections, which the provider serializes, touch the numbers (step 7).
        let number = self.reclaim.as_ref().map(|reclaim| reclaim.collections.fetch_add(1, Ordering::Relaxed) + 1);
        let first_reading = |series: &Series<A>| number.is_none_or(|n| series.visited.swap(n, Ordering::Relaxed) != n);
        let idle_limit = match (pass, &self.reclaim) {
            (Pass::Export { delta: true }, Some(reclaim)) => reclaim.idle_limit,
            _ => None,
        };
        let mut idle = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            // Acquire as in `probe`.
            let found = slot.load(Ordering::Acquire);
            if !is_series(found) {
                continue;
            }
            // SAFETY: loaded under `pin`, a series.
            let series = unsafe { self.linked(&pin, found) };
            if !first_reading(series) {
                continue;
            }
            let reported = visit(series, false);
            if let Some(limit) = idle_limit {
                // Relaxed: only collections, which the provider serializes, touch it.
                let collections = if reported { 0 } else { series.idle.load(Ordering::Relaxed).saturating_add(1) };
                series.idle.store(collections, Ordering::Relaxed);
                if collections >= limit.get() {
                    idle.push(index);
                }
            }
        }
        drop(pin);
        visit(&self.overflow, true);
        if let (Pass::Export { delta }, Some(reclaim)) = (pass, &self.reclaim) {
            self.after_export(reclaim, delta, idle, |series| {
                let first = first_reading(series);
                if first {
                    visit(series, false);
                }
                first
            });
        }
    }

    /// The end of an exporting collection of a reclaiming table; `read` reads a retired series
    /// unless this collection read it already (false then: step 7).
    fn after_export(
        &self,
        reclaim: &Reclaim<A>,
        delta: bool,
        idle: Vec<usize>,
        mut read: impl FnMut(&Series<A>) -> bool,
    ) {
        let mut retired = reclaim.retired.lock();
        // Acquire: pairs with the Release of `Grace::when_passed`; read before the last reading.
        let mut passed: Vec<bool> = retired.iter().map(|r| r.passed.load(Ordering::Acquire)).collect();
        if delta {
            for (batch, passed) in retired.iter().zip(&mut passed) {
                for series in &batch.series {
                    if !read(series) {
                        // Read earlier in this collection: the next one reads what came since.
                        *passed = false;
                    }
                }
            }
        }
        let mut passed = passed.into_iter();
        retired.retain(|_| !passed.next().unwrap_or(false));
        let limit = reclaim.idle_limit.map_or(u32::MAX, NonZeroU32::get);
        let mut unlinked = Vec::new();
        for slot in idle {
            // Relaxed: as in `insert_locked`. A `forget` may have emptied the slot since the
            // collection read it, and an insert filled it again: only a series still idle goes.
            let found = self.slots[slot].load(Ordering::Relaxed);
            // SAFETY: linked, under the mutex.
            if is_series(found) && unsafe { &*found }.idle.load(Ordering::Relaxed) >= limit {
                unlinked.extend(self.try_unlink(slot, found));
            }
        }
        if !unlinked.is_empty() {
            self.retire(reclaim, &mut retired, unlinked);
        }
        drop(retired);
        reclaim.grace.flush();
    }

    /// Unlinks the series of `set` unless a bound handle holds it.
    pub(crate) fn forget(&self, set: &AttributeSet) -> Forget {
        let Some(reclaim) = &self.reclaim else { return Forget::NotForgettable };
        let mut retired = reclaim.retired.lock();
        let mask = self.slots.len() - 1;
        let mut slot = set.hash() as usize & mask;
        for _ in 0..self.slots.len() {
            // Relaxed: as in `insert_locked`.
            let found = self.slots[slot].load(Ordering::Relaxed);
            if found.is_null() {
                break;
            }
            // SAFETY: linked, under the mutex.
            if is_series(found) && unsafe { &*found }.attributes.same_as(set) {
                let Some(series) = self.try_unlink(slot, found) else { return Forget::Bound };
                if !reclaim.delta {
                    free_passed(&mut retired);
                }
                self.retire(reclaim, &mut retired, vec![series]);
                drop(retired);
                reclaim.grace.flush();
                return Forget::Forgotten;
            }
            slot = (slot + 1) & mask;
        }
        Forget::Absent
    }

    /// Linked series, tombstones, and retired series not yet freed (for tests).
    #[cfg(test)]
    pub(crate) fn census(&self) -> (usize, usize, usize) {
        let (mut linked, mut tombstones) = (0, 0);
        for slot in &self.slots {
            let found = slot.load(Ordering::Acquire);
            linked += usize::from(is_series(found));
            tombstones += usize::from(found == tombstone());
        }
        let retired = self.reclaim.as_ref().map_or(0, |r| r.retired.lock().iter().map(|r| r.series.len()).sum());
        (linked, tombstones, retired)
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::attributes::KeyValue;
    use std::sync::atomic::AtomicU64;

    type Map = SeriesMap<AtomicU64>;

    fn evicting(limit: usize, idle: u32) -> Map {
        SeriesMap::with_reclaim(limit, Some(Reclaim::new(NonZeroU32::new(idle), true)), || AtomicU64::new(0))
    }

    fn set(i: i64) -> [KeyValue; 1] {
        [KeyValue::new("symbol", i)]
    }

    fn add(map: &Map, i: i64, n: u64) {
        map.record(&set(i), n, |cells, n| {
            cells.fetch_add(n, Ordering::Relaxed);
        });
    }

    /// One exporting delta collection: the total read, and the overflow series' share.
    fn export(map: &Map) -> (u64, u64) {
        let (mut total, mut overflowed) = (0, 0);
        map.collect(Pass::Export { delta: true }, |series, overflow| {
            let value = series.cells.swap(0, Ordering::Relaxed);
            total += value;
            if overflow {
                overflowed += value;
            }
            value != 0
        });
        (total, overflowed)
    }

    /// Collections until the retired series are freed: their grace period passes at the pace of
    /// every pinning thread of the process (other tests', preempted on a loaded machine too).
    fn until_freed(map: &Map) -> u64 {
        let mut late = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            late += export(map).0;
            if map.census().2 == 0 {
                return late;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("retired series never freed: {:?}", map.census());
    }

    #[test]
    fn idle_delta_series_are_evicted_and_their_places_reused() {
        let map = evicting(8, 2);
        (0..7).for_each(|i| add(&map, i, 1));
        add(&map, 7, 1);
        assert_eq!((map.census().0, map.overflowed()), (7, 1), "full: the eighth set overflows");
        assert_eq!(export(&map), (8, 1));
        assert_eq!(export(&map), (0, 0), "idle once");
        assert_eq!(map.census(), (7, 0, 0));
        export(&map);
        let (linked, _, retired) = map.census();
        assert_eq!((linked, retired), (0, 7), "idle twice: evicted");
        assert_eq!(until_freed(&map), 0);
        // A new wave fits, and a returning set is a new series counting from zero.
        (10..16).for_each(|i| add(&map, i, 2));
        add(&map, 0, 5);
        assert_eq!(export(&map), (17, 0));
        assert_eq!(map.overflowed(), 1);
        // Chains stay short: no tombstone outlives the sweep unless a chain passes it.
        let (linked, tombstones, _) = map.census();
        assert_eq!(linked, 7);
        assert!(tombstones <= 7, "{tombstones}");
    }

    #[test]
    fn a_value_recorded_while_its_series_is_evicted_is_exported_once() {
        let map = evicting(8, 1);
        add(&map, 1, 1);
        assert_eq!(export(&map), (1, 0));
        // A record that found the series, then waits while the collection evicts it.
        let pin = map.pin();
        let found = map.get(&pin, &set(1));
        assert_eq!(export(&map), (0, 0));
        assert_eq!(map.census().2, 1, "evicted, waiting for the pin");
        found.cells.fetch_add(10, Ordering::Relaxed);
        drop(pin);
        assert_eq!(until_freed(&map), 10);
        // Recorded again: a new series.
        add(&map, 1, 3);
        assert_eq!(export(&map), (3, 0));
    }

    /// The set recorded again while its evicted series waits for its grace period: the same
    /// series is linked again, and the late value and the new one make one point.
    #[test]
    fn a_set_recorded_again_before_its_evicted_series_is_freed_gets_it_back() {
        let map = evicting(8, 1);
        add(&map, 1, 1);
        assert_eq!(export(&map), (1, 0));
        let pin = map.pin();
        let found: *const Series<AtomicU64> = map.get(&pin, &set(1));
        assert_eq!(export(&map), (0, 0));
        // SAFETY (test): `pin` keeps the evicted series allocated.
        unsafe { &*found }.cells.fetch_add(10, Ordering::Relaxed);
        add(&map, 1, 3);
        assert_eq!(map.census(), (1, 0, 0), "relinked");
        assert!(std::ptr::eq(map.get(&pin, &set(1)), found));
        drop(pin);
        let mut points = 0;
        map.collect(Pass::Export { delta: true }, |series, _| {
            let value = series.cells.swap(0, Ordering::Relaxed);
            points += usize::from(value != 0);
            assert!(value == 0 || value == 13, "{value}");
            value != 0
        });
        assert_eq!(points, 1);
    }

    #[test]
    fn bound_series_stay_and_forget_says_why() {
        let map: Map = SeriesMap::with_reclaim(8, Some(Reclaim::new(None, false)), || AtomicU64::new(0));
        add(&map, 1, 1);
        add(&map, 2, 1);
        let bound = map.bind(&set(1));
        let other_set = AttributeSet::from_long(&set(2));
        assert_eq!(map.forget(&AttributeSet::from_long(&set(1))), Forget::Bound);
        assert_eq!(map.forget(&other_set), Forget::Forgotten);
        assert_eq!(map.forget(&other_set), Forget::Absent);
        drop(bound);
        assert_eq!(map.forget(&AttributeSet::from_long(&set(1))), Forget::Forgotten);
        // Cumulative: a forgotten series' values go with it.
        map.collect(Pass::Export { delta: false }, |series, _| series.cells.load(Ordering::Relaxed) != 0);
        assert_eq!(map.census().0, 0);
        let plain = SeriesMap::new(8, || AtomicU64::new(0));
        assert_eq!(plain.forget(&other_set), Forget::NotForgettable);
        // Idle series with a handle are never evicted either.
        let map = evicting(8, 1);
        let bound = map.bind(&set(3));
        export(&map);
        export(&map);
        assert_eq!(map.census().0, 1);
        bound.cells.fetch_add(4, Ordering::Relaxed);
        drop(bound);
        assert_eq!(export(&map), (4, 0));
        export(&map);
        assert_eq!(map.census().0, 0, "evicted once the handle is gone and it idles");
    }

    /// A series forgotten while a collection runs, after that collection read it, is not read
    /// again among the retired series by the same collection (one point per attribute set); what
    /// was recorded into it since comes with the next collection.
    #[test]
    fn a_series_forgotten_during_a_collection_is_read_once_by_it() {
        let map = evicting(8, 5);
        add(&map, 1, 1);
        let mut points = 0;
        map.collect(Pass::Export { delta: true }, |series, overflow| {
            let value = series.cells.swap(0, Ordering::Relaxed);
            if !overflow && value != 0 {
                points += 1;
                if points == 1 {
                    add(&map, 1, 10);
                    assert_eq!(map.forget(&AttributeSet::from_long(&set(1))), Forget::Forgotten);
                }
            }
            value != 0
        });
        assert_eq!(points, 1, "one point for the set");
        assert_eq!(export(&map), (10, 0), "the add after the reading comes with the next collection");
        assert_eq!(export(&map), (0, 0));
    }

    /// A cumulative table that no exporting collection reads (a Prometheus-only provider) frees
    /// what it forgets: the retired series do not pile up.
    #[test]
    fn forgotten_series_are_freed_without_an_exporting_collection() {
        let map: Map = SeriesMap::with_reclaim(8, Some(Reclaim::new(None, false)), || AtomicU64::new(0));
        for i in 0..10_000 {
            add(&map, i, 1);
            assert_eq!(map.forget(&AttributeSet::from_long(&set(i))), Forget::Forgotten);
            map.collect(Pass::Look, |series, _| series.cells.load(Ordering::Relaxed) != 0);
        }
        let (linked, _, retired) = map.census();
        assert_eq!(linked, 0);
        // A grace period holds a few forgets back (more while other tests pin the same collector).
        assert!(retired < 1_000, "{retired} forgotten series still held");
    }

    /// Recorders and binders race the exporting collections that evict their series: every add
    /// is exported exactly once, in a live or a retired series.
    #[test]
    fn racing_records_binds_and_evictions_lose_nothing() {
        const ADDS: u64 = 20_000;
        let map = evicting(64, 1);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let mut exported = 0;
        std::thread::scope(|s| {
            for t in 0..3 {
                let (map, done) = (&map, &done);
                s.spawn(move || {
                    for n in 0..ADDS {
                        let i = (n / 7 + t * 5) as i64 % 40;
                        if n % 64 == 0 {
                            map.bind(&set(i)).cells.fetch_add(1, Ordering::Relaxed);
                        } else {
                            add(map, i, 1);
                        }
                    }
                    done.fetch_add(1, Ordering::Release);
                });
            }
            while done.load(Ordering::Acquire) < 3 {
                exported += export(&map).0;
            }
        });
        exported += until_freed(&map);
        assert_eq!(exported, 3 * ADDS);
        assert_eq!(map.overflowed(), 0);
    }
}

/// The eviction protocol under loom, with `grace`'s stand-in for crossbeam-epoch (which loom
/// cannot see): records, binds and evicting collections race; every value is read exactly once,
/// and a handle is never left on an unlinked series.
#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use crate::attributes::KeyValue;
    use crate::sync::atomic::AtomicU64;
    use loom::thread;

    type Map = SeriesMap<AtomicU64>;

    fn evicting() -> Arc<Map> {
        Arc::new(SeriesMap::with_reclaim(4, Some(Reclaim::new(NonZeroU32::new(1), true)), || AtomicU64::new(0)))
    }

    fn set() -> [KeyValue; 1] {
        [KeyValue::new("k", 1)]
    }

    /// An exporting delta collection's total.
    fn export(map: &Map) -> u64 {
        let mut total = 0;
        map.collect(Pass::Export { delta: true }, |series, _| {
            let value = series.cells.swap(0, Ordering::Relaxed);
            total += value;
            value != 0
        });
        total
    }

    /// A record races the collection that finds its series idle and evicts it: the value lands in
    /// the live series or in the evicted one, which is read once more before it is freed.
    #[test]
    fn loom_a_record_racing_eviction_is_exported_once() {
        loom::model(|| {
            let map = evicting();
            map.record(&set(), 1, |cells, n| {
                cells.fetch_add(n, Ordering::Relaxed);
            });
            let mut total = export(&map);
            let recorder = {
                let map = map.clone();
                thread::spawn(move || {
                    map.record(&set(), 10, |cells, n| {
                        cells.fetch_add(n, Ordering::Relaxed);
                    })
                })
            };
            total += export(&map);
            recorder.join().unwrap();
            // No pin is held now: the stand-in's grace period passes at the next collections.
            for _ in 0..3 {
                total += export(&map);
            }
            assert_eq!(total, 11);
            assert_eq!(map.census().2, 0, "the evicted series is freed");
        });
    }

    /// A bind races the eviction of its series: the handle's series stays linked (or is made
    /// again), so what is added through it later is exported.
    #[test]
    fn loom_a_bind_racing_eviction_keeps_a_linked_series() {
        loom::model(|| {
            let map = evicting();
            map.record(&set(), 1, |cells, n| {
                cells.fetch_add(n, Ordering::Relaxed);
            });
            let mut total = export(&map);
            let binder = {
                let map = map.clone();
                thread::spawn(move || map.bind(&set()))
            };
            total += export(&map);
            let bound = binder.join().unwrap();
            for _ in 0..3 {
                total += export(&map);
            }
            assert_eq!(map.census().0, 1, "the handle's series is linked");
            bound.cells.fetch_add(5, Ordering::Relaxed);
            total += export(&map);
            assert_eq!(total, 6);
        });
    }
}
