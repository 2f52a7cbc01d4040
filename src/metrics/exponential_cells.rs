//! The concurrent exponential histogram: one window of [`MAX_SIZE`] counts per range per stripe.
//!
//! # Protocol
//!
//! Downscaling rewrites every bucket, which cannot be done with one atomic operation per value.
//! So a record claims a whole stripe (see `claimed`: this thread's stripe usually, another one
//! when it is held, or an extra stripe when all are; never waiting, never dropping a value) and
//! updates it with plain loads and stores; a collection holds each stripe in turn to copy it and,
//! for a delta, zero it, and merges the copies at the largest common scale. Every record therefore
//! lands whole in exactly one reading.
//!
//! Inside a held stripe, a value whose index falls in the window costs one count increment; a
//! value outside it takes the slow path: the scale goes down as far as the specification says
//! (both windows shifted in place), and the value's window is re-centred on its occupied range,
//! all with a stack buffer, never allocating. The scale only ever goes down, also across delta
//! collections, so once a histogram has seen its range it rarely takes the slow path again.
//!
//! Each stripe also holds an exemplar reservoir (see `exemplar`), offered under the same claim.

use super::claimed::{Held, HomeStripes, Stripes};
use super::exemplar::{merge, ExemplarFilter, Keeping, Kept, Removes, Reservoir, Restart, EXPONENTIAL_RESERVOIR};
#[cfg(test)]
use super::exponential::MAX_SCALE;
use super::exponential::{downscale_needed, index, index_by, Buckets, ExpoState, MAX_SIZE, MIN_SCALE};
use super::exponential_table::{tables, Tables};
use super::number::Number;
use super::stripe;

/// The base of an empty window: every index is outside it.
const EMPTY: i32 = i32::MIN;

/// The counts of one sign's indices `base..base + MAX_SIZE`.
struct Window {
    base: i32,
    counts: [u64; MAX_SIZE],
}

impl Window {
    fn new() -> Self {
        Window { base: EMPTY, counts: [0; MAX_SIZE] }
    }

    fn to_buckets(&self) -> Buckets {
        if self.base == EMPTY {
            return Buckets::default();
        }
        Buckets { offset: self.base, counts: self.counts.to_vec() }.trimmed()
    }

    /// The first and last index with a non-zero count.
    fn range(&self) -> Option<(i32, i32)> {
        range_of(&self.counts, self.base)
    }

    /// Shifts every index right by `shift` (merging buckets) and re-centres the window on the
    /// occupied range, widened to hold `keep` if given, so the range can grow either way before
    /// the slow path is needed again. The caller has chosen `shift` so everything fits.
    fn rewrite(&mut self, shift: u32, keep: Option<i32>) {
        let base = self.base;
        let old = std::mem::replace(&mut self.counts, [0; MAX_SIZE]);
        let occupied = range_of(&old, base).map(|(l, h)| (l >> shift, h >> shift));
        let range = match (occupied, keep) {
            (Some((l, h)), Some(k)) => (l.min(k), h.max(k)),
            (Some(range), None) => range,
            (None, Some(k)) => (k, k),
            (None, None) => {
                self.base = EMPTY;
                return;
            }
        };
        self.base = range.0 - (MAX_SIZE as i32 - (range.1 - range.0 + 1)) / 2;
        for (i, &count) in old.iter().enumerate() {
            if count != 0 {
                self.counts[(((base + i as i32) >> shift) - self.base) as usize] += count;
            }
        }
    }

    fn clear(&mut self) {
        self.counts = [0; MAX_SIZE];
    }
}

/// The first and last index with a non-zero count, of a window starting at `base`.
fn range_of(counts: &[u64; MAX_SIZE], base: i32) -> Option<(i32, i32)> {
    if base == EMPTY {
        return None;
    }
    let first = counts.iter().position(|&c| c != 0)?;
    let last = counts.iter().rposition(|&c| c != 0)?;
    Some((base + first as i32, base + last as i32))
}

/// One stripe's histogram. `repr(C)`, the fields a record reads first: after the stripe's holder
/// flag (`Claimable`), in its line.
#[repr(C)]
struct Stripe {
    /// The index mapping's tables, kept here so that a record reads no static for them.
    tables: Tables,
    scale: i32,
    zero_count: u64,
    sum: f64,
    min: f64,
    max: f64,
    positive: Window,
    negative: Window,
    exemplars: Reservoir,
}

