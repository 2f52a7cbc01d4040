//! What a log record costs on the thread that emits it, beside the cost of reading the clock.
//!
//! - `limit/instant_pair`: two `std::time::Instant::now()` calls, the floor the other signals'
//!   figures are held to (a record itself reads the clock once).
//! - `nanotel/clock_pair`: two reads of nanotel's clock (`nanotel::clock::now_unix_nanos`).
//! - `nanotel/emit_paced`: `Logger::emit` with a static body and 2 attributes, in bursts of 256, the
//!   buffer drained (untimed) between bursts, so every record is stored: the path when the exporter
//!   keeps up.
//! - `nanotel/builder_paced`: the same record through the builder, with an event name.
//! - `nanotel/emit_full`: `Logger::emit` into a buffer that is full and never drained: the record
//!   is dropped and counted (the overload path).
//! - `nanotel/emit_filtered`: a record below the provider's minimum severity.
//! - `opentelemetry_sdk/emit`: the same record with the official SDK (0.33): a batch log processor
//!   feeding an exporter that does nothing.
//!
//! Goals: `emit_paced` and `builder_paced` ≤ 1.0 × `limit/instant_pair` and ≥ 5× faster than the
//! SDK; `emit_filtered` ≤ 0.1 × `limit/instant_pair`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry_sdk::logs::SdkLoggerProvider;

use nanotel::attributes::KeyValue;
use nanotel::logs::{Logger, LoggerProvider, Severity, DEFAULT_BUFFER_CAPACITY};

#[path = "support/sdk_sinks.rs"]
mod sdk_sinks;
#[path = "support/signal.rs"]
mod signal;
use sdk_sinks::NoopLogs;

use signal::{clock_floors, paced};

/// Drains `provider`, dropping the records; returns how many it dropped for a full buffer.
fn drain(provider: &LoggerProvider) -> u64 {
    provider.drain(usize::MAX, |_, record| drop(black_box(record)))
}

#[inline(always)]
fn emit(logger: &Logger, attributes: &[KeyValue; 2]) {
    logger.emit(Severity::Info, "order accepted", black_box(attributes));
}

fn logs(c: &mut Criterion) {
    let mut group = c.benchmark_group("logs");

    clock_floors(&mut group);

    let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("order.qty", 100)];
    let provider = LoggerProvider::builder().without_env().build();
    let logger = provider.logger("bench");
    group.bench_function("nanotel/emit_paced", |b| {
        b.iter_custom(|iterations| paced(iterations, || emit(&logger, &attributes), || drain(&provider)))
    });
    group.bench_function("nanotel/builder_paced", |b| {
        b.iter_custom(|iterations| {
            let record = || {
                logger
                    .record(Severity::Info)
                    .body("order accepted")
                    .event_name("order.accepted")
                    .attribute(KeyValue::new("venue", "XNAS"))
                    .attribute(KeyValue::new("order.qty", 100))
                    .emit()
            };
            paced(iterations, record, || drain(&provider))
        })
    });

    // Never drained: after its first 1024 records the buffer stays full.
    let full = LoggerProvider::builder().without_env().build();
    let full_logger = full.logger("bench");
    (0..DEFAULT_BUFFER_CAPACITY).for_each(|_| emit(&full_logger, &attributes));
    group.bench_function("nanotel/emit_full", |b| b.iter(|| emit(&full_logger, &attributes)));

    let filtering = LoggerProvider::builder().without_env().with_minimum_severity(Severity::Warn).build();
    let filtering_logger = filtering.logger("bench");
    group.bench_function("nanotel/emit_filtered", |b| b.iter(|| emit(&filtering_logger, &attributes)));

    let sdk = SdkLoggerProvider::builder().with_batch_exporter(NoopLogs).build();
    let sdk_logger = sdk.logger("bench");
    group.bench_function("opentelemetry_sdk/emit", |b| {
        b.iter(|| {
            let mut record = sdk_logger.create_log_record();
            record.set_severity_number(opentelemetry::logs::Severity::Info);
            record.set_severity_text("INFO");
            record.set_body("order accepted".into());
            record.add_attribute("venue", "XNAS");
            record.add_attribute("order.qty", 100);
            sdk_logger.emit(record);
        })
    });

    group.finish();
    let _ = sdk.shutdown();
    let mut stored = 0;
    let dropped = full.drain(usize::MAX, |_, _| stored += 1);
    assert!(stored == DEFAULT_BUFFER_CAPACITY && dropped > 0, "emit_full took the full-buffer path");
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = logs
}
criterion_main!(benches);
