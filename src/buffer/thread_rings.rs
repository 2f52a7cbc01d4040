//! Per thread and provider, a bounded ring (see [`super::ring`]) that items wait in until the
//! exporter thread drains them: what the span recorder and the log buffers have in common.
//!
//! # Protocol
//!
//! Offering an item touches only the calling thread's side: no lock, no allocation, no wait; a full
//! ring drops the item and counts it.
//!
//! A thread's first item for a provider gives the thread a side: a spare one, left by a thread
//! that has exited, or a new one (its ring and whatever else the owner keeps per thread, such as
//! the span slab). A new ring's consuming end is handed to the drain through a lock-free queue
//! (`joining`), so registering never waits for a drain in progress, however long the drain takes.
//! A new side that cannot be allocated (out of memory) is no side: the thread's items are dropped
//! and counted, and it tries again after [`RETRY_ALLOCATION_AFTER`] of them.
//! When a thread exits, its sides go back to their owners' spare lists with whatever their rings
//! still hold, for the drain to take and the next thread to push behind: memory grows with the
//! number of threads alive at once, never with how many came and went.
//!
//! While no pipeline drains the rings (the last one attached has shut down), items are counted
//! as dropped at shutdown instead of offered: see [`Rings::is_closed`].
//!
//! An owner outlives its provider while its `Local`s hold it (a span slab keeps its recorder for
//! the spans that are still open), and it holds its spare sides, `Local`s included: a cycle. So
//! when the provider goes it [retires](Rings::retire) the rings: the spare sides and what the
//! rings hold are dropped, and from then on a side its thread gives back (at exit, or when it next
//! registers) is dropped with what its ring holds rather than kept. A side given back at the very
//! moment of retirement is found by one or the other: each side stores its own flag (the side in
//! the spare list, the retiring thread the flag), then a `SeqCst` fence, then reads the other's.

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

// What the retirement handshake uses (see the module's protocol), which the loom model explores.
use crate::sync::atomic::{fence as handshake_fence, AtomicBool as HandshakeFlag};
use std::thread::LocalKey;

use crossbeam_queue::SegQueue;
use parking_lot::Mutex;

use super::ring::{ring, Consumer, Producer};

/// Where rings count the items offered to them after the last pipeline draining them shut down,
/// as dropped at shutdown (the pipeline's `export::LateDrops`). Usable from any thread.
pub(crate) trait LateCounter: Send + Sync + 'static {
    /// Counts `items` dropped because no pipeline drains the rings any more.
    fn count(&self, items: u64);
}

/// What owns one provider's per-thread rings: the span recorder, the log buffers.
pub(crate) trait RingOwner: Sized + 'static {
    /// What the rings hold.
    type Item: Send;
    /// What a thread keeps beside its ring's producing end (the span slab); it goes to the next
    /// thread with the ring.
    type Local: Send;
    /// What a drain holds while it pops items (the span slabs count their slots' frees together
    /// while it lives); dropped when the drain ends.
    type DrainScope;

    /// The owner's rings.
    fn rings(&self) -> &Rings<Self>;

    /// The thread-local list of this kind of owner's thread sides, one per owner the thread used.
    fn threads() -> &'static LocalKey<RefCell<ThreadSides<Self>>>;

    /// The thread-local memory of which side this thread used last (a thread-local without a
    /// destructor, so that reaching it is one address computation).
    fn last() -> &'static LocalKey<LastSide<Self>>;

    /// A new side's `Local` part, beside a ring of `capacity`; `None` when it cannot be allocated.
    fn new_local(owner: &Arc<Self>, capacity: usize) -> Option<Self::Local>;

    /// Whether a thread's ring (and whatever `new_local` makes) is written whole when made, so
    /// that no later item takes a page fault for it (see `backing`).
    fn backs_pages(&self) -> bool {
        false
    }

    /// Called as a drain begins, on the draining thread.
    fn begin_drain() -> Self::DrainScope;
}

