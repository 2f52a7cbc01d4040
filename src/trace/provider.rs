//! The tracer provider: sampler, limits and recorder shared by its tracers, one per
//! instrumentation scope.

use std::mem::ManuallyDrop;
use std::sync::{Arc, Weak};

use crate::attributes::{KeyValue, Text};
use crate::config::{process_env, EnvLookup, EnvReader, Lookup};
use crate::export::ring_source::{RingProvider, RingSource};
use crate::export::{Pipeline, RecordSink, Scope};
use crate::proto::trace::v1 as otlp;
use crate::Signal;

use super::context::{current_span_context, has_current, Context};
use super::lazy_context::LazyContext;
use super::limits::SpanLimits;
use super::record;
use super::recorder::{Recorder, RecorderRef};
use super::sampler::{Roots, Sampler};
use super::slab::SlotRef;
use super::span::{Span, SpanBuilder, SpanKind, SpanRecord};
use super::span_context::{SpanContext, SpanId};
use crate::buffer::scopes::ScopeList;
use crate::buffer::thread_rings::{RingOwner, Rings};

/// How many sampled spans each thread holds by default (open, or ended and waiting for the
/// exporter thread) before it drops new ones.
///
/// Sized so that a thread going from idle to 500 k spans a second loses nothing before the
/// exporter thread's next drain (the default poll interval, 20 ms, is 10,000 spans at that rate;
/// once it has seen the rings fill, the exporter thread drains them more often). The cost is
/// memory: 656 bytes a span (a 640-byte slot and a 16-byte ring entry), 10.3 MiB per thread that
/// records spans, allocated; resident only for the slots the thread has had in flight at once
/// (the slab's pages are backed when first written, and a thread whose spans the exporter keeps
/// up with reuses its first slots).
/// A process that ends fewer spans per thread can choose less with
/// [`TracerProviderBuilder::with_ring_capacity`]: a thread then keeps up to
/// `capacity / poll interval` spans a second from a standing start (1024: 51 k a second).
pub const DEFAULT_RING_CAPACITY: usize = 16384;

/// The most sampled spans a thread may hold ([`TracerProviderBuilder::with_ring_capacity`]):
/// 656 MiB of address space per recording thread, allocated at its first span. A larger capacity
/// is lowered to this one, with a warning: `usize::MAX` meant as "unlimited" once overflowed the
/// ring's size, a panic at each thread's first span.
pub const MAX_RING_CAPACITY: usize = 1 << 20;

/// Makes [`Tracer`]s and owns what they share: the sampler, the span limits, and the per-thread
/// rings ended spans wait in until the exporter thread takes them.
///
/// ```
/// use std::time::Duration;
/// use nanotel::export::Pipeline;
/// use nanotel_testing::TestCollector;
/// use nanotel::trace::TracerProvider;
///
/// let collector = TestCollector::start().unwrap();
/// let pipeline = Pipeline::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
/// let provider = TracerProvider::builder().without_env().build();
/// provider.attach(&pipeline);
/// let tracer = provider.tracer_with_version("gateway", "1.2.0");
/// tracer.in_span("order.send", |span| assert!(span.is_recording()));
/// pipeline.force_flush(Duration::from_secs(5)).unwrap();
/// assert_eq!(collector.accepted_items(nanotel::Signal::Traces), 1);
/// ```
#[derive(Clone)]
pub struct TracerProvider {
    inner: Arc<ProviderInner>,
}

struct ProviderInner {
    /// False for [`TracerProvider::disabled`]: spans are neither sampled nor given ids.
    enabled: bool,
    sampler: Sampler,
    /// Also holds the span limits. Kept alive by the slabs of spans that are still open too,
    /// which may outlive this provider (see [`Recorder`]).
    recorder: Arc<Recorder>,
    scopes: ScopeList,
}

impl Drop for ProviderInner {
    /// Nothing can attach the recorder to a pipeline any more: its spare slabs, and what its rings
    /// hold, go now rather than wait for a recorder they keep alive (see `thread_rings`).
    fn drop(&mut self) {
        self.recorder.rings().retire();
    }
}

/// A [`TracerProvider`] that does not keep it alive, for [`crate::global`]: the installed set holds
/// these,
/// so that a provider's state goes when the [`Telemetry`](crate::Telemetry) and the handles made
/// from it do, even though the set itself is never freed.
pub(crate) struct WeakTracerProvider(Weak<ProviderInner>);

