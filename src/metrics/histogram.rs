//! The explicit-bucket histogram aggregation: per stripe, one count per bucket, the sum, the
//! minimum and the maximum.
//!
//! A record claims a whole stripe (see `claimed` for the protocol) and updates its cells with plain
//! loads and stores; a collection holds each stripe in turn to read it and, for a delta, reset it.
//! So a record's bucket, sum and extremes always fall in the same delta window: every point's count
//! is the sum of its buckets, its sum is theirs, and a point with a count has min ≤ max.
//!
//! Each stripe also keeps the last exemplar of each bucket (see `exemplar`), written under the
//! same claim, so an exemplar lands in the same window as its record.

use std::ptr::NonNull;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::claimed::{Held, HomeStripes, Stripes};
use super::exemplar::{Keeping, Kept, Places, Removed, Removes};
use super::number::Number;
use super::stripe;

/// The specification's default boundaries (OTLP-NOTES §6.4).
pub const DEFAULT_BOUNDARIES: [f64; 15] =
    [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];

/// Cells per block of a stripe whose cells do not fit inline: 16 × 8 bytes, a pair of 64-byte
/// cache lines (what `CachePadded` pads to on `x86_64`, where adjacent-line prefetch makes pairs
/// of lines behave as one).
const BLOCK: usize = 16;

/// Cells kept in the stripe itself, beside its holder flag: the sum, the extremes and up to 18
/// buckets (the default boundaries make 16). A stripe with them is 256 bytes, two pairs of lines,
/// and a record reaches its cells from the stripe's address, not through a pointer: one dependent
/// miss fewer when the caches are cold (benches/README.md, `cold`).
pub(super) const INLINE: usize = 21;

/// The bucket a value falls in: the first whose upper bound is ≥ the value (upper bounds are
/// inclusive), or the last, unbounded one. Counting the bounds below the value is branch-free
/// and vectorizes for the usual dozen or two bounds; long lists are binary-searched.
#[inline]
pub(crate) fn bucket_index(bounds: &[f64], value: f64) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().map(|&bound| usize::from(bound < value)).sum()
    } else {
        bounds.partition_point(|&bound| bound < value)
    }
}

/// Counts `value` in `bucket` of inline cells and adds it to their sum and extremes.
#[inline(always)]
pub(super) fn record_inline<N: Number>(cells: &mut [u64; INLINE], bucket: usize, value: N) {
    cells[FIRST_BUCKET + bucket] += 1;
    add_to_sum_and_extremes(cells, value);
}

/// Counts `value` in `bucket` of cells kept in blocks (more than 17 boundaries) and adds it to
/// their sum and extremes. Cold: so that the inline cells' update runs on in sequence.
#[cold]
#[inline(never)]
fn record_in_blocks<N: Number>(blocks: &mut [CachePadded<[u64; BLOCK]>], bucket: usize, value: N) {
    let cell = FIRST_BUCKET + bucket;
    blocks[cell / BLOCK][cell % BLOCK] += 1;
    // The sum and the extremes lie in the first block (`FIRST_BUCKET` < `BLOCK`).
    add_to_sum_and_extremes(&mut blocks[0][..], value);
}

/// Adds `value` to the sum and the extremes in the first cells of `cells` (inline cells, or the
/// first block): plain stores, the extremes chosen without a branch (with one, a record whose
/// values vary is often mispredicted, and one whose caches went cold learns which way only when
/// the stripe's line arrives).
#[inline(always)]
fn add_to_sum_and_extremes<N: Number>(cells: &mut [u64], value: N) {
    cells[SUM] = N::plus(N::from_bits(cells[SUM]), value).to_bits();
    let (min, max) = (N::from_bits(cells[MIN]), N::from_bits(cells[MAX]));
    cells[MIN] = if value < min { value } else { min }.to_bits();
    cells[MAX] = if value > max { value } else { max }.to_bits();
}

/// What a histogram series holds at one reading.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HistogramValues<N> {
    /// One count per bucket (`bounds.len() + 1`); the point's count is their sum.
    pub counts: Vec<u64>,
    pub sum: N,
    pub min: N,
    pub max: N,
    /// Per bucket, the latest exemplar (empty when the filter keeps none).
    pub exemplars: Vec<Option<Kept>>,
}

