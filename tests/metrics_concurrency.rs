//! Exact totals under concurrency: N threads × M records, bound and unbound, cumulative and
//! delta, with delta collections racing the recording threads; and waves of more threads than
//! stripes, exiting and replaced; exemplars kept whole by racing threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

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
    let provider = MeterProvider::builder().without_env().with_temporality(preference).build();
    let meter = provider.meter("stress");
    let counter = meter.u64_counter("orders").build().unwrap();
    let histogram = meter.u64_histogram("latency").with_boundaries(vec![10.0, 100.0, 1000.0]).build().unwrap();
    let exponential = meter.f64_histogram("latency.exp").with_exponential_buckets().build().unwrap();
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
    let provider = MeterProvider::builder().without_env().with_cardinality_limit(50).build();
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

const WAVES: u64 = 3;
/// More live threads than any series has stripes (64 at most).
const WAVE_THREADS: u64 = 70;
const WAVE_ADDS: u64 = 500;

/// What `waves` saw: the counter's total, the up-down counter's last value, the histogram's count.
#[derive(Debug, Default, PartialEq)]
struct WaveTotals {
    counter: i64,
    open: i64,
    histogram_count: u64,
}

impl WaveTotals {
    /// Adds a collection: deltas add up; cumulative points (and the up-down counter, cumulative
    /// under every preference) replace the previous value.
    fn add(&mut self, scopes: &[ScopeMetrics]) {
        let delta = |temporality: i32| temporality == AggregationTemporality::Delta as i32;
        for metric in scopes.iter().flat_map(|s| &s.metrics) {
            match metric.data.as_ref() {
                Some(Data::Sum(sum)) => {
                    let Some(Value::AsInt(v)) = sum.data_points[0].value else { panic!("an integer sum: {sum:?}") };
                    let total = if metric.name == "orders" { &mut self.counter } else { &mut self.open };
                    *total = if delta(sum.aggregation_temporality) { *total + v } else { v };
                }
                Some(Data::Histogram(h)) => {
                    let count = h.data_points[0].count;
                    let total = &mut self.histogram_count;
                    *total = if delta(h.aggregation_temporality) { *total + count } else { count };
                }
                other => panic!("unexpected data {other:?}"),
            }
        }
    }
}

/// Waves of `WAVE_THREADS` threads, all alive before any records, each wave exiting before the
/// next starts: threads claim stripes, record in shared mode when none is free, give their stripe
/// back when they exit, and later threads reuse it. Collections race the waves under `Delta`.
fn waves(preference: TemporalityPreference) -> WaveTotals {
    let provider = MeterProvider::builder().without_env().with_temporality(preference).build();
    let meter = provider.meter("waves");
    let counter = meter.u64_counter("orders").build().unwrap();
    let open = meter.i64_up_down_counter("orders.open").build().unwrap();
    let histogram = meter.u64_histogram("latency").with_boundaries(vec![10.0]).build().unwrap();
    let mut totals = WaveTotals::default();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..WAVES {
                let start = Barrier::new(WAVE_THREADS as usize);
                std::thread::scope(|wave| {
                    for t in 0..WAVE_THREADS as i64 {
                        let (counter, open, histogram, start) = (&counter, &open, &histogram, &start);
                        wave.spawn(move || {
                            start.wait();
                            let attrs = [KeyValue::new("venue", "XNAS")];
                            let bound = counter.bind(&attrs);
                            for i in 0..WAVE_ADDS {
                                // Each pair of adds moves the up-down counter by exactly 1.
                                if i % 2 == 0 {
                                    bound.add(1);
                                    open.add(-t, &[]);
                                } else {
                                    counter.add(1, &attrs);
                                    open.add(t + 1, &[]);
                                }
                                histogram.record(i, &attrs);
                            }
                        });
                    }
                });
            }
            done.store(true, Ordering::Release);
        });
        while preference == TemporalityPreference::Delta && !done.load(Ordering::Acquire) {
            totals.add(&provider.collect());
            std::thread::yield_now();
        }
    });
    totals.add(&provider.collect());
    totals
}

