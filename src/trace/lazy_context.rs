//! A span's context, whose ids may be drawn on first read.
//!
//! The specification gives every span ids, sampled or not, so that its context can propagate. But
//! most spans are never looked at on the thread that made them: nobody enters them, starts a child
//! under them or injects them into a request. So a span's ids are drawn when its context is first
//! read, not when it starts: for a refused span, maybe never; for a recorded one, usually on the
//! exporter thread, when it encodes the span. (The sampler decides first; only a ratio sampler
//! needs a root's trace id, which is then drawn at once.) Nothing can tell the two apart: the ids
//! are random either way, and every read sees the same ones.
//!
//! A recorded span's context lives in its slot, with the rest of its data (see `SpanData`), and is
//! never copied on the way to the exporter; the span's own `LazyContext` then holds nothing.

use std::mem::{ManuallyDrop, MaybeUninit};
// From `crate::sync`: the loom model below exercises this very code.
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{ExclusiveByte, ExclusiveCell, Patience, UnsafeCell};

use super::ids;
use super::span_context::{SpanContext, TraceFlags};
use super::TraceState;

// The states. Those below `NEW_ROOT` hold a context, so that asking is one comparison.

/// The ids are in place.
const READY: u8 = 0;
/// The trace id is in place (from the parent, or drawn for the sampler); the span id is not.
const SPAN_ID_PENDING: u8 = 1;
/// A thread is drawing the ids (only seen when two threads read one span's context at the same
/// moment, never through `&mut self`).
const DRAWING: u8 = 2;
/// Nothing is in place: a new trace's refused root span, whose sampler did not need its trace id.
/// Its context is known but for the ids (not sampled, local, no trace state), so none is stored
/// until they are drawn, and starting the span moves one byte.
const NEW_ROOT: u8 = 3;
/// As `NEW_ROOT`, for a root span that is sampled.
const NEW_SAMPLED_ROOT: u8 = 4;
/// No context is held: the builder has started its span, or the context is in the span's slot.
const ELSEWHERE: u8 = 5;

/// Whether a context is stored in `state` (asked only through `&mut self`, so never `DRAWING`).
#[inline(always)]
fn holds_context(state: u8) -> bool {
    state < NEW_ROOT
}

/// A [`SpanContext`], possibly with ids still to be drawn, or nothing.
pub(crate) struct LazyContext {
    /// Initialised in the states that hold a context (see `holds_context`).
    context: UnsafeCell<MaybeUninit<SpanContext>>,
    state: AtomicU8,
}

// SAFETY: `context` is written only through `&mut self`, or by the one thread that moved `state`
// from a pending value to DRAWING, which has exclusive access until it publishes READY (Release).
// A shared reference to the context is handed out only after READY was seen (Acquire), so no
// reference coexists with a write. `SpanContext` itself is `Send + Sync`.
unsafe impl Sync for LazyContext {}

impl LazyContext {
    /// A context whose ids are final.
    #[inline(always)]
    pub(crate) fn ready(context: SpanContext) -> LazyContext {
        LazyContext { context: UnsafeCell::new(MaybeUninit::new(context)), state: AtomicU8::new(READY) }
    }

    /// A context whose span id is drawn on first read; the rest of `context` is final.
    #[inline(always)]
    pub(crate) fn span_id_pending(context: SpanContext) -> LazyContext {
        LazyContext { context: UnsafeCell::new(MaybeUninit::new(context)), state: AtomicU8::new(SPAN_ID_PENDING) }
    }

    /// The context of a root span of a new trace (local, no trace state; `sampled` or not): both
    /// ids drawn on first read.
    #[inline(always)]
    pub(crate) fn new_root(sampled: bool) -> LazyContext {
        LazyContext::without_context(if sampled { NEW_SAMPLED_ROOT } else { NEW_ROOT })
    }

    /// No context: the span's slot holds it.
    #[inline(always)]
    pub(crate) fn elsewhere() -> LazyContext {
        LazyContext::without_context(ELSEWHERE)
    }

    /// A state that holds no context, with the context's place blank (see [`no_context`]).
    #[inline(always)]
    fn without_context(state: u8) -> LazyContext {
        LazyContext { context: UnsafeCell::new(no_context()), state: AtomicU8::new(state) }
    }

    /// The context, its ids drawn now if they were not yet; the invalid context when none is
    /// held.
    #[inline(always)]
    pub(crate) fn get(&self) -> &SpanContext {
        // Acquire pairs with the Release that publishes drawn ids: seeing READY, the ids are there.
        let state = self.state.load(Ordering::Acquire);
        if state == ELSEWHERE {
            return &SpanContext::INVALID;
        }
        if state != READY {
            self.draw_shared();
        }
        // SAFETY: the state is READY, so the context is initialised and nothing writes it while
        // `&self` lives (see the `Sync` impl).
        unsafe { (*self.context.with(|context| context)).assume_init_ref() }
    }

