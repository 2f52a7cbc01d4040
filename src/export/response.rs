//! What a collector's HTTP answer means for the export it answers: delivered, worth retrying, or
//! failed for good (OTLP/HTTP response rules).
//!
//! Everything here reads untrusted bytes, so it never panics, never inflates a compressed body
//! past [`MAX_RESPONSE_BODY`], and only builds the parts of a message it uses.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use nanotel::internal::{classify_response, ExportOutcome, HttpResponse};
//! use nanotel::Signal;
//!
//! let throttled = HttpResponse { status: 429, retry_after: Some("5"), ..Default::default() };
//! assert_eq!(
//!     classify_response(Signal::Traces, &throttled, SystemTime::now()),
//!     ExportOutcome::Retryable {
//!         retry_after: Some(Duration::from_secs(5)),
//!         reason: "HTTP 429 Too Many Requests".to_owned(),
//!     }
//! );
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::time::{Duration, SystemTime};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::retry_after::parse_retry_after;
use super::Signal;
use crate::proto::collector::{logs, metrics, trace};

/// The most response-body bytes read, after decompression (the OTLP recommendation, 4 MiB).
pub const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

/// The most characters of collector-supplied text put into an outcome's message or reason.
const MAX_TEXT_CHARS: usize = 512;

/// The parts of a collector's HTTP answer that decide what happens to the export.
///
/// Header values are the raw field values; absent headers are `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpResponse<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// `Content-Type`, parameters included.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
    /// `Retry-After`.
    pub retry_after: Option<&'a str>,
    /// The body as received, still encoded.
    pub body: &'a [u8],
    /// Whether the transport stopped reading the body at [`MAX_RESPONSE_BODY`], leaving the rest.
    pub body_truncated: bool,
}

/// What an export's HTTP answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportOutcome {
    /// 2xx. `rejected`/`message` come from a partial success (0/None when absent).
    Accepted {
        /// How many items the collector rejected; the rest were accepted.
        rejected: u64,
        /// The collector's warning or error message, or why its answer could not be read.
        message: Option<String>,
    },
    /// 429, 502, 503, 504: try again, after `retry_after` when the server gave one.
    Retryable {
        /// The delay the collector asked for in `Retry-After`, uncapped.
        retry_after: Option<Duration>,
        /// `HTTP <code> <reason>` and what the collector said.
        reason: String,
    },
    /// Anything else: do not retry.
    Failed {
        /// The HTTP status code.
        status: u16,
        /// `HTTP <code> <reason>` and what the collector said.
        reason: String,
    },
}

