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

/// What a cell holds, through exclusive access (`&mut`): std's plain reference, or under loom a
/// pointer its closure gives, its access checked then (the memory is the cell's either way).
pub(crate) trait ExclusiveCell<T> {
    fn exclusive(&mut self) -> &mut T;
}

#[cfg(not(nanotel_loom))]
impl<T> ExclusiveCell<T> for UnsafeCell<T> {
    #[inline(always)]
    fn exclusive(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

#[cfg(nanotel_loom)]
impl<T> ExclusiveCell<T> for UnsafeCell<T> {
    fn exclusive(&mut self) -> &mut T {
        // SAFETY: `&mut self`: nothing else reaches the cell while the reference lives.
        self.with_mut(|value| unsafe { &mut *value })
    }
}

/// A byte atomic read and written through exclusive access (`&mut`): std's plain accesses
/// (`get_mut`), or loom's `with_mut` under a model (loom's atomics give no lasting reference).
pub(crate) trait ExclusiveByte {
    fn read_exclusive(&mut self) -> u8;
    fn write_exclusive(&mut self, value: u8);
}

impl ExclusiveByte for atomic::AtomicU8 {
    #[cfg(not(nanotel_loom))]
    #[inline(always)]
    fn read_exclusive(&mut self) -> u8 {
        *self.get_mut()
    }

    #[cfg(not(nanotel_loom))]
    #[inline(always)]
    fn write_exclusive(&mut self, value: u8) {
        *self.get_mut() = value;
    }

    #[cfg(nanotel_loom)]
    fn read_exclusive(&mut self) -> u8 {
        self.with_mut(|byte| *byte)
    }

    #[cfg(nanotel_loom)]
    fn write_exclusive(&mut self, value: u8) {
        self.with_mut(|byte| *byte = value);
    }
}

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

/// Waiting for another thread to finish a step this one needs (an insert in progress, a span's
/// ids being drawn, a span-table entry held), a bounded number of its instructions away: yields
/// the first [`Patience::YIELDS`] times, then sleeps [`Patience::NAP`] at each look. A yield alone
/// may never let that thread run: under a real-time policy (`SCHED_FIFO`, `SCHED_RR`)
/// `sched_yield` hands the core only to threads of the same priority, so a waiter of higher
/// priority on the core of a holder of lower priority would look for ever (until session 42 the
/// span ids' and span table's waits only yielded). Under loom, a yield each time (loom models no
/// time).
pub(crate) struct Patience {
    looks: u32,
}

impl Patience {
    /// Yields before the waits start sleeping.
    #[cfg(not(nanotel_loom))]
    pub(crate) const YIELDS: u32 = 64;
    /// The sleep of each look once the yields are spent.
    #[cfg(not(nanotel_loom))]
    pub(crate) const NAP: std::time::Duration = std::time::Duration::from_micros(50);

    pub(crate) const fn new() -> Patience {
        Patience { looks: 0 }
    }

    /// Lets the other thread run before this one looks again.
    #[cold]
    pub(crate) fn wait(&mut self) {
        self.looks = self.looks.saturating_add(1);
        #[cfg(not(nanotel_loom))]
        if self.looks > Self::YIELDS {
            std::thread::sleep(Self::NAP);
        } else {
            std::thread::yield_now();
        }
        #[cfg(nanotel_loom)]
        loom::thread::yield_now();
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::Patience;

    /// Past its yields a wait sleeps, which lets a thread of any priority run (a yield lets only
    /// those of the waiter's own).
    #[test]
    fn waits_sleep_once_the_yields_are_spent() {
        let mut patience = Patience::new();
        for _ in 0..Patience::YIELDS {
            patience.wait();
        }
        let started = std::time::Instant::now();
        for _ in 0..4 {
            patience.wait();
        }
        assert!(started.elapsed() >= Patience::NAP * 4, "{:?}", started.elapsed());
    }
}
