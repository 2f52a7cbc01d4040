//! Each hot-path operation with cold caches, as a gateway meets it: between two telemetry calls it
//! did other work, so the call finds its cache lines (and often its TLB entries) gone.
//!
//! Before every timed operation the bench writes twice over a buffer four times the last-level
//! cache (at most 256 MiB, or `NANOTEL_COLD_EVICT_MIB`; the passes `NANOTEL_COLD_EVICT_PASSES`;
//! one pass, as before session 30, left lines a row had used more than once: see [`Evictor`])
//! and reads the two lines of the histograms'
//! value table (a caller has the value it records at hand, in a register: since session 20; a
//! value read from a cold line made the record wait for it, where a counter's constant did not),
//! then times exactly one operation with two reads of the CPU's time-stamp counter (`rdtsc` fenced
//! by `lfence` on x86-64, which touches no memory, so the timing adds no miss of its own;
//! `Instant::now()` elsewhere), converted to nanoseconds by a calibration against `Instant` at the
//! start. The rows first run their
//! operations warm 40,000 times each, in turns (a running program's state: every page of the
//! thread's rings has been touched once), then take their samples in the same turns, one sample of
//! each row per round, so that whatever the machine does meanwhile falls on every row alike; each
//! row keeps 1,000 samples (or `NANOTEL_COLD_SAMPLES`) after 50 discarded ones;
//! `NANOTEL_COLD_ROWS=a,b` measures only the rows whose names contain `a` or `b` (and prints no
//! ratios). The rows run on a thread the bench spawns, as a gateway's recording threads are, or,
//! with `NANOTEL_COLD_MAIN_THREAD` set, on the main thread (as before session 17), whose
//! thread-locals the dynamic loader placed apart from its stack: a cold thread-local there costs
//! far more (probably a page walk of its own), where a spawned thread's lie at its stack's top
//! (benches/README.md, session 17). With `--test` (`cargo bench -p nanotel-benches -- --test`, as
//! scripts/test.sh runs it) every row takes three samples after one 1 MiB write: a check that the
//! bench runs and reports, not a measurement. Rows:
//!
//! - `empty`: nothing between the two reads: what the timing itself costs cold. Every other row is
//!   reported net of its median.
//! - `floor/fetch_add`: one relaxed `fetch_add` on a static `AtomicU64` (one of 64, each on a
//!   page of its own; its line evicted): the floor of a counter add, and the one the goals name.
//!   `floor/fetch_add_through_handle`: the same on an `AtomicU64` behind an `Arc` the row keeps
//!   (as the `prometheus` crate keeps a counter): the floor of any counter reached through a
//!   handle. `floor/clock_pair`: two more `Instant::now()` reads, the floor of a span (which reads
//!   the clock at start and end). `floor/fetch_add/neighbour_page_warm`: the static floor after an
//!   untimed read of the cell on the page beside it (its page-table entry usually in the same line,
//!   every upper level of its walk shared): the line's own miss, nearly without the page walk.
//!   `floor/fetch_add_mapped` (and `…/neighbour_page_warm`): the same on cells the allocator maps
//!   apart (512 KiB), whose page walk starts from levels nothing used lately.
//! - `nanotel/counter_add_bound`, `nanotel/histogram_record_bound` (default buckets),
//!   `nanotel/exponential_histogram_record_bound` (`f64` values from 1 to 11001),
//!   `nanotel/span_start_end` (sampled, 2 attributes; the thread's buffers drained, untimed, every
//!   256 spans), `nanotel/span_refused` (the same builder under `AlwaysOff`: a `&'static str`
//!   attribute and an integer the compiler cannot see), `nanotel/log_emit` (static body, 2
//!   attributes).
//! - `nanotel/counter_add_static`: a [`StaticCounter`]'s add (one of 64 statics, each on pages of
//!   its own, as the floor's cells): no handle, its cell chosen from the stack's address.
//! - `nanotel/histogram_record_static`: a [`StaticHistogram`]'s record (default boundaries, the
//!   same values; one of 64 statics, each on pages of its own): no handle, its stripe chosen from
//!   the stack's address, its bucket from boundaries compiled into the code.
//! - `nanotel/counter_add_static/in_struct`, `nanotel/histogram_record_static/in_struct`: the same
//!   static instruments with attributes made at run time, each inside a structure of the program
//!   leaked for the rest of the process (`Box::leak`; each on pages of its own), as a program whose
//!   series are named by its configuration keeps them (README, `StaticCounter`): the reference to
//!   the structure warm, as a method has `self` in a register, the structure as cold as the rest.
//! - `…/from_library`: the bound counter add, the bound histogram record and the span, called
//!   from a library crate (`library_calls.rs`) instead of this benchmark's own: without
//!   link-time optimisation, a library reaches each thread-local through the thread pointer read
//!   from memory first, one more line (see `library_calls.rs`).
//! - `prometheus/counter_inc_by`, `prometheus/histogram_observe`: the `prometheus` crate (0.14)
//!   recording through handles bound to the same three labels (nanotel's default boundaries).
//! - Each row that records into a series or a cell takes the next of 64 in turn (`SERIES`: 64
//!   series bound to different attributes, 64 floor cells on 64 pages), so that a figure does not
//!   hang on where one allocation landed (one run put a cell on a page whose walk was cheap, and
//!   two rows of the same code differed by 2.5x). Since session 31 no two rows share a series or
//!   a cell ([`own_series`]): a row and its twin (the handle warm, or the call from a library)
//!   recorded into the same series in the same round, and the later row found part of what the
//!   earlier had fetched, eviction or not.
//! - Each row that records through a handle (the floor through one, the bound instruments, the
//!   `prometheus` crate's) owns its handles (moved into the row) and comes twice: as named,
//!   with the handle as cold as the rest (a program keeps its handles in its own structures, which
//!   the other work evicted too: the handle is a miss before the cell it names), and `…/handle_hot`,
//!   with the handle's own lines read (untimed) just before the timer (a caller that has its
//!   handle in a register or has just used the line it is in, as a static's address is in the
//!   instruction); everything behind the handle stays cold.
//! - `opentelemetry_sdk/*`: the official SDK (0.33) doing the same: counter add and histogram
//!   record with the same 3 attributes (it has no bound instruments), a span with 2 attributes
//!   (batch processor, exporter that discards), a log record with 2 attributes.
//!
//! Criterion does not fit here: it picks iteration counts from the timed part alone, each sample's
//! untimed eviction costs milliseconds, and its benchmarks run one after another. So this bench has its own loop and prints
//! its own table: the median and 99th percentile of each row net of `empty`, and the ratios the
//! goals name (issue 19): counter ≤ 1.2× `floor/fetch_add`, histogram ≤ 1.5×, span ≤ 1.3×
//! `floor/clock_pair`, each p99 no worse than the SDK's; and each bound instrument beside the
//! floor through a handle and the `prometheus` crate, in both placements of the handle.
//!
//! ```sh
//! cargo bench -p nanotel-benches --bench cold
//! ```

