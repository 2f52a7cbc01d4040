//! The `tracing` layer (feature `tracing`): `tracing` spans become nanotel spans, and `tracing`
//! events OTLP log records (or span events), so a program and the libraries it uses (tokio,
//! hyper, reqwest) instrumented with `tracing` export through nanotel.
//!
//! # The protocol
//!
//! - A `tracing` span is a nanotel span from its `new_span` to its close (when its last handle
//!   drops), however often it is entered. Its name is the span's name, or the `otel.name` field;
//!   its attributes are `tracing.target` (the target) and the fields, typed: integers as integers
//!   (a `u64` or 128-bit value beyond `i64` as its digits), floats, bools, strings and bytes as
//!   such, `Debug` values and errors as text (an error with its sources after `: `). Fields
//!   recorded later (`span.record(..)`) are set then.
//! - Its parent is the explicit `parent:` span's nanotel span; otherwise the current nanotel
//!   context, which is the current `tracing` span's (entering a `tracing` span makes its nanotel
//!   span current), or a nanotel span entered inside it (the innermost wins), or a context
//!   attached or entered outside any `tracing` span. A span made with `parent: None` starts a new
//!   trace. nanotel's sampler decides as for any span: a span it refuses takes no slot, and
//!   its children follow its decision.
//! - `follows_from` links the span to the other span.
//! - Conventional fields: `otel.name` names the span; `otel.kind` (`server`, `client`,
//!   `producer`, `consumer`, `internal`, any case) sets its kind (recorded later too: the
//!   sampler decided with the kind the span was made with; a sampler of the program's is told
//!   the kind, name and fields the span is made with, read first, one allocation a span);
//!   `otel.status_code` (`ok` or `error`) and `otel.status_message` (also spelled
//!   `otel.status_description`, which implies `error`) set its status. None of these becomes an
//!   attribute. An `error` field (other than `false`) sets the status to error, its text the
//!   description, and stays an attribute. Status rules are the span's: `Ok` is final, otherwise
//!   the last one set wins.
//! - Entering the span makes its context current on this thread (see [`Context`]), so nanotel
//!   spans and log records made inside are its children; exiting restores what was current (see
//!   `entered.rs` for spans exited out of order or on another thread).
//! - An event becomes a log record through the layer's [`Logger`]: the level is the severity
//!   (`ERROR` 17, `WARN` 13, `INFO` 9, `DEBUG` 5, `TRACE` 1), the `message` field the body, the
//!   other fields attributes typed as above, plus `tracing.target`, `code.file.path` and
//!   `code.line.number` (for a `log` record forwarded by `tracing-log`, from its `log.target`,
//!   `log.file` and `log.line` fields). It carries the ids of its explicit `parent:` span, else of the current
//!   context (the innermost entered span, `tracing` or nanotel). With
//!   [`NanotelLayer::with_span_events`], an event in a span is instead added to that span as an
//!   event named by its message, with `level` and `tracing.target` attributes; an event outside
//!   any span is still a log record.
//! - Cost: a string value or message is copied into a shared string, and a short one seen before
//!   on the thread is that copy again (see `attributes/interned.rs`): no allocation. The nanotel span lives
//!   in the layer's own table keyed by the `tracing` span id (see `spans.rs`): no allocation, and
//!   no registry lookup when the span is entered, recorded or closed. When the table's bucket for
//!   an id is full (more live spans than [`NanotelLayer::with_span_capacity`] allows for), that
//!   span lives in the registry's extensions instead, which box it: correct, one allocation
//!   slower.
//! - Spans and events on nanotel's own threads (the exporter's, the Prometheus endpoint's, the test
//!   collector's: their HTTP, gRPC and TLS libraries use `tracing`) are ignored: recorded, they
//!   would feed themselves, each export making records to export.
//!
//! [`Context`]: crate::trace::Context
//! [`Logger`]: crate::logs::Logger

mod entered;
mod events;
mod fields;
mod spans;

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::attributes::{KeyValue, Text};
use crate::logs::Logger;
use crate::own_threads;
use crate::trace::{Context, Span, SpanBuilder, SpanContext, SpanKind, Status, Tracer};

use fields::{span_field, SpanField, Typed};
use spans::SpanTable;

/// Live spans the layer's table has room for by default: a span that finds no room lives in the
/// registry's extensions (one allocation).
const DEFAULT_SPAN_CAPACITY: usize = 1024;

/// The most live spans the layer's table takes ([`NanotelLayer::with_span_capacity`]): 96 MiB,
/// allocated and written when the layer is made. A larger capacity is lowered to this one, with a
/// warning: `usize::MAX` meant as "unlimited" once overflowed the table's size: a panic when the
/// layer was made (a debug build) or at its first span (a release build's table had no entries).
pub const MAX_SPAN_CAPACITY: usize = 1 << 20;

