//! Reading `OTEL_*` environment variables by the SDK specification's rules.
//!
//! An empty value is the same as an unset one. A value that does not parse is reported (which
//! variable, what was wrong, what is used instead) and the default is used: configuration never
//! panics and never stops a trading process from starting.
//!
//! Each problem is reported once. A reader keeps one line per distinct problem, since the shared
//! `OTEL_EXPORTER_OTLP_*` variables are read once per signal; a list keeps one line per distinct
//! reason an entry was skipped, naming every entry it applies to ([`SkippedEntries`]); and a value
//! of the process environment that is not UTF-8, which the `Fn(&str) -> Option<String>` lookups
//! cannot carry, is reported when the process environment is first read ([`process_env`]).

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Once;
use std::time::Duration;

/// What "no limit" means for a timeout of 0: long enough never to matter, short enough that adding
/// it to an `Instant` cannot overflow.
pub(crate) const NO_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration the exporter adds to an `Instant` (a deadline, a wake-up, a backoff): at most
/// [`NO_TIMEOUT`], so that `Duration::MAX` meant as "never" means a day instead of an overflow
/// (a panic on the exporter thread, before session 33).
pub(crate) fn at_most_a_day(duration: Duration) -> Duration {
    duration.min(NO_TIMEOUT)
}

/// A timeout as used: zero means no limit, in code as in the variables (`OTEL_*_TIMEOUT=0`), and
/// no limit is [`NO_TIMEOUT`].
pub(crate) fn usable_timeout(timeout: Duration) -> Duration {
    if timeout.is_zero() {
        NO_TIMEOUT
    } else {
        at_most_a_day(timeout)
    }
}

/// A source of environment variables: the process environment, or a map in tests.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A replacement for the process environment, kept by a builder's `with_env_lookup`.
pub(crate) type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The process environment: what a builder reads when it was given no lookup.
///
/// A value that is not UTF-8 reads as unset. The first call reports every such `OTEL_*` and
/// `NANOTEL_*` variable, once per process, since the lookup's signature cannot say why a value is
/// missing and every builder reads through here.
pub(crate) fn process_env(name: &str) -> Option<String> {
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        for line in not_utf8(std::env::vars_os()) {
            crate::diag::warning!("{line}");
        }
    });
    std::env::var(name).ok()
}

/// One line for each variable nanotel reads whose value is not UTF-8. `OTEL_LOG_LEVEL` is left to
/// the diagnostics, which read it even where a builder was given its own lookup.
fn not_utf8(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<String> {
    vars.filter(|(_, value)| value.to_str().is_none())
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| (name.starts_with("OTEL_") || name.starts_with("NANOTEL_")) && name != "OTEL_LOG_LEVEL")
        // The value is not shown: it may be a credential (a header), and it is not text anyway.
        .map(|name| format!("{name} is ignored: its value is not valid UTF-8; it is treated as unset"))
        .collect()
}

/// The entries of a comma-separated list that were skipped, kept as one line per distinct reason
/// so that a mistake repeated along the list is reported once, and at most [`MAX_REASONS`] lines
/// (a list of thousands of entries each wrong in its own way, a variable filled by mistake, is
/// otherwise as many lines on stderr, and until session 42 took time quadratic in them to sort).
#[derive(Default)]
pub(crate) struct SkippedEntries {
    reasons: Vec<(Vec<usize>, String)>,
    /// Where each reason is in `reasons`.
    index: HashMap<String, usize>,
    /// Entries skipped for reasons past the first [`MAX_REASONS`].
    unlisted: usize,
}

/// The most distinct reasons listed, one line each.
const MAX_REASONS: usize = 8;

impl SkippedEntries {
    /// Records that the entry at `position` (from 1) was skipped for `reason`.
    pub(crate) fn add(&mut self, position: usize, reason: String) {
        if let Some(&at) = self.index.get(&reason) {
            self.reasons[at].0.push(position);
        } else if self.reasons.len() < MAX_REASONS {
            self.index.insert(reason.clone(), self.reasons.len());
            self.reasons.push((vec![position], reason));
        } else {
            self.unlisted += 1;
        }
    }

