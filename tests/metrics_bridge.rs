//! The `metrics` recorder end to end: `counter!`, `gauge!` and `histogram!` values and
//! `describe_*` through a real pipeline to the loopback collector, decoded there; and a held
//! handle (or a re-registered key) records without allocating.

#[path = "support/alloc.rs"]
mod alloc;

use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder, Unit};
use nanotel::export::{BatchConfig, Compression};
use nanotel::metrics::{Aggregation, MeterProvider, MetricsRecorder, TemporalityPreference, View, OVERFLOW_KEY};
use nanotel::proto::common::v1::any_value::Value;
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::{number_data_point, Metric};
use nanotel::Signal;
use nanotel_testing::TestCollector;

#[global_allocator]
static ALLOCATOR: alloc::CountingAllocator = alloc::CountingAllocator;

const WAIT: Duration = Duration::from_secs(10);
const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Records one of each through the installed recorder, describing one metric before first use
/// and one after.
fn record() {
    metrics::describe_counter!("orders", Unit::Count, "Orders sent");
    metrics::counter!("orders", "venue" => "XNAS").increment(3);
    let venue = String::from("XNYS");
    metrics::counter!("orders", "venue" => venue).increment(2);
    let fills = metrics::counter!("fills");
    for total in [10, 7, 12] {
        fills.absolute(total);
    }
    let inventory = metrics::gauge!("inventory", "symbol" => "AAPL");
    inventory.set(10.0);
    inventory.increment(2.5);
    inventory.decrement(1.0);
    let latency = metrics::histogram!("latency", "venue" => "XNAS");
    latency.record(3.0);
    latency.record(7.0);
    metrics::describe_histogram!("latency", Unit::Seconds, "Order latency");
}

/// The metrics the collector received from the pipeline the global recorder records into.
fn exported() -> Vec<Metric> {
    let collector = TestCollector::start().unwrap();
    let telemetry = nanotel::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .configure_pipeline(|pipeline| {
            // Only the recorder's metrics, collected once, at the flush.
            let batch =
                BatchConfig { schedule_delay: Duration::from_secs(3600), ..BatchConfig::defaults(Signal::Metrics) };
            pipeline.with_compression(Compression::None).with_self_telemetry(false).with_batch(Signal::Metrics, batch)
        })
        .build()
        .unwrap();
    telemetry.install_metrics_recorder().unwrap();
    assert!(telemetry.install_metrics_recorder().is_err(), "a second recorder is refused");
    record();
    telemetry.force_flush(WAIT).unwrap();
    let requests = collector.received();
    let request = requests.iter().find(|r| r.signal == Signal::Metrics).expect("a metrics request");
    let request = request.request.as_ref().unwrap().as_metrics().unwrap();
    let scope = &request.resource_metrics[0].scope_metrics[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "metrics");
    scope.metrics.clone()
}

fn find<'m>(metrics: &'m [Metric], name: &str) -> &'m Metric {
    metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name} not exported"))
}

/// The string attributes of a point, as pairs.
fn labels(attributes: &[nanotel::proto::common::v1::KeyValue]) -> Vec<(String, String)> {
    let text = |kv: &nanotel::proto::common::v1::KeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        other => panic!("{}: not a string: {other:?}", kv.key),
    };
    attributes.iter().map(|kv| (kv.key.clone(), text(kv))).collect()
}

fn pair(key: &str, value: &str) -> Vec<(String, String)> {
    vec![(key.to_owned(), value.to_owned())]
}

#[test]
fn macros_reach_the_collector_as_otlp_metrics() {
    let metrics = exported();
    assert_eq!(metrics.len(), 4, "{:?}", metrics.iter().map(|m| &m.name).collect::<Vec<_>>());

    let orders = find(&metrics, "orders");
    assert_eq!((orders.unit.as_str(), orders.description.as_str()), ("1", "Orders sent"));
    let Some(Data::Sum(sum)) = &orders.data else { panic!("orders: {orders:?}") };
    assert!(sum.is_monotonic);
    let mut points: Vec<_> = sum.data_points.iter().map(|p| (labels(&p.attributes), p.value)).collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    let int = |v| Some(number_data_point::Value::AsInt(v));
    assert_eq!(points, [(pair("venue", "XNAS"), int(3)), (pair("venue", "XNYS"), int(2))]);

    let Some(Data::Sum(fills)) = &find(&metrics, "fills").data else { panic!("fills") };
    assert_eq!(fills.data_points[0].value, int(12), "absolute raises to the highest value");

    let Some(Data::Gauge(inventory)) = &find(&metrics, "inventory").data else { panic!("inventory") };
    let point = &inventory.data_points[0];
    assert_eq!(labels(&point.attributes), pair("symbol", "AAPL"));
    assert_eq!(point.value, Some(number_data_point::Value::AsDouble(11.5)));

    let latency = find(&metrics, "latency");
    assert_eq!((latency.unit.as_str(), latency.description.as_str()), ("s", "Order latency"), "described after use");
    let Some(Data::Histogram(histogram)) = &latency.data else { panic!("latency") };
    let point = &histogram.data_points[0];
    assert_eq!(labels(&point.attributes), pair("venue", "XNAS"));
    assert_eq!((point.count, point.sum, point.min, point.max), (2, Some(10.0), Some(3.0), Some(7.0)));
    assert_eq!(point.explicit_bounds, nanotel::metrics::DEFAULT_BOUNDARIES);
    assert_eq!(&point.bucket_counts[..3], [0, 1, 1], "3 in (0, 5], 7 in (5, 10]");
}

