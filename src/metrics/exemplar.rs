//! Exemplars: sample measurements kept with the trace and span that made them, so that a bucket of
//! a latency histogram links to the traces behind it.
//!
//! # Which measurements
//!
//! The provider's [`ExemplarFilter`] decides, per measurement: `TraceBased` (the default) offers
//! those made while a sampled span is current on the thread, `AlwaysOn` every one, `AlwaysOff`
//! none. Asking is one thread-local load (`thread_words::span_sampled`, written when a context is
//! entered or left, in the line of the record's stripe slot) and one predictable branch; an offered
//! measurement then reads the ids copied out of the current context when it was entered
//! (`trace::context::current_ids`). A span's ids are drawn when it is entered, so the ids kept are
//! the ones its exporter sends.
//!
//! # Where they are kept
//!
//! An exemplar is kept as plain words ([`Kept`]: the value's bits, the clock's raw ticks, the two
//! ids), converted to Unix time and OTLP at collection, in storage made with the instrument's
//! cells, so keeping one never allocates, locks or waits:
//!
//! - explicit-bucket histograms: the last measurement per bucket, per stripe (the specification's
//!   `AlignedHistogramBucketExemplarReservoir`), written while the record holds its stripe (see
//!   `claimed`); a collection keeps, per bucket, the latest of the stripes';
//! - exponential histograms: a [`Reservoir`] of [`EXPONENTIAL_RESERVOIR`] per stripe (the
//!   specification's `SimpleFixedSizeExemplarReservoir` of min(20, max buckets)), also written
//!   under the stripe's claim;
//! - sums (counters and up-down counters): a [`Reservoir`] of one per stripe and one for the threads
//!   in shared mode, each behind its own holder flag (`claimed::Claimable`): a record that finds it
//!   held (by the collector, or another shared-mode thread) keeps no exemplar for that measurement;
//!   the sum itself is recorded either way.
//!
//! Collection merges the stripes' reservoirs into one of the same size, each stripe's samples
//! weighted by the measurements they stand for, so the result is a uniform sample of the series.
//! Under delta temporality an exporting collection empties every reservoir and restarts its count
//! (each window's exemplars are its own); a cumulative one restarts the count only, so the next
//! measurements replace the exemplars kept ([`Restart`]). With `AlwaysOff` no storage
//! is made at all.
//!
//! # Attributes a view removed
//!
//! An exemplar carries the measurement's attributes that the instrument's view removed (its
//! `with_kept_attributes` or `with_dropped_attributes`; the OTLP exemplar's `filtered_attributes`), so that a
//! series aggregated without `order.id` still shows the order behind its exemplar. Only
//! instruments whose view has an attribute filter pay anything for it, and only for measurements
//! the exemplar filter admits:
//!
//! - a bound handle's removed pairs are known when it is bound: the handle keeps them once, in an
//!   `Arc<[KeyValue]>`, and an exemplar kept through it shares them (a reference-count increment,
//!   never an allocation). All of them are kept, whatever their types.
//! - a record with an attribute slice (`add(v, &attrs)`, `record(v, &attrs)`) has its removed
//!   pairs only for the call, and keeping them must not allocate: each place that keeps an
//!   exemplar of such an instrument has room, made with it, for [`FILTERED_INLINE`] pairs, and
//!   keeps clones of the first ones removed. A pair's clone never allocates: every attribute key
//!   and value is either words (a `&'static str`, a number, a boolean) or a reference-counted
//!   `Arc` (text made at run time, bytes, lists, maps), whose count the clone takes; the place
//!   releases it when it next keeps an exemplar there (the last reference then frees the value,
//!   on that recording thread). Removed pairs past the room are counted, and the exemplar then
//!   carries one more pair, [`FILTERED_LEFT_OUT_KEY`], whose integer value says how many. Of a
//!   key repeated in the slice, the last pair counts, as for the series.
//!
//! The pairs are written with the rest of the exemplar, by the holder of the stripe or reservoir
//! (see `claimed`), and read by the collector under the same claim, so a collection never sees
//! the pairs of one measurement with the value of another: no protocol beyond the claim's.