#[test]
fn thread_exit_stripe_reuse_and_shared_mode_stay_exact() {
    let records = WAVES * WAVE_THREADS * WAVE_ADDS;
    let expected = WaveTotals { counter: records as i64, open: (records / 2) as i64, histogram_count: records };
    assert_eq!(waves(TemporalityPreference::Cumulative), expected);
    assert_eq!(waves(TemporalityPreference::Delta), expected);
}

/// Sums every delta point of the explicit histogram "h" over `scopes` into `(count, sum)`, checking
/// each point: its count is its buckets' sum and its extremes are the only value recorded.
fn add_explicit_points(scopes: &[ScopeMetrics], value: f64, total: &mut (u64, f64)) {
    for metric in scopes.iter().flat_map(|s| &s.metrics) {
        let Some(Data::Histogram(h)) = metric.data.as_ref() else { panic!("a histogram: {metric:?}") };
        for point in &h.data_points {
            assert_eq!(point.count, point.bucket_counts.iter().sum::<u64>(), "count = Σ buckets: {point:?}");
            assert!(point.count > 0, "a delta point only for a window that saw records: {point:?}");
            assert_eq!((point.min, point.max), (Some(value), Some(value)), "{point:?}");
            assert_eq!(point.sum, Some(value * point.count as f64), "the sum of this window's records: {point:?}");
            total.0 += point.count;
            total.1 += point.sum.unwrap_or(0.0);
        }
    }
}

/// Issue 13, defect 2: a record's bucket, sum, minimum and maximum fall in one delta window, so
/// the points' counts and sums add up to what was recorded and every point is valid.
#[test]
fn explicit_histogram_deltas_are_exact_and_every_point_is_valid() {
    const RECORDERS: u64 = 2;
    const EACH: u64 = 200_000;
    let provider = MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    let histogram = provider.meter("stress").f64_histogram("h").build().unwrap();
    let mut total = (0u64, 0.0f64);
    let mut collections = 0;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..RECORDERS)
            .map(|_| {
                let bound = histogram.bind(&[]);
                s.spawn(move || (0..EACH).for_each(|_| bound.record(3.0)))
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            add_explicit_points(&provider.collect(), 3.0, &mut total);
            collections += 1;
        }
    });
    add_explicit_points(&provider.collect(), 3.0, &mut total);
    assert!(collections > 1, "collections must race with the recording threads");
    assert_eq!(total, (RECORDERS * EACH, 3.0 * (RECORDERS * EACH) as f64), "over {collections} collections");
}

/// Issue 13, defect 3: far more recording threads than cores (so owners are often preempted in
/// the middle of a record), with delta collections racing them: no value is lost.
#[test]
fn exponential_histogram_loses_nothing_when_threads_outnumber_cores() {
    const RECORDERS: u64 = 64;
    const EACH: u64 = 20_000;
    let provider = MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    let histogram = provider.meter("stress").f64_histogram("h").with_exponential_buckets().build().unwrap();
    let (mut count, mut sum) = (0u64, 0.0f64);
    let mut add = |scopes: Vec<ScopeMetrics>| {
        for metric in scopes.iter().flat_map(|s| &s.metrics) {
            let Some(Data::ExponentialHistogram(h)) = metric.data.as_ref() else { panic!("{metric:?}") };
            for point in &h.data_points {
                count += point.count;
                sum += point.sum.unwrap_or(0.0);
            }
        }
    };
    let start = Barrier::new(RECORDERS as usize);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..RECORDERS)
            .map(|_| {
                let (bound, start) = (histogram.bind(&[]), &start);
                s.spawn(move || {
                    start.wait();
                    (0..EACH).for_each(|i| bound.record((i % 1000 + 1) as f64));
                })
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            add(provider.collect());
        }
    });
    add(provider.collect());
    // Σ (i % 1000 + 1) over i < EACH, per thread: EACH / 1000 rounds of 1..=1000.
    let per_thread = (EACH / 1000) as f64 * 500_500.0;
    assert_eq!((count, sum), (RECORDERS * EACH, RECORDERS as f64 * per_thread));
}

