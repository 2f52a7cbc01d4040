//! Span and log processors: the user's code on the exporter thread, run on each record after it
//! leaves the queue and before it is encoded (or handed to a custom exporter).
//!
//! A processor sees the record in its OTLP form ([`crate::proto`]): the standard, public data
//! model every collector speaks, with every field already converted (ids drawn, times in Unix
//! nanoseconds, values cut to the attribute limits), so it can redact, add or rename attributes
//! with nothing nanotel-specific to learn, and what it leaves is exactly what is sent. Nothing of
//! it runs on the hot path: recording threads never wait for a processor.
//!
//! Processors take `&mut self`: they run on the exporter thread alone, so one may keep state (a
//! count, a rate limit) without a lock. They run in the order they were registered; the first
//! that drops a record ends its run. A dropped record is counted with the reason `processor`. So is one whose processor
//! panicked: the panic is caught (the exporter thread goes on), reported once on stderr, and the
//! record dropped, since a half-processed record (say, half redacted) must not be sent.

use crate::diag::{self, Once};
use crate::proto::common::v1::InstrumentationScope;
use crate::proto::logs::v1::LogRecord;
use crate::proto::trace::v1::Span;

use super::pipeline::Scope;
use super::Signal;

/// What a processor decides for a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The record goes on (to the next processor, then the exporter).
    Keep,
    /// The record is dropped, and counted as dropped for the reason `processor`.
    Drop,
}

/// Sees every ended span on the exporter thread, before it is exported: may change it in place
/// and may drop it. A closure `FnMut(&InstrumentationScope, &mut Span) -> Verdict` is one.
///
/// Registered with [`PipelineBuilder::with_span_processor`](super::PipelineBuilder::with_span_processor).
pub trait SpanProcessor: Send + 'static {
    /// Called once per span, with the scope of the tracer that made it.
    fn on_end(&mut self, scope: &InstrumentationScope, span: &mut Span) -> Verdict;
}

impl<F> SpanProcessor for F
where
    F: FnMut(&InstrumentationScope, &mut Span) -> Verdict + Send + 'static,
{
    fn on_end(&mut self, scope: &InstrumentationScope, span: &mut Span) -> Verdict {
        self(scope, span)
    }
}

/// Sees every log record on the exporter thread, before it is exported: may change it in place
/// and may drop it. A closure `FnMut(&InstrumentationScope, &mut LogRecord) -> Verdict` is one.
///
/// Registered with [`PipelineBuilder::with_log_processor`](super::PipelineBuilder::with_log_processor).
pub trait LogProcessor: Send + 'static {
    /// Called once per log record, with the scope of the logger that emitted it.
    fn on_emit(&mut self, scope: &InstrumentationScope, record: &mut LogRecord) -> Verdict;
}

impl<F> LogProcessor for F
where
    F: FnMut(&InstrumentationScope, &mut LogRecord) -> Verdict + Send + 'static,
{
    fn on_emit(&mut self, scope: &InstrumentationScope, record: &mut LogRecord) -> Verdict {
        self(scope, record)
    }
}

/// The processors of one signal, and whether a panic in one was reported yet.
pub(crate) struct Chain<P: ?Sized> {
    processors: Vec<Box<P>>,
    panicked: Once,
}

impl<P: ?Sized> Default for Chain<P> {
    fn default() -> Self {
        Chain { processors: Vec::new(), panicked: Once::default() }
    }
}

impl<P: ?Sized> Chain<P> {
    pub(crate) fn push(&mut self, processor: Box<P>) {
        self.processors.push(processor);
    }

    /// Whether no processor is registered: the records need not be in their OTLP form for one.
    pub(crate) fn is_empty(&self) -> bool {
        self.processors.is_empty()
    }
}

impl Chain<dyn SpanProcessor> {
    /// Runs the chain over every span of `groups`; returns how many it dropped.
    pub(crate) fn run(&mut self, groups: &mut Vec<(Scope, Vec<Span>)>) -> u64 {
        run(&mut self.processors, &self.panicked, Signal::Traces, groups, |processor, scope, span| {
            processor.on_end(scope, span)
        })
    }
}

impl Chain<dyn LogProcessor> {
    /// Runs the chain over every log record of `groups`; returns how many it dropped.
    pub(crate) fn run(&mut self, groups: &mut Vec<(Scope, Vec<LogRecord>)>) -> u64 {
        run(&mut self.processors, &self.panicked, Signal::Logs, groups, |processor, scope, record| {
            processor.on_emit(scope, record)
        })
    }
}

/// Passes each item through `processors` in order, removing those one drops or panics on, and
/// scopes left with nothing; returns how many items were removed.
fn run<P: ?Sized, T>(
    processors: &mut [Box<P>],
    panicked: &Once,
    signal: Signal,
    groups: &mut Vec<(Scope, Vec<T>)>,
    call: impl Fn(&mut P, &InstrumentationScope, &mut T) -> Verdict,
) -> u64 {
    if processors.is_empty() {
        return 0;
    }
    let mut dropped = 0;
    for (scope, items) in groups.iter_mut() {
        items.retain_mut(|item| {
            let kept = processors.iter_mut().all(|processor| {
                let verdict = diag::catch_panic(
                    panicked,
                    || call(processor, scope, item),
                    || {
                        diag::error!(
                            "a {} processor panicked; the record it was given is dropped and counted as \
                             `processor`, and the exporter goes on (reported once)",
                            signal.name()
                        );
                    },
                );
                verdict == Some(Verdict::Keep)
            });
            dropped += u64::from(!kept);
            kept
        });
    }
    groups.retain(|(_, items)| !items.is_empty());
    dropped
}