impl<N: Number> HistogramValues<N> {
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One stripe's cells: the sum, the minimum and the maximum as the bits of the histogram's number
/// type, then `buckets` counts. Inline when they fit, else in whole blocks of cache lines of their
/// own, so that no two stripes' cells share a line. Apart from them, the last exemplar of each
/// bucket. `repr(C)`, with the stripe's holder flag before it (`Claimable`), so that the flag,
/// the sum, the extremes and the first buckets share the stripe's first line.
#[repr(C)]
struct Cells {
    storage: Storage,
    /// One per bucket, or none when the filter keeps no exemplar.
    exemplars: Places,
}

/// Where a stripe's cells are.
enum Storage {
    Inline([u64; INLINE]),
    Blocks(Box<[CachePadded<[u64; BLOCK]>]>),
}

/// The cell of the sum; the minimum and the maximum follow it, then the buckets.
pub(super) const SUM: usize = 0;
pub(super) const MIN: usize = 1;
pub(super) const MAX: usize = 2;
pub(super) const FIRST_BUCKET: usize = 3;

impl Cells {
    /// Empty cells for `buckets` buckets, with room for an exemplar per bucket (and its removed
    /// pairs) as `keeping` says.
    fn new<N: Number>(buckets: usize, keeping: Keeping) -> Self {
        let cells = FIRST_BUCKET + buckets;
        let storage = if cells <= INLINE {
            Storage::Inline([0; INLINE])
        } else {
            Storage::Blocks(vec![CachePadded::new([0; BLOCK]); cells.div_ceil(BLOCK)].into())
        };
        let exemplars = Places::new(if keeping.filter.keeps_any() { buckets } else { 0 }, keeping.removes);
        let mut cells = Cells { storage, exemplars };
        cells.reset::<N>();
        cells
    }

    #[inline]
    fn cell(&mut self, index: usize) -> &mut u64 {
        match &mut self.storage {
            Storage::Inline(cells) => &mut cells[index],
            Storage::Blocks(blocks) => &mut blocks[index / BLOCK][index % BLOCK],
        }
    }

    #[inline]
    fn bucket(&mut self, bucket: usize) -> &mut u64 {
        self.cell(FIRST_BUCKET + bucket)
    }

    // Always: the heart of every record, which the compiler otherwise may leave out of line.
    // Inline cells (every histogram of up to 17 boundaries, a bound handle's fast path) are
    // updated with no branch on the value; the blocks' update is out of line.
    #[inline(always)]
    fn record<N: Number>(&mut self, bucket: usize, value: N) {
        match &mut self.storage {
            Storage::Inline(cells) => record_inline(cells, bucket, value),
            Storage::Blocks(blocks) => record_in_blocks(blocks, bucket, value),
        }
    }

    /// Keeps `value`, made within this thread's current span, as the bucket's exemplar, with the
    /// attributes its view `removed`. Out of line, and the span's ids read only here: a record
    /// made outside a sampled span (or with exemplars off) runs none of it, and the record,
    /// inlined into its callers, stays short.
    #[inline(never)]
    fn keep_current<N: Number>(&mut self, bucket: usize, value: N, removed: Removed<'_>) {
        self.exemplars.keep(bucket, value, crate::trace::context::current_ids(), removed);
    }

    /// Adds these cells into `values`.
    fn add_to<N: Number>(&mut self, values: &mut HistogramValues<N>) {
        for (bucket, count) in values.counts.iter_mut().enumerate() {
            *count += *self.bucket(bucket);
        }
        values.sum = N::plus(values.sum, N::from_bits(*self.cell(SUM)));
        let (min, max) = (N::from_bits(*self.cell(MIN)), N::from_bits(*self.cell(MAX)));
        if min < values.min {
            values.min = min;
        }
        if max > values.max {
            values.max = max;
        }
        // The later of the two; only the winner is copied out.
        for (bucket, merged) in values.exemplars.iter_mut().enumerate() {
            let later = |ticks: u64| merged.as_ref().is_none_or(|merged| ticks > merged.ticks);
            if self.exemplars.ticks(bucket).is_some_and(later) {
                *merged = self.exemplars.get(bucket);
            }
        }
    }

