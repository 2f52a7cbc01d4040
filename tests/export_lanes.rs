//! One lane per signal, against a loopback collector that misbehaves for one signal only, over
//! real HTTP on 127.0.0.1: a hanging or dripping traces endpoint holds up neither metrics nor
//! logs, a dripped answer is a failed attempt, and a collector that closes keep-alive connections
//! after answering costs nothing.

#[path = "support/accounting.rs"]
mod accounting;
#[path = "support/items.rs"]
mod items;

use accounting::{assert_identity, wait_for, WAIT};
use items::{log, scope, span};
use std::time::{Duration, Instant};

use nanotel::export::{
    BatchConfig, BreakerConfig, MetricProducer, Pipeline, PipelineBuilder, RetryPolicy, SignalSnapshot,
};
use nanotel::proto::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ScopeMetrics};
use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};

/// One gauge point per collection.
struct Depth;

impl MetricProducer for Depth {
    fn produce(&mut self) -> Vec<ScopeMetrics> {
        let point = NumberDataPoint {
            value: Some(nanotel::proto::metrics::v1::number_data_point::Value::AsInt(1)),
            ..Default::default()
        };
        vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "book.depth".into(),
                data: Some(metric::Data::Gauge(Gauge { data_points: vec![point] })),
                ..Default::default()
            }],
            ..Default::default()
        }]
    }
}

/// Short delays; metrics collected every 50 ms.
fn builder(collector: &TestCollector) -> PipelineBuilder {
    let every = |signal, ms| BatchConfig { schedule_delay: Duration::from_millis(ms), ..BatchConfig::defaults(signal) };
    Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(collector.endpoint())
        .with_batch(Signal::Traces, every(Signal::Traces, 20))
        .with_batch(Signal::Logs, every(Signal::Logs, 20))
        .with_batch(Signal::Metrics, every(Signal::Metrics, 50))
        .with_poll_interval(Duration::from_millis(5))
}

/// The traces endpoint hangs for seconds on every request; metrics are still collected and sent
/// every 50 ms, and log records still go out, meanwhile. (Before: one request in flight for all
/// signals, so everything waited for the hung one.)
#[test]
fn a_hanging_traces_endpoint_holds_up_neither_metrics_nor_logs() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), (0..4).map(|_| Reply::Hang(Duration::from_secs(3))));
    let pipeline = builder(&collector).with_timeout(Duration::from_secs(3)).build().unwrap();
    pipeline.add_metric_producer(Depth);
    let handle = pipeline.handle();
    handle.send_span(&scope(), span(0));
    assert!(wait_for(|| collector.request_count(Signal::Traces) == 1), "the traces request is out");
    let hung_at = Instant::now();
    for i in 0..10 {
        handle.send_log(&scope(), log(i));
    }
    let flowing =
        wait_for(|| collector.accepted_items(Signal::Logs) == 10 && collector.accepted_items(Signal::Metrics) >= 5);
    let waited = hung_at.elapsed();
    assert!(flowing, "{}", pipeline.accounting().to_json());
    assert!(waited < Duration::from_millis(1500), "metrics and logs waited {waited:?} for the hung traces request");
    assert_eq!(collector.accepted_items(Signal::Traces), 0);
    assert_identity(&pipeline.shutdown(Duration::from_millis(200)).accounting);
}