/// Classifies a collector's answer to an export of `signal`.
///
/// The status decides the outcome; the body only adds detail:
/// - any 2xx is [`ExportOutcome::Accepted`], with the partial success from a protobuf or JSON
///   body (chosen by `Content-Type`). A body that cannot be read does not undo the delivery: its
///   problem becomes the message.
/// - 429, 502, 503 and 504 are [`ExportOutcome::Retryable`], with the `Retry-After` delay.
/// - everything else is [`ExportOutcome::Failed`].
///
/// Failure reasons carry the `google.rpc.Status` message when the body holds one, else the start
/// of the body as text. All text from the collector is cut to 512 characters with control
/// characters escaped, so it can go straight into a log line. `gzip` bodies are inflated up to
/// [`MAX_RESPONSE_BODY`]; other unknown encodings are not decoded.
///
/// ```
/// use std::time::SystemTime;
/// use nanotel::internal::{classify_response, ExportOutcome, HttpResponse};
/// use nanotel::Signal;
///
/// let body = br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"too old"}}"#;
/// let response = HttpResponse {
///     status: 200,
///     content_type: Some("application/json"),
///     body,
///     ..Default::default()
/// };
/// assert_eq!(
///     classify_response(Signal::Logs, &response, SystemTime::now()),
///     ExportOutcome::Accepted { rejected: 3, message: Some("too old".to_owned()) }
/// );
///
/// let missing = HttpResponse { status: 404, body: b"404 page not found\n", ..Default::default() };
/// assert_eq!(
///     classify_response(Signal::Logs, &missing, SystemTime::now()),
///     ExportOutcome::Failed { status: 404, reason: "HTTP 404 Not Found: 404 page not found".to_owned() }
/// );
/// ```
#[must_use]
pub fn classify_response(signal: Signal, response: &HttpResponse<'_>, now: SystemTime) -> ExportOutcome {
    let status = response.status;
    if (200..300).contains(&status) {
        let (rejected, message) = match partial_success(signal, response) {
            Ok((rejected, message)) => (
                u64::try_from(rejected).unwrap_or(0),
                Some(printable(message.trim().chars())).filter(|message| !message.is_empty()),
            ),
            // Decoder errors can quote the body (serde_json echoes unexpected strings whole).
            Err(problem) => {
                (0, Some(format!("could not decode the collector's response: {}", printable(problem.chars()))))
            }
        };
        return ExportOutcome::Accepted { rejected, message };
    }
    let reason = failure_reason(response);
    if matches!(status, 429 | 502 | 503 | 504) {
        let retry_after = response.retry_after.and_then(|value| parse_retry_after(value, now));
        ExportOutcome::Retryable { retry_after, reason }
    } else {
        ExportOutcome::Failed { status, reason }
    }
}

/// The body formats OTLP/HTTP defines.
#[derive(Clone, Copy)]
enum Format {
    Protobuf,
    Json,
}

fn format_of(content_type: Option<&str>) -> Option<Format> {
    let media_type = content_type?.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/x-protobuf")
        || media_type.eq_ignore_ascii_case("application/protobuf")
    {
        Some(Format::Protobuf)
    } else if media_type.eq_ignore_ascii_case("application/json") {
        Some(Format::Json)
    } else {
        None
    }
}

/// The partial success of a 2xx answer as (rejected, message); (0, "") when there is none.
fn partial_success(signal: Signal, response: &HttpResponse<'_>) -> Result<(i64, String), String> {
    let Some(format) = format_of(response.content_type) else {
        return Ok((0, String::new()));
    };
    if response.body.is_empty() && !response.body_truncated {
        return Ok((0, String::new()));
    }
    let body = decode_body(response).map_err(|error| error.to_string())?;
    if !body.complete {
        return Err(format!("it is larger than {MAX_RESPONSE_BODY} bytes"));
    }
    match signal {
        Signal::Traces => read_response::<trace::v1::ExportTraceServiceResponse>(format, &body.bytes),
        Signal::Metrics => read_response::<metrics::v1::ExportMetricsServiceResponse>(format, &body.bytes),
        Signal::Logs => read_response::<logs::v1::ExportLogsServiceResponse>(format, &body.bytes),
    }
}

/// The three `Export*ServiceResponse` messages, which differ only in their field names.
trait ServiceResponse: prost::Message + Default + serde::de::DeserializeOwned {
    fn into_partial_success(self) -> (i64, String);
}

impl ServiceResponse for trace::v1::ExportTraceServiceResponse {
    fn into_partial_success(self) -> (i64, String) {
        self.partial_success.map_or((0, String::new()), |partial| (partial.rejected_spans, partial.error_message))
    }
}

impl ServiceResponse for metrics::v1::ExportMetricsServiceResponse {
    fn into_partial_success(self) -> (i64, String) {
        self.partial_success.map_or((0, String::new()), |partial| (partial.rejected_data_points, partial.error_message))
    }
}

impl ServiceResponse for logs::v1::ExportLogsServiceResponse {
    fn into_partial_success(self) -> (i64, String) {
        self.partial_success.map_or((0, String::new()), |partial| (partial.rejected_log_records, partial.error_message))
    }
}

