//! The last-value aggregation of synchronous gauges: one cell per series.
//!
//! Not striped: "last" is only meaningful for one cell, and a gauge is set, not accumulated.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use super::number::Number;

/// The last value recorded, and whether one was.
pub(crate) struct GaugeCell {
    cell: CachePadded<(AtomicU64, AtomicBool)>,
}

impl GaugeCell {
    pub(crate) fn new() -> Self {
        GaugeCell { cell: CachePadded::new((AtomicU64::new(0), AtomicBool::new(false))) }
    }

    /// One store (and, the first time only, a second one marking the series as set).
    #[inline]
    pub(crate) fn record<N: Number>(&self, value: N) {
        let (cell, recorded) = &*self.cell;
        // Relaxed: a lone value; the flag below publishes the first one.
        cell.store(value.to_bits(), Ordering::Relaxed);
        if !recorded.load(Ordering::Relaxed) {
            // Release pairs with the Acquire in `read`: a reader that sees the flag sees a value.
            recorded.store(true, Ordering::Release);
        }
    }

    /// Adds `delta` to the value (0 when none was recorded) in one compare-and-swap loop, so
    /// concurrent adds and sets are never lost, and returns the value it made. Only the `metrics`
    /// bridge adds to a gauge: the specification's gauge is only set, but `metrics`' `gauge!` also
    /// moves up and down.
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn add<N: Number>(&self, delta: N) -> N {
        let (cell, recorded) = &*self.cell;
        let added = |bits| N::plus(N::from_bits(bits), delta);
        // Relaxed: as in `record`; the loop makes the read-modify-write atomic.
        let previous = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some(added(bits).to_bits()));
        if !recorded.load(Ordering::Relaxed) {
            // Release: as in `record`.
            recorded.store(true, Ordering::Release);
        }
        // The closure never refuses: `fetch_update` returns the value it replaced either way.
        added(previous.unwrap_or_else(|bits| bits))
    }

    /// The last value, if any was recorded.
    pub(crate) fn read<N: Number>(&self) -> Option<N> {
        let (cell, recorded) = &*self.cell;
        recorded.load(Ordering::Acquire).then(|| N::from_bits(cell.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_value_once_set() {
        let gauge = GaugeCell::new();
        assert_eq!(gauge.read::<f64>(), None);
        gauge.record(2.5f64);
        gauge.record(-1.0f64);
        assert_eq!(gauge.read::<f64>(), Some(-1.0));
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn adds_from_zero_and_from_the_value_set() {
        let gauge = GaugeCell::new();
        assert_eq!(Some(gauge.add(-1.5f64)), Some(-1.5));
        assert_eq!(gauge.read::<f64>(), Some(-1.5));
        gauge.record(10.0f64);
        assert_eq!(Some(gauge.add(2.5f64)), Some(12.5));
        assert_eq!(gauge.read::<f64>(), Some(12.5));
    }
}
