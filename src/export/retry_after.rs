//! The `Retry-After` response header (RFC 9110 §10.2.3): how long a throttling collector asks us to
//! wait.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use nanotel::export::retry_after::parse_retry_after;
//!
//! assert_eq!(parse_retry_after("120", SystemTime::now()), Some(Duration::from_secs(120)));
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;

/// Reads a `Retry-After` value: the delay it asks for, measured from `now`.
///
/// The value is either delta-seconds (ASCII digits only; values beyond `u64` saturate) or an
/// HTTP-date in any of the three forms RFC 9110 requires recipients to accept:
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`, whose
/// two-digit year is taken as the nearest one no more than 50 years ahead of `now`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). A date at or before `now` gives [`Duration::ZERO`]. Anything else,
/// including impossible dates and times, gives `None`. The result is not capped: that is the
/// retry policy's job.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use nanotel::export::retry_after::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_747); // Sun, 06 Nov 1994 08:49:07 GMT
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("Sun Nov  6 08:00:00 1994", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("-1", now), None);
/// ```
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
    let now = Instant::from(now);
    let date = parse_http_date(value, now.year())?;
    Some(date.since(now))
}

/// A calendar instant, as whole seconds since the Unix epoch plus nanoseconds; either may be
/// before 1970.
#[derive(Clone, Copy)]
struct Instant {
    seconds: i64,
    nanos: u32,
}

impl From<SystemTime> for Instant {
    fn from(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => {
                Instant { seconds: i64::try_from(after.as_secs()).unwrap_or(i64::MAX), nanos: after.subsec_nanos() }
            }
            Err(before) => {
                let before = before.duration();
                let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                match before.subsec_nanos() {
                    0 => Instant { seconds: -whole, nanos: 0 },
                    nanos => Instant { seconds: -whole - 1, nanos: 1_000_000_000 - nanos },
                }
            }
        }
    }
}

impl Instant {
    fn year(self) -> i64 {
        civil_from_days(self.seconds.div_euclid(SECONDS_PER_DAY)).0
    }

    /// How far `self` (a whole second) lies after `earlier`; zero when it does not.
    fn since(self, earlier: Instant) -> Duration {
        let nanos =
            (i128::from(self.seconds) - i128::from(earlier.seconds)) * 1_000_000_000 - i128::from(earlier.nanos);
        if nanos <= 0 {
            return Duration::ZERO;
        }
        let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        // The remainder is below one billion, so it fits.
        Duration::new(seconds, (nanos % 1_000_000_000) as u32)
    }
}

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Parses one of the three HTTP-date forms; `current_year` resolves RFC 850's two-digit years.
///
/// Day names are checked for spelling but not against the date: a sender's wrong weekday does not
/// make the instant it names ambiguous. Names are case-sensitive, as RFC 9110 specifies.
fn parse_http_date(text: &str, current_year: i64) -> Option<Instant> {
    let mut cursor = Cursor(text.as_bytes());
    let date = if let Some(day_name) = text.get(..3).filter(|_| text.as_bytes().get(3) == Some(&b',')) {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        SHORT_DAYS.contains(&day_name).then_some(())?;
        cursor.skip(4);
        cursor.literal(b" ")?;
        let day = cursor.digits(2)?;
        cursor.literal(b" ")?;
        let month = cursor.month()?;
        cursor.literal(b" ")?;
        let year = cursor.digits(4)?;
        cursor.literal(b" ")?;
        let time = cursor.time_of_day()?;
        cursor.literal(b" GMT")?;
        (year, month, day, time)
    } else if let Some(comma) = text.find(',') {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        LONG_DAYS.contains(&&text[..comma]).then_some(())?;
        cursor.skip(comma + 1);
        cursor.literal(b" ")?;
        let day = cursor.digits(2)?;
        cursor.literal(b"-")?;
        let month = cursor.month()?;
        cursor.literal(b"-")?;
        let year = nearest_year(cursor.digits(2)?, current_year);
        cursor.literal(b" ")?;
        let time = cursor.time_of_day()?;
        cursor.literal(b" GMT")?;
        (year, month, day, time)
    } else {
        // asctime: "Sun Nov  6 08:49:37 1994", the day padded with a space or a zero.
        SHORT_DAYS.contains(&text.get(..3)?).then_some(())?;
        cursor.skip(3);
        cursor.literal(b" ")?;
        let month = cursor.month()?;
        cursor.literal(b" ")?;
        let day = match cursor.literal(b" ") {
            Some(()) => cursor.digits(1)?,
            None => cursor.digits(2)?,
        };
        cursor.literal(b" ")?;
        let time = cursor.time_of_day()?;
        cursor.literal(b" ")?;
        let year = cursor.digits(4)?;
        (year, month, day, time)
    };
    if !cursor.0.is_empty() {
        return None;
    }
    let (year, month, day, (hour, minute, second)) = date;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Some(Instant { seconds, nanos: 0 })
}

/// RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent past year
/// with those digits.
fn nearest_year(two_digits: i64, current_year: i64) -> i64 {
    let candidate = current_year - current_year.rem_euclid(100) + two_digits;
    if candidate > current_year + 50 {
        candidate - 100
    } else if candidate <= current_year - 50 {
        candidate + 100
    } else {
        candidate
    }
}