/// The consuming ends of one owner's rings.
pub(crate) struct Rings<O: RingOwner> {
    capacity: usize,
    /// New rings' consuming ends, until the next drain moves them into `consumers`.
    joining: SegQueue<Consumer<O::Item>>,
    /// Taken by drains only (one at a time), never by the threads that offer items.
    consumers: Mutex<Consumers<O>>,
    /// Sides of threads that have exited, for the next thread to take.
    spare: SegQueue<Box<ThreadRing<O>>>,
    /// Items offered while their thread's locals were being torn down (dropped).
    orphaned: AtomicU64,
    /// Items offered by a thread whose side could not be allocated (dropped).
    unallocated: AtomicU64,
    /// Items offered by a thread while it was making its side: from inside an allocation the
    /// making did (a global allocator that records). Dropped, and counted as a full ring's.
    reentered: AtomicU64,
    /// Which thread drains now (its [`this_thread`] mark; 0 when none): a drain called from inside
    /// a drain's sink on the same thread takes nothing, rather than wait for itself.
    draining: AtomicUsize,
    /// Set while no pipeline drains the rings: items are then counted in `late`, not offered.
    closed: AtomicBool,
    /// Set once the provider is gone (see the module's protocol).
    retired: HandshakeFlag,
    late: Late,
}

struct Consumers<O: RingOwner> {
    /// Each ring ever made (one per side).
    list: Vec<Consumer<O::Item>>,
    /// Where the next drain starts, so a limited drain serves every thread in turn.
    next: usize,
    reported_orphans: u64,
    reported_unallocated: u64,
    reported_reentered: u64,
}

/// One thread's side of one owner's rings.
pub(crate) struct ThreadRing<O: RingOwner> {
    owner: Weak<O>,
    pub(crate) producer: Producer<O::Item>,
    pub(crate) local: O::Local,
}

impl<O: RingOwner> Rings<O> {
    /// No rings yet; each will have at least `capacity` slots.
    pub(crate) fn new(capacity: usize) -> Rings<O> {
        Rings {
            capacity,
            joining: SegQueue::new(),
            consumers: Mutex::new(Consumers {
                list: Vec::new(),
                next: 0,
                reported_orphans: 0,
                reported_unallocated: 0,
                reported_reentered: 0,
            }),
            spare: SegQueue::new(),
            orphaned: AtomicU64::new(0),
            unallocated: AtomicU64::new(0),
            reentered: AtomicU64::new(0),
            draining: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            retired: HandshakeFlag::new(false),
            late: Late { state: Mutex::new(LateState { attached: 0, drops: None }), pending: AtomicU64::new(0) },
        }
    }

    /// Notes one more pipeline draining these rings: items are offered again, if they were
    /// counted as late.
    pub(crate) fn attach(&self) {
        self.late.change(|state| {
            state.attached += 1;
            // Relaxed: the pipeline's own channels order what it drains after attaching.
            self.closed.store(false, Ordering::Relaxed);
        });
    }

    /// Notes that a pipeline draining these rings shut down (`late`: where it counts what comes
    /// too late for it) or never took them on (`None`). When none is left, whatever is offered
    /// from then on is counted with the last `late` (dropped at shutdown) instead, until a
    /// pipeline is attached again: nothing would drain it. (An item whose offer races with this,
    /// reading "not closed" just before and reaching its ring just after the last drain, stays
    /// uncounted: a window of a few instructions.)
    pub(crate) fn detach(&self, late: Option<Box<dyn LateCounter>>) {
        self.late.change(|state| {
            state.attached -= 1;
            if let (0, Some(late)) = (state.attached, late) {
                state.drops = Some(late);
                // Release pairs with the Acquire in `is_closed`; the drops are set first.
                self.closed.store(true, Ordering::Release);
            }
        });
    }

