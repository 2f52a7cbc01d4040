//! Instrument builders: name, unit, description, histogram buckets, observable callbacks; the
//! checks of OTLP-NOTES §6.8 run at `build`.

use std::marker::PhantomData;
use std::sync::Arc;

use super::collect::Collect;
use super::descriptor::{check_boundaries, check_name, check_unit, Descriptor, InstrumentError, InstrumentKind};
use super::exemplar::Keeping;
use super::exponential::{MAX_SCALE, MAX_SIZE};
use super::exponential_cells::ExpoCells;
use super::gauge::GaugeCell;
use super::histogram::HistogramCells;
use super::meter::Meter;
use super::number::Number;
use super::observable::{Callback, Observable, ObservableInstrument, Observer};
use super::series_map::Reclaim;
use super::sum::SumCells;
use super::sync::{Counter, Gauge, GaugeKind, Histogram, HistogramKind, SumKind, SyncInstrument, UpDownCounter};
use super::view::{HistogramChoice, Route, Stream};

/// Settings of an instrument being built.
#[derive(Clone, Debug)]
struct Spec {
    name: String,
    unit: String,
    description: String,
    boundaries: Option<Vec<f64>>,
    exponential: bool,
    forgettable: bool,
}

impl Spec {
    fn named(name: &str) -> Self {
        Spec {
            name: name.to_owned(),
            unit: String::new(),
            description: String::new(),
            boundaries: None,
            exponential: false,
            forgettable: false,
        }
    }
}

/// Builds one instrument; `T` is what [`build`](InstrumentBuilder::build) returns.
#[must_use = "an instrument builder does nothing until built"]
pub struct InstrumentBuilder<'m, T> {
    meter: &'m Meter,
    spec: Spec,
    _instrument: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for InstrumentBuilder<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.spec.fmt(f)
    }
}

impl<'m, T> InstrumentBuilder<'m, T> {
    pub(crate) fn new(meter: &'m Meter, name: &str) -> Self {
        InstrumentBuilder { meter, spec: Spec::named(name), _instrument: PhantomData }
    }

    /// The unit (UCUM, e.g. `s`, `By`, `{order}`).
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.spec.unit = unit.into();
        self
    }

    /// The description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.spec.description = description.into();
        self
    }

    /// Lets the instrument's series be removed with `forget` (see [`Forget`]). Its unbound
    /// records then pin an epoch, as those of instruments that evict idle delta series do (see
    /// the README for the cost); bound handles cost the same either way. When an instrument of
    /// this name was built before, the first build's choice applies.
    ///
    /// [`Forget`]: super::Forget
    pub fn with_forgettable(mut self) -> Self {
        self.spec.forgettable = true;
        self
    }

    fn check(&self) -> Result<(), InstrumentError> {
        check_name(&self.spec.name)?;
        check_unit(&self.spec.name, &self.spec.unit)?;
        if let Some(bounds) = &self.spec.boundaries {
            check_boundaries(&self.spec.name, bounds)?;
        }
        Ok(())
    }

    /// The instrument, registered with its view applied; `cells` makes the cells of its series
    /// for the stream's histogram buckets (ignored by other kinds) and what they keep of
    /// exemplars.
    fn sync<A: Send + Sync + 'static, N: Number, F: Fn() -> A + Send + Sync + 'static>(
        self,
        kind: InstrumentKind,
        cells: impl FnOnce(HistogramChoice, Keeping) -> F,
    ) -> Result<Arc<SyncInstrument<A, N>>, InstrumentError>
    where
        SyncInstrument<A, N>: Collect,
    {
        self.check()?;
        let descriptor = descriptor(kind, &self.spec);
        let advised = match (&self.spec.boundaries, self.spec.exponential) {
            (_, true) => Some(HistogramChoice::Exponential { max_size: MAX_SIZE, max_scale: MAX_SCALE }),
            (Some(bounds), false) => Some(HistogramChoice::Explicit(bounds.clone())),
            (None, false) => None,
        };
        Ok(self.meter.register(descriptor.clone(), || {
            let stream = self.meter.stream(descriptor, advised);
            let exported = stream.descriptor.name.clone();
            let instrument = Arc::new(sync_instrument::<A, N, F>(self.meter, stream, self.spec.forgettable, cells));
            (instrument.clone(), instrument as Arc<dyn Collect>, exported)
        }))
    }
}