/// A collector that drips its `200` one byte at a time: the answer does not arrive whole within
/// the request timeout, so the attempt fails and feeds the traces breaker, which opens; the logs
/// breaker stays closed and logs flow. (Before: a dripped 200 counted as a success.)
#[test]
fn a_dripped_answer_is_a_failed_attempt_and_opens_only_its_signals_breaker() {
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), (0..4).map(|_| Reply::Drip(Duration::from_millis(100))));
    let pipeline = builder(&collector)
        .with_timeout(Duration::from_millis(400))
        .with_breaker(BreakerConfig {
            failure_threshold: 2,
            reset_timeout: Duration::from_secs(60),
            ..BreakerConfig::default()
        })
        .with_retry(RetryPolicy { initial_backoff: Duration::from_millis(10), ..RetryPolicy::default() })
        .build()
        .unwrap();
    let handle = pipeline.handle();
    handle.send_span(&scope(), span(0));
    assert!(wait_for(|| pipeline.accounting().traces.breaker.state == "open"), "{}", pipeline.accounting().to_json());
    handle.send_log(&scope(), log(0));
    assert!(wait_for(|| collector.accepted_items(Signal::Logs) == 1));
    let snapshot = pipeline.accounting();
    assert_eq!((snapshot.traces.exported, snapshot.traces.failed_requests), (0, 2), "{}", snapshot.to_json());
    assert_eq!(snapshot.logs.breaker.state, "closed");
    assert_eq!(snapshot.metrics.breaker.state, "closed");
    assert_eq!(snapshot.breaker.state, "open", "the top-level breaker is the worst of the three");
    assert_identity(&pipeline.shutdown(Duration::from_millis(200)).accounting);
}

/// A collector that closes each connection right after answering, without saying so: the next
/// request, on a pooled connection, can race with the close. Such a request is sent again at
/// once on a fresh connection: no failed request, no breaker failure, nothing lost. (Before:
/// about half the requests failed with "connection closed before message completed".)
#[test]
fn a_collector_closing_keep_alive_connections_costs_no_failed_request() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::AcceptThenClose);
    let pipeline = builder(&collector)
        .with_batch(Signal::Traces, BatchConfig { max_export_batch_size: 4, ..BatchConfig::defaults(Signal::Traces) })
        .build()
        .unwrap();
    let handle = pipeline.handle();
    for i in 0..200 {
        handle.send_span(&scope(), span(i));
        if i % 4 == 3 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    pipeline.force_flush(WAIT).unwrap();
    let snapshot = pipeline.accounting();
    assert_eq!(snapshot.traces.exported, 200, "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.failed_requests, 0, "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.breaker.consecutive_failures, 0);
    assert!(collector.request_count(Signal::Traces) >= 50);
    assert_identity(&pipeline.shutdown(WAIT).accounting);
}

