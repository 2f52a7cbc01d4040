//! Small OTLP items for the pipeline tests: a scope, numbered spans and log records.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::sync::Arc;

use nanotel::proto::common::v1::{any_value, AnyValue, InstrumentationScope};
use nanotel::proto::logs::v1::LogRecord;
use nanotel::proto::trace::v1::Span;

/// The scope `gateway`.
pub(crate) fn scope() -> nanotel::export::Scope {
    Arc::new(InstrumentationScope { name: "gateway".into(), ..Default::default() })
}

/// Span `order-{i}`, with span id `i + 1` in one fixed trace.
pub(crate) fn span(i: u64) -> Span {
    Span {
        trace_id: [7; 16].to_vec(),
        span_id: (i + 1).to_be_bytes().to_vec(),
        name: format!("order-{i}"),
        ..Default::default()
    }
}

/// A log record with the body `filled {i}`.
pub(crate) fn log(i: u64) -> LogRecord {
    LogRecord {
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("filled {i}"))) }),
        ..Default::default()
    }
}
