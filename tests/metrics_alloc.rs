//! Zero heap allocations per record after warm-up, bound and unbound, for every synchronous
//! instrument: a counting global allocator, counting only on the measuring thread (the test
//! harness's own threads allocate as they please).

use nanotel::attributes::KeyValue;
use nanotel::metrics::{
    Aggregation, ExemplarFilter, MeterProvider, StaticCounter, StaticHistogram, TemporalityPreference, View,
};
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::trace::{Context, SpanContext, SpanId, TraceFlags, TraceId};

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{allocations_in, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn recording_allocates_nothing_after_warm_up() {
    let provider = MeterProvider::builder().without_env().with_cardinality_limit(8).build();
    let meter = provider.meter("alloc");
    let counter = meter.u64_counter("orders").build().unwrap();
    let float_counter = meter.f64_counter("notional").build().unwrap();
    let up_down = meter.i64_up_down_counter("open").build().unwrap();
    let gauge = meter.f64_gauge("spread").build().unwrap();
    let histogram = meter.u64_histogram("latency").build().unwrap();
    let exponential = meter.f64_histogram("latency.exp").with_exponential_buckets().build().unwrap();
    let attrs = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("symbol", "AAPL")];
    let reordered = [attrs[2].clone(), attrs[0].clone(), attrs[1].clone()];
    let values: Vec<f64> = (0..1000).map(|i| f64::from(i) * 13.7 + 0.5).collect();

    let record_all = |n: usize| {
        let bound_counter = counter.bind(&attrs);
        let bound_histogram = histogram.bind(&attrs);
        let bound_exponential = exponential.bind(&attrs);
        let bound_gauge = gauge.bind(&attrs);
        for i in 0..n {
            let v = values[i % values.len()];
            bound_counter.add(1);
            counter.add(1, &reordered);
            float_counter.add(v, &attrs);
            up_down.add(-1, &attrs);
            gauge.record(v, &attrs);
            bound_gauge.record(v);
            bound_histogram.record(v as u64);
            histogram.record(v as u64, &reordered);
            bound_exponential.record(v);
            exponential.record(-v, &attrs);
        }
        // Past the cardinality limit everything goes to the overflow series, without allocating.
        for i in 0..n {
            counter.add(1, &[KeyValue::new("i", (i % 100) as i64)]);
        }
    };
    // Warm-up: creates the series, assigns this thread's stripe, lets the exponential histograms
    // settle on a scale, fills the table past the limit.
    record_all(2000);
    let bound_counter = counter.bind(&attrs);
    let bound_histogram = histogram.bind(&attrs);
    let bound_exponential = exponential.bind(&attrs);
    let keys: Vec<[KeyValue; 1]> = (0..100).map(|i| [KeyValue::new("i", i)]).collect();
    let n = allocations_in(|| {
        for i in 0..10_000 {
            let v = values[i % values.len()];
            bound_counter.add(1);
            counter.add(1, &reordered);
            float_counter.add(v, &attrs);
            up_down.add(-1, &attrs);
            gauge.record(v, &attrs);
            bound_histogram.record(v as u64);
            histogram.record(v as u64, &reordered);
            bound_exponential.record(v);
            exponential.record(-v, &attrs);
            counter.add(1, &keys[i % 100]);
            if i == 5000 {
                // Outliers: the exponential histograms' windows must shift and downscale.
                bound_exponential.record(1e12);
                exponential.record(-1e-12, &attrs);
            }
        }
    });
    assert_eq!(n, 0, "allocations while recording after warm-up");
    // The counting itself works: the check above could fail.
    assert!(allocations_in(|| drop(std::hint::black_box(vec![1u8; 16]))) > 0);
}

/// Tables that can remove series pin an epoch per unbound record (crossbeam-epoch, which now and
/// then runs its collection on a pinning thread): still nothing allocated per record once the
/// thread is warm (its first pin registers it), on an evicting delta table or a forgettable one,
/// while evictions leave garbage for the epoch to collect.
#[test]
fn evicting_and_forgettable_tables_allocate_nothing_per_record() {
    let provider = MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    let meter = provider.meter("alloc");
    let counter = meter.u64_counter("orders").build().unwrap();
    let histogram = meter.f64_histogram("latency").build().unwrap();
    let forgettable = meter.i64_up_down_counter("open").with_forgettable().build().unwrap();
    let attrs = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy")];
    let record = |i: usize| {
        counter.add(1, &attrs);
        histogram.record(i as f64, &attrs);
        forgettable.add(1, &attrs);
    };
    (0..1000).for_each(record);
    // Series recorded once, then evicted: garbage for the epoch.
    for i in 0..100 {
        counter.add(1, &[KeyValue::new("i", i)]);
    }
    provider.collect();
    (0..1000).for_each(record);
    provider.collect();
    assert_eq!(allocations_in(|| (0..10_000).for_each(record)), 0, "allocations while recording after warm-up");
}