#[path = "support/order_span.rs"]
mod order_span;
#[path = "support/sdk_sinks.rs"]
mod sdk_sinks;
use sdk_sinks::{NoopLogs, NoopMetrics, NoopSpans};

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};

use nanotel::attributes::KeyValue;
use nanotel::logs::{Logger, LoggerProvider, Severity};
use nanotel::metrics::{
    BoundCounter, BoundHistogram, Counter, Histogram, MeterProvider, StaticCounter, StaticHistogram,
};
use nanotel::trace::{Sampler, Tracer, TracerProvider};
use order_span::order_span;

/// The bytes written over before each sample when the machine does not report its last-level
/// cache.
const DEFAULT_EVICT_BYTES: usize = 64 << 20;

/// The most bytes written over before each sample (a write of this size takes about 10 ms).
const MAX_EVICT_BYTES: usize = 256 << 20;
/// Passes over the buffer before each sample, unless `NANOTEL_COLD_EVICT_PASSES` says otherwise
/// (see [`Evictor`]).
const DEFAULT_EVICT_PASSES: usize = 2;

/// Bytes to write over before each sample: four times the last-level cache the machine reports
/// (Linux's sysfs), at most 256 MiB, or `NANOTEL_COLD_EVICT_MIB`; so that no line of the timed
/// operation survives in it. Twice was not enough: with 32 MiB written over a 32 MiB L3 the
/// floor's line was still found there in some runs (a cold `fetch_add` of 40 ns in one run, 250 ns
/// in another).
fn evict_bytes() -> usize {
    if CHECK_ONLY.load(Ordering::Relaxed) {
        return CHECK_EVICT_BYTES;
    }
    if let Some(mib) = env_number("NANOTEL_COLD_EVICT_MIB") {
        return mib << 20;
    }
    reported_cache_bytes().map_or(DEFAULT_EVICT_BYTES, |bytes| (4 * bytes).min(MAX_EVICT_BYTES))
}

/// The last-level cache the machine reports (Linux's sysfs), in bytes.
fn reported_cache_bytes() -> Option<usize> {
    let reported = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size").ok()?;
    Some(reported.trim().strip_suffix('K')?.parse::<usize>().ok()? << 10)
}

/// Passes over the eviction buffer before each sample (see [`Evictor`]).
fn evict_passes() -> usize {
    if CHECK_ONLY.load(Ordering::Relaxed) {
        return 1;
    }
    env_number("NANOTEL_COLD_EVICT_PASSES").unwrap_or(DEFAULT_EVICT_PASSES)
}

/// Whether the row `name` is measured: every row, or with `NANOTEL_COLD_ROWS` set, those whose
/// name contains one of its comma-separated parts (to compare a few rows over many samples).
fn chosen(name: &str) -> bool {
    std::env::var("NANOTEL_COLD_ROWS").map_or(true, |parts| parts.split(',').any(|part| name.contains(part)))
}

/// Samples kept per row.
fn samples() -> usize {
    if CHECK_ONLY.load(Ordering::Relaxed) {
        return CHECK_SAMPLES;
    }
    env_number("NANOTEL_COLD_SAMPLES").unwrap_or(SAMPLES)
}

/// A positive whole number from the environment variable `name`, if it holds one.
fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok().filter(|&n| n > 0)
}
/// Samples kept per row, unless `NANOTEL_COLD_SAMPLES` says otherwise.
const SAMPLES: usize = 1_000;

