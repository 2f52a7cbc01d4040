//! Span limits: how much one span may carry before what is added is dropped and counted.

use crate::attributes::{ValueLimits, DEFAULT_VALUE_DEPTH, MAX_NESTING};
use crate::config::EnvReader;

/// The limits applied to every span of a provider.
///
/// Counts cut new items (overwriting an existing attribute key is always allowed) and what is cut
/// is counted in the span's dropped counts. The value length limit truncates strings (in
/// characters) and byte arrays (in bytes), element by element in arrays and maps, and the depth
/// limit empties arrays and maps nested too deep; both are applied on the exporter thread, so the
/// hot path never copies a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attribute_count: usize,
    /// Length of attribute values (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, default none).
    pub attribute_value_length: Option<usize>,
    /// How deep arrays and maps may nest in an attribute value (span, event and link attributes),
    /// the value itself at depth 1: one nested deeper is sent as an empty value. Default 64, the
    /// specification's; set in code only (it names no variable); 0 acts as 1, and more than
    /// [`MAX_NESTING`](crate::attributes::MAX_NESTING) (128) as that. A decoder with a
    /// recursion limit refuses the whole request a value too deep is in: prost's limit, 100
    /// nested messages, is passed by maps about 30 deep (each level is three messages), so a
    /// program whose backend decodes that way sets a lower limit.
    pub attribute_value_depth: usize,
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`, default 128).
    pub event_count: usize,
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`, default 128).
    pub link_count: usize,
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attributes_per_event: usize,
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attributes_per_link: usize,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            attribute_count: 128,
            attribute_value_length: None,
            attribute_value_depth: DEFAULT_VALUE_DEPTH,
            event_count: 128,
            link_count: 128,
            attributes_per_event: 128,
            attributes_per_link: 128,
        }
    }
}

impl SpanLimits {
    /// The limits the `OTEL_*` variables set: a span-specific variable wins over the general
    /// `OTEL_ATTRIBUTE_*` one.
    pub(crate) fn from_env(env: &mut EnvReader<'_>) -> SpanLimits {
        let defaults = SpanLimits::default();
        let mut count = |names: &[&str], default: usize| env.limit(names).unwrap_or(default);
        SpanLimits {
            attribute_count: count(
                &["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"],
                defaults.attribute_count,
            ),
            event_count: count(&["OTEL_SPAN_EVENT_COUNT_LIMIT"], defaults.event_count),
            link_count: count(&["OTEL_SPAN_LINK_COUNT_LIMIT"], defaults.link_count),
            // Event and link attributes are attributes: the general limit applies to them too
            // (as the Python SDK reads it); until session 40 only their own variables did.
            attributes_per_event: count(
                &["OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"],
                defaults.attributes_per_event,
            ),
            attributes_per_link: count(
                &["OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"],
                defaults.attributes_per_link,
            ),
            attribute_value_length: env
                .limit(&["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"]),
            attribute_value_depth: defaults.attribute_value_depth,
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

    fn limits(vars: &[(&str, &str)]) -> (SpanLimits, Vec<String>) {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut env = EnvReader::new(&lookup);
        let limits = SpanLimits::from_env(&mut env);
        (limits, env.problems)
    }

    #[test]
    fn specific_variables_win_and_bad_ones_fall_back() {
        assert_eq!(limits(&[]), (SpanLimits::default(), vec![]));
        let (l, problems) = limits(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "0"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "-1"),
            ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "2"),
        ]);
        assert_eq!(l.attribute_count, 3);
        assert_eq!(l.attribute_value_length, Some(16));
        assert_eq!(l.event_count, 0);
        assert_eq!(l.link_count, 128);
        assert_eq!(l.attributes_per_event, 2);
        assert_eq!(l.attributes_per_link, 10, "the general limit");
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (l, problems) = limits(&[("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "long")]);
        assert_eq!(l.attribute_value_length, None);
        assert_eq!(problems.len(), 1);
        let (l, problems) = limits(&[
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "long"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
            ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "many"),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "5"),
        ]);
        assert_eq!((l.attribute_value_length, l.attributes_per_event, l.attribute_count), (Some(64), 5, 5));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn the_depth_limit_acts_as_one_from_1_to_the_nesting_ceiling() {
        let depth =
            |attribute_value_depth| SpanLimits { attribute_value_depth, ..SpanLimits::default() }.value_limits().depth;
        assert_eq!(
            [depth(0), depth(1), depth(64), depth(MAX_NESTING), depth(usize::MAX)],
            [1, 1, 64, MAX_NESTING, MAX_NESTING]
        );
    }
}