    /// Whether no pipeline drains these rings (the last one shut down): an item must then be
    /// counted with [`Rings::count_late`] rather than offered.
    #[inline(always)]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire pairs with the Release in `detach`.
        self.closed.load(Ordering::Acquire)
    }

    /// Asks for the line [`Rings::is_closed`] reads (x86-64; elsewhere nothing): an item's
    /// writer that knows the rings before it has found its side (a span's start, through its
    /// tracer) has the line arrive with the side's instead of after it (benches/README.md,
    /// `cold`, session 30).
    #[inline(always)]
    pub(crate) fn prefetch_closed(&self) {
        prefetch(std::ptr::from_ref(&self.closed).cast());
    }

    /// Counts `items` dropped because no pipeline drains the rings (see [`Rings::is_closed`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn count_late(&self, items: u64) {
        self.late.count(items);
    }

    /// The provider is gone: nothing will drain the rings again. Drops the spare sides and what
    /// the rings hold, and closes them, so that items offered from now on are counted as late
    /// (when a pipeline had drained them) instead of offered. See the module's protocol.
    pub(crate) fn retire(&self) {
        // Release pairs with the Acquire in `is_closed`.
        self.closed.store(true, Ordering::Release);
        self.retired.store(true, Ordering::Relaxed);
        // Pairs with the fence in `give_back` (see the module's protocol).
        handshake_fence(Ordering::SeqCst);
        self.discard();
    }

    /// Whether the provider is gone.
    fn is_retired(&self) -> bool {
        // Relaxed: set once, and the fences of `retire` and `give_back` order what depends on it.
        self.retired.load(Ordering::Relaxed)
    }

    /// Drops every spare side and every item the rings hold.
    fn discard(&self) {
        while let Some(side) = self.spare.pop() {
            drop(side);
        }
        let mut consumers = self.consumers.lock();
        while let Some(joined) = self.joining.pop() {
            consumers.list.push(joined);
        }
        for consumer in &mut consumers.list {
            while let Some(item) = consumer.pop() {
                drop(item);
            }
        }
    }

    /// Takes back the side of a thread that no longer uses it: spare for the next thread, or
    /// dropped (with what its ring holds) when the provider is gone.
    fn give_back(&self, side: Box<ThreadRing<O>>) {
        if self.is_retired() {
            drop(side);
            self.discard();
            return;
        }
        self.spare.push(side);
        // Pairs with the fence in `retire`: it sees the side, or this sees the flag.
        handshake_fence(Ordering::SeqCst);
        if self.is_retired() {
            self.discard();
        }
    }

    /// Counts an item dropped because its thread had no side to offer it to.
    #[cold]
    #[inline(never)]
    pub(crate) fn count_without_side(&self, why: NoSide) {
        let counter = match why {
            // No drain will come to report it: counted as late as what comes after shutdown.
            NoSide::Reentered if self.is_closed() => return self.count_late(1),
            NoSide::ThreadExit => &self.orphaned,
            NoSide::OutOfMemory => &self.unallocated,
            NoSide::Reentered => &self.reentered,
            NoSide::Closed => return self.count_late(1),
        };
        // Relaxed: a tally.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Pops up to `max` items (oldest first per thread, threads in turn) into `sink`, and says how
    /// many items were dropped since the last drain because a ring was full, how many because
    /// their thread had no side, and how full the fullest ring was (see [`Drained`]).
    ///
    /// A drain that `sink` starts on these rings (through the provider's public `drain`) takes
    /// nothing: the lock is this thread's already (until session 42 it waited for itself for ever).
    pub(crate) fn drain(&self, max: usize, mut sink: impl FnMut(O::Item)) -> Drained {
        let nothing = Drained { dropped: 0, orphaned: 0, unallocated: 0, fullest: 0.0, left_behind: false };
        // Relaxed: only this thread stores its own mark, and reading it back needs no order.
        if self.draining.load(Ordering::Relaxed) == this_thread() {
            return nothing;
        }
        // Made first, so dropped last: after the items popped, and the lock.
        let _scope = O::begin_drain();
        let mut consumers = self.consumers.lock();
        let _marked = Marked::new(&self.draining);
        let consumers = &mut *consumers;
        while let Some(joined) = self.joining.pop() {
            consumers.list.push(joined);
        }
        let mut drained = nothing;
        let mut left = max;
        let count = consumers.list.len();
        for turn in 0..count {
            let consumer = &mut consumers.list[(consumers.next + turn) % count];
            let drops = consumer.take_drops();
            drained.dropped += drops;
            // A ring that dropped items was full at some point since the last drain.
            let fill = if drops > 0 { 1.0 } else { consumer.len() as f64 / consumer.capacity() as f64 };
            drained.fullest = drained.fullest.max(fill);
            while left > 0 {
                let Some(item) = consumer.pop() else { break };
                sink(item);
                left -= 1;
            }
            // Stopped for `max` with items still in the ring (a moment's figure).
            drained.left_behind |= left == 0 && consumer.len() > 0;
        }
        if count > 0 {
            consumers.next = (consumers.next + 1) % count;
        }
        // Relaxed: tallies; one counted late is reported at the next drain.
        let orphaned = self.orphaned.load(Ordering::Relaxed);
        drained.orphaned = orphaned - consumers.reported_orphans;
        consumers.reported_orphans = orphaned;
        let unallocated = self.unallocated.load(Ordering::Relaxed);
        drained.unallocated = unallocated - consumers.reported_unallocated;
        consumers.reported_unallocated = unallocated;
        let reentered = self.reentered.load(Ordering::Relaxed);
        drained.dropped += reentered - consumers.reported_reentered;
        consumers.reported_reentered = reentered;
        drained
    }

    /// How many rings were made.
    #[cfg(test)]
    pub(crate) fn ring_count(&self) -> usize {
        self.consumers.lock().list.len() + self.joining.len()
    }
}

