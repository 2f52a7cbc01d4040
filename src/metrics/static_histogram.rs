//! Histograms that live in a `static`: the histogram record for caches gone cold.
//!
//! A [`BoundHistogram`](super::BoundHistogram) record reads its handle, then claims the stripe
//! the handle names: two dependent cache misses when both went cold (benches/README.md, `cold`).
//! A `StaticHistogram`'s stripes lie in the static itself, whose address is in the instruction,
//! and its boundaries are constants of the program ([`Boundaries`]), so the bucket is found by
//! comparing with immediates: a cold record waits for the one stripe it claims, as a
//! `fetch_add` on a static waits for its line.
//!
//! The protocol is the bound histogram's (`claimed`): a record claims a whole stripe (one
//! compare-and-swap), updates its bucket, sum and extremes with plain stores and releases it, so a
//! record's cells always fall in the same reading. The stripe is the one of [`STRIPES`] that the
//! stack's address picks (`stripe::by_stack`); when it is held, the record tries the others, then
//! the extras, and only when every one is held (records preempted mid-way outnumbering the
//! stripes) makes a new extra, kept for good: nothing is lost and nothing waits. Each stripe also
//! says whether the histogram joined the process-wide list of static histograms (`listing`); the
//! first record through a stripe that does not know joins (once per histogram, with no lock and no
//! allocation). The meter provider installed as the global one walks the list at each collection
//! and registers each new histogram in the meter of its scope (see `static_reporting`).
//!
//! A reading holds each stripe in turn. Counts and sum only grow (a reading never writes them):
//! a cumulative point is their total, a delta point the total less the one the last resetting
//! delta reading kept in the histogram, so a delta never counts a record twice, even across
//! providers. The extremes cannot be subtracted: a resetting delta reading starts them again in
//! each stripe it holds, so a delta point's minimum and maximum are its window's; a cumulative
//! point's are those since the start, or since the last resetting delta reading if a provider with
//! delta temporality read the histogram before (only when a program replaces its provider with one
//! of the other temporality).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::attributes::KeyValue;
use crate::proto::metrics::v1::{metric, Histogram, HistogramDataPoint, Metric};

use super::claimed::{Claimable, Stripes};
use super::collect::{metric, Collect, CollectContext};
use super::descriptor::{InstrumentKind, Temporality};
use super::histogram::{record_inline, FIRST_BUCKET, INLINE, MAX, MIN, SUM};
use super::listing::{Link, Listed, Listing};
use super::series_map::unix_nanos;
use super::static_reporting::{self, StaticDescription, StaticInstrument, Windowed};
use super::stripe;
use super::view::{HistogramChoice, Stream};
use super::MeterProvider;

/// The fixed stripes of each static histogram (a power of two). A stripe is 256 bytes with
/// x86-64's 128-byte padding, so a histogram takes 4 KiB and a little more.
const STRIPES: usize = 16;

/// The most boundaries a static histogram may have: its stripes keep every cell inline, beside
/// the holder flag.
const MAX_BOUNDARIES: usize = INLINE - FIRST_BUCKET - 1;

/// Every static histogram that has recorded, for the installed provider to find.
#[cfg(not(nanotel_loom))]
pub(super) static LISTED: Listing<StaticHistogramCells> = Listing::new();

#[cfg(nanotel_loom)]
loom::lazy_static! {
    pub(super) static ref LISTED: Listing<StaticHistogramCells> = Listing::new();
}

/// The bucket boundaries of a [`StaticHistogram`], known when the program is compiled: the
/// record compares its value with them as constants of its own code, reading no memory for them.
///
/// ```
/// use nanotel::metrics::{Boundaries, StaticHistogram};
///
/// /// Microseconds to a venue and back.
/// struct RoundTripMicros;
///
/// impl Boundaries for RoundTripMicros {
///     const BOUNDS: &'static [u64] = &[10, 20, 50, 100, 200, 500, 1_000, 5_000];
/// }
///
/// static ROUND_TRIP: StaticHistogram<RoundTripMicros> = StaticHistogram::new("venue.round_trip").with_unit("us");
/// ROUND_TRIP.record(42);
/// assert_eq!(ROUND_TRIP.count(), 1);
/// ```
///
/// Boundaries that do not increase, or more than 17 of them, stop the program from compiling:
///
/// ```compile_fail,E0080
/// use nanotel::metrics::{Boundaries, StaticHistogram};
///
/// struct Backwards;
///
/// impl Boundaries for Backwards {
///     const BOUNDS: &'static [u64] = &[100, 10];
/// }
///
/// static WRONG: StaticHistogram<Backwards> = StaticHistogram::new("wrong");
/// ```
pub trait Boundaries: 'static {
    /// The buckets' upper bounds (each inclusive, as in OTLP), strictly increasing, at most
    /// [`StaticHistogram::MAX_BOUNDARIES`] of them; the last bucket has no upper bound. A
    /// histogram with others does not compile.
    const BOUNDS: &'static [u64];
}