/// The state of a synchronous instrument (or of an observable one aggregated as a histogram) for
/// `stream`; `cells` makes the cells of its series, as for [`InstrumentBuilder::sync`].
fn sync_instrument<A: Send + Sync + 'static, N: Number, F: Fn() -> A + Send + Sync + 'static>(
    meter: &Meter,
    stream: Stream,
    forgettable: bool,
    cells: impl FnOnce(HistogramChoice, Keeping) -> F,
) -> SyncInstrument<A, N> {
    let kind = stream.descriptor.kind;
    // A dropped stream keeps no series: the smallest table will do.
    let limit = if matches!(stream.route, Route::Off) { 2 } else { stream.limit };
    // Exemplar places get room for removed pairs only when the view removes some.
    let removes = matches!(stream.route, Route::Filtered(_));
    let make = cells(stream.histogram, Keeping { filter: meter.exemplar_filter(), removes });
    // Tables that can unlink series pin on every record: only those that evict idle delta
    // series, or were asked to forget.
    let reclaim = match (&stream.route, meter.idle_limit(kind), forgettable) {
        (Route::Off, _, _) | (_, None, false) => None,
        (_, idle_limit, _) => Some(Reclaim::new(idle_limit, meter.is_delta(kind))),
    };
    SyncInstrument::new(stream.descriptor, limit, reclaim, stream.route, make)
}

impl<N: Number> InstrumentBuilder<'_, Counter<N>> {
    /// The counter, or the one built before under the same name (ignoring case) and type.
    ///
    /// # Errors
    ///
    /// An [`InstrumentError`] when the name or unit breaks the specification's syntax.
    pub fn build(self) -> Result<Counter<N>, InstrumentError> {
        Ok(Counter { inner: self.sync(InstrumentKind::Counter, sum_cells::<N>)? })
    }
}

impl<N: Number> InstrumentBuilder<'_, UpDownCounter<N>> {
    /// The up-down counter, or the one built before under the same name and type.
    ///
    /// # Errors
    ///
    /// An [`InstrumentError`] when the name or unit breaks the specification's syntax.
    pub fn build(self) -> Result<UpDownCounter<N>, InstrumentError> {
        Ok(UpDownCounter { inner: self.sync(InstrumentKind::UpDownCounter, sum_cells::<N>)? })
    }
}

impl<N: Number> InstrumentBuilder<'_, Gauge<N>> {
    /// The gauge, or the one built before under the same name and type.
    ///
    /// # Errors
    ///
    /// An [`InstrumentError`] when the name or unit breaks the specification's syntax.
    pub fn build(self) -> Result<Gauge<N>, InstrumentError> {
        Ok(Gauge { inner: self.sync(InstrumentKind::Gauge, gauge_cells::<N>)? })
    }
}

impl<N: Number> InstrumentBuilder<'_, Histogram<N>> {
    /// Explicit bucket boundaries instead of the specification's default ones (finite, strictly
    /// increasing; checked by [`build`](Self::build)).
    pub fn with_boundaries(mut self, boundaries: Vec<f64>) -> Self {
        self.spec.boundaries = Some(boundaries);
        self
    }

    /// Base-2 exponential buckets (at most 160 per sign, scale at most 20) instead of explicit
    /// ones.
    pub fn with_exponential_buckets(mut self) -> Self {
        self.spec.exponential = true;
        self
    }

    /// The histogram, or the one built before under the same name and type (which keeps its
    /// own buckets). A view's aggregation wins over the buckets asked for here, which win over
    /// the provider's default histogram aggregation.
    ///
    /// # Errors
    ///
    /// An [`InstrumentError`] when the name or unit breaks the specification's syntax, or the
    /// bucket boundaries are not finite and strictly increasing.
    pub fn build(self) -> Result<Histogram<N>, InstrumentError> {
        Ok(Histogram { inner: self.sync(InstrumentKind::Histogram, histogram_cells::<N>)? })
    }
}

/// What makes the cells of a histogram's series: a sum (a view's `Sum`), explicit or exponential
/// buckets.
fn histogram_cells<N: Number>(
    choice: HistogramChoice,
    keeping: Keeping,
) -> Box<dyn Fn() -> HistogramKind + Send + Sync> {
    match choice {
        HistogramChoice::Sum => Box::new(move || HistogramKind::Sum(Box::new(SumCells::new(keeping)))),
        HistogramChoice::Exponential { max_size, max_scale } => {
            Box::new(move || HistogramKind::Exponential(ExpoCells::new(max_size, max_scale, keeping)))
        }
        HistogramChoice::Explicit(bounds) => {
            let bounds: Arc<[f64]> = bounds.into();
            Box::new(move || HistogramKind::Explicit(HistogramCells::new::<N>(bounds.clone(), keeping)))
        }
    }
}

