//! What a gRPC status means for the export it answers (the OTLP/gRPC response rules).
//!
//! `OK` delivers, its `Export*ServiceResponse` read for a partial success as OTLP/HTTP reads a
//! 2xx body. `UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE` and
//! `DATA_LOSS` are retried, and so is `RESOURCE_EXHAUSTED` when the status carries a
//! `google.rpc.RetryInfo`; a `RetryInfo.retry_delay` becomes the outcome's `retry_after`, so a
//! lane holds back exactly as for an HTTP `Retry-After`. Every other code is final. A final code
//! is reported with its HTTP equivalent (the `google.rpc.Code` mapping) as the outcome's status,
//! so the breaker hears of the server errors (`UNKNOWN`, `INTERNAL`, `UNIMPLEMENTED`) as of 5xx.
//!
//! Everything here reads untrusted bytes: it never panics, and text is cut and escaped like the
//! OTLP/HTTP reasons.

use std::time::{Duration, SystemTime};

use base64::Engine;
use http::HeaderMap;

use super::{Message, PREFIX_LEN};
use crate::export::response::{classify_response, printable, ExportOutcome, HttpResponse};
use crate::export::retry_after::parse_retry_after;
use crate::export::Signal;

/// The gRPC status codes, by number, for reasons.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

const UNKNOWN: u32 = 2;
const RESOURCE_EXHAUSTED: u32 = 8;

/// The outcome of a call, from the response's headers, its trailers (the same map for a
/// trailers-only answer) and its message. Public only for the `grpc_status` fuzz target
/// (`nanotel::internal::grpc_outcome`).
pub fn outcome(signal: Signal, headers: &HeaderMap, trailers: &HeaderMap, message: &Message) -> ExportOutcome {
    let code = trailers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(UNKNOWN);
    if code == 0 {
        return accepted(signal, headers, message);
    }
    let retry_info = trailers.get("grpc-status-details-bin").and_then(|v| retry_info(v.as_bytes()));
    let retry_after = retry_info.flatten();
    let reason = reason(code, trailers.get("grpc-message").map(http::HeaderValue::as_bytes));
    match code {
        1 | 4 | 10 | 11 | 14 | 15 => ExportOutcome::Retryable { retry_after, reason },
        RESOURCE_EXHAUSTED if retry_info.is_some() => ExportOutcome::Retryable { retry_after, reason },
        _ => ExportOutcome::Failed { status: http_equivalent(code), reason },
    }
}

/// The outcome of an `OK` (HTTP 200) answer that ended without a `grpc-status`, in trailers
/// or headers: `UNKNOWN`, as the gRPC specification's HTTP to gRPC status mapping reads a 200
/// without one, and like every `UNKNOWN` not retried (OTLP's retryable codes do not include it).
pub(super) fn without_status() -> ExportOutcome {
    let reason = format!("{}: the answer ended without a grpc-status", reason(UNKNOWN, None));
    ExportOutcome::Failed { status: http_equivalent(UNKNOWN), reason }
}

/// The outcome of an answer that is not gRPC at all (a proxy's error page, say), by the HTTP
/// to gRPC status mapping of the gRPC specification; a retryable one's `Retry-After` (in
/// `headers`) is honoured as OTLP/HTTP honours it. A final one keeps its own HTTP status, which
/// the exporter reads as OTLP/HTTP's: a 413 has its batch sent in halves, a 4xx says the server
/// is up (until session 41 every final one read as gRPC's HTTP equivalent, 500: a proxy's 413
/// dropped the batch and counted against the breaker).
pub(super) fn http_outcome(status: u16, headers: &HeaderMap) -> ExportOutcome {
    let code = match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => UNKNOWN,
    };
    let reason = format!("{} (HTTP {status}, not a gRPC answer)", reason(code, None));
    match code {
        14 => {
            let retry_after = headers.get(http::header::RETRY_AFTER).and_then(|value| value.to_str().ok());
            let retry_after = retry_after.and_then(|value| parse_retry_after(value, SystemTime::now()));
            ExportOutcome::Retryable { retry_after, reason }
        }
        _ => ExportOutcome::Failed { status, reason },
    }
}

