//! The two words a metric record reads from its own thread, kept in one thread-local: the thread's
//! stripe slot (`metrics::stripe` owns its values) and whether its current span context is sampled
//! (`trace::context` writes it as contexts are entered and left; the trace-based exemplar filter
//! reads it). Apart, the linker put them in two lines, in some builds on two pages of the thread's
//! TLS block, and a record whose caches went cold paid a miss (and a page walk) for each; together
//! they are one line (benches/README.md, `touched`).
//!
//! Plain words with a `const` initializer and no destructor, so each access is one thread-local
//! load or store. Under loom (`cfg(nanotel_loom)`) the block is a `loom::thread_local!`, so that
//! each model execution starts afresh and each modelled thread has its own slot.

use std::cell::Cell;

/// The block. Aligned to its size, so that it never straddles two lines; no more than that:
/// a line-aligned block (tried in session 11) was reached through the thread pointer read from
/// memory (`mov %fs:0`), one more line.
#[repr(C, align(16))]
struct ThreadWords {
    /// See `metrics::stripe`: the thread's owned slot, or a shared-mode or lifecycle value.
    slot: Cell<usize>,
    /// Whether the current span context is sampled (false when none is entered).
    span_sampled: Cell<bool>,
}

#[cfg(not(nanotel_loom))]
thread_local! {
    static WORDS: ThreadWords =
        const { ThreadWords { slot: Cell::new(INITIAL_SLOT), span_sampled: Cell::new(false) } };
}

// The same under loom, whose macro takes no `const` initializer.
#[cfg(nanotel_loom)]
loom::thread_local! {
    static WORDS: ThreadWords = ThreadWords { slot: Cell::new(INITIAL_SLOT), span_sampled: Cell::new(false) };
}

/// The slot word of a thread that has not recorded yet (`metrics::stripe`'s "unclaimed").
pub(crate) const INITIAL_SLOT: usize = usize::MAX;

/// This thread's slot word.
#[inline(always)]
pub(crate) fn slot_word() -> usize {
    WORDS.with(|words| words.slot.get())
}

/// Sets this thread's slot word (nothing once the thread's thread-locals are destroyed, which
/// happens only under loom: the block has no destructor).
#[inline]
pub(crate) fn set_slot_word(slot: usize) {
    let _ = WORDS.try_with(|words| words.slot.set(slot));
}

/// Whether this thread's current span context is sampled.
#[inline(always)]
pub(crate) fn span_sampled() -> bool {
    WORDS.with(|words| words.span_sampled.get())
}

/// Records whether the context just made current on this thread is sampled (as
/// [`set_slot_word`], nothing once the thread-locals are destroyed).
#[inline]
pub(crate) fn set_span_sampled(sampled: bool) {
    let _ = WORDS.try_with(|words| words.span_sampled.set(sampled));
}