/// The specification's default boundaries ([`DEFAULT_BOUNDARIES`](super::DEFAULT_BOUNDARIES)), for
/// `u64` values: 0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500 and 10000.
#[derive(Debug)]
pub struct DefaultBoundaries;

impl Boundaries for DefaultBoundaries {
    const BOUNDS: &'static [u64] = &[0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];
}

/// Whether `bounds` may be a static histogram's.
const fn valid(bounds: &[u64]) -> bool {
    let mut i = 1;
    while i < bounds.len() {
        if bounds[i - 1] >= bounds[i] {
            return false;
        }
        i += 1;
    }
    bounds.len() <= MAX_BOUNDARIES
}

/// The bucket of `value`: how many bounds lie below it. With `bounds` a constant, each comparison
/// is with an immediate (no load), and the count has no branch.
#[inline(always)]
fn bucket_of(bounds: &'static [u64], value: u64) -> usize {
    bounds.iter().map(|&bound| usize::from(bound < value)).sum()
}

/// A stripe's contents: whether the histogram is known to have joined the list (checked under
/// the claim, so a plain flag), and the cells the bound histogram keeps inline (sum, extremes,
/// buckets). The flag first, so that the cells of the first eleven buckets share the stripe's first
/// two lines with the holder flag (see `histogram`).
#[repr(C)]
struct StaticCells {
    listed: bool,
    cells: [u64; INLINE],
}

impl StaticCells {
    /// No record yet: the extremes every value replaces.
    const EMPTY: StaticCells = StaticCells { listed: false, cells: Self::EMPTY_CELLS };

    const EMPTY_CELLS: [u64; INLINE] = {
        let mut cells = [0; INLINE];
        cells[MIN] = u64::MAX;
        cells
    };
}

/// What a static histogram has, whatever its boundaries: the part the list and the provider hold.
pub(crate) struct StaticHistogramCells {
    stripes: Stripes<StaticCells, [CachePadded<Claimable<StaticCells>>; STRIPES]>,
    bounds: &'static [u64],
    what: StaticDescription,
    /// The counts and sum (in `cells`' places) that the last resetting delta reading reported.
    reported: Mutex<[u64; INLINE]>,
    /// Unix nanoseconds of the last resetting delta reading (0 before any): where the next delta
    /// window starts, whichever provider reads it.
    reset_at: AtomicU64,
    link: Link<StaticHistogramCells>,
}

impl Listed for StaticHistogramCells {
    fn link(&self) -> &Link<Self> {
        &self.link
    }
}

impl Windowed for StaticHistogramCells {
    fn reset_at(&self) -> u64 {
        // Relaxed: a time stamp; collections are serialized by their provider.
        self.reset_at.load(Ordering::Relaxed)
    }
}

/// What one reading found: the counts and sum in `cells`' places, and the extremes.
struct Reading {
    cells: [u64; INLINE],
}

/// The places of `cells` that add up across stripes and readings (the sum and the buckets; the
/// extremes do not).
fn additive_places() -> impl Iterator<Item = usize> {
    std::iter::once(SUM).chain(FIRST_BUCKET..INLINE)
}

impl Reading {
    /// The reading of two histograms of the same boundaries as one.
    fn merge(mut self, other: Reading) -> Reading {
        for place in additive_places() {
            self.cells[place] = self.cells[place].wrapping_add(other.cells[place]);
        }
        self.cells[MIN] = self.cells[MIN].min(other.cells[MIN]);
        self.cells[MAX] = self.cells[MAX].max(other.cells[MAX]);
        self
    }
}

impl StaticHistogramCells {
    /// Reads every stripe (and, with `reset_extremes`, starts their extremes again).
    fn read(&self, reset_extremes: bool) -> Reading {
        let stripes = self.stripes.hold_each().map(|mut held| {
            held.with(|stripe| {
                let cells = stripe.cells;
                if reset_extremes {
                    stripe.cells[MIN] = u64::MAX;
                    stripe.cells[MAX] = 0;
                }
                Reading { cells }
            })
        });
        stripes.fold(Reading { cells: StaticCells::EMPTY_CELLS }, Reading::merge)
    }

