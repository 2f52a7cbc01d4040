//! Fully populated export requests and responses built with our generated types.
//!
//! Every field of every message the pinned Python package knows is set to a non-default value
//! somewhere in each request (the Python side checks that and names any it finds missing), together
//! with the edge values a mapping tends to get wrong: extreme and negative integers, integers a
//! double cannot hold, NaN, ±infinity and -0.0, empty strings, bytes and containers inside oneofs
//! (present, so encoded, although empty), the empty `AnyValue`, and all-bits-set flags.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use nanotel::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use nanotel::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nanotel::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use nanotel::proto::common::v1::any_value::Value;
use nanotel::proto::common::v1::{AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList};
use nanotel::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use nanotel::proto::metrics::v1::exponential_histogram_data_point::Buckets;
use nanotel::proto::metrics::v1::summary_data_point::ValueAtQuantile;
use nanotel::proto::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use nanotel::proto::resource::v1::Resource;
use nanotel::proto::trace::v1::span::{Event, Link, SpanKind};
use nanotel::proto::trace::v1::status::StatusCode;
use nanotel::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

const TRACE_ID: [u8; 16] =
    [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
const SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const PARENT_ID: [u8; 8] = [0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88];
const NOW: u64 = 1_712_345_678_901_234_567;

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(any(value)), ..Default::default() }
}

fn string(text: &str) -> Value {
    Value::StringValue(text.into())
}

/// Every `AnyValue` shape, each under its own key.
pub(crate) fn all_values() -> Vec<KeyValue> {
    let nested = KeyValueList {
        values: vec![
            kv("inner", Value::KvlistValue(KeyValueList { values: vec![kv("deep", Value::BoolValue(true))] })),
            kv("list", Value::ArrayValue(ArrayValue { values: vec![any(Value::IntValue(-7)), AnyValue::default()] })),
        ],
    };
    vec![
        kv("string", string("héllo ✓ \"quoted\" \\ \n\t\u{0} \u{1F600}")),
        kv("string.empty", string("")),
        kv("bool.true", Value::BoolValue(true)),
        kv("bool.false", Value::BoolValue(false)),
        kv("int.zero", Value::IntValue(0)),
        kv("int.negative", Value::IntValue(-42)),
        kv("int.min", Value::IntValue(i64::MIN)),
        kv("int.max", Value::IntValue(i64::MAX)),
        // 2^53 + 1: lost if any layer carries 64-bit integers as JSON numbers (doubles).
        kv("int.beyond_double", Value::IntValue(9_007_199_254_740_993)),
        kv("double", Value::DoubleValue(std::f64::consts::PI)),
        kv("double.zero", Value::DoubleValue(0.0)),
        kv("double.negative_zero", Value::DoubleValue(-0.0)),
        kv("double.subnormal", Value::DoubleValue(5e-324)),
        kv("double.max", Value::DoubleValue(f64::MAX)),
        kv("double.integral", Value::DoubleValue(1e21)),
        kv("double.nan", Value::DoubleValue(f64::NAN)),
        kv("double.inf", Value::DoubleValue(f64::INFINITY)),
        kv("double.neg_inf", Value::DoubleValue(f64::NEG_INFINITY)),
        // Lengths 1, 2 and 3 mod 3 exercise each base64 padding case.
        kv("bytes", Value::BytesValue(vec![0x00, 0xff, 0x10, 0x80, 0x7f, 0xfe, 0xfb])),
        kv("bytes.two", Value::BytesValue(vec![0xfb, 0xff])),
        kv("bytes.three", Value::BytesValue(vec![0x3e, 0x3f, 0xff])),
        kv("bytes.empty", Value::BytesValue(Vec::new())),
        kv(
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    any(string("a")),
                    any(Value::IntValue(i64::MIN)),
                    any(Value::DoubleValue(-1.5)),
                    any(Value::BoolValue(false)),
                    any(Value::BytesValue(vec![1, 2, 3, 4])),
                    any(Value::ArrayValue(ArrayValue { values: vec![any(Value::ArrayValue(ArrayValue::default()))] })),
                    any(Value::KvlistValue(nested.clone())),
                    AnyValue::default(),
                ],
            }),
        ),
        kv("array.empty", Value::ArrayValue(ArrayValue::default())),
        kv("kvlist", Value::KvlistValue(nested)),
        kv("kvlist.empty", Value::KvlistValue(KeyValueList::default())),
        KeyValue { key: "empty".into(), value: Some(AnyValue::default()), ..Default::default() },
        KeyValue { key: "absent".into(), value: None, ..Default::default() },
        // Profiles-only string-table references: no key text, per the schema's rule.
        KeyValue { key: String::new(), value: Some(any(Value::StringValueStrindex(12))), key_strindex: 3 },
    ]
}