use std::sync::Arc;

use crate::attributes::KeyValue;
use crate::clock::{self, TickReader};
use crate::proto::common::v1::KeyValue as OtlpKeyValue;
use crate::proto::metrics::v1::{exemplar, number_data_point::Value as PointValue, Exemplar};
use crate::thread_words;
use crate::trace::context::{current_ids, CurrentIds};
use crate::trace::ids::random_up_to;
use crate::trace::{SpanId, TraceId};

use super::number::Number;
use super::view::AttributeFilter;

/// How many removed pairs of a record with an attribute slice an exemplar keeps (see the module
/// header).
pub(crate) const FILTERED_INLINE: usize = 4;
/// The key of the pair added to an exemplar's filtered attributes when more attributes were
/// removed than a place keeps for a record with an attribute slice; its value is how many more.
pub const FILTERED_LEFT_OUT_KEY: &str = "nanotel.exemplar.filtered_attributes.left_out";

/// The most an exponential histogram stripe's reservoir holds: min(20, its `max_size` buckets), as
/// the specification recommends.
pub(crate) const EXPONENTIAL_RESERVOIR: usize = 20;
/// The size of a sum stripe's reservoir: one, as the specification's default for
/// `SimpleFixedSizeExemplarReservoir` in most SDKs (a Prometheus sample carries one exemplar).
pub(crate) const SUM_RESERVOIR: usize = 1;

/// Which measurements may become exemplars (`OTEL_METRICS_EXEMPLAR_FILTER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExemplarFilter {
    /// Measurements made while a sampled span is current (`trace_based`, the default).
    #[default]
    TraceBased,
    /// Every measurement (`always_on`); those outside a span carry no trace or span id.
    AlwaysOn,
    /// None (`always_off`): no exemplar storage is made.
    AlwaysOff,
}

impl ExemplarFilter {
    /// The ids to keep with a measurement made now, or `None` when the filter refuses it.
    #[inline(always)]
    pub(crate) fn admit(self) -> Option<CurrentIds> {
        match self {
            ExemplarFilter::AlwaysOff => None,
            // The sampled flag first: it shares a thread-local with the stripe slot the record
            // has just read, and only a record in a sampled span reads the ids.
            ExemplarFilter::TraceBased => thread_words::span_sampled().then(current_ids),
            ExemplarFilter::AlwaysOn => Some(current_ids()),
        }
    }

    /// Whether a measurement made now is kept, without reading the ids ([`admit`](Self::admit)
    /// reads them too): for a record that reads them only once it keeps one, out of line.
    /// Without a branch: the flag is read whatever the filter (its line is the stripe slot's,
    /// which the record reads anyway), so that a cold record's code runs on in sequence.
    #[inline(always)]
    // Bitwise on purpose: a lazy `||` may become the branch this avoids.
    #[allow(clippy::needless_bitwise_bool)]
    pub(crate) fn admits(self) -> bool {
        let sampled = thread_words::span_sampled();
        (self == ExemplarFilter::TraceBased) & sampled | (self == ExemplarFilter::AlwaysOn)
    }

    /// Whether any measurement can become an exemplar (so storage is needed).
    pub(crate) fn keeps_any(self) -> bool {
        self != ExemplarFilter::AlwaysOff
    }
}

/// What an instrument's cells keep of exemplars: which measurements, and whether its view removes
/// attributes (then each place gets room for the removed pairs of an unbound record).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keeping {
    pub filter: ExemplarFilter,
    pub removes: bool,
}

impl From<ExemplarFilter> for Keeping {
    fn from(filter: ExemplarFilter) -> Self {
        Keeping { filter, removes: false }
    }
}

/// The attributes a record's view removed, as a record hands them to the cells: looked at only
/// when an exemplar is kept.
#[derive(Clone, Copy)]
pub(crate) enum Removed<'a> {
    /// None: the instrument has no attribute filter (so its places have no inline room).
    None,
    /// A bound handle's, made when it was bound (possibly none).
    Bound(&'a Arc<[KeyValue]>),
    /// Those of the caller's slice that the filter removes.
    Slice(&'a [KeyValue], &'a AttributeFilter),
}

