//! Spans: started from a [`Tracer`], ended when the guard drops (or explicitly), and handed to the
//! recorder as one fixed-size record.

use std::error::Error;
use std::mem::ManuallyDrop;

use crate::attributes::{KeyValue, Text, Value};
use crate::clock::TickReader;

use super::context::ContextGuard;
use super::extras::{ExtrasLimits, SpanExtras};
use super::ids;
use super::lazy_context::LazyContext;
use super::limits::SpanLimits;
use super::provider::Tracer;
use super::recorder::{Recorder, RecorderRef};
use super::sampler::SamplingInput;
use super::slab::SlotRef;
use super::span_context::{SpanContext, SpanId, TraceFlags, TraceId};
use super::TraceState;
use crate::buffer::attributes::Attributes;

/// What a span represents, from OTLP's `SpanKind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// An operation inside the process (the default).
    #[default]
    Internal,
    /// The handling of an incoming request.
    Server,
    /// An outgoing request, such as an order sent to a venue.
    Client,
    /// A message sent for later processing.
    Producer,
    /// The processing of a message received.
    Consumer,
}

/// A span's outcome, by the specification's rules (see [`Span::set_status`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// No outcome set (the default).
    #[default]
    Unset,
    /// Marked successful by the application; final.
    Ok,
    /// Failed, with a description for developers.
    Error {
        /// What went wrong (may be empty).
        description: Text,
    },
}

impl Status {
    /// An error status with this description.
    pub fn error(description: impl Into<Text>) -> Status {
        Status::Error { description: description.into() }
    }
}

/// Everything a recording span carries besides its context.
///
/// In declaration order (`repr(C)`): what every span writes comes first and the inline attribute
/// slots last, so a span with few attributes touches few cache lines.
#[repr(C)]
pub(crate) struct SpanData {
    /// Its ids drawn when first read (usually by the exporter thread, when it encodes the span).
    pub context: LazyContext,
    pub name: Text,
    pub parent_span_id: SpanId,
    /// Clock ticks ([`crate::clock::ticks`]), converted when the span is exported.
    pub start: u64,
    /// Clock ticks, or Unix nanoseconds when `end_is_unix_nanos` (a span ended at a given time).
    pub end: u64,
    pub end_is_unix_nanos: bool,
    /// How the span reads the clock, in the line its times are written to (see `TickReader`).
    pub clock: TickReader,
    /// Events and links, in a box taken on the first one (a spare from the slab, see
    /// `extras`): most spans have none, and one pointer is less to write than three empty
    /// vectors and their counts.
    pub extras: Option<Box<SpanExtras>>,
    pub status: Status,
    pub kind: SpanKind,
    pub parent_is_remote: bool,
    /// The recorder the span ends into, and its tracer's scope: what a span that owns its
    /// handle needs of its tracer, kept in the slot rather than in the span.
    pub recorder: RecorderRef,
    pub scope: u32,
    pub attributes: Attributes,
}

impl SpanData {
    /// The limits of the span's provider.
    #[inline(always)]
    fn limits(&self) -> &SpanLimits {
        self.recorder.get().limits()
    }

    /// Writes a fresh span's data at `this` in place: the header fields and empty collections,
    /// leaving the inline attribute slots untouched (no copy of a whole `SpanData` is made).
    ///
    /// # Safety
    /// `this` must be valid for writes and properly aligned; whatever it held is overwritten
    /// without being dropped. Takes ownership of `*name` (read once, into place: see
    /// `Attributes::set_from`) and of `*context` (likewise): the caller must neither use nor
    /// drop them afterwards.
    #[inline(always)]
    pub(crate) unsafe fn init(
        this: *mut SpanData,
        name: &ManuallyDrop<Text>,
        context: &ManuallyDrop<LazyContext>,
        parent_span_id: SpanId,
        parent_is_remote: bool,
        (recorder, scope, clock): (RecorderRef, u32, TickReader),
    ) {
        use std::ptr::addr_of_mut;
        // SAFETY: the caller guarantees `this` is valid for writes and hands over `*name` and
        // `*context`; every field is written once.
        unsafe {
            addr_of_mut!((*this).context).write(std::ptr::read(&raw const **context));
            addr_of_mut!((*this).name).write(std::ptr::read(&raw const **name));
            addr_of_mut!((*this).kind).write(SpanKind::Internal);
            addr_of_mut!((*this).parent_span_id).write(parent_span_id);
            addr_of_mut!((*this).parent_is_remote).write(parent_is_remote);
            addr_of_mut!((*this).recorder).write(recorder);
            addr_of_mut!((*this).scope).write(scope);
            addr_of_mut!((*this).start).write(0);
            addr_of_mut!((*this).end).write(0);
            addr_of_mut!((*this).end_is_unix_nanos).write(false);
            addr_of_mut!((*this).clock).write(clock);
            Attributes::init(addr_of_mut!((*this).attributes));
            addr_of_mut!((*this).extras).write(None);
            addr_of_mut!((*this).status).write(Status::Unset);
        }
    }
}

