//! How the installed meter provider reports the instruments kept in statics
//! ([`StaticCounter`](super::StaticCounter), [`StaticHistogram`](super::StaticHistogram)): the
//! plumbing both share.
//!
//! A static joins its kind's process-wide list at its first record (`listing`). The provider
//! installed as the global one walks both lists at each collection (`StaticReporting`) and
//! registers each static it has not seen as an instrument of its meter of the static's scope: one
//! `StaticInstrument` per name and scope, which collects the statics registered under it as one
//! series per attribute set (each static's own attributes, less those a view's filter removes:
//! statics whose sets then match are one series). A provider that another install replaced stops
//! reporting; one never installed never starts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::attributes::KeyValue;

use super::attribute_set::canonical;
use super::collect::{Collect, CollectContext};
use super::descriptor::{check_name, check_unit, Descriptor, InstrumentKind, Temporality};
use super::listing::Listed;
use super::series_map::unix_nanos;
use super::static_counter::{self, StaticCounter};
use super::static_histogram::{self, StaticHistogramCells};
use super::view::{AttributeFilter, HistogramChoice, Route, Stream};
use super::MeterProvider;

/// What a meter provider keeps to report the static counters and histograms.
#[derive(Default)]
pub(crate) struct StaticReporting {
    /// Set while the provider is the installed global one, and after it was uninstalled to shut
    /// down; cleared when another install replaces it. Shared with the instruments it registered,
    /// which report nothing while it is clear.
    on: Arc<AtomicBool>,
    /// The most recent counter registered (the listing's head at the last walk).
    counters_seen: Mutex<Option<&'static StaticCounter>>,
    /// The same for the static histograms.
    histograms_seen: Mutex<Option<&'static StaticHistogramCells>>,
}

impl StaticReporting {
    /// Starts (`true`) or stops reporting static counters and histograms.
    pub(crate) fn set(&self, on: bool) {
        // Relaxed: a collection that starts just before the change reports as before; the
        // statics it reads carry no other data.
        self.on.store(on, Ordering::Relaxed);
    }

    /// Whether it reports (for tests).
    #[cfg(all(test, not(nanotel_loom)))]
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// When reporting, registers the static counters and histograms that recorded since the last
    /// call in `provider`'s meters (which then collect them as any instrument), oldest first, so
    /// that registration order follows first use.
    pub(crate) fn register_new(&self, provider: &MeterProvider) {
        // Relaxed: see `set`.
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let on = &self.on;
        static_counter::LISTED.each_new(&mut self.counters_seen.lock(), |counter| {
            static_counter::register(provider, counter, on);
        });
        static_histogram::LISTED.each_new(&mut self.histograms_seen.lock(), |cells| {
            static_histogram::register(provider, cells, on);
        });
    }
}

/// The scope of a static made without a `with_scope`.
pub(super) const DEFAULT_SCOPE: &str = "nanotel.static";

/// What a static says of itself to be registered: kept in the static, set by its `const`
/// builders.
pub(super) struct StaticDescription {
    pub(super) kind: InstrumentKind,
    pub(super) name: &'static str,
    pub(super) unit: &'static str,
    pub(super) description: &'static str,
    pub(super) scope: &'static str,
    /// The attributes of its series (duplicate keys allowed: the last value wins).
    pub(super) attributes: &'static [KeyValue],
}

impl StaticDescription {
    /// A static of `kind` named `name`, without unit, description or attributes, in
    /// [`DEFAULT_SCOPE`].
    pub(super) const fn new(kind: InstrumentKind, name: &'static str) -> Self {
        StaticDescription { kind, name, unit: "", description: "", scope: DEFAULT_SCOPE, attributes: &[] }
    }
}

/// The statics of one series: its attributes and the statics reported as it.
pub(super) struct Series<T: 'static> {
    /// Canonical (see `attribute_set::canonical`), less what the view's filter removes.
    pub(super) attributes: Vec<KeyValue>,
    /// In the order they were registered.
    pub(super) statics: Vec<&'static T>,
}

/// A static as a delta reporter sees it: when its last delta window ended (its last resetting
/// reading, by whichever provider), 0 before any.
pub(super) trait Windowed: Listed {
    fn reset_at(&self) -> u64;
}

/// The instrument one provider registers for the statics of one name and scope.
pub(super) struct StaticInstrument<T: 'static> {
    /// As the views made it.
    pub(super) descriptor: Descriptor,
    /// A view drops it.
    dropped: bool,
    /// A view's filter of the statics' attributes.
    filter: Option<AttributeFilter>,
    /// Whether the provider reports statics (see [`StaticReporting`]).
    reporting: Arc<AtomicBool>,
    /// The statics it reports, one series per attribute set, in the order of each set's first
    /// static.
    pub(super) series: Mutex<Vec<Series<T>>>,
    /// Unix nanoseconds: the start of its cumulative points, the first use of the earliest of its
    /// statics (their totals count from there, whichever provider reports them).
    created: AtomicU64,
    /// Unix nanoseconds: the start of the current delta window.
    window_start: AtomicU64,
}

