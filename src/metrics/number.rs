//! The value types instruments record, and how each is kept in an `AtomicU64`.

use crate::sync::atomic::{AtomicU64, Ordering};

use crate::proto::metrics::v1::number_data_point::Value as PointValue;

mod sealed {
    /// What the crate alone needs to know of each value type.
    pub trait Sealed {
        /// Whether addition wraps (the integers): then a running total minus an earlier reading of
        /// it is exactly what was added in between, so a sum can stay cumulative and report
        /// deltas by subtraction. Float totals would lose the small deltas of large totals.
        const WRAPS: bool;
    }
    impl Sealed for u64 {
        const WRAPS: bool = true;
    }
    impl Sealed for i64 {
        const WRAPS: bool = true;
    }
    impl Sealed for f64 {
        const WRAPS: bool = false;
    }
}

/// A value an instrument records: `u64`, `i64` or `f64`.
///
/// Every value lives in an `AtomicU64` as its bit pattern, so one cell type serves all three.
pub trait Number: sealed::Sealed + Copy + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    /// The additive identity.
    const ZERO: Self;
    /// The largest value, the starting point of a running minimum.
    const MAX: Self;
    /// The smallest value, the starting point of a running maximum.
    const MIN: Self;

    /// The bit pattern stored in a cell.
    fn to_bits(self) -> u64;
    /// The value of a stored bit pattern.
    fn from_bits(bits: u64) -> Self;
    /// Adds `self` to a cell other threads may add to: one `fetch_add` for integers, a
    /// compare-and-swap loop for floats.
    fn add_to(self, cell: &AtomicU64);
    /// `a + b`, wrapping for integers (a sum of stripes may pass through a wrapped value).
    fn plus(a: Self, b: Self) -> Self;
    /// `a - b`, wrapping for integers.
    fn minus(a: Self, b: Self) -> Self;
    /// The value as a float (exact below 2^53 for integers).
    fn to_f64(self) -> f64;
    /// The OTLP form of the value: `as_int` for integers, `as_double` for floats.
    fn to_point(self) -> PointValue;
    /// Whether the value may enter a sum or a histogram: false for NaN and infinities.
    fn is_finite(self) -> bool;
    /// Whether the value is a valid counter increment (not negative, not NaN or infinite).
    fn is_increment(self) -> bool;
}

impl Number for u64 {
    const ZERO: Self = 0;
    const MAX: Self = u64::MAX;
    const MIN: Self = 0;
    fn to_bits(self) -> u64 {
        self
    }
    fn from_bits(bits: u64) -> Self {
        bits
    }
    #[inline]
    fn add_to(self, cell: &AtomicU64) {
        // Relaxed: a counter cell orders nothing else; the collector only needs each add to land
        // exactly once, which atomicity alone guarantees.
        cell.fetch_add(self, Ordering::Relaxed);
    }
    fn plus(a: Self, b: Self) -> Self {
        a.wrapping_add(b)
    }
    fn minus(a: Self, b: Self) -> Self {
        a.wrapping_sub(b)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        // Below 2^63, the signed conversion: one instruction, where the unsigned one (`as`) reads
        // two constants from read-only data, two lines on a page of their own that a cold
        // histogram record would miss (benches/README.md, `touched`). Both round the same.
        if let Ok(signed) = i64::try_from(self) {
            signed as f64
        } else {
            // Halved with the lost bit kept as a sticky bit, so the doubled result rounds as the
            // direct conversion would; written out because the compiler turns a branch with `as`
            // back into the unsigned conversion and its constants.
            let halved = ((self >> 1) | (self & 1)) as i64 as f64;
            halved + halved
        }
    }
    fn to_point(self) -> PointValue {
        // OTLP integers are signed 64-bit: a total past i64::MAX wraps, as in every OTel SDK.
        PointValue::AsInt(self as i64)
    }
    fn is_finite(self) -> bool {
        true
    }
    fn is_increment(self) -> bool {
        true
    }
}

impl Number for i64 {
    const ZERO: Self = 0;
    const MAX: Self = i64::MAX;
    const MIN: Self = i64::MIN;
    fn to_bits(self) -> u64 {
        self as u64
    }
    fn from_bits(bits: u64) -> Self {
        bits as i64
    }
    #[inline]
    fn add_to(self, cell: &AtomicU64) {
        // Two's complement: adding the bit pattern is adding the signed value. Relaxed as for u64.
        cell.fetch_add(self as u64, Ordering::Relaxed);
    }
    fn plus(a: Self, b: Self) -> Self {
        a.wrapping_add(b)
    }
    fn minus(a: Self, b: Self) -> Self {
        a.wrapping_sub(b)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn to_point(self) -> PointValue {
        PointValue::AsInt(self)
    }
    fn is_finite(self) -> bool {
        true
    }
    fn is_increment(self) -> bool {
        self >= 0
    }
}

impl Number for f64 {
    const ZERO: Self = 0.0;
    const MAX: Self = f64::INFINITY;
    const MIN: Self = f64::NEG_INFINITY;
    fn to_bits(self) -> u64 {
        f64::to_bits(self)
    }
    fn from_bits(bits: u64) -> Self {
        f64::from_bits(bits)
    }
    #[inline]
    fn add_to(self, cell: &AtomicU64) {
        // No atomic float add exists: retry until no other thread changed the cell in between.
        // Relaxed as for integers; the cell is the only data involved.
        let mut current = cell.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + self).to_bits();
            match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
    fn plus(a: Self, b: Self) -> Self {
        a + b
    }
    fn minus(a: Self, b: Self) -> Self {
        a - b
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn to_point(self) -> PointValue {
        PointValue::AsDouble(self)
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn is_increment(self) -> bool {
        self >= 0.0 && f64::is_finite(self)
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_integer_converts_to_the_float_the_unsigned_conversion_makes() {
        let edges = [0, 1, 1 << 53, (1 << 53) + 1, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, (1 << 63) + 1024, u64::MAX];
        // Values around every power of two, where halving drops a bit that decides the rounding.
        let around = (0..64).flat_map(|shift| {
            [0u64, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049].map(|d| (1u64 << shift).wrapping_add(d))
        });
        let high = (0..2048u64).map(|low| u64::MAX - low).chain((0..2048).map(|low| (1 << 63) + (low << 9) + low));
        for value in edges.into_iter().chain(around).chain(high) {
            assert_eq!(value.to_f64().to_bits(), (value as f64).to_bits(), "{value}");
        }
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "1.5 + 2.25 is exactly 3.75 in binary floating point")]
    fn bits_round_trip_and_adds_wrap_like_the_type() {
        let cell = AtomicU64::new(0);
        (-5i64).add_to(&cell);
        3i64.add_to(&cell);
        assert_eq!(i64::from_bits(cell.load(Ordering::Relaxed)), -2);
        let cell = AtomicU64::new(1.5f64.to_bits());
        2.25f64.add_to(&cell);
        assert_eq!(f64::from_bits(cell.load(Ordering::Relaxed)), 3.75);
        assert!(!f64::NAN.is_increment() && !(-1.0f64).is_increment() && 0.0f64.is_increment());
        assert_eq!(u64::MAX.to_point(), PointValue::AsInt(-1));
    }
}
