//! What every instrument does at collection: turn its series into one OTLP [`Metric`].

use std::time::Instant;

use crate::proto::common::v1::KeyValue as OtlpKeyValue;
use crate::proto::metrics::v1::{metric, Metric};

use super::descriptor::{Descriptor, TemporalityPreference};
use super::series_map::Series;

/// One collection's settings, shared by every instrument it visits.
pub(crate) struct CollectContext {
    /// The collection time in Unix nanoseconds: every point's `time_unix_nano`.
    pub now: u64,
    pub preference: TemporalityPreference,
    /// True for the collections that export (they start a new delta window); false for the
    /// in-process views, which only look.
    pub reset: bool,
    /// Callbacks of observable instruments that have not started by then are skipped.
    pub deadline: Instant,
}

/// An instrument as the collector sees it.
pub(crate) trait Collect: Send + Sync {
    /// The instrument's metric, or `None` when it has no point to report.
    fn collect(&self, cx: &CollectContext) -> Option<Metric>;
}

pub(crate) fn metric(descriptor: &Descriptor, data: metric::Data) -> Metric {
    Metric {
        name: descriptor.name.clone(),
        description: descriptor.description.clone(),
        unit: descriptor.unit.clone(),
        data: Some(data),
        ..Default::default()
    }
}

pub(crate) fn attributes<A>(series: &Series<A>) -> Vec<OtlpKeyValue> {
    series.attributes.attributes().iter().map(super::super::attributes::KeyValue::to_proto).collect()
}