/// Set by `--test` (`cargo bench -p nanotel-benches -- --test`, which runs criterion's benches once
/// each): every row runs and is reported, from [`CHECK_SAMPLES`] samples after one write over
/// [`CHECK_EVICT_BYTES`], to check that the bench works (scripts/test.sh), not to measure.
static CHECK_ONLY: AtomicBool = AtomicBool::new(false);
const CHECK_SAMPLES: usize = 3;
const CHECK_EVICT_BYTES: usize = 1 << 20;
const WARM_UP: usize = 50;
/// Operations run warm, untimed, before a row's samples: more than a thread's ring holds
/// (16384 by default), so every page of its ring and slab the row will use has been touched once
/// and the samples see the steady state a running gateway is in, not the first pass.
const STEADY: usize = 40_000;
/// Spans or records between two (untimed) drains: the thread's buffers never fill.
const DRAIN_EVERY: usize = 256;

/// Series (and floor cells) per row, recorded into in turn, one per run: where an allocation
/// lands (next to what else, on which page) moves a cold figure as much as the code does, so each
/// row's figure is over many places rather than one.
const SERIES: usize = 64;

/// A floor's cell, alone on its page as a series' cells usually are.
#[repr(align(4096))]
struct PageCell(AtomicU64);

/// The static floor's cells.
static FLOORS: [PageCell; SERIES] = [const { PageCell(AtomicU64::new(0)) }; SERIES];

/// The same for `floor/fetch_add/neighbour_page_warm`, which writes cells no other row writes
/// (see [`own_series`]).
static NEIGHBOURED_FLOORS: [PageCell; SERIES] = [const { PageCell(AtomicU64::new(0)) }; SERIES];

/// A static counter, alone on its pages as the floor's cells are.
#[repr(align(4096))]
struct PageCounter(StaticCounter);

/// The static counters (one series: they share a name).
static STATIC_COUNTERS: [PageCounter; SERIES] =
    [const { PageCounter(StaticCounter::new("cold.static_counter")) }; SERIES];

/// A static histogram (default boundaries), alone on its pages as the floor's cells are.
#[repr(align(4096))]
struct PageHistogram(StaticHistogram);

/// The static histograms (one metric: they share a name).
static STATIC_HISTOGRAMS: [PageHistogram; SERIES] =
    [const { PageHistogram(StaticHistogram::new("cold.static_histogram")) }; SERIES];

/// Floor cells in memory the allocator maps on its own (512 KiB, above its threshold for a mapping
/// of their own), away from the binary and from the heap the handles' series lie in: a line whose
/// page walk finds none of its levels used lately. Cells at the even pages, their neighbours at
/// the odd ones.
struct MappedCells(Box<[PageCell]>);

impl MappedCells {
    fn new() -> Self {
        MappedCells((0..2 * SERIES).map(|_| PageCell(AtomicU64::new(0))).collect())
    }

    fn fetch_add(&self, run: usize) {
        black_box(self.0[2 * (run % SERIES)].0.fetch_add(black_box(1), Ordering::Relaxed));
    }

    /// The cell on the page after the one [`fetch_add`](Self::fetch_add) writes in run `run`.
    fn neighbour(&self, run: usize) -> &PageCell {
        &self.0[2 * (run % SERIES) + 1]
    }
}

/// The histograms' values: all 16 default buckets, in a scrambled order. Read before each sample,
/// untimed (see `measure`).
const SPREAD: [u64; 16] = [3, 7500, 20, 60, 900, 0, 8, 300, 11000, 90, 2000, 4000, 600, 9000, 40, 6000];

/// Writes one byte per cache line over a buffer larger than the last-level cache, `passes` times
/// (twice unless `NANOTEL_COLD_EVICT_PASSES` says otherwise).
///
/// Twice because one pass, even of 256 MiB, left in the last-level cache lines the rows had used
/// more than once (a cache that protects lines used again against a write that uses each of its
/// lines once keeps them), so a row could find lines the rows before it had left: whichever span
/// row came first in a round paid up to 0.3 µs more than the next (benches/README.md, `cold`,
/// session 30). The second pass uses each line of the buffer again, as a program's other work
/// uses its own data.
struct Evictor {
    buffer: Vec<u8>,
    passes: usize,
    round: u8,
}

impl Evictor {
    fn new() -> Evictor {
        Evictor { buffer: vec![0; evict_bytes()], passes: evict_passes(), round: 0 }
    }

    fn evict(&mut self) {
        for _ in 0..self.passes {
            self.round = self.round.wrapping_add(1);
            for line in self.buffer.chunks_mut(64) {
                line[0] = self.round;
            }
            black_box(&mut self.buffer);
        }
    }
}

/// One row: how to time its operation once, what to do untimed after each sample, and the
/// samples so far, in nanoseconds.
struct Row<'a> {
    name: String,
    timed: Box<dyn FnMut(usize) -> u64 + 'a>,
    between: Box<dyn FnMut(usize) + 'a>,
    samples: Vec<u64>,
}