/// An ended span as the recorder's ring holds it: its slot, whose data names the scope that made
/// it. (Two words, so that no ring entry straddles two cache lines.)
pub(crate) struct SpanRecord {
    /// The context and data, still in the slot they were written to when the span started.
    pub slot: SlotRef,
}

// Two words (see above): four entries to a cache line, none across two.
const _: () = assert!(std::mem::size_of::<SpanRecord>() == 16);

/// A span being set up: kind, attributes and links, before [`SpanBuilder::start`].
///
/// The sampling decision is made when the builder is made (by [`Tracer::span`],
/// [`Tracer::span_with_parent`], [`Tracer::root_span`] or [`Tracer::span_with`], which know the
/// parent), so a span that is not sampled never stores its attributes, and a sampled one writes
/// them straight into its slot.
///
/// ```
/// use nanotel::attributes::KeyValue;
/// use nanotel::trace::{SpanKind, TracerProvider};
///
/// let provider = TracerProvider::builder().without_env().build();
/// let tracer = provider.tracer("gateway");
/// let span = tracer
///     .span("order.send")
///     .with_kind(SpanKind::Client)
///     .with_attribute(KeyValue::new("order.qty", 100))
///     .start();
/// assert!(span.is_recording());
/// ```
#[must_use = "a span starts only with `start()`"]
pub struct SpanBuilder<'t> {
    tracer: &'t Tracer,
    /// Dropped by hand, as `data` is (see the `Drop` impl).
    context: ManuallyDrop<LazyContext>,
    data: ManuallyDrop<Option<SlotRef>>,
}

impl Drop for SpanBuilder<'_> {
    /// A started builder holds nothing, and this is a test. One that holds a slot or a context
    /// (never started) hands them by value to an out-of-line drop: the builder's own address is
    /// then passed to no function, on this path or on the unwinding one (a panic between its
    /// making and `start`), so the compiler may keep it in registers rather than write every
    /// field to the stack on every path (benches/README.md, tracing, session 25).
    #[inline(always)]
    fn drop(&mut self) {
        if self.data.is_some() || self.context.holds_context() {
            // SAFETY: the builder is being dropped: nothing reads its fields after this.
            let (context, data) = unsafe { self.take_parts() };
            drop_unstarted(context, data);
        }
    }
}

/// Drops what a builder that was never started holds.
#[inline(never)]
fn drop_unstarted(context: LazyContext, data: Option<SlotRef>) {
    drop(data);
    drop(context);
}

impl<'t> SpanBuilder<'t> {
    /// Asks the sampler about a span under `parent` (`None`: a new trace) and, if it is sampled,
    /// takes a slot for its data. A span's ids wait until its context is read, by the application
    /// or, for a recorded span, by the exporter thread (see `LazyContext`), except a root's trace
    /// id when the sampler decides by it.
    #[inline(always)]
    pub(crate) fn new(tracer: &'t Tracer, name: impl Into<Text>, parent: Option<SpanContext>) -> Self {
        let parent = parent.filter(SpanContext::is_valid);
        if parent.is_none() {
            // A new trace the sampler refuses, or samples, whatever its id (see `refused_root`).
            if tracer.refuses_roots() {
                return Self::refused_root(tracer);
            }
            if tracer.samples_roots() {
                return Self::sampled_root(tracer, name);
            }
        }
        if tracer.asks_custom() {
            return Self::new_custom(tracer, name.into(), parent, SpanKind::Internal, &[]);
        }
        let mut trace_id = parent.as_ref().map_or(TraceId::INVALID, SpanContext::trace_id);
        let sampled = tracer.sampler().decide(parent.as_ref(), || {
            if !trace_id.is_valid() {
                trace_id = ids::trace_id();
            }
            trace_id
        });
        Self::decided(tracer, name, parent, sampled, trace_id, None)
    }