/// Where the attributes a record's view removed come from, looked at only when an exemplar is
/// kept. A type rather than a value: the records of instruments without an attribute filter pass
/// [`NoneRemoved`], which has no size, so their hot path carries nothing more than before views.
pub(crate) trait Removes<'a>: Copy {
    /// The removed attributes.
    fn get(self) -> Removed<'a>;
}

/// No attributes removed: an instrument without an attribute filter.
#[derive(Clone, Copy)]
pub(crate) struct NoneRemoved;

impl Removes<'static> for NoneRemoved {
    #[inline(always)]
    fn get(self) -> Removed<'static> {
        Removed::None
    }
}

impl<'a> Removes<'a> for Removed<'a> {
    #[inline(always)]
    fn get(self) -> Removed<'a> {
        self
    }
}

/// A bound handle's removed pairs (`None` when its instrument has no attribute filter): the handle
/// passes a reference to them, so its record carries one pointer, read only when an exemplar is
/// kept.
impl<'a> Removes<'a> for &'a Option<Arc<[KeyValue]>> {
    #[inline(always)]
    fn get(self) -> Removed<'a> {
        match self {
            Some(pairs) => Removed::Bound(pairs),
            None => Removed::None,
        }
    }
}

/// The pairs of `attributes` that `filter` removes, for a bound handle to keep (possibly none:
/// see [`Places::keep`]).
pub(crate) fn removed_pairs(attributes: &[KeyValue], filter: &AttributeFilter) -> Arc<[KeyValue]> {
    live_removed(attributes, filter).cloned().collect()
}

/// The pairs of `attributes` that `filter` removes, in order; of a repeated key only the last
/// (the one the series would have kept).
fn live_removed<'a>(attributes: &'a [KeyValue], filter: &'a AttributeFilter) -> impl Iterator<Item = &'a KeyValue> {
    attributes.iter().enumerate().filter_map(move |(i, kv)| {
        let later = attributes.get(i + 1..).unwrap_or_default();
        let live = !filter.keeps(kv.key.as_str()) && !later.iter().any(|other| other.key == kv.key);
        live.then_some(kv)
    })
}

/// The removed pairs of an unbound record whose exemplar a place keeps (see the module header).
#[derive(Clone, Debug, Default)]
struct Inline {
    /// Clones of the first pairs removed: a copy of their words, or a reference count on their
    /// shared text, bytes or lists (never an allocation). Those past `len` are an earlier
    /// record's, released when overwritten.
    pairs: [Option<KeyValue>; FILTERED_INLINE],
    len: u8,
    /// Removed pairs past [`FILTERED_INLINE`], counted.
    left_out: u32,
}

impl Inline {
    /// Keeps the pairs of `attributes` that `filter` removes, as many as fit.
    fn fill(&mut self, attributes: &[KeyValue], filter: &AttributeFilter) {
        let (mut len, mut left_out) = (0u8, 0u32);
        for kv in live_removed(attributes, filter) {
            match self.pairs.get_mut(usize::from(len)) {
                Some(place) => {
                    *place = Some(kv.clone());
                    len += 1;
                }
                None => left_out = left_out.saturating_add(1),
            }
        }
        (self.len, self.left_out) = (len, left_out);
    }

    /// The pairs kept, then the count of those left out if any, or `None` when there were none.
    fn attributes(&self) -> Option<Arc<[KeyValue]>> {
        let kept = self.pairs.iter().take(usize::from(self.len)).flatten().cloned();
        let left_out = (self.left_out > 0).then(|| KeyValue::new(FILTERED_LEFT_OUT_KEY, i64::from(self.left_out)));
        let attributes: Vec<KeyValue> = kept.chain(left_out).collect();
        (!attributes.is_empty()).then(|| attributes.into())
    }
}

