//! The exponential histogram's index mapping at small positive scales, by table instead of by
//! logarithm: a record's cost there was mostly the `ln` call, and the scales a histogram of a
//! real range settles at are small (latencies over 1 µs..10 ms fit 160 buckets at scale 3).
//!
//! # The lookup
//!
//! At scale `s` an octave [2^e, 2^(e+1)) holds `2^s` buckets; bucket `j` of the octave holds the
//! values whose significand `m` (in [1, 2)) lies in (2^(j/2^s), 2^((j+1)/2^s)]. Those boundaries,
//! as the 52 mantissa bits of their significand, are `bounds`. The mantissa range is also cut into
//! `2^(s+1)` equal slices, and `first` holds, per slice, the bucket of its lowest mantissa. Two
//! boundaries are at least (2^(2^-s) − 1) ≈ 0.69 / 2^s apart, more than a slice (0.5 / 2^s), so a
//! slice holds at most one boundary: a value's bucket is its slice's `first`, or the next one when
//! its mantissa is above the next boundary. Two loads, one comparison.
//!
//! The boundaries come from `exp2(j / 2^s)`, whose argument at scale `s − 1` for `j` is exactly
//! its argument at scale `s` for `2j`: each scale's boundaries are among the next one's, so
//! downscaling (an index shifted right) agrees with the mapping at the lower scale, as the
//! specification requires.

use std::sync::OnceLock;

use super::exponential::MANTISSA_BITS;

/// The highest scale mapped by table; above it the logarithm maps (up to 24.5 KiB of tables).
pub(crate) const TABLE_MAX_SCALE: i32 = 10;

/// The words of every scale `1..=TABLE_MAX_SCALE`: `3 · 2^(s−1)` at scale `s` (see [`segment`]).
const WORDS: usize = 3 * ((1 << TABLE_MAX_SCALE) - 1);

/// The tables of every scale `1..=TABLE_MAX_SCALE` (see the module's header), each scale's side by
/// side: its `2^s` boundaries (the mantissa bits of 2^(j/2^s), `j` in `0..2^s`), then the first
/// bucket of each of its `2^(s+1)` slices, four 16-bit entries a word. A record at one scale reads
/// one page of them, and at the scales a real range settles at, a line or two. A reader keeps
/// this reference to them (see [`tables`]).
#[derive(Clone, Copy)]
pub(crate) struct Tables(&'static [u64; WORDS]);

/// The words of [`Tables`], made.
fn make() -> Box<[u64; WORDS]> {
    // Made on the heap: 24 KiB is too much for a stack array.
    let mut words: Box<[u64; WORDS]> =
        vec![0; WORDS].into_boxed_slice().try_into().unwrap_or_else(|_| unreachable!("made with WORDS words"));
    for scale in 1..=TABLE_MAX_SCALE {
        let buckets = 1usize << scale;
        let (bounds, firsts) = words[segment(scale)..][..buckets + buckets / 2].split_at_mut(buckets);
        for (j, bound) in bounds.iter_mut().enumerate() {
            *bound = (j as f64 / buckets as f64).exp2().to_bits() & MANTISSA_MASK;
        }
        let mut bucket = 0;
        for slice in 0..2 * buckets {
            let lowest = (slice as u64) << slice_shift(scale);
            // The last boundary below the slice's lowest mantissa (bounds[0] = 0 is below all
            // but the first slice's, whose lowest mantissa is never a value's: it is 2^e).
            while bucket + 1 < buckets && bounds[bucket + 1] < lowest {
                bucket += 1;
            }
            firsts[slice / 4] |= (bucket as u64) << (16 * (slice % 4));
        }
    }
    words
}

impl Tables {
    /// The bucket within its octave of a value whose mantissa bits are `mantissa` (not 0: an
    /// exact power of two closes the bucket below its octave) at `scale`, 1..=[`TABLE_MAX_SCALE`].
    #[inline]
    pub(crate) fn bucket_in_octave(self, mantissa: u64, scale: i32) -> i32 {
        debug_assert!((1..=TABLE_MAX_SCALE).contains(&scale) && mantissa != 0 && mantissa <= MANTISSA_MASK);
        let (at, buckets) = (segment(scale), 1usize << scale);
        let slice = (mantissa >> slice_shift(scale)) as usize;
        let first = usize::from((self.0[at + buckets + slice / 4] >> (16 * (slice % 4))) as u16);
        let next = first + 1;
        let above = next < buckets && mantissa > self.0[at + next];
        (first + usize::from(above)) as i32
    }

    /// The boundaries of `scale`.
    #[cfg(test)]
    fn bounds(self, scale: i32) -> &'static [u64] {
        &self.0[segment(scale)..][..1 << scale]
    }
}

/// Where the words of `scale` start: after the `3 · 2^(k−1)` of each scale `k` below it.
#[inline(always)]
fn segment(scale: i32) -> usize {
    3 * ((1 << (scale - 1)) - 1)
}

const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;

/// How far a mantissa shifts right to give its slice at `scale`.
#[inline(always)]
fn slice_shift(scale: i32) -> u32 {
    MANTISSA_BITS - (scale as u32 + 1)
}

/// The process's tables, made at the first use. A histogram keeps the reference (see
/// `exponential_cells`), so that a record reads it from a line it reads anyway, not from this
/// function's static (its own line and page, and a call).
pub(crate) fn tables() -> Tables {
    static MADE: OnceLock<Box<[u64; WORDS]>> = OnceLock::new();
    Tables(MADE.get_or_init(make))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket by definition: the last boundary below the mantissa, by a scan.
    fn by_scan(mantissa: u64, scale: i32) -> i32 {
        (tables().bounds(scale).iter().rposition(|&bound| bound < mantissa).unwrap_or(0)) as i32
    }

    #[test]
    fn the_lookup_finds_the_bucket_a_scan_of_the_boundaries_finds() {
        for scale in 1..=TABLE_MAX_SCALE {
            let bounds = tables().bounds(scale);
            // Every boundary, one below and one above it, and a spread of mantissas between.
            let mut mantissas: Vec<u64> = bounds.iter().flat_map(|&b| [b.max(1) - 1, b, b + 1]).collect();
            mantissas.extend((1..4096u64).map(|i| i * (MANTISSA_MASK / 4096)));
            mantissas.push(MANTISSA_MASK);
            for mantissa in mantissas.into_iter().filter(|&m| m != 0 && m <= MANTISSA_MASK) {
                assert_eq!(
                    tables().bucket_in_octave(mantissa, scale),
                    by_scan(mantissa, scale),
                    "{mantissa:#x} at {scale}"
                );
            }
        }
    }

    #[test]
    fn each_scales_boundaries_are_among_the_next_ones() {
        for scale in 2..=TABLE_MAX_SCALE {
            let (coarse, fine) = (tables().bounds(scale - 1), tables().bounds(scale));
            for (j, bound) in coarse.iter().enumerate() {
                assert_eq!(*bound, fine[2 * j], "bucket {j} at {scale}");
            }
        }
    }
}