    /// A builder holding `context` and `data`, which its `Drop` impl drops by hand.
    #[inline(always)]
    fn holding(tracer: &'t Tracer, context: LazyContext, data: Option<SlotRef>) -> Self {
        SpanBuilder { tracer, context: ManuallyDrop::new(context), data: ManuallyDrop::new(data) }
    }

    /// The builder of a new trace's root span that the sampler refuses: nothing to ask, and
    /// nothing known of the context but the ids to come.
    #[inline(always)]
    pub(crate) fn refused_root(tracer: &'t Tracer) -> Self {
        SpanBuilder::holding(tracer, LazyContext::new_root(false), None)
    }

    /// The builder of a new trace's root span that the sampler samples whatever its id: a slot
    /// opened for a context known but for the ids to come, with nothing of a parent made (no
    /// trace state to carry over or drop).
    #[inline(always)]
    pub(crate) fn sampled_root(tracer: &'t Tracer, name: impl Into<Text>) -> Self {
        Self::opened(tracer, name.into(), LazyContext::new_root(true), SpanId::INVALID, false)
    }

    /// [`SpanBuilder::new`] under a sampler with a [`ShouldSample`](super::ShouldSample) in it,
    /// which is told the name, kind and initial attributes (given to the span when it records).
    #[inline(always)]
    pub(crate) fn new_custom(
        tracer: &'t Tracer,
        name: Text,
        parent: Option<SpanContext>,
        kind: SpanKind,
        attributes: &[KeyValue],
    ) -> Self {
        let (context, data) = Self::custom_parts(tracer, name, parent, kind, attributes);
        Self::holding(tracer, context, data)
    }

    /// What [`new_custom`](Self::new_custom) holds, made out of line (the built-in samplers'
    /// path stays as small as it was) and returned by value: a builder returned from an
    /// out-of-line call is written through its address, which then keeps it in memory on every
    /// path (see the `Drop` impl).
    #[inline(never)]
    fn custom_parts(
        tracer: &'t Tracer,
        name: Text,
        parent: Option<SpanContext>,
        kind: SpanKind,
        attributes: &[KeyValue],
    ) -> (LazyContext, Option<SlotRef>) {
        let input = SamplingInput::new(parent.as_ref(), name.as_str(), kind, attributes);
        let result = tracer.sampler().should_sample_input(&input);
        // A trace state set for a new trace needs its trace id now (see `decided`).
        let trace_id = match result.trace_state {
            Some(_) => input.trace_id(),
            None => input.known_trace_id(),
        };
        let mut builder = Self::decided(tracer, name, parent, result.sampled, trace_id, result.trace_state);
        if builder.data.is_some() {
            builder.with_kind(kind);
            builder.with_attributes(attributes.iter().cloned());
        }
        let mut builder = ManuallyDrop::new(builder);
        // SAFETY: the builder is neither dropped nor used after this.
        unsafe { builder.take_parts() }
    }

    /// Moves the context and the slot out of the builder.
    ///
    /// # Safety
    /// Called once; the builder's fields are not used afterwards, nor dropped (its `Drop` impl
    /// is where this is called, or it is never run).
    #[inline(always)]
    unsafe fn take_parts(&mut self) -> (LazyContext, Option<SlotRef>) {
        // SAFETY: each field is read out once (the caller's promise), and `ManuallyDrop` keeps
        // the builder's drop glue from dropping them again.
        unsafe { (ManuallyDrop::take(&mut self.context), ManuallyDrop::take(&mut self.data)) }
    }