impl<T> StaticInstrument<T> {
    /// When it reports (its provider does and no view dropped it): the temporality of this
    /// collection for its kind, and its points' start time (a delta's window start, a new window
    /// started when the collection resets).
    pub(super) fn window(&self, cx: &CollectContext) -> Option<(Temporality, u64)> {
        // Relaxed: see `StaticReporting::set`.
        if self.dropped || !self.reporting.load(Ordering::Relaxed) {
            return None;
        }
        let temporality = cx.preference.temporality(self.descriptor.kind);
        if temporality == Temporality::Cumulative {
            // Relaxed: only registrations and collections, serialized by the provider, touch it.
            return Some((temporality, self.created.load(Ordering::Relaxed)));
        }
        // Relaxed: only collections, serialized by the provider, touch it.
        let start = self.window_start.load(Ordering::Relaxed);
        if cx.reset {
            self.window_start.store(cx.now, Ordering::Relaxed);
        }
        Some((temporality, start))
    }
}

/// Registers `item` (described by `what`) in `provider`'s meter of its scope, under the instrument
/// of its name there, made the first time with `histogram` as its stream's advice; `stream_made`
/// then sees the stream the views made (to warn of what cannot apply), and `admits`, given the
/// first static registered under that name if any, whether `item` may join them (in the series of
/// its attribute set). A name or unit that breaks the specification's syntax is reported on
/// stderr, and `item` not registered.
pub(super) fn register<T: Windowed + Send + Sync>(
    provider: &MeterProvider,
    reporting: &Arc<AtomicBool>,
    what: &StaticDescription,
    histogram: Option<HistogramChoice>,
    stream_made: impl FnOnce(&Stream),
    item: &'static T,
    admits: impl FnOnce(Option<&'static T>) -> bool,
) where
    StaticInstrument<T>: Collect,
{
    if let Err(problem) = check_name(what.name).and_then(|()| check_unit(what.name, what.unit)) {
        crate::diag::warning!("{} not exported: {problem}", kind_name(what.kind));
        return;
    }
    let meter = provider.meter(what.scope);
    let descriptor = Descriptor {
        kind: what.kind,
        name: what.name.to_owned(),
        unit: what.unit.to_owned(),
        description: what.description.to_owned(),
    };
    // When the static was first used: its total counts from there (until session 41 its points
    // started when a provider first collected it, after the adds they counted, and a second
    // provider's later start read as a reset).
    let first_used = match item.link().joined_at() {
        0 => unix_nanos(),
        at => at.min(unix_nanos()),
    };
    let instrument = meter.register(descriptor.clone(), || {
        let stream = meter.stream(descriptor, histogram);
        stream_made(&stream);
        let exported = stream.descriptor.name.clone();
        let created = first_used;
        // A delta window starts where the static's last one ended, under an earlier provider
        // (until session 41 a second provider's first window started at the first use, over the
        // earlier provider's windows).
        let window_start = created.max(item.reset_at());
        let (dropped, filter) = match stream.route {
            Route::Off => (true, None),
            Route::Direct => (false, None),
            Route::Filtered(filter) => (false, Some(filter)),
        };
        let instrument = Arc::new(StaticInstrument {
            descriptor: stream.descriptor,
            dropped,
            filter,
            reporting: reporting.clone(),
            series: Mutex::new(Vec::new()),
            created: AtomicU64::new(created),
            window_start: AtomicU64::new(window_start),
        });
        (instrument.clone(), instrument as Arc<dyn Collect>, exported)
    });
    // Relaxed: as in `window`. A static used before those already registered moves the start back.
    instrument.created.fetch_min(first_used, Ordering::Relaxed);
    let mut series = instrument.series.lock();
    if !admits(series.first().and_then(|first| first.statics.first().copied())) {
        return;
    }
    let mut attributes = canonical(what.attributes);
    if let Some(filter) = &instrument.filter {
        filter.retain(&mut attributes);
    }
    match series.iter_mut().find(|series| series.attributes == attributes) {
        Some(series) => series.statics.push(item),
        None => series.push(Series { attributes, statics: vec![item] }),
    }
}

/// How a diagnostic names a static of `kind`.
fn kind_name(kind: InstrumentKind) -> &'static str {
    if kind == InstrumentKind::Histogram {
        "static histogram"
    } else {
        "static counter"
    }
}