    /// The counts and sum since the last resetting delta reading, with the extremes since then;
    /// with `reset`, starts a new window. Resetting readers are serialized by the lock: two
    /// providers reading at once split the records between them, never count one twice.
    fn delta(&self, reset: bool) -> Reading {
        let mut reported = self.reported.lock();
        let mut reading = self.read(reset);
        let totals = reading.cells;
        for place in additive_places() {
            reading.cells[place] = totals[place].wrapping_sub(reported[place]);
        }
        if reset {
            *reported = totals;
            // Relaxed: a time stamp, written under the lock.
            self.reset_at.store(unix_nanos(), Ordering::Relaxed);
        }
        reading
    }

    /// The first record through a stripe that did not know the histogram is listed.
    #[cold]
    #[inline(never)]
    fn join(&'static self) {
        LISTED.join(self);
    }
}

/// An explicit-bucket histogram of `u64` values, declared as a `static` and reported by the
/// installed meter provider as one series, with the attributes it was declared with (none unless
/// [`with_attributes`](Self::with_attributes)). Its boundaries are a type
/// ([`Boundaries`]; [`DefaultBoundaries`] when not named).
///
/// A record compares the value with the boundaries as constants, claims one stripe inside the
/// static (chosen from the stack's address, without reading memory) with one compare-and-swap,
/// counts the value in its bucket, sum and extremes with plain stores and releases the stripe: no
/// lock, no syscall, no thread-local, and no allocation unless every stripe of the histogram is
/// held by records at once (then one extra stripe, kept; see the module's protocol). With cold
/// caches it waits for one line where a [`BoundHistogram`](super::BoundHistogram) waits for two,
/// one after the other (benches/README.md, `cold`). It keeps no exemplars; its attributes are
/// fixed when it is made (one histogram per series). It need not be a `static` item: inside a
/// structure of the program leaked for the rest of the process, with attributes made at run time
/// and leaked with it, it records at the same cold cost (as for
/// [`StaticCounter`](super::StaticCounter)).
///
/// It counts from its first record whether or not telemetry runs. The meter provider installed
/// as the global one reports it, in the meter of its scope, from its first collection after that
/// record, until shut down (its last collection included) or replaced by another install; a
/// provider that was never installed does not report it. Views apply as to a
/// [`Histogram`](super::Histogram) of the same name for renaming and dropping; a view's other
/// aggregation or boundaries cannot apply to cells counted at compile-time boundaries and is
/// ignored, with a warning; a view's attribute filter applies to its attributes. Statics of the
/// same name, scope and boundaries whose attributes (after the views' filter) are the same are
/// reported as one series, their records together; one whose boundaries differ from those of the
/// first registered is not exported (a warning says so).
///
/// ```
/// use nanotel::metrics::StaticHistogram;
///
/// static FILL_LATENCY: StaticHistogram =
///     StaticHistogram::new("order.fill_latency").with_unit("us").with_description("Order to first fill");
///
/// # let collector = nanotel_testing::TestCollector::start().unwrap();
/// let telemetry = nanotel::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
/// FILL_LATENCY.record(120);
/// telemetry.shutdown(std::time::Duration::from_secs(5));
/// # let exported = collector.received().iter().filter_map(|r| r.request.as_ref().ok()?.as_metrics().cloned())
/// #     .flat_map(|request| request.resource_metrics).flat_map(|resource| resource.scope_metrics)
/// #     .flat_map(|scope| scope.metrics).any(|metric| metric.name == "order.fill_latency");
/// # assert!(exported);
/// ```
pub struct StaticHistogram<B: Boundaries = DefaultBoundaries> {
    cells: StaticHistogramCells,
    boundaries: PhantomData<fn() -> B>,
}

impl<B: Boundaries> StaticHistogram<B> {
    /// How many stripes each histogram has (4 KiB and a little more with x86-64's 128-byte
    /// padding).
    pub const STRIPES: usize = STRIPES;
    /// The most boundaries a [`Boundaries`] may have.
    pub const MAX_BOUNDARIES: usize = MAX_BOUNDARIES;
    /// The instrumentation scope of a histogram made without [`with_scope`](Self::with_scope):
    /// the static counters' ([`StaticCounter::DEFAULT_SCOPE`](super::StaticCounter::DEFAULT_SCOPE)).
    pub const DEFAULT_SCOPE: &'static str = static_reporting::DEFAULT_SCOPE;