fn bodies() -> Vec<AnyValue> {
    all_values().into_iter().filter_map(|attribute| attribute.value).collect()
}

fn resource() -> Resource {
    let mut attributes = vec![kv("service.name", string("nanotel-conformance"))];
    attributes.extend(all_values());
    Resource {
        attributes,
        dropped_attributes_count: 4_000_000_000,
        entity_refs: vec![
            EntityRef {
                schema_url: "https://opentelemetry.io/schemas/1.37.0".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into(), "service.namespace".into()],
                description_keys: vec!["service.version".into(), String::new()],
            },
            EntityRef::default(),
        ],
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "nanotel.conformance".into(),
        version: "0.1.0-alpha+build.5".into(),
        attributes: vec![kv("scope.attribute", Value::DoubleValue(0.25))],
        dropped_attributes_count: u32::MAX,
    }
}

fn span(kind: SpanKind, code: StatusCode, index: u8) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: [index; 8].to_vec(),
        trace_state: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
        parent_span_id: if index.is_multiple_of(2) { PARENT_ID.to_vec() } else { Vec::new() },
        // Sampled, remoteness known and remote; one span sets every bit, which readers must
        // carry through even though producers leave bits 10-31 clear.
        flags: if index == 0 { u32::MAX } else { 0x301 },
        name: format!("span {index}"),
        kind: kind as i32,
        start_time_unix_nano: NOW,
        end_time_unix_nano: if index == 1 { u64::MAX } else { NOW + 1_000 },
        attributes: all_values(),
        dropped_attributes_count: u32::from(index) + 1,
        events: vec![
            Event {
                time_unix_nano: NOW + 10,
                name: "exception".into(),
                attributes: vec![
                    kv("exception.type", string("io::Error")),
                    kv("exception.message", string("connection reset")),
                ],
                dropped_attributes_count: 2,
            },
            Event::default(),
        ],
        dropped_events_count: 3,
        links: vec![
            Link {
                trace_id: [0x11; 16].to_vec(),
                span_id: SPAN_ID.to_vec(),
                trace_state: "vendor=value".into(),
                attributes: vec![kv("link.attribute", Value::IntValue(1))],
                dropped_attributes_count: 6,
                flags: 0x101,
            },
            Link::default(),
        ],
        dropped_links_count: 7,
        status: Some(Status {
            message: if code == StatusCode::Error { "deadline exceeded".into() } else { String::new() },
            code: code as i32,
        }),
    }
}

/// Spans of every kind and status code, plus an all-default span and empty wrappers.
pub(crate) fn trace_request() -> ExportTraceServiceRequest {
    let kinds = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    let codes = [StatusCode::Unset, StatusCode::Ok, StatusCode::Error];
    let mut spans: Vec<Span> = kinds
        .iter()
        .zip(codes.iter().cycle())
        .zip(0u8..)
        .map(|((&kind, &code), index)| span(kind, code, index))
        .collect();
    spans.push(Span { status: Some(Status::default()), ..Default::default() });
    spans.push(Span::default());
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(resource()),
                scope_spans: vec![
                    ScopeSpans {
                        scope: Some(scope()),
                        spans,
                        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                    },
                    ScopeSpans::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.25.0".into(),
            },
            ResourceSpans { resource: Some(Resource::default()), ..Default::default() },
        ],
    }
}