impl<'a> Row<'a> {
    /// A row timing `op` (inlined between the two reads of the timer, so the row's own indirect
    /// call stays outside the timed region), which gets the number of the run (counting every
    /// run, warm and sampled); `between` runs untimed after each run of `op`. Every row's `op` is
    /// a closure marked `#[inline(always)]`: the compiler left a large one out of line, and its
    /// call made a stack frame inside the timed region, below the frames the eviction loop uses,
    /// so on cold lines, through which the row's `black_box` on its value went (300 to 600 ns for
    /// the histogram record, which the counter's inlined add never paid; benches/README.md,
    /// session 19). Inlined, the row's frame is made before the timer, as a caller's frame is made
    /// before it records; what `op` calls out of line is timed as before.
    fn new(name: impl Into<String>, mut op: impl FnMut(usize) + 'a, between: impl FnMut(usize) + 'a) -> Self {
        let timed = move |run| {
            let started = ticks();
            op(run);
            ticks() - started
        };
        Row::timing(name, timed, between)
    }

    /// A row like [`new`](Self::new) whose operation finds its handle warm: each run `op`
    /// records through the next of `handles`, and before the first read of the timer, untimed,
    /// the row reads every cache line of that handle (and no other), as a caller has its handle in
    /// a register or in a line it has just used; whatever the handle points to stays as cold as
    /// in every other row. Until session 32 the row read all of its 64 handles (56 to 192 lines
    /// back to back: benches/README.md, `cold`, session 32).
    fn handle_hot<H: 'a>(name: impl Into<String>, handles: [H; SERIES], op: impl Fn(&H, usize) + 'a) -> Self {
        let timed = move |run: usize| {
            let handle = &handles[run % SERIES];
            touch(handle);
            let started = ticks();
            op(handle, run);
            ticks() - started
        };
        Row::timing(name, timed, |_| {})
    }

    /// A row like [`new`](Self::new) that first reads, untimed, the cell `neighbour` gives for the
    /// run: one on the page beside the one `op` writes, whose page-table entry usually shares a
    /// line with that page's and whose walk shares every upper level. So the row's figure is the
    /// line's own miss, nearly without the page walk, and the difference from the plain row is the
    /// walk's.
    fn after_neighbour(
        name: impl Into<String>,
        neighbour: impl Fn(usize) -> &'a PageCell + 'a,
        mut op: impl FnMut(usize) + 'a,
    ) -> Self {
        let timed = move |run| {
            black_box(neighbour(run).0.load(Ordering::Relaxed));
            let started = ticks();
            op(run);
            ticks() - started
        };
        Row::timing(name, timed, |_| {})
    }

    /// A row of the timed closure `timed` (which returns the ticks of one run).
    fn timing(name: impl Into<String>, timed: impl FnMut(usize) -> u64 + 'a, between: impl FnMut(usize) + 'a) -> Self {
        Row {
            name: name.into(),
            timed: Box::new(timed),
            between: Box::new(between),
            samples: Vec::with_capacity(samples()),
        }
    }

    /// The samples' `p` quantile (they are sorted once all are taken).
    fn percentile(&self, p: f64) -> u64 {
        let index = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples[index]
    }
}

/// Reads one byte of every cache line `value` spans, so that they are in the L1 cache.
fn touch<T>(value: &T) {
    let first = std::ptr::from_ref(value).cast::<MaybeUninit<u8>>();
    let size = std::mem::size_of::<T>();
    for offset in (0..size).step_by(64).chain(size.checked_sub(1)) {
        // SAFETY: `offset` is below `value`'s size, so the byte is inside it, and `value` is
        // borrowed for the whole call; a `MaybeUninit<u8>` may be any byte, padding included, and
        // needs no alignment.
        black_box(unsafe { std::ptr::read_volatile(first.add(offset)) });
    }
}

/// A timestamp in the timer's ticks: the time-stamp counter, with every earlier instruction done
/// before it is read and none later started before it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ticks() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: `lfence` and `rdtsc` exist on every x86-64 CPU and touch no memory.
    unsafe {
        _mm_lfence();
        let ticks = _rdtsc();
        _mm_lfence();
        ticks
    }
}

/// Elsewhere, nanoseconds since the first call.
#[cfg(not(target_arch = "x86_64"))]
fn ticks() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Nanoseconds per tick of [`ticks`], measured against `Instant` over 100 ms.
fn ns_per_tick() -> f64 {
    let (wall, start) = (Instant::now(), ticks());
    std::thread::sleep(Duration::from_millis(100));
    wall.elapsed().as_nanos() as f64 / (ticks() - start) as f64
}