    /// The builder once the sampler has decided: `trace_id` is the parent's, the one drawn for
    /// the decision, or invalid (drawn when first read); `trace_state` replaces the parent's.
    #[inline(always)]
    fn decided(
        tracer: &'t Tracer,
        name: impl Into<Text>,
        parent: Option<SpanContext>,
        sampled: bool,
        trace_id: TraceId,
        trace_state: Option<TraceState>,
    ) -> Self {
        let (flags, parent_state, parent_span_id, parent_is_remote) = match parent {
            Some(parent) => (
                parent.trace_flags().with_sampled(sampled),
                parent.trace_state().clone(),
                parent.span_id(),
                parent.is_remote(),
            ),
            None => (TraceFlags::NOT_SAMPLED.with_sampled(sampled), Default::default(), SpanId::INVALID, false),
        };
        let trace_state = trace_state.unwrap_or(parent_state);
        if !sampled {
            let context = if trace_id.is_valid() {
                LazyContext::span_id_pending(SpanContext::new(trace_id, SpanId::INVALID, flags, false, trace_state))
            } else {
                // A new trace, not sampled, local, no trace state: only the ids are missing.
                LazyContext::new_root(false)
            };
            return SpanBuilder::holding(tracer, context, None);
        }
        let context = if trace_id.is_valid() {
            LazyContext::span_id_pending(SpanContext::new(trace_id, SpanId::INVALID, flags, false, trace_state))
        } else {
            LazyContext::new_root(true)
        };
        // The name becomes a `Text` only here: a refused span never makes one.
        Self::opened(tracer, name.into(), context, parent_span_id, parent_is_remote)
    }

    /// The builder of a sampled span: a slot taken for its data. The context moves into the slot
    /// with the rest of the span's data; the builder keeps it only when there is no slot (every
    /// slot of this thread is taken: the span is dropped).
    #[inline(always)]
    fn opened(
        tracer: &'t Tracer,
        name: Text,
        context: LazyContext,
        parent_span_id: SpanId,
        parent_is_remote: bool,
    ) -> Self {
        let context = ManuallyDrop::new(context);
        // SAFETY: `context` is moved out of below only when no slot took it.
        match unsafe { tracer.open(name, &context, parent_span_id, parent_is_remote) } {
            Some(slot) => SpanBuilder::holding(tracer, LazyContext::elsewhere(), Some(slot)),
            None => SpanBuilder::holding(tracer, ManuallyDrop::into_inner(context).into_unsampled(), None),
        }
    }

    /// The builder of a span under a disabled provider: no id, no sampling, no slot. It carries
    /// `parent` (an explicit parent) unchanged, as the API's no-op spans do.
    #[inline(always)]
    pub(crate) fn disabled(tracer: &'t Tracer, parent: Option<SpanContext>) -> Self {
        SpanBuilder::holding(tracer, LazyContext::ready(parent.unwrap_or_default()), None)
    }

    /// The span's kind (default [`SpanKind::Internal`]).
    #[inline(always)]
    pub fn with_kind(&mut self, kind: SpanKind) -> &mut Self {
        if let Some(slot) = &mut *self.data {
            slot.data().kind = kind;
        }
        self
    }

    /// Adds an attribute (held in place up to [`INLINE_ATTRIBUTES`](super::INLINE_ATTRIBUTES)).
    #[inline(always)]
    pub fn with_attribute(&mut self, attribute: KeyValue) -> &mut Self {
        match &mut *self.data {
            Some(slot) => {
                // Read where the caller made it, not moved first (see `Attributes::set_from`).
                let attribute = ManuallyDrop::new(attribute);
                // SAFETY: `attribute` is neither used nor dropped after this call.
                unsafe { slot.data().attributes.set_from(&attribute, self.tracer.attribute_count()) };
            }
            None => discard(attribute),
        }
        self
    }