/// A fixed number of places for kept exemplars, made with the cells that keep them, written by
/// one holder at a time (a held stripe or reservoir) and read by the collector under the same
/// claim.
pub(crate) struct Places {
    kept: Box<[Option<Kept>]>,
    /// One per place when the instrument's view removes attributes: the removed pairs of the
    /// unbound record kept there. None otherwise.
    inline: Box<[Inline]>,
    /// Reads a kept exemplar's time in the line `kept`'s pointer is read from (see `TickReader`).
    clock: TickReader,
}

impl Places {
    /// `len` empty places (0 for none), with room for removed pairs if `removes`.
    pub(crate) fn new(len: usize, removes: bool) -> Self {
        Places {
            kept: vec![None; len].into(),
            inline: (0..if removes { len } else { 0 }).map(|_| Inline::default()).collect(),
            // With no place, nothing is kept and the clock is never read: not set up for it.
            clock: if len == 0 { TickReader::through_the_clock() } else { TickReader::new() },
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.kept.len()
    }

    /// Keeps `value`, measured now within the span of `ids`, with the attributes its view
    /// `removed`, in place `index` (nothing when there is no such place).
    // Always: a record in a sampled span keeps one per record, and a call would cost it a tenth.
    #[inline(always)]
    pub(crate) fn keep<N: Number>(&mut self, index: usize, value: N, ids: CurrentIds, removed: Removed<'_>) {
        if let Some(place) = self.kept.get_mut(index) {
            *place = Some(Kept::now(value, ids, self.clock));
            // Out of line: only instruments whose view has an attribute filter get here (their
            // bound handles pass their removed pairs even when there are none, so that this
            // place's inline room, if any, is emptied).
            if !matches!(removed, Removed::None) {
                self.keep_removed(index, removed);
            }
        }
    }

    /// The attributes removed from the record just kept in place `index`: a bound handle's,
    /// shared; a slice's, copied inline; and the inline room of a record that removed none (a
    /// bound handle's) emptied.
    #[inline(never)]
    fn keep_removed(&mut self, index: usize, removed: Removed<'_>) {
        if let (Removed::Bound(pairs), Some(Some(kept))) = (removed, self.kept.get_mut(index)) {
            kept.filtered_attributes = Some(pairs.clone());
        }
        if let Some(inline) = self.inline.get_mut(index) {
            match removed {
                Removed::Slice(attributes, filter) => inline.fill(attributes, filter),
                Removed::None | Removed::Bound(_) => (inline.len, inline.left_out) = (0, 0),
            }
        }
    }

    /// When the exemplar in place `index` was kept, if there is one.
    pub(crate) fn ticks(&self, index: usize) -> Option<u64> {
        self.kept.get(index)?.as_ref().map(|kept| kept.ticks)
    }

    /// The exemplar in place `index`, with the removed pairs kept inline, if there is one.
    pub(crate) fn get(&self, index: usize) -> Option<Kept> {
        let mut kept = self.kept.get(index)?.clone()?;
        if let Some(inline) = self.inline.get(index) {
            kept.filtered_attributes = kept.filtered_attributes.or_else(|| inline.attributes());
        }
        Some(kept)
    }

    /// Empties every place.
    pub(crate) fn clear(&mut self) {
        self.kept.fill(None);
    }
}

/// An exemplar as a stripe keeps it: plain words, converted at collection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Kept {
    /// The measurement's bits (see [`Number::to_bits`]).
    pub value: u64,
    /// The process clock's raw reading when it was kept (see `clock::ticks`).
    pub ticks: u64,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The measurement's attributes its view removed: a bound handle's, shared; or, at
    /// collection, those a place kept inline (see [`Places`]).
    pub filtered_attributes: Option<Arc<[KeyValue]>>,
}

impl Kept {
    /// `value`, measured now (read through `clock`) within the span of `ids`.
    #[inline]
    pub(crate) fn now<N: Number>(value: N, ids: CurrentIds, clock: TickReader) -> Kept {
        Kept {
            value: value.to_bits(),
            ticks: clock.ticks(),
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            filtered_attributes: None,
        }
    }