/// A mark of the calling thread, never 0: the address of one of its thread-locals.
fn this_thread() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|mark| std::ptr::from_ref(mark) as usize)
}

/// The drain's thread marked in `draining` while it holds the lock (cleared however it ends).
struct Marked<'a>(&'a AtomicUsize);

impl<'a> Marked<'a> {
    fn new(draining: &'a AtomicUsize) -> Self {
        // Relaxed: read back only by this thread; other threads see some other thread's mark.
        draining.store(this_thread(), Ordering::Relaxed);
        Marked(draining)
    }
}

impl Drop for Marked<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// What a drain found, beside the items it popped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Drained {
    /// Items dropped since the last drain because a ring was full (or, rarer, offered while their
    /// thread was making its side: [`NoSide::Reentered`]).
    pub(crate) dropped: u64,
    /// Items dropped since the last drain because their thread's locals were being torn down.
    pub(crate) orphaned: u64,
    /// Items dropped since the last drain because their thread's side could not be allocated.
    pub(crate) unallocated: u64,
    /// The most any one ring held when the drain came to it, as a fraction of its capacity (1 if
    /// it dropped items). The exporter thread drains sooner when rings fill fast.
    pub(crate) fullest: f64,
    /// Whether the drain stopped at its limit, possibly leaving items in a ring.
    pub(crate) left_behind: bool,
}

impl Drained {
    /// Every item dropped since the last drain, whatever the reason.
    pub(crate) fn lost(&self) -> u64 {
        self.dropped + self.orphaned + self.unallocated
    }
}

/// Where items offered while no pipeline drains the rings are counted.
///
/// Counting must not wait for `attach`/`detach` (which hold `state`), so a counting thread adds to
/// `pending` and hands it on with `try_lock`: whoever holds `state` hands on what is pending once
/// it has let go ([`Late::settle`]). A `SeqCst` fence on both sides of that exchange makes sure
/// that a count added while the lock is held is seen by its holder, or the lock seen free by the
/// counter.
struct Late {
    state: Mutex<LateState>,
    pending: AtomicU64,
}

struct LateState {
    /// Pipelines draining the rings that have not shut down.
    attached: usize,
    /// The last pipeline's counter of late items; set before `closed` is, and never unset.
    drops: Option<Box<dyn LateCounter>>,
}

impl Late {
    /// Changes the state (attach, detach), then hands on what was counted meanwhile.
    fn change(&self, f: impl FnOnce(&mut LateState)) {
        f(&mut self.state.lock());
        self.settle();
    }

    fn count(&self, items: u64) {
        // Relaxed: the fence in `settle` orders it.
        self.pending.fetch_add(items, Ordering::Relaxed);
        self.settle();
    }

    /// Moves what is pending into the pipeline's counter, unless another thread holds the state
    /// (which will do it when it lets go).
    fn settle(&self) {
        loop {
            // Pairs with the same fence in the thread that holds or held the state (see `Late`).
            atomic::fence(Ordering::SeqCst);
            if self.pending.load(Ordering::Relaxed) == 0 {
                return;
            }
            let Some(state) = self.state.try_lock() else { return };
            let items = self.pending.swap(0, Ordering::Relaxed);
            // `pending` grows only after `closed` was seen set, and `drops` is set before it,
            // unless the provider retired without ever being drained by a pipeline: its items had
            // nowhere to go and nobody to be counted for.
            if let Some(drops) = &state.drops {
                drops.count(items);
            }
        }
    }
}

