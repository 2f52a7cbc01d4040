//! Every instrument kind under thread churn: dozens of long-lived recording threads and hundreds of
//! short-lived ones (each claiming a stripe slot, recording, and giving the slot back as it exits),
//! with delta collections in a tight loop. The points of all windows add up to exactly what the
//! threads recorded: counts, sums, minimums and maximums.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nanotel::attributes::KeyValue;
use nanotel::metrics::{Counter, Gauge, Histogram, MeterProvider, TemporalityPreference, UpDownCounter};
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::number_data_point::Value;
use nanotel::proto::metrics::v1::ScopeMetrics;

const LONG_LIVED: u64 = 24;
const LONG_RECORDS: u64 = 20_000;
const WAVES: u64 = 10;
const WAVE_THREADS: u64 = 30;
const SHORT_RECORDS: u64 = 500;

/// Count, sum, minimum and maximum of a distribution.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Summary {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Summary {
    fn add(&mut self, other: Summary) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn of(value: f64) -> Summary {
        Summary { count: 1, sum: value, min: value, max: value }
    }
}

/// What was recorded (by the threads) or exported (over all windows).
#[derive(Debug, Default, PartialEq)]
struct Totals {
    counter: i64,
    up_down: i64,
    explicit: Summary,
    exponential: Summary,
}

struct Instruments {
    counter: Counter<u64>,
    up_down: UpDownCounter<i64>,
    gauge: Gauge<i64>,
    explicit: Histogram<u64>,
    exponential: Histogram<f64>,
}

impl Instruments {
    /// Records `records` values derived from `seed`, half through bound handles, and returns what it
    /// recorded.
    fn record(&self, seed: u64, records: u64) -> Totals {
        let attrs = [KeyValue::new("venue", "XNAS")];
        let (counter, explicit, exponential) =
            (self.counter.bind(&attrs), self.explicit.bind(&attrs), self.exponential.bind(&attrs));
        let mut done = Totals::default();
        for i in 0..records {
            let value = (seed * 7 + i * 13) % 1000 + 1;
            let change = if i % 2 == 0 { value as i64 } else { -(value as i64) / 2 };
            if i % 2 == 0 {
                counter.add(value);
                explicit.record(value);
                exponential.record(value as f64 / 4.0);
            } else {
                self.counter.add(value, &attrs);
                self.explicit.record(value, &attrs);
                self.exponential.record(value as f64 / 4.0, &attrs);
            }
            self.up_down.add(change, &attrs);
            self.gauge.record(value as i64, &attrs);
            done.counter += value as i64;
            done.up_down += change;
            done.explicit.add(Summary::of(value as f64));
            done.exponential.add(Summary::of(value as f64 / 4.0));
        }
        done
    }
}

/// Adds a collection's points to `exported`; returns the gauge's value, if it has a point.
fn add(exported: &mut Totals, scopes: &[ScopeMetrics]) -> Option<i64> {
    let mut gauge = None;
    let int = |value: Option<Value>| match value {
        Some(Value::AsInt(v)) => v,
        other => panic!("an integer point: {other:?}"),
    };
    for metric in scopes.iter().flat_map(|s| &s.metrics) {
        match metric.data.as_ref() {
            // Counters report deltas; the up-down counter is cumulative under every preference.
            Some(Data::Sum(sum)) if metric.name == "orders" => {
                exported.counter += sum.data_points.iter().map(|p| int(p.value)).sum::<i64>();
            }
            Some(Data::Sum(sum)) => exported.up_down = int(sum.data_points[0].value),
            Some(Data::Gauge(g)) => {
                let value = int(g.data_points[0].value);
                assert!((1..=1000).contains(&value) || value == -1, "a recorded value: {value}");
                gauge = Some(value);
            }
            Some(Data::Histogram(h)) => {
                for p in &h.data_points {
                    assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>(), "count = Σ buckets: {p:?}");
                    let (min, max) = (p.min.unwrap_or(f64::NAN), p.max.unwrap_or(f64::NAN));
                    assert!(p.count > 0 && min <= max, "{p:?}");
                    exported.explicit.add(Summary { count: p.count, sum: p.sum.unwrap_or(f64::NAN), min, max });
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                for p in &h.data_points {
                    let buckets = p.positive.as_ref().map_or(0, |b| b.bucket_counts.iter().sum::<u64>());
                    assert_eq!(p.count, p.zero_count + buckets, "count = zeros + Σ buckets: {p:?}");
                    let (min, max) = (p.min.unwrap_or(f64::NAN), p.max.unwrap_or(f64::NAN));
                    assert!(p.count > 0 && min <= max, "{p:?}");
                    exported.exponential.add(Summary { count: p.count, sum: p.sum.unwrap_or(f64::NAN), min, max });
                }
            }
            other => panic!("unexpected data {other:?}"),
        }
    }
    gauge
}

#[test]
fn every_kind_adds_up_exactly_under_thread_churn_and_tight_delta_collections() {
    let provider = MeterProvider::builder().without_env().with_temporality(TemporalityPreference::Delta).build();
    let meter = provider.meter("stress");
    let instruments = Instruments {
        counter: meter.u64_counter("orders").build().unwrap(),
        up_down: meter.i64_up_down_counter("orders.open").build().unwrap(),
        gauge: meter.i64_gauge("price").build().unwrap(),
        explicit: meter.u64_histogram("size").with_boundaries(vec![10.0, 100.0, 500.0]).build().unwrap(),
        exponential: meter.f64_histogram("latency").with_exponential_buckets().build().unwrap(),
    };
    let recorded = Mutex::new(Totals::default());
    let note = |done: Totals| {
        let mut recorded = recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        recorded.counter += done.counter;
        recorded.up_down += done.up_down;
        recorded.explicit.add(done.explicit);
        recorded.exponential.add(done.exponential);
    };
    let mut exported = Totals::default();
    let mut collections = 0u64;
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (instruments, note, finished) = (&instruments, &note, &finished);
        s.spawn(move || {
            std::thread::scope(|recorders| {
                for t in 0..LONG_LIVED {
                    recorders.spawn(move || note(instruments.record(t, LONG_RECORDS)));
                }
                for wave in 0..WAVES {
                    // Each wave's threads exit before the next wave starts: their slots are reused.
                    std::thread::scope(|short| {
                        for t in 0..WAVE_THREADS {
                            let seed = LONG_LIVED + wave * WAVE_THREADS + t;
                            short.spawn(move || note(instruments.record(seed, SHORT_RECORDS)));
                        }
                    });
                }
            });
            finished.store(true, Ordering::Release);
        });
        while !finished.load(Ordering::Acquire) {
            add(&mut exported, &provider.collect());
            collections += 1;
        }
    });
    add(&mut exported, &provider.collect());
    instruments.gauge.record(-1, &[KeyValue::new("venue", "XNAS")]);
    assert_eq!(add(&mut Totals::default(), &provider.collect()), Some(-1), "the last value set");
    assert!(collections > 1, "collections must race with the recording threads");
    let recorded = recorded.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let records = LONG_LIVED * LONG_RECORDS + WAVES * WAVE_THREADS * SHORT_RECORDS;
    assert_eq!((recorded.explicit.count, recorded.exponential.count), (records, records));
    assert_eq!(exported, recorded, "over {collections} collections");
}
