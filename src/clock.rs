//! Wall-clock timestamps (nanoseconds since the Unix epoch) at the cost of one counter read.
//!
//! Reading `CLOCK_REALTIME` costs tens of nanoseconds on a virtual machine, and a span reads the
//! clock twice. On `x86_64` with an invariant TSC that the kernel itself trusts, [`now_unix_nanos`]
//! reads the TSC instead and converts ticks to wall time with a fixed-point multiply from an anchor
//! `(ticks₀, unix_ns₀)`. Elsewhere the ticks are nanoseconds of the standard monotonic clock, with the
//! same anchor and conversion, so durations always come from a monotonic source.
//!
//! Spans and log records go one step further: they store the raw ticks and the exporter thread
//! converts them when it drains them (every 20 ms), so the hot path is the counter read alone.
//! Converting that much later, with the calibration then in force, moves a timestamp by at most
//! the rate change of one recalibration over those milliseconds (nanoseconds, at the rates clocks
//! drift), and the start and end of a span, converted together, keep their exact duration.
//!
//! The exporter thread recalibrates the anchor about once a second against `CLOCK_REALTIME`. Small
//! errors are slewed away (the new anchor continues the old line, only the rate changes), so the
//! clock never steps back on one thread; an error over a millisecond (the wall clock itself was
//! stepped) is stepped to at once.
//!
//! ```
//! let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
//! let now = nanotel::clock::now_unix_nanos();
//! assert!(now + 1_000_000 > before);
//! ```

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where a clock's ticks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The CPU's time-stamp counter (`x86_64` with an invariant TSC the kernel uses as its clock).
    Tsc,
    /// The standard monotonic clock (`Instant`), anchored to the wall clock.
    Monotonic,
}

/// Errors beyond this are stepped to rather than slewed: the wall clock itself was set.
const STEP_THRESHOLD_NS: i128 = 1_000_000;
/// How often the exporter thread recalibrates.
const RECALIBRATION_PERIOD: Duration = Duration::from_secs(1);
/// How long a slew takes to absorb the error measured at a recalibration: the period, so that the
/// corrected rate, which holds until the next recalibration, absorbs the error once and no more.
const SLEW_PERIOD_NS: u128 = RECALIBRATION_PERIOD.as_nanos();
/// A calibration sample whose bracketing reads are further apart than this was interrupted.
const MAX_SAMPLE_WIDTH_NS: u64 = 50_000;
/// Fixed-point fraction bits of the nanoseconds-per-tick multiplier.
const SHIFT: u32 = 32;

/// The nanoseconds since the Unix epoch, now.
#[expect(
    clippy::must_use_candidate,
    reason = "the first call calibrates the clock, which providers do once at build by ignoring the reading"
)]
#[inline(always)]
pub fn now_unix_nanos() -> u64 {
    global().now()
}

/// The process clock's raw reading: TSC ticks, or monotonic nanoseconds (see [`source`]). Only
/// [`ticks_to_unix_nanos`] gives it a meaning.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    global().ticks()
}

/// Reads [`ticks`] from a copy of the process clock's source kept where the reader already is
/// (a span's slab and data, a logger provider, a histogram's exemplar places), instead of from
/// the clock itself: a span then reads no line of the clock's own, whose line, page and lookup
/// cost a span about 500 ns when its caches have gone cold (benches/README.md, `cold`, sessions
/// 21 and 22).
#[derive(Clone, Copy)]
pub(crate) struct TickReader {
    source: ClockSource,
}

impl TickReader {
    /// A reader of the process clock (set up now if it was not).
    pub(crate) fn new() -> TickReader {
        TickReader { source: source() }
    }

    /// A reader that goes through the process clock at every reading, made without setting the
    /// clock up: for an owner that may never read it (a disabled provider).
    pub(crate) const fn through_the_clock() -> TickReader {
        // The monotonic arm reads `ticks()`, which is right whatever the source turns out to be.
        TickReader { source: ClockSource::Monotonic }
    }

    /// The same reading as [`ticks`]: the process clock's source never changes once chosen.
    #[inline(always)]
    pub(crate) fn ticks(self) -> u64 {
        match self.source {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `rdtsc` exists on every x86_64 CPU and has no preconditions.
            ClockSource::Tsc => unsafe { core::arch::x86_64::_rdtsc() },
            _ => ticks(),
        }
    }
}

/// The Unix time, in nanoseconds, of a reading of [`ticks`], by the current calibration.
#[inline]
pub(crate) fn ticks_to_unix_nanos(ticks: u64) -> u64 {
    global().convert_with_calibration(|| ticks)
}

/// Which source the process clock reads.
#[must_use]
pub fn source() -> ClockSource {
    global().source
}

