//! What differs between counters, gauges and histograms for the registry: which instrument a
//! name builds, how a late description reaches it, and the handle of one of its series.

use std::sync::atomic::AtomicU64;

use crate::attributes::KeyValue;
use crate::metrics::{Counter, Gauge, Histogram, InstrumentError, Meter};

use super::handles::{CounterHandle, GaugeHandle, HistogramHandle};

/// One kind of `metrics` instrument.
pub(super) trait Kind {
    type Instrument;
    type Handle: Send + Sync + 'static;

    /// The instrument of `name`, with a unit and description (empty when not described yet).
    fn build(meter: &Meter, name: &str, unit: String, description: String)
        -> Result<Self::Instrument, InstrumentError>;

    /// Gives a built instrument another unit and description.
    fn describe(instrument: &Self::Instrument, unit: String, description: String);

    /// The handle of the series of `attributes`.
    fn bind(instrument: &Self::Instrument, attributes: &[KeyValue]) -> Self::Handle;
}

pub(super) struct CounterKind;

impl Kind for CounterKind {
    type Instrument = Counter<u64>;
    type Handle = CounterHandle;

    fn build(meter: &Meter, name: &str, unit: String, description: String) -> Result<Counter<u64>, InstrumentError> {
        meter.u64_counter(name).with_unit(unit).with_description(description).build()
    }

    fn describe(instrument: &Counter<u64>, unit: String, description: String) {
        instrument.inner.describe(unit, description);
    }

    fn bind(instrument: &Counter<u64>, attributes: &[KeyValue]) -> CounterHandle {
        CounterHandle { series: instrument.bind(attributes), highest: AtomicU64::new(0) }
    }
}

pub(super) struct GaugeKind;

impl Kind for GaugeKind {
    type Instrument = Gauge<f64>;
    type Handle = GaugeHandle;

    fn build(meter: &Meter, name: &str, unit: String, description: String) -> Result<Gauge<f64>, InstrumentError> {
        meter.f64_gauge(name).with_unit(unit).with_description(description).build()
    }

    fn describe(instrument: &Gauge<f64>, unit: String, description: String) {
        instrument.inner.describe(unit, description);
    }

    fn bind(instrument: &Gauge<f64>, attributes: &[KeyValue]) -> GaugeHandle {
        GaugeHandle(instrument.bind(attributes))
    }
}

pub(super) struct HistogramKind;

impl Kind for HistogramKind {
    type Instrument = Histogram<f64>;
    type Handle = HistogramHandle;

    fn build(meter: &Meter, name: &str, unit: String, description: String) -> Result<Histogram<f64>, InstrumentError> {
        meter.f64_histogram(name).with_unit(unit).with_description(description).build()
    }

    fn describe(instrument: &Histogram<f64>, unit: String, description: String) {
        instrument.inner.describe(unit, description);
    }

    fn bind(instrument: &Histogram<f64>, attributes: &[KeyValue]) -> HistogramHandle {
        HistogramHandle(instrument.bind(attributes))
    }
}
