//! The provider's filters: minimum severity, and trace-based (records of spans not sampled).

use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Context, Sampler, TracerProvider};

fn bodies(provider: &LoggerProvider) -> Vec<String> {
    let mut bodies = Vec::new();
    provider.drain(usize::MAX, |_, record| bodies.push(format!("{:?}", record.body.and_then(|b| b.value))));
    bodies
}

#[test]
fn records_below_the_minimum_severity_are_not_kept() {
    let provider = LoggerProvider::builder().without_env().with_minimum_severity(Severity::Warn).build();
    let logger = provider.logger("filters");
    assert!(!logger.enabled(Severity::Info4) && logger.enabled(Severity::Warn) && logger.enabled(Severity::Fatal));
    logger.emit(Severity::Info4, "dropped", &[]);
    logger.record(Severity::Debug).body("dropped").emit();
    logger.emit(Severity::Warn, "kept", &[]);
    logger.record(Severity::Error).body("kept too").emit();
    assert_eq!(bodies(&provider), [r#"Some(StringValue("kept"))"#, r#"Some(StringValue("kept too"))"#]);
}

#[test]
fn trace_based_providers_drop_the_records_of_spans_not_sampled() {
    let sampled = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let unsampled = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOff).build();
    let (sampled, unsampled) = (sampled.tracer("filters"), unsampled.tracer("filters"));
    let trace_based = LoggerProvider::builder().without_env().with_trace_based(true).build();
    let every = LoggerProvider::builder().without_env().build();
    assert!(trace_based.is_trace_based() && !every.is_trace_based());
    for provider in [&trace_based, &every] {
        let logger = provider.logger("filters");
        logger.emit(Severity::Info, "no span", &[]);
        let kept = sampled.span("kept").start();
        let refused = unsampled.span("refused").start();
        assert!(refused.context().is_valid() && !refused.context().is_sampled());
        {
            let _entered = kept.enter();
            logger.emit(Severity::Info, "sampled span", &[]);
        }
        {
            let _entered = refused.enter();
            logger.emit(Severity::Info, "span not sampled", &[]);
        }
        let context = Context::from_span_context(refused.context().clone());
        logger.record(Severity::Info).body("explicit, not sampled").context(&context).emit();
    }
    assert_eq!(bodies(&trace_based), [r#"Some(StringValue("no span"))"#, r#"Some(StringValue("sampled span"))"#]);
    assert_eq!(bodies(&every).len(), 4);
}

/// With `OTEL_LOGS_EXPORTER=none` the telemetry's loggers keep nothing: `enabled` says so (the
/// bridges then make no record), and the provider is the disabled one, which allocates no buffer
/// (until session 41 each emitting thread took its 536 KiB of buffer and every record was made,
/// then refused).
#[test]
fn loggers_keep_nothing_when_logs_are_not_exported() {
    let lookup = |name: &str| name.ends_with("_EXPORTER").then(|| "none".to_owned());
    let telemetry = nanotel::builder().with_env_lookup(lookup).build().unwrap();
    assert!(!telemetry.logger("filters").enabled(Severity::Fatal));
    assert!(!telemetry.logger_provider().is_enabled());
    // Records emitted all the same are kept nowhere.
    let logger = telemetry.logger("filters");
    for _ in 0..10 {
        logger.emit(Severity::Fatal, "kept nowhere", &[]);
    }
    assert_eq!(telemetry.logger_provider().drain(usize::MAX, |_, _| panic!("a record was kept")), 0);
    telemetry.shutdown(std::time::Duration::from_secs(1));
}