/// A view's attribute filter copies the pairs it keeps to a stack buffer: nothing allocated per
/// record, with static or shared strings, in order or not.
#[test]
fn a_views_attribute_filter_allocates_nothing_per_record() {
    let provider = MeterProvider::builder()
        .without_env()
        .with_view(View::new("orders").with_dropped_attributes(["order.id"]))
        .with_view(View::new("latency").with_kept_attributes(["venue", "side"]))
        .build();
    let meter = provider.meter("alloc");
    let counter = meter.u64_counter("orders").build().unwrap();
    let histogram = meter.f64_histogram("latency").build().unwrap();
    let shared = KeyValue::new(String::from("venue"), String::from("XNAS"));
    let attrs = [shared, KeyValue::new("side", "buy"), KeyValue::new("order.id", 7)];
    let reordered = [attrs[2].clone(), attrs[1].clone(), attrs[0].clone()];
    let record = |i: usize| {
        counter.add(1, &attrs);
        counter.add(1, &reordered);
        histogram.record(i as f64, &attrs);
        histogram.record(i as f64, &reordered);
    };
    (0..100).for_each(record);
    assert_eq!(allocations_in(|| (0..10_000).for_each(record)), 0, "allocations while recording after warm-up");
}

/// Inside a sampled span every record also keeps an exemplar (under both filters that keep
/// any): still no allocation.
#[test]
fn recording_exemplars_allocates_nothing_after_warm_up() {
    for filter in [ExemplarFilter::TraceBased, ExemplarFilter::AlwaysOn] {
        let provider = MeterProvider::builder().without_env().with_exemplar_filter(filter).build();
        let meter = provider.meter("alloc");
        let counter = meter.u64_counter("orders").build().unwrap();
        let float_counter = meter.f64_counter("notional").build().unwrap();
        let histogram = meter.u64_histogram("latency").build().unwrap();
        let exponential = meter.f64_histogram("latency.exp").with_exponential_buckets().build().unwrap();
        let attrs = [KeyValue::new("venue", "XNAS")];
        let span = SpanContext::new(
            TraceId::from_bytes([1; 16]),
            SpanId::from_bytes([2; 8]),
            TraceFlags::SAMPLED,
            false,
            Default::default(),
        );
        let _entered = Context::from_span_context(span).attach();
        let (bound_counter, bound_histogram) = (counter.bind(&attrs), histogram.bind(&attrs));
        let record = |i: u64| {
            bound_counter.add(1);
            counter.add(1, &attrs);
            float_counter.add(0.5, &attrs);
            bound_histogram.record(i % 20_000);
            histogram.record(i % 20_000, &attrs);
            // Past the reservoir's size, so later values are sampled in at random.
            exponential.record((i % 1000) as f64 + 1.0, &attrs);
        };
        (0..2000).for_each(record);
        let n = allocations_in(|| (0..10_000).for_each(record));
        assert_eq!(n, 0, "allocations while keeping exemplars ({filter:?})");
        // And the exemplars were kept: every instrument has some.
        for metric in &provider.collect()[0].metrics {
            let kept = match &metric.data {
                Some(Data::Sum(sum)) => sum.data_points.iter().map(|p| p.exemplars.len()).sum(),
                Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.exemplars.len()).sum(),
                Some(Data::ExponentialHistogram(h)) => h.data_points.iter().map(|p| p.exemplars.len()).sum(),
                _ => 0,
            };
            assert!(kept > 0, "{} kept no exemplar", metric.name);
        }
    }
}