    /// Adds attributes.
    pub fn with_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) -> &mut Self {
        if let Some(slot) = &mut *self.data {
            let limit = self.tracer.attribute_count();
            for attribute in attributes {
                slot.data().attributes.set(attribute, limit);
            }
        }
        self
    }

    /// Links the span to another span (no allocation on a warm thread, as for
    /// [`Span::add_event`]).
    pub fn with_link(&mut self, context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>) -> &mut Self {
        if let Some(slot) = &mut *self.data {
            add_link(slot, context, attributes);
        }
        self
    }

    /// The context the span will have (valid even when it is not sampled).
    pub fn context(&self) -> &SpanContext {
        context_of(self.data.as_ref(), &self.context)
    }

    /// Starts the span: reads the clock if it is sampled.
    ///
    /// Builders are set up in place (`&mut self`, as `std::process::Command` is), so the chain
    /// `tracer.span(..).with_kind(..).start()` never moves the builder; starting takes its
    /// contents, and a builder started twice gives an empty, invalid span the second time.
    #[inline(always)]
    pub fn start(&mut self) -> Span {
        match self.data.take() {
            // A recorded span's context is in its slot (the builder holds none). Said again: for
            // a custom sampler's builder, made out of line, the compiler could not tell, and so
            // kept a test and an out-of-line call to drop what the builder held after `start`,
            // whose unwinding path passed the new span's address to its drop glue, keeping the
            // span in memory (benches/README.md, tracing, session 26).
            Some(mut slot) => {
                self.context.set_elsewhere();
                let data = slot.data();
                data.start = data.clock.ticks();
                Span::holding(LazyContext::elsewhere(), Some(slot))
            }
            // A refused root's span gets a fresh blank, not one moved through a temporary (see
            // `LazyContext::take_blank`).
            None => match self.context.take_blank() {
                Some(blank) => Span::holding(blank, None),
                None => Span::holding(self.context.take(), None),
            },
        }
    }
}

/// A started span. It ends when dropped, or with [`Span::end`]; ending reads the clock once more
/// and moves the span into this thread's recorder ring, which never blocks.
///
/// A span that was not sampled keeps its context (children and propagation see it) and ignores
/// everything else.
///
/// A span owns what it needs (`'static`, `Send` and `Sync`): it may move into a spawned thread or
/// task and end there, after its tracer is gone; it then goes into the ending thread's ring. Its
/// slot keeps the provider's recorder alive meanwhile, not a count on the tracer, so starting and
/// ending a span touches nothing shared with other threads. A span that ends after its provider's
/// pipelines have shut down is counted as dropped (`shutdown`).
///
/// ```
/// use nanotel::attributes::KeyValue;
/// use nanotel::trace::{Status, TracerProvider};
///
/// let provider = TracerProvider::builder().without_env().build();
/// let tracer = provider.tracer("gateway");
/// let mut span = tracer.span("order.send").start();
/// span.set_attribute(KeyValue::new("venue", "XNAS"));
/// span.add_event("ack", [KeyValue::new("latency_us", 12)]);
/// let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "venue did not answer");
/// span.record_exception(&err);
/// span.set_status(Status::error("timed out"));
/// span.end();
///
/// // Handed to another thread, with nothing borrowed.
/// let mut fill = tracer.span("order.fill").start();
/// std::thread::spawn(move || {
///     fill.set_attribute(KeyValue::new("fill.qty", 100));
///     fill.end();
/// })
/// .join()
/// .unwrap();
/// ```
#[must_use = "a span ends when dropped: keep it for the work it times"]
pub struct Span {
    context: LazyContext,
    /// Read out by `Drop` (or taken by `end_at`), never dropped in place: `ManuallyDrop` leaves
    /// the span's drop glue nothing to do for it beyond `Drop::drop`, small enough to inline
    /// where the span ends.
    data: ManuallyDrop<Option<SlotRef>>,
}

impl Span {
    /// A span holding `context` and `data`.
    #[inline(always)]
    fn holding(context: LazyContext, data: Option<SlotRef>) -> Span {
        Span { context, data: ManuallyDrop::new(data) }
    }

    /// The span's context: valid even when the span is not sampled.
    pub fn context(&self) -> &SpanContext {
        context_of(self.data.as_ref(), &self.context)
    }

    /// Whether the span is recorded (it was sampled).
    pub fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    /// Makes this span the current one on this thread until the guard drops, so spans started
    /// meanwhile are its children.
    #[inline(always)]
    pub fn enter(&self) -> ContextGuard {
        ContextGuard::enter(self.context().clone())
    }

