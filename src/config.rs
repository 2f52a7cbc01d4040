//! Reading `OTEL_*` environment variables by the SDK specification's rules.
//!
//! An empty value is the same as an unset one. A value that does not parse is reported (which
//! variable, what was wrong, what is used instead) and the default is used: configuration never
//! panics and never stops a trading process from starting.

use std::time::Duration;

/// What "no limit" means for a timeout of 0: long enough never to matter, short enough that adding
/// it to an `Instant` cannot overflow.
pub(crate) const NO_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A source of environment variables: the process environment, or a map in tests.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A replacement for the process environment, kept by a builder's `with_env_lookup`.
pub(crate) type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The process environment: what a builder reads when it was given no lookup.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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

    fn reject(&mut self, name: &str, value: &str, why: &str, instead: impl std::fmt::Display) {
        self.problems.push(format!("{name}={value:?} is ignored: {why}; using {instead}"));
    }

    /// A non-negative number of milliseconds.
    pub(crate) fn duration_ms(&mut self, name: &str, default: Duration) -> Duration {
        let Some(value) = self.text(name) else { return default };
        match value.parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => {
                self.reject(
                    name,
                    &value,
                    "not a whole, non-negative number of milliseconds",
                    format_args!("{} ms", default.as_millis()),
                );
                default
            }
        }
    }

    /// A timeout in milliseconds, where 0 means no limit.
    pub(crate) fn timeout_ms(&mut self, name: &str, default: Duration) -> Duration {
        match self.duration_ms(name, default) {
            Duration::ZERO => NO_TIMEOUT,
            timeout => timeout,
        }
    }

    /// An integer in `1..=i32::MAX`, the range the specification requires SDKs to accept.
    pub(crate) fn positive_integer(&mut self, name: &str, default: usize) -> usize {
        let Some(value) = self.text(name) else { return default };
        match value.parse::<u64>() {
            Ok(n) if n >= 1 && n <= i32::MAX as u64 => n as usize,
            _ => {
                self.reject(name, &value, "not a whole number between 1 and 2147483647", default);
                default
            }
        }
    }

    /// One of a fixed set of case-insensitive words.
    pub(crate) fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)], default: (&str, T)) -> T {
        let Some(value) = self.text(name) else { return default.1 };
        let wanted = value.to_ascii_lowercase();
        match choices.iter().find(|(word, _)| *word == wanted) {
            Some((_, choice)) => *choice,
            None => {
                let known: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                self.reject(name, &value, &format!("expected one of {}", known.join(", ")), default.0);
                default.1
            }
        }
    }

    /// Records a problem found by a caller-specific parser.
    pub(crate) fn report(&mut self, line: String) {
        self.problems.push(line);
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
}