    /// The OTLP exemplar, its value read as an `N`.
    pub(crate) fn into_proto<N: Number>(self) -> Exemplar {
        let filtered_attributes: Vec<OtlpKeyValue> =
            self.filtered_attributes.iter().flat_map(|attributes| attributes.iter().map(KeyValue::to_proto)).collect();
        let value = match N::from_bits(self.value).to_point() {
            PointValue::AsInt(value) => exemplar::Value::AsInt(value),
            PointValue::AsDouble(value) => exemplar::Value::AsDouble(value),
        };
        // Ids are left out, not sent as zeros, when the measurement had no span (`AlwaysOn`).
        let bytes = |valid: bool, bytes: &[u8]| if valid { bytes.to_vec() } else { Vec::new() };
        Exemplar {
            filtered_attributes,
            time_unix_nano: clock::ticks_to_unix_nanos(self.ticks),
            span_id: bytes(self.span_id.is_valid(), &self.span_id.to_bytes()),
            trace_id: bytes(self.trace_id.is_valid(), &self.trace_id.to_bytes()),
            value: Some(value),
        }
    }
}

/// The OTLP exemplars of `kept`, values read as `N`, oldest first.
pub(crate) fn to_proto<N: Number>(mut kept: Vec<Kept>) -> Vec<Exemplar> {
    kept.sort_by_key(|kept| kept.ticks);
    kept.into_iter().map(Kept::into_proto::<N>).collect()
}

/// A `SimpleFixedSizeExemplarReservoir`: the first measurements offered fill it, then the n-th
/// replaces a random one with probability size/n, so it always holds a uniform sample of what it
/// was offered. Owned by one writer at a time (a held stripe).
pub(crate) struct Reservoir {
    /// Measurements offered since the last reset.
    seen: u64,
    /// Fixed at creation: none when the filter keeps none.
    kept: Places,
}

impl Reservoir {
    /// A reservoir of `size` (0 for none), with room for removed pairs if `removes`.
    pub(crate) fn new(size: usize, removes: bool) -> Self {
        Reservoir { seen: 0, kept: Places::new(size, removes) }
    }

    /// Offers a measurement made now within the span of `ids`, with the attributes its view
    /// `removed`. Always inlined: its callers are the out-of-line exemplar paths, one each.
    #[inline(always)]
    pub(crate) fn offer<N: Number>(&mut self, value: N, ids: CurrentIds, removed: Removed<'_>) {
        let size = self.kept.len() as u64;
        if size == 0 {
            return;
        }
        let slot = if self.seen < size { self.seen } else { random_up_to(self.seen) };
        self.seen += 1;
        self.kept.keep(slot as usize, value, ids, removed);
    }

    /// What it holds, then what `restart` says.
    pub(crate) fn take(&mut self, restart: Restart) -> Sample {
        let sample = Sample { seen: self.seen, kept: (0..self.kept.len()).filter_map(|i| self.kept.get(i)).collect() };
        match restart {
            Restart::Nothing => {}
            Restart::Count => self.seen = 0,
            Restart::All => {
                self.seen = 0;
                self.kept.clear();
            }
        }
        sample
    }
}

/// What a collection restarts in the reservoirs it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Restart {
    /// An in-process view (a scrape, `snapshot`): nothing.
    Nothing,
    /// A cumulative exporting collection: the count of measurements seen, so that the next ones
    /// replace what is kept (the specification: the sampling state "SHOULD be reset every
    /// collection cycle"). The exemplars stay until replaced. Until session 40 the count ran for
    /// the process's life, so after N measurements a new one was kept with probability 1/N and a
    /// cumulative series' exemplars stopped changing.
    Count,
    /// A delta exporting collection: the count and the exemplars (each window's are its own).
    All,
}

/// A reservoir's content at a collection: its exemplars, and how many measurements they stand
/// for.
pub(crate) struct Sample {
    pub seen: u64,
    pub kept: Vec<Kept>,
}