/// Runs every row warm (`STEADY` times), then takes the samples round by round: each round
/// evicts the caches before each row's one timed operation. Interleaved so that whatever the
/// machine does meanwhile (other tenants of its caches and memory, its clock) falls on every row
/// alike: taken one row after another, the floors alone moved by half between runs. The warm runs
/// take the same turns, so that rows sharing a thread's buffers (the two span rows) have as many
/// spans in flight warm as sampled: warmed one row after the other, they had half as many, the
/// slab's slots beyond were first written while sampled, and the page faults of their first
/// writes made the span's p99 (27 to 30 µs against 4 to 6 µs with one span row).
fn measure(rows: &mut [Row<'_>]) {
    let (mut evictor, ns_per_tick) = (Evictor::new(), ns_per_tick());
    for run in 0..STEADY {
        for row in rows.iter_mut() {
            (row.timed)(run);
            (row.between)(run);
        }
    }
    for i in 0..WARM_UP + samples() {
        for row in rows.iter_mut() {
            evictor.evict();
            // The histograms' values at hand, as a caller's are (its latency in a register): read
            // from a cold table, the value's miss came first and the record waited for it.
            touch(&SPREAD);
            let elapsed = (row.timed)(STEADY + i);
            (row.between)(STEADY + i);
            if i >= WARM_UP {
                row.samples.push((elapsed as f64 * ns_per_tick) as u64);
            }
        }
    }
    for row in rows.iter_mut() {
        row.samples.sort_unstable();
    }
}

/// What nanotel's rows record into, made before any row runs.
struct Nanotel {
    counter: Counter<u64>,
    histogram: Histogram<u64>,
    exponential: Histogram<f64>,
    tracers: TracerProvider,
    tracer: Tracer,
    refusing_tracer: Tracer,
    loggers: LoggerProvider,
    logger: Logger,
    log_attributes: [KeyValue; 2],
}

impl Nanotel {
    fn new() -> Self {
        let meter = MeterProvider::builder().without_env().build().meter("bench");
        let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
        let refusing = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOff).build();
        let loggers = LoggerProvider::builder().without_env().build();
        Nanotel {
            counter: meter.u64_counter("orders").build().expect("a valid name"),
            histogram: meter.u64_histogram("latency").build().expect("a valid name"),
            exponential: meter.f64_histogram("latency.fine").with_exponential_buckets().build().expect("a valid name"),
            tracer: tracers.tracer("bench"),
            tracers,
            refusing_tracer: refusing.tracer("bench"),
            logger: loggers.logger("bench"),
            loggers,
            log_attributes: [KeyValue::new("venue", "XNAS"), KeyValue::new("order.qty", 100)],
        }
    }

    fn rows(&self) -> Vec<Row<'_>> {
        let (mut qty, mut library_qty, mut refused_qty) = (0i64, 0i64, 0i64);
        let drain_spans = |i: usize| {
            if i.is_multiple_of(DRAIN_EVERY) {
                self.tracers.drain(usize::MAX, |_, span| drop(black_box(span)));
            }
        };
        let drain_logs = |i: usize| {
            if i.is_multiple_of(DRAIN_EVERY) {
                self.loggers.drain(usize::MAX, |_, record| drop(black_box(record)));
            }
        };
        let mut rows = Vec::new();
        rows.extend(placements(
            "nanotel/counter_add_bound",
            || own_series(|symbol| self.counter.bind(&attributes(symbol))),
            #[inline(always)]
            |handle: &BoundCounter<u64>, _| handle.add(black_box(1)),
        ));
        rows.push(Row::new(
            "nanotel/counter_add_static",
            #[inline(always)]
            |run| STATIC_COUNTERS[run % SERIES].0.add(black_box(1)),
            |_| {},
        ));
        rows.extend(placements(
            "nanotel/histogram_record_bound",
            || own_series(|symbol| self.histogram.bind(&attributes(symbol))),
            #[inline(always)]
            |handle: &BoundHistogram<u64>, run| handle.record(black_box(spread(run))),
        ));
        rows.push(Row::new(
            "nanotel/histogram_record_static",
            #[inline(always)]
            |run| STATIC_HISTOGRAMS[run % SERIES].0.record(black_box(spread(run))),
            |_| {},
        ));
        rows.push(Row::handle_hot(
            "nanotel/counter_add_static/in_struct",
            own_series(|symbol| {
                leaked(PageCounter(
                    StaticCounter::new("cold.leaked_counter").with_attributes(leaked_attributes(symbol)),
                ))
            }),
            #[inline(always)]
            |venue: &&'static PageCounter, _| venue.0.add(black_box(1)),
        ));
        rows.push(Row::handle_hot(
            "nanotel/histogram_record_static/in_struct",
            own_series(|symbol| {
                leaked(PageHistogram(
                    StaticHistogram::new("cold.leaked_histogram").with_attributes(leaked_attributes(symbol)),
                ))
            }),
            #[inline(always)]
            |venue: &&'static PageHistogram, run| venue.0.record(black_box(spread(run))),
        ));
        rows.extend(placements(
            "nanotel/counter_add_bound/from_library",
            || own_series(|symbol| self.counter.bind(&attributes(symbol))),
            #[inline(always)]
            |handle: &BoundCounter<u64>, _| nanotel_benches::counter_add(handle, black_box(1)),
        ));
        rows.extend(placements(
            "nanotel/histogram_record_bound/from_library",
            || own_series(|symbol| self.histogram.bind(&attributes(symbol))),
            #[inline(always)]
            |handle: &BoundHistogram<u64>, run| nanotel_benches::histogram_record(handle, black_box(spread(run))),
        ));
        rows.extend(placements(
            "nanotel/exponential_histogram_record_bound",
            || own_series(|symbol| self.exponential.bind(&attributes(symbol))),
            #[inline(always)]
            |handle: &BoundHistogram<f64>, run| handle.record(black_box(spread(run) as f64 + 1.0)),
        ));
        rows.extend([
            Row::new(
                "nanotel/span_start_end",
                #[inline(always)]
                move |_| {
                    qty += 1;
                    order_span(&self.tracer, qty);
                },
                drain_spans,
            ),
            Row::new(
                "nanotel/span_start_end/from_library",
                #[inline(always)]
                move |_| {
                    library_qty += 1;
                    nanotel_benches::order_span(&self.tracer, library_qty);
                },
                drain_spans,
            ),
            Row::new(
                "nanotel/span_refused",
                #[inline(always)]
                move |_| {
                    refused_qty += 1;
                    order_span(&self.refusing_tracer, refused_qty);
                },
                |_| {},
            ),
            Row::new(
                "nanotel/log_emit",
                #[inline(always)]
                |_| self.logger.emit(Severity::Info, "order accepted", black_box(&self.log_attributes)),
                drain_logs,
            ),
        ]);
        rows
    }
}