impl WeakTracerProvider {
    /// The provider, while anything else still holds it.
    pub(crate) fn upgrade(&self) -> Option<TracerProvider> {
        self.0.upgrade().map(|inner| TracerProvider { inner })
    }
}

impl TracerProvider {
    /// A reference to this provider that does not keep it alive.
    pub(crate) fn downgrade(&self) -> WeakTracerProvider {
        WeakTracerProvider(Arc::downgrade(&self.inner))
    }
}

impl TracerProvider {
    /// A builder starting from the specification's defaults and the `OTEL_*` environment.
    pub fn builder() -> TracerProviderBuilder {
        TracerProviderBuilder::default()
    }

    /// A provider whose spans are no-ops, for a disabled SDK (`OTEL_SDK_DISABLED=true`): starting
    /// one generates no id, asks no sampler and reads no clock. A span started with an explicit
    /// parent ([`Tracer::span_with_parent`]) carries the parent's context, so propagation passes
    /// it on unchanged; other spans have an invalid context.
    ///
    /// ```
    /// use nanotel::trace::TracerProvider;
    ///
    /// let provider = TracerProvider::disabled();
    /// let tracer = provider.tracer("gateway");
    /// let span = tracer.span("order").start();
    /// assert!(!span.is_recording());
    /// assert!(!span.context().is_valid());
    /// ```
    #[must_use]
    pub fn disabled() -> TracerProvider {
        TracerProvider {
            inner: Arc::new(ProviderInner {
                enabled: false,
                sampler: Sampler::AlwaysOff,
                recorder: Arc::new(Recorder::new(0, SpanLimits::default(), false)),
                scopes: ScopeList::default(),
            }),
        }
    }

    /// Whether spans are recorded at all (false for [`TracerProvider::disabled`]).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The tracer of an instrumentation scope without a version.
    #[must_use]
    pub fn tracer(&self, name: &str) -> Tracer {
        self.tracer_of(name, None)
    }

    /// The tracer of an instrumentation scope and its version.
    #[must_use]
    pub fn tracer_with_version(&self, name: &str, version: &str) -> Tracer {
        self.tracer_of(name, Some(version))
    }

    fn tracer_of(&self, name: &str, version: Option<&str>) -> Tracer {
        let scope = self.inner.scopes.index_of_named(name, version.unwrap_or_default());
        let inner = &self.inner;
        let starts = Starts {
            // SAFETY: the tracer keeps the provider, which keeps a counted reference to its
            // recorder, for as long as the tracer (and so this copy) is used.
            recorder: unsafe { RecorderRef::new(&inner.recorder) },
            attribute_count: inner.recorder.limits().attribute_count,
            scope,
            enabled: inner.enabled,
            roots: inner.sampler.roots(),
            asks_custom: inner.sampler.asks_custom(),
        };
        Tracer { starts, provider: inner.clone() }
    }

    /// Sends this provider's spans through `pipeline`: its exporter thread drains the rings at
    /// every poll, on flush and at shutdown, and counts spans dropped for want of room as
    /// `queue_full`.
    ///
    /// A [disabled](TracerProvider::disabled) provider is not registered: it records nothing.
    ///
    /// One pipeline at a time: attached to a second while the first runs, the two share the items
    /// (each goes to the pipeline that drains it first), and what the first drains while it shuts
    /// down is counted `shutdown` there. Attach the next once the first has shut down.
    pub fn attach(&self, pipeline: &Pipeline) {
        if !self.inner.enabled {
            return;
        }
        self.inner.recorder.rings().attach();
        pipeline.add_record_source(RingSource::new(self.inner.clone()));
    }

    /// Takes up to `max` ended spans out of the rings on the calling thread, as OTLP spans with
    /// their scope, and returns how many spans were dropped since the last drain: for want of
    /// room, or ended by a thread-local destructor after their thread's buffer was gone, or by a
    /// thread whose buffers could not be allocated or were being made (from inside an allocation
    /// they made). For programs and tests without a pipeline; with one attached, its exporter thread
    /// does this.
    /// A drain that `sink` itself starts on this provider takes nothing.
    pub fn drain(&self, max: usize, mut sink: impl FnMut(&Scope, otlp::Span)) -> u64 {
        let limits = self.inner.recorder.limits().value_limits();
        self.inner.drain(max, |scope, record| sink(scope, record::to_proto(record, limits))).lost()
    }