/// What makes the cells of a counter's or up-down counter's series: a sum (their own
/// aggregation), or a histogram of the increments (a view's histogram aggregation).
fn sum_cells<N: Number>(choice: HistogramChoice, keeping: Keeping) -> Box<dyn Fn() -> SumKind + Send + Sync> {
    match choice {
        HistogramChoice::Sum => Box::new(move || SumKind::Sum(SumCells::new(keeping))),
        histogram => {
            let cells = histogram_cells::<N>(histogram, keeping);
            Box::new(move || SumKind::Histogram(cells()))
        }
    }
}

/// What makes the cells of a gauge's series: the last value (its own aggregation), or a
/// histogram of the values set (a view's histogram aggregation).
fn gauge_cells<N: Number>(choice: HistogramChoice, keeping: Keeping) -> Box<dyn Fn() -> GaugeKind + Send + Sync> {
    match choice {
        HistogramChoice::Sum => Box::new(|| GaugeKind::LastValue(GaugeCell::new())),
        histogram => {
            let cells = histogram_cells::<N>(histogram, keeping);
            Box::new(move || GaugeKind::histogram(cells()))
        }
    }
}

/// Builds one observable instrument.
#[must_use = "an instrument builder does nothing until built"]
pub struct ObservableBuilder<'m, N: Number> {
    meter: &'m Meter,
    spec: Spec,
    kind: InstrumentKind,
    callbacks: Vec<Callback<N>>,
}

impl<N: Number> std::fmt::Debug for ObservableBuilder<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservableBuilder").field("spec", &self.spec).field("kind", &self.kind).finish()
    }
}

impl<'m, N: Number> ObservableBuilder<'m, N> {
    pub(crate) fn new(meter: &'m Meter, name: &str, kind: InstrumentKind) -> Self {
        ObservableBuilder { meter, spec: Spec::named(name), kind, callbacks: Vec::new() }
    }

    /// The unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.spec.unit = unit.into();
        self
    }

    /// The description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.spec.description = description.into();
        self
    }

    /// A callback run at each collection, on the collecting thread (the exporter thread once
    /// attached to a pipeline). Counters report their cumulative total; gauges their current
    /// value.
    pub fn with_callback(mut self, callback: impl Fn(&mut Observer<N>) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Registers the instrument. Building the same name (ignoring case), kind and type again
    /// returns the first instrument, its callbacks joined by this build's: each runs at every
    /// collection (until session 40 a later build's callbacks were dropped).
    ///
    /// # Errors
    ///
    /// An [`InstrumentError`] when the name or unit breaks the specification's syntax.
    pub fn build(self) -> Result<Observable<N>, InstrumentError> {
        check_name(&self.spec.name)?;
        check_unit(&self.spec.name, &self.spec.unit)?;
        let descriptor = descriptor(self.kind, &self.spec);
        let mut callbacks = Some(self.callbacks);
        let mut taken = || callbacks.take().unwrap_or_default();
        let inner = self.meter.register(descriptor.clone(), || {
            let callbacks = taken();
            let stream = self.meter.stream(descriptor, None);
            let exported = stream.descriptor.name.clone();
            let instrument = Arc::new(match stream.histogram {
                HistogramChoice::Sum => ObservableInstrument::new(stream, callbacks),
                // A view's histogram aggregation: each observation is a measurement of it.
                _ => ObservableInstrument::histogram(
                    Arc::new(sync_instrument::<_, N, _>(self.meter, stream, false, histogram_cells::<N>)),
                    callbacks,
                ),
            });
            (instrument.clone(), instrument as Arc<dyn Collect>, exported)
        });
        // The instrument was registered before: this build's callbacks join its own.
        inner.add_callbacks(taken());
        Ok(Observable::new(inner))
    }
}

fn descriptor(kind: InstrumentKind, spec: &Spec) -> Descriptor {
    Descriptor { kind, name: spec.name.clone(), unit: spec.unit.clone(), description: spec.description.clone() }
}
