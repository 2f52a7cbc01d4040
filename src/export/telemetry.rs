//! The pipeline's own telemetry: its accounting as metrics under the instrumentation scope
//! `nanotel`, exported with the user's metrics and shown on the Prometheus endpoint.
//!
//! The names follow the shape of the OpenTelemetry SDK self-metrics conventions
//! (`otel.sdk.processor.*.queue.size`, `otel.sdk.exporter.operation.duration`, still in
//! development) but live under `nanotel.exporter.*` with a `signal` attribute, since one
//! exporter thread serves the three signals, each with its own breaker, and the breaker and drop
//! reasons have no convention:
//!
//! | metric | kind | unit | attributes |
//! |---|---|---|---|
//! | `nanotel.exporter.queue.size` | gauge | `{item}` | `signal` |
//! | `nanotel.exporter.queue.capacity` | gauge | `{item}` | `signal` |
//! | `nanotel.exporter.items.exported` | counter | `{item}` | `signal` |
//! | `nanotel.exporter.items.dropped` | counter | `{item}` | `signal`, `reason` |
//! | `nanotel.exporter.retries` | counter | `{request}` | `signal` |
//! | `nanotel.exporter.export.duration` | histogram | `s` | `signal` |
//! | `nanotel.exporter.uncompressed.bytes` | counter | `By` | `signal` |
//! | `nanotel.exporter.sent.bytes` | counter | `By` | `signal` |
//! | `nanotel.exporter.breaker.state` | gauge | (none) | `signal` |
//! | `nanotel.exporter.breaker.transitions` | counter | `{transition}` | `signal` |
//!
//! Counters are cumulative whatever the temporality preference: they are the accounting's running
//! totals. Reading them is a handful of relaxed loads on the exporter thread (or on the
//! Prometheus endpoint's thread), never on a producer's path.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use crate::proto::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ScopeMetrics, Sum,
};

use super::accounting::{DropReason, SignalCounters, LATENCY_BOUNDS_NS};
use super::config::{ExporterKind, PipelineConfig};
use super::pipeline::{MetricProducer, Shared};
use super::Signal;

/// The instrumentation scope of the self-telemetry.
pub const SCOPE_NAME: &str = "nanotel";

/// Reads the pipeline's accounting as OTLP metrics. Cheap to clone.
#[derive(Clone)]
pub(crate) struct SelfTelemetry {
    shared: Arc<Shared>,
    /// The queue capacity of each signal that has a queue, in [`Signal::ALL`] order.
    capacities: [Option<u64>; 3],
    start_unix_nano: u64,
}