    /// One line per reason: `describe(first position, reason)`, followed by the other entries
    /// skipped for the same reason; then how many were skipped for reasons not listed.
    pub(crate) fn lines(self, describe: impl Fn(usize, &str) -> String) -> Vec<String> {
        let line = |(positions, reason): (Vec<usize>, String)| {
            let first = describe(positions[0], &reason);
            let others: Vec<String> = positions[1..].iter().map(usize::to_string).collect();
            match others.len() {
                0 => first,
                1 => format!("{first} (as is entry {})", others[0]),
                _ => format!("{first} (as are entries {})", others.join(", ")),
            }
        };
        let mut lines: Vec<String> = self.reasons.into_iter().map(line).collect();
        if self.unlisted > 0 {
            lines.push(format!("{} more entries skipped for other reasons (not listed)", self.unlisted));
        }
        lines
    }
}

/// Reads typed values and collects a human-readable line for each one it had to ignore.
pub(crate) struct EnvReader<'a> {
    lookup: Lookup<'a>,
    pub(crate) problems: Vec<String>,
}

impl<'a> EnvReader<'a> {
    pub(crate) fn new(lookup: Lookup<'a>) -> Self {
        EnvReader { lookup, problems: Vec::new() }
    }

    /// The trimmed value, or `None` when unset or empty.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        let value = (self.lookup)(name)?;
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    /// The first of `names` that is set, with its name.
    pub(crate) fn first_text(&self, names: &[&str]) -> Option<(String, String)> {
        names.iter().find_map(|name| self.text(name).map(|value| (name.to_string(), value)))
    }

    /// The value of the first of `names` (most specific first) that is set and valid. An invalid
    /// one is reported and treated as unset, as the specification asks, so the next name set
    /// applies (a per-signal variable with a typo falls back to the general one, not past it to
    /// the built-in default); `None` when none is set and valid, the caller's `default` then.
    pub(crate) fn first_valid<T>(
        &mut self,
        names: &[&str],
        default: impl std::fmt::Display,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let set: Vec<(&str, String)> = names.iter().filter_map(|name| Some((*name, self.text(name)?))).collect();
        for (position, (name, value)) in set.iter().enumerate() {
            match parse(value) {
                Ok(parsed) => return Some(parsed),
                Err(why) => match set.get(position + 1) {
                    Some((next, _)) => self.reject(name, value, &why, format_args!("{next} instead")),
                    None => self.reject(name, value, &why, &default),
                },
            }
        }
        None
    }

    /// A span or log record limit (0 to 2³¹−1, as the specification allows) from the first of
    /// `names` that is set and valid ([`EnvReader::first_valid`]); `None` leaves the caller's
    /// default. One wording for both providers, which read the general `OTEL_ATTRIBUTE_*`
    /// variables alike: the line is then reported once.
    pub(crate) fn limit(&mut self, names: &[&str]) -> Option<usize> {
        self.first_valid(names, "the default", |value| match value.parse::<u32>() {
            Ok(n) if i32::try_from(n).is_ok() => Ok(n as usize),
            _ => Err("not a whole number between 0 and 2147483647".to_owned()),
        })
    }

    fn reject(&mut self, name: &str, value: &str, why: &str, instead: impl std::fmt::Display) {
        self.report(format!("{name}={value:?} is ignored: {why}; using {instead}"));
    }

    /// A non-negative number of milliseconds.
    pub(crate) fn duration_ms(&mut self, name: &str, default: Duration) -> Duration {
        self.first_duration_ms(&[name], default)
    }

    /// A non-negative number of milliseconds from the first of `names` set and valid
    /// ([`EnvReader::first_valid`]).
    pub(crate) fn first_duration_ms(&mut self, names: &[&str], default: Duration) -> Duration {
        let parse = |value: &str| {
            let ms = value.parse::<u64>().map_err(|_| "not a whole, non-negative number of milliseconds".to_owned());
            ms.map(Duration::from_millis)
        };
        self.first_valid(names, format_args!("{} ms", default.as_millis()), parse).unwrap_or(default)
    }

    /// A timeout in milliseconds, where 0 means no limit.
    pub(crate) fn timeout_ms(&mut self, name: &str, default: Duration) -> Duration {
        self.first_timeout_ms(&[name], default)
    }

