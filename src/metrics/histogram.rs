//! The explicit-bucket histogram aggregation: per stripe, one count per bucket, the sum, the
//! minimum and the maximum, all atomics in one block of cache lines of their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;

use super::number::Number;
use super::stripe;

/// The specification's default boundaries (OTLP-NOTES §6.4).
pub const DEFAULT_BOUNDARIES: [f64; 15] =
    [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];

/// Cells per block: 16 × 8 bytes, a pair of 64-byte cache lines (what `CachePadded` pads to on
/// x86_64, where adjacent-line prefetch makes pairs of lines behave as one).
const BLOCK: usize = 16;

/// The bucket a value falls in: the first whose upper bound is ≥ the value (upper bounds are
/// inclusive), or the last, unbounded one. Counting the bounds below the value is branch-free
/// and vectorizes for the usual dozen or two bounds; long lists are binary-searched.
#[inline]
pub(crate) fn bucket_index(bounds: &[f64], value: f64) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().map(|&bound| (bound < value) as usize).sum()
    } else {
        bounds.partition_point(|&bound| bound < value)
    }
}

/// What a histogram series holds at one reading.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HistogramValues<N> {
    /// One count per bucket (`bounds.len() + 1`); the point's count is their sum.
    pub counts: Vec<u64>,
    pub sum: N,
    pub min: N,
    pub max: N,
}

impl<N: Number> HistogramValues<N> {
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A striped explicit-bucket histogram.
pub(crate) struct HistogramCells {
    bounds: Arc<[f64]>,
    /// Blocks per stripe.
    blocks_per_stripe: usize,
    /// The stripe count minus one (kept, so the hot path does not divide to find it).
    stripe_mask: usize,
    blocks: Box<[CachePadded<[AtomicU64; BLOCK]>]>,
}

impl HistogramCells {
    /// Cells of a stripe: the bucket counts, then the sum, the minimum and the maximum.
    fn cells_per_stripe(bounds: &[f64]) -> usize {
        bounds.len() + 1 + 3
    }

    pub(crate) fn new<N: Number>(bounds: Arc<[f64]>) -> Self {
        let per_stripe = Self::cells_per_stripe(&bounds);
        let blocks_per_stripe = per_stripe.div_ceil(BLOCK);
        let blocks = (0..stripe::count() * blocks_per_stripe)
            .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        let cells = HistogramCells { bounds, blocks_per_stripe, stripe_mask: stripe::count() - 1, blocks };
        for stripe in 0..stripe::count() {
            cells.reset_extremes::<N>(stripe);
        }
        cells
    }

    pub(crate) fn bounds(&self) -> &Arc<[f64]> {
        &self.bounds
    }

    #[inline]
    fn cell(&self, stripe: usize, index: usize) -> &AtomicU64 {
        &self.blocks[stripe * self.blocks_per_stripe + index / BLOCK][index % BLOCK]
    }

    fn stripes(&self) -> usize {
        self.stripe_mask + 1
    }

    fn reset_extremes<N: Number>(&self, stripe: usize) {
        let n = self.bounds.len() + 1;
        self.cell(stripe, n + 1).store(N::MAX.to_bits(), Ordering::Relaxed);
        self.cell(stripe, n + 2).store(N::MIN.to_bits(), Ordering::Relaxed);
    }

    /// Two atomic adds (the bucket, the sum) and two loads (min, max), which store only when
    /// the value is a new extreme. Non-finite values are ignored: they would poison the sum.
    #[inline]
    pub(crate) fn record<N: Number>(&self, value: N) {
        if !value.is_finite() {
            return;
        }
        let n = self.bounds.len() + 1;
        let index = bucket_index(&self.bounds, value.to_f64());
        let stripe = stripe::slot() & self.stripe_mask;
        // Relaxed throughout: each cell is an independent total read by the collector; a
        // reading taken mid-record may see the bucket without the sum, which the next reading
        // settles (the count, derived from the buckets, is always consistent with them).
        self.cell(stripe, index).fetch_add(1, Ordering::Relaxed);
        value.add_to(self.cell(stripe, n));
        update_extreme(self.cell(stripe, n + 1), value, |new, old| new < old);
        update_extreme(self.cell(stripe, n + 2), value, |new, old| new > old);
    }

    /// The values so far, or (with `reset`) since the last reset, which each cell's atomic swap
    /// makes exact: every recording is counted in exactly one reading.
    pub(crate) fn read<N: Number>(&self, reset: bool) -> HistogramValues<N> {
        let n = self.bounds.len() + 1;
        let mut values = HistogramValues { counts: vec![0; n], sum: N::ZERO, min: N::MAX, max: N::MIN };
        // Relaxed as in `record`.
        let take = |cell: &AtomicU64, fresh: u64| {
            if reset {
                cell.swap(fresh, Ordering::Relaxed)
            } else {
                cell.load(Ordering::Relaxed)
            }
        };
        for stripe in 0..self.stripes() {
            for (bucket, count) in values.counts.iter_mut().enumerate() {
                *count += take(self.cell(stripe, bucket), 0);
            }
            values.sum = N::plus(values.sum, N::from_bits(take(self.cell(stripe, n), N::ZERO.to_bits())));
            let min = N::from_bits(take(self.cell(stripe, n + 1), N::MAX.to_bits()));
            let max = N::from_bits(take(self.cell(stripe, n + 2), N::MIN.to_bits()));
            if min < values.min {
                values.min = min;
            }
            if max > values.max {
                values.max = max;
            }
        }
        values
    }
}

/// Replaces the cell's value with `value` while `better(value, current)`. Relaxed: the extreme
/// is a lone value like the others.
#[inline]
fn update_extreme<N: Number>(cell: &AtomicU64, value: N, better: impl Fn(N, N) -> bool) {
    let mut current = cell.load(Ordering::Relaxed);
    while better(value, N::from_bits(current)) {
        match cell.compare_exchange_weak(current, value.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds_are_inclusive() {
        let bounds = [0.0, 5.0, 10.0];
        assert_eq!(bucket_index(&bounds, -1.0), 0);
        assert_eq!(bucket_index(&bounds, 0.0), 0);
        assert_eq!(bucket_index(&bounds, 0.0001), 1);
        assert_eq!(bucket_index(&bounds, 5.0), 1);
        assert_eq!(bucket_index(&bounds, 5.000001), 2);
        assert_eq!(bucket_index(&bounds, 10.0), 2);
        assert_eq!(bucket_index(&bounds, 10.5), 3);
        let long: Vec<f64> = (0..100).map(f64::from).collect();
        for value in [-0.5, 0.0, 0.5, 42.0, 42.5, 99.0, 99.5] {
            assert_eq!(bucket_index(&long, value), long.iter().filter(|&&b| b < value).count(), "{value}");
        }
    }

    #[test]
    fn records_counts_sum_and_extremes_per_bucket() {
        let cells = HistogramCells::new::<f64>(DEFAULT_BOUNDARIES.to_vec().into());
        for value in [0.0, 5.0, 7.0, 10000.0, 10000.5, f64::NAN, f64::INFINITY] {
            cells.record(value);
        }
        let values = cells.read::<f64>(true);
        assert_eq!(values.counts.len(), 16);
        assert_eq!(
            (values.counts[0], values.counts[1], values.counts[2], values.counts[14], values.counts[15]),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(values.count(), 5);
        assert_eq!((values.sum, values.min, values.max), (20012.5, 0.0, 10000.5));
        let empty = cells.read::<f64>(false);
        assert_eq!((empty.count(), empty.sum, empty.min, empty.max), (0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
    }
}
