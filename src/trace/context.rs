//! The current span: implicit per thread, carried explicitly to other threads and async tasks.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::span_context::{SpanContext, SpanId, TraceId};
use crate::thread_words;

thread_local! {
    // `None` until something is entered.
    static CURRENT: RefCell<Option<SpanContext>> = const { RefCell::new(None) };
    // Whether `CURRENT` holds a context. Spans usually start with nothing entered (a new order, a
    // new tick), and this flag, having no destructor, is one plain thread-local load; `CURRENT`,
    // whose context may own a trace state, costs a registration check and a borrow besides.
    static HAS_CURRENT: Cell<bool> = const { Cell::new(false) };
    // The ids of `CURRENT`, as plain words: what a metric record keeps with an exemplar (see
    // `current_ids`), one thread-local load with no borrow to check. Whether `CURRENT` is sampled,
    // which the record asks first, is in `thread_words`, beside the record's stripe slot.
    static CURRENT_IDS: Cell<CurrentIds> = const { Cell::new(CurrentIds::NONE) };
    // How many guards are alive on this thread: each knows its place, so that one dropped while a
    // guard made after it lives (out of order) is told apart.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    // What the guards dropped out of order would have restored, by their place: due when every
    // guard made after them is gone. Empty but after such a drop (its count in `EARLY`).
    static DROPPED_EARLY: RefCell<Vec<(u32, Option<SpanContext>)>> = const { RefCell::new(Vec::new()) };
    static EARLY: Cell<u32> = const { Cell::new(0) };
}

/// Where this thread's current-span flag and ids live (for `metrics::series_cache`'s layout test).
#[cfg(all(test, target_arch = "x86_64", target_os = "linux", not(nanotel_loom)))]
pub(crate) fn thread_local_addresses() -> [usize; 2] {
    [HAS_CURRENT.with(|flag| flag.as_ptr() as usize), CURRENT_IDS.with(|ids| ids.as_ptr() as usize)]
}

/// The ids of the current span context, copied out of it when it is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CurrentIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl CurrentIds {
    /// No current span.
    pub(crate) const NONE: CurrentIds = CurrentIds { trace_id: TraceId::INVALID, span_id: SpanId::INVALID };

    fn of(context: Option<&SpanContext>) -> CurrentIds {
        match context.filter(|context| context.is_valid()) {
            Some(context) => CurrentIds { trace_id: context.trace_id(), span_id: context.span_id() },
            None => CurrentIds::NONE,
        }
    }
}

/// Makes `context` (or none) current in the two thread-locals a metric record reads.
fn set_current_ids(context: Option<&SpanContext>) {
    let valid = context.filter(|context| context.is_valid());
    CURRENT_IDS.with(|current| current.set(CurrentIds::of(valid)));
    thread_words::set_span_sampled(valid.is_some_and(SpanContext::is_sampled));
}

/// The ids of this thread's current span context (all invalid when none is entered). A span's
/// ids are drawn when it is entered (`Span::enter` reads its context), so these are the ids its
/// exporter sends.
#[inline(always)]
pub(crate) fn current_ids() -> CurrentIds {
    CURRENT_IDS.with(Cell::get)
}

/// The span context new spans take as their parent: the current one on this thread, captured to be
/// carried to another thread or task, or one extracted from a request.
///
/// ```
/// use nanotel::trace::{Context, TracerProvider};
///
/// let provider = TracerProvider::builder().without_env().build();
/// let tracer = provider.tracer("gateway");
/// let parent = tracer.span("order").start();
/// let context = {
///     let _entered = parent.enter();
///     Context::current()
/// };
/// let worker_tracer = tracer.clone();
/// std::thread::spawn(move || {
///     let child = worker_tracer.span_with_parent("risk-check", &context).start();
///     assert_eq!(child.context().trace_id(), context.span_context().trace_id());
/// })
/// .join()
/// .unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    span: SpanContext,
}

impl Context {
    /// The current context of this thread (no span when nothing is entered).
    #[must_use]
    pub fn current() -> Context {
        Context { span: current_span_context().unwrap_or_default() }
    }

    /// A context whose span is `span`, for example one a propagator extracted.
    #[must_use]
    pub fn from_span_context(span: SpanContext) -> Context {
        Context { span }
    }

