//! The circuit breaker: stop sending to a collector that keeps failing, and probe it now and then.
//!
//! ```text
//!            N consecutive failures              reset timeout elapsed
//!   Closed ─────────────────────────▶ Open ─────────────────────────▶ HalfOpen
//!     ▲                                ▲                                  │
//!     │         probe succeeds         │          probe fails             │
//!     └────────────────────────────────┼──────────────────────────────────┘
//!                                      └──────────────────────────────────┘
//! ```
//!
//! The first probe comes soon after opening, and the wait doubles after each failed probe, up to
//! a limit: a short outage is over as soon as the collector is back, a long one costs a probe now
//! and then. A good probe closes the breaker and the wait starts short again.
//!
//! A pure state machine: the caller passes the time in, so tests use a fake clock.

use std::time::{Duration, Instant};

use crate::config::at_most_a_day;

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Exports flow normally.
    Closed,
    /// Nothing is sent until the reset timeout has passed.
    Open,
    /// One probe export is allowed; its outcome closes or reopens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The name used in the accounting JSON: `closed`, `open` or `half_open`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// The gauge value the self-telemetry reports: 0 closed, 1 half-open, 2 open.
    #[must_use]
    pub fn as_gauge(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    /// How bad the state is: closed 0, half-open 1, open 2 (the gauge's order).
    pub(crate) fn severity(self) -> u8 {
        self.as_gauge()
    }

    pub(crate) fn from_gauge(value: u8) -> Self {
        match value {
            1 => BreakerState::HalfOpen,
            2 => BreakerState::Open,
            _ => BreakerState::Closed,
        }
    }
}

/// When the breaker opens and how long it stays open.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failed export attempts that open the breaker (default 5).
    pub failure_threshold: u32,
    /// How long it stays open before the first probe (default 1 s); doubled after each failed
    /// probe, up to `max_reset_timeout`.
    pub reset_timeout: Duration,
    /// The longest wait between probes (default 30 s).
    pub max_reset_timeout: Duration,
}

impl BreakerConfig {
    /// This configuration with no wait past a day (`crate::config::at_most_a_day`), as the
    /// exporter uses it.
    pub(super) fn at_most_a_day(self) -> Self {
        BreakerConfig {
            reset_timeout: at_most_a_day(self.reset_timeout),
            max_reset_timeout: at_most_a_day(self.max_reset_timeout),
            ..self
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            reset_timeout: Duration::from_secs(1),
            max_reset_timeout: Duration::from_secs(30),
        }
    }
}