    /// Zero counts and sum, and the extremes every value replaces.
    fn reset<N: Number>(&mut self) {
        match &mut self.storage {
            Storage::Inline(cells) => cells.fill(0),
            Storage::Blocks(blocks) => blocks.iter_mut().for_each(|block| block.fill(0)),
        }
        *self.cell(MIN) = N::MAX.to_bits();
        *self.cell(MAX) = N::MIN.to_bits();
        self.exemplars.clear();
    }
}

/// A striped explicit-bucket histogram.
pub(crate) struct HistogramCells {
    bounds: Arc<[f64]>,
    stripes: Stripes<Cells>,
    exemplars: Keeping,
}

impl HistogramCells {
    pub(crate) fn new<N: Number>(bounds: Arc<[f64]>, exemplars: impl Into<Keeping>) -> Self {
        Self::with_stripes::<N>(bounds, stripe::count(), exemplars)
    }

    /// A histogram of `stripes` fixed stripes (a power of two).
    pub(crate) fn with_stripes<N: Number>(bounds: Arc<[f64]>, stripes: usize, exemplars: impl Into<Keeping>) -> Self {
        let buckets = bounds.len() + 1;
        let exemplars = exemplars.into();
        HistogramCells { bounds, stripes: Stripes::new(stripes, || Cells::new::<N>(buckets, exemplars)), exemplars }
    }

    pub(crate) fn bounds(&self) -> &Arc<[f64]> {
        &self.bounds
    }

    /// Claims a stripe (this thread's, usually) and updates its bucket, sum and extremes, and the
    /// bucket's exemplar (with the attributes its view `removed`) when the filter admits the
    /// value. Non-finite values are ignored: they would poison the sum.
    #[inline]
    pub(crate) fn record<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        if !value.is_finite() {
            return super::ignored_values::ignore();
        }
        let bucket = bucket_index(&self.bounds, value.to_f64());
        let keep = self.exemplars.filter.admits();
        let buckets = self.bounds.len() + 1;
        let keeping = self.exemplars;
        let held = self.stripes.claim(stripe::slot(), || Cells::new::<N>(buckets, keeping));
        record_held(held, bucket, value, keep, removed);
    }

    /// What a bound handle keeps to record without reading these cells' header (see
    /// [`HistogramShortcut`]).
    pub(crate) fn shortcut(&self) -> HistogramShortcut {
        HistogramShortcut {
            bounds: ShortcutBounds::of(&self.bounds),
            stripes: self.stripes.home_stripes(),
            exemplars: self.exemplars,
        }
    }

    /// The values so far, or (with `reset`) since the last reset: exact, since each stripe is
    /// read and reset while held, so every record is counted whole in exactly one reading.
    pub(crate) fn read<N: Number>(&self, reset: bool) -> HistogramValues<N> {
        let counts = vec![0; self.bounds.len() + 1];
        let exemplars = vec![None; if self.exemplars.filter.keeps_any() { counts.len() } else { 0 }];
        let mut values = HistogramValues { counts, sum: N::ZERO, min: N::MAX, max: N::MIN, exemplars };
        for mut held in self.stripes.hold_each() {
            held.with(|cells| {
                cells.add_to(&mut values);
                if reset {
                    cells.reset::<N>();
                }
            });
        }
        values
    }
}

/// Updates the held stripe's bucket, sum and extremes, and keeps the bucket's exemplar when the
/// filter admitted the value (`keep`).
#[inline(always)]
fn record_held<'r, N: Number>(
    mut held: Held<'_, Cells>,
    bucket: usize,
    value: N,
    keep: bool,
    removed: impl Removes<'r>,
) {
    // Inlined: out of line, the update was a call to code on another page (seen in the cold
    // bench's binary), one more code page for a cold record to fetch.
    held.with(
        #[inline(always)]
        |cells| {
            cells.record(bucket, value);
            if keep {
                cells.keep_current(bucket, value, removed.get());
            }
        },
    );
}

/// What a bound handle keeps of an explicit histogram's cells: the boundaries (a copy, when they
/// fit), the fixed stripes (see `claimed::HomeStripes`), and what the exemplars keep. A record
/// through it reads the handle, the thread's stripe slot and the stripe, and the cells'
/// boundaries only when there are more than [`HANDLE_BOUNDS`]; without it, the series' header
/// comes first, one dependent miss more for a gateway whose caches went cold between two records
/// (benches/README.md, `cold`).
#[derive(Clone, Copy)]
pub(crate) struct HistogramShortcut {
    bounds: ShortcutBounds,
    stripes: HomeStripes<Cells>,
    exemplars: Keeping,
}

