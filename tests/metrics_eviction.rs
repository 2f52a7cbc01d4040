//! Series that come and go, on the wire: idle delta series evicted after the configured number of
//! collections and their places under the cardinality limit reused, cumulative series forgotten
//! on request, bound handles keeping their series, what overflowed counted, and a day of churning
//! symbols through a limit of 2,000 exporting every wave's values. Each collection is one
//! `force_flush` of a real pipeline, decoded by the loopback collector.

#[path = "support/metrics_pipeline.rs"]
mod metrics_pipeline;
use metrics_pipeline::flush_only_metrics;

use std::time::Duration;

use nanotel::attributes::{KeyValue, Value};
use nanotel::export::Pipeline;
use nanotel::metrics::{Forget, MeterProvider, TemporalityPreference, OVERFLOW_KEY};
use nanotel::proto::common::v1::any_value;
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::number_data_point;
use nanotel::Signal;
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// One exported point: metric, attributes (`key=value`, sorted), value (a sum, or a histogram's
/// sum), and start time.
#[derive(Clone, Debug, PartialEq)]
struct Point {
    metric: String,
    attributes: Vec<String>,
    value: f64,
    start: u64,
}

impl Point {
    fn overflow(&self) -> bool {
        self.attributes.iter().any(|a| a.starts_with(OVERFLOW_KEY))
    }
}

/// A provider exporting through a pipeline to a loopback collector, one collection per
/// [`Wire::collect`].
struct Wire {
    collector: TestCollector,
    pipeline: Pipeline,
    provider: MeterProvider,
    seen: usize,
}

impl Wire {
    fn new(preference: TemporalityPreference, idle: u32, limit: usize) -> Wire {
        let collector = TestCollector::start().unwrap();
        let pipeline = flush_only_metrics(&collector).build().unwrap();
        let provider = MeterProvider::builder()
            .without_env()
            .with_temporality(preference)
            .with_delta_idle_collections(idle)
            .with_cardinality_limit(limit)
            .build();
        provider.attach(&pipeline);
        Wire { collector, pipeline, provider, seen: 0 }
    }

    /// One collection's points, as the collector received them.
    fn collect(&mut self) -> Vec<Point> {
        self.pipeline.force_flush(WAIT).unwrap();
        let received: Vec<_> = self.collector.received().into_iter().filter(|r| r.signal == Signal::Metrics).collect();
        let new = &received[self.seen..];
        self.seen = received.len();
        let mut points = Vec::new();
        for request in new {
            let request = request.request.as_ref().expect("decoded").as_metrics().expect("metrics").clone();
            for metric in request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
                let name = metric.name.clone();
                let attrs = |kvs: &[nanotel::proto::common::v1::KeyValue]| {
                    let mut attributes: Vec<String> = kvs
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(any_value::Value::StringValue(s)) => s.clone(),
                                Some(any_value::Value::IntValue(i)) => i.to_string(),
                                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                                other => format!("{other:?}"),
                            };
                            format!("{}={value}", kv.key)
                        })
                        .collect();
                    attributes.sort();
                    attributes
                };
                match metric.data.as_ref().expect("data") {
                    Data::Sum(sum) => points.extend(sum.data_points.iter().map(|p| Point {
                        metric: name.clone(),
                        attributes: attrs(&p.attributes),
                        value: match p.value {
                            Some(number_data_point::Value::AsInt(i)) => i as f64,
                            Some(number_data_point::Value::AsDouble(d)) => d,
                            None => panic!("no value"),
                        },
                        start: p.start_time_unix_nano,
                    })),
                    Data::Histogram(h) => points.extend(h.data_points.iter().map(|p| Point {
                        metric: name.clone(),
                        attributes: attrs(&p.attributes),
                        value: p.sum.expect("sum"),
                        start: p.start_time_unix_nano,
                    })),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        points.sort_by(|a, b| (&a.metric, &a.attributes).cmp(&(&b.metric, &b.attributes)));
        points
    }
}

fn symbol(s: &'static str) -> [KeyValue; 1] {
    [KeyValue::new("symbol", s)]
}

/// `(metric, symbol, value)` of each point, the overflow series as symbol `"overflow"`.
fn values(points: &[Point]) -> Vec<(String, String, f64)> {
    points
        .iter()
        .map(|p| {
            let who = if p.overflow() { "overflow".to_owned() } else { p.attributes.join(",").replace("symbol=", "") };
            (p.metric.clone(), who, p.value)
        })
        .collect()
}

fn row(metric: &str, who: &str, value: f64) -> (String, String, f64) {
    (metric.to_owned(), who.to_owned(), value)
}