    /// The stripes of a new histogram.
    #[cfg(not(nanotel_loom))]
    #[expect(clippy::declare_interior_mutable_const, reason = "a template copied into each new histogram")]
    const STRIPE: CachePadded<Claimable<StaticCells>> = CachePadded::new(Claimable::new(StaticCells::EMPTY, false));

    /// A histogram named `name` (checked against the specification's syntax when a provider first
    /// registers it: a bad name is reported on stderr and the histogram is not exported).
    #[must_use]
    #[cfg(not(nanotel_loom))]
    pub const fn new(name: &'static str) -> Self {
        const { assert!(valid(B::BOUNDS), "a static histogram's boundaries must increase, at most 17 of them") };
        Self::with_parts(name, Stripes::inline([Self::STRIPE; STRIPES]), Link::new())
    }

    /// The same under loom, whose atomics have no `const` constructor.
    #[cfg(nanotel_loom)]
    #[must_use]
    pub fn new(name: &'static str) -> Self {
        assert!(valid(B::BOUNDS));
        Self::with_parts(
            name,
            Stripes::inline(std::array::from_fn(|_| CachePadded::new(Claimable::new(StaticCells::EMPTY, false)))),
            Link::new(),
        )
    }

    const fn with_parts(
        name: &'static str,
        stripes: Stripes<StaticCells, [CachePadded<Claimable<StaticCells>>; STRIPES]>,
        link: Link<StaticHistogramCells>,
    ) -> Self {
        let cells = StaticHistogramCells {
            stripes,
            bounds: B::BOUNDS,
            what: StaticDescription::new(InstrumentKind::Histogram, name),
            reported: parking_lot::const_mutex([0; INLINE]),
            reset_at: AtomicU64::new(0),
            link,
        };
        StaticHistogram { cells, boundaries: PhantomData }
    }

    /// The unit.
    #[must_use]
    pub const fn with_unit(mut self, unit: &'static str) -> Self {
        self.cells.what.unit = unit;
        self
    }

    /// The description.
    #[must_use]
    pub const fn with_description(mut self, description: &'static str) -> Self {
        self.cells.what.description = description;
        self
    }

    /// The instrumentation scope (the meter's name) it is reported under;
    /// [`DEFAULT_SCOPE`](Self::DEFAULT_SCOPE) if not given.
    #[must_use]
    pub const fn with_scope(mut self, scope: &'static str) -> Self {
        self.cells.what.scope = scope;
        self
    }

    /// The attributes of its series (none if not given), made in `const` context, or at run time
    /// and leaked, as for [`StaticCounter::with_attributes`](super::StaticCounter::with_attributes).
    /// Histograms of one name, scope and boundaries with the same attributes are one series; a
    /// duplicate key's last value counts.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::metrics::StaticHistogram;
    ///
    /// const XNAS: &[KeyValue] = &[KeyValue::static_str("venue", "XNAS")];
    /// static ACK_XNAS: StaticHistogram = StaticHistogram::new("venue.ack_time").with_unit("us").with_attributes(XNAS);
    /// ACK_XNAS.record(42);
    /// ```
    #[must_use]
    pub const fn with_attributes(mut self, attributes: &'static [KeyValue]) -> Self {
        self.cells.what.attributes = attributes;
        self
    }

    /// The histogram's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.cells.what.name
    }

    /// Records `value`.
    #[inline]
    pub fn record(&'static self, value: u64) {
        let bucket = bucket_of(B::BOUNDS, value);
        let mut held = self.cells.stripes.claim(stripe::by_stack(STRIPES), || StaticCells::EMPTY);
        let listed = held.with(|stripe| {
            record_inline(&mut stripe.cells, bucket, value);
            stripe.listed
        });
        if !listed {
            self.cells.join();
            // Under the same claim: only the stripe's holder reaches the flag.
            held.with(|stripe| stripe.listed = true);
        }
    }

    /// How many values were recorded so far (a reading: it holds each stripe in turn, as a
    /// collection does; not for the hot path).
    #[must_use]
    pub fn count(&self) -> u64 {
        self.cells.read(false).cells[FIRST_BUCKET..].iter().fold(0, |count, bucket| count.wrapping_add(*bucket))
    }
}

