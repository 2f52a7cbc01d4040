//! Exemplars: sample measurements kept with the trace and span that made them, so that a bucket of
//! a latency histogram links to the traces behind it.
//!
//! # Which measurements
//!
//! The provider's [`ExemplarFilter`] decides, per measurement: `TraceBased` (the default) offers
//! those made while a sampled span is current on the thread, `AlwaysOn` every one, `AlwaysOff`
//! none. Asking is one thread-local load (`trace::context::current_ids`, the ids copied out of the
//! current context when it was entered) and one predictable branch; a span's ids are drawn when it
//! is entered, so the ids kept are the ones its exporter sends.
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
//! (each window's exemplars are its own); cumulative ones keep theirs. With `AlwaysOff` no storage
//! is made at all.
//!
//! Each kept exemplar has a place for the measurement's attributes a view filtered out (the OTLP
//! exemplar's `filtered_attributes`), shared rather than copied so that keeping it cannot
//! allocate. It is always empty for now: nanotel has no views yet.

use std::sync::Arc;

use crate::attributes::KeyValue;
use crate::clock;
use crate::proto::common::v1::KeyValue as OtlpKeyValue;
use crate::proto::metrics::v1::{exemplar, number_data_point::Value as PointValue, Exemplar};
use crate::trace::context::{current_ids, CurrentIds};
use crate::trace::ids::random_up_to;
use crate::trace::{SpanId, TraceId};

use super::number::Number;

/// The size of an exponential histogram stripe's reservoir: min(20, 160 buckets), as the
/// specification recommends.
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
            ExemplarFilter::TraceBased => {
                let ids = current_ids();
                ids.sampled.then_some(ids)
            }
            ExemplarFilter::AlwaysOn => Some(current_ids()),
        }
    }

    /// Whether any measurement can become an exemplar (so storage is needed).
    pub(crate) fn keeps_any(self) -> bool {
        self != ExemplarFilter::AlwaysOff
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
    /// The measurement's attributes a view filtered out (none yet: nanotel has no views).
    pub filtered_attributes: Option<Arc<[KeyValue]>>,
}

impl Kept {
    /// `value`, measured now within the span of `ids`.
    #[inline]
    pub(crate) fn now<N: Number>(value: N, ids: CurrentIds) -> Kept {
        Kept {
            value: value.to_bits(),
            ticks: clock::ticks(),
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

/// Of two kept exemplars, the later one.
pub(crate) fn latest(a: Option<Kept>, b: Option<&Kept>) -> Option<Kept> {
    match (a, b) {
        (Some(a), Some(b)) if b.ticks > a.ticks => Some(b.clone()),
        (None, Some(b)) => Some(b.clone()),
        (a, _) => a,
    }
}

/// A `SimpleFixedSizeExemplarReservoir`: the first measurements offered fill it, then the n-th
/// replaces a random one with probability size/n, so it always holds a uniform sample of what it
/// was offered. Owned by one writer at a time (a held stripe).
pub(crate) struct Reservoir {
    /// Measurements offered since the last reset.
    seen: u64,
    /// Fixed at creation: empty when the filter keeps none.
    kept: Box<[Option<Kept>]>,
}

impl Reservoir {
    /// A reservoir of `size` (0 for none).
    pub(crate) fn new(size: usize) -> Self {
        Reservoir { seen: 0, kept: vec![None; size].into() }
    }

    /// Offers a measurement made now within the span of `ids`.
    #[inline]
    pub(crate) fn offer<N: Number>(&mut self, value: N, ids: CurrentIds) {
        let size = self.kept.len() as u64;
        if size == 0 {
            return;
        }
        let slot = if self.seen < size { self.seen } else { random_up_to(self.seen) };
        self.seen += 1;
        if let Some(kept) = self.kept.get_mut(slot as usize) {
            *kept = Some(Kept::now(value, ids));
        }
    }

    /// What it holds, and (with `reset`) empties it.
    pub(crate) fn take(&mut self, reset: bool) -> Sample {
        let sample = Sample { seen: self.seen, kept: self.kept.iter().flatten().cloned().collect() };
        if reset {
            self.seen = 0;
            self.kept.fill(None);
        }
        sample
    }
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

    fn ids(n: u8) -> CurrentIds {
        CurrentIds { trace_id: TraceId::from_bytes([n; 16]), span_id: SpanId::from_bytes([n; 8]), sampled: true }
    }

    #[test]
    fn a_reservoir_fills_first_then_samples_uniformly() {
        let mut reservoir = Reservoir::new(4);
        for n in 0..4u64 {
            reservoir.offer(n, ids(1));
        }
        let first: Vec<u64> = reservoir.take(false).kept.iter().map(|k| k.value).collect();
        assert_eq!(first, [0, 1, 2, 3], "the first four fill it in order");
        // Uniform: over many runs of 40 offers, each value is kept with probability 4/40.
        let mut hits = [0u32; 40];
        for _ in 0..5000 {
            let mut reservoir = Reservoir::new(4);
            (0..40u64).for_each(|n| reservoir.offer(n, ids(1)));
            let sample = reservoir.take(true);
            assert_eq!((sample.seen, sample.kept.len()), (40, 4));
            sample.kept.iter().for_each(|k| hits[k.value as usize] += 1);
            assert!(reservoir.take(false).kept.is_empty(), "a reset empties it");
        }
        // Expected 500 each; 5 standard deviations is about ±106.
        assert!(hits.iter().all(|&h| (390..=610).contains(&h)), "{hits:?}");
        let mut none = Reservoir::new(0);
        none.offer(1u64, ids(1));
        assert!(none.take(false).kept.is_empty());
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
        assert_eq!(latest(Some(kept(1)), Some(&kept(2))), Some(kept(2)));
        assert_eq!(latest(Some(kept(3)), Some(&kept(2))), Some(kept(3)));
        assert_eq!(latest(None, Some(&kept(2))), Some(kept(2)));
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
        let kept = Kept::now(2.5f64, ids(7));
        assert_eq!(kept.filtered_attributes, None, "no views yet: nothing is filtered out");
        let proto = kept.into_proto::<f64>();
        assert_eq!(
            (proto.value, proto.trace_id, proto.span_id),
            (Some(exemplar::Value::AsDouble(2.5)), vec![7; 16], vec![7; 8])
        );
    }
}