/// Why an item found no side of its thread's to go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoSide {
    /// The thread's locals are being torn down (it is exiting).
    ThreadExit,
    /// The thread had none, and a new one could not be allocated.
    OutOfMemory,
    /// The thread was making or finding its side when the item came: offered from inside an
    /// allocation that the making did (a global allocator that records spans or logs).
    Reentered,
    /// The thread made its side, and meanwhile the last pipeline draining the rings shut down
    /// (see [`find_or_register`]).
    Closed,
}

/// After a side could not be allocated, how many of the thread's items (of one kind of owner) are
/// dropped before it tries again: an allocation refused costs system calls, and the hot path
/// makes none in steady state, so under memory pressure it makes one attempt per this many items.
pub(crate) const RETRY_ALLOCATION_AFTER: u32 = 256;

/// Runs `f` on this thread's side of `owner`'s rings, making it on first use; [`NoSide`] when
/// there is none to run on (see its variants).
///
/// `f` must not offer an item to this kind of owner itself (the crate's callers write one item
/// and return), nor allocate or free memory: a global allocator of the program's may record, and
/// reach the side here again. It holds the only reference to the side while it runs. (Until
/// session 42 a full ring's refused span slot was freed, and a log record's attributes past the
/// inline ones allocated, inside `f`; they are now let go of, and built, outside it.)
#[inline(always)]
pub(crate) fn with_thread<O: RingOwner, R>(
    owner: &Arc<O>,
    f: impl FnOnce(&mut ThreadRing<O>) -> R,
) -> Result<R, NoSide> {
    with_side::<O, R, false>(owner, |side, _| f(side))
}

/// [`with_thread`], with the line of the side's next item asked for before the side is read
/// ([`LastSide::prefetch_next`]), and `f` given the thread's `LastSide` to say where the item
/// after will go.
#[inline(always)]
pub(crate) fn with_thread_hinted<O: RingOwner, R>(
    owner: &Arc<O>,
    f: impl FnOnce(&mut ThreadRing<O>, &LastSide<O>) -> R,
) -> Result<R, NoSide> {
    with_side::<O, R, true>(owner, f)
}

/// Asks for the cache line at `address` (`prefetcht0` on x86-64; elsewhere nothing), any
/// address: a prefetch is never a read the program sees, and never faults.
#[inline(always)]
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch changes nothing the program can observe and never faults, whatever the
    // address (stale, dangling or null), so no address is unsound to pass.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// What [`with_thread`] and [`with_thread_hinted`] do: the second prefetches.
#[inline(always)]
fn with_side<O: RingOwner, R, const PREFETCH: bool>(
    owner: &Arc<O>,
    f: impl FnOnce(&mut ThreadRing<O>, &LastSide<O>) -> R,
) -> Result<R, NoSide> {
    // Only the address is taken inside `with`, so the access inlines (see `trace::ids`).
    let last = O::last().with(std::ptr::from_ref::<LastSide<O>>);
    // SAFETY: a thread-local without a destructor lives as long as its thread.
    let last = unsafe { &*last };
    if PREFETCH {
        last.prefetch_next();
    }
    let side = match last.get(Arc::as_ptr(owner)) {
        Some(side) => side,
        None => find_or_register(owner, last)?,
    };
    // SAFETY: `side` is a live side of `owner` on this thread (`LastSide`'s invariant), reached
    // only through these functions, which do not come back to themselves (see `with_thread`: `f`
    // neither offers an item nor allocates, so not even a recording allocator re-enters): no other
    // reference to it exists while `f` runs.
    Ok(f(unsafe { &mut *side.as_ptr() }, last))
}

