//! The OTLP side of the collector: decoding request bodies (gzip, protobuf, JSON) into our
//! generated types, and encoding the bodies of its answers in the request's format.

use std::fmt;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use prost::Message;

use nanotel::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use nanotel::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use nanotel::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use nanotel::proto::google::rpc::Status;
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::Signal;

/// A decoded OTLP export request, one variant per signal.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportRequest {
    /// A `POST /v1/traces` body.
    Traces(ExportTraceServiceRequest),
    /// A `POST /v1/metrics` body.
    Metrics(ExportMetricsServiceRequest),
    /// A `POST /v1/logs` body.
    Logs(ExportLogsServiceRequest),
}

impl ExportRequest {
    /// The signal this request carries.
    #[must_use]
    pub fn signal(&self) -> Signal {
        match self {
            ExportRequest::Traces(_) => Signal::Traces,
            ExportRequest::Metrics(_) => Signal::Metrics,
            ExportRequest::Logs(_) => Signal::Logs,
        }
    }

    /// The number of items in the request, the unit OTLP counts rejections in: spans, metric data
    /// points (of every metric kind) or log records.
    ///
    /// ```
    /// use nanotel::proto::collector::logs::v1::ExportLogsServiceRequest;
    /// use nanotel::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    /// use nanotel_testing::ExportRequest;
    ///
    /// let scope = ScopeLogs { log_records: vec![LogRecord::default(); 3], ..Default::default() };
    /// let resource = ResourceLogs { scope_logs: vec![scope.clone(), scope], ..Default::default() };
    /// let request = ExportLogsServiceRequest { resource_logs: vec![resource] };
    /// assert_eq!(ExportRequest::Logs(request).item_count(), 6);
    /// ```
    #[must_use]
    pub fn item_count(&self) -> u64 {
        let count = match self {
            ExportRequest::Traces(request) => {
                request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum::<usize>()
            }
            ExportRequest::Metrics(request) => request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                })
                .sum::<usize>(),
            ExportRequest::Logs(request) => {
                request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum::<usize>()
            }
        };
        count as u64
    }

    /// The trace request, if this is one.
    #[must_use]
    pub fn as_traces(&self) -> Option<&ExportTraceServiceRequest> {
        match self {
            ExportRequest::Traces(request) => Some(request),
            _ => None,
        }
    }

    /// The metrics request, if this is one.
    #[must_use]
    pub fn as_metrics(&self) -> Option<&ExportMetricsServiceRequest> {
        match self {
            ExportRequest::Metrics(request) => Some(request),
            _ => None,
        }
    }

    /// The logs request, if this is one.
    #[must_use]
    pub fn as_logs(&self) -> Option<&ExportLogsServiceRequest> {
        match self {
            ExportRequest::Logs(request) => Some(request),
            _ => None,
        }
    }
}

/// Why a request body could not be turned into an [`ExportRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The `Content-Type` is neither `application/x-protobuf` nor `application/json` (answered
    /// with 415). Holds the header value, if any.
    UnsupportedContentType(Option<String>),
    /// The `Content-Encoding` is neither absent, `identity` nor `gzip` (answered with 415).
    UnsupportedEncoding(String),
    /// The body claims gzip but does not inflate (answered with 400).
    Gzip(String),
    /// The body inflates past the collector's size limit, in bytes (answered with 413).
    TooLarge(usize),
    /// The body is not a valid protobuf message of the expected type (answered with 400).
    Protobuf(String),
    /// The body is not valid OTLP/JSON for the expected type (answered with 400).
    Json(String),
}

