//! The `Retry-After` response header (RFC 9110 §10.2.3): how long a throttling collector asks us to
//! wait. Dates are read by the `httpdate` crate (hyper's), not by code of our own: this is no hot
//! path, and a well-kept parser is worth more here than our own.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use nanotel::internal::parse_retry_after;
//!
//! assert_eq!(parse_retry_after("120", SystemTime::now()), Some(Duration::from_secs(120)));
//! ```

use std::time::{Duration, SystemTime};

/// Reads a `Retry-After` value: the delay it asks for, measured from `now`.
///
/// The value is either delta-seconds (ASCII digits only; values beyond `u64` saturate) or an
/// HTTP-date in any of the three forms RFC 9110 requires recipients to accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`; `httpdate` reads a
/// two-digit year as 1970 to 2069, where RFC 9110 asks for the nearest year no more than 50 years
/// ahead: the two differ only for years 70 to 76 read before 2027, which mean a past date, and so
/// no wait, here) and asctime (`Sun Nov  6 08:49:37 1994`), from 1970 to 9999. A date at or before
/// `now` gives [`Duration::ZERO`]. Anything else, including impossible dates and times, gives
/// `None` (the retry policy's own backoff then applies). The result is not capped: that is the
/// retry policy's job.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use nanotel::internal::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_747); // Sun, 06 Nov 1994 08:49:07 GMT
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("Sun Nov  6 08:00:00 1994", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("-1", now), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    // Field values arrive with optional whitespace around them (RFC 9110 §5.5).
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds =
            value.bytes().fold(0u64, |total, digit| total.saturating_mul(10).saturating_add(u64::from(digit - b'0')));
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example instant.
    const RFC_EXAMPLE: u64 = 784_111_777;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn secs(value: &str, now: SystemTime) -> Option<u64> {
        parse_retry_after(value, now).map(|delay| delay.as_secs())
    }

    #[test]
    fn delta_seconds() {
        let now = at(1_700_000_000);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(secs("120", now), Some(120));
        assert_eq!(secs(" 7\t", now), Some(7));
        assert_eq!(secs("007", now), Some(7));
        assert_eq!(secs("18446744073709551615", now), Some(u64::MAX));
        assert_eq!(secs("18446744073709551616", now), Some(u64::MAX));
        assert_eq!(secs(&"9".repeat(500), now), Some(u64::MAX));
    }

    #[test]
    fn not_delta_seconds() {
        for bad in ["", "  ", "-1", "+1", "1.5", "1e3", "0x10", "1 2", "١٢", "12s", "soon"] {
            assert_eq!(parse_retry_after(bad, at(0)), None, "{bad:?}");
        }
    }

    #[test]
    fn the_three_date_forms_agree() {
        let now = at(RFC_EXAMPLE - 30);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " Sun, 06 Nov 1994 08:49:37 GMT\t",
        ] {
            assert_eq!(secs(form, now), Some(30), "{form}");
        }
        let later = at(RFC_EXAMPLE - 30) + Duration::from_millis(250);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later), Some(Duration::from_millis(29_750)));
    }

    #[test]
    fn past_and_far_future_dates() {
        let now = at(1_700_000_000);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(secs("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(253_402_300_799 - 1_700_000_000), "not capped");
        let before_the_epoch = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", before_the_epoch),
            Some(Duration::from_millis(1_500))
        );
    }

    #[test]
    fn impossible_and_malformed_dates() {
        for bad in [
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Fri, 29 Feb 2019 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "2024-01-01T00:00:00Z",
            "é, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, at(0)), None, "{bad}");
        }
    }
}