/// At most `size` exemplars drawn from several reservoirs' samples, each exemplar weighted by the
/// measurements it stands for (its reservoir's count over its size), so the result is a uniform
/// sample of all the measurements offered (weighted sampling by Efraimidis and Spirakis: each
/// item gets the key u^(1/w), u uniform in (0, 1), and the `size` largest keys are kept).
pub(crate) fn merge(samples: Vec<Sample>, size: usize) -> Vec<Kept> {
    let total: usize = samples.iter().map(|sample| sample.kept.len()).sum();
    if total <= size {
        return samples.into_iter().flat_map(|sample| sample.kept).collect();
    }
    let mut keyed: Vec<(f64, Kept)> = samples
        .into_iter()
        .flat_map(|sample| {
            let weight = sample.seen as f64 / sample.kept.len().max(1) as f64;
            sample.kept.into_iter().map(move |kept| {
                // u in (0, 1]; ln(u) / w orders items as u^(1/w) does, without underflow.
                let u = (random_up_to(u64::MAX >> 11) + 1) as f64 / (1u64 << 53) as f64;
                (u.ln() / weight.max(1.0), kept)
            })
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().take(size).map(|(_, kept)| kept).collect()
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;
    use crate::attributes::Text;

    fn ids(n: u8) -> CurrentIds {
        CurrentIds { trace_id: TraceId::from_bytes([n; 16]), span_id: SpanId::from_bytes([n; 8]) }
    }

    #[test]
    fn a_reservoir_fills_first_then_samples_uniformly() {
        let mut reservoir = Reservoir::new(4, false);
        for n in 0..4u64 {
            reservoir.offer(n, ids(1), Removed::None);
        }
        let first: Vec<u64> = reservoir.take(Restart::Nothing).kept.iter().map(|k| k.value).collect();
        assert_eq!(first, [0, 1, 2, 3], "the first four fill it in order");
        // Uniform: over many runs of 40 offers, each value is kept with probability 4/40.
        let mut hits = [0u32; 40];
        for _ in 0..5000 {
            let mut reservoir = Reservoir::new(4, false);
            (0..40u64).for_each(|n| reservoir.offer(n, ids(1), Removed::None));
            let sample = reservoir.take(Restart::All);
            assert_eq!((sample.seen, sample.kept.len()), (40, 4));
            sample.kept.iter().for_each(|k| hits[k.value as usize] += 1);
            assert!(reservoir.take(Restart::Nothing).kept.is_empty(), "a reset empties it");
        }
        // Expected 500 each; 5 standard deviations is about ±106.
        assert!(hits.iter().all(|&h| (390..=610).contains(&h)), "{hits:?}");
        let mut none = Reservoir::new(0, false);
        none.offer(1u64, ids(1), Removed::None);
        assert!(none.take(Restart::Nothing).kept.is_empty());
    }

    #[test]
    fn merging_weighs_each_reservoir_by_what_it_saw() {
        let kept = |value: u64| Kept {
            value,
            ticks: value,
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            filtered_attributes: None,
        };
        // One stripe saw 900 measurements, another 100: the merged exemplar comes from the first
        // about nine times in ten.
        let mut from_busy = 0;
        for _ in 0..4000 {
            let samples = vec![Sample { seen: 900, kept: vec![kept(1)] }, Sample { seen: 100, kept: vec![kept(2)] }];
            let merged = merge(samples, 1);
            assert_eq!(merged.len(), 1);
            from_busy += u32::from(merged[0].value == 1);
        }
        assert!((3450..=3750).contains(&from_busy), "{from_busy}");
        let few = merge(vec![Sample { seen: 1, kept: vec![kept(3)] }, Sample { seen: 0, kept: vec![] }], 2);
        assert_eq!(few, [kept(3)]);
    }

    #[test]
    fn the_proto_form_reads_the_value_as_its_type_omits_missing_ids_and_carries_filtered_attributes() {
        let kept = Kept {
            value: (-3i64).to_bits(),
            ticks: clock::ticks(),
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            filtered_attributes: Some(Arc::from([KeyValue::new("order.id", 42)])),
        };
        let proto = kept.into_proto::<i64>();
        assert_eq!(proto.value, Some(exemplar::Value::AsInt(-3)));
        assert!(proto.trace_id.is_empty() && proto.span_id.is_empty());
        assert_eq!(proto.filtered_attributes, [KeyValue::new("order.id", 42).to_proto()]);
        assert!(proto.time_unix_nano > 1_600_000_000_000_000_000);
        let kept = Kept::now(2.5f64, ids(7), TickReader::new());
        assert_eq!(kept.filtered_attributes, None, "a record with nothing removed");
        let proto = kept.into_proto::<f64>();
        assert_eq!(
            (proto.value, proto.trace_id, proto.span_id),
            (Some(exemplar::Value::AsDouble(2.5)), vec![7; 16], vec![7; 8])
        );
    }

    fn keys(kept: &Kept) -> Vec<String> {
        let pairs = kept.filtered_attributes.iter().flat_map(|pairs| pairs.iter());
        pairs.map(|kv| format!("{}={}", kv.key.as_str(), kv.value)).collect()
    }

    /// A place keeps the removed pairs of a slice that copy as words, in order, the last of a
    /// repeated key, at most `FILTERED_INLINE`; the others are counted in one more pair. A bound
    /// handle's are shared whole; a place whose next exemplar removed nothing shows none.
    #[test]
    fn places_keep_the_first_removed_pairs_and_count_the_rest() {
        let filter = AttributeFilter::keep(["venue"]);
        let shared = KeyValue::new(String::from("client"), "c1");
        let attributes = [
            KeyValue::new("venue", "XNAS"),
            KeyValue::new("order.id", 1),
            KeyValue::new("urgent", true),
            KeyValue::new("order.id", 42),
            KeyValue::new("price", 10.5),
            shared.clone(),
            KeyValue::new("client.name", String::from("Acme")),
            KeyValue::new("desk", "fx"),
            KeyValue::new("book", "b7"),
        ];
        let mut places = Places::new(2, true);
        places.keep(0, 5u64, ids(1), Removed::Slice(&attributes, &filter));
        let kept = places.get(0).expect("kept");
        assert_eq!(kept.value, 5);
        assert_eq!(
            keys(&kept),
            [
                "urgent=true",
                "order.id=42",
                "price=10.5",
                "client=c1",
                &format!("{FILTERED_LEFT_OUT_KEY}=3"), // client.name, desk and book: past the room of 4
            ]
        );
        assert_eq!(places.ticks(0), Some(kept.ticks));
        assert_eq!((places.get(1).is_none(), places.ticks(1)), (true, None));

        // A bound handle that removed nothing passes its empty pairs: the inline ones go.
        let nothing = removed_pairs(&attributes[..1], &filter);
        assert!(nothing.is_empty());
        places.keep(0, 6u64, ids(1), Removed::Bound(&nothing));
        assert_eq!(places.get(0).map(|kept| keys(&kept)), Some(vec![]));
        places.keep(0, 7u64, ids(1), Removed::Slice(&attributes, &filter));
        let bound = removed_pairs(&attributes, &filter);
        assert_eq!(bound.len(), 7, "a bound handle keeps every removed pair, whatever its type");
        places.keep(0, 7u64, ids(1), Removed::Bound(&bound));
        assert!(places.get(0).and_then(|kept| kept.filtered_attributes).is_some_and(|p| Arc::ptr_eq(&p, &bound)));
        // A run-time key and value are kept by reference count: the clone shares the caller's text.
        places.keep(1, 8u64, ids(1), Removed::Slice(std::slice::from_ref(&shared), &filter));
        let kept = places.get(1).and_then(|kept| kept.filtered_attributes).expect("the pair is kept");
        assert!(matches!((&kept[0].key, &shared.key), (Text::Shared(a), Text::Shared(b)) if Arc::ptr_eq(a, b)));
        places.clear();
        assert!(places.get(0).is_none() && places.get(1).is_none());
        // The room per place that README.md states.
        assert_eq!(std::mem::size_of::<Inline>(), 200);
        // Without room (an instrument whose view removes nothing), a slice's pairs are not kept.
        let mut plain = Places::new(1, false);
        plain.keep(0, 9u64, ids(1), Removed::Slice(&attributes, &filter));
        assert_eq!(plain.get(0).map(|kept| keys(&kept)), Some(vec![]));
    }
}