fn attribute(key: &'static str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn unix_nanos() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

/// One data point of a sum or gauge.
struct Point {
    attributes: Vec<KeyValue>,
    value: u64,
}

impl SelfTelemetry {
    pub(super) fn new(shared: Arc<Shared>, config: &PipelineConfig) -> Self {
        let capacity = |signal: Signal| {
            let settings = config.signal(signal);
            (settings.exporter != ExporterKind::None).then_some(settings.batch.max_queue_size as u64)
        };
        SelfTelemetry { shared, capacities: Signal::ALL.map(capacity), start_unix_nano: unix_nanos() }
    }

    /// The signals that have a queue, with their counters and capacity.
    fn signals(&self) -> impl Iterator<Item = (Signal, &SignalCounters, u64)> {
        Signal::ALL.into_iter().zip(self.capacities).filter_map(|(signal, capacity)| {
            capacity.map(|capacity| (signal, self.shared.accounting.signal(signal), capacity))
        })
    }

    fn per_signal(&self, value: impl Fn(&SignalCounters, u64) -> u64) -> Vec<Point> {
        self.signals()
            .map(|(signal, counters, capacity)| Point {
                attributes: vec![attribute("signal", signal.name())],
                value: value(counters, capacity),
            })
            .collect()
    }

    fn number_points(&self, points: Vec<Point>, now: u64, cumulative: bool) -> Vec<NumberDataPoint> {
        points
            .into_iter()
            .map(|p| NumberDataPoint {
                attributes: p.attributes,
                start_time_unix_nano: if cumulative { self.start_unix_nano } else { 0 },
                time_unix_nano: now,
                // The accounting's counts fit an i64 for centuries of traffic; saturate anyway.
                value: Some(number_data_point::Value::AsInt(i64::try_from(p.value).unwrap_or(i64::MAX))),
                ..Default::default()
            })
            .collect()
    }

    fn counter(&self, name: &str, unit: &str, description: &str, points: Vec<Point>, now: u64) -> Metric {
        let data = metric::Data::Sum(Sum {
            data_points: self.number_points(points, now, true),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        });
        metric(name, unit, description, data)
    }

    fn gauge(&self, name: &str, unit: &str, description: &str, points: Vec<Point>, now: u64) -> Metric {
        let data = metric::Data::Gauge(Gauge { data_points: self.number_points(points, now, false) });
        metric(name, unit, description, data)
    }

    fn duration(&self, now: u64) -> Metric {
        let data_points = self
            .signals()
            .map(|(signal, counters, _)| {
                let bucket_counts = counters.latency_buckets();
                HistogramDataPoint {
                    attributes: vec![attribute("signal", signal.name())],
                    start_time_unix_nano: self.start_unix_nano,
                    time_unix_nano: now,
                    // The count is the buckets' total, so the two always agree even while the
                    // exporter records a request between the loads.
                    count: bucket_counts.iter().sum(),
                    sum: Some(counters.latency_total_ns.load(Relaxed) as f64 / 1e9),
                    bucket_counts,
                    explicit_bounds: LATENCY_BOUNDS_NS.iter().map(|ns| *ns as f64 / 1e9).collect(),
                    ..Default::default()
                }
            })
            .collect();
        let data = metric::Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        });
        metric("nanotel.exporter.export.duration", "s", "Duration of export requests (each attempt).", data)
    }

    /// The current figures as one scope of metrics.
    pub(super) fn scope_metrics(&self) -> ScopeMetrics {
        let now = unix_nanos();
        let dropped = self
            .signals()
            .flat_map(|(signal, counters, _)| {
                DropReason::ALL.into_iter().map(move |reason| Point {
                    attributes: vec![attribute("signal", signal.name()), attribute("reason", reason.name())],
                    value: counters.dropped[reason as usize].load(Relaxed),
                })
            })
            .collect();
        let metrics = vec![
            self.gauge(
                "nanotel.exporter.queue.size",
                "{item}",
                "Items accepted by the pipeline and not yet exported or dropped.",
                self.per_signal(|c, _| c.queued.load(Relaxed)),
                now,
            ),
            self.gauge(
                "nanotel.exporter.queue.capacity",
                "{item}",
                "The most items the pipeline queues per signal.",
                self.per_signal(|_, capacity| capacity),
                now,
            ),
            self.counter(
                "nanotel.exporter.items.exported",
                "{item}",
                "Items the collector accepted.",
                self.per_signal(|c, _| c.exported.load(Relaxed)),
                now,
            ),
            self.counter("nanotel.exporter.items.dropped", "{item}", "Items dropped, by reason.", dropped, now),
            self.counter(
                "nanotel.exporter.retries",
                "{request}",
                "Export attempts made after a failed one.",
                self.per_signal(|c, _| c.retries.load(Relaxed)),
                now,
            ),
            self.duration(now),
            self.counter(
                "nanotel.exporter.uncompressed.bytes",
                "By",
                "Encoded request bytes before compression.",
                self.per_signal(|c, _| c.bytes_uncompressed.load(Relaxed)),
                now,
            ),
            self.counter(
                "nanotel.exporter.sent.bytes",
                "By",
                "Request bytes sent, after compression, retries included.",
                self.per_signal(|c, _| c.bytes_sent.load(Relaxed)),
                now,
            ),
            self.gauge(
                "nanotel.exporter.breaker.state",
                "",
                "The circuit breaker's state: 0 closed, 1 half-open, 2 open.",
                self.per_signal(|c, _| u64::from(c.breaker().state_gauge)),
                now,
            ),
            self.counter(
                "nanotel.exporter.breaker.transitions",
                "{transition}",
                "Circuit breaker state changes.",
                self.per_signal(|c, _| c.breaker().transitions),
                now,
            ),
        ];
        ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: SCOPE_NAME.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }
    }
}

fn metric(name: &str, unit: &str, description: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(data),
        ..Default::default()
    }
}

impl MetricProducer for SelfTelemetry {
    fn produce(&mut self) -> Vec<ScopeMetrics> {
        vec![self.scope_metrics()]
    }
}