/// A [`tracing_subscriber::Layer`] recording `tracing` spans as nanotel spans of its [`Tracer`]
/// and `tracing` events as log records of its [`Logger`]. See the [module documentation](self)
/// for the mapping.
///
/// ```
/// use nanotel::logs::LoggerProvider;
/// use nanotel::trace::TracerProvider;
/// use nanotel::tracing_layer::NanotelLayer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let tracers = TracerProvider::builder().without_env().build();
/// let loggers = LoggerProvider::builder().without_env().build();
/// let layer = NanotelLayer::new(tracers.tracer("tracing"), loggers.logger("tracing"));
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let order = tracing::info_span!("order", venue = "XNAS", qty = 100);
///     let _entered = order.enter();
///     tracing::info!(price = 187.25, "order sent");
/// });
/// let (mut spans, mut records) = (0, 0);
/// tracers.drain(usize::MAX, |_, _| spans += 1);
/// loggers.drain(usize::MAX, |_, _| records += 1);
/// assert_eq!((spans, records), (1, 1));
/// ```
pub struct NanotelLayer {
    tracer: Tracer,
    logger: Logger,
    span_events: bool,
    /// The nanotel spans of live `tracing` spans.
    spans: SpanTable<Span>,
    /// Whether a span ever found no room in `spans` and went to the registry's extensions: until
    /// then, an id missing from the table is one the layer does not record, and the extensions
    /// need not be looked at.
    spilled: AtomicBool,
}

impl std::fmt::Debug for NanotelLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NanotelLayer").field("span_events", &self.span_events).finish_non_exhaustive()
    }
}

impl NanotelLayer {
    /// A layer starting spans with `tracer` and emitting events through `logger` (their scopes
    /// name where the spans and records come from).
    #[must_use]
    pub fn new(tracer: Tracer, logger: Logger) -> NanotelLayer {
        NanotelLayer {
            tracer,
            logger,
            span_events: false,
            spans: SpanTable::new(DEFAULT_SPAN_CAPACITY),
            spilled: AtomicBool::new(false),
        }
    }

    /// How many live `tracing` spans the layer keeps in its own table (default 1024; 96 bytes
    /// each, allocated when the layer is made: 96 KiB). A span that finds no room (more live
    /// spans than that, or a full bucket of the table, which starts to happen past about three
    /// quarters of it) is kept in the registry's extensions instead, which allocate one box per
    /// span. At most [`MAX_SPAN_CAPACITY`]: a larger capacity is lowered to it, with a warning
    /// on stderr.
    #[must_use]
    pub fn with_span_capacity(mut self, capacity: usize) -> NanotelLayer {
        self.spans = SpanTable::new(crate::diag::at_most(capacity, MAX_SPAN_CAPACITY, "with_span_capacity"));
        self
    }

    /// Whether an event inside a span is added to that span as a span event instead of being
    /// emitted as a log record (default `false`). Neither allocates on a warm thread while a span
    /// keeps to 16 events (see [`Span::add_event`](crate::trace::Span::add_event)).
    #[must_use]
    pub fn with_span_events(mut self, span_events: bool) -> NanotelLayer {
        self.span_events = span_events;
        self
    }

