//! Full buffers and full queues: every record emitted is exported or counted as dropped, exactly,
//! with several threads emitting while the exporter thread (or a program's own drain) takes them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{BatchConfig, Pipeline};
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::proto::common::v1::any_value::Value as Any;
use nanotel::Signal;
use nanotel_testing::TestCollector;

#[path = "support/console.rs"]
mod console;
use console::pipeline_to_a_discarded_console;

const WAIT: Duration = Duration::from_secs(10);

/// Emits `count` records on each of `threads` new threads, each numbered by the `thread` and `seq`
/// attributes.
fn emit_on_threads(provider: &LoggerProvider, threads: i64, count: i64) {
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let logger = provider.logger("stress");
            std::thread::spawn(move || {
                for seq in 0..count {
                    logger.emit(Severity::Info, "tick", &[KeyValue::new("thread", thread), KeyValue::new("seq", seq)]);
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|handle| handle.join().unwrap());
}

#[test]
fn full_buffers_and_a_full_queue_count_as_queue_full() {
    let collector = TestCollector::start().unwrap();
    let batch = BatchConfig { max_queue_size: 16, max_export_batch_size: 16, ..BatchConfig::defaults(Signal::Logs) };
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_batch(Signal::Logs, batch)
        // The exporter thread takes the records mostly at the flush below.
        .with_poll_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let provider = LoggerProvider::builder().without_env().with_buffer_capacity(32).build();
    provider.attach(&pipeline);
    // The exporter thread's first pass may come while the records are emitted: finding the buffers
    // filling, it drains again within milliseconds, several times (CI once exported 69). Flushed
    // first, with nothing to send, it then waits for the poll interval or the next flush.
    pipeline.force_flush(WAIT).unwrap();
    emit_on_threads(&provider, 2, 100);
    pipeline.force_flush(WAIT).unwrap();
    let logs = pipeline.shutdown(WAIT).accounting.logs;
    // At most 2 × 32 reached the buffers, and the flush's drains (each queueing at most 16, the
    // queue's room, then sending them) took them.
    assert_eq!((logs.enqueued, logs.queued), (200, 0));
    assert!(logs.exported >= 16 && logs.exported <= 64, "{}", logs.exported);
    assert_eq!(logs.dropped["queue_full"], 200 - logs.exported);
    assert_eq!(logs.enqueued, logs.exported + logs.dropped.values().sum::<u64>() + logs.queued);
    assert_eq!(collector.accepted_items(Signal::Logs), logs.exported);
}

#[test]
fn threads_emitting_while_the_exporter_drains_lose_nothing_uncounted() {
    let pipeline = pipeline_to_a_discarded_console(Signal::Logs);
    let provider = LoggerProvider::builder().without_env().with_buffer_capacity(64).build();
    provider.attach(&pipeline);
    emit_on_threads(&provider, 4, 20_000);
    pipeline.force_flush(WAIT).unwrap();
    let logs = pipeline.shutdown(WAIT).accounting.logs;
    assert_eq!(logs.enqueued, 80_000, "every record reached the pipeline or was counted");
    assert_eq!(logs.enqueued, logs.exported + logs.dropped.values().sum::<u64>());
    assert_eq!(logs.queued, 0);
    assert!(logs.exported > 0);
}

#[test]
fn a_concurrent_drain_gets_each_threads_records_in_order_and_counts_the_rest() {
    const THREADS: i64 = 4;
    const COUNT: i64 = 50_000;
    let provider = LoggerProvider::builder().without_env().with_buffer_capacity(128).build();
    let done = Arc::new(AtomicBool::new(false));
    let drainer = {
        let (provider, done) = (provider.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last_seq = vec![-1i64; THREADS as usize];
            let (mut kept, mut dropped) = (0u64, 0u64);
            let mut take = |kept: &mut u64| {
                provider.drain(usize::MAX, |_, record| {
                    let int = |i: usize| match record.attributes[i].value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Any::IntValue(n)) => *n,
                        other => panic!("an integer, not {other:?}"),
                    };
                    let (thread, seq) = (int(0) as usize, int(1));
                    assert!(seq > last_seq[thread], "thread {thread}: {seq} after {}", last_seq[thread]);
                    last_seq[thread] = seq;
                    *kept += 1;
                })
            };
            // Acquire pairs with the Release store below: the emitters have all finished.
            while !done.load(Ordering::Acquire) {
                dropped += take(&mut kept);
            }
            dropped += take(&mut kept);
            (kept, dropped)
        })
    };
    emit_on_threads(&provider, THREADS, COUNT);
    // Release: see the drainer's Acquire load.
    done.store(true, Ordering::Release);
    let (kept, dropped) = drainer.join().unwrap();
    assert_eq!(kept + dropped, (THREADS * COUNT) as u64);
    assert!(kept > 0);
}