impl<B: Boundaries> std::fmt::Debug for StaticHistogram<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticHistogram")
            .field("name", &self.cells.what.name)
            .field("scope", &self.cells.what.scope)
            .field("bounds", &self.cells.bounds)
            .finish_non_exhaustive()
    }
}

/// Registers `histogram` in `provider` (see [`StaticHistogram`] for what views do to it, and to
/// statics of one name with other boundaries).
pub(super) fn register(
    provider: &MeterProvider,
    histogram: &'static StaticHistogramCells,
    reporting: &Arc<AtomicBool>,
) {
    let (name, bounds) = (histogram.what.name, histogram.bounds);
    let explicit = HistogramChoice::Explicit(bounds.iter().map(|&bound| bound as f64).collect());
    let stream_made = |stream: &Stream| {
        if stream.histogram != explicit {
            crate::diag::warning!(
                "a view asks for another aggregation of static histogram {name:?}: it keeps the buckets of its \
                 boundaries, {bounds:?}"
            );
        }
    };
    let admits = |first: Option<&'static StaticHistogramCells>| match first {
        Some(first) if first.bounds != bounds => {
            crate::diag::warning!(
                "static histogram {name:?} of scope {:?} not exported: its boundaries {bounds:?} are not those of the \
                 one registered before under that name, {:?}",
                histogram.what.scope,
                first.bounds
            );
            false
        }
        _ => true,
    };
    static_reporting::register(
        provider,
        reporting,
        &histogram.what,
        Some(explicit.clone()),
        stream_made,
        histogram,
        admits,
    );
}

impl Collect for StaticInstrument<StaticHistogramCells> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        let (temporality, start_time_unix_nano) = self.window(cx)?;
        let delta = temporality == Temporality::Delta;
        let read =
            |histogram: &StaticHistogramCells| if delta { histogram.delta(cx.reset) } else { histogram.read(false) };
        // A series' reading is taken (a delta's resets its window) even when it then has no point.
        let data_points: Vec<_> = self
            .series
            .lock()
            .iter()
            .filter_map(|series| {
                let bounds = series.statics.first()?.bounds;
                let reading = series.statics.iter().map(|histogram| read(histogram)).reduce(Reading::merge)?;
                let point = point(bounds, &reading, start_time_unix_nano, cx.now, delta)?;
                Some(HistogramDataPoint {
                    attributes: series.attributes.iter().map(KeyValue::to_proto).collect(),
                    ..point
                })
            })
            .collect();
        if data_points.is_empty() {
            return None;
        }
        let histogram = Histogram { data_points, aggregation_temporality: temporality.to_proto() };
        Some(metric(&self.descriptor, metric::Data::Histogram(histogram)))
    }
}

/// The point of one reading: none for a delta window without records.
fn point(bounds: &[u64], reading: &Reading, start: u64, now: u64, delta: bool) -> Option<HistogramDataPoint> {
    let counts = &reading.cells[FIRST_BUCKET..=FIRST_BUCKET + bounds.len()];
    let count = counts.iter().fold(0u64, |count, bucket| count.wrapping_add(*bucket));
    if delta && count == 0 {
        return None;
    }
    Some(HistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: now,
        count,
        sum: Some(reading.cells[SUM] as f64),
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.iter().map(|&bound| bound as f64).collect(),
        min: (count > 0).then_some(reading.cells[MIN] as f64),
        max: (count > 0).then_some(reading.cells[MAX] as f64),
        ..Default::default()
    })
}