    /// The parent of the span for a `tracing` span with `attributes`: an explicit parent's span,
    /// none for an explicit root, else the current context. An explicit parent the layer made no
    /// span for (one its per-layer filter skipped) starts a new trace, as `tracing-opentelemetry`
    /// does: until session 39 the span went under whatever was current on the thread, another
    /// task's span as often as not.
    fn parent_of<S>(&self, attributes: &Attributes<'_>, ctx: &LayerContext<'_, S>) -> Parent
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if attributes.is_root() {
            return Parent::Root;
        }
        let Some(explicit) = attributes.parent() else {
            // The current `tracing` span, if any, made its span current when entered; a nanotel
            // span entered since is the innermost, and current.
            return Parent::Current;
        };
        match self.context_of(explicit, ctx) {
            Some(parent) => Parent::Explicit(Context::from_span_context(parent)),
            None => Parent::Root,
        }
    }

    /// The builder of the span for a `tracing` span with `attributes`, under its parent.
    fn builder<S>(&self, attributes: &Attributes<'_>, ctx: &LayerContext<'_, S>) -> SpanBuilder<'_>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let name = attributes.metadata().name();
        match self.parent_of(attributes, ctx) {
            Parent::Root => self.tracer.root_span(name),
            Parent::Explicit(parent) => self.tracer.span_with_parent(name, &parent),
            Parent::Current => self.tracer.span(name),
        }
    }

    /// The span for a `tracing` span under a sampler of the program's, which decides on the
    /// span's name, kind and initial attributes: the fields are read first (into a vector, one
    /// allocation, on this path only), then the span is asked for with them. Until session 39
    /// such a sampler saw every span as `Internal` and without attributes (`otel.kind` set
    /// after its decision), as it does for `Tracer::span`.
    #[cold]
    #[inline(never)]
    fn new_span_asking<S>(&self, attributes: &Attributes<'_>, ctx: &LayerContext<'_, S>) -> Span
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let metadata = attributes.metadata();
        // Room for the target and every field at once: the one allocation.
        let mut initial = Vec::with_capacity(1 + metadata.fields().len());
        initial.push(KeyValue::new(events::TARGET, Text::Static(metadata.target())));
        let (mut kind, mut name, mut status) = (SpanKind::Internal, None, None);
        attributes.record(&mut Typed(|field, value| {
            span_field(field, value, |field| match field {
                SpanField::Attribute(attribute) => initial.push(attribute),
                SpanField::Kind(set) => kind = set,
                SpanField::Name(text) => name = Some(text),
                SpanField::Status(set) => status = later_status(status.take(), set),
            });
        }));
        let name = name.unwrap_or(Text::Static(metadata.name()));
        let mut builder = match self.parent_of(attributes, ctx) {
            Parent::Root => {
                self.tracer.span_with_in(&Context::from_span_context(SpanContext::invalid()), name, kind, &initial)
            }
            Parent::Explicit(parent) => self.tracer.span_with_in(&parent, name, kind, &initial),
            Parent::Current => self.tracer.span_with(name, kind, &initial),
        };
        let mut span = builder.start();
        if let Some(status) = status {
            span.set_status(status);
        }
        span
    }
}

/// Where a span for a `tracing` span goes.
enum Parent {
    /// `parent: None`: a new trace.
    Root,
    /// An explicit `parent:` the layer made a span for.
    Explicit(Context),
    /// The current context.
    Current,
}

/// The status to set once the span starts, after `set` comes: as the span's own rule, `Ok` is
/// final, otherwise the last one wins.
fn later_status(before: Option<Status>, set: Status) -> Option<Status> {
    if before == Some(Status::Ok) {
        before
    } else {
        Some(set)
    }
}

/// What a `tracing` span's extensions hold when the layer's table had no room for it: its
/// nanotel span, ended when the `tracing` span closes.
struct Recorded(Span);

impl NanotelLayer {
    /// Runs `f` on the nanotel span of the `tracing` span `id`, if the layer made one; `None`
    /// otherwise. `f` runs under a lock: it must not format values or call user code.
    #[inline]
    fn with_span<S, R>(&self, id: &Id, ctx: &LayerContext<'_, S>, f: impl FnOnce(&mut Span) -> R) -> Option<R>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut f = Some(f);
        // `f` is taken by whichever place holds the span: at most one does.
        let found = self.spans.with(id.into_u64(), |span| f.take().map(|f| f(span)));
        match found {
            Some(result) => result,
            // Acquire pairs with the Release in `keep`: a span stored there before is seen.
            None if self.spilled.load(Ordering::Acquire) => {
                let registered = ctx.span(id)?;
                let mut extensions = registered.extensions_mut();
                let Recorded(span) = extensions.get_mut::<Recorded>()?;
                f.take().map(|f| f(span))
            }
            None => None,
        }
    }

    /// Keeps `span` for the `tracing` span `id`: in the layer's table, or the registry's
    /// extensions when the table has no room.
    fn keep<S>(&self, id: &Id, span: Span, ctx: &LayerContext<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Err(span) = self.spans.insert(id.into_u64(), span) {
            // Release pairs with the Acquire in `with_span` and `take`.
            self.spilled.store(true, Ordering::Release);
            if let Some(registered) = ctx.span(id) {
                registered.extensions_mut().insert(Recorded(span));
            }
        }
    }

    /// Takes the nanotel span of the `tracing` span `id` out, to end it.
    fn take<S>(&self, id: &Id, ctx: &LayerContext<'_, S>) -> Option<Span>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match self.spans.remove(id.into_u64()) {
            Some(span) => Some(span),
            // Acquire as in `with_span`.
            None if self.spilled.load(Ordering::Acquire) => {
                let registered = ctx.span(id)?;
                let recorded = registered.extensions_mut().remove::<Recorded>();
                recorded.map(|Recorded(span)| span)
            }
            None => None,
        }
    }

    /// The context of the `tracing` span `id`'s nanotel span, if the layer made one.
    fn context_of<S>(&self, id: &Id, ctx: &LayerContext<'_, S>) -> Option<SpanContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.with_span(id, ctx, |span| span.context().clone())
    }
}