/// Measures the clock against `CLOCK_REALTIME` now and corrects it. The exporter thread does this
/// about once a second; a program without a pipeline may call it itself.
pub fn recalibrate() {
    global().recalibrate();
}

/// Recalibrates when the last recalibration is older than the period (called by the exporter
/// thread on every loop; cheap otherwise).
pub(crate) fn maintain() {
    if let Some(clock) = CLOCK.get() {
        let due = clock.calibration.lock().is_ok_and(|c| c.last.elapsed() >= RECALIBRATION_PERIOD);
        if due {
            clock.recalibrate();
        }
    }
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn global() -> &'static Clock {
    CLOCK.get_or_init(|| Clock::new(if tsc_is_trustworthy() { ClockSource::Tsc } else { ClockSource::Monotonic }))
}

/// A tick-to-wall-time conversion published with a sequence lock: readers never wait, the single
/// writer (under `calibration`'s mutex) makes the sequence odd while it writes.
pub(crate) struct Clock {
    source: ClockSource,
    monotonic_base: Instant,
    seq: AtomicU64,
    anchor_ticks: AtomicU64,
    anchor_ns: AtomicU64,
    /// Nanoseconds per tick, shifted left by `SHIFT`.
    mult: AtomicU64,
    calibration: Mutex<Calibration>,
}

/// The writer's state: a long baseline for the rate, and when it last ran.
struct Calibration {
    base_ticks: u64,
    base_ns: u64,
    last: Instant,
}

impl Clock {
    pub(crate) fn new(source: ClockSource) -> Clock {
        let mut clock = Clock {
            source,
            monotonic_base: Instant::now(),
            seq: AtomicU64::new(0),
            anchor_ticks: AtomicU64::new(0),
            anchor_ns: AtomicU64::new(0),
            mult: AtomicU64::new(1 << SHIFT),
            calibration: Mutex::new(Calibration { base_ticks: 0, base_ns: 0, last: Instant::now() }),
        };
        let (ticks0, ns0, _) = clock.sample();
        let mut mult = 1u64 << SHIFT;
        if source == ClockSource::Tsc {
            // A first rate from a millisecond's spin; the recalibrations refine it over an
            // ever longer baseline.
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(1) {
                std::hint::spin_loop();
            }
            let (ticks1, ns1, _) = clock.sample();
            mult = rate(ticks0, ns0, ticks1, ns1).unwrap_or(mult);
        }
        *clock.anchor_ticks.get_mut() = ticks0;
        *clock.anchor_ns.get_mut() = ns0;
        *clock.mult.get_mut() = mult;
        if let Ok(calibration) = clock.calibration.get_mut() {
            *calibration = Calibration { base_ticks: ticks0, base_ns: ns0, last: Instant::now() };
        }
        clock
    }

