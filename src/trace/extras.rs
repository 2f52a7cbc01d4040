//! A span's events and links, and the boxes they live in, recycled so the usual span with a few
//! events allocates nothing once its thread is warm.
//!
//! # The protocol
//!
//! - A span gets its [`SpanExtras`] box with its first event or link: a spare from its slab's
//!   [`Spares`] when one is at hand, else a new one (an allocation, counted).
//! - Events and links keep their attributes in one vector of the box, each owning a range of it,
//!   so a box holds three vectors however many events it has. Pushing onto a vector that is full
//!   grows it (an allocation, counted).
//! - The exporter thread, once it has encoded the span and before it frees the span's slot,
//!   empties the box (dropping the values, keeping the vectors' capacity) and gives it back to the
//!   slab's spares; a box that grew past [`KEEP_EVENTS`], [`KEEP_LINKS`] or [`KEEP_ATTRIBUTES`], or
//!   that finds the spares full ([`SPARES`] boxes), is freed instead. So a thread's steady state
//!   allocates nothing while its spans stay within those sizes, and memory stays bounded: at most
//!   `SPARES` boxes per slab, each within the caps (2,896 bytes at most: 362 KiB a thread).
//!   A thread with more spans holding events or links waiting for the exporter at once than that
//!   allocates for the rest.
//! - The spares are a lock-free bounded queue (the exporter pushes, the recording thread pops): no
//!   lock, no wait on either side.

use std::ops::Range;

use crossbeam_queue::ArrayQueue;

use crate::attributes::{KeyValue, Text};

use super::span_context::SpanContext;

/// Spare boxes a slab keeps.
pub(crate) const SPARES: usize = 128;
/// The most events a recycled box keeps room for.
pub(crate) const KEEP_EVENTS: usize = 16;
/// The most links a recycled box keeps room for.
pub(crate) const KEEP_LINKS: usize = 8;
/// The most event and link attributes (all together) a recycled box keeps room for.
pub(crate) const KEEP_ATTRIBUTES: usize = 32;

/// A span event: a named, timestamped moment in the span.
pub(crate) struct Event {
    pub name: Text,
    /// When the event happened, in clock ticks like the span's start.
    pub ticks: u64,
    /// Its attributes in [`SpanExtras::attributes`].
    attributes: Range<u32>,
    pub dropped: u32,
}

/// A link to another span, in this trace or another.
pub(crate) struct Link {
    pub context: SpanContext,
    /// Its attributes in [`SpanExtras::attributes`].
    attributes: Range<u32>,
    pub dropped: u32,
}

/// A span's events and links, their attributes, and how many of each the limits cut.
#[derive(Default)]
pub(crate) struct SpanExtras {
    events: Vec<Event>,
    links: Vec<Link>,
    attributes: Vec<KeyValue>,
    pub dropped_events: u32,
    pub dropped_links: u32,
}

/// What an event or link may hold, and where to count an allocation.
pub(crate) struct ExtrasLimits<'a> {
    pub count: usize,
    pub attributes: usize,
    /// Counts each allocation made on the way.
    pub allocated: &'a dyn Fn(),
}

impl SpanExtras {
    /// Adds an event of `name` at `ticks`, unless `limits.count` events are already held.
    pub(crate) fn add_event(
        &mut self,
        name: Text,
        ticks: u64,
        attributes: impl IntoIterator<Item = KeyValue>,
        limits: &ExtrasLimits<'_>,
    ) {
        let held =
            Held { items: &mut self.events, dropped: &mut self.dropped_events, attributes: &mut self.attributes };
        held.push(attributes, limits, |attributes, dropped| Event { name, ticks, attributes, dropped });
    }

    /// Adds a link to `context`, unless `limits.count` links are already held.
    pub(crate) fn add_link(
        &mut self,
        context: SpanContext,
        attributes: impl IntoIterator<Item = KeyValue>,
        limits: &ExtrasLimits<'_>,
    ) {
        let held = Held { items: &mut self.links, dropped: &mut self.dropped_links, attributes: &mut self.attributes };
        held.push(attributes, limits, |attributes, dropped| Link { context, attributes, dropped });
    }

    /// The events, each with its attributes.
    pub(crate) fn events(&self) -> impl Iterator<Item = (&Event, &[KeyValue])> {
        self.events.iter().map(|event| (event, self.attributes_of(&event.attributes)))
    }

    /// The links, each with its attributes.
    pub(crate) fn links(&self) -> impl Iterator<Item = (&Link, &[KeyValue])> {
        self.links.iter().map(|link| (link, self.attributes_of(&link.attributes)))
    }

    fn attributes_of(&self, range: &Range<u32>) -> &[KeyValue] {
        self.attributes.get(range.start as usize..range.end as usize).unwrap_or_default()
    }

    /// Empties the box for another span, keeping its vectors' room; `false` when it grew past
    /// what a spare may keep (it should then be freed).
    fn empty_for_reuse(&mut self) -> bool {
        self.events.clear();
        self.links.clear();
        self.attributes.clear();
        (self.dropped_events, self.dropped_links) = (0, 0);
        self.events.capacity() <= KEEP_EVENTS
            && self.links.capacity() <= KEEP_LINKS
            && self.attributes.capacity() <= KEEP_ATTRIBUTES
    }
}

