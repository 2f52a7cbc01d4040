//! Log record limits: how many attributes a record keeps and how long their values may be.

use crate::attributes::{ValueLimits, DEFAULT_VALUE_DEPTH, MAX_NESTING};
use crate::config::EnvReader;

/// The limits applied to every log record of a provider.
///
/// The count cuts new attribute keys (overwriting an existing key is always allowed) and what is
/// cut is counted in the record's `dropped_attributes_count`. The value length limit truncates
/// attribute strings (in characters) and byte arrays (in bytes), element by element in arrays and
/// maps, and the depth limit empties arrays and maps nested too deep; the body, not an attribute,
/// is sent whole (but for arrays and maps past [`MAX_NESTING`], which nanotel never reads). Both are applied on the exporter thread, so emitting never copies a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// Attributes per record (`OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attribute_count: usize,
    /// Length of attribute values (`OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`, default none).
    pub attribute_value_length: Option<usize>,
    /// How deep arrays and maps may nest in an attribute value, the value itself at depth 1: one
    /// nested deeper is sent as an empty value (as [`SpanLimits::attribute_value_depth`](crate::trace::SpanLimits::attribute_value_depth);
    /// default 64, set in code only; 0 acts as 1, more than
    /// [`MAX_NESTING`](crate::attributes::MAX_NESTING) as that).
    pub attribute_value_depth: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits { attribute_count: 128, attribute_value_length: None, attribute_value_depth: DEFAULT_VALUE_DEPTH }
    }
}

impl LogLimits {
    /// The limits the `OTEL_*` variables set: a log-specific variable wins over the general
    /// `OTEL_ATTRIBUTE_*` one.
    pub(crate) fn from_env(env: &mut EnvReader<'_>) -> LogLimits {
        LogLimits {
            attribute_count: env
                .limit(&["OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"])
                .unwrap_or(LogLimits::default().attribute_count),
            attribute_value_length: env
                .limit(&["OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"]),
            attribute_value_depth: DEFAULT_VALUE_DEPTH,
        }
    }

    /// How the exporter cuts attribute values.
    pub(crate) fn value_limits(&self) -> ValueLimits {
        ValueLimits { length: self.attribute_value_length, depth: self.attribute_value_depth.clamp(1, MAX_NESTING) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vars: &[(&'static str, &'static str)]) -> (LogLimits, Vec<String>) {
        let vars = vars.to_vec();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let mut env = EnvReader::new(&lookup);
        (LogLimits::from_env(&mut env), env.problems)
    }

    #[test]
    fn log_variables_win_over_general_ones_and_bad_ones_fall_back() {
        assert_eq!(limits(&[]), (LogLimits::default(), vec![]));
        let (l, problems) = limits(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "3"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16"),
        ]);
        assert_eq!((l.attribute_count, l.attribute_value_length), (3, Some(16)));
        assert!(problems.is_empty());
        let (l, problems) =
            limits(&[("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "-1"), ("OTEL_ATTRIBUTE_COUNT_LIMIT", "5")]);
        // Since session 40 an invalid value is treated as unset, as the specification asks: the
        // general variable applies (it used to be skipped for the built-in default).
        assert_eq!(l.attribute_count, 5, "the invalid log variable is treated as unset");
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn the_depth_limit_acts_as_one_from_1_to_the_nesting_ceiling() {
        let depth =
            |attribute_value_depth| LogLimits { attribute_value_depth, ..LogLimits::default() }.value_limits().depth;
        assert_eq!(
            [depth(0), depth(1), depth(64), depth(MAX_NESTING), depth(usize::MAX)],
            [1, 1, 64, MAX_NESTING, MAX_NESTING]
        );
    }
}