/// Keeping the attributes a view removed with an exemplar allocates nothing either: an unbound
/// record's pairs are copied into the place's inline room (those that cannot be are counted),
/// a bound handle's are shared.
#[test]
fn keeping_removed_attributes_with_exemplars_allocates_nothing() {
    let provider = MeterProvider::builder()
        .without_env()
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .with_view(View::new("orders").with_kept_attributes(["venue"]))
        .with_view(View::new("latency*").with_dropped_attributes(["order.id", "client", "urgent"]))
        .build();
    let meter = provider.meter("alloc");
    let counter = meter.u64_counter("orders").build().unwrap();
    let histogram = meter.u64_histogram("latency").build().unwrap();
    let exponential = meter.f64_histogram("latency.exp").with_exponential_buckets().build().unwrap();
    let client = KeyValue::new(String::from("client"), String::from("acme"));
    let orders: Vec<[KeyValue; 4]> = (0..100)
        .map(|i| {
            [
                KeyValue::new("venue", "XNAS"),
                KeyValue::new("order.id", i),
                client.clone(),
                KeyValue::new("urgent", i % 2 == 0),
            ]
        })
        .collect();
    let (bound_counter, bound_histogram) = (counter.bind(&orders[0]), histogram.bind(&orders[0]));
    let record = |i: usize| {
        let attrs = &orders[i % orders.len()];
        counter.add(1, attrs);
        bound_counter.add(1);
        histogram.record(i as u64 % 20_000, attrs);
        bound_histogram.record(i as u64 % 20_000);
        exponential.record((i % 1000) as f64 + 1.0, attrs);
    };
    (0..2000).for_each(record);
    assert_eq!(allocations_in(|| (0..10_000).for_each(record)), 0, "allocations while keeping removed attributes");
    // And they were kept: the histogram's exemplars carry order ids.
    let metrics = &provider.collect()[0].metrics;
    let latency = metrics.iter().find(|m| m.name == "latency").and_then(|m| m.data.as_ref());
    let Some(Data::Histogram(h)) = latency else { panic!("{metrics:?}") };
    let keys: Vec<&str> =
        h.data_points[0].exemplars.iter().flat_map(|e| &e.filtered_attributes).map(|kv| kv.key.as_str()).collect();
    assert!(keys.contains(&"order.id") && keys.contains(&"client"), "{keys:?}");
}

/// A counter and an up-down counter aggregated as histograms (a view's aggregation) add without
/// allocating, bound or not, keeping exemplars (`AlwaysOn`) in their buckets.
#[test]
fn counters_as_histograms_allocate_nothing_per_add() {
    let provider = MeterProvider::builder()
        .without_env()
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .with_view(
            View::new("fills").with_aggregation(Aggregation::ExplicitBucketHistogram { boundaries: vec![1.0, 10.0] }),
        )
        .with_view(
            View::new("open").with_aggregation(Aggregation::Base2ExponentialHistogram { max_size: 20, max_scale: 4 }),
        )
        .build();
    let meter = provider.meter("alloc");
    let fills = meter.u64_counter("fills").build().unwrap();
    let open = meter.i64_up_down_counter("open").build().unwrap();
    let attrs = [KeyValue::new("venue", "XNAS")];
    let (bound_fills, bound_open) = (fills.bind(&attrs), open.bind(&attrs));
    let record = |i: u64| {
        fills.add(i % 20, &attrs);
        bound_fills.add(i % 7);
        open.add(i as i64 % 5 - 2, &attrs);
        bound_open.add(1);
    };
    (0..2000).for_each(record);
    assert_eq!(allocations_in(|| (0..10_000).for_each(record)), 0, "allocations while adding to histograms");
    let metrics = &provider.collect()[0].metrics;
    let exemplars = |name: &str| match metrics.iter().find(|m| m.name == name).and_then(|m| m.data.as_ref()) {
        Some(Data::Histogram(h)) => h.data_points[0].exemplars.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points[0].exemplars.len(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(exemplars("fills"), 3, "one per bucket");
    assert!(exemplars("open") > 0);
}

#[test]
fn a_static_counter_allocates_nothing_from_its_first_add() {
    static FIRST_USE: StaticCounter = StaticCounter::new("alloc.static");
    let n = allocations_in(|| {
        for _ in 0..10_000 {
            FIRST_USE.add(1);
        }
    });
    assert_eq!(n, 0, "static counter adds allocated {n} times");
    assert_eq!(FIRST_USE.total(), 10_000);
}

#[test]
fn a_static_histogram_allocates_nothing_from_its_first_record() {
    static FIRST_USE: StaticHistogram = StaticHistogram::new("alloc.static_histogram");
    let n = allocations_in(|| {
        for value in 0..10_000 {
            FIRST_USE.record(value);
        }
    });
    assert_eq!(n, 0, "static histogram records allocated {n} times");
    assert_eq!(FIRST_USE.count(), 10_000);
}
