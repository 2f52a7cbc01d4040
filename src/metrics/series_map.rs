//! The lock-free map from attribute sets to series: a fixed-capacity open-addressing table of
//! atomic pointers, never resized while it lives.
//!
//! Its capacity follows from the cardinality limit (twice the limit, rounded up to a power of
//! two, so probe chains stay short), and at most `limit − 1` series are in it at once: past that,
//! measurements go to the overflow series `otel.metric.overflow=true`, which exists from the
//! start, and are counted (`overflowed`). Memory is therefore bounded by the limit. Lookups take
//! no lock and never wait: a reader follows the probe chain until it finds its set or an empty
//! slot.
//!
//! A *plain* table never lets a series go: its slots are filled by compare-and-swap and never
//! emptied, so a series found once lives as long as the table. A *reclaiming* table (delta series
//! evicted when idle, or an instrument built `with_forgettable`) unlinks series and frees them after an
//! epoch grace period; its readers pin, its inserts and unlinks are serialized by a mutex, and an
//! unlinked slot becomes a tombstone that lookups probe past. See `reclaim` for its protocol.
//! [`Pin`] ties every series a lookup returns to what keeps it allocated, so the borrow checker
//! holds both kinds of table to their rules.

use std::ptr;
use std::sync::Arc;

use crate::attributes::KeyValue;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::sync::Patience;

use super::attribute_set::{self, AttributeSet, Live};
use super::series_cache::{self, TableId};
use super::stripe;

use crossbeam_utils::CachePadded;

mod grace;
mod inserts;
mod reclaim;

use inserts::Inserts;

pub use reclaim::Forget;
pub(crate) use reclaim::{Pass, Reclaim};

/// The attribute set of the overflow series.
pub const OVERFLOW_KEY: &str = "otel.metric.overflow";

/// One series: its identity, when it began, and its aggregation cells.
pub(crate) struct Series<A> {
    pub attributes: AttributeSet,
    /// Unix nanoseconds when the series was created: the start of its cumulative points.
    pub start_unix_nano: u64,
    pub cells: A,
    /// Reclaiming tables: the exporting collections in a row in which the series reported no
    /// point. Only collections (serialized by the provider) touch it.
    idle: AtomicU32,
    /// Reclaiming tables: the number of the last collection that read the series, so that one
    /// collection reads it once even when it meets it twice (see `reclaim`'s step 7). Only
    /// collections touch it.
    visited: AtomicU64,
    /// Reclaiming tables: raised while the table decides to unlink the series, so that a binder
    /// racing it lets go (see `reclaim`).
    unlinking: AtomicBool,
}

impl<A> Series<A> {
    fn new(attributes: AttributeSet, cells: A) -> Self {
        Series {
            attributes,
            start_unix_nano: unix_nanos(),
            cells,
            idle: AtomicU32::new(0),
            visited: AtomicU64::new(0),
            unlinking: AtomicBool::new(false),
        }
    }
}

/// What a holder of a handle that can bind its set again (the `metrics` recorder) learns of the
/// series: whether it had best let go of the handle.
#[cfg(feature = "metrics")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Standing {
    /// Reported a point at the last exporting collection, or its table never evicts.
    Live,
    /// The last exporting collection found it without a point (only reclaiming tables count
    /// that): it can be evicted once no handle holds it.
    Idle,
    /// The overflow series: the set finds a place of its own once there is room.
    Overflow,
}

#[cfg(feature = "metrics")]
impl<A> Series<A> {
    pub(crate) fn standing(&self) -> Standing {
        if self.attributes.attributes() == [KeyValue::new(OVERFLOW_KEY, true)] {
            Standing::Overflow
        // Relaxed: a hint; eviction checks again under its own protocol.
        } else if self.idle.load(Ordering::Relaxed) > 0 {
            Standing::Idle
        } else {
            Standing::Live
        }
    }
}

/// Unix time in nanoseconds (0 before the epoch, which a working clock never reports).
pub(crate) fn unix_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// What keeps the series a lookup returns allocated while they are borrowed: nothing for a plain
/// table (its series live as long as it does), an epoch pin for a reclaiming one. Made only by
/// [`SeriesMap::pin`]; every lookup borrows one, and what it returns lives no longer.
pub(crate) struct Pin {
    /// The table's identity in the per-thread cache as of this pin: a reclaiming table takes a
    /// new one whenever it unlinks a series, so entries made before never match again.
    id: TableId,
    _guard: Option<grace::Guard>,
}

/// The slot value of an unlinked series in a reclaiming table: never a series' address (an
/// `Arc`'s data lies past its counts, on the heap), never dereferenced.
fn tombstone<A>() -> *mut Series<A> {
    ptr::dangling_mut()
}

