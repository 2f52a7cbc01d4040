//! The handles `register_*` returns: each wraps one bound series, so recording through a held
//! `metrics` handle is a virtual call and the series' own record.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{CounterFn, GaugeFn, HistogramFn};

use crate::metrics::{BoundCounter, BoundGauge, BoundHistogram};

/// A counter series, and the highest `absolute` value it was raised to.
pub(super) struct CounterHandle {
    pub series: BoundCounter<u64>,
    pub highest: AtomicU64,
}

impl CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        self.series.add(value);
    }

    /// Adds only the rise above the highest value seen, so callers racing with older values
    /// never move the sum back or count a rise twice.
    fn absolute(&self, value: u64) {
        // Relaxed: `fetch_max` alone decides which caller adds which rise; no other memory is
        // published through it.
        let before = self.highest.fetch_max(value, Ordering::Relaxed);
        if value > before {
            self.series.add(value - before);
        }
    }
}

/// A gauge series.
pub(super) struct GaugeHandle(pub BoundGauge<f64>);

impl GaugeFn for GaugeHandle {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.record(value);
    }
}

/// A histogram series.
pub(super) struct HistogramHandle(pub BoundHistogram<f64>);

impl HistogramFn for HistogramHandle {
    #[inline]
    fn record(&self, value: f64) {
        self.0.record(value);
    }
}