    /// [`Span::enter`] through exclusive access, which draws pending ids without an atomic
    /// read-modify-write (for the `tracing` layer, which holds its spans under a lock).
    #[cfg(feature = "tracing")]
    #[inline(always)]
    pub(crate) fn enter_exclusive(&mut self) -> ContextGuard {
        let context = match &mut *self.data {
            Some(slot) => slot.data().context.get_exclusive(),
            None => self.context.get_exclusive(),
        };
        ContextGuard::enter(context.clone())
    }

    /// Sets an attribute, replacing the value of an existing key; a new key over the limit is
    /// dropped and counted.
    #[inline(always)]
    pub fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(slot) = &mut *self.data {
            let attribute = ManuallyDrop::new(attribute);
            let limit = slot.data_ref().limits().attribute_count;
            // SAFETY: `attribute` is neither used nor dropped after this call.
            unsafe { slot.data().attributes.set_from(&attribute, limit) };
        }
    }

    /// Sets several attributes.
    pub fn set_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        for attribute in attributes {
            self.set_attribute(attribute);
        }
    }

    /// Renames the span.
    pub fn update_name(&mut self, name: impl Into<Text>) {
        if let Some(slot) = &mut *self.data {
            slot.data().name = name.into();
        }
    }

    /// Changes the kind after the start, for bridges whose spans learn their kind late (the
    /// `tracing` layer's `otel.kind` recorded after the span was made). The sampler decided
    /// with the kind known at the start.
    #[cfg(feature = "tracing")]
    pub(crate) fn set_kind(&mut self, kind: SpanKind) {
        if let Some(slot) = &mut *self.data {
            slot.data().kind = kind;
        }
    }

    /// Adds an event, timestamped now. Events and links share a box the thread recycles: a warm
    /// thread's span with up to 16 events, 8 links and 32 of their attributes in all allocates
    /// nothing (see the README); past that, or before the thread has spares, it allocates (counted,
    /// [`TracerProvider::heap_allocations`](super::TracerProvider::heap_allocations)).
    pub fn add_event(&mut self, name: impl Into<Text>, attributes: impl IntoIterator<Item = KeyValue>) {
        let Some(slot) = &mut *self.data else { return };
        let clock = slot.data_ref().clock;
        with_extras(
            slot,
            |limits| (limits.event_count, limits.attributes_per_event),
            |extras, limits| extras.add_event(name.into(), clock.ticks(), attributes, limits),
        );
    }

    /// Links this span to another (no allocation on a warm thread, as for [`Span::add_event`]).
    pub fn add_link(&mut self, context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>) {
        if let Some(slot) = &mut *self.data {
            add_link(slot, context, attributes);
        }
    }

    /// Sets the status: `Ok` is final, `Unset` is ignored, otherwise the last call wins.
    pub fn set_status(&mut self, status: Status) {
        let Some(slot) = &mut *self.data else { return };
        let data = slot.data();
        if data.status == Status::Ok || status == Status::Unset {
            return;
        }
        data.status = status;
    }

    /// Marks the span failed, with no description, unless its status was set: the `tracing`
    /// layer's error events, which keep a description set before (`otel.status_message`, an
    /// `error` field) as `tracing-opentelemetry` does; until session 39 they wiped it.
    #[cfg(feature = "tracing")]
    pub(crate) fn fail_unless_set(&mut self) {
        let Some(slot) = &mut *self.data else { return };
        let data = slot.data();
        if data.status == Status::Unset {
            data.status = Status::error("");
        }
    }

    /// Records an error as the semantic conventions' `exception` event, with `exception.type` (the
    /// error's Rust type; left out for a trait object such as `&dyn Error`, whose type name says
    /// nothing of the error) and `exception.message` (its text, with its sources after `: `). The
    /// status is left to the caller.
    pub fn record_exception<E: Error + ?Sized>(&mut self, error: &E) {
        if self.data.is_none() {
            return;
        }
        let message = KeyValue::new("exception.message", crate::attributes::error_text(error));
        let kind = crate::attributes::error_type::<E>().map(|kind| KeyValue::new("exception.type", kind));
        self.add_event("exception", kind.into_iter().chain([message]));
    }

    /// Ends the span now (dropping it does the same).
    #[inline(always)]
    pub fn end(self) {}

    /// Ends the span at a given time, in nanoseconds since the Unix epoch (a time before the
    /// span's start is taken as its start).
    pub fn end_at(mut self, unix_nanos: u64) {
        if let Some(slot) = self.data.take() {
            record(slot, Some(unix_nanos));
        }
    }
}