/// Whether a slot value is a series (neither empty nor a tombstone).
fn is_series<A>(found: *mut Series<A>) -> bool {
    !found.is_null() && found != tombstone()
}

pub(crate) struct SeriesMap<A> {
    /// Each slot is null, a tombstone, or an `Arc<Series<A>>` turned into a raw pointer, owned by
    /// the table.
    slots: Box<[AtomicPtr<Series<A>>]>,
    /// Series in the table, counting reservations of inserts in progress.
    len: AtomicUsize,
    /// The inserts in progress, for binds (see `inserts`).
    inserts: Inserts,
    limit: usize,
    overflow: Arc<Series<A>>,
    make: Box<dyn Fn() -> A + Send + Sync>,
    /// A plain table in the per-thread cache of resolved series.
    id: TableId,
    /// `None` for a plain table.
    reclaim: Option<Box<Reclaim<A>>>,
    /// Measurements (and binds) sent to the overflow series because the table was full: one
    /// tally per stripe and one for threads in shared mode, so that threads overflowing together
    /// do not fight over one line (as for the overflow series' own cells).
    overflowed: Box<[CachePadded<AtomicU64>]>,
}

impl<A: Send + Sync + 'static> SeriesMap<A> {
    /// A plain map for at most `limit` series (the overflow series included; `limit` ≥ 1).
    #[cfg(test)]
    pub(crate) fn new(limit: usize, make: impl Fn() -> A + Send + Sync + 'static) -> Self {
        Self::with_reclaim(limit, None, make)
    }

    /// A map for at most `limit` series that reclaims them as `reclaim` says, or a plain one.
    pub(crate) fn with_reclaim(
        limit: usize,
        reclaim: Option<Reclaim<A>>,
        make: impl Fn() -> A + Send + Sync + 'static,
    ) -> Self {
        let limit = limit.max(1);
        let capacity = (limit * 2).next_power_of_two().max(4);
        let overflow_set = [KeyValue::new(OVERFLOW_KEY, true)];
        let live = Live::of(&overflow_set);
        let overflow_set = AttributeSet::new(&overflow_set, live, attribute_set::hash(&overflow_set, live));
        SeriesMap {
            slots: (0..capacity).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            len: AtomicUsize::new(0),
            inserts: Inserts::new(),
            limit,
            overflow: Arc::new(Series::new(overflow_set, make())),
            make: Box::new(make),
            id: TableId::new(),
            reclaim: reclaim.map(Box::new),
            overflowed: (0..=stripe::count()).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
        }
    }

    /// Measurements (and binds) sent to the overflow series so far because the table was full.
    pub(crate) fn overflowed(&self) -> u64 {
        // Relaxed: tallies that order nothing. Wrapping: a tally a count was taken back from may
        // be below zero (see `uncount_overflow`).
        self.overflowed.iter().fold(0, |sum, tally| sum.wrapping_add(tally.load(Ordering::Relaxed)))
    }

    /// Whether a new series would find a place now (a hint: others may insert or unlink).
    #[cfg(feature = "metrics")]
    pub(crate) fn has_room(&self) -> bool {
        // Relaxed: a hint.
        self.len.load(Ordering::Relaxed) < self.limit - 1
    }

    /// What keeps the series found under it allocated: see [`Pin`].
    #[inline]
    pub(crate) fn pin(&self) -> Pin {
        match &self.reclaim {
            None => Pin { id: self.id, _guard: None },
            Some(reclaim) => reclaim.pin(),
        }
    }

    /// The series for `attributes`, created on first use (or the overflow series past the limit).
    ///
    /// Callers usually pass the same attributes in the same order every time, from the same
    /// place. So the series this thread last resolved for a slice at this address is tried first
    /// (see `series_cache`); then the table is probed: every pair hashed, and a stored set with
    /// that hash compared with the slice pair by pair. Either way, a stored set has no repeated
    /// key, so a pair-by-pair match proves the slice has none either: no duplicate scan is
    /// needed. Anything else (another order, a repeated key, a new set) takes `get_any_order`
    /// from the first slot whose set has the same hash, or the empty slot that ends the chain.
    pub(crate) fn get<'g>(&'g self, pin: &'g Pin, attributes: &[KeyValue]) -> &'g Series<A> {
        match series_cache::recall(pin.id, attributes) {
            // SAFETY: see `remembered`.
            Some(series) => unsafe { self.remembered(pin, series) },
            None => self.probe(pin, attributes),
        }
    }

    /// Records `value` with `record` into the cells of the series for `attributes`, as [`get`]
    /// finds it. The usual case inlines into the caller: a remembered series whose pairs' values
    /// are static strings, compared by address (no call, so few registers); everything else goes
    /// out of line to `get`. A plain table takes exactly these steps; a reclaiming one takes them
    /// out of line under an epoch pin, held for the record.
    ///
    /// [`get`]: SeriesMap::get
    #[inline]
    pub(crate) fn record<V>(&self, attributes: &[KeyValue], value: V, record: impl FnOnce(&A, V)) {
        if let Some(reclaim) = &self.reclaim {
            return self.record_pinned(reclaim, attributes, value, record);
        }
        match series_cache::recall_strings(self.id, attributes) {
            // SAFETY: see `remembered_plain`.
            Some(series) => record(&unsafe { self.remembered_plain(series) }.cells, value),
            None => self.get_and_record(&self.pin(), attributes, value, record),
        }
    }

    /// `record` for a reclaiming table: the same steps under an epoch pin.
    #[inline(never)]
    fn record_pinned<V>(&self, reclaim: &Reclaim<A>, attributes: &[KeyValue], value: V, record: impl FnOnce(&A, V)) {
        let pin = reclaim.pin();
        match series_cache::recall_strings(pin.id, attributes) {
            // SAFETY: see `remembered`.
            Some(series) => record(&unsafe { self.remembered(&pin, series) }.cells, value),
            None => record(&self.get(&pin, attributes).cells, value),
        }
    }

    #[inline(never)]
    fn get_and_record<V>(&self, pin: &Pin, attributes: &[KeyValue], value: V, record: impl FnOnce(&A, V)) {
        record(&self.get(pin, attributes).cells, value);
    }

    /// A series remembered for this plain table.
    ///
    /// # Safety
    /// The table must be plain (`reclaim` is `None`), and `series` come from `series_cache` under
    /// `self.id`: then it is a pointer given to `remember`, to a series of this table, which
    /// never unlinks it: it lives as long as the table, borrowed here.
    #[expect(clippy::unused_self, reason = "`self` ties the returned reference to the table it points into")]
    #[inline(always)]
    unsafe fn remembered_plain(&self, series: *const ()) -> &Series<A> {
        // SAFETY: as the caller guarantees.
        unsafe { &*series.cast::<Series<A>>() }
    }

    /// A series remembered for this table.
    ///
    /// # Safety
    /// `series` must come from `series_cache` under `pin.id`, looked up while `pin` is held: then
    /// it is a pointer given to `remember` under that id, to a series of this table that was
    /// linked when that id was current (a reclaiming table takes a new id, with Release, after
    /// it unlinks and before it waits for the grace period: see `reclaim`). A plain table's series
    /// live as long as it does; a reclaiming table's are freed only after every pin held when
    /// the id changed is released, so the series outlives `pin`.
    #[expect(clippy::unused_self, reason = "`self` ties the returned reference to the table it points into")]
    #[inline(always)]
    unsafe fn remembered<'g>(&'g self, _pin: &'g Pin, series: *const ()) -> &'g Series<A> {
        // SAFETY: as the caller guarantees.
        unsafe { &*series.cast::<Series<A>>() }
    }

    /// The series a non-null, non-tombstone slot value points to.
    ///
    /// # Safety
    /// `found` must have been loaded (with Acquire) from one of this table's slots while `pin`
    /// was held, and be a series (`is_series`): slots hold pointers from `Arc::into_raw` that the
    /// table owns until it unlinks them, and an unlinked series is freed only after the grace
    /// period that every pin held at the unlink must end (see `reclaim`), or with the table.
    #[expect(clippy::unused_self, reason = "`self` ties the returned reference to the table it points into")]
    #[inline(always)]
    unsafe fn linked<'g>(&'g self, _pin: &'g Pin, found: *mut Series<A>) -> &'g Series<A> {
        // SAFETY: as the caller guarantees.
        unsafe { &*found }
    }

    /// `get` past the per-thread cache.
    fn probe<'g>(&'g self, pin: &'g Pin, attributes: &[KeyValue]) -> &'g Series<A> {
        if attributes.len() > attribute_set::INLINE {
            return self.get_long(pin, attributes);
        }
        let hash = attribute_set::hash_all(attributes);
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        // At most one lap: a reclaiming table may, rarely, hold no empty slot (see `reclaim`).
        for _ in 0..self.slots.len() {
            // Acquire pairs with the Release of the store or CAS that put the series there: a
            // series pointer comes with the fully built series it points to.
            let found = self.slots[slot].load(Ordering::Acquire);
            if found.is_null() {
                return self.get_any_order(pin, attributes, hash, slot);
            }
            if is_series(found) {
                // SAFETY: loaded under `pin`, a series.
                let series = unsafe { self.linked(pin, found) };
                if series.attributes.hash() == hash {
                    if series.attributes.is_exactly(attributes) {
                        series_cache::remember(pin.id, attributes, found.cast_const().cast());
                        return series;
                    }
                    return self.get_any_order(pin, attributes, hash, slot);
                }
            }
            slot = (slot + 1) & mask;
        }
        self.get_any_order(pin, attributes, hash, slot)
    }

    /// The series for `attributes` in any order, a repeated key keeping its last value. `hash`
    /// is the hash of all the pairs, which is the set's when no key repeats; `get` stopped probing
    /// for it at `stopped`, having passed only slots of other hashes.
    #[cold]
    #[inline(never)]
    fn get_any_order<'g>(&'g self, pin: &'g Pin, attributes: &[KeyValue], hash: u64, stopped: usize) -> &'g Series<A> {
        let live = Live::of(attributes);
        let mask = self.slots.len() - 1;
        let (hash, slot) = if live.count() == attributes.len() {
            (hash, stopped)
        } else {
            let hash = attribute_set::hash(attributes, live);
            (hash, hash as usize & mask)
        };
        self.get_live(pin, attributes, live, hash, slot)
    }

    /// The series of the `live` pairs of `attributes`, whose hash is `hash`, probing from `slot`.
    fn get_live<'g>(
        &'g self,
        pin: &'g Pin,
        attributes: &[KeyValue],
        live: Live,
        hash: u64,
        mut slot: usize,
    ) -> &'g Series<A> {
        let mask = self.slots.len() - 1;
        let same = |s: &AttributeSet| s.hash() == hash && s.matches(attributes, live);
        for _ in 0..self.slots.len() {
            // Acquire as in `probe`.
            let found = self.slots[slot].load(Ordering::Acquire);
            if found.is_null() {
                break;
            }
            if is_series(found) {
                // SAFETY: loaded under `pin`, a series.
                let series = unsafe { self.linked(pin, found) };
                if same(&series.attributes) {
                    return series;
                }
            }
            slot = (slot + 1) & mask;
        }
        self.insert(pin, slot, hash, || AttributeSet::new(attributes, live, hash), same)
    }

    /// A shared handle to the series for `attributes`, for bound instruments.
    pub(crate) fn bind(&self, attributes: &[KeyValue]) -> Arc<Series<A>> {
        self.bind_found(|map, pin| map.get(pin, attributes))
    }

    /// A shared handle to the series for the pairs of `attributes` whose keys `keeps` accepts,
    /// for bound instruments of a stream with an attribute filter.
    pub(crate) fn bind_kept(&self, attributes: &[KeyValue], keeps: impl Fn(&str) -> bool) -> Arc<Series<A>> {
        self.bind_found(|map, pin| map.get_kept(pin, attributes, &keeps))
    }

    /// A shared handle to the series `find` looks up. A handle keeps its series for good, so it
    /// takes the overflow series only from a lookup that no insert could have misled (see
    /// `inserts`; the count of a misled one is taken back), and never a series being unlinked.
    fn bind_found(&self, find: impl for<'g> Fn(&'g Self, &'g Pin) -> &'g Series<A>) -> Arc<Series<A>> {
        let mut patience = Patience::new();
        loop {
            let before = self.inserts.now();
            let pin = self.pin();
            let series = find(self, &pin);
            if ptr::eq(series, Arc::as_ptr(&self.overflow)) && !self.inserts.settled_since(before) {
                self.uncount_overflow();
                drop(pin);
                self.inserts.wait_settled();
                continue;
            }
            if let Some(shared) = self.shared(series) {
                return shared;
            }
            patience.wait();
        }
    }

    /// [`record`](SeriesMap::record) into the series of the pairs of `attributes` whose keys
    /// `keeps` accepts (a view's attribute filter; a table is always resolved through the same
    /// filter, or none). The per-thread cache remembers the caller's whole slice: the same pairs
    /// filtered the same way are the same series, so a remembered slice costs what it costs
    /// without a filter, and the filter runs only when the cache misses.
    #[inline]
    pub(crate) fn record_kept<V>(
        &self,
        attributes: &[KeyValue],
        keeps: impl Fn(&str) -> bool,
        value: V,
        record: impl FnOnce(&A, V),
    ) {
        if self.reclaim.is_some() {
            return self.record_kept_pinned(attributes, keeps, value, record);
        }
        match series_cache::recall_strings(self.id, attributes) {
            // SAFETY: see `remembered_plain`.
            Some(series) => record(&unsafe { self.remembered_plain(series) }.cells, value),
            None => record(&self.get_kept(&self.pin(), attributes, keeps).cells, value),
        }
    }

    /// `record_kept` for a reclaiming table: the same steps under an epoch pin.
    #[inline(never)]
    fn record_kept_pinned<V>(
        &self,
        attributes: &[KeyValue],
        keeps: impl Fn(&str) -> bool,
        value: V,
        record: impl FnOnce(&A, V),
    ) {
        let pin = self.pin();
        match series_cache::recall_strings(pin.id, attributes) {
            // SAFETY: see `remembered`.
            Some(series) => record(&unsafe { self.remembered(&pin, series) }.cells, value),
            None => record(&self.get_kept(&pin, attributes, keeps).cells, value),
        }
    }

    /// `get` for a table with an attribute filter: the kept pairs are the live ones (neither
    /// repeated later in the slice nor removed by the filter), resolved in any order.
    #[inline(never)]
    fn get_kept<'g>(&'g self, pin: &'g Pin, attributes: &[KeyValue], keeps: impl Fn(&str) -> bool) -> &'g Series<A> {
        if let Some(series) = series_cache::recall(pin.id, attributes) {
            // SAFETY: see `remembered`.
            return unsafe { self.remembered(pin, series) };
        }
        if attributes.len() > attribute_set::INLINE {
            let kept: Vec<KeyValue> = attributes.iter().filter(|kv| keeps(kv.key.as_str())).cloned().collect();
            return self.get_long(pin, &kept);
        }
        let live = Live::of(attributes).keeping(attributes, |kv| keeps(kv.key.as_str()));
        let hash = attribute_set::hash(attributes, live);
        let series = self.get_live(pin, attributes, live, hash, hash as usize & (self.slots.len() - 1));
        let found: *const Series<A> = series;
        // Never the overflow series: a set sent there, remembered, went on there uncounted
        // (`overflowed`), and for good where a race had sent it there while the table had room
        // (an insert that lost its place to a concurrent one); `probe` remembers exact matches only.
        if !ptr::eq(found, Arc::as_ptr(&self.overflow)) {
            series_cache::remember(pin.id, attributes, found.cast());
        }
        series
    }

    /// A shared handle to `series`, one of this table's found under a pin; `None` when a
    /// reclaiming table is unlinking it (the caller looks it up again).
    fn shared(&self, series: &Series<A>) -> Option<Arc<Series<A>>> {
        let series: *const Series<A> = series;
        if ptr::eq(series, Arc::as_ptr(&self.overflow)) {
            return Some(self.overflow.clone());
        }
        // SAFETY: `series` came from a slot, so it is an `Arc::into_raw` pointer; the caller's pin
        // keeps its allocation, and the table's reference with it, alive; incrementing the count
        // first makes the `from_raw` below a new, separately owned reference.
        let shared = unsafe {
            Arc::increment_strong_count(series);
            Arc::from_raw(series)
        };
        match &self.reclaim {
            None => Some(shared),
            Some(_) => reclaim::still_linked(shared),
        }
    }

    #[cold]
    fn get_long<'g>(&'g self, pin: &'g Pin, attributes: &[KeyValue]) -> &'g Series<A> {
        let set = AttributeSet::from_long(attributes);
        let mask = self.slots.len() - 1;
        let mut slot = set.hash() as usize & mask;
        for _ in 0..self.slots.len() {
            // Acquire as in `probe`.
            let found = self.slots[slot].load(Ordering::Acquire);
            if found.is_null() {
                break;
            }
            if is_series(found) {
                // SAFETY: loaded under `pin`, a series.
                let series = unsafe { self.linked(pin, found) };
                if series.attributes.same_as(&set) {
                    return series;
                }
            }
            slot = (slot + 1) & mask;
        }
        let hash = set.hash();
        self.insert(pin, slot, hash, || AttributeSet::from_long(attributes), |s| s.same_as(&set))
    }

    /// Inserts a new series for the set `make_set` builds (whose hash is `hash`, and which `same`
    /// recognises), unless the limit is reached or another thread inserts the same set first. A
    /// plain table's lookup stopped at the empty slot `slot`; a reclaiming table inserts under
    /// its mutex instead (see `reclaim`).
    #[cold]
    fn insert<'g>(
        &'g self,
        pin: &'g Pin,
        slot: usize,
        hash: u64,
        make_set: impl FnOnce() -> AttributeSet,
        same: impl Fn(&AttributeSet) -> bool,
    ) -> &'g Series<A> {
        match &self.reclaim {
            None => self.insert_free(pin, slot, make_set, same),
            Some(reclaim) => self.insert_locked(reclaim, pin, hash, make_set, same),
        }
    }

    /// The overflow series, counting the measurement that goes to it for want of room.
    fn overflow_series(&self) -> &Series<A> {
        // Relaxed: a tally.
        self.overflowed[self.overflow_tally()].fetch_add(1, Ordering::Relaxed);
        &self.overflow
    }

    /// Takes back the count [`overflow_series`](Self::overflow_series) made for a lookup whose
    /// answer a bind does not keep (see `bind_found`). The tallies are summed wrapping, so one
    /// taken back from another tally than it went to (the thread took a stripe in between) still
    /// leaves the sum right.
    fn uncount_overflow(&self) {
        // Relaxed: a tally.
        self.overflowed[self.overflow_tally()].fetch_sub(1, Ordering::Relaxed);
    }

    /// This thread's overflow tally: its stripe's, or the shared one.
    fn overflow_tally(&self) -> usize {
        let shared = self.overflowed.len() - 1;
        stripe::owned_slot().map_or(shared, |slot| slot.min(shared))
    }

    /// A plain table's insert: lock-free, at the first empty slot from `slot` on.
    fn insert_free<'g>(
        &'g self,
        pin: &'g Pin,
        mut slot: usize,
        make_set: impl FnOnce() -> AttributeSet,
        same: impl Fn(&AttributeSet) -> bool,
    ) -> &'g Series<A> {
        // Reserve a place under the limit first, so concurrent inserts can never exceed it (the
        // plain load first keeps measurements past the limit off the shared counter's line).
        // SeqCst: the count guards no memory (the slots' own CAS publishes the series), but a
        // bind reads it in the order of `inserts`' steps (`inserts`, step 3).
        if self.len.load(Ordering::SeqCst) >= self.limit - 1 {
            return self.overflow_series();
        }
        let _in_progress = self.inserts.begin();
        if self.len.fetch_add(1, Ordering::SeqCst) >= self.limit - 1 {
            self.len.fetch_sub(1, Ordering::Relaxed);
            return self.overflow_series();
        }
        let new = Arc::into_raw(Arc::new(Series::new(make_set(), (self.make)()))).cast_mut();
        let mask = self.slots.len() - 1;
        loop {
            // Release publishes the series built above to readers' Acquire loads; Acquire on
            // failure lets us read the series another thread put there.
            match self.slots[slot].compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
                // SAFETY: `new` is now owned by the table, which never unlinks it.
                Ok(_) => return unsafe { self.linked(pin, new) },
                Err(winner) => {
                    // SAFETY: a plain table's slots only ever go from null to a series.
                    let winner = unsafe { self.linked(pin, winner) };
                    if same(&winner.attributes) {
                        self.len.fetch_sub(1, Ordering::Relaxed);
                        // SAFETY: `new` was never published; this is its only reference.
                        drop(unsafe { Arc::from_raw(new) });
                        return winner;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
    }

    /// Every series in the table, then the overflow series, as an in-process view reads them.
    #[cfg(test)]
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&Series<A>, bool)) {
        self.collect(Pass::Look, |series, overflow| {
            visit(series, overflow);
            true
        });
    }
}