    /// How many heap allocations spans of this provider made on the threads that record them
    /// since it was built: an events-and-links box when the thread had no spare at hand (its first
    /// spans with events or links, or more such spans waiting for the exporter at once than a
    /// thread keeps spares), a span outgrowing the room of its box (more than 16 events, 8 links
    /// or 32 of their attributes), and attributes past the 8 held inline (counted when the span
    /// is exported). Strings the program passes in are its own.
    #[must_use]
    pub fn heap_allocations(&self) -> u64 {
        self.inner.recorder.heap_allocations()
    }

    /// The sampler in force.
    #[must_use]
    pub fn sampler(&self) -> &Sampler {
        &self.inner.sampler
    }

    /// The span limits in force.
    #[must_use]
    pub fn limits(&self) -> &SpanLimits {
        self.inner.recorder.limits()
    }
}

#[cfg(test)]
impl TracerProvider {
    /// Takes every ended span out of the rings as its record, still in its slot.
    pub(crate) fn drain_records(&self, mut sink: impl FnMut(SpanRecord)) {
        self.inner.drain(usize::MAX, |_, record| sink(record));
    }
}

impl RingProvider for ProviderInner {
    const SIGNAL: Signal = Signal::Traces;
    type Owner = Recorder;

    fn rings(&self) -> &Rings<Recorder> {
        self.recorder.rings()
    }

    fn scopes(&self) -> &ScopeList {
        &self.scopes
    }

    fn scope_of(record: &SpanRecord) -> u32 {
        record.slot.data_ref().scope
    }

    fn deliver(&self, sink: &mut RecordSink<'_>, scope: &Scope, record: SpanRecord) {
        let limits = self.recorder.limits().value_limits();
        // The OTLP exporter's protobuf is written straight from the slot when nothing of the
        // user's needs the span's OTLP message (see `export::span_queue`).
        if sink.encodes_spans() {
            sink.send_encoded_span(scope, |scratch, out| record::write_wire(record, limits, scratch, out));
        } else {
            sink.send_span(scope, record::to_proto(record, limits));
        }
    }
}

/// Configures a [`TracerProvider`]. Settings made here win over the environment.
///
/// ```
/// use nanotel::trace::{Sampler, SpanLimits, TracerProvider};
///
/// let provider = TracerProvider::builder()
///     .with_env_lookup(|name| (name == "OTEL_SPAN_EVENT_COUNT_LIMIT").then(|| "16".to_string()))
///     .with_sampler(Sampler::parent_based(Sampler::TraceIdRatioBased(0.01)))
///     .build();
/// assert_eq!(provider.limits().event_count, 16);
/// ```
#[must_use = "a builder does nothing until built"]
pub struct TracerProviderBuilder {
    sampler: Option<Sampler>,
    limits: Option<SpanLimits>,
    lookup: Option<EnvLookup>,
    ring_capacity: usize,
    backed: bool,
}

impl Default for TracerProviderBuilder {
    fn default() -> Self {
        TracerProviderBuilder {
            sampler: None,
            limits: None,
            lookup: None,
            ring_capacity: DEFAULT_RING_CAPACITY,
            backed: false,
        }
    }
}

impl TracerProviderBuilder {
    /// Ignores the process environment.
    pub fn without_env(self) -> Self {
        self.with_env_lookup(|_| None)
    }

