//! When to try a failed export again.
//!
//! A pure function of the attempt count, the clock and the server's `Retry-After`: the exporter
//! thread feeds it events, and the tests drive it with a fake clock.

use std::time::{Duration, Instant};

use crate::config::at_most_a_day;

/// Exponential backoff with jitter, bounded in attempts and in total time.
///
/// ```
/// use std::time::{Duration, Instant};
/// use nanotel::export::RetryPolicy;
///
/// let policy = RetryPolicy::default();
/// let start = Instant::now();
/// // After the first failed attempt, wait between 50 and 100 ms (half to all of the first backoff).
/// let next = policy.next_attempt(1, start, start, 0.0).unwrap();
/// assert_eq!(next - start, Duration::from_millis(50));
/// // The fifth failure is the last one allowed.
/// assert!(policy.next_attempt(5, start, start, 0.5).is_none());
/// // A collector's Retry-After is honoured up to 30 s, and from the first backoff.
/// assert_eq!(policy.retry_after(Duration::from_secs(3600)), Duration::from_secs(30));
/// assert_eq!(policy.retry_after(Duration::ZERO), Duration::from_millis(100));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 5). 1 disables retries, those a collector asks
    /// for with `Retry-After` included.
    pub max_attempts: u32,
    /// The wait after the first failure (default 100 ms).
    pub initial_backoff: Duration,
    /// Growth of the wait per failure (default 1.5).
    pub multiplier: f64,
    /// The longest single wait (default 2 s).
    pub max_backoff: Duration,
    /// The longest time from the first attempt to the start of the last (default 30 s, so that
    /// an attempt that timed out after the default 10 s request timeout is still retried). The
    /// signal's export timeout bounds it further. Time spent waiting out a `Retry-After` does
    /// not count.
    pub max_elapsed: Duration,
    /// The longest `Retry-After` honoured (default 30 s); a server asking for more waits this
    /// long, one asking for less than `initial_backoff` waits that. A `Retry-After` holds the
    /// signal's lane back for that time, and the batch waits for it: it counts neither against
    /// the attempts nor against `max_elapsed`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            multiplier: 1.5,
            max_backoff: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The backoff before jitter after `failures` failed attempts (1 for the first).
    #[must_use]
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let grown = self.initial_backoff.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        Duration::from_secs_f64(grown.min(self.max_backoff.as_secs_f64()))
    }

    /// When to make the next attempt after `failures` failed ones, or `None` to give up.
    ///
    /// `jitter` is a uniform random number in `[0, 1)`: the wait is spread over the upper half of
    /// the backoff, so clients that failed together do not retry together, yet none retries
    /// much sooner than the schedule. The attempt must start within `max_elapsed` of the first
    /// one.
    #[must_use]
    pub fn next_attempt(&self, failures: u32, first_attempt: Instant, now: Instant, jitter: f64) -> Option<Instant> {
        if failures >= self.max_attempts {
            return None;
        }
        let at = now + self.backoff(failures).mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        (at <= first_attempt + self.max_elapsed).then_some(at)
    }

    /// How long to hold back for a collector's `Retry-After` of `asked`: at most
    /// `max_retry_after`, at least `initial_backoff` (a collector answering every attempt with
    /// `Retry-After: 0`, or a date past, was retried at once, back to back, for ever).
    #[must_use]
    pub fn retry_after(&self, asked: Duration) -> Duration {
        asked.min(self.max_retry_after).max(self.initial_backoff)
    }

    /// This policy with no duration past a day (`crate::config::at_most_a_day`), as the
    /// exporter uses it: `Duration::MAX` meant as "never give up" would overflow a deadline.
    pub(super) fn at_most_a_day(self) -> Self {
        RetryPolicy {
            initial_backoff: at_most_a_day(self.initial_backoff),
            max_backoff: at_most_a_day(self.max_backoff),
            max_elapsed: at_most_a_day(self.max_elapsed),
            max_retry_after: at_most_a_day(self.max_retry_after),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        let policy = RetryPolicy::default();
        let waits: Vec<u128> = (1..=12).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(&waits[..4], &[100, 150, 225, 337]);
        assert_eq!(*waits.last().unwrap(), 2000);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn jitter_spreads_the_wait_over_the_upper_half() {
        let policy = RetryPolicy::default();
        let t0 = Instant::now();
        let low = policy.next_attempt(2, t0, t0, 0.0).unwrap() - t0;
        let high = policy.next_attempt(2, t0, t0, 0.999_999).unwrap() - t0;
        assert_eq!(low, Duration::from_millis(75));
        assert!(high > Duration::from_millis(149) && high <= Duration::from_millis(150));
    }

    /// The defaults keep the promise that timeouts are retried: an attempt that timed out after
    /// the default request timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s) still has room for
    /// another, whatever the jitter.
    #[test]
    fn a_timed_out_attempt_is_retried_with_the_defaults() {
        let policy = RetryPolicy::default();
        let t0 = Instant::now();
        let timed_out = t0 + Duration::from_secs(10);
        assert!(policy.next_attempt(1, t0, timed_out, 0.999).is_some());
        assert!(
            policy.next_attempt(2, t0, t0 + Duration::from_secs(20), 0.999).is_some(),
            "and again after a second timeout"
        );
    }

    #[test]
    fn retry_after_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.retry_after(Duration::from_secs(3)), Duration::from_secs(3));
        assert_eq!(policy.retry_after(Duration::from_secs(3600)), Duration::from_secs(30));
    }

    #[test]
    fn gives_up_on_attempts_or_elapsed_time() {
        let policy = RetryPolicy::default();
        let t0 = Instant::now();
        assert!(policy.next_attempt(4, t0, t0, 0.0).is_some());
        assert!(policy.next_attempt(5, t0, t0, 0.0).is_none());
        // 29.95 s in, the shortest wait of the first backoff still fits, the longest does not.
        let late = t0 + Duration::from_millis(29_950);
        assert!(policy.next_attempt(1, t0, late, 0.0).is_some());
        assert!(policy.next_attempt(1, t0, late, 0.999).is_none());
        let single = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
        assert!(single.next_attempt(1, t0, t0, 0.0).is_none());
    }
}