impl Stripe {
    /// An empty stripe at `scale`, the largest it will have, with a reservoir of `exemplars` (0
    /// for none), with room for removed pairs if `removes`.
    fn new(scale: i32, exemplars: usize, removes: bool) -> Self {
        Stripe {
            tables: tables(),
            scale,
            zero_count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            positive: Window::new(),
            negative: Window::new(),
            exemplars: Reservoir::new(exemplars, removes),
        }
    }

    /// Records a finite value.
    #[inline]
    fn record(&mut self, value: f64) {
        if value == 0.0 {
            self.zero_count += 1;
        } else {
            let window = if value > 0.0 { &mut self.positive } else { &mut self.negative };
            let tables = self.tables;
            let at = i64::from(index_by(value, self.scale, || tables)) - i64::from(window.base);
            match window.counts.get_mut(at as u64 as usize) {
                Some(count) if at >= 0 => *count += 1,
                _ => return self.record_slowly(value),
            }
        }
        self.record_summary(value);
    }

    /// A value outside its window: lower the scale as far as the specification says (the
    /// smallest shift that makes the occupied range and the new index fit in [`MAX_SIZE`]
    /// buckets), shift both windows by it, re-centre the value's window on its range, then
    /// count the value. Works in place with a stack buffer, so it never allocates.
    #[cold]
    fn record_slowly(&mut self, value: f64) {
        let index = index(value.abs(), self.scale);
        let (window, other) = if value > 0.0 {
            (&mut self.positive, &mut self.negative)
        } else {
            (&mut self.negative, &mut self.positive)
        };
        let (low, high) = window.range().map_or((index, index), |(l, h)| (l.min(index), h.max(index)));
        let shift = downscale_needed(low, high, MAX_SIZE).min((self.scale - MIN_SCALE) as u32);
        if shift > 0 {
            self.scale -= shift as i32;
            other.rewrite(shift, None);
        }
        window.rewrite(shift, Some(index >> shift));
        window.counts[((index >> shift) - window.base) as usize] += 1;
        self.record_summary(value);
    }

    /// The sum, minimum and maximum.
    #[inline]
    fn record_summary(&mut self, value: f64) {
        self.sum += value;
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
    }

    fn to_state(&self) -> ExpoState {
        ExpoState {
            scale: self.scale,
            positive: self.positive.to_buckets(),
            negative: self.negative.to_buckets(),
            zero_count: self.zero_count,
            sum: self.sum,
            min: self.min,
            max: self.max,
        }
    }

    /// Zeroes the values, keeping the scale and the windows' placement.
    fn clear(&mut self) {
        self.positive.clear();
        self.negative.clear();
        self.zero_count = 0;
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
    }
}

/// A striped exponential histogram.
pub(crate) struct ExpoCells {
    stripes: Stripes<Stripe>,
    /// The scale every stripe starts at (a view's `max_scale`, else `MAX_SCALE`).
    max_scale: i32,
    /// The most buckets per sign a reading has (a view's `max_size`, else [`MAX_SIZE`]).
    max_size: usize,
    exemplars: Keeping,
}

impl ExpoCells {
    /// A histogram whose readings have at most `max_size` buckets per sign (at most
    /// [`MAX_SIZE`]), whose scale starts at `max_scale` (at most `MAX_SCALE`), keeping the
    /// exemplars `exemplars` admits.
    ///
    /// Stripes always use windows of [`MAX_SIZE`] buckets, so a record costs the same whatever
    /// `max_size`: a reading merges the stripes at the largest scale that fits `max_size`, which
    /// is the scale recording into `max_size` buckets would have reached (downscaling only merges
    /// neighbouring buckets, so the order does not matter).
    pub(crate) fn new(max_size: usize, max_scale: i32, exemplars: impl Into<Keeping>) -> Self {
        Self::with_stripes(stripe::count(), max_size, max_scale, exemplars)
    }

    /// A histogram of `stripes` fixed stripes (a power of two).
    pub(crate) fn with_stripes(stripes: usize, max_size: usize, max_scale: i32, exemplars: impl Into<Keeping>) -> Self {
        let max_size = max_size.clamp(2, MAX_SIZE);
        let exemplars = exemplars.into();
        let size = Self::reservoir_size(exemplars.filter, max_size);
        let stripes = Stripes::new(stripes, || Stripe::new(max_scale, size, exemplars.removes));
        ExpoCells { stripes, max_scale, max_size, exemplars }
    }