    /// Reads `OTEL_*` variables through `lookup` instead of the process environment.
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.lookup = Some(Box::new(lookup));
        self
    }

    /// The sampler (instead of `OTEL_TRACES_SAMPLER`).
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// The span limits (instead of the `OTEL_*_LIMIT` variables).
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// How many sampled spans each thread may hold, open or ended and waiting for the exporter
    /// thread, before new ones are dropped and counted (default [`DEFAULT_RING_CAPACITY`]). Each
    /// thread that starts a sampled span allocates this many slots once (640 bytes each) and as
    /// many ring entries (16 bytes each). At most [`MAX_RING_CAPACITY`]: a larger capacity is
    /// lowered to it when the provider is built, with a warning on stderr.
    pub fn with_ring_capacity(mut self, capacity: usize) -> Self {
        self.ring_capacity = capacity;
        self
    }

    /// Whether each thread's slots and ring entries are written whole when the thread starts its
    /// first sampled span (default `false`). Allocated lazily backed, a thread's memory costs only
    /// the spans it has had in flight, but the span that first writes each page (one per 6.4
    /// slots, the first time a thread has that many in flight) takes its page fault, about 25 µs
    /// on a 2-core VM. Backed at once, a thread's first span pays every fault, and no later one
    /// does; each recording thread's buffers are then resident whole (10.3 MiB at the default
    /// capacity).
    pub fn with_pages_backed_at_start(mut self, backed: bool) -> Self {
        self.backed = backed;
        self
    }

    /// Builds the provider, reporting problems found in the environment once on stderr. Also
    /// calibrates the clock now, so the first span does not.
    #[must_use]
    pub fn build(self) -> TracerProvider {
        let lookup: Lookup<'_> = self.lookup.as_deref().unwrap_or(&process_env);
        let mut env = EnvReader::new(lookup);
        let sampler = self.sampler.unwrap_or_else(|| Sampler::from_env(&mut env));
        let limits = self.limits.unwrap_or_else(|| SpanLimits::from_env(&mut env));
        crate::diag::config_problems(&env.problems);
        crate::clock::now_unix_nanos();
        TracerProvider {
            inner: Arc::new(ProviderInner {
                enabled: true,
                sampler,
                recorder: Arc::new(Recorder::new(
                    crate::diag::at_most(self.ring_capacity, MAX_RING_CAPACITY, "with_ring_capacity"),
                    limits,
                    self.backed,
                )),
                scopes: ScopeList::default(),
            }),
        }
    }
}

/// Starts spans for one instrumentation scope. Cheap to clone; `Send` and `Sync`.
#[derive(Clone)]
pub struct Tracer {
    starts: Starts,
    /// Keeps the sampler, and the recorder `starts` names.
    provider: Arc<ProviderInner>,
}

/// What starting a span reads of its provider, worked out or copied into each tracer when it is
/// made: a span then reads the caller's tracer rather than the provider's allocation, which every
/// tracer shares and which is one more line (and page) for a span whose caches went cold (only a
/// sampler that decides by the trace id or the parent is read there).
#[derive(Clone, Copy)]
struct Starts {
    recorder: RecorderRef,
    /// The provider's limit of attributes per span, which the builder applies.
    attribute_count: usize,
    scope: u32,
    /// False for [`TracerProvider::disabled`].
    enabled: bool,
    /// What the sampler decides for every root span (see [`Sampler::roots`]), so that a root the
    /// sampler refuses or samples whatever its id costs one load instead of a walk through the
    /// sampler and its boxed delegates (lines, and a table of jumps in read-only data, that a
    /// span whose caches went cold would miss).
    roots: Roots,
    /// The sampler holds a [`Sampler::Custom`]: spans take the path that gives it their name,
    /// kind and attributes (see `SpanBuilder::new_custom`).
    asks_custom: bool,
}

