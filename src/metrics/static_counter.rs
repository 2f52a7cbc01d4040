//! Counters that live in a `static`: for the adds a program makes after its caches went cold.
//!
//! A [`BoundCounter`](super::BoundCounter) add reads its handle, then the cell the handle names: two
//! dependent cache misses when both went cold (benches/README.md, `cold`). A `StaticCounter`'s
//! cells lie in the static itself, whose address is in the instruction, and the add picks its
//! cell from the address of the thread's stack, a register: one cold line, as a relaxed
//! `fetch_add` on a static `AtomicU64`.
//!
//! The protocol: the cell of [`STRIPES`] is chosen from the stack's address (`stripe::by_stack`),
//! so each thread keeps to one or two cells, and threads spread over them; two threads may share a
//! cell, so every add is an atomic (relaxed) `fetch_add`. Each cell's line also holds a flag that
//! says the counter joined the process-wide list of static counters (`listing`); the first add
//! through a cell whose flag is clear joins (once per counter, without a lock or an allocation)
//! and sets it. The meter provider installed as the global one walks that list at each
//! collection, registers the counters it has not seen in the meter of their scope, and reads
//! each as the series of its attributes (fixed when it is declared): the sum of its cells, as a
//! running total (collection never writes the cells; a delta is the total less the total the last
//! delta reading saw, kept in the counter, so deltas never count an add twice even across
//! providers).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::attributes::KeyValue;
use crate::proto::metrics::v1::{metric, Metric, NumberDataPoint, Sum};

use super::collect::{metric, Collect, CollectContext};
use super::descriptor::{InstrumentKind, Temporality};
use super::listing::{Link, Listed, Listing};
use super::number::Number;
use super::series_map::unix_nanos;
use super::static_reporting::{self, Series, StaticDescription, StaticInstrument, Windowed};
use super::stripe;
use super::view::{HistogramChoice, Stream};
use super::MeterProvider;

/// The cells of each static counter (a power of two). With the 128-byte padding of
/// `CachePadded` on x86-64, a counter takes 2 KiB and a little more.
const STRIPES: usize = 16;

/// Every static counter that has recorded, for the installed provider to find.
#[cfg(not(nanotel_loom))]
pub(super) static LISTED: Listing<StaticCounter> = Listing::new();

#[cfg(nanotel_loom)]
loom::lazy_static! {
    pub(super) static ref LISTED: Listing<StaticCounter> = Listing::new();
}

/// One cell: a running total, and whether the counter has joined the list (read after the add,
/// from the line the add just wrote).
struct Cell {
    total: AtomicU64,
    listed: AtomicBool,
}

