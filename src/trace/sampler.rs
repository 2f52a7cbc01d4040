//! Which spans are recorded: the specification's built-in samplers, and one of the user's own.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use super::TraceState;
use crate::attributes::{KeyValue, Value};
use crate::config::EnvReader;

use super::ids;
use super::span::SpanKind;
use super::span_context::{SpanContext, TraceId};

/// Decides, when a span starts, whether it is recorded and exported.
///
/// A span that is not sampled reads no clock and writes no buffer, but still has ids and passes its
/// (not-sampled) context on to its children and to other processes.
///
/// ```
/// use nanotel::trace::{Sampler, TraceId};
///
/// let sampler = Sampler::parent_based(Sampler::TraceIdRatioBased(0.25));
/// let id = TraceId::from_hex("0000000000000000000000000000000f").unwrap();
/// assert!(sampler.should_sample(None, id)); // a root span: the ratio decides, by the trace id
/// assert_eq!(sampler.description(), "ParentBased{root:TraceIdRatioBased{0.25},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Samples every span.
    AlwaysOn,
    /// Samples no span.
    AlwaysOff,
    /// Samples this fraction of traces, decided by the trace id alone, with the algorithm of the Go
    /// and Rust SDKs: the trace id's last 8 bytes as a big-endian integer, shifted right by one,
    /// below `ratio × 2⁶³`. Every process sampling at the same ratio keeps the same traces.
    TraceIdRatioBased(f64),
    /// Follows the parent's decision, and asks `root` for spans without one.
    ParentBased(Box<ParentBased>),
    /// A sampler of the user's own (see [`ShouldSample`]), alone or as a delegate of
    /// [`Sampler::ParentBased`]. Two are equal when they are the same object.
    Custom(Arc<dyn ShouldSample>),
}

/// A sampler of the user's own: decides, when a span starts, whether it is recorded.
///
/// It runs on the thread that starts the span, inside [`Tracer::span`](super::Tracer::span) and
/// its siblings, so it must be quick and must not block; it sees what is known then (see
/// [`SamplingInput`]). The built-in samplers keep their own path: a provider without a custom
/// sampler never asks one (one extra test of a flag the provider holds).
///
/// A decision that needs the span's outcome, such as "keep every order slower than 1 ms", cannot
/// be made here: sample those spans and drop the fast ones in a
/// [`SpanProcessor`](crate::export::SpanProcessor) on the exporter thread.
///
/// ```
/// use std::sync::Arc;
/// use nanotel::attributes::{KeyValue, Value};
/// use nanotel::trace::{Sampler, SamplingInput, SamplingResult, ShouldSample, SpanKind, TracerProvider};
///
/// /// Every order on XNAS, one in ten elsewhere (by the trace id, so every process agrees).
/// struct PerVenue;
///
/// impl ShouldSample for PerVenue {
///     fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingResult {
///         let ratio = match input.attribute("venue") {
///             Some(Value::Str(venue)) if venue.as_str() == "XNAS" => 1.0,
///             _ => 0.1,
///         };
///         Sampler::TraceIdRatioBased(ratio).should_sample_input(input)
///     }
///
///     fn description(&self) -> String {
///         "PerVenue".into()
///     }
/// }
///
/// let provider = TracerProvider::builder()
///     .without_env()
///     .with_sampler(Sampler::parent_based(Sampler::Custom(Arc::new(PerVenue))))
///     .build();
/// let tracer = provider.tracer("gateway");
/// let span = tracer.span_with("order", SpanKind::Client, &[KeyValue::new("venue", "XNAS")]).start();
/// assert!(span.is_recording());
/// ```
pub trait ShouldSample: Send + Sync + 'static {
    /// The decision for the span `input` describes.
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingResult;

    /// A short name for diagnostics (as `TraceIdRatioBased{0.25}` for the built-in one).
    fn description(&self) -> String;
}

impl PartialEq for dyn ShouldSample {
    /// The same object: samplers have no other notion of equality.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(self, other)
    }
}

impl fmt::Debug for dyn ShouldSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

/// What a [`ShouldSample`] sampler is told about a span about to start.
///
/// The kind and attributes are those given to [`Tracer::span_with`](super::Tracer::span_with);
/// spans started otherwise show [`SpanKind::Internal`] and no attributes, since their builder
/// sets those after the decision.
pub struct SamplingInput<'a> {
    parent: Option<&'a SpanContext>,
    /// The trace id: the parent's, or for a new trace drawn when first asked for.
    trace_id: Cell<TraceId>,
    name: &'a str,
    kind: SpanKind,
    attributes: &'a [KeyValue],
}

