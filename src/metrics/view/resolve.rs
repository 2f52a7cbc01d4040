//! Applying views: the checks made when the provider is built, and the stream an instrument gets
//! when it is built.

use crate::proto::common::v1::InstrumentationScope;

use super::super::descriptor::{check_boundaries, Descriptor, InstrumentKind};
use super::super::exponential::{MAX_SCALE, MAX_SIZE, MIN_SCALE};
use super::super::histogram::DEFAULT_BOUNDARIES;
use super::super::provider::usable_cardinality_limit;
use super::{wildcard_match, Aggregation, AttributeFilter, HistogramAggregation, View};

/// How records reach an instrument's series: fixed when the instrument is built.
#[derive(Debug)]
pub(crate) enum Route {
    /// Nowhere: a disabled provider, or the `Drop` aggregation.
    Off,
    /// With the caller's attributes as they are.
    Direct,
    /// With only the attributes the filter keeps.
    Filtered(AttributeFilter),
}

/// The buckets of a stream, or none: a histogram under a view's `Sum`, and the other kinds under
/// their own aggregation. (Every other kind gets buckets from a view's histogram aggregation.)
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HistogramChoice {
    /// No buckets: the values' sum (a histogram under a view's `Sum` aggregation, a counter under
    /// its own).
    Sum,
    /// Explicit buckets with these boundaries.
    Explicit(Vec<f64>),
    /// Base-2 exponential buckets.
    Exponential {
        /// The most buckets per sign.
        max_size: usize,
        /// The scale a series starts at.
        max_scale: i32,
    },
}

/// What an instrument exports and how it records, once its view (if any) is applied.
pub(crate) struct Stream {
    pub descriptor: Descriptor,
    pub limit: usize,
    pub route: Route,
    /// The buckets, for histograms.
    pub histogram: HistogramChoice,
}

/// A provider's views, checked, and its default histogram aggregation.
#[derive(Debug, Default)]
pub(crate) struct Views {
    /// Each valid view with its position among those given (from 1), for diagnostics.
    views: Vec<(usize, View)>,
    default_histogram: HistogramAggregation,
}

/// The instrument being built, as views see it.
pub(crate) struct Instrument<'a> {
    pub scope: &'a InstrumentationScope,
    pub descriptor: Descriptor,
    /// The buckets asked for in code (`with_boundaries`, `with_exponential_buckets`), if any.
    pub histogram: Option<HistogramChoice>,
    /// The provider's cardinality limit.
    pub limit: usize,
    /// False under a disabled provider.
    pub enabled: bool,
}

impl Views {
    /// Keeps the valid views, reporting each one that cannot be used.
    pub(crate) fn new(views: Vec<View>, default_histogram: HistogramAggregation) -> Self {
        let views = views
            .into_iter()
            .enumerate()
            .filter_map(|(i, mut view)| match problem(&view) {
                None => {
                    view.cardinality_limit = view.cardinality_limit.map(|limit| {
                        usable_cardinality_limit(
                            limit,
                            &format!("view {} ({:?}): the cardinality limit", i + 1, view.name),
                        )
                    });
                    Some((i + 1, view))
                }
                Some(problem) => {
                    crate::diag::warning!("view {} ({:?}) is ignored: {problem}", i + 1, view.name);
                    None
                }
            })
            .collect();
        Views { views, default_histogram }
    }