/// `OK`: the partial success in the message, read as OTLP/HTTP reads a protobuf body.
fn accepted(signal: Signal, headers: &HeaderMap, message: &Message) -> ExportOutcome {
    let bytes = &message.bytes;
    let (compressed, declared) = match bytes.get(..PREFIX_LEN) {
        Some(prefix) => (prefix[0] == 1, u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize),
        None => (false, 0),
    };
    let body = bytes.get(PREFIX_LEN..).unwrap_or_default();
    let encoding = headers.get("grpc-encoding").and_then(|v| v.to_str().ok());
    let response = HttpResponse {
        status: 200,
        content_type: Some("application/x-protobuf"),
        content_encoding: if compressed { Some(encoding.unwrap_or("gzip")) } else { None },
        body: &body[..body.len().min(declared)],
        // A message shorter than its prefix says is cut short, and is not decoded either.
        body_truncated: message.truncated || body.len() < declared,
        retry_after: None,
    };
    classify_response(signal, &response, SystemTime::now())
}

/// `gRPC <NAME> (<code>)`, then the collector's `grpc-message`, percent-decoded and made safe.
fn reason(code: u32, message: Option<&[u8]>) -> String {
    let name = CODE_NAMES.get(code as usize).copied().unwrap_or("code");
    let mut reason = format!("gRPC {name} ({code})");
    let text = message.map(percent_decode).unwrap_or_default();
    let text = printable(text.trim().chars());
    if !text.is_empty() {
        reason.push_str(": ");
        reason.push_str(&text);
    }
    reason
}

/// `grpc-message` is percent-encoded UTF-8; a malformed escape is kept as it is.
fn percent_decode(raw: &[u8]) -> String {
    String::from_utf8_lossy(&crate::percent::decode_lenient(raw)).into_owned()
}

/// The `google.rpc.Code` to HTTP mapping (`google/rpc/code.proto`).
fn http_equivalent(code: u32) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// The `RetryInfo` of a `grpc-status-details-bin` value (base64, padded or not, of a
/// `google.rpc.Status`), if it holds one, as its `retry_delay`: `None` when it has none, or one of
/// zero or less, which OTLP says to take as no delay asked (the exporter's own backoff applies).
/// Until session 42 such a delay paced the batch at the shortest pause, its attempts never
/// counted: a collector answering every call so had it resent every 100 ms for ever.
#[expect(clippy::option_option, reason = "the outer `Option` says whether there was anything, the inner what it held")]
fn retry_info(value: &[u8]) -> Option<Option<Duration>> {
    let trimmed = value.trim_ascii();
    let unpadded = &trimmed[..trimmed.iter().rposition(|b| *b != b'=').map_or(0, |last| last + 1)];
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded).ok()?;
    let status = <StatusDetails as prost::Message>::decode(bytes.as_slice()).ok()?;
    let info = status.details.iter().find(|any| any.type_url.ends_with("/google.rpc.RetryInfo"))?;
    let info = <RetryInfo as prost::Message>::decode(info.value.as_slice()).ok()?;
    let delay = info.retry_delay.map(|delay| {
        let seconds = u64::try_from(delay.seconds).unwrap_or(0);
        let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
        Duration::new(seconds, nanos)
    });
    Some(delay.filter(|delay| !delay.is_zero()))
}

/// `google.rpc.Status`, only its details (field 3).
#[derive(Clone, PartialEq, prost::Message)]
struct StatusDetails {
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    /// How long the client should wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<prost_types::Duration>,
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::proto::google::rpc::Status;