    /// The span context (invalid when there is no span).
    #[must_use]
    pub fn span_context(&self) -> &SpanContext {
        &self.span
    }

    /// Makes this context current on this thread until the guard drops.
    pub fn attach(&self) -> ContextGuard {
        ContextGuard::enter(self.span.clone())
    }
}

/// Whether a span context is entered on this thread (one plain thread-local load).
#[inline(always)]
pub(crate) fn has_current() -> bool {
    HAS_CURRENT.with(Cell::get)
}

/// The current span context of this thread, if a span is entered.
#[inline(always)]
pub(crate) fn current_span_context() -> Option<SpanContext> {
    if !has_current() {
        return None;
    }
    // `try_with`: a thread-local destructor may start a span after `CURRENT` is gone (a guard it
    // leaked left the flag set); nothing is current then.
    CURRENT.try_with(|current| current.borrow().clone()).ok().flatten().filter(SpanContext::is_valid)
}

/// Keeps a context current on this thread; dropping it restores the one it replaced.
///
/// Guards are meant to be dropped in the reverse order of their making. One dropped while a
/// guard made after it still lives (guards in a `Vec`, or fields of a struct, drop first to last)
/// changes nothing then: what it restores waits until the guards made after it are gone too, so
/// that the current context is always that of the innermost guard alive, and nothing once all
/// are dropped. (Until session 39 such a guard restored its context at once, and the later
/// guard's drop made the first span current again, ended, for the rest of the thread.)
///
/// Bound to the thread it was made on (it is neither `Send` nor `Sync`).
#[must_use = "the context is current only while the guard lives"]
pub struct ContextGuard {
    previous: Option<SpanContext>,
    /// Its place among the guards alive on the thread (1 for the outermost); 0 for a guard made
    /// while the thread's locals were torn down, which restores nothing.
    depth: u32,
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    pub(crate) fn enter(span: SpanContext) -> ContextGuard {
        // `try_with`: a thread-local destructor may enter a span after this thread's `CURRENT` is
        // gone; nothing can be made current then, and the guard restores nothing.
        let entered = CURRENT.try_with(|current| {
            set_current_ids(Some(&span));
            current.replace(Some(span))
        });
        let Ok(previous) = entered else {
            return ContextGuard { previous: None, depth: 0, _not_send: PhantomData };
        };
        HAS_CURRENT.with(|has| has.set(true));
        let depth = DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        ContextGuard { previous, depth, _not_send: PhantomData }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if self.depth == 0 {
            return;
        }
        let mut previous = self.previous.take();
        // `try_with`: a guard dropped while the thread's locals are being torn down has nothing to
        // restore.
        let Ok(alive) = DEPTH.try_with(Cell::get) else { return };
        if self.depth < alive {
            return drop_early(self.depth, previous);
        }
        let mut depth = self.depth - 1;
        // The guards made before this one and dropped already restore now, innermost first.
        if EARLY.try_with(Cell::get).is_ok_and(|early| early > 0) {
            while let Some(LeftToRestore(theirs)) = take_dropped_early(depth) {
                previous = theirs;
                depth -= 1;
            }
        }
        let _ = DEPTH.try_with(|alive| alive.set(depth));
        let has_previous = previous.is_some();
        set_current_ids(previous.as_ref());
        if CURRENT.try_with(|current| current.replace(previous)).is_ok() {
            HAS_CURRENT.with(|has| has.set(has_previous));
        }
    }
}

/// Keeps what the guard at place `depth`, dropped while a guard made after it lives, restores.
#[cold]
fn drop_early(depth: u32, previous: Option<SpanContext>) {
    let kept = DROPPED_EARLY.try_with(|early| early.borrow_mut().push((depth, previous)));
    if kept.is_ok() {
        EARLY.with(|early| early.set(early.get() + 1));
    }
}

/// What a guard dropped early left to restore (a context, or none).
struct LeftToRestore(Option<SpanContext>);