/// A monotonic counter of `u64` increments, declared as a `static` and reported by the installed
/// meter provider as one series, with the attributes it was declared with (none unless
/// [`with_attributes`](Self::with_attributes)): a bound counter fixed at compile time.
///
/// An add is one relaxed `fetch_add` on a cell inside the static, chosen without reading memory,
/// and a read of a flag in the same line: no lock, no allocation, no syscall, no thread-local. So
/// it may be called from a signal handler, the one record that may (README, Guarantees).
/// With cold caches it touches one line where a [`BoundCounter`](super::BoundCounter) touches two,
/// one after the other; with warm ones it costs a locked add where a bound counter's integer add is
/// a plain load and store (benches/README.md, `cold` and `metrics`). It keeps no exemplars; its
/// attributes are fixed when it is made (one counter per series). It need not be a `static`
/// item: an add asks for a `&'static` counter, which a structure of the program leaked for the
/// rest of the process holds as well, so a series named at run time (a venue the configuration
/// lists) can be a counter inside that structure, with attributes leaked with it (see
/// [`with_attributes`](Self::with_attributes)), at the static's cold cost.
///
/// The counter counts from its first add whether or not telemetry runs. The meter provider
/// installed as the global one ([`init`](crate::init), or a built [`Telemetry`](crate::Telemetry)
/// left to install itself) reports it, in the meter of its scope, from its first collection after
/// the counter's first add, and keeps doing so until shut down (its last collection included) or
/// replaced by another install. A provider that was never installed does not report static
/// counters. Views apply as to a [`Counter`](super::Counter) of the same name (renaming and
/// dropping; a view's histogram aggregation cannot apply to a total and is ignored, with a
/// warning; a view's attribute filter applies to its attributes). Statics of the same name and
/// scope whose attributes (after the views' filter) are the same are reported as one series,
/// their sum.
///
/// ```
/// use nanotel::metrics::StaticCounter;
///
/// static ORDERS_SENT: StaticCounter =
///     StaticCounter::new("orders.sent").with_unit("{order}").with_description("Orders sent to venues");
///
/// # let collector = nanotel_testing::TestCollector::start().unwrap();
/// let telemetry = nanotel::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
/// ORDERS_SENT.add(1);
/// telemetry.shutdown(std::time::Duration::from_secs(5));
/// # let exported = collector.received().iter().filter_map(|r| r.request.as_ref().ok()?.as_metrics().cloned())
/// #     .flat_map(|request| request.resource_metrics).flat_map(|resource| resource.scope_metrics)
/// #     .flat_map(|scope| scope.metrics).any(|metric| metric.name == "orders.sent");
/// # assert!(exported);
/// ```
pub struct StaticCounter {
    cells: [CachePadded<Cell>; STRIPES],
    what: StaticDescription,
    /// The total the last delta reading reported (collections only).
    reported: AtomicU64,
    /// Unix nanoseconds of the last resetting delta reading (0 before any): where the next delta
    /// window starts, whichever provider reads it.
    reset_at: AtomicU64,
    link: Link<StaticCounter>,
}

impl StaticCounter {
    /// How many cells each counter has (2 KiB and a little more with x86-64's 128-byte padding).
    pub const STRIPES: usize = STRIPES;
    /// The instrumentation scope of a counter made without [`with_scope`](Self::with_scope).
    pub const DEFAULT_SCOPE: &'static str = static_reporting::DEFAULT_SCOPE;

    /// The cells of a new counter (std's atomics, also under loom: an add is one atomic
    /// operation, with no protocol to model).
    #[expect(clippy::declare_interior_mutable_const, reason = "a template copied into each new counter")]
    const CELLS: [CachePadded<Cell>; STRIPES] =
        [const { CachePadded::new(Cell { total: AtomicU64::new(0), listed: AtomicBool::new(false) }) }; STRIPES];

    /// A counter named `name` (checked against the specification's syntax when a provider first
    /// registers it: a bad name is reported on stderr and the counter is not exported).
    #[must_use]
    #[cfg(not(nanotel_loom))]
    pub const fn new(name: &'static str) -> Self {
        Self::linked(name, Link::new())
    }

    /// The same under loom, whose atomics have no `const` constructor.
    #[cfg(nanotel_loom)]
    #[must_use]
    pub fn new(name: &'static str) -> Self {
        Self::linked(name, Link::new())
    }

    const fn linked(name: &'static str, link: Link<StaticCounter>) -> Self {
        StaticCounter {
            cells: Self::CELLS,
            what: StaticDescription::new(InstrumentKind::Counter, name),
            reported: AtomicU64::new(0),
            reset_at: AtomicU64::new(0),
            link,
        }
    }

    /// The unit.
    #[must_use]
    pub const fn with_unit(mut self, unit: &'static str) -> Self {
        self.what.unit = unit;
        self
    }

    /// The description.
    #[must_use]
    pub const fn with_description(mut self, description: &'static str) -> Self {
        self.what.description = description;
        self
    }

    /// The instrumentation scope (the meter's name) it is reported under; [`DEFAULT_SCOPE`](Self::DEFAULT_SCOPE)
    /// if not given.
    #[must_use]
    pub const fn with_scope(mut self, scope: &'static str) -> Self {
        self.what.scope = scope;
        self
    }