impl<A> Drop for SeriesMap<A> {
    fn drop(&mut self) {
        for slot in &self.slots {
            // Relaxed: `&mut self` means no other thread reaches the table any more.
            let found = slot.load(Ordering::Relaxed);
            if is_series(found) {
                // SAFETY: each series slot holds one reference from `Arc::into_raw`, released
                // exactly once here; bound handles hold their own references. (Unlinked series
                // are `Reclaim`'s, dropped with it.)
                drop(unsafe { Arc::from_raw(found) });
            }
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::attributes::Text;
    use std::sync::atomic::AtomicU64;

    fn kv(i: u64) -> [KeyValue; 2] {
        [KeyValue::new("venue", "XNAS"), KeyValue::new("id", i as i64)]
    }

    #[test]
    fn same_set_same_series_and_overflow_past_the_limit() {
        let map = SeriesMap::new(4, || AtomicU64::new(0));
        let pin = map.pin();
        let a: *const _ = map.get(&pin, &kv(1));
        let b: *const _ = map.get(&pin, &[KeyValue::new("id", 1), KeyValue::new("venue", "XNAS")]);
        assert!(ptr::eq(a, b));
        // A repeated key keeps its last value, whether the slice is in the stored order or not.
        let [venue, id] = kv(1);
        let c: *const _ = map.get(&pin, &[venue.clone(), KeyValue::new("id", 9), id.clone()]);
        let d: *const _ = map.get(&pin, &[KeyValue::new("id", 9), id, KeyValue::new("venue", "BATS"), venue]);
        assert!(ptr::eq(a, c) && ptr::eq(a, d));
        map.get(&pin, &kv(2));
        map.get(&pin, &kv(3));
        // Three real series (limit − 1); the fourth set goes to the overflow series.
        let fourth = map.get(&pin, &kv(4));
        assert_eq!(fourth.attributes.attributes(), &[KeyValue::new(OVERFLOW_KEY, true)]);
        let mut seen = 0;
        map.for_each(|_, overflow| seen += usize::from(!overflow));
        assert_eq!(seen, 3);
        let bound = map.bind(&kv(1));
        assert!(ptr::eq(Arc::as_ptr(&bound), a));
        drop(pin);
        drop(map);
        // The handle outlives the table.
        assert_eq!(bound.attributes.attributes().len(), 2);
    }

    /// The per-thread cache of resolved series is keyed by the slice's address: whatever the slice
    /// holds at that address later, recording finds the series of what it holds now.
    #[test]
    fn a_reused_slice_resolves_what_it_holds_now() {
        let map = SeriesMap::new(100, || AtomicU64::new(0));
        let other_map = SeriesMap::new(100, || AtomicU64::new(0));
        let add = |map: &SeriesMap<AtomicU64>, attributes: &[KeyValue], n: u64| {
            map.record(attributes, n, |cells, n| {
                cells.fetch_add(n, Ordering::Relaxed);
            });
        };
        let total = |map: &SeriesMap<AtomicU64>, attributes: &[KeyValue]| {
            map.get(&map.pin(), attributes).cells.load(Ordering::Relaxed)
        };
        let shared = |s: &str| Text::Shared(Arc::from(s));

        let mut slot = [KeyValue::new("side", "buy"), KeyValue::new("qty", 100)];
        for _ in 0..3 {
            add(&map, &slot, 1);
        }
        // Static keys and scalar or static string values: remembered for this thread.
        assert!(series_cache::recall(map.pin().id, &slot).is_some());
        // Same address, another value; then a repeated key; then fewer pairs.
        slot[1] = KeyValue::new("qty", 200);
        add(&map, &slot, 10);
        slot[1] = KeyValue::new("side", "sell");
        add(&map, &slot, 100);
        add(&map, &slot[..1], 1000);
        // Equal strings that are other copies (another shared allocation) find the same series.
        slot = [KeyValue::new(shared("side"), shared("buy")), KeyValue::new("qty", 100)];
        add(&map, &slot, 10_000);
        // One slice, two tables.
        add(&other_map, &slot, 7);

        assert_eq!(total(&map, &[KeyValue::new("qty", 100), KeyValue::new("side", "buy")]), 10_003);
        assert_eq!(total(&map, &[KeyValue::new("side", "buy"), KeyValue::new("qty", 200)]), 10);
        assert_eq!(total(&map, &[KeyValue::new("side", "sell")]), 100);
        assert_eq!(total(&map, &[KeyValue::new("side", "buy")]), 1000);
        assert_eq!(total(&other_map, &[KeyValue::new("side", "buy"), KeyValue::new("qty", 100)]), 7);
        let mut series = 0;
        map.for_each(|_, overflow| series += usize::from(!overflow));
        assert_eq!(series, 4);
    }

    /// A filtered table past its limit counts every measurement sent to the overflow series:
    /// until session 39 the first was remembered for the slice, and the later ones went there
    /// uncounted, the stderr report of overflows short by all of them.
    #[test]
    fn a_filtered_table_counts_every_measurement_past_its_limit() {
        let map = SeriesMap::new(3, || AtomicU64::new(0));
        let keeps = |key: &str| key != "order.id";
        let add = |attributes: &[KeyValue]| {
            map.record_kept(attributes, keeps, 1, |cells, n| {
                cells.fetch_add(n, Ordering::Relaxed);
            });
        };
        add(&[KeyValue::new("venue", "XNAS"), KeyValue::new("order.id", 1)]);
        add(&[KeyValue::new("venue", "BATS"), KeyValue::new("order.id", 2)]);
        let past = [KeyValue::new("venue", "IEXG"), KeyValue::new("order.id", 3)];
        for _ in 0..10 {
            add(&past);
        }
        assert_eq!(map.overflowed(), 10);
        let mut overflow_total = 0;
        map.for_each(|series, overflow| {
            if overflow {
                overflow_total = series.cells.load(Ordering::Relaxed);
            }
        });
        assert_eq!(overflow_total, 10);
    }

    /// A table with an attribute filter remembers the caller's whole slice: whatever the slice
    /// holds later, a record lands in the series of the pairs kept from what it holds now.
    #[test]
    fn a_filtered_table_resolves_the_kept_pairs_of_what_the_slice_holds_now() {
        let map = SeriesMap::new(100, || AtomicU64::new(0));
        let keeps = |key: &str| key != "order.id";
        let add = |attributes: &[KeyValue], n: u64| {
            map.record_kept(attributes, keeps, n, |cells, n| {
                cells.fetch_add(n, Ordering::Relaxed);
            });
        };
        let mut slot = [KeyValue::new("venue", "XNAS"), KeyValue::new("order.id", 1)];
        add(&slot, 1);
        add(&slot, 1);
        assert!(series_cache::recall(map.pin().id, &slot).is_some(), "remembered");
        // Another removed value: the same series. Another kept value: another one.
        slot[1] = KeyValue::new("order.id", 2);
        add(&slot, 10);
        slot[0] = KeyValue::new("venue", "BATS");
        add(&slot, 100);
        // A repeated key keeps its last value before the filter applies.
        add(&[KeyValue::new("venue", "XNAS"), KeyValue::new("order.id", 3), KeyValue::new("venue", "BATS")], 1000);
        let bound = map.bind_kept(&[KeyValue::new("order.id", 4), KeyValue::new("venue", "XNAS")], keeps);
        bound.cells.fetch_add(10_000, Ordering::Relaxed);
        let mut totals = Vec::new();
        map.for_each(|series, overflow| {
            if !overflow {
                totals.push((series.attributes.attributes().to_vec(), series.cells.load(Ordering::Relaxed)));
            }
        });
        totals.sort_by_key(|(_, total)| *total);
        assert_eq!(
            totals,
            [(vec![KeyValue::new("venue", "BATS")], 1100), (vec![KeyValue::new("venue", "XNAS")], 10_012)]
        );
    }

    #[test]
    fn racing_inserts_make_one_series_per_set() {
        let map = SeriesMap::new(2000, || AtomicU64::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..500 {
                        map.get(&map.pin(), &kv(i)).cells.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let (mut series, mut total) = (0, 0);
        map.for_each(|s, _| {
            series += 1;
            total += s.cells.load(Ordering::Relaxed);
        });
        assert_eq!((series, total), (501, 2000));
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use crate::sync::atomic::AtomicU64;
    use loom::thread;

    /// Two threads resolve two sets whose probes start at the same slot, in opposite orders, and
    /// add one to each: the inserts race on one slot for the same set and for different sets.
    /// Each set ends with one series, holding both adds.
    ///
    /// The limit (three series besides the overflow one) is kept out of the race's reach: at a
    /// limit of two, a thread that finds the count raised by another's insert of a set already
    /// there (a reservation about to be handed back) sends its own new set to the overflow series
    /// although room remains, so that set's measurements are split between the two (a bind looks
    /// again: see the models below).
    #[test]
    fn loom_one_series_per_set_and_exact_counts() {
        loom::model(|| {
            let map = Arc::new(SeriesMap::new(4, || AtomicU64::new(0)));
            let mask = map.slots.len() as u64 - 1;
            let set = |i: i64| [KeyValue::new("k", i)];
            let first_slot = |i: i64| attribute_set::hash_all(&set(i)) & mask;
            let other = (1..).find(|&i| first_slot(i) == first_slot(0)).unwrap_or(1);
            let threads: Vec<_> = [[0, other], [other, 0]]
                .into_iter()
                .map(|order| {
                    let map = map.clone();
                    thread::spawn(move || {
                        for i in order {
                            map.get(&map.pin(), &set(i)).cells.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|thread| thread.join().unwrap());
            let mut series = Vec::new();
            map.for_each(|s, overflow| series.push((overflow, s.cells.load(Ordering::Relaxed))));
            assert_eq!(series, [(false, 2), (false, 2), (true, 0)]);
        });
    }

    /// Whether a bound handle went to the overflow series.
    fn overflowed<A>(map: &SeriesMap<A>, bound: &Arc<Series<A>>) -> bool {
        Arc::ptr_eq(bound, &map.overflow)
    }

    /// Two threads bind the same set into a table with room for exactly one series: whichever
    /// inserts it, both handles hold that series. (A binder that met the count raised by the
    /// other's insert, before or after its series was linked, once kept the overflow series for
    /// good.)
    #[test]
    fn loom_binds_of_one_set_at_the_limit_share_its_series() {
        loom::model(|| {
            let map = Arc::new(SeriesMap::new(2, || AtomicU64::new(0)));
            let other = {
                let map = map.clone();
                thread::spawn(move || map.bind(&[KeyValue::new("k", 1)]))
            };
            let mine = map.bind(&[KeyValue::new("k", 1)]);
            let theirs = other.join().unwrap();
            assert!(!overflowed(&map, &mine) && Arc::ptr_eq(&mine, &theirs));
            assert_eq!(map.overflowed(), 0, "a misled lookup's count is taken back");
        });
    }

    /// A set bound just after its binder lost a race for another set finds the room left for
    /// it: the winner's reservation about to be handed back is not a full table.
    #[test]
    fn loom_a_bind_beside_a_returned_reservation_finds_room() {
        loom::model(|| {
            let map = Arc::new(SeriesMap::new(3, || AtomicU64::new(0)));
            let other = {
                let map = map.clone();
                thread::spawn(move || drop(map.bind(&[KeyValue::new("k", 1)])))
            };
            drop(map.bind(&[KeyValue::new("k", 1)]));
            let mine = map.bind(&[KeyValue::new("k", 2)]);
            other.join().unwrap();
            assert!(!overflowed(&map, &mine));
            assert_eq!(map.overflowed(), 0, "a misled lookup's count is taken back");
        });
    }
}
