//! Several propagators used as one, chosen by `OTEL_PROPAGATORS` or in code.

use crate::config::EnvReader;
use crate::trace::SpanContext;

use super::b3::B3Propagator;
use super::{Baggage, BaggagePropagator, Extractor, Injector, TraceContextPropagator};

/// One of the propagators nanotel provides, by its `OTEL_PROPAGATORS` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagator {
    /// W3C Trace Context (`tracecontext`): [`TraceContextPropagator`].
    TraceContext,
    /// W3C Baggage (`baggage`): [`BaggagePropagator`].
    Baggage,
    /// B3, injected as the single `b3` header (`b3`): [`B3Propagator::single`].
    B3,
    /// B3, injected as the multiple `X-B3-*` headers (`b3multi`): [`B3Propagator::multi`].
    B3Multi,
}

impl Propagator {
    /// Every propagator, in the order `OTEL_PROPAGATORS` documents them.
    pub const ALL: [Propagator; 4] =
        [Propagator::TraceContext, Propagator::Baggage, Propagator::B3, Propagator::B3Multi];

    /// Its name in `OTEL_PROPAGATORS`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Baggage => "baggage",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
        }
    }

    /// The propagator of an `OTEL_PROPAGATORS` name (lowercase, as the specification spells them).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Propagator> {
        Propagator::ALL.into_iter().find(|propagator| propagator.name() == name)
    }
}

/// Names the specification defines that nanotel does not provide.
const UNSUPPORTED: [&str; 4] = ["xray", "xray-lambda", "jaeger", "ottrace"];

/// The propagators in use, applied in order: what [`crate::Telemetry::propagator`] gives, made
/// from `OTEL_PROPAGATORS` (default `tracecontext,baggage`) or set in code.
///
/// Injection writes every propagator's headers. Extraction asks each trace propagator in turn,
/// and the last that finds a usable context wins (as in the specification's composite
/// propagator); baggage comes from the `baggage` propagator, when it is in the list.
///
/// ```
/// use http::HeaderMap;
/// use nanotel::propagation::{Baggage, CompositePropagator, Propagator};
///
/// let propagator = CompositePropagator::new([Propagator::TraceContext, Propagator::B3, Propagator::Baggage]);
/// let mut incoming = HeaderMap::new();
/// incoming.insert("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".parse().unwrap());
/// incoming.insert("baggage", "desk=equities".parse().unwrap());
/// let parent = propagator.extract(&incoming).expect("a valid b3 header");
/// let baggage = propagator.extract_baggage(&incoming);
/// assert_eq!(baggage.get("desk"), Some("equities"));
///
/// let mut outgoing = HeaderMap::new();
/// propagator.inject(&parent, &mut outgoing);
/// propagator.inject_baggage(&baggage, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01");
/// assert_eq!(outgoing["b3"], "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
/// assert_eq!(outgoing["baggage"], "desk=equities");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompositePropagator {
    propagators: Vec<Propagator>,
}

impl Default for CompositePropagator {
    /// `tracecontext,baggage`, the specification's default.
    fn default() -> Self {
        CompositePropagator::new([Propagator::TraceContext, Propagator::Baggage])
    }
}

impl CompositePropagator {
    /// These propagators in this order (a repeated one is kept once, where it first appears).
    pub fn new(propagators: impl IntoIterator<Item = Propagator>) -> Self {
        let mut kept = Vec::new();
        for propagator in propagators {
            if !kept.contains(&propagator) {
                kept.push(propagator);
            }
        }
        CompositePropagator { propagators: kept }
    }

    /// No propagator (`OTEL_PROPAGATORS=none`): nothing is injected or extracted.
    #[must_use]
    pub fn none() -> Self {
        CompositePropagator { propagators: Vec::new() }
    }

    /// The propagators, in the order they are applied.
    #[must_use]
    pub fn propagators(&self) -> &[Propagator] {
        &self.propagators
    }

    /// Writes `context` with every trace propagator in the list (an invalid context writes
    /// nothing).
    pub fn inject<I: Injector + ?Sized>(&self, context: &SpanContext, carrier: &mut I) {
        for propagator in &self.propagators {
            match propagator {
                Propagator::TraceContext => TraceContextPropagator.inject(context, carrier),
                Propagator::B3 => B3Propagator::single().inject(context, carrier),
                Propagator::B3Multi => B3Propagator::multi().inject(context, carrier),
                Propagator::Baggage => {}
            }
        }
    }

    /// Writes `baggage` when the `baggage` propagator is in the list.
    pub fn inject_baggage<I: Injector + ?Sized>(&self, baggage: &Baggage, carrier: &mut I) {
        if self.propagators.contains(&Propagator::Baggage) {
            BaggagePropagator.inject(baggage, carrier);
        }
    }

    /// The remote span context: the one found by the last trace propagator in the list that
    /// finds a usable one, or `None` (start a new trace).
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<SpanContext> {
        let mut found = None;
        for propagator in &self.propagators {
            let extracted = match propagator {
                Propagator::TraceContext => TraceContextPropagator.extract(carrier),
                // Both read either encoding, so one of them is enough.
                Propagator::B3 | Propagator::B3Multi => B3Propagator::single().extract(carrier),
                Propagator::Baggage => None,
            };
            if extracted.is_some() {
                found = extracted;
            }
        }
        found
    }

