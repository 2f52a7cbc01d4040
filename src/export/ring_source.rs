//! The [`RecordSource`] of a provider whose records wait in per-thread rings (see
//! `buffer::thread_rings`): the tracer provider's spans and the logger provider's records, one
//! source for both, told apart by what [`RingProvider`] says.
//!
//! # Protocol
//!
//! While the pipeline runs, a drain takes no more than the signal's queue has room for and leaves
//! the rest in the rings for the next one, which the exporter thread runs as soon as it has made
//! room (see [`RecordSink::report_fill`]). The last drain (once [closed](RecordSource::close))
//! empties the rings, and so does every drain when the signal is not exported (nothing waits for
//! nothing): what the queue has no room for is then counted as dropped (`queue_full`) without
//! being delivered, so every item that reached a ring is accounted for. Once closed, the rings
//! count what is offered to them as dropped at shutdown, with the pipeline's `LateDrops`.

use std::sync::Arc;

use crate::buffer::scopes::ScopeList;
use crate::buffer::thread_rings::{Drained, RingOwner, Rings};
use crate::Signal;

use super::pipeline::{RecordSink, RecordSource, Scope};

/// What differs between the providers whose rings a [`RingSource`] drains.
pub(crate) trait RingProvider: Send + Sync + 'static {
    /// The signal the items are exported as.
    const SIGNAL: Signal;
    /// What owns the rings.
    type Owner: RingOwner;

    /// The rings: drained, and detached from when the pipeline shuts down or never starts.
    fn rings(&self) -> &Rings<Self::Owner>;

    /// The scopes the items name.
    fn scopes(&self) -> &ScopeList;

    /// The index in [`scopes`](Self::scopes) of the scope that produced `item`.
    fn scope_of(item: &Item<Self>) -> u32;

    /// Queues one drained item, in whatever form `sink` takes it for this signal.
    fn deliver(&self, sink: &mut RecordSink<'_>, scope: &Scope, item: Item<Self>);

    /// Pops up to `max` items with their scope; says how many items were dropped for want of
    /// room meanwhile, and how full the rings were (see `Rings::drain`).
    fn drain(&self, max: usize, mut sink: impl FnMut(&Scope, Item<Self>)) -> Drained {
        // Whoever drains (the exporter thread, or a program without one) keeps the clock on time.
        crate::clock::maintain();
        let mut scopes = self.scopes().reader();
        self.rings().drain(max, |item| {
            if let Some(scope) = scopes.get(Self::scope_of(&item)) {
                sink(scope, item);
            }
        })
    }
}

/// What a provider's rings hold.
pub(crate) type Item<P> = <<P as RingProvider>::Owner as RingOwner>::Item;

/// Moves a provider's items into a pipeline, on its exporter thread.
pub(crate) struct RingSource<P: RingProvider> {
    provider: Arc<P>,
    /// Whether the pipeline has shut down (and said where to count late items).
    closed: bool,
}

impl<P: RingProvider> RingSource<P> {
    /// A source for a provider whose rings were just attached (`Rings::attach`).
    pub(crate) fn new(provider: Arc<P>) -> Self {
        RingSource { provider, closed: false }
    }
}

impl<P: RingProvider> Drop for RingSource<P> {
    fn drop(&mut self) {
        // A source dropped unclosed was never taken on by a running exporter thread.
        if !self.closed {
            self.provider.rings().detach(None);
        }
    }
}

impl<P: RingProvider> RecordSource for RingSource<P> {
    fn drain(&mut self, sink: &mut RecordSink<'_>) {
        // See the module's protocol: limited to the queue's room while running, everything once
        // closed or while the signal is not exported.
        let (max, mut room) = match sink.room(P::SIGNAL) {
            Some(room) if !self.closed => (room, room),
            room => (usize::MAX, room.unwrap_or(0)),
        };
        let mut refused = 0;
        let provider = &*self.provider;
        let drained = provider.drain(max, |scope, item| {
            if room == 0 {
                refused += 1;
            } else {
                room -= 1;
                provider.deliver(sink, scope, item);
            }
        });
        sink.count_dropped(P::SIGNAL, drained.dropped + refused);
        sink.count_dropped_at_thread_exit(P::SIGNAL, drained.orphaned);
        sink.count_dropped_out_of_memory(P::SIGNAL, drained.unallocated);
        sink.report_fill(drained.fullest, drained.left_behind);
    }

    fn close(&mut self, sink: &mut RecordSink<'_>) {
        self.closed = true;
        self.provider.rings().detach(Some(Box::new(sink.late_drops(P::SIGNAL))));
    }
}