    #[inline(always)]
    fn ticks(&self) -> u64 {
        match self.source {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `rdtsc` exists on every x86_64 CPU and has no preconditions.
            ClockSource::Tsc => unsafe { core::arch::x86_64::_rdtsc() },
            _ => self.monotonic_base.elapsed().as_nanos() as u64,
        }
    }

    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        // The ticks are read inside the sequence's window, so a reading is never converted with a
        // calibration published after it was taken (which could put it before an earlier one).
        self.convert_with_calibration(|| self.ticks())
    }

    /// Converts the ticks `read` returns, read under a consistent calibration.
    #[inline(always)]
    fn convert_with_calibration(&self, read: impl Fn() -> u64) -> u64 {
        loop {
            // Acquire pairs with the writer's final Release store: the fields read below are at
            // least as new as this sequence number.
            let seq = self.seq.load(Ordering::Acquire);
            let ticks = read();
            let anchor_ticks = self.anchor_ticks.load(Ordering::Relaxed);
            let anchor_ns = self.anchor_ns.load(Ordering::Relaxed);
            let mult = self.mult.load(Ordering::Relaxed);
            // Orders the field reads before the re-check of the sequence (the seqlock reader's
            // fence): if the writer touched them, the sequence has changed.
            fence(Ordering::Acquire);
            if seq & 1 == 0 && self.seq.load(Ordering::Relaxed) == seq {
                return convert(ticks, anchor_ticks, anchor_ns, mult);
            }
            std::hint::spin_loop();
        }
    }

    /// A (ticks, wall ns) pair read as close together as this machine allows: the narrowest of a
    /// few bracketed reads, ticks taken at the bracket's midpoint.
    fn sample(&self) -> (u64, u64, u64) {
        let mut best: Option<(u64, u64, u64)> = None;
        for _ in 0..8 {
            let before = self.ticks();
            let wall = wall_now();
            let after = self.ticks();
            let width = after.wrapping_sub(before);
            if best.is_none_or(|(w, _, _)| width < w) {
                best = Some((width, before + width / 2, wall));
            }
        }
        best.map_or((self.ticks(), wall_now(), 0), |(width, ticks, wall)| (ticks, wall, width))
    }

    pub(crate) fn recalibrate(&self) {
        self.recalibrate_with(|| {});
    }

    /// [`Clock::recalibrate`], running `before_publishing` between the sample and the new line's
    /// publication (where the exporter thread may be preempted: a test waits there).
    fn recalibrate_with(&self, before_publishing: impl FnOnce()) {
        let Ok(mut calibration) = self.calibration.lock() else { return };
        calibration.last = Instant::now();
        let (ticks, wall, width) = self.sample();
        let mult = self.mult.load(Ordering::Relaxed);
        if convert(width, 0, 0, mult) > MAX_SAMPLE_WIDTH_NS {
            return; // Preempted while sampling: try again next time.
        }
        let anchor_ticks = self.anchor_ticks.load(Ordering::Relaxed);
        let anchor_ns = self.anchor_ns.load(Ordering::Relaxed);
        let predicted = convert(ticks, anchor_ticks, anchor_ns, mult);
        let error = i128::from(wall) - i128::from(predicted);
        let base_rate = rate(calibration.base_ticks, calibration.base_ns, ticks, wall).unwrap_or(mult);
        if error.abs() > STEP_THRESHOLD_NS {
            // The wall clock was stepped: follow it, and measure the rate afresh from here.
            calibration.base_ticks = ticks;
            calibration.base_ns = wall;
            before_publishing();
            self.publish(ticks, wall, mult);
            return;
        }
        // Continue the current line at a rate that absorbs the error over the slew period, so
        // readers never see time go back: from where it is published, read again now, not from
        // the sample's instant (until session 40: a reader on the old line between the two, the
        // exporter thread preempted there, could then see the new, slower line behind it, by
        // the time between them times the rate change).
        let period_ticks = (SLEW_PERIOD_NS << SHIFT) / u128::from(base_rate.max(1));
        let correction = (error << SHIFT) / (period_ticks.max(1) as i128);
        let slewed = (i128::from(base_rate) + correction).max(1) as u64;
        before_publishing();
        let now = self.ticks();
        self.publish(now, convert(now, anchor_ticks, anchor_ns, mult), slewed);
    }

    fn publish(&self, ticks: u64, ns: u64, mult: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Release fence: a reader that sees any of the new fields also sees the odd sequence.
        fence(Ordering::Release);
        self.anchor_ticks.store(ticks, Ordering::Relaxed);
        self.anchor_ns.store(ns, Ordering::Relaxed);
        self.mult.store(mult, Ordering::Relaxed);
        // Release: readers that see the even sequence see the fields written above.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// Wall-clock ns at `ticks` on the line through the anchor with slope `mult`.
#[inline(always)]
fn convert(ticks: u64, anchor_ticks: u64, anchor_ns: u64, mult: u64) -> u64 {
    // Ticks read on another core may be a hair behind the anchor: convert both directions.
    if ticks >= anchor_ticks {
        let delta = ((u128::from(ticks - anchor_ticks) * u128::from(mult)) >> SHIFT) as u64;
        anchor_ns.saturating_add(delta)
    } else {
        let delta = ((u128::from(anchor_ticks - ticks) * u128::from(mult)) >> SHIFT) as u64;
        anchor_ns.saturating_sub(delta)
    }
}

/// Nanoseconds per tick (fixed point) between two samples, if they are far enough apart.
fn rate(ticks0: u64, ns0: u64, ticks1: u64, ns1: u64) -> Option<u64> {
    let ticks = ticks1.checked_sub(ticks0).filter(|t| *t > 0)?;
    let ns = ns1.checked_sub(ns0).filter(|n| *n > 0)?;
    u64::try_from((u128::from(ns) << SHIFT) / u128::from(ticks)).ok()
}

fn wall_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Whether the TSC ticks at a constant rate, keeps ticking in sleep states, and is the kernel's own
/// clock source (the kernel checked that the cores agree; a VM's `kvm-clock` means it did not).
fn tsc_is_trustworthy() -> bool {
    if !invariant_tsc() {
        return false;
    }
    match std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource") {
        Ok(current) => current.trim() == "tsc",
        // Not Linux, or no sysfs: the CPU's word is all there is.
        Err(_) => !cfg!(target_os = "linux"),
    }
}