/// The events or the links of a box, with what they share: the count the limit cut and the
/// attributes vector.
struct Held<'a, T> {
    items: &'a mut Vec<T>,
    dropped: &'a mut u32,
    attributes: &'a mut Vec<KeyValue>,
}

impl<T> Held<'_, T> {
    /// Appends the item `make` builds from its attributes' range and how many of them the limit
    /// cut, unless `limits.count` items are held already (then it is counted as dropped).
    fn push(
        self,
        attributes: impl IntoIterator<Item = KeyValue>,
        limits: &ExtrasLimits<'_>,
        make: impl FnOnce(Range<u32>, u32) -> T,
    ) {
        if self.items.len() >= limits.count {
            *self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let (range, dropped) = push_attributes(self.attributes, attributes, limits);
        grow_counted(self.items, limits.allocated);
        self.items.push(make(range, dropped));
    }
}

/// Appends `attributes` as one event's or link's: each key once (a repeated key keeps its first
/// place and last value), at most `limits.attributes` keys, the rest counted.
fn push_attributes(
    held: &mut Vec<KeyValue>,
    attributes: impl IntoIterator<Item = KeyValue>,
    limits: &ExtrasLimits<'_>,
) -> (Range<u32>, u32) {
    let start = held.len();
    let mut dropped = 0u32;
    for attribute in attributes {
        if let Some(same_key) = held[start..].iter_mut().find(|same| same.key == attribute.key) {
            same_key.value = attribute.value;
        } else if held.len() - start < limits.attributes {
            grow_counted(held, limits.allocated);
            held.push(attribute);
        } else {
            dropped = dropped.saturating_add(1);
        }
    }
    (index(start)..index(held.len()), dropped)
}

/// Counts the allocation `vector`'s next push makes, if it is full.
fn grow_counted<T>(vector: &mut Vec<T>, allocated: &dyn Fn()) {
    if vector.len() == vector.capacity() {
        allocated();
    }
}

/// A position in the attributes vector, which the limits keep far below `u32::MAX`.
fn index(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

/// A slab's spare boxes.
pub(crate) struct Spares(ArrayQueue<Box<SpanExtras>>);

impl Spares {
    pub(crate) fn new() -> Spares {
        Spares(ArrayQueue::new(SPARES))
    }

    /// A spare box, empty, if one is at hand.
    #[inline]
    pub(crate) fn take(&self) -> Option<Box<SpanExtras>> {
        self.0.pop()
    }

    /// Empties `extras` and keeps it for a later span, unless it grew too large or the spares are
    /// full (it is then freed).
    pub(crate) fn give_back(&self, mut extras: Box<SpanExtras>) {
        if extras.empty_for_reuse() {
            // A full queue hands the box back, to be freed here.
            drop(self.0.push(extras));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn attributes_are_kept_per_event_and_link_and_a_recycled_box_allocates_nothing() {
        let allocations = Cell::new(0);
        let count = || allocations.set(allocations.get() + 1);
        let limits = ExtrasLimits { count: 2, attributes: 2, allocated: &count };
        let spares = Spares::new();
        let mut extras = Box::<SpanExtras>::default();
        let fill = |extras: &mut SpanExtras| {
            extras.add_event("sent".into(), 1, [KeyValue::new("a", 1), KeyValue::new("a", 2)], &limits);
            extras.add_event(
                "acked".into(),
                2,
                [KeyValue::new("b", 1), KeyValue::new("c", 2), KeyValue::new("d", 3)],
                &limits,
            );
            extras.add_event("dropped".into(), 3, [], &limits);
            extras.add_link(SpanContext::invalid(), [KeyValue::new("e", 5)], &limits);
        };
        fill(&mut extras);
        let events: Vec<_> = extras
            .events()
            .map(|(event, attributes)| (event.name.as_str().to_owned(), attributes.to_vec(), event.dropped))
            .collect();
        assert_eq!(events[0], ("sent".to_owned(), vec![KeyValue::new("a", 2)], 0), "first place, last value");
        assert_eq!(events[1], ("acked".to_owned(), vec![KeyValue::new("b", 1), KeyValue::new("c", 2)], 1));
        assert_eq!((events.len(), extras.dropped_events), (2, 1));
        assert_eq!(extras.links().map(|(_, attributes)| attributes.to_vec()).next(), Some(vec![KeyValue::new("e", 5)]));
        assert!(allocations.get() > 0);

        spares.give_back(extras);
        let mut recycled = spares.take().expect("kept");
        assert_eq!((recycled.events().count(), recycled.links().count(), recycled.dropped_events), (0, 0, 0));
        allocations.set(0);
        fill(&mut recycled);
        assert_eq!(allocations.get(), 0, "the same shape again needs no allocation");
    }

    #[test]
    fn a_box_past_the_caps_or_past_the_spares_is_freed() {
        let limits = ExtrasLimits { count: 100, attributes: 100, allocated: &|| {} };
        let spares = Spares::new();
        let mut large = Box::<SpanExtras>::default();
        (0..=KEEP_EVENTS).for_each(|i| large.add_event("e".into(), i as u64, [], &limits));
        spares.give_back(large);
        assert!(spares.take().is_none(), "too large to keep");
        (0..SPARES + 3).for_each(|_| spares.give_back(Box::default()));
        assert_eq!(std::iter::from_fn(|| spares.take()).count(), SPARES);
    }
}