/// The name of a row's twin whose handle is warm ([`Row::handle_hot`]).
fn hot(name: &str) -> String {
    format!("{name}/handle_hot")
}

/// One operation in two rows: `name`, with its handle as cold as the rest (kept in memory the
/// eviction went over, as a program keeps its handles in its own structures), and
/// [`hot`]`(name)`, with its handle warm. `handles` makes each row's [`SERIES`] handles (moved
/// into the row), of series no other row records into ([`own_series`]); each run `op` records
/// through the next one (a closure marked `#[inline(always)]`, as every row's is).
fn placements<'a, H: 'a>(
    name: &str,
    handles: impl Fn() -> [H; SERIES],
    op: impl Fn(&H, usize) + Copy + 'a,
) -> [Row<'a>; 2] {
    let cold = handles();
    [
        Row::new(
            name,
            #[inline(always)]
            move |run| op(&cold[run % SERIES], run),
            |_| {},
        ),
        Row::handle_hot(hot(name), handles(), op),
    ]
}

/// A row's [`SERIES`] series, each made by `make` from its symbol, of symbols no other row was
/// given: each row records into series (and cells) of its own, so that no row finds lines or
/// translations another row left in its round (a row through a handle and its twin, recording into
/// the same series in the same round, read the twin up to 2x cheaper: benches/README.md, `cold`,
/// session 31).
fn own_series<T>(make: impl Fn(String) -> T) -> [T; SERIES] {
    static SETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let set = SETS.fetch_add(1, Ordering::Relaxed);
    std::array::from_fn(|k| make(format!("S{}", set * SERIES + k)))
}

/// The attributes of the series of `symbol`.
fn attributes(symbol: String) -> [KeyValue; 3] {
    [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("symbol", symbol)]
}

/// `value` for the rest of the process: a static instrument inside a structure of the program
/// that lives as long as it (the README's pattern for attributes made at run time).
fn leaked<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// [`attributes`] made at run time and kept for the rest of the process, for a static instrument.
fn leaked_attributes(symbol: String) -> &'static [KeyValue] {
    Vec::leak(attributes(symbol).to_vec())
}

/// The value a histogram row records in run `run`: every default bucket in turn, in a scrambled
/// order, and each series a different bucket from one pass over the series to the next.
fn spread(run: usize) -> u64 {
    SPREAD[(run + run / SERIES) % SPREAD.len()]
}

/// What the `prometheus` crate's rows record into: a counter and a histogram with the same three
/// labels (bound per series, as its `with_label_values` handles are kept), the histogram with
/// nanotel's default boundaries.
struct Prometheus {
    counters: prometheus::IntCounterVec,
    histograms: prometheus::HistogramVec,
}

impl Prometheus {
    fn new() -> Self {
        let labels = ["venue", "side", "symbol"];
        let counters = prometheus::IntCounterVec::new(prometheus::Opts::new("orders", "orders sent"), &labels);
        let boundaries =
            [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];
        let options = prometheus::HistogramOpts::new("latency", "order latency").buckets(boundaries.to_vec());
        let histograms = prometheus::HistogramVec::new(options, &labels);
        Prometheus { counters: counters.expect("valid options"), histograms: histograms.expect("valid options") }
    }

    fn rows(&self) -> Vec<Row<'_>> {
        let labels = |symbol: String| ["XNAS".to_owned(), "buy".to_owned(), symbol];
        let mut rows = Vec::new();
        rows.extend(placements(
            "prometheus/counter_inc_by",
            || own_series(|symbol| self.counters.with_label_values(&labels(symbol))),
            #[inline(always)]
            |handle: &prometheus::IntCounter, _| handle.inc_by(black_box(1)),
        ));
        rows.extend(placements(
            "prometheus/histogram_observe",
            || own_series(|symbol| self.histograms.with_label_values(&labels(symbol))),
            #[inline(always)]
            |handle: &prometheus::Histogram, run| handle.observe(black_box(spread(run) as f64)),
        ));
        rows
    }
}

/// What the official SDK's rows record into.
struct Sdk {
    meters: opentelemetry_sdk::metrics::SdkMeterProvider,
    counter: opentelemetry::metrics::Counter<u64>,
    histogram: opentelemetry::metrics::Histogram<u64>,
    attributes: [opentelemetry::KeyValue; 3],
    tracers: opentelemetry_sdk::trace::SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
    loggers: opentelemetry_sdk::logs::SdkLoggerProvider,
    logger: opentelemetry_sdk::logs::SdkLogger,
}