fn exemplars() -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: vec![kv("user.id", string("u-17")), kv("retry", Value::BoolValue(true))],
            time_unix_nano: NOW - 5,
            span_id: SPAN_ID.to_vec(),
            trace_id: TRACE_ID.to_vec(),
            value: Some(exemplar::Value::AsDouble(f64::NAN)),
        },
        Exemplar { time_unix_nano: 1, value: Some(exemplar::Value::AsInt(i64::MIN)), ..Default::default() },
        Exemplar { value: Some(exemplar::Value::AsInt(0)), ..Default::default() },
        Exemplar { value: Some(exemplar::Value::AsDouble(0.0)), ..Default::default() },
        Exemplar::default(),
    ]
}

fn number_points(values: Vec<number_data_point::Value>) -> Vec<NumberDataPoint> {
    values
        .into_iter()
        .zip(0u64..)
        .map(|(value, index)| NumberDataPoint {
            attributes: vec![kv("point", Value::IntValue(index as i64))],
            start_time_unix_nano: NOW - 60_000_000_000,
            time_unix_nano: NOW + index,
            value: Some(value),
            exemplars: if index == 0 { exemplars() } else { Vec::new() },
            // The staleness marker, plus the reserved bits, which must survive unchanged.
            flags: if index == 0 {
                1
            } else if index == 1 {
                u32::MAX
            } else {
                0
            },
        })
        .chain(std::iter::once(NumberDataPoint { time_unix_nano: NOW, ..Default::default() }))
        .collect()
}

fn ints() -> Vec<number_data_point::Value> {
    use number_data_point::Value::AsInt;
    vec![AsInt(-5), AsInt(0), AsInt(i64::MIN), AsInt(i64::MAX)]
}

fn doubles() -> Vec<number_data_point::Value> {
    use number_data_point::Value::AsDouble;
    vec![
        AsDouble(12.5),
        AsDouble(f64::NAN),
        AsDouble(0.0),
        AsDouble(-0.0),
        AsDouble(f64::INFINITY),
        AsDouble(f64::NEG_INFINITY),
        AsDouble(f64::MIN_POSITIVE),
    ]
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name}, for the conformance test"),
        unit: unit.into(),
        data: Some(data),
        metadata: Vec::new(),
    }
}