    fn trailers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn details(delay: Option<(i64, i32)>) -> String {
        let info = RetryInfo { retry_delay: delay.map(|(seconds, nanos)| prost_types::Duration { seconds, nanos }) };
        let any = prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        };
        let status = Status { code: 8, message: "slow down".into(), details: vec![any] };
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.encode_to_vec())
    }

    fn outcome_of(pairs: &[(&'static str, &str)]) -> ExportOutcome {
        let map = trailers(pairs);
        outcome(Signal::Traces, &HeaderMap::new(), &map, &Message::default())
    }

    #[test]
    fn retryable_codes_and_final_codes() {
        for code in ["1", "4", "10", "11", "14", "15"] {
            assert!(matches!(outcome_of(&[("grpc-status", code)]), ExportOutcome::Retryable { retry_after: None, .. }));
        }
        for (code, status) in [("3", 400), ("8", 429), ("13", 500), ("12", 501), ("16", 401), ("99", 500), ("x", 500)] {
            match outcome_of(&[("grpc-status", code)]) {
                ExportOutcome::Failed { status: got, .. } => assert_eq!(got, status, "{code}"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn resource_exhausted_is_retried_only_with_retry_info() {
        let with = details(Some((2, 500_000_000)));
        assert_eq!(
            outcome_of(&[("grpc-status", "8"), ("grpc-status-details-bin", &with), ("grpc-message", "slow%20down")]),
            ExportOutcome::Retryable {
                retry_after: Some(Duration::from_millis(2500)),
                reason: "gRPC RESOURCE_EXHAUSTED (8): slow down".into()
            }
        );
        // Padded base64 is accepted too; RetryInfo without a delay still makes it retryable.
        let padded = format!("{}==", details(None));
        assert!(matches!(
            outcome_of(&[("grpc-status", "8"), ("grpc-status-details-bin", &padded)]),
            ExportOutcome::Retryable { retry_after: None, .. }
        ));
        assert!(matches!(outcome_of(&[("grpc-status", "8")]), ExportOutcome::Failed { status: 429, .. }));
        assert!(matches!(
            outcome_of(&[("grpc-status", "8"), ("grpc-status-details-bin", "!!not base64")]),
            ExportOutcome::Failed { status: 429, .. }
        ));
        // A delay of zero or less asks for none: the exporter's backoff applies.
        for nothing in [(0, 0), (-5, 0), (0, -1)] {
            let asked = outcome_of(&[("grpc-status", "14"), ("grpc-status-details-bin", &details(Some(nothing)))]);
            assert!(matches!(asked, ExportOutcome::Retryable { retry_after: None, .. }), "{nothing:?}: {asked:?}");
        }
        // A delay on another retryable code is honoured as well.
        let unavailable = outcome_of(&[("grpc-status", "14"), ("grpc-status-details-bin", &with)]);
        assert!(matches!(unavailable, ExportOutcome::Retryable { retry_after: Some(d), .. } if d.as_millis() == 2500));
    }

    #[test]
    fn messages_are_decoded_and_escaped() {
        assert_eq!(percent_decode(b"a%20b%zz%4"), "a b%zz%4");
        assert_eq!(reason(3, Some(b"bad%0Aspan")), "gRPC INVALID_ARGUMENT (3): bad\\nspan");
        assert_eq!(reason(42, None), "gRPC code (42)");
    }

    #[test]
    fn ok_reads_the_partial_success() {
        use crate::proto::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
        let response = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess { rejected_spans: 3, error_message: "old".into() }),
        };
        let body = response.encode_to_vec();
        let mut bytes = vec![0];
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&body);
        let message = Message { bytes, truncated: false };
        let ok = trailers(&[("grpc-status", "0")]);
        assert_eq!(
            outcome(Signal::Traces, &HeaderMap::new(), &ok, &message),
            ExportOutcome::Accepted { rejected: 3, message: Some("old".into()) }
        );
        // No message at all is a plain success; a message shorter than its prefix says is not read.
        assert_eq!(
            outcome(Signal::Traces, &HeaderMap::new(), &ok, &Message::default()),
            ExportOutcome::Accepted { rejected: 0, message: None }
        );
        let cut = Message { bytes: message.bytes[..message.bytes.len() - 1].to_vec(), truncated: false };
        assert!(matches!(
            outcome(Signal::Traces, &HeaderMap::new(), &ok, &cut),
            ExportOutcome::Accepted { rejected: 0, message: Some(_) }
        ));
    }

    #[test]
    fn an_answer_without_a_status_is_unknown() {
        match without_status() {
            ExportOutcome::Failed { status: 500, reason } => {
                assert_eq!(reason, "gRPC UNKNOWN (2): the answer ended without a grpc-status");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_grpc_answers() {
        let none = HeaderMap::new();
        assert!(matches!(http_outcome(503, &none), ExportOutcome::Retryable { retry_after: None, .. }));
        // A final answer keeps its own HTTP status (gRPC's UNIMPLEMENTED reads as 501 only in
        // the reason's name), as OTLP/HTTP would read it.
        assert!(
            matches!(http_outcome(404, &none), ExportOutcome::Failed { status: 404, ref reason } if reason.contains("UNIMPLEMENTED"))
        );
        assert!(matches!(http_outcome(413, &none), ExportOutcome::Failed { status: 413, .. }));
        let mut paced = HeaderMap::new();
        paced.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("7"));
        let seven = Some(Duration::from_secs(7));
        assert!(
            matches!(http_outcome(429, &paced), ExportOutcome::Retryable { retry_after, .. } if retry_after == seven)
        );
        assert!(matches!(http_outcome(400, &paced), ExportOutcome::Failed { .. }), "only a retryable answer waits");
    }
}