impl DecodeError {
    /// The HTTP status the collector answers this error with.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            DecodeError::UnsupportedContentType(_) | DecodeError::UnsupportedEncoding(_) => 415,
            DecodeError::TooLarge(_) => 413,
            DecodeError::Gzip(_) | DecodeError::Protobuf(_) | DecodeError::Json(_) => 400,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnsupportedContentType(Some(value)) => {
                write!(f, "unsupported Content-Type {value:?}")
            }
            DecodeError::UnsupportedContentType(None) => f.write_str("missing Content-Type"),
            DecodeError::UnsupportedEncoding(value) => {
                write!(f, "unsupported Content-Encoding {value:?}")
            }
            DecodeError::Gzip(error) => write!(f, "invalid gzip body: {error}"),
            DecodeError::TooLarge(limit) => write!(f, "decompressed body exceeds {limit} bytes"),
            DecodeError::Protobuf(error) => write!(f, "invalid protobuf body: {error}"),
            DecodeError::Json(error) => write!(f, "invalid OTLP/JSON body: {error}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The two OTLP/HTTP body encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// The format a `Content-Type` value names, ignoring parameters and case. Strict on purpose:
    /// a test collector that accepted `application/protobuf` would hide an exporter bug.
    pub(super) fn of(content_type: Option<&str>) -> Option<Format> {
        let media_type = content_type?.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::Protobuf)
        } else if media_type.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of a body in this format.
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// Undoes the `Content-Encoding`, never producing more than `limit` bytes.
fn inflate(encoding: Option<&str>, body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let encoding = encoding.map(str::trim).unwrap_or_default();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        return if body.len() > limit { Err(DecodeError::TooLarge(limit)) } else { Ok(body.to_vec()) };
    }
    if !(encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip")) {
        return Err(DecodeError::UnsupportedEncoding(encoding.to_owned()));
    }
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it" without inflating a
    // gzip bomb any further.
    MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    Ok(out)
}

fn parse<T: Message + Default + serde::de::DeserializeOwned>(format: Format, bytes: &[u8]) -> Result<T, DecodeError> {
    match format {
        Format::Protobuf => T::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string())),
        Format::Json => serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string())),
    }
}

/// Decodes a request body posted to `signal`'s path.
pub(crate) fn decode(
    signal: Signal,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<ExportRequest, DecodeError> {
    let format =
        Format::of(content_type).ok_or_else(|| DecodeError::UnsupportedContentType(content_type.map(str::to_owned)))?;
    let bytes = inflate(content_encoding, body, limit)?;
    Ok(match signal {
        Signal::Traces => ExportRequest::Traces(parse(format, &bytes)?),
        Signal::Metrics => ExportRequest::Metrics(parse(format, &bytes)?),
        Signal::Logs => ExportRequest::Logs(parse(format, &bytes)?),
    })
}

fn serialize<T: Message + serde::Serialize>(format: Format, message: &T) -> Vec<u8> {
    match format {
        Format::Protobuf => message.encode_to_vec(),
        // Serializing our own generated types into a Vec cannot fail (no maps with non-string
        // keys, no I/O); an empty body would still be read as success by a client.
        Format::Json => serde_json::to_vec(message).unwrap_or_default(),
    }
}

/// The body of a 200 answer: an empty `Export*ServiceResponse`, or one carrying a partial
/// success when `partial` is given.
pub(crate) fn success_body(signal: Signal, format: Format, partial: Option<(i64, &str)>) -> Vec<u8> {
    let message = |m: &str| m.to_owned();
    match signal {
        Signal::Traces => serialize(
            format,
            &ExportTraceServiceResponse {
                partial_success: partial.map(|(rejected, m)| ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message(m),
                }),
            },
        ),
        Signal::Metrics => serialize(
            format,
            &ExportMetricsServiceResponse {
                partial_success: partial.map(|(rejected, m)| ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message(m),
                }),
            },
        ),
        Signal::Logs => serialize(
            format,
            &ExportLogsServiceResponse {
                partial_success: partial.map(|(rejected, m)| ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message(m),
                }),
            },
        ),
    }
}