    /// [`get`](LazyContext::get) through exclusive access: the ids, if pending, are drawn with
    /// plain stores (no compare-and-swap: nothing else can read the context meanwhile).
    #[cfg(feature = "tracing")]
    #[inline(always)]
    pub(crate) fn get_exclusive(&mut self) -> &SpanContext {
        let state = self.state.read_exclusive();
        if state == ELSEWHERE {
            return &SpanContext::INVALID;
        }
        if state != READY {
            draw(self.context.exclusive(), state);
            self.state.write_exclusive(READY);
        }
        // SAFETY: the state is READY, so the context is initialised.
        unsafe { self.context.exclusive().assume_init_ref() }
    }

    /// Whether a context is held (it has to be dropped).
    #[inline(always)]
    pub(crate) fn holds_context(&mut self) -> bool {
        holds_context(self.state.read_exclusive())
    }

    /// Records that no context is held here, one having moved elsewhere (a context that was
    /// held would be leaked, never dropped): a state the compiler then knows, where it could
    /// not follow the one that was (see `SpanBuilder::start`).
    #[inline(always)]
    pub(crate) fn set_elsewhere(&mut self) {
        debug_assert!(!self.holds_context());
        self.state.write_exclusive(ELSEWHERE);
    }

    /// What [`take`](LazyContext::take) gives when no context is held (a refused root's: the
    /// state alone moves), or `None`, leaving `self` as it was, when one is. Apart from `take`
    /// so that the caller makes the span in each case: through `take`, the compiler made the
    /// result in a stack temporary whichever way it went and then copied it into the span,
    /// three more 16-byte stores and loads, 2 of a refused span's 10 ns (benches/README.md,
    /// `trace`, session 24).
    #[inline(always)]
    pub(crate) fn take_blank(&mut self) -> Option<LazyContext> {
        let state = self.state.read_exclusive();
        if holds_context(state) {
            return None;
        }
        self.state.write_exclusive(ELSEWHERE);
        Some(LazyContext::without_context(state))
    }

    /// Moves the context out, leaving nothing. Only the words a context occupies are read, and
    /// only when there is one: a recorded span moves a byte.
    #[inline(always)]
    pub(crate) fn take(&mut self) -> LazyContext {
        match self.take_blank() {
            Some(blank) => blank,
            // SAFETY: `take_blank` gives `None` only for a state that holds a context, left as it was.
            None => unsafe { self.take_held() },
        }
    }

    /// [`take`](LazyContext::take) for a state that holds a context.
    ///
    /// # Safety
    /// The state must hold one (see `holds_context`).
    #[inline(always)]
    unsafe fn take_held(&mut self) -> LazyContext {
        let state = self.state.read_exclusive();
        self.state.write_exclusive(ELSEWHERE);
        debug_assert!(holds_context(state));
        let mut taken = LazyContext { context: UnsafeCell::new(MaybeUninit::uninit()), state: AtomicU8::new(state) };
        let source = self.context.exclusive().as_ptr().cast::<ManuallyDrop<SpanContext>>();
        // SAFETY: the state holds an initialised context (the caller's promise); it moves to
        // `taken`, and `*self`, now ELSEWHERE, no longer owns it (it is neither read nor dropped
        // there). `ManuallyDrop` has the layout of what it wraps.
        unsafe { SpanContext::move_to(&*source, taken.context.exclusive().as_mut_ptr()) };
        taken
    }

    /// This context, not sampled: that of a sampled span that found no slot to record in, which
    /// must not say it is sampled while it does not record (the specification forbids the two
    /// together; until session 39 its children and downstream services took it as sampled, and
    /// the trace had a hole where it was).
    ///
    /// Inline, a byte or a flag rewritten in place: a call here, even out of line, made the
    /// sampled span's own path keep its context in memory (span start and end 10.9 -> 16.8 ns,
    /// benches/README.md, session 39).
    #[inline(always)]
    pub(crate) fn into_unsampled(mut self) -> LazyContext {
        let state = self.state.read_exclusive();
        if state == NEW_SAMPLED_ROOT {
            self.state.write_exclusive(NEW_ROOT);
        } else if holds_context(state) {
            // SAFETY: a state that holds a context has it initialised (see `holds_context`), and
            // `self` is owned: nothing else reads it while it is rewritten.
            unsafe { self.context.exclusive().assume_init_mut() }.clear_sampled();
        }
        self
    }

    #[cold]
    fn draw_shared(&self) {
        let mut patience = Patience::new();
        loop {
            // Acquire as in `get`.
            match self.state.load(Ordering::Acquire) {
                READY => return,
                // Another thread draws: a few instructions (its thread's first draw seeds its
                // generator, a system call), unless it is preempted, by this one among others.
                DRAWING => patience.wait(),
                pending => {
                    // Acquire on success gives this thread the context as the last writer left it.
                    let won = self.state.compare_exchange(pending, DRAWING, Ordering::Acquire, Ordering::Relaxed);
                    if won.is_ok() {
                        // SAFETY: winning the exchange gives this thread exclusive access to the
                        // context until it stores READY (see the `Sync` impl).
                        self.context.with_mut(|context| draw(unsafe { &mut *context }, pending));
                        // Release publishes the ids to every later Acquire load of READY.
                        self.state.store(READY, Ordering::Release);
                        return;
                    }
                }
            }
        }
    }
}