    /// The attributes of its series (none if not given). For a `static` item, made in `const`
    /// context: a `const` item, or a list written in the static's initializer inside a
    /// `const { .. }` block (a bare `&[..]` there is not accepted, since `KeyValue` has a
    /// destructor). For a counter made at run time inside a structure leaked for the rest of the
    /// process, a list leaked with it (`Vec::leak`). Counters of one name and scope with the same
    /// attributes are one series; a duplicate key's last value counts.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::metrics::StaticCounter;
    ///
    /// const XNAS: &[KeyValue] = &[KeyValue::static_str("venue", "XNAS")];
    /// static FILLS_XNAS: StaticCounter = StaticCounter::new("orders.filled").with_attributes(XNAS);
    /// static FILLS_ARCA: StaticCounter = StaticCounter::new("orders.filled")
    ///     .with_attributes(const { &[KeyValue::static_str("venue", "ARCA")] });
    /// FILLS_XNAS.add(1);
    /// FILLS_ARCA.add(2);
    ///
    /// // A venue named by the configuration, kept for the rest of the process.
    /// struct Venue {
    ///     fills: StaticCounter,
    /// }
    /// let configured = String::from("BATS");
    /// let attributes = Vec::leak(vec![KeyValue::new("venue", configured)]);
    /// let venue: &'static Venue =
    ///     Box::leak(Box::new(Venue { fills: StaticCounter::new("orders.filled").with_attributes(attributes) }));
    /// venue.fills.add(3);
    /// ```
    #[must_use]
    pub const fn with_attributes(mut self, attributes: &'static [KeyValue]) -> Self {
        self.what.attributes = attributes;
        self
    }

    /// The counter's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.what.name
    }

    /// Adds `value`.
    #[inline]
    pub fn add(&'static self, value: u64) {
        let cell = &self.cells[stripe::by_stack(STRIPES)];
        // Relaxed: an independent running total; collection reads it and nothing else through it.
        cell.total.fetch_add(value, Ordering::Relaxed);
        // Relaxed: the flag only spares later adds the call to `join`; the listing's own
        // orderings publish the counter to the provider.
        if !cell.listed.load(Ordering::Relaxed) {
            self.join(cell);
        }
    }

    /// The first add through `cell`: makes sure the counter is listed, then says so in the cell.
    #[cold]
    #[inline(never)]
    fn join(&'static self, cell: &Cell) {
        LISTED.join(self);
        cell.listed.store(true, Ordering::Relaxed);
    }

    /// Everything added so far.
    #[must_use]
    pub fn total(&self) -> u64 {
        // Relaxed: each cell is an independent running total.
        self.cells.iter().fold(0u64, |total, cell| total.wrapping_add(cell.total.load(Ordering::Relaxed)))
    }

    /// What was added since the last resetting reading (since the start for the first); with
    /// `reset`, starts a new one. Resetting readers are serialized by their provider; two providers
    /// reading at once (an old one's last collection beside a new one's) split the adds between
    /// them, never count one twice: `reported` only moves forward, by a compare-exchange from the
    /// value the delta was taken against. (Until session 40 it was swapped in: a reader whose
    /// total was older than the other's moved it back, reporting a wrapped, negative delta, and
    /// the other's next delta counted those adds again.)
    fn delta(&self, reset: bool) -> u64 {
        // Relaxed throughout: the running totals alone carry the value.
        let mut reported = self.reported.load(Ordering::Relaxed);
        loop {
            let total = self.total();
            let delta = total.wrapping_sub(reported);
            // "Behind" in wrapping order: another reader reported a later total than this read.
            if delta > u64::MAX / 2 {
                return 0;
            }
            if !reset {
                return delta;
            }
            match self.reported.compare_exchange_weak(reported, total, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    self.reset_at.fetch_max(unix_nanos(), Ordering::Relaxed);
                    return delta;
                }
                Err(moved) => reported = moved,
            }
        }
    }
}

impl Listed for StaticCounter {
    fn link(&self) -> &Link<Self> {
        &self.link
    }
}