impl Tracer {
    /// A span to configure and start, a child of this thread's current span (or a new root).
    /// The name is usually a `&'static str` (no allocation).
    #[inline(always)]
    pub fn span(&self, name: impl Into<Text>) -> SpanBuilder<'_> {
        if !self.starts.enabled {
            return SpanBuilder::disabled(self, None);
        }
        // A root that the sampler refuses or samples whatever its id asks no more: its parent,
        // `None`, is never made (the compiler kept a store of it, and the parent's trace state's
        // drop, on these paths otherwise).
        match self.starts.roots {
            Roots::Refused if !has_current() => return SpanBuilder::refused_root(self),
            Roots::Sampled if !has_current() => return SpanBuilder::sampled_root(self, name),
            _ => {}
        }
        SpanBuilder::new(self, name, current_span_context())
    }

    /// A span that is a child of `parent`'s span, for work handed to another thread or task, or
    /// for a request whose context was extracted (a new root when `parent` has no span).
    #[inline(always)]
    pub fn span_with_parent(&self, name: impl Into<Text>, parent: &Context) -> SpanBuilder<'_> {
        if !self.starts.enabled {
            return SpanBuilder::disabled(self, Some(parent.span_context().clone()));
        }
        SpanBuilder::new(self, name, Some(parent.span_context().clone()))
    }

    /// A span of this kind with these initial attributes, a child of this thread's current span:
    /// a [custom sampler](super::ShouldSample) sees the kind and attributes when it decides (it
    /// sees [`SpanKind::Internal`] and none for the other ways to start a span). The attributes
    /// are cloned into the span when it records (cloning a static key or value copies no heap data).
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::trace::{SpanKind, TracerProvider};
    ///
    /// let provider = TracerProvider::builder().without_env().build();
    /// let tracer = provider.tracer("gateway");
    /// let span = tracer.span_with("order.send", SpanKind::Client, &[KeyValue::new("venue", "XNAS")]).start();
    /// assert!(span.is_recording());
    /// ```
    pub fn span_with(&self, name: impl Into<Text>, kind: SpanKind, attributes: &[KeyValue]) -> SpanBuilder<'_> {
        if !self.starts.enabled {
            return SpanBuilder::disabled(self, None);
        }
        self.span_with_under(name, kind, attributes, current_span_context())
    }

    /// [`span_with`](Tracer::span_with), a child of `parent`'s span instead of the current one
    /// (a new root when `parent` has no span): the sampler sees the kind and attributes, and the
    /// parent the context names.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// use nanotel::trace::{Context, SpanKind, TracerProvider};
    ///
    /// let provider = TracerProvider::builder().without_env().build();
    /// let tracer = provider.tracer("gateway");
    /// let request = tracer.span("request").start();
    /// let parent = Context::from_span_context(request.context().clone());
    /// let send = tracer.span_with_in(&parent, "order.send", SpanKind::Client, &[KeyValue::new("venue", "XNAS")]).start();
    /// assert_eq!(send.context().trace_id(), request.context().trace_id());
    /// ```
    pub fn span_with_in(
        &self,
        parent: &Context,
        name: impl Into<Text>,
        kind: SpanKind,
        attributes: &[KeyValue],
    ) -> SpanBuilder<'_> {
        if !self.starts.enabled {
            return SpanBuilder::disabled(self, Some(parent.span_context().clone()));
        }
        self.span_with_under(name, kind, attributes, Some(parent.span_context().clone()))
    }

    /// A builder of this kind with these attributes under `parent` (none or an invalid one: a
    /// root).
    fn span_with_under(
        &self,
        name: impl Into<Text>,
        kind: SpanKind,
        attributes: &[KeyValue],
        parent: Option<SpanContext>,
    ) -> SpanBuilder<'_> {
        let parent = parent.filter(SpanContext::is_valid);
        if parent.is_none() && self.refuses_roots() {
            return SpanBuilder::new(self, name, None);
        }
        if self.starts.asks_custom {
            return SpanBuilder::new_custom(self, name.into(), parent, kind, attributes);
        }
        let mut builder = SpanBuilder::new(self, name, parent);
        builder.with_kind(kind);
        builder.with_attributes(attributes.iter().cloned());
        builder
    }

    /// A span that starts a new trace, whatever is current.
    #[inline(always)]
    pub fn root_span(&self, name: impl Into<Text>) -> SpanBuilder<'_> {
        if !self.starts.enabled {
            return SpanBuilder::disabled(self, None);
        }
        SpanBuilder::new(self, name, None)
    }

    /// Runs `f` inside a new span that is current on this thread meanwhile, and ends it.
    pub fn in_span<T>(&self, name: impl Into<Text>, f: impl FnOnce(&mut Span) -> T) -> T {
        let mut span = self.span(name).start();
        let _entered = span.enter();
        f(&mut span)
    }

    #[inline(always)]
    pub(crate) fn sampler(&self) -> &Sampler {
        &self.provider.sampler
    }

    /// The provider's limit of attributes per span.
    #[inline(always)]
    pub(crate) fn attribute_count(&self) -> usize {
        self.starts.attribute_count
    }

    /// Whether the sampler holds a custom one.
    #[inline(always)]
    pub(crate) fn asks_custom(&self) -> bool {
        self.starts.asks_custom
    }

    /// Whether the sampler refuses every root span.
    #[inline(always)]
    pub(crate) fn refuses_roots(&self) -> bool {
        self.starts.roots == Roots::Refused
    }

    /// Whether the sampler samples every root span.
    #[inline(always)]
    pub(crate) fn samples_roots(&self) -> bool {
        self.starts.roots == Roots::Sampled
    }

    /// See [`Recorder::open`].
    ///
    /// # Safety
    /// As for [`Recorder::open`].
    #[inline(always)]
    pub(crate) unsafe fn open(
        &self,
        name: Text,
        context: &ManuallyDrop<LazyContext>,
        parent_span_id: SpanId,
        parent_is_remote: bool,
    ) -> Option<SlotRef> {
        let starts = self.starts;
        // SAFETY: the caller's guarantee; the tracer's provider keeps the recorder alive.
        unsafe { starts.recorder.arc().open(name, context, parent_span_id, parent_is_remote, starts.scope) }
    }
}
