//! The `tracing` spans entered on this thread, each holding its nanotel context current.
//!
//! Entering a span pushes a [`ContextGuard`] on this thread's stack; exiting it drops the guard,
//! which restores the context the span replaced. Guards must be dropped in the reverse order of
//! their making, but `tracing` lets spans be exited in any order: a span exited while spans
//! entered after it are still entered is only marked, and its guard is dropped when everything
//! above it has gone, so the current context is always that of the innermost span still entered.
//! A span exited on a thread that did not enter it (async code moved between threads) finds
//! nothing here and changes nothing, as `tracing`'s registry does with its own stack of the
//! current span.

use std::cell::RefCell;

use tracing::span::Id;

use crate::trace::ContextGuard;

/// One entered span.
struct Entered {
    id: u64,
    /// Held for its `Drop`: restores the context the span replaced.
    _guard: ContextGuard,
    /// Exited while spans above it were still entered.
    exited: bool,
}

thread_local! {
    /// Grows to the deepest nesting seen on the thread, then never allocates again.
    static STACK: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Records that the span `id` was entered on this thread, holding `guard` until it exits.
pub(super) fn push(id: &Id, guard: ContextGuard) {
    let entered = Entered { id: id.into_u64(), _guard: guard, exited: false };
    // `try_with`: while the thread's locals are torn down there is nothing to hold; the guard is
    // dropped at once.
    let _ = STACK.try_with(|stack| stack.borrow_mut().push(entered));
}

/// Records that the span `id` was exited on this thread: its context stops being current as
/// soon as no span entered after it is still entered.
pub(super) fn pop(id: &Id) {
    let id = id.into_u64();
    let _ = STACK.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        let Some(index) = stack.iter().rposition(|entered| entered.id == id && !entered.exited) else {
            return;
        };
        stack[index].exited = true;
        // Innermost first, so that each guard restores what the one below it made current.
        while stack.last().is_some_and(|top| top.exited) {
            drop(stack.pop());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::context::test_context as context;
    use crate::trace::Context;

    fn enter(n: u8) {
        push(&Id::from_u64(u64::from(n)), context(n).attach());
    }

    fn exit(n: u8) {
        pop(&Id::from_u64(u64::from(n)));
    }

    #[test]
    fn the_innermost_span_still_entered_is_current() {
        enter(1);
        enter(2);
        assert_eq!(Context::current(), context(2));
        exit(1); // out of order: 2 is still entered
        assert_eq!(Context::current(), context(2));
        exit(2);
        assert_eq!(Context::current(), Context::default());

        enter(1);
        enter(1); // re-entered
        exit(1);
        assert_eq!(Context::current(), context(1));
        exit(9); // never entered here
        exit(1);
        assert_eq!(Context::current(), Context::default());
        assert!(STACK.with(|stack| stack.borrow().is_empty()));
    }
}
