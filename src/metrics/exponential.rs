//! The base-2 exponential histogram (OTLP-NOTES §6.5): the index mapping, and a plain
//! (single-threaded) histogram state with the specification's downscaling rules.
//!
//! The plain state is what collection merges stripes into, what the concurrent cells fall back
//! to on their rare slow path, and the reference model the tests hold the cells to.

use super::exponential_table::{tables, Tables, TABLE_MAX_SCALE};

/// Buckets per range (positive and negative separately), as the specification recommends.
pub const MAX_SIZE: usize = 160;
/// The scale a histogram starts at.
pub const MAX_SCALE: i32 = 20;
/// The lowest scale: at −10 every finite `f64` falls in one of four buckets, so no histogram
/// ever needs to go lower.
pub const MIN_SCALE: i32 = -10;

pub(crate) const MANTISSA_BITS: u32 = 52;
const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;

/// The bucket index of a positive finite value at `scale`: bucket `i` holds (base^i, base^(i+1)]
/// with base = 2^(2^-scale). Exact powers of two are mapped exactly, and so is every value at
/// scales up to 10 (by table: see `exponential_table`); other values through the logarithm, then
/// clamped into the indices of their power-of-two octave so rounding can never move a value out
/// of it. Subnormal values count as the smallest normal one.
#[inline]
#[must_use]
pub fn index(value: f64, scale: i32) -> i32 {
    index_by(value, scale, tables)
}

/// [`index`] of the magnitude of a finite non-zero value of either sign (the sign bit is not
/// among the bits the mapping reads), with the tables `tables` gives (asked for only at the scales
/// mapped by table). Taking the sign as it comes spares a record the mask `f64::abs` loads.
#[inline(always)]
pub(crate) fn index_by(value: f64, scale: i32, tables: impl FnOnce() -> Tables) -> i32 {
    let bits = value.to_bits();
    let biased = ((bits >> MANTISSA_BITS) & 0x7ff) as i32;
    let (exponent, mantissa) = if biased == 0 { (-1022, 0) } else { (biased - 1023, bits & MANTISSA_MASK) };
    if scale <= 0 {
        // (2^e, 2^(e+1)] at scale 0 has index e, except 2^e itself which closes bucket e − 1.
        let octave = if mantissa == 0 { exponent - 1 } else { exponent };
        return octave >> -scale;
    }
    if mantissa == 0 {
        return (exponent << scale) - 1;
    }
    let first = exponent << scale;
    if scale <= TABLE_MAX_SCALE {
        return first + tables().bucket_in_octave(mantissa, scale);
    }
    let last = ((exponent + 1) << scale) - 1;
    let by_log = (value.abs().ln() * std::f64::consts::LOG2_E * f64::from(1u32 << scale)).ceil() as i32 - 1;
    by_log.clamp(first, last)
}

/// The lower boundary of bucket `index` at `scale` (exclusive: the bucket is (lower, upper]).
#[must_use]
pub fn lower_boundary(index: i32, scale: i32) -> f64 {
    if scale <= 0 {
        return 2f64.powi(index << -scale);
    }
    (f64::from(index) * std::f64::consts::LN_2 / f64::from(1u32 << scale)).exp()
}

/// The smallest `k` for which indices `low..=high` fit in `size` buckets after `index >> k`.
pub(crate) fn downscale_needed(low: i32, high: i32, size: usize) -> u32 {
    let mut k = 0;
    while (high >> k) - (low >> k) >= size as i32 {
        k += 1;
    }
    k
}

/// The counts of one range (positive or negative): `counts[i]` belongs to index `offset + i`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// The index of `counts[0]`.
    pub offset: i32,
    /// Counts, possibly with zeros at either end.
    pub counts: Vec<u64>,
}

impl Buckets {
    /// The first and last index with a non-zero count.
    #[must_use]
    pub fn range(&self) -> Option<(i32, i32)> {
        let first = self.counts.iter().position(|&c| c != 0)?;
        let last = self.counts.iter().rposition(|&c| c != 0)?;
        Some((self.offset + first as i32, self.offset + last as i32))
    }

    /// Without the zeros at either end (empty when all are zero).
    #[must_use]
    pub fn trimmed(&self) -> Buckets {
        match self.range() {
            Some((low, high)) => Buckets {
                offset: low,
                counts: self.counts[(low - self.offset) as usize..=(high - self.offset) as usize].to_vec(),
            },
            None => Buckets::default(),
        }
    }

    /// Adds `count` to bucket `index`, growing the dense array to reach it.
    pub fn add(&mut self, index: i32, count: u64) {
        if count == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(count);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += count;
    }

    /// Every index becomes `index >> by`; counts of merged buckets add up.
    pub fn downscale(&mut self, by: u32) {
        if by == 0 {
            return;
        }
        let old = std::mem::take(self).trimmed();
        for (i, &count) in old.counts.iter().enumerate() {
            self.add((old.offset + i as i32) >> by, count);
        }
    }
}