/// The google.rpc.Code conventionally paired with an HTTP status. OTLP clients must not branch on
/// it, but a realistic value makes logged errors read like a real collector's.
fn rpc_code(http_status: u16) -> i32 {
    match http_status {
        200..=299 => 0,  // OK
        400 => 3,        // INVALID_ARGUMENT
        401 => 16,       // UNAUTHENTICATED
        403 => 7,        // PERMISSION_DENIED
        404 => 5,        // NOT_FOUND
        409 => 10,       // ABORTED
        413 | 429 => 8,  // RESOURCE_EXHAUSTED
        499 => 1,        // CANCELLED
        501 => 12,       // UNIMPLEMENTED
        502 | 503 => 14, // UNAVAILABLE
        504 => 4,        // DEADLINE_EXCEEDED
        500 => 13,       // INTERNAL
        _ => 2,          // UNKNOWN
    }
}

/// The body of an error answer: a `google.rpc.Status` in the request's format.
pub(crate) fn status_body(format: Format, http_status: u16, message: &str) -> Vec<u8> {
    let status = Status { code: rpc_code(http_status), message: message.to_owned(), details: Vec::new() };
    match format {
        Format::Protobuf => status.encode_to_vec(),
        Format::Json => {
            // google.rpc.Status has no serde derive (its `details` are `Any`s); proto3 JSON of the
            // two fields we set is simple enough to build, leaving defaults out as usual.
            let mut object = serde_json::Map::new();
            if status.code != 0 {
                object.insert("code".into(), status.code.into());
            }
            if !status.message.is_empty() {
                object.insert("message".into(), status.message.into());
            }
            serde_json::Value::Object(object).to_string().into_bytes()
        }
    }
}

/// A body that no `Export*ServiceResponse` decoder accepts: field 1 (`partial_success`) declares
/// 100 bytes of content and only three follow.
pub(crate) const GARBAGE: &[u8] = &[0x0a, 0x64, 0xde, 0xad, 0xbe];

