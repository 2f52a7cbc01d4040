//! The synchronisation primitives of the crate's lock-free structures, from `std`, or from
//! [loom](https://docs.rs/loom) when the crate is built with `--cfg nanotel_loom` (see `scripts/loom.sh`),
//! so that the loom models exercise the very code that ships. (A cfg of our own, not `loom`:
//! tokio and others change their API under `cfg(loom)`, and the cfg reaches every crate.)
//!
//! Only the structures that have a loom model take their atomics, `Arc` and `UnsafeCell` from
//! here. `UnsafeCell` is a thin wrapper with loom's closure-based API (`with`, `with_mut`): under
//! loom every access to a cell's contents is checked for a concurrent access; with `std` the
//! closures inline to a plain pointer access.

#[cfg(nanotel_loom)]
pub(crate) use loom::sync::{atomic, Arc};
#[cfg(not(nanotel_loom))]
pub(crate) use std::sync::{atomic, Arc};

/// A cell whose contents are reached through a raw pointer inside a closure.
#[cfg(not(nanotel_loom))]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(nanotel_loom))]
impl<T> UnsafeCell<T> {
    /// A cell holding `value`.
    #[inline(always)]
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer to read the contents through.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer to write the contents through.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(nanotel_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// A lock whose `lock` hands back the guard directly: `parking_lot`'s (no poisoning, one byte,
/// an uncontended lock and unlock are one compare-and-swap each), or loom's under a model. Used
/// by the tracing layer's span table and the series tables that reclaim series (cold paths).
#[cfg(not(nanotel_loom))]
pub(crate) use parking_lot::Mutex;

/// loom's lock with `parking_lot`'s signature (a model never panics while holding it).
#[cfg(nanotel_loom)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(nanotel_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