impl Sdk {
    fn new() -> Self {
        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(NoopMetrics)
            .with_interval(Duration::from_secs(3600))
            .build();
        let meters = opentelemetry_sdk::metrics::SdkMeterProvider::builder().with_reader(reader).build();
        let meter = opentelemetry::metrics::MeterProvider::meter(&meters, "bench");
        let tracers = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(NoopSpans)
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
            .build();
        let loggers = opentelemetry_sdk::logs::SdkLoggerProvider::builder().with_batch_exporter(NoopLogs).build();
        Sdk {
            counter: meter.u64_counter("orders").build(),
            histogram: meter.u64_histogram("latency").build(),
            meters,
            attributes: [
                opentelemetry::KeyValue::new("venue", "XNAS"),
                opentelemetry::KeyValue::new("side", "buy"),
                opentelemetry::KeyValue::new("symbol", "AAPL"),
            ],
            tracer: tracers.tracer("bench"),
            tracers,
            logger: loggers.logger("bench"),
            loggers,
        }
    }

    fn rows(&self) -> Vec<Row<'_>> {
        let mut qty = 0i64;
        vec![
            Row::new(
                "opentelemetry_sdk/counter_add",
                #[inline(always)]
                |_| self.counter.add(black_box(1), &self.attributes),
                |_| {},
            ),
            Row::new(
                "opentelemetry_sdk/histogram_record",
                #[inline(always)]
                |run| self.histogram.record(black_box(spread(run)), &self.attributes),
                |_| {},
            ),
            Row::new(
                "opentelemetry_sdk/span_start_end",
                #[inline(always)]
                move |_| {
                    qty += 1;
                    let mut span = self.tracer.start("order.send");
                    span.set_attribute(opentelemetry::KeyValue::new("venue", "XNAS"));
                    span.set_attribute(opentelemetry::KeyValue::new("order.qty", black_box(qty)));
                    span.end();
                },
                |_| {},
            ),
            Row::new(
                "opentelemetry_sdk/log_emit",
                #[inline(always)]
                |_| {
                    let mut record = self.logger.create_log_record();
                    record.set_severity_number(opentelemetry::logs::Severity::Info);
                    record.set_body("order accepted".into());
                    record.add_attribute("venue", "XNAS");
                    record.add_attribute("order.qty", 100);
                    self.logger.emit(record);
                },
                |_| {},
            ),
        ]
    }

    fn shutdown(&self) {
        let _ = (self.meters.shutdown(), self.tracers.shutdown(), self.loggers.shutdown());
    }
}

