//! The concurrent exponential histogram: one window of [`MAX_SIZE`] counts per range per stripe.
//!
//! # Protocol
//!
//! Downscaling rewrites every bucket, which cannot be done with one atomic operation per value.
//! So each stripe has an owner flag: a recording thread claims its stripe with one
//! compare-and-swap, updates it with plain loads and stores (nobody else touches a claimed
//! stripe), and releases it with one store. A thread that finds its stripe claimed (another thread
//! sharing it, or the collector reading it) never waits: it tries the next stripe, and if every
//! stripe is claimed it puts the value in a small lock-free spill queue the collector drains (a
//! full queue drops the value and counts it, the project's rule for full buffers).
//!
//! Inside a claimed stripe, a value whose index falls in the window costs one count increment; a
//! value outside it takes the slow path: the scale goes down as far as the specification says
//! (both windows shifted in place), and the value's window is re-centred on its occupied range,
//! all with a stack buffer, never allocating. The scale only ever goes down, also across delta
//! collections, so once a histogram has seen its range it rarely takes the slow path again.
//!
//! The collector claims each stripe in turn (spinning briefly if a recording holds it: the
//! collector may wait for a recording, never the other way round), copies it, zeroes it for a
//! delta reading, releases it, and merges the copies at the largest common scale.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;

use super::exponential::{downscale_needed, index, Buckets, ExpoState, MAX_SCALE, MAX_SIZE, MIN_SCALE};
use super::stripe;

/// Values the spill queue holds between two collections.
const SPILL: usize = 256;

/// The base of an empty window: every index is outside it.
const EMPTY: i32 = i32::MIN;

struct Window {
    base: AtomicI32,
    counts: [AtomicU64; MAX_SIZE],
}

impl Window {
    fn new() -> Self {
        Window { base: AtomicI32::new(EMPTY), counts: std::array::from_fn(|_| AtomicU64::new(0)) }
    }

    // All accesses below are Relaxed: only the stripe's owner touches the cells, and the owner
    // flag's Acquire/Release orders one owner's accesses before the next owner's.

    fn to_buckets(&self) -> Buckets {
        let base = self.base.load(Ordering::Relaxed);
        if base == EMPTY {
            return Buckets::default();
        }
        let counts = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        Buckets { offset: base, counts }.trimmed()
    }

    /// The first and last index with a non-zero count.
    fn range(&self) -> Option<(i32, i32)> {
        let base = self.base.load(Ordering::Relaxed);
        let first = self.counts.iter().position(|c| c.load(Ordering::Relaxed) != 0)?;
        let last = self.counts.iter().rposition(|c| c.load(Ordering::Relaxed) != 0)?;
        Some((base + first as i32, base + last as i32))
    }

    /// Shifts every index right by `shift` (merging buckets) and re-centres the window on the
    /// occupied range, widened to hold `keep` if given, so the range can grow either way before
    /// the slow path is needed again. The caller has chosen `shift` so everything fits.
    fn rewrite(&self, shift: u32, keep: Option<i32>) {
        let base = self.base.load(Ordering::Relaxed);
        let mut old = [0u64; MAX_SIZE];
        for (slot, cell) in old.iter_mut().zip(&self.counts) {
            *slot = cell.swap(0, Ordering::Relaxed);
        }
        let occupied = self.range_of(&old, base).map(|(l, h)| (l >> shift, h >> shift));
        let range = match (occupied, keep) {
            (Some((l, h)), Some(k)) => (l.min(k), h.max(k)),
            (Some(range), None) => range,
            (None, Some(k)) => (k, k),
            (None, None) => {
                self.base.store(EMPTY, Ordering::Relaxed);
                return;
            }
        };
        let new_base = range.0 - (MAX_SIZE as i32 - (range.1 - range.0 + 1)) / 2;
        self.base.store(new_base, Ordering::Relaxed);
        for (i, &count) in old.iter().enumerate() {
            if count != 0 {
                let cell = &self.counts[(((base + i as i32) >> shift) - new_base) as usize];
                cell.store(cell.load(Ordering::Relaxed) + count, Ordering::Relaxed);
            }
        }
    }