/// Every metric data type, both temporalities and monotonicities, optional fields set and unset.
#[expect(clippy::too_many_lines, reason = "one fixture building one message, field by field")]
pub(crate) fn metrics_request() -> ExportMetricsServiceRequest {
    let delta = AggregationTemporality::Delta as i32;
    let cumulative = AggregationTemporality::Cumulative as i32;
    let mut gauge_int =
        metric("gauge.int", "{item}", metric::Data::Gauge(Gauge { data_points: number_points(ints()) }));
    gauge_int.metadata = vec![kv("prometheus.type", string("gauge")), kv("weight", Value::IntValue(-1))];
    let metrics = vec![
        gauge_int,
        metric("gauge.double", "1", metric::Data::Gauge(Gauge { data_points: number_points(doubles()) })),
        metric(
            "sum.delta.monotonic",
            "By",
            metric::Data::Sum(Sum {
                data_points: number_points(ints()),
                aggregation_temporality: delta,
                is_monotonic: true,
            }),
        ),
        metric(
            "sum.cumulative.monotonic",
            "s",
            metric::Data::Sum(Sum {
                data_points: number_points(doubles()),
                aggregation_temporality: cumulative,
                is_monotonic: true,
            }),
        ),
        metric(
            "sum.cumulative.updown",
            "{connection}",
            metric::Data::Sum(Sum {
                data_points: number_points(ints()),
                aggregation_temporality: cumulative,
                is_monotonic: false,
            }),
        ),
        metric(
            "sum.delta.updown",
            "",
            metric::Data::Sum(Sum {
                data_points: number_points(doubles()),
                aggregation_temporality: delta,
                is_monotonic: false,
            }),
        ),
        metric(
            "histogram.delta",
            "ms",
            metric::Data::Histogram(Histogram {
                aggregation_temporality: delta,
                data_points: vec![
                    HistogramDataPoint {
                        attributes: all_values(),
                        start_time_unix_nano: NOW - 1,
                        time_unix_nano: NOW,
                        count: 12,
                        sum: Some(-3.75),
                        bucket_counts: vec![1, 0, 10, 1],
                        explicit_bounds: vec![-10.0, 0.0, 2.5e-3],
                        exemplars: exemplars(),
                        flags: 1,
                        min: Some(f64::NEG_INFINITY),
                        max: Some(1e300),
                    },
                    // Optional sum/min/max present at zero, which proto3 `optional` keeps.
                    HistogramDataPoint {
                        time_unix_nano: NOW,
                        sum: Some(0.0),
                        min: Some(0.0),
                        max: Some(-0.0),
                        bucket_counts: vec![0],
                        ..Default::default()
                    },
                    // Optional fields absent and no buckets at all.
                    HistogramDataPoint { time_unix_nano: NOW, count: 3, ..Default::default() },
                ],
            }),
        ),
        metric(
            "histogram.cumulative",
            "By",
            metric::Data::Histogram(Histogram {
                aggregation_temporality: cumulative,
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: NOW,
                    count: u64::MAX,
                    sum: Some(f64::NAN),
                    bucket_counts: vec![u64::MAX, 0],
                    explicit_bounds: vec![1e-300],
                    ..Default::default()
                }],
            }),
        ),
        metric(
            "exponential.cumulative",
            "s",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                aggregation_temporality: cumulative,
                data_points: vec![
                    ExponentialHistogramDataPoint {
                        attributes: vec![kv("route", string("/v1/traces"))],
                        start_time_unix_nano: NOW - 10,
                        time_unix_nano: NOW,
                        count: 26,
                        sum: Some(1234.5),
                        scale: -3,
                        zero_count: 2,
                        positive: Some(Buckets { offset: -4, bucket_counts: vec![3, 0, 1, u64::MAX] }),
                        negative: Some(Buckets { offset: i32::MAX, bucket_counts: vec![1] }),
                        flags: 1,
                        exemplars: exemplars(),
                        min: Some(-8.0),
                        max: Some(300.0),
                        zero_threshold: 1e-9,
                    },
                    ExponentialHistogramDataPoint {
                        time_unix_nano: NOW,
                        scale: 20,
                        positive: Some(Buckets::default()),
                        negative: Some(Buckets { offset: i32::MIN, bucket_counts: Vec::new() }),
                        sum: Some(0.0),
                        zero_threshold: f64::MIN_POSITIVE,
                        ..Default::default()
                    },
                ],
            }),
        ),
        metric(
            "exponential.delta",
            "",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                aggregation_temporality: delta,
                data_points: vec![ExponentialHistogramDataPoint { time_unix_nano: NOW, ..Default::default() }],
            }),
        ),
        metric(
            "summary",
            "s",
            metric::Data::Summary(Summary {
                data_points: vec![
                    SummaryDataPoint {
                        attributes: vec![kv("quantiles", Value::BoolValue(true))],
                        start_time_unix_nano: NOW - 100,
                        time_unix_nano: NOW,
                        count: 1000,
                        sum: 4321.125,
                        quantile_values: vec![
                            ValueAtQuantile { quantile: 0.0, value: 0.001 },
                            ValueAtQuantile { quantile: 0.5, value: 2.0 },
                            ValueAtQuantile { quantile: 0.99, value: 17.25 },
                            ValueAtQuantile { quantile: 1.0, value: f64::INFINITY },
                        ],
                        flags: 1,
                    },
                    SummaryDataPoint { time_unix_nano: NOW, sum: f64::NAN, ..Default::default() },
                ],
            }),
        ),
        Metric { name: "no.data".into(), ..Default::default() },
        Metric::default(),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![
            ResourceMetrics {
                resource: Some(resource()),
                scope_metrics: vec![
                    ScopeMetrics {
                        scope: Some(scope()),
                        metrics,
                        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                    },
                    ScopeMetrics { scope: Some(InstrumentationScope::default()), ..Default::default() },
                ],
                schema_url: "https://opentelemetry.io/schemas/1.25.0".into(),
            },
            ResourceMetrics::default(),
        ],
    }
}