/// The body of [`Reply::NotOtlp`](crate::Reply::NotOtlp): a proxy's error page.
pub(crate) const PROXY_PAGE: &[u8] =
    b"<html><body><h1>Request Entity Too Large or another proxy error</h1></body></html>";

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use nanotel::proto::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use nanotel::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use std::io::Write;

    fn traces(spans: usize) -> ExportTraceServiceRequest {
        let scope =
            ScopeSpans { spans: vec![Span { name: "s".into(), ..Default::default() }; spans], ..Default::default() };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans { scope_spans: vec![scope], ..Default::default() }],
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn metric_items_count_data_points_of_every_kind() {
        let metric = |data| Metric { data: Some(data), ..Default::default() };
        let metrics = vec![
            metric(Data::Gauge(Gauge { data_points: vec![NumberDataPoint::default(); 1] })),
            metric(Data::Sum(Sum { data_points: vec![NumberDataPoint::default(); 2], ..Default::default() })),
            metric(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint::default(); 3],
                ..Default::default()
            })),
            metric(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default(); 4],
                ..Default::default()
            })),
            metric(Data::Summary(Summary { data_points: vec![SummaryDataPoint::default(); 5] })),
            Metric::default(),
        ];
        let scope = ScopeMetrics { metrics, ..Default::default() };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics { scope_metrics: vec![scope], ..Default::default() }],
        };
        assert_eq!(ExportRequest::Metrics(request).item_count(), 15);
        assert_eq!(ExportRequest::Traces(traces(7)).item_count(), 7);
    }

    #[test]
    fn decodes_protobuf_json_and_gzip() {
        let request = traces(2);
        let proto = request.encode_to_vec();
        let json = serde_json::to_vec(&request).unwrap();
        let expected = ExportRequest::Traces(request);
        let limit = 1 << 20;
        let ct = Some("application/x-protobuf");
        assert_eq!(decode(Signal::Traces, ct, None, &proto, limit).unwrap(), expected);
        assert_eq!(decode(Signal::Traces, ct, Some("GZIP"), &gzip(&proto), limit).unwrap(), expected);
        let ct = Some("Application/JSON; charset=utf-8");
        assert_eq!(decode(Signal::Traces, ct, Some("identity"), &json, limit).unwrap(), expected);
        assert_eq!(decode(Signal::Traces, ct, Some("gzip"), &gzip(&json), limit).unwrap(), expected);
    }

    #[test]
    fn decode_errors_and_their_statuses() {
        let limit = 1024;
        let proto = Some("application/x-protobuf");
        let cases = [
            (decode(Signal::Logs, Some("text/plain"), None, b"", limit), 415),
            (decode(Signal::Logs, None, None, b"", limit), 415),
            (decode(Signal::Logs, Some("application/protobuf"), None, b"", limit), 415),
            (decode(Signal::Logs, proto, Some("br"), b"", limit), 415),
            (decode(Signal::Logs, proto, Some("gzip"), b"not gzip", limit), 400),
            (decode(Signal::Logs, proto, None, &[0xff; 12], limit), 400),
            (decode(Signal::Logs, Some("application/json"), None, b"{\"resourceLogs\": 5}", limit), 400),
            (decode(Signal::Logs, proto, None, &[0; 1025], limit), 413),
            (decode(Signal::Logs, proto, Some("gzip"), &gzip(&[0; 1025]), limit), 413),
        ];
        for (result, status) in cases {
            let error = result.unwrap_err();
            assert_eq!(error.http_status(), status, "{error}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn the_size_limit_is_inclusive_with_and_without_gzip() {
        let body = traces(3).encode_to_vec();
        let proto = Some("application/x-protobuf");
        for (encoding, wire) in [(None, body.clone()), (Some("gzip"), gzip(&body))] {
            assert!(decode(Signal::Traces, proto, encoding, &wire, body.len()).is_ok());
            let error = decode(Signal::Traces, proto, encoding, &wire, body.len() - 1).unwrap_err();
            assert_eq!(error, DecodeError::TooLarge(body.len() - 1));
        }
    }

    #[test]
    fn unknown_json_fields_are_ignored() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","futureField":1}]}]}],"extra":true}"#;
        let decoded = decode(Signal::Traces, Some("application/json"), None, body, 1024).unwrap();
        assert_eq!(decoded.item_count(), 1);
        assert_eq!(decoded.signal(), Signal::Traces);
        assert!(decoded.as_traces().is_some() && decoded.as_logs().is_none() && decoded.as_metrics().is_none());
    }

    #[test]
    fn answer_bodies() {
        assert!(success_body(Signal::Traces, Format::Protobuf, None).is_empty());
        assert_eq!(success_body(Signal::Metrics, Format::Json, None), b"{}");
        let body = success_body(Signal::Logs, Format::Protobuf, Some((3, "too old")));
        let partial = ExportLogsServiceResponse::decode(body.as_slice()).unwrap().partial_success.unwrap();
        assert_eq!((partial.rejected_log_records, partial.error_message.as_str()), (3, "too old"));
        let body = success_body(Signal::Traces, Format::Json, Some((2, "x")));
        assert_eq!(body, br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"x"}}"#);

        let status = Status::decode(status_body(Format::Protobuf, 503, "busy").as_slice()).unwrap();
        assert_eq!((status.code, status.message.as_str()), (14, "busy"));
        assert_eq!(status_body(Format::Json, 400, "bad \"x\""), br#"{"code":3,"message":"bad \"x\""}"#);
    }

    #[test]
    fn garbage_decodes_as_no_response_type() {
        assert!(ExportTraceServiceResponse::decode(GARBAGE).is_err());
        assert!(ExportMetricsServiceResponse::decode(GARBAGE).is_err());
        assert!(ExportLogsServiceResponse::decode(GARBAGE).is_err());
        assert!(Status::decode(GARBAGE).is_err());
    }
}