fn read_response<T: ServiceResponse>(format: Format, bytes: &[u8]) -> Result<(i64, String), String> {
    let response = match format {
        Format::Protobuf => T::decode(bytes).map_err(|error| error.to_string())?,
        Format::Json => {
            // serde's message for a top-level array or scalar names an inner type; say plainly
            // what an Export*ServiceResponse must be.
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err("expected a JSON object".into());
            }
            serde_json::from_slice::<T>(bytes).map_err(|error| error.to_string())?
        }
    };
    Ok(response.into_partial_success())
}

/// `HTTP <code> <canonical reason>`, then what the body says, if anything.
fn failure_reason(response: &HttpResponse<'_>) -> String {
    let mut reason = format!("HTTP {}", response.status);
    if let Some(canonical) =
        reqwest::StatusCode::from_u16(response.status).ok().and_then(|code| code.canonical_reason())
    {
        reason.push(' ');
        reason.push_str(canonical);
    }
    let detail = failure_detail(response);
    if !detail.is_empty() {
        reason.push_str(": ");
        reason.push_str(&detail);
    }
    reason
}

/// The `google.rpc.Status` message of an error body, else the body's start as text.
fn failure_detail(response: &HttpResponse<'_>) -> String {
    if response.body.is_empty() {
        return String::new();
    }
    let body = match decode_body(response) {
        Ok(body) => body,
        Err(error) => return error.to_string(),
    };
    let status_message = match format_of(response.content_type) {
        _ if !body.complete => None,
        Some(Format::Protobuf) => {
            <StatusMessage as prost::Message>::decode(&*body.bytes).ok().map(|status| status.message)
        }
        Some(Format::Json) => serde_json::from_slice::<JsonStatus>(&body.bytes).ok().and_then(|status| status.message),
        None => None,
    };
    match status_message.as_deref().map(str::trim) {
        Some(message) if !message.is_empty() => printable(message.chars()),
        _ => printable(lossy_chars(body.bytes.trim_ascii())),
    }
}

/// The one field of `google.rpc.Status` that a failure reason uses.
///
/// Decoding into the full message would also build every entry of `details`: an empty `Any` takes
/// two bytes on the wire and dozens in memory, so a hostile 4 MiB body could cost hundreds of
/// MiB. Here prost skips the other fields without storing them.
#[derive(Clone, PartialEq, prost::Message)]
struct StatusMessage {
    /// `google.rpc.Status.message` (field 2).
    #[prost(string, tag = "2")]
    message: String,
}

/// `google.rpc.Status` as JSON, keeping only `message`; other members are skipped unread.
#[derive(Deserialize)]
struct JsonStatus {
    message: Option<String>,
}

/// A response body after its content encoding was undone.
struct DecodedBody<'a> {
    /// At most [`MAX_RESPONSE_BODY`] bytes.
    bytes: Cow<'a, [u8]>,
    /// False when `bytes` is only the start of the body.
    complete: bool,
}

/// Why a body could not be decoded at all.
enum BodyError {
    Gzip(std::io::Error),
    UnsupportedEncoding(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Gzip(error) => write!(f, "invalid gzip body ({error})"),
            BodyError::UnsupportedEncoding(encoding) => {
                write!(f, "body in unsupported content-encoding \"{encoding}\"")
            }
        }
    }
}

fn decode_body<'a>(response: &HttpResponse<'a>) -> Result<DecodedBody<'a>, BodyError> {
    let encoding = response.content_encoding.map(str::trim).unwrap_or_default();
    if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") {
        return gunzip(response.body, response.body_truncated);
    }
    if !(encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") || encoding.eq_ignore_ascii_case("none")) {
        return Err(BodyError::UnsupportedEncoding(printable(encoding.chars().take(64))));
    }
    let complete = !response.body_truncated && response.body.len() <= MAX_RESPONSE_BODY;
    let bytes = &response.body[..response.body.len().min(MAX_RESPONSE_BODY)];
    Ok(DecodedBody { bytes: Cow::Borrowed(bytes), complete })
}

