//! Striping: each series keeps one cell per stripe, and each thread records into its own stripe,
//! so threads recording to one series do not fight over one cache line. Collection sums the
//! stripes.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The number of stripes every series gets: twice the available parallelism rounded up to a power
/// of two, between 4 and 64. Twice, because threads get stripes round-robin and need not be
/// spread evenly over CPUs; a power of two so a thread's stripe is a mask, not a division.
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).next_power_of_two().clamp(4, 64)
    })
}

thread_local! {
    /// This thread's stripe number, before masking; `usize::MAX` until first used. A `const`
    /// initializer without a destructor makes each read a plain thread-local load.
    static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe number (mask it with the stripe count minus one).
#[inline]
pub(crate) fn home() -> usize {
    HOME.with(|home| {
        let stripe = home.get();
        if stripe != usize::MAX {
            return stripe;
        }
        // Relaxed: the counter only hands out distinct numbers; nothing is published with it.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let stripe = NEXT.fetch_add(1, Ordering::Relaxed) % 1024;
        home.set(stripe);
        stripe
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_different_stripes_and_keep_theirs() {
        assert!(count().is_power_of_two() && (4..=64).contains(&count()));
        let mine = home();
        assert_eq!(home(), mine);
        let other = std::thread::spawn(home).join().unwrap_or(mine);
        assert_ne!(other, mine);
    }
}
