//! The `log` bridge: `log` macros become log records with the right severity, body, target,
//! source location, key-values and span. One test, since a process has one `log` logger.

use std::collections::HashMap;

use nanotel::logs::{LogBridge, LoggerProvider, Severity};
use nanotel::proto::common::v1::{any_value::Value as Any, AnyValue};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::trace::{Sampler, TracerProvider};

/// A value whose `Display` writes part of itself, then fails: `to_string` panics on it (inside
/// the program's log call, until session 39); the record keeps what it wrote.
struct Failing;

impl std::fmt::Display for Failing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("half")?;
        Err(std::fmt::Error)
    }
}

fn any(value: &Option<AnyValue>) -> &Any {
    value.as_ref().and_then(|v| v.value.as_ref()).expect("a value")
}

fn attributes(record: &LogRecord) -> HashMap<&str, &Any> {
    record.attributes.iter().map(|kv| (kv.key.as_str(), any(&kv.value))).collect()
}

#[test]
fn log_macros_become_log_records() {
    let provider = LoggerProvider::builder().without_env().build();
    LogBridge::new(provider.logger_with_version("log", "0.4")).install(log::LevelFilter::Info).unwrap();
    assert!(LogBridge::new(provider.logger("again")).install(log::LevelFilter::Trace).is_err(), "one per process");
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = tracers.tracer("app");
    let span = tracer.span("order").start();

    let line = line!() + 3;
    {
        let _entered = span.enter();
        log::info!(order_id = 42, venue = "XNAS", price = 187.25, ioc = true, big = u64::MAX, why:% = std::io::Error::other("closed"); "order {} accepted", 7);
    }
    log::warn!(target: "venue", "disconnected");
    log::error!(why:% = Failing; "rejected: {Failing}");
    log::debug!("below the level");
    assert!(!log::log_enabled!(log::Level::Debug));
    // A record whose file is borrowed, not static, as `tracing`'s `log` feature makes them.
    let file = String::from("src/venue.rs");
    log::logger().log(
        &log::Record::builder()
            .args(format_args!("built"))
            .level(log::Level::Info)
            .target("venue")
            .file(Some(&file))
            .line(Some(3))
            .build(),
    );

    let mut records = Vec::new();
    provider.drain(usize::MAX, |scope, record| {
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("log", "0.4"));
        records.push(record);
    });
    assert_eq!(records.len(), 4);

    let info = &records[0];
    assert_eq!((info.severity_number, info.severity_text.as_str()), (Severity::Info.number(), "INFO"));
    assert_eq!(any(&info.body), &Any::StringValue("order 7 accepted".into()));
    assert_eq!(info.trace_id, span.context().trace_id().to_bytes());
    assert_eq!(info.span_id, span.context().span_id().to_bytes());
    assert_eq!(info.flags, 1);
    assert!(info.observed_time_unix_nano > 0);
    let info = attributes(info);
    assert_eq!(info["log.target"], &Any::StringValue(module_path!().into()));
    assert_eq!(info["code.file.path"], &Any::StringValue(file!().into()));
    assert_eq!(info["code.line.number"], &Any::IntValue(i64::from(line)));
    assert_eq!(info["order_id"], &Any::IntValue(42));
    assert_eq!(info["venue"], &Any::StringValue("XNAS".into()));
    assert_eq!(info["price"], &Any::DoubleValue(187.25));
    assert_eq!(info["ioc"], &Any::BoolValue(true));
    assert_eq!(info["big"], &Any::StringValue(u64::MAX.to_string()));
    assert_eq!(info["why"], &Any::StringValue("closed".into()));

    let warn = &records[1];
    assert_eq!((warn.severity_number, warn.severity_text.as_str()), (Severity::Warn.number(), "WARN"));
    assert_eq!(any(&warn.body), &Any::StringValue("disconnected".into()));
    assert_eq!(attributes(warn)["log.target"], &Any::StringValue("venue".into()));
    assert!(warn.trace_id.is_empty(), "no span was current");

    let error = &records[2];
    assert_eq!((error.severity_number, error.severity_text.as_str()), (Severity::Error.number(), "ERROR"));
    assert_eq!(any(&error.body), &Any::StringValue("rejected: half".into()));
    assert_eq!(attributes(error)["why"], &Any::StringValue("half".into()));

    let built = attributes(&records[3]);
    assert_eq!(built["code.file.path"], &Any::StringValue("src/venue.rs".into()));
    assert_eq!(built["code.line.number"], &Any::IntValue(3));
}