    /// A timeout in milliseconds, where 0 means no limit, from the first of `names` set and valid.
    pub(crate) fn first_timeout_ms(&mut self, names: &[&str], default: Duration) -> Duration {
        usable_timeout(self.first_duration_ms(names, default))
    }

    /// An integer in `1..=i32::MAX`, the range the specification requires SDKs to accept.
    pub(crate) fn positive_integer(&mut self, name: &str, default: usize) -> usize {
        let Some(value) = self.text(name) else { return default };
        match value.parse::<u64>() {
            Ok(n) if n >= 1 && i32::try_from(n).is_ok() => n as usize,
            _ => {
                self.reject(name, &value, "not a whole number between 1 and 2147483647", default);
                default
            }
        }
    }

    /// One of a fixed set of case-insensitive words.
    pub(crate) fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)], default: (&str, T)) -> T {
        self.first_choice(&[name], choices, default)
    }

    /// One of a fixed set of case-insensitive words, from the first of `names` set and valid
    /// ([`EnvReader::first_valid`]).
    pub(crate) fn first_choice<T: Copy>(&mut self, names: &[&str], choices: &[(&str, T)], default: (&str, T)) -> T {
        let parse = |value: &str| {
            let wanted = value.to_ascii_lowercase();
            let found = choices.iter().find(|(word, _)| *word == wanted).map(|(_, choice)| *choice);
            found.ok_or_else(|| {
                let known: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                format!("expected one of {}", known.join(", "))
            })
        };
        self.first_valid(names, default.0, parse).unwrap_or(default.1)
    }

    /// A boolean from the first of `names` that is set, by the specification's rule: `true` in
    /// any case is true, anything else false, reported unless it reads `false`. An odd value is
    /// not passed over for the next name, as other invalid values are ([`EnvReader::first_valid`]):
    /// it is false, so a per-signal `_INSECURE=no` is not overruled by a general `true`.
    pub(crate) fn first_bool(&mut self, names: &[&str]) -> bool {
        let Some((name, value)) = self.first_text(names) else { return false };
        if value.eq_ignore_ascii_case("true") {
            return true;
        }
        if !value.eq_ignore_ascii_case("false") {
            self.reject(&name, &value, "expected true or false", "false");
        }
        false
    }

    /// Records a problem found by a caller-specific parser, unless it was recorded already: a
    /// variable shared by the three signals is read three times, and is one problem.
    pub(crate) fn report(&mut self, line: String) {
        if !self.problems.contains(&line) {
            self.problems.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn reader(vars: &[(&str, &str)]) -> (HashMap<String, String>, Vec<String>) {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        (map, Vec::new())
    }

    #[test]
    fn numbers_parse_and_bad_values_fall_back_with_a_reason() {
        let (map, _) = reader(&[("A", " 250 "), ("B", "-5"), ("C", "0"), ("D", "lots"), ("E", "")]);
        let lookup = |name: &str| map.get(name).cloned();
        let mut env = EnvReader::new(&lookup);
        assert_eq!(env.duration_ms("A", Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(env.duration_ms("B", Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(env.timeout_ms("C", Duration::from_secs(1)), NO_TIMEOUT);
        assert_eq!(env.positive_integer("C", 7), 7);
        assert_eq!(env.positive_integer("D", 7), 7);
        assert_eq!(env.positive_integer("E", 7), 7);
        assert_eq!(env.problems.len(), 3, "{:?}", env.problems);
        assert!(env.problems[0].starts_with("B=\"-5\" is ignored"), "{}", env.problems[0]);
        assert!(env.problems[0].ends_with("using 1000 ms"), "{}", env.problems[0]);
    }

    #[test]
    fn choices_are_case_insensitive() {
        let (map, _) = reader(&[("P", "HTTP/JSON"), ("Q", "grpc")]);
        let lookup = |name: &str| map.get(name).cloned();
        let mut env = EnvReader::new(&lookup);
        let choices = [("http/protobuf", 1), ("http/json", 2)];
        assert_eq!(env.choice("P", &choices, ("http/protobuf", 1)), 2);
        assert_eq!(env.choice("Q", &choices, ("http/protobuf", 1)), 1);
        assert_eq!(env.problems.len(), 1);
        assert!(env.problems[0].contains("expected one of http/protobuf, http/json"));
    }

    #[test]
    fn an_invalid_specific_value_falls_back_to_the_general_one() {
        let (map, _) =
            reader(&[("SPECIFIC", "grcp"), ("GENERAL", "grpc"), ("SPECIFIC_MS", "soon"), ("GENERAL_MS", "7")]);
        let lookup = |name: &str| map.get(name).cloned();
        let mut env = EnvReader::new(&lookup);
        let choices = [("http/protobuf", 1), ("grpc", 2)];
        assert_eq!(env.first_choice(&["SPECIFIC", "GENERAL"], &choices, ("http/protobuf", 1)), 2);
        assert_eq!(
            env.first_timeout_ms(&["SPECIFIC_MS", "GENERAL_MS"], Duration::from_secs(1)),
            Duration::from_millis(7)
        );
        assert_eq!(env.limit(&["SPECIFIC_MS", "GENERAL_MS"]), Some(7));
        assert_eq!(env.limit(&["SPECIFIC_MS", "UNSET"]), None);
        assert_eq!(
            env.problems,
            [
                "SPECIFIC=\"grcp\" is ignored: expected one of http/protobuf, grpc; using GENERAL instead",
                "SPECIFIC_MS=\"soon\" is ignored: not a whole, non-negative number of milliseconds; using GENERAL_MS instead",
                "SPECIFIC_MS=\"soon\" is ignored: not a whole number between 0 and 2147483647; using GENERAL_MS instead",
                "SPECIFIC_MS=\"soon\" is ignored: not a whole number between 0 and 2147483647; using the default",
            ]
        );
    }

    #[test]
    fn a_problem_met_twice_is_recorded_once() {
        let (map, _) = reader(&[("T", "-1")]);
        let lookup = |name: &str| map.get(name).cloned();
        let mut env = EnvReader::new(&lookup);
        for _ in 0..3 {
            env.duration_ms("T", Duration::from_secs(10));
            env.report("T: something else".into());
        }
        assert_eq!(env.problems.len(), 2, "{:?}", env.problems);
    }

    #[test]
    fn entries_skipped_for_one_reason_make_one_line() {
        let mut skipped = SkippedEntries::default();
        skipped.add(2, "no '='".into());
        skipped.add(3, "bad key".into());
        skipped.add(5, "no '='".into());
        skipped.add(7, "no '='".into());
        skipped.add(8, "bad key".into());
        assert_eq!(
            skipped.lines(|position, reason| format!("entry {position}: {reason}")),
            ["entry 2: no '=' (as are entries 5, 7)", "entry 3: bad key (as is entry 8)"]
        );
        let mut skipped = SkippedEntries::default();
        for position in 1..=20_000 {
            skipped.add(position, format!("reason {}", position % 100));
        }
        let lines = skipped.lines(|position, reason| format!("entry {position}: {reason}"));
        assert_eq!(lines.len(), MAX_REASONS + 1, "{lines:?}");
        assert!(lines[0].starts_with("entry 1: reason 1 (as are entries 101, 201,"), "{}", &lines[0][..60]);
        assert_eq!(lines[MAX_REASONS], "18400 more entries skipped for other reasons (not listed)");
    }

    #[cfg(unix)]
    #[test]
    fn values_that_are_not_utf8_are_named_without_the_value() {
        use std::os::unix::ffi::OsStringExt;
        let vars = [
            ("OTEL_SERVICE_NAME", b"desk\xff".to_vec()),
            ("OTEL_EXPORTER_OTLP_HEADERS", b"api-key=\xfe".to_vec()),
            ("NANOTEL_SELF_TELEMETRY", vec![0x80]),
            ("OTEL_LOG_LEVEL", vec![0xff]),
            ("PATH", vec![0xff]),
            ("OTEL_TRACES_EXPORTER", b"otlp".to_vec()),
        ];
        let vars = vars.into_iter().map(|(name, value)| (OsString::from(name), OsString::from_vec(value)));
        assert_eq!(
            not_utf8(vars),
            [
                "OTEL_SERVICE_NAME is ignored: its value is not valid UTF-8; it is treated as unset",
                "OTEL_EXPORTER_OTLP_HEADERS is ignored: its value is not valid UTF-8; it is treated as unset",
                "NANOTEL_SELF_TELEMETRY is ignored: its value is not valid UTF-8; it is treated as unset",
            ]
        );
    }
}