/// A `Retry-After` longer than the retry budget: the lane holds back for it, the batch waits
/// and is delivered, and the batches behind it wait too. (Before: the batch was dropped at once
/// as `retries_exhausted`, and the next batch went out immediately.)
#[test]
fn a_retry_after_beyond_the_retry_budget_holds_the_lane_and_loses_nothing() {
    let collector = TestCollector::start().unwrap();
    let busy = Reply::Status { code: 503, retry_after: Some("1".into()), message: "slow down".into() };
    collector.script(Some(Signal::Traces), [busy]);
    let pipeline = builder(&collector)
        .with_retry(RetryPolicy { max_elapsed: Duration::from_millis(200), ..RetryPolicy::default() })
        .build()
        .unwrap();
    let handle = pipeline.handle();
    handle.send_span(&scope(), span(0));
    assert!(wait_for(|| collector.request_count(Signal::Traces) == 1));
    handle.send_span(&scope(), span(1));
    pipeline.force_flush(WAIT).unwrap();
    // Timed by the collector's own arrivals (the refusal went out after the first arrived): a
    // test thread late to notice cannot make the wait look shorter.
    let arrivals: Vec<Instant> = collector.received().iter().map(|r| r.arrived).collect();
    let waited = arrivals[1] - arrivals[0];
    assert!(
        waited >= Duration::from_secs(1),
        "nothing sent while the collector asked to wait; retried after {waited:?}"
    );
    let snapshot = pipeline.accounting();
    assert_eq!((snapshot.traces.exported, snapshot.traces.dropped_total()), (2, 0), "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.breaker.consecutive_failures, 0, "a collector pacing us is not failing");
}

/// The breaker's probe answered with a `Retry-After`: the breaker opens again, probes when the
/// collector asked, and the batch goes out. (Until session 39 the probe stayed in flight for
/// ever: the lane never sent again, every later batch was shed as `circuit_open`, and the
/// exporter thread spun, woken at once for a retry already due that the breaker refused.)
#[test]
fn a_probe_answered_with_retry_after_probes_again_when_asked() {
    let collector = TestCollector::start().unwrap();
    let down = Reply::Status { code: 503, retry_after: None, message: "down".into() };
    let starting = Reply::Status { code: 503, retry_after: Some("1".into()), message: "starting".into() };
    collector.script(Some(Signal::Traces), [down.clone(), down, starting]);
    let pipeline = builder(&collector)
        .with_breaker(BreakerConfig {
            failure_threshold: 2,
            reset_timeout: Duration::from_millis(200),
            ..BreakerConfig::default()
        })
        .with_retry(RetryPolicy { initial_backoff: Duration::from_millis(10), ..RetryPolicy::default() })
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    assert!(wait_for(|| collector.request_count(Signal::Traces) == 3), "two failures, then the probe");
    assert!(wait_for(|| pipeline.accounting().traces.exported == 1), "{}", pipeline.accounting().to_json());
    assert_eq!(collector.request_count(Signal::Traces), 4);
    // Timed by the collector's own arrivals, as above.
    let arrivals: Vec<Instant> = collector.received().iter().map(|r| r.arrived).collect();
    assert!(arrivals[3] - arrivals[2] >= Duration::from_secs(1), "probed again when the collector asked");
    assert_identity(&pipeline.shutdown(WAIT).accounting);
}

/// A collector answering `Retry-After: 0` (or a date already past) asks for no pause: the batch
/// is retried after the retry policy's backoff (not at once: until session 39 one answering every
/// attempt so was sent the batch back to back, as fast as it answered, for ever), and the attempts
/// count, so one answering so for ever has the batch dropped when its retries run out (until
/// session 42 it was paced at the first backoff without counting, for ever).
#[test]
fn a_retry_after_of_zero_is_retried_with_backoff_and_runs_out() {
    let collector = TestCollector::start().unwrap();
    let now_please = Reply::Status { code: 429, retry_after: Some("0".into()), message: "now".into() };
    collector.script(Some(Signal::Traces), [now_please.clone(), now_please.clone()]);
    let backoff = Duration::from_millis(300);
    let pipeline = builder(&collector)
        .with_compression(nanotel::export::Compression::None)
        .with_retry(RetryPolicy { initial_backoff: backoff, ..RetryPolicy::default() })
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    assert!(wait_for(|| pipeline.accounting().traces.exported == 1), "{}", pipeline.accounting().to_json());
    let arrivals: Vec<Instant> = collector.received().iter().map(|r| r.arrived).collect();
    assert_eq!(arrivals.len(), 3);
    for pair in arrivals.windows(2) {
        // The backoff's jitter takes it down to half.
        assert!(pair[1] - pair[0] >= backoff / 2, "retried after {:?}", pair[1] - pair[0]);
    }
    // The resends are retries, and the batch's bytes count once before compression (until
    // session 41 a resend after a pause, or a breaker's probe, counted as a first attempt).
    let traces = pipeline.accounting().traces;
    assert_eq!(traces.retries, 2);
    assert_eq!(traces.bytes.sent, 3 * traces.bytes.uncompressed, "uncompressed, each attempt sends it whole");
    assert_identity(&pipeline.shutdown(WAIT).accounting);

    let collector = TestCollector::start().unwrap();
    collector.set_default(now_please);
    let pipeline = builder(&collector)
        .with_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    assert!(wait_for(|| pipeline.accounting().traces.dropped_total() == 1), "{}", pipeline.accounting().to_json());
    assert_eq!(pipeline.accounting().traces.dropped(nanotel::export::DropReason::RetriesExhausted), 1);
    assert_eq!(collector.request_count(Signal::Traces), 3, "its attempts counted");
    assert_identity(&pipeline.shutdown(WAIT).accounting);
}

/// Sends `per_second` spans a second for `duration` from another thread; returns how many.
fn produce(handle: &nanotel::export::PipelineHandle, per_second: u64, duration: Duration) -> u64 {
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < duration {
        let due = (started.elapsed().as_secs_f64() * per_second as f64) as u64;
        while sent < due {
            handle.send_span(&scope(), span(sent));
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    sent
}

/// A collector down for 2 s while 4,000 spans a second arrive: the breaker opens, probes after
/// 1 s and then 2 s, the backlog holds everything meanwhile, and once the collector is back it
/// all goes out: nothing lost. The backlog's growth per second of outage shows what the default
/// 64 MiB budget rides out. (Before: the backlog held one queue's worth, 2,048 spans, and the
/// breaker probed only every 30 s.)
#[test]
fn an_outage_within_the_backlog_budget_loses_nothing() {
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    let pipeline = builder(&collector).build().unwrap();
    let handle = pipeline.handle();
    let outage = Duration::from_secs(2);
    let (sent, held_at_worst) = std::thread::scope(|s| {
        let producer = s.spawn(|| produce(&handle, 4000, outage + Duration::from_secs(1)));
        std::thread::sleep(outage);
        let held = pipeline.accounting().traces.backlog_bytes;
        collector.set_default(Reply::Accept);
        (producer.join().unwrap(), held)
    });
    // (A flush would fail at once while the breaker waits for its probe.)
    assert!(wait_for(|| pipeline.accounting().traces.queued == 0), "{}", pipeline.accounting().to_json());
    let snapshot = pipeline.accounting();
    assert_eq!((snapshot.traces.exported, snapshot.traces.dropped_total()), (sent, 0), "{}", snapshot.to_json());
    assert!(snapshot.traces.breaker.transitions >= 3, "it opened, probed, closed: {}", snapshot.to_json());
    // Spans encode to a few dozen bytes each after gzip: a 15 s outage at this rate needs well
    // under the default budget.
    let per_second = held_at_worst as f64 / outage.as_secs_f64();
    eprintln!("backlog growth during the outage: {per_second:.0} bytes/s");
    assert!(per_second * 15.0 < nanotel::export::DEFAULT_BACKLOG_MAX_BYTES as f64, "{per_second} bytes/s");
    assert_identity(&pipeline.shutdown(WAIT).accounting);
}

/// A longer outage than the budget holds: the oldest batches go, counted as `circuit_open`, the
/// backlog never exceeds its budget, and the rest is delivered once the collector is back.
#[test]
fn an_outage_beyond_the_backlog_budget_drops_only_the_excess() {
    const BUDGET: usize = 16 * 1024;
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    let pipeline = builder(&collector)
        .with_backlog_max_bytes(BUDGET)
        .with_breaker(BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() })
        .build()
        .unwrap();
    let mut most_held = 0;
    let sent = produce_watching(&pipeline, 8000, Duration::from_millis(1500), |traces| {
        most_held = most_held.max(traces.backlog_bytes);
    });
    collector.set_default(Reply::Accept);
    assert_exported_or_dropped_for(&pipeline, sent, "circuit_open");
    assert!(most_held <= BUDGET as u64, "held {most_held} bytes, budget {BUDGET}");
}

/// One signal's outage does not starve the others of the backlog they share: while the traces
/// collector is down and its spans fill the budget, log records still go out. (Until session 39
/// the traces backlog took the whole budget, and the logs lane, finding no room, formed no batch:
/// its records waited until its queue overflowed, though their collector answered.)
#[test]
fn an_outage_of_one_signal_leaves_the_others_room_in_the_backlog() {
    let down = Reply::Status { code: 503, retry_after: None, message: "down".into() };
    let breaker = BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() };
    spans_held_up_leave_the_logs_room(down, breaker, "circuit_open");
}

/// The same with a collector that paces the spans (`429` with a `Retry-After` longer than the
/// test), which leaves the breaker closed: the paced lane sheds its oldest batches past the
/// budget less the others' room, counted as `backlog_full`. (Until session 41 only a tripped
/// breaker's lane shed: the paced one filled the budget, and the logs formed no batch for as long
/// as the collector kept pacing.)
#[test]
fn a_paced_signal_leaves_the_others_room_in_the_backlog() {
    let paced = Reply::Status { code: 429, retry_after: Some("60".into()), message: "slow down".into() };
    spans_held_up_leave_the_logs_room(paced, BreakerConfig::default(), "backlog_full");
}

/// Spans whose collector answers `held` (every time) fill their part of the backlog budget, and
/// shed their oldest batches for `reason`; logs still go out, within the budget.
fn spans_held_up_leave_the_logs_room(held: Reply, breaker: BreakerConfig, reason: &str) {
    const BUDGET: usize = 16 * 1024;
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), (0..1000).map(|_| held.clone()));
    // Uncompressed, so that sizes are as sent: a first log batch of about 6 KB leaves the logs
    // lane asking for that much room again, more than the traces' smaller batches leave free.
    let pipeline = builder(&collector)
        .with_compression(nanotel::export::Compression::None)
        .with_backlog_max_bytes(BUDGET)
        .with_breaker(breaker)
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let large = log_of(6000);
    handle.send_log(&scope(), large);
    assert!(wait_for(|| pipeline.accounting().logs.exported == 1), "the logs lane has formed a batch");
    produce_watching(&pipeline, 1000, Duration::from_millis(800), |_| {});
    let traces = pipeline.accounting().traces;
    assert!(traces.dropped.get(reason).is_some_and(|n| *n > 0), "{}", pipeline.accounting().to_json());
    for i in 1..=20 {
        handle.send_log(&scope(), log(i));
    }
    assert!(wait_for(|| pipeline.accounting().logs.exported == 21), "{}", pipeline.accounting().to_json());
    let held = |snapshot: &nanotel::export::Snapshot| snapshot.traces.backlog_bytes + snapshot.logs.backlog_bytes;
    let snapshot = pipeline.accounting();
    assert!(held(&snapshot) <= BUDGET as u64, "{}", snapshot.to_json());
}