/// The state machine. A failure is an attempt that got no answer, timed out, or was answered
/// with 429 or a 5xx: signs of an unhealthy collector. Any other answer, even a 400 for bad
/// data, shows the collector is up and counts as a success here.
///
/// (crate-internal: the lanes drive it; its walk through open, probe and reopen is the test
/// `a_failed_probe_reopens_for_twice_as_long_and_a_good_one_closes`).
#[derive(Debug)]
pub(super) struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    consecutive_failures: u32,
    /// When an open breaker lets its probe through.
    reopens_at: Option<Instant>,
    /// The wait before the next probe, should the breaker open (or reopen) now.
    reset_timeout: Duration,
    probe_in_flight: bool,
    transitions: u64,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub(super) fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            reset_timeout: config.reset_timeout,
            config,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            reopens_at: None,
            probe_in_flight: false,
            transitions: 0,
        }
    }

    /// The current state.
    pub(super) fn state(&self) -> BreakerState {
        self.state
    }

    /// State changes so far.
    pub(super) fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Failures since the last success.
    pub(super) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Whether an export may be sent now. In half-open state this hands out the single probe;
    /// the caller must report its outcome with [`on_success`](Self::on_success) or
    /// [`on_failure`](Self::on_failure).
    pub(super) fn try_acquire(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                if self.reopens_at().is_some_and(|at| now >= at) {
                    self.set(BreakerState::HalfOpen);
                    self.probe_in_flight = true;
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen if !self.probe_in_flight => {
                self.probe_in_flight = true;
                true
            }
            BreakerState::HalfOpen => false,
        }
    }

    /// When an open breaker lets a probe through.
    pub(super) fn reopens_at(&self) -> Option<Instant> {
        match self.state {
            BreakerState::Open => self.reopens_at,
            _ => None,
        }
    }

    /// Lets an open breaker's probe through at `now` rather than when its wait ends (at
    /// shutdown, one last chance to deliver without waiting).
    pub(super) fn probe_now(&mut self, now: Instant) {
        if self.state == BreakerState::Open {
            self.reopens_at = Some(now);
        }
    }

    /// The collector answered in a way that shows it is healthy.
    pub(super) fn on_success(&mut self) {
        self.consecutive_failures = 0;
        self.probe_in_flight = false;
        self.reset_timeout = self.config.reset_timeout;
        if self.state != BreakerState::Closed {
            self.set(BreakerState::Closed);
        }
    }

    /// The collector answered asking to be left alone until `until` (a `Retry-After`): neither
    /// a failure nor a success, so a closed breaker stays as it is. A probe answered so was
    /// still answered: the breaker is open again, its next probe at `until` (until session 39
    /// the probe stayed in flight for ever, and the lane never sent again).
    pub(super) fn on_paced(&mut self, until: Instant) {
        if self.state == BreakerState::HalfOpen {
            self.probe_in_flight = false;
            self.reopens_at = Some(until);
            self.set(BreakerState::Open);
        }
    }

    /// The collector failed an attempt.
    pub(super) fn on_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.probe_in_flight = false;
        let trips = match self.state {
            BreakerState::Closed => self.consecutive_failures >= self.config.failure_threshold.max(1),
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
        };
        if trips {
            if self.state == BreakerState::HalfOpen {
                // A failed probe: the collector is still down; probe half as often.
                self.reset_timeout =
                    (self.reset_timeout * 2).min(self.config.max_reset_timeout.max(self.config.reset_timeout));
            }
            self.reopens_at = Some(now + self.reset_timeout);
            self.set(BreakerState::Open);
        }
    }

    fn set(&mut self, state: BreakerState) {
        self.state = state;
        self.transitions += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            reset_timeout: Duration::from_secs(10),
            max_reset_timeout: Duration::from_secs(25),
        })
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let mut b = breaker();
        let t0 = Instant::now();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.state(), BreakerState::Closed, "a success resets the count");
        b.on_failure(t0);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.transitions(), 1);
        assert_eq!(b.reopens_at(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn open_rejects_until_the_reset_timeout_then_allows_one_probe() {
        let mut b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| b.on_failure(t0));
        assert!(!b.try_acquire(t0 + Duration::from_secs(9)));
        assert!(b.try_acquire(t0 + Duration::from_secs(10)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.try_acquire(t0 + Duration::from_secs(10)), "only one probe at a time");
    }

    #[test]
    fn probe_now_lets_an_open_breakers_probe_through() {
        let mut b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| b.on_failure(t0));
        b.probe_now(t0);
        assert!(b.try_acquire(t0));
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn a_good_probe_closes_and_a_bad_one_reopens() {
        let mut b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| b.on_failure(t0));
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.try_acquire(t1));
        b.on_failure(t1);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.reopens_at(), Some(t1 + Duration::from_secs(20)), "the wait doubles");
        let t2 = t1 + Duration::from_secs(20);
        assert!(b.try_acquire(t2));
        b.on_failure(t2);
        assert_eq!(b.reopens_at(), Some(t2 + Duration::from_secs(25)), "up to its limit");
        let t3 = t2 + Duration::from_secs(25);
        assert!(b.try_acquire(t3));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire(t3));
        // closed → open → (half-open → open) × 2 → half-open → closed
        assert_eq!(b.transitions(), 7);
        (0..3).for_each(|_| b.on_failure(t3));
        assert_eq!(b.reopens_at(), Some(t3 + Duration::from_secs(10)), "short again once closed");
    }

    #[test]
    fn a_probe_answered_with_retry_after_reopens_until_then_and_a_closed_breaker_ignores_it() {
        let mut b = breaker();
        let t0 = Instant::now();
        b.on_paced(t0 + Duration::from_secs(5));
        assert_eq!((b.state(), b.consecutive_failures()), (BreakerState::Closed, 0), "pacing is not failing");
        (0..3).for_each(|_| b.on_failure(t0));
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.try_acquire(t1));
        b.on_paced(t1 + Duration::from_secs(3));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.reopens_at(), Some(t1 + Duration::from_secs(3)), "the next probe when the collector asked");
        assert!(!b.try_acquire(t1 + Duration::from_secs(2)));
        assert!(b.try_acquire(t1 + Duration::from_secs(3)), "the probe is not held in flight for ever");
        b.on_failure(t1 + Duration::from_secs(3));
        assert_eq!(b.reopens_at(), Some(t1 + Duration::from_secs(23)), "the wait doubles as after any failed probe");
    }

    #[test]
    fn a_failed_probe_reopens_for_twice_as_long_and_a_good_one_closes() {
        let config =
            BreakerConfig { failure_threshold: 2, reset_timeout: Duration::from_secs(1), ..BreakerConfig::default() };
        let mut breaker = CircuitBreaker::new(config);
        let t0 = Instant::now();
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.try_acquire(t0));
        let t1 = t0 + Duration::from_secs(1);
        assert!(breaker.try_acquire(t1)); // the probe
        breaker.on_failure(t1);
        assert_eq!(breaker.reopens_at(), Some(t1 + Duration::from_secs(2))); // twice as long
        let t2 = t1 + Duration::from_secs(2);
        assert!(breaker.try_acquire(t2));
        breaker.on_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