/// Exemplars under concurrency: more threads than stripes (so counters also offer to the
/// shared-mode reservoir, which threads contend for) record inside sampled spans of their own while
/// delta collections race them. The sums and counts stay exact, and every exemplar is whole: its
/// trace and span id are one thread's pair, and its value is one that thread recorded.
#[test]
fn exemplars_recorded_by_racing_threads_are_whole() {
    use nanotel::metrics::ExemplarFilter;
    use nanotel::proto::metrics::v1::{exemplar, Exemplar};
    use nanotel::trace::{Context, SpanContext, SpanId, TraceFlags, TraceId};

    const RECORDERS: u64 = 24;
    const EACH: u64 = 5_000;
    let provider = MeterProvider::builder()
        .without_env()
        .with_temporality(TemporalityPreference::Delta)
        .with_exemplar_filter(ExemplarFilter::TraceBased)
        .build();
    let meter = provider.meter("stress");
    let histogram = meter.u64_histogram("h").with_boundaries(vec![100.0, 1000.0]).build().unwrap();
    let exponential = meter.u64_histogram("e").with_exponential_buckets().build().unwrap();
    let counter = meter.u64_counter("c").build().unwrap();
    // Thread t runs under trace id [t + 1; 16] and span id [t + 1; 8]; its histogram values are
    // t * 10_000 + something below 10_000, its counter increments 1.
    let check = |e: &Exemplar, histogram: bool| {
        let Some(exemplar::Value::AsInt(value)) = e.value else { panic!("an integer exemplar: {e:?}") };
        let id = e.span_id.first().copied().unwrap_or_default();
        assert!((1..=RECORDERS as u8).contains(&id), "{e:?}");
        assert_eq!((e.trace_id.as_slice(), e.span_id.as_slice()), (&[id; 16][..], &[id; 8][..]), "{e:?}");
        let thread = u64::from(id - 1);
        assert!(if histogram { value as u64 / 10_000 == thread } else { value == 1 }, "{e:?}");
    };
    let (mut count, mut sum, mut exemplars) = (0u64, 0i64, 0usize);
    let mut add = |scopes: Vec<ScopeMetrics>| {
        for metric in scopes.iter().flat_map(|s| &s.metrics) {
            match metric.data.as_ref() {
                Some(Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
                    count += p.count;
                    exemplars += p.exemplars.len();
                    p.exemplars.iter().for_each(|e| check(e, true));
                }),
                Some(Data::ExponentialHistogram(h)) => h.data_points.iter().for_each(|p| {
                    exemplars += p.exemplars.len();
                    p.exemplars.iter().for_each(|e| check(e, true));
                }),
                Some(Data::Sum(s)) => s.data_points.iter().for_each(|p| {
                    if let Some(Value::AsInt(v)) = p.value {
                        sum += v;
                    }
                    exemplars += p.exemplars.len();
                    p.exemplars.iter().for_each(|e| check(e, false));
                }),
                other => panic!("unexpected data {other:?}"),
            }
        }
    };
    let start = Barrier::new(RECORDERS as usize);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..RECORDERS)
            .map(|t| {
                let (histogram, exponential, counter, start) = (&histogram, &exponential, &counter, &start);
                s.spawn(move || {
                    let id = t as u8 + 1;
                    let span = SpanContext::new(
                        TraceId::from_bytes([id; 16]),
                        SpanId::from_bytes([id; 8]),
                        TraceFlags::SAMPLED,
                        false,
                        Default::default(),
                    );
                    let _entered = Context::from_span_context(span).attach();
                    let (bound, bound_exponential) = (histogram.bind(&[]), exponential.bind(&[]));
                    start.wait();
                    for i in 0..EACH {
                        bound.record(t * 10_000 + i % 2000);
                        bound_exponential.record(t * 10_000 + i % 2000 + 1);
                        counter.add(1, &[]);
                    }
                })
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            add(provider.collect());
        }
    });
    add(provider.collect());
    assert_eq!((count, sum), (RECORDERS * EACH, (RECORDERS * EACH) as i64));
    assert!(exemplars > 0, "exemplars were kept");
}