/// Log record 0 with a body of `bytes` characters.
fn log_of(bytes: usize) -> nanotel::proto::logs::v1::LogRecord {
    let mut large = log(0);
    large.body = Some(nanotel::proto::common::v1::AnyValue {
        value: Some(nanotel::proto::common::v1::any_value::Value::StringValue("x".repeat(bytes))),
    });
    large
}

/// A console output that never has room (a reader that stalled).
struct Stalled;

impl std::io::Write for Stalled {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::WouldBlock.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stalled console output holds its batches in the backlog, but leaves the other signals room
/// for their next batch: its queue fills instead (`queue_full`), and the spans still go out.
/// (Until session 40 its backlog took the whole shared budget, as an outage's did before session
/// 39, and the spans, finding no room, stopped forming batches while their collector answered.)
#[test]
fn a_stalled_console_output_leaves_the_other_signals_room_in_the_backlog() {
    const BUDGET: usize = 16 * 1024;
    let collector = TestCollector::start().unwrap();
    let pipeline = builder(&collector)
        .with_compression(nanotel::export::Compression::None)
        .with_backlog_max_bytes(BUDGET)
        .with_exporter(Signal::Logs, nanotel::export::ExporterKind::Console)
        .with_console_output(Stalled)
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let large = log_of(1000);
    for _ in 0..100 {
        handle.send_log(&scope(), large.clone());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(wait_for(|| pipeline.accounting().logs.backlog_bytes > 0), "the console lane holds batches");
    for i in 0..20 {
        handle.send_span(&scope(), span(i));
    }
    assert!(wait_for(|| pipeline.accounting().traces.exported == 20), "{}", pipeline.accounting().to_json());
    assert_eq!(pipeline.accounting().logs.exported, 0, "the console output never had room");
    pipeline.shutdown(Duration::from_millis(100));
}

/// The breaker's probe hangs for 2 s while spans keep coming: all that time the breaker is half
/// open with a request out, the backlog still sheds its oldest waiting batches past the budget
/// (never the probe's), and the probe's batch is accounted like any other. (Before: a half-open
/// lane stopped taking batches only once at the budget, so it held one batch past it until the
/// probe ended; the outage test above caught that under load now and then.)
#[test]
fn a_hanging_probe_keeps_the_backlog_within_its_budget() {
    const BUDGET: usize = 16 * 1024;
    let collector = TestCollector::start().unwrap();
    collector.set_default(Reply::Status { code: 503, retry_after: None, message: "down".into() });
    collector.script(
        Some(Signal::Traces),
        [Reply::Status { code: 503, retry_after: None, message: "down".into() }, Reply::Hang(Duration::from_secs(2))],
    );
    let pipeline = builder(&collector)
        .with_backlog_max_bytes(BUDGET)
        .with_timeout(Duration::from_secs(5))
        .with_breaker(BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() })
        .build()
        .unwrap();
    let mut most_held_probing = None;
    let sent = produce_watching(&pipeline, 8000, Duration::from_millis(2800), |traces| {
        if traces.breaker.state == "half_open" {
            most_held_probing = Some(traces.backlog_bytes.max(most_held_probing.unwrap_or(0)));
        }
    });
    let most_held = most_held_probing.expect("the breaker was seen half open while its probe hung");
    assert!(most_held <= BUDGET as u64, "held {most_held} bytes while probing, budget {BUDGET}");
    collector.set_default(Reply::Accept);
    assert_exported_or_dropped_for(&pipeline, sent, "circuit_open");
}

/// The first request hangs for 2 s, not yet a failure, so the breaker stays closed: the lane
/// takes batches only while the backlog has room for one an eighth larger than its largest, stays
/// within its budget, and the rest waits in the queue (then overflows it, counted as `queue_full`).
/// (Before: it took batches until at the budget and then one more; until session 37 it judged by
/// the largest alone, and a batch a few bytes larger passed the budget, once in a full run.)
#[test]
fn a_slow_collector_with_the_breaker_closed_keeps_the_backlog_within_its_budget() {
    const BUDGET: usize = 16 * 1024;
    let collector = TestCollector::start().unwrap();
    collector.script(Some(Signal::Traces), [Reply::Hang(Duration::from_secs(2))]);
    let pipeline =
        builder(&collector).with_backlog_max_bytes(BUDGET).with_timeout(Duration::from_secs(5)).build().unwrap();
    let mut most_held = 0;
    let sent = produce_watching(&pipeline, 8000, Duration::from_millis(1800), |traces| {
        assert_eq!(traces.breaker.state, "closed", "a hanging request is not a failure until it ends");
        most_held = most_held.max(traces.backlog_bytes);
    });
    assert!(most_held > BUDGET as u64 / 2, "the backlog filled: {most_held} bytes");
    assert!(most_held <= BUDGET as u64, "held {most_held} bytes, budget {BUDGET}");
    assert_exported_or_dropped_for(&pipeline, sent, "queue_full");
}

/// Sends `per_second` spans for `duration` from another thread, showing `look` the traces'
/// accounting every 2 ms meanwhile; how many were sent.
fn produce_watching(
    pipeline: &Pipeline,
    per_second: u64,
    duration: Duration,
    mut look: impl FnMut(&SignalSnapshot),
) -> u64 {
    let handle = pipeline.handle();
    std::thread::scope(|s| {
        let producer = s.spawn(|| produce(&handle, per_second, duration));
        while !producer.is_finished() {
            look(&pipeline.accounting().traces);
            std::thread::sleep(Duration::from_millis(2));
        }
        producer.join().unwrap()
    })
}

/// Once nothing is queued: each of the `sent` spans was exported or dropped, some for `reason`.
fn assert_exported_or_dropped_for(pipeline: &Pipeline, sent: u64, reason: &str) {
    assert!(wait_for(|| pipeline.accounting().traces.queued == 0), "{}", pipeline.accounting().to_json());
    let snapshot = pipeline.accounting();
    assert!(snapshot.traces.dropped.get(reason).is_some_and(|n| *n > 0), "{}", snapshot.to_json());
    assert_eq!(snapshot.traces.exported + snapshot.traces.dropped_total(), sent, "{}", snapshot.to_json());
    assert_identity(&snapshot);
}

/// Shutdown against a collector that is down (a closed port) returns at once: the open breaker
/// probes immediately, the probe fails, and nothing else could be sent before the deadline, so
/// what is left is counted as dropped at shutdown. (Before: shutdown sat out its whole deadline.)
#[test]
fn shutdown_with_the_collector_down_returns_without_waiting_for_its_deadline() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint(format!("http://127.0.0.1:{closed_port}"))
        .with_poll_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let handle = pipeline.handle();
    for i in 0..100 {
        handle.send_span(&scope(), span(i));
    }
    assert!(pipeline.force_flush(Duration::from_millis(100)).is_err());
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let report = pipeline.shutdown(Duration::from_secs(10));
    // Well under the 10 s deadline (and the half of it its first rounds may take).
    assert!(started.elapsed() < Duration::from_secs(4), "shutdown took {:?}", started.elapsed());
    assert_eq!(report.accounting.traces.dropped_total(), 100, "{}", report.accounting.to_json());
    assert_identity(&report.accounting);
}