impl<'a> SamplingInput<'a> {
    /// The input for a span under `parent` (`None`: a new trace) with this name, kind and
    /// attributes, for calling a sampler directly (in a test, or from another sampler).
    pub fn new(
        parent: Option<&'a SpanContext>,
        name: &'a str,
        kind: SpanKind,
        attributes: &'a [KeyValue],
    ) -> SamplingInput<'a> {
        let parent = parent.filter(|p| p.is_valid());
        let trace_id = parent.map_or(TraceId::INVALID, SpanContext::trace_id);
        SamplingInput { parent, trace_id: Cell::new(trace_id), name, kind, attributes }
    }

    /// The parent's context, `None` for a new trace (a root span).
    pub fn parent(&self) -> Option<&SpanContext> {
        self.parent
    }

    /// The span's trace id: the parent's, or the new trace's (drawn on the first call, and kept
    /// as the span's).
    pub fn trace_id(&self) -> TraceId {
        if !self.trace_id.get().is_valid() {
            self.trace_id.set(ids::trace_id());
        }
        self.trace_id.get()
    }

    /// The trace id if one was drawn or inherited, else [`TraceId::INVALID`].
    pub(crate) fn known_trace_id(&self) -> TraceId {
        self.trace_id.get()
    }

    /// The span's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The span's kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The span's initial attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        self.attributes
    }

    /// The value of the first initial attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }
}

/// A [`ShouldSample`] sampler's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplingResult {
    /// Whether the span is recorded and exported (its context says sampled); otherwise it only
    /// passes its context on.
    pub sampled: bool,
    /// The trace state the span's context carries, replacing the parent's; `None` keeps it.
    pub trace_state: Option<TraceState>,
}

impl SamplingResult {
    /// Not recorded; the parent's trace state is kept.
    pub const DROP: SamplingResult = SamplingResult { sampled: false, trace_state: None };
    /// Recorded and sampled; the parent's trace state is kept.
    pub const RECORD_AND_SAMPLE: SamplingResult = SamplingResult { sampled: true, trace_state: None };

    /// The same decision, with this trace state instead of the parent's.
    #[must_use]
    pub fn with_trace_state(self, trace_state: TraceState) -> SamplingResult {
        SamplingResult { trace_state: Some(trace_state), ..self }
    }
}

/// The delegates of [`Sampler::ParentBased`], one per kind of parent.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentBased {
    /// For spans without a (valid) parent.
    pub root: Sampler,
    /// For a parent from another process that was sampled (default: `AlwaysOn`).
    pub remote_parent_sampled: Sampler,
    /// For a parent from another process that was not sampled (default: `AlwaysOff`).
    pub remote_parent_not_sampled: Sampler,
    /// For a parent in this process that was sampled (default: `AlwaysOn`).
    pub local_parent_sampled: Sampler,
    /// For a parent in this process that was not sampled (default: `AlwaysOff`).
    pub local_parent_not_sampled: Sampler,
}

/// What a sampler decides for every root span, worked out once per provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roots {
    /// Every root is refused, whatever its trace id.
    Refused,
    /// Every root is sampled, whatever its trace id.
    Sampled,
    /// The sampler is asked for each (by the trace id, or a sampler of the user's).
    Asked,
}

impl Sampler {
    /// What this sampler decides for every span without a parent, when that does not depend on
    /// the trace id (then a root need not ask it: the default sampler's roots read neither it nor
    /// its boxed delegates).
    pub(crate) fn roots(&self) -> Roots {
        match self {
            Sampler::AlwaysOff => Roots::Refused,
            Sampler::AlwaysOn => Roots::Sampled,
            Sampler::ParentBased(delegates) => delegates.root.roots(),
            Sampler::TraceIdRatioBased(_) | Sampler::Custom(_) => Roots::Asked,
        }
    }

    /// Whether a [`Sampler::Custom`] may be asked, here or among the delegates (then spans take
    /// the path that gives it a [`SamplingInput`]).
    pub(crate) fn asks_custom(&self) -> bool {
        match self {
            Sampler::Custom(_) => true,
            Sampler::ParentBased(d) => [
                &d.root,
                &d.remote_parent_sampled,
                &d.remote_parent_not_sampled,
                &d.local_parent_sampled,
                &d.local_parent_not_sampled,
            ]
            .iter()
            .any(|delegate| delegate.asks_custom()),
            Sampler::AlwaysOn | Sampler::AlwaysOff | Sampler::TraceIdRatioBased(_) => false,
        }
    }

