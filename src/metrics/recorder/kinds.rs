//! What differs between counters, gauges and histograms for the registry: which instrument a
//! name builds, how a late description reaches it, and the handle of one of its series.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::attributes::KeyValue;
use crate::metrics::series_map::Standing;
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

    /// Whether the registry may drop `handle` (binding its key again on next use) so that its
    /// series can be evicted or its key find room: see `Series::standing`.
    fn standing(handle: &Self::Handle) -> Standing;

    /// Whether the instrument's series table has room for another series.
    fn has_room(instrument: &Self::Instrument) -> bool;
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

    fn has_room(instrument: &Counter<u64>) -> bool {
        instrument.inner.map.has_room()
    }

    /// Never a counter raised by `absolute` (live, whatever its series): its highest value would
    /// be forgotten, and the next `absolute` counted again whole.
    fn standing(handle: &CounterHandle) -> Standing {
        // Relaxed: only zero matters, and a handle that was never raised stays at it.
        if handle.highest.load(Ordering::Relaxed) == 0 {
            handle.series.standing()
        } else {
            Standing::Live
        }
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

    fn has_room(instrument: &Gauge<f64>) -> bool {
        instrument.inner.map.has_room()
    }

    fn standing(handle: &GaugeHandle) -> Standing {
        handle.0.standing()
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

    fn has_room(instrument: &Histogram<f64>) -> bool {
        instrument.inner.map.has_room()
    }

    fn standing(handle: &HistogramHandle) -> Standing {
        handle.0.standing()
    }
}