/// The most boundaries a bound handle keeps a copy of (the specification's default list has 15):
/// 128 bytes of the handle, which the caller's own use of it keeps in cache, where the cells'
/// list is a miss of its own, on a page of its own, when the caches went cold.
const HANDLE_BOUNDS: usize = 16;

/// Where a shortcut's records find the boundaries.
#[derive(Clone, Copy)]
enum ShortcutBounds {
    /// The boundaries, then +∞ up to [`HANDLE_BOUNDS`]: no finite value lies above +∞, so a
    /// record counts over all of them without knowing how many are real.
    Copied([f64; HANDLE_BOUNDS]),
    /// The cells' own (more than [`HANDLE_BOUNDS`]).
    Cells { first: NonNull<f64>, count: usize },
}

// SAFETY: the boundaries are a copy, or (`ShortcutBounds::Cells`) a pointer to those of cells
// that the handle holding the shortcut keeps alive (an `Arc` of their series), which never
// change; the stripes are `HomeStripes`, `Send` and `Sync` on their own terms.
unsafe impl Send for HistogramShortcut {}
// SAFETY: as above.
unsafe impl Sync for HistogramShortcut {}

impl ShortcutBounds {
    fn of(bounds: &[f64]) -> Self {
        if bounds.len() <= HANDLE_BOUNDS {
            let mut copied = [f64::INFINITY; HANDLE_BOUNDS];
            copied[..bounds.len()].copy_from_slice(bounds);
            ShortcutBounds::Copied(copied)
        } else {
            ShortcutBounds::Cells { first: NonNull::from(bounds).cast(), count: bounds.len() }
        }
    }

    /// The bucket of a finite `value` (see [`bucket_index`]).
    ///
    /// # Safety
    /// The cells whose boundaries these are must be alive.
    #[inline(always)]
    unsafe fn bucket(&self, value: f64) -> usize {
        match self {
            ShortcutBounds::Copied(bounds) => bucket_index(bounds, value),
            // SAFETY: the caller guarantees the cells are alive.
            ShortcutBounds::Cells { first, count } => unsafe { Self::bucket_in_cells(*first, *count, value) },
        }
    }

    /// [`bucket`](Self::bucket) in the cells' own boundaries: out of line, so that the copied
    /// boundaries' record stays short enough to be inlined into its caller, and cold, so that
    /// its call lies out of that record's way instead of in its run of code.
    ///
    /// # Safety
    /// `first` and `count` are a `ShortcutBounds::Cells`'s, of cells that are alive.
    #[cold]
    #[inline(never)]
    unsafe fn bucket_in_cells(first: NonNull<f64>, count: usize, value: f64) -> usize {
        // SAFETY: the caller guarantees the cells are alive, and with them the boundaries (an
        // `Arc<[f64]>` of `count` values that never changes).
        bucket_index(unsafe { std::slice::from_raw_parts(first.as_ptr(), count) }, value)
    }
}