/// Inflates a gzip body, stopping one byte past the cap so that a bomb costs at most about twice
/// [`MAX_RESPONSE_BODY`] (the output buffer's growth) however far it would expand.
fn gunzip(compressed: &[u8], input_truncated: bool) -> Result<DecodedBody<'static>, BodyError> {
    let mut inflated = Vec::new();
    let limit = MAX_RESPONSE_BODY as u64 + 1;
    let read = MultiGzDecoder::new(compressed).take(limit).read_to_end(&mut inflated);
    let complete = match read {
        Ok(_) => !input_truncated && inflated.len() <= MAX_RESPONSE_BODY,
        // A stream cut short by the transport ends early by design; what inflated so far is
        // still the start of the body.
        Err(_) if input_truncated => false,
        Err(error) => return Err(BodyError::Gzip(error)),
    };
    inflated.truncate(MAX_RESPONSE_BODY);
    Ok(DecodedBody { bytes: Cow::Owned(inflated), complete })
}

/// The characters of possibly invalid UTF-8, each invalid sequence read as U+FFFD, produced lazily
/// so that only what is shown is looked at.
fn lossy_chars(bytes: &[u8]) -> impl Iterator<Item = char> + '_ {
    bytes.utf8_chunks().flat_map(|chunk| {
        let replacement = (!chunk.invalid().is_empty()).then_some(char::REPLACEMENT_CHARACTER);
        chunk.valid().chars().chain(replacement)
    })
}