// Not under loom: outside a model.
#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    struct Tens;

    impl Boundaries for Tens {
        const BOUNDS: &'static [u64] = &[10, 20, 30];
    }

    #[test]
    fn the_bucket_of_a_value_is_the_number_of_bounds_below_it() {
        let buckets: Vec<usize> = [0, 10, 11, 20, 30, 31, u64::MAX].map(|value| bucket_of(Tens::BOUNDS, value)).into();
        assert_eq!(buckets, [0, 0, 1, 1, 2, 3, 3]);
        assert!(valid(DefaultBoundaries::BOUNDS) && valid(&[]) && valid(&[7]));
        assert!(!valid(&[1, 1]) && !valid(&[2, 1]));
        let eighteen: Vec<u64> = (0..18).collect();
        assert!(!valid(&eighteen) && valid(&eighteen[..17]));
    }

    #[test]
    fn records_from_many_threads_add_up_and_deltas_split_them() {
        static HISTOGRAM: StaticHistogram<Tens> = StaticHistogram::new("static_histogram.unit_test");
        std::thread::scope(|s| {
            for thread in 0..8u64 {
                s.spawn(move || (0..1000).for_each(|i| HISTOGRAM.record(thread * 10 + i % 3)));
            }
        });
        assert_eq!(HISTOGRAM.count(), 8000);
        let cells = &HISTOGRAM.cells;
        let whole = cells.delta(true);
        // Thread t records t*10, t*10+1 and t*10+2 (334, 333, 333 times).
        let sum: u64 = (0..8).map(|t| 334 * t * 10 + 333 * (t * 10 + 1) + 333 * (t * 10 + 2)).sum();
        assert_eq!(whole.cells[SUM], sum);
        assert_eq!((whole.cells[MIN], whole.cells[MAX]), (0, 72));
        // Bucket 0 (<= 10): 0,1,2 and 10; 1 (<= 20): 11,12,20; 2 (<= 30): 21,22,30; 3: the rest.
        assert_eq!(&whole.cells[FIRST_BUCKET..FIRST_BUCKET + 4], [1000 + 334, 666 + 334, 666 + 334, 666 + 4000]);
        HISTOGRAM.record(25);
        let next = cells.delta(true);
        assert_eq!((next.cells[SUM], next.cells[MIN], next.cells[MAX]), (25, 25, 25));
        assert_eq!(&next.cells[FIRST_BUCKET..FIRST_BUCKET + 4], [0, 0, 1, 0]);
        assert!(point(Tens::BOUNDS, &cells.delta(true), 0, 0, true).is_none(), "an empty delta window has no point");
        let cumulative = cells.read(false);
        assert_eq!(cumulative.cells[SUM], sum + 25);
        assert!(LISTED.walk(None).iter().any(|listed| std::ptr::eq(*listed, cells)));
    }

    #[test]
    fn a_record_finding_every_stripe_held_makes_an_extra_and_loses_nothing() {
        static HISTOGRAM: StaticHistogram<Tens> = StaticHistogram::new("static_histogram.unit_test.held");
        let stripes = &HISTOGRAM.cells.stripes;
        let held: Vec<_> =
            (0..STRIPES).map(|slot| stripes.claim(slot, || unreachable!("a fixed stripe is free"))).collect();
        HISTOGRAM.record(15);
        assert_eq!(stripes.extra_count(), 1, "every fixed stripe held: an extra");
        drop(held);
        HISTOGRAM.record(15);
        assert_eq!(stripes.extra_count(), 1, "none held: a fixed stripe");
        let reading = HISTOGRAM.cells.read(false);
        assert_eq!((reading.cells[SUM], reading.cells[FIRST_BUCKET + 1]), (30, 2));
        assert_eq!(HISTOGRAM.count(), 2);
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;
    use loom::thread;

    struct Two;

    impl Boundaries for Two {
        const BOUNDS: &'static [u64] = &[2];
    }

    /// Two recorders on a static histogram (on one stripe: under loom `stripe::by_stack` picks
    /// the first, so the second recorder meets the first's claim, or the reading's, and takes
    /// another) while a resetting delta reading races them: each window's count is its buckets' sum,
    /// its sum theirs, with min ≤ max when it has any; over the windows each record is counted
    /// once, and the cumulative reading after them holds both.
    #[test]
    fn loom_static_records_land_whole_in_one_window() {
        loom::model(|| {
            // Leaked: a record takes `&'static self`, as a `static` gives it (a few KiB a run).
            let histogram: &'static StaticHistogram<Two> = Box::leak(Box::new(StaticHistogram::new("loom.static")));
            let recorders: Vec<_> =
                [1u64, 5].into_iter().map(|value| thread::spawn(move || histogram.record(value))).collect();
            let first = histogram.cells.delta(true);
            recorders.into_iter().for_each(|recorder| recorder.join().unwrap());
            let second = histogram.cells.delta(true);
            let mut counted = [0; 2];
            for window in [&first, &second] {
                let buckets = &window.cells[FIRST_BUCKET..FIRST_BUCKET + 2];
                let sum = buckets[0] + 5 * buckets[1];
                assert_eq!(window.cells[SUM], sum, "a record's bucket and sum in one window");
                if buckets.iter().any(|&count| count > 0) {
                    assert!(window.cells[MIN] <= window.cells[MAX]);
                }
                counted = [counted[0] + buckets[0], counted[1] + buckets[1]];
            }
            assert_eq!(counted, [1, 1], "each record counted once");
            assert_eq!(histogram.cells.read(false).cells[SUM], 6);
        });
    }
}