#[cfg(target_arch = "x86_64")]
// `__cpuid` is a safe function in newer toolchains and unsafe in the oldest one supported.
#[allow(unused_unsafe)]
fn invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    // SAFETY: `cpuid` exists on every x86_64 CPU; leaf 0x8000_0000 reports the highest extended leaf.
    let max_extended = unsafe { __cpuid(0x8000_0000) }.eax;
    if max_extended < 0x8000_0007 {
        return false;
    }
    // SAFETY: as above; leaf 0x8000_0007 is supported (checked just now). EDX bit 8: invariant TSC.
    let power = unsafe { __cpuid(0x8000_0007) };
    power.edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_reader_reads_the_process_clock() {
        let reader = TickReader::new();
        for _ in 0..1000 {
            let before = ticks();
            let read = reader.ticks();
            let after = ticks();
            assert!(before <= read && read <= after, "{before} <= {read} <= {after}");
        }
    }

    #[test]
    fn conversion_follows_the_line_both_ways() {
        let half = 1u64 << (SHIFT - 1);
        assert_eq!(convert(1_000, 1_000, 5_000, half), 5_000);
        assert_eq!(convert(3_000, 1_000, 5_000, half), 6_000);
        assert_eq!(convert(0, 1_000, 5_000, half), 4_500);
        assert_eq!(rate(0, 0, 2_000, 1_000), Some(half));
        assert_eq!(rate(5, 0, 5, 1_000), None);
    }

    fn check_against_wall(clock: &Clock) {
        let mut last = 0;
        let started = Instant::now();
        let mut rounds = 0;
        while started.elapsed() < Duration::from_millis(300) {
            for _ in 0..1_000 {
                let before = wall_now();
                let now = clock.now();
                let after = wall_now();
                assert!(now >= last, "went back: {now} after {last}");
                last = now;
                // Generous: the bound is on the clock's error, not on how the test is scheduled.
                assert!(now + 50_000 >= before && now <= after + 50_000, "{before} <= {now} <= {after}");
            }
            rounds += 1;
            if rounds % 10 == 0 {
                clock.recalibrate();
            }
        }
    }

    #[test]
    fn monotonic_source_tracks_the_wall_clock() {
        check_against_wall(&Clock::new(ClockSource::Monotonic));
    }

    #[test]
    fn process_clock_tracks_the_wall_clock() {
        check_against_wall(global());
    }

    #[test]
    fn an_error_is_slewed_away_over_one_period() {
        let clock = Clock::new(ClockSource::Monotonic);
        // A long enough baseline that the measured rate is exact to a few parts per million.
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..20 {
            // Put the clock 200 µs behind the wall clock, at the exact rate.
            let (ticks, wall, _) = clock.sample();
            clock.publish(ticks, wall - 200_000, 1 << SHIFT);
            clock.recalibrate();
            let mult = clock.mult.load(Ordering::Relaxed);
            if mult == 1 << SHIFT {
                continue; // The sample was interrupted and the recalibration skipped.
            }
            // 200 µs over one period (1 s): 200 parts per million faster.
            let ppm = (mult as f64 / (1u64 << SHIFT) as f64 - 1.0) * 1e6;
            assert!((180.0..220.0).contains(&ppm), "slewing at {ppm} ppm");
            return;
        }
        panic!("no recalibration got through");
    }

    /// A slew published a while after its sample (the exporter thread preempted between them)
    /// continues the line readers used meanwhile: time does not go back.
    #[test]
    fn a_slew_published_late_never_steps_back() {
        let clock = Clock::new(ClockSource::Monotonic);
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..20 {
            // Put the clock 900 µs ahead of the wall clock: the slew slows it by 900 ppm.
            let (ticks, wall, _) = clock.sample();
            clock.publish(ticks, wall + 900_000, 1 << SHIFT);
            let mut before = 0;
            clock.recalibrate_with(|| {
                // Long enough that the old anchoring stepped back 45 µs, far more than the time
                // between the two readings.
                std::thread::sleep(Duration::from_millis(50));
                before = clock.now();
            });
            let after = clock.now();
            if clock.mult.load(Ordering::Relaxed) == 1 << SHIFT {
                continue; // The sample was interrupted and the recalibration skipped.
            }
            assert!(after >= before, "went back {} ns", before - after);
            return;
        }
        panic!("no recalibration got through");
    }

    #[test]
    fn a_stepped_error_is_followed() {
        let clock = Clock::new(ClockSource::Monotonic);
        // Pretend the wall clock moved 10 ms since the anchor.
        let ticks = clock.anchor_ticks.load(Ordering::Relaxed);
        let ns = clock.anchor_ns.load(Ordering::Relaxed);
        clock.publish(ticks, ns - 10_000_000, 1 << SHIFT);
        assert!(wall_now() - clock.now() > 5_000_000);
        // A recalibration interrupted by the scheduler is skipped; one of a few gets through.
        for _ in 0..20 {
            clock.recalibrate();
        }
        assert!(wall_now().abs_diff(clock.now()) < 1_000_000);
    }
}