impl Drop for LazyContext {
    #[inline(always)]
    fn drop(&mut self) {
        if holds_context(self.state.read_exclusive()) {
            // SAFETY: the state holds an initialised context, owned here.
            let held = unsafe { self.context.exclusive().assume_init_mut() };
            // The trace state, the part that owns memory, is let go of out of line and by value:
            // dropped in place, its last owner's call that frees it would be given this context's
            // address, and the span or builder around it kept in memory on every path rather
            // than in registers (benches/README.md, tracing, session 26).
            held.take_trace_state().drop_out_of_line();
            // SAFETY: as above; the rest of it (its trace state now empty) is dropped once.
            unsafe { self.context.exclusive().assume_init_drop() };
        }
    }
}

/// The place of a context not held (yet): zeroed, though never read as a context. Left
/// uninitialised, it costs twice. The compiler copies the whole context wherever the span moves,
/// and copying never-written bytes reads a stack temporary that another value may just have been
/// stored to, narrower, which stalls the load (no store forwarding); written as whole 16-byte
/// stores, every later copy forwards. And its bytes are the compiler's to choose: it filled them
/// with the state's byte, so that the whole value was written by vector stores of a constant
/// loaded from read-only data, one more cold line and page for every span (benches/README.md,
/// `cold`, session 21). Zeroes come from a register.
#[inline(always)]
fn no_context() -> MaybeUninit<SpanContext> {
    MaybeUninit::zeroed()
}

/// Draws the pending ids into `context` (for a new root, which gets all of it, a blank: see
/// [`no_context`]).
fn draw(context: &mut MaybeUninit<SpanContext>, pending: u8) {
    if pending == NEW_ROOT || pending == NEW_SAMPLED_ROOT {
        // Each id on its own (returned in registers), not as a pair: a pair comes back through
        // memory, written a word at a time and read back wider, a store-forwarding stall.
        let trace_id = ids::trace_id();
        let span_id = ids::span_id();
        let flags = TraceFlags::NOT_SAMPLED.with_sampled(pending == NEW_SAMPLED_ROOT);
        context.write(SpanContext::new(trace_id, span_id, flags, false, TraceState::default()));
    } else {
        // SAFETY: every pending state but NEW_ROOT holds a context.
        let context = unsafe { context.assume_init_mut() };
        context.set_ids(context.trace_id(), ids::span_id());
    }
}

// Not under loom: these use std's threads, and the context's atomics are loom's there.
#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::trace::{SpanId, TraceFlags, TraceId};

    #[test]
    fn ids_are_drawn_once_on_first_read_and_kept() {
        let lazy = LazyContext::new_root(false);
        let first = lazy.get().clone();
        assert!(first.is_valid() && !first.is_sampled());
        assert_eq!(lazy.get(), &first);

        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let parent = SpanContext::new(trace_id, SpanId::INVALID, TraceFlags::NOT_SAMPLED, false, Default::default());
        let mut child = LazyContext::span_id_pending(parent);
        let taken = child.take();
        assert!(!child.get().is_valid(), "nothing is left behind");
        let drawn = taken.get().clone();
        assert_eq!(drawn.trace_id(), trace_id);
        assert!(drawn.span_id().is_valid());
        assert_eq!(taken.get(), &drawn);
        assert!(!LazyContext::elsewhere().take().get().is_valid());
    }

    #[test]
    fn threads_reading_at_once_see_the_same_ids() {
        for _ in 0..100 {
            let lazy = LazyContext::new_root(true);
            let seen: Vec<SpanContext> = std::thread::scope(|s| {
                let readers: Vec<_> = (0..4).map(|_| s.spawn(|| lazy.get().clone())).collect();
                readers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert!(seen.iter().all(|c| c == &seen[0] && c.is_valid() && c.is_sampled()));
        }
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use crate::trace::{SpanId, TraceFlags, TraceId};
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads read a context whose ids are pending at the same moment: one wins the exchange
    /// and draws, the other waits for READY or finds it; both see the same ids (the drawer's
    /// writes happen before the other's reads, which loom checks on the cell), for a new root and
    /// for a child whose span id alone is pending.
    #[test]
    fn loom_threads_reading_a_pending_context_at_once_see_the_same_ids() {
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let parent = SpanContext::new(trace_id, SpanId::INVALID, TraceFlags::SAMPLED, false, TraceState::default());
        for make in [
            |_: &SpanContext| LazyContext::new_root(true),
            |parent: &SpanContext| LazyContext::span_id_pending(parent.clone()),
        ] {
            let parent = parent.clone();
            loom::model(move || {
                let lazy = Arc::new(make(&parent));
                let other = Arc::clone(&lazy);
                let reader = thread::spawn(move || other.get().clone());
                let here = lazy.get().clone();
                let there = reader.join().unwrap();
                assert!(here.is_valid() && here.is_sampled(), "{here:?}");
                assert_eq!(here, there);
            });
        }
    }
}