/// Collector-supplied text made safe for one log line: control characters escaped (`\n`,
/// `\u{1b}`), and at most [`MAX_TEXT_CHARS`] characters, the last one `…` when cut.
pub(super) fn printable(text: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    let mut written = 0;
    let mut push = |c: char| {
        if written == MAX_TEXT_CHARS {
            out.pop();
            out.push('…');
            return false;
        }
        out.push(c);
        written += 1;
        true
    };
    'text: for c in text {
        if c.is_control() {
            for escaped in c.escape_default() {
                if !push(escaped) {
                    break 'text;
                }
            }
        } else if !push(c) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;
    use prost::Message;

    use super::*;
    use crate::proto::google::rpc::Status;

    const PROTOBUF: Option<&str> = Some("application/x-protobuf");
    const JSON: Option<&str> = Some("application/json");

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn classify(signal: Signal, response: HttpResponse<'_>) -> ExportOutcome {
        classify_response(signal, &response, now())
    }

    fn ok<'a>(content_type: Option<&'a str>, body: &'a [u8]) -> HttpResponse<'a> {
        HttpResponse { status: 200, content_type, body, ..Default::default() }
    }

    fn accepted(rejected: u64, message: Option<&str>) -> ExportOutcome {
        ExportOutcome::Accepted { rejected, message: message.map(str::to_owned) }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn trace_partial(rejected: i64, message: &str) -> trace::v1::ExportTraceServiceResponse {
        trace::v1::ExportTraceServiceResponse {
            partial_success: Some(trace::v1::ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message.to_owned(),
            }),
        }
    }

    fn status_body(message: &str) -> Vec<u8> {
        Status { code: 14, message: message.to_owned(), details: Vec::new() }.encode_to_vec()
    }

    #[expect(clippy::match_wildcard_for_single_variants, reason = "any other answer is a failure, whatever it is")]
    fn reason(outcome: ExportOutcome) -> String {
        match outcome {
            ExportOutcome::Retryable { reason, .. } | ExportOutcome::Failed { reason, .. } => reason,
            accepted => panic!("unexpectedly {accepted:?}"),
        }
    }

    #[test]
    fn every_2xx_without_a_body_is_full_success() {
        for status in [200, 201, 202, 204, 299] {
            let response = HttpResponse { status, ..Default::default() };
            assert_eq!(classify(Signal::Traces, response), accepted(0, None), "{status}");
        }
        assert_eq!(classify(Signal::Traces, ok(PROTOBUF, b"")), accepted(0, None));
        assert_eq!(classify(Signal::Traces, ok(JSON, b"")), accepted(0, None));
    }

    #[test]
    fn protobuf_partial_success_for_each_signal() {
        let traces = trace_partial(3, "spans too old").encode_to_vec();
        assert_eq!(classify(Signal::Traces, ok(PROTOBUF, &traces)), accepted(3, Some("spans too old")));

        let metrics = metrics::v1::ExportMetricsServiceResponse {
            partial_success: Some(metrics::v1::ExportMetricsPartialSuccess {
                rejected_data_points: 7,
                error_message: String::new(),
            }),
        }
        .encode_to_vec();
        let response = ok(Some("application/protobuf"), &metrics);
        assert_eq!(classify(Signal::Metrics, response), accepted(7, None));

        let logs = logs::v1::ExportLogsServiceResponse {
            partial_success: Some(logs::v1::ExportLogsPartialSuccess {
                rejected_log_records: 0,
                error_message: "deprecated attribute".to_owned(),
            }),
        }
        .encode_to_vec();
        let response = ok(Some("Application/X-Protobuf; charset=binary"), &logs);
        assert_eq!(classify(Signal::Logs, response), accepted(0, Some("deprecated attribute")));
    }

    #[test]
    fn the_signal_picks_the_message_type() {
        // Field 1 of the trace partial success is rejected_spans; read as a logs response the
        // same bytes give the same numbers, since all three share their field numbers.
        let bytes = trace_partial(2, "x").encode_to_vec();
        assert_eq!(classify(Signal::Logs, ok(PROTOBUF, &bytes)), accepted(2, Some("x")));
        let json = br#"{"partialSuccess":{"rejectedSpans":"2"}}"#;
        assert_eq!(classify(Signal::Traces, ok(JSON, json)), accepted(2, None));
        // A JSON member named for another signal is an unknown field.
        assert_eq!(classify(Signal::Metrics, ok(JSON, json)), accepted(0, None));
    }

    #[test]
    fn json_partial_success() {
        let body = br#"{"partialSuccess":{"rejectedDataPoints":12,"errorMessage":"bad unit"}}"#;
        let response = ok(Some("application/json; charset=utf-8"), body);
        assert_eq!(classify(Signal::Metrics, response), accepted(12, Some("bad unit")));

        let body = br#"{"partialSuccess":{},"futureField":[1,{"a":[]}]}"#;
        assert_eq!(classify(Signal::Traces, ok(JSON, body)), accepted(0, None));
        assert_eq!(classify(Signal::Traces, ok(JSON, b"{}")), accepted(0, None));
        assert_eq!(classify(Signal::Traces, ok(JSON, br#"{"partialSuccess":null}"#)), accepted(0, None));
    }

    #[test]
    fn negative_rejected_counts_clamp_to_zero() {
        let bytes = trace_partial(-5, "").encode_to_vec();
        assert_eq!(classify(Signal::Traces, ok(PROTOBUF, &bytes)), accepted(0, None));
        let json = br#"{"partialSuccess":{"rejectedSpans":"-9","errorMessage":"odd"}}"#;
        assert_eq!(classify(Signal::Traces, ok(JSON, json)), accepted(0, Some("odd")));
    }

    #[test]
    fn other_content_types_are_not_read() {
        let bytes = trace_partial(3, "x").encode_to_vec();
        for content_type in [None, Some("text/plain"), Some("application/grpc"), Some("")] {
            assert_eq!(classify(Signal::Traces, ok(content_type, &bytes)), accepted(0, None));
        }
    }

    #[test]
    fn undecodable_2xx_bodies_are_still_delivered() {
        let message = |outcome| match outcome {
            ExportOutcome::Accepted { rejected: 0, message: Some(message) } => message,
            other => panic!("unexpectedly {other:?}"),
        };
        let text = message(classify(Signal::Traces, ok(PROTOBUF, b"\xff\xff\xff")));
        assert!(text.starts_with("could not decode the collector's response: "), "{text}");
        let text = message(classify(Signal::Traces, ok(JSON, b"<html>ok</html>")));
        assert!(text.starts_with("could not decode the collector's response: "), "{text}");
        let text = message(classify(Signal::Traces, ok(JSON, b"[1]")));
        assert!(text.contains("JSON object"), "{text}");
    }

    #[test]
    fn json_containers_where_numbers_belong_are_refused_before_decoding() {
        let mut body = br#"{"partialSuccess":{"rejectedSpans":["#.to_vec();
        body.extend(std::iter::repeat_n(b"[],".as_slice(), 100_000).flatten());
        body.extend_from_slice(b"[]]}}");
        match classify(Signal::Traces, ok(JSON, &body)) {
            ExportOutcome::Accepted { rejected: 0, message: Some(message) } => {
                assert!(message.contains("a number or a string"), "{message}");
            }
            other => panic!("unexpectedly {other:?}"),
        }
    }

    #[test]
    fn decoder_errors_are_capped() {
        let body = format!(r#"{{"partialSuccess":"{}\n"}}"#, "s".repeat(10_000));
        match classify(Signal::Traces, ok(JSON, body.as_bytes())) {
            ExportOutcome::Accepted { rejected: 0, message: Some(message) } => {
                let problem = message.strip_prefix("could not decode the collector's response: ").unwrap();
                assert_eq!(problem.chars().count(), MAX_TEXT_CHARS, "{message}");
                assert!(problem.starts_with("invalid type: string"), "{message}");
            }
            other => panic!("unexpectedly {other:?}"),
        }
    }

    #[test]
    fn gzip_bodies_are_inflated() {
        let compressed = gzip(&trace_partial(4, "gz").encode_to_vec());
        for encoding in ["gzip", "GZIP", " x-gzip "] {
            let response = HttpResponse { content_encoding: Some(encoding), ..ok(PROTOBUF, &compressed) };
            assert_eq!(classify(Signal::Traces, response), accepted(4, Some("gz")), "{encoding}");
        }
        let plain = trace_partial(1, "id").encode_to_vec();
        for encoding in ["identity", "none", ""] {
            let response = HttpResponse { content_encoding: Some(encoding), ..ok(PROTOBUF, &plain) };
            assert_eq!(classify(Signal::Traces, response), accepted(1, Some("id")), "{encoding}");
        }
    }

    #[test]
    fn broken_gzip_and_unknown_encodings() {
        let response = HttpResponse { content_encoding: Some("gzip"), ..ok(PROTOBUF, b"not gzip") };
        match classify(Signal::Traces, response) {
            ExportOutcome::Accepted { rejected: 0, message: Some(message) } => {
                assert!(message.contains("invalid gzip body"), "{message}");
            }
            other => panic!("unexpectedly {other:?}"),
        }
        let body = trace_partial(4, "x").encode_to_vec();
        let response = HttpResponse { content_encoding: Some("br"), ..ok(PROTOBUF, &body) };
        match classify(Signal::Traces, response) {
            ExportOutcome::Accepted { rejected: 0, message: Some(message) } => {
                assert!(message.contains("unsupported content-encoding \"br\""), "{message}");
            }
            other => panic!("unexpectedly {other:?}"),
        }
        let response = HttpResponse {
            status: 500,
            content_encoding: Some("zstd\r\n"),
            body: b"\x28\xb5\x2f\xfd",
            ..Default::default()
        };
        assert_eq!(
            reason(classify(Signal::Traces, response)),
            "HTTP 500 Internal Server Error: body in unsupported content-encoding \"zstd\""
        );
    }

    #[test]
    fn gzip_bombs_stop_at_the_cap() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..16 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);

        let body = gunzip(&bomb, false).unwrap_or_else(|_| panic!("the bomb is valid gzip"));
        assert!(!body.complete);
        assert_eq!(body.bytes.len(), MAX_RESPONSE_BODY);

        let response = HttpResponse { content_encoding: Some("gzip"), ..ok(PROTOBUF, &bomb) };
        assert_eq!(
            classify(Signal::Traces, response),
            accepted(0, Some("could not decode the collector's response: it is larger than 4194304 bytes"))
        );
        let response = HttpResponse { status: 503, ..response };
        let reason = reason(classify(Signal::Traces, response));
        assert!(reason.starts_with("HTTP 503 Service Unavailable: \\u{0}\\u{0}"), "{reason}");
        assert_eq!(reason.chars().count(), "HTTP 503 Service Unavailable: ".len() + MAX_TEXT_CHARS);
    }

    #[test]
    fn exactly_the_cap_is_complete() {
        let body = vec![b'a'; MAX_RESPONSE_BODY];
        let compressed = gzip(&body);
        let decoded = gunzip(&compressed, false).unwrap_or_else(|_| panic!("valid gzip"));
        assert!(decoded.complete);
        assert_eq!(decoded.bytes.len(), MAX_RESPONSE_BODY);
    }

    #[test]
    fn truncated_bodies_are_not_decoded_as_messages() {
        let bytes = trace_partial(3, "x").encode_to_vec();
        let response = HttpResponse { body_truncated: true, ..ok(PROTOBUF, &bytes) };
        assert_eq!(
            classify(Signal::Traces, response),
            accepted(0, Some("could not decode the collector's response: it is larger than 4194304 bytes"))
        );

        // An error body cut by the transport still shows its start, gzip or not.
        let text: String = (0..5_000).map(|n| n.to_string()).collect();
        let compressed = gzip(text.as_bytes());
        let response = HttpResponse {
            status: 400,
            content_encoding: Some("gzip"),
            body: &compressed[..compressed.len() / 2],
            body_truncated: true,
            ..Default::default()
        };
        let reason = reason(classify(Signal::Traces, response));
        assert!(reason.starts_with("HTTP 400 Bad Request: 0123456789101112"), "{reason}");
        assert!(reason.ends_with('…'), "{reason}");
    }

    #[test]
    fn retryable_statuses() {
        for (status, canonical) in
            [(429, "Too Many Requests"), (502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Gateway Timeout")]
        {
            let response = HttpResponse { status, ..Default::default() };
            assert_eq!(
                classify(Signal::Metrics, response),
                ExportOutcome::Retryable { retry_after: None, reason: format!("HTTP {status} {canonical}") }
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let response = HttpResponse { status: 503, retry_after: Some("30"), ..Default::default() };
        assert!(matches!(
            classify(Signal::Logs, response),
            ExportOutcome::Retryable { retry_after: Some(delay), .. } if delay == Duration::from_secs(30)
        ));
        // now() is Tue, 14 Nov 2023 22:13:20 GMT.
        let date = Some("Tue, 14 Nov 2023 22:14:20 GMT");
        let response = HttpResponse { status: 429, retry_after: date, ..Default::default() };
        assert!(matches!(
            classify(Signal::Logs, response),
            ExportOutcome::Retryable { retry_after: Some(delay), .. } if delay == Duration::from_secs(60)
        ));
        let response = HttpResponse { status: 429, retry_after: Some("soon"), ..Default::default() };
        assert!(matches!(classify(Signal::Logs, response), ExportOutcome::Retryable { retry_after: None, .. }));
    }

    #[test]
    fn everything_else_fails() {
        for status in [0, 100, 301, 400, 401, 403, 404, 413, 500, 501, 505, 999, u16::MAX] {
            let response = HttpResponse { status, retry_after: Some("1"), ..Default::default() };
            match classify(Signal::Traces, response) {
                ExportOutcome::Failed { status: got, reason } => {
                    assert_eq!(got, status);
                    assert!(reason.starts_with(&format!("HTTP {status}")), "{reason}");
                }
                other => panic!("{status}: unexpectedly {other:?}"),
            }
        }
        let response = HttpResponse { status: 413, ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 413 Payload Too Large");
        let response = HttpResponse { status: 599, ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 599");
    }

    #[test]
    fn protobuf_status_messages() {
        let body = status_body("queue is full");
        let response = HttpResponse { status: 503, content_type: PROTOBUF, body: &body, ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 503 Service Unavailable: queue is full");

        // Details are skipped, however many there are.
        let mut status = Status { code: 3, message: "bad span".to_owned(), details: Vec::new() };
        status.details = vec![prost_types::Any::default(); 1000];
        let body = status.encode_to_vec();
        let response = HttpResponse { status: 400, content_type: PROTOBUF, body: &body, ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 400 Bad Request: bad span");

        let compressed = gzip(&status_body("zipped"));
        let response = HttpResponse {
            status: 500,
            content_type: PROTOBUF,
            content_encoding: Some("gzip"),
            body: &compressed,
            ..Default::default()
        };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 500 Internal Server Error: zipped");
    }

    #[test]
    fn json_status_messages() {
        let body = br#"{"code":8,"message":"rate limited","details":[{"@type":"x"}]}"#;
        let response = HttpResponse { status: 429, content_type: JSON, body, ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 429 Too Many Requests: rate limited");
        // Without a usable message the raw body is shown.
        let body = br#"{"code":8,"message":5}"#;
        let response = HttpResponse { status: 400, content_type: JSON, body, ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), r#"HTTP 400 Bad Request: {"code":8,"message":5}"#);
    }

    #[test]
    fn raw_bodies_as_text() {
        let response = HttpResponse {
            status: 502,
            content_type: Some("text/html"),
            body: b"<html>\r\n<b>502</b>\x1b[31m\xff</html>\n\n",
            ..Default::default()
        };
        assert_eq!(
            reason(classify(Signal::Traces, response)),
            "HTTP 502 Bad Gateway: <html>\\r\\n<b>502</b>\\u{1b}[31m\u{fffd}</html>"
        );
        // A protobuf body that is not a Status still shows something.
        let response = HttpResponse { status: 500, content_type: PROTOBUF, body: b"oops", ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 500 Internal Server Error: oops");
        let response = HttpResponse { status: 500, content_type: JSON, body: b"  \n", ..Default::default() };
        assert_eq!(reason(classify(Signal::Traces, response)), "HTTP 500 Internal Server Error");
    }

    #[test]
    fn collector_text_is_capped_and_escaped() {
        let long = "é".repeat(600);
        let body = status_body(&long);
        let response = HttpResponse { status: 400, content_type: PROTOBUF, body: &body, ..Default::default() };
        let reason = reason(classify(Signal::Traces, response));
        let detail = reason.strip_prefix("HTTP 400 Bad Request: ").unwrap();
        assert_eq!(detail.chars().count(), MAX_TEXT_CHARS);
        assert!(detail.ends_with("é…"));

        let bytes = trace_partial(1, "line one\nline two\u{7}").encode_to_vec();
        assert_eq!(classify(Signal::Traces, ok(PROTOBUF, &bytes)), accepted(1, Some("line one\\nline two\\u{7}")));
        assert_eq!(printable("a\u{85}b".chars()), "a\\u{85}b");
        assert_eq!(printable(std::iter::repeat_n('\n', 300)).chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn oversized_unencoded_bodies_are_cut() {
        let body = vec![b'z'; MAX_RESPONSE_BODY + 10];
        let response = ok(PROTOBUF, &body);
        assert_eq!(
            classify(Signal::Traces, response),
            accepted(0, Some("could not decode the collector's response: it is larger than 4194304 bytes"))
        );
    }
}