#[test]
fn held_handles_and_registered_keys_record_without_allocating() {
    let provider = MeterProvider::builder().without_env().build();
    let recorder = MetricsRecorder::new(provider.meter("metrics"));
    let venue = String::from("XNYS");
    let owned = Key::from_parts("orders", vec![Label::new("venue", venue)]);
    metrics::with_local_recorder(&recorder, || {
        let counter = metrics::counter!("orders", "venue" => "XNAS");
        let gauge = metrics::gauge!("inventory", "symbol" => "AAPL");
        let histogram = metrics::histogram!("latency");
        // The first records claim this thread's stripes; steady state starts after them.
        counter.increment(1);
        gauge.increment(1.0);
        histogram.record(1.0);
        recorder.register_counter(&owned, &METADATA).increment(1);
        let held = alloc::allocations_in(|| {
            for i in 0..1000 {
                counter.increment(1);
                counter.absolute(i);
                gauge.set(2.0);
                gauge.increment(1.0);
                gauge.decrement(0.5);
                histogram.record(4.0);
            }
        });
        assert_eq!(held, 0, "a held handle records into its bound series");
        let registered = alloc::allocations_in(|| {
            for _ in 0..1000 {
                metrics::counter!("orders", "venue" => "XNAS").increment(1);
                recorder.register_counter(&owned, &METADATA).increment(1);
            }
        });
        assert_eq!(registered, 0, "a registered key, static or owned labels, is found without allocating");
    });
    let text = nanotel::prometheus::render(&provider);
    // 1 + 1000 increments, + 999 raised by `absolute` (beyond the highest before: 0), + 1000 by the macro.
    assert!(text.contains(r#"orders_total{venue="XNAS",otel_scope_name="metrics"} 3000"#), "{text}");
    assert!(text.contains(r#"orders_total{venue="XNYS",otel_scope_name="metrics"} 1001"#), "{text}");
}

#[test]
fn keys_with_labels_in_any_order_share_a_series_and_refused_names_are_dropped() {
    let provider = MeterProvider::builder().without_env().build();
    let recorder = MetricsRecorder::new(provider.meter("metrics"));
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("orders", "venue" => "XNAS", "side" => "buy").increment(1);
        metrics::counter!("orders", "side" => "buy", "venue" => "XNAS").increment(1);
        metrics::counter!("bad:name").increment(1);
        metrics::describe_gauge!("spread", "described before any use: exported once set");
        metrics::gauge!("spread").set(0.5);
    });
    let text = nanotel::prometheus::render(&provider);
    assert!(text.contains(r#"orders_total{side="buy",venue="XNAS",otel_scope_name="metrics"} 2"#), "{text}");
    assert!(!text.contains("bad"), "{text}");
    assert!(text.contains("# HELP spread described before any use: exported once set"), "{text}");
}

/// Under a view's histogram aggregation a `gauge!` records each value it takes, the values its
/// increments and decrements make included.
#[test]
fn a_gauge_under_a_histogram_view_records_each_value_it_takes() {
    let boundaries = vec![2.0];
    let provider = MeterProvider::builder()
        .without_env()
        .with_view(View::new("inventory").with_aggregation(Aggregation::ExplicitBucketHistogram { boundaries }))
        .build();
    let recorder = MetricsRecorder::new(provider.meter("metrics"));
    metrics::with_local_recorder(&recorder, || {
        let gauge = metrics::gauge!("inventory");
        gauge.set(1.0);
        gauge.increment(2.0);
        gauge.decrement(0.5);
    });
    let scopes = provider.collect();
    let Some(Data::Histogram(histogram)) = &scopes[0].metrics[0].data else { panic!("{scopes:?}") };
    let point = &histogram.data_points[0];
    assert_eq!((point.count, point.bucket_counts.clone()), (3, vec![1, 2]), "1.0, then 3.0 and 2.5");
    assert_eq!((point.min, point.max, point.sum), (Some(1.0), Some(3.0), None));
}

/// A recorder into a delta provider that evicts a series after one idle exporting collection,
/// with `limit` series per instrument.
fn evicting_recorder(limit: usize) -> (MeterProvider, MetricsRecorder) {
    let provider = MeterProvider::builder()
        .without_env()
        .with_temporality(TemporalityPreference::Delta)
        .with_delta_idle_collections(1)
        .with_cardinality_limit(limit)
        .build();
    let recorder = MetricsRecorder::new(provider.meter("metrics"));
    (provider, recorder)
}

/// Keys that come and go (a label per peer) under delta temporality: the recorder lets go of the
/// handles of series an exporting collection found idle, so those series are evicted and their
/// places taken by new keys, never the overflow series. (Until session 41 the recorder kept every
/// key's handle for good, and a bound handle keeps its series: once the limit's worth of keys
/// had been seen, every new one went to the overflow series for the rest of the process.)
#[test]
fn idle_keys_are_let_go_so_their_series_can_be_evicted() {
    let (provider, recorder) = evicting_recorder(12);
    for wave in 0..12 {
        metrics::with_local_recorder(&recorder, || {
            for peer in 0..3 {
                metrics::counter!("requests", "peer" => format!("{wave}-{peer}")).increment(1);
                metrics::histogram!("latency", "peer" => format!("{wave}-{peer}")).record(1.0);
            }
        });
        let overflowed: Vec<_> = (provider.collect().iter().flat_map(|scope| &scope.metrics))
            .flat_map(|metric| match &metric.data {
                Some(Data::Sum(sum)) => sum.data_points.iter().map(|p| p.attributes.clone()).collect(),
                Some(Data::Histogram(histogram)) => {
                    histogram.data_points.iter().map(|p| p.attributes.clone()).collect()
                }
                _ => Vec::new(),
            })
            .filter(|attributes| attributes.iter().any(|kv| kv.key == OVERFLOW_KEY))
            .collect();
        assert!(overflowed.is_empty(), "wave {wave}: {overflowed:?}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// A key sent to the overflow series while the limit was full gets a series of its own once
/// evictions make room: the recorder lets go of its handle to the overflow series when the
/// instrument has room again.
#[test]
fn a_key_that_overflowed_finds_room_once_idle_series_are_evicted() {
    let (provider, recorder) = evicting_recorder(4);
    let points = |provider: &MeterProvider| -> Vec<String> {
        let scopes = provider.collect();
        let Some(Some(Data::Sum(sum))) = scopes.first().map(|scope| scope.metrics[0].data.clone()) else {
            return Vec::new();
        };
        let mut labels: Vec<String> =
            sum.data_points.iter().flat_map(|p| p.attributes.iter().map(|kv| kv.key.clone())).collect();
        labels.sort();
        labels
    };
    let add = |peers: &[&str]| {
        metrics::with_local_recorder(&recorder, || {
            for peer in peers {
                metrics::counter!("requests", "peer" => peer.to_string()).increment(1);
            }
        });
    };
    add(&["a", "b", "c", "d"]);
    assert_eq!(points(&provider), [OVERFLOW_KEY, "peer", "peer", "peer"]);
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(150));
        add(&["d", "e"]);
        points(&provider);
    }
    std::thread::sleep(Duration::from_millis(150));
    add(&["d", "f"]);
    assert_eq!(points(&provider), ["peer", "peer"]);
}

/// A counter raised by `absolute` is never let go, even idle: its handle keeps the highest value
/// seen, and a handle bound afresh would count the same total again.
#[test]
fn a_counter_raised_by_absolute_is_kept_while_idle() {
    let (provider, recorder) = evicting_recorder(nanotel::metrics::DEFAULT_CARDINALITY_LIMIT);
    let fills = |provider: &MeterProvider| -> Vec<i64> {
        let scopes = provider.collect();
        (scopes.iter().flat_map(|scope| &scope.metrics))
            .filter(|metric| metric.name == "fills")
            .flat_map(|metric| match &metric.data {
                Some(Data::Sum(sum)) => sum.data_points.iter().map(|p| match p.value {
                    Some(number_data_point::Value::AsInt(n)) => n,
                    other => panic!("{other:?}"),
                }),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    metrics::with_local_recorder(&recorder, || metrics::counter!("fills").absolute(10));
    assert_eq!(fills(&provider), [10]);
    assert_eq!(fills(&provider), [0; 0], "idle");
    std::thread::sleep(Duration::from_millis(150));
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("other", "new" => "key").increment(1);
        metrics::counter!("fills").absolute(10);
    });
    assert_eq!(fills(&provider), [0; 0], "the same total again: no rise");
}