    fn range_of(&self, counts: &[u64; MAX_SIZE], base: i32) -> Option<(i32, i32)> {
        if base == EMPTY {
            return None;
        }
        let first = counts.iter().position(|&c| c != 0)?;
        let last = counts.iter().rposition(|&c| c != 0)?;
        Some((base + first as i32, base + last as i32))
    }

    fn clear(&self) {
        self.counts.iter().for_each(|c| c.store(0, Ordering::Relaxed));
    }
}

struct Stripe {
    owned: AtomicBool,
    scale: AtomicI32,
    zero_count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    positive: Window,
    negative: Window,
}

/// Adds one to a cell only its owner writes: a load and a store, no read-modify-write.
#[inline]
fn bump(cell: &AtomicU64) {
    cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl Stripe {
    fn new() -> Self {
        Stripe {
            owned: AtomicBool::new(false),
            scale: AtomicI32::new(MAX_SCALE),
            zero_count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            positive: Window::new(),
            negative: Window::new(),
        }
    }

    /// Claims the stripe. Acquire pairs with `release`'s Release: the new owner sees every
    /// write of the previous one.
    #[inline]
    fn claim(&self) -> bool {
        self.owned.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[inline]
    fn release(&self) {
        self.owned.store(false, Ordering::Release);
    }

    /// Records a finite value; the caller owns the stripe.
    #[inline]
    fn record(&self, value: f64) {
        if value != 0.0 {
            let scale = self.scale.load(Ordering::Relaxed);
            let window = if value > 0.0 { &self.positive } else { &self.negative };
            let at = i64::from(index(value.abs(), scale)) - i64::from(window.base.load(Ordering::Relaxed));
            match window.counts.get(at as u64 as usize) {
                Some(cell) if at >= 0 => bump(cell),
                _ => return self.record_slowly(value),
            }
        } else {
            bump(&self.zero_count);
        }
        self.record_summary(value);
    }

    /// A value outside its window: lower the scale as far as the specification says (the
    /// smallest shift that makes the occupied range and the new index fit in [`MAX_SIZE`]
    /// buckets), shift both windows by it, re-centre the value's window on its range, then
    /// count the value. Works in place with a stack buffer, so it never allocates.
    #[cold]
    fn record_slowly(&self, value: f64) {
        let scale = self.scale.load(Ordering::Relaxed);
        let window = if value > 0.0 { &self.positive } else { &self.negative };
        let index = index(value.abs(), scale);
        let (low, high) = window.range().map_or((index, index), |(l, h)| (l.min(index), h.max(index)));
        let shift = downscale_needed(low, high).min((scale - MIN_SCALE) as u32);
        if shift > 0 {
            self.scale.store(scale - shift as i32, Ordering::Relaxed);
            let other = if value > 0.0 { &self.negative } else { &self.positive };
            other.rewrite(shift, None);
        }
        window.rewrite(shift, Some(index >> shift));
        let at = (index >> shift) - window.base.load(Ordering::Relaxed);
        bump(&window.counts[at as usize]);
        self.record_summary(value);
    }

    /// The sum, minimum and maximum.
    #[inline]
    fn record_summary(&self, value: f64) {
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + value;
        self.sum.store(sum.to_bits(), Ordering::Relaxed);
        if value < f64::from_bits(self.min.load(Ordering::Relaxed)) {
            self.min.store(value.to_bits(), Ordering::Relaxed);
        }
        if value > f64::from_bits(self.max.load(Ordering::Relaxed)) {
            self.max.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    fn to_state(&self) -> ExpoState {
        ExpoState {
            scale: self.scale.load(Ordering::Relaxed),
            positive: self.positive.to_buckets(),
            negative: self.negative.to_buckets(),
            zero_count: self.zero_count.load(Ordering::Relaxed),
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
            min: f64::from_bits(self.min.load(Ordering::Relaxed)),
            max: f64::from_bits(self.max.load(Ordering::Relaxed)),
        }
    }

    /// Zeroes the values, keeping the scale and the windows' placement.
    fn clear(&self) {
        self.positive.clear();
        self.negative.clear();
        self.zero_count.store(0, Ordering::Relaxed);
        self.sum.store(0f64.to_bits(), Ordering::Relaxed);
        self.min.store(f64::INFINITY.to_bits(), Ordering::Relaxed);
        self.max.store(f64::NEG_INFINITY.to_bits(), Ordering::Relaxed);
    }

    /// Claims the stripe for the collector, which may wait for a recording to finish.
    fn claim_waiting(&self) {
        let mut spins = 0u32;
        while !self.claim() {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // The owner was preempted mid-record: let it run.
                std::thread::yield_now();
            }
        }
    }
}

/// A striped exponential histogram.
pub(crate) struct ExpoCells {
    stripes: Box<[CachePadded<Stripe>]>,
    spill: ArrayQueue<f64>,
    /// Values dropped because every stripe was claimed and the spill queue was full.
    lost: AtomicU64,
    /// How many of those the collector has reported.
    reported: AtomicU64,
}

impl ExpoCells {
    pub(crate) fn new() -> Self {
        ExpoCells {
            stripes: (0..stripe::count()).map(|_| CachePadded::new(Stripe::new())).collect(),
            spill: ArrayQueue::new(SPILL),
            lost: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        }
    }

    /// Records a value: claim a free stripe (this thread's, usually), update it, release it.
    #[inline]
    pub(crate) fn record(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let home = stripe::slot();
        let mask = self.stripes.len() - 1;
        for step in 0..self.stripes.len() {
            let stripe = &self.stripes[(home + step) & mask];
            if stripe.claim() {
                stripe.record(value);
                stripe.release();
                return;
            }
        }
        if self.spill.push(value).is_err() {
            // Relaxed: a statistic.
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Values dropped so far because every stripe was busy and the spill queue full.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Values dropped since the last call (the collector reports them).
    pub(crate) fn newly_lost(&self) -> u64 {
        let lost = self.lost();
        // Relaxed: statistics; only the (serialized) collector calls this.
        lost - self.reported.swap(lost, Ordering::Relaxed)
    }

    /// The histogram so far, or (with `reset`) since the last reset: exact, since each stripe
    /// is read and zeroed while claimed.
    pub(crate) fn read(&self, reset: bool) -> ExpoState {
        // Spilled values go into a stripe first, so a reading without reset keeps them.
        while let Some(value) = self.spill.pop() {
            let stripe = &self.stripes[0];
            stripe.claim_waiting();
            stripe.record(value);
            stripe.release();
        }
        let mut merged = ExpoState::default();
        for stripe in self.stripes.iter() {
            stripe.claim_waiting();
            let state = stripe.to_state();
            if reset {
                stripe.clear();
            }
            stripe.release();
            merged.merge(&state);
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_plain_model_across_rescaling_and_resets() {
        let cells = ExpoCells::new();
        let mut model = ExpoState::default();
        let values: Vec<f64> = (0..2000)
            .map(
                |i| if i % 7 == 0 { 0.0 } else { (f64::from(i) * 0.731).powi(3) * if i % 3 == 0 { -1.0 } else { 1.0 } },
            )
            .collect();
        for &v in &values[..1000] {
            cells.record(v);
            model.record(v);
        }
        let first = cells.read(true);
        assert_eq!(first.count(), 1000);
        for &v in &values[1000..] {
            cells.record(v);
        }
        let second = cells.read(false);
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
        assert_eq!(cells.lost(), 0);
    }

    #[test]
    fn concurrent_recording_and_delta_reads_lose_nothing() {
        let cells = ExpoCells::new();
        let threads = 4;
        let per_thread = 20_000u64;
        let mut collected = ExpoState::default();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let cells = &cells;
                    s.spawn(move || {
                        for i in 0..per_thread {
                            cells.record(((i % 1000) as f64 + 1.0) * if t % 2 == 0 { 1.0 } else { 1e6 });
                        }
                    })
                })
                .collect();
            while workers.iter().any(|w| !w.is_finished()) {
                collected.merge(&cells.read(true));
            }
        });
        collected.merge(&cells.read(true));
        assert_eq!(collected.count() + cells.lost(), threads as u64 * per_thread);
        assert_eq!(cells.lost(), 0);
    }
}
