//! Views: configuration, set in code on the [`MeterProvider`](super::MeterProvider), that changes
//! what an instrument exports without touching the code that records into it.
//!
//! A [`View`] selects instruments (by name with `*` and `?` wildcards, kind, unit, meter name and
//! version; every criterion given must match) and says how their stream is exported: another
//! name or description, only some attribute keys, another aggregation (drop, other histogram
//! buckets, exponential buckets with another largest scale), its own cardinality limit.
//!
//! Views are applied once, when an instrument is built: its name, aggregation, limit and
//! attribute filter are fixed then, so recording costs what it costs without views (an attribute
//! filter adds its own step to `bind` and to records with an attribute slice; a bound handle
//! records exactly as without it). When several views select one instrument, the first one
//! given to the builder applies and the others are reported once (one stream per instrument).

mod filter;
mod resolve;

pub(crate) use filter::AttributeFilter;
pub(crate) use resolve::{HistogramChoice, Instrument, Route, Stream, Views};

use super::descriptor::InstrumentKind;

/// Which aggregation a view gives the instruments it selects.
///
/// Which kinds each aggregation applies to (another pairing is reported once on stderr and the
/// view is left out for that instrument, as if it did not exist):
///
/// | aggregation | applies to |
/// |---|---|
/// | `Default`, `Drop` | every kind |
/// | `Sum` | counters, up-down counters and their observable forms (their default); histograms (a monotonic sum of their values) |
/// | `LastValue` | gauges and observable gauges (their default) |
/// | `ExplicitBucketHistogram`, `Base2ExponentialHistogram` | every kind: histograms; counters and up-down counters (a histogram of their increments); gauges (of the values set); observable instruments (of the values their callbacks observe, each observation one measurement). The histogram of a kind whose values may be negative (up-down counters, gauges and their observable forms) reports no sum, as the specification advises |
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Aggregation {
    /// The instrument kind's own aggregation (for a histogram: the buckets it was built with,
    /// or the provider's default histogram aggregation).
    Default,
    /// Nothing is recorded or exported: records return after one branch, as under a disabled
    /// provider, and observable callbacks never run.
    Drop,
    /// A sum.
    Sum,
    /// The last value recorded.
    LastValue,
    /// Explicit buckets with these boundaries (finite and strictly increasing), whatever
    /// boundaries the instrument was built with; for a counter, a histogram of its increments.
    ExplicitBucketHistogram {
        /// The upper boundaries of every bucket but the last.
        boundaries: Vec<f64>,
    },
    /// Base-2 exponential buckets: at most `max_size` per sign (2 to 160; 160 is the default),
    /// starting at scale `max_scale` (−10 to 20; 20 is the default). The scale goes down as far
    /// as the values recorded need to fit in `max_size` buckets.
    Base2ExponentialHistogram {
        /// The most buckets per sign.
        max_size: usize,
        /// The scale a series starts at, and never exceeds.
        max_scale: i32,
    },
}

/// The aggregation of histograms built without explicit buckets or `exponential()`: what
/// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` chooses (see
/// [`MeterProviderBuilder::with_default_histogram_aggregation`](super::MeterProviderBuilder::with_default_histogram_aggregation)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HistogramAggregation {
    /// The specification's default explicit boundaries (`explicit_bucket_histogram`, the
    /// default).
    #[default]
    ExplicitBuckets,
    /// Base-2 exponential buckets at the default largest scale (`base2_exponential_bucket_histogram`).
    Base2Exponential,
}