/// This thread's side of `owner`'s rings, made on first use, remembered in `last`; [`NoSide`]
/// when there is none (see its variants).
#[cold]
#[inline(never)]
fn find_or_register<O: RingOwner>(owner: &Arc<O>, last: &LastSide<O>) -> Result<NonNull<ThreadRing<O>>, NoSide> {
    // Before the list changes: a side it pointed at may go below.
    last.forget();
    O::threads()
        .try_with(|threads| {
            // Held while a side is made, which allocates: an item offered from inside one of those
            // allocations (a global allocator that records) finds it held. Until session 42 that
            // `borrow_mut` panicked inside the allocator, which aborts the process.
            let Ok(mut threads) = threads.try_borrow_mut() else {
                return Err(NoSide::Reentered);
            };
            // Comparing addresses is sound: a thread's `Weak` keeps its owner's allocation, so no
            // other owner can ever have the same address.
            let this = Arc::as_ptr(owner);
            // SAFETY: the list's sides are live (see `ThreadSides`), and none is borrowed here.
            let found = threads.list.iter().find(|side| unsafe { side.as_ref() }.owner.as_ptr() == this);
            let made = found.is_none();
            let side = match found {
                Some(side) => *side,
                None => register(owner, &mut threads)?,
            };
            last.remember(this, side);
            // The caller read "not closed" before it came here, and making a side takes long
            // (megabytes allocated, and written whole when pages are backed at start): the last
            // pipeline's final drain may have run meanwhile, and would never see this item. Read
            // again now, the window back to the few instructions `Rings::detach` states (until
            // session 42 a span ended on a fresh thread during shutdown was lost uncounted).
            if made && owner.rings().is_closed() {
                return Err(NoSide::Closed);
            }
            Ok(side)
        })
        .unwrap_or(Err(NoSide::ThreadExit))
}

/// The slow path of a thread's first item for `owner`: takes a spare side, or makes one.
#[cold]
fn register<O: RingOwner>(owner: &Arc<O>, threads: &mut ThreadSides<O>) -> Result<NonNull<ThreadRing<O>>, NoSide> {
    if threads.refusals_left > 0 {
        threads.refusals_left -= 1;
        return Err(NoSide::OutOfMemory);
    }
    // Those of owners whose providers are gone are of no further use to this thread.
    threads.list.retain(|side| {
        // SAFETY: the list owns its sides (see `ThreadSides`), and none is borrowed here.
        let side_owner = unsafe { side.as_ref() }.owner.upgrade();
        let live = side_owner.as_ref().is_some_and(|side_owner| !side_owner.rings().is_retired());
        if !live {
            // SAFETY: as above; the side leaves the list, so it is freed once.
            let side = unsafe { Box::from_raw(side.as_ptr()) };
            match side_owner {
                Some(side_owner) => side_owner.rings().give_back(side),
                None => drop(side),
            }
        }
        live
    });
    let Some(side) = owner.rings().spare.pop().or_else(|| new_side(owner)) else {
        threads.refusals_left = RETRY_ALLOCATION_AFTER - 1;
        return Err(NoSide::OutOfMemory);
    };
    let side = NonNull::from(Box::leak(side));
    threads.list.push(side);
    Ok(side)
}

/// A new side of `owner`'s rings, its ring's consuming end handed to the drain; `None` when its
/// ring or local part cannot be allocated.
fn new_side<O: RingOwner>(owner: &Arc<O>) -> Option<Box<ThreadRing<O>>> {
    let rings = owner.rings();
    let (mut producer, consumer) = ring(rings.capacity)?;
    let local = O::new_local(owner, rings.capacity)?;
    if owner.backs_pages() {
        producer.back_pages();
    }
    rings.joining.push(consumer);
    Some(Box::new(ThreadRing { owner: Arc::downgrade(owner), producer, local }))
}

/// One thread's sides of one kind of owner's rings, one per owner the thread used.
///
/// Each side is a separate allocation that the list owns (made in `register`, freed when it
/// leaves the list), so it stays where it is while the list grows, and [`LastSide`] can point at
/// it.
pub(crate) struct ThreadSides<O: RingOwner> {
    list: Vec<NonNull<ThreadRing<O>>>,
    /// How many more items are dropped without trying to allocate a side, after one could not be
    /// (see [`RETRY_ALLOCATION_AFTER`]).
    refusals_left: u32,
}