    /// A stripe's reservoir: min(20, `max_size`), as the specification recommends (until session
    /// 42 always 20, whatever a view's `max_size`).
    fn reservoir_size(exemplars: ExemplarFilter, max_size: usize) -> usize {
        if exemplars.keeps_any() {
            EXPONENTIAL_RESERVOIR.min(max_size)
        } else {
            0
        }
    }

    /// Records a value: claims a stripe (this thread's, usually), updates it and offers the value
    /// to its reservoir (with the attributes its view `removed`) when the filter admits it,
    /// releases it. The buckets take the value as an `f64`; the exemplar keeps it as an `N`.
    #[inline]
    pub(crate) fn record<'r, N: Number>(&self, value: N, removed: impl Removes<'r>) {
        let float = value.to_f64();
        if !float.is_finite() {
            return super::ignored_values::ignore();
        }
        let exemplar = self.exemplars.filter.admit();
        let size = Self::reservoir_size(self.exemplars.filter, self.max_size);
        let removes = self.exemplars.removes;
        let held = self.stripes.claim(stripe::slot(), || Stripe::new(self.max_scale, size, removes));
        record_held(held, value, float, exemplar, removed);
    }

    /// What a bound handle keeps to record without reading these cells' header (see
    /// [`ExpoShortcut`]).
    pub(crate) fn shortcut(&self) -> ExpoShortcut {
        ExpoShortcut { stripes: self.stripes.home_stripes(), exemplars: self.exemplars }
    }

    /// The histogram so far, or (with `reset`) since the last reset: exact, since each stripe
    /// is copied and zeroed while held; and a sample of its exemplars (see `exemplar::merge`),
    /// the reservoirs then restarted as `restart` says.
    pub(crate) fn read(&self, reset: bool, restart: Restart) -> (ExpoState, Vec<Kept>) {
        let mut merged = ExpoState::default();
        let mut samples = Vec::new();
        for mut held in self.stripes.hold_each() {
            let (state, sample) = held.with(|stripe| {
                let state = stripe.to_state();
                if reset {
                    stripe.clear();
                }
                (state, stripe.exemplars.take(restart))
            });
            // Merged once released: recorders need not go elsewhere meanwhile.
            drop(held);
            merged.merge_within(&state, self.max_size);
            samples.push(sample);
        }
        (merged, merge(samples, EXPONENTIAL_RESERVOIR.min(self.max_size)))
    }
}

/// Records `float` (the value as `f64`) in the held stripe, and offers `value` to its reservoir
/// when the filter admitted it (`exemplar`).
#[inline(always)]
fn record_held<'r, N: Number>(
    mut held: Held<'_, Stripe>,
    value: N,
    float: f64,
    exemplar: Option<crate::trace::context::CurrentIds>,
    removed: impl Removes<'r>,
) {
    held.with(|stripe| {
        stripe.record(float);
        if let Some(ids) = exemplar {
            stripe.exemplars.offer(value, ids, removed.get());
        }
    });
}

/// What a bound handle keeps of an exponential histogram's cells: the fixed stripes (see
/// `claimed::HomeStripes`) and what the exemplars keep. As the explicit histogram's
/// (`histogram::HistogramShortcut`), a record through it reads the handle, then the thread's
/// stripe slot and the stripe, not the series' header first.
#[derive(Clone, Copy)]
pub(crate) struct ExpoShortcut {
    stripes: HomeStripes<Stripe>,
    exemplars: Keeping,
}

