//! Exact totals under concurrency: N threads × M records, bound and unbound, cumulative and
//! delta, with delta collections racing the recording threads.

use nanotel::attributes::KeyValue;
use nanotel::metrics::{MeterProvider, TemporalityPreference, OVERFLOW_KEY};
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::number_data_point::Value;
use nanotel::proto::metrics::v1::{AggregationTemporality, ScopeMetrics};

const THREADS: u64 = 4;
const RECORDS: u64 = 50_000;

/// Running totals over collections: counter sum, histogram count and buckets, exponential count.
#[derive(Default, Debug)]
struct Totals {
    counter: i64,
    histogram_count: u64,
    buckets: Vec<u64>,
    exponential_count: u64,
    delta_points: usize,
}

fn add(totals: &mut Totals, scopes: &[ScopeMetrics]) {
    for metric in scopes.iter().flat_map(|s| &s.metrics) {
        match metric.data.as_ref() {
            Some(Data::Sum(sum)) => {
                for point in &sum.data_points {
                    let Some(Value::AsInt(v)) = point.value else { panic!("integer sum expected: {point:?}") };
                    totals.counter += v;
                }
                totals.delta_points += usize::from(sum.aggregation_temporality == AggregationTemporality::Delta as i32);
            }
            Some(Data::Histogram(h)) => {
                for point in &h.data_points {
                    assert_eq!(point.count, point.bucket_counts.iter().sum::<u64>(), "count = Σ buckets");
                    totals.histogram_count += point.count;
                    totals.buckets.resize(point.bucket_counts.len(), 0);
                    totals.buckets.iter_mut().zip(&point.bucket_counts).for_each(|(t, c)| *t += c);
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                for point in &h.data_points {
                    let buckets = point.positive.as_ref().map_or(0, |b| b.bucket_counts.iter().sum::<u64>());
                    assert_eq!(point.count, point.zero_count + buckets, "count = zeros + Σ buckets");
                    assert!(point.positive.as_ref().is_none_or(|b| b.bucket_counts.len() <= 160));
                    totals.exponential_count += point.count;
                }
            }
            other => panic!("unexpected data {other:?}"),
        }
    }
}

/// Every thread records `RECORDS` times into a counter (half bound, half unbound), an explicit
/// and an exponential histogram, while the main thread collects whenever `collect_while_running`.
fn run(preference: TemporalityPreference, collect_while_running: bool) -> (Totals, u64) {
    let provider = MeterProvider::builder().without_env().temporality(preference).build();
    let meter = provider.meter("stress");
    let counter = meter.u64_counter("orders").build().unwrap();
    let histogram = meter.u64_histogram("latency").with_boundaries(vec![10.0, 100.0, 1000.0]).build().unwrap();
    let exponential = meter.f64_histogram("latency.exp").exponential().build().unwrap();
    let mut totals = Totals::default();
    let mut collections = 0;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (counter, histogram, exponential) = (counter.clone(), histogram.clone(), exponential.clone());
                s.spawn(move || {
                    let attrs = [KeyValue::new("thread", (t % 2) as i64), KeyValue::new("venue", "XNAS")];
                    let bound = counter.bind(&attrs);
                    let bound_histogram = histogram.bind(&attrs);
                    for i in 0..RECORDS {
                        if i % 2 == 0 {
                            bound.add(1);
                            bound_histogram.record(i % 2000);
                        } else {
                            counter.add(1, &[attrs[1].clone(), attrs[0].clone()]);
                            histogram.record(i % 2000, &attrs);
                        }
                        exponential.record((i % 5000) as f64 * 0.25, &attrs);
                    }
                })
            })
            .collect();
        while collect_while_running && workers.iter().any(|w| !w.is_finished()) {
            add(&mut totals, &provider.collect());
            collections += 1;
        }
    });
    add(&mut totals, &provider.collect());
    (totals, collections)
}

/// Per-bucket totals of the values every thread records (i % 2000 for i in 0..RECORDS).
fn expected_buckets() -> Vec<u64> {
    let mut buckets = vec![0u64; 4];
    for i in 0..RECORDS {
        let v = (i % 2000) as f64;
        buckets[[10.0, 100.0, 1000.0].iter().filter(|&&b| b < v).count()] += THREADS;
    }
    buckets
}

#[test]
fn cumulative_totals_are_exact() {
    let (totals, _) = run(TemporalityPreference::Cumulative, false);
    assert_eq!(totals.counter, (THREADS * RECORDS) as i64);
    assert_eq!(totals.histogram_count, THREADS * RECORDS);
    assert_eq!(totals.buckets, expected_buckets());
    assert_eq!(totals.exponential_count, THREADS * RECORDS);
    assert_eq!(totals.delta_points, 0);
}

#[test]
fn delta_collections_racing_with_recording_lose_nothing() {
    let (totals, collections) = run(TemporalityPreference::Delta, true);
    assert!(collections > 1, "collections must race with the recording threads");
    assert!(totals.delta_points > 0);
    assert_eq!(totals.counter, (THREADS * RECORDS) as i64, "Σ deltas = total recorded, over {collections} collections");
    assert_eq!(totals.histogram_count, THREADS * RECORDS);
    assert_eq!(totals.buckets, expected_buckets());
    assert_eq!(totals.exponential_count, THREADS * RECORDS);
}

#[test]
fn overflow_counts_every_measurement_exactly_once() {
    let provider = MeterProvider::builder().without_env().cardinality_limit(50).build();
    let counter = provider.meter("stress").u64_counter("orders").build().unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let counter = counter.clone();
            s.spawn(move || {
                for i in 0..RECORDS {
                    counter.add(1, &[KeyValue::new("order", ((i * 7 + t) % 500) as i64)]);
                }
            });
        }
    });
    let scopes = provider.collect();
    let Some(Data::Sum(sum)) = scopes[0].metrics[0].data.as_ref() else { panic!("a sum") };
    assert_eq!(sum.data_points.len(), 50, "49 series and the overflow series");
    let overflow: Vec<_> = sum.data_points.iter().filter(|p| p.attributes[0].key == OVERFLOW_KEY).collect();
    assert_eq!(overflow.len(), 1);
    let total: i64 = sum.data_points.iter().map(|p| if let Some(Value::AsInt(v)) = p.value { v } else { 0 }).sum();
    assert_eq!(total, (THREADS * RECORDS) as i64);
}
