//! The sum aggregation of counters and up-down counters: one padded cell per stripe.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;

use super::number::Number;
use super::stripe;

/// A running sum, striped so concurrent adds never share a cache line.
pub(crate) struct SumCells {
    stripes: Box<[CachePadded<AtomicU64>]>,
}

impl SumCells {
    pub(crate) fn new() -> Self {
        SumCells { stripes: (0..stripe::count()).map(|_| CachePadded::new(AtomicU64::new(0))).collect() }
    }

    /// One atomic add on this thread's stripe.
    #[inline]
    pub(crate) fn add<N: Number>(&self, value: N) {
        value.add_to(&self.stripes[stripe::home() & (self.stripes.len() - 1)]);
    }

    /// The sum so far, or (with `reset`) the sum since the last reset, zeroing it. Each stripe is
    /// swapped with zero in one atomic step, so an add racing with a reset lands either in this
    /// reading or in the next one, never in both or neither.
    pub(crate) fn read<N: Number>(&self, reset: bool) -> N {
        self.stripes.iter().fold(N::ZERO, |total, cell| {
            // Relaxed: each stripe is an independent total; no other memory is read through it.
            let bits =
                if reset { cell.swap(N::ZERO.to_bits(), Ordering::Relaxed) } else { cell.load(Ordering::Relaxed) };
            N::plus(total, N::from_bits(bits))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_from_many_threads_add_up_and_reset_exactly() {
        let cells = SumCells::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1000).for_each(|_| cells.add(2u64)));
            }
        });
        assert_eq!(cells.read::<u64>(false), 8000);
        assert_eq!(cells.read::<u64>(true), 8000);
        assert_eq!(cells.read::<u64>(false), 0);
        cells.add(-3i64);
        assert_eq!(cells.read::<i64>(false), -3);
    }
}
