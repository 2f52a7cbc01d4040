//! Telemetry from a thread-local destructor that runs after nanotel's own thread-locals are gone
//! (a connection pool's or a logger's, say, registered before the thread first recorded): nothing
//! panics (a panic in a thread-local destructor aborts the process), a span entered there makes
//! nothing current, and what cannot be recorded any more is counted with its own reason,
//! `thread_exit`, not as a full queue.

use std::cell::RefCell;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::Pipeline;
use nanotel::logs::{Logger, LoggerProvider, Severity};
use nanotel::metrics::{Counter, MeterProvider};
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::number_data_point::Value;
use nanotel::trace::{Context, ContextGuard, Sampler, Tracer, TracerProvider};
use nanotel_testing::TestCollector;

/// What the thread's last destructor uses, and a context it entered while the thread ran.
struct LastWords {
    tracer: Tracer,
    logger: Logger,
    orders: Counter<u64>,
    /// Still entered when nanotel's thread-locals are torn down, so the thread's "a span is
    /// entered" flag outlives the span it names. Held for its drop, never read.
    _entered: ContextGuard,
}

impl Drop for LastWords {
    fn drop(&mut self) {
        let mut late = self.tracer.span("late").start();
        late.add_event("late event", [KeyValue::new("qty", 1)]);
        {
            let _entered = late.enter();
            assert!(!Context::current().span_context().is_valid(), "nothing can be current any more");
            self.tracer.span("late child").start().end();
        }
        drop(late);
        self.logger.emit(Severity::Warn, "late", &[]);
        self.orders.add(1, &[KeyValue::new("venue", "XNAS")]);
        self.orders.bind(&[]).add(10);
    }
}

thread_local! {
    static LAST_WORDS: RefCell<Option<LastWords>> = const { RefCell::new(None) };
}

const LATE_SPANS: u64 = 2;
const LATE_LOGS: u64 = 1;

#[test]
fn a_thread_local_destructor_after_nanotels_own_records_metrics_and_counts_the_rest() {
    let collector = TestCollector::start().unwrap();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_poll_interval(Duration::from_millis(1));
    let pipeline = pipeline.build().unwrap();
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let loggers = LoggerProvider::builder().without_env().build();
    let meters = MeterProvider::builder().without_env().build();
    tracers.attach(&pipeline);
    loggers.attach(&pipeline);
    let (tracer, logger) = (tracers.tracer("gateway"), loggers.logger("gateway"));
    let orders = meters.meter("gateway").u64_counter("orders").build().unwrap();

    std::thread::scope(|s| {
        s.spawn(|| {
            // Registered before any of nanotel's thread-locals, so destroyed after them.
            LAST_WORDS.with(|last| last.borrow_mut().take());
            let running = tracer.span("running").start();
            let entered = running.enter();
            logger.emit(Severity::Info, "running", &[]);
            orders.add(100, &[]);
            LAST_WORDS.with(|last| {
                *last.borrow_mut() = Some(LastWords {
                    tracer: tracer.clone(),
                    logger: logger.clone(),
                    orders: orders.clone(),
                    _entered: entered,
                });
            });
            running.end();
        });
    });

    let accounting = pipeline.shutdown(Duration::from_secs(10)).accounting;
    let (traces, logs) = (&accounting.traces, &accounting.logs);
    assert_eq!((traces.exported, traces.dropped["thread_exit"]), (1, LATE_SPANS), "{traces:?}");
    assert_eq!((logs.exported, logs.dropped["thread_exit"]), (1, LATE_LOGS), "{logs:?}");
    for counters in [traces, logs] {
        assert_eq!(counters.enqueued, counters.exported + counters.dropped.values().sum::<u64>(), "{counters:?}");
    }
    assert_eq!(counter_total(&meters), 111, "the late adds are counted");
}

fn counter_total(meters: &MeterProvider) -> i64 {
    let metrics = meters.collect().into_iter().flat_map(|scope| scope.metrics);
    let points = metrics.flat_map(|metric| match metric.data {
        Some(Data::Sum(sum)) => sum.data_points,
        other => panic!("a sum expected: {other:?}"),
    });
    points.map(|point| if let Some(Value::AsInt(v)) = point.value { v } else { panic!("an int: {point:?}") }).sum()
}