impl Windowed for StaticCounter {
    fn reset_at(&self) -> u64 {
        // Relaxed: a time stamp; collections are serialized by their provider.
        self.reset_at.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for StaticCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCounter")
            .field("name", &self.what.name)
            .field("scope", &self.what.scope)
            .finish_non_exhaustive()
    }
}

/// Registers `counter` in `provider` (see [`StaticCounter`] for what views do to it).
pub(super) fn register(provider: &MeterProvider, counter: &'static StaticCounter, reporting: &Arc<AtomicBool>) {
    let stream_made = |stream: &Stream| {
        if !matches!(stream.histogram, HistogramChoice::Sum) {
            crate::diag::warning!(
                "a view asks for a histogram of static counter {:?}: a static counter keeps a total only, reported \
                 as a sum",
                counter.what.name
            );
        }
    };
    static_reporting::register(provider, reporting, &counter.what, None, stream_made, counter, |_| true);
}

impl Collect for StaticInstrument<StaticCounter> {
    fn collect(&self, cx: &CollectContext) -> Option<Metric> {
        let (temporality, start_time_unix_nano) = self.window(cx)?;
        let value = |counter: &StaticCounter| {
            if temporality == Temporality::Delta {
                counter.delta(cx.reset)
            } else {
                counter.total()
            }
        };
        // A delta point only for a series added to in its window, as for every other delta sum
        // (until session 40 each window sent a 0); every series' window is taken all the same.
        let point = |series: &Series<StaticCounter>| {
            let sum = series.statics.iter().map(|counter| value(counter)).fold(0, u64::wrapping_add);
            (temporality == Temporality::Cumulative || sum != 0).then(|| NumberDataPoint {
                attributes: series.attributes.iter().map(KeyValue::to_proto).collect(),
                start_time_unix_nano,
                time_unix_nano: cx.now,
                value: Some(sum.to_point()),
                ..Default::default()
            })
        };
        let data_points: Vec<_> = self.series.lock().iter().filter_map(point).collect();
        if data_points.is_empty() {
            return None;
        }
        let sum = Sum { data_points, aggregation_temporality: temporality.to_proto(), is_monotonic: true };
        Some(metric(&self.descriptor, metric::Data::Sum(sum)))
    }
}

// Not under loom: outside a model.
#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn totals_from_many_threads_add_up_and_deltas_split_them() {
        static COUNTER: StaticCounter = StaticCounter::new("static_counter.unit_test");
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| (0..1000).for_each(|_| COUNTER.add(3)));
            }
        });
        assert_eq!(COUNTER.total(), 24_000);
        assert_eq!(COUNTER.delta(false), 24_000);
        assert_eq!(COUNTER.delta(true), 24_000);
        COUNTER.add(5);
        assert_eq!(COUNTER.delta(true), 5);
        assert_eq!(COUNTER.delta(true), 0);
        assert_eq!(COUNTER.total(), 24_005);
        assert!(LISTED.walk(None).iter().any(|listed| std::ptr::eq(*listed, &raw const COUNTER)));
    }

    /// Two resetting readers at once (two providers' collections overlapping) split the adds:
    /// no delta wraps below zero, and together they count each add once.
    #[test]
    fn two_readers_at_once_count_each_add_once() {
        static COUNTER: StaticCounter = StaticCounter::new("static_counter.two_readers");
        let done = AtomicBool::new(false);
        let read = || {
            let mut sum = 0u64;
            while !done.load(Ordering::Relaxed) {
                let delta = COUNTER.delta(true);
                assert!(delta <= COUNTER.total(), "a delta wrapped: {delta}");
                sum += delta;
            }
            sum
        };
        let read = &read;
        let sums = std::thread::scope(|s| {
            let readers = [s.spawn(read), s.spawn(read)];
            s.spawn(|| {
                (0..2_000_000).for_each(|_| COUNTER.add(1));
                done.store(true, Ordering::Relaxed);
            });
            readers.map(|reader| reader.join().unwrap())
        });
        assert_eq!(sums[0] + sums[1] + COUNTER.delta(true), 2_000_000);
    }
}