/// Ends a sampled span. Kept out of line so that dropping a refused span, which has nothing to
/// record, stays a test and a branch where the span lives; given the slot by value, not the
/// span's address, which would keep the span in memory on every path (as for the builder: see
/// its `Drop` impl).
#[inline(never)]
fn record(slot: SlotRef, at: Option<u64>) {
    Recorder::record(slot, |data| match at {
        None => data.end = data.clock.ticks(),
        Some(unix_nanos) => (data.end, data.end_is_unix_nanos) = (unix_nanos, true),
    });
}

impl Drop for Span {
    #[inline(always)]
    fn drop(&mut self) {
        // Read out, not taken: `Option::take` would store `None` back, a store every refused
        // span pays. Recording takes the slot (to the ring, or dropped and counted), so the
        // `ManuallyDrop` leaks nothing.
        // SAFETY: the span is being dropped: `data` is read once, and nothing reads it after.
        if let Some(slot) = unsafe { ManuallyDrop::take(&mut self.data) } {
            record(slot, None);
        }
    }
}

/// A builder's or span's context: in its slot when it has one, else the one it holds.
#[inline(always)]
fn context_of<'a>(slot: Option<&'a SlotRef>, held: &'a LazyContext) -> &'a SpanContext {
    match slot {
        Some(slot) => slot.data_ref().context.get(),
        None => held.get(),
    }
}

/// Drops an attribute a span that is not recorded was given, without a call into the drop glue
/// for the usual case of a static key with a scalar or static string value (nothing to free).
#[inline(always)]
fn discard(attribute: KeyValue) {
    let nothing_owned = matches!(attribute.key, Text::Static(_))
        && matches!(attribute.value, Value::Bool(_) | Value::I64(_) | Value::F64(_) | Value::Str(Text::Static(_)));
    if nothing_owned {
        std::mem::forget(attribute);
    } else {
        drop(attribute);
    }
}

/// Adds a link, unless it is to an invalid context and carries neither attributes nor a trace
/// state: the specification records such a link only with something on it (until session 41 an
/// empty one was exported, its ids zero).
fn add_link(slot: &mut SlotRef, context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>) {
    let mut attributes = attributes.into_iter().peekable();
    if !context.is_valid() && context.trace_state().is_empty() && attributes.peek().is_none() {
        return;
    }
    with_extras(
        slot,
        |limits| (limits.link_count, limits.attributes_per_link),
        |extras, limits| extras.add_link(context, attributes, limits),
    );
}

/// Runs `add` on the span's events-and-links box, with the limits `pick` takes from the span
/// limits (how many items, how many attributes each) and the recorder's allocation counter.
fn with_extras(
    slot: &mut SlotRef,
    pick: fn(&SpanLimits) -> (usize, usize),
    add: impl FnOnce(&mut SpanExtras, &ExtrasLimits<'_>),
) {
    let recorder = slot.data_ref().recorder;
    let recorder = recorder.get();
    let (count, attributes) = pick(recorder.limits());
    let allocated = || recorder.count_heap_allocation();
    add(extras_of(slot), &ExtrasLimits { count, attributes, allocated: &allocated });
}

/// The span's events-and-links box, taken on first use: a spare from its slab, else a new one
/// (counted).
fn extras_of(slot: &mut SlotRef) -> &mut SpanExtras {
    if slot.data_ref().extras.is_none() {
        let extras = slot.spare_extras().unwrap_or_else(|| {
            slot.data_ref().recorder.get().count_heap_allocation();
            Box::default()
        });
        slot.data().extras = Some(extras);
    }
    slot.data().extras.get_or_insert_with(Box::default)
}