/// Prints every row net of `empty`'s median, then the goals' ratios.
fn report(rows: &[Row]) {
    let row = |name: &str| rows.iter().find(|row| row.name == name).expect("every row is measured");
    let empty = row("empty").percentile(0.5) as f64;
    let net = |name: &str, p: f64| (row(name).percentile(p) as f64 - empty).max(1.0);
    let (mib, passes) = (evict_bytes() >> 20, evict_passes());
    println!("\ncold caches: one operation per sample after {passes} writes over {mib} MiB; {} samples", samples());
    let measuring = !CHECK_ONLY.load(Ordering::Relaxed);
    if let Some(cache) = reported_cache_bytes().filter(|&cache| measuring && evict_bytes() < cache) {
        // A guest that reports its host's whole cache (300 MiB on session 38's VM) may have less.
        println!(
            "note: that is less than the {} MiB last-level cache the machine reports, and lines may survive it \
             (NANOTEL_COLD_EVICT_MIB sets the size)",
            cache >> 20
        );
    }
    println!("{:<52} {:>9} {:>9}   (net of empty: p50 {empty:.0} ns)", "row", "p50 ns", "p99 ns");
    for row in rows.iter().filter(|row| row.name != "empty") {
        println!("{:<52} {:>9.0} {:>9.0}", row.name, net(&row.name, 0.5), net(&row.name, 0.99));
    }
    if std::env::var_os("NANOTEL_COLD_ROWS").is_some() {
        println!("(rows chosen by NANOTEL_COLD_ROWS: no ratios)");
        return;
    }
    println!("\nratios (p50 to the floor and to the prometheus crate; p99 to the SDK's, goal <= 1):");
    // Each row's goal and its yardsticks: the `prometheus` crate's row and the SDK's.
    let counter = (1.2, "prometheus/counter_inc_by", "opentelemetry_sdk/counter_add");
    let histogram = (1.5, "prometheus/histogram_observe", "opentelemetry_sdk/histogram_record");
    let metrics = [
        ("nanotel/counter_add_bound", counter),
        ("nanotel/histogram_record_bound", histogram),
        ("nanotel/counter_add_bound/from_library", counter),
        ("nanotel/histogram_record_bound/from_library", histogram),
        ("nanotel/exponential_histogram_record_bound", (f64::NAN, histogram.1, histogram.2)),
    ];
    let fetch_add = net("floor/fetch_add", 0.5);
    for handle_hot in [false, true] {
        let placed = |name: &str| if handle_hot { hot(name) } else { name.to_owned() };
        let through_handle = net(&placed("floor/fetch_add_through_handle"), 0.5);
        let placement = if handle_hot { "warm (just used)" } else { "cold (kept in memory)" };
        println!(
            "  with the handle {placement}: through it, a fetch_add costs {:.2}x floor/fetch_add",
            through_handle / fetch_add
        );
        for (ours, (goal, prometheus, sdk)) in metrics {
            let (ours, prometheus) = (placed(ours), placed(prometheus));
            let p50 = net(&ours, 0.5);
            let goal = if goal.is_nan() { "no goal".to_owned() } else { format!("goal <= {goal}") };
            println!(
                "    {ours:<50} {:>5.2}x floor/fetch_add ({goal}), {:>5.2}x through the handle, {:>5.2}x {prometheus}; p99 {:>5.2}x",
                p50 / fetch_add,
                p50 / through_handle,
                p50 / net(&prometheus, 0.5),
                net(&ours, 0.99) / net(sdk, 0.99),
            );
        }
    }
    let statics = [
        ("nanotel/counter_add_static", counter),
        ("nanotel/counter_add_static/in_struct", counter),
        ("nanotel/histogram_record_static", histogram),
        ("nanotel/histogram_record_static/in_struct", histogram),
    ];
    for (ours, (goal, prometheus, sdk)) in statics {
        println!(
            "  {ours:<52} {:>5.2}x floor/fetch_add (goal <= {goal}), {:>5.2}x {prometheus} (handle cold), {:>5.2}x \
             (handle warm); p99 {:>5.2}x",
            net(ours, 0.5) / fetch_add,
            net(ours, 0.5) / net(prometheus, 0.5),
            net(ours, 0.5) / net(&hot(prometheus), 0.5),
            net(ours, 0.99) / net(sdk, 0.99),
        );
    }
    let others = [
        ("nanotel/span_start_end", 1.3, "opentelemetry_sdk/span_start_end"),
        ("nanotel/span_start_end/from_library", 1.3, "opentelemetry_sdk/span_start_end"),
        ("nanotel/log_emit", f64::NAN, "opentelemetry_sdk/log_emit"),
        ("nanotel/span_refused", f64::NAN, "opentelemetry_sdk/span_start_end"),
    ];
    for (ours, goal, sdk) in others {
        let to_floor = net(ours, 0.5) / net("floor/clock_pair", 0.5);
        let to_sdk = net(ours, 0.99) / net(sdk, 0.99);
        let goal = if goal.is_nan() { "no goal".to_owned() } else { format!("goal <= {goal}") };
        println!("  {ours:<52} {to_floor:>5.2}x floor/clock_pair ({goal}); p99 {to_sdk:>5.2}x");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and nothing runs. `--test`
    // runs every row briefly (see `CHECK_ONLY`).
    let args: Vec<String> = std::env::args().collect();
    CHECK_ONLY.store(args.iter().any(|arg| arg == "--test"), Ordering::Relaxed);
    if !args.iter().any(|arg| arg == "--bench" || arg == "--test") {
        return;
    }
    if std::env::var_os("NANOTEL_COLD_MAIN_THREAD").is_some() {
        run();
    } else {
        std::thread::spawn(run).join().expect("the rows ran");
    }
}

/// Cells of a row's own, each behind an `Arc` as the `prometheus` crate keeps its counters.
fn cells_behind_handles() -> [Arc<PageCell>; SERIES] {
    std::array::from_fn(|_| Arc::new(PageCell(AtomicU64::new(0))))
}

/// Builds the rows, measures them and reports.
fn run() {
    let (nanotel, prometheus, sdk) = (Nanotel::new(), Prometheus::new(), Sdk::new());
    let (mapped, neighboured_mapped) = (MappedCells::new(), MappedCells::new());
    let mut rows = vec![
        Row::new("empty", |_| {}, |_| {}),
        Row::new(
            "floor/fetch_add",
            #[inline(always)]
            |run| {
                black_box(FLOORS[run % SERIES].0.fetch_add(black_box(1), Ordering::Relaxed));
            },
            |_| {},
        ),
        Row::after_neighbour(
            "floor/fetch_add/neighbour_page_warm",
            |run| &NEIGHBOURED_FLOORS[(run % SERIES) ^ 1],
            #[inline(always)]
            |run| {
                black_box(NEIGHBOURED_FLOORS[run % SERIES].0.fetch_add(black_box(1), Ordering::Relaxed));
            },
        ),
        Row::new(
            "floor/fetch_add_mapped",
            #[inline(always)]
            |run| mapped.fetch_add(run),
            |_| {},
        ),
        Row::after_neighbour(
            "floor/fetch_add_mapped/neighbour_page_warm",
            |run| neighboured_mapped.neighbour(run),
            #[inline(always)]
            |run| neighboured_mapped.fetch_add(run),
        ),
        Row::new(
            "floor/clock_pair",
            #[inline(always)]
            |_| {
                black_box(Instant::now());
                black_box(Instant::now());
            },
            |_| {},
        ),
    ];
    rows.extend(placements(
        "floor/fetch_add_through_handle",
        cells_behind_handles,
        #[inline(always)]
        |handle, _| {
            black_box(handle.0.fetch_add(black_box(1), Ordering::Relaxed));
        },
    ));
    rows.extend(placements(
        "floor/fetch_add_through_handle/from_library",
        cells_behind_handles,
        #[inline(always)]
        |handle, _| nanotel_benches::fetch_add(black_box(&handle.0), black_box(1)),
    ));
    rows.extend(nanotel.rows());
    rows.extend(prometheus.rows());
    rows.extend(sdk.rows());
    rows.retain(|row| row.name == "empty" || chosen(&row.name));
    measure(&mut rows);
    report(&rows);
    sdk.shutdown();
}