    /// The stream of `instrument`: the first view that selects it applied, or its defaults. A
    /// view whose aggregation does not apply to the instrument's kind is left out for it, as if it
    /// did not exist (the specification's rule for a view that would make a semantic error; until
    /// session 40 only its aggregation was, its name, description, attribute filter and limit
    /// still applied).
    pub(crate) fn stream(&self, instrument: Instrument<'_>) -> Stream {
        let kind = instrument.descriptor.kind;
        let mut selecting = self.views.iter().filter(|(_, view)| selects(view, &instrument)).filter(|(i, view)| {
            let fits = applies(&view.aggregation, kind);
            if !fits {
                crate::diag::warning!(
                    "view {i} ({:?}): aggregation {:?} does not apply to {kind:?} instrument {:?}; the view is left \
                     out for it",
                    view.name,
                    view.aggregation,
                    instrument.descriptor.name
                );
            }
            fits
        });
        let first = selecting.next();
        let others: Vec<String> = selecting.map(|(i, _)| i.to_string()).collect();
        let mut descriptor = instrument.descriptor;
        if let (Some((first, _)), false) = (first, others.is_empty()) {
            crate::diag::warning!(
                "instrument {:?} is selected by several views; only the first, view {first}, applies (not {})",
                descriptor.name,
                others.join(", ")
            );
        }
        let view = first.map(|(_, view)| view);
        let aggregation = view.map_or(&Aggregation::Default, |view| &view.aggregation);
        let histogram = match aggregation {
            Aggregation::ExplicitBucketHistogram { boundaries } => HistogramChoice::Explicit(boundaries.clone()),
            &Aggregation::Base2ExponentialHistogram { max_size, max_scale } => {
                HistogramChoice::Exponential { max_size, max_scale }
            }
            // A histogram under `Sum`, and every other kind under its own aggregation: no buckets.
            Aggregation::Sum => HistogramChoice::Sum,
            _ if kind != InstrumentKind::Histogram => HistogramChoice::Sum,
            _ => instrument.histogram.unwrap_or(match self.default_histogram {
                HistogramAggregation::ExplicitBuckets => HistogramChoice::Explicit(DEFAULT_BOUNDARIES.to_vec()),
                HistogramAggregation::Base2Exponential => {
                    HistogramChoice::Exponential { max_size: MAX_SIZE, max_scale: MAX_SCALE }
                }
            }),
        };
        let route = match (view.and_then(|view| view.attributes.clone()), aggregation) {
            _ if !instrument.enabled => Route::Off,
            (_, Aggregation::Drop) => Route::Off,
            (Some(filter), _) => Route::Filtered(filter),
            (None, _) => Route::Direct,
        };
        if let Some(view) = view {
            if let Some(name) = &view.rename {
                descriptor.name.clone_from(name);
            }
            if let Some(description) = &view.description {
                descriptor.description.clone_from(description);
            }
        }
        let limit = view.and_then(|view| view.cardinality_limit).unwrap_or(instrument.limit);
        Stream { descriptor, limit, route, histogram }
    }
}

/// Whether `view` selects `instrument`: every criterion it has matches.
fn selects(view: &View, instrument: &Instrument<'_>) -> bool {
    let descriptor = &instrument.descriptor;
    wildcard_match(&view.name, &descriptor.name)
        && view.kind.is_none_or(|kind| kind == descriptor.kind)
        && view.unit.as_ref().is_none_or(|unit| *unit == descriptor.unit)
        && view.meter_name.as_ref().is_none_or(|name| *name == instrument.scope.name)
        && view.meter_version.as_ref().is_none_or(|version| *version == instrument.scope.version)
}

/// Whether `aggregation` applies to instruments of `kind` (the table on [`Aggregation`]).
fn applies(aggregation: &Aggregation, kind: InstrumentKind) -> bool {
    use InstrumentKind::{
        Counter, Gauge, Histogram, ObservableCounter, ObservableGauge, ObservableUpDownCounter, UpDownCounter,
    };
    match aggregation {
        // Every kind has a default, may be dropped, and (the specification says) may be a
        // histogram of its measurements.
        Aggregation::Default
        | Aggregation::Drop
        | Aggregation::ExplicitBucketHistogram { .. }
        | Aggregation::Base2ExponentialHistogram { .. } => true,
        Aggregation::Sum => {
            matches!(kind, Counter | UpDownCounter | ObservableCounter | ObservableUpDownCounter | Histogram)
        }
        Aggregation::LastValue => matches!(kind, Gauge | ObservableGauge),
    }
}