/// A whole exponential histogram, single-threaded.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpoState {
    /// The current scale.
    pub scale: i32,
    /// Positive values by index.
    pub positive: Buckets,
    /// Negative values by the index of their absolute value.
    pub negative: Buckets,
    /// Zeros (the zero threshold is 0).
    pub zero_count: u64,
    /// The sum of the values.
    pub sum: f64,
    /// The smallest value (+∞ when empty).
    pub min: f64,
    /// The largest value (−∞ when empty).
    pub max: f64,
}

impl Default for ExpoState {
    fn default() -> Self {
        ExpoState {
            scale: MAX_SCALE,
            positive: Buckets::default(),
            negative: Buckets::default(),
            zero_count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl ExpoState {
    /// The number of values: the zeros plus every bucket.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.zero_count + self.positive.counts.iter().sum::<u64>() + self.negative.counts.iter().sum::<u64>()
    }

    /// Records one value; NaN and infinities are ignored (they have no bucket).
    pub fn record(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count += 1;
            return;
        }
        let positive = value > 0.0;
        let mut index = index(value.abs(), self.scale);
        let range = if positive { &self.positive } else { &self.negative };
        let (low, high) = range.range().map_or((index, index), |(l, h)| (l.min(index), h.max(index)));
        let k = downscale_needed(low, high, MAX_SIZE);
        if k > 0 {
            self.downscale(k);
            index >>= k;
        }
        let range = if positive { &mut self.positive } else { &mut self.negative };
        range.add(index, 1);
    }

    /// Lowers the scale by `by` for both ranges (they always share one scale).
    pub fn downscale(&mut self, by: u32) {
        let by = by.min((self.scale - MIN_SCALE) as u32);
        self.positive.downscale(by);
        self.negative.downscale(by);
        self.scale -= by as i32;
    }

    /// Adds another histogram's values, at the largest scale that holds both in [`MAX_SIZE`]
    /// buckets per sign.
    pub fn merge(&mut self, other: &ExpoState) {
        self.merge_within(other, MAX_SIZE);
    }

    /// Adds another histogram's values, at the largest scale that holds both in `max_size`
    /// buckets per sign (each in that many already).
    pub fn merge_within(&mut self, other: &ExpoState, max_size: usize) {
        let mut other = other.clone();
        let scale = self.scale.min(other.scale);
        self.downscale((self.scale - scale) as u32);
        other.downscale((other.scale - scale) as u32);
        let union = |a: &Buckets, b: &Buckets| match (a.range(), b.range()) {
            (Some((l1, h1)), Some((l2, h2))) => downscale_needed(l1.min(l2), h1.max(h2), max_size),
            (Some((l, h)), None) | (None, Some((l, h))) => downscale_needed(l, h, max_size),
            (None, None) => 0,
        };
        let k = union(&self.positive, &other.positive).max(union(&self.negative, &other.negative));
        self.downscale(k);
        other.downscale(k);
        for (mine, theirs) in [(&mut self.positive, &other.positive), (&mut self.negative, &other.negative)] {
            for (i, &count) in theirs.counts.iter().enumerate() {
                mine.add(theirs.offset + i as i32, count);
            }
        }
        self.zero_count += other.zero_count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    use super::super::exponential_table;
    use super::*;

    #[test]
    fn powers_of_two_close_their_bucket_at_every_scale() {
        for scale in MIN_SCALE..=MAX_SCALE {
            for exponent in [-1022, -100, -1, 0, 1, 10, 1023] {
                let value = 2f64.powi(exponent);
                let expected = if scale > 0 { (exponent << scale) - 1 } else { (exponent - 1) >> -scale };
                assert_eq!(index(value, scale), expected, "2^{exponent} at scale {scale}");
                // The next float up opens the following bucket.
                let above = f64::from_bits(value.to_bits() + 1);
                let expected_above = if scale > 0 { expected + 1 } else { exponent >> -scale };
                assert_eq!(index(above, scale), expected_above, "above 2^{exponent} at scale {scale}");
            }
        }
    }

    #[test]
    fn bucket_edges_at_positive_scales() {
        for scale in [1, 3, 8, 20] {
            for index_expected in [-1000, -7, -1, 0, 1, 5, 77, 1000] {
                let lower = lower_boundary(index_expected, scale);
                let upper = lower_boundary(index_expected + 1, scale);
                let mid = lower + (upper - lower) / 2.0;
                assert_eq!(index(mid, scale), index_expected, "middle of bucket {index_expected} at {scale}");
                // Slightly inside each edge (the logarithm is allowed to be off exactly at them).
                let inside_low = lower + (upper - lower) * 1e-6;
                let inside_high = upper - (upper - lower) * 1e-6;
                assert_eq!(index(inside_low, scale), index_expected, "{inside_low} at {scale}");
                assert_eq!(index(inside_high, scale), index_expected, "{inside_high} at {scale}");
            }
        }
        // At scale 1 (base √2): bucket 2 is (2, 2√2], bucket 3 is (2√2, 4].
        assert_eq!(index(2.8, 1), 2);
        assert_eq!(index(3.0, 1), 3);
    }

    #[test]
    fn the_table_agrees_with_the_logarithm_away_from_the_boundaries() {
        let mut value = 1e-9f64;
        while value < 1e9 {
            for scale in 1..=exponential_table::TABLE_MAX_SCALE {
                let by_log = (value.ln() * std::f64::consts::LOG2_E * f64::from(1u32 << scale)).ceil() as i32 - 1;
                let at = index(value, scale);
                let lower = lower_boundary(at, scale);
                let upper = lower_boundary(at + 1, scale);
                let near_edge = ((value - lower) / value).abs() < 1e-12 || ((upper - value) / value).abs() < 1e-12;
                assert!(at == by_log || near_edge, "{value} at {scale}: table {at}, logarithm {by_log}");
                assert!(lower < value * (1.0 + 1e-12) && value <= upper * (1.0 + 1e-12), "{value} in bucket {at}");
            }
            value *= 1.0137;
        }
    }

    #[test]
    fn downscaled_indices_agree_with_the_mapping_at_the_lower_scale() {
        // Downscaling shifts indices (index >> k); that is only right if the mapping itself
        // nests: the bucket of v at scale s − k is the bucket at scale s shifted by k.
        let mut value = 1e-12;
        while value < 1e12 {
            for scale in [20, 12, 5, 1, 0, -3] {
                for k in [1, 2, 5, 9] {
                    let lower = scale - k;
                    if lower >= MIN_SCALE {
                        assert_eq!(index(value, scale) >> k, index(value, lower), "{value} from {scale} by {k}");
                    }
                }
            }
            value *= 1.37;
        }
        // After a real downscale, every recorded value is in the bucket the mapping gives it.
        let values: Vec<f64> = (1..400).map(|i| f64::from(i).powf(2.7) * 1e-3).collect();
        let mut state = ExpoState::default();
        values.iter().for_each(|&v| state.record(v));
        assert!(state.scale < MAX_SCALE);
        let mut expected = Buckets::default();
        values.iter().for_each(|&v| expected.add(index(v, state.scale), 1));
        assert_eq!(state.positive.trimmed(), expected.trimmed());
    }

    #[test]
    fn subnormals_count_as_the_smallest_normal() {
        assert_eq!(index(f64::from_bits(1), 0), index(f64::MIN_POSITIVE, 0));
        assert_eq!(index(f64::MAX, MAX_SCALE), (1024 << MAX_SCALE) - 1);
    }

    #[test]
    fn single_value_stays_at_max_scale_and_wide_ranges_downscale() {
        let mut state = ExpoState::default();
        state.record(1.5);
        assert_eq!(state.scale, MAX_SCALE);
        // 1 .. 2^20 spans 20 octaves: 160 buckets hold 20 octaves at scale 3 (8 per octave).
        for e in 0..=20 {
            state.record(2f64.powi(e) * 1.1);
        }
        assert_eq!(state.scale, 2, "{state:?}");
        let (low, high) = state.positive.range().unwrap_or_default();
        assert!(high - low < MAX_SIZE as i32);
        assert_eq!(state.count(), 22);
    }

    #[test]
    fn downscaling_merges_buckets_by_shifting_indices() {
        let mut b = Buckets::default();
        for (index, count) in [(-3, 1), (-2, 2), (0, 3), (1, 4), (5, 5)] {
            b.add(index, count);
        }
        b.downscale(1);
        // -3>>1=-2, -2>>1=-1, 0>>1=0, 1>>1=0, 5>>1=2
        assert_eq!(b.trimmed(), Buckets { offset: -2, counts: vec![1, 2, 7, 0, 5] });
    }

    #[test]
    fn merge_within_a_smaller_size_downscales_until_the_union_fits() {
        let (mut a, mut b) = (ExpoState::default(), ExpoState::default());
        a.record(1.5);
        b.record(1000.0);
        a.merge_within(&b, 4);
        let (low, high) = a.positive.range().unwrap();
        assert!(high - low < 4, "{:?}", a.positive);
        assert!(index(1000.0, a.scale + 1) - index(1.5, a.scale + 1) >= 4, "the largest scale that fits");
        assert_eq!(a.count(), 2);
    }

    #[test]
    fn merge_equals_recording_everything_into_one() {
        let values_a: Vec<f64> = (1..500).map(|i| f64::from(i) * 0.37).collect();
        let values_b: Vec<f64> = (1..300).map(|i| -f64::from(i) * 1000.0).chain([0.0, 1e-9]).collect();
        let (mut a, mut b, mut all) = (ExpoState::default(), ExpoState::default(), ExpoState::default());
        values_a.iter().for_each(|&v| a.record(v));
        values_b.iter().for_each(|&v| b.record(v));
        values_a.iter().chain(&values_b).for_each(|&v| all.record(v));
        a.merge(&b);
        assert_eq!(a.scale, all.scale);
        assert_eq!(a.positive.trimmed(), all.positive.trimmed());
        assert_eq!(a.negative.trimmed(), all.negative.trimmed());
        assert_eq!((a.zero_count, a.count(), a.min, a.max), (all.zero_count, all.count(), all.min, all.max));
    }
}