    /// The baggage, when the `baggage` propagator is in the list; otherwise empty.
    pub fn extract_baggage<E: Extractor + ?Sized>(&self, carrier: &E) -> Baggage {
        if self.propagators.contains(&Propagator::Baggage) {
            BaggagePropagator.extract(carrier)
        } else {
            Baggage::new()
        }
    }

    /// The propagators `OTEL_PROPAGATORS` names (a comma-separated list, case-insensitive).
    /// Unknown and unsupported names are reported in `env` and skipped; `none` alone means no
    /// propagator (beside others it is reported and skipped); a list with nothing usable is
    /// reported and gives the default.
    pub(crate) fn from_env(env: &mut EnvReader<'_>) -> CompositePropagator {
        const NAME: &str = "OTEL_PROPAGATORS";
        let Some(value) = env.text(NAME) else { return CompositePropagator::default() };
        let mut chosen = Vec::new();
        let mut none = false;
        for entry in value.split(',') {
            let word = entry.trim().to_ascii_lowercase();
            if word.is_empty() {
                continue;
            }
            if word == "none" {
                none = true;
            } else if let Some(propagator) = Propagator::from_name(&word) {
                chosen.push(propagator);
            } else if UNSUPPORTED.contains(&word.as_str()) {
                env.report(format!("{NAME}: propagator {word:?} is not provided by nanotel; it is skipped"));
            } else {
                env.report(format!(
                    "{NAME}: {word:?} is not a propagator (expected tracecontext, baggage, b3, b3multi or none); \
                     it is skipped"
                ));
            }
        }
        match (none, chosen.is_empty()) {
            (true, true) => CompositePropagator::none(),
            (true, false) => {
                env.report(format!("{NAME}: \"none\" beside other propagators is skipped"));
                CompositePropagator::new(chosen)
            }
            (false, false) => CompositePropagator::new(chosen),
            (false, true) => {
                env.report(format!("{NAME}={value:?} names no usable propagator; using tracecontext,baggage"));
                CompositePropagator::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from_env(value: &str) -> (Vec<Propagator>, Vec<String>) {
        let value = value.to_owned();
        let lookup = move |name: &str| (name == "OTEL_PROPAGATORS").then(|| value.clone());
        let mut env = EnvReader::new(&lookup);
        let propagator = CompositePropagator::from_env(&mut env);
        (propagator.propagators().to_vec(), env.problems)
    }

    #[test]
    fn env_names_and_their_problems() {
        use Propagator::*;
        assert_eq!(from_env(""), (vec![TraceContext, Baggage], vec![]));
        assert_eq!(from_env(" B3multi , tracecontext,b3,b3 "), (vec![B3Multi, TraceContext, B3], vec![]));
        assert_eq!(from_env("none"), (vec![], vec![]));
        let (chosen, problems) = from_env("xray,b3,jaeger,foo,foo");
        assert_eq!(chosen, [B3]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0], "OTEL_PROPAGATORS: propagator \"xray\" is not provided by nanotel; it is skipped");
        assert!(problems[2].starts_with("OTEL_PROPAGATORS: \"foo\" is not a propagator"), "{}", problems[2]);
        let (chosen, problems) = from_env("none,baggage");
        assert_eq!((chosen, problems.len()), (vec![Baggage], 1));
        let (chosen, problems) = from_env("ottrace");
        assert_eq!(chosen, [TraceContext, Baggage]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].ends_with("names no usable propagator; using tracecontext,baggage"));
    }

    #[expect(clippy::items_after_statements, reason = "the alias is used only below, where it is declared")]
    #[test]
    fn the_last_trace_propagator_that_finds_a_context_wins() {
        let w3c = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let b3 = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0";
        let carrier = HashMap::from([("traceparent".to_owned(), w3c.to_owned()), ("b3".to_owned(), b3.to_owned())]);
        let trace_of = |propagators: &[Propagator]| {
            CompositePropagator::new(propagators.iter().copied()).extract(&carrier).map(|c| c.trace_id().to_string())
        };
        use Propagator::*;
        assert_eq!(trace_of(&[TraceContext, B3]).as_deref(), Some("80f198ee56343ba864fe8b2a57d3eff7"));
        assert_eq!(trace_of(&[B3, TraceContext]).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_of(&[Baggage]), None);
        assert_eq!(trace_of(&[]), None);
        let bad_b3 = HashMap::from([("traceparent".to_owned(), w3c.to_owned()), ("b3".to_owned(), "x".to_owned())]);
        let found = CompositePropagator::new([TraceContext, B3]).extract(&bad_b3);
        assert_eq!(found.map(|c| c.trace_id().to_string()).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn none_writes_and_reads_nothing() {
        let context = super::super::traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let mut baggage = Baggage::new();
        baggage.insert("k", "v").unwrap();
        let mut carrier: HashMap<String, String> = HashMap::new();
        CompositePropagator::none().inject(&context.unwrap(), &mut carrier);
        CompositePropagator::none().inject_baggage(&baggage, &mut carrier);
        assert!(carrier.is_empty());
        carrier.insert("baggage".into(), "k=v".into());
        assert!(CompositePropagator::none().extract_baggage(&carrier).is_empty());
        assert_eq!(CompositePropagator::default().extract_baggage(&carrier), baggage);
    }
}