impl<O: RingOwner> ThreadSides<O> {
    /// No sides yet.
    pub(crate) const fn new() -> ThreadSides<O> {
        ThreadSides { list: Vec::new(), refusals_left: 0 }
    }
}

impl<O: RingOwner> Drop for ThreadSides<O> {
    /// The thread is ending: its sides go back to their owners, for the next thread.
    fn drop(&mut self) {
        // First, so that an item offered by a later thread-local destructor finds no side (and is
        // counted as orphaned) rather than a moved one.
        O::last().with(LastSide::forget);
        for side in self.list.drain(..) {
            // SAFETY: the list owns its sides, each taken out of it once, here or in `register`.
            let side = unsafe { Box::from_raw(side.as_ptr()) };
            // A side of an owner that is gone is simply dropped. (If this is the owner's last
            // reference, the owner goes below, with its spare sides, this one among them.)
            if let Some(owner) = side.owner.upgrade() {
                owner.rings().give_back(side);
            }
        }
    }
}

/// The side of this thread that was used last, and its owner: for the next item of the same
/// owner (nearly always: one provider per process), one compare instead of a borrow of the list
/// and a search.
///
/// Invariant: when set, `side` is a live side of `owner` in this thread's list. It is cleared
/// before any side leaves the list.
///
/// It also keeps where the side's next item will likely be written (`next`, set by the owner's
/// writer: the span slab's next slot, the log ring's next slot), so that with cold caches the
/// item's line is asked for together with the side's, not after it: only ever prefetched, never
/// read, so it may be stale or dangling (a prefetch of any address is harmless).
pub(crate) struct LastSide<O: RingOwner> {
    owner: Cell<*const O>,
    side: Cell<Option<NonNull<ThreadRing<O>>>>,
    next: Cell<*const u8>,
}

impl<O: RingOwner> LastSide<O> {
    /// Nothing remembered.
    pub(crate) const fn new() -> LastSide<O> {
        LastSide { owner: Cell::new(std::ptr::null()), side: Cell::new(None), next: Cell::new(std::ptr::null()) }
    }

    /// Asks for the line of the side's next item (x86-64; elsewhere nothing), so that with cold
    /// caches it arrives while the side's own line does: the item's address is otherwise known
    /// only from the side, one miss after the other (benches/README.md, `cold`, session 30).
    #[inline(always)]
    pub(crate) fn prefetch_next(&self) {
        // `next` may be stale or dangling (see the type's note): `prefetch` takes any address.
        prefetch(self.next.get());
    }

    /// Remembers where the side's next item will likely be written (a hint for `prefetch_next`).
    #[inline(always)]
    pub(crate) fn set_next(&self, next: *const u8) {
        self.next.set(next);
    }

    #[inline(always)]
    fn get(&self, owner: *const O) -> Option<NonNull<ThreadRing<O>>> {
        if self.owner.get() == owner {
            self.side.get()
        } else {
            None
        }
    }

    fn remember(&self, owner: *const O, side: NonNull<ThreadRing<O>>) {
        self.owner.set(owner);
        self.side.set(Some(side));
    }

    fn forget(&self) {
        self.owner.set(std::ptr::null());
        self.side.set(None);
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use loom::thread;

    use super::*;
    use crate::trace::recorder::Recorder;
    use crate::trace::SpanLimits;

    /// A thread gives back its side (its slab keeps the recorder alive) while the provider retires
    /// the recorder: in every interleaving the side is dropped, by one or the other, and nothing
    /// is left in the spare list (loom also fails the model if the slab's slots leak).
    #[test]
    fn loom_a_side_given_back_while_its_provider_retires_is_dropped() {
        loom::model(|| {
            let owner = Arc::new(Recorder::new(1, SpanLimits::default(), false));
            let (producer, consumer) = ring(1).unwrap();
            owner.rings().joining.push(consumer);
            let local = Recorder::new_local(&owner, 1).unwrap();
            let side = Box::new(ThreadRing { owner: Arc::downgrade(&owner), producer, local });
            let giver = {
                let owner = owner.clone();
                thread::spawn(move || owner.rings().give_back(side))
            };
            owner.rings().retire();
            giver.join().unwrap();
            assert!(owner.rings().spare.is_empty(), "a side was kept by a retired recorder");
        });
    }
}