/// What the guard at place `depth` left to restore when it was dropped early, if it was.
#[cold]
fn take_dropped_early(depth: u32) -> Option<LeftToRestore> {
    let taken = DROPPED_EARLY.try_with(|early| {
        let mut early = early.borrow_mut();
        let index = early.iter().position(|(place, _)| *place == depth)?;
        Some(LeftToRestore(early.swap_remove(index).1))
    });
    let taken = taken.ok().flatten()?;
    EARLY.with(|early| early.set(early.get() - 1));
    Some(taken)
}

/// Runs futures with a [`Context`] current on every poll, so spans started inside (on whatever
/// thread polls them) are its children. No runtime is needed.
pub trait FutureExt: Future + Sized {
    /// This future, with `context` entered around each poll.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext { inner: self, context }
    }

    /// This future, with the current context entered around each poll.
    fn in_current_context(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }
}

impl<F: Future> FutureExt for F {}

/// A future that enters its [`Context`] on every poll (see [`FutureExt`]).
#[derive(Debug)]
pub struct WithContext<F> {
    inner: F,
    context: Context,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self` nor handed out
        // unpinned, and `WithContext` has no `Drop` impl and is `Unpin` only when `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.context.attach();
        // SAFETY: see above; `this.inner` stays where the pinned `self` put it.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// A sampled local context whose ids are all `n` bytes (for the crate's unit tests).
#[cfg(test)]
pub(crate) fn test_context(n: u8) -> Context {
    use crate::trace::{SpanId, TraceFlags, TraceId};
    Context::from_span_context(SpanContext::new(
        TraceId::from_bytes([n; 16]),
        SpanId::from_bytes([n; 8]),
        TraceFlags::SAMPLED,
        false,
        Default::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::test_context as context;
    use super::*;

    #[test]
    fn guards_nest_and_restore() {
        assert_eq!(Context::current(), Context::default());
        {
            let _a = context(1).attach();
            assert_eq!(Context::current(), context(1));
            {
                let _b = context(2).attach();
                assert_eq!(Context::current(), context(2));
            }
            assert_eq!(Context::current(), context(1));
            assert_eq!(current_ids(), CurrentIds::of(Some(context(1).span_context())));
        }
        assert_eq!(Context::current(), Context::default());
        assert_eq!(current_ids(), CurrentIds::NONE);
    }

    /// Guards dropped out of order: the current context is the innermost guard's still alive,
    /// and none once all are gone (until session 39 the first span stayed current, ended).
    #[test]
    fn guards_dropped_out_of_order_leave_the_innermost_alive_current() {
        assert_eq!(Context::current(), Context::default());
        let guards: Vec<ContextGuard> = (1..=3).map(|n| context(n).attach()).collect();
        drop(guards); // a `Vec` drops its first element first
        assert_eq!(Context::current(), Context::default());
        assert_eq!(current_ids(), CurrentIds::NONE);

        let a = context(1).attach();
        let b = context(2).attach();
        let c = context(3).attach();
        drop(b);
        assert_eq!(Context::current(), context(3), "c still lives");
        drop(c);
        assert_eq!(Context::current(), context(1), "b went before c; a is the innermost left");
        let d = context(4).attach();
        drop(a);
        assert_eq!(Context::current(), context(4));
        drop(d);
        assert_eq!(Context::current(), Context::default());
        assert_eq!(EARLY.with(Cell::get), 0, "nothing left waiting");
    }

    #[test]
    fn the_sampled_flag_follows_the_context_entered_and_restored() {
        use crate::trace::TraceFlags;
        let sampled = context(3);
        let ids = sampled.span_context();
        let unsampled = Context::from_span_context(SpanContext::new(
            ids.trace_id(),
            ids.span_id(),
            TraceFlags::default(),
            false,
            Default::default(),
        ));
        assert!(!thread_words::span_sampled());
        {
            let _a = sampled.attach();
            assert!(thread_words::span_sampled());
            {
                let _b = unsampled.attach();
                assert!(!thread_words::span_sampled());
                // An invalid context is none: not sampled, whatever its flags say.
                let invalid =
                    SpanContext::new(TraceId::INVALID, SpanId::INVALID, TraceFlags::SAMPLED, false, Default::default());
                let _c = Context::from_span_context(invalid).attach();
                assert!(!thread_words::span_sampled());
            }
            assert!(thread_words::span_sampled());
        }
        assert!(!thread_words::span_sampled());
    }
}