#[test]
fn idle_delta_series_are_evicted_after_the_configured_collections_and_return_as_new_series() {
    let mut wire = Wire::new(TemporalityPreference::Delta, 2, 4);
    let meter = wire.provider.meter("md");
    let ticks = meter.u64_counter("ticks").build().unwrap();
    let spread = meter.f64_histogram("spread").build().unwrap();
    for (s, n) in [("AAPL", 1), ("MSFT", 2), ("TSLA", 3)] {
        ticks.add(n, &symbol(s));
        spread.record(n as f64 / 100.0, &symbol(s));
    }
    // Three series fill a limit of four (the overflow series is the fourth).
    ticks.add(4, &symbol("NVDA"));
    assert_eq!(ticks.overflowed(), 1);
    assert_eq!(
        values(&wire.collect()),
        [
            row("spread", "AAPL", 0.01),
            row("spread", "MSFT", 0.02),
            row("spread", "TSLA", 0.03),
            row("ticks", "overflow", 4.0),
            row("ticks", "AAPL", 1.0),
            row("ticks", "MSFT", 2.0),
            row("ticks", "TSLA", 3.0),
        ]
    );
    // One idle collection: still there, so a new symbol still overflows.
    assert_eq!(wire.collect(), []);
    ticks.add(5, &symbol("NVDA"));
    assert_eq!(values(&wire.collect()), [row("ticks", "overflow", 5.0)]);
    // The second idle collection (the overflow series' point does not count) evicts them.
    assert_eq!(ticks.overflowed(), 2);
    // A returning symbol is a new series counting from nothing; new ones fit.
    ticks.add(6, &symbol("NVDA"));
    ticks.add(7, &symbol("AAPL"));
    ticks.add(8, &symbol("AMZN"));
    spread.record(0.05, &symbol("AAPL"));
    assert_eq!(
        values(&wire.collect()),
        [row("spread", "AAPL", 0.05), row("ticks", "AAPL", 7.0), row("ticks", "AMZN", 8.0), row("ticks", "NVDA", 6.0)]
    );
    assert_eq!(ticks.overflowed(), 2, "nothing more overflowed");
}

#[test]
fn bound_handles_keep_their_delta_series_through_idle_collections() {
    let mut wire = Wire::new(TemporalityPreference::Delta, 1, 2);
    let ticks = wire.provider.meter("md").u64_counter("ticks").build().unwrap();
    let aapl = ticks.bind(&symbol("AAPL"));
    for _ in 0..3 {
        assert_eq!(wire.collect(), []);
    }
    aapl.add(4);
    ticks.add(1, &symbol("AAPL"));
    // The one series the limit allows is still the handle's: another symbol overflows.
    ticks.add(2, &symbol("MSFT"));
    assert_eq!(values(&wire.collect()), [row("ticks", "overflow", 2.0), row("ticks", "AAPL", 5.0)]);
    assert_eq!(ticks.forget(&symbol("AAPL")), Forget::Bound);
    drop(aapl);
    // Idle once without the handle: evicted, and the place is free.
    assert_eq!(wire.collect(), []);
    ticks.add(3, &symbol("MSFT"));
    assert_eq!(values(&wire.collect()), [row("ticks", "MSFT", 3.0)]);
}

#[test]
fn forgotten_cumulative_series_leave_the_export_and_return_as_new_series() {
    let mut wire = Wire::new(TemporalityPreference::Cumulative, 1, 3);
    let meter = wire.provider.meter("md");
    let volume = meter.u64_counter("volume").with_forgettable().build().unwrap();
    let kept = meter.u64_counter("kept").build().unwrap();
    volume.add(5, &symbol("AAPL"));
    volume.add(1, &symbol("MSFT"));
    kept.add(1, &symbol("AAPL"));
    let first = wire.collect();
    let aapl_start = first.iter().find(|p| p.metric == "volume" && p.attributes == ["symbol=AAPL"]).unwrap().start;
    let msft = volume.bind(&symbol("MSFT"));
    assert_eq!(volume.forget(&symbol("AAPL")), Forget::Forgotten);
    assert_eq!(volume.forget(&symbol("AAPL")), Forget::Absent);
    assert_eq!(volume.forget(&symbol("MSFT")), Forget::Bound);
    assert_eq!(kept.forget(&symbol("AAPL")), Forget::NotForgettable);
    msft.add(10);
    assert_eq!(values(&wire.collect()), [row("kept", "AAPL", 1.0), row("volume", "MSFT", 11.0)]);
    // The forgotten place is free again (a limit of three holds two series), and AAPL, recorded
    // again, is a new series: its total starts from nothing, at a later start time.
    volume.add(2, &symbol("TSLA"));
    assert_eq!(volume.forget(&symbol("TSLA")), Forget::Forgotten);
    volume.add(3, &symbol("AAPL"));
    let points = wire.collect();
    assert_eq!(values(&points), [row("kept", "AAPL", 1.0), row("volume", "AAPL", 3.0), row("volume", "MSFT", 11.0)]);
    let again = points.iter().find(|p| p.metric == "volume" && p.attributes == ["symbol=AAPL"]).unwrap();
    assert!(again.start > aapl_start, "{} > {aapl_start}", again.start);
    assert_eq!(volume.overflowed(), 0);
}

/// A day of churning symbols: 51 waves of 1,999 new symbols each (about 100,000 in all) through a
/// limit of 2,000, under delta. Each wave fills the table exactly; the collection after it exports
/// the wave, the next one (idle) evicts it, and the next wave fits again: every wave's sum is
/// exported and nothing overflows.
#[test]
fn churning_symbols_through_the_limit_export_every_wave() {
    const WAVES: i64 = 51;
    const WAVE: i64 = 1_999;
    let mut wire = Wire::new(TemporalityPreference::Delta, 1, 2_000);
    let ticks = wire.provider.meter("md").u64_counter("ticks").build().unwrap();
    for wave in 0..WAVES {
        let mut recorded = 0;
        for i in 0..WAVE {
            let id = wave * WAVE + i;
            let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("symbol", Value::I64(id))];
            for _ in 0..2 {
                ticks.add((id % 7 + 1) as u64, &attributes);
                recorded += id % 7 + 1;
            }
        }
        let points = wire.collect();
        assert!(points.iter().all(|p| !p.overflow()), "wave {wave}: nothing overflows");
        assert_eq!(points.len() as i64, WAVE, "wave {wave}: a point per symbol");
        assert_eq!(points.iter().map(|p| p.value as i64).sum::<i64>(), recorded, "wave {wave}");
        assert_eq!(wire.collect(), [], "wave {wave}: idle, evicted");
    }
    assert_eq!(ticks.overflowed(), 0);
}