impl ExpoShortcut {
    /// [`ExpoCells::record`] through the shortcut: into the thread's home stripe when it is free;
    /// otherwise `elsewhere` records the value (the cells' own record, which tries the other
    /// stripes). Non-finite values are ignored.
    ///
    /// # Safety
    /// The cells the shortcut was taken from ([`ExpoCells::shortcut`]) must be alive.
    #[inline(always)]
    pub(crate) unsafe fn record<'r, N: Number>(
        self,
        home: &stripe::HomeSlot,
        value: N,
        removed: impl Removes<'r>,
        elsewhere: impl FnOnce(),
    ) {
        let float = value.to_f64();
        if !float.is_finite() {
            return super::ignored_values::ignore();
        }
        let exemplar = self.exemplars.filter.admit();
        // SAFETY: the caller guarantees the cells, and with them their stripes, are alive for as
        // long as this call, which the guard does not outlive.
        match unsafe { self.stripes.claim_predicted(home) } {
            Some(held) => record_held(held, value, float, exemplar, removed),
            None => elsewhere(),
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::metrics::exemplar::Removed;

    #[test]
    fn a_record_through_the_shortcut_lands_in_the_home_stripe_or_else_through_the_cells() {
        use crate::metrics::exemplar::NoneRemoved;
        let cells = ExpoCells::with_stripes(2, MAX_SIZE, MAX_SCALE, ExemplarFilter::AlwaysOff);
        let (shortcut, home) = (cells.shortcut(), stripe::HomeSlot::new());
        let mut went_elsewhere = 0;
        // SAFETY (each call): `cells` outlives every use of its shortcut here.
        unsafe { shortcut.record(&home, 3.0, NoneRemoved, || went_elsewhere += 1) };
        assert_eq!(went_elsewhere, 0, "the home stripe was free");
        // The first record predicts the thread's slot for the next (when it owns one: other tests
        // may hold every slot).
        assert!(stripe::slot() >= stripe::count() || home.predicted() == stripe::slot());
        let held = unsafe { cells.stripes.home_stripes().claim_predicted(&home) }.expect("no one else records");
        unsafe { shortcut.record(&home, 0.0, NoneRemoved, || cells.record(0.0, NoneRemoved)) };
        unsafe { shortcut.record(&home, f64::INFINITY, NoneRemoved, || went_elsewhere += 1) };
        drop(held);
        let state = cells.read(false, Restart::Nothing).0;
        assert_eq!((state.positive.counts.iter().sum::<u64>(), state.zero_count, state.sum), (1, 1, 3.0));
        assert_eq!(went_elsewhere, 0, "an infinity is ignored, not recorded elsewhere");
    }

    #[test]
    fn matches_the_plain_model_across_rescaling_and_resets() {
        let cells = ExpoCells::new(MAX_SIZE, MAX_SCALE, ExemplarFilter::TraceBased);
        let mut model = ExpoState::default();
        let values: Vec<f64> = (0..2000)
            .map(
                |i| if i % 7 == 0 { 0.0 } else { (f64::from(i) * 0.731).powi(3) * if i % 3 == 0 { -1.0 } else { 1.0 } },
            )
            .collect();
        for &v in &values[..1000] {
            cells.record(v, Removed::None);
            model.record(v);
        }
        let first = cells.read(true, Restart::All).0;
        assert_eq!(first.count(), 1000);
        for &v in &values[1000..] {
            cells.record(v, Removed::None);
        }
        let second = cells.read(false, Restart::Nothing).0;
        let mut total = first.clone();
        total.merge(&second);
        for &v in &values[1000..] {
            model.record(v);
        }
        assert_eq!(total.scale, model.scale);
        assert_eq!(total.positive.trimmed(), model.positive.trimmed());
        assert_eq!(total.negative.trimmed(), model.negative.trimmed());
        assert_eq!(
            (total.zero_count, total.count(), total.min, total.max),
            (model.zero_count, 2000, model.min, model.max)
        );
    }

    #[test]
    fn concurrent_recording_and_delta_reads_lose_nothing() {
        let cells = ExpoCells::new(MAX_SIZE, MAX_SCALE, ExemplarFilter::TraceBased);
        let threads = 4;
        let per_thread = 20_000u64;
        let mut collected = ExpoState::default();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let cells = &cells;
                    s.spawn(move || {
                        for i in 0..per_thread {
                            cells.record(((i % 1000) as f64 + 1.0) * if t % 2 == 0 { 1.0 } else { 1e6 }, Removed::None);
                        }
                    })
                })
                .collect();
            while workers.iter().any(|w| !w.is_finished()) {
                collected.merge(&cells.read(true, Restart::All).0);
            }
        });
        collected.merge(&cells.read(true, Restart::All).0);
        assert_eq!(collected.count(), threads as u64 * per_thread);
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod exit_tests {
    use super::*;
    use crate::metrics::exemplar::Removed;
    use std::sync::Arc;

    /// Records into its histogram when dropped.
    struct RecordOnDrop(Arc<ExpoCells>);

    impl Drop for RecordOnDrop {
        fn drop(&mut self) {
            self.0.record(7.0, Removed::None);
        }
    }

    thread_local! {
        static RECORDER: std::cell::RefCell<Option<RecordOnDrop>> = const { std::cell::RefCell::new(None) };
    }

    /// A record made while every stripe is held goes to an extra stripe, read like the others.
    #[test]
    fn a_record_while_every_stripe_is_held_is_kept() {
        let cells = ExpoCells::with_stripes(2, MAX_SIZE, MAX_SCALE, ExemplarFilter::TraceBased);
        let held = [
            cells.stripes.claim(0, || Stripe::new(MAX_SCALE, 0, false)),
            cells.stripes.claim(1, || Stripe::new(MAX_SCALE, 0, false)),
        ];
        std::thread::scope(|s| s.spawn(|| cells.record(5.0, Removed::None)).join().unwrap());
        assert_eq!(cells.stripes.extra_count(), 1);
        drop(held);
        let state = cells.read(true, Restart::All).0;
        assert_eq!((state.count(), state.sum, state.min, state.max), (1, 5.0, 5.0, 5.0));
    }

    /// Issue 13, defect 5: a thread-local destructor that records after the thread's stripe slot
    /// was given back (thread-locals are destroyed in reverse order of first use, so `RECORDER`,
    /// used first, is destroyed after the slot's guard) while stripes are busy. A panic there
    /// would abort the whole test process.
    #[test]
    fn a_record_from_a_thread_local_destructor_is_counted() {
        let cells = Arc::new(ExpoCells::new(MAX_SIZE, MAX_SCALE, ExemplarFilter::TraceBased));
        let recorder = cells.clone();
        // Hold every stripe but the first, as preempted recorders would.
        let held: Vec<_> =
            (1..stripe::count()).map(|i| cells.stripes.claim(i, || Stripe::new(MAX_SCALE, 0, false))).collect();
        std::thread::spawn(move || {
            RECORDER.with(|r| *r.borrow_mut() = Some(RecordOnDrop(recorder.clone())));
            recorder.record(1.0, Removed::None);
        })
        .join()
        .unwrap();
        drop(held);
        let state = cells.read(true, Restart::All).0;
        assert_eq!((state.count(), state.sum), (2, 8.0));
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use crate::metrics::exemplar::Removed;
    use crate::sync::Arc;
    use loom::thread;

    /// Two recorders on a histogram of one fixed stripe (so one of them may have to take an extra
    /// stripe), the first recording values 20 octaves apart (a downscale of the stripe it holds),
    /// while a delta collection races them: over the windows, count and sum are exact, and every
    /// value is an exemplar once.
    #[test]
    fn loom_records_land_whole_in_one_window_through_claims_and_rescales() {
        loom::model(|| {
            let cells = Arc::new(ExpoCells::with_stripes(1, MAX_SIZE, MAX_SCALE, ExemplarFilter::AlwaysOn));
            let recorders: Vec<_> = [&[1.0, 1048576.0][..], &[3.0]]
                .into_iter()
                .map(|values| {
                    let cells = cells.clone();
                    thread::spawn(move || values.iter().for_each(|&value| cells.record(value, Removed::None)))
                })
                .collect();
            let (mut total, first) = cells.read(true, Restart::All);
            recorders.into_iter().for_each(|recorder| recorder.join().unwrap());
            let (second, later) = cells.read(true, Restart::All);
            total.merge(&second);
            // Each value is offered to its stripe's reservoir under the same claim, and the
            // reservoir holds 20: every value is an exemplar of exactly one window.
            let mut values: Vec<f64> = first.iter().chain(&later).map(|kept| f64::from_bits(kept.value)).collect();
            values.sort_by(f64::total_cmp);
            assert_eq!(values, [1.0, 3.0, 1048576.0]);
            assert_eq!((total.count(), total.sum, total.min, total.max), (3, 1048580.0, 1.0, 1048576.0));
            assert!(total.scale < MAX_SCALE, "20 octaves do not fit at the largest scale");
            stripe::loom_wait_until_all_given_back();
        });
    }
}