impl HistogramShortcut {
    /// [`HistogramCells::record`] through the shortcut: into the thread's home stripe when it is
    /// free; otherwise `elsewhere` records the value (the cells' own record, which tries the
    /// other stripes). Non-finite values are ignored.
    ///
    /// # Safety
    /// The cells the shortcut was taken from ([`HistogramCells::shortcut`]) must be alive.
    #[inline(always)]
    pub(crate) unsafe fn record<'r, N: Number>(
        &self,
        home: &stripe::HomeSlot,
        value: N,
        removed: impl Removes<'r>,
        elsewhere: impl FnOnce(),
    ) {
        if !value.is_finite() {
            return super::ignored_values::ignore();
        }
        // SAFETY: the caller guarantees the cells are alive.
        let bucket = unsafe { self.bounds.bucket(value.to_f64()) };
        let keep = self.exemplars.filter.admits();
        // SAFETY: the stripes are alive (as above) for as long as this call, which the guard
        // does not outlive.
        match unsafe { self.stripes.claim_predicted(home) } {
            Some(held) => record_held(held, bucket, value, keep, removed),
            None => elsewhere(),
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::metrics::claimed::Claimable;
    use crate::metrics::ExemplarFilter;

    #[test]
    fn a_shortcut_finds_the_bucket_the_cells_find_with_its_copy_or_theirs() {
        let values = [f64::MIN, -1.0, 0.0, 0.5, 1.0, 7.0, 15.0, 15.5, 16.0, 17.0, 39.0, 1e300, f64::MAX];
        for count in [0, 1, 15, HANDLE_BOUNDS, HANDLE_BOUNDS + 1, 40] {
            let bounds: Vec<f64> = (0..count).map(|bound| bound as f64).collect();
            let shortcut = ShortcutBounds::of(&bounds);
            assert_eq!(matches!(shortcut, ShortcutBounds::Copied(_)), count <= HANDLE_BOUNDS);
            for value in values {
                // SAFETY: `bounds` outlives the shortcut.
                let bucket = unsafe { shortcut.bucket(value) };
                assert_eq!(bucket, bucket_index(&bounds, value), "{count} bounds, {value}");
            }
        }
    }

    #[test]
    fn a_stripe_of_default_buckets_keeps_its_cells_beside_its_flag_in_two_pairs_of_lines() {
        let keeping = Keeping { filter: ExemplarFilter::TraceBased, removes: true };
        let cells = Cells::new::<u64>(DEFAULT_BOUNDARIES.len() + 1, keeping);
        assert!(matches!(cells.storage, Storage::Inline(_)));
        let stripe = CachePadded::new(Claimable::new(cells, false));
        assert_eq!(std::mem::size_of_val(&stripe), 256);
        // The flag at the stripe's start, the sum and the extremes in its first line.
        let start = (&raw const *stripe) as usize;
        let max = stripe.claim().expect("free").with(|cells| (&raw mut *cells.cell(MAX)) as usize);
        assert!(max - start < 64, "the maximum at byte {}", max - start);
        let many = Cells::new::<u64>(INLINE - FIRST_BUCKET + 1, keeping);
        assert!(matches!(many.storage, Storage::Blocks(ref blocks) if blocks.len() == 2));
    }

    #[test]
    fn a_record_through_the_shortcut_lands_in_the_home_stripe_or_else_through_the_cells() {
        use crate::metrics::exemplar::NoneRemoved;
        let cells = HistogramCells::with_stripes::<f64>(Arc::from([10.0]), 2, ExemplarFilter::AlwaysOff);
        let (shortcut, home) = (cells.shortcut(), stripe::HomeSlot::new());
        let mut went_elsewhere = 0;
        // SAFETY (each call): `cells` outlives every use of its shortcut here.
        unsafe { shortcut.record(&home, 3.0, NoneRemoved, || went_elsewhere += 1) };
        assert_eq!(went_elsewhere, 0, "the home stripe was free");
        // The first record predicts the thread's slot for the next (when it owns one: other tests
        // may hold every slot).
        assert!(stripe::slot() >= stripe::count() || home.predicted() == stripe::slot());
        let held = unsafe { cells.stripes.home_stripes().claim_predicted(&home) }.expect("no one else records");
        unsafe { shortcut.record(&home, 30.0, NoneRemoved, || cells.record(30.0, NoneRemoved)) };
        unsafe { shortcut.record(&home, f64::NAN, NoneRemoved, || went_elsewhere += 1) };
        drop(held);
        let values = cells.read::<f64>(false);
        assert_eq!((values.counts, values.sum, values.min, values.max), (vec![1, 1], 33.0, 3.0, 30.0));
        assert_eq!(went_elsewhere, 0, "a NaN is ignored, not recorded elsewhere");
    }

    #[test]
    fn upper_bounds_are_inclusive() {
        let bounds = [0.0, 5.0, 10.0];
        assert_eq!(bucket_index(&bounds, -1.0), 0);
        assert_eq!(bucket_index(&bounds, 0.0), 0);
        assert_eq!(bucket_index(&bounds, 0.0001), 1);
        assert_eq!(bucket_index(&bounds, 5.0), 1);
        assert_eq!(bucket_index(&bounds, 5.000_001), 2);
        assert_eq!(bucket_index(&bounds, 10.0), 2);
        assert_eq!(bucket_index(&bounds, 10.5), 3);
        let long: Vec<f64> = (0..100).map(f64::from).collect();
        for value in [-0.5, 0.0, 0.5, 42.0, 42.5, 99.0, 99.5] {
            assert_eq!(bucket_index(&long, value), long.iter().filter(|&&b| b < value).count(), "{value}");
        }
    }

    #[test]
    fn inline_and_block_cells_keep_the_same_extremes_and_sum_in_any_order() {
        // 15 boundaries: cells inline, updated without a branch; 40: in blocks, out of line.
        for count in [DEFAULT_BOUNDARIES.len(), 40] {
            let bounds: Arc<[f64]> = (0..count).map(|bound| bound as f64 * 3.0 - 20.0).collect();
            let integers = HistogramCells::new::<i64>(bounds.clone(), ExemplarFilter::AlwaysOff);
            let floats = HistogramCells::new::<f64>(bounds, ExemplarFilter::AlwaysOff);
            for value in [5i64, -3, 100, -50, 7, -50, 100] {
                integers.record(value, Removed::None);
                floats.record(value as f64 / 2.0, Removed::None);
            }
            let (i, f) = (integers.read::<i64>(true), floats.read::<f64>(true));
            assert_eq!((i.count(), i.sum, i.min, i.max), (7, 109, -50, 100), "{count} boundaries");
            assert_eq!((f.count(), f.sum, f.min, f.max), (7, 54.5, -25.0, 50.0), "{count} boundaries");
            let empty = integers.read::<i64>(false);
            assert_eq!((empty.count(), empty.min, empty.max), (0, i64::MAX, i64::MIN), "{count} boundaries");
        }
    }

    #[test]
    fn records_counts_sum_and_extremes_per_bucket() {
        let cells = HistogramCells::new::<f64>(DEFAULT_BOUNDARIES.to_vec().into(), ExemplarFilter::TraceBased);
        for value in [0.0, 5.0, 7.0, 10000.0, 10000.5, f64::NAN, f64::INFINITY] {
            cells.record(value, Removed::None);
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

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use loom::thread;

    /// Two recorders on a histogram of one fixed stripe (so one of them may have to take an extra
    /// stripe) while a delta collection races them: each window's count is its buckets' sum, with
    /// min ≤ max when it has any, and each bucket's exemplar is in the window of its record, with
    /// the attribute its view removed from that record (the pairs are written under the same
    /// claim: never another record's); over the windows, counts and sum are exact.
    #[test]
    fn loom_records_land_whole_in_one_window() {
        use crate::attributes::KeyValue;
        use crate::metrics::view::AttributeFilter;
        loom::model(|| {
            let keeping = Keeping { filter: crate::metrics::ExemplarFilter::AlwaysOn, removes: true };
            let cells = crate::sync::Arc::new(HistogramCells::with_stripes::<u64>(Arc::from([2.0]), 1, keeping));
            let recorders: Vec<_> = [1u64, 5]
                .into_iter()
                .map(|value| {
                    let cells = cells.clone();
                    thread::spawn(move || {
                        let (filter, attributes) =
                            (AttributeFilter::remove(["id"]), [KeyValue::new("id", value as i64)]);
                        cells.record(value, Removed::Slice(&attributes, &filter))
                    })
                })
                .collect();
            let first = cells.read::<u64>(true);
            recorders.into_iter().for_each(|recorder| recorder.join().unwrap());
            let second = cells.read::<u64>(true);
            for window in [&first, &second] {
                assert!(window.count() == 0 || window.min <= window.max, "{window:?}");
                // Kept under the same claim: a bucket has an exemplar exactly in the window
                // that counts its record, and it is that record's value.
                for (bucket, (&count, exemplar)) in window.counts.iter().zip(&window.exemplars).enumerate() {
                    let value = exemplar.as_ref().map(|kept| kept.value);
                    assert_eq!(value, (count > 0).then_some([1, 5][bucket]), "{window:?}");
                    let removed = exemplar.as_ref().and_then(|kept| kept.filtered_attributes.as_deref());
                    let expected = value.map(|value| vec![KeyValue::new("id", value as i64)]);
                    assert_eq!(removed.map(<[KeyValue]>::to_vec), expected, "{window:?}");
                }
            }
            let counts: Vec<u64> = first.counts.iter().zip(&second.counts).map(|(a, b)| a + b).collect();
            assert_eq!((counts, first.sum + second.sum), (vec![1, 1], 6));
            stripe::loom_wait_until_all_given_back();
        });
    }
}