    /// This sampler's decision for `input`: what a custom sampler answers, or the built-in
    /// decision with the parent's trace state. Built-in samplers use this to be delegates of a
    /// custom one.
    pub fn should_sample_input(&self, input: &SamplingInput<'_>) -> SamplingResult {
        match self {
            Sampler::Custom(sampler) => sampler.should_sample(input),
            Sampler::ParentBased(delegates) => delegates.for_parent(input.parent()).should_sample_input(input),
            builtin => {
                let sampled = builtin.decide(input.parent(), || input.trace_id());
                SamplingResult { sampled, trace_state: None }
            }
        }
    }
}

impl ParentBased {
    /// The delegate that decides for a span under `parent`.
    #[inline(always)]
    fn for_parent(&self, parent: Option<&SpanContext>) -> &Sampler {
        match parent.filter(|p| p.is_valid()) {
            None => &self.root,
            Some(p) => match (p.is_remote(), p.is_sampled()) {
                (true, true) => &self.remote_parent_sampled,
                (true, false) => &self.remote_parent_not_sampled,
                (false, true) => &self.local_parent_sampled,
                (false, false) => &self.local_parent_not_sampled,
            },
        }
    }
}

impl Default for Sampler {
    /// `ParentBased(root = AlwaysOn)`, the specification's default.
    fn default() -> Self {
        Sampler::parent_based(Sampler::AlwaysOn)
    }
}

impl Sampler {
    /// A [`Sampler::ParentBased`] with `root` and the default delegates.
    #[must_use]
    pub fn parent_based(root: Sampler) -> Sampler {
        Sampler::ParentBased(Box::new(ParentBased {
            root,
            remote_parent_sampled: Sampler::AlwaysOn,
            remote_parent_not_sampled: Sampler::AlwaysOff,
            local_parent_sampled: Sampler::AlwaysOn,
            local_parent_not_sampled: Sampler::AlwaysOff,
        }))
    }

    /// Whether a span of trace `trace_id` under `parent` (`None` for a root span) is sampled. A
    /// custom sampler is asked with an empty name, [`SpanKind::Internal`] and no attributes.
    #[inline(always)]
    #[must_use]
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: TraceId) -> bool {
        self.decide(parent, || trace_id)
    }

    /// [`Sampler::should_sample`], asking for the trace id only if the decision reads it (only a
    /// ratio sampler does): elsewhere a root span's ids can wait until its context is read (see
    /// `LazyContext`).
    #[inline(always)]
    pub(crate) fn decide(&self, parent: Option<&SpanContext>, trace_id: impl FnOnce() -> TraceId) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatioBased(ratio) => ratio_samples(*ratio, trace_id()),
            Sampler::ParentBased(delegates) => delegates.for_parent(parent).decide(parent, trace_id),
            Sampler::Custom(sampler) => {
                let input = SamplingInput::new(parent, "", SpanKind::Internal, &[]);
                input.trace_id.set(trace_id());
                sampler.should_sample(&input).sampled
            }
        }
    }

    /// The specification's description string, e.g. `TraceIdRatioBased{0.25}`.
    #[must_use]
    pub fn description(&self) -> String {
        match self {
            Sampler::AlwaysOn => "AlwaysOnSampler".into(),
            Sampler::AlwaysOff => "AlwaysOffSampler".into(),
            Sampler::TraceIdRatioBased(ratio) => format!("TraceIdRatioBased{{{ratio}}}"),
            Sampler::ParentBased(d) => format!(
                "ParentBased{{root:{},remoteParentSampled:{},remoteParentNotSampled:{},localParentSampled:{},localParentNotSampled:{}}}",
                d.root.description(),
                d.remote_parent_sampled.description(),
                d.remote_parent_not_sampled.description(),
                d.local_parent_sampled.description(),
                d.local_parent_not_sampled.description()
            ),
            Sampler::Custom(sampler) => sampler.description(),
        }
    }

    /// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` choose (problems are
    /// recorded in `env` and the default is used).
    pub(crate) fn from_env(env: &mut EnvReader<'_>) -> Sampler {
        const NAME: &str = "OTEL_TRACES_SAMPLER";
        let Some(value) = env.text(NAME) else { return Sampler::default() };
        let ratio = |env: &mut EnvReader<'_>| {
            let Some(arg) = env.text("OTEL_TRACES_SAMPLER_ARG") else { return 1.0 };
            match arg.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    env.report(format!(
                        "OTEL_TRACES_SAMPLER_ARG={arg:?} is ignored: not a ratio between 0 and 1; using 1.0"
                    ));
                    1.0
                }
            }
        };
        match value.to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatioBased(ratio(env)),
            "parentbased_always_on" => Sampler::parent_based(Sampler::AlwaysOn),
            "parentbased_always_off" => Sampler::parent_based(Sampler::AlwaysOff),
            "parentbased_traceidratio" => Sampler::parent_based(Sampler::TraceIdRatioBased(ratio(env))),
            _ => {
                env.report(format!(
                    "{NAME}={value:?} is ignored: expected always_on, always_off, traceidratio, \
                     parentbased_always_on, parentbased_always_off or parentbased_traceidratio; \
                     using parentbased_always_on"
                ));
                Sampler::default()
            }
        }
    }
}