/// Selects instruments and says how their stream is exported. Every selection criterion given
/// must match; what is not given is kept as the instrument has it.
///
/// ```
/// use nanotel::metrics::{Aggregation, InstrumentKind, MeterProvider, View};
///
/// let provider = MeterProvider::builder()
///     .without_env()
///     // Every histogram of the "gateway" meter whose name starts with "order.": exponential
///     // buckets, without the `order.id` attribute.
///     .with_view(
///         View::new("order.*")
///             .with_kind(InstrumentKind::Histogram)
///             .with_meter_name("gateway")
///             .with_aggregation(Aggregation::Base2ExponentialHistogram { max_size: 80, max_scale: 8 })
///             .with_dropped_attributes(["order.id"]),
///     )
///     // One counter under another name.
///     .with_view(View::new("fills").with_stream_name("trade.fills").with_description("Fills received"))
///     .build();
/// let fills = provider.meter("gateway").u64_counter("fills").build().unwrap();
/// fills.add(1, &[]);
/// assert_eq!(provider.collect()[0].metrics[0].name, "trade.fills");
/// ```
#[must_use = "a view applies only once given to `MeterProviderBuilder::with_view`"]
#[derive(Clone, Debug)]
pub struct View {
    pub(crate) name: String,
    pub(crate) kind: Option<InstrumentKind>,
    pub(crate) unit: Option<String>,
    pub(crate) meter_name: Option<String>,
    pub(crate) meter_version: Option<String>,
    pub(crate) rename: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) attributes: Option<AttributeFilter>,
    pub(crate) aggregation: Aggregation,
    pub(crate) cardinality_limit: Option<usize>,
}

impl View {
    /// A view of the instruments whose name matches `name`, ignoring ASCII case: `*` matches any
    /// run of characters (none included), `?` any one character; `"*"` selects every instrument.
    pub fn new(name: impl Into<String>) -> View {
        View {
            name: name.into(),
            kind: None,
            unit: None,
            meter_name: None,
            meter_version: None,
            rename: None,
            description: None,
            attributes: None,
            aggregation: Aggregation::Default,
            cardinality_limit: None,
        }
    }

    /// Selects only instruments of this kind.
    pub fn with_kind(mut self, kind: InstrumentKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Selects only instruments with exactly this unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Selects only instruments of meters with exactly this name.
    pub fn with_meter_name(mut self, name: impl Into<String>) -> Self {
        self.meter_name = Some(name.into());
        self
    }

    /// Selects only instruments of meters with exactly this version.
    pub fn with_meter_version(mut self, version: impl Into<String>) -> Self {
        self.meter_version = Some(version.into());
        self
    }

    /// Exports the stream under this name, which need not follow the instrument name syntax (the
    /// specification forbids checking it); an empty one is refused. A view whose name has a
    /// wildcard cannot rename (every instrument it selects would get the same name): such a view
    /// is reported and ignored.
    pub fn with_stream_name(mut self, name: impl Into<String>) -> Self {
        self.rename = Some(name.into());
        self
    }

    /// Exports the stream with this description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Keeps only attributes with these keys (an empty list keeps none); measurements whose sets
    /// differ only by the others are aggregated together.
    pub fn with_kept_attributes<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.attributes = Some(AttributeFilter::keep(keys));
        self
    }

    /// Removes attributes with these keys; measurements whose sets differ only by them are
    /// aggregated together.
    pub fn with_dropped_attributes<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.attributes = Some(AttributeFilter::remove(keys));
        self
    }

    /// The aggregation (see [`Aggregation`] for which kinds each applies to).
    pub fn with_aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
    }

    /// The most series the stream keeps, the overflow series included, instead of the
    /// provider's limit (values below 2 are raised to 2, values above
    /// [`MAX_CARDINALITY_LIMIT`](crate::metrics::MAX_CARDINALITY_LIMIT) lowered to it, with a
    /// warning on stderr).
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }
}

/// Whether `name` matches `pattern`, ignoring ASCII case: `*` matches any run of characters,
/// `?` any one character.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut p, mut n) = (0, 0);
    // The position after the last `*` seen, and the name position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, n));
                p += 1;
            }
            Some(&c) if c == '?' || c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again from there.
                Some((after, tried)) => {
                    star = Some((after, tried + 1));
                    p = after;
                    n = tried + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        for (pattern, name) in
            [("*", "orders"), ("orders", "ORDERS"), ("order.*", "order.latency"), ("*.latency", "order.latency")]
        {
            assert!(wildcard_match(pattern, name), "{pattern} {name}");
        }
        for (pattern, name) in [("a*b*c", "aXXbYYc"), ("a?c", "abc"), ("*", ""), ("a**", "a"), ("*b", "abab")] {
            assert!(wildcard_match(pattern, name), "{pattern} {name}");
        }
        for (pattern, name) in [("order.*", "orders"), ("a?c", "ac"), ("a?c", "abbc"), ("*b", "aba"), ("x", "")] {
            assert!(!wildcard_match(pattern, name), "{pattern} {name}");
        }
    }
}