/// Applies a field recorded after the span started (`otel.kind` too, as `tracing-opentelemetry`
/// allows: the sampler saw the kind the span started with).
fn set_field(span: &mut Span, field: SpanField) {
    match field {
        SpanField::Attribute(attribute) => span.set_attribute(attribute),
        SpanField::Name(name) => span.update_name(name),
        SpanField::Status(status) => span.set_status(status),
        SpanField::Kind(kind) => span.set_kind(kind),
    }
}

impl<S> Layer<S> for NanotelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if own_threads::is_current() {
            return;
        }
        if self.tracer.asks_custom() {
            let span = self.new_span_asking(attributes, &ctx);
            return self.keep(id, span, &ctx);
        }
        let mut builder = self.builder(attributes, &ctx);
        let metadata = attributes.metadata();
        builder.with_attribute(KeyValue::new(events::TARGET, Text::Static(metadata.target())));
        let (mut name, mut status) = (None, None);
        attributes.record(&mut Typed(|field, value| {
            span_field(field, value, |field| match field {
                SpanField::Attribute(attribute) => {
                    builder.with_attribute(attribute);
                }
                SpanField::Kind(kind) => {
                    builder.with_kind(kind);
                }
                SpanField::Name(text) => name = Some(text),
                SpanField::Status(set) => status = later_status(status.take(), set),
            });
        }));
        let mut span = builder.start();
        if let Some(name) = name {
            span.update_name(name);
        }
        if let Some(status) = status {
            span.set_status(status);
        }
        self.keep(id, span, &ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        if self.with_span(id, &ctx, |span| span.is_recording()) != Some(true) {
            return;
        }
        // Values are formatted with the span unlocked (a `Debug` impl may emit an event of its
        // own, which may look at this span), then set a few at a time under the lock.
        let mut pending: [Option<SpanField>; 4] = Default::default();
        let mut held = 0;
        let flush = |pending: &mut [Option<SpanField>]| {
            self.with_span(id, &ctx, |span| {
                pending.iter_mut().filter_map(Option::take).for_each(|field| set_field(span, field));
            });
        };
        values.record(&mut Typed(|field, value| {
            span_field(field, value, |field| {
                if held == pending.len() {
                    flush(&mut pending);
                    held = 0;
                }
                pending[held] = Some(field);
                held += 1;
            });
        }));
        flush(&mut pending[..held]);
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let Some(followed) = self.context_of(follows, &ctx) else { return };
        self.with_span(id, &ctx, |span| span.add_link(followed, []));
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        if let Some(guard) = self.with_span(id, &ctx, crate::trace::Span::enter_exclusive) {
            entered::push(id, guard);
        }
    }

    fn on_exit(&self, id: &Id, _: LayerContext<'_, S>) {
        entered::pop(id);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        // Taken out, it ends here, outside any lock: it reads the clock and moves to this
        // thread's ring.
        drop(self.take(&id, &ctx));
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if own_threads::is_current() {
            return;
        }
        if *event.metadata().level() == tracing::Level::ERROR {
            // An error event marks its span failed, as tracing-opentelemetry does by default (the
            // description stays empty: the event itself says what went wrong), unless a status
            // was set already.
            if let Some(registered) = ctx.event_span(event) {
                self.with_span(&registered.id(), &ctx, Span::fail_unless_set);
            }
        }
        if self.span_events {
            if let Some(registered) = ctx.event_span(event) {
                let id = registered.id();
                match self.with_span(&id, &ctx, |span| span.is_recording()) {
                    Some(true) => {
                        // Formatted with the span unlocked, as in `on_record`.
                        let (name, attributes) = events::span_event(event);
                        self.with_span(&id, &ctx, |span| span.add_event(name, attributes));
                        return;
                    }
                    // Sampled out with its span.
                    Some(false) => return,
                    None => {}
                }
            }
        }
        // An explicit parent's ids; else the current context's, which the innermost entered
        // span (ours or a nanotel span entered inside it) made current.
        let explicit = (!event.is_contextual()).then(|| {
            let parent = event.parent().and_then(|id| self.context_of(id, &ctx));
            Context::from_span_context(parent.unwrap_or_default())
        });
        events::emit_log(&self.logger, event, explicit.as_ref());
    }
}

impl crate::Telemetry {
    /// A [`NanotelLayer`] on this telemetry's tracer and logger of scope `tracing` (feature
    /// `tracing`), to add to a `tracing_subscriber` registry.
    #[must_use]
    pub fn tracing_layer(&self) -> NanotelLayer {
        NanotelLayer::new(self.tracer("tracing"), self.logger("tracing"))
    }
}