/// A record for every severity number, bodies of every `AnyValue` shape.
pub(crate) fn logs_request() -> ExportLogsServiceRequest {
    let bodies = bodies();
    let mut records: Vec<LogRecord> = (0..=24)
        .map(|number| {
            let severity = SeverityNumber::try_from(number).unwrap_or(SeverityNumber::Unspecified);
            let index = number as usize;
            LogRecord {
                time_unix_nano: if number == 0 { 0 } else { NOW + index as u64 },
                observed_time_unix_nano: u64::MAX - index as u64,
                severity_number: severity as i32,
                severity_text: severity.as_str_name().trim_start_matches("SEVERITY_NUMBER_").to_owned(),
                body: bodies.get(index % bodies.len()).cloned(),
                attributes: all_values().into_iter().skip(index % 7).collect(),
                dropped_attributes_count: number as u32,
                flags: if number % 2 == 0 { 1 } else { 0xffff_ffff },
                trace_id: if number % 3 == 0 { Vec::new() } else { TRACE_ID.to_vec() },
                span_id: if number % 3 == 0 { Vec::new() } else { SPAN_ID.to_vec() },
                event_name: if number % 4 == 0 { format!("nanotel.event.{number}") } else { String::new() },
            }
        })
        .collect();
    // The body shapes the loop above may not reach, so each is a body at least once.
    records.extend(bodies.into_iter().map(|body| LogRecord { body: Some(body), ..Default::default() }));
    records.push(LogRecord::default());
    ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                resource: Some(resource()),
                scope_logs: vec![
                    ScopeLogs {
                        scope: Some(scope()),
                        log_records: records,
                        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                    },
                    ScopeLogs::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.25.0".into(),
            },
            ResourceLogs::default(),
        ],
    }
}

/// Responses a collector may send: full success, a warning, and partial successes.
pub(crate) fn trace_responses() -> Vec<ExportTraceServiceResponse> {
    vec![
        ExportTraceServiceResponse { partial_success: None },
        ExportTraceServiceResponse { partial_success: Some(ExportTracePartialSuccess::default()) },
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 0,
                error_message: "span names should not contain ids".into(),
            }),
        },
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: i64::MAX,
                error_message: "rejected: trace id is all zeroes".into(),
            }),
        },
    ]
}

/// As [`trace_responses`], for metrics.
pub(crate) fn metrics_responses() -> Vec<ExportMetricsServiceResponse> {
    vec![
        ExportMetricsServiceResponse { partial_success: None },
        ExportMetricsServiceResponse { partial_success: Some(ExportMetricsPartialSuccess::default()) },
        ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 17,
                error_message: "histogram bounds not increasing".into(),
            }),
        },
        // Negative counts are nonsense from a server but must still decode, not fail the export.
        ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: -1,
                error_message: String::new(),
            }),
        },
    ]
}

/// As [`trace_responses`], for logs.
pub(crate) fn logs_responses() -> Vec<ExportLogsServiceResponse> {
    vec![
        ExportLogsServiceResponse { partial_success: None },
        ExportLogsServiceResponse { partial_success: Some(ExportLogsPartialSuccess::default()) },
        ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 1 << 40,
                error_message: "body too large — truncated".into(),
            }),
        },
    ]
}