/// A batch whose retries run out while shutdown waits, well before its deadline, is counted as
/// `retries_exhausted`, not `shutdown`: the reason is the limit it met. (Until session 41 any
/// batch given up while shutdown ran was counted `shutdown`.)
#[test]
fn retries_that_run_out_during_shutdown_are_counted_as_exhausted() {
    let collector = TestCollector::start().unwrap();
    let down = Reply::Status { code: 503, retry_after: None, message: "down".into() };
    collector.script(Some(Signal::Traces), (0..10).map(|_| down.clone()));
    let retry = RetryPolicy { max_attempts: 2, initial_backoff: Duration::from_millis(10), ..RetryPolicy::default() };
    let pipeline = builder(&collector).with_retry(retry).build().unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    let report = pipeline.shutdown(Duration::from_secs(5));
    let traces = &report.accounting.traces;
    assert_eq!(collector.request_count(Signal::Traces), 2);
    assert_eq!(traces.dropped.get("retries_exhausted"), Some(&1), "{}", report.accounting.to_json());
    assert_identity(&report.accounting);
}

/// With retries disabled (`max_attempts: 1`), a `Retry-After` does not bring the batch back: it is
/// dropped as `retries_exhausted` after its one attempt. (Until session 41 a collector pacing every
/// attempt had it sent again and again, for as long as it paced.)
#[test]
fn retries_disabled_are_not_brought_back_by_retry_after() {
    let collector = TestCollector::start().unwrap();
    // A pause of a second: one shorter than the first backoff asks for none (see above).
    let paced = Reply::Status { code: 429, retry_after: Some("1".into()), message: "slow down".into() };
    collector.script(Some(Signal::Traces), (0..2).map(|_| paced.clone()));
    let retry = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    let pipeline = builder(&collector).with_retry(retry).build().unwrap();
    pipeline.handle().send_span(&scope(), span(0));
    assert!(wait_for(|| pipeline.accounting().traces.dropped_total() == 1), "{}", pipeline.accounting().to_json());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(collector.request_count(Signal::Traces), 1);
    let report = pipeline.shutdown(Duration::from_secs(1));
    assert_eq!(report.accounting.traces.dropped.get("retries_exhausted"), Some(&1), "{}", report.accounting.to_json());
    // The pause is not a failure: the breaker did not hear of it.
    assert_eq!(report.accounting.traces.breaker.consecutive_failures, 0, "{}", report.accounting.to_json());
}