/// A forward-only reader over the date's bytes; each method consumes its item or returns `None`.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn skip(&mut self, count: usize) {
        self.0 = self.0.get(count..).unwrap_or_default();
    }

    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(expected)?;
        Some(())
    }

    /// Exactly `count` ASCII digits.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let digits = self.0.get(..count)?;
        let mut value = 0;
        for &digit in digits {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(digit - b'0');
        }
        self.0 = &self.0[count..];
        Some(value)
    }

    /// A three-letter month name, as 1..=12.
    fn month(&mut self) -> Option<i64> {
        let name = self.0.get(..3)?;
        let index = MONTHS.iter().position(|month| month.as_bytes() == name)?;
        self.0 = &self.0[3..];
        Some(index as i64 + 1)
    }

    /// `HH:MM:SS` within 00:00:00..=23:59:60 (60 being a leap second).
    fn time_of_day(&mut self) -> Option<(i64, i64, i64)> {
        let hour = self.digits(2)?;
        self.literal(b":")?;
        let minute = self.digits(2)?;
        self.literal(b":")?;
        let second = self.digits(2)?;
        (hour < 24 && minute < 60 && second <= 60).then_some((hour, minute, second))
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from March so that the
/// leap day falls at the end of a year, which makes every month's offset a fixed formula.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days separate 0000-03-01, the start of an era, from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`], as (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn delta_seconds_saturate() {
        assert_eq!(secs("18446744073709551616", at(0)), Some(u64::MAX));
        assert_eq!(secs(&"9".repeat(500), at(0)), Some(u64::MAX));
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
            "Sun Nov 06 08:49:37 1994",
            " Sun, 06 Nov 1994 08:49:37 GMT\t",
        ] {
            assert_eq!(secs(form, now), Some(30), "{form}");
        }
    }

    #[test]
    fn sub_second_now_is_accounted_for() {
        let now = at(RFC_EXAMPLE - 30) + Duration::from_millis(250);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_millis(29_750)));
    }

    #[test]
    fn past_and_present_dates_mean_now() {
        let now = at(RFC_EXAMPLE);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sat, 01 Jan 0000 00:00:00 GMT", now), Some(Duration::ZERO));
    }

    #[test]
    fn far_future_dates_are_not_capped() {
        let now = at(1_700_000_000);
        let delay = secs("Fri, 31 Dec 9999 23:59:59 GMT", now);
        assert_eq!(delay, Some(253_402_300_799 - 1_700_000_000));
    }

    #[test]
    fn leap_day_and_leap_second() {
        let now = at(951_782_400); // Tue, 29 Feb 2000 00:00:00 GMT
        assert_eq!(secs("Tue, 29 Feb 2000 00:00:10 GMT", now), Some(10));
        assert_eq!(secs("Tue, 29 Feb 2000 00:00:60 GMT", now), Some(60));
        assert_eq!(secs("Wed, 01 Mar 2000 00:00:00 GMT", now), Some(86_400));
        assert_eq!(secs("Thu, 29 Feb 2024 12:00:00 GMT", at(1_709_164_800)), Some(43_200));
        assert_eq!(parse_retry_after("Fri, 29 Feb 2019 00:00:00 GMT", now), None);
        assert_eq!(parse_retry_after("Mon, 29 Feb 1900 00:00:00 GMT", now), None);
    }

    #[test]
    fn impossible_dates_and_times() {
        for bad in [
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 32 Jan 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 November 1994 08:49:37 GMT",
            "Sunday, 31-Apr-94 08:49:37 GMT",
            "Sun Feb 30 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(bad, at(0)), None, "{bad}");
        }
    }

    #[test]
    fn malformed_dates() {
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 GMT\r",
            "Sun, 06 Nov 1994 08:49:37 GMTx",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun,06 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sund, 06 Nov 1994 08:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Funday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov   6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "2024-01-01T00:00:00Z",
            "Sun, -6 Nov 1994 08:49:37 GMT",
            ",",
            "Sunday,",
            "Sun,",
            "é, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, at(0)), None, "{bad}");
        }
    }

    #[test]
    fn rfc850_years_follow_the_fifty_year_rule() {
        // In 2026, "94" is 1994 and "30" is 2030; "76" (50 years ahead) is still the future and
        // "77" (51 years ahead) is 1977.
        let now = at(1_767_225_600); // Thu, 01 Jan 2026 00:00:00 GMT
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(secs("Tuesday, 01-Jan-30 00:00:00 GMT", now), Some(4 * 365 * 86_400 + 86_400));
        assert!(secs("Wednesday, 01-Jan-76 00:00:00 GMT", now).is_some_and(|s| s > 0));
        assert_eq!(parse_retry_after("Saturday, 01-Jan-77 00:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(nearest_year(94, 2026), 1994);
        assert_eq!(nearest_year(76, 2026), 2076);
        assert_eq!(nearest_year(77, 2026), 1977);
        assert_eq!(nearest_year(1, 2099), 2101);
        assert_eq!(nearest_year(49, 2099), 2149);
        assert_eq!(nearest_year(50, 2099), 2050);
    }

    #[test]
    fn now_before_the_epoch() {
        let now = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::from_millis(1_500)));
        assert_eq!(Instant::from(now).year(), 1969);
    }

    #[test]
    fn civil_conversions_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month));
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