/// The Go/Rust SDK decision: the low 63 bits of the trace id's last 8 bytes against `ratio × 2⁶³`.
#[inline(always)]
fn ratio_samples(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    // `as` saturates: NaN and negative ratios give 0, which samples nothing.
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    (trace_id.low_word() >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanId, TraceFlags};

    fn parent(remote: bool, sampled: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes([1; 16]),
            SpanId::from_bytes([2; 8]),
            TraceFlags::NOT_SAMPLED.with_sampled(sampled),
            remote,
            Default::default(),
        )
    }

    #[test]
    fn parent_based_follows_the_matrix() {
        let id = TraceId::from_bytes([0xff; 16]);
        let sampler = Sampler::ParentBased(Box::new(ParentBased {
            root: Sampler::AlwaysOff,
            remote_parent_sampled: Sampler::AlwaysOff,
            remote_parent_not_sampled: Sampler::AlwaysOn,
            local_parent_sampled: Sampler::AlwaysOff,
            local_parent_not_sampled: Sampler::AlwaysOn,
        }));
        assert!(!sampler.should_sample(None, id));
        assert!(!sampler.should_sample(Some(&SpanContext::invalid()), id));
        assert!(!sampler.should_sample(Some(&parent(true, true)), id));
        assert!(sampler.should_sample(Some(&parent(true, false)), id));
        assert!(!sampler.should_sample(Some(&parent(false, true)), id));
        assert!(sampler.should_sample(Some(&parent(false, false)), id));
        let default = Sampler::default();
        assert!(default.should_sample(None, id));
        assert!(!default.should_sample(Some(&parent(true, false)), id));
        assert!(default.should_sample(Some(&parent(false, true)), id));
    }

    #[test]
    fn a_sampler_said_to_refuse_every_root_refuses_every_root() {
        let ids: Vec<TraceId> = (0..64u8).map(|i| TraceId::from_bytes([i.wrapping_mul(37) | 1; 16])).collect();
        let refusing = [
            Sampler::AlwaysOff,
            Sampler::parent_based(Sampler::AlwaysOff),
            Sampler::parent_based(Sampler::parent_based(Sampler::AlwaysOff)),
        ];
        for sampler in &refusing {
            assert_eq!(sampler.roots(), Roots::Refused);
            assert!(ids.iter().all(|id| !sampler.should_sample(None, *id)), "{}", sampler.description());
        }
        // Those that may sample a root are asked every time.
        for sampler in [Sampler::AlwaysOn, Sampler::parent_based(Sampler::AlwaysOn), Sampler::TraceIdRatioBased(0.5)] {
            assert_ne!(sampler.roots(), Roots::Refused);
            assert!(ids.iter().any(|id| sampler.should_sample(None, *id)), "{}", sampler.description());
        }
    }

    #[test]
    fn a_sampler_said_to_sample_every_root_samples_every_root() {
        let ids: Vec<TraceId> = (0..64u8).map(|i| TraceId::from_bytes([i.wrapping_mul(37) | 1; 16])).collect();
        let sampling =
            [Sampler::AlwaysOn, Sampler::default(), Sampler::parent_based(Sampler::parent_based(Sampler::AlwaysOn))];
        for sampler in &sampling {
            assert_eq!(sampler.roots(), Roots::Sampled);
            assert!(ids.iter().all(|id| sampler.should_sample(None, *id)), "{}", sampler.description());
        }
        // Those whose roots depend on the id, or on a sampler of the user's, are asked every time.
        let asked = [
            Sampler::AlwaysOff,
            Sampler::TraceIdRatioBased(0.5),
            Sampler::Custom(Arc::new(Fixed(true))),
            Sampler::parent_based(Sampler::Custom(Arc::new(Fixed(true)))),
        ];
        for sampler in &asked {
            assert_ne!(sampler.roots(), Roots::Sampled, "{}", sampler.description());
        }
    }

    struct Fixed(bool);

    impl ShouldSample for Fixed {
        fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingResult {
            let result = if self.0 { SamplingResult::RECORD_AND_SAMPLE } else { SamplingResult::DROP };
            result.with_trace_state(TraceState::parse(&format!("n={}", input.name().len())).unwrap())
        }

        fn description(&self) -> String {
            format!("Fixed{{{}}}", self.0)
        }
    }

    #[test]
    fn a_custom_sampler_is_found_among_the_delegates_and_asked() {
        let custom = Sampler::Custom(Arc::new(Fixed(false)));
        assert!(custom.asks_custom() && custom.roots() == Roots::Asked);
        let mut delegates = ParentBased {
            root: Sampler::AlwaysOn,
            remote_parent_sampled: Sampler::AlwaysOn,
            remote_parent_not_sampled: Sampler::AlwaysOff,
            local_parent_sampled: custom.clone(),
            local_parent_not_sampled: Sampler::AlwaysOff,
        };
        assert!(Sampler::ParentBased(Box::new(delegates.clone())).asks_custom());
        delegates.local_parent_sampled = Sampler::TraceIdRatioBased(0.5);
        assert!(!Sampler::ParentBased(Box::new(delegates)).asks_custom());
        assert!(!Sampler::default().asks_custom());

        let sampler = Sampler::parent_based(custom);
        assert!(sampler.description().starts_with("ParentBased{root:Fixed{false},"));
        let root = SamplingInput::new(None, "order", SpanKind::Client, &[]);
        let answer = sampler.should_sample_input(&root);
        assert_eq!(answer, SamplingResult::DROP.with_trace_state(TraceState::parse("n=5").unwrap()));
        // Under a sampled local parent the built-in delegate decides and keeps the parent's state.
        let local = parent(false, true);
        let child = SamplingInput::new(Some(&local), "risk", SpanKind::Internal, &[]);
        assert_eq!(sampler.should_sample_input(&child), SamplingResult::RECORD_AND_SAMPLE);
        assert_eq!(child.trace_id(), local.trace_id());
        assert!(!sampler.should_sample(None, TraceId::from_bytes([3; 16])));
    }

    #[test]
    fn ratio_uses_the_low_bytes_shifted() {
        let with_low = |low: u64| {
            let mut bytes = [0xffu8; 16];
            bytes[8..].copy_from_slice(&low.to_be_bytes());
            TraceId::from_bytes(bytes)
        };
        // 0.5 × 2⁶³ = 2⁶²: low >> 1 must be below it.
        assert!(ratio_samples(0.5, with_low((1 << 63) - 1)));
        assert!(!ratio_samples(0.5, with_low(1 << 63)));
        assert!(!ratio_samples(0.0, with_low(0)));
        assert!(ratio_samples(1.0, with_low(u64::MAX)));
        assert!(!ratio_samples(f64::NAN, with_low(0)));
    }

    #[test]
    fn env_names_and_bad_values() {
        let check = |vars: &[(&str, &str)], expected: Sampler, problems: usize| {
            let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let mut env = EnvReader::new(&lookup);
            assert_eq!(Sampler::from_env(&mut env), expected);
            assert_eq!(env.problems.len(), problems, "{:?}", env.problems);
        };
        check(&[], Sampler::default(), 0);
        check(&[("OTEL_TRACES_SAMPLER", "Always_Off")], Sampler::AlwaysOff, 0);
        check(
            &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.1")],
            Sampler::TraceIdRatioBased(0.1),
            0,
        );
        check(
            &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")],
            Sampler::parent_based(Sampler::TraceIdRatioBased(1.0)),
            1,
        );
        check(&[("OTEL_TRACES_SAMPLER", "xray")], Sampler::default(), 1);
        check(&[("OTEL_TRACES_SAMPLER_ARG", "0.5")], Sampler::default(), 0);
    }
}