/// Why `view` cannot be used, if it cannot.
fn problem(view: &View) -> Option<String> {
    if let Some(name) = &view.rename {
        if view.name.contains(['*', '?']) {
            return Some("a view whose name has a wildcard cannot rename the instruments it selects".into());
        }
        // Not the instrument name syntax: the specification says a stream name need not follow
        // it, and must not be checked against it (until session 40 a name such as `c:rate` made
        // the whole view ignored, its attribute filter included). Only an empty one is refused.
        if name.is_empty() {
            return Some("a stream name cannot be empty".into());
        }
    }
    match &view.aggregation {
        Aggregation::ExplicitBucketHistogram { boundaries } => {
            check_boundaries(&view.name, boundaries).err().map(|err| err.to_string())
        }
        Aggregation::Base2ExponentialHistogram { max_scale, .. } if !(MIN_SCALE..=MAX_SCALE).contains(max_scale) => {
            Some(format!("max_scale {max_scale} is outside {MIN_SCALE}..={MAX_SCALE}"))
        }
        Aggregation::Base2ExponentialHistogram { max_size, .. } if !(2..=MAX_SIZE).contains(max_size) => {
            Some(format!("max_size {max_size} is outside 2..={MAX_SIZE}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(views: &Views, name: &str, kind: InstrumentKind, histogram: Option<HistogramChoice>) -> Stream {
        let scope = InstrumentationScope { name: "m".into(), ..Default::default() };
        let descriptor = Descriptor { kind, name: name.into(), unit: String::new(), description: String::new() };
        views.stream(Instrument { scope: &scope, descriptor, histogram, limit: 100, enabled: true })
    }

    #[test]
    fn limits_routes_and_buckets_follow_the_first_view_then_code_then_the_default() {
        let views = Views::new(
            vec![
                View::new("tiny").with_cardinality_limit(0),
                View::new("quiet").with_aggregation(Aggregation::Drop),
                View::new("narrow").with_kept_attributes(["venue"]),
                View::new("coarse")
                    .with_aggregation(Aggregation::Base2ExponentialHistogram { max_size: 8, max_scale: 3 }),
            ],
            HistogramAggregation::Base2Exponential,
        );
        assert_eq!(stream(&views, "tiny", InstrumentKind::Counter, None).limit, 2, "raised to 2");
        assert_eq!(stream(&views, "other", InstrumentKind::Counter, None).limit, 100, "the provider's");
        assert!(matches!(stream(&views, "quiet", InstrumentKind::Gauge, None).route, Route::Off));
        assert!(matches!(stream(&views, "narrow", InstrumentKind::Counter, None).route, Route::Filtered(_)));
        assert!(matches!(stream(&views, "other", InstrumentKind::Counter, None).route, Route::Direct));
        let coded = HistogramChoice::Explicit(vec![1.0]);
        let coarse = HistogramChoice::Exponential { max_size: 8, max_scale: 3 };
        assert_eq!(stream(&views, "coarse", InstrumentKind::Histogram, Some(coded.clone())).histogram, coarse);
        assert_eq!(stream(&views, "h", InstrumentKind::Histogram, Some(coded.clone())).histogram, coded);
        let default = HistogramChoice::Exponential { max_size: MAX_SIZE, max_scale: MAX_SCALE };
        assert_eq!(stream(&views, "h", InstrumentKind::Histogram, None).histogram, default);
        let disabled = Instrument {
            scope: &InstrumentationScope::default(),
            descriptor: Descriptor {
                kind: InstrumentKind::Counter,
                name: "narrow".into(),
                unit: String::new(),
                description: String::new(),
            },
            histogram: None,
            limit: 100,
            enabled: false,
        };
        assert!(matches!(views.stream(disabled).route, Route::Off), "a disabled provider records nothing");
    }
}
